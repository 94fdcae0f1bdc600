//! The web console without a browser, against the real `linkguard run`:
//! every `/admin/` page redirects to the sign-in page without a session, a
//! wrong break-glass token is refused, audited and rate-limited, the session
//! cookie carries its flags, a state-changing POST without the CSRF token is
//! refused and changes nothing, and signing out ends the session.

mod console_common;

use console_common::{client, logins, spawn, store, Run, TOKEN};

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Signs in with the break-glass token; returns the session cookie's
/// `Set-Cookie` and the `name=value` pair to send back.
async fn sign_in(run: &Run, token: &str) -> (reqwest::StatusCode, String, String) {
    let r = client()
        .post(format!("{}/admin/login", run.base))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let set = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let pair = set.split(';').next().unwrap_or("").to_owned();
    (r.status(), set, pair)
}

fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("a csrf field");
    let rest = &html[i + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn console_pages_need_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let run = spawn(dir.path(), None).await;
    let c = client();
    for path in [
        "/admin",
        "/admin/",
        "/admin/audit",
        "/admin/audit?kind=detected",
        "/admin/audit/1",
        "/admin/audit/export.csv",
        "/admin/audit/export.jsonl",
        "/admin/policy",
        "/admin/exceptions",
        "/admin/settings",
        "/admin/no-such-page",
    ] {
        let r = c.get(format!("{}{path}", run.base)).send().await.unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        let to = location(&r);
        assert!(
            to == "/admin/login" || (path == "/admin" && to == "/admin/"),
            "{path} -> {to}"
        );
    }
    for path in [
        "/admin/logout",
        "/admin/policy/preview",
        "/admin/policy/save",
        "/admin/policy/rollback",
        "/admin/policy/test",
        "/admin/exceptions/add",
        "/admin/exceptions/revoke",
        "/admin/settings",
    ] {
        let r = c
            .post(format!("{}{path}", run.base))
            .form(&[("csrf", "x"), ("mode", "monitor")])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "POST {path}: {}", r.status());
        assert_eq!(location(&r), "/admin/login", "POST {path}");
    }
    // The sign-in page itself is served, with the security headers.
    let r = c
        .get(format!("{}/admin/login", run.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"token\""), "{html}");
    assert!(!html.contains("<script"), "no script at all: {html}");
    // Its stylesheet is the one thing served outside /admin/.
    let css = c
        .get(format!("{}/assets/linkguard-console.css", run.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn console_break_glass_token_session_csrf_and_logout() {
    let dir = tempfile::tempdir().unwrap();
    let run = spawn(dir.path(), None).await;
    let c = client();

    // A wrong token: refused, audited with where it came from.
    let (status, set, _) = sign_in(&run, "not-the-token").await;
    assert!(status.is_redirection());
    assert!(set.is_empty(), "no session for a wrong token: {set}");
    let l = logins(&run).await;
    assert_eq!(l.len(), 1, "{l:?}");
    let e = &l[0].entry;
    assert_eq!(e.outcome.as_ref().unwrap().as_str(), "failed");
    assert!(
        e.detail
            .as_deref()
            .unwrap()
            .contains("wrong break-glass token")
            && e.detail.as_deref().unwrap().contains("127.0.0.1"),
        "{e:?}"
    );
    assert!(
        !format!("{e:?}").contains("not-the-token"),
        "the guess is not stored"
    );

    // The right token: a session cookie with its flags.
    let (status, set, cookie) = sign_in(&run, TOKEN).await;
    assert_eq!(status, 200, "{set}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age="] {
        assert!(set.contains(flag), "{flag} missing: {set}");
    }
    assert!(!set.contains("Secure"), "plain http: no Secure flag: {set}");
    assert!(!set.contains(TOKEN));
    let page = c
        .get(format!("{}/admin/", run.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Overview") && html.contains("Audit chain"),
        "{html}"
    );
    let l = logins(&run).await;
    assert_eq!(l.len(), 2);
    assert_eq!(l[1].entry.outcome.as_ref().unwrap().as_str(), "ok");

    // A state-changing POST without (or with a wrong) CSRF token: refused,
    // and the policy is unchanged.
    let s = store(&run).await;
    let before = s.policy_history().await.unwrap().len();
    for form in [
        vec![("mode", "monitor")],
        vec![("mode", "monitor"), ("csrf", "forged")],
    ] {
        let r = c
            .post(format!("{}/admin/settings", run.base))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("CSRF"));
    }
    assert_eq!(s.policy_history().await.unwrap().len(), before);

    // With it: the mode changes through the chat's code path, versioned and
    // attributed.
    let csrf = csrf_of(&html);
    let r = c
        .post(format!("{}/admin/settings", run.base))
        .header("cookie", &cookie)
        .form(&[("mode", "monitor"), ("bots", "off"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = s.policy_history().await.unwrap();
    assert_eq!(h.len(), before + 1);
    let v = h.last().unwrap();
    assert!(v.body.contains("mode = \"monitor\""), "{}", v.body);
    assert!(v.author.contains("break-glass"), "{}", v.author);

    // Sign out: the session ends on the server, not only in the browser.
    let r = c
        .post(format!("{}/admin/logout", run.base))
        .header("cookie", &cookie)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let r = c
        .get(format!("{}/admin/", run.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/login");
    s.close().await;
}

#[tokio::test]
async fn console_failed_sign_ins_are_rate_limited_and_cookies_secure_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let run = spawn(dir.path(), Some("https://linkguard.example.com")).await;
    for _ in 0..5 {
        let (_, set, _) = sign_in(&run, "wrong-guess").await;
        assert!(set.is_empty());
    }
    // Now even the right token is refused from this address for a while.
    let (status, set, _) = sign_in(&run, TOKEN).await;
    assert!(status.is_redirection() && set.is_empty(), "{status} {set}");
    let l = logins(&run).await;
    assert!(l.len() >= 6, "{l:?}");
    assert!(
        l.iter().any(|r| r
            .entry
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("further attempts refused")),
        "{l:?}"
    );

    // Another replica's view: a fresh process on the same database with an
    // https public URL sets Secure cookies (the address is limited there too,
    // so check the flag from a new database).
    drop(run);
    let dir = tempfile::tempdir().unwrap();
    let run = spawn(dir.path(), Some("https://linkguard.example.com")).await;
    let (status, set, _) = sign_in(&run, TOKEN).await;
    assert_eq!(status, 200);
    assert!(set.contains("; Secure"), "{set}");
}

/// The fake Slack, signing in its admin, and linkguard's console using it
/// for Sign in with Slack.
async fn with_slack_sign_in(dir: &std::path::Path) -> (linkguard_fakes::slack::FakeSlack, Run) {
    use linkguard_fakes::slack::{
        openid, FakeSlack, FakeSlackConfig, DEFAULT_APP_TOKEN, DEFAULT_BOT_TOKEN,
    };
    let fake = FakeSlack::start(FakeSlackConfig::default()).await.unwrap();
    fake.openid_sign_in_as(Some("U0FAKEADM01"));
    let env = [
        ("LINKGUARD_SLACK_BOT_TOKEN", DEFAULT_BOT_TOKEN.to_owned()),
        ("LINKGUARD_SLACK_APP_TOKEN", DEFAULT_APP_TOKEN.to_owned()),
        ("LINKGUARD_SLACK_API_URL", fake.api_url()),
        ("LINKGUARD_SLACK_CLIENT_ID", openid::CLIENT_ID.to_owned()),
        (
            "LINKGUARD_SLACK_CLIENT_SECRET",
            openid::CLIENT_SECRET.to_owned(),
        ),
    ];
    let run = console_common::spawn_with(dir, Some("http://127.0.0.1:{port}"), &env).await;
    (fake, run)
}

/// Failed callbacks (a code the platform does not know, on a state anyone
/// can get) do not lock the admins out of Sign in with Slack: behind a
/// proxy every browser has one address. They lock the break-glass token
/// from there, and are audited.
#[tokio::test]
async fn console_failed_callbacks_do_not_lock_out_sign_in_with_slack() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, run) = with_slack_sign_in(dir.path()).await;
    let c = client();
    let begin = || async {
        let r = c
            .get(format!("{}/admin/login/slack", run.base))
            .send()
            .await
            .unwrap();
        location(&r)
    };
    for _ in 0..6 {
        let authorize = begin().await;
        let state = authorize
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("state="))
            .unwrap()
            .to_owned();
        let forged = format!(
            "{}/admin/oauth/slack/callback?code=made-up&state={state}",
            run.base
        );
        let r = c.get(&forged).send().await.unwrap();
        assert!(
            location(&r).starts_with("/admin/login?error="),
            "{}",
            location(&r)
        );
        assert!(r.headers().get("set-cookie").is_none());
    }
    let (_, set, _) = sign_in(&run, TOKEN).await;
    assert!(set.is_empty(), "the break-glass token is locked from here");
    let callback = location(&c.get(begin().await).send().await.unwrap());
    let r = c.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 200, "the admin still signs in with Slack");
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("lg_session="));
    assert!(logins(&run).await.len() >= 6);
    drop(fake);
}

/// Sign in with Slack by hand (no browser): each hop of the redirect dance,
/// then the same callback replayed, and a forged state, are refused.
#[tokio::test]
async fn console_slack_callback_is_single_use_and_bound_to_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, run) = with_slack_sign_in(dir.path()).await;
    let c = client();
    let r = c
        .get(format!("{}/admin/login/slack", run.base))
        .send()
        .await
        .unwrap();
    let authorize = location(&r);
    assert!(
        authorize.starts_with(&format!("{}/openid/connect/authorize?", fake.base_url())),
        "{authorize}"
    );
    for p in [
        "response_type=code",
        "scope=openid+profile+email",
        "nonce=",
        "state=",
        "team=T0FAKETEAM1",
    ] {
        assert!(authorize.contains(p), "{p} missing: {authorize}");
    }
    let callback = location(&c.get(&authorize).send().await.unwrap());
    assert!(
        callback.starts_with(&format!("{}/admin/oauth/slack/callback?code=", run.base)),
        "{callback}"
    );
    let forged = callback.replace("state=", "state=x");
    let r = c.get(&forged).send().await.unwrap();
    assert_eq!(location(&r), "/admin/login?error=state");
    let r = c.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("lg_session="));
    let r = c.get(&callback).send().await.unwrap();
    assert_eq!(
        location(&r),
        "/admin/login?error=state",
        "a callback works once"
    );
    assert!(r.headers().get("set-cookie").is_none());
    let l = logins(&run).await;
    assert_eq!(
        l.iter()
            .filter(|r| r.entry.outcome.as_ref().unwrap().as_str() == "ok")
            .count(),
        1
    );
    assert!(l.iter().any(|r| r
        .entry
        .detail
        .as_deref()
        .unwrap_or("")
        .contains("with Slack")));
}
