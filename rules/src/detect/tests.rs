//! End-to-end checks of the detector, one line per case: provider shapes
//! beyond the dev corpus, spans, dialects, wrappers and custom providers.

use super::tests_support::detector;
use super::*;
use Dialect::{Any, Discord, Slack};

/// `expected`: (provider, canonical url, text of the span) per occurrence.
fn check_with(d: &Detector, text: &str, dialect: Dialect, expected: &[(&str, &str, &str)]) {
    let got: Vec<(String, String, String)> = d
        .find(text, dialect)
        .into_iter()
        .map(|l| (l.provider.to_string(), l.url, text[l.span].to_owned()))
        .collect();
    let want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(p, u, s)| ((*p).into(), (*u).into(), (*s).into()))
        .collect();
    assert_eq!(got, want, "find({text:?}, {dialect})");
}

fn check(text: &str, dialect: Dialect, expected: &[(&str, &str, &str)]) {
    check_with(detector(), text, dialect, expected);
}

/// A single link whose span is the whole input and whose URL is canonical `url`.
fn yes(provider: &str, text: &str, url: &str) {
    check(text, Any, &[(provider, url, text)]);
}

fn no(text: &str) {
    check(text, Any, &[]);
}

#[test]
fn zoom_shapes() {
    yes(
        "zoom",
        "https://zoom.us/wc/84175525588/join?pwd=abc",
        "https://zoom.us/wc/84175525588/join?pwd=abc",
    );
    yes(
        "zoom",
        "https://zoom.us/j/123456789",
        "https://zoom.us/j/123456789",
    );
    yes(
        "zoom",
        "https://zoom.us/j/123456789012#success",
        "https://zoom.us/j/123456789012#success",
    );
    yes(
        "zoom",
        "https://zoom-x.de/j/123456789",
        "https://zoom-x.de/j/123456789",
    );
    yes(
        "zoom",
        "https://acme.zoom.us/my/ops.room?pwd=x",
        "https://acme.zoom.us/my/ops.room?pwd=x",
    );
    yes(
        "zoom",
        "zoommtg://zoom.us/join?action=join&confno=82235072966",
        "zoommtg://zoom.us/join?action=join&confno=82235072966",
    );
    no("https://zoom.us/j/12345678");
    no("https://zoom.us/j/1234567890123");
    no("https://zoom.us/join");
    no("https://zoom.us/test");
    no("https://zoom.us/download");
    no("https://zoom.us/meeting/schedule");
    no("https://zoom.us/profile");
    no("https://zoom.us/rec/play/abc");
    no("https://api.zoom.us/j/123456789");
    no("zoommtg://zoom.us/join?action=join");
}

#[test]
fn teams_shapes() {
    let launcher = "https://teams.microsoft.com/dl/launcher/launcher.html?url=%2F_%23%2Fl%2Fmeetup-join%2F19%3Ameeting_x%40thread.v2%2F0&type=meetup-join&deeplinkId=1&directDl=true";
    yes("teams", launcher, launcher);
    yes(
        "teams",
        "https://teams.cloud.microsoft/meet/2345678901234?p=abc",
        "https://teams.cloud.microsoft/meet/2345678901234?p=abc",
    );
    yes(
        "teams",
        "https://dod.teams.microsoft.us/l/meetup-join/19%3ameeting_x%40thread.v2/0",
        "https://dod.teams.microsoft.us/l/meetup-join/19%3ameeting_x%40thread.v2/0",
    );
    yes(
        "teams",
        "msteams://teams.microsoft.com/l/meetup-join/19%3ameeting_x",
        "msteams://teams.microsoft.com/l/meetup-join/19%3ameeting_x",
    );
    no("https://teams.microsoft.com/dl/launcher/launcher.html?url=%2F_%23%2Fl%2Fchat&type=chat");
    no("https://teams.microsoft.com/l/meeting/new?subject=Sync");
    no("https://teams.microsoft.com/l/channel/19%3aabc%40thread.tacv2/General?groupId=1");
    no("https://teams.microsoft.com/l/team/19%3aabc%40thread.tacv2/conversations?groupId=1");
    no("https://dialin.teams.microsoft.com/abc?id=123");
    no("https://teams.microsoft.com/meetingOptions/?organizerId=1&threadId=19_meeting_x@thread.v2");
    no("https://teams.microsoft.com/l/meetup-join/{thread_id}/0");
}

#[test]
fn meet_webex_goto_shapes() {
    yes(
        "meet",
        "https://meet.google.com/abc-defg-hij?hs=122&authuser=0",
        "https://meet.google.com/abc-defg-hij?hs=122&authuser=0",
    );
    no("https://meet.google.com/landing");
    no("https://meet.google.com/");
    no("https://meet.google.com/tel/abc-defg-hij?pin=123");
    no("https://meet.google.com/xxx-xxxx-xxx");
    yes(
        "webex",
        "https://globex.webex.com/globex/onstage/g.php?MTID=e0123abc",
        "https://globex.webex.com/globex/onstage/g.php?MTID=e0123abc",
    );
    yes(
        "webex",
        "https://globex.webex.com/wbxmjs/joinservice/sites/globex/meeting/download/abc?siteurl=globex&MTID=m0123",
        "https://globex.webex.com/wbxmjs/joinservice/sites/globex/meeting/download/abc?siteurl=globex&MTID=m0123",
    );
    no("https://globex.webex.com/globex/j.php");
    no("https://help.webex.com/en-us/article/meet/abc");
    no("https://www.webex.com/pricing/index.html");
    yes(
        "goto",
        "https://app.gotomeeting.com/?meetingId=123456789",
        "https://app.gotomeeting.com/?meetingId=123456789",
    );
    yes(
        "goto",
        "https://attendee.gotowebinar.com/register/1234567890123456789",
        "https://attendee.gotowebinar.com/register/1234567890123456789",
    );
    yes(
        "goto",
        "https://meet.goto.com/AcmeSales",
        "https://meet.goto.com/AcmeSales",
    );
    no("https://global.gotomeeting.com/install/123456789");
    no("https://meet.goto.com/install");
}

#[test]
fn other_provider_shapes() {
    yes(
        "bluejeans",
        "https://bluejeans.com/123456789/webrtc",
        "https://bluejeans.com/123456789/webrtc",
    );
    yes(
        "whereby",
        "https://acme.whereby.com/standup?minimal",
        "https://acme.whereby.com/standup?minimal",
    );
    no("https://whereby.com/user");
    yes(
        "jitsi",
        "https://meet.jit.si/Room#config.startWithAudioMuted=true",
        "https://meet.jit.si/Room#config.startWithAudioMuted=true",
    );
    no("https://jitsi.org/downloads/");
    no("https://jitsi.github.io/handbook/docs/intro");
    no("https://meet.example.org/Room");
    no("https://jitsi.example.org/");
    no("https://jitsi.example.org/libs/app.bundle.min.js");
    yes(
        "chime",
        "https://app.chime.aws/meetings/1234567890",
        "https://app.chime.aws/meetings/1234567890",
    );
    no("https://chime.aws/dialinnumbers/");
    yes(
        "ringcentral",
        "https://meetings.ringcentral.com/j/1234567890",
        "https://meetings.ringcentral.com/j/1234567890",
    );
    no("https://v.ringcentral.com/teleconference/");
    no("https://join.zoho.com/123456789");
    yes(
        "dialpad",
        "https://uberconference.com/johndoe",
        "https://uberconference.com/johndoe",
    );
    no("https://meetings.dialpad.com/international");
    no("https://around.co/pricing");
    yes(
        "livestorm",
        "https://app.livestorm.co/acme/product-demo",
        "https://app.livestorm.co/acme/product-demo",
    );
    no("https://app.slack.com/client/T0123/C0456");
    yes(
        "discord",
        "https://discord.com/invite/abcDEF?event=1234567890123456789",
        "https://discord.com/invite/abcDEF?event=1234567890123456789",
    );
    yes(
        "discord",
        "https://discordapp.com/invite/abcDEF",
        "https://discordapp.com/invite/abcDEF",
    );
    no("https://discord.gg/");
    no("https://dlscord.gg/abc");
    yes(
        "lark",
        "https://vc.feishu.cn/j/123456789",
        "https://vc.feishu.cn/j/123456789",
    );
    yes(
        "tencent",
        "https://meeting.tencent.com/p/1234567890",
        "https://meeting.tencent.com/p/1234567890",
    );
    yes(
        "bbcollab",
        "https://eu.bbcollab.com/collab/ui/session/guest/0123456789abcdef",
        "https://eu.bbcollab.com/collab/ui/session/guest/0123456789abcdef",
    );
    yes(
        "pexip",
        "https://vc.acme.example/webapp/conference/room1?pin=1",
        "https://vc.acme.example/webapp/conference/room1?pin=1",
    );
    yes(
        "pexip",
        "https://vc.acme.example/webapp/home/?conference=room1",
        "https://vc.acme.example/webapp/home/?conference=room1",
    );
    yes(
        "pexip",
        "https://pexip.me/teams/acme/123456789",
        "https://pexip.me/teams/acme/123456789",
    );
    no("https://vc.acme.example/webapp/");
    no("https://facetime.apple.com/join");
}

#[test]
fn look_alikes() {
    no("https://zoom.us.com/j/123456789");
    no("https://meet-google.com/abc-defg-hij");
    no("https://z00m.us/j/123456789");
    no("https://zoomcar.com/j/123456789");
    yes(
        "zoom",
        "https://zооm.us/j/123456789",
        "https://zoom.us/j/123456789",
    );
    yes("zoom", "zооm.us/j/123456789", "https://zoom.us/j/123456789");
    yes(
        "meet",
        "https://meet.gооgle.com/abc-defg-hij",
        "https://meet.google.com/abc-defg-hij",
    );
}

#[test]
fn canonical_form() {
    yes(
        "zoom",
        "HTTPS://Zoom.US:443/j/123456789?PWD=Ab",
        "https://zoom.us/j/123456789?PWD=Ab",
    );
    yes(
        "zoom",
        "https://zoom.us:8443/j/123456789",
        "https://zoom.us:8443/j/123456789",
    );
    yes(
        "zoom",
        "https://user:pass@zoom.us/j/123456789",
        "https://zoom.us/j/123456789",
    );
    yes(
        "zoom",
        "https://zoom.us/j/123456789?pwd=a%2Fb%7Ec",
        "https://zoom.us/j/123456789?pwd=a%2Fb~c",
    );
    yes(
        "zoom",
        "https://zoom。us/j/123456789",
        "https://zoom.us/j/123456789",
    );
    yes(
        "zoom",
        "ｚｏｏｍ．ｕｓ/j/123456789",
        "https://zoom.us/j/123456789",
    );
    yes(
        "zoom",
        "www.zoom.us/j/123456789",
        "https://www.zoom.us/j/123456789",
    );
    yes(
        "zoom",
        "hxxps[:]//zoom[.]us/j/123456789",
        "https://zoom.us/j/123456789",
    );
    yes(
        "zoom",
        "zoom(.)us/j/123456789",
        "https://zoom.us/j/123456789",
    );
    yes(
        "zoom",
        "zoom{.}us/j/123456789",
        "https://zoom.us/j/123456789",
    );
    yes(
        "zoom",
        "zoom(DOT)us/j/123456789",
        "https://zoom.us/j/123456789",
    );
}

#[test]
fn spans_in_context() {
    check(
        "join (https://zoom.us/j/123456789), or 'meet.google.com/abc-defg-hij'.",
        Any,
        &[
            (
                "zoom",
                "https://zoom.us/j/123456789",
                "https://zoom.us/j/123456789",
            ),
            (
                "meet",
                "https://meet.google.com/abc-defg-hij",
                "meet.google.com/abc-defg-hij",
            ),
        ],
    );
    check(
        "_https://zoom.us/j/123456789_ and *https://zoom.us/j/123456789*",
        Discord,
        &[
            (
                "zoom",
                "https://zoom.us/j/123456789",
                "https://zoom.us/j/123456789",
            ),
            (
                "zoom",
                "https://zoom.us/j/123456789",
                "https://zoom.us/j/123456789",
            ),
        ],
    );
    check(
        "# https://meet.google.com/abc-defg-hij\n- https://zoom.us/j/123456789\n> `https://zoom.us/j/987654321`",
        Discord,
        &[
            ("meet", "https://meet.google.com/abc-defg-hij", "https://meet.google.com/abc-defg-hij"),
            ("zoom", "https://zoom.us/j/123456789", "https://zoom.us/j/123456789"),
            ("zoom", "https://zoom.us/j/987654321", "https://zoom.us/j/987654321"),
        ],
    );
    check(
        "<https://zoom.us/j/123456789?pwd=a&amp;b=c|https://zoom.us/j/987654321> &amp; more",
        Slack,
        &[(
            "zoom",
            "https://zoom.us/j/123456789?pwd=a&b=c",
            "https://zoom.us/j/123456789?pwd=a&amp;b=c",
        )],
    );
    check(
        "[https://zoom.us/j/987654321](https://meet.google.com/abc-defg-hij)",
        Discord,
        &[(
            "meet",
            "https://meet.google.com/abc-defg-hij",
            "https://meet.google.com/abc-defg-hij",
        )],
    );
    check(
        "<http://meet.google.com/abc-defg-hij|meet.google.com/abc-defg-hij>",
        Slack,
        &[(
            "meet",
            "http://meet.google.com/abc-defg-hij",
            "http://meet.google.com/abc-defg-hij",
        )],
    );
}

#[test]
fn label_span_is_reported() {
    let text = "[Join](https://zoom.us/j/123456789)";
    let links = detector().find(text, Discord);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].label.clone().map(|l| &text[l]), Some("Join"));
}

#[test]
fn find_keeps_duplicates_and_report_dedupes() {
    let text = "https://zoom.us/j/123456789 again https://zoom.us/j/123456789 and <https://zoom.us/j/123456789>";
    assert_eq!(detector().find(text, Any).len(), 3);
    let report = detector().report(text, Any);
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].span, 0..27);
}

#[test]
fn wrappers_nest_and_spans_cover_the_wrapper() {
    let text = "see https://www.google.com/url?q=https%3A%2F%2Fnam02.safelinks.protection.outlook.com%2F%3Furl%3Dhttps%253A%252F%252Fzoom.us%252Fj%252F123456789%26data%3Dx&sa=D now";
    let links = detector().find(text, Any);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].url, "https://zoom.us/j/123456789");
    assert_eq!(&text[links[0].span.clone()], &text[4..text.len() - 4]);
}

#[test]
fn prose_and_addresses_are_not_links() {
    no("let's zoom in on that. e.g. v1.2.3 works; ok: fine");
    no("email ops@zoom.us or call tel:+16699006833");
    no("zoom dot us slash j slash 123456789");
    no("#zoom :zoom: /zoom");
    no("https://zoom.us/j/<meeting_id>");
    no("https://zoom.us/j/XXXXXXXXX");
}

#[test]
fn meeting_ids() {
    let d = detector();
    let links = d.find(
        "https://zoom.us/j/123456789?pwd=x https://globex.webex.com/meet/r.okafor",
        Any,
    );
    let ids: Vec<Option<&str>> = links.iter().map(|l| d.meeting_id(l)).collect();
    assert_eq!(ids, vec![Some("123456789"), Some("r.okafor")]);
    assert_eq!(d.provider_name(&links[0].provider), Some("Zoom"));
}

#[test]
fn custom_providers() {
    let mut c = Catalogue::builtin();
    let hosts = vec![
        "meet.acme.example".to_owned(),
        "*.vc.acme.example".to_owned(),
    ];
    let patterns = vec![r"^https://intranet\.example/rooms/\d+$".to_owned()];
    assert!(c
        .add(ProviderSpec::custom("rule:acme", "acme", &hosts, &patterns))
        .is_ok());
    let d = match Detector::new(&c) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    check_with(
        &d,
        "meet.acme.example/ops",
        Any,
        &[(
            "rule:acme",
            "https://meet.acme.example/ops",
            "meet.acme.example/ops",
        )],
    );
    check_with(
        &d,
        "https://x.vc.acme.example/r/1",
        Any,
        &[(
            "rule:acme",
            "https://x.vc.acme.example/r/1",
            "https://x.vc.acme.example/r/1",
        )],
    );
    check_with(
        &d,
        "https://vc.acme.example/r/1",
        Any,
        &[(
            "rule:acme",
            "https://vc.acme.example/r/1",
            "https://vc.acme.example/r/1",
        )],
    );
    check_with(&d, "https://meet.acme.example/", Any, &[]);
    check_with(
        &d,
        "https://intranet.example/rooms/42",
        Any,
        &[(
            "rule:acme",
            "https://intranet.example/rooms/42",
            "https://intranet.example/rooms/42",
        )],
    );
    check_with(&d, "https://intranet.example/rooms/abc", Any, &[]);
    // Built-ins still win on their own hosts.
    check_with(
        &d,
        "https://zoom.us/j/123456789",
        Any,
        &[(
            "zoom",
            "https://zoom.us/j/123456789",
            "https://zoom.us/j/123456789",
        )],
    );
}

#[test]
fn custom_spec_from_toml() {
    let spec: ProviderSpec = match toml::from_str(
        r#"
        id = "acmevc"
        name = "Acme VC"
        hosts = ["vc.acme.example"]
        schemes = ["acmevc"]
        meeting = ['^/room/\w+']
        not_meeting = ['^/room/lobby']
        "#,
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let mut c = Catalogue::empty();
    assert!(c.add(spec).is_ok());
    let d = match Detector::new(&c) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    check_with(
        &d,
        "https://vc.acme.example/room/ops",
        Any,
        &[(
            "acmevc",
            "https://vc.acme.example/room/ops",
            "https://vc.acme.example/room/ops",
        )],
    );
    check_with(
        &d,
        "acmevc://vc.acme.example/room/ops",
        Any,
        &[(
            "acmevc",
            "acmevc://vc.acme.example/room/ops",
            "acmevc://vc.acme.example/room/ops",
        )],
    );
    check_with(&d, "https://vc.acme.example/room/lobby", Any, &[]);
    check_with(&d, "https://zoom.us/j/123456789", Any, &[]);
}

/// A provider's `exclude_hosts` and `not_meeting` veto its `url_patterns`
/// matches; a later provider without vetoes still matches the same URLs.
#[test]
fn url_pattern_vetoes() {
    let mut c = Catalogue::builtin();
    let vetoing = ProviderSpec {
        exclude_hosts: vec!["docs.example.org".to_owned()],
        not_meeting: vec![r"/rooms/0+$".to_owned()],
        ..ProviderSpec::custom("vetoing", "", &[], &[r"/rooms/\d+$".to_owned()])
    };
    assert!(c.add(vetoing).is_ok());
    let d = match Detector::new(&c) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let url = "https://intranet.example/rooms/42";
    check_with(&d, url, Any, &[("vetoing", url, url)]);
    check_with(&d, "https://docs.example.org/rooms/42", Any, &[]);
    check_with(&d, "https://intranet.example/rooms/000", Any, &[]);
    let plain = ProviderSpec::custom("plain", "", &[], &[r"/rooms/\d+$".to_owned()]);
    assert!(c.add(plain).is_ok());
    let d = match Detector::new(&c) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    check_with(&d, url, Any, &[("vetoing", url, url)]);
    let excluded = "https://docs.example.org/rooms/42";
    check_with(&d, excluded, Any, &[("plain", excluded, excluded)]);
    let vetoed = "https://intranet.example/rooms/000";
    check_with(&d, vetoed, Any, &[("plain", vetoed, vetoed)]);
}
