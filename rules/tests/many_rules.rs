//! A policy of many custom rules decides exactly as a plain rule-by-rule
//! reading of it would: for every link found, the first rule in file order
//! whose provider, host or pattern covers it and whose scope applies. The
//! compiled policy finds that rule through hash lookups and one `RegexSet`;
//! this checks the shortcut against the definition on generated traffic,
//! and that every planted link is found and no near miss is banned.

#[path = "../benches/custom_rules.rs"]
mod custom_rules;
#[path = "../benches/traffic.rs"]
mod traffic;

use linkguard_rules::eval::{Decision, MessageContext};
use linkguard_rules::policy::{Policy, RoomKey, Rule};
use linkguard_rules::{Dialect, Link};
use regex::Regex;

const RULES: usize = 600;

/// A rule's matchers compiled one by one: the definition, not the index.
struct Plain {
    patterns: Vec<Regex>,
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn covers(rule: &Rule, plain: &Plain, link: &Link) -> bool {
    let provider = link.provider.as_str();
    if rule.providers.iter().any(|p| p.as_str() == provider)
        || provider == format!("rule:{}", rule.id)
    {
        return true;
    }
    if let Some(host) = host_of(&link.url) {
        for h in &rule.hosts {
            let hit = match h.strip_prefix("*.") {
                Some(apex) => host == apex || host.ends_with(&format!(".{apex}")),
                None => host == h,
            };
            if hit {
                return true;
            }
        }
    }
    plain.patterns.iter().any(|re| re.is_match(&link.url))
}

/// The first covering, applicable rule's id, or `None`.
fn reference<'p>(
    policy: &'p Policy,
    plain: &[Plain],
    link: &Link,
    ctx: &MessageContext<'_>,
) -> Option<&'p str> {
    policy
        .rules()
        .iter()
        .zip(plain)
        .find(|(r, p)| covers(r, p, link) && r.applies(ctx))
        .map(|(r, _)| r.id.as_str())
}

fn setup() -> (Policy, Vec<Plain>) {
    let policy = Policy::parse("many", &custom_rules::policy(RULES)).expect("valid policy");
    let plain = policy
        .rules()
        .iter()
        .map(|r| Plain {
            patterns: r
                .patterns
                .iter()
                .map(|p| Regex::new(p).expect("pattern"))
                .collect(),
        })
        .collect();
    (policy, plain)
}

fn contexts() -> Vec<MessageContext<'static>> {
    let base = MessageContext {
        platform: Dialect::Slack,
        workspace: "T0FAKETEAM1",
        channel: "C0FAKECHAN1",
        user: "U0FAKEUSR01",
        ..MessageContext::default()
    };
    vec![
        base,
        MessageContext {
            platform: Dialect::Discord,
            ..base
        },
        MessageContext {
            channel: "C0FAKEEXEMPT",
            ..base
        },
    ]
}

#[test]
fn indexed_decisions_equal_rule_by_rule_decisions() {
    let (policy, plain) = setup();
    let key = RoomKey::new("test");
    let msgs = custom_rules::traffic(7, 1 << 18, RULES);
    let mut blocked = 0;
    let mut links = 0;
    for ctx in contexts() {
        for m in &msgs {
            for o in policy.evaluate(m, &ctx, &key).occurrences {
                links += 1;
                let expected = reference(&policy, &plain, &o.link, &ctx);
                let got = match &o.decision {
                    Decision::Blocked(b) => Some(b.rule.as_str()),
                    Decision::Allowed => None,
                };
                assert_eq!(got, expected, "{m:?} in {ctx:?}: link {:?}", o.link.url);
                blocked += usize::from(got.is_some());
            }
        }
    }
    // The traffic exercises both outcomes in quantity.
    assert!(links > 2_500, "{links} links");
    assert!(blocked > 700 && blocked < links, "{blocked} of {links}");
}

#[test]
fn every_planted_link_is_found_and_no_near_miss_is_banned() {
    let (policy, plain) = setup();
    let key = RoomKey::new("test");
    let ctx = contexts()[0];
    let mut rng = traffic::Rng::new(11);
    for i in 0..RULES {
        for _ in 0..3 {
            let link = custom_rules::banned_link(&mut rng, i);
            let text = format!("join me: {link} thanks");
            let v = policy.evaluate(&text, &ctx, &key);
            assert_eq!(v.occurrences.len(), 1, "{text}");
            let o = &v.occurrences[0];
            let rule = o.block().map(|b| b.rule.clone());
            assert_eq!(
                rule.as_deref(),
                reference(&policy, &plain, &o.link, &ctx),
                "{text}"
            );
            // Rule i covers its own link; only an earlier rule can win.
            let n: usize = rule
                .as_deref()
                .and_then(|r| r.strip_prefix("custom-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{text} not banned by a custom rule: {rule:?}"));
            assert!(n <= i, "{text}: decided by custom-{n}");
            // A rule scoped to Slack leaves its link alone on Discord.
            let d = MessageContext {
                platform: Dialect::Discord,
                ..ctx
            };
            let on_discord = policy.evaluate(&text, &d, &key);
            let expected = on_discord
                .occurrences
                .first()
                .and_then(|o| reference(&policy, &plain, &o.link, &d));
            let got = on_discord
                .occurrences
                .first()
                .and_then(|o| o.block().map(|b| b.rule.as_str()));
            assert_eq!(got, expected, "{text} on discord");
        }
        let miss = custom_rules::near_miss(&mut rng, i);
        let v = policy.evaluate(&format!("see {miss}"), &ctx, &key);
        assert!(
            v.occurrences.iter().all(|o| o.block().is_none()),
            "{miss} banned: {v:?}"
        );
    }
}
