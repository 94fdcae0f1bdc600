//! Meeting invitations pasted as text: a provider's meeting ID (or phone
//! conference ID, meeting number, PIN) and its passcode, with no link.
//!
//! People paste a whole calendar invitation into chat: "Meeting ID: 855 1234
//! 5678 / Passcode: 4Fq9x1", "Phone conference ID: 123 456 789#", "Meeting
//! number: 2550 123 4567 / Password: …", "PIN: 123 456 789#". Each block is a
//! finding of its own, reported only for providers that a rule opts in for
//! (`detect_invitations = true`): the corpus conventions say that a meeting
//! ID written without a link is not a meeting *link*, and that stays the
//! default.
//!
//! A finding's span covers the block as written (label, ID, and the passcode
//! label and value when one follows), so that `replace` removes all of it.
//! A phone "one tap" dial string elsewhere in the same message that carries
//! the same ID (`+16699006833,,85512345678#,,,,*123456#`) is a further
//! occurrence of the same finding. The canonical form never holds the
//! passcode: `invitation:zoom/85512345678?passcode=redacted`.
//!
//! Labels are the English ones the providers' invitation e-mails use; which
//! provider a block belongs to is decided by its label (`Webinar ID` is Zoom's,
//! `Phone conference ID` Teams', `Meeting number` Webex's, `PIN` Google
//! Meet's), else by the provider named nearest to it in the message, else by
//! the length of the ID (Teams IDs have 12 to 15 digits, Zoom's 9 to 11).

use std::ops::Range;

use regex::Regex;

use super::url::is_invisible;
use crate::link::{Link, ProviderId};

/// The scheme of an invitation finding's canonical form.
pub const INVITATION_SCHEME: &str = "invitation:";

/// Providers whose invitation blocks the finder knows.
pub const INVITATION_PROVIDERS: [&str; 5] = ["zoom", "teams", "webex", "meet", "goto"];

/// Literals one of which (ASCII case ignored) every block the finder reports
/// starts with: what the prefilter looks for when a rule enables invitations.
pub const INVITATION_KEYWORDS: [&str; 5] = ["meeting", "webinar", "conference", "access", "pin"];

/// The label, the ID and an optional passcode that follows within two lines.
/// Markdown emphasis around labels and values is allowed (`**Meeting ID:**`).
const BLOCK: &str = r"(?ix)
    (?P<label>
        \b(?:meeting|webinar)[\ \t]?(?:id|number)(?:[\ \t]*\([^)\n]{0,30}\))?
      | \b(?:phone[\ \t])?conference[\ \t]?id
      | \baccess[\ \t]code
      | \bpin
    )
    [*_~`]*[\ \t]*[:：][*_~`]*[\ \t]*
    (?P<id>\d(?:[\ \t\x{a0}.\-]?\d){8,14})(?:[\ \t]*\#)?
    (?:
        [*_~`]*[\ \t]*(?:[/|,;·•][\ \t]*)?(?:\r?\n[\ \t>]*){0,2}[*_~`]*
        (?P<plabel>\b(?:meeting[\ \t])?(?:passcode|password|pass[\ \t]code|pwd))
        [*_~`]*[\ \t]*[:：][*_~`]*[\ \t]*
        (?P<pass>[^\s*`|~]{1,64})
    )?";

/// A phone dial string that carries a meeting ID after a pause: `+1 669
/// 900 6833,,85512345678#,,,,*123456#`.
const DIAL: &str = r"(?x)
    (?:\+?\d[\d\ ().\-]{5,20}\d)?,+(?P<id>\d{9,15})\#(?:,+\*?\d{0,16}\#?)*";

/// Compiled once per policy that enables invitations.
#[derive(Debug, Clone)]
pub struct InvitationFinder {
    block: Regex,
    dial: Regex,
}

/// One invitation block found.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    provider: &'static str,
    id: String,
    passcode: bool,
    span: Range<usize>,
}

impl InvitationFinder {
    /// Compiles the finder's patterns.
    pub fn new() -> InvitationFinder {
        let compile = |p: &str| match Regex::new(p) {
            Ok(r) => r,
            // Fixed patterns: `invitation_patterns_compile` compiles them.
            Err(e) => panic!("invitation pattern: {e}"),
        };
        InvitationFinder {
            block: compile(BLOCK),
            dial: compile(DIAL),
        }
    }

    /// Every invitation block of a provider `wanted` accepts, and every dial
    /// string that repeats one's ID, in order of appearance. Invisible
    /// characters (as in links) do not hide a label; spans are into `text`.
    pub fn find(&self, text: &str, wanted: &dyn Fn(&str) -> bool) -> Vec<Link> {
        if text.is_ascii() || !text.chars().any(is_invisible) {
            return self.find_visible(text, wanted);
        }
        // `at[i]`: where byte `i` of the visible text is in `text`.
        let mut visible = String::with_capacity(text.len());
        let mut at = Vec::with_capacity(text.len());
        for (i, c) in text.char_indices().filter(|&(_, c)| !is_invisible(c)) {
            at.extend(i..i + c.len_utf8());
            visible.push(c);
        }
        let mut links = self.find_visible(&visible, wanted);
        for l in &mut links {
            l.span = at[l.span.start]..at[l.span.end - 1] + 1;
        }
        links
    }

    fn find_visible(&self, text: &str, wanted: &dyn Fn(&str) -> bool) -> Vec<Link> {
        let mut out = Vec::new();
        // Every block has a `:` and digits; most messages have neither.
        if memchr::memchr2(b':', 0xEF, text.as_bytes()).is_none()
            || !text.bytes().any(|b| b.is_ascii_digit())
        {
            return out;
        }
        let mut blocks: Vec<Block> = Vec::new();
        for c in self.block.captures_iter(text) {
            let (Some(all), Some(label), Some(id)) = (c.get(0), c.name("label"), c.name("id"))
            else {
                continue;
            };
            // More digits right after the ID (one separator apart) mean a
            // longer number than any meeting ID: not one.
            let after = &text[id.end()..];
            let after = after
                .strip_prefix([' ', '\t', '\u{a0}', '.', '-'])
                .unwrap_or(after);
            if after.starts_with(|ch: char| ch.is_ascii_digit()) {
                continue;
            }
            let digits: String = id.as_str().chars().filter(char::is_ascii_digit).collect();
            let Some(provider) = provider_of(text, label.as_str(), &digits, all.start()) else {
                continue;
            };
            if !wanted(provider) {
                continue;
            }
            let pass = c.name("pass");
            let end = match pass {
                Some(p) => p.start() + trim_value(p.as_str()).len(),
                None => all.end(),
            };
            blocks.push(Block {
                provider,
                id: digits,
                passcode: pass.is_some_and(|p| !trim_value(p.as_str()).is_empty()),
                span: label.start()..end,
            });
        }
        if blocks.is_empty() {
            return out;
        }
        let mut found: Vec<(Range<usize>, usize)> = blocks
            .iter()
            .enumerate()
            .map(|(i, b)| (b.span.clone(), i))
            .collect();
        for c in self.dial.captures_iter(text) {
            let (Some(all), Some(id)) = (c.get(0), c.name("id")) else {
                continue;
            };
            let Some(i) = blocks.iter().position(|b| b.id == id.as_str()) else {
                continue;
            };
            let span = all.range();
            if !found
                .iter()
                .any(|(s, _)| s.start < span.end && span.start < s.end)
            {
                found.push((span, i));
            }
        }
        found.sort_by_key(|(s, _)| s.start);
        for (span, i) in found {
            let b = &blocks[i];
            let Some(provider) = ProviderId::new(b.provider) else {
                continue;
            };
            out.push(Link {
                provider,
                url: canonical(b),
                span,
                label: None,
            });
        }
        out
    }
}

impl Default for InvitationFinder {
    fn default() -> InvitationFinder {
        InvitationFinder::new()
    }
}

/// `invitation:<provider>/<id>`, with `?passcode=redacted` when the block
/// gave one: the passcode itself is never kept.
fn canonical(b: &Block) -> String {
    let mut url = format!("{INVITATION_SCHEME}{}/{}", b.provider, b.id);
    if b.passcode {
        url.push_str("?passcode=redacted");
    }
    url
}

/// Whether a finding's canonical URL is an invitation block's.
pub fn is_invitation(url: &str) -> bool {
    url.starts_with(INVITATION_SCHEME)
}

/// The meeting ID of an invitation finding.
pub(crate) fn invitation_id(url: &str) -> Option<&str> {
    let rest = url.strip_prefix(INVITATION_SCHEME)?;
    let id = rest.split_once('/')?.1;
    Some(id.split('?').next().unwrap_or(id))
}

/// A passcode value without trailing sentence punctuation or closing
/// brackets (`Passcode: 4Fq9x1.`).
fn trim_value(v: &str) -> &str {
    v.trim_end_matches(['.', ',', ';', ')', ']', '"', '\'', '”', '’'])
}

/// Which provider a block belongs to, or `None` when it cannot be told.
fn provider_of(text: &str, label: &str, digits: &str, at: usize) -> Option<&'static str> {
    let label = label.to_ascii_lowercase();
    let named = nearest_provider(text, at);
    if label.starts_with("webinar") {
        return Some("zoom");
    }
    if label.contains("conference") {
        return Some("teams");
    }
    if label == "pin" {
        return (named == Some("meet")).then_some("meet");
    }
    if label.starts_with("access") {
        return named.filter(|p| matches!(*p, "webex" | "goto"));
    }
    if label.contains("number") {
        return Some("webex");
    }
    // `Meeting ID`: Zoom, Teams, Webex and GoTo all use it.
    if let Some(p) = named {
        if p != "meet" {
            return Some(p);
        }
    }
    match digits.len() {
        9..=11 => Some("zoom"),
        12..=15 => Some("teams"),
        _ => None,
    }
}

/// The provider named closest to `at` in the text (before it preferred):
/// invitation e-mails name their product in a header or a link.
fn nearest_provider(text: &str, at: usize) -> Option<&'static str> {
    const NAMES: [(&str, &str); 9] = [
        ("zoom", "zoom"),
        ("microsoft teams", "teams"),
        ("teams.microsoft", "teams"),
        ("teams.live", "teams"),
        ("webex", "webex"),
        ("google meet", "meet"),
        ("meet.google", "meet"),
        ("tel.meet", "meet"),
        ("goto", "goto"),
    ];
    let lower = text.to_ascii_lowercase();
    let before = &lower[..at.min(lower.len())];
    let mut best_before: Option<(usize, &'static str)> = None;
    let mut best_after: Option<(usize, &'static str)> = None;
    for (name, provider) in NAMES {
        if let Some(i) = before.rfind(name) {
            if best_before.is_none_or(|(b, _)| i > b) {
                best_before = Some((i, provider));
            }
        }
        if let Some(i) = lower.get(at..).and_then(|s| s.find(name)) {
            if best_after.is_none_or(|(b, _)| i < b) {
                best_after = Some((i, provider));
            }
        }
    }
    best_before.or(best_after).map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<(String, String, String)> {
        InvitationFinder::new()
            .find(text, &|_| true)
            .into_iter()
            .map(|l| {
                (
                    l.provider.to_string(),
                    l.url.clone(),
                    text[l.span.clone()].to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn invitation_patterns_compile() {
        let _ = InvitationFinder::new();
    }

    #[test]
    fn zoom_block_on_one_line_and_on_two() {
        assert_eq!(
            find("Meeting ID: 855 1234 5678 / Passcode: 4Fq9x1"),
            vec![(
                "zoom".into(),
                "invitation:zoom/85512345678?passcode=redacted".into(),
                "Meeting ID: 855 1234 5678 / Passcode: 4Fq9x1".into()
            )]
        );
        let text = "Join Zoom Meeting\nMeeting ID: 855 1234 5678\nPasscode: 4Fq9x1.\nthanks";
        assert_eq!(
            find(text)[0].2,
            "Meeting ID: 855 1234 5678\nPasscode: 4Fq9x1"
        );
    }

    #[test]
    fn provider_comes_from_label_context_or_length() {
        let teams = "Microsoft Teams meeting\nMeeting ID: 264 183 392 744 150\nPasscode: Mt3bF2";
        assert_eq!(find(teams)[0].0, "teams");
        assert_eq!(find("Meeting ID: 264 183 392 744 150")[0].0, "teams");
        let webex = "Meeting number: 2550 123 4567\nPassword: AbCd1234";
        assert_eq!(
            find(webex)[0].1,
            "invitation:webex/25501234567?passcode=redacted"
        );
        let phone = "Or call in (audio only)\n+1 323-555-0100,,123456789#\nPhone conference ID: 123 456 789#";
        let got = find(phone);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|g| g.1 == "invitation:teams/123456789"));
        assert_eq!(got[0].2, "+1 323-555-0100,,123456789#");
        assert_eq!(got[1].2, "Phone conference ID: 123 456 789#");
        let meet =
            "Google Meet joining info\nJoin by phone\n(US) +1 252-555-0123 PIN: 123 456 789#";
        assert_eq!(find(meet)[0].1, "invitation:meet/123456789");
        // A PIN with no Google Meet around it is someone's PIN, not a meeting.
        assert!(find("the door PIN: 123 456 789").is_empty());
    }

    #[test]
    fn one_tap_lines_repeat_the_block() {
        let text = "Meeting ID: 855 1234 5678\nPasscode: 123456\n---\nOne tap mobile\n+16699006833,,85512345678#,,,,*123456# US (San Jose)";
        let got = find(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].2, "+16699006833,,85512345678#,,,,*123456#");
        assert_eq!(got[0].1, got[1].1);
    }

    #[test]
    fn invisible_characters_do_not_hide_a_block() {
        let text = "x Meet\u{200b}ing ID: 855 1234 5678 / Pass\u{2060}code: Qw8eRt y";
        let got = find(text);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].1, "invitation:zoom/85512345678?passcode=redacted");
        assert_eq!(
            got[0].2,
            "Meet\u{200b}ing ID: 855 1234 5678 / Pass\u{2060}code: Qw8eRt"
        );
    }

    #[test]
    fn not_invitations() {
        for text in [
            "Meeting ID: TBD",
            "meeting id: 12345",
            "order number 2550 123 4567",
            "Passcode: 4Fq9x1",
            "meeting id 855 1234 5678",
            "Meeting ID: 855 1234 5678 9012 3456",
        ] {
            assert!(find(text).is_empty(), "{text:?}: {:?}", find(text));
        }
    }
}
