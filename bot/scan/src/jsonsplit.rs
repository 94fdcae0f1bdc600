//! Finding where JSON values end, and reading the few members the scan
//! needs, without parsing the values.
//!
//! Bounds come from the brackets outside strings ([`Structural`]): the end
//! of a value ([`value_len`]), the objects at the top of an array
//! ([`top_objects`]), an object's members ([`members`]). None of this
//! validates: a malformed value is caught when it is parsed. The sliding
//! buffer that feeds it from a file is [`jsonstream`](super::jsonstream).
//! [`plain_members`] is the exception: it reads a line only when it is in
//! the plainest JSON, and says so, for `check --batch`.

use super::structural::Structural;

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
            let mut end = None;
            Structural::new(b, open, close).walk(|at| {
                if b[at] == open {
                    depth += 1;
                } else {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(at + 1);
                        return false;
                    }
                }
                true
            });
            end
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
pub(crate) fn each_object(b: &[u8], mut f: impl FnMut(usize, usize) -> bool) -> bool {
    let mut depth = 0usize;
    let mut start = 0;
    let mut balanced = true;
    Structural::new(b, b'{', b'}').walk(|at| {
        if b[at] == b'{' {
            if depth == 0 {
                start = at;
            }
            depth += 1;
            return true;
        }
        let Some(d) = depth.checked_sub(1) else {
            balanced = false;
            return false;
        };
        depth = d;
        depth != 0 || f(start, at + 1)
    });
    balanced
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

/// A value in the plainest JSON: what [`plain_members`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plain<'a> {
    /// A string without escapes, as written (quotes included).
    Str(&'a str),
    /// `null`.
    Null,
    /// A non-negative integer of at most 18 digits, as written.
    Int(&'a str),
}

impl<'a> Plain<'a> {
    /// The value's JSON text.
    pub fn raw(self) -> &'a str {
        match self {
            Plain::Str(r) | Plain::Int(r) => r,
            Plain::Null => "null",
        }
    }

    /// A string's contents (which, without escapes, are its text).
    pub fn text(self) -> Option<&'a str> {
        match self {
            Plain::Str(r) => r.get(1..r.len() - 1),
            _ => None,
        }
    }
}

/// Calls `f(key, value)` for each member of the one flat object `line`
/// holds, when it is written in the plainest JSON: keys and string values
/// without escapes or control characters, other values `null` or small
/// non-negative integers, nothing after the object but whitespace. Returns
/// `false` as soon as the line is not in that form, or `f` returns `false`
/// (members already reported stay reported).
///
/// Every line this accepts is valid JSON and means what the calls said, so
/// a caller can answer it without a JSON parser and leave every other line
/// to one: a per-line parse costs more than the rest of a message's way
/// through `check --batch` together, and in chat traffic the plain form is
/// the usual one.
pub fn plain_members<'a>(line: &'a str, mut f: impl FnMut(&'a str, Plain<'a>) -> bool) -> bool {
    let b = line.as_bytes();
    // The end of the string whose contents start at `from`, if plain.
    let string_end = |from: usize| -> Option<usize> {
        let end = from + memchr::memchr2(b'"', b'\\', b.get(from..)?)?;
        (b[end] == b'"' && !b[from..end].iter().fold(false, |c, &x| c | (x < 0x20))).then_some(end)
    };
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return false;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return skip_ws(b, i + 1) == b.len();
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return false;
        }
        let Some(key_end) = string_end(i + 1) else {
            return false;
        };
        let key = &line[i + 1..key_end];
        i = skip_ws(b, key_end + 1);
        if b.get(i) != Some(&b':') {
            return false;
        }
        i = skip_ws(b, i + 1);
        let value = match b.get(i) {
            Some(b'"') => {
                let Some(end) = string_end(i + 1) else {
                    return false;
                };
                let v = Plain::Str(&line[i..=end]);
                i = end + 1;
                v
            }
            Some(b'n') if b[i..].starts_with(b"null") => {
                i += 4;
                Plain::Null
            }
            Some(b'0'..=b'9') => {
                let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 18 || (digits > 1 && b[i] == b'0') {
                    return false;
                }
                let v = Plain::Int(&line[i..i + digits]);
                i += digits;
                v
            }
            _ => return false,
        };
        if !f(key, value) {
            return false;
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return skip_ws(b, i + 1) == b.len(),
            _ => return false,
        }
    }
}

/// Whether a raw value is absent in the JSON sense: `null`, `[]`, `{}` or `""`.
pub(crate) fn is_empty(raw: &[u8]) -> bool {
    matches!(raw, b"null" | b"[]" | b"{}" | b"\"\"")
        || raw
            .iter()
            .all(|b| matches!(b, b'[' | b']' | b'{' | b'}' | b' ' | b'\n' | b'\r' | b'\t'))
}

#[cfg(test)]
mod tests;
