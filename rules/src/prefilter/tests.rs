use super::*;
use crate::detect::Catalogue;
use crate::eval::MessageContext;
use crate::policy::{Policy, RoomKey};
use crate::Dialect;
use proptest::prelude::*;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/corpus/meeting-links.dev.jsonl"
);

/// A policy that bans every built-in provider, so that every meeting link the
/// detector finds is one the prefilter must not miss.
fn ban_everything() -> Policy {
    let mut text = String::new();
    for id in Catalogue::builtin().ids() {
        text.push_str(&format!(
            "[[rules]]\nid = \"no-{id}\"\nproviders = [\"{id}\"]\naction = \"warn\"\n\n",
            id = id.as_str()
        ));
    }
    Policy::parse("ban-everything.toml", &text).expect("the ban-everything policy loads")
}

fn blocked(policy: &Policy, text: &str, dialect: Dialect) -> bool {
    let ctx = MessageContext {
        platform: dialect,
        ..Default::default()
    };
    policy
        .evaluate(text, &ctx, &RoomKey::new("k"))
        .occurrences
        .iter()
        .any(|v| v.block().is_some())
}

/// The ways an exporter may write `text` as a JSON string.
fn json_forms(text: &str) -> Vec<String> {
    let plain = serde_json::to_string(text).unwrap();
    let mut ascii = String::new();
    for c in plain.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    // Slack escapes `/`; some encoders escape every character.
    let slashes = ascii.replace('/', "\\/");
    let mut everything = String::from("\"");
    for c in text.chars() {
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            everything.push_str(&format!("\\u{u:04X}"));
        }
    }
    everything.push('"');
    vec![plain, ascii, slashes, everything]
}

fn corpus() -> Vec<(String, Dialect)> {
    let text = std::fs::read_to_string(CORPUS).expect("the corpus is readable");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let case: serde_json::Value = serde_json::from_str(l).unwrap();
            let dialect =
                Dialect::parse(case["platform"].as_str().unwrap_or("any")).unwrap_or(Dialect::Any);
            (case["text"].as_str().unwrap().to_owned(), dialect)
        })
        .collect()
}

/// The prefilter's promise, for one text: if the policy acts on a link in
/// it, the text and every JSON form of it hold a candidate.
fn check_promise(p: &Policy, pre: &Prefilter, text: &str, dialect: Dialect) -> Result<(), String> {
    if !blocked(p, text, dialect) {
        return Ok(());
    }
    if !pre.is_candidate(text.as_bytes(), Encoding::Text) {
        return Err(format!("no candidate in the text {text:?}"));
    }
    for form in json_forms(text) {
        if !pre.is_candidate(form.as_bytes(), Encoding::Json) {
            return Err(format!("no candidate in the JSON {form}"));
        }
    }
    Ok(())
}

#[test]
fn every_corpus_link_is_a_candidate_in_every_encoding() {
    let p = ban_everything();
    let pre = p.prefilter();
    assert!(!pre.matches_everything());
    let mut checked = 0;
    for (text, dialect) in corpus() {
        if blocked(&p, &text, dialect) {
            checked += 1;
        }
        check_promise(&p, &pre, &text, dialect).unwrap();
    }
    assert!(checked > 50, "only {checked} corpus cases have links");
}

#[test]
fn the_default_policy_looks_for_zoom_only() {
    let pre = Policy::default_policy().prefilter();
    let k = pre.keywords();
    for want in ["zoom.us", "zoom.com", "zoomgov.com", "zoommtg", "zoomus"] {
        assert!(k.iter().any(|x| x == want), "{want} missing from {k:?}");
    }
    assert!(!k.iter().any(|x| x.contains("google")), "{k:?}");
    // Ordinary chat, with accents and emoji, raw or escaped, is skipped.
    let chat = "Let's ship it today — café at 3? 🎉 see https://github.com/acme/x/pull/12 and https://meet.google.com/abc-defg-hij";
    assert!(!pre.is_candidate(chat.as_bytes(), Encoding::Text));
    for form in json_forms(chat).into_iter().take(3) {
        assert!(!pre.is_candidate(form.as_bytes(), Encoding::Json), "{form}");
    }
    // A Teams link's escapes are not the letters of a host.
    let teams = r#"{"text":"https:\/\/teams.microsoft.com\/l\/meetup-join\/19%3ameeting_x%40thread.v2\/0"}"#;
    assert!(!pre.is_candidate(teams.as_bytes(), Encoding::Json));
}

#[test]
fn candidates_are_reported_where_they_start() {
    let pre = Policy::default_policy().prefilter();
    let text = "a ZOOM.US/j/123456789 b zo\u{200B}om.us c z%6Fom.us d zoom[.]us";
    let mut hits = vec![usize::MAX];
    pre.candidates(text.as_bytes(), Encoding::Text, &mut hits);
    let starts: Vec<usize> = ["ZOOM.US", "\u{200B}", "%6F", "[.]"]
        .iter()
        .map(|n| text.find(n).unwrap())
        .collect();
    assert_eq!(hits, starts, "the old contents are replaced");
}

#[test]
fn json_escapes_are_judged_by_what_they_stand_for() {
    let pre = Policy::default_policy().prefilter();
    let yes = [
        r#""\u007aoom.us/j/123456789""#,
        r#""z\u043eom.us""#,
        r#""\ud835\udc33oom.us""#,
        r#""zoom\u002eus""#,
        r#""\u12""#,
    ];
    for j in yes {
        assert!(pre.is_candidate(j.as_bytes(), Encoding::Json), "{j}");
    }
    let no = [
        r#""caf\u00e9 \u003cb\u003e \u2014 \ud83c\udf89""#,
        r#""100%20done %3A""#,
    ];
    for j in no {
        assert!(!pre.is_candidate(j.as_bytes(), Encoding::Json), "{j}");
    }
    // As plain text, `\u` is just two characters.
    assert!(!pre.is_candidate(br"\u007a", Encoding::Text));
}

#[test]
fn look_alike_characters_are_risky_and_ordinary_letters_are_not() {
    for c in [
        '\u{043E}',
        '\u{FF5A}',
        '\u{3002}',
        '\u{200B}',
        '\u{00AD}',
        '\u{212A}',
        '\u{1D433}',
        '\u{0131}',
        '\u{00D7}',
        '\u{2013}',
    ] {
        assert!(is_risky_char(c), "{c:?} ({:04X})", c as u32);
    }
    // Look-alikes of what no keyword holds: smart quotes, a no-break
    // space, a full-width `!`.
    for c in [
        'é', 'ï', 'ß', '日', 'ж', '🎉', '—', '\u{2019}', '\u{201C}', '\u{201D}', '\u{00A0}',
        '\u{FF01}',
    ] {
        assert!(!is_risky_char(c), "{c:?} ({:04X})", c as u32);
    }
}

/// The bit table's answers are the judgements themselves, in both planes it
/// holds (emoji and mathematical letters in the second), and past them.
#[test]
fn tabled_judgements_are_the_fresh_ones() {
    let ranges = [
        0x80..=0x2FF,
        0x2000..=0x206F,
        0xFF00..=0xFFEF,
        0x1_D400..=0x1_D7FF,
        0x1_F300..=0x1_FAFF,
        0x1_FFC0..=0x2_0040,
        0xE_0000..=0xE_007F,
    ];
    for c in ranges.into_iter().flatten().filter_map(char::from_u32) {
        // Twice: the first fills the table, the second reads it.
        assert_eq!(is_risky_char(c), judge(c), "U+{:04X}", c as u32);
        assert_eq!(is_risky_char(c), judge(c), "U+{:04X}", c as u32);
    }
}

#[test]
fn every_character_the_detector_drops_is_risky() {
    let dropped: Vec<char> = (0x80..=0x10_FFFFu32)
        .filter_map(char::from_u32)
        .filter(|&c| crate::detect::is_invisible_char(c))
        .collect();
    assert!(
        dropped.len() > 4000,
        "only {} invisible characters",
        dropped.len()
    );
    for c in dropped {
        assert!(is_risky_char(c), "U+{:04X}", c as u32);
    }
}

#[test]
fn rule_patterns_make_everything_a_candidate() {
    let p = Policy::parse(
        "p.toml",
        "[[rules]]\nid = \"r\"\npatterns = ['^https://video\\.example\\.com/']\naction = \"warn\"\n",
    )
    .unwrap();
    let pre = p.prefilter();
    assert!(pre.matches_everything());
    assert!(pre.is_candidate(b"anything", Encoding::Text));
    // Custom hosts stay keywords.
    let p = Policy::parse(
        "p.toml",
        "[[rules]]\nid = \"r\"\nhosts = [\"video.example.com\"]\naction = \"warn\"\n",
    )
    .unwrap();
    let pre = p.prefilter();
    assert!(
        pre.keywords().iter().any(|k| k == "video.example.com"),
        "{:?}",
        pre.keywords()
    );
}

#[test]
fn the_prefix_search_finds_what_the_regex_finds() {
    let pre = ban_everything().prefilter();
    let patterns = searched_for(pre.keywords());
    let prefixes = Finder::new(patterns.clone(), usize::MAX).unwrap();
    assert!(matches!(prefixes, Finder::Prefixes { .. }));
    let regex = Finder::new(patterns, 0).unwrap();
    assert!(matches!(regex, Finder::Regex(_)));
    let mut compared = 0;
    for (text, _) in corpus() {
        let alternating: String = text
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        for t in [text.clone(), text.to_ascii_uppercase(), alternating] {
            for form in std::iter::once(t.clone()).chain(json_forms(&t)) {
                let (mut by_prefix, mut by_regex) = (Vec::new(), Vec::new());
                prefixes.find(form.as_bytes(), &mut by_prefix);
                regex.find(form.as_bytes(), &mut by_regex);
                // The regex's matches do not overlap; the prefix search
                // also reports a pattern that starts inside another.
                for i in &by_regex {
                    assert!(by_prefix.contains(i), "{i} missing in {form}");
                }
                compared += by_regex.len();
            }
        }
    }
    assert!(compared > 500, "only {compared} keywords met");
}

/// Ways to disguise a link that the detector sees through.
fn disguise(text: &str, how: u8, at: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let i = at % chars.len().max(1);
    let mut out = String::new();
    for (k, &c) in chars.iter().enumerate() {
        if k != i {
            out.push(c);
            continue;
        }
        match how % 8 {
            0 => out.push_str(&c.to_uppercase().to_string()),
            1 => {
                // Invisible characters of several classes: zero-width,
                // bidi isolate, tag, variation selector, Hangul filler.
                out.push(c);
                out.push(['\u{200B}', '\u{2066}', '\u{E0041}', '\u{FE0F}', '\u{3164}'][at % 5]);
            }
            2 if c == '.' => out.push_str("[.]"),
            3 if c.is_ascii_alphanumeric() => out.push_str(&format!("%{:02X}", c as u32)),
            4 if c.is_ascii_lowercase() => {
                out.push(char::from_u32(c as u32 - 0x61 + 0xFF41).unwrap());
            }
            5 if c == 'o' => out.push('\u{043E}'),
            6 if c == '.' => out.push('\u{3002}'),
            7 if c == '.' => out.push_str("(dot)"),
            _ => out.push(c),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn disguised_corpus_links_stay_candidates(case in 0usize..10_000, moves in proptest::collection::vec((0u8..8, 0usize..400), 1..6)) {
        thread_local! {
            static SETUP: (Policy, Prefilter, Vec<(String, Dialect)>) = {
                let p = ban_everything();
                let pre = p.prefilter();
                (p, pre, corpus())
            };
        }
        SETUP.with(|(p, pre, cases)| {
            let (text, dialect) = &cases[case % cases.len()];
            let mut t = text.clone();
            for (how, at) in &moves {
                t = disguise(&t, *how, *at);
            }
            check_promise(p, pre, &t, *dialect).map_err(TestCaseError::fail)
        })?;
    }
}

#[test]
fn patterns_are_reported_where_they_start_whatever_their_window() {
    let finder = Finder::new(searched_for(&["zoom.us".to_owned()]), usize::MAX).unwrap();
    let Finder::Prefixes { patterns, .. } = &finder else {
        panic!("few patterns take the window search");
    };
    let windows: Vec<&[u8]> = patterns.iter().map(Pattern::window).collect();
    assert!(windows.contains(&&b"zoo"[..]) && windows.contains(&&b"fen"[..]));
    // At the very start of the bytes, mid-way, and cut off at their end.
    let raw = "ZOOM.US first, then urlDEFENSE, then zoom.u and urldef";
    let mut found = Vec::new();
    finder.find(raw.as_bytes(), &mut found);
    found.sort_unstable();
    assert_eq!(found, vec![0, raw.find("urlDEFENSE").unwrap()]);
}

#[test]
fn remembered_escape_judgements_match_fresh_ones() {
    // Every UTF-16 unit as an escape, in both cases of hex digit, twice
    // over: the second time most judgements come from memory, and many
    // units share a memory slot.
    let mut raw = String::new();
    for _ in 0..2 {
        for unit in 0..=0xFFFFu32 {
            if unit % 3 == 0 {
                raw.push_str(&format!("\\u{unit:04X}"));
            } else {
                raw.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    let want: Vec<usize> = memchr::memmem::find_iter(raw.as_bytes(), b"\\u")
        .filter(|&i| escape_is_risky(&raw.as_bytes()[i..]))
        .collect();
    let mut got = Vec::new();
    Policy::default_policy()
        .prefilter()
        .candidates(raw.as_bytes(), Encoding::Json, &mut got);
    assert!(want.len() > 1000, "only {} risky escapes", want.len());
    assert_eq!(got, want);
}

/// With a rule that opts in to invitations, every labelled invitation block
/// is a candidate, raw and in every JSON form.
#[test]
fn invitation_blocks_are_candidates_when_a_rule_enables_them() {
    let mut text = String::new();
    for id in crate::detect::INVITATION_PROVIDERS {
        text.push_str(&format!(
            "[[rules]]\nid = \"no-{id}\"\nproviders = [\"{id}\"]\naction = \"warn\"\ndetect_invitations = true\n\n"
        ));
    }
    let p = Policy::parse("invitations.toml", &text).unwrap();
    let pre = p.prefilter();
    let cases = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/invitations.jsonl"
    ))
    .unwrap();
    let mut checked = 0;
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = case["text"].as_str().unwrap();
        let dialect = Dialect::parse(case["platform"].as_str().unwrap_or("any")).unwrap();
        if blocked(&p, text, dialect) {
            checked += 1;
        }
        check_promise(&p, &pre, text, dialect).unwrap();
    }
    assert!(checked > 20, "only {checked} invitation cases are blocked");
}

/// The risky non-ASCII characters of `raw`, found a byte at a time: the
/// reference for [`NonAscii`], which skips ASCII a block at a time.
fn non_ascii_bytewise(raw: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] < 0x80 {
            i += 1;
            continue;
        }
        let (c, len) = decode_utf8(&raw[i..]);
        if c.is_none_or(is_risky_char) {
            found.push(i);
        }
        i += len.max(1);
    }
    found
}

/// A deterministic soup of ASCII runs of every length and non-ASCII
/// characters (risky or not, cut off or invalid), so that each lands on
/// every seam of the 64-byte blocks and 8-byte words the walk skips by.
fn non_ascii_soup(seed: u64, len: usize) -> Vec<u8> {
    const PIECES: [&[u8]; 11] = [
        "é".as_bytes(),
        "ï".as_bytes(),
        "ｚ".as_bytes(),
        "о".as_bytes(),
        "😀".as_bytes(),
        "\u{200b}".as_bytes(),
        "ß".as_bytes(),
        b"\xC3",
        b"\x80\xBF",
        b"\xE0\x80\x80",
        b"%7a\\u0061",
    ];
    let mut x = seed | 1;
    let mut out = Vec::new();
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let run = (x >> 8) % 150;
        out.extend(std::iter::repeat_n(b'x', run as usize));
        out.extend_from_slice(PIECES[(x % PIECES.len() as u64) as usize]);
    }
    out.truncate(len);
    out
}

#[test]
fn the_non_ascii_walk_finds_what_a_byte_at_a_time_walk_finds() {
    for seed in 0..400 {
        let raw = non_ascii_soup(seed, 1 + (seed as usize * 53) % 900);
        let want = non_ascii_bytewise(&raw);
        let got: Vec<usize> = NonAscii::new(&raw).collect();
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&raw));
        let portable: Vec<usize> = NonAscii::portable(&raw).collect();
        assert_eq!(
            portable,
            want,
            "portable: {}",
            String::from_utf8_lossy(&raw)
        );
    }
}

#[test]
fn block_masks_of_high_bytes_agree_with_a_byte_at_a_time_mask() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..2000 {
        let mut block = [0u8; 64];
        for b in &mut block {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly ASCII, but every third block mostly not.
            let byte = (x >> 24) as u8;
            *b = if round % 3 == 0 || x.is_multiple_of(5) {
                byte
            } else {
                byte & 0x7F
            };
        }
        let want = block
            .iter()
            .enumerate()
            .fold(0u64, |m, (i, &b)| m | u64::from(b >= 0x80) << i);
        assert_eq!(high_bits(&block, false), want, "{block:?}");
        assert_eq!(high_bits(&block, true), want, "portable: {block:?}");
    }
}
