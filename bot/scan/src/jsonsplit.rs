//! Finding JSON value boundaries in a stream without parsing the values.
//!
//! A DiscordChatExporter file is one object whose `messages` array can hold
//! millions of messages. Deserialising it element by element on one thread
//! would make that thread the bottleneck, so the reader only finds where each
//! element starts and ends (visiting only brackets, and counting the quotes
//! between them to know which are outside strings) and the workers parse the
//! elements in parallel. The reader never validates: a malformed element is
//! caught by the worker that parses it, with its byte offset.
//!
//! The buffer slides over the file and grows only as far as the largest
//! single value ([`MAX_ITEM_BYTES`](super::MAX_ITEM_BYTES)).

use super::structural::Structural;
use std::io::Read;

/// A sliding window over a byte stream, with JSON-aware helpers.
pub(crate) struct RawReader<R> {
    r: R,
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
    /// End of the valid bytes in `buf`.
    end: usize,
    eof: bool,
    /// File offset of `buf[0]`.
    base: u64,
    max: u64,
    /// Whether a leading byte-order mark has been looked for.
    bom_checked: bool,
}

/// Why the stream could not be split.
#[derive(Debug)]
pub(crate) enum SplitError {
    Io(std::io::Error),
    /// The file ended inside a value.
    Truncated {
        offset: u64,
    },
    /// A byte that cannot start or continue the expected structure.
    Unexpected {
        offset: u64,
        expected: &'static str,
        found: Option<u8>,
    },
    /// A single value larger than the limit.
    TooLarge {
        offset: u64,
    },
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::Io(e) => write!(f, "read error: {e}"),
            SplitError::Truncated { offset } => {
                write!(
                    f,
                    "the file ends in the middle of a JSON value at byte {offset} (truncated?)"
                )
            }
            SplitError::Unexpected {
                offset,
                expected,
                found: Some(b),
            } => write!(
                f,
                "invalid JSON at byte {offset}: expected {expected}, found `{}`",
                (*b as char).escape_default()
            ),
            SplitError::Unexpected {
                offset,
                expected,
                found: None,
            } => write!(
                f,
                "invalid JSON: expected {expected} at byte {offset}, found the end of the file"
            ),
            SplitError::TooLarge { offset } => {
                write!(
                    f,
                    "a JSON value at byte {offset} is larger than {} MiB",
                    super::MAX_ITEM_BYTES >> 20
                )
            }
        }
    }
}

impl From<std::io::Error> for SplitError {
    fn from(e: std::io::Error) -> SplitError {
        SplitError::Io(e)
    }
}

const CHUNK: usize = 1 << 20;

impl<R: Read> RawReader<R> {
    pub(crate) fn new(r: R, max: u64) -> RawReader<R> {
        RawReader {
            r,
            buf: vec![0; CHUNK],
            pos: 0,
            end: 0,
            eof: false,
            base: 0,
            max,
            bom_checked: false,
        }
    }

    /// File offset of the next unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Reads more: keeps the unconsumed bytes, grows the buffer only when
    /// they fill it. Returns false at the end of the stream.
    fn fill(&mut self) -> Result<bool, SplitError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() as u64 >= self.max {
                return Err(SplitError::TooLarge {
                    offset: self.offset(),
                });
            }
            let grown = (self.buf.len() * 2).min(usize::try_from(self.max).unwrap_or(usize::MAX));
            self.buf.resize(grown, 0);
        }
        loop {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next byte that is not JSON whitespace (or a UTF-8 byte-order mark
    /// at the very start), without consuming it; `None` at the end.
    pub(crate) fn peek(&mut self) -> Result<Option<u8>, SplitError> {
        if !self.bom_checked {
            self.bom_checked = true;
            while self.end < 3 && self.fill()? {}
            if self.buf[..self.end].starts_with(b"\xEF\xBB\xBF") {
                self.pos = 3;
            }
        }
        loop {
            while self.pos < self.end {
                let b = self.buf[self.pos];
                if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                    self.pos += 1;
                } else {
                    return Ok(Some(b));
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Consumes `want` (after whitespace) or fails naming `what`.
    pub(crate) fn expect(&mut self, want: u8, what: &'static str) -> Result<(), SplitError> {
        match self.peek()? {
            Some(b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            found => Err(SplitError::Unexpected {
                offset: self.offset(),
                expected: what,
                found,
            }),
        }
    }

    /// Consumes one byte already seen with [`RawReader::peek`].
    pub(crate) fn bump(&mut self) {
        self.pos += 1;
    }

    /// Whole objects of the array being read, found in one pass over what
    /// the buffer holds rather than a value at a time: from the current
    /// position (at an element), calls `f(offset, raw)` for each object, as
    /// long as they follow one another with only a comma between and `f`
    /// returns `true`. Leaves the position just after the last object
    /// reported (its `,` or `]` unread), or where it was when the element
    /// there is not an object the buffer holds whole: [`RawReader::value`]
    /// then takes over. Returns how many objects it reported.
    pub(crate) fn objects(
        &mut self,
        mut f: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<usize, SplitError> {
        if self.peek()? != Some(b'{') {
            return Ok(0);
        }
        let origin = self.base + self.pos as u64;
        let b = &self.buf[self.pos..self.end];
        let (mut done, mut n) = (0, 0);
        each_object(b, |start, end| {
            if n > 0 && !only_a_comma(&b[done..start]) {
                return false;
            }
            n += 1;
            done = end;
            f(origin + start as u64, &b[start..end])
        });
        self.pos += done;
        Ok(n)
    }

    /// The next whole JSON value (after whitespace), as bytes borrowed from
    /// the buffer until the next call, and its file offset.
    pub(crate) fn value(&mut self) -> Result<(u64, &[u8]), SplitError> {
        if self.peek()?.is_none() {
            return Err(SplitError::Unexpected {
                offset: self.offset(),
                expected: "a JSON value",
                found: None,
            });
        }
        loop {
            match value_len(&self.buf[self.pos..self.end], self.eof) {
                Some(len) => {
                    let start = self.pos;
                    self.pos += len;
                    return Ok((self.base + start as u64, &self.buf[start..start + len]));
                }
                None => {
                    if !self.fill()? {
                        return Err(SplitError::Truncated {
                            offset: self.offset(),
                        });
                    }
                }
            }
        }
    }
}

/// Whether `gap` is one comma with JSON whitespace around it.
fn only_a_comma(gap: &[u8]) -> bool {
    let mut commas = 0;
    gap.iter().all(|&c| match c {
        b' ' | b'\n' | b'\r' | b'\t' => true,
        b',' => {
            commas += 1;
            commas == 1
        }
        _ => false,
    }) && commas == 1
}

/// The length of the JSON value at the start of `b` (which starts with a
/// non-whitespace byte), or `None` if `b` ends before the value does.
/// Scalars end at the next delimiter, or at the end when `eof`.
pub(crate) fn value_len(b: &[u8], eof: bool) -> Option<usize> {
    match *b.first()? {
        b'"' => string_end(b, 1),
        // In valid JSON braces and brackets balance on their own, so an
        // object's end is found by counting braces only (and an array's by
        // counting brackets), visiting only those outside strings
        // ([`Structural`]). A mismatch inside (`{"a": [}`)
        // still yields a value, which then fails to parse and is reported.
        open @ (b'{' | b'[') => {
            let close = if open == b'{' { b'}' } else { b']' };
            let mut depth = 0usize;
            for at in Structural::new(b, open, close) {
                if b[at] == open {
                    depth += 1;
                } else {
                    depth -= 1;
                    if depth == 0 {
                        return Some(at + 1);
                    }
                }
            }
            None
        }
        _ => match b
            .iter()
            .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
        {
            Some(n) => Some(n),
            None if eof => Some(b.len()),
            None => None,
        },
    }
}

/// The index just past the closing quote of a string whose contents start
/// at `from`.
///
/// Looks for quotes only, then counts the backslashes before each: chat
/// text is full of escapes (Slack writes every `/` as `\\/`) and stopping at
/// each would cost more than the rare escaped quote does.
fn string_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        // Most strings in an export are short (keys, ids): look at a few
        // bytes before paying for memchr's set-up.
        let stop = (i + 16).min(b.len());
        let q = match b[i.min(stop)..stop].iter().position(|&c| c == b'"') {
            Some(k) => i + k,
            None => stop + memchr::memchr(b'"', b.get(stop..)?)?,
        };
        if !is_escaped(b, q) {
            return Some(q + 1);
        }
        i = q + 1;
    }
}

/// Malformed JSON met while skimming: where (a byte offset in the skimmed
/// slice) and what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub at: usize,
    pub expected: &'static str,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "malformed JSON at byte {}: expected {}",
            self.at, self.expected
        )
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

fn expect_at(b: &[u8], i: usize, want: u8, expected: &'static str) -> Result<(), Malformed> {
    if b.get(i) == Some(&want) {
        Ok(())
    } else {
        Err(Malformed { at: i, expected })
    }
}

/// The next value at `i` (after whitespace): its range.
fn next_value(b: &[u8], i: usize) -> Result<(usize, usize), Malformed> {
    let start = skip_ws(b, i);
    if start >= b.len() || matches!(b[start], b',' | b'}' | b']' | b':') {
        return Err(Malformed {
            at: start,
            expected: "a value",
        });
    }
    match value_len(&b[start..], true) {
        Some(n) => Ok((start, start + n)),
        None => Err(Malformed {
            at: start,
            expected: "the end of a value (truncated?)",
        }),
    }
}

/// Calls `f(key, value)` for each member of the JSON object in `obj`, with
/// the key's raw contents (between the quotes, escapes left as they are)
/// and the value's raw bytes. Values are skipped, not parsed: this is how
/// the scanner reads only the few fields it needs from large messages.
pub(crate) fn members<'a>(
    obj: &'a [u8],
    mut f: impl FnMut(&'a [u8], &'a [u8]),
) -> Result<(), Malformed> {
    let mut i = skip_ws(obj, 0);
    expect_at(obj, i, b'{', "`{`")?;
    i = skip_ws(obj, i + 1);
    if obj.get(i) == Some(&b'}') {
        return Ok(());
    }
    loop {
        expect_at(obj, i, b'"', "a key")?;
        let key_end = string_end(obj, i + 1).ok_or(Malformed {
            at: i,
            expected: "the end of a key",
        })?;
        let key = &obj[i + 1..key_end - 1];
        i = skip_ws(obj, key_end);
        expect_at(obj, i, b':', "`:`")?;
        let (start, end) = next_value(obj, i + 1)?;
        f(key, &obj[start..end]);
        i = skip_ws(obj, end);
        match obj.get(i) {
            Some(b',') => i = skip_ws(obj, i + 1),
            Some(b'}') => return Ok(()),
            _ => {
                return Err(Malformed {
                    at: i,
                    expected: "`,` or `}`",
                })
            }
        }
    }
}

/// Calls `f(offset, element)` for each element of the JSON array in `arr`.
#[cfg(test)]
pub(crate) fn elements<'a>(
    arr: &'a [u8],
    mut f: impl FnMut(usize, &'a [u8]),
) -> Result<(), Malformed> {
    elements_while(arr, |offset, raw| {
        f(offset, raw);
        true
    })
}

/// Like [`elements`], but stops (successfully, the rest unread) as soon as
/// `f` returns `false`.
pub(crate) fn elements_while<'a>(
    arr: &'a [u8],
    mut f: impl FnMut(usize, &'a [u8]) -> bool,
) -> Result<(), Malformed> {
    let mut i = skip_ws(arr, 0);
    if arr.get(..3) == Some(b"\xEF\xBB\xBF") {
        i = skip_ws(arr, 3);
    }
    expect_at(arr, i, b'[', "`[`")?;
    i = skip_ws(arr, i + 1);
    if arr.get(i) == Some(&b']') {
        return Ok(());
    }
    loop {
        let (start, end) = next_value(arr, i)?;
        if !f(start, &arr[start..end]) {
            return Ok(());
        }
        i = skip_ws(arr, end);
        match arr.get(i) {
            Some(b',') => i += 1,
            Some(b']') => return Ok(()),
            _ => {
                return Err(Malformed {
                    at: i,
                    expected: "`,` or `]`",
                })
            }
        }
    }
}

/// Calls `f(start, end)` for each object directly inside the array that `b`
/// holds, in order, until the one that ends after `until`; returns `false`
/// when the braces do not add up (the caller then takes the careful path).
///
/// Cheaper than walking every value: in valid JSON braces balance on their
/// own, so only the braces outside strings are visited ([`Structural`]).
/// Elements that are not objects are not reported.
pub(crate) fn top_objects(b: &[u8], until: usize, mut f: impl FnMut(usize, usize)) -> bool {
    let mut reached = false;
    let balanced = each_object(b, |start, end| {
        f(start, end);
        reached = end > until;
        !reached
    });
    balanced && reached
}

/// Calls `f(start, end)` for each object at the top level of `b` (JSON that
/// starts outside any object, such as the inside of an array), in order,
/// until `f` returns `false`; returns `false` when a closing brace has no
/// opening one. Only the braces outside strings are visited
/// ([`Structural`]).
fn each_object(b: &[u8], mut f: impl FnMut(usize, usize) -> bool) -> bool {
    let mut depth = 0usize;
    let mut start = 0;
    for at in Structural::new(b, b'{', b'}') {
        if b[at] == b'{' {
            if depth == 0 {
                start = at;
            }
            depth += 1;
        } else {
            let Some(d) = depth.checked_sub(1) else {
                return false;
            };
            depth = d;
            if depth == 0 && !f(start, at + 1) {
                return true;
            }
        }
    }
    true
}

/// Whether the byte at `q` is escaped: an odd run of backslashes before it.
fn is_escaped(b: &[u8], q: usize) -> bool {
    b[..q].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
}

/// The text of a raw JSON string value: borrowed when it has no escapes;
/// `None` when it is not a (valid) string, e.g. `null`.
pub(crate) fn string(raw: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if memchr::memchr(b'\\', inner).is_none() {
        return std::str::from_utf8(inner)
            .ok()
            .map(std::borrow::Cow::Borrowed);
    }
    serde_json::from_slice::<String>(raw)
        .ok()
        .map(std::borrow::Cow::Owned)
}

/// Whether a raw value is absent in the JSON sense: `null`, `[]`, `{}` or `""`.
pub(crate) fn is_empty(raw: &[u8]) -> bool {
    matches!(raw, b"null" | b"[]" | b"{}" | b"\"\"")
        || raw
            .iter()
            .all(|b| matches!(b, b'[' | b']' | b'{' | b'}' | b' ' | b'\n' | b'\r' | b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Object bounds: (start, end) pairs.
    type Bounds = Vec<(usize, usize)>;

    /// The objects `top_objects` reports, against the careful walk.
    fn both_ways(arr: &[u8]) -> (Bounds, Bounds) {
        let mut fast = Vec::new();
        // Past the last object there is nothing to stop at: `false`.
        assert!(!top_objects(arr, usize::MAX, |s, e| fast.push((s, e))));
        let mut careful = Vec::new();
        elements(arr, |s, raw| {
            if raw.first() == Some(&b'{') {
                careful.push((s, s + raw.len()));
            }
        })
        .unwrap();
        (fast, careful)
    }

    #[test]
    fn top_objects_agree_with_the_careful_walk() {
        let cases: [&[u8]; 6] = [
            br#"[{"a": "}{"}, {"b": {"c": "x\"}"}}]"#,
            br#"[{"a": "\\"}, {"b": "\\\"{"}]"#,
            br#"[ {"t":"[{]}"} ,{"u":[{"v":1},{"w":"\u007b"}]},{}]"#,
            b"[\n{\"x\": \"line\\nbreak {\"}\n]",
            br#"[{"deep": {"deeper": {"deepest": "}}}"}}}, {"n": null}]"#,
            br#"[{"a":"\"\"\"}"},{"b":"\\\\"}]"#,
        ];
        for c in cases {
            let (fast, careful) = both_ways(c);
            assert_eq!(fast, careful, "{}", String::from_utf8_lossy(c));
        }
    }

    #[test]
    fn top_objects_stop_after_the_object_holding_the_offset() {
        let arr = br#"[{"a": 1}, {"b": 2}, {"c": 3}]"#;
        let mut seen = Vec::new();
        assert!(top_objects(arr, 13, |s, _| seen.push(s)));
        assert_eq!(seen, vec![1, 11]);
        // Unbalanced braces are refused, not guessed at.
        assert!(!top_objects(br#"[{"a": 1}}, {"b": 2}]"#, 15, |_, _| ()));
        assert!(!top_objects(br#"[{"a": "1}]"#, 5, |_, _| ()));
    }

    #[test]
    fn members_and_elements_skim_without_parsing() {
        let obj = br#" {"a": 1, "t\u0065xt": "h\/i", "n": {"x": [1, "]"]}, "z": null} "#;
        let mut seen = Vec::new();
        members(obj, |k, v| seen.push((k, v))).unwrap();
        assert_eq!(
            seen,
            [
                (&b"a"[..], &b"1"[..]),
                (b"t\\u0065xt", br#""h\/i""#),
                (b"n", br#"{"x": [1, "]"]}"#),
                (b"z", b"null"),
            ]
        );
        assert_eq!(string(br#""h\/i""#).as_deref(), Some("h/i"));
        assert_eq!(
            string(br#""plain""#),
            Some(std::borrow::Cow::Borrowed("plain"))
        );
        assert_eq!(string(b"null"), None);
        assert!(is_empty(b"[]") && is_empty(b"[ ]") && is_empty(b"null") && !is_empty(b"[1]"));

        let mut n = 0;
        elements(b"[{}, {\"a\": [1]} ,3]", |_, _| n += 1).unwrap();
        assert_eq!(n, 3);
        assert!(members(br#"{"a" 1}"#, |_, _| ()).is_err());
        assert!(members(br#"{"a": 1"#, |_, _| ()).is_err());
        assert_eq!(
            elements(br#"[{"a": "unterminated}]"#, |_, _| ())
                .unwrap_err()
                .expected,
            "the end of a value (truncated?)"
        );
    }

    #[test]
    fn values_end_where_json_says() {
        assert_eq!(value_len(br#""a\"b" , 1"#, false), Some(6));
        assert_eq!(value_len(br#"{"a":"}","b":[1,{}]} tail"#, false), Some(20));
        assert_eq!(value_len(b"123,", false), Some(3));
        assert_eq!(value_len(b"123", false), None);
        assert_eq!(value_len(b"123", true), Some(3));
        assert_eq!(value_len(br#"{"a":"x"#, false), None);
        assert_eq!(value_len(br#""ends with \"#, false), None);
        // Escaped quotes and backslashes around brackets inside strings.
        assert_eq!(value_len(br#"{"a":"\"}"} x"#, false), Some(11));
        assert_eq!(value_len(br#"{"a":"\\"} x"#, false), Some(10));
        assert_eq!(value_len(br#"{"a":"\\\"}"} x"#, false), Some(13));
        assert_eq!(value_len(br#"["]", ["\"]"], "["] x"#, false), Some(19));
        assert_eq!(value_len(br#"[{"a":"]"}"#, false), None);
    }

    /// A reader that hands out one byte at a time, so every value straddles
    /// reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((b, rest)), Some(o)) => {
                    *o = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// A reader that hands out `n` bytes at a time.
    struct Chunky<'a>(&'a [u8], usize);

    impl Read for Chunky<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The elements of the array `text` holds, split as the Discord scan
    /// does (whole objects in one pass when `fast`), or the error.
    fn split(text: &[u8], chunk: usize, fast: bool) -> Result<Vec<(u64, Vec<u8>)>, String> {
        let mut r = RawReader::new(Chunky(text, chunk), 1 << 20);
        let mut got = Vec::new();
        r.expect(b'[', "`[`").map_err(|e| e.to_string())?;
        loop {
            let took = if fast {
                r.objects(|o, v| {
                    got.push((o, v.to_vec()));
                    got.len() % 3 != 0
                })
                .map_err(|e| e.to_string())?
            } else {
                0
            };
            if took == 0 {
                let (o, v) = r.value().map_err(|e| e.to_string())?;
                got.push((o, v.to_vec()));
            }
            match r.peek().map_err(|e| e.to_string())? {
                Some(b',') => r.bump(),
                Some(b']') => return Ok(got),
                other => return Err(format!("unexpected {other:?} at {}", r.offset())),
            }
        }
    }

    #[test]
    fn objects_in_one_pass_split_like_a_value_at_a_time() {
        let cases: [&[u8]; 9] = [
            br#"[{"a": 1}, {"b": {"c": "}{"}}, {}]"#,
            b"[\n{\"x\": \"line\"}\n,\n  {\"y\": [1, {\"z\": 2}]}\n]",
            br#"[{"a": "\"}"}, "str", 3, {"b": "\\"}, [{"c": 1}], {"d": null}]"#,
            br#"[{"a": 1},, {"b": 2}]"#,
            br#"[{"a": 1} {"b": 2}]"#,
            br#"[{"a": 1}, {"b": "unterminated}]"#,
            br#"[{"a": 1}}, {"b": 2}]"#,
            br#"[{"a": 1}, {"b": 2}"#,
            br#"[{"a":"x"},{"b":"y"},{"c":"z"},{"d":"w"},{"e":"v"},{"f":"u"},{"g":"t"}]"#,
        ];
        for c in cases {
            for chunk in [1, 5, 17, 64, 4096] {
                assert_eq!(
                    split(c, chunk, true),
                    split(c, chunk, false),
                    "{} in reads of {chunk}",
                    String::from_utf8_lossy(c)
                );
            }
        }
    }

    #[test]
    fn values_are_found_across_reads() {
        let text = "\u{feff} [ {\"x\": \"[}\"} , 42 ,\"s\" ]";
        let mut r = RawReader::new(Trickle(text.as_bytes()), 1 << 20);
        r.expect(b'[', "`[`").unwrap();
        let mut got = Vec::new();
        loop {
            let (_, v) = r.value().unwrap();
            got.push(String::from_utf8(v.to_vec()).unwrap());
            match r.peek().unwrap() {
                Some(b',') => r.bump(),
                Some(b']') => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, ["{\"x\": \"[}\"}", "42", "\"s\""]);
    }

    #[test]
    fn a_cut_off_value_is_reported_as_truncated() {
        let mut r = RawReader::new(&b"[{\"a\": \"unfinished"[..], 1 << 20);
        r.expect(b'[', "`[`").unwrap();
        assert!(matches!(r.value(), Err(SplitError::Truncated { .. })));
    }

    #[test]
    fn a_value_larger_than_the_limit_is_refused() {
        let big = format!("[\"{}\"]", "x".repeat(3 << 20));
        let mut r = RawReader::new(big.as_bytes(), 2 << 20);
        r.expect(b'[', "`[`").unwrap();
        assert!(matches!(r.value(), Err(SplitError::TooLarge { .. })));
    }
}
