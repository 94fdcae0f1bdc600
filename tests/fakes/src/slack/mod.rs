//! A protocol-faithful fake Slack: Web API, Socket Mode and Events API over
//! HTTP on `127.0.0.1`, for end-to-end tests and `linkguard demo`.
//!
//! The real slack-morphism client (or any other Slack client) talks to it as it
//! would to Slack: Bearer tokens with Slack's error shapes, fixture-shaped
//! responses, the echo events Slack emits for the bot's own actions, Socket
//! Mode envelopes with acks and redelivery, signed HTTP deliveries with Slack's
//! retry headers. Tests drive it with [`FakeSlack`]'s methods (post as a user,
//! run a slash command, inject faults) and inspect [`SlackState`], waiting on
//! state changes with [`FakeSlack::wait_until`] instead of sleeping.
//!
//! Point slack-morphism at [`FakeSlack::api_url`]; the socket URL it receives
//! from `apps.connections.open` already points back at the fake.

mod config;
mod delivery;
pub mod openid;
mod payloads;
mod people;
mod posts;
mod signing;
mod socket;
mod state;
mod views;
mod web_api;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::debug;

pub use config::{
    default_bot_scopes, Delivery, FakeBot, FakeChannel, FakeSlackConfig, FakeTeam, FakeUser,
    FakeUserToken, DEFAULT_ADMIN_USER_TOKEN, DEFAULT_APP_TOKEN, DEFAULT_BOT_TOKEN,
    DEFAULT_SIGNING_SECRET,
};
pub use delivery::RawHttpResponse;
pub use payloads::escape_text;
pub use signing::{sign, SignMode};
pub use state::{
    ApiCall, DeliveryKind, DeliveryOutcome, DeliveryRecord, Edited, Ephemeral, EphemeralSource,
    SlackState, SlashCommandRecord, StoredMessage, TokenKind,
};

pub use people::{ClickIn, InteractionReply};
pub use posts::OtherBot;
pub use views::{dm_channel_id, InteractionRecord, StoredView, TRIGGER_TTL};

use state::{RateLimit, SocketCmd};

/// Errors of the test-driving API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FakeSlackError {
    /// The listener could not be bound.
    #[error("cannot bind the fake Slack listener: {0}")]
    Bind(#[from] std::io::Error),
    /// A channel, user or message the workspace does not have.
    #[error("unknown {0}")]
    Unknown(String),
    /// A wait ran out.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    /// The operation needs another delivery mode.
    #[error("not available in this delivery mode: {0}")]
    WrongMode(&'static str),
    /// Talking to the bot over HTTP failed.
    #[error("HTTP request to the bot failed: {0}")]
    Http(String),
}

/// Where a slash-command answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlashReplySource {
    /// The ack payload (Socket Mode) or the HTTP response body.
    Immediate,
    /// A POST to the command's `response_url`.
    ResponseUrl,
}

/// The bot's answer to a slash command.
#[derive(Debug, Clone)]
pub struct SlashReply {
    /// Which channel the answer used.
    pub source: SlashReplySource,
    /// The answer body (a JSON message, or a JSON string for a plain-text HTTP body).
    pub body: Value,
}

impl SlashReply {
    /// The answer's text (or the whole body when it was plain text).
    pub fn text(&self) -> Option<&str> {
        self.body
            .as_str()
            .or_else(|| self.body.get("text").and_then(Value::as_str))
    }

    /// `response_type`; Slack treats a missing one as `ephemeral`.
    pub fn response_type(&self) -> &str {
        self.body
            .get("response_type")
            .and_then(Value::as_str)
            .unwrap_or("ephemeral")
    }
}

/// Result of [`FakeSlack::url_verification`].
#[derive(Debug, Clone)]
pub struct UrlVerification {
    /// The challenge sent.
    pub challenge: String,
    /// The bot's answer.
    pub response: RawHttpResponse,
    /// The answer was 200 and carried the challenge (plain text, `challenge=` form or JSON).
    pub echoed: bool,
}

pub(crate) struct Inner {
    pub cfg: FakeSlackConfig,
    pub base_url: String,
    pub state: Mutex<SlackState>,
    pub delivery: Mutex<Delivery>,
    pub changed: watch::Sender<u64>,
    pub http: reqwest::Client,
    pub seed: u64,
    /// Sign in with Slack: codes and tokens handed out (`openid`).
    pub openid: Mutex<openid::OpenIdState>,
    /// Timers and HTTP deliveries run here, so the test-driving methods also
    /// work when called from outside the runtime (e.g. a blocking thread).
    pub rt: tokio::runtime::Handle,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, SlackState> {
        // A panic while holding the lock only happens in a failing test; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state and wakes every waiter.
    pub(crate) fn mutate<R>(self: &Arc<Self>, f: impl FnOnce(&mut SlackState) -> R) -> R {
        let r = {
            let mut st = self.lock();
            f(&mut st)
        };
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        r
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&SlackState) -> R) -> R {
        f(&self.lock())
    }

    pub(crate) fn delivery(&self) -> Delivery {
        self.delivery
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn ws_url(&self) -> String {
        self.base_url.replacen("http://", "ws://", 1)
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A running fake Slack. Dropping it stops the server and closes its sockets.
pub struct FakeSlack {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeSlack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSlack")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeSlack {
    /// Binds `127.0.0.1:0` and serves until dropped. The address is known on return.
    pub async fn start(config: FakeSlackConfig) -> Result<Self, FakeSlackError> {
        let config = views::with_dm_channels(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| FakeSlackError::Http(e.to_string()))?;
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed)
            ^ u64::from(addr.port()) << 48;
        let (changed, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            delivery: Mutex::new(config.delivery.clone()),
            cfg: config,
            base_url: format!("http://{addr}"),
            state: Mutex::new(SlackState::default()),
            changed,
            http,
            seed,
            openid: Mutex::new(openid::OpenIdState::default()),
            rt: tokio::runtime::Handle::current(),
        });
        let app = Router::new()
            .route("/link", get(socket::upgrade))
            .route("/link/", get(socket::upgrade))
            .merge(openid::routes())
            .fallback(web_api::fallback)
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                debug!(error = %e, "fake slack server stopped");
            }
        });
        debug!(%addr, "fake slack listening");
        Ok(Self {
            inner,
            addr,
            server,
        })
    }

    /// `http://127.0.0.1:PORT/api/` — give it to `with_slack_api_url`. The
    /// fake accepts both `{api_url}method` and `{api_url}/method` (the latter is
    /// what slack-morphism builds from a URL with a trailing slash).
    pub fn api_url(&self) -> String {
        format!("{}/api/", self.inner.base_url)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// Signs the browser in to Slack as `user` (or out, with `None`): who
    /// Sign in with Slack grants a code for (see [`openid`]).
    pub fn openid_sign_in_as(&self, user: Option<&str>) {
        self.inner
            .openid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .signed_in = user.map(str::to_owned);
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration in force.
    pub fn config(&self) -> &FakeSlackConfig {
        &self.inner.cfg
    }

    /// Switches between Socket Mode and HTTP delivery (e.g. once the bot has
    /// bound its HTTP listener).
    pub fn set_delivery(&self, delivery: Delivery) {
        *self
            .inner
            .delivery
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = delivery;
        self.inner.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Delivers an arbitrary `event` (the inner object) wrapped in an
    /// `event_callback`. Returns its `event_id`.
    pub fn send_event(&self, event: Value) -> String {
        let inner = &self.inner;
        inner.mutate(|st| inner.emit_event(st, event))
    }

    /// Runs the configured slash command and waits for the bot's answer: a
    /// non-empty ack payload / HTTP body, else the first `response_url` post.
    pub async fn slash_command(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<SlashReply, FakeSlackError> {
        let id = self.start_slash_command(channel, user, text)?;
        self.slash_answer(id).await
    }

    /// Waits for the bot's answer to slash command `id`: a non-empty ack
    /// payload / HTTP body, else the first `response_url` post.
    async fn slash_answer(&self, id: u64) -> Result<SlashReply, FakeSlackError> {
        let timeout = self.inner.cfg.slash_answer_timeout;
        let (source, body) = self
            .wait_for(timeout, |st| {
                st.slash
                    .iter()
                    .find(|r| r.id == id)
                    .and_then(SlashCommandRecord::answer)
            })
            .await?;
        Ok(SlashReply { source, body })
    }

    /// Sends the slash command without waiting; returns its record id
    /// (see [`SlackState::slash_commands`]).
    pub fn start_slash_command(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<u64, FakeSlackError> {
        let (chan, who) = self.check_channel_and_user(channel, user)?;
        Ok(self.inner.send_slash_command(
            &self.inner.cfg.team,
            &chan,
            &who,
            &self.inner.cfg.slash_command,
            text,
        ))
    }

    /// Another workspace installed the same (distributed) app: delivers
    /// `event` (the inner object) as Slack would for that installation, with
    /// `team_id`, `context_team_id` and `authorizations` naming `team`, on
    /// the same socket or Request URL. Returns its `event_id`.
    pub fn send_event_from_team(&self, team: &str, event: Value) -> String {
        let inner = &self.inner;
        inner.mutate(|st| inner.emit_event_for(st, team, event))
    }

    /// A member of another workspace that installed the same app runs the
    /// slash command there (`team_id` = `team`); channel and user are that
    /// workspace's, so they need not be in this fake's cast. Waits for the
    /// bot's answer like [`Self::slash_command`].
    pub async fn slash_command_from_team(
        &self,
        team: &FakeTeam,
        channel: &FakeChannel,
        user: &FakeUser,
        text: &str,
    ) -> Result<SlashReply, FakeSlackError> {
        let id =
            self.inner
                .send_slash_command(team, channel, user, &self.inner.cfg.slash_command, text);
        self.slash_answer(id).await
    }

    /// HTTP mode: sends `url_verification` and checks the challenge comes back.
    pub async fn url_verification(&self) -> Result<UrlVerification, FakeSlackError> {
        let url = self.events_url()?;
        let n = self.inner.mutate(|st| st.next_counter());
        let challenge = format!(
            "{:016x}{:016x}",
            self.inner.seed,
            n.wrapping_mul(0x9E37_79B9)
        );
        let body = json!({
            "token": self.inner.cfg.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        })
        .to_string();
        let response = self
            .inner
            .post_signed(&url, "application/json", body, SignMode::Valid, None)
            .await
            .map_err(FakeSlackError::Http)?;
        let echoed = response.status == 200 && challenge_in(&response.body, &challenge);
        self.inner.mutate(|st| {
            st.deliveries.push(DeliveryRecord {
                at: std::time::Instant::now(),
                kind: DeliveryKind::UrlVerification,
                event_id: None,
                envelope_id: None,
                connection: None,
                retry_attempt: 0,
                retry_reason: None,
                outcome: DeliveryOutcome::HttpResponse {
                    status: response.status,
                    body: response.body.clone(),
                    no_retry: response.no_retry(),
                },
            })
        });
        Ok(UrlVerification {
            challenge,
            response,
            echoed,
        })
    }

    /// HTTP mode: POSTs `body` verbatim to the events URL, signed per `mode`,
    /// once, without retries. For negative tests (forged, stale, unsigned).
    pub async fn send_raw_event(
        &self,
        body: &str,
        mode: SignMode,
    ) -> Result<RawHttpResponse, FakeSlackError> {
        let url = self.events_url()?;
        let response = self
            .inner
            .post_signed(&url, "application/json", body.to_string(), mode, None)
            .await
            .map_err(FakeSlackError::Http)?;
        self.inner.mutate(|st| {
            st.deliveries.push(DeliveryRecord {
                at: std::time::Instant::now(),
                kind: DeliveryKind::Raw,
                event_id: None,
                envelope_id: None,
                connection: None,
                retry_attempt: 0,
                retry_reason: None,
                outcome: DeliveryOutcome::HttpResponse {
                    status: response.status,
                    body: response.body.clone(),
                    no_retry: response.no_retry(),
                },
            })
        });
        Ok(response)
    }

    /// HTTP mode: redelivers an event body as Slack does after a missed
    /// acknowledgement: validly signed, with `X-Slack-Retry-Num: retry_num`
    /// and `X-Slack-Retry-Reason: reason` (e.g. `http_timeout`), once.
    pub async fn redeliver_event(
        &self,
        body: &str,
        retry_num: usize,
        reason: &str,
    ) -> Result<RawHttpResponse, FakeSlackError> {
        let url = self.events_url()?;
        let response = self
            .inner
            .post_signed(
                &url,
                "application/json",
                body.to_string(),
                SignMode::Valid,
                Some((retry_num, reason)),
            )
            .await
            .map_err(FakeSlackError::Http)?;
        let event_id = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["event_id"].as_str().map(str::to_string));
        self.inner.mutate(|st| {
            st.deliveries.push(DeliveryRecord {
                at: std::time::Instant::now(),
                kind: DeliveryKind::Raw,
                event_id,
                envelope_id: None,
                connection: None,
                retry_attempt: u32::try_from(retry_num).unwrap_or(u32::MAX),
                retry_reason: Some(reason.to_string()),
                outcome: DeliveryOutcome::HttpResponse {
                    status: response.status,
                    body: response.body.clone(),
                    no_retry: response.no_retry(),
                },
            })
        });
        Ok(response)
    }

    fn events_url(&self) -> Result<String, FakeSlackError> {
        match self.inner.delivery() {
            Delivery::Http { events_url, .. } => Ok(events_url),
            Delivery::SocketMode => Err(FakeSlackError::WrongMode("needs Delivery::Http")),
        }
    }

    // ----- fault injection -----

    /// The next `times` calls to `method` get HTTP 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit(&self, method: &str, times: u32, retry_after_secs: u64) {
        self.inner.mutate(|st| {
            st.rate_limits.insert(
                method.to_string(),
                RateLimit {
                    remaining: times,
                    retry_after_secs,
                },
            )
        });
    }

    /// The next `times` calls to `method` get a bare HTTP `status` (a 5xx, as
    /// from Slack's edge or a proxy: plain-text body, no `ok`), before auth.
    pub fn fail_http(&self, method: &str, status: u16, times: u32) {
        self.inner.mutate(|st| {
            if times == 0 {
                st.http_failures.remove(method);
            } else {
                st.http_failures.insert(method.to_string(), (times, status));
            }
        });
    }

    /// The next call to `method` (after auth) fails with `{"ok":false,"error":error}`.
    /// Calls queue up: two `fail_next` fail the next two calls.
    pub fn fail_next(&self, method: &str, error: &str) {
        self.inner.mutate(|st| {
            st.fail_next
                .entry(method.to_string())
                .or_default()
                .push_back(error.to_string())
        });
    }

    /// Every call to `method` waits `delay` before being answered (zero clears it).
    pub fn delay(&self, method: &str, delay: Duration) {
        self.inner.mutate(|st| {
            if delay.is_zero() {
                st.delays.remove(method);
            } else {
                st.delays.insert(method.to_string(), delay);
            }
        });
    }

    /// Sends `disconnect` / `refresh_requested` on every open socket, then closes them.
    /// Returns how many sockets were asked to reconnect.
    pub fn refresh_sockets(&self) -> usize {
        self.disconnect_sockets("refresh_requested")
    }

    /// Sends `disconnect` with `reason` (`warning`, `refresh_requested`,
    /// `link_disabled`) on every open socket, then closes them.
    pub fn disconnect_sockets(&self, reason: &str) -> usize {
        self.take_sockets(|| SocketCmd::Disconnect {
            reason: reason.to_string(),
        })
    }

    /// Drops every open socket abruptly (no close frame).
    pub fn drop_sockets(&self) -> usize {
        self.take_sockets(|| SocketCmd::Drop)
    }

    fn take_sockets(&self, cmd: impl Fn() -> SocketCmd) -> usize {
        self.inner.mutate(|st| {
            let socks = std::mem::take(&mut st.sockets);
            for conn in socks.values() {
                // A task that already ended needs no command.
                let _ = conn.tx.send(cmd());
            }
            socks.len()
        })
    }

    // ----- inspection -----

    /// Runs `f` on the current state.
    pub fn with_state<R>(&self, f: impl FnOnce(&SlackState) -> R) -> R {
        self.inner.read(f)
    }

    /// Every Web API call so far.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.with_state(|s| s.calls().to_vec())
    }

    /// Messages of `channel` (deleted ones flagged), oldest first.
    pub fn messages(&self, channel: &str) -> Vec<StoredMessage> {
        self.with_state(|s| s.messages(channel).to_vec())
    }

    /// Ephemeral messages so far.
    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        self.with_state(|s| s.ephemerals().to_vec())
    }

    /// Delivery attempts so far.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.with_state(|s| s.deliveries().to_vec())
    }

    /// Slash commands so far.
    pub fn slash_commands(&self) -> Vec<SlashCommandRecord> {
        self.with_state(|s| s.slash_commands().to_vec())
    }

    /// Waits until `pred` holds, re-checking on every state change.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&SlackState) -> bool,
    ) -> Result<(), FakeSlackError> {
        self.wait_for(timeout, |s| pred(s).then_some(())).await
    }

    /// Waits until `f` returns `Some`, re-checking on every state change.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&SlackState) -> Option<T>,
    ) -> Result<T, FakeSlackError> {
        let mut rx = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(v) = self.inner.read(&mut f) {
                return Ok(v);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives as long as `self`, so only the deadline ends the wait.
                Ok(Err(_)) | Err(_) => {
                    return match self.inner.read(&mut f) {
                        Some(v) => Ok(v),
                        None => Err(FakeSlackError::Timeout(
                            timeout,
                            "a fake Slack state condition".into(),
                        )),
                    }
                }
            }
        }
    }

    fn check_channel(&self, channel: &str) -> Result<FakeChannel, FakeSlackError> {
        self.inner
            .cfg
            .channel(channel)
            .cloned()
            .ok_or_else(|| FakeSlackError::Unknown(format!("channel {channel}")))
    }

    fn check_channel_and_user(
        &self,
        channel: &str,
        user: &str,
    ) -> Result<(FakeChannel, FakeUser), FakeSlackError> {
        let chan = self.check_channel(channel)?;
        let who = self
            .inner
            .cfg
            .user(user)
            .cloned()
            .ok_or_else(|| FakeSlackError::Unknown(format!("user {user}")))?;
        Ok((chan, who))
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.drop_sockets();
        self.server.abort();
    }
}

/// Accepts the three answer styles Slack accepts for `url_verification`.
fn challenge_in(body: &str, challenge: &str) -> bool {
    let body = body.trim();
    if body == challenge {
        return true;
    }
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v.get("challenge").and_then(Value::as_str) == Some(challenge);
    }
    form_urlencoded::parse(body.as_bytes()).any(|(k, v)| k == "challenge" && v == challenge)
}
