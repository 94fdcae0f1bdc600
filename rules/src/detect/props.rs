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
