//! The Home tab's view: what each person sees, and what admins see below
//! it, built section by section.

use super::{
    button, context, decision_buttons, divider, header, more, request_summary, safe, section,
    slack_time, ACTION_CHECK_OPEN, ACTION_REQUEST_OPEN, HOME_VALUE, LIST_MAX, SECTION_TEXT_MAX,
    VIEW_BLOCKS_MAX,
};
use crate::commands::requests::duration_label;
use crate::store::{ExceptionRequest, ExceptionTarget, RequestState};
use linkguard_rules::rewrite::escape_slack;
use serde_json::{json, Value};

/// One tool the policy bans, as the Home tab shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banned {
    /// What is banned (provider names, hosts).
    pub what: String,
    /// The rule's id.
    pub rule: String,
    /// The admin's reason.
    pub reason: String,
    /// The approved alternative, rendered for this person.
    pub alternative: Option<String>,
    /// Recorded only (monitor mode).
    pub monitor: bool,
}

/// One exception in force that covers the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeException {
    /// Its id.
    pub id: i64,
    /// Who or what it covers.
    pub target: ExceptionTarget,
    /// Until when (epoch ms).
    pub until_ms: i64,
    /// Why.
    pub reason: String,
}

/// One rule as admins see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRule {
    /// The rule's id.
    pub id: String,
    /// `enforce` or `monitor` (the policy's mode included).
    pub mode: String,
    /// Its action.
    pub action: String,
}

/// The admin part of the Home tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminHome {
    /// The policy's mode.
    pub policy_mode: String,
    /// The active stored version (`None`: built-in or file).
    pub version: Option<i64>,
    /// The rules.
    pub rules: Vec<AdminRule>,
    /// Requests waiting for a decision.
    pub pending: Vec<ExceptionRequest>,
    /// The web console, when it is on.
    pub console_url: Option<String>,
}

/// Everything the Home tab shows one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// Approved tools.
    pub approved: Vec<String>,
    /// Banned tools, with reason and alternative.
    pub banned: Vec<Banned>,
    /// Exceptions in force for the person (or their channels).
    pub exceptions: Vec<HomeException>,
    /// The person's own recent requests.
    pub requests: Vec<ExceptionRequest>,
    /// For admins.
    pub admin: Option<AdminHome>,
}

/// The Home tab: what is allowed, the person's exceptions and open
/// requests, and for admins the policy and the requests waiting.
pub fn home_view(h: &Home) -> Value {
    let mut blocks = allowed_blocks(h);
    blocks.push(
        json!({"type": "actions", "block_id": "home_actions", "elements": [
            button("Check a link", ACTION_CHECK_OPEN, HOME_VALUE, Some("primary")),
            button("Request an exception", ACTION_REQUEST_OPEN, HOME_VALUE, None),
        ]}),
    );
    blocks.push(divider());
    blocks.extend(own_exception_blocks(&h.exceptions));
    blocks.extend(own_requests_block(&h.requests));
    if let Some(a) = &h.admin {
        blocks.extend(admin_blocks(a));
    }
    blocks.truncate(VIEW_BLOCKS_MAX);
    json!({"type": "home", "blocks": blocks})
}

/// The Home tab's top: the approved tools, then each banned one with its
/// reason and alternative.
fn allowed_blocks(h: &Home) -> Vec<Value> {
    let mut blocks = vec![
        header("Meeting links: what is allowed"),
        section(&if h.approved.is_empty() {
            "*Approved:* any meeting tool not listed below.".to_owned()
        } else {
            format!(
                "*Approved:* {}",
                safe(&h.approved.join(", "), SECTION_TEXT_MAX / 5)
            )
        }),
    ];
    if h.banned.is_empty() {
        blocks.push(section("Nothing is banned here."));
    } else {
        blocks.push(section("*Not allowed:*"));
        blocks.extend(h.banned.iter().take(LIST_MAX).map(banned_section));
        blocks.extend(more(h.banned.len()));
    }
    blocks
}

/// One banned tool: what, whether only recorded, why, what to use
/// instead, and the rule.
fn banned_section(b: &Banned) -> Value {
    let mut t = format!("*{}*", safe(&b.what, 200));
    if b.monitor {
        t.push_str(" _(monitor mode: recorded, not acted on)_");
    }
    if !b.reason.is_empty() {
        t.push_str(&format!("\n{}", safe(&b.reason, 300)));
    }
    if let Some(alt) = &b.alternative {
        t.push_str(&format!("\nUse instead: {}", safe(alt, 300)));
    }
    t.push_str(&format!("\n_rule `{}`_", safe(&b.rule, 100)));
    section(&t)
}

/// "Your exceptions": those in force for the person or their channels.
fn own_exception_blocks(exceptions: &[HomeException]) -> Vec<Value> {
    let mut blocks = vec![header("Your exceptions")];
    if exceptions.is_empty() {
        blocks.push(context("You have no exception in force."));
        return blocks;
    }
    for e in exceptions.iter().take(LIST_MAX) {
        let who = match &e.target {
            ExceptionTarget::User(_) => "You".to_owned(),
            ExceptionTarget::Channel(c) => format!("<#{}>", escape_slack(c)),
        };
        blocks.push(section(&format!(
            "*#{}* {who} may post banned meeting links until {}\n{}",
            e.id,
            slack_time(e.until_ms),
            safe(&e.reason, 500)
        )));
    }
    blocks.extend(more(exceptions.len()));
    blocks
}

/// The person's requests still waiting for an admin, if any.
fn own_requests_block(requests: &[ExceptionRequest]) -> Option<Value> {
    let lines: Vec<String> = requests
        .iter()
        .filter(|r| r.state == RequestState::Pending)
        .take(LIST_MAX)
        .map(|r| {
            format!(
                "• #{} for {}, about {}: waiting for an admin",
                r.id,
                duration_label(r.duration_secs),
                safe(&r.subject, 100)
            )
        })
        .collect();
    (!lines.is_empty()).then(|| section(&format!("*Your requests*\n{}", lines.join("\n"))))
}

/// "For admins": the policy, the requests waiting with their buttons, and
/// the console's link when it is on.
fn admin_blocks(a: &AdminHome) -> Vec<Value> {
    let mut blocks = vec![divider(), header("For admins"), policy_section(a)];
    if a.pending.is_empty() {
        blocks.push(context("No exception requests are waiting."));
    } else {
        blocks.push(section(&format!(
            "*Exception requests waiting:* {}",
            a.pending.len()
        )));
        for r in a.pending.iter().take(LIST_MAX) {
            blocks.push(request_summary(r));
            blocks.push(decision_buttons(r.id));
        }
        blocks.extend(more(a.pending.len()));
    }
    if let Some(url) = &a.console_url {
        blocks.push(section(&format!(
            "<{}|Open the linkguard console>",
            escape_slack(url)
        )));
    }
    blocks
}

/// The policy's mode, version and rules, as admins see it.
fn policy_section(a: &AdminHome) -> Value {
    let version = a
        .version
        .map_or_else(|| "built-in policy".to_owned(), |v| format!("version {v}"));
    let mut rules: Vec<String> = a
        .rules
        .iter()
        .take(LIST_MAX)
        .map(|r| {
            format!(
                "• `{}`: {} ({})",
                safe(&r.id, 100),
                safe(&r.mode, 20),
                safe(&r.action, 20)
            )
        })
        .collect();
    if a.rules.len() > LIST_MAX {
        rules.push(format!("…and {} more", a.rules.len() - LIST_MAX));
    }
    section(&format!(
        "*Policy:* {} mode, {version}\n{}",
        safe(&a.policy_mode, 20),
        if rules.is_empty() {
            "No rules.".to_owned()
        } else {
            rules.join("\n")
        }
    ))
}
