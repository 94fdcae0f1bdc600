//! Guilds as the bot sees them: the guild, its channels, members and
//! roles, and leaving it.

use serde_json::{json, Value};

use crate::discord::config::intents;
use crate::discord::payloads;
use crate::discord::state::{DiscordState, GatewayEvent};

use super::*;

/// `GET /guilds/{g}`.
pub(super) fn get_guild(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let g = known_guild(st, segs[1])?;
    Ok(Reply::ok(payloads::rest_guild(g)))
}

/// `GET /guilds/{g}/channels`: threads are not listed.
pub(super) fn guild_channels(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let g = known_guild(st, segs[1])?;
    let list: Vec<Value> = g
        .channels
        .iter()
        .filter(|c| !c.kind.is_thread())
        .map(|c| payloads::channel(c, g.id))
        .collect();
    Ok(Reply::ok(Value::Array(list)))
}

/// `GET /guilds/{g}/members/{u}` (`@me`: the bot).
pub(super) fn get_member(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let bot = st.config.bot.id;
    let g = known_guild(st, segs[1])?;
    let user_id = if segs[3] == "@me" {
        Some(bot)
    } else {
        snowflake(segs[3])
    };
    let m = user_id
        .and_then(|u| g.member(u))
        .ok_or_else(|| ApiError::new(404, 10007, "Unknown Member"))?;
    let u = st.config.user(m.user_id).ok_or_else(unknown_user)?;
    Ok(Reply::ok(payloads::member(m, u)))
}

/// `GET /guilds/{g}/roles`.
pub(super) fn guild_roles(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let g = known_guild(st, segs[1])?;
    Ok(Reply::ok(Value::Array(
        g.roles.iter().map(payloads::role).collect(),
    )))
}

/// `DELETE /users/@me/guilds/{g}`.
pub(super) fn leave(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let g = known_guild(st, segs[3])?.id;
    leave_guild(st, g);
    Ok(Reply::no_content())
}

/// The bot leaves `guild`: it is no longer in the cast, its commands go,
/// and GUILD_DELETE (without `unavailable`) follows on the guild's shard.
fn leave_guild(st: &mut DiscordState, guild: u64) {
    st.config.guilds.retain(|g| g.id != guild);
    st.guild_commands.remove(&guild);
    st.left_guilds.push(guild);
    st.broadcast(GatewayEvent {
        t: "GUILD_DELETE".to_owned(),
        d: json!({ "id": guild.to_string() }),
        guild_id: Some(guild),
        intent: Some(intents::GUILDS),
        strip_content_unless: None,
    });
}

/// `/guilds/{g}/auto-moderation/rules[/{rule}]`: the fake's AutoMod (see
/// [`crate::discord::automod`]) answers with its own status and body.
pub(super) fn automod_rules(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    crate::discord::automod::rest(st, req.method.as_str(), &req.segs, req.body.as_ref())
        .map(|(status, body)| Reply { status, body })
        .map_err(|(status, body)| ApiError {
            status,
            body,
            rate_limit: None,
        })
}
