//! The durable store: audit hash chain, event dedupe, pending actions,
//! versioned policy, Discord webhooks, Discord channel cursors and settings,
//! on SQLite or PostgreSQL.
//!
//! One [`Store`] type serves both backends through sqlx's `Any` driver with
//! portable SQL (`$N` binds, integer epoch-millisecond timestamps, text for
//! hashes and JSON). The few places where the backends differ are explicit
//! `match`es on [`Backend`]:
//!
//! - **Serialising appends.** Every write that touches the chain first locks
//!   the single `audit_head` row: `SELECT … FOR UPDATE` on PostgreSQL (so
//!   several replicas keep one linear chain), `BEGIN IMMEDIATE` on SQLite plus
//!   an in-process mutex (SQLite has one writer anyway, and queuing in tokio is
//!   fairer than spinning on `SQLITE_BUSY`).
//! - **Announcing policy changes.** `NOTIFY linkguard_policy` on PostgreSQL,
//!   an in-process broadcast on SQLite (see [`Store::policy_changes`]).
//!
//! Writes retry with exponential backoff while the database is unreachable
//! (bounded by [`StoreOptions::retry_for`]); a write returns `Ok` only after
//! its transaction committed, so nothing acknowledged is lost. A write whose
//! commit reached the database but whose acknowledgement did not is retried,
//! so a plain append is at-least-once; detections are protected by their
//! idempotency key.
//!
//! Errors are [`StoreError`]; none of them, nor any log line, shows the
//! database password (see [`redact_url`]).
//!
//! This module holds the connection, migration, retry and write-transaction
//! machinery; the audit log's queries are in `audit_log`, its records and
//! hashes in `audit`, the chain walk in `chain`, each other table's
//! queries in a module of its own, and the platforms, origins and revisions
//! the tables keep as text in `platform`.

mod audit;
mod audit_log;
mod chain;
mod console;
mod cursors;
mod error;
mod events;
mod exceptions;
mod group;
mod kv;
mod lease;
mod platform;
mod policy;
mod requests;

pub use audit::{
    canonical_encoding, keyed_record_hash, record_hash, Anchor, AuditAction, AuditEntry, AuditKey,
    AuditRecord, Kind, Outcome, UnknownAuditAction, ANCHOR_FORMAT, DEVELOPMENT_AUDIT_KEY,
    GENESIS_HASH,
};
pub use audit_log::{AuditFilter, PurgeReport};
pub use chain::{ChainProblem, VerifyReport};
pub use console::{ConsoleSession, LoginAttempt};
pub use cursors::ChannelCursor;
pub use error::{describe_target, redact_url, StoreError};
pub use events::{EventKey, NewPending, PendingAction, Recorded};
pub use exceptions::{Exception, ExceptionTarget};
pub use kv::DiscordWebhook;
pub use linkguard_rules::redact::{redact_link, redact_text, REDACTED};
pub use platform::{Origin, Platform, Revision, UnknownOrigin, UnknownPlatform};
pub use policy::{PolicyImport, PolicyVersion, POLICY_CHANNEL, POLICY_POLL};
pub use requests::{
    Created, Decided, ExceptionRequest, NewRequest, RequestState, KIND_APPROVED, KIND_CLOSED,
    KIND_DENIED, KIND_REQUESTED, REQUEST_TTL,
};

use audit_log::{record_from_row, AUDIT_COLUMNS};
use error::DbUrl;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, AssertSqlSafe, Connection, Executor, Row, SqlSafeStr, Transaction};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (WAL mode).
    Sqlite,
    /// A PostgreSQL server, possibly shared by several replicas.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl {
                url: redact_url(url),
            })
        }
    }
}

/// How a [`Store`] behaves; [`StoreOptions::from_config`] reads the bot's configuration.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Keep the full message text in audit records (secrets still redacted).
    pub keep_message_text: bool,
    /// How long an event's idempotency key is remembered.
    pub dedupe_ttl: Duration,
    /// How long a write keeps retrying while the database is unreachable.
    pub retry_for: Duration,
    /// How long to wait for a connection before calling the database unreachable.
    pub connect_timeout: Duration,
    /// Pool size (PostgreSQL; SQLite uses a few readers and one writer).
    pub max_connections: u32,
    /// The key of the audit chain (`audit_key`); the default is the
    /// development key, which `linkguard run` refuses.
    pub audit_key: AuditKey,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            keep_message_text: false,
            dedupe_ttl: Duration::from_secs(7 * 24 * 3600),
            retry_for: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_connections: 10,
            audit_key: AuditKey::development(),
        }
    }
}

impl StoreOptions {
    /// Options from the bot's configuration, defaults elsewhere.
    pub fn from_config(config: &crate::config::Config) -> StoreOptions {
        StoreOptions {
            keep_message_text: config.audit_message_text,
            dedupe_ttl: Duration::from_secs(config.dedupe_ttl_secs.max(0) as u64),
            audit_key: AuditKey::new(config.audit_key.expose()),
            ..StoreOptions::default()
        }
    }
}

/// The durable store. Cheap to clone; clones share one pool.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    backend: Backend,
    url: DbUrl,
    target: String,
    opts: StoreOptions,
    /// Serialises this process's SQLite writers (PostgreSQL uses a row lock).
    write_lock: tokio::sync::Mutex<()>,
    /// Live-path writes waiting to be committed together (`group`).
    group: group::Group,
    healthy: AtomicBool,
    retries: AtomicU64,
    policy_tx: broadcast::Sender<i64>,
    /// Wakes the SQLite policy poller after a change made by this process.
    policy_poke: Arc<tokio::sync::Notify>,
    /// The task feeding `policy_tx` (PostgreSQL listener or SQLite poller).
    listener: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = self.listener.get_mut().take() {
            h.abort();
        }
    }
}

/// The head of the chain, read under the write lock.
struct Head {
    seq: i64,
    hash: String,
    /// The first keyed record (records before it are plain SHA-256).
    keyed_from: i64,
}

/// `audit_head` as stored. A missing `keyed_from` counts as 1 (everything
/// keyed): the strictest reading, so clearing it cannot pass forged rows off
/// as old ones.
const HEAD_SQL: &str = "SELECT seq, hash, COALESCE(keyed_from, 1) AS keyed_from, key_check \
     FROM audit_head WHERE id = 1";

/// An open write transaction holding the chain lock.
pub(crate) struct WriteTx<'a> {
    _guard: Option<tokio::sync::MutexGuard<'a, ()>>,
    tx: Transaction<'static, Any>,
    head: Head,
    head_dirty: bool,
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// Every file in `migrations/<backend>/` must be listed here (a unit test
// checks): embedding by hand avoids compiling sqlx's proc-macro crate for
// `sqlx::migrate!`.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "store",
        include_str!("../../../migrations/sqlite/0001_store.sql"),
    ),
    (
        2,
        "exceptions",
        include_str!("../../../migrations/sqlite/0002_exceptions.sql"),
    ),
    (
        3,
        "pending_payload",
        include_str!("../../../migrations/sqlite/0003_pending_payload.sql"),
    ),
    (
        5,
        "discord_cursors",
        include_str!("../../../migrations/sqlite/0005_discord_cursors.sql"),
    ),
    (
        7,
        "keyed_audit",
        include_str!("../../../migrations/sqlite/0007_keyed_audit.sql"),
    ),
    (
        8,
        "pending_retry",
        include_str!("../../../migrations/sqlite/0008_pending_retry.sql"),
    ),
    (
        9,
        "exception_requests",
        include_str!("../../../migrations/sqlite/0009_exception_requests.sql"),
    ),
    (
        10,
        "console",
        include_str!("../../../migrations/sqlite/0010_console.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "store",
        include_str!("../../../migrations/postgres/0001_store.sql"),
    ),
    (
        2,
        "exceptions",
        include_str!("../../../migrations/postgres/0002_exceptions.sql"),
    ),
    (
        3,
        "pending_payload",
        include_str!("../../../migrations/postgres/0003_pending_payload.sql"),
    ),
    (
        5,
        "discord_cursors",
        include_str!("../../../migrations/postgres/0005_discord_cursors.sql"),
    ),
    (
        7,
        "keyed_audit",
        include_str!("../../../migrations/postgres/0007_keyed_audit.sql"),
    ),
    (
        8,
        "pending_retry",
        include_str!("../../../migrations/postgres/0008_pending_retry.sql"),
    ),
    (
        9,
        "exception_requests",
        include_str!("../../../migrations/postgres/0009_exception_requests.sql"),
    ),
    (
        10,
        "console",
        include_str!("../../../migrations/postgres/0010_console.sql"),
    ),
];

/// The embedded migrations for `backend` (the files under `migrations/`).
pub fn migrator(backend: Backend) -> Migrator {
    let list = match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    };
    Migrator::with_migrations(
        list.iter()
            .map(|(v, desc, sql)| {
                Migration::new(
                    *v,
                    (*desc).into(),
                    MigrationType::Simple,
                    AssertSqlSafe(*sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

impl Store {
    /// Connects to `url` and applies any pending migrations: what the bot does
    /// at start-up.
    pub async fn open(url: &str, opts: StoreOptions) -> Result<Store, StoreError> {
        let store = Store::connect(url, opts).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to `url` without migrating. A SQLite file is created if
    /// missing and switched to WAL mode.
    pub async fn connect(url: &str, opts: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let target = describe_target(url);
        let connect_err = |source| StoreError::Connect {
            target: target.clone(),
            source,
        };
        let max = match backend {
            Backend::Sqlite => {
                prepare_sqlite(url).await.map_err(connect_err)?;
                opts.max_connections.clamp(1, 4)
            }
            Backend::Postgres => opts.max_connections.max(1),
        };
        // One direct connection first: a pool only reports "timed out", while
        // this says why (refused, unknown host, bad password).
        match tokio::time::timeout(opts.connect_timeout, sqlx::AnyConnection::connect(url)).await {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
            Ok(Err(e)) => return Err(connect_err(e)),
            Err(_) => {
                return Err(connect_err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {:?}", opts.connect_timeout),
                ))))
            }
        }
        let is_sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(opts.connect_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if is_sqlite {
                        // Other processes (the CLI, a second bot) may hold the
                        // write lock briefly; wait rather than fail.
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        // Deleted rows (a pending action's message, purged
                        // records) are zeroed in their page rather than left
                        // as free space. FAST: `ON` also rewrites whole
                        // freed pages, which made a 1,000-message burst
                        // ten times slower.
                        conn.execute("PRAGMA secure_delete = FAST").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(connect_err)?;
        let (policy_tx, _) = broadcast::channel(64);
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                url: DbUrl(url.to_string()),
                target,
                opts,
                write_lock: tokio::sync::Mutex::new(()),
                group: group::Group::default(),
                healthy: AtomicBool::new(true),
                retries: AtomicU64::new(0),
                policy_tx,
                policy_poke: Arc::new(tokio::sync::Notify::new()),
                listener: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let migrate_err = |source| StoreError::Migrate {
            target: self.inner.target.clone(),
            source,
        };
        let m = migrator(self.inner.backend);
        let before = self.applied_migrations().await.unwrap_or_default();
        m.run(&self.inner.pool).await.map_err(migrate_err)?;
        Ok(m.iter()
            .map(|mig| mig.version)
            .filter(|v| !before.contains(v))
            .collect())
    }

    /// Versions of the migrations already applied.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = $1")
            .bind(true)
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<i64, _>(0).map_err(StoreError::from))
            .collect()
    }

    /// Which database this store uses.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Where the database is (host and database, or SQLite file): never the password.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// The underlying pool, for tests and tools that need raw SQL.
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// `Ok` if the database answers now (`SELECT 1`).
    pub async fn health(&self) -> Result<(), StoreError> {
        match sqlx::query("SELECT 1").execute(&self.inner.pool).await {
            Ok(_) => {
                self.inner.healthy.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(source) => {
                self.inner.healthy.store(false, Ordering::Relaxed);
                Err(StoreError::Unavailable {
                    target: self.inner.target.clone(),
                    attempts: 1,
                    source,
                })
            }
        }
    }

    /// False while writes are failing to reach the database (cheap: no query).
    pub fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed)
    }

    /// How many times a write has been retried since start-up.
    pub fn retry_count(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// Closes the pool (and the policy listener).
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// Runs `op` until it succeeds, fails for a reason other than an
    /// unreachable database, or the retry budget is spent.
    pub(crate) async fn with_retry<T, F, Fut>(&self, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let start = Instant::now();
        let mut delay = Duration::from_millis(50);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match op().await {
                Ok(v) => {
                    if attempts > 1 {
                        tracing::info!(db.target = %self.inner.target, attempts, "database reachable again");
                    }
                    self.inner.healthy.store(true, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(StoreError::Database(e)) if is_transient(&e) => {
                    if is_connection_loss(&e) {
                        self.inner.healthy.store(false, Ordering::Relaxed);
                    }
                    if start.elapsed() + delay > self.inner.opts.retry_for {
                        return Err(StoreError::Unavailable {
                            target: self.inner.target.clone(),
                            attempts,
                            source: e,
                        });
                    }
                    if attempts == 1 {
                        tracing::warn!(db.target = %self.inner.target, error = %e, "database write failed; retrying with backoff");
                    }
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Begins a write transaction holding the chain lock.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx<'_>, StoreError> {
        let guard = match self.inner.backend {
            Backend::Sqlite => Some(self.inner.write_lock.lock().await),
            Backend::Postgres => None,
        };
        self.begin_locked(guard).await
    }

    /// [`Store::begin_write`] for a caller that already holds this
    /// process's write lock (`guard`, kept until the commit); on SQLite it
    /// must.
    pub(crate) async fn begin_locked<'a>(
        &'a self,
        guard: Option<tokio::sync::MutexGuard<'a, ()>>,
    ) -> Result<WriteTx<'a>, StoreError> {
        let (mut tx, lock_sql) = match self.inner.backend {
            Backend::Sqlite => (
                self.inner.pool.begin_with("BEGIN IMMEDIATE").await?,
                HEAD_SQL.to_owned(),
            ),
            Backend::Postgres => (
                self.inner.pool.begin().await?,
                format!("{HEAD_SQL} FOR UPDATE"),
            ),
        };
        let row = sqlx::query(AssertSqlSafe(lock_sql))
            .fetch_optional(&mut *tx)
            .await?;
        let head = match row {
            Some(r) => {
                // Writing with another key would leave records nobody can verify.
                let check: Option<String> = r.try_get("key_check")?;
                if check.is_some_and(|c| c != self.inner.opts.audit_key.key_check()) {
                    return Err(StoreError::AuditKeyMismatch);
                }
                Head {
                    seq: r.try_get("seq")?,
                    hash: r.try_get("hash")?,
                    keyed_from: r.try_get("keyed_from")?,
                }
            }
            None => return Err(StoreError::Corrupt("audit_head row is missing".into())),
        };
        Ok(WriteTx {
            _guard: guard,
            tx,
            head,
            head_dirty: false,
        })
    }

    /// Writes the new head (if moved) and commits.
    pub(crate) async fn commit(&self, mut w: WriteTx<'_>) -> Result<(), StoreError> {
        if w.head_dirty {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, key_check = $3 WHERE id = 1")
                .bind(w.head.seq)
                .bind(w.head.hash.clone())
                .bind(self.inner.opts.audit_key.key_check())
                .execute(&mut *w.tx)
                .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }
}

/// Creates the SQLite file if missing and switches it to WAL (persistent, so
/// it is done once here rather than per pooled connection).
async fn prepare_sqlite(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use sqlx::ConnectOptions;
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30));
    let conn = opts.connect().await?;
    sqlx::Connection::close(conn).await
}

/// Errors worth retrying: the database is unreachable, or another writer won
/// a race the database asks us to retry.
fn is_transient(e: &sqlx::Error) -> bool {
    if is_connection_loss(e) {
        return true;
    }
    match e {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // PostgreSQL serialization failure / deadlock; SQLite BUSY / LOCKED.
            Some("40001" | "40P01" | "5" | "6" | "517" | "262")
        ),
        _ => false,
    }
}

/// Errors that mean the connection to the database is gone.
fn is_connection_loss(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // Class 08: connection exception; 57P0x: server shutting down / restarting.
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migration file that is not embedded would silently never run.
    #[test]
    fn every_migration_file_is_embedded() {
        for (dir, list) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let path = format!("{}/../migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            let listed: Vec<String> = list
                .iter()
                .map(|(v, desc, _)| format!("{v:04}_{desc}.sql"))
                .collect();
            assert_eq!(
                files, listed,
                "migrations/{dir} and the embedded list differ"
            );
        }
    }

    #[test]
    fn backend_is_picked_by_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(Backend::from_url("sqlite:x.db").ok(), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://u:pw@h/db").is_err());
    }
}
