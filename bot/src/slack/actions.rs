//! [`SlackActions`]: the pipeline's requests carried out through Slack's Web
//! API with slack-morphism, and who people are (`users.info`, cached).
//!
//! Slack's rules shape it: a bot token cannot delete other people's messages,
//! so deleting (for `replace` and `delete`) needs an admin's user token and is
//! *refused* without one (the pipeline then degrades to a thread reply and an
//! ephemeral notice). A 429 is waited out (`Retry-After`, with a floor and
//! jitter: Slack may say `Retry-After: 0`) and a server error retried with
//! back-off, within the action attempt's budget
//! ([`crate::moderation::attempt_deadline`]); past it the call answers
//! [`ActionError::Later`] and the action stays pending, never dropped.
//!
//! An edit's thread is looked up ([`SlackActions::thread_of`]): Slack nests
//! it inside `message_changed`, where slack-morphism does not keep it.

use super::mentions::{defuse_for_repost, defuse_mentions, mentioned_users};
use crate::moderation::{
    attempt_deadline, jittered, ActionError, ActionFuture, IncomingMessage, PlatformActions,
};
use linkguard_rules::rewrite::escape_slack;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a call outside an action attempt keeps waiting out rate limits
/// and server errors before it gives up.
const CALL_BUDGET: Duration = Duration::from_secs(60);
/// The shortest wait after a 429, whatever `Retry-After` says.
const RATE_LIMIT_FLOOR: Duration = Duration::from_millis(500);
/// The first wait after a server error or a lost connection; doubles.
const SERVER_ERROR_WAIT: Duration = Duration::from_millis(250);
/// Slack's limit on a message's `text` (`chat.postMessage`,
/// `chat.postEphemeral`): longer texts are refused (`msg_too_long`) or cut,
/// so linkguard never sends one.
pub const TEXT_LIMIT: usize = 40_000;
/// Why deleting is refused without an admin's user token.
const NO_USER_TOKEN: &str =
    "no Slack admin user token is configured (a bot token cannot delete other people's messages)";
/// How long a looked-up user is remembered.
const USER_TTL: Duration = Duration::from_secs(300);
/// How many of the users a repost mentions are looked up to be named (the
/// rest are named by their ids): a message of hundreds of mentions must
/// not cost hundreds of calls before its repost.
const MAX_NAMED_USERS: usize = 20;

/// What we need to know about a Slack user.
#[derive(Debug, Clone)]
pub struct UserInfo {
    /// The name shown in Slack.
    pub name: String,
    /// Profile picture (72 px), for reposts.
    pub avatar: Option<String>,
    /// Workspace admin, owner or primary owner.
    pub is_admin: bool,
    /// The user's own team (`team_id`), when Slack says: an external member
    /// of a shared channel belongs to another team, and is admin there.
    pub team: Option<String>,
}

/// Slack's side of the pipeline.
pub struct SlackActions {
    client: Arc<SlackHyperClient>,
    bot_token: SlackApiToken,
    user_token: Option<SlackApiToken>,
    users: Mutex<HashMap<String, (Instant, UserInfo)>>,
}

/// Error codes meaning "Slack will not do this here": the action degrades.
const REFUSALS: &[&str] = &[
    "cant_delete_message",
    "cant_update_message",
    "not_in_channel",
    "is_archived",
    "missing_scope",
    "not_allowed_token_type",
    "restricted_action",
    "msg_too_long",
    "user_not_in_channel",
    "channel_not_found",
    "ekm_access_denied",
];

/// Error codes meaning "not now": Slack's own trouble, worth retrying later.
const TRANSIENT: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Error codes meaning the message is no longer there.
const GONE: &[&str] = &["message_not_found", "thread_not_found"];

/// Whether `e` is "not now" rather than "no": a rate limit, a server error,
/// a lost connection, or a transient API error.
fn is_transient(e: &SlackClientError) -> bool {
    match e {
        SlackClientError::RateLimitError(_) => true,
        SlackClientError::HttpError(h) => h.status_code.is_server_error(),
        SlackClientError::HttpProtocolError(_) | SlackClientError::EndOfStream(_) => true,
        SlackClientError::ApiError(api) => TRANSIENT.contains(&api.code.as_str()),
        _ => false,
    }
}

fn map_error(e: SlackClientError) -> ActionError {
    match e {
        SlackClientError::RateLimitError(rl) => ActionError::Later {
            why: "Slack rate limit".into(),
            retry_after: rl.retry_after,
        },
        e if is_transient(&e) => ActionError::later(first_line(&e.to_string())),
        SlackClientError::ApiError(api) if REFUSALS.contains(&api.code.as_str()) => {
            ActionError::Refused(format!("Slack said {}", api.code))
        }
        SlackClientError::ApiError(api) if GONE.contains(&api.code.as_str()) => {
            ActionError::Gone(format!("Slack said {}", api.code))
        }
        SlackClientError::ApiError(api) => ActionError::Failed(format!("Slack said {}", api.code)),
        other => ActionError::Failed(first_line(&other.to_string())),
    }
}

/// slack-morphism's errors can carry response bodies; logs get one line.
fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// `text` (plain) escaped for Slack and sure to fit [`TEXT_LIMIT`]: escaping
/// makes a character at most five (`&` → `&amp;`), so a text longer than a
/// fifth of the limit is first cut to that.
fn escape_fitted(text: &str) -> String {
    let escaped = escape_slack(text);
    if escaped.chars().count() <= TEXT_LIMIT {
        return escaped;
    }
    escape_slack(&crate::notice::fit(text, TEXT_LIMIT / 5))
}

impl SlackActions {
    /// Actions with the bot token and, if configured, an admin's user token.
    pub fn new(
        client: Arc<SlackHyperClient>,
        bot_token: &str,
        user_token: Option<&str>,
    ) -> SlackActions {
        SlackActions {
            client,
            bot_token: SlackApiToken::new(bot_token.to_owned().into()),
            user_token: user_token.map(|t| SlackApiToken::new(t.to_owned().into())),
            users: Mutex::new(HashMap::new()),
        }
    }

    /// A Web API session with the bot token.
    pub fn session(&self) -> SlackClientSession<'_, SlackClientHyperHttpsConnector> {
        self.client.open_session(&self.bot_token)
    }

    /// Runs `op` until it is neither rate limited nor hit by a server error:
    /// after a 429 it waits `Retry-After` (at least [`RATE_LIMIT_FLOOR`]),
    /// after a server error or a lost connection a doubling wait, each
    /// jittered; it gives up (returning the last error) rather than wait past
    /// the action attempt's deadline, or [`CALL_BUDGET`] outside one.
    pub async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T, SlackClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SlackClientError>>,
    {
        let deadline = attempt_deadline().unwrap_or_else(|| Instant::now() + CALL_BUDGET);
        let mut server_wait = SERVER_ERROR_WAIT;
        loop {
            let e = match op().await {
                Err(e) if is_transient(&e) => e,
                other => return other,
            };
            let wait = match &e {
                SlackClientError::RateLimitError(rl) => {
                    crate::metrics::global().rate_limit_wait("slack");
                    jittered(rl.retry_after.unwrap_or_default().max(RATE_LIMIT_FLOOR))
                }
                _ => {
                    let w = jittered(server_wait);
                    server_wait = (server_wait * 2).min(Duration::from_secs(8));
                    w
                }
            };
            if Instant::now() + wait > deadline {
                return Err(e);
            }
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                error = %first_line(&e.to_string()),
                "Slack call not done yet: waiting before retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Who `user` is (cached for a few minutes).
    pub async fn user(&self, user: &str) -> Result<UserInfo, SlackClientError> {
        if let Some((at, info)) = self
            .users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
        {
            if at.elapsed() < USER_TTL {
                return Ok(info.clone());
            }
        }
        let session = self.client.open_session(&self.bot_token);
        let req = SlackApiUsersInfoRequest::new(SlackUserId(user.to_owned()));
        let resp = self.retrying(|| session.users_info(&req)).await?;
        let u = resp.user;
        let profile = u.profile.as_ref();
        let name = profile
            .and_then(|p| p.display_name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| {
                profile
                    .and_then(|p| p.real_name.clone())
                    .filter(|n| !n.is_empty())
            })
            .or_else(|| u.real_name.clone())
            .or_else(|| u.name.clone())
            .unwrap_or_else(|| user.to_owned());
        let avatar = profile
            .and_then(|p| p.icon.as_ref())
            .and_then(|i| i.images.as_ref())
            .and_then(|imgs| {
                imgs.resolutions
                    .iter()
                    .find(|(size, _)| *size == 72)
                    .or_else(|| imgs.resolutions.last())
                    .map(|(_, url)| url.clone())
            });
        let f = &u.flags;
        let info = UserInfo {
            name,
            avatar,
            is_admin: f.is_admin.unwrap_or(false)
                || f.is_owner.unwrap_or(false)
                || f.is_primary_owner.unwrap_or(false),
            team: u.team_id.as_ref().map(|t| t.0.clone()),
        };
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), (Instant::now(), info.clone()));
        Ok(info)
    }

    /// Posts `text` (Slack markup, already escaped) as the bot.
    pub async fn post(
        &self,
        channel: &str,
        thread: Option<&str>,
        text: &str,
    ) -> Result<String, SlackClientError> {
        let session = self.client.open_session(&self.bot_token);
        let mut req = SlackApiChatPostMessageRequest::new(
            SlackChannelId(channel.to_owned()),
            SlackMessageContent::new().with_text(text.to_owned()),
        );
        req.thread_ts = thread.map(|t| SlackTs(t.to_owned()));
        let resp = self.retrying(|| session.chat_post_message(&req)).await?;
        Ok(resp.ts.0)
    }

    /// Posts an ephemeral message only `user` sees.
    pub async fn ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread: Option<&str>,
        text: &str,
    ) -> Result<(), SlackClientError> {
        self.ephemeral_with(channel, user, thread, text, None).await
    }

    /// [`SlackActions::ephemeral`] with Block Kit `blocks` (`text` is then
    /// the notification's fallback).
    pub async fn ephemeral_with(
        &self,
        channel: &str,
        user: &str,
        thread: Option<&str>,
        text: &str,
        blocks: Option<Vec<SlackBlock>>,
    ) -> Result<(), SlackClientError> {
        let session = self.client.open_session(&self.bot_token);
        let mut req = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.to_owned()),
            SlackUserId(user.to_owned()),
            SlackMessageContent::new()
                .with_text(text.to_owned())
                .opt_blocks(blocks),
        );
        req.thread_ts = thread.map(|t| SlackTs(t.to_owned()));
        self.retrying(|| session.chat_post_ephemeral(&req)).await?;
        Ok(())
    }

    /// The thread `msg` belongs to. A new message's event names its thread,
    /// but an edit's `thread_ts` sits in the nested message of
    /// `message_changed`, which slack-morphism's model drops; so for an edit
    /// the thread is asked for (`conversations.replies` on any message of a
    /// thread returns that thread, each message carrying the root's ts). If
    /// that fails the answer goes to the channel: misplaced, never lost.
    pub async fn thread_of(&self, msg: &IncomingMessage) -> Option<String> {
        if msg.thread.is_some() || msg.revision.is_original() {
            return msg.thread.clone();
        }
        let session = self.client.open_session(&self.bot_token);
        let req = SlackApiConversationsRepliesRequest::new(
            SlackChannelId(msg.channel.clone()),
            SlackTs(msg.message_id.clone()),
        )
        .with_limit(1);
        match self.retrying(|| session.conversations_replies(&req)).await {
            Ok(r) => r
                .messages
                .first()
                .and_then(|m| m.origin.thread_ts.as_ref())
                .map(|t| t.0.clone())
                .filter(|root| *root != msg.message_id),
            Err(e) => {
                tracing::warn!(
                    channel.id = %msg.channel,
                    error = %first_line(&e.to_string()),
                    "could not find the thread of an edited Slack message; answering in the channel"
                );
                None
            }
        }
    }

    async fn delete_with(
        &self,
        token: &SlackApiToken,
        channel: &str,
        ts: &str,
    ) -> Result<(), SlackClientError> {
        let session = self.client.open_session(token);
        let req = SlackApiChatDeleteRequest::new(
            SlackChannelId(channel.to_owned()),
            SlackTs(ts.to_owned()),
        );
        self.retrying(|| session.chat_delete(&req)).await?;
        Ok(())
    }
}

impl SlackActions {
    /// `text` with nothing in it that notifies anyone (see
    /// [`defuse_for_repost`]): the users it mentions named by their display
    /// names, the first [`MAX_NAMED_USERS`] looked up (cached; a lookup
    /// that fails leaves the id), any further ones by their ids.
    async fn defused_for_repost(&self, text: &str) -> String {
        let mut names = HashMap::new();
        for id in mentioned_users(text).into_iter().take(MAX_NAMED_USERS) {
            if let Ok(who) = self.user(&id).await {
                names.insert(id, who.name);
            }
        }
        defuse_for_repost(text, &names)
    }
}

impl PlatformActions for SlackActions {
    fn repost<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, String> {
        Box::pin(async move {
            if self.user_token.is_none() {
                // The original could not be deleted afterwards: don't post a copy.
                return Err(ActionError::Refused(
                    "no Slack admin user token is configured, so the original cannot be deleted"
                        .into(),
                ));
            }
            // A legacy integration (moderated only when configured) is a bot
            // id, unknown to users.info: it keeps the name and icon it used.
            let (name, avatar) = if msg.author.id.starts_with('B') {
                (
                    msg.author.display_name.clone(),
                    msg.author.avatar_url.clone(),
                )
            } else {
                let who = self.user(&msg.author.id).await.map_err(map_error)?;
                (who.name, who.avatar)
            };
            let text = self.defused_for_repost(text).await;
            let session = self.client.open_session(&self.bot_token);
            let mut req = SlackApiChatPostMessageRequest::new(
                SlackChannelId(msg.channel.clone()),
                SlackMessageContent::new().with_text(text),
            );
            // Plain `@name` and `#name` stay plain text.
            req.link_names = Some(false);
            req.username = Some(name);
            req.icon_url = avatar;
            req.thread_ts = self.thread_of(msg).await.map(SlackTs);
            req.unfurl_links = Some(false);
            let resp = self
                .retrying(|| session.chat_post_message(&req))
                .await
                .map_err(map_error)?;
            // Slack answered ok with the new message's ts: the repost exists.
            Ok(resp.ts.0)
        })
    }

    fn delete<'a>(&'a self, msg: &'a IncomingMessage) -> ActionFuture<'a, ()> {
        Box::pin(async move {
            let Some(token) = &self.user_token else {
                return Err(ActionError::Refused(NO_USER_TOKEN.into()));
            };
            self.delete_with(token, &msg.channel, &msg.message_id)
                .await
                .map_err(map_error)
        })
    }

    fn delete_repost<'a>(
        &'a self,
        msg: &'a IncomingMessage,
        repost_id: &'a str,
    ) -> ActionFuture<'a, ()> {
        Box::pin(async move {
            self.delete_with(&self.bot_token, &msg.channel, repost_id)
                .await
                .map_err(map_error)
        })
    }

    fn reply<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()> {
        Box::pin(async move {
            let thread = self.thread_of(msg).await;
            let thread = thread.as_deref().unwrap_or(&msg.message_id);
            self.post(&msg.channel, Some(thread), &escape_fitted(text))
                .await
                .map(|_| ())
                .map_err(map_error)
        })
    }

    fn notify_author<'a>(
        &'a self,
        msg: &'a IncomingMessage,
        text: &'a str,
    ) -> ActionFuture<'a, ()> {
        Box::pin(async move {
            let thread = self.thread_of(msg).await;
            let text = escape_fitted(text);
            // With the button that opens the exception request form.
            let blocks = super::blocks::notice_blocks(
                &text,
                &format!("msg:{}:{}", msg.channel, msg.message_id),
            );
            let blocks = serde_json::from_value(serde_json::Value::Array(blocks)).ok();
            self.ephemeral_with(
                &msg.channel,
                &msg.author.id,
                thread.as_deref(),
                &text,
                blocks,
            )
            .await
            .map_err(map_error)
        })
    }

    fn text_limit(&self) -> usize {
        TEXT_LIMIT
    }

    fn delete_refusal(&self, _msg: &IncomingMessage) -> Option<String> {
        self.user_token.is_none().then(|| NO_USER_TOKEN.to_owned())
    }

    fn send_copy<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()> {
        Box::pin(async move {
            let thread = self.thread_of(msg).await;
            // Already Slack markup: defused, not escaped again.
            let text = defuse_mentions(text);
            for piece in crate::notice::copy_pieces(&text, TEXT_LIMIT) {
                self.ephemeral(&msg.channel, &msg.author.id, thread.as_deref(), &piece)
                    .await
                    .map_err(map_error)?;
            }
            Ok(())
        })
    }
}
