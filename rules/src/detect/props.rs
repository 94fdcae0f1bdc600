//! Property tests: the detector never panics, and its spans always lie on
//! char boundaries inside the text, in order and without overlap. The inputs
//! are built from the pieces that make link syntax tricky, so the properties
//! reach the parsers' corners (a stable-toolchain stand-in for the fuzz target).

use proptest::prelude::*;

use super::tests_support::detector;
use crate::link::Dialect;

const PIECES: &[&str] = &[
    "https://",
    "http://",
    "hxxps://",
    "zoom.us/j/123456789",
    "meet.google.com/abc-defg-hij",
    "zoom[.]us",
    "[dot]",
    "(dot)",
    "[:]",
    ".",
    ":",
    "/",
    "?",
    "#",
    "&",
    "&amp;",
    "&lt;",
    "&gt;",
    "<",
    ">",
    "|",
    "||",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    "](",
    "](<",
    "<a href=\"",
    "\">",
    "</a>",
    "`",
    "```",
    "**",
    "__",
    "~~",
    "@",
    "%",
    "%6A",
    "%E2%82",
    "xn--",
    "xn--ggle-55da",
    "urldefense.com/v3/__",
    "__;",
    "JSUl",
    "!!",
    "*",
    "**A",
    "safelinks.protection.outlook.com/?url=",
    "www.google.com/url?q=",
    "msteams:",
    "zoommtg://",
    "mailto:",
    "\u{200b}",
    "\u{ad}",
    "．",
    "。",
    "ｚｏｏｍ",
    "zооm",
    "链接",
    "👍",
    "é",
    " ",
    "\n",
    "x",
    "1",
    "-",
];

fn message() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat())
}

fn dialect() -> impl Strategy<Value = Dialect> {
    prop::sample::select(vec![Dialect::Slack, Dialect::Discord, Dialect::Any])
}

fn check_spans(text: &str, dialect: Dialect) -> Result<(), TestCaseError> {
    let links = detector().find(text, dialect);
    let mut prev_end = 0;
    for l in &links {
        prop_assert!(
            l.span.start < l.span.end && l.span.end <= text.len(),
            "span {:?} out of {}",
            l.span,
            text.len()
        );
        prop_assert!(text.is_char_boundary(l.span.start) && text.is_char_boundary(l.span.end));
        prop_assert!(
            l.span.start >= prev_end,
            "spans overlap or are out of order: {links:?}"
        );
        prev_end = l.span.end;
        if let Some(label) = &l.label {
            prop_assert!(
                label.end <= text.len()
                    && text.is_char_boundary(label.start)
                    && text.is_char_boundary(label.end)
            );
        }
        prop_assert!(!l.url.is_empty());
    }
    let report = detector().report(text, dialect);
    prop_assert!(report.len() <= links.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_and_spans_are_sound(text in message(), dialect in dialect()) {
        check_spans(&text, dialect)?;
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in any::<String>(), dialect in dialect()) {
        check_spans(&text, dialect)?;
    }

    /// A meeting link dropped into prose is found, with exactly its own span.
    #[test]
    fn planted_link_is_found_with_its_span(
        before in "[a-z ,.!?]{0,40}",
        after in "[a-z ,.!?]{0,40}",
        id in 100_000_000u64..999_999_999_999,
        dialect in dialect(),
    ) {
        let url = format!("https://zoom.us/j/{id}");
        let text = format!("{before} {url} {after}");
        let links = detector().find(&text, dialect);
        prop_assert_eq!(links.len(), 1);
        prop_assert_eq!(&text[links[0].span.clone()], url.as_str());
        prop_assert_eq!(&links[0].url, &url);
    }
}

/// The labelled corpus: (text, dialect) of every case.
fn corpus() -> &'static [(String, Dialect)] {
    static CORPUS: std::sync::OnceLock<Vec<(String, Dialect)>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/corpus/meeting-links.dev.jsonl"
        );
        let text = std::fs::read_to_string(path).expect("the corpus is readable");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a corpus line is JSON");
                let dialect =
                    Dialect::parse(v["platform"].as_str().unwrap_or("any")).unwrap_or(Dialect::Any);
                (v["text"].as_str().unwrap_or("").to_owned(), dialect)
            })
            .collect()
    })
}

/// The corpus cases in which the detector finds links.
fn corpus_with_links() -> &'static [&'static (String, Dialect)] {
    static WITH: std::sync::OnceLock<Vec<&'static (String, Dialect)>> = std::sync::OnceLock::new();
    WITH.get_or_init(|| {
        corpus()
            .iter()
            .filter(|(t, d)| !detector().find(t, *d).is_empty())
            .collect()
    })
}

/// The `n`th (modulo their number) character the detector drops: every
/// `Default_Ignorable_Code_Point` and bidi control, from the generated table.
fn nth_invisible(n: usize) -> char {
    use super::ignorable::IGNORABLE;
    let total: usize = IGNORABLE
        .iter()
        .map(|&(lo, hi)| (hi - lo + 1) as usize)
        .sum();
    let mut n = n % total;
    for &(lo, hi) in IGNORABLE {
        let len = (hi - lo + 1) as usize;
        if n < len {
            return char::from_u32(lo + n as u32).expect("the table holds no surrogates");
        }
        n -= len;
    }
    unreachable!("n is below the total")
}

/// Each occurrence's provider, URL, span and label, with offsets after the
/// inserted character at `at` (`len` bytes) moved back: what the occurrence
/// was before the insertion.
type Seen = (String, String, (usize, usize), Option<(usize, usize)>);

fn occurrences(text: &str, dialect: Dialect, at: usize, len: usize) -> Vec<Seen> {
    let back = |o: usize| if o > at { o - len } else { o };
    detector()
        .find(text, dialect)
        .into_iter()
        .map(|l| {
            (
                l.provider.to_string(),
                l.url,
                (back(l.span.start), back(l.span.end)),
                l.label.map(|r| (back(r.start), back(r.end))),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Inserting any default-ignorable code point (or bidi control) at any
    /// position of any corpus link, the scheme included, changes neither
    /// what is found nor where: the span grows by the inserted character.
    #[test]
    fn an_invisible_character_anywhere_in_a_corpus_link_changes_nothing(
        case in any::<prop::sample::Index>(),
        link in any::<prop::sample::Index>(),
        offset in any::<prop::sample::Index>(),
        which in any::<usize>(),
    ) {
        let with_links = corpus_with_links();
        let (text, dialect) = with_links[case.index(with_links.len())];
        let before = occurrences(text, *dialect, usize::MAX, 0);
        let span = &before[link.index(before.len())].2;
        let bounds: Vec<usize> = (span.0..=span.1).filter(|&i| text.is_char_boundary(i)).collect();
        let at = bounds[offset.index(bounds.len())];
        let c = nth_invisible(which);
        let mut changed = text.clone();
        changed.insert(at, c);
        let after = occurrences(&changed, *dialect, at, c.len_utf8());
        prop_assert_eq!(
            &after,
            &before,
            "U+{:04X} at byte {} of {:?}",
            c as u32,
            at,
            changed
        );
    }
}

/// The property above, walked through completely: every position of every
/// corpus link, with a character from each class of the table in turn.
#[test]
fn every_position_of_every_corpus_link_ignores_invisible_characters() {
    use super::ignorable::IGNORABLE;
    let mut checked = 0;
    let mut failures = Vec::new();
    for (text, dialect) in corpus_with_links() {
        let before = occurrences(text, *dialect, usize::MAX, 0);
        for (_, _, span, _) in &before {
            for at in (span.0..=span.1).filter(|&i| text.is_char_boundary(i)) {
                let (lo, hi) = IGNORABLE[checked % IGNORABLE.len()];
                let cp = if checked % 2 == 0 { lo } else { hi };
                let c = char::from_u32(cp).expect("the table holds no surrogates");
                let mut changed = text.clone();
                changed.insert(at, c);
                if occurrences(&changed, *dialect, at, c.len_utf8()) != before {
                    failures.push(format!("U+{cp:04X} at {at} of {changed:?}"));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "only {checked} insertions");
    assert!(
        failures.is_empty(),
        "{} of {checked} insertions changed the findings:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
