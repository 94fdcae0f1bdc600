//! What every connector does once at start-up, written once so that the
//! connectors cannot drift apart: read the platform's stored "moderate
//! other bots" setting, and start the retry loop of its pending actions.

use super::{Moderator, Platform, PlatformActions};
use std::sync::Arc;
use tokio::task::JoinHandle;

impl Platform {
    /// The stored setting that says whether other bots' and integrations'
    /// messages are moderated on this platform (the policy's
    /// `moderate_bots` wins when it says).
    pub const fn moderate_bots_setting(self) -> &'static str {
        match self {
            Platform::Slack => "slack.moderate_bots",
            Platform::Discord => "discord.moderate_bots",
        }
    }
}

impl Moderator {
    /// The platform's stored "moderate other bots" setting, read once at
    /// start. A store that does not answer does not stop the connector
    /// (it must come up, and record, while the database is away): the safe
    /// default, other bots left alone, applies, and the policy's
    /// `moderate_bots` still wins per message.
    pub async fn stored_moderate_bots(&self, platform: Platform) -> bool {
        let key = platform.moderate_bots_setting();
        match self.store().setting(key).await {
            Ok(v) => v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            Err(e) => {
                tracing::warn!(platform = platform.as_str(), setting = key, error = %e, "could not read the stored setting; not moderating other bots");
                false
            }
        }
    }

    /// Starts, in the background, the retry loop of `platform`'s pending
    /// actions (put off, or left by an earlier run): see
    /// [`Moderator::run_pending`]. It runs beside the connector and never
    /// delays readiness or the platform connection; leases keep live and
    /// retried actions apart.
    pub fn spawn_retries(
        self: &Arc<Self>,
        platform: Platform,
        actions: Arc<dyn PlatformActions>,
    ) -> JoinHandle<()> {
        tokio::spawn(self.clone().run_pending(platform, actions))
    }
}
