//! Configuration in layers: built-in defaults, then a TOML file (`--config`),
//! then `LINKGUARD_…` environment variables, which win.
//!
//! Every key has one dotted name (`slack.bot_token`) used in the file and one
//! environment variable (`LINKGUARD_SLACK_BOT_TOKEN`). Secret keys can also be
//! read from a file, for container secrets: `slack.bot_token_file` in the TOML
//! file or `LINKGUARD_SLACK_BOT_TOKEN_FILE` in the environment. A missing or
//! malformed setting is reported with the key and where its value came from.
//!
//! Secrets are held in [`Secret`], whose `Debug` and `Display` print
//! `[redacted]`, so a configuration can be logged or printed safely.
//!
//! Split along its seams: `keys` (the table of every key: a new key starts
//! there), `layers` (reading the file and the environment as text),
//! `validate` (text to typed settings, with the errors), `describe`
//! (`config check`'s listing) and `secret`. This file holds the settings'
//! types and the checks `run` adds.

mod describe;
mod keys;
mod layers;
mod secret;
mod validate;

pub use secret::Secret;

use keys::{env_name, KEYS};
use layers::Layers;
use std::collections::BTreeMap;
use std::path::Path;

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://linkguard.db";

/// The room key used when none is configured. Fine for trying linkguard out
/// (`demo`, `check`, `scan`); `run` refuses it and `config check` reports it
/// as an error, since anyone who knows it can predict every room name.
pub const DEVELOPMENT_ROOM_KEY: &str = "linkguard-default-room-key";

/// The audit key used when none is configured: the demo and tests may use
/// it, `linkguard run` refuses to start with it.
pub use crate::store::DEVELOPMENT_AUDIT_KEY;

/// `discord.queue_capacity` when unset: minutes of a busy server's
/// messages, tens of MiB at most.
pub const DEFAULT_DISCORD_QUEUE: usize = 10_000;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings shared by every command.
#[derive(Debug, Clone)]
pub struct Config {
    /// `database_url`: `sqlite://…` or `postgres://…`.
    pub database_url: Secret,
    /// `room_key`: the key for deriving alternative room names.
    pub room_key: Secret,
    /// `audit_key`: the key of the audit chain's HMACs, checkpoints and anchors,
    /// and of what linkguard stores for itself (pending actions' payloads).
    pub audit_key: Secret,
    /// `policy`: a policy file to use instead of the stored one.
    pub policy_path: Option<String>,
    /// `audit_message_text`: keep full message text in the audit log.
    pub audit_message_text: bool,
    /// `dedupe_ttl_secs`: how long event idempotency keys are kept.
    pub dedupe_ttl_secs: i64,
    /// `http_addr`: the public listener (Slack Events API, health).
    pub http_addr: String,
    /// `http_header_timeout_secs`: time a connection has to send a complete
    /// request head (slow or idle clients are cut after it).
    pub http_header_timeout_secs: u64,
    /// `http_max_connections`: connections served at once per listener.
    pub http_max_connections: usize,
    /// `metrics_addr`: the Prometheus listener, apart from the public one.
    pub metrics_addr: Option<String>,
    /// `log_format`: `text` or `json`.
    pub log_format: LogFormat,
    /// `shutdown_timeout_secs`: how long in-flight actions may take at shutdown.
    pub shutdown_timeout_secs: u64,
    /// Slack settings; `None` when no Slack bot token is configured.
    pub slack: Option<SlackConfig>,
    /// Discord settings; `None` when no Discord token is configured.
    pub discord: Option<DiscordConfig>,
    /// The admin console (`admin.*`, and the sign-in clients).
    pub console: crate::web::ConsoleConfig,
    /// Where each setting came from, for `config check`.
    pub sources: BTreeMap<String, String>,
}

/// How linkguard receives Slack events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackMode {
    /// Socket Mode: an outbound websocket, needs the app-level token.
    Socket,
    /// Events API: Slack POSTs to `{http_addr}/slack/events`, signed.
    Http,
}

/// Slack settings (`slack.*`, `LINKGUARD_SLACK_*`).
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// `slack.bot_token` (`xoxb-…`).
    pub bot_token: Secret,
    /// `slack.user_token` (`xoxp-…` of a workspace admin): needed to delete
    /// other people's messages (`replace`, `delete`).
    pub user_token: Option<Secret>,
    /// `slack.app_token` (`xapp-…`): Socket Mode.
    pub app_token: Option<Secret>,
    /// `slack.signing_secret`: verifies Events API and slash-command requests.
    pub signing_secret: Option<Secret>,
    /// `slack.mode`: `socket` (default when an app token is set) or `http`.
    pub mode: SlackMode,
    /// `slack.api_url`: Web API base (`https://slack.com/api`; GovSlack:
    /// `https://slack-gov.com/api`). Plain `http://` is allowed.
    pub api_url: String,
    /// `slack.admin_groups`: user-group ids whose members may edit rules.
    pub admin_groups: Vec<String>,
    /// `slack.team_ids`: the workspaces (team ids, `T…`) whose events,
    /// commands and admins count. Empty: the bot token's own team, from
    /// `auth.test` at start. Several for Enterprise Grid.
    pub team_ids: Vec<String>,
    /// `slack.admin_channel`: the channel id (`C…`) where exception requests
    /// are posted for admins to approve or deny. Unset: requests wait in
    /// the admins' Home tab and `/linkguard exempt requests`.
    pub admin_channel: Option<String>,
}

/// Discord settings (`discord.*`, `LINKGUARD_DISCORD_*`).
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// `discord.token`: the bot token.
    pub token: Secret,
    /// `discord.proxy_url`: a REST proxy in front of the Discord API
    /// (`http://…` allowed); serenity's own rate limiter is then disabled and
    /// rate limiting left to the proxy.
    pub proxy_url: Option<String>,
    /// `discord.admin_roles`: role ids whose members may edit rules (Manage
    /// Server always may).
    pub admin_roles: Vec<String>,
    /// `discord.shards` (`"0-1"`) with `discord.shard_total`: the gateway
    /// shards this replica runs, so replicas can split a bot's guilds.
    /// `None`: one process runs every shard (serenity's `start`).
    pub shards: Option<ShardRange>,
    /// `discord.queue_capacity`: message events received but not yet
    /// recorded (the database not answering) that are held in memory; when
    /// full the gateway is paused (see `discord::intake` for what a long
    /// pause costs).
    pub queue_capacity: usize,
    /// `discord.guild_ids`: the servers linkguard moderates and obeys; it
    /// leaves any other. `linkguard run` refuses to start without one.
    pub guild_ids: Vec<u64>,
    /// `discord.catch_up_*`: how much channel history is read back after a
    /// restart or a gateway session that could not be resumed.
    pub catch_up: CatchUpLimits,
    /// `discord.automod`, `discord.automod_alert_channel_id`,
    /// `discord.admin_channel_id`: Discord's native features.
    pub native: DiscordNative,
}

/// Discord's native features (issue #22).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscordNative {
    /// `discord.automod`: keep AutoMod rules for what AutoMod can express of
    /// the policy, so those links are blocked before they are posted.
    pub automod: bool,
    /// `discord.automod_alert_channel_id`: AutoMod also posts an alert here.
    pub automod_alert_channel_id: Option<u64>,
    /// `discord.admin_channel_id`: exception requests go here, with Approve
    /// and Deny buttons; unset, notices offer no request button.
    pub admin_channel_id: Option<u64>,
}

/// Bounds on reading Discord history back after downtime, per channel and
/// per catch-up (`discord.catch_up_max_messages`,
/// `discord.catch_up_max_age_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUpLimits {
    /// At most this many messages per channel; `0` turns catch-up off.
    pub max_messages: u32,
    /// Never read messages older than this (seconds); must stay below
    /// `dedupe_ttl_secs`, so that nothing read back has lost its
    /// idempotency key.
    pub max_age_secs: u64,
}

impl Default for CatchUpLimits {
    fn default() -> CatchUpLimits {
        CatchUpLimits {
            max_messages: 1000,
            max_age_secs: 24 * 3600,
        }
    }
}

/// Shards `first..=last` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    /// First shard id this replica runs.
    pub first: u32,
    /// Last shard id this replica runs (inclusive).
    pub last: u32,
    /// Shards across all replicas.
    pub total: u32,
}

impl ShardRange {
    /// Parses `"0-1"` (or `"3"`) with the total, checking the range fits.
    pub fn parse(range: &str, total: u32) -> Result<ShardRange, String> {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let first: u32 = a
            .trim()
            .parse()
            .map_err(|_| format!("expected a shard range like 0-1, got `{range}`"))?;
        let last: u32 = b
            .trim()
            .parse()
            .map_err(|_| format!("expected a shard range like 0-1, got `{range}`"))?;
        if first > last || last >= total {
            return Err(format!(
                "shards {first}-{last} do not fit in a total of {total}"
            ));
        }
        Ok(ShardRange { first, last, total })
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database_url: Secret::new(DEFAULT_DATABASE_URL),
            room_key: Secret::new(DEVELOPMENT_ROOM_KEY),
            audit_key: Secret::new(DEVELOPMENT_AUDIT_KEY),
            policy_path: None,
            audit_message_text: false,
            dedupe_ttl_secs: 7 * 24 * 3600,
            http_addr: "0.0.0.0:8080".into(),
            http_header_timeout_secs: 10,
            http_max_connections: 1024,
            metrics_addr: None,
            log_format: LogFormat::Text,
            shutdown_timeout_secs: 20,
            slack: None,
            discord: None,
            console: Default::default(),
            sources: BTreeMap::new(),
        }
    }
}

/// A setting that could not be used: which key, from where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} (from {source_name}): {message}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The dotted key, e.g. `slack.mode`.
    pub key: String,
    /// Where the value came from: `the environment (LINKGUARD_X)`, a file, ….
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

/// Why `linkguard run` refuses to start Discord without `discord.guild_ids`,
/// and what to set.
pub const NO_GUILD_IDS: &str = "discord.guild_ids is not set: linkguard only moderates and obeys the Discord servers listed there, and leaves any other. Set LINKGUARD_DISCORD_GUILD_IDS (or guild_ids under [discord] in the configuration file) to your server's id, comma-separated for several (Discord: User Settings > Advanced > Developer Mode, then right-click the server > Copy Server ID)";

impl Config {
    /// Defaults overridden by the process environment (no file).
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::load(None, std::env::vars())
    }

    /// Defaults, then `file` if given, then the `LINKGUARD_…` variables.
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut layers = Layers::default();
        if let Some(f) = file {
            layers.file(f)?;
        }
        layers.env(&vars)?;
        Config::from_layers(layers)
    }

    /// Settings that `linkguard run` refuses to serve with (and `config
    /// check` reports as errors), though other commands accept them.
    pub fn run_errors(&self) -> Vec<ConfigError> {
        let mut e = Vec::new();
        let problem = if self.room_key.expose() == DEVELOPMENT_ROOM_KEY {
            Some("the built-in development key: anyone could predict every room name")
        } else if self.room_key.expose().trim().is_empty() {
            Some("empty: anyone could predict every room name")
        } else {
            None
        };
        if let Some(problem) = problem {
            e.push(ConfigError {
                key: "room_key".into(),
                source_name: self
                    .sources
                    .get("room_key")
                    .cloned()
                    .unwrap_or_else(|| "default".into()),
                message: format!(
                    "{problem}; set LINKGUARD_ROOM_KEY (or room_key_file) to a long random \
                     secret, e.g. `openssl rand -hex 32`"
                ),
            });
        }
        if self.uses_development_audit_key() {
            e.push(ConfigError {
                key: "audit_key".into(),
                source_name: self
                    .sources
                    .get("audit_key")
                    .cloned()
                    .unwrap_or_else(|| "default".into()),
                message:
                    "not set (the built-in development key, or empty): anyone who can write to the \
                          database could forge audit records; set LINKGUARD_AUDIT_KEY (or \
                          audit_key_file) to a long random secret, the same on every replica, \
                          e.g. `openssl rand -hex 32`"
                        .into(),
            });
        }
        e
    }

    /// Warnings about settings that work but should not be used in production.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(d) = &self.discord {
            if d.guild_ids.is_empty() {
                w.push(NO_GUILD_IDS.into());
            }
        }
        w.extend(self.console.warnings.iter().cloned());
        if let Some(s) = &self.slack {
            if s.user_token.is_none() {
                w.push("slack.user_token is unset: replace and delete degrade to a thread reply plus an ephemeral notice".into());
            }
        }
        w
    }

    /// Whether `audit_key` is unset (the built-in development key): anyone
    /// could then forge audit records.
    pub fn uses_development_audit_key(&self) -> bool {
        self.audit_key.expose() == DEVELOPMENT_AUDIT_KEY || self.audit_key.expose().is_empty()
    }

    /// Every key with its environment variable and meaning, for docs and `--help`.
    pub fn keys() -> impl Iterator<Item = (&'static str, String, &'static str)> {
        KEYS.iter().map(|(k, _, doc)| (*k, env_name(k), *doc))
    }
}

#[cfg(test)]
mod tests;
