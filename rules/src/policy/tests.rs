use super::*;
use crate::eval::{Decision, MessageContext};

/// Parses `text`, expecting one problem at `line:col` whose message contains `needle`.
fn check_error(text: &str, line: usize, column: usize, rule: Option<&str>, needle: &str) {
    let err = Policy::parse("p.toml", text).expect_err("policy should be refused");
    let p = &err.problems[0];
    let shown = err.to_string();
    assert_eq!((p.line, p.column), (line, column), "{shown}");
    assert_eq!(p.rule.as_deref(), rule, "{shown}");
    assert!(p.message.contains(needle), "{shown}");
    assert!(
        shown.starts_with(&format!("p.toml:{line}:{column}: ")),
        "{shown}"
    );
}

const RULE_HEAD: &str = "[[rules]]\nid = \"r1\"\n";

#[test]
fn default_policy_loads_and_bans_zoom_only() {
    let p = Policy::default_policy();
    let key = RoomKey::new("k");
    let ctx = MessageContext::default();
    let v = p.evaluate(
        "join https://zoom.us/j/123456789 or https://meet.google.com/abc-defg-hij",
        &ctx,
        &key,
    );
    assert_eq!(v.occurrences.len(), 2);
    let zoom = v.occurrences[0].block().expect("zoom is banned");
    assert_eq!(zoom.rule, "no-zoom");
    assert_eq!(zoom.action, Action::Replace);
    let alt = zoom.alternative.as_deref().unwrap();
    assert!(alt.starts_with("https://meet.jit.si/linkguard-"), "{alt}");
    assert_eq!(v.occurrences[1].decision, Decision::Allowed);
}

#[test]
fn unknown_provider_is_named_with_its_place() {
    let text = format!("{RULE_HEAD}providers = [\"zoom\", \"zooom\"]\nalternative = \"https://meet.jit.si/{{room}}\"\n");
    check_error(&text, 3, 22, Some("r1"), "unknown provider `zooom`");
}

#[test]
fn invalid_regex_is_named_with_its_place() {
    let text = format!("{RULE_HEAD}patterns = ['^https://vc\\.example/(']\naction = \"log\"\n");
    check_error(&text, 3, 13, Some("r1"), "invalid regex");
}

#[test]
fn oversized_regex_is_refused() {
    let text = format!("{RULE_HEAD}patterns = ['(\\w{{50}}){{200}}']\naction = \"log\"\n");
    check_error(&text, 3, 13, Some("r1"), "size limit");
}

#[test]
fn unknown_placeholder_points_into_the_template() {
    let text = format!(
        "{RULE_HEAD}providers = [\"zoom\"]\nalternative = \"https://meet.jit.si/{{meeting_id}}\"\n"
    );
    // Column of the `{` inside the string: `alternative = "` is 15 chars, the URL 20 more.
    check_error(
        &text,
        4,
        36,
        Some("r1"),
        "unknown placeholder `{meeting_id}`",
    );
}

#[test]
fn unknown_action_is_refused() {
    let text = format!("{RULE_HEAD}providers = [\"zoom\"]\naction = \"nuke\"\n");
    check_error(&text, 4, 10, Some("r1"), "unknown action `nuke`");
}

#[test]
fn rule_ids_are_checked_where_rules_are_parsed() {
    for ok in ["a", "no-zoom", "no_zoom_2", "team:b", &"x".repeat(64)] {
        assert_eq!(
            RuleId::new(ok).map(|id| id.to_string()),
            Some(ok.to_owned())
        );
    }
    for bad in ["", "No-Zoom", "no zoom", "no/zoom", "ünï", &"x".repeat(65)] {
        assert_eq!(RuleId::new(bad), None, "{bad:?}");
    }
    let text = "[[rules]]\nid = \"No Zoom\"\nproviders = [\"zoom\"]\naction = \"log\"\n";
    check_error(
        text,
        2,
        6,
        Some("No Zoom"),
        "a rule id is lower-case letters, digits, `-` and `_` (at most 64)",
    );
    let p = Policy::parse(
        "p.toml",
        "[[rules]]\nid = \"no-zoom\"\nproviders = [\"zoom\"]\naction = \"log\"\n",
    )
    .expect("valid");
    assert_eq!(p.rules()[0].id, "no-zoom");
    assert_eq!(p.rule("no-zoom").map(|r| r.id.as_str()), Some("no-zoom"));
}

#[test]
fn duplicate_rule_id_is_refused() {
    let text = "[[rules]]\nid = \"a\"\nproviders = [\"zoom\"]\naction = \"log\"\n\n[[rules]]\nid = \"a\"\nproviders = [\"webex\"]\naction = \"log\"\n";
    check_error(text, 7, 6, Some("a"), "duplicate rule id `a`");
}

#[test]
fn toml_syntax_and_unknown_keys_are_refused_with_a_place() {
    let err = Policy::parse("p.toml", "[[rules]\nid = 1\n").unwrap_err();
    assert_eq!(err.problems[0].line, 1, "{err}");
    let err =
        Policy::parse("p.toml", "[[rules]]\nid = \"r\"\nprovider = [\"zoom\"]\n").unwrap_err();
    assert!(err.to_string().contains("provider"), "{err}");
    assert_eq!(err.problems[0].line, 3, "{err}");
}

#[test]
fn every_problem_is_reported_in_order() {
    let text = "[[rules]]\nid = \"a\"\nproviders = [\"nope\"]\naction = \"x\"\n";
    let err = Policy::parse("p.toml", text).unwrap_err();
    let lines: Vec<usize> = err.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![3, 4], "{err}");
}

#[test]
fn an_alternative_the_policy_bans_is_refused() {
    let text = "[[rules]]\nid = \"no-jitsi\"\nproviders = [\"jitsi\"]\nalternative = \"https://meet.jit.si/{room}\"\n";
    let err = Policy::parse("p.toml", text).unwrap_err();
    assert!(
        err.to_string().contains("itself banned by rule `no-jitsi`"),
        "{err}"
    );
}

#[test]
fn replace_needs_an_alternative() {
    let text = "[[rules]]\nid = \"z\"\nproviders = [\"zoom\"]\n";
    let err = Policy::parse("p.toml", text).unwrap_err();
    assert!(err.to_string().contains("needs an `alternative`"), "{err}");
}

const SCOPED: &str = r#"
mode = "enforce"
[[rules]]
id = "zoom-slack-general"
providers = ["zoom"]
action = "replace"
alternative = "https://meet.jit.si/{prefix}-{room}"
reason = "no zoom"
platforms = ["slack"]
channels = ["C1"]
exempt_users = ["U-boss"]
exempt_roles = ["R-sales"]

[[rules]]
id = "teams-log"
providers = ["teams"]
action = "log"
mode = "monitor"

[[rules]]
id = "acme-vc"
hosts = ["*.vc.acme.example"]
patterns = ['^https://legacy\.example/room/']
action = "warn"
reason = "retired system"
"#;

fn decide(p: &Policy, text: &str, ctx: MessageContext<'_>) -> Vec<Option<String>> {
    p.evaluate(text, &ctx, &RoomKey::new("k"))
        .occurrences
        .iter()
        .map(|v| v.block().map(|b| b.rule.clone()))
        .collect()
}

#[test]
fn scope_and_exemptions_decide_whether_a_rule_applies() {
    let p = Policy::parse("scoped.toml", SCOPED).unwrap();
    let zoom = "https://zoom.us/j/123456789";
    let base = MessageContext {
        platform: Dialect::Slack,
        workspace: "T1",
        channel: "C1",
        user: "U1",
        roles: &[],
        excepted: false,
    };
    assert_eq!(
        decide(&p, zoom, base),
        vec![Some("zoom-slack-general".into())]
    );
    assert_eq!(
        decide(
            &p,
            zoom,
            MessageContext {
                channel: "C2",
                ..base
            }
        ),
        vec![None]
    );
    assert_eq!(
        decide(
            &p,
            zoom,
            MessageContext {
                platform: Dialect::Discord,
                ..base
            }
        ),
        vec![None]
    );
    assert_eq!(
        decide(
            &p,
            zoom,
            MessageContext {
                user: "U-boss",
                ..base
            }
        ),
        vec![None]
    );
    let sales = vec!["R-sales".to_owned()];
    assert_eq!(
        decide(
            &p,
            zoom,
            MessageContext {
                roles: &sales,
                ..base
            }
        ),
        vec![None]
    );
    assert_eq!(
        decide(
            &p,
            zoom,
            MessageContext {
                excepted: true,
                ..base
            }
        ),
        vec![None]
    );
}

#[test]
fn monitor_rules_and_custom_hosts_and_patterns() {
    let p = Policy::parse("scoped.toml", SCOPED).unwrap();
    let ctx = MessageContext::default();
    let key = RoomKey::new("k");
    let v = p.evaluate(
        "https://teams.microsoft.com/meet/379038692660365?p=OxrPUo7Gpkm1obpI",
        &ctx,
        &key,
    );
    let b = v.occurrences[0].block().unwrap();
    assert!(b.monitor);
    assert_eq!(v.action(), None, "monitor-mode bans ask for no action");
    assert_eq!(
        decide(
            &p,
            "see https://eu.vc.acme.example/r/42 and https://legacy.example/room/7",
            ctx
        ),
        vec![Some("acme-vc".into()), Some("acme-vc".into())]
    );
    assert_eq!(
        decide(&p, "https://legacy.example/other", ctx),
        Vec::<Option<String>>::new()
    );
}

/// Rules whose patterns overlap: the detector finds a link by the first
/// pattern that matches it, and that pattern's rule decides it only where
/// the rule applies; elsewhere a later pattern's (or host's) rule does, and
/// a rule before the finding pattern never does by pattern.
#[test]
fn overlapping_patterns_fall_through_to_the_next_rule_that_applies() {
    let p = Policy::parse(
        "overlap.toml",
        r#"
[[rules]]
id = "exempt-here"
patterns = ['^https://vc\.example\.org/room/[0-9]+']
action = "warn"
exempt_channels = ["C-open"]
reason = "first"

[[rules]]
id = "hosts-after"
hosts = ["other.example.net"]
action = "warn"
reason = "a host rule between"

[[rules]]
id = "slack-only"
patterns = ['/room/[0-9]{3,}']
platforms = ["slack"]
action = "warn"
reason = "second"

[[rules]]
id = "catch-all"
patterns = ['vc\.example\.org/']
action = "log"
reason = "third"
"#,
    )
    .unwrap();
    let link = "join https://vc.example.org/room/12345 now";
    let slack = MessageContext {
        platform: Dialect::Slack,
        channel: "C-busy",
        ..MessageContext::default()
    };
    assert_eq!(decide(&p, link, slack), vec![Some("exempt-here".into())]);
    let open = MessageContext {
        channel: "C-open",
        ..slack
    };
    assert_eq!(decide(&p, link, open), vec![Some("slack-only".into())]);
    let discord_open = MessageContext {
        platform: Dialect::Discord,
        ..open
    };
    assert_eq!(
        decide(&p, link, discord_open),
        vec![Some("catch-all".into())]
    );
    // Found by the second rule's pattern: the first rule's does not match.
    let short = "https://other.example.net/room/123 and https://vc.example.org/x";
    assert_eq!(
        decide(&p, short, open),
        vec![Some("hosts-after".into()), Some("catch-all".into())]
    );
    assert_eq!(
        decide(&p, "https://elsewhere.example/room/1234", discord_open),
        vec![None]
    );
}

#[test]
fn policy_wide_monitor_mode_turns_every_ban_into_a_record() {
    let text = SCOPED.replace("mode = \"enforce\"", "mode = \"monitor\"");
    let p = Policy::parse("m.toml", &text).unwrap();
    let v = p.evaluate(
        "https://eu.vc.acme.example/r/42",
        &MessageContext::default(),
        &RoomKey::new("k"),
    );
    assert!(v.occurrences[0].block().unwrap().monitor);
}

#[test]
fn positions_count_characters_not_bytes() {
    let pos = Positions::new("é = 1\nab");
    assert_eq!(pos.at(0), (1, 1));
    assert_eq!(pos.at(2), (1, 2));
    assert_eq!(pos.at(7), (2, 1));
    assert_eq!(pos.at(8), (2, 2));
}

#[test]
fn invitations_need_a_provider_that_has_them() {
    let text = format!(
        "{RULE_HEAD}providers = [\"jitsi\"]\naction = \"warn\"\ndetect_invitations = true\n"
    );
    check_error(
        &text,
        5,
        22,
        Some("r1"),
        "`detect_invitations` needs one of",
    );
    let text = format!(
        "{RULE_HEAD}providers = [\"zoom\"]\naction = \"warn\"\ndetect_invitations = \"yes\"\n"
    );
    check_error(&text, 5, 22, None, "invalid type");
}

#[test]
fn an_opted_in_rule_decides_invitations_and_others_do_not() {
    let p = Policy::parse(
        "p.toml",
        "[[rules]]\nid = \"zoom-links\"\nproviders = [\"zoom\"]\naction = \"warn\"\n\n\
         [[rules]]\nid = \"zoom-invites\"\nproviders = [\"zoom\"]\naction = \"replace\"\n\
         alternative = \"https://meet.jit.si/{room}\"\ndetect_invitations = true\n",
    )
    .unwrap();
    let key = RoomKey::new("k");
    let text =
        "standup: Meeting ID: 855 1234 5678 / Passcode: 4Fq9x1 (or https://zoom.us/j/85512345678)";
    let v = p.evaluate(text, &MessageContext::default(), &key);
    assert_eq!(v.occurrences.len(), 2, "{v:?}");
    let block = &v.occurrences[0];
    assert_eq!(
        block.link.url,
        "invitation:zoom/85512345678?passcode=redacted"
    );
    assert_eq!(
        &text[block.link.span.clone()],
        "Meeting ID: 855 1234 5678 / Passcode: 4Fq9x1"
    );
    assert_eq!(block.block().unwrap().rule, "zoom-invites");
    assert_eq!(v.occurrences[1].block().unwrap().rule, "zoom-links");
    assert_eq!(p.detector().meeting_id(&block.link), Some("85512345678"));
    let rewritten = v.rewrite(text, Dialect::Any);
    assert!(
        !rewritten.contains("4Fq9x1") && !rewritten.contains("Meeting ID"),
        "{rewritten}"
    );
    assert!(
        rewritten.starts_with("standup: https://meet.jit.si/"),
        "{rewritten}"
    );
    // The prefilter keeps such a message, raw and as JSON.
    let pre = p.prefilter();
    assert!(pre.is_candidate(
        b"Meeting ID: 855 1234 5678",
        crate::prefilter::Encoding::Text
    ));
    assert!(pre.is_candidate(
        br#"{"text":"Meeting\u0020ID: 855 1234 5678"}"#,
        crate::prefilter::Encoding::Json
    ));
    // Teams blocks are nobody's business here.
    let teams = "Microsoft Teams meeting\nMeeting ID: 264 183 392 744 150\nPasscode: Mt3bF2";
    assert!(p
        .evaluate(teams, &MessageContext::default(), &key)
        .occurrences
        .is_empty());
}

/// `url_host` takes what follows the first `://` up to the first `/`, `?`,
/// `#` or `:`, as the plain string operations would.
#[test]
fn url_host_is_the_authority_before_path_query_fragment_or_port() {
    let reference = |url: &str| -> Option<String> {
        let rest = url.split_once("://")?.1;
        let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    };
    for url in [
        "https://zoom.us/j/1",
        "https://conf.example.com:8443/x",
        "https://a.example?x=1",
        "https://a.example#frag",
        "https://a.example",
        "zoommtg://zoom.us/join?confno=1",
        "tel:+15550100",
        "sip:x://y/z",
        "https:/nope",
        "://lead",
        "",
        "a:",
        "https://",
        "https://éxample.test/ü",
    ] {
        assert_eq!(url_host(url).map(str::to_owned), reference(url), "{url}");
    }
}
