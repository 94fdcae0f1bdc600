//! Logging set-up, in one place: human-readable lines by default, JSON with
//! `--log-format json`. The level comes from `LINKGUARD_LOG` (or `RUST_LOG`),
//! default `info` (`warn` for the demo, whose transcript is the output). Fields are dotted (`platform`, `channel.id`, `rule.id`,
//! `duration_ms`); message text and tokens are never logged at info level.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber, writing to standard error. Calling it twice
/// is harmless (the second call does nothing).
pub fn init(format: LogFormat, default_level: &str) {
    let filter = std::env::var("LINKGUARD_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
