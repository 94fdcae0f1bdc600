//! 10,000 custom rules: evaluation throughput on link-heavy traffic and the
//! compiled policy's resident memory.
//!
//! `cargo bench -p linkguard-rules --bench rules10k` (`RULES=n` changes the
//! rule count, `BENCH_MIB=n` the traffic size). Prints `name: value` lines
//! that `scripts/bench.sh` collects:
//!
//! ```text
//! rules10k_rules: 10001
//! rules10k_compile_ms: …
//! rules10k_policy_rss_mib: …          (resident-set growth while compiling)
//! rules10k_link_heavy_mib_per_s: …    (median of the rounds, one thread)
//! rules10k_link_heavy_threads: …
//! rules10k_link_heavy_all_cores_mib_per_s: …
//! rules10k_mostly_plain_mib_per_s: …
//! ```
//!
//! The all-cores figure splits each round's messages over
//! `std::thread::available_parallelism()` threads sharing one `&Policy`, as
//! `scan` and `check --batch` do; it is the same work as the one-thread
//! figure, finished sooner.
//!
//! A plain harness rather than criterion: the figures are what matters and
//! one run must print them all.

use linkguard_rules::eval::MessageContext;
use linkguard_rules::policy::{Policy, RoomKey};
use linkguard_rules::Dialect;
use std::hint::black_box;
use std::time::{Duration, Instant};

mod custom_rules;
mod traffic;

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Evaluates every message once; how many links were banned.
fn evaluate_all(policy: &Policy, msgs: &[String]) -> usize {
    let key = RoomKey::new("bench");
    let ctx = MessageContext {
        platform: Dialect::Slack,
        workspace: "T0FAKETEAM1",
        channel: "C0FAKECHAN1",
        user: "U0FAKEUSR01",
        ..MessageContext::default()
    };
    let mut n = 0usize;
    for m in msgs {
        let v = policy.evaluate(black_box(m), &ctx, &key);
        n += v.occurrences.iter().filter(|o| o.block().is_some()).count();
    }
    n
}

/// Median MiB/s over rounds of evaluating every message once, the messages
/// split into `threads` contiguous parts evaluated at once.
fn throughput(policy: &Policy, msgs: &[String], threads: usize) -> (f64, usize) {
    let bytes: usize = msgs.iter().map(String::len).sum();
    let part = msgs.len().div_ceil(threads.max(1)).max(1);
    let mut blocked = 0;
    let mut round = || {
        let start = Instant::now();
        blocked = if threads <= 1 {
            evaluate_all(policy, msgs)
        } else {
            std::thread::scope(|s| {
                let parts: Vec<_> = msgs
                    .chunks(part)
                    .map(|c| s.spawn(move || evaluate_all(policy, c)))
                    .collect();
                parts.into_iter().map(|p| p.join().unwrap_or(0)).sum()
            })
        };
        start.elapsed()
    };
    round(); // warm-up: lazily compiled catalogue patterns, caches
    let mut rounds: Vec<Duration> = Vec::new();
    let budget = Instant::now();
    while rounds.len() < 5 || (rounds.len() < 30 && budget.elapsed() < Duration::from_secs(5)) {
        rounds.push(round());
    }
    rounds.sort();
    let median = rounds[rounds.len() / 2];
    (bytes as f64 / 1048576.0 / median.as_secs_f64(), blocked)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let rules = env_usize("RULES", 10_000);
    let mib = env_usize("BENCH_MIB", 4);
    let text = custom_rules::policy(rules);
    let link_heavy = custom_rules::traffic(2, mib << 20, rules);
    let mostly_plain = traffic::traffic(1, mib << 20, 5, 1);

    let before = rss_bytes();
    let start = Instant::now();
    let policy = Policy::parse("rules10k", &text).expect("generated policy is valid");
    let compile = start.elapsed();
    let after = rss_bytes();
    drop(text);

    println!("rules10k_rules: {}", policy.rules().len());
    println!("rules10k_compile_ms: {:.0}", compile.as_secs_f64() * 1e3);
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "rules10k_policy_rss_mib: {:.1}",
            a.saturating_sub(b) as f64 / 1048576.0
        ),
        _ => println!("rules10k_policy_rss_mib: unavailable"),
    }
    let links = link_heavy.len();
    let (heavy, blocked) = throughput(&policy, &link_heavy, 1);
    println!("rules10k_link_heavy_messages: {links}");
    println!("rules10k_link_heavy_blocked_links: {blocked}");
    println!("rules10k_link_heavy_mib_per_s: {heavy:.1}");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (all, all_blocked) = throughput(&policy, &link_heavy, threads);
    assert_eq!(
        all_blocked, blocked,
        "the same verdicts on every thread count"
    );
    println!("rules10k_link_heavy_threads: {threads}");
    println!("rules10k_link_heavy_all_cores_mib_per_s: {all:.1}");
    let (plain, _) = throughput(&policy, &mostly_plain, 1);
    println!("rules10k_mostly_plain_mib_per_s: {plain:.1}");
    if let Some(total) = rss_bytes() {
        println!("rules10k_process_rss_mib: {:.1}", total as f64 / 1048576.0);
    }
}
