//! The Slack connector: Socket Mode or the Events API (by configuration),
//! both feeding the same pipeline, plus `/linkguard` slash commands, direct
//! messages and mentions for the commands module.
//!
//! Acknowledge within 3 s, do the work after: an event is translated and its
//! detection durably recorded (fast, no Slack call) *before* it is
//! acknowledged, so an acknowledged event is never lost; the action then runs
//! in the background. If recording fails the event is not acknowledged and
//! Slack redelivers it; a redelivery (retry, reconnect) finds the event's
//! idempotency key and nothing is done twice.
//!
//! Slash commands carry no id to dedupe on: each signed request is claimed
//! in the store by its signature for as long as its timestamp verifies, so
//! a replayed request is refused on every replica; the answer goes in the
//! acknowledgement when ready within [`COMMAND_ANSWER_WITHIN`], else it is
//! posted to the command's `response_url`. Questions and mentions (side
//! effects without a message key) are answered once per `event_id`.
//!
//! - `translate`: Slack payloads to platform-neutral messages; loop guards
//!   (our own messages never; other bots only with the stored setting
//!   [`MODERATE_BOTS_SETTING`]).
//! - `actions`: [`SlackActions`], the Web API side (reposts, deletes, replies,
//!   ephemerals) with rate-limit retries.
//! - `verify`: request signatures for the Events API and slash commands.
//!
//! Tenancy: every event and slash command names its team (`team_id`);
//! anything from a team outside `slack.team_ids` (default: the bot token's
//! own, from `auth.test`) is acknowledged and dropped before translation,
//! audited once per team per hour ([`crate::tenancy::Tenancy`]). Admin
//! rights ([`Ctx::caller`]) also need the user's own team to be allowed, so
//! an external member of a shared channel is never an admin here.

mod actions;
mod admins;
mod approvals;
pub mod blocks;
mod home;
mod interactivity;
pub mod mentions;
pub mod translate;
pub mod verify;

pub use actions::SlackActions;
pub use admins::ConsoleAdmins;

use crate::app::ShutdownHook;
use crate::commands::Commands;
use crate::config::{SlackConfig, SlackMode};
use crate::moderation::{Moderator, Platform, PlatformActions, Step};
use crate::store::{AuditEntry, Kind};
use crate::tenancy::Tenancy;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use linkguard_rules::rewrite::escape_slack;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::task::JoinHandle;
use translate::{Identity, Translated};

/// The stored setting that makes linkguard moderate other bots' and
/// integrations' messages too (`true`; default off). Our own are never
/// moderated.
pub const MODERATE_BOTS_SETTING: &str = Platform::Slack.moderate_bots_setting();

/// How long an edit's thread lookup may hold up its acknowledgement.
const EDIT_THREAD_LOOKUP: std::time::Duration = std::time::Duration::from_millis(1500);

/// A slash command's answer goes in its acknowledgement when it is ready
/// this soon after the request arrived; otherwise the command is
/// acknowledged empty (Slack allows 3 s) and the answer is posted to its
/// `response_url` once ready.
const COMMAND_ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_millis(2000);

/// How long checking a slash command's signature against the ones already
/// seen may take before the command is refused as "try again".
const REPLAY_CHECK_WITHIN: std::time::Duration = std::time::Duration::from_millis(800);

/// How long a slash command's signature is remembered: a timestamp is
/// accepted up to [`verify::WINDOW_SECS`] either side of now, so a request
/// can be replayed for at most twice that.
const REPLAY_MEMORY: std::time::Duration =
    std::time::Duration::from_secs(2 * verify::WINDOW_SECS as u64);

/// How long an Events API delivery's `event_id` is remembered for the
/// events with side effects but no message key (questions, mentions):
/// Slack retries a delivery for up to about an hour.
const EVENT_ID_MEMORY: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// Why the connector could not start. Each variant says what linkguard was
/// doing; the error it got is its `source()`, so a printed chain (`{:#}`)
/// shows both.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlackError {
    /// The HTTP client could not be built (no usable root certificates).
    #[error("building the Slack HTTP client")]
    Client(#[source] std::io::Error),
    /// `auth.test` failed: a wrong token or an unreachable API.
    #[error("Slack auth.test failed (check slack.bot_token and slack.api_url)")]
    Auth(#[source] SlackCause),
    /// Socket Mode is configured without an app-level token.
    #[error("Socket Mode needs slack.app_token")]
    NoAppToken,
    /// Socket Mode could not start.
    #[error("starting Slack Socket Mode")]
    Socket(#[source] SlackCause),
}

/// What slack-morphism reported, without its wrapper.
pub type SlackCause = Box<dyn std::error::Error + Send + Sync>;

/// slack-morphism's `SlackClientError` prints its variant's payload and
/// gives the same payload as its `source()`, so a chain would say
/// everything twice: keep the payload alone.
fn cause(e: SlackClientError) -> SlackCause {
    match e {
        SlackClientError::ApiError(e) => Box::new(e),
        SlackClientError::HttpError(e) => Box::new(e),
        SlackClientError::HttpProtocolError(e) => Box::new(e),
        SlackClientError::EndOfStream(e) => Box::new(e),
        SlackClientError::SystemError(e) => Box::new(e),
        SlackClientError::ProtocolError(e) => Box::new(e),
        SlackClientError::SocketModeProtocolError(e) => Box::new(e),
        SlackClientError::RateLimitError(e) => Box::new(e),
    }
}

/// A started connector, for `App` to own.
pub struct Connector {
    /// Background tasks.
    pub tasks: Vec<JoinHandle<()>>,
    /// Closes the sockets cleanly at shutdown.
    pub shutdown: ShutdownHook,
    /// The Events API routes, in HTTP mode.
    pub router: Option<Router>,
    /// The actions, for start-up recovery and tests.
    pub actions: Arc<SlackActions>,
    /// The admin check, for the web console.
    pub admins: ConsoleAdmins,
}

/// What every event handler needs.
struct Ctx {
    moderator: Arc<Moderator>,
    /// For answering slash commands through their `response_url`.
    client: Arc<SlackHyperClient>,
    commands: Commands,
    actions: Arc<SlackActions>,
    me: Identity,
    /// The company's teams (`slack.team_ids`, else the bot token's team).
    tenancy: Tenancy,
    admin_groups: Vec<String>,
    /// Stored setting [`MODERATE_BOTS_SETTING`], read at start; the policy's
    /// `moderate_bots` overrides it when present.
    moderate_bots: bool,
    signing_secret: Option<String>,
    connected_once: AtomicBool,
    /// Rejected-request audit records this minute (bounded, so forged
    /// requests cannot flood the audit log).
    rejected_minute: AtomicU64,
    rejected_count: AtomicU32,
    /// `slack.admin_channel`: where exception requests go.
    admin_channel: Option<String>,
    /// The web console's address, linked from admins' Home tab.
    console_url: Option<String>,
    home_viewers: home::HomeViewers,
}

/// Builds the slack-morphism client: https and plain http (operators point
/// `slack.api_url` at a proxy), rustls with the ring provider chosen
/// explicitly (two providers are in the dependency tree).
pub fn client(api_url: &str) -> Result<Arc<SlackHyperClient>, SlackError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(SlackError::Client)?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let connector =
        SlackClientHyperConnector::from(https).with_slack_api_url(api_url.trim_end_matches('/'));
    Ok(Arc::new(SlackClient::new(connector)))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The teams whose events count: `slack.team_ids`, or the bot token's own
/// team when none are configured.
fn allowed_teams(config: &SlackConfig, me: &Identity) -> Vec<String> {
    if config.team_ids.is_empty() {
        return vec![me.team_id.clone()];
    }
    if !config.team_ids.contains(&me.team_id) {
        tracing::warn!(team = %me.team_id, "the bot token's own team is not in slack.team_ids: its events are ignored");
    }
    config.team_ids.clone()
}

/// Starts the connector: identifies the bot, finishes actions left pending
/// by an earlier run, and starts Socket Mode (or returns the HTTP routes).
/// `console_url` is the web console that admins' Home tab links to.
pub async fn start(
    config: &SlackConfig,
    moderator: Arc<Moderator>,
    console_url: Option<String>,
) -> Result<Connector, SlackError> {
    let client = client(&config.api_url)?;
    let bot_token = SlackApiToken::new(config.bot_token.expose().to_owned().into());
    let auth = client
        .open_session(&bot_token)
        .auth_test()
        .await
        .map_err(|e| SlackError::Auth(cause(e)))?;
    let me = Identity {
        user_id: auth.user_id.0.clone(),
        bot_id: auth.bot_id.as_ref().map(|b| b.0.clone()),
        app_id: None,
        team_id: auth.team_id.0.clone(),
    };
    tracing::info!(bot.user = %me.user_id, team = %me.team_id, mode = ?config.mode, "Slack bot identified");
    let teams = allowed_teams(config, &me);
    let tenancy = Tenancy::new(Platform::Slack, teams, moderator.store().clone());
    let actions = Arc::new(SlackActions::new(
        client.clone(),
        config.bot_token.expose(),
        config.user_token.as_ref().map(|t| t.expose()),
    ));
    let moderate_bots = moderator.stored_moderate_bots(Platform::Slack).await;
    let ctx = Arc::new(Ctx {
        commands: Commands::new(moderator.clone()),
        moderator: moderator.clone(),
        client: client.clone(),
        actions: actions.clone(),
        me,
        tenancy,
        admin_groups: config.admin_groups.clone(),
        moderate_bots,
        signing_secret: config
            .signing_secret
            .as_ref()
            .map(|s| s.expose().to_owned()),
        connected_once: AtomicBool::new(false),
        rejected_minute: AtomicU64::new(0),
        rejected_count: AtomicU32::new(0),
        admin_channel: config.admin_channel.clone(),
        console_url,
        home_viewers: home::HomeViewers::default(),
    });
    let mut tasks = vec![moderator.spawn_retries(Platform::Slack, actions.clone())];
    tasks.push(tokio::spawn(ctx.clone().deliver_requests()));
    tasks.push(tokio::spawn(ctx.clone().keep_homes_fresh()));
    match config.mode {
        SlackMode::Http => {
            crate::metrics::global().set_connected("slack", true);
            let router = Router::new()
                .route("/slack/events", post(http_events))
                .route("/slack/commands", post(http_commands))
                .route(
                    "/slack/interactivity",
                    post(interactivity::http_interactivity),
                )
                .with_state(ctx.clone());
            Ok(Connector {
                tasks,
                shutdown: Box::pin(async {}),
                router: Some(router),
                actions,
                admins: ConsoleAdmins(ctx.clone()),
            })
        }
        SlackMode::Socket => socket_mode(config, client, ctx, tasks, actions).await,
    }
}

/// Connects Socket Mode with `slack.app_token` and starts its listener.
async fn socket_mode(
    config: &SlackConfig,
    client: Arc<SlackHyperClient>,
    ctx: Arc<Ctx>,
    mut tasks: Vec<JoinHandle<()>>,
    actions: Arc<SlackActions>,
) -> Result<Connector, SlackError> {
    let Some(app_token) = &config.app_token else {
        return Err(SlackError::NoAppToken);
    };
    crate::metrics::global().set_connected("slack", false);
    let env = Arc::new(
        SlackClientEventsListenerEnvironment::new(client.clone())
            .with_error_handler(socket_error)
            .with_user_state(ctx.clone()),
    );
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_hello_events(socket_hello)
        .with_push_events(socket_push)
        .with_command_events(socket_command)
        .with_interaction_events(interactivity::socket_interaction);
    let socket_config = SlackClientSocketModeConfig::new()
        .with_initial_backoff_in_seconds(1)
        .with_reconnect_timeout_in_seconds(5);
    let listener = Arc::new(SlackClientSocketModeListener::new(
        &socket_config,
        env,
        callbacks,
    ));
    listener
        .listen_for(&SlackApiToken::new(app_token.expose().to_owned().into()))
        .await
        .map_err(|e| SlackError::Socket(cause(e)))?;
    let l = listener.clone();
    tasks.push(tokio::spawn(async move {
        l.start().await;
    }));
    let shutdown: ShutdownHook = Box::pin(async move {
        listener.shutdown().await;
        crate::metrics::global().set_connected("slack", false);
    });
    Ok(Connector {
        tasks,
        shutdown,
        router: None,
        actions,
        admins: ConsoleAdmins(ctx),
    })
}

impl Ctx {
    /// An edit's thread is not in the event (see [`SlackActions::thread_of`]).
    /// When the edit holds a link the policy acts on, the thread is asked
    /// for before the detection is recorded, so the audit record names it;
    /// briefly, because the event is not yet acknowledged. Without an
    /// answer in time the record has no thread and acting asks again.
    async fn find_edit_thread(&self, msg: &mut crate::moderation::IncomingMessage) {
        if msg.revision.is_original() || msg.thread.is_some() {
            return;
        }
        let (_, verdict) = self.moderator.evaluate(msg, false);
        if !verdict.is_blocked() {
            return;
        }
        if let Ok(thread) =
            tokio::time::timeout(EDIT_THREAD_LOOKUP, self.actions.thread_of(msg)).await
        {
            msg.thread = thread;
        }
    }

    /// Handles one event callback. `Err` means "not recorded: do not
    /// acknowledge", so Slack delivers it again. Tenancy first, then
    /// messages, direct messages and mentions, each in its arm (just past
    /// 80 lines).
    async fn push(
        self: &Arc<Self>,
        ev: SlackPushEventCallback,
    ) -> Result<(), crate::store::StoreError> {
        let team = ev.team_id.0.clone();
        if !self.tenancy.allows(&team) {
            // Acknowledged (so not redelivered), neither moderated nor obeyed.
            let what = match &ev.event {
                SlackEventCallbackBody::Message(_) => "a message event",
                SlackEventCallbackBody::AppMention(_) => "a mention",
                _ => "an event",
            };
            self.tenancy.refuse(&team, what).await;
            return Ok(());
        }
        let mut me = self.me.clone();
        me.app_id = Some(ev.api_app_id.0.clone());
        let event_id = ev.event_id.0.clone();
        match &ev.event {
            SlackEventCallbackBody::Message(m) => {
                let moderate_bots = self.moderator.moderate_bots(self.moderate_bots);
                match translate::message(&team, m, &me, moderate_bots) {
                    Translated::Message(mut msg) => {
                        self.find_edit_thread(&mut msg).await;
                        match self.moderator.record(&msg).await? {
                            Step::Act(work) => {
                                let actions: Arc<dyn PlatformActions> = self.actions.clone();
                                self.moderator.spawn_act(*msg, *work, actions);
                            }
                            Step::Done(handled) => {
                                tracing::debug!(channel.id = %msg.channel, ?handled, "slack message handled");
                            }
                        }
                    }
                    Translated::Question {
                        channel,
                        user,
                        text,
                    } => {
                        if !self.first_delivery(&event_id).await? {
                            return Ok(());
                        }
                        let me = self.clone();
                        tokio::spawn(async move {
                            let caller = me.caller(&team, &channel, &user).await;
                            let answer = me.commands.run(&caller, &text).await;
                            if let Err(e) = me
                                .actions
                                .post(&channel, None, &escape_slack(&answer))
                                .await
                            {
                                tracing::warn!(error = %e, "could not answer a direct message");
                            }
                        });
                    }
                    Translated::Skipped(why) => tracing::trace!(?why, "slack event skipped"),
                }
            }
            SlackEventCallbackBody::AppMention(m) => {
                if m.user.0 == self.me.user_id || !self.first_delivery(&event_id).await? {
                    return Ok(());
                }
                let me = self.clone();
                let (channel, user) = (m.channel.0.clone(), m.user.0.clone());
                let thread = m.origin.thread_ts.as_ref().map(|t| t.0.clone());
                let text = m.content.text.clone().unwrap_or_default();
                tokio::spawn(async move {
                    let question = strip_mention(&text, &me.me.user_id);
                    let caller = me.caller(&team, &channel, &user).await;
                    let answer = me.commands.run(&caller, &question).await;
                    if let Err(e) = me
                        .actions
                        .ephemeral(&channel, &user, thread.as_deref(), &escape_slack(&answer))
                        .await
                    {
                        tracing::warn!(error = %e, "could not answer a mention");
                    }
                });
            }
            SlackEventCallbackBody::AppHomeOpened(h) if h.tab.as_deref() != Some("messages") => {
                let (me, user) = (self.clone(), h.user.0.clone());
                tokio::spawn(async move { me.home_opened(&team, &user).await });
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether this is the first delivery of an event that has side effects
    /// but no message key to dedupe on (a question, a mention): Slack
    /// retries a delivery it thinks failed, and anyone holding a signed
    /// request could replay it; either way it is answered once.
    async fn first_delivery(&self, event_id: &str) -> Result<bool, crate::store::StoreError> {
        let first = self
            .moderator
            .store()
            .claim_once(&format!("slack-event:{event_id}"), EVENT_ID_MEMORY)
            .await?;
        if !first {
            tracing::debug!(event.id = %event_id, "slack event delivered again; already answered");
        }
        Ok(first)
    }

    /// Runs a slash command within Slack's 3-second deadline: its answer if
    /// ready by `deadline` (to send as the acknowledgement), else `None`,
    /// and the answer is posted to the command's `response_url` when ready.
    async fn command_by(
        self: &Arc<Self>,
        ev: SlackCommandEvent,
        deadline: tokio::time::Instant,
    ) -> Option<String> {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<String>();
        let me = self.clone();
        tokio::spawn(async move {
            let answer = me.command(&ev).await;
            if let Err(answer) = tx.send(answer) {
                me.respond_later(&ev.response_url, &answer).await;
            }
        });
        match tokio::time::timeout_at(deadline, &mut rx).await {
            Ok(answer) => answer.ok(),
            Err(_) => {
                // Closed first, so the answer is either here now or the
                // task's send fails and it posts the answer itself.
                rx.close();
                rx.try_recv().ok()
            }
        }
    }

    /// Posts a slow command's answer to its `response_url`, privately.
    async fn respond_later(&self, url: &SlackResponseUrl, answer: &str) {
        // Without `response_type` Slack shows it to the caller only.
        let req = SlackApiPostWebhookMessageRequest::new(
            SlackMessageContent::new().with_text(escape_slack(answer)),
        );
        match self.client.respond_to_event(url, &req).await {
            Ok(_) => tracing::debug!("slow slash command answered through response_url"),
            Err(e) => {
                tracing::warn!(error = %e, "could not post a slash command's answer to its response_url")
            }
        }
    }

    fn actions_client_session(&self) -> SlackClientSession<'_, SlackClientHyperHttpsConnector> {
        self.actions.session()
    }

    /// A slash command: the ephemeral answer.
    async fn command(&self, ev: &SlackCommandEvent) -> String {
        if !self.tenancy.allows(&ev.team_id.0) {
            let first = ev
                .text
                .as_deref()
                .and_then(|t| t.split_whitespace().next())
                .unwrap_or("");
            self.tenancy
                .refuse(&ev.team_id.0, &format!("/linkguard {first}"))
                .await;
            return "linkguard does not work in this workspace: it only answers in the workspaces its company configured.".into();
        }
        let caller = self
            .caller(&ev.team_id.0, &ev.channel_id.0, &ev.user_id.0)
            .await;
        self.commands
            .run(&caller, ev.text.as_deref().unwrap_or(""))
            .await
    }

    /// Audits a refused request, at most 10 a minute.
    async fn audit_rejection(&self, path: &str, why: &str) {
        let minute = (now_secs() / 60) as u64;
        if self.rejected_minute.swap(minute, Ordering::Relaxed) != minute {
            self.rejected_count.store(0, Ordering::Relaxed);
        }
        if self.rejected_count.fetch_add(1, Ordering::Relaxed) >= 10 {
            return;
        }
        let mut e = AuditEntry::new(Kind::RejectedRequest, Platform::Slack);
        e.detail = Some(format!("{path}: {why}"));
        if let Err(err) = self.moderator.store().append(e).await {
            tracing::warn!(error = %err, "could not audit a rejected request");
        }
    }

    async fn verified(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), Response> {
        let Some(secret) = &self.signing_secret else {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "no signing secret configured",
            )
                .into_response());
        };
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match verify::verify(
            secret,
            h("x-slack-request-timestamp"),
            h("x-slack-signature"),
            body,
            now_secs(),
        ) {
            Ok(()) => Ok(()),
            Err(why) => {
                tracing::warn!(path, reason = why.as_str(), "rejected a Slack request");
                self.audit_rejection(path, why.as_str()).await;
                Err((StatusCode::UNAUTHORIZED, why.as_str()).into_response())
            }
        }
    }
}

fn strip_mention(text: &str, bot_user: &str) -> String {
    text.replace(&format!("<@{bot_user}>"), " ")
        .trim()
        .to_owned()
}

async fn ctx_of(state: &SlackClientEventsUserState) -> Option<Arc<Ctx>> {
    state.read().await.get_user_state::<Arc<Ctx>>().cloned()
}

/// Generic over the hello event: slack-morphism does not export its type.
async fn socket_hello<E: Send>(
    _ev: E,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) {
    crate::metrics::global().set_connected("slack", true);
    if let Some(ctx) = ctx_of(&state).await {
        if ctx.connected_once.swap(true, Ordering::Relaxed) {
            crate::metrics::global().reconnect("slack");
        }
    }
}

async fn socket_push(
    ev: SlackPushEventCallback,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let Some(ctx) = ctx_of(&state).await else {
        return Ok(());
    };
    ctx.push(ev).await.map_err(|e| {
        tracing::error!(error = %e, "recording a Slack event failed; leaving it unacknowledged for redelivery");
        e.into()
    })
}

async fn socket_command(
    ev: SlackCommandEvent,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let Some(ctx) = ctx_of(&state).await else {
        return Ok(SlackCommandEventResponse::new(SlackMessageContent::new()));
    };
    let deadline = tokio::time::Instant::now() + COMMAND_ANSWER_WITHIN;
    let Some(answer) = ctx.command_by(ev, deadline).await else {
        // Acknowledged empty; the answer follows through response_url.
        return Ok(SlackCommandEventResponse::new(SlackMessageContent::new()));
    };
    Ok(
        SlackCommandEventResponse::new(SlackMessageContent::new().with_text(escape_slack(&answer)))
            .with_response_type(SlackMessageResponseType::Ephemeral),
    )
}

/// Unrecorded events are not acknowledged (Slack redelivers them).
fn socket_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHyperClient>,
    _state: SlackClientEventsUserState,
) -> HttpStatusCode {
    tracing::warn!(error = %err, "Slack Socket Mode callback failed");
    HttpStatusCode::INTERNAL_SERVER_ERROR
}

async fn http_events(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = ctx.verified("/slack/events", &headers, &body).await {
        return r;
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")).into_response(),
    };
    if value.get("type").and_then(|t| t.as_str()) == Some("url_verification") {
        let challenge = value
            .get("challenge")
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        return axum::Json(serde_json::json!({ "challenge": challenge })).into_response();
    }
    match serde_json::from_value::<SlackPushEvent>(value) {
        Ok(SlackPushEvent::EventCallback(ev)) => match ctx.push(ev).await {
            Ok(()) => StatusCode::OK.into_response(),
            // Not recorded: a 5xx makes Slack retry.
            Err(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not recorded: {e}"),
            )
                .into_response(),
        },
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("malformed event: {e}")).into_response(),
    }
}

/// The replay key of a verified request: its signature, canonical (hex is
/// accepted in either case, so `v0=AB…` and `v0=ab…` are one signature).
fn signature_key(headers: &HeaderMap) -> Option<String> {
    let sig = headers.get("x-slack-signature")?.to_str().ok()?;
    let bytes = hex::decode(sig.trim().strip_prefix("v0=")?).ok()?;
    Some(format!("slack-signature:v0={}", hex::encode(bytes)))
}

/// An ephemeral answer to a slash command that could not be run now.
fn command_unavailable(why: &str) -> Response {
    axum::Json(serde_json::json!({
        "response_type": "ephemeral",
        "text": escape_slack(why),
    }))
    .into_response()
}

async fn http_commands(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Bytes) -> Response {
    let received = tokio::time::Instant::now();
    if let Err(r) = ctx.verified("/slack/commands", &headers, &body).await {
        return r;
    }
    // A slash command has no id of its own: a captured request replayed
    // within the timestamp window verifies again. Each signature is run
    // once, whichever replica receives it.
    let Some(key) = signature_key(&headers) else {
        return (StatusCode::UNAUTHORIZED, "signature does not match").into_response();
    };
    match tokio::time::timeout(
        REPLAY_CHECK_WITHIN,
        ctx.moderator.store().claim_once(&key, REPLAY_MEMORY),
    )
    .await
    {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            tracing::warn!(
                path = "/slack/commands",
                reason = "replayed",
                "rejected a Slack request"
            );
            ctx.audit_rejection("/slack/commands", "replay of a request already run")
                .await;
            return (StatusCode::UNAUTHORIZED, "request already seen (replay)").into_response();
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot check a slash command for replay; refusing it");
            return command_unavailable(
                "linkguard cannot reach its database just now; please try again in a minute.",
            );
        }
        Err(_) => {
            tracing::error!("checking a slash command for replay timed out; refusing it");
            return command_unavailable(
                "linkguard cannot reach its database just now; please try again in a minute.",
            );
        }
    }
    let ev: SlackCommandEvent = match serde_urlencoded::from_bytes(&body) {
        Ok(ev) => ev,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("malformed slash command: {e}"),
            )
                .into_response()
        }
    };
    match ctx.command_by(ev, received + COMMAND_ANSWER_WITHIN).await {
        Some(answer) => axum::Json(serde_json::json!({
            "response_type": "ephemeral",
            "text": escape_slack(&answer),
        }))
        .into_response(),
        // An empty 200 acknowledges; the answer follows through response_url.
        None => StatusCode::OK.into_response(),
    }
}
