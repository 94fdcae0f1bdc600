//! Issue #15 on Slack, against the fake Slack with the real slack-morphism
//! client: long rate-limit storms (`Retry-After: 0` included) and server
//! errors on every Web API method the actions use delay actions but never
//! drop them; `Retry-After: 0` does not make calls spin; a crash between the
//! repost and the delete never leads to a second repost; two replicas
//! recovering at once run each action once; a pending payload or progress
//! that does not verify with the audit key is refused, never executed.

use linkguard::moderation::{
    Author, IncomingMessage, Moderator, Platform, PlatformActions, Revision, Step,
};
use linkguard::slack::SlackActions;
use linkguard::store::{AuditFilter, AuditRecord, Store, StoreOptions};
use linkguard_e2e::slack_support::*;
use linkguard_e2e::test_moderator;
use linkguard_fakes::slack::{
    FakeSlack, FakeSlackConfig, DEFAULT_ADMIN_USER_TOKEN, DEFAULT_BOT_TOKEN,
};
use std::sync::Arc;
use std::time::Duration;

/// Bot reposts in #general whose text contains `marker`.
fn reposts_with(app: &TestApp, marker: &str) -> usize {
    app.reposts(GENERAL)
        .iter()
        .filter(|m| m.text.contains(marker))
        .count()
}

/// Posts one message per author with a distinct marker and link, waits for
/// each to be replaced (original deleted, outcome `replace ok`), and checks
/// there is exactly one repost of each.
async fn post_and_expect_replaced(app: &TestApp, round: &str, authors: &[&str]) {
    let mut posted = Vec::new();
    for (i, who) in authors.iter().enumerate() {
        let marker = format!("{round}-{i}");
        let ts = app
            .fake
            .post_user_message(
                GENERAL,
                who,
                &format!(
                    "{marker} https://zoom.us/j/{}",
                    81_000_000_000u64 + i as u64
                ),
            )
            .expect("post");
        posted.push((ts, marker));
    }
    for (ts, marker) in &posted {
        app.wait_message(GENERAL, ts, |m| m.deleted).await;
        let rows = app.wait_audit(|rows| outcome_for(rows, ts).is_some()).await;
        let (action, outcome, detail) = outcome_for(&rows, ts).expect("outcome");
        assert_eq!(
            (action.as_str(), outcome.as_str()),
            ("replace", "ok"),
            "{marker}: {detail:?}"
        );
        assert_eq!(reposts_with(app, marker), 1, "{marker} reposted once");
    }
}

fn storm(app: &TestApp, method: &str, status: u16, times: u32) {
    if status == 429 {
        // Slack's worst case: `Retry-After: 0`.
        app.fake.rate_limit(method, times, 0);
    } else {
        app.fake.fail_http(method, status, times);
    }
}

fn failed_calls(app: &TestApp, method: &str, status: u16) -> usize {
    app.fake
        .calls()
        .iter()
        .filter(|c| c.method == method && c.status == status)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_slack_storms_on_every_replace_route_delay_but_never_drop() {
    let app = spawn_app(Setup::default()).await;
    // users.info is cached per user, so each of its storms meets a new author.
    let rounds: [(&str, u16, &[&str]); 6] = [
        ("users.info", 429, &[ALICE]),
        ("users.info", 503, &[BOB]),
        ("chat.postMessage", 429, &[ALICE, BOB, ALICE]),
        ("chat.postMessage", 502, &[BOB, ALICE]),
        ("chat.delete", 429, &[ALICE, BOB, ALICE]),
        ("chat.delete", 500, &[BOB, ALICE]),
    ];
    for (method, status, authors) in rounds {
        storm(&app, method, status, 15);
        let round = format!("{}-{status}", method.replace('.', "-"));
        post_and_expect_replaced(&app, &round, authors).await;
        assert_eq!(
            failed_calls(&app, method, status),
            15,
            "{round}: the whole storm was met and outlasted"
        );
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_slack_storms_on_reply_and_notice_routes_delay_but_never_drop() {
    // Without an admin token replace degrades to a thread reply plus an
    // ephemeral notice: chat.postMessage and chat.postEphemeral.
    let app = spawn_app(Setup {
        user_token: false,
        ..Setup::default()
    })
    .await;
    for (method, status) in [
        ("chat.postMessage", 429),
        ("chat.postMessage", 503),
        ("chat.postEphemeral", 429),
        ("chat.postEphemeral", 502),
    ] {
        storm(&app, method, status, 15);
        let marker = format!("{}-{status}", method.replace('.', "-"));
        let ts = app
            .fake
            .post_user_message(
                GENERAL,
                ALICE,
                &format!("{marker} https://zoom.us/j/82000000001"),
            )
            .expect("post");
        let rows = app
            .wait_audit(|rows| outcome_for(rows, &ts).is_some())
            .await;
        let (action, outcome, detail) = outcome_for(&rows, &ts).expect("outcome");
        assert_eq!(
            (action.as_str(), outcome.as_str()),
            ("reply", "degraded"),
            "{marker}: {detail:?}"
        );
        let detail = detail.unwrap_or_default();
        assert!(
            detail.contains("replace refused") && !detail.contains("notice not sent"),
            "{marker}: degraded only for the missing token: {detail}"
        );
        let replies = app.fake.with_state(|s| {
            s.messages(GENERAL)
                .iter()
                .filter(|m| m.thread_ts.as_deref() == Some(ts.as_str()))
                .count()
        });
        assert_eq!(replies, 1, "{marker}: one thread reply");
        let notices = app
            .fake
            .ephemerals()
            .iter()
            .filter(|e| e.user == ALICE && e.thread_ts.is_none())
            .count();
        assert!(notices >= 1, "{marker}: the notice was sent");
        assert_eq!(failed_calls(&app, method, status), 15, "{marker}");
    }
    // One notice per message, none doubled by a retry.
    assert_eq!(
        app.fake
            .ephemerals()
            .iter()
            .filter(|e| e.user == ALICE)
            .count(),
        4
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_slack_retry_after_zero_does_not_spin() {
    let app = spawn_app(Setup::default()).await;
    // A storm that outlasts several attempts, every answer `Retry-After: 0`.
    app.fake.rate_limit("chat.postMessage", 1_000_000, 0);
    let ts = app
        .fake
        .post_user_message(GENERAL, ALICE, "zero https://zoom.us/j/83000000001")
        .expect("post");
    // The action is put off (pending, attempts counted, why kept)...
    let deadline = tokio::time::Instant::now() + WAIT;
    let pending = loop {
        let p = app.store.pending().await.expect("pending");
        if let Some(p) = p.into_iter().find(|p| p.attempts >= 2) {
            break p;
        }
        assert!(tokio::time::Instant::now() < deadline, "never put off");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        pending
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("rate limit")),
        "{pending:?}"
    );
    // ...after a handful of calls per attempt, not thousands: the floor
    // (and jitter) apply when Slack says to wait 0 seconds.
    let calls = failed_calls(&app, "chat.postMessage", 429);
    assert!(
        calls <= 8 * pending.attempts as usize + 8,
        "{calls} calls in {} attempts",
        pending.attempts
    );
    // The storm ends: the action completes, once.
    app.fake.rate_limit("chat.postMessage", 0, 0);
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    let rows = app
        .wait_audit(|rows| outcome_for(rows, &ts).is_some())
        .await;
    let (action, outcome, _) = outcome_for(&rows, &ts).expect("outcome");
    assert_eq!((action.as_str(), outcome.as_str()), ("replace", "ok"));
    assert_eq!(reposts_with(&app, "zero "), 1);
    app.finish().await;
}

// ---- crashes, replicas and forged rows: the pipeline driven directly ----

fn message(ts: &str, author: &str, text: &str) -> IncomingMessage {
    IncomingMessage {
        platform: Platform::Slack,
        workspace: "T0FAKETEAM1".into(),
        channel: GENERAL.into(),
        thread: None,
        message_id: ts.into(),
        revision: Revision::original(),
        author: Author {
            id: author.into(),
            display_name: String::new(),
            avatar_url: None,
            roles: Vec::new(),
        },
        text: text.into(),
        has_attachments: false,
        not_repostable: None,
        received: std::time::Instant::now(),
    }
}

/// A linkguard process: its own store handle (pool), pipeline and Slack client.
struct Process {
    store: Store,
    moderator: Arc<Moderator>,
    actions: Arc<SlackActions>,
}

async fn process(db: &str, fake: &FakeSlack) -> Process {
    let store = Store::open(db, StoreOptions::default())
        .await
        .expect("store");
    let moderator = Arc::new(test_moderator(store.clone()));
    let client = linkguard::slack::client(&fake.api_url()).expect("client");
    let actions = Arc::new(SlackActions::new(
        client,
        DEFAULT_BOT_TOKEN,
        Some(DEFAULT_ADMIN_USER_TOKEN),
    ));
    Process {
        store,
        moderator,
        actions,
    }
}

/// Records `text` from `author` as a new message: detection written and
/// pending, leased to `p`, which then "dies" before acting.
async fn record_only(p: &Process, fake: &FakeSlack, author: &str, text: &str) -> String {
    let ts = fake.post_user_message(GENERAL, author, text).expect("post");
    let step = p
        .moderator
        .record(&message(&ts, author, text))
        .await
        .expect("record");
    assert!(matches!(step, Step::Act(_)), "{step:?}");
    ts
}

/// Runs `p`'s recovery until nothing is pending (leases of dead processes
/// run out on their own). Returns how many actions `p` resolved.
async fn recover_until_done(p: &Process) -> usize {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut resolved = 0;
    loop {
        resolved += p
            .moderator
            .recover(Platform::Slack, p.actions.as_ref() as &dyn PlatformActions)
            .await
            .expect("recover");
        if p.store.pending().await.expect("pending").is_empty() {
            return resolved;
        }
        assert!(tokio::time::Instant::now() < deadline, "still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn actions_of(store: &Store, ts: &str) -> Vec<AuditRecord> {
    store
        .list(&AuditFilter::default())
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.entry.kind.as_str() == "action" && r.entry.message_id.as_deref() == Some(ts))
        .collect()
}

fn bot_reposts(fake: &FakeSlack, marker: &str) -> usize {
    fake.messages(GENERAL)
        .iter()
        .filter(|m| m.username.is_some() && m.bot_id.is_some() && m.text.contains(marker))
        .count()
}

/// A process records `text` from alice, reposts it, records the repost's
/// id, sends the delete and dies before the answer (Slack's answer never
/// comes). Returns the original's ts.
async fn crash_while_deleting(fake: &FakeSlack, db: &str, text: &str) -> String {
    let first = process(db, fake).await;
    fake.delay("chat.delete", Duration::from_secs(3600));
    let ts = fake.post_user_message(GENERAL, ALICE, text).expect("post");
    let msg = message(&ts, ALICE, text);
    let Step::Act(work) = first.moderator.record(&msg).await.expect("record") else {
        panic!("nothing to do")
    };
    let (moderator, actions) = (first.moderator.clone(), first.actions.clone());
    let running = tokio::spawn(async move {
        let _ = moderator.act(&msg, *work, actions.as_ref()).await;
    });
    // The repost exists and its id is recorded before the delete is sent.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !first.store.pending().await.expect("pending")[0]
        .progress
        .as_deref()
        .is_some_and(|t| t.contains("repost"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "progress never recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.with_state(|s| s.calls_to("chat.postMessage").len()), 1);
    // The crash.
    running.abort();
    let _ = running.await;
    first.store.close().await;
    fake.delay("chat.delete", Duration::ZERO);
    ts
}

/// The one action recorded for `ts`: (action, outcome).
async fn only_action(store: &Store, ts: &str) -> (String, String) {
    let recorded = actions_of(store, ts).await;
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    let e = &recorded[0].entry;
    (
        e.action.map(|a| a.as_str().to_owned()).unwrap_or_default(),
        e.outcome
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_a_crash_between_repost_and_delete_never_reposts_twice() {
    let fake = FakeSlack::start(FakeSlackConfig::default())
        .await
        .expect("fake");
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("lg.db").display());
    let ts = crash_while_deleting(&fake, &db, "crashing https://zoom.us/j/84000000001").await;

    // The next process finishes it: deletes the original, reposts nothing.
    let second = process(&db, &fake).await;
    assert_eq!(recover_until_done(&second).await, 1);
    assert!(
        fake.with_state(|s| s.message(GENERAL, &ts).is_some_and(|m| m.deleted)),
        "the original is gone"
    );
    assert_eq!(bot_reposts(&fake, "crashing "), 1, "one repost, not two");
    assert_eq!(fake.with_state(|s| s.calls_to("chat.postMessage").len()), 1);
    assert_eq!(
        only_action(&second.store, &ts).await,
        ("replace".into(), "ok".into())
    );
    assert!(second.store.verify().await.expect("verify").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_a_crash_after_the_delete_finishes_without_a_second_repost() {
    let fake = FakeSlack::start(FakeSlackConfig::default())
        .await
        .expect("fake");
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("lg.db").display());
    let ts = crash_while_deleting(&fake, &db, "late https://zoom.us/j/84000000002").await;
    // Slack carried the delete out; only its answer was lost with the process.
    fake.delete_user_message(GENERAL, &ts).expect("deleted");

    let second = process(&db, &fake).await;
    assert_eq!(recover_until_done(&second).await, 1);
    assert_eq!(bot_reposts(&fake, "late "), 1, "the repost stands, alone");
    assert_eq!(fake.with_state(|s| s.calls_to("chat.postMessage").len()), 1);
    assert_eq!(
        only_action(&second.store, &ts).await,
        ("replace".into(), "ok".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_two_replicas_recovering_at_once_run_each_action_once() {
    let fake = FakeSlack::start(FakeSlackConfig::default())
        .await
        .expect("fake");
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("lg.db").display());
    let dead = process(&db, &fake).await;
    const N: usize = 12;
    let mut posted = Vec::new();
    for i in 0..N {
        let marker = format!("twice-{i:02} ");
        let who = if i % 2 == 0 { ALICE } else { BOB };
        let ts = record_only(
            &dead,
            &fake,
            who,
            &format!("{marker}https://zoom.us/j/{}", 85_000_000_000u64 + i as u64),
        )
        .await;
        posted.push((ts, marker));
    }
    dead.store.close().await;

    // Two replicas start at once and both recover.
    let (a, b) = tokio::join!(process(&db, &fake), process(&db, &fake));
    let (from_a, from_b) = tokio::join!(recover_until_done(&a), recover_until_done(&b));
    assert_eq!(
        from_a + from_b,
        N,
        "each action resolved by exactly one replica"
    );
    for (ts, marker) in &posted {
        assert_eq!(bot_reposts(&fake, marker), 1, "{marker} reposted once");
        assert!(fake.with_state(|s| s.message(GENERAL, ts).is_some_and(|m| m.deleted)));
        assert_eq!(
            only_action(&a.store, ts).await,
            ("replace".into(), "ok".into())
        );
    }
    assert_eq!(
        fake.with_state(|s| s.calls_to("chat.delete").len()),
        N,
        "one delete per message"
    );
    assert!(a.store.verify().await.expect("verify").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_forged_pending_payloads_are_refused_not_executed() {
    let fake = FakeSlack::start(FakeSlackConfig::default())
        .await
        .expect("fake");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("lg.db");
    let db = format!("sqlite://{}", path.display());
    let writer = process(&db, &fake).await;
    // Messages someone with database access would like the bot to delete.
    let target = fake
        .post_user_message(GENERAL, ADMIN, "an announcement")
        .expect("post");
    let retargeted = record_only(&writer, &fake, ALICE, "one https://zoom.us/j/86000000001").await;
    let unsigned = record_only(&writer, &fake, BOB, "two https://zoom.us/j/86000000002").await;
    let progressed =
        record_only(&writer, &fake, ALICE, "three https://zoom.us/j/86000000003").await;
    writer.store.close().await;
    // 4. Written by a process with another audit key (or by anyone who
    // guessed at one): sealed, but not with the recovering process's key.
    let mut other = process(&db, &fake).await;
    other.moderator =
        Arc::new(test_moderator(other.store.clone()).with_audit_key("a-different-audit-key"));
    let rekeyed = record_only(&other, &fake, BOB, "four https://zoom.us/j/86000000004").await;
    other.store.close().await;

    let raw = sqlite_raw(&path).await;
    // 1. The payload points at another message (and reposts under another name).
    exec(
        &raw,
        &format!(
            "UPDATE pending_actions SET payload = replace(replace(payload, '{retargeted}', '{target}'), '\"{ALICE}\"', '\"{ADMIN}\"') \
             WHERE payload LIKE '%{retargeted}%'"
        ),
    )
    .await;
    // 2. The MAC is gone (as in a row written by hand).
    exec(
        &raw,
        &format!("UPDATE pending_actions SET payload_mac = NULL WHERE payload LIKE '%{unsigned}%'"),
    )
    .await;
    // 3. Forged progress: "the repost is the announcement", to be cleaned up.
    exec(
        &raw,
        &format!(
            "UPDATE pending_actions SET progress = '{{\"action\":\"replace\",\"repost\":\"{target}\"}}', \
             progress_mac = '00' WHERE payload LIKE '%{progressed}%'"
        ),
    )
    .await;
    raw.close().await;

    // The process that recovers holds the real key.
    let recovering = process(&db, &fake).await;
    let resolved = recover_until_done(&recovering).await;
    assert_eq!(resolved, 4);
    // Nothing was executed: no post, no delete, the announcement stands.
    let calls: Vec<String> = fake
        .calls()
        .iter()
        .filter(|c| c.method.starts_with("chat."))
        .map(|c| c.method.clone())
        .collect();
    assert!(calls.is_empty(), "{calls:?}");
    assert!(fake.with_state(|s| s.message(GENERAL, &target).is_some_and(|m| !m.deleted)));
    // Each is recorded as failed, saying why.
    for ts in [&retargeted, &unsigned, &progressed, &rekeyed] {
        assert_eq!(
            only_action(&recovering.store, ts).await,
            ("log".into(), "failed".into())
        );
        let detail = actions_of(&recovering.store, ts).await[0]
            .entry
            .detail
            .clone()
            .unwrap_or_default();
        assert!(
            detail.starts_with("refused, not executed") && detail.contains("audit_key"),
            "{ts}: {detail}"
        );
    }
}

async fn sqlite_raw(path: &std::path::Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("raw sqlite")
}

async fn exec(pool: &sqlx::SqlitePool, sql: &str) {
    let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_recovery_does_not_delay_readiness_or_the_connection() {
    let setup = Setup::default();
    let fake = FakeSlack::start(setup.fake.clone()).await.expect("fake");
    let dir = tempfile::tempdir().expect("dir");
    let db = database_url(dir.path());
    // An earlier run left actions pending...
    let dead = process(&db, &fake).await;
    let mut posted = Vec::new();
    for i in 0..3u64 {
        let marker = format!("left-{i} ");
        let ts = record_only(
            &dead,
            &fake,
            ALICE,
            &format!("{marker}https://zoom.us/j/{}", 87_000_000_000 + i),
        )
        .await;
        posted.push((ts, marker));
    }
    let dead_owner = dead.moderator.owner().to_owned();
    dead.store.close().await;
    // ...and finishing them is slow (Slack answers users.info late).
    fake.delay("users.info", Duration::from_secs(6));

    // Connected (the socket is open: spawn_app_with waits for it) and ready
    // before the recovery is done...
    let app = spawn_app_with(fake, dir, setup).await;
    let readyz = format!("http://{}/readyz", app.http);
    // (Ready follows Slack's `hello` on the open socket within moments.)
    let deadline = tokio::time::Instant::now() + WAIT;
    while reqwest::get(&readyz).await.expect("readyz").status() != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.store.pending().await.expect("pending").len(), 3);
    // ...and while it runs (the app holds the leases, users.info hangs).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pending = app.store.pending().await.expect("pending");
        if pending
            .iter()
            .any(|p| p.lease_owner.as_ref().is_some_and(|o| *o != dead_owner))
        {
            assert_eq!(pending.len(), 3);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = reqwest::get(&readyz).await.expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    for (ts, marker) in &posted {
        app.wait_message(GENERAL, ts, |m| m.deleted).await;
        assert_eq!(reposts_with(&app, marker), 1, "{marker}");
    }
    app.finish().await;
}
