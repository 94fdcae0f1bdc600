//! The audit log's records and the hash chain that makes it tamper-evident.
//!
//! # Canonical encoding
//!
//! Every record is hashed over a deterministic byte encoding of all its
//! fields, in this fixed order:
//!
//! ```text
//! "linkguard-audit-v1\n"
//! seq (u64, big-endian)        at_ms (i64, big-endian)
//! platform (str)  workspace (opt str)  channel  thread  message_id  revision  author
//! kind (str)      rule_id (opt str)    policy_version (opt i64)
//! provider  link  alternative  action  outcome  detail  message_text   (opt str each)
//! ```
//!
//! where `str` is a u32 big-endian byte length followed by the UTF-8 bytes,
//! `opt str` is `0x00` for absent or `0x01` then `str`, and `opt i64` is `0x00`
//! or `0x01` then the big-endian value. A record's hash is
//! `sha256(prev_hash || encoding)` with `prev_hash` the previous record's 32-byte
//! hash (32 zero bytes before the first record), stored as lowercase hex.
//!
//! Because `seq` is gap-free and inside the hash, a changed row breaks its own
//! hash, a deleted row leaves a gap, and two swapped rows break the link to
//! their predecessor; [`verify_chain`] reports the first such record.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// The hash "before" the first record (and the head of an empty log).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a record is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A banned link was seen.
    Detected,
    /// Something was done about a detection.
    Action,
    /// A new policy version became active.
    PolicyChanged,
    /// A time-limited exception was granted or used.
    Exception,
    /// The bot started.
    Startup,
    /// A request was refused before reaching the pipeline (bad signature, …).
    RejectedRequest,
    /// A detection found by scanning history rather than live.
    Historical,
    /// The bot declined to act (e.g. permission missing, message too old).
    Refused,
    /// Old records were purged; the chain continues from a checkpoint.
    Purged,
    /// A kind written by a newer linkguard.
    Other(String),
}

impl Kind {
    /// The stored name.
    pub fn as_str(&self) -> &str {
        match self {
            Kind::Detected => "detected",
            Kind::Action => "action",
            Kind::PolicyChanged => "policy_changed",
            Kind::Exception => "exception",
            Kind::Startup => "startup",
            Kind::RejectedRequest => "rejected_request",
            Kind::Historical => "historical",
            Kind::Refused => "refused",
            Kind::Purged => "purged",
            Kind::Other(s) => s,
        }
    }

    /// The kind with that stored name (unknown names are kept as [`Kind::Other`]).
    pub fn parse(s: &str) -> Kind {
        match s {
            "detected" => Kind::Detected,
            "action" => Kind::Action,
            "policy_changed" => Kind::PolicyChanged,
            "exception" => Kind::Exception,
            "startup" => Kind::Startup,
            "rejected_request" => Kind::RejectedRequest,
            "historical" => Kind::Historical,
            "refused" => Kind::Refused,
            "purged" => Kind::Purged,
            other => Kind::Other(other.to_string()),
        }
    }
}

/// How an action went.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Done as planned.
    Ok,
    /// The platform refused or errored; `detail` holds its error.
    Failed,
    /// A gentler action was used instead; `detail` says why.
    Degraded,
    /// Not done yet (a detection waiting for its action).
    Pending,
    /// Monitor mode: what would have been done.
    WouldAct,
    /// An outcome written by a newer linkguard.
    Other(String),
}

impl Outcome {
    /// The stored name.
    pub fn as_str(&self) -> &str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Degraded => "degraded",
            Outcome::Pending => "pending",
            Outcome::WouldAct => "would_act",
            Outcome::Other(s) => s,
        }
    }

    /// The outcome with that stored name.
    pub fn parse(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "failed" => Outcome::Failed,
            "degraded" => Outcome::Degraded,
            "pending" => Outcome::Pending,
            "would_act" => Outcome::WouldAct,
            other => Outcome::Other(other.to_string()),
        }
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(<$t>::parse(&s))
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
string_serde!(Kind);
string_serde!(Outcome);

/// One audit record as the caller describes it, before it joins the chain.
///
/// Build one with [`AuditEntry::new`] and struct update syntax. The store
/// redacts `link` (and `message_text`, which it keeps only when configured
/// to) before writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Epoch milliseconds; `0` means "now" (filled in by the store).
    pub at_ms: i64,
    /// `slack`, `discord`, `cli`, `linkguard` (the bot itself), ….
    pub platform: String,
    /// Slack workspace (team) or Discord guild.
    pub workspace: Option<String>,
    /// Channel id.
    pub channel: Option<String>,
    /// Thread id (Slack `thread_ts`, Discord thread channel).
    pub thread: Option<String>,
    /// The message's platform id.
    pub message_id: Option<String>,
    /// Which edit of the message (`0` for the original).
    pub revision: Option<String>,
    /// Who posted the message, or who made the change.
    pub author: Option<String>,
    /// What the record is about.
    pub kind: Kind,
    /// The policy rule that matched.
    pub rule_id: Option<String>,
    /// The policy version in force.
    pub policy_version: Option<i64>,
    /// Meeting provider id (`zoom`, …).
    pub provider: Option<String>,
    /// The canonical link, secrets redacted.
    pub link: Option<String>,
    /// The approved alternative offered.
    pub alternative: Option<String>,
    /// `replace`, `reply`, `delete`, `warn`, `log`, ….
    pub action: Option<String>,
    /// How the action went.
    pub outcome: Option<Outcome>,
    /// The platform's error, why an action degraded, or other free text.
    pub detail: Option<String>,
    /// The whole message, only when `audit_message_text` is on.
    pub message_text: Option<String>,
}

impl AuditEntry {
    /// An entry of `kind` on `platform` with every other field empty.
    pub fn new(kind: Kind, platform: impl Into<String>) -> AuditEntry {
        AuditEntry {
            at_ms: 0,
            platform: platform.into(),
            workspace: None,
            channel: None,
            thread: None,
            message_id: None,
            revision: None,
            author: None,
            kind,
            rule_id: None,
            policy_version: None,
            provider: None,
            link: None,
            alternative: None,
            action: None,
            outcome: None,
            detail: None,
            message_text: None,
        }
    }
}

/// A record as stored: its place in the chain and its hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The record's fields.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// The previous record's hash (hex).
    pub prev_hash: String,
    /// This record's hash (hex).
    pub hash: String,
}

/// The canonical byte encoding of a record (see the module docs).
pub fn canonical_encoding(seq: i64, e: &AuditEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"linkguard-audit-v1\n");
    out.extend_from_slice(&(seq as u64).to_be_bytes());
    out.extend_from_slice(&e.at_ms.to_be_bytes());
    put_str(&mut out, &e.platform);
    for f in [
        &e.workspace,
        &e.channel,
        &e.thread,
        &e.message_id,
        &e.revision,
        &e.author,
    ] {
        put_opt(&mut out, f.as_deref());
    }
    put_str(&mut out, e.kind.as_str());
    put_opt(&mut out, e.rule_id.as_deref());
    match e.policy_version {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
        None => out.push(0),
    }
    for f in [&e.provider, &e.link, &e.alternative, &e.action] {
        put_opt(&mut out, f.as_deref());
    }
    put_opt(&mut out, e.outcome.as_ref().map(Outcome::as_str));
    put_opt(&mut out, e.detail.as_deref());
    put_opt(&mut out, e.message_text.as_deref());
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Fields longer than 4 GiB cannot reach here: databases refuse them first.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

/// `sha256(prev_hash || canonical_encoding(seq, entry))` as lowercase hex, or
/// `None` if `prev_hash_hex` is not a valid 32-byte hex hash.
pub fn record_hash(prev_hash_hex: &str, seq: i64, entry: &AuditEntry) -> Option<String> {
    let prev = hex::decode(prev_hash_hex).ok()?;
    if prev.len() != 32 {
        return None;
    }
    let mut h = Sha256::new();
    h.update(&prev);
    h.update(canonical_encoding(seq, entry));
    Some(hex::encode(h.finalize()))
}

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
    /// Record `seq`'s contents do not match its hash (changed).
    Altered {
        /// The changed record.
        seq: i64,
    },
}

impl ChainProblem {
    /// The record the problem is reported at.
    pub fn seq(&self) -> i64 {
        match self {
            ChainProblem::Missing { seq }
            | ChainProblem::BrokenLink { seq }
            | ChainProblem::Altered { seq } => *seq,
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
            ChainProblem::Altered { seq } => {
                write!(f, "record {seq} was altered (its hash does not match)")
            }
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
    /// How many records were checked.
    pub checked: u64,
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
pub(crate) struct ChainWalker {
    next_seq: i64,
    prev_hash: String,
    pub(crate) checked: u64,
    pub(crate) problem: Option<ChainProblem>,
}

impl ChainWalker {
    pub(crate) fn new(from_seq: i64, from_hash: String) -> ChainWalker {
        ChainWalker {
            next_seq: from_seq + 1,
            prev_hash: from_hash,
            checked: 0,
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
        } else if record_hash(&r.prev_hash, r.seq, &r.entry).as_deref() != Some(r.hash.as_str()) {
            Some(ChainProblem::Altered { seq: r.seq })
        } else {
            None
        };
        if problem.is_some() {
            self.problem = problem;
            return false;
        }
        self.checked += 1;
        self.next_seq += 1;
        self.prev_hash = r.hash.clone();
        true
    }

    /// The seq of the last record accepted so far.
    pub(crate) fn last_seq(&self) -> i64 {
        self.next_seq - 1
    }

    /// Ends the walk: records up to `head_seq` must all have been seen, and
    /// the head's hash must be the last record's.
    pub(crate) fn finish(mut self, head_seq: i64, head_hash: &str) -> (u64, Option<ChainProblem>) {
        if self.problem.is_none() {
            if self.next_seq <= head_seq {
                self.problem = Some(ChainProblem::Missing { seq: self.next_seq });
            } else if self.next_seq - 1 == head_seq && self.prev_hash != head_hash {
                self.problem = Some(ChainProblem::Altered { seq: head_seq });
            }
        }
        (self.checked, self.problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let entry = AuditEntry {
                    at_ms: 1_700_000_000_000 + seq,
                    channel: Some(format!("C{seq}")),
                    ..AuditEntry::new(Kind::Detected, "slack")
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
        let mut w = ChainWalker::new(0, GENESIS_HASH.to_string());
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
    fn encoding_distinguishes_absent_from_empty_and_shifted_fields() {
        let a = AuditEntry {
            workspace: Some("ab".into()),
            channel: None,
            ..AuditEntry::new(Kind::Detected, "slack")
        };
        let b = AuditEntry {
            workspace: Some("a".into()),
            channel: Some("b".into()),
            ..AuditEntry::new(Kind::Detected, "slack")
        };
        let c = AuditEntry {
            workspace: Some(String::new()),
            ..AuditEntry::new(Kind::Detected, "slack")
        };
        let d = AuditEntry::new(Kind::Detected, "slack");
        let encs = [a, b, c, d].map(|e| canonical_encoding(1, &e));
        for i in 0..encs.len() {
            for j in i + 1..encs.len() {
                assert_ne!(encs[i], encs[j], "{i} vs {j}");
            }
        }
    }

    #[test]
    fn hash_is_stable() {
        // Pinned so an accidental change to the encoding is noticed: old logs
        // would stop verifying.
        let e = AuditEntry {
            at_ms: 1,
            ..AuditEntry::new(Kind::Startup, "linkguard")
        };
        assert_eq!(
            record_hash(GENESIS_HASH, 1, &e).as_deref(),
            Some(hex::encode(Sha256::digest(
                [&[0u8; 32][..], &canonical_encoding(1, &e)].concat()
            )))
            .as_deref()
        );
        assert_eq!(record_hash("zz", 1, &e), None);
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

    #[test]
    fn kinds_and_outcomes_round_trip() {
        for k in [
            "detected",
            "policy_changed",
            "rejected_request",
            "future_kind",
        ] {
            assert_eq!(Kind::parse(k).as_str(), k);
        }
        for o in ["ok", "failed", "degraded", "pending", "would_act", "later"] {
            assert_eq!(Outcome::parse(o).as_str(), o);
        }
    }
}
