//! Meeting-link detection: from a message's raw text to the meeting links in
//! it, each with its provider, canonical URL and byte span.
//!
//! The stages follow the corpus conventions in `rules/tests/corpus/README.md`:
//! `scan` cuts candidates out of the text per dialect, `url` cleans and
//! canonicalises them, `unwrap` removes known safety wrappers, and the
//! compiled [`Catalogue`] decides which provider's meeting a URL is.
//!
//! [`Detector::new`] compiles every pattern of a catalogue it is given once,
//! except the built-in providers', which are compiled (once) the first time
//! a link needs them, so that start-up does not pay for all of them (a unit
//! test compiles them all). [`Detector::find`] allocates nothing for a
//! message without links.

mod catalogue;
mod ignorable;
mod invite;
mod lists;
mod scan;
mod unwrap;
mod url;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use regex::Regex;

pub use catalogue::{Catalogue, CatalogueError, ProviderSpec, RouteSpec, REGEX_SIZE_LIMIT};
pub use invite::{
    is_invitation, InvitationFinder, INVITATION_KEYWORDS, INVITATION_PROVIDERS, INVITATION_SCHEME,
};

use crate::keyfilter::KeyFilter;
use crate::link::{Dialect, Link, ProviderId};
use crate::patterns::PatternSet;
use catalogue::HostPattern;
use lists::{AnyOf, Lazy};
use scan::Candidate;
pub(crate) use url::{hex, is_invisible as is_invisible_char, is_wide_dot as is_wide_dot_char};
use url::{Parts, SchemeHit};

thread_local! {
    /// The canonical URL being searched by the URL patterns (see
    /// `Detector::classify_target`).
    static ASSEMBLED: RefCell<String> = const { RefCell::new(String::new()) };
}

/// How many wrappers inside wrappers are undone before giving up.
const MAX_UNWRAP_DEPTH: usize = 8;

/// A candidate that is a meeting link: its provider, its canonical URL, and
/// the URL pattern that decided it, if the patterns did (the smallest index
/// of a pattern that matches the canonical URL and whose provider does not
/// veto it).
struct Hit {
    provider: usize,
    url: String,
    pattern: Option<usize>,
}

/// A compiled catalogue: finds meeting links in text.
#[derive(Debug, Clone)]
pub struct Detector {
    providers: Vec<Provider>,
    routes: Vec<Route>,
    hosts: HostIndex,
    /// Lower-case app schemes and their provider.
    schemes: Vec<(Box<str>, usize)>,
    scheme_names: Vec<Box<str>>,
    /// Every provider's `url_patterns` in one set, which looks at links on
    /// every host; `url_pattern_provider[i]` owns pattern `i`.
    url_patterns: Option<Lazy<PatternSet>>,
    url_pattern_provider: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Provider {
    id: ProviderId,
    name: String,
    exclude: HostSet,
    not_meeting: Option<Lazy<AnyOf>>,
    app_meeting: Option<Lazy<AnyOf>>,
    meeting_id: Option<Lazy<Vec<Regex>>>,
    routes: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Route {
    provider: usize,
    /// A literal every `meeting` pattern requires at the start of the path
    /// target (ASCII case ignored): a cheap test before the regexes.
    prefix: Box<str>,
    /// `None`: any path other than `/`.
    meeting: Option<Lazy<AnyOf>>,
    not_meeting: Option<Lazy<AnyOf>>,
}

/// FNV-1a: host lookups hash a few short, non-adversarial keys per URL (the
/// keys are catalogue hosts), where SipHash's DoS resistance only costs time.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<V> = HashMap<Box<str>, V, BuildHasherDefault<Fnv>>;

/// Host patterns to the routes that use them.
#[derive(Debug, Clone, Default)]
struct HostIndex {
    exact: FastMap<Vec<usize>>,
    suffix: FastMap<Vec<usize>>,
    first_label: FastMap<Vec<usize>>,
    any: Vec<usize>,
    /// Over the keys of the three maps, once they are complete (`seal`).
    filter: KeyFilter,
}

impl HostIndex {
    /// Builds the filter in front of the maps, once every host is in.
    fn seal(&mut self) {
        let keys = self.exact.keys().chain(self.suffix.keys());
        let keys: Vec<&str> = keys.chain(self.first_label.keys()).map(|k| &**k).collect();
        self.filter = KeyFilter::new(&keys);
    }

    fn insert(&mut self, pattern: HostPattern, route: usize) {
        let list = match pattern {
            HostPattern::Exact(h) => self.exact.entry(h.into()).or_default(),
            HostPattern::Suffix(h) => self.suffix.entry(h.into()).or_default(),
            HostPattern::FirstLabel(l) => self.first_label.entry(l.into()).or_default(),
            HostPattern::Any => &mut self.any,
        };
        if !list.contains(&route) {
            list.push(route);
        }
    }

    /// Calls `f` on the routes for `host`, most specific first, until it
    /// returns `Some`.
    fn find_map<T>(&self, host: &str, mut f: impl FnMut(usize) -> Option<T>) -> Option<T> {
        if let Some(rs) = self.filter.get(&self.exact, host) {
            if let Some(t) = rs.iter().find_map(|&r| f(r)) {
                return Some(t);
            }
        }
        // Hosts are short: a byte loop beats `split_once` here.
        let dots = || {
            host.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'.')
                .map(|(i, _)| i)
        };
        if !self.suffix.is_empty() {
            for dot in dots() {
                if let Some(rs) = self.filter.get(&self.suffix, &host[dot + 1..]) {
                    if let Some(t) = rs.iter().find_map(|&r| f(r)) {
                        return Some(t);
                    }
                }
            }
        }
        if !self.first_label.is_empty() {
            let mut d = dots();
            if let (Some(first), Some(_)) = (d.next(), d.next()) {
                if let Some(rs) = self.filter.get(&self.first_label, &host[..first]) {
                    if let Some(t) = rs.iter().find_map(|&r| f(r)) {
                        return Some(t);
                    }
                }
            }
        }
        self.any.iter().find_map(|&r| f(r))
    }
}

/// A set of host patterns, for `exclude_hosts`; boxed, as most providers
/// have none.
#[derive(Debug, Clone, Default)]
struct HostSet {
    index: Option<Box<HostIndex>>,
}

impl HostSet {
    fn insert(&mut self, pattern: HostPattern) {
        self.index.get_or_insert_default().insert(pattern, 0);
    }

    fn contains(&self, host: &str) -> bool {
        self.index
            .as_ref()
            .is_some_and(|i| i.find_map(host, |_| Some(())).is_some())
    }
}

fn host_pattern(id: &str, p: &str) -> Result<HostPattern, CatalogueError> {
    HostPattern::parse(p).ok_or_else(|| CatalogueError::InvalidHost {
        id: id.to_owned(),
        pattern: p.to_owned(),
    })
}

impl Detector {
    /// Compiles a catalogue.
    pub fn new(catalogue: &Catalogue) -> Result<Detector, CatalogueError> {
        let mut d = Detector {
            providers: Vec::new(),
            routes: Vec::new(),
            hosts: HostIndex::default(),
            schemes: Vec::new(),
            scheme_names: Vec::new(),
            url_patterns: None,
            url_pattern_provider: Vec::new(),
        };
        let mut url_patterns = Vec::new();
        for (pi, (id, spec)) in catalogue.entries().iter().enumerate() {
            let sid = id.as_str();
            let now = !catalogue.is_builtin(pi);
            let mut exclude = HostSet::default();
            for h in &spec.exclude_hosts {
                exclude.insert(host_pattern(sid, h)?);
            }
            let mut provider = Provider {
                id: id.clone(),
                name: spec.display_name().to_owned(),
                exclude,
                not_meeting: Lazy::new(sid, &spec.not_meeting, now)?,
                app_meeting: Lazy::new(sid, &spec.app_meeting, now)?,
                meeting_id: Lazy::new(sid, &spec.meeting_id, now)?,
                routes: Vec::new(),
            };
            let base = (spec.hosts.as_slice(), spec.meeting.as_slice(), &[][..]);
            let extra = spec.routes.iter().map(|r| {
                let hosts = if r.hosts.is_empty() {
                    spec.hosts.as_slice()
                } else {
                    r.hosts.as_slice()
                };
                (hosts, r.meeting.as_slice(), r.not_meeting.as_slice())
            });
            for (hosts, meeting, not_meeting) in std::iter::once(base).chain(extra) {
                if hosts.is_empty() {
                    continue;
                }
                let ri = d.routes.len();
                d.routes.push(Route {
                    provider: pi,
                    prefix: common_prefix(meeting).into(),
                    meeting: Lazy::new(sid, meeting, now)?,
                    not_meeting: Lazy::new(sid, not_meeting, now)?,
                });
                provider.routes.push(ri);
                for h in hosts {
                    d.hosts.insert(host_pattern(sid, h)?, ri);
                }
            }
            for s in &spec.schemes {
                let s = s.to_ascii_lowercase();
                if !d.schemes.iter().any(|(x, _)| **x == *s) {
                    d.scheme_names.push(s.clone().into());
                    d.schemes.push((s.into(), pi));
                }
            }
            // Each was compiled alone when its provider joined the catalogue
            // (or, built in, by a unit test); the set is compiled below.
            for p in &spec.url_patterns {
                url_patterns.push(p.clone());
                d.url_pattern_provider.push(pi);
            }
            d.providers.push(provider);
        }
        let any_added = (0..catalogue.entries().len()).any(|i| !catalogue.is_builtin(i));
        d.url_patterns = Lazy::new("url_patterns", &url_patterns, any_added)?;
        d.providers.shrink_to_fit();
        d.routes.shrink_to_fit();
        d.hosts.seal();
        Ok(d)
    }

    /// Every meeting-link occurrence in `text`, in order of appearance. The
    /// same link written twice is reported twice, each with its own span.
    pub fn find(&self, text: &str, dialect: Dialect) -> Vec<Link> {
        self.find_hinted(text, dialect, None)
    }

    /// [`Detector::find`], and in `patterns` (when given), for each link,
    /// the URL pattern that decided it (see [`Detector::url_patterns`]):
    /// no pattern before it matches the link's URL unless its provider
    /// vetoes the URL. `None` when the link was decided otherwise (by its
    /// host or scheme), before any pattern was tried.
    pub(crate) fn find_hinted(
        &self,
        text: &str,
        dialect: Dialect,
        mut patterns: Option<&mut Vec<Option<usize>>>,
    ) -> Vec<Link> {
        let mut out = Vec::new();
        if let Some(p) = patterns.as_deref_mut() {
            p.clear();
        }
        if !scan::may_contain_link(text) {
            return out;
        }
        scan::scan(text, dialect, &self.scheme_names, &mut |c| {
            if let Some(hit) = self.analyze(text, &c, dialect) {
                out.push(Link {
                    provider: self.providers[hit.provider].id.clone(),
                    url: hit.url,
                    span: c.span,
                    label: c.label,
                });
                if let Some(p) = patterns.as_deref_mut() {
                    p.push(hit.pattern);
                }
            }
        });
        out
    }

    /// Each distinct meeting link in `text` once (provider and canonical URL),
    /// in order of first appearance: what the corpus labels as `expect`.
    pub fn report(&self, text: &str, dialect: Dialect) -> Vec<Link> {
        dedupe(self.find(text, dialect))
    }

    /// The display name of a provider.
    pub fn provider_name(&self, id: &ProviderId) -> Option<&str> {
        self.providers
            .iter()
            .find(|p| p.id == *id)
            .map(|p| p.name.as_str())
    }

    /// Literals, one of which (in some ASCII case) every link of a provider
    /// `relevant` accepts is written with, unless the link is obfuscated in
    /// a way [`crate::prefilter`] watches for: the hosts and host suffixes of
    /// its routes (`jitsi.` for a first-label pattern), the longest literal
    /// of the path prefix of a route on any host, and its app schemes.
    /// `None` when a relevant provider has a route on any host without a
    /// literal path prefix, or `url_patterns` (which match any host).
    pub(crate) fn keywords(&self, relevant: &dyn Fn(&ProviderId) -> bool) -> Option<Vec<String>> {
        let route_is_relevant =
            |ri: &usize| relevant(&self.providers[self.routes[*ri].provider].id);
        let mut out = Vec::new();
        for (host, routes) in self.hosts.exact.iter().chain(&self.hosts.suffix) {
            if routes.iter().any(route_is_relevant) {
                out.push(host.to_string());
            }
        }
        for (label, routes) in &self.hosts.first_label {
            if routes.iter().any(route_is_relevant) {
                out.push(format!("{label}."));
            }
        }
        for ri in self.hosts.any.iter().filter(|ri| route_is_relevant(ri)) {
            let literal = self.routes[*ri]
                .prefix
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .max_by_key(|s| s.len())
                .unwrap_or("");
            if literal.is_empty() {
                return None;
            }
            out.push(literal.to_owned());
        }
        for (scheme, pi) in &self.schemes {
            if relevant(&self.providers[*pi].id) {
                out.push(scheme.to_string());
            }
        }
        if self
            .url_pattern_provider
            .iter()
            .any(|pi| relevant(&self.providers[*pi].id))
        {
            return None;
        }
        Some(out)
    }

    /// Every provider's `url_patterns` in one set, in catalogue order, and
    /// their sources (a policy's rule patterns are the last ones: each
    /// rule's custom provider comes after every other).
    pub(crate) fn url_patterns(&self) -> Option<(&PatternSet, &[String])> {
        self.url_patterns
            .as_ref()
            .map(|l| (l.get(), &l.patterns[..]))
    }

    /// The ids of the compiled providers, in catalogue order.
    pub fn provider_ids(&self) -> impl Iterator<Item = &ProviderId> {
        self.providers.iter().map(|p| &p.id)
    }

    /// The meeting id (or room name) of a link this detector reported, when
    /// its provider's catalogue entry says how to find one.
    pub fn meeting_id<'l>(&self, link: &'l Link) -> Option<&'l str> {
        if is_invitation(&link.url) {
            return invite::invitation_id(&link.url);
        }
        let p = self.providers.iter().find(|p| p.id == link.provider)?;
        let parts = Parts::parse(&link.url, false)?;
        let rest_at = link.url.len() - parts.rest.len();
        p.meeting_id.iter().flat_map(Lazy::get).find_map(|re| {
            let m = re.captures(parts.rest)?.get(1)?;
            Some(&link.url[rest_at + m.start()..rest_at + m.end()])
        })
    }

    /// The provider and canonical URL of a candidate, if it is a meeting link.
    fn analyze(&self, text: &str, c: &Candidate, dialect: Dialect) -> Option<Hit> {
        let cleaned = url::clean(&text[c.span.clone()], dialect != Dialect::Discord);
        let (s, bare) = if c.bare {
            (&cleaned[..], true)
        } else if matches!(cleaned, std::borrow::Cow::Borrowed(_)) {
            // Unchanged by cleaning: the span starts at the scheme.
            (&cleaned[..], false)
        } else {
            match url::find_scheme(&cleaned, &self.scheme_names) {
                SchemeHit::At(o) => (&cleaned[o..], false),
                SchemeHit::Opaque => return None,
                SchemeHit::None => (&cleaned[..], true),
            }
        };
        self.resolve(s, bare, 0)
    }

    fn resolve(&self, s: &str, bare: bool, depth: usize) -> Option<Hit> {
        let parts = Parts::parse(s, bare)?;
        let host = url::canon_host(parts.host);
        if bare && (parts.userinfo || !plausible_host(&host)) {
            return None;
        }
        if parts.authority && depth < MAX_UNWRAP_DEPTH && unwrap::is_wrapper_host(&host) {
            if let Some(inner) = unwrap::unwrap(&host, parts.rest) {
                return match url::find_scheme(&inner, &self.scheme_names) {
                    SchemeHit::At(0) => self.resolve(&inner, false, depth + 1),
                    SchemeHit::None => self.resolve(&inner, true, depth + 1),
                    _ => None,
                };
            }
        }
        self.classify(&parts, &host)
    }

    fn classify(&self, parts: &Parts<'_>, host: &str) -> Option<Hit> {
        let target = url::decode_unreserved(parts.rest);
        let hit = self.classify_target(parts, host, &target)?;
        // Checked only for hits: most URLs never get here.
        (!looks_like_template(&target)).then_some(hit)
    }

    fn classify_target(&self, parts: &Parts<'_>, host: &str, target: &str) -> Option<Hit> {
        if let Some(&(_, pi)) = self
            .schemes
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(parts.scheme))
        {
            if self.app_matches(pi, host, target) {
                return Some(Hit {
                    provider: pi,
                    url: url::assemble(parts, host, target),
                    pattern: None,
                });
            }
        } else if parts.authority
            && (parts.scheme.eq_ignore_ascii_case("https")
                || parts.scheme.eq_ignore_ascii_case("http"))
        {
            // A provider's host with `www.` in front reaches the same site
            // (`www.gotomeet.me/…`); the canonical URL keeps it as written.
            let bare_host = host.strip_prefix("www.").filter(|h| h.contains('.'));
            let found = self
                .hosts
                .find_map(host, |ri| self.route_matches(ri, host, target))
                .or_else(|| {
                    let h = bare_host?;
                    self.hosts
                        .find_map(h, |ri| self.route_matches(ri, h, target))
                });
            if let Some(pi) = found {
                return Some(Hit {
                    provider: pi,
                    url: url::assemble(parts, host, target),
                    pattern: None,
                });
            }
        }
        let set = self.url_patterns.as_ref()?.get();
        let search = |url: &str| {
            set.first(url, 0, |i| {
                let p = &self.providers[self.url_pattern_provider[i]];
                !p.exclude.contains(host)
                    && !p
                        .not_meeting
                        .as_ref()
                        .is_some_and(|set| set.is_match(target))
            })
        };
        // Most URLs that get here match no pattern (every ordinary link in
        // a message does): assembled into this thread's buffer, and copied
        // out only for a match.
        let (first, url) = ASSEMBLED.with(|buf| match buf.try_borrow_mut() {
            Ok(mut url) => {
                url::assemble_into(parts, host, target, &mut url);
                let found = search(&url).map(|first| (first, url.clone()));
                if url.capacity() > 4096 {
                    *url = String::new();
                }
                found
            }
            Err(_) => {
                let url = url::assemble(parts, host, target);
                search(&url).map(|first| (first, url))
            }
        })?;
        Some(Hit {
            provider: self.url_pattern_provider[first],
            url,
            pattern: Some(first),
        })
    }

    fn route_matches(&self, ri: usize, host: &str, target: &str) -> Option<usize> {
        let r = &self.routes[ri];
        let p = &self.providers[r.provider];
        // The shape test first: most URLs on most hosts fail it, and vetoes
        // only matter when it passes.
        if !url::starts_with_ci(target, &r.prefix) {
            return None;
        }
        let shaped = match &r.meeting {
            Some(set) => set.is_match(target),
            None => !matches!(target, "" | "/"),
        };
        let vetoed = || {
            p.exclude.contains(host)
                || p.not_meeting.as_ref().is_some_and(|s| s.is_match(target))
                || r.not_meeting.as_ref().is_some_and(|s| s.is_match(target))
        };
        (shaped && !vetoed()).then_some(r.provider)
    }

    fn app_matches(&self, pi: usize, host: &str, target: &str) -> bool {
        let p = &self.providers[pi];
        if p.not_meeting.as_ref().is_some_and(|s| s.is_match(target))
            || (!host.is_empty() && p.exclude.contains(host))
        {
            return false;
        }
        if let Some(set) = &p.app_meeting {
            return set.is_match(target);
        }
        p.routes.iter().any(|&ri| {
            let r = &self.routes[ri];
            !r.not_meeting.as_ref().is_some_and(|s| s.is_match(target))
                && match &r.meeting {
                    Some(set) => set.is_match(target),
                    None => !matches!(target, "" | "/"),
                }
        })
    }
}

/// The literal text that every pattern in `patterns` requires at the start
/// of its input: the plain characters after a leading `^` (or `(?i)^`), up to
/// the first regex syntax. Empty when any pattern is not anchored.
fn common_prefix(patterns: &[String]) -> String {
    let mut common: Option<String> = None;
    for p in patterns {
        let body = p.strip_prefix("(?i)").unwrap_or(p);
        let Some(body) = body.strip_prefix('^') else {
            return String::new();
        };
        let mut lit: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))
            .collect();
        // A quantifier after the literal makes its last character optional.
        if matches!(body[lit.len()..].chars().next(), Some('?' | '*' | '{')) {
            lit.pop();
        }
        common = Some(match common {
            None => lit,
            Some(c) => {
                let n = c
                    .bytes()
                    .zip(lit.bytes())
                    .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                    .count();
                c[..n].to_owned()
            }
        });
    }
    common.unwrap_or_default()
}

/// `{meeting_id}` or `XXXX` placeholders: documentation, not a meeting.
fn looks_like_template(target: &str) -> bool {
    let path_and_query = target.split('#').next().unwrap_or(target);
    path_and_query.contains(['{', '}'])
        || path_and_query
            .split(['/', '-', '=', '&', '?'])
            .any(|seg| seg.len() >= 3 && seg.bytes().all(|b| b == b'x' || b == b'X'))
}

/// A scheme-less host must look like a domain name: dotted labels of letters,
/// digits and `-`, and a top-level label of two or more characters that is
/// not all digits.
fn plausible_host(host: &str) -> bool {
    let mut labels = 0;
    let mut last = "";
    for label in host.split('.') {
        if label.is_empty()
            || !label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.chars().count() >= 2 && !last.bytes().all(|b| b.is_ascii_digit())
}

/// Keeps the first occurrence of each (provider, canonical URL).
pub fn dedupe(links: Vec<Link>) -> Vec<Link> {
    if links.len() < 2 {
        return links;
    }
    let mut seen = HashSet::with_capacity(links.len());
    links
        .into_iter()
        .filter(|l| seen.insert((l.provider.clone(), l.url.clone())))
        .collect()
}

#[cfg(test)]
mod prefix_tests {
    use super::common_prefix;

    fn check(patterns: &[&str], expected: &str) {
        let v: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        assert_eq!(common_prefix(&v), expected, "{patterns:?}");
    }

    #[test]
    fn prefixes() {
        check(
            &[r"(?i)^/webapp[23]?/m/", r"(?i)^/webapp(?:/home)?"],
            "/webapp",
        );
        check(&[r"^/j/\d+", r"^/s/\d+"], "/");
        check(&[r"^/meetings?/x"], "/meeting");
        check(&[r"^/a{2}"], "/");
        check(&[r"/j/"], "");
        check(&[], "");
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_support {
    use std::sync::OnceLock;

    use super::{Catalogue, Detector};

    #[test]
    fn every_builtin_pattern_compiles() {
        // What `Lazy::get` relies on: each list of the built-in providers
        // compiles, with the same size limits as a user's catalogue.
        let d = detector();
        let mut listed = 0;
        let mut compiled = 0;
        let mut count = |set: &Option<super::Lazy<super::AnyOf>>| {
            if let Some(l) = set {
                listed += l.patterns.len();
                compiled += l.get().len();
            }
        };
        for p in &d.providers {
            count(&p.not_meeting);
            count(&p.app_meeting);
        }
        for r in &d.routes {
            count(&r.meeting);
            count(&r.not_meeting);
        }
        if let Some(l) = &d.url_patterns {
            listed += l.patterns.len();
            compiled += l.get().len();
        }
        for l in d.providers.iter().filter_map(|p| p.meeting_id.as_ref()) {
            listed += l.patterns.len();
            compiled += l.get().len();
        }
        assert_eq!(compiled, listed);
        assert!(listed > 40, "only {listed} patterns");
    }

    /// The built-in detector, compiled once for all tests.
    pub(crate) fn detector() -> &'static Detector {
        static D: OnceLock<Detector> = OnceLock::new();
        D.get_or_init(|| match Detector::new(&Catalogue::builtin()) {
            Ok(d) => d,
            Err(e) => panic!("built-in catalogue: {e}"),
        })
    }
}
