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
use super::state::{Ephemeral, EphemeralSource, SlackState, TokenKind};
use super::{payloads, unix_now, Inner};

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

pub(super) fn view_object(inner: &Inner, v: &StoredView) -> Value {
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
