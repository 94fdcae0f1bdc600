//! `linkguard check --batch` at the speed of its input.
//!
//! The output is defined by the one-line-at-a-time path in
//! [`super::check`] (`reference_line`): a `serde_json::Value` per line in,
//! one built with `json!` per line out. That path is kept for every line it
//! is needed for, and this module only makes the common line cheaper and
//! spreads the lines over the cores:
//!
//! - **Blocks of lines.** Standard input is read in blocks of whole lines
//!   ([`LineBlocks`]); with more than one block, a reader thread reads the
//!   next ones while worker threads (one per core) evaluate blocks and the
//!   calling thread writes the finished ones *in input order* (each block's
//!   output waits for the blocks before it). Buffers go round, none is
//!   allocated per block (see `pipeline`).
//! - **A borrowed parse of the usual line.** A line `{"id"?, "platform"?,
//!   "text", …}` is parsed into borrowed fields (no `Value`, no copy of a
//!   text without escapes); unknown fields are still parsed whole, so that a
//!   line the reference path would reject is never accepted here.
//! - **Direct output for link-free lines.** When the message has no link at
//!   all, its object `{"id","links":[],"rewritten"}` is written directly:
//!   the id and text as they were when serde_json would write them the same
//!   bytes, else serialised by serde_json.
//!
//! Anything else (a line that does not parse so, a repeated key, an unknown
//! platform, a line with a link) goes to the reference path, so output and
//! exit status are byte for byte the same (a test compares them on
//! generated traffic and on malformed lines).

use super::check::{reference_line, verdict_json, Outcome};
use linkguard_rules::eval::MessageContext;
use linkguard_rules::policy::{Policy, RoomKey};
use linkguard_rules::Dialect;
use linkguard_scan::jsonsplit::{plain_members, Plain};
use linkguard_scan::lines::{Block, Cut, LineBlocks};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

/// About how many bytes of input one block holds: small enough that a
/// block is still in the cache when a worker reads it, and that the few
/// buffers in flight are soon all touched (then reused, no more faults).
const BLOCK_BYTES: usize = 256 << 10;

/// The longest line read; a longer one is reported and skipped.
const MAX_LINE_BYTES: usize = 256 << 20;

/// The shared, read-only state every worker uses.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    policy: &'a Policy,
    key: &'a RoomKey,
    default_platform: Dialect,
}

impl Ctx<'_> {
    /// The reference path's answer to one line.
    fn reference(&self, line_no: u64, line: Result<&str, String>, done: &mut Done) {
        reference_line(
            self.policy,
            self.key,
            self.default_platform,
            line_no,
            line,
            &mut done.out,
            &mut done.outcome,
        );
    }
}

/// One block's output and what it found.
struct Done {
    out: Vec<u8>,
    outcome: Outcome,
}

/// Reads JSON Lines from `input` and writes one object per line to `out`
/// (see the module docs); returns what was found.
pub fn run(
    policy: &Policy,
    key: &RoomKey,
    default_platform: Dialect,
    input: impl Read + Send,
    out: &mut impl Write,
) -> std::io::Result<Outcome> {
    let ctx = Ctx {
        policy,
        key,
        default_platform,
    };
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    run_blocks(ctx, input, out, BLOCK_BYTES, jobs)
}

/// [`run`] with a given block size and number of workers.
fn run_blocks(
    ctx: Ctx<'_>,
    input: impl Read + Send,
    out: &mut impl Write,
    block_bytes: usize,
    jobs: usize,
) -> std::io::Result<Outcome> {
    let mut blocks = LineBlocks::new(input, block_bytes, MAX_LINE_BYTES);
    let mut outcome = Outcome::default();
    let Some(first) = blocks.next() else {
        return Ok(outcome);
    };
    let second = if jobs > 1 { blocks.next() } else { None };
    // A single block (or a single core) is not worth a thread.
    let Some(second) = second else {
        let (mut buf, mut next) = (Vec::new(), Some(first));
        while let Some(item) = next.take().or_else(|| blocks.next()) {
            buf.clear();
            let (done, input) = block(ctx, item, buf);
            out.write_all(&done.out)?;
            outcome.merge(done.outcome);
            buf = done.out;
            if let Some(input) = input {
                blocks.reuse(input);
            }
        }
        return Ok(outcome);
    };
    pipeline(ctx, blocks, [first, second], out, jobs)
}

type Item = Result<Block, Cut>;

/// A block of input on its way to a worker: its place in the output, the
/// block, and the buffer its output goes into.
type Work = (u64, Item, Vec<u8>);

/// [`run_blocks`] over threads: a reader (of `blocks`), `jobs` workers, and
/// the calling thread as the writer, which puts the finished blocks back in
/// input order. Buffers go round instead of being allocated per block (a
/// fresh one costs a page fault per 4 KiB as it fills, and its unmapping):
/// the input's back to the reader, the output's back through the reader to
/// the workers. The output buffers are also the limit on the blocks in
/// flight, so a slow reader of our output slows the reading of the input.
fn pipeline<R: Read + Send>(
    ctx: Ctx<'_>,
    mut blocks: LineBlocks<R>,
    read: [Item; 2],
    out: &mut impl Write,
    jobs: usize,
) -> std::io::Result<Outcome> {
    let in_flight = jobs * 2 + 2;
    std::thread::scope(|s| {
        let (work_tx, work_rx) = sync_channel::<Work>(jobs);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = channel::<(u64, Done)>();
        let (inputs_tx, inputs_rx) = channel::<Vec<u8>>();
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(in_flight);
        for _ in 0..in_flight {
            let _ = free_tx.send(Vec::new());
        }
        for _ in 0..jobs {
            let rx = Arc::clone(&work_rx);
            let (done_tx, inputs_tx) = (done_tx.clone(), inputs_tx.clone());
            s.spawn(move || worker(ctx, &rx, &done_tx, &inputs_tx));
        }
        drop((done_tx, inputs_tx));
        s.spawn(move || {
            let mut read = read.into_iter();
            let mut seq = 0;
            while let Some(next) = read.next().or_else(|| blocks.next()) {
                // Every output buffer in use: wait for the writer.
                let Ok(buf) = free_rx.recv() else { return };
                if work_tx.send((seq, next, buf)).is_err() {
                    return;
                }
                seq += 1;
                for buf in inputs_rx.try_iter() {
                    blocks.reuse(buf);
                }
            }
        });
        write_in_order(out, &done_rx, &free_tx)
    })
}

/// Writes the blocks' outputs as they come, each after those before it;
/// gives each output buffer back once written.
fn write_in_order(
    out: &mut impl Write,
    done_rx: &Receiver<(u64, Done)>,
    free_tx: &SyncSender<Vec<u8>>,
) -> std::io::Result<Outcome> {
    let mut outcome = Outcome::default();
    // Finished blocks that wait for an earlier one, by place.
    let mut early: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0;
    for (seq, done) in done_rx {
        early.insert(seq, done);
        while let Some(done) = early.remove(&next) {
            out.write_all(&done.out)?;
            outcome.merge(done.outcome);
            let _ = free_tx.try_send(done.out);
            next += 1;
        }
    }
    Ok(outcome)
}

fn worker(
    ctx: Ctx<'_>,
    rx: &Mutex<Receiver<Work>>,
    done_tx: &Sender<(u64, Done)>,
    inputs_tx: &Sender<Vec<u8>>,
) {
    loop {
        // Hold the lock only for the receive, never while working.
        let next = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok((seq, item, mut buf)) = next else {
            return;
        };
        buf.clear();
        let (done, input) = block(ctx, item, buf);
        if let Some(input) = input {
            let _ = inputs_tx.send(input);
        }
        if done_tx.send((seq, done)).is_err() {
            return;
        }
    }
}

/// The output of one block of lines (or of a line that could not be read),
/// written into `out` (empty); and the block's buffer, to be read into again.
fn block(ctx: Ctx<'_>, item: Item, out: Vec<u8>) -> (Done, Option<Vec<u8>>) {
    let mut done = Done {
        out,
        outcome: Outcome::default(),
    };
    let b = match item {
        Ok(b) => b,
        Err(cut) => {
            let (line, reason) = match cut {
                Cut::TooLong { line } => (
                    line,
                    format!("a line longer than {} MiB (skipped)", MAX_LINE_BYTES >> 20),
                ),
                Cut::Io { line, error } => (line, error.to_string()),
            };
            ctx.reference(line, Err(format!("unreadable input: {reason}")), &mut done);
            return (done, None);
        }
    };
    // Room for more than the usual answer (about the line's size), so that
    // a buffer is not grown again and again (a copy, and fresh pages to
    // fault in); room never written to costs nothing.
    done.out.reserve(b.bytes.len() * 2 + 64);
    // Line breaks are ASCII: when the block is UTF-8, so is every line.
    let whole = std::str::from_utf8(&b.bytes).ok();
    for (line_no, range) in b.lines() {
        // As `BufRead::lines`: a carriage return goes with the line break.
        let mut end = range.end;
        if end < b.bytes.len() && end > range.start && b.bytes[end - 1] == b'\r' {
            end -= 1;
        }
        let raw = &b.bytes[range.start..end];
        let line = match whole {
            Some(text) => Ok(&text[range.start..end]),
            None => std::str::from_utf8(raw)
                .map_err(|_| "unreadable input: stream did not contain valid UTF-8".to_owned()),
        };
        if let Ok(l) = line {
            // (A line starting with `{`, the usual one, is not blank.)
            if !l.starts_with('{') && l.trim().is_empty() {
                continue;
            }
            if fast_line(ctx, l, &mut done.out, &mut done.outcome) {
                continue;
            }
        }
        ctx.reference(line_no, line, &mut done);
    }
    (done, Some(b.bytes))
}

/// The usual line, answered without building `Value`s; `false` (with
/// nothing written) when the reference path must answer.
fn fast_line(ctx: Ctx<'_>, line: &str, out: &mut Vec<u8>, outcome: &mut Outcome) -> bool {
    let Some(m) = Fields::plain(line).or_else(|| serde_json::from_str::<Fields<'_>>(line).ok())
    else {
        return false;
    };
    let Some(text) = m.text else { return false };
    let platform = match &m.platform {
        None => ctx.default_platform,
        Some(p) => match Dialect::parse(p) {
            Some(d) => d,
            None => return false,
        },
    };
    let context = MessageContext {
        platform,
        ..MessageContext::default()
    };
    let verdict = ctx.policy.evaluate(&text, &context, ctx.key);
    if verdict.occurrences.is_empty() {
        // `{"id":…,"links":[],"rewritten":…}`, keys in serde_json's order.
        let start = out.len();
        out.extend_from_slice(b"{\"id\":");
        if !write_id(out, m.id) {
            out.truncate(start);
            return false;
        }
        out.extend_from_slice(b",\"links\":[],\"rewritten\":");
        write_str(out, text);
        out.extend_from_slice(b"}\n");
        return true;
    }
    let id: Option<Value> = match m.id.map(serde_json::from_str).transpose() {
        Ok(v) => v,
        Err(_) => return false,
    };
    outcome.blocked |= verdict.is_blocked();
    let rewritten = verdict.rewrite(&text, platform);
    let v = verdict_json(id.as_ref(), ctx.policy, &verdict, &rewritten);
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &v);
    out.push(b'\n');
    true
}

/// Writes the id as serde_json writes its `Value`: copied when the raw
/// text is already that (a string without escapes, a small integer),
/// else parsed and written. `false` when it does not parse as a `Value`.
fn write_id(out: &mut Vec<u8>, id: Option<&str>) -> bool {
    let Some(raw) = id else {
        out.extend_from_slice(b"null");
        return true;
    };
    let r = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    // A valid string without a backslash has no escapes (and so no inner
    // quote or control character).
    let plain_string = r.starts_with('"') && !r.contains('\\');
    let small_integer = !r.is_empty() && r.len() <= 18 && r.bytes().all(|c| c.is_ascii_digit());
    if plain_string || small_integer {
        out.extend_from_slice(r.as_bytes());
        return true;
    }
    match serde_json::from_str::<Value>(r) {
        Ok(v) => serde_json::to_writer(&mut *out, &v).is_ok(),
        Err(_) => false,
    }
}

/// Writes a string as serde_json does: a borrowed one held no escapes in
/// the input, and so (having no quote, backslash or control character)
/// needs none; an unescaped one is escaped again by serde_json.
fn write_str(out: &mut Vec<u8>, s: Cow<'_, str>) {
    match s {
        Cow::Borrowed(s) => {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(s) => {
            let _ = serde_json::to_writer(&mut *out, s.as_str());
        }
    }
}

/// The fields `check --batch` reads, borrowed from the line. Parsing fails
/// (and the reference path answers) on a repeated known key, a key written
/// with escapes, or a value of the wrong type; unknown fields are parsed
/// as `Value`s, exactly as strictly as the reference path parses them.
struct Fields<'a> {
    /// The id's JSON text.
    id: Option<&'a str>,
    platform: Option<Cow<'a, str>>,
    text: Option<Cow<'a, str>>,
}

impl<'a> Fields<'a> {
    /// The fields of a line in the plainest JSON ([`plain_members`]),
    /// without a parser; `None` when the line is not so written or repeats
    /// a key, or has a key other than these three.
    fn plain(line: &'a str) -> Option<Fields<'a>> {
        let mut m = Fields {
            id: None,
            platform: None,
            text: None,
        };
        let mut seen = [false; 3];
        let plain = plain_members(line, |k, v| {
            let slot = match k {
                "id" => 0,
                "platform" => 1,
                "text" => 2,
                _ => return false,
            };
            if std::mem::replace(&mut seen[slot], true) {
                return false;
            }
            match (slot, v) {
                (0, Plain::Str(_) | Plain::Int(_)) => m.id = Some(v.raw()),
                (_, Plain::Null) => {}
                (1, Plain::Str(_)) => m.platform = v.text().map(Cow::Borrowed),
                (2, Plain::Str(_)) => m.text = v.text().map(Cow::Borrowed),
                _ => return false,
            }
            true
        });
        plain.then_some(m)
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        use serde::de::Error;
        let mut m = Fields {
            id: None,
            platform: None,
            text: None,
        };
        let (mut id, mut platform) = (false, false);
        while let Some(k) = map.next_key::<&'de str>()? {
            match k {
                "id" if !id => {
                    id = true;
                    m.id = map
                        .next_value::<Option<&'de RawValue>>()?
                        .map(RawValue::get);
                }
                "platform" if !platform => {
                    platform = true;
                    m.platform = map.next_value::<Option<Str<'de>>>()?.map(|s| s.0);
                }
                "text" if m.text.is_none() => m.text = Some(map.next_value::<Str<'de>>()?.0),
                "id" | "platform" | "text" => return Err(A::Error::custom("repeated key")),
                _ => {
                    map.next_value::<Value>()?;
                }
            }
        }
        Ok(m)
    }
}

/// A string, borrowed when it had no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkguard_rules::policy::{DEFAULT_POLICY, DEFAULT_POLICY_NAME};
    use std::io::BufRead;

    /// The output as the line-at-a-time loop wrote it before blocks and
    /// threads: `BufRead::lines` and the reference path for every line.
    fn reference(ctx: Ctx<'_>, input: &[u8]) -> (Vec<u8>, Outcome) {
        let (mut out, mut found) = (Vec::new(), Outcome::default());
        for (n, line) in input.lines().enumerate() {
            let line = line.map_err(|e| format!("unreadable input: {e}"));
            let line = match &line {
                Ok(l) => Ok(l.as_str()),
                Err(e) => Err(e.clone()),
            };
            reference_line(
                ctx.policy,
                ctx.key,
                ctx.default_platform,
                n as u64 + 1,
                line,
                &mut out,
                &mut found,
            );
        }
        (out, found)
    }

    /// Lines of every kind the reference path treats specially, between
    /// ordinary traffic; deterministic.
    fn input(lines: usize) -> Vec<u8> {
        let odd: &[&[u8]] = &[
            br#"{"id": "a1", "platform": "slack", "text": "join <https://zoom.us/j/123456789?pwd=abc|here> now"}"#,
            br#"{"id": 7, "text": "https:\/\/zoom.us\/j\/987654321 caf\u00e9 \"quoted\""}"#,
            br#"{"id": -0, "text": "plain"}"#,
            br#"{"id": 1.50, "text": "plain"}"#,
            br#"{"id": 123456789012345678901234, "text": "plain"}"#,
            br#"{"id": 1e400, "text": "plain"}"#,
            br#"{"id": {"b": [1, 2], "a": "x"}, "text": "plain"}"#,
            br#"{"id": "caf\u00e9 \/", "text": "plain"}"#,
            br#"{"id": null, "platform": null, "text": "meet.google.com/abc-defg-hij"}"#,
            br#"{"platform": "msn", "text": "plain"}"#,
            br#"{"platform": 3, "text": "plain"}"#,
            br#"{"id": "no text"}"#,
            br#"{"id": "n", "text": 5}"#,
            br#"{"text": "first", "text": "second https://zoom.us/j/111111111"}"#,
            br#"{"id": 1, "id": 2, "text": "dup id"}"#,
            br#"{"t\u0065xt": "escaped key https://zoom.us/j/222222222"}"#,
            br#"{"text": "extra", "n": 1e400}"#,
            br#"{"text": "extra", "s": "\ud800"}"#,
            br#"{"text": "lone \ud800 surrogate"}"#,
            br#"{"text": "extra fields fine", "channel": "C1", "nested": {"a": [true, null]}}"#,
            br#"{"text": "trailing"} x"#,
            br#"["an", "array"]"#,
            b"not json at all",
            b"",
            b"   \t ",
            "\u{3000}".as_bytes(),
            b"{\"text\": \"crlf https://zoom.us/j/333333333\"}\r",
            b"{\"text\": \"bad utf-8 \xff\xfe\"}",
            br#"{"text": "tab\tand newline\n https://us02web.zoom.us/j/444444444"}"#,
            br#"{"text": "<https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/0>"}"#,
            br#"{"text": "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F555555555&data=x"}"#,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut out = Vec::new();
        for i in 0..lines {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(5) {
                out.extend_from_slice(odd[(x / 5 % odd.len() as u64) as usize]);
            } else {
                let words = "ok ".repeat((x % 40) as usize);
                out.extend_from_slice(
                    format!(r#"{{"id": "{i}", "platform": "discord", "text": "words {words}"}}"#)
                        .as_bytes(),
                );
            }
            out.push(b'\n');
        }
        // The last line without its line break, ending in a carriage return.
        out.extend_from_slice(b"{\"text\": \"last\"}\r");
        out
    }

    #[test]
    fn blocks_and_threads_answer_byte_for_byte_as_the_reference() {
        let policy = Policy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY).unwrap();
        let key = RoomKey::new("test-key");
        let text = input(3000);
        for platform in [Dialect::Any, Dialect::Slack] {
            let ctx = Ctx {
                policy: &policy,
                key: &key,
                default_platform: platform,
            };
            let (want, want_found) = reference(ctx, &text);
            assert!(want_found.blocked && want_found.error);
            for (block, jobs) in [(64, 2), (4096, 2), (4096, 1), (1 << 20, 2)] {
                let mut got = Vec::new();
                let found = run_blocks(ctx, &text[..], &mut got, block, jobs).unwrap();
                assert_eq!(found, want_found);
                if got != want {
                    let (g, w) = (
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want),
                    );
                    let at = g.lines().zip(w.lines()).position(|(a, b)| a != b);
                    panic!(
                        "block {block}, {jobs} jobs: first difference at output line {at:?}: {:?} vs {:?}",
                        at.and_then(|n| g.lines().nth(n)),
                        at.and_then(|n| w.lines().nth(n))
                    );
                }
            }
        }
    }

    #[test]
    fn an_empty_input_says_nothing() {
        let policy = Policy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY).unwrap();
        let key = RoomKey::new("test-key");
        let mut out = Vec::new();
        let found = run(&policy, &key, Dialect::Any, &b""[..], &mut out).unwrap();
        assert_eq!((out.len(), found), (0, Outcome::default()));
    }
}
