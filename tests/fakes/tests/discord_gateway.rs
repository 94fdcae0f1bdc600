//! Gateway resilience with the real serenity client: an abrupt drop is resumed with every
//! buffered event replayed exactly once, op 7 resumes, op 9 forces a fresh identify, and slash
//! commands are answered over HTTP.

mod discord_support;

use std::collections::HashMap;

use discord_support::*;
use linkguard_fakes::discord::{cast, FakeDiscordConfig};
use serde_json::json;
use serenity::all::{Command, CommandOptionType, CreateCommand, CreateCommandOption};

fn message_counts(events: &[Seen]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for e in events {
        if let Seen::Message { id, .. } = e {
            *counts.entry(*id).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test]
async fn dropped_connection_resumes_without_losing_or_doubling_events() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = ready_bot(&fake, Transport::Proxy).await;

    let before = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "before the drop")
        .expect("post");
    bot.events.wait_message(before).await;

    fake.drop_gateway();
    // Posted while the bot is (being) disconnected: buffered and replayed on resume.
    let during: Vec<u64> = (0..3)
        .map(|i| {
            fake.post_user_message(cast::GENERAL, cast::BOB, &format!("during {i}"))
                .expect("post")
        })
        .collect();
    for id in &during {
        bot.events.wait_message(*id).await;
    }
    bot.events
        .wait_for("RESUMED", |s| matches!(s, Seen::Resumed))
        .await;
    let after = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "after the resume")
        .expect("post");
    bot.events.wait_message(after).await;

    let counts = message_counts(bot.events.drain());
    for id in std::iter::once(before).chain(during).chain([after]) {
        assert_eq!(counts.get(&id), Some(&1), "message {id} seen once");
    }
    let stats = fake.gateway_stats();
    assert_eq!(stats.identifies, 1, "no re-identify");
    assert_eq!(stats.resumes, 1);
    assert_eq!(stats.connections, 2);
    let ready_count = bot
        .events
        .seen
        .iter()
        .filter(|s| matches!(s, Seen::Ready { .. }))
        .count();
    assert_eq!(ready_count, 1);
    bot.stop().await;
}

#[tokio::test]
async fn reconnect_request_is_resumed() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = ready_bot(&fake, Transport::Proxy).await;
    fake.reconnect_gateway();
    let id = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "across op 7")
        .expect("post");
    bot.events.wait_message(id).await;
    bot.events
        .wait_for("RESUMED", |s| matches!(s, Seen::Resumed))
        .await;
    let again = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "after op 7")
        .expect("post");
    bot.events.wait_message(again).await;
    assert_eq!(message_counts(bot.events.drain()).get(&id), Some(&1));
    assert_eq!(fake.gateway_stats().identifies, 1);
    bot.stop().await;
}

#[tokio::test]
async fn invalid_session_forces_a_fresh_identify() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = ready_bot(&fake, Transport::Proxy).await;
    let first_session = fake.sessions()[0].session_id.clone();

    fake.invalidate_sessions(false);
    let second = bot
        .events
        .wait_for("second READY", |s| matches!(s, Seen::Ready { .. }))
        .await;
    let Seen::Ready { session_id, .. } = second else {
        unreachable!()
    };
    assert_ne!(session_id, first_session);
    assert_eq!(fake.gateway_stats().identifies, 2);
    let sessions = fake.sessions();
    assert!(!sessions[0].resumable);
    assert!(sessions[1].resumable && sessions[1].connected);

    let id = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "after op 9")
        .expect("post");
    bot.events.wait_message(id).await;
    assert_eq!(message_counts(bot.events.drain()).get(&id), Some(&1));
    bot.stop().await;
}

#[tokio::test]
async fn slash_commands_are_registered_and_answered() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = start_bot(
        &fake,
        Transport::Https,
        default_intents(),
        Answer::Ephemeral,
    )
    .await;
    bot.events.wait_ready().await;

    let modbot = CreateCommand::new("modbot")
        .description("Moderation controls")
        .add_option(
            CreateCommandOption::new(CommandOptionType::SubCommand, "allow", "Allow a link")
                .add_sub_option(
                    CreateCommandOption::new(CommandOptionType::String, "url", "Link")
                        .required(true),
                ),
        );
    let registered = Command::set_global_commands(&bot.http, vec![modbot])
        .await
        .expect("PUT commands");
    assert_eq!(registered.len(), 1);
    let replaced = Command::set_global_commands(
        &bot.http,
        vec![CreateCommand::new("linkguard").description("Policy")],
    )
    .await
    .expect("PUT replaces");
    assert_eq!(replaced.len(), 1);
    assert_eq!(
        fake.with_state(|s| s.global_commands().len()),
        1,
        "PUT replaces the whole set"
    );

    let options = json!([{
        "name": "allow",
        "type": 1,
        "options": [{"name": "url", "type": 3, "value": "https://zoom.us/j/1"}],
    }]);
    let callback = fake
        .interaction(cast::GENERAL, cast::ADMIN, "linkguard", options)
        .await
        .expect("bot answers");
    assert_eq!(callback.kind, 4);
    assert_eq!(callback.data["content"], "ok: linkguard");
    assert_eq!(callback.data["flags"], 64);
    let seen = bot
        .events
        .wait_for("INTERACTION_CREATE", |s| {
            matches!(s, Seen::Interaction { .. })
        })
        .await;
    assert_eq!(
        seen,
        Seen::Interaction {
            id: callback.interaction_id,
            name: "linkguard".to_owned()
        }
    );
    let records = fake.interaction_responses();
    assert_eq!(records.len(), 1);
    assert!(records[0].callback.is_some());
    assert_dispatches_known(&fake);
    bot.stop().await;
}

#[tokio::test]
async fn deferred_interaction_edits_its_original_response() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = start_bot(&fake, Transport::Proxy, default_intents(), Answer::Deferred).await;
    bot.events.wait_ready().await;
    let callback = fake
        .interaction(cast::THREAD, cast::ALICE, "modbot", json!([]))
        .await
        .expect("deferred");
    assert_eq!(callback.kind, 5);
    fake.wait_until(
        |s| {
            s.interactions()
                .first()
                .is_some_and(|i| !i.original_edits.is_empty())
        },
        WAIT,
    )
    .await
    .expect("PATCH @original");
    let record = &fake.interaction_responses()[0];
    assert_eq!(record.original_edits[0]["content"], "done later");
    let original = fake
        .message(record.original_message.expect("original"))
        .expect("stored");
    assert_eq!(original.content, "done later");
    assert_eq!(original.flags & 64, 64, "ephemeral");
    bot.stop().await;
}

#[tokio::test]
async fn an_unanswered_interaction_times_out() {
    let config = FakeDiscordConfig {
        interaction_callback_window: std::time::Duration::from_millis(200),
        ..FakeDiscordConfig::default()
    };
    let fake = start_fake(config).await;
    let bot = ready_bot(&fake, Transport::Proxy).await;
    let err = fake
        .interaction(cast::GENERAL, cast::ALICE, "modbot", json!([]))
        .await
        .expect_err("no answer");
    assert!(matches!(
        err,
        linkguard_fakes::discord::FakeDiscordError::InteractionTimeout(_)
    ));
    bot.stop().await;
}
