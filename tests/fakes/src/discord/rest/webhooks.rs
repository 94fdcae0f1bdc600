//! Webhooks: creating and listing a channel's webhooks, executing one (a
//! repost under the author's name), and a webhook's own messages.

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};

use crate::discord::config::{cast, perms, ChannelKind};
use crate::discord::payloads;
use crate::discord::state::{DiscordState, StoredWebhook};

use super::interactions::{followup, interaction_by_token};

use super::*;

pub(super) fn webhook_json(st: &DiscordState, w: &StoredWebhook, with_token: bool) -> Value {
    let creator = st.config.user(w.creator_id).unwrap_or(&st.config.bot);
    payloads::webhook(
        w.id,
        with_token.then_some(w.token.as_str()),
        &w.name,
        w.channel_id,
        w.guild_id,
        creator,
        st.config.bot.id,
    )
}

/// The webhook named by `/webhooks/{id}[/{token}]`, checking the token when given.
pub(super) fn webhook_for<'s>(
    st: &'s DiscordState,
    segs: &[&str],
) -> Result<&'s StoredWebhook, ApiError> {
    let w = snowflake(segs[1])
        .and_then(|id| st.webhooks.get(&id))
        .filter(|w| !w.deleted)
        .ok_or_else(unknown_webhook)?;
    if let Some(token) = segs.get(2) {
        if *token != w.token {
            return Err(ApiError::new(401, 50027, "Invalid Webhook Token"));
        }
    }
    Ok(w)
}

fn forbidden_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("clyde") || lower.contains("discord")
}

pub(super) fn create_webhook(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let (channel, home) = known_channel(st, req.segs[1])?;
    let Some(guild_id) = home else {
        return Err(ApiError::new(
            403,
            50003,
            "Cannot execute action on a DM channel",
        ));
    };
    if channel_kind(st, channel).is_some_and(ChannelKind::is_thread) {
        return Err(ApiError::new(
            400,
            50024,
            "Cannot execute action on this channel type",
        ));
    }
    require(st, channel, perms::MANAGE_WEBHOOKS)?;
    let name = req.body_str("name").unwrap_or("").to_owned();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::form(
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 80 in length.",
        ));
    }
    if forbidden_name(&name) {
        return Err(ApiError::form(
            "name",
            "WEBHOOK_INVALID_USERNAME",
            "Username cannot contain \"discord\" or \"clyde\"",
        ));
    }
    let (id, token) = if st.webhooks.is_empty() {
        (cast::WEBHOOK, cast::WEBHOOK_TOKEN.to_owned())
    } else {
        (st.snowflake(), random_token(68))
    };
    let w = StoredWebhook {
        id,
        token,
        name,
        channel_id: channel,
        guild_id,
        creator_id: st.config.bot.id,
        deleted: false,
    };
    let body = webhook_json(st, &w, true);
    st.webhooks.insert(id, w);
    Ok(Reply::ok(body))
}

fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub(super) fn execute_webhook(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let w = webhook_for(st, &req.segs)?.clone();
    let mut channel = w.channel_id;
    if let Some(raw) = req.param("thread_id") {
        let thread = snowflake(raw).ok_or_else(unknown_channel)?;
        let parent = st
            .config
            .guild_of_channel(thread)
            .and_then(|g| g.channel(thread))
            .filter(|c| c.kind.is_thread())
            .and_then(|c| c.parent_id);
        if parent != Some(w.channel_id) {
            return Err(unknown_channel());
        }
        channel = thread;
    } else if channel_kind(st, channel) == Some(ChannelKind::Forum) {
        return Err(ApiError::new(
            400,
            220_001,
            "Webhooks posted to forum channels must have a thread_name or thread_id",
        ));
    }
    if let Some(username) = req.body_str("username") {
        if forbidden_name(username) || username.chars().count() > 80 {
            return Err(ApiError::form(
                "username",
                "USERNAME_INVALID_CONTAINS",
                "Username cannot contain \"discord\" or \"clyde\"",
            ));
        }
    }
    let id = st.snowflake();
    let mut m = new_message(id, channel, Some(w.guild_id), w.id);
    fill_from_body(&mut m, req)?;
    m.flags &= !64;
    m.webhook_id = Some(w.id);
    m.username = req.body_str("username").map(str::to_owned);
    m.avatar_url = req.body_str("avatar_url").map(str::to_owned);
    m.attachments = attachments(st, &req.files);
    validate_content(
        &m.content,
        !m.embeds.is_empty() || !m.attachments.is_empty() || !m.components.is_empty(),
    )?;
    let body = st.insert_message(m);
    if req.flag("wait") {
        Ok(Reply::ok(body))
    } else {
        Ok(Reply::no_content())
    }
}

pub(super) fn webhook_message(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = &req.segs;
    let message_id = if let Some(interaction) = interaction_by_token(st, segs[1], segs[2]) {
        let i = &st.interactions[&interaction];
        if segs[4] == "@original" {
            i.original_message.ok_or_else(unknown_message)?
        } else {
            snowflake(segs[4]).ok_or_else(unknown_message)?
        }
    } else {
        let w = webhook_for(st, segs)?;
        let wid = w.id;
        let id = if segs[4] == "@original" {
            None
        } else {
            snowflake(segs[4])
        };
        id.filter(|id| st.message(*id).is_some_and(|m| m.webhook_id == Some(wid)))
            .ok_or_else(unknown_message)?
    };
    let m = st
        .message(message_id)
        .filter(|m| !m.deleted)
        .ok_or_else(unknown_message)?;
    match req.method.as_str() {
        "GET" => Ok(Reply::ok(st.message_json(m, false))),
        "DELETE" => {
            st.delete_message(message_id);
            Ok(Reply::no_content())
        }
        _ => {
            let body = req.body.clone().unwrap_or(Value::Null);
            if segs[4] == "@original" {
                if let Some(i) = interaction_by_token(st, segs[1], segs[2]) {
                    if let Some(record) = st.interactions.get_mut(&i) {
                        record.original_edits.push(body.clone());
                    }
                }
            }
            let mut patched = body.clone();
            if patched.get("content").is_none()
                && st.message(message_id).is_some_and(|m| m.flags & 128 != 0)
            {
                // A deferred reply edited without content keeps whatever it had.
                patched["content"] = json!(st.message(message_id).map(|m| m.content.clone()));
            }
            if let Some(m) = st.messages.get_mut(&message_id) {
                // Editing a deferred ("thinking…") reply turns it into a normal message.
                m.flags &= !128;
            }
            st.edit_message(message_id, &patched)
                .map(Reply::ok)
                .ok_or_else(unknown_message)
        }
    }
}

/// `GET /guilds/{g}/webhooks` or `GET /channels/{c}/webhooks`: needs MANAGE_WEBHOOKS; a DM has none.
pub(super) fn list_webhooks(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let bot = st.config.bot.id;
    let list: Vec<Value> = if segs[0] == "guilds" {
        let g = known_guild(st, segs[1])?;
        let gid = g.id;
        let can = g.permissions_in(bot, 0) & perms::MANAGE_WEBHOOKS != 0;
        if !can {
            return Err(missing_permissions());
        }
        st.webhooks
            .values()
            .filter(|w| w.guild_id == gid && !w.deleted)
            .map(|w| webhook_json(st, w, true))
            .collect()
    } else {
        let (channel, home) = known_channel(st, segs[1])?;
        if home.is_none() {
            return Err(ApiError::new(
                403,
                50003,
                "Cannot execute action on a DM channel",
            ));
        }
        require(st, channel, perms::MANAGE_WEBHOOKS)?;
        st.webhooks
            .values()
            .filter(|w| w.channel_id == channel && !w.deleted)
            .map(|w| webhook_json(st, w, true))
            .collect()
    };
    Ok(Reply::ok(Value::Array(list)))
}

/// `GET /webhooks/{id}[/{token}]`: the token is shown only to the bot (no token in the path).
pub(super) fn get_webhook(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let w = webhook_for(st, segs)?;
    Ok(Reply::ok(webhook_json(st, w, segs.len() == 2)))
}

/// `DELETE /webhooks/{id}[/{token}]`.
pub(super) fn delete_webhook(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let id = webhook_for(st, segs)?.id;
    if let Some(w) = st.webhooks.get_mut(&id) {
        w.deleted = true;
    }
    Ok(Reply::no_content())
}

/// `POST /webhooks/{id}/{token}`: an interaction's follow-up when the id and token are an interaction's, else a webhook execution.
pub(super) fn webhook_execute(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    if let Some(interaction) = interaction_by_token(st, segs[1], segs[2]) {
        return followup(st, interaction, req);
    }
    execute_webhook(st, req)
}
