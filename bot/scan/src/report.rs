//! The scan report: every finding, then a summary by provider, channel and
//! month, as a terminal table, JSON Lines or CSV.
//!
//! Order: findings are held back and sorted by (time, platform, workspace,
//! channel, input, then line for a `file:line` input) when there are at
//! most [`SORT_LIMIT`] of them, so that two scans of the same files write
//! the same report whichever worker finds what first; past that the
//! held ones are written as they are and the rest streamed in the order the
//! workers find them, so memory stays flat however many there are. A held
//! finding is rendered when it arrives and kept as its line: the thread
//! that receives findings waits on the workers anyway, while rendering them
//! all at the end was a serial tail after the scan (about 6 ms for the
//! 2,810 findings of the JSON Lines bench file).
//!
//! - `table`: fixed-width columns (long values cut with `…`), the link last
//!   and whole; then the summary and the inputs that failed.
//! - `jsonl`: one object per line, `"type": "finding"` (the [`Finding`]
//!   fields), `"type": "error"` for each failed input, and a last
//!   `"type": "summary"` line.
//! - `csv`: a header and one row per finding (RFC 4180 quoting); no summary.

use super::{month_of, progress::human_bytes, Finding, InputError, ScanStats};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Findings up to this many are sorted before being written.
pub const SORT_LIMIT: usize = 10_000;

/// Failed inputs listed in the table's summary (all go to standard error).
const TABLE_ERROR_LIMIT: usize = 50;

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Columns for a person at a terminal.
    Table,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
}

/// Counts for the summary.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    /// Findings per provider display name.
    pub by_provider: BTreeMap<String, u64>,
    /// Findings per (platform, workspace, channel).
    pub by_channel: BTreeMap<(String, String, String), u64>,
    /// Findings per month (`YYYY-MM`, or `unknown`).
    pub by_month: BTreeMap<String, u64>,
}

impl Summary {
    fn add(&mut self, f: &Finding) {
        *self.by_provider.entry(f.provider_name.clone()).or_default() += 1;
        *self
            .by_channel
            .entry((
                f.platform.to_owned(),
                f.workspace.clone(),
                f.channel.clone(),
            ))
            .or_default() += 1;
        let month = f
            .time_ms
            .and_then(month_of)
            .unwrap_or_else(|| "unknown".into());
        *self.by_month.entry(month).or_default() += 1;
    }
}

/// Writes a report as findings and errors arrive.
pub struct Report<W: Write> {
    format: Format,
    out: W,
    summary: Summary,
    held: Vec<Held>,
    streaming: bool,
    header_written: bool,
    errors: Vec<InputError>,
    error_count: u64,
}

/// A finding held back to be sorted: its sort key and its rendered line.
struct Held {
    time_ms: Option<i64>,
    platform: &'static str,
    workspace: String,
    channel: String,
    input: String,
    /// How much of `input` is the file, and the `:line` suffix's number.
    file_len: usize,
    line_no: Option<u64>,
    line: Vec<u8>,
}

impl Held {
    fn new(f: Finding, line: Vec<u8>) -> Held {
        // Parsed once here rather than in each of the sort's comparisons
        // (at the end of a scan, on the thread the report waits for).
        let (file_len, line_no) = match f.input.rsplit_once(':') {
            Some((file, n)) => match n.parse() {
                Ok(n) => (file.len(), Some(n)),
                Err(_) => (f.input.len(), None),
            },
            None => (f.input.len(), None),
        };
        Held {
            time_ms: f.time_ms,
            platform: f.platform,
            workspace: f.workspace,
            channel: f.channel,
            input: f.input,
            file_len,
            line_no,
            line,
        }
    }

    /// The input, with a `:line` suffix compared as a number (`f:9` before
    /// `f:10`).
    fn place(&self) -> (&str, Option<u64>) {
        (&self.input[..self.file_len], self.line_no)
    }
}

/// Sorts held findings by (time, platform, workspace, channel, input, line),
/// stably: the links of one message stay in the order found.
///
/// Each string is first replaced by its rank among the distinct strings of
/// its field, so the sort compares integers. Comparing the strings
/// themselves, most of them equal (one file, one workspace), took 12% of a
/// JSON Lines scan's CPU samples, all of it after the workers had finished.
fn sort_held(held: &mut Vec<Held>) {
    let platform = ranks(held, |h| h.platform);
    let workspace = ranks(held, |h| &h.workspace);
    let channel = ranks(held, |h| &h.channel);
    let file = ranks(held, |h| h.place().0);
    let mut keys: Vec<_> = held
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let key = (h.time_ms, platform[i], workspace[i], channel[i], file[i]);
            (key, h.line_no, i)
        })
        .collect();
    // The index last: equal keys keep their order, as a stable sort would.
    keys.sort_unstable();
    let mut slots: Vec<Option<Held>> = held.drain(..).map(Some).collect();
    held.extend(keys.iter().filter_map(|&(_, _, i)| slots[i].take()));
}

/// For each held finding, the rank of `field`'s value among the distinct
/// values of that field (equal strings, equal ranks; ranks in string order).
fn ranks<'a>(held: &'a [Held], field: impl Fn(&'a Held) -> &'a str) -> Vec<u32> {
    let mut ids: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let mut distinct: Vec<&str> = Vec::new();
    let id: Vec<u32> = held
        .iter()
        .map(|h| {
            let value = field(h);
            *ids.entry(value).or_insert_with(|| {
                distinct.push(value);
                u32::try_from(distinct.len() - 1).unwrap_or(u32::MAX)
            })
        })
        .collect();
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    order.sort_unstable_by_key(|&d| distinct[d]);
    let mut rank = vec![0u32; distinct.len()];
    for (r, &d) in order.iter().enumerate() {
        rank[d] = u32::try_from(r).unwrap_or(u32::MAX);
    }
    id.into_iter().map(|i| rank[i as usize]).collect()
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    inner: &'a T,
}

impl<W: Write> Report<W> {
    /// A report in `format` written to `out`.
    pub fn new(format: Format, out: W) -> Report<W> {
        Report {
            format,
            out,
            summary: Summary::default(),
            held: Vec::new(),
            streaming: false,
            header_written: false,
            errors: Vec::new(),
            error_count: 0,
        }
    }

    /// The counts so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Adds a finding.
    pub fn finding(&mut self, f: Finding) -> io::Result<()> {
        self.summary.add(&f);
        if self.streaming {
            self.header()?;
            return render(self.format, &f, &mut self.out);
        }
        let mut line = Vec::new();
        render(self.format, &f, &mut line)?;
        self.held.push(Held::new(f, line));
        if self.held.len() > SORT_LIMIT {
            self.streaming = true;
            self.write_held()?;
        }
        Ok(())
    }

    /// Writes the held lines, in the order they are in.
    fn write_held(&mut self) -> io::Result<()> {
        let held = std::mem::take(&mut self.held);
        if !held.is_empty() {
            self.header()?;
        }
        for h in held {
            self.out.write_all(&h.line)?;
        }
        Ok(())
    }

    /// Adds a failed input.
    pub fn error(&mut self, e: &InputError) -> io::Result<()> {
        self.error_count += 1;
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(
                    &mut self.out,
                    &Tagged {
                        kind: "error",
                        inner: e,
                    },
                )?;
                writeln!(self.out)
            }
            Format::Table if self.errors.len() < TABLE_ERROR_LIMIT => {
                self.errors.push(e.clone());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Writes what is held and the summary; returns the writer, flushed.
    pub fn finish(mut self, stats: &ScanStats) -> io::Result<W> {
        sort_held(&mut self.held);
        self.write_held()?;
        match self.format {
            Format::Table => self.table_summary(stats)?,
            Format::Jsonl => {
                let by_channel: Vec<_> = self
                    .summary
                    .by_channel
                    .iter()
                    .map(|((p, w, c), n)| {
                        serde_json::json!({"platform": p, "workspace": w, "channel": c, "findings": n})
                    })
                    .collect();
                let v = serde_json::json!({
                    "type": "summary",
                    "findings": stats.findings,
                    "messages": stats.messages,
                    "skipped_files": stats.skipped_files,
                    "bytes": stats.bytes,
                    "elapsed_ms": stats.elapsed_ms,
                    "errors": self.error_count,
                    "by_provider": self.summary.by_provider,
                    "by_channel": by_channel,
                    "by_month": self.summary.by_month,
                });
                writeln!(self.out, "{v}")?;
            }
            Format::Csv => {
                if !self.header_written {
                    self.csv_header()?;
                }
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// The column header, before the first finding (CSV and table).
    fn header(&mut self) -> io::Result<()> {
        if self.header_written {
            return Ok(());
        }
        match self.format {
            Format::Csv => self.csv_header(),
            Format::Table => {
                self.header_written = true;
                writeln!(
                    self.out,
                    "{:<16}  {:<28}  {:<16}  {:<10}  {:<12}  {:<15}  {:<18}  LINK",
                    "TIME (UTC)", "WHERE", "AUTHOR", "PROVIDER", "RULE", "WOULD DO", "FOUND IN"
                )
            }
            Format::Jsonl => Ok(()),
        }
    }

    fn csv_header(&mut self) -> io::Result<()> {
        self.header_written = true;
        csv_row(
            &mut self.out,
            &[
                "time",
                "platform",
                "workspace",
                "workspace_id",
                "channel",
                "channel_id",
                "thread",
                "message_id",
                "author",
                "author_id",
                "provider",
                "url",
                "rule",
                "action",
                "monitor",
                "alternative",
                "source",
                "edited",
                "input",
            ],
        )
    }

    fn table_summary(&mut self, stats: &ScanStats) -> io::Result<()> {
        let out = &mut self.out;
        if stats.findings == 0 {
            writeln!(out, "No banned meeting links found.")?;
        }
        let secs = stats.elapsed_ms as f64 / 1000.0;
        let rate = if secs > 0.0 {
            stats.bytes as f64 / secs
        } else {
            0.0
        };
        writeln!(
            out,
            "\nSummary: {} banned link(s); {} message(s) read{}; {} read in {secs:.1} s ({}/s); {} input error(s).",
            stats.findings,
            stats.messages,
            match stats.skipped_files {
                0 => String::new(),
                n => format!(", {n} day-file(s) with no candidate link not parsed"),
            },
            human_bytes(stats.bytes as f64),
            human_bytes(rate),
            self.error_count
        )?;
        if stats.findings > 0 {
            writeln!(out, "\nBy provider:")?;
            for (p, n) in &self.summary.by_provider {
                writeln!(out, "  {:<40} {n:>8}", cut(p, 40))?;
            }
            writeln!(out, "\nBy channel:")?;
            let mut channels: Vec<_> = self.summary.by_channel.iter().collect();
            channels.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            for ((p, w, c), n) in channels.iter().take(25) {
                writeln!(out, "  {:<40} {n:>8}", cut(&format!("{p} {w}/#{c}"), 40))?;
            }
            if channels.len() > 25 {
                writeln!(
                    out,
                    "  … and {} more channel(s) (see --format jsonl)",
                    channels.len() - 25
                )?;
            }
            writeln!(out, "\nBy month:")?;
            for (m, n) in &self.summary.by_month {
                writeln!(out, "  {m:<40} {n:>8}")?;
            }
        }
        if !self.errors.is_empty() {
            writeln!(out, "\nInputs that could not be (wholly) scanned:")?;
            for e in &self.errors {
                writeln!(out, "  {e}")?;
            }
            if self.error_count > self.errors.len() as u64 {
                writeln!(
                    out,
                    "  … and {} more",
                    self.error_count - self.errors.len() as u64
                )?;
            }
        }
        Ok(())
    }
}

/// At most `width` characters, the last one `…` when cut.
fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(width - 1).collect();
    t.push('…');
    t
}

fn csv_row(out: &mut impl Write, fields: &[&str]) -> io::Result<()> {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if f.contains([',', '"', '\n', '\r']) {
            write!(out, "\"{}\"", f.replace('"', "\"\""))?;
        } else {
            out.write_all(f.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}

/// One finding in `format`, its header apart.
fn render(format: Format, f: &Finding, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Jsonl => {
            serde_json::to_writer(
                &mut *out,
                &Tagged {
                    kind: "finding",
                    inner: f,
                },
            )?;
            writeln!(out)
        }
        Format::Csv => {
            let time = f.time.as_deref().unwrap_or("");
            let fields: [&str; 19] = [
                time,
                f.platform,
                &f.workspace,
                &f.workspace_id,
                &f.channel,
                &f.channel_id,
                f.thread.as_deref().unwrap_or(""),
                &f.message_id,
                &f.author,
                &f.author_id,
                &f.provider,
                &f.url,
                &f.rule,
                f.action,
                if f.monitor { "true" } else { "false" },
                f.alternative.as_deref().unwrap_or(""),
                f.source.as_str(),
                if f.edited { "true" } else { "false" },
                &f.input,
            ];
            csv_row(&mut *out, &fields)
        }
        Format::Table => {
            let time = f
                .time
                .as_deref()
                .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
                .unwrap_or_else(|| "?".into());
            let place = format!("{} {}/#{}", f.platform, f.workspace, f.channel);
            let mut found_in = f.source.as_str().to_owned();
            if f.thread.is_some() {
                found_in.push_str(",reply");
            }
            if f.edited {
                found_in.push_str(",edited");
            }
            writeln!(
                out,
                "{:<16}  {:<28}  {:<16}  {:<10}  {:<12}  {:<15}  {:<18}  {}",
                time,
                cut(&place, 28),
                cut(&f.author, 16),
                cut(&f.provider_name, 10),
                cut(&f.rule, 12),
                cut(&f.would_do(), 15),
                cut(&found_in, 18),
                f.url
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut out = Vec::new();
        csv_row(&mut out, &["plain", "a,b", "say \"hi\"", "two\nlines"]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
        );
    }

    fn finding(input: &str, url: &str) -> Finding {
        Finding {
            time: None,
            time_ms: None,
            platform: "any",
            workspace: String::new(),
            workspace_id: String::new(),
            channel: String::new(),
            channel_id: String::new(),
            thread: None,
            message_id: String::new(),
            author: String::new(),
            author_id: String::new(),
            provider: "zoom".into(),
            provider_name: "Zoom".into(),
            url: url.into(),
            rule: "no-zoom".into(),
            action: "replace",
            monitor: false,
            alternative: None,
            source: crate::Source::Text,
            edited: false,
            input: input.into(),
        }
    }

    /// Findings without times come out by input and line, whatever order
    /// the workers handed them over in; a message's links keep theirs.
    #[test]
    fn equal_times_are_ordered_by_input_and_line() {
        let mut report = Report::new(Format::Csv, Vec::new());
        for (input, url) in [
            ("b.jsonl:1", "u5"),
            ("a.jsonl:10", "u3"),
            ("a.jsonl:10", "u4"),
            ("a.jsonl:9", "u2"),
            ("a.jsonl", "u1"),
        ] {
            report.finding(finding(input, url)).unwrap();
        }
        let out = String::from_utf8(report.finish(&ScanStats::default()).unwrap()).unwrap();
        let urls: Vec<&str> = out
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(11).unwrap_or(""))
            .collect();
        assert_eq!(urls, ["u1", "u2", "u3", "u4", "u5"], "{out}");
    }

    /// The ranked sort puts held findings in the order of comparing their
    /// fields directly, equal keys kept in arrival order.
    #[test]
    fn ranked_sort_agrees_with_comparing_the_fields() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let pick = |k: u64, xs: &[&str]| xs[k as usize % xs.len()].to_owned();
        let mut held = Vec::new();
        for i in 0..600 {
            let mut f = finding("", &format!("u{i}"));
            f.time_ms = [None, Some(5), Some(-3), Some(1_700_000_000_000)][next(4) as usize];
            f.platform = ["slack", "discord", "any"][next(3) as usize];
            f.workspace = pick(next(4), &["", "acme", "Acme", "acme-eu"]);
            f.channel = pick(next(5), &["", "general", "gen", "ops", "é"]);
            let file = pick(next(3), &["a.jsonl", "b/c.json", "a.jsonl.1"]);
            f.input = match next(3) {
                0 => file,
                1 => format!("{file}:{}", next(12)),
                _ => format!("{file}:x{}", next(3)),
            };
            held.push(Held::new(f, format!("u{i}").into_bytes()));
        }
        let mut direct: Vec<(usize, &Held)> = held.iter().enumerate().collect();
        direct.sort_by(|(_, a), (_, b)| {
            (a.time_ms, a.platform, &a.workspace, &a.channel, a.place()).cmp(&(
                b.time_ms,
                b.platform,
                &b.workspace,
                &b.channel,
                b.place(),
            ))
        });
        let want: Vec<Vec<u8>> = direct.iter().map(|(_, h)| h.line.clone()).collect();
        sort_held(&mut held);
        let got: Vec<Vec<u8>> = held.iter().map(|h| h.line.clone()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn long_cells_are_cut_with_an_ellipsis() {
        assert_eq!(cut("general", 10), "general");
        assert_eq!(cut("engineering-platform", 10), "engineeri…");
    }
}
