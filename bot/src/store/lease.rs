//! Short leases between replicas: one row per lease in `settings`
//! (`value` = holder, `updated_ms` = when taken), taken with one
//! conditional upsert so that two replicas never both hold it, and
//! expiring on its own when its holder dies. Used where exactly one replica
//! should write at a time (e.g. Discord AutoMod sync).

use super::{now_ms, Store, StoreError};
use std::time::Duration;

impl Store {
    /// Takes (or renews) lease `name` for `holder` unless another holder
    /// took it less than `ttl` ago. True when `holder` now holds it.
    pub async fn lease_try(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let stale = now.saturating_sub(ttl.as_millis().min(i64::MAX as u128) as i64);
        let taken = sqlx::query(
            "INSERT INTO settings (name, value, updated_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms \
             WHERE settings.value = excluded.value OR settings.updated_ms < $4",
        )
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .bind(now)
        .bind(stale)
        .execute(&self.inner.pool)
        .await?
        .rows_affected();
        Ok(taken > 0)
    }

    /// Gives lease `name` back, if `holder` still holds it.
    pub async fn lease_release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM settings WHERE name = $1 AND value = $2")
            .bind(name.to_owned())
            .bind(holder.to_owned())
            .execute(&self.inner.pool)
            .await?;
        Ok(())
    }
}
