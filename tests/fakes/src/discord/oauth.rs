//! Discord's OAuth2 code grant with PKCE, as a web console signs people in
//! (`protocol/NATIVE.md`, "OAuth2 sign-in"):
//!
//! - `GET /oauth2/authorize` (`response_type=code`, `client_id`, `scope`,
//!   `state`, `redirect_uri`, `code_challenge`, `code_challenge_method=S256`):
//!   the person the test signed in with [`super::FakeDiscord::oauth_sign_in_as`]
//!   approves at once and is sent to `redirect_uri?code=…&state=…`; nobody
//!   signed in, or a refusal, sends `error=access_denied`.
//! - `POST /api/oauth2/token` (form: `grant_type=authorization_code`, `code`,
//!   `redirect_uri`, `code_verifier`; client credentials by basic auth or in
//!   the form): a code works once, within ten minutes, for the same
//!   `redirect_uri` and the verifier whose S256 challenge was given.
//!   Errors are OAuth's `{error, error_description}` with 400 / 401.
//! - `GET /api/users/@me` and `GET /api/users/@me/guilds/{guild}/member`
//!   with `Authorization: Bearer`: the user, and their member object (roles,
//!   no `permissions`), which needs the `guilds.members.read` scope; not a
//!   member answers 404 code 10004 like Discord.
//!
//! The client id is the application's (the bot's) id and the secret
//! [`CLIENT_SECRET`].

use super::payloads;
use super::rest::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The OAuth2 client secret of the fake application.
pub const CLIENT_SECRET: &str = "fake-discord-client-secret";

/// Codes and tokens handed out.
#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    /// Who the browser is signed in to Discord as.
    pub(crate) signed_in: Option<u64>,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, (u64, Vec<String>)>,
}

#[derive(Debug, Clone)]
struct Grant {
    user: u64,
    redirect_uri: String,
    challenge: Option<String>,
    scopes: Vec<String>,
    at: Instant,
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/authorize", get(authorize))
        .route("/api/oauth2/token", post(token))
        .route("/api/users/@me", get(me))
        .route("/api/users/@me/guilds/{guild}/member", get(member))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn random(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

async fn authorize(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let client_ok = get("client_id") == app.inner.config.bot.id.to_string();
    let uri = get("redirect_uri");
    if !client_ok || !(uri.starts_with("http://") || uri.starts_with("https://")) {
        // Discord shows an error page rather than redirecting anywhere.
        return (
            StatusCode::BAD_REQUEST,
            "Invalid OAuth2 redirect_uri or client_id",
        )
            .into_response();
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    let state = form_urlencoded::byte_serialize(get("state").as_bytes()).collect::<String>();
    let deny =
        |e: &str| Redirect::to(&format!("{uri}{sep}error={e}&state={state}")).into_response();
    if get("response_type") != "code" {
        return deny("unsupported_response_type");
    }
    let scopes: Vec<String> = get("scope")
        .split([' ', '+'])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "identify") {
        return deny("invalid_scope");
    }
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        ("", _) => None,
        (c, "S256") => Some(c.to_owned()),
        _ => return deny("invalid_request"),
    };
    let code = random(30);
    {
        let mut st = app.inner.oauth.lock().unwrap_or_else(|e| e.into_inner());
        let Some(user) = st.signed_in else {
            return deny("access_denied");
        };
        st.codes.insert(
            code.clone(),
            Grant {
                user,
                redirect_uri: uri.to_owned(),
                challenge,
                scopes,
                at: Instant::now(),
            },
        );
    }
    Redirect::to(&format!("{uri}{sep}code={code}&state={state}")).into_response()
}

async fn token(State(app): State<AppState>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let (id, secret) = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(pair) => {
            let (a, b) = pair.split_once(':').unwrap_or((&pair, ""));
            (a.to_owned(), b.to_owned())
        }
        None => (get("client_id").to_owned(), get("client_secret").to_owned()),
    };
    if id != app.inner.config.bot.id.to_string() || secret != CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Invalid client");
    }
    if get("grant_type") != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant type",
        );
    }
    let mut st = app.inner.oauth.lock().unwrap_or_else(|e| e.into_inner());
    let Some(grant) = st.codes.remove(get("code")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid \"code\" in request.",
        );
    };
    if grant.at.elapsed() > Duration::from_secs(600) || grant.redirect_uri != get("redirect_uri") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid \"redirect_uri\" in request.",
        );
    }
    if let Some(c) = &grant.challenge {
        let verifier = get("code_verifier");
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        if verifier.len() < 43 || computed != *c {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid \"code_verifier\"",
            );
        }
    }
    let access = random(30);
    st.tokens
        .insert(access.clone(), (grant.user, grant.scopes.clone()));
    axum::Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 604800,
        "refresh_token": random(30),
        "scope": grant.scopes.join(" "),
    }))
    .into_response()
}

fn bearer(app: &AppState, headers: &HeaderMap) -> Option<(u64, Vec<String>)> {
    let t = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    app.inner
        .oauth
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .tokens
        .get(t.trim())
        .cloned()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(payloads::error(0, "401: Unauthorized")),
    )
        .into_response()
}

async fn me(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some((user, _)) = bearer(&app, &headers) else {
        return unauthorized();
    };
    let st = app.inner.lock();
    match st.config().user(user) {
        Some(u) => axum::Json(payloads::user(u)).into_response(),
        None => unauthorized(),
    }
}

async fn member(
    State(app): State<AppState>,
    Path(guild): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((user, scopes)) = bearer(&app, &headers) else {
        return unauthorized();
    };
    if !scopes.iter().any(|s| s == "guilds.members.read") {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(payloads::error(50001, "Missing Access")),
        )
            .into_response();
    }
    let st = app.inner.lock();
    let found = guild
        .parse::<u64>()
        .ok()
        .and_then(|g| st.guild(g))
        .and_then(|g| g.member(user))
        .and_then(|m| st.config().user(user).map(|u| payloads::member(m, u)));
    match found {
        Some(mut v) => {
            // The user's own view carries no permissions.
            if let Some(o) = v.as_object_mut() {
                o.remove("permissions");
            }
            axum::Json(v).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(payloads::error(10004, "Unknown Guild")),
        )
            .into_response(),
    }
}
