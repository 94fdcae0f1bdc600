//! Gateway rules checked frame by frame with a bare websocket client: Hello, heartbeat ACK,
//! token and double-identify close codes, resume of an unknown session, sharding and intents.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use linkguard_fakes::discord::{cast, intents, FakeDiscord, FakeDiscordConfig};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(fake: &FakeDiscord) -> Ws {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}/?v=10&encoding=json", fake.gateway_url()))
            .await
            .expect("connect");
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 1000);
    ws
}

/// The next text frame as JSON; panics on close.
async fn next_json(ws: &mut Ws) -> Value {
    match tokio::time::timeout(WAIT, ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(&t).expect("json frame"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The close code the server ends with.
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => return frame.code.into(),
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string())).await.expect("send");
}

fn identify(token: &str, intents: u64, shard: [u32; 2]) -> Value {
    json!({"op": 2, "d": {
        "token": token,
        "intents": intents,
        "properties": {"os": "linux", "browser": "test", "device": "test"},
        "shard": shard,
        "compress": true,
        "large_threshold": 250,
    }})
}

const DEFAULT_INTENTS: u64 = 37_377;

#[tokio::test]
async fn heartbeat_ack_and_ready_sequence() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .expect("fake");
    let mut ws = connect(&fake).await;
    send(&mut ws, json!({"op": 1, "d": null})).await;
    assert_eq!(next_json(&mut ws).await["op"], 11);

    // Bare token (no "Bot " prefix) is accepted too.
    send(&mut ws, identify(cast::BOT_TOKEN, DEFAULT_INTENTS, [0, 1])).await;
    let ready = next_json(&mut ws).await;
    assert_eq!(ready["t"], "READY");
    assert_eq!(ready["s"], 1);
    assert_eq!(
        ready["d"]["application"]["id"],
        cast::APPLICATION.to_string()
    );
    assert_eq!(ready["d"]["resume_gateway_url"], fake.gateway_url());
    assert_eq!(ready["d"]["guilds"][0]["unavailable"], true);
    let guild = next_json(&mut ws).await;
    assert_eq!(guild["t"], "GUILD_CREATE");
    assert_eq!(guild["s"], 2);
    assert!(guild["d"]["roles"][0]["colors"].is_object());
    assert_eq!(
        guild["d"]["members"][0]["user"]["id"],
        cast::BOT.to_string()
    );

    let id = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "hello")
        .expect("post");
    let msg = next_json(&mut ws).await;
    assert_eq!(msg["t"], "MESSAGE_CREATE");
    assert_eq!(msg["s"], 3);
    assert_eq!(msg["d"]["id"], id.to_string());
    assert_eq!(msg["d"]["content"], "hello");
    assert_eq!(msg["d"]["channel_type"], 0);
    assert!(msg["d"]["member"].is_object());

    send(
        &mut ws,
        identify(&format!("Bot {}", cast::BOT_TOKEN), DEFAULT_INTENTS, [0, 1]),
    )
    .await;
    assert_eq!(close_code(&mut ws).await, 4005);
}

#[tokio::test]
async fn identify_errors_close_with_discords_codes() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default().without_message_content_intent())
        .await
        .expect("fake");
    let cases = [
        (identify("Bot wrong", DEFAULT_INTENTS, [0, 1]), 4004),
        (identify(cast::BOT_TOKEN, DEFAULT_INTENTS, [0, 1]), 4014),
        (identify(cast::BOT_TOKEN, 1 << 40, [0, 1]), 4013),
        (identify(cast::BOT_TOKEN, intents::GUILDS, [2, 2]), 4010),
        (json!({"op": 3, "d": {}}), 4003),
        (json!({"op": 99, "d": null}), 4001),
    ];
    for (frame, code) in cases {
        let mut ws = connect(&fake).await;
        send(&mut ws, frame.clone()).await;
        assert_eq!(close_code(&mut ws).await, code, "{frame}");
    }
    assert_eq!(fake.gateway_stats().identifies, 0);
}

#[tokio::test]
async fn resume_replays_then_resumed_and_unknown_sessions_get_op_9() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .expect("fake");
    let mut ws = connect(&fake).await;
    send(&mut ws, identify(cast::BOT_TOKEN, DEFAULT_INTENTS, [0, 1])).await;
    let ready = next_json(&mut ws).await;
    let session_id = ready["d"]["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    next_json(&mut ws).await; // GUILD_CREATE, s = 2
    drop(ws);
    fake.wait_until(|s| s.connected_sessions() == 0, WAIT)
        .await
        .expect("disconnected");
    let a = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "a")
        .expect("a");
    let b = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "b")
        .expect("b");

    let mut ws = connect(&fake).await;
    send(
        &mut ws,
        json!({"op": 6, "d": {"token": format!("Bot {}", cast::BOT_TOKEN), "session_id": session_id, "seq": 2}}),
    )
    .await;
    let first = next_json(&mut ws).await;
    let second = next_json(&mut ws).await;
    let resumed = next_json(&mut ws).await;
    assert_eq!(
        (first["s"].clone(), first["d"]["id"].clone()),
        (json!(3), json!(a.to_string()))
    );
    assert_eq!(
        (second["s"].clone(), second["d"]["id"].clone()),
        (json!(4), json!(b.to_string()))
    );
    assert_eq!(resumed["t"], "RESUMED");
    assert_eq!(resumed["s"], 5);

    let mut other = connect(&fake).await;
    send(
        &mut other,
        json!({"op": 6, "d": {"token": cast::BOT_TOKEN, "session_id": "nope", "seq": 1}}),
    )
    .await;
    let invalid = next_json(&mut other).await;
    assert_eq!(invalid["op"], 9);
    assert_eq!(invalid["d"], false);
}

#[tokio::test]
async fn guild_events_go_to_the_guilds_shard_and_need_the_intent() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .expect("fake");
    let guild_shard = ((cast::GUILD >> 22) % 2) as u32;
    let mut shards = Vec::new();
    for shard in 0..2u32 {
        let mut ws = connect(&fake).await;
        send(
            &mut ws,
            identify(cast::BOT_TOKEN, DEFAULT_INTENTS, [shard, 2]),
        )
        .await;
        let ready = next_json(&mut ws).await;
        let guilds = ready["d"]["guilds"].as_array().expect("guilds").len();
        assert_eq!(guilds, usize::from(shard == guild_shard));
        if shard == guild_shard {
            assert_eq!(next_json(&mut ws).await["t"], "GUILD_CREATE");
        }
        shards.push(ws);
    }
    // A third session on the guild's shard without GUILD_MESSAGES gets no MESSAGE_*.
    let mut quiet = connect(&fake).await;
    send(
        &mut quiet,
        identify(cast::BOT_TOKEN, intents::GUILDS, [guild_shard, 2]),
    )
    .await;
    next_json(&mut quiet).await;
    next_json(&mut quiet).await;

    let id = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "sharded")
        .expect("post");
    let msg = next_json(&mut shards[guild_shard as usize]).await;
    assert_eq!(msg["d"]["id"], id.to_string());
    let dm = fake.post_dm(cast::ALICE, "dm").expect("dm");
    // DMs go to shard 0.
    let dm_frame = next_json(&mut shards[0]).await;
    assert_eq!(dm_frame["d"]["id"], dm.to_string());
    assert!(dm_frame["d"].get("guild_id").is_none());

    fake.wait_until(
        |s| s.dispatches().iter().any(|d| d.t == "MESSAGE_CREATE"),
        WAIT,
    )
    .await
    .expect("dispatched");
    let record = fake.with_state(|s| {
        s.dispatches()
            .iter()
            .find(|d| d.t == "MESSAGE_CREATE")
            .map(|d| d.sessions)
    });
    assert_eq!(
        record,
        Some(1),
        "only the guild's shard with GUILD_MESSAGES"
    );
    // The quiet session saw nothing: the next frame it gets is the ACK of its heartbeat.
    send(&mut quiet, json!({"op": 1, "d": 2})).await;
    assert_eq!(next_json(&mut quiet).await["op"], 11);
}
