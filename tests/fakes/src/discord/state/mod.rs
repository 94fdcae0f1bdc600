//! The fake's world: messages, webhooks, interactions, commands, recorded calls, injected
//! faults and gateway sessions, plus the dispatch logic that routes an event to the right
//! shard sessions with Discord's intent and MESSAGE_CONTENT rules.
//!
//! Everything sits behind one mutex so an event is numbered, buffered for resume and handed to
//! the live connection in one step: that is what makes "no event lost or doubled across a drop"
//! provable.

mod dispatch;
mod faults;
mod messages;
mod records;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::config::{FakeDiscordConfig, GuildSpec};
use super::payloads;

pub(crate) use dispatch::{Conn, ContentExemption, GatewayEvent, Outbound, Session};
pub use faults::Times;
pub(crate) use faults::{Fault, FaultKind};
pub use records::{
    DispatchRecord, GatewayStats, InteractionRecord, RecordedCall, RouteKind, SessionInfo,
    StoredMessage, StoredWebhook,
};

/// The fake's whole state; tests read it through [`super::FakeDiscord::wait_until`] and the
/// accessors below.
#[derive(Debug)]
pub struct DiscordState {
    pub(crate) config: FakeDiscordConfig,
    pub(crate) calls: Vec<RecordedCall>,
    pub(crate) messages: BTreeMap<u64, StoredMessage>,
    pub(crate) webhooks: BTreeMap<u64, StoredWebhook>,
    pub(crate) interactions: BTreeMap<u64, InteractionRecord>,
    pub(crate) global_commands: Vec<Value>,
    pub(crate) guild_commands: HashMap<u64, Vec<Value>>,
    pub(crate) left_guilds: Vec<u64>,
    pub(crate) sessions: Vec<Session>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) dm_channels: BTreeMap<u64, u64>,
    pub(crate) interaction_waiters: HashMap<u64, oneshot::Sender<Value>>,
    pub(crate) open_conns: BTreeMap<u64, mpsc::UnboundedSender<Outbound>>,
    pub(crate) stats: GatewayStats,
    pub(crate) dispatches: Vec<DispatchRecord>,
    pub(crate) last_snowflake: u64,
    pub(crate) next_conn_id: u64,
    pub(crate) command_version: u64,
    pub(crate) gateway_url: String,
    pub(crate) automod: super::automod::AutoModState,
    pub(crate) automod_blocked: Vec<String>,
}

impl DiscordState {
    pub(crate) fn new(config: FakeDiscordConfig, gateway_url: String) -> Self {
        Self {
            config,
            calls: Vec::new(),
            messages: BTreeMap::new(),
            webhooks: BTreeMap::new(),
            interactions: BTreeMap::new(),
            global_commands: Vec::new(),
            guild_commands: HashMap::new(),
            left_guilds: Vec::new(),
            sessions: Vec::new(),
            faults: Vec::new(),
            dm_channels: BTreeMap::new(),
            interaction_waiters: HashMap::new(),
            open_conns: BTreeMap::new(),
            stats: GatewayStats::default(),
            dispatches: Vec::new(),
            last_snowflake: 0,
            next_conn_id: 1,
            command_version: 1_455_128_208_998_531_085,
            gateway_url,
            automod: Default::default(),
            automod_blocked: Vec::new(),
        }
    }

    /// Every REST call so far, in order.
    pub fn calls(&self) -> &[RecordedCall] {
        &self.calls
    }

    /// REST calls to one route.
    pub fn calls_to(&self, route: RouteKind) -> Vec<&RecordedCall> {
        self.calls.iter().filter(|c| c.route == route).collect()
    }

    /// Messages of a channel or thread, oldest first, deleted ones included.
    pub fn messages(&self, channel: u64) -> Vec<&StoredMessage> {
        self.messages
            .values()
            .filter(|m| m.channel_id == channel)
            .collect()
    }

    /// A message by id.
    pub fn message(&self, id: u64) -> Option<&StoredMessage> {
        self.messages.get(&id)
    }

    /// Webhooks the bot created.
    pub fn webhooks(&self) -> Vec<&StoredWebhook> {
        self.webhooks.values().collect()
    }

    /// Interactions, oldest first.
    pub fn interactions(&self) -> Vec<&InteractionRecord> {
        self.interactions.values().collect()
    }

    /// The current global command set.
    pub fn global_commands(&self) -> &[Value] {
        &self.global_commands
    }

    /// Guilds the bot left (`DELETE /users/@me/guilds/{g}`), in order.
    pub fn left_guilds(&self) -> &[u64] {
        &self.left_guilds
    }

    /// Whether the bot is (still) a member of `guild`.
    pub fn in_guild(&self, guild: u64) -> bool {
        self.guild(guild).is_some()
    }

    /// The current command set of a guild.
    pub fn guild_commands(&self, guild: u64) -> &[Value] {
        self.guild_commands.get(&guild).map_or(&[], Vec::as_slice)
    }

    /// Gateway sessions, oldest first.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.sessions
            .iter()
            .map(|s| SessionInfo {
                session_id: s.id.clone(),
                shard: s.shard,
                intents: s.intents,
                seq: s.seq,
                connected: s.conn.is_some(),
                resumable: s.alive,
            })
            .collect()
    }

    /// Sessions that are alive and have a websocket attached.
    pub fn connected_sessions(&self) -> usize {
        self.sessions
            .iter()
            .filter(|s| s.alive && s.conn.is_some())
            .count()
    }

    /// Gateway counters.
    pub fn gateway_stats(&self) -> GatewayStats {
        self.stats
    }

    /// Every dispatch the fake produced (READY and GUILD_CREATE included).
    pub fn dispatches(&self) -> &[DispatchRecord] {
        &self.dispatches
    }

    /// The configuration (with runtime permission changes applied).
    pub fn config(&self) -> &FakeDiscordConfig {
        &self.config
    }

    pub(crate) fn snowflake(&mut self) -> u64 {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let candidate = now_ms.saturating_sub(payloads::DISCORD_EPOCH_MS) << 22;
        self.last_snowflake = candidate.max(self.last_snowflake + 1);
        self.last_snowflake
    }

    pub(crate) fn guild(&self, id: u64) -> Option<&GuildSpec> {
        self.config.guilds.iter().find(|g| g.id == id)
    }

    /// Where a channel lives: `Some(guild)` for guild channels, `None` inside for DMs.
    pub(crate) fn channel_home(&self, channel: u64) -> Option<Option<u64>> {
        if let Some(g) = self.config.guild_of_channel(channel) {
            return Some(Some(g.id));
        }
        self.dm_channels
            .values()
            .any(|c| *c == channel)
            .then_some(None)
    }

    pub(crate) fn dm_recipient(&self, channel: u64) -> Option<u64> {
        self.dm_channels
            .iter()
            .find(|(_, c)| **c == channel)
            .map(|(u, _)| *u)
    }

    pub(crate) fn dm_channel_for(&mut self, user: u64) -> u64 {
        if let Some(c) = self.dm_channels.get(&user) {
            return *c;
        }
        let id = self.snowflake();
        self.dm_channels.insert(user, id);
        id
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
