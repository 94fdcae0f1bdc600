//! Carrying out one action with degradation: `replace` → `reply` → `warn`
//! → `log` on refusal, each step recorded before the next, and the outcome
//! recorded (or the action put off) at the end.

use super::retry::ATTEMPT_DEADLINE;
use super::seal::Progress;
use super::{ActionError, Handled, IncomingMessage, Interrupted, Moderator, PlatformActions, Work};
use crate::notice::{attribution, notice_text, reply_text};
use crate::store::{now_ms, Kind, Outcome, StoreError};
use linkguard_rules::eval::Block;
use linkguard_rules::policy::Action;
use std::time::{Duration, Instant};

/// What one attempt came to.
enum Carried {
    /// Finished: the action finally attempted, its outcome, and why it
    /// degraded or failed.
    Done(Action, Outcome, Option<String>),
    /// Not yet: put off.
    Later(String, Option<Duration>),
}

impl Moderator {
    /// Carries out recorded work on the platform and records the outcome,
    /// or, when the platform says "not yet", leaves it pending with its
    /// back-off.
    pub async fn act(
        &self,
        msg: &IncomingMessage,
        work: Work,
        actions: &dyn PlatformActions,
    ) -> Result<Handled, StoreError> {
        self.act_from(msg, work, actions, Progress::default(), 0)
            .await
    }

    pub(super) async fn act_from(
        &self,
        msg: &IncomingMessage,
        work: Work,
        actions: &dyn PlatformActions,
        mut progress: Progress,
        attempts: i64,
    ) -> Result<Handled, StoreError> {
        let _running = work.anchor.and_then(|seq| self.hold(seq));
        let blocks: Vec<&Block> = work.blocks.iter().collect();
        let deadline = Instant::now() + self.retry.attempt_budget;
        let carried = ATTEMPT_DEADLINE
            .scope(
                deadline,
                self.carry_out(msg, actions, &work, &blocks, &mut progress),
            )
            .await;
        let (done, outcome, detail) = match carried {
            Carried::Done(done, outcome, detail) => (done, outcome, detail),
            Carried::Later(why, retry_after) => match work.anchor {
                Some(seq) => {
                    let attempts = attempts + 1;
                    let wait = self.retry.backoff(attempts, retry_after);
                    let next = now_ms().saturating_add(wait.as_millis() as i64);
                    if !self
                        .store
                        .defer_pending(seq, &self.owner, next, &why)
                        .await?
                    {
                        tracing::warn!(
                            platform = msg.platform.as_str(),
                            detection.seq = seq,
                            "lost the lease of a put-off action; its new holder carries it on"
                        );
                    }
                    tracing::info!(
                        platform = msg.platform.as_str(),
                        channel.id = %msg.channel,
                        detection.seq = seq,
                        attempts,
                        wait_ms = wait.as_millis() as u64,
                        reason = %why,
                        "action put off: it stays pending and is retried"
                    );
                    return Ok(Handled::Pending { detail: why });
                }
                // Nothing pending to come back to: record what happened.
                None => (work.action, Outcome::Failed, Some(why)),
            },
        };
        let mut e = self.entry(msg, Kind::Action, work.version);
        e.rule_id = blocks.first().map(|b| b.rule.clone());
        e.provider = Some(work.provider);
        e.link = Some(work.link);
        e.alternative = blocks.first().and_then(|b| b.alternative.clone());
        e.action = Some(done.into());
        e.outcome = Some(outcome.clone());
        e.detail = detail.clone();
        crate::metrics::global().action(done.as_str(), outcome.as_str(), msg.received.elapsed());
        let started = Instant::now();
        let written = match work.anchor {
            Some(seq) => match self.store.record_outcome(seq, e).await {
                // Another replica (or start-up recovery) resolved it first.
                Ok(_) | Err(StoreError::NotPending(_)) => Ok(()),
                Err(err) => Err(err),
            },
            None => self.store.append(e).await.map(|_| ()),
        };
        crate::metrics::global().audit_append(started.elapsed());
        if written.is_err() {
            crate::metrics::global().audit_append_failed();
        }
        written?;
        Ok(Handled::Acted {
            action: done,
            outcome,
            detail,
        })
    }

    /// A `replace` interrupted (by a crash) after the platform accepted the
    /// repost but before its id was recorded would post the message twice
    /// if simply done again. Where the connector can find such a repost
    /// (and whether the original is still there), `progress` is completed
    /// from what it found, so only what is left is done.
    ///
    /// Only an action that was never put off (`attempts == 0`) is looked
    /// at: one put off by a rate limit or server error stopped at a call the
    /// platform refused, with everything it did recorded, and searching the
    /// channel on every retry of a storm would only add to the storm.
    pub(super) async fn found_repost(
        &self,
        msg: &IncomingMessage,
        work: &Work,
        actions: &dyn PlatformActions,
        mut progress: Progress,
        attempts: i64,
    ) -> Progress {
        let replacing = progress.action.as_deref().is_none_or(|a| a == "replace");
        if attempts > 0
            || work.action != Action::Replace
            || !replacing
            || progress.repost.is_some()
            || progress.deleted
            || progress.copy
            || msg.has_attachments
        {
            return progress;
        }
        let blocks: Vec<&Block> = work.blocks.iter().collect();
        let text = format!("{}\n{}", work.rewritten, attribution(&blocks));
        match actions.interrupted_replace(msg, &text).await {
            Ok(Interrupted::Reposted {
                repost,
                original_exists,
            }) => {
                progress.action = Some(Action::Replace.as_str().to_owned());
                progress.repost = Some(repost);
                progress.deleted = !original_exists;
                self.note(work.anchor, msg, &progress).await;
            }
            Ok(Interrupted::Unknown) => {}
            Err(e) => {
                tracing::warn!(platform = msg.platform.as_str(), channel.id = %msg.channel, error = %e, "cannot tell whether an interrupted repost was made; doing it again");
            }
        }
        progress
    }

    /// Records `progress` for pending action `anchor` (authenticated, and only
    /// while this process holds it). Returns false if it could not.
    pub(super) async fn note(
        &self,
        anchor: Option<i64>,
        msg: &IncomingMessage,
        progress: &Progress,
    ) -> bool {
        let Some(seq) = anchor else {
            return true;
        };
        let Ok(text) = serde_json::to_string(progress) else {
            return false;
        };
        let id = format!("{seq}/{}", msg.event_key().as_str());
        let mac = self.sealer.seal("progress", &id, &text);
        match self
            .store
            .record_progress(seq, &self.owner, &text, &mac)
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(
                    detection.seq = seq,
                    "this process no longer holds the action"
                );
                false
            }
            Err(e) => {
                tracing::warn!(detection.seq = seq, error = %e, "cannot record an action's progress");
                false
            }
        }
    }

    /// Carries out `work.action` from where `progress` says it got,
    /// degrading on refusal and recording each step before the next.
    ///
    /// Size never makes an action vanish: what linkguard says is grouped by
    /// rule (see [`crate::notice`]) and cut to the platform's limit, and a
    /// message whose repost would not fit (or could not stand in for it, see
    /// [`IncomingMessage::not_repostable`]) is removed and its author sent
    /// the rewritten text privately, split as needed.
    ///
    /// The loop is the degradation chain itself: do, record, degrade; each
    /// step is [`Self::attempt`] and the author's private notice
    /// [`Self::tell_author`] (the table test `bot/tests/moderation_chain.rs`
    /// walks every refusal).
    async fn carry_out(
        &self,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        work: &Work,
        blocks: &[&Block],
        progress: &mut Progress,
    ) -> Carried {
        let policy = &work.policy;
        let limit = actions.text_limit();
        let notice = crate::notice::fit(&notice_text(policy, blocks), limit);
        let mut current = progress
            .action
            .as_deref()
            .and_then(Action::parse)
            .unwrap_or(work.action);
        let mut notice_problem: Option<String> = None;
        loop {
            progress.action = Some(current.as_str().to_owned());
            let Some(result) = self
                .attempt(&mut current, msg, actions, work, blocks, progress)
                .await
            else {
                continue;
            };
            // Reply and delete also tell the author privately (with how to
            // ask for an exception); warn is only that.
            let result = match result {
                Ok(())
                    if matches!(current, Action::Reply | Action::Delete | Action::Warn)
                        && !progress.notified =>
                {
                    self.tell_author(current, msg, actions, work, &notice, progress)
                        .await
                        .map(|problem| notice_problem = problem)
                }
                other => other,
            };
            match result {
                Ok(()) => {
                    let mut reasons = progress.reasons.clone();
                    reasons.extend(notice_problem);
                    let outcome = if current == work.action && reasons.is_empty() {
                        Outcome::Ok
                    } else {
                        Outcome::Degraded
                    };
                    let detail = (!reasons.is_empty()).then(|| reasons.join("; "));
                    return Carried::Done(current, outcome, detail);
                }
                Err(ActionError::Refused(why)) => {
                    progress
                        .reasons
                        .push(format!("{} refused: {why}", current.as_str()));
                    // A removal standing in for a repost degrades like the
                    // repost would have: to a public reply.
                    let next = if progress.copy && current == Action::Delete {
                        progress.copy = false;
                        Some(Action::Reply)
                    } else {
                        current.fallback()
                    };
                    match next {
                        Some(next) => {
                            current = next;
                            // Remember the degradation, so a retry does not
                            // try (and churn) the refused action again.
                            progress.action = Some(next.as_str().to_owned());
                            self.note(work.anchor, msg, progress).await;
                        }
                        None => {
                            return Carried::Done(
                                Action::Log,
                                Outcome::Degraded,
                                Some(progress.reasons.join("; ")),
                            )
                        }
                    }
                }
                Err(ActionError::Failed(why) | ActionError::Gone(why)) => {
                    let mut reasons = progress.reasons.clone();
                    reasons.push(format!("{} failed: {why}", current.as_str()));
                    return Carried::Done(current, Outcome::Failed, Some(reasons.join("; ")));
                }
                Err(ActionError::Later { why, retry_after }) => {
                    return Carried::Later(format!("{}: {why}", current.as_str()), retry_after);
                }
            }
        }
    }

    /// One step of the chain: `current` on the platform, skipping what
    /// `progress` says is already done, recording what succeeds. `None` when
    /// a repost cannot be made and `current` became a removal that sends the
    /// author a copy (the caller tries that next).
    async fn attempt(
        &self,
        current: &mut Action,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        work: &Work,
        blocks: &[&Block],
        progress: &mut Progress,
    ) -> Option<Result<(), ActionError>> {
        let limit = actions.text_limit();
        let result = match *current {
            Action::Replace => {
                let repost = format!("{}\n{}", work.rewritten, attribution(blocks));
                match why_not_repost(msg, &repost, limit) {
                    // (A repost already made by an earlier attempt is finished.)
                    Some(why) if progress.repost.is_none() => {
                        progress.reasons.push(format!(
                            "replace cannot repost: {why}; the message is removed and the author sent the rewritten text"
                        ));
                        progress.copy = true;
                        *current = Action::Delete;
                        progress.action = Some(current.as_str().to_owned());
                        self.note(work.anchor, msg, progress).await;
                        return None;
                    }
                    _ => {
                        self.replace(msg, actions, &repost, work.anchor, progress)
                            .await
                    }
                }
            }
            Action::Reply => {
                let mut r = Ok(());
                if !progress.replied {
                    let text = crate::notice::fit(&reply_text(blocks), limit);
                    r = actions.reply(msg, &text).await;
                    if r.is_ok() {
                        progress.replied = true;
                        self.note(work.anchor, msg, progress).await;
                    }
                }
                r
            }
            Action::Delete if progress.copy => {
                self.remove_with_copy(msg, actions, work, blocks, progress)
                    .await
            }
            Action::Delete => {
                let mut r = Ok(());
                if !progress.deleted {
                    r = actions.delete(msg).await;
                    if r.is_ok() {
                        progress.deleted = true;
                        self.note(work.anchor, msg, progress).await;
                    }
                }
                r
            }
            Action::Warn => Ok(()),
            Action::Log => Ok(()),
        };
        Some(result)
    }

    /// Sends the author the private notice after `current` succeeded.
    /// `Ok(Some(problem))` when it could not be sent but the action stands
    /// (only a warning, which is nothing but the notice, fails with it).
    async fn tell_author(
        &self,
        current: Action,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        work: &Work,
        notice: &str,
        progress: &mut Progress,
    ) -> Result<Option<String>, ActionError> {
        match actions.notify_author(msg, notice).await {
            Ok(()) => {
                progress.notified = true;
                self.note(work.anchor, msg, progress).await;
                Ok(None)
            }
            Err(e @ ActionError::Later { .. }) => Err(e),
            Err(e) if current == Action::Warn => Err(e),
            Err(e) => Ok(Some(format!("private notice not sent: {e}"))),
        }
    }

    /// Stands in for a repost that cannot be made: sends the author the
    /// rewritten text first, then removes the message and says why. When the
    /// text is the author's own (it was only too long) and they cannot be
    /// sent it (DMs closed), the message is kept: removing it would lose
    /// their words. A forward, a share or an integration's embed is removed
    /// regardless: its text lives on where it came from. Each step is
    /// recorded in `progress`, so a retry neither sends the copy twice nor
    /// deletes twice.
    async fn remove_with_copy(
        &self,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        work: &Work,
        blocks: &[&Block],
        progress: &mut Progress,
    ) -> Result<(), ActionError> {
        if !progress.deleted {
            // Don't send the author a copy of a message that will stay up.
            if let Some(why) = actions.delete_refusal(msg) {
                return Err(ActionError::Refused(why));
            }
            if !progress.copied {
                match actions.send_copy(msg, &work.rewritten).await {
                    Ok(()) => {
                        progress.copied = true;
                        self.note(work.anchor, msg, progress).await;
                    }
                    Err(e @ ActionError::Later { .. }) => return Err(e),
                    Err(e) => {
                        progress
                            .reasons
                            .push(format!("rewritten text not sent: {e}"));
                        if msg.not_repostable.is_none() {
                            return Err(ActionError::Refused(
                                "the author could not be sent the rewritten text, and removing the message would lose it".into(),
                            ));
                        }
                    }
                }
            }
            actions.delete(msg).await?;
            progress.deleted = true;
            self.note(work.anchor, msg, progress).await;
        }
        if !progress.notified {
            let mut notice = notice_text(&work.policy, blocks);
            notice.push_str(if progress.copied { COPY_SENT } else { REMOVED });
            match actions
                .notify_author(msg, &crate::notice::fit(&notice, actions.text_limit()))
                .await
            {
                Ok(()) => {}
                Err(e @ ActionError::Later { .. }) => return Err(e),
                Err(e) => progress
                    .reasons
                    .push(format!("private notice not sent: {e}")),
            }
            progress.notified = true;
            self.note(work.anchor, msg, progress).await;
        }
        Ok(())
    }

    /// Reposts `text` in place of `msg`, then deletes the original, resuming
    /// from `progress` (a repost recorded by an earlier attempt is not made
    /// again).
    async fn replace(
        &self,
        msg: &IncomingMessage,
        actions: &dyn PlatformActions,
        text: &str,
        anchor: Option<i64>,
        progress: &mut Progress,
    ) -> Result<(), ActionError> {
        if msg.has_attachments {
            return Err(ActionError::Refused(
                "the message has attachments, which a repost would lose".into(),
            ));
        }
        let resumed = progress.repost.is_some();
        let repost = match progress.repost.clone() {
            Some(id) => id,
            None => {
                let id = actions.repost(msg, text).await?;
                // The repost's id is durable before the original goes, so a
                // crash from here on never leads to a second repost.
                progress.repost = Some(id.clone());
                if !self.note(anchor, msg, progress).await {
                    progress.repost = None;
                    let cleanup = match actions.delete_repost(msg, &id).await {
                        Ok(()) => "repost removed".to_owned(),
                        Err(c) => format!("repost {id} could not be removed: {c}"),
                    };
                    return Err(ActionError::later(format!(
                        "could not record the repost before deleting the original ({cleanup})"
                    )));
                }
                id
            }
        };
        if progress.deleted {
            return Ok(());
        }
        // Only once the repost exists (and is recorded) is the original removed.
        let deleted = match actions.delete(msg).await {
            // A repost recorded by an earlier attempt, the original gone: that
            // attempt deleted it and stopped before recording the outcome.
            Err(ActionError::Gone(_)) if resumed => Ok(()),
            other => other,
        };
        match deleted {
            Ok(()) => {
                progress.deleted = true;
                self.note(anchor, msg, progress).await;
                Ok(())
            }
            // Not yet: keep the repost (recorded); the retry deletes the original.
            Err(e @ ActionError::Later { .. }) => Err(e),
            Err(e) => {
                // Don't leave two copies: take the repost back, keep the original.
                let cleanup = match actions.delete_repost(msg, &repost).await {
                    Ok(()) => {
                        progress.repost = None;
                        self.note(anchor, msg, progress).await;
                        "repost removed".to_owned()
                    }
                    Err(c) => format!("repost {repost} could not be removed: {c}"),
                };
                match e {
                    ActionError::Refused(why) => Err(ActionError::Refused(format!(
                        "deleting the original: {why} ({cleanup})"
                    ))),
                    other => Err(ActionError::Failed(format!(
                        "deleting the original: {} ({cleanup})",
                        other
                    ))),
                }
            }
        }
    }
}

/// Appended to the private notice when the rewritten text was sent first.
const COPY_SENT: &str =
    "\nIt could not be reposted for you, so it was removed; your text with the approved links is just above, to post again.";

/// Appended to the private notice when the rewritten text could not be sent.
const REMOVED: &str = "\nIt could not be reposted for you, so it was removed.";

/// Why a repost cannot stand in for `msg`, if it cannot: the message is not
/// its own text (a forward, a share), or the repost `text` is over the
/// platform's `limit`. Files are not a reason here: a message with files is
/// kept and answered instead, since removing it would lose them.
fn why_not_repost(msg: &IncomingMessage, text: &str, limit: usize) -> Option<String> {
    if let Some(why) = &msg.not_repostable {
        return Some(why.clone());
    }
    if msg.has_attachments {
        return None;
    }
    let chars = text.chars().count();
    (chars > limit).then(|| {
        format!("the rewritten message would be {chars} characters, over the platform's {limit}")
    })
}
