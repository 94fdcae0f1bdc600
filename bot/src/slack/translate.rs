//! From Slack's event payloads to the platform-neutral message, and which
//! events are not ours to moderate. Pure functions, unit-tested.

use crate::moderation::{Author, IncomingMessage, Platform, Revision, Skip};
use linkguard_rules::rewrite::escape_slack;
use slack_morphism::prelude::*;
use std::time::Instant;

/// Who we are on Slack (from `auth.test`), to never moderate ourselves.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Our bot user (`U…`).
    pub user_id: String,
    /// Our bot id (`B…`).
    pub bot_id: Option<String>,
    /// Our app id (`A…`).
    pub app_id: Option<String>,
    /// The workspace the bot token belongs to.
    pub team_id: String,
}

/// What a `message` event is, once translated.
#[derive(Debug)]
pub enum Translated {
    /// A message (or a new revision of one) to moderate.
    Message(Box<IncomingMessage>),
    /// A direct message to the bot: a question for the commands module.
    Question {
        /// The IM channel.
        channel: String,
        /// Who asks.
        user: String,
        /// The text, Slack-escaped.
        text: String,
    },
    /// Not ours to handle.
    Skipped(Skip),
}

/// The text in a message's legacy attachments: what integrations post and
/// what a shared message carries (the shared message's text). Each
/// attachment's `fallback`, `title`, `text` and fields, one per line.
/// (slack-morphism keeps no `pretext`, `author_name` or `footer`.)
fn attachment_parts(content: Option<&SlackMessageContent>) -> Vec<String> {
    let mut parts = Vec::new();
    for a in content
        .and_then(|c| c.attachments.as_ref())
        .into_iter()
        .flatten()
    {
        for t in [&a.fallback, &a.title, &a.text].into_iter().flatten() {
            parts.push(t.clone());
        }
        for f in a.fields.iter().flatten() {
            for t in [&f.title, &f.value].into_iter().flatten() {
                parts.push(t.clone());
            }
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// Titles given to shared files (a file's title is the file name unless
/// its uploader typed one).
fn file_titles(content: Option<&SlackMessageContent>) -> Vec<String> {
    content
        .and_then(|c| c.files.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|f| f.title.clone().filter(|t| Some(t) != f.name.as_ref()))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Why a repost cannot stand in for a message whose attachments hold text.
const ATTACHMENTS_NOT_REPOSTABLE: &str =
    "its attachments (a shared message or an integration's) cannot be reposted";

/// Why a repost cannot stand in for a message whose blocks show more than
/// its text.
const BLOCKS_NOT_REPOSTABLE: &str = "its blocks show links or text that its text does not";

/// At most this much block text is read from one message: Slack's own
/// limits (50 blocks, a few KiB each) keep real messages far below it.
const MAX_BLOCK_BYTES: usize = 1 << 20;

/// What a message's blocks show that its `text` does not: every URL an
/// object carries (`url` of rich-text links, link buttons, overflow and
/// select options; a video's `title_url`), and the text of every `mrkdwn`,
/// `plain_text` and `markdown` object (sections, context, headers, the
/// markdown block), each unless `text` already carries it: a URL as a link
/// target (`<url>` or `<url|…>`, Slack-escaped), other text as it is.
///
/// Slack's clients write a message's `rich_text` block and its `text` from
/// the same input, so for a message typed by a person this is empty. A post
/// through the API (a user token, an app) sets the two independently, and
/// people see the blocks: a link only in the blocks must not slip past.
fn block_parts(content: Option<&SlackMessageContent>) -> Vec<String> {
    let Some(c) = content else { return Vec::new() };
    let Some(blocks) = c.blocks.as_ref().filter(|b| !b.is_empty()) else {
        return Vec::new();
    };
    let Ok(blocks) = serde_json::to_value(blocks) else {
        return Vec::new();
    };
    let text = c.text.as_deref().unwrap_or_default();
    let mut parts: Vec<String> = Vec::new();
    let mut bytes = 0;
    let mut keep = |part: String, shown: bool| {
        if !shown && bytes + part.len() <= MAX_BLOCK_BYTES && !parts.contains(&part) {
            bytes += part.len();
            parts.push(part);
        }
    };
    block_values(&blocks, &mut |kind, obj| {
        let field = |name: &str| {
            obj.get(name)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.is_empty())
        };
        for url in ["url", "title_url"].into_iter().filter_map(field) {
            let url = escape_slack(url);
            let linked = text.contains(&format!("<{url}>")) || text.contains(&format!("<{url}|"));
            keep(url, linked);
        }
        match (kind, field("text")) {
            ("mrkdwn" | "markdown", Some(t)) => keep(t.to_owned(), text.contains(t)),
            // A rich-text run of plain text reads like `plain_text`: in a
            // typed message it is part of `text` already.
            ("plain_text" | "text", Some(t)) => {
                let t = escape_slack(t);
                let shown = text.contains(t.as_str());
                keep(t, shown);
            }
            _ => {}
        }
    });
    parts
}

/// Calls `f(type, object)` for every JSON object in `v` (`type` empty when
/// it has none), depth first.
fn block_values(
    v: &serde_json::Value,
    f: &mut dyn FnMut(&str, &serde_json::Map<String, serde_json::Value>),
) {
    match v {
        serde_json::Value::Object(obj) => {
            let kind = obj.get("type").and_then(serde_json::Value::as_str);
            f(kind.unwrap_or_default(), obj);
            for child in obj.values() {
                block_values(child, f);
            }
        }
        serde_json::Value::Array(items) => {
            for child in items {
                block_values(child, f);
            }
        }
        _ => {}
    }
}

/// A message's text as the policy reads it: `text` (for a file share, the
/// comment typed with the files: what `initial_comment` becomes), typed file
/// titles, then its attachments' text. Also whether it carries files, and
/// why a repost could not stand in for it.
fn texts(content: Option<&SlackMessageContent>) -> (String, bool, Option<String>) {
    let Some(c) = content else {
        return (String::new(), false, None);
    };
    let mut text = c.text.clone().unwrap_or_default();
    let attached = attachment_parts(content);
    let blocks = block_parts(content);
    for t in file_titles(content).iter().chain(&attached).chain(&blocks) {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(t);
    }
    let has_files = c.files.as_ref().is_some_and(|f| !f.is_empty());
    let why = if !attached.is_empty() {
        Some(ATTACHMENTS_NOT_REPOSTABLE.to_owned())
    } else {
        (!blocks.is_empty()).then(|| BLOCKS_NOT_REPOSTABLE.to_owned())
    };
    (text, has_files, why)
}

/// What an edit (`message_changed`) says that is new, when its text did not
/// change: `Ok(None)` when the text changed (the text is judged),
/// `Ok(Some((text, why)))` for the block or attachment text that is new
/// (and why a repost cannot stand in for it), or why it is not a message
/// at all.
///
/// Unfurls and reactions also fire message_changed with the same text.
/// People cannot write attachments (Slack adds unfurls to their messages),
/// but apps can: an app's edit that changes only its attachments
/// (chat.update) is a revision of what they say. Blocks are written by
/// whoever posted (an update through the API can change them alone), never
/// by an unfurl, so new block text is read whoever edits. Only the text
/// that is new is read, so nothing is judged twice.
fn edited_attachments(
    ev: &SlackMessageEvent,
    new: &SlackMessageEventEdited,
) -> Result<Option<(String, &'static str)>, Skip> {
    let previous = ev
        .previous_message
        .as_ref()
        .and_then(|p| p.content.as_ref());
    let old_text = previous.and_then(|c| c.text.clone());
    let new_text = new.content.as_ref().and_then(|c| c.text.clone());
    if old_text != new_text {
        return Ok(None);
    }
    let new_only = |before: Vec<String>, after: Vec<String>| -> Vec<String> {
        after.into_iter().filter(|p| !before.contains(p)).collect()
    };
    let blocks = new_only(block_parts(previous), block_parts(new.content.as_ref()));
    let attached = if new.sender.bot_id.is_some() {
        new_only(
            attachment_parts(previous),
            attachment_parts(new.content.as_ref()),
        )
    } else {
        Vec::new()
    };
    let why = match (attached.is_empty(), blocks.is_empty()) {
        (true, true) => return Err(Skip::NotAMessage),
        (false, _) => ATTACHMENTS_NOT_REPOSTABLE,
        (true, false) => BLOCKS_NOT_REPOSTABLE,
    };
    Ok(Some((
        attached
            .into_iter()
            .chain(blocks)
            .collect::<Vec<_>>()
            .join("\n"),
        why,
    )))
}

/// Translates one `message` event. `team` is the event wrapper's team id.
/// Other bots and integrations are skipped unless `moderate_bots`: a bot that
/// keeps posting a banned link would otherwise be reposted forever. Our own
/// messages are always skipped (never loop).
///
/// What was posted is [`posted`] (one arm per Slack message subtype), who
/// is speaking [`is_ours`] and [`author`]; here are the checks every
/// subtype shares.
pub fn message(
    team: &str,
    ev: &SlackMessageEvent,
    me: &Identity,
    moderate_bots: bool,
) -> Translated {
    let channel = ev
        .origin
        .channel
        .as_ref()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let is_im = matches!(
        ev.origin.channel_type.as_ref().map(|t| t.0.as_str()),
        Some("im")
    );
    let Posted {
        sender: author_sender,
        ts,
        content,
        revision,
        edited,
        attachments_only,
    } = match posted(ev, me, moderate_bots) {
        Ok(p) => p,
        Err(skip) => return Translated::Skipped(skip),
    };
    if is_ours(author_sender, me) {
        return Translated::Skipped(Skip::Ours);
    }
    if author_sender.bot_id.is_some() && !moderate_bots {
        return Translated::Skipped(Skip::OtherBot);
    }
    let Some(author) = author(author_sender) else {
        return Translated::Skipped(Skip::NotAMessage);
    };
    let (mut text, has_files, mut not_repostable) = texts(content);
    if let Some((added, why)) = attachments_only {
        text = added;
        not_repostable = Some(why.to_owned());
    }
    if is_im {
        return if edited {
            Translated::Skipped(Skip::DirectMessage)
        } else {
            Translated::Question {
                channel,
                user: author.id,
                text,
            }
        };
    }
    let thread = ev
        .origin
        .thread_ts
        .as_ref()
        .map(|t| t.0.clone())
        .filter(|t| *t != ts);
    Translated::Message(Box::new(IncomingMessage {
        platform: Platform::Slack,
        workspace: team.to_owned(),
        channel,
        thread,
        message_id: ts,
        revision,
        author,
        text,
        has_attachments: has_files,
        not_repostable,
        received: Instant::now(),
    }))
}

/// What a `message` event's subtype says was posted.
struct Posted<'a> {
    /// Who posted it (for an edit, the edited message's author).
    sender: &'a SlackMessageSender,
    /// The message's timestamp, its id.
    ts: String,
    content: Option<&'a SlackMessageContent>,
    revision: Revision,
    edited: bool,
    /// For an edit that only added attachments or blocks: their text, all
    /// that is new, and why a repost cannot stand in for it.
    attachments_only: Option<(String, &'static str)>,
}

/// Reads the subtypes linkguard moderates (a post, a bot's post, an edit);
/// the rest, and our own bot's posts, are skipped.
fn posted<'a>(
    ev: &'a SlackMessageEvent,
    me: &Identity,
    moderate_bots: bool,
) -> Result<Posted<'a>, Skip> {
    use SlackMessageEventType as T;
    let mut attachments_only: Option<(String, &'static str)> = None;
    let (sender, ts, content, revision, edited) = match &ev.subtype {
        None | Some(T::FileShare) | Some(T::ThreadBroadcast) | Some(T::MeMessage) => (
            &ev.sender,
            ev.origin.ts.0.clone(),
            ev.content.as_ref(),
            Revision::original(),
            false,
        ),
        Some(T::BotMessage) => {
            if ev.sender.bot_id.is_some()
                && ev.sender.bot_id.as_ref().map(|b| &b.0) == me.bot_id.as_ref()
            {
                return Err(Skip::Ours);
            }
            if !moderate_bots {
                return Err(Skip::OtherBot);
            }
            (
                &ev.sender,
                ev.origin.ts.0.clone(),
                ev.content.as_ref(),
                Revision::original(),
                false,
            )
        }
        Some(T::MessageChanged) => {
            let Some(new) = &ev.message else {
                return Err(Skip::NotAMessage);
            };
            attachments_only = edited_attachments(ev, new)?;
            let revision = new
                .edited
                .as_ref()
                .map(|e| Revision::edit(&e.ts.0))
                .unwrap_or_else(|| Revision::edit(&ev.origin.ts.0));
            (
                &new.sender,
                new.ts.0.clone(),
                new.content.as_ref(),
                revision,
                true,
            )
        }
        Some(_) => return Err(Skip::NotAMessage),
    };
    Ok(Posted {
        sender,
        ts,
        content,
        revision,
        edited,
        attachments_only,
    })
}

/// Whether `sender` is linkguard itself: its user, its bot or its app.
fn is_ours(sender: &SlackMessageSender, me: &Identity) -> bool {
    sender.user.as_ref().is_some_and(|u| u.0 == me.user_id)
        || (sender.bot_id.is_some() && sender.bot_id.as_ref().map(|b| &b.0) == me.bot_id.as_ref())
        || sender
            .bot_profile
            .as_ref()
            .is_some_and(|p| Some(&p.app_id) == me.app_id.as_ref())
}

/// Who sent a message, as a repost names them. A legacy integration has no
/// user, only its bot id (`B…`): that is the author, shown under the name
/// and icon it posted with. `None` when there is neither.
fn author(sender: &SlackMessageSender) -> Option<Author> {
    let id = sender
        .user
        .as_ref()
        .map(|u| u.0.clone())
        .or_else(|| sender.bot_id.as_ref().map(|b| b.0.clone()))?;
    let name = sender
        .username
        .clone()
        .or_else(|| sender.bot_profile.as_ref().map(|p| p.name.clone()));
    let icon = sender
        .bot_profile
        .as_ref()
        .and_then(|p| p.icons.as_ref())
        .and_then(|i| i.resolutions.iter().max_by_key(|(size, _)| *size))
        .map(|(_, url)| url.clone());
    Some(Author {
        display_name: name.unwrap_or_else(|| id.clone()),
        id,
        avatar_url: icon,
        roles: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me() -> Identity {
        Identity {
            user_id: "UBOT".into(),
            bot_id: Some("BOURS".into()),
            app_id: Some("AOURS".into()),
            team_id: "T1".into(),
        }
    }

    fn translate(event: serde_json::Value, moderate_bots: bool) -> Translated {
        let ev: SlackMessageEvent = serde_json::from_value(event).expect("a message event");
        message("T1", &ev, &me(), moderate_bots)
    }

    fn moderated(event: serde_json::Value) -> IncomingMessage {
        match translate(event, false) {
            Translated::Message(m) => *m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn skipped(event: serde_json::Value) -> Skip {
        match translate(event, false) {
            Translated::Skipped(why) => why,
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn a_new_message_is_revision_zero_in_no_thread() {
        let m = moderated(
            json!({"type": "message", "user": "U1", "text": "https://zoom.us/j/1",
            "ts": "10.1", "channel": "C1", "channel_type": "channel"}),
        );
        assert_eq!((m.channel.as_str(), m.message_id.as_str()), ("C1", "10.1"));
        assert!(m.revision.is_original());
        assert_eq!((m.thread, m.author.id.as_str()), (None, "U1"));
        assert_eq!(m.text, "https://zoom.us/j/1");
        assert!(!m.has_attachments);
    }

    #[test]
    fn replies_and_broadcasts_keep_their_thread_but_a_parent_has_none() {
        let reply = moderated(
            json!({"type": "message", "user": "U1", "text": "x", "ts": "11.1",
            "thread_ts": "10.1", "channel": "C1", "channel_type": "channel"}),
        );
        assert_eq!(reply.thread.as_deref(), Some("10.1"));
        let broadcast = moderated(
            json!({"type": "message", "subtype": "thread_broadcast", "user": "U1",
            "text": "x", "ts": "12.1", "thread_ts": "10.1", "channel": "C1", "channel_type": "channel"}),
        );
        assert_eq!(broadcast.thread.as_deref(), Some("10.1"));
        let parent = moderated(
            json!({"type": "message", "user": "U1", "text": "x", "ts": "10.1",
            "thread_ts": "10.1", "channel": "C1", "channel_type": "channel"}),
        );
        assert_eq!(parent.thread, None);
    }

    #[test]
    fn an_edit_is_the_nested_message_with_the_edit_as_revision() {
        let m = moderated(
            json!({"type": "message", "subtype": "message_changed", "hidden": true,
            "channel": "C1", "channel_type": "channel", "ts": "20.5", "event_ts": "20.5",
            "message": {"type": "message", "user": "U2", "text": "now https://zoom.us/j/2", "ts": "10.1",
                "edited": {"user": "U2", "ts": "20.000000"}},
            "previous_message": {"type": "message", "user": "U2", "text": "soon", "ts": "10.1"}}),
        );
        assert_eq!(m.message_id, "10.1");
        assert_eq!(m.revision, "20.000000");
        assert_eq!(m.author.id, "U2");
        assert_eq!(m.text, "now https://zoom.us/j/2");
    }

    #[test]
    fn unfurls_deletions_and_joins_are_not_messages() {
        // An unfurl re-sends the same text.
        assert_eq!(
            skipped(
                json!({"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "20.5",
                "message": {"type": "message", "user": "U2", "text": "same", "ts": "10.1",
                    "attachments": [{"fallback": "preview"}]},
                "previous_message": {"type": "message", "user": "U2", "text": "same", "ts": "10.1"}})
            ),
            Skip::NotAMessage
        );
        assert_eq!(
            skipped(
                json!({"type": "message", "subtype": "message_deleted", "channel": "C1", "ts": "20.6",
                "deleted_ts": "10.1", "hidden": true,
                "previous_message": {"type": "message", "user": "U2", "text": "x", "ts": "10.1"}})
            ),
            Skip::NotAMessage
        );
        assert_eq!(
            skipped(
                json!({"type": "message", "subtype": "channel_join", "user": "U2", "text": "joined",
                "channel": "C1", "ts": "20.7"})
            ),
            Skip::NotAMessage
        );
    }

    #[test]
    fn our_own_messages_are_never_moderated() {
        for moderate_bots in [false, true] {
            // A customised repost echoes back as a bot_message with our bot id.
            let repost = json!({"type": "message", "subtype": "bot_message", "bot_id": "BOURS",
                "username": "alice", "text": "https://meet.jit.si/x", "ts": "30.1", "channel": "C1"});
            assert!(matches!(
                translate(repost, moderate_bots),
                Translated::Skipped(Skip::Ours)
            ));
            let plain = json!({"type": "message", "user": "UBOT", "bot_id": "BOURS",
                "text": "https://zoom.us/j/3", "ts": "30.2", "channel": "C1"});
            assert!(matches!(
                translate(plain, moderate_bots),
                Translated::Skipped(Skip::Ours)
            ));
            // Our own chat.update echo.
            let update = json!({"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "30.4",
                "message": {"type": "message", "user": "UBOT", "bot_id": "BOURS", "text": "b", "ts": "30.2"},
                "previous_message": {"type": "message", "user": "UBOT", "bot_id": "BOURS", "text": "a", "ts": "30.2"}});
            assert!(matches!(
                translate(update, moderate_bots),
                Translated::Skipped(Skip::Ours)
            ));
        }
    }

    #[test]
    fn a_shared_message_is_read_from_its_attachments_and_cannot_be_reposted() {
        let m = moderated(json!({"type": "message", "user": "U1", "text": "look",
            "ts": "70.1", "channel": "C1", "channel_type": "channel",
            "attachments": [{"id": 1, "is_share": true, "is_msg_unfurl": true,
                "fallback": "[March 1st] bob: call <https://zoom.us/j/7>",
                "text": "call <https://zoom.us/j/7>", "author_id": "U2",
                "from_url": "https://acme.slack.com/archives/C2/p1"}]}));
        assert_eq!(
            m.text,
            "look\n[March 1st] bob: call <https://zoom.us/j/7>\ncall <https://zoom.us/j/7>"
        );
        assert!(m.not_repostable.is_some());
        assert!(!m.has_attachments, "attachments are not files");
    }

    #[test]
    fn an_app_edit_of_only_its_attachments_is_a_revision_of_the_new_text_alone() {
        let edit = |who: serde_json::Value| {
            let mut message = json!({"type": "message", "text": "status", "ts": "80.1",
                "edited": {"user": "UAPP", "ts": "81.000000"},
                "attachments": [{"id": 1, "fallback": "old"}, {"id": 2, "text": "join <https://zoom.us/j/8>",
                    "fields": [{"title": "Bridge", "value": "<https://zoom.us/j/9>", "short": false}]}]});
            let mut previous = json!({"type": "message", "text": "status", "ts": "80.1",
                "attachments": [{"id": 1, "fallback": "old"}]});
            for v in [&mut message, &mut previous] {
                for (k, x) in who.as_object().into_iter().flatten() {
                    v[k] = x.clone();
                }
            }
            json!({"type": "message", "subtype": "message_changed", "channel": "C1",
                "channel_type": "channel", "ts": "81.5", "message": message,
                "previous_message": previous})
        };
        let Translated::Message(m) =
            translate(edit(json!({"user": "UAPP", "bot_id": "BAPP"})), true)
        else {
            panic!("an app's attachment edit is moderated");
        };
        assert_eq!(
            m.text,
            "join <https://zoom.us/j/8>\nBridge\n<https://zoom.us/j/9>"
        );
        assert_eq!(m.revision, "81.000000");
        assert!(m.not_repostable.is_some());
        // A person's message only gains attachments from unfurls.
        assert!(matches!(
            translate(edit(json!({"user": "U1"})), true),
            Translated::Skipped(Skip::NotAMessage)
        ));
    }

    /// A post through the API whose blocks show a link its text does not
    /// (a rich-text link, a link button, a section's mrkdwn) is read with
    /// those links and cannot be reposted; a typed message, whose blocks
    /// mirror its text, reads as its text alone.
    #[test]
    fn links_only_in_blocks_are_read_and_mirrored_ones_are_not() {
        let post = |text: &str, blocks: serde_json::Value| {
            moderated(json!({"type": "message", "user": "U1", "text": text,
                "ts": "90.1", "channel": "C1", "channel_type": "channel", "blocks": blocks}))
        };
        let typed = post(
            "call <https://zoom.us/j/1?a=1&amp;b=2|here> &amp; more",
            json!([{"type": "rich_text", "block_id": "b1", "elements": [{"type": "rich_text_section",
                "elements": [{"type": "text", "text": "call "},
                    {"type": "link", "url": "https://zoom.us/j/1?a=1&b=2", "text": "here"},
                    {"type": "text", "text": " & more"}]}]}]),
        );
        assert_eq!(
            typed.text,
            "call <https://zoom.us/j/1?a=1&amp;b=2|here> &amp; more"
        );
        assert!(typed.not_repostable.is_none());

        let hidden = post(
            "agenda",
            json!([{"type": "rich_text", "block_id": "b1", "elements": [{"type": "rich_text_section",
                    "elements": [{"type": "link", "url": "https://zoom.us/j/2?x=1&y=2", "text": "agenda"}]}]},
                {"type": "section", "block_id": "b2", "text": {"type": "mrkdwn", "text": "or <https://zoom.us/j/3|this>"},
                    "accessory": {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "Join"},
                        "url": "https://zoom.us/j/4"}}]),
        );
        let mut lines: Vec<&str> = hidden.text.lines().collect();
        lines.sort_unstable();
        assert_eq!(
            lines,
            [
                "Join",
                "agenda",
                "https://zoom.us/j/2?x=1&amp;y=2",
                "https://zoom.us/j/4",
                "or <https://zoom.us/j/3|this>"
            ],
            "{}",
            hidden.text
        );
        assert!(hidden.not_repostable.is_some());

        // A markdown block, an overflow menu's link, a URL that the text
        // shows only as a label (not as a link target) and a rich-text run
        // of plain text the text lacks are read too.
        let more = post(
            "see <https://docs.example.com/x|https://zoom.us/j/6>",
            json!([{"type": "markdown", "block_id": "m1", "text": "[join](https://zoom.us/j/7)"},
                {"type": "section", "block_id": "s1", "text": {"type": "mrkdwn", "text": "menu"},
                    "accessory": {"type": "overflow", "action_id": "o", "options": [
                        {"text": {"type": "plain_text", "text": "menu"}, "value": "v",
                         "url": "https://zoom.us/j/8"}]}},
                {"type": "rich_text", "block_id": "r1", "elements": [{"type": "rich_text_section",
                    "elements": [{"type": "link", "url": "https://zoom.us/j/6"},
                        {"type": "text", "text": " or meet.google.com/abc-defg-hij"}]}]}]),
        );
        for part in [
            "[join](https://zoom.us/j/7)",
            "https://zoom.us/j/8",
            "https://zoom.us/j/6",
            " or meet.google.com/abc-defg-hij",
        ] {
            assert!(
                more.text.lines().any(|l| l == part),
                "{part}: {}",
                more.text
            );
        }
    }

    /// An edit through the API that changes only the blocks is a revision
    /// of what is new in them, whoever makes it.
    #[test]
    fn an_edit_of_only_the_blocks_is_read() {
        let blocks = |url: &str| {
            json!([{"type": "rich_text", "block_id": "b1", "elements": [{"type": "rich_text_section",
                "elements": [{"type": "link", "url": url, "text": "notes"}]}]}])
        };
        let m = moderated(json!({"type": "message", "subtype": "message_changed",
            "channel": "C1", "channel_type": "channel", "ts": "91.5",
            "message": {"type": "message", "user": "U1", "text": "notes", "ts": "91.1",
                "edited": {"user": "U1", "ts": "91.400000"}, "blocks": blocks("https://zoom.us/j/5")},
            "previous_message": {"type": "message", "user": "U1", "text": "notes", "ts": "91.1",
                "blocks": blocks("https://docs.example.com/n")}}));
        assert_eq!(m.text, "https://zoom.us/j/5");
        assert!(m.not_repostable.is_some());
    }

    #[test]
    fn typed_file_titles_are_read_but_file_names_are_not() {
        let m = moderated(
            json!({"type": "message", "subtype": "file_share", "user": "U1", "text": "",
            "ts": "90.1", "channel": "C1", "channel_type": "channel",
            "files": [{"id": "F1", "name": "a.pdf", "title": "a.pdf"},
                      {"id": "F2", "name": "b.pdf", "title": "call https://zoom.us/j/10"}]}),
        );
        assert_eq!(m.text, "call https://zoom.us/j/10");
        assert!(m.has_attachments && m.not_repostable.is_none());
    }

    #[test]
    fn other_bots_only_when_configured() {
        let integration = json!({"type": "message", "subtype": "bot_message", "bot_id": "BCI",
            "username": "ci", "text": "https://zoom.us/j/4", "ts": "40.1", "channel": "C1"});
        assert!(matches!(
            translate(integration.clone(), false),
            Translated::Skipped(Skip::OtherBot)
        ));
        let Translated::Message(m) = translate(integration, true) else {
            panic!("moderated when configured");
        };
        assert_eq!(
            (m.author.id.as_str(), m.author.display_name.as_str()),
            ("BCI", "ci")
        );
        let app_bot = json!({"type": "message", "user": "UAPP", "bot_id": "BAPP",
            "text": "https://zoom.us/j/5", "ts": "40.2", "channel": "C1"});
        assert!(matches!(
            translate(app_bot.clone(), false),
            Translated::Skipped(Skip::OtherBot)
        ));
        let Translated::Message(m) = translate(app_bot, true) else {
            panic!("moderated when configured");
        };
        assert_eq!(m.author.id, "UAPP");
    }

    #[test]
    fn a_file_share_is_moderated_by_its_text_and_marked_as_carrying_files() {
        let m = moderated(
            json!({"type": "message", "subtype": "file_share", "user": "U1",
            "text": "agenda <https://zoom.us/j/6>", "ts": "50.1", "channel": "C1", "channel_type": "channel",
            "upload": false, "files": [{"id": "F1", "name": "agenda.pdf"}]}),
        );
        assert_eq!(m.text, "agenda <https://zoom.us/j/6>");
        assert!(m.has_attachments);
    }

    #[test]
    fn a_direct_message_is_a_question() {
        match translate(
            json!({"type": "message", "user": "U1", "text": "can I use zoom?", "ts": "60.1",
                "channel": "D1", "channel_type": "im"}),
            false,
        ) {
            Translated::Question {
                channel,
                user,
                text,
            } => {
                assert_eq!(
                    (channel.as_str(), user.as_str(), text.as_str()),
                    ("D1", "U1", "can I use zoom?")
                );
            }
            other => panic!("expected a question, got {other:?}"),
        }
    }
}
