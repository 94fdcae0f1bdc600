//! Interactions: the callback that answers one, its original response and
//! follow-up messages, reached by the interaction token.

use serde_json::{json, Value};

use crate::discord::payloads;
use crate::discord::state::{DiscordState, StoredMessage};
use crate::discord::Inner;

use super::*;

pub(super) fn interaction_by_token(st: &DiscordState, app: &str, token: &str) -> Option<u64> {
    if snowflake(app) != Some(st.config.bot.id) {
        return None;
    }
    st.interactions
        .values()
        .find(|i| i.token == token)
        .map(|i| i.id)
}

/// Interaction tokens stay valid for follow-ups and edits for 15 minutes.
const INTERACTION_TOKEN_LIFETIME_MS: u128 = 15 * 60 * 1000;

fn interaction_message(
    st: &mut DiscordState,
    interaction: u64,
    req: &Req<'_>,
    body: Option<&Value>,
) -> Result<StoredMessage, ApiError> {
    let i = &st.interactions[&interaction];
    let (channel, user, command) = (i.channel_id, i.user_id, i.command.clone());
    let guild = st.config.guild_of_channel(channel).map(|g| g.id);
    let user_json = st
        .config
        .user(user)
        .map(payloads::user)
        .unwrap_or(Value::Null);
    let id = st.snowflake();
    let bot = st.config.bot.id;
    let mut m = new_message(id, channel, guild, bot);
    let sub = Req {
        method: req.method,
        segs: Vec::new(),
        query: Vec::new(),
        body: body.cloned(),
        files: Vec::new(),
    };
    fill_from_body(&mut m, &sub)?;
    m.webhook_id = Some(bot);
    m.kind = 20;
    m.interaction = Some(json!({
        "id": interaction.to_string(),
        "type": 2,
        "name": command,
        "user": user_json,
    }));
    Ok(m)
}

pub(super) fn followup(
    st: &mut DiscordState,
    interaction: u64,
    req: &Req<'_>,
) -> Result<Reply, ApiError> {
    let i = &st.interactions[&interaction];
    if i.created.elapsed().as_millis() > INTERACTION_TOKEN_LIFETIME_MS {
        return Err(ApiError::new(401, 50027, "Invalid Webhook Token"));
    }
    if i.callback.is_none() {
        return Err(unknown_webhook());
    }
    let body = req.body.clone();
    let m = interaction_message(st, interaction, req, body.as_ref())?;
    validate_content(&m.content, !m.embeds.is_empty() || !m.components.is_empty())?;
    if let Some(record) = st.interactions.get_mut(&interaction) {
        record.followups.push(body.unwrap_or(Value::Null));
    }
    Ok(Reply::ok(st.insert_message(m)))
}

pub(super) fn interaction_callback(
    st: &mut DiscordState,
    inner: &Inner,
    req: &Req<'_>,
) -> Result<Reply, ApiError> {
    let segs = &req.segs;
    let id = snowflake(segs[1]).ok_or_else(unknown_interaction)?;
    let window = inner.config.interaction_callback_window;
    let record = st
        .interactions
        .get(&id)
        .filter(|i| i.token == segs[2])
        .ok_or_else(unknown_interaction)?;
    if record.callback.is_some() {
        return Err(ApiError::new(
            400,
            40060,
            "Interaction has already been acknowledged.",
        ));
    }
    if record.created.elapsed() > window {
        return Err(unknown_interaction());
    }
    let body = req.body.clone().unwrap_or(Value::Null);
    let kind = body.get("type").and_then(Value::as_u64).unwrap_or(0);
    let message_id = answer(st, id, req, &body)?;
    let record = st
        .interactions
        .get_mut(&id)
        .ok_or_else(unknown_interaction)?;
    record.callback = Some(body.clone());
    record.original_message = message_id;
    if let Some(waiter) = st.interaction_waiters.remove(&id) {
        let _ = waiter.send(body);
    }
    if req.flag("with_response") {
        return Ok(Reply::ok(with_response(st, id, kind, message_id)));
    }
    Ok(Reply::no_content())
}

/// What a callback of `body`'s type does: 4 posts the reply, 5 the
/// "thinking…" placeholder, 6 and 7 (a component's only) keep or edit its
/// message, 9 opens a modal; 1 (PONG) is for HTTP interactions only. The
/// message that becomes `@original`, if any.
fn answer(
    st: &mut DiscordState,
    id: u64,
    req: &Req<'_>,
    body: &Value,
) -> Result<Option<u64>, ApiError> {
    let kind = body.get("type").and_then(Value::as_u64).unwrap_or(0);
    let data = body.get("data").cloned();
    let mut message_id = None;
    match kind {
        4 => {
            let mut m = interaction_message(st, id, req, data.as_ref())?;
            validate_content(&m.content, !m.embeds.is_empty() || !m.components.is_empty())?;
            m.flags &= 4 | 64 | 4096;
            message_id = Some(m.id);
            st.insert_message(m);
        }
        5 => {
            let mut m = interaction_message(st, id, req, data.as_ref())?;
            m.content = String::new();
            // LOADING: the "bot is thinking…" placeholder until @original is edited.
            m.flags |= 128;
            message_id = Some(m.id);
            st.insert_message(m);
        }
        6 | 7 => {
            // Deferred update / update: only for a component's message.
            let (kind, original) = st
                .interactions
                .get(&id)
                .map_or((2, None), |i| (i.kind, i.original_message));
            let target = original.filter(|_| kind == 3).ok_or_else(|| {
                ApiError::form(
                    "type",
                    "INTERACTION_RESPONSE_TYPE_INVALID",
                    "Update callbacks are only valid for component interactions.",
                )
            })?;
            if body.get("type").and_then(Value::as_u64) == Some(7) {
                let patch = data.clone().unwrap_or(json!({}));
                st.edit_message(target, &patch)
                    .ok_or_else(unknown_message)?;
            }
            message_id = Some(target);
        }
        9 => {
            let kind = st.interactions.get(&id).map_or(2, |i| i.kind);
            crate::discord::native::check_modal(kind, data.as_ref())
                .map_err(|(field, message)| ApiError::form(&field, "MODAL_INVALID", &message))?;
        }
        1 => {
            return Err(ApiError::form(
                "type",
                "BASE_TYPE_CHOICES",
                "Value must be one of {4, 5, 6, 7, 8, 9, 10, 12}.",
            ))
        }
        _ => {}
    }
    Ok(message_id)
}

/// The body of a callback `?with_response=true`: the interaction and the
/// resource it created.
fn with_response(st: &DiscordState, id: u64, kind: u64, message_id: Option<u64>) -> Value {
    let message = message_id
        .and_then(|m| st.message(m))
        .map(|m| st.message_json(m, false));
    json!({
        "interaction": {
            "id": id.to_string(),
            "type": 2,
            "activity_instance_id": null,
            "response_message_id": message_id.map(|m| m.to_string()),
            "response_message_loading": kind == 5,
            "response_message_ephemeral": message
                .as_ref()
                .and_then(|m| m.get("flags"))
                .and_then(Value::as_u64)
                .is_some_and(|f| f & 64 != 0),
        },
        "resource": { "type": kind, "message": message },
    })
}
