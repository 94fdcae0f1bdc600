//! A sliding window over a JSON byte stream: how a DiscordChatExporter file
//! is cut into messages without being held whole.
//!
//! Such a file is one object whose `messages` array can hold millions of
//! messages. Deserialising it element by element on one thread would make
//! that thread the bottleneck, so the reader only finds where each element
//! starts and ends ([`jsonsplit`](super::jsonsplit): visiting only brackets,
//! and counting the quotes between them to know which are outside strings)
//! and the workers parse the elements in parallel. The reader never
//! validates: a malformed element is caught by the worker that parses it,
//! with its byte offset.
//!
//! The buffer slides over the file and grows only as far as the largest
//! single value ([`MAX_ITEM_BYTES`](super::MAX_ITEM_BYTES)).

use super::jsonsplit::{each_object, value_len};
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

const CHUNK: usize = 1 << 18;

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
    /// the buffer holds rather than a value at a time, and left where they
    /// are: from the current position (at an element), takes each object
    /// as long as they follow one another with only a comma between, until
    /// they span `max_span` bytes. Returns the buffer's bytes from the first
    /// object's start to the last one's end, with `items` set to each
    /// object's (start, end) in them and its file offset (empty, and the
    /// bytes too, when the element here is not an object the buffer holds
    /// whole: [`RawReader::value`] then takes over). Leaves the position
    /// just after the last object taken (its `,` or `]` unread).
    pub(crate) fn objects(
        &mut self,
        max_span: usize,
        items: &mut Vec<(usize, usize, u64)>,
    ) -> Result<&[u8], SplitError> {
        items.clear();
        if self.peek()? != Some(b'{') {
            return Ok(&[]);
        }
        let from = self.pos;
        let origin = self.base + from as u64;
        let b = &self.buf[from..self.end];
        let mut done = 0;
        each_object(b, |start, end| {
            if !items.is_empty() && !only_a_comma(&b[done..start]) {
                return false;
            }
            items.push((start, end, origin + start as u64));
            done = end;
            end < max_span
        });
        self.pos += done;
        Ok(&self.buf[from..from + done])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lines::Chunky;

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

    /// The elements of the array `text` holds, split as the Discord scan
    /// does (whole objects in one pass when `fast`), or the error.
    fn split(
        text: &[u8],
        chunk: usize,
        fast: bool,
        span_limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, String> {
        let mut r = RawReader::new(Chunky(text, chunk), 1 << 20);
        let mut got = Vec::new();
        let mut items = Vec::new();
        r.expect(b'[', "`[`").map_err(|e| e.to_string())?;
        loop {
            let took = if fast {
                let span = r
                    .objects(span_limit, &mut items)
                    .map_err(|e| e.to_string())?;
                for &(start, end, o) in &items {
                    got.push((o, span[start..end].to_vec()));
                }
                items.len()
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
                for span_limit in [1, 20, 1 << 20] {
                    assert_eq!(
                        split(c, chunk, true, span_limit),
                        split(c, chunk, false, span_limit),
                        "{} in reads of {chunk}, spans of {span_limit}",
                        String::from_utf8_lossy(c)
                    );
                }
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
