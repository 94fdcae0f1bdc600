//! Getting events and slash commands to the bot: Socket Mode envelopes with
//! ack tracking and redelivery, or signed HTTP POSTs with Slack's retry
//! schedule and headers; plus what the fake does with the bot's answers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tracing::debug;

use super::config::{Delivery, FakeChannel, FakeTeam, FakeUser};
use super::payloads;
use super::signing::{sign, SignMode};
use super::state::{
    is_empty_answer, DeliveryKind, DeliveryOutcome, DeliveryRecord, Envelope, Ephemeral,
    EphemeralSource, InFlight, SlackState, SlashCommandRecord, SocketCmd,
};
use super::{unix_now, Inner};

/// The bot's answer to an HTTP request the fake sent.
#[derive(Debug, Clone)]
pub struct RawHttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl RawHttpResponse {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The bot asked Slack not to retry (`X-Slack-No-Retry: 1`).
    pub fn no_retry(&self) -> bool {
        self.header("x-slack-no-retry") == Some("1")
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

const SLACK_USER_AGENT: &str = "Slackbot 1.0 (+https://api.slack.com/robots)";

impl Inner {
    /// Wraps `event` in an `event_callback`, records it and delivers it
    /// through the current mode. Returns the `event_id`.
    pub(crate) fn emit_event(self: &Arc<Self>, st: &mut SlackState, event: Value) -> String {
        let team = self.cfg.team.id.clone();
        self.emit_event_for(st, &team, event)
    }

    /// Delivers `event` as one for the app's installation in `team`.
    pub(crate) fn emit_event_for(
        self: &Arc<Self>,
        st: &mut SlackState,
        team: &str,
        event: Value,
    ) -> String {
        let n = st.next_counter();
        let event_id = format!("Ev0{:09X}", (self.seed & 0xfff) << 24 | n);
        let payload = payloads::event_callback_for(&self.cfg, team, event, &event_id, unix_now());
        st.events.push(payload.clone());
        match self.delivery() {
            Delivery::SocketMode => {
                let envelope = Envelope {
                    envelope_id: payloads::uuid_like(self.seed, n),
                    kind: DeliveryKind::EventsApi,
                    payload,
                    accepts_response_payload: false,
                    retry_attempt: 0,
                    retry_reason: String::new(),
                    event_id: Some(event_id.clone()),
                    slash_id: None,
                    last_connection: None,
                };
                self.socket_send(st, envelope);
            }
            Delivery::Http { events_url, .. } => {
                let body = payload.to_string();
                self.rt.spawn(http_deliver_event(
                    self.clone(),
                    events_url,
                    body,
                    event_id.clone(),
                ));
            }
        }
        event_id
    }

    /// Hands an envelope to exactly one ready socket (avoiding the one that
    /// failed it last time when there is a choice), or queues it until a
    /// socket says hello.
    pub(crate) fn socket_send(self: &Arc<Self>, st: &mut SlackState, mut env: Envelope) {
        loop {
            let ready: Vec<u64> = st
                .sockets
                .iter()
                .filter(|(_, c)| c.ready)
                .map(|(id, _)| *id)
                .collect();
            if ready.is_empty() {
                debug!(envelope_id = %env.envelope_id, "no socket open; envelope queued");
                st.pending.push_back(env);
                return;
            }
            let candidates: Vec<u64> = if ready.len() > 1 {
                ready
                    .iter()
                    .copied()
                    .filter(|id| Some(*id) != env.last_connection)
                    .collect()
            } else {
                ready
            };
            st.round_robin = st.round_robin.wrapping_add(1);
            let conn = candidates[(st.round_robin % candidates.len() as u64) as usize];
            let frame = envelope_frame(&env).to_string();
            let sent = st
                .sockets
                .get(&conn)
                .is_some_and(|c| c.tx.send(SocketCmd::Frame(frame)).is_ok());
            if !sent {
                st.sockets.remove(&conn);
                continue;
            }
            env.last_connection = Some(conn);
            st.deliveries.push(DeliveryRecord {
                at: std::time::Instant::now(),
                kind: env.kind.clone(),
                event_id: env.event_id.clone(),
                envelope_id: Some(env.envelope_id.clone()),
                connection: Some(conn),
                retry_attempt: env.retry_attempt,
                retry_reason: (!env.retry_reason.is_empty()).then(|| env.retry_reason.clone()),
                outcome: DeliveryOutcome::Pending,
            });
            let record = st.deliveries.len() - 1;
            let id = env.envelope_id.clone();
            let attempt = env.retry_attempt;
            st.inflight.insert(
                id.clone(),
                InFlight {
                    envelope: env,
                    record,
                },
            );
            let inner = self.clone();
            self.rt.spawn(async move {
                tokio::time::sleep(inner.cfg.ack_timeout).await;
                inner.mutate(|st| inner.ack_timed_out(st, &id, attempt));
            });
            return;
        }
    }

    fn ack_timed_out(self: &Arc<Self>, st: &mut SlackState, envelope_id: &str, attempt: u32) {
        let still_waiting = st
            .inflight
            .get(envelope_id)
            .is_some_and(|f| f.envelope.retry_attempt == attempt);
        if !still_waiting {
            return;
        }
        let Some(flight) = st.inflight.remove(envelope_id) else {
            return;
        };
        if let Some(rec) = st.deliveries.get_mut(flight.record) {
            rec.outcome = DeliveryOutcome::NotAcked;
        }
        let mut env = flight.envelope;
        debug!(envelope_id, attempt, "envelope not acked in time");
        // Slack retries events; a slash command that is not acked just fails for the user.
        if env.kind == DeliveryKind::EventsApi && env.retry_attempt < self.cfg.socket_max_retries {
            env.retry_attempt += 1;
            env.retry_reason = "timeout".into();
            self.socket_send(st, env);
        }
    }

    /// Sends every queued envelope now that a socket is ready.
    pub(crate) fn flush_pending(self: &Arc<Self>, st: &mut SlackState) {
        let queued: Vec<Envelope> = st.pending.drain(..).collect();
        for env in queued {
            self.socket_send(st, env);
        }
    }

    /// An ack frame arrived on a socket.
    pub(crate) fn handle_ack(
        self: &Arc<Self>,
        st: &mut SlackState,
        envelope_id: &str,
        payload: Option<Value>,
    ) {
        let Some(flight) = st.inflight.remove(envelope_id) else {
            debug!(envelope_id, "ack for an envelope not in flight");
            return;
        };
        if let Some(rec) = st.deliveries.get_mut(flight.record) {
            rec.outcome = DeliveryOutcome::Acked {
                payload: payload.clone(),
            };
        }
        if let Some(slash_id) = flight.envelope.slash_id {
            if let Some(rec) = st.slash.iter_mut().find(|r| r.id == slash_id) {
                rec.acknowledged = true;
                rec.immediate = Some(payload.clone().unwrap_or(Value::Null));
            }
            if let Some(p) = payload {
                self.apply_command_answer(st, slash_id, &p);
            }
        }
    }

    /// Makes a slash-command answer visible: `in_channel` becomes a bot
    /// message in the channel, anything else an ephemeral for the invoker.
    pub(crate) fn apply_command_answer(
        self: &Arc<Self>,
        st: &mut SlackState,
        slash_id: u64,
        answer: &Value,
    ) {
        if is_empty_answer(answer) {
            return;
        }
        let Some(rec) = st.slash.iter().find(|r| r.id == slash_id).cloned() else {
            return;
        };
        let text = answer
            .as_str()
            .or_else(|| answer.get("text").and_then(Value::as_str))
            .unwrap_or("")
            .to_string();
        let blocks = answer.get("blocks").cloned().filter(|b| !b.is_null());
        let in_channel = answer.get("response_type").and_then(Value::as_str) == Some("in_channel");
        if in_channel {
            let m = self.store_bot_post(st, &rec.channel, &text, blocks, None, None);
            let event = payloads::message_event(&self.cfg, &m);
            self.emit_event(st, event);
        } else {
            let message_ts = st.next_ts();
            st.ephemerals.push(Ephemeral {
                channel: rec.channel.clone(),
                user: rec.user.clone(),
                text,
                blocks,
                thread_ts: None,
                message_ts,
                source: EphemeralSource::SlashResponse,
            });
        }
    }

    /// Creates the record and sends a slash command through the current mode.
    pub(crate) fn send_slash_command(
        self: &Arc<Self>,
        team: &FakeTeam,
        channel: &FakeChannel,
        user: &FakeUser,
        command: &str,
        text: &str,
    ) -> u64 {
        let delivery = self.delivery();
        self.mutate(|st| {
            let id = st.next_counter();
            let secret = format!(
                "{:016x}",
                self.seed.rotate_left(17) ^ id.wrapping_mul(0x9E37)
            );
            let response_url = format!(
                "{}/commands/{}/{}/{}",
                self.base_url,
                team.id,
                1_234_567_890_000 + id,
                secret
            );
            let trigger_id = format!("{}.{}.{:032x}", 1_234_567_890_000 + id, 1_234_567_890, {
                u128::from(self.seed) << 64 | u128::from(id)
            });
            let fields = payloads::slash_fields(
                &self.cfg,
                (team, channel, user),
                command,
                text,
                &response_url,
                &trigger_id,
            );
            st.slash.push(SlashCommandRecord {
                id,
                channel: channel.id.clone(),
                user: user.id.clone(),
                command: command.to_string(),
                text: text.to_string(),
                response_url,
                trigger_id,
                acknowledged: false,
                http_status: None,
                immediate: None,
                response_url_posts: Vec::new(),
            });
            match delivery {
                Delivery::SocketMode => {
                    let payload: serde_json::Map<String, Value> = fields
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), Value::String(v)))
                        .collect();
                    let envelope = Envelope {
                        envelope_id: payloads::uuid_like(self.seed ^ 0xc0ffee, id),
                        kind: DeliveryKind::SlashCommands,
                        payload: Value::Object(payload),
                        accepts_response_payload: true,
                        retry_attempt: 0,
                        retry_reason: String::new(),
                        event_id: None,
                        slash_id: Some(id),
                        last_connection: None,
                    };
                    self.socket_send(st, envelope);
                }
                Delivery::Http {
                    events_url,
                    commands_url,
                } => {
                    let url = commands_url.unwrap_or(events_url);
                    let body = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
                        .finish();
                    self.rt
                        .spawn(http_deliver_command(self.clone(), url, body, id));
                }
            }
            id
        })
    }

    /// POSTs `body` to the bot with Slack's headers, signed per `mode`.
    /// `Err` carries Slack's retry reason for the failure.
    pub(crate) async fn post_signed(
        &self,
        url: &str,
        content_type: &str,
        body: String,
        mode: SignMode,
        retry: Option<(usize, &str)>,
    ) -> Result<RawHttpResponse, String> {
        let now = unix_now();
        let ts = match mode {
            SignMode::Stale => now.saturating_sub(600),
            _ => now,
        }
        .to_string();
        let mut req = self
            .http
            .post(url)
            .header("content-type", content_type)
            .header("user-agent", SLACK_USER_AGENT)
            .timeout(self.cfg.ack_timeout);
        match mode {
            SignMode::Valid | SignMode::Stale => {
                req = req.header("x-slack-request-timestamp", &ts).header(
                    "x-slack-signature",
                    sign(&self.cfg.signing_secret, &ts, body.as_bytes()),
                );
            }
            SignMode::Forged => {
                let wrong: String = self.cfg.signing_secret.chars().rev().collect();
                req = req.header("x-slack-request-timestamp", &ts).header(
                    "x-slack-signature",
                    sign(&format!("forged{wrong}"), &ts, body.as_bytes()),
                );
            }
            SignMode::Unsigned => {}
        }
        if let Some((n, reason)) = retry {
            req = req
                .header("x-slack-retry-num", n.to_string())
                .header("x-slack-retry-reason", reason);
        }
        let resp = req.body(body).send().await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp.text().await.map_err(|e| classify(&e))?;
        Ok(RawHttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn classify(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "http_timeout".into()
    } else if e.is_connect() {
        "connection_failed".into()
    } else {
        "unknown_error".into()
    }
}

/// The Socket Mode frame for an envelope (`socket_envelope_*.json` shapes).
fn envelope_frame(env: &Envelope) -> Value {
    let kind = match env.kind {
        DeliveryKind::SlashCommands => "slash_commands",
        DeliveryKind::Interactive => "interactive",
        _ => "events_api",
    };
    let mut frame = json!({
        "envelope_id": env.envelope_id,
        "payload": env.payload,
        "type": kind,
        "accepts_response_payload": env.accepts_response_payload,
    });
    if env.kind == DeliveryKind::EventsApi {
        if let Some(o) = frame.as_object_mut() {
            o.insert("retry_attempt".into(), json!(env.retry_attempt));
            o.insert("retry_reason".into(), json!(env.retry_reason));
        }
    }
    frame
}

/// Slack's HTTP retry loop for one event: first try, then one retry per
/// configured delay, stopping on 2xx or `X-Slack-No-Retry: 1`.
async fn http_deliver_event(inner: Arc<Inner>, url: String, body: String, event_id: String) {
    let delays: Vec<Duration> = inner.cfg.http_retry_delays.clone();
    let mut reason: Option<String> = None;
    for attempt in 0..=delays.len() {
        if attempt > 0 {
            tokio::time::sleep(delays[attempt - 1]).await;
        }
        let retry = reason.as_deref().map(|r| (attempt, r));
        let result = inner
            .post_signed(
                &url,
                "application/json",
                body.clone(),
                SignMode::Valid,
                retry,
            )
            .await;
        let (outcome, next_reason, stop) = match result {
            Ok(r) => {
                let stop = r.is_success() || r.no_retry();
                (
                    DeliveryOutcome::HttpResponse {
                        status: r.status,
                        no_retry: r.no_retry(),
                        body: r.body,
                    },
                    "http_error".to_string(),
                    stop,
                )
            }
            Err(why) => (
                DeliveryOutcome::HttpFailed {
                    reason: why.clone(),
                },
                why,
                false,
            ),
        };
        let this_reason = reason.clone();
        inner.mutate(|st| {
            st.deliveries.push(DeliveryRecord {
                at: std::time::Instant::now(),
                kind: DeliveryKind::EventsApi,
                event_id: Some(event_id.clone()),
                envelope_id: None,
                connection: None,
                retry_attempt: attempt as u32,
                retry_reason: this_reason,
                outcome,
            })
        });
        if stop {
            return;
        }
        reason = Some(next_reason);
    }
    debug!(%event_id, "event dropped after the last retry");
}

/// One signed form POST of a slash command; Slack does not retry these.
async fn http_deliver_command(inner: Arc<Inner>, url: String, body: String, slash_id: u64) {
    let result = inner
        .post_signed(
            &url,
            "application/x-www-form-urlencoded",
            body,
            SignMode::Valid,
            None,
        )
        .await;
    inner.mutate(|st| {
        let outcome = match &result {
            Ok(r) => DeliveryOutcome::HttpResponse {
                status: r.status,
                body: r.body.clone(),
                no_retry: r.no_retry(),
            },
            Err(why) => DeliveryOutcome::HttpFailed {
                reason: why.clone(),
            },
        };
        st.deliveries.push(DeliveryRecord {
            at: std::time::Instant::now(),
            kind: DeliveryKind::SlashCommands,
            event_id: None,
            envelope_id: None,
            connection: None,
            retry_attempt: 0,
            retry_reason: None,
            outcome,
        });
        let Ok(r) = result else {
            return;
        };
        let immediate = if r.body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&r.body).unwrap_or_else(|_| Value::String(r.body.clone()))
        };
        if let Some(rec) = st.slash.iter_mut().find(|x| x.id == slash_id) {
            rec.http_status = Some(r.status);
            rec.acknowledged = r.is_success();
            rec.immediate = r.is_success().then(|| immediate.clone());
        }
        if r.is_success() {
            inner.apply_command_answer(st, slash_id, &immediate);
        }
    });
}
