//! The fake's world: messages, webhooks, interactions, commands, recorded calls, injected
//! faults and gateway sessions, plus the dispatch logic that routes an event to the right
//! shard sessions with Discord's intent and MESSAGE_CONTENT rules.
//!
//! Everything sits behind one mutex so an event is numbered, buffered for resume and handed to
//! the live connection in one step: that is what makes "no event lost or doubled across a drop"
//! provable.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::config::{intents, FakeDiscordConfig, GuildSpec};
use super::payloads;

/// The REST routes the fake knows, for recording, fault injection and rate limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteKind {
    /// `GET /gateway`.
    Gateway,
    /// `GET /gateway/bot`.
    GatewayBot,
    /// `GET /users/@me`, `GET /users/{u}`.
    GetUser,
    /// `POST /users/@me/channels`.
    CreateDm,
    /// `GET /oauth2/applications/@me`, `GET /applications/@me`.
    GetApplication,
    /// `GET /channels/{c}`.
    GetChannel,
    /// `GET /channels/{c}/messages`.
    ListMessages,
    /// `GET /channels/{c}/messages/{m}`.
    GetMessage,
    /// `POST /channels/{c}/messages`.
    CreateMessage,
    /// `PATCH /channels/{c}/messages/{m}`.
    EditMessage,
    /// `DELETE /channels/{c}/messages/{m}`.
    DeleteMessage,
    /// `POST /channels/{c}/typing`.
    Typing,
    /// `POST /channels/{c}/webhooks`.
    CreateWebhook,
    /// `GET /channels/{c}/webhooks`, `GET /guilds/{g}/webhooks`.
    ListWebhooks,
    /// `GET /webhooks/{id}[/{token}]`.
    GetWebhook,
    /// `DELETE /webhooks/{id}[/{token}]`.
    DeleteWebhook,
    /// `POST /webhooks/{id}/{token}` (also interaction follow-ups).
    WebhookExecute,
    /// `GET|PATCH|DELETE /webhooks/{id}/{token}/messages/{m|@original}`.
    WebhookMessage,
    /// `POST /interactions/{id}/{token}/callback`.
    InteractionCallback,
    /// `GET|PUT|POST /applications/{app}/commands`.
    GlobalCommands,
    /// `GET|PUT|POST /applications/{app}/guilds/{g}/commands`.
    GuildCommands,
    /// `GET /guilds/{g}`.
    GetGuild,
    /// `GET /guilds/{g}/channels`.
    GuildChannels,
    /// `GET /guilds/{g}/members/{u}`.
    GetMember,
    /// `GET /guilds/{g}/roles`.
    GuildRoles,
    /// `DELETE /users/@me/guilds/{g}`: the bot leaves a guild.
    LeaveGuild,
    /// `GET|POST /guilds/{g}/auto-moderation/rules`.
    AutoModRules,
    /// `GET|PATCH|DELETE /guilds/{g}/auto-moderation/rules/{id}`.
    AutoModRule,
    /// Anything else (answered 404).
    Unknown,
}

/// One REST request as the fake saw it.
#[derive(Clone, Debug)]
pub struct RecordedCall {
    /// Which route.
    pub route: RouteKind,
    /// `GET`, `POST`, …
    pub method: String,
    /// Path as received, e.g. `/api/v10/channels/1/messages`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// JSON body (for multipart, the `payload_json` part).
    pub body: Option<Value>,
    /// Status the fake answered.
    pub status: u16,
    /// Whether it arrived over the HTTPS listener.
    pub tls: bool,
    /// When the request arrived (for latency figures in load tests).
    pub at: Instant,
}

/// A message in the fake's store (deleted ones are kept and flagged).
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// Snowflake.
    pub id: u64,
    /// Channel (or thread) id.
    pub channel_id: u64,
    /// Guild, `None` in DMs.
    pub guild_id: Option<u64>,
    /// Author's user id (the webhook id for webhook messages).
    pub author_id: u64,
    /// Current content.
    pub content: String,
    /// Set for webhook and interaction messages.
    pub webhook_id: Option<u64>,
    /// Webhook `username` override as received.
    pub username: Option<String>,
    /// Webhook `avatar_url` as received.
    pub avatar_url: Option<String>,
    /// `allowed_mentions` as received.
    pub allowed_mentions: Option<Value>,
    /// Embeds.
    pub embeds: Vec<Value>,
    /// Attachments.
    pub attachments: Vec<Value>,
    /// Components.
    pub components: Vec<Value>,
    /// Message flags (64 = ephemeral).
    pub flags: u64,
    /// Message type (0 default, 19 reply, 20 slash-command reply).
    pub kind: u8,
    /// `message_reference` as received.
    pub message_reference: Option<Value>,
    /// When it was last edited (ms since Unix epoch).
    pub edited_ms: Option<u64>,
    /// Whether it has been deleted.
    pub deleted: bool,
    /// Every earlier content, oldest first.
    pub previous_contents: Vec<String>,
    /// The `interaction` object for slash-command replies.
    pub interaction: Option<Value>,
    /// For a forward: the snapshots of the forwarded message (each the inner
    /// `message` object of Discord's `{message: {...}}`).
    pub message_snapshots: Vec<Value>,
}

impl StoredMessage {
    /// An empty, undeleted, unedited default message (type 0) by `author_id`.
    pub(crate) fn blank(id: u64, channel_id: u64, guild_id: Option<u64>, author_id: u64) -> Self {
        Self {
            id,
            channel_id,
            guild_id,
            author_id,
            content: String::new(),
            webhook_id: None,
            username: None,
            avatar_url: None,
            allowed_mentions: None,
            embeds: Vec::new(),
            attachments: Vec::new(),
            components: Vec::new(),
            flags: 0,
            kind: 0,
            message_reference: None,
            edited_ms: None,
            deleted: false,
            previous_contents: Vec::new(),
            interaction: None,
            message_snapshots: Vec::new(),
        }
    }
}

/// A webhook the bot created.
#[derive(Clone, Debug)]
pub struct StoredWebhook {
    /// Snowflake.
    pub id: u64,
    /// Secret token.
    pub token: String,
    /// Name.
    pub name: String,
    /// Channel.
    pub channel_id: u64,
    /// Guild.
    pub guild_id: u64,
    /// Creator.
    pub creator_id: u64,
    /// Deleted webhooks answer 10015.
    pub deleted: bool,
}

/// An interaction the fake dispatched, with everything the bot answered.
#[derive(Clone, Debug)]
pub struct InteractionRecord {
    /// Snowflake.
    pub id: u64,
    /// Interaction token.
    pub token: String,
    /// Command name.
    pub command: String,
    /// Interaction type: 2 command, 3 component, 5 modal submit.
    pub kind: u64,
    /// Channel.
    pub channel_id: u64,
    /// Invoking user.
    pub user_id: u64,
    /// The initial callback body (type 4, 5, …).
    pub callback: Option<Value>,
    /// The id of the original response message, once there is one.
    pub original_message: Option<u64>,
    /// Bodies of `PATCH …/messages/@original`, in order.
    pub original_edits: Vec<Value>,
    /// Bodies of follow-up messages, in order.
    pub followups: Vec<Value>,
    pub(crate) created: Instant,
}

/// How often an injected fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// The next matching request only.
    Once,
    /// The next `n` matching requests.
    N(u32),
    /// Every matching request until cleared.
    Always,
}

impl Times {
    /// Consumes one use; returns whether the fault fires now.
    fn take(&mut self) -> bool {
        match self {
            Times::Always => true,
            Times::Once => {
                *self = Times::N(0);
                true
            }
            Times::N(0) => false,
            Times::N(n) => {
                *n -= 1;
                true
            }
        }
    }

    fn exhausted(&self) -> bool {
        *self == Times::N(0)
    }
}

#[derive(Clone, Debug)]
pub(crate) enum FaultKind {
    Error { status: u16, code: u32 },
    RateLimit { retry_after: f64, global: bool },
}

#[derive(Clone, Debug)]
pub(crate) struct Fault {
    pub(crate) route: RouteKind,
    pub(crate) times: Times,
    pub(crate) kind: FaultKind,
}

/// What the connection task should do next.
#[derive(Debug)]
pub(crate) enum Outbound {
    Frame(String),
    Close(u16, String),
    Abort,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::UnboundedSender<Outbound>,
}

/// A gateway session (one per identify), resumable while `alive`.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) shard: [u32; 2],
    pub(crate) intents: u64,
    pub(crate) seq: u64,
    pub(crate) buffer: VecDeque<(u64, String)>,
    pub(crate) conn: Option<Conn>,
    pub(crate) alive: bool,
}

/// Public view of a gateway session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// `session_id` from READY.
    pub session_id: String,
    /// `[shard_id, num_shards]`.
    pub shard: [u32; 2],
    /// Intents from Identify.
    pub intents: u64,
    /// Last sequence number dispatched.
    pub seq: u64,
    /// A websocket is attached right now.
    pub connected: bool,
    /// Can still be resumed.
    pub resumable: bool,
}

/// Counters of gateway activity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// Websocket connections accepted.
    pub connections: u64,
    /// Successful Identify (each creates a session).
    pub identifies: u64,
    /// Successful Resume.
    pub resumes: u64,
    /// Resume attempts answered with op 9.
    pub failed_resumes: u64,
    /// Heartbeats received.
    pub heartbeats: u64,
}

/// A dispatch seen by the fake (before per-session filtering).
#[derive(Clone, Debug)]
pub struct DispatchRecord {
    /// Event name.
    pub t: String,
    /// Payload as built (content not stripped).
    pub d: Value,
    /// How many sessions it was queued for.
    pub sessions: usize,
    /// When it was produced (for latency figures in load tests).
    pub at: Instant,
}

/// The fake's whole state; tests read it through [`super::FakeDiscord::wait_until`] and the
/// accessors below.
#[derive(Debug)]
pub struct DiscordState {
    pub(crate) config: FakeDiscordConfig,
    pub(crate) calls: Vec<RecordedCall>,
    pub(crate) messages: BTreeMap<u64, StoredMessage>,
    pub(crate) webhooks: BTreeMap<u64, StoredWebhook>,
    pub(crate) interactions: BTreeMap<u64, InteractionRecord>,
    pub(crate) global_commands: Vec<Value>,
    pub(crate) guild_commands: HashMap<u64, Vec<Value>>,
    pub(crate) left_guilds: Vec<u64>,
    pub(crate) sessions: Vec<Session>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) dm_channels: BTreeMap<u64, u64>,
    pub(crate) interaction_waiters: HashMap<u64, oneshot::Sender<Value>>,
    pub(crate) open_conns: BTreeMap<u64, mpsc::UnboundedSender<Outbound>>,
    pub(crate) stats: GatewayStats,
    pub(crate) dispatches: Vec<DispatchRecord>,
    pub(crate) last_snowflake: u64,
    pub(crate) next_conn_id: u64,
    pub(crate) command_version: u64,
    pub(crate) gateway_url: String,
    pub(crate) automod: super::automod::AutoModState,
    pub(crate) automod_blocked: Vec<String>,
}

impl DiscordState {
    pub(crate) fn new(config: FakeDiscordConfig, gateway_url: String) -> Self {
        Self {
            config,
            calls: Vec::new(),
            messages: BTreeMap::new(),
            webhooks: BTreeMap::new(),
            interactions: BTreeMap::new(),
            global_commands: Vec::new(),
            guild_commands: HashMap::new(),
            left_guilds: Vec::new(),
            sessions: Vec::new(),
            faults: Vec::new(),
            dm_channels: BTreeMap::new(),
            interaction_waiters: HashMap::new(),
            open_conns: BTreeMap::new(),
            stats: GatewayStats::default(),
            dispatches: Vec::new(),
            last_snowflake: 0,
            next_conn_id: 1,
            command_version: 1_455_128_208_998_531_085,
            gateway_url,
            automod: Default::default(),
            automod_blocked: Vec::new(),
        }
    }

    /// Every REST call so far, in order.
    pub fn calls(&self) -> &[RecordedCall] {
        &self.calls
    }

    /// REST calls to one route.
    pub fn calls_to(&self, route: RouteKind) -> Vec<&RecordedCall> {
        self.calls.iter().filter(|c| c.route == route).collect()
    }

    /// Messages of a channel or thread, oldest first, deleted ones included.
    pub fn messages(&self, channel: u64) -> Vec<&StoredMessage> {
        self.messages
            .values()
            .filter(|m| m.channel_id == channel)
            .collect()
    }

    /// A message by id.
    pub fn message(&self, id: u64) -> Option<&StoredMessage> {
        self.messages.get(&id)
    }

    /// Webhooks the bot created.
    pub fn webhooks(&self) -> Vec<&StoredWebhook> {
        self.webhooks.values().collect()
    }

    /// Interactions, oldest first.
    pub fn interactions(&self) -> Vec<&InteractionRecord> {
        self.interactions.values().collect()
    }

    /// The current global command set.
    pub fn global_commands(&self) -> &[Value] {
        &self.global_commands
    }

    /// Guilds the bot left (`DELETE /users/@me/guilds/{g}`), in order.
    pub fn left_guilds(&self) -> &[u64] {
        &self.left_guilds
    }

    /// Whether the bot is (still) a member of `guild`.
    pub fn in_guild(&self, guild: u64) -> bool {
        self.guild(guild).is_some()
    }

    /// The current command set of a guild.
    pub fn guild_commands(&self, guild: u64) -> &[Value] {
        self.guild_commands.get(&guild).map_or(&[], Vec::as_slice)
    }

    /// Gateway sessions, oldest first.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.sessions
            .iter()
            .map(|s| SessionInfo {
                session_id: s.id.clone(),
                shard: s.shard,
                intents: s.intents,
                seq: s.seq,
                connected: s.conn.is_some(),
                resumable: s.alive,
            })
            .collect()
    }

    /// Sessions that are alive and have a websocket attached.
    pub fn connected_sessions(&self) -> usize {
        self.sessions
            .iter()
            .filter(|s| s.alive && s.conn.is_some())
            .count()
    }

    /// Gateway counters.
    pub fn gateway_stats(&self) -> GatewayStats {
        self.stats
    }

    /// Every dispatch the fake produced (READY and GUILD_CREATE included).
    pub fn dispatches(&self) -> &[DispatchRecord] {
        &self.dispatches
    }

    /// The configuration (with runtime permission changes applied).
    pub fn config(&self) -> &FakeDiscordConfig {
        &self.config
    }

    pub(crate) fn snowflake(&mut self) -> u64 {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let candidate = now_ms.saturating_sub(payloads::DISCORD_EPOCH_MS) << 22;
        self.last_snowflake = candidate.max(self.last_snowflake + 1);
        self.last_snowflake
    }

    pub(crate) fn guild(&self, id: u64) -> Option<&GuildSpec> {
        self.config.guilds.iter().find(|g| g.id == id)
    }

    /// Where a channel lives: `Some(guild)` for guild channels, `None` inside for DMs.
    pub(crate) fn channel_home(&self, channel: u64) -> Option<Option<u64>> {
        if let Some(g) = self.config.guild_of_channel(channel) {
            return Some(Some(g.id));
        }
        self.dm_channels
            .values()
            .any(|c| *c == channel)
            .then_some(None)
    }

    pub(crate) fn dm_recipient(&self, channel: u64) -> Option<u64> {
        self.dm_channels
            .iter()
            .find(|(_, c)| **c == channel)
            .map(|(u, _)| *u)
    }

    pub(crate) fn dm_channel_for(&mut self, user: u64) -> u64 {
        if let Some(c) = self.dm_channels.get(&user) {
            return *c;
        }
        let id = self.snowflake();
        self.dm_channels.insert(user, id);
        id
    }

    /// The author object of a stored message.
    fn author_json(&self, m: &StoredMessage) -> Value {
        // Interaction replies carry `webhook_id` = application id = bot id: the author is
        // still the bot user, so known users win over the webhook shape.
        if let Some(u) = self.config.user(m.author_id) {
            return payloads::user(u);
        }
        if let Some(webhook_id) = m.webhook_id.filter(|w| *w == m.author_id) {
            let name = m
                .username
                .clone()
                .or_else(|| self.webhooks.get(&webhook_id).map(|w| w.name.clone()));
            return json!({
                "id": webhook_id.to_string(),
                "username": name.unwrap_or_else(|| "Captain Hook".to_owned()),
                "avatar": m.avatar_url.as_ref().map(|_| "0123456789abcdef0123456789abcdef"),
                "discriminator": "0000",
                "bot": true,
                "global_name": null,
                "public_flags": 0,
                "flags": 0,
                "clan": null,
                "primary_guild": null,
            });
        }
        json!({
            "id": m.author_id.to_string(),
            "username": "unknown",
            "global_name": null,
            "discriminator": "0",
            "avatar": null,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": null,
        })
    }

    /// Users mentioned in `content` (`<@id>` / `<@!id>`), limited by `allowed_mentions`.
    fn mentions(&self, m: &StoredMessage) -> Vec<u64> {
        let mut out = Vec::new();
        let mut rest = m.content.as_str();
        while let Some(start) = rest.find("<@") {
            rest = &rest[start + 2..];
            let digits = rest.strip_prefix('!').unwrap_or(rest);
            let end = digits.find('>').unwrap_or(0);
            if let Ok(id) = digits[..end].parse::<u64>() {
                if self.config.user(id).is_some() && !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        if let Some(am) = &m.allowed_mentions {
            let parse_users = am
                .get("parse")
                .and_then(Value::as_array)
                .is_some_and(|p| p.iter().any(|x| x == "users"));
            let listed: Vec<u64> = am
                .get("users")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
                        .collect()
                })
                .unwrap_or_default();
            if !parse_users {
                out.retain(|id| listed.contains(id));
            }
        }
        out
    }

    /// The message object; `gateway` adds `guild_id`, `member` and `channel_type`.
    pub(crate) fn message_json(&self, m: &StoredMessage, gateway: bool) -> Value {
        let mentions: Vec<Value> = self
            .mentions(m)
            .iter()
            .filter_map(|id| self.config.user(*id).map(payloads::user))
            .collect();
        let everyone_allowed = m.allowed_mentions.as_ref().is_none_or(|am| {
            am.get("parse")
                .and_then(Value::as_array)
                .is_some_and(|p| p.iter().any(|x| x == "everyone"))
        });
        let mention_everyone =
            everyone_allowed && (m.content.contains("@everyone") || m.content.contains("@here"));
        let mut v = json!({
            "type": m.kind,
            "tts": false,
            "timestamp": payloads::snowflake_timestamp(m.id),
            "pinned": false,
            "mentions": mentions,
            "mention_roles": [],
            "mention_everyone": mention_everyone,
            "id": m.id.to_string(),
            "flags": m.flags,
            "embeds": m.embeds,
            "edited_timestamp": m.edited_ms.map(payloads::iso8601),
            "content": m.content,
            "components": m.components,
            "channel_id": m.channel_id.to_string(),
            "author": self.author_json(m),
            "attachments": m.attachments,
        });
        if let Some(w) = m.webhook_id {
            v["webhook_id"] = json!(w.to_string());
            v["application_id"] = json!(self.config.bot.id.to_string());
        }
        if !m.message_snapshots.is_empty() {
            v["message_snapshots"] = Value::Array(
                m.message_snapshots
                    .iter()
                    .map(|snap| json!({ "message": snap }))
                    .collect(),
            );
        }
        // Only replies and thread starters carry the message they reference;
        // a forward carries snapshots instead.
        let forward = m
            .message_reference
            .as_ref()
            .is_some_and(|r| r.get("type").and_then(Value::as_u64) == Some(1));
        if let Some(r) = m.message_reference.as_ref().filter(|_| !forward) {
            v["message_reference"] = r.clone();
            let referenced = r
                .get("message_id")
                .and_then(|x| {
                    x.as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .or(x.as_u64())
                })
                .and_then(|id| self.messages.get(&id))
                .filter(|x| !x.deleted)
                .map(|x| self.message_json(x, false));
            v["referenced_message"] = referenced.unwrap_or(Value::Null);
        }
        if let Some(r) = m.message_reference.as_ref().filter(|_| forward) {
            v["message_reference"] = r.clone();
        }
        if let Some(i) = &m.interaction {
            v["interaction"] = i.clone();
        }
        if self
            .guild_of_message(m)
            .and_then(|g| g.channel(m.channel_id))
            .is_some_and(|c| c.kind.is_thread())
        {
            v["position"] = json!(0);
        }
        if gateway {
            let channel_type = match self.guild_of_message(m) {
                Some(g) => g.channel(m.channel_id).map_or(0, |c| c.kind.code()),
                None => 1,
            };
            if let Some(g) = m.guild_id {
                v["guild_id"] = json!(g.to_string());
                let member = self
                    .guild(g)
                    .and_then(|g| g.member(m.author_id))
                    .filter(|_| m.webhook_id.is_none());
                if let Some(member) = member {
                    v["member"] = payloads::partial_member(member);
                }
            }
            v["channel_type"] = json!(channel_type);
        }
        v
    }

    fn guild_of_message(&self, m: &StoredMessage) -> Option<&GuildSpec> {
        m.guild_id.and_then(|g| self.guild(g))
    }

    /// Queues a dispatch for every live session that should get it.
    pub(crate) fn broadcast(&mut self, event: GatewayEvent) {
        let targets: Vec<usize> = (0..self.sessions.len())
            .filter(|i| {
                let s = &self.sessions[*i];
                s.alive && event.routes_to(s)
            })
            .collect();
        self.record_dispatch(&event, targets.len());
        for i in targets {
            self.dispatch_to(i, &event);
        }
    }

    pub(crate) fn record_dispatch(&mut self, event: &GatewayEvent, sessions: usize) {
        self.dispatches.push(DispatchRecord {
            t: event.t.clone(),
            d: event.d.clone(),
            sessions,
            at: Instant::now(),
        });
    }

    /// Numbers, buffers and sends one dispatch to one session.
    pub(crate) fn dispatch_to(&mut self, index: usize, event: &GatewayEvent) {
        let limit = self.config.replay_buffer.max(1);
        let session = &mut self.sessions[index];
        let d = event.payload_for(session.intents);
        session.seq += 1;
        let frame = json!({ "op": 0, "s": session.seq, "t": event.t, "d": d }).to_string();
        session.buffer.push_back((session.seq, frame.clone()));
        while session.buffer.len() > limit {
            session.buffer.pop_front();
        }
        if let Some(conn) = &session.conn {
            let _ = conn.tx.send(Outbound::Frame(frame));
        }
    }

    /// Stores a new message and dispatches MESSAGE_CREATE (unless ephemeral).
    pub(crate) fn insert_message(&mut self, m: StoredMessage) -> Value {
        let id = m.id;
        let ephemeral = m.flags & 64 != 0;
        self.messages.insert(id, m);
        let stored = &self.messages[&id];
        let rest = self.message_json(stored, false);
        if !ephemeral {
            let event = GatewayEvent::message("MESSAGE_CREATE", self, stored);
            self.broadcast(event);
        }
        rest
    }

    /// Applies an edit and dispatches a full MESSAGE_UPDATE.
    pub(crate) fn edit_message(&mut self, id: u64, body: &Value) -> Option<Value> {
        let now = now_ms();
        let m = self.messages.get_mut(&id)?;
        if let Some(content) = body.get("content").and_then(Value::as_str) {
            let old = std::mem::replace(&mut m.content, content.to_owned());
            m.previous_contents.push(old);
        }
        if let Some(embeds) = body.get("embeds").and_then(Value::as_array) {
            m.embeds.clone_from(embeds);
        }
        if let Some(components) = body.get("components").and_then(Value::as_array) {
            m.components.clone_from(components);
        }
        if body.get("allowed_mentions").is_some() {
            m.allowed_mentions = body.get("allowed_mentions").cloned();
        }
        m.edited_ms = Some(now);
        let stored = &self.messages[&id];
        let rest = self.message_json(stored, false);
        if stored.flags & 64 == 0 {
            let event = GatewayEvent::message("MESSAGE_UPDATE", self, stored);
            self.broadcast(event);
        }
        Some(rest)
    }

    /// Flags a message deleted and dispatches MESSAGE_DELETE.
    pub(crate) fn delete_message(&mut self, id: u64) {
        let Some(m) = self.messages.get_mut(&id) else {
            return;
        };
        m.deleted = true;
        let mut d = json!({ "id": id.to_string(), "channel_id": m.channel_id.to_string() });
        if let Some(g) = m.guild_id {
            d["guild_id"] = json!(g.to_string());
        }
        let guild_id = m.guild_id;
        self.broadcast(GatewayEvent {
            t: "MESSAGE_DELETE".to_owned(),
            d,
            guild_id,
            intent: Some(if guild_id.is_some() {
                intents::GUILD_MESSAGES
            } else {
                intents::DIRECT_MESSAGES
            }),
            strip_content_unless: None,
        });
    }
}

/// Why a message keeps its content for a session without MESSAGE_CONTENT.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ContentExemption {
    pub(crate) author_is_bot: bool,
    pub(crate) mentions_bot: bool,
}

/// A dispatch before it is numbered for a session.
#[derive(Clone, Debug)]
pub(crate) struct GatewayEvent {
    pub(crate) t: String,
    pub(crate) d: Value,
    /// Routes to the shard of this guild; `None` goes to shard 0 (DMs, like Discord).
    pub(crate) guild_id: Option<u64>,
    /// Intent a session needs to get it; `None` = always sent.
    pub(crate) intent: Option<u64>,
    /// For guild messages: strip content unless exempt or the session has MESSAGE_CONTENT.
    pub(crate) strip_content_unless: Option<ContentExemption>,
}

impl GatewayEvent {
    pub(crate) fn message(t: &str, state: &DiscordState, m: &StoredMessage) -> Self {
        let bot = state.config.bot.id;
        let d = state.message_json(m, true);
        let mentions_bot = state.mentions(m).contains(&bot);
        Self {
            t: t.to_owned(),
            d,
            guild_id: m.guild_id,
            intent: Some(if m.guild_id.is_some() {
                intents::GUILD_MESSAGES
            } else {
                intents::DIRECT_MESSAGES
            }),
            strip_content_unless: m.guild_id.map(|_| ContentExemption {
                author_is_bot: m.author_id == bot,
                mentions_bot,
            }),
        }
    }

    fn routes_to(&self, s: &Session) -> bool {
        let [shard_id, total] = s.shard;
        let wanted = match self.guild_id {
            Some(g) => ((g >> 22) % u64::from(total.max(1))) as u32,
            None => 0,
        };
        shard_id == wanted && self.intent.is_none_or(|bit| s.intents & bit != 0)
    }

    fn payload_for(&self, session_intents: u64) -> Value {
        let mut d = self.d.clone();
        if let Some(ex) = self.strip_content_unless {
            let has_intent = session_intents & intents::MESSAGE_CONTENT != 0;
            if !has_intent && !ex.author_is_bot && !ex.mentions_bot {
                // Partial updates only carry the fields they carry: blank what is there.
                for (field, empty) in [
                    ("content", json!("")),
                    ("embeds", json!([])),
                    ("attachments", json!([])),
                    ("components", json!([])),
                    // AUTO_MODERATION_ACTION_EXECUTION
                    ("matched_content", json!("")),
                ] {
                    if d.get(field).is_some() {
                        d[field] = empty;
                    }
                }
                if let Some(poll) = d.get_mut("poll") {
                    *poll = Value::Null;
                }
                // A forward's snapshots are message content too.
                if let Some(snaps) = d.get_mut("message_snapshots").and_then(Value::as_array_mut) {
                    for snap in snaps {
                        let inner = &mut snap["message"];
                        for (field, empty) in [
                            ("content", json!("")),
                            ("embeds", json!([])),
                            ("attachments", json!([])),
                            ("components", json!([])),
                        ] {
                            if inner.get(field).is_some() {
                                inner[field] = empty;
                            }
                        }
                    }
                }
            }
        }
        d
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Fault {
    /// Takes the first live fault for `route`, dropping exhausted ones.
    pub(crate) fn take(faults: &mut Vec<Fault>, route: RouteKind) -> Option<FaultKind> {
        let mut fired = None;
        for f in faults.iter_mut() {
            if f.route == route && f.times.take() {
                fired = Some(f.kind.clone());
                break;
            }
        }
        faults.retain(|f| !f.times.exhausted());
        fired
    }
}
