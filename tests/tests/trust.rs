//! Tenancy: whose commands count. linkguard moderates and obeys only the
//! company's own Discord servers (`discord.guild_ids`) and Slack workspaces
//! (`slack.team_ids`, default the bot token's team). Everything here goes
//! through the real serenity and slack-morphism clients against the fakes:
//! a stranger adds the bot to a server of their own, or installs the Slack
//! app in their workspace, and tries to switch the company's policy off or
//! point everyone's Zoom links at their own site.

use linkguard::store::{AuditRecord, Kind, Outcome};
use linkguard_e2e::discord_support::{answer, sub};
use linkguard_e2e::wait_audit;
use linkguard_e2e::{discord_support as d, slack_support as s};
use linkguard_fakes::discord::{
    cast, foreign_guild, FakeDiscord, FakeDiscordConfig, RouteKind, Times,
};
use linkguard_fakes::slack::{FakeChannel, FakeTeam, FakeUser};
use serde_json::{json, Value};

/// Someone else's Slack workspace that installed the same app.
const EVIL_TEAM: &str = "T0EVILTEAM9";
const EVIL_CHANNEL: &str = "C0EVILCHAN9";
const MALLORY_SLACK: &str = "U0MALLORY99";

fn is_leave(r: &AuditRecord, guild: u64) -> bool {
    r.entry.kind == Kind::Refused
        && r.entry.action.map(|a| a.as_str()) == Some("leave")
        && r.entry.workspace.as_deref() == Some(guild.to_string().as_str())
}

/// The throttled "events from there are ignored" records of a workspace.
fn ignored_records<'a>(rows: &'a [AuditRecord], workspace: &str) -> Vec<&'a AuditRecord> {
    rows.iter()
        .filter(|r| {
            r.entry.kind == Kind::Refused
                && r.entry.action.is_none()
                && r.entry.workspace.as_deref() == Some(workspace)
        })
        .collect()
}

// ---------------------------------------------------------------- Discord

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_discord_leaves_a_server_it_is_added_to() {
    let t = d::spawn_app(d::Setup::default()).await;
    t.fake
        .wait_until(|s| !s.guild_commands(cast::GUILD).is_empty(), d::WAIT)
        .await
        .expect("/linkguard registered in the company's server");
    // Mallory adds the bot to her own server while it runs.
    t.fake.add_guild(foreign_guild(cast::BOT));
    t.fake
        .wait_until(|s| s.left_guilds().contains(&cast::FOREIGN_GUILD), d::WAIT)
        .await
        .expect("linkguard leaves the foreign server");
    let (in_foreign, in_company, guild_delete) = t.fake.with_state(|s| {
        (
            s.in_guild(cast::FOREIGN_GUILD),
            s.in_guild(cast::GUILD),
            s.dispatches().iter().any(|d| {
                d.t == "GUILD_DELETE"
                    && d.d["id"].as_str() == Some(cast::FOREIGN_GUILD.to_string().as_str())
            }),
        )
    });
    assert!(!in_foreign && in_company && guild_delete);
    let rows = wait_audit(&t.store, |rows| {
        rows.iter().any(|r| is_leave(r, cast::FOREIGN_GUILD))
    })
    .await;
    let left = rows
        .iter()
        .find(|r| is_leave(r, cast::FOREIGN_GUILD))
        .unwrap();
    assert_eq!(left.entry.outcome, Some(Outcome::Ok), "{left:?}");
    assert!(
        left.entry
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("Mallory's Server") && d.contains("discord.guild_ids")),
        "{left:?}"
    );
    // No command was ever registered there.
    assert!(t
        .fake
        .calls_to(RouteKind::GuildCommands)
        .iter()
        .all(|c| !c.path.contains(&cast::FOREIGN_GUILD.to_string())));
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_discord_foreign_server_is_neither_moderated_nor_obeyed() {
    let setup = d::Setup {
        fake: FakeDiscordConfig::default().with_foreign_guild(),
        ..d::Setup::default()
    };
    let fake = FakeDiscord::start(setup.fake.clone())
        .await
        .expect("fake discord");
    // Leaving fails, so the foreign server's events keep coming.
    fake.fail_route(RouteKind::LeaveGuild, 403, 50001, Times::Always);
    let t = d::spawn_app_with(fake, tempfile::tempdir().unwrap(), setup).await;
    let rows = wait_audit(&t.store, |rows| {
        rows.iter().any(|r| is_leave(r, cast::FOREIGN_GUILD))
    })
    .await;
    let attempt = rows
        .iter()
        .find(|r| is_leave(r, cast::FOREIGN_GUILD))
        .unwrap();
    assert_eq!(attempt.entry.outcome, Some(Outcome::Failed), "{attempt:?}");

    // Thirty banned links and an edit in the foreign server…
    let mut foreign = Vec::new();
    for i in 0..30u64 {
        foreign.push(t.post(
            cast::FOREIGN_CHANNEL,
            cast::MALLORY,
            &format!("https://zoom.us/j/91{i:08}"),
        ));
    }
    t.fake
        .edit_user_message(cast::FOREIGN_CHANNEL, foreign[0], "now https://zoom.us/j/9")
        .unwrap();
    // …and a thread started from one of them (its starter message points
    // at the banned link)…
    t.fake
        .thread_starter(cast::FOREIGN_CHANNEL, foreign[1])
        .unwrap();
    // …and mallory, administrator of her own server, tries to switch the
    // company's policy off and to send everyone's Zoom links to her site.
    for (name, text) in [
        ("mode", "monitor"),
        (
            "rules",
            "set no-zoom alternative https://evil.example/{room}",
        ),
        ("exempt", "list"),
        ("check", "https://zoom.us/j/1"),
    ] {
        let cb = t
            .fake
            .interaction(
                cast::FOREIGN_CHANNEL,
                cast::MALLORY,
                "linkguard",
                sub(name, Some(text)),
            )
            .await
            .expect("answered");
        let a = answer(&cb);
        assert!(a.contains("does not work in this server"), "{name}: {a}");
    }

    // The company's server is still enforced, with its own alternative.
    let id = t.post(cast::GENERAL, cast::ALICE, "https://zoom.us/j/900000123");
    let repost = t.wait_replaced(cast::GENERAL, id, "meet.jit.si").await;
    assert!(
        !repost.content.contains("evil.example"),
        "{}",
        repost.content
    );
    d::assert_action(&t.wait_action(id).await, "replace", Outcome::Ok);
    assert!(
        t.store.policy_history().await.unwrap().is_empty(),
        "no policy version was stored"
    );

    // Nothing was done in the foreign server: no delete, no repost, no
    // webhook, no DM to its members (only the ephemeral refusals).
    for m in t.fake.messages(cast::FOREIGN_CHANNEL) {
        let refusal = m.interaction.is_some() && m.flags & 64 == 64;
        assert!(!m.deleted && (m.webhook_id.is_none() || refusal), "{m:?}");
    }
    let foreign_channel = cast::FOREIGN_CHANNEL.to_string();
    assert!(t
        .fake
        .calls()
        .iter()
        .all(|c| !c.path.contains(&foreign_channel)));
    let mallory_dm = t.fake.dm_channel(cast::MALLORY).unwrap();
    assert!(t.fake.messages(mallory_dm).is_empty());

    // One record says the foreign server is being ignored, not thirty-five;
    // nothing about its messages reached the pipeline.
    let rows = t.store.list(&Default::default()).await.unwrap();
    let foreign_id = cast::FOREIGN_GUILD.to_string();
    assert_eq!(ignored_records(&rows, &foreign_id).len(), 1, "{rows:#?}");
    assert!(rows.iter().all(|r| r.entry.kind != Kind::Detected
        || r.entry.workspace.as_deref() != Some(foreign_id.as_str())));
    assert!(rows.iter().all(|r| r.entry.kind != Kind::PolicyChanged));
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_discord_command_is_registered_per_server_never_globally() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .expect("fake discord");
    // An earlier version registered /linkguard globally: offered everywhere.
    let stale = fake.add_global_command("linkguard", "Check meeting links");
    let t = d::spawn_app_with(fake, tempfile::tempdir().unwrap(), d::Setup::default()).await;
    t.fake
        .wait_until(
            |s| s.global_commands().is_empty() && !s.guild_commands(cast::GUILD).is_empty(),
            d::WAIT,
        )
        .await
        .expect("global command removed, guild command registered");
    let registered = t
        .fake
        .with_state(|s| s.guild_commands(cast::GUILD).to_vec());
    // `/linkguard` and the "Check links" message command, both for this server.
    let names: Vec<&str> = registered
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "linkguard").count(), 1);
    assert!(
        names
            .iter()
            .all(|n| ["linkguard", "Check links"].contains(n)),
        "{names:?}"
    );
    let guild = cast::GUILD.to_string();
    assert!(registered.iter().all(|c| c["guild_id"] == guild.as_str()));
    let global = t.fake.calls_to(RouteKind::GlobalCommands);
    assert!(
        global
            .iter()
            .all(|c| c.method != "PUT" && c.method != "POST"),
        "never registered globally: {global:#?}"
    );
    assert!(global
        .iter()
        .any(|c| c.method == "DELETE" && c.path.ends_with(&stale.to_string())));
    let put = t.fake.last_call(RouteKind::GuildCommands).unwrap();
    assert_eq!(put.method, "PUT");
    assert!(put.path.ends_with(&format!(
        "/applications/{}/guilds/{}/commands",
        cast::APPLICATION,
        cast::GUILD
    )));
    wait_audit(&t.store, |rows| {
        rows.iter()
            .any(|r| r.entry.action.map(|a| a.as_str()) == Some("unregister"))
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_discord_dms_answer_members_only_and_grant_no_admin_rights() {
    let setup = d::Setup {
        fake: FakeDiscordConfig::default().with_foreign_guild(),
        ..d::Setup::default()
    };
    let t = d::spawn_app(setup).await;
    t.fake
        .wait_until(|s| s.left_guilds().contains(&cast::FOREIGN_GUILD), d::WAIT)
        .await
        .expect("the foreign server is left");

    // alice, a member of the company's server, asks in a DM.
    t.fake.post_dm(cast::ALICE, "can I use zoom?").unwrap();
    let alice_dm = t.fake.dm_channel(cast::ALICE).unwrap();
    t.fake
        .wait_until(
            |s| {
                s.messages(alice_dm)
                    .iter()
                    .any(|m| m.author_id == cast::BOT && m.content.contains("not allowed"))
            },
            d::WAIT,
        )
        .await
        .expect("a member's question is answered");

    // mallory shares no server with the company: declined, nothing told.
    t.fake.post_dm(cast::MALLORY, "can I use zoom?").unwrap();
    let mallory_dm = t.fake.dm_channel(cast::MALLORY).unwrap();
    t.fake
        .wait_until(
            |s| {
                s.messages(mallory_dm)
                    .iter()
                    .any(|m| m.author_id == cast::BOT)
            },
            d::WAIT,
        )
        .await
        .expect("a stranger's DM is declined");
    let reply: Vec<String> = t
        .fake
        .messages(mallory_dm)
        .into_iter()
        .filter(|m| m.author_id == cast::BOT)
        .map(|m| m.content)
        .collect();
    assert!(
        reply[0].contains("only answer members") && !reply[0].contains("zoom"),
        "{reply:?}"
    );

    // carol administers the company's server, but a DM carries no server
    // permissions: admin commands are refused there.
    let carol_dm = t.fake.dm_channel(cast::ADMIN).unwrap();
    let cb = t
        .fake
        .interaction(
            carol_dm,
            cast::ADMIN,
            "linkguard",
            sub("mode", Some("monitor")),
        )
        .await
        .unwrap();
    let a = answer(&cb);
    assert!(a.contains("only linkguard admins"), "{a}");
    let cb = t
        .fake
        .interaction(mallory_dm, cast::MALLORY, "linkguard", sub("allowed", None))
        .await
        .unwrap();
    let a = answer(&cb);
    assert!(a.contains("only answer members"), "{a}");
    assert!(t.store.policy_history().await.unwrap().is_empty());
    t.stop().await;
}

// ------------------------------------------------------------------ Slack

fn evil_team() -> FakeTeam {
    FakeTeam {
        id: EVIL_TEAM.into(),
        name: "Mallory Inc".into(),
        domain: "mallory".into(),
    }
}

fn evil_channel() -> FakeChannel {
    FakeChannel {
        id: EVIL_CHANNEL.into(),
        name: "general".into(),
        is_private: false,
        is_archived: false,
        is_general: true,
        members: vec![MALLORY_SLACK.into()],
        topic: String::new(),
        purpose: String::new(),
    }
}

fn mallory() -> FakeUser {
    FakeUser::member(MALLORY_SLACK, "mallory", "Mallory").admin()
}

fn evil_message(i: u32) -> Value {
    json!({
        "type": "message",
        "channel": EVIL_CHANNEL,
        "channel_type": "channel",
        "user": MALLORY_SLACK,
        "text": format!("<https://zoom.us/j/93{i:08}>"),
        "ts": format!("1700000000.{i:06}"),
        "event_ts": format!("1700000000.{i:06}"),
        "team": EVIL_TEAM,
    })
}

/// No Web API call mentions the foreign channel or user.
fn untouched(app: &s::TestApp) {
    for c in app.fake.calls() {
        let p = c.params.to_string();
        assert!(
            !p.contains(EVIL_CHANNEL) && !p.contains(MALLORY_SLACK),
            "{} {p}",
            c.method
        );
    }
}

async fn slack_foreign_team_is_ignored(mode: linkguard::config::SlackMode) {
    let app = s::spawn_app(s::Setup {
        mode,
        ..s::Setup::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(app.fake.send_event_from_team(EVIL_TEAM, evil_message(i)));
    }
    // A mention with an admin command, from an admin of that workspace.
    ids.push(app.fake.send_event_from_team(
        EVIL_TEAM,
        json!({
            "type": "app_mention",
            "channel": EVIL_CHANNEL,
            "user": MALLORY_SLACK,
            "text": "<@U0FAKEBOT01> mode monitor",
            "ts": "1700000001.000100",
            "event_ts": "1700000001.000100",
        }),
    ));
    // Acknowledged (so Slack does not redeliver), and only then dropped.
    app.fake
        .wait_until(s::WAIT, |st| ids.iter().all(|id| st.event_acked(id)))
        .await
        .expect("foreign events are acknowledged");
    // The slash command from there is refused.
    let reply = app
        .fake
        .slash_command_from_team(
            &evil_team(),
            &evil_channel(),
            &mallory(),
            "rules set no-zoom alternative https://evil.example/{room}",
        )
        .await
        .expect("answered");
    let text = reply.text().unwrap_or_default().to_owned();
    assert!(text.contains("does not work in this workspace"), "{text}");

    // The company's own workspace is still enforced, as before.
    let ts = app
        .fake
        .post_user_message(s::GENERAL, s::ALICE, "https://zoom.us/j/92147718999")
        .unwrap();
    app.wait_message(s::GENERAL, &ts, |m| m.deleted).await;
    let reposts = app.reposts(s::GENERAL);
    assert!(
        reposts
            .iter()
            .any(|m| m.text.contains("meet.jit.si") && !m.text.contains("evil.example")),
        "{reposts:#?}"
    );
    untouched(&app);
    assert!(app.store.policy_history().await.unwrap().is_empty());
    let rows = app.audit().await;
    assert_eq!(ignored_records(&rows, EVIL_TEAM).len(), 1, "{rows:#?}");
    assert!(
        rows.iter()
            .all(|r| r.entry.kind != Kind::Detected
                || r.entry.workspace.as_deref() != Some(EVIL_TEAM))
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_slack_other_workspace_is_ignored_over_socket_mode() {
    slack_foreign_team_is_ignored(linkguard::config::SlackMode::Socket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_slack_other_workspace_is_ignored_over_the_events_api() {
    slack_foreign_team_is_ignored(linkguard::config::SlackMode::Http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_slack_team_ids_lists_every_workspace_of_a_grid() {
    // Two workspaces of one Enterprise Grid org, both listed.
    let app = s::spawn_app(s::Setup {
        team_ids: vec!["T0FAKETEAM1".into(), "T0SECONDWS2".into()],
        ..s::Setup::default()
    })
    .await;
    let id = app.fake.send_event_from_team(
        "T0SECONDWS2",
        json!({
            "type": "message",
            "channel": s::GENERAL,
            "channel_type": "channel",
            "user": s::BOB,
            "text": "<https://zoom.us/j/94000000001>",
            "ts": "1700000002.000001",
            "event_ts": "1700000002.000001",
        }),
    );
    app.fake
        .wait_until(s::WAIT, |st| st.event_acked(&id))
        .await
        .unwrap();
    let rows = app
        .wait_audit(|rows| {
            rows.iter().any(|r| {
                r.entry.kind == Kind::Detected
                    && r.entry.workspace.as_deref() == Some("T0SECONDWS2")
            })
        })
        .await;
    assert!(ignored_records(&rows, "T0SECONDWS2").is_empty());
    // A third workspace is still a stranger.
    let id = app.fake.send_event_from_team(EVIL_TEAM, evil_message(1));
    app.fake
        .wait_until(s::WAIT, |st| st.event_acked(&id))
        .await
        .unwrap();
    app.wait_audit(|rows| ignored_records(rows, EVIL_TEAM).len() == 1)
        .await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_slack_external_admin_in_a_shared_channel_is_not_an_admin() {
    // A Slack Connect channel: dana is an admin of her own workspace, a
    // partner's, and a member of #general here.
    const DANA: &str = "U0EXTDANA01";
    let mut setup = s::Setup::default();
    setup.fake.users.push(
        FakeUser::member(DANA, "dana", "Dana Partner")
            .admin()
            .external("T0PARTNER01"),
    );
    setup.fake.channels[0].members.push(DANA.into());
    let app = s::spawn_app(setup).await;
    app.fake.send_event(json!({
        "type": "app_mention",
        "channel": s::GENERAL,
        "user": DANA,
        "text": "<@U0FAKEBOT01> mode monitor",
        "ts": "1700000003.000100",
        "event_ts": "1700000003.000100",
    }));
    app.fake
        .wait_until(s::WAIT, |st| st.ephemerals().iter().any(|e| e.user == DANA))
        .await
        .expect("dana is answered privately");
    let eph = app
        .fake
        .ephemerals()
        .into_iter()
        .find(|e| e.user == DANA)
        .unwrap();
    assert!(eph.text.contains("only linkguard admins"), "{}", eph.text);
    assert!(app.store.policy_history().await.unwrap().is_empty());
    // A workspace admin of ours still is one.
    app.fake.send_event(json!({
        "type": "app_mention",
        "channel": s::GENERAL,
        "user": s::ADMIN,
        "text": "<@U0FAKEBOT01> mode monitor",
        "ts": "1700000003.000200",
        "event_ts": "1700000003.000200",
    }));
    app.fake
        .wait_until(s::WAIT, |st| {
            st.ephemerals().iter().any(|e| e.user == s::ADMIN)
        })
        .await
        .expect("the admin is answered");
    let eph = app
        .fake
        .ephemerals()
        .into_iter()
        .find(|e| e.user == s::ADMIN)
        .unwrap();
    assert!(eph.text.contains("now in monitor mode"), "{}", eph.text);
    app.finish().await;
}
