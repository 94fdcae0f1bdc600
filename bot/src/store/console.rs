//! What the web console keeps in the store (migration 0010): sessions,
//! sign-ins in flight through Slack or Discord, failed sign-ins for the
//! rate limit, and the read-only summaries its pages show. Every replica
//! sharing the database accepts the same sessions.
//!
//! A session row is keyed by the SHA-256 of the cookie's token, never the
//! token itself, so someone who can read the database cannot sign in with
//! what they see there.

use super::{now_ms, Exception, Origin, Platform, Store, StoreError};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// One signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// The form token every state-changing request must carry.
    pub csrf: String,
    /// The platform they signed in with, or [`Origin::Console`] (the
    /// break-glass token).
    pub platform: Origin,
    /// The Slack team or Discord server they are an admin of (empty for the
    /// break-glass token).
    pub workspace: String,
    /// Their platform user id (`break-glass` for the token).
    pub user_id: String,
    /// A readable name.
    pub user_name: String,
    /// How they signed in (`slack`, `discord`, `token`).
    pub via: String,
    /// When the session began (epoch ms).
    pub created_ms: i64,
    /// When it ends whatever happens (epoch ms).
    pub expires_ms: i64,
    /// When the platform last confirmed the admin rights (epoch ms).
    pub checked_ms: i64,
}

/// A sign-in between the redirect to the platform and its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    /// The platform signing them in.
    pub provider: Platform,
    /// The nonce (Slack) or PKCE verifier (Discord) bound to the state.
    pub secret: String,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Stores a new session for `token` (kept only as its hash).
    pub async fn console_session_create(
        &self,
        token: &str,
        session: &ConsoleSession,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO console_sessions (token_hash, csrf, platform, workspace, user_id, \
             user_name, via, created_ms, seen_ms, checked_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
        )
        .bind(hash(token))
        .bind(session.csrf.clone())
        .bind(session.platform.as_str())
        .bind(session.workspace.clone())
        .bind(session.user_id.clone())
        .bind(session.user_name.clone())
        .bind(session.via.clone())
        .bind(session.created_ms)
        .bind(now)
        .bind(session.expires_ms)
        .execute(&self.inner.pool)
        .await?;
        // Housekeeping: sessions past their absolute expiry are useless.
        sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1")
            .bind(now)
            .execute(&self.inner.pool)
            .await?;
        Ok(())
    }

    /// The session for `token` if it is neither past its absolute expiry
    /// nor idle for longer than `idle_ms`; touching it resets the idle
    /// clock. An expired session is deleted.
    pub async fn console_session(
        &self,
        token: &str,
        idle_ms: i64,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let now = now_ms();
        let h = hash(token);
        let row = sqlx::query(
            "SELECT csrf, platform, workspace, user_id, user_name, via, created_ms, seen_ms, \
             checked_ms, expires_ms FROM console_sessions WHERE token_hash = $1",
        )
        .bind(h.clone())
        .fetch_optional(&self.inner.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let seen: i64 = row.try_get("seen_ms")?;
        let expires: i64 = row.try_get("expires_ms")?;
        if expires <= now || seen.saturating_add(idle_ms) <= now {
            self.console_session_delete(token).await?;
            return Ok(None);
        }
        // Touch at most every few seconds: a page's requests need not each write.
        if now - seen > 5_000 {
            sqlx::query("UPDATE console_sessions SET seen_ms = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(h)
                .execute(&self.inner.pool)
                .await?;
        }
        let platform: String = row.try_get("platform")?;
        Ok(Some(ConsoleSession {
            csrf: row.try_get("csrf")?,
            platform: Origin::parse(&platform)
                .map_err(|e| StoreError::Corrupt(format!("console session: {e}")))?,
            workspace: row.try_get("workspace")?,
            user_id: row.try_get("user_id")?,
            user_name: row.try_get("user_name")?,
            via: row.try_get("via")?,
            created_ms: row.try_get("created_ms")?,
            expires_ms: expires,
            checked_ms: row.try_get("checked_ms")?,
        }))
    }

    /// Notes that the platform confirmed the admin rights of `token`'s
    /// session just now.
    pub async fn console_session_checked(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE console_sessions SET checked_ms = $1 WHERE token_hash = $2")
            .bind(now_ms())
            .bind(hash(token))
            .execute(&self.inner.pool)
            .await?;
        Ok(())
    }

    /// Ends the session for `token` (logout); true when there was one.
    pub async fn console_session_delete(&self, token: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
                .bind(hash(token))
                .execute(&self.inner.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Remembers a sign-in sent to `provider` under `state` until `ttl_ms`
    /// from now.
    pub async fn console_login_begin(
        &self,
        state: &str,
        attempt: &LoginAttempt,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query("DELETE FROM console_logins WHERE expires_ms <= $1")
            .bind(now)
            .execute(&self.inner.pool)
            .await?;
        sqlx::query(
            "INSERT INTO console_logins (state_hash, provider, secret, expires_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(hash(state))
        .bind(attempt.provider.as_str())
        .bind(attempt.secret.clone())
        .bind(now.saturating_add(ttl_ms))
        .execute(&self.inner.pool)
        .await?;
        Ok(())
    }

    /// Takes the sign-in begun under `state` (once: a second callback with
    /// the same state finds nothing), if it has not expired.
    pub async fn console_login_take(
        &self,
        state: &str,
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let h = hash(state);
        let row = sqlx::query(
            "SELECT provider, secret, expires_ms FROM console_logins WHERE state_hash = $1",
        )
        .bind(h.clone())
        .fetch_optional(&self.inner.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let taken = sqlx::query("DELETE FROM console_logins WHERE state_hash = $1")
            .bind(h)
            .execute(&self.inner.pool)
            .await?
            .rows_affected();
        let expires: i64 = row.try_get("expires_ms")?;
        if taken == 0 || expires <= now_ms() {
            return Ok(None);
        }
        let provider: String = row.try_get("provider")?;
        Ok(Some(LoginAttempt {
            provider: Platform::parse(&provider)
                .map_err(|e| StoreError::Corrupt(format!("console sign-in: {e}")))?,
            secret: row.try_get("secret")?,
        }))
    }

    /// Counts a failed sign-in from `source` and returns how many failures
    /// it has had in the last `window_ms` (this one included).
    pub async fn console_failure(&self, source: &str, window_ms: i64) -> Result<i64, StoreError> {
        let now = now_ms();
        sqlx::query("DELETE FROM console_failures WHERE at_ms <= $1")
            .bind(now - window_ms)
            .execute(&self.inner.pool)
            .await?;
        sqlx::query("INSERT INTO console_failures (source, at_ms) VALUES ($1, $2)")
            .bind(source.to_owned())
            .bind(now)
            .execute(&self.inner.pool)
            .await?;
        self.console_failures(source, window_ms).await
    }

    /// Failed sign-ins from `source` in the last `window_ms`.
    pub async fn console_failures(&self, source: &str, window_ms: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM console_failures WHERE source = $1 AND at_ms > $2",
        )
        .bind(source.to_owned())
        .bind(now_ms() - window_ms)
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Audit records of `kinds` since `since_ms`, counted by `column`
    /// (one of `rule_id`, `provider`, `platform`, `channel`, `outcome`,
    /// `action`), largest first, at most `limit` groups. A column outside
    /// that list counts nothing.
    pub async fn audit_counts(
        &self,
        since_ms: i64,
        kinds: &[&str],
        column: &str,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        const COLUMNS: &[&str] = &[
            "rule_id", "provider", "platform", "channel", "outcome", "action",
        ];
        let Some(col) = COLUMNS.iter().find(|c| **c == column) else {
            return Ok(Vec::new());
        };
        let marks: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT COALESCE({col}, '(none)') AS name, COUNT(*) AS n FROM audit_log \
             WHERE at_ms >= $1 AND kind IN ({}) GROUP BY COALESCE({col}, '(none)') \
             ORDER BY n DESC, name LIMIT ${}",
            marks.join(", "),
            kinds.len() + 2
        );
        // Only a listed column name and placeholders were formatted in.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since_ms);
        for k in kinds {
            q = q.bind((*k).to_owned());
        }
        let rows = q.bind(limit).fetch_all(&self.inner.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("n")?)))
            .collect()
    }

    /// Exceptions granted lately, in force or not (expired and revoked ones
    /// too, newest first), with whether each is still in force.
    pub async fn exceptions_recent(
        &self,
        limit: i64,
    ) -> Result<Vec<(Exception, bool)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, platform, workspace, target_kind, target_id, reason, granted_by, \
             granted_ms, until_ms, revoked_ms FROM exceptions ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.inner.pool)
        .await?;
        let now = now_ms();
        rows.iter()
            .map(|r| {
                let e = super::exceptions::from_row(r)?;
                let revoked: Option<i64> = r.try_get("revoked_ms")?;
                let live = revoked.is_none() && e.until_ms > now;
                Ok((e, live))
            })
            .collect()
    }
}
