//! The compiled regex lists of catalogue entries: compiled when a policy
//! loads (a policy's own providers, so that a bad regex fails the load) or
//! the first time a link needs them (the built-in catalogue, most of which
//! a process never meets).

use std::sync::OnceLock;

use regex::Regex;
use regex_automata::meta;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::MatchKind;

use super::catalogue::{compile, regex_error, CatalogueError, REGEX_SIZE_LIMIT};
use crate::patterns::PatternSet;

/// Compiled regexes of one catalogue list.
pub(crate) trait Compiled: Sized {
    fn compile(id: &str, patterns: &[String]) -> Result<Self, CatalogueError>;
}

/// Whether any of a list of regexes matches (all a catalogue list is asked):
/// what the `regex` crate's `RegexSet` builds (every pattern, no capture
/// groups), minus the full DFA it also determinizes for a small list once
/// any crate in the build enables `regex-automata`'s `dfa-build` (here
/// `regex-automata`'s defaults and `tracing-subscriber`). That
/// determinization was a tenth of compiling the built-in policy, and the
/// built-in lists are compiled the first time a link needs them, on the
/// path of a scan's first messages; the lazy DFA, which stays, searches the
/// short URL parts given here as fast.
#[derive(Debug, Clone)]
pub(crate) struct AnyOf {
    re: meta::Regex,
    #[cfg(test)]
    len: usize,
}

impl AnyOf {
    pub(crate) fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Compiled for AnyOf {
    fn compile(id: &str, patterns: &[String]) -> Result<AnyOf, CatalogueError> {
        let limit = REGEX_SIZE_LIMIT.saturating_mul(patterns.len());
        let re = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::All)
                    .utf8_empty(true)
                    .which_captures(WhichCaptures::None)
                    .nfa_size_limit(Some(limit))
                    .dfa(false)
                    .auto_prefilter(false),
            )
            .build_many(patterns)
            .map_err(|e| {
                regex_error(
                    id,
                    &patterns.join(" | "),
                    crate::patterns::regex_crate_error(&e),
                )
            })?;
        Ok(AnyOf {
            re,
            #[cfg(test)]
            len: patterns.len(),
        })
    }
}

impl Compiled for PatternSet {
    fn compile(id: &str, patterns: &[String]) -> Result<PatternSet, CatalogueError> {
        PatternSet::new(patterns, REGEX_SIZE_LIMIT)
            .map_err(|e| regex_error(id, &patterns[e.index], e.error))
    }
}

impl Compiled for Vec<Regex> {
    fn compile(id: &str, patterns: &[String]) -> Result<Vec<Regex>, CatalogueError> {
        patterns.iter().map(|p| compile(id, p)).collect()
    }
}

/// A non-empty list of patterns, compiled up front or the first time it is
/// used. Boxed, so that an absent list (`Option<Lazy<_>>`) costs a
/// pointer's width: a policy's custom providers have almost none.
#[derive(Debug, Clone)]
pub(crate) struct Lazy<T>(Box<LazyParts<T>>);

#[derive(Debug, Clone)]
pub(crate) struct LazyParts<T> {
    id: Box<str>,
    pub(crate) patterns: Box<[String]>,
    compiled: OnceLock<T>,
}

impl<T> std::ops::Deref for Lazy<T> {
    type Target = LazyParts<T>;

    fn deref(&self) -> &LazyParts<T> {
        &self.0
    }
}

impl<T: Compiled> Lazy<T> {
    /// `None` for no patterns. `now` compiles them here, so that an error
    /// is reported at once; otherwise they must be known to compile.
    pub(crate) fn new(
        id: &str,
        patterns: &[String],
        now: bool,
    ) -> Result<Option<Lazy<T>>, CatalogueError> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let compiled = OnceLock::new();
        if now {
            let _ = compiled.set(T::compile(id, patterns)?);
        }
        Ok(Some(Lazy(Box::new(LazyParts {
            id: id.into(),
            patterns: patterns.into(),
            compiled,
        }))))
    }

    pub(crate) fn get(&self) -> &T {
        self.compiled
            .get_or_init(|| match T::compile(&self.id, &self.patterns) {
                Ok(t) => t,
                // Only the built-in catalogue is compiled late, and
                // `every_builtin_pattern_compiles` compiles all of it.
                Err(e) => panic!("built-in catalogue: {e}"),
            })
    }
}

impl Lazy<AnyOf> {
    pub(crate) fn is_match(&self, s: &str) -> bool {
        self.get().is_match(s)
    }
}
