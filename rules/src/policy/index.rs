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

    /// Adds rule `i` (after every rule already listed) under `key`.
    fn add<K: Eq + std::hash::Hash>(map: &mut FnvMap<K, RuleList>, key: K, i: usize) {
        use std::collections::hash_map::Entry;
        match map.entry(key) {
            Entry::Vacant(e) => {
                e.insert(RuleList::One(i));
            }
            Entry::Occupied(mut e) => {
                let list = e.get_mut();
                let mut v = list.as_slice().to_vec();
                v.push(i);
                *list = RuleList::Many(v.into());
            }
        }
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
        let mut index = RuleIndex {
            hosts: FnvMap::default(),
            suffixes: FnvMap::default(),
            providers: FnvMap::default(),
        };
        for (i, rule) in rules.iter().enumerate() {
            for h in &rule.hosts {
                match h.strip_prefix("*.") {
                    Some(suffix) => RuleList::add(&mut index.suffixes, suffix.to_owned(), i),
                    None => RuleList::add(&mut index.hosts, h.clone(), i),
                }
            }
            for p in rule.providers.iter().chain(rule.custom_provider.iter()) {
                let p = shared.get(p.as_str()).copied().unwrap_or(p);
                RuleList::add(&mut index.providers, p.clone(), i);
            }
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::{FnvMap, RuleList};

    /// A key's rules come back in the order added, one or many.
    #[test]
    fn lists_keep_rule_order() {
        let mut map: FnvMap<&str, RuleList> = FnvMap::default();
        RuleList::add(&mut map, "a.example", 3);
        RuleList::add(&mut map, "b.example", 1);
        RuleList::add(&mut map, "a.example", 7);
        RuleList::add(&mut map, "a.example", 9);
        assert_eq!(map["a.example"].as_slice(), &[3, 7, 9]);
        assert_eq!(map["b.example"].as_slice(), &[1]);
        assert!(matches!(map["b.example"], RuleList::One(1)));
    }
}
