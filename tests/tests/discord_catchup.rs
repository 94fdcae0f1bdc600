//! Catch-up end to end, in process (the real serenity client against the
//! fake Discord): a gateway session Discord will not resume loses the events
//! dispatched meanwhile, so the new session reads each channel (threads
//! included) back after its cursor and handles every message once; and a
//! catch-up reads no more than `discord.catch_up_max_messages` per channel.

use linkguard::config::CatchUpLimits;
use linkguard::store::{Kind, Outcome};
use linkguard_e2e::discord_support::*;
use linkguard_fakes::discord::{cast, RouteKind};

/// One detection and one successful `replace` for `id`.
async fn assert_handled_once(t: &TestApp, id: u64) {
    t.wait_action(id).await;
    let records = t.audit_of(id).await;
    let detections = records
        .iter()
        .filter(|r| r.entry.kind == Kind::Detected)
        .count();
    let actions: Vec<_> = records
        .iter()
        .filter(|r| r.entry.kind == Kind::Action)
        .collect();
    assert_eq!(detections, 1, "{records:#?}");
    assert_eq!(actions.len(), 1, "{records:#?}");
    assert_action(actions[0], "replace", Outcome::Ok);
}

#[tokio::test]
async fn trust_a_session_discord_will_not_resume_is_caught_up() {
    let t = spawn_app(Setup::default()).await;
    let before = t.post(
        cast::GENERAL,
        cast::ALICE,
        "before https://zoom.us/j/610000001",
    );
    t.wait_replaced(cast::GENERAL, before, "before ").await;

    // The session ends for good; what is posted until the next READY is
    // dispatched to nobody, as on Discord.
    t.fake.invalidate_sessions(false);
    let mut missed = Vec::new();
    for i in 0..12u64 {
        let (channel, marker) = if i % 4 == 3 {
            (cast::THREAD, format!("thread-gap-{i} "))
        } else {
            (cast::GENERAL, format!("gap-{i} "))
        };
        let id = t.post(
            channel,
            cast::BOB,
            &format!("{marker}https://zoom.us/j/62000000{i:02}"),
        );
        missed.push((channel, id, marker));
    }
    t.fake
        .wait_until(|s| s.gateway_stats().identifies == 2, WAIT)
        .await
        .expect("linkguard identifies afresh");
    for (channel, id, marker) in &missed {
        t.wait_replaced(*channel, *id, marker).await;
    }
    let after = t.post(
        cast::GENERAL,
        cast::ALICE,
        "after https://zoom.us/j/610000002",
    );
    t.wait_replaced(cast::GENERAL, after, "after ").await;
    t.wait_action(after).await;

    for (_, id, _) in &missed {
        assert_handled_once(&t, *id).await;
    }
    for (channel, _, marker) in &missed {
        let n = t
            .fake
            .messages(*channel)
            .iter()
            .filter(|m| is_repost(m) && m.content.contains(marker.as_str()))
            .count();
        assert_eq!(n, 1, "{marker} reposted {n} times");
    }
    let reads = t.fake.calls_to(RouteKind::ListMessages);
    for channel in [cast::GENERAL, cast::THREAD] {
        assert!(
            reads.iter().any(|c| c.path.contains(&channel.to_string())
                && c.query.as_deref().is_some_and(|q| q.contains("after="))),
            "{channel} read back: {reads:#?}"
        );
    }
    t.assert_audit_sound().await;
    t.stop().await;
}

#[tokio::test]
async fn trust_catch_up_reads_no_more_than_its_bound() {
    let setup = Setup {
        catch_up: CatchUpLimits {
            max_messages: 5,
            ..CatchUpLimits::default()
        },
        ..Setup::default()
    };
    let t = spawn_app(setup.clone()).await;
    let first = t.post(
        cast::GENERAL,
        cast::ALICE,
        "first https://zoom.us/j/630000001",
    );
    let repost = t.wait_replaced(cast::GENERAL, first, "first ").await;
    t.wait_handled_through(cast::GENERAL, repost.id).await;
    let (fake, dir) = t.stop_keeping_state().await;

    // Posted while linkguard is stopped.
    let down: Vec<u64> = (0..8u64)
        .map(|i| {
            fake.post_user_message(
                cast::GENERAL,
                cast::BOB,
                &format!("down-{i} https://zoom.us/j/64000000{i:02}"),
            )
            .expect("post")
        })
        .collect();
    let t = spawn_app_with(fake, dir, setup).await;
    for (i, id) in down.iter().enumerate().take(5) {
        t.wait_replaced(cast::GENERAL, *id, &format!("down-{i} "))
            .await;
        assert_handled_once(&t, *id).await;
    }
    // The oldest five were read back; the rest stay, unaudited.
    let live = t.post(
        cast::GENERAL,
        cast::ALICE,
        "live https://zoom.us/j/630000002",
    );
    t.wait_replaced(cast::GENERAL, live, "live ").await;
    t.wait_action(live).await;
    for id in &down[5..] {
        assert!(
            t.fake.message(*id).is_some_and(|m| !m.deleted),
            "{id} was beyond the bound"
        );
        assert!(t.audit_of(*id).await.is_empty());
    }
    t.assert_audit_sound().await;
    t.stop().await;
}
