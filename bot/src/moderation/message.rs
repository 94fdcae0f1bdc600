//! What the pipeline moderates: one message (or one revision of it),
//! platform-neutral, as the connectors translate it.

pub use crate::store::{Platform, Revision};

use crate::store::EventKey;
use std::time::Instant;

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
    /// Which revision: the original post, or an edit.
    pub revision: Revision,
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
        EventKey::new(self.platform, &id, &self.revision)
    }
}

/// Why a connector does not moderate an event, on any platform (logged at
/// trace level; nothing is recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// Posted by linkguard's own bot user (never loop).
    Ours,
    /// A repost linkguard made (Discord: through one of its own webhooks;
    /// Slack's customised reposts are [`Skip::Ours`], posted as the bot).
    OurRepost,
    /// Another bot or integration, and other bots are not moderated.
    OtherBot,
    /// A deletion, join, topic change, … or an unfurl-only edit.
    NotAMessage,
    /// A direct message to the bot: a question, not a violation.
    DirectMessage,
}
