//! What a connector does for the pipeline ([`PlatformActions`]) and how it
//! says no ([`ActionError`]): a refusal degrades the action, "not yet"
//! leaves it pending.

use super::IncomingMessage;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Why a platform did not carry out a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The platform will not do this here (permission, token, size): try the
    /// next gentler action.
    Refused(String),
    /// The request failed: record the platform's error.
    Failed(String),
    /// Not yet: rate limited or a server error that outlasted the client's
    /// own retries. The action stays pending and is retried after a back-off
    /// of at least `retry_after`.
    Later {
        /// What happened.
        why: String,
        /// How long the platform asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The message is no longer there (deleted meanwhile).
    Gone(String),
}

impl ActionError {
    /// "Not yet", without a hint of how long to wait.
    pub fn later(why: impl Into<String>) -> ActionError {
        ActionError::Later {
            why: why.into(),
            retry_after: None,
        }
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionError::Refused(why) => write!(f, "refused: {why}"),
            ActionError::Failed(why) => write!(f, "failed: {why}"),
            ActionError::Later { why, .. } => write!(f, "not yet: {why}"),
            ActionError::Gone(why) => write!(f, "gone: {why}"),
        }
    }
}

/// A boxed future, so [`PlatformActions`] stays object-safe.
pub type ActionFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ActionError>> + Send + 'a>>;

/// What a connector can do on its platform. Each method confirms success
/// before returning `Ok` (a repost is checked to exist).
pub trait PlatformActions: Send + Sync {
    /// Reposts `text` (the rewritten message plus attribution) under the
    /// author's name and avatar, in the same channel and thread, with
    /// mentions disabled. Returns the repost's id.
    fn repost<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, String>;
    /// Deletes the original message.
    fn delete<'a>(&'a self, msg: &'a IncomingMessage) -> ActionFuture<'a, ()>;
    /// Deletes a repost made by [`PlatformActions::repost`] (cleanup after a
    /// failed delete of the original).
    fn delete_repost<'a>(
        &'a self,
        msg: &'a IncomingMessage,
        repost_id: &'a str,
    ) -> ActionFuture<'a, ()>;
    /// Replies in the message's thread.
    fn reply<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()>;
    /// Tells the author privately (Slack ephemeral, Discord DM).
    fn notify_author<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str)
        -> ActionFuture<'a, ()>;
    /// The longest message text the platform takes, in characters: every
    /// text passed to the methods above fits, except [`Self::send_copy`]'s,
    /// which the connector splits.
    fn text_limit(&self) -> usize;
    /// What the connector already knows keeps it from deleting `msg` (no
    /// admin token, a missing permission), without asking the platform;
    /// `None` when nothing is known to (the platform's answer decides).
    fn delete_refusal(&self, msg: &IncomingMessage) -> Option<String>;
    /// Sends the author privately their message as it would have been
    /// reposted (`text` is in the platform's markup, links swapped), in as
    /// many messages as the platform's limit needs, pinging nobody.
    fn send_copy<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()>;
    /// After a crash in the middle of `replace`: whether the repost `text`
    /// of `msg` was already made, and whether the original is still there.
    /// The default cannot tell (the action is done again).
    fn interrupted_replace<'a>(
        &'a self,
        msg: &'a IncomingMessage,
        text: &'a str,
    ) -> ActionFuture<'a, Interrupted> {
        let _ = (msg, text);
        Box::pin(async { Ok(Interrupted::Unknown) })
    }
}

/// What a platform found about a `replace` a crash interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupted {
    /// It cannot tell: the action is done again.
    Unknown,
    /// The repost exists.
    Reposted {
        /// The repost's id.
        repost: String,
        /// Whether the original is still there (to be deleted).
        original_exists: bool,
    },
}
