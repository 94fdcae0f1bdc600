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

use crate::store::{AuditEntry, EventKey, Kind, Outcome, Recorded, Store, StoreError};
use linkguard_rules::eval::{Block, LinkVerdict, MessageContext, Verdict};
use linkguard_rules::policy::{Action, Policy, RoomKey};
use linkguard_rules::Dialect;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Instant;

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
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionError::Refused(why) => write!(f, "refused: {why}"),
            ActionError::Failed(why) => write!(f, "failed: {why}"),
        }
    }
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

/// The moderation pipeline shared by every connector.
pub struct Moderator {
    store: Store,
    policy: RwLock<ActivePolicy>,
    version_tx: tokio::sync::watch::Sender<Option<i64>>,
    in_flight: tokio_util::task::TaskTracker,
    key: RoomKey,
    keep_text: bool,
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
        }
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
        let mut rx = match self.store.policy_changes().await {
            Ok(rx) => rx,
            Err(e) => {
                tracing::error!(error = %e, "cannot follow policy changes");
                return;
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
        let payload = serde_json::to_string(msg).ok();
        let recorded = self
            .store
            .record_detection_with(&msg.event_key(), entries, payload)
            .await?;
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
        let first = banned[0];
        Ok(Step::Act(Box::new(Work {
            action,
            anchor,
            version: active.version,
            rewritten: verdict.rewrite(&msg.text, msg.platform.dialect()),
            blocks: banned.iter().filter_map(|v| v.block().cloned()).collect(),
            provider: first.link.provider.as_str().to_owned(),
            link: first.link.url.clone(),
            policy: active.policy.clone(),
        })))
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

    /// Finishes the actions left pending by an earlier run (a crash or a
    /// shutdown that timed out) on `platform`, using `actions`. An action whose
    /// message is unknown is recorded as failed. Returns how many were resolved.
    pub async fn recover(
        &self,
        platform: Platform,
        actions: &dyn PlatformActions,
    ) -> Result<usize, StoreError> {
        let mut resolved = 0;
        for p in self.store.pending().await? {
            if p.detection.entry.platform != platform.as_str() {
                continue;
            }
            let msg: Option<IncomingMessage> = p
                .payload
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok());
            let outcome = match msg {
                Some(msg) => {
                    let (active, verdict) = self.evaluate(&msg, false);
                    let banned: Vec<&LinkVerdict> = verdict
                        .distinct()
                        .into_iter()
                        .filter(|v| v.block().is_some())
                        .collect();
                    match (verdict.action(), banned.first()) {
                        (Some(action), Some(first)) => {
                            let work = Work {
                                action,
                                anchor: Some(p.detection.seq),
                                version: active.version,
                                rewritten: verdict.rewrite(&msg.text, msg.platform.dialect()),
                                blocks: banned.iter().filter_map(|v| v.block().cloned()).collect(),
                                provider: first.link.provider.as_str().to_owned(),
                                link: first.link.url.clone(),
                                policy: active.policy.clone(),
                            };
                            match self.resume_replace(&msg, &work, actions).await {
                                Some(detail) => {
                                    self.record_act(&msg, work, Action::Replace, Outcome::Ok, Some(detail))
                                        .await?;
                                }
                                None => {
                                    self.act(&msg, work, actions).await?;
                                }
                            }
                            resolved += 1;
                            continue;
                        }
                        // The policy changed meanwhile and no longer bans it.
                        _ => (Outcome::Ok, "finished after restart: the policy in force no longer asks for an action".to_owned()),
                    }
                }
                None => (
                    Outcome::Failed,
                    "interrupted before the action completed, and the message is not known"
                        .to_owned(),
                ),
            };
            let mut e = AuditEntry::new(Kind::Action, platform.as_str());
            e.channel = p.detection.entry.channel.clone();
            e.message_id = p.detection.entry.message_id.clone();
            e.revision = p.detection.entry.revision.clone();
            e.rule_id = p.detection.entry.rule_id.clone();
            e.action = Some("log".into());
            e.outcome = Some(outcome.0);
            e.detail = Some(outcome.1);
            match self.store.record_outcome(p.detection.seq, e).await {
                Ok(_) => resolved += 1,
                Err(StoreError::NotPending(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(resolved)
    }

    /// A `replace` interrupted by a crash may have reposted (and even deleted
    /// the original) already: doing it again would post the message twice.
    /// When the platform finds the repost, only what is left (the delete) is
    /// done; returns the outcome's detail then. `None`: do the action again.
    async fn resume_replace(
        &self,
        msg: &IncomingMessage,
        work: &Work,
        actions: &dyn PlatformActions,
    ) -> Option<String> {
        if work.action != Action::Replace || msg.has_attachments {
            return None;
        }
        let blocks: Vec<&Block> = work.blocks.iter().collect();
        let text = format!("{}\n{}", work.rewritten, attribution(&work.policy, &blocks));
        let (repost, original_exists) = match actions.interrupted_replace(msg, &text).await {
            Ok(Interrupted::Reposted {
                repost,
                original_exists,
            }) => (repost, original_exists),
            Ok(Interrupted::Unknown) => return None,
            Err(e) => {
                tracing::warn!(platform = msg.platform.as_str(), channel.id = %msg.channel, error = %e, "cannot tell whether an interrupted repost was made; doing it again");
                return None;
            }
        };
        if !original_exists {
            return Some("finished after restart: the repost and the delete were done before the interruption".into());
        }
        match actions.delete(msg).await {
            Ok(()) => Some(
                "finished after restart: the repost made before the interruption was kept and the original deleted"
                    .into(),
            ),
            Err(e) => {
                // Take the repost back and start over, degrading as usual.
                if let Err(c) = actions.delete_repost(msg, &repost).await {
                    tracing::warn!(platform = msg.platform.as_str(), channel.id = %msg.channel, error = %c, "cannot take back an interrupted repost");
                }
                tracing::warn!(platform = msg.platform.as_str(), channel.id = %msg.channel, error = %e, "finishing an interrupted replace failed; doing it again");
                None
            }
        }
    }

    /// Carries out recorded work on the platform and records the outcome.
    pub async fn act(
        &self,
        msg: &IncomingMessage,
        work: Work,
        actions: &dyn PlatformActions,
    ) -> Result<Handled, StoreError> {
        let blocks: Vec<&Block> = work.blocks.iter().collect();
        let (done, outcome, detail) = self
            .carry_out(
                msg,
                actions,
                work.action,
                &work.policy,
                &blocks,
                &work.rewritten,
            )
            .await;
        self.record_act(msg, work, done, outcome, detail).await
    }

    /// Records the outcome of `work` (the action finally attempted).
    async fn record_act(
        &self,
        msg: &IncomingMessage,
        work: Work,
        done: Action,
        outcome: Outcome,
        detail: Option<String>,
    ) -> Result<Handled, StoreError> {
        let blocks: Vec<&Block> = work.blocks.iter().collect();
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
        written?;
        Ok(Handled::Acted {
            action: done,
            outcome,
            detail,
        })
    }

    /// Carries out `action`, degrading on refusal. Returns the action finally
    /// attempted, its outcome, and why it degraded or failed.
    async fn carry_out(
        &self,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        action: Action,
        policy: &Policy,
        blocks: &[&Block],
        rewritten: &str,
    ) -> (Action, Outcome, Option<String>) {
        let notice = notice_text(policy, msg, blocks);
        let mut reasons: Vec<String> = Vec::new();
        let mut current = Some(action);
        while let Some(a) = current {
            let result = match a {
                Action::Replace => self.replace(msg, actions, rewritten, blocks, policy).await,
                Action::Reply => {
                    let r = actions.reply(msg, &reply_text(policy, blocks)).await;
                    if r.is_ok() {
                        // The author also hears it privately, with how to ask for an exception.
                        if let Err(e) = actions.notify_author(msg, &notice).await {
                            reasons.push(format!("private notice not sent: {e}"));
                        }
                    }
                    r
                }
                Action::Delete => {
                    let r = actions.delete(msg).await;
                    if r.is_ok() {
                        if let Err(e) = actions.notify_author(msg, &notice).await {
                            reasons.push(format!("private notice not sent: {e}"));
                        }
                    }
                    r
                }
                Action::Warn => actions.notify_author(msg, &notice).await,
                Action::Log => Ok(()),
            };
            match result {
                Ok(()) => {
                    let outcome = if a == action && reasons.is_empty() {
                        Outcome::Ok
                    } else {
                        Outcome::Degraded
                    };
                    let detail = (!reasons.is_empty()).then(|| reasons.join("; "));
                    return (a, outcome, detail);
                }
                Err(ActionError::Refused(why)) => {
                    reasons.push(format!("{} refused: {why}", a.as_str()));
                    current = a.fallback();
                }
                Err(ActionError::Failed(why)) => {
                    reasons.push(format!("{} failed: {why}", a.as_str()));
                    return (a, Outcome::Failed, Some(reasons.join("; ")));
                }
            }
        }
        (Action::Log, Outcome::Degraded, Some(reasons.join("; ")))
    }

    async fn replace(
        &self,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        rewritten: &str,
        blocks: &[&Block],
        policy: &Policy,
    ) -> Result<(), ActionError> {
        if msg.has_attachments {
            return Err(ActionError::Refused(
                "the message has attachments, which a repost would lose".into(),
            ));
        }
        let text = format!("{rewritten}\n{}", attribution(policy, blocks));
        let repost = actions.repost(msg, &text).await?;
        // Only once the repost exists is the original removed.
        match actions.delete(msg).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // Don't leave two copies: take the repost back, keep the original.
                let cleanup = match actions.delete_repost(msg, &repost).await {
                    Ok(()) => "repost removed".to_owned(),
                    Err(c) => format!("repost {repost} could not be removed: {c}"),
                };
                match e {
                    ActionError::Refused(why) => Err(ActionError::Refused(format!(
                        "deleting the original: {why} ({cleanup})"
                    ))),
                    ActionError::Failed(why) => Err(ActionError::Failed(format!(
                        "deleting the original: {why} ({cleanup})"
                    ))),
                }
            }
        }
    }
}

fn provider_names(policy: &Policy, blocks: &[&Block]) -> String {
    let _ = policy;
    let mut rules: Vec<&str> = blocks.iter().map(|b| b.rule.as_str()).collect();
    rules.dedup();
    rules.join(", ")
}

/// The short line appended to a repost.
pub fn attribution(policy: &Policy, blocks: &[&Block]) -> String {
    format!(
        "_(reposted by linkguard: a meeting link not allowed here was swapped for an approved one; rule {})_",
        provider_names(policy, blocks)
    )
}

/// The thread reply used by `reply`.
pub fn reply_text(policy: &Policy, blocks: &[&Block]) -> String {
    let mut out = String::from("This meeting link is not allowed here.");
    for b in blocks {
        if !b.reason.is_empty() {
            out.push(' ');
            out.push_str(&b.reason);
        }
        if let Some(alt) = &b.alternative {
            out.push_str(&format!("\nUse this instead: {alt}"));
        }
    }
    let _ = policy;
    out
}

/// The private notice to the author: what was wrong, what to use instead, and
/// how to ask for an exception.
pub fn notice_text(policy: &Policy, msg: &IncomingMessage, blocks: &[&Block]) -> String {
    let mut out = format!(
        "Your message in this channel had a meeting link that is not allowed (rule {}).",
        provider_names(policy, blocks)
    );
    for b in blocks {
        if !b.reason.is_empty() {
            out.push(' ');
            out.push_str(&b.reason);
        }
        if let Some(alt) = &b.alternative {
            out.push_str(&format!("\nUse this instead: {alt}"));
        }
    }
    if let Some(contact) = policy.exception_contact() {
        out.push_str(&format!("\nNeed an exception? {contact}"));
    }
    let _ = msg;
    out
}
