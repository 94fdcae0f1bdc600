//! Application commands: global and per-server registration (bulk overwrite,
//! create, edit, delete, list) with Discord's length and shape limits.

use serde_json::Value;

use crate::discord::payloads;
use crate::discord::state::DiscordState;

use super::*;

pub(super) fn commands(
    st: &mut DiscordState,
    req: &Req<'_>,
    guild: Option<u64>,
) -> Result<Reply, ApiError> {
    let segs = &req.segs;
    let app = snowflake(segs[1]);
    if app != Some(st.config.bot.id) {
        return Err(ApiError::new(
            403,
            20012,
            "You are not authorized to perform this action on this application",
        ));
    }
    let base = if guild.is_some() { 6 } else { 3 };
    let current = match guild {
        Some(g) => st.guild_commands.get(&g).cloned().unwrap_or_default(),
        None => st.global_commands.clone(),
    };
    let single = segs.get(base).copied();
    let (result, new_set) = command_op(st, req, guild, &current, single)?;
    if let Some(set) = new_set {
        match guild {
            Some(g) => {
                st.guild_commands.insert(g, set);
            }
            None => st.global_commands = set,
        }
    }
    Ok(result)
}

/// What one request does to the command set `current`: the reply, and the
/// new set when it changes.
fn command_op(
    st: &mut DiscordState,
    req: &Req<'_>,
    guild: Option<u64>,
    current: &[Value],
    single: Option<&str>,
) -> Result<(Reply, Option<Vec<Value>>), ApiError> {
    let outcome = match (req.method.as_str(), single) {
        ("GET", None) => (Reply::ok(Value::Array(current.to_vec())), None),
        ("GET", Some(id)) => {
            let c = current
                .iter()
                .find(|c| c["id"] == id)
                .cloned()
                .ok_or_else(|| ApiError::new(404, 10063, "Unknown application command"))?;
            (Reply::ok(c), None)
        }
        ("PUT", None) => {
            let Some(Value::Array(items)) = req.body.clone() else {
                return Err(ApiError::form(
                    "_root",
                    "ARRAY_TYPE_CONVERT",
                    "Must be an array.",
                ));
            };
            let mut set = Vec::new();
            for item in &items {
                set.push(build_command(st, item, current, guild)?);
            }
            (Reply::ok(Value::Array(set.clone())), Some(set))
        }
        ("POST", None) => {
            let body = req.body.clone().unwrap_or(Value::Null);
            let c = build_command(st, &body, current, guild)?;
            let mut set = current.to_vec();
            let existed = set.iter().any(|x| x["id"] == c["id"]);
            set.retain(|x| x["id"] != c["id"]);
            set.push(c.clone());
            let status = if existed { 200 } else { 201 };
            (
                Reply {
                    status,
                    body: Some(c),
                },
                Some(set),
            )
        }
        ("PATCH", Some(id)) => {
            let old = current
                .iter()
                .find(|c| c["id"] == id)
                .cloned()
                .ok_or_else(|| ApiError::new(404, 10063, "Unknown application command"))?;
            let mut merged = old.clone();
            if let Some(body) = req.body.clone() {
                payloads::merge(&mut merged, body);
            }
            let c = build_command(st, &merged, current, guild)?;
            let set: Vec<Value> = current
                .iter()
                .map(|x| if x["id"] == id { c.clone() } else { x.clone() })
                .collect();
            (Reply::ok(c), Some(set))
        }
        ("DELETE", Some(id)) => {
            if !current.iter().any(|c| c["id"] == id) {
                return Err(ApiError::new(404, 10063, "Unknown application command"));
            }
            let set: Vec<Value> = current.iter().filter(|c| c["id"] != id).cloned().collect();
            (Reply::no_content(), Some(set))
        }
        _ => return Err(not_found()),
    };
    Ok(outcome)
}

/// A command object from its registration `body`: checked against
/// Discord's limits, keeping the id of an `existing` command of the same
/// name and type, with a new version.
fn build_command(
    st: &mut DiscordState,
    body: &Value,
    existing: &[Value],
    guild: Option<u64>,
) -> Result<Value, ApiError> {
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    let kind = body.get("type").and_then(Value::as_u64).unwrap_or(1);
    if name.is_empty() || name.chars().count() > 32 {
        return Err(ApiError::form(
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 32 in length.",
        ));
    }
    if kind == 1
        && body
            .get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(ApiError::form(
            "description",
            "BASE_TYPE_REQUIRED",
            "This field is required",
        ));
    }
    check_lengths(body, "")?;
    let id = existing
        .iter()
        .find(|c| c["name"] == name && c["type"].as_u64().unwrap_or(1) == kind)
        .and_then(|c| c["id"].as_str().and_then(snowflake));
    let id = match id {
        Some(id) => id,
        None => st.snowflake(),
    };
    st.command_version += 1;
    Ok(payloads::command(
        id,
        st.config.bot.id,
        guild,
        st.command_version,
        body,
    ))
}

/// Discord's limits on a command's and its options' texts: names of 1 to 32
/// characters, descriptions of at most 100 (a longer one refuses the whole
/// registration with a form error naming the field).
fn check_lengths(v: &Value, at: &str) -> Result<(), ApiError> {
    let field = |f: &str| {
        if at.is_empty() {
            f.to_owned()
        } else {
            format!("{at}.{f}")
        }
    };
    if let Some(d) = v.get("description").and_then(Value::as_str) {
        if d.chars().count() > 100 {
            return Err(ApiError::form(
                &field("description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
    }
    if let Some(n) = v.get("name").and_then(Value::as_str) {
        if n.is_empty() || n.chars().count() > 32 {
            return Err(ApiError::form(
                &field("name"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 32 in length.",
            ));
        }
    }
    if let Some(Value::Array(opts)) = v.get("options") {
        for (i, o) in opts.iter().enumerate() {
            check_lengths(o, &field(&format!("options.{i}")))?;
        }
    }
    Ok(())
}

/// `/applications/{app}/guilds/{g}/commands`: as the global ones, for a guild the bot is in.
pub(super) fn guild_commands(st: &mut DiscordState, req: &Req<'_>) -> Result<Reply, ApiError> {
    let segs = req.segs.as_slice();
    let g = known_guild(st, segs[3])?.id;
    commands(st, req, Some(g))
}
