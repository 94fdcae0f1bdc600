//! What the pipeline moderates: one message (or one revision of it),
//! platform-neutral, as the connectors translate it.

use crate::store::EventKey;
use linkguard_rules::Dialect;
use std::time::Instant;

/// The platforms linkguard moderates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Slack.
    Slack,
    /// Discord.
    Discord,
}

impl Platform {
    /// The platform's name in audit records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Discord => "discord",
        }
    }

    /// The text dialect of the platform's messages.
    pub fn dialect(self) -> Dialect {
        match self {
            Platform::Slack => Dialect::Slack,
            Platform::Discord => Dialect::Discord,
        }
    }
}

/// The author of a message.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Author {
    /// Platform user id.
    pub id: String,
    /// Display name, for reposting under the author's name.
    pub display_name: String,
    /// Avatar URL, for reposting under the author's face.
    pub avatar_url: Option<String>,
    /// Role ids (Discord) or user-group ids (Slack), for exemptions.
    pub roles: Vec<String>,
}

/// One message (or one revision of it), platform-neutral. It is kept (as
/// JSON) with a pending action so that a restart can finish the action.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IncomingMessage {
    /// Where it came from.
    pub platform: Platform,
    /// Slack team id or Discord guild id (empty for Discord DMs).
    pub workspace: String,
    /// Channel id (for a thread, the channel that holds it).
    pub channel: String,
    /// Thread id: Slack `thread_ts` of the parent; Discord thread channel id.
    pub thread: Option<String>,
    /// Message id: Slack `ts`, Discord snowflake.
    pub message_id: String,
    /// Revision: `0` for the original post, the edit's timestamp for edits.
    pub revision: String,
    /// Who wrote it.
    pub author: Author,
    /// The raw text in the platform's dialect.
    pub text: String,
    /// Whether the message carries files, which a repost would lose.
    pub has_attachments: bool,
    /// Why a repost could not stand in for this message, when it cannot: its
    /// text was taken from what it carries rather than typed as its own (a
    /// Discord forward's snapshot, a rich embed, a Slack share's
    /// attachments), and a repost cannot forward or share. `replace` then
    /// removes the message and sends the author the rewritten text privately.
    #[serde(default)]
    pub not_repostable: Option<String>,
    /// When the connector received the event (for latency metrics).
    #[serde(skip, default = "Instant::now")]
    pub received: Instant,
}

impl IncomingMessage {
    /// The idempotency key of this revision of the message.
    pub fn event_key(&self) -> EventKey {
        // Slack's ts is unique per channel only, so qualify it.
        let id = format!("{}/{}", self.channel, self.message_id);
        EventKey::new(self.platform.as_str(), &id, &self.revision)
    }
}
