//! The compiled regex lists of catalogue entries: compiled when a policy
//! loads (a policy's own providers, so that a bad regex fails the load) or
//! the first time a link needs them (the built-in catalogue, most of which
//! a process never meets).

use std::sync::OnceLock;

use std::panic::{RefUnwindSafe, UnwindSafe};

use regex::Regex;
use regex_automata::nfa::thompson::pikevm::{self, PikeVM};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::pool::Pool;
use regex_automata::{hybrid, meta, Input, MatchKind};

use super::catalogue::{compile, regex_error, CatalogueError, REGEX_SIZE_LIMIT};
use crate::patterns::PatternSet;

/// Compiled regexes of one catalogue list.
pub(crate) trait Compiled: Sized {
    fn compile(id: &str, patterns: &[String]) -> Result<Self, CatalogueError>;
}

/// Whether any of a list of regexes matches (all a catalogue list is
/// asked): the list's patterns as one forward NFA (no capture groups),
/// searched by a lazy DFA built from it, and by a PikeVM over the same NFA
/// in the rare search the lazy DFA gives up on (a Unicode word boundary
/// next to a non-ASCII character).
///
/// The `meta::Regex` a list was before (configured like a `RegexSet`) also
/// compiled a reverse NFA for its lazy DFA, which only finding where a
/// match starts needs; that
/// was about half of compiling a list, and the built-in lists are compiled
/// the first time a link needs them, on the path of every scan's and
/// `check`'s first answer (the first Zoom link of a process: 1.5 ms before,
/// see `examples/first_link.rs`). A full DFA is not built either: the URL
/// parts given here are tens of bytes.
pub(crate) struct AnyOf {
    /// `None` when the NFA is too large for the lazy DFA's cache (a
    /// policy's own long pattern lists): the PikeVM answers alone, as the
    /// meta regex did then.
    dfa: Option<hybrid::dfa::DFA>,
    vm: PikeVM,
    caches: Pool<Caches, CacheFn>,
}

/// A search's scratch space, one per thread searching at once.
struct Caches {
    dfa: Option<hybrid::dfa::Cache>,
    vm: pikevm::Cache,
}

type CacheFn = Box<dyn Fn() -> Caches + Send + Sync + UnwindSafe + RefUnwindSafe>;

impl AnyOf {
    fn new(dfa: Option<hybrid::dfa::DFA>, vm: PikeVM) -> AnyOf {
        let (d, v) = (dfa.clone(), vm.clone());
        let create: CacheFn = Box::new(move || Caches {
            dfa: d.as_ref().map(hybrid::dfa::DFA::create_cache),
            vm: v.create_cache(),
        });
        AnyOf {
            dfa,
            vm,
            caches: Pool::new(create),
        }
    }

    pub(crate) fn is_match(&self, s: &str) -> bool {
        let input = Input::new(s).earliest(true);
        let mut caches = self.caches.get();
        let Caches { dfa, vm } = &mut *caches;
        if let (Some(d), Some(cache)) = (&self.dfa, dfa) {
            match d.try_search_fwd(cache, &input) {
                Ok(None) => return false,
                // A match that may be empty is confirmed by the PikeVM,
                // which does not report one that splits a character.
                Ok(Some(_)) if !self.vm.get_nfa().has_empty() => return true,
                // Given up (or empty): the PikeVM answers.
                _ => {}
            }
        }
        self.vm.is_match(vm, input)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.vm.get_nfa().pattern_len()
    }
}

impl Clone for AnyOf {
    fn clone(&self) -> AnyOf {
        AnyOf::new(self.dfa.clone(), self.vm.clone())
    }
}

impl std::fmt::Debug for AnyOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnyOf")
            .field("patterns", &self.vm.get_nfa().pattern_len())
            .field("lazy_dfa", &self.dfa.is_some())
            .finish_non_exhaustive()
    }
}

impl Compiled for AnyOf {
    fn compile(id: &str, patterns: &[String]) -> Result<AnyOf, CatalogueError> {
        let limit = REGEX_SIZE_LIMIT.saturating_mul(patterns.len());
        let built = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .which_captures(WhichCaptures::None)
                    .nfa_size_limit(Some(limit)),
            )
            .build_many(patterns)
            .ok()
            .and_then(|nfa| {
                let dfa = hybrid::dfa::Builder::new()
                    .configure(
                        hybrid::dfa::Config::new()
                            .match_kind(MatchKind::All)
                            .unicode_word_boundary(true),
                    )
                    .build_from_nfa(nfa.clone())
                    .ok();
                let vm = PikeVM::builder()
                    .configure(PikeVM::config().match_kind(MatchKind::All))
                    .build_from_nfa(nfa)
                    .ok()?;
                Some(AnyOf::new(dfa, vm))
            });
        // When the NFA does not build, what is wrong in the words (and with
        // the limits) of the regex crate, which a policy's author reads.
        built.ok_or_else(|| {
            regex_error(
                id,
                &patterns.join(" | "),
                meta::Builder::new()
                    .configure(meta::Config::new().nfa_size_limit(Some(limit)))
                    .build_many(patterns)
                    .err()
                    .map_or_else(
                        || regex::Error::Syntax("the patterns could not be compiled".into()),
                        |e| crate::patterns::regex_crate_error(&e),
                    ),
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The forward-only lazy DFA, with its PikeVM fallback, answers as the
    /// regex crate's `RegexSet` does, including where the lazy DFA gives up
    /// (a Unicode word boundary beside a non-ASCII letter) and for patterns
    /// that match the empty string.
    #[test]
    fn any_of_agrees_with_a_regex_set() {
        let lists: [&[&str]; 4] = [
            &[
                r"(?i)^/[jsw]/\d{9,12}(?:[/?#]|$)",
                r"(?i)^/my/[a-z0-9][a-z0-9._-]*",
            ],
            &[r"\bmeet\b", r"(?i)\bjoin\b/\w+"],
            &[r"^$", r"x*"],
            &[r"(?i)^/(?:_#/)?l/meeting/new", r"é+$"],
        ];
        let inputs = [
            "",
            "/j/123456789",
            "/J/١٢٣٤٥٦٧٨٩",
            "/my/alice.b",
            "meet",
            "émeet",
            "meeté",
            "a meet b",
            "JOIN/ü",
            "/l/meeting/new",
            "/_#/L/Meeting/New?x",
            "café",
            "\u{1F600}",
        ];
        for patterns in lists {
            let owned: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
            let any = AnyOf::compile("test", &owned).unwrap();
            let set = regex::RegexSet::new(patterns).unwrap();
            assert!(any.dfa.is_some());
            // The PikeVM alone, as for a list too large for the lazy DFA.
            let vm_only = AnyOf::new(None, any.vm.clone());
            for s in inputs {
                assert_eq!(any.is_match(s), set.is_match(s), "{patterns:?} on {s:?}");
                assert_eq!(any.clone().is_match(s), set.is_match(s));
                assert_eq!(vm_only.is_match(s), set.is_match(s), "PikeVM alone");
            }
        }
        let bad = AnyOf::compile("test", &["(unclosed".to_owned()]).unwrap_err();
        assert!(bad.to_string().contains("unclosed"), "{bad}");
    }
}
