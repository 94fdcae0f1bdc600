//! The audit log's queries: appending to the hash chain under the write
//! lock, reading and listing records, verifying the chain (with checkpoints
//! and anchors) and purging old records behind a checkpoint. The chain's
//! encoding and hashing are in [`super::audit`]; the connection, retry and
//! write-transaction machinery in [`super`].

use super::audit::{checkpoint_mac, checkpoint_mac_ok, expected_hash, purged_detail};
use super::audit::{Anchor, AuditEntry, AuditKey, AuditRecord, Kind, Outcome, GENESIS_HASH};
use super::chain::ChainWalker;
use super::chain::{ChainProblem, VerifyReport};
use super::{now_ms, redact_link, redact_text, Backend, Store, StoreError, WriteTx, HEAD_SQL};
use super::{Origin, Revision};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

/// Filters for listing and exporting audit records; empty means everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Records at or after this time (epoch ms).
    pub since_ms: Option<i64>,
    /// Records before this time (epoch ms).
    pub until_ms: Option<i64>,
    /// Only records from this platform or origin.
    pub platform: Option<Origin>,
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this author.
    pub author: Option<String>,
    /// Only this rule.
    pub rule_id: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this outcome (`ok`, `failed`, …).
    pub outcome: Option<String>,
    /// Only records where this text occurs (any case) in a stored field:
    /// the console's search.
    pub text: Option<String>,
    /// Only records before this seq (paging newest first).
    pub before_seq: Option<i64>,
    /// Only records after this seq (for paging and `tail --follow`).
    pub after_seq: Option<i64>,
    /// At most this many records.
    pub limit: Option<i64>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
}

/// What [`Store::purge_before`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// How many records were removed.
    pub removed: u64,
    /// The checkpoint `verify` now starts from (seq of the last removed record).
    pub checkpoint_seq: i64,
    /// The `purged` record appended to account for the purge, if any were removed.
    pub record: Option<AuditRecord>,
}

/// The stored fields a text search looks in.
const SEARCHED_COLUMNS: &[&str] = &[
    "platform",
    "workspace",
    "channel",
    "author",
    "kind",
    "rule_id",
    "provider",
    "link",
    "alternative",
    "action",
    "outcome",
    "detail",
    "message_text",
];

/// `%text%` for `LIKE`, lower-cased, with `%`, `_` and `\` taken literally.
fn search_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub(super) const AUDIT_COLUMNS: &str =
    "seq, at_ms, platform, workspace, channel, thread, message_id, \
     revision, author, kind, rule_id, policy_version, provider, link, alternative, action, \
     outcome, detail, message_text, prev_hash, hash";
impl Store {
    /// Appends to the chain inside `w`; the caller commits.
    pub(crate) async fn append_in(
        &self,
        w: &mut WriteTx<'_>,
        entry: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        let entry = self.prepare(entry);
        let seq = w.head.seq + 1;
        let key = &self.inner.opts.audit_key;
        let hash =
            expected_hash(key, w.head.keyed_from, &w.head.hash, seq, &entry).ok_or_else(|| {
                StoreError::Corrupt(format!("audit_head hash is not a hash: {}", w.head.hash))
            })?;
        sqlx::query(
            "INSERT INTO audit_log (seq, at_ms, platform, workspace, channel, thread, message_id, \
             revision, author, kind, rule_id, policy_version, provider, link, alternative, action, \
             outcome, detail, message_text, prev_hash, hash) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        )
        .bind(seq)
        .bind(entry.at_ms)
        .bind(entry.platform.as_str().to_owned())
        .bind(entry.workspace.clone())
        .bind(entry.channel.clone())
        .bind(entry.thread.clone())
        .bind(entry.message_id.clone())
        .bind(entry.revision.as_ref().map(|r| r.as_str().to_owned()))
        .bind(entry.author.clone())
        .bind(entry.kind.as_str().to_string())
        .bind(entry.rule_id.clone())
        .bind(entry.policy_version)
        .bind(entry.provider.clone())
        .bind(entry.link.clone())
        .bind(entry.alternative.clone())
        .bind(entry.action.map(|a| a.as_str().to_owned()))
        .bind(entry.outcome.as_ref().map(|o| o.as_str().to_string()))
        .bind(entry.detail.clone())
        .bind(entry.message_text.clone())
        .bind(w.head.hash.clone())
        .bind(hash.clone())
        .execute(&mut *w.tx)
        .await?;
        let record = AuditRecord {
            seq,
            entry,
            prev_hash: std::mem::replace(&mut w.head.hash, hash.clone()),
            hash,
        };
        w.head.seq = seq;
        w.head_dirty = true;
        Ok(record)
    }

    /// Redaction, message-text policy and default time: what every entry goes
    /// through before it is hashed.
    fn prepare(&self, mut e: AuditEntry) -> AuditEntry {
        if e.at_ms == 0 {
            e.at_ms = now_ms();
        }
        e.link = e.link.map(|l| redact_link(&l));
        e.message_text = if self.inner.opts.keep_message_text {
            e.message_text.map(|t| redact_text(&t))
        } else {
            None
        };
        e
    }

    /// Appends one record to the audit log; returns it once committed.
    pub async fn append(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        let mut records = self.append_batch(vec![entry]).await?;
        records
            .pop()
            .ok_or_else(|| StoreError::Corrupt("append returned no record".into()))
    }

    /// Appends several records in one transaction (consecutive seqs).
    pub async fn append_batch(
        &self,
        entries: Vec<AuditEntry>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.with_retry(|| {
            let entries = entries.clone();
            async move {
                let mut w = self.begin_write().await?;
                let mut out = Vec::with_capacity(entries.len());
                for e in entries {
                    out.push(self.append_in(&mut w, e).await?);
                }
                self.commit(w).await?;
                Ok(out)
            }
        })
        .await
    }

    /// Records `key` in the event keys until `expires_ms`, inside `w`;
    /// `false` when it is already there.
    pub(crate) async fn claim_key(
        &self,
        w: &mut WriteTx<'_>,
        key: &str,
        now: i64,
        expires_ms: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO event_keys (event_key, first_seen_ms, expires_ms) \
             VALUES ($1, $2, $3) ON CONFLICT (event_key) DO NOTHING",
        )
        .bind(key.to_owned())
        .bind(now)
        .bind(expires_ms)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        Ok(inserted > 0)
    }

    /// Appends each `(key, entry)` whose key was never recorded, in one
    /// transaction; returns how many were written. Keys share the table of
    /// event keys but never expire: for records that must exist once however
    /// often their source is replayed (`linkguard scan --record` run twice
    /// over the same export).
    pub async fn append_batch_once(
        &self,
        entries: Vec<(String, AuditEntry)>,
    ) -> Result<u64, StoreError> {
        self.with_retry(|| {
            let entries = entries.clone();
            async move {
                let mut w = self.begin_write().await?;
                let now = now_ms();
                let mut written = 0;
                for (key, e) in entries {
                    if self.claim_key(&mut w, &key, now, i64::MAX).await? {
                        self.append_in(&mut w, e).await?;
                        written += 1;
                    }
                }
                self.commit(w).await?;
                Ok(written)
            }
        })
        .await
    }

    /// Appends `entry` unless `key` was claimed less than `window` ago;
    /// returns whether it was written. The key lives in the table of event
    /// keys, one row per key (an expired one is replaced), so replicas
    /// sharing a database write one record per key and window between them,
    /// and the table does not grow with the number of windows.
    pub async fn append_throttled(
        &self,
        key: &str,
        window: std::time::Duration,
        entry: AuditEntry,
    ) -> Result<bool, StoreError> {
        let window_ms = window.as_millis().min(i64::MAX as u128) as i64;
        self.with_retry(|| {
            let entry = entry.clone();
            async move {
                let mut w = self.begin_write().await?;
                let now = now_ms();
                sqlx::query("DELETE FROM event_keys WHERE event_key = $1 AND expires_ms <= $2")
                    .bind(key.to_owned())
                    .bind(now)
                    .execute(&mut *w.tx)
                    .await?;
                if !self
                    .claim_key(&mut w, key, now, now.saturating_add(window_ms))
                    .await?
                {
                    w.tx.rollback().await?;
                    return Ok(false);
                }
                self.append_in(&mut w, entry).await?;
                self.commit(w).await?;
                Ok(true)
            }
        })
        .await
    }

    /// The record at `seq`, if present.
    pub async fn record(&self, seq: i64) -> Result<Option<AuditRecord>, StoreError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(seq)
            .fetch_optional(&self.inner.pool)
            .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Records matching `filter`, ordered by seq.
    pub async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if filter.since_ms.is_some() {
            clauses.push(format!("at_ms >= {}", next()));
        }
        if filter.until_ms.is_some() {
            clauses.push(format!("at_ms < {}", next()));
        }
        let platform = filter.platform.map(|o| o.as_str().to_owned());
        let text_filters = [
            ("platform", &platform),
            ("channel", &filter.channel),
            ("author", &filter.author),
            ("rule_id", &filter.rule_id),
            ("kind", &filter.kind),
            ("outcome", &filter.outcome),
        ];
        for (col, v) in &text_filters {
            if v.is_some() {
                clauses.push(format!("{col} = {}", next()));
            }
        }
        let pattern = filter.text.as_deref().map(search_pattern);
        if pattern.is_some() {
            let p = next();
            let any: Vec<String> = SEARCHED_COLUMNS
                .iter()
                .map(|c| format!("LOWER(COALESCE({c}, '')) LIKE {p} ESCAPE '\\'"))
                .collect();
            clauses.push(format!("({})", any.join(" OR ")));
        }
        if filter.before_seq.is_some() {
            clauses.push(format!("seq < {}", next()));
        }
        if filter.after_seq.is_some() {
            clauses.push(format!("seq > {}", next()));
        }
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(if filter.newest_first {
            " ORDER BY seq DESC"
        } else {
            " ORDER BY seq"
        });
        if filter.limit.is_some() {
            sql.push_str(&format!(" LIMIT {}", next()));
        }
        // Only column names and placeholders were formatted in; values are bound.
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(v) = filter.since_ms {
            q = q.bind(v);
        }
        if let Some(v) = filter.until_ms {
            q = q.bind(v);
        }
        for (_, v) in text_filters {
            if let Some(v) = v {
                q = q.bind(v.clone());
            }
        }
        if let Some(p) = pattern {
            q = q.bind(p);
        }
        if let Some(v) = filter.before_seq {
            q = q.bind(v);
        }
        if let Some(v) = filter.after_seq {
            q = q.bind(v);
        }
        if let Some(v) = filter.limit {
            q = q.bind(v);
        }
        let rows = q.fetch_all(&self.inner.pool).await?;
        rows.iter().map(record_from_row).collect()
    }

    /// How many records the log holds (after any purge).
    pub async fn count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_log")
            .fetch_one(&self.inner.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The head of the chain: `(seq, hash)` of the last record.
    pub async fn head(&self) -> Result<(i64, String), StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.inner.pool)
            .await?;
        Ok((row.try_get("seq")?, row.try_get("hash")?))
    }

    /// Walks the chain from the latest checkpoint (or the genesis) to the
    /// head and reports the first broken record.
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.verify_with_anchors(&[]).await
    }

    /// [`Store::verify`], and then checks that the chain still reaches every
    /// anchor in `anchors` (see [`Anchor`]).
    ///
    /// Everything is read in one snapshot (a read transaction), so records
    /// appended or purged meanwhile cannot be mistaken for tampering.
    /// Fails with [`StoreError::AuditKeyMismatch`] when the configured key is
    /// not the one the log was written with.
    pub async fn verify_with_anchors(
        &self,
        anchors: &[Anchor],
    ) -> Result<VerifyReport, StoreError> {
        let key = &self.inner.opts.audit_key;
        let mut tx = self.inner.pool.begin().await?;
        if self.inner.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let head_row = sqlx::query(AssertSqlSafe(HEAD_SQL))
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt("audit_head row is missing".into()))?;
        let head_seq: i64 = head_row.try_get("seq")?;
        let head_hash: String = head_row.try_get("hash")?;
        let keyed_from: i64 = head_row.try_get("keyed_from")?;
        let key_check: Option<String> = head_row.try_get("key_check")?;
        if key_check.is_some_and(|c| c != key.key_check()) {
            return Err(StoreError::AuditKeyMismatch);
        }
        let mut report = VerifyReport {
            from_seq: 0,
            head_seq,
            head_hash: head_hash.clone(),
            keyed_from,
            checked: 0,
            unkeyed_checked: 0,
            anchors_checked: 0,
            notes: Vec::new(),
            problem: None,
        };
        let (from_seq, from_hash, genuine) = last_checkpoint(&mut tx, key, keyed_from).await?;
        if !genuine {
            report.from_seq = from_seq;
            report.problem = Some(ChainProblem::ForgedCheckpoint { seq: from_seq });
            return Ok(report);
        }
        report.from_seq = from_seq;
        if keyed_from > head_seq + 1 || keyed_from < 1 {
            report.problem = Some(ChainProblem::KeyedBoundaryMoved { seq: keyed_from });
            return Ok(report);
        }
        let beyond: Option<i64> = sqlx::query("SELECT MIN(seq) AS s FROM audit_log WHERE seq > $1")
            .bind(head_seq)
            .fetch_one(&mut *tx)
            .await?
            .try_get("s")?;
        let mut walker = ChainWalker::new(from_seq, from_hash.clone(), key, keyed_from);
        walk(&mut tx, &mut walker, from_seq, head_seq).await?;
        report.unkeyed_checked = walker.unkeyed_checked;
        let (checked, problem) = walker.finish(head_seq, &head_hash);
        report.checked = checked;
        report.problem = problem.or(beyond.map(|seq| ChainProblem::BeyondHead { seq }));
        if report.problem.is_some() {
            return Ok(report);
        }
        check_anchors(&mut tx, key, anchors, &from_hash, &mut report).await?;
        tx.rollback().await?;
        Ok(report)
    }

    /// Verifies the chain and, if it is intact, signs its head with the audit
    /// key: what `linkguard audit anchor` prints. Returns the report and the
    /// anchor (`None` when the chain is broken: a broken head is not worth
    /// anchoring).
    pub async fn anchor(&self) -> Result<(VerifyReport, Option<Anchor>), StoreError> {
        let report = self.verify().await?;
        if !report.is_ok() {
            return Ok((report, None));
        }
        let anchor = Anchor::sign(
            &self.inner.opts.audit_key,
            report.head_seq,
            &report.head_hash,
            now_ms(),
            report.keyed_from,
        );
        Ok((report, Some(anchor)))
    }

    /// Removes the oldest records, all of whose times are before `before_ms`,
    /// keeping the chain verifiable: the last removed record's seq and hash
    /// become the checkpoint `verify` starts from, and a `purged` record is
    /// appended. Records with a pending action are never removed.
    pub async fn purge_before(
        &self,
        before_ms: i64,
        author: &str,
    ) -> Result<PurgeReport, StoreError> {
        self.with_retry(|| async move {
            let mut w = self.begin_write().await?;
            // The purge stops at the first record that is too new (or pending),
            // so what remains is a contiguous tail of the chain.
            let row = sqlx::query(
                "SELECT MIN(seq) AS s FROM audit_log WHERE at_ms >= $1 \
                 OR seq IN (SELECT detection_seq FROM pending_actions)",
            )
            .bind(before_ms)
            .fetch_one(&mut *w.tx)
            .await?;
            let first_kept: Option<i64> = row.try_get("s")?;
            let last_removed = first_kept.map_or(w.head.seq, |s| s - 1);
            let cp = sqlx::query("SELECT MAX(seq) AS s FROM audit_checkpoint")
                .fetch_one(&mut *w.tx)
                .await?;
            let prev_cp: i64 = cp.try_get::<Option<i64>, _>("s")?.unwrap_or(0);
            if last_removed <= prev_cp {
                return Ok(PurgeReport {
                    removed: 0,
                    checkpoint_seq: prev_cp,
                    record: None,
                });
            }
            let hash_row = sqlx::query("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(last_removed)
                .fetch_optional(&mut *w.tx)
                .await?;
            let Some(hash_row) = hash_row else {
                return Err(StoreError::Corrupt(format!(
                    "record {last_removed} is missing; run `linkguard audit verify`"
                )));
            };
            let cp_hash: String = hash_row.try_get("hash")?;
            let cp_at = now_ms();
            let mac = checkpoint_mac(&self.inner.opts.audit_key, last_removed, &cp_hash, cp_at);
            sqlx::query(
                "INSERT INTO audit_checkpoint (seq, hash, at_ms, mac) VALUES ($1, $2, $3, $4)",
            )
            .bind(last_removed)
            .bind(cp_hash)
            .bind(cp_at)
            .bind(mac)
            .execute(&mut *w.tx)
            .await?;
            let removed = sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
                .bind(last_removed)
                .execute(&mut *w.tx)
                .await?
                .rows_affected();
            let record = self
                .append_in(
                    &mut w,
                    AuditEntry {
                        author: Some(author.to_string()),
                        detail: Some(purged_detail(removed, last_removed, before_ms)),
                        ..AuditEntry::new(Kind::Purged, Origin::Linkguard)
                    },
                )
                .await?;
            self.commit(w).await?;
            Ok(PurgeReport {
                removed,
                checkpoint_seq: last_removed,
                record: Some(record),
            })
        })
        .await
    }
}

pub(super) fn record_from_row(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    let outcome: Option<String> = row.try_get("outcome")?;
    let kind: String = row.try_get("kind")?;
    let seq: i64 = row.try_get("seq")?;
    let action: Option<String> = row.try_get("action")?;
    let platform: String = row.try_get("platform")?;
    let revision: Option<String> = row.try_get("revision")?;
    Ok(AuditRecord {
        seq,
        entry: AuditEntry {
            at_ms: row.try_get("at_ms")?,
            platform: Origin::parse(&platform)
                .map_err(|e| StoreError::Corrupt(format!("audit record {seq}: {e}")))?,
            workspace: row.try_get("workspace")?,
            channel: row.try_get("channel")?,
            thread: row.try_get("thread")?,
            message_id: row.try_get("message_id")?,
            revision: revision.map(Revision::from),
            author: row.try_get("author")?,
            kind: Kind::parse(&kind),
            rule_id: row.try_get("rule_id")?,
            policy_version: row.try_get("policy_version")?,
            provider: row.try_get("provider")?,
            link: row.try_get("link")?,
            alternative: row.try_get("alternative")?,
            action: action
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("audit record {seq}: {e}")))?,
            outcome: outcome.as_deref().map(Outcome::parse),
            detail: row.try_get("detail")?,
            message_text: row.try_get("message_text")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// The newest purge checkpoint the chain restarts from (`(0, genesis)`
/// when there is none), and whether it is genuine: a purge in the keyed
/// part signs its checkpoint; an unsigned one is only believable from
/// before the upgrade.
async fn last_checkpoint(
    conn: &mut sqlx::AnyConnection,
    key: &AuditKey,
    keyed_from: i64,
) -> Result<(i64, String, bool), StoreError> {
    let cp =
        sqlx::query("SELECT seq, hash, at_ms, mac FROM audit_checkpoint ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let Some(r) = cp else {
        return Ok((0, GENESIS_HASH.to_string(), true));
    };
    let seq: i64 = r.try_get("seq")?;
    let hash: String = r.try_get("hash")?;
    let at_ms: i64 = r.try_get("at_ms")?;
    let mac: Option<String> = r.try_get("mac")?;
    let genuine = match mac {
        Some(mac) => checkpoint_mac_ok(key, seq, &hash, at_ms, &mac),
        None => seq < keyed_from,
    };
    Ok((seq, hash, genuine))
}

/// Feeds `walker` the records after `from_seq` up to `head_seq`, a page at
/// a time, until it sees a problem.
async fn walk(
    conn: &mut sqlx::AnyConnection,
    walker: &mut ChainWalker<'_>,
    from_seq: i64,
    head_seq: i64,
) -> Result<(), StoreError> {
    let page = 2000;
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
    );
    let mut after = from_seq;
    loop {
        let rows = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(after)
            .bind(head_seq)
            .bind(page)
            .fetch_all(&mut *conn)
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            let record = record_from_row(row)?;
            after = record.seq;
            if !walker.check(&record) {
                return Ok(());
            }
        }
        if (rows.len() as i64) < page {
            return Ok(());
        }
    }
}

/// Checks each anchor against the intact chain in `report`, stopping at
/// the first problem (recorded in `report`). `from_hash` is the hash the
/// chain restarts from at `report.from_seq`.
async fn check_anchors(
    conn: &mut sqlx::AnyConnection,
    key: &AuditKey,
    anchors: &[Anchor],
    from_hash: &str,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    let (from_seq, head_seq, keyed_from) = (report.from_seq, report.head_seq, report.keyed_from);
    for a in anchors {
        report.anchors_checked += 1;
        let problem = if !a.is_genuine(key) {
            Some(ChainProblem::ForgedAnchor { seq: a.seq })
        } else if a.seq > head_seq {
            Some(ChainProblem::AnchorNotReached {
                seq: a.seq,
                head_seq,
            })
        } else if keyed_from > a.keyed_from {
            Some(ChainProblem::KeyedBoundaryMoved { seq: keyed_from })
        } else if a.seq < from_seq {
            report.notes.push(format!(
                "anchor at record {} predates checkpoint {from_seq}: those records were purged",
                a.seq
            ));
            None
        } else {
            let hash = if a.seq == from_seq {
                Some(from_hash.to_owned())
            } else {
                sqlx::query("SELECT hash FROM audit_log WHERE seq = $1")
                    .bind(a.seq)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get::<String, _>("hash"))
                    .transpose()?
            };
            (hash.as_deref() != Some(a.hash.as_str()))
                .then_some(ChainProblem::AnchorMismatch { seq: a.seq })
        };
        if problem.is_some() {
            report.problem = problem;
            break;
        }
    }
    Ok(())
}
