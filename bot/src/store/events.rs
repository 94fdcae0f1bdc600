//! Event dedupe and pending actions: "record before act, record the outcome".
//!
//! A detection is written together with its event's idempotency key in one
//! transaction, so a redelivered event (Slack retry, gateway resume) finds
//! the key and nothing is done twice. A detection that still needs an action
//! gets a `pending_actions` row, removed in the same transaction that records
//! the action's outcome; whatever is left after a crash is what start-up
//! must finish or mark failed.
//!
//! A pending action is also a small work queue entry (issue #15): it counts
//! its attempts, says when the next one is due (back-off after a rate limit
//! or a server error), and is *leased* by one process at a time (owner and
//! expiry): a claim is one conditional `UPDATE … WHERE` the lease is free or
//! expired, atomic on both backends (PostgreSQL re-checks the condition on
//! the locked row; SQLite runs one writer at a time), so two replicas never
//! run the same action at once. The row also keeps how far the action got
//! (`progress`: the repost's id before the original is deleted) and the MACs
//! the moderation core uses to refuse a payload it did not write.

use super::group::{Done, Op};
use super::{
    now_ms, AuditEntry, AuditRecord, Platform, Revision, Store, StoreError, AUDIT_COLUMNS,
};
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
    pub fn new(platform: Platform, message_id: &str, revision: &Revision) -> EventKey {
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
    /// The payload's authentication tag (hex HMAC), written with it.
    pub payload_mac: Option<String>,
    /// Attempts put off so far (rate limits, server errors).
    pub attempts: i64,
    /// When the next attempt is due (epoch ms; 0: now).
    pub next_attempt_ms: i64,
    /// The process holding the action, if any.
    pub lease_owner: Option<String>,
    /// Until when (epoch ms) the lease holds.
    pub lease_until_ms: i64,
    /// Why the last attempt was put off.
    pub last_error: Option<String>,
    /// How far the action got (written by the pipeline before each next step).
    pub progress: Option<String>,
    /// The progress's authentication tag.
    pub progress_mac: Option<String>,
}

/// What is stored with a new pending action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPending {
    /// The message, as the pipeline serialised it.
    pub payload: String,
    /// Its authentication tag.
    pub payload_mac: String,
    /// The process that will carry the action out now, and until when its
    /// lease holds (epoch ms); `None` leaves it to whoever claims it first.
    pub lease: Option<(String, i64)>,
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
        payload: Option<NewPending>,
    ) -> Result<Recorded, StoreError> {
        let op = Op::Detect {
            key: key.clone(),
            entries,
            payload,
        };
        match self.with_retry(|| self.grouped(op.clone())).await? {
            Done::Detect(recorded) => Ok(recorded),
            other => unreachable!("a detection answered {other:?}"),
        }
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

    /// Claims `key` for `ttl`: `true` the first time, `false` while an
    /// earlier claim has not expired. For requests that carry no id of their
    /// own to dedupe on (a signed Slack slash command is identified by its
    /// signature): the claim lives in the store, so a replay sent to another
    /// replica on the same database is caught too. Shares the table of event
    /// keys, so [`Store::purge_expired_keys`] forgets expired claims.
    pub async fn claim_once(
        &self,
        key: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.with_retry(|| async move {
            // SQLite has one writer: queue behind the audit writers rather
            // than meet them as SQLITE_BUSY.
            let _guard = match self.inner.backend {
                super::Backend::Sqlite => Some(self.inner.write_lock.lock().await),
                super::Backend::Postgres => None,
            };
            let now = now_ms();
            sqlx::query("DELETE FROM event_keys WHERE event_key = $1 AND expires_ms <= $2")
                .bind(key.to_owned())
                .bind(now)
                .execute(&self.inner.pool)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO event_keys (event_key, first_seen_ms, expires_ms) \
                 VALUES ($1, $2, $3) ON CONFLICT (event_key) DO NOTHING",
            )
            .bind(key.to_owned())
            .bind(now)
            .bind(now.saturating_add(ttl_ms))
            .execute(&self.inner.pool)
            .await?
            .rows_affected();
            Ok(inserted > 0)
        })
        .await
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
        let op = Op::Outcome {
            seq: detection_seq,
            entry: Box::new(entry),
        };
        match self.with_retry(|| self.grouped(op.clone())).await? {
            Done::Outcome(record) => Ok(*record),
            other => unreachable!("an outcome answered {other:?}"),
        }
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
        self.pending_where("1 = 1", None).await
    }

    /// The pending action of detection `seq`, if it is still pending.
    pub async fn pending_one(&self, seq: i64) -> Result<Option<PendingAction>, StoreError> {
        Ok(self
            .pending_where("p.detection_seq = $1", Some(seq))
            .await?
            .pop())
    }

    async fn pending_where(
        &self,
        condition: &str,
        seq: Option<i64>,
    ) -> Result<Vec<PendingAction>, StoreError> {
        let cols: Vec<String> = AUDIT_COLUMNS
            .split(", ")
            .map(|c| format!("a.{}", c.trim()))
            .collect();
        let sql = format!(
            "SELECT {}, p.event_key AS p_event_key, p.created_ms AS p_created_ms, p.payload AS p_payload, \
             p.payload_mac AS p_payload_mac, p.attempts AS p_attempts, p.next_attempt_ms AS p_next_attempt_ms, \
             p.lease_owner AS p_lease_owner, p.lease_until_ms AS p_lease_until_ms, \
             p.last_error AS p_last_error, p.progress AS p_progress, p.progress_mac AS p_progress_mac \
             FROM pending_actions p JOIN audit_log a ON a.seq = p.detection_seq \
             WHERE {condition} ORDER BY p.detection_seq",
            cols.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(seq) = seq {
            q = q.bind(seq);
        }
        let rows = q.fetch_all(&self.inner.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(PendingAction {
                    detection: super::record_from_row(row)?,
                    event_key: row.try_get("p_event_key")?,
                    created_ms: row.try_get("p_created_ms")?,
                    payload: row.try_get("p_payload")?,
                    payload_mac: row.try_get("p_payload_mac")?,
                    attempts: row.try_get("p_attempts")?,
                    next_attempt_ms: row.try_get("p_next_attempt_ms")?,
                    lease_owner: row.try_get("p_lease_owner")?,
                    lease_until_ms: row.try_get("p_lease_until_ms")?,
                    last_error: row.try_get("p_last_error")?,
                    progress: row.try_get("p_progress")?,
                    progress_mac: row.try_get("p_progress_mac")?,
                })
            })
            .collect()
    }

    /// Claims up to `limit` pending actions on `platform` that are due and
    /// not leased (or whose lease expired) for `owner` until `until_ms`, and
    /// returns them. Each claim is one conditional update, so when several
    /// processes claim at once each action goes to exactly one of them.
    pub async fn claim_pending(
        &self,
        platform: Platform,
        owner: &str,
        until_ms: i64,
        limit: i64,
    ) -> Result<Vec<PendingAction>, StoreError> {
        let now = now_ms();
        // A cheap look first, without taking any write lock.
        let candidates: Vec<i64> = sqlx::query(
            "SELECT p.detection_seq AS seq FROM pending_actions p JOIN audit_log a ON a.seq = p.detection_seq \
             WHERE a.platform = $1 AND p.next_attempt_ms <= $2 \
             AND (p.lease_owner IS NULL OR p.lease_until_ms <= $2) \
             ORDER BY p.next_attempt_ms, p.detection_seq LIMIT $3",
        )
        .bind(platform.as_str())
        .bind(now)
        .bind(limit)
        .fetch_all(&self.inner.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>("seq"))
        .collect::<Result<_, _>>()?;
        let mut claimed = Vec::new();
        for seq in candidates {
            let won = self
                .with_retry(|| async move {
                    Ok(sqlx::query(
                        "UPDATE pending_actions SET lease_owner = $1, lease_until_ms = $2 \
                         WHERE detection_seq = $3 AND next_attempt_ms <= $4 \
                         AND (lease_owner IS NULL OR lease_until_ms <= $4)",
                    )
                    .bind(owner.to_owned())
                    .bind(until_ms)
                    .bind(seq)
                    .bind(now)
                    .execute(&self.inner.pool)
                    .await?
                    .rows_affected()
                        == 1)
                })
                .await?;
            if won {
                if let Some(p) = self.pending_one(seq).await? {
                    if p.lease_owner.as_deref() == Some(owner) {
                        claimed.push(p);
                    }
                }
            }
        }
        Ok(claimed)
    }

    /// Extends `owner`'s leases on `seqs` (actions it is still running) to
    /// `until_ms`. Returns how many it still held.
    pub async fn renew_leases(
        &self,
        owner: &str,
        seqs: &[i64],
        until_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut held = 0;
        for &seq in seqs {
            held += sqlx::query(
                "UPDATE pending_actions SET lease_until_ms = $1 WHERE detection_seq = $2 AND lease_owner = $3",
            )
            .bind(until_ms)
            .bind(seq)
            .bind(owner.to_owned())
            .execute(&self.inner.pool)
            .await?
            .rows_affected();
        }
        Ok(held)
    }

    /// Puts off `owner`'s pending action `seq`: one more attempt counted, the
    /// next due at `next_attempt_ms`, `why` kept, the lease released.
    /// Returns false if `owner` no longer held it.
    pub async fn defer_pending(
        &self,
        seq: i64,
        owner: &str,
        next_attempt_ms: i64,
        why: &str,
    ) -> Result<bool, StoreError> {
        self.update_if_held(
            seq,
            owner,
            "attempts = attempts + 1, next_attempt_ms = CAST($3 AS BIGINT), last_error = $4, \
             lease_owner = NULL, lease_until_ms = 0",
            next_attempt_ms.to_string(),
            why,
        )
        .await
    }

    /// Records how far `owner`'s pending action `seq` got, before its next
    /// step. Returns false if `owner` no longer held it.
    pub async fn record_progress(
        &self,
        seq: i64,
        owner: &str,
        progress: &str,
        mac: &str,
    ) -> Result<bool, StoreError> {
        self.update_if_held(
            seq,
            owner,
            "progress = $3, progress_mac = $4",
            progress.to_owned(),
            mac,
        )
        .await
    }

    /// Gives up `owner`'s lease on `seq` (at shutdown, for an action it is
    /// not running), so another process may take it at once.
    pub async fn release_lease(&self, seq: i64, owner: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE pending_actions SET lease_owner = NULL, lease_until_ms = 0 \
             WHERE detection_seq = $1 AND lease_owner = $2",
        )
        .bind(seq)
        .bind(owner.to_owned())
        .execute(&self.inner.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Runs `UPDATE pending_actions SET {set}` (binding `$3` and `$4`) on
    /// `seq` if `owner` holds it; returns whether it did.
    async fn update_if_held(
        &self,
        seq: i64,
        owner: &str,
        set: &'static str,
        third: String,
        fourth: &str,
    ) -> Result<bool, StoreError> {
        let op = Op::Held {
            seq,
            owner: owner.to_owned(),
            set,
            third,
            fourth: fourth.to_owned(),
        };
        match self.with_retry(|| self.grouped(op.clone())).await? {
            Done::Held(held) => Ok(held),
            other => unreachable!("an update of a held action answered {other:?}"),
        }
    }
}
