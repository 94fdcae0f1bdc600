//! Time-limited exceptions (the user-facing command is `exempt`): granted
//! by admins for a user or a channel, listed, revoked; scoped to the
//! caller's platform and workspace.

use super::words::{human_duration, parse_duration, parse_target};
use super::{Caller, Commands};
use crate::moderation::Platform;
use crate::store::{Exception, StoreError};
use linkguard_rules::timefmt::format_time_seconds;
use std::fmt::Write as _;

impl Commands {
    /// `exempt list | revoke ID | @user|#channel for DURATION because REASON`:
    /// time-limited exceptions. Past 80 lines because each branch is mostly
    /// its usage answer; the parsing is in [`super::words`].
    pub(super) async fn exceptions(
        &self,
        caller: &Caller,
        words: &[String],
    ) -> Result<String, StoreError> {
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
                        format_time_seconds(e.until_ms),
                        e.granted_by,
                        e.reason
                    );
                }
                Ok(out.trim_end().to_owned())
            }
            Some("request" | "requests" | "approve" | "deny" | "cancel") => {
                self.request_words(caller, words).await
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
                        caller.platform,
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
                    format_time_seconds(e.until_ms),
                    e.reason
                ))
            }
        }
    }
}

impl Caller {
    /// Which exceptions the caller may see and revoke: their own platform
    /// and workspace in chat; everything on the CLI (`None`).
    fn scope(&self) -> Option<(Platform, &str)> {
        self.platform.map(|p| (p, self.workspace.as_str()))
    }
}
