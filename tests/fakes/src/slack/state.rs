//! What the fake remembers: channel contents, every Web API call, ephemeral
//! messages, deliveries to the bot and slash-command exchanges.
//!
//! Tests read it through [`SlackState`]'s accessors (directly or inside
//! `FakeSlack::wait_until`), never through the fields, so the internal
//! bookkeeping (sockets, in-flight envelopes, fault plans) can change freely.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

/// Which kind of credential a Web API call presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// The bot token (`xoxb-`).
    Bot,
    /// A user token (`xoxp-`) acting for `user_id`.
    User {
        /// The user the token belongs to.
        user_id: String,
    },
    /// The app-level token (`xapp-`).
    App,
    /// A token the workspace does not know.
    Unknown,
    /// No token at all.
    Missing,
}

/// One Web API request and the fake's answer.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// Method name, e.g. `chat.postMessage`.
    pub method: String,
    /// `GET` or `POST`.
    pub http_method: String,
    /// Credential presented.
    pub token: TokenKind,
    /// Arguments (query, JSON or form), without the `token` argument.
    pub params: Value,
    /// HTTP status returned (200, or 429 when rate limited).
    pub status: u16,
    /// JSON body returned.
    pub response: Value,
    /// When the fake received the call (for latency figures).
    pub at: std::time::Instant,
}

impl ApiCall {
    /// `true` when the response was `{"ok": true, …}`.
    pub fn ok(&self) -> bool {
        self.response.get("ok").and_then(Value::as_bool) == Some(true)
    }

    /// The `error` code of a failed call.
    pub fn error(&self) -> Option<&str> {
        self.response.get("error").and_then(Value::as_str)
    }

    /// A string argument.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(Value::as_str)
    }
}

/// Who edited a message and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// Editor.
    pub user: String,
    /// Edit time as a Slack ts.
    pub ts: String,
}

/// A message as it currently stands in a channel.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Conversation id.
    pub channel: String,
    /// The message id (`"<unix>.<6 digits>"`).
    pub ts: String,
    /// Author user id (absent for legacy bot messages and customised bot posts).
    pub user: Option<String>,
    /// Bot id for bot posts.
    pub bot_id: Option<String>,
    /// App id for app posts.
    pub app_id: Option<String>,
    /// Custom username (customised bot posts, legacy bots).
    pub username: Option<String>,
    /// Custom icon URL actually applied.
    pub icon_url: Option<String>,
    /// Custom icon emoji actually applied.
    pub icon_emoji: Option<String>,
    /// Text as Slack stores it (escaped mrkdwn).
    pub text: String,
    /// Blocks as sent (or generated `rich_text` for user posts).
    pub blocks: Option<Value>,
    /// Parent ts for thread replies.
    pub thread_ts: Option<String>,
    /// Parent's author for thread replies.
    pub parent_user_id: Option<String>,
    /// Slack message subtype, if any.
    pub subtype: Option<String>,
    /// Last edit.
    pub edited: Option<Edited>,
    /// Deleted messages stay listed with this flag set.
    pub deleted: bool,
    /// Attached files (file shares).
    pub files: Option<Value>,
    /// Legacy attachments (an integration's, or a shared message's).
    pub attachments: Option<Value>,
    /// Client message id of human posts.
    pub client_msg_id: Option<String>,
    /// `reply_broadcast` as requested.
    pub reply_broadcast: bool,
    /// `unfurl_links` as requested.
    pub unfurl_links: Option<bool>,
    /// `unfurl_media` as requested.
    pub unfurl_media: Option<bool>,
    /// Credential that created it (`None` for messages injected by the test).
    pub posted_with: Option<TokenKind>,
}

impl StoredMessage {
    pub(crate) fn new(channel: &str, ts: &str, text: &str) -> Self {
        Self {
            channel: channel.into(),
            ts: ts.into(),
            user: None,
            bot_id: None,
            app_id: None,
            username: None,
            icon_url: None,
            icon_emoji: None,
            text: text.into(),
            blocks: None,
            thread_ts: None,
            parent_user_id: None,
            subtype: None,
            edited: None,
            deleted: false,
            files: None,
            attachments: None,
            client_msg_id: None,
            reply_broadcast: false,
            unfurl_links: None,
            unfurl_media: None,
            posted_with: None,
        }
    }

    /// `true` for messages in a thread (not the parent).
    pub fn is_reply(&self) -> bool {
        self.thread_ts.as_deref().is_some_and(|t| t != self.ts)
    }
}

/// Where an ephemeral message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EphemeralSource {
    /// `chat.postEphemeral`.
    PostEphemeral,
    /// A slash-command answer without `response_type: in_channel`.
    SlashResponse,
    /// An answer posted to an interaction's `response_url`.
    InteractionResponse,
}

/// A message only one user can see.
#[derive(Debug, Clone)]
pub struct Ephemeral {
    /// Conversation.
    pub channel: String,
    /// The only user who sees it.
    pub user: String,
    /// Text.
    pub text: String,
    /// Blocks, if any.
    pub blocks: Option<Value>,
    /// Thread, if any.
    pub thread_ts: Option<String>,
    /// The `message_ts` the API returned.
    pub message_ts: String,
    /// How it was produced.
    pub source: EphemeralSource,
}

/// What a delivery carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryKind {
    /// `event_callback` (Socket Mode `events_api`).
    EventsApi,
    /// A slash command.
    SlashCommands,
    /// `url_verification` (HTTP only).
    UrlVerification,
    /// A request built by `send_raw_event`.
    Raw,
    /// An interactivity payload (`interactive` envelope or form POST).
    Interactive,
}

/// How a single delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// Sent, no ack yet.
    Pending,
    /// Socket Mode ack, with its `payload` if any.
    Acked {
        /// Ack payload (slash-command reply).
        payload: Option<Value>,
    },
    /// No ack within the ack timeout (or the socket vanished).
    NotAcked,
    /// The bot's HTTP answer.
    HttpResponse {
        /// Status code.
        status: u16,
        /// Body as text.
        body: String,
        /// The bot sent `X-Slack-No-Retry: 1`.
        no_retry: bool,
    },
    /// The HTTP request failed (`http_timeout`, `connection_failed`).
    HttpFailed {
        /// Slack's retry reason for this failure.
        reason: String,
    },
}

/// One attempt to hand something to the bot.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// Payload kind.
    pub kind: DeliveryKind,
    /// `event_id` of events (stable across retries).
    pub event_id: Option<String>,
    /// Socket Mode envelope id.
    pub envelope_id: Option<String>,
    /// Socket connection number used (Socket Mode).
    pub connection: Option<u64>,
    /// 0 for the first attempt.
    pub retry_attempt: u32,
    /// Why this is a retry (`timeout`, `http_timeout`, …).
    pub retry_reason: Option<String>,
    /// Result.
    pub outcome: DeliveryOutcome,
    /// When the fake sent it (for latency figures).
    pub at: std::time::Instant,
}

/// A slash command sent to the bot and everything it answered.
#[derive(Debug, Clone)]
pub struct SlashCommandRecord {
    /// Sequence number.
    pub id: u64,
    /// Channel it was typed in.
    pub channel: String,
    /// Who typed it.
    pub user: String,
    /// Command, e.g. `/linkguard`.
    pub command: String,
    /// Arguments.
    pub text: String,
    /// The `response_url` handed out (points at the fake).
    pub response_url: String,
    /// `trigger_id`.
    pub trigger_id: String,
    /// The bot acknowledged (ack frame or HTTP 2xx).
    pub acknowledged: bool,
    /// HTTP status of the synchronous answer (HTTP mode).
    pub http_status: Option<u16>,
    /// The synchronous answer: ack `payload` or HTTP body (JSON, or a JSON
    /// string when the body was plain text).
    pub immediate: Option<Value>,
    /// JSON bodies POSTed to `response_url`, in order.
    pub response_url_posts: Vec<Value>,
}

impl SlashCommandRecord {
    /// The first real answer: a non-empty immediate reply, else the first
    /// `response_url` post.
    pub fn answer(&self) -> Option<(super::SlashReplySource, Value)> {
        if let Some(v) = self.immediate.as_ref().filter(|v| !is_empty_answer(v)) {
            return Some((super::SlashReplySource::Immediate, v.clone()));
        }
        self.response_url_posts
            .first()
            .map(|v| (super::SlashReplySource::ResponseUrl, v.clone()))
    }
}

pub(crate) fn is_empty_answer(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Commands for one Socket Mode connection's task.
#[derive(Debug)]
pub(crate) enum SocketCmd {
    Frame(String),
    Disconnect { reason: String },
    Drop,
}

#[derive(Debug)]
pub(crate) struct SocketConn {
    pub tx: UnboundedSender<SocketCmd>,
    pub ready: bool,
}

/// A Socket Mode envelope waiting for an ack or a connection.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub envelope_id: String,
    pub kind: DeliveryKind,
    pub payload: Value,
    pub accepts_response_payload: bool,
    pub retry_attempt: u32,
    pub retry_reason: String,
    pub event_id: Option<String>,
    pub slash_id: Option<u64>,
    pub last_connection: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct InFlight {
    pub envelope: Envelope,
    pub record: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    pub remaining: u32,
    pub retry_after_secs: u64,
}

/// The fake workspace's state. Read it with the accessor methods.
#[derive(Debug, Default)]
pub struct SlackState {
    pub(crate) channels: BTreeMap<String, Vec<StoredMessage>>,
    pub(crate) calls: Vec<ApiCall>,
    pub(crate) ephemerals: Vec<Ephemeral>,
    pub(crate) deliveries: Vec<DeliveryRecord>,
    pub(crate) slash: Vec<SlashCommandRecord>,
    pub(crate) events: Vec<Value>,
    pub(crate) connections_opened: u64,
    pub(crate) connections_opened_debug: u64,
    // bookkeeping
    pub(crate) sockets: BTreeMap<u64, SocketConn>,
    pub(crate) next_socket: u64,
    pub(crate) round_robin: u64,
    pub(crate) tickets: HashMap<String, bool>,
    pub(crate) pending: VecDeque<Envelope>,
    pub(crate) inflight: HashMap<String, InFlight>,
    pub(crate) rate_limits: HashMap<String, RateLimit>,
    /// Method → (calls left, HTTP status) answered with a bare server error.
    pub(crate) http_failures: HashMap<String, (u32, u16)>,
    pub(crate) fail_next: HashMap<String, VecDeque<String>>,
    pub(crate) delays: HashMap<String, Duration>,
    pub(crate) response_url_uses: HashMap<String, u32>,
    pub(crate) last_ts: (u64, u64),
    pub(crate) counter: u64,
    /// Views, triggers and interactions (`views`).
    pub(crate) native: super::views::NativeState,
}

impl SlackState {
    /// Every message ever stored in `channel` (deleted ones flagged), oldest first.
    pub fn messages(&self, channel: &str) -> &[StoredMessage] {
        self.channels.get(channel).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Messages in `channel` that are not deleted, oldest first.
    pub fn visible_messages(&self, channel: &str) -> Vec<&StoredMessage> {
        self.messages(channel)
            .iter()
            .filter(|m| !m.deleted)
            .collect()
    }

    /// One message by channel and ts.
    pub fn message(&self, channel: &str, ts: &str) -> Option<&StoredMessage> {
        self.messages(channel).iter().find(|m| m.ts == ts)
    }

    /// Every Web API call, in arrival order.
    pub fn calls(&self) -> &[ApiCall] {
        &self.calls
    }

    /// Calls to one method.
    pub fn calls_to(&self, method: &str) -> Vec<&ApiCall> {
        self.calls.iter().filter(|c| c.method == method).collect()
    }

    /// Ephemeral messages, in order.
    pub fn ephemerals(&self) -> &[Ephemeral] {
        &self.ephemerals
    }

    /// Every delivery attempt to the bot, in order.
    pub fn deliveries(&self) -> &[DeliveryRecord] {
        &self.deliveries
    }

    /// `true` once an attempt carrying `event_id` was acknowledged (ack frame or 2xx).
    pub fn event_acked(&self, event_id: &str) -> bool {
        self.deliveries.iter().any(|d| {
            d.event_id.as_deref() == Some(event_id)
                && match &d.outcome {
                    DeliveryOutcome::Acked { .. } => true,
                    DeliveryOutcome::HttpResponse { status, .. } => (200..300).contains(status),
                    _ => false,
                }
        })
    }

    /// Slash commands sent so far.
    pub fn slash_commands(&self) -> &[SlashCommandRecord] {
        &self.slash
    }

    /// Every `event_callback` payload the fake produced, in order.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// Socket Mode connections currently open.
    pub fn open_sockets(&self) -> usize {
        self.sockets.len()
    }

    /// Socket Mode connections accepted since start (reconnects included).
    pub fn sockets_opened(&self) -> u64 {
        self.connections_opened
    }

    /// Connections that asked for `debug_reconnects=true`.
    pub fn debug_sockets_opened(&self) -> u64 {
        self.connections_opened_debug
    }

    /// Envelopes not yet acknowledged (in flight or queued for lack of a socket).
    pub fn unacked_envelopes(&self) -> usize {
        self.inflight.len() + self.pending.len()
    }

    pub(crate) fn next_counter(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A fresh, strictly increasing `"<unix>.<6 digits>"` timestamp.
    pub(crate) fn next_ts(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (secs, micro) = self.last_ts;
        let next = if now > secs {
            (now, 100)
        } else if micro >= 999_999 {
            (secs + 1, 100)
        } else {
            (secs, micro + 100)
        };
        self.last_ts = next;
        format!("{}.{:06}", next.0, next.1)
    }

    pub(crate) fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut StoredMessage> {
        self.channels
            .get_mut(channel)
            .and_then(|v| v.iter_mut().find(|m| m.ts == ts))
    }

    pub(crate) fn push_message(&mut self, msg: StoredMessage) {
        self.channels
            .entry(msg.channel.clone())
            .or_default()
            .push(msg);
    }
}
