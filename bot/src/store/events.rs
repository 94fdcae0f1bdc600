//! Event dedupe and pending actions: "record before act, record the outcome".
//!
//! A detection is written together with its event's idempotency key in one
//! transaction, so a redelivered event (Slack retry, gateway resume) finds
//! the key and nothing is done twice. A detection that still needs an action
//! gets a `pending_actions` row, removed in the same transaction that records
//! the action's outcome; whatever is left after a crash is what start-up
//! must finish or mark failed.

use super::{now_ms, AuditEntry, AuditRecord, Outcome, Store, StoreError, AUDIT_COLUMNS};
use sqlx::{AssertSqlSafe, Row};

/// The idempotency key of one inbound event: platform + message id + revision.
///
/// The message id must identify the message across the whole platform
/// installation; for Slack, whose `ts` is unique only within a channel, pass
/// `channel/ts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey(String);

impl EventKey {
    /// The key of revision `revision` of message `message_id` on `platform`.
    pub fn new(platform: &str, message_id: &str, revision: &str) -> EventKey {
        // Length-prefixed so that no two different triples give the same key.
        EventKey(format!(
            "{}:{}:{}:{}",
            platform,
            message_id.len(),
            message_id,
            revision
        ))
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What [`Store::record_detection`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// First time this event was seen: the records as written.
    New(Vec<AuditRecord>),
    /// The event was already recorded (and its key has not expired): do nothing.
    Duplicate,
}

/// A detection whose action has no outcome yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAction {
    /// The `detected` record.
    pub detection: AuditRecord,
    /// The event it came from.
    pub event_key: String,
    /// When the detection was written (epoch ms).
    pub created_ms: i64,
    /// What the pipeline stored to finish the action after a restart.
    pub payload: Option<String>,
}

impl Store {
    /// Records the detections of one event, unless the event was already seen.
    ///
    /// The key and all `entries` are written in one transaction. Each entry
    /// whose `outcome` is [`Outcome::Pending`] also becomes a pending action,
    /// to be resolved by [`Store::record_outcome`].
    ///
    /// If the database connection drops after the commit but before the
    /// acknowledgement, the retry answers `Duplicate`; the detection is then
    /// stored and pending, and start-up recovery finishes it.
    pub async fn record_detection(
        &self,
        key: &EventKey,
        entries: Vec<AuditEntry>,
    ) -> Result<Recorded, StoreError> {
        self.record_detection_with(key, entries, None).await
    }

    /// [`Store::record_detection`], keeping `payload` with the pending action
    /// (what a restart needs to finish it) until its outcome is recorded.
    pub async fn record_detection_with(
        &self,
        key: &EventKey,
        entries: Vec<AuditEntry>,
        payload: Option<String>,
    ) -> Result<Recorded, StoreError> {
        let ttl_ms = self.inner.opts.dedupe_ttl.as_millis() as i64;
        self.with_retry(|| {
            let entries = entries.clone();
            let payload = payload.clone();
            async move {
                let mut w = self.begin_write().await?;
                let now = now_ms();
                sqlx::query("DELETE FROM event_keys WHERE event_key = $1 AND expires_ms <= $2")
                    .bind(key.as_str().to_string())
                    .bind(now)
                    .execute(&mut *w.tx)
                    .await?;
                if !self
                    .claim_key(&mut w, key.as_str(), now, now.saturating_add(ttl_ms))
                    .await?
                {
                    w.tx.rollback().await?;
                    return Ok(Recorded::Duplicate);
                }
                let mut out = Vec::with_capacity(entries.len());
                for e in entries {
                    let pending = e.outcome == Some(Outcome::Pending);
                    let r = self.append_in(&mut w, e).await?;
                    if pending {
                        sqlx::query(
                            "INSERT INTO pending_actions (detection_seq, event_key, created_ms, payload) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(r.seq)
                        .bind(key.as_str().to_string())
                        .bind(now)
                        .bind(payload.clone())
                        .execute(&mut *w.tx)
                        .await?;
                    }
                    out.push(r);
                }
                self.commit(w).await?;
                Ok(Recorded::New(out))
            }
        })
        .await
    }

    /// Whether `key` was recorded and has not expired.
    pub async fn seen(&self, key: &EventKey) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM event_keys WHERE event_key = $1 AND expires_ms > $2",
        )
        .bind(key.as_str().to_string())
        .bind(now_ms())
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Forgets expired idempotency keys; returns how many. Call periodically.
    pub async fn purge_expired_keys(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM event_keys WHERE expires_ms <= $1")
            .bind(now_ms())
            .execute(&self.inner.pool)
            .await?
            .rows_affected())
    }

    /// Records the outcome of the action for detection `detection_seq` and
    /// clears its pending state, in one transaction.
    ///
    /// Fails with [`StoreError::NotPending`] if it was already resolved, so
    /// two replicas recovering the same detection cannot both record it.
    pub async fn record_outcome(
        &self,
        detection_seq: i64,
        entry: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        self.with_retry(|| {
            let entry = entry.clone();
            async move {
                let mut w = self.begin_write().await?;
                let cleared = sqlx::query("DELETE FROM pending_actions WHERE detection_seq = $1")
                    .bind(detection_seq)
                    .execute(&mut *w.tx)
                    .await?
                    .rows_affected();
                if cleared == 0 {
                    w.tx.rollback().await?;
                    return Err(StoreError::NotPending(detection_seq));
                }
                let r = self.append_in(&mut w, entry).await?;
                self.commit(w).await?;
                Ok(r)
            }
        })
        .await
    }

    /// Drops the stored message (`payload`) of every pending-action row whose
    /// action is already finished: an `action` record for the same message
    /// and revision follows its detection. Such leftovers hold the full
    /// message text, which the audit log keeps only when
    /// `audit_message_text` is on. Run at start-up; returns how many
    /// payloads were dropped. (A finished action's row normally goes, payload
    /// and all, in the transaction that records its outcome; on SQLite
    /// `secure_delete = FAST` zeroes the deleted bytes.)
    pub async fn drop_payloads_of_finished_actions(&self) -> Result<u64, StoreError> {
        self.with_retry(|| async move {
            Ok(sqlx::query(
                "UPDATE pending_actions SET payload = NULL WHERE payload IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM audit_log d JOIN audit_log a \
                   ON a.kind = 'action' AND a.seq > d.seq AND a.platform = d.platform \
                   AND a.channel = d.channel AND a.message_id = d.message_id \
                   AND a.revision = d.revision \
                 WHERE d.seq = pending_actions.detection_seq)",
            )
            .execute(&self.inner.pool)
            .await?
            .rows_affected())
        })
        .await
    }

    /// Detections still waiting for their action's outcome, oldest first.
    pub async fn pending(&self) -> Result<Vec<PendingAction>, StoreError> {
        let cols: Vec<String> = AUDIT_COLUMNS
            .split(", ")
            .map(|c| format!("a.{}", c.trim()))
            .collect();
        let sql = format!(
            "SELECT {}, p.event_key AS p_event_key, p.created_ms AS p_created_ms, p.payload AS p_payload \
             FROM pending_actions p JOIN audit_log a ON a.seq = p.detection_seq \
             ORDER BY p.detection_seq",
            cols.join(", ")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingAction {
                    detection: super::record_from_row(row)?,
                    event_key: row.try_get("p_event_key")?,
                    created_ms: row.try_get("p_created_ms")?,
                    payload: row.try_get("p_payload")?,
                })
            })
            .collect()
    }
}
