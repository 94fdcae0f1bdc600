//! `linkguard audit`: read, export, verify and purge the audit log.
//!
//! `verify` exits non-zero and names the first broken record, so it can run
//! from cron or CI. Exports stream page by page, so a large log does not have
//! to fit in memory. `anchor` prints the signed head as one JSON line to keep
//! elsewhere; `verify --anchor FILE` fails when the chain no longer reaches
//! an anchored head.

use super::open_store;
use crate::store::{Anchor, AuditAction, AuditFilter, AuditRecord, Origin, Store, VerifyReport};
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use linkguard_rules::timefmt::format_time;
use std::io::Write;
use std::process::ExitCode;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Arguments of `linkguard audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    cmd: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// List records, oldest first.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Show at most this many records.
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Show the newest records, and with --follow keep printing new ones.
    Tail {
        /// How many records to show first.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: i64,
        /// Keep waiting for new records.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Write records to standard output as JSON lines or CSV.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Check the hash chain; exits non-zero naming the first broken record.
    Verify {
        /// Anchors printed earlier by `linkguard audit anchor` (one JSON
        /// object per line): fail if the chain no longer reaches any of them.
        #[arg(long, value_name = "FILE")]
        anchor: Vec<std::path::PathBuf>,
    },
    /// Verify the chain and print its head signed with the audit key (one
    /// JSON line: seq, hash, time): keep it outside the database.
    Anchor,
    /// Remove records older than a date, keeping the chain verifiable.
    Purge {
        /// Remove records before this date (YYYY-MM-DD, RFC 3339, or epoch ms).
        #[arg(long)]
        before: String,
        /// Who is purging (recorded in the log).
        #[arg(long)]
        author: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Args, Default)]
struct FilterArgs {
    /// Only records at or after this date (YYYY-MM-DD, RFC 3339, or epoch ms).
    #[arg(long)]
    since: Option<String>,
    /// Only records before this date.
    #[arg(long)]
    until: Option<String>,
    /// Only this platform or origin (slack, discord, cli, console,
    /// linkguard, any).
    #[arg(long, value_parser = Origin::parse)]
    platform: Option<Origin>,
    /// Only this channel id.
    #[arg(long)]
    channel: Option<String>,
    /// Only this author (user id).
    #[arg(long)]
    user: Option<String>,
    /// Only this rule id.
    #[arg(long)]
    rule: Option<String>,
    /// Only this kind (detected, action, policy_changed, …).
    #[arg(long)]
    kind: Option<String>,
}

impl FilterArgs {
    fn to_filter(&self) -> anyhow::Result<AuditFilter> {
        Ok(AuditFilter {
            since_ms: self.since.as_deref().map(parse_time_ms).transpose()?,
            until_ms: self.until.as_deref().map(parse_time_ms).transpose()?,
            platform: self.platform,
            channel: self.channel.clone(),
            author: self.user.clone(),
            rule_id: self.rule.clone(),
            kind: self.kind.clone(),
            ..AuditFilter::default()
        })
    }
}

/// Runs `linkguard audit`.
pub async fn run(args: AuditArgs, config: &crate::config::Config) -> anyhow::Result<ExitCode> {
    let store = open_store(config).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.cmd {
        AuditCommand::List { filter, limit } => {
            let filter = AuditFilter {
                limit,
                ..filter.to_filter()?
            };
            for r in store.list(&filter).await? {
                writeln!(out, "{}", format_line(&r))?;
            }
        }
        AuditCommand::Tail {
            lines,
            follow,
            filter,
        } => {
            tail(&store, lines, follow, filter.to_filter()?, &mut out).await?;
        }
        AuditCommand::Export { format, filter } => {
            export(&store, format, filter.to_filter()?, &mut out).await?;
        }
        AuditCommand::Verify { anchor } => {
            let code = verify(&store, &anchor, &mut out).await?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
        }
        AuditCommand::Anchor => {
            let (report, anchor) = store.anchor().await?;
            let Some(mut anchor) = anchor else {
                out.flush()?;
                let p = report.problem.map_or_else(String::new, |p| p.to_string());
                eprintln!("audit log BROKEN, not anchoring it: {p}");
                return Ok(ExitCode::FAILURE);
            };
            anchor.at = format_time(anchor.at_ms);
            writeln!(out, "{}", serde_json::to_string(&anchor)?)?;
        }
        AuditCommand::Purge { before, author } => {
            let before_ms = parse_time_ms(&before)?;
            let author = author.unwrap_or_else(default_author);
            let report = store.purge_before(before_ms, &author).await?;
            writeln!(
                out,
                "purged {} records; the chain now starts after checkpoint record {}",
                report.removed, report.checkpoint_seq
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `linkguard audit tail`: the newest `lines` records, then with `follow`
/// every new one as it is written (until interrupted).
async fn tail(
    store: &Store,
    lines: i64,
    follow: bool,
    base: AuditFilter,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut newest = store
        .list(&AuditFilter {
            limit: Some(lines.max(0)),
            newest_first: true,
            ..base.clone()
        })
        .await?;
    newest.reverse();
    let mut last = match newest.last() {
        Some(r) => r.seq,
        None => store.head().await?.0,
    };
    for r in &newest {
        writeln!(out, "{}", format_line(r))?;
    }
    out.flush()?;
    if !follow {
        return Ok(());
    }
    loop {
        // Polling keeps `tail` portable across both backends and costs
        // one indexed query a second.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let new = store
            .list(&AuditFilter {
                after_seq: Some(last),
                ..base.clone()
            })
            .await?;
        for r in &new {
            writeln!(out, "{}", format_line(r))?;
            last = r.seq;
        }
        out.flush()?;
    }
}

/// `linkguard audit verify`: checks the chain and the anchors in `paths`;
/// a broken chain is reported on standard error and fails.
async fn verify(
    store: &Store,
    paths: &[std::path::PathBuf],
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let mut anchors = Vec::new();
    for path in paths {
        anchors.extend(read_anchors(path)?);
    }
    let report = store.verify_with_anchors(&anchors).await?;
    match &report.problem {
        None => {
            writeln!(out, "{}", describe_ok(&report))?;
            for n in &report.notes {
                writeln!(out, "note: {n}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(p) => {
            out.flush()?;
            eprintln!(
                "audit log BROKEN at record {}: {p} ({} records before it verified)",
                p.seq(),
                report.checked
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The one-line summary of an intact chain, saying which records are keyed.
fn describe_ok(r: &VerifyReport) -> String {
    let first = r.from_seq + 1;
    let mut s = format!(
        "audit log OK: {} records verified (records {first}..={})",
        r.checked, r.head_seq
    );
    let keyed_first = r.keyed_from.max(first);
    if r.unkeyed_checked > 0 {
        s.push_str(&format!(
            "; records {first}..={} are unkeyed SHA-256 (written before the upgrade)",
            r.keyed_from - 1
        ));
    }
    if keyed_first <= r.head_seq {
        s.push_str(&format!(
            "; records {keyed_first}..={} are keyed (HMAC)",
            r.head_seq
        ));
    }
    if r.anchors_checked > 0 {
        s.push_str(&format!("; {} anchor(s) reached", r.anchors_checked));
    }
    s.push_str(&format!(", head hash {}", r.head_hash));
    s
}

/// Anchors from a file of JSON lines (blank lines and `#` comments skipped).
fn read_anchors(path: &std::path::Path) -> anyhow::Result<Vec<Anchor>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read anchor file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let a: Anchor = serde_json::from_str(line).with_context(|| {
            format!(
                "{}:{}: not an anchor printed by `linkguard audit anchor`",
                path.display(),
                i + 1
            )
        })?;
        out.push(a);
    }
    if out.is_empty() {
        anyhow::bail!("anchor file {} holds no anchor", path.display());
    }
    Ok(out)
}

async fn export(
    store: &Store,
    format: ExportFormat,
    filter: AuditFilter,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    const PAGE: i64 = 1000;
    if let ExportFormat::Csv = format {
        writeln!(out, "{}", CSV_HEADER.join(","))?;
    }
    let mut after = 0;
    loop {
        let page = store
            .list(&AuditFilter {
                after_seq: Some(after),
                limit: Some(PAGE),
                ..filter.clone()
            })
            .await?;
        for r in &page {
            match format {
                ExportFormat::Jsonl => writeln!(out, "{}", jsonl_line(r)?)?,
                ExportFormat::Csv => writeln!(out, "{}", csv_row(r))?,
            }
            after = r.seq;
        }
        if (page.len() as i64) < PAGE {
            return Ok(());
        }
    }
}

/// One record as an export's JSON line (the record plus a readable `at`).
pub(crate) fn jsonl_line(r: &AuditRecord) -> serde_json::Result<String> {
    let mut v = serde_json::to_value(r)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("at".into(), format_time(r.entry.at_ms).into());
    }
    Ok(v.to_string())
}

/// The columns of a CSV export.
pub(crate) const CSV_HEADER: &[&str] = &[
    "seq",
    "at",
    "platform",
    "workspace",
    "channel",
    "thread",
    "message_id",
    "revision",
    "author",
    "kind",
    "rule_id",
    "policy_version",
    "provider",
    "link",
    "alternative",
    "action",
    "outcome",
    "detail",
    "message_text",
    "prev_hash",
    "hash",
];

/// One record as a CSV export's row.
pub(crate) fn csv_row(r: &AuditRecord) -> String {
    let e = &r.entry;
    let fields: Vec<String> = vec![
        r.seq.to_string(),
        format_time(e.at_ms),
        e.platform.to_string(),
        e.workspace.clone().unwrap_or_default(),
        e.channel.clone().unwrap_or_default(),
        e.thread.clone().unwrap_or_default(),
        e.message_id.clone().unwrap_or_default(),
        e.revision
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default(),
        e.author.clone().unwrap_or_default(),
        e.kind.to_string(),
        e.rule_id.clone().unwrap_or_default(),
        e.policy_version.map(|v| v.to_string()).unwrap_or_default(),
        e.provider.clone().unwrap_or_default(),
        e.link.clone().unwrap_or_default(),
        e.alternative.clone().unwrap_or_default(),
        e.action
            .map(AuditAction::as_str)
            .unwrap_or_default()
            .to_owned(),
        e.outcome
            .as_ref()
            .map(|o| o.to_string())
            .unwrap_or_default(),
        e.detail.clone().unwrap_or_default(),
        e.message_text.clone().unwrap_or_default(),
        r.prev_hash.clone(),
        r.hash.clone(),
    ];
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

/// One CSV cell: quoted when needed, and defused when a spreadsheet would
/// read it as a formula (message text and names come from chat users).
fn csv_field(s: &str) -> String {
    let defused;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{s}");
        defused.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn format_line(r: &AuditRecord) -> String {
    let e = &r.entry;
    let mut parts = vec![
        format!("#{}", r.seq),
        format_time(e.at_ms),
        e.kind.to_string(),
        e.platform.to_string(),
    ];
    let labelled = [
        ("workspace", e.workspace.clone()),
        ("channel", e.channel.clone()),
        ("thread", e.thread.clone()),
        ("message", e.message_id.clone()),
        ("author", e.author.clone()),
        ("rule", e.rule_id.clone()),
        ("policy", e.policy_version.map(|v| format!("v{v}"))),
        ("provider", e.provider.clone()),
        ("link", e.link.clone()),
        ("alternative", e.alternative.clone()),
        ("action", e.action.map(|a| a.as_str().to_owned())),
        ("outcome", e.outcome.as_ref().map(|o| o.to_string())),
        ("detail", e.detail.clone()),
    ];
    for (label, v) in labelled {
        if let Some(v) = v {
            parts.push(format!("{label}={v}"));
        }
    }
    parts.join("  ")
}

/// `YYYY-MM-DD` (midnight UTC), RFC 3339, or epoch milliseconds.
pub(crate) fn parse_time_ms(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).with_context(|| {
        format!("`{s}` is not a date: use YYYY-MM-DD, RFC 3339 or epoch milliseconds")
    })?;
    Ok(d.midnight().assume_utc().unix_timestamp() * 1000)
}

/// `$USER`, or `cli`.
pub(crate) fn default_author() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "cli".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_three_forms() {
        assert_eq!(parse_time_ms("2024-01-02").ok(), Some(1_704_153_600_000));
        assert_eq!(
            parse_time_ms("2024-01-02T00:00:01Z").ok(),
            Some(1_704_153_601_000)
        );
        assert_eq!(parse_time_ms("1704153600000").ok(), Some(1_704_153_600_000));
        assert!(parse_time_ms("yesterday").is_err());
        assert_eq!(format_time(1_704_153_601_000), "2024-01-02T00:00:01Z");
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }
}
