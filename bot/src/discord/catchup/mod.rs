//! Catch-up after downtime: messages posted while linkguard was not
//! listening (a deploy, a crash, a gateway session Discord would not resume)
//! are read back from each channel's history and go through the same
//! translation, dedupe keys and recording as live MESSAGE_CREATE events.
//!
//! **Why history and not a resumed session.** serenity 0.12 cannot start a
//! client by resuming a stored session: `Shard::new` always begins with no
//! session id and sequence 0, the shard queuer builds every shard that way
//! (identifying on Hello), `Shard`'s session id and sequence have no setters,
//! and serenity never uses READY's `resume_gateway_url` (it reconnects to the
//! `GET /gateway` URL). Resuming across a process restart would need a fork of
//! serenity's gateway, and Discord keeps a session resumable only briefly
//! anyway; so nothing of the gateway session is persisted. Within one process,
//! serenity resumes by itself and Discord replays what was missed; when it
//! cannot (Invalid Session, a new READY) the channels are read back here.
//!
//! **When.** Every GUILD_CREATE (after each READY, i.e. at start and after
//! every non-resumed reconnect, and when a guild comes back from an outage)
//! starts a catch-up of that guild: its text, announcement, voice and stage
//! channels and its active threads, skipping those the bot cannot see.
//!
//! **Where from.** Each channel's cursor in the store (the newest message up
//! to which everything is handled). A channel without one (linkguard never
//! read it) is read back only for [`UNSEEN_WINDOW`]; no channel is read
//! further back than `discord.catch_up_max_age_secs` (kept below the
//! idempotency keys' lifetime, so nothing read back can be acted on twice), nor
//! for more than `discord.catch_up_max_messages` messages. Pages of 100 are
//! read oldest first with `after=`; serenity's rate limiter (or, behind a REST
//! proxy, our retries) honours 429s.
//!
//! **Cursors.** A catch-up writes the channel's cursor once its messages are
//! recorded. Live messages move cursors too, written in batches every second:
//! a cursor never passes a message still being recorded, one whose recording
//! failed, or one completed in the last [`GRACE`] (serenity runs each event in
//! its own task, so a later message can finish before an earlier one has even
//! started). While a shard is disconnected, or until its channels are caught
//! up after a new session, its cursors stay where they are. Reading a message
//! twice is harmless (its idempotency key is found); skipping one is not, so
//! every doubt keeps the cursor back.
//!
//! **Limits.** Edits made during downtime to messages older than the cursor
//! are not seen (history is read by id, not by edit time); DMs are not caught
//! up; and questions to the bot (mentions) read back are moderated but not
//! answered, since an answer has no idempotency key.

use super::actions::DiscordActions;
use super::handler::{Handler, Source};
use crate::config::CatchUpLimits;
use crate::store::{ChannelCursor, Store};
use linkguard_rules::prefilter::{Encoding, Prefilter};
use serenity::all::{
    ChannelId, ChannelType, Context, GuildChannel, GuildId, HttpError, Message, MessageId,
    MessagePagination, PartialMember, Permissions, UserId,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod read;

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// How far back a channel linkguard has never read is caught up.
pub const UNSEEN_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How long a finished live message keeps the cursor from passing it.
pub const GRACE: Duration = Duration::from_secs(2);

/// How often live progress is written to the store.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Discord's largest page of channel messages.
const PAGE: u8 = 100;

/// How often a failing history request is tried before the channel is left
/// for the next catch-up.
const PAGE_ATTEMPTS: u32 = 3;

/// The Unix time (ms) a snowflake was minted.
pub fn snowflake_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

/// The smallest snowflake Discord could mint at Unix time `ms`.
pub fn snowflake_at(ms: u64) -> u64 {
    ms.saturating_sub(DISCORD_EPOCH_MS) << 22
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where reading a channel's history starts (exclusive), given its stored
/// cursor, the channel's own id (every message in it is newer; a forum post's
/// first message shares the thread's id), the limits and the time now.
pub fn start_after(stored: Option<u64>, channel: u64, limits: &CatchUpLimits, now_ms: u64) -> u64 {
    let age = Duration::from_secs(limits.max_age_secs);
    let oldest = |window: Duration| snowflake_at(now_ms.saturating_sub(window.as_millis() as u64));
    let created = channel.saturating_sub(1);
    match stored {
        Some(cursor) => cursor.max(oldest(age)).max(created),
        None => oldest(UNSEEN_WINDOW.min(age)).max(created),
    }
}

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
    store: Store,
    limits: CatchUpLimits,
    state: Mutex<State>,
    closed: AtomicBool,
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

/// How reading one channel ended.
#[derive(Debug)]
enum Read {
    /// Everything up to `cursor` is handled; `handled` messages were read back.
    Done {
        cursor: u64,
        handled: usize,
        truncated: bool,
    },
    /// A message could not be recorded; everything before `cursor` is handled.
    Stopped { cursor: u64, handled: usize },
    /// Discord refused (no access) or the channel is gone.
    Refused(String),
    /// Discord kept failing; try again at the next catch-up.
    Failed(String),
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

    fn caught_up(&self, channel: u64, guild: u64, epoch: u64, cursor: Option<u64>) {
        let mut st = self.lock();
        let c = st.channels.entry(channel).or_default();
        c.guild = guild;
        c.synced_epoch = Some(epoch);
        if let Some(cursor) = cursor {
            c.settled = c.settled.max(Some(cursor));
            c.stored = c.stored.max(Some(cursor));
        }
    }

    /// Asks for a catch-up of `guild`: `true` if the caller is to run it;
    /// if one is running, it runs once more when done (the guild may have
    /// changed, or a new session begun).
    fn claim(&self, guild: u64) -> bool {
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
    fn release(&self, guild: u64) -> bool {
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

/// Why the cache says a channel's history cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreadable {
    /// No View Channel: no live messages either, nothing to catch up.
    Hidden,
    /// No Read Message History: live messages arrive, history does not.
    NoHistory,
}

/// A channel to read back.
#[derive(Debug, Clone)]
struct Planned {
    id: u64,
    /// Why it cannot be read, if the cache can tell.
    unreadable: Option<Unreadable>,
}

fn readable_kind(kind: ChannelType) -> bool {
    matches!(
        kind,
        ChannelType::Text
            | ChannelType::News
            | ChannelType::Voice
            | ChannelType::Stage
            | ChannelType::PublicThread
            | ChannelType::PrivateThread
            | ChannelType::NewsThread
    )
}

/// The channels of a cached guild to read back, oldest first.
fn plan(ctx: &Context, guild: GuildId, bot: Option<u64>) -> Option<Vec<Planned>> {
    let g = ctx.cache.guild(guild)?;
    let member = bot.and_then(|b| g.members.get(&UserId::new(b)));
    let check = |c: &GuildChannel| -> Option<Unreadable> {
        // A thread has its parent's permissions.
        let basis = match c.parent_id {
            Some(p) if c.thread_metadata.is_some() => g.channels.get(&p)?,
            _ => c,
        };
        let p = g.user_permissions_in(basis, member?);
        if !p.contains(Permissions::VIEW_CHANNEL) {
            Some(Unreadable::Hidden)
        } else if !p.contains(Permissions::READ_MESSAGE_HISTORY) {
            Some(Unreadable::NoHistory)
        } else {
            None
        }
    };
    let mut out: Vec<Planned> = g
        .channels
        .values()
        .chain(g.threads.iter())
        .filter(|c| readable_kind(c.kind))
        .map(|c| Planned {
            id: c.id.get(),
            unreadable: check(c),
        })
        .collect();
    out.sort_by_key(|p| p.id);
    Some(out)
}

/// Looks up what a message read back lacks: REST messages carry no
/// `member`, and the author's roles decide exemptions. Fetched only for
/// messages that may hold a link the policy acts on, once per author.
pub struct Lookup {
    guild: GuildId,
    prefilter: Prefilter,
    members: HashMap<u64, Option<Box<PartialMember>>>,
}

/// Why a member could not be looked up.
#[derive(Debug)]
pub struct LookupFailed(pub String);

impl Lookup {
    /// The author's guild profile for `msg`, if it matters and they are
    /// still a member.
    pub async fn member(
        &mut self,
        actions: &DiscordActions,
        msg: &Message,
    ) -> Result<Option<Box<PartialMember>>, LookupFailed> {
        if msg.webhook_id.is_some()
            || !self
                .prefilter
                .is_candidate(msg.content.as_bytes(), Encoding::Text)
        {
            return Ok(None);
        }
        let user = msg.author.id;
        if let Some(m) = self.members.get(&user.get()) {
            return Ok(m.clone());
        }
        let guild = self.guild;
        let found = match actions
            .call(|| actions.http().get_member(guild, user))
            .await
        {
            Ok(m) => serde_json::to_value(&m)
                .ok()
                .and_then(|v| serde_json::from_value::<PartialMember>(v).ok())
                .map(Box::new),
            Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(r)))
                if r.status_code.as_u16() == 404 =>
            {
                None
            }
            Err(e) => return Err(LookupFailed(format!("looking up the author's roles: {e}"))),
        };
        self.members.insert(user.get(), found.clone());
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANNEL: u64 = 1_058_897_594_941_571_075;

    fn limits() -> CatchUpLimits {
        CatchUpLimits {
            max_messages: 1000,
            max_age_secs: 3600,
        }
    }

    #[test]
    fn snowflakes_convert_to_and_from_time() {
        // Discord's documented example: 175928847299117063 → 2016-04-30T11:18:25.796Z.
        assert_eq!(snowflake_ms(175_928_847_299_117_063), 1_462_015_105_796);
        let at = snowflake_at(1_462_015_105_796);
        assert_eq!(snowflake_ms(at), 1_462_015_105_796);
        assert!(at <= 175_928_847_299_117_063);
        assert_eq!(snowflake_at(0), 0, "before Discord's epoch");
    }

    #[test]
    fn reading_starts_at_the_cursor_within_the_age_bound() {
        let now = snowflake_ms(CHANNEL) + 30 * 24 * 3600 * 1000;
        let recent = snowflake_at(now - 60_000);
        assert_eq!(start_after(Some(recent), CHANNEL, &limits(), now), recent);
        // A cursor older than max_age: only the last hour is read back.
        let old = snowflake_at(now - 5 * 3600 * 1000);
        assert_eq!(
            start_after(Some(old), CHANNEL, &limits(), now),
            snowflake_at(now - 3600 * 1000)
        );
        // Never seen: only the unseen window.
        assert_eq!(
            start_after(None, CHANNEL, &limits(), now),
            snowflake_at(now - UNSEEN_WINDOW.as_millis() as u64)
        );
        // A channel younger than the window: from its creation, its first
        // message (a forum post's shares its id) included.
        let young = snowflake_at(now - 1000);
        assert_eq!(start_after(None, young, &limits(), now), young - 1);
        // A tiny max age bounds never-seen channels too.
        let tight = CatchUpLimits {
            max_messages: 10,
            max_age_secs: 60,
        };
        assert_eq!(
            start_after(None, CHANNEL, &tight, now),
            snowflake_at(now - 60_000)
        );
    }

    #[test]
    fn a_read_back_member_keeps_its_roles() {
        let member: serenity::all::Member = serde_json::from_value(serde_json::json!({
            "user": {"id": "661720242585731077", "username": "alice", "discriminator": "0", "avatar": null},
            "nick": "Ally", "roles": ["1058897846599811078"], "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": false, "mute": false, "flags": 0, "guild_id": "1058897343283331074"
        }))
        .expect("member");
        let partial: PartialMember =
            serde_json::from_value(serde_json::to_value(&member).expect("json")).expect("partial");
        assert_eq!(partial.nick.as_deref(), Some("Ally"));
        assert_eq!(partial.roles.len(), 1);
    }
}
