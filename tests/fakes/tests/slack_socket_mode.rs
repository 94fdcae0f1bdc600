//! Socket Mode against the real slack-morphism `SlackClientSocketModeListener`:
//! hello, events and slash commands acked over two connections, redelivery of
//! unacked envelopes, reconnection after `refresh_requested` and after an
//! abrupt drop, with no event lost.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linkguard_fakes::slack::{
    DeliveryKind, DeliveryOutcome, FakeSlack, FakeSlackConfig, SlashReplySource, DEFAULT_APP_TOKEN,
};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

const GENERAL: &str = "C0FAKECHAN1";
const ALICE: &str = "U0FAKEUSR01";
const WAIT: Duration = Duration::from_secs(20);

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

/// What the test bot shares with its callbacks.
struct BotState {
    seen: mpsc::UnboundedSender<SlackPushEventCallback>,
    /// Event ids whose first delivery the bot refuses to ack.
    fail_once: Mutex<HashSet<String>>,
    refuse_texts: Vec<String>,
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let guard = state.read().await;
    let Some(bot) = guard.get_user_state::<Arc<BotState>>() else {
        return Ok(());
    };
    let text = match &event.event {
        SlackEventCallbackBody::Message(m) => m
            .content
            .as_ref()
            .and_then(|c| c.text.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let first_time = bot
        .fail_once
        .lock()
        .map(|mut s| s.insert(event.event_id.0.clone()))
        .unwrap_or(false);
    // Forwarded before deciding, so the test sees every delivery attempt.
    let _ = bot.seen.send(event);
    if first_time && bot.refuse_texts.contains(&text) {
        return Err("refusing the first delivery".into());
    }
    Ok(())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHyperClient>,
    _state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let text = format!(
        "{} {} from {}",
        event.command.0,
        event.text.unwrap_or_default(),
        event.user_id.0
    );
    Ok(SlackCommandEventResponse::new(
        SlackMessageContent::new().with_text(text),
    ))
}

/// Frames slack-morphism failed to decode, across all tests of this file
/// (must stay 0: every frame the fake sends has to fit slack-morphism's models).
static UNDECODABLE_FRAMES: AtomicUsize = AtomicUsize::new(0);

/// An error makes slack-morphism skip the ack, which is what we want for redelivery.
fn no_ack_on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHyperClient>,
    _state: SlackClientEventsUserState,
) -> HttpStatusCode {
    if let Some(SlackClientError::ProtocolError(_)) = err.downcast_ref::<SlackClientError>() {
        UNDECODABLE_FRAMES.fetch_add(1, Ordering::SeqCst);
    }
    HttpStatusCode::INTERNAL_SERVER_ERROR
}

async fn finish(h: Harness) {
    h.listener.shutdown().await;
    assert_eq!(UNDECODABLE_FRAMES.load(Ordering::SeqCst), 0);
}

struct Harness {
    fake: FakeSlack,
    listener: SlackClientSocketModeListener<SlackClientHyperHttpsConnector>,
    seen: mpsc::UnboundedReceiver<SlackPushEventCallback>,
}

async fn harness(refuse_texts: &[&str]) -> Harness {
    let cfg =
        FakeSlackConfig::default().with_fast_timers(Duration::from_millis(1500), Duration::ZERO);
    let fake = FakeSlack::start(cfg).await.expect("fake");
    let (tx, seen) = mpsc::unbounded_channel();
    let state = Arc::new(BotState {
        seen: tx,
        fail_once: Mutex::new(HashSet::new()),
        refuse_texts: refuse_texts.iter().map(|s| s.to_string()).collect(),
    });
    let env = Arc::new(
        SlackClientEventsListenerEnvironment::new(client(&fake))
            .with_error_handler(no_ack_on_error)
            .with_user_state(state),
    );
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_push_events(on_push)
        .with_command_events(on_command);
    let config = SlackClientSocketModeConfig::new()
        .with_max_connections_count(2)
        .with_initial_backoff_in_seconds(0)
        .with_reconnect_timeout_in_seconds(1);
    let listener = SlackClientSocketModeListener::new(&config, env, callbacks);
    listener
        .listen_for(&SlackApiToken::new(DEFAULT_APP_TOKEN.into()))
        .await
        .expect("listen");
    listener.start().await;
    fake.wait_until(WAIT, |s| s.open_sockets() == 2)
        .await
        .expect("two sockets open");
    Harness {
        fake,
        listener,
        seen,
    }
}

async fn next_text(seen: &mut mpsc::UnboundedReceiver<SlackPushEventCallback>) -> String {
    let ev = tokio::time::timeout(WAIT, seen.recv())
        .await
        .expect("an event arrives")
        .expect("channel open");
    match ev.event {
        SlackEventCallbackBody::Message(m) => m.content.and_then(|c| c.text).unwrap_or_default(),
        other => panic!("unexpected event {other:?}"),
    }
}

#[tokio::test]
async fn user_message_and_slash_command_are_delivered_and_acked() {
    let mut h = harness(&[]).await;
    let fake = &h.fake;
    assert_eq!(fake.with_state(|s| s.sockets_opened()), 2);

    fake.post_user_message(GENERAL, ALICE, "see <https://zoom.us/j/1>")
        .expect("post");
    assert_eq!(next_text(&mut h.seen).await, "see <https://zoom.us/j/1>");
    let event_id = fake.with_state(|s| s.events()[0]["event_id"].as_str().map(str::to_string));
    let event_id = event_id.expect("event id");
    fake.wait_until(WAIT, |s| s.event_acked(&event_id))
        .await
        .expect("acked");
    let d = fake.deliveries();
    assert_eq!(d.len(), 1, "exactly one connection got it");
    assert_eq!(d[0].kind, DeliveryKind::EventsApi);
    assert_eq!(d[0].retry_attempt, 0);

    let reply = fake
        .slash_command(GENERAL, ALICE, "allow https://zoom.us/j/1 for 1h")
        .await
        .expect("slash reply");
    assert_eq!(reply.source, SlashReplySource::Immediate);
    assert_eq!(
        reply.text(),
        Some("/linkguard allow https://zoom.us/j/1 for 1h from U0FAKEUSR01")
    );
    // No response_type means ephemeral: only alice sees it.
    let eph = fake.ephemerals();
    assert_eq!(eph.len(), 1);
    assert_eq!(eph[0].user, ALICE);
    finish(h).await;
}

#[tokio::test]
async fn unacked_event_is_redelivered_with_same_event_id() {
    let mut h = harness(&["flaky"]).await;
    let fake = &h.fake;
    fake.post_user_message(GENERAL, ALICE, "flaky")
        .expect("post");
    assert_eq!(next_text(&mut h.seen).await, "flaky");
    assert_eq!(next_text(&mut h.seen).await, "flaky", "redelivered");
    let event_id = fake
        .with_state(|s| s.events()[0]["event_id"].as_str().map(str::to_string))
        .expect("event id");
    fake.wait_until(WAIT, |s| s.event_acked(&event_id))
        .await
        .expect("second attempt acked");
    let d = fake.deliveries();
    assert_eq!(d.len(), 2);
    assert!(d
        .iter()
        .all(|r| r.event_id.as_deref() == Some(event_id.as_str())));
    assert_eq!(d[0].outcome, DeliveryOutcome::NotAcked);
    assert_eq!(d[1].retry_attempt, 1);
    assert_eq!(d[1].retry_reason.as_deref(), Some("timeout"));
    assert_ne!(
        d[0].connection, d[1].connection,
        "retried on the other socket"
    );
    assert!(matches!(d[1].outcome, DeliveryOutcome::Acked { .. }));
    finish(h).await;
}

#[tokio::test]
async fn refresh_requested_reconnects_without_losing_events() {
    let mut h = harness(&[]).await;
    let fake = &h.fake;
    assert_eq!(fake.refresh_sockets(), 2);
    // Posted while the bot is reconnecting: must wait for a socket, not vanish.
    fake.post_user_message(GENERAL, ALICE, "during refresh")
        .expect("post");
    fake.wait_until(WAIT, |s| s.sockets_opened() >= 4 && s.open_sockets() == 2)
        .await
        .expect("bot reconnected both sockets");
    assert_eq!(next_text(&mut h.seen).await, "during refresh");
    fake.post_user_message(GENERAL, ALICE, "after refresh")
        .expect("post");
    assert_eq!(next_text(&mut h.seen).await, "after refresh");
    fake.wait_until(WAIT, |s| s.unacked_envelopes() == 0)
        .await
        .expect("everything acked");
    let opens = fake.with_state(|s| s.calls_to("apps.connections.open").len());
    assert!(opens >= 4, "a new URL per connection, got {opens}");
    finish(h).await;
}

#[tokio::test]
async fn abrupt_drop_reconnects_and_redelivers() {
    let mut h = harness(&["in flight"]).await;
    let fake = &h.fake;
    // Delivered but not acked when the sockets vanish.
    fake.post_user_message(GENERAL, ALICE, "in flight")
        .expect("post");
    assert_eq!(next_text(&mut h.seen).await, "in flight");
    assert_eq!(fake.drop_sockets(), 2);
    // Posted while no socket is open.
    fake.post_user_message(GENERAL, ALICE, "after drop")
        .expect("post");
    let mut got = vec![next_text(&mut h.seen).await, next_text(&mut h.seen).await];
    got.sort();
    assert_eq!(got, vec!["after drop".to_string(), "in flight".to_string()]);
    fake.wait_until(WAIT, |s| {
        s.unacked_envelopes() == 0 && s.open_sockets() == 2
    })
    .await
    .expect("reconnected and everything acked");
    assert!(fake.with_state(|s| s.sockets_opened()) >= 4);
    let redelivered = fake.with_state(|s| {
        s.deliveries()
            .iter()
            .any(|d| d.retry_attempt == 1 && matches!(d.outcome, DeliveryOutcome::Acked { .. }))
    });
    assert!(redelivered, "the in-flight event came back as a retry");
    finish(h).await;
}

#[tokio::test]
async fn raw_protocol_hello_ping_envelope_ack_and_single_use_url() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let cfg = FakeSlackConfig::default().with_fast_timers(Duration::from_secs(5), Duration::ZERO);
    let fake = FakeSlack::start(cfg).await.expect("fake");
    // An event posted before any socket exists waits for one.
    fake.post_user_message(GENERAL, ALICE, "queued")
        .expect("post");

    let client = client(&fake);
    let token = SlackApiToken::new(DEFAULT_APP_TOKEN.into());
    let session = client.open_session(&token);
    let open = session
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await
        .expect("open");
    let url = format!("{}&debug_reconnects=true", open.url.0);
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("websocket");

    let hello = match ws.next().await {
        Some(Ok(Message::Text(t))) => t.to_string(),
        other => panic!("expected hello, got {other:?}"),
    };
    // slack-morphism's socket-mode frame enum is not public; the listener
    // tests prove it decodes these frames, here we pin the raw shape.
    let hello: serde_json::Value = serde_json::from_str(&hello).expect("json");
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["num_connections"], 1);
    assert_eq!(hello["connection_info"]["app_id"], "A0FAKEAPP01");
    assert!(hello["debug_info"]["host"].is_string());
    assert_eq!(hello["debug_info"]["approximate_connection_time"], 360);
    assert_eq!(fake.with_state(|s| s.debug_sockets_opened()), 1);

    let envelope = match ws.next().await {
        Some(Ok(Message::Text(t))) => t.to_string(),
        other => panic!("expected the queued envelope, got {other:?}"),
    };
    let raw: serde_json::Value = serde_json::from_str(&envelope).expect("json");
    assert_eq!(raw["type"], "events_api");
    assert_eq!(raw["accepts_response_payload"], false);
    assert_eq!(raw["retry_attempt"], 0);
    assert_eq!(raw["retry_reason"], "");
    let envelope_id = raw["envelope_id"]
        .as_str()
        .expect("envelope id")
        .to_string();
    let payload: SlackPushEventCallback =
        serde_json::from_value(raw["payload"].clone()).expect("payload decodes");
    assert!(matches!(payload.event, SlackEventCallbackBody::Message(_)));

    ws.send(Message::Ping(b"hi".to_vec())).await.expect("ping");
    match ws.next().await {
        Some(Ok(Message::Pong(p))) => assert_eq!(p, b"hi".to_vec()),
        other => panic!("expected pong, got {other:?}"),
    }

    ws.send(Message::Text(
        serde_json::json!({ "envelope_id": envelope_id }).to_string(),
    ))
    .await
    .expect("ack");
    fake.wait_until(WAIT, |s| s.unacked_envelopes() == 0)
        .await
        .expect("ack registered");

    // The URL's ticket is spent.
    assert!(tokio_tungstenite::connect_async(url.as_str())
        .await
        .is_err());

    assert_eq!(fake.refresh_sockets(), 1);
    let disconnect = match ws.next().await {
        Some(Ok(Message::Text(t))) => t.to_string(),
        other => panic!("expected disconnect, got {other:?}"),
    };
    let disconnect: serde_json::Value = serde_json::from_str(&disconnect).expect("json");
    assert_eq!(disconnect["type"], "disconnect");
    assert_eq!(disconnect["reason"], "refresh_requested");
    assert!(disconnect["debug_info"]["host"].is_string());
    assert!(matches!(ws.next().await, Some(Ok(Message::Close(_)))));
}
