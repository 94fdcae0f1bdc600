//! Slack's admin check: [`Ctx::caller`], the one place that decides admin
//! rights (slash commands, mentions, interactivity), and the same check
//! for the web console, reached from outside the connector.

use super::Ctx;
use crate::commands::Caller;
use crate::moderation::Platform;
use slack_morphism::prelude::{SlackApiUserGroupsUsersListRequest, SlackUserGroupId};
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

impl Ctx {
    /// Who is asking, and the one place Slack admin rights are decided:
    /// inside an allowed team only (callers drop foreign teams first), for a
    /// user whose own team is allowed too (an external member of a shared
    /// channel is an admin of their own workspace, not of ours), who is a
    /// workspace admin/owner or a member of a configured admin user group.
    pub(super) async fn caller(&self, team: &str, channel: &str, user: &str) -> Caller {
        self.caller_answered(team, channel, user).await.0
    }

    /// [`Self::caller`], and whether Slack answered what it was asked: `Err`
    /// when a non-admin verdict rests on a call that failed (`users.info`,
    /// or every admin group's member list), so that it may not be final.
    pub(super) async fn caller_answered(
        &self,
        team: &str,
        channel: &str,
        user: &str,
    ) -> (Caller, Result<(), String>) {
        let info = self.actions.user(user).await;
        let mut answered = Ok(());
        let (name, home_ok, mut is_admin) = match &info {
            Ok(u) => {
                let home_ok = u.team.as_deref().is_none_or(|t| self.tenancy.allows(t));
                (u.name.clone(), home_ok, u.is_admin)
            }
            Err(e) => {
                tracing::warn!(error = %e, "users.info failed; treating the caller as a non-admin");
                let gone = matches!(e, slack_morphism::errors::SlackClientError::ApiError(api)
                    if api.code == "user_not_found");
                if !gone {
                    answered = Err(e.to_string());
                }
                (user.to_owned(), false, false)
            }
        };
        if !is_admin && home_ok && !self.admin_groups.is_empty() {
            match self.in_admin_group(user).await {
                Ok(yes) => is_admin = yes,
                Err(e) => answered = Err(e),
            }
        }
        let is_admin = is_admin && home_ok && self.tenancy.allows(team);
        let caller = Caller {
            platform: Some(Platform::Slack),
            workspace: team.to_owned(),
            channel: channel.to_owned(),
            user_id: user.to_owned(),
            user_name: name,
            roles: Vec::new(),
            is_admin,
        };
        (caller, answered)
    }

    /// Whether `user` is in one of the admin user groups; `Err` when a
    /// group's member list could not be read and no other group has them.
    async fn in_admin_group(&self, user: &str) -> Result<bool, String> {
        let session = self.actions_client_session();
        let mut failed = None;
        for group in &self.admin_groups {
            let req = SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId(group.clone()));
            match session.usergroups_users_list(&req).await {
                Ok(r) if r.users.iter().any(|u| u.0 == user) => return Ok(true),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(group = %group, error = %e, "usergroups.users.list failed");
                    failed = Some(format!("usergroups.users.list for {group}: {e}"));
                }
            }
        }
        failed.map_or(Ok(false), Err)
    }
}
