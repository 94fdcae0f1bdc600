//! The `linkguard run` binary as an operator runs it, configured only through
//! its documented environment variables, against the fake Slack in Events
//! API mode: two replicas sharing one PostgreSQL database, and a SIGTERM in
//! the middle of a burst followed by a restart. Logs are scanned for the
//! tokens and message texts that must never appear at info level.

mod store_common;

use linkguard_fakes::slack::{
    sign, Delivery, FakeSlack, FakeSlackConfig, DEFAULT_ADMIN_USER_TOKEN, DEFAULT_BOT_TOKEN,
    DEFAULT_SIGNING_SECRET,
};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const GENERAL: &str = "C0FAKECHAN1";
const ALICE: &str = "U0FAKEUSR01";
const WAIT: Duration = Duration::from_secs(60);

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One `linkguard run` process, its stderr collected.
struct Replica {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

fn spawn_run(db_url: &str, api_url: &str, port: u16) -> Replica {
    let mut child = store_common::linkguard("replica-test-key", AUDIT_KEY)
        .args(["run", "--log-format", "json"])
        .env("LINKGUARD_DATABASE_URL", db_url)
        .env("LINKGUARD_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("LINKGUARD_SHUTDOWN_TIMEOUT_SECS", "10")
        .env("LINKGUARD_SLACK_BOT_TOKEN", DEFAULT_BOT_TOKEN)
        .env("LINKGUARD_SLACK_USER_TOKEN", DEFAULT_ADMIN_USER_TOKEN)
        .env("LINKGUARD_SLACK_SIGNING_SECRET", DEFAULT_SIGNING_SECRET)
        .env("LINKGUARD_SLACK_MODE", "http")
        .env("LINKGUARD_SLACK_API_URL", api_url)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("linkguard run starts");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("\"linkguard running\"") {
                let _ = ready_tx.send(());
            }
            sink.lock().unwrap().push(line);
        }
    });
    ready_rx
        .recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("linkguard did not start: {:?}", logs.lock().unwrap()));
    Replica {
        child,
        addr: format!("127.0.0.1:{port}"),
        logs,
    }
}

impl Replica {
    fn sigterm(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        self.child.wait().expect("wait")
    }

    fn assert_logs_clean(&self) {
        let logs = self.logs.lock().unwrap().join("\n");
        for secret in [
            DEFAULT_BOT_TOKEN,
            DEFAULT_ADMIN_USER_TOKEN,
            DEFAULT_SIGNING_SECRET,
            "zoom.us/j/",
        ] {
            assert!(!logs.contains(secret), "logs leak `{secret}`:\n{logs}");
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post_signed(client: &reqwest::Client, addr: &str, body: &str, retry: Option<u32>) -> u16 {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut req = client
        .post(format!("http://{addr}/slack/events"))
        .header("Content-Type", "application/json")
        .header("X-Slack-Request-Timestamp", &ts)
        .header(
            "X-Slack-Signature",
            sign(DEFAULT_SIGNING_SECRET, &ts, body.as_bytes()),
        )
        .body(body.to_owned());
    if let Some(n) = retry {
        req = req
            .header("X-Slack-Retry-Num", n.to_string())
            .header("X-Slack-Retry-Reason", "http_timeout");
    }
    req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// The replicas' audit key: every process writing one chain shares it.
const AUDIT_KEY: &str = "replica-audit-key";

fn audit_verify(db_url: &str) -> bool {
    store_common::linkguard("replica-test-key", AUDIT_KEY)
        .args(["audit", "verify"])
        .env("LINKGUARD_DATABASE_URL", db_url)
        .status()
        .expect("audit verify runs")
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_handle_each_violation_once() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    // The fake delivers each event once, to one replica; this test plays
    // Slack's load balancer and its retries itself.
    let fake = FakeSlack::start(
        FakeSlackConfig::default()
            .with_fast_timers(Duration::from_secs(3), Duration::from_millis(100)),
    )
    .await
    .expect("fake slack");
    let api = fake.api_url();
    let a = spawn_run(&db.url, &api, free_port());
    let b = spawn_run(&db.url, &api, free_port());
    fake.set_delivery(Delivery::Http {
        events_url: "http://127.0.0.1:9/unused".into(),
        commands_url: None,
    });
    let client = reqwest::Client::new();
    let mut banned = Vec::new();
    for i in 0..500usize {
        let text = if i % 10 == 0 {
            format!("call {i}: https://zoom.us/j/9{i:010}")
        } else {
            format!("message {i}")
        };
        let ts = fake.post_user_message(GENERAL, ALICE, &text).unwrap();
        let payload = fake
            .with_state(|s| {
                s.events()
                    .iter()
                    .find(|e| e["event"]["ts"] == ts.as_str())
                    .cloned()
            })
            .expect("event payload")
            .to_string();
        let (first, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(post_signed(&client, &first.addr, &payload, None).await, 200);
        // Slack retries some deliveries (e.g. after a slow answer); the
        // load balancer sends the retry to the other replica.
        if i % 3 == 0 {
            assert_eq!(
                post_signed(&client, &other.addr, &payload, Some(1)).await,
                200
            );
        }
        if i % 10 == 0 {
            banned.push(ts);
        }
    }
    fake.wait_until(WAIT, |s| {
        banned
            .iter()
            .all(|ts| s.message(GENERAL, ts).is_some_and(|m| m.deleted))
    })
    .await
    .expect("every violation handled");
    let reposts = fake
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.ok() && c.params.get("username").is_some())
        .count();
    assert_eq!(
        reposts,
        banned.len(),
        "exactly one repost per violation across both replicas"
    );
    let deletes = fake
        .calls()
        .iter()
        .filter(|c| c.method == "chat.delete" && c.ok())
        .count();
    assert_eq!(deletes, banned.len());
    for mut r in [a, b] {
        r.assert_logs_clean();
        assert!(r.sigterm().success());
    }
    assert!(audit_verify(&db.url), "one valid audit chain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_burst_loses_nothing_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("lg.db").display());
    let fake = FakeSlack::start(
        FakeSlackConfig::default()
            .with_fast_timers(Duration::from_secs(3), Duration::from_millis(1500)),
    )
    .await
    .expect("fake slack");
    let port = free_port();
    let mut first = spawn_run(&db_url, &fake.api_url(), port);
    fake.set_delivery(Delivery::Http {
        events_url: format!("http://{}/slack/events", first.addr),
        commands_url: None,
    });
    let mut banned = Vec::new();
    for i in 0..200usize {
        let text = if i % 5 == 0 {
            format!("call {i}: https://zoom.us/j/9{i:010}")
        } else {
            format!("message {i}")
        };
        banned.extend((i % 5 == 0).then(|| fake.post_user_message(GENERAL, ALICE, &text).unwrap()));
        if i % 5 != 0 {
            fake.post_user_message(GENERAL, ALICE, &text).unwrap();
        }
        if i == 100 {
            let status = first.sigterm();
            assert!(status.success(), "graceful shutdown exits 0: {status:?}");
            first.assert_logs_clean();
        }
    }
    // The next start (same database, same address) finishes what was left
    // pending and receives Slack's retries of what was not acknowledged.
    let second = spawn_run(&db_url, &fake.api_url(), port);
    fake.wait_until(WAIT, |s| {
        banned
            .iter()
            .all(|ts| s.message(GENERAL, ts).is_some_and(|m| m.deleted))
    })
    .await
    .expect("every violation handled after the restart");
    let reposts = fake
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.ok() && c.params.get("username").is_some())
        .count();
    assert_eq!(reposts, banned.len(), "nothing doubled");
    second.assert_logs_clean();
    let mut second = second;
    assert!(
        second.sigterm().success(),
        "the second run also stops cleanly"
    );
    assert!(audit_verify(&db_url));
    let store = linkguard::store::Store::open(
        &db_url,
        linkguard::store::StoreOptions {
            audit_key: linkguard::store::AuditKey::new(AUDIT_KEY),
            ..linkguard::store::StoreOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(
        store.pending().await.unwrap().is_empty(),
        "nothing left pending"
    );
}
