//! Admins editing the policy: `rules`, `mode` and `bots`. Every edit is
//! applied to the stored policy text, validated like a policy file, stored
//! as a new version (compare-and-swap on the version it started from),
//! audited and made live at once; a refusal is audited too.

use super::words::{after_word, field_names};
use super::{edit, Caller, Commands, HELP};
use crate::moderation::{ActivePolicy, Platform};
use crate::store::{AuditEntry, Kind, StoreError};
use linkguard_rules::policy::{Mode, Policy};
use linkguard_rules::timefmt::format_time_seconds;
use std::fmt::Write as _;
use std::sync::Arc;

/// The stored version an edit starts from, and its text.
pub(crate) struct Base {
    pub(crate) version: Option<i64>,
    pub(crate) text: String,
}

impl Commands {
    pub(super) async fn refuse(&self, caller: &Caller, what: &str) -> Result<String, StoreError> {
        let mut e = AuditEntry::new(Kind::Refused, caller.origin());
        e.workspace = Some(caller.workspace.clone()).filter(|w| !w.is_empty());
        e.channel = Some(caller.channel.clone()).filter(|c| !c.is_empty());
        e.author = Some(caller.user_id.clone());
        e.detail = Some(format!("not an admin: {what}"));
        self.moderator.store().append(e).await?;
        // On Discord only the slash command carries the permissions Discord
        // vouches for; a direct message or a mention never makes an admin.
        let ask = match caller.platform {
            Some(Platform::Discord) => "Admins make changes with the /linkguard slash command in the server; ask a server admin if this needs changing.",
            _ => "Ask a workspace admin if this needs changing.",
        };
        Ok(format!(
            "Sorry {}, only linkguard admins can {what}. {ask}",
            if caller.user_name.is_empty() {
                "there"
            } else {
                &caller.user_name
            }
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
        let source = format!("{} edit by {}: {what}", caller.origin(), caller.author());
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

    /// `rules …`: reading the rules is for everyone, changing them for admins.
    pub(super) async fn rules(
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
        match sub.as_str() {
            "list" => Ok(self.rules_list()),
            "show" => Ok(self.rules_show(args)),
            "test" => Ok(self.check(caller, after_word(text, 2))),
            "history" => self.rules_history().await,
            "add" | "remove" | "set" | "rollback" | "delete" => {
                if !caller.is_admin {
                    return self.refuse(caller, &format!("{sub} rules")).await;
                }
                self.rules_edit(caller, &sub, args, text).await
            }
            _ => Ok(format!("Unknown rules command `{sub}`.\n\n{HELP}")),
        }
    }

    /// `rules list`: every rule on one line.
    fn rules_list(&self) -> String {
        let active = self.moderator.policy();
        let policy = &active.policy;
        let mut out = format!(
            "Policy {} (version {}), mode {}:\n",
            policy.name(),
            active.version.map_or("built-in".into(), |v| v.to_string()),
            policy.mode().as_str()
        );
        for r in policy.rules() {
            let mut what: Vec<String> = r.providers.iter().map(|p| p.as_str().to_owned()).collect();
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
        out.trim_end().to_owned()
    }

    /// `rules show ID`: every field of one rule.
    fn rules_show(&self, args: &[String]) -> String {
        let active = self.moderator.policy();
        let policy = &active.policy;
        let Some(id) = args.first() else {
            return "Usage: /linkguard rules show ID".into();
        };
        let Some(r) = policy.rule(id) else {
            return format!("There is no rule `{id}`. Try /linkguard rules list.");
        };
        let mut out = format!("Rule `{}`\n", r.id);
        let list = |v: &[String]| {
            if v.is_empty() {
                "(any)".to_owned()
            } else {
                v.join(", ")
            }
        };
        let providers: Vec<String> = r.providers.iter().map(|p| p.as_str().to_owned()).collect();
        let platforms: Vec<String> = r.platforms.iter().map(|p| p.as_str().to_owned()).collect();
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
        out
    }

    /// `rules history`: the stored versions, newest first.
    async fn rules_history(&self) -> Result<String, StoreError> {
        let versions = self.moderator.store().policy_history().await?;
        if versions.is_empty() {
            return Ok("No policy version is stored yet: the built-in policy is in force.".into());
        }
        let mut out = String::from("Policy versions (newest first):\n");
        for v in versions.iter().rev().take(20) {
            let _ = writeln!(
                out,
                "- v{}{} by {} at {}: {}",
                v.version,
                if v.active { " (active)" } else { "" },
                v.author,
                format_time_seconds(v.at_ms),
                v.source
            );
        }
        Ok(out.trim_end().to_owned())
    }

    /// `rules add|remove|set|rollback …` by an admin: the edit applied to
    /// the stored text, then [`Commands::apply`].
    async fn rules_edit(
        &self,
        caller: &Caller,
        sub: &str,
        args: &[String],
        text: &str,
    ) -> Result<String, StoreError> {
        let Base {
            version: base_version,
            text: base,
        } = self.base_text().await?;
        let edited = match sub {
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
                edit::add_rule(&base, id, &fields).map(|t| (t, format!("added rule `{id}`")))
            }
            "remove" | "delete" => match args.first() {
                Some(id) => {
                    edit::remove_rule(&base, id).map(|t| (t, format!("removed rule `{id}`")))
                }
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
            _ => return self.rules_rollback(caller, base_version, args).await,
        };
        match edited {
            Ok((text, what)) => self.apply(caller, base_version, text, &what).await,
            Err(e) => Ok(format!("That change was refused, nothing changed: {e}")),
        }
    }

    /// `rules rollback VERSION`: an older version's text, applied as an edit.
    async fn rules_rollback(
        &self,
        caller: &Caller,
        base_version: Option<i64>,
        args: &[String],
    ) -> Result<String, StoreError> {
        let Some(v) = args
            .first()
            .and_then(|v| v.trim_start_matches('v').parse::<i64>().ok())
        else {
            return Ok("Usage: /linkguard rules rollback VERSION".into());
        };
        match self.moderator.store().policy_get(v).await? {
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
        }
    }

    pub(super) async fn mode(
        &self,
        caller: &Caller,
        words: &[String],
    ) -> Result<String, StoreError> {
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

    pub(super) async fn bots(
        &self,
        caller: &Caller,
        words: &[String],
    ) -> Result<String, StoreError> {
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
}
