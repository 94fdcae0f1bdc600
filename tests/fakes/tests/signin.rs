//! The fakes' sign-in endpoints hold to the protocol: Discord's code grant
//! checks the PKCE verifier, the redirect URI, the client and single use,
//! and the member route needs its scope; Slack's OpenID token call checks
//! the client, the code and the redirect URI and carries the nonce.

use linkguard_fakes::discord::{cast, oauth, FakeDiscord, FakeDiscordConfig};
use linkguard_fakes::slack::{openid, FakeSlack, FakeSlackConfig};
use serde_json::Value;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
}

const REDIRECT: &str = "http://127.0.0.1:1/cb";
// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[tokio::test]
async fn discord_code_grant_with_pkce() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .unwrap();
    let base = fake.http_base();
    let c = client();
    let authorize = |scope: &str| {
        format!(
            "{base}/oauth2/authorize?response_type=code&client_id={}&scope={scope}&state=s1&redirect_uri={REDIRECT}&code_challenge={CHALLENGE}&code_challenge_method=S256",
            cast::APPLICATION
        )
    };
    // Nobody signed in: denied, state kept.
    let r = c.get(authorize("identify")).send().await.unwrap();
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&to, "state").as_deref(), Some("s1"));

    fake.oauth_sign_in_as(Some(cast::ALICE));
    let code = |scope: &'static str| {
        let c = c.clone();
        let url = authorize(scope);
        async move {
            let r = c.get(url).send().await.unwrap();
            query(r.headers()["location"].to_str().unwrap(), "code").unwrap()
        }
    };
    let exchange = |code: String, verifier: &'static str, secret: &'static str| {
        let c = c.clone();
        let url = format!("{base}/api/oauth2/token");
        async move {
            c.post(url)
                .basic_auth(cast::APPLICATION.to_string(), Some(secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = exchange(code("identify").await, VERIFIER, "wrong-secret").await;
    assert_eq!(r.status(), 401);
    let wrong = "a-verifier-that-is-long-enough-but-does-not-match-it";
    let r = exchange(code("identify").await, wrong, oauth::CLIENT_SECRET).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    // Without guilds.members.read the member route is refused.
    let narrow = code("identify").await;
    let r = exchange(narrow, VERIFIER, oauth::CLIENT_SECRET).await;
    let token: Value = r.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap().to_owned();
    let member = format!("{base}/api/users/@me/guilds/{}/member", cast::GUILD);
    let r = c.get(&member).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // The whole grant: a code works once, then the user and member.
    let full = code("identify+guilds.members.read").await;
    let r = exchange(full.clone(), VERIFIER, oauth::CLIENT_SECRET).await;
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");
    let r = exchange(full, VERIFIER, oauth::CLIENT_SECRET).await;
    assert_eq!(r.status(), 400, "a code works once");
    let access = token["access_token"].as_str().unwrap();
    let me: Value = c
        .get(format!("{base}/api/users/@me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], cast::ALICE.to_string());
    let r = c.get(&member).bearer_auth(access).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert!(
        m["roles"].is_array() && m.get("permissions").is_none(),
        "{m}"
    );
    let r = c
        .get(format!(
            "{base}/api/users/@me/guilds/{}/member",
            cast::FOREIGN_GUILD
        ))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn slack_openid_connect() {
    let fake = FakeSlack::start(FakeSlackConfig::default()).await.unwrap();
    fake.openid_sign_in_as(Some("U0FAKEADM01"));
    let c = client();
    let code = || {
        let c = c.clone();
        let url = format!(
            "{}/openid/connect/authorize?response_type=code&scope=openid%20profile&client_id={}&state=s&nonce=n1&redirect_uri={REDIRECT}",
            fake.base_url(),
            openid::CLIENT_ID
        );
        async move {
            let r = c.get(url).send().await.unwrap();
            query(r.headers()["location"].to_str().unwrap(), "code").unwrap()
        }
    };
    let token = |code: String, redirect: &'static str, secret: &'static str| {
        let c = c.clone();
        let url = format!("{}openid.connect.token", fake.api_url());
        async move {
            let v: Value = c
                .post(url)
                .form(&[
                    ("client_id", openid::CLIENT_ID),
                    ("client_secret", secret),
                    ("code", code.as_str()),
                    ("redirect_uri", redirect),
                    ("grant_type", "authorization_code"),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        }
    };
    assert_eq!(
        token(code().await, REDIRECT, "nope").await["error"],
        "bad_client_secret"
    );
    assert_eq!(
        token(code().await, "http://elsewhere/cb", openid::CLIENT_SECRET).await["error"],
        "bad_redirect_uri"
    );
    let one = code().await;
    let ok = token(one.clone(), REDIRECT, openid::CLIENT_SECRET).await;
    assert_eq!(ok["ok"], true, "{ok}");
    let jwt = ok["id_token"].as_str().unwrap();
    let claims = jwt.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["nonce"], "n1");
    assert_eq!(claims["aud"], openid::CLIENT_ID);
    assert_eq!(claims["https://slack.com/team_id"], "T0FAKETEAM1");
    assert_eq!(
        token(one, REDIRECT, openid::CLIENT_SECRET).await["error"],
        "invalid_code",
        "a code works once"
    );
    let info: Value = c
        .post(format!("{}openid.connect.userInfo", fake.api_url()))
        .bearer_auth(ok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["ok"], true);
    assert_eq!(info["https://slack.com/user_id"], "U0FAKEADM01");
}
