//! The policy file's shape, as serde reads it, with the spans that error
//! messages point at; and the small enums rules are made of.

use crate::detect::ProviderSpec;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// What linkguard does with a banned link. Each action degrades to the next
/// gentler one when a platform refuses it (see [`Action::fallback`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Repost the message with the link swapped, then delete the original.
    Replace,
    /// Leave the message; answer in its thread with the alternative.
    Reply,
    /// Remove the message and tell the author privately.
    Delete,
    /// Tell the author privately.
    Warn,
    /// Record only.
    Log,
}

impl Action {
    /// Parses an action name.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "replace" => Action::Replace,
            "reply" => Action::Reply,
            "delete" => Action::Delete,
            "warn" => Action::Warn,
            "log" => Action::Log,
            _ => return None,
        })
    }

    /// The action's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Reply => "reply",
            Action::Delete => "delete",
            Action::Warn => "warn",
            Action::Log => "log",
        }
    }

    /// The next gentler action, used when this one is refused.
    pub fn fallback(self) -> Option<Action> {
        match self {
            Action::Replace => Some(Action::Reply),
            Action::Delete | Action::Reply => Some(Action::Warn),
            Action::Warn => Some(Action::Log),
            Action::Log => None,
        }
    }
}

/// Whether a rule acts or only records what it would have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Act on banned links.
    #[default]
    Enforce,
    /// Record "would have acted" without touching messages.
    Monitor,
}

impl Mode {
    /// Parses `enforce` or `monitor`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "enforce" => Some(Mode::Enforce),
            "monitor" => Some(Mode::Monitor),
            _ => None,
        }
    }

    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}

/// A policy file as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `enforce` (default) or `monitor` for every rule.
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    /// What `{prefix}` expands to in alternatives (default `linkguard`).
    #[serde(default)]
    pub room_prefix: Option<Spanned<String>>,
    /// Approved providers, listed to people who ask.
    #[serde(default)]
    pub approved: Vec<Spanned<String>>,
    /// How to ask for an exception, shown in notices.
    #[serde(default)]
    pub exception_contact: Option<String>,
    /// Whether other bots' and integrations' messages are moderated too
    /// (`true`); absent: the stored per-platform setting decides (default
    /// off). linkguard's own messages never are.
    #[serde(default)]
    pub moderate_bots: Option<bool>,
    /// Custom providers added to the built-in catalogue.
    #[serde(default)]
    pub providers: Vec<Spanned<ProviderSpec>>,
    /// The rules, in order: the first applicable rule decides.
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// One `[[rules]]` entry as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Unique id.
    pub id: Spanned<String>,
    /// Provider ids the rule bans.
    #[serde(default)]
    pub providers: Vec<Spanned<String>>,
    /// Custom hosts (`host` or `*.domain`) whose links the rule bans.
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    /// Regexes over canonical URLs that the rule bans.
    #[serde(default)]
    pub patterns: Vec<Spanned<String>>,
    /// `replace` (default), `reply`, `delete`, `warn` or `log`.
    #[serde(default)]
    pub action: Option<Spanned<String>>,
    /// Alternative template, e.g. `https://meet.jit.si/{prefix}-{room}`.
    #[serde(default)]
    pub alternative: Option<Spanned<String>>,
    /// Reason shown to people.
    #[serde(default)]
    pub reason: Option<String>,
    /// `enforce` (default) or `monitor`.
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    /// Platforms (`slack`, `discord`); empty means all.
    #[serde(default)]
    pub platforms: Vec<Spanned<String>>,
    /// Workspace / guild ids; empty means all.
    #[serde(default)]
    pub workspaces: Vec<String>,
    /// Channel ids; empty means all.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Exempt user ids.
    #[serde(default)]
    pub exempt_users: Vec<String>,
    /// Exempt role ids or names.
    #[serde(default)]
    pub exempt_roles: Vec<String>,
    /// Exempt channel ids.
    #[serde(default)]
    pub exempt_channels: Vec<String>,
    /// Also find the rule's providers' invitations pasted as text (meeting
    /// ID and passcode, no link). Off by default.
    #[serde(default)]
    pub detect_invitations: Option<Spanned<bool>>,
}
