//! Prints how much memory a compiled policy with 1,000 custom rules takes:
//! the growth of the process's resident set (Linux `/proc/self/statm`) while
//! compiling it, and how long compiling took.
//!
//! `cargo run --release -p linkguard-rules --example policy_memory`

#[path = "../benches/traffic.rs"]
mod traffic;

use linkguard_rules::policy::Policy;
use std::time::Instant;

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    let rules = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let text = traffic::big_policy(rules);
    let before = rss_bytes();
    let start = Instant::now();
    let policy = Policy::parse("generated", &text).expect("generated policy is valid");
    let took = start.elapsed();
    let after = rss_bytes();
    println!("rules: {}", policy.rules().len());
    println!("compile time: {:.1} ms", took.as_secs_f64() * 1e3);
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "resident memory growth: {:.1} MiB (process total {:.1} MiB)",
            a.saturating_sub(b) as f64 / 1048576.0,
            a as f64 / 1048576.0
        ),
        _ => println!("resident memory: unavailable (no /proc/self/statm)"),
    }
    std::hint::black_box(&policy);
}
