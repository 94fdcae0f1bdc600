//! From layered text to a checked [`Config`]: every value is parsed here,
//! and a bad one is refused with its key, where it came from and what was
//! expected. One function per part of the configuration (the general keys,
//! Slack, Discord), all reading through [`Values`].

use super::layers::Layers;
use super::{
    CatchUpLimits, Config, ConfigError, DiscordConfig, DiscordNative, LogFormat, Secret,
    ShardRange, SlackConfig, SlackMode, DEFAULT_DISCORD_QUEUE,
};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// Typed reads of the layered values; every error names the key and the
/// layer its value came from.
struct Values<'a> {
    values: &'a BTreeMap<String, (String, String)>,
}

impl Values<'_> {
    fn err(&self, key: &str, message: String) -> ConfigError {
        ConfigError {
            key: key.to_owned(),
            source_name: self
                .values
                .get(key)
                .map_or("default".into(), |(_, s)| s.clone()),
            message,
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        self.values.get(key).map(|(v, _)| v.clone())
    }

    /// A whole number, not negative.
    fn int(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        self.get(key)
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
                        self.err(key, format!("expected a whole number{unit}, got `{v}`"))
                    })
            })
            .transpose()
    }

    /// A whole number within `range` (`unit`: what it counts, for the message).
    fn ranged(
        &self,
        key: &str,
        range: RangeInclusive<i64>,
        unit: &str,
    ) -> Result<Option<i64>, ConfigError> {
        match self.int(key)? {
            Some(n) if !range.contains(&n) => Err(self.err(
                key,
                format!(
                    "expected {} to {} {unit}, got {n}",
                    range.start(),
                    range.end()
                ),
            )),
            n => Ok(n),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.get(key)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(self.err(key, format!("expected true or false, got `{v}`"))),
            })
            .transpose()
    }

    /// Comma-separated (a TOML list arrives joined), blanks dropped.
    fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A Discord channel id (a positive number).
    fn channel_id(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        self.err(
                            key,
                            format!("expected a Discord channel id (a number), got `{v}`"),
                        )
                    })
            })
            .transpose()
    }

    /// An `http://` or `https://` URL, without a trailing `/`.
    fn url(&self, key: &str) -> Result<Option<String>, ConfigError> {
        self.get(key)
            .map(|v| {
                if v.starts_with("http://") || v.starts_with("https://") {
                    Ok(v.trim_end_matches('/').to_owned())
                } else {
                    Err(self.err(
                        key,
                        format!("expected an http:// or https:// URL, got `{v}`"),
                    ))
                }
            })
            .transpose()
    }

    /// A platform's keys without its token: refused rather than silently
    /// leaving the platform off.
    fn partly_configured(&self, platform: &str, token_key: &str, token: &str) -> ConfigError {
        let prefix = format!("{}.", token_key.split('.').next().unwrap_or_default());
        let some = self
            .values
            .keys()
            .find(|k| k.starts_with(&prefix))
            .cloned()
            .unwrap_or_default();
        ConfigError {
            key: token_key.into(),
            source_name: "missing".into(),
            message: format!("{platform} is partly configured ({some} is set) but has no {token}"),
        }
    }

    fn any_under(&self, prefix: &str) -> bool {
        self.values.keys().any(|k| k.starts_with(prefix))
    }
}

impl Config {
    /// Defaults overridden by every layered value, checked.
    pub(super) fn from_layers(layers: Layers) -> Result<Config, ConfigError> {
        let v = Values {
            values: &layers.values,
        };
        let mut c = Config::default();
        general(&mut c, &v)?;
        c.slack = slack(&v)?;
        c.discord = discord(&v, c.dedupe_ttl_secs)?;
        c.console = crate::web::ConsoleConfig::parse(
            &|k| v.get(k),
            &|k| v.url(k),
            &|k, m| v.err(k, m),
            &c,
        )?;
        c.sources = layers
            .values
            .iter()
            .map(|(k, (_, s))| (k.clone(), s.clone()))
            .collect();
        Ok(c)
    }
}

/// The keys outside `[slack]` and `[discord]`.
fn general(c: &mut Config, v: &Values<'_>) -> Result<(), ConfigError> {
    if let Some(url) = v.get("database_url") {
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(v.err(
                "database_url",
                "expected sqlite://FILE or postgres://… ".into(),
            ));
        }
        c.database_url = Secret::new(url);
    }
    if let Some(k) = v.get("room_key") {
        c.room_key = Secret::new(k);
    }
    if let Some(k) = v.get("audit_key") {
        c.audit_key = Secret::new(k);
    }
    c.policy_path = v.get("policy");
    if let Some(b) = v.boolean("audit_message_text")? {
        c.audit_message_text = b;
    }
    if let Some(n) = v.int("dedupe_ttl_secs")? {
        c.dedupe_ttl_secs = n;
    }
    if let Some(a) = v.get("http_addr") {
        c.http_addr = a;
    }
    if let Some(n) = v.ranged("http_header_timeout_secs", 1..=3600, "seconds")? {
        c.http_header_timeout_secs = n as u64;
    }
    if let Some(n) = v.ranged("http_max_connections", 1..=1_000_000, "connections")? {
        c.http_max_connections = n as usize;
    }
    c.metrics_addr = v.get("metrics_addr");
    if let Some(f) = v.get("log_format") {
        c.log_format = match f.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(v.err("log_format", format!("expected text or json, got `{f}`"))),
        };
    }
    if let Some(n) = v.int("shutdown_timeout_secs")? {
        c.shutdown_timeout_secs = n as u64;
    }
    Ok(())
}

/// `[slack]`: on when `slack.bot_token` is set.
fn slack(v: &Values<'_>) -> Result<Option<SlackConfig>, ConfigError> {
    let Some(bot_token) = v.get("slack.bot_token") else {
        if v.any_under("slack.") {
            return Err(v.partly_configured("Slack", "slack.bot_token", "bot token"));
        }
        return Ok(None);
    };
    let app_token = v.get("slack.app_token").map(Secret::new);
    let signing_secret = v.get("slack.signing_secret").map(Secret::new);
    let mode = match v.get("slack.mode").as_deref() {
        Some("http") => SlackMode::Http,
        Some("socket") => SlackMode::Socket,
        Some(other) => {
            return Err(v.err(
                "slack.mode",
                format!("expected socket or http, got `{other}`"),
            ))
        }
        None if app_token.is_some() => SlackMode::Socket,
        None => SlackMode::Http,
    };
    if mode == SlackMode::Socket && app_token.is_none() {
        return Err(v.err(
            "slack.app_token",
            "Socket Mode needs an app-level token (xapp-…)".into(),
        ));
    }
    if mode == SlackMode::Http && signing_secret.is_none() {
        return Err(v.err(
            "slack.signing_secret",
            "the Events API mode needs the signing secret to verify requests".into(),
        ));
    }
    Ok(Some(SlackConfig {
        bot_token: Secret::new(bot_token),
        user_token: v.get("slack.user_token").map(Secret::new),
        app_token,
        signing_secret,
        mode,
        api_url: v
            .url("slack.api_url")?
            .unwrap_or_else(|| "https://slack.com/api".into()),
        admin_groups: v.list("slack.admin_groups"),
        team_ids: team_ids(&v.list("slack.team_ids")).map_err(|m| v.err("slack.team_ids", m))?,
        admin_channel: admin_channel(v.get("slack.admin_channel"))
            .map_err(|m| v.err("slack.admin_channel", m))?,
    }))
}

/// `[discord]`: on when `discord.token` is set. `dedupe_ttl_secs` bounds
/// how far back catch-up may read.
fn discord(v: &Values<'_>, dedupe_ttl_secs: i64) -> Result<Option<DiscordConfig>, ConfigError> {
    let Some(token) = v.get("discord.token") else {
        if v.any_under("discord.") {
            return Err(v.partly_configured("Discord", "discord.token", "token"));
        }
        return Ok(None);
    };
    let shards = shards(v)?;
    let queue_capacity = v
        .ranged("discord.queue_capacity", 1..=1_000_000, "events")?
        .map_or(DEFAULT_DISCORD_QUEUE, |n| n as usize);
    let catch_up = catch_up(v, dedupe_ttl_secs)?;
    Ok(Some(DiscordConfig {
        token: Secret::new(token),
        proxy_url: v.url("discord.proxy_url")?,
        admin_roles: v.list("discord.admin_roles"),
        shards,
        queue_capacity,
        guild_ids: guild_ids(&v.list("discord.guild_ids"))
            .map_err(|m| v.err("discord.guild_ids", m))?,
        catch_up,
        native: DiscordNative {
            automod: v.boolean("discord.automod")?.unwrap_or(false),
            automod_alert_channel_id: v.channel_id("discord.automod_alert_channel_id")?,
            admin_channel_id: v.channel_id("discord.admin_channel_id")?,
        },
    }))
}

/// `discord.shards` with `discord.shard_total`; the total alone means all
/// of its shards.
fn shards(v: &Values<'_>) -> Result<Option<ShardRange>, ConfigError> {
    let total = v
        .int("discord.shard_total")?
        .map(|n| {
            u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                v.err(
                    "discord.shard_total",
                    format!("expected at least 1 shard, got `{n}`"),
                )
            })
        })
        .transpose()?;
    match (v.get("discord.shards"), total) {
        (None, None) => Ok(None),
        (Some(r), Some(total)) => ShardRange::parse(&r, total)
            .map(Some)
            .map_err(|m| v.err("discord.shards", m)),
        (Some(_), None) => Err(v.err("discord.shards", "needs discord.shard_total".into())),
        (None, Some(total)) => ShardRange::parse(&format!("0-{}", total - 1), total)
            .map(Some)
            .map_err(|m| v.err("discord.shard_total", m)),
    }
}

/// `discord.catch_up_*`: never further back than the idempotency keys
/// reach, so nothing read back can be acted on twice.
fn catch_up(v: &Values<'_>, dedupe_ttl_secs: i64) -> Result<CatchUpLimits, ConfigError> {
    let mut catch_up = CatchUpLimits::default();
    if let Some(m) = v.get("discord.catch_up_max_messages") {
        catch_up.max_messages = m
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| {
                v.err(
                    "discord.catch_up_max_messages",
                    format!("expected a number of messages from 0 to 100000, got `{m}`"),
                )
            })?;
    }
    let ttl = dedupe_ttl_secs.max(0) as u64;
    match v.int("discord.catch_up_max_age_secs")? {
        Some(n) if n as u64 >= ttl => {
            return Err(v.err(
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
    Ok(catch_up)
}

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

/// Parses `slack.admin_channel`: a Slack channel id (`C…` or `G…`, capital
/// letters and digits), not a `#name`, which Slack may rename.
fn admin_channel(v: Option<String>) -> Result<Option<String>, String> {
    let Some(v) = v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let ok = v.len() <= 32
        && (v.starts_with('C') || v.starts_with('G'))
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(Some(v))
    } else {
        Err(format!(
            "expected a channel id such as C0123ABCD (in Slack: channel details, at the bottom), got `{v}`"
        ))
    }
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
