//! Discord load: 1,000 messages through the gateway, one in ten with a Zoom
//! link. Every violation is handled exactly once, and the time from the
//! fake's dispatch to the repost arriving at the fake is printed (p50, p99).

use linkguard::store::{Kind, Outcome};
use linkguard_e2e::discord_support::*;
use linkguard_fakes::discord::{cast, RouteKind};
use std::collections::HashMap;
use std::time::Duration;

const MESSAGES: usize = 1000;
const EVERY: usize = 10;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_every_violation_handled_exactly_once() {
    let t = spawn_app(Setup::default()).await;
    let channels = [cast::GENERAL, cast::RANDOM, cast::THREAD, cast::FORUM_POST];
    let users = [cast::ALICE, cast::BOB];
    let mut violations: Vec<(u64, u64, String)> = Vec::new();
    for i in 0..MESSAGES {
        let channel = channels[i % channels.len()];
        let user = users[i % users.len()];
        let marker = format!("load-{i} ");
        if i % EVERY == 0 {
            let id = t.post(
                channel,
                user,
                &format!("{marker}https://zoom.us/j/{}", 1_000_000_000 + i),
            );
            violations.push((id, channel, marker));
        } else {
            t.post(
                channel,
                user,
                &format!("{marker}nothing to see, see https://meet.jit.si/standup"),
            );
        }
    }
    assert_eq!(violations.len(), MESSAGES / EVERY);

    let expected = violations.len();
    t.fake
        .wait_until(
            |s| {
                s.calls_to(RouteKind::DeleteMessage)
                    .iter()
                    .filter(|c| c.status < 300)
                    .count()
                    >= expected
            },
            Duration::from_secs(60),
        )
        .await
        .expect("every violation replaced");
    for (id, _, _) in &violations {
        assert_action(&t.wait_action(*id).await, "replace", Outcome::Ok);
    }

    // Exactly once: one repost, one delete, one detection and one outcome each.
    let executes = t.executed();
    let mut per_marker: HashMap<String, Vec<std::time::Instant>> = HashMap::new();
    for c in &executes {
        let content = c
            .body
            .as_ref()
            .and_then(|b| b["content"].as_str())
            .unwrap_or_default();
        let marker = content.split_whitespace().next().unwrap_or_default();
        per_marker
            .entry(format!("{marker} "))
            .or_default()
            .push(c.at);
    }
    assert_eq!(executes.len(), expected, "one repost per violation");
    let dispatched: HashMap<String, std::time::Instant> = t.fake.with_state(|s| {
        s.dispatches()
            .iter()
            .filter(|d| d.t == "MESSAGE_CREATE")
            .filter_map(|d| Some((d.d["id"].as_str()?.to_owned(), d.at)))
            .collect()
    });
    let mut latencies = Vec::with_capacity(expected);
    for (id, channel, marker) in &violations {
        let arrivals = per_marker.get(marker).cloned().unwrap_or_default();
        assert_eq!(arrivals.len(), 1, "{marker} reposted once");
        assert!(
            t.fake.message(*id).expect("stored").deleted,
            "{marker} original deleted"
        );
        assert!(t
            .fake
            .messages(*channel)
            .iter()
            .any(|m| m.webhook_id.is_some() && m.content.starts_with(marker.as_str())));
        let sent = dispatched.get(&id.to_string()).expect("dispatched");
        latencies.push(arrivals[0].duration_since(*sent));
    }
    let audit = t.audit().await;
    let detections = audit
        .iter()
        .filter(|r| r.entry.kind == Kind::Detected)
        .count();
    let actions = audit
        .iter()
        .filter(|r| r.entry.kind == Kind::Action)
        .count();
    assert_eq!((detections, actions), (expected, expected));
    t.assert_audit_sound().await;

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "discord load: {MESSAGES} messages, {expected} violations handled exactly once, p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
    );
    t.stop().await;
}
