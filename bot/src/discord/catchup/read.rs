//! Reading a guild's channels back: which channels (from the cache, with
//! the bot's permissions), their history page by page through the same
//! pipeline as live messages, and the authors' roles that REST messages lack.

use super::tracker::Tracker;
use super::{now_ms, start_after, PAGE, PAGE_ATTEMPTS};
use crate::discord::actions::DiscordActions;
use crate::discord::handler::{Handler, Source};
use crate::store::ChannelCursor;
use linkguard_rules::prefilter::{Encoding, Prefilter};
use serenity::all::{
    ChannelId, ChannelType, Context, GuildChannel, GuildId, HttpError, Message, MessageId,
    MessagePagination, PartialMember, Permissions, UserId,
};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        // Roles only matter for a message that may hold a link: in its
        // content or anything it carries (a forward, embeds, a poll,
        // buttons), or in display components not read yet.
        if msg.webhook_id.is_some()
            || !(crate::discord::components::may_carry(msg)
                || self.prefilter.is_candidate(
                    crate::discord::translate::checked_text(msg).as_bytes(),
                    Encoding::Text,
                ))
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

impl Handler {
    /// Starts a catch-up of `guild` (see the module docs) in the background.
    pub(in crate::discord) fn catch_up(&self, ctx: &Context, guild: GuildId) {
        let tracker = self.catchup.clone();
        if !tracker.enabled() || !tracker.claim(guild.get()) {
            return;
        }
        let Some(me) = self.me.upgrade() else {
            tracker.release(guild.get());
            return;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                me.catch_up_guild(&ctx, guild).await;
                if !me.catchup.release(guild.get()) {
                    break;
                }
            }
        });
    }

    /// Reads back every planned channel of `guild`, one at a time.
    async fn catch_up_guild(&self, ctx: &Context, guild: GuildId) {
        let Some(actions) = self.actions.get() else {
            return;
        };
        let tracker = &self.catchup;
        let epoch = tracker.epoch(guild.get());
        let Some(planned) = plan(ctx, guild, actions.bot_id()) else {
            return;
        };
        tracker.mark_planned(guild.get(), planned.iter().map(|p| p.id));
        let stored = match tracker.store.discord_cursors(guild.get()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(guild.id = %guild, error = %e, "cannot read Discord channel cursors; messages posted while linkguard was down are not caught up");
                return;
            }
        };
        let mut lookup = Lookup {
            guild,
            prefilter: self.moderator.policy().policy.prefilter(),
            members: HashMap::new(),
        };
        let started = Instant::now();
        let mut total = 0;
        for p in planned {
            if tracker.closed.load(Ordering::Relaxed) {
                return;
            }
            let cursor = stored.get(&p.id).copied();
            total += self
                .catch_up_channel(actions, &mut lookup, &p, cursor, epoch)
                .await;
        }
        tracing::info!(
            guild.id = %guild,
            messages = total,
            duration_ms = started.elapsed().as_millis() as u64,
            "caught up on Discord messages posted while linkguard was not listening"
        );
    }

    /// Reads one planned channel back from its stored `cursor` and moves the
    /// cursor as far as what was read is recorded; returns how many
    /// messages were read.
    async fn catch_up_channel(
        &self,
        actions: &Arc<DiscordActions>,
        lookup: &mut Lookup,
        p: &Planned,
        cursor: Option<u64>,
        epoch: u64,
    ) -> usize {
        let tracker = &self.catchup;
        let guild = lookup.guild.get();
        match p.unreadable {
            Some(Unreadable::Hidden) => {
                tracing::debug!(
                    channel.id = p.id,
                    "not catching up a channel the bot cannot view"
                );
                tracker.caught_up(p.id, guild, epoch, None);
                return 0;
            }
            Some(Unreadable::NoHistory) => {
                tracing::warn!(channel.id = p.id, "the bot lacks Read Message History here: messages posted while linkguard was down cannot be caught up");
                tracker.caught_up(p.id, guild, epoch, None);
                return 0;
            }
            None => {}
        }
        if tracker.was_bounded(p.id, epoch) {
            tracing::debug!(
                channel.id = p.id,
                "already read back up to discord.catch_up_max_messages in this session"
            );
            return 0;
        }
        let from = start_after(cursor, p.id, &tracker.limits, now_ms());
        if let Some(c) = cursor.filter(|c| *c < from && *c >= p.id) {
            tracing::info!(channel.id = p.id, cursor = c, max_age_secs = tracker.limits.max_age_secs, "the channel was last read longer ago than discord.catch_up_max_age_secs; older messages are not read back");
        }
        match self.read_channel(actions, lookup, p.id, from).await {
            Read::Done {
                cursor: last,
                handled,
                truncated,
            } => {
                if truncated {
                    tracker.bounded(p.id, epoch);
                    tracing::warn!(channel.id = p.id, max = tracker.limits.max_messages, "more messages than discord.catch_up_max_messages were posted while linkguard was down; the rest are not read back");
                }
                if cursor.is_none_or(|c| last > c) {
                    store_cursor(tracker, p.id, guild, last).await;
                }
                tracker.caught_up(p.id, guild, epoch, Some(last.max(cursor.unwrap_or(0))));
                handled
            }
            Read::Stopped {
                cursor: last,
                handled,
            } => {
                if last > cursor.unwrap_or(0) {
                    store_cursor(tracker, p.id, guild, last).await;
                }
                tracing::warn!(channel.id = p.id, "catch-up stopped at a message that could not be recorded; the next catch-up starts there");
                handled
            }
            Read::Refused(why) => {
                tracing::warn!(channel.id = p.id, why, "cannot read the channel's history; messages posted while linkguard was down are not caught up");
                tracker.caught_up(p.id, guild, epoch, None);
                0
            }
            Read::Failed(why) => {
                tracing::warn!(
                    channel.id = p.id,
                    why,
                    "reading the channel's history failed; the next catch-up retries it"
                );
                0
            }
        }
    }

    /// Reads `channel` after `from`, oldest first, through the pipeline.
    async fn read_channel(
        &self,
        actions: &Arc<DiscordActions>,
        lookup: &mut Lookup,
        channel: u64,
        from: u64,
    ) -> Read {
        let limit = self.catchup.limits.max_messages as usize;
        let mut after = from;
        let mut handled = 0usize;
        loop {
            let mut page = match self.history_page(actions, channel, after).await {
                Ok(p) => p,
                Err(read) => return read,
            };
            let full = page.len() >= usize::from(PAGE);
            page.retain(|m| m.id.get() > after);
            page.sort_by_key(|m| m.id);
            let Some(newest) = page.last().map(|m| m.id.get()) else {
                return Read::Done {
                    cursor: after,
                    handled,
                    truncated: false,
                };
            };
            for mut msg in page {
                if handled >= limit {
                    return Read::Done {
                        cursor: after,
                        handled,
                        truncated: true,
                    };
                }
                if self.catchup.closed.load(Ordering::Relaxed) {
                    return Read::Stopped {
                        cursor: after,
                        handled,
                    };
                }
                let id = msg.id.get();
                msg.guild_id = Some(lookup.guild);
                if !self.on_new_message(Source::History(lookup), msg).await {
                    return Read::Stopped {
                        cursor: after,
                        handled,
                    };
                }
                handled += 1;
                after = id;
            }
            after = after.max(newest);
            if !full {
                return Read::Done {
                    cursor: after,
                    handled,
                    truncated: false,
                };
            }
        }
    }

    /// One page of history after `after`, retrying server errors.
    async fn history_page(
        &self,
        actions: &DiscordActions,
        channel: u64,
        after: u64,
    ) -> Result<Vec<Message>, Read> {
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=PAGE_ATTEMPTS {
            let got = actions
                .call(|| {
                    actions.http().get_messages(
                        ChannelId::new(channel),
                        Some(MessagePagination::After(MessageId::new(after.max(1)))),
                        Some(PAGE),
                    )
                })
                .await;
            match got {
                Ok(page) => return Ok(page),
                Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(r)))
                    if matches!(r.status_code.as_u16(), 403 | 404) =>
                {
                    return Err(Read::Refused(format!(
                        "Discord answered {} (code {}): {}",
                        r.status_code.as_u16(),
                        r.error.code,
                        r.error.message
                    )));
                }
                Err(e) if attempt == PAGE_ATTEMPTS => return Err(Read::Failed(e.to_string())),
                Err(e) => {
                    tracing::debug!(channel.id = channel, attempt, error = %e, "reading history failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        Err(Read::Failed("no attempt made".into()))
    }
}

/// Writes a channel's cursor after a catch-up read it; a failure only means
/// the next catch-up reads those messages again (their keys are found).
async fn store_cursor(tracker: &Tracker, channel: u64, guild: u64, last: u64) {
    let write = ChannelCursor {
        channel,
        guild,
        last_message: last,
    };
    if let Err(e) = tracker.store.advance_discord_cursors(&[write]).await {
        tracing::warn!(channel.id = channel, error = %e, "cannot store the channel cursor");
    }
}
