//! REST behaviour through the real serenity client: webhooks (create, execute with `wait`,
//! `thread_id`, `allowed_mentions`), deletes with and without Manage Messages, and a 429 that
//! serenity's rate limiter rides out.

mod discord_support;

use discord_support::*;
use linkguard_fakes::discord::{cast, perms, FakeDiscordConfig, RouteKind, Times};
use serenity::all::{
    ChannelId, CreateAllowedMentions, CreateWebhook, ExecuteWebhook, MessageId, WebhookId,
};

#[tokio::test]
async fn webhook_create_and_execute_in_a_thread() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = ready_bot(&fake, Transport::Https).await;

    let webhook = ChannelId::new(cast::GENERAL)
        .create_webhook(&bot.http, CreateWebhook::new("modbot relay"))
        .await
        .expect("create webhook");
    assert_eq!(webhook.id.get(), cast::WEBHOOK);
    assert!(webhook.token.is_some());
    assert_eq!(
        fake.with_state(|s| s.webhooks()[0].token.clone()),
        cast::WEBHOOK_TOKEN
    );

    let listed = ChannelId::new(cast::GENERAL)
        .webhooks(&bot.http)
        .await
        .expect("list webhooks");
    assert_eq!(listed.len(), 1);

    let text = format!("<@{}> said: meet at https://meet.jit.si/x", cast::ALICE);
    let builder = ExecuteWebhook::new()
        .content(&text)
        .username("alice")
        .avatar_url("https://cdn.discordapp.com/avatars/1/a.png")
        .in_thread(cast::THREAD)
        .allowed_mentions(CreateAllowedMentions::new());
    let message = webhook
        .execute(&bot.http, true, builder)
        .await
        .expect("execute webhook")
        .expect("wait=true returns the message");
    assert_eq!(message.channel_id.get(), cast::THREAD);
    assert_eq!(message.webhook_id.map(WebhookId::get), Some(cast::WEBHOOK));
    assert!(
        message.mentions.is_empty(),
        "allowed_mentions empty pings nobody"
    );

    match bot.events.wait_message(message.id.get()).await {
        Seen::Message {
            webhook_id,
            author,
            author_bot,
            has_member,
            channel,
            ..
        } => {
            assert_eq!(webhook_id, Some(cast::WEBHOOK));
            assert_eq!(author, cast::WEBHOOK);
            assert!(author_bot);
            assert!(!has_member);
            assert_eq!(channel, cast::THREAD);
        }
        other => panic!("unexpected {other:?}"),
    }
    let stored = fake.messages(cast::THREAD);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].username.as_deref(), Some("alice"));
    assert_eq!(
        stored[0].avatar_url.as_deref(),
        Some("https://cdn.discordapp.com/avatars/1/a.png")
    );
    assert_eq!(
        stored[0].allowed_mentions,
        Some(serde_json::json!({"parse": [], "roles": [], "users": []}))
    );
    assert_eq!(stored[0].content, text);

    // Without wait the fake answers 204 and serenity returns no message.
    let none = webhook
        .execute(
            &bot.http,
            false,
            ExecuteWebhook::new().content("fire and forget"),
        )
        .await
        .expect("execute without wait");
    assert!(none.is_none());
    let last = fake.last_call(RouteKind::WebhookExecute).expect("call");
    assert_eq!(last.status, 204);

    // A thread of another channel is refused like Discord does.
    let err = webhook
        .execute(
            &bot.http,
            true,
            ExecuteWebhook::new()
                .content("x")
                .in_thread(cast::FORUM_POST),
        )
        .await
        .expect_err("foreign thread");
    assert_eq!(discord_code(&err), Some((404, 10003)));
    assert_dispatches_known(&fake);
    bot.stop().await;
}

#[tokio::test]
async fn webhook_creation_needs_manage_webhooks() {
    let config =
        FakeDiscordConfig::default().bot_channel_overwrite(cast::RANDOM, 0, perms::MANAGE_WEBHOOKS);
    let fake = start_fake(config).await;
    let http = http_for(&fake, Transport::Proxy);
    let err = ChannelId::new(cast::RANDOM)
        .create_webhook(&http, CreateWebhook::new("relay"))
        .await
        .expect_err("403");
    assert_eq!(discord_code(&err), Some((403, 50013)));
    let err = ChannelId::new(cast::THREAD)
        .create_webhook(&http, CreateWebhook::new("relay"))
        .await
        .expect_err("threads have no webhooks");
    assert_eq!(discord_code(&err), Some((400, 50024)));
    let err = http
        .execute_webhook(
            WebhookId::new(42),
            None,
            "nope",
            true,
            vec![],
            &serde_json::json!({"content": "x"}),
        )
        .await
        .expect_err("unknown webhook");
    assert_eq!(discord_code(&err), Some((404, 10015)));
}

#[tokio::test]
async fn deleting_needs_manage_messages_for_other_peoples_messages() {
    let config =
        FakeDiscordConfig::default().bot_channel_overwrite(cast::RANDOM, 0, perms::MANAGE_MESSAGES);
    let fake = start_fake(config).await;
    let mut bot = ready_bot(&fake, Transport::Proxy).await;

    let allowed = fake
        .post_user_message(cast::GENERAL, cast::ALICE, "zoom")
        .expect("post");
    bot.http
        .delete_message(ChannelId::new(cast::GENERAL), MessageId::new(allowed), None)
        .await
        .expect("delete with Manage Messages");
    bot.events
        .wait_for("MESSAGE_DELETE", |s| {
            matches!(s, Seen::Delete { id, channel } if *id == allowed && *channel == cast::GENERAL)
        })
        .await;
    assert!(fake.message(allowed).expect("kept").deleted);
    assert_eq!(
        fake.last_call(RouteKind::DeleteMessage)
            .expect("call")
            .status,
        204
    );

    let denied = fake
        .post_user_message(cast::RANDOM, cast::ALICE, "zoom")
        .expect("post");
    let err = bot
        .http
        .delete_message(ChannelId::new(cast::RANDOM), MessageId::new(denied), None)
        .await
        .expect_err("403 without Manage Messages");
    assert_eq!(discord_code(&err), Some((403, 50013)));
    assert!(!fake.message(denied).expect("kept").deleted);

    // The bot may always delete its own message.
    let own = ChannelId::new(cast::RANDOM)
        .say(&bot.http, "mine")
        .await
        .expect("send");
    own.delete(&bot.http).await.expect("delete own");

    let err = bot
        .http
        .delete_message(ChannelId::new(cast::GENERAL), MessageId::new(allowed), None)
        .await
        .expect_err("already gone");
    assert_eq!(discord_code(&err), Some((404, 10008)));

    // Injected failures.
    fake.fail_route(RouteKind::CreateMessage, 500, 0, Times::Once);
    let err = ChannelId::new(cast::GENERAL)
        .say(&bot.http, "x")
        .await
        .expect_err("injected 500");
    assert_eq!(discord_code(&err).map(|c| c.0), Some(500));
    ChannelId::new(cast::GENERAL)
        .say(&bot.http, "x")
        .await
        .expect("only once");
    bot.stop().await;
}

#[tokio::test]
async fn rate_limited_webhook_execution_completes_with_the_rate_limiter_on() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = ready_bot(&fake, Transport::Https).await;
    let webhook = ChannelId::new(cast::GENERAL)
        .create_webhook(&bot.http, CreateWebhook::new("relay"))
        .await
        .expect("webhook");

    fake.rate_limit(RouteKind::WebhookExecute, 2, 0.05);
    let message = webhook
        .execute(
            &bot.http,
            true,
            ExecuteWebhook::new().content("after the limit"),
        )
        .await
        .expect("serenity retries after Retry-After")
        .expect("message");
    assert_eq!(message.content, "after the limit");

    let statuses: Vec<u16> = fake
        .calls()
        .iter()
        .filter(|c| c.route == RouteKind::WebhookExecute)
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![429, 429, 200]);
    assert_eq!(fake.messages(cast::GENERAL).len(), 1, "no duplicate post");
    let seen = bot
        .events
        .wait_for("ratelimit callback", |s| {
            matches!(s, Seen::RateLimited { .. })
        })
        .await;
    if let Seen::RateLimited { seconds, .. } = seen {
        assert!((seconds - 0.05).abs() < 1e-9);
    }

    // A global limit carries X-RateLimit-Global and is honoured too.
    fake.rate_limit_global(RouteKind::CreateMessage, 1, 0.05);
    ChannelId::new(cast::GENERAL)
        .say(&bot.http, "global")
        .await
        .expect("retried after global limit");
    bot.stop().await;
}

#[tokio::test]
async fn a_429_is_visible_on_the_wire() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    fake.rate_limit(RouteKind::CreateMessage, 1, 0.25);
    let url = format!(
        "{}/api/v10/channels/{}/messages",
        fake.http_base(),
        cast::GENERAL
    );
    let client = reqwest::Client::new();
    // A message sent with the bot's token, or with none.
    let send = |token: Option<&str>| {
        let mut request = client.post(&url).json(&serde_json::json!({"content": "x"}));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bot {token}"));
        }
        request.send()
    };
    let response = send(Some(fake.bot_token())).await.expect("request");
    assert_eq!(response.status(), 429);
    let h = response.headers();
    assert_eq!(h["retry-after"], "0.25");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-scope"], "user");
    assert!(h.contains_key("x-ratelimit-bucket"));
    assert!(h.contains_key("x-ratelimit-reset"));
    assert!(!h.contains_key("x-ratelimit-global"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["retry_after"], 0.25);
    assert_eq!(body["global"], false);

    let ok = send(Some(fake.bot_token())).await.expect("request");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-ratelimit-limit"], "5");

    let unauthorized = send(None).await.expect("request");
    assert_eq!(unauthorized.status(), 401);
}

#[tokio::test]
async fn joining_and_leaving_a_guild() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    let mut bot = ready_bot(&fake, Transport::Https).await;
    // Someone adds the bot to their server: GUILD_CREATE on the live session.
    fake.add_guild(linkguard_fakes::discord::foreign_guild(cast::BOT));
    bot.events
        .wait_for(
            "GUILD_CREATE of the new guild",
            |s| matches!(s, Seen::GuildCreate(g) if *g == cast::FOREIGN_GUILD),
        )
        .await;
    serenity::all::GuildId::new(cast::FOREIGN_GUILD)
        .leave(&bot.http)
        .await
        .expect("204");
    let call = fake.last_call(RouteKind::LeaveGuild).unwrap();
    assert_eq!(call.method, "DELETE");
    assert_eq!(call.status, 204);
    assert!(call
        .path
        .ends_with(&format!("/users/@me/guilds/{}", cast::FOREIGN_GUILD)));
    fake.wait_until(
        |s| {
            s.dispatches().iter().any(|d| {
                d.t == "GUILD_DELETE"
                    && d.d["id"].as_str() == Some(cast::FOREIGN_GUILD.to_string().as_str())
                    && d.d.get("unavailable").is_none()
            })
        },
        WAIT,
    )
    .await
    .unwrap();
    assert!(fake.with_state(
        |s| !s.in_guild(cast::FOREIGN_GUILD) && s.left_guilds() == [cast::FOREIGN_GUILD]
    ));
    // Gone: a second leave is refused as Discord does.
    let err = serenity::all::GuildId::new(cast::FOREIGN_GUILD)
        .leave(&bot.http)
        .await
        .unwrap_err();
    assert_eq!(discord_code(&err), Some((404, 10004)));
    assert_dispatches_known(&fake);
    bot.stop().await;
}
