//! AutoMod sync (`discord.automod = true`): Discord blocks what it can
//! express of the policy before a message is posted; linkguard's own
//! detection and replacement handles the rest (wrappers, obfuscation,
//! alternatives), as before.
//!
//! - [`plan`]: the pure planner (policy → AutoMod rules + what is left);
//!   `patterns`: what one policy rule becomes in AutoMod's regexes.
//! - `apply`: one sync of one [`Server`]. It lists the server's rules,
//!   keeps those it owns (named `linkguard: …` *and* created by the bot;
//!   others are never touched) equal to the plan (delete, then update, then
//!   create, so the 6-rule cap is respected), and audits every change as
//!   `automod`.
//! - [`Sync`] (here): the running applier of every allowed server.
//!   A sync runs at start, on every policy change (every replica sees the
//!   new version; a store lease keeps two replicas from writing at once),
//!   on GUILD_ROLE_UPDATE (the bot may have gained or lost Manage Server),
//!   when an owned rule is edited or deleted on Discord (restored, and the
//!   drift audited), and periodically (so an exception's expiry shows).
//!   Without Manage Server a server gets one warning and one `refused`
//!   record; moderation goes on.
//! - `events`: the gateway's AutoMod events, rule changes (echo or drift)
//!   and AUTO_MODERATION_ACTION_EXECUTION: an owned rule's block action is
//!   recorded as `blocked_natively` (who, where, which policy rule, which
//!   link, redacted): blocks that never became messages still count.

mod apply;
mod events;
mod patterns;
pub mod plan;

pub use apply::{audit_changes, owned, Changes, Server, Synced};

use crate::moderation::{Moderator, Platform};
use crate::store::{AuditAction, AuditEntry, Kind, Outcome, Store, StoreError};
use serde_json::Value;
use serenity::all::{GatewayIntents, Http, Rule as AutoModRule, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The gateway intents AutoMod sync adds: rule changes and executions.
pub fn intents() -> GatewayIntents {
    GatewayIntents::AUTO_MODERATION_CONFIGURATION | GatewayIntents::AUTO_MODERATION_EXECUTION
}

/// How long one replica (or `linkguard discord automod apply`) may hold a
/// server's sync lease.
pub const LEASE: Duration = Duration::from_secs(60);
/// How often every server is synced even without a trigger.
const PERIODIC: Duration = Duration::from_secs(300);
/// How often the exceptions in force are compared with the last look.
const EXCEPTIONS_POLL: Duration = Duration::from_secs(5);
/// How soon a sync another replica is running is tried again.
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// The store lease that keeps two writers from syncing `guild` at once.
pub fn lease_name(guild: u64) -> String {
    format!("lease.discord.automod.{guild}")
}

/// Why a server is synced (for logs and the audit record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// linkguard started.
    Start,
    /// A new policy version is active.
    Policy,
    /// The bot's roles or permissions changed.
    Permissions,
    /// An owned rule was edited or deleted on Discord.
    Drift(String),
    /// The periodic check (exceptions expire).
    Periodic,
    /// Exceptions were granted or revoked.
    Exceptions,
    /// An admin asked (`linkguard discord automod apply`).
    Manual,
}

impl Reason {
    fn describe(&self) -> String {
        match self {
            Reason::Start => "at start".into(),
            Reason::Policy => "after a policy change".into(),
            Reason::Permissions => "after a permission change".into(),
            Reason::Drift(what) => format!("after {what} on Discord (drift restored)"),
            Reason::Periodic => "on the periodic check".into(),
            Reason::Exceptions => "after the exceptions in force changed".into(),
            Reason::Manual => "by an admin".into(),
        }
    }
}

/// Why a sync could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The bot lacks Manage Server in the server (403, code 50013 / 50001).
    #[error("the bot lacks the Manage Server permission in server {0}, which AutoMod rules need")]
    NoPermission(u64),
    /// Discord refused or failed otherwise.
    #[error("Discord: {0}")]
    Discord(#[from] serenity::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running sync of every allowed server.
pub struct Sync {
    http: Arc<Http>,
    moderator: Arc<Moderator>,
    guilds: Vec<u64>,
    alert_channel: Option<u64>,
    /// This process, as lease holder.
    holder: String,
    bot: OnceLock<UserId>,
    /// Servers due for a sync, and why.
    due: Mutex<HashMap<u64, Reason>>,
    kick: tokio::sync::Notify,
    /// Servers warned about a missing Manage Server (once each).
    warned: Mutex<HashSet<u64>>,
    /// Servers being synced now; rule events meanwhile wait in `stashed`
    /// until the sync knows what it wrote.
    syncing: Mutex<HashSet<u64>>,
    stashed: Mutex<Vec<(AutoModRule, &'static str)>>,
    /// Owned rules as the last sync left them, and ids it deleted: events
    /// that match are our own echo, not drift.
    expected: Mutex<HashMap<u64, Value>>,
    deleted: Mutex<HashSet<u64>>,
    /// Owned rule id → policy rule, as last seen.
    owned: Mutex<HashMap<u64, String>>,
    /// Ids of rules another member created (never ours): a server's own
    /// rules block messages all day, and each block must not cost a call.
    others: Mutex<HashSet<u64>>,
    /// The earliest expiry of an exception that shapes a plan (epoch ms).
    next_expiry: Mutex<Option<i64>>,
}

impl std::fmt::Debug for Sync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sync")
            .field("guilds", &self.guilds)
            .finish_non_exhaustive()
    }
}

impl Sync {
    /// A sync of `guilds`, due at once for every one of them.
    pub fn new(
        http: Arc<Http>,
        moderator: Arc<Moderator>,
        guilds: &[u64],
        alert_channel: Option<u64>,
    ) -> Arc<Sync> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let sync = Arc::new(Sync {
            http,
            moderator,
            guilds: guilds.to_vec(),
            alert_channel,
            holder: format!("{}-{nanos}", std::process::id()),
            bot: OnceLock::new(),
            due: Mutex::new(HashMap::new()),
            kick: tokio::sync::Notify::new(),
            warned: Mutex::new(HashSet::new()),
            syncing: Mutex::new(HashSet::new()),
            stashed: Mutex::new(Vec::new()),
            expected: Mutex::new(HashMap::new()),
            deleted: Mutex::new(HashSet::new()),
            owned: Mutex::new(HashMap::new()),
            others: Mutex::new(HashSet::new()),
            next_expiry: Mutex::new(None),
        });
        for g in guilds {
            sync.request(*g, Reason::Start);
        }
        sync
    }

    fn store(&self) -> &Store {
        self.moderator.store()
    }

    /// Asks for a sync of `guild` (coalesced with any already due).
    pub fn request(&self, guild: u64, reason: Reason) {
        if !self.guilds.contains(&guild) {
            return;
        }
        self.due
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(guild)
            .and_modify(|r| match (&mut *r, &reason) {
                // Every drift seen is worth saying in the record.
                (Reason::Drift(seen), Reason::Drift(more)) if !seen.contains(more.as_str()) => {
                    seen.push_str("; ");
                    seen.push_str(more);
                }
                (Reason::Drift(_), Reason::Drift(_)) => {}
                (_, Reason::Drift(_)) => *r = reason.clone(),
                _ => {}
            })
            .or_insert(reason);
        self.kick.notify_one();
    }

    fn request_all(&self, reason: Reason) {
        for g in &self.guilds {
            self.request(*g, reason.clone());
        }
    }

    async fn bot_id(&self) -> Result<UserId, SyncError> {
        if let Some(id) = self.bot.get() {
            return Ok(*id);
        }
        let me = self.http.get_current_user().await?;
        let _ = self.bot.set(me.id);
        Ok(me.id)
    }

    /// Runs until the task is dropped: syncs due servers, on policy
    /// changes, and periodically.
    pub async fn run(self: Arc<Self>) {
        let mut versions = self.moderator.policy_versions();
        let mut seen = None;
        let mut periodic = tokio::time::Instant::now() + PERIODIC;
        // An interval, not a sleep per turn: other wake-ups must not keep
        // putting the look at the exceptions off.
        let mut poll = tokio::time::interval(EXCEPTIONS_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due: Vec<(u64, Reason)> = self
                .due
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain()
                .collect();
            for (guild, reason) in due {
                self.sync_guild(guild, reason).await;
            }
            let mut due_at = periodic;
            if let Some(at) = *self.next_expiry.lock().unwrap_or_else(|p| p.into_inner()) {
                let ms = (at - crate::store::now_ms()).max(0) as u64 + 1000;
                due_at = due_at.min(tokio::time::Instant::now() + Duration::from_millis(ms));
            }
            tokio::select! {
                () = self.kick.notified() => {}
                changed = versions.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.request_all(Reason::Policy);
                }
                // An approved request grants an exception (this process).
                () = self.store().requests_changed() => self.check_exceptions(&mut seen).await,
                // Exceptions granted or revoked anywhere (chat, CLI, replicas).
                _ = poll.tick() => self.check_exceptions(&mut seen).await,
                () = tokio::time::sleep_until(due_at) => {
                    periodic = tokio::time::Instant::now() + PERIODIC;
                    self.request_all(Reason::Periodic);
                }
            }
        }
    }

    /// Requests a sync of every server when the exceptions in force changed
    /// (a user exception takes rules off AutoMod; a channel one exempts the
    /// channel), so nobody with an exception is blocked natively.
    async fn check_exceptions(&self, seen: &mut Option<Vec<i64>>) {
        let Ok(now) = self.store().exceptions_active(Platform::Discord).await else {
            return;
        };
        let ids: Vec<i64> = now.iter().map(|e| e.id).collect();
        if seen.as_ref().is_some_and(|s| *s != ids) {
            self.request_all(Reason::Exceptions);
        }
        *seen = Some(ids);
    }

    /// One server: under the lease, plan and apply; audit what changed.
    async fn sync_guild(self: &Arc<Self>, guild: u64, reason: Reason) {
        let lease = lease_name(guild);
        if !self.take_lease(&lease, guild, &reason).await {
            return;
        }
        lock(&self.syncing).insert(guild);
        let result = self.sync_locked(guild, &reason).await;
        lock(&self.syncing).remove(&guild);
        self.judge_stashed(guild);
        if let Err(e) = self.store().lease_release(&lease, &self.holder).await {
            tracing::debug!(error = %e, "releasing the AutoMod sync lease");
        }
        match result {
            Ok(changes) => {
                lock(&self.warned).remove(&guild);
                if !changes.is_empty() {
                    tracing::info!(guild.id = guild, changes = %changes.describe(), reason = %reason.describe(), "AutoMod rules synced");
                    audit_changes(
                        self.store(),
                        guild,
                        self.moderator.policy().version,
                        &reason,
                        &changes,
                    )
                    .await;
                }
            }
            Err(SyncError::NoPermission(g)) => self.refused(g).await,
            Err(e) => {
                tracing::warn!(guild.id = guild, error = %e, "AutoMod sync failed; retrying on the next trigger");
            }
        }
    }

    /// Takes `guild`'s sync lease. When another replica holds it, asks for
    /// this sync again shortly (its result may already be what this replica
    /// wants) and says no; so does a store that does not answer.
    async fn take_lease(self: &Arc<Self>, lease: &str, guild: u64, reason: &Reason) -> bool {
        match self.store().lease_try(lease, &self.holder, LEASE).await {
            Ok(true) => true,
            Ok(false) => {
                tracing::debug!(guild.id = guild, "another replica is syncing AutoMod rules");
                let me = self.clone();
                let reason = reason.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(BUSY_RETRY).await;
                    me.request(guild, reason);
                });
                false
            }
            Err(e) => {
                tracing::warn!(guild.id = guild, error = %e, "cannot take the AutoMod sync lease");
                false
            }
        }
    }

    /// Judges the rule events of `guild` that came during its sync against
    /// what the sync left.
    fn judge_stashed(&self, guild: u64) {
        let waiting: Vec<(AutoModRule, &'static str)> = {
            let mut stashed = lock(&self.stashed);
            let (mine, others) = stashed
                .drain(..)
                .partition(|(r, _)| r.guild_id.get() == guild);
            *stashed = others;
            mine
        };
        for (rule, what) in waiting {
            self.judge(&rule, what);
        }
    }

    /// Without Manage Server in `guild`: warns and records `refused` once
    /// (until a sync there succeeds); moderation goes on.
    async fn refused(&self, guild: u64) {
        if !lock(&self.warned).insert(guild) {
            return;
        }
        tracing::warn!(guild.id = guild, "discord.automod is on but the bot lacks Manage Server in this server: no AutoMod rules are kept there; linkguard's own moderation goes on. Grant Manage Server to the bot's role to block banned links before they are posted.");
        let mut e = AuditEntry::new(Kind::Refused, Platform::Discord);
        e.workspace = Some(guild.to_string());
        e.action = Some(AuditAction::Automod);
        e.outcome = Some(Outcome::Failed);
        e.detail = Some(format!(
            "AutoMod sync refused in server {guild}: the bot lacks Manage Server; linkguard's own moderation goes on"
        ));
        if let Err(err) = self.store().append(e).await {
            tracing::warn!(error = %err, "could not audit the missing permission");
        }
    }

    /// Plans and applies for `guild` (the lease is held), and keeps what
    /// the sync left: owned rules, their shapes, deleted ids, next expiry.
    async fn sync_locked(&self, guild: u64, reason: &Reason) -> Result<Changes, SyncError> {
        let server = Server {
            http: &self.http,
            store: self.store(),
            guild,
            bot: self.bot_id().await?,
            alert_channel: self.alert_channel,
        };
        let active = self.moderator.policy();
        let done = server.sync(&active.policy, reason).await?;
        {
            // The earliest expiry still ahead (an exception's end changes the plan).
            let mut n = lock(&self.next_expiry);
            let now = crate::store::now_ms();
            *n = match (*n, done.next_expiry) {
                (Some(x), Some(at)) if x > now => Some(x.min(at)),
                (_, at) => at,
            };
        }
        let mut owned = lock(&self.owned);
        owned.clear();
        owned.extend(done.owned);
        *lock(&self.expected) = done.expected;
        lock(&self.deleted).extend(done.changes.deleted_ids.iter().copied());
        Ok(done.changes)
    }
}
