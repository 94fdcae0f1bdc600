//! Slack end to end: the real linkguard (slack-morphism client, pipeline,
//! SQLite store) against the fake Slack over loopback.

use linkguard::config::SlackMode;
use linkguard_e2e::slack_support::{outcome_for, spawn_app, Setup, ADMIN, ALICE, BOB, GENERAL};
use linkguard_fakes::slack::{FakeSlackConfig, SignMode};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zoom_link_is_replaced_and_both_steps_are_audited() {
    let app = spawn_app(Setup::default()).await;
    let ts = app
        .fake
        .post_user_message(GENERAL, ALICE, "standup: <https://acme.zoom.us/j/81731411461?pwd=abc|join> &amp; bring coffee <!channel> <@U0FAKEUSR02>")
        .unwrap();
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    let reposts = app.reposts(GENERAL);
    assert_eq!(reposts.len(), 1, "{reposts:#?}");
    let r = &reposts[0];
    assert_eq!(r.username.as_deref(), Some("alice"));
    assert!(
        r.text
            .starts_with("standup: <https://meet.jit.si/linkguard-"),
        "{}",
        r.text
    );
    // Only the link changed; the label and escapes stay; the broadcast is
    // defused and bob is named, not mentioned again: the repost pings nobody.
    assert!(
        r.text
            .contains("|join> &amp; bring coffee @channel @bob\n_(reposted by linkguard"),
        "{}",
        r.text
    );
    // The repost came before the delete, which used the admin's user token.
    let calls = app.fake.calls();
    let post = calls
        .iter()
        .position(|c| c.method == "chat.postMessage" && c.ok())
        .unwrap();
    let delete = calls
        .iter()
        .position(|c| c.method == "chat.delete" && c.ok())
        .unwrap();
    assert!(post < delete);
    let rows = app
        .wait_audit(|rows| outcome_for(rows, &ts).is_some())
        .await;
    let detected: Vec<_> = rows
        .iter()
        .filter(|r| r.entry.kind.as_str() == "detected")
        .collect();
    assert_eq!(detected.len(), 1);
    assert_eq!(
        detected[0].entry.link.as_deref(),
        Some("https://acme.zoom.us/j/81731411461?pwd=[redacted]")
    );
    assert_eq!(detected[0].entry.rule_id.as_deref(), Some("no-zoom"));
    assert_eq!(outcome_for(&rows, &ts).unwrap().0, "replace");
    assert_eq!(outcome_for(&rows, &ts).unwrap().1, "ok");
    // Our own repost comes back as an event: once linkguard has acknowledged
    // that echo it has been judged, and it caused nothing more.
    app.wait_acked(&r.ts).await;
    let rows = app.audit().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.entry.kind.as_str() == "detected")
            .count(),
        1,
        "the echo was not moderated"
    );
    assert_eq!(app.reposts(GENERAL).len(), 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_only_a_bot_token_it_replies_in_thread_and_warns_privately() {
    let app = spawn_app(Setup::bot_token_only()).await;
    let ts = app
        .fake
        .post_user_message(GENERAL, ALICE, "https://zoom.us/j/92147718123")
        .unwrap();
    // A bot token cannot delete: the message stays.
    let r = app.wait_degraded_reply(GENERAL, &ts).await;
    let eph = &app.fake.ephemerals()[0];
    assert_eq!(eph.user, ALICE);
    assert!(
        eph.text.contains("Use this instead") && eph.text.contains("Need an exception?"),
        "{}",
        eph.text
    );
    assert!(
        r.detail.contains("no Slack admin user token"),
        "{}",
        r.detail
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_thread_replies_are_caught_where_they_happen() {
    let app = spawn_app(Setup::default()).await;
    let ts = app
        .fake
        .post_user_message(GENERAL, BOB, "notes soon")
        .unwrap();
    app.fake
        .edit_user_message(
            GENERAL,
            &ts,
            "notes soon, call: https://zoom.us/j/95476063503",
        )
        .unwrap();
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;

    let parent = app
        .fake
        .post_user_message(GENERAL, ALICE, "thread for the retro")
        .unwrap();
    let reply = app
        .fake
        .post_thread_reply(
            GENERAL,
            BOB,
            &parent,
            "here: https://us02web.zoom.us/j/97292293535",
        )
        .unwrap();
    app.wait_message(GENERAL, &reply, |m| m.deleted).await;
    let reposts = app.reposts(GENERAL);
    assert_eq!(reposts.len(), 2, "{reposts:#?}");
    assert_eq!(
        reposts[1].thread_ts.as_deref(),
        Some(parent.as_str()),
        "the repost stays in the thread"
    );
    assert!(!app
        .fake
        .with_state(|s| s.message(GENERAL, &parent).unwrap().deleted));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_api_rejects_forgeries_and_handles_a_retry_once() {
    let app = spawn_app(Setup {
        mode: SlackMode::Http,
        ..Setup::default()
    })
    .await;
    let v = app.fake.url_verification().await.unwrap();
    assert!(v.echoed, "{v:?}");

    let body = serde_json::json!({"type": "event_callback", "team_id": "T0FAKETEAM1", "api_app_id": "A0FAKEAPP01",
        "event": {"type": "message", "user": "U0FAKEUSR01", "text": "x", "ts": "1.000001", "channel": "C0FAKECHAN1", "channel_type": "channel"},
        "event_id": "Ev0FORGED", "event_time": 1}).to_string();
    for (mode, status) in [
        (SignMode::Forged, 401),
        (SignMode::Stale, 401),
        (SignMode::Unsigned, 401),
    ] {
        let r = app.fake.send_raw_event(&body, mode).await.unwrap();
        assert_eq!(r.status, status, "{mode:?}");
    }
    let r = app
        .fake
        .send_raw_event("{not json", SignMode::Valid)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    let rows = app.audit().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.entry.kind.as_str() == "rejected_request")
            .count(),
        3
    );

    // Slack redelivers an event it thinks was not acknowledged (same
    // event_id, X-Slack-Retry-Num): the redelivery is recognised and nothing
    // is done twice.
    let ts = app
        .fake
        .post_user_message(GENERAL, ALICE, "https://zoom.us/j/84640446752")
        .unwrap();
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    let original = app
        .fake
        .with_state(|s| {
            s.events()
                .iter()
                .find(|e| e["event"]["ts"] == ts.as_str())
                .cloned()
        })
        .expect("the event as delivered");
    let r = app
        .fake
        .redeliver_event(&original.to_string(), 1, "http_timeout")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "a redelivery is acknowledged");
    assert_eq!(
        app.reposts(GENERAL).len(),
        1,
        "the redelivered event did nothing"
    );
    let rows = app
        .wait_audit(|rows| outcome_for(rows, &ts).is_some())
        .await;
    let about_it = |kind: &str| {
        rows.iter()
            .filter(|r| {
                r.entry.kind.as_str() == kind && r.entry.message_id.as_deref() == Some(ts.as_str())
            })
            .count()
    };
    assert_eq!(
        (about_it("detected"), about_it("action")),
        (1, 1),
        "{rows:#?}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_delay_but_complete_and_a_failed_delete_is_recorded() {
    let app = spawn_app(Setup::default()).await;
    app.fake.rate_limit("chat.postMessage", 1, 1);
    let started = Instant::now();
    let ts = app
        .fake
        .post_user_message(GENERAL, ALICE, "https://zoom.us/j/88624683795")
        .unwrap();
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let statuses: Vec<u16> = app
        .fake
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage")
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![429, 200]);

    app.fake.fail_next("chat.delete", "message_not_found");
    let ts = app
        .fake
        .post_user_message(GENERAL, BOB, "https://zoom.us/j/85687718218")
        .unwrap();
    let rows = app
        .wait_audit(|rows| outcome_for(rows, &ts).is_some())
        .await;
    let (action, outcome, detail) = outcome_for(&rows, &ts).unwrap();
    assert_eq!(
        (action.as_str(), outcome.as_str()),
        ("replace", "failed"),
        "{detail:?}"
    );
    assert!(detail.unwrap().contains("message_not_found"));
    let msgs = app.fake.messages(GENERAL);
    assert!(
        !msgs.iter().find(|m| m.ts == ts).unwrap().deleted,
        "the original stays"
    );
    // The repost was taken back, so there are not two copies.
    assert_eq!(
        app.fake.with_state(|s| s
            .visible_messages(GENERAL)
            .iter()
            .filter(|m| m.username.as_deref() == Some("bob"))
            .count()),
        0
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_loses_and_doubles_nothing() {
    let app = spawn_app(Setup::default()).await;
    let mut banned = Vec::new();
    for i in 0..10 {
        if i == 5 {
            app.fake.drop_sockets();
        }
        let ts = app
            .fake
            .post_user_message(
                GENERAL,
                ALICE,
                &format!("call {i}: https://zoom.us/j/9{i:010}"),
            )
            .unwrap();
        banned.push(ts);
    }
    for ts in &banned {
        app.wait_message(GENERAL, ts, |m| m.deleted).await;
    }
    assert_eq!(
        app.reposts(GENERAL).len(),
        10,
        "each violation handled exactly once"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_ask_and_admins_edit_through_slash_commands() {
    let app = spawn_app(Setup::default()).await;
    let r = app
        .fake
        .slash_command(GENERAL, ALICE, "check https://zoom.us/j/123456789")
        .await
        .unwrap();
    let text = r.text().unwrap().to_owned();
    assert!(
        text.contains("not allowed, rule `no-zoom`")
            && text.contains("https://meet.jit.si/linkguard-"),
        "{text}"
    );
    let r = app
        .fake
        .slash_command(GENERAL, ALICE, "rules remove no-zoom")
        .await
        .unwrap();
    assert!(r.text().unwrap().contains("only linkguard admins"));
    let r = app
        .fake
        .slash_command(GENERAL, ADMIN, "rules add legacy patterns=(bad action=warn")
        .await
        .unwrap();
    assert!(
        r.text().unwrap().contains("invalid regex"),
        "{:?}",
        r.text()
    );
    let r = app
        .fake
        .slash_command(
            GENERAL,
            ADMIN,
            "exempt <@U0FAKEUSR02|bob> for 1h because vendor demo",
        )
        .await
        .unwrap();
    assert!(
        r.text().unwrap().contains("Exception #1 granted"),
        "{:?}",
        r.text()
    );
    let ts = app
        .fake
        .post_user_message(GENERAL, BOB, "vendor: https://zoom.us/j/90805087051")
        .unwrap();
    let rows = app
        .wait_audit(|rows| {
            rows.iter().any(|r| {
                r.entry.kind.as_str() == "exception"
                    && r.entry.message_id.as_deref() == Some(ts.as_str())
            })
        })
        .await;
    assert!(rows.iter().any(|r| r.entry.kind.as_str() == "refused"));
    assert!(
        !app.fake
            .with_state(|s| s.message(GENERAL, &ts).unwrap().deleted),
        "bob is excepted"
    );
    app.finish().await;
}

#[test]
fn the_fake_default_cast_has_an_admin() {
    let c = FakeSlackConfig::default();
    assert!(c.users.iter().any(|u| u.id == ADMIN));
}
