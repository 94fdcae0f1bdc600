//! Configuration of the fake Slack workspace: who exists, which tokens and
//! scopes they hold, how events reach the bot, and the protocol timings.
//!
//! Defaults follow the shared cast of `protocol/README.md` (team
//! `T0FAKETEAM1`, app `A0FAKEAPP01`, bot `U0FAKEBOT01`/`B0FAKEBOT01`, alice,
//! bob, `#general`), plus one workspace admin whose user token lets a bot
//! delete other people's messages, as a real admin token would.

use std::time::Duration;

/// The workspace (team) the fake pretends to be.
#[derive(Debug, Clone)]
pub struct FakeTeam {
    /// Team id, e.g. `T0FAKETEAM1`.
    pub id: String,
    /// Display name returned by `auth.test` and `team.info`.
    pub name: String,
    /// Sub-domain, used for `https://{domain}.slack.com/` URLs.
    pub domain: String,
}

/// The app installed in the workspace and its bot user.
#[derive(Debug, Clone)]
pub struct FakeBot {
    /// App id (`A…`), sent as `api_app_id` and in `hello`.
    pub app_id: String,
    /// The bot's user id (`U…`), what `auth.test` returns as `user_id`.
    pub user_id: String,
    /// The bot id (`B…`) stamped on every message the bot posts.
    pub bot_id: String,
    /// The bot's name (`bot_profile.name`, `auth.test`'s `user`).
    pub name: String,
    /// OAuth scopes granted to the bot token. `chat:write.customize` decides
    /// whether `username`/`icon_url` are honoured.
    pub scopes: Vec<String>,
}

/// A human (or bot) member of the workspace, as `users.info` describes it.
#[derive(Debug, Clone)]
pub struct FakeUser {
    /// User id (`U…`).
    pub id: String,
    /// Handle (`name`), also used as `user_name` in slash commands.
    pub name: String,
    /// Full name.
    pub real_name: String,
    /// Display name (may be empty in real Slack; never empty here by default).
    pub display_name: String,
    /// E-mail shown in the profile.
    pub email: String,
    /// Workspace admin.
    pub is_admin: bool,
    /// Workspace owner.
    pub is_owner: bool,
    /// Primary owner.
    pub is_primary_owner: bool,
    /// Bot user.
    pub is_bot: bool,
    /// Deactivated account.
    pub deleted: bool,
    /// Avatar base URL; `image_24/48/72/192` are derived from it with `?s=N`.
    pub avatar_url: String,
    /// IANA time zone.
    pub tz: String,
    /// The user's own team when it is not this workspace: an external
    /// member of a Slack Connect channel (`users.info` reports it as
    /// `team_id`; admin flags are about that team).
    pub home_team: Option<String>,
}

impl FakeUser {
    /// A plain, non-admin member with derived profile fields.
    pub fn member(id: &str, name: &str, real_name: &str) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_string(),
            real_name: real_name.to_string(),
            display_name: name.to_string(),
            email: format!("{name}@example.org"),
            is_admin: false,
            is_owner: false,
            is_primary_owner: false,
            is_bot: false,
            deleted: false,
            avatar_url: format!(
                "https://secure.gravatar.com/avatar/{}.jpg",
                id.to_lowercase()
            ),
            tz: "Europe/Berlin".to_string(),
            home_team: None,
        }
    }

    /// The same user as an external member from another team `team`.
    pub fn external(mut self, team: &str) -> Self {
        self.home_team = Some(team.to_string());
        self
    }

    /// The same user made a workspace admin and owner.
    pub fn admin(mut self) -> Self {
        self.is_admin = true;
        self.is_owner = true;
        self
    }

    /// Profile image URL of the given size (24, 48, 72, 192, 512).
    pub fn image(&self, size: u32) -> String {
        format!("{}?s={size}", self.avatar_url)
    }
}

/// A conversation the fake knows about.
#[derive(Debug, Clone)]
pub struct FakeChannel {
    /// Channel id (`C…`).
    pub id: String,
    /// Name without `#`.
    pub name: String,
    /// Private channels are invisible (`channel_not_found`) to non-members.
    pub is_private: bool,
    /// Archived channels refuse posts with `is_archived`.
    pub is_archived: bool,
    /// The `#general` flag.
    pub is_general: bool,
    /// Member user ids (include the bot user for the bot to be "in" it).
    pub members: Vec<String>,
    /// Topic text.
    pub topic: String,
    /// Purpose text.
    pub purpose: String,
}

/// A user OAuth token (`xoxp-…`) and the user it acts for.
#[derive(Debug, Clone)]
pub struct FakeUserToken {
    /// The token string.
    pub token: String,
    /// The user the token belongs to; admin rights come from that user.
    pub user_id: String,
    /// Scopes granted to the token.
    pub scopes: Vec<String>,
}

/// How the fake delivers events and slash commands to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Socket Mode: envelopes over the WebSocket(s) the bot opens via
    /// `apps.connections.open`. Events wait in a queue while no socket is open.
    SocketMode,
    /// Events API over HTTP: signed POSTs to the bot's Request URLs.
    Http {
        /// Where `event_callback` and `url_verification` go.
        events_url: String,
        /// Where slash commands go; `None` means the events URL.
        commands_url: Option<String>,
    },
}

/// Everything the fake needs to know; `Default` gives the shared cast.
#[derive(Debug, Clone)]
pub struct FakeSlackConfig {
    /// The workspace.
    pub team: FakeTeam,
    /// The installed app and its bot user.
    pub bot: FakeBot,
    /// Members of the workspace (the bot user is added automatically).
    pub users: Vec<FakeUser>,
    /// Conversations.
    pub channels: Vec<FakeChannel>,
    /// Bot token (`xoxb-…`).
    pub bot_token: String,
    /// App-level token (`xapp-…`), the only one `apps.connections.open` accepts.
    pub app_token: String,
    /// User tokens (`xoxp-…`).
    pub user_tokens: Vec<FakeUserToken>,
    /// Signing secret for HTTP deliveries.
    pub signing_secret: String,
    /// Legacy verification token placed in payloads (`token` field).
    pub verification_token: String,
    /// The slash command the bot registered, e.g. `/linkguard`.
    pub slash_command: String,
    /// Initial delivery mode; can be changed with `FakeSlack::set_delivery`.
    pub delivery: Delivery,
    /// How long the bot has to ack an envelope / answer an HTTP POST (Slack: 3 s).
    pub ack_timeout: Duration,
    /// Pause before each HTTP retry (Slack: immediately, ~1 min, ~5 min).
    /// Its length is the number of retries.
    pub http_retry_delays: Vec<Duration>,
    /// Socket Mode redeliveries of an unacked `events_api` envelope.
    pub socket_max_retries: u32,
    /// How long `FakeSlack::slash_command` waits for the bot's answer.
    pub slash_answer_timeout: Duration,
}

/// Default bot token of the fake.
pub const DEFAULT_BOT_TOKEN: &str = "xoxb-0000000001-0000000002-fakeBotToken000000000000";
/// Default app-level token of the fake.
pub const DEFAULT_APP_TOKEN: &str = "xapp-1-A0FAKEAPP01-0000000003-fakeAppToken0000000000000000";
/// Default user token of the workspace admin.
pub const DEFAULT_ADMIN_USER_TOKEN: &str = "xoxp-0000000001-0000000004-fakeAdminUserToken000000";
/// Default signing secret (the one `signing_vectors.json` uses for project vectors).
pub const DEFAULT_SIGNING_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// Scopes a typical moderation bot is granted.
pub fn default_bot_scopes() -> Vec<String> {
    [
        "chat:write",
        "chat:write.customize",
        "chat:write.public",
        "commands",
        "users:read",
        "channels:read",
        "channels:history",
        "groups:read",
        "groups:history",
        "team:read",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Default for FakeSlackConfig {
    fn default() -> Self {
        let alice = FakeUser {
            real_name: "Alice Example".into(),
            avatar_url: "https://secure.gravatar.com/avatar/0a1b2c3d.jpg".into(),
            ..FakeUser::member("U0FAKEUSR01", "alice", "Alice Example")
        };
        let bob = FakeUser::member("U0FAKEUSR02", "bob", "Bob Example");
        let admin = FakeUser::member("U0FAKEADM01", "admin", "Ada Admin").admin();
        let members = vec![
            alice.id.clone(),
            bob.id.clone(),
            admin.id.clone(),
            "U0FAKEBOT01".to_string(),
        ];
        Self {
            team: FakeTeam {
                id: "T0FAKETEAM1".into(),
                name: "Fake Mod Workspace".into(),
                domain: "fakemod".into(),
            },
            bot: FakeBot {
                app_id: "A0FAKEAPP01".into(),
                user_id: "U0FAKEBOT01".into(),
                bot_id: "B0FAKEBOT01".into(),
                name: "modbot".into(),
                scopes: default_bot_scopes(),
            },
            users: vec![alice, bob, admin],
            channels: vec![FakeChannel {
                id: "C0FAKECHAN1".into(),
                name: "general".into(),
                is_private: false,
                is_archived: false,
                is_general: true,
                members,
                topic: "Company-wide announcements".into(),
                purpose: "This channel is for team-wide communication.".into(),
            }],
            bot_token: DEFAULT_BOT_TOKEN.into(),
            app_token: DEFAULT_APP_TOKEN.into(),
            user_tokens: vec![FakeUserToken {
                token: DEFAULT_ADMIN_USER_TOKEN.into(),
                user_id: "U0FAKEADM01".into(),
                scopes: vec![
                    "chat:write".into(),
                    "users:read".into(),
                    "channels:read".into(),
                    "channels:history".into(),
                ],
            }],
            signing_secret: DEFAULT_SIGNING_SECRET.into(),
            verification_token: "fakeVerificationToken000".into(),
            slash_command: "/linkguard".into(),
            delivery: Delivery::SocketMode,
            ack_timeout: Duration::from_secs(3),
            http_retry_delays: vec![
                Duration::ZERO,
                Duration::from_secs(60),
                Duration::from_secs(300),
            ],
            socket_max_retries: 3,
            slash_answer_timeout: Duration::from_secs(10),
        }
    }
}

impl FakeSlackConfig {
    /// Shortens every protocol timer for tests: `ack_timeout` as given, HTTP
    /// retries spaced by `retry_gap`.
    pub fn with_fast_timers(mut self, ack_timeout: Duration, retry_gap: Duration) -> Self {
        self.ack_timeout = ack_timeout;
        self.http_retry_delays = vec![Duration::ZERO, retry_gap, retry_gap];
        self
    }

    /// Removes a scope from the bot token (e.g. `chat:write.customize`).
    pub fn without_bot_scope(mut self, scope: &str) -> Self {
        self.bot.scopes.retain(|s| s != scope);
        self
    }

    /// Drops every user token, as in a workspace where no admin installed the app.
    pub fn without_user_tokens(mut self) -> Self {
        self.user_tokens.clear();
        self
    }

    pub(crate) fn user(&self, id: &str) -> Option<&FakeUser> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn channel(&self, id: &str) -> Option<&FakeChannel> {
        self.channels.iter().find(|c| c.id == id)
    }
}
