//! Messages as Discord shows them: the message object (author, mentions,
//! references, forwards' snapshots, the gateway's extra fields), and
//! storing, editing and deleting one with its dispatch.

use serde_json::{json, Value};

use super::{now_ms, DiscordState, GatewayEvent, StoredMessage};
use crate::discord::config::{intents, GuildSpec};
use crate::discord::payloads;

impl DiscordState {
    /// The author object of a stored message.
    fn author_json(&self, m: &StoredMessage) -> Value {
        // Interaction replies carry `webhook_id` = application id = bot id: the author is
        // still the bot user, so known users win over the webhook shape.
        if let Some(u) = self.config.user(m.author_id) {
            return payloads::user(u);
        }
        if let Some(webhook_id) = m.webhook_id.filter(|w| *w == m.author_id) {
            let name = m
                .username
                .clone()
                .or_else(|| self.webhooks.get(&webhook_id).map(|w| w.name.clone()));
            return json!({
                "id": webhook_id.to_string(),
                "username": name.unwrap_or_else(|| "Captain Hook".to_owned()),
                "avatar": m.avatar_url.as_ref().map(|_| "0123456789abcdef0123456789abcdef"),
                "discriminator": "0000",
                "bot": true,
                "global_name": null,
                "public_flags": 0,
                "flags": 0,
                "clan": null,
                "primary_guild": null,
            });
        }
        json!({
            "id": m.author_id.to_string(),
            "username": "unknown",
            "global_name": null,
            "discriminator": "0",
            "avatar": null,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": null,
        })
    }

    /// Users mentioned in `content` (`<@id>` / `<@!id>`), limited by `allowed_mentions`.
    pub(super) fn mentions(&self, m: &StoredMessage) -> Vec<u64> {
        let mut out = Vec::new();
        let mut rest = m.content.as_str();
        while let Some(start) = rest.find("<@") {
            rest = &rest[start + 2..];
            let digits = rest.strip_prefix('!').unwrap_or(rest);
            let end = digits.find('>').unwrap_or(0);
            if let Ok(id) = digits[..end].parse::<u64>() {
                if self.config.user(id).is_some() && !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        if let Some(am) = &m.allowed_mentions {
            let parse_users = am
                .get("parse")
                .and_then(Value::as_array)
                .is_some_and(|p| p.iter().any(|x| x == "users"));
            let listed: Vec<u64> = am
                .get("users")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
                        .collect()
                })
                .unwrap_or_default();
            if !parse_users {
                out.retain(|id| listed.contains(id));
            }
        }
        out
    }

    /// The message object; `gateway` adds `guild_id`, `member` and `channel_type`.
    pub(crate) fn message_json(&self, m: &StoredMessage, gateway: bool) -> Value {
        let mentions: Vec<Value> = self
            .mentions(m)
            .iter()
            .filter_map(|id| self.config.user(*id).map(payloads::user))
            .collect();
        let everyone_allowed = m.allowed_mentions.as_ref().is_none_or(|am| {
            am.get("parse")
                .and_then(Value::as_array)
                .is_some_and(|p| p.iter().any(|x| x == "everyone"))
        });
        let mention_everyone =
            everyone_allowed && (m.content.contains("@everyone") || m.content.contains("@here"));
        let mut v = json!({
            "type": m.kind,
            "tts": false,
            "timestamp": payloads::snowflake_timestamp(m.id),
            "pinned": false,
            "mentions": mentions,
            "mention_roles": [],
            "mention_everyone": mention_everyone,
            "id": m.id.to_string(),
            "flags": m.flags,
            "embeds": m.embeds,
            "edited_timestamp": m.edited_ms.map(payloads::iso8601),
            "content": m.content,
            "components": m.components,
            "channel_id": m.channel_id.to_string(),
            "author": self.author_json(m),
            "attachments": m.attachments,
        });
        if let Some(w) = m.webhook_id {
            v["webhook_id"] = json!(w.to_string());
            v["application_id"] = json!(self.config.bot.id.to_string());
        }
        if !m.message_snapshots.is_empty() {
            v["message_snapshots"] = Value::Array(
                m.message_snapshots
                    .iter()
                    .map(|snap| json!({ "message": snap }))
                    .collect(),
            );
        }
        self.add_reference(m, &mut v);
        if let Some(i) = &m.interaction {
            v["interaction"] = i.clone();
        }
        if let Some(p) = &m.poll {
            v["poll"] = p.clone();
        }
        for (k, x) in m.app_fields.iter().filter_map(Value::as_object).flatten() {
            v[k] = x.clone();
        }
        if self
            .guild_of_message(m)
            .and_then(|g| g.channel(m.channel_id))
            .is_some_and(|c| c.kind.is_thread())
        {
            v["position"] = json!(0);
        }
        if gateway {
            self.add_gateway_fields(m, &mut v);
        }
        v
    }

    /// A reply's or thread starter's `message_reference` and the
    /// `referenced_message` itself; a forward carries its reference only
    /// (its snapshots stand for the source).
    fn add_reference(&self, m: &StoredMessage, v: &mut Value) {
        let forward = m
            .message_reference
            .as_ref()
            .is_some_and(|r| r.get("type").and_then(Value::as_u64) == Some(1));
        if let Some(r) = m.message_reference.as_ref().filter(|_| !forward) {
            v["message_reference"] = r.clone();
            let referenced = r
                .get("message_id")
                .and_then(|x| {
                    x.as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .or(x.as_u64())
                })
                .and_then(|id| self.messages.get(&id))
                .filter(|x| !x.deleted)
                .map(|x| self.message_json(x, false));
            v["referenced_message"] = referenced.unwrap_or(Value::Null);
        }
        if let Some(r) = m.message_reference.as_ref().filter(|_| forward) {
            v["message_reference"] = r.clone();
        }
    }

    /// What MESSAGE_CREATE/UPDATE add to the REST object: `guild_id`, the
    /// author's `member` (not for webhooks) and `channel_type`.
    fn add_gateway_fields(&self, m: &StoredMessage, v: &mut Value) {
        let channel_type = match self.guild_of_message(m) {
            Some(g) => g.channel(m.channel_id).map_or(0, |c| c.kind.code()),
            None => 1,
        };
        if let Some(g) = m.guild_id {
            v["guild_id"] = json!(g.to_string());
            let member = self
                .guild(g)
                .and_then(|g| g.member(m.author_id))
                .filter(|_| m.webhook_id.is_none());
            if let Some(member) = member {
                v["member"] = payloads::partial_member(member);
            }
        }
        v["channel_type"] = json!(channel_type);
    }

    fn guild_of_message(&self, m: &StoredMessage) -> Option<&GuildSpec> {
        m.guild_id.and_then(|g| self.guild(g))
    }

    /// Stores a new message and dispatches MESSAGE_CREATE (unless ephemeral).
    pub(crate) fn insert_message(&mut self, m: StoredMessage) -> Value {
        let id = m.id;
        let ephemeral = m.flags & 64 != 0;
        self.messages.insert(id, m);
        let stored = &self.messages[&id];
        let rest = self.message_json(stored, false);
        if !ephemeral {
            let event = GatewayEvent::message("MESSAGE_CREATE", self, stored);
            self.broadcast(event);
        }
        rest
    }

    /// Applies an edit and dispatches a full MESSAGE_UPDATE.
    pub(crate) fn edit_message(&mut self, id: u64, body: &Value) -> Option<Value> {
        let now = now_ms();
        let m = self.messages.get_mut(&id)?;
        if let Some(content) = body.get("content").and_then(Value::as_str) {
            let old = std::mem::replace(&mut m.content, content.to_owned());
            m.previous_contents.push(old);
        }
        if let Some(embeds) = body.get("embeds").and_then(Value::as_array) {
            m.embeds.clone_from(embeds);
        }
        if let Some(components) = body.get("components").and_then(Value::as_array) {
            m.components.clone_from(components);
        }
        if body.get("allowed_mentions").is_some() {
            m.allowed_mentions = body.get("allowed_mentions").cloned();
        }
        m.edited_ms = Some(now);
        let stored = &self.messages[&id];
        let rest = self.message_json(stored, false);
        if stored.flags & 64 == 0 {
            let event = GatewayEvent::message("MESSAGE_UPDATE", self, stored);
            self.broadcast(event);
        }
        Some(rest)
    }

    /// Flags a message deleted and dispatches MESSAGE_DELETE.
    pub(crate) fn delete_message(&mut self, id: u64) {
        let Some(m) = self.messages.get_mut(&id) else {
            return;
        };
        m.deleted = true;
        let mut d = json!({ "id": id.to_string(), "channel_id": m.channel_id.to_string() });
        if let Some(g) = m.guild_id {
            d["guild_id"] = json!(g.to_string());
        }
        let guild_id = m.guild_id;
        self.broadcast(GatewayEvent {
            t: "MESSAGE_DELETE".to_owned(),
            d,
            guild_id,
            intent: Some(if guild_id.is_some() {
                intents::GUILD_MESSAGES
            } else {
                intents::DIRECT_MESSAGES
            }),
            strip_content_unless: None,
        });
    }
}
