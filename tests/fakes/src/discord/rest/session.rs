//! Who the bot is and where it connects: the gateway URL and shard
//! advice, users (the bot itself included) and DM channels.

use serde_json::json;

use crate::discord::payloads;
use crate::discord::state::DiscordState;

use super::*;

/// `GET /gateway/bot`: where to connect, the recommended shard count and the session start limit.
pub(super) fn gateway_bot(st: &DiscordState) -> Result<Reply, ApiError> {
    Ok(Reply::ok(json!({
        "url": st.gateway_url,
        "shards": st.config.recommended_shards,
        "session_start_limit": {
            "total": 1000,
            "remaining": 998,
            "reset_after": 14_400_000,
            "max_concurrency": 1,
        },
    })))
}

/// `GET /users/{id}` (`@me`: the bot itself).
pub(super) fn get_user(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    if segs[1] == "@me" {
        return Ok(Reply::ok(payloads::current_user(&st.config.bot)));
    }
    let user = snowflake(segs[1])
        .and_then(|id| st.config.user(id))
        .ok_or_else(unknown_user)?;
    Ok(Reply::ok(payloads::user(user)))
}

/// `POST /users/@me/channels`: the DM channel with `recipient_id` (created once, then the same).
pub(super) fn create_dm(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let recipient = req
        .body
        .as_ref()
        .and_then(|b| b.get("recipient_id"))
        .and_then(|v| v.as_str().and_then(snowflake).or(v.as_u64()))
        .ok_or_else(|| {
            ApiError::form(
                "recipient_id",
                "BASE_TYPE_REQUIRED",
                "This field is required",
            )
        })?;
    let user = st
        .config
        .user(recipient)
        .cloned()
        .ok_or_else(unknown_user)?;
    let channel = st.dm_channel_for(recipient);
    Ok(Reply::ok(payloads::dm_channel(channel, &user)))
}
