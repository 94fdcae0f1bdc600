//! Slack end-to-end support: a fake Slack on loopback and the real linkguard
//! `App` (slack-morphism included) pointed at it, in Socket Mode or Events API
//! mode, with helpers to read what the fake saw and what the audit log holds.

use linkguard::app::{App, AppOptions};
use linkguard::config::{Config, Secret, SlackConfig, SlackMode};
use linkguard::store::{AuditFilter, AuditRecord, Store};
use linkguard_fakes::slack::{
    Delivery, FakeSlack, FakeSlackConfig, StoredMessage, DEFAULT_ADMIN_USER_TOKEN,
    DEFAULT_APP_TOKEN, DEFAULT_BOT_TOKEN, DEFAULT_SIGNING_SECRET,
};
use std::time::Duration;

/// A generous bound for anything to happen on a loaded machine.
pub const WAIT: Duration = Duration::from_secs(20);
/// #general.
pub const GENERAL: &str = "C0FAKECHAN1";
/// alice, a plain member.
pub const ALICE: &str = "U0FAKEUSR01";
/// bob, a plain member.
pub const BOB: &str = "U0FAKEUSR02";
/// A workspace admin (owns the admin user token).
pub const ADMIN: &str = "U0FAKEADM01";

/// How to set up one test.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Socket Mode or the Events API.
    pub mode: SlackMode,
    /// The fake's cast and knobs.
    pub fake: FakeSlackConfig,
    /// Give linkguard the admin's user token (needed to delete).
    pub user_token: bool,
    /// Store `slack.moderate_bots = true` before start.
    pub moderate_bots: bool,
    /// How pending actions are retried (default: [`crate::fast_retry`]).
    pub retry: linkguard::moderation::RetrySettings,
    /// `slack.team_ids` (default empty: the bot token's team from `auth.test`).
    pub team_ids: Vec<String>,
    /// `slack.admin_channel` (default none).
    pub admin_channel: Option<String>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            mode: SlackMode::Socket,
            fake: FakeSlackConfig::default()
                .with_fast_timers(Duration::from_secs(2), Duration::from_millis(200)),
            user_token: true,
            moderate_bots: false,
            retry: crate::fast_retry(),
            team_ids: Vec::new(),
            admin_channel: None,
        }
    }
}

impl Setup {
    /// No admin user token: linkguard cannot delete a member's message, so
    /// it replies in the thread and warns the author privately instead.
    pub fn bot_token_only() -> Setup {
        Setup {
            user_token: false,
            ..Setup::default()
        }
    }
}

/// A running linkguard against a running fake Slack.
pub struct TestApp {
    /// The fake.
    pub fake: FakeSlack,
    /// linkguard's store.
    pub store: Store,
    /// linkguard's public listener.
    pub http: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Starts the fake and linkguard and waits until linkguard is connected.
pub async fn spawn_app(setup: Setup) -> TestApp {
    let fake = FakeSlack::start(setup.fake.clone())
        .await
        .expect("fake slack");
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_app_with(fake, dir, setup).await
}

pub use crate::database_url;

/// Starts linkguard against a running `fake` on the database in `dir` (which
/// a test may have prepared) and waits until it is connected.
pub async fn spawn_app_with(fake: FakeSlack, dir: tempfile::TempDir, setup: Setup) -> TestApp {
    let db = database_url(dir.path());
    if setup.moderate_bots {
        crate::enable_setting(&db, linkguard::slack::MODERATE_BOTS_SETTING).await;
    }
    let config = Config {
        database_url: Secret::new(db),
        http_addr: "127.0.0.1:0".into(),
        shutdown_timeout_secs: 10,
        slack: Some(SlackConfig {
            bot_token: Secret::new(DEFAULT_BOT_TOKEN),
            user_token: setup
                .user_token
                .then(|| Secret::new(DEFAULT_ADMIN_USER_TOKEN)),
            app_token: Some(Secret::new(DEFAULT_APP_TOKEN)),
            signing_secret: Some(Secret::new(DEFAULT_SIGNING_SECRET)),
            mode: setup.mode,
            api_url: fake.api_url(),
            admin_groups: Vec::new(),
            team_ids: setup.team_ids.clone(),
            admin_channel: setup.admin_channel.clone(),
        }),
        ..Config::default()
    };
    let app = App::build(
        config,
        AppOptions {
            retry: Some(setup.retry),
            ..AppOptions::default()
        },
    )
    .await
    .expect("app builds");
    let http = app.http_addr();
    let store = app.moderator().store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    match setup.mode {
        SlackMode::Socket => fake
            .wait_until(WAIT, |s| s.open_sockets() > 0)
            .await
            .expect("linkguard opens a socket"),
        SlackMode::Http => {
            fake.set_interactivity_url(&format!("http://{http}/slack/interactivity"));
            fake.set_delivery(Delivery::Http {
                events_url: format!("http://{http}/slack/events"),
                commands_url: Some(format!("http://{http}/slack/commands")),
            })
        }
    }
    TestApp {
        fake,
        store,
        http,
        stop: Some(stop),
        task: Some(task),
        _dir: dir,
    }
}

impl TestApp {
    /// Waits until message `ts` in `channel` satisfies `pred`.
    pub async fn wait_message(
        &self,
        channel: &str,
        ts: &str,
        pred: impl Fn(&StoredMessage) -> bool,
    ) {
        self.fake
            .wait_until(WAIT, |s| s.message(channel, ts).is_some_and(&pred))
            .await
            .unwrap_or_else(|e| panic!("message {ts} never reached the expected state: {e}"));
    }

    /// The messages linkguard posted in `channel` under someone's name.
    pub fn reposts(&self, channel: &str) -> Vec<StoredMessage> {
        self.fake
            .messages(channel)
            .into_iter()
            .filter(|m| {
                m.bot_id.as_deref() == Some(self.fake.config().bot.bot_id.as_str())
                    && m.username.is_some()
            })
            .collect()
    }

    /// The `event_id` of the first event about message `ts` (its posting).
    pub fn event_id_of(&self, ts: &str) -> String {
        self.fake
            .with_state(|s| {
                s.events().iter().find_map(|e| {
                    (e["event"]["ts"] == ts)
                        .then(|| e["event_id"].as_str().map(str::to_owned))
                        .flatten()
                })
            })
            .unwrap_or_else(|| panic!("no event for message {ts}"))
    }

    /// Waits until linkguard has acknowledged the event about message `ts`:
    /// it has then been translated and, if it was anything, recorded.
    pub async fn wait_acked(&self, ts: &str) {
        let id = self.event_id_of(ts);
        self.fake
            .wait_until(WAIT, |s| s.event_acked(&id))
            .await
            .unwrap_or_else(|e| panic!("event {id} never acknowledged: {e}"));
    }

    /// Audit records, oldest first.
    pub async fn audit(&self) -> Vec<AuditRecord> {
        self.store
            .list(&AuditFilter::default())
            .await
            .expect("audit list")
    }

    /// Waits (bounded) until the audit log satisfies `pred`. The store has
    /// no change feed, so this polls.
    pub async fn wait_audit(&self, pred: impl Fn(&[AuditRecord]) -> bool) -> Vec<AuditRecord> {
        crate::wait_audit(&self.store, pred).await
    }

    /// Waits until the action on message `ts` has its outcome; returns
    /// (action, outcome, detail).
    pub async fn wait_outcome(&self, ts: &str) -> (String, String, Option<String>) {
        let rows = self
            .wait_audit(|rows| outcome_for(rows, ts).is_some())
            .await;
        outcome_for(&rows, ts).unwrap_or_else(|| unreachable!("waited for it"))
    }

    /// Waits until linkguard has answered message `ts` where it could not
    /// (or would not) remove it: a private notice sent, the message still
    /// there, a reply in its thread offering the alternative, and the
    /// action's outcome recorded.
    pub async fn wait_thread_reply(&self, channel: &str, ts: &str) -> ThreadReply {
        self.fake
            .wait_until(WAIT, |s| !s.ephemerals().is_empty())
            .await
            .unwrap_or_else(|e| panic!("no private notice about {ts}: {e}"));
        assert!(!self.deleted(channel, ts), "message {ts} is kept");
        let reply = self.thread_reply(channel, ts).expect("thread reply");
        assert!(
            reply.text.contains("https://meet.jit.si/linkguard-"),
            "{}",
            reply.text
        );
        let (action, outcome, detail) = self.wait_outcome(ts).await;
        ThreadReply {
            reply,
            action,
            outcome,
            detail: detail.unwrap_or_default(),
        }
    }

    /// [`Self::wait_thread_reply`], with the removal recorded as degraded
    /// to a reply.
    pub async fn wait_degraded_reply(&self, channel: &str, ts: &str) -> ThreadReply {
        let r = self.wait_thread_reply(channel, ts).await;
        assert_eq!(
            (r.action.as_str(), r.outcome.as_str()),
            ("reply", "degraded")
        );
        r
    }

    /// linkguard's reply in the thread of message `ts`, if any.
    pub fn thread_reply(&self, channel: &str, ts: &str) -> Option<StoredMessage> {
        self.fake
            .messages(channel)
            .into_iter()
            .find(|m| m.thread_ts.as_deref() == Some(ts))
    }

    /// Whether message `ts` has been deleted.
    pub fn deleted(&self, channel: &str, ts: &str) -> bool {
        self.fake
            .with_state(|s| s.message(channel, ts).is_some_and(|m| m.deleted))
    }

    /// Stops linkguard and checks the audit chain and that nothing is pending.
    pub async fn finish(mut self) {
        // Every action the test waited for has its outcome: nothing pending.
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.store.pending().await.expect("pending").is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "actions left pending"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let report = self.store.verify().await.expect("verify");
        assert!(report.is_ok(), "{report:?}");
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("app task").expect("clean shutdown");
        }
    }
}

/// What [`TestApp::wait_thread_reply`] found.
#[derive(Debug)]
pub struct ThreadReply {
    /// linkguard's reply in the message's thread.
    pub reply: StoredMessage,
    /// The recorded action (`reply` after a degradation) and its outcome.
    pub action: String,
    /// `ok` or `degraded`.
    pub outcome: String,
    /// The action's detail (why it degraded), empty when none.
    pub detail: String,
}

/// The outcome recorded for the action on message `ts`, if any.
pub fn outcome_for(rows: &[AuditRecord], ts: &str) -> Option<(String, String, Option<String>)> {
    rows.iter()
        .filter(|r| r.entry.kind.as_str() == "action" && r.entry.message_id.as_deref() == Some(ts))
        .map(|r| {
            (
                r.entry
                    .action
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default(),
                r.entry
                    .outcome
                    .as_ref()
                    .map(|o| o.as_str().to_owned())
                    .unwrap_or_default(),
                r.entry.detail.clone(),
            )
        })
        .next_back()
}
