//! What the web console keeps in the store, on SQLite and on PostgreSQL:
//! sessions (hashed tokens, idle and absolute expiry, logout), sign-ins in
//! flight (taken once), failed sign-ins per address, the overview's counts,
//! and the audit search (case-insensitive, `%` and `_` taken literally,
//! outcome filter, paging newest first).

mod store_common;

use linkguard::store::{
    AuditEntry, AuditFilter, ConsoleSession, ExceptionTarget, Kind, LoginAttempt, Outcome, Platform,
};
use std::time::Duration;
use store_common::TestDb;

fn session(expires_in_ms: i64) -> ConsoleSession {
    let now = linkguard::store::now_ms();
    ConsoleSession {
        csrf: "csrf-token".into(),
        platform: Platform::Slack.into(),
        workspace: "T0FAKETEAM1".into(),
        user_id: "U0FAKEADM01".into(),
        user_name: "Ada Admin".into(),
        via: "slack".into(),
        created_ms: now,
        expires_ms: now + expires_in_ms,
        checked_ms: now,
    }
}

async fn console_store(db: &TestDb) {
    let s = db.store().await;

    // Sessions: found by the token, never stored as the token.
    s.console_session_create("token-1", &session(60_000))
        .await
        .unwrap();
    let got = s.console_session("token-1", 60_000).await.unwrap().unwrap();
    assert_eq!(got.user_id, "U0FAKEADM01");
    assert_eq!(got.csrf, "csrf-token");
    assert!(s
        .console_session("token-2", 60_000)
        .await
        .unwrap()
        .is_none());
    let raw = db.raw().await;
    let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM console_sessions")
        .fetch_all(&raw)
        .await
        .unwrap();
    assert!(stored.iter().all(|(h,)| h != "token-1" && h.len() == 64));
    // Idle too long: gone.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(s.console_session("token-1", 1).await.unwrap().is_none());
    assert!(s
        .console_session("token-1", 60_000)
        .await
        .unwrap()
        .is_none());
    // Past the absolute expiry: gone.
    s.console_session_create("token-3", &session(-1))
        .await
        .unwrap();
    assert!(s
        .console_session("token-3", 60_000)
        .await
        .unwrap()
        .is_none());
    // Logout.
    s.console_session_create("token-4", &session(60_000))
        .await
        .unwrap();
    assert!(s.console_session_delete("token-4").await.unwrap());
    assert!(s
        .console_session("token-4", 60_000)
        .await
        .unwrap()
        .is_none());

    // A sign-in in flight is taken once, and not after it expired.
    let attempt = LoginAttempt {
        provider: Platform::Discord,
        secret: "verifier".into(),
    };
    s.console_login_begin("state-1", &attempt, 60_000)
        .await
        .unwrap();
    assert_eq!(
        s.console_login_take("state-1").await.unwrap(),
        Some(attempt.clone())
    );
    assert_eq!(s.console_login_take("state-1").await.unwrap(), None);
    s.console_login_begin("state-2", &attempt, -1)
        .await
        .unwrap();
    assert_eq!(s.console_login_take("state-2").await.unwrap(), None);

    // Failed sign-ins are counted per address within the window.
    for n in 1..=3 {
        assert_eq!(s.console_failure("10.0.0.1", 60_000).await.unwrap(), n);
    }
    assert_eq!(s.console_failures("10.0.0.2", 60_000).await.unwrap(), 0);

    // The audit search and the overview's counts.
    let entry = |rule: &str, outcome: Outcome, detail: &str| {
        let mut e = AuditEntry::new(Kind::Detected, Platform::Slack);
        e.channel = Some("C1".into());
        e.rule_id = Some(rule.into());
        e.provider = Some("zoom".into());
        e.outcome = Some(outcome);
        e.detail = Some(detail.into());
        e
    };
    s.append(entry("no-zoom", Outcome::Ok, "Reposted 100% of it"))
        .await
        .unwrap();
    s.append(entry("no-zoom", Outcome::Failed, "Missing_Permission"))
        .await
        .unwrap();
    s.append(entry("no-webex", Outcome::Ok, "plain"))
        .await
        .unwrap();
    let find = |text: &str| AuditFilter {
        text: Some(text.into()),
        ..AuditFilter::default()
    };
    let seqs = |v: Vec<linkguard::store::AuditRecord>| v.iter().map(|r| r.seq).collect::<Vec<_>>();
    let all = s.list(&AuditFilter::default()).await.unwrap();
    let base = all.len() as i64 - 3;
    assert_eq!(
        seqs(s.list(&find("REPOSTED")).await.unwrap()),
        vec![base + 1]
    );
    assert_eq!(seqs(s.list(&find("100%")).await.unwrap()), vec![base + 1]);
    assert_eq!(s.list(&find("1_0")).await.unwrap().len(), 0, "_ is literal");
    assert_eq!(s.list(&find("0%%")).await.unwrap().len(), 0, "% is literal");
    assert_eq!(
        seqs(s.list(&find("missing_perm")).await.unwrap()),
        vec![base + 2]
    );
    assert_eq!(s.list(&find("no-")).await.unwrap().len(), 3);
    let failed = AuditFilter {
        outcome: Some("failed".into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(s.list(&failed).await.unwrap()), vec![base + 2]);
    let page = AuditFilter {
        before_seq: Some(base + 3),
        limit: Some(1),
        newest_first: true,
        kind: Some("detected".into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(s.list(&page).await.unwrap()), vec![base + 2]);
    let by_rule = s
        .audit_counts(0, &["detected"], "rule_id", 10)
        .await
        .unwrap();
    assert_eq!(
        by_rule,
        vec![("no-zoom".to_owned(), 2), ("no-webex".to_owned(), 1)]
    );
    assert!(s
        .audit_counts(0, &["detected"], "detail; DROP TABLE audit_log", 10)
        .await
        .unwrap()
        .is_empty());

    // Exceptions, ended ones included.
    let e = s
        .exception_grant(
            Some(Platform::Slack),
            "T0FAKETEAM1",
            &ExceptionTarget::User("U1".into()),
            Duration::from_secs(3600),
            "demo",
            "Ada",
        )
        .await
        .unwrap();
    s.exception_revoke(e.id, "Ada").await.unwrap();
    let recent = s.exceptions_recent(10).await.unwrap();
    assert_eq!(recent.len(), 1);
    assert!(!recent[0].1, "revoked: not in force");
    assert!(s.verify().await.unwrap().is_ok());
    s.close().await;
}

#[tokio::test]
async fn sqlite_console_store() {
    console_store(&store_common::sqlite().await).await;
}

#[tokio::test]
async fn postgres_console_store() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    console_store(&db).await;
}
