//! `linkguard check --batch` at the speed of its input.
//!
//! The output is defined by the one-line-at-a-time path in
//! [`super::check`] (`reference_line`): a `serde_json::Value` per line in,
//! one built with `json!` per line out. That path is kept for every line it
//! is needed for, and this module only makes the common line cheaper and
//! spreads the lines over the cores:
//!
//! - **Blocks of lines.** Standard input is read in blocks of whole lines
//!   ([`LineBlocks`]); with more than one block, one thread per core takes
//!   the next block, evaluates it and puts its output among the finished
//!   ones, and the calling thread (one of them) writes those *in input
//!   order* (each block's output waits for the blocks before it). Buffers
//!   go round, none is allocated per block (see `pipeline`).
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
use std::sync::{Condvar, Mutex};

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

/// [`run_blocks`] over `jobs` threads: the calling thread and `jobs - 1`
/// helpers, each taking the next block from the input (reading it while
/// holding the reader), evaluating it and putting its output among the
/// finished ones; the calling thread also writes those out *in input
/// order*, between its own blocks. One thread per core and no thread that
/// only reads or only writes: a dedicated reader and writer beside a
/// worker per core made two threads too many for the cores, and each
/// block changed hands three times, costing context switches and wake-ups
/// (a tenth more CPU time than one thread, most of it in the kernel).
///
/// Buffers go round instead of being allocated per block (a fresh one
/// costs a page fault per 4 KiB as it fills, and its unmapping): a block's
/// input buffer goes back to the reader with the next read, its output
/// buffer back to the free ones once written. The output buffers are also
/// the limit on the blocks in flight, so a slow reader of our output slows
/// the reading of the input.
fn pipeline<R: Read + Send>(
    ctx: Ctx<'_>,
    blocks: LineBlocks<R>,
    read: [Item; 2],
    out: &mut impl Write,
    jobs: usize,
) -> std::io::Result<Outcome> {
    let in_flight = jobs * 2 + 2;
    let reader = Mutex::new(Reader {
        read: read.into_iter(),
        blocks,
        seq: 0,
    });
    let shared = Shared {
        state: Mutex::new(State {
            free: (0..in_flight).map(|_| Vec::new()).collect(),
            done: BTreeMap::new(),
            total: None,
            stop: false,
        }),
        changed: Condvar::new(),
    };
    std::thread::scope(|s| {
        for _ in 1..jobs {
            s.spawn(|| helper(ctx, &reader, &shared));
        }
        // A panic here must stop the helpers too, or they would wait for
        // their blocks to be written for ever (and the scope for them).
        let _stop = StopOnPanic(&shared);
        let written = lead(ctx, &reader, &shared, out);
        // A failed write stops the helpers at their next block.
        shared.update(|st| st.stop = true);
        written
    })
}

/// The input's side of [`pipeline`]: the two blocks read before deciding
/// to go parallel, then the rest, numbered in input order.
struct Reader<R> {
    read: std::array::IntoIter<Item, 2>,
    blocks: LineBlocks<R>,
    seq: u64,
}

impl<R: Read> Reader<R> {
    /// The next block and its place; `input`, a finished block's buffer,
    /// is read into again.
    fn take(reader: &Mutex<Reader<R>>, input: Option<Vec<u8>>) -> Option<(u64, Item)> {
        let mut r = reader.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(buf) = input {
            r.blocks.reuse(buf);
        }
        let item = r.read.next().or_else(|| r.blocks.next())?;
        r.seq += 1;
        Some((r.seq - 1, item))
    }

    fn count(reader: &Mutex<Reader<R>>) -> u64 {
        reader.lock().unwrap_or_else(|e| e.into_inner()).seq
    }
}

/// What the threads of [`pipeline`] share besides the reader.
struct Shared {
    state: Mutex<State>,
    /// Signalled on every change of `state`.
    changed: Condvar,
}

struct State {
    /// Output buffers free to take.
    free: Vec<Vec<u8>>,
    /// Finished blocks not written yet, by place.
    done: BTreeMap<u64, Done>,
    /// How many blocks there are, once the input has ended.
    total: Option<u64>,
    /// Set when the writing stopped (finished, failed or panicked).
    stop: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `ready` picks something out of the state, `None` once
    /// the writing has stopped.
    fn wait_for<T>(&self, mut ready: impl FnMut(&mut State) -> Option<T>) -> Option<T> {
        let mut st = self.lock();
        loop {
            if st.stop {
                return None;
            }
            if let Some(t) = ready(&mut st) {
                return Some(t);
            }
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Stops the writing if a thread panics, rather than leave the others
/// waiting for it (the panic then reaches the caller).
struct StopOnPanic<'a>(&'a Shared);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.update(|st| st.stop = true);
        }
    }
}

/// A helper of [`pipeline`]: blocks in, outputs among the finished ones.
fn helper<R: Read>(ctx: Ctx<'_>, reader: &Mutex<Reader<R>>, shared: &Shared) {
    let _stop = StopOnPanic(shared);
    let mut input = None;
    while let Some(buf) = shared.wait_for(|st| st.free.pop()) {
        let Some((seq, item)) = Reader::take(reader, input.take()) else {
            let total = Reader::count(reader);
            shared.update(|st| {
                st.free.push(buf);
                st.total = Some(total);
            });
            return;
        };
        let (done, back) = block(ctx, item, buf);
        input = back;
        shared.update(|st| {
            st.done.insert(seq, done);
        });
    }
}

/// The calling thread's part of [`pipeline`]: writes the finished blocks
/// in input order, and evaluates blocks of its own while none is ready.
fn lead<R: Read>(
    ctx: Ctx<'_>,
    reader: &Mutex<Reader<R>>,
    shared: &Shared,
    out: &mut impl Write,
) -> std::io::Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut next = 0;
    let mut input = None;
    let mut reading = true;
    loop {
        // What can be written now; else a free buffer for a block of our
        // own; else (every buffer taken, or the input read) wait for one.
        enum Step {
            Write(Done),
            Own(Vec<u8>),
            End,
        }
        let step = shared.wait_for(|st| {
            if let Some(done) = st.done.remove(&next) {
                Some(Step::Write(done))
            } else if st.total == Some(next) {
                Some(Step::End)
            } else if reading {
                st.free.pop().map(Step::Own)
            } else {
                None
            }
        });
        match step {
            Some(Step::Write(done)) => {
                out.write_all(&done.out)?;
                outcome.merge(done.outcome);
                next += 1;
                let buf = done.out;
                shared.update(|st| st.free.push(buf));
            }
            Some(Step::Own(buf)) => match Reader::take(reader, input.take()) {
                Some((seq, item)) => {
                    let (done, back) = block(ctx, item, buf);
                    input = back;
                    shared.update(|st| {
                        st.done.insert(seq, done);
                    });
                }
                None => {
                    reading = false;
                    let total = Reader::count(reader);
                    shared.update(|st| {
                        st.free.push(buf);
                        st.total = Some(total);
                    });
                }
            },
            Some(Step::End) => return Ok(outcome),
            None => return Err(std::io::Error::other("a check --batch worker stopped")),
        }
    }
}

/// The output of one block of lines (or of a line that could not be read),
/// written into `out` (empty); and the block's buffer, to be read into again.
fn block(ctx: Ctx<'_>, item: Item, mut out: Vec<u8>) -> (Done, Option<Vec<u8>>) {
    out.clear();
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

    /// A writer that takes `left` bytes, then fails, as a closed pipe does.
    struct Closes {
        left: usize,
    }

    impl Write for Closes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A failed write ends the run with its error, on every thread count
    /// and wherever it happens: no thread is left waiting for another.
    #[test]
    fn a_failed_write_stops_every_thread() {
        let policy = Policy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY).unwrap();
        let key = RoomKey::new("test-key");
        let ctx = Ctx {
            policy: &policy,
            key: &key,
            default_platform: Dialect::Any,
        };
        let text = input(3000);
        for jobs in [1, 2, 3] {
            for left in [0, 1, 5000, 100_000] {
                let mut out = Closes { left };
                let e = run_blocks(ctx, &text[..], &mut out, 512, jobs).unwrap_err();
                assert_eq!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe,
                    "{jobs} jobs, {left}"
                );
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
