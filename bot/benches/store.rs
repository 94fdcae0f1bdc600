//! Audit append throughput on each backend: one record per transaction
//! (from one task and from 8 tasks at once) and 100 records per transaction.
//!
//! `cargo bench -p linkguard --bench store` — SQLite always; PostgreSQL too
//! when `TEST_DATABASE_URL` is set (e.g. `eval "$(bash .ci/postgres.sh)"`).
//! Each run uses a fresh database. Prints appends per second.

#[path = "../tests/store_common/mod.rs"]
mod store_common;

use linkguard::store::{AuditAction, AuditEntry, Kind, Outcome, Platform, Revision, Store};
use std::time::Instant;
use store_common::TestDb;

const SINGLE: usize = 2_000;
const BATCH: usize = 100;
const BATCHES: usize = 100;

fn entry(i: usize) -> AuditEntry {
    AuditEntry {
        workspace: Some("T0123456".into()),
        channel: Some("C0123456".into()),
        message_id: Some(format!("C0123456/1700000000.{i:06}")),
        revision: Some(Revision::original()),
        author: Some("U0123456".into()),
        rule_id: Some("no-zoom".into()),
        policy_version: Some(3),
        provider: Some("zoom".into()),
        link: Some(format!("https://zoom.us/j/{i}?pwd=abcdef")),
        alternative: Some("https://meet.jit.si/lg-0123456789abcdef".into()),
        action: Some(AuditAction::Replace),
        outcome: Some(Outcome::Ok),
        ..AuditEntry::new(Kind::Detected, Platform::Slack)
    }
}

async fn run(name: &str, db: &TestDb) {
    let store: Store = db.store().await;

    let t = Instant::now();
    for i in 0..SINGLE {
        store.append(entry(i)).await.expect("append");
    }
    let single = SINGLE as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|k| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..SINGLE / 8 {
                    store.append(entry(k * SINGLE + i)).await.expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let concurrent = SINGLE as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    for b in 0..BATCHES {
        let batch = (0..BATCH).map(|i| entry(b * BATCH + i)).collect();
        store.append_batch(batch).await.expect("append batch");
    }
    let batched = (BATCH * BATCHES) as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let report = store.verify().await.expect("verify");
    let verify = report.checked as f64 / t.elapsed().as_secs_f64();
    assert!(report.is_ok(), "{report:?}");

    println!(
        "{name:<10} single: {single:>8.0}/s   8 tasks: {concurrent:>8.0}/s   batched ({BATCH}/tx): {batched:>8.0}/s   verify: {verify:>8.0} records/s"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("store bench: run with `cargo bench -p linkguard --bench store`");
        return;
    }
    run("sqlite", &store_common::sqlite().await).await;
    if let Some(db) = store_common::postgres().await {
        run("postgres", &db).await;
    }
}
