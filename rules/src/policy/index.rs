//! The rule index: which rules name a provider, an exact host or a `*.`
//! suffix, each list in rule order, so that the first rule covering a link
//! is the smallest index accepted among a few short lists (see
//! `Policy::first_rule`).

use super::{FnvMap, Policy, Rule};
use crate::detect::Detector;
use crate::ProviderId;
use std::collections::HashMap;

/// The rules of one key of the rule index, in rule order. Most keys (a
/// custom rule's own provider, a host one rule names) have one, kept in the
/// table's entry: a separate list was a cold line of its own, one cache
/// miss per lookup with 10,000 rules.
#[derive(Debug, Clone)]
pub(crate) enum RuleList {
    One(usize),
    Many(Box<[usize]>),
}

impl RuleList {
    pub(crate) fn as_slice(&self) -> &[usize] {
        match self {
            RuleList::One(i) => std::slice::from_ref(i),
            RuleList::Many(v) => v,
        }
    }

    fn from_vec(v: Vec<usize>) -> RuleList {
        match v.as_slice() {
            [i] => RuleList::One(*i),
            _ => RuleList::Many(v.into()),
        }
    }
}

/// Rule lists being gathered, in rule order, before they are packed into
/// `RuleList`s (growing a packed list rule by rule copied it each time:
/// quadratic for a host that thousands of rules name).
struct Gather<K>(FnvMap<K, Vec<usize>>);

impl<K: Eq + std::hash::Hash> Gather<K> {
    fn new() -> Gather<K> {
        Gather(FnvMap::default())
    }

    /// Adds rule `i` (after every rule already listed) under `key`.
    fn add(&mut self, key: K, i: usize) {
        self.0.entry(key).or_default().push(i);
    }

    fn pack(self) -> FnvMap<K, RuleList> {
        let mut map: FnvMap<K, RuleList> = self
            .0
            .into_iter()
            .map(|(k, v)| (k, RuleList::from_vec(v)))
            .collect();
        map.shrink_to_fit();
        map
    }
}

/// Rules by exact custom host, by `*.` suffix and by provider id.
pub(super) struct RuleIndex {
    pub(super) hosts: FnvMap<String, RuleList>,
    pub(super) suffixes: FnvMap<String, RuleList>,
    pub(super) providers: FnvMap<ProviderId, RuleList>,
}

impl RuleIndex {
    /// Provider ids are keyed by the detector's own copies, which the links
    /// it finds share (see `ProviderId`'s `PartialEq`).
    pub(super) fn new(rules: &[Rule], detector: &Detector) -> RuleIndex {
        let shared: HashMap<&str, &ProviderId> =
            detector.provider_ids().map(|p| (p.as_str(), p)).collect();
        let (mut hosts, mut suffixes, mut providers) =
            (Gather::new(), Gather::new(), Gather::new());
        for (i, rule) in rules.iter().enumerate() {
            for h in &rule.hosts {
                match h.strip_prefix("*.") {
                    Some(suffix) => suffixes.add(suffix.to_owned(), i),
                    None => hosts.add(h.clone(), i),
                }
            }
            for p in rule.providers.iter().chain(rule.custom_provider.iter()) {
                let p = shared.get(p.as_str()).copied().unwrap_or(p);
                providers.add(p.clone(), i);
            }
        }
        RuleIndex {
            hosts: hosts.pack(),
            suffixes: suffixes.pack(),
            providers: providers.pack(),
        }
    }
}

impl Policy {
    /// The first rule (in file order) whose matchers cover `link` and for
    /// which `accept` holds. Allocates nothing: each source of candidates
    /// (provider, exact host, host suffixes, URL patterns) is already in rule
    /// order, so the answer is the smallest index accepted in any source.
    ///
    /// `found_by`: the detector's URL pattern that found the link, if one
    /// did ([`Detector::find_hinted`]). No pattern before it matches the
    /// link's URL unless its provider vetoes it, and a rule's custom
    /// provider vetoes nothing: when it is a rule's pattern, the rules'
    /// patterns before it need no search.
    pub(crate) fn first_rule(
        &self,
        link: &crate::Link,
        found_by: Option<usize>,
        accept: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut consider = |candidates: &[usize]| {
            for &i in candidates {
                if best.is_some_and(|b| b <= i) {
                    break;
                }
                if accept(i) {
                    best = Some(i);
                    break;
                }
            }
        };
        if let Some(rs) = self.provider_rules.get(&link.provider) {
            consider(rs.as_slice());
        }
        if !self.host_rules.is_empty() || !self.suffix_rules.is_empty() {
            if let Some(host) = url_host(&link.url) {
                let filter = &self.host_filter;
                if let Some(rs) = filter.get(&self.host_rules, host) {
                    consider(rs.as_slice());
                }
                // `*.example.com` also covers `example.com` itself.
                let mut rest = Some(host);
                while let Some(h) = rest {
                    if let Some(rs) = filter.get(&self.suffix_rules, h) {
                        consider(rs.as_slice());
                    }
                    rest = h.split_once('.').map(|(_, parent)| parent);
                }
            }
        }
        // Rule patterns are in rule order: the first matching one whose
        // rule is accepted (and comes before `best`) has the first rule.
        let rule = |p: usize| self.pattern_rule[p - self.pattern_offset];
        let mut from = self.pattern_offset;
        if let Some(p) = found_by.filter(|&p| p >= self.pattern_offset) {
            if best.is_none_or(|b| rule(p) < b) && accept(rule(p)) {
                return Some(rule(p));
            }
            from = p + 1;
        }
        // No pattern can pick a rule before the first rule with patterns
        // from `from` on: a link a rule up to there decides (the default
        // policy's Zoom rule is first) needs no search for literals.
        let first_with_patterns = self.pattern_rule.get(from - self.pattern_offset).copied();
        if let Some((set, _)) = self
            .detector
            .url_patterns()
            .filter(|_| first_with_patterns.is_some_and(|f| best.is_none_or(|b| f < b)))
        {
            let first = set.first(&link.url, from, |p| {
                best.is_none_or(|b| rule(p) < b) && accept(rule(p))
            });
            if let Some(p) = first {
                best = Some(rule(p));
            }
        }
        best
    }
}

/// The host of a canonical URL (`scheme://host/…`), if it has one.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    // As `split_once("://")`, without building a substring searcher per call.
    let b = url.as_bytes();
    let at = memchr::memchr_iter(b':', b).find(|&i| b[i + 1..].starts_with(b"//"))?;
    let rest = &url[at + 3..];
    let end = rest
        .bytes()
        .position(|c| matches!(c, b'/' | b'?' | b'#' | b':'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::{Gather, RuleList};

    /// A key's rules come back in the order added, one or many.
    #[test]
    fn lists_keep_rule_order() {
        let mut gather = Gather::new();
        gather.add("a.example", 3);
        gather.add("b.example", 1);
        gather.add("a.example", 7);
        gather.add("a.example", 9);
        let map = gather.pack();
        assert_eq!(map["a.example"].as_slice(), &[3, 7, 9]);
        assert_eq!(map["b.example"].as_slice(), &[1]);
        assert!(matches!(map["b.example"], RuleList::One(1)));
    }
}
