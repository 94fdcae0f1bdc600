//! `linkguard report`: what the policy caught over a period, per rule,
//! channel and provider, split into what was acted on and what monitor mode
//! only recorded, so admins can see a rule's effect before enforcing it.

use super::audit::parse_time_ms;
use crate::config::Config;
use crate::store::{AuditFilter, Kind, Origin};
use linkguard_rules::timefmt::format_time;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Arguments of `linkguard report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Start of the period (YYYY-MM-DD, RFC 3339 or epoch ms; default: 7 days ago).
    #[arg(long)]
    since: Option<String>,
    /// End of the period (default: now).
    #[arg(long)]
    until: Option<String>,
    /// Only this platform or origin (slack, discord, cli, console,
    /// linkguard, any).
    #[arg(long, value_parser = Origin::parse)]
    platform: Option<Origin>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Default, Clone, Copy, serde::Serialize)]
struct Counts {
    detected: u64,
    enforced: u64,
    monitored: u64,
    excepted: u64,
}

/// Runs `linkguard report`.
pub async fn run(args: ReportArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let store = super::open_store(config).await?;
    let now = crate::store::now_ms();
    let since = match &args.since {
        Some(s) => parse_time_ms(s)?,
        None => now - 7 * 86_400_000,
    };
    let until = match &args.until {
        Some(s) => parse_time_ms(s)?,
        None => now + 1,
    };
    let mut by: [BTreeMap<String, Counts>; 3] = Default::default();
    let mut total = Counts::default();
    let mut after = None;
    loop {
        let page = store
            .list(&AuditFilter {
                since_ms: Some(since),
                until_ms: Some(until),
                platform: args.platform,
                after_seq: after,
                limit: Some(1000),
                ..AuditFilter::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.seq);
        for r in &page {
            let e = &r.entry;
            let mut c = Counts::default();
            match e.kind {
                Kind::Detected => {
                    c.detected = 1;
                    match e.outcome.as_ref().map(|o| o.as_str()) {
                        Some("would_act") => c.monitored = 1,
                        _ => c.enforced = 1,
                    }
                }
                Kind::Exception if e.link.is_some() => {
                    c.detected = 1;
                    c.excepted = 1;
                }
                _ => continue,
            }
            let keys = [
                e.rule_id.clone().unwrap_or_else(|| "-".into()),
                format!("{}:{}", e.platform, e.channel.as_deref().unwrap_or("-")),
                e.provider.clone().unwrap_or_else(|| "-".into()),
            ];
            for (map, key) in by.iter_mut().zip(keys) {
                let slot = map.entry(key).or_default();
                slot.detected += c.detected;
                slot.enforced += c.enforced;
                slot.monitored += c.monitored;
                slot.excepted += c.excepted;
            }
            total.detected += c.detected;
            total.enforced += c.enforced;
            total.monitored += c.monitored;
            total.excepted += c.excepted;
        }
    }
    if args.json {
        let v = serde_json::json!({
            "since": format_time(since),
            "until": format_time(until),
            "total": total,
            "by_rule": by[0],
            "by_channel": by[1],
            "by_provider": by[2],
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Banned meeting links from {} to {}: {} detected ({} acted on, {} monitor mode only, {} excepted)",
        format_time(since),
        format_time(until),
        total.detected,
        total.enforced,
        total.monitored,
        total.excepted
    );
    for (title, map) in ["rule", "channel", "provider"].iter().zip(&by) {
        println!("\nBy {title}:");
        println!(
            "  {:<40} {:>8} {:>8} {:>8} {:>8}",
            title, "detected", "acted", "monitor", "excepted"
        );
        for (k, c) in map {
            println!(
                "  {:<40} {:>8} {:>8} {:>8} {:>8}",
                k, c.detected, c.enforced, c.monitored, c.excepted
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
