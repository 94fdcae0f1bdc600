//! Which Discord servers are the company's (`discord.guild_ids`), and what
//! follows from it:
//!
//! - events (messages, edits, interactions) from any other server are
//!   dropped before translation and audited once per server per hour
//!   ([`crate::tenancy::Tenancy`]);
//! - on GUILD_CREATE for another server linkguard leaves it
//!   (`DELETE /users/@me/guilds/{id}`) and audits that;
//! - `/linkguard` is registered per allowed server (guild commands), never
//!   globally, and a global registration left by an older version is removed
//!   at start, since a global command is offered in every server and DM;
//! - admin rights exist only inside an allowed server ([`is_admin`], the one
//!   place they are decided);
//! - a direct message has no server: it is answered (questions only, never
//!   admin commands) when its author is a member of an allowed server, and
//!   politely declined otherwise, so linkguard is nobody else's oracle.

use crate::moderation::Platform;
use crate::store::{AuditAction, AuditEntry, Kind, Outcome, Store};
use crate::tenancy::Tenancy;
use serenity::all::{Command, Context, Guild, GuildId, Http, Permissions, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a DM author's membership answer is reused.
const MEMBERSHIP_TTL: Duration = Duration::from_secs(600);
/// How many DM authors' memberships are remembered (bounded memory).
const MEMBERSHIP_MAX: usize = 4096;

/// The allowed servers and the state that goes with them.
#[derive(Debug)]
pub struct Guilds {
    /// The throttled audit of refusals, and the allowed ids as text.
    pub tenancy: Tenancy,
    ids: Vec<u64>,
    /// Servers whose `/linkguard` this process registered already.
    registered: Mutex<HashSet<u64>>,
    /// Whether the stale global command was looked for (once per process).
    global_checked: AtomicBool,
    /// DM author → (when checked, the allowed server they are a member of).
    members: Mutex<HashMap<u64, (Instant, Option<u64>)>>,
}

impl Guilds {
    /// The servers in `ids` are the company's.
    pub fn new(ids: &[u64], store: Store) -> Guilds {
        Guilds {
            tenancy: Tenancy::new(
                Platform::Discord,
                ids.iter().map(u64::to_string).collect(),
                store,
            ),
            ids: ids.to_vec(),
            registered: Mutex::new(HashSet::new()),
            global_checked: AtomicBool::new(false),
            members: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `guild` is one of the company's servers (a DM is not).
    pub fn allows(&self, guild: Option<GuildId>) -> bool {
        guild.is_some_and(|g| self.ids.contains(&g.get()))
    }

    /// Drops an event from a foreign server: true (and audited, throttled)
    /// when `guild` is a server that is not allowed. DMs (`None`) are not
    /// foreign here; callers decide what a DM may do.
    pub async fn foreign(&self, guild: Option<GuildId>, what: &str) -> bool {
        match guild {
            Some(g) if !self.allows(Some(g)) => {
                self.tenancy.refuse(&g.get().to_string(), what).await;
                true
            }
            _ => false,
        }
    }

    /// GUILD_CREATE: registers `/linkguard` in an allowed server (once per
    /// process), leaves any other server.
    pub async fn on_guild_create(&self, ctx: &Context, guild: &Guild) {
        if self.allows(Some(guild.id)) {
            let first = self
                .registered
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(guild.id.get());
            if first {
                match guild
                    .id
                    .set_commands(
                        &ctx.http,
                        vec![
                            super::commands::definition(),
                            super::context_menu::definition(),
                        ],
                    )
                    .await
                {
                    Ok(_) => {
                        tracing::info!(guild.id = %guild.id, "registered /linkguard in the server")
                    }
                    Err(e) => {
                        // Try again on the next GUILD_CREATE (reconnect).
                        self.registered
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&guild.id.get());
                        tracing::error!(guild.id = %guild.id, error = %e, "could not register /linkguard in the server (was the bot invited with the applications.commands scope?)");
                    }
                }
            }
            return;
        }
        self.leave(&ctx.http, guild.id, &guild.name).await;
    }

    /// Leaves a server that is not in `discord.guild_ids`, and audits it.
    async fn leave(&self, http: &Http, guild: GuildId, name: &str) {
        let name: String = name.chars().take(100).collect();
        let left = guild.leave(http).await;
        let mut e = AuditEntry::new(Kind::Refused, Platform::Discord);
        e.workspace = Some(guild.get().to_string());
        e.action = Some(AuditAction::Leave);
        match &left {
            Ok(()) => {
                tracing::warn!(guild.id = %guild, guild.name = %name, "left a Discord server that is not in discord.guild_ids");
                e.outcome = Some(Outcome::Ok);
                e.detail = Some(format!(
                    "left Discord server {guild} (\"{name}\"): not in discord.guild_ids"
                ));
            }
            Err(err) => {
                tracing::error!(guild.id = %guild, error = %err, "could not leave a Discord server that is not in discord.guild_ids; its events are ignored");
                e.outcome = Some(Outcome::Failed);
                e.detail = Some(format!(
                    "could not leave Discord server {guild} (\"{name}\"), which is not in discord.guild_ids: {err}; its events are ignored"
                ));
            }
        }
        if let Err(err) = self.tenancy_store().append(e).await {
            tracing::warn!(error = %err, "could not audit leaving a Discord server");
        }
    }

    fn tenancy_store(&self) -> &Store {
        self.tenancy.store()
    }

    /// READY: removes a global `/linkguard` left by an older version (once
    /// per process): a global command is offered in every server and DM.
    pub async fn remove_stale_global(&self, ctx: &Context) {
        if self.global_checked.swap(true, Ordering::SeqCst) {
            return;
        }
        let global = match Command::get_global_commands(&ctx.http).await {
            Ok(c) => c,
            Err(e) => {
                self.global_checked.store(false, Ordering::SeqCst);
                tracing::warn!(error = %e, "could not list global commands to remove a stale /linkguard");
                return;
            }
        };
        for c in global.iter().filter(|c| c.name == super::commands::COMMAND) {
            match Command::delete_global_command(&ctx.http, c.id).await {
                Ok(()) => {
                    tracing::info!(command.id = %c.id, "removed the stale global /linkguard command");
                    let mut e = AuditEntry::new(Kind::Refused, Platform::Discord);
                    e.action = Some(AuditAction::Unregister);
                    e.outcome = Some(Outcome::Ok);
                    e.detail = Some(format!(
                        "removed the global /linkguard command {}: it is registered per server in discord.guild_ids now",
                        c.id
                    ));
                    if let Err(err) = self.tenancy_store().append(e).await {
                        tracing::warn!(error = %err, "could not audit removing the global command");
                    }
                }
                Err(e) => {
                    tracing::error!(command.id = %c.id, error = %e, "could not remove the stale global /linkguard command; it is refused outside the allowed servers")
                }
            }
        }
    }

    /// The allowed server a DM's author is a member of, if any (cache, then
    /// `GET /guilds/{g}/members/{user}`, remembered for a while).
    pub async fn home_of(&self, ctx: &Context, user: UserId) -> Option<u64> {
        let now = Instant::now();
        if let Some((at, home)) = self
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user.get())
        {
            if now.duration_since(*at) < MEMBERSHIP_TTL {
                return *home;
            }
        }
        let mut home = None;
        let mut certain = true;
        for g in &self.ids {
            match GuildId::new(*g).member(ctx, user).await {
                Ok(_) => {
                    home = Some(*g);
                    break;
                }
                Err(serenity::Error::Http(e))
                    if e.status_code().is_some_and(|s| s.as_u16() == 404) => {}
                Err(e) => {
                    certain = false;
                    tracing::warn!(guild.id = g, error = %e, "could not check a DM author's membership");
                }
            }
        }
        if home.is_some() || certain {
            let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
            if members.len() >= MEMBERSHIP_MAX {
                members.retain(|_, (at, _)| now.duration_since(*at) < MEMBERSHIP_TTL);
                if members.len() >= MEMBERSHIP_MAX {
                    members.clear();
                }
            }
            members.insert(user.get(), (now, home));
        }
        home
    }
}

/// Whether a Discord caller may change rules: only inside an allowed server
/// (never in a DM, never in another server), with Manage Server or
/// Administrator there (as Discord computed it for the interaction), or a
/// role listed in `discord.admin_roles`.
pub fn is_admin(
    guilds: &Guilds,
    guild: Option<GuildId>,
    permissions: Option<Permissions>,
    roles: &[String],
    admin_roles: &[String],
) -> bool {
    if !guilds.allows(guild) {
        return false;
    }
    let perms = permissions.unwrap_or_else(Permissions::empty);
    perms.contains(Permissions::MANAGE_GUILD)
        || perms.contains(Permissions::ADMINISTRATOR)
        || roles.iter().any(|r| admin_roles.contains(r))
}

/// A caller's roles (ids) and whether [`is_admin`] holds for them, from the
/// member Discord sent with an interaction (none in a DM).
pub fn member_rights(
    guilds: &Guilds,
    guild: Option<GuildId>,
    member: Option<&serenity::all::Member>,
    admin_roles: &[String],
) -> (Vec<String>, bool) {
    let roles: Vec<String> = member
        .map(|m| m.roles.iter().map(|r| r.get().to_string()).collect())
        .unwrap_or_default();
    let admin = is_admin(
        guilds,
        guild,
        member.and_then(|m| m.permissions),
        &roles,
        admin_roles,
    );
    (roles, admin)
}
