//! Slack threads end to end: an edit that adds a banned link to a thread
//! reply is answered in that thread, although Slack nests the edited
//! message's `thread_ts` inside `message_changed`; its audit records name
//! the thread.

use linkguard_e2e::slack_support::{spawn_app, Setup, ALICE, BOB, GENERAL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_thread_reply_is_reposted_in_its_thread() {
    let app = spawn_app(Setup::default()).await;
    let parent = app
        .fake
        .post_user_message(GENERAL, ALICE, "retro thread")
        .unwrap();
    let reply = app
        .fake
        .post_thread_reply(GENERAL, BOB, &parent, "link later")
        .unwrap();
    app.fake
        .edit_user_message(GENERAL, &reply, "link: https://zoom.us/j/93456712345")
        .unwrap();
    app.wait_message(GENERAL, &reply, |m| m.deleted).await;
    let reposts = app.reposts(GENERAL);
    assert_eq!(reposts.len(), 1, "{reposts:#?}");
    assert_eq!(reposts[0].thread_ts.as_deref(), Some(parent.as_str()));
    // The audit records name the thread too.
    let rows = app.audit().await;
    let detected = rows
        .iter()
        .find(|r| {
            r.entry.kind.as_str() == "detected" && r.entry.message_id.as_deref() == Some(&reply)
        })
        .expect("the edit's detection is recorded");
    assert_eq!(detected.entry.thread.as_deref(), Some(parent.as_str()));
    app.finish().await;
}
