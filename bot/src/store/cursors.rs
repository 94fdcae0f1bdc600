//! Discord channel cursors: for each channel (or thread), the snowflake of
//! the newest message up to which everything has been handled. After a
//! restart, or a gateway session Discord would not resume, the Discord
//! connector reads each channel's history after its cursor through the same
//! pipeline (see `discord::catchup`).
//!
//! Cursors only move forward: an older value written late (by a slow task or
//! another replica) never moves one back. A cursor that lags is harmless, since
//! what is read again finds its idempotency key; one that runs ahead would skip
//! messages, so the connector only writes what it knows is handled.

use super::{now_ms, Backend, Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;

/// One channel's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCursor {
    /// The channel or thread id.
    pub channel: u64,
    /// The guild it belongs to.
    pub guild: u64,
    /// Every message up to this snowflake (inclusive) has been handled.
    pub last_message: u64,
}

/// Snowflakes are stored as signed 64-bit integers (both backends' `BIGINT`);
/// they stay below 2^63 until the 2080s.
fn to_db(id: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(id)
        .map_err(|_| StoreError::Corrupt(format!("{what} {id} does not fit a database integer")))
}

impl Store {
    /// The stored cursors of `guild`'s channels: channel id → last handled
    /// message id.
    pub async fn discord_cursors(&self, guild: u64) -> Result<HashMap<u64, u64>, StoreError> {
        let rows = sqlx::query(
            "SELECT channel_id, last_message_id FROM discord_channel_cursors WHERE guild_id = $1",
        )
        .bind(guild.to_string())
        .fetch_all(self.pool())
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            let channel: String = r.try_get("channel_id")?;
            let last: i64 = r.try_get("last_message_id")?;
            let channel = channel.parse::<u64>().map_err(|_| {
                StoreError::Corrupt(format!("discord cursor for channel `{channel}`"))
            })?;
            let last = u64::try_from(last).map_err(|_| {
                StoreError::Corrupt(format!("discord cursor {last} of channel {channel}"))
            })?;
            out.insert(channel, last);
        }
        Ok(out)
    }

    /// Moves each cursor forward to its `last_message` (never back), in one
    /// transaction, retried while the database is unreachable.
    pub async fn advance_discord_cursors(
        &self,
        cursors: &[ChannelCursor],
    ) -> Result<(), StoreError> {
        if cursors.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(cursors.len());
        for c in cursors {
            rows.push((
                c.channel.to_string(),
                c.guild.to_string(),
                to_db(c.last_message, "message id")?,
            ));
        }
        self.with_retry(|| async {
            // SQLite has one writer: queue behind this process's other
            // writers rather than meet them as SQLITE_BUSY.
            let (_guard, mut tx) = match self.backend() {
                Backend::Sqlite => (
                    Some(self.inner.write_lock.lock().await),
                    self.pool().begin_with("BEGIN IMMEDIATE").await?,
                ),
                Backend::Postgres => (None, self.pool().begin().await?),
            };
            let now = now_ms();
            for (channel, guild, last) in &rows {
                sqlx::query(
                    "INSERT INTO discord_channel_cursors \
                     (channel_id, guild_id, last_message_id, updated_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (channel_id) DO UPDATE SET \
                     last_message_id = excluded.last_message_id, guild_id = excluded.guild_id, \
                     updated_ms = excluded.updated_ms \
                     WHERE excluded.last_message_id > discord_channel_cursors.last_message_id",
                )
                .bind(channel.clone())
                .bind(guild.clone())
                .bind(*last)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
