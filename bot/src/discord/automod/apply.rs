//! One sync of one server against Discord's REST API: list the server's
//! AutoMod rules, gather what the planner needs (roles, exceptions in
//! force), make the rules linkguard owns equal to the plan, and audit what
//! changed. Used by the running [`super::Sync`] (under its store lease) and
//! by `linkguard discord automod`.

use super::plan::{self, Inputs, Plan, NAME_PREFIX};
use super::{Reason, SyncError};
use crate::store::{AuditAction, AuditEntry, ExceptionTarget, Kind, Outcome, Platform, Store};
use linkguard_rules::policy::Policy;
use serde_json::Value;
use serenity::all::{GuildId, Http, Rule as AutoModRule, TriggerType, UserId};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Whether Discord refused for want of Manage Server.
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

/// An id Discord sent as a string or a number, as text.
fn id_text(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .or_else(|| v.as_u64().map(|n| n.to_string()))
        .unwrap_or_default()
}

/// A list of ids, as sorted text.
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
pub(super) fn comparable(v: &Value) -> Value {
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

/// The comparable shape of a rule as Discord has it.
pub(super) fn comparable_rule(rule: &AutoModRule) -> Value {
    comparable(&serde_json::to_value(rule).unwrap_or(Value::Null))
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

/// One server, as a sync sees it: whom to ask, where exceptions are kept,
/// whose rules are linkguard's and where AutoMod posts its alerts.
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    /// Discord's REST API.
    pub http: &'a Http,
    /// The store (exceptions in force).
    pub store: &'a Store,
    /// The server (guild id).
    pub guild: u64,
    /// The bot's user: the creator of every rule linkguard owns.
    pub bot: UserId,
    /// `discord.automod_alert_channel_id`.
    pub alert_channel: Option<u64>,
}

impl Server<'_> {
    /// The server's AutoMod rules: linkguard's, and how many keyword rules
    /// others have (they count against the cap of 6).
    pub async fn rules(&self) -> Result<(Vec<AutoModRule>, usize), SyncError> {
        let all = self
            .http
            .get_automod_rules(GuildId::new(self.guild))
            .await
            .map_err(|e| {
                if refused_for_permission(&e) {
                    SyncError::NoPermission(self.guild)
                } else {
                    SyncError::Discord(e)
                }
            })?;
        let others = all
            .iter()
            .filter(|r| !owned(r, self.bot) && r.trigger.kind() == TriggerType::Keyword)
            .count();
        Ok((
            all.into_iter().filter(|r| owned(r, self.bot)).collect(),
            others,
        ))
    }

    /// What the planner needs from the server and the store, and the
    /// earliest expiry of an exception it counted (epoch ms).
    pub async fn inputs(&self, others: usize) -> Result<(Inputs, Option<i64>), SyncError> {
        let roles = self.http.get_guild_roles(GuildId::new(self.guild)).await?;
        let roles_by_name = roles
            .iter()
            .map(|r| (r.name.to_lowercase(), r.id.get().to_string()))
            .collect();
        let g = self.guild.to_string();
        let mut channel_exceptions = Vec::new();
        let mut user_exceptions = Vec::new();
        let mut next_expiry = None;
        for e in self.store.exceptions_active(Platform::Discord).await? {
            if !(e.workspace.is_empty() || e.workspace == g) {
                continue;
            }
            next_expiry = Some(next_expiry.map_or(e.until_ms, |n: i64| n.min(e.until_ms)));
            match e.target {
                ExceptionTarget::Channel(c) => channel_exceptions.push(c),
                ExceptionTarget::User(u) => user_exceptions.push(u),
            }
        }
        Ok((
            Inputs {
                guild: g,
                roles_by_name,
                channel_exceptions,
                user_exceptions,
                alert_channel: self.alert_channel.map(|c| c.to_string()),
                slots: plan::MAX_KEYWORD_RULES.saturating_sub(others),
            },
            next_expiry,
        ))
    }

    /// Plans for the server from what Discord and the store say now; also
    /// returns the owned rules it has and the next exception expiry.
    pub async fn plan(
        &self,
        policy: &Policy,
    ) -> Result<(Plan, Vec<AutoModRule>, Option<i64>), SyncError> {
        let (mine, others) = self.rules().await?;
        let (inputs, next_expiry) = self.inputs(others).await?;
        Ok((plan::plan(policy, &inputs), mine, next_expiry))
    }

    /// Makes the owned rules equal to `plan`: deletes what the plan no
    /// longer has (first, to free slots), updates what differs, creates
    /// what is missing. Other rules are never touched.
    pub async fn apply(
        &self,
        existing: &[AutoModRule],
        plan: &Plan,
        reason: &str,
    ) -> Result<Changes, SyncError> {
        let g = GuildId::new(self.guild);
        let http = self.http;
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
                    if comparable_rule(r) != comparable(&body) {
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

    /// Plans and applies (the caller holds the server's lease); says what
    /// the owned rules are afterwards.
    pub async fn sync(&self, policy: &Policy, reason: &Reason) -> Result<Synced, SyncError> {
        let (plan, mine, next_expiry) = self.plan(policy).await?;
        let changes = self
            .apply(
                &mine,
                &plan,
                &format!("linkguard sync {}", reason.describe()),
            )
            .await?;
        let (now_mine, _) = self.rules().await?;
        let expected = now_mine
            .iter()
            .map(|r| (r.id.get(), comparable_rule(r)))
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

    /// Deletes every rule linkguard owns in the server; returns their names.
    pub async fn remove(&self) -> Result<Vec<String>, SyncError> {
        let (mine, _) = self.rules().await?;
        let mut out = Vec::new();
        for r in mine {
            self.http
                .delete_automod_rule(
                    GuildId::new(self.guild),
                    r.id,
                    Some("linkguard automod remove"),
                )
                .await?;
            out.push(r.name);
        }
        Ok(out)
    }
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
