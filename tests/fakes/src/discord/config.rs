//! Configuration of the fake Discord: the cast (bot, users, guilds, channels, roles), the bot's
//! token and permissions, and the knobs tests turn (heartbeat interval, privileged intents).
//!
//! [`FakeDiscordConfig::default`] is the shared cast from the protocol notes, so tests, the demo
//! and fixtures all talk about the same snowflakes; the `cast` constants name them.

use std::time::Duration;

/// Snowflakes of the shared cast.
pub mod cast {
    /// The application id, which is also the bot user's id.
    pub const APPLICATION: u64 = 1_191_168_914_227_331_073;
    /// The bot user (same snowflake as the application).
    pub const BOT: u64 = APPLICATION;
    /// The only guild.
    pub const GUILD: u64 = 1_058_897_343_283_331_074;
    /// `#general`, a text channel.
    pub const GENERAL: u64 = 1_058_897_594_941_571_075;
    /// `#random`, a second text channel (handy for per-channel permission tests).
    pub const RANDOM: u64 = 1_058_897_594_941_571_081;
    /// A public thread under `#general`.
    pub const THREAD: u64 = 1_456_071_927_398_531_076;
    /// `#ideas`, a forum channel.
    pub const FORUM: u64 = 1_058_897_594_941_571_087;
    /// A post (public thread) in `#ideas`.
    pub const FORUM_POST: u64 = 1_456_071_927_398_531_093;
    /// alice, an ordinary member.
    pub const ALICE: u64 = 661_720_242_585_731_077;
    /// bob, an ordinary member.
    pub const BOB: u64 = 661_720_242_585_731_083;
    /// carol, the guild owner, holding the Moderator role (MANAGE_GUILD).
    pub const ADMIN: u64 = 661_720_242_585_731_089;
    /// The id given to the first webhook the bot creates.
    pub const WEBHOOK: u64 = 1_191_531_302_092_931_082;
    /// The token of the first webhook the bot creates.
    pub const WEBHOOK_TOKEN: &str =
        "FAKE-webhook-token-not-a-real-secret-0000000000000000000000000000000000";
    /// The bot's managed role.
    pub const BOT_ROLE: u64 = 1_191_169_333_657_731_086;
    /// The Moderator role (MANAGE_GUILD and more).
    pub const MODERATOR_ROLE: u64 = 1_058_897_846_599_811_078;
    /// The bot token the fake accepts.
    pub const BOT_TOKEN: &str = "FAKE.discord.bot.token";
    /// Someone else's server the bot was added to (see
    /// [`super::FakeDiscordConfig::with_foreign_guild`]).
    pub const FOREIGN_GUILD: u64 = 1_201_558_370_925_461_504;
    /// `#lobby` in the foreign server.
    pub const FOREIGN_CHANNEL: u64 = 1_201_558_370_925_461_511;
    /// mallory, owner (so administrator) of the foreign server.
    pub const MALLORY: u64 = 661_720_242_585_731_097;
}

/// Permission bits (a subset; see Discord's "Permissions" topic).
pub mod perms {
    /// Everything is allowed and overwrites are ignored.
    pub const ADMINISTRATOR: u64 = 1 << 3;
    /// Manage channels.
    pub const MANAGE_CHANNELS: u64 = 1 << 4;
    /// Manage the guild (what linkguard treats as "admin" for commands).
    pub const MANAGE_GUILD: u64 = 1 << 5;
    /// See the channel at all.
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    /// Post in text channels.
    pub const SEND_MESSAGES: u64 = 1 << 11;
    /// Delete other people's messages.
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
    /// Links get embeds.
    pub const EMBED_LINKS: u64 = 1 << 14;
    /// Upload files.
    pub const ATTACH_FILES: u64 = 1 << 15;
    /// Read history.
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    /// Ping @everyone / @here.
    pub const MENTION_EVERYONE: u64 = 1 << 17;
    /// Manage roles.
    pub const MANAGE_ROLES: u64 = 1 << 28;
    /// Create, edit and delete webhooks.
    pub const MANAGE_WEBHOOKS: u64 = 1 << 29;
    /// Use slash commands.
    pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
    /// Post in threads.
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
    /// All bits defined at the time of writing.
    pub const ALL: u64 = (1 << 51) - 1;
}

/// Gateway intent bits.
pub mod intents {
    /// Guild, channel, thread and role events.
    pub const GUILDS: u64 = 1 << 0;
    /// Privileged: member events.
    pub const GUILD_MEMBERS: u64 = 1 << 1;
    /// Privileged: presences.
    pub const GUILD_PRESENCES: u64 = 1 << 8;
    /// MESSAGE_* in guilds.
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    /// MESSAGE_* in DMs.
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    /// Privileged: message content in guild messages.
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
    /// AUTO_MODERATION_RULE_CREATE, _UPDATE and _DELETE.
    pub const AUTO_MODERATION_CONFIGURATION: u64 = 1 << 20;
    /// AUTO_MODERATION_ACTION_EXECUTION.
    pub const AUTO_MODERATION_EXECUTION: u64 = 1 << 21;
    /// Every privileged intent.
    pub const PRIVILEGED: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;
    /// Every bit Discord defines; others close the gateway with 4013.
    pub const VALID: u64 = ((1 << 17) - 1) | (1 << 20) | (1 << 21) | (1 << 24) | (1 << 25);
}

/// A user the fake knows.
#[derive(Clone, Debug)]
pub struct UserSpec {
    /// Snowflake.
    pub id: u64,
    /// Unique username.
    pub username: String,
    /// Display name.
    pub global_name: Option<String>,
    /// Avatar hash.
    pub avatar: Option<String>,
    /// Whether this is a bot account.
    pub bot: bool,
    /// `"0"` for migrated users, four digits for bots.
    pub discriminator: String,
}

impl UserSpec {
    /// An ordinary (migrated) user.
    pub fn person(id: u64, username: &str, global_name: &str) -> Self {
        Self {
            id,
            username: username.to_owned(),
            global_name: Some(global_name.to_owned()),
            avatar: None,
            bot: false,
            discriminator: "0".to_owned(),
        }
    }
}

/// A role in a guild.
#[derive(Clone, Debug)]
pub struct RoleSpec {
    /// Snowflake; `@everyone` has the guild's id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Permission bits.
    pub permissions: u64,
    /// RGB colour.
    pub color: u32,
    /// Sort position.
    pub position: u16,
    /// Managed by an integration (a bot's own role).
    pub managed: bool,
    /// For a bot's managed role, the bot's id.
    pub bot_id: Option<u64>,
    /// Shown separately in the member list.
    pub hoist: bool,
    /// Mentionable by everyone.
    pub mentionable: bool,
}

/// The kind of a guild channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelKind {
    /// Type 0.
    Text,
    /// Type 11 (also a forum post).
    PublicThread,
    /// Type 15.
    Forum,
}

impl ChannelKind {
    /// Discord's numeric channel type.
    pub fn code(self) -> u8 {
        match self {
            Self::Text => 0,
            Self::PublicThread => 11,
            Self::Forum => 15,
        }
    }

    /// Threads live in a guild's `threads`, not its `channels`.
    pub fn is_thread(self) -> bool {
        matches!(self, Self::PublicThread)
    }
}

/// Whom a permission overwrite targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverwriteTarget {
    /// A role (type 0).
    Role(u64),
    /// A member (type 1).
    Member(u64),
}

/// A channel permission overwrite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overwrite {
    /// The role or member.
    pub target: OverwriteTarget,
    /// Bits granted.
    pub allow: u64,
    /// Bits removed.
    pub deny: u64,
}

/// A guild channel or thread.
#[derive(Clone, Debug)]
pub struct ChannelSpec {
    /// Snowflake.
    pub id: u64,
    /// Name without `#`.
    pub name: String,
    /// Type.
    pub kind: ChannelKind,
    /// Parent channel (threads) or category.
    pub parent_id: Option<u64>,
    /// Permission overwrites (ignored for threads, which inherit their parent's).
    pub overwrites: Vec<Overwrite>,
    /// Topic.
    pub topic: Option<String>,
    /// Creator of a thread.
    pub owner_id: Option<u64>,
}

/// A member of a guild.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    /// The user's snowflake.
    pub user_id: u64,
    /// Role ids (without `@everyone`).
    pub roles: Vec<u64>,
    /// Guild nickname.
    pub nick: Option<String>,
}

/// A guild.
#[derive(Clone, Debug)]
pub struct GuildSpec {
    /// Snowflake.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Owner (has every permission).
    pub owner_id: u64,
    /// Roles, `@everyone` included (its id is the guild id).
    pub roles: Vec<RoleSpec>,
    /// Channels and threads.
    pub channels: Vec<ChannelSpec>,
    /// Members, the bot included.
    pub members: Vec<MemberSpec>,
}

impl GuildSpec {
    /// The channel or thread with this id.
    pub fn channel(&self, id: u64) -> Option<&ChannelSpec> {
        self.channels.iter().find(|c| c.id == id)
    }

    /// The member with this user id.
    pub fn member(&self, user_id: u64) -> Option<&MemberSpec> {
        self.members.iter().find(|m| m.user_id == user_id)
    }

    /// Discord's permission algorithm: base from roles, then `@everyone`, role and member
    /// overwrites of the channel (a thread uses its parent's).
    pub fn permissions_in(&self, user_id: u64, channel_id: u64) -> u64 {
        if user_id == self.owner_id {
            return perms::ALL;
        }
        let Some(member) = self.member(user_id) else {
            return 0;
        };
        let role_perms = |id: u64| {
            self.roles
                .iter()
                .find(|r| r.id == id)
                .map_or(0, |r| r.permissions)
        };
        let mut base = role_perms(self.id);
        for role in &member.roles {
            base |= role_perms(*role);
        }
        if base & perms::ADMINISTRATOR != 0 {
            return perms::ALL;
        }
        let mut channel = self.channel(channel_id);
        if let Some(c) = channel {
            if c.kind.is_thread() {
                channel = c.parent_id.and_then(|p| self.channel(p));
            }
        }
        let Some(channel) = channel else {
            return base;
        };
        let mut p = base;
        for o in &channel.overwrites {
            if o.target == OverwriteTarget::Role(self.id) {
                p = (p & !o.deny) | o.allow;
            }
        }
        let (mut allow, mut deny) = (0, 0);
        for o in &channel.overwrites {
            if let OverwriteTarget::Role(r) = o.target {
                if r != self.id && member.roles.contains(&r) {
                    allow |= o.allow;
                    deny |= o.deny;
                }
            }
        }
        p = (p & !deny) | allow;
        for o in &channel.overwrites {
            if o.target == OverwriteTarget::Member(user_id) {
                p = (p & !o.deny) | o.allow;
            }
        }
        p
    }
}

/// Everything the fake needs to know before it starts.
#[derive(Clone, Debug)]
pub struct FakeDiscordConfig {
    /// The bot token the gateway and REST accept (with or without `Bot `).
    pub bot_token: String,
    /// The bot user; its id is also the application id.
    pub bot: UserSpec,
    /// `application.flags` in READY.
    pub application_flags: u64,
    /// Privileged intents switched on in the developer portal; requesting others closes 4014.
    pub privileged_intents_enabled: u64,
    /// Hello's `heartbeat_interval`.
    pub heartbeat_interval: Duration,
    /// Close a connection (code 4000, resumable) after this long without a heartbeat.
    pub heartbeat_timeout: Option<Duration>,
    /// `shards` in `GET /gateway/bot`.
    pub recommended_shards: u32,
    /// How long an interaction accepts its initial callback (Discord: 3 s).
    pub interaction_callback_window: Duration,
    /// How many dispatches a session keeps for resuming.
    pub replay_buffer: usize,
    /// Users other than the bot.
    pub users: Vec<UserSpec>,
    /// Guilds.
    pub guilds: Vec<GuildSpec>,
}

const DEFAULT_EVERYONE_PERMS: u64 = 2_248_473_465_835_073;
const DEFAULT_BOT_ROLE_PERMS: u64 =
    perms::VIEW_CHANNEL | perms::SEND_MESSAGES | perms::MANAGE_MESSAGES | perms::MANAGE_WEBHOOKS;
const MODERATOR_PERMS: u64 = 1_099_511_627_775;

impl Default for FakeDiscordConfig {
    fn default() -> Self {
        use cast::*;
        let mut alice = UserSpec::person(ALICE, "alice", "Alice");
        alice.avatar = Some("a1b2c3d4e5f60718293a4b5c6d7e8f90".to_owned());
        Self {
            bot_token: BOT_TOKEN.to_owned(),
            bot: UserSpec {
                id: BOT,
                username: "modbot".to_owned(),
                global_name: None,
                avatar: None,
                bot: true,
                discriminator: "4821".to_owned(),
            },
            application_flags: 8_912_896,
            privileged_intents_enabled: intents::MESSAGE_CONTENT,
            heartbeat_interval: Duration::from_millis(1000),
            heartbeat_timeout: Some(Duration::from_secs(10)),
            recommended_shards: 1,
            interaction_callback_window: Duration::from_secs(3),
            replay_buffer: 2048,
            users: vec![
                alice,
                UserSpec::person(BOB, "bob", "Bob"),
                UserSpec::person(ADMIN, "carol", "Carol (admin)"),
            ],
            guilds: vec![GuildSpec {
                id: GUILD,
                name: "Fake Mod Guild".to_owned(),
                owner_id: ADMIN,
                roles: default_roles(),
                channels: default_channels(),
                members: vec![
                    MemberSpec {
                        user_id: BOT,
                        roles: vec![BOT_ROLE],
                        nick: None,
                    },
                    MemberSpec {
                        user_id: ALICE,
                        roles: vec![],
                        nick: None,
                    },
                    MemberSpec {
                        user_id: BOB,
                        roles: vec![],
                        nick: None,
                    },
                    MemberSpec {
                        user_id: ADMIN,
                        roles: vec![MODERATOR_ROLE],
                        nick: None,
                    },
                ],
            }],
        }
    }
}

/// The cast guild's roles: @everyone, the bot's managed role and Moderator.
fn default_roles() -> Vec<RoleSpec> {
    use cast::*;
    let role = |id, name: &str, permissions, position, color| RoleSpec {
        id,
        name: name.to_owned(),
        permissions,
        color,
        position,
        managed: false,
        bot_id: None,
        hoist: false,
        mentionable: false,
    };
    let mut bot_role = role(BOT_ROLE, "modbot", DEFAULT_BOT_ROLE_PERMS, 1, 0);
    bot_role.managed = true;
    bot_role.bot_id = Some(BOT);
    let mut moderator = role(MODERATOR_ROLE, "Moderator", MODERATOR_PERMS, 2, 3_447_003);
    moderator.hoist = true;
    moderator.mentionable = true;
    vec![
        role(GUILD, "@everyone", DEFAULT_EVERYONE_PERMS, 0, 0),
        bot_role,
        moderator,
    ]
}

/// The cast guild's channels: two text channels, a forum with a post, and
/// a thread of #general.
fn default_channels() -> Vec<ChannelSpec> {
    use cast::*;
    let channel = |id, name: &str, kind, parent_id, topic: Option<&str>| ChannelSpec {
        id,
        name: name.to_owned(),
        kind,
        parent_id,
        overwrites: Vec::new(),
        topic: topic.map(str::to_owned),
        owner_id: None,
    };
    let mut thread = channel(
        THREAD,
        "standup-notes",
        ChannelKind::PublicThread,
        Some(GENERAL),
        None,
    );
    thread.owner_id = Some(ALICE);
    let mut post = channel(
        FORUM_POST,
        "Which video tool?",
        ChannelKind::PublicThread,
        Some(FORUM),
        None,
    );
    post.owner_id = Some(BOB);
    vec![
        channel(
            GENERAL,
            "general",
            ChannelKind::Text,
            None,
            Some("Company-wide chat"),
        ),
        channel(RANDOM, "random", ChannelKind::Text, None, None),
        channel(
            FORUM,
            "ideas",
            ChannelKind::Forum,
            None,
            Some("One post per idea"),
        ),
        thread,
        post,
    ]
}

impl FakeDiscordConfig {
    /// The developer-portal switch for MESSAGE_CONTENT is off: identifying with it closes 4014.
    pub fn without_message_content_intent(mut self) -> Self {
        self.privileged_intents_enabled &= !intents::MESSAGE_CONTENT;
        self
    }

    /// Sets Hello's heartbeat interval.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets the shard count `GET /gateway/bot` recommends.
    pub fn recommended_shards(mut self, shards: u32) -> Self {
        self.recommended_shards = shards.max(1);
        self
    }

    /// Adds a member overwrite for the bot in `channel` (e.g. deny MANAGE_MESSAGES).
    pub fn bot_channel_overwrite(mut self, channel: u64, allow: u64, deny: u64) -> Self {
        let bot = self.bot.id;
        for guild in &mut self.guilds {
            if let Some(c) = guild.channels.iter_mut().find(|c| c.id == channel) {
                set_member_overwrite(c, bot, allow, deny);
            }
        }
        self
    }

    /// Replaces the permissions of the bot's managed role (guild-wide).
    pub fn bot_role_permissions(mut self, permissions: u64) -> Self {
        let bot = self.bot.id;
        for guild in &mut self.guilds {
            for role in &mut guild.roles {
                if role.bot_id == Some(bot) {
                    role.permissions = permissions;
                }
            }
        }
        self
    }

    /// Adds someone else's server (owner mallory, who is therefore its
    /// administrator, with alice and the bot as members, one channel
    /// `#lobby`), as when anyone adds a public bot to a server of their own.
    pub fn with_foreign_guild(mut self) -> Self {
        if self.user(cast::MALLORY).is_none() {
            self.users
                .push(UserSpec::person(cast::MALLORY, "mallory", "Mallory"));
        }
        self.guilds.push(foreign_guild(self.bot.id));
        self
    }

    /// A user (or the bot) by id.
    pub fn user(&self, id: u64) -> Option<&UserSpec> {
        if id == self.bot.id {
            return Some(&self.bot);
        }
        self.users.iter().find(|u| u.id == id)
    }

    /// The guild holding `channel`.
    pub fn guild_of_channel(&self, channel: u64) -> Option<&GuildSpec> {
        self.guilds.iter().find(|g| g.channel(channel).is_some())
    }
}

/// The foreign server of [`FakeDiscordConfig::with_foreign_guild`], for
/// tests that add it while the bot runs ([`super::FakeDiscord::add_guild`]).
pub fn foreign_guild(bot: u64) -> GuildSpec {
    let mut bot_role = RoleSpec {
        id: cast::FOREIGN_GUILD + 7,
        name: "modbot".to_owned(),
        permissions: DEFAULT_BOT_ROLE_PERMS,
        color: 0,
        position: 1,
        managed: true,
        bot_id: Some(bot),
        hoist: false,
        mentionable: false,
    };
    let everyone = RoleSpec {
        id: cast::FOREIGN_GUILD,
        name: "@everyone".to_owned(),
        permissions: DEFAULT_EVERYONE_PERMS,
        bot_id: None,
        managed: false,
        position: 0,
        ..bot_role.clone()
    };
    bot_role.position = 1;
    GuildSpec {
        id: cast::FOREIGN_GUILD,
        name: "Mallory's Server".to_owned(),
        owner_id: cast::MALLORY,
        roles: vec![everyone, bot_role],
        channels: vec![ChannelSpec {
            id: cast::FOREIGN_CHANNEL,
            name: "lobby".to_owned(),
            kind: ChannelKind::Text,
            parent_id: None,
            overwrites: Vec::new(),
            topic: None,
            owner_id: None,
        }],
        members: vec![
            MemberSpec {
                user_id: bot,
                roles: vec![cast::FOREIGN_GUILD + 7],
                nick: None,
            },
            MemberSpec {
                user_id: cast::MALLORY,
                roles: vec![],
                nick: None,
            },
            MemberSpec {
                user_id: cast::ALICE,
                roles: vec![],
                nick: None,
            },
        ],
    }
}

/// Sets (or replaces) the member overwrite for `user` on `channel`.
pub(crate) fn set_member_overwrite(channel: &mut ChannelSpec, user: u64, allow: u64, deny: u64) {
    channel
        .overwrites
        .retain(|o| o.target != OverwriteTarget::Member(user));
    channel.overwrites.push(Overwrite {
        target: OverwriteTarget::Member(user),
        allow,
        deny,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bot_can_moderate_everywhere() {
        let config = FakeDiscordConfig::default();
        let guild = &config.guilds[0];
        for channel in [cast::GENERAL, cast::RANDOM, cast::THREAD, cast::FORUM] {
            let p = guild.permissions_in(cast::BOT, channel);
            assert_ne!(p & perms::MANAGE_MESSAGES, 0, "channel {channel}");
            assert_ne!(p & perms::MANAGE_WEBHOOKS, 0, "channel {channel}");
        }
    }

    #[test]
    fn member_overwrite_denies_and_threads_inherit() {
        let config = FakeDiscordConfig::default().bot_channel_overwrite(
            cast::GENERAL,
            0,
            perms::MANAGE_MESSAGES,
        );
        let guild = &config.guilds[0];
        assert_eq!(
            guild.permissions_in(cast::BOT, cast::GENERAL) & perms::MANAGE_MESSAGES,
            0
        );
        assert_eq!(
            guild.permissions_in(cast::BOT, cast::THREAD) & perms::MANAGE_MESSAGES,
            0
        );
        assert_ne!(
            guild.permissions_in(cast::BOT, cast::RANDOM) & perms::MANAGE_MESSAGES,
            0
        );
    }

    #[test]
    fn owner_and_moderator_are_admins_but_alice_is_not() {
        let config = FakeDiscordConfig::default();
        let guild = &config.guilds[0];
        assert_eq!(guild.permissions_in(cast::ADMIN, cast::GENERAL), perms::ALL);
        assert_eq!(
            guild.permissions_in(cast::ALICE, cast::GENERAL) & perms::MANAGE_GUILD,
            0
        );
    }
}
