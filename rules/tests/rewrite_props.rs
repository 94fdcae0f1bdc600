//! Properties of rewriting, over generated messages that mix prose, markup
//! and meeting links in every dialect:
//! - text outside the replaced spans is unchanged, byte for byte, in order;
//! - a rewritten message has no banned link left;
//! - rewriting is idempotent.

use linkguard_rules::eval::MessageContext;
use linkguard_rules::policy::{Policy, RoomKey};
use linkguard_rules::Dialect;
use proptest::prelude::*;
use std::sync::OnceLock;

fn policy() -> &'static Policy {
    static POLICY_CELL: OnceLock<Policy> = OnceLock::new();
    POLICY_CELL.get_or_init(|| Policy::parse("props.toml", POLICY).expect("test policy is valid"))
}

const POLICY: &str = r#"
[[rules]]
id = "no-zoom"
providers = ["zoom"]
alternative = "https://meet.jit.si/{prefix}-{room}"

[[rules]]
id = "no-webex"
providers = ["webex"]
action = "reply"
alternative = "https://teams.microsoft.com/l/meetup-join/{room}?x=1&y=2"

[[rules]]
id = "log-goto"
providers = ["goto"]
action = "log"
"#;

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("hello".to_owned()),
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        Just("&amp; <@U123> <!here> `code` ||spoiler|| **bold** ".to_owned()),
        Just("https://zoom.us/j/92147718123?pwd=abc.1".to_owned()),
        Just("<https://acme.zoom.us/j/81731411461|join here>".to_owned()),
        Just("<http://zoom.us/j/91622609287|zoom.us/j/91622609287>".to_owned()),
        Just("[Join](https://us02web.zoom.us/j/97292293535)".to_owned()),
        Just("(https://zoom.us/j/84640446752).".to_owned()),
        Just("hxxps://zoom[.]us/j/86513523397".to_owned()),
        Just("https://globex.webex.com/meet/r.okafor".to_owned()),
        Just("https://meet.goto.com/955137679".to_owned()),
        Just("https://meet.google.com/cqg-tona-zhh".to_owned()),
        Just("https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F85863766985&data=05".to_owned()),
        "[a-zA-Z0-9 .,:/<>|()\\[\\]&;é💬]{0,12}",
    ]
}

fn message() -> impl Strategy<Value = (String, Dialect)> {
    (
        proptest::collection::vec(fragment(), 0..8),
        prop_oneof![
            Just(Dialect::Slack),
            Just(Dialect::Discord),
            Just(Dialect::Any)
        ],
    )
        .prop_map(|(parts, d)| (parts.join(" "), d))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn rewrite_keeps_the_rest_and_leaves_no_banned_link((text, dialect) in message()) {
        let policy = policy();
        let key = RoomKey::new("props");
        let ctx = MessageContext { platform: dialect, ..MessageContext::default() };
        let verdict = policy.evaluate(&text, &ctx, &key);
        let out = verdict.rewrite(&text, dialect);

        // Everything outside the replaced spans (and labels) survives in order.
        let mut cuts: Vec<std::ops::Range<usize>> = Vec::new();
        for v in &verdict.occurrences {
            if v.block().and_then(|b| b.alternative.as_ref()).is_some() {
                cuts.push(v.link.span.clone());
                if let Some(l) = &v.link.label { cuts.push(l.clone()); }
            }
        }
        cuts.sort_by_key(|r| r.start);
        let mut at = 0;
        let mut found_from = 0;
        for c in cuts.iter().chain(std::iter::once(&(text.len()..text.len()))) {
            if c.start < at { continue; }
            let kept = &text[at..c.start];
            let pos = out[found_from..].find(kept);
            prop_assert!(pos.is_some(), "kept text {kept:?} missing from {out:?}");
            found_from += pos.unwrap() + kept.len();
            at = c.end;
        }

        // No banned link with an alternative is left.
        let again = policy.evaluate(&out, &ctx, &key);
        for v in &again.occurrences {
            if let Some(b) = v.block() {
                prop_assert!(b.alternative.is_none(), "banned link left: {:?} in {out:?}", v.link);
            }
        }
        // Idempotent.
        prop_assert_eq!(again.rewrite(&out, dialect), out.clone());
    }
}
