//! The Discord connector: serenity on the gateway (GUILDS, GUILD_MESSAGES,
//! MESSAGE_CONTENT, DIRECT_MESSAGES), translating messages and edits into the
//! platform-neutral pipeline and carrying out its actions over REST.
//!
//! - `translate`: pure mapping of serenity's models, and which messages are
//!   ignored (our own bot and webhooks always; other bots and webhooks unless
//!   the stored setting `discord.moderate_bots` is `true`).
//! - `actions`: [`DiscordActions`], the [`crate::moderation::PlatformActions`]
//!   for Discord (webhook reposts under the author's name, deletes, replies,
//!   DMs), mapping refusals so actions degrade.
//! - `handler`: serenity's event handler.
//! - `commands`: `/linkguard` (registered in each allowed server), DMs and
//!   mentions, handed to [`crate::commands::Commands`].
//! - `tenancy`: which servers are the company's (`discord.guild_ids`):
//!   events from others are dropped, others are left, admin rights exist
//!   only in allowed servers.
//! - `catchup`: after a restart or a session Discord would not resume, each
//!   channel's history after its stored cursor is read back through the same
//!   path, so nothing posted while linkguard was down stays up.
//! - `automod`: with `discord.automod`, AutoMod rules for what AutoMod can
//!   express of the policy (blocked before posting), kept in sync.
//! - `context_menu`: the "Check links" message command.
//! - `requests`: exception requests with buttons and a modal, decided by
//!   admins in `discord.admin_channel_id`.
//!
//! HTTP: by default serenity's own client to `https://discord.com`, with its
//! rate limiter on. A test (or the demo) may inject a `reqwest` client (one
//! that resolves discord.com to a fake and trusts its CA): the production
//! path, limiter included. With `discord.proxy_url` serenity talks to a REST
//! proxy instead and its limiter is off, since serenity's limiter bypasses
//! the proxy and the proxy owns rate limiting then. The gateway URL always
//! comes from `GET /gateway`.

mod actions;
mod admins;
mod answer;
pub mod automod;
pub mod catchup;
mod commands;
mod components;
pub mod context_menu;
mod handler;
mod intake;
mod requests;
pub mod tenancy;
pub mod translate;

pub use actions::{DiscordActions, WEBHOOK_NAME};
pub use admins::ConsoleAdmins;

use crate::app::ShutdownHook;
use crate::config::{DiscordConfig, ShardRange};
use crate::moderation::{Moderator, Platform};
use crate::store::StoreError;
use base64::Engine as _;
use serenity::all::{
    Client, ClientBuilder, GatewayIntents, Http, HttpBuilder, Permissions, ShardManager,
};
use std::sync::{Arc, OnceLock};
use tokio::task::JoinHandle;

/// The stored setting that makes linkguard moderate other bots' and
/// webhooks' messages too (`true`; default off, see [`translate::ignored`]).
pub const MODERATE_BOTS_SETTING: &str = Platform::Discord.moderate_bots_setting();

/// The gateway intents linkguard asks for. MESSAGE_CONTENT is privileged and
/// must be switched on in the developer portal.
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::DIRECT_MESSAGES
}

/// The permissions linkguard needs in every moderated channel: see, post and
/// reply (Read Message History is needed to reply), post in threads, delete
/// (Manage Messages), repost under the author's name (Manage Webhooks), and
/// show a preview of the approved link (Embed Links).
pub fn permissions() -> Permissions {
    Permissions::VIEW_CHANNEL
        | Permissions::SEND_MESSAGES
        | Permissions::SEND_MESSAGES_IN_THREADS
        | Permissions::READ_MESSAGE_HISTORY
        | Permissions::EMBED_LINKS
        | Permissions::MANAGE_MESSAGES
        | Permissions::MANAGE_WEBHOOKS
}

/// The URL that adds the bot to a server with [`permissions`]. The
/// `applications.commands` scope is included so that slash commands work
/// without inviting the bot again.
pub fn invite_url(application_id: u64) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application_id}&scope=bot+applications.commands&permissions={}",
        permissions().bits()
    )
}

/// The application id encoded in a bot token (its first part is the bot
/// user's id in base64, and a bot user's id is its application's id).
pub fn application_id_from_token(token: &str) -> Option<u64> {
    let first = token.trim().trim_start_matches("Bot ").split('.').next()?;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(first.trim_end_matches('='))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(first.trim_end_matches('='))
        })
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .parse()
        .ok()
        .filter(|id| *id != 0)
}

/// Why the connector could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscordError {
    /// Building the serenity client failed.
    #[error("building the Discord client: {0}")]
    Client(#[from] serenity::Error),
    /// Reading the connector's settings failed.
    #[error("reading Discord settings: {0}")]
    Store(#[from] StoreError),
    /// `discord.guild_ids` is empty: the connector would not know whose
    /// server it moderates.
    #[error("{}", crate::config::NO_GUILD_IDS)]
    NoGuilds,
}

/// A started connector: its background task and how to stop it.
pub struct Connector {
    /// The gateway task (it first finishes actions left pending by an
    /// earlier run, then connects).
    pub tasks: Vec<JoinHandle<()>>,
    /// Closes the gateway cleanly (ending the session).
    pub shutdown: ShutdownHook,
    /// The actions, for callers that need to act on Discord themselves.
    pub actions: Arc<DiscordActions>,
    /// The admin check, for the web console.
    pub admins: ConsoleAdmins,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

/// serenity's HTTP client for `config`: its token, `client` instead of
/// serenity's default one when given (tests), and with `discord.proxy_url`
/// the REST proxy, serenity's rate limiter off (the proxy owns it).
pub fn http_builder(config: &DiscordConfig, client: Option<reqwest::Client>) -> HttpBuilder {
    let mut http = HttpBuilder::new(config.token.expose());
    if let Some(c) = client {
        http = http.client(c);
    }
    if let Some(proxy) = &config.proxy_url {
        http = http.proxy(proxy.as_str()).ratelimiter_disabled(true);
    }
    http
}

/// Builds the serenity client and starts it in the background. `client` is
/// the HTTP client to use instead of serenity's default (tests); the rate
/// limiter stays on unless `config.proxy_url` is set.
///
/// The order is the point: the handler before the client, the actions
/// before anything that acts, the retry loop beside the gateway.
pub async fn start(
    config: &DiscordConfig,
    moderator: Arc<Moderator>,
    client: Option<reqwest::Client>,
) -> Result<Connector, DiscordError> {
    if config.guild_ids.is_empty() {
        return Err(DiscordError::NoGuilds);
    }
    let http = http_builder(config, client);
    let moderate_bots = moderator.stored_moderate_bots(Platform::Discord).await;
    crate::metrics::global().set_connected("discord", false);
    let (intake, mut tasks) = intake::Intake::start(moderator.clone(), config.queue_capacity);
    let handler = handler::Handler::new(config, moderator.clone(), moderate_bots, intake.clone());
    let (tracker, guilds) = (handler.catchup.clone(), handler.guilds.clone());
    let (actions_slot, automod_slot) = (handler.actions.clone(), handler.automod.clone());
    let client = ClientBuilder::new_with_http(http.build(), wanted_intents(config))
        .event_handler_arc(handler)
        .await?;
    let actions = Arc::new(DiscordActions::new(
        client.http.clone(),
        client.cache.clone(),
        moderator.store().clone(),
    ));
    let _ = actions_slot.set(actions.clone());
    tasks.extend(start_native(
        config,
        &moderator,
        &client.http,
        &actions,
        &automod_slot,
    ));
    let shutdown = shutdown_hook(intake, tracker.clone(), client.shard_manager.clone());
    let admins = ConsoleAdmins {
        http: client.http.clone(),
        guilds,
        admin_roles: config.admin_roles.clone(),
        guild_ids: config.guild_ids.clone(),
    };
    let retrying = moderator.spawn_retries(Platform::Discord, actions.clone());
    tasks.push(spawn_gateway(client, config.shards));
    tasks.push(retrying);
    tasks.push(tokio::spawn(tracker.run_flusher()));
    Ok(Connector {
        tasks,
        shutdown,
        actions,
        admins,
    })
}

/// The gateway intents to ask for: AutoMod's too with `discord.automod`.
fn wanted_intents(config: &DiscordConfig) -> GatewayIntents {
    if config.native.automod {
        intents() | automod::intents()
    } else {
        intents()
    }
}

/// Starts what Discord's native features run beside the gateway: the
/// delivery of exception requests to `discord.admin_channel_id` (and the
/// notices' request button), and AutoMod sync with `discord.automod`.
fn start_native(
    config: &DiscordConfig,
    moderator: &Arc<Moderator>,
    http: &Arc<Http>,
    actions: &DiscordActions,
    automod_slot: &OnceLock<Arc<automod::Sync>>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(channel) = config.native.admin_channel_id {
        actions.offer_requests();
        tasks.push(tokio::spawn(requests::run_delivery(
            http.clone(),
            moderator.store().clone(),
            channel,
        )));
    }
    if config.native.automod {
        let sync = automod::Sync::new(
            http.clone(),
            moderator.clone(),
            &config.guild_ids,
            config.native.automod_alert_channel_id,
        );
        let _ = automod_slot.set(sync.clone());
        tasks.push(tokio::spawn(sync.run()));
    }
    tasks
}

/// Connects to the gateway in the background: this replica's shard range,
/// or every shard.
fn spawn_gateway(mut client: Client, shards: Option<ShardRange>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // serenity treats the range's end as the last shard id (inclusive).
        let started = match shards {
            Some(r) => client.start_shard_range(r.first..r.last, r.total).await,
            None => client.start().await,
        };
        if let Err(e) = started {
            crate::metrics::global().set_connected("discord", false);
            tracing::error!(error = %e, "the Discord gateway stopped");
        }
    })
}

/// Closes the connector: the gateway first, then records what was received
/// and stores the channels' cursors.
fn shutdown_hook(
    intake: Arc<intake::Intake>,
    tracker: Arc<catchup::Tracker>,
    shard_manager: Arc<ShardManager>,
) -> ShutdownHook {
    Box::pin(async move {
        // Unpause a gateway waiting for room first, or it cannot close.
        intake.close_gate();
        tracker.close();
        shard_manager.shutdown_all().await;
        crate::metrics::global().set_connected("discord", false);
        // Record what was received (the app bounds this by its deadline).
        intake.close().await;
        tracker.flush().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_url_names_the_permissions_linkguard_needs() {
        assert_eq!(permissions().bits(), 275_414_871_040);
        assert_eq!(
            invite_url(1_191_168_914_227_331_073),
            "https://discord.com/oauth2/authorize?client_id=1191168914227331073&scope=bot+applications.commands&permissions=275414871040"
        );
        assert_eq!(intents().bits(), 37_377);
    }

    #[test]
    fn the_application_id_is_read_from_the_token() {
        let first = base64::engine::general_purpose::STANDARD_NO_PAD.encode("1191168914227331073");
        assert_eq!(
            application_id_from_token(&format!("{first}.GhIjKl.not-a-real-secret")),
            Some(1_191_168_914_227_331_073)
        );
        assert_eq!(application_id_from_token("FAKE.discord.bot.token"), None);
        assert_eq!(application_id_from_token(""), None);
    }
}
