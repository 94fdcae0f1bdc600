//! The pure half of AutoMod sync: from a compiled policy (and what the
//! server says about roles and the store about exceptions) to the keyword
//! rules Discord can enforce before a message is posted, and the list of
//! what it cannot.
//!
//! No I/O, no serenity: the applier (`super`) and `linkguard discord
//! automod plan` print and apply the same [`Plan`].
//!
//! What AutoMod can express, and how (the patterns are built in
//! `super::patterns`):
//! - a provider's hosts and path shapes become one `regex_patterns` entry per
//!   shape (`(?:^|[^\w.-])(?:[\w-]+\.)*zoom\.us(?::\d+)?/[jsw]/\d{9,12}…`):
//!   the catalogue's own path regexes, made to work on raw message text
//!   (no `^`, `$` is "end of the link", negated classes stop at whitespace);
//!   app schemes (`zoommtg://`) and host-specific routes likewise. Hosts the
//!   catalogue excludes (API, docs) go in the `allow_list`.
//! - a rule's own `hosts` become one regex (any path other than `/`).
//! - a rule's `exempt_roles` (ids, or names resolved with the server's
//!   roles) and `exempt_channels`, plus channel exceptions in force, become
//!   `exempt_roles` / `exempt_channels`.
//!
//! What it cannot, and is left to linkguard's own detection (listed):
//! monitor mode; actions that leave the message up (`reply`, `warn`, `log`);
//! rules limited to some channels; exempt users and user exceptions
//! (AutoMod exempts only roles and channels); role names the server does
//! not have; more exemptions than Discord allows; a rule an earlier
//! unsynced rule overlaps (the first applicable rule decides); URL regexes
//! (`patterns`, providers' `url_patterns`: they describe canonical URLs, not
//! text); invitations pasted as text; and anything past Discord's limits.
//! Wrapped, encoded or obfuscated links never match AutoMod's patterns and
//! always reach linkguard, which replaces them.

use super::patterns::Patterns;
use linkguard_rules::policy::{Action, Mode, Policy, Rule};
use linkguard_rules::Dialect;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

/// Every rule linkguard owns is named so (and created by the bot).
pub const NAME_PREFIX: &str = "linkguard: ";
/// Keyword rules a server may have.
pub const MAX_KEYWORD_RULES: usize = 6;
/// `regex_patterns` per rule.
pub const MAX_REGEXES: usize = 10;
/// Characters of one regex.
pub const MAX_REGEX_LEN: usize = 260;
/// `allow_list` entries per rule.
pub const MAX_ALLOW: usize = 100;
/// Characters of an allow-list entry.
pub const MAX_ALLOW_LEN: usize = 60;
/// Characters of a block action's custom message.
pub const MAX_CUSTOM_MESSAGE: usize = 150;
/// `exempt_roles` per rule.
pub const MAX_EXEMPT_ROLES: usize = 20;
/// `exempt_channels` per rule.
pub const MAX_EXEMPT_CHANNELS: usize = 50;
/// Characters of a rule name.
pub const MAX_NAME: usize = 100;

/// What the planner needs besides the policy.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The server (guild id).
    pub guild: String,
    /// The server's roles: lower-cased name → id, to resolve role names.
    pub roles_by_name: HashMap<String, String>,
    /// Channels with an exception in force in this server.
    pub channel_exceptions: Vec<String>,
    /// Users with an exception in force in this server.
    pub user_exceptions: Vec<String>,
    /// Where AutoMod also posts an alert (`discord.automod_alert_channel_id`).
    pub alert_channel: Option<String>,
    /// Keyword rules left for linkguard (6 minus the server's other ones).
    pub slots: usize,
}

/// One AutoMod rule linkguard wants in a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRule {
    /// `linkguard: RULE` (with ` (2)`, … when one policy rule needs several).
    pub name: String,
    /// The policy rule it enforces.
    pub rule_id: String,
    /// Keyword patterns (unused today: regexes are more exact).
    pub keyword_filter: Vec<String>,
    /// Regex patterns.
    pub regex_patterns: Vec<String>,
    /// Substrings that never trigger the rule.
    pub allow_list: Vec<String>,
    /// What the author is shown when the message is blocked.
    pub custom_message: String,
    /// Where an alert is also posted.
    pub alert_channel: Option<String>,
    /// Roles AutoMod leaves alone (ids, sorted).
    pub exempt_roles: Vec<String>,
    /// Channels AutoMod leaves alone (ids, sorted).
    pub exempt_channels: Vec<String>,
}

impl PlannedRule {
    /// The body of `POST`/`PATCH /guilds/{g}/auto-moderation/rules`.
    pub fn body(&self) -> Value {
        let mut actions = vec![json!({
            "type": 1,
            "metadata": { "custom_message": self.custom_message },
        })];
        if let Some(c) = &self.alert_channel {
            actions.push(json!({ "type": 2, "metadata": { "channel_id": c } }));
        }
        json!({
            "name": self.name,
            "event_type": 1,
            "trigger_type": 1,
            "trigger_metadata": {
                "keyword_filter": self.keyword_filter,
                "regex_patterns": self.regex_patterns,
                "allow_list": self.allow_list,
            },
            "actions": actions,
            "enabled": true,
            "exempt_roles": self.exempt_roles,
            "exempt_channels": self.exempt_channels,
        })
    }
}

/// Something of the policy AutoMod does not enforce (linkguard still does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// The policy rule.
    pub rule_id: String,
    /// Why, in words for admins.
    pub why: String,
}

/// The rules to keep in one server, and what is left to linkguard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// AutoMod rules, in policy order.
    pub rules: Vec<PlannedRule>,
    /// What AutoMod cannot express (whole rules or parts of them).
    pub left: Vec<Left>,
}

impl Plan {
    /// A readable rendering, for the CLI and logs.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.rules.is_empty() {
            out.push_str("No AutoMod rules: nothing in the policy can be blocked natively here.\n");
        }
        for r in &self.rules {
            let _ = writeln!(out, "rule \"{}\" (policy rule {})", r.name, r.rule_id);
            let _ = writeln!(out, "  block, message: {}", r.custom_message);
            if let Some(c) = &r.alert_channel {
                let _ = writeln!(out, "  alert in channel {c}");
            }
            for p in &r.regex_patterns {
                let _ = writeln!(out, "  regex   {p}");
            }
            for k in &r.keyword_filter {
                let _ = writeln!(out, "  keyword {k}");
            }
            if !r.allow_list.is_empty() {
                let _ = writeln!(out, "  allowed {}", r.allow_list.join(" "));
            }
            if !r.exempt_roles.is_empty() {
                let _ = writeln!(out, "  exempt roles {}", r.exempt_roles.join(", "));
            }
            if !r.exempt_channels.is_empty() {
                let _ = writeln!(out, "  exempt channels {}", r.exempt_channels.join(", "));
            }
        }
        if !self.left.is_empty() {
            out.push_str("Left to linkguard's own detection (AutoMod cannot express it):\n");
            for l in &self.left {
                let _ = writeln!(out, "  {}: {}", l.rule_id, l.why);
            }
        }
        out
    }
}

/// The policy rule an owned AutoMod rule enforces, from its name.
pub fn rule_of_name(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    Some(match rest.rfind(" (") {
        Some(i) if rest.ends_with(')') => &rest[..i],
        _ => rest,
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The host of an alternative template (`https://meet.jit.si/{prefix}-{room}`).
fn template_host(template: &str) -> Option<&str> {
    let rest = template.split_once("://")?.1;
    let host = rest.split(['/', '?', '#', '{']).next()?;
    (!host.is_empty()).then_some(host)
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(d) => host.ends_with(&format!(".{d}")),
        None => pattern == host,
    }
}

/// What the author is told when AutoMod blocks the message.
fn custom_message(policy: &Policy, rule: &Rule) -> String {
    let mut names: Vec<String> = rule
        .providers
        .iter()
        .map(|p| policy.provider_name(p).to_owned())
        .collect();
    names.extend(rule.hosts.iter().cloned());
    let names = match names.len() {
        0 => "This meeting link".to_owned(),
        1 => names.remove(0),
        _ => {
            let last = names.pop().unwrap_or_default();
            format!("{} and {last}", names.join(", "))
        }
    };
    let verb = if names.contains(" and ") { "are" } else { "is" };
    let msg = match rule
        .alternative
        .as_ref()
        .and_then(|t| template_host(t.as_str()))
    {
        Some(host) => {
            let alt = policy
                .catalogue()
                .providers()
                .find(|p| p.hosts.iter().any(|h| host_matches(h, host)))
                .map_or_else(|| host.to_owned(), |p| p.display_name().to_owned());
            format!("{names} {verb} not approved here — use {alt} instead: /linkguard check gives you a room")
        }
        None if !rule.reason.is_empty() => {
            format!("{names} {verb} not approved here: {}", rule.reason)
        }
        None => format!("{names} {verb} not approved here."),
    };
    truncate(&msg, MAX_CUSTOM_MESSAGE)
}

fn applies_here(rule: &Rule, guild: &str) -> bool {
    (rule.platforms.is_empty() || rule.platforms.contains(&Dialect::Discord))
        && (rule.workspaces.is_empty() || rule.workspaces.iter().any(|w| w == guild))
}

/// Whether two rules may decide some of the same links.
fn overlaps(a: &Rule, b: &Rule) -> bool {
    !a.patterns.is_empty()
        || !b.patterns.is_empty()
        || a.providers.iter().any(|p| b.providers.contains(p))
        || a.hosts.iter().any(|h| b.hosts.contains(h))
}

/// The AutoMod rules a server should have for `policy`.
pub fn plan(policy: &Policy, inputs: &Inputs) -> Plan {
    let mut planner = Planner {
        policy,
        inputs,
        unsynced: Vec::new(),
        slots: inputs.slots,
        out: Plan::default(),
    };
    for rule in policy.rules() {
        if applies_here(rule, &inputs.guild) {
            planner.add(rule);
        }
    }
    planner.out
}

/// One server's plan as it is built, rule by rule in policy order.
struct Planner<'a> {
    policy: &'a Policy,
    inputs: &'a Inputs,
    /// Earlier rules AutoMod does not enforce here: a later rule that may
    /// decide the same links would take their decision away.
    unsynced: Vec<&'a Rule>,
    /// Keyword rules still free in the server.
    slots: usize,
    out: Plan,
}

impl<'a> Planner<'a> {
    /// Plans `rule`: its AutoMod rules, or why it is left to linkguard.
    fn add(&mut self, rule: &'a Rule) {
        match self.rules_for(rule) {
            Ok(rules) => {
                self.slots -= rules.len();
                self.out.rules.extend(rules);
            }
            Err(why) => {
                self.leave(rule, why);
                self.unsynced.push(rule);
            }
        }
    }

    /// Lists something of `rule` AutoMod does not enforce.
    fn leave(&mut self, rule: &Rule, why: String) {
        self.out.left.push(Left {
            rule_id: rule.id.to_string(),
            why,
        });
    }

    /// The AutoMod rules that enforce `rule` (one per [`MAX_REGEXES`]
    /// patterns), or why it cannot be enforced natively at all; the parts
    /// of it no pattern expresses are listed on the way.
    fn rules_for(&mut self, rule: &Rule) -> Result<Vec<PlannedRule>, String> {
        if let Some(why) = self.obstacle(rule) {
            return Err(why);
        }
        let exempt = Exemptions::of(rule, self.inputs)?;
        let mut p = Patterns::of(self.policy, rule);
        for why in std::mem::take(&mut p.left) {
            self.leave(rule, why);
        }
        if p.regexes.is_empty() {
            return Err("nothing in it AutoMod can match".into());
        }
        let chunks: Vec<&[String]> = p.regexes.chunks(MAX_REGEXES).collect();
        if chunks.len() > self.slots {
            return Err(format!(
                "needs {} AutoMod rule(s) and only {} of the server's {MAX_KEYWORD_RULES} keyword rules are free",
                chunks.len(),
                self.slots
            ));
        }
        let message = custom_message(self.policy, rule);
        let base = truncate(&format!("{NAME_PREFIX}{}", rule.id), MAX_NAME - 5);
        Ok(chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| PlannedRule {
                name: if i == 0 {
                    base.clone()
                } else {
                    format!("{base} ({})", i + 1)
                },
                rule_id: rule.id.to_string(),
                keyword_filter: Vec::new(),
                regex_patterns: chunk.to_vec(),
                allow_list: p.allow.clone(),
                custom_message: message.clone(),
                alert_channel: self.inputs.alert_channel.clone(),
                exempt_roles: exempt.roles.iter().cloned().collect(),
                exempt_channels: exempt.channels.iter().cloned().collect(),
            })
            .collect())
    }

    /// Why AutoMod cannot stand in for `rule` whatever its patterns: how it
    /// acts, where it applies, whom it exempts, an earlier rule left to
    /// linkguard that it overlaps.
    fn obstacle(&self, rule: &Rule) -> Option<String> {
        let inputs = self.inputs;
        if self.policy.mode() == Mode::Monitor || rule.mode == Mode::Monitor {
            Some("monitor mode: linkguard only records".to_owned())
        } else if !matches!(rule.action, Action::Replace | Action::Delete) {
            Some(format!(
                "action `{}` leaves the message up; AutoMod would block it",
                rule.action.as_str()
            ))
        } else if !rule.channels.is_empty() {
            Some("applies only in some channels; AutoMod rules apply server-wide".into())
        } else if !rule.exempt_users.is_empty() {
            Some("exempts users; AutoMod can exempt only roles and channels".into())
        } else if !inputs.user_exceptions.is_empty() {
            Some(format!(
                "user exception(s) in force ({}); AutoMod can exempt only roles and channels",
                inputs.user_exceptions.join(", ")
            ))
        } else {
            self.unsynced
                .iter()
                .find(|e| overlaps(e, rule))
                .map(|earlier| {
                    format!(
                        "the earlier rule `{}` decides some of the same links and is not enforced by AutoMod",
                        earlier.id
                    )
                })
        }
    }
}

/// The roles and channels AutoMod leaves alone for one rule (ids, sorted).
struct Exemptions {
    roles: BTreeSet<String>,
    channels: BTreeSet<String>,
}

impl Exemptions {
    /// `rule`'s exempt roles (ids, or names resolved with the server's
    /// roles) and channels, plus the channel exceptions in force; or why
    /// AutoMod cannot hold them.
    fn of(rule: &Rule, inputs: &Inputs) -> Result<Exemptions, String> {
        let mut roles = BTreeSet::new();
        let mut unknown = None;
        for r in &rule.exempt_roles {
            if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) {
                roles.insert(r.clone());
            } else if let Some(id) = inputs.roles_by_name.get(&r.to_lowercase()) {
                roles.insert(id.clone());
            } else {
                unknown = Some(format!("exempt role `{r}` is not a role of this server"));
                break;
            }
        }
        // Too many roles is said even when a later name is unknown.
        if roles.len() > MAX_EXEMPT_ROLES {
            return Err(format!(
                "exempts {} roles; AutoMod allows {MAX_EXEMPT_ROLES}",
                roles.len()
            ));
        }
        if let Some(why) = unknown {
            return Err(why);
        }
        // Only a snowflake can be a Discord channel: a Slack channel id in a
        // rule for both platforms, or a mistyped exception, is no channel
        // here, and one such value in the list would make Discord refuse
        // the whole rule (400, 50035).
        let channels: BTreeSet<String> = rule
            .exempt_channels
            .iter()
            .chain(&inputs.channel_exceptions)
            .filter(|c| c.parse::<std::num::NonZeroU64>().is_ok())
            .cloned()
            .collect();
        if channels.len() > MAX_EXEMPT_CHANNELS {
            return Err(format!(
                "exempts {} channels; AutoMod allows {MAX_EXEMPT_CHANNELS}",
                channels.len()
            ));
        }
        Ok(Exemptions { roles, channels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            guild: "1058897343283331074".into(),
            slots: MAX_KEYWORD_RULES,
            ..Inputs::default()
        }
    }

    /// A server with a `Moderator` role (777) and channel 666 under an
    /// exception.
    fn moderated_server() -> Inputs {
        let mut i = inputs();
        i.roles_by_name.insert("moderator".into(), "777".into());
        i.channel_exceptions = vec!["666".into()];
        i
    }

    fn policy(text: &str) -> Policy {
        Policy::parse("test.toml", text).expect("valid policy")
    }

    fn blocks(plan: &Plan, text: &str) -> bool {
        plan.rules.iter().any(|r| {
            r.regex_patterns.iter().any(|p| {
                regex::RegexBuilder::new(p)
                    .case_insensitive(true)
                    .build()
                    .unwrap()
                    .is_match(text)
            }) && !r
                .allow_list
                .iter()
                .any(|a| text.to_lowercase().contains(&a.to_lowercase()))
        })
    }

    #[test]
    fn the_default_policy_blocks_plain_zoom_links_and_nothing_else() {
        let plan = plan(&Policy::default_policy(), &inputs());
        assert_eq!(plan.rules.len(), 1, "{}", plan.render());
        let r = &plan.rules[0];
        assert_eq!(r.name, "linkguard: no-zoom");
        assert!(r.regex_patterns.len() <= MAX_REGEXES);
        assert!(r
            .regex_patterns
            .iter()
            .all(|p| p.chars().count() <= MAX_REGEX_LEN));
        assert!(r.custom_message.chars().count() <= MAX_CUSTOM_MESSAGE);
        assert!(
            r.custom_message.starts_with("Zoom is not approved here"),
            "{}",
            r.custom_message
        );
        assert!(r.custom_message.contains("/linkguard check"));
        for yes in [
            "join https://zoom.us/j/123456789 please",
            "https://us02web.zoom.us/j/1234567890?pwd=abc",
            "<https://zoom.us/j/123456789>",
            "[standup](https://ZOOM.US/j/123456789)",
            "zoom.us/j/123456789",
            "https://zoom.us/my/alice.smith",
            "zoommtg://zoom.us/join?confno=123456789",
            "https://events.zoom.us/ev/AbCdEfGhIj123",
        ] {
            assert!(
                blocks(&plan, yes),
                "{yes} should be blocked:\n{}",
                plan.render()
            );
        }
        for no in [
            "https://zoom.us/",
            "https://zoom.us/pricing",
            "https://zoom.us/j/12345",
            "https://zoom.us/j/1234567890123",
            "https://notzoom.us/j/123456789",
            "https://meet.jit.si/linkguard-abc",
            "https://api.zoom.us/j/123456789",
            "zoom[.]us/j/123456789",
            "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F123456789",
            "zoom.us/j/ 123456789",
        ] {
            assert!(!blocks(&plan, no), "{no} should not be blocked:\n{}", plan.render());
        }
    }

    #[test]
    fn what_automod_cannot_express_is_listed() {
        let p = policy(
            r#"
[[rules]]
id = "watch-webex"
action = "delete"
providers = ["webex"]
mode = "monitor"

[[rules]]
id = "warn-teams"
providers = ["teams"]
action = "warn"

[[rules]]
id = "zoom-some"
action = "delete"
providers = ["zoom"]
channels = ["1"]

[[rules]]
id = "zoom-users"
action = "delete"
providers = ["zoom"]
exempt_users = ["2"]

[[rules]]
id = "webex-later"
providers = ["webex"]
action = "delete"

[[rules]]
id = "evil"
hosts = ["*.evil.example"]
patterns = ['^https://x\.example/']
action = "delete"
exempt_roles = ["Moderator", "123"]
exempt_channels = ["555"]
"#,
        );
        let i = moderated_server();
        let plan = plan(&p, &i);
        let why = |id: &str| {
            plan.left
                .iter()
                .filter(|l| l.rule_id == id)
                .map(|l| l.why.clone())
                .collect::<Vec<_>>()
                .join("; ")
        };
        assert!(why("watch-webex").contains("monitor"));
        assert!(why("warn-teams").contains("leaves the message up"));
        assert!(why("zoom-some").contains("some channels"));
        assert!(why("zoom-users").contains("exempts users"));
        assert!(why("webex-later").contains("earlier rule `watch-webex`"));
        // URL patterns may match anything: an earlier unsynced rule could
        // decide the same links, so `evil` is left to linkguard entirely.
        assert!(why("evil").contains("earlier rule"), "{}", plan.render());
        assert!(plan.rules.is_empty(), "{}", plan.render());
    }

    #[test]
    fn exemptions_become_roles_and_channels() {
        let p = policy(
            r#"
[[rules]]
id = "evil"
hosts = ["*.evil.example", "meet.bad.example"]
action = "delete"
reason = "Not vetted."
exempt_roles = ["Moderator", "123"]
exempt_channels = ["555", "C0SLACKCHAN"]
"#,
        );
        let mut i = moderated_server();
        i.alert_channel = Some("999".into());
        // A Slack channel in a rule for both platforms, and an exception
        // for a channel that is no snowflake, are no Discord channels.
        i.channel_exceptions
            .extend(["abc".to_owned(), "0".to_owned()]);
        let plan = plan(&p, &i);
        assert_eq!(plan.rules.len(), 1, "{}", plan.render());
        let r = &plan.rules[0];
        assert_eq!(r.exempt_roles, vec!["123", "777"]);
        assert_eq!(r.exempt_channels, vec!["555", "666"]);
        assert_eq!(
            r.custom_message,
            "*.evil.example and meet.bad.example are not approved here: Not vetted."
        );
        let body = r.body();
        assert_eq!(body["actions"][1]["metadata"]["channel_id"], "999");
        assert_eq!(body["enabled"], true);
        assert!(blocks(&plan, "see https://a.evil.example/room"));
        assert!(blocks(&plan, "see https://evil.example/room"));
        assert!(blocks(&plan, "see https://meet.bad.example/x"));
        assert!(!blocks(&plan, "see https://x.meet.bad.example/x"));
        assert!(!blocks(&plan, "see https://evil.example/"));
        // A role name the server does not have leaves the rule to linkguard.
        let plan2 = super::plan(&p, &inputs());
        assert!(plan2.rules.is_empty());
        assert!(plan2.left[0].why.contains("`Moderator`"));
    }

    #[test]
    fn user_exceptions_and_slots_leave_rules_to_linkguard() {
        let mut i = inputs();
        i.user_exceptions = vec!["42".into()];
        let plan1 = plan(&Policy::default_policy(), &i);
        assert!(plan1.rules.is_empty());
        assert!(plan1.left[0].why.contains("user exception"));
        let mut i = inputs();
        i.slots = 0;
        let plan2 = plan(&Policy::default_policy(), &i);
        assert!(plan2.rules.is_empty());
        assert!(plan2.left[0].why.contains("keyword rules are free"));
    }

    #[test]
    fn global_monitor_mode_syncs_nothing() {
        let text = Policy::default_policy()
            .source_text()
            .replace("mode = \"enforce\"", "mode = \"monitor\"");
        let plan = plan(&policy(&text), &inputs());
        assert!(plan.rules.is_empty());
    }

    #[test]
    fn names_map_back_to_policy_rules() {
        assert_eq!(rule_of_name("linkguard: no-zoom"), Some("no-zoom"));
        assert_eq!(rule_of_name("linkguard: no-zoom (2)"), Some("no-zoom"));
        assert_eq!(rule_of_name("Block invites"), None);
    }
}
