//! Walking the audit chain: the first thing wrong with it ([`ChainProblem`]),
//! what a verification found ([`VerifyReport`]), and the walker that checks
//! records page by page in `seq` order against the hashes defined in
//! [`super::audit`], apart from SQL so that it is testable alone.

use super::audit::{expected_hash, purged_checkpoint, AuditKey, AuditRecord, Kind};
use serde::Serialize;
use std::fmt;

/// The first thing wrong with the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChainProblem {
    /// Record `seq` should exist but does not (deleted, or the chain was cut).
    Missing {
        /// The missing record.
        seq: i64,
    },
    /// Record `seq` does not follow the record before it (reordered, or its
    /// predecessor was rewritten).
    BrokenLink {
        /// The record whose `prev_hash` is wrong.
        seq: i64,
    },
    /// Record `seq`'s contents do not match its hash (changed, or forged
    /// without the audit key).
    Altered {
        /// The changed record.
        seq: i64,
    },
    /// Records exist after the head (`audit_head` was moved back).
    BeyondHead {
        /// The first record after the head.
        seq: i64,
    },
    /// The checkpoint verification starts from carries no valid MAC (planted
    /// or changed).
    ForgedCheckpoint {
        /// The checkpoint's seq.
        seq: i64,
    },
    /// No `purged` record accounts for the checkpoint verification starts
    /// from (a planted checkpoint hiding deleted records).
    UnaccountedCheckpoint {
        /// The checkpoint's seq.
        seq: i64,
    },
    /// The first keyed record lies beyond the head or was moved after an anchor.
    KeyedBoundaryMoved {
        /// The stored `keyed_from`.
        seq: i64,
    },
    /// An anchor was not signed with the audit key, or was changed.
    ForgedAnchor {
        /// The anchor's seq.
        seq: i64,
    },
    /// The chain ends below an anchored head (its tail was cut).
    AnchorNotReached {
        /// The anchored seq.
        seq: i64,
        /// Where the chain ends now.
        head_seq: i64,
    },
    /// The record at an anchored seq no longer has the anchored hash.
    AnchorMismatch {
        /// The anchored seq.
        seq: i64,
    },
}

impl ChainProblem {
    /// The record the problem is reported at.
    pub fn seq(&self) -> i64 {
        match self {
            ChainProblem::Missing { seq }
            | ChainProblem::BrokenLink { seq }
            | ChainProblem::Altered { seq }
            | ChainProblem::BeyondHead { seq }
            | ChainProblem::ForgedCheckpoint { seq }
            | ChainProblem::UnaccountedCheckpoint { seq }
            | ChainProblem::KeyedBoundaryMoved { seq }
            | ChainProblem::ForgedAnchor { seq }
            | ChainProblem::AnchorNotReached { seq, .. }
            | ChainProblem::AnchorMismatch { seq } => *seq,
        }
    }
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainProblem::Missing { seq } => write!(f, "record {seq} is missing"),
            ChainProblem::BrokenLink { seq } => write!(
                f,
                "record {seq} does not follow record {} (reordered or rewritten)",
                seq - 1
            ),
            ChainProblem::Altered { seq } => write!(
                f,
                "record {seq} was altered or forged (its hash does not match)"
            ),
            ChainProblem::BeyondHead { seq } => write!(
                f,
                "record {seq} lies after the recorded head (the head was moved back)"
            ),
            ChainProblem::ForgedCheckpoint { seq } => write!(
                f,
                "checkpoint {seq} is not signed with the audit key (planted or changed)"
            ),
            ChainProblem::UnaccountedCheckpoint { seq } => write!(
                f,
                "checkpoint {seq} was made by no purge (planted to hide deleted records)"
            ),
            ChainProblem::KeyedBoundaryMoved { seq } => write!(
                f,
                "the keyed part of the chain was moved (keyed_from = {seq})"
            ),
            ChainProblem::ForgedAnchor { seq } => write!(
                f,
                "the anchor at record {seq} is not signed with this audit key"
            ),
            ChainProblem::AnchorNotReached { seq, head_seq } => write!(
                f,
                "the chain ends at record {head_seq}, below the anchored head {seq} (its tail was cut)"
            ),
            ChainProblem::AnchorMismatch { seq } => write!(
                f,
                "record {seq} no longer has the anchored hash (the chain was rewritten)"
            ),
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Where verification started: the checkpoint's seq (0 for the genesis).
    pub from_seq: i64,
    /// The head of the chain when verification started.
    pub head_seq: i64,
    /// The head's hash: note it elsewhere to detect a rewritten log later.
    pub head_hash: String,
    /// The first keyed record; records before it are plain SHA-256 (written
    /// before the upgrade to a keyed chain).
    pub keyed_from: i64,
    /// How many records were checked.
    pub checked: u64,
    /// How many of them were plain SHA-256 records (before `keyed_from`).
    pub unkeyed_checked: u64,
    /// How many anchors were checked.
    pub anchors_checked: usize,
    /// Remarks that are not problems (e.g. an anchor older than a purge).
    pub notes: Vec<String>,
    /// The first problem, if any.
    pub problem: Option<ChainProblem>,
}

impl VerifyReport {
    /// No problem found.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Walks records in `seq` order, checking each against the expected position
/// and predecessor hash. Feed pages to [`ChainWalker::check`] and call
/// [`ChainWalker::finish`] with the head seq.
#[derive(Debug)]
pub(crate) struct ChainWalker<'k> {
    key: &'k AuditKey,
    keyed_from: i64,
    next_seq: i64,
    prev_hash: String,
    /// The checkpoint the walk starts from (0: the genesis).
    from_seq: i64,
    /// Whether a `purged` record names that checkpoint.
    pub(crate) checkpoint_accounted: bool,
    pub(crate) checked: u64,
    pub(crate) unkeyed_checked: u64,
    pub(crate) problem: Option<ChainProblem>,
}

impl<'k> ChainWalker<'k> {
    pub(crate) fn new(
        from_seq: i64,
        from_hash: String,
        key: &'k AuditKey,
        keyed_from: i64,
    ) -> ChainWalker<'k> {
        ChainWalker {
            key,
            keyed_from,
            next_seq: from_seq + 1,
            prev_hash: from_hash,
            from_seq,
            checkpoint_accounted: from_seq == 0,
            checked: 0,
            unkeyed_checked: 0,
            problem: None,
        }
    }

    /// Checks one record; returns false once a problem was found.
    pub(crate) fn check(&mut self, r: &AuditRecord) -> bool {
        if self.problem.is_some() {
            return false;
        }
        let problem = if r.seq != self.next_seq {
            Some(ChainProblem::Missing { seq: self.next_seq })
        } else if r.prev_hash != self.prev_hash {
            Some(ChainProblem::BrokenLink { seq: r.seq })
        } else if expected_hash(self.key, self.keyed_from, &r.prev_hash, r.seq, &r.entry).as_deref()
            != Some(r.hash.as_str())
        {
            Some(ChainProblem::Altered { seq: r.seq })
        } else {
            None
        };
        if problem.is_some() {
            self.problem = problem;
            return false;
        }
        if r.entry.kind == Kind::Purged
            && r.entry.detail.as_deref().and_then(purged_checkpoint) == Some(self.from_seq)
        {
            self.checkpoint_accounted = true;
        }
        self.checked += 1;
        if r.seq < self.keyed_from {
            self.unkeyed_checked += 1;
        }
        self.next_seq += 1;
        self.prev_hash = r.hash.clone();
        true
    }

    /// Ends the walk: records up to `head_seq` must all have been seen, and
    /// the head's hash must be the last record's.
    pub(crate) fn finish(mut self, head_seq: i64, head_hash: &str) -> (u64, Option<ChainProblem>) {
        if self.problem.is_none() {
            if self.next_seq <= head_seq {
                self.problem = Some(ChainProblem::Missing { seq: self.next_seq });
            } else if self.next_seq - 1 == head_seq && self.prev_hash != head_hash {
                self.problem = Some(ChainProblem::Altered { seq: head_seq });
            } else if !self.checkpoint_accounted {
                self.problem = Some(ChainProblem::UnaccountedCheckpoint { seq: self.from_seq });
            }
        }
        (self.checked, self.problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{record_hash, AuditEntry, Platform, GENESIS_HASH};

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let entry = AuditEntry {
                    at_ms: 1_700_000_000_000 + seq,
                    channel: Some(format!("C{seq}")),
                    ..AuditEntry::new(Kind::Detected, Platform::Slack)
                };
                let hash = record_hash(&prev, seq, &entry).expect("valid prev hash");
                let r = AuditRecord {
                    seq,
                    entry,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                r
            })
            .collect()
    }

    fn walk(records: &[AuditRecord], head: i64) -> Option<ChainProblem> {
        let key = AuditKey::development();
        // `chain` is all plain SHA-256: a log from before the upgrade.
        let mut w = ChainWalker::new(0, GENESIS_HASH.to_string(), &key, i64::MAX);
        for r in records {
            if !w.check(r) {
                break;
            }
        }
        let head_hash = chain(head)
            .last()
            .map_or(GENESIS_HASH.to_string(), |r| r.hash.clone());
        w.finish(head, &head_hash).1
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(walk(&chain(5), 5), None);
        assert_eq!(walk(&[], 0), None);
    }

    #[test]
    fn tampering_is_located() {
        let mut changed = chain(5);
        changed[2].entry.channel = Some("evil".into());
        assert_eq!(walk(&changed, 5), Some(ChainProblem::Altered { seq: 3 }));

        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(walk(&deleted, 5), Some(ChainProblem::Missing { seq: 2 }));

        let mut swapped = chain(5);
        let (a, b) = (swapped[1].clone(), swapped[2].clone());
        swapped[1] = AuditRecord { seq: 2, ..b };
        swapped[2] = AuditRecord { seq: 3, ..a };
        assert_eq!(walk(&swapped, 5), Some(ChainProblem::BrokenLink { seq: 2 }));

        let truncated = chain(4);
        assert_eq!(walk(&truncated, 5), Some(ChainProblem::Missing { seq: 5 }));
    }

    /// Records 1..=n, SHA-256 below `keyed_from` and keyed with `key` from it.
    fn mixed_chain(n: i64, keyed_from: i64, key: &AuditKey) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let entry = AuditEntry {
                    at_ms: 1_700_000_000_000 + seq,
                    ..AuditEntry::new(Kind::Detected, Platform::Slack)
                };
                let hash = expected_hash(key, keyed_from, &prev, seq, &entry).expect("valid");
                AuditRecord {
                    seq,
                    entry,
                    prev_hash: std::mem::replace(&mut prev, hash.clone()),
                    hash,
                }
            })
            .collect()
    }

    fn walk_keyed(
        records: &[AuditRecord],
        key: &AuditKey,
        keyed_from: i64,
    ) -> (u64, Option<ChainProblem>) {
        let mut w = ChainWalker::new(0, GENESIS_HASH.to_string(), key, keyed_from);
        for r in records {
            if !w.check(r) {
                break;
            }
        }
        let unkeyed = w.unkeyed_checked;
        let last = records
            .last()
            .map_or(GENESIS_HASH.to_string(), |r| r.hash.clone());
        let (_, problem) = w.finish(records.len() as i64, &last);
        (unkeyed, problem)
    }

    #[test]
    fn keyed_records_need_the_key_and_old_records_still_verify() {
        let key = AuditKey::new("k1");
        let records = mixed_chain(6, 4, &key);
        assert_eq!(walk_keyed(&records, &key, 4), (3, None));
        // Another key cannot verify (nor have written) the keyed part.
        let other = AuditKey::new("k2");
        assert_eq!(
            walk_keyed(&records, &other, 4).1,
            Some(ChainProblem::Altered { seq: 4 })
        );
        // A row forged with plain SHA-256 in the keyed part is refused.
        let mut forged = records.clone();
        forged[4].entry.channel = Some("evil".into());
        forged[4].hash = record_hash(&forged[4].prev_hash, 5, &forged[4].entry).unwrap();
        assert_eq!(
            walk_keyed(&forged, &key, 4).1,
            Some(ChainProblem::Altered { seq: 5 })
        );
        // Moving the boundary up to pass keyed rows off as SHA-256 fails too.
        assert_eq!(
            walk_keyed(&records, &key, 5).1,
            Some(ChainProblem::Altered { seq: 4 })
        );
    }
}
