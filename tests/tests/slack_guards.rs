//! Slack guards end to end: other bots and integrations are left alone
//! unless `slack.moderate_bots` is set (or an admin says `bots on`), and a
//! file share is judged by its text but never deleted (a repost would lose
//! the file).

use linkguard_e2e::slack_support::{
    outcome_for, spawn_app, Setup, TestApp, ADMIN, ALICE, GENERAL, WAIT,
};
use linkguard_fakes::slack::OtherBot;

/// Another bot (a CI notifier) posts a Zoom link in #general.
fn post_ci_call(app: &TestApp) -> String {
    app.fake
        .post_bot_message(
            GENERAL,
            &OtherBot::ci_notifier(),
            "build call: https://zoom.us/j/91234567890",
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_bots_link_is_left_alone_by_default() {
    let app = spawn_app(Setup::default()).await;
    let ts = post_ci_call(&app);
    // Acknowledged means judged: a detection would be recorded by now.
    app.wait_acked(&ts).await;
    let rows = app.audit().await;
    assert!(
        rows.iter().all(|r| r.entry.kind.as_str() != "detected"),
        "{rows:#?}"
    );
    assert!(!app
        .fake
        .with_state(|s| s.message(GENERAL, &ts).unwrap().deleted));
    assert!(
        app.fake
            .calls()
            .iter()
            .all(|c| !c.method.starts_with("chat.")),
        "nothing was posted or deleted"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_bots_link_is_replaced_when_configured() {
    let app = spawn_app(Setup {
        moderate_bots: true,
        ..Setup::default()
    })
    .await;
    let ts = post_ci_call(&app);
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    let reposts = app.reposts(GENERAL);
    assert_eq!(reposts.len(), 1, "{reposts:#?}");
    assert_eq!(reposts[0].username.as_deref(), Some("ci-notifier"));
    assert!(
        reposts[0]
            .text
            .starts_with("build call: https://meet.jit.si/linkguard-"),
        "{}",
        reposts[0].text
    );
    // Our repost of it is still ours: no second round. Its event is
    // recorded before it is acknowledged, so once acknowledged a detection
    // would be in the log (a second repost would only come after it).
    app.wait_acked(&reposts[0].ts).await;
    let rows = app.audit().await;
    assert!(
        rows.iter().all(|r| r.entry.kind.as_str() != "detected"
            || r.entry.message_id.as_deref() != Some(reposts[0].ts.as_str())),
        "{rows:#?}"
    );
    assert_eq!(app.reposts(GENERAL).len(), 1);
    let rows = app
        .wait_audit(|rows| outcome_for(rows, &ts).is_some())
        .await;
    assert_eq!(outcome_for(&rows, &ts).unwrap().0, "replace");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_turns_moderation_of_other_bots_on_from_chat() {
    let app = spawn_app(Setup::default()).await;
    for (who, answer) in [(ALICE, "only linkguard admins"), (ADMIN, "now moderated")] {
        let r = app
            .fake
            .slash_command(GENERAL, who, "bots on")
            .await
            .unwrap();
        let text = r.text().unwrap_or_default();
        assert!(text.contains(answer), "{who}: {text}");
    }
    // Live at once, without a restart.
    let ts = post_ci_call(&app);
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    assert_eq!(app.reposts(GENERAL).len(), 1);
    app.finish().await;
}

/// Mentions `@linkguard` with `text` in #general, as Slack's `app_mention`
/// event carries it, and waits for the private answer to `user`.
async fn mention(app: &TestApp, user: &str, text: &str, ts: &str) -> String {
    let seen = app.fake.ephemerals().len();
    app.fake.send_event(serde_json::json!({
        "type": "app_mention",
        "user": user,
        "text": format!("<@U0FAKEBOT01> {text}"),
        "ts": ts,
        "channel": GENERAL,
        "event_ts": ts,
    }));
    app.fake
        .wait_for(WAIT, |s| {
            s.ephemerals()
                .iter()
                .skip(seen)
                .find(|e| e.user == user)
                .map(|e| e.text.clone())
        })
        .await
        .expect("the mention is answered privately")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_on_in_a_mention_is_a_command_not_a_question() {
    let app = spawn_app(Setup::default()).await;
    let answer = mention(&app, ALICE, "bots on", "1700000001.000100").await;
    assert!(answer.contains("only linkguard admins"), "{answer}");
    let answer = mention(&app, ADMIN, "bots on", "1700000002.000100").await;
    assert!(answer.contains("now moderated"), "{answer}");
    let ts = post_ci_call(&app);
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_share_is_answered_in_thread_and_kept() {
    let app = spawn_app(Setup::default()).await;
    let ts = app
        .fake
        .post_file_share(
            GENERAL,
            ALICE,
            "agenda, call at <https://zoom.us/j/97777777777>",
        )
        .unwrap();
    // The file stays.
    let r = app.wait_degraded_reply(GENERAL, &ts).await;
    assert_eq!(app.fake.ephemerals()[0].user, ALICE);
    assert!(r.detail.contains("attachments"), "{}", r.detail);
    app.finish().await;
}
