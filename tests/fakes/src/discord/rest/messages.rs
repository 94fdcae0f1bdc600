//! Channel messages: listing a channel's history (`GET /channels/{id}/messages`)
//! and finding a message that has not been deleted.

use serde_json::{json, Value};

use crate::discord::config::perms;
use crate::discord::state::{DiscordState, StoredMessage};

use super::*;

/// `GET /channels/{c}/messages` as Discord documents it: VIEW_CHANNEL is required (403 50001
/// without it), while a bot without READ_MESSAGE_HISTORY gets an empty list rather than an
/// error. `before`, `after` and `around` are mutually exclusive snowflakes, `limit` is 1–100
/// (default 50); anything else is 400 Invalid Form Body. The page is always newest first:
/// `after` yields the `limit` oldest messages after the id, `before` the `limit` newest before
/// it, `around` about half on each side (the message itself included).
pub(super) fn list_messages(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let (id, home) = known_channel(st, req.segs[1])?;
    let limit = match req.param("limit") {
        None => 50,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n < 1 => {
                return Err(ApiError::form(
                    "limit",
                    "NUMBER_TYPE_MIN",
                    "int value should be greater than or equal to 1.",
                ))
            }
            Ok(n) if n > 100 => {
                return Err(ApiError::form(
                    "limit",
                    "NUMBER_TYPE_MAX",
                    "int value should be less than or equal to 100.",
                ))
            }
            Ok(n) => n as usize,
            Err(_) => {
                return Err(ApiError::form(
                    "limit",
                    "NUMBER_TYPE_COERCE",
                    &format!("Value \"{raw}\" is not int."),
                ))
            }
        },
    };
    let mut anchor = None;
    for key in ["before", "after", "around"] {
        let Some(raw) = req.param(key) else { continue };
        let Some(at) = snowflake(raw) else {
            return Err(ApiError::form(
                key,
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{raw}\" is not snowflake."),
            ));
        };
        if anchor.is_some() {
            return Err(ApiError::form(
                key,
                "BASE_TYPE_BAD_VALUE",
                "Only one of before, after and around may be given.",
            ));
        }
        anchor = Some((key, at));
    }
    if let Some(g) = home.and_then(|g| st.guild(g)) {
        let p = g.permissions_in(st.config.bot.id, id);
        if p & perms::VIEW_CHANNEL == 0 {
            return Err(ApiError::new(403, 50001, "Missing Access"));
        }
        if p & perms::READ_MESSAGE_HISTORY == 0 {
            return Ok(Reply::ok(json!([])));
        }
    }
    let visible: Vec<&StoredMessage> = st
        .messages(id)
        .into_iter()
        .filter(|m| !m.deleted && m.flags & 64 == 0)
        .collect();
    // `visible` is oldest first (the store is ordered by snowflake).
    let mut page: Vec<&StoredMessage> = match anchor {
        None => visible.iter().rev().take(limit).copied().collect(),
        Some(("before", at)) => visible
            .iter()
            .rev()
            .filter(|m| m.id < at)
            .take(limit)
            .copied()
            .collect(),
        Some(("after", at)) => visible
            .iter()
            .filter(|m| m.id > at)
            .take(limit)
            .copied()
            .collect(),
        Some((_, at)) => {
            let older = limit / 2;
            let mut around: Vec<&StoredMessage> = visible
                .iter()
                .rev()
                .filter(|m| m.id < at)
                .take(older)
                .copied()
                .collect();
            around.extend(visible.iter().filter(|m| m.id >= at).take(limit - older));
            around
        }
    };
    page.sort_by_key(|m| std::cmp::Reverse(m.id));
    Ok(Reply::ok(Value::Array(
        page.into_iter()
            .map(|m| st.message_json(m, false))
            .collect(),
    )))
}

pub(super) fn live_message<'s>(
    st: &'s DiscordState,
    channel: u64,
    raw_id: &str,
) -> Result<&'s StoredMessage, ApiError> {
    snowflake(raw_id)
        .and_then(|id| st.message(id))
        .filter(|m| m.channel_id == channel && !m.deleted)
        .ok_or_else(unknown_message)
}
