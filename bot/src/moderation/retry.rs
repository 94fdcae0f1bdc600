//! How put-off actions come back: the per-attempt deadline connectors'
//! own retries stop at, jitter, and the capped exponential back-off.

use std::time::{Duration, Instant};

tokio::task_local! {
    pub(super) static ATTEMPT_DEADLINE: Instant;
}

/// When the action attempt running on this task must stop waiting out rate
/// limits and server errors (its budget), if one is running: connectors'
/// own retries stop there and answer [`super::ActionError::Later`].
pub fn attempt_deadline() -> Option<Instant> {
    ATTEMPT_DEADLINE.try_with(|d| *d).ok()
}

/// A random number from a randomly seeded hasher (for jitter and owner ids;
/// not for secrets).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// `base` plus up to half of it again, at random: spreads retries so that
/// callers rate limited together do not come back together.
pub fn jittered(base: Duration) -> Duration {
    let spread = base.as_millis() as u64 / 2;
    if spread == 0 {
        return base;
    }
    base + Duration::from_millis(random_u64() % (spread + 1))
}

/// How pending actions are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Back-off after the first put-off attempt; doubles each time.
    pub initial: Duration,
    /// The longest back-off (a platform's `Retry-After` can ask for more).
    pub max: Duration,
    /// How long a claimed action stays leased to this process; renewed
    /// while it runs. A crashed process's actions are picked up after it.
    pub lease: Duration,
    /// How long one attempt may spend waiting out rate limits and server
    /// errors inside the connector before it is put off.
    pub attempt_budget: Duration,
    /// How often the retry loop looks for due actions.
    pub poll: Duration,
}

impl Default for RetrySettings {
    fn default() -> RetrySettings {
        RetrySettings {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            attempt_budget: Duration::from_secs(60),
            poll: Duration::from_secs(1),
        }
    }
}

impl RetrySettings {
    /// The back-off after attempt number `attempts` (1 = the first put off):
    /// `initial` doubled each time up to `max`, jittered down by up to half,
    /// and never shorter than the platform's `retry_after`.
    pub fn backoff(&self, attempts: i64, retry_after: Option<Duration>) -> Duration {
        let doublings = (attempts.clamp(1, 21) - 1) as u32;
        let base = self.initial.saturating_mul(1u32 << doublings).min(self.max);
        let half = base / 2;
        let spread = half.as_millis() as u64;
        let wait = half + Duration::from_millis(random_u64() % (spread + 1));
        wait.max(retry_after.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_is_capped_jittered_down_and_honours_retry_after() {
        let r = RetrySettings::default();
        for attempts in 1..40 {
            let full = r
                .initial
                .saturating_mul(1 << (attempts.min(21) - 1) as u32)
                .min(r.max);
            let wait = r.backoff(attempts, None);
            assert!(wait >= full / 2 && wait <= full, "{attempts}: {wait:?}");
        }
        assert_eq!(r.backoff(30, None).max(r.max), r.max, "capped");
        let asked = Duration::from_secs(900);
        assert_eq!(r.backoff(1, Some(asked)), asked, "Retry-After wins");
    }
}
