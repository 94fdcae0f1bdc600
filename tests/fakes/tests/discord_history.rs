//! `GET /channels/{c}/messages` through the real serenity client and on the
//! wire: messages posted while no gateway session exists are kept and served;
//! pages are newest first; `after`, `before` and `around` select as Discord
//! documents; `limit` outside 1–100, bad snowflakes and more than one anchor
//! are 400 Invalid Form Body; no View Channel is 403 (50001), no Read Message
//! History an empty list; an unknown channel is 404 (10003).

mod discord_support;

use discord_support::*;
use linkguard_fakes::discord::{cast, perms, FakeDiscordConfig, RouteKind};
use serenity::all::{ChannelId, MessageId, MessagePagination};

fn ids(page: &[serenity::all::Message]) -> Vec<u64> {
    page.iter().map(|m| m.id.get()).collect()
}

#[tokio::test]
async fn history_pages_select_and_order_like_discord() {
    let fake = start_fake(FakeDiscordConfig::default()).await;
    // No bot is connected: the messages are only in the fake's store.
    let posted: Vec<u64> = (0..7)
        .map(|i| {
            fake.post_user_message(cast::GENERAL, cast::ALICE, &format!("m{i}"))
                .expect("post")
        })
        .collect();
    let deleted = fake
        .post_user_message(cast::GENERAL, cast::BOB, "gone")
        .expect("post");
    fake.delete_user_message(cast::GENERAL, deleted)
        .expect("delete");
    let http = http_for(&fake, Transport::Proxy);
    let general = ChannelId::new(cast::GENERAL);

    let newest = http.get_messages(general, None, Some(3)).await.unwrap();
    assert_eq!(ids(&newest), vec![posted[6], posted[5], posted[4]]);
    assert!(newest
        .iter()
        .all(|m| m.guild_id.is_none() && m.member.is_none()));

    // `after`: the oldest messages after the id, still newest first.
    let after = MessagePagination::After(MessageId::new(posted[1]));
    let page = http
        .get_messages(general, Some(after), Some(2))
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![posted[3], posted[2]]);
    let rest = http
        .get_messages(general, Some(after), Some(100))
        .await
        .unwrap();
    assert_eq!(
        ids(&rest),
        vec![posted[6], posted[5], posted[4], posted[3], posted[2]],
        "deleted messages are not listed"
    );

    let before = MessagePagination::Before(MessageId::new(posted[3]));
    let page = http
        .get_messages(general, Some(before), Some(2))
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![posted[2], posted[1]]);

    let around = MessagePagination::Around(MessageId::new(posted[3]));
    let page = http
        .get_messages(general, Some(around), Some(3))
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![posted[4], posted[3], posted[2]]);

    // Default limit 50; other channels are separate.
    let all = http.get_messages(general, None, None).await.unwrap();
    assert_eq!(all.len(), 7);
    let random = http
        .get_messages(ChannelId::new(cast::RANDOM), None, None)
        .await
        .unwrap();
    assert!(random.is_empty());
    let thread_msg = fake
        .post_user_message(cast::THREAD, cast::ALICE, "in the thread")
        .expect("post");
    let thread = http
        .get_messages(ChannelId::new(cast::THREAD), None, None)
        .await
        .unwrap();
    assert_eq!(ids(&thread), vec![thread_msg]);
}

#[tokio::test]
async fn history_refuses_what_discord_refuses() {
    let config = FakeDiscordConfig::default()
        .bot_channel_overwrite(cast::RANDOM, 0, perms::VIEW_CHANNEL)
        .bot_channel_overwrite(cast::GENERAL, 0, perms::READ_MESSAGE_HISTORY);
    let fake = start_fake(config).await;
    fake.post_user_message(cast::GENERAL, cast::ALICE, "hello")
        .expect("post");
    let http = http_for(&fake, Transport::Proxy);

    let hidden = http
        .get_messages(ChannelId::new(cast::RANDOM), None, None)
        .await
        .unwrap_err();
    assert_eq!(discord_code(&hidden), Some((403, 50001)));
    let no_history = http
        .get_messages(ChannelId::new(cast::GENERAL), None, None)
        .await
        .expect("no Read Message History: an empty list, not an error");
    assert!(no_history.is_empty());
    let unknown = http
        .get_messages(ChannelId::new(42), None, None)
        .await
        .unwrap_err();
    assert_eq!(discord_code(&unknown), Some((404, 10003)));

    // What serenity will not send, on the wire.
    let client = reqwest::Client::new();
    let url = format!(
        "{}/api/v10/channels/{}/messages",
        fake.http_base(),
        cast::THREAD
    );
    for (query, field, code) in [
        ("limit=0", "limit", "NUMBER_TYPE_MIN"),
        ("limit=101", "limit", "NUMBER_TYPE_MAX"),
        ("limit=ten", "limit", "NUMBER_TYPE_COERCE"),
        ("after=soon", "after", "NUMBER_TYPE_COERCE"),
        ("before=1&after=2", "after", "BASE_TYPE_BAD_VALUE"),
    ] {
        let r = client
            .get(format!("{url}?{query}"))
            .header("Authorization", format!("Bot {}", fake.bot_token()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{query}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], 50035, "{query}: {body}");
        assert_eq!(
            body["errors"][field]["_errors"][0]["code"], code,
            "{query}: {body}"
        );
    }
    let r = client.get(format!("{url}?limit=100")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "a bot token is required");
    assert!(fake
        .calls_to(RouteKind::ListMessages)
        .iter()
        .all(|c| c.method == "GET"));
}
