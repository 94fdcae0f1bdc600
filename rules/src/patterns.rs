//! Many regexes over one short string (a canonical URL): which match?
//!
//! A policy may carry thousands of custom URL patterns. One `RegexSet` over
//! all of them takes minutes to compile at that size, hundreds of MiB, and
//! falls back to its slowest engine on every URL, because its lazy DFA
//! thrashes. Nearly every such pattern, though, requires a literal that is
//! rare in a URL (`/webinar/acme-`, `https://conf.example.com/globex/`), so
//! [`PatternSet`] pulls out of each pattern literals one of which every
//! match must start with (regex-syntax's prefix extraction, falling back to
//! suffixes), finds them in Aho-Corasick passes, and runs only the patterns
//! whose literal occurs. A pattern without a usable literal (`.*` in front,
//! or a literal shorter than three bytes) is tried on every string, so the
//! answer is always exactly the set `RegexSet` would give.
//!
//! Two automata: the literals of patterns anchored at the start (`^…`) can
//! only occur at offset 0, so they are walked from the first byte, which
//! most URLs leave after a few bytes; the rest are searched for anywhere.
//! A prefix literal found at an offset is where the only matches it stands
//! for can start, so its pattern runs anchored there.
//!
//! Each pattern is checked to compile when the set is built, but its
//! matcher is kept only from the first time a string contains its literal,
//! and then as its NFA alone, searched by the bounded backtracker (the
//! PikeVM past its reach): no lazy DFA or one-pass DFA, whose tables cost
//! tens of KiB per pattern, ten thousand of them hundreds of MiB, while the
//! strings searched are a few dozen bytes and only the few patterns whose
//! literal occurs run at all. On such strings the backtracker is several
//! times faster than the PikeVM, and its scratch (a bitset of NFA states by
//! string positions, a few hundred bytes) is one per thread for all
//! patterns, warm in the cache, not one per pattern.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind, StartKind};
use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::{
    self, backtrack, backtrack::BoundedBacktracker, pikevm::PikeVM,
};
use regex_automata::{Anchored, Input};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::Look;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Literals shorter than this occur in too many URLs to be worth a lookup.
const MIN_LITERAL: usize = 3;

/// Compiled patterns and the literal indexes in front of them.
#[derive(Debug, Clone)]
pub(crate) struct PatternSet {
    patterns: Vec<Pattern>,
    /// The literals of patterns anchored at the start (`^https://…`),
    /// which can only occur at offset 0: an anchored walk from the first
    /// byte, over in a few bytes for most URLs.
    anchored: Option<LiteralIndex>,
    /// Every other required literal, searched for anywhere.
    unanchored: Option<LiteralIndex>,
    /// Patterns with no usable literal, tried on every string.
    always: Vec<u32>,
}

/// Literals in one automaton, and the patterns each stands for.
#[derive(Debug, Clone)]
struct LiteralIndex {
    ac: AhoCorasick,
    /// Literal `k` stands for `owners[starts[k]..starts[k + 1]]` (one list
    /// for all literals: thousands of small vectors would each cost an
    /// allocation and a cache line).
    starts: Vec<u32>,
    owners: Vec<Owner>,
}

/// A pattern a literal stands for, and whether the literal begins every
/// match of it (a prefix) or ends it (a suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Owner(u32);

impl Owner {
    fn new(pattern: usize, prefix: bool) -> Owner {
        Owner(((pattern as u32) << 1) | u32::from(prefix))
    }
    fn pattern(self) -> u32 {
        self.0 >> 1
    }
    fn prefix(self) -> bool {
        self.0 & 1 == 1
    }
}

/// Literals being gathered for one [`LiteralIndex`].
#[derive(Default)]
struct Literals {
    index: HashMap<Vec<u8>, usize>,
    literals: Vec<Vec<u8>>,
    owners: Vec<Vec<Owner>>,
}

impl Literals {
    fn add(&mut self, literal: Vec<u8>, owner: Owner) {
        let k = *self.index.entry(literal.clone()).or_insert_with(|| {
            self.literals.push(literal);
            self.owners.push(Vec::new());
            self.literals.len() - 1
        });
        if !self.owners[k].contains(&owner) {
            self.owners[k].push(owner);
        }
    }

    /// The index, `None` for no literals, `Err` when too big an automaton.
    fn build(self, start: StartKind) -> Result<Option<LiteralIndex>, aho_corasick::BuildError> {
        if self.literals.is_empty() {
            return Ok(None);
        }
        // Standard semantics: an overlapping search reports every literal.
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .start_kind(start)
            .build(&self.literals)?;
        let mut starts = Vec::with_capacity(self.owners.len() + 1);
        let mut owners = Vec::new();
        for list in self.owners {
            starts.push(owners.len() as u32);
            owners.extend(list);
        }
        starts.push(owners.len() as u32);
        Ok(Some(LiteralIndex { ac, starts, owners }))
    }
}

impl LiteralIndex {
    fn owners(&self, k: usize) -> &[Owner] {
        &self.owners[self.starts[k] as usize..self.starts[k + 1] as usize]
    }

    /// Calls `f(start, owner)` for every occurrence of a literal in `s`.
    fn each_anywhere(&self, s: &str, mut f: impl FnMut(usize, Owner)) {
        for m in self.ac.find_overlapping_iter(s) {
            for &o in self.owners(m.pattern().as_usize()) {
                f(m.start(), o);
            }
        }
    }

    /// Calls `f(owner)` for every literal that `s` starts with.
    fn each_at_start(&self, s: &str, mut f: impl FnMut(Owner)) {
        let input = aho_corasick::Input::new(s).anchored(aho_corasick::Anchored::Yes);
        let mut state = aho_corasick::automaton::OverlappingState::start();
        loop {
            // Only fails for a search the automaton was not built for.
            if self
                .ac
                .try_find_overlapping(input.clone(), &mut state)
                .is_err()
            {
                return;
            }
            let Some(m) = state.get_match() else { return };
            // A match state also reports the literals that are suffixes of
            // its path (Aho-Corasick copies them along failure links), which
            // do not start at 0.
            if m.start() == 0 {
                self.owners(m.pattern().as_usize())
                    .iter()
                    .for_each(|&o| f(o));
            }
        }
    }
}

/// One pattern: its source, known to compile, and its matcher, built the
/// first time a string contains the pattern's literal (most of ten
/// thousand patterns never meet one).
#[derive(Debug, Clone)]
struct Pattern {
    source: Box<str>,
    size_limit: usize,
    compiled: OnceLock<BoundedBacktracker>,
}

thread_local! {
    /// The backtracker's scratch (its stack and its bitset of NFA states by
    /// string positions), shared by every pattern a thread runs: sized per
    /// search, it does not belong to one NFA, and one warm buffer spares
    /// each of thousands of patterns a cold one of its own.
    static SCRATCH: RefCell<Option<backtrack::Cache>> = const { RefCell::new(None) };
}

impl Pattern {
    /// The checking compiler: the regex crate's engine, to get its errors.
    fn checker(size_limit: usize) -> meta::Builder {
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

    fn matcher(&self) -> &BoundedBacktracker {
        self.compiled.get_or_init(|| {
            match BoundedBacktracker::builder()
                .thompson(thompson::Config::new().nfa_size_limit(Some(self.size_limit)))
                .build(&self.source)
            {
                Ok(re) => re,
                // `PatternSet::new` compiled it with the same NFA limit.
                Err(e) => unreachable!("pattern compiled before: {e}"),
            }
        })
    }

    /// Whether the pattern matches `s` somewhere (`at` is `None`), or with
    /// a match that starts at byte `at`: a prefix literal found there says
    /// where the only matches it stands for can start, and an anchored
    /// search from there tries one start instead of every one.
    fn is_match(&self, s: &str, at: Option<usize>) -> bool {
        let re = self.matcher();
        let input = match at {
            None => Input::new(s),
            Some(at) => Input::new(s).range(at..).anchored(Anchored::Yes),
        };
        if input.get_span().len() <= re.max_haystack_len() {
            let fits = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let cache = scratch.get_or_insert_with(|| re.create_cache());
                re.try_is_match(cache, input.clone()).ok()
            });
            if let Some(found) = fits {
                return found;
            }
        }
        // Too long a string for the backtracker's bitset: the PikeVM, as
        // the regex crate would.
        match PikeVM::new_from_nfa(re.get_nfa().clone()) {
            Ok(vm) => vm.is_match(&mut vm.create_cache(), input),
            Err(e) => unreachable!("an NFA that built runs: {e}"),
        }
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
        let checker = Pattern::checker(size_limit);
        let mut compiled = Vec::with_capacity(patterns.len());
        let mut anchored = Literals::default();
        let mut unanchored = Literals::default();
        let mut always = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            checker.build(p).map_err(|e| PatternError {
                index: i,
                error: regex_crate_error(&e),
            })?;
            let pattern = Pattern {
                source: p.as_str().into(),
                size_limit,
                compiled: OnceLock::new(),
            };
            let Some(required) = required_literals(p) else {
                pattern.matcher();
                compiled.push(pattern);
                always.push(i as u32);
                continue;
            };
            compiled.push(pattern);
            let prefix = required.prefix;
            let index = if prefix && required.at_start {
                &mut anchored
            } else {
                &mut unanchored
            };
            for lit in required.literals {
                index.add(lit, Owner::new(i, prefix));
            }
        }
        let built = anchored
            .build(StartKind::Anchored)
            .and_then(|a| Ok((a, unanchored.build(StartKind::Unanchored)?)));
        let (anchored, unanchored) = match built {
            Ok(both) => both,
            Err(_) => {
                // Too big for the automaton: try every pattern instead.
                always = (0..patterns.len() as u32).collect();
                (None, None)
            }
        };
        Ok(PatternSet {
            patterns: compiled,
            anchored,
            unanchored,
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
    /// far before they run, in no particular order, perhaps more than once:
    /// a cheap `keep` spares running patterns that could not win).
    /// Allocates nothing once the patterns involved are compiled: the
    /// candidates' order does not matter for a minimum.
    pub(crate) fn first(
        &self,
        s: &str,
        from: usize,
        mut keep: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        // Patterns searched for anywhere in `s` and not found, so that a
        // suffix literal met again does not search again (the first few, on
        // the stack; past them a repeat only costs its search again).
        let mut missed = [u32::MAX; 8];
        let mut n = 0;
        let mut try_one = |i: u32, at: Option<usize>| {
            let p = i as usize;
            if p < from
                || best.is_some_and(|b| b <= p)
                || (at.is_none() && missed[..n].contains(&i))
            {
                return;
            }
            if !keep(p) {
                return;
            }
            if self.patterns[p].is_match(s, at) {
                best = Some(p);
            } else if at.is_none() && n < missed.len() {
                missed[n] = i;
                n += 1;
            }
        };
        for &i in &self.always {
            try_one(i, None);
        }
        if let Some(index) = &self.anchored {
            index.each_at_start(s, |o| try_one(o.pattern(), Some(0)));
        }
        if let Some(index) = &self.unanchored {
            index.each_anywhere(s, |start, o| {
                try_one(o.pattern(), o.prefix().then_some(start));
            });
        }
        best
    }

    /// The indices of the patterns that match `s`, ascending.
    #[cfg(test)]
    pub(crate) fn matches(&self, s: &str) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.first(s, i, |p| p == i) == Some(i))
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

/// Literals one of which every match of a pattern contains, as a prefix
/// or a suffix of the match.
struct Required {
    /// The literals begin every match (else they end it).
    prefix: bool,
    literals: Vec<Vec<u8>>,
    /// Every match starts at the start of the string (`^` in front).
    at_start: bool,
}

/// The literals one of which every match of `pattern` contains (as a
/// prefix of the match, failing that as a suffix), or `None` when no such
/// set of useful literals exists.
fn required_literals(pattern: &str) -> Option<Required> {
    let hir = regex_syntax::parse(pattern).ok()?;
    let at_start = hir.properties().look_set_prefix().contains(Look::Start);
    [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .find_map(|kind| {
            // Small limits: a class or a counted repetition would otherwise
            // multiply one literal into hundreds (`/room/[0-9]{4,}`), where
            // the part before it is what makes a pattern rare.
            let seq = Extractor::new()
                .kind(kind.clone())
                .limit_class(4)
                .limit_repeat(2)
                .limit_total(64)
                .extract(&hir);
            let lits = seq.literals()?;
            let useful = !lits.is_empty() && lits.iter().all(|l| l.len() >= MIN_LITERAL);
            useful.then(|| Required {
                prefix: matches!(kind, ExtractKind::Prefix),
                literals: lits.iter().map(|l| l.as_bytes().to_vec()).collect(),
                at_start,
            })
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
            r"^xabc\d",
            r"^abc\d",
            r"(?m)^line/two",
            r"^https://(www\.)?host\.example/(x|y)[0-9]",
            r"^[a-z]+://host\.example/q",
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
            "xabc1",
            "abc1",
            "xabc",
            "line/one\nline/two",
            "https://www.host.example/x1",
            "https://host.example/y2/x",
            "https://host.example/z2",
            "ftp://host.example/q",
            // The first occurrence of a prefix literal fails, the second matches.
            "https://e.example/webinar/acme-/webinar/acme-q1/join",
            "https://e.example/webinar/acme-q1/x/webinar/acme-q2/join",
            // A suffix literal met twice.
            "https://e.example/12/join/9/join",
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

    /// Random sets of anchored, unanchored, case-insensitive, suffix-only
    /// and literal-free patterns over strings made of their own pieces: the
    /// set answers as `RegexSet` does, whichever index finds a candidate
    /// and wherever it was found.
    mod random {
        use super::PatternSet;
        use proptest::prelude::*;
        use regex::RegexSet;

        const HEADS: &[&str] = &["", "^", "(?i)^", "(?m)^", "(?i)", "^(?:www\\.)?"];
        const ATOMS: &[&str] = &[
            "https://",
            "host\\.example",
            "/room/",
            "[0-9]{2,}",
            "(a|bc)",
            "x+",
            "\\d",
            "/join$",
            ".*",
            "abc",
            "\\b",
        ];
        const PIECES: &[&str] = &[
            "https://",
            "host.example",
            "HOST.example",
            "/room/",
            "12",
            "345",
            "a",
            "bc",
            "x",
            "/join",
            "\n",
            "abc",
            "/",
            "www.",
            " ",
        ];

        fn pattern() -> impl Strategy<Value = String> {
            (
                0..HEADS.len(),
                proptest::collection::vec(0..ATOMS.len(), 1..4),
            )
                .prop_map(|(h, atoms)| {
                    let mut p = HEADS[h].to_owned();
                    for a in atoms {
                        p.push_str(ATOMS[a]);
                    }
                    p
                })
        }

        fn haystack() -> impl Strategy<Value = String> {
            proptest::collection::vec(0..PIECES.len(), 0..8)
                .prop_map(|v| v.into_iter().map(|i| PIECES[i]).collect())
        }

        proptest! {
            #[test]
            fn same_answers_as_regex_set(
                patterns in proptest::collection::vec(pattern(), 1..12),
                strings in proptest::collection::vec(haystack(), 1..8),
            ) {
                let set = PatternSet::new(&patterns, 1 << 20).expect("compiles");
                let reference = RegexSet::new(&patterns).expect("compiles");
                for s in &strings {
                    let expected: Vec<usize> = reference.matches(s).into_iter().collect();
                    prop_assert_eq!(set.matches(s), expected.clone(), "{:?} {:?}", patterns, s);
                    prop_assert_eq!(set.first(s, 0, |_| true), expected.first().copied());
                    let odd = expected.iter().copied().find(|i| i % 2 == 1);
                    prop_assert_eq!(set.first(s, 0, |i| i % 2 == 1), odd);
                }
            }
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
