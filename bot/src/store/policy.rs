//! Versioned policy: every import or edit is a new version with its author
//! and time; exactly one version is active.
//!
//! Versions are numbered without gaps. A rollback does not reactivate the old
//! row: it creates a new version whose text is the old one's, so the history
//! stays a straight line that says who went back, when, and to what. Each
//! change appends a `policy_changed` audit record in the same transaction
//! and is announced to every replica: `NOTIFY linkguard_policy, '<version>'`
//! on PostgreSQL, an in-process broadcast on SQLite.
//!
//! Every edit (chat, CLI, console) goes through [`Store::policy_edit`], a
//! compare-and-swap on the active version: an edit made from version 4 is
//! refused with [`StoreError::PolicyChanged`] if version 5 became active
//! meanwhile, so two concurrent edits cannot silently lose one.
//!
//! A configured policy file (`policy`) manages the policy: each start stores
//! the file's text ([`Store::policy_from_file`]) and records the file in the
//! `policy_file` setting; while it is set every other edit is refused with
//! [`StoreError::PolicyManagedByFile`] instead of being undone at the next
//! start. A start without `policy` clears the setting.

use super::{now_ms, AuditEntry, Backend, Kind, Origin, Store, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::time::Duration;
use tokio::sync::broadcast;

/// The PostgreSQL channel policy changes are announced on.
pub const POLICY_CHANNEL: &str = "linkguard_policy";

/// One stored policy version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyVersion {
    /// Gap-free version number, from 1.
    pub version: i64,
    /// The policy's TOML text.
    pub body: String,
    /// Who made the change.
    pub author: String,
    /// When (epoch ms).
    pub at_ms: i64,
    /// Where it came from: a file path, `rollback to v3`, `chat edit`, ….
    pub source: String,
    /// Whether this is the version in force.
    pub active: bool,
}

/// What [`Store::policy_import`] or [`Store::policy_rollback`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyImport {
    /// The version now active.
    pub version: PolicyVersion,
    /// False when the text was already the active one (nothing was stored).
    pub created: bool,
}

/// The single place policy text is validated before it is stored: the same
/// loader as a policy file, so a stored version always loads.
fn validate_policy(source: &str, body: &str) -> Result<(), StoreError> {
    linkguard_rules::policy::Policy::parse(source, body)
        .map(|_| ())
        .map_err(|e| StoreError::InvalidPolicy(e.to_string()))
}

fn version_from_row(row: &AnyRow) -> Result<PolicyVersion, StoreError> {
    Ok(PolicyVersion {
        version: row.try_get("version")?,
        body: row.try_get("body")?,
        author: row.try_get("author")?,
        at_ms: row.try_get("at_ms")?,
        source: row.try_get("source")?,
        active: row.try_get::<i64, _>("active")? != 0,
    })
}

/// The setting naming the policy file that manages the policy.
const POLICY_FILE_SETTING: &str = "policy_file";

/// Who may change the policy in one write.
#[derive(Clone, Copy)]
enum Guard<'a> {
    /// An edit made from this active version (`None`: nothing was stored).
    Edit(Option<i64>),
    /// The configured policy file, at start-up.
    File(&'a str),
}

impl Store {
    /// Validates `body` and stores it as the new active version, unless it is
    /// identical to the active one: a whole-text import over whatever is
    /// active now (`linkguard policy import`). Goes through
    /// [`Store::policy_edit`]; use that to refuse when someone else changed
    /// the policy since you read it.
    pub async fn policy_import(
        &self,
        body: &str,
        author: &str,
        source: &str,
    ) -> Result<PolicyImport, StoreError> {
        let expected = self.policy_active().await?.map(|v| v.version);
        self.policy_edit(expected, body, author, source).await
    }

    /// The one way to change the policy: validates `body` and stores it as
    /// the new active version, provided the active version is still
    /// `expected` (the version the edit was made from; `None` when nothing
    /// was stored and the built-in policy was edited).
    ///
    /// Fails with [`StoreError::PolicyChanged`] when another edit won the
    /// race, and with [`StoreError::PolicyManagedByFile`] while a configured
    /// policy file manages the policy. Storing the active text again changes
    /// nothing (`created` is false).
    pub async fn policy_edit(
        &self,
        expected: Option<i64>,
        body: &str,
        author: &str,
        source: &str,
    ) -> Result<PolicyImport, StoreError> {
        validate_policy(source, body)?;
        self.store_policy(body, author, source, Guard::Edit(expected))
            .await
    }

    /// Stores the configured policy file's text (if it differs from the
    /// active one) and marks the policy as managed by `path`, so that edits
    /// from chat and the CLI are refused rather than undone at the next start.
    pub async fn policy_from_file(
        &self,
        path: &str,
        body: &str,
    ) -> Result<PolicyImport, StoreError> {
        validate_policy(path, body)?;
        self.store_policy(body, "config", path, Guard::File(path))
            .await
    }

    /// Ends management by a policy file (a start without `policy`): edits
    /// are accepted again.
    pub async fn policy_release_file(&self) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM settings WHERE name = $1")
            .bind(POLICY_FILE_SETTING)
            .execute(&self.inner.pool)
            .await?;
        Ok(())
    }

    /// The policy file that manages the policy, if any.
    pub async fn policy_managed_by(&self) -> Result<Option<String>, StoreError> {
        self.setting(POLICY_FILE_SETTING).await
    }

    async fn store_policy(
        &self,
        body: &str,
        author: &str,
        source: &str,
        guard: Guard<'_>,
    ) -> Result<PolicyImport, StoreError> {
        let result = self
            .with_retry(|| async move {
                // The chain lock also serialises policy changes: version numbers
                // stay gap-free, the audit record lands in the same order, and
                // the compare-and-swap below sees every earlier edit.
                let mut w = self.begin_write().await?;
                let active = sqlx::query(
                    "SELECT version, body, author, at_ms, source, active FROM policy_versions \
                     WHERE active = 1",
                )
                .fetch_optional(&mut *w.tx)
                .await?
                .as_ref()
                .map(version_from_row)
                .transpose()?;
                let version = active.as_ref().map(|a| a.version);
                if let Some(refusal) = apply_guard(&mut w.tx, guard, version).await? {
                    w.tx.rollback().await?;
                    return Err(refusal);
                }
                if let Some(a) = active.filter(|a| a.body == body) {
                    self.commit(w).await?;
                    return Ok(PolicyImport {
                        version: a,
                        created: false,
                    });
                }
                let at_ms = now_ms();
                let next = insert_version(&mut w.tx, body, author, at_ms, source).await?;
                self.append_in(
                    &mut w,
                    AuditEntry {
                        at_ms,
                        author: Some(author.to_string()),
                        policy_version: Some(next),
                        detail: Some(source.to_string()),
                        ..AuditEntry::new(Kind::PolicyChanged, Origin::Linkguard)
                    },
                )
                .await?;
                if self.inner.backend == Backend::Postgres {
                    // Delivered by PostgreSQL at commit, to every listener.
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(POLICY_CHANNEL)
                        .bind(next.to_string())
                        .execute(&mut *w.tx)
                        .await?;
                }
                self.commit(w).await?;
                Ok(PolicyImport {
                    version: PolicyVersion {
                        version: next,
                        body: body.to_string(),
                        author: author.to_string(),
                        at_ms,
                        source: source.to_string(),
                        active: true,
                    },
                    created: true,
                })
            })
            .await?;
        if result.created && self.inner.backend == Backend::Sqlite {
            // The poller is the one sender, so a version is never announced twice.
            self.inner.policy_poke.notify_one();
        }
        Ok(result)
    }

    /// The version in force, if any policy was ever stored.
    pub async fn policy_active(&self) -> Result<Option<PolicyVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT version, body, author, at_ms, source, active FROM policy_versions WHERE active = 1",
        )
        .fetch_optional(&self.inner.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// Version `version`, if it exists.
    pub async fn policy_get(&self, version: i64) -> Result<Option<PolicyVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT version, body, author, at_ms, source, active FROM policy_versions WHERE version = $1",
        )
        .bind(version)
        .fetch_optional(&self.inner.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// Every version, oldest first.
    pub async fn policy_history(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, body, author, at_ms, source, active FROM policy_versions ORDER BY version",
        )
        .fetch_all(&self.inner.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// A unified line diff from version `a` to version `b`.
    pub async fn policy_diff(&self, a: i64, b: i64) -> Result<String, StoreError> {
        let va = self
            .policy_get(a)
            .await?
            .ok_or(StoreError::NoSuchPolicyVersion(a))?;
        let vb = self
            .policy_get(b)
            .await?
            .ok_or(StoreError::NoSuchPolicyVersion(b))?;
        Ok(similar::TextDiff::from_lines(&va.body, &vb.body)
            .unified_diff()
            .context_radius(3)
            .header(&format!("v{a}"), &format!("v{b}"))
            .to_string())
    }

    /// Makes version `version`'s text active again, as a new version, over
    /// whatever is active now (see [`Store::policy_rollback_from`]).
    pub async fn policy_rollback(
        &self,
        version: i64,
        author: &str,
    ) -> Result<PolicyImport, StoreError> {
        let expected = self.policy_active().await?.map(|v| v.version);
        self.policy_rollback_from(expected, version, author).await
    }

    /// Makes version `version`'s text active again, provided `expected` is
    /// still the active version (see [`Store::policy_edit`]).
    pub async fn policy_rollback_from(
        &self,
        expected: Option<i64>,
        version: i64,
        author: &str,
    ) -> Result<PolicyImport, StoreError> {
        let old = self
            .policy_get(version)
            .await?
            .ok_or(StoreError::NoSuchPolicyVersion(version))?;
        // Rules may have tightened since; `policy_edit` validates again, so
        // an old text that no longer loads is never activated.
        self.policy_edit(
            expected,
            &old.body,
            author,
            &format!("rollback to v{version}"),
        )
        .await
    }

    /// A receiver of the active policy's version number, sent each time it
    /// changes, whoever changed it: another replica (PostgreSQL `NOTIFY`),
    /// this process (at once), or another process on the same SQLite file
    /// (seen by a poll every [`POLICY_POLL`]). After a lost and regained
    /// PostgreSQL listener connection the active version is sent again, since
    /// announcements made meanwhile were missed; reloading is idempotent.
    pub async fn policy_changes(&self) -> Result<broadcast::Receiver<i64>, StoreError> {
        let mut slot = self.inner.listener.lock().await;
        let rx = self.inner.policy_tx.subscribe();
        if slot.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(rx);
        }
        let tx = self.inner.policy_tx.clone();
        let pool = self.inner.pool.clone();
        // Read before returning, so any change after this call is seen.
        let mut last = self.policy_active().await?.map(|v| v.version);
        let handle = match self.inner.backend {
            Backend::Postgres => {
                let mut listener = sqlx::postgres::PgListener::connect(&self.inner.url.0)
                    .await
                    .map_err(|source| StoreError::Connect {
                        target: self.inner.target.clone(),
                        source,
                    })?;
                listener.listen(POLICY_CHANNEL).await?;
                tokio::spawn(async move {
                    while tx.receiver_count() > 0 {
                        match listener.try_recv().await {
                            Ok(Some(n)) => {
                                if let Ok(v) = n.payload().parse::<i64>() {
                                    let _ = tx.send(v);
                                }
                            }
                            Ok(None) => {
                                // Reconnected: what was announced meanwhile is lost.
                                if let Ok(Some(v)) = active_version(&pool).await {
                                    let _ = tx.send(v);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "policy listener failed; retrying");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    }
                })
            }
            Backend::Sqlite => {
                let poke = self.inner.policy_poke.clone();
                tokio::spawn(async move {
                    while tx.receiver_count() > 0 {
                        tokio::select! {
                            _ = poke.notified() => {}
                            _ = tokio::time::sleep(POLICY_POLL) => {}
                        }
                        // A failed poll is retried at the next tick.
                        if let Ok(now) = active_version(&pool).await {
                            if now.is_some() && now != last {
                                last = now;
                                if let Some(v) = now {
                                    let _ = tx.send(v);
                                }
                            }
                        }
                    }
                })
            }
        };
        *slot = Some(handle);
        Ok(rx)
    }
}

/// How often a SQLite store looks for policy changes made by other processes.
pub const POLICY_POLL: Duration = Duration::from_secs(2);

async fn active_version(pool: &sqlx::AnyPool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT version FROM policy_versions WHERE active = 1")
        .fetch_optional(pool)
        .await?
        .map(|r| r.try_get::<i64, _>("version"))
        .transpose()
}

/// Checks an edit against what is stored (no policy file manages the
/// policy, and the version in force is still `active`), or records the
/// file that manages it from now on. `Some` is why the change is refused.
async fn apply_guard(
    conn: &mut sqlx::AnyConnection,
    guard: Guard<'_>,
    active: Option<i64>,
) -> Result<Option<StoreError>, StoreError> {
    match guard {
        Guard::Edit(expected) => {
            let managed: Option<String> = sqlx::query("SELECT value FROM settings WHERE name = $1")
                .bind(POLICY_FILE_SETTING)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get("value"))
                .transpose()?;
            if let Some(path) = managed {
                return Ok(Some(StoreError::PolicyManagedByFile { path }));
            }
            if active != expected {
                return Ok(Some(StoreError::PolicyChanged {
                    expected,
                    actual: active,
                }));
            }
        }
        Guard::File(path) => {
            sqlx::query(
                "INSERT INTO settings (name, value, updated_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
                 updated_ms = excluded.updated_ms",
            )
            .bind(POLICY_FILE_SETTING)
            .bind(path.to_owned())
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(None)
}

/// Stores `body` as the next version and makes it the one in force;
/// returns its number.
async fn insert_version(
    conn: &mut sqlx::AnyConnection,
    body: &str,
    author: &str,
    at_ms: i64,
    source: &str,
) -> Result<i64, StoreError> {
    let next: i64 = sqlx::query("SELECT MAX(version) AS v FROM policy_versions")
        .fetch_one(&mut *conn)
        .await?
        .try_get::<Option<i64>, _>("v")?
        .unwrap_or(0)
        + 1;
    sqlx::query("UPDATE policy_versions SET active = 0 WHERE active = 1")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO policy_versions (version, body, author, at_ms, source, active) \
         VALUES ($1, $2, $3, $4, $5, 1)",
    )
    .bind(next)
    .bind(body.to_string())
    .bind(author.to_string())
    .bind(at_ms)
    .bind(source.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(next)
}
