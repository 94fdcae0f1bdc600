//! AutoMod in the fake Discord: the rule routes under
//! `/guilds/{g}/auto-moderation/rules` with Discord's validation limits and
//! its 403 (code 50013) without Manage Server, the `AUTO_MODERATION_RULE_*`
//! events (AUTO_MODERATION_CONFIGURATION intent), and the screening of a
//! member's new message: a message an enabled keyword rule matches is not
//! created (no MESSAGE_CREATE); `AUTO_MODERATION_ACTION_EXECUTION`
//! (AUTO_MODERATION_EXECUTION intent, content blanked without
//! MESSAGE_CONTENT) is dispatched for each of the rule's actions instead.
//!
//! Facts from `shared/protocol/NATIVE.md` ("AutoMod"); keyword matching
//! follows Discord's documented wildcard rules: `word` matches whole words,
//! `*word` word endings, `word*` word starts, `*word*` anywhere; regexes are
//! Rust `regex` syntax; everything case-insensitive.

use std::collections::BTreeMap;

use regex::RegexBuilder;
use serde_json::{json, Value};

use super::config::{intents, perms, GuildSpec};
use super::state::{ContentExemption, DiscordState, GatewayEvent, StoredMessage};
use super::FakeDiscord;

mod validate;

use validate::validate;

/// Keyword rules a server may have (other trigger types: one each).
pub const MAX_KEYWORD_RULES: usize = 6;
/// Entries of `keyword_filter`.
pub const MAX_KEYWORDS: usize = 1000;
/// Characters of one keyword or allow-list entry.
pub const MAX_KEYWORD_LEN: usize = 60;
/// Entries of `regex_patterns`.
pub const MAX_REGEXES: usize = 10;
/// Characters of one regex.
pub const MAX_REGEX_LEN: usize = 260;
/// Entries of a keyword rule's `allow_list`.
pub const MAX_ALLOW: usize = 100;
/// Characters of a block action's `custom_message`.
pub const MAX_CUSTOM_MESSAGE: usize = 150;
/// `exempt_roles` entries.
pub const MAX_EXEMPT_ROLES: usize = 20;
/// `exempt_channels` entries.
pub const MAX_EXEMPT_CHANNELS: usize = 50;
/// A timeout action's longest duration (4 weeks).
pub const MAX_TIMEOUT_SECS: u64 = 2_419_200;

/// The rules of every guild, by rule id.
#[derive(Debug, Default)]
pub(crate) struct AutoModState {
    pub(crate) rules: BTreeMap<u64, Value>,
}

/// A REST failure: status and Discord's error body.
pub(crate) type Failure = (u16, Value);

fn error(status: u16, code: u32, message: &str) -> Failure {
    (status, super::payloads::error(code, message))
}

fn form(field: &str, code: &str, message: &str) -> Failure {
    let mut body = super::payloads::error(50035, "Invalid Form Body");
    body["errors"] = json!({ field: { "_errors": [{ "code": code, "message": message }] } });
    (400, body)
}

fn unknown_rule() -> Failure {
    error(404, 10066, "Unknown auto moderation rule")
}

/// Whether `user` has Manage Server (or Administrator, or owns) in `guild`.
fn manages(guild: &GuildSpec, user: u64) -> bool {
    // No channel: the member's server-wide permissions.
    let p = guild.permissions_in(user, 0);
    p & (perms::MANAGE_GUILD | perms::ADMINISTRATOR) != 0
}

/// The REST routes: `GET/POST /guilds/{g}/auto-moderation/rules`,
/// `GET/PATCH/DELETE /guilds/{g}/auto-moderation/rules/{id}`, as the bot.
pub(crate) fn rest(
    st: &mut DiscordState,
    method: &str,
    segs: &[&str],
    body: Option<&Value>,
) -> Result<(u16, Option<Value>), Failure> {
    let guild_id: u64 = segs
        .get(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| error(404, 10004, "Unknown Guild"))?;
    let guild = st
        .guild(guild_id)
        .filter(|_| !st.left_guilds.contains(&guild_id))
        .ok_or_else(|| error(404, 10004, "Unknown Guild"))?;
    let bot = st.config.bot.id;
    if guild.member(bot).is_none() {
        return Err(error(403, 50001, "Missing Access"));
    }
    if !manages(guild, bot) {
        return Err(error(403, 50013, "Missing Permissions"));
    }
    let rule_id = match segs.get(4) {
        Some(raw) => Some(raw.parse::<u64>().map_err(|_| unknown_rule())?),
        None => None,
    };
    match (method, rule_id) {
        ("GET", None) => Ok((200, Some(Value::Array(rules_of(st, guild_id))))),
        ("GET", Some(id)) => rule_in(st, guild_id, id).map(|r| (200, Some(r))),
        ("POST", None) => {
            create(st, guild_id, bot, body.cloned().unwrap_or(Value::Null)).map(|r| (200, Some(r)))
        }
        ("PATCH", Some(id)) => {
            modify(st, guild_id, id, body.cloned().unwrap_or(Value::Null)).map(|r| (200, Some(r)))
        }
        ("DELETE", Some(id)) => delete(st, guild_id, id).map(|()| (204, None)),
        _ => Err(error(405, 0, "405: Method Not Allowed")),
    }
}

fn rules_of(st: &DiscordState, guild: u64) -> Vec<Value> {
    st.automod
        .rules
        .values()
        .filter(|r| r["guild_id"].as_str().and_then(|g| g.parse::<u64>().ok()) == Some(guild))
        .cloned()
        .collect()
}

fn rule_in(st: &DiscordState, guild: u64, id: u64) -> Result<Value, Failure> {
    st.automod
        .rules
        .get(&id)
        .filter(|r| r["guild_id"].as_str().and_then(|g| g.parse::<u64>().ok()) == Some(guild))
        .cloned()
        .ok_or_else(unknown_rule)
}

fn dispatch_rule(st: &mut DiscordState, t: &str, rule: &Value, guild_id: u64) {
    st.broadcast(GatewayEvent {
        t: t.to_owned(),
        d: rule.clone(),
        guild_id: Some(guild_id),
        intent: Some(intents::AUTO_MODERATION_CONFIGURATION),
        strip_content_unless: None,
    });
}

fn create(
    st: &mut DiscordState,
    guild_id: u64,
    creator: u64,
    body: Value,
) -> Result<Value, Failure> {
    let trigger_type = body.get("trigger_type").and_then(Value::as_u64);
    let same_type = rules_of(st, guild_id)
        .iter()
        .filter(|r| r["trigger_type"].as_u64() == trigger_type)
        .count();
    let cap = if trigger_type == Some(1) {
        MAX_KEYWORD_RULES
    } else {
        1
    };
    if same_type >= cap {
        return Err(error(
            400,
            30035,
            "Maximum number of rules of this type reached",
        ));
    }
    let id = st.snowflake();
    let rule = validate(st, guild_id, id, creator, &body)?;
    st.automod.rules.insert(id, rule.clone());
    dispatch_rule(st, "AUTO_MODERATION_RULE_CREATE", &rule, guild_id);
    Ok(rule)
}

fn modify(st: &mut DiscordState, guild_id: u64, id: u64, patch: Value) -> Result<Value, Failure> {
    let old = rule_in(st, guild_id, id)?;
    if patch
        .get("trigger_type")
        .is_some_and(|t| *t != old["trigger_type"])
    {
        return Err(form(
            "trigger_type",
            "AUTO_MODERATION_TRIGGER_TYPE_IMMUTABLE",
            "A rule's trigger type cannot change.",
        ));
    }
    let mut merged = old.clone();
    if let (Value::Object(m), Value::Object(p)) = (&mut merged, patch) {
        for (k, v) in p {
            if k == "trigger_metadata" {
                // Sent fields replace the stored ones; absent ones stay.
                if let (Some(Value::Object(t)), Value::Object(pv)) = (m.get_mut(&k), v) {
                    t.extend(pv);
                }
            } else if !matches!(k.as_str(), "id" | "guild_id" | "creator_id") {
                m.insert(k, v);
            }
        }
    }
    let creator = old["creator_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let rule = validate(st, guild_id, id, creator, &merged)?;
    st.automod.rules.insert(id, rule.clone());
    dispatch_rule(st, "AUTO_MODERATION_RULE_UPDATE", &rule, guild_id);
    Ok(rule)
}

fn delete(st: &mut DiscordState, guild_id: u64, id: u64) -> Result<(), Failure> {
    let rule = rule_in(st, guild_id, id)?;
    st.automod.rules.remove(&id);
    dispatch_rule(st, "AUTO_MODERATION_RULE_DELETE", &rule, guild_id);
    Ok(())
}

/// One match of a rule in a message.
struct Matched {
    keyword: String,
    content: String,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric()
}

/// Discord's keyword semantics: `*` at either end lets the match run into
/// the surrounding word; without it the match must sit on a word boundary.
fn keyword_match(text: &str, keyword: &str) -> Option<String> {
    let open_start = keyword.starts_with('*');
    let open_end = keyword.len() > 1 && keyword.ends_with('*');
    let core = keyword.trim_start_matches('*').trim_end_matches('*');
    if core.is_empty() {
        return None;
    }
    let hay = text.to_lowercase();
    let needle = core.to_lowercase();
    // Lowercasing can change lengths; the fake's texts are what tests write,
    // and a miss here only means "not blocked", never a wrong block.
    if hay.len() != text.len() {
        return None;
    }
    let mut from = 0;
    while let Some(pos) = hay[from..].find(&needle) {
        let start = from + pos;
        let end = start + needle.len();
        let left_ok = open_start || !hay[..start].chars().next_back().is_some_and(is_word);
        let right_ok = open_end || !hay[end..].chars().next().is_some_and(is_word);
        if left_ok && right_ok {
            // The matched content spans the whole word(s) the wildcards open into.
            let mut s = start;
            let mut e = end;
            if open_start {
                while let Some(c) = text[..s].chars().next_back().filter(|c| !c.is_whitespace()) {
                    s -= c.len_utf8();
                }
            }
            if open_end {
                while let Some(c) = text[e..].chars().next().filter(|c| !c.is_whitespace()) {
                    e += c.len_utf8();
                }
            }
            return Some(text[s..e].to_owned());
        }
        from = start + needle.chars().next().map_or(1, char::len_utf8);
    }
    None
}

fn allowed(allow: &[String], content: &str) -> bool {
    allow.iter().any(|a| {
        let a = a.trim_matches('*');
        !a.is_empty() && content.to_lowercase().contains(&a.to_lowercase())
    })
}

fn rule_matches(rule: &Value, text: &str) -> Option<Matched> {
    let meta = &rule["trigger_metadata"];
    let list = |f: &str| -> Vec<String> {
        meta[f]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let allow = list("allow_list");
    for k in list("keyword_filter") {
        if let Some(content) = keyword_match(text, &k) {
            if !allowed(&allow, &content) {
                return Some(Matched {
                    keyword: k,
                    content,
                });
            }
        }
    }
    for r in list("regex_patterns") {
        let Ok(re) = RegexBuilder::new(&r).case_insensitive(true).build() else {
            continue;
        };
        if let Some(m) = re.find(text) {
            if !allowed(&allow, m.as_str()) {
                return Some(Matched {
                    keyword: r,
                    content: m.as_str().to_owned(),
                });
            }
        }
    }
    None
}

/// Screens a member's new message against the server's enabled keyword
/// rules. When one blocks it, dispatches the execution events of every
/// matching rule's actions (alerts post their system message) and returns
/// the blocking rule's id: the message is then not created.
pub(crate) fn screen(st: &mut DiscordState, m: &StoredMessage) -> Option<u64> {
    let guild_id = m.guild_id?;
    let guild = st.guild(guild_id)?;
    // AutoMod leaves members who manage the server alone.
    if manages(guild, m.author_id) || m.author_id == st.config.bot.id {
        return None;
    }
    let member_roles = guild.member(m.author_id)?.roles.clone();
    let parent = guild.channel(m.channel_id).and_then(|c| c.parent_id);
    let mut hits = Vec::new();
    for rule in rules_of(st, guild_id) {
        if rule["enabled"] != json!(true) || rule["trigger_type"] != json!(1) {
            continue;
        }
        let ids = |f: &str| -> Vec<u64> {
            rule[f]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let exempt_channels = ids("exempt_channels");
        if exempt_channels.contains(&m.channel_id)
            || parent.is_some_and(|p| exempt_channels.contains(&p))
            || ids("exempt_roles").iter().any(|r| member_roles.contains(r))
        {
            continue;
        }
        if let Some(matched) = rule_matches(&rule, &m.content) {
            hits.push((rule, matched));
        }
    }
    let mut blocked_by = None;
    for (rule, matched) in hits {
        let rule_id: u64 = rule["id"].as_str().and_then(|s| s.parse().ok())?;
        for action in rule["actions"].as_array().cloned().unwrap_or_default() {
            let mut d = json!({
                "guild_id": guild_id.to_string(),
                "action": action,
                "rule_id": rule_id.to_string(),
                "rule_trigger_type": 1,
                "user_id": m.author_id.to_string(),
                "channel_id": m.channel_id.to_string(),
                "content": m.content,
                "matched_keyword": matched.keyword,
                "matched_content": matched.content,
            });
            match action["type"].as_u64() {
                Some(1) => {
                    blocked_by.get_or_insert(rule_id);
                }
                Some(2) => {
                    let channel = action["metadata"]["channel_id"]
                        .as_str()
                        .and_then(|s| s.parse::<u64>().ok());
                    if let Some(channel) = channel {
                        let id = post_alert(st, m, channel, &rule, &matched.keyword);
                        d["alert_system_message_id"] = json!(id.to_string());
                    }
                }
                _ => {}
            }
            st.broadcast(GatewayEvent {
                t: "AUTO_MODERATION_ACTION_EXECUTION".to_owned(),
                d,
                guild_id: Some(guild_id),
                intent: Some(intents::AUTO_MODERATION_EXECUTION),
                strip_content_unless: Some(ContentExemption {
                    author_is_bot: false,
                    mentions_bot: false,
                }),
            });
        }
        st.automod_blocked.push(m.content.clone());
    }
    blocked_by
}

/// A send-alert action's system message in `channel` (type 24,
/// AUTO_MODERATION_ACTION, the flagged text in an embed); its id.
fn post_alert(
    st: &mut DiscordState,
    m: &StoredMessage,
    channel: u64,
    rule: &Value,
    keyword: &str,
) -> u64 {
    let id = st.snowflake();
    let mut alert = StoredMessage::blank(id, channel, m.guild_id, m.author_id);
    alert.kind = 24;
    alert.embeds = vec![json!({
        "type": "auto_moderation_message",
        "description": m.content,
        "fields": [
            { "name": "rule_name", "value": rule["name"], "inline": false },
            { "name": "channel_id", "value": m.channel_id.to_string(), "inline": false },
            { "name": "keyword", "value": keyword, "inline": false },
        ],
    })];
    st.insert_message(alert);
    id
}

impl FakeDiscord {
    /// The AutoMod rules of `guild`, as Discord returns them.
    pub fn automod_rules(&self, guild: u64) -> Vec<Value> {
        self.with_state(|st| rules_of(st, guild))
    }

    /// Texts AutoMod kept from being posted, in order.
    pub fn automod_blocked(&self) -> Vec<String> {
        self.with_state(|st| st.automod_blocked.clone())
    }

    /// A server admin (`user`, who must manage the server) creates a rule in
    /// the client: same validation and events as the REST route.
    pub fn admin_create_automod_rule(
        &self,
        guild: u64,
        user: u64,
        body: Value,
    ) -> Result<Value, Value> {
        self.mutate(|st| {
            let g = st.guild(guild).ok_or(json!("unknown guild"))?;
            if !manages(g, user) {
                return Err(super::payloads::error(50013, "Missing Permissions"));
            }
            create(st, guild, user, body).map_err(|(_, b)| b)
        })
    }

    /// A server admin edits rule `id` in the client.
    pub fn admin_edit_automod_rule(
        &self,
        guild: u64,
        id: u64,
        patch: Value,
    ) -> Result<Value, Value> {
        self.mutate(|st| modify(st, guild, id, patch).map_err(|(_, b)| b))
    }

    /// A server admin deletes rule `id` in the client.
    pub fn admin_delete_automod_rule(&self, guild: u64, id: u64) -> Result<(), Value> {
        self.mutate(|st| delete(st, guild, id).map_err(|(_, b)| b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_follow_discords_wildcards() {
        assert!(keyword_match("join https://us02web.zoom.us/j/123 now", "*zoom.us/j/*").is_some());
        assert_eq!(
            keyword_match("see ZOOM.us/j/1", "*zoom.us/j/*").as_deref(),
            Some("ZOOM.us/j/1")
        );
        assert!(keyword_match("cats", "cat").is_none());
        assert!(keyword_match("a cat!", "cat").is_some());
        assert!(keyword_match("cats", "cat*").is_some());
        assert!(keyword_match("bobcat", "*cat").is_some());
        assert!(keyword_match("bobcats", "*cat").is_none());
        assert!(keyword_match("zoom[.]us/j/1", "*zoom.us/j/*").is_none());
    }
}
