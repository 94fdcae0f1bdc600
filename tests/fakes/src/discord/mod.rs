//! A protocol-faithful fake Discord: REST v10 (over plain HTTP and over HTTPS with a test CA)
//! and a real gateway websocket, driven and inspected by tests and by `linkguard demo`.
//!
//! The real serenity client is what gets tested, so the fake speaks Discord's wire format:
//! complete payloads, real error codes, rate-limit headers, per-shard sessions, intents and the
//! MESSAGE_CONTENT rule, and resume with replay. See `shared/protocol/README.md` ("Fake
//! Discord") for the rules it follows.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use linkguard_fakes::discord::{cast, FakeDiscord, FakeDiscordConfig};
//! let fake = FakeDiscord::start(FakeDiscordConfig::default()).await?;
//! // … start the bot with fake.http_base() or fake.https_addr() + fake.ca_pem() …
//! fake.wait_until(|s| s.connected_sessions() > 0, std::time::Duration::from_secs(10)).await?;
//! let id = fake.post_user_message(cast::GENERAL, cast::ALICE, "https://zoom.us/j/1")?;
//! # let _ = id; Ok(()) }
//! ```

mod config;
mod gateway;
pub mod payloads;
mod rest;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use config::{
    cast, foreign_guild, intents, perms, ChannelKind, ChannelSpec, FakeDiscordConfig, GuildSpec,
    MemberSpec, Overwrite, OverwriteTarget, RoleSpec, UserSpec,
};
pub use state::{
    DiscordState, DispatchRecord, GatewayStats, InteractionRecord, RecordedCall, RouteKind,
    SessionInfo, StoredMessage, StoredWebhook, Times,
};

use crate::tls::{TestCa, TlsError, TlsListener};
use state::{now_ms, ContentExemption, Fault, FaultKind, GatewayEvent, Outbound};

/// Host names the HTTPS listener's certificate covers.
pub const TLS_HOSTS: &[&str] = &[
    "discord.com",
    "cdn.discordapp.com",
    "media.discordapp.net",
    "localhost",
    "127.0.0.1",
];

/// What can go wrong starting or driving the fake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FakeDiscordError {
    /// Binding a listener failed.
    #[error("binding a fake discord listener: {0}")]
    Bind(#[from] std::io::Error),
    /// The test CA could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// No such channel (or DM channel) in the cast.
    #[error("unknown channel {0}")]
    UnknownChannel(u64),
    /// No such user in the cast, or not a member of the channel's guild.
    #[error("unknown user {0} (or not a member of that guild)")]
    UnknownUser(u64),
    /// No such message in that channel.
    #[error("unknown message {0}")]
    UnknownMessage(u64),
    /// The bot did not answer an interaction in time.
    #[error("no callback for interaction {0} within the window")]
    InteractionTimeout(u64),
    /// [`FakeDiscord::wait_until`] gave up.
    #[error("condition not met within {0:?}")]
    WaitTimeout(Duration),
}

pub(crate) struct Inner {
    /// Start-up configuration (gateway and REST knobs); the live cast is in the state.
    pub(crate) config: FakeDiscordConfig,
    state: Mutex<DiscordState>,
    changed: watch::Sender<u64>,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, DiscordState> {
        // A panicking test thread must not wedge every later assertion.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

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
        }
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

/// The bot's first answer to an interaction.
#[derive(Clone, Debug, PartialEq)]
pub struct InteractionCallback {
    /// Interaction id.
    pub interaction_id: u64,
    /// Interaction token (for inspecting follow-ups).
    pub token: String,
    /// Callback type: 4 message, 5 deferred, …
    pub kind: u64,
    /// The callback's `data`, `Null` when absent.
    pub data: Value,
}

/// A running fake Discord. Dropping it stops the listeners and drops gateway connections.
pub struct FakeDiscord {
    inner: Arc<Inner>,
    http_addr: SocketAddr,
    https_addr: SocketAddr,
    ca: TestCa,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeDiscord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDiscord")
            .field("http_addr", &self.http_addr)
            .field("https_addr", &self.https_addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let st = self.inner.lock();
        for tx in st.open_conns.values() {
            let _ = tx.send(Outbound::Abort);
        }
    }
}

impl FakeDiscord {
    /// Binds both listeners on 127.0.0.1 (port 0) and starts serving.
    pub async fn start(config: FakeDiscordConfig) -> Result<Self, FakeDiscordError> {
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let https = TcpListener::bind("127.0.0.1:0").await?;
        let http_addr = http.local_addr()?;
        let https_addr = https.local_addr()?;
        let ca = TestCa::generate(TLS_HOSTS)?;
        let gateway_url = format!("ws://{http_addr}");
        let (changed, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            config: config.clone(),
            state: Mutex::new(DiscordState::new(config, gateway_url)),
            changed,
        });
        let tls = TlsListener::new(https, ca.server_config())?;
        let plain_router = rest::router(Arc::clone(&inner), false);
        let tls_router = rest::router(Arc::clone(&inner), true);
        let tasks = vec![
            tokio::spawn(async move {
                if let Err(error) = axum::serve(http, plain_router).await {
                    tracing::debug!(%error, "fake discord http listener stopped");
                }
            }),
            tokio::spawn(async move {
                if let Err(error) = axum::serve(tls, tls_router).await {
                    tracing::debug!(%error, "fake discord https listener stopped");
                }
            }),
        ];
        tracing::debug!(%http_addr, %https_addr, "fake discord started");
        Ok(Self {
            inner,
            http_addr,
            https_addr,
            ca,
            tasks,
        })
    }

    /// `http://127.0.0.1:PORT`, for `HttpBuilder::proxy` (serenity replaces `https://discord.com`).
    pub fn http_base(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The plain HTTP (and gateway) listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The HTTPS listener, for `reqwest::ClientBuilder::resolve("discord.com", addr)`.
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The test CA in PEM, for `reqwest::Certificate::from_pem`.
    pub fn ca_pem(&self) -> &str {
        self.ca.ca_pem()
    }

    /// `ws://127.0.0.1:PORT`, what `GET /gateway` returns.
    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.http_addr)
    }

    /// The bot token the fake accepts.
    pub fn bot_token(&self) -> &str {
        &self.inner.config.bot_token
    }

    /// The start-up configuration.
    pub fn config(&self) -> &FakeDiscordConfig {
        &self.inner.config
    }

    fn mutate<R>(&self, f: impl FnOnce(&mut DiscordState) -> R) -> R {
        let result = f(&mut self.inner.lock());
        self.inner.notify();
        result
    }

    /// Reads the state under the lock.
    pub fn with_state<R>(&self, f: impl FnOnce(&DiscordState) -> R) -> R {
        f(&self.inner.lock())
    }

    /// Waits (without polling or sleeping) until `pred` holds; it is re-checked on every
    /// change of the fake's state.
    pub async fn wait_until(
        &self,
        mut pred: impl FnMut(&DiscordState) -> bool,
        timeout: Duration,
    ) -> Result<(), FakeDiscordError> {
        let mut changes = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if pred(&self.inner.lock()) {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(FakeDiscordError::WaitTimeout(timeout)),
            }
        }
    }

    // ----- simulated users -----

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
            m.kind = if reference.is_some() { 19 } else { 0 };
            m.message_reference = reference;
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

    /// Dispatches INTERACTION_CREATE (type 2, slash command) and returns its id and token
    /// without waiting for the bot. `options` is Discord's `data.options` array.
    pub fn start_interaction(
        &self,
        channel: u64,
        user: u64,
        command_name: &str,
        options: Value,
    ) -> Result<(u64, String), FakeDiscordError> {
        self.begin_interaction(channel, user, command_name, options)
            .map(|(id, token, _)| (id, token))
    }

    fn begin_interaction(
        &self,
        channel: u64,
        user: u64,
        command_name: &str,
        options: Value,
    ) -> Result<(u64, String, oneshot::Receiver<Value>), FakeDiscordError> {
        self.mutate(|st| {
            let home = st
                .channel_home(channel)
                .ok_or(FakeDiscordError::UnknownChannel(channel))?;
            let user_spec = st
                .config
                .user(user)
                .cloned()
                .ok_or(FakeDiscordError::UnknownUser(user))?;
            let id = st.snowflake();
            let token = format!("FAKE-interaction-token-{id}-{}", now_ms());
            let bot = st.config.bot.id;
            let command_id = home
                .and_then(|g| st.guild_commands.get(&g))
                .into_iter()
                .flatten()
                .chain(st.global_commands.iter())
                .find(|c| c["name"] == command_name)
                .and_then(|c| c["id"].as_str().and_then(|s| s.parse::<u64>().ok()));
            let command_id = match command_id {
                Some(c) => c,
                None => st.snowflake(),
            };
            let mut data = json!({
                "id": command_id.to_string(),
                "name": command_name,
                "type": 1,
            });
            if options.as_array().is_some_and(|o| !o.is_empty()) {
                data["options"] = options;
            }
            let mut d = json!({
                "application_id": bot.to_string(),
                "attachment_size_limit": 10_485_760,
                "channel_id": channel.to_string(),
                "data": data,
                "entitlement_sku_ids": [],
                "entitlements": [],
                "id": id.to_string(),
                "locale": "en-US",
                "token": token,
                "type": 2,
                "version": 1,
            });
            match home {
                Some(g) => {
                    let guild = st
                        .guild(g)
                        .ok_or(FakeDiscordError::UnknownChannel(channel))?;
                    let member = guild
                        .member(user)
                        .ok_or(FakeDiscordError::UnknownUser(user))?;
                    let spec = guild
                        .channel(channel)
                        .ok_or(FakeDiscordError::UnknownChannel(channel))?;
                    let app_perms = guild.permissions_in(bot, channel);
                    let user_perms = guild.permissions_in(user, channel);
                    let mut channel_json = payloads::channel(spec, g);
                    channel_json["permissions"] = json!(user_perms.to_string());
                    let mut member_json = payloads::member(member, &user_spec);
                    member_json["permissions"] = json!(user_perms.to_string());
                    payloads::merge(
                        &mut d,
                        json!({
                            "app_permissions": app_perms.to_string(),
                            "authorizing_integration_owners": { "0": g.to_string() },
                            "channel": channel_json,
                            "context": 0,
                            "guild": { "features": [], "id": g.to_string(), "locale": "en-US" },
                            "guild_id": g.to_string(),
                            "guild_locale": "en-US",
                            "member": member_json,
                        }),
                    );
                }
                None => {
                    payloads::merge(
                        &mut d,
                        json!({
                            "app_permissions": perms::ALL.to_string(),
                            "authorizing_integration_owners": { "0": user.to_string() },
                            "channel": payloads::dm_channel(channel, &user_spec),
                            "context": 1,
                            "user": payloads::user(&user_spec),
                        }),
                    );
                }
            }
            st.interactions.insert(
                id,
                InteractionRecord {
                    id,
                    token: token.clone(),
                    command: command_name.to_owned(),
                    channel_id: channel,
                    user_id: user,
                    callback: None,
                    original_message: None,
                    original_edits: Vec::new(),
                    followups: Vec::new(),
                    created: Instant::now(),
                },
            );
            let (tx, rx) = oneshot::channel();
            st.interaction_waiters.insert(id, tx);
            st.broadcast(GatewayEvent {
                t: "INTERACTION_CREATE".to_owned(),
                d,
                guild_id: home,
                intent: None,
                strip_content_unless: None,
            });
            Ok((id, token, rx))
        })
    }

    /// Dispatches a slash command and waits for the bot's callback (within Discord's window
    /// plus a little slack); returns what the bot answered.
    pub async fn interaction(
        &self,
        channel: u64,
        user: u64,
        command_name: &str,
        options: Value,
    ) -> Result<InteractionCallback, FakeDiscordError> {
        let (id, token, rx) = self.begin_interaction(channel, user, command_name, options)?;
        let window = self.inner.config.interaction_callback_window + Duration::from_secs(2);
        match tokio::time::timeout(window, rx).await {
            Ok(Ok(body)) => Ok(InteractionCallback {
                interaction_id: id,
                token,
                kind: body.get("type").and_then(Value::as_u64).unwrap_or(0),
                data: body.get("data").cloned().unwrap_or(Value::Null),
            }),
            _ => Err(FakeDiscordError::InteractionTimeout(id)),
        }
    }

    /// Dispatches any event as is. Routed to the shard of `d.guild_id` (shard 0 without one);
    /// MESSAGE_* events honour the message intents, others go to every session.
    pub fn dispatch_raw(&self, t: &str, d: Value) {
        let guild_id = d
            .get("guild_id")
            .and_then(Value::as_str)
            .and_then(|g| g.parse::<u64>().ok());
        let intent = t.starts_with("MESSAGE_").then_some(if guild_id.is_some() {
            intents::GUILD_MESSAGES
        } else {
            intents::DIRECT_MESSAGES
        });
        self.mutate(|st| {
            st.broadcast(GatewayEvent {
                t: t.to_owned(),
                d,
                guild_id,
                intent,
                strip_content_unless: None,
            });
        });
    }

    /// Sets the bot's member overwrite in `channel` and dispatches CHANNEL_UPDATE, as Discord
    /// does when an admin edits channel permissions.
    pub fn set_bot_channel_overwrite(
        &self,
        channel: u64,
        allow: u64,
        deny: u64,
    ) -> Result<(), FakeDiscordError> {
        self.mutate(|st| {
            let bot = st.config.bot.id;
            let mut update = None;
            for g in &mut st.config.guilds {
                let gid = g.id;
                if let Some(c) = g.channels.iter_mut().find(|c| c.id == channel) {
                    config::set_member_overwrite(c, bot, allow, deny);
                    update = Some((gid, payloads::channel(c, gid)));
                }
            }
            let (guild_id, d) = update.ok_or(FakeDiscordError::UnknownChannel(channel))?;
            st.broadcast(GatewayEvent {
                t: "CHANNEL_UPDATE".to_owned(),
                d,
                guild_id: Some(guild_id),
                intent: Some(intents::GUILDS),
                strip_content_unless: None,
            });
            Ok(())
        })
    }

    /// The bot is added to another guild (someone invited it): the guild
    /// joins the cast and GUILD_CREATE goes to the session of its shard.
    /// Members not in the cast's users must be added to it beforehand.
    pub fn add_guild(&self, guild: GuildSpec) {
        self.mutate(|st| {
            let id = guild.id;
            st.config.guilds.retain(|g| g.id != id);
            st.config.guilds.push(guild);
            let Some(spec) = st.guild(id) else { return };
            let d = payloads::guild_create(&st.config, spec);
            st.broadcast(GatewayEvent {
                t: "GUILD_CREATE".to_owned(),
                d,
                guild_id: Some(id),
                intent: Some(intents::GUILDS),
                strip_content_unless: None,
            });
        });
    }

    /// Registers a global application command named `name`, as an earlier
    /// version of a bot may have left behind.
    pub fn add_global_command(&self, name: &str, description: &str) -> u64 {
        self.mutate(|st| {
            let id = st.snowflake();
            st.command_version += 1;
            let body = json!({ "name": name, "description": description, "type": 1 });
            let c = payloads::command(id, st.config.bot.id, None, st.command_version, &body);
            st.global_commands.push(c);
            id
        })
    }

    /// Replaces the permissions of the bot's managed role and dispatches GUILD_ROLE_UPDATE.
    pub fn set_bot_role_permissions(&self, permissions: u64) {
        self.mutate(|st| {
            let bot = st.config.bot.id;
            let mut updates = Vec::new();
            for g in &mut st.config.guilds {
                for r in &mut g.roles {
                    if r.bot_id == Some(bot) {
                        r.permissions = permissions;
                        updates.push((g.id, payloads::role(r)));
                    }
                }
            }
            for (guild_id, role) in updates {
                st.broadcast(GatewayEvent {
                    t: "GUILD_ROLE_UPDATE".to_owned(),
                    d: json!({ "guild_id": guild_id.to_string(), "role": role }),
                    guild_id: Some(guild_id),
                    intent: Some(intents::GUILDS),
                    strip_content_unless: None,
                });
            }
        });
    }

    // ----- fault injection -----

    /// The next `times` requests to `route` fail with `status` and Discord error `code`.
    pub fn fail_route(&self, route: RouteKind, status: u16, code: u32, times: Times) {
        self.mutate(|st| {
            st.faults.push(Fault {
                route,
                times,
                kind: FaultKind::Error { status, code },
            });
        });
    }

    /// The next `times` requests to `route` get a per-route 429 with `retry_after` seconds
    /// (body, `Retry-After` and `X-RateLimit-*` headers, scope `user`).
    pub fn rate_limit(&self, route: RouteKind, times: u32, retry_after: f64) {
        self.push_rate_limit(route, times, retry_after, false);
    }

    /// Like [`Self::rate_limit`] but a global limit (`global: true`, `X-RateLimit-Global`).
    pub fn rate_limit_global(&self, route: RouteKind, times: u32, retry_after: f64) {
        self.push_rate_limit(route, times, retry_after, true);
    }

    fn push_rate_limit(&self, route: RouteKind, times: u32, retry_after: f64, global: bool) {
        self.mutate(|st| {
            st.faults.push(Fault {
                route,
                times: Times::N(times),
                kind: FaultKind::RateLimit {
                    retry_after,
                    global,
                },
            });
        });
    }

    /// Removes every injected fault and rate limit.
    pub fn clear_faults(&self) {
        self.mutate(|st| st.faults.clear());
    }

    // ----- gateway control -----

    fn each_connection(&self, mut f: impl FnMut(&tokio::sync::mpsc::UnboundedSender<Outbound>)) {
        self.mutate(|st| {
            for tx in st.open_conns.values() {
                f(tx);
            }
        });
    }

    /// Drops every gateway connection abruptly (no close frame). Sessions stay resumable and
    /// keep buffering dispatches until the client resumes.
    pub fn drop_gateway(&self) {
        self.each_connection(|tx| {
            let _ = tx.send(Outbound::Abort);
        });
    }

    /// Sends Reconnect (op 7) and closes each connection with 4000; sessions stay resumable.
    pub fn reconnect_gateway(&self) {
        self.each_connection(|tx| {
            let _ = tx.send(Outbound::Frame(
                json!({"t": null, "s": null, "op": 7, "d": null}).to_string(),
            ));
            let _ = tx.send(Outbound::Close(4000, "Reconnect requested.".to_owned()));
        });
    }

    /// Sends Invalid Session (op 9) with `d: resumable` to every connected session; when not
    /// resumable the sessions are ended, so the client must identify afresh.
    pub fn invalidate_sessions(&self, resumable: bool) {
        self.mutate(|st| {
            for s in &mut st.sessions {
                if let Some(conn) = &s.conn {
                    let _ = conn.tx.send(Outbound::Frame(
                        json!({"t": null, "s": null, "op": 9, "d": resumable}).to_string(),
                    ));
                    if !resumable {
                        s.alive = false;
                    }
                }
            }
        });
    }

    /// Closes every connection with `code` (e.g. 4000 resumable, 4009 session timed out).
    pub fn close_gateway(&self, code: u16, reason: &str) {
        self.mutate(|st| {
            for s in &mut st.sessions {
                if s.conn.is_some() && gateway::ends_session(code) {
                    s.alive = false;
                }
            }
            for tx in st.open_conns.values() {
                let _ = tx.send(Outbound::Close(code, reason.to_owned()));
            }
        });
    }

    /// Asks every connection for an immediate heartbeat (server op 1).
    pub fn request_heartbeat(&self) {
        self.each_connection(|tx| {
            let _ = tx.send(Outbound::Frame(
                json!({"t": null, "s": null, "op": 1, "d": null}).to_string(),
            ));
        });
    }

    // ----- inspection -----

    /// Every REST call so far.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.with_state(|s| s.calls().to_vec())
    }

    /// REST calls to one route, in order.
    pub fn calls_to(&self, route: RouteKind) -> Vec<RecordedCall> {
        self.with_state(|s| s.calls_to(route).into_iter().cloned().collect())
    }

    /// The latest REST call to one route.
    pub fn last_call(&self, route: RouteKind) -> Option<RecordedCall> {
        self.with_state(|s| s.calls_to(route).last().map(|c| (*c).clone()))
    }

    /// Messages of a channel or thread, oldest first, deleted ones included and flagged.
    pub fn messages(&self, channel: u64) -> Vec<StoredMessage> {
        self.with_state(|s| s.messages(channel).into_iter().cloned().collect())
    }

    /// One message.
    pub fn message(&self, id: u64) -> Option<StoredMessage> {
        self.with_state(|s| s.message(id).cloned())
    }

    /// Every interaction with the bot's callback, edits and follow-ups.
    pub fn interaction_responses(&self) -> Vec<InteractionRecord> {
        self.with_state(|s| s.interactions().into_iter().cloned().collect())
    }

    /// Gateway sessions.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.with_state(DiscordState::sessions)
    }

    /// Gateway counters.
    pub fn gateway_stats(&self) -> GatewayStats {
        self.with_state(DiscordState::gateway_stats)
    }
}
