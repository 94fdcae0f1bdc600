//! `linkguard scan`: how many banned meeting links are already in a
//! workspace's history, and where. Reads Slack and Discord exports (see
//! [`linkguard_scan`]), writes a report, and with `--record` adds each finding
//! to the audit log as a `historical` record.
//!
//! The scan itself runs on plain threads (it is CPU-bound); this module
//! bridges it to the async store: findings go through a bounded channel to a
//! task that appends them in batches, so a slow database slows the scan
//! instead of filling memory.

use crate::config::Config;
use crate::store::{AuditEntry, Kind, Origin, Outcome, Store, UnknownOrigin};
use anyhow::Context as _;
use linkguard_rules::policy::RoomKey;
use linkguard_scan::report::{Format, Report};
use linkguard_scan::{Event, Finding, ScanOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Inputs (recognised by content, not by name):
  - a Slack export: the ZIP file Slack produces, or its unpacked folder
    (users.json, channels.json, a folder of YYYY-MM-DD.json per channel)
  - a DiscordChatExporter JSON file (guild, channel, messages), or a folder of them
  - a JSON Lines file of {\"platform\", \"text\", \"id\"?, \"workspace\"?, \"channel\"?,
    \"author\"?, \"time\"?} messages
  Folders that are not Slack exports are walked and each file judged on its own.

Report: each finding (time, platform, workspace, channel, author, provider,
link with passcodes redacted, rule, what the live bot would have done), then a
summary by provider, channel and month. Findings are sorted by time and
channel when there are at most 10000; beyond that they are written in the
order they are found. An input that cannot be read is reported on standard
error (and in the report) with its path and the reason; the scan goes on.

Exit status:
  0  no banned link was found and every input was read
  1  at least one banned link was found (monitor-mode rules included)
  2  an input (or the policy, or the audit log with --record) failed";

/// Arguments of `linkguard scan`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct ScanArgs {
    /// Policy file (default: $LINKGUARD_POLICY, else the built-in policy).
    #[arg(long, value_name = "FILE")]
    policy: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Add each finding to the audit log as a `historical` record.
    #[arg(long)]
    record: bool,
    /// No progress line (it is only drawn when standard error is a terminal).
    #[arg(long, short)]
    quiet: bool,
    /// Worker threads (default: one per core).
    #[arg(long, short, value_name = "N", default_value_t = 0)]
    jobs: usize,
    /// Exports to scan.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// How many findings go to the audit log per transaction.
const RECORD_BATCH: usize = 500;

/// Runs `linkguard scan`.
pub async fn run(args: ScanArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let policy = match super::check::load_policy(args.policy.as_deref(), config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let key = RoomKey::new(config.room_key.expose());
    let out = report_out(args.out.as_ref())?;
    let mut recorder = None;
    let mut record_tx = None;
    if args.record {
        let store = match super::open_store(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: --record: {e:#}");
                return Ok(ExitCode::from(2));
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Finding>(RECORD_BATCH * 2);
        record_tx = Some(tx);
        recorder = Some(tokio::spawn(record(store, rx)));
    }
    let opts = ScanOptions {
        jobs: args.jobs,
        progress: !args.quiet && std::io::stderr().is_terminal(),
    };
    let format = args.format;
    let paths = args.paths;
    let scanned = tokio::task::spawn_blocking(move || {
        let mut report = Report::new(format, out);
        let mut write_error: Option<std::io::Error> = None;
        let stats = linkguard_scan::scan(&paths, &policy, &key, &opts, &mut |event| match event {
            Event::Finding(f) => {
                if let Some(tx) = &record_tx {
                    // Fails only when the recorder stopped on an error,
                    // which it reports itself.
                    let _ = tx.blocking_send((*f).clone());
                }
                if write_error.is_none() {
                    if let Err(e) = report.finding(*f) {
                        write_error = Some(e);
                    }
                }
            }
            Event::Error(e) => {
                eprintln!("error: {e}");
                if write_error.is_none() {
                    if let Err(e) = report.error(&e) {
                        write_error = Some(e);
                    }
                }
            }
        });
        drop(record_tx);
        let finished = match write_error {
            Some(e) => Err(e),
            None => report.finish(&stats).map(drop),
        };
        (stats, finished)
    })
    .await
    .context("the scan stopped unexpectedly")?;
    let (stats, written) = scanned;
    written.context("writing the report")?;
    let mut failed = stats.errors > 0;
    if let Some(task) = recorder {
        failed |= !recorded(task, stats.findings, args.quiet).await?;
    }
    Ok(if failed {
        ExitCode::from(2)
    } else if stats.findings > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Where the report goes: `path`, else standard output.
fn report_out(path: Option<&PathBuf>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

/// Waits for the audit recorder and says how it went (unless `quiet`);
/// `false` when it could not write everything. `findings` is how many the
/// scan found, to tell the new ones from those an earlier scan recorded.
async fn recorded(
    task: tokio::task::JoinHandle<anyhow::Result<u64>>,
    findings: u64,
    quiet: bool,
) -> anyhow::Result<bool> {
    match task
        .await
        .context("the audit recorder stopped unexpectedly")?
    {
        Ok(n) => {
            if !quiet {
                let before = findings.saturating_sub(n);
                eprintln!(
                    "recorded {n} historical finding(s) in the audit log{}",
                    if before > 0 {
                        format!(" ({before} already there from an earlier scan)")
                    } else {
                        String::new()
                    }
                );
            }
            Ok(true)
        }
        Err(e) => {
            eprintln!("error: --record: writing to the audit log: {e}");
            Ok(false)
        }
    }
}

/// Appends findings to the audit log in batches, each once however often the
/// same export is scanned; returns how many were new.
async fn record(store: Store, mut rx: tokio::sync::mpsc::Receiver<Finding>) -> anyhow::Result<u64> {
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let entries = batch
            .drain(..)
            .map(|f| Ok((history_key(&f), audit_entry(&f)?)))
            .collect::<Result<Vec<(String, AuditEntry)>, UnknownOrigin>>()?;
        written += store.append_batch_once(entries).await?;
    }
    Ok(written)
}

/// What makes a finding the same finding in a later scan: where the message
/// is, which message, and the (redacted) link. Not the input's path, so a
/// ZIP and its unpacked folder count once.
fn history_key(f: &Finding) -> String {
    let id = |id: &str, name: &str| if id.is_empty() { name } else { id }.to_owned();
    let parts = [
        f.platform.to_owned(),
        id(&f.workspace_id, &f.workspace),
        id(&f.channel_id, &f.channel),
        f.message_id.clone(),
        f.provider.clone(),
        f.url.clone(),
    ];
    // Lengths first, so no part can be confused with its neighbours.
    let mut key = String::from("historical");
    for p in &parts {
        key.push_str(&format!(":{}:{p}", p.len()));
    }
    key
}

/// The `historical` audit record of a finding. Its time is when it was
/// recorded (the chain's order); when the message was posted is in `detail`.
/// Fails only if the scanner names a platform the audit log does not know.
pub fn audit_entry(f: &Finding) -> Result<AuditEntry, UnknownOrigin> {
    let or_name = |id: &str, name: &str| {
        Some(if id.is_empty() { name } else { id }.to_owned()).filter(|s| !s.is_empty())
    };
    let mut e = AuditEntry::new(Kind::Historical, Origin::parse(f.platform)?);
    e.workspace = or_name(&f.workspace_id, &f.workspace);
    e.channel = or_name(&f.channel_id, &f.channel);
    e.thread = f.thread.clone();
    e.message_id = Some(f.message_id.clone()).filter(|s| !s.is_empty());
    e.author = or_name(&f.author_id, &f.author);
    e.rule_id = Some(f.rule.clone());
    e.provider = Some(f.provider.clone());
    e.link = Some(f.url.clone());
    e.alternative = f.alternative.clone();
    // `f.action` is a policy action's name, which always parses.
    e.action = f.action.parse().ok();
    if f.monitor {
        e.outcome = Some(Outcome::WouldAct);
    }
    let mut detail = format!("found by linkguard scan in {}", f.input);
    if let Some(t) = &f.time {
        detail.push_str(&format!("; posted {t}"));
    }
    detail.push_str(&format!("; in the message's {}", f.source.as_str()));
    if f.edited {
        detail.push_str(" (edited)");
    }
    e.detail = Some(detail);
    Ok(e)
}
