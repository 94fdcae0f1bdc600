//! Answering an interaction in time. Discord fails an interaction that is
//! not answered within 3 seconds ("This interaction failed"), and the work
//! behind an answer (a policy edit stored and audited, a request decided, a
//! member looked up) can take longer on a slow database or under a rate
//! limit. So the answer is sent as soon as it is ready when that is within
//! [`ANSWER_WITHIN`]; past it, Discord is told the answer is coming (a
//! deferred response) and the answer fills it in when ready. The quick
//! path is the plain answer, as before.

use serenity::all::{
    CreateActionRow, CreateAllowedMentions, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, EditInteractionResponse,
    Http, InteractionId,
};
use serenity::builder::Builder;
use std::future::Future;
use std::time::Duration;

/// How long linkguard works on an answer before it defers it: a margin
/// under Discord's 3 seconds for the network and the callback itself.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(1800);

/// An answer to an interaction.
pub enum Answer {
    /// Text only the person who asked sees.
    Private(String),
    /// The clicked message rewritten (a button's message), its components
    /// replaced.
    Update {
        content: String,
        components: Vec<CreateActionRow>,
    },
}

/// How a late answer is announced: a private answer to come (commands,
/// forms), or an update of the clicked message to come (buttons).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Later {
    Private,
    Update,
}

/// The interaction being answered: its id and token.
pub struct Asked<'a> {
    pub id: InteractionId,
    pub token: &'a str,
}

/// Answers `asked` with what `work` gives, deferring first (as `later`)
/// when it is not ready within [`ANSWER_WITHIN`]. `what` names the
/// interaction in logs.
pub async fn answer_in_time(
    http: &Http,
    asked: Asked<'_>,
    later: Later,
    what: &str,
    work: impl Future<Output = Answer>,
) {
    let mut work = std::pin::pin!(work);
    let sent = match tokio::time::timeout(ANSWER_WITHIN, &mut work).await {
        Ok(answer) => {
            immediate(answer)
                .execute(http, (asked.id, asked.token))
                .await
        }
        Err(_) => {
            let defer = match later {
                Later::Private => CreateInteractionResponse::Defer(
                    CreateInteractionResponseMessage::new().ephemeral(true),
                ),
                Later::Update => CreateInteractionResponse::Acknowledge,
            };
            if let Err(e) = defer.execute(http, (asked.id, asked.token)).await {
                tracing::warn!(error = %e, "could not defer the answer to {what}");
            }
            fill_in(http, asked.token, later, work.await).await
        }
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not answer {what}");
    }
}

/// A private answer, mentions disabled: what every interaction answered
/// at once with text gets.
pub fn private(text: impl Into<String>) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
}

/// The answer as an immediate response, mentions disabled.
fn immediate(answer: Answer) -> CreateInteractionResponse {
    match answer {
        Answer::Private(text) => private(text),
        Answer::Update {
            content,
            components,
        } => CreateInteractionResponse::UpdateMessage(
            CreateInteractionResponseMessage::new()
                .content(content)
                .components(components)
                .allowed_mentions(CreateAllowedMentions::new()),
        ),
    }
}

/// A deferred response filled in: the private answer, or the clicked
/// message, edited; a private answer to a deferred update goes as a
/// private follow-up (editing would overwrite the clicked message).
async fn fill_in(http: &Http, token: &str, later: Later, answer: Answer) -> serenity::Result<()> {
    match answer {
        Answer::Private(text) if later == Later::Update => CreateInteractionResponseFollowup::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new())
            .execute(http, (None, token))
            .await
            .map(drop),
        Answer::Private(content) => EditInteractionResponse::new()
            .content(content)
            .allowed_mentions(CreateAllowedMentions::new())
            .execute(http, token)
            .await
            .map(drop),
        Answer::Update {
            content,
            components,
        } => {
            let edit = EditInteractionResponse::new()
                .content(content)
                .allowed_mentions(CreateAllowedMentions::new());
            // After a private deferral there is no clicked message to change.
            let edit = match later {
                Later::Update => edit.components(components),
                Later::Private => edit,
            };
            edit.execute(http, token).await.map(drop)
        }
    }
}
