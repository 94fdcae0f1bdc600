//! Configuration: built-in defaults, then `LINKGUARD_…` environment variables.
//!
//! Secrets are held in [`Secret`], whose `Debug` and `Display` print
//! `[redacted]`, so a configuration can be logged or printed safely.

use std::fmt;

/// A value that must never be printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://linkguard.db";

/// Settings shared by every command.
#[derive(Debug, Clone)]
pub struct Config {
    /// `LINKGUARD_DATABASE_URL`: `sqlite://…` or `postgres://…`.
    pub database_url: Secret,
    /// `LINKGUARD_ROOM_KEY`: the key for deriving alternative room names.
    pub room_key: Secret,
    /// `LINKGUARD_POLICY`: a policy file to use instead of the stored one.
    pub policy_path: Option<String>,
    /// `LINKGUARD_AUDIT_MESSAGE_TEXT`: keep full message text in the audit log.
    pub audit_message_text: bool,
    /// `LINKGUARD_DEDUPE_TTL_SECS`: how long event idempotency keys are kept.
    pub dedupe_ttl_secs: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database_url: Secret::new(DEFAULT_DATABASE_URL),
            room_key: Secret::new("linkguard-default-room-key"),
            policy_path: None,
            audit_message_text: false,
            dedupe_ttl_secs: 7 * 24 * 3600,
        }
    }
}

impl Config {
    /// Defaults overridden by the process environment.
    pub fn from_env() -> Config {
        Config::from_vars(std::env::vars())
    }

    /// Defaults overridden by the given `LINKGUARD_…` variables.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Config {
        let mut c = Config::default();
        for (k, v) in vars {
            match k.as_str() {
                "LINKGUARD_DATABASE_URL" => c.database_url = Secret::new(v),
                "LINKGUARD_ROOM_KEY" => c.room_key = Secret::new(v),
                "LINKGUARD_POLICY" => c.policy_path = Some(v),
                "LINKGUARD_AUDIT_MESSAGE_TEXT" => {
                    c.audit_message_text = matches!(v.as_str(), "1" | "true" | "yes")
                }
                "LINKGUARD_DEDUPE_TTL_SECS" => {
                    if let Ok(n) = v.parse() {
                        c.dedupe_ttl_secs = n;
                    }
                }
                _ => {}
            }
        }
        c
    }
}
