//! Rewriting: swap each banned link for its alternative, in the message's own
//! dialect, and change nothing else byte-for-byte.
//!
//! Only the link target's span is replaced. A label (`<url|label>`,
//! `[label](url)`) is kept unless it shows the banned link itself (its host
//! appears in the label), in which case the label becomes the alternative too,
//! so the message never displays the banned URL.

use crate::eval::LinkVerdict;
use crate::Dialect;
use std::ops::Range;

/// Escapes text for the dialect it is inserted into.
pub fn escape_for(dialect: Dialect, text: &str) -> String {
    match dialect {
        Dialect::Slack => escape_slack(text),
        Dialect::Discord | Dialect::Any => text.to_owned(),
    }
}

/// Slack's three escapes, `&`, `<` and `>`, so inserted text cannot open a
/// control sequence such as `<!channel>`.
pub fn escape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn host_of(url: &str) -> Option<&str> {
    crate::policy::url_host(url).filter(|h| !h.is_empty())
}

/// Rewrites `text`, replacing every banned occurrence that has an alternative.
pub fn rewrite(text: &str, dialect: Dialect, occurrences: &[LinkVerdict]) -> String {
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for v in occurrences {
        let Some(block) = v.block() else { continue };
        let Some(alt) = &block.alternative else {
            continue;
        };
        let replacement = escape_for(dialect, alt);
        if let Some(label) = &v.link.label {
            let shows_link = text.get(label.clone()).is_some_and(|l| {
                let l = l.to_ascii_lowercase();
                host_of(&v.link.url).is_some_and(|h| l.contains(h))
                    || text
                        .get(v.link.span.clone())
                        .is_some_and(|t| !t.is_empty() && l.contains(&t.to_ascii_lowercase()))
            });
            if shows_link {
                edits.push((label.clone(), replacement.clone()));
            }
        }
        edits.push((v.link.span.clone(), replacement));
    }
    if edits.is_empty() {
        return text.to_owned();
    }
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len() + edits.len() * 32);
    let mut at = 0;
    for (range, replacement) in edits {
        // Overlapping or malformed spans are skipped rather than mangling text.
        if range.start < at || range.end > text.len() || range.start > range.end {
            continue;
        }
        let (Some(before), true) = (text.get(at..range.start), text.is_char_boundary(range.end))
        else {
            continue;
        };
        out.push_str(before);
        out.push_str(&replacement);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}
