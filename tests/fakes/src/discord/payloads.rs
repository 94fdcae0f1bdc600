//! JSON builders for every object the fake sends: users, members, roles, channels, guilds,
//! READY, messages, webhooks, interactions, commands and errors.
//!
//! serenity turns a dispatch with a missing required field into `Event::Unknown` without a
//! word, so these builders emit the complete shapes of the protocol fixtures (field for field),
//! and the unit tests below deserialize each one with serenity's own models.

use serde_json::{json, Map, Value};

use super::config::{
    ChannelKind, ChannelSpec, FakeDiscordConfig, GuildSpec, MemberSpec, OverwriteTarget, RoleSpec,
    UserSpec,
};

/// Milliseconds between the Unix epoch and Discord's epoch (2015-01-01).
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// ISO 8601 with microseconds and `+00:00`, as Discord writes timestamps.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let micros = (unix_ms % 1000) * 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The creation time encoded in a snowflake, as a timestamp string.
pub fn snowflake_timestamp(id: u64) -> String {
    iso8601((id >> 22) + DISCORD_EPOCH_MS)
}

/// A fixed timestamp for members' `joined_at`.
const JOINED_AT: &str = "2026-01-01T00:00:00.000000+00:00";

/// A user object (as in message authors and mentions).
pub fn user(u: &UserSpec) -> Value {
    let mut v = json!({
        "id": u.id.to_string(),
        "username": u.username,
        "global_name": u.global_name,
        "discriminator": u.discriminator,
        "avatar": u.avatar,
        "avatar_decoration_data": null,
        "public_flags": 0,
        "flags": 0,
        "clan": null,
        "primary_guild": null,
        "collectibles": null,
    });
    if u.bot {
        v["bot"] = json!(true);
    }
    v
}

/// The bot's own user as in READY and `GET /users/@me`.
pub fn current_user(bot: &UserSpec) -> Value {
    let mut v = user(bot);
    v["verified"] = json!(true);
    v["mfa_enabled"] = json!(false);
    v["email"] = Value::Null;
    v["bot"] = json!(true);
    v
}

/// A member object without `user` (as in MESSAGE_CREATE).
pub fn partial_member(m: &MemberSpec) -> Value {
    json!({
        "roles": m.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "premium_since": null,
        "pending": false,
        "nick": m.nick,
        "mute": false,
        "joined_at": JOINED_AT,
        "flags": 0,
        "deaf": false,
        "communication_disabled_until": null,
        "banner": null,
        "avatar": null,
    })
}

/// A member object with its `user` (GUILD_CREATE, `GET /guilds/{g}/members/{u}`).
pub fn member(m: &MemberSpec, u: &UserSpec) -> Value {
    let mut v = partial_member(m);
    v["user"] = user(u);
    v
}

/// A role object, including the `colors` serenity 0.12.5 requires.
pub fn role(r: &RoleSpec) -> Value {
    let mut v = json!({
        "id": r.id.to_string(),
        "name": r.name,
        "color": r.color,
        "colors": {
            "primary_color": r.color,
            "secondary_color": null,
            "tertiary_color": null,
        },
        "hoist": r.hoist,
        "icon": null,
        "unicode_emoji": null,
        "position": r.position,
        "permissions": r.permissions.to_string(),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    });
    if let Some(bot) = r.bot_id {
        v["tags"] = json!({ "bot_id": bot.to_string() });
    }
    v
}

/// A guild channel or thread object, with `guild_id`.
pub fn channel(c: &ChannelSpec, guild_id: u64) -> Value {
    let overwrites: Vec<Value> = c
        .overwrites
        .iter()
        .map(|o| {
            let (id, kind) = match o.target {
                OverwriteTarget::Role(id) => (id, 0),
                OverwriteTarget::Member(id) => (id, 1),
            };
            json!({
                "id": id.to_string(),
                "type": kind,
                "allow": o.allow.to_string(),
                "deny": o.deny.to_string(),
            })
        })
        .collect();
    let mut v = json!({
        "id": c.id.to_string(),
        "type": c.kind.code(),
        "guild_id": guild_id.to_string(),
        "name": c.name,
        "parent_id": c.parent_id.map(|p| p.to_string()),
        "nsfw": false,
        "rate_limit_per_user": 0,
        "last_message_id": null,
        "flags": 0,
    });
    match c.kind {
        ChannelKind::PublicThread => {
            v["owner_id"] = json!(c.owner_id.map(|o| o.to_string()));
            v["message_count"] = json!(0);
            v["member_count"] = json!(1);
            v["total_message_sent"] = json!(0);
            v["thread_metadata"] = json!({
                "archived": false,
                "auto_archive_duration": 1440,
                "archive_timestamp": snowflake_timestamp(c.id),
                "locked": false,
                "create_timestamp": snowflake_timestamp(c.id),
            });
            v["applied_tags"] = json!([]);
        }
        ChannelKind::Text | ChannelKind::Forum => {
            v["position"] = json!(0);
            v["topic"] = json!(c.topic);
            v["permission_overwrites"] = Value::Array(overwrites);
            v["icon_emoji"] = Value::Null;
            v["theme_color"] = Value::Null;
            v["version"] = json!(1_767_000_000_000_u64);
            if c.kind == ChannelKind::Forum {
                v["available_tags"] = json!([]);
                v["default_reaction_emoji"] = Value::Null;
                v["default_sort_order"] = Value::Null;
                v["default_forum_layout"] = json!(0);
                v["default_thread_rate_limit_per_user"] = json!(0);
            }
        }
    }
    v
}

/// A DM channel object.
pub fn dm_channel(id: u64, recipient: &UserSpec) -> Value {
    json!({
        "id": id.to_string(),
        "type": 1,
        "last_message_id": null,
        "flags": 0,
        "recipients": [user(recipient)],
    })
}

fn guild_common(g: &GuildSpec) -> Value {
    json!({
        "id": g.id.to_string(),
        "name": g.name,
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "description": null,
        "banner": null,
        "owner_id": g.owner_id.to_string(),
        "application_id": null,
        "region": "deprecated",
        "afk_channel_id": null,
        "afk_timeout": 300,
        "system_channel_id": g.channels.first().map(|c| c.id.to_string()),
        "system_channel_flags": 0,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": false,
        "preferred_locale": "en-US",
        "rules_channel_id": null,
        "public_updates_channel_id": null,
        "safety_alerts_channel_id": null,
        "vanity_url_code": null,
        "max_members": 500_000,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "features": [],
        "roles": g.roles.iter().map(role).collect::<Vec<_>>(),
        "emojis": [],
        "stickers": [],
    })
}

/// The guild object of `GET /guilds/{g}`.
pub fn rest_guild(g: &GuildSpec) -> Value {
    let mut v = guild_common(g);
    v["approximate_member_count"] = json!(g.members.len());
    v["approximate_presence_count"] = json!(0);
    v
}

/// GUILD_CREATE's `d`: the whole guild with channels, threads, roles and the bot's member.
/// Without GUILD_PRESENCES Discord sends only the bot (and the owner) in `members`.
pub fn guild_create(config: &FakeDiscordConfig, g: &GuildSpec) -> Value {
    let mut v = guild_common(g);
    let members: Vec<Value> = g
        .members
        .iter()
        .filter(|m| m.user_id == config.bot.id)
        .filter_map(|m| config.user(m.user_id).map(|u| member(m, u)))
        .collect();
    let channels: Vec<Value> = g
        .channels
        .iter()
        .filter(|c| !c.kind.is_thread())
        .map(|c| channel(c, g.id))
        .collect();
    let threads: Vec<Value> = g
        .channels
        .iter()
        .filter(|c| c.kind.is_thread())
        .map(|c| channel(c, g.id))
        .collect();
    let extra = json!({
        "soundboard_sounds": [],
        "incidents_data": null,
        "latest_onboarding_question_id": null,
        "home_header": null,
        "hub_type": null,
        "inventory_settings": null,
        "lazy": true,
        "joined_at": JOINED_AT,
        "large": false,
        "unavailable": false,
        "member_count": g.members.len(),
        "voice_states": [],
        "presences": [],
        "members": members,
        "channels": channels,
        "threads": threads,
        "stage_instances": [],
        "guild_scheduled_events": [],
        "embedded_activities": [],
        "activity_instances": [],
        "application_command_counts": {},
    });
    merge(&mut v, extra);
    v
}

/// READY's `d`.
pub fn ready(
    config: &FakeDiscordConfig,
    session_id: &str,
    resume_url: &str,
    shard: [u32; 2],
    guild_ids: &[u64],
) -> Value {
    json!({
        "v": 10,
        "user_settings": {},
        "user": current_user(&config.bot),
        "session_type": "normal",
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "relationships": [],
        "private_channels": [],
        "presences": [],
        "guilds": guild_ids
            .iter()
            .map(|id| json!({ "unavailable": true, "id": id.to_string() }))
            .collect::<Vec<_>>(),
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["us-east", "us-central", "atlanta", "us-south", "newark"],
        "game_relationships": [],
        "auth": {},
        "application": {
            "id": config.bot.id.to_string(),
            "flags": application_flags(config),
        },
        "shard": shard,
        "_trace": [TRACE],
    })
}

/// `_trace` entry Discord puts in Hello/READY.
pub const TRACE: &str = "[\"gateway-prd-us-east1-b-fake\",{\"micros\":0.0}]";

fn application_flags(config: &FakeDiscordConfig) -> u64 {
    const GATEWAY_MESSAGE_CONTENT_LIMITED: u64 = 1 << 19;
    if config.privileged_intents_enabled & super::config::intents::MESSAGE_CONTENT != 0 {
        config.application_flags | GATEWAY_MESSAGE_CONTENT_LIMITED
    } else {
        config.application_flags & !GATEWAY_MESSAGE_CONTENT_LIMITED
    }
}

/// `GET /oauth2/applications/@me`.
pub fn application_info(config: &FakeDiscordConfig) -> Value {
    json!({
        "id": config.bot.id.to_string(),
        "name": config.bot.username,
        "icon": null,
        "description": "",
        "summary": "",
        "type": null,
        "hook": true,
        "bot_public": false,
        "bot_require_code_grant": false,
        "verify_key": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "owner": user(config.users.first().unwrap_or(&config.bot)),
        "team": null,
        "flags": application_flags(config),
        "tags": [],
        "integration_types_config": { "0": {} },
        "approximate_guild_count": config.guilds.len(),
        "approximate_user_install_count": 0,
        "interactions_endpoint_url": null,
        "redirect_uris": [],
        "bot": current_user(&config.bot),
    })
}

/// A webhook object (`POST /channels/{c}/webhooks`).
pub fn webhook(
    id: u64,
    token: Option<&str>,
    name: &str,
    channel_id: u64,
    guild_id: u64,
    creator: &UserSpec,
    application_id: u64,
) -> Value {
    let mut v = json!({
        "application_id": application_id.to_string(),
        "avatar": null,
        "channel_id": channel_id.to_string(),
        "guild_id": guild_id.to_string(),
        "id": id.to_string(),
        "name": name,
        "type": 1,
        "user": user(creator),
    });
    if let Some(token) = token {
        v["token"] = json!(token);
    }
    v
}

/// An application command as Discord returns it.
pub fn command(
    id: u64,
    application_id: u64,
    guild_id: Option<u64>,
    version: u64,
    body: &Value,
) -> Value {
    let mut v = json!({
        "id": id.to_string(),
        "application_id": application_id.to_string(),
        "version": version.to_string(),
        "default_member_permissions": null,
        "type": 1,
        "name": "",
        "description": "",
        "dm_permission": true,
        "contexts": null,
        "integration_types": [0],
        "nsfw": false,
    });
    if let Some(g) = guild_id {
        v["guild_id"] = json!(g.to_string());
    }
    if let Value::Object(fields) = body {
        for (k, val) in fields {
            if matches!(k.as_str(), "id" | "application_id" | "version" | "guild_id") {
                continue;
            }
            v[k.as_str()] = val.clone();
        }
    }
    if let Some(p) = v.get("default_member_permissions").and_then(Value::as_u64) {
        v["default_member_permissions"] = json!(p.to_string());
    }
    v
}

/// A Discord error body.
pub fn error(code: u32, message: &str) -> Value {
    json!({ "message": message, "code": code })
}

/// The body of a 429.
pub fn rate_limited(retry_after: f64, global: bool) -> Value {
    json!({
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": global,
    })
}

/// Shallow-merges the fields of `extra` (an object) into `target` (an object).
pub fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(t), Value::Object(e)) = (target, extra) {
        let e: Map<String, Value> = e;
        t.extend(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_discord_format() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            iso8601(1_767_225_600_123),
            "2026-01-01T00:00:00.123000+00:00"
        );
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000000+00:00");
    }

    #[test]
    fn role_and_user_shapes_deserialize_with_serenity() {
        let config = FakeDiscordConfig::default();
        let g = &config.guilds[0];
        for r in &g.roles {
            let mut v = role(r);
            v["guild_id"] = json!(g.id.to_string());
            serde_json::from_value::<serenity::model::guild::Role>(v).expect("role");
        }
        serde_json::from_value::<serenity::model::user::User>(user(&config.users[0]))
            .expect("user");
        serde_json::from_value::<serenity::model::user::CurrentUser>(current_user(&config.bot))
            .expect("current user");
        serde_json::from_value::<serenity::model::application::CurrentApplicationInfo>(
            application_info(&config),
        )
        .expect("application info");
        for c in &g.channels {
            serde_json::from_value::<serenity::model::channel::GuildChannel>(channel(c, g.id))
                .unwrap_or_else(|e| panic!("channel {}: {e}", c.name));
        }
        serde_json::from_value::<serenity::model::guild::PartialGuild>(rest_guild(g))
            .expect("partial guild");
        serde_json::from_value::<serenity::model::webhook::Webhook>(webhook(
            1,
            Some("t"),
            "relay",
            g.channels[0].id,
            g.id,
            &config.bot,
            config.bot.id,
        ))
        .expect("webhook");
    }

    #[test]
    fn ready_and_guild_create_are_known_events() {
        use serenity::model::event::{Event, GatewayEvent};
        let config = FakeDiscordConfig::default();
        let g = &config.guilds[0];
        let frames = [
            json!({"op": 0, "s": 1, "t": "READY",
                   "d": ready(&config, "abc", "ws://127.0.0.1:1", [0, 1], &[g.id])}),
            json!({"op": 0, "s": 2, "t": "GUILD_CREATE", "d": guild_create(&config, g)}),
        ];
        for frame in frames {
            match serde_json::from_value::<GatewayEvent>(frame.clone()).expect("frame") {
                GatewayEvent::Dispatch(_, Event::Unknown(u)) => {
                    panic!("serenity did not recognise {}: {u:?}", frame["t"])
                }
                GatewayEvent::Dispatch(_, _) => {}
                other => panic!("not a dispatch: {other:?}"),
            }
        }
    }
}
