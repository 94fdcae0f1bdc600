//! The scan engine alone, with the built-in policy: what `linkguard scan`
//! does minus configuration and report writing, built without the bot's
//! async stack (so a release build takes minutes, not most of an hour, on a
//! busy machine). `scripts/bench.sh --engine` times it when the full
//! release binary is out of reach.
//!
//!   cargo run --release -p linkguard-scan --example scan_engine -- PATH...

use linkguard_rules::policy::{Policy, RoomKey, DEFAULT_POLICY, DEFAULT_POLICY_NAME};
use linkguard_scan::{Event, ScanOptions};
use std::path::PathBuf;

fn main() {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: scan_engine PATH...");
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
    let stats = linkguard_scan::scan(&paths, &policy, &key, &opts, &mut |e| {
        if let Event::Error(e) = e {
            errors += 1;
            eprintln!("{e}");
        }
    });
    println!(
        "findings {} messages {} skipped_files {} errors {errors} bytes {} ms {}",
        stats.findings, stats.messages, stats.skipped_files, stats.bytes, stats.elapsed_ms
    );
}
