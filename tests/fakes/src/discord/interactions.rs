//! Slash commands as a user runs them: INTERACTION_CREATE with the
//! interaction object Discord sends in a server or a DM, and the bot's answer
//! (the component and modal kinds build on it in `native`).

use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::config::{perms, UserSpec};
use super::state::{now_ms, DiscordState, GatewayEvent, InteractionRecord};
use super::{payloads, FakeDiscord, FakeDiscordError};

/// The bot's first answer to an interaction.
#[derive(Clone, Debug, PartialEq)]
pub struct InteractionCallback {
    /// Interaction id.
    pub interaction_id: u64,
    /// Interaction token (for inspecting follow-ups).
    pub token: String,
    /// Callback type: 4 message, 5 deferred, …
    pub kind: u64,
    /// The callback's `data`, `Null` when absent.
    pub data: Value,
}

impl FakeDiscord {
    /// Dispatches INTERACTION_CREATE (type 2, slash command) and returns its id and token
    /// without waiting for the bot. `options` is Discord's `data.options` array.
    pub fn start_interaction(
        &self,
        channel: u64,
        user: u64,
        command_name: &str,
        options: Value,
    ) -> Result<(u64, String), FakeDiscordError> {
        self.begin_interaction(channel, user, command_name, options)
            .map(|(id, token, _)| (id, token))
    }

    fn begin_interaction(
        &self,
        channel: u64,
        user: u64,
        command_name: &str,
        options: Value,
    ) -> Result<(u64, String, oneshot::Receiver<Value>), FakeDiscordError> {
        self.begin_interaction_of(channel, user, 2, command_name, |_, command_id| {
            let mut data = json!({
                "id": command_id.to_string(),
                "name": command_name,
                "type": 1,
            });
            if options.as_array().is_some_and(|o| !o.is_empty()) {
                data["options"] = options;
            }
            (data, Value::Null)
        })
    }

    /// Dispatches INTERACTION_CREATE of `kind` (2 command, 3 component, 5
    /// modal submit) whose `data` (and extra top-level fields, e.g. the
    /// component's `message`) `build` makes from the state and the id of
    /// the command named `label`.
    pub(super) fn begin_interaction_of(
        &self,
        channel: u64,
        user: u64,
        kind: u64,
        label: &str,
        build: impl FnOnce(&mut DiscordState, u64) -> (Value, Value),
    ) -> Result<(u64, String, oneshot::Receiver<Value>), FakeDiscordError> {
        let command_name = label;
        self.mutate(|st| {
            let home = st
                .channel_home(channel)
                .ok_or(FakeDiscordError::UnknownChannel(channel))?;
            let user_spec = st
                .config
                .user(user)
                .cloned()
                .ok_or(FakeDiscordError::UnknownUser(user))?;
            let id = st.snowflake();
            let token = format!("FAKE-interaction-token-{id}-{}", now_ms());
            let bot = st.config.bot.id;
            let command_id = command_id(st, home, command_name);
            let (data, extra) = build(st, command_id);
            let mut d = json!({
                "application_id": bot.to_string(),
                "attachment_size_limit": 10_485_760,
                "channel_id": channel.to_string(),
                "data": data,
                "entitlement_sku_ids": [],
                "entitlements": [],
                "id": id.to_string(),
                "locale": "en-US",
                "token": token,
                "type": kind,
                "version": 1,
            });
            // A component's interaction acts on (and `@original` is) its message.
            let component_message = extra
                .get("message")
                .and_then(|m| m.get("id"))
                .and_then(Value::as_str)
                .and_then(|m| m.parse::<u64>().ok());
            payloads::merge(&mut d, extra);
            let context = context_fields(st, home, channel, user, &user_spec)?;
            payloads::merge(&mut d, context);
            st.interactions.insert(
                id,
                InteractionRecord {
                    id,
                    token: token.clone(),
                    command: command_name.to_owned(),
                    kind,
                    channel_id: channel,
                    user_id: user,
                    callback: None,
                    original_message: component_message,
                    original_edits: Vec::new(),
                    followups: Vec::new(),
                    created: Instant::now(),
                },
            );
            let (tx, rx) = oneshot::channel();
            st.interaction_waiters.insert(id, tx);
            st.broadcast(GatewayEvent {
                t: "INTERACTION_CREATE".to_owned(),
                d,
                guild_id: home,
                intent: None,
                strip_content_unless: None,
            });
            Ok((id, token, rx))
        })
    }

    /// Dispatches a slash command and waits for the bot's callback (within Discord's window
    /// plus a little slack); returns what the bot answered.
    pub async fn interaction(
        &self,
        channel: u64,
        user: u64,
        command_name: &str,
        options: Value,
    ) -> Result<InteractionCallback, FakeDiscordError> {
        self.await_callback(self.begin_interaction(channel, user, command_name, options))
            .await
    }
}

/// The id of the command named `name` (the guild's, then the global ones);
/// a fresh snowflake when none is registered.
fn command_id(st: &mut DiscordState, home: Option<u64>, name: &str) -> u64 {
    let registered = home
        .and_then(|g| st.guild_commands.get(&g))
        .into_iter()
        .flatten()
        .chain(st.global_commands.iter())
        .find(|c| c["name"] == name)
        .and_then(|c| c["id"].as_str().and_then(|s| s.parse::<u64>().ok()));
    match registered {
        Some(c) => c,
        None => st.snowflake(),
    }
}

/// Where the interaction happens, as its object says it: in a server the
/// guild, channel and member with the user's permissions there (and the
/// bot's as `app_permissions`); in a DM the DM channel and the user.
fn context_fields(
    st: &DiscordState,
    home: Option<u64>,
    channel: u64,
    user: u64,
    user_spec: &UserSpec,
) -> Result<Value, FakeDiscordError> {
    let Some(g) = home else {
        return Ok(json!({
            "app_permissions": perms::ALL.to_string(),
            "authorizing_integration_owners": { "0": user.to_string() },
            "channel": payloads::dm_channel(channel, user_spec),
            "context": 1,
            "user": payloads::user(user_spec),
        }));
    };
    let guild = st
        .guild(g)
        .ok_or(FakeDiscordError::UnknownChannel(channel))?;
    let member = guild
        .member(user)
        .ok_or(FakeDiscordError::UnknownUser(user))?;
    let spec = guild
        .channel(channel)
        .ok_or(FakeDiscordError::UnknownChannel(channel))?;
    let app_perms = guild.permissions_in(st.config.bot.id, channel);
    let user_perms = guild.permissions_in(user, channel);
    let mut channel_json = payloads::channel(spec, g);
    channel_json["permissions"] = json!(user_perms.to_string());
    let mut member_json = payloads::member(member, user_spec);
    member_json["permissions"] = json!(user_perms.to_string());
    Ok(json!({
        "app_permissions": app_perms.to_string(),
        "authorizing_integration_owners": { "0": g.to_string() },
        "channel": channel_json,
        "context": 0,
        "guild": { "features": [], "id": g.to_string(), "locale": "en-US" },
        "guild_id": g.to_string(),
        "guild_locale": "en-US",
        "member": member_json,
    }))
}
