//! What the workspace's people and other integrations post, driven by a
//! test: messages, thread replies, file shares, shared messages, edits and
//! deletions, each with the events Slack sends the bot.

use serde_json::{json, Value};

use super::state::{Edited, StoredMessage};
use super::{payloads, unix_now, FakeSlack, FakeSlackError};

/// Another integration posting in the workspace (legacy `bot_message`).
#[derive(Debug, Clone)]
pub struct OtherBot {
    /// Its bot id (`B…`).
    pub bot_id: String,
    /// Display name.
    pub username: String,
    /// Icon URL.
    pub icon_url: Option<String>,
}

impl OtherBot {
    /// The CI notifier of `events_api_bot_message.json`.
    pub fn ci_notifier() -> Self {
        Self {
            bot_id: "B0OTHERBOT1".into(),
            username: "ci-notifier".into(),
            icon_url: Some(
                "https://a.slack-edge.com/80588/img/services/outgoing-webhook_48.png".into(),
            ),
        }
    }
}

/// What a person's post carries besides its text.
enum Extra {
    None,
    /// Legacy attachments (a shared message).
    Attachments(Value),
    /// Blocks of its own instead of the rich-text copy of its text.
    Blocks(Value),
}

impl FakeSlack {
    /// `user` posts `text` (Slack wire text: escaped, links as `<url|label>`)
    /// in `channel`. Returns the message ts.
    pub fn post_user_message(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<String, FakeSlackError> {
        self.post_human(channel, user, text, None, None, Extra::None)
    }

    /// `user` posts through the API with their own token (`chat.postMessage`
    /// as the user): `text` and `blocks` set independently, as Slack's
    /// clients never do. Returns the message ts.
    pub fn post_user_message_with_blocks(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        blocks: Value,
    ) -> Result<String, FakeSlackError> {
        self.post_human(channel, user, text, None, None, Extra::Blocks(blocks))
    }

    /// `user` replies in the thread of `thread_ts`. Returns the reply's ts.
    pub fn post_thread_reply(
        &self,
        channel: &str,
        user: &str,
        thread_ts: &str,
        text: &str,
    ) -> Result<String, FakeSlackError> {
        self.post_human(channel, user, text, Some(thread_ts), None, Extra::None)
    }

    /// `user` shares a file with `text` as its comment (`subtype: file_share`).
    pub fn post_file_share(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<String, FakeSlackError> {
        self.post_human(channel, user, text, None, Some("agenda.pdf"), Extra::None)
    }

    fn post_human(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
        file: Option<&str>,
        extra: Extra,
    ) -> Result<String, FakeSlackError> {
        self.check_channel_and_user(channel, user)?;
        let inner = &self.inner;
        inner.mutate(|st| {
            let parent_user = match thread_ts {
                Some(t) => Some(
                    st.message(channel, t)
                        .map(|p| p.user.clone().or(p.bot_id.clone()).unwrap_or_default())
                        .ok_or_else(|| FakeSlackError::Unknown(format!("thread {t}")))?,
                ),
                None => None,
            };
            let ts = st.next_ts();
            let n = st.next_counter();
            let mut m = StoredMessage::new(channel, &ts, text);
            m.user = Some(user.to_string());
            m.client_msg_id = Some(payloads::uuid_like(inner.seed, n));
            m.blocks = Some(json!([payloads::rich_text_block(
                text,
                &payloads::block_id(n)
            )]));
            match extra {
                Extra::None => {}
                Extra::Attachments(a) => m.attachments = Some(a),
                Extra::Blocks(b) => m.blocks = Some(b),
            }
            m.thread_ts = thread_ts.map(str::to_string);
            m.parent_user_id = parent_user;
            if let Some(name) = file {
                let file_id = format!("F0FAKE{n:05}");
                m.subtype = Some("file_share".into());
                m.files = Some(json!([payloads::file_object(
                    &inner.cfg,
                    &inner.base_url,
                    &file_id,
                    user,
                    name,
                    unix_now(),
                )]));
            }
            let event = payloads::message_event(&inner.cfg, &m);
            st.push_message(m);
            inner.emit_event(st, event);
            Ok(ts)
        })
    }

    /// `user` shares message `source_ts` of `source_channel` into `channel`
    /// with `comment` (Slack's "Share message"): the new message's `text` is
    /// the comment and the shared message travels as an attachment with
    /// `is_share` and `is_msg_unfurl`, its text both in `text` and in
    /// `fallback`. Returns the new message's ts.
    pub fn share_message(
        &self,
        channel: &str,
        user: &str,
        comment: &str,
        source_channel: &str,
        source_ts: &str,
    ) -> Result<String, FakeSlackError> {
        let src = self
            .with_state(|st| st.message(source_channel, source_ts).cloned())
            .filter(|m| !m.deleted)
            .ok_or_else(|| {
                FakeSlackError::Unknown(format!("message {source_channel}/{source_ts}"))
            })?;
        let cfg = &self.inner.cfg;
        let author = src.user.clone().or(src.bot_id.clone()).unwrap_or_default();
        let author_name = cfg
            .user(&author)
            .map(|u| u.name.clone())
            .or(src.username.clone())
            .unwrap_or_else(|| author.clone());
        let shared = json!([{
            "id": 1,
            "ts": src.ts,
            "author_id": author,
            "author_name": author_name,
            "channel_id": source_channel,
            "is_msg_unfurl": true,
            "is_share": true,
            "text": src.text,
            "fallback": format!("[{}] {}: {}", src.ts, author_name, src.text),
            "from_url": format!(
                "https://{}.slack.com/archives/{source_channel}/p{}",
                cfg.team.domain,
                src.ts.replace('.', "")
            ),
            "mrkdwn_in": ["text"],
            "footer": "Posted in a channel",
        }]);
        self.post_human(
            channel,
            user,
            comment,
            None,
            None,
            Extra::Attachments(shared),
        )
    }

    /// An integration replaces the attachments of its message (as
    /// `chat.update` with the same `text` and new `attachments` does): the
    /// message is marked edited and a `message_changed` is emitted whose text
    /// is unchanged.
    pub fn edit_attachments(
        &self,
        channel: &str,
        ts: &str,
        attachments: Value,
    ) -> Result<(), FakeSlackError> {
        self.edit(channel, ts, |m, _| m.attachments = Some(attachments))
    }

    /// Applies `change` to a live message (with a fresh counter for block
    /// ids), marks it edited by its author and emits `message_changed`.
    fn edit(
        &self,
        channel: &str,
        ts: &str,
        change: impl FnOnce(&mut StoredMessage, u64),
    ) -> Result<(), FakeSlackError> {
        let inner = &self.inner;
        inner.mutate(|st| {
            let edit_ts = st.next_ts();
            let n = st.next_counter();
            let m = st
                .message_mut(channel, ts)
                .filter(|m| !m.deleted)
                .ok_or_else(|| FakeSlackError::Unknown(format!("message {channel}/{ts}")))?;
            let previous = m.clone();
            let editor = m.user.clone().or(m.bot_id.clone()).unwrap_or_default();
            change(m, n);
            m.edited = Some(Edited {
                user: editor,
                ts: format!("{}.000000", edit_ts.split('.').next().unwrap_or("0")),
            });
            let new = m.clone();
            let event = payloads::message_changed_event(&inner.cfg, &new, &previous, &edit_ts);
            inner.emit_event(st, event);
            Ok(())
        })
    }

    /// Another integration posts (`subtype: bot_message`, `username`, `icons`).
    pub fn post_bot_message(
        &self,
        channel: &str,
        bot: &OtherBot,
        text: &str,
    ) -> Result<String, FakeSlackError> {
        self.post_bot_message_with(channel, bot, text, None)
    }

    /// Like [`Self::post_bot_message`], with legacy `attachments`.
    pub fn post_bot_message_with(
        &self,
        channel: &str,
        bot: &OtherBot,
        text: &str,
        attachments: Option<Value>,
    ) -> Result<String, FakeSlackError> {
        self.check_channel(channel)?;
        let inner = &self.inner;
        Ok(inner.mutate(|st| {
            let ts = st.next_ts();
            let mut m = StoredMessage::new(channel, &ts, text);
            m.subtype = Some("bot_message".into());
            m.bot_id = Some(bot.bot_id.clone());
            m.username = Some(bot.username.clone());
            m.icon_url = bot.icon_url.clone();
            m.attachments = attachments;
            let event = payloads::message_event(&inner.cfg, &m);
            st.push_message(m);
            inner.emit_event(st, event);
            ts
        }))
    }

    /// The author edits a message (→ `message_changed` with the new message nested).
    pub fn edit_user_message(
        &self,
        channel: &str,
        ts: &str,
        new_text: &str,
    ) -> Result<(), FakeSlackError> {
        self.edit(channel, ts, |m, n| {
            m.text = new_text.to_string();
            if m.blocks.is_some() {
                let id = payloads::block_id(n);
                m.blocks = Some(json!([payloads::rich_text_block(new_text, &id)]));
            }
        })
    }

    /// The author deletes a message (→ `message_deleted`).
    pub fn delete_user_message(&self, channel: &str, ts: &str) -> Result<(), FakeSlackError> {
        let inner = &self.inner;
        inner.mutate(|st| {
            let event_ts = st.next_ts();
            let m = st
                .message_mut(channel, ts)
                .filter(|m| !m.deleted)
                .ok_or_else(|| FakeSlackError::Unknown(format!("message {channel}/{ts}")))?;
            let previous = m.clone();
            m.deleted = true;
            let event = payloads::message_deleted_event(&inner.cfg, &previous, &event_ts);
            inner.emit_event(st, event);
            Ok(())
        })
    }
}
