//! Messages that used to slip past on Discord (issue #14, section 2), end to
//! end through the real serenity client against the fake Discord, which
//! enforces Discord's real limits (2,000 characters of `content`, answered
//! with 400 / 50035 `BASE_TYPE_MAX_LENGTH`):
//!
//! - `trust_many_links_*`: a message whose repost would be over 2,000
//!   characters is removed and its author sent the rewritten text by DM, in
//!   pieces that fit; the notice is one line per rule however many links.
//! - `trust_forwards_*`: forwards (text in `message_snapshots`), authored
//!   (rich) embeds, polls, text in display components (Components V2),
//!   link previews (not read twice) and thread starter messages.

use linkguard::store::{Kind, Outcome};
use linkguard_e2e::discord_support::*;
use linkguard_fakes::discord::{
    cast, FakeDiscord, FakeDiscordConfig, RouteKind, Times, UserMessage,
};
use serde_json::json;

/// Discord's limit, as the fake enforces it.
const LIMIT: usize = 2000;

/// What the bot sent `user` by DM, oldest first.
fn dms_to(t: &TestApp, user: u64) -> Vec<String> {
    let dm = t.fake.dm_channel(user).expect("dm channel");
    t.fake
        .messages(dm)
        .into_iter()
        .filter(|m| m.author_id == cast::BOT)
        .map(|m| m.content)
        .collect()
}

/// Waits until the bot has sent `user` at least `n` DMs.
async fn wait_dms(t: &TestApp, user: u64, n: usize) -> Vec<String> {
    let dm = t.fake.dm_channel(user).expect("dm channel");
    t.fake
        .wait_until(
            |s| {
                s.messages(dm)
                    .iter()
                    .filter(|m| m.author_id == cast::BOT)
                    .count()
                    >= n
            },
            WAIT,
        )
        .await
        .unwrap_or_else(|_| panic!("{n} DMs to {user}; calls: {:#?}", t.fake.calls()));
    dms_to(t, user)
}

/// The MESSAGE_CREATE the fake dispatched for `id`, as the bot received it.
fn created_on_the_wire(t: &TestApp, id: u64) -> serde_json::Value {
    let wire = t.fake.with_state(|s| {
        s.dispatches()
            .iter()
            .rev()
            .find(|d| {
                d.t == "MESSAGE_CREATE" && d.d["id"].as_str() == Some(id.to_string().as_str())
            })
            .map(|d| d.d.clone())
    });
    wire.unwrap_or_else(|| panic!("MESSAGE_CREATE {id} dispatched"))
}

/// Every message the bot or a webhook of ours created fits Discord's limit
/// (the fake refuses longer ones, so also: none was refused for length).
fn assert_nothing_refused_for_length(t: &TestApp) {
    let refused: Vec<_> = t
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.status == 400)
        .collect();
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

fn padded(links: usize, padding: usize) -> String {
    let mut text = String::from("links for today:");
    for i in 0..links {
        text.push_str(&format!(
            " https://zoom.us/j/{}",
            8_100_000_000u64 + i as u64
        ));
    }
    text.push(' ');
    text.push_str(&"·".repeat(padding));
    text
}

#[tokio::test]
async fn trust_many_links_twenty_zoom_links_in_1700_characters_are_removed_and_sent_back_by_dm() {
    let t = spawn_app(Setup::default()).await;
    let text = padded(20, 1700 - padded(20, 0).chars().count());
    assert_eq!(text.chars().count(), 1700);
    let original = t.post(cast::GENERAL, cast::ALICE, &text);

    let action = t.wait_action(original).await;
    assert_action(&action, "delete", Outcome::Degraded);
    let detail = action.entry.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("over the platform's 2000") && detail.contains("replace cannot repost"),
        "{detail}"
    );
    assert!(t.fake.message(original).expect("stored").deleted);
    assert!(t.executed().is_empty(), "nothing reposted");

    // The notice: one line for the rule, a count, three alternatives.
    // First the rewritten text, then (once it is removed) the notice.
    let dms = wait_dms(&t, cast::ALICE, 3).await;
    let (notice, copy) = dms.split_last().expect("dms");
    assert!(
        notice.contains("20 meeting links") && notice.contains("• rule no-zoom (20 links):"),
        "{notice}"
    );
    assert!(notice.contains("(and 17 more)"), "{notice}");
    assert_eq!(
        notice.matches("https://meet.jit.si/").count(),
        3,
        "{notice}"
    );
    assert!(
        notice.contains("could not be reposted") && notice.contains("just above"),
        "{notice}"
    );
    // The rewritten text, in pieces that each fit, joined back exactly.
    let copy: String = copy.concat();
    assert!(dms.iter().all(|m| m.chars().count() <= LIMIT));
    assert!(copy.starts_with("links for today: https://meet.jit.si/linkguard-"));
    assert!(!copy.contains("zoom.us"), "{copy}");
    assert_eq!(copy.matches("https://meet.jit.si/").count(), 20);
    assert!(copy.ends_with(&"·".repeat(100)));
    // The copy pings nobody either.
    let dm = t.fake.dm_channel(cast::ALICE).expect("dm");
    for m in t.fake.messages(dm) {
        assert_eq!(
            m.allowed_mentions,
            Some(json!({"parse": [], "users": [], "roles": []}))
        );
    }
    assert_nothing_refused_for_length(&t);
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn trust_many_links_a_repost_of_exactly_2000_characters_is_made_and_2001_is_not() {
    let t = spawn_app(Setup::default()).await;
    // Learn how long a repost of a one-link message is (rooms have a fixed length).
    let probe = t.post(cast::GENERAL, cast::ALICE, &padded(1, 10));
    let repost = t
        .wait_replaced(cast::GENERAL, probe, "links for today:")
        .await;
    let grow = repost.content.chars().count() - padded(1, 10).chars().count();

    let exact = padded(1, LIMIT - grow - padded(1, 0).chars().count());
    let at_limit = t.post(cast::GENERAL, cast::BOB, &exact);
    assert_action(&t.wait_action(at_limit).await, "replace", Outcome::Ok);
    let reposted = t
        .fake
        .messages(cast::GENERAL)
        .into_iter()
        .filter(is_repost)
        .find(|m| m.username.as_deref() == Some("Bob"))
        .expect("repost at the limit");
    assert_eq!(reposted.content.chars().count(), LIMIT);

    let over = format!("{exact}·");
    let over_limit = t.post(cast::GENERAL, cast::BOB, &over);
    let action = t.wait_action(over_limit).await;
    assert_action(&action, "delete", Outcome::Degraded);
    assert!(action
        .entry
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("2001 characters")));
    let dms = wait_dms(&t, cast::BOB, 2).await;
    // 2001 characters of repost minus the attribution: one piece of copy.
    assert!(dms[0].chars().count() <= LIMIT && dms[0].starts_with("links for today:"));
    assert!(dms.iter().all(|m| !m.contains("zoom.us")));
    assert_nothing_refused_for_length(&t);
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn trust_many_links_a_reply_for_many_links_fits_when_the_message_cannot_be_removed() {
    // Without Manage Messages linkguard has no right to remove anything: it
    // answers in the thread, and the answer fits however many links.
    let fake = FakeDiscordConfig::default().bot_channel_overwrite(
        cast::GENERAL,
        0,
        linkguard_fakes::discord::perms::MANAGE_MESSAGES,
    );
    let t = spawn_app(Setup {
        fake,
        ..Setup::default()
    })
    .await;
    // A Nitro member may post 4,000 characters: 100 links.
    let text = padded(100, 0);
    assert!(text.chars().count() > 2000);
    let original = t.post(cast::GENERAL, cast::ALICE, &text);
    let action = t.wait_action(original).await;
    assert_action(&action, "reply", Outcome::Degraded);
    assert!(!t.fake.message(original).expect("kept").deleted);
    let reply = t
        .fake
        .messages(cast::GENERAL)
        .into_iter()
        .find(|m| m.author_id == cast::BOT)
        .expect("a reply");
    assert!(reply.content.chars().count() <= LIMIT);
    assert!(
        reply.content.contains("(100 links)") && reply.content.contains("(and 97 more)"),
        "{}",
        reply.content
    );
    let dms = wait_dms(&t, cast::ALICE, 1).await;
    assert_eq!(
        dms.len(),
        1,
        "a notice, and no copy of a message that stays"
    );
    assert!(dms[0].contains("(100 links)"), "{}", dms[0]);
    assert_nothing_refused_for_length(&t);
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn trust_many_links_an_author_who_cannot_get_the_text_back_keeps_the_message() {
    // Alice's DMs are closed: removing her over-long message would lose her
    // words, so it stays and is answered in the channel.
    let t = spawn_app(Setup::default()).await;
    t.fake
        .fail_route(RouteKind::CreateDm, 403, 50007, Times::Always);
    let original = t.post(cast::GENERAL, cast::ALICE, &padded(20, 1000));
    let action = t.wait_action(original).await;
    assert_action(&action, "reply", Outcome::Degraded);
    let detail = action.entry.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("rewritten text not sent") && detail.contains("would lose it"),
        "{detail}"
    );
    assert!(!t.fake.message(original).expect("kept").deleted);
    assert!(t
        .fake
        .messages(cast::GENERAL)
        .iter()
        .any(|m| m.author_id == cast::BOT && m.content.contains("(20 links)")));
    t.assert_audit_sound().await;
    t.stop().await;
}

/// A fake with `source` already posted by `user` in `channel` before
/// linkguard connects (so linkguard never saw it): the fake and its id.
/// The source message predates linkguard: catch-up after a start would
/// (rightly) moderate it, which is not what these tests are about.
fn before_catch_up() -> Setup {
    Setup {
        catch_up: linkguard::config::CatchUpLimits {
            max_messages: 0,
            ..Default::default()
        },
        ..Setup::default()
    }
}

async fn fake_with_earlier_message(channel: u64, user: u64, text: &str) -> (FakeDiscord, u64) {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .expect("fake discord");
    let id = fake.post_user_message(channel, user, text).expect("post");
    (fake, id)
}

#[tokio::test]
async fn trust_forwards_a_forward_is_removed_and_its_author_sent_the_rewritten_text() {
    let (fake, source) = fake_with_earlier_message(
        cast::RANDOM,
        cast::BOB,
        "retro @everyone https://zoom.us/j/5550000001",
    )
    .await;
    let t = spawn_app_with(fake, tempfile::tempdir().expect("dir"), before_catch_up()).await;
    let forward = t
        .fake
        .forward(cast::GENERAL, cast::ALICE, source)
        .expect("forward");
    // On the wire: empty content, the text in the snapshot.
    let wire = created_on_the_wire(&t, forward);
    assert_eq!(wire["content"], "");
    assert_eq!(wire["message_reference"]["type"], 1);
    assert!(wire["message_snapshots"][0]["message"]["content"]
        .as_str()
        .is_some_and(|c| c.contains("zoom.us")));

    let action = t.wait_action(forward).await;
    assert_action(&action, "delete", Outcome::Degraded);
    assert!(action
        .entry
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("forward")));
    assert!(t.fake.message(forward).expect("stored").deleted);
    assert!(
        !t.fake.message(source).expect("stored").deleted,
        "the source is not ours to touch"
    );
    assert!(t.executed().is_empty(), "a webhook cannot re-forward");
    let dms = wait_dms(&t, cast::ALICE, 2).await;
    assert!(
        dms[0].starts_with("retro @everyone https://meet.jit.si/linkguard-"),
        "{}",
        dms[0]
    );
    assert!(dms[1].contains("rule no-zoom"), "{}", dms[1]);
    let dm = t.fake.dm_channel(cast::ALICE).expect("dm");
    assert!(t
        .fake
        .messages(dm)
        .iter()
        .all(|m| m.allowed_mentions == Some(json!({"parse": [], "users": [], "roles": []}))));
    let detected: Vec<_> = t
        .audit_of(forward)
        .await
        .into_iter()
        .filter(|r| r.entry.kind == Kind::Detected)
        .collect();
    assert_eq!(detected.len(), 1);
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn trust_forwards_a_link_in_an_integrations_rich_embed_is_removed() {
    let t = spawn_app(Setup {
        moderate_bots: true,
        ..Setup::default()
    })
    .await;
    let url = other_webhook(&t).await;
    let sent = rest(
        &t,
        &url,
        json!({"content": "deploy finished",
               "embeds": [{"type": "rich", "title": "Post-mortem",
                           "fields": [{"name": "Bridge", "value": "https://zoom.us/j/5550000002"}]}]}),
        false,
    )
    .await;
    let id: u64 = sent["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let action = t.wait_action(id).await;
    assert_action(&action, "delete", Outcome::Degraded);
    assert!(action
        .entry
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("embeds")));
    assert!(t.fake.message(id).expect("stored").deleted);
    assert_eq!(t.executed().len(), 1, "only the integration's own post");
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn trust_forwards_link_previews_are_not_read_as_the_authors_text() {
    let t = spawn_app(Setup::default()).await;
    // A preview of a clean link whose page mentions a Zoom meeting: not the
    // author's words, not moderated.
    let clean = t
        .fake
        .post(UserMessage {
            embeds: vec![
                json!({"type": "article", "url": "https://blog.example.com/a",
                "title": "How we meet", "description": "we used https://zoom.us/j/5550000003"}),
            ],
            ..UserMessage::new(
                cast::GENERAL,
                cast::ALICE,
                "read https://blog.example.com/a",
            )
        })
        .expect("post");
    // A banned link with its own video preview: one link, one repost.
    let banned = t
        .fake
        .post(UserMessage {
            embeds: vec![
                json!({"type": "video", "url": "https://zoom.us/j/5550000004",
                "title": "Zoom", "description": "https://zoom.us/j/5550000004"}),
            ],
            ..UserMessage::new(
                cast::GENERAL,
                cast::BOB,
                "join https://zoom.us/j/5550000004",
            )
        })
        .expect("post");
    t.wait_replaced(cast::GENERAL, banned, "join ").await;
    assert_action(&t.wait_action(banned).await, "replace", Outcome::Ok);
    let detected: Vec<_> = t
        .audit_of(banned)
        .await
        .into_iter()
        .filter(|r| r.entry.kind == Kind::Detected)
        .collect();
    assert_eq!(detected.len(), 1, "{detected:#?}");
    assert!(t.audit_of(clean).await.is_empty());
    assert!(!t.fake.message(clean).expect("kept").deleted);
    t.assert_audit_sound().await;
    t.stop().await;
}

/// A poll is a member's own text that everyone sees: a banned link in its
/// question or an answer is caught, and since no repost can carry a poll
/// (with its votes), the message is removed and its author sent the
/// rewritten text. A poll without one is left alone.
#[tokio::test]
async fn trust_forwards_a_banned_link_in_a_poll_is_removed_and_sent_back() {
    let t = spawn_app(Setup::default()).await;
    let clean = t
        .fake
        .post(
            UserMessage::new(cast::GENERAL, cast::BOB, "lunch?")
                .poll("Where?", &["Pizza", "Tacos"]),
        )
        .expect("post");
    let poll = t
        .fake
        .post(
            UserMessage::new(cast::GENERAL, cast::ALICE, "standup time").poll(
                "Which bridge?",
                &["https://zoom.us/j/5550000005", "the usual room"],
            ),
        )
        .expect("post");
    assert_eq!(
        created_on_the_wire(&t, poll)["poll"]["answers"][0]["poll_media"]["text"],
        "https://zoom.us/j/5550000005"
    );
    let action = t.wait_action(poll).await;
    assert_action(&action, "delete", Outcome::Degraded);
    assert!(action
        .entry
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("poll")));
    assert!(t.fake.message(poll).expect("stored").deleted);
    assert!(t.executed().is_empty(), "no repost");
    let dms = wait_dms(&t, cast::ALICE, 2).await;
    assert!(
        dms[0].starts_with("standup time\nWhich bridge?\nhttps://meet.jit.si/linkguard-"),
        "{}",
        dms[0]
    );
    assert!(dms[0].ends_with("\nthe usual room"), "{}", dms[0]);
    assert!(dms[1].contains("rule no-zoom"), "{}", dms[1]);
    assert!(t.audit_of(clean).await.is_empty());
    assert!(!t.fake.message(clean).expect("kept").deleted);
    t.assert_audit_sound().await;
    t.stop().await;
}

/// A member forwards an integration's message whose text is only in display
/// components, which serenity does not model: the forward is read back raw
/// and its snapshot's components read, so the Zoom link in them is caught
/// (removed, the author sent the rewritten text). The integration's own
/// message is left alone (other bots are not moderated here).
#[tokio::test]
async fn trust_forwards_text_in_a_forwarded_messages_components_is_read() {
    let t = spawn_app(Setup::default()).await;
    let source = components_message(
        &t,
        "standup in the usual bridge",
        "https://zoom.us/j/5550000006",
    )
    .await;
    let forward = t
        .fake
        .forward(cast::GENERAL, cast::ALICE, source)
        .expect("forward");
    let wire = created_on_the_wire(&t, forward);
    assert_eq!(wire["message_snapshots"][0]["message"]["content"], "");
    let action = t.wait_action(forward).await;
    assert_action(&action, "delete", Outcome::Degraded);
    assert!(t.fake.message(forward).expect("stored").deleted);
    assert!(!t.fake.message(source).expect("stored").deleted);
    let dms = wait_dms(&t, cast::ALICE, 2).await;
    assert!(
        dms[0].starts_with("standup in the usual bridge\nJoin\nhttps://meet.jit.si/linkguard-"),
        "{}",
        dms[0]
    );
    assert!(t.audit_of(source).await.is_empty());
    t.assert_audit_sound().await;
    t.stop().await;
}

/// With other bots moderated, an integration's own Components V2 message
/// with a Zoom link in a text display is removed; one without is left
/// alone, until the integration edits a Zoom link into its components.
#[tokio::test]
async fn trust_forwards_an_integrations_components_v2_message_is_moderated() {
    let t = spawn_app(Setup {
        moderate_bots: true,
        ..Setup::default()
    })
    .await;
    let banned = components_message(
        &t,
        "bridge: https://zoom.us/j/5550000007",
        "https://example.com/agenda",
    )
    .await;
    let clean = components_message(&t, "deploy finished", "https://example.com/log").await;
    let action = t.wait_action(banned).await;
    assert_action(&action, "delete", Outcome::Degraded);
    assert!(action
        .entry
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("components")));
    assert!(t.fake.message(banned).expect("stored").deleted);
    // The clean one was read back too (after the banned one) and kept.
    t.fake
        .wait_until(
            |s| {
                s.calls()
                    .iter()
                    .any(|c| c.method == "GET" && c.path.ends_with(&format!("/messages/{clean}")))
            },
            WAIT,
        )
        .await
        .expect("the clean message read back");
    assert!(!t.fake.message(clean).expect("kept").deleted);
    assert!(t.audit_of(clean).await.is_empty());
    // The integration edits its clean message: the Zoom link it adds in
    // a text display (the content stays empty) is read back too.
    let url = t.fake.with_state(|s| {
        let w = s
            .message(clean)
            .and_then(|m| m.webhook_id)
            .expect("a webhook's");
        let w = s
            .webhooks()
            .into_iter()
            .find(|x| x.id == w)
            .expect("webhook");
        format!("/webhooks/{}/{}/messages/{clean}", w.id, w.token)
    });
    let edited = reqwest::Client::new()
        .patch(format!("{}/api/v10{url}", t.fake.http_base()))
        .json(&json!({"components": [{"type": 17, "components": [
            {"type": 10, "content": "moved to https://zoom.us/j/5550000009"}
        ]}]}))
        .send()
        .await
        .expect("edit");
    assert!(edited.status().is_success(), "{}", edited.status());
    let action = t.wait_action(clean).await;
    assert_action(&action, "delete", Outcome::Degraded);
    assert!(t.fake.message(clean).expect("stored").deleted);
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn trust_forwards_a_thread_starter_moderates_the_message_it_points_at_once() {
    // Manage Messages is denied in #general, so the source message stays up
    // (answered by a reply) and can be pointed at again.
    let fake = FakeDiscord::start(FakeDiscordConfig::default().bot_channel_overwrite(
        cast::GENERAL,
        0,
        linkguard_fakes::discord::perms::MANAGE_MESSAGES,
    ))
    .await
    .expect("fake discord");
    // Posted before linkguard connected: it never saw it.
    let source = fake
        .post_user_message(
            cast::GENERAL,
            cast::BOB,
            "kickoff https://zoom.us/j/5550000005",
        )
        .expect("post");
    let t = spawn_app_with(fake, tempfile::tempdir().expect("dir"), before_catch_up()).await;
    let starter = t
        .fake
        .thread_starter(cast::THREAD, source)
        .expect("starter");
    let action = t.wait_action(source).await;
    assert_action(&action, "reply", Outcome::Degraded);
    assert_eq!(action.entry.channel, Some(cast::GENERAL.to_string()));
    assert_eq!(action.entry.thread, None);
    assert!(t.audit_of(starter).await.is_empty());

    // Delivered again: the same message and revision, nothing more. A later
    // message's action shows the second starter has been handled by then.
    t.fake
        .thread_starter(cast::THREAD, source)
        .expect("starter");
    let marker = t.post(
        cast::GENERAL,
        cast::ALICE,
        "marker https://zoom.us/j/5550000006",
    );
    t.wait_action(marker).await;
    let replies = t
        .fake
        .messages(cast::GENERAL)
        .into_iter()
        .filter(|m| m.author_id == cast::BOT)
        .count();
    assert_eq!(replies, 2, "one reply for the source, one for the marker");
    let detected = t
        .audit_of(source)
        .await
        .into_iter()
        .filter(|r| r.entry.kind == Kind::Detected)
        .count();
    assert_eq!(detected, 1);
    t.assert_audit_sound().await;
    t.stop().await;
}

/// A member's own (user-installed) app answers their `/echo` with a Zoom
/// link in #general: the answer is theirs, so it is replaced under their
/// name although other bots are not moderated; the same answer from an app
/// the server installed is one of the server's bots and left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_forwards_a_user_installed_apps_answer_is_moderated_as_its_users() {
    let t = spawn_app(Setup::default()).await;
    let server_app = t
        .fake
        .post_app_answer(
            cast::GENERAL,
            cast::BOB,
            "https://zoom.us/j/5550000007",
            true,
        )
        .expect("post");
    let answer = t
        .fake
        .post_app_answer(
            cast::GENERAL,
            cast::ALICE,
            "https://zoom.us/j/5550000008",
            false,
        )
        .expect("post");
    let repost = t.wait_replaced(cast::GENERAL, answer, "meet.jit.si").await;
    assert_eq!(repost.username.as_deref(), Some("Alice"), "{repost:?}");
    assert_action(&t.wait_action(answer).await, "replace", Outcome::Ok);
    let detected = t
        .audit_of(answer)
        .await
        .into_iter()
        .find(|r| r.entry.kind == Kind::Detected)
        .expect("detected");
    assert_eq!(detected.entry.author, Some(cast::ALICE.to_string()));
    // Handled in order: the server's app's answer, posted first, was
    // skipped by then.
    assert!(t.audit_of(server_app).await.is_empty());
    assert!(!t.fake.message(server_app).expect("kept").deleted);
    t.assert_audit_sound().await;
    t.stop().await;
}
