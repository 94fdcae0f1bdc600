//! Whose events count: the company's own Slack teams and Discord servers.
//!
//! A bot can be added to anyone's Discord server, and a distributed Slack app
//! to anyone's workspace; an administrator *there* must not be able to change
//! the company's policy, and messages *there* are not the company's to
//! moderate. Each connector asks [`Tenancy::allows`] once, in its
//! translation step, before anything reaches the pipeline or the commands:
//! what comes from elsewhere is dropped there, so the pipeline, the commands
//! and the store never see a foreign event.
//!
//! Dropping is audited as `refused`, but at most once per foreign workspace
//! per [`REFUSAL_WINDOW`]: a busy foreign server must not be able to flood
//! the audit log or the database. The window is kept twice: in a small
//! in-process map (bounded, so no number of workspaces can grow it without
//! limit) that spares the database the repeats, and as a key with an expiry
//! in the store, so that replicas sharing a database write one record
//! between them.

use crate::moderation::Platform;
use crate::store::{AuditEntry, Kind, Store};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one `refused` record stands for every event from a workspace.
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(3600);

/// How many foreign workspaces the in-process memory holds before it is
/// pruned (the store's key still throttles beyond it).
const RECENT_MAX: usize = 1024;

/// Longest workspace id kept in keys and records (real ids are far shorter).
const ID_MAX: usize = 64;

/// The allowed workspaces of one platform, and the throttled audit of what
/// was refused.
#[derive(Debug)]
pub struct Tenancy {
    platform: Platform,
    allowed: Vec<String>,
    store: Store,
    recent: Mutex<HashMap<String, Instant>>,
}

impl Tenancy {
    /// The tenancy of `platform`: only `allowed` workspaces (Slack team ids,
    /// Discord guild ids) count.
    pub fn new(platform: Platform, allowed: Vec<String>, store: Store) -> Tenancy {
        Tenancy {
            platform,
            allowed,
            store,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// The store refusals are recorded in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The allowed workspaces.
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// Whether `workspace` is one of the company's. An empty id (a Discord
    /// DM, a payload without a team) never is.
    pub fn allows(&self, workspace: &str) -> bool {
        !workspace.is_empty() && self.allowed.iter().any(|a| a == workspace)
    }

    /// What a workspace is called on this platform, for records and replies.
    pub fn noun(&self) -> &'static str {
        match self.platform {
            Platform::Slack => "Slack workspace",
            Platform::Discord => "Discord server",
        }
    }

    /// Whether a refusal for `workspace` was already recorded by this
    /// process within the window; remembers it otherwise.
    fn seen_recently(&self, workspace: &str) -> bool {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = recent.get(workspace) {
            if now.duration_since(*at) < REFUSAL_WINDOW {
                return true;
            }
        }
        if recent.len() >= RECENT_MAX {
            recent.retain(|_, at| now.duration_since(*at) < REFUSAL_WINDOW);
            if recent.len() >= RECENT_MAX {
                // Only the in-process shortcut is lost; the store still throttles.
                recent.clear();
            }
        }
        recent.insert(workspace.to_owned(), now);
        false
    }

    /// Records that `what` (e.g. "a message", "/linkguard mode monitor")
    /// from a foreign `workspace` was ignored: one `refused` record per
    /// workspace per [`REFUSAL_WINDOW`], however many events arrive.
    pub async fn refuse(&self, workspace: &str, what: &str) {
        let workspace: String = workspace.chars().take(ID_MAX).collect();
        // `what` may quote a foreign caller's words: keep it short.
        let what: String = what.chars().take(ID_MAX).collect();
        let what = what.as_str();
        tracing::debug!(platform = self.platform.as_str(), workspace = %workspace, what, "ignoring an event from a workspace that is not the company's");
        if self.seen_recently(&workspace) {
            return;
        }
        let key = format!("tenancy:refused:{}:{}", self.platform.as_str(), workspace);
        let mut e = AuditEntry::new(Kind::Refused, self.platform);
        e.workspace = Some(workspace.clone()).filter(|w| !w.is_empty());
        e.detail = Some(format!(
            "not one of the company's {}s: {what} ignored, neither moderated nor obeyed (further events from it are not recorded for an hour)",
            self.noun()
        ));
        match self.store.append_throttled(&key, REFUSAL_WINDOW, e).await {
            Ok(true) => tracing::warn!(
                platform = self.platform.as_str(),
                workspace = %workspace,
                "events from a {} that is not configured are being ignored",
                self.noun()
            ),
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(error = %err, "could not audit an event from a foreign workspace");
                // Let the next event try again.
                self.recent
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&workspace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_in_process_memory_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url, crate::store::StoreOptions::default())
            .await
            .unwrap();
        let t = Tenancy::new(Platform::Discord, vec!["1".into()], store);
        assert!(t.allows("1") && !t.allows("2") && !t.allows(""));
        for i in 0..(RECENT_MAX + 10) {
            assert!(!t.seen_recently(&format!("w{i}")));
        }
        let len = t.recent.lock().unwrap().len();
        assert!(len <= RECENT_MAX, "{len}");
        assert!(t.seen_recently(&format!("w{}", RECENT_MAX + 9)));
    }
}
