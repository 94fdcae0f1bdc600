//! Load: 1,000 messages (10% with banned links) through Socket Mode. Every
//! violation must be handled exactly once; prints p50/p99 of the time from
//! the fake sending the event to the repost arriving at the fake.
//! `cargo test -p linkguard-e2e --test slack_load -- --nocapture`

use linkguard_e2e::slack_support::{spawn_app, Setup, ALICE, GENERAL};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_every_violation_once() {
    let app = spawn_app(Setup::default()).await;
    let started = Instant::now();
    let mut banned: Vec<(usize, String)> = Vec::new();
    for i in 0..1000usize {
        let text = if i % 10 == 0 {
            format!("call {i}: https://zoom.us/j/9{i:010}")
        } else {
            format!("message {i}: nothing to see, see https://github.com/acme/api/pull/{i}")
        };
        let ts = app.fake.post_user_message(GENERAL, ALICE, &text).unwrap();
        if i % 10 == 0 {
            banned.push((i, ts));
        }
    }
    app.fake
        .wait_until(Duration::from_secs(120), |s| {
            banned
                .iter()
                .all(|(_, ts)| s.message(GENERAL, ts).is_some_and(|m| m.deleted))
        })
        .await
        .expect("every violation handled");
    let wall = started.elapsed();

    // Exactly once: one repost per violation, and no other message touched.
    let (events, deliveries, calls) = app.fake.with_state(|s| {
        (
            s.events().to_vec(),
            s.deliveries().to_vec(),
            s.calls().to_vec(),
        )
    });
    let reposts: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.ok() && c.params.get("username").is_some())
        .collect();
    assert_eq!(reposts.len(), 100, "one repost per violation");
    let deletes = calls
        .iter()
        .filter(|c| c.method == "chat.delete" && c.ok())
        .count();
    assert_eq!(deletes, 100);

    // Latency: first delivery of the message's event -> its repost.
    let event_of_ts: HashMap<String, String> = events
        .iter()
        .filter_map(|e| {
            Some((
                e["event"]["ts"].as_str()?.to_owned(),
                e["event_id"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let sent_at: HashMap<&str, Instant> = deliveries
        .iter()
        .rev()
        .filter_map(|d| Some((d.event_id.as_deref()?, d.at)))
        .collect();
    let mut latencies: Vec<Duration> = banned
        .iter()
        .map(|(i, ts)| {
            let event = &event_of_ts[ts];
            let sent = sent_at[event.as_str()];
            let marker = format!("call {i}:");
            let repost = reposts
                .iter()
                .find(|c| {
                    c.params["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with(&marker))
                })
                .expect("repost of this message");
            repost.at.saturating_duration_since(sent)
        })
        .collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "slack load: 1000 messages, {} violations handled exactly once in {:.1}s, event sent -> repost received: p50 {:.1} ms, p99 {:.1} ms",
        reposts.len(),
        wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    app.finish().await;
}
