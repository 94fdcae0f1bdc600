//! serenity's event handler: turns MESSAGE_CREATE and MESSAGE_UPDATE into
//! platform-neutral messages, records them, and leaves the action to a
//! tracked background task. Also keeps the connection gauge and start-up
//! recovery. Events from servers outside `discord.guild_ids` stop here (see
//! [`super::tenancy`]); so do edits in DMs, which are questions, not posts.
//!
//! Discord has no per-event acknowledgement: serenity advances the gateway
//! sequence before our handler runs, so an event whose detection cannot be
//! recorded would not be replayed. Translated messages therefore go to the
//! bounded [`Intake`] queue, which records them until the store answers and
//! pauses the gateway when full. A replayed event (after a Resume) finds its
//! idempotency key and nothing is done twice.

use super::actions::DiscordActions;
use super::intake::Intake;
use super::tenancy::Guilds;
use super::translate::{self, Ignored};
use crate::moderation::{IncomingMessage, Moderator};
use serenity::all::{
    ConnectionStage, Context, Event, EventHandler, Guild, Interaction, Message, MessageUpdateEvent,
    Ready,
    ResumedEvent, ShardStageUpdateEvent,
};
use serenity::async_trait;
use serenity::gateway::CollectorCallback;
use serenity::http::RatelimitInfo;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// The event handler given to serenity.
pub struct Handler {
    pub(super) moderator: Arc<Moderator>,
    /// Set right after the serenity client is built (events only flow once
    /// it is started, so it is always set when they arrive).
    pub(super) actions: Arc<OnceLock<Arc<DiscordActions>>>,
    /// Moderate messages of other bots and webhooks (setting
    /// `discord.moderate_bots`, read at start; the policy's `moderate_bots`
    /// overrides it when present).
    pub(super) moderate_bots: bool,
    /// Answers `/linkguard`, DMs and mentions.
    pub(super) commands: crate::commands::Commands,
    /// Role ids whose members may change rules.
    pub(super) admin_roles: Vec<String>,
    /// Where translated messages wait to be recorded.
    pub(super) intake: Arc<Intake>,
    /// The company's servers (`discord.guild_ids`).
    pub(super) guilds: Arc<Guilds>,
}

impl Handler {
    /// Whether a message is skipped, and why.
    async fn skip(
        &self,
        actions: &DiscordActions,
        author: &serenity::all::User,
        webhook_id: Option<u64>,
        channel: u64,
    ) -> Option<Ignored> {
        let own_webhook = match webhook_id {
            Some(w) => actions.is_own_webhook(w, channel).await,
            None => false,
        };
        translate::ignored(
            author,
            webhook_id,
            actions.bot_id(),
            own_webhook,
            self.moderator.moderate_bots(self.moderate_bots),
        )
    }

    /// Queues the message for recording (the queue retries a failing store)
    /// and, once recorded, its action.
    async fn process(&self, msg: IncomingMessage, actions: &Arc<DiscordActions>) {
        self.intake.push(msg, actions.clone()).await;
    }
}

impl Handler {
    /// Moderates the message a thread's starter message points at, in its
    /// own (parent) channel. The reference carries no member, so the
    /// author's roles (for exemptions) come from the cache or, failing that,
    /// from Discord; without them the message is moderated as a non-member's.
    async fn starter(
        &self,
        ctx: &Context,
        actions: &Arc<DiscordActions>,
        starter: &Message,
        source: &Message,
        received: Instant,
    ) {
        let guild = source.guild_id.or(starter.guild_id);
        let at = actions.placement(guild, source.channel_id).await;
        if let Some(why) = self
            .skip(
                actions,
                &source.author,
                source.webhook_id.map(|w| w.get()),
                at.channel,
            )
            .await
        {
            tracing::trace!(message.id = %source.id, ?why, "ignoring a thread's starter message");
            return;
        }
        let mut incoming = translate::from_starter(source, at, received);
        if incoming.text.is_empty() {
            return;
        }
        if let (Some(g), None) = (guild, source.member.as_ref()) {
            let cached = ctx.cache.guild(g).and_then(|guild| {
                guild
                    .members
                    .get(&source.author.id)
                    .map(|m| m.roles.iter().map(ToString::to_string).collect::<Vec<_>>())
            });
            let roles = match cached {
                Some(r) => Some(r),
                None => ctx
                    .http
                    .get_member(g, source.author.id)
                    .await
                    .ok()
                    .map(|m| m.roles.iter().map(ToString::to_string).collect()),
            };
            if let Some(roles) = roles {
                incoming.author.roles = roles;
            }
        }
        self.process(incoming, actions).await;
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        // Each READY is a new shard runner (a re-identify starts a fresh
        // one): give it the back-pressure gate, run inline before each
        // message event is dispatched.
        let intake = self.intake.clone();
        ctx.shard
            .add_collector(CollectorCallback(Box::new(move |event| {
                if matches!(event, Event::MessageCreate(_) | Event::MessageUpdate(_)) {
                    intake.gate();
                }
                true
            })));
        crate::metrics::global().set_connected("discord", true);
        self.guilds.remove_stale_global(&ctx).await;
        tracing::info!(bot.id = %ready.user.id, guilds = ready.guilds.len(), "connected to the Discord gateway");
    }

    async fn guild_create(&self, ctx: Context, guild: Guild, _is_new: Option<bool>) {
        self.guilds.on_guild_create(&ctx, &guild).await;
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        crate::metrics::global().reconnect("discord");
        crate::metrics::global().set_connected("discord", true);
        tracing::info!("Discord gateway session resumed");
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        let up = event.new == ConnectionStage::Connected;
        crate::metrics::global().set_connected("discord", up);
        if !up && event.old == ConnectionStage::Connected {
            tracing::warn!(stage = ?event.new, "Discord gateway connection lost; reconnecting");
        }
    }

    async fn ratelimit(&self, info: RatelimitInfo) {
        crate::metrics::global().rate_limit_wait("discord");
        tracing::debug!(path = %info.path, wait_ms = info.timeout.as_millis() as u64, global = info.global, "waiting out a Discord rate limit");
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Command(cmd) = interaction {
            super::commands::on_command(
                &ctx,
                &cmd,
                &self.commands,
                &self.admin_roles,
                &self.guilds,
            )
            .await;
        }
    }

    async fn message(&self, ctx: Context, msg: Message) {
        let received = Instant::now();
        let Some(actions) = self.actions.get() else {
            return;
        };
        // A thread's starter points at the message it was started from:
        // that message is what is moderated (a duplicate if it already was).
        if let Some(source) = translate::starter_source(&msg) {
            self.starter(&ctx, actions, &msg, source, received).await;
            return;
        }
        // Joins, pins and other system messages carry no text to check.
        if !translate::has_text(&msg) {
            return;
        }
        if self.guilds.foreign(msg.guild_id, "a message").await {
            return;
        }
        let at = actions.placement(msg.guild_id, msg.channel_id).await;
        if let Some(why) = self
            .skip(
                actions,
                &msg.author,
                msg.webhook_id.map(|w| w.get()),
                at.channel,
            )
            .await
        {
            tracing::trace!(message.id = %msg.id, ?why, "ignoring a discord message");
            return;
        }
        if super::commands::on_question(&ctx, &msg, actions.bot_id(), &self.commands, &self.guilds)
            .await
            || msg.guild_id.is_none()
        {
            return;
        }
        self.process(translate::from_create(&msg, at, received), actions)
            .await;
    }

    async fn message_update(
        &self,
        _ctx: Context,
        _old: Option<Message>,
        new: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        let received = Instant::now();
        let Some(actions) = self.actions.get() else {
            return;
        };
        // A partial update without content (an unfurl, a pin) is not a new
        // revision of the text.
        if event.content.is_none() {
            return;
        }
        // An edit in a DM is a question edited, not a post to moderate.
        if event.guild_id.is_none() || self.guilds.foreign(event.guild_id, "an edit").await {
            return;
        }
        let fallback = new.as_ref().map(|m| &m.author);
        let Some(author) = event.author.as_ref().or(fallback) else {
            tracing::debug!(message.id = %event.id, "an edit without its author; skipped");
            return;
        };
        let webhook_id = event
            .webhook_id
            .flatten()
            .or_else(|| new.as_ref().and_then(|m| m.webhook_id))
            .map(|w| w.get());
        let at = actions.placement(event.guild_id, event.channel_id).await;
        if let Some(why) = self.skip(actions, author, webhook_id, at.channel).await {
            tracing::trace!(message.id = %event.id, ?why, "ignoring a discord edit");
            return;
        }
        if let Some(incoming) = translate::from_update(&event, Some(author), at, received) {
            self.process(incoming, actions).await;
        }
    }
}
