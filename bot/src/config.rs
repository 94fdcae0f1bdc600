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

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
    Str,
    Secret,
    Bool,
    Int,
    List,
}

/// Every key: dotted name, type, and what it is for (printed by `config check`).
const KEYS: &[(&str, Ty, &str)] = &[
    (
        "database_url",
        Ty::Secret,
        "sqlite://FILE or postgres://USER:PASSWORD@HOST/DB",
    ),
    (
        "room_key",
        Ty::Secret,
        "secret key for {room} names in alternatives",
    ),
    (
        "audit_key",
        Ty::Secret,
        "secret key of the audit chain (HMAC), anchors and stored pending actions",
    ),
    (
        "policy",
        Ty::Str,
        "policy file imported at start-up (else the stored policy)",
    ),
    (
        "audit_message_text",
        Ty::Bool,
        "keep full message text in the audit log",
    ),
    (
        "dedupe_ttl_secs",
        Ty::Int,
        "how long event idempotency keys are kept",
    ),
    (
        "http_addr",
        Ty::Str,
        "public listener: Slack Events API, /healthz, /readyz",
    ),
    (
        "http_header_timeout_secs",
        Ty::Int,
        "seconds a connection has to send a complete request head",
    ),
    (
        "http_max_connections",
        Ty::Int,
        "connections served at once per listener; more wait",
    ),
    (
        "metrics_addr",
        Ty::Str,
        "Prometheus /metrics listener (off when unset)",
    ),
    ("log_format", Ty::Str, "text or json"),
    (
        "shutdown_timeout_secs",
        Ty::Int,
        "time allowed for in-flight actions at shutdown",
    ),
    (
        "slack.bot_token",
        Ty::Secret,
        "xoxb- bot token (enables Slack)",
    ),
    (
        "slack.user_token",
        Ty::Secret,
        "xoxp- token of a workspace admin (replace/delete)",
    ),
    (
        "slack.app_token",
        Ty::Secret,
        "xapp- app-level token (Socket Mode)",
    ),
    (
        "slack.signing_secret",
        Ty::Secret,
        "verifies Events API and slash-command requests",
    ),
    ("slack.mode", Ty::Str, "socket or http"),
    ("slack.api_url", Ty::Str, "Web API base URL"),
    (
        "slack.admin_groups",
        Ty::List,
        "user-group ids whose members may edit rules",
    ),
    ("discord.token", Ty::Secret, "bot token (enables Discord)"),
    (
        "discord.proxy_url",
        Ty::Str,
        "REST proxy URL in front of the Discord API",
    ),
    (
        "discord.admin_roles",
        Ty::List,
        "role ids whose members may edit rules",
    ),
    (
        "discord.shards",
        Ty::Str,
        "gateway shards this replica runs, e.g. 0-1 or 3 (needs shard_total)",
    ),
    (
        "discord.shard_total",
        Ty::Int,
        "gateway shards across all replicas (unset: one process runs all)",
    ),
    (
        "discord.queue_capacity",
        Ty::Int,
        "events held while the database does not answer; then the gateway pauses",
    ),
    // ---- tenancy (issue #14) ----
    (
        "slack.team_ids",
        Ty::List,
        "workspaces (T…) whose events and admins count (default: the bot token's team)",
    ),
    (
        "discord.guild_ids",
        Ty::List,
        "servers linkguard moderates and obeys; it leaves any other (required to run)",
    ),
    // ---- end tenancy ----
    (
        "discord.catch_up_max_messages",
        Ty::Int,
        "history read back per channel after downtime (0: off)",
    ),
    (
        "discord.catch_up_max_age_secs",
        Ty::Int,
        "oldest history read back after downtime",
    ),
    // ---- console (issue #20) ----
    (
        "admin.token",
        Ty::Secret,
        "break-glass admin token for the web console's sign-in page (off when unset)",
    ),
    (
        "admin.public_url",
        Ty::Str,
        "public https:// URL of this service (console links, OAuth redirects, Secure cookies)",
    ),
    (
        "slack.client_id",
        Ty::Str,
        "Slack app client id (Sign in with Slack for the console)",
    ),
    (
        "slack.client_secret",
        Ty::Secret,
        "Slack app client secret (Sign in with Slack)",
    ),
    (
        "discord.client_id",
        Ty::Str,
        "Discord application id (sign-in with Discord for the console)",
    ),
    (
        "discord.client_secret",
        Ty::Secret,
        "Discord application client secret (sign-in with Discord)",
    ),
    (
        "discord.web_url",
        Ty::Str,
        "Discord web origin of the OAuth2 authorize page",
    ),
    // ---- end console ----
];

/// Why `linkguard run` refuses to start Discord without `discord.guild_ids`,
/// and what to set.
pub const NO_GUILD_IDS: &str = "discord.guild_ids is not set: linkguard only moderates and obeys the Discord servers listed there, and leaves any other. Set LINKGUARD_DISCORD_GUILD_IDS (or guild_ids under [discord] in the configuration file) to your server's id, comma-separated for several (Discord: User Settings > Advanced > Developer Mode, then right-click the server > Copy Server ID)";

/// Parses `discord.guild_ids`: snowflakes (positive whole numbers).
fn guild_ids(raw: &[String]) -> Result<Vec<u64>, String> {
    let mut out = Vec::with_capacity(raw.len());
    for id in raw {
        match id.parse::<u64>() {
            Ok(n) if n > 0 && id.bytes().all(|b| b.is_ascii_digit()) => {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
            _ => {
                return Err(format!(
                    "expected Discord server ids (numbers like 1058897343283331074), got `{id}`"
                ))
            }
        }
    }
    Ok(out)
}

/// Parses `slack.team_ids`: Slack team ids (`T…`, letters and digits).
fn team_ids(raw: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for id in raw {
        let ok = id.len() <= 32
            && id.starts_with('T')
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(format!(
                "expected Slack team ids (like T0123ABCD, from the workspace's about page or auth.test), got `{id}`"
            ));
        }
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

fn env_name(key: &str) -> String {
    format!("LINKGUARD_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Raw layered values: key → (value, where it came from).
#[derive(Default)]
struct Layers {
    values: BTreeMap<String, (String, String)>,
}

impl Layers {
    fn set(&mut self, key: &str, value: String, source: String) {
        self.values.insert(key.to_owned(), (value, source));
    }

    fn read_secret_file(key: &str, path: &str, via: &str) -> Result<(String, String), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            key: key.to_owned(),
            source_name: via.to_owned(),
            message: format!("cannot read secret file {path}: {e}"),
        })?;
        Ok((
            text.trim_end_matches(['\n', '\r']).to_owned(),
            format!("file {path} (via {via})"),
        ))
    }

    fn file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let name = path.display().to_string();
        let err = |key: &str, message: String| ConfigError {
            key: key.to_owned(),
            source_name: name.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(
                "--config",
                format!("cannot read the configuration file: {e}"),
            )
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err("(syntax)", e.message().trim().to_owned()))?;
        let mut flat = Vec::new();
        for (k, v) in table {
            match v {
                toml::Value::Table(t) if k == "slack" || k == "discord" || k == "admin" => {
                    for (k2, v2) in t {
                        flat.push((format!("{k}.{k2}"), v2));
                    }
                }
                v => flat.push((k, v)),
            }
        }
        let written: Vec<String> = flat.iter().map(|(k, _)| k.clone()).collect();
        for (key, v) in flat {
            if written.contains(&format!("{key}_file")) {
                return Err(err(
                    &key,
                    format!("both {key} and {key}_file are set: keep one"),
                ));
            }
            let (base, is_file) = match key.strip_suffix("_file") {
                Some(b) => (b.to_owned(), true),
                None => (key.clone(), false),
            };
            let Some((_, ty, _)) = KEYS.iter().find(|(k, _, _)| *k == base) else {
                return Err(err(&key, "unknown setting".into()));
            };
            if is_file && *ty != Ty::Secret {
                return Err(err(&key, "only secrets can be read from a file".into()));
            }
            let value = match (&v, ty) {
                (toml::Value::String(s), _) => s.clone(),
                (toml::Value::Boolean(b), Ty::Bool) => b.to_string(),
                (toml::Value::Integer(i), Ty::Int) => i.to_string(),
                (toml::Value::Array(a), Ty::List) => {
                    let mut parts = Vec::new();
                    for x in a {
                        match x.as_str() {
                            Some(s) => parts.push(s.to_owned()),
                            None => return Err(err(&key, "expected a list of strings".into())),
                        }
                    }
                    parts.join(",")
                }
                (other, _) => {
                    return Err(err(&key, format!("unexpected {} value", other.type_str())));
                }
            };
            if is_file {
                let (secret, source) =
                    Layers::read_secret_file(&base, &value, &format!("{key} in {name}"))?;
                self.set(&base, secret, source);
            } else {
                self.set(&base, value, name.clone());
            }
        }
        Ok(())
    }

    fn env(&mut self, vars: &[(String, String)]) -> Result<(), ConfigError> {
        let get = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        for (key, ty, _) in KEYS {
            let name = env_name(key);
            let value = get(&name).filter(|v| !v.is_empty());
            let file_var = format!("{name}_FILE");
            let path = get(&file_var).filter(|p| !p.is_empty());
            if *ty != Ty::Secret {
                if path.is_some() {
                    return Err(ConfigError {
                        key: (*key).to_owned(),
                        source_name: format!("the environment ({file_var})"),
                        message: "only secrets can be read from a file".into(),
                    });
                }
            } else if let Some(path) = path {
                // The official database images' convention: a variable and its
                // _FILE twin together are ambiguous, so neither silently wins.
                if value.is_some() {
                    return Err(ConfigError {
                        key: (*key).to_owned(),
                        source_name: "the environment".into(),
                        message: format!("both {name} and {file_var} are set: keep one"),
                    });
                }
                let (secret, source) = Layers::read_secret_file(key, &path, &file_var)?;
                self.set(key, secret, source);
            }
            if let Some(v) = value {
                self.set(key, v, format!("the environment ({name})"));
            }
        }
        Ok(())
    }
}

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

    fn from_layers(layers: Layers) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let values = &layers.values;
        let err = |key: &str, message: String| ConfigError {
            key: key.to_owned(),
            source_name: values.get(key).map_or("default".into(), |(_, s)| s.clone()),
            message,
        };
        let get = |key: &str| values.get(key).map(|(v, _)| v.clone());
        let int = |key: &str| -> Result<Option<i64>, ConfigError> {
            get(key)
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| {
                            let unit = if key.ends_with("_secs") {
                                " of seconds"
                            } else {
                                ""
                            };
                            err(key, format!("expected a whole number{unit}, got `{v}`"))
                        })
                })
                .transpose()
        };
        // A whole number within `range` (what it counts, for the message).
        let ranged = |key: &str,
                      range: std::ops::RangeInclusive<i64>,
                      unit: &str|
         -> Result<Option<i64>, ConfigError> {
            match int(key)? {
                Some(n) if !range.contains(&n) => Err(err(
                    key,
                    format!(
                        "expected {} to {} {unit}, got {n}",
                        range.start(),
                        range.end()
                    ),
                )),
                n => Ok(n),
            }
        };
        let boolean = |key: &str| -> Result<Option<bool>, ConfigError> {
            get(key)
                .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(err(key, format!("expected true or false, got `{v}`"))),
                })
                .transpose()
        };
        let list = |key: &str| -> Vec<String> {
            get(key)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let url = |key: &str| -> Result<Option<String>, ConfigError> {
            get(key)
                .map(|v| {
                    if v.starts_with("http://") || v.starts_with("https://") {
                        Ok(v.trim_end_matches('/').to_owned())
                    } else {
                        Err(err(
                            key,
                            format!("expected an http:// or https:// URL, got `{v}`"),
                        ))
                    }
                })
                .transpose()
        };

        if let Some(v) = get("database_url") {
            if !(v.starts_with("sqlite:")
                || v.starts_with("postgres://")
                || v.starts_with("postgresql://"))
            {
                return Err(err(
                    "database_url",
                    "expected sqlite://FILE or postgres://… ".into(),
                ));
            }
            c.database_url = Secret::new(v);
        }
        if let Some(v) = get("room_key") {
            c.room_key = Secret::new(v);
        }
        if let Some(v) = get("audit_key") {
            c.audit_key = Secret::new(v);
        }
        c.policy_path = get("policy");
        if let Some(b) = boolean("audit_message_text")? {
            c.audit_message_text = b;
        }
        if let Some(n) = int("dedupe_ttl_secs")? {
            c.dedupe_ttl_secs = n;
        }
        if let Some(a) = get("http_addr") {
            c.http_addr = a;
        }
        if let Some(n) = ranged("http_header_timeout_secs", 1..=3600, "seconds")? {
            c.http_header_timeout_secs = n as u64;
        }
        if let Some(n) = ranged("http_max_connections", 1..=1_000_000, "connections")? {
            c.http_max_connections = n as usize;
        }
        c.metrics_addr = get("metrics_addr");
        if let Some(f) = get("log_format") {
            c.log_format = match f.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(err(
                        "log_format",
                        format!("expected text or json, got `{f}`"),
                    ))
                }
            };
        }
        if let Some(n) = int("shutdown_timeout_secs")? {
            c.shutdown_timeout_secs = n as u64;
        }
        let slack_keys = values.keys().any(|k| k.starts_with("slack."));
        match get("slack.bot_token") {
            Some(bot_token) => {
                let app_token = get("slack.app_token").map(Secret::new);
                let signing_secret = get("slack.signing_secret").map(Secret::new);
                let mode = match get("slack.mode").as_deref() {
                    Some("http") => SlackMode::Http,
                    Some("socket") => SlackMode::Socket,
                    Some(other) => {
                        return Err(err(
                            "slack.mode",
                            format!("expected socket or http, got `{other}`"),
                        ))
                    }
                    None if app_token.is_some() => SlackMode::Socket,
                    None => SlackMode::Http,
                };
                if mode == SlackMode::Socket && app_token.is_none() {
                    return Err(err(
                        "slack.app_token",
                        "Socket Mode needs an app-level token (xapp-…)".into(),
                    ));
                }
                if mode == SlackMode::Http && signing_secret.is_none() {
                    return Err(err(
                        "slack.signing_secret",
                        "the Events API mode needs the signing secret to verify requests".into(),
                    ));
                }
                c.slack = Some(SlackConfig {
                    bot_token: Secret::new(bot_token),
                    user_token: get("slack.user_token").map(Secret::new),
                    app_token,
                    signing_secret,
                    mode,
                    api_url: url("slack.api_url")?
                        .unwrap_or_else(|| "https://slack.com/api".into()),
                    admin_groups: list("slack.admin_groups"),
                    team_ids: team_ids(&list("slack.team_ids"))
                        .map_err(|m| err("slack.team_ids", m))?,
                });
            }
            None if slack_keys => {
                let some = values
                    .keys()
                    .find(|k| k.starts_with("slack."))
                    .cloned()
                    .unwrap_or_default();
                return Err(ConfigError {
                    key: "slack.bot_token".into(),
                    source_name: "missing".into(),
                    message: format!(
                        "Slack is partly configured ({some} is set) but has no bot token"
                    ),
                });
            }
            None => {}
        }
        let discord_keys = values.keys().any(|k| k.starts_with("discord."));
        match get("discord.token") {
            Some(token) => {
                let total = int("discord.shard_total")?
                    .map(|n| {
                        u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                            err(
                                "discord.shard_total",
                                format!("expected at least 1 shard, got `{n}`"),
                            )
                        })
                    })
                    .transpose()?;
                let shards = match (get("discord.shards"), total) {
                    (None, None) => None,
                    (Some(r), Some(total)) => {
                        Some(ShardRange::parse(&r, total).map_err(|m| err("discord.shards", m))?)
                    }
                    (Some(_), None) => {
                        return Err(err("discord.shards", "needs discord.shard_total".into()))
                    }
                    (None, Some(total)) => Some(
                        ShardRange::parse(&format!("0-{}", total - 1), total)
                            .map_err(|m| err("discord.shard_total", m))?,
                    ),
                };
                let queue_capacity = ranged("discord.queue_capacity", 1..=1_000_000, "events")?
                    .map_or(DEFAULT_DISCORD_QUEUE, |n| n as usize);
                let mut catch_up = CatchUpLimits::default();
                if let Some(v) = get("discord.catch_up_max_messages") {
                    catch_up.max_messages = v
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n <= 100_000)
                        .ok_or_else(|| {
                            err(
                                "discord.catch_up_max_messages",
                                format!(
                                    "expected a number of messages from 0 to 100000, got `{v}`"
                                ),
                            )
                        })?;
                }
                let ttl = c.dedupe_ttl_secs.max(0) as u64;
                match int("discord.catch_up_max_age_secs")? {
                    Some(n) if n as u64 >= ttl => {
                        return Err(err(
                            "discord.catch_up_max_age_secs",
                            format!(
                                "{n} must be below dedupe_ttl_secs ({ttl}): history older than \
                                 the idempotency keys could be acted on twice"
                            ),
                        ));
                    }
                    Some(n) => catch_up.max_age_secs = n as u64,
                    // Unset: the default, or half the keys' lifetime if that is shorter.
                    None => catch_up.max_age_secs = catch_up.max_age_secs.min(ttl / 2),
                }
                c.discord = Some(DiscordConfig {
                    token: Secret::new(token),
                    proxy_url: url("discord.proxy_url")?,
                    admin_roles: list("discord.admin_roles"),
                    shards,
                    queue_capacity,
                    guild_ids: guild_ids(&list("discord.guild_ids"))
                        .map_err(|m| err("discord.guild_ids", m))?,
                    catch_up,
                });
            }
            None if discord_keys => {
                let some = values
                    .keys()
                    .find(|k| k.starts_with("discord."))
                    .cloned()
                    .unwrap_or_default();
                return Err(ConfigError {
                    key: "discord.token".into(),
                    source_name: "missing".into(),
                    message: format!(
                        "Discord is partly configured ({some} is set) but has no token"
                    ),
                });
            }
            None => {}
        }
        c.console = crate::web::ConsoleConfig::parse(&get, &url, &err, &c)?;
        c.sources = values
            .iter()
            .map(|(k, (_, s))| (k.clone(), s.clone()))
            .collect();
        Ok(c)
    }

    /// The effective configuration as `key = value  # source` lines, secrets
    /// redacted: what `linkguard config check` prints.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let secret = |s: &Secret| {
            if s.expose().is_empty() {
                "(empty)".to_owned()
            } else {
                s.to_string()
            }
        };
        let opt = |s: &Option<Secret>| s.as_ref().map_or("(unset)".to_owned(), secret);
        let mut line = |key: &str, value: String| {
            let src = self.sources.get(key).map_or("default", String::as_str);
            out.push_str(&format!("{key} = {value}  # {src}\n"));
        };
        line(
            "database_url",
            crate::store::redact_url(self.database_url.expose()),
        );
        line("room_key", secret(&self.room_key));
        line("audit_key", secret(&self.audit_key));
        line(
            "policy",
            self.policy_path
                .clone()
                .unwrap_or_else(|| "(stored policy, else built-in)".into()),
        );
        line("audit_message_text", self.audit_message_text.to_string());
        line("dedupe_ttl_secs", self.dedupe_ttl_secs.to_string());
        line("http_addr", self.http_addr.clone());
        line(
            "http_header_timeout_secs",
            self.http_header_timeout_secs.to_string(),
        );
        line(
            "http_max_connections",
            self.http_max_connections.to_string(),
        );
        line(
            "metrics_addr",
            self.metrics_addr.clone().unwrap_or_else(|| "(off)".into()),
        );
        line(
            "log_format",
            format!("{:?}", self.log_format).to_ascii_lowercase(),
        );
        line(
            "shutdown_timeout_secs",
            self.shutdown_timeout_secs.to_string(),
        );
        match &self.slack {
            None => line("slack", "(off)".into()),
            Some(s) => {
                line("slack.bot_token", secret(&s.bot_token));
                line("slack.user_token", opt(&s.user_token));
                line("slack.app_token", opt(&s.app_token));
                line("slack.signing_secret", opt(&s.signing_secret));
                line("slack.mode", format!("{:?}", s.mode).to_ascii_lowercase());
                line("slack.api_url", s.api_url.clone());
                line("slack.admin_groups", s.admin_groups.join(","));
                line(
                    "slack.team_ids",
                    if s.team_ids.is_empty() {
                        "(the bot token's team, from auth.test)".into()
                    } else {
                        s.team_ids.join(",")
                    },
                );
            }
        }
        match &self.discord {
            None => line("discord", "(off)".into()),
            Some(d) => {
                line("discord.token", secret(&d.token));
                line(
                    "discord.proxy_url",
                    d.proxy_url
                        .clone()
                        .unwrap_or_else(|| "(none: https://discord.com)".into()),
                );
                line("discord.admin_roles", d.admin_roles.join(","));
                line("discord.queue_capacity", d.queue_capacity.to_string());
                line(
                    "discord.guild_ids",
                    if d.guild_ids.is_empty() {
                        "(unset: `linkguard run` refuses to start)".into()
                    } else {
                        d.guild_ids
                            .iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    },
                );
                line(
                    "discord.shards",
                    d.shards.map_or("(all, one process)".into(), |r| {
                        format!("{}-{} of {}", r.first, r.last, r.total)
                    }),
                );
                line(
                    "discord.catch_up_max_messages",
                    match d.catch_up.max_messages {
                        0 => "0 (off)".into(),
                        n => n.to_string(),
                    },
                );
                line(
                    "discord.catch_up_max_age_secs",
                    d.catch_up.max_age_secs.to_string(),
                );
            }
        }
        self.console.describe(&mut line);
        out
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
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_wins_over_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("linkguard.toml");
        let token = dir.path().join("token");
        std::fs::write(&token, "xoxb-from-file\n").unwrap();
        std::fs::write(
            &file,
            format!(
                "dedupe_ttl_secs = 60\nhttp_addr = \"127.0.0.1:1\"\n[slack]\nbot_token_file = \"{}\"\nsigning_secret = \"s\"\nmode = \"http\"\n",
                token.display()
            ),
        )
        .unwrap();
        let c = Config::load(Some(&file), vars(&[("LINKGUARD_HTTP_ADDR", "127.0.0.1:2")])).unwrap();
        assert_eq!(c.dedupe_ttl_secs, 60);
        assert_eq!(c.http_addr, "127.0.0.1:2");
        let s = c.slack.as_ref().unwrap();
        assert_eq!(s.bot_token.expose(), "xoxb-from-file");
        assert_eq!(
            c.sources["http_addr"],
            "the environment (LINKGUARD_HTTP_ADDR)"
        );
        assert!(c.sources["slack.bot_token"].starts_with("file "));
        let d = c.describe();
        assert!(
            !d.contains("xoxb-from-file") && d.contains("slack.bot_token = [redacted]"),
            "{d}"
        );
        assert_eq!(format!("{:?}", c).matches("xoxb").count(), 0);
    }

    #[test]
    fn the_example_configuration_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/linkguard.example.toml");
        let c = Config::load(Some(&path), vars(&[])).unwrap();
        assert_eq!(c.http_addr, "0.0.0.0:8080");
        assert!(c.slack.is_none() && c.discord.is_none());
        // Every key is documented in the example, commented out or not.
        let text = std::fs::read_to_string(&path).unwrap();
        for (key, _, _) in Config::keys() {
            let leaf = key.rsplit('.').next().unwrap();
            assert!(
                text.contains(&format!("{leaf} =")) || text.contains(&format!("{leaf}_file =")),
                "{key} is not in the example"
            );
        }
    }

    #[test]
    fn a_variable_and_its_file_twin_together_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("database_url");
        std::fs::write(&url_file, "postgres://lg:pw@db/lg\n").unwrap();
        let e = Config::load(
            None,
            vars(&[
                ("LINKGUARD_DATABASE_URL", "sqlite://x.db"),
                ("LINKGUARD_DATABASE_URL_FILE", url_file.to_str().unwrap()),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.key, "database_url");
        let text = e.to_string();
        assert!(
            text.contains("LINKGUARD_DATABASE_URL and LINKGUARD_DATABASE_URL_FILE"),
            "{text}"
        );
        assert!(!text.contains("pw"), "{text}");
        // An empty variable counts as unset, as before.
        let c = Config::load(
            None,
            vars(&[
                ("LINKGUARD_DATABASE_URL", ""),
                ("LINKGUARD_DATABASE_URL_FILE", url_file.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(c.database_url.expose(), "postgres://lg:pw@db/lg");
        // The same in one TOML file.
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            format!(
                "[slack]\nbot_token = \"x\"\nbot_token_file = \"{}\"\n",
                url_file.display()
            ),
        )
        .unwrap();
        let e = Config::load(Some(&file), vars(&[])).unwrap_err();
        assert_eq!(e.key, "slack.bot_token");
        assert!(e.to_string().contains("slack.bot_token_file"), "{e}");
        // A _FILE twin of a setting that is not a secret is a mistake, not
        // something to ignore.
        let e = Config::load(
            None,
            vars(&[("LINKGUARD_HTTP_ADDR_FILE", url_file.to_str().unwrap())]),
        )
        .unwrap_err();
        assert_eq!(e.key, "http_addr");
        assert!(e.to_string().contains("LINKGUARD_HTTP_ADDR_FILE"), "{e}");
    }

    #[test]
    fn shard_keys_are_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[discord]\ntoken = \"t\"\nshards = \"2-3\"\nshard_total = 4\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), vars(&[])).unwrap();
        let want = ShardRange {
            first: 2,
            last: 3,
            total: 4,
        };
        assert_eq!(c.discord.as_ref().unwrap().shards, Some(want));
        assert!(c.describe().contains("discord.shards = 2-3 of 4"));
        // The environment overrides the file, one shard per replica.
        let c = Config::load(Some(&file), vars(&[("LINKGUARD_DISCORD_SHARDS", "1")])).unwrap();
        let got = c.discord.unwrap().shards.unwrap();
        assert_eq!((got.first, got.last, got.total), (1, 1, 4));
        let bad = [
            (("LINKGUARD_DISCORD_SHARDS", "4"), "discord.shards"),
            (
                ("LINKGUARD_DISCORD_SHARD_TOTAL", "0"),
                "discord.shard_total",
            ),
            (
                ("LINKGUARD_DISCORD_SHARD_TOTAL", "many"),
                "discord.shard_total",
            ),
        ];
        for ((name, value), key) in bad {
            let e = Config::load(Some(&file), vars(&[(name, value)])).unwrap_err();
            assert_eq!(e.key, key, "{name}={value}: {e}");
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn catch_up_never_reaches_past_the_idempotency_keys() {
        let discord = |extra: &[(&str, &str)]| {
            let mut v = vec![("LINKGUARD_DISCORD_TOKEN", "t")];
            v.extend_from_slice(extra);
            Config::load(None, vars(&v))
        };
        let d = discord(&[]).unwrap().discord.unwrap();
        assert_eq!(d.catch_up, CatchUpLimits::default());
        let d = discord(&[("LINKGUARD_DEDUPE_TTL_SECS", "3600")])
            .unwrap()
            .discord
            .unwrap();
        assert_eq!(d.catch_up.max_age_secs, 1800, "half the keys' lifetime");
        let e = discord(&[
            ("LINKGUARD_DEDUPE_TTL_SECS", "3600"),
            ("LINKGUARD_DISCORD_CATCH_UP_MAX_AGE_SECS", "3600"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "discord.catch_up_max_age_secs");
        assert!(e.to_string().contains("below dedupe_ttl_secs"), "{e}");
        let e = discord(&[("LINKGUARD_DISCORD_CATCH_UP_MAX_MESSAGES", "lots")]).unwrap_err();
        assert_eq!(e.key, "discord.catch_up_max_messages");
        let d = discord(&[("LINKGUARD_DISCORD_CATCH_UP_MAX_MESSAGES", "0")])
            .unwrap()
            .discord
            .unwrap();
        assert_eq!(d.catch_up.max_messages, 0);
        assert!(Config::load(
            None,
            vars(&[
                ("LINKGUARD_DISCORD_TOKEN", "t"),
                ("LINKGUARD_DISCORD_CATCH_UP_MAX_MESSAGES", "0")
            ])
        )
        .unwrap()
        .describe()
        .contains("discord.catch_up_max_messages = 0 (off)"));
    }

    #[test]
    fn errors_name_the_key_and_the_source() {
        let e = Config::load(None, vars(&[("LINKGUARD_DEDUPE_TTL_SECS", "soon")])).unwrap_err();
        assert_eq!(e.key, "dedupe_ttl_secs");
        assert_eq!(e.to_string(), "dedupe_ttl_secs (from the environment (LINKGUARD_DEDUPE_TTL_SECS)): expected a whole number of seconds, got `soon`");
        let e = Config::load(
            None,
            vars(&[("LINKGUARD_SLACK_BOT_TOKEN_FILE", "/nonexistent/t")]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("LINKGUARD_SLACK_BOT_TOKEN_FILE")
                && e.to_string().contains("/nonexistent/t"),
            "{e}"
        );
        let e = Config::load(
            None,
            vars(&[
                ("LINKGUARD_SLACK_BOT_TOKEN", "x"),
                ("LINKGUARD_SLACK_MODE", "smoke"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.key, "slack.mode");
        let e = Config::load(None, vars(&[("LINKGUARD_SLACK_APP_TOKEN", "xapp-1")])).unwrap_err();
        assert_eq!(e.key, "slack.bot_token");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[slack]\nbot_tokn = \"x\"\n").unwrap();
        let e = Config::load(Some(&file), vars(&[])).unwrap_err();
        assert_eq!(e.key, "slack.bot_tokn");
        assert!(e.to_string().contains("unknown setting"));
        let e = Config::load(
            None,
            vars(&[("LINKGUARD_DATABASE_URL", "mysql://u:hunter2@h/db")]),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e =
            Config::load(None, vars(&[("LINKGUARD_HTTP_HEADER_TIMEOUT_SECS", "0")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "http_header_timeout_secs (from the environment (LINKGUARD_HTTP_HEADER_TIMEOUT_SECS)): expected 1 to 3600 seconds, got 0"
        );
    }

    #[test]
    fn the_development_room_key_is_refused_for_run_only() {
        let c = Config::load(None, vars(&[])).unwrap();
        let e = c.run_errors();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].key, "room_key");
        assert_eq!(e[1].key, "audit_key");
        assert!(e[0]
            .to_string()
            .starts_with("room_key (from default): the built-in development key"));
        let c = Config::load(
            None,
            vars(&[
                ("LINKGUARD_ROOM_KEY", "a-real-secret"),
                ("LINKGUARD_AUDIT_KEY", "another-real-secret"),
            ]),
        )
        .unwrap();
        assert!(c.run_errors().is_empty());
        // An empty key file is no better.
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("room_key");
        std::fs::write(&empty, "\n").unwrap();
        let c = Config::load(
            None,
            vars(&[("LINKGUARD_ROOM_KEY_FILE", empty.to_str().unwrap())]),
        )
        .unwrap();
        assert!(
            c.run_errors()[0].to_string().contains("empty"),
            "{:?}",
            c.run_errors()
        );
    }

    #[test]
    fn server_and_team_ids_come_from_lists_or_comma_separated_variables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[discord]\ntoken = \"t\"\nguild_ids = [\"1058897343283331074\", \"1058897343283331074\"]\n[slack]\nbot_token = \"x\"\napp_token = \"y\"\nteam_ids = [\"T0FAKETEAM1\"]\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), vars(&[])).unwrap();
        assert_eq!(
            c.discord.as_ref().unwrap().guild_ids,
            vec![1_058_897_343_283_331_074]
        );
        assert_eq!(c.slack.as_ref().unwrap().team_ids, vec!["T0FAKETEAM1"]);
        assert!(c.warnings().iter().all(|w| !w.contains("guild_ids")));
        let c = Config::load(
            Some(&file),
            vars(&[
                ("LINKGUARD_DISCORD_GUILD_IDS", "1, 2"),
                ("LINKGUARD_SLACK_TEAM_IDS", "T1,T2"),
            ]),
        )
        .unwrap();
        assert_eq!(c.discord.as_ref().unwrap().guild_ids, vec![1, 2]);
        assert_eq!(c.slack.as_ref().unwrap().team_ids, vec!["T1", "T2"]);
        let c = Config::load(None, vars(&[("LINKGUARD_DISCORD_TOKEN", "t")])).unwrap();
        assert!(c.discord.as_ref().unwrap().guild_ids.is_empty());
        assert!(c
            .warnings()
            .iter()
            .any(|w| w.contains("LINKGUARD_DISCORD_GUILD_IDS")));
        for bad in ["0", "12a", "1.5"] {
            let e = Config::load(
                None,
                vars(&[
                    ("LINKGUARD_DISCORD_TOKEN", "t"),
                    ("LINKGUARD_DISCORD_GUILD_IDS", bad),
                ]),
            )
            .unwrap_err();
            assert_eq!(e.key, "discord.guild_ids", "{bad}");
        }
        let e = Config::load(
            None,
            vars(&[
                ("LINKGUARD_SLACK_BOT_TOKEN", "x"),
                ("LINKGUARD_SLACK_APP_TOKEN", "y"),
                ("LINKGUARD_SLACK_TEAM_IDS", "t0lower"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.key, "slack.team_ids");
    }
}
