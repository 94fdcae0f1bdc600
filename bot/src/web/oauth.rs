//! Signing in with Slack (OpenID Connect) and Discord (OAuth2 code grant
//! with PKCE).
//!
//! Each sign-in begins here with a random `state` stored beside its nonce
//! (Slack) or PKCE verifier (Discord) for ten minutes; the callback takes it
//! once, exchanges the code over the back channel, asks who the person is,
//! and lets the connector's own admin check decide. The ID token Slack
//! returns comes straight from its token endpoint over TLS, so its claims
//! (audience, nonce) are checked without its signature (OpenID Connect Core
//! 3.1.3.7). Nothing the platform sends is shown back to the person.

use super::{failed_login, new_session, start_session, throttled, Console, Peer, Shared};
use crate::moderation::Platform;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long a sign-in may take between the redirect and the callback.
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

fn back(error: &str) -> Response {
    Redirect::to(&format!("/admin/login?error={error}")).into_response()
}

/// The callback's query.
#[derive(serde::Deserialize)]
pub(crate) struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// What every callback checks first: the address is not over its failed
/// sign-ins, the platform sent a code, and `state` is a sign-in begun here
/// for `provider` (taken once). Gives the nonce or verifier stored with it.
async fn callback_secret(
    c: &Console,
    from: &str,
    q: &Callback,
    provider: Platform,
) -> Result<String, Response> {
    if throttled(c, from).await {
        return Err(back("throttled"));
    }
    if !q.error.is_empty() || q.code.is_empty() {
        return Err(back("denied"));
    }
    match c.store().console_login_take(&q.state).await {
        Ok(Some(a)) if a.provider == provider => Ok(a.secret),
        _ => Err(back("state")),
    }
}

/// Slack's web origin: the API base without its `/api`.
fn slack_web(api: &str) -> String {
    api.trim_end_matches('/')
        .strip_suffix("/api")
        .unwrap_or(api)
        .to_owned()
}

async fn begin(c: &Console, provider: Platform, secret: &str) -> Result<String, Response> {
    let state = super::random_token();
    let attempt = crate::store::LoginAttempt {
        provider,
        secret: secret.into(),
    };
    if let Err(e) = c
        .store()
        .console_login_begin(&state, &attempt, LOGIN_TTL_MS)
        .await
    {
        tracing::error!(error = %e, "cannot store a console sign-in");
        return Err(back("platform"));
    }
    Ok(state)
}

pub(crate) async fn slack_begin(State(c): State<Shared>) -> Response {
    let (Some(client), Some(admins), Some(api)) = (&c.config.slack, &c.admins.slack, &c.slack_api)
    else {
        return back("off");
    };
    let nonce = super::random_token();
    let state = match begin(&c, Platform::Slack, &nonce).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut params = vec![
        ("response_type", "code".to_owned()),
        ("scope", "openid profile email".to_owned()),
        ("client_id", client.id.clone()),
        ("state", state),
        ("nonce", nonce),
        ("redirect_uri", c.config.redirect_uri("slack")),
    ];
    // One workspace: take the person straight to it (Enterprise Grid: let
    // them pick, the admin check refuses any other).
    if let [team] = admins.teams() {
        params.push(("team", team.clone()));
    }
    let q = serde_urlencoded::to_string(&params).unwrap_or_default();
    Redirect::to(&format!("{}/openid/connect/authorize?{q}", slack_web(api))).into_response()
}

/// The claims of a JWT, read without checking its signature.
fn jwt_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub(crate) async fn slack_callback(
    State(c): State<Shared>,
    Peer(from): Peer,
    Query(q): Query<Callback>,
) -> Response {
    let (Some(client), Some(admins), Some(api)) = (&c.config.slack, &c.admins.slack, &c.slack_api)
    else {
        return back("off");
    };
    let nonce = match callback_secret(&c, &from, &q, Platform::Slack).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let token: Value = match c
        .http
        .post(format!("{api}/openid.connect.token"))
        .form(&[
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.expose()),
            ("code", q.code.as_str()),
            ("redirect_uri", c.config.redirect_uri("slack").as_str()),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => {
            tracing::warn!(error = %e, "openid.connect.token failed");
            return back("platform");
        }
    };
    if token["ok"] != Value::Bool(true) {
        let why = token["error"].as_str().unwrap_or("no answer").to_owned();
        failed_login(
            &c,
            Platform::Slack.into(),
            "(unknown)",
            &from,
            &format!("Sign in with Slack refused: openid.connect.token said {why}"),
        )
        .await;
        return back("denied");
    }
    let claims = token["id_token"]
        .as_str()
        .and_then(jwt_claims)
        .unwrap_or(Value::Null);
    let aud_ok = match &claims["aud"] {
        Value::String(a) => *a == client.id,
        Value::Array(a) => a.iter().any(|x| x.as_str() == Some(&client.id)),
        _ => false,
    };
    if !aud_ok || claims["nonce"].as_str() != Some(nonce.as_str()) {
        failed_login(
            &c,
            Platform::Slack.into(),
            "(unknown)",
            &from,
            "Sign in with Slack refused: the ID token's audience or nonce did not match",
        )
        .await;
        return back("denied");
    }
    let access = token["access_token"].as_str().unwrap_or("");
    let info: Value = match c
        .http
        .post(format!("{api}/openid.connect.userInfo"))
        .bearer_auth(access)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => {
            tracing::warn!(error = %e, "openid.connect.userInfo failed");
            return back("platform");
        }
    };
    let user = info["https://slack.com/user_id"]
        .as_str()
        .or(info["sub"].as_str())
        .unwrap_or("");
    let team = info["https://slack.com/team_id"].as_str().unwrap_or("");
    if info["ok"] != Value::Bool(true) || user.is_empty() || team.is_empty() {
        return back("platform");
    }
    let caller = admins.caller(team, user).await;
    let name = info["name"]
        .as_str()
        .unwrap_or(&caller.user_name)
        .to_owned();
    if !caller.is_admin {
        failed_login(
            &c,
            Platform::Slack.into(),
            &format!("{name} ({user})"),
            &from,
            &format!("Sign in with Slack refused: {user} of team {team} is not a linkguard admin"),
        )
        .await;
        return back("not_admin");
    }
    let session = new_session(Platform::Slack.into(), team, user, &name, "slack");
    start_session(&c, session, &from, "with Slack").await
}

/// The PKCE challenge of `verifier` (S256).
fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub(crate) async fn discord_begin(State(c): State<Shared>) -> Response {
    let (Some(client), Some(_)) = (&c.config.discord, &c.admins.discord) else {
        return back("off");
    };
    let verifier = super::random_token();
    let state = match begin(&c, Platform::Discord, &verifier).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let params = [
        ("response_type", "code".to_owned()),
        ("client_id", client.id.clone()),
        ("scope", "identify guilds.members.read".to_owned()),
        ("state", state),
        ("redirect_uri", c.config.redirect_uri("discord")),
        ("code_challenge", challenge(&verifier)),
        ("code_challenge_method", "S256".to_owned()),
        ("prompt", "consent".to_owned()),
    ];
    let q = serde_urlencoded::to_string(params).unwrap_or_default();
    Redirect::to(&format!(
        "{}/oauth2/authorize?{q}",
        c.config.discord_web_url.trim_end_matches('/')
    ))
    .into_response()
}

pub(crate) async fn discord_callback(
    State(c): State<Shared>,
    Peer(from): Peer,
    Query(q): Query<Callback>,
) -> Response {
    let (Some(client), Some(admins), Some(api)) =
        (&c.config.discord, &c.admins.discord, &c.discord_api)
    else {
        return back("off");
    };
    let verifier = match callback_secret(&c, &from, &q, Platform::Discord).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let resp = c
        .http
        .post(format!("{api}/api/oauth2/token"))
        .basic_auth(&client.id, Some(client.secret.expose()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q.code.as_str()),
            ("redirect_uri", c.config.redirect_uri("discord").as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await;
    let token: Value = match resp {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
        Ok(r) => {
            let status = r.status();
            failed_login(
                &c,
                Platform::Discord.into(),
                "(unknown)",
                &from,
                &format!("Discord sign-in refused: the token endpoint answered {status}"),
            )
            .await;
            return back("denied");
        }
        Err(e) => {
            tracing::warn!(error = %e, "Discord oauth2/token failed");
            return back("platform");
        }
    };
    let Some(access) = token["access_token"].as_str() else {
        return back("platform");
    };
    let me: Value = match c
        .http
        .get(format!("{api}/api/users/@me"))
        .bearer_auth(access)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
        _ => return back("platform"),
    };
    let Some(user) = me["id"].as_str().map(str::to_owned) else {
        return back("platform");
    };
    let name = me["global_name"]
        .as_str()
        .or(me["username"].as_str())
        .unwrap_or(&user)
        .to_owned();
    for guild in admins.guild_ids() {
        let member = c
            .http
            .get(format!("{api}/api/users/@me/guilds/{guild}/member"))
            .bearer_auth(access)
            .send()
            .await;
        let member: Value = match member {
            Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "reading the Discord member failed");
                return back("platform");
            }
        };
        let roles: Vec<String> = member["roles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        match admins.caller(*guild, &user, &name, &roles).await {
            Ok(caller) if caller.is_admin => {
                let session = new_session(
                    Platform::Discord.into(),
                    &guild.to_string(),
                    &user,
                    &name,
                    "discord",
                );
                return start_session(&c, session, &from, "with Discord").await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot decide a Discord admin");
                return back("platform");
            }
        }
    }
    failed_login(
        &c,
        Platform::Discord.into(),
        &format!("{name} ({user})"),
        &from,
        &format!("Discord sign-in refused: {user} is not a linkguard admin of an allowed server"),
    )
    .await;
    back("not_admin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc_7636_s256() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn slack_web_origin_and_id_token_claims() {
        assert_eq!(slack_web("https://slack.com/api"), "https://slack.com");
        assert_eq!(
            slack_web("https://slack-gov.com/api/"),
            "https://slack-gov.com"
        );
        assert_eq!(
            slack_web("http://127.0.0.1:9/proxy"),
            "http://127.0.0.1:9/proxy"
        );
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!("{}.{}.sig", b64("{}"), b64(r#"{"aud":"1.2","nonce":"n"}"#));
        let c = jwt_claims(&jwt).unwrap();
        assert_eq!(c["aud"], "1.2");
        assert_eq!(c["nonce"], "n");
        assert!(jwt_claims("not-a-jwt").is_none());
        assert!(jwt_claims("a.!!!.c").is_none());
    }
}
