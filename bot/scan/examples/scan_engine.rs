//! The scan engine alone, with the built-in policy: what `linkguard scan`
//! does minus configuration and report writing, built without the bot's
//! async stack (so a release build takes minutes, not most of an hour, on a
//! busy machine). `scripts/bench.sh --engine` times it when the full
//! release binary is out of reach.
//!
//!   cargo run --release -p linkguard-scan --example scan_engine -- [--findings] PATH...
//!
//! `--findings` also prints each finding and input error as a JSON line
//! (sorted, so that two builds' outputs can be compared with `cmp`).

use linkguard_rules::policy::{Policy, RoomKey, DEFAULT_POLICY, DEFAULT_POLICY_NAME};
use linkguard_scan::{Event, ScanOptions};
use std::path::PathBuf;

fn main() {
    let mut args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let findings = args.first().is_some_and(|a| a.as_os_str() == "--findings");
    let paths = if findings { args.split_off(1) } else { args };
    if paths.is_empty() {
        eprintln!("usage: scan_engine [--findings] PATH...");
        std::process::exit(2);
    }
    let policy = match Policy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let key = RoomKey::new("scan-engine-bench");
    let opts = ScanOptions {
        jobs: 0,
        progress: false,
    };
    let mut errors = 0u64;
    let mut lines = Vec::new();
    let stats = linkguard_scan::scan(&paths, &policy, &key, &opts, &mut |e| match e {
        Event::Error(e) => {
            errors += 1;
            eprintln!("{e}");
            if findings {
                lines.push(format!("error {}", serde_json::json!(e)));
            }
        }
        Event::Finding(f) if findings => lines.push(format!("finding {}", serde_json::json!(f))),
        Event::Finding(_) => {}
    });
    lines.sort();
    for l in &lines {
        println!("{l}");
    }
    println!(
        "findings {} messages {} skipped_files {} errors {errors} bytes {} ms {}",
        stats.findings, stats.messages, stats.skipped_files, stats.bytes, stats.elapsed_ms
    );
}
