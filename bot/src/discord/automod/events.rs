//! What the gateway says about AutoMod, as the running [`Sync`] hears it:
//! role changes (Manage Server may have come or gone), changes to the rules
//! linkguard owns (its own echo, or a drift to restore), and the executions
//! of their block actions (recorded as `blocked_natively`).

use super::apply::{comparable_rule, owned};
use super::plan::{self, NAME_PREFIX};
use super::{lock, Reason, Sync};
use crate::store::{redact_link, AuditAction, AuditEntry, Kind, Outcome, Platform};
use linkguard_rules::Dialect;
use serenity::all::{ActionExecution, GuildId, Rule as AutoModRule, RuleId};

/// How many ids of other members' AutoMod rules are remembered.
const MAX_OTHER_RULES: usize = 4096;

impl Sync {
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
    pub(super) fn judge(&self, rule: &AutoModRule, what: &str) {
        let id = rule.id.get();
        let echo = if what == "deleted" {
            lock(&self.deleted).remove(&id)
        } else {
            let now = comparable_rule(rule);
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

    /// The policy rule an owned AutoMod rule enforces: as the last sync
    /// left it, or, for a rule another replica synced, asked of Discord.
    async fn owned_rule(&self, guild: GuildId, id: RuleId) -> Option<String> {
        if let Some(r) = lock(&self.owned).get(&id.get()) {
            return Some(r.clone());
        }
        if lock(&self.others).contains(&id.get()) {
            return None;
        }
        // Synced by another replica: ask Discord whose rule it is.
        let bot = self.bot_id().await.ok()?;
        let rule = self.http.get_automod_rule(guild, id).await.ok()?;
        if !owned(&rule, bot) {
            let mut others = lock(&self.others);
            // Bounded, whatever Discord sends.
            if others.len() >= MAX_OTHER_RULES {
                others.clear();
            }
            others.insert(id.get());
            return None;
        }
        plan::rule_of_name(&rule.name).map(str::to_owned)
    }
}
