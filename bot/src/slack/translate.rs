//! From Slack's event payloads to the platform-neutral message, and which
//! events are not ours to moderate. Pure functions, unit-tested.

use crate::moderation::{Author, IncomingMessage, Platform};
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

/// Why an event is not moderated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Posted by linkguard itself (including its customised reposts).
    Ours,
    /// Another bot or integration.
    OtherBot,
    /// A deletion, join, topic change, … or an unfurl-only edit.
    NotAMessage,
    /// A direct message to the bot: a question, not a violation.
    DirectMessage,
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

fn texts(content: Option<&SlackMessageContent>) -> (String, bool) {
    let Some(c) = content else {
        return (String::new(), false);
    };
    let mut text = c.text.clone().unwrap_or_default();
    // Links in legacy attachments (from integrations and forwarded messages).
    for a in c.attachments.iter().flatten() {
        for t in [&a.fallback, &a.text, &a.title].into_iter().flatten() {
            text.push('\n');
            text.push_str(t);
        }
    }
    let has_files = c.files.as_ref().is_some_and(|f| !f.is_empty());
    (text, has_files)
}

/// Translates one `message` event. `team` is the event wrapper's team id.
/// Other bots and integrations are skipped unless `moderate_bots`: a bot that
/// keeps posting a banned link would otherwise be reposted forever. Our own
/// messages are always skipped (never loop).
pub fn message(
    team: &str,
    ev: &SlackMessageEvent,
    me: &Identity,
    moderate_bots: bool,
) -> Translated {
    use SlackMessageEventType as T;
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
    let (author_sender, ts, content, revision, edited) = match &ev.subtype {
        None | Some(T::FileShare) | Some(T::ThreadBroadcast) | Some(T::MeMessage) => (
            &ev.sender,
            ev.origin.ts.0.clone(),
            ev.content.as_ref(),
            "0".to_owned(),
            false,
        ),
        Some(T::BotMessage) => {
            if ev.sender.bot_id.is_some()
                && ev.sender.bot_id.as_ref().map(|b| &b.0) == me.bot_id.as_ref()
            {
                return Translated::Skipped(Skip::Ours);
            }
            if !moderate_bots {
                return Translated::Skipped(Skip::OtherBot);
            }
            (
                &ev.sender,
                ev.origin.ts.0.clone(),
                ev.content.as_ref(),
                "0".to_owned(),
                false,
            )
        }
        Some(T::MessageChanged) => {
            let Some(new) = &ev.message else {
                return Translated::Skipped(Skip::NotAMessage);
            };
            let old_text = ev
                .previous_message
                .as_ref()
                .and_then(|p| p.content.as_ref())
                .and_then(|c| c.text.clone());
            let new_text = new.content.as_ref().and_then(|c| c.text.clone());
            // Unfurls and reactions also fire message_changed: only a new text is a new revision.
            if old_text == new_text {
                return Translated::Skipped(Skip::NotAMessage);
            }
            let revision = new
                .edited
                .as_ref()
                .map(|e| e.ts.0.clone())
                .unwrap_or_else(|| ev.origin.ts.0.clone());
            (
                &new.sender,
                new.ts.0.clone(),
                new.content.as_ref(),
                revision,
                true,
            )
        }
        Some(_) => return Translated::Skipped(Skip::NotAMessage),
    };
    let ours = author_sender
        .user
        .as_ref()
        .is_some_and(|u| u.0 == me.user_id)
        || (author_sender.bot_id.is_some()
            && author_sender.bot_id.as_ref().map(|b| &b.0) == me.bot_id.as_ref())
        || author_sender
            .bot_profile
            .as_ref()
            .is_some_and(|p| Some(&p.app_id) == me.app_id.as_ref());
    if ours {
        return Translated::Skipped(Skip::Ours);
    }
    if author_sender.bot_id.is_some() && !moderate_bots {
        return Translated::Skipped(Skip::OtherBot);
    }
    // A legacy integration has no user, only its bot id (`B…`): that is the
    // author, shown under the name and icon it posted with.
    let Some(user) = author_sender
        .user
        .as_ref()
        .map(|u| u.0.clone())
        .or_else(|| author_sender.bot_id.as_ref().map(|b| b.0.clone()))
    else {
        return Translated::Skipped(Skip::NotAMessage);
    };
    let bot_name = author_sender
        .username
        .clone()
        .or_else(|| author_sender.bot_profile.as_ref().map(|p| p.name.clone()));
    let bot_icon = author_sender
        .bot_profile
        .as_ref()
        .and_then(|p| p.icons.as_ref())
        .and_then(|i| i.resolutions.iter().max_by_key(|(size, _)| *size))
        .map(|(_, url)| url.clone());
    let (text, has_files) = texts(content);
    if is_im {
        return if edited {
            Translated::Skipped(Skip::DirectMessage)
        } else {
            Translated::Question {
                channel,
                user,
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
        author: Author {
            display_name: bot_name.unwrap_or_else(|| user.clone()),
            id: user,
            avatar_url: bot_icon,
            roles: Vec::new(),
        },
        text,
        has_attachments: has_files,
        received: Instant::now(),
    }))
}

/// Makes a repost unable to notify more people than the original could:
/// Slack's broadcast specials (`<!here>`, `<!channel>`, `<!everyone>`) and
/// user-group mentions (`<!subteam^…>`) become plain text. The rest of the
/// text is kept byte for byte.
pub fn defuse_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('>') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (name, label) = match inner.split_once('|') {
            Some((n, l)) => (n, Some(l)),
            None => (inner, None),
        };
        let shown = match name.split('^').next().unwrap_or(name) {
            "here" => "@here".to_owned(),
            "channel" => "@channel".to_owned(),
            "everyone" => "@everyone".to_owned(),
            "subteam" => label.map_or_else(|| "@group".to_owned(), str::to_owned),
            // Dates and other specials render harmlessly: keep them.
            _ => format!("<!{inner}>"),
        };
        out.push_str(&shown);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
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
        assert_eq!(
            (
                m.channel.as_str(),
                m.message_id.as_str(),
                m.revision.as_str()
            ),
            ("C1", "10.1", "0")
        );
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

    #[test]
    fn broadcasts_are_defused_and_nothing_else_changes() {
        assert_eq!(
            defuse_mentions("hi <!here> and <!channel|channel> <!everyone> <@U1> <!subteam^S1|@eng> <#C1|gen> <!date^1^{date}|x> &amp;"),
            "hi @here and @channel @everyone <@U1> @eng <#C1|gen> <!date^1^{date}|x> &amp;"
        );
        assert_eq!(
            defuse_mentions("no specials <https://a|b>"),
            "no specials <https://a|b>"
        );
        assert_eq!(defuse_mentions("broken <!here"), "broken <!here");
    }
}
