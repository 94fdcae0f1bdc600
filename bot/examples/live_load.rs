//! The live path under sustained load: drives the real `linkguard run`
//! binary through the fake Slack and the fake Discord, one after the other,
//! and prints `name: value` lines (see `tests/live_support/mod.rs` for what
//! each figure measures). Run by `scripts/bench-live.sh`.
//!
//! ```text
//! live_load --bin target/release/linkguard [--rate 1000] [--secs 60] [--platform slack|discord|both]
//! ```
//!
//! `LIVE_RATE` and `LIVE_SECS` set the defaults of `--rate` and `--secs`.
//! Exits non-zero when a violation was missed or handled twice.

#[path = "../tests/live_support/mod.rs"]
mod live_support;

use live_support::{LiveConfig, Target};
use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: live_load --bin PATH [--rate N] [--secs N] [--platform slack|discord|both]");
    std::process::exit(2)
}

fn main() {
    let env_num = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .map(|v| v.parse::<f64>().unwrap_or_else(|_| usage()))
            .unwrap_or(d)
    };
    let mut bin = None;
    let mut rate = env_num("LIVE_RATE", 1000.0);
    let mut secs = env_num("LIVE_SECS", 60.0);
    let mut platform = "both".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--bin" => bin = Some(value()),
            "--rate" => rate = value().parse().unwrap_or_else(|_| usage()),
            "--secs" => secs = value().parse().unwrap_or_else(|_| usage()),
            "--platform" => platform = value(),
            _ => usage(),
        }
    }
    let Some(bin) = bin else { usage() };
    if !(rate >= 1.0 && secs > 0.0 && rate * secs <= 10_000_000.0) {
        eprintln!("--rate must be at least 1 and --secs positive (rate x secs at most 10,000,000)");
        std::process::exit(2);
    }
    let targets: &[Target] = match platform.as_str() {
        "slack" => &[Target::Slack],
        "discord" => &[Target::Discord],
        "both" => &[Target::Slack, Target::Discord],
        _ => usage(),
    };
    let cfg = LiveConfig {
        bin: bin.into(),
        rate: rate as u32,
        duration: Duration::from_secs_f64(secs),
        banned_every: 10,
        drain: Duration::from_secs(120),
    };
    println!("live_rate_per_s: {}", cfg.rate);
    println!("live_secs: {secs}");
    let mut failed = false;
    for &t in targets {
        // Each platform on a runtime of its own, shut down before the next
        // starts. On one shared runtime, what the Slack run left behind (its
        // fake's tasks and timers) stalled the fake Discord's two threads in
        // the first seconds of the Discord load: its API probe took up to
        // 592 ms and the event latencies over 20 ms all fell 1.5-4.3 s into
        // the load. Shutting the runtime down ends all of that first.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| {
                eprintln!("FAILED: starting a runtime: {e}");
                std::process::exit(1)
            });
        let result = rt.block_on(live_support::run(t, &cfg));
        rt.shutdown_timeout(Duration::from_secs(10));
        match result {
            Ok(report) => {
                for line in report.lines() {
                    println!("{line}");
                }
                if let Err(e) = report.check_exactly_once() {
                    eprintln!("FAILED: {e:#}");
                    failed = true;
                }
            }
            Err(e) => {
                eprintln!("FAILED: {} run: {e:#}", t.name());
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
