//! `linkguard scan`'s engine: find banned meeting links in Slack and Discord
//! exports (and JSON Lines), with the same compiled [`Policy`] the live bot
//! uses.
//!
//! The shape is a three-stage pipeline, so memory stays flat and every core
//! works whatever the export's size:
//!
//! 1. **One reader thread** walks the inputs ([`sniff`] decides what each
//!    one is from its content) and cuts them into work items of bounded size:
//!    the paths of a few dozen Slack day-files (read one at a time by the
//!    worker), about [`BATCH_BYTES`] of day-files out of a ZIP, one Discord
//!    file (which the worker splits into batches of messages as it reads:
//!    [`jsonstream`] finds element boundaries in a sliding buffer, and each
//!    run of whole messages the buffer holds is evaluated where it lies, so
//!    the message array is never held whole), a JSON Lines file (sent to
//!    every worker, which claims 256 KiB regions of it in turn and reads
//!    them itself: [`regions`]), or a batch of JSON Lines read from a pipe.
//! 2. **N worker threads** (one per core) parse the items with borrowed,
//!    field-selective serde structs and evaluate each text with the shared
//!    policy. The work queue is bounded (2 items per worker), so the reader
//!    waits for the workers rather than filling memory.
//! 3. **The calling thread** receives findings and input errors as they come
//!    and hands them to the caller's sink (the report writer, the audit
//!    recorder). Workers only wake it when they have something worth handing
//!    over (an error, a few dozen findings, or what is left at the end).
//!
//! Findings therefore arrive in no particular order across inputs; the
//! [`report`] module decides whether to sort them (only when few).
//!
//! An input that cannot be read or parsed becomes an [`InputError`] naming
//! the file (and entry or line) and the reason; the scan goes on.

mod discord;
mod jsonl;
pub mod jsonsplit;
mod jsonstream;
pub mod lines;
mod progress;
mod regions;
pub mod report;
mod slack;
mod sniff;
mod structural;

use linkguard_rules::policy::{Policy, RoomKey};
use linkguard_rules::prefilter::{Encoding, Prefilter};
use linkguard_rules::timefmt::rfc3339_seconds;
use linkguard_rules::Dialect;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Roughly how many bytes of messages one work item carries (Discord and
/// JSON Lines; a Slack day-file is one item whatever its size).
pub const BATCH_BYTES: usize = 1 << 20;

/// The largest single JSON value (one Discord message, one JSON Lines line,
/// one Slack day-file) the scanner accepts, so a damaged file cannot make it
/// buffer without bound.
pub const MAX_ITEM_BYTES: u64 = 256 << 20;

/// Where in a message a link was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The message text (Slack `text`, Discord `content`, JSON Lines `text`).
    Text,
    /// A Slack attachment (unfurl or app attachment).
    Attachment,
    /// A Slack file's title, preview or comment; a Discord attachment.
    File,
    /// A Discord embed.
    Embed,
}

impl Source {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Text => "text",
            Source::Attachment => "attachment",
            Source::File => "file",
            Source::Embed => "embed",
        }
    }
}

/// One banned link in one message of an export.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// When the message was posted (RFC 3339, UTC), if the export says.
    pub time: Option<String>,
    /// The same instant in epoch milliseconds.
    #[serde(skip)]
    pub time_ms: Option<i64>,
    /// `slack`, `discord` or `any` (JSON Lines without a platform).
    pub platform: &'static str,
    /// Workspace or guild name (the export's name for Slack, whose exports
    /// do not carry the workspace's name).
    pub workspace: String,
    /// Slack team id or Discord guild id, when known.
    pub workspace_id: String,
    /// Channel name, resolved from the export.
    pub channel: String,
    /// Channel id, when known.
    pub channel_id: String,
    /// Thread (Slack `thread_ts`; Discord thread channel id) for replies.
    pub thread: Option<String>,
    /// The message's id (Slack `ts`, Discord snowflake, JSON Lines `id`).
    pub message_id: String,
    /// Author's name, resolved from the export.
    pub author: String,
    /// Author's id.
    pub author_id: String,
    /// Provider id (`zoom`, …).
    pub provider: String,
    /// Provider display name.
    pub provider_name: String,
    /// Canonical link with passcodes redacted.
    pub url: String,
    /// The deciding rule.
    pub rule: String,
    /// What the live bot would do: the rule's action.
    pub action: &'static str,
    /// True when the rule or policy is in monitor mode (record only).
    pub monitor: bool,
    /// The approved alternative the bot would offer.
    pub alternative: Option<String>,
    /// Where in the message the link was.
    pub source: Source,
    /// The message was edited (the export holds its last version).
    pub edited: bool,
    /// The input it came from (file, `zip!entry`, `file:line`).
    pub input: String,
}

impl Finding {
    /// What the live bot would have done, in one word or two:
    /// `replace`, or `monitor: replace` in monitor mode.
    pub fn would_do(&self) -> String {
        if self.monitor {
            format!("monitor: {}", self.action)
        } else {
            self.action.to_owned()
        }
    }
}

/// An input (or part of one) that could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    /// The file, with `!entry` for a ZIP entry or `:line` for a JSON Lines line.
    pub path: String,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// What the scan reports to its caller, as it happens.
#[derive(Debug)]
pub enum Event {
    /// A banned link.
    Finding(Box<Finding>),
    /// An input that could not be (wholly) scanned.
    Error(InputError),
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Worker threads (0: one per core).
    pub jobs: usize,
    /// Draw a progress line on standard error.
    pub progress: bool,
}

/// Totals of a finished scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Input bytes read (compressed bytes for ZIP entries).
    pub bytes: u64,
    /// Messages whose bounds were read: every message of a Discord or JSON
    /// Lines input and, in a Slack day-file with a candidate link, those up
    /// to the last candidate (the rest is not needed).
    pub messages: u64,
    /// Slack day-files in which the policy's prefilter found no candidate
    /// link anywhere in the raw bytes: checked for shape, not parsed, and
    /// their messages not counted.
    pub skipped_files: u64,
    /// Banned-link findings.
    pub findings: u64,
    /// Errors reported.
    pub errors: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

/// One unit of work for a worker thread.
enum Work {
    /// Whole day-files: the paths of a few dozen, read one at a time, or
    /// about [`BATCH_BYTES`] of them out of a ZIP.
    SlackDays(Vec<slack::DayFile>),
    /// A DiscordChatExporter file, split and evaluated by the worker.
    DiscordFile(PathBuf),
    Jsonl(jsonl::Batch),
    /// A JSON Lines file whose regions the workers claim one at a time
    /// and read themselves; each worker is sent it once.
    JsonlRegions(Arc<jsonl::RegionFile>),
}

/// What a worker or the reader tells the collecting thread.
enum Out {
    Done(Found),
    Error(InputError),
}

/// The reader thread's handle on the pipeline: where work and errors go,
/// and the shared byte counter the progress line reads.
pub(crate) struct Feed {
    work: SyncSender<Work>,
    out: SyncSender<Out>,
    bytes: Arc<AtomicU64>,
    /// How many workers there are.
    workers: usize,
}

impl Feed {
    fn send(&self, w: Work) {
        // The workers only stop early if the collector is gone, and then
        // nobody is listening: dropping the item is right.
        let _ = self.work.send(w);
    }

    pub(crate) fn error(&self, path: impl Into<String>, reason: impl Into<String>) {
        let _ = self.out.send(Out::Error(InputError {
            path: path.into(),
            reason: reason.into(),
        }));
    }

    pub(crate) fn advance(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// Scans `paths`, calling `sink` on the calling thread for every finding and
/// input error as they come; returns the totals.
pub fn scan(
    paths: &[PathBuf],
    policy: &Policy,
    key: &RoomKey,
    opts: &ScanOptions,
    sink: &mut dyn FnMut(Event),
) -> ScanStats {
    let started = Instant::now();
    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.jobs
    };
    // Walking the inputs twice costs a stat per file: only for the estimate.
    let total = if opts.progress {
        sniff::total_size(paths)
    } else {
        0
    };
    let bytes = Arc::new(AtomicU64::new(0));
    let findings_count = Arc::new(AtomicU64::new(0));
    let mut stats = ScanStats::default();
    let prefilter = policy.prefilter();
    std::thread::scope(|s| {
        let (work_tx, work_rx) = sync_channel::<Work>(jobs * 2);
        let (out_tx, out_rx) = sync_channel::<Out>(jobs * 64);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let eval = Evaluator {
            policy,
            key,
            prefilter: &prefilter,
        };
        for _ in 0..jobs {
            let rx = Arc::clone(&work_rx);
            let tx = out_tx.clone();
            let progress = Arc::clone(&bytes);
            s.spawn(move || worker(&eval, &rx, &tx, &progress));
        }
        let feed = Feed {
            work: work_tx,
            out: out_tx,
            bytes: Arc::clone(&bytes),
            workers: jobs,
        };
        s.spawn(move || {
            for p in paths {
                sniff::scan_path(p, &feed);
            }
        });
        let progress = opts.progress.then(|| {
            progress::Progress::start(total, Arc::clone(&bytes), Arc::clone(&findings_count))
        });
        collect(&out_rx, &mut stats, &findings_count, sink);
        if let Some(p) = progress {
            p.finish();
        }
    });
    stats.bytes = bytes.load(Ordering::Relaxed);
    stats.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    stats
}

fn collect(
    rx: &Receiver<Out>,
    stats: &mut ScanStats,
    findings_count: &AtomicU64,
    sink: &mut dyn FnMut(Event),
) {
    for out in rx {
        match out {
            Out::Done(Found {
                findings,
                errors,
                messages,
                skipped_files,
            }) => {
                stats.messages += messages;
                stats.skipped_files += skipped_files;
                stats.findings += findings.len() as u64;
                findings_count.fetch_add(findings.len() as u64, Ordering::Relaxed);
                stats.errors += errors.len() as u64;
                for f in findings {
                    sink(Event::Finding(Box::new(f)));
                }
                for e in errors {
                    sink(Event::Error(e));
                }
            }
            Out::Error(e) => {
                stats.errors += 1;
                sink(Event::Error(e));
            }
        }
    }
}

fn worker(
    eval: &Evaluator<'_>,
    rx: &Mutex<Receiver<Work>>,
    tx: &SyncSender<Out>,
    progress: &AtomicU64,
) {
    // Reused for every file this worker reads: fresh large buffers would
    // cost a page fault per 4 KiB.
    let mut scratch = Vec::new();
    // Counts are kept here and sent with the next findings (or at the end):
    // waking the collector for every work item costs more than the item.
    let mut done = Found::default();
    loop {
        // Hold the lock only for the receive, never while working.
        let next = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => break,
        };
        let Ok(work) = next else { break };
        match work {
            Work::SlackDays(days) => {
                for d in &days {
                    slack::scan_day(eval, d, &mut scratch, progress, &mut done);
                }
            }
            Work::DiscordFile(path) => {
                let mut sink = DiscordSink {
                    eval,
                    tx,
                    progress,
                    done: Found::default(),
                };
                discord::scan_file(&path, &mut sink);
                sink.hand_over();
            }
            Work::Jsonl(b) => jsonl::scan_batch(eval, &b, &mut done),
            Work::JsonlRegions(file) => {
                // Regions are claimed in order, and each is counted as soon
                // as it is read: a worker waiting for the line count of an
                // earlier region waits for one that is being read.
                while let Some(index) = file.claim() {
                    jsonl::scan_region(eval, &file, index, &mut scratch, progress, &mut done);
                    if worth_handing_over(&done)
                        && tx.send(Out::Done(std::mem::take(&mut done))).is_err()
                    {
                        return;
                    }
                }
            }
        }
        if scratch.capacity() > BATCH_BYTES * 16 {
            scratch = Vec::new();
        }
        if worth_handing_over(&done) && tx.send(Out::Done(std::mem::take(&mut done))).is_err() {
            return;
        }
    }
    let _ = tx.send(Out::Done(done));
}

/// A worker's hand-off for the Discord file it splits: each batch is
/// evaluated at once; what it found goes to the collector once there is
/// enough of it to be worth waking the collector for (batches are small,
/// and most find nothing), and whatever is left when the file is done.
struct DiscordSink<'a, 'p> {
    eval: &'a Evaluator<'p>,
    tx: &'a SyncSender<Out>,
    progress: &'a AtomicU64,
    done: Found,
}

/// How many findings a worker holds before handing them over: waking the
/// collector for every work item (most JSON Lines regions have a few)
/// took a core from the workers hundreds of times a second.
const HAND_OVER_FINDINGS: usize = 64;

/// Whether what a worker holds is worth waking the collector for: errors
/// at once, findings by the few dozen (and whatever is left at the end).
fn worth_handing_over(done: &Found) -> bool {
    done.findings.len() >= HAND_OVER_FINDINGS || !done.errors.is_empty()
}

impl DiscordSink<'_, '_> {
    fn hand_over(&mut self) {
        // The collector only stops listening when the scan is over.
        let _ = self.tx.send(Out::Done(std::mem::take(&mut self.done)));
    }
}

impl discord::Sink for DiscordSink<'_, '_> {
    fn batch(&mut self, b: &discord::Batch<'_>) {
        discord::scan_batch(self.eval, b, &mut self.done);
        if worth_handing_over(&self.done) {
            self.hand_over();
        }
    }

    fn advance(&mut self, n: u64) {
        self.progress.fetch_add(n, Ordering::Relaxed);
    }

    fn error(&mut self, path: String, reason: String) {
        // What the file held before the error comes first, as it was read.
        self.hand_over();
        let _ = self.tx.send(Out::Error(InputError { path, reason }));
    }
}

/// What a worker found in the messages it was given (one work item, or
/// several when they found nothing worth waking the collector for): the
/// findings and errors, and the counts for [`ScanStats`].
#[derive(Default)]
pub(crate) struct Found {
    pub findings: Vec<Finding>,
    pub errors: Vec<InputError>,
    pub messages: u64,
    pub skipped_files: u64,
}

/// Where a message is and who wrote it, borrowed from the parsed export.
pub(crate) struct MessageInfo<'a> {
    pub platform: Dialect,
    pub workspace: &'a str,
    pub workspace_id: &'a str,
    pub channel: &'a str,
    pub channel_id: &'a str,
    pub thread: Option<&'a str>,
    pub message_id: &'a str,
    pub time_ms: Option<i64>,
    pub author: &'a str,
    pub author_id: &'a str,
    pub edited: bool,
    pub input: &'a str,
    /// The line within `input`, for JSON Lines.
    pub line: Option<u64>,
}

/// The shared, read-only evaluation state every worker uses.
#[derive(Clone, Copy)]
pub(crate) struct Evaluator<'p> {
    policy: &'p Policy,
    key: &'p RoomKey,
    /// Where in raw bytes a link the policy acts on may be: messages with
    /// no candidate are not parsed.
    prefilter: &'p Prefilter,
}

/// The prefilter's candidates in one buffer of raw JSON.
pub(crate) struct Candidates {
    /// The policy cannot be reduced to keywords: every byte is a candidate.
    pub everywhere: bool,
    /// Candidate offsets, in increasing order (meaningless when `everywhere`).
    pub hits: Vec<usize>,
}

impl Candidates {
    /// Whether nothing in the buffer can be a link the policy acts on.
    pub fn is_empty(&self) -> bool {
        !self.everywhere && self.hits.is_empty()
    }

    /// How many candidates lie in `start..end` (1 when `everywhere`).
    pub fn within(&self, start: usize, end: usize) -> usize {
        if self.everywhere {
            return 1;
        }
        let i = self.hits.partition_point(|&h| h < start);
        self.hits[i..].partition_point(|&h| h < end)
    }
}

impl Evaluator<'_> {
    /// Where in `raw` (a JSON document) the prefilter sees a possible link.
    pub fn candidates(&self, raw: &[u8]) -> Candidates {
        let mut hits = Vec::new();
        self.prefilter.candidates(raw, Encoding::Json, &mut hits);
        Candidates {
            everywhere: self.prefilter.matches_everything(),
            hits,
        }
    }

    /// Evaluates each text of one message and adds a finding per banned
    /// (provider, link), once per message even when an unfurl repeats it.
    pub fn message<'t>(
        &self,
        m: &MessageInfo<'_>,
        texts: impl IntoIterator<Item = (Source, &'t str)>,
        out: &mut Vec<Finding>,
    ) {
        let first = out.len();
        let ctx = linkguard_rules::eval::MessageContext {
            platform: m.platform,
            workspace: m.workspace_id,
            channel: m.channel_id,
            user: m.author_id,
            ..Default::default()
        };
        for (source, text) in texts {
            if text.is_empty() {
                continue;
            }
            let verdict = self.policy.evaluate(text, &ctx, self.key);
            for v in &verdict.occurrences {
                let Some(block) = v.block() else { continue };
                let url = linkguard_rules::redact::redact_link(&v.link.url);
                if out[first..]
                    .iter()
                    .any(|f| f.url == url && f.provider == v.link.provider.as_str())
                {
                    continue;
                }
                out.push(Finding {
                    time: m.time_ms.and_then(rfc3339_seconds),
                    time_ms: m.time_ms,
                    platform: m.platform.as_str(),
                    workspace: m.workspace.to_owned(),
                    workspace_id: m.workspace_id.to_owned(),
                    channel: m.channel.to_owned(),
                    channel_id: m.channel_id.to_owned(),
                    thread: m.thread.map(str::to_owned),
                    message_id: m.message_id.to_owned(),
                    author: m.author.to_owned(),
                    author_id: m.author_id.to_owned(),
                    provider: v.link.provider.as_str().to_owned(),
                    provider_name: self.policy.provider_name(&v.link.provider).to_owned(),
                    url,
                    rule: block.rule.clone(),
                    action: block.action.as_str(),
                    monitor: block.monitor,
                    alternative: block.alternative.clone(),
                    source,
                    edited: m.edited,
                    input: match m.line {
                        Some(n) => format!("{}:{n}", m.input),
                        None => m.input.to_owned(),
                    },
                });
            }
        }
    }
}

/// `YYYY-MM` (UTC) for epoch milliseconds.
pub fn month_of(ms: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(format!("{:04}-{:02}", t.year(), u8::from(t.month())))
}

/// Epoch milliseconds of an RFC 3339 time (DiscordChatExporter's `timestamp`).
pub(crate) fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Epoch milliseconds of a Slack `ts` (`1577836800.000200`: seconds and
/// a per-channel sequence in microseconds).
pub(crate) fn parse_slack_ts_ms(ts: &str) -> Option<i64> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    let secs: i64 = secs.parse().ok()?;
    let millis: i64 = frac
        .get(..frac.len().min(3))
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
        .map_or(0, |d| {
            let v: i64 = d.parse().unwrap_or(0);
            v * 10_i64.pow(3 - d.len() as u32)
        });
    secs.checked_mul(1000)?.checked_add(millis)
}

/// How often the progress line is redrawn.
const PROGRESS_TICK: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_ts_becomes_milliseconds() {
        assert_eq!(
            parse_slack_ts_ms("1577836800.000200"),
            Some(1_577_836_800_000)
        );
        assert_eq!(parse_slack_ts_ms("1577836800.5"), Some(1_577_836_800_500));
        assert_eq!(parse_slack_ts_ms("1577836800"), Some(1_577_836_800_000));
        assert_eq!(parse_slack_ts_ms("x.1"), None);
    }

    #[test]
    fn times_format_as_utc() {
        assert_eq!(
            rfc3339_seconds(1_577_836_800_000).as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
        assert_eq!(month_of(1_577_836_800_000).as_deref(), Some("2020-01"));
        assert_eq!(
            parse_rfc3339_ms("2020-01-01T02:00:00.250+02:00"),
            Some(1_577_836_800_250)
        );
    }
}
