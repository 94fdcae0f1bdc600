//! Several processes and sudden death: a child appending in a loop is killed
//! with SIGKILL and every record it was told was written must still be there
//! with the chain intact; two processes appending to the same database at
//! once must leave one linear, valid chain. Run on SQLite and PostgreSQL.
//!
//! The children are this test binary itself, re-run with only the ignored
//! `child_appender` test selected and its job given in `LG_CHILD_*`
//! environment variables. Without them that test fails (so `--ignored`
//! cannot pass it having done nothing), and each parent checks that its
//! children really appended (a child that selected no test would print no
//! acknowledgement).

mod store_common;

use linkguard::store::{AuditEntry, AuditFilter, Kind, Origin, Platform, Store};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use store_common::{options, TestDb};

/// The child role's job, from its environment: a child started without it
/// (someone running the ignored tests) fails, rather than passing having
/// done nothing.
fn child_job() -> (String, String, u64) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: child_appender is not a test of its own but the \
                 writer process that the other tests in store_process.rs start \
                 (with LG_CHILD_URL, LG_CHILD_TAG and LG_CHILD_COUNT)"
            )
        })
    };
    let count = var("LG_CHILD_COUNT");
    let count = count
        .parse()
        .unwrap_or_else(|_| panic!("LG_CHILD_COUNT: expected a whole number, got `{count}`"));
    (var("LG_CHILD_URL"), var("LG_CHILD_TAG"), count)
}

/// Child role: appends `LG_CHILD_COUNT` records (0 = until killed) tagged
/// `LG_CHILD_TAG`, printing `ack <seq> <i>` after each one is committed.
#[tokio::test]
#[ignore = "the writer process of the other tests in this file; fails when run by hand"]
async fn child_appender() {
    let (url, tag, count) = child_job();
    let store = Store::open(&url, options())
        .await
        .expect("child opens store");
    let mut i = 0u64;
    while count == 0 || i < count {
        let r = store
            .append(AuditEntry {
                author: Some(tag.clone()),
                detail: Some(format!("{tag}-{i}")),
                ..AuditEntry::new(Kind::Action, Platform::Slack)
            })
            .await
            .expect("child append");
        // Only after the commit returned: this is the acknowledgement.
        println!("ack {} {}", r.seq, i);
        i += 1;
    }
}

fn spawn_child(db: &TestDb, tag: &str, count: u64) -> Child {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "child_appender",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LG_CHILD_URL", &db.url)
        .env("LG_CHILD_TAG", tag)
        .env("LG_CHILD_COUNT", count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// Run by hand (`--ignored`), the child role fails and says why.
#[test]
fn the_child_role_fails_without_its_job() {
    let out = Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", "child_appender", "--ignored", "--test-threads=1"])
        .env_remove("LG_CHILD_URL")
        .env_remove("LG_CHILD_TAG")
        .env_remove("LG_CHILD_COUNT")
        .output()
        .expect("run the child role");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "passed without a job:\n{text}");
    assert!(text.contains("1 failed"), "{text}");
    assert!(
        text.contains("is not set: child_appender is not a test"),
        "{text}"
    );
}

fn acks(line: &str) -> Option<(i64, u64)> {
    // The first ack shares its line with libtest's `test child_appender ... `.
    let start = line.find("ack ")?;
    let mut parts = line[start + 4..].split(' ');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

async fn a_killed_writer_loses_nothing_it_acknowledged(db: &TestDb) {
    // Migrate first so the child does not race the schema.
    let store = db.store().await;
    let mut child = spawn_child(db, "crash", 0);
    let stdout = child.stdout.take().expect("child stdout");
    let acked: Vec<(i64, u64)> = tokio::task::spawn_blocking(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(a) = acks(&line) {
                acked.push(a);
                if acked.len() == 300 {
                    // Mid-loop: the next append is likely in flight.
                    child.kill().expect("SIGKILL the child");
                    break;
                }
            }
        }
        let _ = child.wait();
        acked
    })
    .await
    .expect("reader");
    assert_eq!(
        acked.len(),
        300,
        "the child acknowledged 300 appends before dying"
    );

    let report = store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert!(report.head_seq >= 300);
    for (seq, i) in &acked {
        let r = store
            .record(*seq)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("acknowledged record {seq} is gone"));
        assert_eq!(
            r.entry.detail.as_deref(),
            Some(format!("crash-{i}").as_str())
        );
    }
    // The store is still writable after the crash (no stale lock).
    let next = store
        .append(AuditEntry::new(Kind::Startup, Origin::Linkguard))
        .await
        .expect("append after crash");
    assert_eq!(next.seq, report.head_seq + 1);
    assert!(store.verify().await.expect("verify").is_ok());
}

async fn two_processes_append_one_chain(db: &TestDb) {
    let store = db.store().await;
    const EACH: u64 = 1000;
    let children = [
        spawn_child(db, "alpha", EACH),
        spawn_child(db, "beta", EACH),
    ];
    let waits: Vec<_> = children
        .into_iter()
        .map(|mut child| {
            tokio::task::spawn_blocking(move || {
                let stdout = child.stdout.take().expect("child stdout");
                let n = BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .filter(|l| acks(l).is_some())
                    .count();
                (child.wait().expect("wait child"), n)
            })
        })
        .collect();
    for w in waits {
        let (status, n) = w.await.expect("join");
        assert!(status.success(), "child failed: {status:?}");
        assert_eq!(n as u64, EACH);
    }
    let report = store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.head_seq, 2 * EACH as i64);
    for tag in ["alpha", "beta"] {
        let records = store
            .list(&AuditFilter {
                author: Some(tag.into()),
                ..AuditFilter::default()
            })
            .await
            .expect("list");
        let distinct: HashSet<_> = records.iter().map(|r| r.entry.detail.clone()).collect();
        assert_eq!(distinct.len() as u64, EACH, "{tag}: every append once");
    }
}

on_both_backends!(
    a_killed_writer_loses_nothing_it_acknowledged,
    two_processes_append_one_chain,
);
