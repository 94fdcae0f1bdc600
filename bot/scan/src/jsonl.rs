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
use super::regions::Regions;
use super::{
    Evaluator, Feed, Found, InputError, MessageInfo, Source, Work, BATCH_BYTES, MAX_ITEM_BYTES,
};
use linkguard_rules::Dialect;
use serde::Deserialize;
use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Whole lines of one file.
pub(crate) struct Batch {
    input: Arc<str>,
    lines: Block,
    /// Where its buffer goes when the batch is done, for the reader to
    /// read a later block into.
    done: Option<Arc<Mutex<Vec<Vec<u8>>>>>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(done) = &self.done {
            if let Ok(mut done) = done.lock() {
                done.push(std::mem::take(&mut self.lines.bytes));
            }
        }
    }
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

/// A regular JSON Lines file whose regions the workers read themselves.
pub(crate) struct RegionFile {
    label: Arc<str>,
    regions: Regions,
    /// The next region no worker has claimed.
    next: AtomicUsize,
}

impl RegionFile {
    /// The next region to read, if any is left.
    pub(crate) fn claim(&self) -> Option<usize> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        (index < self.regions.len()).then_some(index)
    }
}

/// How many bytes a region of a JSON Lines file holds: small enough that
/// what a worker reads is still in its core's cache when it is searched.
const REGION_BYTES: usize = 256 * 1024;

/// Scans one JSON Lines file: a regular file is handed to the workers,
/// which claim it a region at a time ([`super::regions`]: each worker reads
/// its own, so the reading is spread over the cores too); anything else (a
/// pipe) is read here and handed over in batches of whole lines.
pub(crate) fn scan_file(path: &Path, feed: &Feed) {
    let max_line = usize::try_from(MAX_ITEM_BYTES).unwrap_or(usize::MAX);
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            let label: Arc<str> = path.display().to_string().into();
            // Opened once here, for every worker's positioned reads.
            let opened = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(e) => return feed.error(&*label, format!("cannot open: {e}")),
            };
            let file = Arc::new(RegionFile {
                label,
                regions: Regions::new(opened, m.len(), REGION_BYTES, max_line),
                next: AtomicUsize::new(0),
            });
            // Every worker is sent the file, and claims regions of it until
            // none is left: no message per region, no waking the reader.
            for _ in 0..feed.workers.min(file.regions.len()) {
                feed.send(Work::JsonlRegions(Arc::clone(&file)));
            }
        }
        _ => scan_stream(path, feed),
    }
}

/// Evaluates one region of a JSON Lines file (on a worker), read into
/// `buf`.
pub(crate) fn scan_region(
    eval: &Evaluator<'_>,
    file: &RegionFile,
    index: usize,
    buf: &mut Vec<u8>,
    progress: &AtomicU64,
    out: &mut Found,
) {
    let owned = file.regions.read(index, buf);
    let (start, end) = file.regions.bounds(index);
    progress.fetch_add(end - start, Ordering::Relaxed);
    let label = &file.label;
    if let Some(line) = owned.too_long {
        out.errors.push(InputError {
            path: format!("{label}:{line}"),
            reason: format!("a line longer than {} MiB: skipped", MAX_ITEM_BYTES >> 20),
        });
    }
    scan_lines(eval, label, owned.first_line, &buf[owned.range], out);
    if let Some((line, error)) = owned.failed {
        out.errors.push(InputError {
            path: format!("{label}:{line}"),
            reason: format!("read error: {error}"),
        });
    }
}

/// Streams one JSON Lines file into work batches of whole lines.
fn scan_stream(path: &Path, feed: &Feed) {
    let label: Arc<str> = path.display().to_string().into();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return feed.error(&*label, format!("cannot open: {e}")),
    };
    let max_line = usize::try_from(MAX_ITEM_BYTES).unwrap_or(usize::MAX);
    // The file itself is the reader, not a wrapper that counts as it
    // reads: a wrapper can only offer `read`, for which the standard
    // library zeroes each fresh buffer first (a second pass over every
    // byte, and a page fault per 4 KiB outside the kernel's copy).
    let mut blocks = LineBlocks::new(file, BATCH_BYTES, max_line);
    let done = Arc::new(Mutex::new(Vec::new()));
    let mut counted = 0;
    loop {
        if let Ok(mut done) = done.lock() {
            for buf in done.drain(..) {
                blocks.reuse(buf);
            }
        }
        let Some(b) = blocks.next() else { break };
        feed.advance(blocks.bytes_read() - counted);
        counted = blocks.bytes_read();
        match b {
            Ok(lines) => feed.send(Work::Jsonl(Batch {
                input: Arc::clone(&label),
                lines,
                done: Some(Arc::clone(&done)),
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

/// Whether a line looks like one JSON object: `{` first and `}` last,
/// whitespace aside.
fn object_shaped(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    t.first() == Some(&b'{') && t.last() == Some(&b'}')
}

/// Evaluates one batch of lines (on a worker). Only the lines the policy's
/// prefilter points at are parsed; the runs of lines between them cannot
/// hold a link the policy acts on and are only counted and checked for
/// shape (one object on each line), a whole run at once: a line that is
/// not an object goes to the parse, which says what is wrong.
pub(crate) fn scan_batch(eval: &Evaluator<'_>, b: &Batch, out: &mut Found) {
    scan_lines(eval, &b.input, b.lines.first_line, &b.lines.bytes, out);
}

/// Whole lines of one input.
struct Lines<'a> {
    input: &'a str,
    bytes: &'a [u8],
}

/// [`scan_batch`] for whole lines wherever they are.
fn scan_lines(eval: &Evaluator<'_>, input: &str, first_line: u64, bytes: &[u8], out: &mut Found) {
    let b = &Lines { input, bytes };
    let cands = eval.candidates(bytes);
    if cands.everywhere {
        lines_one_by_one(eval, b, 0..bytes.len(), first_line, true, out);
        return;
    }
    let mut line_no = first_line;
    // Where the first line not yet judged starts.
    let mut at = 0;
    for &h in &cands.hits {
        if h < at {
            continue;
        }
        let start = memchr::memrchr(b'\n', &bytes[at..h]).map_or(at, |i| at + i + 1);
        line_no = without_candidates(eval, b, at..start, line_no, out);
        let end = memchr::memchr(b'\n', &bytes[h..]).map_or(bytes.len(), |i| h + i);
        scan_line(eval, b.input, line_no, &bytes[start..end], out);
        line_no += 1;
        at = (end + 1).min(bytes.len());
    }
    without_candidates(eval, b, at..bytes.len(), line_no, out);
}

/// Judges the whole lines in `range` of the batch, in which the prefilter
/// found no candidate, numbering them from `first`; returns the number of
/// the line after them. A run of lines that are each exactly one `{…}`
/// (what JSON Lines writers produce) is counted in one pass over its line
/// breaks; any other run (blank lines, carriage returns, spaces around an
/// object, a line that is not an object) is judged line by line.
fn without_candidates(
    eval: &Evaluator<'_>,
    b: &Lines<'_>,
    range: Range<usize>,
    first: u64,
    out: &mut Found,
) -> u64 {
    match whole_objects(&b.bytes[range.clone()]) {
        Some(n) => {
            out.messages += n;
            first + n
        }
        None => lines_one_by_one(eval, b, range, first, false, out),
    }
}

/// How many lines `run` (whole lines) holds when each is exactly one
/// `{…}` with nothing around it; `None` otherwise.
fn whole_objects(run: &[u8]) -> Option<u64> {
    if run.is_empty() {
        return Some(0);
    }
    let body = run.strip_suffix(b"\n").unwrap_or(run);
    if body.first() != Some(&b'{') || body.last() != Some(&b'}') {
        return None;
    }
    // A break inside `body` is neither its first nor its last byte.
    let clean = |i: usize| body[i - 1] == b'}' && body[i + 1] == b'{';
    let breaks = if cfg!(target_arch = "x86_64") {
        breaks_by_masks(body, clean)?
    } else {
        breaks_by_memchr(body, clean)?
    };
    Some(breaks + 1)
}

/// How many line breaks `body` holds, when `clean` holds for each; `None`
/// at the first for which it does not. One `memchr` call a line: the
/// targets without SSE2 take this.
fn breaks_by_memchr(body: &[u8], clean: impl Fn(usize) -> bool) -> Option<u64> {
    let mut n = 0;
    for i in memchr::memchr_iter(b'\n', body) {
        if !clean(i) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// [`breaks_by_memchr`] 64 bytes at a time: each block's line breaks as a
/// bit mask, from SSE2 compares (a block without one costs a test of its
/// four lanes' compares ORed), and only the set bits visited. A line of
/// JSON Lines chat is about 170 bytes, so a call a line was most of the
/// time this took (one `memchr` call per line break: 12% of a JSON Lines
/// scan's CPU samples).
fn breaks_by_masks(body: &[u8], clean: impl Fn(usize) -> bool) -> Option<u64> {
    let mut n = 0;
    let mut blocks = body.chunks_exact(64);
    for (k, block) in blocks.by_ref().enumerate() {
        let mut mask = match block.first_chunk::<64>() {
            Some(block) => break_bits(block),
            None => 0,
        };
        n += u64::from(mask.count_ones());
        while mask != 0 {
            if !clean(64 * k + mask.trailing_zeros() as usize) {
                return None;
            }
            mask &= mask - 1;
        }
    }
    let tail = body.len() - blocks.remainder().len();
    let rest = breaks_by_memchr(blocks.remainder(), |i| clean(tail + i))?;
    Some(n + rest)
}

/// Bit `i` set when byte `i` of the block is a line break.
#[inline(always)]
fn break_bits(block: &[u8; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use safe_arch::{
            bitor_m128i, cmp_eq_mask_i8_m128i, m128i, move_mask_i8_m128i, set_splat_i8_m128i,
        };
        let lanes: [m128i; 4] = std::array::from_fn(|k| {
            let mut lane = [0u8; 16];
            lane.copy_from_slice(&block[16 * k..16 * k + 16]);
            cmp_eq_mask_i8_m128i(m128i::from(lane), set_splat_i8_m128i(b'\n' as i8))
        });
        let any = bitor_m128i(
            bitor_m128i(lanes[0], lanes[1]),
            bitor_m128i(lanes[2], lanes[3]),
        );
        if move_mask_i8_m128i(any) == 0 {
            return 0;
        }
        lanes.iter().enumerate().fold(0u64, |m, (k, &v)| {
            m | u64::from(move_mask_i8_m128i(v) as u16) << (16 * k)
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block
            .iter()
            .enumerate()
            .fold(0u64, |m, (i, &c)| m | u64::from(c == b'\n') << i)
    }
}

/// Judges the whole lines in `range` one at a time, numbering them from
/// `first`; returns the number of the line after them. A blank line is
/// passed over; a line is parsed when `parse_all`, or when it is not
/// object-shaped (so that the parse says what is wrong with it), and
/// otherwise only counted.
fn lines_one_by_one(
    eval: &Evaluator<'_>,
    b: &Lines<'_>,
    range: Range<usize>,
    first: u64,
    parse_all: bool,
    out: &mut Found,
) -> u64 {
    let run = &b.bytes[range];
    if run.is_empty() {
        return first;
    }
    let mut line_no = first;
    let mut pieces = run.split(|&c| c == b'\n');
    if run.last() == Some(&b'\n') {
        // The empty piece after the last break is not a line.
        pieces.next_back();
    }
    for raw in pieces {
        if !raw.iter().all(u8::is_ascii_whitespace) {
            if parse_all || !object_shaped(raw) {
                scan_line(eval, b.input, line_no, raw, out);
            } else {
                out.messages += 1;
            }
        }
        line_no += 1;
    }
    line_no
}

/// What a line whose first byte of substance does not open an object holds
/// instead (`None` for an object, or for what serde will name itself).
fn not_an_object(raw: &[u8]) -> Option<&'static str> {
    match raw.iter().find(|c| !c.is_ascii_whitespace())? {
        b'[' => Some("the line is a JSON array"),
        b'"' => Some("the line is a JSON string"),
        _ => None,
    }
}

/// Parses and evaluates one line.
fn scan_line(eval: &Evaluator<'_>, input: &str, line_no: u64, raw: &[u8], out: &mut Found) {
    let err = |reason: String| InputError {
        path: format!("{input}:{line_no}"),
        reason,
    };
    // serde's derived `Deserialize` also takes an array, field by field in
    // order: only an object is a message.
    if let Some(kind) = not_an_object(raw) {
        out.errors.push(err(format!(
            "not a JSON object with a string `text`: {kind}"
        )));
        return;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use linkguard_rules::policy::{Policy, RoomKey, DEFAULT_POLICY, DEFAULT_POLICY_NAME};

    #[test]
    fn whole_objects_counts_only_plain_runs() {
        assert_eq!(whole_objects(b""), Some(0));
        assert_eq!(whole_objects(b"{}"), Some(1));
        assert_eq!(whole_objects(b"{\"a\": 1}\n{}\n"), Some(2));
        assert_eq!(whole_objects(b"{\"a\": \"}\\n{\"}\n{}"), Some(2));
        for not in [
            &b"\n"[..],
            b"{}\n\n{}\n",
            b"{}\r\n{}\n",
            b" {}\n",
            b"{}\n[]\n",
            b"{} \n",
            b"\"s\"\n",
            b"{\n",
        ] {
            assert_eq!(whole_objects(not), None, "{}", String::from_utf8_lossy(not));
        }
    }

    /// The masked walk over line breaks agrees with one `memchr` call a
    /// break, on runs of every length around the 64-byte blocks, clean or
    /// with one bad break anywhere.
    #[test]
    fn masked_breaks_agree_with_memchr() {
        let line = |n: usize| format!("{{\"t\": \"{}\"}}", "x".repeat(n));
        for lens in [
            vec![0],
            vec![59, 1, 0],
            vec![62],
            vec![61, 63, 64, 200],
            vec![3; 40],
        ] {
            let body = lens.iter().map(|&n| line(n)).collect::<Vec<_>>().join("\n");
            let body = body.as_bytes();
            let clean = |i: usize| body[i - 1] == b'}' && body[i + 1] == b'{';
            let want = breaks_by_memchr(body, clean);
            assert_eq!(want, Some(lens.len() as u64 - 1));
            assert_eq!(breaks_by_masks(body, clean), want);
            for bad in memchr::memchr_iter(b'\n', body) {
                let unclean = |i: usize| i != bad && clean(i);
                assert_eq!(breaks_by_masks(body, unclean), None, "{lens:?} {bad}");
            }
        }
    }

    /// The batch judged a line at a time, as the scan did before runs of
    /// lines were judged at once: the reference for [`scan_batch`].
    fn line_at_a_time(eval: &Evaluator<'_>, b: &Batch) -> Found {
        let mut out = Found::default();
        let cands = eval.candidates(&b.lines.bytes);
        for (line_no, range) in b.lines.lines() {
            let raw = &b.lines.bytes[range.clone()];
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if cands.within(range.start, range.end) == 0 && object_shaped(raw) {
                out.messages += 1;
            } else {
                scan_line(eval, &b.input, line_no, raw, &mut out);
            }
        }
        out
    }

    #[test]
    fn runs_between_candidates_are_judged_like_single_lines() {
        let policy = Policy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY).unwrap();
        let key = RoomKey::new("test");
        let prefilter = policy.prefilter();
        let eval = Evaluator {
            policy: &policy,
            key: &key,
            prefilter: &prefilter,
        };
        let lines = [
            r#"{"id": "1", "text": "no link"}"#,
            r#"{"id": "2", "text": "https://zoom.us/j/1234567890 and https://zoom.us/j/1234567891"}"#,
            "",
            r#"{"id": "3", "text": "plain"}"#,
            "  ",
            r#"{"id": "4", "platform": "icq", "text": "plain"}"#,
            "not json",
            r#"{"id": "5", "text": "plain"}"#,
            "{\"id\": \"6\", \"text\": \"crlf\"}\r",
            r#"{"id": "7", "platform": "msn", "text": "zoom.us/j/1234567890"}"#,
            r#"  {"id": "8", "text": "spaced"}  "#,
            "[1, 2]",
            r#"{"text": "meet.google.com/abc-defg-hij"}"#,
            r#"{"id": "9", "text": "zoom"}"#,
            r#"{"id": "10", "text": "last, https://zoom.us/j/5555555555"}"#,
        ];
        let key_of = |f: &Found| {
            let mut v: Vec<String> = f
                .findings
                .iter()
                .map(|x| format!("{} {}", x.input, x.url))
                .collect();
            v.sort();
            v
        };
        // Every way of cutting the lines into a batch: each subset of
        // consecutive lines, with and without a final line break.
        for from in 0..lines.len() {
            for to in from + 1..=lines.len() {
                for last_break in [true, false] {
                    let mut text = lines[from..to].join("\n");
                    if last_break {
                        text.push('\n');
                    }
                    let b = Batch {
                        input: Arc::from("t.jsonl"),
                        lines: Block {
                            first_line: from as u64 + 1,
                            bytes: text.into_bytes(),
                        },
                        done: None,
                    };
                    let mut got = Found::default();
                    scan_batch(&eval, &b, &mut got);
                    let want = line_at_a_time(&eval, &b);
                    let case = format!("lines {from}..{to}, break {last_break}");
                    assert_eq!(got.messages, want.messages, "{case}");
                    assert_eq!(got.errors, want.errors, "{case}");
                    assert_eq!(key_of(&got), key_of(&want), "{case}");
                }
            }
        }
        // The whole file: what it finds and what it reports.
        let b = Batch {
            input: Arc::from("t.jsonl"),
            lines: Block {
                first_line: 1,
                bytes: lines.join("\n").into_bytes(),
            },
            done: None,
        };
        let mut got = Found::default();
        scan_batch(&eval, &b, &mut got);
        let errors: Vec<&str> = got.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(errors, ["t.jsonl:7", "t.jsonl:10", "t.jsonl:12"]);
        assert_eq!(got.findings.len(), 3, "{:?}", key_of(&got));
        assert_eq!(got.messages, 10);
    }
}
