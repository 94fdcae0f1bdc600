//! The rule index: which rules name a provider, an exact host or a `*.`
//! suffix, each list in rule order, so that the first rule covering a link
//! is the smallest index accepted among a few short lists (see
//! `Policy::first_rule`).

use super::{FnvMap, Rule};
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
