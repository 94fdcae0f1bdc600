//! Slack's native surfaces: App Home and modals (`views.publish`,
//! `views.open`, `views.update`), interactivity payloads to the bot
//! (`block_actions`, `view_submission`, `message_action`) as Socket Mode
//! `interactive` envelopes or signed form POSTs with a `payload` field, the
//! `response_url` of interactions, direct messages to a user id, and the
//! Block Kit limits Slack enforces.
//!
//! Faithful to the public protocol (see `protocol/NATIVE.md`): a `trigger_id`
//! works once and for 3 seconds (`expired_trigger_id`, `invalid_trigger_id`);
//! a view over the limits is refused with `invalid_blocks` and the reason in
//! `response_metadata.messages`; the test drives people's clicks through the
//! buttons the bot actually rendered, so a value the bot did not put in a
//! button cannot be clicked.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::config::{FakeChannel, FakeSlackConfig};
use super::signing::SignMode;
use super::state::{
    DeliveryKind, DeliveryOutcome, DeliveryRecord, Envelope, Ephemeral, EphemeralSource,
    SlackState, TokenKind,
};
use super::{payloads, unix_now, Delivery, FakeSlack, FakeSlackError, Inner};

/// How long a `trigger_id` may be exchanged for a modal.
pub const TRIGGER_TTL: Duration = Duration::from_secs(3);
/// Blocks in a view.
const VIEW_BLOCKS: usize = 100;
/// Characters in a section's text (and any text object of a block).
const TEXT_CHARS: usize = 3000;
/// Characters in a button's text.
const BUTTON_TEXT: usize = 75;
/// Characters in an `action_id` or a `block_id`.
const ID_CHARS: usize = 255;
/// Characters in a button's `value`.
const VALUE_CHARS: usize = 2000;
/// Characters in a modal's title, submit and close labels.
const MODAL_LABEL: usize = 24;
/// Characters in `private_metadata`.
const METADATA_CHARS: usize = 3000;
/// Options in a `static_select`.
const SELECT_OPTIONS: usize = 100;

/// A view as stored by the fake.
#[derive(Debug, Clone)]
pub struct StoredView {
    /// `V…` id.
    pub id: String,
    /// `home` or `modal`.
    pub kind: String,
    /// The user it belongs to.
    pub user: String,
    /// The view JSON the bot sent (what Slack renders).
    pub view: Value,
    /// Changes on every update.
    pub hash: String,
    /// Still open (a closed modal stays listed with this false).
    pub open: bool,
}

impl StoredView {
    /// Its blocks.
    pub fn blocks(&self) -> &[Value] {
        self.view["blocks"].as_array().map_or(&[], Vec::as_slice)
    }

    /// Every text in its blocks, joined (for assertions).
    pub fn text(&self) -> String {
        let mut out = String::new();
        collect_text(&self.view["blocks"], &mut out);
        out
    }

    /// Its `callback_id`.
    pub fn callback_id(&self) -> &str {
        self.view["callback_id"].as_str().unwrap_or("")
    }
}

fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(t)) = o.get("text") {
                out.push_str(t);
                out.push('\n');
            }
            for (k, x) in o {
                if k != "text" || !x.is_string() {
                    collect_text(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        _ => {}
    }
}

/// One interaction sent to the bot and its answer.
#[derive(Debug, Clone)]
pub struct InteractionRecord {
    /// Sequence number.
    pub id: u64,
    /// `block_actions`, `view_submission`, `message_action`.
    pub kind: String,
    /// The payload sent.
    pub payload: Value,
    /// The bot acknowledged (ack frame or HTTP 2xx).
    pub acknowledged: bool,
    /// HTTP status (HTTP mode).
    pub http_status: Option<u16>,
    /// The acknowledgement's payload / HTTP body (`response_action`, …).
    pub response: Option<Value>,
    /// Bodies POSTed to the interaction's `response_url`.
    pub response_url_posts: Vec<Value>,
}

/// The fake's memory of native surfaces.
#[derive(Debug, Default)]
pub struct NativeState {
    pub(crate) views: Vec<StoredView>,
    pub(crate) triggers: HashMap<String, (Instant, String, bool)>,
    pub(crate) interactions: Vec<InteractionRecord>,
    pub(crate) interactivity_url: Option<String>,
}

impl SlackState {
    /// The Home tab published for `user`.
    pub fn home_view(&self, user: &str) -> Option<&StoredView> {
        self.native
            .views
            .iter()
            .find(|v| v.kind == "home" && v.user == user)
    }

    /// The modal open for `user` (the top of the stack), if any.
    pub fn open_modal(&self, user: &str) -> Option<&StoredView> {
        self.native
            .views
            .iter()
            .rev()
            .find(|v| v.kind == "modal" && v.user == user && v.open)
    }

    /// Every interaction sent to the bot.
    pub fn interactions(&self) -> &[InteractionRecord] {
        &self.native.interactions
    }
}

fn err(code: &str) -> Value {
    json!({ "ok": false, "error": code })
}

fn invalid(why: String) -> Value {
    json!({"ok": false, "error": "invalid_blocks",
           "response_metadata": {"messages": [format!("[ERROR] {why}")]}})
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Checks Block Kit's element limits in `blocks` (at most `max_blocks`):
/// text objects, button labels, ids, values, select options.
pub(crate) fn check_blocks(blocks: &[Value], max_blocks: usize) -> Result<(), Value> {
    if blocks.len() > max_blocks {
        return Err(invalid(format!(
            "no more than {max_blocks} items allowed [json-pointer:/blocks]"
        )));
    }
    for (i, b) in blocks.iter().enumerate() {
        check_element(b, &format!("/blocks/{i}"))?;
    }
    Ok(())
}

fn check_element(v: &Value, at: &str) -> Result<(), Value> {
    let Some(o) = v.as_object() else {
        if let Some(a) = v.as_array() {
            for (i, x) in a.iter().enumerate() {
                check_element(x, &format!("{at}/{i}"))?;
            }
        }
        return Ok(());
    };
    for id in ["action_id", "block_id"] {
        if chars(&o.get(id).cloned().unwrap_or(Value::Null)) > ID_CHARS {
            return Err(invalid(format!(
                "must be less than {} characters [json-pointer:{at}/{id}]",
                ID_CHARS + 1
            )));
        }
    }
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
    if kind == "button" {
        if chars(&o["text"]["text"]) > BUTTON_TEXT {
            return Err(invalid(format!(
                "must be less than {} characters [json-pointer:{at}/text/text]",
                BUTTON_TEXT + 1
            )));
        }
        if chars(o.get("value").unwrap_or(&Value::Null)) > VALUE_CHARS {
            return Err(invalid(format!(
                "must be less than {} characters [json-pointer:{at}/value]",
                VALUE_CHARS + 1
            )));
        }
    }
    if kind == "static_select"
        && o.get("options")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > SELECT_OPTIONS)
    {
        return Err(invalid(format!(
            "no more than {SELECT_OPTIONS} items allowed [json-pointer:{at}/options]"
        )));
    }
    if matches!(kind, "plain_text" | "mrkdwn")
        && chars(o.get("text").unwrap_or(&Value::Null)) > TEXT_CHARS
    {
        return Err(invalid(format!(
            "must be less than {} characters [json-pointer:{at}/text]",
            TEXT_CHARS + 1
        )));
    }
    for (k, x) in o {
        if x.is_object() || x.is_array() {
            check_element(x, &format!("{at}/{k}"))?;
        }
    }
    Ok(())
}

fn check_view(view: &Value) -> Result<(), Value> {
    let kind = view["type"].as_str().unwrap_or("");
    if kind != "home" && kind != "modal" {
        return Err(err("invalid_arguments"));
    }
    let Some(blocks) = view["blocks"].as_array() else {
        return Err(invalid(
            "missing required field: blocks [json-pointer:/view/blocks]".into(),
        ));
    };
    if kind == "modal" {
        for label in ["title", "submit", "close"] {
            if chars(&view[label]["text"]) > MODAL_LABEL {
                return Err(invalid(format!(
                    "must be less than {} characters [json-pointer:/view/{label}/text]",
                    MODAL_LABEL + 1
                )));
            }
        }
        if view["title"]["text"].as_str().is_none_or(str::is_empty) {
            return Err(invalid(
                "missing required field: title [json-pointer:/view/title]".into(),
            ));
        }
        let has_input = blocks.iter().any(|b| b["type"] == "input");
        if has_input && view["submit"].is_null() {
            return Err(invalid(
                "a view with input blocks needs submit [json-pointer:/view/submit]".into(),
            ));
        }
    }
    if chars(&view["private_metadata"]) > METADATA_CHARS {
        return Err(invalid(format!(
            "must be less than {} characters [json-pointer:/view/private_metadata]",
            METADATA_CHARS + 1
        )));
    }
    check_blocks(blocks, VIEW_BLOCKS)
}

fn p_view(params: &Map<String, Value>) -> Option<Value> {
    match params.get("view")? {
        Value::String(s) => serde_json::from_str(s).ok(),
        v @ Value::Object(_) => Some(v.clone()),
        _ => None,
    }
}

fn p_str<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn view_object(inner: &Inner, v: &StoredView) -> Value {
    let mut out = v.view.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("id".into(), json!(v.id));
        o.insert("team_id".into(), json!(inner.cfg.team.id));
        o.insert("hash".into(), json!(v.hash));
        o.insert("app_id".into(), json!(inner.cfg.bot.app_id));
        o.insert("bot_id".into(), json!(inner.cfg.bot.bot_id));
        o.insert("state".into(), json!({"values": {}}));
        o.entry("private_metadata").or_insert(json!(""));
        o.entry("callback_id").or_insert(json!(""));
        o.entry("external_id").or_insert(json!(""));
        o.insert("root_view_id".into(), json!(v.id));
        o.insert("previous_view_id".into(), Value::Null);
    }
    out
}

fn new_hash(st: &mut SlackState) -> String {
    format!("{}.{:08x}", unix_now(), st.next_counter())
}

/// `views.*` methods.
pub(crate) fn dispatch(
    inner: &Arc<Inner>,
    st: &mut SlackState,
    method: &str,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> Value {
    if !matches!(kind, TokenKind::Bot) {
        return err("not_allowed_token_type");
    }
    let result = match method {
        "views.publish" => publish(inner, st, params),
        "views.open" => open(inner, st, params),
        "views.update" => update(inner, st, params),
        _ => Err(err("unknown_method")),
    };
    result.unwrap_or_else(|e| e)
}

fn publish(
    inner: &Inner,
    st: &mut SlackState,
    params: &Map<String, Value>,
) -> Result<Value, Value> {
    let user = p_str(params, "user_id").ok_or_else(|| err("invalid_arguments"))?;
    if inner.cfg.user(user).is_none() {
        return Err(err("user_not_found"));
    }
    let view = p_view(params).ok_or_else(|| err("invalid_arguments"))?;
    if view["type"] != "home" {
        return Err(err("invalid_arguments"));
    }
    check_view(&view)?;
    let hash = new_hash(st);
    let existing = st
        .native
        .views
        .iter()
        .position(|v| v.kind == "home" && v.user == user);
    if let (Some(i), Some(h)) = (existing, p_str(params, "hash")) {
        if st.native.views[i].hash != h {
            return Err(err("hash_conflict"));
        }
    }
    let stored = match existing {
        Some(i) => {
            let v = &mut st.native.views[i];
            v.view = view;
            v.hash = hash;
            v.clone()
        }
        None => {
            let id = format!("V0HOME{:06}", st.next_counter());
            let v = StoredView {
                id,
                kind: "home".into(),
                user: user.into(),
                view,
                hash,
                open: true,
            };
            st.native.views.push(v.clone());
            v
        }
    };
    Ok(json!({"ok": true, "view": view_object(inner, &stored)}))
}

fn open(inner: &Inner, st: &mut SlackState, params: &Map<String, Value>) -> Result<Value, Value> {
    let trigger = p_str(params, "trigger_id").ok_or_else(|| err("invalid_trigger_id"))?;
    let view = p_view(params).ok_or_else(|| err("invalid_arguments"))?;
    let user = match st.native.triggers.get_mut(trigger) {
        None => return Err(err("invalid_trigger_id")),
        Some((_, _, true)) => return Err(err("invalid_trigger_id")),
        Some((at, _, _)) if at.elapsed() > TRIGGER_TTL => return Err(err("expired_trigger_id")),
        Some((_, user, used)) => {
            if view["type"] != "modal" {
                return Err(err("invalid_arguments"));
            }
            check_view(&view)?;
            *used = true;
            user.clone()
        }
    };
    let id = format!("V0MODAL{:05}", st.next_counter());
    let v = StoredView {
        id,
        kind: "modal".into(),
        user,
        view,
        hash: new_hash(st),
        open: true,
    };
    st.native.views.push(v.clone());
    Ok(json!({"ok": true, "view": view_object(inner, &v)}))
}

fn update(inner: &Inner, st: &mut SlackState, params: &Map<String, Value>) -> Result<Value, Value> {
    let id = p_str(params, "view_id").ok_or_else(|| err("not_found"))?;
    let view = p_view(params).ok_or_else(|| err("invalid_arguments"))?;
    check_view(&view)?;
    let hash = new_hash(st);
    let v = st
        .native
        .views
        .iter_mut()
        .find(|v| v.id == id)
        .ok_or_else(|| err("not_found"))?;
    if p_str(params, "hash").is_some_and(|h| h != v.hash) {
        return Err(err("hash_conflict"));
    }
    v.view = view;
    v.hash = hash;
    let v = v.clone();
    Ok(json!({"ok": true, "view": view_object(inner, &v)}))
}

/// The DM channel of `user` with the app.
pub fn dm_channel_id(user: &str) -> String {
    format!("D{}", user.trim_start_matches('U'))
}

/// Adds the app's direct-message channel with every user.
pub(crate) fn with_dm_channels(mut cfg: FakeSlackConfig) -> FakeSlackConfig {
    for u in cfg.users.clone() {
        let id = dm_channel_id(&u.id);
        if cfg.channel(&id).is_none() {
            cfg.channels.push(FakeChannel {
                id,
                name: u.id.clone(),
                is_private: true,
                is_archived: false,
                is_general: false,
                members: vec![u.id.clone(), cfg.bot.user_id.clone()],
                topic: String::new(),
                purpose: String::new(),
            });
        }
    }
    cfg
}

/// `chat.postMessage` to a user id posts in the app's DM with that user.
pub(crate) fn user_channel_to_dm(
    cfg: &FakeSlackConfig,
    params: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    let ch = p_str(params, "channel")?;
    cfg.user(ch)?;
    let mut p = params.clone();
    p.insert("channel".into(), json!(dm_channel_id(ch)));
    Some(p)
}

/// A POST to an interaction's `response_url`: recorded, and shown to the
/// person (ephemeral unless `response_type` is `in_channel`).
pub(crate) fn interaction_response_url(
    inner: &Arc<Inner>,
    st: &mut SlackState,
    url: &str,
    answer: &Value,
) -> bool {
    let Some(rec) = st
        .native
        .interactions
        .iter_mut()
        .find(|r| r.payload["response_url"] == url)
    else {
        return false;
    };
    rec.response_url_posts.push(answer.clone());
    let user = rec.payload["user"]["id"].as_str().unwrap_or("").to_owned();
    let channel = rec.payload["channel"]["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let text = answer["text"].as_str().unwrap_or("").to_owned();
    let blocks = answer.get("blocks").cloned().filter(|b| !b.is_null());
    if answer["response_type"] == "in_channel" {
        let m = inner.store_bot_post(st, &channel, &text, blocks, None, None);
        let event = payloads::message_event(&inner.cfg, &m);
        inner.emit_event(st, event);
    } else {
        let message_ts = st.next_ts();
        st.ephemerals.push(Ephemeral {
            channel,
            user,
            text,
            blocks,
            thread_ts: None,
            message_ts,
            source: EphemeralSource::InteractionResponse,
        });
    }
    true
}

/// Where a clicked button is.
#[derive(Debug, Clone)]
pub enum ClickIn {
    /// A message in a channel.
    Message {
        /// Channel.
        channel: String,
        /// The message's ts.
        ts: String,
    },
    /// The `n`th ephemeral message the user received (0-based).
    Ephemeral(usize),
    /// The user's Home tab.
    Home,
    /// The user's open modal.
    Modal,
}

/// What the bot answered to an interaction.
#[derive(Debug, Clone)]
pub struct InteractionReply {
    /// The record's id.
    pub id: u64,
    /// The acknowledgement's payload (`response_action`, …), if any.
    pub response: Option<Value>,
}

impl InteractionReply {
    /// `response_action` of the answer.
    pub fn response_action(&self) -> Option<&str> {
        self.response.as_ref()?.get("response_action")?.as_str()
    }

    /// The error for `block` of a `response_action: errors` answer.
    pub fn error_for(&self, block: &str) -> Option<&str> {
        self.response.as_ref()?.get("errors")?.get(block)?.as_str()
    }
}

fn find_button<'a>(blocks: &'a Value, action_id: &str, value: Option<&str>) -> Option<&'a Value> {
    match blocks {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("button")
                && o.get("action_id").and_then(Value::as_str) == Some(action_id)
                && value.is_none_or(|v| o.get("value").and_then(Value::as_str) == Some(v))
            {
                return Some(blocks);
            }
            o.values().find_map(|x| find_button(x, action_id, value))
        }
        Value::Array(a) => a.iter().find_map(|x| find_button(x, action_id, value)),
        _ => None,
    }
}

impl FakeSlack {
    /// Where interaction payloads go in HTTP mode (the app's Interactivity
    /// Request URL).
    pub fn set_interactivity_url(&self, url: &str) {
        self.inner
            .mutate(|st| st.native.interactivity_url = Some(url.to_owned()));
    }

    /// `user` opens the app's Home tab (`app_home_opened`). Returns the event id.
    pub fn open_app_home(&self, user: &str) -> String {
        let event = json!({
            "type": "app_home_opened",
            "user": user,
            "channel": dm_channel_id(user),
            "tab": "home",
            "event_ts": format!("{}.000100", unix_now()),
        });
        self.send_event(event)
    }

    /// The Home tab published for `user`, waiting for one that satisfies `pred`.
    pub async fn wait_home(
        &self,
        user: &str,
        timeout: Duration,
        pred: impl Fn(&StoredView) -> bool,
    ) -> Result<StoredView, FakeSlackError> {
        self.wait_for(timeout, |s| s.home_view(user).filter(|v| pred(v)).cloned())
            .await
    }

    /// The modal open for `user`, waiting for one that satisfies `pred`.
    pub async fn wait_modal(
        &self,
        user: &str,
        timeout: Duration,
        pred: impl Fn(&StoredView) -> bool,
    ) -> Result<StoredView, FakeSlackError> {
        self.wait_for(timeout, |s| s.open_modal(user).filter(|v| pred(v)).cloned())
            .await
    }

    /// `user` clicks the button `action_id` (with `value`, when several have
    /// that action) that the bot rendered `where`; waits for the
    /// acknowledgement.
    pub async fn click(
        &self,
        user: &str,
        place: ClickIn,
        action_id: &str,
        value: Option<&str>,
    ) -> Result<InteractionReply, FakeSlackError> {
        let cfg = &self.inner.cfg;
        let who = cfg
            .user(user)
            .cloned()
            .ok_or_else(|| FakeSlackError::Unknown(format!("user {user}")))?;
        let payload = self.with_state(|st| -> Result<Value, FakeSlackError> {
            let (container, blocks, channel, message) = match &place {
                ClickIn::Message { channel, ts } => {
                    let m = st
                        .message(channel, ts)
                        .filter(|m| !m.deleted)
                        .ok_or_else(|| FakeSlackError::Unknown(format!("message {channel}/{ts}")))?;
                    (
                        json!({"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false}),
                        m.blocks.clone().unwrap_or(Value::Null),
                        Some(channel.clone()),
                        Some(payloads::message_object(cfg, m)),
                    )
                }
                ClickIn::Ephemeral(n) => {
                    let e = st
                        .ephemerals()
                        .iter()
                        .filter(|e| e.user == user)
                        .nth(*n)
                        .ok_or_else(|| FakeSlackError::Unknown(format!("ephemeral {n}")))?;
                    (
                        json!({"type": "message", "message_ts": e.message_ts, "channel_id": e.channel, "is_ephemeral": true}),
                        e.blocks.clone().unwrap_or(Value::Null),
                        Some(e.channel.clone()),
                        None,
                    )
                }
                ClickIn::Home | ClickIn::Modal => {
                    let v = if matches!(place, ClickIn::Home) {
                        st.home_view(user)
                    } else {
                        st.open_modal(user)
                    }
                    .ok_or_else(|| FakeSlackError::Unknown("view".into()))?;
                    (
                        json!({"type": "view", "view_id": v.id}),
                        v.view["blocks"].clone(),
                        None,
                        None,
                    )
                }
            };
            let button = find_button(&blocks, action_id, value).ok_or_else(|| {
                FakeSlackError::Unknown(format!("button {action_id} {value:?}"))
            })?;
            let block_id = find_block_of(&blocks, action_id).unwrap_or_default();
            let mut p = json!({
                "type": "block_actions",
                "user": {"id": who.id, "username": who.name, "name": who.name, "team_id": cfg.team.id},
                "api_app_id": cfg.bot.app_id,
                "token": cfg.verification_token,
                "container": container,
                "team": {"id": cfg.team.id, "domain": cfg.team.domain},
                "is_enterprise_install": false,
                "actions": [{
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button.get("value").cloned().unwrap_or(Value::Null),
                    "action_ts": format!("{}.{:06}", unix_now(), 4242),
                }],
            });
            if let Some(c) = channel {
                p["channel"] = json!({"id": c, "name": cfg.channel(&c).map(|c| c.name.clone()).unwrap_or_default()});
            }
            if let Some(m) = message {
                p["message"] = m;
            }
            Ok(p)
        })?;
        self.interact("block_actions", payload, true).await
    }

    /// `user` runs the message shortcut `callback_id` on message `ts`.
    pub async fn message_shortcut(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
        callback_id: &str,
    ) -> Result<InteractionReply, FakeSlackError> {
        let cfg = &self.inner.cfg;
        let who = cfg
            .user(user)
            .cloned()
            .ok_or_else(|| FakeSlackError::Unknown(format!("user {user}")))?;
        let message = self
            .with_state(|st| {
                st.message(channel, ts)
                    .map(|m| payloads::message_object(cfg, m))
            })
            .ok_or_else(|| FakeSlackError::Unknown(format!("message {channel}/{ts}")))?;
        let payload = json!({
            "type": "message_action",
            "callback_id": callback_id,
            "user": {"id": who.id, "username": who.name, "name": who.name, "team_id": cfg.team.id},
            "team": {"id": cfg.team.id, "domain": cfg.team.domain},
            "channel": {"id": channel, "name": cfg.channel(channel).map(|c| c.name.clone()).unwrap_or_default()},
            "message": message,
            "message_ts": ts,
            "token": cfg.verification_token,
            "action_ts": format!("{}.{:06}", unix_now(), 4243),
            "is_enterprise_install": false,
        });
        self.interact("message_action", payload, true).await
    }

    /// `user` submits their open modal with `values` (block id → the value
    /// typed, or the option value chosen). Applies the answer as Slack
    /// does: an empty one closes the modal, `update` replaces it, `errors`
    /// keeps it open.
    pub async fn submit_modal(
        &self,
        user: &str,
        values: &[(&str, &str)],
    ) -> Result<InteractionReply, FakeSlackError> {
        let cfg = &self.inner.cfg;
        let who = cfg
            .user(user)
            .cloned()
            .ok_or_else(|| FakeSlackError::Unknown(format!("user {user}")))?;
        let view = self
            .with_state(|st| st.open_modal(user).cloned())
            .ok_or_else(|| FakeSlackError::Unknown("open modal".into()))?;
        let mut state = Map::new();
        for b in view.blocks().iter().filter(|b| b["type"] == "input") {
            let block_id = b["block_id"].as_str().unwrap_or("").to_owned();
            let el = &b["element"];
            let action_id = el["action_id"].as_str().unwrap_or("").to_owned();
            let given = values.iter().find(|(k, _)| *k == block_id).map(|(_, v)| *v);
            let kind = el["type"].as_str().unwrap_or("");
            let value = match kind {
                "static_select" | "radio_buttons" => {
                    let option = given.and_then(|g| {
                        el["options"]
                            .as_array()
                            .and_then(|o| o.iter().find(|o| o["value"] == g).cloned())
                    });
                    json!({"type": kind, "selected_option": option.or_else(|| el.get("initial_option").cloned())})
                }
                _ => {
                    json!({"type": kind, "value": given.map(str::to_owned).or_else(|| el["initial_value"].as_str().map(str::to_owned))})
                }
            };
            state.insert(block_id, json!({ action_id: value }));
        }
        let mut v = view_object(&self.inner, &view);
        v["state"] = json!({ "values": state });
        let payload = json!({
            "type": "view_submission",
            "team": {"id": cfg.team.id, "domain": cfg.team.domain},
            "user": {"id": who.id, "username": who.name, "name": who.name, "team_id": cfg.team.id},
            "api_app_id": cfg.bot.app_id,
            "token": cfg.verification_token,
            "trigger_id": "",
            "view": v,
            "response_urls": [],
            "is_enterprise_install": false,
        });
        let reply = self.interact("view_submission", payload, false).await?;
        let action = reply.response_action().map(str::to_owned);
        let new_view = reply.response.as_ref().and_then(|r| r.get("view").cloned());
        self.inner.mutate(|st| {
            let Some(v) = st.native.views.iter_mut().find(|x| x.id == view.id) else {
                return;
            };
            match action.as_deref() {
                None | Some("clear") => v.open = false,
                Some("update") => {
                    if let Some(nv) = new_view {
                        v.view = nv;
                    }
                }
                _ => {}
            }
        });
        Ok(reply)
    }

    /// Sends an interaction payload and waits for its acknowledgement.
    /// `trigger` gives it a fresh `trigger_id` (and a `response_url`).
    async fn interact(
        &self,
        kind: &str,
        mut payload: Value,
        trigger: bool,
    ) -> Result<InteractionReply, FakeSlackError> {
        let inner = self.inner.clone();
        let user = payload["user"]["id"].as_str().unwrap_or("").to_owned();
        let id = inner.mutate(|st| {
            let id = st.next_counter();
            if trigger {
                let t = format!(
                    "{}.{}.{:032x}",
                    1_234_567_890_000 + id,
                    1_234_567_890,
                    u128::from(inner.seed) << 64 | u128::from(id)
                );
                st.native
                    .triggers
                    .insert(t.clone(), (Instant::now(), user.clone(), false));
                payload["trigger_id"] = json!(t);
                payload["response_url"] = json!(format!(
                    "{}/actions/{}/{}/{:016x}",
                    inner.base_url,
                    inner.cfg.team.id,
                    1_234_567_890_000 + id,
                    inner.seed ^ id
                ));
            }
            st.native.interactions.push(InteractionRecord {
                id,
                kind: kind.to_owned(),
                payload: payload.clone(),
                acknowledged: false,
                http_status: None,
                response: None,
                response_url_posts: Vec::new(),
            });
            id
        });
        match inner.delivery() {
            Delivery::SocketMode => {
                let envelope_id = payloads::uuid_like(inner.seed ^ 0x1a7e, id);
                inner.mutate(|st| {
                    let env = Envelope {
                        envelope_id: envelope_id.clone(),
                        kind: DeliveryKind::Interactive,
                        payload: payload.clone(),
                        accepts_response_payload: kind == "view_submission",
                        retry_attempt: 0,
                        retry_reason: String::new(),
                        event_id: None,
                        slash_id: None,
                        last_connection: None,
                    };
                    inner.socket_send(st, env);
                });
                let timeout = inner.cfg.ack_timeout + Duration::from_secs(1);
                let outcome = self
                    .wait_for(timeout, |st| {
                        st.deliveries().iter().rev().find_map(|d| {
                            (d.envelope_id.as_deref() == Some(envelope_id.as_str())
                                && d.outcome != DeliveryOutcome::Pending)
                                .then(|| d.outcome.clone())
                        })
                    })
                    .await?;
                let response = match outcome {
                    DeliveryOutcome::Acked { payload } => payload,
                    _ => {
                        return Err(FakeSlackError::Timeout(
                            timeout,
                            format!("the ack of {kind}"),
                        ))
                    }
                };
                inner.mutate(|st| {
                    if let Some(r) = st.native.interactions.iter_mut().find(|r| r.id == id) {
                        r.acknowledged = true;
                        r.response = response.clone();
                    }
                });
                Ok(InteractionReply { id, response })
            }
            Delivery::Http { .. } => {
                let url = inner
                    .read(|st| st.native.interactivity_url.clone())
                    .ok_or(FakeSlackError::WrongMode("set_interactivity_url first"))?;
                let body = form_urlencoded::Serializer::new(String::new())
                    .append_pair("payload", &payload.to_string())
                    .finish();
                let r = inner
                    .post_signed(
                        &url,
                        "application/x-www-form-urlencoded",
                        body,
                        SignMode::Valid,
                        None,
                    )
                    .await
                    .map_err(FakeSlackError::Http)?;
                let response = serde_json::from_str::<Value>(&r.body)
                    .ok()
                    .filter(|v| !v.is_null());
                inner.mutate(|st| {
                    st.deliveries.push(DeliveryRecord {
                        at: Instant::now(),
                        kind: DeliveryKind::Interactive,
                        event_id: None,
                        envelope_id: None,
                        connection: None,
                        retry_attempt: 0,
                        retry_reason: None,
                        outcome: DeliveryOutcome::HttpResponse {
                            status: r.status,
                            body: r.body.clone(),
                            no_retry: r.no_retry(),
                        },
                    });
                    if let Some(rec) = st.native.interactions.iter_mut().find(|x| x.id == id) {
                        rec.acknowledged = r.is_success();
                        rec.http_status = Some(r.status);
                        rec.response = response.clone();
                    }
                });
                if !r.is_success() {
                    return Err(FakeSlackError::Http(format!(
                        "status {}: {}",
                        r.status, r.body
                    )));
                }
                Ok(InteractionReply { id, response })
            }
        }
    }

    /// HTTP mode: POSTs an interaction `payload` to the interactivity URL,
    /// signed per `mode`, once (for negative tests).
    pub async fn send_raw_interaction(
        &self,
        payload: &Value,
        mode: SignMode,
    ) -> Result<super::RawHttpResponse, FakeSlackError> {
        let url = self
            .inner
            .read(|st| st.native.interactivity_url.clone())
            .ok_or(FakeSlackError::WrongMode("set_interactivity_url first"))?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        self.inner
            .post_signed(&url, "application/x-www-form-urlencoded", body, mode, None)
            .await
            .map_err(FakeSlackError::Http)
    }
}

fn find_block_of(blocks: &Value, action_id: &str) -> Option<String> {
    blocks.as_array()?.iter().find_map(|b| {
        find_button(b, action_id, None).and(b["block_id"].as_str().map(str::to_owned))
    })
}
