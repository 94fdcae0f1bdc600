//! Discord end-to-end support: a fake Discord on loopback and the real
//! linkguard `App` (serenity included) pointed at it, with helpers to read
//! what the fake saw and what the audit log recorded.
//!
//! Two ways to reach the fake, as in production:
//! - [`Transport::Https`]: the production path. serenity gets a `reqwest`
//!   client that resolves `discord.com` to the fake's HTTPS listener and
//!   trusts its test CA; serenity's rate limiter stays on.
//! - [`Transport::Proxy`]: `discord.proxy_url` = the fake's plain HTTP
//!   address, as an operator's REST proxy; serenity's limiter is off.

use linkguard::app::{App, AppOptions};
use linkguard::config::{Config, DiscordConfig, Secret};
use linkguard::store::{AuditFilter, AuditRecord, Kind, Outcome, Platform, Store};
use linkguard_fakes::discord::{
    cast, FakeDiscord, FakeDiscordConfig, InteractionCallback, RouteKind, StoredMessage,
    StoredWebhook,
};
use serde_json::{json, Value};
use std::time::Duration;

/// A generous bound for anything to happen on a loaded machine.
pub const WAIT: Duration = Duration::from_secs(20);

/// How linkguard reaches the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `https://discord.com` resolved to the fake, rate limiter on.
    Https,
    /// `discord.proxy_url` pointing at the fake's HTTP listener.
    Proxy,
}

/// How to set up one test.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Transport.
    pub transport: Transport,
    /// The fake's cast and knobs.
    pub fake: FakeDiscordConfig,
    /// Store `discord.moderate_bots = true` before start.
    pub moderate_bots: bool,
    /// A policy file's text (default: the built-in policy, which replaces Zoom).
    pub policy: Option<String>,
    /// How pending actions are retried (default: [`crate::fast_retry`]).
    pub retry: linkguard::moderation::RetrySettings,
    /// `discord.guild_ids` (default: the fake's own guild).
    pub guild_ids: Vec<u64>,
    /// `discord.catch_up_*` (default: the built-in bounds).
    pub catch_up: linkguard::config::CatchUpLimits,
    /// `discord.automod` and the other native-feature keys.
    pub native: linkguard::config::DiscordNative,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            transport: Transport::Https,
            fake: FakeDiscordConfig::default(),
            moderate_bots: false,
            policy: None,
            retry: crate::fast_retry(),
            guild_ids: vec![cast::GUILD],
            catch_up: Default::default(),
            native: Default::default(),
        }
    }
}

/// A running linkguard against a running fake Discord.
pub struct TestApp {
    /// The fake.
    pub fake: FakeDiscord,
    /// The app's store (audit log, webhooks).
    pub store: Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// `reqwest` client for serenity: discord.com is the fake, its CA is trusted.
pub fn https_client(fake: &FakeDiscord) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).expect("test CA");
    reqwest::Client::builder()
        .use_rustls_tls()
        .resolve("discord.com", fake.https_addr())
        .add_root_certificate(ca)
        .build()
        .expect("reqwest client")
}

/// Starts the fake and linkguard, and waits until linkguard's gateway session is up.
pub async fn spawn_app(setup: Setup) -> TestApp {
    let fake = FakeDiscord::start(setup.fake.clone())
        .await
        .expect("fake discord");
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_app_with(fake, dir, setup).await
}

pub use crate::database_url;

/// Starts linkguard against an already running `fake`, with its database in
/// `dir` (prepared by the test, e.g. with a pending action).
pub async fn spawn_app_with(fake: FakeDiscord, dir: tempfile::TempDir, setup: Setup) -> TestApp {
    let db = database_url(dir.path());
    if setup.moderate_bots {
        crate::enable_setting(&db, linkguard::discord::MODERATE_BOTS_SETTING).await;
    }
    let policy_path = setup.policy.as_ref().map(|text| {
        let p = dir.path().join("policy.toml");
        std::fs::write(&p, text).expect("policy file");
        p.display().to_string()
    });
    let (proxy_url, client) = match setup.transport {
        Transport::Https => (None, Some(https_client(&fake))),
        Transport::Proxy => (Some(fake.http_base()), None),
    };
    let config = Config {
        database_url: Secret::new(db),
        http_addr: "127.0.0.1:0".into(),
        policy_path,
        shutdown_timeout_secs: 10,
        discord: Some(DiscordConfig {
            token: Secret::new(fake.bot_token()),
            proxy_url,
            admin_roles: Vec::new(),
            shards: None,
            queue_capacity: linkguard::config::DEFAULT_DISCORD_QUEUE,
            guild_ids: setup.guild_ids.clone(),
            catch_up: setup.catch_up,
            native: setup.native.clone(),
        }),
        ..Config::default()
    };
    let app = App::build(
        config,
        AppOptions {
            discord_http_client: client,
            retry: Some(setup.retry),
        },
    )
    .await
    .expect("app builds");
    let store = app.moderator().store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    fake.wait_until(|s| s.connected_sessions() > 0, WAIT)
        .await
        .expect("linkguard connects to the gateway");
    TestApp {
        fake,
        store,
        stop: Some(stop),
        task: Some(task),
        _dir: dir,
    }
}

/// Whether a stored message is a webhook message (a repost).
pub fn is_repost(m: &StoredMessage) -> bool {
    m.webhook_id.is_some()
}

impl TestApp {
    /// Stops linkguard gracefully and waits for it.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("linkguard stops in time")
                .expect("app task")
                .expect("app ran");
        }
    }

    /// Stops linkguard gracefully and hands back the fake and the database
    /// directory, to start linkguard again on them ([`spawn_app_with`]).
    pub async fn stop_keeping_state(mut self) -> (FakeDiscord, tempfile::TempDir) {
        self.halt().await;
        self.store.close().await;
        (self.fake, self._dir)
    }

    /// A user posts `text` in `channel`; returns the message id.
    pub fn post(&self, channel: u64, user: u64, text: &str) -> u64 {
        self.fake
            .post_user_message(channel, user, text)
            .expect("post")
    }

    /// Waits until `original` is deleted and a repost exists in `channel`
    /// (a thread for thread messages) whose content contains `marker`;
    /// returns the repost.
    pub async fn wait_replaced(&self, channel: u64, original: u64, marker: &str) -> StoredMessage {
        let marker = marker.to_owned();
        self.fake
            .wait_until(
                |s| {
                    s.message(original).is_some_and(|m| m.deleted)
                        && s.messages(channel).iter().any(|m| {
                            m.id != original && is_repost(m) && m.content.contains(&marker)
                        })
                },
                WAIT,
            )
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "message {original} replaced; calls: {:#?}",
                    self.fake.calls()
                )
            });
        self.fake
            .messages(channel)
            .into_iter()
            .find(|m| m.id != original && is_repost(m) && m.content.contains(&marker))
            .expect("repost")
    }

    /// Waits until linkguard has finished with every message of `channel`
    /// (in [`cast::GUILD`]) up to `id`, ignored ones included: the channel's
    /// stored cursor only passes messages whose handling has ended, at least
    /// the cursor's grace period ago, so that an event dispatched earlier but
    /// started later is not overtaken. Use it before asserting that
    /// something did *not* happen: serenity dispatches events concurrently,
    /// so a later message being handled says nothing about an earlier one.
    pub async fn wait_handled_through(&self, channel: u64, id: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let c = self
                .store
                .discord_cursors(cast::GUILD)
                .await
                .expect("cursors");
            if c.get(&channel).is_some_and(|c| *c >= id) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "cursor of {channel} never reached {id}: {c:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every Discord audit record, oldest first.
    pub async fn audit(&self) -> Vec<AuditRecord> {
        self.store
            .list(&AuditFilter {
                platform: Some(Platform::Discord.into()),
                ..AuditFilter::default()
            })
            .await
            .expect("audit list")
    }

    /// The audit records about one message.
    pub async fn audit_of(&self, message: u64) -> Vec<AuditRecord> {
        let id = message.to_string();
        self.audit()
            .await
            .into_iter()
            .filter(|r| r.entry.message_id.as_deref() == Some(id.as_str()))
            .collect()
    }

    /// Waits until the action outcome for `message` is in the audit log, and
    /// returns it. The store has no change feed, so this polls it briefly.
    pub async fn wait_action(&self, message: u64) -> AuditRecord {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found = self
                .audit_of(message)
                .await
                .into_iter()
                .find(|r| r.entry.kind == Kind::Action);
            if let Some(r) = found {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no action recorded for {message}: {:#?}",
                self.audit_of(message).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts the audit chain verifies and nothing is left pending.
    pub async fn assert_audit_sound(&self) {
        let report = self.store.verify().await.expect("verify");
        assert!(report.is_ok(), "audit chain: {report:?}");
        let pending = self.store.pending().await.expect("pending");
        assert!(pending.is_empty(), "pending actions left: {pending:?}");
    }

    /// Webhook executions the fake answered with success.
    pub fn executed(&self) -> Vec<linkguard_fakes::discord::RecordedCall> {
        self.fake
            .calls_to(RouteKind::WebhookExecute)
            .into_iter()
            .filter(|c| c.status < 300)
            .collect()
    }

    /// How many successful reposts carry `marker`.
    pub fn reposts_with(&self, marker: &str) -> usize {
        self.executed()
            .iter()
            .filter(|c| {
                c.body
                    .as_ref()
                    .and_then(|b| b["content"].as_str())
                    .is_some_and(|s| s.contains(marker))
            })
            .count()
    }

    /// The webhooks linkguard created.
    pub fn webhooks(&self) -> Vec<StoredWebhook> {
        self.fake
            .with_state(|s| s.webhooks().into_iter().cloned().collect())
    }
}

/// Asserts an audit record says `action` went `outcome`.
pub fn assert_action(r: &AuditRecord, action: &str, outcome: Outcome) {
    assert_eq!(r.entry.kind, Kind::Action, "{r:?}");
    assert_eq!(r.entry.action.map(|a| a.as_str()), Some(action), "{r:?}");
    assert_eq!(r.entry.outcome.as_ref(), Some(&outcome), "{r:?}");
}

/// alice's avatar URL as Discord's CDN serves it.
pub fn alice_avatar() -> String {
    format!(
        "https://cdn.discordapp.com/avatars/{}/a1b2c3d4e5f60718293a4b5c6d7e8f90.webp?size=1024",
        cast::ALICE
    )
}

/// A raw REST call to the fake, as another bot (`bot_auth`) or a webhook
/// user would make it; asserts it succeeded and returns the JSON answer.
pub async fn rest(
    t: &TestApp,
    path: &str,
    body: serde_json::Value,
    bot_auth: bool,
) -> serde_json::Value {
    let url = format!("{}/api/v10{path}", t.fake.http_base());
    let mut req = reqwest::Client::new().post(url).json(&body);
    if bot_auth {
        req = req.header("Authorization", format!("Bot {}", t.fake.bot_token()));
    }
    let resp = req.send().await.expect("request");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("json")
}

/// A webhook of another integration in #general: its execute URL.
pub async fn other_webhook(t: &TestApp) -> String {
    let other = rest(
        t,
        &format!("/channels/{}/webhooks", cast::GENERAL),
        serde_json::json!({"name": "ci-notifier"}),
        true,
    )
    .await;
    format!(
        "/webhooks/{}/{}?wait=true",
        other["id"].as_str().expect("id"),
        other["token"].as_str().expect("token")
    )
}

/// A message whose text is all in display components (Components V2): a
/// container with a text display and a link button. Posted through
/// another integration's webhook; returns its id.
pub async fn components_message(t: &TestApp, text: &str, button: &str) -> u64 {
    let url = other_webhook(t).await;
    let sent = rest(
        t,
        &format!("{url}&with_components=true"),
        serde_json::json!({"flags": 1 << 15, "components": [
            {"type": 17, "components": [
                {"type": 10, "content": text},
                {"type": 1, "components": [{"type": 2, "style": 5, "label": "Join", "url": button}]}
            ]}
        ]}),
        false,
    )
    .await;
    sent["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id")
}

/// `data.options` of `/linkguard NAME [TEXT]`.
pub fn sub(name: &str, text: Option<&str>) -> Value {
    match text {
        Some(t) => {
            json!([{"type": 1, "name": name, "options": [{"type": 3, "name": "text", "value": t}]}])
        }
        None => json!([{"type": 1, "name": name, "options": []}]),
    }
}

/// The text of an immediate, ephemeral interaction answer (asserted so).
pub fn answer(cb: &InteractionCallback) -> String {
    assert_eq!(cb.kind, 4, "an immediate message: {cb:?}");
    assert_eq!(
        cb.data["flags"].as_u64().unwrap_or(0) & 64,
        64,
        "ephemeral: {cb:?}"
    );
    cb.data["content"].as_str().unwrap_or_default().to_owned()
}
