//! The table of every configuration key: its dotted name, its type and what
//! it is for. A new key is one row here (plus its field and its validation
//! in `validate`); the file reader, the environment reader, `config keys`
//! and the README check (`bot/tests/config_docs.rs`) all follow this table.

/// How a key's value is written and read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Str,
    Secret,
    Bool,
    Int,
    List,
}

/// Every key: dotted name, type, and what it is for (printed by `config check`).
pub(super) const KEYS: &[(&str, Ty, &str)] = &[
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
    (
        "slack.team_ids",
        Ty::List,
        "workspaces (T…) whose events and admins count (default: the bot token's team)",
    ),
    (
        "slack.admin_channel",
        Ty::Str,
        "channel id (C…) where exception requests go for admins to approve",
    ),
    (
        "discord.guild_ids",
        Ty::List,
        "servers linkguard moderates and obeys; it leaves any other (required to run)",
    ),
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
    (
        "discord.automod",
        Ty::Bool,
        "keep AutoMod rules that block what they can express of the policy before it is posted",
    ),
    (
        "discord.automod_alert_channel_id",
        Ty::Str,
        "channel where AutoMod also posts an alert when it blocks a link",
    ),
    (
        "discord.admin_channel_id",
        Ty::Str,
        "channel where exception requests go for admins to approve or deny",
    ),
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
];

/// The environment variable of a dotted key: `slack.bot_token` is
/// `LINKGUARD_SLACK_BOT_TOKEN`.
pub(super) fn env_name(key: &str) -> String {
    format!("LINKGUARD_{}", key.replace('.', "_").to_ascii_uppercase())
}
