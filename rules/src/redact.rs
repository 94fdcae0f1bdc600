//! Removing meeting secrets from what the audit log keeps.
//!
//! A meeting link often carries its passcode (`pwd=` on Zoom, `p=`, `tk=`,
//! `zak=`, `pin=` on dial-in links, `key=` on Zoho, …). The audit log must
//! say which meeting a link pointed at without letting whoever reads the log
//! join it, so query parameters that carry secrets keep their name and lose
//! their value. The functions here are pure and work on text as the
//! platforms deliver it (Slack's `&amp;` included), so they never fail: input
//! that is not a URL is returned unchanged.
//!
//! Beyond query parameters, three other places carry passcodes and are
//! masked too:
//!
//! - parameters written percent-encoded, as inside a safety wrapper
//!   (`…%3Fpwd%3Dabc`), or after a `/` (`/j/123/pwd=abc`);
//! - the path: a segment after `pwd`, `passcode`, `password` or `pin`
//!   (`/j/123/passcode/abc`), and BlueJeans' `bluejeans.com/<id>/<passcode>`;
//! - prose next to a link: `Passcode: 123456`, `password = abc`,
//!   `PIN 1234` (a value after `:`/`=`/`-`, or a number right after the word).

/// Query parameters whose values are secrets (compared case-insensitively).
const SECRET_PARAMS: &[&str] = &[
    "pwd",
    "pw",
    "p",
    "passcode",
    "password",
    "passwd",
    "pass",
    "pin",
    "key",
    "zak",
    "tk",
    "token",
    "access_token",
    "access_code",
    "accesscode",
    "meeting_password",
];

/// Path segments after which the next segment is a secret.
const SECRET_SEGMENTS: &[&str] = &["pwd", "passcode", "password", "pin"];

/// Words that introduce a passcode in prose, longest first so that
/// `passcode` is not read as `pass`.
const SECRET_WORDS: &[&str] = &[
    "meeting password",
    "access code",
    "pass code",
    "passcode",
    "password",
    "passwort",
    "kennwort",
    "passwd",
    "pwd",
    "pin",
];

/// What replaces a secret value.
pub const REDACTED: &str = "[redacted]";

/// A link with its secret query parameters and any `user:password@` masked.
///
/// `https://zoom.us/j/123?pwd=abc&x=1` becomes
/// `https://zoom.us/j/123?pwd=[redacted]&x=1`.
pub fn redact_link(url: &str) -> String {
    redact_text(&redact_userinfo(url))
}

/// Every secret in free text (e.g. a message) masked: query parameters
/// (plain or percent-encoded), secret path segments, and passcodes written
/// out in prose.
pub fn redact_text(text: &str) -> String {
    redact_prose(&redact_dial_strings(&redact_paths(&redact_params(text))))
}

/// The passcode in a one-tap dial string (`+16465588656,,85512345678#,,,,*123456#`,
/// as in Zoom invitations and `tel:` links): the digits between `,*` and `#`.
fn redact_dial_strings(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 1;
    while i + 1 < bytes.len() {
        if bytes[i] == b'*' && bytes[i - 1] == b',' {
            let start = i + 1;
            let digits = bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits > 0 && bytes.get(start + digits) == Some(&b'#') {
                out.push_str(&text[copied..start]);
                out.push_str(REDACTED);
                copied = start + digits;
                i = copied;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// The length of a parameter separator at `i`: `?`, `&`, `;` (Slack's
/// `&amp;`), `#`, `/`, or one of those percent-encoded.
fn separator_at(bytes: &[u8], i: usize) -> usize {
    match bytes[i] {
        b'?' | b'&' | b';' | b'#' | b'/' => 1,
        b'%' if bytes.len() >= i + 3 => {
            let code = [
                bytes[i + 1].to_ascii_uppercase(),
                bytes[i + 2].to_ascii_uppercase(),
            ];
            match &code {
                b"3F" | b"26" | b"3B" | b"23" | b"2F" => 3,
                _ => 0,
            }
        }
        _ => 0,
    }
}

/// Whether `%26` (`&`) or `%23` (`#`) is at `i`: the end of an encoded value.
fn encoded_end_at(bytes: &[u8], i: usize) -> bool {
    bytes.len() >= i + 3
        && bytes[i] == b'%'
        && bytes[i + 1] == b'2'
        && matches!(bytes[i + 2], b'6' | b'3')
}

/// The length of `=` (or `%3D`) at `i`, 0 if neither.
fn equals_at(bytes: &[u8], i: usize) -> usize {
    if bytes.get(i) == Some(&b'=') {
        1
    } else if bytes.len() >= i + 3
        && bytes[i] == b'%'
        && bytes[i + 1] == b'3'
        && bytes[i + 2].eq_ignore_ascii_case(&b'd')
    {
        3
    } else {
        0
    }
}

/// Secret parameters (`name=value` after a separator) masked.
fn redact_params(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let sep = separator_at(bytes, i);
        if sep > 0 {
            let name_start = i + sep;
            let name_end = name_start
                + bytes[name_start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
            let eq = equals_at(bytes, name_end);
            if eq > 0 {
                let name = &text[name_start..name_end];
                if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                    let value_start = name_end + eq;
                    let value_len = (value_start..bytes.len())
                        .take_while(|&k| !ends_value(bytes[k]) && !encoded_end_at(bytes, k))
                        .count();
                    if value_len > 0 {
                        out.push_str(&text[copied..value_start]);
                        out.push_str(REDACTED);
                        copied = value_start + value_len;
                        i = copied;
                        continue;
                    }
                }
                i = name_end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// Secret path segments masked: the segment after `/pwd/`, `/passcode/`,
/// `/password/` or `/pin/`, and the passcode in `bluejeans.com/<id>/<passcode>`.
fn redact_paths(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'/' {
            i += 1;
            continue;
        }
        let seg_start = i + 1;
        let seg_len = segment_len(&bytes[seg_start..]);
        let seg = &text[seg_start..seg_start + seg_len];
        let secret_next = SECRET_SEGMENTS.iter().any(|s| s.eq_ignore_ascii_case(seg))
            || (!seg.is_empty()
                && seg.bytes().all(|b| b.is_ascii_digit())
                && ends_with_ignore_case(&text[..i], "bluejeans.com"));
        let value_start = seg_start + seg_len + 1;
        if secret_next && bytes.get(seg_start + seg_len) == Some(&b'/') {
            let value_len = segment_len(&bytes[value_start..]);
            if value_len > 0 && &text[value_start..value_start + value_len] != REDACTED {
                out.push_str(&text[copied..value_start]);
                out.push_str(REDACTED);
                copied = value_start + value_len;
                i = copied;
                continue;
            }
        }
        i = seg_start + seg_len;
    }
    out.push_str(&text[copied..]);
    out
}

/// The length of the path segment at the start of `bytes`.
fn segment_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|b| !ends_value(**b) && !matches!(b, b'/' | b'?' | b';'))
        .count()
}

fn ends_with_ignore_case(hay: &str, suffix: &str) -> bool {
    hay.len() >= suffix.len()
        && hay.as_bytes()[hay.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// Passcodes written out next to a link: `Passcode: 123456`, `pwd = abc`,
/// `PIN 1234`, `**Password:** abc`. The value after a `:`, `=` or `-` is
/// masked whatever it is; without one, only a value with a digit is (so
/// "pin this message" stays).
fn redact_prose(text: &str) -> String {
    let bytes = text.as_bytes();
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // A word starts at the beginning or after a byte that is neither part
        // of a word nor of a URL (inside URLs, `redact_params` decides).
        let starts_word = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || matches!(
                    bytes[i - 1],
                    b'?' | b'&' | b';' | b'#' | b'/' | b'=' | b'%' | b'.' | b'-' | b'_'
                ));
        let word = starts_word
            .then(|| {
                SECRET_WORDS
                    .iter()
                    .find(|w| lower.as_bytes()[i..].starts_with(w.as_bytes()))
            })
            .flatten();
        let Some(word) = word else {
            i += 1;
            continue;
        };
        let mut j = i + word.len();
        if bytes.get(j).is_some_and(|b| b.is_ascii_alphanumeric()) {
            i = j;
            continue;
        }
        let markup = |b: u8| matches!(b, b' ' | b'\t' | b'*' | b'_' | b'`');
        while bytes.get(j).is_some_and(|b| markup(*b)) {
            j += 1;
        }
        let separated = matches!(bytes.get(j), Some(b':' | b'=' | b'-' | b'#'));
        if separated {
            j += 1;
            while bytes.get(j).is_some_and(|b| markup(*b)) {
                j += 1;
            }
        }
        let value_len = bytes[j..]
            .iter()
            .take_while(|b| {
                !b.is_ascii_whitespace()
                    && !matches!(b, b'<' | b'>' | b'|' | b'`' | b'*' | b'"' | b'\'')
            })
            .count();
        // Trailing sentence punctuation is not part of the value.
        let value = text[j..j + value_len].trim_end_matches(['.', ',', ';', ')', ']', '!', '?']);
        let wanted = !value.is_empty()
            && value != REDACTED
            && !value.starts_with("http")
            && (separated || value.bytes().any(|b| b.is_ascii_digit()));
        if wanted {
            out.push_str(&text[copied..j]);
            out.push_str(REDACTED);
            copied = j + value.len();
            i = copied;
        } else {
            i = j.max(i + 1);
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Bytes that end a query value in a URL or in chat markup around it.
fn ends_value(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b'#' | b'>' | b'<' | b'|' | b'"' | b'\'' | b')' | b']' | b'*' | b'`'
        )
}

/// `scheme://user:secret@host…` with the secret masked.
fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let auth_start = scheme_end + 3;
    let rest = &url[auth_start..];
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_len];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:{}{}",
                &url[..auth_start],
                &authority[..colon],
                REDACTED,
                &url[auth_start + at..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, want: &str) {
        assert_eq!(redact_link(input), want, "input: {input}");
    }

    #[test]
    fn secret_parameters_lose_their_values() {
        check(
            "https://us02web.zoom.us/j/8551234567?pwd=AbCdEf123",
            "https://us02web.zoom.us/j/8551234567?pwd=[redacted]",
        );
        check(
            "https://zoom.us/s/123?zak=eyJ0&tk=xyz&uname=bob",
            "https://zoom.us/s/123?zak=[redacted]&tk=[redacted]&uname=bob",
        );
        check(
            "https://x.webex.com/meet/j.php?MTID=m1&p=Secret1",
            "https://x.webex.com/meet/j.php?MTID=m1&p=[redacted]",
        );
        check(
            "https://a.example/j?PassCode=1&PW=2",
            "https://a.example/j?PassCode=[redacted]&PW=[redacted]",
        );
        check(
            "https://a.example/#pwd=abc",
            "https://a.example/#pwd=[redacted]",
        );
    }

    #[test]
    fn other_parameters_and_lookalikes_are_kept() {
        check(
            "https://zoom.us/j/1?page=2&pwdx=3",
            "https://zoom.us/j/1?page=2&pwdx=3",
        );
        check("https://zoom.us/j/1?pwd=", "https://zoom.us/j/1?pwd=");
        check("https://zoom.us/j/1", "https://zoom.us/j/1");
        check("not a url at all", "not a url at all");
        check("", "");
    }

    #[test]
    fn userinfo_password_is_masked() {
        check(
            "https://bob:hunter2@meet.example/room?x=1",
            "https://bob:[redacted]@meet.example/room?x=1",
        );
        check("https://bob@meet.example/", "https://bob@meet.example/");
    }

    #[test]
    fn text_in_platform_markup_is_redacted() {
        assert_eq!(
            redact_text("join <https://zoom.us/j/1?a=1&amp;pwd=xyz|here> now pwd=alsosecret"),
            // Not a parameter, but a passcode written out in prose all the same.
            "join <https://zoom.us/j/1?a=1&amp;pwd=[redacted]|here> now pwd=[redacted]"
        );
        assert_eq!(
            redact_text("[link](https://zoom.us/j/1?pwd=abc) ok"),
            "[link](https://zoom.us/j/1?pwd=[redacted]) ok"
        );
    }

    fn text(input: &str, want: &str) {
        assert_eq!(redact_text(input), want, "input: {input}");
    }

    #[test]
    fn hardening_pin_key_and_encoded_parameters_are_redacted() {
        check(
            "https://meet.google.com/tel/abc-defg-hij?pin=1234567890&hs=1",
            "https://meet.google.com/tel/abc-defg-hij?pin=[redacted]&hs=1",
        );
        check(
            "tel:+1-555-0100;pin=987654",
            "tel:+1-555-0100;pin=[redacted]",
        );
        check(
            "https://meeting.zoho.com/meeting/login/join.jsp?meetingKey=1&key=9081726354",
            "https://meeting.zoho.com/meeting/login/join.jsp?meetingKey=1&key=[redacted]",
        );
        check(
            "https://x.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F1%3Fpwd%3DAbC123%26uname%3Db",
            "https://x.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F1%3Fpwd%3D[redacted]%26uname%3Db",
        );
        check(
            "https://zoom.us/j/123/pwd=AbC123",
            "https://zoom.us/j/123/pwd=[redacted]",
        );
    }

    #[test]
    fn hardening_path_embedded_passcodes_are_redacted() {
        check(
            "https://bluejeans.com/123456789/4321",
            "https://bluejeans.com/123456789/[redacted]",
        );
        check(
            "https://BlueJeans.com/123456789/4321/webrtc?x=1",
            "https://BlueJeans.com/123456789/[redacted]/webrtc?x=1",
        );
        check(
            "https://meet.example/j/42/passcode/s3cret?x=1",
            "https://meet.example/j/42/passcode/[redacted]?x=1",
        );
        check("https://meet.example/pin/", "https://meet.example/pin/");
        // Ids are kept: they say which meeting it was.
        check(
            "https://bluejeans.com/123456789",
            "https://bluejeans.com/123456789",
        );
        check(
            "https://zoom.us/j/85512345678",
            "https://zoom.us/j/85512345678",
        );
    }

    #[test]
    fn hardening_passcodes_in_prose_are_redacted() {
        text(
            "join https://zoom.us/j/1 Passcode: 123456 thanks",
            "join https://zoom.us/j/1 Passcode: [redacted] thanks",
        );
        text("**Password:** hunter2.", "**Password:** [redacted].");
        text("pwd = abc, see you", "pwd = [redacted], see you");
        text(
            "Meeting ID 855 1234 PIN 4821",
            "Meeting ID 855 1234 PIN [redacted]",
        );
        text("access code - 99881", "access code - [redacted]");
        text("Kennwort: geheim", "Kennwort: [redacted]");
        // Ordinary words stay.
        text("pin this message please", "pin this message please");
        text("password reset is broken", "password reset is broken");
        text("the pinned passcodes", "the pinned passcodes");
        text("spin 12", "spin 12");
        // Inside a URL the parameter rules decide, and keep what follows.
        text(
            "<https://zoom.us/j/1?pwd=x1&amp;uname=b|Zoom>",
            "<https://zoom.us/j/1?pwd=[redacted]&amp;uname=b|Zoom>",
        );
        text("Passcode: réunion1 ok", "Passcode: [redacted] ok");
        // A Zoom invitation, as pasted.
        text(
            "Meeting ID: 855 1234 5678\nPasscode: 123456\nOne tap mobile\n\
             +16465588656,,85512345678#,,,,*123456# US",
            "Meeting ID: 855 1234 5678\nPasscode: [redacted]\nOne tap mobile\n\
             +16465588656,,85512345678#,,,,*[redacted]# US",
        );
        text(
            "<tel:+16465588656,,855#,,,,*98765#|dial>",
            "<tel:+16465588656,,855#,,,,*[redacted]#|dial>",
        );
        text("é pin 1234 é", "é pin [redacted] é");
    }

    #[test]
    fn non_ascii_text_is_left_intact() {
        assert_eq!(
            redact_text("réunion ?pwd=clé ici"),
            "réunion ?pwd=[redacted] ici"
        );
    }
}
