//! JSON Lines input: one message object per line, `{"platform", "text", …}`.
//!
//! Besides `text` (required) a line may carry `platform` (`slack`, `discord`
//! or `any`, the default), `id`, `workspace`, `channel`, `thread`,
//! `author` (or `user`) and `time` (or `timestamp`, `ts`: RFC 3339, a Slack
//! `ts`, or epoch seconds or milliseconds). Lines are cut into batches of
//! whole lines by the reader ([`super::lines`]); a malformed line is
//! reported with its number and the rest of the file is still scanned.
//!
//! As in Slack day-files, only what the policy's prefilter points at is
//! parsed: a line with no candidate is counted and checked for shape (one
//! object on the line) but not parsed, so its other fields are not judged
//! (an unknown `platform` on a line that cannot hold a banned link is not
//! reported). At the link density of real chat, parsing every line cost
//! several times what finding the candidates does.

use super::lines::{Block, Cut, LineBlocks};
use super::{
    Evaluator, Feed, Found, InputError, MessageInfo, Source, Work, BATCH_BYTES, MAX_ITEM_BYTES,
};
use linkguard_rules::Dialect;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Whole lines of one file.
pub(crate) struct Batch {
    input: Arc<str>,
    lines: Block,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(borrow, default)]
    platform: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    workspace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thread: Option<Cow<'a, str>>,
    #[serde(borrow, default, alias = "user")]
    author: Option<Cow<'a, str>>,
    #[serde(borrow, default, alias = "timestamp", alias = "ts")]
    time: Option<Scalar<'a>>,
}

/// A field that tools write as a string or as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Number(serde_json::Number),
}

impl Scalar<'_> {
    fn text(&self) -> Cow<'_, str> {
        match self {
            Scalar::Text(t) => Cow::Borrowed(t),
            Scalar::Number(n) => Cow::Owned(n.to_string()),
        }
    }

    /// Epoch milliseconds: RFC 3339, a Slack `ts`, or a number of seconds
    /// (below 10^11) or milliseconds.
    fn time_ms(&self) -> Option<i64> {
        let from_number = |v: f64| {
            let ms = if v.abs() < 1e11 { v * 1000.0 } else { v };
            (ms.is_finite() && ms.abs() < 9e15).then_some(ms as i64)
        };
        match self {
            Scalar::Number(n) => n.as_f64().and_then(from_number),
            Scalar::Text(t) => {
                super::parse_rfc3339_ms(t).or_else(|| t.parse::<f64>().ok().and_then(from_number))
            }
        }
    }
}

/// Streams one JSON Lines file into work batches of whole lines.
pub(crate) fn scan_file(path: &Path, feed: &Feed) {
    let label: Arc<str> = path.display().to_string().into();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return feed.error(&*label, format!("cannot open: {e}")),
    };
    let max_line = usize::try_from(MAX_ITEM_BYTES).unwrap_or(usize::MAX);
    for b in LineBlocks::new(Progress { r: file, feed }, BATCH_BYTES, max_line) {
        match b {
            Ok(lines) => feed.send(Work::Jsonl(Batch {
                input: Arc::clone(&label),
                lines,
            })),
            Err(Cut::TooLong { line }) => feed.error(
                format!("{label}:{line}"),
                format!("a line longer than {} MiB: skipped", MAX_ITEM_BYTES >> 20),
            ),
            Err(Cut::Io { line, error }) => {
                feed.error(format!("{label}:{line}"), format!("read error: {error}"));
            }
        }
    }
}

/// A reader that moves the progress line on as bytes come.
struct Progress<'a, R> {
    r: R,
    feed: &'a Feed,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.r.read(buf)?;
        self.feed.advance(n as u64);
        Ok(n)
    }
}

/// Whether a line looks like one JSON object: `{` first and `}` last,
/// whitespace aside.
fn object_shaped(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    t.first() == Some(&b'{') && t.last() == Some(&b'}')
}

/// Evaluates one batch of lines (on a worker). Only lines the policy's
/// prefilter points at are parsed; the others cannot hold a link the policy
/// acts on and are only checked for shape (one object on the line): a line
/// that is not an object goes to the parse, which says what is wrong.
pub(crate) fn scan_batch(eval: &Evaluator<'_>, b: &Batch, out: &mut Found) {
    let bytes = &b.lines.bytes;
    let cands = eval.candidates(bytes);
    let mut hits = cands.hits.iter().copied().peekable();
    for (line_no, range) in b.lines.lines() {
        let raw = &bytes[range.clone()];
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut candidate = cands.everywhere;
        while let Some(&h) = hits.peek() {
            if h >= range.end {
                break;
            }
            candidate |= h >= range.start;
            hits.next();
        }
        if !candidate && object_shaped(raw) {
            out.messages += 1;
            continue;
        }
        scan_line(eval, &b.input, line_no, raw, out);
    }
}

/// Parses and evaluates one line.
fn scan_line(eval: &Evaluator<'_>, input: &str, line_no: u64, raw: &[u8], out: &mut Found) {
    let err = |reason: String| InputError {
        path: format!("{input}:{line_no}"),
        reason,
    };
    let line: Line<'_> = match serde_json::from_slice(raw) {
        Ok(l) => l,
        Err(e) => {
            out.errors
                .push(err(format!("not a JSON object with a string `text`: {e}")));
            return;
        }
    };
    let platform = match line.platform.as_deref() {
        None => Dialect::Any,
        Some(p) => match Dialect::parse(p) {
            Some(d) => d,
            None => {
                out.errors.push(err(format!(
                    "unknown platform `{p}` (use slack, discord or any)"
                )));
                return;
            }
        },
    };
    out.messages += 1;
    let id = line.id.as_ref().map(Scalar::text).unwrap_or_default();
    let workspace = line.workspace.as_deref().unwrap_or("");
    let channel = line.channel.as_deref().unwrap_or("");
    let author = line.author.as_deref().unwrap_or("");
    let info = MessageInfo {
        platform,
        workspace,
        workspace_id: workspace,
        channel,
        channel_id: channel,
        thread: line.thread.as_deref(),
        message_id: &id,
        time_ms: line.time.as_ref().and_then(Scalar::time_ms),
        author,
        author_id: author,
        edited: false,
        input,
        line: Some(line_no),
    };
    eval.message(&info, [(Source::Text, &*line.text)], &mut out.findings);
}
