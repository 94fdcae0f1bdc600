//! Finding link candidates in a message's raw text (corpus README, steps 1
//! and 2): the link syntax of each dialect, then URL-shaped tokens.
//!
//! Two passes over the text, both driven by `memchr`:
//! - *regions*: Slack `<target|label>` and mentions, Markdown masks
//!   `[label](target)`, HTML anchors. Their labels are display text and are
//!   never scanned; their targets are candidates as they stand.
//! - *tokens*: everywhere else, a run of URL characters around a `.`, `:`
//!   or `/` is cut out, and the URL inside it is trimmed of leading and
//!   trailing formatting and punctuation. Tokens with neither `//` nor a dot
//!   (plain, defanged or full-width) are dropped at once, so prose is cheap.
//!
//! Whether a candidate is a meeting link is decided later; this module only
//! promises spans that lie on char boundaries inside the text.

use std::ops::Range;

use memchr::{memchr, memchr2, memchr3};

use super::url::{find_scheme_visible, is_invisible, is_wide_dot, strip_invisible, SchemeHit};
use crate::link::Dialect;

/// Labels and targets longer than this are not parsed as link syntax; the
/// text is scanned as plain tokens instead. Bounds the work per `<` and `[`.
const MAX_SYNTAX_LEN: usize = 8192;

/// A piece of the raw text that may be a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The URL as written, formatting and punctuation trimmed.
    pub span: Range<usize>,
    /// The display label, for link syntax that has one.
    pub label: Option<Range<usize>>,
    /// Whether the URL carries no scheme (`zoom.us/j/…`).
    pub bare: bool,
}

/// Cheap test that rejects most messages without links in one `memchr`
/// pass: a link needs a `.`, a `:` or a `/`. (A defanged `[dot]` or
/// full-width host without any of them has no path, and every meeting link
/// has one.)
pub(crate) fn may_contain_link(text: &str) -> bool {
    memchr3(b'.', b':', b'/', text.as_bytes()).is_some()
}

/// The next `[dot]` / `(dot)` (any case; the index of its `d`) or full-width
/// full stop (U+FF0E, U+FF61) at or after `from`: the dots of a bare host
/// written defanged or in full-width forms (`ｚｏｏｍ．ｕｓ/j/…`).
fn next_rare_trigger(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = memchr3(b']', b')', 0xEF, b.get(i..)?) {
        let at = i + off;
        if b[at] == 0xEF {
            if matches!(b.get(at + 1..at + 3), Some([0xBC, 0x8E] | [0xBD, 0xA1])) {
                return Some(at);
            }
        } else if at >= 4
            && matches!(b[at - 4], b'[' | b'(')
            && b[at - 3..at].eq_ignore_ascii_case(b"dot")
            && at - 3 >= from
        {
            return Some(at - 3);
        }
        i = at + 1;
    }
    None
}

/// ASCII bytes that may appear inside a URL token: RFC 3986 characters
/// (`{` and `}` too, for `{.}` defanging and so that a template stays one
/// token), but not `"`, `<`, `>`, `\\`, `^`, backtick, `|` or whitespace.
const TOKEN_ASCII: [bool; 128] = {
    let mut t = [false; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'?'
                    | b'#'
                    | b'['
                    | b']'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b'{'
                    | b'}'
            );
        c += 1;
    }
    t
};

/// Whether `c` may appear inside a URL token.
pub(crate) fn is_token_char(c: char) -> bool {
    if c.is_ascii() {
        return TOKEN_ASCII[c as usize];
    }
    is_invisible(c) || is_wide_dot(c) || (c.is_alphanumeric() && !is_cjk(c))
}

/// CJK, kana and Hangul end a URL even though they are letters: chat in those
/// scripts puts text right after a link without a space.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF
        | 0x2E80..=0x2FFF
        | 0x3000..=0x31FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF
        | 0xFF66..=0xFF9F
        | 0x20000..=0x3FFFF)
}

/// Calls `emit` for every candidate, in order of appearance.
pub(crate) fn scan(
    text: &str,
    dialect: Dialect,
    app_schemes: &[Box<str>],
    emit: &mut dyn FnMut(Candidate),
) {
    let s = Scanner {
        text,
        entities: dialect != Dialect::Discord,
        slack_syntax: dialect != Dialect::Discord,
        markdown: dialect != Dialect::Slack,
        app_schemes,
    };
    s.run(emit);
}

struct Scanner<'a> {
    text: &'a str,
    /// Slack's `&lt;` / `&gt;` end a token.
    entities: bool,
    /// `<target|label>` and `<@mention>` are link syntax.
    slack_syntax: bool,
    /// `[label](target)` is link syntax.
    markdown: bool,
    app_schemes: &'a [Box<str>],
}

/// Link syntax found in the text.
struct Region {
    range: Range<usize>,
    target: Option<Range<usize>>,
    label: Option<Range<usize>>,
}

impl Scanner<'_> {
    fn run(&self, emit: &mut dyn FnMut(Candidate)) {
        let b = self.text.as_bytes();
        let mut gap_start = 0;
        let mut i = 0;
        while let Some(off) = memchr2(b'<', b'[', &b[i..]) {
            let at = i + off;
            let region = if b[at] == b'<' {
                self.html_anchor(at).or_else(|| {
                    if self.slack_syntax {
                        self.slack_entity(at)
                    } else {
                        None
                    }
                })
            } else if self.markdown {
                self.mask(at)
            } else {
                None
            };
            match region {
                Some(r) => {
                    self.scan_gap(gap_start, r.range.start, emit);
                    if let Some(t) = r.target {
                        self.explicit(t, r.label, emit);
                    }
                    gap_start = r.range.end;
                    i = r.range.end;
                }
                None => i = at + 1,
            }
            if i >= b.len() {
                break;
            }
        }
        self.scan_gap(gap_start, b.len(), emit);
    }

    /// `<target|label>`, `<target>`, and the non-link `<@U…>`, `<#C…|name>`,
    /// `<!here>`.
    fn slack_entity(&self, at: usize) -> Option<Region> {
        let b = self.text.as_bytes();
        let content_start = at + 1;
        let limit = b.len().min(content_start + MAX_SYNTAX_LEN);
        let gt = content_start + memchr(b'>', &b[content_start..limit])?;
        let content = &b[content_start..gt];
        if content.is_empty() || content.iter().any(|&c| c == b'<' || c == b'\n') {
            return None;
        }
        let range = at..gt + 1;
        if matches!(content[0], b'@' | b'#' | b'!') {
            return Some(Region {
                range,
                target: None,
                label: None,
            });
        }
        let bar = memchr(b'|', content).map(|o| content_start + o);
        let target = content_start..bar.unwrap_or(gt);
        let t = &b[target.clone()];
        if t.iter().any(|c| c.is_ascii_whitespace()) || !t.iter().any(|&c| c == b':' || c == b'.') {
            return None;
        }
        Some(Region {
            range,
            target: Some(target),
            label: bar.map(|bar| bar + 1..gt),
        })
    }

    /// `[label](target)` and `[label](<target>)`.
    fn mask(&self, at: usize) -> Option<Region> {
        let b = self.text.as_bytes();
        let limit = b.len().min(at + 1 + MAX_SYNTAX_LEN);
        let close = at + 1 + memchr(b']', &b[at + 1..limit])?;
        if b[at + 1..close].iter().any(|&c| c == b'[' || c == b'\n')
            || b.get(close + 1) != Some(&b'(')
        {
            return None;
        }
        let open = close + 1;
        let (target, end) = if b.get(open + 1) == Some(&b'<') {
            let t0 = open + 2;
            let gt = t0 + memchr(b'>', &b[t0..b.len().min(t0 + MAX_SYNTAX_LEN)])?;
            if b.get(gt + 1) != Some(&b')') {
                return None;
            }
            (t0..gt, gt + 2)
        } else {
            let t0 = open + 1;
            let mut depth = 0usize;
            let mut j = t0;
            loop {
                match b.get(j) {
                    None => return None,
                    Some(c) if c.is_ascii_whitespace() || *c == b'<' || *c == b'>' => return None,
                    Some(b'(') => depth += 1,
                    Some(b')') if depth == 0 => break,
                    Some(b')') => depth -= 1,
                    Some(_) => {}
                }
                j += 1;
                if j - t0 > MAX_SYNTAX_LEN {
                    return None;
                }
            }
            (t0..j, j + 1)
        };
        let t = &b[target.clone()];
        if t.is_empty() || !t.iter().any(|&c| c == b':' || c == b'.') {
            return None;
        }
        Some(Region {
            range: at..end,
            target: Some(target),
            label: Some(at + 1..close),
        })
    }

    /// `<a href="target" …>label</a>` pasted as text.
    fn html_anchor(&self, at: usize) -> Option<Region> {
        let b = self.text.as_bytes();
        if !(b.get(at + 1).is_some_and(|c| c.eq_ignore_ascii_case(&b'a'))
            && b.get(at + 2).is_some_and(u8::is_ascii_whitespace))
        {
            return None;
        }
        let limit = b.len().min(at + MAX_SYNTAX_LEN);
        let gt = at + memchr(b'>', &b[at..limit])?;
        let tag = &self.text[at..gt];
        let href = find_ci(tag, "href")?;
        let mut j = at + href + 4;
        while b.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if b.get(j) != Some(&b'=') {
            return None;
        }
        j += 1;
        while b.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        let quote = *b.get(j).filter(|q| matches!(q, b'"' | b'\''))?;
        let t0 = j + 1;
        let t1 = t0 + memchr(quote, &b[t0..gt])?;
        let label_start = gt + 1;
        let label_limit = b.len().min(label_start + MAX_SYNTAX_LEN);
        let (label, end) = match find_ci(&self.text[label_start..label_limit], "</a>") {
            Some(o) => (Some(label_start..label_start + o), label_start + o + 4),
            None => (None, gt + 1),
        };
        Some(Region {
            range: at..end,
            target: Some(t0..t1),
            label,
        })
    }

    /// A target given by link syntax: used as written (whitespace trimmed).
    fn explicit(
        &self,
        t: Range<usize>,
        label: Option<Range<usize>>,
        emit: &mut dyn FnMut(Candidate),
    ) {
        let raw = &self.text[t.clone()];
        let start = t.start + (raw.len() - raw.trim_start().len());
        let end = t.end - (raw.len() - raw.trim_end().len());
        if start >= end {
            return;
        }
        let tok = &self.text[start..end];
        let (from, bare) = match find_scheme_visible(tok, self.app_schemes) {
            SchemeHit::At(o) => (start + o, false),
            SchemeHit::Opaque => return,
            SchemeHit::None => match tok.char_indices().find(|(_, c)| c.is_alphanumeric()) {
                Some((o, _)) => (start + o, true),
                None => return,
            },
        };
        emit(Candidate {
            span: from..end,
            label,
            bare,
        });
    }

    /// Scans `[lo, hi)`, text outside link syntax, for URL tokens.
    fn scan_gap(&self, lo: usize, hi: usize, emit: &mut dyn FnMut(Candidate)) {
        if lo >= hi {
            return;
        }
        let b = &self.text.as_bytes()[..hi];
        let mut i = lo;
        while let Some(off) = memchr3(b'.', b':', b'/', &b[i..]) {
            let p = i + off;
            let (ts, te) = self.token_bounds(p, lo, hi);
            self.token(ts, te, emit);
            i = te.max(p + 1);
            if i >= hi {
                break;
            }
        }
    }

    /// The run of URL characters around byte `p`, an ASCII trigger.
    fn token_bounds(&self, p: usize, lo: usize, hi: usize) -> (usize, usize) {
        let text = self.text;
        let b = text.as_bytes();
        let mut s = p;
        while s > lo {
            let c = b[s - 1];
            if c < 0x80 {
                if !TOKEN_ASCII[c as usize]
                    || (self.entities && c == b';' && ends_with_entity(&b[lo..s]))
                {
                    break;
                }
                s -= 1;
            } else {
                let Some(ch) = text[lo..s].chars().next_back() else {
                    break;
                };
                if !is_token_char(ch) {
                    break;
                }
                s -= ch.len_utf8();
            }
        }
        let mut e = p;
        while e < hi {
            let c = b[e];
            if c < 0x80 {
                if !TOKEN_ASCII[c as usize]
                    || (self.entities && c == b'&' && starts_with_entity(&b[e..hi]))
                {
                    break;
                }
                e += 1;
            } else {
                let Some(ch) = text[e..hi].chars().next() else {
                    break;
                };
                if !is_token_char(ch) {
                    break;
                }
                e += ch.len_utf8();
            }
        }
        (s, e)
    }

    /// Cuts the URL out of token `[ts, te)`.
    fn token(&self, ts: usize, te: usize, emit: &mut dyn FnMut(Candidate)) {
        let tok = &self.text[ts..te];
        // Most tokens in prose (`:tada:`, `e.g`) have neither `//` nor a dot:
        // reject those before any parsing.
        let tb = tok.as_bytes();
        if memchr(b'.', tb).is_none()
            && memchr::memmem::find(tb, b"//").is_none()
            && !has_host_dot(tok)
        {
            let app = memchr(b':', tb).is_some_and(|_| !self.app_schemes.is_empty());
            if !app {
                return;
            }
        }
        let (mut start, bare) = match find_scheme_visible(tok, self.app_schemes) {
            SchemeHit::At(o) => (ts + o, false),
            SchemeHit::Opaque => return,
            SchemeHit::None => match tok.char_indices().find(|(_, c)| c.is_alphanumeric()) {
                Some((o, _)) => (ts + o, true),
                None => return,
            },
        };
        if bare {
            // `Join:zoom.us/j/…`: a word and a colon glued to a bare host.
            let head_end = self.text[start..te]
                .find(['/', '?', '#'])
                .map_or(te, |o| start + o);
            if let Some(colon) = self.text[start..head_end].rfind(':') {
                let after = &self.text[start + colon + 1..head_end];
                if !after.bytes().all(|c| c.is_ascii_digit()) {
                    match self.text[start + colon + 1..te]
                        .char_indices()
                        .find(|(_, c)| c.is_alphanumeric())
                    {
                        Some((o, _)) => start = start + colon + 1 + o,
                        None => return,
                    }
                }
            }
        }
        let end = trim_end(self.text, start, te);
        if end > start && (!bare || has_host_dot(&self.text[start..end])) {
            emit(Candidate {
                span: start..end,
                label: None,
                bare,
            });
        }
    }
}

fn ends_with_entity(b: &[u8]) -> bool {
    b.ends_with(b"&lt;") || b.ends_with(b"&gt;")
}

fn starts_with_entity(b: &[u8]) -> bool {
    b.starts_with(b"&lt;") || b.starts_with(b"&gt;")
}

/// A bare host needs a dot: plain, wide or defanged.
fn has_host_dot(s: &str) -> bool {
    let visible = strip_invisible(s);
    let s = &*visible;
    let b = s.as_bytes();
    memchr(b'.', b).is_some() || next_rare_trigger(b, 0).is_some() || s.chars().any(is_wide_dot)
}

/// Drops trailing punctuation, formatting and unbalanced closing brackets.
fn trim_end(text: &str, start: usize, mut end: usize) -> usize {
    // The formatting that opened the link (`~~`, `__`), seen through any
    // invisible character between it and the link.
    let before = text[..start].chars().rev().find(|&c| !is_invisible(c));
    // Bracket counts (open, close) of `(`, `[`, `{`, computed only when a
    // bracket ends the URL: most URLs never need them.
    let mut counts: Option<[(usize, usize); 3]> = None;
    while end > start {
        let Some(c) = text[start..end].chars().next_back() else {
            break;
        };
        let kind = match c {
            '(' | ')' => Some(0),
            '[' | ']' => Some(1),
            '{' | '}' => Some(2),
            _ => None,
        };
        if let Some(k) = kind {
            let counts = counts.get_or_insert_with(|| {
                let mut n = [(0, 0); 3];
                for &b in &text.as_bytes()[start..end] {
                    match b {
                        b'(' => n[0].0 += 1,
                        b')' => n[0].1 += 1,
                        b'[' => n[1].0 += 1,
                        b']' => n[1].1 += 1,
                        b'{' => n[2].0 += 1,
                        b'}' => n[2].1 += 1,
                        _ => {}
                    }
                }
                n
            });
            let (open, close) = &mut counts[k];
            if matches!(c, ')' | ']' | '}') {
                if *close <= *open {
                    break;
                }
                *close -= 1;
            } else {
                *open -= 1;
            }
            end -= 1;
            continue;
        }
        let trim = match c {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' => true,
            '_' | '~' => before == Some(c),
            c => is_invisible(c) || is_wide_dot(c),
        };
        if !trim {
            break;
        }
        end -= c.len_utf8();
    }
    end
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The candidate spans (as text) and labels found in `text`.
    fn check(text: &str, dialect: Dialect, expected: &[(&str, Option<&str>)]) {
        let apps: Vec<Box<str>> = vec!["msteams".into(), "zoommtg".into()];
        let mut got = Vec::new();
        scan(text, dialect, &apps, &mut |c| {
            got.push((
                text[c.span.clone()].to_owned(),
                c.label.map(|l| text[l].to_owned()),
            ));
        });
        let want: Vec<(String, Option<String>)> = expected
            .iter()
            .map(|(a, b)| ((*a).to_owned(), b.map(str::to_owned)))
            .collect();
        assert_eq!(got, want, "scan({text:?}, {dialect})");
    }

    use Dialect::{Any, Discord, Slack};

    #[test]
    fn plain_tokens_are_trimmed() {
        check(
            "see https://zoom.us/j/1.",
            Any,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "(link: https://zoom.us/j/1).",
            Any,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "https://en.wikipedia.org/wiki/Rust_(lang))",
            Any,
            &[("https://en.wikipedia.org/wiki/Rust_(lang)", None)],
        );
        check(
            "join https://meet.google.com/a?? now!!",
            Any,
            &[("https://meet.google.com/a", None)],
        );
        check(
            "~~https://zoom.us/j/1~~ x",
            Discord,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "**https://zoom.us/j/1**",
            Discord,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "||https://zoom.us/j/1||",
            Discord,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "`https://zoom.us/j/1`",
            Discord,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "“https://zoom.us/j/1”",
            Any,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "«https://zoom.us/j/1»",
            Any,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "「https://zoom.us/j/1」",
            Any,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "链接https://meet.google.com/a，谢谢",
            Any,
            &[("https://meet.google.com/a", None)],
        );
        check(
            "https://zoom.us/j/1👍",
            Any,
            &[("https://zoom.us/j/1", None)],
        );
        check(
            "https://zoom.us/j/1…",
            Any,
            &[("https://zoom.us/j/1", None)],
        );
    }

    #[test]
    fn bare_and_defanged_tokens() {
        check("zoom.us/j/1", Discord, &[("zoom.us/j/1", None)]);
        check(
            "見てｚｏｏｍ．ｕｓ/j/1。",
            Any,
            &[("ｚｏｏｍ．ｕｓ/j/1", None)],
        );
        check(
            "x us02web[dot]zoom[dot]us/j/1 y",
            Any,
            &[("us02web[dot]zoom[dot]us/j/1", None)],
        );
        check(
            "hxxps://zoom[.]us/j/1",
            Any,
            &[("hxxps://zoom[.]us/j/1", None)],
        );
        check("Join:zoom.us/j/1", Any, &[("zoom.us/j/1", None)]);
        check("mail jane@zoom.us", Any, &[("jane@zoom.us", None)]);
        check("dial tel:+1669,,962#", Any, &[]);
    }

    #[test]
    fn slack_syntax() {
        check(
            "<https://a.example/x|https://zoom.us/j/1>",
            Slack,
            &[("https://a.example/x", Some("https://zoom.us/j/1"))],
        );
        check(
            "<@U04> <#C03|eng.standup> <!here> <https://meet.google.com/a>",
            Slack,
            &[("https://meet.google.com/a", None)],
        );
        check(
            "&lt;https://zoom.us/j/1&gt;",
            Slack,
            &[("https://zoom.us/j/1", None)],
        );
        check("<mailto:a@zoom.us|a@zoom.us>", Slack, &[]);
        check(
            "[Join](<https://zoom.us/j/1>)",
            Slack,
            &[("https://zoom.us/j/1", None)],
        );
    }

    #[test]
    fn markdown_and_html() {
        check(
            "[https://zoom.us/j/1](https://a.example)",
            Discord,
            &[("https://a.example", Some("https://zoom.us/j/1"))],
        );
        check(
            "[tap](<https://zoom.us/j/1>)",
            Discord,
            &[("https://zoom.us/j/1", Some("tap"))],
        );
        check(
            "[Join](<https://zoom.us/j/1>)",
            Any,
            &[("https://zoom.us/j/1", Some("Join"))],
        );
        check(
            "<a href=\"https://meet.google.com/a\">https://b.example</a>",
            Any,
            &[("https://meet.google.com/a", Some("https://b.example"))],
        );
        // Discord has no `<target|label>`: both halves are visible links.
        check(
            "<https://a.example|https://zoom.us/j/1>",
            Discord,
            &[("https://a.example", None), ("https://zoom.us/j/1", None)],
        );
    }

    #[test]
    fn prose_triggers_do_not_make_candidates_out_of_nothing() {
        check("let's zoom in. ok: fine", Any, &[]);
        check(
            "v1.2 e.g. file.txt",
            Any,
            &[("v1.2", None), ("e.g", None), ("file.txt", None)],
        );
        check("", Any, &[]);
        check("[[[[(((<<<", Any, &[]);
    }
}
