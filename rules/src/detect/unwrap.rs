//! Known redirect and safety wrappers (corpus README, step 5): Microsoft Safe
//! Links, Proofpoint URL Defense v1/v2/v3, Google `/url` and AccountChooser,
//! Barracuda and `slack-redir.net`.
//!
//! Each wrapper's own encoding is decoded exactly once, so the target keeps
//! its own escapes (a wrapped Teams link keeps its `%3a`). Anything not listed
//! here (Mimecast, trackers, shorteners) is left alone on purpose: its target
//! cannot be recovered offline or is not ours to follow.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::url::hex;

/// URL-safe base64 that accepts the tail with or without `=` padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The wrapped URL, if `host` (canonical) and `rest` (`/path?query#fragment`
/// as written) are a known wrapper that carries one.
pub(crate) fn unwrap(host: &str, rest: &str) -> Option<String> {
    let (path, query) = split_query(rest);
    if host.ends_with(".safelinks.protection.outlook.com")
        || host.ends_with(".safelinks.protection.office365.us")
    {
        return param(query, "url").and_then(percent_once);
    }
    if matches!(
        host,
        "statics.teams.cdn.office.net" | "teams.public.onecdn.static.microsoft"
    ) && path.ends_with("/atp-safelinks.html")
    {
        return param(query, "url").and_then(percent_once);
    }
    if matches!(
        host,
        "urldefense.proofpoint.com" | "urldefense.com" | "urldefense.us"
    ) {
        if let Some(v3) = rest.strip_prefix("/v3/__") {
            return proofpoint_v3(v3);
        }
        return match path {
            "/v1/url" => param(query, "u").and_then(percent_once),
            "/v2/url" => param(query, "u").and_then(proofpoint_v2),
            _ => None,
        };
    }
    if is_google(host) && path == "/url" {
        return match param(query, "q") {
            Some(q) if !q.is_empty() => percent_once(q),
            _ => param(query, "url").and_then(percent_once),
        };
    }
    if host == "accounts.google.com" && path.eq_ignore_ascii_case("/AccountChooser") {
        return param(query, "continue").and_then(percent_once);
    }
    if host == "linkprotect.cudasvc.com" && path == "/url" {
        return param(query, "a").and_then(percent_once);
    }
    if host == "slack-redir.net" && path == "/link" {
        return param(query, "url").and_then(percent_once);
    }
    None
}

/// Whether `host` is a host the unwrapper knows, so a scanner can tell a
/// wrapper from an unknown site without parsing further.
pub(crate) fn is_wrapper_host(host: &str) -> bool {
    host.ends_with(".safelinks.protection.outlook.com")
        || host.ends_with(".safelinks.protection.office365.us")
        || matches!(
            host,
            "statics.teams.cdn.office.net"
                | "teams.public.onecdn.static.microsoft"
                | "urldefense.proofpoint.com"
                | "urldefense.com"
                | "urldefense.us"
                | "accounts.google.com"
                | "linkprotect.cudasvc.com"
                | "slack-redir.net"
        )
        || is_google(host)
}

/// `google.com`, `www.google.com` and the country sites (`www.google.co.uk`).
fn is_google(host: &str) -> bool {
    let h = host.strip_prefix("www.").unwrap_or(host);
    let Some(tld) = h.strip_prefix("google.") else {
        return false;
    };
    let tld = tld
        .strip_prefix("co.")
        .or_else(|| tld.strip_prefix("com."))
        .unwrap_or(tld);
    (2..=3).contains(&tld.len()) && tld.bytes().all(|b| b.is_ascii_lowercase())
}

fn split_query(rest: &str) -> (&str, &str) {
    let no_frag = rest.split_once('#').map_or(rest, |(a, _)| a);
    no_frag.split_once('?').unwrap_or((no_frag, ""))
}

/// The first value of `key` in a query string, as written.
fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

fn percent_once(v: &str) -> Option<String> {
    percent_encoding::percent_decode_str(v)
        .decode_utf8()
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Proofpoint v2: `-XX` is a hex escape and `_` is `/`.
fn proofpoint_v2(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'-'),
            },
            b'_' => out.push(b'/'),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Proofpoint v3: `__<url>__;<base64>!…`. Each `*` in `<url>` takes the next
/// character of the decoded tail, and `**<c>` takes a run of them whose length
/// `<c>` encodes (`A` = 2, `B` = 3, … in the base64url alphabet order).
fn proofpoint_v3(v3: &str) -> Option<String> {
    let end = v3.find("__;")?;
    let url = &v3[..end];
    let tail = &v3[end + 3..];
    let enc = tail.split('!').next().unwrap_or("");
    let decoded = if enc.is_empty() {
        Vec::new()
    } else {
        B64.decode(enc).ok()?
    };
    let decoded = String::from_utf8(decoded).ok()?;
    let mut fill = decoded.chars();
    let mut out = String::with_capacity(url.len() + decoded.len());
    let mut chars = url.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '*' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'*') {
            chars.next();
            let len_char = chars.next()?;
            let n = run_length(len_char)?;
            for _ in 0..n {
                out.push(fill.next()?);
            }
        } else {
            out.push(fill.next()?);
        }
    }
    Some(out)
}

fn run_length(c: char) -> Option<usize> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    ALPHABET.find(c).map(|i| i + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, expected: Option<&str>) {
        let p = super::super::url::Parts::parse(url, false).unwrap();
        assert_eq!(
            unwrap(p.host, p.rest).as_deref(),
            expected,
            "unwrap({url:?})"
        );
    }

    #[test]
    fn safelinks() {
        check(
            "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F1%3Fpwd%3Dx&data=05%7C02",
            Some("https://zoom.us/j/1?pwd=x"),
        );
        check(
            "https://statics.teams.cdn.office.net/evergreen-assets/safelinks/1/atp-safelinks.html?url=https%3A%2F%2Fa.example%2F&dest=https%3A%2F%2Fteams.microsoft.com",
            Some("https://a.example/"),
        );
    }

    #[test]
    fn proofpoint() {
        check(
            "https://urldefense.proofpoint.com/v1/url?u=https://zoom.us/j/1%3Fpwd%3Dx&k=abc",
            Some("https://zoom.us/j/1?pwd=x"),
        );
        check(
            "https://urldefense.proofpoint.com/v2/url?u=https-3A__zoom.us_j_886-3Fpwd-3DME.1&d=DwMFGx",
            Some("https://zoom.us/j/886?pwd=ME.1"),
        );
        check(
            "https://urldefense.com/v3/__https://meet.google.com/cab-maey-jnh__;!!5b3v!9g8$",
            Some("https://meet.google.com/cab-maey-jnh"),
        );
        // "JSUl" is "%%%"; "**A" is a run of two.
        check(
            "https://urldefense.com/v3/__https://a/b*3a*40**Ac__;JSUlJQ!!x$",
            Some("https://a/b%3a%40%%c"),
        );
        // Not enough replacement characters: not a recoverable link.
        check(
            "https://urldefense.com/v3/__https://a/*3a*3a__;JQ!!x$",
            None,
        );
    }

    #[test]
    fn google_barracuda_slack() {
        check(
            "https://www.google.com/url?q=https://meet.google.com/etk-lmwl-olt&sa=D",
            Some("https://meet.google.com/etk-lmwl-olt"),
        );
        check(
            "https://www.google.com/url?sa=t&q=&url=https%3A%2F%2Fzoom.us%2Fj%2F1&usg=x",
            Some("https://zoom.us/j/1"),
        );
        check(
            "https://accounts.google.com/AccountChooser?continue=https%3A%2F%2Fmeet.google.com%2Fa",
            Some("https://meet.google.com/a"),
        );
        check(
            "https://linkprotect.cudasvc.com/url?a=https%3a%2f%2fzoom.us%2fj%2f1&c=E,1",
            Some("https://zoom.us/j/1"),
        );
        check(
            "https://slack-redir.net/link?url=https%3A%2F%2Fmeet.google.com%2Fa",
            Some("https://meet.google.com/a"),
        );
        check("https://protect-us.mimecast.com/s/abc?domain=zoom.us", None);
        check(
            "https://click.mailer.example/track?u=https%3A%2F%2Fzoom.us%2Fj%2F1",
            None,
        );
    }
}
