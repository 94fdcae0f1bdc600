//! Discord's admin check for the web console: a person who signed in with
//! Discord is an admin exactly when [`super::tenancy::is_admin`] says so
//! for their roles in an allowed server, with the permissions Discord would
//! compute (the member's roles over the server's role permissions, the
//! owner having all), since the OAuth member object carries none.

use super::tenancy::{is_admin, Guilds};
use crate::commands::Caller;
use crate::moderation::Platform;
use serenity::all::{GuildId, Http, Permissions, UserId};
use std::sync::Arc;

/// Decides whether a person who signed in with Discord is a linkguard admin.
#[derive(Clone)]
pub struct ConsoleAdmins {
    pub(super) http: Arc<Http>,
    pub(super) guilds: Arc<Guilds>,
    pub(super) admin_roles: Vec<String>,
    pub(super) guild_ids: Vec<u64>,
}

impl ConsoleAdmins {
    /// The company's servers.
    pub fn guild_ids(&self) -> &[u64] {
        &self.guild_ids
    }

    /// The member `user` of `guild` with `roles` (as Discord listed them for
    /// the member) as chat would see them. `Err` when the server's roles
    /// could not be read.
    pub async fn caller(
        &self,
        guild: u64,
        user: &str,
        name: &str,
        roles: &[String],
    ) -> Result<Caller, String> {
        let g = GuildId::new(guild.max(1));
        let mut perms = Permissions::empty();
        if self.guilds.allows(Some(g)) {
            let server = self
                .http
                .get_guild(g)
                .await
                .map_err(|e| format!("reading the server's roles: {e}"))?;
            if server.owner_id.get().to_string() == user {
                perms = Permissions::all();
            }
            for (id, role) in &server.roles {
                let id = id.get().to_string();
                if id == guild.to_string() || roles.contains(&id) {
                    perms |= role.permissions;
                }
            }
        }
        Ok(Caller {
            platform: Some(Platform::Discord),
            workspace: guild.to_string(),
            channel: String::new(),
            user_id: user.to_owned(),
            user_name: name.to_owned(),
            roles: roles.to_vec(),
            is_admin: is_admin(&self.guilds, Some(g), Some(perms), roles, &self.admin_roles),
        })
    }

    /// Asks again, with the bot's view of the member (for a session that
    /// began a while ago): `Ok(false)` when they left the server or lost
    /// the rights.
    pub async fn still_admin(&self, guild: u64, user: &str) -> Result<bool, String> {
        let Ok(uid) = user.parse::<u64>() else {
            return Ok(false);
        };
        let member = self
            .http
            .get_member(GuildId::new(guild.max(1)), UserId::new(uid.max(1)))
            .await;
        let roles: Vec<String> = match member {
            Ok(m) => m.roles.iter().map(|r| r.get().to_string()).collect(),
            Err(serenity::Error::Http(e)) if e.status_code().is_some_and(|s| s.as_u16() == 404) => {
                return Ok(false)
            }
            Err(e) => return Err(e.to_string()),
        };
        Ok(self.caller(guild, user, "", &roles).await?.is_admin)
    }
}
