//! What the pipeline stores for itself and must trust when it reads it
//! back: the `audit_key` MAC over pending payloads and their progress, and
//! the progress record of a pending action.

use hmac::{Hmac, Mac as _};

/// The key that authenticates what the pipeline stores for itself (pending
/// payloads and their progress), so a row it did not write is refused.
#[derive(Clone)]
pub(super) struct Sealer(pub(super) Vec<u8>);

impl Sealer {
    pub(super) fn mac(&self, domain: &str, id: &str, body: &str) -> Hmac<sha2::Sha256> {
        let mut m = <Hmac<sha2::Sha256>>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        // Length-prefixed so that no two different triples give the same input.
        for part in [domain, id, body] {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part.as_bytes());
        }
        m
    }

    pub(super) fn seal(&self, domain: &str, id: &str, body: &str) -> String {
        hex::encode(self.mac(domain, id, body).finalize().into_bytes())
    }

    pub(super) fn verify(&self, domain: &str, id: &str, body: &str, tag: Option<&str>) -> bool {
        let Some(tag) = tag.and_then(|t| hex::decode(t).ok()) else {
            return false;
        };
        self.mac(domain, id, body).verify_slice(&tag).is_ok()
    }
}

/// How far a pending action got, recorded before each next step so that a
/// retry (or the recovery of a crashed run) goes on from there.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Progress {
    /// The action being tried (after any degradation so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) action: Option<String>,
    /// Why earlier actions degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) reasons: Vec<String>,
    /// The repost made by `replace`, recorded before the original is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) repost: Option<String>,
    /// The original is deleted.
    #[serde(default)]
    pub(super) deleted: bool,
    /// The thread reply is posted.
    #[serde(default)]
    pub(super) replied: bool,
    /// The author was told privately.
    #[serde(default)]
    pub(super) notified: bool,
    /// A repost cannot stand in for the message (too long, a forward, a
    /// share): `delete` sends the author the rewritten text first.
    #[serde(default)]
    pub(super) copy: bool,
    /// The author was sent the rewritten text.
    #[serde(default)]
    pub(super) copied: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_verifies_only_unchanged_and_with_the_same_key() {
        let k = Sealer(b"key".to_vec());
        let tag = k.seal("payload", "slack:3:a/b:0", "{}");
        assert!(k.verify("payload", "slack:3:a/b:0", "{}", Some(&tag)));
        assert!(!k.verify("payload", "slack:3:a/b:0", "{ }", Some(&tag)));
        assert!(!k.verify("payload", "slack:3:a/c:0", "{}", Some(&tag)));
        assert!(!k.verify("progress", "slack:3:a/b:0", "{}", Some(&tag)));
        assert!(!k.verify("payload", "slack:3:a/b:0", "{}", None));
        assert!(!k.verify("payload", "slack:3:a/b:0", "{}", Some("zz")));
        assert!(!Sealer(b"other".to_vec()).verify("payload", "slack:3:a/b:0", "{}", Some(&tag)));
    }

    #[test]
    fn progress_reads_back_what_was_written() {
        let p = Progress {
            action: Some("replace".into()),
            repost: Some("1700000000.000200".into()),
            ..Progress::default()
        };
        let text = serde_json::to_string(&p).expect("json");
        assert_eq!(serde_json::from_str::<Progress>(&text).expect("parse"), p);
        assert_eq!(
            serde_json::from_str::<Progress>("{}").expect("parse"),
            Progress::default()
        );
    }
}
