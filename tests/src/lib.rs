//! End-to-end test support for linkguard: helpers per platform, shared by
//! the tests in `tests/tests/`.

pub mod discord_support;
pub mod slack_support;

use linkguard::store::{AuditFilter, AuditRecord, Store};

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
