//! Discord faults end to end: a dropped gateway is resumed and the missed
//! events are replayed and handled exactly once (a replayed event does
//! nothing twice); Invalid Session leads to a fresh identify; 429 on the
//! webhook route delays but completes the action, with serenity's limiter
//! (production path) and through a REST proxy; an action interrupted by a
//! crash is finished at the next start.

use linkguard::moderation::{Author, IncomingMessage, Platform, Revision, Step};
use linkguard::store::{Kind, Outcome, Store, StoreOptions};
use linkguard_e2e::discord_support::*;
use linkguard_fakes::discord::{cast, FakeDiscord, FakeDiscordConfig, RouteKind};
use std::time::Duration;

#[tokio::test]
async fn a_dropped_gateway_resumes_and_missed_events_are_handled_exactly_once() {
    let t = spawn_app(Setup::default()).await;
    let before = t.post(
        cast::GENERAL,
        cast::ALICE,
        "before https://zoom.us/j/500000001",
    );
    t.wait_replaced(cast::GENERAL, before, "before ").await;

    t.fake.drop_gateway();
    // Posted while linkguard is (being) disconnected: replayed on resume.
    let during: Vec<(u64, String)> = (0..3)
        .map(|i| {
            let marker = format!("during-{i} ");
            let id = t.post(
                cast::GENERAL,
                cast::BOB,
                &format!("{marker}https://zoom.us/j/50000001{i}"),
            );
            (id, marker)
        })
        .collect();
    for (id, marker) in &during {
        t.wait_replaced(cast::GENERAL, *id, marker).await;
    }
    t.fake
        .wait_until(
            |s| s.gateway_stats().resumes == 1 && s.connected_sessions() == 1,
            WAIT,
        )
        .await
        .expect("resumed");

    // Discord may deliver an event again (e.g. a resume from an older
    // sequence): the same MESSAGE_CREATE once more does nothing.
    let (replayed, replayed_marker) = during[0].clone();
    let payload = t.fake.with_state(|s| {
        s.dispatches()
            .iter()
            .find(|d| {
                d.t == "MESSAGE_CREATE" && d.d["id"].as_str() == Some(replayed.to_string().as_str())
            })
            .map(|d| d.d.clone())
    });
    t.fake
        .dispatch_raw("MESSAGE_CREATE", payload.expect("dispatched before"));
    let after = t.post(
        cast::GENERAL,
        cast::ALICE,
        "after https://zoom.us/j/500000002",
    );
    t.wait_replaced(cast::GENERAL, after, "after ").await;
    t.wait_action(after).await;

    for (id, marker) in during.iter().chain([
        &(before, "before ".to_owned()),
        &(after, "after ".to_owned()),
    ]) {
        assert_eq!(t.reposts_with(marker), 1, "{marker} reposted once");
        // The fake sees the delete a moment before the outcome is recorded.
        t.wait_action(*id).await;
        let records = t.audit_of(*id).await;
        let kinds: Vec<&Kind> = records.iter().map(|r| &r.entry.kind).collect();
        assert_eq!(
            kinds,
            [&Kind::Detected, &Kind::Action],
            "{marker}: {records:#?}"
        );
        assert_action(&records[1], "replace", Outcome::Ok);
    }
    assert_eq!(t.reposts_with(&replayed_marker), 1);
    let stats = t.fake.gateway_stats();
    assert_eq!(stats.identifies, 1, "resumed, not re-identified");
    assert_eq!(stats.resumes, 1);
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn invalid_session_leads_to_a_fresh_identify() {
    let t = spawn_app(Setup::default()).await;
    let first = t.fake.sessions()[0].session_id.clone();
    t.fake.invalidate_sessions(false);
    t.fake
        .wait_until(
            |s| s.gateway_stats().identifies == 2 && s.connected_sessions() == 1,
            WAIT,
        )
        .await
        .expect("identified afresh");
    let sessions = t.fake.sessions();
    assert!(!sessions[0].resumable && sessions[0].session_id == first);
    assert!(sessions[1].connected && sessions[1].session_id != first);

    let id = t.post(
        cast::GENERAL,
        cast::ALICE,
        "fresh https://zoom.us/j/600000001",
    );
    t.wait_replaced(cast::GENERAL, id, "fresh ").await;
    assert_action(&t.wait_action(id).await, "replace", Outcome::Ok);
    assert_eq!(t.reposts_with("fresh "), 1);
    t.stop().await;
}

#[tokio::test]
async fn a_rate_limited_webhook_delays_but_completes_the_replace() {
    let t = spawn_app(Setup::default()).await;
    t.fake.rate_limit(RouteKind::WebhookExecute, 2, 0.2);
    let id = t.post(
        cast::GENERAL,
        cast::ALICE,
        "limited https://zoom.us/j/700000001",
    );
    t.wait_replaced(cast::GENERAL, id, "limited ").await;
    assert_action(&t.wait_action(id).await, "replace", Outcome::Ok);
    let calls = t.fake.calls_to(RouteKind::WebhookExecute);
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
    // serenity waited out Retry-After before each retry.
    for pair in calls.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(200));
    }
    assert_eq!(t.reposts_with("limited "), 1);
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn through_a_rest_proxy_replace_works_and_survives_a_429() {
    let t = spawn_app(Setup {
        transport: Transport::Proxy,
        ..Setup::default()
    })
    .await;
    t.fake.rate_limit(RouteKind::WebhookExecute, 1, 0.05);
    let id = t.post(
        cast::THREAD,
        cast::ALICE,
        "proxied https://zoom.us/j/800000001",
    );
    t.wait_replaced(cast::THREAD, id, "proxied ").await;
    assert_action(&t.wait_action(id).await, "replace", Outcome::Ok);
    let statuses: Vec<u16> = t
        .fake
        .calls_to(RouteKind::WebhookExecute)
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(
        statuses,
        [429, 200],
        "linkguard retried what the proxy passed on"
    );
    assert!(
        t.fake.calls().iter().all(|c| !c.tls),
        "plain HTTP to the proxy"
    );
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn an_action_interrupted_by_a_crash_is_finished_at_the_next_start() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .expect("fake");
    let dir = tempfile::tempdir().expect("dir");
    // A message arrives and its detection is recorded, then the process dies
    // before acting.
    let id = fake
        .post_user_message(
            cast::GENERAL,
            cast::ALICE,
            "crash https://zoom.us/j/900000001",
        )
        .expect("post");
    let store = Store::open(&database_url(dir.path()), StoreOptions::default())
        .await
        .expect("store");
    // Its lease on the action runs out as quickly as the next app's retry loop expects.
    let moderator = linkguard_e2e::test_moderator(store.clone());
    let msg = IncomingMessage {
        platform: Platform::Discord,
        workspace: cast::GUILD.to_string(),
        channel: cast::GENERAL.to_string(),
        thread: None,
        message_id: id.to_string(),
        revision: Revision::original(),
        author: Author {
            id: cast::ALICE.to_string(),
            display_name: "Alice".into(),
            avatar_url: Some(alice_avatar()),
            roles: Vec::new(),
        },
        text: "crash https://zoom.us/j/900000001".into(),
        has_attachments: false,
        not_repostable: None,
        received: std::time::Instant::now(),
    };
    assert!(matches!(
        moderator.record(&msg).await.expect("record"),
        Step::Act(_)
    ));
    assert_eq!(store.pending().await.expect("pending").len(), 1);
    store.close().await;

    let t = spawn_app_with(fake, dir, Setup::default()).await;
    let repost = t.wait_replaced(cast::GENERAL, id, "crash ").await;
    assert_eq!(repost.username.as_deref(), Some("Alice"));
    assert_action(&t.wait_action(id).await, "replace", Outcome::Ok);
    t.assert_audit_sound().await;
    t.stop().await;
}
