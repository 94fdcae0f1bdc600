//! Messages that used to slip past on Slack (issue #14, section 2), end to
//! end through the real slack-morphism client against the fake Slack, which
//! enforces Slack's limits (`text` over 40,000 characters answers
//! `msg_too_long`; more than 50 blocks or a `section` over 3,000 characters
//! answers `invalid_blocks`):
//!
//! - `trust_many_links_*`: 1,000 links. With an admin token the message is
//!   removed and its author sent the rewritten text ephemerally, in pieces
//!   that fit; without one the thread reply and the notice fit.
//! - `trust_slack_*`: shared messages (the text is in `attachments`), file
//!   shares (the typed comment, what `initial_comment` becomes, is `text`),
//!   an integration's edit that changes only its attachments, and a post
//!   through the API whose blocks show a link its text does not.

use linkguard_e2e::slack_support::{outcome_for, spawn_app, Setup, ALICE, BOB, GENERAL, WAIT};
use linkguard_fakes::slack::OtherBot;
use serde_json::json;

/// Slack's limit on `text`, as the fake enforces it.
const LIMIT: usize = 40_000;

fn thousand_links() -> String {
    let mut text = String::from("all the calls:");
    for i in 0..1000u64 {
        text.push_str(&format!(" <https://zoom.us/j/{}>", 9_100_000_000 + i));
    }
    text
}

/// No call was refused for its size.
fn assert_nothing_too_long(app: &linkguard_e2e::slack_support::TestApp) {
    let refused: Vec<_> = app
        .fake
        .calls()
        .into_iter()
        .filter(|c| {
            matches!(
                c.response["error"].as_str(),
                Some("msg_too_long" | "invalid_blocks")
            )
        })
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_many_links_a_thousand_links_are_removed_and_sent_back_ephemerally() {
    let app = spawn_app(Setup::default()).await;
    let text = thousand_links();
    assert!(text.chars().count() < LIMIT, "a message Slack takes");
    let ts = app.fake.post_user_message(GENERAL, ALICE, &text).unwrap();
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    let (action, outcome, detail) = app.wait_outcome(&ts).await;
    assert_eq!((action.as_str(), outcome.as_str()), ("delete", "degraded"));
    let detail = detail.unwrap_or_default();
    assert!(detail.contains("over the platform's 40000"), "{detail}");
    assert!(app.reposts(GENERAL).is_empty(), "nothing reposted");
    // 1,000 detections, one per distinct link, in one audit transaction.
    assert_eq!(
        app.audit()
            .await
            .iter()
            .filter(|r| r.entry.kind.as_str() == "detected")
            .count(),
        1000
    );

    app.fake
        .wait_until(WAIT, |s| s.ephemerals().len() >= 3)
        .await
        .unwrap();
    let eph = app.fake.ephemerals();
    assert!(eph.iter().all(|e| e.user == ALICE));
    assert!(eph.iter().all(|e| e.text.chars().count() <= LIMIT));
    // First the rewritten text, then (once it is removed) the notice.
    let notice = &eph[2].text;
    assert!(
        notice.contains("1000 meeting links") && notice.contains("(1000 links)"),
        "{notice}"
    );
    assert!(notice.contains("(and 997 more)"), "{notice}");
    assert!(notice.chars().count() < 2000, "{}", notice.len());
    // The rewritten text, over 40,000 characters, in two pieces that rejoin.
    let copy: String = eph[..2].iter().map(|e| e.text.as_str()).collect();
    assert_eq!(eph.len(), 3);
    assert!(copy.chars().count() > LIMIT);
    assert!(copy.starts_with("all the calls: <https://meet.jit.si/linkguard-"));
    assert_eq!(copy.matches("<https://meet.jit.si/").count(), 1000);
    assert!(!copy.contains("zoom.us"));
    assert_nothing_too_long(&app);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_many_links_a_repost_of_exactly_40000_characters_is_made_and_40001_is_not() {
    let app = spawn_app(Setup::default()).await;
    let message = |padding: usize| {
        format!(
            "call <https://zoom.us/j/9300000001> {}",
            "x".repeat(padding)
        )
    };
    // Learn how much a repost adds (rooms have a fixed length).
    let probe = app
        .fake
        .post_user_message(GENERAL, ALICE, &message(1))
        .unwrap();
    app.wait_message(GENERAL, &probe, |m| m.deleted).await;
    let grow = app.reposts(GENERAL)[0].text.chars().count() - message(1).chars().count();
    let exact = message(LIMIT - grow - message(0).chars().count());
    let at_limit = app.fake.post_user_message(GENERAL, BOB, &exact).unwrap();
    assert_eq!(app.wait_outcome(&at_limit).await.0, "replace");
    let reposts = app.reposts(GENERAL);
    assert_eq!(reposts.len(), 2);
    assert_eq!(reposts[1].text.chars().count(), LIMIT);
    let over = app
        .fake
        .post_user_message(GENERAL, BOB, &format!("{exact}x"))
        .unwrap();
    let (action, _, detail) = app.wait_outcome(&over).await;
    assert_eq!(action, "delete");
    assert!(detail.is_some_and(|d| d.contains("40001 characters")));
    assert!(app.deleted(GENERAL, &over));
    assert_eq!(app.reposts(GENERAL).len(), 2);
    assert_nothing_too_long(&app);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_many_links_without_an_admin_token_the_reply_and_notice_fit() {
    let app = spawn_app(Setup::bot_token_only()).await;
    let ts = app
        .fake
        .post_user_message(GENERAL, BOB, &thousand_links())
        .unwrap();
    // No right to remove it.
    let r = app.wait_degraded_reply(GENERAL, &ts).await;
    assert!(r.reply.text.contains("(1000 links)"), "{}", r.reply.text);
    assert!(r.reply.text.chars().count() < 2000);
    assert!(app.fake.ephemerals()[0].text.contains("(1000 links)"));
    assert_nothing_too_long(&app);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_slack_a_shared_message_is_read_from_its_attachments() {
    let app = spawn_app(Setup::default()).await;
    // An integration's message (not moderated: bots are off) that Alice
    // shares into #general with a comment.
    let source = app
        .fake
        .post_bot_message(
            GENERAL,
            &OtherBot::ci_notifier(),
            "incident bridge <https://zoom.us/j/9200000001>",
        )
        .unwrap();
    let ts = app
        .fake
        .share_message(GENERAL, ALICE, "fyi", GENERAL, &source)
        .unwrap();
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    let (action, outcome, detail) = app.wait_outcome(&ts).await;
    assert_eq!((action.as_str(), outcome.as_str()), ("delete", "degraded"));
    assert!(detail.unwrap_or_default().contains("attachments"));
    assert!(
        app.reposts(GENERAL).is_empty(),
        "a share cannot be reposted"
    );
    app.fake
        .wait_until(WAIT, |s| s.ephemerals().len() >= 2)
        .await
        .unwrap();
    let eph = app.fake.ephemerals();
    assert!(
        eph[0].text.starts_with("fyi\n") && eph[0].text.contains("<https://meet.jit.si/"),
        "{}",
        eph[0].text
    );
    assert!(eph[1].text.contains("rule no-zoom"), "{}", eph[1].text);
    assert!(!app.deleted(GENERAL, &source));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_slack_a_file_shares_comment_is_moderated_and_the_file_kept() {
    let app = spawn_app(Setup::default()).await;
    // files.completeUploadExternal's initial_comment arrives as the
    // file_share message's text.
    let ts = app
        .fake
        .post_file_share(
            GENERAL,
            BOB,
            "agenda, call at <https://zoom.us/j/9200000002>",
        )
        .unwrap();
    // The file stays.
    let r = app.wait_degraded_reply(GENERAL, &ts).await;
    assert!(r.detail.contains("attachments"), "{}", r.detail);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_slack_an_integration_edit_of_only_its_attachments_is_caught() {
    let app = spawn_app(Setup {
        moderate_bots: true,
        ..Setup::default()
    })
    .await;
    let ts = app
        .fake
        .post_bot_message_with(
            GENERAL,
            &OtherBot::ci_notifier(),
            "build status",
            Some(json!([{"id": 1, "fallback": "build running", "text": "build running"}])),
        )
        .unwrap();
    app.wait_acked(&ts).await;
    assert!(outcome_for(&app.audit().await, &ts).is_none(), "clean");
    app.fake
        .edit_attachments(
            GENERAL,
            &ts,
            json!([{"id": 1, "fallback": "build failed", "text": "build failed",
                    "fields": [{"title": "War room", "value": "<https://zoom.us/j/9200000003>", "short": false}]}]),
        )
        .unwrap();
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    let (action, _, _) = app.wait_outcome(&ts).await;
    assert_eq!(action, "delete");
    let rows = app.audit().await;
    let detected: Vec<_> = rows
        .iter()
        .filter(|r| r.entry.kind.as_str() == "detected")
        .collect();
    assert_eq!(detected.len(), 1);
    assert_ne!(
        detected[0].entry.revision,
        Some(linkguard::store::Revision::original()),
        "the edit"
    );
    assert!(app.reposts(GENERAL).is_empty());
    app.finish().await;
}

/// A post through the API (a member's own token) whose text hides the link
/// its blocks show: the link is found, the message removed (a repost could
/// not show those blocks), with the reason in the audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_slack_a_link_only_in_the_blocks_is_caught() {
    let app = spawn_app(Setup::default()).await;
    let ts = app
        .fake
        .post_user_message_with_blocks(
            GENERAL,
            ALICE,
            "weekly agenda",
            json!([{"type": "rich_text", "block_id": "x1", "elements": [{"type": "rich_text_section",
                "elements": [{"type": "text", "text": "weekly "},
                    {"type": "link", "url": "https://zoom.us/j/9200000009", "text": "agenda"}]}]}]),
        )
        .unwrap();
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    let (action, outcome, detail) = app.wait_outcome(&ts).await;
    assert_eq!((action.as_str(), outcome.as_str()), ("delete", "degraded"));
    assert!(detail.unwrap_or_default().contains("blocks"));
    assert!(app.reposts(GENERAL).is_empty());
    app.finish().await;
}

/// A message whose blocks include a kind linkguard has no model for (an
/// app's `call` block) is still moderated by its text over the Events API:
/// the event is not refused whole and left up (slack-morphism keeps such a
/// block as raw JSON, which the block reading walks like any other).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_slack_an_unknown_block_kind_does_not_hide_the_text() {
    let app = spawn_app(Setup {
        mode: linkguard::config::SlackMode::Http,
        ..Setup::default()
    })
    .await;
    let ts = app
        .fake
        .post_user_message_with_blocks(
            GENERAL,
            ALICE,
            "call now <https://zoom.us/j/9200000011>",
            json!([{"type": "call", "block_id": "c1", "call_id": "R0CALL1"}]),
        )
        .unwrap();
    app.wait_message(GENERAL, &ts, |m| m.deleted).await;
    let (action, outcome, _) = app.wait_outcome(&ts).await;
    assert_eq!((action.as_str(), outcome.as_str()), ("replace", "ok"));
    app.finish().await;
}
