//! Small tables beside the audit log: the Discord webhook linkguard created
//! in each channel (so it is reused, not recreated), and runtime settings such
//! as the bot's mode.

use super::{now_ms, Store, StoreError};
use sqlx::Row;
use std::fmt;

/// A channel webhook created by linkguard on Discord.
#[derive(Clone, PartialEq, Eq)]
pub struct DiscordWebhook {
    /// The webhook's id.
    pub id: String,
    /// The webhook's token: a secret, never printed by `Debug`.
    pub token: String,
}

impl fmt::Debug for DiscordWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordWebhook")
            .field("id", &self.id)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Store {
    /// The webhook stored for `channel_id`.
    pub async fn discord_webhook(
        &self,
        channel_id: &str,
    ) -> Result<Option<DiscordWebhook>, StoreError> {
        let row = sqlx::query(
            "SELECT webhook_id, webhook_token FROM discord_webhooks WHERE channel_id = $1",
        )
        .bind(channel_id.to_string())
        .fetch_optional(&self.inner.pool)
        .await?;
        row.map(|r| {
            Ok(DiscordWebhook {
                id: r.try_get("webhook_id")?,
                token: r.try_get("webhook_token")?,
            })
        })
        .transpose()
    }

    /// Remembers (or replaces) the webhook for `channel_id`.
    pub async fn put_discord_webhook(
        &self,
        channel_id: &str,
        webhook: &DiscordWebhook,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO discord_webhooks (channel_id, webhook_id, webhook_token, updated_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (channel_id) DO UPDATE SET \
             webhook_id = excluded.webhook_id, webhook_token = excluded.webhook_token, \
             updated_ms = excluded.updated_ms",
        )
        .bind(channel_id.to_string())
        .bind(webhook.id.clone())
        .bind(webhook.token.clone())
        .bind(now_ms())
        .execute(&self.inner.pool)
        .await?;
        Ok(())
    }

    /// Forgets the webhook for `channel_id` (e.g. it was deleted on Discord).
    pub async fn delete_discord_webhook(&self, channel_id: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM discord_webhooks WHERE channel_id = $1")
                .bind(channel_id.to_string())
                .execute(&self.inner.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// The setting `name`, if set.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&self.inner.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Sets `name` to `value`.
    pub async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (name, value, updated_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
        )
        .bind(name.to_string())
        .bind(value.to_string())
        .bind(now_ms())
        .execute(&self.inner.pool)
        .await?;
        Ok(())
    }
}
