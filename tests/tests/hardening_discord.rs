//! Issue #15 on Discord, against the fake Discord with the real serenity
//! client through a REST proxy (serenity's limiter off, so every 429 reaches
//! linkguard, as behind a saturated shared proxy): long rate-limit storms
//! and server errors on every route the actions use delay actions but never
//! drop or double them.

use linkguard::store::Outcome;
use linkguard_e2e::discord_support::*;
use linkguard_fakes::discord::{cast, RouteKind, Times, UserMessage};

fn answered(t: &TestApp, route: RouteKind, status: u16) -> usize {
    t.fake
        .calls_to(route)
        .iter()
        .filter(|c| c.status == status)
        .count()
}

fn storm(t: &TestApp, route: RouteKind, status: u16, times: u32) {
    if status == 429 {
        t.fake.rate_limit(route, times, 0.05);
    } else {
        t.fake.fail_route(route, status, 0, Times::N(times));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_discord_storms_on_every_route_delay_but_never_drop() {
    let t = spawn_app(Setup {
        transport: Transport::Proxy,
        ..Setup::default()
    })
    .await;

    // The reproduction: 13 consecutive 429s on webhook creation while 20
    // violations arrive. All 20 end replaced, none failed, none doubled.
    storm(&t, RouteKind::CreateWebhook, 429, 13);
    let burst: Vec<(u64, String)> = (0..20u64)
        .map(|i| {
            let marker = format!("burst-{i:02} ");
            let who = if i % 2 == 0 { cast::ALICE } else { cast::BOB };
            let id = t.post(
                cast::GENERAL,
                who,
                &format!("{marker}https://zoom.us/j/{}", 910_000_000 + i),
            );
            (id, marker)
        })
        .collect();
    for (id, marker) in &burst {
        t.wait_replaced(cast::GENERAL, *id, marker).await;
        assert_action(&t.wait_action(*id).await, "replace", Outcome::Ok);
        assert_eq!(t.reposts_with(marker), 1, "{marker} reposted once");
    }
    assert_eq!(answered(&t, RouteKind::CreateWebhook, 429), 13);
    assert_eq!(t.webhooks().len(), 1, "one webhook, not one per retry");

    // Every route replace uses, a rate-limit storm and a server-error storm.
    for (route, status) in [
        (RouteKind::WebhookExecute, 429),
        (RouteKind::WebhookExecute, 502),
        (RouteKind::DeleteMessage, 429),
        (RouteKind::DeleteMessage, 503),
    ] {
        storm(&t, route, status, 15);
        let round = format!("{route:?}-{status}");
        let ids: Vec<(u64, String)> = (0..2u64)
            .map(|i| {
                let marker = format!("{round}-{i} ");
                let id = t.post(
                    cast::GENERAL,
                    cast::ALICE,
                    &format!("{marker}https://zoom.us/j/{}", 920_000_000 + i),
                );
                (id, marker)
            })
            .collect();
        for (id, marker) in &ids {
            t.wait_replaced(cast::GENERAL, *id, marker).await;
            assert_action(&t.wait_action(*id).await, "replace", Outcome::Ok);
            assert_eq!(t.reposts_with(marker), 1, "{marker} reposted once");
        }
        assert_eq!(answered(&t, route, status), 15, "{round}: storm outlasted");
    }

    // The reply path (a message with files is answered, not reposted): the
    // channel message and the DM (open the channel, then send in it).
    for (route, status) in [
        (RouteKind::CreateMessage, 429),
        (RouteKind::CreateMessage, 502),
        (RouteKind::CreateDm, 429),
        (RouteKind::CreateDm, 503),
    ] {
        let before = answered(&t, route, status);
        storm(&t, route, status, 15);
        let round = format!("{route:?}-{status}");
        let id = t
            .fake
            .post(
                UserMessage::new(
                    cast::GENERAL,
                    cast::BOB,
                    format!("{round} https://zoom.us/j/930000001"),
                )
                .attachment("deck.pdf", 2048),
            )
            .expect("post");
        let action = t.wait_action(id).await;
        assert_action(&action, "reply", Outcome::Degraded);
        let detail = action.entry.detail.clone().unwrap_or_default();
        assert!(
            detail.contains("attachments") && !detail.contains("not sent"),
            "{round}: degraded for the files only: {detail}"
        );
        let replies = t
            .fake
            .messages(cast::GENERAL)
            .iter()
            .filter(|m| m.author_id == cast::BOT && !m.deleted)
            .filter(|m| {
                m.message_reference
                    .as_ref()
                    .and_then(|r| r["message_id"].as_str())
                    == Some(id.to_string().as_str())
            })
            .count();
        assert_eq!(replies, 1, "{round}: one reply");
        assert_eq!(answered(&t, route, status) - before, 15, "{round}");
    }
    t.assert_audit_sound().await;
    t.stop().await;
}
