//! The App Home tab: what is allowed, the person's exceptions and requests,
//! a "Check a link" button and, for admins, the rule modes and the requests
//! waiting for them.
//!
//! Published (`views.publish`) when someone opens the tab (`app_home_opened`)
//! and kept fresh for the people who opened it in the last
//! [`HOME_FRESH_FOR`]: again after every policy change (the store's change
//! notification, so a change made on another replica counts) and after a
//! request of theirs moves. The view is computed from the same policy and
//! store the commands use, for the person as [`Ctx::caller`] sees them, so a
//! non-admin never sees the admin part.

use super::blocks::{self, AdminHome, AdminRule, Banned, Home, HomeException};
use super::Ctx;
use crate::commands::Caller;
use crate::moderation::Platform;
use crate::store::{ExceptionTarget, RequestState};
use linkguard_rules::eval::MessageContext;
use linkguard_rules::policy::Mode;
use linkguard_rules::{Dialect, ProviderId};
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long after opening the Home tab a person's view is refreshed.
pub const HOME_FRESH_FOR: Duration = Duration::from_secs(24 * 3600);
/// How many recent viewers are remembered (the oldest are forgotten first).
const VIEWERS_MAX: usize = 2000;

/// Who opened the Home tab recently, per (team, user).
#[derive(Debug, Default)]
pub(super) struct HomeViewers(Mutex<HashMap<(String, String), Instant>>);

impl HomeViewers {
    fn touch(&self, team: &str, user: &str) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.insert((team.to_owned(), user.to_owned()), Instant::now());
        if m.len() > VIEWERS_MAX {
            m.retain(|_, at| at.elapsed() < HOME_FRESH_FOR);
            while m.len() > VIEWERS_MAX {
                let Some(oldest) = m.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone())
                else {
                    break;
                };
                m.remove(&oldest);
            }
        }
    }

    /// The viewers to keep fresh now.
    fn recent(&self) -> Vec<(String, String)> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, at| at.elapsed() < HOME_FRESH_FOR);
        m.keys().cloned().collect()
    }

    fn contains(&self, team: &str, user: &str) -> bool {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&(team.to_owned(), user.to_owned()))
            .is_some_and(|at| at.elapsed() < HOME_FRESH_FOR)
    }
}

impl Ctx {
    /// `app_home_opened` on the Home tab: publish it for that person.
    pub(super) async fn home_opened(self: &Arc<Self>, team: &str, user: &str) {
        self.home_viewers.touch(team, user);
        self.publish_home(team, user).await;
    }

    /// Publishes the Home tab of `user`; failures are logged (the next
    /// opening publishes again).
    pub(super) async fn publish_home(&self, team: &str, user: &str) {
        let caller = self.caller(team, "", user).await;
        let home = match self.home_for(&caller).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the store for a Home tab");
                return;
            }
        };
        let view = match serde_json::from_value::<SlackView>(blocks::home_view(&home)) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "the Home tab does not fit slack-morphism's model");
                return;
            }
        };
        let req = SlackApiViewsPublishRequest::new(SlackUserId(user.to_owned()), view);
        let session = self.actions.session();
        if let Err(e) = self.actions.retrying(|| session.views_publish(&req)).await {
            tracing::warn!(error = %e, user.id = %user, "views.publish failed");
        }
    }

    /// Re-publishes the Home tab of everyone who opened it recently, after
    /// every policy change, for as long as the connector runs.
    pub(super) async fn keep_homes_fresh(self: Arc<Self>) {
        let mut versions = self.moderator.policy_versions();
        while versions.changed().await.is_ok() {
            for (team, user) in self.home_viewers.recent() {
                self.publish_home(&team, &user).await;
            }
        }
    }

    /// Re-publishes the Home tab of `user` (if they look at it) and of every
    /// recent viewer who is an admin: after a request moved.
    pub(super) async fn refresh_request_homes(&self, team: &str, user: &str) {
        if self.home_viewers.contains(team, user) {
            self.publish_home(team, user).await;
        }
        for (t, u) in self.home_viewers.recent() {
            if t == team && u != user && self.caller(&t, "", &u).await.is_admin {
                self.publish_home(&t, &u).await;
            }
        }
    }

    /// What the Home tab shows `caller`.
    async fn home_for(&self, caller: &Caller) -> Result<Home, crate::store::StoreError> {
        let active = self.moderator.policy();
        let policy = &active.policy;
        let ctx = MessageContext {
            platform: Dialect::Slack,
            workspace: &caller.workspace,
            channel: &caller.channel,
            user: &caller.user_id,
            roles: &caller.roles,
            excepted: false,
        };
        let approved = policy
            .approved()
            .filter_map(ProviderId::new)
            .map(|id| policy.provider_name(&id).to_owned())
            .collect();
        let mut banned = Vec::new();
        for rule in policy.rules().iter().filter(|r| r.applies(&ctx)) {
            let what = crate::notice::rule_subjects(policy, rule);
            // The same personal room `/linkguard ask` offers for the tool.
            let provider = rule
                .providers
                .first()
                .map_or(rule.id.as_str(), ProviderId::as_str);
            let alternative = rule.alternative.as_ref().map(|t| {
                let seed = format!("ask:{}:{}:{provider}", Platform::Slack, caller.user_id);
                t.render(
                    self.moderator.room_key(),
                    policy.room_prefix(),
                    provider,
                    &seed,
                )
            });
            banned.push(Banned {
                what: what.join(", "),
                rule: rule.id.to_string(),
                reason: rule.reason.clone(),
                alternative,
                monitor: rule.mode == Mode::Monitor || policy.mode() == Mode::Monitor,
            });
        }
        let requests = self
            .commands
            .requests_mine(caller)
            .await
            .unwrap_or_default();
        let granted: Vec<i64> = requests.iter().filter_map(|r| r.exception_id).collect();
        let store = self.moderator.store();
        let here = (Platform::Slack, caller.workspace.as_str());
        let exceptions = store
            .exceptions_visible(Some(here))
            .await?
            .into_iter()
            .filter(|e| {
                matches!(&e.target, ExceptionTarget::User(u) if *u == caller.user_id)
                    || granted.contains(&e.id)
            })
            .map(|e| HomeException {
                id: e.id,
                target: e.target,
                until_ms: e.until_ms,
                reason: e.reason,
            })
            .collect();
        let admin = if caller.is_admin {
            let pending = store.requests_pending(here.0, here.1).await?;
            Some(AdminHome {
                policy_mode: policy.mode().as_str().to_owned(),
                version: active.version,
                rules: policy
                    .rules()
                    .iter()
                    .map(|r| AdminRule {
                        id: r.id.to_string(),
                        mode: if r.mode == Mode::Monitor || policy.mode() == Mode::Monitor {
                            "monitor"
                        } else {
                            "enforce"
                        }
                        .to_owned(),
                        action: r.action.as_str().to_owned(),
                    })
                    .collect(),
                pending,
                console_url: self.console_url.clone(),
            })
        } else {
            None
        };
        Ok(Home {
            approved,
            banned,
            exceptions,
            requests: requests
                .into_iter()
                .filter(|r| r.state == RequestState::Pending)
                .collect(),
            admin,
        })
    }
}
