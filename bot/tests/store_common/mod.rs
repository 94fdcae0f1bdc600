//! Shared helpers for the store tests: a fresh database per test (a temporary
//! SQLite file, or a new PostgreSQL database created from
//! `TEST_DATABASE_URL` and dropped afterwards), and a TCP proxy that can cut
//! the connection to PostgreSQL to simulate losing the database.
//!
//! Without `TEST_DATABASE_URL` the PostgreSQL variants are skipped with a
//! message, except under CI (`CI` set), where that is a failure.

#![allow(dead_code)]

use linkguard::store::{Backend, Store, StoreOptions};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg: Option<PgCleanup>,
}

struct PgCleanup {
    admin_url: String,
    name: String,
}

impl TestDb {
    /// Opens (and migrates) a store on this database.
    pub async fn store(&self) -> Store {
        self.store_with(options()).await
    }

    /// Opens a store with `opts`.
    pub async fn store_with(&self, opts: StoreOptions) -> Store {
        Store::open(&self.url, opts)
            .await
            .unwrap_or_else(|e| panic!("cannot open test store: {e:#?}"))
    }

    /// A raw pool for tampering with rows behind the store's back.
    pub async fn raw(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.url)
            .await
            .expect("raw pool connects")
    }
}

/// The `linkguard` binary, as every test that spawns it starts: a clean
/// environment (only `PATH`, so nothing of the developer's shell leaks in)
/// with the room and audit keys set (`run` refuses to start without them,
/// or with the development ones). A test that opens the store itself uses
/// the same `audit_key`.
pub fn linkguard(room_key: &str, audit_key: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_linkguard"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LINKGUARD_ROOM_KEY", room_key)
        .env("LINKGUARD_AUDIT_KEY", audit_key);
    c
}

/// A message by `user` in the fake Slack's #general (original revision).
pub fn slack_message(user: &str, text: &str, id: &str) -> linkguard::moderation::IncomingMessage {
    linkguard::moderation::IncomingMessage {
        platform: linkguard::moderation::Platform::Slack,
        workspace: "T0FAKETEAM1".into(),
        channel: "C0FAKECHAN1".into(),
        thread: None,
        message_id: id.into(),
        revision: linkguard::moderation::Revision::original(),
        author: linkguard::moderation::Author {
            id: user.into(),
            display_name: user.into(),
            ..Default::default()
        },
        text: text.into(),
        has_attachments: false,
        not_repostable: None,
        received: std::time::Instant::now(),
    }
}

/// The pending `replace` detection of Slack message `i` in channel `C1`.
pub fn pending_detection(i: usize) -> linkguard::store::AuditEntry {
    use linkguard::store::{AuditAction, AuditEntry, Kind, Outcome};
    AuditEntry {
        channel: Some("C1".into()),
        message_id: Some(format!("1700000000.{i:06}")),
        revision: Some(linkguard::store::Revision::original()),
        outcome: Some(Outcome::Pending),
        action: Some(AuditAction::Replace),
        ..AuditEntry::new(Kind::Detected, linkguard::store::Platform::Slack)
    }
}

/// Records [`pending_detection`] `i` under its event key, with the payload
/// `{"n":i}` and `lease`.
pub async fn record_pending(
    store: &Store,
    i: usize,
    lease: Option<(String, i64)>,
) -> linkguard::store::Recorded {
    use linkguard::store::{EventKey, NewPending};
    let key = EventKey::new(
        linkguard::store::Platform::Slack,
        &format!("C1/1700000000.{i:06}"),
        &linkguard::store::Revision::original(),
    );
    store
        .record_detection_with(
            &key,
            vec![pending_detection(i)],
            Some(NewPending {
                payload: format!("{{\"n\":{i}}}"),
                payload_mac: "00".into(),
                lease,
            }),
        )
        .await
        .expect("record")
}

/// Test defaults: short timeouts so failures show quickly.
pub fn options() -> StoreOptions {
    StoreOptions {
        connect_timeout: Duration::from_secs(5),
        retry_for: Duration::from_secs(10),
        ..StoreOptions::default()
    }
}

/// A fresh SQLite file in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("linkguard.db").display());
    TestDb {
        url,
        backend: Backend::Sqlite,
        _dir: Some(dir),
        pg: None,
    }
}

/// The PostgreSQL server to test against, or `None` (skipped) when
/// `TEST_DATABASE_URL` is unset outside CI.
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "TEST_DATABASE_URL is not set under CI: the PostgreSQL store tests must run \
                     (start it with `eval \"$(bash .ci/postgres.sh)\"`)"
                );
            }
            eprintln!("skipped: TEST_DATABASE_URL is not set, PostgreSQL variant not run");
            None
        }
    }
}

/// A fresh, empty PostgreSQL database, dropped when the `TestDb` is.
pub async fn postgres() -> Option<TestDb> {
    let admin_url = pg_admin_url()?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "lg_test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let _ = sqlx::Connection::close(admin).await;
    Some(TestDb {
        url: with_database(&admin_url, &name),
        backend: Backend::Postgres,
        _dir: None,
        pg: Some(PgCleanup { admin_url, name }),
    })
}

impl Drop for PgCleanup {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // use a thread with its own small runtime.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let t = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut c) =
                    <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                    let _ = sqlx::Connection::close(c).await;
                }
            });
        });
        let _ = t.join();
    }
}

/// `url` pointing at database `name` instead.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// `url` with its `host:port` replaced by `addr`.
pub fn with_host(url: &str, addr: SocketAddr) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let userinfo = authority.rfind('@').map_or("", |at| &authority[..=at]);
    format!(
        "{}{}{}{}",
        &url[..authority_start],
        userinfo,
        addr,
        &rest[authority_end..]
    )
}

/// The `host:port` a URL points at.
pub fn host_of(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    authority
        .rfind('@')
        .map_or(authority, |at| &authority[at + 1..])
        .to_string()
}

/// A TCP proxy in front of the database that can be switched off (every
/// connection cut, new ones refused at once) and on again.
pub struct Proxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (up, rx) = watch::channel(true);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut rx = rx.clone();
                if !*rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { addr, up, task }
    }

    /// Cuts (false) or restores (true) the database connection.
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs each named `async fn(&TestDb)` against SQLite and PostgreSQL, as
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::store_common::sqlite().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::store_common::postgres().await {
                        super::$name(&db).await;
                    }
                }
            )*
        }
    };
}
