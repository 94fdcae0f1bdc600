//! Tenancy: whose commands count, from the outside. The `linkguard` binary
//! refuses to run Discord without `discord.guild_ids` and rejects malformed
//! server and team ids; exemptions are scoped to the caller's platform and
//! workspace, on a real store (SQLite, and PostgreSQL when
//! `TEST_DATABASE_URL` is set). The chat side (foreign servers and teams)
//! is in `tests/tests/trust.rs`, against the fakes.

mod store_common;

use linkguard::commands::{Caller, Commands};
use linkguard::moderation::{ActivePolicy, Moderator, Platform};
use linkguard::store::{AuditFilter, Kind, Store};
use linkguard::tenancy::Tenancy;
use linkguard_rules::policy::{Policy, RoomKey};
use std::process::Command;
use std::sync::Arc;

fn linkguard(dir: &std::path::Path) -> Command {
    let mut c = store_common::linkguard("trust-test-room-key", "trust-test-audit-key");
    c.current_dir(dir)
        .env(
            "LINKGUARD_DATABASE_URL",
            format!("sqlite://{}", dir.join("lg.db").display()),
        )
        .env("LINKGUARD_HTTP_ADDR", "127.0.0.1:0");
    c
}

#[test]
fn trust_run_refuses_discord_without_guild_ids() {
    let dir = tempfile::tempdir().unwrap();
    let out = linkguard(dir.path())
        .arg("run")
        .env("LINKGUARD_DISCORD_TOKEN", "PLANTED.discord.token")
        // Unreachable on purpose: nothing may be contacted before the check.
        .env("LINKGUARD_DISCORD_PROXY_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("discord.guild_ids is not set") && err.contains("LINKGUARD_DISCORD_GUILD_IDS"),
        "{err}"
    );
    assert!(!err.contains("PLANTED"), "{err}");
    assert!(
        !dir.path().join("lg.db").exists(),
        "refused before opening the database"
    );
    // `config check` still works, and warns.
    let out = linkguard(dir.path())
        .args(["config", "check"])
        .env("LINKGUARD_DISCORD_TOKEN", "PLANTED.discord.token")
        .output()
        .unwrap();
    assert!(out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("LINKGUARD_DISCORD_GUILD_IDS"), "{all}");
}

#[test]
fn trust_config_reads_and_checks_server_and_team_ids() {
    let dir = tempfile::tempdir().unwrap();
    let out = linkguard(dir.path())
        .args(["config", "check"])
        .env("LINKGUARD_DISCORD_TOKEN", "PLANTED.discord.token")
        .env(
            "LINKGUARD_DISCORD_GUILD_IDS",
            "1058897343283331074, 1201558370925461504",
        )
        .env("LINKGUARD_SLACK_BOT_TOKEN", "xoxb-PLANTED")
        .env("LINKGUARD_SLACK_APP_TOKEN", "xapp-PLANTED")
        .env("LINKGUARD_SLACK_TEAM_IDS", "T0FAKETEAM1,T0SECONDWS2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("discord.guild_ids = 1058897343283331074,1201558370925461504  # the environment (LINKGUARD_DISCORD_GUILD_IDS)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("slack.team_ids = T0FAKETEAM1,T0SECONDWS2"),
        "{stdout}"
    );
    for (var, value, key) in [
        (
            "LINKGUARD_DISCORD_GUILD_IDS",
            "my-server",
            "discord.guild_ids",
        ),
        ("LINKGUARD_DISCORD_GUILD_IDS", "-5", "discord.guild_ids"),
        ("LINKGUARD_SLACK_TEAM_IDS", "acme", "slack.team_ids"),
    ] {
        let out = linkguard(dir.path())
            .args(["config", "check"])
            .env("LINKGUARD_DISCORD_TOKEN", "PLANTED.discord.token")
            .env("LINKGUARD_SLACK_BOT_TOKEN", "xoxb-PLANTED")
            .env("LINKGUARD_SLACK_APP_TOKEN", "xapp-PLANTED")
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(key) && err.contains(var) && err.contains(value),
            "{err}"
        );
    }
    let keys = linkguard(dir.path())
        .args(["config", "keys"])
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&keys.stdout);
    assert!(
        keys.contains("LINKGUARD_DISCORD_GUILD_IDS") && keys.contains("LINKGUARD_SLACK_TEAM_IDS"),
        "{keys}"
    );
}

fn commands(store: Store) -> Commands {
    Commands::new(Arc::new(Moderator::new(
        store,
        ActivePolicy {
            policy: Arc::new(Policy::default_policy()),
            version: None,
        },
        RoomKey::new("trust-test"),
        false,
    )))
}

fn admin(platform: Option<Platform>, workspace: &str, user: &str) -> Caller {
    Caller {
        platform,
        workspace: workspace.into(),
        channel: "C0FAKECHAN1".into(),
        user_id: user.into(),
        user_name: user.into(),
        roles: vec![],
        is_admin: true,
    }
}

async fn exemptions_are_scoped(store: Store) {
    let c = commands(store);
    let slack_a = admin(Some(Platform::Slack), "T0FAKETEAM1", "U0ADMINA01");
    let slack_b = admin(Some(Platform::Slack), "T0SECONDWS2", "U0ADMINB01");
    let discord = admin(
        Some(Platform::Discord),
        "1058897343283331074",
        "661720242585731089",
    );
    let cli = admin(None, "", "cli:root");

    let a = c
        .run(&slack_a, "exempt <@U0FAKEUSR02> for 2h because vendor call")
        .await;
    assert!(a.starts_with("Exception #1 granted"), "{a}");
    let a = c
        .run(&discord, "exempt <@661720242585731083> for 1d because demo")
        .await;
    assert!(a.starts_with("Exception #2 granted"), "{a}");
    let a = c
        .run(&cli, "exempt user:U0FAKEUSR09 for 1h because audit")
        .await;
    assert!(a.starts_with("Exception #3 granted"), "{a}");

    // Each workspace sees its own, plus the CLI's (which apply everywhere).
    let a = c.run(&slack_a, "exempt list").await;
    assert!(
        a.contains("#1 ") && !a.contains("#2 ") && a.contains("#3 "),
        "{a}"
    );
    let a = c.run(&slack_b, "exempt list").await;
    assert!(
        !a.contains("#1 ") && !a.contains("#2 ") && a.contains("#3 "),
        "{a}"
    );
    let a = c.run(&discord, "exempt list").await;
    assert!(
        !a.contains("#1 ") && a.contains("#2 ") && a.contains("#3 "),
        "{a}"
    );
    // The CLI sees everything.
    let a = c.run(&cli, "exempt list").await;
    assert!(
        a.contains("#1 ") && a.contains("#2 ") && a.contains("#3 "),
        "{a}"
    );

    // An admin of another workspace or platform cannot revoke them.
    for (who, id) in [(&slack_b, 1), (&discord, 1), (&slack_a, 2), (&slack_a, 3)] {
        let a = c.run(who, &format!("exempt revoke {id}")).await;
        assert_eq!(a, format!("There is no exception #{id} in force here."));
    }
    assert_eq!(
        c.run(&slack_a, "exempt revoke 1").await,
        "Exception #1 revoked."
    );
    assert_eq!(
        c.run(&cli, "exempt revoke 2").await,
        "Exception #2 revoked."
    );
    let a = c.run(&cli, "exempt list").await;
    assert!(
        !a.contains("#1 ") && !a.contains("#2 ") && a.contains("#3 "),
        "{a}"
    );
}

#[tokio::test]
async fn trust_exemptions_are_scoped_to_platform_and_workspace_sqlite() {
    let db = store_common::sqlite().await;
    exemptions_are_scoped(db.store().await).await;
}

#[tokio::test]
async fn trust_exemptions_are_scoped_to_platform_and_workspace_postgres() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    exemptions_are_scoped(db.store().await).await;
}

/// Two replicas sharing one database are hit by 2,000 events from a foreign
/// server, concurrently: one `refused` record between them, per server.
async fn refusals_are_recorded_once_per_workspace(a: Store, b: Store) {
    let allowed = vec!["1058897343283331074".to_owned()];
    let ra = Arc::new(Tenancy::new(Platform::Discord, allowed.clone(), a.clone()));
    let rb = Arc::new(Tenancy::new(Platform::Discord, allowed, b));
    let mut tasks = Vec::new();
    for i in 0..2_000u32 {
        let t = if i % 2 == 0 { ra.clone() } else { rb.clone() };
        let ws = if i % 100 == 0 {
            "999"
        } else {
            "1201558370925461504"
        };
        tasks.push(tokio::spawn(async move {
            assert!(!t.allows(ws));
            t.refuse(ws, "a message").await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = a.list(&AuditFilter::default()).await.unwrap();
    let refused: Vec<_> = rows
        .iter()
        .filter(|r| r.entry.kind == Kind::Refused)
        .collect();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    for ws in ["999", "1201558370925461504"] {
        let r = refused
            .iter()
            .find(|r| r.entry.workspace.as_deref() == Some(ws))
            .unwrap();
        assert_eq!(r.entry.platform, Platform::Discord);
        assert!(r
            .entry
            .detail
            .as_deref()
            .unwrap()
            .contains("a message ignored"));
    }
    assert!(a.verify().await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_refusals_are_throttled_across_replicas_sqlite() {
    let db = store_common::sqlite().await;
    refusals_are_recorded_once_per_workspace(db.store().await, db.store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_refusals_are_throttled_across_replicas_postgres() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    refusals_are_recorded_once_per_workspace(db.store().await, db.store().await).await;
}
