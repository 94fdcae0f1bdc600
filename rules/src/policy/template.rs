//! Alternative-link templates and deterministic room names.
//!
//! An alternative is a template such as `https://meet.jit.si/{prefix}-{room}`.
//! `{room}` is derived with HMAC-SHA256, keyed by a secret from configuration,
//! over the canonical original URL: everyone who posts the same banned link is
//! sent to the same approved room, and without the key the room name reveals
//! nothing about the original meeting.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &["room", "prefix", "provider"];

/// The secret key rooms are derived with.
#[derive(Clone)]
pub struct RoomKey(Hmac<Sha256>);

impl RoomKey {
    /// Wraps key material (any length; an empty key still works but is not secret).
    /// The keyed state is computed here once, not for every room.
    pub fn new(key: impl AsRef<[u8]>) -> RoomKey {
        // HMAC accepts keys of any length, so this cannot fail.
        RoomKey(
            <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
        )
    }

    /// The room name for a canonical URL: 16 characters of RFC 4648 base32
    /// (lower-case, no padding), 80 bits of the keyed hash.
    pub fn room(&self, canonical_url: &str) -> String {
        let mut out = String::with_capacity(16);
        self.push_room(canonical_url, &mut out);
        out
    }

    /// [`RoomKey::room`], appended to `out`.
    fn push_room(&self, canonical_url: &str, out: &mut String) {
        let mut mac = self.0.clone();
        mac.update(canonical_url.as_bytes());
        base32_lower(&mac.finalize().into_bytes()[..10], out);
    }
}

impl fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomKey([redacted])")
    }
}

fn base32_lower(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Room,
    Prefix,
    Provider,
}

/// A parsed alternative template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

/// Why a template was refused; `offset` is the byte offset in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem inside the template text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses `text`, checking every `{placeholder}` is known. `{{` and `}}`
    /// stand for literal braces.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' if matches!(rest.peek(), Some((_, '{'))) => {
                    rest.next();
                    literal.push('{');
                }
                '}' if matches!(rest.peek(), Some((_, '}'))) => {
                    rest.next();
                    literal.push('}');
                }
                '{' => {
                    let Some(end) = text[i..].find('}') else {
                        return Err(TemplateError {
                            offset: i,
                            message: "unclosed `{` in template".into(),
                        });
                    };
                    let name = &text[i + 1..i + end];
                    let piece = match name {
                        "room" => Piece::Room,
                        "prefix" => Piece::Prefix,
                        "provider" => Piece::Provider,
                        other => {
                            return Err(TemplateError {
                                offset: i,
                                message: format!(
                                    "unknown placeholder `{{{other}}}` (known: {})",
                                    PLACEHOLDERS
                                        .iter()
                                        .map(|p| format!("{{{p}}}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            })
                        }
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                    while let Some((j, _)) = rest.peek() {
                        if *j > i + end {
                            break;
                        }
                        rest.next();
                    }
                }
                '}' => {
                    return Err(TemplateError {
                        offset: i,
                        message: "unmatched `}` in template (write `}}` for a literal brace)"
                            .into(),
                    })
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template {
            source: text.to_owned(),
            pieces,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Fills the template for one banned link.
    pub fn render(
        &self,
        key: &RoomKey,
        prefix: &str,
        provider: &str,
        canonical_url: &str,
    ) -> String {
        let mut out = String::with_capacity(self.source.len() + 24);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Room => key.push_room(canonical_url, &mut out),
                Piece::Prefix => out.push_str(prefix),
                Piece::Provider => out.push_str(provider),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_deterministic_keyed_and_opaque() {
        let k = RoomKey::new("secret");
        let a = k.room("https://zoom.us/j/123456789");
        assert_eq!(a, k.room("https://zoom.us/j/123456789"));
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
        assert_ne!(a, k.room("https://zoom.us/j/123456780"));
        assert_ne!(a, RoomKey::new("other").room("https://zoom.us/j/123456789"));
        assert!(!a.contains("123"));
    }

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648 section 10 test vectors, lower-cased and unpadded.
        let base32_lower = |b: &[u8]| {
            let mut s = String::new();
            super::base32_lower(b, &mut s);
            s
        };
        assert_eq!(base32_lower(b""), "");
        assert_eq!(base32_lower(b"f"), "my");
        assert_eq!(base32_lower(b"fo"), "mzxq");
        assert_eq!(base32_lower(b"foo"), "mzxw6");
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn templates_render_and_reject_unknown_placeholders() {
        let t = Template::parse("https://meet.jit.si/{prefix}-{room}?x={{y}}").unwrap();
        let k = RoomKey::new("k");
        let out = t.render(&k, "acme", "zoom", "https://zoom.us/j/1");
        assert_eq!(
            out,
            format!(
                "https://meet.jit.si/acme-{}?x={{y}}",
                k.room("https://zoom.us/j/1")
            )
        );
        let e = Template::parse("https://x/{meeting_id}").unwrap_err();
        assert_eq!(e.offset, 10);
        assert!(
            e.message.contains("unknown placeholder `{meeting_id}`"),
            "{}",
            e.message
        );
        assert!(Template::parse("https://x/{room").is_err());
        assert!(Template::parse("https://x/}").is_err());
    }
}
