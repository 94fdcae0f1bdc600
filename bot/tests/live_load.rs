//! The live path under a short sustained load, as CI runs it: the real
//! `linkguard run` binary against the fake Slack (Socket Mode) and the fake
//! Discord (gateway), 200 messages a second for 3 seconds, one in ten with a
//! banned link. Asserts only correctness: every violation handled exactly
//! once (one repost, one delete, one detection and one action recorded),
//! nothing else touched, the audit chain sound. Timing is printed, never
//! asserted; `scripts/bench-live.sh` runs the measured version.

#[path = "live_support/mod.rs"]
mod live_support;

use live_support::{LiveConfig, Target};
use std::time::Duration;

fn config() -> LiveConfig {
    LiveConfig {
        bin: env!("CARGO_BIN_EXE_linkguard").into(),
        rate: 200,
        duration: Duration::from_secs(3),
        banned_every: 10,
        // Generous: a debug build on a machine shared with other builds.
        drain: Duration::from_secs(120),
    }
}

async fn check(target: Target) {
    let report = live_support::run(target, &config())
        .await
        .unwrap_or_else(|e| panic!("{} load run failed: {e:#}", target.name()));
    for line in report.lines() {
        println!("{line}");
    }
    assert_eq!(report.violations, 60, "one message in ten of 600");
    report
        .check_exactly_once()
        .unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_slack_every_violation_handled_exactly_once() {
    check(Target::Slack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_discord_every_violation_handled_exactly_once() {
    check(Target::Discord).await;
}
