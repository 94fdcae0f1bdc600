//! The fake Slack's native surfaces driven by the real slack-morphism
//! client: `views.publish` answers decode into slack-morphism's types, Block
//! Kit's limits are enforced the way Slack does (`invalid_blocks` with the
//! reason), `views.open` wants a live `trigger_id`, and `chat.postMessage`
//! to a user id lands in the app's direct messages.

use std::sync::Arc;

use linkguard_fakes::slack::{dm_channel_id, FakeSlack, FakeSlackConfig, DEFAULT_BOT_TOKEN};
use serde_json::{json, Value};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

const ALICE: &str = "U0FAKEUSR01";

fn client(fake: &FakeSlack) -> Arc<SlackHyperClient> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .expect("native root certificates")
        .https_or_http()
        .enable_http1()
        .build();
    let connector = SlackClientHyperConnector::from(https).with_slack_api_url(&fake.api_url());
    Arc::new(SlackClient::new(connector))
}

fn api_error(e: SlackClientError) -> (String, String) {
    match e {
        SlackClientError::ApiError(api) => (api.code, format!("{:?}", api.warnings)),
        other => panic!("expected a Slack API error, got {other:?}"),
    }
}

fn home(blocks: Value) -> SlackView {
    serde_json::from_value(json!({"type": "home", "blocks": blocks})).expect("a home view")
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn button(text: &str, action_id: &str) -> Value {
    json!({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": "1"}]})
}

#[tokio::test]
async fn views_publish_stores_the_home_tab_and_enforces_block_kit_limits() {
    let fake = FakeSlack::start(FakeSlackConfig::default()).await.unwrap();
    let client = client(&fake);
    let token = SlackApiToken::new(DEFAULT_BOT_TOKEN.into());
    let s = client.open_session(&token);
    let publish =
        |blocks: Value| SlackApiViewsPublishRequest::new(SlackUserId(ALICE.into()), home(blocks));

    let ok = s
        .views_publish(&publish(json!([
            section("hello"),
            button("Check", "check")
        ])))
        .await
        .expect("a valid home view is published");
    assert!(matches!(ok.view.view, SlackView::Home(_)));
    let stored = fake.with_state(|st| st.home_view(ALICE).cloned()).unwrap();
    assert_eq!(stored.id, ok.view.state_params.id.0);
    assert!(stored.text().contains("hello"));

    let too_many: Vec<Value> = (0..101).map(|i| section(&format!("{i}"))).collect();
    let cases = [
        (json!(too_many), "no more than 100 items"),
        (
            json!([section(&"x".repeat(3001))]),
            "must be less than 3001 characters",
        ),
        (
            json!([button(&"b".repeat(76), "check")]),
            "must be less than 76 characters",
        ),
        (
            json!([button("ok", &"a".repeat(256))]),
            "must be less than 256 characters",
        ),
    ];
    for (blocks, why) in cases {
        let (code, warnings) = api_error(s.views_publish(&publish(blocks)).await.unwrap_err());
        assert_eq!(code, "invalid_blocks");
        let calls = fake.calls();
        let last = calls.last().unwrap();
        let messages = last.response["response_metadata"]["messages"].to_string();
        assert!(
            messages.contains(why),
            "{messages} should say {why} ({warnings})"
        );
    }
    // The rejected views changed nothing.
    assert!(fake
        .with_state(|st| st.home_view(ALICE).map(|v| v.text()))
        .unwrap()
        .contains("hello"));
}

#[tokio::test]
async fn views_open_wants_a_live_trigger() {
    let fake = FakeSlack::start(FakeSlackConfig::default()).await.unwrap();
    let client = client(&fake);
    let token = SlackApiToken::new(DEFAULT_BOT_TOKEN.into());
    let s = client.open_session(&token);
    let modal: SlackView = serde_json::from_value(json!({
        "type": "modal",
        "title": {"type": "plain_text", "text": "Check a link"},
        "blocks": [section("hi")],
    }))
    .unwrap();
    let req = SlackApiViewsOpenRequest::new(SlackTriggerId("12345.98765.abcd".into()), modal);
    let (code, _) = api_error(s.views_open(&req).await.unwrap_err());
    assert_eq!(code, "invalid_trigger_id");
}

#[tokio::test]
async fn a_message_to_a_user_id_lands_in_the_apps_direct_messages() {
    let fake = FakeSlack::start(FakeSlackConfig::default()).await.unwrap();
    let client = client(&fake);
    let token = SlackApiToken::new(DEFAULT_BOT_TOKEN.into());
    let s = client.open_session(&token);
    let req = SlackApiChatPostMessageRequest::new(
        SlackChannelId(ALICE.into()),
        SlackMessageContent::new().with_text("your request was approved".into()),
    );
    let resp = s.chat_post_message(&req).await.expect("posted");
    assert_eq!(resp.channel.0, dm_channel_id(ALICE));
    let dm = fake.messages(&dm_channel_id(ALICE));
    assert_eq!(dm.len(), 1);
    assert_eq!(dm[0].text, "your request was approved");
}
