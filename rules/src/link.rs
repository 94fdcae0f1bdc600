//! The types every layer shares: the dialect a message is written in, a
//! provider's id, and one meeting link found in a message.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// The markup dialect of a message's raw text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// Slack `text`: `<url|label>` links, `&amp;` `&lt;` `&gt;` escapes.
    Slack,
    /// Discord `content`: markdown, `[label](url)`, `<url>`.
    Discord,
    /// Plain text that could come from either platform.
    #[default]
    Any,
}

impl Dialect {
    /// Parses `slack`, `discord` or `any` (case-insensitive).
    pub fn parse(s: &str) -> Option<Dialect> {
        // Compared without a lower-cased copy: it is parsed once per line
        // of `check --batch` and of a scanned JSON Lines file.
        [Dialect::Slack, Dialect::Discord, Dialect::Any]
            .into_iter()
            .find(|d| s.eq_ignore_ascii_case(d.as_str()))
            .or_else(|| s.is_empty().then_some(Dialect::Any))
    }

    /// The lower-case name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Slack => "slack",
            Dialect::Discord => "discord",
            Dialect::Any => "any",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A meeting provider's id, such as `zoom` or `teams`.
///
/// Shared rather than owned: every link found carries its provider's id, and
/// a clone is a reference count, not an allocation and a copy.
#[derive(Debug, Clone, PartialOrd, Ord)]
pub struct ProviderId(pub(crate) Arc<str>);

impl PartialEq for ProviderId {
    fn eq(&self, other: &ProviderId) -> bool {
        // A found link's id is a clone of the detector's, and the policy's
        // tables hold the detector's too: the same allocation, so there are
        // no bytes to compare (nor a cold line to fetch them from).
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for ProviderId {}

impl std::hash::Hash for ProviderId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The text, as `PartialEq` compares it when the pointers differ.
        self.0.hash(state);
    }
}

impl ProviderId {
    /// Wraps an id. Ids are lower-case ASCII letters, digits, `-` and `_`.
    pub fn new(id: &str) -> Option<ProviderId> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b':'
            });
        ok.then(|| ProviderId(Arc::from(id)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One occurrence of a meeting link in a message's raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The provider whose meeting this is.
    pub provider: ProviderId,
    /// The canonical URL, as `rules/tests/corpus/README.md` defines it.
    pub url: String,
    /// Byte span, in the raw text, of the link target as written (the URL
    /// inside `<…|label>` or `[label](…)`, or the bare URL token, wrappers and
    /// defanging included). Replacing exactly this span swaps the link.
    pub span: Range<usize>,
    /// Byte span of the display label, for `<url|label>` and `[label](url)`.
    pub label: Option<Range<usize>>,
}

#[cfg(test)]
mod tests {
    use super::{Dialect, ProviderId};

    /// Equal by text whether or not two ids share an allocation, and hashed
    /// alike, so a table keyed by one copy finds the other.
    #[test]
    fn provider_ids_compare_by_text() {
        let a = ProviderId::new("zoom").unwrap();
        let b = ProviderId::new("zoom").unwrap();
        assert!(!std::sync::Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
        assert_eq!(a, a.clone());
        assert_ne!(a, ProviderId::new("teams").unwrap());
        let map: std::collections::HashMap<ProviderId, u8> = [(a, 1)].into_iter().collect();
        assert_eq!(map.get(&b), Some(&1));
    }

    #[test]
    fn dialect_names_parse_in_any_case_and_nothing_else_does() {
        for (s, d) in [
            ("slack", Dialect::Slack),
            ("SLACK", Dialect::Slack),
            ("Discord", Dialect::Discord),
            ("any", Dialect::Any),
            ("ANY", Dialect::Any),
            ("", Dialect::Any),
        ] {
            assert_eq!(Dialect::parse(s), Some(d), "{s:?}");
        }
        for s in ["slac", "slack ", " any", "discord\0", "teams", "ſlack"] {
            assert_eq!(Dialect::parse(s), None, "{s:?}");
        }
    }
}
