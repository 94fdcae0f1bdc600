//! Removing meeting secrets from what the audit log keeps.
//!
//! A meeting link often carries its passcode (`pwd=` on Zoom, `p=`, `tk=`,
//! `zak=`, …). The audit log must say which meeting a link pointed at without
//! letting whoever reads the log join it, so query parameters that carry
//! secrets keep their name and lose their value. The functions here are pure and
//! work on text as the platforms deliver it (Slack's `&amp;` included), so they
//! never fail: input that is not a URL is returned unchanged.

/// Query parameters whose values are secrets (compared case-insensitively).
const SECRET_PARAMS: &[&str] = &[
    "pwd",
    "pw",
    "p",
    "passcode",
    "password",
    "pass",
    "zak",
    "tk",
    "token",
    "access_token",
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

/// Every secret query parameter in free text (e.g. a message) masked.
pub fn redact_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // A parameter starts after `?`, `&`, `;` (Slack's `&amp;`) or `#`.
        if matches!(bytes[i], b'?' | b'&' | b';' | b'#') {
            let name_start = i + 1;
            let name_end = name_start
                + bytes[name_start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
            if name_end < bytes.len() && bytes[name_end] == b'=' {
                let name = &text[name_start..name_end];
                if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                    let value_start = name_end + 1;
                    let value_len = bytes[value_start..]
                        .iter()
                        .take_while(|b| !ends_value(**b))
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
            redact_text("join <https://zoom.us/j/1?a=1&amp;pwd=xyz|here> now pwd=notaparam"),
            "join <https://zoom.us/j/1?a=1&amp;pwd=[redacted]|here> now pwd=notaparam"
        );
        assert_eq!(
            redact_text("[link](https://zoom.us/j/1?pwd=abc) ok"),
            "[link](https://zoom.us/j/1?pwd=[redacted]) ok"
        );
    }

    #[test]
    fn non_ascii_text_is_left_intact() {
        assert_eq!(
            redact_text("réunion ?pwd=clé ici"),
            "réunion ?pwd=[redacted] ici"
        );
    }
}
