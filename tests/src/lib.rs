//! End-to-end test support for linkguard: helpers per platform, shared by
//! the tests in `tests/tests/`.

pub mod discord_support;
pub mod slack_support;

/// Retry settings for tests: back-offs and leases short enough that put-off
/// actions and a crashed process's leases come due within a test's wait.
pub fn fast_retry() -> linkguard::moderation::RetrySettings {
    use std::time::Duration;
    linkguard::moderation::RetrySettings {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(800),
        lease: Duration::from_secs(3),
        attempt_budget: Duration::from_secs(2),
        poll: Duration::from_millis(50),
    }
}

/// A pipeline over `store` with the built-in policy, the development keys
/// and [`fast_retry`]: one process of linkguard, driven directly by a test.
pub fn test_moderator(store: linkguard::store::Store) -> linkguard::moderation::Moderator {
    linkguard::moderation::Moderator::new(
        store,
        linkguard::moderation::ActivePolicy {
            policy: std::sync::Arc::new(linkguard_rules::policy::Policy::default_policy()),
            version: None,
        },
        linkguard_rules::policy::RoomKey::new(linkguard::config::DEVELOPMENT_ROOM_KEY),
        false,
    )
    .with_retry(fast_retry())
}

use linkguard::store::{AuditFilter, AuditRecord, Store, StoreOptions};

/// The SQLite database linkguard uses inside `dir`.
pub fn database_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("lg.db").display())
}

/// Turns the store setting `key` on in the database `db` before linkguard
/// starts, as an admin would have (e.g. a platform's `moderate_bots`).
pub async fn enable_setting(db: &str, key: &str) {
    let store = Store::open(db, StoreOptions::default())
        .await
        .expect("store");
    store.put_setting(key, "true").await.expect("setting");
    store.close().await;
}

/// A generous bound for anything to happen on a loaded machine.
const AUDIT_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Waits (bounded) until the audit log satisfies `pred`, and returns it. The
/// store has no change feed, so this polls.
pub async fn wait_audit(store: &Store, pred: impl Fn(&[AuditRecord]) -> bool) -> Vec<AuditRecord> {
    let deadline = tokio::time::Instant::now() + AUDIT_WAIT;
    loop {
        let rows = store
            .list(&AuditFilter::default())
            .await
            .expect("audit list");
        if pred(&rows) {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "audit log never matched: {rows:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
