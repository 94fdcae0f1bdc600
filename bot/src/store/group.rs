//! Group commit for the writes of the live path: a detection with its event
//! key, an action's progress or lease, its outcome.
//!
//! Every write is a transaction that commits (and, on SQLite, syncs its
//! journal) before it returns, and the chain lock lets one run at a time.
//! At a hundred violations a second, each written three times, one sync per
//! write is more than the disk does in a second. So writes that arrive
//! while another is in progress wait together, and the first of them to
//! get the chain lock writes them all in one transaction, each inside its
//! own savepoint, and commits once:
//!
//! - each write still sees the chain head left by the one before it, so the
//!   chain is the same as if they had been written one by one;
//! - a write that fails, or that finds nothing to do (a duplicate event, an
//!   outcome already recorded), is rolled back to its savepoint alone, with
//!   the head as it was, and its caller gets its own answer at once;
//! - nothing is answered `Ok` before the commit that holds it succeeded: if
//!   the batch cannot begin or commit, every write in it is done again on
//!   its own (its own transaction, error and retry), as if it had never been
//!   grouped. A write whose commit reached the database but whose answer
//!   did not is done again too, which the detection's idempotency key and
//!   the outcome's pending row make harmless, as for any retried write.

use super::{
    now_ms, AuditEntry, AuditRecord, EventKey, NewPending, Outcome, Recorded, Store, StoreError,
    WriteTx,
};
use sqlx::AssertSqlSafe;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The most writes one transaction takes; more wait for the next.
const MAX_BATCH: usize = 128;

/// One write of the live path.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// [`Store::record_detection_with`].
    Detect {
        key: EventKey,
        entries: Vec<AuditEntry>,
        payload: Option<NewPending>,
    },
    /// [`Store::record_outcome`].
    Outcome { seq: i64, entry: Box<AuditEntry> },
    /// An update of a pending action held by `owner` (its progress, or put
    /// off): `UPDATE pending_actions SET {set}`, `$3` and `$4` bound to
    /// `third` and `fourth`.
    Held {
        seq: i64,
        owner: String,
        set: &'static str,
        third: String,
        fourth: String,
    },
}

/// What a write came to.
#[derive(Debug)]
pub(crate) enum Done {
    Detect(Recorded),
    Outcome(Box<AuditRecord>),
    Held(bool),
}

impl Done {
    /// Whether the write changed something to keep (else its savepoint is
    /// rolled back, as its own transaction would have been).
    fn keeps(&self) -> bool {
        !matches!(self, Done::Detect(Recorded::Duplicate))
    }
}

/// `None`: the batch did not commit; do the write alone.
type Reply = oneshot::Sender<Option<Result<Done, StoreError>>>;

/// Writes waiting for the chain lock.
#[derive(Debug, Default)]
pub(crate) struct Group {
    queue: Mutex<VecDeque<(Op, Reply)>>,
}

impl Group {
    fn push(&self, op: Op, reply: Reply) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((op, reply));
    }

    fn take(&self) -> Vec<(Op, Reply)> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let n = q.len().min(MAX_BATCH);
        q.drain(..n).collect()
    }
}

impl Store {
    /// Does `op` in the next group commit; see the module documentation.
    /// Not retried here: callers wrap it in [`Store::with_retry`].
    pub(crate) async fn grouped(&self, op: Op) -> Result<Done, StoreError> {
        let (tx, mut rx) = oneshot::channel();
        self.inner.group.push(op.clone(), tx);
        loop {
            tokio::select! {
                biased;
                answer = &mut rx => {
                    return match answer {
                        Ok(Some(done)) => done,
                        // The batch did not commit, or its writer went away.
                        Ok(None) | Err(_) => self.alone(op).await,
                    };
                }
                guard = self.inner.write_lock.lock() => {
                    // The writer before us may have taken and answered ours.
                    if let Ok(answer) = rx.try_recv() {
                        drop(guard);
                        return match answer {
                            Some(done) => done,
                            None => self.alone(op).await,
                        };
                    }
                    let batch = self.inner.group.take();
                    if batch.is_empty() {
                        // Ours was taken by the writer that just let go of
                        // the lock and is answering it: no empty
                        // transaction, wait for the answer.
                        drop(guard);
                        tokio::task::yield_now().await;
                        continue;
                    }
                    self.write_batch(guard, batch).await;
                }
            }
        }
    }

    /// `op` in a transaction of its own.
    async fn alone(&self, op: Op) -> Result<Done, StoreError> {
        let mut w = self.begin_write().await?;
        let done = self.apply(&mut w, op).await?;
        if done.keeps() {
            self.commit(w).await?;
        } else {
            w.tx.rollback().await?;
        }
        Ok(done)
    }

    /// Writes `batch` in one transaction, under the chain lock `guard`, and
    /// answers each write.
    async fn write_batch(&self, guard: tokio::sync::MutexGuard<'_, ()>, batch: Vec<(Op, Reply)>) {
        let mut w = match self.begin_locked(Some(guard)).await {
            Ok(w) => w,
            Err(_) => {
                for (_, reply) in batch {
                    let _ = reply.send(None);
                }
                return;
            }
        };
        let mut kept: Vec<(Reply, Done)> = Vec::with_capacity(batch.len());
        let mut left = batch.into_iter();
        while let Some((op, reply)) = left.next() {
            match self.apply_saved(&mut w, op).await {
                Ok(Ok(done)) if done.keeps() => kept.push((reply, done)),
                Ok(answer) => {
                    let _ = reply.send(Some(answer));
                }
                // The transaction is unusable: everyone left does it alone.
                Err(()) => {
                    let _ = reply.send(None);
                    let rest = left.map(|(_, reply)| reply);
                    for reply in kept.into_iter().map(|(reply, _)| reply).chain(rest) {
                        let _ = reply.send(None);
                    }
                    return;
                }
            }
        }
        if kept.is_empty() {
            let _ = w.tx.rollback().await;
            return;
        }
        let committed = self.commit(w).await.is_ok();
        for (reply, done) in kept {
            let _ = reply.send(committed.then_some(Ok(done)));
        }
    }

    /// `op` inside a savepoint of `w`, rolled back (head included) unless
    /// it keeps something. `Err(())` when the savepoint itself failed.
    async fn apply_saved(
        &self,
        w: &mut WriteTx<'_>,
        op: Op,
    ) -> Result<Result<Done, StoreError>, ()> {
        let head = (w.head.seq, w.head.hash.clone(), w.head_dirty);
        sqlx::query("SAVEPOINT grouped")
            .execute(&mut *w.tx)
            .await
            .map_err(|_| ())?;
        let answer = self.apply(w, op).await;
        let end = match &answer {
            Ok(done) if done.keeps() => "RELEASE SAVEPOINT grouped",
            _ => {
                (w.head.seq, w.head.hash, w.head_dirty) = head;
                "ROLLBACK TO SAVEPOINT grouped"
            }
        };
        sqlx::query(end).execute(&mut *w.tx).await.map_err(|_| ())?;
        if end.starts_with("ROLLBACK") {
            sqlx::query("RELEASE SAVEPOINT grouped")
                .execute(&mut *w.tx)
                .await
                .map_err(|_| ())?;
        }
        Ok(answer)
    }

    /// The statements of `op`, inside `w`.
    async fn apply(&self, w: &mut WriteTx<'_>, op: Op) -> Result<Done, StoreError> {
        match op {
            Op::Detect {
                key,
                entries,
                payload,
            } => self
                .detect_in(w, &key, entries, payload.as_ref())
                .await
                .map(Done::Detect),
            Op::Outcome { seq, entry } => self
                .outcome_in(w, seq, *entry)
                .await
                .map(|r| Done::Outcome(Box::new(r))),
            Op::Held {
                seq,
                owner,
                set,
                third,
                fourth,
            } => {
                let sql = format!(
                    "UPDATE pending_actions SET {set} WHERE detection_seq = $1 AND lease_owner = $2"
                );
                let n = sqlx::query(AssertSqlSafe(sql))
                    .bind(seq)
                    .bind(owner)
                    .bind(third)
                    .bind(fourth)
                    .execute(&mut *w.tx)
                    .await?
                    .rows_affected();
                Ok(Done::Held(n == 1))
            }
        }
    }

    /// Records the detections of event `key` inside `w`, unless the key is
    /// already there (`Duplicate`: the caller rolls back).
    async fn detect_in(
        &self,
        w: &mut WriteTx<'_>,
        key: &EventKey,
        entries: Vec<AuditEntry>,
        payload: Option<&NewPending>,
    ) -> Result<Recorded, StoreError> {
        let ttl_ms = self.inner.opts.dedupe_ttl.as_millis() as i64;
        let now = now_ms();
        sqlx::query("DELETE FROM event_keys WHERE event_key = $1 AND expires_ms <= $2")
            .bind(key.as_str().to_string())
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        if !self
            .claim_key(w, key.as_str(), now, now.saturating_add(ttl_ms))
            .await?
        {
            return Ok(Recorded::Duplicate);
        }
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let pending = e.outcome == Some(Outcome::Pending);
            let r = self.append_in(w, e).await?;
            if pending {
                let (owner, until) = payload
                    .and_then(|p| p.lease.clone())
                    .map_or((None, 0), |(o, u)| (Some(o), u));
                sqlx::query(
                    "INSERT INTO pending_actions (detection_seq, event_key, created_ms, payload, \
                     payload_mac, lease_owner, lease_until_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(r.seq)
                .bind(key.as_str().to_string())
                .bind(now)
                .bind(payload.map(|p| p.payload.clone()))
                .bind(payload.map(|p| p.payload_mac.clone()))
                .bind(owner)
                .bind(until)
                .execute(&mut *w.tx)
                .await?;
            }
            out.push(r);
        }
        Ok(Recorded::New(out))
    }

    /// Resolves pending detection `seq` with `entry` inside `w`;
    /// [`StoreError::NotPending`] if it was already resolved.
    async fn outcome_in(
        &self,
        w: &mut WriteTx<'_>,
        seq: i64,
        entry: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        let cleared = sqlx::query("DELETE FROM pending_actions WHERE detection_seq = $1")
            .bind(seq)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if cleared == 0 {
            return Err(StoreError::NotPending(seq));
        }
        self.append_in(w, entry).await
    }
}
