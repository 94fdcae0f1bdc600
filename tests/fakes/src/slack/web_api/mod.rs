//! The Web API (`/api/{method}`) and the slash-command `response_url`s.
//!
//! Arguments are accepted the ways Slack accepts them (query string, JSON
//! body, form body; token as `Authorization: Bearer` or `token=`). Answers are
//! HTTP 200 `{"ok":false,"error":…}` for application errors and HTTP 429 with
//! `Retry-After` for rate limits, always `application/json; charset=utf-8`.
//! Permission rules follow Slack's: bots may only edit and delete their own
//! messages, admins' user tokens may delete anyone's, customisation needs
//! `chat:write.customize`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use tracing::debug;

mod chat;

use super::config::FakeChannel;
use super::payloads;
use super::socket;
use super::state::{ApiCall, Edited, Ephemeral, EphemeralSource, SlackState, StoredMessage};
use super::{unix_now, Inner, TokenKind};

const JSON_UTF8: &str = "application/json; charset=utf-8";
const MAX_BODY: usize = 8 * 1024 * 1024;
const MAX_TEXT_CHARS: usize = 40_000;

/// Every route other than the socket endpoint.
pub(crate) async fn fallback(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large").into_response();
    };
    let path = parts.uri.path().to_string();
    if let Some(rest) = path.strip_prefix("/api/") {
        let method = rest.trim_start_matches('/').to_string();
        return api(
            inner,
            method,
            parts.method,
            parts.uri.query(),
            &parts.headers,
            body,
        )
        .await;
    }
    if (path.starts_with("/commands/") || path.starts_with("/actions/"))
        && parts.method == Method::POST
    {
        return response_url(&inner, &path, &parts.headers, &body);
    }
    (StatusCode::NOT_FOUND, "not_found").into_response()
}

fn json_response(status: StatusCode, body: &Value, retry_after: Option<u64>) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn err(code: &str) -> Value {
    json!({ "ok": false, "error": code })
}

/// Query, JSON and form arguments merged into one object.
fn parse_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, Value> {
    let mut params = Map::new();
    if let Some(q) = query {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    if body.is_empty() {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => params.extend(o),
            _ => return Err(err("invalid_json")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.is_empty()
    {
        for (k, v) in form_urlencoded::parse(body) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    } else {
        return Err(err("invalid_form_data"));
    }
    Ok(params)
}

fn p_str<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn p_bool(params: &Map<String, Value>, name: &str) -> Option<bool> {
    match params.get(name)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s == "true" || s == "1"),
        Value::Number(n) => Some(n.as_i64() == Some(1)),
        _ => None,
    }
}

/// A JSON argument that may arrive as JSON or as a JSON-encoded string (forms).
fn p_json(params: &Map<String, Value>, name: &str) -> Option<Value> {
    match params.get(name)? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => serde_json::from_str(s).ok(),
        v => Some(v.clone()),
    }
}

async fn api(
    inner: Arc<Inner>,
    method: String,
    http_method: Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    // Taken first, before parsing, any configured delay and the state lock,
    // so that latency figures end when the call arrived, not when the fake
    // got round to it (the fake's own handling is measured apart).
    let arrived = std::time::Instant::now();
    let parsed = parse_params(query, headers, &body);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let (mut params, parse_error) = match parsed {
        Ok(p) => (p, None),
        Err(e) => (Map::new(), Some(e)),
    };
    let token = bearer.or_else(|| p_str(&params, "token").map(str::to_string));
    params.remove("token");
    let kind = classify_token(&inner, token.as_deref());

    let delay = inner.read(|st| st.delays.get(&method).copied());
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }

    let (status, response, retry_after) = inner.mutate(|st| {
        let (status, response, retry_after) =
            if let Some((left, code)) = st.http_failures.get_mut(&method).filter(|f| f.0 > 0) {
                // A bare server error (Slack's edge, a proxy): no JSON body.
                *left -= 1;
                let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY);
                (status, Value::Null, None)
            } else if let Some(rl) = st.rate_limits.get_mut(&method).filter(|r| r.remaining > 0) {
                rl.remaining -= 1;
                let secs = rl.retry_after_secs;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    err("ratelimited"),
                    Some(secs),
                )
            } else if let Some(e) = auth_error(&method, &kind) {
                (StatusCode::OK, e, None)
            } else if let Some(e) = parse_error {
                (StatusCode::OK, e, None)
            } else if let Some(code) = st.fail_next.get_mut(&method).and_then(|q| q.pop_front()) {
                (StatusCode::OK, err(&code), None)
            } else {
                let r = dispatch(&inner, st, &method, &kind, &params);
                (StatusCode::OK, r, None)
            };
        st.calls.push(ApiCall {
            at: arrived,
            method: method.clone(),
            http_method: http_method.to_string(),
            token: kind.clone(),
            params: Value::Object(params.clone()),
            status: status.as_u16(),
            response: response.clone(),
        });
        (status, response, retry_after)
    });
    debug!(method = %method, status = status.as_u16(), ok = ?response.get("ok"), "fake slack api call");
    if response.is_null() {
        let mut resp = (status, "upstream connect error").into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return resp;
    }
    json_response(status, &response, retry_after)
}

fn classify_token(inner: &Inner, token: Option<&str>) -> TokenKind {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return TokenKind::Missing;
    };
    let cfg = &inner.cfg;
    if token == cfg.bot_token {
        TokenKind::Bot
    } else if token == cfg.app_token {
        TokenKind::App
    } else if let Some(u) = cfg.user_tokens.iter().find(|u| u.token == token) {
        TokenKind::User {
            user_id: u.user_id.clone(),
        }
    } else {
        TokenKind::Unknown
    }
}

fn auth_error(method: &str, kind: &TokenKind) -> Option<Value> {
    match kind {
        TokenKind::Missing => Some(err("not_authed")),
        TokenKind::Unknown => Some(err("invalid_auth")),
        TokenKind::App if !method.starts_with("apps.") => Some(err("not_allowed_token_type")),
        TokenKind::Bot | TokenKind::User { .. } if method == "apps.connections.open" => {
            Some(err("not_allowed_token_type"))
        }
        _ => None,
    }
}

fn scopes<'a>(inner: &'a Inner, kind: &TokenKind) -> Vec<&'a str> {
    match kind {
        TokenKind::Bot => inner.cfg.bot.scopes.iter().map(String::as_str).collect(),
        TokenKind::User { user_id } => inner
            .cfg
            .user_tokens
            .iter()
            .filter(|t| &t.user_id == user_id)
            .flat_map(|t| t.scopes.iter().map(String::as_str))
            .collect(),
        _ => Vec::new(),
    }
}

fn has_scope(inner: &Inner, kind: &TokenKind, scope: &str) -> bool {
    scopes(inner, kind).contains(&scope)
}

fn need_scope(inner: &Inner, kind: &TokenKind, scope: &str) -> Result<(), Value> {
    if has_scope(inner, kind, scope) {
        Ok(())
    } else {
        Err(json!({
            "ok": false,
            "error": "missing_scope",
            "needed": scope,
            "provided": scopes(inner, kind).join(","),
        }))
    }
}

/// The user id acting behind a token.
fn actor(inner: &Inner, kind: &TokenKind) -> String {
    match kind {
        TokenKind::User { user_id } => user_id.clone(),
        _ => inner.cfg.bot.user_id.clone(),
    }
}

/// A conversation the caller may see; private ones hide from non-members.
fn visible_channel<'a>(
    inner: &'a Inner,
    kind: &TokenKind,
    params: &Map<String, Value>,
    arg: &str,
) -> Result<&'a FakeChannel, Value> {
    let id = p_str(params, arg).ok_or_else(|| err("channel_not_found"))?;
    let chan = inner
        .cfg
        .channel(id)
        .ok_or_else(|| err("channel_not_found"))?;
    if chan.is_private && !chan.members.contains(&actor(inner, kind)) {
        return Err(err("channel_not_found"));
    }
    Ok(chan)
}

fn dispatch(
    inner: &Arc<Inner>,
    st: &mut SlackState,
    method: &str,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> Value {
    if method.starts_with("views.") {
        return super::views::dispatch(inner, st, method, kind, params);
    }
    let dm = (method == "chat.postMessage")
        .then(|| super::views::user_channel_to_dm(&inner.cfg, params))
        .flatten();
    let params = dm.as_ref().unwrap_or(params);
    let result = match method {
        "api.test" => Ok(json!({ "ok": true, "args": params })),
        "auth.test" => auth_test(inner, kind),
        "apps.connections.open" => Ok(json!({ "ok": true, "url": socket::open_url(inner, st) })),
        "chat.postMessage" => chat::chat_post_message(inner, st, kind, params),
        "chat.update" => chat::chat_update(inner, st, kind, params),
        "chat.delete" => chat::chat_delete(inner, st, kind, params),
        "chat.postEphemeral" => chat::chat_post_ephemeral(inner, st, kind, params),
        "chat.getPermalink" => chat::chat_get_permalink(inner, st, kind, params),
        "users.info" => users_info(inner, kind, params),
        "users.list" => users_list(inner, kind),
        "conversations.info" => conversations_info(inner, kind, params),
        "conversations.history" => conversations_history(inner, st, kind, params),
        "conversations.replies" => conversations_replies(inner, st, kind, params),
        "team.info" => team_info(inner, kind),
        "bots.info" => bots_info(inner, kind, params),
        _ => Err(err("unknown_method")),
    };
    result.unwrap_or_else(|e| e)
}

type ApiResult = Result<Value, Value>;

/// Blocks in one message (`chat.postMessage`, `chat.postEphemeral`,
/// `chat.update`).
const MAX_BLOCKS: usize = 50;
/// Characters in a `section` block's `text`.
const MAX_SECTION_TEXT: usize = 3000;

/// Slack's Block Kit limits on a message: at most [`MAX_BLOCKS`] blocks and a
/// `section`'s text at most [`MAX_SECTION_TEXT`] characters; anything over
/// answers `invalid_blocks` with the reason in `response_metadata.messages`.
fn check_blocks(blocks: Option<&Value>) -> Result<(), Value> {
    let Some(list) = blocks.and_then(Value::as_array) else {
        return Ok(());
    };
    let invalid = |why: String| {
        json!({"ok": false, "error": "invalid_blocks",
               "response_metadata": {"messages": [format!("[ERROR] {why}")]}})
    };
    super::views::check_blocks(list, MAX_BLOCKS)?;
    for (i, b) in list.iter().enumerate() {
        let text = b["text"]["text"].as_str().unwrap_or("");
        if b["type"] == "section" && text.chars().count() > MAX_SECTION_TEXT {
            return Err(invalid(format!(
                "must be less than {} characters [json-pointer:/blocks/{i}/text/text]",
                MAX_SECTION_TEXT + 1
            )));
        }
    }
    Ok(())
}

fn team_url(inner: &Inner) -> String {
    format!("https://{}.slack.com/", inner.cfg.team.domain)
}

fn auth_test(inner: &Inner, kind: &TokenKind) -> ApiResult {
    let cfg = &inner.cfg;
    match kind {
        TokenKind::Bot => Ok(json!({
            "ok": true,
            "url": team_url(inner),
            "team": cfg.team.name,
            "user": cfg.bot.name,
            "team_id": cfg.team.id,
            "user_id": cfg.bot.user_id,
            "bot_id": cfg.bot.bot_id,
            "is_enterprise_install": false,
        })),
        TokenKind::User { user_id } => Ok(json!({
            "ok": true,
            "url": team_url(inner),
            "team": cfg.team.name,
            "user": cfg.user(user_id).map(|u| u.name.clone()).unwrap_or_default(),
            "team_id": cfg.team.id,
            "user_id": user_id,
            "is_enterprise_install": false,
        })),
        _ => Err(err("not_allowed_token_type")),
    }
}

fn users_info(inner: &Inner, kind: &TokenKind, params: &Map<String, Value>) -> ApiResult {
    need_scope(inner, kind, "users:read")?;
    let id = p_str(params, "user").ok_or_else(|| err("user_not_found"))?;
    let user = if id == inner.cfg.bot.user_id {
        payloads::bot_user(&inner.cfg)
    } else {
        inner
            .cfg
            .user(id)
            .cloned()
            .ok_or_else(|| err("user_not_found"))?
    };
    Ok(json!({ "ok": true, "user": payloads::user_object(&inner.cfg, &user) }))
}

fn users_list(inner: &Inner, kind: &TokenKind) -> ApiResult {
    need_scope(inner, kind, "users:read")?;
    let mut members: Vec<Value> = inner
        .cfg
        .users
        .iter()
        .map(|u| payloads::user_object(&inner.cfg, u))
        .collect();
    members.push(payloads::user_object(
        &inner.cfg,
        &payloads::bot_user(&inner.cfg),
    ));
    Ok(json!({
        "ok": true,
        "members": members,
        "cache_ts": unix_now(),
        "response_metadata": { "next_cursor": "" },
    }))
}

fn conversations_info(inner: &Inner, kind: &TokenKind, params: &Map<String, Value>) -> ApiResult {
    let chan = visible_channel(inner, kind, params, "channel")?;
    need_scope(
        inner,
        kind,
        if chan.is_private {
            "groups:read"
        } else {
            "channels:read"
        },
    )?;
    Ok(json!({ "ok": true, "channel": payloads::channel_object(&inner.cfg, chan) }))
}

fn history_scope(chan: &FakeChannel) -> &'static str {
    if chan.is_private {
        "groups:history"
    } else {
        "channels:history"
    }
}

fn conversations_history(
    inner: &Inner,
    st: &SlackState,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> ApiResult {
    let chan = visible_channel(inner, kind, params, "channel")?;
    need_scope(inner, kind, history_scope(chan))?;
    if !chan.members.contains(&actor(inner, kind)) {
        return Err(err("not_in_channel"));
    }
    let messages: Vec<Value> = st
        .messages(&chan.id)
        .iter()
        .rev()
        .filter(|m| !m.deleted && (!m.is_reply() || m.reply_broadcast))
        .map(|m| with_thread_info(inner, st, m))
        .collect();
    Ok(json!({
        "ok": true,
        "messages": messages,
        "has_more": false,
        "pin_count": 0,
        "response_metadata": { "next_cursor": "" },
    }))
}

fn with_thread_info(inner: &Inner, st: &SlackState, m: &StoredMessage) -> Value {
    let mut v = payloads::message_object(&inner.cfg, m);
    let replies: Vec<&StoredMessage> = st
        .messages(&m.channel)
        .iter()
        .filter(|r| !r.deleted && r.is_reply() && r.thread_ts.as_deref() == Some(&m.ts))
        .collect();
    if let (Some(last), Some(o)) = (replies.last(), v.as_object_mut()) {
        let mut users: Vec<String> = replies.iter().filter_map(|r| r.user.clone()).collect();
        users.dedup();
        o.insert("thread_ts".into(), json!(m.ts));
        o.insert("reply_count".into(), json!(replies.len()));
        o.insert("reply_users_count".into(), json!(users.len()));
        o.insert("latest_reply".into(), json!(last.ts));
        o.insert("reply_users".into(), json!(users));
    }
    v
}

fn conversations_replies(
    inner: &Inner,
    st: &SlackState,
    kind: &TokenKind,
    params: &Map<String, Value>,
) -> ApiResult {
    let chan = visible_channel(inner, kind, params, "channel")?;
    need_scope(inner, kind, history_scope(chan))?;
    let ts = p_str(params, "ts").ok_or_else(|| err("thread_not_found"))?;
    let parent = st
        .message(&chan.id, ts)
        .filter(|m| !m.deleted)
        .ok_or_else(|| err("thread_not_found"))?;
    let root = parent
        .thread_ts
        .clone()
        .unwrap_or_else(|| parent.ts.clone());
    let mut messages = Vec::new();
    if let Some(r) = st.message(&chan.id, &root).filter(|m| !m.deleted) {
        messages.push(with_thread_info(inner, st, r));
    }
    messages.extend(
        st.messages(&chan.id)
            .iter()
            .filter(|m| !m.deleted && m.is_reply() && m.thread_ts.as_deref() == Some(&root))
            .map(|m| payloads::message_object(&inner.cfg, m)),
    );
    Ok(json!({
        "ok": true,
        "messages": messages,
        "has_more": false,
        "response_metadata": { "next_cursor": "" },
    }))
}

fn team_info(inner: &Inner, kind: &TokenKind) -> ApiResult {
    need_scope(inner, kind, "team:read")?;
    let t = &inner.cfg.team;
    Ok(json!({
        "ok": true,
        "team": {
            "id": t.id,
            "name": t.name,
            "url": team_url(inner),
            "domain": t.domain,
            "email_domain": "",
            "icon": { "image_default": true },
        }
    }))
}

fn bots_info(inner: &Inner, kind: &TokenKind, params: &Map<String, Value>) -> ApiResult {
    need_scope(inner, kind, "users:read")?;
    let cfg = &inner.cfg;
    let id = p_str(params, "bot").unwrap_or("");
    if id != cfg.bot.bot_id {
        return Err(err("bot_not_found"));
    }
    let profile = payloads::bot_profile(cfg);
    Ok(json!({
        "ok": true,
        "bot": {
            "id": cfg.bot.bot_id,
            "deleted": false,
            "name": cfg.bot.name,
            "updated": profile["updated"],
            "app_id": cfg.bot.app_id,
            "user_id": cfg.bot.user_id,
            "icons": profile["icons"],
        }
    }))
}

/// A POST to a slash command's `response_url`: at most 5 uses; answers `ok`
/// as text like Slack's hooks endpoint.
fn response_url(inner: &Arc<Inner>, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let url = format!("{}{}", inner.base_url, path);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed: Option<Value> = if content_type.starts_with("application/x-www-form-urlencoded") {
        form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .and_then(|(_, v)| serde_json::from_str(&v).ok())
    } else {
        serde_json::from_slice(body).ok()
    };
    inner.mutate(|st| {
        let Some(slash_id) = st
            .slash
            .iter()
            .find(|r| r.response_url == url)
            .map(|r| r.id)
        else {
            let answered = parsed
                .as_ref()
                .filter(|a| a.is_object())
                .is_some_and(|a| super::views::interaction_response_url(inner, st, &url, a));
            return if answered {
                (StatusCode::OK, "ok").into_response()
            } else {
                (StatusCode::NOT_FOUND, "expired_url").into_response()
            };
        };
        let uses = st.response_url_uses.entry(url.clone()).or_insert(0);
        if *uses >= 5 {
            return (StatusCode::NOT_FOUND, "used_url").into_response();
        }
        let Some(answer) = parsed.filter(Value::is_object) else {
            return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
        };
        let has_content = ["text", "blocks", "attachments"]
            .iter()
            .any(|k| answer.get(*k).is_some_and(|v| !v.is_null()))
            || answer.get("delete_original").and_then(Value::as_bool) == Some(true);
        if !has_content {
            return (StatusCode::BAD_REQUEST, "no_text").into_response();
        }
        *uses += 1;
        if let Some(rec) = st.slash.iter_mut().find(|r| r.id == slash_id) {
            rec.response_url_posts.push(answer.clone());
        }
        inner.apply_command_answer(st, slash_id, &answer);
        (StatusCode::OK, "ok").into_response()
    })
}
