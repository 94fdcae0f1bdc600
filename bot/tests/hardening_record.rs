//! Hardening of the record (issue #15), by injecting the faults an attacker
//! with write access to the database (or a second admin) would cause: a
//! forged row, a cut tail with the head moved back, a planted checkpoint, an
//! upgraded log whose old part is plain SHA-256, two concurrent policy
//! edits, a policy file that would undo chat edits, passcodes in odd places,
//! and the message kept with a finished action. Each runs against SQLite and
//! PostgreSQL (`TEST_DATABASE_URL`) through the real store, and the
//! command-line parts against the real `linkguard` binary.

mod store_common;

use linkguard::config::Config;
use linkguard::store::{
    keyed_record_hash, migrator, record_hash, Anchor, AuditEntry, AuditFilter, AuditKey,
    ChainProblem, EventKey, Kind, Origin, Outcome, Platform, Revision, Store, StoreError,
    StoreOptions,
};
use std::process::{Command, Output};
use store_common::{options, TestDb};

const KEY: &str = "hardening-test-audit-key";

fn opts() -> StoreOptions {
    StoreOptions {
        audit_key: AuditKey::new(KEY),
        ..options()
    }
}

/// Runs `sql` with `binds` (text or integer) behind the store's back.
async fn tamper(db: &TestDb, sql: &str, binds: &[Bind<'_>]) {
    let pool = db.raw().await;
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for b in binds {
        q = match b {
            Bind::Int(i) => q.bind(*i),
            Bind::Text(t) => q.bind(t.to_string()),
            Bind::MaybeText(t) => q.bind(t.map(str::to_string)),
        };
    }
    q.execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("tampering `{sql}` failed: {e}"));
    pool.close().await;
}

enum Bind<'a> {
    Int(i64),
    Text(&'a str),
    MaybeText(Option<&'a str>),
}

/// Points the chain's head at `seq` with `hash`.
async fn set_head(db: &TestDb, seq: i64, hash: &str) {
    tamper(
        db,
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
        &[Bind::Int(seq), Bind::Text(hash)],
    )
    .await;
}

/// Writes `records` (seq and entry) over the stored ones, each linked to the
/// one before from `prev` on, with the hash an attacker without the key can
/// compute (`hash`); returns the last hash, to link what follows to.
async fn rechain(
    db: &TestDb,
    mut prev: String,
    records: impl IntoIterator<Item = (i64, AuditEntry)>,
    hash: impl Fn(&str, i64, &AuditEntry) -> String,
) -> String {
    for (seq, e) in records {
        let h = hash(&prev, seq, &e);
        tamper(
            db,
            "UPDATE audit_log SET detail = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
            &[
                Bind::MaybeText(e.detail.as_deref()),
                Bind::Text(&prev),
                Bind::Text(&h),
                Bind::Int(seq),
            ],
        )
        .await;
        prev = h;
    }
    prev
}

async fn append_n(store: &Store, n: usize) {
    for i in 0..n {
        store
            .append(AuditEntry {
                channel: Some(format!("C{i}")),
                detail: Some(format!("record {i}")),
                ..AuditEntry::new(Kind::Action, Platform::Slack)
            })
            .await
            .expect("append");
    }
}

async fn hash_of(store: &Store, seq: i64) -> String {
    store
        .record(seq)
        .await
        .unwrap()
        .expect("record exists")
        .hash
}

/// Moves the head back to `seq` after deleting everything above it: the
/// cleanest possible cut of the tail.
async fn cut_tail(db: &TestDb, store: &Store, seq: i64) {
    let hash = hash_of(store, seq).await;
    tamper(
        db,
        "DELETE FROM audit_log WHERE seq > $1",
        &[Bind::Int(seq)],
    )
    .await;
    set_head(db, seq, &hash).await;
}

async fn hardening_forged_row_is_refused(db: &TestDb) {
    let store = db.store_with(opts()).await;
    append_n(&store, 5).await;
    assert!(store.verify().await.unwrap().is_ok());
    // Rewrite record 3 and re-chain everything after it, head included, with
    // what can be computed without the key: SHA-256, or HMAC with a guessed
    // key (the built-in development one).
    for guessed in [None, Some(AuditKey::development())] {
        let records = store.list(&AuditFilter::default()).await.unwrap();
        let forged = records[2..].iter().map(|r| {
            let mut e = r.entry.clone();
            if r.seq == 3 {
                e.detail = Some("nothing happened here".into());
            }
            (r.seq, e)
        });
        let head = rechain(db, records[1].hash.clone(), forged, |prev, seq, e| {
            match &guessed {
                None => record_hash(prev, seq, e),
                Some(k) => keyed_record_hash(k, prev, seq, e),
            }
            .unwrap()
        })
        .await;
        set_head(db, 5, &head).await;
        let report = store.verify().await.unwrap();
        assert_eq!(report.problem, Some(ChainProblem::Altered { seq: 3 }));
    }
    let out = linkguard(&db.url, Some(KEY), &["audit", "verify"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("BROKEN at record 3: record 3 was altered or forged"),
        "{}",
        text(&out)
    );
    // A process with another key can neither write to nor verify this log.
    let other = db
        .store_with(StoreOptions {
            audit_key: AuditKey::new("some-other-key"),
            ..options()
        })
        .await;
    let err = other
        .append(AuditEntry::new(Kind::Startup, Origin::Linkguard))
        .await
        .expect_err("another key must not extend the chain");
    assert!(matches!(err, StoreError::AuditKeyMismatch), "{err}");
    assert!(err.to_string().contains("LINKGUARD_AUDIT_KEY"), "{err}");
    assert!(matches!(
        other.verify().await,
        Err(StoreError::AuditKeyMismatch)
    ));
}

async fn hardening_truncated_tail_is_caught_by_an_anchor(db: &TestDb) {
    let store = db.store_with(opts()).await;
    append_n(&store, 6).await;
    let (report, anchor) = store.anchor().await.unwrap();
    assert!(report.is_ok());
    let anchor = anchor.expect("an intact chain is anchored");
    assert_eq!((anchor.seq, anchor.keyed_from), (6, 1));
    append_n(&store, 2).await;
    let ok = store
        .verify_with_anchors(std::slice::from_ref(&anchor))
        .await
        .unwrap();
    assert!(ok.is_ok() && ok.anchors_checked == 1, "{ok:?}");

    cut_tail(db, &store, 4).await;
    // Without an anchor a clean cut is indistinguishable from a shorter log…
    assert!(store.verify().await.unwrap().is_ok());
    // …with one it is not.
    let report = store
        .verify_with_anchors(std::slice::from_ref(&anchor))
        .await
        .unwrap();
    assert_eq!(
        report.problem,
        Some(ChainProblem::AnchorNotReached {
            seq: 6,
            head_seq: 4
        })
    );
    // A history rewritten from the cut on (a restored backup, new records)
    // reaches seq 6 again, but not the anchored record.
    append_n(&store, 3).await;
    let report = store
        .verify_with_anchors(std::slice::from_ref(&anchor))
        .await
        .unwrap();
    assert_eq!(
        report.problem,
        Some(ChainProblem::AnchorMismatch { seq: 6 })
    );
    // An anchor edited to agree with the database is refused.
    let edited = Anchor {
        hash: hash_of(&store, 6).await,
        ..anchor
    };
    let report = store.verify_with_anchors(&[edited]).await.unwrap();
    assert_eq!(report.problem, Some(ChainProblem::ForgedAnchor { seq: 6 }));
    // Moving the head back without deleting the rows above it is named too.
    set_head(db, 5, &hash_of(&store, 5).await).await;
    let report = store.verify().await.unwrap();
    assert_eq!(report.problem, Some(ChainProblem::BeyondHead { seq: 6 }));
}

async fn hardening_planted_checkpoint_is_refused(db: &TestDb) {
    let store = db.store_with(opts()).await;
    append_n(&store, 6).await;
    // Hide records 1..=3: delete them and plant a checkpoint so that verify
    // starts after them.
    let hash3 = hash_of(&store, 3).await;
    tamper(db, "DELETE FROM audit_log WHERE seq <= 3", &[]).await;
    tamper(
        db,
        "INSERT INTO audit_checkpoint (seq, hash, at_ms) VALUES (3, $1, 1)",
        &[Bind::Text(&hash3)],
    )
    .await;
    let report = store.verify().await.unwrap();
    assert_eq!(
        report.problem,
        Some(ChainProblem::ForgedCheckpoint { seq: 3 })
    );
    let out = linkguard(&db.url, Some(KEY), &["audit", "verify"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("checkpoint 3 is not signed with the audit key"),
        "{}",
        text(&out)
    );
    // A made-up MAC does not help.
    tamper(
        db,
        "UPDATE audit_checkpoint SET mac = $1 WHERE seq = 3",
        &[Bind::Text(&"ab".repeat(32))],
    )
    .await;
    let report = store.verify().await.unwrap();
    assert_eq!(
        report.problem,
        Some(ChainProblem::ForgedCheckpoint { seq: 3 })
    );
}

async fn hardening_genuine_purge_still_verifies(db: &TestDb) {
    let store = db.store_with(opts()).await;
    for i in 0..4 {
        store
            .append(AuditEntry {
                at_ms: 1_000 + i,
                ..AuditEntry::new(Kind::Startup, Origin::Linkguard)
            })
            .await
            .unwrap();
    }
    append_n(&store, 2).await;
    let purge = store.purge_before(10_000, "retention").await.unwrap();
    assert_eq!((purge.removed, purge.checkpoint_seq), (4, 4));
    let report = store.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.from_seq, report.checked), (4, 3));
    // The signed checkpoint cannot be moved to hide more records.
    tamper(db, "DELETE FROM audit_log WHERE seq = 5", &[]).await;
    tamper(db, "UPDATE audit_checkpoint SET seq = 5 WHERE seq = 4", &[]).await;
    let report = store.verify().await.unwrap();
    assert_eq!(
        report.problem,
        Some(ChainProblem::ForgedCheckpoint { seq: 5 })
    );
}

/// A database written by linkguard before the chain was keyed: migrations up
/// to 0003 and `n` plain SHA-256 records.
async fn legacy_database(db: &TestDb, n: i64) -> Vec<String> {
    // Creates the SQLite file, migrates nothing.
    Store::connect(&db.url, opts()).await.unwrap().close().await;
    let pool = db.raw().await;
    migrator(db.backend)
        .run_to(3, &pool)
        .await
        .expect("the old migrations apply");
    pool.close().await;
    let mut prev = linkguard::store::GENESIS_HASH.to_string();
    let mut hashes = Vec::new();
    for seq in 1..=n {
        let e = AuditEntry {
            at_ms: 1_000 + seq,
            ..AuditEntry::new(Kind::Startup, Origin::Linkguard)
        };
        let hash = record_hash(&prev, seq, &e).unwrap();
        tamper(
            db,
            "INSERT INTO audit_log (seq, at_ms, platform, kind, prev_hash, hash) \
             VALUES ($1, $2, 'linkguard', 'startup', $3, $4)",
            &[
                Bind::Int(seq),
                Bind::Int(e.at_ms),
                Bind::Text(&prev),
                Bind::Text(&hash),
            ],
        )
        .await;
        hashes.push(hash.clone());
        prev = hash;
    }
    set_head(db, n, &prev).await;
    hashes
}

async fn hardening_unkeyed_chain_keeps_verifying_after_the_upgrade(db: &TestDb) {
    let hashes = legacy_database(db, 4).await;
    let store = db.store_with(opts()).await;
    append_n(&store, 2).await;
    let report = store.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        (report.keyed_from, report.checked, report.unkeyed_checked),
        (5, 6, 4)
    );
    let out = linkguard(&db.url, Some(KEY), &["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("records 1..=4 are unkeyed SHA-256")
            && text(&out).contains("records 5..=6 are keyed (HMAC)"),
        "{}",
        text(&out)
    );
    // The first keyed record pins the old ones: rewrite record 2, re-chain
    // the whole unkeyed part with SHA-256 and point record 5 at it.
    let rewritten = (2..=4).map(|seq| {
        let e = AuditEntry {
            at_ms: 1_000 + seq,
            detail: (seq == 2).then(|| "rewritten".to_string()),
            ..AuditEntry::new(Kind::Startup, Origin::Linkguard)
        };
        (seq, e)
    });
    let prev = rechain(db, hashes[0].clone(), rewritten, |prev, seq, e| {
        record_hash(prev, seq, e).unwrap()
    })
    .await;
    tamper(
        db,
        "UPDATE audit_log SET prev_hash = $1 WHERE seq = 5",
        &[Bind::Text(&prev)],
    )
    .await;
    let report = store.verify().await.unwrap();
    assert_eq!(report.problem, Some(ChainProblem::Altered { seq: 5 }));
    // Put the old part back.
    for seq in 2..=5 {
        tamper(
            db,
            "UPDATE audit_log SET prev_hash = $1 WHERE seq = $2",
            &[Bind::Text(&hashes[seq as usize - 2]), Bind::Int(seq)],
        )
        .await;
    }
    for seq in 2..=4 {
        tamper(
            db,
            "UPDATE audit_log SET detail = NULL, hash = $1 WHERE seq = $2",
            &[Bind::Text(&hashes[seq as usize - 1]), Bind::Int(seq)],
        )
        .await;
    }
    assert!(store.verify().await.unwrap().is_ok());
    // Moving the boundary up does not pass keyed records off as SHA-256 ones,
    // and moving it past the head is named.
    tamper(db, "UPDATE audit_head SET keyed_from = 6", &[]).await;
    let report = store.verify().await.unwrap();
    assert_eq!(report.problem, Some(ChainProblem::Altered { seq: 5 }));
    tamper(db, "UPDATE audit_head SET keyed_from = 99", &[]).await;
    let report = store.verify().await.unwrap();
    assert_eq!(
        report.problem,
        Some(ChainProblem::KeyedBoundaryMoved { seq: 99 })
    );
    tamper(db, "UPDATE audit_head SET keyed_from = 5", &[]).await;
    assert!(store.verify().await.unwrap().is_ok());
    // An unsigned checkpoint in the old part is believed only if a purge
    // accounts for it.
    tamper(db, "DELETE FROM audit_log WHERE seq <= 2", &[]).await;
    tamper(
        db,
        "INSERT INTO audit_checkpoint (seq, hash, at_ms) VALUES (2, $1, 1)",
        &[Bind::Text(&hashes[1])],
    )
    .await;
    let report = store.verify().await.unwrap();
    assert_eq!(
        report.problem,
        Some(ChainProblem::UnaccountedCheckpoint { seq: 2 })
    );
}

const POLICY_V1: &str = "[[rules]]\nid = \"no-zoom\"\nproviders = [\"zoom\"]\naction = \"warn\"\n";

async fn hardening_concurrent_policy_edits_do_not_lose_one(db: &TestDb) {
    // Two replicas (two pools) edit from the same version at the same time.
    let a = db.store_with(opts()).await;
    let b = db.store_with(opts()).await;
    let v1 = a.policy_import(POLICY_V1, "admin", "seed").await.unwrap();
    assert_eq!(v1.version.version, 1);
    let edit_a = POLICY_V1.replace("warn", "delete");
    let edit_b = POLICY_V1.replace("warn", "log");
    let (ra, rb) = tokio::join!(
        a.policy_edit(Some(1), &edit_a, "alice", "chat edit"),
        b.policy_edit(Some(1), &edit_b, "bob", "chat edit"),
    );
    let (won, lost, winner_text) = match (ra, rb) {
        (Ok(w), Err(l)) => (w, l, &edit_a),
        (Err(l), Ok(w)) => (w, l, &edit_b),
        other => panic!("exactly one edit must win: {other:?}"),
    };
    assert!(won.created);
    assert_eq!(won.version.version, 2);
    assert!(
        matches!(
            lost,
            StoreError::PolicyChanged {
                expected: Some(1),
                actual: Some(2)
            }
        ),
        "{lost}"
    );
    assert!(lost.to_string().contains("changed meanwhile"), "{lost}");
    assert!(lost.to_string().contains("try again"), "{lost}");
    let active = a.policy_active().await.unwrap().unwrap();
    assert_eq!(&active.body, winner_text);
    assert_eq!(a.policy_history().await.unwrap().len(), 2);
    // The loser retries from the new version and succeeds.
    let retried = b
        .policy_edit(Some(2), POLICY_V1, "bob", "retry")
        .await
        .unwrap();
    assert_eq!(retried.version.version, 3);
    // An edit of the built-in policy (nothing stored yet) is a CAS on "none".
    let fresh = a
        .policy_edit(None, POLICY_V1, "carol", "from built-in")
        .await
        .expect_err("a version is stored now");
    assert!(matches!(
        fresh,
        StoreError::PolicyChanged {
            expected: None,
            actual: Some(3)
        }
    ));
}

async fn hardening_policy_file_manages_the_policy(db: &TestDb) {
    let store = db.store_with(opts()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, POLICY_V1).unwrap();
    let path = file.display().to_string();
    let config = Config {
        policy_path: Some(path.clone()),
        ..Config::default()
    };
    let active = linkguard::app::load_active_policy(&store, &config)
        .await
        .unwrap();
    assert_eq!(active.version, Some(1));
    assert_eq!(store.policy_managed_by().await.unwrap(), Some(path.clone()));
    // A chat or CLI edit would be undone at the next start: refused instead.
    let err = store
        .policy_edit(Some(1), &POLICY_V1.replace("warn", "log"), "alice", "chat")
        .await
        .expect_err("file-managed");
    assert!(
        matches!(&err, StoreError::PolicyManagedByFile { path: p } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains(&path), "{err}");
    // Starting again with the same file changes nothing; a changed file is
    // the way to change the policy.
    let again = linkguard::app::load_active_policy(&store, &config)
        .await
        .unwrap();
    assert_eq!(again.version, Some(1));
    std::fs::write(&file, POLICY_V1.replace("warn", "delete")).unwrap();
    let changed = linkguard::app::load_active_policy(&store, &config)
        .await
        .unwrap();
    assert_eq!(changed.version, Some(2));
    // Without `policy`, the service hands the policy back to edits.
    store.policy_release_file().await.unwrap();
    store
        .policy_edit(Some(2), POLICY_V1, "alice", "chat")
        .await
        .unwrap();
}

async fn hardening_passcodes_never_reach_the_store(db: &TestDb) {
    let store = db
        .store_with(StoreOptions {
            keep_message_text: true,
            ..opts()
        })
        .await;
    let r = store
        .append(AuditEntry {
            link: Some("https://meet.google.com/tel/abc-defg-hij?pin=5550001234".into()),
            message_text: Some(
                "dial in <https://meeting.zoho.com/join?key=7788990011|here>, \
                 BlueJeans https://bluejeans.com/123456789/4242 Passcode: 246810"
                    .into(),
            ),
            ..AuditEntry::new(Kind::Detected, Platform::Slack)
        })
        .await
        .unwrap();
    let stored = store.record(r.seq).await.unwrap().unwrap().entry;
    let all = format!("{:?} {:?}", stored.link, stored.message_text);
    for secret in ["5550001234", "7788990011", "4242", "246810"] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
    assert!(all.contains("123456789"), "the meeting id stays: {all}");
}

/// Whether `needle` is anywhere in the SQLite file of `db` (and its
/// write-ahead log), after folding the log in.
async fn sqlite_file_contains(db: &TestDb, needle: &str) -> bool {
    let pool = db.raw().await;
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let file = db.url.trim_start_matches("sqlite://");
    let mut bytes = std::fs::read(file).unwrap();
    if let Ok(wal) = std::fs::read(format!("{file}-wal")) {
        bytes.extend(wal);
    }
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn hardening_finished_actions_keep_no_message(db: &TestDb) {
    let store = db.store_with(opts()).await;
    let marker = "Passcode: 97531 SECRET-MESSAGE-MARKER";
    let detection = |id: &str| AuditEntry {
        channel: Some("C1".into()),
        message_id: Some(id.into()),
        revision: Some(Revision::original()),
        outcome: Some(Outcome::Pending),
        ..AuditEntry::new(Kind::Detected, Platform::Slack)
    };
    let recorded = |r| match r {
        linkguard::store::Recorded::New(v) => v[0].seq,
        other => panic!("{other:?}"),
    };
    // One action still waits (its row shares the table's page with the others).
    let waiting = recorded(
        store
            .record_detection_with(
                &EventKey::new(Platform::Slack, "C1/3", &Revision::original()),
                vec![detection("3")],
                Some(unsealed("still needed")),
            )
            .await
            .unwrap(),
    );
    // One action finishes normally: its row (and message) goes.
    let done = recorded(
        store
            .record_detection_with(
                &EventKey::new(Platform::Slack, "C1/1", &Revision::original()),
                vec![detection("1")],
                Some(unsealed(marker)),
            )
            .await
            .unwrap(),
    );
    let sqlite = db.backend == linkguard::store::Backend::Sqlite;
    if sqlite {
        assert!(
            sqlite_file_contains(db, marker).await,
            "kept while the action is pending"
        );
    }
    let outcome = AuditEntry {
        channel: Some("C1".into()),
        message_id: Some("1".into()),
        revision: Some(Revision::original()),
        outcome: Some(Outcome::Ok),
        ..AuditEntry::new(Kind::Action, Platform::Slack)
    };
    store.record_outcome(done, outcome.clone()).await.unwrap();
    if sqlite {
        // Nothing of the message is left in the file either: the deleted
        // row's bytes are zeroed (secure_delete), not left as free space.
        assert!(
            !sqlite_file_contains(db, marker).await,
            "the finished action's message is still in the database file"
        );
    }
    // A leftover: the outcome is recorded but the row stayed (an older
    // version, or a crash between two writes).
    let leftover = recorded(
        store
            .record_detection_with(
                &EventKey::new(Platform::Slack, "C1/2", &Revision::original()),
                vec![detection("2")],
                Some(unsealed(marker)),
            )
            .await
            .unwrap(),
    );
    store
        .append(AuditEntry {
            message_id: Some("2".into()),
            ..outcome.clone()
        })
        .await
        .unwrap();
    assert_eq!(store.drop_payloads_of_finished_actions().await.unwrap(), 1);
    let pending = store.pending().await.unwrap();
    let payload = |seq| {
        pending
            .iter()
            .find(|p| p.detection.seq == seq)
            .map(|p| p.payload.clone())
    };
    assert_eq!(payload(done), None, "resolved: no row at all");
    assert_eq!(payload(leftover), Some(None), "finished: message dropped");
    assert_eq!(payload(waiting), Some(Some("still needed".into())));
    assert_eq!(store.drop_payloads_of_finished_actions().await.unwrap(), 0);
}

/// A platform the store does not know, written behind its back into the
/// audit log, an exception, a request or a session, is an error that names
/// the record and the text, never a guess or a panic.
async fn hardening_unknown_platforms_are_named(db: &TestDb) {
    let store = db.store_with(opts()).await;
    append_n(&store, 3).await;
    let e = store
        .exception_grant(
            Some(Platform::Slack),
            "T1",
            &linkguard::store::ExceptionTarget::User("U1".into()),
            std::time::Duration::from_secs(60),
            "demo",
            "Ada",
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .exceptions_active(Platform::Slack)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .exceptions_active(Platform::Discord)
            .await
            .unwrap()
            .len(),
        0
    );
    tamper(
        db,
        "UPDATE audit_log SET platform = $1 WHERE seq = 2",
        &[Bind::Text("teams")],
    )
    .await;
    let err = store.list(&AuditFilter::default()).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    let said = err.to_string();
    assert!(
        said.contains("audit record 2") && said.contains("\"teams\""),
        "{said}"
    );
    let err = store.verify().await.unwrap_err().to_string();
    assert!(err.contains("\"teams\""), "{err}");
    // Filtering by a known platform leaves the bad row out.
    let slack = store
        .list(&AuditFilter {
            platform: Some(Platform::Slack.into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let seqs: Vec<i64> = slack.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 3, 4]);

    tamper(
        db,
        "UPDATE exceptions SET platform = $1 WHERE id = $2",
        &[Bind::Text("console"), Bind::Int(e.id)],
    )
    .await;
    let err = store
        .exceptions_visible(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("exception {}", e.id)) && err.contains("\"console\""),
        "{err}"
    );
}

on_both_backends!(
    hardening_forged_row_is_refused,
    hardening_truncated_tail_is_caught_by_an_anchor,
    hardening_planted_checkpoint_is_refused,
    hardening_genuine_purge_still_verifies,
    hardening_unkeyed_chain_keeps_verifying_after_the_upgrade,
    hardening_concurrent_policy_edits_do_not_lose_one,
    hardening_policy_file_manages_the_policy,
    hardening_passcodes_never_reach_the_store,
    hardening_finished_actions_keep_no_message,
    hardening_unknown_platforms_are_named,
);

fn linkguard(db_url: &str, key: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkguard"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LINKGUARD_DATABASE_URL", db_url);
    if let Some(k) = key {
        c.env("LINKGUARD_AUDIT_KEY", k);
    }
    c.output().expect("linkguard runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The command line end to end: anchor, cut the tail, verify with and
/// without the anchor; another key; `run` without a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_cli_anchor_catches_a_cut_tail() {
    let db = store_common::sqlite().await;
    let store = db.store_with(opts()).await;
    append_n(&store, 5).await;
    let out = linkguard(&db.url, Some(KEY), &["audit", "anchor"]);
    assert!(out.status.success(), "{}", text(&out));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let anchor: Anchor = serde_json::from_str(&line).expect("one JSON anchor");
    assert_eq!(anchor.seq, 5);
    assert!(!anchor.at.is_empty() && anchor.mac.len() == 64, "{line}");
    assert!(!line.contains(KEY));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("anchors.jsonl");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let file = file.display().to_string();

    append_n(&store, 2).await;
    let out = linkguard(&db.url, Some(KEY), &["audit", "verify", "--anchor", &file]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 anchor(s) reached"), "{}", text(&out));

    cut_tail(&db, &store, 3).await;
    let out = linkguard(&db.url, Some(KEY), &["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = linkguard(&db.url, Some(KEY), &["audit", "verify", "--anchor", &file]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("below the anchored head 5"),
        "{}",
        text(&out)
    );

    // Another key: refused with a reason, not "altered" records.
    let out = linkguard(&db.url, Some("wrong-key"), &["audit", "verify"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("audit_key"), "{}", text(&out));
    // A bad anchor file is named.
    std::fs::write(dir.path().join("bad.jsonl"), "{\"seq\": 1}\n").unwrap();
    let bad = dir.path().join("bad.jsonl").display().to_string();
    let out = linkguard(&db.url, Some(KEY), &["audit", "verify", "--anchor", &bad]);
    assert!(!out.status.success());
    assert!(text(&out).contains("bad.jsonl:1"), "{}", text(&out));
    // `run` does not start with the built-in development key.
    let out = linkguard(&db.url, None, &["run"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("audit_key") && text(&out).contains("not set"),
        "{}",
        text(&out)
    );
}

/// `audit list|export --platform` takes the stored names only, and says
/// which ones when given another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_cli_platform_filter_names_a_bad_value() {
    let db = store_common::sqlite().await;
    let store = db.store_with(opts()).await;
    append_n(&store, 2).await;
    store
        .append(AuditEntry::new(Kind::Startup, Origin::Linkguard))
        .await
        .unwrap();
    let out = linkguard(
        &db.url,
        Some(KEY),
        &["audit", "list", "--platform", "linkguard"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.contains("startup") && listed.contains("linkguard"),
        "{listed}"
    );
    for cmd in ["list", "export"] {
        let out = linkguard(&db.url, Some(KEY), &["audit", cmd, "--platform", "teams"]);
        assert!(!out.status.success());
        assert!(
            text(&out).contains("\"teams\"") && text(&out).contains("slack, discord, cli"),
            "{}",
            text(&out)
        );
    }
}

/// The command line refuses a stale or file-managed policy edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_cli_policy_edits_are_compare_and_swap() {
    let db = store_common::sqlite().await;
    let store = db.store_with(opts()).await;
    store
        .policy_import(POLICY_V1, "admin", "seed")
        .await
        .unwrap();
    store
        .policy_import(&POLICY_V1.replace("warn", "log"), "admin", "second")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(&file, POLICY_V1.replace("warn", "delete")).unwrap();
    let file = file.display().to_string();
    // Prepared against version 1, but version 2 is active.
    let out = linkguard(
        &db.url,
        Some(KEY),
        &["policy", "import", &file, "--expect-version", "1"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("changed meanwhile"), "{}", text(&out));
    let out = linkguard(
        &db.url,
        Some(KEY),
        &["policy", "import", &file, "--expect-version", "2"],
    );
    assert!(out.status.success(), "{}", text(&out));
    // While a configured policy file manages the policy, chat-style edits
    // from the CLI are refused and say why.
    let managed = dir.path().join("managed.toml");
    std::fs::write(&managed, POLICY_V1).unwrap();
    let config = Config {
        policy_path: Some(managed.display().to_string()),
        ..Config::default()
    };
    linkguard::app::load_active_policy(&store, &config)
        .await
        .unwrap();
    let out = linkguard(
        &db.url,
        Some(KEY),
        &["rules", "set", "no-zoom", "action", "log"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("managed by the file") && text(&out).contains("managed.toml"),
        "{}",
        text(&out)
    );
}

/// A pending action's stored message, as the store keeps it (its MAC is the
/// moderation pipeline's business, not this test's).
fn unsealed(payload: &str) -> linkguard::store::NewPending {
    linkguard::store::NewPending {
        payload: payload.into(),
        payload_mac: String::new(),
        lease: None,
    }
}
