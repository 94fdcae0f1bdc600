//! Text that a message carries in display components (Discord's
//! "Components V2": text displays, sections, containers) rather than in its
//! `content`.
//!
//! Bots, apps and webhooks may post a message whose whole text is in its
//! components (it then has no `content` and no embeds), and any member may
//! forward such a message, from any server, into the company's: the forward
//! shows that text, in its snapshot's components. serenity 0.12.5 models
//! only action rows and drops every other top-level component while
//! deserialising (and the `IS_COMPONENTS_V2` flag with it), so the typed
//! message cannot tell what such a message says. A message that may carry
//! such text (see [`may_carry`]) is therefore read once more, over REST, as
//! raw JSON, and its components walked here.

use super::actions::{action_error, DiscordActions};
use crate::moderation::ActionError;
use serde_json::Value;
use serenity::all::{
    ActionRow, ActionRowComponent, ButtonKind, ChannelId, Http, LightMethod, Message, MessageId,
    MessageUpdateEvent, Request, Route, User,
};

/// How deep components nest before the walk stops: Discord allows a
/// container holding sections holding a text display and a button (four).
const MAX_DEPTH: usize = 8;

/// Whether `msg` may carry text in components that serenity dropped: a
/// forward whose snapshot has neither content nor embeds, or a message of a
/// bot, an app or a webhook with neither (only they can send display
/// components; a member's message without text is a file or a sticker).
/// Never a system notice.
pub fn may_carry(msg: &Message) -> bool {
    if super::translate::is_system_notice(msg.kind) {
        return false;
    }
    (can_send(&msg.author, msg.webhook_id.is_some()) && bare(&msg.content, msg.embeds.len()))
        || msg
            .message_snapshots
            .iter()
            .any(|s| bare(&s.content, s.embeds.len()))
}

/// [`may_carry`] for an edit by `author` (through a webhook or not): the
/// edited message has no content and no embeds and its sender can send
/// display components. A forward cannot be edited.
pub fn edit_may_carry(ev: &MessageUpdateEvent, author: &User, through_webhook: bool) -> bool {
    let embeds = ev.embeds.as_ref().map_or(0, Vec::len);
    can_send(author, through_webhook) && ev.content.as_deref().is_some_and(|c| bare(c, embeds))
}

/// Only bots, apps and webhooks can send display components.
fn can_send(author: &User, through_webhook: bool) -> bool {
    author.bot || through_webhook
}

/// Neither content nor embeds: what a message whose text is in display
/// components looks like to serenity.
fn bare(content: &str, embeds: usize) -> bool {
    content.is_empty() && embeds == 0
}

/// The text in the components of a raw message object and of each of its
/// forwarded snapshots, one part per line: each text display's content and
/// each button's label and link, select menus' placeholders and options.
/// Top-level action rows are left out: serenity keeps those, and
/// [`typed_text`] reads them from the typed message.
pub fn text_of(raw: &Value) -> String {
    let mut parts = Vec::new();
    walk(raw.get("components"), &mut parts);
    for snap in raw
        .get("message_snapshots")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        walk(snap.pointer("/message/components"), &mut parts);
    }
    parts.join("\n")
}

/// The text of the action rows serenity keeps (top-level rows of buttons
/// and menus): each button's label and link, each menu's placeholder and
/// options, one part per line. A user-installed app's answer or a forward
/// of a bot's message can carry a link in a button beside its content.
pub fn typed_text(rows: &[ActionRow]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in rows.iter().flat_map(|r| &r.components) {
        match c {
            ActionRowComponent::Button(b) => {
                parts.extend(b.label.as_deref());
                if let ButtonKind::Link { url } = &b.data {
                    parts.push(url);
                }
            }
            ActionRowComponent::SelectMenu(m) => {
                parts.extend(m.placeholder.as_deref());
                for o in &m.options {
                    parts.push(&o.label);
                    parts.extend(o.description.as_deref());
                }
            }
            _ => {}
        }
    }
    parts.retain(|p| !p.is_empty());
    parts.join("\n")
}

/// Collects the text of `components` (an array of component objects) and
/// of everything they hold, leaving out top-level action rows (see
/// [`text_of`]).
fn walk(components: Option<&Value>, parts: &mut Vec<String>) {
    let top = components.and_then(Value::as_array).into_iter().flatten();
    for c in top.filter(|c| c.get("type").and_then(Value::as_u64) != Some(1)) {
        walk_one(c, 0, parts);
    }
}

/// Collects the text of one component at nesting `depth` and of what it
/// holds: a text display's markdown; a button's label and (a link button)
/// URL; a select menu's placeholder and options; a container's or
/// section's components and a section's accessory (a button, or a
/// thumbnail, which holds no text).
fn walk_one(c: &Value, depth: usize, parts: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    let mut push = |v: &Value, key: &str| {
        if let Some(s) = v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()) {
            parts.push(s.to_owned());
        }
    };
    for key in ["content", "label", "url", "placeholder"] {
        push(c, key);
    }
    let list = |key: &str| c.get(key).and_then(Value::as_array).into_iter().flatten();
    for o in list("options") {
        push(o, "label");
        push(o, "description");
    }
    let inner = list("components").chain(c.get("accessory"));
    for x in inner {
        walk_one(x, depth + 1, parts);
    }
}

/// What [`text_of`] finds in message `id` as Discord holds it now (one
/// REST read, retried as moderation's calls are), when it `may_carry` any.
/// `Err` (and a warning) only when Discord said "not now" for longer than
/// the retries: a later read may succeed. A final answer (the message is
/// gone, the channel cannot be read, anything else) gives no text, so the
/// message is judged on what the gateway sent and never holds catch-up
/// back for good.
pub async fn carried(
    actions: &DiscordActions,
    channel: ChannelId,
    id: MessageId,
    may_carry: bool,
) -> Result<String, ()> {
    if !may_carry {
        return Ok(String::new());
    }
    match actions.raw_message(channel, id).await {
        Ok(raw) => Ok(text_of(&raw)),
        Err(e) => match action_error("reading its display components", &e, None) {
            ActionError::Later { why, .. } => {
                tracing::warn!(message.id = %id, error = %why, "cannot read a message's display components now");
                Err(())
            }
            other => {
                tracing::warn!(message.id = %id, error = %other, "cannot read a message's display components; judging what the gateway sent");
                Ok(String::new())
            }
        },
    }
}

/// A message as Discord sends it over REST, as raw JSON (one attempt).
async fn raw_message(
    http: &Http,
    channel: ChannelId,
    id: MessageId,
) -> Result<Value, serenity::Error> {
    http.fire::<Value>(Request::new(
        Route::ChannelMessage {
            channel_id: channel,
            message_id: id,
        },
        LightMethod::Get,
    ))
    .await
}

/// The text `msg` carries in display components, added to `text` (what
/// "Check links" reads), when it may carry any; `text` as it is when the
/// message cannot be read back (one attempt: the person is waiting).
pub async fn checked_with(http: &Http, msg: &Message, mut text: String) -> String {
    if !may_carry(msg) {
        return text;
    }
    match raw_message(http, msg.channel_id, msg.id).await {
        Ok(raw) => {
            let carried = text_of(&raw);
            if !carried.is_empty() {
                super::translate::push_part(&mut text, &carried);
            }
        }
        Err(e) => {
            tracing::debug!(message.id = %msg.id, error = %e, "cannot read a checked message's components")
        }
    }
    text
}

impl DiscordActions {
    /// A message as Discord sends it over REST, as raw JSON, retried as
    /// moderation's calls are.
    pub(super) async fn raw_message(
        &self,
        channel: ChannelId,
        id: MessageId,
    ) -> Result<Value, serenity::Error> {
        let http = self.http();
        self.call(|| raw_message(http, channel, id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_displays_sections_containers_buttons_and_snapshots_are_read() {
        let raw = json!({
            "content": "",
            "components": [
                {"type": 17, "components": [
                    {"type": 10, "content": "## Standup"},
                    {"type": 9, "components": [{"type": 10, "content": "bridge: https://zoom.us/j/1"}],
                     "accessory": {"type": 2, "style": 5, "label": "Join", "url": "https://zoom.us/j/2"}},
                    {"type": 11, "media": {"url": "https://cdn.example/pic.png"}},
                    {"type": 1, "components": [
                        {"type": 3, "custom_id": "x", "placeholder": "pick",
                         "options": [{"label": "A", "value": "a", "description": "meet.google.com/abc-defg-hij"}]}
                    ]}
                ]},
                {"type": 1, "components": [{"type": 2, "style": 5, "label": "top", "url": "https://zoom.us/j/9"}]}
            ],
            "message_snapshots": [{"message": {"content": "", "components": [
                {"type": 10, "content": "fwd https://zoom.us/j/3"}
            ]}}]
        });
        assert_eq!(
            text_of(&raw),
            "## Standup\nbridge: https://zoom.us/j/1\nJoin\nhttps://zoom.us/j/2\npick\nA\nmeet.google.com/abc-defg-hij\nfwd https://zoom.us/j/3"
        );
        assert_eq!(text_of(&json!({"content": "hi"})), "");
    }

    #[test]
    fn nesting_past_discords_depth_is_not_followed_for_ever() {
        let mut v = json!({"type": 10, "content": "deep"});
        for _ in 0..50 {
            v = json!({"type": 17, "components": [v]});
        }
        assert_eq!(text_of(&json!({"components": [v]})), "");
    }
}
