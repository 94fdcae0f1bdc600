//! The bounded queue between serenity's event handler and the store.
//!
//! Discord has no per-event acknowledgement: serenity advances the gateway
//! sequence before our handler runs, so an event that is dropped because the
//! database does not answer is never delivered again. Every message event
//! therefore goes into this queue, and workers record each one, retrying
//! (with a capped backoff) until the store answers, however long that takes;
//! meanwhile `linkguard_recording_stalled` is 1 and `/readyz` says not ready.
//!
//! The queue is bounded ([`crate::config::DiscordConfig::queue_capacity`]):
//! when it is full, [`Intake::gate`], called by serenity's shard runner for
//! each message event before it is dispatched, blocks that runner, so it
//! stops reading the gateway and memory stays bounded. Until then nothing
//! is paused: events wait here while the gateway keeps heartbeating.
//!
//! The limit of pausing, with serenity 0.12: its runner also reads the
//! heartbeat acknowledgements, and when it finds its last heartbeat
//! unacknowledged after a pause longer than the heartbeat interval (about
//! 41 s on Discord) it starts a new session instead of resuming, and Discord
//! does not replay the old session's events to a new one. A pause shorter
//! than that loses nothing (what Discord sent meanwhile is read from the
//! socket afterwards, and a dropped connection is resumed and replayed); a
//! longer one can miss the events sent during it. Hence the default
//! capacity is large (ten thousand events, tens of MiB at most): a database
//! outage has to outlast that many events before the gateway is paused at
//! all. (A runner can only be paused on a multi-threaded runtime, as
//! `linkguard run` uses; elsewhere the handler tasks wait instead.)
//!
//! A replayed or redelivered event finds its idempotency key when recorded,
//! so nothing is done twice. What is still queued when the process stops is
//! recorded first if the store answers within the shutdown timeout.

use super::actions::DiscordActions;
use crate::moderation::{IncomingMessage, Moderator, PlatformActions, Step};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Workers recording queued events at once (the store serialises audit
/// appends anyway; a few overlap the round trips).
const WORKERS: usize = 4;

/// First and longest wait between attempts to record an event.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

struct Job {
    msg: IncomingMessage,
    actions: Arc<DiscordActions>,
}

struct Shared {
    moderator: Arc<Moderator>,
    /// Events accepted and not yet recorded (queued or being recorded).
    unrecorded: AtomicUsize,
    /// Workers currently failing to record.
    failing: AtomicUsize,
    /// Cancelled at shutdown: a paused gateway stops waiting for room.
    closing: CancellationToken,
    emptied: tokio::sync::Notify,
}

/// The queue; cheap to share.
pub(crate) struct Intake {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

impl Intake {
    /// Starts the workers; returns the queue and their tasks.
    pub(crate) fn start(
        moderator: Arc<Moderator>,
        capacity: usize,
    ) -> (Arc<Intake>, Vec<JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(Shared {
            moderator,
            unrecorded: AtomicUsize::new(0),
            failing: AtomicUsize::new(0),
            closing: CancellationToken::new(),
            emptied: tokio::sync::Notify::new(),
        });
        crate::metrics::global().set_unrecorded("discord", 0);
        crate::metrics::global().set_recording_stalled("discord", false);
        let rx = Arc::new(Mutex::new(rx));
        let tasks = (0..WORKERS)
            .map(|_| tokio::spawn(work(rx.clone(), shared.clone())))
            .collect();
        (Arc::new(Intake { tx, shared }), tasks)
    }

    /// Queues a translated message for recording, waiting while the queue
    /// is full.
    pub(crate) async fn push(&self, msg: IncomingMessage, actions: Arc<DiscordActions>) {
        let n = self.shared.unrecorded.fetch_add(1, Ordering::SeqCst) + 1;
        crate::metrics::global().set_unrecorded("discord", n);
        if let Err(mpsc::error::SendError(job)) = self.tx.send(Job { msg, actions }).await {
            // Only after the workers are gone, at shutdown.
            tracing::error!(channel.id = %job.msg.channel, message.id = %job.msg.message_id, "shutting down: a Discord event was not recorded");
            self.done();
        }
    }

    fn done(&self) {
        finished(&self.shared);
    }

    /// Back-pressure for serenity's shard runner: returns at once while the
    /// queue has room; when it is full, blocks the calling runner (so it
    /// stops reading the gateway) until there is room or shutdown begins.
    pub(crate) fn gate(&self) {
        if self.tx.capacity() > 0 || self.shared.closing.is_cancelled() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        tracing::warn!(
            unrecorded = self.shared.unrecorded.load(Ordering::SeqCst),
            "Discord events are not being recorded fast enough: pausing the gateway until there is room"
        );
        let tx = self.tx.clone();
        let closing = self.shared.closing.clone();
        tokio::task::block_in_place(|| {
            handle.block_on(async move {
                tokio::select! {
                    // Room for one: dropping the permit gives it back.
                    _ = tx.reserve() => {}
                    () = closing.cancelled() => {}
                }
            });
        });
        tracing::info!("room in the Discord event queue again: reading the gateway");
    }

    /// At shutdown, first: a paused gateway stops waiting for room, so it
    /// can be closed.
    pub(crate) fn close_gate(&self) {
        self.shared.closing.cancel();
    }

    /// At shutdown, once the gateway is closed: waits until every accepted
    /// event is recorded (the caller bounds the wait).
    pub(crate) async fn close(&self) {
        self.shared.closing.cancel();
        let left = self.shared.unrecorded.load(Ordering::SeqCst);
        if left > 0 {
            tracing::warn!(
                events = left,
                "shutting down: recording the Discord events still waiting, within the shutdown timeout"
            );
        }
        loop {
            let emptied = self.shared.emptied.notified();
            if self.shared.unrecorded.load(Ordering::SeqCst) == 0 {
                return;
            }
            emptied.await;
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The workers are gone (shutdown) with events still in memory.
        let left = *self.unrecorded.get_mut();
        if left > 0 {
            tracing::error!(
                events = left,
                "stopping with Discord events not yet recorded (the database did not answer in time); Discord will not deliver them again"
            );
        }
    }
}

fn finished(shared: &Shared) {
    let n = shared.unrecorded.fetch_sub(1, Ordering::SeqCst) - 1;
    crate::metrics::global().set_unrecorded("discord", n);
    if n == 0 {
        shared.emptied.notify_waiters();
    }
}

async fn work(rx: Arc<Mutex<mpsc::Receiver<Job>>>, shared: Arc<Shared>) {
    loop {
        let job = rx.lock().await.recv().await;
        let Some(job) = job else {
            return;
        };
        record(&shared, job).await;
        finished(&shared);
    }
}

/// Records one event, retrying until the store answers, then starts its
/// action.
async fn record(shared: &Shared, job: Job) {
    let Job { msg, actions } = job;
    let mut wait = RETRY_FIRST;
    let mut attempts = 0u32;
    loop {
        match shared.moderator.record(&msg).await {
            Ok(step) => {
                if attempts > 0 && shared.failing.fetch_sub(1, Ordering::SeqCst) == 1 {
                    crate::metrics::global().set_recording_stalled("discord", false);
                    tracing::info!(
                        attempts = attempts + 1,
                        "recording Discord events works again"
                    );
                }
                match step {
                    Step::Done(handled) => {
                        tracing::debug!(channel.id = %msg.channel, message.id = %msg.message_id, revision = %msg.revision, ?handled, "discord message handled");
                    }
                    Step::Act(work) => {
                        let actions: Arc<dyn PlatformActions> = actions;
                        shared.moderator.spawn_act(msg, *work, actions);
                    }
                }
                return;
            }
            Err(e) => {
                if attempts == 0 {
                    shared.failing.fetch_add(1, Ordering::SeqCst);
                    crate::metrics::global().set_recording_stalled("discord", true);
                    tracing::error!(channel.id = %msg.channel, message.id = %msg.message_id, error = %e, "recording a Discord event failed; keeping it and retrying until the database answers");
                } else {
                    tracing::debug!(attempts, error = %e, "recording a Discord event failed again");
                }
                attempts += 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
        }
    }
}
