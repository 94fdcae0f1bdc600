//! `linkguard config check`'s listing of the effective configuration: one
//! `key = value  # source` line per setting, secrets redacted.

use super::{Config, DiscordConfig, Secret, SlackConfig};
use std::collections::BTreeMap;

/// The listing being written, with where each setting came from.
struct Listing<'a> {
    out: String,
    sources: &'a BTreeMap<String, String>,
}

impl Listing<'_> {
    fn line(&mut self, key: &str, value: String) {
        let src = self.sources.get(key).map_or("default", String::as_str);
        self.out.push_str(&format!("{key} = {value}  # {src}\n"));
    }
}

/// `[redacted]`, or `(empty)` so that an empty secret shows.
fn secret(s: &Secret) -> String {
    if s.expose().is_empty() {
        "(empty)".to_owned()
    } else {
        s.to_string()
    }
}

fn optional_secret(s: &Option<Secret>) -> String {
    s.as_ref().map_or("(unset)".to_owned(), secret)
}

impl Config {
    /// The effective configuration as `key = value  # source` lines, secrets
    /// redacted: what `linkguard config check` prints.
    pub fn describe(&self) -> String {
        let mut l = Listing {
            out: String::new(),
            sources: &self.sources,
        };
        self.describe_general(&mut l);
        match &self.slack {
            None => l.line("slack", "(off)".into()),
            Some(s) => describe_slack(s, &mut l),
        }
        match &self.discord {
            None => l.line("discord", "(off)".into()),
            Some(d) => describe_discord(d, &mut l),
        }
        self.console.describe(&mut |k, v| l.line(k, v));
        l.out
    }

    fn describe_general(&self, l: &mut Listing<'_>) {
        l.line(
            "database_url",
            crate::store::redact_url(self.database_url.expose()),
        );
        l.line("room_key", secret(&self.room_key));
        l.line("audit_key", secret(&self.audit_key));
        l.line(
            "policy",
            self.policy_path
                .clone()
                .unwrap_or_else(|| "(stored policy, else built-in)".into()),
        );
        l.line("audit_message_text", self.audit_message_text.to_string());
        l.line("dedupe_ttl_secs", self.dedupe_ttl_secs.to_string());
        l.line("http_addr", self.http_addr.clone());
        l.line(
            "http_header_timeout_secs",
            self.http_header_timeout_secs.to_string(),
        );
        l.line(
            "http_max_connections",
            self.http_max_connections.to_string(),
        );
        l.line(
            "metrics_addr",
            self.metrics_addr.clone().unwrap_or_else(|| "(off)".into()),
        );
        l.line(
            "log_format",
            format!("{:?}", self.log_format).to_ascii_lowercase(),
        );
        l.line(
            "shutdown_timeout_secs",
            self.shutdown_timeout_secs.to_string(),
        );
    }
}

fn describe_slack(s: &SlackConfig, l: &mut Listing<'_>) {
    l.line("slack.bot_token", secret(&s.bot_token));
    l.line("slack.user_token", optional_secret(&s.user_token));
    l.line("slack.app_token", optional_secret(&s.app_token));
    l.line("slack.signing_secret", optional_secret(&s.signing_secret));
    l.line("slack.mode", format!("{:?}", s.mode).to_ascii_lowercase());
    l.line("slack.api_url", s.api_url.clone());
    l.line("slack.admin_groups", s.admin_groups.join(","));
    l.line(
        "slack.admin_channel",
        s.admin_channel.clone().unwrap_or_else(|| "(none)".into()),
    );
    l.line(
        "slack.team_ids",
        if s.team_ids.is_empty() {
            "(the bot token's team, from auth.test)".into()
        } else {
            s.team_ids.join(",")
        },
    );
}

fn describe_discord(d: &DiscordConfig, l: &mut Listing<'_>) {
    l.line("discord.token", secret(&d.token));
    l.line(
        "discord.proxy_url",
        d.proxy_url
            .clone()
            .unwrap_or_else(|| "(none: https://discord.com)".into()),
    );
    l.line("discord.admin_roles", d.admin_roles.join(","));
    l.line("discord.queue_capacity", d.queue_capacity.to_string());
    l.line(
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
    l.line(
        "discord.shards",
        d.shards.map_or("(all, one process)".into(), |r| {
            format!("{}-{} of {}", r.first, r.last, r.total)
        }),
    );
    l.line(
        "discord.catch_up_max_messages",
        match d.catch_up.max_messages {
            0 => "0 (off)".into(),
            n => n.to_string(),
        },
    );
    l.line(
        "discord.catch_up_max_age_secs",
        d.catch_up.max_age_secs.to_string(),
    );
    l.line("discord.automod", d.native.automod.to_string());
    let id = |c: Option<u64>| c.map_or("(none)".to_owned(), |c| c.to_string());
    l.line(
        "discord.automod_alert_channel_id",
        id(d.native.automod_alert_channel_id),
    );
    l.line("discord.admin_channel_id", id(d.native.admin_channel_id));
}
