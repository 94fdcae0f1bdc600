//! The retry loop and recovery: pending actions (put off, or left by a
//! crashed or stopped run) are leased, checked against their MAC, and
//! carried on from their recorded progress.

use super::seal::Progress;
use super::{
    banned, Handled, IncomingMessage, Moderator, Platform, PlatformActions, Running, Work,
};
use crate::store::{AuditAction, AuditEntry, Kind, Outcome, PendingAction, StoreError};
use linkguard_rules::policy::Action;
use std::sync::Arc;
use std::time::Instant;

impl Moderator {
    /// Runs, until aborted, the retry loop of `platform`'s pending actions:
    /// every `poll` it renews the leases of the actions this process is
    /// running, claims the due ones nobody holds (put off after a rate limit
    /// or a server error, or left by a run that crashed or timed out at
    /// shutdown) and carries each out in the background. Spawn it beside a
    /// connector: it never delays readiness or the platform connection.
    pub async fn run_pending(
        self: Arc<Self>,
        platform: Platform,
        actions: Arc<dyn PlatformActions>,
    ) {
        let mut renewed = Instant::now();
        let mut failing = false;
        loop {
            if renewed.elapsed() >= self.retry.lease / 3 {
                renewed = Instant::now();
                let seqs: Vec<i64> = self
                    .running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .copied()
                    .collect();
                if !seqs.is_empty() {
                    if let Err(e) = self
                        .store
                        .renew_leases(&self.owner, &seqs, self.lease_until())
                        .await
                    {
                        tracing::warn!(error = %e, "cannot renew the leases of running actions");
                    }
                }
            }
            match self.claim(platform).await {
                Ok(claimed) => {
                    failing = false;
                    for (p, running) in claimed {
                        let me = self.clone();
                        let actions = actions.clone();
                        self.in_flight.spawn(async move {
                            let seq = p.detection.seq;
                            if let Err(e) = me.resume(p, platform, actions.as_ref()).await {
                                tracing::error!(platform = platform.as_str(), detection.seq = seq, error = %e, "recording a retried action's outcome failed; it stays pending");
                            }
                            drop(running);
                        });
                    }
                }
                Err(e) => {
                    // Logged once per outage, not every poll.
                    if !failing {
                        tracing::warn!(platform = platform.as_str(), error = %e, "cannot look for pending actions; will keep trying");
                    }
                    failing = true;
                }
            }
            tokio::time::sleep(self.retry.poll).await;
        }
    }

    /// At shutdown, after [`Moderator::drain`]: gives up this process's
    /// leases on pending actions it is not running any more (recorded but
    /// never carried out, or whose outcome could not be written), so the
    /// next start or another replica takes them without waiting for the
    /// lease to run out. Actions still running keep theirs.
    pub async fn release_idle_leases(&self) -> Result<usize, StoreError> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut released = 0;
        for p in self.store.pending().await? {
            if p.lease_owner.as_deref() == Some(self.owner.as_str())
                && !running.contains(&p.detection.seq)
                && self
                    .store
                    .release_lease(p.detection.seq, &self.owner)
                    .await?
            {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Claims the due pending actions of `platform` for this process.
    async fn claim(&self, platform: Platform) -> Result<Vec<(PendingAction, Running)>, StoreError> {
        const BATCH: i64 = 16;
        let busy = self.running.lock().unwrap_or_else(|p| p.into_inner()).len() as i64;
        if busy >= 4 * BATCH {
            return Ok(Vec::new());
        }
        let claimed = self
            .store
            .claim_pending(platform, &self.owner, self.lease_until(), BATCH)
            .await?;
        Ok(claimed
            .into_iter()
            .filter_map(|p| {
                let running = self.hold(p.detection.seq)?;
                Some((p, running))
            })
            .collect())
    }

    /// Finishes, now, the due pending actions on `platform` that no other
    /// process holds (one pass of [`Moderator::run_pending`], waiting for
    /// each). Returns how many were resolved; put-off ones stay pending.
    pub async fn recover(
        &self,
        platform: Platform,
        actions: &dyn PlatformActions,
    ) -> Result<usize, StoreError> {
        let mut resolved = 0;
        loop {
            let claimed = self.claim(platform).await?;
            if claimed.is_empty() {
                return Ok(resolved);
            }
            for (p, _running) in claimed {
                if !matches!(
                    self.resume(p, platform, actions).await?,
                    Handled::Pending { .. }
                ) {
                    resolved += 1;
                }
            }
        }
    }

    /// Why a stored pending action cannot be trusted, if it cannot: its
    /// payload and progress must carry this process's `audit_key` MAC and
    /// name the message its detection names.
    fn check_payload(
        &self,
        p: &PendingAction,
        platform: Platform,
    ) -> Result<Option<(IncomingMessage, Progress)>, String> {
        let Some(payload) = p.payload.as_deref() else {
            return Ok(None);
        };
        if !self
            .sealer
            .verify("payload", &p.event_key, payload, p.payload_mac.as_deref())
        {
            return Err("the stored message does not verify with audit_key (altered, or written with another key)".into());
        }
        let msg: IncomingMessage = serde_json::from_str(payload)
            .map_err(|e| format!("the stored message does not parse: {e}"))?;
        let d = &p.detection.entry;
        if msg.platform != platform
            || msg.event_key().as_str() != p.event_key
            || d.platform != platform
            || d.channel.as_deref() != Some(msg.channel.as_str())
            || d.message_id.as_deref() != Some(msg.message_id.as_str())
        {
            return Err("the stored message is not the one its detection names".into());
        }
        let progress = match p.progress.as_deref() {
            None => Progress::default(),
            Some(text) => {
                let id = format!("{}/{}", p.detection.seq, p.event_key);
                if !self
                    .sealer
                    .verify("progress", &id, text, p.progress_mac.as_deref())
                {
                    return Err("the stored progress does not verify with audit_key".into());
                }
                serde_json::from_str(text)
                    .map_err(|e| format!("the stored progress does not parse: {e}"))?
            }
        };
        Ok(Some((msg, progress)))
    }

    /// Carries out a claimed pending action from where it got, or resolves
    /// it without acting when it cannot be trusted, its message is unknown,
    /// or the policy no longer asks for an action.
    async fn resume(
        &self,
        p: PendingAction,
        platform: Platform,
        actions: &dyn PlatformActions,
    ) -> Result<Handled, StoreError> {
        let (outcome, detail) = match self.check_payload(&p, platform) {
            Ok(Some((msg, progress))) => {
                let (active, verdict) = self.evaluate(&msg, false);
                let banned = banned(&verdict);
                match verdict.action().filter(|_| !banned.is_empty()) {
                    Some(action) => {
                        let anchor = Some(p.detection.seq);
                        let work = Work::new(action, anchor, &active, &verdict, &msg, &banned);
                        let progress = self
                            .found_repost(&msg, &work, actions, progress, p.attempts)
                            .await;
                        return self
                            .act_from(&msg, work, actions, progress, p.attempts)
                            .await;
                    }
                    // The policy changed meanwhile and no longer bans it.
                    _ => (
                        Outcome::Ok,
                        "finished after restart: the policy in force no longer asks for an action"
                            .to_owned(),
                    ),
                }
            }
            Ok(None) => (
                Outcome::Failed,
                "interrupted before the action completed, and the message is not known".to_owned(),
            ),
            Err(why) => {
                tracing::warn!(platform = platform.as_str(), detection.seq = p.detection.seq, reason = %why, "refusing a pending action that does not verify");
                (Outcome::Failed, format!("refused, not executed: {why}"))
            }
        };
        let mut e = AuditEntry::new(Kind::Action, platform);
        e.channel = p.detection.entry.channel.clone();
        e.message_id = p.detection.entry.message_id.clone();
        e.revision = p.detection.entry.revision.clone();
        e.rule_id = p.detection.entry.rule_id.clone();
        e.action = Some(AuditAction::Log);
        e.outcome = Some(outcome.clone());
        e.detail = Some(detail.clone());
        match self.store.record_outcome(p.detection.seq, e).await {
            Ok(_) | Err(StoreError::NotPending(_)) => {}
            Err(err) => return Err(err),
        }
        Ok(Handled::Acted {
            action: Action::Log,
            outcome,
            detail: Some(detail),
        })
    }
}
