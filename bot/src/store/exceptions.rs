//! Time-limited exceptions: an admin lets a user or a channel post banned
//! meeting links for a while. Granting and revoking are audited in the same
//! transaction; expiry needs no job, since only rows with `until_ms` in the
//! future (and not revoked) are ever consulted.

use super::{now_ms, AuditEntry, Kind, Origin, Platform, Store, StoreError, WriteTx};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::fmt;
use std::time::Duration;

/// Who an exception covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExceptionTarget {
    /// A user id.
    User(String),
    /// A channel id.
    Channel(String),
}

impl ExceptionTarget {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ExceptionTarget::User(_) => "user",
            ExceptionTarget::Channel(_) => "channel",
        }
    }

    pub(crate) fn id(&self) -> &str {
        match self {
            ExceptionTarget::User(id) | ExceptionTarget::Channel(id) => id,
        }
    }
}

impl fmt::Display for ExceptionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExceptionTarget::User(id) => write!(f, "user {id}"),
            ExceptionTarget::Channel(id) => write!(f, "channel {id}"),
        }
    }
}

/// One granted exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// Its id, for `exempt revoke`.
    pub id: i64,
    /// The platform it applies on; `None`: every platform (granted from
    /// the CLI or the console, stored as `cli`).
    pub platform: Option<Platform>,
    /// Workspace / guild it was granted in (empty: any).
    pub workspace: String,
    /// Who it covers.
    pub target: ExceptionTarget,
    /// Why, in the admin's words.
    pub reason: String,
    /// Who granted it.
    pub granted_by: String,
    /// When (epoch ms).
    pub granted_ms: i64,
    /// Until when (epoch ms).
    pub until_ms: i64,
}

const COLUMNS: &str =
    "id, platform, workspace, target_kind, target_id, reason, granted_by, granted_ms, until_ms";

/// An exception's platform as stored: the platform, or `cli` for every
/// platform.
fn platform_text(platform: Option<Platform>) -> &'static str {
    Origin::from(platform).as_str()
}

pub(super) fn from_row(row: &AnyRow) -> Result<Exception, StoreError> {
    let kind: String = row.try_get("target_kind")?;
    let id: String = row.try_get("target_id")?;
    let seq: i64 = row.try_get("id")?;
    let platform: String = row.try_get("platform")?;
    let platform = match Origin::parse(&platform) {
        Ok(Origin::Cli) => None,
        Ok(Origin::Platform(p)) => Some(p),
        _ => {
            return Err(StoreError::Corrupt(format!(
                "exception {seq}: platform {platform:?} is not slack, discord or cli"
            )))
        }
    };
    Ok(Exception {
        id: seq,
        platform,
        workspace: row.try_get("workspace")?,
        target: if kind == "channel" {
            ExceptionTarget::Channel(id)
        } else {
            ExceptionTarget::User(id)
        },
        reason: row.try_get("reason")?,
        granted_by: row.try_get("granted_by")?,
        granted_ms: row.try_get("granted_ms")?,
        until_ms: row.try_get("until_ms")?,
    })
}

impl Store {
    /// Grants an exception for `duration`, audited as `exception`.
    pub async fn exception_grant(
        &self,
        platform: Option<Platform>,
        workspace: &str,
        target: &ExceptionTarget,
        duration: Duration,
        reason: &str,
        granted_by: &str,
    ) -> Result<Exception, StoreError> {
        self.with_retry(|| async move {
            let mut w = self.begin_write().await?;
            let e = self
                .exception_grant_in(
                    &mut w, platform, workspace, target, duration, reason, granted_by,
                )
                .await?;
            self.commit(w).await?;
            Ok(e)
        })
        .await
    }

    /// [`Store::exception_grant`] inside `w` (the caller commits): for
    /// writes that grant an exception as part of something larger, such as
    /// approving a request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn exception_grant_in(
        &self,
        w: &mut WriteTx<'_>,
        platform: Option<Platform>,
        workspace: &str,
        target: &ExceptionTarget,
        duration: Duration,
        reason: &str,
        granted_by: &str,
    ) -> Result<Exception, StoreError> {
        let now = now_ms();
        let until = now.saturating_add(duration.as_millis().min(i64::MAX as u128) as i64);
        let row = sqlx::query(
            "INSERT INTO exceptions (platform, workspace, target_kind, target_id, reason, \
             granted_by, granted_ms, until_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id",
        )
        .bind(platform_text(platform))
        .bind(workspace.to_owned())
        .bind(target.kind())
        .bind(target.id().to_owned())
        .bind(reason.to_owned())
        .bind(granted_by.to_owned())
        .bind(now)
        .bind(until)
        .fetch_one(&mut *w.tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        let mut e = AuditEntry::new(Kind::Exception, platform);
        e.at_ms = now;
        e.workspace = Some(workspace.to_owned()).filter(|w| !w.is_empty());
        e.author = Some(granted_by.to_owned());
        if let ExceptionTarget::Channel(c) = target {
            e.channel = Some(c.clone());
        }
        e.detail = Some(format!(
            "granted exception #{id} to {target} for {} s: {reason}",
            duration.as_secs()
        ));
        self.append_in(w, e).await?;
        Ok(Exception {
            id,
            platform,
            workspace: workspace.to_owned(),
            target: target.clone(),
            reason: reason.to_owned(),
            granted_by: granted_by.to_owned(),
            granted_ms: now,
            until_ms: until,
        })
    }

    /// Revokes exception `id` if it is still in force; audited.
    pub async fn exception_revoke(&self, id: i64, revoked_by: &str) -> Result<bool, StoreError> {
        self.exception_revoke_in(id, None, revoked_by).await
    }

    /// Revokes exception `id` if it is still in force and, with `scope`
    /// (platform, workspace), was granted there; audited. A chat admin's
    /// scope is their own platform and workspace; the CLI's is everything
    /// (`None`).
    pub async fn exception_revoke_in(
        &self,
        id: i64,
        scope: Option<(Platform, &str)>,
        revoked_by: &str,
    ) -> Result<bool, StoreError> {
        let (platform, workspace) = scope.map_or((None, ""), |(p, w)| (Some(p), w));
        let scoped = scope.is_some();
        self.with_retry(|| async move {
            let mut w = self.begin_write().await?;
            let now = now_ms();
            let changed = sqlx::query(
                "UPDATE exceptions SET revoked_ms = $1, revoked_by = $2 \
                 WHERE id = $3 AND revoked_ms IS NULL AND until_ms > $1 \
                 AND ($4 = 0 OR (platform = $5 AND workspace = $6 AND workspace <> ''))",
            )
            .bind(now)
            .bind(revoked_by.to_owned())
            .bind(id)
            .bind(i64::from(scoped))
            .bind(platform_text(platform))
            .bind(workspace.to_owned())
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
            if changed == 0 {
                w.tx.rollback().await?;
                return Ok(false);
            }
            let mut e = AuditEntry::new(
                Kind::Exception,
                platform.map_or(Origin::Linkguard, Origin::Platform),
            );
            e.at_ms = now;
            e.workspace = Some(workspace.to_owned()).filter(|w| !w.is_empty());
            e.author = Some(revoked_by.to_owned());
            e.detail = Some(format!("revoked exception #{id}"));
            self.append_in(&mut w, e).await?;
            self.commit(w).await?;
            Ok(true)
        })
        .await
    }

    /// Exceptions in force now on `platform` (those granted for it, and
    /// those for every platform).
    pub async fn exceptions_active(
        &self,
        platform: Platform,
    ) -> Result<Vec<Exception>, StoreError> {
        self.exceptions_in_force(Some(platform)).await
    }

    /// Exceptions in force now on `platform`, or all of them (`None`).
    async fn exceptions_in_force(
        &self,
        platform: Option<Platform>,
    ) -> Result<Vec<Exception>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM exceptions WHERE revoked_ms IS NULL AND until_ms > $1 \
             AND ($2 = 0 OR platform = $3 OR platform = $4) ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms())
            .bind(i64::from(platform.is_some()))
            .bind(platform_text(platform))
            .bind(platform_text(None))
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Exceptions in force that a caller may see: with `scope` (platform,
    /// workspace), those granted in that workspace of that platform plus
    /// those granted from the CLI (which apply everywhere); without, all.
    pub async fn exceptions_visible(
        &self,
        scope: Option<(Platform, &str)>,
    ) -> Result<Vec<Exception>, StoreError> {
        let Some((platform, workspace)) = scope else {
            return self.exceptions_in_force(None).await;
        };
        let all = self.exceptions_active(platform).await?;
        Ok(all
            .into_iter()
            .filter(|e| match e.platform {
                None => true,
                Some(p) => p == platform && !workspace.is_empty() && e.workspace == workspace,
            })
            .collect())
    }

    /// The exception in force now that covers this author or channel, if any.
    pub async fn exception_covering(
        &self,
        platform: Platform,
        workspace: &str,
        user: &str,
        channels: &[&str],
    ) -> Result<Option<Exception>, StoreError> {
        let all = self.exceptions_active(platform).await?;
        Ok(all.into_iter().find(|e| {
            (e.workspace.is_empty() || workspace.is_empty() || e.workspace == workspace)
                && match &e.target {
                    ExceptionTarget::User(u) => u == user,
                    ExceptionTarget::Channel(c) => channels.contains(&c.as_str()),
                }
        }))
    }
}
