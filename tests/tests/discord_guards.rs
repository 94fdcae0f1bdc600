//! Discord guard rails end to end: linkguard never loops on its own bot or
//! webhooks, ignores other bots by default, and degrades (audited as
//! degraded, with the reason) when a permission is missing, when Discord
//! refuses the delete, when a repost would lose files, in DMs,
//! and when the author's DMs are closed.

use linkguard::store::{Kind, Outcome};
use linkguard_e2e::discord_support::*;
use linkguard_fakes::discord::{cast, perms, FakeDiscordConfig, RouteKind, Times, UserMessage};
use serde_json::{json, Value};

fn id_of(v: &Value) -> u64 {
    v["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
}

#[tokio::test]
async fn own_bot_and_own_webhook_messages_never_loop() {
    // Bots are moderated here, so only the own-message guard keeps linkguard
    // from acting on its own webhook's and bot's messages.
    let t = spawn_app(Setup {
        moderate_bots: true,
        ..Setup::default()
    })
    .await;
    let first = t.post(
        cast::GENERAL,
        cast::ALICE,
        "first https://zoom.us/j/100000001",
    );
    t.wait_replaced(cast::GENERAL, first, "first ").await;
    let hook = t
        .store
        .discord_webhook(&cast::GENERAL.to_string())
        .await
        .expect("store")
        .expect("webhook");

    // Something posts a Zoom link through linkguard's own webhook, and as the bot.
    let own_hook = rest(
        &t,
        &format!("/webhooks/{}/{}?wait=true", hook.id, hook.token),
        json!({"content": "own webhook https://zoom.us/j/100000002", "username": "Alice"}),
        false,
    )
    .await;
    let own_bot = rest(
        &t,
        &format!("/channels/{}/messages", cast::GENERAL),
        json!({"content": "own bot https://zoom.us/j/100000003"}),
        true,
    )
    .await;
    // Another webhook's link is moderated (bots are on), which proves events
    // after ours were processed.
    let other = rest(
        &t,
        &format!("/channels/{}/webhooks", cast::GENERAL),
        json!({"name": "ci-notifier"}),
        true,
    )
    .await;
    let other_msg = rest(
        &t,
        &format!(
            "/webhooks/{}/{}?wait=true",
            other["id"].as_str().expect("id"),
            other["token"].as_str().expect("token")
        ),
        json!({"content": "other webhook https://zoom.us/j/100000004"}),
        false,
    )
    .await;
    let replaced = t
        .wait_replaced(cast::GENERAL, id_of(&other_msg), "other webhook ")
        .await;
    assert_eq!(replaced.username.as_deref(), Some("ci-notifier"));
    assert_action(
        &t.wait_action(id_of(&other_msg)).await,
        "replace",
        Outcome::Ok,
    );
    // Events run concurrently, so the other webhook's replacement says
    // nothing about ours: wait until every message up to linkguard's own
    // last repost has been handled, then look for what they caused.
    t.wait_handled_through(cast::GENERAL, replaced.id).await;

    for id in [id_of(&own_hook), id_of(&own_bot)] {
        assert!(
            !t.fake.message(id).expect("stored").deleted,
            "{id} left alone"
        );
        assert!(t.audit_of(id).await.is_empty(), "{id} not even recorded");
    }
    // linkguard's own reposts were not moderated either: two detections in all.
    let detections = t
        .audit()
        .await
        .into_iter()
        .filter(|r| r.entry.kind == Kind::Detected)
        .count();
    assert_eq!(detections, 2);
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn other_bots_and_webhooks_are_ignored_by_default() {
    let t = spawn_app(Setup::default()).await;
    let url = other_webhook(&t).await;
    let msg = rest(
        &t,
        &url,
        json!({"content": "deploy call https://zoom.us/j/100000005"}),
        false,
    )
    .await;
    let person = t.post(
        cast::GENERAL,
        cast::BOB,
        "person https://zoom.us/j/100000006",
    );
    let repost = t.wait_replaced(cast::GENERAL, person, "person ").await;
    assert_action(&t.wait_action(person).await, "replace", Outcome::Ok);
    // The person's message may have been handled before the bot's: wait
    // until everything up to the repost is, then check the bot's was ignored.
    t.wait_handled_through(cast::GENERAL, repost.id).await;
    assert!(!t.fake.message(id_of(&msg)).expect("stored").deleted);
    assert!(t.audit_of(id_of(&msg)).await.is_empty());
    t.stop().await;
}

#[tokio::test]
async fn a_policy_that_moderates_bots_applies_without_a_restart() {
    let t = spawn_app(Setup::default()).await;
    let url = other_webhook(&t).await;
    // What `/linkguard bots on` writes: a new policy version.
    let body = format!(
        "moderate_bots = true\n{}",
        linkguard_rules::policy::DEFAULT_POLICY
    );
    t.store
        .policy_import(&body, "test:admin", "test")
        .await
        .expect("policy stored");
    // Replicas see a new version within a poll; keep posting until one is
    // moderated.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut n = 0;
    let moderated = loop {
        n += 1;
        let msg = rest(
            &t,
            &url,
            json!({"content": format!("deploy call https://zoom.us/j/10000010{n}")}),
            false,
        )
        .await;
        let id = id_of(&msg);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if !t.audit_of(id).await.is_empty() {
            break id;
        }
        assert!(std::time::Instant::now() < deadline, "never moderated");
    };
    assert_action(&t.wait_action(moderated).await, "replace", Outcome::Ok);
    t.stop().await;
}

#[tokio::test]
async fn missing_permissions_degrade_to_a_reply_and_are_audited() {
    let fake = FakeDiscordConfig::default()
        .bot_channel_overwrite(cast::GENERAL, 0, perms::MANAGE_MESSAGES)
        .bot_channel_overwrite(cast::RANDOM, 0, perms::MANAGE_WEBHOOKS);
    let t = spawn_app(Setup {
        fake,
        ..Setup::default()
    })
    .await;
    for (channel, user, missing) in [
        (cast::GENERAL, cast::ALICE, "Manage Messages"),
        (cast::RANDOM, cast::BOB, "Manage Webhooks"),
    ] {
        let id = t.post(channel, user, "sync https://zoom.us/j/200000001");
        let action = t.wait_action(id).await;
        assert_action(&action, "reply", Outcome::Degraded);
        let detail = action.entry.detail.clone().unwrap_or_default();
        assert!(
            detail.contains("replace refused") && detail.contains(missing),
            "{detail}"
        );
        // The reply answers the message, pings only its author, and offers the alternative.
        let reply = t
            .fake
            .messages(channel)
            .into_iter()
            .find(|m| m.author_id == cast::BOT && m.message_reference.is_some())
            .expect("reply");
        assert_eq!(
            reply.message_reference.as_ref().expect("ref")["message_id"],
            id.to_string()
        );
        assert!(
            reply.content.contains("https://meet.jit.si/linkguard-"),
            "{}",
            reply.content
        );
        assert_eq!(
            reply.allowed_mentions,
            Some(json!({"parse": [], "users": [], "roles": [], "replied_user": true}))
        );
        assert!(
            !t.fake.message(id).expect("original").deleted,
            "original kept"
        );
        // The author also hears it privately.
        let dm = t.fake.dm_channel(user).expect("dm channel");
        t.fake
            .wait_until(
                |s| s.messages(dm).iter().any(|m| m.author_id == cast::BOT),
                WAIT,
            )
            .await
            .expect("DM to the author");
    }
    assert!(
        t.executed().is_empty(),
        "no repost without both permissions"
    );
    assert!(t.webhooks().is_empty());
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn a_refused_delete_takes_the_repost_back_and_replies_instead() {
    let t = spawn_app(Setup::default()).await;
    // The cache says the bot may delete, but Discord refuses (e.g. a role changed).
    t.fake
        .fail_route(RouteKind::DeleteMessage, 403, 50013, Times::Once);
    let id = t.post(
        cast::GENERAL,
        cast::ALICE,
        "retro https://zoom.us/j/300000001",
    );
    let action = t.wait_action(id).await;
    assert_action(&action, "reply", Outcome::Degraded);
    let detail = action.entry.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("deleting the original") && detail.contains("repost removed"),
        "{detail}"
    );
    let messages = t.fake.messages(cast::GENERAL);
    let repost = messages
        .iter()
        .find(|m| is_repost(m))
        .expect("the repost existed");
    assert!(repost.deleted, "the repost is taken back");
    assert!(
        !t.fake.message(id).expect("original").deleted,
        "the author's message is kept"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.author_id == cast::BOT && !m.deleted),
        "reply"
    );
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn files_overlong_reposts_dms_and_closed_dms_degrade() {
    // (An over-long repost is removed and sent back privately: see
    // `trust_shapes_discord`.)
    let t = spawn_app(Setup::default()).await;
    // Attachments would be lost by a repost. And the author's DMs are closed:
    // the reply still happens, the private notice is refused, and both are said.
    t.fake
        .fail_route(RouteKind::CreateDm, 403, 50007, Times::Once);
    let with_file = t
        .fake
        .post(
            UserMessage::new(
                cast::GENERAL,
                cast::ALICE,
                "slides + https://zoom.us/j/400000001",
            )
            .attachment("deck.pdf", 2048),
        )
        .expect("post");
    let a = t.wait_action(with_file).await;
    assert_action(&a, "reply", Outcome::Degraded);
    let detail = a.entry.detail.clone().unwrap_or_default();
    assert!(detail.contains("attachments"), "{detail}");
    assert!(
        detail.contains("private notice not sent") && detail.contains("50007"),
        "{detail}"
    );

    // Rewritten text plus attribution over 2,000 characters: it cannot be
    // reposted, so it is removed and Bob gets the rewritten text by DM.
    let long = format!("{} https://zoom.us/j/400000002", "x".repeat(1900));
    let overlong = t.post(cast::GENERAL, cast::BOB, &long);
    let a = t.wait_action(overlong).await;
    assert_action(&a, "delete", Outcome::Degraded);
    assert!(t.fake.message(overlong).expect("stored").deleted);
    assert!(
        a.entry
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("2000"),
        "{a:?}"
    );

    // A DM to the bot is a question, not a violation: it is answered in the
    // DM with the verdict, and nothing is moderated or recorded as detected.
    let dm = t
        .fake
        .post_dm(cast::BOB, "is https://zoom.us/j/400000003 ok?")
        .expect("dm");
    let dm_channel = t.fake.dm_channel(cast::BOB).expect("dm channel");
    t.fake
        .wait_until(
            |s| {
                s.messages(dm_channel).iter().any(|m| {
                    m.author_id == cast::BOT && m.content.contains("not allowed, rule `no-zoom`")
                })
            },
            WAIT,
        )
        .await
        .expect("the question is answered in the DM");
    assert!(t.executed().is_empty(), "nothing was reposted");
    for id in [with_file, dm] {
        assert!(!t.fake.message(id).expect("kept").deleted);
    }
    t.assert_audit_sound().await;
    t.stop().await;
}
