//! The provider catalogue: which hosts, app schemes and path shapes make a URL
//! one provider's meeting link.
//!
//! Providers are data, not code: the built-in list lives in `providers.toml`
//! and a policy may add its own entries with the same shape. This module only
//! holds and validates the specs; [`super::Detector::new`] compiles them.

use std::fmt;
use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::link::ProviderId;

/// The largest compiled size of one regex, in bytes, whether it comes from the
/// provider catalogue or a policy's rule. A policy file is operator input, so a
/// pathological pattern must fail to load rather than exhaust memory.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

const BUILTIN_TOML: &str = include_str!("providers.toml");

/// One provider as written in `providers.toml` or in a policy's
/// `[[providers]]` table.
///
/// A URL is this provider's meeting link when:
/// - its scheme is one of `schemes` (an app link such as `zoommtg://`) and its
///   path matches `app_meeting` (or, when that is empty, `meeting`); or
/// - its host matches `hosts` (and not `exclude_hosts`), its path target
///   (`/path?query#fragment`, canonical form) matches one of `meeting` and none
///   of `not_meeting`; or a [`RouteSpec`] in `routes` says so for its hosts; or
/// - the whole canonical URL matches one of `url_patterns`, on any host.
///
/// Host patterns: `example.com` (exactly that host), `*.example.com` (any
/// subdomain, not the domain itself), `jitsi.*` (first label `jitsi` under any
/// domain of two or more labels) and `*` (any host).
///
/// Regexes are used as written (add `(?i)` for case-insensitive matching). A
/// route without `meeting` patterns accepts any path other than `/`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// The provider id reported in [`crate::Link::provider`].
    pub id: String,
    /// Display name (defaults to the id).
    #[serde(default)]
    pub name: String,
    /// Host patterns whose URLs may be this provider's meetings.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Host patterns that are never this provider's meetings (API, docs, status).
    #[serde(default)]
    pub exclude_hosts: Vec<String>,
    /// App schemes (`zoommtg`, `msteams`), without `:`.
    #[serde(default)]
    pub schemes: Vec<String>,
    /// Regexes over the path target that make a URL on `hosts` a meeting.
    #[serde(default)]
    pub meeting: Vec<String>,
    /// Regexes over the path target that make a URL not a meeting, whatever
    /// else matches (applies to every route).
    #[serde(default)]
    pub not_meeting: Vec<String>,
    /// Regexes over the path target of an app-scheme link (empty: use `meeting`).
    #[serde(default)]
    pub app_meeting: Vec<String>,
    /// Regexes over the whole canonical URL that make it this provider's
    /// meeting on any host.
    #[serde(default)]
    pub url_patterns: Vec<String>,
    /// Host-specific path shapes, for providers whose hosts differ.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// Regexes over the path target whose first capture group is the meeting
    /// id (or room name). Optional; used by [`super::Detector::meeting_id`].
    #[serde(default)]
    pub meeting_id: Vec<String>,
}

/// Path shapes that apply only on some of a provider's hosts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Host patterns of this route (same syntax as [`ProviderSpec::hosts`]).
    pub hosts: Vec<String>,
    /// Regexes over the path target that make a URL a meeting.
    #[serde(default)]
    pub meeting: Vec<String>,
    /// Regexes over the path target that make a URL not a meeting.
    #[serde(default)]
    pub not_meeting: Vec<String>,
}

impl ProviderSpec {
    /// A provider for a policy rule's own hosts and URL regexes: every link on
    /// one of `hosts` (`host` or `*.domain`, the latter also covering the
    /// domain itself) with a path other than `/`, and every link whose
    /// canonical URL matches one of `url_patterns`, on any host.
    pub fn custom(id: &str, name: &str, hosts: &[String], url_patterns: &[String]) -> ProviderSpec {
        let mut all_hosts = Vec::with_capacity(hosts.len() * 2);
        for h in hosts {
            all_hosts.push(h.clone());
            if let Some(apex) = h.strip_prefix("*.") {
                all_hosts.push(apex.to_owned());
            }
        }
        ProviderSpec {
            id: id.to_owned(),
            name: name.to_owned(),
            hosts: all_hosts,
            exclude_hosts: Vec::new(),
            schemes: Vec::new(),
            meeting: Vec::new(),
            not_meeting: Vec::new(),
            app_meeting: Vec::new(),
            url_patterns: url_patterns.to_vec(),
            routes: Vec::new(),
            meeting_id: Vec::new(),
        }
    }

    /// The display name, or the id when none was given.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }

    /// Every regex of the spec, in a fixed order.
    pub(crate) fn all_patterns(&self) -> impl Iterator<Item = &str> {
        self.meeting
            .iter()
            .chain(&self.not_meeting)
            .chain(&self.app_meeting)
            .chain(&self.url_patterns)
            .chain(&self.meeting_id)
            .chain(
                self.routes
                    .iter()
                    .flat_map(|r| r.meeting.iter().chain(&r.not_meeting)),
            )
            .map(String::as_str)
    }

    /// Every host pattern of the spec.
    pub(crate) fn all_host_patterns(&self) -> impl Iterator<Item = &str> {
        self.hosts
            .iter()
            .chain(&self.exclude_hosts)
            .chain(self.routes.iter().flat_map(|r| r.hosts.iter()))
            .map(String::as_str)
    }
}

/// Why a provider spec was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CatalogueError {
    /// The id is not lower-case letters, digits, `-`, `_` or `:` (at most 64).
    InvalidId {
        /// The id as written.
        id: String,
    },
    /// Another provider already has this id.
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A regex does not compile.
    InvalidRegex {
        /// The provider.
        id: String,
        /// The pattern as written.
        pattern: String,
        /// The regex engine's message.
        message: String,
    },
    /// A regex compiles to more than [`REGEX_SIZE_LIMIT`] bytes.
    RegexTooLarge {
        /// The provider.
        id: String,
        /// The pattern as written.
        pattern: String,
    },
    /// A host pattern is not `host`, `*.domain`, `label.*` or `*`.
    InvalidHost {
        /// The provider.
        id: String,
        /// The host pattern as written.
        pattern: String,
    },
    /// An app scheme is not a URL scheme (`[a-z][a-z0-9+.-]*`).
    InvalidScheme {
        /// The provider.
        id: String,
        /// The scheme as written.
        scheme: String,
    },
    /// A catalogue file is not valid TOML of the expected shape.
    Parse {
        /// The TOML parser's message.
        message: String,
    },
}

impl fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogueError::InvalidId { id } => write!(
                f,
                "invalid provider id `{id}`: use lower-case letters, digits, `-`, `_` or `:` (at most 64)"
            ),
            CatalogueError::DuplicateId { id } => write!(f, "provider `{id}` is defined twice"),
            CatalogueError::InvalidRegex { id, pattern, message } => {
                write!(f, "provider `{id}`: invalid regex `{pattern}`: {message}")
            }
            CatalogueError::RegexTooLarge { id, pattern } => write!(
                f,
                "provider `{id}`: regex `{pattern}` is too large (limit {REGEX_SIZE_LIMIT} bytes compiled)"
            ),
            CatalogueError::InvalidHost { id, pattern } => write!(
                f,
                "provider `{id}`: invalid host pattern `{pattern}` (use `host.example`, `*.example.com`, `label.*` or `*`)"
            ),
            CatalogueError::InvalidScheme { id, scheme } => {
                write!(f, "provider `{id}`: invalid app scheme `{scheme}`")
            }
            CatalogueError::Parse { message } => write!(f, "provider catalogue: {message}"),
        }
    }
}

impl std::error::Error for CatalogueError {}

/// A validated list of providers.
#[derive(Debug, Clone)]
pub struct Catalogue {
    providers: Vec<(ProviderId, ProviderSpec)>,
    /// Indices into `providers`, sorted by id: `get` and the duplicate
    /// check are binary searches (a policy of 10,000 rules adds a provider
    /// per rule with hosts or patterns).
    by_id: Vec<u32>,
    /// How many of the first providers come from the built-in file, whose
    /// regexes a unit test compiles: a detector compiles those when it
    /// first needs them rather than up front.
    builtin: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    provider: Vec<ProviderSpec>,
}

impl Catalogue {
    /// An empty catalogue.
    pub fn empty() -> Catalogue {
        Catalogue {
            providers: Vec::new(),
            by_id: Vec::new(),
            builtin: 0,
        }
    }

    /// The built-in providers (`providers.toml`, parsed once per process).
    pub fn builtin() -> Catalogue {
        static BUILTIN: OnceLock<Catalogue> = OnceLock::new();
        BUILTIN
            // Its regexes are not compiled here (most of a process's
            // start-up): a detector compiles each set the first time it
            // needs it, and a unit test compiles them all.
            .get_or_init(|| match Catalogue::parse(BUILTIN_TOML, false) {
                Ok(mut c) => {
                    c.builtin = c.providers.len();
                    c
                }
                // A unit test loads the built-in file, so this cannot ship.
                Err(e) => panic!("built-in providers.toml is invalid: {e}"),
            })
            .clone()
    }

    /// Parses a catalogue file: a list of `[[provider]]` tables.
    pub fn from_toml(text: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::parse(text, true)
    }

    fn parse(text: &str, check_regexes: bool) -> Result<Catalogue, CatalogueError> {
        let file: CatalogueFile = toml::from_str(text).map_err(|e| CatalogueError::Parse {
            message: e.message().to_owned(),
        })?;
        let mut c = Catalogue::empty();
        for spec in file.provider {
            c.add_checked(spec, check_regexes)?;
        }
        Ok(c)
    }

    /// Adds a provider after checking its id, host patterns, schemes and
    /// regexes.
    pub fn add(&mut self, spec: ProviderSpec) -> Result<(), CatalogueError> {
        self.add_checked(spec, true)
    }

    /// Adds a provider whose regexes the caller has already compiled (a
    /// policy's custom rules, checked one by one with their positions).
    pub(crate) fn add_prechecked(&mut self, spec: ProviderSpec) -> Result<(), CatalogueError> {
        self.add_checked(spec, false)
    }

    fn add_checked(
        &mut self,
        spec: ProviderSpec,
        check_regexes: bool,
    ) -> Result<(), CatalogueError> {
        let id = ProviderId::new(&spec.id).ok_or_else(|| CatalogueError::InvalidId {
            id: spec.id.clone(),
        })?;
        let Err(slot) = self.search(id.as_str()) else {
            return Err(CatalogueError::DuplicateId {
                id: spec.id.clone(),
            });
        };
        for h in spec.all_host_patterns() {
            if HostPattern::parse(h).is_none() {
                return Err(CatalogueError::InvalidHost {
                    id: spec.id.clone(),
                    pattern: h.to_owned(),
                });
            }
        }
        for s in &spec.schemes {
            if !valid_scheme(s) {
                return Err(CatalogueError::InvalidScheme {
                    id: spec.id.clone(),
                    scheme: s.clone(),
                });
            }
        }
        if check_regexes {
            for p in spec.all_patterns() {
                compile(&spec.id, p)?;
            }
        }
        self.by_id.insert(slot, self.providers.len() as u32);
        self.providers.push((id, spec));
        Ok(())
    }

    /// Gives back the room left for more providers.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.providers.shrink_to_fit();
        self.by_id.shrink_to_fit();
    }

    /// Where `id` is in `by_id`, or where it would go.
    fn search(&self, id: &str) -> Result<usize, usize> {
        self.by_id
            .binary_search_by(|&i| self.providers[i as usize].0.as_str().cmp(id))
    }

    /// The provider ids, in catalogue order.
    pub fn ids(&self) -> impl Iterator<Item = &ProviderId> {
        self.providers.iter().map(|(id, _)| id)
    }

    /// The provider specs, in catalogue order.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderSpec> {
        self.providers.iter().map(|(_, s)| s)
    }

    /// The spec of one provider.
    pub fn get(&self, id: &str) -> Option<&ProviderSpec> {
        let i = self.search(id).ok()?;
        Some(&self.providers[self.by_id[i] as usize].1)
    }

    pub(crate) fn entries(&self) -> &[(ProviderId, ProviderSpec)] {
        &self.providers
    }

    /// Whether entry `index` comes from the built-in file (whose regexes
    /// are known to compile).
    pub(crate) fn is_builtin(&self, index: usize) -> bool {
        index < self.builtin
    }
}

fn valid_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_lowercase())
        && b.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.')
        })
}

/// Compiles one catalogue regex with the size limit, naming the provider in
/// the error.
pub(crate) fn compile(id: &str, pattern: &str) -> Result<Regex, CatalogueError> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_error(id, pattern, e))
}

pub(crate) fn regex_error(id: &str, pattern: &str, e: regex::Error) -> CatalogueError {
    match e {
        regex::Error::CompiledTooBig(_) => CatalogueError::RegexTooLarge {
            id: id.to_owned(),
            pattern: pattern.to_owned(),
        },
        other => CatalogueError::InvalidRegex {
            id: id.to_owned(),
            pattern: pattern.to_owned(),
            message: other.to_string(),
        },
    }
}

/// A parsed host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// Exactly this host.
    Exact(String),
    /// Any subdomain of this domain.
    Suffix(String),
    /// First label equal to this, under a domain of two or more labels.
    FirstLabel(String),
    /// Any host.
    Any,
}

impl HostPattern {
    pub(crate) fn parse(p: &str) -> Option<HostPattern> {
        let p = p.trim().trim_end_matches('.').to_ascii_lowercase();
        if p == "*" {
            return Some(HostPattern::Any);
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if let Some(rest) = p.strip_prefix("*.") {
            return rest
                .split('.')
                .all(label_ok)
                .then(|| HostPattern::Suffix(rest.to_owned()));
        }
        if let Some(first) = p.strip_suffix(".*") {
            return label_ok(first).then(|| HostPattern::FirstLabel(first.to_owned()));
        }
        if p.split('.').all(label_ok) {
            Some(HostPattern::Exact(p))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_loads_with_every_readme_provider() {
        // Every built-in regex compiles on its own (`builtin` skips this).
        Catalogue::from_toml(BUILTIN_TOML).unwrap();
        let c = Catalogue::builtin();
        for id in [
            "zoom",
            "teams",
            "meet",
            "webex",
            "goto",
            "bluejeans",
            "whereby",
            "jitsi",
            "skype",
            "lync",
            "chime",
            "ringcentral",
            "zoho",
            "lifesize",
            "pexip",
            "vonage",
            "dialpad",
            "around",
            "livestorm",
            "slack",
            "discord",
            "8x8",
            "facetime",
            "lark",
            "tencent",
            "bbcollab",
        ] {
            assert!(c.get(id).is_some(), "missing provider {id}");
        }
    }

    fn spec(id: &str) -> ProviderSpec {
        ProviderSpec::custom(id, id, &[], &[])
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let mut c = Catalogue::builtin();
        assert_eq!(
            c.add(spec("zoom")),
            Err(CatalogueError::DuplicateId { id: "zoom".into() })
        );
    }

    #[test]
    fn bad_ids_hosts_schemes_and_regexes_are_named() {
        let mut c = Catalogue::empty();
        assert!(matches!(
            c.add(spec("Bad Id")),
            Err(CatalogueError::InvalidId { .. })
        ));

        let mut s = spec("acme");
        s.meeting = vec!["^/(unclosed".into()];
        match c.add(s) {
            Err(CatalogueError::InvalidRegex { id, pattern, .. }) => {
                assert_eq!(id, "acme");
                assert_eq!(pattern, "^/(unclosed");
            }
            other => panic!("unexpected {other:?}"),
        }

        let mut s = spec("acme");
        s.url_patterns = vec![r"\w{1000}\w{1000}\w{1000}".into()];
        assert!(matches!(
            c.add(s),
            Err(CatalogueError::RegexTooLarge { .. })
        ));

        let mut s = spec("acme");
        s.hosts = vec!["meet.*.example".into()];
        assert!(matches!(c.add(s), Err(CatalogueError::InvalidHost { .. })));

        let mut s = spec("acme");
        s.schemes = vec!["acme meet".into()];
        assert!(matches!(
            c.add(s),
            Err(CatalogueError::InvalidScheme { .. })
        ));

        assert!(c.add(spec("acme")).is_ok());
        assert_eq!(c.ids().count(), 1);
    }

    #[test]
    fn custom_wildcards_cover_the_domain_itself() {
        let s = ProviderSpec::custom("rule:x", "x", &["*.vc.acme.example".into()], &[]);
        assert_eq!(
            s.hosts,
            vec!["*.vc.acme.example".to_owned(), "vc.acme.example".to_owned()]
        );
    }

    #[test]
    fn host_patterns_parse() {
        assert_eq!(
            HostPattern::parse("Zoom.US"),
            Some(HostPattern::Exact("zoom.us".into()))
        );
        assert_eq!(
            HostPattern::parse("*.zoom.us"),
            Some(HostPattern::Suffix("zoom.us".into()))
        );
        assert_eq!(
            HostPattern::parse("jitsi.*"),
            Some(HostPattern::FirstLabel("jitsi".into()))
        );
        assert_eq!(HostPattern::parse("*"), Some(HostPattern::Any));
        assert_eq!(HostPattern::parse("a..b"), None);
        assert_eq!(HostPattern::parse("*.*"), None);
    }
}
