//! Runs the labelled meeting-link corpus (`rules/tests/corpus/meeting-links.dev.jsonl`,
//! or the file named by `LINKGUARD_CORPUS`) through the built-in detector and
//! compares each case's (provider, url) set with its label.

mod common;

use std::collections::BTreeSet;

use linkguard_rules::detect::{Catalogue, Detector};

const DEFAULT_CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/corpus/meeting-links.dev.jsonl"
);

#[test]
fn corpus() {
    let path = std::env::var("LINKGUARD_CORPUS").unwrap_or_else(|_| DEFAULT_CORPUS.to_owned());
    let detector = Detector::new(&Catalogue::builtin()).expect("built-in catalogue compiles");
    let cases = common::cases(&path);
    let mut failures = Vec::new();
    for case in &cases {
        let input = &case.text;
        let links = detector.report(input, case.dialect);
        for l in &links {
            assert!(
                input.is_char_boundary(l.span.start)
                    && input.is_char_boundary(l.span.end)
                    && l.span.end <= input.len(),
                "{}: span {:?} is not on char boundaries",
                case.id,
                l.span
            );
        }
        let got: BTreeSet<(String, String)> = links
            .iter()
            .map(|l| (l.provider.to_string(), l.url.clone()))
            .collect();
        if got != case.expect {
            failures.push(format!(
                "{} [{}] {}\n  text:     {input:?}\n  expected: {:?}\n  got:      {got:?}",
                case.id, case.dialect, case.note, case.expect
            ));
        }
    }
    let total = cases.len();
    let passed = total - failures.len();
    println!("corpus: {passed}/{total} passed");
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "corpus: {passed}/{total} passed; {} failed (see output above)",
        failures.len()
    );
}
