//! What the fake records and tests read: REST calls, messages, webhooks,
//! interactions, gateway sessions, counters and dispatches.

use std::time::Instant;

use serde_json::Value;

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
    /// Fields of another app's message, set on the message object as they
    /// are (its `application_id`, `interaction_metadata`).
    pub app_fields: Option<Value>,
    /// For a forward: the snapshots of the forwarded message (each the inner
    /// `message` object of Discord's `{message: {...}}`).
    pub message_snapshots: Vec<Value>,
    /// A poll, as posted.
    pub poll: Option<Value>,
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
            app_fields: None,
            message_snapshots: Vec::new(),
            poll: None,
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
