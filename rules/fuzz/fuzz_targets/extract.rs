//! Fuzzes link extraction: `Detector::find` must never panic, and every span
//! must lie on char boundaries inside the text, in order, for every dialect.
//!
//! Run with `cargo +nightly fuzz run extract` from `rules/`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use linkguard_rules::detect::{Catalogue, Detector};
use linkguard_rules::Dialect;

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| Detector::new(&Catalogue::builtin()).expect("built-in catalogue compiles"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for dialect in [Dialect::Slack, Dialect::Discord, Dialect::Any] {
        let links = detector().find(text, dialect);
        let mut prev_end = 0;
        for l in &links {
            assert!(
                l.span.start >= prev_end && l.span.start < l.span.end && l.span.end <= text.len()
            );
            assert!(text.is_char_boundary(l.span.start) && text.is_char_boundary(l.span.end));
            prev_end = l.span.end;
        }
        let _ = detector().report(text, dialect);
    }
});
