//! The fake Discord's forwards and thread starter messages decode with the
//! real serenity 0.12.5 models the bot uses, in Discord's shapes: a forward
//! has empty `content`, a `type: 1` reference and its text in
//! `message_snapshots`; a thread starter (type 21) references its source
//! and carries it as `referenced_message`. Without MESSAGE_CONTENT a
//! snapshot's content is blanked like `content`.

use linkguard_fakes::discord::{cast, FakeDiscord, FakeDiscordConfig};
use serde_json::Value;
use serenity::all::{Message, MessageReferenceKind, MessageType};

fn dispatched(fake: &FakeDiscord, id: u64) -> Value {
    fake.with_state(|s| {
        s.dispatches()
            .iter()
            .find(|d| {
                d.t == "MESSAGE_CREATE" && d.d["id"].as_str() == Some(id.to_string().as_str())
            })
            .map(|d| d.d.clone())
    })
    .expect("dispatched")
}

#[tokio::test]
async fn forwards_and_thread_starters_decode_with_serenity() {
    let fake = FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .expect("fake");
    let source = fake
        .post_user_message(cast::RANDOM, cast::BOB, "retro https://zoom.us/j/1")
        .expect("post");
    let forward = fake
        .forward(cast::GENERAL, cast::ALICE, source)
        .expect("forward");
    let wire = dispatched(&fake, forward);
    assert!(wire.get("referenced_message").is_none(), "{wire:#}");
    assert_eq!(wire["flags"], 1 << 14);
    let m: Message = serde_json::from_value(wire).expect("serenity decodes a forward");
    assert_eq!(m.content, "");
    let reference = m.message_reference.expect("reference");
    assert_eq!(reference.kind, MessageReferenceKind::Forward);
    assert_eq!(reference.message_id.map(|i| i.get()), Some(source));
    assert_eq!(reference.channel_id.get(), cast::RANDOM);
    assert_eq!(m.message_snapshots.len(), 1);
    assert_eq!(m.message_snapshots[0].content, "retro https://zoom.us/j/1");
    assert!(fake.forward(cast::GENERAL, cast::ALICE, 42).is_err());

    let starter = fake.thread_starter(cast::THREAD, source).expect("starter");
    let m: Message =
        serde_json::from_value(dispatched(&fake, starter)).expect("serenity decodes a starter");
    assert_eq!(m.kind, MessageType::ThreadStarterMessage);
    assert_eq!(m.channel_id.get(), cast::THREAD);
    let referenced = m.referenced_message.expect("source carried");
    assert_eq!(referenced.id.get(), source);
    assert_eq!(referenced.content, "retro https://zoom.us/j/1");
}
