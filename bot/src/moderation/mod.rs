//! The moderation pipeline, one path for every platform:
//! evaluate → record (with the event's idempotency key) → act → record outcome.
//!
//! Connectors translate platform events into an [`IncomingMessage`] and carry
//! out platform-neutral requests through [`PlatformActions`]; they hold no
//! policy logic. The pipeline never acts before the detection is committed,
//! and a redelivered event finds its key and does nothing twice.
//!
//! Actions degrade, never vanish: when a platform refuses one (missing
//! permission, no admin token, a message too long to repost), the next gentler
//! action is tried and the audit record says why.
//!
//! "Not yet" is not "failed" (issue #15): a rate limit or a server error that
//! outlasts the connector's own retries ([`ActionError::Later`]) leaves the
//! action pending with a jittered, capped exponential back-off, and
//! [`Moderator::run_pending`] (one task per connector, also what finishes a
//! crashed run's actions) retries it when due. A pending action is leased to
//! one process at a time (see `store::events`), its progress is recorded
//! before each next step (the repost's id before the original is deleted, so
//! a retry after a crash never reposts twice), and its stored message is
//! authenticated with `audit_key`: a payload or progress that does not verify
//! is refused (recorded as failed, never executed).

mod act;
mod actions;
mod message;
mod pending;
mod retry;
mod seal;
mod startup;

pub use actions::{ActionError, ActionFuture, Interrupted, PlatformActions};
pub use message::{Author, IncomingMessage, Platform, Revision, Skip};
pub use retry::{attempt_deadline, jittered, random_u64, RetrySettings};

use crate::store::{now_ms, AuditEntry, Kind, NewPending, Outcome, Recorded, Store, StoreError};
use linkguard_rules::eval::{Block, LinkVerdict, MessageContext, Verdict};
use linkguard_rules::policy::{Action, Policy, RoomKey};
use seal::Sealer;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// The policy in force, with the stored version it came from.
#[derive(Debug, Clone)]
pub struct ActivePolicy {
    /// The compiled policy.
    pub policy: Arc<Policy>,
    /// The stored version, or `None` for a file or the built-in default.
    pub version: Option<i64>,
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// No meeting link the policy bans.
    Clean,
    /// This revision was already handled (redelivery).
    Duplicate,
    /// Banned links recorded; monitor mode, nothing touched.
    Monitored,
    /// Banned links allowed by a time-limited exception (recorded).
    Excepted,
    /// The action carried out (after any degradation), and how it went.
    Acted {
        /// The action that was finally attempted.
        action: Action,
        /// `ok`, `degraded` or `failed`.
        outcome: Outcome,
        /// Why it degraded or failed.
        detail: Option<String>,
    },
    /// Not yet: rate limited or a server error; the action stays pending and
    /// is retried after a back-off.
    Pending {
        /// Why it was put off.
        detail: String,
    },
}

/// The result of [`Moderator::record`].
#[derive(Debug)]
pub enum Step {
    /// Nothing (more) to do.
    Done(Handled),
    /// Recorded; call [`Moderator::act`] with this.
    Act(Box<Work>),
}

/// A recorded detection waiting for its action.
#[derive(Debug, Clone)]
pub struct Work {
    /// The strongest enforced action the bans ask for.
    pub action: Action,
    /// The pending detection record the outcome resolves.
    pub anchor: Option<i64>,
    /// The policy version that decided.
    pub version: Option<i64>,
    /// The message with banned links swapped.
    pub rewritten: String,
    /// The bans, one per distinct banned link.
    pub blocks: Vec<Block>,
    /// The first banned link's provider.
    pub provider: String,
    /// The first banned link.
    pub link: String,
    /// The policy that decided.
    pub policy: Arc<Policy>,
}

impl Work {
    /// The work for `msg`, whose `banned` links (at least one) ask for `action`.
    fn new(
        action: Action,
        anchor: Option<i64>,
        active: &ActivePolicy,
        verdict: &Verdict,
        msg: &IncomingMessage,
        banned: &[&LinkVerdict],
    ) -> Work {
        let first = banned[0];
        Work {
            action,
            anchor,
            version: active.version,
            rewritten: verdict.rewrite(&msg.text, msg.platform.dialect()),
            blocks: banned.iter().filter_map(|v| v.block().cloned()).collect(),
            provider: first.link.provider.as_str().to_owned(),
            link: first.link.url.clone(),
            policy: active.policy.clone(),
        }
    }
}

/// The distinct links of `verdict` the policy bans, in order: what a
/// detection records and what [`Work`] acts on, read the same way when a
/// message is first recorded and when a pending action is resumed.
fn banned(verdict: &Verdict) -> Vec<&LinkVerdict> {
    verdict
        .distinct()
        .into_iter()
        .filter(|v| v.block().is_some())
        .collect()
}

/// The moderation pipeline shared by every connector.
pub struct Moderator {
    store: Store,
    policy: RwLock<ActivePolicy>,
    version_tx: tokio::sync::watch::Sender<Option<i64>>,
    in_flight: tokio_util::task::TaskTracker,
    key: RoomKey,
    keep_text: bool,
    /// This process's name on the leases it takes.
    owner: String,
    sealer: Sealer,
    retry: RetrySettings,
    /// Pending actions this process is running now (their leases are renewed).
    running: Arc<Mutex<HashSet<i64>>>,
}

/// Marks a pending action as running in this process while alive.
struct Running {
    set: Arc<Mutex<HashSet<i64>>>,
    seq: i64,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.seq);
    }
}

impl fmt::Debug for Moderator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Moderator").finish_non_exhaustive()
    }
}

impl Moderator {
    /// A pipeline over `store`, starting with `policy`.
    pub fn new(store: Store, policy: ActivePolicy, key: RoomKey, keep_text: bool) -> Moderator {
        let (version_tx, _) = tokio::sync::watch::channel(policy.version);
        Moderator {
            store,
            version_tx,
            in_flight: tokio_util::task::TaskTracker::new(),
            policy: RwLock::new(policy),
            key,
            keep_text,
            owner: format!("{:016x}-{}", random_u64(), std::process::id()),
            sealer: Sealer(crate::config::DEVELOPMENT_AUDIT_KEY.as_bytes().to_vec()),
            retry: RetrySettings::default(),
            running: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// A pipeline with the keys and audit settings of `config`.
    pub fn configured(
        store: Store,
        policy: ActivePolicy,
        config: &crate::config::Config,
    ) -> Moderator {
        Moderator::new(
            store,
            policy,
            RoomKey::new(config.room_key.expose()),
            config.audit_message_text,
        )
        .with_audit_key(config.audit_key.expose())
    }

    /// Authenticates stored payloads with `audit_key` (else the development key).
    pub fn with_audit_key(mut self, audit_key: &str) -> Moderator {
        self.sealer = Sealer(audit_key.as_bytes().to_vec());
        self
    }

    /// Retries pending actions with `retry` instead of the defaults.
    pub fn with_retry(mut self, retry: RetrySettings) -> Moderator {
        self.retry = retry;
        self
    }

    /// This process's name on the leases of the pending actions it runs.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The retry settings.
    pub fn retry_settings(&self) -> RetrySettings {
        self.retry
    }

    fn hold(&self, seq: i64) -> Option<Running> {
        let fresh = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(seq);
        fresh.then(|| Running {
            set: self.running.clone(),
            seq,
        })
    }

    fn lease_until(&self) -> i64 {
        now_ms().saturating_add(self.retry.lease.as_millis() as i64)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The room key.
    pub fn room_key(&self) -> &RoomKey {
        &self.key
    }

    /// The policy in force now.
    pub fn policy(&self) -> ActivePolicy {
        self.policy
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Replaces the policy in force (after an edit or a NOTIFY).
    pub fn set_policy(&self, policy: ActivePolicy) {
        let version = policy.version;
        *self
            .policy
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = policy;
        self.version_tx.send_replace(version);
    }

    /// The version in force, updated on every change (for waiting on a reload).
    pub fn policy_versions(&self) -> tokio::sync::watch::Receiver<Option<i64>> {
        self.version_tx.subscribe()
    }

    /// Loads the store's active policy version into the pipeline, unless it
    /// is already the one in force. Returns the version now in force.
    pub async fn reload_from_store(&self) -> Result<Option<i64>, StoreError> {
        let Some(v) = self.store.policy_active().await? else {
            return Ok(self.policy().version);
        };
        if self.policy().version == Some(v.version) {
            return Ok(Some(v.version));
        }
        match Policy::parse(&format!("stored policy v{}", v.version), &v.body) {
            Ok(p) => {
                self.set_policy(ActivePolicy {
                    policy: Arc::new(p),
                    version: Some(v.version),
                });
                tracing::info!(policy.version = v.version, "policy reloaded");
            }
            // The store validates before storing, so this means a newer
            // linkguard wrote it: keep enforcing the policy we have.
            Err(e) => {
                tracing::error!(policy.version = v.version, error = %e, "stored policy does not load; keeping the current one")
            }
        }
        Ok(self.policy().version)
    }

    /// Follows policy changes announced by the store (PostgreSQL NOTIFY from
    /// any replica; in-process on SQLite) until the store goes away.
    pub async fn watch_policy(self: Arc<Self>) {
        // The database may be away at start: keep trying, or this replica
        // would never see another policy change.
        let mut wait = std::time::Duration::from_secs(1);
        let mut rx = loop {
            match self.store.policy_changes().await {
                Ok(rx) => break rx,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_secs = wait.as_secs(), "cannot follow policy changes yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(30));
                }
            }
        };
        // A change made before the subscription took effect is not announced
        // again: catch up once now.
        if let Err(e) = self.reload_from_store().await {
            tracing::warn!(error = %e, "policy reload failed; will retry on the next change");
        }
        loop {
            match rx.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if let Err(e) = self.reload_from_store().await {
                        tracing::warn!(error = %e, "policy reload failed; will retry on the next change");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Whether other bots' and integrations' messages are moderated: the
    /// policy's `moderate_bots` when it says, else the platform's stored
    /// setting (`stored`, read at start). Asked per message, so a policy
    /// change is live.
    pub fn moderate_bots(&self, stored: bool) -> bool {
        self.policy().policy.moderate_bots().unwrap_or(stored)
    }

    /// Evaluates a message against the policy in force.
    pub fn evaluate(&self, msg: &IncomingMessage, excepted: bool) -> (ActivePolicy, Verdict) {
        let active = self.policy();
        let ctx = MessageContext {
            platform: msg.platform.dialect(),
            workspace: &msg.workspace,
            channel: &msg.channel,
            user: &msg.author.id,
            roles: &msg.author.roles,
            excepted,
        };
        let verdict = active.policy.evaluate(&msg.text, &ctx, &self.key);
        (active, verdict)
    }

    fn entry(&self, msg: &IncomingMessage, kind: Kind, version: Option<i64>) -> AuditEntry {
        let mut e = AuditEntry::new(kind, msg.platform);
        e.workspace = Some(msg.workspace.clone()).filter(|w| !w.is_empty());
        e.channel = Some(msg.channel.clone());
        e.thread = msg.thread.clone();
        e.message_id = Some(msg.message_id.clone());
        e.revision = Some(msg.revision.clone());
        e.author = Some(msg.author.id.clone());
        e.policy_version = version;
        e
    }

    /// Runs the whole pipeline for one message: [`Moderator::record`], then
    /// [`Moderator::act`].
    pub async fn handle(
        &self,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
    ) -> Result<Handled, StoreError> {
        match self.record(msg).await? {
            Step::Done(h) => Ok(h),
            Step::Act(work) => self.act(msg, *work, actions).await,
        }
    }

    /// Evaluates the message and durably records its detections with the
    /// event's idempotency key. Fast (no platform call), so connectors can do
    /// it before acknowledging an event and leave [`Moderator::act`] for after.
    ///
    /// Long on purpose: exception, detection records, metrics and the
    /// sealed payload are written in one store transaction, and the steps
    /// before it must stay in this order (record before act).
    pub async fn record(&self, msg: &IncomingMessage) -> Result<Step, StoreError> {
        let metrics = crate::metrics::global();
        metrics.message_seen(msg.platform.as_str());
        let (active, verdict) = self.evaluate(msg, false);
        let banned = banned(&verdict);
        if banned.is_empty() {
            return Ok(Step::Done(Handled::Clean));
        }
        let channels: Vec<&str> = std::iter::once(msg.channel.as_str())
            .chain(msg.thread.as_deref())
            .collect();
        if let Some(ex) = self
            .store
            .exception_covering(msg.platform, &msg.workspace, &msg.author.id, &channels)
            .await?
        {
            let first = banned[0];
            let mut e = self.entry(msg, Kind::Exception, active.version);
            e.rule_id = first.block().map(|b| b.rule.clone());
            e.provider = Some(first.link.provider.as_str().to_owned());
            e.link = Some(first.link.url.clone());
            e.detail = Some(format!("allowed by exception #{}: {}", ex.id, ex.reason));
            return Ok(Step::Done(
                match self
                    .store
                    .record_detection(&msg.event_key(), vec![e])
                    .await?
                {
                    Recorded::Duplicate => Handled::Duplicate,
                    Recorded::New(_) => Handled::Excepted,
                },
            ));
        }
        let enforced = verdict.action();
        let mut entries = Vec::with_capacity(banned.len());
        let mut anchored = false;
        for (i, v) in banned.iter().enumerate() {
            let block = v.block().unwrap_or_else(|| unreachable!("filtered above"));
            let mut e = self.entry(msg, Kind::Detected, active.version);
            e.rule_id = Some(block.rule.clone());
            e.provider = Some(v.link.provider.as_str().to_owned());
            e.link = Some(v.link.url.clone());
            e.alternative = block.alternative.clone();
            e.action = Some(block.action.into());
            if block.monitor {
                e.outcome = Some(Outcome::WouldAct);
                e.detail = Some("monitor mode: message left untouched".into());
            } else if !anchored {
                // The first enforced detection anchors the message's action:
                // it stays pending until the outcome is recorded.
                e.outcome = Some(Outcome::Pending);
                anchored = true;
            }
            if self.keep_text && i == 0 {
                e.message_text = Some(msg.text.clone());
            }
            entries.push(e);
        }
        for v in &banned {
            if let Some(b) = v.block() {
                metrics.link_found(v.link.provider.as_str(), &b.rule);
            }
        }
        let started = Instant::now();
        // The message travels with the pending action, so that a restart can
        // finish it; it is deleted with the pending row once the outcome is in.
        // It is authenticated, and leased to this process, which acts now.
        let key = msg.event_key();
        let payload = serde_json::to_string(msg).ok().map(|p| NewPending {
            payload_mac: self.sealer.seal("payload", key.as_str(), &p),
            payload: p,
            lease: Some((self.owner.clone(), self.lease_until())),
        });
        let recorded = self
            .store
            .record_detection_with(&key, entries, payload)
            .await
            .inspect_err(|_| metrics.audit_append_failed())?;
        metrics.audit_append(started.elapsed());
        let records = match recorded {
            Recorded::Duplicate => return Ok(Step::Done(Handled::Duplicate)),
            Recorded::New(records) => records,
        };
        let Some(action) = enforced else {
            return Ok(Step::Done(Handled::Monitored));
        };
        let anchor = records
            .iter()
            .find(|r| r.entry.outcome == Some(Outcome::Pending))
            .map(|r| r.seq);
        Ok(Step::Act(Box::new(Work::new(
            action, anchor, &active, &verdict, msg, &banned,
        ))))
    }

    /// Runs [`Moderator::act`] in the background, tracked so that shutdown can
    /// wait for it (see [`Moderator::drain`]). Errors are logged; the
    /// detection then stays pending and the next start finishes it.
    pub fn spawn_act(
        self: &Arc<Self>,
        msg: IncomingMessage,
        work: Work,
        actions: Arc<dyn PlatformActions>,
    ) {
        let me = self.clone();
        self.in_flight.spawn(async move {
            if let Err(e) = me.act(&msg, work, actions.as_ref()).await {
                tracing::error!(platform = msg.platform.as_str(), channel.id = %msg.channel, error = %e, "recording an action's outcome failed; it stays pending");
            }
        });
    }

    /// Stops accepting background actions and waits up to `timeout` for those
    /// in flight. Returns false if some were still running (they stay
    /// pending in the store and the next start finishes them).
    pub async fn drain(&self, timeout: std::time::Duration) -> bool {
        self.in_flight.close();
        tokio::time::timeout(timeout, self.in_flight.wait())
            .await
            .is_ok()
    }
}
