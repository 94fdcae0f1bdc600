//! The store's story, told once and run against SQLite (a temporary file)
//! and PostgreSQL (`TEST_DATABASE_URL`, a fresh database per test): audit
//! appends and queries, redaction, dedupe, pending actions, versioned policy,
//! tampering caught by `verify` (and by `linkguard audit verify`), purge with
//! a checkpoint, concurrent appends, and losing the database.

mod store_common;

use linkguard::store::{
    AuditAction, AuditEntry, AuditFilter, ChainProblem, DiscordWebhook, EventKey, Kind, Outcome,
    Platform, Recorded, Revision, Store, StoreError, StoreOptions,
};
use std::time::Duration;
use store_common::{options, TestDb};

fn detection(channel: &str, author: &str, link: &str) -> AuditEntry {
    AuditEntry {
        workspace: Some("T1".into()),
        channel: Some(channel.into()),
        message_id: Some(format!("{channel}/1700000000.000100")),
        revision: Some(Revision::original()),
        author: Some(author.into()),
        rule_id: Some("no-zoom".into()),
        policy_version: Some(1),
        provider: Some("zoom".into()),
        link: Some(link.into()),
        alternative: Some("https://meet.jit.si/lg-abc".into()),
        action: Some(AuditAction::Replace),
        outcome: Some(Outcome::Pending),
        message_text: Some(format!("join {link} now")),
        ..AuditEntry::new(Kind::Detected, Platform::Slack)
    }
}

async fn raw_exec(db: &TestDb, sql: &str) {
    let pool = db.raw().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("raw SQL `{sql}` failed: {e}"));
    pool.close().await;
}

async fn fill(store: &Store, n: usize) {
    for i in 0..n {
        store
            .append(AuditEntry {
                detail: Some(format!("record {i}")),
                channel: Some(format!("C{}", i % 3)),
                ..AuditEntry::new(Kind::Action, Platform::Discord)
            })
            .await
            .expect("append");
    }
}

/// `linkguard audit verify` on `db`: (exit success, stderr+stdout).
fn cli_verify(db: &TestDb) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linkguard"))
        .args(["audit", "verify"])
        .env("LINKGUARD_DATABASE_URL", &db.url)
        .output()
        .expect("run linkguard");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn audit_records_are_chained_redacted_and_queryable(db: &TestDb) {
    let store = db.store().await;
    assert!(store.verify().await.expect("verify empty").is_ok());
    assert_eq!(store.head().await.expect("head").0, 0);

    let r1 = store
        .append(detection(
            "C1",
            "U1",
            "https://zoom.us/j/123?pwd=s3cret&uname=x",
        ))
        .await
        .expect("append 1");
    let r2 = store
        .append(AuditEntry {
            at_ms: 1_000,
            ..detection("C2", "U2", "https://zoom.us/j/9?tk=tok&zak=z")
        })
        .await
        .expect("append 2");
    assert_eq!((r1.seq, r2.seq), (1, 2));
    assert_eq!(r2.prev_hash, r1.hash);
    assert_eq!(
        r1.entry.link.as_deref(),
        Some("https://zoom.us/j/123?pwd=[redacted]&uname=x")
    );
    assert_eq!(
        r1.entry.message_text, None,
        "text kept only when configured"
    );
    assert!(r1.entry.at_ms > 1_000, "time filled in");

    // What is read back is exactly what was hashed.
    let back = store.record(1).await.expect("read").expect("record 1");
    assert_eq!(back, r1);

    let kept = db
        .store_with(StoreOptions {
            keep_message_text: true,
            ..options()
        })
        .await;
    let r3 = kept
        .append(detection("C1", "U3", "https://zoom.us/j/5?p=x"))
        .await
        .expect("append 3");
    assert_eq!(
        r3.entry.message_text.as_deref(),
        Some("join https://zoom.us/j/5?p=[redacted] now")
    );
    assert_eq!(r3.prev_hash, r2.hash, "two stores, one chain");

    let by = |f: AuditFilter| {
        let store = store.clone();
        async move {
            store
                .list(&f)
                .await
                .expect("list")
                .iter()
                .map(|r| r.seq)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by(AuditFilter::default()).await, vec![1, 2, 3]);
    let c1 = AuditFilter {
        channel: Some("C1".into()),
        ..AuditFilter::default()
    };
    assert_eq!(by(c1).await, vec![1, 3]);
    let u2 = AuditFilter {
        author: Some("U2".into()),
        ..AuditFilter::default()
    };
    assert_eq!(by(u2).await, vec![2]);
    let old = AuditFilter {
        until_ms: Some(2_000),
        ..AuditFilter::default()
    };
    assert_eq!(by(old).await, vec![2]);
    let recent = AuditFilter {
        since_ms: Some(2_000),
        rule_id: Some("no-zoom".into()),
        platform: Some(Platform::Slack.into()),
        ..AuditFilter::default()
    };
    assert_eq!(by(recent).await, vec![1, 3]);
    let tail = AuditFilter {
        newest_first: true,
        limit: Some(2),
        ..AuditFilter::default()
    };
    assert_eq!(by(tail).await, vec![3, 2]);
    let after = AuditFilter {
        after_seq: Some(1),
        kind: Some("detected".into()),
        ..AuditFilter::default()
    };
    assert_eq!(by(after).await, vec![2, 3]);
    assert_eq!(
        by(AuditFilter {
            platform: Some(Platform::Discord.into()),
            ..AuditFilter::default()
        })
        .await,
        Vec::<i64>::new()
    );

    let report = store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.checked, report.head_seq), (3, 3));
    assert_eq!(report.head_hash, r3.hash);
    assert_eq!(store.count().await.expect("count"), 3);
    store.health().await.expect("healthy");
}

async fn redelivered_events_are_recognised_and_pending_actions_resolved(db: &TestDb) {
    let store = db.store().await;
    let key = EventKey::new(
        Platform::Slack,
        "C1/1700000000.000100",
        &Revision::original(),
    );
    let first = store
        .record_detection(
            &key,
            vec![
                detection("C1", "U1", "https://zoom.us/j/1"),
                AuditEntry {
                    outcome: Some(Outcome::WouldAct),
                    ..detection("C1", "U1", "https://zoom.us/j/2")
                },
            ],
        )
        .await
        .expect("record");
    let Recorded::New(records) = first else {
        panic!("first delivery must be new, got {first:?}");
    };
    assert_eq!(records.len(), 2);
    assert!(store.seen(&key).await.expect("seen"));

    // Redelivery: nothing is written, nothing is pending twice.
    let again = store
        .record_detection(&key, vec![detection("C1", "U1", "https://zoom.us/j/1")])
        .await
        .expect("record again");
    assert_eq!(again, Recorded::Duplicate);
    assert_eq!(store.count().await.expect("count"), 2);

    // Another revision of the same message is a new event.
    let edited = EventKey::new(Platform::Slack, "C1/1700000000.000100", &Revision::edit(1));
    assert!(matches!(
        store.record_detection(&edited, vec![]).await.expect("edit"),
        Recorded::New(_)
    ));

    let pending = store.pending().await.expect("pending");
    assert_eq!(pending.len(), 1, "only the entry marked pending waits");
    assert_eq!(pending[0].detection, records[0]);
    assert_eq!(pending[0].event_key, key.as_str());

    let outcome = store
        .record_outcome(
            records[0].seq,
            AuditEntry {
                action: Some(AuditAction::Reply),
                outcome: Some(Outcome::Degraded),
                detail: Some("no admin token: replied instead".into()),
                ..AuditEntry::new(Kind::Action, Platform::Slack)
            },
        )
        .await
        .expect("outcome");
    assert_eq!(outcome.seq, 3);
    assert!(store.pending().await.expect("pending").is_empty());
    let twice = store
        .record_outcome(
            records[0].seq,
            AuditEntry::new(Kind::Action, Platform::Slack),
        )
        .await;
    assert!(
        matches!(twice, Err(StoreError::NotPending(s)) if s == records[0].seq),
        "{twice:?}"
    );
    assert_eq!(
        store.count().await.expect("count"),
        3,
        "refused outcome writes nothing"
    );

    // Keys expire: with a zero TTL the same event is new again at once.
    let forgetful = db
        .store_with(StoreOptions {
            dedupe_ttl: Duration::ZERO,
            ..options()
        })
        .await;
    let short = EventKey::new(Platform::Discord, "42", &Revision::original());
    for _ in 0..2 {
        assert!(matches!(
            forgetful
                .record_detection(&short, vec![])
                .await
                .expect("record"),
            Recorded::New(_)
        ));
    }
    assert!(!forgetful.seen(&short).await.expect("seen"));
    assert!(forgetful.purge_expired_keys().await.expect("purge") >= 1);
    assert!(store.seen(&key).await.expect("long key survives"));
    assert!(store.verify().await.expect("verify").is_ok());
}

const POLICY_V1: &str =
    "mode = \"enforce\"\n\n[[rules]]\nid = \"no-zoom\"\nproviders = [\"zoom\"]\naction = \"log\"\n";
const POLICY_V2: &str = "mode = \"enforce\"\n\n[[rules]]\nid = \"no-zoom\"\nproviders = [\"zoom\"]\naction = \"reply\"\nalternative = \"https://meet.jit.si/{room}\"\n";

/// Receives announcements until `want`; versions may be coalesced in a burst
/// but never go backwards.
async fn wait_for_version(rx: &mut tokio::sync::broadcast::Receiver<i64>, want: i64) {
    let mut seen = 0;
    while seen != want {
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("version {want} never announced (last {seen})"))
            .expect("channel open");
        assert!(
            got > seen && got <= want,
            "announced {got} after {seen}, want {want}"
        );
        seen = got;
    }
}

async fn policy_is_versioned_announced_and_rolled_back(db: &TestDb) {
    let store = db.store().await;
    // Another replica sharing the database: PostgreSQL tells it with NOTIFY,
    // on SQLite (another process on the same file) it polls.
    let replica = db.store().await;
    let mut changes = replica.policy_changes().await.expect("listen");
    assert_eq!(store.policy_active().await.expect("active"), None);

    let bad = store
        .policy_import("[policy\nmode=", "alice", "bad.toml")
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidPolicy(_))), "{bad:?}");

    let v1 = store
        .policy_import(POLICY_V1, "alice", "policy.toml")
        .await
        .expect("import v1");
    assert!(v1.created);
    assert_eq!(v1.version.version, 1);
    let v2 = store
        .policy_import(POLICY_V2, "bob", "policy.toml")
        .await
        .expect("import v2");
    assert_eq!(v2.version.version, 2);
    let same = store
        .policy_import(POLICY_V2, "carol", "policy.toml")
        .await
        .expect("import same");
    assert!(!same.created, "identical text is not a new version");
    assert_eq!(same.version.version, 2);

    wait_for_version(&mut changes, 2).await;

    let diff = store.policy_diff(1, 2).await.expect("diff");
    assert!(diff.contains("--- v1") && diff.contains("+++ v2"), "{diff}");
    assert!(diff.contains("+action = \"reply\""), "{diff}");
    assert!(matches!(
        store.policy_diff(1, 9).await,
        Err(StoreError::NoSuchPolicyVersion(9))
    ));

    let back = store.policy_rollback(1, "dave").await.expect("rollback");
    assert!(back.created);
    assert_eq!(back.version.version, 3);
    assert_eq!(back.version.body, POLICY_V1);
    assert_eq!(back.version.source, "rollback to v1");
    wait_for_version(&mut changes, 3).await;

    // In-process changes are announced at once (no poll wait) on both backends.
    let mut own = store.policy_changes().await.expect("listen");
    store
        .policy_import(POLICY_V2, "erin", "policy.toml")
        .await
        .expect("import v4");
    wait_for_version(&mut own, 4).await;

    let history = store.policy_history().await.expect("history");
    let summary: Vec<(i64, &str, bool)> = history
        .iter()
        .map(|v| (v.version, v.author.as_str(), v.active))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "alice", false),
            (2, "bob", false),
            (3, "dave", false),
            (4, "erin", true)
        ]
    );
    assert_eq!(
        store
            .policy_active()
            .await
            .expect("active")
            .map(|v| v.version),
        Some(4)
    );
    assert_eq!(
        store.policy_get(2).await.expect("get").map(|v| v.body),
        Some(POLICY_V2.to_string())
    );

    // Every change is in the audit log, in order, with its author.
    let changes_logged: Vec<(Option<i64>, Option<String>)> = store
        .list(&AuditFilter {
            kind: Some("policy_changed".into()),
            ..AuditFilter::default()
        })
        .await
        .expect("list")
        .into_iter()
        .map(|r| (r.entry.policy_version, r.entry.author))
        .collect();
    assert_eq!(
        changes_logged,
        vec![
            (Some(1), Some("alice".into())),
            (Some(2), Some("bob".into())),
            (Some(3), Some("dave".into())),
            (Some(4), Some("erin".into()))
        ]
    );
    assert!(store.verify().await.expect("verify").is_ok());
}

async fn a_changed_record_is_named(db: &TestDb) {
    let store = db.store().await;
    fill(&store, 8).await;
    raw_exec(
        db,
        "UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 5",
    )
    .await;
    let report = store.verify().await.expect("verify");
    assert_eq!(report.problem, Some(ChainProblem::Altered { seq: 5 }));
    assert_eq!(report.checked, 4);
    let (ok, out) = cli_verify(db);
    assert!(!ok, "verify must exit non-zero");
    assert!(out.contains("record 5"), "{out}");
}

async fn a_deleted_record_is_named(db: &TestDb) {
    let store = db.store().await;
    fill(&store, 8).await;
    raw_exec(db, "DELETE FROM audit_log WHERE seq = 3").await;
    let report = store.verify().await.expect("verify");
    assert_eq!(report.problem, Some(ChainProblem::Missing { seq: 3 }));
    let (ok, out) = cli_verify(db);
    assert!(!ok);
    assert!(out.contains("record 3 is missing"), "{out}");
}

async fn a_cut_tail_is_named(db: &TestDb) {
    let store = db.store().await;
    fill(&store, 6).await;
    raw_exec(db, "DELETE FROM audit_log WHERE seq >= 5").await;
    assert_eq!(
        store.verify().await.expect("verify").problem,
        Some(ChainProblem::Missing { seq: 5 })
    );
}

async fn reordered_records_are_named(db: &TestDb) {
    let store = db.store().await;
    fill(&store, 8).await;
    raw_exec(
        db,
        "UPDATE audit_log SET seq = -1 WHERE seq = 4; \
         UPDATE audit_log SET seq = 4 WHERE seq = 5; \
         UPDATE audit_log SET seq = 5 WHERE seq = -1;",
    )
    .await;
    let report = store.verify().await.expect("verify");
    assert_eq!(report.problem, Some(ChainProblem::BrokenLink { seq: 4 }));
    let (ok, out) = cli_verify(db);
    assert!(!ok);
    assert!(out.contains("record 4"), "{out}");
}

async fn purge_keeps_the_chain_verifiable(db: &TestDb) {
    let store = db.store().await;
    for i in 0..5 {
        store
            .append(AuditEntry {
                at_ms: 1_000 + i,
                ..AuditEntry::new(Kind::Historical, Platform::Slack)
            })
            .await
            .expect("old append");
    }
    // An old detection still waiting for its action must survive the purge.
    let key = EventKey::new(Platform::Slack, "C9/1", &Revision::original());
    let Recorded::New(pending) = store
        .record_detection(
            &key,
            vec![AuditEntry {
                at_ms: 1_010,
                ..detection("C9", "U9", "https://zoom.us/j/7")
            }],
        )
        .await
        .expect("detect")
    else {
        panic!("new event expected");
    };
    fill(&store, 3).await;

    let report = store.purge_before(5_000, "ops").await.expect("purge");
    assert_eq!(report.removed, 5);
    assert_eq!(report.checkpoint_seq, 5);
    let purged = report.record.expect("purge is recorded");
    assert_eq!(purged.entry.kind, Kind::Purged);
    assert_eq!(purged.seq, 10);

    let v = store.verify().await.expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!((v.from_seq, v.checked, v.head_seq), (5, 5, 10));
    assert_eq!(
        store.pending().await.expect("pending")[0].detection,
        pending[0]
    );
    let (ok, out) = cli_verify(db);
    assert!(ok, "{out}");

    // Nothing more is old enough: a second purge is a no-op.
    let again = store.purge_before(5_000, "ops").await.expect("purge");
    assert_eq!((again.removed, again.checkpoint_seq), (0, 5));

    // Tampering after a purge is still caught.
    raw_exec(db, "UPDATE audit_log SET author = 'nobody' WHERE seq = 7").await;
    assert_eq!(
        store.verify().await.expect("verify").problem,
        Some(ChainProblem::Altered { seq: 7 })
    );
}

async fn many_tasks_append_one_linear_chain(db: &TestDb) {
    let store = db.store().await;
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..1000 {
                    store
                        .append(AuditEntry {
                            detail: Some(format!("task {t} append {i}")),
                            ..AuditEntry::new(Kind::Detected, Platform::Discord)
                        })
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(store.count().await.expect("count"), 8000);
    let report = store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.checked, report.head_seq), (8000, 8000));
    let all = store.list(&AuditFilter::default()).await.expect("list");
    let mut details: Vec<&str> = all
        .iter()
        .filter_map(|r| r.entry.detail.as_deref())
        .collect();
    details.sort_unstable();
    details.dedup();
    assert_eq!(details.len(), 8000, "every append is there exactly once");
}

async fn webhooks_settings_and_migrations(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(
        store.migrate().await.expect("re-migrate"),
        Vec::<i64>::new()
    );
    assert_eq!(store.discord_webhook("c1").await.expect("get"), None);
    let hook = DiscordWebhook {
        id: "111".into(),
        token: "sekrit-token".into(),
    };
    store.put_discord_webhook("c1", &hook).await.expect("put");
    assert_eq!(
        store.discord_webhook("c1").await.expect("get"),
        Some(hook.clone())
    );
    assert!(!format!("{hook:?}").contains("sekrit"));
    let newer = DiscordWebhook {
        id: "222".into(),
        token: "t2".into(),
    };
    store
        .put_discord_webhook("c1", &newer)
        .await
        .expect("replace");
    assert_eq!(store.discord_webhook("c1").await.expect("get"), Some(newer));
    assert!(store.delete_discord_webhook("c1").await.expect("delete"));
    assert_eq!(store.discord_webhook("c1").await.expect("get"), None);

    assert_eq!(store.setting("mode").await.expect("get"), None);
    store.put_setting("mode", "monitor").await.expect("put");
    store.put_setting("mode", "enforce").await.expect("put");
    assert_eq!(
        store.setting("mode").await.expect("get").as_deref(),
        Some("enforce")
    );
}

async fn records_keyed_once_are_written_once(db: &TestDb) {
    let store = db.store().await;
    let batch = |links: &[&str]| {
        links
            .iter()
            .map(|l| (format!("historical:{l}"), detection("C1", "U1", l)))
            .collect::<Vec<_>>()
    };
    let n = store
        .append_batch_once(batch(&["https://zoom.us/j/1", "https://zoom.us/j/2"]))
        .await
        .expect("first batch");
    assert_eq!(n, 2);
    // A replay with one new record, and a key repeated inside the batch.
    let n = store
        .append_batch_once(batch(&[
            "https://zoom.us/j/2",
            "https://zoom.us/j/3",
            "https://zoom.us/j/3",
            "https://zoom.us/j/1",
        ]))
        .await
        .expect("second batch");
    assert_eq!(n, 1);
    assert_eq!(store.count().await.expect("count"), 3);
    // Purging the expired keys of live events does not forget them.
    store.purge_expired_keys().await.expect("purge keys");
    let n = store
        .append_batch_once(batch(&["https://zoom.us/j/1"]))
        .await
        .expect("third batch");
    assert_eq!(n, 0);
    let (ok, out) = cli_verify(db);
    assert!(ok, "{out}");
}

async fn every_action_reads_back_and_an_unknown_one_is_named(db: &TestDb) {
    let store = db.store().await;
    for action in AuditAction::ALL {
        store
            .append(AuditEntry {
                action: Some(action),
                ..AuditEntry::new(Kind::Action, Platform::Discord)
            })
            .await
            .expect("append");
    }
    let read: Vec<Option<AuditAction>> = store
        .list(&AuditFilter::default())
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.entry.action)
        .collect();
    let written: Vec<Option<AuditAction>> = AuditAction::ALL.into_iter().map(Some).collect();
    assert_eq!(read, written);
    assert!(store.verify().await.expect("verify").is_ok());
    for action in AuditAction::ALL {
        assert_eq!(action.as_str().parse::<AuditAction>(), Ok(action));
    }

    raw_exec(db, "UPDATE audit_log SET action = 'nuke' WHERE seq = 3").await;
    let err = store
        .list(&AuditFilter::default())
        .await
        .expect_err("an unknown action must not read back");
    let shown = err.to_string();
    assert!(shown.contains("\"nuke\""), "{shown}");
    assert!(shown.contains("record 3"), "{shown}");
    let err = store.verify().await.expect_err("verify reads every record");
    assert!(err.to_string().contains("nuke"), "{err}");
}

on_both_backends!(
    records_keyed_once_are_written_once,
    audit_records_are_chained_redacted_and_queryable,
    redelivered_events_are_recognised_and_pending_actions_resolved,
    policy_is_versioned_announced_and_rolled_back,
    a_changed_record_is_named,
    a_deleted_record_is_named,
    a_cut_tail_is_named,
    reordered_records_are_named,
    purge_keeps_the_chain_verifiable,
    many_tasks_append_one_linear_chain,
    webhooks_settings_and_migrations,
    every_action_reads_back_and_an_unknown_one_is_named,
);

#[tokio::test]
async fn an_unreachable_database_names_the_host_not_the_password() {
    // Port 1 on loopback: nothing listens there, so the refusal is immediate.
    let err = Store::open(
        "postgres://linkguard:hunter2-secret@127.0.0.1:1/audit",
        options(),
    )
    .await
    .expect_err("nothing listens on port 1");
    let shown = format!("{err}");
    let chain = format!("{:#}", anyhow::Error::from(err));
    assert!(shown.contains("127.0.0.1:1"), "{shown}");
    assert!(shown.contains("audit"), "{shown}");
    assert!(!chain.contains("hunter2"), "{chain}");
    assert!(chain.to_lowercase().contains("refused"), "{chain}");

    let missing_dir = Store::open("sqlite:///nonexistent-dir/x/linkguard.db", options())
        .await
        .expect_err("directory does not exist");
    assert!(format!("{missing_dir}").contains("/nonexistent-dir/x/linkguard.db"));

    let bad = Store::open("mysql://u:pw@h/db", options()).await;
    assert!(
        matches!(&bad, Err(StoreError::UnsupportedUrl { url }) if !url.contains("pw@")),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_retried_reported_and_nothing_acknowledged_is_lost() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    let proxy = store_common::Proxy::start(store_common::host_of(&db.url)).await;
    let via_proxy = store_common::with_host(&db.url, proxy.addr);
    let store = Store::open(
        &via_proxy,
        StoreOptions {
            connect_timeout: Duration::from_secs(1),
            retry_for: Duration::from_secs(30),
            ..options()
        },
    )
    .await
    .expect("open via proxy");
    fill(&store, 5).await;

    proxy.set_up(false);
    let health = store.health().await.expect_err("database is gone");
    let shown = format!("{health}");
    assert!(shown.contains(&proxy.addr.to_string()), "{shown}");
    assert!(!format!("{health:?}").contains("postgres:postgres@"));

    let pending_append = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append(AuditEntry {
                    detail: Some("written during the outage".into()),
                    ..AuditEntry::new(Kind::Action, Platform::Slack)
                })
                .await
        })
    };
    // Wait (bounded) until the append has actually failed and is backing off.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store.retry_count() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "append never retried"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!store.is_healthy());
    assert!(!pending_append.is_finished());

    proxy.set_up(true);
    let record = pending_append
        .await
        .expect("task")
        .expect("append succeeds once the database is back");
    assert_eq!(record.seq, 6);
    store.health().await.expect("healthy again");
    assert!(store.is_healthy());
    let report = store.verify().await.expect("verify");
    assert!(report.is_ok() && report.head_seq == 6, "{report:?}");

    // With the database gone for longer than the budget, the append fails
    // clearly, and nothing half-written is left behind.
    let impatient = Store::open(
        &via_proxy,
        StoreOptions {
            connect_timeout: Duration::from_millis(500),
            retry_for: Duration::from_secs(1),
            ..options()
        },
    )
    .await
    .expect("open");
    proxy.set_up(false);
    let err = impatient
        .append(AuditEntry::new(Kind::Action, Platform::Slack))
        .await
        .expect_err("budget spent");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(format!("{err}").contains(&proxy.addr.to_string()));
    proxy.set_up(true);
    let direct = db.store().await;
    assert_eq!(direct.count().await.expect("count"), 6);
    assert!(direct.verify().await.expect("verify").is_ok());
}
