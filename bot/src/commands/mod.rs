//! What people say to linkguard, on any platform or the CLI: employees ask
//! what is allowed, admins change the rules.
//!
//! Connectors parse nothing: they hand the text after `/linkguard` (or a
//! direct message / mention) and a [`Caller`] (who, where, and whether the
//! platform says they are an admin) to [`Commands`], and post the returned
//! text privately. Every change goes through the same validation as a policy
//! file, becomes a new stored policy version with its author, is audited, and
//! is live in this process at once (other replicas reload on the store's
//! change notification).

pub mod edit;

use crate::moderation::{ActivePolicy, Moderator, Platform};
use crate::store::{AuditEntry, Exception, ExceptionTarget, Kind, StoreError};
use linkguard_rules::eval::{MessageContext, Verdict};
use linkguard_rules::policy::{Mode, Policy};
use linkguard_rules::{Dialect, ProviderId};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// Who is asking, and where.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The platform (or `None` for the CLI).
    pub platform: Option<Platform>,
    /// Slack team / Discord guild.
    pub workspace: String,
    /// Channel the command was used in.
    pub channel: String,
    /// The caller's user id (`cli:NAME` on the CLI).
    pub user_id: String,
    /// A readable name for audit records and replies.
    pub user_name: String,
    /// The caller's roles (Discord role ids / Slack user-group ids).
    pub roles: Vec<String>,
    /// Whether the platform (or the CLI) vouches that the caller may change rules.
    pub is_admin: bool,
}

impl Caller {
    fn platform_name(&self) -> &'static str {
        self.platform.map_or("cli", Platform::as_str)
    }

    fn dialect(&self) -> Dialect {
        self.platform.map_or(Dialect::Any, Platform::dialect)
    }

    fn author(&self) -> String {
        if self.user_name.is_empty() || self.user_name == self.user_id {
            self.user_id.clone()
        } else {
            format!("{} ({})", self.user_name, self.user_id)
        }
    }
}

/// The stored version an edit starts from, and its text.
pub(crate) struct Base {
    pub(crate) version: Option<i64>,
    pub(crate) text: String,
}

/// The platform-neutral command handler.
#[derive(Debug, Clone)]
pub struct Commands {
    moderator: Arc<Moderator>,
}

/// Help text, also shown for unknown commands.
pub const HELP: &str = "\
linkguard keeps meeting links to the tools your company approves.

For everyone:
  /linkguard check <link or text>   is this link allowed, and what should I use instead?
  /linkguard allowed                approved tools, and banned ones with the reasons
  /linkguard help                   this help
  You can also just ask me in a direct message: \"can I use zoom?\"

For admins:
  /linkguard rules list | show ID | test TEXT | history
  /linkguard rules add ID field=value …   (fields: providers, hosts, patterns, action,
                                          alternative, reason, mode, platforms, channels, …)
  /linkguard rules set ID FIELD VALUE | remove ID | rollback VERSION
  /linkguard mode monitor|enforce [RULE]
  /linkguard bots on|off            also moderate other bots' and integrations' messages
  /linkguard exempt @user|#channel for DURATION because REASON
  /linkguard exempt list | revoke ID";

/// Splits a command line into words, honouring \"double\" and 'single' quotes
/// (curly quotes too, as chat clients like to produce them).
pub fn split_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q || (q == '“' && c == '”') || (q == '‘' && c == '’') => {
                quote = None
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'' | '“' | '‘') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Parses `30m`, `2h`, `7d`, `1w`, `90 minutes`, `3 days`, ….
pub fn parse_duration(words: &[String]) -> Option<Duration> {
    let joined = words.join(" ");
    let s = joined.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = s[..split].parse().ok()?;
    let unit = s[split..].trim();
    let secs = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "wk" | "week" | "weeks" => 604_800,
        _ => return None,
    };
    (n > 0).then(|| Duration::from_secs(n.saturating_mul(secs)))
}

/// Parses a user or channel reference in either platform's syntax, or the
/// CLI's `user:ID` / `channel:ID`.
pub fn parse_target(word: &str) -> Option<ExceptionTarget> {
    let w = word.trim();
    let inner = w.strip_prefix('<').and_then(|r| r.strip_suffix('>'));
    if let Some(inner) = inner {
        let inner = inner.split('|').next().unwrap_or(inner);
        if let Some(id) = inner.strip_prefix("@!").or_else(|| inner.strip_prefix('@')) {
            return (!id.is_empty()).then(|| ExceptionTarget::User(id.to_owned()));
        }
        if let Some(id) = inner.strip_prefix('#') {
            return (!id.is_empty()).then(|| ExceptionTarget::Channel(id.to_owned()));
        }
        return None;
    }
    if let Some(id) = w.strip_prefix("user:") {
        return (!id.is_empty()).then(|| ExceptionTarget::User(id.to_owned()));
    }
    if let Some(id) = w.strip_prefix("channel:") {
        return (!id.is_empty()).then(|| ExceptionTarget::Channel(id.to_owned()));
    }
    None
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 604_800 == 0 => format!("{} week(s)", s / 604_800),
        s if s % 86_400 == 0 => format!("{} day(s)", s / 86_400),
        s if s % 3600 == 0 => format!("{} hour(s)", s / 3600),
        s if s % 60 == 0 => format!("{} minute(s)", s / 60),
        s => format!("{s} second(s)"),
    }
}

fn format_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

impl Commands {
    /// A handler over the shared pipeline.
    pub fn new(moderator: Arc<Moderator>) -> Commands {
        Commands { moderator }
    }

    fn context<'a>(&self, caller: &'a Caller) -> MessageContext<'a> {
        MessageContext {
            platform: caller.dialect(),
            workspace: &caller.workspace,
            channel: &caller.channel,
            user: &caller.user_id,
            roles: &caller.roles,
            excepted: false,
        }
    }

    /// Runs one `/linkguard …` command and returns the private answer.
    pub async fn run(&self, caller: &Caller, text: &str) -> String {
        let words = split_words(text);
        let Some(first) = words.first() else {
            return HELP.to_owned();
        };
        let rest = &words[1..];
        let answer = match first.to_ascii_lowercase().as_str() {
            "help" | "-h" | "--help" => Ok(HELP.to_owned()),
            "check" => Ok(self.check(caller, after_word(text, 1))),
            "allowed" | "list" => Ok(self.allowed(caller)),
            "rules" | "rule" => self.rules(caller, rest, text).await,
            "mode" => self.mode(caller, rest).await,
            "bots" => self.bots(caller, rest).await,
            "exempt" | "exception" | "exceptions" => self.exempt(caller, rest).await,
            _ => Ok(self.ask(caller, text)),
        };
        answer.unwrap_or_else(|e| {
            tracing::error!(error = %e, "command failed");
            format!("Sorry, that did not work: {e}")
        })
    }

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
                    let seed = format!("ask:{}:{}:{}", caller.platform_name(), caller.user_id, id);
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
            let mut what: Vec<String> = rule
                .providers
                .iter()
                .map(|p| policy.provider_name(p).to_owned())
                .collect();
            what.extend(rule.hosts.iter().cloned());
            if !rule.patterns.is_empty() {
                what.push("links matching custom patterns".into());
            }
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

    async fn refuse(&self, caller: &Caller, what: &str) -> Result<String, StoreError> {
        let mut e = AuditEntry::new(Kind::Refused, caller.platform_name());
        e.workspace = Some(caller.workspace.clone()).filter(|w| !w.is_empty());
        e.channel = Some(caller.channel.clone()).filter(|c| !c.is_empty());
        e.author = Some(caller.user_id.clone());
        e.detail = Some(format!("not an admin: {what}"));
        self.moderator.store().append(e).await?;
        Ok(format!(
            "Sorry {}, only linkguard admins can {what}. Ask a workspace admin if this needs changing.",
            if caller.user_name.is_empty() { "there" } else { &caller.user_name }
        ))
    }

    /// What the next edit starts from: the active stored version and its
    /// text, or the policy in force (the built-in default before anything
    /// was stored) with no version.
    pub(crate) async fn base_text(&self) -> Result<Base, StoreError> {
        Ok(match self.moderator.store().policy_active().await? {
            Some(v) => Base {
                version: Some(v.version),
                text: v.body,
            },
            None => Base {
                version: None,
                text: self.moderator.policy().policy.source_text().to_owned(),
            },
        })
    }

    /// Validates `new_text`, stores it as a new version (provided the policy
    /// is still at `base`, see [`crate::store::Store::policy_edit`]) and
    /// makes it live.
    pub(crate) async fn apply(
        &self,
        caller: &Caller,
        base: Option<i64>,
        new_text: String,
        what: &str,
    ) -> Result<String, StoreError> {
        let policy = match Policy::parse("your change", &new_text) {
            Ok(p) => p,
            Err(e) => return Ok(format!("That change was refused, nothing changed:\n{e}")),
        };
        let source = format!(
            "{} edit by {}: {what}",
            caller.platform_name(),
            caller.author()
        );
        let imported = match self
            .moderator
            .store()
            .policy_edit(base, &new_text, &caller.author(), &source)
            .await
        {
            Ok(i) => i,
            Err(
                e @ (StoreError::PolicyChanged { .. } | StoreError::PolicyManagedByFile { .. }),
            ) => return Ok(format!("That change was refused, nothing changed: {e}.")),
            Err(e) => return Err(e),
        };
        self.moderator.set_policy(ActivePolicy {
            policy: Arc::new(policy),
            version: Some(imported.version.version),
        });
        Ok(if imported.created {
            format!(
                "Done: {what}. The policy is now version {}.",
                imported.version.version
            )
        } else {
            format!(
                "Nothing changed: {what} was already the case (version {}).",
                imported.version.version
            )
        })
    }

    async fn rules(
        &self,
        caller: &Caller,
        words: &[String],
        text: &str,
    ) -> Result<String, StoreError> {
        let sub = words
            .first()
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_else(|| "list".into());
        let args = &words[words.len().min(1)..];
        let active = self.moderator.policy();
        let policy = &active.policy;
        match sub.as_str() {
            "list" => {
                let mut out = format!(
                    "Policy {} (version {}), mode {}:\n",
                    policy.name(),
                    active.version.map_or("built-in".into(), |v| v.to_string()),
                    policy.mode().as_str()
                );
                for r in policy.rules() {
                    let mut what: Vec<String> =
                        r.providers.iter().map(|p| p.as_str().to_owned()).collect();
                    what.extend(r.hosts.iter().cloned());
                    what.extend(r.patterns.iter().map(|p| format!("/{p}/")));
                    let _ = writeln!(
                        out,
                        "- `{}`: {} → {} ({})",
                        r.id,
                        what.join(", "),
                        r.action.as_str(),
                        r.mode.as_str()
                    );
                }
                Ok(out.trim_end().to_owned())
            }
            "show" => {
                let Some(id) = args.first() else {
                    return Ok("Usage: /linkguard rules show ID".into());
                };
                let Some(r) = policy.rule(id) else {
                    return Ok(format!(
                        "There is no rule `{id}`. Try /linkguard rules list."
                    ));
                };
                let mut out = format!("Rule `{}`\n", r.id);
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "(any)".to_owned()
                    } else {
                        v.join(", ")
                    }
                };
                let providers: Vec<String> =
                    r.providers.iter().map(|p| p.as_str().to_owned()).collect();
                let platforms: Vec<String> =
                    r.platforms.iter().map(|p| p.as_str().to_owned()).collect();
                let _ = writeln!(out, "providers: {}", list(&providers));
                let _ = writeln!(out, "hosts: {}", list(&r.hosts));
                let _ = writeln!(out, "patterns: {}", list(&r.patterns));
                let _ = writeln!(out, "action: {}", r.action.as_str());
                let _ = writeln!(
                    out,
                    "alternative: {}",
                    r.alternative.as_ref().map_or("(none)", |t| t.as_str())
                );
                let _ = writeln!(out, "reason: {}", r.reason);
                let _ = writeln!(out, "mode: {}", r.mode.as_str());
                let _ = writeln!(out, "platforms: {}", list(&platforms));
                let _ = writeln!(out, "workspaces: {}", list(&r.workspaces));
                let _ = writeln!(out, "channels: {}", list(&r.channels));
                let _ = writeln!(out, "exempt users: {}", list(&r.exempt_users));
                let _ = writeln!(out, "exempt roles: {}", list(&r.exempt_roles));
                let _ = writeln!(out, "exempt channels: {}", list(&r.exempt_channels));
                let _ = write!(
                    out,
                    "invitations pasted as text: {}",
                    if r.detect_invitations { "yes" } else { "no" }
                );
                Ok(out)
            }
            "test" => Ok(self.check(caller, after_word(text, 2))),
            "history" => {
                let versions = self.moderator.store().policy_history().await?;
                if versions.is_empty() {
                    return Ok(
                        "No policy version is stored yet: the built-in policy is in force.".into(),
                    );
                }
                let mut out = String::from("Policy versions (newest first):\n");
                for v in versions.iter().rev().take(20) {
                    let _ = writeln!(
                        out,
                        "- v{}{} by {} at {}: {}",
                        v.version,
                        if v.active { " (active)" } else { "" },
                        v.author,
                        format_time(v.at_ms),
                        v.source
                    );
                }
                Ok(out.trim_end().to_owned())
            }
            "add" | "remove" | "set" | "rollback" | "delete" => {
                if !caller.is_admin {
                    return self.refuse(caller, &format!("{sub} rules")).await;
                }
                let Base {
                    version: base_version,
                    text: base,
                } = self.base_text().await?;
                let edited = match sub.as_str() {
                    "add" => {
                        let Some(id) = args.first() else {
                            return Ok("Usage: /linkguard rules add ID providers=zoom action=replace alternative=https://meet.jit.si/{room} reason=\"…\"".into());
                        };
                        let mut fields = Vec::new();
                        for a in &args[1..] {
                            let Some((k, v)) = a.split_once('=') else {
                                return Ok(format!(
                                    "`{a}` is not field=value. Fields: {}",
                                    field_names()
                                ));
                            };
                            fields.push((k.trim().to_owned(), v.to_owned()));
                        }
                        edit::add_rule(&base, id, &fields)
                            .map(|t| (t, format!("added rule `{id}`")))
                    }
                    "remove" | "delete" => match args.first() {
                        Some(id) => edit::remove_rule(&base, id)
                            .map(|t| (t, format!("removed rule `{id}`"))),
                        None => return Ok("Usage: /linkguard rules remove ID".into()),
                    },
                    "set" => match (args.first(), args.get(1)) {
                        (Some(id), Some(field)) => {
                            let value = after_word(text, 4);
                            edit::set_field(&base, id, field, value)
                                .map(|t| (t, format!("set `{field}` of rule `{id}` to `{value}`")))
                        }
                        _ => {
                            return Ok(format!(
                                "Usage: /linkguard rules set ID FIELD VALUE (fields: {})",
                                field_names()
                            ))
                        }
                    },
                    _ => {
                        let Some(v) = args
                            .first()
                            .and_then(|v| v.trim_start_matches('v').parse::<i64>().ok())
                        else {
                            return Ok("Usage: /linkguard rules rollback VERSION".into());
                        };
                        return match self.moderator.store().policy_get(v).await? {
                            None => Ok(format!("There is no policy version {v}.")),
                            Some(old) => {
                                self.apply(
                                    caller,
                                    base_version,
                                    old.body,
                                    &format!("rolled back to version {v}"),
                                )
                                .await
                            }
                        };
                    }
                };
                match edited {
                    Ok((text, what)) => self.apply(caller, base_version, text, &what).await,
                    Err(e) => Ok(format!("That change was refused, nothing changed: {e}")),
                }
            }
            _ => Ok(format!("Unknown rules command `{sub}`.\n\n{HELP}")),
        }
    }

    async fn mode(&self, caller: &Caller, words: &[String]) -> Result<String, StoreError> {
        let Some(mode) = words
            .first()
            .and_then(|m| Mode::parse(&m.to_ascii_lowercase()))
        else {
            let active = self.moderator.policy();
            return Ok(format!(
                "The policy is in {} mode. Usage: /linkguard mode monitor|enforce [RULE]",
                active.policy.mode().as_str()
            ));
        };
        if !caller.is_admin {
            return self.refuse(caller, "change the mode").await;
        }
        let base = self.base_text().await?;
        let edited = match words.get(1) {
            Some(rule) => edit::set_field(&base.text, rule, "mode", mode.as_str())
                .map(|t| (t, format!("rule `{rule}` is now in {} mode", mode.as_str()))),
            None => edit::set_mode(&base.text, mode.as_str())
                .map(|t| (t, format!("the policy is now in {} mode", mode.as_str()))),
        };
        match edited {
            Ok((text, what)) => self.apply(caller, base.version, text, &what).await,
            Err(e) => Ok(format!("That change was refused, nothing changed: {e}")),
        }
    }

    async fn bots(&self, caller: &Caller, words: &[String]) -> Result<String, StoreError> {
        let on = match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
            Some("on" | "true" | "yes") => true,
            Some("off" | "false" | "no") => false,
            _ => {
                let active = self.moderator.policy();
                let now = match active.policy.moderate_bots() {
                    Some(true) => "moderated (policy)",
                    Some(false) => "left alone (policy)",
                    None => "left alone unless the platform's stored setting says otherwise",
                };
                return Ok(format!(
                    "Other bots' and integrations' messages are {now}. Usage: /linkguard bots on|off"
                ));
            }
        };
        if !caller.is_admin {
            return self
                .refuse(caller, "change whether other bots are moderated")
                .await;
        }
        let base = self.base_text().await?;
        let what = if on {
            "other bots' and integrations' messages are now moderated"
        } else {
            "other bots' and integrations' messages are now left alone"
        };
        match edit::set_moderate_bots(&base.text, on) {
            Ok(text) => self.apply(caller, base.version, text, what).await,
            Err(e) => Ok(format!("That change was refused, nothing changed: {e}")),
        }
    }

    async fn exempt(&self, caller: &Caller, words: &[String]) -> Result<String, StoreError> {
        let store = self.moderator.store();
        match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
            None | Some("list") => {
                let list = store.exceptions_visible(caller.scope()).await?;
                if list.is_empty() {
                    return Ok("No exceptions are in force.".into());
                }
                let mut out = String::from("Exceptions in force:\n");
                for e in list {
                    let _ = writeln!(
                        out,
                        "- #{} {} until {} (by {}): {}",
                        e.id,
                        e.target,
                        format_time(e.until_ms),
                        e.granted_by,
                        e.reason
                    );
                }
                Ok(out.trim_end().to_owned())
            }
            Some("revoke") => {
                if !caller.is_admin {
                    return self.refuse(caller, "revoke exceptions").await;
                }
                let Some(id) = words
                    .get(1)
                    .and_then(|w| w.trim_start_matches('#').parse::<i64>().ok())
                else {
                    return Ok("Usage: /linkguard exempt revoke ID".into());
                };
                Ok(
                    if store
                        .exception_revoke_in(id, caller.scope(), &caller.author())
                        .await?
                    {
                        format!("Exception #{id} revoked.")
                    } else {
                        format!("There is no exception #{id} in force here.")
                    },
                )
            }
            Some(_) => {
                if !caller.is_admin {
                    return self.refuse(caller, "grant exceptions").await;
                }
                let usage = "Usage: /linkguard exempt @user|#channel for DURATION because REASON (e.g. `exempt @dana for 2h because vendor call`)";
                let Some(target) = parse_target(&words[0]) else {
                    return Ok(usage.into());
                };
                let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
                let (Some(f), Some(b)) = (
                    lower.iter().position(|w| w == "for"),
                    lower.iter().position(|w| w == "because"),
                ) else {
                    return Ok(usage.into());
                };
                if b <= f + 1 {
                    return Ok(usage.into());
                }
                let Some(duration) = parse_duration(&words[f + 1..b]) else {
                    return Ok(format!(
                        "I could not read the duration `{}`. {usage}",
                        words[f + 1..b].join(" ")
                    ));
                };
                let reason = words[b + 1..].join(" ");
                if reason.trim().is_empty() {
                    return Ok(format!("Please give a reason. {usage}"));
                }
                let e: Exception = store
                    .exception_grant(
                        caller.platform_name_for_store(),
                        &caller.workspace,
                        &target,
                        duration,
                        &reason,
                        &caller.author(),
                    )
                    .await?;
                Ok(format!(
                    "Exception #{} granted: {} may post banned meeting links for {} (until {}). Reason: {}",
                    e.id,
                    e.target,
                    human_duration(duration),
                    format_time(e.until_ms),
                    e.reason
                ))
            }
        }
    }
}

impl Caller {
    fn platform_name_for_store(&self) -> &'static str {
        self.platform_name()
    }

    /// Which exceptions the caller may see and revoke: their own platform
    /// and workspace in chat; everything on the CLI (`None`).
    fn scope(&self) -> Option<(&'static str, &str)> {
        self.platform.map(|p| (p.as_str(), self.workspace.as_str()))
    }
}

fn field_names() -> String {
    edit::RULE_FIELDS
        .iter()
        .map(|(f, _)| *f)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text after the first `n` words (keeps the original spacing and escapes).
fn after_word(text: &str, n: usize) -> &str {
    let mut rest = text.trim_start();
    for _ in 0..n {
        match rest.find(char::is_whitespace) {
            Some(i) => rest = rest[i..].trim_start(),
            None => return "",
        }
    }
    rest.trim_end()
}

/// Whether `needle` occurs in `hay` as whole words.
fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    hay.match_indices(needle).any(|(i, m)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_durations_and_targets() {
        assert_eq!(
            split_words(r#"rules add x reason="a b" 'c d'"#),
            vec!["rules", "add", "x", "reason=a b", "c d"]
        );
        assert_eq!(split_words("“quoted words” x"), vec!["quoted words", "x"]);
        let w = |s: &str| split_words(s);
        assert_eq!(parse_duration(&w("2h")), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_duration(&w("90 minutes")),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(parse_duration(&w("1w")), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration(&w("soon")), None);
        assert_eq!(parse_duration(&w("0h")), None);
        assert_eq!(
            parse_target("<@U0FAKEUSR01>"),
            Some(ExceptionTarget::User("U0FAKEUSR01".into()))
        );
        assert_eq!(
            parse_target("<@U0FAKEUSR01|alice>"),
            Some(ExceptionTarget::User("U0FAKEUSR01".into()))
        );
        assert_eq!(
            parse_target("<#C0FAKECHAN1|general>"),
            Some(ExceptionTarget::Channel("C0FAKECHAN1".into()))
        );
        assert_eq!(
            parse_target("<@!661720242585731077>"),
            Some(ExceptionTarget::User("661720242585731077".into()))
        );
        assert_eq!(
            parse_target("<#1058897594941571075>"),
            Some(ExceptionTarget::Channel("1058897594941571075".into()))
        );
        assert_eq!(
            parse_target("user:bob"),
            Some(ExceptionTarget::User("bob".into()))
        );
        assert_eq!(parse_target("@bob"), None);
        assert_eq!(
            after_word("  rules set  x reason  keep  this ", 3),
            "reason  keep  this"
        );
        assert!(contains_word("can i use zoom?", "zoom"));
        assert!(!contains_word("zoomcar please", "zoom"));
        assert!(contains_word("is google meet ok", "google meet"));
    }
}
