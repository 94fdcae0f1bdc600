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

use crate::store::{
    now_ms, AuditEntry, EventKey, Kind, NewPending, Outcome, PendingAction, Recorded, Store,
    StoreError,
};
use hmac::{Hmac, Mac as _};
use linkguard_rules::eval::{Block, LinkVerdict, MessageContext, Verdict};
use linkguard_rules::policy::{Action, Policy, RoomKey};
use linkguard_rules::Dialect;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The platforms linkguard moderates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Slack.
    Slack,
    /// Discord.
    Discord,
}

impl Platform {
    /// The platform's name in audit records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Discord => "discord",
        }
    }

    /// The text dialect of the platform's messages.
    pub fn dialect(self) -> Dialect {
        match self {
            Platform::Slack => Dialect::Slack,
            Platform::Discord => Dialect::Discord,
        }
    }
}

/// The author of a message.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Author {
    /// Platform user id.
    pub id: String,
    /// Display name, for reposting under the author's name.
    pub display_name: String,
    /// Avatar URL, for reposting under the author's face.
    pub avatar_url: Option<String>,
    /// Role ids (Discord) or user-group ids (Slack), for exemptions.
    pub roles: Vec<String>,
}

/// One message (or one revision of it), platform-neutral. It is kept (as
/// JSON) with a pending action so that a restart can finish the action.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IncomingMessage {
    /// Where it came from.
    pub platform: Platform,
    /// Slack team id or Discord guild id (empty for Discord DMs).
    pub workspace: String,
    /// Channel id (for a thread, the channel that holds it).
    pub channel: String,
    /// Thread id: Slack `thread_ts` of the parent; Discord thread channel id.
    pub thread: Option<String>,
    /// Message id: Slack `ts`, Discord snowflake.
    pub message_id: String,
    /// Revision: `0` for the original post, the edit's timestamp for edits.
    pub revision: String,
    /// Who wrote it.
    pub author: Author,
    /// The raw text in the platform's dialect.
    pub text: String,
    /// Whether the message carries files, which a repost would lose.
    pub has_attachments: bool,
    /// Why a repost could not stand in for this message, when it cannot: its
    /// text was taken from what it carries rather than typed as its own (a
    /// Discord forward's snapshot, a rich embed, a Slack share's
    /// attachments), and a repost cannot forward or share. `replace` then
    /// removes the message and sends the author the rewritten text privately.
    #[serde(default)]
    pub not_repostable: Option<String>,
    /// When the connector received the event (for latency metrics).
    #[serde(skip, default = "Instant::now")]
    pub received: Instant,
}

impl IncomingMessage {
    /// The idempotency key of this revision of the message.
    pub fn event_key(&self) -> EventKey {
        // Slack's ts is unique per channel only, so qualify it.
        let id = format!("{}/{}", self.channel, self.message_id);
        EventKey::new(self.platform.as_str(), &id, &self.revision)
    }
}

/// Why a platform did not carry out a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The platform will not do this here (permission, token, size): try the
    /// next gentler action.
    Refused(String),
    /// The request failed: record the platform's error.
    Failed(String),
    /// Not yet: rate limited or a server error that outlasted the client's
    /// own retries. The action stays pending and is retried after a back-off
    /// of at least `retry_after`.
    Later {
        /// What happened.
        why: String,
        /// How long the platform asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The message is no longer there (deleted meanwhile).
    Gone(String),
}

impl ActionError {
    /// "Not yet", without a hint of how long to wait.
    pub fn later(why: impl Into<String>) -> ActionError {
        ActionError::Later {
            why: why.into(),
            retry_after: None,
        }
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionError::Refused(why) => write!(f, "refused: {why}"),
            ActionError::Failed(why) => write!(f, "failed: {why}"),
            ActionError::Later { why, .. } => write!(f, "not yet: {why}"),
            ActionError::Gone(why) => write!(f, "gone: {why}"),
        }
    }
}

tokio::task_local! {
    static ATTEMPT_DEADLINE: Instant;
}

/// When the action attempt running on this task must stop waiting out rate
/// limits and server errors (its budget), if one is running: connectors'
/// own retries stop there and answer [`ActionError::Later`].
pub fn attempt_deadline() -> Option<Instant> {
    ATTEMPT_DEADLINE.try_with(|d| *d).ok()
}

/// A random number from a randomly seeded hasher (for jitter and owner ids;
/// not for secrets).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// `base` plus up to half of it again, at random: spreads retries so that
/// callers rate limited together do not come back together.
pub fn jittered(base: Duration) -> Duration {
    let spread = base.as_millis() as u64 / 2;
    if spread == 0 {
        return base;
    }
    base + Duration::from_millis(random_u64() % (spread + 1))
}

/// How pending actions are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Back-off after the first put-off attempt; doubles each time.
    pub initial: Duration,
    /// The longest back-off (a platform's `Retry-After` can ask for more).
    pub max: Duration,
    /// How long a claimed action stays leased to this process; renewed
    /// while it runs. A crashed process's actions are picked up after it.
    pub lease: Duration,
    /// How long one attempt may spend waiting out rate limits and server
    /// errors inside the connector before it is put off.
    pub attempt_budget: Duration,
    /// How often the retry loop looks for due actions.
    pub poll: Duration,
}

impl Default for RetrySettings {
    fn default() -> RetrySettings {
        RetrySettings {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            attempt_budget: Duration::from_secs(60),
            poll: Duration::from_secs(1),
        }
    }
}

impl RetrySettings {
    /// The back-off after attempt number `attempts` (1 = the first put off):
    /// `initial` doubled each time up to `max`, jittered down by up to half,
    /// and never shorter than the platform's `retry_after`.
    pub fn backoff(&self, attempts: i64, retry_after: Option<Duration>) -> Duration {
        let doublings = (attempts.clamp(1, 21) - 1) as u32;
        let base = self.initial.saturating_mul(1u32 << doublings).min(self.max);
        let half = base / 2;
        let spread = half.as_millis() as u64;
        let wait = half + Duration::from_millis(random_u64() % (spread + 1));
        wait.max(retry_after.unwrap_or_default())
    }
}

/// The key that authenticates what the pipeline stores for itself (pending
/// payloads and their progress), so a row it did not write is refused.
#[derive(Clone)]
struct Sealer(Vec<u8>);

impl Sealer {
    fn mac(&self, domain: &str, id: &str, body: &str) -> Hmac<sha2::Sha256> {
        let mut m = <Hmac<sha2::Sha256>>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        // Length-prefixed so that no two different triples give the same input.
        for part in [domain, id, body] {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part.as_bytes());
        }
        m
    }

    fn seal(&self, domain: &str, id: &str, body: &str) -> String {
        hex::encode(self.mac(domain, id, body).finalize().into_bytes())
    }

    fn verify(&self, domain: &str, id: &str, body: &str, tag: Option<&str>) -> bool {
        let Some(tag) = tag.and_then(|t| hex::decode(t).ok()) else {
            return false;
        };
        self.mac(domain, id, body).verify_slice(&tag).is_ok()
    }
}

/// How far a pending action got, recorded before each next step so that a
/// retry (or the recovery of a crashed run) goes on from there.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Progress {
    /// The action being tried (after any degradation so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    /// Why earlier actions degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<String>,
    /// The repost made by `replace`, recorded before the original is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repost: Option<String>,
    /// The original is deleted.
    #[serde(default)]
    deleted: bool,
    /// The thread reply is posted.
    #[serde(default)]
    replied: bool,
    /// The author was told privately.
    #[serde(default)]
    notified: bool,
    /// A repost cannot stand in for the message (too long, a forward, a
    /// share): `delete` sends the author the rewritten text first.
    #[serde(default)]
    copy: bool,
    /// The author was sent the rewritten text.
    #[serde(default)]
    copied: bool,
}

/// What one attempt came to.
enum Carried {
    /// Finished: the action finally attempted, its outcome, and why it
    /// degraded or failed.
    Done(Action, Outcome, Option<String>),
    /// Not yet: put off.
    Later(String, Option<Duration>),
}

/// A boxed future, so [`PlatformActions`] stays object-safe.
pub type ActionFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ActionError>> + Send + 'a>>;

/// What a connector can do on its platform. Each method confirms success
/// before returning `Ok` (a repost is checked to exist).
pub trait PlatformActions: Send + Sync {
    /// Reposts `text` (the rewritten message plus attribution) under the
    /// author's name and avatar, in the same channel and thread, with
    /// mentions disabled. Returns the repost's id.
    fn repost<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, String>;
    /// Deletes the original message.
    fn delete<'a>(&'a self, msg: &'a IncomingMessage) -> ActionFuture<'a, ()>;
    /// Deletes a repost made by [`PlatformActions::repost`] (cleanup after a
    /// failed delete of the original).
    fn delete_repost<'a>(
        &'a self,
        msg: &'a IncomingMessage,
        repost_id: &'a str,
    ) -> ActionFuture<'a, ()>;
    /// Replies in the message's thread.
    fn reply<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()>;
    /// Tells the author privately (Slack ephemeral, Discord DM).
    fn notify_author<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str)
        -> ActionFuture<'a, ()>;
    /// The longest message text the platform takes, in characters: every
    /// text passed to the methods above fits, except [`Self::send_copy`]'s,
    /// which the connector splits.
    fn text_limit(&self) -> usize;
    /// What the connector already knows keeps it from deleting `msg` (no
    /// admin token, a missing permission), without asking the platform;
    /// `None` when nothing is known to (the platform's answer decides).
    fn delete_refusal(&self, msg: &IncomingMessage) -> Option<String>;
    /// Sends the author privately their message as it would have been
    /// reposted (`text` is in the platform's markup, links swapped), in as
    /// many messages as the platform's limit needs, pinging nobody.
    fn send_copy<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()>;
    /// After a crash in the middle of `replace`: whether the repost `text`
    /// of `msg` was already made, and whether the original is still there.
    /// The default cannot tell (the action is done again).
    fn interrupted_replace<'a>(
        &'a self,
        msg: &'a IncomingMessage,
        text: &'a str,
    ) -> ActionFuture<'a, Interrupted> {
        let _ = (msg, text);
        Box::pin(async { Ok(Interrupted::Unknown) })
    }
}

/// What a platform found about a `replace` a crash interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupted {
    /// It cannot tell: the action is done again.
    Unknown,
    /// The repost exists.
    Reposted {
        /// The repost's id.
        repost: String,
        /// Whether the original is still there (to be deleted).
        original_exists: bool,
    },
}

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
        let mut e = AuditEntry::new(kind, msg.platform.as_str());
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
    pub async fn record(&self, msg: &IncomingMessage) -> Result<Step, StoreError> {
        let metrics = crate::metrics::global();
        metrics.message_seen(msg.platform.as_str());
        let (active, verdict) = self.evaluate(msg, false);
        let banned: Vec<&LinkVerdict> = verdict
            .distinct()
            .into_iter()
            .filter(|v| v.block().is_some())
            .collect();
        if banned.is_empty() {
            return Ok(Step::Done(Handled::Clean));
        }
        let channels: Vec<&str> = std::iter::once(msg.channel.as_str())
            .chain(msg.thread.as_deref())
            .collect();
        if let Some(ex) = self
            .store
            .exception_covering(
                msg.platform.as_str(),
                &msg.workspace,
                &msg.author.id,
                &channels,
            )
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
            e.action = Some(block.action.as_str().to_owned());
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

    /// Runs, until aborted, the retry loop of `platform`'s pending actions:
    /// every `poll` it renews the leases of the actions this process is
    /// running, claims the due ones nobody holds (put off after a rate limit
    /// or a server error, or left by a run that crashed or timed out at
    /// shutdown) and carries each out in the background. Spawn it beside a
    /// connector: it never delays readiness or the platform connection.
    pub async fn run_pending(
        self: Arc<Self>,
        platform: Platform,
        actions: Arc<dyn PlatformActions>,
    ) {
        let mut renewed = Instant::now();
        let mut failing = false;
        loop {
            if renewed.elapsed() >= self.retry.lease / 3 {
                renewed = Instant::now();
                let seqs: Vec<i64> = self
                    .running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .copied()
                    .collect();
                if !seqs.is_empty() {
                    if let Err(e) = self
                        .store
                        .renew_leases(&self.owner, &seqs, self.lease_until())
                        .await
                    {
                        tracing::warn!(error = %e, "cannot renew the leases of running actions");
                    }
                }
            }
            match self.claim(platform).await {
                Ok(claimed) => {
                    failing = false;
                    for (p, running) in claimed {
                        let me = self.clone();
                        let actions = actions.clone();
                        self.in_flight.spawn(async move {
                            let seq = p.detection.seq;
                            if let Err(e) = me.resume(p, platform, actions.as_ref()).await {
                                tracing::error!(platform = platform.as_str(), detection.seq = seq, error = %e, "recording a retried action's outcome failed; it stays pending");
                            }
                            drop(running);
                        });
                    }
                }
                Err(e) => {
                    // Logged once per outage, not every poll.
                    if !failing {
                        tracing::warn!(platform = platform.as_str(), error = %e, "cannot look for pending actions; will keep trying");
                    }
                    failing = true;
                }
            }
            tokio::time::sleep(self.retry.poll).await;
        }
    }

    /// At shutdown, after [`Moderator::drain`]: gives up this process's
    /// leases on pending actions it is not running any more (recorded but
    /// never carried out, or whose outcome could not be written), so the
    /// next start or another replica takes them without waiting for the
    /// lease to run out. Actions still running keep theirs.
    pub async fn release_idle_leases(&self) -> Result<usize, StoreError> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut released = 0;
        for p in self.store.pending().await? {
            if p.lease_owner.as_deref() == Some(self.owner.as_str())
                && !running.contains(&p.detection.seq)
                && self
                    .store
                    .release_lease(p.detection.seq, &self.owner)
                    .await?
            {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Claims the due pending actions of `platform` for this process.
    async fn claim(&self, platform: Platform) -> Result<Vec<(PendingAction, Running)>, StoreError> {
        const BATCH: i64 = 16;
        let busy = self.running.lock().unwrap_or_else(|p| p.into_inner()).len() as i64;
        if busy >= 4 * BATCH {
            return Ok(Vec::new());
        }
        let claimed = self
            .store
            .claim_pending(platform.as_str(), &self.owner, self.lease_until(), BATCH)
            .await?;
        Ok(claimed
            .into_iter()
            .filter_map(|p| {
                let running = self.hold(p.detection.seq)?;
                Some((p, running))
            })
            .collect())
    }

    /// Finishes, now, the due pending actions on `platform` that no other
    /// process holds (one pass of [`Moderator::run_pending`], waiting for
    /// each). Returns how many were resolved; put-off ones stay pending.
    pub async fn recover(
        &self,
        platform: Platform,
        actions: &dyn PlatformActions,
    ) -> Result<usize, StoreError> {
        let mut resolved = 0;
        loop {
            let claimed = self.claim(platform).await?;
            if claimed.is_empty() {
                return Ok(resolved);
            }
            for (p, _running) in claimed {
                if !matches!(
                    self.resume(p, platform, actions).await?,
                    Handled::Pending { .. }
                ) {
                    resolved += 1;
                }
            }
        }
    }

    /// Why a stored pending action cannot be trusted, if it cannot: its
    /// payload and progress must carry this process's `audit_key` MAC and
    /// name the message its detection names.
    fn check_payload(
        &self,
        p: &PendingAction,
        platform: Platform,
    ) -> Result<Option<(IncomingMessage, Progress)>, String> {
        let Some(payload) = p.payload.as_deref() else {
            return Ok(None);
        };
        if !self
            .sealer
            .verify("payload", &p.event_key, payload, p.payload_mac.as_deref())
        {
            return Err("the stored message does not verify with audit_key (altered, or written with another key)".into());
        }
        let msg: IncomingMessage = serde_json::from_str(payload)
            .map_err(|e| format!("the stored message does not parse: {e}"))?;
        let d = &p.detection.entry;
        if msg.platform != platform
            || msg.event_key().as_str() != p.event_key
            || d.platform != platform.as_str()
            || d.channel.as_deref() != Some(msg.channel.as_str())
            || d.message_id.as_deref() != Some(msg.message_id.as_str())
        {
            return Err("the stored message is not the one its detection names".into());
        }
        let progress = match p.progress.as_deref() {
            None => Progress::default(),
            Some(text) => {
                let id = format!("{}/{}", p.detection.seq, p.event_key);
                if !self
                    .sealer
                    .verify("progress", &id, text, p.progress_mac.as_deref())
                {
                    return Err("the stored progress does not verify with audit_key".into());
                }
                serde_json::from_str(text)
                    .map_err(|e| format!("the stored progress does not parse: {e}"))?
            }
        };
        Ok(Some((msg, progress)))
    }

    /// Carries out a claimed pending action from where it got, or resolves
    /// it without acting when it cannot be trusted, its message is unknown,
    /// or the policy no longer asks for an action.
    async fn resume(
        &self,
        p: PendingAction,
        platform: Platform,
        actions: &dyn PlatformActions,
    ) -> Result<Handled, StoreError> {
        let (outcome, detail) = match self.check_payload(&p, platform) {
            Ok(Some((msg, progress))) => {
                let (active, verdict) = self.evaluate(&msg, false);
                let banned: Vec<&LinkVerdict> = verdict
                    .distinct()
                    .into_iter()
                    .filter(|v| v.block().is_some())
                    .collect();
                match verdict.action().filter(|_| !banned.is_empty()) {
                    Some(action) => {
                        let anchor = Some(p.detection.seq);
                        let work = Work::new(action, anchor, &active, &verdict, &msg, &banned);
                        let progress = self
                            .found_repost(&msg, &work, actions, progress, p.attempts)
                            .await;
                        return self
                            .act_from(&msg, work, actions, progress, p.attempts)
                            .await;
                    }
                    // The policy changed meanwhile and no longer bans it.
                    _ => (
                        Outcome::Ok,
                        "finished after restart: the policy in force no longer asks for an action"
                            .to_owned(),
                    ),
                }
            }
            Ok(None) => (
                Outcome::Failed,
                "interrupted before the action completed, and the message is not known".to_owned(),
            ),
            Err(why) => {
                tracing::warn!(platform = platform.as_str(), detection.seq = p.detection.seq, reason = %why, "refusing a pending action that does not verify");
                (Outcome::Failed, format!("refused, not executed: {why}"))
            }
        };
        let mut e = AuditEntry::new(Kind::Action, platform.as_str());
        e.channel = p.detection.entry.channel.clone();
        e.message_id = p.detection.entry.message_id.clone();
        e.revision = p.detection.entry.revision.clone();
        e.rule_id = p.detection.entry.rule_id.clone();
        e.action = Some("log".into());
        e.outcome = Some(outcome.clone());
        e.detail = Some(detail.clone());
        match self.store.record_outcome(p.detection.seq, e).await {
            Ok(_) | Err(StoreError::NotPending(_)) => {}
            Err(err) => return Err(err),
        }
        Ok(Handled::Acted {
            action: Action::Log,
            outcome,
            detail: Some(detail),
        })
    }

    /// Carries out recorded work on the platform and records the outcome,
    /// or, when the platform says "not yet", leaves it pending with its
    /// back-off.
    pub async fn act(
        &self,
        msg: &IncomingMessage,
        work: Work,
        actions: &dyn PlatformActions,
    ) -> Result<Handled, StoreError> {
        self.act_from(msg, work, actions, Progress::default(), 0)
            .await
    }

    async fn act_from(
        &self,
        msg: &IncomingMessage,
        work: Work,
        actions: &dyn PlatformActions,
        mut progress: Progress,
        attempts: i64,
    ) -> Result<Handled, StoreError> {
        let _running = work.anchor.and_then(|seq| self.hold(seq));
        let blocks: Vec<&Block> = work.blocks.iter().collect();
        let deadline = Instant::now() + self.retry.attempt_budget;
        let carried = ATTEMPT_DEADLINE
            .scope(
                deadline,
                self.carry_out(msg, actions, &work, &blocks, &mut progress),
            )
            .await;
        let (done, outcome, detail) = match carried {
            Carried::Done(done, outcome, detail) => (done, outcome, detail),
            Carried::Later(why, retry_after) => match work.anchor {
                Some(seq) => {
                    let attempts = attempts + 1;
                    let wait = self.retry.backoff(attempts, retry_after);
                    let next = now_ms().saturating_add(wait.as_millis() as i64);
                    if !self
                        .store
                        .defer_pending(seq, &self.owner, next, &why)
                        .await?
                    {
                        tracing::warn!(
                            platform = msg.platform.as_str(),
                            detection.seq = seq,
                            "lost the lease of a put-off action; its new holder carries it on"
                        );
                    }
                    tracing::info!(
                        platform = msg.platform.as_str(),
                        channel.id = %msg.channel,
                        detection.seq = seq,
                        attempts,
                        wait_ms = wait.as_millis() as u64,
                        reason = %why,
                        "action put off: it stays pending and is retried"
                    );
                    return Ok(Handled::Pending { detail: why });
                }
                // Nothing pending to come back to: record what happened.
                None => (work.action, Outcome::Failed, Some(why)),
            },
        };
        let mut e = self.entry(msg, Kind::Action, work.version);
        e.rule_id = blocks.first().map(|b| b.rule.clone());
        e.provider = Some(work.provider);
        e.link = Some(work.link);
        e.alternative = blocks.first().and_then(|b| b.alternative.clone());
        e.action = Some(done.as_str().to_owned());
        e.outcome = Some(outcome.clone());
        e.detail = detail.clone();
        crate::metrics::global().action(done.as_str(), outcome.as_str(), msg.received.elapsed());
        let started = Instant::now();
        let written = match work.anchor {
            Some(seq) => match self.store.record_outcome(seq, e).await {
                // Another replica (or start-up recovery) resolved it first.
                Ok(_) | Err(StoreError::NotPending(_)) => Ok(()),
                Err(err) => Err(err),
            },
            None => self.store.append(e).await.map(|_| ()),
        };
        crate::metrics::global().audit_append(started.elapsed());
        if written.is_err() {
            crate::metrics::global().audit_append_failed();
        }
        written?;
        Ok(Handled::Acted {
            action: done,
            outcome,
            detail,
        })
    }

    /// A `replace` interrupted (by a crash) after the platform accepted the
    /// repost but before its id was recorded would post the message twice
    /// if simply done again. Where the connector can find such a repost
    /// (and whether the original is still there), `progress` is completed
    /// from what it found, so only what is left is done.
    ///
    /// Only an action that was never put off (`attempts == 0`) is looked
    /// at: one put off by a rate limit or server error stopped at a call the
    /// platform refused, with everything it did recorded, and searching the
    /// channel on every retry of a storm would only add to the storm.
    async fn found_repost(
        &self,
        msg: &IncomingMessage,
        work: &Work,
        actions: &dyn PlatformActions,
        mut progress: Progress,
        attempts: i64,
    ) -> Progress {
        let replacing = progress.action.as_deref().is_none_or(|a| a == "replace");
        if attempts > 0
            || work.action != Action::Replace
            || !replacing
            || progress.repost.is_some()
            || progress.deleted
            || progress.copy
            || msg.has_attachments
        {
            return progress;
        }
        let blocks: Vec<&Block> = work.blocks.iter().collect();
        let text = format!("{}\n{}", work.rewritten, attribution(&work.policy, &blocks));
        match actions.interrupted_replace(msg, &text).await {
            Ok(Interrupted::Reposted {
                repost,
                original_exists,
            }) => {
                progress.action = Some(Action::Replace.as_str().to_owned());
                progress.repost = Some(repost);
                progress.deleted = !original_exists;
                self.note(work.anchor, msg, &progress).await;
            }
            Ok(Interrupted::Unknown) => {}
            Err(e) => {
                tracing::warn!(platform = msg.platform.as_str(), channel.id = %msg.channel, error = %e, "cannot tell whether an interrupted repost was made; doing it again");
            }
        }
        progress
    }

    /// Records `progress` for pending action `anchor` (authenticated, and only
    /// while this process holds it). Returns false if it could not.
    async fn note(&self, anchor: Option<i64>, msg: &IncomingMessage, progress: &Progress) -> bool {
        let Some(seq) = anchor else {
            return true;
        };
        let Ok(text) = serde_json::to_string(progress) else {
            return false;
        };
        let id = format!("{seq}/{}", msg.event_key().as_str());
        let mac = self.sealer.seal("progress", &id, &text);
        match self
            .store
            .record_progress(seq, &self.owner, &text, &mac)
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(
                    detection.seq = seq,
                    "this process no longer holds the action"
                );
                false
            }
            Err(e) => {
                tracing::warn!(detection.seq = seq, error = %e, "cannot record an action's progress");
                false
            }
        }
    }

    /// Carries out `work.action` from where `progress` says it got,
    /// degrading on refusal and recording each step before the next.
    ///
    /// Size never makes an action vanish: what linkguard says is grouped by
    /// rule (see [`crate::notice`]) and cut to the platform's limit, and a
    /// message whose repost would not fit (or could not stand in for it, see
    /// [`IncomingMessage::not_repostable`]) is removed and its author sent
    /// the rewritten text privately, split as needed.
    async fn carry_out(
        &self,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        work: &Work,
        blocks: &[&Block],
        progress: &mut Progress,
    ) -> Carried {
        let policy = &work.policy;
        let limit = actions.text_limit();
        let notice = crate::notice::fit(&notice_text(policy, msg, blocks), limit);
        let mut current = progress
            .action
            .as_deref()
            .and_then(Action::parse)
            .unwrap_or(work.action);
        let mut notice_problem: Option<String> = None;
        loop {
            progress.action = Some(current.as_str().to_owned());
            let result = match current {
                Action::Replace => {
                    let repost = format!("{}\n{}", work.rewritten, attribution(policy, blocks));
                    match why_not_repost(msg, &repost, limit) {
                        // (A repost already made by an earlier attempt is finished.)
                        Some(why) if progress.repost.is_none() => {
                            progress.reasons.push(format!(
                                "replace cannot repost: {why}; the message is removed and the author sent the rewritten text"
                            ));
                            progress.copy = true;
                            current = Action::Delete;
                            progress.action = Some(current.as_str().to_owned());
                            self.note(work.anchor, msg, progress).await;
                            continue;
                        }
                        _ => {
                            self.replace(msg, actions, &repost, work.anchor, progress)
                                .await
                        }
                    }
                }
                Action::Reply => {
                    let mut r = Ok(());
                    if !progress.replied {
                        let text = crate::notice::fit(&reply_text(policy, blocks), limit);
                        r = actions.reply(msg, &text).await;
                        if r.is_ok() {
                            progress.replied = true;
                            self.note(work.anchor, msg, progress).await;
                        }
                    }
                    r
                }
                Action::Delete if progress.copy => {
                    self.remove_with_copy(msg, actions, work, blocks, progress)
                        .await
                }
                Action::Delete => {
                    let mut r = Ok(());
                    if !progress.deleted {
                        r = actions.delete(msg).await;
                        if r.is_ok() {
                            progress.deleted = true;
                            self.note(work.anchor, msg, progress).await;
                        }
                    }
                    r
                }
                Action::Warn => Ok(()),
                Action::Log => Ok(()),
            };
            // Reply and delete also tell the author privately (with how to
            // ask for an exception); warn is only that.
            let result = match result {
                Ok(())
                    if matches!(current, Action::Reply | Action::Delete | Action::Warn)
                        && !progress.notified =>
                {
                    match actions.notify_author(msg, &notice).await {
                        Ok(()) => {
                            progress.notified = true;
                            self.note(work.anchor, msg, progress).await;
                            Ok(())
                        }
                        Err(e @ ActionError::Later { .. }) => Err(e),
                        Err(e) if current == Action::Warn => Err(e),
                        Err(e) => {
                            notice_problem = Some(format!("private notice not sent: {e}"));
                            Ok(())
                        }
                    }
                }
                other => other,
            };
            match result {
                Ok(()) => {
                    let mut reasons = progress.reasons.clone();
                    reasons.extend(notice_problem);
                    let outcome = if current == work.action && reasons.is_empty() {
                        Outcome::Ok
                    } else {
                        Outcome::Degraded
                    };
                    let detail = (!reasons.is_empty()).then(|| reasons.join("; "));
                    return Carried::Done(current, outcome, detail);
                }
                Err(ActionError::Refused(why)) => {
                    progress
                        .reasons
                        .push(format!("{} refused: {why}", current.as_str()));
                    // A removal standing in for a repost degrades like the
                    // repost would have: to a public reply.
                    let next = if progress.copy && current == Action::Delete {
                        progress.copy = false;
                        Some(Action::Reply)
                    } else {
                        current.fallback()
                    };
                    match next {
                        Some(next) => {
                            current = next;
                            // Remember the degradation, so a retry does not
                            // try (and churn) the refused action again.
                            progress.action = Some(next.as_str().to_owned());
                            self.note(work.anchor, msg, progress).await;
                        }
                        None => {
                            return Carried::Done(
                                Action::Log,
                                Outcome::Degraded,
                                Some(progress.reasons.join("; ")),
                            )
                        }
                    }
                }
                Err(ActionError::Failed(why) | ActionError::Gone(why)) => {
                    let mut reasons = progress.reasons.clone();
                    reasons.push(format!("{} failed: {why}", current.as_str()));
                    return Carried::Done(current, Outcome::Failed, Some(reasons.join("; ")));
                }
                Err(ActionError::Later { why, retry_after }) => {
                    return Carried::Later(format!("{}: {why}", current.as_str()), retry_after);
                }
            }
        }
    }

    /// Stands in for a repost that cannot be made: sends the author the
    /// rewritten text first, then removes the message and says why. When the
    /// text is the author's own (it was only too long) and they cannot be
    /// sent it (DMs closed), the message is kept: removing it would lose
    /// their words. A forward, a share or an integration's embed is removed
    /// regardless: its text lives on where it came from. Each step is
    /// recorded in `progress`, so a retry neither sends the copy twice nor
    /// deletes twice.
    async fn remove_with_copy(
        &self,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        work: &Work,
        blocks: &[&Block],
        progress: &mut Progress,
    ) -> Result<(), ActionError> {
        if !progress.deleted {
            // Don't send the author a copy of a message that will stay up.
            if let Some(why) = actions.delete_refusal(msg) {
                return Err(ActionError::Refused(why));
            }
            if !progress.copied {
                match actions.send_copy(msg, &work.rewritten).await {
                    Ok(()) => {
                        progress.copied = true;
                        self.note(work.anchor, msg, progress).await;
                    }
                    Err(e @ ActionError::Later { .. }) => return Err(e),
                    Err(e) => {
                        progress
                            .reasons
                            .push(format!("rewritten text not sent: {e}"));
                        if msg.not_repostable.is_none() {
                            return Err(ActionError::Refused(
                                "the author could not be sent the rewritten text, and removing the message would lose it".into(),
                            ));
                        }
                    }
                }
            }
            actions.delete(msg).await?;
            progress.deleted = true;
            self.note(work.anchor, msg, progress).await;
        }
        if !progress.notified {
            let mut notice = notice_text(&work.policy, msg, blocks);
            notice.push_str(if progress.copied { COPY_SENT } else { REMOVED });
            match actions
                .notify_author(msg, &crate::notice::fit(&notice, actions.text_limit()))
                .await
            {
                Ok(()) => {}
                Err(e @ ActionError::Later { .. }) => return Err(e),
                Err(e) => progress
                    .reasons
                    .push(format!("private notice not sent: {e}")),
            }
            progress.notified = true;
            self.note(work.anchor, msg, progress).await;
        }
        Ok(())
    }

    /// Reposts `text` in place of `msg`, then deletes the original, resuming
    /// from `progress` (a repost recorded by an earlier attempt is not made
    /// again).
    async fn replace(
        &self,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        text: &str,
        anchor: Option<i64>,
        progress: &mut Progress,
    ) -> Result<(), ActionError> {
        if msg.has_attachments {
            return Err(ActionError::Refused(
                "the message has attachments, which a repost would lose".into(),
            ));
        }
        let resumed = progress.repost.is_some();
        let repost = match progress.repost.clone() {
            Some(id) => id,
            None => {
                let id = actions.repost(msg, text).await?;
                // The repost's id is durable before the original goes, so a
                // crash from here on never leads to a second repost.
                progress.repost = Some(id.clone());
                if !self.note(anchor, msg, progress).await {
                    progress.repost = None;
                    let cleanup = match actions.delete_repost(msg, &id).await {
                        Ok(()) => "repost removed".to_owned(),
                        Err(c) => format!("repost {id} could not be removed: {c}"),
                    };
                    return Err(ActionError::later(format!(
                        "could not record the repost before deleting the original ({cleanup})"
                    )));
                }
                id
            }
        };
        if progress.deleted {
            return Ok(());
        }
        // Only once the repost exists (and is recorded) is the original removed.
        let deleted = match actions.delete(msg).await {
            // A repost recorded by an earlier attempt, the original gone: that
            // attempt deleted it and stopped before recording the outcome.
            Err(ActionError::Gone(_)) if resumed => Ok(()),
            other => other,
        };
        match deleted {
            Ok(()) => {
                progress.deleted = true;
                self.note(anchor, msg, progress).await;
                Ok(())
            }
            // Not yet: keep the repost (recorded); the retry deletes the original.
            Err(e @ ActionError::Later { .. }) => Err(e),
            Err(e) => {
                // Don't leave two copies: take the repost back, keep the original.
                let cleanup = match actions.delete_repost(msg, &repost).await {
                    Ok(()) => {
                        progress.repost = None;
                        self.note(anchor, msg, progress).await;
                        "repost removed".to_owned()
                    }
                    Err(c) => format!("repost {repost} could not be removed: {c}"),
                };
                match e {
                    ActionError::Refused(why) => Err(ActionError::Refused(format!(
                        "deleting the original: {why} ({cleanup})"
                    ))),
                    other => Err(ActionError::Failed(format!(
                        "deleting the original: {} ({cleanup})",
                        other
                    ))),
                }
            }
        }
    }
}

/// Appended to the private notice when the rewritten text was sent first.
const COPY_SENT: &str =
    "\nIt could not be reposted for you, so it was removed; your text with the approved links is just above, to post again.";
/// Appended to the private notice when the rewritten text could not be sent.
const REMOVED: &str = "\nIt could not be reposted for you, so it was removed.";

/// Why a repost cannot stand in for `msg`, if it cannot: the message is not
/// its own text (a forward, a share), or the repost `text` is over the
/// platform's `limit`. Files are not a reason here: a message with files is
/// kept and answered instead, since removing it would lose them.
fn why_not_repost(msg: &IncomingMessage, text: &str, limit: usize) -> Option<String> {
    if let Some(why) = &msg.not_repostable {
        return Some(why.clone());
    }
    if msg.has_attachments {
        return None;
    }
    let chars = text.chars().count();
    (chars > limit).then(|| {
        format!("the rewritten message would be {chars} characters, over the platform's {limit}")
    })
}

/// The short line appended to a repost.
pub fn attribution(policy: &Policy, blocks: &[&Block]) -> String {
    let _ = policy;
    format!(
        "_(reposted by linkguard: a meeting link not allowed here was swapped for an approved one; rule {})_",
        crate::notice::rule_list(blocks)
    )
}

/// The thread reply used by `reply`: one line per rule, whatever the number
/// of links.
pub fn reply_text(policy: &Policy, blocks: &[&Block]) -> String {
    let _ = policy;
    let lines = crate::notice::rule_lines(blocks);
    let mut out = String::from(if crate::notice::link_count(blocks) > 1 {
        "These meeting links are not allowed here."
    } else {
        "This meeting link is not allowed here."
    });
    for line in lines {
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// The private notice to the author: what was wrong (one line per rule),
/// what to use instead, and how to ask for an exception.
pub fn notice_text(policy: &Policy, msg: &IncomingMessage, blocks: &[&Block]) -> String {
    let _ = msg;
    let mut out = format!(
        "Your message in this channel had {} not allowed (rule {}).",
        match crate::notice::link_count(blocks) {
            n if n > 1 => format!("{n} meeting links that are"),
            _ => "a meeting link that is".to_owned(),
        },
        crate::notice::rule_list(blocks)
    );
    for line in crate::notice::rule_lines(blocks) {
        out.push('\n');
        out.push_str(&line);
    }
    if let Some(contact) = policy.exception_contact() {
        out.push_str(&format!("\nNeed an exception? {contact}"));
    }
    out
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    #[test]
    fn back_off_doubles_is_capped_jittered_down_and_honours_retry_after() {
        let r = RetrySettings::default();
        for attempts in 1..40 {
            let full = r
                .initial
                .saturating_mul(1 << (attempts.min(21) - 1) as u32)
                .min(r.max);
            let wait = r.backoff(attempts, None);
            assert!(wait >= full / 2 && wait <= full, "{attempts}: {wait:?}");
        }
        assert_eq!(r.backoff(30, None).max(r.max), r.max, "capped");
        let asked = Duration::from_secs(900);
        assert_eq!(r.backoff(1, Some(asked)), asked, "Retry-After wins");
    }

    #[test]
    fn sealed_text_verifies_only_unchanged_and_with_the_same_key() {
        let k = Sealer(b"key".to_vec());
        let tag = k.seal("payload", "slack:3:a/b:0", "{}");
        assert!(k.verify("payload", "slack:3:a/b:0", "{}", Some(&tag)));
        assert!(!k.verify("payload", "slack:3:a/b:0", "{ }", Some(&tag)));
        assert!(!k.verify("payload", "slack:3:a/c:0", "{}", Some(&tag)));
        assert!(!k.verify("progress", "slack:3:a/b:0", "{}", Some(&tag)));
        assert!(!k.verify("payload", "slack:3:a/b:0", "{}", None));
        assert!(!k.verify("payload", "slack:3:a/b:0", "{}", Some("zz")));
        assert!(!Sealer(b"other".to_vec()).verify("payload", "slack:3:a/b:0", "{}", Some(&tag)));
    }

    #[test]
    fn progress_reads_back_what_was_written() {
        let p = Progress {
            action: Some("replace".into()),
            repost: Some("1700000000.000200".into()),
            ..Progress::default()
        };
        let text = serde_json::to_string(&p).expect("json");
        assert_eq!(serde_json::from_str::<Progress>(&text).expect("parse"), p);
        assert_eq!(
            serde_json::from_str::<Progress>("{}").expect("parse"),
            Progress::default()
        );
    }
}
