//! The fake Slack Web API driven by the real slack-morphism 2.31.1 client:
//! every method's success shape decodes into slack-morphism's response types,
//! errors come back as Slack's error codes, and side effects (stored
//! messages, echo events, ephemerals) match Slack's rules.

use std::sync::Arc;

use linkguard_fakes::slack::{
    FakeChannel, FakeSlack, FakeSlackConfig, FakeUser, TokenKind, DEFAULT_ADMIN_USER_TOKEN,
    DEFAULT_APP_TOKEN, DEFAULT_BOT_TOKEN,
};
use serde_json::Value;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

const GENERAL: &str = "C0FAKECHAN1";
const ALICE: &str = "U0FAKEUSR01";

/// The client set-up the bot needs: slack-morphism's own connector type,
/// but allowing plain `http://` so it can reach the fake.
fn client(fake: &FakeSlack) -> Arc<SlackHyperClient> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .expect("native root certificates")
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let connector = SlackClientHyperConnector::from(https).with_slack_api_url(&fake.api_url());
    Arc::new(SlackClient::new(connector))
}

fn token(value: &str) -> SlackApiToken {
    SlackApiToken::new(value.into())
}

fn api_error(e: SlackClientError) -> String {
    match e {
        SlackClientError::ApiError(api) => api.code,
        other => panic!("expected a Slack API error, got {other:?}"),
    }
}

async fn start() -> FakeSlack {
    FakeSlack::start(FakeSlackConfig::default())
        .await
        .expect("fake starts")
}

#[tokio::test]
async fn auth_test_identifies_bot_and_user_tokens() {
    let fake = start().await;
    let client = client(&fake);

    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    let me = bot.auth_test().await.expect("auth.test");
    assert_eq!(me.user_id.0, "U0FAKEBOT01");
    assert_eq!(me.team_id.0, "T0FAKETEAM1");
    assert_eq!(me.bot_id.map(|b| b.0).as_deref(), Some("B0FAKEBOT01"));

    let admin_token = token(DEFAULT_ADMIN_USER_TOKEN);
    let admin = client.open_session(&admin_token);
    let me = admin.auth_test().await.expect("auth.test as user");
    assert_eq!(me.user_id.0, "U0FAKEADM01");
    assert!(me.bot_id.is_none());

    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].method, "auth.test");
    assert_eq!(calls[0].http_method, "GET");
    assert_eq!(calls[0].token, TokenKind::Bot);
    assert!(
        calls[0].params.get("token").is_none(),
        "token never recorded"
    );
}

#[tokio::test]
async fn unknown_and_missing_tokens_get_slack_error_shapes() {
    let fake = start().await;
    let client = client(&fake);
    let bogus_token = token("xoxb-not-a-real-token");
    let bogus = client.open_session(&bogus_token);
    assert_eq!(
        api_error(bogus.auth_test().await.unwrap_err()),
        "invalid_auth"
    );

    // No token at all: slack-morphism always sends one, so use plain HTTP.
    let resp = reqwest::get(format!("{}auth.test", fake.api_url()))
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"ok": false, "error": "not_authed"})
    );

    // A form-encoded POST with `token=` works like a Bearer header.
    let resp = reqwest::Client::new()
        .post(format!("{}auth.test", fake.api_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={DEFAULT_BOT_TOKEN}"))
        .send()
        .await
        .expect("request");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["user_id"], "U0FAKEBOT01");
}

#[tokio::test]
async fn apps_connections_open_needs_the_app_token() {
    let fake = start().await;
    let client = client(&fake);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    let err = bot
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await
        .unwrap_err();
    assert_eq!(api_error(err), "not_allowed_token_type");

    let app_token = token(DEFAULT_APP_TOKEN);
    let app = client.open_session(&app_token);
    let open = app
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await
        .expect("apps.connections.open");
    let url = open.url.0.to_string();
    let expected_prefix = format!("{}/link/?ticket=", fake.base_url().replace("http", "ws"));
    assert!(url.starts_with(&expected_prefix), "{url}");
    assert!(url.ends_with("&app_id=A0FAKEAPP01"), "{url}");

    // The app token is only good for apps.* methods.
    let err = app.auth_test().await.unwrap_err();
    assert_eq!(api_error(err), "not_allowed_token_type");
}

#[tokio::test]
async fn post_message_stores_returns_fixture_shape_and_echoes_own_message() {
    let fake = start().await;
    let client = client(&fake);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    let parent = fake
        .post_user_message(GENERAL, ALICE, "hello")
        .expect("alice posts");

    let req = SlackApiChatPostMessageRequest::new(
        GENERAL.into(),
        SlackMessageContent::new().with_text("Use <https://meet.jit.si/x|Jitsi> instead".into()),
    )
    .with_thread_ts(parent.clone().into())
    .with_unfurl_links(false);
    let resp = bot.chat_post_message(&req).await.expect("postMessage");
    assert_eq!(resp.channel.0, GENERAL);
    assert_eq!(
        resp.message.sender.bot_id.as_ref().map(|b| b.0.as_str()),
        Some("B0FAKEBOT01")
    );
    assert_eq!(
        resp.message.sender.user.as_ref().map(|u| u.0.as_str()),
        Some("U0FAKEBOT01")
    );
    let ts = resp.ts.0.clone();
    let (secs, micros) = ts.split_once('.').expect("ts has a dot");
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{ts}");
    assert_ne!(ts, parent);

    let stored = fake.messages(GENERAL);
    let mine = stored.iter().find(|m| m.ts == ts).expect("stored");
    assert_eq!(mine.thread_ts.as_deref(), Some(parent.as_str()));
    assert_eq!(mine.parent_user_id.as_deref(), Some(ALICE));
    assert_eq!(mine.unfurl_links, Some(false));

    // The echo: a `message` event without subtype, with bot_id/app_id/bot_profile.
    let echo = fake
        .with_state(|s| s.events().last().cloned())
        .expect("echo event");
    assert_eq!(echo["event"]["ts"], ts.as_str());
    assert!(echo["event"].get("subtype").is_none());
    assert_eq!(echo["event"]["app_id"], "A0FAKEAPP01");
    assert_eq!(echo["event"]["bot_profile"]["id"], "B0FAKEBOT01");
    let decoded: SlackPushEventCallback = serde_json::from_value(echo).expect("decodes");
    match decoded.event {
        SlackEventCallbackBody::Message(m) => {
            assert!(m.subtype.is_none());
            assert_eq!(m.sender.bot_id.map(|b| b.0).as_deref(), Some("B0FAKEBOT01"));
            assert_eq!(m.origin.thread_ts.map(|t| t.0), Some(parent));
        }
        other => panic!("not a message event: {other:?}"),
    }
}

#[tokio::test]
async fn customised_post_needs_the_customize_scope() {
    let fake = start().await;
    let client = client(&fake);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    let req = SlackApiChatPostMessageRequest::new(
        GENERAL.into(),
        SlackMessageContent::new().with_text("reposted".into()),
    )
    .with_username("Alice Example".into())
    .with_icon_url("https://secure.gravatar.com/avatar/0a1b2c3d.jpg?s=72".into());
    let resp = bot.chat_post_message(&req).await.expect("postMessage");
    let m = fake
        .messages(GENERAL)
        .into_iter()
        .find(|m| m.ts == resp.ts.0)
        .expect("stored");
    assert_eq!(m.username.as_deref(), Some("Alice Example"));
    assert_eq!(
        m.icon_url.as_deref(),
        Some("https://secure.gravatar.com/avatar/0a1b2c3d.jpg?s=72")
    );
    assert_eq!(m.subtype.as_deref(), Some("bot_message"));
    assert_eq!(m.bot_id.as_deref(), Some("B0FAKEBOT01"));

    let plain =
        FakeSlack::start(FakeSlackConfig::default().without_bot_scope("chat:write.customize"))
            .await
            .expect("fake");
    let client = self::client(&plain);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    let resp = bot.chat_post_message(&req).await.expect("postMessage");
    let m = plain
        .messages(GENERAL)
        .into_iter()
        .find(|m| m.ts == resp.ts.0)
        .expect("stored");
    assert_eq!(m.username, None, "customisation silently ignored");
    assert_eq!(m.icon_url, None);
    assert_eq!(m.user.as_deref(), Some("U0FAKEBOT01"));
}

#[tokio::test]
async fn post_message_errors() {
    let fake = start().await;
    let client = client(&fake);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    let post = |channel: &str, text: &str| {
        SlackApiChatPostMessageRequest::new(
            channel.into(),
            SlackMessageContent::new().with_text(text.into()),
        )
    };
    let e = bot
        .chat_post_message(&post("C0NOPE00000", "x"))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "channel_not_found");
    let e = bot
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            GENERAL.into(),
            SlackMessageContent::new(),
        ))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "no_text");
    let e = bot
        .chat_post_message(&post(GENERAL, &"a".repeat(40_001)))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "msg_too_long");

    // Block Kit: at most 50 blocks, a section's text at most 3,000 characters.
    let section = |text: String| -> SlackBlock {
        SlackSectionBlock::new()
            .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(text)))
            .into()
    };
    let with_blocks = |blocks: Vec<SlackBlock>| {
        SlackApiChatPostMessageRequest::new(
            GENERAL.into(),
            SlackMessageContent::new()
                .with_text("x".into())
                .with_blocks(blocks),
        )
    };
    bot.chat_post_message(&with_blocks(vec![section("b".repeat(3000)); 50]))
        .await
        .expect("50 blocks of 3,000 characters fit");
    for blocks in [
        vec![section("b".into()); 51],
        vec![section("b".repeat(3001))],
    ] {
        let e = bot
            .chat_post_message(&with_blocks(blocks))
            .await
            .unwrap_err();
        assert_eq!(api_error(e), "invalid_blocks");
    }

    fake.fail_next("chat.postMessage", "is_archived");
    let e = bot
        .chat_post_message(&post(GENERAL, "x"))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "is_archived");
    bot.chat_post_message(&post(GENERAL, "x"))
        .await
        .expect("next call succeeds");
}

#[tokio::test]
async fn bot_may_update_and_delete_only_its_own_messages() {
    let fake = start().await;
    let client = client(&fake);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    let alice_ts = fake
        .post_user_message(GENERAL, ALICE, "<https://zoom.us/j/123>")
        .expect("alice posts");

    let e = bot
        .chat_update(&SlackApiChatUpdateRequest::new(
            GENERAL.into(),
            SlackMessageContent::new().with_text("hijack".into()),
            alice_ts.clone().into(),
        ))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "cant_update_message");
    let e = bot
        .chat_delete(&SlackApiChatDeleteRequest::new(
            GENERAL.into(),
            alice_ts.clone().into(),
        ))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "cant_delete_message");

    let own = bot
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            GENERAL.into(),
            SlackMessageContent::new().with_text("v1".into()),
        ))
        .await
        .expect("post");
    let updated = bot
        .chat_update(&SlackApiChatUpdateRequest::new(
            GENERAL.into(),
            SlackMessageContent::new().with_text("v2".into()),
            own.ts.clone(),
        ))
        .await
        .expect("update own");
    assert_eq!(updated.ts, own.ts);
    assert_eq!(updated.message.content.text.as_deref(), Some("v2"));
    assert!(updated.message.edited.is_some());

    let changed = fake
        .with_state(|s| s.events().last().cloned())
        .expect("event");
    assert_eq!(changed["event"]["subtype"], "message_changed");
    assert_eq!(changed["event"]["message"]["text"], "v2");
    assert_eq!(changed["event"]["previous_message"]["text"], "v1");
    assert_eq!(changed["event"]["message"]["ts"], own.ts.0.as_str());
    let decoded: SlackPushEventCallback = serde_json::from_value(changed).expect("decodes");
    assert!(
        matches!(decoded.event, SlackEventCallbackBody::Message(ref m)
        if m.subtype == Some(SlackMessageEventType::MessageChanged)
            && m.message.as_ref().and_then(|n| n.content.as_ref()).and_then(|c| c.text.as_deref()) == Some("v2"))
    );

    let deleted = bot
        .chat_delete(&SlackApiChatDeleteRequest::new(
            GENERAL.into(),
            own.ts.clone(),
        ))
        .await
        .expect("delete own");
    assert_eq!(deleted.ts, own.ts);
    let e = bot
        .chat_delete(&SlackApiChatDeleteRequest::new(
            GENERAL.into(),
            own.ts.clone(),
        ))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "message_not_found");
}

#[tokio::test]
async fn admin_user_token_deletes_other_peoples_messages() {
    let fake = start().await;
    let client = client(&fake);
    let admin_token = token(DEFAULT_ADMIN_USER_TOKEN);
    let admin = client.open_session(&admin_token);
    let alice_ts = fake
        .post_user_message(GENERAL, ALICE, "<https://zoom.us/j/123>")
        .expect("alice posts");

    // Admins still cannot edit someone else's words.
    let e = admin
        .chat_update(&SlackApiChatUpdateRequest::new(
            GENERAL.into(),
            SlackMessageContent::new().with_text("x".into()),
            alice_ts.clone().into(),
        ))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "cant_update_message");

    admin
        .chat_delete(&SlackApiChatDeleteRequest::new(
            GENERAL.into(),
            alice_ts.clone().into(),
        ))
        .await
        .expect("admin deletes");
    let m = fake
        .messages(GENERAL)
        .into_iter()
        .find(|m| m.ts == alice_ts)
        .expect("still listed");
    assert!(m.deleted);
    let ev = fake
        .with_state(|s| s.events().last().cloned())
        .expect("event");
    assert_eq!(ev["event"]["subtype"], "message_deleted");
    assert_eq!(ev["event"]["deleted_ts"], alice_ts.as_str());
    assert!(ev["event"].get("user").is_none());
    let decoded: SlackPushEventCallback = serde_json::from_value(ev).expect("decodes");
    assert!(
        matches!(decoded.event, SlackEventCallbackBody::Message(ref m)
        if m.deleted_ts.as_ref().map(|t| t.0.as_str()) == Some(alice_ts.as_str()))
    );
}

#[tokio::test]
async fn ephemeral_messages_are_recorded_and_need_a_member() {
    let mut cfg = FakeSlackConfig::default();
    cfg.users
        .push(FakeUser::member("U0OUTSIDER1", "olga", "Olga Outside"));
    cfg.channels.push(FakeChannel {
        id: "C0FAKESECRT".into(),
        name: "secret".into(),
        is_private: true,
        is_archived: false,
        is_general: false,
        members: vec![ALICE.into()],
        topic: String::new(),
        purpose: String::new(),
    });
    let fake = FakeSlack::start(cfg).await.expect("fake");
    let client = client(&fake);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    let text = SlackMessageContent::new().with_text("Your link was replaced".into());
    bot.chat_post_ephemeral(&SlackApiChatPostEphemeralRequest::new(
        GENERAL.into(),
        ALICE.into(),
        text.clone(),
    ))
    .await
    .expect("ephemeral");
    let eph = fake.ephemerals();
    assert_eq!(eph.len(), 1);
    assert_eq!(eph[0].user, ALICE);
    assert_eq!(eph[0].text, "Your link was replaced");

    let e = bot
        .chat_post_ephemeral(&SlackApiChatPostEphemeralRequest::new(
            GENERAL.into(),
            "U0OUTSIDER1".into(),
            text.clone(),
        ))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "user_not_in_channel");
    // A private channel the bot is not in does not exist for it.
    let e = bot
        .chat_post_ephemeral(&SlackApiChatPostEphemeralRequest::new(
            "C0FAKESECRT".into(),
            ALICE.into(),
            text,
        ))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "channel_not_found");
}

#[tokio::test]
async fn read_methods_decode_into_slack_morphism_types() {
    let fake = start().await;
    let client = client(&fake);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);

    let alice = bot
        .users_info(&SlackApiUsersInfoRequest::new(ALICE.into()))
        .await
        .expect("users.info");
    assert_eq!(alice.user.name.as_deref(), Some("alice"));
    assert_eq!(alice.user.flags.is_admin, Some(false));
    let profile = alice.user.profile.expect("profile");
    assert_eq!(profile.display_name.as_deref(), Some("alice"));
    let admin = bot
        .users_info(&SlackApiUsersInfoRequest::new("U0FAKEADM01".into()))
        .await
        .expect("users.info");
    assert_eq!(admin.user.flags.is_admin, Some(true));
    assert_eq!(admin.user.flags.is_owner, Some(true));
    let e = bot
        .users_info(&SlackApiUsersInfoRequest::new("U0NOBODY000".into()))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "user_not_found");

    let list = bot
        .users_list(&SlackApiUsersListRequest::new())
        .await
        .expect("users.list");
    assert!(list.members.iter().any(|u| u.id.0 == "U0FAKEBOT01"));

    let chan = bot
        .conversations_info(&SlackApiConversationsInfoRequest::new(GENERAL.into()))
        .await
        .expect("conversations.info");
    assert_eq!(chan.channel.name.as_deref(), Some("general"));
    let e = bot
        .conversations_info(&SlackApiConversationsInfoRequest::new("C0NOPE00000".into()))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "channel_not_found");

    let parent = fake
        .post_user_message(GENERAL, ALICE, "parent")
        .expect("post");
    let reply = fake
        .post_thread_reply(GENERAL, "U0FAKEUSR02", &parent, "reply")
        .expect("reply");
    let replies = bot
        .conversations_replies(&SlackApiConversationsRepliesRequest::new(
            GENERAL.into(),
            parent.clone().into(),
        ))
        .await
        .expect("conversations.replies");
    let tss: Vec<&str> = replies
        .messages
        .iter()
        .map(|m| m.origin.ts.0.as_str())
        .collect();
    assert_eq!(tss, vec![parent.as_str(), reply.as_str()]);

    let history = bot
        .conversations_history(
            &SlackApiConversationsHistoryRequest::new().with_channel(GENERAL.into()),
        )
        .await
        .expect("conversations.history");
    assert_eq!(history.messages.len(), 1, "replies stay in their thread");

    let link = bot
        .chat_get_permalink(&SlackApiChatGetPermalinkRequest::new(
            GENERAL.into(),
            parent.clone().into(),
        ))
        .await
        .expect("permalink");
    assert!(link
        .permalink
        .as_str()
        .ends_with(&format!("/archives/{GENERAL}/p{}", parent.replace('.', ""))));

    let team = bot
        .team_info(&SlackApiTeamInfoRequest::new())
        .await
        .expect("team.info");
    assert_eq!(team.team.id.0, "T0FAKETEAM1");
    let me = bot
        .bots_info(&SlackApiBotsInfoRequest::new().with_bot("B0FAKEBOT01".into()))
        .await
        .expect("bots.info");
    assert_eq!(me.bot.name, "modbot");
}

/// A plain `chat.postMessage` request to #general.
fn hi() -> SlackApiChatPostMessageRequest {
    SlackApiChatPostMessageRequest::new(
        GENERAL.into(),
        SlackMessageContent::new().with_text("hi".into()),
    )
}

/// The HTTP statuses of every `chat.postMessage` call so far.
fn post_statuses(fake: &FakeSlack) -> Vec<u16> {
    fake.calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage")
        .map(|c| c.status)
        .collect()
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let fake = start().await;
    let client = client(&fake);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    fake.rate_limit("chat.postMessage", 1, 7);
    let req = hi();
    match bot.chat_post_message(&req).await {
        Err(SlackClientError::RateLimitError(e)) => {
            assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(7)));
            assert_eq!(e.code.as_deref(), Some("ratelimited"));
        }
        other => panic!("expected a rate limit error, got {other:?}"),
    }
    bot.chat_post_message(&req).await.expect("limit lifted");
    let statuses = post_statuses(&fake);
    assert_eq!(statuses, vec![429, 200]);
    assert_eq!(
        fake.messages(GENERAL).len(),
        1,
        "the limited call stored nothing"
    );
}

#[tokio::test]
async fn server_errors_reach_slack_morphism_as_http_errors_and_store_nothing() {
    let fake = start().await;
    let client = client(&fake);
    let bot_token = token(DEFAULT_BOT_TOKEN);
    let bot = client.open_session(&bot_token);
    fake.fail_http("chat.postMessage", 503, 2);
    let req = hi();
    for _ in 0..2 {
        match bot.chat_post_message(&req).await {
            Err(SlackClientError::HttpError(e)) => assert_eq!(e.status_code.as_u16(), 503),
            other => panic!("expected an HTTP error, got {other:?}"),
        }
    }
    bot.chat_post_message(&req).await.expect("the outage ended");
    let statuses = post_statuses(&fake);
    assert_eq!(statuses, vec![503, 503, 200]);
    assert_eq!(
        fake.messages(GENERAL).len(),
        1,
        "failed calls stored nothing"
    );
}

#[tokio::test]
async fn user_events_decode_as_slack_morphism_message_events() {
    let fake = start().await;
    let ts = fake
        .post_user_message(
            GENERAL,
            ALICE,
            "Standup: <https://us06web.zoom.us/j/85512345678?pwd=aBcD&amp;uname=guest|join> &amp; notes",
        )
        .expect("post");
    let reply = fake
        .post_thread_reply(GENERAL, "U0FAKEUSR02", &ts, "ok")
        .expect("reply");
    fake.edit_user_message(GENERAL, &ts, "edited")
        .expect("edit");
    let file = fake
        .post_file_share(GENERAL, ALICE, "agenda")
        .expect("file");
    let bot = fake
        .post_bot_message(
            GENERAL,
            &linkguard_fakes::slack::OtherBot::ci_notifier(),
            "Deploy done",
        )
        .expect("bot");
    fake.delete_user_message(GENERAL, &reply).expect("delete");

    let events = fake.with_state(|s| s.events().to_vec());
    assert_eq!(events.len(), 6);
    let decoded: Vec<SlackMessageEvent> = events
        .iter()
        .map(|e| {
            let cb: SlackPushEventCallback = serde_json::from_value(e.clone()).expect("callback");
            assert_eq!(cb.team_id.0, "T0FAKETEAM1");
            assert_eq!(cb.api_app_id.0, "A0FAKEAPP01");
            match cb.event {
                SlackEventCallbackBody::Message(m) => m,
                other => panic!("not a message event: {other:?}"),
            }
        })
        .collect();
    let first = &decoded[0];
    assert_eq!(first.origin.ts.0, ts);
    let link = &events[0]["event"]["blocks"][0]["elements"][0]["elements"][1];
    assert_eq!(
        link["url"],
        "https://us06web.zoom.us/j/85512345678?pwd=aBcD&uname=guest"
    );
    assert_eq!(
        decoded[1].origin.thread_ts.as_ref().map(|t| t.0.as_str()),
        Some(ts.as_str())
    );
    assert_eq!(events[1]["event"]["parent_user_id"], ALICE);
    assert_eq!(
        decoded[2].subtype,
        Some(SlackMessageEventType::MessageChanged)
    );
    assert_eq!(events[2]["event"]["message"]["edited"]["user"], ALICE);
    assert_eq!(decoded[3].subtype, Some(SlackMessageEventType::FileShare));
    assert_eq!(decoded[3].origin.ts.0, file);
    assert_eq!(decoded[4].subtype, Some(SlackMessageEventType::BotMessage));
    assert_eq!(decoded[4].origin.ts.0, bot);
    assert_eq!(
        decoded[5].subtype,
        Some(SlackMessageEventType::MessageDeleted)
    );
    // event ids are unique, event_time is an integer
    let ids: std::collections::HashSet<&str> = events
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 6);
    assert!(events.iter().all(|e| e["event_time"].is_u64()));
}
