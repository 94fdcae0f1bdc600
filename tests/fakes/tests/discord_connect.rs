//! The real serenity client connects to the fake in both transport modes, sees messages with
//! and without the MESSAGE_CONTENT intent, and sends messages.

mod discord_support;

use discord_support::*;
use linkguard_fakes::discord::{cast, FakeDiscordConfig, RouteKind};
use serenity::all::{ChannelId, GatewayIntents};

async fn connects_and_talks(transport: Transport) {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = ready_bot(&fake, transport).await;

    // A user message arrives complete, with member and guild.
    let id = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "standup: https://zoom.us/j/123")
        .expect("post");
    match bot.events.wait_message(id).await {
        Seen::Message {
            content,
            guild,
            author,
            has_member,
            webhook_id,
            ..
        } => {
            assert_eq!(content, "standup: https://zoom.us/j/123");
            assert_eq!(guild, Some(cast::GUILD));
            assert_eq!(author, cast::ALICE);
            assert!(has_member);
            assert_eq!(webhook_id, None);
        }
        other => panic!("unexpected {other:?}"),
    }

    // The bot sends a message over REST; the fake stores it and echoes MESSAGE_CREATE.
    let sent = ChannelId::new(cast::GENERAL)
        .say(&bot.http, "hello from the bot")
        .await
        .expect("send message");
    assert_eq!(sent.author.id.get(), cast::BOT);
    let echoed = bot.events.wait_message(sent.id.get()).await;
    assert!(matches!(
        echoed,
        Seen::Message {
            author_bot: true,
            ..
        }
    ));
    let stored = fake.message(sent.id.get()).expect("stored");
    assert_eq!(stored.content, "hello from the bot");
    assert_eq!(stored.author_id, cast::BOT);

    let calls = fake.calls();
    let gateway = calls
        .iter()
        .find(|c| c.route == RouteKind::Gateway)
        .expect("GET /gateway");
    assert_eq!(gateway.tls, transport == Transport::Https);
    assert_eq!(gateway.path, "/api/v10/gateway");
    let create = calls
        .iter()
        .find(|c| c.route == RouteKind::CreateMessage)
        .expect("POST messages");
    assert_eq!(create.status, 200);
    assert_eq!(create.tls, transport == Transport::Https);
    assert_eq!(fake.gateway_stats().identifies, 1);
    assert_dispatches_known(&fake);
    bot.stop().await;
}

#[tokio::test]
async fn serenity_connects_through_the_proxy_url() {
    connects_and_talks(Transport::Proxy).await;
}

#[tokio::test]
async fn serenity_connects_over_https_with_the_test_ca() {
    connects_and_talks(Transport::Https).await;
}

#[tokio::test]
async fn without_message_content_intent_guild_messages_arrive_empty() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let intents = GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES;
    let mut bot = start_bot(&fake, Transport::Proxy, intents, Answer::Nothing).await;
    bot.events.wait_ready().await;

    let plain = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "https://zoom.us/j/1")
        .expect("post");
    let Seen::Message { content, .. } = bot.events.wait_message(plain).await else {
        unreachable!()
    };
    assert_eq!(content, "", "content must be withheld without the intent");

    // Mentioning the bot lifts the restriction, as on Discord.
    let text = format!("<@{}> https://zoom.us/j/2", cast::BOT);
    let mention = fake
        .post_user_message(cast::GENERAL, cast::ALICE, &text)
        .expect("post");
    let Seen::Message { content, .. } = bot.events.wait_message(mention).await else {
        unreachable!()
    };
    assert_eq!(content, text);

    // The fake's own store keeps the real content.
    assert_eq!(
        fake.message(plain).expect("stored").content,
        "https://zoom.us/j/1"
    );
    bot.stop().await;
}

#[tokio::test]
async fn requesting_a_disabled_privileged_intent_is_fatal() {
    let fake = start_fake(FakeDiscordConfig::default().without_message_content_intent()).await;
    let bot = start_bot(&fake, Transport::Proxy, default_intents(), Answer::Nothing).await;
    let result = tokio::time::timeout(WAIT, bot.client_task)
        .await
        .expect("client gives up")
        .expect("task");
    let err = result.expect_err("4014 must stop the client");
    assert!(
        format!("{err:?}").contains("DisallowedGatewayIntents"),
        "{err:?}"
    );
    assert_eq!(fake.gateway_stats().identifies, 0);
}

#[tokio::test]
async fn direct_messages_and_edits_reach_the_bot() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = ready_bot(&fake, Transport::Proxy).await;

    let dm = fake.post_dm(cast::BOB, "hi bot").expect("dm");
    let Seen::Message { guild, content, .. } = bot.events.wait_message(dm).await else {
        unreachable!()
    };
    assert_eq!(guild, None);
    assert_eq!(content, "hi bot");

    let id = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "before")
        .expect("post");
    bot.events.wait_message(id).await;
    fake.edit_user_message(cast::GENERAL, id, "after")
        .expect("edit");
    let update = bot
        .events
        .wait_for(
            "full update",
            |s| matches!(s, Seen::Update { id: u, .. } if *u == id),
        )
        .await;
    assert_eq!(
        update,
        Seen::Update {
            id,
            content: Some("after".to_owned())
        }
    );

    fake.partial_message_update(
        cast::GENERAL,
        id,
        serde_json::json!({"embeds": [{"type": "link", "url": "https://zoom.us/j/1"}]}),
    )
    .expect("partial");
    let partial = bot
        .events
        .wait_for(
            "partial update",
            |s| matches!(s, Seen::Update { id: u, content: None } if *u == id),
        )
        .await;
    assert_eq!(partial, Seen::Update { id, content: None });

    // The bot can open a DM and write to it.
    let channel = serenity::all::UserId::new(cast::ALICE)
        .create_dm_channel(&bot.http)
        .await
        .expect("dm channel");
    assert_eq!(channel.id.get(), fake.dm_channel(cast::ALICE).expect("dm"));
    channel
        .say(&bot.http, "private note")
        .await
        .expect("dm send");
    assert_dispatches_known(&fake);
    bot.stop().await;
}
