//! The REST API under `/api/v10`, served identically over plain HTTP (serenity's proxy mode) and
//! HTTPS (the production code path with serenity's rate limiter).
//!
//! One fallback handler parses the path itself rather than registering axum routes, so that
//! recording, fault injection, rate-limit headers and Discord's error shapes are applied in one
//! place for every route, known or not.

mod channels;
mod commands;
mod guilds;
mod interactions;
mod messages;
mod session;
mod webhooks;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::config::{perms, ChannelKind, GuildSpec};
use super::payloads;
use super::state::{
    now_ms, DiscordState, Fault, FaultKind, RecordedCall, RouteKind, StoredMessage,
};
use super::Inner;

/// Shared state of both listeners; `tls` tells them apart in recorded calls.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) inner: Arc<Inner>,
    pub(crate) tls: bool,
}

/// The router served on both listeners: the gateway websocket at `/`, REST everywhere else.
pub(crate) fn router(inner: Arc<Inner>, tls: bool) -> Router {
    Router::new()
        .route("/", get(super::gateway::upgrade))
        .merge(super::oauth::routes())
        .fallback(rest)
        .with_state(AppState { inner, tls })
}

/// A Discord error response.
#[derive(Debug)]
struct ApiError {
    status: u16,
    body: Value,
    rate_limit: Option<(f64, bool)>,
}

impl ApiError {
    fn new(status: u16, code: u32, message: &str) -> Self {
        Self {
            status,
            body: payloads::error(code, message),
            rate_limit: None,
        }
    }

    fn form(field: &str, code: &str, message: &str) -> Self {
        let mut body = payloads::error(50035, "Invalid Form Body");
        body["errors"] = json!({ field: { "_errors": [{ "code": code, "message": message }] } });
        Self {
            status: 400,
            body,
            rate_limit: None,
        }
    }
}

fn unknown_channel() -> ApiError {
    ApiError::new(404, 10003, "Unknown Channel")
}
fn unknown_user() -> ApiError {
    ApiError::new(404, 10013, "Unknown User")
}
/// The guild named by a path segment, if the bot is in it (else 404 10004 Unknown Guild).
fn known_guild<'s>(st: &'s DiscordState, raw: &str) -> Result<&'s GuildSpec, ApiError> {
    snowflake(raw)
        .and_then(|g| st.guild(g))
        .ok_or_else(|| ApiError::new(404, 10004, "Unknown Guild"))
}
fn unknown_message() -> ApiError {
    ApiError::new(404, 10008, "Unknown Message")
}
fn unknown_webhook() -> ApiError {
    ApiError::new(404, 10015, "Unknown Webhook")
}
fn unknown_interaction() -> ApiError {
    ApiError::new(404, 10062, "Unknown interaction")
}
fn missing_permissions() -> ApiError {
    ApiError::new(403, 50013, "Missing Permissions")
}
fn not_found() -> ApiError {
    ApiError::new(404, 0, "404: Not Found")
}

/// What a handler answers on success.
struct Reply {
    status: u16,
    body: Option<Value>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            body: Some(body),
        }
    }
    fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
        }
    }
}

/// A parsed request.
struct Req<'a> {
    method: &'a Method,
    segs: Vec<&'a str>,
    query: Vec<(String, String)>,
    body: Option<Value>,
    files: Vec<(String, usize)>,
}

impl Req<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.param(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }

    fn body_str(&self, field: &str) -> Option<&str> {
        self.body.as_ref()?.get(field)?.as_str()
    }

    fn body_array(&self, field: &str) -> Vec<Value> {
        self.body
            .as_ref()
            .and_then(|b| b.get(field))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

fn classify(method: &Method, segs: &[&str]) -> RouteKind {
    use RouteKind as R;
    let m = method.as_str();
    match (m, segs) {
        ("GET", ["gateway"]) => R::Gateway,
        ("GET", ["gateway", "bot"]) => R::GatewayBot,
        ("GET", ["users", _]) => R::GetUser,
        ("POST", ["users", "@me", "channels"]) => R::CreateDm,
        ("DELETE", ["users", "@me", "guilds", _]) => R::LeaveGuild,
        ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => R::GetApplication,
        ("GET", ["channels", _]) => R::GetChannel,
        ("GET", ["channels", _, "messages"]) => R::ListMessages,
        ("POST", ["channels", _, "messages"]) => R::CreateMessage,
        ("GET", ["channels", _, "messages", _]) => R::GetMessage,
        ("PATCH", ["channels", _, "messages", _]) => R::EditMessage,
        ("DELETE", ["channels", _, "messages", _]) => R::DeleteMessage,
        ("POST", ["channels", _, "typing"]) => R::Typing,
        ("POST", ["channels", _, "webhooks"]) => R::CreateWebhook,
        ("GET", ["channels", _, "webhooks"] | ["guilds", _, "webhooks"]) => R::ListWebhooks,
        ("GET", ["webhooks", _] | ["webhooks", _, _]) => R::GetWebhook,
        ("DELETE", ["webhooks", _] | ["webhooks", _, _]) => R::DeleteWebhook,
        ("POST", ["webhooks", _, _]) => R::WebhookExecute,
        ("GET" | "PATCH" | "DELETE", ["webhooks", _, _, "messages", _]) => R::WebhookMessage,
        ("POST", ["interactions", _, _, "callback"]) => R::InteractionCallback,
        (_, ["applications", _, "commands", ..]) => R::GlobalCommands,
        (_, ["applications", _, "guilds", _, "commands", ..]) => R::GuildCommands,
        ("GET", ["guilds", _]) => R::GetGuild,
        ("GET", ["guilds", _, "channels"]) => R::GuildChannels,
        ("GET", ["guilds", _, "members", _]) => R::GetMember,
        ("GET", ["guilds", _, "roles"]) => R::GuildRoles,
        (_, ["guilds", _, "auto-moderation", "rules"]) => R::AutoModRules,
        (_, ["guilds", _, "auto-moderation", "rules", _]) => R::AutoModRule,
        _ => R::Unknown,
    }
}

/// Routes that take no bot token (webhook tokens and interaction tokens authorise them).
fn needs_bot_auth(route: RouteKind, segs: &[&str]) -> bool {
    match route {
        RouteKind::Gateway
        | RouteKind::WebhookExecute
        | RouteKind::WebhookMessage
        | RouteKind::InteractionCallback
        | RouteKind::Unknown => false,
        RouteKind::GetWebhook | RouteKind::DeleteWebhook => segs.len() == 2,
        _ => true,
    }
}

async fn rest(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    let path = uri.path().to_owned();
    let raw_query = uri.query().map(str::to_owned);
    let segs: Option<Vec<&str>> = api_segments(&path);
    let route = segs
        .as_deref()
        .map_or(RouteKind::Unknown, |s| classify(&method, s));
    let parsed = parse_body(&headers, &body);
    let (body_json, files, body_error) = match parsed {
        Ok((json, files)) => (json, files, None),
        Err(e) => (None, Vec::new(), Some(e)),
    };
    let req = Req {
        method: &method,
        segs: segs.clone().unwrap_or_default(),
        query: raw_query
            .as_deref()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
        body: body_json.clone(),
        files,
    };
    let authorized = bot_authorized(&headers, &app.inner.config.bot_token);

    let outcome = {
        let mut st = app.inner.lock();
        let outcome = match (body_error, Fault::take(&mut st.faults, route)) {
            (
                _,
                Some(FaultKind::RateLimit {
                    retry_after,
                    global,
                }),
            ) => Err(ApiError {
                status: 429,
                body: payloads::rate_limited(retry_after, global),
                rate_limit: Some((retry_after, global)),
            }),
            (_, Some(FaultKind::Error { status, code })) => {
                Err(ApiError::new(status, code, injected_message(code)))
            }
            (Some(e), None) => Err(e),
            (None, None) if needs_bot_auth(route, &req.segs) && !authorized => {
                Err(ApiError::new(401, 0, "401: Unauthorized"))
            }
            (None, None) => handle(&mut st, &app.inner, route, &req),
        };
        let status = match &outcome {
            Ok(r) => r.status,
            Err(e) => e.status,
        };
        st.calls.push(RecordedCall {
            route,
            method: method.to_string(),
            path: path.clone(),
            query: raw_query.clone(),
            body: body_json,
            status,
            tls: app.tls,
            at: arrived,
        });
        outcome
    };
    app.inner.notify();
    tracing::debug!(%method, %path, ?route, "fake discord rest call");
    respond(route, &req.segs, outcome)
}

fn injected_message(code: u32) -> &'static str {
    match code {
        10003 => "Unknown Channel",
        10008 => "Unknown Message",
        10015 => "Unknown Webhook",
        10062 => "Unknown interaction",
        40060 => "Interaction has already been acknowledged.",
        50001 => "Missing Access",
        50013 => "Missing Permissions",
        50035 => "Invalid Form Body",
        _ => "Injected failure",
    }
}

/// Path segments after `/api/v{N}` (or `/api`).
fn api_segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("/api")?;
    let rest = match rest.strip_prefix("/v") {
        Some(v) => {
            let slash = v.find('/').unwrap_or(v.len());
            v[..slash].parse::<u8>().ok()?;
            &v[slash..]
        }
        None => rest,
    };
    Some(rest.split('/').filter(|s| !s.is_empty()).collect())
}

fn bot_authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let expected = token.strip_prefix("Bot ").unwrap_or(token);
    value.strip_prefix("Bot ") == Some(expected)
}

/// A request body: its JSON (if any) and the names and sizes of uploaded files.
type ParsedBody = (Option<Value>, Vec<(String, usize)>);

/// JSON body, or the `payload_json` part (plus file names and sizes) of a multipart body.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<ParsedBody, ApiError> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
    {
        let boundary = boundary.trim_matches('"');
        return Ok(parse_multipart(body, boundary));
    }
    if body.is_empty() {
        return Ok((None, Vec::new()));
    }
    serde_json::from_slice(body)
        .map(|v| (Some(v), Vec::new()))
        .map_err(|_| ApiError::new(400, 50109, "The request body contains invalid JSON."))
}

/// Just enough multipart parsing for `payload_json` and `files[n]`.
fn parse_multipart(body: &[u8], boundary: &str) -> ParsedBody {
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let mut payload = None;
    let mut files = Vec::new();
    for part in text.split(delimiter.as_str()) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        let name = header_param(head, "name");
        if name.as_deref() == Some("payload_json") {
            payload = serde_json::from_str(content).ok();
        } else if let Some(filename) = header_param(head, "filename") {
            files.push((filename, content.len()));
        }
    }
    (payload, files)
}

fn header_param(head: &str, key: &str) -> Option<String> {
    let needle = format!(" {key}=\"");
    let start = head.find(&needle)? + needle.len();
    let end = head[start..].find('"')?;
    Some(head[start..start + end].to_owned())
}

fn respond(route: RouteKind, segs: &[&str], outcome: Result<Reply, ApiError>) -> Response {
    let now = now_ms() as f64 / 1000.0;
    let bucket = bucket_id(route, segs);
    let mut builder = Response::builder();
    let (status, body) = match outcome {
        Ok(reply) => {
            builder = builder
                .header("X-RateLimit-Limit", "5")
                .header("X-RateLimit-Remaining", "4")
                .header("X-RateLimit-Reset", format!("{:.3}", now + 1.0))
                .header("X-RateLimit-Reset-After", "1.000")
                .header("X-RateLimit-Bucket", bucket.as_str());
            (reply.status, reply.body)
        }
        Err(e) => {
            if let Some((retry_after, global)) = e.rate_limit {
                builder = builder.header("Retry-After", format_seconds(retry_after));
                if global {
                    builder = builder
                        .header("X-RateLimit-Global", "true")
                        .header("X-RateLimit-Scope", "global");
                } else {
                    builder = builder
                        .header("X-RateLimit-Limit", "5")
                        .header("X-RateLimit-Remaining", "0")
                        .header("X-RateLimit-Reset", format!("{:.3}", now + retry_after))
                        .header("X-RateLimit-Reset-After", format!("{retry_after:.3}"))
                        .header("X-RateLimit-Bucket", bucket.as_str())
                        .header("X-RateLimit-Scope", "user");
                }
            } else {
                builder = builder
                    .header("X-RateLimit-Limit", "5")
                    .header("X-RateLimit-Remaining", "4")
                    .header("X-RateLimit-Reset", format!("{:.3}", now + 1.0))
                    .header("X-RateLimit-Reset-After", "1.000")
                    .header("X-RateLimit-Bucket", bucket.as_str());
            }
            (e.status, Some(e.body))
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let response = match body {
        Some(v) => builder
            .status(status)
            .header("Content-Type", HeaderValue::from_static("application/json"))
            .body(Body::from(v.to_string())),
        None => builder.status(status).body(Body::empty()),
    };
    response.unwrap_or_else(|_| Response::new(Body::empty()))
}

/// `Retry-After` as Discord would write it, but keeping fractions so tests stay fast.
fn format_seconds(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

fn bucket_id(route: RouteKind, segs: &[&str]) -> String {
    let mut h = DefaultHasher::new();
    route.hash(&mut h);
    // The major parameter (channel, guild or webhook id) splits buckets, as on Discord.
    if let Some(major) = segs.get(1) {
        major.hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

fn snowflake(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// 403 unless the bot has VIEW_CHANNEL and `bits` in `channel` (DMs are always allowed).
fn require(st: &DiscordState, channel: u64, bits: u64) -> Result<(), ApiError> {
    let Some(g) = st.config.guild_of_channel(channel) else {
        return Ok(());
    };
    let p = g.permissions_in(st.config.bot.id, channel);
    if p & perms::VIEW_CHANNEL == 0 {
        return Err(ApiError::new(403, 50001, "Missing Access"));
    }
    if p & bits != bits {
        return Err(missing_permissions());
    }
    Ok(())
}

fn known_channel(st: &DiscordState, raw: &str) -> Result<(u64, Option<u64>), ApiError> {
    let id = snowflake(raw).ok_or_else(unknown_channel)?;
    let home = st.channel_home(id).ok_or_else(unknown_channel)?;
    Ok((id, home))
}

fn channel_kind(st: &DiscordState, channel: u64) -> Option<ChannelKind> {
    st.config
        .guild_of_channel(channel)
        .and_then(|g| g.channel(channel))
        .map(|c| c.kind)
}

fn validate_content(content: &str, has_other: bool) -> Result<(), ApiError> {
    if content.is_empty() && !has_other {
        return Err(ApiError::new(400, 50006, "Cannot send an empty message"));
    }
    if content.chars().count() > 2000 {
        return Err(ApiError::form(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    Ok(())
}

fn attachments(st: &mut DiscordState, files: &[(String, usize)]) -> Vec<Value> {
    files
        .iter()
        .map(|(name, size)| {
            let id = st.snowflake();
            json!({
                "id": id.to_string(),
                "filename": name,
                "size": size,
                "url": format!("https://cdn.discordapp.com/attachments/0/{id}/{name}"),
                "proxy_url": format!("https://media.discordapp.net/attachments/0/{id}/{name}"),
            })
        })
        .collect()
}

fn new_message(id: u64, channel_id: u64, guild_id: Option<u64>, author_id: u64) -> StoredMessage {
    StoredMessage::blank(id, channel_id, guild_id, author_id)
}

fn fill_from_body(m: &mut StoredMessage, req: &Req<'_>) -> Result<(), ApiError> {
    m.content = req.body_str("content").unwrap_or("").to_owned();
    m.embeds = req.body_array("embeds");
    m.components = req.body_array("components");
    m.allowed_mentions = req
        .body
        .as_ref()
        .and_then(|b| b.get("allowed_mentions"))
        .cloned();
    // Only SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS and
    // IS_COMPONENTS_V2 may be set by senders.
    m.flags = req
        .body
        .as_ref()
        .and_then(|b| b.get("flags"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
        & (4 | 64 | 4096 | IS_COMPONENTS_V2);
    check_components_v2(m)
}

/// The message's text is in display components (text displays, sections,
/// containers); it may then have no `content` and no embeds.
pub(crate) const IS_COMPONENTS_V2: u64 = 1 << 15;

/// Discord's refusal of `content` or embeds on a message flagged
/// [`IS_COMPONENTS_V2`].
fn check_components_v2(m: &StoredMessage) -> Result<(), ApiError> {
    if m.flags & IS_COMPONENTS_V2 != 0 && (!m.content.is_empty() || !m.embeds.is_empty()) {
        return Err(ApiError::form(
            "content",
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
        ));
    }
    Ok(())
}

fn handle(
    st: &mut DiscordState,
    inner: &Inner,
    route: RouteKind,
    req: &Req<'_>,
) -> Result<Reply, ApiError> {
    use RouteKind as R;
    match route {
        R::Gateway => Ok(Reply::ok(json!({ "url": st.gateway_url }))),
        R::GatewayBot => session::gateway_bot(st),
        R::GetUser => session::get_user(st, req),
        R::CreateDm => session::create_dm(st, req),
        R::GetApplication => Ok(Reply::ok(payloads::application_info(&st.config))),
        R::GetChannel => channels::get_channel(st, req),
        R::ListMessages => messages::list_messages(st, req),
        R::GetMessage => messages::get_message(st, req),
        R::CreateMessage => messages::create_message(st, req),
        R::EditMessage => messages::edit_message(st, req),
        R::DeleteMessage => messages::delete_message(st, req),
        R::Typing => channels::typing(st, req),
        R::CreateWebhook => webhooks::create_webhook(st, req),
        R::ListWebhooks => webhooks::list_webhooks(st, req),
        R::GetWebhook => webhooks::get_webhook(st, req),
        R::DeleteWebhook => webhooks::delete_webhook(st, req),
        R::WebhookExecute => webhooks::webhook_execute(st, req),
        R::WebhookMessage => webhooks::webhook_message(st, req),
        R::InteractionCallback => interactions::interaction_callback(st, inner, req),
        R::GlobalCommands => commands::commands(st, req, None),
        R::GuildCommands => commands::guild_commands(st, req),
        R::GetGuild => guilds::get_guild(st, req),
        R::GuildChannels => guilds::guild_channels(st, req),
        R::GetMember => guilds::get_member(st, req),
        R::GuildRoles => guilds::guild_roles(st, req),
        R::AutoModRules | R::AutoModRule => guilds::automod_rules(st, req),
        R::LeaveGuild => guilds::leave(st, req),
        R::Unknown => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_prefix_and_version_are_stripped() {
        assert_eq!(
            api_segments("/api/v10/channels/1/messages"),
            Some(vec!["channels", "1", "messages"])
        );
        assert_eq!(api_segments("/api/gateway"), Some(vec!["gateway"]));
        assert_eq!(api_segments("/other"), None);
    }

    #[test]
    fn routes_are_classified() {
        let post = Method::POST;
        assert_eq!(
            classify(&post, &["webhooks", "1", "tok"]),
            RouteKind::WebhookExecute
        );
        assert_eq!(
            classify(&post, &["interactions", "1", "tok", "callback"]),
            RouteKind::InteractionCallback
        );
        assert_eq!(
            classify(
                &Method::PATCH,
                &["webhooks", "1", "tok", "messages", "@original"]
            ),
            RouteKind::WebhookMessage
        );
        assert_eq!(
            classify(
                &Method::PUT,
                &["applications", "1", "guilds", "2", "commands"]
            ),
            RouteKind::GuildCommands
        );
    }

    #[test]
    fn multipart_payload_json_and_files_are_extracted() {
        let body = "--XYZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XYZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n{\"content\":\"hi\"}\r\n--XYZ--\r\n";
        let (json, files) = parse_multipart(body.as_bytes(), "XYZ");
        assert_eq!(json, Some(json!({"content": "hi"})));
        assert_eq!(files, vec![("a.txt".to_owned(), 5)]);
    }

    #[test]
    fn bot_token_is_accepted_only_with_bot_prefix() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bot secret"));
        assert!(bot_authorized(&h, "secret"));
        assert!(bot_authorized(&h, "Bot secret"));
        h.insert("authorization", HeaderValue::from_static("secret"));
        assert!(!bot_authorized(&h, "secret"));
    }
}
