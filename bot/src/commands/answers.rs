//! Employees asking: `check`, `allowed`, and questions in plain words.

use super::{Caller, Commands};
use linkguard_rules::eval::Verdict;
use linkguard_rules::policy::{Mode, Policy};
use linkguard_rules::ProviderId;
use std::fmt::Write as _;

use super::words::contains_word;

impl Commands {
    /// Answers a question in plain words ("can I use zoom?", "is <link> ok?").
    pub fn ask(&self, caller: &Caller, question: &str) -> String {
        let active = self.moderator.policy();
        let policy = &active.policy;
        let verdict = self.evaluate(caller, question);
        if !verdict.occurrences.is_empty() {
            return self.describe_verdict(policy, &verdict);
        }
        let lower = question.to_lowercase();
        let mut answers = Vec::new();
        let mut seen: Vec<ProviderId> = Vec::new();
        for spec in policy.catalogue().providers() {
            if spec.id.starts_with("rule:") {
                continue;
            }
            let names = [spec.id.to_lowercase(), spec.display_name().to_lowercase()];
            let mentioned = names.iter().any(|n| contains_word(&lower, n));
            let Some(id) = ProviderId::new(&spec.id) else {
                continue;
            };
            if mentioned && !seen.contains(&id) {
                seen.push(id.clone());
                answers.push(self.provider_answer(caller, policy, &id));
            }
        }
        if answers.is_empty() {
            return format!(
                "I can tell you whether a meeting link or tool is allowed: paste the link, or ask \"can I use zoom?\".\n\n{}",
                self.allowed(caller)
            );
        }
        answers.join("\n")
    }

    fn provider_answer(&self, caller: &Caller, policy: &Policy, id: &ProviderId) -> String {
        let name = policy.provider_name(id);
        match policy.rule_for_provider(id.as_str(), &self.context(caller)) {
            None => format!("{name}: allowed."),
            Some(rule) => {
                let mut s = format!("{name}: not allowed (rule `{}`).", rule.id);
                if !rule.reason.is_empty() {
                    let _ = write!(s, " {}", rule.reason);
                }
                if let Some(t) = &rule.alternative {
                    // A personal room for the asker, stable across questions.
                    let seed = format!("ask:{}:{}:{}", caller.origin(), caller.user_id, id);
                    let alt = t.render(
                        self.moderator.room_key(),
                        policy.room_prefix(),
                        id.as_str(),
                        &seed,
                    );
                    let _ = write!(s, " Use instead: {alt}");
                }
                s
            }
        }
    }

    fn evaluate(&self, caller: &Caller, text: &str) -> Verdict {
        let active = self.moderator.policy();
        active
            .policy
            .evaluate(text, &self.context(caller), self.moderator.room_key())
    }

    fn describe_verdict(&self, policy: &Policy, verdict: &Verdict) -> String {
        let mut out = String::new();
        for v in verdict.distinct() {
            let name = policy.provider_name(&v.link.provider);
            match v.block() {
                None => {
                    let _ = writeln!(out, "{} ({name}): allowed.", v.link.url);
                }
                Some(b) => {
                    let mode = if b.monitor {
                        " (monitor mode: it would be acted on)"
                    } else {
                        ""
                    };
                    let _ = write!(
                        out,
                        "{} ({name}): not allowed, rule `{}`{mode}.",
                        v.link.url, b.rule
                    );
                    if !b.reason.is_empty() {
                        let _ = write!(out, " {}", b.reason);
                    }
                    if let Some(alt) = &b.alternative {
                        let _ = write!(out, "\nUse instead: {alt}");
                    }
                    out.push('\n');
                }
            }
        }
        if let Some(contact) = policy.exception_contact() {
            if verdict.is_blocked() {
                let _ = writeln!(out, "Need an exception? {contact}");
            }
        }
        out.trim_end().to_owned()
    }

    /// `check TEXT`.
    pub fn check(&self, caller: &Caller, text: &str) -> String {
        if text.trim().is_empty() {
            return "Give me a link or a message to check: `/linkguard check https://…`".into();
        }
        let active = self.moderator.policy();
        let verdict = self.evaluate(caller, text);
        if verdict.occurrences.is_empty() {
            return "I found no meeting link in that. Nothing to worry about.".into();
        }
        self.describe_verdict(&active.policy, &verdict)
    }

    /// `allowed`: approved tools and banned ones with reasons.
    pub fn allowed(&self, caller: &Caller) -> String {
        let active = self.moderator.policy();
        let policy = &active.policy;
        let mut out = String::new();
        let approved: Vec<String> = policy
            .approved()
            .filter_map(ProviderId::new)
            .map(|id| policy.provider_name(&id).to_owned())
            .collect();
        if approved.is_empty() {
            out.push_str("Approved tools: anything not listed below.\n");
        } else {
            let _ = writeln!(out, "Approved tools: {}.", approved.join(", "));
        }
        let ctx = self.context(caller);
        let mut banned = Vec::new();
        for rule in policy.rules() {
            if !rule.applies(&ctx) {
                continue;
            }
            let what = crate::notice::rule_subjects(policy, rule);
            let monitor = if rule.mode == Mode::Monitor || policy.mode() == Mode::Monitor {
                " [monitor mode]"
            } else {
                ""
            };
            let reason = if rule.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", rule.reason)
            };
            banned.push(format!(
                "- {} (rule `{}`, {}){monitor}{reason}",
                what.join(", "),
                rule.id,
                rule.action.as_str()
            ));
        }
        if banned.is_empty() {
            out.push_str("Nothing is banned here.");
        } else {
            out.push_str("Not allowed here:\n");
            out.push_str(&banned.join("\n"));
        }
        out
    }
}
