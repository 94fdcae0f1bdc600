//! `chat.*`: posting (as the bot, customised or not, or as a user), updating
//! and deleting messages with Slack's ownership rules, private notices and
//! permalinks.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::*;

impl Inner {
    /// Stores a post by the installed bot and returns it (no event emitted).
    pub(crate) fn store_bot_post(
        &self,
        st: &mut SlackState,
        channel: &str,
        text: &str,
        blocks: Option<Value>,
        thread_ts: Option<&str>,
        custom: Option<(String, Option<String>, Option<String>)>,
    ) -> StoredMessage {
        store_post(st, channel, text, blocks, thread_ts, TokenKind::Bot, |m| {
            m.bot_id = Some(self.cfg.bot.bot_id.clone());
            m.app_id = Some(self.cfg.bot.app_id.clone());
            match custom {
                // A customised post is attributed to the app under the custom
                // name, as Slack's `bot_message`, not to the bot user.
                Some((username, icon_url, icon_emoji)) => {
                    m.subtype = Some("bot_message".into());
                    m.username = Some(username);
                    m.icon_url = icon_url;
                    m.icon_emoji = icon_emoji;
                }
                None => m.user = Some(self.cfg.bot.user_id.clone()),
            }
        })
    }
}

/// Stores a new post in `channel` and returns it (no event emitted): its
/// `blocks`, else one `rich_text` block of the text, in the thread of
/// `thread_ts` if given; `author` says who posted it.
fn store_post(
    st: &mut SlackState,
    channel: &str,
    text: &str,
    blocks: Option<Value>,
    thread_ts: Option<&str>,
    posted_with: TokenKind,
    author: impl FnOnce(&mut StoredMessage),
) -> StoredMessage {
    let ts = st.next_ts();
    let n = st.next_counter();
    let mut m = StoredMessage::new(channel, &ts, text);
    author(&mut m);
    m.blocks = Some(
        blocks.unwrap_or_else(|| json!([payloads::rich_text_block(text, &payloads::block_id(n))])),
    );
    if let Some(t) = thread_ts {
        m.thread_ts = Some(t.to_string());
        m.parent_user_id = st
            .message(channel, t)
            .and_then(|p| p.user.clone().or(p.bot_id.clone()));
    }
    m.posted_with = Some(posted_with);
    st.push_message(m.clone());
    m
}

/// A message's non-empty `blocks`, if given.
fn blocks_param(params: &Map<String, Value>) -> Option<Value> {
    p_json(params, "blocks").filter(|b| b.as_array().is_some_and(|a| !a.is_empty()))
}

/// Slack's checks on what a message shows: something (`text`, `blocks` or
/// `attachments`; else `no_text`), text of at most [`MAX_TEXT_CHARS`]
/// (`msg_too_long`), and valid blocks.
fn check_content(
    text: Option<&str>,
    blocks: Option<&Value>,
    attachments: bool,
) -> Result<(), Value> {
    if text.is_none() && blocks.is_none() && !attachments {
        return Err(err("no_text"));
    }
    if text.is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS) {
        return Err(err("msg_too_long"));
    }
    check_blocks(blocks)
}

/// The channel and `ts` of the message `chat.update` or `chat.delete` names
/// (after the scope and the channel's visibility are checked).
fn message_target<'p>(
    inner: &Inner,
    kind: &TokenKind,
    params: &'p Map<String, Value>,
) -> Result<(String, &'p str), Value> {
    need_scope(inner, kind, "chat:write")?;
    let chan = visible_channel(inner, kind, params, "channel")?;
    let ts = p_str(params, "ts").ok_or_else(|| err("message_not_found"))?;
    Ok((chan.id.clone(), ts))
}

/// Message `ts` of `channel`, not deleted, if `kind` may update it (or
/// delete it, when `deleting`): see [`owns`].
fn owned_message<'s>(
    inner: &Inner,
    st: &'s mut SlackState,
    kind: &TokenKind,
    (channel, ts): (&str, &str),
    deleting: bool,
) -> Result<&'s mut StoredMessage, Value> {
    let m = st
        .message_mut(channel, ts)
        .filter(|m| !m.deleted)
        .ok_or_else(|| err("message_not_found"))?;
    if !owns(inner, kind, m, deleting) {
        return Err(err(if deleting {
            "cant_delete_message"
        } else {
            "cant_update_message"
        }));
    }
    Ok(m)
}

pub(super) fn chat_post_message(
    inner: &Arc<Inner>,
    st: &mut SlackState,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> ApiResult {
    need_scope(inner, kind, "chat:write")?;
    let chan = visible_channel(inner, kind, params, "channel")?;
    if chan.is_archived {
        return Err(err("is_archived"));
    }
    let me = actor(inner, kind);
    let public_poster =
        matches!(kind, TokenKind::Bot) && has_scope(inner, kind, "chat:write.public");
    if !chan.members.contains(&me) && !public_poster {
        return Err(err("not_in_channel"));
    }
    let text = p_str(params, "text").unwrap_or("").to_string();
    let blocks = blocks_param(params);
    let attachments = p_json(params, "attachments");
    let shown = Some(text.as_str()).filter(|t| !t.is_empty());
    check_content(shown, blocks.as_ref(), attachments.is_some())?;
    let thread_ts = p_str(params, "thread_ts");
    let broadcast = thread_ts.is_some() && p_bool(params, "reply_broadcast") == Some(true);
    let channel = chan.id.clone();

    let mut m = match kind {
        TokenKind::Bot => {
            let custom = customisation(inner, kind, params);
            inner.store_bot_post(st, &channel, &text, blocks, thread_ts, custom)
        }
        _ => store_post(st, &channel, &text, blocks, thread_ts, kind.clone(), |m| {
            m.user = Some(me.clone());
        }),
    };
    m.reply_broadcast = broadcast;
    m.attachments = attachments.filter(|a| a.as_array().is_some_and(|a| !a.is_empty()));
    m.unfurl_links = p_bool(params, "unfurl_links");
    m.unfurl_media = p_bool(params, "unfurl_media");
    if broadcast && m.subtype.is_none() {
        m.subtype = Some("thread_broadcast".into());
    }
    if let Some(stored) = st.message_mut(&channel, &m.ts) {
        *stored = m.clone();
    }
    let event = payloads::message_event(&inner.cfg, &m);
    inner.emit_event(st, event);
    Ok(json!({
        "ok": true,
        "channel": channel,
        "ts": m.ts,
        "message": payloads::message_object(&inner.cfg, &m),
    }))
}

/// The bot's `username`, `icon_url` and `icon_emoji` overrides, honoured
/// with `chat:write.customize` only (without it Slack silently ignores them).
fn customisation(
    inner: &Inner,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> Option<(String, Option<String>, Option<String>)> {
    let username = p_str(params, "username").map(str::to_string);
    let icon_url = p_str(params, "icon_url").map(str::to_string);
    let icon_emoji = p_str(params, "icon_emoji").map(str::to_string);
    let wants_custom = username.is_some() || icon_url.is_some() || icon_emoji.is_some();
    (wants_custom && has_scope(inner, kind, "chat:write.customize")).then(|| {
        (
            username.unwrap_or_else(|| inner.cfg.bot.name.clone()),
            icon_url,
            icon_emoji,
        )
    })
}

/// May `kind` change or remove `m`? Bots: own posts only. Users: own posts,
/// plus anyone's for deletion when the user is an admin or owner.
fn owns(inner: &Inner, kind: &TokenKind, m: &StoredMessage, deleting: bool) -> bool {
    match kind {
        TokenKind::Bot => m.bot_id.as_deref() == Some(inner.cfg.bot.bot_id.as_str()),
        TokenKind::User { user_id } => {
            let own = m.user.as_deref() == Some(user_id.as_str()) && m.bot_id.is_none();
            let admin = inner
                .cfg
                .user(user_id)
                .is_some_and(|u| u.is_admin || u.is_owner);
            own || (deleting && admin)
        }
        _ => false,
    }
}

pub(super) fn chat_update(
    inner: &Arc<Inner>,
    st: &mut SlackState,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> ApiResult {
    let (channel, ts) = message_target(inner, kind, params)?;
    let edit_ts = st.next_ts();
    let n = st.next_counter();
    let m = owned_message(inner, st, kind, (&channel, ts), false)?;
    let text = p_str(params, "text").map(str::to_string);
    let blocks = blocks_param(params);
    let attachments = p_json(params, "attachments").is_some();
    check_content(text.as_deref(), blocks.as_ref(), attachments)?;
    let previous = m.clone();
    if let Some(t) = text {
        m.text = t;
    }
    if let Some(a) = p_json(params, "attachments") {
        m.attachments = Some(a).filter(|a| a.as_array().is_some_and(|a| !a.is_empty()));
    }
    m.blocks =
        Some(blocks.unwrap_or_else(|| {
            json!([payloads::rich_text_block(&m.text, &payloads::block_id(n))])
        }));
    m.edited = Some(Edited {
        user: actor(inner, kind),
        ts: format!("{}.000000", edit_ts.split('.').next().unwrap_or("0")),
    });
    let new = m.clone();
    let event = payloads::message_changed_event(&inner.cfg, &new, &previous, &edit_ts);
    inner.emit_event(st, event);
    let mut message = payloads::message_object(&inner.cfg, &new);
    if let Some(o) = message.as_object_mut() {
        o.remove("ts");
    }
    let mut resp = json!({
        "ok": true,
        "channel": channel,
        "ts": new.ts,
        "text": new.text,
        "message": message,
    });
    if let (Some(t), Some(o)) = (&new.thread_ts, resp.as_object_mut()) {
        o.insert("thread_ts".into(), json!(t));
    }
    Ok(resp)
}

pub(super) fn chat_delete(
    inner: &Arc<Inner>,
    st: &mut SlackState,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> ApiResult {
    let (channel, ts) = message_target(inner, kind, params)?;
    let event_ts = st.next_ts();
    let m = owned_message(inner, st, kind, (&channel, ts), true)?;
    let previous = m.clone();
    m.deleted = true;
    let event = payloads::message_deleted_event(&inner.cfg, &previous, &event_ts);
    inner.emit_event(st, event);
    Ok(json!({ "ok": true, "channel": channel, "ts": previous.ts }))
}

pub(super) fn chat_post_ephemeral(
    inner: &Arc<Inner>,
    st: &mut SlackState,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> ApiResult {
    need_scope(inner, kind, "chat:write")?;
    let chan = visible_channel(inner, kind, params, "channel")?;
    let user = p_str(params, "user").ok_or_else(|| err("user_not_found"))?;
    if inner.cfg.user(user).is_none() && user != inner.cfg.bot.user_id {
        return Err(err("user_not_found"));
    }
    if !chan.members.iter().any(|m| m == user) {
        return Err(err("user_not_in_channel"));
    }
    let text = p_str(params, "text").unwrap_or("").to_string();
    let blocks = blocks_param(params);
    let attachments = p_json(params, "attachments").is_some();
    let shown = Some(text.as_str()).filter(|t| !t.is_empty());
    check_content(shown, blocks.as_ref(), attachments)?;
    let message_ts = st.next_ts();
    st.ephemerals.push(Ephemeral {
        channel: chan.id.clone(),
        user: user.to_string(),
        text,
        blocks,
        thread_ts: p_str(params, "thread_ts").map(str::to_string),
        message_ts: message_ts.clone(),
        source: EphemeralSource::PostEphemeral,
    });
    Ok(json!({ "ok": true, "message_ts": message_ts }))
}

pub(super) fn chat_get_permalink(
    inner: &Inner,
    st: &SlackState,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> ApiResult {
    let chan = visible_channel(inner, kind, params, "channel")?;
    let ts = p_str(params, "message_ts").ok_or_else(|| err("message_not_found"))?;
    let m = st
        .message(&chan.id, ts)
        .filter(|m| !m.deleted)
        .ok_or_else(|| err("message_not_found"))?;
    let mut permalink = format!(
        "{}archives/{}/p{}",
        team_url(inner),
        chan.id,
        m.ts.replace('.', "")
    );
    if let Some(t) = m.thread_ts.as_ref().filter(|t| **t != m.ts) {
        permalink.push_str(&format!("?thread_ts={t}&cid={}", chan.id));
    }
    Ok(json!({ "ok": true, "channel": chan.id, "permalink": permalink }))
}
