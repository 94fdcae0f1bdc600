//! Gateway dispatch: which live sessions get an event (shard and intents),
//! what they see of it (the MESSAGE_CONTENT rule), and numbering and
//! buffering it for resume.

use std::collections::VecDeque;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{DiscordState, DispatchRecord, StoredMessage};
use crate::discord::config::intents;

/// What the connection task should do next.
#[derive(Debug)]
pub(crate) enum Outbound {
    Frame(String),
    /// A dispatch, with when it was queued (for the writer's lag).
    Dispatch(String, Instant),
    Close(u16, String),
    Abort,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::UnboundedSender<Outbound>,
}

/// A gateway session (one per identify), resumable while `alive`.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) shard: [u32; 2],
    pub(crate) intents: u64,
    pub(crate) seq: u64,
    pub(crate) buffer: VecDeque<(u64, String)>,
    pub(crate) conn: Option<Conn>,
    pub(crate) alive: bool,
}

/// Why a message keeps its content for a session without MESSAGE_CONTENT.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ContentExemption {
    pub(crate) author_is_bot: bool,
    pub(crate) mentions_bot: bool,
}

/// A dispatch before it is numbered for a session.
#[derive(Clone, Debug)]
pub(crate) struct GatewayEvent {
    pub(crate) t: String,
    pub(crate) d: Value,
    /// Routes to the shard of this guild; `None` goes to shard 0 (DMs, like Discord).
    pub(crate) guild_id: Option<u64>,
    /// Intent a session needs to get it; `None` = always sent.
    pub(crate) intent: Option<u64>,
    /// For guild messages: strip content unless exempt or the session has MESSAGE_CONTENT.
    pub(crate) strip_content_unless: Option<ContentExemption>,
}

impl GatewayEvent {
    pub(crate) fn message(t: &str, state: &DiscordState, m: &StoredMessage) -> Self {
        let bot = state.config.bot.id;
        let d = state.message_json(m, true);
        let mentions_bot = state.mentions(m).contains(&bot);
        Self {
            t: t.to_owned(),
            d,
            guild_id: m.guild_id,
            intent: Some(if m.guild_id.is_some() {
                intents::GUILD_MESSAGES
            } else {
                intents::DIRECT_MESSAGES
            }),
            strip_content_unless: m.guild_id.map(|_| ContentExemption {
                author_is_bot: m.author_id == bot,
                mentions_bot,
            }),
        }
    }

    fn routes_to(&self, s: &Session) -> bool {
        let [shard_id, total] = s.shard;
        let wanted = match self.guild_id {
            Some(g) => ((g >> 22) % u64::from(total.max(1))) as u32,
            None => 0,
        };
        shard_id == wanted && self.intent.is_none_or(|bit| s.intents & bit != 0)
    }

    fn payload_for(&self, session_intents: u64) -> Value {
        let mut d = self.d.clone();
        if let Some(ex) = self.strip_content_unless {
            let has_intent = session_intents & intents::MESSAGE_CONTENT != 0;
            if !has_intent && !ex.author_is_bot && !ex.mentions_bot {
                // Partial updates only carry the fields they carry: blank what is there.
                for (field, empty) in [
                    ("content", json!("")),
                    ("embeds", json!([])),
                    ("attachments", json!([])),
                    ("components", json!([])),
                    // AUTO_MODERATION_ACTION_EXECUTION
                    ("matched_content", json!("")),
                ] {
                    if d.get(field).is_some() {
                        d[field] = empty;
                    }
                }
                if let Some(poll) = d.get_mut("poll") {
                    *poll = Value::Null;
                }
                // A forward's snapshots are message content too.
                if let Some(snaps) = d.get_mut("message_snapshots").and_then(Value::as_array_mut) {
                    for snap in snaps {
                        let inner = &mut snap["message"];
                        for (field, empty) in [
                            ("content", json!("")),
                            ("embeds", json!([])),
                            ("attachments", json!([])),
                            ("components", json!([])),
                        ] {
                            if inner.get(field).is_some() {
                                inner[field] = empty;
                            }
                        }
                    }
                }
            }
        }
        d
    }
}

impl DiscordState {
    /// Queues a dispatch for every live session that should get it.
    pub(crate) fn broadcast(&mut self, event: GatewayEvent) {
        let targets: Vec<usize> = (0..self.sessions.len())
            .filter(|i| {
                let s = &self.sessions[*i];
                s.alive && event.routes_to(s)
            })
            .collect();
        self.record_dispatch(&event, targets.len());
        for i in targets {
            self.dispatch_to(i, &event);
        }
    }

    pub(crate) fn record_dispatch(&mut self, event: &GatewayEvent, sessions: usize) {
        self.dispatches.push(DispatchRecord {
            t: event.t.clone(),
            d: event.d.clone(),
            sessions,
            at: Instant::now(),
        });
    }

    /// Numbers, buffers and sends one dispatch to one session.
    pub(crate) fn dispatch_to(&mut self, index: usize, event: &GatewayEvent) {
        let limit = self.config.replay_buffer.max(1);
        let session = &mut self.sessions[index];
        let d = event.payload_for(session.intents);
        session.seq += 1;
        let frame = json!({ "op": 0, "s": session.seq, "t": event.t, "d": d }).to_string();
        session.buffer.push_back((session.seq, frame.clone()));
        while session.buffer.len() > limit {
            session.buffer.pop_front();
        }
        if let Some(conn) = &session.conn {
            let _ = conn.tx.send(Outbound::Dispatch(frame, Instant::now()));
        }
    }
}
