//! Reading the labelled case files of `rules/tests/corpus/`.
// Each test crate that includes this module reads a different subset of a
// case's fields.
#![allow(dead_code)]

use std::collections::BTreeSet;

use linkguard_rules::Dialect;
use serde_json::Value;

/// One labelled case.
pub struct Case {
    pub id: String,
    pub dialect: Dialect,
    pub text: String,
    /// The (provider, url) pairs to report.
    pub expect: BTreeSet<(String, String)>,
    /// A passcode that no finding and no rewrite may hold.
    pub secret: Option<String>,
    pub note: String,
}

/// Every case of a JSON Lines file; a malformed line fails with its place.
pub fn cases(path: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}:{}: {e}", n + 1));
            let field = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            let expect = v["expect"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}:{}: `expect` is a list", n + 1))
                .iter()
                .map(|e| {
                    let f = |k: &str| {
                        e[k].as_str()
                            .unwrap_or_else(|| panic!("{path}:{}: `{k}` is a string", n + 1))
                            .to_owned()
                    };
                    (f("provider"), f("url"))
                })
                .collect();
            Case {
                id: field("id"),
                dialect: Dialect::parse(&field("platform")).unwrap_or(Dialect::Any),
                text: v["text"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{path}:{}: `text` is a string", n + 1))
                    .to_owned(),
                expect,
                secret: v["secret"].as_str().map(str::to_owned),
                note: field("note"),
            }
        })
        .collect()
}
