//! A conservative raw-bytes prefilter: where in a blob of text (or of JSON
//! holding text) a link that a policy acts on *may* be written.
//!
//! `linkguard scan` reads gigabytes of exports in which almost no message
//! holds a banned link. Parsing every message to ask the detector is what
//! costs; this module answers the cheaper question "could anything here be
//! such a link?" over the raw bytes, so the scan parses only the messages
//! around a *candidate*.
//!
//! The answer must never be "no" when the detector would say "yes". It is
//! built from what detection needs, not from how links usually look:
//!
//! - **Keywords.** A link is a provider's when its canonical host matches one
//!   of the provider's host patterns, or its scheme is one of the provider's
//!   app schemes, or (for `*` hosts) its path starts with the route's literal
//!   prefix. A host that canonicalises without percent-escapes, non-ASCII or
//!   punycode is only lower-cased, so the text holds the pattern's host (its
//!   suffix, its first label) in some ASCII case. Keywords are matched ASCII
//!   case-insensitively.
//! - **Markers of every other way in.** Whatever can turn bytes that do not
//!   spell a keyword into a link that does is a candidate itself: a defanged
//!   dot (`[.]`, `(dot)`, …), punycode (`xn--`), a Proofpoint wrapper
//!   (`urldefense`, whose encodings are not percent-escapes), a
//!   percent-escape of anything a keyword can hold, and any non-ASCII
//!   character that is invisible or that UTS-46 mapping or confusable
//!   folding turns into ASCII (full-width letters, Cyrillic look-alikes,
//!   ideographic dots). In JSON, a `\u` escape is decoded and judged the same
//!   way (`\u007a` is a `z`).
//!
//! A policy with rule `patterns` (regexes over any link) or a provider with
//! `url_patterns` cannot be reduced to keywords: its prefilter matches
//! everything.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use regex::bytes::Regex;

use crate::detect::{hex, is_invisible_char, is_wide_dot_char};

/// How the bytes given to [`Prefilter::candidates`] encode their text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The text itself (UTF-8).
    Text,
    /// A JSON document whose strings hold the text: `\uXXXX` escapes are
    /// decoded and judged like the characters they stand for.
    Json,
}

/// Where links a policy acts on may be written. See the module docs.
#[derive(Debug, Clone)]
pub struct Prefilter {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Everything is a candidate.
    All,
    Keywords {
        /// Keywords and markers (`%` and `\\u` are searched separately).
        finder: Finder,
        keywords: Vec<String>,
    },
}

/// A keyword or marker (lower case) and where in it the three bytes the
/// vector search looks for start.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    window: usize,
}

impl Pattern {
    /// A keyword, searched for by its first three bytes: a provider's hosts
    /// and schemes mostly share them (`zoo` for all of Zoom's), and the
    /// vector search is fastest with few distinct windows (at most one per
    /// bucket: it has eight), which matters more than how rare each is.
    fn keyword(text: &str) -> Pattern {
        Pattern {
            text: text.to_owned(),
            window: 0,
        }
    }

    /// The bytes searched for.
    fn window(&self) -> &[u8] {
        let b = self.text.as_bytes();
        &b[self.window..(self.window + 3).min(b.len())]
    }
}

/// How keywords and markers are searched for, ASCII case ignored.
#[derive(Debug, Clone)]
enum Finder {
    /// Every case variant of three bytes of each pattern (its window),
    /// searched for exactly: few enough for a vector searcher, which puts
    /// the variants of one window in one bucket, so ignoring case costs
    /// nothing (a case-insensitive regex runs a slower one). A hit is then
    /// compared with the whole patterns.
    Prefixes {
        starts: AhoCorasick,
        patterns: Vec<Pattern>,
    },
    /// Every pattern, case ignored, as one regex: when there would be too
    /// many variants.
    Regex(Regex),
}

/// The most prefix variants [`Finder::Prefixes`] searches for (the vector
/// searcher's own limit).
const MAX_VARIANTS: usize = 64;

impl Finder {
    /// The window search when it needs at most `max_variants` windows,
    /// else the regex.
    fn new(patterns: Vec<Pattern>, max_variants: usize) -> Option<Finder> {
        // The lower-case windows first, so that each gets a bucket of its
        // own as far as there are buckets; their other cases after.
        let mut windows: Vec<Vec<Vec<u8>>> = Vec::new();
        for p in &patterns {
            let variants = case_variants(p.window());
            if !windows.contains(&variants) {
                windows.push(variants);
            }
        }
        let mut starts: Vec<&[u8]> = windows.iter().map(|v| v[0].as_slice()).collect();
        starts.extend(
            windows
                .iter()
                .flat_map(|v| v[1..].iter().map(Vec::as_slice)),
        );
        if starts.len() <= max_variants {
            if let Ok(starts) = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&starts)
            {
                return Some(Finder::Prefixes { starts, patterns });
            }
        }
        let alternatives: Vec<String> = patterns.iter().map(|p| regex::escape(&p.text)).collect();
        let pattern = format!("(?i-u:{})", alternatives.join("|"));
        Regex::new(&pattern).ok().map(Finder::Regex)
    }

    /// Appends where each keyword or marker starts in `raw`.
    fn find(&self, raw: &[u8], found: &mut Vec<usize>) {
        match self {
            Finder::Regex(r) => found.extend(r.find_iter(raw).map(|m| m.start())),
            Finder::Prefixes { starts, patterns } => {
                let mut at = 0;
                // One byte on from each hit, not past it: a window that
                // turns out not to be in a pattern may overlap one that is.
                while let Some(m) = starts.find(Input::new(raw).span(at..raw.len())) {
                    let i = m.start();
                    for p in patterns {
                        let Some(start) = i.checked_sub(p.window) else {
                            continue;
                        };
                        let text = p.text.as_bytes();
                        if raw
                            .get(start..start + text.len())
                            .is_some_and(|r| r.eq_ignore_ascii_case(text))
                        {
                            found.push(start);
                        }
                    }
                    at = i + 1;
                }
            }
        }
    }
}

/// What the keyword search looks for: the keywords, then the markers.
fn searched_for(keywords: &[String]) -> Vec<Pattern> {
    keywords
        .iter()
        .map(|k| Pattern::keyword(k))
        .chain(MARKERS.iter().map(|&(text, window)| Pattern {
            text: text.to_owned(),
            window,
        }))
        .collect()
}

/// Every ASCII-case variant of `p` (lower case first).
fn case_variants(p: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    for &c in p {
        let lower = c.to_ascii_lowercase();
        let upper = c.to_ascii_uppercase();
        out = out
            .into_iter()
            .flat_map(|v| {
                let mut a = v.clone();
                a.push(lower);
                let b = (upper != lower).then(|| {
                    let mut b = v;
                    b.push(upper);
                    b
                });
                std::iter::once(a).chain(b)
            })
            .collect();
    }
    out
}

/// Markers that turn a non-keyword into a keyword, matched ASCII
/// case-insensitively, besides `%` and (in JSON) `\u`, which are judged by
/// what they decode to.
///
/// Each with the offset of the three bytes searched for: `urldefense` by
/// `fen`, as `url` is in every other JSON key of a Slack export (searching
/// a GiB of one for `fen` rather than `url`: 52 -> 47 ms on one core).
const MARKERS: [(&str, usize); 7] = [
    ("[.]", 0),
    ("(.)", 0),
    ("{.}", 0),
    ("[dot]", 0),
    ("(dot)", 0),
    ("xn--", 0),
    ("urldefense", 5),
];

impl Prefilter {
    /// A prefilter that reports every offset as a candidate.
    pub fn all() -> Prefilter {
        Prefilter { kind: Kind::All }
    }

    /// A prefilter for links whose text must contain one of `keywords`
    /// (ASCII case ignored), or `None` when a keyword is empty.
    pub fn from_keywords(keywords: &[String]) -> Option<Prefilter> {
        if keywords.iter().any(String::is_empty) {
            return None;
        }
        // A keyword that contains another adds nothing: the shorter one
        // already matches wherever the longer one does.
        let mut kept: Vec<String> = keywords.iter().map(|k| k.to_ascii_lowercase()).collect();
        kept.sort();
        kept.dedup();
        let all = kept.clone();
        kept.retain(|k| !all.iter().any(|o| o != k && k.contains(o.as_str())));
        let finder = Finder::new(searched_for(&kept), MAX_VARIANTS)?;
        Some(Prefilter {
            kind: Kind::Keywords {
                finder,
                keywords: kept,
            },
        })
    }

    /// Whether every offset is a candidate (the policy cannot be reduced to
    /// keywords).
    pub fn matches_everything(&self) -> bool {
        matches!(self.kind, Kind::All)
    }

    /// The keywords (lower case), for diagnostics; empty for [`Prefilter::all`].
    pub fn keywords(&self) -> &[String] {
        match &self.kind {
            Kind::All => &[],
            Kind::Keywords { keywords, .. } => keywords,
        }
    }

    /// Whether `raw` may hold a link the policy acts on.
    pub fn is_candidate(&self, raw: &[u8], encoding: Encoding) -> bool {
        let mut found = Vec::new();
        self.candidates(raw, encoding, &mut found);
        !found.is_empty()
    }

    /// Replaces the contents of `found` with the offset of each candidate in
    /// `raw`, in increasing order. An offset is where a keyword or marker
    /// starts; every link the policy acts on has one within its own bytes
    /// (between its first and last byte as written). For
    /// [`Prefilter::all`], the only offset is 0 (when `raw` is not empty):
    /// ask [`Prefilter::matches_everything`] before reading offsets.
    pub fn candidates(&self, raw: &[u8], encoding: Encoding, found: &mut Vec<usize>) {
        found.clear();
        let Kind::Keywords { finder, .. } = &self.kind else {
            if !raw.is_empty() {
                found.push(0);
            }
            return;
        };
        // Separate passes, each at the speed of its searcher, then merged:
        // candidates are rare, the bytes are many.
        finder.find(raw, found);
        found.extend(memchr::memchr_iter(b'%', raw).filter(|&i| percent_is_risky(&raw[i..])));
        if encoding == Encoding::Json {
            // Slack writes every non-ASCII character as an escape, so the
            // same few recur: the judgements of the last ones are kept, by
            // their four hex digits (a surrogate's depends on the next
            // escape too, so those are judged each time).
            let mut seen: [Option<(u32, bool)>; 64] = [None; 64];
            let mut risky = |i: usize| {
                let b = &raw[i..];
                let Some(&[h, a, c, d]) = b.get(2..6) else {
                    return escape_is_risky(b);
                };
                if matches!(h, b'd' | b'D') {
                    return escape_is_risky(b);
                }
                let key = u32::from_le_bytes([h, a, c, d]);
                let slot = &mut seen[(key.wrapping_mul(0x9E37_79B9) >> 26) as usize];
                match *slot {
                    Some((k, r)) if k == key => r,
                    _ => {
                        let r = escape_is_risky(b);
                        *slot = Some((key, r));
                        r
                    }
                }
            };
            found.extend(memchr::memmem::find_iter(raw, b"\\u").filter(|&i| risky(i)));
        }
        found.extend(NonAscii::new(raw));
        found.sort_unstable();
        found.dedup();
    }
}

/// The offsets of risky non-ASCII characters in UTF-8 bytes, 64 bytes at a
/// time: each block becomes a mask of its bytes >= 0x80 (SSE2 move-masks
/// on x86-64, a test of the four lanes ORed first), and only the set bits
/// are visited. DiscordChatExporter files have a non-ASCII letter every few
/// hundred bytes, so most blocks are passed over on one test and most of
/// the rest hold a single character. On the Discord bench files, held in
/// the cache as the scan holds them, this pass takes a quarter less time
/// than skipping a block with `is_ascii` and then eight bytes at a time.
pub(crate) struct NonAscii<'a> {
    raw: &'a [u8],
    /// Where the next block starts.
    next_block: usize,
    /// Where the block `pending` belongs to starts.
    base: usize,
    /// The bytes >= 0x80 of that block not yet visited.
    pending: u64,
    /// The first byte past the last character decoded: the continuation
    /// bytes before it are not characters of their own.
    resume: usize,
    /// Take the masks as targets without SSE2 do.
    portable: bool,
}

impl<'a> NonAscii<'a> {
    pub(crate) fn new(raw: &'a [u8]) -> NonAscii<'a> {
        NonAscii {
            raw,
            next_block: 0,
            base: 0,
            pending: 0,
            resume: 0,
            portable: !cfg!(target_arch = "x86_64"),
        }
    }

    /// The walk with the masks other targets take, so that it is tested on
    /// every machine.
    #[cfg(test)]
    pub(crate) fn portable(raw: &'a [u8]) -> NonAscii<'a> {
        NonAscii {
            portable: true,
            ..NonAscii::new(raw)
        }
    }

    /// The next block that has a byte >= 0x80: where it starts, and its
    /// mask; `None` past the end.
    #[inline]
    fn next_mask(&mut self) -> Option<(usize, u64)> {
        loop {
            let at = self.next_block;
            let rest = self.raw.get(at..).filter(|r| !r.is_empty())?;
            self.next_block = at + 64;
            let mask = match rest.first_chunk::<64>() {
                Some(block) => high_bits(block, self.portable),
                None => {
                    // The tail, padded with ASCII.
                    let mut block = [0u8; 64];
                    block[..rest.len()].copy_from_slice(rest);
                    high_bits(&block, self.portable)
                }
            };
            if mask != 0 {
                return Some((at, mask));
            }
        }
    }
}

/// Bit `i` set when byte `i` of the block is >= 0x80.
#[inline(always)]
fn high_bits(block: &[u8; 64], portable: bool) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if !portable {
        use safe_arch::{bitor_m128i, m128i, move_mask_i8_m128i};
        let lane = |k: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&block[16 * k..16 * k + 16]);
            m128i::from(b)
        };
        let lanes = [lane(0), lane(1), lane(2), lane(3)];
        let any = bitor_m128i(
            bitor_m128i(lanes[0], lanes[1]),
            bitor_m128i(lanes[2], lanes[3]),
        );
        if move_mask_i8_m128i(any) == 0 {
            return 0;
        }
        // A move-mask takes each byte's top bit: 16 bits a lane, widened.
        return lanes.iter().enumerate().fold(0u64, |m, (k, &v)| {
            m | u64::from(move_mask_i8_m128i(v) as u16) << (16 * k)
        });
    }
    let _ = portable;
    high_bits_portable(block)
}

/// [`high_bits`] eight bytes at a time: the top bits of a word, shifted to
/// the bottom of their bytes, are gathered into one byte by a
/// multiplication (byte `k`'s bit lands on bit `56 + k` of the product, and
/// no two partial products share a bit, so nothing carries into that byte).
fn high_bits_portable(block: &[u8; 64]) -> u64 {
    let mut m = 0u64;
    for (k, word) in block.chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let tops = (u64::from_le_bytes(w) & 0x8080_8080_8080_8080) >> 7;
        m |= tops.wrapping_mul(0x0102_0408_1020_4080) >> 56 << (8 * k);
    }
    m
}

impl Iterator for NonAscii<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            while self.pending == 0 {
                (self.base, self.pending) = self.next_mask()?;
            }
            let i = self.base + self.pending.trailing_zeros() as usize;
            self.pending &= self.pending - 1;
            if i < self.resume {
                // A continuation byte of the character decoded last.
                continue;
            }
            let (c, len) = decode_utf8(&self.raw[i..]);
            self.resume = i + len.max(1);
            if c.is_none_or(is_risky_char) {
                return Some(i);
            }
        }
    }
}

/// The character at the start of `b` (which starts with a byte >= 0x80) and
/// its length; `None` for invalid UTF-8 (judged risky: it is not what the
/// detector would see).
fn decode_utf8(b: &[u8]) -> (Option<char>, usize) {
    let n = match b[0] {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (None, 1),
    };
    match b.get(..n).and_then(|s| std::str::from_utf8(s).ok()) {
        Some(s) => (s.chars().next(), n),
        None => (None, 1),
    }
}

/// Whether a percent-escape at the start of `b` decodes to something a
/// keyword or marker can contain (or to another escape, or to non-ASCII).
fn percent_is_risky(b: &[u8]) -> bool {
    let (Some(h), Some(l)) = (
        b.get(1).and_then(|&x| hex(x)),
        b.get(2).and_then(|&x| hex(x)),
    ) else {
        return false;
    };
    keyword_byte(h << 4 | l)
}

/// Bytes a keyword or marker can hold, and `%` (a double escape) and
/// non-ASCII (an escaped UTF-8 look-alike).
fn keyword_byte(c: u8) -> bool {
    c >= 0x80
        || c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'.' | b'-' | b'_' | b'+' | b'~' | b'%' | b'[' | b']' | b'(' | b')' | b'{' | b'}'
        )
}

/// Whether a JSON `\uXXXX` escape at the start of `b` stands for a risky
/// character; a malformed escape is judged risky.
fn escape_is_risky(b: &[u8]) -> bool {
    // An escaped backslash before a `u` (`\\u0041`, the text `\u0041`)
    // is judged as if it were an escape: a false candidate at worst.
    let Some(unit) = hex4(b.get(2..6)) else {
        return true;
    };
    let c = match unit {
        0xD800..=0xDBFF => {
            let low = match b.get(6..8) {
                Some(b"\\u") => hex4(b.get(8..12)),
                _ => None,
            };
            match low {
                Some(lo @ 0xDC00..=0xDFFF) => {
                    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (lo - 0xDC00))
                }
                _ => return true,
            }
        }
        // The second half of a pair was judged with the first.
        0xDC00..=0xDFFF => return false,
        _ => char::from_u32(unit),
    };
    match c {
        None => true,
        Some(c) if c.is_ascii() => keyword_byte(c as u8),
        Some(c) => is_risky_char(c),
    }
}

fn hex4(b: Option<&[u8]>) -> Option<u32> {
    b?.iter()
        .try_fold(0u32, |acc, &x| Some(acc << 4 | u32::from(hex(x)?)))
}

/// Whether a non-ASCII character can take part in spelling a keyword for the
/// detector: invisible characters (dropped), wide dots, and every character
/// that UTS-46 maps to nothing or to ASCII a keyword can hold, or that
/// confusable folding turns into such ASCII. The first two planes (the
/// Basic Multilingual Plane, and the Supplementary Multilingual Plane with
/// emoji and mathematical letters, which chat repeats) are judged 64
/// characters at a time, the first time one of them is met, into a bit
/// table; the other planes as they come.
pub fn is_risky_char(c: char) -> bool {
    let cp = c as u32;
    if cp < 0x80 {
        return false;
    }
    if cp <= TABLED {
        let blocks = TABLE.get_or_init(|| {
            (0..=TABLED >> 6)
                .map(|_| OnceLock::new())
                .collect::<Box<[_]>>()
        });
        let bits = blocks[(cp >> 6) as usize].get_or_init(|| {
            let base = cp & !63;
            (0..64u32)
                .filter(|k| char::from_u32(base + k).is_some_and(|c| c as u32 >= 0x80 && judge(c)))
                .fold(0u64, |acc, k| acc | 1 << k)
        });
        return bits >> (cp & 63) & 1 == 1;
    }
    judge(c)
}

/// The last code point the bit table holds (the end of plane 1).
const TABLED: u32 = 0x1_FFFF;

static TABLE: OnceLock<Box<[OnceLock<u64>]>> = OnceLock::new();

fn judge(c: char) -> bool {
    if is_invisible_char(c) || is_wide_dot_char(c) {
        return true;
    }
    let mut buf = [0u8; 4];
    let (mapped, _errors) = idna::domain_to_unicode(c.encode_utf8(&mut buf));
    if mapped.is_empty() {
        return true;
    }
    // Only what can stand in for a byte of a keyword or marker matters: a
    // curly quote folds to `'`, which no keyword holds, so the smart
    // punctuation of chat text is not a candidate.
    mapped.chars().any(|d| {
        if d.is_ascii() {
            return keyword_byte(d as u8);
        }
        let folded: String =
            unicode_security::confusable_detection::skeleton(d.encode_utf8(&mut buf)).collect();
        folded.is_ascii() && folded.bytes().any(keyword_byte)
    })
}

#[cfg(test)]
mod tests;
