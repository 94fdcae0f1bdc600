//! The admin console under `/admin/` on the public listener: the audit log,
//! the policy and its history, exceptions and run-time settings, for the
//! people who are admins in chat.
//!
//! It is another client of the functions chat and the CLI use: policy edits
//! go through [`crate::commands::Commands`] (validated, versioned with the
//! person's identity, audited, announced to every replica), reads through
//! the store's own functions; no SQL here.
//!
//! Signing in: Sign in with Slack (OpenID Connect), Discord's OAuth2 code
//! grant with PKCE, or the break-glass `admin.token`. A person is an admin
//! here exactly when the connector's own admin check says so
//! ([`crate::slack::ConsoleAdmins`], [`crate::discord::ConsoleAdmins`]).
//! Sessions live in the store (any replica accepts them) behind an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` when `admin.public_url`
//! is https), with an idle and an absolute expiry; every state-changing form
//! carries the session's CSRF token; every response carries a CSP without
//! inline script and `frame-ancestors 'none'`. Without a session, every
//! `/admin/…` page but the sign-in page and the OAuth callbacks redirects
//! to `/admin/login`. Every sign-in, failed one and sign-out is audited
//! (`console_login`); failures are rate-limited per source address.

mod config;
mod oauth;
mod pages;
mod view;

pub use config::{ConsoleConfig, OAuthClient};

use crate::commands::{Caller, Commands};
use crate::moderation::{Moderator, Platform};
use crate::store::{AuditAction, AuditEntry, ConsoleSession, Kind, Origin, Outcome, Store};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A session ends after this long without a request.
pub const IDLE_SECS: i64 = 30 * 60;
/// A session ends this long after sign-in, whatever happens.
pub const ABSOLUTE_SECS: i64 = 12 * 3600;
/// Failed sign-ins allowed per source address in [`FAILURE_WINDOW_SECS`].
pub const MAX_FAILURES: i64 = 5;
/// The window failed sign-ins are counted in.
pub const FAILURE_WINDOW_SECS: i64 = 15 * 60;
/// How often a platform sign-in's admin rights are asked again.
pub const RECHECK_SECS: i64 = 10 * 60;
/// The session cookie.
pub const COOKIE: &str = "lg_session";
/// Largest form accepted (a policy edit is the big one).
const MAX_FORM_BYTES: usize = 512 * 1024;

/// The connectors' admin checks, for signing people in.
#[derive(Default, Clone)]
pub struct Admins {
    /// Slack's (`Ctx::caller`), when Slack runs.
    pub slack: Option<crate::slack::ConsoleAdmins>,
    /// Discord's (`tenancy::is_admin`), when Discord runs.
    pub discord: Option<crate::discord::ConsoleAdmins>,
}

/// What every console handler needs.
pub(crate) struct Console {
    pub(crate) config: ConsoleConfig,
    pub(crate) moderator: Arc<Moderator>,
    pub(crate) commands: Commands,
    pub(crate) admins: Admins,
    pub(crate) http: reqwest::Client,
    /// Slack's Web API base (`slack.api_url`).
    pub(crate) slack_api: Option<String>,
    /// Discord's API origin (`discord.proxy_url`, else discord.com).
    pub(crate) discord_api: Option<String>,
    /// The last chain verification: when it ran, whether it passed, what
    /// it said, and the last seq it verified (it walks the log).
    pub(crate) chain: Mutex<Option<ChainCheck>>,
}

type Shared = Arc<Console>;

/// When the chain was walked, whether it verified, the summary, the last
/// seq verified.
pub(crate) type ChainCheck = (std::time::Instant, bool, String, i64);

impl Console {
    pub(crate) fn store(&self) -> &Store {
        self.moderator.store()
    }

    fn secure(&self) -> bool {
        self.config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// `Set-Cookie` for a new session token.
    fn session_cookie(&self, token: &str) -> String {
        format!(
            "{COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={ABSOLUTE_SECS}{}",
            if self.secure() { "; Secure" } else { "" }
        )
    }

    fn clear_cookie(&self) -> String {
        format!(
            "{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0{}",
            if self.secure() { "; Secure" } else { "" }
        )
    }
}

/// The console's routes, or `None` when no way to sign in is configured
/// (the console is then off and `/admin/` is not served at all).
pub fn router(
    config: &crate::config::Config,
    moderator: Arc<Moderator>,
    admins: Admins,
    discord_client: Option<reqwest::Client>,
) -> Option<Router> {
    let c = &config.console;
    if !c.enabled() {
        return None;
    }
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let console = Arc::new(Console {
        config: c.clone(),
        commands: Commands::new(moderator.clone()),
        moderator,
        admins,
        http: discord_client.clone().unwrap_or_else(|| http.clone()),
        slack_api: config.slack.as_ref().map(|s| s.api_url.clone()),
        discord_api: config.discord.as_ref().map(|d| {
            d.proxy_url
                .clone()
                .unwrap_or_else(|| "https://discord.com".into())
                .trim_end_matches('/')
                .to_owned()
        }),
        chain: Mutex::new(None),
    });
    let r = Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/") }))
        .route("/admin/", get(pages::overview))
        .route("/admin/login", get(login_page).post(login_token))
        .route("/admin/logout", post(logout))
        .route("/admin/login/slack", get(oauth::slack_begin))
        .route("/admin/oauth/slack/callback", get(oauth::slack_callback))
        .route("/admin/login/discord", get(oauth::discord_begin))
        .route(
            "/admin/oauth/discord/callback",
            get(oauth::discord_callback),
        )
        .route("/admin/audit", get(pages::audit))
        .route("/admin/audit/export.csv", get(pages::export_csv))
        .route("/admin/audit/export.jsonl", get(pages::export_jsonl))
        .route("/admin/audit/{seq}", get(pages::record))
        .route("/admin/policy", get(pages::policy))
        .route("/admin/policy/preview", post(pages::policy_preview))
        .route("/admin/policy/save", post(pages::policy_save))
        .route("/admin/policy/rollback", post(pages::policy_rollback))
        .route("/admin/policy/test", post(pages::policy_test))
        .route("/admin/exceptions", get(pages::exceptions))
        .route("/admin/exceptions/add", post(pages::exception_add))
        .route("/admin/exceptions/revoke", post(pages::exception_revoke))
        .route(
            "/admin/settings",
            get(pages::settings).post(pages::settings_save),
        )
        // Outside /admin/: only the sign-in page and the OAuth callbacks
        // answer there without a session.
        .route("/assets/linkguard-console.css", get(view::stylesheet))
        .route("/admin/{*rest}", get(not_found).post(not_found))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console);
    Some(r)
}

/// Headers on every console response: no inline script, no framing, no
/// referrer (an OAuth code in a URL must not leak), no caching.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}

/// The signed-in admin of a request. Without a valid session the request
/// is answered with a redirect to the sign-in page.
pub(crate) struct Admin {
    pub(crate) session: ConsoleSession,
    token: String,
}

impl Admin {
    /// The person as the commands module knows callers.
    pub(crate) fn caller(&self) -> Caller {
        let s = &self.session;
        Caller {
            platform: s.platform.platform(),
            workspace: s.workspace.clone(),
            channel: String::new(),
            user_id: s.user_id.clone(),
            user_name: format!("{} via the web console", s.user_name),
            roles: Vec::new(),
            is_admin: true,
        }
    }

    /// Which exceptions this admin may see and revoke (like chat: their own
    /// platform and workspace; everything for the break-glass token).
    pub(crate) fn scope(&self) -> Option<(Platform, &str)> {
        let s = &self.session;
        s.platform.platform().map(|p| (p, s.workspace.as_str()))
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

impl FromRequestParts<Shared> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Shared,
    ) -> Result<Admin, Response> {
        let to_login = || Redirect::to("/admin/login").into_response();
        let Some(token) = cookie_value(&parts.headers, COOKIE) else {
            return Err(to_login());
        };
        match state
            .store()
            .console_session(&token, IDLE_SECS * 1000)
            .await
        {
            Ok(Some(session)) => {
                if !still_admin(state, &session, &token).await {
                    return Err(Redirect::to("/admin/login?error=revoked").into_response());
                }
                Ok(Admin { session, token })
            }
            Ok(None) => Err(to_login()),
            Err(e) => {
                tracing::error!(error = %e, "cannot read a console session");
                Err(view::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database does not answer; try again shortly.",
                ))
            }
        }
    }
}

/// Whether a session signed in through a platform still belongs to an
/// admin there: asked again every [`RECHECK_SECS`]; when the platform says
/// no, the session ends (and that is audited). A platform that does not
/// answer leaves the session as it was until the next request.
async fn still_admin(c: &Console, s: &ConsoleSession, token: &str) -> bool {
    if crate::store::now_ms() - s.checked_ms < RECHECK_SECS * 1000 {
        return true;
    }
    let verdict = match s.via.as_str() {
        "slack" => match &c.admins.slack {
            Some(a) => a.still_admin(&s.workspace, &s.user_id).await,
            None => Ok(false),
        },
        "discord" => match (&c.admins.discord, s.workspace.parse::<u64>()) {
            (Some(a), Ok(g)) => a.still_admin(g, &s.user_id).await,
            _ => Ok(false),
        },
        _ => Ok(true),
    };
    match verdict {
        Ok(true) => {
            if let Err(e) = c.store().console_session_checked(token).await {
                tracing::warn!(error = %e, "cannot note a console session's check");
            }
            true
        }
        Ok(false) => {
            let _ = c.store().console_session_delete(token).await;
            audit_login(
                c.store(),
                s.platform,
                &s.workspace,
                &format!("{} ({})", s.user_name, s.user_id),
                AuditAction::Logout,
                true,
                "console session ended: no longer a linkguard admin on the platform".into(),
            )
            .await;
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot re-check a console admin's rights; keeping the session for now");
            true
        }
    }
}

/// A state-changing form from a signed-in admin, its CSRF token checked.
pub(crate) struct AdminForm {
    pub(crate) admin: Admin,
    pub(crate) fields: Vec<(String, String)>,
}

impl AdminForm {
    /// The first value of `name` (empty when absent).
    pub(crate) fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

impl FromRequest<Shared> for AdminForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Shared) -> Result<AdminForm, Response> {
        let (mut parts, body) = req.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                view::error_page(StatusCode::PAYLOAD_TOO_LARGE, "That form is too large.")
            })?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            view::error_page(StatusCode::BAD_REQUEST, "That form could not be read.")
        })?;
        let sent = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !ct_eq(sent.as_bytes(), admin.session.csrf.as_bytes()) {
            return Err(view::error_page(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from the console (its CSRF token is missing or wrong). Reload the page and try again.",
            ));
        }
        Ok(AdminForm { admin, fields })
    }
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Hash first so that lengths leak nothing either.
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// A random token: 32 bytes, URL-safe base64.
pub(crate) fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Where a request came from (the peer's address), for audit records and
/// the rate limit.
pub(crate) struct Peer(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Peer, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".into(), |c| c.0.ip().to_string()),
        ))
    }
}

/// Why a sign-in page is shown again (fixed texts: nothing from the
/// request is echoed).
fn login_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "token" => "That token is not right. The attempt was recorded.",
        "throttled" => "Too many failed sign-ins from here. Wait 15 minutes and try again.",
        "not_admin" => "You are signed in to the platform but are not a linkguard admin of the company's workspace or server. The attempt was recorded.",
        "denied" => "The platform did not confirm the sign-in (cancelled, expired, or refused).",
        "state" => "That sign-in link has expired or was already used. Start again.",
        "platform" => "The platform could not be reached to confirm the sign-in. Try again.",
        "off" => "That way of signing in is not configured.",
        "ended" => "You are signed out.",
        "revoked" => "Your session ended: the platform no longer lists you as a linkguard admin.",
        _ => return None,
    })
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    #[serde(default)]
    error: String,
}

async fn login_page(
    State(c): State<Shared>,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Response {
    view::login(&c.config, &c.admins, login_message(&q.error)).into_response()
}

/// Records a sign-in, a failed one, or a sign-out.
pub(crate) async fn audit_login(
    store: &Store,
    platform: Origin,
    workspace: &str,
    who: &str,
    action: AuditAction,
    ok: bool,
    detail: String,
) {
    let mut e = AuditEntry::new(Kind::Other("console_login".into()), platform);
    e.workspace = Some(workspace.to_owned()).filter(|w| !w.is_empty());
    e.author = Some(who.chars().take(200).collect());
    e.action = Some(action);
    e.outcome = Some(if ok { Outcome::Ok } else { Outcome::Failed });
    e.detail = Some(detail);
    if let Err(err) = store.append(e).await {
        tracing::error!(error = %err, "cannot audit a console sign-in");
    }
}

/// Counts a failed sign-in from `from` and audits it (once the source is
/// over the limit, at most once per window, so a flood cannot fill the log).
pub(crate) async fn failed_login(c: &Console, platform: Origin, who: &str, from: &str, why: &str) {
    let n = match c
        .store()
        .console_failure(from, FAILURE_WINDOW_SECS * 1000)
        .await
    {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "cannot count a failed console sign-in");
            MAX_FAILURES
        }
    };
    tracing::warn!(from = %from, how = %platform, "failed console sign-in");
    if n <= MAX_FAILURES {
        audit_login(
            c.store(),
            platform,
            "",
            who,
            AuditAction::Login,
            false,
            format!("{why} (from {from})"),
        )
        .await;
    } else {
        let mut e = AuditEntry::new(Kind::Other("console_login".into()), platform);
        e.author = Some(who.chars().take(200).collect());
        e.action = Some(AuditAction::Login);
        e.outcome = Some(Outcome::Failed);
        e.detail = Some(format!(
            "more than {MAX_FAILURES} failed sign-ins from {from} within {} minutes: further attempts refused",
            FAILURE_WINDOW_SECS / 60
        ));
        let key = format!("console-throttle:{from}");
        let window = std::time::Duration::from_secs(FAILURE_WINDOW_SECS as u64);
        if let Err(err) = c.store().append_throttled(&key, window, e).await {
            tracing::error!(error = %err, "cannot audit throttled console sign-ins");
        }
    }
}

/// Whether `from` has used up its failed sign-ins.
pub(crate) async fn throttled(c: &Console, from: &str) -> bool {
    c.store()
        .console_failures(from, FAILURE_WINDOW_SECS * 1000)
        .await
        .map_or(true, |n| n >= MAX_FAILURES)
}

/// Starts a session and answers with a page that moves on to the overview.
/// A page rather than a redirect: after an OAuth redirect from the platform
/// the browser would not send a `SameSite=Strict` cookie on a redirect that
/// the platform's navigation began.
pub(crate) async fn start_session(
    c: &Console,
    session: ConsoleSession,
    from: &str,
    how: &str,
) -> Response {
    let token = random_token();
    if let Err(e) = c.store().console_session_create(&token, &session).await {
        tracing::error!(error = %e, "cannot store a console session");
        return view::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database does not answer; try again shortly.",
        );
    }
    audit_login(
        c.store(),
        session.platform,
        &session.workspace,
        &format!("{} ({})", session.user_name, session.user_id),
        AuditAction::Login,
        true,
        format!("signed in to the web console {how} (from {from})"),
    )
    .await;
    let mut res = view::signed_in().into_response();
    if let Ok(v) = HeaderValue::from_str(&c.session_cookie(&token)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// A new session's fixed fields.
pub(crate) fn new_session(
    platform: Origin,
    workspace: &str,
    user_id: &str,
    user_name: &str,
    via: &str,
) -> ConsoleSession {
    let now = crate::store::now_ms();
    ConsoleSession {
        csrf: random_token(),
        platform,
        workspace: workspace.into(),
        user_id: user_id.into(),
        user_name: user_name.chars().take(100).collect(),
        via: via.into(),
        created_ms: now,
        expires_ms: now + ABSOLUTE_SECS * 1000,
        checked_ms: now,
    }
}

/// POST /admin/login with the break-glass token in the field `token`.
async fn login_token(
    State(c): State<Shared>,
    Peer(from): Peer,
    axum::extract::Form(form): axum::extract::Form<Vec<(String, String)>>,
) -> Response {
    let Some(expected) = &c.config.token else {
        return Redirect::to("/admin/login?error=off").into_response();
    };
    if throttled(&c, &from).await {
        failed_login(
            &c,
            Origin::Console,
            "break-glass token",
            &from,
            "sign-in refused: too many failures",
        )
        .await;
        let mut res = Redirect::to("/admin/login?error=throttled").into_response();
        *res.status_mut() = StatusCode::SEE_OTHER;
        return res;
    }
    let given = form
        .iter()
        .find(|(k, _)| k == "token")
        .map_or("", |(_, v)| v.as_str());
    if given.is_empty() || !ct_eq(given.as_bytes(), expected.expose().as_bytes()) {
        failed_login(
            &c,
            Origin::Console,
            "break-glass token",
            &from,
            "wrong break-glass token",
        )
        .await;
        return Redirect::to("/admin/login?error=token").into_response();
    }
    let session = new_session(
        Origin::Console,
        "",
        "break-glass",
        "break-glass admin",
        "token",
    );
    start_session(&c, session, &from, "with the break-glass token").await
}

async fn logout(State(c): State<Shared>, form: AdminForm) -> Response {
    let a = &form.admin;
    let _ = c.store().console_session_delete(&a.token).await;
    audit_login(
        c.store(),
        a.session.platform,
        &a.session.workspace,
        &format!("{} ({})", a.session.user_name, a.session.user_id),
        AuditAction::Logout,
        true,
        "signed out of the web console".into(),
    )
    .await;
    let mut res = Redirect::to("/admin/login?error=ended").into_response();
    if let Ok(v) = HeaderValue::from_str(&c.clear_cookie()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

async fn not_found(_admin: Admin) -> Response {
    view::error_page(StatusCode::NOT_FOUND, "There is no such console page.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_in_full_and_cookies_are_read_exactly() {
        assert!(ct_eq(b"same", b"same"));
        assert!(!ct_eq(b"same", b"samE"));
        assert!(!ct_eq(b"same", b"same-but-longer"));
        assert!(!ct_eq(b"", b"x"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; lg_session=tok; b=2"),
        );
        assert_eq!(cookie_value(&h, COOKIE).as_deref(), Some("tok"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("xlg_session=evil; lg_session="),
        );
        assert_eq!(cookie_value(&h, COOKIE), None);
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 43);
    }

    #[test]
    fn sign_in_messages_are_fixed_texts() {
        assert!(login_message("token").is_some());
        assert!(login_message("<script>alert(1)</script>").is_none());
    }
}
