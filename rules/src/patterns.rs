//! Many regexes over one short string (a canonical URL): which match?
//!
//! A policy may carry thousands of custom URL patterns. One `RegexSet` over
//! all of them takes minutes to compile at that size, hundreds of MiB, and
//! falls back to its slowest engine on every URL, because its lazy DFA
//! thrashes. Nearly every such pattern, though, requires a literal that is
//! rare in a URL (`/webinar/acme-`, `https://conf.example.com/globex/`), so
//! [`PatternSet`] pulls out of each pattern literals one of which every
//! match must start with (regex-syntax's prefix extraction, falling back to
//! suffixes), finds them all in one Aho-Corasick pass, and runs only the
//! patterns whose literal occurs. A pattern without a usable literal (`.*`
//! in front, or a literal shorter than three bytes) is tried on every
//! string, so the answer is always exactly the set `RegexSet` would give.
//!
//! Each pattern is checked to compile when the set is built, but its
//! matcher is kept only from the first time a string contains its literal,
//! and then as its NFA alone, searched by the bounded backtracker (the
//! PikeVM past its reach): no lazy DFA or one-pass DFA, whose tables cost
//! tens of KiB per pattern, ten thousand of them hundreds of MiB, while the
//! strings searched are a few dozen bytes and only the few patterns whose
//! literal occurs run at all. On such strings the backtracker is several
//! times faster than the PikeVM and its cache is a bitset of NFA states by
//! string positions, a few hundred bytes.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::meta::{self, Regex};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Literals shorter than this occur in too many URLs to be worth a lookup.
const MIN_LITERAL: usize = 3;

/// Compiled patterns and the literal index in front of them.
#[derive(Debug, Clone)]
pub(crate) struct PatternSet {
    patterns: Vec<Pattern>,
    /// Every required literal of every indexed pattern, in one automaton;
    /// `owners[k]` are the patterns that literal `k` stands for.
    literals: Option<AhoCorasick>,
    owners: Vec<Vec<u32>>,
    /// Patterns with no usable literal, tried on every string.
    always: Vec<u32>,
}

/// One pattern: its source, known to compile, and its matcher, built the
/// first time a string contains the pattern's literal (most of ten
/// thousand patterns never meet one).
#[derive(Debug, Clone)]
struct Pattern {
    source: Box<str>,
    size_limit: usize,
    compiled: OnceLock<Regex>,
}

impl Pattern {
    fn builder(size_limit: usize) -> meta::Builder {
        let mut b = Regex::builder();
        b.configure(
            meta::Config::new()
                .nfa_size_limit(Some(size_limit))
                .hybrid(false)
                .dfa(false)
                .onepass(false)
                .backtrack(true),
        );
        b
    }

    fn is_match(&self, s: &str) -> bool {
        self.compiled
            .get_or_init(
                || match Pattern::builder(self.size_limit).build(&self.source) {
                    Ok(re) => re,
                    // `PatternSet::new` compiled it with the same settings.
                    Err(e) => unreachable!("pattern compiled before: {e}"),
                },
            )
            .is_match(s)
    }
}

/// Why a pattern did not compile: its index and the regex error.
#[derive(Debug)]
pub(crate) struct PatternError {
    pub index: usize,
    pub error: regex::Error,
}

impl PatternSet {
    /// Checks that each of `patterns` compiles within `size_limit` compiled
    /// bytes and indexes their literals. A pattern's matcher is kept from
    /// here only when it has no literal (it runs on every string anyway).
    pub(crate) fn new(patterns: &[String], size_limit: usize) -> Result<PatternSet, PatternError> {
        let builder = Pattern::builder(size_limit);
        let mut compiled = Vec::with_capacity(patterns.len());
        let mut literal_index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut owners: Vec<Vec<u32>> = Vec::new();
        let mut always = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let re = builder.build(p).map_err(|e| PatternError {
                index: i,
                error: match e.size_limit() {
                    Some(limit) => regex::Error::CompiledTooBig(limit),
                    None => regex::Error::Syntax(e.to_string()),
                },
            })?;
            let pattern = Pattern {
                source: p.as_str().into(),
                size_limit,
                compiled: OnceLock::new(),
            };
            let Some(lits) = required_literals(p) else {
                let _ = pattern.compiled.set(re);
                compiled.push(pattern);
                always.push(i as u32);
                continue;
            };
            drop(re);
            compiled.push(pattern);
            for lit in lits {
                let k = *literal_index.entry(lit.clone()).or_insert_with(|| {
                    literals.push(lit);
                    owners.push(Vec::new());
                    literals.len() - 1
                });
                if owners[k].last() != Some(&(i as u32)) {
                    owners[k].push(i as u32);
                }
            }
        }
        let literals = if literals.is_empty() {
            None
        } else {
            // Standard semantics: overlapping search reports every literal.
            match AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(&literals)
            {
                Ok(ac) => Some(ac),
                Err(_) => {
                    // Too big for the automaton: try every pattern instead.
                    always = (0..patterns.len() as u32).collect();
                    owners.clear();
                    None
                }
            }
        };
        Ok(PatternSet {
            patterns: compiled,
            literals,
            owners,
            always,
        })
    }

    /// How many patterns.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.patterns.len()
    }

    /// The smallest index from `from` on of a pattern that matches `s` and
    /// that `keep` accepts (asked about candidates below the best found so
    /// far before they run, in no particular order: a cheap `keep` spares
    /// running patterns that could not win). Allocates nothing once the
    /// patterns involved are compiled: the candidates' order does not
    /// matter for a minimum.
    pub(crate) fn first(
        &self,
        s: &str,
        from: usize,
        mut keep: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut try_one = |i: u32| {
            let i = i as usize;
            if i >= from && best.is_none_or(|b| i < b) && keep(i) && self.patterns[i].is_match(s) {
                best = Some(i);
            }
        };
        for &i in &self.always {
            try_one(i);
        }
        if let Some(ac) = &self.literals {
            // A literal that occurs again stands for the same patterns,
            // already tried: remember the first few seen (on the stack;
            // past them a repeat only costs its patterns' runs again).
            let mut seen = [usize::MAX; 8];
            let mut n = 0;
            for m in ac.find_overlapping_iter(s) {
                let k = m.pattern().as_usize();
                if seen[..n].contains(&k) {
                    continue;
                }
                if n < seen.len() {
                    seen[n] = k;
                    n += 1;
                }
                for &i in &self.owners[k] {
                    try_one(i);
                }
            }
        }
        best
    }

    /// The indices of the patterns that match `s`, ascending.
    #[cfg(test)]
    pub(crate) fn matches(&self, s: &str) -> Vec<usize> {
        let mut candidates: Vec<u32> = self.always.clone();
        if let Some(ac) = &self.literals {
            for m in ac.find_overlapping_iter(s) {
                candidates.extend_from_slice(&self.owners[m.pattern().as_usize()]);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| self.patterns[i].is_match(s))
            .collect()
    }
}

/// What `regex::RegexBuilder::new(pattern).size_limit(size_limit).build()`
/// says of `pattern`, without the full and one-pass DFAs that build makes
/// for a small pattern (most of its time, and memory let go at once when
/// only the answer is wanted): the forward and reverse NFAs, the only parts
/// whose failure is an error, are built with the same limit, and the error
/// is the regex crate's.
pub(crate) fn check(pattern: &str, size_limit: usize) -> Result<(), regex::Error> {
    let mut b = Regex::builder();
    b.configure(
        meta::Config::new()
            .nfa_size_limit(Some(size_limit))
            .hybrid_cache_capacity(2 << 20)
            .dfa(false)
            .onepass(false)
            .backtrack(false),
    );
    b.build(pattern)
        .map(drop)
        .map_err(|e| regex_crate_error(&e))
}

/// The `regex` crate's error for a meta regex's build error: what its own
/// builders would have said (its words for a syntax error, its variant for
/// a size limit).
pub(crate) fn regex_crate_error(e: &meta::BuildError) -> regex::Error {
    match e.size_limit() {
        Some(limit) => regex::Error::CompiledTooBig(limit),
        None => regex::Error::Syntax(
            e.syntax_error()
                .map_or_else(|| e.to_string(), ToString::to_string),
        ),
    }
}

/// Literals one of which every match of `pattern` contains (as a prefix or
/// suffix of the match), or `None` when no such set of useful literals
/// exists.
fn required_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::parse(pattern).ok()?;
    [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .find_map(|kind| {
            // Small limits: a class or a counted repetition would otherwise
            // multiply one literal into hundreds (`/room/[0-9]{4,}`), where
            // the part before it is what makes a pattern rare.
            let seq = Extractor::new()
                .kind(kind)
                .limit_class(4)
                .limit_repeat(2)
                .limit_total(64)
                .extract(&hir);
            let lits = seq.literals()?;
            let useful = !lits.is_empty() && lits.iter().all(|l| l.len() >= MIN_LITERAL);
            useful.then(|| lits.iter().map(|l| l.as_bytes().to_vec()).collect())
        })
}

#[cfg(test)]
mod tests {
    use super::PatternSet;
    use regex::RegexSet;

    /// The set's answers are `RegexSet`'s, whatever mix of literal-led,
    /// case-insensitive, suffix-only and literal-free patterns it holds.
    #[test]
    fn same_answers_as_regex_set() {
        let patterns: Vec<String> = [
            r"^https://conf\.example\.com/acme/(room|call)/[0-9]{4,}",
            r"/webinar/acme-[a-z0-9]+/join",
            r"(?i)^https://MEET\.globex\.io/",
            r".*/j/\d+$",
            r"[0-9]+/join$",
            r"^https?://",
            r"\d{3}",
            r"zz",
            r"(?i)straße",
            r"a|bc|/webinar/",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let set = PatternSet::new(&patterns, 1 << 20).expect("compiles");
        let reference = RegexSet::new(&patterns).expect("compiles");
        let urls = [
            "https://conf.example.com/acme/room/12345",
            "https://conf.example.com/acme/call/12",
            "https://events.example.org/webinar/acme-q1/join",
            "https://meet.GLOBEX.io/x",
            "https://MEET.globex.io/x",
            "https://zoom.us/j/123",
            "http://example.com/",
            "https://example.com/STRASSE/straße",
            "ftp://zz",
            "",
            "bc",
        ];
        for u in urls {
            let expected: Vec<usize> = reference.matches(u).into_iter().collect();
            assert_eq!(set.matches(u), expected, "{u}");
            assert_eq!(set.first(u, 0, |_| true), expected.first().copied(), "{u}");
            let odd = expected.iter().copied().find(|i| i % 2 == 1);
            assert_eq!(set.first(u, 0, |i| i % 2 == 1), odd, "{u}");
            let late = expected.iter().copied().find(|&i| i >= 4);
            assert_eq!(set.first(u, 4, |_| true), late, "{u}");
            assert_eq!(
                set.first(u, 0, |_| true).is_some(),
                reference.is_match(u),
                "{u}"
            );
        }
    }

    /// `check` accepts and refuses what the regex crate does, with its words.
    #[test]
    fn check_answers_as_the_regex_crate() {
        for (p, limit) in [
            (
                r"^https://conf\.example\.com/acme/(room|call)/[0-9]{4,}",
                1 << 18,
            ),
            (r"(?i)straße", 1 << 18),
            ("(unclosed", 1 << 18),
            (r"\p{NoSuchClass}", 1 << 18),
            ("a{5000}", 1 << 18),
            (r"\w{1000}\w{1000}\w{1000}", 1 << 18),
            (r"[a-z]{40}", 1 << 10),
            ("", 1 << 18),
        ] {
            let want = regex::RegexBuilder::new(p).size_limit(limit).build();
            let got = super::check(p, limit);
            assert_eq!(
                got.map_err(|e| e.to_string()),
                want.map(drop).map_err(|e| e.to_string()),
                "{p}"
            );
        }
    }

    #[test]
    fn a_bad_pattern_is_named_by_index() {
        let patterns = vec!["ok".to_owned(), "(".to_owned()];
        assert_eq!(
            PatternSet::new(&patterns, 1 << 20)
                .map(|_| ())
                .unwrap_err()
                .index,
            1
        );
    }
}
