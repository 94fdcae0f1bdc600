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
//! for more than `discord.catch_up_max_messages` messages in one session (a
//! channel whose catch-up stopped at that bound is left alone by the
//! session's later catch-ups: READY and GUILD_CREATE each ask for one). Pages of 100 are
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

mod read;
mod tracker;

pub use read::{Lookup, LookupFailed};
pub use tracker::{Tracked, Tracker};

use crate::config::CatchUpLimits;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

#[cfg(test)]
mod tests {
    use super::*;
    use serenity::all::PartialMember;

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
