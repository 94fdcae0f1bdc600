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
//!
//! Messages read back from history after downtime (see `catchup`) take the
//! same path as MESSAGE_CREATE ([`Handler::on_new_message`]), but are
//! recorded at once (not queued), so a catch-up stops where the store fails.

use super::actions::DiscordActions;
use super::catchup::{Lookup, Tracker};
use super::components;
use super::intake::Intake;
use super::tenancy::Guilds;
use super::translate::{self, Placement};
use crate::moderation::Skip;
use crate::moderation::{IncomingMessage, Moderator, PlatformActions, Step};
use serenity::all::{
    ConnectionStage, Context, Event, EventHandler, Guild, GuildId, Interaction, Message,
    MessageUpdateEvent, Ready, ResumedEvent, ShardStageUpdateEvent, User, UserId,
};
use serenity::async_trait;
use serenity::gateway::CollectorCallback;
use serenity::http::RatelimitInfo;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// How often recording a message read back from history is tried before
/// the catch-up stops there.
const RECORD_ATTEMPTS: u32 = 6;

/// The event handler given to serenity.
pub struct Handler {
    /// AutoMod sync, when `discord.automod` is on (set once the client exists).
    pub(super) automod: Arc<OnceLock<Arc<super::automod::Sync>>>,
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
    /// What has been handled per channel, and catch-ups after downtime.
    pub(super) catchup: Arc<Tracker>,
    /// This handler, for the catch-up tasks it starts.
    pub(super) me: Weak<Handler>,
}

impl Handler {
    /// The handler of a connector about to start: the slots for the
    /// actions and AutoMod sync are set once the client exists.
    pub(super) fn new(
        config: &crate::config::DiscordConfig,
        moderator: Arc<Moderator>,
        moderate_bots: bool,
        intake: Arc<Intake>,
    ) -> Arc<Handler> {
        let catchup = Arc::new(Tracker::new(moderator.store().clone(), config.catch_up));
        let guilds = Arc::new(Guilds::new(&config.guild_ids, moderator.store().clone()));
        Arc::new_cyclic(|me| Handler {
            automod: Arc::new(OnceLock::new()),
            commands: crate::commands::Commands::new(moderator.clone()),
            moderator,
            actions: Arc::new(OnceLock::new()),
            moderate_bots,
            admin_roles: config.admin_roles.clone(),
            intake,
            guilds,
            catchup,
            me: me.clone(),
        })
    }
}

/// Where a new message comes from.
pub(super) enum Source<'a> {
    /// MESSAGE_CREATE on the gateway.
    Live(&'a Context),
    /// Read back from history after downtime: no `member` in REST messages,
    /// and questions are not answered late.
    History(&'a mut Lookup),
}

impl Handler {
    /// Whether a message by `author` (sent through `webhook_id`, if any) in
    /// channel `at` is skipped, and why: the one check of every path (new
    /// messages live and read back, thread starters, edits).
    /// `for_person`: the message speaks for a person (a user-installed
    /// app's answer, see `translate::user_app_invoker`), moderated even
    /// when other bots are not.
    async fn skip(
        &self,
        actions: &DiscordActions,
        author: &User,
        webhook_id: Option<u64>,
        at: &Placement,
        for_person: bool,
    ) -> Option<Skip> {
        let own_webhook = match webhook_id {
            Some(w) => actions.is_own_webhook(w, at.channel).await,
            None => false,
        };
        translate::ignored(
            author,
            webhook_id,
            actions.bot_id(),
            own_webhook,
            for_person || self.moderator.moderate_bots(self.moderate_bots),
        )
    }

    /// [`Handler::skip`] for a whole message.
    async fn skip_message(
        &self,
        actions: &DiscordActions,
        msg: &Message,
        at: &Placement,
    ) -> Option<Skip> {
        let webhook_id = msg.webhook_id.map(|w| w.get());
        let for_person = translate::user_app_invoker(msg.interaction_metadata.as_deref()).is_some();
        self.skip(actions, &msg.author, webhook_id, at, for_person)
            .await
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
        if let Some(why) = self.skip_message(actions, source, &at).await {
            tracing::trace!(message.id = %source.id, ?why, "ignoring a thread's starter message");
            return;
        }
        let mut incoming = translate::from_starter(source, at, received);
        if incoming.text.is_empty() {
            return;
        }
        if let (Some(g), None) = (guild, source.member.as_ref()) {
            if let Some(roles) = roles_of(ctx, g, source.author.id).await {
                incoming.author.roles = roles;
            }
        }
        self.process(incoming, actions).await;
    }

    /// Records a message read back from history at once (retrying a
    /// failing store) and spawns the action. `false` when the detection
    /// could not be recorded.
    async fn record_now(&self, msg: IncomingMessage, actions: &Arc<DiscordActions>) -> bool {
        let mut wait = Duration::from_millis(200);
        for attempt in 1..=RECORD_ATTEMPTS {
            match self.moderator.record(&msg).await {
                Ok(Step::Done(handled)) => {
                    tracing::debug!(channel.id = %msg.channel, message.id = %msg.message_id, revision = %msg.revision, ?handled, "discord message handled");
                    return true;
                }
                Ok(Step::Act(work)) => {
                    let actions: Arc<dyn PlatformActions> = actions.clone();
                    self.moderator.spawn_act(msg, *work, actions);
                    return true;
                }
                Err(e) if attempt < RECORD_ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "recording a detection failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    tracing::error!(channel.id = %msg.channel, message.id = %msg.message_id, error = %e, "recording a detection failed; the message is left unmoderated");
                }
            }
        }
        false
    }

    /// A new message, live or read back: translated, filtered and recorded
    /// alike. `false` when it could not be recorded (catch-up stops there).
    pub(super) async fn on_new_message(&self, source: Source<'_>, mut msg: Message) -> bool {
        // A foreign server's message is dropped before anything else, its
        // channel not tracked for catch-up and a thread started there not
        // moderated.
        if msg.guild_id.is_some() && !self.guilds.allows(msg.guild_id) {
            self.guilds.foreign(msg.guild_id, "a message").await;
            return true;
        }
        // Before anything awaits, so a later message cannot overtake it.
        let tracked = self.catchup.begin(msg.guild_id, msg.channel_id, msg.id);
        let received = Instant::now();
        let Some(actions) = self.actions.get() else {
            return false;
        };
        // A thread's starter points at the message it was started from:
        // that message is what is moderated (a duplicate if it already was;
        // read back, it is in its own channel's history).
        if let Some(starter_of) = translate::starter_source(&msg) {
            if let Source::Live(ctx) = &source {
                self.starter(ctx, actions, &msg, starter_of, received).await;
            }
            tracked.finish(true);
            return true;
        }
        // Joins, pins and other system messages carry no text to check.
        let may_carry = components::may_carry(&msg);
        let has_text = translate::has_text(&msg);
        if !has_text && !may_carry {
            tracked.finish(true);
            return true;
        }
        let at = actions.placement(msg.guild_id, msg.channel_id).await;
        if let Some(why) = self.skip_message(actions, &msg, &at).await {
            tracing::trace!(message.id = %msg.id, ?why, "ignoring a discord message");
            tracked.finish(true);
            return true;
        }
        // Text in display components, which serenity does not keep: read
        // back raw. A message that cannot be read now is left to catch-up.
        let Ok(carried) = components::carried(actions, msg.channel_id, msg.id, may_carry).await
        else {
            tracked.finish(false);
            return false;
        };
        if carried.is_empty() && !has_text {
            tracked.finish(true);
            return true;
        }
        match source {
            Source::Live(ctx) => {
                if super::commands::on_question(
                    ctx,
                    &msg,
                    actions.bot_id(),
                    &self.commands,
                    &self.guilds,
                )
                .await
                    || msg.guild_id.is_none()
                {
                    tracked.finish(true);
                    return true;
                }
                let mut incoming = translate::with_components(
                    translate::from_create(&msg, at, received),
                    &carried,
                );
                // A user-installed app's answer is moderated as its user's:
                // their roles decide exemptions.
                let invoker = translate::user_app_invoker(msg.interaction_metadata.as_deref());
                if let (Some(g), Some(user)) = (msg.guild_id, invoker) {
                    if let Some(roles) = roles_of(ctx, g, user.id).await {
                        incoming.author.roles = roles;
                    }
                }
                // Queued for recording (the queue retries a failing store).
                self.process(incoming, actions).await;
                tracked.finish(true);
                return true;
            }
            Source::History(lookup) => {
                if msg.member.is_none() {
                    match lookup.member(actions, &msg).await {
                        Ok(m) => msg.member = m,
                        Err(e) => {
                            tracing::warn!(message.id = %msg.id, error = %e.0, "cannot read back a message's author");
                            tracked.finish(false);
                            return false;
                        }
                    }
                }
            }
        }
        let incoming =
            translate::with_components(translate::from_create(&msg, at, received), &carried);
        let ok = self.record_now(incoming, actions).await;
        tracked.finish(ok);
        ok
    }
}

/// A member's roles in `guild`, from the cache or else from Discord; `None`
/// when neither knows them.
async fn roles_of(ctx: &Context, guild: GuildId, user: UserId) -> Option<Vec<String>> {
    let cached = ctx.cache.guild(guild).and_then(|g| {
        g.members
            .get(&user)
            .map(|m| m.roles.iter().map(ToString::to_string).collect::<Vec<_>>())
    });
    match cached {
        Some(r) => Some(r),
        None => ctx
            .http
            .get_member(guild, user)
            .await
            .ok()
            .map(|m| m.roles.iter().map(ToString::to_string).collect()),
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
        // A new session: what was posted meanwhile is read back (its guilds
        // follow in GUILD_CREATE; asking here too covers a GUILD_CREATE
        // handled before this READY). Only the company's servers.
        let (shard, total) = ready.shard.map_or((0, 1), |s| (s.id.0, s.total));
        self.catchup.on_ready(shard, total);
        for g in &ready.guilds {
            if self.guilds.allows(Some(g.id)) {
                self.catch_up(&ctx, g.id);
            }
        }
        self.guilds.remove_stale_global(&ctx).await;
        tracing::info!(bot.id = %ready.user.id, guilds = ready.guilds.len(), "connected to the Discord gateway");
    }

    async fn resume(&self, ctx: Context, _event: ResumedEvent) {
        self.catchup.on_resume(ctx.shard_id.0);
        crate::metrics::global().reconnect("discord");
        crate::metrics::global().set_connected("discord", true);
        tracing::info!("Discord gateway session resumed");
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        let up = event.new == ConnectionStage::Connected;
        crate::metrics::global().set_connected("discord", up);
        if !up && event.old == ConnectionStage::Connected {
            self.catchup.on_disconnect(event.shard_id.0);
            tracing::warn!(stage = ?event.new, "Discord gateway connection lost; reconnecting");
        }
    }

    async fn ratelimit(&self, info: RatelimitInfo) {
        crate::metrics::global().rate_limit_wait("discord");
        tracing::debug!(path = %info.path, wait_ms = info.timeout.as_millis() as u64, global = info.global, "waiting out a Discord rate limit");
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Command(cmd) = &interaction {
            if cmd.data.kind == serenity::all::CommandType::Message {
                super::context_menu::on_check_links(&ctx, cmd, &self.commands, &self.guilds).await;
                return;
            }
        }
        match &interaction {
            Interaction::Component(comp) => {
                super::requests::on_component(
                    &ctx,
                    comp,
                    &self.commands,
                    &self.guilds,
                    &self.admin_roles,
                )
                .await;
                return;
            }
            Interaction::Modal(modal) => {
                super::requests::on_modal(&ctx, modal, &self.commands, &self.guilds).await;
                return;
            }
            Interaction::Autocomplete(ac) => {
                // linkguard's commands offer no suggestions: an empty list,
                // rather than an interaction left unanswered.
                let empty = serenity::all::CreateInteractionResponse::Autocomplete(
                    serenity::all::CreateAutocompleteResponse::new(),
                );
                if let Err(e) = ac.create_response(&ctx.http, empty).await {
                    tracing::debug!(error = %e, "could not answer an autocomplete");
                }
                return;
            }
            _ => {}
        }
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

    async fn guild_role_update(
        &self,
        _ctx: Context,
        _old: Option<serenity::all::Role>,
        new: serenity::all::Role,
    ) {
        if let Some(sync) = self.automod.get() {
            sync.on_role_update(new.guild_id);
        }
    }

    async fn auto_moderation_rule_create(&self, _ctx: Context, rule: serenity::all::Rule) {
        if let Some(sync) = self.automod.get() {
            sync.on_rule_event(&rule, "created");
        }
    }

    async fn auto_moderation_rule_update(&self, _ctx: Context, rule: serenity::all::Rule) {
        if let Some(sync) = self.automod.get() {
            sync.on_rule_event(&rule, "edited");
        }
    }

    async fn auto_moderation_rule_delete(&self, _ctx: Context, rule: serenity::all::Rule) {
        if let Some(sync) = self.automod.get() {
            sync.on_rule_event(&rule, "deleted");
        }
    }

    async fn auto_moderation_action_execution(
        &self,
        _ctx: Context,
        execution: serenity::all::ActionExecution,
    ) {
        if let Some(sync) = self.automod.get() {
            sync.on_execution(&execution).await;
        }
    }

    async fn guild_create(&self, ctx: Context, guild: Guild, _is_new: Option<bool>) {
        self.guilds.on_guild_create(&ctx, &guild).await;
        if self.guilds.allows(Some(guild.id)) {
            self.catch_up(&ctx, guild.id);
        }
    }

    async fn message(&self, ctx: Context, msg: Message) {
        self.on_new_message(Source::Live(&ctx), msg).await;
    }

    async fn message_update(
        &self,
        ctx: Context,
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
        let invoker = translate::user_app_invoker(
            event
                .interaction_metadata
                .as_ref()
                .and_then(|m| m.as_deref()),
        )
        .or_else(|| {
            new.as_ref()
                .and_then(|m| translate::user_app_invoker(m.interaction_metadata.as_deref()))
        });
        let at = actions.placement(event.guild_id, event.channel_id).await;
        if let Some(why) = self
            .skip(actions, author, webhook_id, &at, invoker.is_some())
            .await
        {
            tracing::trace!(message.id = %event.id, ?why, "ignoring a discord edit");
            return;
        }
        // An integration's edit of a message whose text is in display
        // components (its `content` stays empty): read back raw, as for a
        // new message; without it when it cannot be read (no catch-up for
        // edits), which the warning says.
        let bare = components::edit_may_carry(&event, author, webhook_id.is_some());
        let carried = components::carried(actions, event.channel_id, event.id, bare)
            .await
            .unwrap_or_default();
        if let Some(incoming) = translate::from_update(&event, Some(author), invoker, at, received)
        {
            let mut incoming = translate::with_components(incoming, &carried);
            // A user-installed app's edited answer: its user's roles decide
            // exemptions, as for its first post.
            if let (Some(g), Some(user)) = (event.guild_id, invoker) {
                if let Some(roles) = roles_of(&ctx, g, user.id).await {
                    incoming.author.roles = roles;
                }
            }
            self.process(incoming, actions).await;
        }
    }
}
