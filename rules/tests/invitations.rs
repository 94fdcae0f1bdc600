//! Runs the labelled invitation cases (`rules/tests/corpus/invitations.jsonl`)
//! through a policy whose rules opt in to invitations (`detect_invitations`)
//! for every provider that has them, and bans every other provider's links:
//! each case's (provider, url) set must match its label, and neither a
//! finding's URL nor the rewritten message may hold the case's passcode.

mod common;

use std::collections::BTreeSet;

use linkguard_rules::detect::{Catalogue, INVITATION_PROVIDERS};
use linkguard_rules::eval::MessageContext;
use linkguard_rules::policy::{Policy, RoomKey};

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/corpus/invitations.jsonl"
);

fn policy() -> Policy {
    let mut text = String::new();
    for id in Catalogue::builtin().ids() {
        let id = id.as_str();
        let invitations = INVITATION_PROVIDERS.contains(&id);
        text.push_str(&format!(
            "[[rules]]\nid = \"no-{id}\"\nproviders = [\"{id}\"]\naction = \"replace\"\n\
             alternative = \"https://rooms.example.org/{{room}}\"\ndetect_invitations = {invitations}\n\n"
        ));
    }
    Policy::parse("invitations.toml", &text).expect("the invitations policy loads")
}

#[test]
fn invitation_cases() {
    let policy = policy();
    let key = RoomKey::new("test");
    let cases = common::cases(CASES);
    let mut failures = Vec::new();
    for case in &cases {
        let (id, input) = (&case.id, &case.text);
        let ctx = MessageContext {
            platform: case.dialect,
            ..Default::default()
        };
        let verdict = policy.evaluate(input, &ctx, &key);
        let got: BTreeSet<(String, String)> = verdict
            .occurrences
            .iter()
            .map(|v| (v.link.provider.to_string(), v.link.url.clone()))
            .collect();
        if got != case.expect {
            failures.push(format!(
                "{id}: {input:?}\n  expected {:?}\n  got      {got:?}",
                case.expect
            ));
            continue;
        }
        for v in &verdict.occurrences {
            assert!(v.block().is_some(), "{id}: every finding is banned here");
            assert!(
                input.is_char_boundary(v.link.span.start)
                    && input.is_char_boundary(v.link.span.end)
            );
        }
        if let Some(secret) = &case.secret {
            let rewritten = verdict.rewrite(input, case.dialect);
            assert!(
                !rewritten.contains(secret.as_str()),
                "{id}: the passcode survives the rewrite: {rewritten:?}"
            );
            for v in &verdict.occurrences {
                assert!(
                    !v.link.url.contains(secret.as_str()),
                    "{id}: {}",
                    v.link.url
                );
            }
        }
    }
    let total = cases.len();
    println!("invitations: {}/{total} passed", total - failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(total >= 30, "only {total} invitation cases");
}

/// Off by default: the same messages under the built-in policy and under a
/// policy that bans every provider without opting in report no block.
#[test]
fn invitations_are_off_unless_a_rule_opts_in() {
    let key = RoomKey::new("test");
    let mut plain = String::new();
    for id in Catalogue::builtin().ids() {
        plain.push_str(&format!(
            "[[rules]]\nid = \"no-{0}\"\nproviders = [\"{0}\"]\naction = \"warn\"\n\n",
            id.as_str()
        ));
    }
    let policies = [
        Policy::default_policy(),
        Policy::parse("plain.toml", &plain).unwrap(),
    ];
    for case in common::cases(CASES) {
        for p in &policies {
            let v = p.evaluate(&case.text, &MessageContext::default(), &key);
            assert!(
                v.occurrences
                    .iter()
                    .all(|o| !linkguard_rules::detect::is_invitation(&o.link.url)),
                "{}: {:?}",
                case.id,
                v.occurrences
            );
        }
    }
}
