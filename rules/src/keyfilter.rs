//! A bit per hashed key, in front of a large host table: most hosts a
//! message links to (`github.com`, `zoom.us`, their parent domains) are in
//! no table, and a table of thousands of custom hosts is out of the cache,
//! so a lookup of an absent key costs a cache miss for its bucket and
//! often another for a key to compare. The filter is a few KiB, warm, and
//! answers "certainly absent" for nearly all of them; "maybe" sends the
//! lookup on to the table, which has the last word.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use crate::detect::Fnv;

/// Keys below this many are not worth a filter: the table is small too.
const MIN_KEYS: usize = 64;

/// Bits per key: about one absent key in sixteen gets a "maybe".
const BITS_PER_KEY: usize = 16;

/// A set of hashed keys that can say a key is certainly not among them.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyFilter {
    /// Empty: no filter, every key may be present.
    bits: Box<[u64]>,
}

impl KeyFilter {
    /// A filter over `keys`; none (everything may be present) for a few.
    pub(crate) fn new(keys: &[&str]) -> KeyFilter {
        let n = keys.len();
        if n < MIN_KEYS {
            return KeyFilter::default();
        }
        let words = (n * BITS_PER_KEY).next_power_of_two() / 64;
        let mut bits = vec![0u64; words].into_boxed_slice();
        for k in keys {
            let (w, b) = Self::slot(k, words);
            bits[w] |= 1 << b;
        }
        KeyFilter { bits }
    }

    fn slot(key: &str, words: usize) -> (usize, u32) {
        let mut h = Fnv::default();
        h.write(key.as_bytes());
        let h = h.finish();
        // FNV's low bits mix least: fold the high half in.
        let h = h ^ (h >> 32);
        (((h >> 6) as usize) & (words - 1), (h & 63) as u32)
    }

    /// `map`'s entry for `key`, asking the filter first (built over `map`'s
    /// keys, among others).
    pub(crate) fn get<'m, K, V, S>(&self, map: &'m HashMap<K, V, S>, key: &str) -> Option<&'m V>
    where
        K: Borrow<str> + Eq + Hash,
        S: BuildHasher,
    {
        if self.may_contain(key) {
            map.get(key)
        } else {
            None
        }
    }

    /// False only when `key` is certainly not one of the keys.
    pub(crate) fn may_contain(&self, key: &str) -> bool {
        if self.bits.is_empty() {
            return true;
        }
        let (w, b) = Self::slot(key, self.bits.len());
        self.bits[w] & (1 << b) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::KeyFilter;

    #[test]
    fn every_key_may_be_present_and_most_others_are_not() {
        let owned: Vec<String> = (0..5000).map(|i| format!("meet.brand{i}.com")).collect();
        let keys: Vec<&str> = owned.iter().map(String::as_str).collect();
        let f = KeyFilter::new(&keys);
        assert!(keys.iter().all(|k| f.may_contain(k)));
        let others: Vec<String> = (0..5000).map(|i| format!("meet.brand{i}.org")).collect();
        let maybe = others.iter().filter(|k| f.may_contain(k)).count();
        assert!(
            maybe < others.len() / 8,
            "{maybe} of {} absent keys",
            others.len()
        );
    }

    #[test]
    fn a_few_keys_get_no_filter() {
        let f = KeyFilter::new(&["zoom.us", "teams.microsoft.com"]);
        assert!(f.may_contain("zoom.us") && f.may_contain("github.com"));
    }
}
