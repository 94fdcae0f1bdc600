//! JSON builders for everything the fake sends: message objects, event
//! wrappers, Socket Mode frames, users, channels and slash-command fields.
//!
//! Shapes mirror the fixtures in `protocol/slack/` field for field (including
//! the fields slack-morphism ignores), so a bot that reads raw JSON sees what
//! Slack would send, not just what one client library models.

use serde_json::{json, Map, Value};

use super::config::{FakeChannel, FakeSlackConfig, FakeTeam, FakeUser};
use super::state::StoredMessage;

/// `bot_profile` of the installed app.
pub(crate) fn bot_profile(cfg: &FakeSlackConfig) -> Value {
    json!({
        "id": cfg.bot.bot_id,
        "deleted": false,
        "name": cfg.bot.name,
        "updated": 1_767_000_000,
        "app_id": cfg.bot.app_id,
        "icons": {
            "image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png",
            "image_48": "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png",
            "image_72": "https://a.slack-edge.com/80588/img/plugins/app/service_72.png"
        },
        "team_id": cfg.team.id,
    })
}

/// The message object as it appears inside events and API responses
/// (without the event-only `channel`, `event_ts`, `channel_type`).
pub(crate) fn message_object(cfg: &FakeSlackConfig, m: &StoredMessage) -> Value {
    let mut o = Map::new();
    let own_bot = m.bot_id.as_deref() == Some(cfg.bot.bot_id.as_str());
    if let Some(subtype) = &m.subtype {
        o.insert("subtype".into(), json!(subtype));
    }
    if let Some(user) = &m.user {
        o.insert("user".into(), json!(user));
    }
    o.insert("type".into(), json!("message"));
    o.insert("ts".into(), json!(m.ts));
    if let Some(bot_id) = &m.bot_id {
        o.insert("bot_id".into(), json!(bot_id));
    }
    if let Some(app_id) = &m.app_id {
        o.insert("app_id".into(), json!(app_id));
    }
    if let Some(id) = &m.client_msg_id {
        o.insert("client_msg_id".into(), json!(id));
    }
    o.insert("text".into(), json!(m.text));
    if let Some(username) = &m.username {
        o.insert("username".into(), json!(username));
    }
    if let Some(url) = &m.icon_url {
        o.insert("icons".into(), json!({ "image_48": url }));
    } else if let Some(emoji) = &m.icon_emoji {
        o.insert("icons".into(), json!({ "emoji": emoji }));
    }
    if m.user.is_some() || own_bot {
        o.insert("team".into(), json!(cfg.team.id));
    }
    if own_bot {
        o.insert("bot_profile".into(), bot_profile(cfg));
    }
    if let Some(files) = &m.files {
        o.insert("files".into(), files.clone());
        o.insert("upload".into(), json!(false));
        o.insert("display_as_bot".into(), json!(false));
    }
    if let Some(blocks) = &m.blocks {
        o.insert("blocks".into(), blocks.clone());
    }
    if let Some(attachments) = &m.attachments {
        o.insert("attachments".into(), attachments.clone());
    }
    if let Some(edited) = &m.edited {
        o.insert(
            "edited".into(),
            json!({ "user": edited.user, "ts": edited.ts }),
        );
    }
    if let Some(thread_ts) = &m.thread_ts {
        o.insert("thread_ts".into(), json!(thread_ts));
        if let Some(parent) = &m.parent_user_id {
            o.insert("parent_user_id".into(), json!(parent));
        }
    }
    Value::Object(o)
}

/// A `message` event for `m` (new message, thread reply, file share, bot message).
pub(crate) fn message_event(cfg: &FakeSlackConfig, m: &StoredMessage) -> Value {
    let mut ev = message_object(cfg, m);
    if let Some(o) = ev.as_object_mut() {
        o.insert("channel".into(), json!(m.channel));
        o.insert("event_ts".into(), json!(m.ts));
        o.insert("channel_type".into(), json!(channel_type(cfg, &m.channel)));
    }
    ev
}

/// `message_changed`: new content nested in `message`, old in `previous_message`.
pub(crate) fn message_changed_event(
    cfg: &FakeSlackConfig,
    new: &StoredMessage,
    previous: &StoredMessage,
    event_ts: &str,
) -> Value {
    let mut message = message_object(cfg, new);
    if let Some(o) = message.as_object_mut() {
        o.insert("source_team".into(), json!(cfg.team.id));
        o.insert("user_team".into(), json!(cfg.team.id));
    }
    json!({
        "type": "message",
        "subtype": "message_changed",
        "message": message,
        "previous_message": message_object(cfg, previous),
        "channel": new.channel,
        "hidden": true,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel_type(cfg, &new.channel),
    })
}

/// `message_deleted`: `deleted_ts` and `previous_message`, no `user`.
pub(crate) fn message_deleted_event(
    cfg: &FakeSlackConfig,
    previous: &StoredMessage,
    event_ts: &str,
) -> Value {
    json!({
        "type": "message",
        "subtype": "message_deleted",
        "previous_message": message_object(cfg, previous),
        "channel": previous.channel,
        "hidden": true,
        "deleted_ts": previous.ts,
        "event_ts": event_ts,
        "ts": event_ts,
        "channel_type": channel_type(cfg, &previous.channel),
    })
}

fn channel_type(cfg: &FakeSlackConfig, channel: &str) -> &'static str {
    if channel.starts_with('D') {
        "im"
    } else if cfg.channel(channel).is_some_and(|c| c.is_private) {
        "group"
    } else {
        "channel"
    }
}

/// The `event_callback` wrapper around `event`.
/// Slack delivers it for the app's installation in workspace `team` (the
/// configured one, or another workspace that installed the same app).
pub(crate) fn event_callback_for(
    cfg: &FakeSlackConfig,
    team: &str,
    event: Value,
    event_id: &str,
    event_time: u64,
) -> Value {
    let channel = event.get("channel").and_then(Value::as_str).unwrap_or("");
    json!({
        "token": cfg.verification_token,
        "team_id": team,
        "context_team_id": team,
        "context_enterprise_id": null,
        "api_app_id": cfg.bot.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [{
            "enterprise_id": null,
            "team_id": team,
            "user_id": cfg.bot.user_id,
            "is_bot": true,
            "is_enterprise_install": false
        }],
        "is_ext_shared_channel": false,
        "event_context": event_context(cfg, team, channel),
    })
}

/// An opaque `event_context` like Slack's (`4-` + base64url of a small JSON).
fn event_context(cfg: &FakeSlackConfig, team: &str, channel: &str) -> String {
    let raw = format!(
        r#"{{"et":"message","tid":"{}","aid":"{}","cid":"{}"}}"#,
        team, cfg.bot.app_id, channel
    );
    format!("4-{}", base64url(raw.as_bytes()))
}

fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

/// `users.info`'s `user` object (`users_info_ok.json` shape).
pub(crate) fn user_object(cfg: &FakeSlackConfig, u: &FakeUser) -> Value {
    json!({
        "id": u.id,
        "team_id": u.home_team.as_deref().unwrap_or(&cfg.team.id),
        "name": u.name,
        "deleted": u.deleted,
        "color": "9f69e7",
        "real_name": u.real_name,
        "tz": u.tz,
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        "profile": {
            "title": "",
            "phone": "",
            "skype": "",
            "real_name": u.real_name,
            "real_name_normalized": u.real_name,
            "display_name": u.display_name,
            "display_name_normalized": u.display_name,
            "status_text": "",
            "status_emoji": "",
            "avatar_hash": format!("g{}", &hex::encode(u.id.as_bytes())[..11]),
            "email": u.email,
            "image_24": u.image(24),
            "image_32": u.image(32),
            "image_48": u.image(48),
            "image_72": u.image(72),
            "image_192": u.image(192),
            "image_512": u.image(512),
            "team": cfg.team.id,
        },
        "is_admin": u.is_admin,
        "is_owner": u.is_owner,
        "is_primary_owner": u.is_primary_owner,
        "is_restricted": false,
        "is_ultra_restricted": false,
        "is_bot": u.is_bot,
        "is_app_user": false,
        "updated": 1_767_000_000,
        "is_email_confirmed": true,
        "has_2fa": false,
        "who_can_share_contact_card": "EVERYONE",
    })
}

/// The bot's own user object (users.info on the bot user).
pub(crate) fn bot_user(cfg: &FakeSlackConfig) -> FakeUser {
    FakeUser {
        is_bot: true,
        avatar_url: "https://a.slack-edge.com/80588/img/plugins/app/service".into(),
        email: String::new(),
        ..FakeUser::member(&cfg.bot.user_id, &cfg.bot.name, &cfg.bot.name)
    }
}

/// `conversations.info`'s `channel` object (`conversations_info_ok.json` shape).
pub(crate) fn channel_object(cfg: &FakeSlackConfig, c: &FakeChannel) -> Value {
    let creator = c.members.first().cloned().unwrap_or_default();
    json!({
        "id": c.id,
        "name": c.name,
        "is_channel": !c.is_private,
        "is_group": c.is_private,
        "is_im": false,
        "is_mpim": false,
        "is_private": c.is_private,
        "created": 1_700_000_000,
        "is_archived": c.is_archived,
        "is_general": c.is_general,
        "unlinked": 0,
        "name_normalized": c.name,
        "is_shared": false,
        "is_org_shared": false,
        "is_pending_ext_shared": false,
        "pending_shared": [],
        "context_team_id": cfg.team.id,
        "updated": 1_767_000_000_000_u64,
        "parent_conversation": null,
        "creator": creator,
        "is_ext_shared": false,
        "shared_team_ids": [cfg.team.id],
        "pending_connected_team_ids": [],
        "is_member": c.members.contains(&cfg.bot.user_id),
        "topic": { "value": c.topic, "creator": creator, "last_set": 1_700_000_100 },
        "purpose": { "value": c.purpose, "creator": creator, "last_set": 1_700_000_100 },
        "previous_names": [],
        "locale": "en-US",
    })
}

/// Slash-command fields in Slack's order (`slash_command.form`), for `user`
/// in `channel` of `team`.
pub(crate) fn slash_fields(
    cfg: &FakeSlackConfig,
    (team, channel, user): (&FakeTeam, &FakeChannel, &FakeUser),
    command: &str,
    text: &str,
    response_url: &str,
    trigger_id: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("token", cfg.verification_token.clone()),
        ("team_id", team.id.clone()),
        ("team_domain", team.domain.clone()),
        ("channel_id", channel.id.clone()),
        ("channel_name", channel.name.clone()),
        ("user_id", user.id.clone()),
        ("user_name", user.name.clone()),
        ("command", command.to_string()),
        ("text", text.to_string()),
        ("api_app_id", cfg.bot.app_id.clone()),
        ("is_enterprise_install", "false".into()),
        ("response_url", response_url.to_string()),
        ("trigger_id", trigger_id.to_string()),
    ]
}

/// Undoes Slack's three text escapes.
pub(crate) fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Escapes user text the way Slack stores it (`&`, `<`, `>` only).
pub fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `rich_text` block Slack's client attaches to a human post: the same
/// content as `text`, but structured and unescaped.
pub(crate) fn rich_text_block(text: &str, block_id: &str) -> Value {
    let mut elements: Vec<Value> = Vec::new();
    let push_text = |elements: &mut Vec<Value>, raw: &str| {
        if !raw.is_empty() {
            elements.push(json!({ "type": "text", "text": unescape(raw) }));
        }
    };
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let Some(close_rel) = rest[open..].find('>') else {
            break;
        };
        let close = open + close_rel;
        push_text(&mut elements, &rest[..open]);
        let inner = &rest[open + 1..close];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        if let Some(user) = target.strip_prefix('@') {
            elements.push(json!({ "type": "user", "user_id": user }));
        } else if let Some(chan) = target.strip_prefix('#') {
            elements.push(json!({ "type": "channel", "channel_id": chan }));
        } else if let Some(special) = target.strip_prefix('!') {
            elements.push(json!({ "type": "broadcast", "range": special }));
        } else {
            let mut link = json!({ "type": "link", "url": unescape(target) });
            if let (Some(l), Some(o)) = (label, link.as_object_mut()) {
                o.insert("text".into(), json!(unescape(l)));
            }
            elements.push(link);
        }
        rest = &rest[close + 1..];
    }
    push_text(&mut elements, rest);
    json!({
        "type": "rich_text",
        "block_id": block_id,
        "elements": [{ "type": "rich_text_section", "elements": elements }]
    })
}

/// A deterministic 5-character block id, like Slack's.
pub(crate) fn block_id(n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize];
            x /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}

/// A UUID-shaped id (envelope ids, client message ids).
pub(crate) fn uuid_like(seed: u64, n: u64) -> String {
    let a = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let b = a.rotate_left(29) ^ n;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        a & 0xfff,
        (b >> 52) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// A file object for file shares (`events_api_file_share.json` shape).
pub(crate) fn file_object(
    cfg: &FakeSlackConfig,
    base_url: &str,
    file_id: &str,
    user: &str,
    name: &str,
    created: u64,
) -> Value {
    json!({
        "id": file_id,
        "created": created,
        "timestamp": created,
        "name": name,
        "title": name,
        "mimetype": "application/pdf",
        "filetype": "pdf",
        "pretty_type": "PDF",
        "user": user,
        "user_team": cfg.team.id,
        "editable": false,
        "size": 48213,
        "mode": "hosted",
        "is_external": false,
        "external_type": "",
        "is_public": true,
        "public_url_shared": false,
        "display_as_bot": false,
        "username": "",
        "url_private": format!("{base_url}/files-pri/{}-{file_id}/{name}", cfg.team.id),
        "url_private_download": format!("{base_url}/files-pri/{}-{file_id}/download/{name}", cfg.team.id),
        "permalink": format!("https://{}.slack.com/files/{user}/{file_id}/{name}", cfg.team.domain),
        "permalink_public": format!("https://slack-files.com/{}-{file_id}-0a1b2c3d4e", cfg.team.id),
        "has_rich_preview": false,
        "file_access": "visible",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rich_text_splits_links_mentions_and_unescapes() {
        let block = rich_text_block(
            "Standup moved: <https://zoom.us/j/1?pwd=a&amp;u=g|join the Zoom> &amp; bring <@U1> &lt;3",
            "Xy1Zq",
        );
        let els = &block["elements"][0]["elements"];
        assert_eq!(els[0], json!({"type":"text","text":"Standup moved: "}));
        assert_eq!(
            els[1],
            json!({"type":"link","url":"https://zoom.us/j/1?pwd=a&u=g","text":"join the Zoom"})
        );
        assert_eq!(els[2], json!({"type":"text","text":" & bring "}));
        assert_eq!(els[3], json!({"type":"user","user_id":"U1"}));
        assert_eq!(els[4], json!({"type":"text","text":" <3"}));
    }

    #[test]
    fn bare_link_has_no_text() {
        let block = rich_text_block("<https://meet.example.org/x>", "b");
        assert_eq!(
            block["elements"][0]["elements"][0],
            json!({"type":"link","url":"https://meet.example.org/x"})
        );
    }

    #[test]
    fn base64url_matches_known_value() {
        assert_eq!(base64url(b"hello"), "aGVsbG8");
        assert_eq!(base64url(b"{\"et\""), "eyJldCI");
    }

    #[test]
    fn escape_round_trips() {
        let s = "a & b <c> &amp;";
        assert_eq!(unescape(&escape_text(s)), s);
    }
}
