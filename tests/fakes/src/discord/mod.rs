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

pub mod automod;
mod config;
mod control;
mod gateway;
mod interactions;
mod native;
pub mod oauth;
pub mod payloads;
mod rest;
mod state;
mod users;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{
    cast, foreign_guild, intents, perms, ChannelKind, ChannelSpec, FakeDiscordConfig, GuildSpec,
    MemberSpec, Overwrite, OverwriteTarget, RoleSpec, UserSpec,
};
pub use state::{
    DiscordState, DispatchRecord, GatewayStats, InteractionRecord, RecordedCall, RouteKind,
    SessionInfo, StoredMessage, StoredWebhook, Times,
};

pub use interactions::InteractionCallback;
pub use users::UserMessage;

use crate::tls::{TestCa, TlsError, TlsListener};
use state::Outbound;

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
    /// AutoMod rule `0` blocked the message: it was not posted (see
    /// [`automod`]).
    #[error("blocked by AutoMod rule {0}")]
    BlockedByAutoMod(u64),
    /// [`FakeDiscord::wait_until`] gave up.
    #[error("condition not met within {0:?}")]
    WaitTimeout(Duration),
}

pub(crate) struct Inner {
    /// Start-up configuration (gateway and REST knobs); the live cast is in the state.
    pub(crate) config: FakeDiscordConfig,
    state: Mutex<DiscordState>,
    changed: watch::Sender<u64>,
    /// OAuth2 sign-in codes and tokens (`oauth`).
    pub(crate) oauth: Mutex<oauth::OAuthState>,
    /// Per dispatch written to a gateway socket: queued → handed to the
    /// kernel (apart from `state`, so the writers do not contend for it).
    write_lags: Mutex<Vec<Duration>>,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, DiscordState> {
        // A panicking test thread must not wedge every later assertion.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn record_write_lag(&self, lag: Duration) {
        self.write_lags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(lag);
    }
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
            oauth: Mutex::new(oauth::OAuthState::default()),
            write_lags: Mutex::new(Vec::new()),
        });
        let tls = TlsListener::new(https, ca.server_config())?;
        let plain_router = rest::router(Arc::clone(&inner), false);
        let tls_router = rest::router(Arc::clone(&inner), true);
        // Discord sends each gateway dispatch as it happens: with Nagle's
        // algorithm on, a dispatch queued while the previous one is unacked
        // waits in the fake's kernel buffer for the client's delayed ACK (40 ms
        // on Linux), and that wait was counted against the client.
        let http = http.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "fake discord: TCP_NODELAY not set");
            }
        });
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

    /// Signs the browser in to Discord as `user` (or out, with `None`): who
    /// `/oauth2/authorize` grants a code for (see [`oauth`]).
    pub fn oauth_sign_in_as(&self, user: Option<u64>) {
        self.inner
            .oauth
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .signed_in = user;
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

    /// The fake's own gateway writer, per dispatch written so far: from
    /// queuing it for a session's connection to handing it to the socket
    /// (the part of a load test's event latency that is the fake's).
    pub fn gateway_write_lags(&self) -> Vec<Duration> {
        self.inner
            .write_lags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
