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

use super::OAuthClient;
use super::{failed_login, new_session, start_session, Console, Peer, Shared};
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

/// What every callback checks first: the platform sent a code, and `state`
/// is a sign-in begun here for `provider` (taken once). Gives the nonce or
/// verifier stored with it.
///
/// A callback is not refused for its address's failed sign-ins: it holds
/// nothing to guess (the code is the platform's, checked by the platform,
/// the state single-use), and behind a proxy every browser has the proxy's
/// address, so anyone could lock every admin out by failing five callbacks
/// (a state is one GET away). Its refusals are still counted, which bounds
/// how many of them are audited, and lock the break-glass token there.
async fn callback_secret(
    c: &Console,
    q: &Callback,
    provider: Platform,
) -> Result<String, Response> {
    if !q.error.is_empty() || q.code.is_empty() {
        return Err(back("denied"));
    }
    match c.store().console_login_take(&q.state).await {
        Ok(Some(a)) if a.provider == provider => Ok(a.secret),
        _ => Err(back("state")),
    }
}

/// One callback being answered: what its refusals and its session need.
struct SignIn<'a> {
    c: &'a Console,
    /// The peer's address.
    from: &'a str,
    /// The platform signed in with.
    platform: Platform,
    /// How the audit record of the sign-in says it was made.
    how: &'static str,
}

impl<'a> SignIn<'a> {
    /// The first step of every callback: [`callback_secret`] for
    /// `platform`. Gives the sign-in and the nonce or verifier stored when
    /// it began.
    async fn resume(
        c: &'a Console,
        from: &'a str,
        q: &Callback,
        platform: Platform,
        how: &'static str,
    ) -> Result<(SignIn<'a>, String), Response> {
        let secret = callback_secret(c, q, platform).await?;
        let at = SignIn {
            c,
            from,
            platform,
            how,
        };
        Ok((at, secret))
    }

    /// Refuses the sign-in: counted against the address and audited with
    /// `who` and `why` (never a token), the person sent back with `code`.
    async fn refuse(&self, code: &str, who: &str, why: &str) -> Response {
        failed_login(self.c, self.platform.into(), who, self.from, why).await;
        back(code)
    }

    /// Signs `user` (`name`) in, scoped to `workspace`: the workspace or
    /// server where the platform's admin check said yes. The session is
    /// stored and the sign-in audited.
    async fn admit(&self, workspace: &str, user: &str, name: &str) -> Response {
        let session = new_session(
            self.platform.into(),
            workspace,
            user,
            name,
            self.platform.as_str(),
        );
        start_session(self.c, session, self.from, self.how).await
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

/// `/admin/oauth/slack/callback`: Sign in with Slack comes back.
pub(crate) async fn slack_callback(
    State(c): State<Shared>,
    Peer(from): Peer,
    Query(q): Query<Callback>,
) -> Response {
    match slack_sign_in(&c, &from, &q).await {
        Ok(r) | Err(r) => r,
    }
}

/// Sign in with Slack, step by step: the `state` and its nonce, the code
/// exchanged for tokens, the ID token's audience and nonce, who the person
/// is, Slack's own admin check (inside the company's workspaces only), the
/// session. `Err` is the answer of the step that stopped it.
async fn slack_sign_in(c: &Console, from: &str, q: &Callback) -> Result<Response, Response> {
    let (Some(client), Some(admins), Some(api)) = (&c.config.slack, &c.admins.slack, &c.slack_api)
    else {
        return Err(back("off"));
    };
    let (at, nonce) = SignIn::resume(c, from, q, Platform::Slack, "with Slack").await?;
    let token = slack_token(&at, client, api, &q.code).await?;
    if !id_token_matches(&token, &client.id, &nonce) {
        return Err(at
            .refuse(
                "denied",
                "(unknown)",
                "Sign in with Slack refused: the ID token's audience or nonce did not match",
            )
            .await);
    }
    let access = token["access_token"].as_str().unwrap_or("");
    let who = slack_identity(c, api, access).await?;
    let (team, user) = (who.team.as_str(), who.user.as_str());
    let caller = admins.caller(team, user).await;
    let name = who.name.unwrap_or(caller.user_name);
    if !caller.is_admin {
        return Err(at
            .refuse(
                "not_admin",
                &format!("{name} ({user})"),
                &format!(
                    "Sign in with Slack refused: {user} of team {team} is not a linkguard admin"
                ),
            )
            .await);
    }
    Ok(at.admit(team, user, &name).await)
}

/// Exchanges Slack's `code` for tokens (`openid.connect.token`, with the
/// client secret over the back channel). Slack's refusal is a failed
/// sign-in.
async fn slack_token(
    at: &SignIn<'_>,
    client: &OAuthClient,
    api: &str,
    code: &str,
) -> Result<Value, Response> {
    let token: Value = match at
        .c
        .http
        .post(format!("{api}/openid.connect.token"))
        .form(&[
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.expose()),
            ("code", code),
            ("redirect_uri", at.c.config.redirect_uri("slack").as_str()),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => {
            tracing::warn!(error = %e, "openid.connect.token failed");
            return Err(back("platform"));
        }
    };
    if token["ok"] != Value::Bool(true) {
        let why = token["error"].as_str().unwrap_or("no answer").to_owned();
        return Err(at
            .refuse(
                "denied",
                "(unknown)",
                &format!("Sign in with Slack refused: openid.connect.token said {why}"),
            )
            .await);
    }
    Ok(token)
}

/// Whether the ID token in Slack's token answer was issued to this client
/// (`aud`) for this sign-in (`nonce`).
fn id_token_matches(token: &Value, client_id: &str, nonce: &str) -> bool {
    let claims = token["id_token"]
        .as_str()
        .and_then(jwt_claims)
        .unwrap_or(Value::Null);
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == client_id,
        Value::Array(a) => a.iter().any(|x| x.as_str() == Some(client_id)),
        _ => false,
    };
    aud_ok && claims["nonce"].as_str() == Some(nonce)
}

/// Who signed in with Slack.
struct SlackIdentity {
    /// The workspace (team) id.
    team: String,
    /// The user id.
    user: String,
    /// Their name, when Slack gave one.
    name: Option<String>,
}

/// Asks Slack who holds `access` (`openid.connect.userInfo`).
async fn slack_identity(c: &Console, api: &str, access: &str) -> Result<SlackIdentity, Response> {
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
            return Err(back("platform"));
        }
    };
    slack_identity_in(&info).ok_or_else(|| back("platform"))
}

/// The identity in a `userInfo` answer: `None` unless it is `ok` and names
/// both the user and the team.
fn slack_identity_in(info: &Value) -> Option<SlackIdentity> {
    let user = info["https://slack.com/user_id"]
        .as_str()
        .or(info["sub"].as_str())
        .unwrap_or("");
    let team = info["https://slack.com/team_id"].as_str().unwrap_or("");
    if info["ok"] != Value::Bool(true) || user.is_empty() || team.is_empty() {
        return None;
    }
    Some(SlackIdentity {
        team: team.to_owned(),
        user: user.to_owned(),
        name: info["name"].as_str().map(str::to_owned),
    })
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

/// `/admin/oauth/discord/callback`: Discord's OAuth2 comes back.
pub(crate) async fn discord_callback(
    State(c): State<Shared>,
    Peer(from): Peer,
    Query(q): Query<Callback>,
) -> Response {
    match discord_sign_in(&c, &from, &q).await {
        Ok(r) | Err(r) => r,
    }
}

/// Sign in with Discord, step by step: the `state` and its PKCE verifier,
/// the code exchanged for a token, who the person is, Discord's own admin
/// check in each of the company's servers, the session (scoped to the
/// first server where they are an admin). `Err` is the answer of the step
/// that stopped it.
async fn discord_sign_in(c: &Console, from: &str, q: &Callback) -> Result<Response, Response> {
    let (Some(client), Some(admins), Some(api)) =
        (&c.config.discord, &c.admins.discord, &c.discord_api)
    else {
        return Err(back("off"));
    };
    let (at, verifier) = SignIn::resume(c, from, q, Platform::Discord, "with Discord").await?;
    let access = discord_token(&at, client, api, &q.code, &verifier).await?;
    let (user, name) = discord_identity(c, api, &access).await?;
    let bearer = Bearer {
        c,
        api,
        access: &access,
    };
    match admin_guild(&bearer, admins, &user, &name).await? {
        Some(guild) => Ok(at.admit(&guild.to_string(), &user, &name).await),
        None => Err(at
            .refuse(
                "not_admin",
                &format!("{name} ({user})"),
                &format!(
                    "Discord sign-in refused: {user} is not a linkguard admin of an allowed server"
                ),
            )
            .await),
    }
}

/// Exchanges Discord's `code` and the PKCE `verifier` for an access token
/// (`oauth2/token`, the client authenticated over the back channel).
/// Discord's refusal is a failed sign-in.
async fn discord_token(
    at: &SignIn<'_>,
    client: &OAuthClient,
    api: &str,
    code: &str,
    verifier: &str,
) -> Result<String, Response> {
    let resp =
        at.c.http
            .post(format!("{api}/api/oauth2/token"))
            .basic_auth(&client.id, Some(client.secret.expose()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", at.c.config.redirect_uri("discord").as_str()),
                ("code_verifier", verifier),
            ])
            .send()
            .await;
    let token: Value = match resp {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
        Ok(r) => {
            let status = r.status();
            return Err(at
                .refuse(
                    "denied",
                    "(unknown)",
                    &format!("Discord sign-in refused: the token endpoint answered {status}"),
                )
                .await);
        }
        Err(e) => {
            tracing::warn!(error = %e, "Discord oauth2/token failed");
            return Err(back("platform"));
        }
    };
    token["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| back("platform"))
}

/// Asks Discord who holds `access` (`users/@me`): their id and the name
/// to show.
async fn discord_identity(
    c: &Console,
    api: &str,
    access: &str,
) -> Result<(String, String), Response> {
    let me: Value = match c
        .http
        .get(format!("{api}/api/users/@me"))
        .bearer_auth(access)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
        _ => return Err(back("platform")),
    };
    let Some(user) = me["id"].as_str().map(str::to_owned) else {
        return Err(back("platform"));
    };
    let name = me["global_name"]
        .as_str()
        .or(me["username"].as_str())
        .unwrap_or(&user)
        .to_owned();
    Ok((user, name))
}

/// Discord's API as the person who signed in.
struct Bearer<'a> {
    c: &'a Console,
    /// Discord's API origin.
    api: &'a str,
    /// The person's access token.
    access: &'a str,
}

/// The first of the company's servers (`discord.guild_ids`, nothing else)
/// where the person is a linkguard admin by the connector's own check;
/// `None` when there is none.
async fn admin_guild(
    bearer: &Bearer<'_>,
    admins: &crate::discord::ConsoleAdmins,
    user: &str,
    name: &str,
) -> Result<Option<u64>, Response> {
    for guild in admins.guild_ids() {
        let Some(roles) = member_roles(bearer, *guild).await? else {
            continue;
        };
        match admins.caller(*guild, user, name, &roles).await {
            Ok(caller) if caller.is_admin => return Ok(Some(*guild)),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot decide a Discord admin");
                return Err(back("platform"));
            }
        }
    }
    Ok(None)
}

/// The person's roles in `guild` (`users/@me/guilds/{guild}/member`);
/// `None` when Discord does not list them as a member there.
async fn member_roles(bearer: &Bearer<'_>, guild: u64) -> Result<Option<Vec<String>>, Response> {
    let member = bearer
        .c
        .http
        .get(format!(
            "{}/api/users/@me/guilds/{guild}/member",
            bearer.api
        ))
        .bearer_auth(bearer.access)
        .send()
        .await;
    let member: Value = match member {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
        Ok(_) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "reading the Discord member failed");
            return Err(back("platform"));
        }
    };
    Ok(Some(
        member["roles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    ))
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

    #[test]
    fn the_id_token_must_name_this_client_and_this_sign_in() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let answer = |claims: &str| serde_json::json!({"ok": true, "id_token": format!("{}.{}.sig", b64("{}"), b64(claims))});
        let one = answer(r#"{"aud":"1.2","nonce":"n"}"#);
        assert!(id_token_matches(&one, "1.2", "n"));
        assert!(!id_token_matches(&one, "1.3", "n"));
        assert!(!id_token_matches(&one, "1.2", "m"));
        let many = answer(r#"{"aud":["9.9","1.2"],"nonce":"n"}"#);
        assert!(id_token_matches(&many, "1.2", "n"));
        assert!(!id_token_matches(&answer(r#"{"aud":"1.2"}"#), "1.2", "n"));
        assert!(!id_token_matches(
            &answer(r#"{"aud":12,"nonce":"n"}"#),
            "12",
            "n"
        ));
        assert!(!id_token_matches(
            &serde_json::json!({"ok": true}),
            "1.2",
            "n"
        ));
    }

    #[test]
    fn a_slack_identity_needs_ok_a_user_and_a_team() {
        let who = slack_identity_in(&serde_json::json!({
            "ok": true, "sub": "U1", "https://slack.com/team_id": "T1", "name": "Ann"
        }))
        .unwrap();
        assert_eq!((who.team.as_str(), who.user.as_str()), ("T1", "U1"));
        assert_eq!(who.name.as_deref(), Some("Ann"));
        let who = slack_identity_in(&serde_json::json!({
            "ok": true, "sub": "x", "https://slack.com/user_id": "U2", "https://slack.com/team_id": "T1"
        }))
        .unwrap();
        assert_eq!(who.user, "U2");
        assert!(who.name.is_none());
        for bad in [
            serde_json::json!({"ok": false, "sub": "U1", "https://slack.com/team_id": "T1"}),
            serde_json::json!({"ok": true, "https://slack.com/team_id": "T1"}),
            serde_json::json!({"ok": true, "sub": "U1"}),
            serde_json::json!({"ok": true, "sub": "", "https://slack.com/team_id": "T1"}),
        ] {
            assert!(slack_identity_in(&bad).is_none(), "{bad}");
        }
    }
}
