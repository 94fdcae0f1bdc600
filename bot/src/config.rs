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
    /// `LINKGUARD_HTTP_ADDR`: the public listener (Slack Events API, health).
    pub http_addr: String,
    /// Slack settings; `None` when no Slack bot token is configured.
    pub slack: Option<SlackConfig>,
    /// Discord settings; `None` when no Discord token is configured.
    pub discord: Option<DiscordConfig>,
}

/// How linkguard receives Slack events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackMode {
    /// Socket Mode: an outbound websocket, needs the app-level token.
    Socket,
    /// Events API: Slack POSTs to `{http_addr}/slack/events`, signed.
    Http,
}

/// Slack settings (`LINKGUARD_SLACK_…`).
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// `LINKGUARD_SLACK_BOT_TOKEN` (`xoxb-…`).
    pub bot_token: Secret,
    /// `LINKGUARD_SLACK_USER_TOKEN` (`xoxp-…` of a workspace admin): needed to
    /// delete other people's messages (`replace`, `delete`).
    pub user_token: Option<Secret>,
    /// `LINKGUARD_SLACK_APP_TOKEN` (`xapp-…`): Socket Mode.
    pub app_token: Option<Secret>,
    /// `LINKGUARD_SLACK_SIGNING_SECRET`: verifies Events API and slash-command requests.
    pub signing_secret: Option<Secret>,
    /// `LINKGUARD_SLACK_MODE`: `socket` (default when an app token is set) or `http`.
    pub mode: SlackMode,
    /// `LINKGUARD_SLACK_API_URL`: Web API base (`https://slack.com/api`;
    /// GovSlack: `https://slack-gov.com/api`). Plain `http://` is allowed.
    pub api_url: String,
    /// `LINKGUARD_SLACK_ADMIN_GROUPS`: user-group ids whose members may edit rules.
    pub admin_groups: Vec<String>,
}

/// Discord settings (`LINKGUARD_DISCORD_…`).
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// `LINKGUARD_DISCORD_TOKEN`: the bot token.
    pub token: Secret,
    /// `LINKGUARD_DISCORD_PROXY_URL`: a REST proxy in front of the Discord API
    /// (`http://…` allowed); serenity's own rate limiter is then disabled and
    /// rate limiting left to the proxy.
    pub proxy_url: Option<String>,
    /// `LINKGUARD_DISCORD_ADMIN_ROLES`: role ids whose members may edit rules
    /// (Manage Server always may).
    pub admin_roles: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database_url: Secret::new(DEFAULT_DATABASE_URL),
            room_key: Secret::new("linkguard-default-room-key"),
            policy_path: None,
            audit_message_text: false,
            dedupe_ttl_secs: 7 * 24 * 3600,
            http_addr: "0.0.0.0:8080".into(),
            slack: None,
            discord: None,
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
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let get = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default()
        };
        if let Some(bot_token) = get("LINKGUARD_SLACK_BOT_TOKEN") {
            let app_token = get("LINKGUARD_SLACK_APP_TOKEN").map(Secret::new);
            let mode = match get("LINKGUARD_SLACK_MODE").as_deref() {
                Some("http") => SlackMode::Http,
                Some("socket") => SlackMode::Socket,
                _ if app_token.is_some() => SlackMode::Socket,
                _ => SlackMode::Http,
            };
            c.slack = Some(SlackConfig {
                bot_token: Secret::new(bot_token),
                user_token: get("LINKGUARD_SLACK_USER_TOKEN").map(Secret::new),
                app_token,
                signing_secret: get("LINKGUARD_SLACK_SIGNING_SECRET").map(Secret::new),
                mode,
                api_url: get("LINKGUARD_SLACK_API_URL").unwrap_or_else(|| "https://slack.com/api".into()),
                admin_groups: list("LINKGUARD_SLACK_ADMIN_GROUPS"),
            });
        }
        if let Some(token) = get("LINKGUARD_DISCORD_TOKEN") {
            c.discord = Some(DiscordConfig {
                token: Secret::new(token),
                proxy_url: get("LINKGUARD_DISCORD_PROXY_URL"),
                admin_roles: list("LINKGUARD_DISCORD_ADMIN_ROLES"),
            });
        }
        if let Some(addr) = get("LINKGUARD_HTTP_ADDR") {
            c.http_addr = addr;
        }
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
