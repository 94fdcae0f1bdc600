//! What linkguard can do on Discord: [`PlatformActions`] over serenity's REST
//! client, plus the bookkeeping it needs (the channel webhooks it reposts
//! through, which are created once and remembered in the store, and thread
//! parents).
//!
//! Platform refusals (missing permission or access, closed DMs, a repost that
//! would not fit or would lose files) become [`ActionError::Refused`] so the
//! pipeline degrades to a gentler action and records why; anything else is
//! [`ActionError::Failed`]. Error texts never carry a webhook token: they end
//! up in logs and the audit log.

use super::translate::{self, Placement, MESSAGE_LIMIT};
use crate::moderation::{
    attempt_deadline, jittered, ActionError, ActionFuture, IncomingMessage, Interrupted,
    PlatformActions,
};
use crate::store::{DiscordWebhook, Store};
use secrecy::ExposeSecret as _;
use serenity::all::{
    Cache, Channel, ChannelId, ChannelType, CreateAllowedMentions, CreateMessage, ExecuteWebhook,
    GuildId, Http, HttpError, MessageId, MessagePagination, MessageReference, Permissions, UserId,
    WebhookId,
};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The name of the webhooks linkguard creates.
pub const WEBHOOK_NAME: &str = "linkguard";

/// Discord error codes that mean "not allowed here" rather than "broken".
const REFUSAL_CODES: &[isize] = &[
    50001, // Missing Access
    50003, // Cannot execute action on a DM channel
    50007, // Cannot send messages to this user (DMs closed)
    50013, // Missing Permissions
];

/// Discord's "Unknown Webhook": the webhook was deleted by someone.
const UNKNOWN_WEBHOOK: isize = 10015;

/// Discord's "Unknown Message": the message is gone.
pub(super) const UNKNOWN_MESSAGE: isize = 10008;

/// Discord's "Unknown Channel": the channel is gone.
pub(super) const UNKNOWN_CHANNEL: isize = 10003;

/// How long a call outside an action attempt keeps retrying 429s and server
/// errors before it gives up.
const CALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a failed call is "not now" rather than "no": rate limited, a
/// server error, or the request never got an answer.
fn is_transient(e: &serenity::Error) -> bool {
    match e {
        serenity::Error::Http(HttpError::Request(_)) => true,
        _ => http_failure(e).is_some_and(|(status, _, _)| status == 429 || status >= 500),
    }
}

/// How many pages of 100 after an original are searched for its repost.
const REPOST_SEARCH_PAGES: usize = 5;

/// Carries out moderation requests on Discord.
pub struct DiscordActions {
    http: Arc<Http>,
    cache: Arc<Cache>,
    store: Store,
    /// Channel id → the webhook linkguard reposts through there.
    webhooks: tokio::sync::Mutex<HashMap<u64, DiscordWebhook>>,
    /// Ids of every webhook linkguard created or loaded, kept even after one
    /// is replaced, so its late messages are still recognised as ours.
    own_webhooks: RwLock<HashSet<u64>>,
    /// Thread id → parent channel (or `None`: not a thread), learnt over REST
    /// for channels the cache does not know.
    parents: RwLock<HashMap<u64, Option<u64>>>,
    /// Whether notices carry the "Request an exception" button.
    offer_requests: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for DiscordActions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordActions").finish_non_exhaustive()
    }
}

/// The status and Discord error code of a failed REST call, if it got that far.
pub(super) fn http_failure(e: &serenity::Error) -> Option<(u16, isize, &str)> {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => Some((
            r.status_code.as_u16(),
            r.error.code,
            r.error.message.as_str(),
        )),
        _ => None,
    }
}

/// Maps a serenity error to a refusal (degrade) or a failure (record), with
/// `secret` (a webhook token that may appear in a URL) removed.
pub(super) fn action_error(what: &str, e: &serenity::Error, secret: Option<&str>) -> ActionError {
    let redact = |s: String| match secret {
        Some(t) if !t.is_empty() => s.replace(t, "[redacted]"),
        _ => s,
    };
    match http_failure(e) {
        Some((status, code, message)) => {
            let text = redact(format!(
                "{what}: Discord answered {status} (code {code}): {message}"
            ));
            if status == 429 || status >= 500 {
                ActionError::later(text)
            } else if status == 403 || REFUSAL_CODES.contains(&code) {
                ActionError::Refused(text)
            } else if code == UNKNOWN_MESSAGE {
                ActionError::Gone(text)
            } else {
                ActionError::Failed(text)
            }
        }
        None if is_transient(e) => ActionError::later(redact(format!("{what}: {e}"))),
        None => ActionError::Failed(redact(format!("{what}: {e}"))),
    }
}

fn snowflake(s: &str, what: &str) -> Result<u64, ActionError> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n != 0)
        .ok_or_else(|| ActionError::Failed(format!("{what} `{s}` is not a Discord id")))
}

pub(super) fn is_thread(kind: ChannelType) -> bool {
    matches!(
        kind,
        ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
    )
}

impl DiscordActions {
    /// Actions over `http`, reading permissions and threads from `cache`.
    pub fn new(http: Arc<Http>, cache: Arc<Cache>, store: Store) -> DiscordActions {
        DiscordActions {
            http,
            cache,
            store,
            webhooks: tokio::sync::Mutex::new(HashMap::new()),
            own_webhooks: RwLock::new(HashSet::new()),
            parents: RwLock::new(HashMap::new()),
            offer_requests: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Notices to authors offer a "Request an exception" button from now on
    /// (`discord.admin_channel_id` is set, so someone will see requests).
    pub(super) fn offer_requests(&self) {
        self.offer_requests
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// serenity's REST client.
    pub(super) fn http(&self) -> &Arc<Http> {
        &self.http
    }

    /// Our bot user's id, once READY has been received.
    pub fn bot_id(&self) -> Option<u64> {
        Some(self.cache.current_user().id.get()).filter(|id| *id != 0)
    }

    /// Runs a REST call, retrying it when Discord (or a REST proxy) answers
    /// 429 anyway or a server error: with serenity's rate limiter on, a 429
    /// with `Retry-After` is already waited out inside serenity; without the
    /// limiter (proxy mode) or without the header it surfaces here. Waits
    /// double from 250 ms (jittered, at most 8 s) and stop before the action
    /// attempt's deadline; the caller then answers [`ActionError::Later`]
    /// and the action stays pending: a rate limit never drops an action.
    pub(super) async fn call<T, F, Fut>(&self, mut f: F) -> Result<T, serenity::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, serenity::Error>>,
    {
        let deadline =
            attempt_deadline().unwrap_or_else(|| std::time::Instant::now() + CALL_BUDGET);
        let mut wait = Duration::from_millis(250);
        let mut attempt = 0;
        loop {
            match f().await {
                Err(e) if is_transient(&e) => {
                    let pause = jittered(wait);
                    if std::time::Instant::now() + pause > deadline {
                        return Err(e);
                    }
                    attempt += 1;
                    if http_failure(&e).is_some_and(|(s, _, _)| s == 429) {
                        crate::metrics::global().rate_limit_wait("discord");
                    }
                    tracing::debug!(
                        attempt,
                        wait_ms = pause.as_millis() as u64,
                        "discord call not done yet; retrying"
                    );
                    tokio::time::sleep(pause).await;
                    wait = (wait * 2).min(Duration::from_secs(8));
                }
                other => return other,
            }
        }
    }

    fn lock_read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
        lock.read().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
        lock.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Where a message in `channel` lives: threads and forum posts are placed
    /// under their parent channel. From the cache (GUILD_CREATE and
    /// THREAD_CREATE fill it), else over REST once per channel.
    pub async fn placement(&self, guild: Option<GuildId>, channel: ChannelId) -> Placement {
        let Some(guild_id) = guild else {
            return Placement {
                guild: None,
                channel: channel.get(),
                thread: None,
            };
        };
        let at = |parent: Option<u64>| match parent {
            Some(p) => Placement {
                guild: Some(guild_id.get()),
                channel: p,
                thread: Some(channel.get()),
            },
            None => Placement {
                guild: Some(guild_id.get()),
                channel: channel.get(),
                thread: None,
            },
        };
        let cached = self.cache.guild(guild_id).and_then(|g| {
            if g.channels.contains_key(&channel) {
                return Some(None);
            }
            g.threads
                .iter()
                .find(|t| t.id == channel)
                .map(|t| t.parent_id.map(ChannelId::get))
        });
        if let Some(parent) = cached {
            return at(parent);
        }
        if let Some(parent) = Self::lock_read(&self.parents).get(&channel.get()) {
            return at(*parent);
        }
        match self.call(|| self.http.get_channel(channel)).await {
            Ok(Channel::Guild(c)) => {
                let parent = if is_thread(c.kind) {
                    c.parent_id.map(ChannelId::get)
                } else {
                    None
                };
                Self::lock_write(&self.parents).insert(channel.get(), parent);
                at(parent)
            }
            Ok(_) => at(None),
            Err(e) => {
                // Moderate it as a plain channel rather than not at all.
                tracing::warn!(channel.id = %channel, error = %action_error("looking up the channel", &e, None), "cannot tell whether this is a thread");
                at(None)
            }
        }
    }

    /// Whether `webhook_id`, seen on a message in `channel` (a parent
    /// channel), is one of ours.
    pub async fn is_own_webhook(&self, webhook_id: u64, channel: u64) -> bool {
        if Self::lock_read(&self.own_webhooks).contains(&webhook_id) {
            return true;
        }
        match self.store.discord_webhook(&channel.to_string()).await {
            Ok(Some(h)) if h.id == webhook_id.to_string() => {
                Self::lock_write(&self.own_webhooks).insert(webhook_id);
                true
            }
            Ok(_) => false,
            Err(e) => {
                // Unknown: treat it as ours, since looping is worse than
                // missing one webhook's link.
                tracing::warn!(error = %e, "cannot read stored webhooks; ignoring the webhook message");
                true
            }
        }
    }

    /// What the cache says is missing for `replace` in `channel` (a parent
    /// channel); `None` when nothing is, or the cache does not know (then
    /// Discord's answer decides).
    fn missing_for_replace(&self, guild: u64, channel: u64) -> Option<String> {
        self.missing(
            guild,
            channel,
            &[
                (Permissions::MANAGE_WEBHOOKS, "Manage Webhooks"),
                (Permissions::MANAGE_MESSAGES, "Manage Messages"),
            ],
        )
    }

    /// Which of `needed` the cache says the bot lacks in `channel`.
    fn missing(&self, guild: u64, channel: u64, needed: &[(Permissions, &str)]) -> Option<String> {
        let bot = UserId::new(self.bot_id()?);
        let g = self.cache.guild(GuildId::new(guild))?;
        let c = g.channels.get(&ChannelId::new(channel))?;
        let member = g.members.get(&bot)?;
        let p = g.user_permissions_in(c, member);
        let missing: Vec<&str> = needed
            .iter()
            .filter(|(bit, _)| !p.contains(*bit))
            .map(|(_, name)| *name)
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "the bot lacks {} in channel {channel}",
                missing.join(" and ")
            )
        })
    }

    /// The webhook of `channel`: remembered, else stored, else created (and
    /// stored). Creation is serialised so a burst in a new channel creates one.
    async fn webhook(&self, channel: u64) -> Result<DiscordWebhook, ActionError> {
        let mut hooks = self.webhooks.lock().await;
        if let Some(h) = hooks.get(&channel) {
            return Ok(h.clone());
        }
        let key = channel.to_string();
        let stored = self
            .store
            .discord_webhook(&key)
            .await
            .map_err(|e| ActionError::later(format!("reading the stored webhook: {e}")))?;
        let hook = match stored {
            Some(h) => h,
            None => {
                let body = serde_json::json!({ "name": WEBHOOK_NAME });
                let created = self
                    .call(|| {
                        self.http.create_webhook(
                            ChannelId::new(channel),
                            &body,
                            Some("linkguard reposts messages with banned meeting links swapped"),
                        )
                    })
                    .await
                    .map_err(|e| action_error("creating the channel webhook", &e, None))?;
                let token = created
                    .token
                    .as_ref()
                    .map(|t| t.expose_secret().clone())
                    .ok_or_else(|| {
                        ActionError::Failed("Discord returned a webhook without a token".into())
                    })?;
                let h = DiscordWebhook {
                    id: created.id.to_string(),
                    token,
                };
                self.store
                    .put_discord_webhook(&key, &h)
                    .await
                    .map_err(|e| ActionError::later(format!("storing the new webhook: {e}")))?;
                tracing::info!(channel.id = channel, webhook.id = %h.id, "created the channel webhook");
                h
            }
        };
        if let Ok(id) = hook.id.parse::<u64>() {
            Self::lock_write(&self.own_webhooks).insert(id);
        }
        hooks.insert(channel, hook.clone());
        Ok(hook)
    }

    /// Forgets a webhook Discord no longer knows, so the next use creates one.
    async fn forget_webhook(&self, channel: u64) {
        self.webhooks.lock().await.remove(&channel);
        if let Err(e) = self
            .store
            .delete_discord_webhook(&channel.to_string())
            .await
        {
            tracing::warn!(channel.id = channel, error = %e, "cannot forget the deleted webhook");
        }
    }

    async fn do_repost(&self, msg: &IncomingMessage, text: &str) -> Result<String, ActionError> {
        let Ok(guild) = msg.workspace.parse::<u64>() else {
            return Err(ActionError::Refused(
                "direct messages have no webhooks to repost through".into(),
            ));
        };
        let chars = text.chars().count();
        if chars > MESSAGE_LIMIT {
            return Err(ActionError::Refused(format!(
                "the rewritten message would be {chars} characters, over Discord's {MESSAGE_LIMIT}"
            )));
        }
        let channel = snowflake(&msg.channel, "channel")?;
        let thread = msg
            .thread
            .as_deref()
            .map(|t| snowflake(t, "thread").map(ChannelId::new))
            .transpose()?;
        if let Some(why) = self.missing_for_replace(guild, channel) {
            return Err(ActionError::Refused(why));
        }
        let mut builder = ExecuteWebhook::new()
            .content(text)
            .username(translate::webhook_username(&msg.author.display_name))
            // Never mention more than the original could: nobody at all.
            .allowed_mentions(CreateAllowedMentions::new());
        if let Some(url) = &msg.author.avatar_url {
            builder = builder.avatar_url(url);
        }
        let mut recreated = false;
        loop {
            let hook = self.webhook(channel).await?;
            let id = WebhookId::new(snowflake(&hook.id, "webhook")?);
            let sent = self
                .call(|| {
                    self.http
                        .execute_webhook(id, thread, &hook.token, true, Vec::new(), &builder)
                })
                .await;
            match sent {
                Ok(Some(m)) => return Ok(m.id.to_string()),
                Ok(None) => {
                    return Err(ActionError::Failed(
                        "Discord did not return the repost".into(),
                    ))
                }
                Err(e)
                    if !recreated
                        && http_failure(&e).is_some_and(|(_, c, _)| c == UNKNOWN_WEBHOOK) =>
                {
                    tracing::warn!(
                        channel.id = channel,
                        "the channel webhook was deleted; creating a new one"
                    );
                    self.forget_webhook(channel).await;
                    recreated = true;
                }
                Err(e) => return Err(action_error("executing the webhook", &e, Some(&hook.token))),
            }
        }
    }

    async fn do_delete(&self, msg: &IncomingMessage) -> Result<(), ActionError> {
        let (channel, id) = self.message_ref(msg)?;
        self.call(|| {
            self.http.delete_message(
                channel,
                id,
                Some("linkguard: the message had a banned meeting link"),
            )
        })
        .await
        .map_err(|e| action_error("deleting the message", &e, None))
    }

    async fn do_delete_repost(
        &self,
        msg: &IncomingMessage,
        repost: &str,
    ) -> Result<(), ActionError> {
        let channel = snowflake(&msg.channel, "channel")?;
        let thread = msg
            .thread
            .as_deref()
            .map(|t| snowflake(t, "thread").map(ChannelId::new))
            .transpose()?;
        let repost = MessageId::new(snowflake(repost, "repost")?);
        let hook = self.webhook(channel).await?;
        let id = WebhookId::new(snowflake(&hook.id, "webhook")?);
        self.call(|| {
            self.http
                .delete_webhook_message(id, thread, &hook.token, repost)
        })
        .await
        .map_err(|e| action_error("deleting the repost", &e, Some(&hook.token)))
    }

    async fn do_reply(&self, msg: &IncomingMessage, text: &str) -> Result<(), ActionError> {
        let (channel, id) = self.message_ref(msg)?;
        let mut reference = MessageReference::from((channel, id));
        // Still answer if the author deleted the message meanwhile.
        reference.fail_if_not_exists = Some(false);
        let builder = CreateMessage::new()
            .content(text)
            .reference_message(reference)
            // Ping the author (the replied-to user) and nobody else.
            .allowed_mentions(CreateAllowedMentions::new().replied_user(true));
        self.call(|| channel.send_message(&*self.http, builder.clone()))
            .await
            .map(|_| ())
            .map_err(|e| action_error("replying", &e, None))
    }

    /// The DM channel with the author of `msg`.
    async fn author_dm(&self, msg: &IncomingMessage) -> Result<ChannelId, ActionError> {
        let user = UserId::new(snowflake(&msg.author.id, "author")?);
        self.call(|| user.create_dm_channel(&*self.http))
            .await
            .map(|dm| dm.id)
            .map_err(|e| action_error("opening a DM with the author", &e, None))
    }

    async fn do_notify(&self, msg: &IncomingMessage, text: &str) -> Result<(), ActionError> {
        let dm = self.author_dm(msg).await?;
        let mut builder = CreateMessage::new()
            .content(text)
            .allowed_mentions(CreateAllowedMentions::new());
        if self
            .offer_requests
            .load(std::sync::atomic::Ordering::Relaxed)
            && !msg.workspace.is_empty()
        {
            builder = builder.components(vec![super::requests::request_button(&msg.workspace)]);
        }
        self.call(|| dm.send_message(&*self.http, builder.clone()))
            .await
            .map(|_| ())
            .map_err(|e| action_error("sending a DM to the author", &e, None))
    }

    /// Sends the author their rewritten message in DMs, split to Discord's
    /// limit, pinging nobody.
    async fn do_send_copy(&self, msg: &IncomingMessage, text: &str) -> Result<(), ActionError> {
        let dm = self.author_dm(msg).await?;
        for piece in crate::notice::copy_pieces(text, MESSAGE_LIMIT) {
            let builder = CreateMessage::new()
                .content(piece)
                .allowed_mentions(CreateAllowedMentions::new());
            self.call(|| dm.send_message(&*self.http, builder.clone()))
                .await
                .map_err(|e| action_error("sending the rewritten text to the author", &e, None))?;
        }
        Ok(())
    }

    /// Finds the repost of `msg` (our channel webhook's message with `text`,
    /// after the original) that a crash may have left, and whether the
    /// original is still there.
    async fn do_interrupted_replace(
        &self,
        msg: &IncomingMessage,
        text: &str,
    ) -> Result<Interrupted, ActionError> {
        if msg.workspace.parse::<u64>().is_err() {
            return Ok(Interrupted::Unknown);
        }
        let channel = snowflake(&msg.channel, "channel")?;
        let (place, id) = self.message_ref(msg)?;
        let hook = match self.store.discord_webhook(&channel.to_string()).await {
            Ok(Some(h)) => h,
            // No webhook was ever stored here, so no repost was made.
            Ok(None) => return Ok(Interrupted::Unknown),
            Err(e) => {
                return Err(ActionError::Failed(format!(
                    "reading the stored webhook: {e}"
                )))
            }
        };
        let mut after = id;
        let mut found = None;
        for _ in 0..REPOST_SEARCH_PAGES {
            let page = self
                .call(|| {
                    self.http
                        .get_messages(place, Some(MessagePagination::After(after)), Some(100))
                })
                .await
                .map_err(|e| action_error("reading the history after the original", &e, None))?;
            found = page
                .iter()
                .filter(|m| m.id > id)
                .find(|m| {
                    m.webhook_id.is_some_and(|w| w.to_string() == hook.id)
                        && m.content.trim_end() == text.trim_end()
                })
                .map(|m| m.id);
            let newest = page.iter().map(|m| m.id).max();
            match (found, newest) {
                (Some(_), _) | (None, None) => break,
                (None, Some(n)) if page.len() < 100 || n <= after => break,
                (None, Some(n)) => after = n,
            }
        }
        let Some(repost) = found else {
            return Ok(Interrupted::Unknown);
        };
        let original_exists = match self.call(|| self.http.get_message(place, id)).await {
            Ok(_) => true,
            Err(e)
                if http_failure(&e).is_some_and(|(s, c, _)| s == 404 && c == UNKNOWN_MESSAGE) =>
            {
                false
            }
            Err(e) => return Err(action_error("reading the original", &e, None)),
        };
        Ok(Interrupted::Reposted {
            repost: repost.to_string(),
            original_exists,
        })
    }

    /// The channel (or thread) a message is in, and its id.
    fn message_ref(&self, msg: &IncomingMessage) -> Result<(ChannelId, MessageId), ActionError> {
        let channel = snowflake(msg.thread.as_deref().unwrap_or(&msg.channel), "channel")?;
        let id = snowflake(&msg.message_id, "message")?;
        Ok((ChannelId::new(channel), MessageId::new(id)))
    }
}

impl PlatformActions for DiscordActions {
    fn repost<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, String> {
        Box::pin(self.do_repost(msg, text))
    }

    fn delete<'a>(&'a self, msg: &'a IncomingMessage) -> ActionFuture<'a, ()> {
        Box::pin(self.do_delete(msg))
    }

    fn delete_repost<'a>(
        &'a self,
        msg: &'a IncomingMessage,
        repost_id: &'a str,
    ) -> ActionFuture<'a, ()> {
        Box::pin(self.do_delete_repost(msg, repost_id))
    }

    fn reply<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()> {
        Box::pin(self.do_reply(msg, text))
    }

    fn notify_author<'a>(
        &'a self,
        msg: &'a IncomingMessage,
        text: &'a str,
    ) -> ActionFuture<'a, ()> {
        Box::pin(self.do_notify(msg, text))
    }

    fn text_limit(&self) -> usize {
        MESSAGE_LIMIT
    }

    fn delete_refusal(&self, msg: &IncomingMessage) -> Option<String> {
        let Ok(guild) = msg.workspace.parse::<u64>() else {
            return Some("a bot cannot delete other people's direct messages".into());
        };
        let channel = msg.channel.parse::<u64>().ok()?;
        self.missing(
            guild,
            channel,
            &[(Permissions::MANAGE_MESSAGES, "Manage Messages")],
        )
    }

    fn send_copy<'a>(&'a self, msg: &'a IncomingMessage, text: &'a str) -> ActionFuture<'a, ()> {
        Box::pin(self.do_send_copy(msg, text))
    }

    fn interrupted_replace<'a>(
        &'a self,
        msg: &'a IncomingMessage,
        text: &'a str,
    ) -> ActionFuture<'a, Interrupted> {
        Box::pin(self.do_interrupted_replace(msg, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_errors_fail_and_never_carry_the_webhook_token() {
        assert!(matches!(
            action_error("x", &serenity::Error::Other("boom"), None),
            ActionError::Failed(_)
        ));
        let token = "secret-token";
        let e = serenity::Error::Url(format!("https://discord.com/api/v10/webhooks/1/{token}"));
        let ActionError::Failed(text) = action_error("executing", &e, Some(token)) else {
            panic!("not a failure")
        };
        assert!(
            !text.contains(token) && text.contains("[redacted]"),
            "{text}"
        );
    }
}
