//! Slack's admin check for the web console: the same [`Ctx::caller`] that
//! decides admin rights for slash commands, reached from outside the
//! connector.

use super::Ctx;
use crate::commands::Caller;
use std::sync::Arc;

/// Decides whether a person who signed in with Slack is a linkguard admin.
#[derive(Clone)]
pub struct ConsoleAdmins(pub(super) Arc<Ctx>);

impl ConsoleAdmins {
    /// The person `user` of `team` as chat would see them; `is_admin` only
    /// inside an allowed team, exactly as for `/linkguard`.
    pub async fn caller(&self, team: &str, user: &str) -> Caller {
        if !self.0.tenancy.allows(team) {
            return Caller {
                platform: Some(crate::moderation::Platform::Slack),
                workspace: team.to_owned(),
                channel: String::new(),
                user_id: user.to_owned(),
                user_name: user.to_owned(),
                roles: Vec::new(),
                is_admin: false,
            };
        }
        self.0.caller(team, "", user).await
    }

    /// Whether `user` of `team` is still an admin, for a console session:
    /// `Err` when a "no" rests on a call Slack did not answer (a timeout, a
    /// rate limit, an outage, of `users.info` or of the admin groups'
    /// member lists), which leaves the session as it is, rather than
    /// treating a hiccup as "not an admin" and signing admins out.
    pub async fn still_admin(&self, team: &str, user: &str) -> Result<bool, String> {
        if !self.0.tenancy.allows(team) {
            return Ok(false);
        }
        match self.0.caller_answered(team, "", user).await {
            (c, _) if c.is_admin => Ok(true),
            (_, answered) => answered.map(|()| false),
        }
    }

    /// The company's teams (the first is offered to Slack's sign-in page).
    pub fn teams(&self) -> &[String] {
        self.0.tenancy.allowed()
    }
}
