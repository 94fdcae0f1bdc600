//! What simulated users do: post (with attachments, embeds or a reply),
//! forward, start a thread, DM the bot, edit and delete their messages. Each
//! dispatches the gateway event Discord would.

use serde_json::{json, Value};

use super::config::intents;
use super::state::{ContentExemption, GatewayEvent, StoredMessage};
use super::{automod, payloads, FakeDiscord, FakeDiscordError};

/// A message a simulated user posts (see [`FakeDiscord::post`]).
#[derive(Clone, Debug)]
pub struct UserMessage {
    /// Channel, thread or DM channel.
    pub channel: u64,
    /// Author.
    pub author: u64,
    /// Raw content.
    pub content: String,
    /// Attachment objects (see [`UserMessage::attachment`]).
    pub attachments: Vec<Value>,
    /// Embed objects.
    pub embeds: Vec<Value>,
    /// The message this replies to.
    pub reply_to: Option<u64>,
    /// A poll object (see [`UserMessage::poll`]).
    pub poll: Option<Value>,
}

impl UserMessage {
    /// A plain text message.
    pub fn new(channel: u64, author: u64, content: impl Into<String>) -> Self {
        Self {
            channel,
            author,
            content: content.into(),
            attachments: Vec::new(),
            embeds: Vec::new(),
            reply_to: None,
            poll: None,
        }
    }

    /// Attaches a poll with this question and these answers, as Discord
    /// sends one in MESSAGE_CREATE (any member who may post can add one;
    /// it lasts a day, no votes yet).
    pub fn poll(mut self, question: &str, answers: &[&str]) -> Self {
        let answers: Vec<Value> = answers
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"answer_id": i + 1, "poll_media": {"text": a}}))
            .collect();
        self.poll = Some(json!({
            "question": {"text": question},
            "answers": answers,
            "expiry": "2030-01-02T00:00:00.000000+00:00",
            "allow_multiselect": false,
            "layout_type": 1,
            "results": {"is_finalized": false, "answer_counts": []},
        }));
        self
    }

    /// Adds an attachment with this file name.
    pub fn attachment(mut self, filename: &str, size: u64) -> Self {
        let n = self.attachments.len() as u64 + 1;
        self.attachments.push(json!({
            "id": format!("14560744439809{n:05}"),
            "filename": filename,
            "size": size,
            "url": format!("https://cdn.discordapp.com/attachments/{}/{n}/{filename}", self.channel),
            "proxy_url": format!("https://media.discordapp.net/attachments/{}/{n}/{filename}", self.channel),
            "content_type": "application/octet-stream",
        }));
        self
    }

    /// Makes it a reply to `message`.
    pub fn reply_to(mut self, message: u64) -> Self {
        self.reply_to = Some(message);
        self
    }
}

impl FakeDiscord {
    /// A user posts `content` in a channel, thread or DM channel; dispatches MESSAGE_CREATE.
    pub fn post_user_message(
        &self,
        channel: u64,
        user: u64,
        content: &str,
    ) -> Result<u64, FakeDiscordError> {
        self.post(UserMessage::new(channel, user, content))
    }

    /// A user posts a message with attachments, embeds or a reply reference.
    pub fn post(&self, msg: UserMessage) -> Result<u64, FakeDiscordError> {
        self.mutate(|st| {
            let home = st
                .channel_home(msg.channel)
                .ok_or(FakeDiscordError::UnknownChannel(msg.channel))?;
            st.config
                .user(msg.author)
                .ok_or(FakeDiscordError::UnknownUser(msg.author))?;
            match home {
                Some(g) => {
                    if st.guild(g).and_then(|g| g.member(msg.author)).is_none() {
                        return Err(FakeDiscordError::UnknownUser(msg.author));
                    }
                }
                None => {
                    if st.dm_recipient(msg.channel) != Some(msg.author) {
                        return Err(FakeDiscordError::UnknownUser(msg.author));
                    }
                }
            }
            let id = st.snowflake();
            let reference = msg.reply_to.map(|r| {
                json!({
                    "type": 0,
                    "message_id": r.to_string(),
                    "channel_id": msg.channel.to_string(),
                    "guild_id": home.map(|g| g.to_string()),
                })
            });
            let mut m = StoredMessage::blank(id, msg.channel, home, msg.author);
            m.content = msg.content;
            m.embeds = msg.embeds;
            m.attachments = msg.attachments;
            m.poll = msg.poll;
            m.kind = if reference.is_some() { 19 } else { 0 };
            m.message_reference = reference;
            if let Some(rule) = automod::screen(st, &m) {
                return Err(FakeDiscordError::BlockedByAutoMod(rule));
            }
            st.insert_message(m);
            Ok(id)
        })
    }

    /// Another app answers `user`'s slash command `/echo` in `channel` with
    /// `content`, as Discord posts an interaction's reply: MESSAGE_CREATE of
    /// type 20 whose author is the app's bot user (`webhook_id` and
    /// `application_id` the app's id) and whose `interaction_metadata` names
    /// `user` and who installed the app: `user` themselves (a user-installed
    /// app, which any member may use wherever they can post) or, when
    /// `server_installed`, the server. Returns the message id.
    pub fn post_app_answer(
        &self,
        channel: u64,
        user: u64,
        content: &str,
        server_installed: bool,
    ) -> Result<u64, FakeDiscordError> {
        const APP: u64 = 1_300_000_000_000_000_001;
        self.mutate(|st| {
            let home = st
                .channel_home(channel)
                .ok_or(FakeDiscordError::UnknownChannel(channel))?;
            let invoker = st
                .config
                .user(user)
                .map(payloads::user)
                .ok_or(FakeDiscordError::UnknownUser(user))?;
            let owners = match (server_installed, home) {
                (true, Some(g)) => json!({ "0": g.to_string() }),
                _ => json!({ "1": user.to_string() }),
            };
            let id = st.snowflake();
            let mut m = StoredMessage::blank(id, channel, home, APP);
            m.content = content.to_owned();
            m.webhook_id = Some(APP);
            m.username = Some("Echo".to_owned());
            m.kind = 20;
            m.app_fields = Some(json!({
                "application_id": APP.to_string(),
                "interaction_metadata": {
                    "id": st.snowflake().to_string(),
                    "type": 2,
                    "name": "echo",
                    "user": invoker,
                    "authorizing_integration_owners": owners,
                },
            }));
            st.insert_message(m);
            Ok(id)
        })
    }

    /// `user` forwards message `source` (from any channel the fake knows) into
    /// `channel`; dispatches MESSAGE_CREATE. As on Discord, the forward's own
    /// `content` is empty, its `message_reference` has `type: 1` and names the
    /// source, its `flags` include HAS_SNAPSHOT (1 << 14), and
    /// `message_snapshots` holds a copy of the source without author or id.
    pub fn forward(&self, channel: u64, user: u64, source: u64) -> Result<u64, FakeDiscordError> {
        self.mutate(|st| {
            let home = st
                .channel_home(channel)
                .ok_or(FakeDiscordError::UnknownChannel(channel))?;
            if home.is_some_and(|g| st.guild(g).and_then(|g| g.member(user)).is_none()) {
                return Err(FakeDiscordError::UnknownUser(user));
            }
            let src = st
                .message(source)
                .filter(|m| !m.deleted)
                .cloned()
                .ok_or(FakeDiscordError::UnknownMessage(source))?;
            let full = st.message_json(&src, false);
            let mut snapshot = json!({});
            for field in [
                "type",
                "content",
                "embeds",
                "attachments",
                "timestamp",
                "edited_timestamp",
                "flags",
                "mentions",
                "mention_roles",
                "components",
            ] {
                snapshot[field] = full.get(field).cloned().unwrap_or(Value::Null);
            }
            let id = st.snowflake();
            let mut m = StoredMessage::blank(id, channel, home, user);
            m.flags = 1 << 14;
            m.message_reference = Some(json!({
                "type": 1,
                "channel_id": src.channel_id.to_string(),
                "message_id": source.to_string(),
                "guild_id": src.guild_id.map(|g| g.to_string()),
            }));
            m.message_snapshots = vec![snapshot];
            if src.guild_id.is_none() {
                if let Some(r) = m.message_reference.as_mut() {
                    r.as_object_mut().map(|o| o.remove("guild_id"));
                }
            }
            st.insert_message(m);
            Ok(id)
        })
    }

    /// Dispatches the starter message of `thread`, a thread started from
    /// message `source` of its parent channel: MESSAGE_CREATE of type 21
    /// (THREAD_STARTER_MESSAGE) in the thread, with no content, a
    /// `message_reference` to the source and the source itself as
    /// `referenced_message`. Discord shows it first in such a thread's
    /// history; this lets a test deliver it live as well. Returns its id.
    pub fn thread_starter(&self, thread: u64, source: u64) -> Result<u64, FakeDiscordError> {
        self.mutate(|st| {
            let home = st
                .channel_home(thread)
                .ok_or(FakeDiscordError::UnknownChannel(thread))?;
            let src = st
                .message(source)
                .cloned()
                .ok_or(FakeDiscordError::UnknownMessage(source))?;
            let id = st.snowflake();
            let mut m = StoredMessage::blank(id, thread, home, src.author_id);
            m.kind = 21;
            m.message_reference = Some(json!({
                "type": 0,
                "channel_id": src.channel_id.to_string(),
                "message_id": source.to_string(),
                "guild_id": src.guild_id.map(|g| g.to_string()),
            }));
            st.insert_message(m);
            Ok(id)
        })
    }

    /// A user DMs the bot; returns the message id (the channel is [`Self::dm_channel`]).
    pub fn post_dm(&self, user: u64, content: &str) -> Result<u64, FakeDiscordError> {
        let channel = self.dm_channel(user)?;
        self.post(UserMessage::new(channel, user, content))
    }

    /// The DM channel between the bot and `user` (created on first use).
    pub fn dm_channel(&self, user: u64) -> Result<u64, FakeDiscordError> {
        self.mutate(|st| {
            if st.config.user(user).is_none() || user == st.config.bot.id {
                return Err(FakeDiscordError::UnknownUser(user));
            }
            Ok(st.dm_channel_for(user))
        })
    }

    /// The author edits a message; dispatches a full MESSAGE_UPDATE.
    pub fn edit_user_message(
        &self,
        channel: u64,
        id: u64,
        new_content: &str,
    ) -> Result<(), FakeDiscordError> {
        self.mutate(|st| {
            if !st
                .message(id)
                .is_some_and(|m| m.channel_id == channel && !m.deleted)
            {
                return Err(FakeDiscordError::UnknownMessage(id));
            }
            st.edit_message(id, &json!({ "content": new_content }))
                .map(|_| ())
                .ok_or(FakeDiscordError::UnknownMessage(id))
        })
    }

    /// Dispatches a PARTIAL MESSAGE_UPDATE carrying only `id`, `channel_id`, `guild_id` and
    /// `fields` (e.g. `{"embeds": [...]}` for an unfurl); the stored message takes `content`
    /// and `embeds` from `fields` when present.
    pub fn partial_message_update(
        &self,
        channel: u64,
        id: u64,
        fields: Value,
    ) -> Result<(), FakeDiscordError> {
        self.mutate(|st| {
            let (guild_id, author) = match st.message(id) {
                Some(m) if m.channel_id == channel && !m.deleted => (m.guild_id, m.author_id),
                _ => return Err(FakeDiscordError::UnknownMessage(id)),
            };
            if let Some(m) = st.messages.get_mut(&id) {
                if let Some(c) = fields.get("content").and_then(Value::as_str) {
                    let old = std::mem::replace(&mut m.content, c.to_owned());
                    m.previous_contents.push(old);
                }
                if let Some(e) = fields.get("embeds").and_then(Value::as_array) {
                    m.embeds.clone_from(e);
                }
            }
            let mut d = json!({ "id": id.to_string(), "channel_id": channel.to_string() });
            if let Some(g) = guild_id {
                d["guild_id"] = json!(g.to_string());
            }
            payloads::merge(&mut d, fields);
            let bot = st.config.bot.id;
            st.broadcast(GatewayEvent {
                t: "MESSAGE_UPDATE".to_owned(),
                d,
                guild_id,
                intent: Some(if guild_id.is_some() {
                    intents::GUILD_MESSAGES
                } else {
                    intents::DIRECT_MESSAGES
                }),
                strip_content_unless: guild_id.map(|_| ContentExemption {
                    author_is_bot: author == bot,
                    mentions_bot: false,
                }),
            });
            Ok(())
        })
    }

    /// The author deletes their message; dispatches MESSAGE_DELETE.
    pub fn delete_user_message(&self, channel: u64, id: u64) -> Result<(), FakeDiscordError> {
        self.mutate(|st| {
            if !st
                .message(id)
                .is_some_and(|m| m.channel_id == channel && !m.deleted)
            {
                return Err(FakeDiscordError::UnknownMessage(id));
            }
            st.delete_message(id);
            Ok(())
        })
    }
}
