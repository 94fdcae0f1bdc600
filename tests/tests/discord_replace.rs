//! Discord `replace` end to end, through the real serenity client against the
//! fake Discord: a Zoom link in a channel, a thread and a forum post is
//! reposted through the parent channel's webhook under the author's name and
//! face, the original is deleted only after the repost exists, both steps are
//! audited, and a repost pings nobody. Edits that add a link are caught.

use linkguard::store::{Kind, Outcome, Revision};
use linkguard_e2e::discord_support::*;
use linkguard_fakes::discord::{cast, RouteKind};
use serde_json::json;

#[tokio::test]
async fn a_zoom_link_in_a_channel_is_reposted_under_the_author_then_deleted() {
    let t = spawn_app(Setup::default()).await;
    let original = t.post(
        cast::GENERAL,
        cast::ALICE,
        "standup: https://zoom.us/j/123456789 see you",
    );
    let repost = t.wait_replaced(cast::GENERAL, original, "standup: ").await;

    // The repost: the author's name and face, the link swapped, the rest kept,
    // an attribution line, and no mentions allowed.
    assert_eq!(repost.username.as_deref(), Some("Alice"));
    assert_eq!(repost.avatar_url.as_deref(), Some(alice_avatar().as_str()));
    assert!(
        repost
            .content
            .starts_with("standup: https://meet.jit.si/linkguard-"),
        "{}",
        repost.content
    );
    assert!(repost.content.contains(" see you\n"), "{}", repost.content);
    assert!(!repost.content.contains("zoom.us"), "{}", repost.content);
    assert!(
        repost.content.contains("reposted by linkguard"),
        "{}",
        repost.content
    );
    assert_eq!(
        repost.allowed_mentions,
        Some(json!({"parse": [], "users": [], "roles": []}))
    );

    // Order on the wire: webhook created, repost confirmed (wait=true), then delete.
    let calls = t.fake.calls();
    let pos = |route: RouteKind| {
        calls
            .iter()
            .position(|c| c.route == route && c.status < 300)
    };
    let (create, exec, delete) = (
        pos(RouteKind::CreateWebhook).expect("webhook created"),
        pos(RouteKind::WebhookExecute).expect("webhook executed"),
        pos(RouteKind::DeleteMessage).expect("original deleted"),
    );
    assert!(create < exec && exec < delete, "{calls:#?}");
    assert!(calls[exec]
        .query
        .as_deref()
        .is_some_and(|q| q.contains("wait=true")));
    assert!(
        calls.iter().all(|c| c.tls),
        "production path: HTTPS to discord.com"
    );
    let stored = t
        .store
        .discord_webhook(&cast::GENERAL.to_string())
        .await
        .expect("store")
        .expect("webhook remembered");
    assert_eq!(stored.id, repost.webhook_id.expect("webhook").to_string());

    // Both steps audited: the detection, then the outcome.
    let action = t.wait_action(original).await;
    assert_action(&action, "replace", Outcome::Ok);
    let records = t.audit_of(original).await;
    assert_eq!(records.len(), 2, "{records:#?}");
    assert_eq!(records[0].entry.kind, Kind::Detected);
    assert_eq!(records[0].entry.rule_id.as_deref(), Some("no-zoom"));
    assert_eq!(
        records[0].entry.channel.as_deref(),
        Some(cast::GENERAL.to_string().as_str())
    );
    assert_eq!(
        records[0].entry.workspace.as_deref(),
        Some(cast::GUILD.to_string().as_str())
    );
    assert_eq!(
        records[0].entry.author.as_deref(),
        Some(cast::ALICE.to_string().as_str())
    );
    assert_eq!(records[0].entry.revision, Some(Revision::original()));
    assert_eq!(records[1], action);

    // A second link in the same channel reuses the webhook.
    let second = t.post(cast::GENERAL, cast::BOB, "also https://zoom.us/j/987654321");
    let again = t.wait_replaced(cast::GENERAL, second, "also ").await;
    assert_eq!(again.username.as_deref(), Some("Bob"));
    assert_eq!(t.webhooks().len(), 1, "created once");
    assert_action(&t.wait_action(second).await, "replace", Outcome::Ok);
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn threads_and_forum_posts_repost_through_the_parent_webhook() {
    let t = spawn_app(Setup::default()).await;
    let in_thread = t.post(
        cast::THREAD,
        cast::ALICE,
        "thread: https://zoom.us/j/111111111",
    );
    let repost = t.wait_replaced(cast::THREAD, in_thread, "thread: ").await;
    let in_post = t.post(
        cast::FORUM_POST,
        cast::BOB,
        "forum: https://zoom.us/j/222222222",
    );
    let forum_repost = t.wait_replaced(cast::FORUM_POST, in_post, "forum: ").await;

    // Webhooks belong to the parent channels; threads are named by thread_id.
    let hooks = t.webhooks();
    let parent_of = |id: u64| hooks.iter().find(|h| h.id == id).map(|h| h.channel_id);
    assert_eq!(
        parent_of(repost.webhook_id.expect("hook")),
        Some(cast::GENERAL)
    );
    assert_eq!(
        parent_of(forum_repost.webhook_id.expect("hook")),
        Some(cast::FORUM)
    );
    let executes = t.executed();
    assert_eq!(executes.len(), 2);
    for (call, thread) in executes.iter().zip([cast::THREAD, cast::FORUM_POST]) {
        let q = call.query.as_deref().unwrap_or_default();
        assert!(
            q.contains(&format!("thread_id={thread}")) && q.contains("wait=true"),
            "{q}"
        );
    }

    // Audited under the parent channel, with the thread beside it.
    for (id, parent, thread) in [
        (in_thread, cast::GENERAL, cast::THREAD),
        (in_post, cast::FORUM, cast::FORUM_POST),
    ] {
        let action = t.wait_action(id).await;
        assert_action(&action, "replace", Outcome::Ok);
        assert_eq!(action.entry.channel, Some(parent.to_string()));
        assert_eq!(action.entry.thread, Some(thread.to_string()));
    }
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn a_repost_of_everyone_pings_nobody() {
    let t = spawn_app(Setup::default()).await;
    let text = format!(
        "@everyone <@{}> join https://zoom.us/j/333333333",
        cast::BOB
    );
    let original = t.post(cast::GENERAL, cast::ALICE, &text);
    let repost = t.wait_replaced(cast::GENERAL, original, "@everyone").await;
    assert!(repost.content.starts_with(&format!(
        "@everyone <@{}> join https://meet.jit.si/",
        cast::BOB
    )));
    // What Discord would show: the repost's own MESSAGE_CREATE mentions nobody.
    let echoed = t.fake.with_state(|s| {
        s.dispatches()
            .iter()
            .rev()
            .find(|d| {
                d.t == "MESSAGE_CREATE"
                    && d.d["id"].as_str() == Some(repost.id.to_string().as_str())
            })
            .map(|d| d.d.clone())
    });
    let echoed = echoed.expect("repost dispatched");
    assert_eq!(echoed["mention_everyone"], false, "{echoed:#}");
    assert_eq!(echoed["mentions"], json!([]), "{echoed:#}");
    // The original did ping: the repost is strictly quieter.
    let first = t.fake.with_state(|s| {
        s.dispatches()
            .iter()
            .find(|d| {
                d.t == "MESSAGE_CREATE" && d.d["id"].as_str() == Some(original.to_string().as_str())
            })
            .map(|d| d.d["mention_everyone"].clone())
    });
    assert_eq!(first, Some(json!(true)));
    t.stop().await;
}

#[tokio::test]
async fn an_edit_that_adds_a_banned_link_is_caught() {
    let t = spawn_app(Setup::default()).await;
    let id = t.post(cast::GENERAL, cast::ALICE, "meeting later, link to follow");
    // An unfurl-style partial update carries no content: not a revision.
    t.fake
        .partial_message_update(cast::GENERAL, id, json!({"embeds": []}))
        .expect("partial update");
    t.fake
        .edit_user_message(
            cast::GENERAL,
            id,
            "meeting later: https://zoom.us/j/444444444",
        )
        .expect("edit");
    let repost = t.wait_replaced(cast::GENERAL, id, "meeting later: ").await;
    assert!(repost.content.contains("meet.jit.si"));
    let records = t.audit_of(id).await;
    let detected: Vec<_> = records
        .iter()
        .filter(|r| r.entry.kind == Kind::Detected)
        .collect();
    assert_eq!(detected.len(), 1, "{records:#?}");
    let revision = detected[0].entry.revision.clone().expect("a revision");
    assert!(!revision.is_original(), "the edit is its own revision");
    let action = t.wait_action(id).await;
    assert_action(&action, "replace", Outcome::Ok);
    assert_eq!(action.entry.revision, Some(revision));
    assert_eq!(t.executed().len(), 1);
    t.assert_audit_sound().await;
    t.stop().await;
}

/// A rule that opts in to invitations (`detect_invitations`) swaps a pasted
/// Zoom invitation block for the alternative: the repost holds neither the
/// meeting ID nor the passcode, and neither does the audit log.
#[tokio::test]
async fn a_pasted_invitation_is_replaced_and_its_passcode_never_recorded() {
    let policy = "[[rules]]\nid = \"zoom-invites\"\nproviders = [\"zoom\"]\naction = \"replace\"\n\
                  alternative = \"https://meet.jit.si/{prefix}-{room}\"\ndetect_invitations = true\n";
    let t = spawn_app(Setup {
        policy: Some(policy.to_owned()),
        ..Setup::default()
    })
    .await;
    let original = t.post(
        cast::GENERAL,
        cast::ALICE,
        "retro: Meeting ID: 855 1234 5678 / Passcode: 4Fq9x1 bring notes",
    );
    let repost = t.wait_replaced(cast::GENERAL, original, "retro: ").await;
    assert!(
        repost
            .content
            .starts_with("retro: https://meet.jit.si/linkguard-"),
        "{}",
        repost.content
    );
    assert!(
        repost.content.contains(" bring notes"),
        "{}",
        repost.content
    );
    for secret in ["4Fq9x1", "855 1234 5678", "Meeting ID"] {
        assert!(!repost.content.contains(secret), "{}", repost.content);
    }
    assert_action(&t.wait_action(original).await, "replace", Outcome::Ok);
    let records = t.audit_of(original).await;
    assert_eq!(records[0].entry.kind, Kind::Detected);
    assert_eq!(records[0].entry.rule_id.as_deref(), Some("zoom-invites"));
    // The finding names the meeting; the store redacts even the placeholder.
    let link = records[0]
        .entry
        .link
        .as_deref()
        .expect("a link is recorded");
    assert!(
        link.starts_with("invitation:zoom/85512345678?passcode="),
        "{link}"
    );
    assert!(records.iter().all(|r| !format!("{r:?}").contains("4Fq9x1")));
    t.assert_audit_sound().await;
    t.stop().await;
}
