//! Runs the labelled meeting-link corpus (`rules/tests/corpus/meeting-links.dev.jsonl`,
//! or the file named by `LINKGUARD_CORPUS`) through the built-in detector and
//! compares each case's (provider, url) set with its label.

use std::collections::BTreeSet;

use linkguard_rules::detect::{Catalogue, Detector};
use linkguard_rules::Dialect;
use serde_json::Value;

const DEFAULT_CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/corpus/meeting-links.dev.jsonl"
);

#[test]
fn corpus() {
    let path = std::env::var("LINKGUARD_CORPUS").unwrap_or_else(|_| DEFAULT_CORPUS.to_owned());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let detector = Detector::new(&Catalogue::builtin()).expect("built-in catalogue compiles");

    let mut total = 0;
    let mut failures = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}:{}: {e}", n + 1));
        total += 1;
        let id = case["id"].as_str().unwrap_or("?");
        let input = case["text"].as_str().expect("text is a string");
        let dialect =
            Dialect::parse(case["platform"].as_str().unwrap_or("any")).unwrap_or(Dialect::Any);
        let expected: BTreeSet<(String, String)> = case["expect"]
            .as_array()
            .expect("expect is a list")
            .iter()
            .map(|e| {
                let field = |k: &str| {
                    e[k].as_str()
                        .expect("provider and url are strings")
                        .to_owned()
                };
                (field("provider"), field("url"))
            })
            .collect();

        let links = detector.report(input, dialect);
        for l in &links {
            assert!(
                input.is_char_boundary(l.span.start)
                    && input.is_char_boundary(l.span.end)
                    && l.span.end <= input.len(),
                "{id}: span {:?} is not on char boundaries",
                l.span
            );
        }
        let got: BTreeSet<(String, String)> = links
            .iter()
            .map(|l| (l.provider.to_string(), l.url.clone()))
            .collect();
        if got != expected {
            failures.push(format!(
                "{id} [{dialect}] {}\n  text:     {input:?}\n  expected: {expected:?}\n  got:      {got:?}",
                case["note"].as_str().unwrap_or("")
            ));
        }
    }
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
