//! Issue #15 at the store: pending actions as a leased work queue, on SQLite
//! and PostgreSQL. Two replicas claiming at once never get the same action;
//! a lease that runs out lets another replica take the action over; a
//! put-off action counts its attempts and is not due before its back-off;
//! only the lease holder may record progress, put it off or give it up.

mod store_common;

use linkguard::store::{
    now_ms, AuditEntry, Kind, Outcome, Platform, Recorded, Store, StoreOptions,
};
use std::collections::HashSet;
use store_common::{options, record_pending, TestDb};

async fn record(store: &Store, i: usize, lease: Option<(String, i64)>) -> i64 {
    let Recorded::New(records) = record_pending(store, i, lease).await else {
        panic!("new event recorded as a duplicate")
    };
    records[0].seq
}

async fn open_second(db: &TestDb) -> Store {
    Store::open(&db.url, StoreOptions { ..options() })
        .await
        .expect("second store")
}

async fn hardening_two_replicas_claiming_at_once_never_share_an_action(db: &TestDb) {
    let a = db.store().await;
    let b = open_second(db).await;
    const N: usize = 40;
    for i in 0..N {
        record(&a, i, None).await;
    }
    let until = now_ms() + 60_000;
    // Both replicas claim in small batches, at the same time, until nothing is left.
    let claim_all = |store: Store, owner: &'static str| async move {
        let mut mine = Vec::new();
        loop {
            let got = store
                .claim_pending(Platform::Slack, owner, until, 3)
                .await
                .expect("claim");
            if got.is_empty() {
                return mine;
            }
            for p in got {
                assert_eq!(p.lease_owner.as_deref(), Some(owner));
                mine.push(p.detection.seq);
            }
        }
    };
    let (from_a, from_b) = tokio::join!(
        claim_all(a.clone(), "replica-a"),
        claim_all(b.clone(), "replica-b")
    );
    let set_a: HashSet<i64> = from_a.iter().copied().collect();
    let set_b: HashSet<i64> = from_b.iter().copied().collect();
    assert_eq!(set_a.len(), from_a.len(), "a claimed nothing twice");
    assert_eq!(set_b.len(), from_b.len(), "b claimed nothing twice");
    assert!(set_a.is_disjoint(&set_b), "no action went to both replicas");
    assert_eq!(set_a.len() + set_b.len(), N, "every action was claimed");
    // Another platform's connector claims none of them.
    assert!(a
        .claim_pending(Platform::Discord, "replica-c", until, 100)
        .await
        .expect("claim")
        .is_empty());
    b.close().await;
}

async fn hardening_leases_expire_back_offs_hold_and_only_the_holder_writes(db: &TestDb) {
    let store = db.store().await;
    // Leased to a process that then died: not claimable until the lease runs out.
    let held = record(&store, 1, Some(("dead".into(), now_ms() + 60_000))).await;
    let expired = record(&store, 2, Some(("dead".into(), now_ms() - 1))).await;
    let claimed = store
        .claim_pending(Platform::Slack, "alive", now_ms() + 60_000, 10)
        .await
        .expect("claim");
    let seqs: Vec<i64> = claimed.iter().map(|p| p.detection.seq).collect();
    assert_eq!(seqs, [expired], "only the expired lease is taken over");
    assert_eq!(claimed[0].payload.as_deref(), Some("{\"n\":2}"));
    assert_eq!(claimed[0].payload_mac.as_deref(), Some("00"));

    // Only the holder records progress or puts the action off.
    assert!(!store
        .record_progress(held, "alive", "{}", "00")
        .await
        .expect("progress"));
    assert!(store
        .record_progress(expired, "alive", "{\"repost\":\"1\"}", "ab")
        .await
        .expect("progress"));
    assert!(!store
        .defer_pending(expired, "dead", now_ms(), "x")
        .await
        .expect("defer"));
    let next = now_ms() + 60_000;
    assert!(store
        .defer_pending(expired, "alive", next, "Slack rate limit")
        .await
        .expect("defer"));
    let p = store
        .pending_one(expired)
        .await
        .expect("read")
        .expect("still pending");
    assert_eq!(p.attempts, 1);
    assert_eq!(p.next_attempt_ms, next);
    assert_eq!(p.lease_owner, None, "putting off releases the lease");
    assert_eq!(p.last_error.as_deref(), Some("Slack rate limit"));
    assert_eq!(p.progress.as_deref(), Some("{\"repost\":\"1\"}"));
    assert_eq!(p.progress_mac.as_deref(), Some("ab"));
    // Not due before its back-off, by anyone.
    assert!(store
        .claim_pending(Platform::Slack, "other", now_ms() + 60_000, 10)
        .await
        .expect("claim")
        .is_empty());
    // Renewing keeps a running action's lease; a lost one is not renewed.
    assert_eq!(
        store
            .renew_leases("dead", &[held, expired], now_ms() + 120_000)
            .await
            .expect("renew"),
        1
    );
    // A lease given up (at shutdown) is free at once, and only its holder gives it up.
    assert!(!store.release_lease(held, "alive").await.expect("release"));
    assert!(store.release_lease(held, "dead").await.expect("release"));
    let taken = store
        .claim_pending(Platform::Slack, "alive", now_ms() + 60_000, 10)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].detection.seq, held);
    // Recording the outcome ends it, once.
    let mut e = AuditEntry::new(Kind::Action, Platform::Slack);
    e.outcome = Some(Outcome::Ok);
    store
        .record_outcome(expired, e.clone())
        .await
        .expect("outcome");
    assert!(store.record_outcome(expired, e).await.is_err());
    assert!(store.pending_one(expired).await.expect("read").is_none());
}

on_both_backends!(
    hardening_two_replicas_claiming_at_once_never_share_an_action,
    hardening_leases_expire_back_offs_hold_and_only_the_holder_writes,
);
