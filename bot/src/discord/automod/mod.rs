//! AutoMod sync (`discord.automod = true`): Discord blocks what it can
//! express of the policy before a message is posted; linkguard's own
//! detection and replacement handles the rest (wrappers, obfuscation,
//! alternatives), as before.
//!
//! - [`plan`]: the pure planner (policy → AutoMod rules + what is left).
//! - [`Sync`]: the thin applier. It lists a server's rules, keeps those it
//!   owns (named `linkguard: …` *and* created by the bot; others are never
//!   touched) equal to the plan (delete, then update, then create, so the
//!   6-rule cap is respected), and audits every change as `automod`.
//!   A sync runs at start, on every policy change (every replica sees the
//!   new version; a store lease keeps two replicas from writing at once),
//!   on GUILD_ROLE_UPDATE (the bot may have gained or lost Manage Server),
//!   when an owned rule is edited or deleted on Discord (restored, and the
//!   drift audited), and periodically (so an exception's expiry shows).
//!   Without Manage Server a server gets one warning and one `refused`
//!   record; moderation goes on.
//! - AUTO_MODERATION_ACTION_EXECUTION of an owned rule's block action is
//!   recorded as `blocked_natively` (who, where, which policy rule, which
//!   link, redacted): blocks that never became messages still count.

pub mod plan;

use crate::moderation::{Moderator, Platform};
use crate::store::{redact_link, AuditAction, AuditEntry, Kind, Outcome, Store, StoreError};
use linkguard_rules::policy::Policy;
use linkguard_rules::Dialect;
use plan::{Inputs, Plan, NAME_PREFIX};
use serde_json::Value;
use serenity::all::{
    ActionExecution, GatewayIntents, GuildId, Http, Rule as AutoModRule, RuleId, TriggerType,
    UserId,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The gateway intents AutoMod sync adds: rule changes and executions.
pub fn intents() -> GatewayIntents {
    GatewayIntents::AUTO_MODERATION_CONFIGURATION | GatewayIntents::AUTO_MODERATION_EXECUTION
}

/// How long one replica may hold a server's sync lease.
const LEASE: Duration = Duration::from_secs(60);
/// How often every server is synced even without a trigger.
const PERIODIC: Duration = Duration::from_secs(300);
/// How often the exceptions in force are compared with the last look.
const EXCEPTIONS_POLL: Duration = Duration::from_secs(5);
/// How soon a sync another replica is running is tried again.
const BUSY_RETRY: Duration = Duration::from_secs(2);

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

fn refused_for_permission(e: &serenity::Error) -> bool {
    if let serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) = e {
        return r.status_code.as_u16() == 403 || matches!(r.error.code, 50001 | 50013);
    }
    false
}

/// What one apply changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Names of rules created.
    pub created: Vec<String>,
    /// Names of rules updated.
    pub updated: Vec<String>,
    /// Names of rules deleted.
    pub deleted: Vec<String>,
    /// Ids of the rules deleted (their DELETE events are our own echo).
    pub deleted_ids: Vec<u64>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }

    /// "created …; updated …; deleted …".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (verb, list) in [
            ("created", &self.created),
            ("updated", &self.updated),
            ("deleted", &self.deleted),
        ] {
            if !list.is_empty() {
                parts.push(format!("{verb} {}", list.join(", ")));
            }
        }
        if parts.is_empty() {
            "no change".into()
        } else {
            parts.join("; ")
        }
    }
}

/// Whether `rule` is one linkguard owns.
pub fn owned(rule: &AutoModRule, bot: UserId) -> bool {
    rule.creator_id == bot && rule.name.starts_with(NAME_PREFIX)
}

fn id_text(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .or_else(|| v.as_u64().map(|n| n.to_string()))
        .unwrap_or_default()
}

fn id_set(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(id_text).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// The parts of a rule the plan decides, in one comparable shape (from a
/// planned body or from Discord's rule, serialized).
fn comparable(v: &Value) -> Value {
    let meta = &v["trigger_metadata"];
    let list = |f: &str| meta[f].as_array().cloned().unwrap_or_default();
    let actions: Vec<Value> = v["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    serde_json::json!([
                        x["type"].as_u64(),
                        x["metadata"]["custom_message"].as_str(),
                        id_text(&x["metadata"]["channel_id"]),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "name": v["name"],
        "enabled": v["enabled"],
        "trigger_type": v["trigger_type"],
        "keyword_filter": list("keyword_filter"),
        "regex_patterns": list("regex_patterns"),
        "allow_list": list("allow_list"),
        "actions": actions,
        "exempt_roles": id_set(&v["exempt_roles"]),
        "exempt_channels": id_set(&v["exempt_channels"]),
    })
}

/// A server's AutoMod rules: linkguard's, and how many keyword rules others
/// have (they count against the cap of 6).
pub async fn server_rules(
    http: &Http,
    guild: u64,
    bot: UserId,
) -> Result<(Vec<AutoModRule>, usize), SyncError> {
    let all = http
        .get_automod_rules(GuildId::new(guild))
        .await
        .map_err(|e| {
            if refused_for_permission(&e) {
                SyncError::NoPermission(guild)
            } else {
                SyncError::Discord(e)
            }
        })?;
    let others = all
        .iter()
        .filter(|r| !owned(r, bot) && r.trigger.kind() == TriggerType::Keyword)
        .count();
    Ok((all.into_iter().filter(|r| owned(r, bot)).collect(), others))
}

/// What the planner needs from the server and the store.
pub async fn inputs(
    http: &Http,
    store: &Store,
    guild: u64,
    alert_channel: Option<u64>,
    others: usize,
) -> Result<(Inputs, Option<i64>), SyncError> {
    let roles = http.get_guild_roles(GuildId::new(guild)).await?;
    let roles_by_name = roles
        .iter()
        .map(|r| (r.name.to_lowercase(), r.id.get().to_string()))
        .collect();
    let g = guild.to_string();
    let mut channel_exceptions = Vec::new();
    let mut user_exceptions = Vec::new();
    let mut next_expiry = None;
    for e in store.exceptions_active(Platform::Discord).await? {
        if !(e.workspace.is_empty() || e.workspace == g) {
            continue;
        }
        next_expiry = Some(next_expiry.map_or(e.until_ms, |n: i64| n.min(e.until_ms)));
        match e.target {
            crate::store::ExceptionTarget::Channel(c) => channel_exceptions.push(c),
            crate::store::ExceptionTarget::User(u) => user_exceptions.push(u),
        }
    }
    Ok((
        Inputs {
            guild: g,
            roles_by_name,
            channel_exceptions,
            user_exceptions,
            alert_channel: alert_channel.map(|c| c.to_string()),
            slots: plan::MAX_KEYWORD_RULES.saturating_sub(others),
        },
        next_expiry,
    ))
}

/// Makes the owned rules of `guild` equal to `plan`: deletes what the plan
/// no longer has (first, to free slots), updates what differs, creates what
/// is missing. Other rules are never touched.
pub async fn apply(
    http: &Http,
    guild: u64,
    existing: &[AutoModRule],
    plan: &Plan,
    reason: &str,
) -> Result<Changes, SyncError> {
    let g = GuildId::new(guild);
    let mut changes = Changes::default();
    let mut by_name: BTreeMap<&str, &AutoModRule> = BTreeMap::new();
    for r in existing {
        // A duplicate name (two replicas raced before the lease, or an
        // admin copied one) is deleted: one rule per name.
        if by_name.insert(&r.name, r).is_some() {
            http.delete_automod_rule(g, r.id, Some(reason)).await?;
            changes.deleted.push(r.name.clone());
            changes.deleted_ids.push(r.id.get());
        }
    }
    let wanted: HashSet<&str> = plan.rules.iter().map(|r| r.name.as_str()).collect();
    for (name, r) in &by_name {
        if !wanted.contains(name) {
            http.delete_automod_rule(g, r.id, Some(reason)).await?;
            changes.deleted.push((*name).to_owned());
            changes.deleted_ids.push(r.id.get());
        }
    }
    for p in &plan.rules {
        let body = p.body();
        match by_name.get(p.name.as_str()) {
            Some(r) => {
                let current = serde_json::to_value(r).unwrap_or(Value::Null);
                if comparable(&current) != comparable(&body) {
                    http.edit_automod_rule(g, r.id, &body, Some(reason)).await?;
                    changes.updated.push(p.name.clone());
                }
            }
            None => {
                http.create_automod_rule(g, &body, Some(reason)).await?;
                changes.created.push(p.name.clone());
            }
        }
    }
    Ok(changes)
}

/// Deletes every rule linkguard owns in `guild`; returns their names.
pub async fn remove(http: &Http, guild: u64, bot: UserId) -> Result<Vec<String>, SyncError> {
    let (mine, _) = server_rules(http, guild, bot).await?;
    let mut out = Vec::new();
    for r in mine {
        http.delete_automod_rule(GuildId::new(guild), r.id, Some("linkguard automod remove"))
            .await?;
        out.push(r.name);
    }
    Ok(out)
}

/// Plans for one server from what Discord and the store say now.
pub async fn plan_for(
    http: &Http,
    store: &Store,
    policy: &Policy,
    guild: u64,
    bot: UserId,
    alert_channel: Option<u64>,
) -> Result<(Plan, Vec<AutoModRule>, Option<i64>), SyncError> {
    let (mine, others) = server_rules(http, guild, bot).await?;
    let (inputs, next_expiry) = inputs(http, store, guild, alert_channel, others).await?;
    Ok((plan::plan(policy, &inputs), mine, next_expiry))
}

/// What one sync of a server did.
#[derive(Debug, Default)]
pub struct Synced {
    /// The plan it applied.
    pub plan: Plan,
    /// What changed on Discord.
    pub changes: Changes,
    /// Owned rule id → policy rule, after the sync.
    pub owned: HashMap<u64, String>,
    /// Owned rule id → its comparable shape, after the sync (to tell our
    /// own events from someone else's edits).
    pub expected: HashMap<u64, Value>,
    /// The earliest expiry of an exception that shaped the plan (epoch ms).
    pub next_expiry: Option<i64>,
}

/// Plans and applies for one server (the caller holds its lease).
pub async fn sync_once(
    http: &Http,
    store: &Store,
    policy: &Policy,
    guild: u64,
    bot: UserId,
    alert_channel: Option<u64>,
    reason: &Reason,
) -> Result<Synced, SyncError> {
    let (plan, mine, next_expiry) =
        plan_for(http, store, policy, guild, bot, alert_channel).await?;
    let changes = apply(
        http,
        guild,
        &mine,
        &plan,
        &format!("linkguard sync {}", reason.describe()),
    )
    .await?;
    let (now_mine, _) = server_rules(http, guild, bot).await?;
    let expected = now_mine
        .iter()
        .map(|r| {
            (
                r.id.get(),
                comparable(&serde_json::to_value(r).unwrap_or(Value::Null)),
            )
        })
        .collect();
    let owned = now_mine
        .iter()
        .filter_map(|r| plan::rule_of_name(&r.name).map(|p| (r.id.get(), p.to_owned())))
        .collect();
    Ok(Synced {
        plan,
        changes,
        owned,
        expected,
        next_expiry,
    })
}

/// Records what a sync changed (`automod`; `restore` for a drift).
pub async fn audit_changes(
    store: &Store,
    guild: u64,
    version: Option<i64>,
    reason: &Reason,
    changes: &Changes,
) {
    let mut e = AuditEntry::new(Kind::Automod, Platform::Discord);
    e.workspace = Some(guild.to_string());
    e.policy_version = version;
    e.action = Some(if matches!(reason, Reason::Drift(_)) {
        AuditAction::Restore
    } else {
        AuditAction::Sync
    });
    e.outcome = Some(Outcome::Ok);
    e.detail = Some(format!(
        "AutoMod rules {}: {}",
        reason.describe(),
        changes.describe()
    ));
    if let Err(err) = store.append(e).await {
        tracing::warn!(error = %err, "could not audit an AutoMod sync");
    }
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
        let lease = format!("lease.discord.automod.{guild}");
        match self.store().lease_try(&lease, &self.holder, LEASE).await {
            Ok(true) => {}
            Ok(false) => {
                // Another replica is writing; look again shortly (its
                // result may already be what this replica wants).
                tracing::debug!(guild.id = guild, "another replica is syncing AutoMod rules");
                let me = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(BUSY_RETRY).await;
                    me.request(guild, reason);
                });
                return;
            }
            Err(e) => {
                tracing::warn!(guild.id = guild, error = %e, "cannot take the AutoMod sync lease");
                return;
            }
        }
        lock(&self.syncing).insert(guild);
        let result = self.sync_locked(guild, &reason).await;
        lock(&self.syncing).remove(&guild);
        // Events that came during the sync are judged against what it left.
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
        if let Err(e) = self.store().lease_release(&lease, &self.holder).await {
            tracing::debug!(error = %e, "releasing the AutoMod sync lease");
        }
        match result {
            Ok(changes) => {
                self.warned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&guild);
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
            Err(SyncError::NoPermission(g)) => {
                let first = self
                    .warned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(g);
                if first {
                    tracing::warn!(guild.id = g, "discord.automod is on but the bot lacks Manage Server in this server: no AutoMod rules are kept there; linkguard's own moderation goes on. Grant Manage Server to the bot's role to block banned links before they are posted.");
                    let mut e = AuditEntry::new(Kind::Refused, Platform::Discord);
                    e.workspace = Some(g.to_string());
                    e.action = Some(AuditAction::Automod);
                    e.outcome = Some(Outcome::Failed);
                    e.detail = Some(format!(
                        "AutoMod sync refused in server {g}: the bot lacks Manage Server; linkguard's own moderation goes on"
                    ));
                    if let Err(err) = self.store().append(e).await {
                        tracing::warn!(error = %err, "could not audit the missing permission");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(guild.id = guild, error = %e, "AutoMod sync failed; retrying on the next trigger");
            }
        }
    }

    async fn sync_locked(&self, guild: u64, reason: &Reason) -> Result<Changes, SyncError> {
        let bot = self.bot_id().await?;
        let active = self.moderator.policy();
        let done = sync_once(
            &self.http,
            self.store(),
            &active.policy,
            guild,
            bot,
            self.alert_channel,
            reason,
        )
        .await?;
        {
            // The earliest expiry still ahead (an exception's end changes the plan).
            let mut n = lock(&self.next_expiry);
            let now = crate::store::now_ms();
            *n = match (*n, done.next_expiry) {
                (Some(x), Some(at)) if x > now => Some(x.min(at)),
                (_, at) => at,
            };
        }
        let mut owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        owned.clear();
        owned.extend(done.owned);
        *lock(&self.expected) = done.expected;
        lock(&self.deleted).extend(done.changes.deleted_ids.iter().copied());
        Ok(done.changes)
    }

    /// GUILD_ROLE_UPDATE in `guild`.
    pub fn on_role_update(&self, guild: GuildId) {
        self.request(guild.get(), Reason::Permissions);
    }

    /// AUTO_MODERATION_RULE_CREATE/UPDATE/DELETE: an owned rule changed on
    /// Discord. Our own changes come back too; their sync finds nothing to
    /// do, so only a real drift is recorded.
    pub fn on_rule_event(&self, rule: &AutoModRule, what: &'static str) {
        let ours = match self.bot.get() {
            Some(bot) => owned(rule, *bot),
            None => rule.name.starts_with(NAME_PREFIX),
        };
        if !ours || !self.guilds.contains(&rule.guild_id.get()) {
            return;
        }
        if lock(&self.syncing).contains(&rule.guild_id.get()) {
            lock(&self.stashed).push((rule.clone(), what));
            return;
        }
        self.judge(rule, what);
    }

    /// Our own write coming back, or someone else's change (a drift).
    fn judge(&self, rule: &AutoModRule, what: &str) {
        let id = rule.id.get();
        let echo = if what == "deleted" {
            lock(&self.deleted).remove(&id)
        } else {
            let now = comparable(&serde_json::to_value(rule).unwrap_or(Value::Null));
            lock(&self.expected).get(&id) == Some(&now)
        };
        if !echo {
            self.request(
                rule.guild_id.get(),
                Reason::Drift(format!("rule \"{}\" was {what}", rule.name)),
            );
        }
    }

    /// AUTO_MODERATION_ACTION_EXECUTION: a block by an owned rule is
    /// recorded as `blocked_natively` (alerts of the same block are not
    /// counted again).
    pub async fn on_execution(&self, exec: &ActionExecution) {
        if !self.guilds.contains(&exec.guild_id.get()) {
            return;
        }
        if !matches!(
            exec.action,
            serenity::all::automod::Action::BlockMessage { .. }
        ) {
            return;
        }
        let Some(rule) = self.owned_rule(exec.guild_id, exec.rule_id).await else {
            return;
        };
        let active = self.moderator.policy();
        let text = exec
            .matched_content
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(&exec.content);
        let link = active
            .policy
            .detector()
            .find(text, Dialect::Discord)
            .into_iter()
            .next();
        let mut e = AuditEntry::new(Kind::BlockedNatively, Platform::Discord);
        e.workspace = Some(exec.guild_id.get().to_string());
        e.channel = exec.channel_id.map(|c| c.get().to_string());
        e.author = Some(exec.user_id.get().to_string());
        e.rule_id = Some(rule);
        e.policy_version = active.version;
        if let Some(l) = link {
            e.provider = Some(l.provider.as_str().to_owned());
            e.link = Some(redact_link(&l.url));
        }
        e.action = Some(AuditAction::Block);
        e.outcome = Some(Outcome::Ok);
        e.detail = Some(format!(
            "blocked by Discord AutoMod rule {} before it was posted",
            exec.rule_id
        ));
        if let Err(err) = self.store().append(e).await {
            tracing::warn!(error = %err, "could not record a native block");
        }
    }

    async fn owned_rule(&self, guild: GuildId, id: RuleId) -> Option<String> {
        if let Some(r) = self
            .owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id.get())
        {
            return Some(r.clone());
        }
        // Synced by another replica: ask Discord whose rule it is.
        let bot = self.bot_id().await.ok()?;
        let rule = self.http.get_automod_rule(guild, id).await.ok()?;
        owned(&rule, bot).then(|| plan::rule_of_name(&rule.name).map(str::to_owned))?
    }
}
