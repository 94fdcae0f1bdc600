//! Reading what people type: words (with quotes), durations, user and
//! channel references in either platform's syntax, and the small
//! formatting helpers the answers share.

use crate::store::ExceptionTarget;
use std::time::Duration;

/// Splits a command line into words, honouring \"double\" and 'single' quotes
/// (curly quotes too, as chat clients like to produce them).
pub fn split_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q || (q == '“' && c == '”') || (q == '‘' && c == '’') => {
                quote = None
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'' | '“' | '‘') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Parses `30m`, `2h`, `7d`, `1w`, `90 minutes`, `3 days`, ….
pub fn parse_duration(words: &[String]) -> Option<Duration> {
    let joined = words.join(" ");
    let s = joined.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = s[..split].parse().ok()?;
    let unit = s[split..].trim();
    let secs = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "wk" | "week" | "weeks" => 604_800,
        _ => return None,
    };
    (n > 0).then(|| Duration::from_secs(n.saturating_mul(secs)))
}

/// Parses a user or channel reference in either platform's syntax, or the
/// CLI's `user:ID` / `channel:ID`.
pub fn parse_target(word: &str) -> Option<ExceptionTarget> {
    let w = word.trim();
    let inner = w.strip_prefix('<').and_then(|r| r.strip_suffix('>'));
    if let Some(inner) = inner {
        let inner = inner.split('|').next().unwrap_or(inner);
        if let Some(id) = inner.strip_prefix("@!").or_else(|| inner.strip_prefix('@')) {
            return (!id.is_empty()).then(|| ExceptionTarget::User(id.to_owned()));
        }
        if let Some(id) = inner.strip_prefix('#') {
            return (!id.is_empty()).then(|| ExceptionTarget::Channel(id.to_owned()));
        }
        return None;
    }
    if let Some(id) = w.strip_prefix("user:") {
        return (!id.is_empty()).then(|| ExceptionTarget::User(id.to_owned()));
    }
    if let Some(id) = w.strip_prefix("channel:") {
        return (!id.is_empty()).then(|| ExceptionTarget::Channel(id.to_owned()));
    }
    None
}

pub(super) fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 604_800 == 0 => format!("{} week(s)", s / 604_800),
        s if s % 86_400 == 0 => format!("{} day(s)", s / 86_400),
        s if s % 3600 == 0 => format!("{} hour(s)", s / 3600),
        s if s % 60 == 0 => format!("{} minute(s)", s / 60),
        s => format!("{s} second(s)"),
    }
}

pub(super) fn field_names() -> String {
    super::edit::RULE_FIELDS
        .iter()
        .map(|(f, _)| *f)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text after the first `n` words (keeps the original spacing and escapes).
pub(super) fn after_word(text: &str, n: usize) -> &str {
    let mut rest = text.trim_start();
    for _ in 0..n {
        match rest.find(char::is_whitespace) {
            Some(i) => rest = rest[i..].trim_start(),
            None => return "",
        }
    }
    rest.trim_end()
}

/// Whether `needle` occurs in `hay` as whole words.
pub(super) fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    hay.match_indices(needle).any(|(i, m)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ExceptionTarget;

    #[test]
    fn words_durations_and_targets() {
        assert_eq!(
            split_words(r#"rules add x reason="a b" 'c d'"#),
            vec!["rules", "add", "x", "reason=a b", "c d"]
        );
        assert_eq!(split_words("“quoted words” x"), vec!["quoted words", "x"]);
        let w = |s: &str| split_words(s);
        assert_eq!(parse_duration(&w("2h")), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_duration(&w("90 minutes")),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(parse_duration(&w("1w")), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration(&w("soon")), None);
        assert_eq!(parse_duration(&w("0h")), None);
        assert_eq!(
            parse_target("<@U0FAKEUSR01>"),
            Some(ExceptionTarget::User("U0FAKEUSR01".into()))
        );
        assert_eq!(
            parse_target("<@U0FAKEUSR01|alice>"),
            Some(ExceptionTarget::User("U0FAKEUSR01".into()))
        );
        assert_eq!(
            parse_target("<#C0FAKECHAN1|general>"),
            Some(ExceptionTarget::Channel("C0FAKECHAN1".into()))
        );
        assert_eq!(
            parse_target("<@!661720242585731077>"),
            Some(ExceptionTarget::User("661720242585731077".into()))
        );
        assert_eq!(
            parse_target("<#1058897594941571075>"),
            Some(ExceptionTarget::Channel("1058897594941571075".into()))
        );
        assert_eq!(
            parse_target("user:bob"),
            Some(ExceptionTarget::User("bob".into()))
        );
        assert_eq!(parse_target("@bob"), None);
        assert_eq!(
            after_word("  rules set  x reason  keep  this ", 3),
            "reason  keep  this"
        );
        assert!(contains_word("can i use zoom?", "zoom"));
        assert!(!contains_word("zoomcar please", "zoom"));
        assert!(contains_word("is google meet ok", "google meet"));
    }
}
