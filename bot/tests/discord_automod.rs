//! AutoMod sync through the `linkguard` binary as a black box, against the
//! fake Discord (`LINKGUARD_DISCORD_PROXY_URL`): `linkguard discord automod
//! plan|apply|remove` show, write and delete only linkguard's own rules; two
//! `linkguard run` replicas on one database with `LINKGUARD_DISCORD_AUTOMOD`
//! write the rules once (the store lease), not twice.

use linkguard_fakes::discord::{cast, perms, FakeDiscord, FakeDiscordConfig, RouteKind};
use serde_json::{json, Value};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn fake_config() -> FakeDiscordConfig {
    FakeDiscordConfig::default().bot_role_permissions(
        perms::VIEW_CHANNEL
            | perms::SEND_MESSAGES
            | perms::MANAGE_MESSAGES
            | perms::MANAGE_WEBHOOKS
            | perms::MANAGE_GUILD,
    )
}

fn linkguard(fake: &FakeDiscord, db: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkguard"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "LINKGUARD_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("LINKGUARD_AUDIT_KEY", "automod-test-audit-key")
        .env("LINKGUARD_ROOM_KEY", "automod-test-room-key")
        .env("LINKGUARD_DISCORD_TOKEN", fake.bot_token())
        .env("LINKGUARD_DISCORD_PROXY_URL", fake.http_base())
        .env("LINKGUARD_DISCORD_GUILD_IDS", cast::GUILD.to_string());
    c
}

async fn cli(fake: &FakeDiscord, db: &std::path::Path, args: &[&str]) -> Output {
    let mut c = linkguard(fake, db);
    c.args(args);
    tokio::task::spawn_blocking(move || c.output().expect("linkguard runs"))
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn admins_rule() -> Value {
    json!({
        "name": "Block invites",
        "event_type": 1,
        "trigger_type": 1,
        "trigger_metadata": { "keyword_filter": ["*discord.gg/*"] },
        "actions": [{ "type": 1 }],
        "enabled": true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_and_remove_touch_only_linkguards_rules() {
    let fake = FakeDiscord::start(fake_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lg.db");
    let theirs = fake
        .admin_create_automod_rule(cast::GUILD, cast::ADMIN, admins_rule())
        .unwrap();

    let out = cli(&fake, &db, &["discord", "automod", "plan"]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("rule \"linkguard: no-zoom\""), "{t}");
    assert!(t.contains("regex"), "{t}");
    assert!(t.contains("linkguard keeps 0 rule(s) there now"), "{t}");
    assert!(t.contains("discord.automod is off"), "{t}");
    assert_eq!(
        fake.automod_rules(cast::GUILD).len(),
        1,
        "plan writes nothing"
    );

    let out = cli(&fake, &db, &["discord", "automod", "apply"]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("applied: created linkguard: no-zoom"), "{t}");
    let rules = fake.automod_rules(cast::GUILD);
    let ours = rules
        .iter()
        .find(|r| r["name"] == "linkguard: no-zoom")
        .expect("created");
    assert_eq!(ours["creator_id"], cast::BOT.to_string());
    assert_eq!(ours["enabled"], true);

    // Applying again changes nothing.
    let out = cli(&fake, &db, &["discord", "automod", "apply"]).await;
    assert!(text(&out).contains("applied: no change"), "{}", text(&out));

    // A server that is not the company's is refused, by name.
    let out = cli(
        &fake,
        &db,
        &["discord", "automod", "apply", "--guild", "42"],
    )
    .await;
    assert!(!out.status.success());
    assert!(text(&out).contains("server 42 is not in discord.guild_ids"));

    let out = cli(&fake, &db, &["discord", "automod", "remove"]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("removed linkguard: no-zoom"), "{t}");
    assert_eq!(fake.automod_rules(cast::GUILD), vec![theirs]);

    // Every change is in the audit log.
    let out = cli(&fake, &db, &["audit", "export", "--format", "jsonl"]).await;
    let t = text(&out);
    assert!(t.contains("created linkguard: no-zoom"), "{t}");
    assert!(t.contains("deleted linkguard: no-zoom"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_manage_server_the_cli_says_so() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        &fake,
        &dir.path().join("lg.db"),
        &["discord", "automod", "apply"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("lacks the Manage Server permission"),
        "{}",
        text(&out)
    );
}

struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_write_the_rules_once() {
    let fake = FakeDiscord::start(fake_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lg.db");
    // Migrate once, so the replicas start on a ready database.
    let out = cli(&fake, &db, &["migrate"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let spawn = || {
        let mut c = linkguard(&fake, &db);
        c.args(["run"])
            .env("LINKGUARD_HTTP_ADDR", "127.0.0.1:0")
            .env("LINKGUARD_DISCORD_AUTOMOD", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Replica(c.spawn().expect("linkguard run starts"))
    };
    let _a = spawn();
    let _b = spawn();
    // Each replica's sync reads the rules (before and after applying): wait
    // until both have synced, then exactly one of them created the rule.
    fake.wait_until(
        |s| {
            s.calls_to(RouteKind::AutoModRules)
                .iter()
                .filter(|c| c.method == "GET" && c.status == 200)
                .count()
                >= 4
                && s.connected_sessions() >= 2
        },
        WAIT,
    )
    .await
    .expect("both replicas sync");
    let rules = fake.automod_rules(cast::GUILD);
    assert_eq!(rules.len(), 1, "{rules:#?}");
    assert_eq!(rules[0]["name"], "linkguard: no-zoom");
    let creates = fake.with_state(|s| {
        s.calls_to(RouteKind::AutoModRules)
            .iter()
            .filter(|c| c.method == "POST")
            .count()
    });
    assert_eq!(creates, 1);
}
