//! An AutoMod rule checked against Discord's limits, as `POST` and `PATCH`
//! answer 400 Invalid Form Body with the field at fault.

use regex::RegexBuilder;
use serde_json::{json, Value};

use super::{
    error, form, Failure, MAX_ALLOW, MAX_CUSTOM_MESSAGE, MAX_EXEMPT_CHANNELS, MAX_EXEMPT_ROLES,
    MAX_KEYWORDS, MAX_KEYWORD_LEN, MAX_REGEXES, MAX_REGEX_LEN, MAX_TIMEOUT_SECS,
};
use crate::discord::config::GuildSpec;
use crate::discord::state::DiscordState;

fn strings(v: &Value, field: &str) -> Result<Vec<String>, Failure> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| form(field, "BASE_TYPE_STRING", "Must be a string."))
            })
            .collect(),
        Some(_) => Err(form(field, "BASE_TYPE_ARRAY", "Must be an array.")),
    }
}

fn snowflakes(v: &Value, field: &str) -> Result<Vec<u64>, Failure> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| i.as_u64())
                    .ok_or_else(|| form(field, "NUMBER_TYPE_COERCE", "Value is not snowflake."))
            })
            .collect(),
        Some(_) => Err(form(field, "BASE_TYPE_ARRAY", "Must be an array.")),
    }
}

/// Checks a whole rule (as it would be stored) against Discord's limits and
/// returns its canonical JSON.
pub(super) fn validate(
    st: &DiscordState,
    guild_id: u64,
    id: u64,
    creator: u64,
    v: &Value,
) -> Result<Value, Failure> {
    let guild = st
        .guild(guild_id)
        .ok_or_else(|| error(404, 10004, "Unknown Guild"))?;
    let (name, event_type, trigger_type) = name_and_types(v)?;
    let metadata = trigger_metadata(v, trigger_type)?;
    let out_actions = actions(v, guild, trigger_type)?;
    let (roles, channels) = exemptions(v, guild)?;
    Ok(json!({
        "id": id.to_string(),
        "guild_id": guild_id.to_string(),
        "name": name,
        "creator_id": creator.to_string(),
        "event_type": event_type,
        "trigger_type": trigger_type,
        "trigger_metadata": metadata,
        "actions": out_actions,
        // Discord's default for a new rule is disabled.
        "enabled": v.get("enabled").and_then(Value::as_bool).unwrap_or(false),
        "exempt_roles": roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "exempt_channels": channels.iter().map(u64::to_string).collect::<Vec<_>>(),
    }))
}

/// The rule's `name` (1 to 100 characters), `event_type` and
/// `trigger_type`, which must agree (member profile rules, 6, run on
/// member updates, 2; the others on messages, 1).
fn name_and_types(v: &Value) -> Result<(&str, u64, u64), Failure> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| form("name", "BASE_TYPE_REQUIRED", "This field is required"))?;
    if name.is_empty() || name.chars().count() > 100 {
        return Err(form(
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        ));
    }
    let event_type = v
        .get("event_type")
        .and_then(Value::as_u64)
        .ok_or_else(|| form("event_type", "BASE_TYPE_REQUIRED", "This field is required"))?;
    let trigger_type = v
        .get("trigger_type")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            form(
                "trigger_type",
                "BASE_TYPE_REQUIRED",
                "This field is required",
            )
        })?;
    if ![1, 3, 4, 5, 6].contains(&trigger_type) {
        return Err(form(
            "trigger_type",
            "BASE_TYPE_CHOICES",
            "Value must be one of {1, 3, 4, 5, 6}.",
        ));
    }
    let expected_event = if trigger_type == 6 { 2 } else { 1 };
    if event_type != expected_event {
        return Err(form(
            "event_type",
            "AUTO_MODERATION_INVALID_EVENT_TYPE",
            "Invalid event type for this trigger type.",
        ));
    }
    Ok((name, event_type, trigger_type))
}

/// `trigger_metadata` as the rule's trigger type has it.
fn trigger_metadata(v: &Value, trigger_type: u64) -> Result<Value, Failure> {
    let meta = v.get("trigger_metadata").cloned().unwrap_or(json!({}));
    let metadata = match trigger_type {
        1 => keyword_metadata(&meta)?,
        4 => json!({
            "presets": meta.get("presets").cloned().unwrap_or(json!([])),
            "allow_list": strings(&meta, "allow_list")?,
        }),
        5 => json!({
            "mention_total_limit": meta.get("mention_total_limit").cloned().unwrap_or(json!(5)),
            "mention_raid_protection_enabled": meta.get("mention_raid_protection_enabled").cloned().unwrap_or(json!(false)),
        }),
        _ => json!({}),
    };
    Ok(metadata)
}

/// A keyword rule's metadata: keywords, regexes and allow list within
/// their counts and lengths, the regexes valid, and at least one keyword or
/// regex.
fn keyword_metadata(meta: &Value) -> Result<Value, Failure> {
    let keywords = strings(meta, "keyword_filter")?;
    let regexes = strings(meta, "regex_patterns")?;
    let allow = strings(meta, "allow_list")?;
    for (field, list, max, len) in [
        ("keyword_filter", &keywords, MAX_KEYWORDS, MAX_KEYWORD_LEN),
        ("regex_patterns", &regexes, MAX_REGEXES, MAX_REGEX_LEN),
        ("allow_list", &allow, MAX_ALLOW, MAX_KEYWORD_LEN),
    ] {
        if list.len() > max {
            return Err(form(
                &format!("trigger_metadata.{field}"),
                "BASE_TYPE_MAX_LENGTH",
                &format!("Must be {max} or fewer in length."),
            ));
        }
        if let Some(i) = list
            .iter()
            .position(|k| k.is_empty() || k.chars().count() > len)
        {
            return Err(form(
                &format!("trigger_metadata.{field}.{i}"),
                "BASE_TYPE_BAD_LENGTH",
                &format!("Must be between 1 and {len} in length."),
            ));
        }
    }
    for (i, r) in regexes.iter().enumerate() {
        if RegexBuilder::new(r).build().is_err() {
            return Err(form(
                &format!("trigger_metadata.regex_patterns.{i}"),
                "AUTO_MODERATION_INVALID_REGEX",
                "Invalid regex.",
            ));
        }
    }
    if keywords.is_empty() && regexes.is_empty() {
        return Err(form(
            "trigger_metadata",
            "AUTO_MODERATION_TRIGGER_METADATA_REQUIRED",
            "A keyword rule needs keyword_filter or regex_patterns.",
        ));
    }
    Ok(json!({ "keyword_filter": keywords, "regex_patterns": regexes, "allow_list": allow }))
}

/// The rule's `actions` (at least one), each checked by [`action`].
fn actions(v: &Value, guild: &GuildSpec, trigger_type: u64) -> Result<Vec<Value>, Failure> {
    let actions = match v.get("actions") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(form(
                "actions",
                "BASE_TYPE_REQUIRED",
                "This field is required",
            ))
        }
        Some(_) => return Err(form("actions", "BASE_TYPE_ARRAY", "Must be an array.")),
    };
    actions
        .iter()
        .enumerate()
        .map(|(i, a)| action(i, a, guild, trigger_type))
        .collect()
}

/// Action `i`: 1 blocks (with an optional custom message), 2 alerts a
/// channel of the server, 3 times the member out (keyword and mention spam
/// rules only), 4 blocks a member's interaction (member profile rules only).
fn action(i: usize, a: &Value, guild: &GuildSpec, trigger_type: u64) -> Result<Value, Failure> {
    let at = |f: &str| format!("actions.{i}.{f}");
    let kind = a
        .get("type")
        .and_then(Value::as_u64)
        .ok_or_else(|| form(&at("type"), "BASE_TYPE_REQUIRED", "This field is required"))?;
    let md = a.get("metadata").cloned().unwrap_or(json!({}));
    let metadata = match kind {
        1 => {
            let mut m = json!({});
            if let Some(msg) = md.get("custom_message").and_then(Value::as_str) {
                if msg.chars().count() > MAX_CUSTOM_MESSAGE {
                    return Err(form(
                        &at("metadata.custom_message"),
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 150 or fewer in length.",
                    ));
                }
                m["custom_message"] = json!(msg);
            }
            m
        }
        2 => {
            let channel = md
                .get("channel_id")
                .and_then(|c| {
                    c.as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .or(c.as_u64())
                })
                .ok_or_else(|| {
                    form(
                        &at("metadata.channel_id"),
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    )
                })?;
            if guild.channel(channel).is_none() {
                return Err(form(
                    &at("metadata.channel_id"),
                    "CHANNEL_INVALID",
                    "Unknown channel.",
                ));
            }
            json!({ "channel_id": channel.to_string() })
        }
        3 => {
            if ![1, 5].contains(&trigger_type) {
                return Err(form(
                    &at("type"),
                    "AUTO_MODERATION_ACTION_INVALID_FOR_TRIGGER",
                    "Timeout is only allowed for keyword and mention spam rules.",
                ));
            }
            let secs = md
                .get("duration_seconds")
                .and_then(Value::as_u64)
                .filter(|s| *s <= MAX_TIMEOUT_SECS)
                .ok_or_else(|| {
                    form(
                        &at("metadata.duration_seconds"),
                        "NUMBER_TYPE_MAX",
                        "Must be 2419200 or less.",
                    )
                })?;
            json!({ "duration_seconds": secs })
        }
        4 if trigger_type == 6 => json!({}),
        _ => {
            return Err(form(
                &at("type"),
                "BASE_TYPE_CHOICES",
                "Invalid action type for this trigger type.",
            ))
        }
    };
    Ok(json!({ "type": kind, "metadata": metadata }))
}

/// `exempt_roles` and `exempt_channels`: within their counts, and all of
/// the server.
fn exemptions(v: &Value, guild: &GuildSpec) -> Result<(Vec<u64>, Vec<u64>), Failure> {
    let roles = snowflakes(v, "exempt_roles")?;
    if roles.len() > MAX_EXEMPT_ROLES {
        return Err(form(
            "exempt_roles",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 20 or fewer in length.",
        ));
    }
    if let Some(r) = roles
        .iter()
        .find(|r| !guild.roles.iter().any(|x| x.id == **r))
    {
        return Err(form(
            "exempt_roles",
            "ROLE_INVALID",
            &format!("Unknown role {r}."),
        ));
    }
    let channels = snowflakes(v, "exempt_channels")?;
    if channels.len() > MAX_EXEMPT_CHANNELS {
        return Err(form(
            "exempt_channels",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 50 or fewer in length.",
        ));
    }
    if let Some(c) = channels.iter().find(|c| guild.channel(**c).is_none()) {
        return Err(form(
            "exempt_channels",
            "CHANNEL_INVALID",
            &format!("Unknown channel {c}."),
        ));
    }
    Ok((roles, channels))
}
