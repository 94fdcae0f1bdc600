//! Reading a server's history back after downtime: the catch-up task of
//! each guild, channel by channel, page by page, through the same path as
//! live messages (see the parent module for what is read and why).

use super::*;

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

    /// Reads back one server's channels (see the parent module). Long
    /// because the per-channel bookkeeping (cursor, pause when the intake is
    /// full, unreadable channels) has to stay in one loop to keep the
    /// cursor rule: it only passes messages whose detection is recorded.
    async fn catch_up_guild(&self, ctx: &Context, guild: GuildId) {
        let Some(actions) = self.actions.get() else {
            return;
        };
        let tracker = &self.catchup;
        let epoch = {
            let st = tracker.lock();
            st.shard(guild.get()).epoch
        };
        let Some(planned) = plan(ctx, guild, actions.bot_id()) else {
            return;
        };
        {
            let mut st = tracker.lock();
            st.planned_guilds.insert(guild.get());
            for p in &planned {
                let c = st.channels.entry(p.id).or_default();
                c.guild = guild.get();
                c.planned = true;
            }
        }
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
            match p.unreadable {
                Some(Unreadable::Hidden) => {
                    tracing::debug!(
                        channel.id = p.id,
                        "not catching up a channel the bot cannot view"
                    );
                    tracker.caught_up(p.id, guild.get(), epoch, None);
                    continue;
                }
                Some(Unreadable::NoHistory) => {
                    tracing::warn!(channel.id = p.id, "the bot lacks Read Message History here: messages posted while linkguard was down cannot be caught up");
                    tracker.caught_up(p.id, guild.get(), epoch, None);
                    continue;
                }
                None => {}
            }
            let from = start_after(cursor, p.id, &tracker.limits, now_ms());
            if let Some(c) = cursor.filter(|c| *c < from && *c >= p.id) {
                tracing::info!(channel.id = p.id, cursor = c, max_age_secs = tracker.limits.max_age_secs, "the channel was last read longer ago than discord.catch_up_max_age_secs; older messages are not read back");
            }
            match self.read_channel(actions, &mut lookup, p.id, from).await {
                Read::Done {
                    cursor: last,
                    handled,
                    truncated,
                } => {
                    total += handled;
                    if truncated {
                        tracing::warn!(channel.id = p.id, max = tracker.limits.max_messages, "more messages than discord.catch_up_max_messages were posted while linkguard was down; the rest are not read back");
                    }
                    let write = ChannelCursor {
                        channel: p.id,
                        guild: guild.get(),
                        last_message: last,
                    };
                    if cursor.is_none_or(|c| last > c) {
                        if let Err(e) = tracker.store.advance_discord_cursors(&[write]).await {
                            tracing::warn!(channel.id = p.id, error = %e, "cannot store the channel cursor");
                        }
                    }
                    tracker.caught_up(
                        p.id,
                        guild.get(),
                        epoch,
                        Some(last.max(cursor.unwrap_or(0))),
                    );
                }
                Read::Stopped {
                    cursor: last,
                    handled,
                } => {
                    total += handled;
                    if last > cursor.unwrap_or(0) {
                        let write = ChannelCursor {
                            channel: p.id,
                            guild: guild.get(),
                            last_message: last,
                        };
                        if let Err(e) = tracker.store.advance_discord_cursors(&[write]).await {
                            tracing::warn!(channel.id = p.id, error = %e, "cannot store the channel cursor");
                        }
                    }
                    tracing::warn!(channel.id = p.id, "catch-up stopped at a message that could not be recorded; the next catch-up starts there");
                }
                Read::Refused(why) => {
                    tracing::warn!(channel.id = p.id, why, "cannot read the channel's history; messages posted while linkguard was down are not caught up");
                    tracker.caught_up(p.id, guild.get(), epoch, None);
                }
                Read::Failed(why) => {
                    tracing::warn!(
                        channel.id = p.id,
                        why,
                        "reading the channel's history failed; the next catch-up retries it"
                    );
                }
            }
        }
        tracing::info!(
            guild.id = %guild,
            messages = total,
            duration_ms = started.elapsed().as_millis() as u64,
            "caught up on Discord messages posted while linkguard was not listening"
        );
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
