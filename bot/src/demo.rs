//! `linkguard demo`: the real bot — serenity and slack-morphism clients, the
//! real pipeline and a real SQLite file — against the fake Slack and fake
//! Discord in one process, playing a short scripted day and printing what
//! each platform saw, then the audit log and its verification.
//!
//! Nothing here is simulated on linkguard's side: the fakes speak the
//! platforms' protocols over loopback, and every step waits for the fake to
//! observe the bot's real API calls.

use crate::app::{App, AppOptions};
use crate::config::{Config, DiscordConfig, Secret, SlackConfig, SlackMode};
use crate::moderation::Platform;
use crate::store::{AuditAction, AuditFilter, AuditRecord, Store};
use anyhow::{bail, Context as _};
use linkguard_fakes::discord::{cast, FakeDiscord, FakeDiscordConfig};
use linkguard_fakes::slack::{self as fslack, FakeSlack, FakeSlackConfig};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Arguments of `linkguard demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to keep the demo's SQLite database (default: a new file in the
    /// system's temporary directory, kept afterwards for `linkguard audit`).
    #[arg(long, value_name = "FILE")]
    database: Option<std::path::PathBuf>,
}

const WAIT: Duration = Duration::from_secs(10);
const SLACK_GENERAL: &str = "C0FAKECHAN1";
const SLACK_ALICE: &str = "U0FAKEUSR01";
const SLACK_BOB: &str = "U0FAKEUSR02";
const SLACK_ADMIN: &str = "U0FAKEADM01";

struct Transcript {
    started: Instant,
}

impl Transcript {
    fn step(&self, what: &str) {
        println!(
            "\n[{:>5.1}s] ── {what}",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn saw(&self, platform: &str, line: &str) {
        for (i, l) in line.lines().enumerate() {
            if i == 0 {
                println!("    {platform:<8} {l}");
            } else {
                println!("    {:<8}   {l}", "");
            }
        }
    }
}

fn slack_name(user: Option<&str>) -> &'static str {
    match user {
        Some(SLACK_ALICE) => "alice",
        Some(SLACK_BOB) => "bob",
        Some(SLACK_ADMIN) => "admin",
        _ => "?",
    }
}

fn discord_name(id: u64) -> &'static str {
    match id {
        cast::ALICE => "alice",
        cast::BOB => "bob",
        cast::ADMIN => "carol (admin)",
        _ => "?",
    }
}

/// What Slack shows in #general after a step, from the fake's own state.
fn show_slack(t: &Transcript, fake: &FakeSlack, since: usize) -> usize {
    let all = fake.messages(SLACK_GENERAL);
    for m in all.iter().skip(since) {
        let who = match (&m.username, &m.bot_id) {
            (Some(u), Some(_)) => format!("{u} (reposted by linkguard)"),
            (None, Some(_)) => "linkguard".to_owned(),
            _ => slack_name(m.user.as_deref()).to_owned(),
        };
        let thread = if m.thread_ts.is_some() {
            " [in thread]"
        } else {
            ""
        };
        let state = if m.deleted {
            "  ✗ deleted by linkguard"
        } else {
            ""
        };
        t.saw(
            "slack",
            &format!("#general {who}{thread}: {}{state}", m.text),
        );
    }
    all.len()
}

fn show_discord(t: &Transcript, fake: &FakeDiscord, since: usize) -> usize {
    let all = fake.messages(cast::GENERAL);
    for m in all.iter().skip(since) {
        let who = match (&m.webhook_id, &m.username) {
            (Some(_), Some(u)) => format!("{u} (webhook repost)"),
            (Some(_), None) => "webhook".to_owned(),
            _ if m.author_id == cast::BOT => "linkguard".to_owned(),
            _ => discord_name(m.author_id).to_owned(),
        };
        let state = if m.deleted {
            "  ✗ deleted by linkguard"
        } else {
            ""
        };
        t.saw("discord", &format!("#general {who}: {}{state}", m.content));
    }
    all.len()
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let t = Transcript {
        started: Instant::now(),
    };
    let db_path = args.database.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("linkguard-demo-{}.db", std::process::id()))
    });
    println!("linkguard demo: the real bot against a fake Slack and a fake Discord on loopback");
    println!("database: {} (SQLite)", db_path.display());

    let slack = FakeSlack::start(FakeSlackConfig::default())
        .await
        .context("starting the fake Slack")?;
    let discord = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .context("starting the fake Discord")?;
    let app = App::build(
        demo_config(&slack, &discord, &db_path),
        AppOptions {
            discord_http_client: Some(discord_client(&discord)?),
            ..AppOptions::default()
        },
    )
    .await
    .context("starting linkguard")?;
    let store: Store = app.moderator().store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    slack
        .wait_until(WAIT, |s| s.open_sockets() > 0)
        .await
        .context("linkguard did not connect to Slack")?;
    discord
        .wait_until(|s| s.connected_sessions() > 0, WAIT)
        .await
        .context("linkguard did not connect to Discord")?;
    t.step("linkguard is connected to Slack (Socket Mode) and Discord (gateway)");

    let script = play(&t, &slack, &discord, &store).await;

    t.step("end of the day: the audit log");
    print_audit(&store.list(&AuditFilter::default()).await?);
    let report = store.verify().await?;
    let _ = stop.send(());
    let _ = server.await;
    script?;
    if !report.is_ok() {
        bail!("the audit chain does not verify: {:?}", report.problem);
    }
    println!(
        "\naudit chain verified: {} records, head {}",
        report.checked,
        &report.head_hash[..16]
    );
    println!("finished in {:.1}s", t.started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// linkguard's configuration against the fakes: both platforms on, the demo
/// database, the development audit key (so `linkguard audit verify` works
/// on the demo database afterwards).
fn demo_config(slack: &FakeSlack, discord: &FakeDiscord, db_path: &Path) -> Config {
    Config {
        database_url: Secret::new(format!("sqlite://{}", db_path.display())),
        room_key: Secret::new("linkguard-demo-key"),
        audit_key: Secret::new(crate::config::DEVELOPMENT_AUDIT_KEY),
        http_addr: "127.0.0.1:0".into(),
        shutdown_timeout_secs: 5,
        slack: Some(SlackConfig {
            bot_token: Secret::new(fslack::DEFAULT_BOT_TOKEN),
            user_token: Some(Secret::new(fslack::DEFAULT_ADMIN_USER_TOKEN)),
            app_token: Some(Secret::new(fslack::DEFAULT_APP_TOKEN)),
            signing_secret: Some(Secret::new(fslack::DEFAULT_SIGNING_SECRET)),
            mode: SlackMode::Socket,
            api_url: slack.api_url().trim_end_matches('/').to_owned(),
            admin_groups: Vec::new(),
            team_ids: Vec::new(),
            admin_channel: None,
        }),
        discord: Some(DiscordConfig {
            token: Secret::new(discord.bot_token()),
            proxy_url: None,
            admin_roles: Vec::new(),
            shards: None,
            queue_capacity: crate::config::DEFAULT_DISCORD_QUEUE,
            guild_ids: vec![cast::GUILD],
            catch_up: Default::default(),
            native: Default::default(),
        }),
        ..Config::default()
    }
}

/// An HTTPS client that reaches the fake Discord as `discord.com`, trusting
/// its test CA: the production path, with serenity's rate limiter on.
fn discord_client(discord: &FakeDiscord) -> anyhow::Result<reqwest::Client> {
    let ca = reqwest::Certificate::from_pem(discord.ca_pem().as_bytes())?;
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .resolve("discord.com", discord.https_addr())
        .add_root_certificate(ca)
        .build()?)
}

/// The audit log as a table.
fn print_audit(records: &[AuditRecord]) {
    println!(
        "    {:>4}  {:<16} {:<8} {:<10} {:<8} {:<9} {:<9} link",
        "seq", "kind", "platform", "rule", "action", "outcome", ""
    );
    for r in records {
        let e = &r.entry;
        println!(
            "    {:>4}  {:<16} {:<8} {:<10} {:<8} {:<9} {}",
            r.seq,
            e.kind.as_str(),
            e.platform,
            e.rule_id.as_deref().unwrap_or("-"),
            e.action.map_or("-", AuditAction::as_str),
            e.outcome.as_ref().map_or("-", |o| o.as_str()),
            e.link.as_deref().or(e.detail.as_deref()).unwrap_or("")
        );
    }
}

/// The scripted day. Each step waits for the fake to see linkguard's answer.
async fn play(
    t: &Transcript,
    slack: &FakeSlack,
    discord: &FakeDiscord,
    store: &Store,
) -> anyhow::Result<()> {
    let discord_seen = play_links(t, slack, discord).await?;
    play_commands(t, slack).await?;
    play_monitor(t, discord, store, discord_seen).await
}

/// The morning: banned links posted, edited in and wrapped, each replaced.
/// Returns how many Discord messages the transcript has shown.
async fn play_links(
    t: &Transcript,
    slack: &FakeSlack,
    discord: &FakeDiscord,
) -> anyhow::Result<usize> {
    let mut slack_seen = 0;
    let mut discord_seen = 0;

    t.step("09:00 alice pastes a Zoom link in Slack #general");
    let ts = slack.post_user_message(SLACK_GENERAL, SLACK_ALICE, "standup moved here: <https://acme.zoom.us/j/81731411461?pwd=qirqG9ZNFufCmW> see you <!here>")?;
    slack
        .wait_until(WAIT, |s| {
            s.message(SLACK_GENERAL, &ts).is_some_and(|m| m.deleted)
        })
        .await
        .context("the Slack Zoom link was not replaced")?;
    slack_seen = show_slack(t, slack, slack_seen);

    t.step("09:05 alice pastes a Zoom link in Discord #general");
    let id = discord.post_user_message(
        cast::GENERAL,
        cast::ALICE,
        "quick sync? https://us02web.zoom.us/j/97292293535 @everyone",
    )?;
    discord
        .wait_until(|s| s.message(id).is_some_and(|m| m.deleted), WAIT)
        .await
        .context("the Discord Zoom link was not replaced")?;
    discord_seen = show_discord(t, discord, discord_seen);

    t.step("10:30 bob edits his Slack message to add a Zoom link");
    let ts = slack.post_user_message(SLACK_GENERAL, SLACK_BOB, "retro notes coming")?;
    slack.edit_user_message(
        SLACK_GENERAL,
        &ts,
        "retro notes coming, call: https://zoom.us/j/95476063503",
    )?;
    slack
        .wait_until(WAIT, |s| {
            s.message(SLACK_GENERAL, &ts).is_some_and(|m| m.deleted)
        })
        .await
        .context("the edited Slack message was not caught")?;
    show_slack(t, slack, slack_seen);

    t.step("11:00 alice forwards a Safe Links-wrapped Zoom invite on Discord");
    let wrapped = "from the customer: https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F85863766985%3Fpwd%3D4uCO2PFO1q&data=05%7C02";
    let id = discord.post_user_message(cast::GENERAL, cast::ALICE, wrapped)?;
    discord
        .wait_until(|s| s.message(id).is_some_and(|m| m.deleted), WAIT)
        .await
        .context("the wrapped Zoom link was not caught")?;
    discord_seen = show_discord(t, discord, discord_seen);
    Ok(discord_seen)
}

/// The afternoon's commands: a question, a refused edit, an admin's edit.
async fn play_commands(t: &Transcript, slack: &FakeSlack) -> anyhow::Result<()> {
    t.step("13:00 alice asks Slack: /linkguard check https://zoom.us/j/123456789");
    let reply = slack
        .slash_command(
            SLACK_GENERAL,
            SLACK_ALICE,
            "check https://zoom.us/j/123456789",
        )
        .await?;
    t.saw(
        "slack",
        &format!("(only alice sees) {}", reply.text().unwrap_or("")),
    );

    t.step("14:00 alice (not an admin) tries: /linkguard rules set no-zoom action log");
    let reply = slack
        .slash_command(SLACK_GENERAL, SLACK_ALICE, "rules set no-zoom action log")
        .await?;
    t.saw(
        "slack",
        &format!("(only alice sees) {}", reply.text().unwrap_or("")),
    );

    t.step(
        "15:00 the admin switches the Zoom rule to monitor mode: /linkguard mode monitor no-zoom",
    );
    let reply = slack
        .slash_command(SLACK_GENERAL, SLACK_ADMIN, "mode monitor no-zoom")
        .await?;
    t.saw(
        "slack",
        &format!("(only admin sees) {}", reply.text().unwrap_or("")),
    );
    Ok(())
}

/// Monitor mode: a banned link recorded as "would have acted", left alone.
async fn play_monitor(
    t: &Transcript,
    discord: &FakeDiscord,
    store: &Store,
    discord_seen: usize,
) -> anyhow::Result<()> {
    t.step("15:10 bob posts a Zoom link on Discord: monitor mode records it, touches nothing");
    let id = discord.post_user_message(
        cast::GENERAL,
        cast::BOB,
        "vendor demo: https://zoom.us/j/90805087051",
    )?;
    // In monitor mode the proof is the audit record: the message stays as it is.
    let wanted = id.to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        let records = store
            .list(&AuditFilter {
                platform: Some(Platform::Discord.into()),
                ..AuditFilter::default()
            })
            .await?;
        let monitored = records.iter().any(|r| {
            r.entry.message_id.as_deref() == Some(wanted.as_str())
                && r.entry
                    .outcome
                    .as_ref()
                    .is_some_and(|o| o.as_str() == "would_act")
        });
        if monitored {
            break;
        }
        if Instant::now() > deadline {
            bail!("monitor mode did not record bob's link");
        }
        // The store has no change feed; a short poll, bounded by the deadline.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    show_discord(t, discord, discord_seen);
    t.saw(
        "discord",
        "(linkguard recorded bob's link as \"would have replaced\" and left it alone)",
    );
    Ok(())
}
