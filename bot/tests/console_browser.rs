//! The web console in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver with fantoccini), against the
//! real `linkguard run` and the fake Slack and Discord over loopback:
//! signing in through the fake Slack and the fake Discord, a non-admin
//! refused, a wrong break-glass token refused and audited, a test message's
//! detection on the audit page and its export, an invalid policy edit shown
//! at its line and saving nothing, a valid edit shown as a diff, saved and
//! judging the next message, rollback, an exception added and revoked, and
//! signing out. Every step saves a screenshot under
//! `$CARGO_TARGET_TMPDIR/console-screenshots/`.
//!
//! Without Chromium these tests are skipped with a loud message, except in
//! CI (`CI=true`), where a missing browser fails them.

mod console_common;

use console_common::{client, free_port, logins, spawn, spawn_with, store, Run, TOKEN};
use fantoccini::{Client, ClientBuilder, Locator};
use linkguard::store::{AuditFilter, Platform};
use linkguard_fakes::discord::{cast, FakeDiscord, FakeDiscordConfig};
use linkguard_fakes::slack::{FakeSlack, FakeSlackConfig};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// chromedriver and a browser session on it.
struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
    test: &'static str,
    step: u32,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// A headless Chromium, or `None` (with a loud message) when it is not
/// installed outside CI.
async fn browser(test: &'static str) -> Option<Browser> {
    let present =
        installed("chromedriver") && (installed("chromium") || installed("chromium-browser"));
    if !present {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium and chromium-driver must be installed in CI (.ci/run installs them)");
        }
        eprintln!(
            "\n!!!!! SKIPPED {test}: chromium / chromedriver not installed \
             (apt-get install chromium chromium-driver); the console's browser tests did not run !!!!!\n"
        );
        return None;
    }
    // Both ring and aws-lc are in the tree: say which one TLS uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + WAIT;
    while client().get(format!("{url}/status")).send().await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,900", "--no-first-run", "--no-default-browser-check"
        ] }),
    );
    let client = ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a browser session");
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    Some(Browser {
        client,
        driver,
        shots,
        test,
        step: 0,
    })
}

impl Browser {
    async fn go(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// The page's text; empty while a navigation is under way.
    async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn type_in(&self, css: &str, text: &str) {
        let e = self.client.find(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Saves a screenshot of the page as `{test}-{n}-{name}.png`.
    async fn shot(&mut self, name: &str) -> PathBuf {
        self.step += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self
            .shots
            .join(format!("{}-{:02}-{name}.png", self.test, self.step));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// The session cookie, for fetching a download the way the page would.
    async fn cookie(&self) -> String {
        let c = self.client.get_named_cookie("lg_session").await.unwrap();
        format!("lg_session={}", c.value())
    }

    /// Fetches what the link named `text` points at, with the browser's
    /// session, as its download would.
    async fn download(&self, text: &str, base: &str) -> reqwest::Response {
        let href = self
            .client
            .find(Locator::LinkText(text))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let r = client()
            .get(format!("{base}{href}"))
            .header("cookie", self.cookie().await)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{text}");
        r
    }

    async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let t = self.text().await;
            if t.contains(needle) {
                return t;
            }
            assert!(Instant::now() < deadline, "`{needle}` never appeared:\n{t}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn wait_ready(run: &Run) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(r) = client().get(format!("{}/readyz", run.base)).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "linkguard never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the audit log holds a `kind` record matching `pred`.
async fn wait_record(
    run: &Run,
    kind: &str,
    pred: impl Fn(&linkguard::store::AuditRecord) -> bool,
) -> linkguard::store::AuditRecord {
    let s = store(run).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let list = s
            .list(&AuditFilter {
                kind: Some(kind.into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        if let Some(r) = list.into_iter().find(|r| pred(r)) {
            s.close().await;
            return r;
        }
        assert!(Instant::now() < deadline, "no {kind} record came");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn slack_env(fake: &FakeSlack) -> Vec<(&'static str, String)> {
    use linkguard_fakes::slack::{DEFAULT_ADMIN_USER_TOKEN, DEFAULT_APP_TOKEN, DEFAULT_BOT_TOKEN};
    vec![
        ("LINKGUARD_SLACK_BOT_TOKEN", DEFAULT_BOT_TOKEN.into()),
        ("LINKGUARD_SLACK_APP_TOKEN", DEFAULT_APP_TOKEN.into()),
        (
            "LINKGUARD_SLACK_USER_TOKEN",
            DEFAULT_ADMIN_USER_TOKEN.into(),
        ),
        ("LINKGUARD_SLACK_API_URL", fake.api_url()),
        (
            "LINKGUARD_SLACK_CLIENT_ID",
            linkguard_fakes::slack::openid::CLIENT_ID.into(),
        ),
        (
            "LINKGUARD_SLACK_CLIENT_SECRET",
            linkguard_fakes::slack::openid::CLIENT_SECRET.into(),
        ),
    ]
}

const GENERAL: &str = "C0FAKECHAN1";
const ALICE: &str = "U0FAKEUSR01";
const BOB: &str = "U0FAKEUSR02";
const ADMIN: &str = "U0FAKEADM01";

/// A policy that bans Webex as well, replacing it, with `# line 2` being
/// where an edit goes wrong in the invalid case.
const NEW_POLICY: &str = "mode = \"enforce\"\n\
[[rules]]\n\
id = \"no-zoom\"\n\
providers = [\"zoom\"]\n\
action = \"replace\"\n\
alternative = \"https://meet.jit.si/{prefix}-{room}\"\n\
reason = \"Zoom is not approved here.\"\n\
[[rules]]\n\
id = \"no-webex\"\n\
providers = [\"webex\"]\n\
action = \"log\"\n\
reason = \"Webex is being retired.\"\n";

#[tokio::test]
async fn console_browser_slack_admin_works_the_console() {
    let Some(mut b) = browser("slack").await else {
        return;
    };
    let fake = FakeSlack::start(FakeSlackConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = spawn_with(
        dir.path(),
        Some("http://127.0.0.1:{port}"),
        &slack_env(&fake),
    )
    .await;
    wait_ready(&run).await;
    let base = run.base.clone();
    // A stored first version (the built-in policy), to roll back to later.
    {
        let s = store(&run).await;
        let default = linkguard_rules::policy::Policy::default_policy();
        s.policy_import(default.source_text(), "setup", "the test's first version")
            .await
            .unwrap();
        s.close().await;
    }

    // No session: any console page lands on the sign-in page.
    b.go(&format!("{base}/admin/policy")).await;
    assert_eq!(b.path().await, "/admin/login");
    b.shot("sign-in-page").await;

    // Bob is a member, not an admin: refused, and recorded.
    fake.openid_sign_in_as(Some(BOB));
    b.click("a[href='/admin/login/slack']").await;
    let t = b.wait_for_text("not a linkguard admin").await;
    assert!(t.contains("recorded"), "{t}");
    assert_eq!(b.path().await, "/admin/login");
    b.shot("non-admin-refused").await;
    let l = logins(&run).await;
    assert!(
        l.iter()
            .any(|r| r.entry.outcome.as_ref().unwrap().as_str() == "failed"
                && r.entry.author.as_deref().unwrap_or("").contains(BOB)),
        "{l:?}"
    );

    // The workspace admin signs in with Slack.
    fake.openid_sign_in_as(Some(ADMIN));
    b.click("a[href='/admin/login/slack']").await;
    b.wait_for_text("Audit chain").await;
    assert_eq!(b.path().await, "/admin/");

    // A message with a Zoom link: its detection is on the audit page.
    fake.post_user_message(
        GENERAL,
        ALICE,
        "standup at <https://acme.zoom.us/j/85512345678?pwd=secret|zoom>",
    )
    .unwrap();
    let det = wait_record(&run, "detected", |r| {
        r.entry.provider.as_deref() == Some("zoom")
    })
    .await;
    b.go(&format!("{base}/admin/")).await;
    let overview = b.shot("overview").await;
    b.go(&format!("{base}/admin/audit?kind=detected")).await;
    let t = b.text().await;
    assert!(t.contains("no-zoom") && t.contains("zoom"), "{t}");
    assert!(!t.contains("secret"), "the passcode is never shown: {t}");
    let audit = b.shot("audit").await;
    // Search over what is stored, any case; a miss finds nothing.
    b.go(&format!("{base}/admin/audit?q=NO-ZOOM&outcome=pending"))
        .await;
    assert!(b.text().await.contains("C0FAKECHAN1"));
    b.go(&format!("{base}/admin/audit?q=no-such-words")).await;
    assert!(b.text().await.contains("No records match."));
    b.go(&format!("{base}/admin/audit?since=yesterday")).await;
    assert!(b
        .text()
        .await
        .contains("That filter was not applied: since"));
    b.click(&format!("a[href='/admin/audit/{}']", det.seq))
        .await;
    let t = b.text().await;
    assert!(
        t.contains(&format!("seq {}", det.seq)) && t.contains("chain verifies"),
        "{t}"
    );
    b.shot("record").await;

    // Its export downloads (the link's URL with the browser's session).
    b.go(&format!("{base}/admin/audit?kind=detected")).await;
    let r = b.download("Export CSV", &base).await;
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("seq,at,platform"), "{csv}");
    assert!(
        csv.contains("no-zoom") && csv.contains(",detected,"),
        "{csv}"
    );
    let jsonl = b
        .download("Export JSONL", &base)
        .await
        .text()
        .await
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "detected");

    // An invalid edit: the problem at its line and column, nothing saved.
    let s = store(&run).await;
    let versions = s.policy_history().await.unwrap().len();
    b.go(&format!("{base}/admin/policy")).await;
    let broken = NEW_POLICY.replace("providers = [\"webex\"]", "providers = [\"webexx\"]");
    b.type_in("#policy-text", &broken).await;
    b.click("form[action='/admin/policy/preview'] button").await;
    let t = b.wait_for_text("was not saved").await;
    assert!(t.contains("line 10, column"), "{t}");
    assert!(t.contains("webexx"), "{t}");
    b.shot("invalid-edit").await;
    assert_eq!(s.policy_history().await.unwrap().len(), versions);

    // A valid edit: the diff, then saved, and the next message is judged by it.
    b.type_in("#policy-text", NEW_POLICY).await;
    b.click("form[action='/admin/policy/preview'] button").await;
    let t = b.wait_for_text("These are the changes").await;
    assert!(t.contains("+ id = \"no-webex\""), "{t}");
    b.shot("diff").await;
    b.click("form[action='/admin/policy/save'] button").await;
    let t = b.wait_for_text("Done").await;
    assert!(t.contains("The policy is now version"), "{t}");
    b.shot("saved").await;
    let h = s.policy_history().await.unwrap();
    assert_eq!(h.len(), versions + 1);
    assert!(h.last().unwrap().author.contains(ADMIN), "{:?}", h.last());
    fake.post_user_message(
        GENERAL,
        ALICE,
        "sync on <https://acme.webex.com/meet/alice>",
    )
    .unwrap();
    wait_record(&run, "detected", |r| {
        r.entry.rule_id.as_deref() == Some("no-webex")
    })
    .await;

    // Roll back to the version before.
    let before = h[h.len() - 2].version;
    b.go(&format!("{base}/admin/policy")).await;
    b.click(&format!(
        "form[action='/admin/policy/rollback'] input[value='{before}'] ~ button"
    ))
    .await;
    b.wait_for_text("Done").await;
    b.shot("rolled-back").await;
    let active = s.policy_active().await.unwrap().unwrap();
    assert!(!active.body.contains("no-webex"), "{}", active.body);

    // "Test a message" says what `linkguard check` would.
    b.type_in("#test-text", "join https://acme.zoom.us/j/85512345678")
        .await;
    b.click("form[action='/admin/policy/test'] button").await;
    let t = b.wait_for_text("What `linkguard check` says").await;
    assert!(t.contains("BLOCKED by rule `no-zoom`"), "{t}");
    b.shot("test-a-message").await;

    // An exception: added, listed, revoked, then shown as ended.
    b.go(&format!("{base}/admin/exceptions")).await;
    b.type_in("#ex-id", ALICE).await;
    b.type_in("#ex-duration", "2h").await;
    b.type_in("#ex-reason", "vendor demo").await;
    b.click("form[action='/admin/exceptions/add'] button").await;
    b.wait_for_text("granted").await;
    b.shot("exception-added").await;
    assert!(s
        .exception_covering(Platform::Slack, "T0FAKETEAM1", ALICE, &[])
        .await
        .unwrap()
        .is_some());
    b.click("form[action='/admin/exceptions/revoke'] button")
        .await;
    b.wait_for_text("revoked").await;
    let row = b
        .client
        .find(Locator::Css("tr.expired"))
        .await
        .expect("the revoked exception is greyed");
    assert!(row.text().await.unwrap().contains("vendor demo"));
    b.shot("exception-revoked").await;
    assert!(s
        .exception_covering(Platform::Slack, "T0FAKETEAM1", ALICE, &[])
        .await
        .unwrap()
        .is_none());

    // Phone width: the page still works.
    b.client.set_window_size(390, 844).await.unwrap();
    b.go(&format!("{base}/admin/")).await;
    b.shot("phone").await;
    b.client.set_window_size(1280, 900).await.unwrap();

    // Sign out: back to the sign-in page, and the console is closed again.
    b.click("form.logout button").await;
    b.wait_for_text("You are signed out").await;
    b.go(&format!("{base}/admin/exceptions")).await;
    assert_eq!(b.path().await, "/admin/login");
    b.shot("signed-out").await;
    s.close().await;

    // The README's pictures, when asked to refresh them.
    if std::env::var_os("LINKGUARD_UPDATE_SCREENSHOTS").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(overview, docs.join("console-overview.png")).unwrap();
        std::fs::copy(audit, docs.join("console-audit.png")).unwrap();
    }
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn console_browser_discord_sign_in_refuses_non_admins() {
    let Some(mut b) = browser("discord").await else {
        return;
    };
    // Bob is a moderator (Manage Server through his role) at first.
    let mut config = FakeDiscordConfig::default();
    for m in config.guilds[0]
        .members
        .iter_mut()
        .filter(|m| m.user_id == cast::BOB)
    {
        m.roles = vec![cast::MODERATOR_ROLE];
    }
    let fake = FakeDiscord::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("LINKGUARD_DISCORD_TOKEN", fake.bot_token().to_owned()),
        ("LINKGUARD_DISCORD_GUILD_IDS", cast::GUILD.to_string()),
        ("LINKGUARD_DISCORD_PROXY_URL", fake.http_base()),
        ("LINKGUARD_DISCORD_WEB_URL", fake.http_base()),
        ("LINKGUARD_DISCORD_CLIENT_ID", cast::APPLICATION.to_string()),
        (
            "LINKGUARD_DISCORD_CLIENT_SECRET",
            linkguard_fakes::discord::oauth::CLIENT_SECRET.into(),
        ),
    ];
    let run = spawn_with(dir.path(), Some("http://127.0.0.1:{port}"), &env).await;
    wait_ready(&run).await;
    let base = run.base.clone();

    // Alice is a plain member of the server: refused.
    fake.oauth_sign_in_as(Some(cast::ALICE));
    b.go(&format!("{base}/admin/login")).await;
    b.click("a[href='/admin/login/discord']").await;
    b.wait_for_text("not a linkguard admin").await;
    b.shot("non-admin-refused").await;

    // Bob signs in; once his role is taken away, his session ends at the
    // next check (made due here by moving the last check back in time).
    fake.oauth_sign_in_as(Some(cast::BOB));
    b.click("a[href='/admin/login/discord']").await;
    b.wait_for_text("Audit chain").await;
    fake.set_member_roles(cast::GUILD, cast::BOB, vec![]);
    b.go(&format!("{base}/admin/policy")).await;
    assert_eq!(
        b.path().await,
        "/admin/policy",
        "checked every few minutes, not on every page"
    );
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&run.db).await.unwrap();
    sqlx::query("UPDATE console_sessions SET checked_ms = 0")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    b.go(&format!("{base}/admin/policy")).await;
    b.wait_for_text("no longer lists you as a linkguard admin")
        .await;
    assert_eq!(b.path().await, "/admin/login");
    b.shot("rights-taken-away").await;

    // The server's owner (Manage Server and more) signs in.
    fake.oauth_sign_in_as(Some(cast::ADMIN));
    b.click("a[href='/admin/login/discord']").await;
    b.wait_for_text("Audit chain").await;
    b.shot("signed-in").await;
    let l = logins(&run).await;
    let ok = l
        .iter()
        .find(|r| r.entry.outcome.as_ref().unwrap().as_str() == "ok")
        .expect("a successful sign-in is audited");
    assert_eq!(ok.entry.platform, Platform::Discord);
    assert_eq!(
        ok.entry.workspace.as_deref(),
        Some(cast::GUILD.to_string().as_str())
    );
    assert!(
        ok.entry.detail.as_deref().unwrap().contains("with Discord"),
        "{ok:?}"
    );
    assert!(l
        .iter()
        .any(|r| r.entry.outcome.as_ref().unwrap().as_str() == "failed"
            && r.entry
                .author
                .as_deref()
                .unwrap_or("")
                .contains(&cast::ALICE.to_string())));
    b.click("form.logout button").await;
    b.wait_for_text("You are signed out").await;
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn console_browser_break_glass_token() {
    let Some(mut b) = browser("break-glass").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = spawn(dir.path(), None).await;
    let base = run.base.clone();
    b.go(&format!("{base}/admin/settings")).await;
    assert_eq!(b.path().await, "/admin/login");
    b.type_in("input[name='token']", "definitely-not-the-token")
        .await;
    b.click("form[action='/admin/login'] button").await;
    b.wait_for_text("That token is not right").await;
    b.shot("wrong-token").await;
    let l = logins(&run).await;
    assert_eq!(l.len(), 1);
    assert!(l[0]
        .entry
        .detail
        .as_deref()
        .unwrap()
        .contains("wrong break-glass token"));

    b.type_in("input[name='token']", TOKEN).await;
    b.click("form[action='/admin/login'] button").await;
    b.wait_for_text("Audit chain").await;
    b.go(&format!("{base}/admin/settings")).await;
    b.click("input[name='mode'][value='monitor']").await;
    b.click("form[action='/admin/settings'] button").await;
    b.wait_for_text("monitor mode").await;
    b.shot("settings").await;
    b.click("form.logout button").await;
    b.wait_for_text("You are signed out").await;
    b.client.clone().close().await.unwrap();
}
