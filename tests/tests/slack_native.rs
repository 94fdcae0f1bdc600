//! Slack, natively, end to end: the real linkguard (slack-morphism client,
//! pipeline, SQLite store) against the fake Slack. The Home tab, the "Check
//! a link" modal, the "Check links" message shortcut, and exception requests
//! from the notice's button to the admin channel's buttons and back, over
//! Socket Mode and over the Events API's signed interactivity endpoint.

use linkguard::config::SlackMode;
use linkguard::slack::blocks::{
    ACTION_APPROVE, ACTION_CHECK_OPEN, ACTION_DECIDE_NOTE, ACTION_REQUEST_OPEN, BLOCK_DECISION,
    BLOCK_DURATION, BLOCK_NOTE, BLOCK_REASON, BLOCK_SUBJECT, BLOCK_TEXT, CALLBACK_CHECK,
    CALLBACK_DECIDE, CALLBACK_REQUEST, SHORTCUT_CHECK,
};
use linkguard_e2e::slack_support::{spawn_app, Setup, TestApp, ADMIN, ALICE, BOB, GENERAL, WAIT};
use linkguard_fakes::slack::{
    dm_channel_id, ClickIn, Ephemeral, EphemeralSource, FakeChannel, SignMode, StoredMessage,
    StoredView,
};
use std::time::Duration;

const ADMINS: &str = "C0FAKEADMIN";
const ZOOM: &str = "our call: https://acme.zoom.us/j/81731411461";

/// A workspace with an #linkguard-admins channel (the bot and the admin in
/// it), no admin user token (so a Zoom link gets a reply and a private
/// notice with the request button), in `mode`.
fn setup(mode: SlackMode) -> Setup {
    let mut s = Setup {
        mode,
        user_token: false,
        admin_channel: Some(ADMINS.into()),
        ..Setup::default()
    };
    s.fake.channels.push(FakeChannel {
        id: ADMINS.into(),
        name: "linkguard-admins".into(),
        is_private: false,
        is_archived: false,
        is_general: false,
        // Bob can see it (a public admin channel), but his clicks do not count.
        members: vec![ADMIN.into(), BOB.into(), "U0FAKEBOT01".into()],
        topic: String::new(),
        purpose: String::new(),
    });
    s
}

fn has_button(m: &StoredMessage, action: &str) -> bool {
    m.blocks
        .as_ref()
        .is_some_and(|b| b.to_string().contains(&format!("\"{action}\"")))
}

/// The admin channel's message about the request, once it satisfies `pred`.
async fn admin_message(app: &TestApp, pred: impl Fn(&StoredMessage) -> bool) -> StoredMessage {
    app.fake
        .wait_for(WAIT, |s| {
            s.visible_messages(ADMINS)
                .into_iter()
                .find(|m| pred(m))
                .cloned()
        })
        .await
        .expect("the request reaches the admin channel")
}

/// `user` opens the app's Home tab: the view published there.
async fn open_home(app: &TestApp, user: &str) -> StoredView {
    app.fake.open_app_home(user);
    app.fake
        .wait_home(user, WAIT, |_| true)
        .await
        .unwrap_or_else(|e| panic!("{user}'s Home tab is published: {e}"))
}

/// The first private notice `user` got.
async fn ephemeral_for(app: &TestApp, user: &str) -> Ephemeral {
    app.fake
        .wait_for(WAIT, |s| {
            s.ephemerals().iter().find(|e| e.user == user).cloned()
        })
        .await
        .unwrap_or_else(|e| panic!("{user} gets a private notice: {e}"))
}

/// The first message the bot sent `user` in a DM.
async fn first_dm(app: &TestApp, user: &str) -> StoredMessage {
    app.fake
        .wait_for(WAIT, |s| {
            s.visible_messages(&dm_channel_id(user))
                .first()
                .map(|m| (*m).clone())
        })
        .await
        .unwrap_or_else(|e| panic!("{user} is told in a DM: {e}"))
}

/// The request's message `ts` in the admin channel, as a place to click.
fn in_admins(ts: &str) -> ClickIn {
    ClickIn::Message {
        channel: ADMINS.into(),
        ts: ts.into(),
    }
}

/// `user` clicks `action` in `place`, and the modal `callback` opens.
async fn click_for_modal(app: &TestApp, user: &str, place: ClickIn, action: &str, callback: &str) {
    app.fake.click(user, place, action, None).await.unwrap();
    app.fake
        .wait_modal(user, WAIT, |v| v.callback_id() == callback)
        .await
        .unwrap_or_else(|e| panic!("{callback} opens for {user}: {e}"));
}

/// Alice opens the "Check a link" modal from her Home tab.
async fn open_check_modal(app: &TestApp) {
    click_for_modal(app, ALICE, ClickIn::Home, ACTION_CHECK_OPEN, CALLBACK_CHECK).await;
}

fn blocks_text(m: &StoredMessage) -> String {
    m.blocks.as_ref().map(|b| b.to_string()).unwrap_or_default()
}

async fn kinds(app: &TestApp) -> Vec<String> {
    app.audit()
        .await
        .into_iter()
        .map(|r| r.entry.kind.as_str().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_tab_shows_what_is_allowed_and_admins_see_more() {
    let app = spawn_app(setup(SlackMode::Socket)).await;
    let home = open_home(&app, ALICE).await;
    let text = home.text();
    assert!(text.contains("*Zoom*"), "{text}");
    assert!(
        text.contains("Use instead: https://meet.jit.si/linkguard-"),
        "{text}"
    );
    assert!(text.contains("Check a link"), "{text}");
    assert!(!text.contains("For admins"), "{text}");

    let admin = open_home(&app, ADMIN).await;
    let text = admin.text();
    assert!(text.contains("For admins"), "{text}");
    assert!(text.contains("`no-zoom`: enforce (replace)"), "{text}");
    assert!(
        text.contains("No exception requests are waiting."),
        "{text}"
    );

    // A policy change refreshes the tabs of people who opened them.
    let r = app
        .fake
        .slash_command(GENERAL, ADMIN, "mode monitor")
        .await
        .unwrap();
    assert!(r.text().unwrap().contains("monitor"), "{:?}", r.text());
    app.fake
        .wait_home(ALICE, WAIT, |v| v.text().contains("monitor mode"))
        .await
        .expect("alice's Home tab follows the policy change");
    app.fake
        .wait_home(ADMIN, WAIT, |v| v.text().contains("*Policy:* monitor mode"))
        .await
        .expect("the admin's Home tab follows the policy change");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_a_link_from_home_and_from_the_message_shortcut() {
    let app = spawn_app(setup(SlackMode::Socket)).await;
    open_home(&app, ALICE).await;
    open_check_modal(&app).await;
    let reply = app
        .fake
        .submit_modal(
            ALICE,
            &[(BLOCK_TEXT, "is https://acme.zoom.us/j/123456789 ok?")],
        )
        .await
        .unwrap();
    assert_eq!(reply.response_action(), Some("update"));
    let answer = app
        .fake
        .with_state(|s| s.open_modal(ALICE).map(|v| v.text()))
        .unwrap();
    assert!(answer.contains("not allowed, rule `no-zoom`"), "{answer}");
    assert!(
        answer.contains("Use instead: https://meet.jit.si/"),
        "{answer}"
    );

    // The shortcut on bob's message answers alice only.
    let ts = app
        .fake
        .post_user_message(GENERAL, BOB, "join <https://meet.google.com/cqg-tona-zhh>")
        .unwrap();
    app.wait_acked(&ts).await;
    app.fake
        .message_shortcut(ALICE, GENERAL, &ts, SHORTCUT_CHECK)
        .await
        .unwrap();
    let eph = app
        .fake
        .wait_for(WAIT, |s| {
            s.ephemerals()
                .iter()
                .find(|e| e.source == EphemeralSource::InteractionResponse)
                .cloned()
        })
        .await
        .expect("the shortcut answers");
    assert_eq!(eph.user, ALICE);
    assert!(eph.text.contains("(Google Meet): allowed"), "{}", eph.text);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_is_requested_approved_used_and_expires() {
    let app = spawn_app(setup(SlackMode::Socket)).await;
    // Alice's Zoom link: a thread reply and a private notice with the button.
    let ts = app.fake.post_user_message(GENERAL, ALICE, ZOOM).unwrap();
    app.wait_outcome(&ts).await;
    let notice = ephemeral_for(&app, ALICE).await;
    assert!(
        notice
            .blocks
            .as_ref()
            .unwrap()
            .to_string()
            .contains(ACTION_REQUEST_OPEN),
        "{notice:?}"
    );
    app.fake
        .click(ALICE, ClickIn::Ephemeral(0), ACTION_REQUEST_OPEN, None)
        .await
        .unwrap();
    let modal = app
        .fake
        .wait_modal(ALICE, WAIT, |v| v.callback_id() == CALLBACK_REQUEST)
        .await
        .expect("the request modal opens");
    assert!(
        modal
            .view
            .to_string()
            .contains("\"initial_value\":\"Zoom\""),
        "the subject is the tool of the message: {}",
        modal.view
    );
    // A blank reason is refused in the modal, naming the field.
    let reply = app
        .fake
        .submit_modal(ALICE, &[(BLOCK_REASON, "   "), (BLOCK_DURATION, "1d")])
        .await
        .unwrap();
    assert_eq!(reply.response_action(), Some("errors"));
    assert!(
        reply
            .error_for(BLOCK_REASON)
            .unwrap()
            .contains("give a reason"),
        "{:?}",
        reply.response
    );
    let reply = app
        .fake
        .submit_modal(
            ALICE,
            &[
                (BLOCK_SUBJECT, "Zoom <!channel>"),
                (BLOCK_REASON, "customer call on Tuesday"),
                (BLOCK_DURATION, "1d"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        reply.response_action(),
        Some("update"),
        "{:?}",
        reply.response
    );
    // The admin channel gets it with buttons; nothing people typed pings.
    let msg = admin_message(&app, |m| has_button(m, ACTION_APPROVE)).await;
    let shown = blocks_text(&msg);
    assert!(shown.contains("customer call on Tuesday"), "{shown}");
    assert!(!shown.contains("<!channel>"), "{shown}");
    assert!(
        !shown.contains("<@"),
        "the requester is named, not pinged: {shown}"
    );

    // Bob's click does not count.
    app.fake
        .click(BOB, in_admins(&msg.ts), ACTION_APPROVE, None)
        .await
        .unwrap();
    let refusal = ephemeral_for(&app, BOB).await;
    assert!(
        refusal
            .text
            .contains("Only linkguard admins can approve or deny"),
        "{}",
        refusal.text
    );
    assert!(
        has_button(&app.fake.messages(ADMINS)[0], ACTION_APPROVE),
        "still pending"
    );

    // The admin approves: the message says who, and alice is told.
    app.fake
        .click(ADMIN, in_admins(&msg.ts), ACTION_APPROVE, None)
        .await
        .unwrap();
    let decided = admin_message(&app, |m| !has_button(m, ACTION_APPROVE)).await;
    assert_eq!(decided.ts, msg.ts, "the same message, updated");
    assert!(
        blocks_text(&decided).contains("*Approved* by admin (U0FAKEADM01)"),
        "{}",
        blocks_text(&decided)
    );
    let dm = first_dm(&app, ALICE).await;
    assert!(dm.text.contains("was approved by admin"), "{}", dm.text);

    // Her next Zoom link is allowed and audited as excepted.
    let ts2 = app.fake.post_user_message(GENERAL, ALICE, ZOOM).unwrap();
    let rows = app
        .wait_audit(|rows| {
            rows.iter().any(|r| {
                r.entry.kind.as_str() == "exception" && r.entry.message_id.as_deref() == Some(&ts2)
            })
        })
        .await;
    let used = rows
        .iter()
        .find(|r| r.entry.message_id.as_deref() == Some(&ts2))
        .unwrap();
    assert!(used
        .entry
        .detail
        .as_deref()
        .unwrap()
        .contains("allowed by exception #1"));
    assert!(
        app.thread_reply(GENERAL, &ts2).is_none(),
        "no reply this time"
    );
    let kinds = kinds(&app).await;
    for k in [
        "exception_requested",
        "refused",
        "exception_approved",
        "exception",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }

    // Expiry restores enforcement.
    sqlx::query("UPDATE exceptions SET until_ms = $1")
        .bind(linkguard::store::now_ms() - 1)
        .execute(app.store.pool())
        .await
        .unwrap();
    let ts3 = app.fake.post_user_message(GENERAL, ALICE, ZOOM).unwrap();
    let (action, _, _) = app.wait_outcome(&ts3).await;
    assert_eq!(action, "reply");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_words_is_denied_with_a_note_over_http() {
    let app = spawn_app(setup(SlackMode::Http)).await;
    let r = app
        .fake
        .slash_command(
            GENERAL,
            ALICE,
            "exempt request for 1h about webex because partner uses it",
        )
        .await
        .unwrap();
    assert!(
        r.text().unwrap().contains("Request #1 sent to the admins"),
        "{:?}",
        r.text()
    );
    let msg = admin_message(&app, |m| has_button(m, ACTION_DECIDE_NOTE)).await;
    click_for_modal(
        &app,
        ADMIN,
        in_admins(&msg.ts),
        ACTION_DECIDE_NOTE,
        CALLBACK_DECIDE,
    )
    .await;
    let reply = app
        .fake
        .submit_modal(
            ADMIN,
            &[
                (BLOCK_DECISION, "deny"),
                (BLOCK_NOTE, "please use Jitsi with them"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(reply.response, None, "an empty answer closes the modal");
    let decided = admin_message(&app, |m| !has_button(m, ACTION_APPROVE)).await;
    let shown = blocks_text(&decided);
    assert!(shown.contains("*Denied* by admin"), "{shown}");
    assert!(shown.contains("please use Jitsi with them"), "{shown}");
    let dm = first_dm(&app, ALICE).await;
    assert!(dm.text.contains("was denied by admin"), "{}", dm.text);
    assert!(
        dm.text.contains("Note: please use Jitsi with them"),
        "{}",
        dm.text
    );
    assert!(app
        .store
        .exceptions_active(linkguard::store::Platform::Slack)
        .await
        .unwrap()
        .is_empty());
    let kinds = kinds(&app).await;
    assert!(kinds.iter().any(|k| k == "exception_denied"), "{kinds:?}");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_trigger_opens_nothing_and_a_fresh_click_works() {
    let app = spawn_app(setup(SlackMode::Socket)).await;
    open_home(&app, ALICE).await;
    // Slack answers views.open after the trigger's 3 seconds.
    app.fake.delay("views.open", Duration::from_millis(3500));
    app.fake
        .click(ALICE, ClickIn::Home, ACTION_CHECK_OPEN, None)
        .await
        .unwrap();
    app.fake
        .wait_until(WAIT, |s| !s.calls_to("views.open").is_empty())
        .await
        .unwrap();
    let call = app
        .fake
        .calls()
        .into_iter()
        .find(|c| c.method == "views.open")
        .unwrap();
    assert_eq!(call.error(), Some("expired_trigger_id"));
    assert!(app.fake.with_state(|s| s.open_modal(ALICE).is_none()));
    let told = app
        .fake
        .wait_for(WAIT, |s| {
            s.visible_messages(&dm_channel_id(ALICE))
                .first()
                .map(|m| m.text.clone())
        })
        .await
        .expect("alice is told to click again");
    assert!(told.contains("click the button again"), "{told}");
    assert_eq!(
        app.fake.with_state(|s| s.calls_to("views.open").len()),
        1,
        "a trigger is not retried"
    );
    app.fake.delay("views.open", Duration::ZERO);
    open_check_modal(&app).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_stale_interactions_are_refused() {
    let app = spawn_app(setup(SlackMode::Http)).await;
    let r = app
        .fake
        .slash_command(GENERAL, ALICE, "exempt request for 1d because vendor")
        .await
        .unwrap();
    assert!(r.text().unwrap().contains("Request #1"), "{:?}", r.text());
    let msg = admin_message(&app, |m| has_button(m, ACTION_APPROVE)).await;
    let forged = serde_json::json!({
        "type": "block_actions",
        "team": {"id": "T0FAKETEAM1", "domain": "fakemod"},
        "user": {"id": ADMIN, "username": "admin", "team_id": "T0FAKETEAM1"},
        "api_app_id": "A0FAKEAPP01",
        "container": {"type": "message", "message_ts": msg.ts, "channel_id": ADMINS},
        "trigger_id": "1.2.3",
        "channel": {"id": ADMINS, "name": "linkguard-admins"},
        "actions": [{"type": "button", "action_id": ACTION_APPROVE, "block_id": "decide_1", "value": "1"}],
    });
    for mode in [SignMode::Forged, SignMode::Stale, SignMode::Unsigned] {
        let resp = app.fake.send_raw_interaction(&forged, mode).await.unwrap();
        assert_eq!(resp.status, 401, "{mode:?}: {}", resp.body);
    }
    // Validly signed, the same request would have counted: nothing was decided.
    assert_eq!(
        app.store.request_get(1).await.unwrap().unwrap().state,
        linkguard::store::RequestState::Pending
    );
    let rows = app
        .wait_audit(|rows| {
            rows.iter()
                .filter(|r| r.entry.kind.as_str() == "rejected_request")
                .count()
                >= 3
        })
        .await;
    assert!(rows.iter().any(|r| r
        .entry
        .detail
        .as_deref()
        .unwrap_or("")
        .starts_with("/slack/interactivity")));
    app.finish().await;
}
