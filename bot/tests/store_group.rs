//! The live path's writes arriving all at once, on SQLite and PostgreSQL:
//! detections (some of them redeliveries of the same event), progress
//! records and outcomes (some for actions already resolved) from many tasks
//! at the same time are committed together, yet each gets the answer it
//! would have got alone, the chain verifies, and nothing a duplicate or a
//! refused write touched is kept.

mod store_common;

use linkguard::store::{
    AuditAction, AuditEntry, Kind, Outcome, Platform, Recorded, Revision, Store, StoreError,
};
use store_common::TestDb;

const EVENTS: usize = 60;
const OWNER: &str = "this-process";

fn outcome(i: usize) -> AuditEntry {
    AuditEntry {
        channel: Some("C1".into()),
        message_id: Some(format!("1700000000.{i:06}")),
        revision: Some(Revision::original()),
        outcome: Some(Outcome::Ok),
        action: Some(AuditAction::Replace),
        ..AuditEntry::new(Kind::Action, Platform::Slack)
    }
}

/// Records event `i`'s detection, leased to [`OWNER`].
async fn detect(store: &Store, i: usize) -> Recorded {
    store_common::record_pending(store, i, Some((OWNER.into(), i64::MAX))).await
}

/// Every event delivered twice at once; then, at once, every action's
/// progress, its outcome, and a second outcome for each.
async fn concurrent_writes_are_each_answered_as_alone(db: &TestDb) {
    let store = db.store().await;
    let mut tasks = Vec::new();
    for i in 0..EVENTS * 2 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            (i % EVENTS, detect(&s, i % EVENTS).await)
        }));
    }
    let mut seq_of = vec![None; EVENTS];
    let mut duplicates = 0;
    for t in tasks {
        match t.await.expect("task") {
            (i, Recorded::New(records)) => {
                assert_eq!(records.len(), 1);
                assert!(
                    seq_of[i].replace(records[0].seq).is_none(),
                    "event {i} recorded twice"
                );
            }
            (_, Recorded::Duplicate) => duplicates += 1,
        }
    }
    assert_eq!(
        duplicates, EVENTS,
        "each event's second delivery is a duplicate"
    );
    let seqs: Vec<i64> = seq_of.into_iter().map(|s| s.expect("recorded")).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), EVENTS, "one chain position per detection");

    let mut tasks = Vec::new();
    for (i, &seq) in seqs.iter().enumerate() {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let held = s
                .record_progress(seq, OWNER, &format!("{{\"repost\":\"{i}\"}}"), "ab")
                .await
                .expect("progress");
            let not_held = s
                .record_progress(seq, "another-process", "{}", "00")
                .await
                .expect("progress");
            (held, not_held)
        }));
    }
    for t in tasks {
        assert_eq!(
            t.await.expect("task"),
            (true, false),
            "only the holder writes"
        );
    }
    let pending = store.pending().await.expect("pending");
    assert_eq!(pending.len(), EVENTS);
    for p in &pending {
        let i = seqs
            .iter()
            .position(|&s| s == p.detection.seq)
            .expect("ours");
        assert_eq!(
            p.progress.as_deref(),
            Some(&*format!("{{\"repost\":\"{i}\"}}"))
        );
        assert_eq!(p.payload.as_deref(), Some(&*format!("{{\"n\":{i}}}")));
    }

    let mut tasks = Vec::new();
    for round in 0..2 {
        for (i, &seq) in seqs.iter().enumerate() {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                (round, s.record_outcome(seq, outcome(i)).await)
            }));
        }
    }
    let (mut recorded, mut refused) = (0, 0);
    for t in tasks {
        match t.await.expect("task") {
            (_, Ok(r)) => {
                assert_eq!(r.entry.kind, Kind::Action);
                recorded += 1;
            }
            (_, Err(StoreError::NotPending(_))) => refused += 1,
            (_, Err(e)) => panic!("outcome failed: {e:#?}"),
        }
    }
    assert_eq!(
        (recorded, refused),
        (EVENTS, EVENTS),
        "one outcome per action"
    );
    assert!(store.pending().await.expect("pending").is_empty());
    assert_eq!(
        store.count().await.expect("count"),
        2 * EVENTS as i64,
        "a detection and an outcome per event, nothing of the refused writes"
    );
    let report = store.verify().await.expect("verify");
    assert!(report.is_ok(), "chain: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_writes_are_each_answered_as_alone() {
    concurrent_writes_are_each_answered_as_alone(&store_common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_writes_are_each_answered_as_alone() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    concurrent_writes_are_each_answered_as_alone(&db).await;
}
