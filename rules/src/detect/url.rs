//! Turning a URL cut out of a message into its canonical form (corpus
//! README, "Canonical URL", steps 1 and 3 to 8): entity decoding, invisible
//! characters, re-fanging, a forgiving split into parts, host normalisation
//! (percent-escapes, UTS-46, punycode, confusable folding) and the decoding of
//! escaped unreserved characters.
//!
//! The parser is deliberately small and lenient rather than WHATWG-exact: it
//! must accept what people paste into chat, never fail loudly, and keep every
//! part it does not normalise byte-for-byte as written.

use std::borrow::Cow;
use std::ops::Deref;

/// Characters that are invisible in chat and dropped anywhere in a link: the
/// whole Unicode `Default_Ignorable_Code_Point` set and the bidi controls,
/// from a table generated from the Unicode data (`ignorable.rs`).
pub(crate) fn is_invisible(c: char) -> bool {
    super::ignorable::is_ignorable(c)
}

/// Full-width and ideographic full stops, which UTS-46 maps to `.`.
pub(crate) fn is_wide_dot(c: char) -> bool {
    matches!(c, '\u{3002}' | '\u{FF0E}' | '\u{FF61}')
}

/// Step 1, 3 and 4: decode Slack entities (when `entities`), drop invisible
/// characters and undo defanging. Borrows when there is nothing to do, which is
/// the common case.
pub(crate) fn clean(raw: &str, entities: bool) -> Cow<'_, str> {
    if !needs_cleaning(raw, entities) {
        return Cow::Borrowed(raw);
    }
    // Invisible characters go first, so that they cannot hide an entity, a
    // defanged dot or `hxxp` from the steps below.
    if let Cow::Owned(visible) = strip_invisible(raw) {
        return Cow::Owned(clean(&visible, entities).into_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        let Some(c) = rest.chars().next() else { break };
        if entities && c == '&' {
            let entity = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')]
                .into_iter()
                .find(|(e, _)| rest.starts_with(e));
            if let Some((e, ch)) = entity {
                out.push(ch);
                i += e.len();
                continue;
            }
        }
        if matches!(c, '[' | '(' | '{') {
            if let Some((rep, n)) = defang_at(rest) {
                out.push(rep);
                i += n;
                continue;
            }
        }
        out.push(c);
        i += c.len_utf8();
    }
    if starts_with_ci(&out, "hxxp") {
        out.replace_range(..4, "http");
    }
    Cow::Owned(out)
}

/// `s` without its invisible characters; borrowed when it has none.
pub(crate) fn strip_invisible(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || !s.chars().any(is_invisible) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().filter(|&c| !is_invisible(c)).collect())
}

/// [`find_scheme`] as if `tok` had no invisible characters, so that one
/// inside a scheme (`ht\u{200B}tps://`, `https:\u{2060}//`) does not hide
/// it; the offset is into `tok` as written.
pub(crate) fn find_scheme_visible(tok: &str, app_schemes: &[Box<str>]) -> SchemeHit {
    let visible = strip_invisible(tok);
    let Cow::Owned(visible) = visible else {
        return find_scheme(tok, app_schemes);
    };
    match find_scheme(&visible, app_schemes) {
        SchemeHit::At(o) => {
            // The byte of `tok` that became byte `o` of `visible`.
            let mut seen = 0;
            for (i, c) in tok.char_indices() {
                if is_invisible(c) {
                    continue;
                }
                if seen == o {
                    return SchemeHit::At(i);
                }
                seen += c.len_utf8();
            }
            SchemeHit::At(tok.len())
        }
        other => other,
    }
}

/// Whether [`clean`] would change anything: checked precisely so that an
/// ordinary URL with `(` or `&` in it is not copied for nothing.
fn needs_cleaning(raw: &str, entities: bool) -> bool {
    let b = raw.as_bytes();
    if !raw.is_ascii() || starts_with_ci(raw, "hxxp") {
        return true;
    }
    if entities
        && memchr::memchr_iter(b'&', b).any(|i| {
            let r = &b[i..];
            r.starts_with(b"&amp;") || r.starts_with(b"&lt;") || r.starts_with(b"&gt;")
        })
    {
        return true;
    }
    memchr::memchr3_iter(b'[', b'(', b'{', b).any(|i| defang_at(&raw[i..]).is_some())
}

/// A defanged `.` or `:` at the start of `s`: its replacement and length.
pub(crate) fn defang_at(s: &str) -> Option<(char, usize)> {
    const FORMS: [(&str, char); 6] = [
        ("[.]", '.'),
        ("(.)", '.'),
        ("{.}", '.'),
        ("[dot]", '.'),
        ("(dot)", '.'),
        ("[:]", ':'),
    ];
    FORMS
        .iter()
        .find(|(f, _)| starts_with_ci(s, f))
        .map(|(f, c)| (*c, f.len()))
}

pub(crate) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Non-URL schemes: a token that starts with one of these is not a link.
const OPAQUE_SCHEMES: [&str; 12] = [
    "mailto",
    "tel",
    "sip",
    "sips",
    "callto",
    "sms",
    "fax",
    "xmpp",
    "urn",
    "data",
    "javascript",
    "news",
];

pub(crate) fn is_scheme_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// Where a URL starts in a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemeHit {
    /// A scheme (`https://`, an app scheme such as `msteams:`) starts here.
    At(usize),
    /// The token is a `mailto:`, `tel:` or similar address: not a link.
    Opaque,
    /// No scheme: the token can only be a bare host.
    None,
}

/// Finds the scheme of the first URL in a token: a scheme followed by `//`
/// (also a defanged `[:]//`), or one of `app_schemes` followed by `:`.
pub(crate) fn find_scheme(tok: &str, app_schemes: &[Box<str>]) -> SchemeHit {
    let b = tok.as_bytes();
    let mut from = 0;
    while let Some(off) = memchr::memchr(b':', &b[from..]) {
        let colon = from + off;
        from = colon + 1;
        // `[:]` defanging: the scheme ends before the `[`.
        let (end, after) = if colon >= 1 && b[colon - 1] == b'[' && b.get(colon + 1) == Some(&b']')
        {
            (colon - 1, colon + 2)
        } else {
            (colon, colon + 1)
        };
        let mut start = end;
        while start > 0 && is_scheme_char(b[start - 1]) {
            start -= 1;
        }
        // A scheme starts with a letter; skip leading digits/punctuation.
        while start < end && !b[start].is_ascii_alphabetic() {
            start += 1;
        }
        if start == end {
            continue;
        }
        let scheme = &tok[start..end];
        if b[after..].starts_with(b"//") {
            return SchemeHit::At(start);
        }
        if app_schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
            return SchemeHit::At(start);
        }
        if start == 0
            && OPAQUE_SCHEMES
                .iter()
                .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return SchemeHit::Opaque;
        }
    }
    SchemeHit::None
}

/// A URL split into the parts canonicalisation treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    /// The scheme as written (`https` for a bare link).
    pub scheme: &'a str,
    /// Whether `//authority` follows the scheme.
    pub authority: bool,
    /// Host as written (userinfo and port removed).
    pub host: &'a str,
    /// Port digits as written, if any.
    pub port: Option<&'a str>,
    /// Path, query and fragment as written: everything after the authority.
    pub rest: &'a str,
    /// Whether the authority carried userinfo (`user@`).
    pub userinfo: bool,
}

impl<'a> Parts<'a> {
    /// Splits `s`, a URL with a scheme (`bare == false`) or a scheme-less
    /// `host/path` (`bare == true`, read as `https://`).
    pub(crate) fn parse(s: &'a str, bare: bool) -> Option<Parts<'a>> {
        let (scheme, after) = if bare {
            ("https", s)
        } else {
            let colon = memchr::memchr(b':', s.as_bytes())?;
            let scheme = &s[..colon];
            if scheme.is_empty() || !scheme.bytes().all(is_scheme_char) {
                return None;
            }
            (scheme, &s[colon + 1..])
        };
        let Some(auth_and_rest) = (if bare {
            Some(after)
        } else {
            after.strip_prefix("//")
        }) else {
            return Some(Parts {
                scheme,
                authority: false,
                host: "",
                port: None,
                rest: after,
                userinfo: false,
            });
        };
        let end = auth_and_rest
            .bytes()
            .position(|b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(auth_and_rest.len());
        let authority = &auth_and_rest[..end];
        let rest = &auth_and_rest[end..];
        let (userinfo, hostport) = match memchr::memrchr(b'@', authority.as_bytes()) {
            Some(at) => (true, &authority[at + 1..]),
            None => (false, authority),
        };
        let (host, port) = if hostport.starts_with('[') {
            match hostport.find(']') {
                Some(close) => {
                    let port = hostport[close + 1..].strip_prefix(':');
                    (&hostport[..=close], port)
                }
                None => (hostport, None),
            }
        } else {
            match memchr::memrchr(b':', hostport.as_bytes()) {
                Some(c) if hostport[c + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                    (&hostport[..c], Some(&hostport[c + 1..]))
                }
                _ => (hostport, None),
            }
        };
        Some(Parts {
            scheme,
            authority: true,
            host,
            port,
            rest,
            userinfo,
        })
    }
}

/// A host name in canonical form. Lower-casing an ASCII host uses a stack
/// buffer so that rejecting prose such as `Hello.World` allocates nothing.
pub(crate) enum Host<'a> {
    Borrowed(&'a str),
    Stack { buf: [u8; 128], len: usize },
    Owned(String),
}

impl Deref for Host<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Host::Borrowed(s) => s,
            // Only ASCII bytes are ever written to the buffer.
            Host::Stack { buf, len } => std::str::from_utf8(&buf[..*len]).unwrap_or(""),
            Host::Owned(s) => s,
        }
    }
}

/// Step 6: lower-case, decode escapes, map UTS-46, decode punycode, fold
/// non-ASCII confusables to ASCII, drop a trailing dot.
pub(crate) fn canon_host(host: &str) -> Host<'_> {
    let b = host.as_bytes();
    let simple = b.iter().all(|&c| c < 0x80 && c != b'%') && !contains_ci(host, "xn--");
    if simple {
        let h = host.strip_suffix('.').unwrap_or(host);
        if !h.bytes().any(|c| c.is_ascii_uppercase()) {
            return Host::Borrowed(h);
        }
        if h.len() <= 128 {
            let mut buf = [0u8; 128];
            for (d, s) in buf.iter_mut().zip(h.bytes()) {
                *d = s.to_ascii_lowercase();
            }
            return Host::Stack { buf, len: h.len() };
        }
        return Host::Owned(h.to_ascii_lowercase());
    }
    let decoded: Cow<'_, str> = if b.contains(&b'%') {
        match percent_encoding::percent_decode_str(host).decode_utf8() {
            Ok(d) => d,
            Err(_) => Cow::Borrowed(host),
        }
    } else {
        Cow::Borrowed(host)
    };
    // An escaped invisible character (`zo%E2%80%8Bom.us`) is dropped like a
    // written one.
    let decoded = match strip_invisible(&decoded) {
        Cow::Owned(s) => Cow::Owned(s),
        Cow::Borrowed(_) => decoded,
    };
    let (unicode, _errors) = idna::domain_to_unicode(&decoded);
    let mut out = String::with_capacity(unicode.len());
    for c in unicode.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        let mut buf = [0u8; 4];
        let folded: String =
            unicode_security::confusable_detection::skeleton(c.encode_utf8(&mut buf)).collect();
        if !folded.is_empty() && folded.is_ascii() {
            out.extend(folded.chars().map(|f| f.to_ascii_lowercase()));
        } else {
            out.push(c);
        }
    }
    while out.ends_with('.') {
        out.pop();
    }
    Host::Owned(out)
}

/// Case-insensitive substring test; `needle` starts with a lower-case ASCII
/// letter.
fn contains_ci(s: &str, needle: &str) -> bool {
    let (b, n) = (s.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else { return true };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), b)
        .any(|i| b.len() - i >= n.len() && b[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Step 7: decode `%XX` escapes of unreserved characters, keep every other
/// byte as written.
pub(crate) fn decode_unreserved(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let Some(first) = memchr::memchr(b'%', b) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..first]);
    let mut i = first;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let v = h * 16 + l;
                if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                    out.push(v as char);
                    i += 3;
                    continue;
                }
            }
        }
        // Copy one whole char so multi-byte text stays intact.
        let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + ch_len]);
        i += ch_len;
    }
    Cow::Owned(out)
}

pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Assembles the canonical URL from normalised parts.
pub(crate) fn assemble(parts: &Parts<'_>, host: &str, target: &str) -> String {
    let mut out = String::with_capacity(parts.scheme.len() + host.len() + target.len() + 8);
    assemble_into(parts, host, target, &mut out);
    out
}

/// [`assemble`], into `out` (cleared first): a buffer used again, for the
/// URLs that are assembled only to be searched.
pub(crate) fn assemble_into(parts: &Parts<'_>, host: &str, target: &str, out: &mut String) {
    out.clear();
    out.extend(parts.scheme.chars().map(|c| c.to_ascii_lowercase()));
    out.push(':');
    if parts.authority {
        out.push_str("//");
        out.push_str(host);
        if let Some(port) = parts.port {
            let default = match out.as_str() {
                s if s.starts_with("https:") => "443",
                s if s.starts_with("http:") => "80",
                _ => "",
            };
            if !port.is_empty() && port != default {
                out.push(':');
                out.push_str(port);
            }
        }
    }
    out.push_str(target);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_clean(input: &str, entities: bool, expected: &str) {
        assert_eq!(clean(input, entities), expected, "clean({input:?})");
    }

    #[test]
    fn cleaning() {
        check_clean("https://zoom.us/j/1", true, "https://zoom.us/j/1");
        check_clean("https://a/?x=1&amp;y=2", true, "https://a/?x=1&y=2");
        check_clean("https://a/?x=1&amp;y=2", false, "https://a/?x=1&amp;y=2");
        check_clean("https://zo\u{200b}om.us/j/1", true, "https://zoom.us/j/1");
        check_clean(
            "https://meet.goo\u{ad}gle.com/x",
            true,
            "https://meet.google.com/x",
        );
        check_clean("hxxps://zoom[.]us/j/1", true, "https://zoom.us/j/1");
        check_clean("hXXp[:]//a(.)b{.}c[DOT]d(dot)e", true, "http://a.b.c.d.e");
        check_clean(
            "https://en.wikipedia.org/wiki/Rust_(lang)",
            true,
            "https://en.wikipedia.org/wiki/Rust_(lang)",
        );
    }

    fn check_scheme(tok: &str, expected: SchemeHit) {
        let apps: Vec<Box<str>> = vec!["msteams".into(), "zoommtg".into()];
        assert_eq!(find_scheme(tok, &apps), expected, "find_scheme({tok:?})");
    }

    #[test]
    fn schemes() {
        check_scheme("https://x", SchemeHit::At(0));
        check_scheme("(https://x", SchemeHit::At(1));
        check_scheme("link:https://x", SchemeHit::At(5));
        check_scheme("hxxps[:]//x", SchemeHit::At(0));
        check_scheme("msteams:/l/meetup-join/x", SchemeHit::At(0));
        check_scheme("mailto:a@zoom.us", SchemeHit::Opaque);
        check_scheme("tel:+1669", SchemeHit::Opaque);
        check_scheme("Time:", SchemeHit::None);
        check_scheme("https?://x", SchemeHit::None);
        check_scheme("zoom.us/j/1", SchemeHit::None);
    }

    #[test]
    fn parts() {
        let p = Parts::parse("https://guest@Zoom.us:443/j/1?pwd=x#f", false).unwrap();
        assert_eq!(
            (p.scheme, p.host, p.port, p.rest, p.userinfo),
            ("https", "Zoom.us", Some("443"), "/j/1?pwd=x#f", true)
        );
        let p = Parts::parse("msteams:/l/meetup-join/x", false).unwrap();
        assert!(!p.authority);
        assert_eq!(p.rest, "/l/meetup-join/x");
        let p = Parts::parse("zoom.us/j/1", true).unwrap();
        assert_eq!((p.scheme, p.host, p.rest), ("https", "zoom.us", "/j/1"));
        let p = Parts::parse("https://zoom.us@evil.example/j/1", false).unwrap();
        assert_eq!(p.host, "evil.example");
        let p = Parts::parse("https://h/webapp/#/?conference=a@b", false).unwrap();
        assert_eq!((p.host, p.rest), ("h", "/webapp/#/?conference=a@b"));
    }

    fn check_host(input: &str, expected: &str) {
        assert_eq!(&*canon_host(input), expected, "canon_host({input:?})");
    }

    #[test]
    fn hosts() {
        check_host("ZOOM.US", "zoom.us");
        check_host("zoom.us.", "zoom.us");
        check_host("zo%6Fm.us", "zoom.us");
        check_host("ｚｏｏｍ．ｕｓ", "zoom.us");
        check_host("z\u{43e}\u{43e}m.us", "zoom.us");
        check_host("meet.xn--ggle-55da.com", "meet.google.com");
        check_host("z00m.us", "z00m.us");
        check_host("teams.rnicrosoft.com", "teams.rnicrosoft.com");
    }

    #[test]
    fn unreserved_escapes() {
        assert_eq!(decode_unreserved("/%6A/1"), "/j/1");
        assert_eq!(
            decode_unreserved("/19%3ameeting%40x%7b%7e"),
            "/19%3ameeting%40x%7b~"
        );
        assert_eq!(decode_unreserved("/a%"), "/a%");
        assert_eq!(decode_unreserved("/a%4"), "/a%4");
        assert_eq!(decode_unreserved("/é%41"), "/éA");
    }

    #[test]
    fn assembly_drops_default_ports_only() {
        let p = Parts::parse("HTTPS://zoom.us:443/j/1", false).unwrap();
        assert_eq!(assemble(&p, "zoom.us", p.rest), "https://zoom.us/j/1");
        let p = Parts::parse("http://zoom.us:443/j/1", false).unwrap();
        assert_eq!(assemble(&p, "zoom.us", p.rest), "http://zoom.us:443/j/1");
        let p = Parts::parse("msteams:/l/x", false).unwrap();
        assert_eq!(assemble(&p, "", p.rest), "msteams:/l/x");
    }
}
