//! Operating the service: readiness follows the database, metrics are served
//! on their own listener, and a configuration never leaks a secret.

mod store_common;

use linkguard::app::{App, AppOptions};
use linkguard::config::{Config, Secret};
use std::time::Duration;

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("request");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Polls `url` until it answers `status` (readiness is observed, not pushed;
/// bounded so a failure shows quickly).
async fn until_status(url: &str, status: u16) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, body) = get(url).await;
        if s == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} stayed {s} ({body}), want {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    let proxy = store_common::Proxy::start(store_common::host_of(&db.url)).await;
    let via_proxy = store_common::with_host(&db.url, proxy.addr);
    let config = Config {
        database_url: Secret::new(via_proxy),
        http_addr: "127.0.0.1:0".into(),
        metrics_addr: Some("127.0.0.1:0".into()),
        ..Config::default()
    };
    let app = App::build(config, AppOptions::default())
        .await
        .expect("app builds");
    let base = format!("http://{}", app.http_addr());
    let metrics = format!("http://{}/metrics", app.metrics_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stop_rx.await;
    }));

    assert_eq!(get(&format!("{base}/healthz")).await, (200, "ok".into()));
    until_status(&format!("{base}/readyz"), 200).await;
    let (s, text) = get(&metrics).await;
    assert_eq!(s, 200);
    assert!(
        text.contains("# TYPE linkguard_pending_actions gauge"),
        "{text}"
    );

    proxy.set_up(false);
    let why = until_status(&format!("{base}/readyz"), 503).await;
    assert!(why.starts_with("database:"), "{why}");
    assert!(!why.contains("postgres:postgres@"), "no password in {why}");
    // Alive all the same: a database outage is not a reason to restart us.
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);

    proxy.set_up(true);
    until_status(&format!("{base}/readyz"), 200).await;

    let _ = stop_tx.send(());
    server.await.unwrap().expect("clean shutdown");
}

#[test]
fn config_check_prints_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("discord_token");
    std::fs::write(&secret_file, "PLANTED-DISCORD-TOKEN\n").unwrap();
    let out = store_common::linkguard("PLANTED-ROOM-KEY", "PLANTED-AUDIT-KEY")
        .args(["config", "check"])
        .env("LINKGUARD_SLACK_BOT_TOKEN", "xoxb-PLANTED-SLACK-TOKEN")
        .env("LINKGUARD_SLACK_APP_TOKEN", "xapp-PLANTED-APP-TOKEN")
        .env("LINKGUARD_DISCORD_TOKEN_FILE", &secret_file)
        .env(
            "LINKGUARD_DATABASE_URL",
            "postgres://lg:PLANTED-DB-PASSWORD@db.internal/lg",
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("PLANTED"), "{all}");
    assert!(
        all.contains("slack.bot_token = [redacted]  # the environment (LINKGUARD_SLACK_BOT_TOKEN)"),
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "discord.token = [redacted]  # file {}",
            secret_file.display()
        )),
        "{all}"
    );
    assert!(
        all.contains("database_url = postgres://lg:***@db.internal/lg"),
        "{all}"
    );

    let bad = store_common::linkguard("PLANTED-ROOM-KEY", "PLANTED-AUDIT-KEY")
        .args(["config", "check"])
        .env("LINKGUARD_SLACK_BOT_TOKEN", "xoxb-PLANTED")
        .env("LINKGUARD_SLACK_MODE", "http")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("slack.signing_secret") && !err.contains("PLANTED"),
        "{err}"
    );
}
