//! Downtime on Discord, as a black box: the real `linkguard run` binary,
//! configured only through its documented environment variables, against the
//! fake Discord (REST through `LINKGUARD_DISCORD_PROXY_URL`). It is SIGKILLed
//! in the middle of a burst; the burst goes on while it is down; a new
//! process on the same database must handle every message exactly once: none
//! left up, none reposted twice, each audited once.

use linkguard::store::{AuditFilter, Kind, Outcome, Platform, Store, StoreOptions};
use linkguard_fakes::discord::{cast, FakeDiscord, FakeDiscordConfig, RouteKind};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

/// One `linkguard run` process, its stderr collected.
struct Run {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_run(fake: &FakeDiscord, db_url: &str, extra: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linkguard"));
    cmd.args(["run", "--log-format", "json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LINKGUARD_DATABASE_URL", db_url)
        .env("LINKGUARD_HTTP_ADDR", "127.0.0.1:0")
        .env("LINKGUARD_ROOM_KEY", "catch-up-test-key")
        .env("LINKGUARD_AUDIT_KEY", AUDIT_KEY)
        .env("LINKGUARD_DISCORD_GUILD_IDS", cast::GUILD.to_string())
        .env("LINKGUARD_DISCORD_TOKEN", fake.bot_token())
        .env("LINKGUARD_DISCORD_PROXY_URL", fake.http_base())
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("linkguard run starts");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Run { child, logs }
}

impl Run {
    fn signal(&mut self, sig: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        self.child.wait().expect("wait")
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

/// Waits until a new gateway session (the `n`th identify) is connected and
/// its guild is caught up (the start-up catch-up logs when it is done).
async fn wait_caught_up(fake: &FakeDiscord, run: &Run, identifies: u64) {
    fake.wait_until(
        |s| s.gateway_stats().identifies >= identifies && s.connected_sessions() >= 1,
        WAIT,
    )
    .await
    .expect("linkguard connects to the gateway");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !run.logs().contains("caught up on Discord messages") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no catch-up logged:\n{}",
            run.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn marker(i: usize) -> String {
    format!("burst-{i:03} ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_sigkill_mid_burst_then_restart_handles_each_message_once() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .expect("fake discord");
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("lg.db").display());

    let mut first = spawn_run(&fake, &db_url, &[]);
    wait_caught_up(&fake, &first, 1).await;

    let mut ids: Vec<u64> = Vec::new();
    for i in 0..100usize {
        let text = format!("{}https://zoom.us/j/7{i:09}", marker(i));
        ids.push(
            fake.post_user_message(cast::GENERAL, cast::ALICE, &text)
                .expect("post"),
        );
        if i == 40 {
            // Some of the burst is handled, some is in flight.
            let status = first.signal("-KILL");
            assert!(!status.success(), "killed: {status:?}");
        } else {
            tokio::time::sleep(Duration::from_millis(4)).await;
        }
    }
    let handled_live = fake.with_state(|s| {
        ids.iter()
            .filter(|id| s.message(**id).is_some_and(|m| m.deleted))
            .count()
    });

    let mut second = spawn_run(&fake, &db_url, &[]);
    fake.wait_until(
        |s| {
            ids.iter()
                .all(|id| s.message(*id).is_some_and(|m| m.deleted))
        },
        WAIT,
    )
    .await
    .unwrap_or_else(|_| {
        let left: Vec<u64> = fake.with_state(|s| {
            ids.iter()
                .copied()
                .filter(|id| !s.message(*id).is_some_and(|m| m.deleted))
                .collect()
        });
        panic!(
            "{} of 100 left up after the restart: {left:?}\n{}",
            left.len(),
            second.logs()
        )
    });

    // The restart read the channel's history after its stored cursor.
    let reads = fake.calls_to(RouteKind::ListMessages);
    assert!(
        reads.iter().any(|c| {
            c.path
                .ends_with(&format!("/channels/{}/messages", cast::GENERAL))
                && c.query.as_deref().is_some_and(|q| q.contains("after="))
                && c.status == 200
        }),
        "history read back: {reads:#?}"
    );

    // None doubled: one repost per message, each carrying its text.
    let reposts = fake.with_state(|s| {
        s.messages(cast::GENERAL)
            .into_iter()
            .filter(|m| m.webhook_id.is_some() && !m.deleted)
            .map(|m| m.content.clone())
            .collect::<Vec<_>>()
    });
    for i in 0..100 {
        let n = reposts.iter().filter(|c| c.contains(&marker(i))).count();
        assert_eq!(n, 1, "message {i} reposted {n} times");
    }
    assert_eq!(reposts.len(), 100, "no other reposts");

    // An action the killed process held (it was killed after the delete,
    // before recording the outcome) is finished once its lease runs out.
    let store = Store::open(&db_url, store_options()).await.expect("store");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let records = discord_records(&store).await;
        let acted: std::collections::HashSet<String> = records
            .iter()
            .filter(|r| r.entry.kind == Kind::Action)
            .filter_map(|r| r.entry.message_id.clone())
            .collect();
        if ids.iter().all(|id| acted.contains(&id.to_string())) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every action was recorded:\n{}",
            second.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = second.signal("-TERM");
    assert!(status.success(), "the second run stops cleanly: {status:?}");
    let logs = format!("{}\n{}", first.logs(), second.logs());
    assert!(!logs.contains(fake.bot_token()), "logs leak the token");
    assert!(!logs.contains("zoom.us/j/"), "logs leak message text");

    // Each audited once: one detection and one successful action per message.
    let records = discord_records(&store).await;
    let mut per_message: HashMap<String, (usize, usize)> = HashMap::new();
    for r in &records {
        let Some(id) = r.entry.message_id.clone() else {
            continue;
        };
        let e = per_message.entry(id).or_default();
        match r.entry.kind {
            Kind::Detected => e.0 += 1,
            Kind::Action => {
                assert_eq!(r.entry.outcome, Some(Outcome::Ok), "{r:?}");
                assert_eq!(r.entry.action.map(|a| a.as_str()), Some("replace"), "{r:?}");
                e.1 += 1
            }
            _ => {}
        }
    }
    for id in &ids {
        assert_eq!(
            per_message.get(&id.to_string()),
            Some(&(1, 1)),
            "message {id}: detections and actions"
        );
    }
    assert!(store.verify().await.expect("verify").is_ok());
    assert!(store.pending().await.expect("pending").is_empty());
    eprintln!(
        "trust: {handled_live} of 100 handled before the SIGKILL, the rest after the restart"
    );
}

/// The audit key of the processes this test starts.
const AUDIT_KEY: &str = "catch-up-test-audit-key";

fn store_options() -> StoreOptions {
    StoreOptions {
        audit_key: linkguard::store::AuditKey::new(AUDIT_KEY),
        ..StoreOptions::default()
    }
}

/// The Discord audit records, oldest first.
async fn discord_records(store: &Store) -> Vec<linkguard::store::AuditRecord> {
    store
        .list(&AuditFilter {
            platform: Some(Platform::Discord.into()),
            ..AuditFilter::default()
        })
        .await
        .expect("audit")
}
