//! Exception requests: an employee asks for a time-limited exception and an
//! admin approves or denies it. Platform-neutral: Slack and Discord render a
//! request and translate clicks into [`Store::request_decide`].
//!
//! A request is a small state machine, `pending` → `approved` | `denied` |
//! `cancelled` | `expired`. Every move out of `pending` is one transaction
//! that compare-and-swaps the state, so a second click, or the same click on
//! another replica, finds the request already decided and is told by whom.
//! Approving grants the exception (the same code as `exempt`) in that same
//! transaction, so a request is never approved without its exception nor the
//! other way round. Each step appends an audit record naming the person.
//!
//! Delivery to the platforms is an outbox: `delivered_state` is the last
//! state a connector showed (the admin channel message, the requester's
//! notice). A row whose state differs is waiting; a connector leases it
//! ([`Store::requests_undelivered`]), shows it, and records what it showed
//! ([`Store::request_delivered`]). A request made from the CLI, the web
//! console or another replica therefore reaches the admin channel too.

use super::{
    now_ms, AuditEntry, Exception, ExceptionTarget, Kind, Platform, Store, StoreError, WriteTx,
};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use std::fmt;
use std::time::Duration;

/// Audit kind of a new request.
pub const KIND_REQUESTED: &str = "exception_requested";
/// Audit kind of an approval.
pub const KIND_APPROVED: &str = "exception_approved";
/// Audit kind of a denial.
pub const KIND_DENIED: &str = "exception_denied";
/// Audit kind of a request withdrawn by its requester or left to expire.
pub const KIND_CLOSED: &str = "exception_request_closed";

/// How long a request waits for a decision before it expires.
pub const REQUEST_TTL: Duration = Duration::from_secs(14 * 86_400);

/// How long a connector may take to deliver a request before another may try.
const DELIVERY_LEASE: Duration = Duration::from_secs(60);

/// Wakes the delivery loops of this process when a request is created or
/// decided (other processes poll).
static CHANGED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    /// Waiting for an admin.
    Pending,
    /// Approved: the exception was granted.
    Approved,
    /// Denied by an admin.
    Denied,
    /// Withdrawn by the requester.
    Cancelled,
    /// Nobody decided within [`REQUEST_TTL`].
    Expired,
}

impl RequestState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Denied => "denied",
            RequestState::Cancelled => "cancelled",
            RequestState::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Result<RequestState, StoreError> {
        Ok(match s {
            "pending" => RequestState::Pending,
            "approved" => RequestState::Approved,
            "denied" => RequestState::Denied,
            "cancelled" => RequestState::Cancelled,
            "expired" => RequestState::Expired,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "exception request in unknown state `{other}`"
                )))
            }
        })
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as it is submitted (validated by the caller, see
/// `commands::requests`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    /// Platform.
    pub platform: Platform,
    /// Workspace / guild.
    pub workspace: String,
    /// The requester's user id.
    pub requester_id: String,
    /// The requester's readable name.
    pub requester_name: String,
    /// Who the exception would cover (the requester, or a channel).
    pub target: ExceptionTarget,
    /// The tool or link it is for, passcodes already redacted.
    pub subject: String,
    /// Why, in the requester's words.
    pub reason: String,
    /// How long the exception would last once approved.
    pub duration: Duration,
}

/// One stored request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRequest {
    /// Its id.
    pub id: i64,
    /// Platform.
    pub platform: Platform,
    /// Workspace / guild.
    pub workspace: String,
    /// The requester's user id.
    pub requester_id: String,
    /// The requester's readable name.
    pub requester_name: String,
    /// Who the exception would cover.
    pub target: ExceptionTarget,
    /// The tool or link it is for.
    pub subject: String,
    /// Why.
    pub reason: String,
    /// How long the exception lasts once approved.
    pub duration_secs: i64,
    /// Where it is in its life.
    pub state: RequestState,
    /// When it was made (epoch ms).
    pub created_ms: i64,
    /// Who decided (or cancelled) it.
    pub decided_by: Option<String>,
    /// When (epoch ms).
    pub decided_ms: Option<i64>,
    /// The admin's note.
    pub note: Option<String>,
    /// The exception an approval granted.
    pub exception_id: Option<i64>,
    /// The channel of the admin message that shows it (platform id).
    pub admin_channel: Option<String>,
    /// The admin message that shows it (Slack `ts`, Discord message id).
    pub admin_message: Option<String>,
    /// The last state a connector showed on the platform (`""`: none yet).
    pub delivered_state: String,
}

impl ExceptionRequest {
    /// The requester as audit records name people: `name (id)`.
    pub fn requester(&self) -> String {
        person(&self.requester_name, &self.requester_id)
    }

    /// How long the exception lasts once approved.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs.max(0) as u64)
    }

    /// Whether a pending request is past [`REQUEST_TTL`] at `now_ms`.
    pub fn is_stale(&self, now_ms: i64) -> bool {
        self.state == RequestState::Pending
            && now_ms.saturating_sub(self.created_ms) >= REQUEST_TTL.as_millis() as i64
    }
}

fn person(name: &str, id: &str) -> String {
    if name.is_empty() || name == id {
        id.to_owned()
    } else {
        format!("{name} ({id})")
    }
}

/// What [`Store::request_create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Stored (and audited).
    Created(Box<ExceptionRequest>),
    /// The requester already has this many pending requests (the limit).
    TooManyPending(u32),
}

/// What [`Store::request_decide`] (or cancel) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// This call moved the request out of `pending`; on approval, with the
    /// exception it granted.
    Done {
        /// The request as it is now.
        request: ExceptionRequest,
        /// The exception granted by an approval.
        exception: Option<Exception>,
    },
    /// Someone (or expiry) got there first: the request as it is.
    AlreadyDecided(ExceptionRequest),
    /// No request with that id.
    NotFound,
}

const COLUMNS: &str = "id, platform, workspace, requester_id, requester_name, target_kind, \
     target_id, subject, reason, duration_secs, state, created_ms, decided_by, decided_ms, note, \
     exception_id, admin_channel, admin_message, delivered_state";

fn from_row(row: &AnyRow) -> Result<ExceptionRequest, StoreError> {
    let kind: String = row.try_get("target_kind")?;
    let target_id: String = row.try_get("target_id")?;
    let state: String = row.try_get("state")?;
    let id: i64 = row.try_get("id")?;
    let platform: String = row.try_get("platform")?;
    Ok(ExceptionRequest {
        id,
        platform: Platform::parse(&platform)
            .map_err(|e| StoreError::Corrupt(format!("exception request {id}: {e}")))?,
        workspace: row.try_get("workspace")?,
        requester_id: row.try_get("requester_id")?,
        requester_name: row.try_get("requester_name")?,
        target: if kind == "channel" {
            ExceptionTarget::Channel(target_id)
        } else {
            ExceptionTarget::User(target_id)
        },
        subject: row.try_get("subject")?,
        reason: row.try_get("reason")?,
        duration_secs: row.try_get("duration_secs")?,
        state: RequestState::parse(&state)?,
        created_ms: row.try_get("created_ms")?,
        decided_by: row.try_get("decided_by")?,
        decided_ms: row.try_get("decided_ms")?,
        note: row.try_get("note")?,
        exception_id: row.try_get("exception_id")?,
        admin_channel: row.try_get("admin_channel")?,
        admin_message: row.try_get("admin_message")?,
        delivered_state: row.try_get("delivered_state")?,
    })
}

async fn request_by_id<'e, E>(db: E, id: i64) -> Result<Option<ExceptionRequest>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = format!("SELECT {COLUMNS} FROM exception_requests WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Moves request `id` to `new_state` if it is still pending; whether it
/// was.
async fn close_in(
    w: &mut WriteTx<'_>,
    id: i64,
    new_state: RequestState,
    by: &str,
    note: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "UPDATE exception_requests SET state = $1, decided_by = $2, decided_ms = $3, \
         note = $4 WHERE id = $5 AND state = 'pending'",
    )
    .bind(new_state.as_str())
    .bind(by.to_owned())
    .bind(now)
    .bind(note.map(str::to_owned))
    .bind(id)
    .execute(&mut *w.tx)
    .await?
    .rows_affected();
    Ok(changed != 0)
}

/// The audit kind of a request closed as `state`.
fn close_kind(state: RequestState) -> &'static str {
    match state {
        RequestState::Approved => KIND_APPROVED,
        RequestState::Denied => KIND_DENIED,
        _ => KIND_CLOSED,
    }
}

/// The audit detail of closed `request`: what was decided, the exception
/// an approval granted, and the decider's note.
fn close_detail(
    request: &ExceptionRequest,
    exception: Option<&Exception>,
    note: Option<&str>,
) -> String {
    let mut detail = match (exception, request.state) {
        (Some(x), _) => format!(
            "approved request #{} from {} for {} ({} s): granted exception #{}",
            request.id,
            request.requester(),
            request.target,
            request.duration_secs,
            x.id
        ),
        (None, RequestState::Denied) => format!(
            "denied request #{} from {} for {}",
            request.id,
            request.requester(),
            request.target
        ),
        (None, state) => format!("request #{} {}", request.id, state),
    };
    if let Some(n) = note.filter(|n| !n.is_empty()) {
        detail.push_str(&format!("; note: {n}"));
    }
    detail
}

fn entry(kind: &str, r: &ExceptionRequest, author: &str, at_ms: i64) -> AuditEntry {
    let mut e = AuditEntry::new(Kind::Other(kind.to_owned()), r.platform);
    e.at_ms = at_ms;
    e.workspace = Some(r.workspace.clone()).filter(|w| !w.is_empty());
    e.author = Some(author.to_owned());
    if let ExceptionTarget::Channel(c) = &r.target {
        e.channel = Some(c.clone());
    }
    e
}

impl Store {
    /// Stores a new pending request and audits it (`exception_requested`),
    /// unless the requester already has `max_pending` pending requests in
    /// that workspace (counted in the same transaction, so two quick
    /// submissions cannot both slip under the limit).
    pub async fn request_create(
        &self,
        new: &NewRequest,
        max_pending: u32,
    ) -> Result<Created, StoreError> {
        self.with_retry(|| async move {
            let mut w = self.begin_write().await?;
            let now = now_ms();
            let cutoff = now.saturating_sub(REQUEST_TTL.as_millis() as i64);
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM exception_requests WHERE platform = $1 \
                 AND workspace = $2 AND requester_id = $3 AND state = 'pending' \
                 AND created_ms > $4",
            )
            .bind(new.platform.as_str())
            .bind(new.workspace.clone())
            .bind(new.requester_id.clone())
            .bind(cutoff)
            .fetch_one(&mut *w.tx)
            .await?;
            let pending: i64 = row.try_get("n")?;
            if pending >= i64::from(max_pending) {
                w.tx.rollback().await?;
                return Ok(Created::TooManyPending(max_pending));
            }
            let duration_secs = new.duration.as_secs().min(i64::MAX as u64) as i64;
            let row = sqlx::query(
                "INSERT INTO exception_requests (platform, workspace, requester_id, \
                 requester_name, target_kind, target_id, subject, reason, duration_secs, \
                 state, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10) \
                 RETURNING id",
            )
            .bind(new.platform.as_str())
            .bind(new.workspace.clone())
            .bind(new.requester_id.clone())
            .bind(new.requester_name.clone())
            .bind(new.target.kind())
            .bind(new.target.id().to_owned())
            .bind(new.subject.clone())
            .bind(new.reason.clone())
            .bind(duration_secs)
            .bind(now)
            .fetch_one(&mut *w.tx)
            .await?;
            let request = ExceptionRequest {
                id: row.try_get("id")?,
                platform: new.platform,
                workspace: new.workspace.clone(),
                requester_id: new.requester_id.clone(),
                requester_name: new.requester_name.clone(),
                target: new.target.clone(),
                subject: new.subject.clone(),
                reason: new.reason.clone(),
                duration_secs,
                state: RequestState::Pending,
                created_ms: now,
                decided_by: None,
                decided_ms: None,
                note: None,
                exception_id: None,
                admin_channel: None,
                admin_message: None,
                delivered_state: String::new(),
            };
            let mut e = entry(KIND_REQUESTED, &request, &request.requester(), now);
            e.detail = Some(format!(
                "request #{} for {} for {} s, about {}: {}",
                request.id, request.target, duration_secs, request.subject, request.reason
            ));
            self.append_in(&mut w, e).await?;
            self.commit(w).await?;
            CHANGED.notify_waiters();
            Ok(Created::Created(Box::new(request)))
        })
        .await
    }

    /// Request `id`, if it exists.
    pub async fn request_get(&self, id: i64) -> Result<Option<ExceptionRequest>, StoreError> {
        request_by_id(&self.inner.pool, id).await
    }

    /// Requests waiting for a decision in a workspace, oldest first (expired
    /// ones left out).
    pub async fn requests_pending(
        &self,
        platform: Platform,
        workspace: &str,
    ) -> Result<Vec<ExceptionRequest>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM exception_requests WHERE platform = $1 AND workspace = $2 \
             AND state = 'pending' AND created_ms > $3 ORDER BY id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(platform.as_str())
            .bind(workspace.to_owned())
            .bind(now_ms().saturating_sub(REQUEST_TTL.as_millis() as i64))
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// A requester's most recent requests in a workspace, newest first.
    pub async fn requests_by(
        &self,
        platform: Platform,
        workspace: &str,
        requester_id: &str,
        limit: i64,
    ) -> Result<Vec<ExceptionRequest>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM exception_requests WHERE platform = $1 AND workspace = $2 \
             AND requester_id = $3 ORDER BY id DESC LIMIT $4"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(platform.as_str())
            .bind(workspace.to_owned())
            .bind(requester_id.to_owned())
            .bind(limit)
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Remembers which platform message shows request `id` to the admins,
    /// so that a decision can update it.
    pub async fn request_set_admin_message(
        &self,
        id: i64,
        channel: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        self.request_update(|| {
            sqlx::query(
                "UPDATE exception_requests SET admin_channel = $1, admin_message = $2 \
                 WHERE id = $3",
            )
            .bind(channel.to_owned())
            .bind(message.to_owned())
            .bind(id)
        })
        .await
    }

    /// Approves or denies request `id` on behalf of `by` (an admin: the
    /// caller checked), with an optional `note`. One transaction: the state
    /// moves from `pending` only if it still is pending (and not expired);
    /// an approval grants the exception for the requested duration from now;
    /// `exception_approved` / `exception_denied` is audited.
    pub async fn request_decide(
        &self,
        id: i64,
        approve: bool,
        by: &str,
        note: Option<&str>,
    ) -> Result<Decided, StoreError> {
        let new_state = if approve {
            RequestState::Approved
        } else {
            RequestState::Denied
        };
        self.request_close(id, new_state, by, note).await
    }

    /// Withdraws pending request `id` on behalf of its requester `by`.
    pub async fn request_cancel(&self, id: i64, by: &str) -> Result<Decided, StoreError> {
        self.request_close(id, RequestState::Cancelled, by, None)
            .await
    }

    /// Moves request `id` from `pending` to `new_state` on behalf of `by`,
    /// in one transaction: a request past its time expires instead, one no
    /// longer pending is left as it is, an approval grants its exception,
    /// and the change is audited.
    async fn request_close(
        &self,
        id: i64,
        new_state: RequestState,
        by: &str,
        note: Option<&str>,
    ) -> Result<Decided, StoreError> {
        self.with_retry(|| async move {
            let mut w = self.begin_write().await?;
            let now = now_ms();
            let Some(mut request) = request_by_id(&mut *w.tx, id).await? else {
                w.tx.rollback().await?;
                return Ok(Decided::NotFound);
            };
            if request.is_stale(now) {
                self.expire_in(&mut w, &mut request, now).await?;
                self.commit(w).await?;
                CHANGED.notify_waiters();
                return Ok(Decided::AlreadyDecided(request));
            }
            if !close_in(&mut w, id, new_state, by, note, now).await? {
                w.tx.rollback().await?;
                return Ok(Decided::AlreadyDecided(request));
            }
            request.state = new_state;
            request.decided_by = Some(by.to_owned());
            request.decided_ms = Some(now);
            request.note = note.map(str::to_owned);
            let exception = match new_state {
                RequestState::Approved => Some(self.grant_in(&mut w, &mut request, by).await?),
                _ => None,
            };
            let mut e = entry(close_kind(new_state), &request, by, now);
            e.detail = Some(close_detail(&request, exception.as_ref(), note));
            self.append_in(&mut w, e).await?;
            self.commit(w).await?;
            CHANGED.notify_waiters();
            Ok(Decided::Done { request, exception })
        })
        .await
    }

    /// Grants the exception approved `request` asks for, on behalf of `by`,
    /// and links the request to it.
    async fn grant_in(
        &self,
        w: &mut WriteTx<'_>,
        request: &mut ExceptionRequest,
        by: &str,
    ) -> Result<Exception, StoreError> {
        let reason = format!(
            "request #{} by {} about {}: {}",
            request.id,
            request.requester(),
            request.subject,
            request.reason
        );
        let granted = self
            .exception_grant_in(
                w,
                Some(request.platform),
                &request.workspace,
                &request.target,
                request.duration(),
                &reason,
                by,
            )
            .await?;
        sqlx::query("UPDATE exception_requests SET exception_id = $1 WHERE id = $2")
            .bind(granted.id)
            .bind(request.id)
            .execute(&mut *w.tx)
            .await?;
        request.exception_id = Some(granted.id);
        Ok(granted)
    }

    async fn expire_in(
        &self,
        w: &mut WriteTx<'_>,
        request: &mut ExceptionRequest,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE exception_requests SET state = 'expired', decided_ms = $1 \
             WHERE id = $2 AND state = 'pending'",
        )
        .bind(now)
        .bind(request.id)
        .execute(&mut *w.tx)
        .await?;
        request.state = RequestState::Expired;
        request.decided_ms = Some(now);
        let mut e = entry(KIND_CLOSED, request, "linkguard", now);
        e.detail = Some(format!(
            "request #{} expired undecided after {} days",
            request.id,
            REQUEST_TTL.as_secs() / 86_400
        ));
        self.append_in(w, e).await?;
        Ok(())
    }

    /// Marks every pending request of `platform` older than [`REQUEST_TTL`]
    /// expired (audited), so that the delivery loop updates their admin
    /// messages; returns how many.
    pub async fn requests_expire(&self, platform: Platform) -> Result<u64, StoreError> {
        self.with_retry(|| async move {
            let mut w = self.begin_write().await?;
            let now = now_ms();
            let sql = format!(
                "SELECT {COLUMNS} FROM exception_requests WHERE platform = $1 \
                 AND state = 'pending' AND created_ms <= $2 ORDER BY id LIMIT 100"
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(platform.as_str())
                .bind(now.saturating_sub(REQUEST_TTL.as_millis() as i64))
                .fetch_all(&mut *w.tx)
                .await?;
            if rows.is_empty() {
                w.tx.rollback().await?;
                return Ok(0);
            }
            for row in &rows {
                let mut r = from_row(row)?;
                self.expire_in(&mut w, &mut r, now).await?;
            }
            self.commit(w).await?;
            CHANGED.notify_waiters();
            Ok(rows.len() as u64)
        })
        .await
    }

    /// Leases up to `limit` requests of `platform` whose state was not yet
    /// shown on the platform, for one delivery attempt each: another
    /// process (or this one) will not get them again before the lease ends
    /// or [`Store::request_delivered`] records the delivery.
    pub async fn requests_undelivered(
        &self,
        platform: Platform,
        limit: i64,
    ) -> Result<Vec<ExceptionRequest>, StoreError> {
        self.with_retry(|| async move {
            let now = now_ms();
            let sql = format!(
                "SELECT {COLUMNS} FROM exception_requests WHERE platform = $1 \
                 AND delivered_state <> state \
                 AND (delivery_lease_ms IS NULL OR delivery_lease_ms <= $2) ORDER BY id LIMIT $3"
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(platform.as_str())
                .bind(now)
                .bind(limit)
                .fetch_all(&self.inner.pool)
                .await?;
            let mut leased = Vec::new();
            for row in &rows {
                let r = from_row(row)?;
                let got = sqlx::query(
                    "UPDATE exception_requests SET delivery_lease_ms = $1 WHERE id = $2 \
                     AND delivered_state <> state \
                     AND (delivery_lease_ms IS NULL OR delivery_lease_ms <= $3)",
                )
                .bind(now.saturating_add(DELIVERY_LEASE.as_millis() as i64))
                .bind(r.id)
                .bind(now)
                .execute(&self.inner.pool)
                .await?
                .rows_affected();
                if got == 1 {
                    leased.push(r);
                }
            }
            Ok(leased)
        })
        .await
    }

    /// Records that `state` of request `id` is now shown on the platform
    /// and releases its lease. If the request moved on meanwhile, it stays
    /// waiting for the next delivery.
    pub async fn request_delivered(&self, id: i64, state: RequestState) -> Result<(), StoreError> {
        self.request_update(|| {
            sqlx::query(
                "UPDATE exception_requests SET delivered_state = $1, delivery_lease_ms = NULL \
                 WHERE id = $2",
            )
            .bind(state.as_str())
            .bind(id)
        })
        .await
    }

    /// Releases the lease of request `id` after a failed delivery attempt,
    /// to be tried again after `retry_in`.
    pub async fn request_delivery_failed(
        &self,
        id: i64,
        retry_in: Duration,
    ) -> Result<(), StoreError> {
        self.request_update(|| {
            sqlx::query("UPDATE exception_requests SET delivery_lease_ms = $1 WHERE id = $2")
                .bind(now_ms().saturating_add(retry_in.as_millis() as i64))
                .bind(id)
        })
        .await
    }

    /// Runs one single-row update built by `query`, retrying while the
    /// database is away.
    async fn request_update<'q, F>(&self, query: F) -> Result<(), StoreError>
    where
        F: Fn() -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    {
        self.with_retry(|| async {
            query().execute(&self.inner.pool).await?;
            Ok(())
        })
        .await
    }

    /// Resolves when a request is created or decided in this process after
    /// this call (or on a spurious wake-up): for delivery loops, which also
    /// poll for changes made elsewhere. Take it *before* reading the outbox,
    /// so that a change made meanwhile is not missed.
    pub fn requests_changed(&self) -> tokio::sync::futures::Notified<'static> {
        CHANGED.notified()
    }
}
