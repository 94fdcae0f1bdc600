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
    let limit = page_limit(req)?;
    let anchor = page_anchor(req)?;
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

/// `limit`: 1 to 100, 50 when absent.
fn page_limit(req: &Req<'_>) -> Result<usize, ApiError> {
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
    Ok(limit)
}

/// The one of `before`, `after` and `around` given, with its snowflake.
fn page_anchor(req: &Req<'_>) -> Result<Option<(&'static str, u64)>, ApiError> {
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
    Ok(anchor)
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

/// `GET /channels/{c}/messages/{m}`: needs READ_MESSAGE_HISTORY.
pub(super) fn get_message(st: &DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let (channel, _) = known_channel(st, segs[1])?;
    require(st, channel, perms::READ_MESSAGE_HISTORY)?;
    let m = live_message(st, channel, segs[3])?;
    Ok(Reply::ok(st.message_json(m, false)))
}

/// `POST /channels/{c}/messages`: needs SEND_MESSAGES (SEND_MESSAGES_IN_THREADS in a thread); a forum takes no messages; a `message_reference` to a missing message fails unless `fail_if_not_exists` is false.
pub(super) fn create_message(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let bot = st.config.bot.id;
    let (channel, home) = known_channel(st, segs[1])?;
    let kind = channel_kind(st, channel);
    if kind == Some(ChannelKind::Forum) {
        return Err(ApiError::new(
            400,
            50008,
            "Cannot send messages in a non-text channel",
        ));
    }
    let needed = if kind.is_some_and(ChannelKind::is_thread) {
        perms::SEND_MESSAGES_IN_THREADS
    } else {
        perms::SEND_MESSAGES
    };
    require(st, channel, needed)?;
    let id = st.snowflake();
    let mut m = new_message(id, channel, home, bot);
    fill_from_body(&mut m, req)?;
    m.attachments = attachments(st, &req.files);
    validate_content(
        &m.content,
        !m.embeds.is_empty() || !m.attachments.is_empty() || !m.components.is_empty(),
    )?;
    if let Some(reference) = req.body.as_ref().and_then(|b| b.get("message_reference")) {
        let target = reference
            .get("message_id")
            .and_then(|v| v.as_str().and_then(snowflake).or(v.as_u64()));
        let fail_if_missing = reference
            .get("fail_if_not_exists")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let exists = target
            .and_then(|t| st.message(t))
            .is_some_and(|t| !t.deleted);
        if exists {
            m.kind = 19;
            m.message_reference = Some(json!({
                "type": 0,
                "message_id": target.map(|t| t.to_string()),
                "channel_id": channel.to_string(),
                "guild_id": home.map(|g| g.to_string()),
            }));
        } else if fail_if_missing {
            return Err(ApiError::form(
                "message_reference",
                "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                "Unknown message",
            ));
        }
    }
    Ok(Reply::ok(st.insert_message(m)))
}

/// `PATCH /channels/{c}/messages/{m}`: only the bot's own messages.
pub(super) fn edit_message(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let bot = st.config.bot.id;
    let (channel, _) = known_channel(st, segs[1])?;
    let m = live_message(st, channel, segs[3])?;
    if m.author_id != bot {
        return Err(ApiError::new(
            403,
            50005,
            "Cannot edit a message authored by another user",
        ));
    }
    let id = m.id;
    let body = req.body.clone().unwrap_or(Value::Null);
    st.edit_message(id, &body)
        .map(Reply::ok)
        .ok_or_else(unknown_message)
}

/// `DELETE /channels/{c}/messages/{m}`: the bot's own anywhere, others' with MANAGE_MESSAGES and never in a DM.
pub(super) fn delete_message(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let bot = st.config.bot.id;
    let (channel, home) = known_channel(st, segs[1])?;
    let m = live_message(st, channel, segs[3])?;
    let (id, author) = (m.id, m.author_id);
    if author != bot {
        if home.is_none() {
            return Err(ApiError::new(
                403,
                50003,
                "Cannot execute action on a DM channel",
            ));
        }
        require(st, channel, perms::MANAGE_MESSAGES)?;
    }
    st.delete_message(id);
    Ok(Reply::no_content())
}
