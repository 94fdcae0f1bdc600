//! JSON Lines input: one message object per line, `{"platform", "text", …}`.
//!
//! Besides `text` (required) a line may carry `platform` (`slack`, `discord`
//! or `any`, the default), `id`, `workspace`, `channel`, `thread`,
//! `author` (or `user`) and `time` (or `timestamp`, `ts`: RFC 3339, a Slack
//! `ts`, or epoch seconds or milliseconds). Lines are cut into batches of
//! whole lines by the reader; a malformed line is reported with its number
//! and the rest of the file is still scanned.

use super::{
    Batch as Found, Evaluator, Feed, InputError, MessageInfo, Source, Work, BATCH_BYTES,
    MAX_ITEM_BYTES,
};
use linkguard_rules::Dialect;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

/// Whole lines, back to back.
pub(crate) struct Batch {
    input: Arc<str>,
    /// The line number of the first line in `bytes`.
    first_line: u64,
    bytes: Vec<u8>,
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

/// Streams one JSON Lines file into work batches.
pub(crate) fn scan_file(path: &Path, feed: &Feed) {
    let label: Arc<str> = path.display().to_string().into();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return feed.error(&*label, format!("cannot open: {e}")),
    };
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut line_no = 1u64;
    let mut batch = Batch {
        input: Arc::clone(&label),
        first_line: 1,
        bytes: Vec::with_capacity(BATCH_BYTES + 4096),
    };
    loop {
        let before = batch.bytes.len();
        match (&mut r)
            .take(MAX_ITEM_BYTES)
            .read_until(b'\n', &mut batch.bytes)
        {
            Ok(0) => break,
            Ok(n) => {
                feed.advance(n as u64);
                if n as u64 == MAX_ITEM_BYTES && batch.bytes.last() != Some(&b'\n') {
                    batch.bytes.truncate(before);
                    feed.error(
                        format!("{label}:{line_no}"),
                        format!(
                            "a line longer than {} MiB; the rest of the file is skipped",
                            MAX_ITEM_BYTES >> 20
                        ),
                    );
                    break;
                }
                line_no += 1;
            }
            Err(e) => {
                batch.bytes.truncate(before);
                feed.error(format!("{label}:{line_no}"), format!("read error: {e}"));
                break;
            }
        }
        if batch.bytes.len() >= BATCH_BYTES {
            let next = Batch {
                input: Arc::clone(&label),
                first_line: line_no,
                bytes: Vec::with_capacity(BATCH_BYTES + 4096),
            };
            feed.send(Work::Jsonl(std::mem::replace(&mut batch, next)));
        }
    }
    if !batch.bytes.is_empty() {
        feed.send(Work::Jsonl(batch));
    }
}

/// Parses and evaluates one batch of lines (on a worker).
pub(crate) fn scan_batch(eval: &Evaluator<'_>, b: &Batch, out: &mut Found) {
    let input: &str = &b.input;
    for (i, raw) in b.bytes.split(|c| *c == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_no = b.first_line + i as u64;
        let err = |reason: String| InputError {
            path: format!("{input}:{line_no}"),
            reason,
        };
        let line: Line<'_> = match serde_json::from_slice(raw) {
            Ok(l) => l,
            Err(e) => {
                out.errors
                    .push(err(format!("not a JSON object with a string `text`: {e}")));
                continue;
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
                    continue;
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
}
