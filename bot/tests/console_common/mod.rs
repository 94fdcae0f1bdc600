//! Shared by the console tests: `linkguard run` with the console on, on a
//! SQLite file in a temporary folder, and the store it writes.
#![allow(dead_code)] // each test uses a part

use linkguard::store::{AuditFilter, Store, StoreOptions};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "console-test-break-glass-token-0123";
pub const AUDIT_KEY: &str = "console-test-audit-key";

pub struct Run {
    pub child: Child,
    pub base: String,
    pub db: String,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn spawn(dir: &Path, public_url: Option<&str>) -> Run {
    spawn_with(dir, public_url, &[]).await
}

/// `linkguard run` with `env` added; `public_url` may name `{port}`.
pub async fn spawn_with(dir: &Path, public_url: Option<&str>, env: &[(&str, String)]) -> Run {
    let port = free_port();
    let db = format!("sqlite://{}", dir.join("lg.db").display());
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkguard"));
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LINKGUARD_DATABASE_URL", &db)
        .env("LINKGUARD_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("LINKGUARD_ROOM_KEY", "console-test-room-key")
        .env("LINKGUARD_AUDIT_KEY", AUDIT_KEY)
        .env("LINKGUARD_ADMIN_TOKEN", TOKEN)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(u) = public_url {
        c.env(
            "LINKGUARD_ADMIN_PUBLIC_URL",
            u.replace("{port}", &port.to_string()),
        );
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c.spawn().expect("linkguard runs");
    let base = format!("http://127.0.0.1:{port}");
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "linkguard did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Run { child, base, db }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn store(run: &Run) -> Store {
    Store::connect(
        &run.db,
        StoreOptions {
            audit_key: linkguard::store::AuditKey::new(AUDIT_KEY),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap()
}

pub async fn logins(run: &Run) -> Vec<linkguard::store::AuditRecord> {
    let s = store(run).await;
    let r = s
        .list(&AuditFilter {
            kind: Some("console_login".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    s.close().await;
    r
}
