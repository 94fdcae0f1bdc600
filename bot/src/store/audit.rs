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
//! their predecessor; the chain walker reports the first such record.
//!
//! # Keyed records (`linkguard-audit-v2`)
//!
//! A plain SHA-256 chain can be rewritten by anyone who can write to the
//! database: recompute every hash after the change. Records from `keyed_from`
//! on (a column of `audit_head`, set by migration 0007 to the first record
//! written after the upgrade, `1` in a new database) are therefore hashed as
//!
//! ```text
//! hmac_sha256(audit_key, prev_hash || encoding)
//! ```
//!
//! with the encoding above except that its first line reads
//! `"linkguard-audit-v2\n"`. Older records keep verifying as SHA-256; the
//! first keyed record pins them, since its keyed hash covers their last hash.
//! Without the key a row can be neither forged nor re-chained.
//!
//! Two more values are keyed the same way, each with its own first line so
//! that no MAC can be replayed as another:
//!
//! - a checkpoint (`audit_checkpoint.mac`), over
//!   `"linkguard-audit-checkpoint-v1\n" seq hash-bytes at_ms`, so a planted
//!   checkpoint row is refused;
//! - an anchor (see [`Anchor`]), over `"linkguard-audit-anchor-v1\n" seq
//!   hash-bytes at_ms keyed_from`, so a copy of the head kept elsewhere can
//!   later prove that the chain still reaches it.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

use super::{Origin, Revision};

type HmacSha256 = Hmac<Sha256>;

/// The audit key used when none is configured: for the demo and tests only.
/// `linkguard run` refuses to start with it.
pub const DEVELOPMENT_AUDIT_KEY: &str = "linkguard-development-audit-key";

/// The secret that keys the audit chain, checkpoints and anchors. Separate
/// from the room key: knowing one says nothing about the other. `Debug`
/// prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey(Vec<u8>);

impl AuditKey {
    /// A key from its secret bytes (the configured `audit_key`).
    pub fn new(secret: impl AsRef<[u8]>) -> AuditKey {
        AuditKey(secret.as_ref().to_vec())
    }

    /// The built-in development key.
    pub fn development() -> AuditKey {
        AuditKey::new(DEVELOPMENT_AUDIT_KEY)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length.
        HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("any key length"))
    }

    /// An identifier of the key that reveals nothing about it (an HMAC of a
    /// constant), stored so that a process with another key refuses to write.
    pub fn key_check(&self) -> String {
        let mut m = self.mac();
        m.update(b"linkguard-audit-key-check-v1\n");
        hex::encode(m.finalize().into_bytes())
    }

    /// A MAC over `parts`, as lowercase hex.
    fn sign(&self, parts: &[&[u8]]) -> String {
        let mut m = self.mac();
        for p in parts {
            m.update(p);
        }
        hex::encode(m.finalize().into_bytes())
    }

    /// Whether `mac_hex` is the MAC over `parts` (constant-time compare).
    fn verify(&self, parts: &[&[u8]], mac_hex: &str) -> bool {
        let Ok(mac) = hex::decode(mac_hex) else {
            return false;
        };
        let mut m = self.mac();
        for p in parts {
            m.update(p);
        }
        m.verify_slice(&mac).is_ok()
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

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
    /// Discord AutoMod blocked a message with a rule linkguard keeps: it
    /// was never posted.
    BlockedNatively,
    /// linkguard changed the AutoMod rules it keeps (sync, drift restored).
    Automod,
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
            Kind::BlockedNatively => "blocked_natively",
            Kind::Automod => "automod",
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
            "blocked_natively" => Kind::BlockedNatively,
            "automod" => Kind::Automod,
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

/// What an audit record says linkguard did: to a message (the policy's
/// actions, or the one it fell back to) or to a server it was removed from.
/// Stored as its text; a record with any other text is refused when read,
/// naming it, rather than guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// The message was removed and reposted without the link.
    Replace,
    /// A public reply under the message.
    Reply,
    /// The message was removed.
    Delete,
    /// Only the author was told, privately.
    Warn,
    /// Only recorded.
    Log,
    /// linkguard left a Discord server it is not allowed in.
    Leave,
    /// A Discord server's commands were removed (it is no longer allowed).
    Unregister,
    /// Discord AutoMod blocked a message before it was posted.
    Block,
    /// linkguard's AutoMod rules were brought in line with the policy.
    Sync,
    /// An AutoMod rule someone changed or deleted was put back.
    Restore,
    /// AutoMod rules could not be kept (e.g. no Manage Server).
    Automod,
    /// Someone signed in to the web console (or failed to).
    Login,
    /// Someone signed out of the web console.
    Logout,
}

impl AuditAction {
    /// Every action, in stored-name order of the enum.
    pub const ALL: [AuditAction; 13] = [
        AuditAction::Replace,
        AuditAction::Reply,
        AuditAction::Delete,
        AuditAction::Warn,
        AuditAction::Log,
        AuditAction::Leave,
        AuditAction::Unregister,
        AuditAction::Block,
        AuditAction::Sync,
        AuditAction::Restore,
        AuditAction::Automod,
        AuditAction::Login,
        AuditAction::Logout,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Replace => "replace",
            AuditAction::Reply => "reply",
            AuditAction::Delete => "delete",
            AuditAction::Warn => "warn",
            AuditAction::Log => "log",
            AuditAction::Leave => "leave",
            AuditAction::Unregister => "unregister",
            AuditAction::Block => "block",
            AuditAction::Sync => "sync",
            AuditAction::Restore => "restore",
            AuditAction::Automod => "automod",
            AuditAction::Login => "login",
            AuditAction::Logout => "logout",
        }
    }
}

/// Text that names no [`AuditAction`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action {0:?} (known: replace, reply, delete, warn, log, leave, unregister, block, sync, restore, automod, login, logout)")]
pub struct UnknownAuditAction(pub String);

impl std::str::FromStr for AuditAction {
    type Err = UnknownAuditAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAuditAction(s.to_owned()))
    }
}

impl From<linkguard_rules::policy::Action> for AuditAction {
    fn from(a: linkguard_rules::policy::Action) -> Self {
        use linkguard_rules::policy::Action;
        match a {
            Action::Replace => AuditAction::Replace,
            Action::Reply => AuditAction::Reply,
            Action::Delete => AuditAction::Delete,
            Action::Warn => AuditAction::Warn,
            Action::Log => AuditAction::Log,
        }
    }
}

/// Serde and `Display` as the stored text, for a type written by `as_str`
/// whose text parses (`FromStr`) only when it names one of its values: a
/// bad text fails to deserialise, with the parse error naming it.
macro_rules! checked_text_serde {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}
pub(super) use checked_text_serde;
checked_text_serde!(AuditAction);

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
    /// Where the record comes from: a platform, or linkguard itself.
    pub platform: Origin,
    /// Slack workspace (team) or Discord guild.
    pub workspace: Option<String>,
    /// Channel id.
    pub channel: Option<String>,
    /// Thread id (Slack `thread_ts`, Discord thread channel).
    pub thread: Option<String>,
    /// The message's platform id.
    pub message_id: Option<String>,
    /// Which edit of the message.
    pub revision: Option<Revision>,
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
    /// What linkguard did.
    pub action: Option<AuditAction>,
    /// How the action went.
    pub outcome: Option<Outcome>,
    /// The platform's error, why an action degraded, or other free text.
    pub detail: Option<String>,
    /// The whole message, only when `audit_message_text` is on.
    pub message_text: Option<String>,
}

impl AuditEntry {
    /// An entry of `kind` from `origin` (a [`Platform`](super::Platform) or
    /// an [`Origin`]) with every other field empty.
    pub fn new(kind: Kind, origin: impl Into<Origin>) -> AuditEntry {
        AuditEntry {
            at_ms: 0,
            platform: origin.into(),
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
    encode(b"linkguard-audit-v1\n", seq, e)
}

fn encode(first_line: &[u8], seq: i64, e: &AuditEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(first_line);
    out.extend_from_slice(&(seq as u64).to_be_bytes());
    out.extend_from_slice(&e.at_ms.to_be_bytes());
    put_str(&mut out, e.platform.as_str());
    for f in [
        e.workspace.as_deref(),
        e.channel.as_deref(),
        e.thread.as_deref(),
        e.message_id.as_deref(),
        e.revision.as_ref().map(Revision::as_str),
        e.author.as_deref(),
    ] {
        put_opt(&mut out, f);
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
    for f in [&e.provider, &e.link, &e.alternative] {
        put_opt(&mut out, f.as_deref());
    }
    put_opt(&mut out, e.action.map(AuditAction::as_str));
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

/// `hmac_sha256(key, prev_hash || v2 encoding)` as lowercase hex (see the
/// module docs), or `None` if `prev_hash_hex` is not a 32-byte hex hash.
pub fn keyed_record_hash(
    key: &AuditKey,
    prev_hash_hex: &str,
    seq: i64,
    entry: &AuditEntry,
) -> Option<String> {
    let prev = hex::decode(prev_hash_hex).ok()?;
    if prev.len() != 32 {
        return None;
    }
    Some(key.sign(&[&prev, &encode(b"linkguard-audit-v2\n", seq, entry)]))
}

/// The hash record `seq` must carry: keyed from `keyed_from` on, SHA-256 before.
pub(crate) fn expected_hash(
    key: &AuditKey,
    keyed_from: i64,
    prev_hash_hex: &str,
    seq: i64,
    entry: &AuditEntry,
) -> Option<String> {
    if seq >= keyed_from {
        keyed_record_hash(key, prev_hash_hex, seq, entry)
    } else {
        record_hash(prev_hash_hex, seq, entry)
    }
}

fn checkpoint_parts(seq: i64, hash_hex: &str, at_ms: i64) -> [Vec<u8>; 4] {
    [
        b"linkguard-audit-checkpoint-v1\n".to_vec(),
        seq.to_be_bytes().to_vec(),
        hex::decode(hash_hex).unwrap_or_else(|_| hash_hex.as_bytes().to_vec()),
        at_ms.to_be_bytes().to_vec(),
    ]
}

/// The MAC a checkpoint row carries (see the module docs).
pub(crate) fn checkpoint_mac(key: &AuditKey, seq: i64, hash_hex: &str, at_ms: i64) -> String {
    let parts = checkpoint_parts(seq, hash_hex, at_ms);
    key.sign(&parts.each_ref().map(Vec::as_slice))
}

/// Whether a checkpoint row's MAC is genuine.
pub(crate) fn checkpoint_mac_ok(
    key: &AuditKey,
    seq: i64,
    hash_hex: &str,
    at_ms: i64,
    mac: &str,
) -> bool {
    let parts = checkpoint_parts(seq, hash_hex, at_ms);
    key.verify(&parts.each_ref().map(Vec::as_slice), mac)
}

/// The `detail` of a `purged` record: names the checkpoint it created, which
/// `verify` requires (a checkpoint no purge accounts for was planted).
pub(crate) fn purged_detail(removed: u64, checkpoint_seq: i64, before_ms: i64) -> String {
    format!("purged {removed} records up to {checkpoint_seq} (older than {before_ms} ms)")
}

/// The checkpoint a `purged` record's detail names (see [`purged_detail`]).
pub(crate) fn purged_checkpoint(detail: &str) -> Option<i64> {
    let rest = detail.strip_prefix("purged ")?;
    let (_, rest) = rest.split_once(" records up to ")?;
    rest.split(' ').next()?.parse().ok()
}

/// The signed head of the chain, printed by `linkguard audit anchor` and kept
/// outside the database (a log pipeline, object storage with retention
/// locks). `linkguard audit verify --anchor FILE` later fails if the chain no
/// longer reaches it: the tail was cut below `seq`, the record at `seq` no
/// longer has `hash`, or the keyed part was moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Always `linkguard-audit-anchor-v1`.
    pub format: String,
    /// The head's seq.
    pub seq: i64,
    /// The head's hash (hex).
    pub hash: String,
    /// When the anchor was taken (epoch ms).
    pub at_ms: i64,
    /// The same time, RFC 3339, for people.
    #[serde(default)]
    pub at: String,
    /// The first keyed record when the anchor was taken.
    pub keyed_from: i64,
    /// Which audit key signed it (its key check, shortened).
    #[serde(default)]
    pub key_id: String,
    /// HMAC-SHA256 with the audit key over the fields above (see the module docs).
    pub mac: String,
}

/// The `format` of an [`Anchor`].
pub const ANCHOR_FORMAT: &str = "linkguard-audit-anchor-v1";

impl Anchor {
    fn parts(seq: i64, hash_hex: &str, at_ms: i64, keyed_from: i64) -> [Vec<u8>; 5] {
        [
            b"linkguard-audit-anchor-v1\n".to_vec(),
            seq.to_be_bytes().to_vec(),
            hex::decode(hash_hex).unwrap_or_else(|_| hash_hex.as_bytes().to_vec()),
            at_ms.to_be_bytes().to_vec(),
            keyed_from.to_be_bytes().to_vec(),
        ]
    }

    /// Signs the head `(seq, hash)` taken at `at_ms`.
    pub fn sign(key: &AuditKey, seq: i64, hash: &str, at_ms: i64, keyed_from: i64) -> Anchor {
        let parts = Anchor::parts(seq, hash, at_ms, keyed_from);
        Anchor {
            format: ANCHOR_FORMAT.to_owned(),
            seq,
            hash: hash.to_owned(),
            at_ms,
            at: String::new(),
            keyed_from,
            key_id: key.key_check()[..16].to_owned(),
            mac: key.sign(&parts.each_ref().map(Vec::as_slice)),
        }
    }

    /// Whether the anchor was signed with `key` and not changed since.
    pub fn is_genuine(&self, key: &AuditKey) -> bool {
        let parts = Anchor::parts(self.seq, &self.hash, self.at_ms, self.keyed_from);
        self.format == ANCHOR_FORMAT && key.verify(&parts.each_ref().map(Vec::as_slice), &self.mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::Platform;

    #[test]
    fn encoding_distinguishes_absent_from_empty_and_shifted_fields() {
        let a = AuditEntry {
            workspace: Some("ab".into()),
            channel: None,
            ..AuditEntry::new(Kind::Detected, Platform::Slack)
        };
        let b = AuditEntry {
            workspace: Some("a".into()),
            channel: Some("b".into()),
            ..AuditEntry::new(Kind::Detected, Platform::Slack)
        };
        let c = AuditEntry {
            workspace: Some(String::new()),
            ..AuditEntry::new(Kind::Detected, Platform::Slack)
        };
        let d = AuditEntry::new(Kind::Detected, Platform::Slack);
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
            ..AuditEntry::new(Kind::Startup, Origin::Linkguard)
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
    fn checkpoints_and_anchors_are_signed() {
        let key = AuditKey::new("k1");
        let h = "ab".repeat(32);
        let mac = checkpoint_mac(&key, 7, &h, 100);
        assert!(checkpoint_mac_ok(&key, 7, &h, 100, &mac));
        assert!(!checkpoint_mac_ok(&key, 8, &h, 100, &mac));
        assert!(!checkpoint_mac_ok(&AuditKey::new("k2"), 7, &h, 100, &mac));
        let a = Anchor::sign(&key, 7, &h, 100, 1);
        assert!(a.is_genuine(&key));
        assert!(!a.is_genuine(&AuditKey::new("k2")));
        let moved = Anchor {
            seq: 6,
            ..a.clone()
        };
        assert!(!moved.is_genuine(&key));
        // A checkpoint MAC is not an anchor MAC.
        let swapped = Anchor { mac, ..a };
        assert!(!swapped.is_genuine(&key));
        assert_eq!(format!("{key:?}"), "[redacted]");
        assert_eq!(purged_checkpoint(&purged_detail(3, 42, 5)), Some(42));
        assert_eq!(purged_checkpoint("purged nothing"), None);
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
