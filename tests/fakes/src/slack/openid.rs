//! Sign in with Slack (OpenID Connect), as `protocol/NATIVE.md` describes it:
//!
//! - `GET /openid/connect/authorize` (on the web origin, `response_type=code`,
//!   `scope` with `openid`, `client_id`, `state`, `nonce`, `redirect_uri`,
//!   optional `team`): the person the test signed in with
//!   [`super::FakeSlack::openid_sign_in_as`] approves at once and is sent to
//!   `redirect_uri?code=…&state=…`; nobody signed in sends
//!   `error=access_denied`.
//! - `POST /api/openid.connect.token` (`client_id`, `client_secret`, `code`,
//!   `redirect_uri`, `grant_type=authorization_code`): a code works once,
//!   within ten minutes, for the same redirect URI. Answers
//!   `{ok, access_token, token_type, id_token}`; the ID token's claims are
//!   `iss` `https://slack.com`, `aud` the client id, `sub`, `nonce`, the
//!   `https://slack.com/user_id` and `team_id` claims, `name`, `email`.
//!   (Its signature is not a real RS256 one: the fake serves no JWKS.)
//!   Errors: `invalid_client_id`, `bad_client_secret`, `invalid_code`,
//!   `bad_redirect_uri`, `invalid_grant_type`.
//! - `POST /api/openid.connect.userInfo` with `Authorization: Bearer`: the
//!   same claims with `ok: true`, or `invalid_auth`.

use super::Inner;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The fake app's client id.
pub const CLIENT_ID: &str = "1111111111.2222222222";
/// The fake app's client secret.
pub const CLIENT_SECRET: &str = "fake-slack-client-secret";

/// Codes and tokens handed out.
#[derive(Debug, Default)]
pub(crate) struct OpenIdState {
    pub(crate) signed_in: Option<String>,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct Grant {
    user: String,
    redirect_uri: String,
    nonce: Option<String>,
    at: Instant,
}

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/openid/connect/authorize", get(authorize))
        .route("/api/openid.connect.token", post(token))
        .route("/api/openid.connect.userInfo", post(user_info))
}

fn random() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

fn slack_error(e: &str) -> Response {
    axum::Json(json!({ "ok": false, "error": e })).into_response()
}

async fn authorize(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let uri = get("redirect_uri");
    if get("client_id") != CLIENT_ID || !(uri.starts_with("http://") || uri.starts_with("https://"))
    {
        return (StatusCode::BAD_REQUEST, "invalid client_id or redirect_uri").into_response();
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    let state = form_urlencoded::byte_serialize(get("state").as_bytes()).collect::<String>();
    let deny =
        |e: &str| Redirect::to(&format!("{uri}{sep}error={e}&state={state}")).into_response();
    if get("response_type") != "code" || !get("scope").split([' ', '+', ',']).any(|s| s == "openid")
    {
        return deny("invalid_scope");
    }
    if !get("team").is_empty() && get("team") != inner.cfg.team.id {
        return deny("access_denied");
    }
    let code = random();
    {
        let mut st = inner.openid.lock().unwrap_or_else(|e| e.into_inner());
        let Some(user) = st.signed_in.clone() else {
            return deny("access_denied");
        };
        st.codes.insert(
            code.clone(),
            Grant {
                user,
                redirect_uri: uri.to_owned(),
                nonce: q.get("nonce").cloned(),
                at: Instant::now(),
            },
        );
    }
    Redirect::to(&format!("{uri}{sep}code={code}&state={state}")).into_response()
}

fn claims(inner: &Inner, user: &str) -> Value {
    let u = inner.cfg.users.iter().find(|u| u.id == user);
    json!({
        "sub": user,
        "https://slack.com/user_id": user,
        "https://slack.com/team_id": inner.cfg.team.id,
        "https://slack.com/team_name": inner.cfg.team.name,
        "https://slack.com/team_domain": inner.cfg.team.domain,
        "email": u.map(|u| u.email.clone()).unwrap_or_default(),
        "email_verified": true,
        "name": u.map(|u| u.real_name.clone()).unwrap_or_default(),
        "locale": "en-US",
    })
}

async fn token(State(inner): State<Arc<Inner>>, body: String) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != CLIENT_ID {
        return slack_error("invalid_client_id");
    }
    if get("client_secret") != CLIENT_SECRET {
        return slack_error("bad_client_secret");
    }
    if !get("grant_type").is_empty() && get("grant_type") != "authorization_code" {
        return slack_error("invalid_grant_type");
    }
    let mut st = inner.openid.lock().unwrap_or_else(|e| e.into_inner());
    let Some(grant) = st.codes.remove(get("code")) else {
        return slack_error("invalid_code");
    };
    if grant.at.elapsed() > Duration::from_secs(600) {
        return slack_error("invalid_code");
    }
    if grant.redirect_uri != get("redirect_uri") {
        return slack_error("bad_redirect_uri");
    }
    let access = format!("xoxp-openid-{}", random());
    st.tokens.insert(access.clone(), grant.user.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut c = claims(&inner, &grant.user);
    c["iss"] = json!("https://slack.com");
    c["aud"] = json!(CLIENT_ID);
    c["iat"] = json!(now);
    c["exp"] = json!(now + 3600);
    c["auth_time"] = json!(now);
    if let Some(n) = grant.nonce {
        c["nonce"] = json!(n);
    }
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let jwt = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "RS256", "kid": "fake-key", "typ": "JWT"})),
        b64(&c),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random())
    );
    axum::Json(json!({
        "ok": true,
        "access_token": access,
        "token_type": "Bearer",
        "id_token": jwt,
    }))
    .into_response()
}

async fn user_info(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| form.get("token").cloned())
        .unwrap_or_default();
    let user = inner
        .openid
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .tokens
        .get(token.trim())
        .cloned();
    match user {
        Some(u) => {
            let mut c = claims(&inner, &u);
            c["ok"] = json!(true);
            axum::Json(c).into_response()
        }
        None => slack_error("invalid_auth"),
    }
}
