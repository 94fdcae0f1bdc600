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

    /// The company's teams (the first is offered to Slack's sign-in page).
    pub fn teams(&self) -> &[String] {
        self.0.tenancy.allowed()
    }
}
