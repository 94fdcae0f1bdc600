//! What has been handled, per channel, and so how far each channel's cursor
//! may move: live messages in flight, failed and recently finished ones,
//! each shard's session, and which guilds are being caught up (see the
//! module docs of `catchup` for the rules).

use super::{now_ms, snowflake_at, FLUSH_EVERY, GRACE};
use crate::config::CatchUpLimits;
use crate::store::{ChannelCursor, Store};
use serenity::all::{ChannelId, GuildId, MessageId};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Per-shard gateway state.
#[derive(Debug, Clone, Copy)]
struct ShardState {
    /// Whether a READY was seen (the first session is epoch 0).
    ready: bool,
    /// Bumped by every READY after the first (a new session).
    epoch: u64,
    /// Disconnected, not (yet) resumed: nothing may be assumed delivered.
    hold: bool,
    /// Channels created after this snowflake (the session's READY, plus a
    /// margin for clock skew) have had every message delivered live.
    born_after: u64,
}

impl ShardState {
    fn new() -> ShardState {
        ShardState {
            ready: false,
            epoch: 0,
            hold: false,
            born_after: u64::MAX,
        }
    }
}

/// What is known about one channel (or thread).
#[derive(Debug, Default)]
struct Chan {
    guild: u64,
    /// The value in the store, as far as this process knows.
    stored: Option<u64>,
    /// Every message up to here that this process saw has been handled.
    settled: Option<u64>,
    /// Finished within [`GRACE`], in completion order.
    recent: VecDeque<(u64, Instant)>,
    /// Being handled now (an id may be handled twice at once: live and read back).
    in_flight: BTreeMap<u64, u32>,
    /// Could not be recorded: the cursor waits below them.
    failed: BTreeSet<u64>,
    /// The shard epoch in which this channel was caught up.
    synced_epoch: Option<u64>,
    /// The shard epoch in which a catch-up of this channel stopped at
    /// `discord.catch_up_max_messages`: later catch-ups in that session
    /// (READY and GUILD_CREATE each ask for one) leave the channel alone,
    /// so one session reads no more than the bound back.
    bounded_epoch: Option<u64>,
    /// Part of a catch-up plan in this process.
    planned: bool,
}

#[derive(Debug, Default)]
struct State {
    shards: HashMap<u32, ShardState>,
    shard_total: u32,
    channels: HashMap<u64, Chan>,
    /// Guilds whose channels were planned for a catch-up in this process.
    planned_guilds: std::collections::HashSet<u64>,
    /// Guilds being caught up → whether another catch-up was asked for meanwhile.
    running: HashMap<u64, bool>,
}

impl State {
    fn shard_of(&self, guild: u64) -> u32 {
        ((guild >> 22) % u64::from(self.shard_total.max(1))) as u32
    }

    fn shard(&self, guild: u64) -> ShardState {
        self.shards
            .get(&self.shard_of(guild))
            .copied()
            .unwrap_or_else(ShardState::new)
    }

    fn shard_mut(&mut self, shard: u32) -> &mut ShardState {
        self.shards.entry(shard).or_insert_with(ShardState::new)
    }
}

/// Tracks what has been handled per channel and runs catch-ups.
#[derive(Debug)]
pub struct Tracker {
    pub(super) store: Store,
    pub(super) limits: CatchUpLimits,
    state: Mutex<State>,
    pub(super) closed: AtomicBool,
}

/// A message being handled: report how it ended with [`Tracked::finish`]; a
/// guard dropped without it (a panic) counts as failed.
#[derive(Debug)]
pub struct Tracked {
    tracker: Option<Arc<Tracker>>,
    channel: u64,
    id: u64,
}

impl Tracked {
    /// Reports the message handled (`true`) or not recorded (`false`).
    pub fn finish(mut self, ok: bool) {
        if let Some(t) = self.tracker.take() {
            t.complete(self.channel, self.id, ok, Instant::now());
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(t) = self.tracker.take() {
            t.complete(self.channel, self.id, false, Instant::now());
        }
    }
}

impl Tracker {
    /// A tracker writing cursors to `store`.
    pub fn new(store: Store, limits: CatchUpLimits) -> Tracker {
        Tracker {
            store,
            limits,
            state: Mutex::new(State {
                shard_total: 1,
                ..State::default()
            }),
            closed: AtomicBool::new(false),
        }
    }

    /// Whether catch-up is on (`discord.catch_up_max_messages` > 0).
    pub fn enabled(&self) -> bool {
        self.limits.max_messages > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts tracking a guild message (DMs are not tracked). Call before
    /// anything awaits, so that a later message cannot overtake it.
    pub fn begin(
        self: &Arc<Self>,
        guild: Option<GuildId>,
        channel: ChannelId,
        id: MessageId,
    ) -> Tracked {
        let (Some(guild), true) = (guild, self.enabled()) else {
            return Tracked {
                tracker: None,
                channel: 0,
                id: 0,
            };
        };
        let mut st = self.lock();
        let c = st.channels.entry(channel.get()).or_default();
        c.guild = guild.get();
        *c.in_flight.entry(id.get()).or_default() += 1;
        Tracked {
            tracker: Some(self.clone()),
            channel: channel.get(),
            id: id.get(),
        }
    }

    fn complete(&self, channel: u64, id: u64, ok: bool, at: Instant) {
        let mut st = self.lock();
        let Some(c) = st.channels.get_mut(&channel) else {
            return;
        };
        if let Some(n) = c.in_flight.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                c.in_flight.remove(&id);
            }
        }
        if ok {
            c.failed.remove(&id);
            c.recent.push_back((id, at));
        } else {
            c.failed.insert(id);
        }
    }

    /// A READY on `shard` of `total`: a new session, whose guilds must be
    /// caught up before their cursors move again. (The first one needs no new
    /// epoch: nothing was synced before it.)
    pub fn on_ready(&self, shard: u32, total: u32) {
        let mut st = self.lock();
        st.shard_total = total.max(1);
        let s = st.shard_mut(shard);
        if s.ready {
            s.epoch += 1;
        }
        s.ready = true;
        s.hold = false;
        // Margin for clock skew between this host and Discord.
        s.born_after = snowflake_at(now_ms() + 5_000);
    }

    /// The shard lost its connection: hold its cursors until it resumes or
    /// its guilds are caught up after a new READY.
    pub fn on_disconnect(&self, shard: u32) {
        self.lock().shard_mut(shard).hold = true;
    }

    /// The shard resumed: Discord replays what was missed.
    pub fn on_resume(&self, shard: u32) {
        self.lock().shard_mut(shard).hold = false;
    }

    /// The cursors that may move now, moved in memory as if written.
    fn due(&self, now: Instant) -> Vec<ChannelCursor> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let shard_of = |guild: u64| {
            let s = ((guild >> 22) % u64::from(st.shard_total.max(1))) as u32;
            st.shards.get(&s).copied().unwrap_or_else(ShardState::new)
        };
        let mut out = Vec::new();
        for (id, c) in st.channels.iter_mut() {
            let shard = shard_of(c.guild);
            while let Some(&(m, at)) = c.recent.front() {
                if now.duration_since(at) < GRACE {
                    break;
                }
                c.settled = c.settled.max(Some(m));
                c.recent.pop_front();
            }
            let floor = [
                c.in_flight.keys().next().copied(),
                c.failed.first().copied(),
                c.recent.iter().map(|(m, _)| *m).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let synced =
                !shard.hold && (c.synced_epoch == Some(shard.epoch) || *id > shard.born_after);
            let value = if synced {
                match (c.settled, floor) {
                    (Some(s), Some(f)) => s.min(f.saturating_sub(1)),
                    (Some(s), None) => s,
                    (None, _) => continue,
                }
            } else if !c.planned && c.stored.is_none() && st.planned_guilds.contains(&c.guild) {
                // A channel no catch-up covers (a thread or channel created
                // since): remember it from its creation, so the next start
                // reads it back.
                id.saturating_sub(1)
            } else {
                continue;
            };
            if c.stored.is_none_or(|s| value > s) {
                c.stored = Some(value);
                out.push(ChannelCursor {
                    channel: *id,
                    guild: c.guild,
                    last_message: value,
                });
            }
        }
        out
    }

    /// Writes the cursors that may move. On failure they are forgotten as
    /// written, so the next flush tries again.
    pub async fn flush(&self) {
        let due = self.due(Instant::now());
        if due.is_empty() {
            return;
        }
        if let Err(e) = self.store.advance_discord_cursors(&due).await {
            tracing::warn!(error = %e, channels = due.len(), "cannot store Discord channel cursors; will retry");
            let mut st = self.lock();
            for d in &due {
                if let Some(c) = st.channels.get_mut(&d.channel) {
                    if c.stored == Some(d.last_message) {
                        c.stored = None;
                    }
                }
            }
        }
    }

    /// Writes live progress every second until the task is aborted.
    pub async fn run_flusher(self: Arc<Self>) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.flush().await;
        }
    }

    /// Stops catch-ups between messages (shutdown).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// The session epoch of `guild`'s shard, read before a catch-up plans
    /// its channels: a new session meanwhile makes the catch-up count for
    /// the old one only.
    pub(super) fn epoch(&self, guild: u64) -> u64 {
        self.lock().shard(guild).epoch
    }

    /// Notes that `channels` of `guild` are part of a catch-up plan.
    pub(super) fn mark_planned(&self, guild: u64, channels: impl IntoIterator<Item = u64>) {
        let mut st = self.lock();
        st.planned_guilds.insert(guild);
        for id in channels {
            let c = st.channels.entry(id).or_default();
            c.guild = guild;
            c.planned = true;
        }
    }

    pub(super) fn caught_up(&self, channel: u64, guild: u64, epoch: u64, cursor: Option<u64>) {
        let mut st = self.lock();
        let c = st.channels.entry(channel).or_default();
        c.guild = guild;
        c.synced_epoch = Some(epoch);
        if let Some(cursor) = cursor {
            c.settled = c.settled.max(Some(cursor));
            c.stored = c.stored.max(Some(cursor));
        }
    }

    /// Notes that a catch-up of `channel` in session `epoch` stopped at
    /// the bound.
    pub(super) fn bounded(&self, channel: u64, epoch: u64) {
        self.lock()
            .channels
            .entry(channel)
            .or_default()
            .bounded_epoch = Some(epoch);
    }

    /// Whether a catch-up of `channel` already stopped at the bound in
    /// session `epoch`.
    pub(super) fn was_bounded(&self, channel: u64, epoch: u64) -> bool {
        self.lock()
            .channels
            .get(&channel)
            .is_some_and(|c| c.bounded_epoch == Some(epoch))
    }

    /// Asks for a catch-up of `guild`: `true` if the caller is to run it;
    /// if one is running, it runs once more when done (the guild may have
    /// changed, or a new session begun).
    pub(super) fn claim(&self, guild: u64) -> bool {
        let mut st = self.lock();
        match st.running.get_mut(&guild) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                st.running.insert(guild, false);
                true
            }
        }
    }

    /// Whether to run again (and stay claimed), else releases the guild.
    pub(super) fn release(&self, guild: u64) -> bool {
        let mut st = self.lock();
        if st.running.get(&guild).copied().unwrap_or(false) && !self.closed.load(Ordering::Relaxed)
        {
            st.running.insert(guild, false);
            true
        } else {
            st.running.remove(&guild);
            false
        }
    }
}
