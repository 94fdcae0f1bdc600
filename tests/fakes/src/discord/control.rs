//! Test-side control of the fake: raw dispatches, changes to the cast
//! (channel overwrites, guilds, commands, roles), injected faults and rate
//! limits, and the gateway's connections (drops, reconnects, invalid
//! sessions, close codes).

use serde_json::{json, Value};

use super::config::{self, intents, GuildSpec};
use super::state::{Fault, FaultKind, GatewayEvent, Outbound, RouteKind, Times};
use super::{gateway, payloads, FakeDiscord, FakeDiscordError};

impl FakeDiscord {
    /// Dispatches any event as is. Routed to the shard of `d.guild_id` (shard 0 without one);
    /// MESSAGE_* events honour the message intents, others go to every session.
    pub fn dispatch_raw(&self, t: &str, d: Value) {
        let guild_id = d
            .get("guild_id")
            .and_then(Value::as_str)
            .and_then(|g| g.parse::<u64>().ok());
        let intent = t.starts_with("MESSAGE_").then_some(if guild_id.is_some() {
            intents::GUILD_MESSAGES
        } else {
            intents::DIRECT_MESSAGES
        });
        self.mutate(|st| {
            st.broadcast(GatewayEvent {
                t: t.to_owned(),
                d,
                guild_id,
                intent,
                strip_content_unless: None,
            });
        });
    }

    /// Sets the bot's member overwrite in `channel` and dispatches CHANNEL_UPDATE, as Discord
    /// does when an admin edits channel permissions.
    pub fn set_bot_channel_overwrite(
        &self,
        channel: u64,
        allow: u64,
        deny: u64,
    ) -> Result<(), FakeDiscordError> {
        self.mutate(|st| {
            let bot = st.config.bot.id;
            let mut update = None;
            for g in &mut st.config.guilds {
                let gid = g.id;
                if let Some(c) = g.channels.iter_mut().find(|c| c.id == channel) {
                    config::set_member_overwrite(c, bot, allow, deny);
                    update = Some((gid, payloads::channel(c, gid)));
                }
            }
            let (guild_id, d) = update.ok_or(FakeDiscordError::UnknownChannel(channel))?;
            st.broadcast(GatewayEvent {
                t: "CHANNEL_UPDATE".to_owned(),
                d,
                guild_id: Some(guild_id),
                intent: Some(intents::GUILDS),
                strip_content_unless: None,
            });
            Ok(())
        })
    }

    /// The bot is added to another guild (someone invited it): the guild
    /// joins the cast and GUILD_CREATE goes to the session of its shard.
    /// Members not in the cast's users must be added to it beforehand.
    pub fn add_guild(&self, guild: GuildSpec) {
        self.mutate(|st| {
            let id = guild.id;
            st.config.guilds.retain(|g| g.id != id);
            st.config.guilds.push(guild);
            let Some(spec) = st.guild(id) else { return };
            let d = payloads::guild_create(&st.config, spec);
            st.broadcast(GatewayEvent {
                t: "GUILD_CREATE".to_owned(),
                d,
                guild_id: Some(id),
                intent: Some(intents::GUILDS),
                strip_content_unless: None,
            });
        });
    }

    /// Registers a global application command named `name`, as an earlier
    /// version of a bot may have left behind.
    pub fn add_global_command(&self, name: &str, description: &str) -> u64 {
        self.mutate(|st| {
            let id = st.snowflake();
            st.command_version += 1;
            let body = json!({ "name": name, "description": description, "type": 1 });
            let c = payloads::command(id, st.config.bot.id, None, st.command_version, &body);
            st.global_commands.push(c);
            id
        })
    }

    /// Replaces `user`'s roles in `guild` (a moderator demoted). Nothing is
    /// dispatched: GUILD_MEMBER_UPDATE needs the privileged GUILD_MEMBERS
    /// intent, which linkguard does not ask for.
    pub fn set_member_roles(&self, guild: u64, user: u64, roles: Vec<u64>) {
        self.mutate(|st| {
            let members = st
                .config
                .guilds
                .iter_mut()
                .filter(|g| g.id == guild)
                .flat_map(|g| g.members.iter_mut());
            for m in members.filter(|m| m.user_id == user) {
                m.roles = roles.clone();
            }
        });
    }

    /// Replaces the permissions of the bot's managed role and dispatches GUILD_ROLE_UPDATE.
    pub fn set_bot_role_permissions(&self, permissions: u64) {
        self.mutate(|st| {
            let bot = st.config.bot.id;
            let mut updates = Vec::new();
            for g in &mut st.config.guilds {
                for r in &mut g.roles {
                    if r.bot_id == Some(bot) {
                        r.permissions = permissions;
                        updates.push((g.id, payloads::role(r)));
                    }
                }
            }
            for (guild_id, role) in updates {
                st.broadcast(GatewayEvent {
                    t: "GUILD_ROLE_UPDATE".to_owned(),
                    d: json!({ "guild_id": guild_id.to_string(), "role": role }),
                    guild_id: Some(guild_id),
                    intent: Some(intents::GUILDS),
                    strip_content_unless: None,
                });
            }
        });
    }
    // ----- fault injection -----

    /// The next `times` requests to `route` fail with `status` and Discord error `code`.
    pub fn fail_route(&self, route: RouteKind, status: u16, code: u32, times: Times) {
        self.mutate(|st| {
            st.faults.push(Fault {
                route,
                times,
                kind: FaultKind::Error { status, code },
            });
        });
    }

    /// The next `times` requests to `route` get a per-route 429 with `retry_after` seconds
    /// (body, `Retry-After` and `X-RateLimit-*` headers, scope `user`).
    pub fn rate_limit(&self, route: RouteKind, times: u32, retry_after: f64) {
        self.push_rate_limit(route, times, retry_after, false);
    }

    /// Like [`Self::rate_limit`] but a global limit (`global: true`, `X-RateLimit-Global`).
    pub fn rate_limit_global(&self, route: RouteKind, times: u32, retry_after: f64) {
        self.push_rate_limit(route, times, retry_after, true);
    }

    fn push_rate_limit(&self, route: RouteKind, times: u32, retry_after: f64, global: bool) {
        self.mutate(|st| {
            st.faults.push(Fault {
                route,
                times: Times::N(times),
                kind: FaultKind::RateLimit {
                    retry_after,
                    global,
                },
            });
        });
    }

    /// Removes every injected fault and rate limit.
    pub fn clear_faults(&self) {
        self.mutate(|st| st.faults.clear());
    }
    // ----- gateway control -----

    fn each_connection(&self, mut f: impl FnMut(&tokio::sync::mpsc::UnboundedSender<Outbound>)) {
        self.mutate(|st| {
            for tx in st.open_conns.values() {
                f(tx);
            }
        });
    }

    /// Drops every gateway connection abruptly (no close frame). Sessions stay resumable and
    /// keep buffering dispatches until the client resumes.
    pub fn drop_gateway(&self) {
        self.each_connection(|tx| {
            let _ = tx.send(Outbound::Abort);
        });
    }

    /// Sends Reconnect (op 7) and closes each connection with 4000; sessions stay resumable.
    pub fn reconnect_gateway(&self) {
        self.each_connection(|tx| {
            let _ = tx.send(Outbound::Frame(
                json!({"t": null, "s": null, "op": 7, "d": null}).to_string(),
            ));
            let _ = tx.send(Outbound::Close(4000, "Reconnect requested.".to_owned()));
        });
    }

    /// Sends Invalid Session (op 9) with `d: resumable` to every connected session; when not
    /// resumable the sessions are ended, so the client must identify afresh.
    pub fn invalidate_sessions(&self, resumable: bool) {
        self.mutate(|st| {
            for s in &mut st.sessions {
                if let Some(conn) = &s.conn {
                    let _ = conn.tx.send(Outbound::Frame(
                        json!({"t": null, "s": null, "op": 9, "d": resumable}).to_string(),
                    ));
                    if !resumable {
                        s.alive = false;
                    }
                }
            }
        });
    }

    /// Closes every connection with `code` (e.g. 4000 resumable, 4009 session timed out).
    pub fn close_gateway(&self, code: u16, reason: &str) {
        self.mutate(|st| {
            for s in &mut st.sessions {
                if s.conn.is_some() && gateway::ends_session(code) {
                    s.alive = false;
                }
            }
            for tx in st.open_conns.values() {
                let _ = tx.send(Outbound::Close(code, reason.to_owned()));
            }
        });
    }

    /// Asks every connection for an immediate heartbeat (server op 1).
    pub fn request_heartbeat(&self) {
        self.each_connection(|tx| {
            let _ = tx.send(Outbound::Frame(
                json!({"t": null, "s": null, "op": 1, "d": null}).to_string(),
            ));
        });
    }
}
