//! The gateway websocket: Hello, heartbeats, Identify (token, intents, shard checks), READY and
//! GUILD_CREATE, Resume with replay, and the close codes Discord uses.
//!
//! Each connection is one task that owns its socket and drains an unbounded queue filled by
//! [`super::state::DiscordState::dispatch_to`]; control operations (reconnect, invalid session,
//! abrupt drop) travel through the same queue so they stay ordered with dispatches.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::config::intents;
use super::payloads;
use super::rest::AppState;
use super::state::{Conn, DiscordState, GatewayEvent, Outbound, Session};
use super::Inner;

/// Discord closes connections whose client frames exceed this size with 4002.
const MAX_CLIENT_FRAME: usize = 4096;

pub(crate) async fn upgrade(State(app): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| connection(app.inner, socket))
}

/// How a connection ended, which decides whether its session survives.
#[derive(Debug)]
enum Ending {
    /// The client sent a close frame with this code.
    ClientClosed(Option<u16>),
    /// The client vanished (TCP error or EOF).
    ClientGone,
    /// The fake closed it with a code.
    ServerClosed(u16),
    /// The fake dropped it without a close frame.
    Aborted,
}

/// What handling a client frame asks the loop to do.
enum Next {
    Continue,
    Close(u16, &'static str),
}

async fn connection(inner: Arc<Inner>, mut socket: WebSocket) {
    let (tx, rx) = mpsc::unbounded_channel();
    let conn_id = {
        let mut st = inner.lock();
        st.stats.connections += 1;
        let id = st.next_conn_id;
        st.next_conn_id += 1;
        st.open_conns.insert(id, tx.clone());
        id
    };
    inner.notify();
    tracing::debug!(conn_id, "fake discord gateway connection");

    let hello = json!({
        "t": null,
        "s": null,
        "op": 10,
        "d": {
            "heartbeat_interval": inner.config.heartbeat_interval.as_millis() as u64,
            "_trace": [payloads::TRACE],
        },
    });
    let mut ending = Ending::ClientGone;
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_ok()
    {
        ending = serve(&inner, &mut socket, conn_id, &tx, rx).await;
    }
    tracing::debug!(conn_id, ?ending, "fake discord gateway connection ended");
    detach(&inner, conn_id, &ending);
    inner.notify();
    // Dropping the socket here without a close frame is what makes `Aborted` abrupt.
    drop(socket);
}

/// Relays the fake's queue to the socket and the client's frames to the
/// fake until one side ends the connection (or heartbeats stop coming).
async fn serve(
    inner: &Inner,
    socket: &mut WebSocket,
    conn_id: u64,
    tx: &mpsc::UnboundedSender<Outbound>,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
) -> Ending {
    let mut session: Option<String> = None;
    let timeout = inner.config.heartbeat_timeout;
    let far = Duration::from_secs(86_400);
    let mut deadline = Instant::now() + timeout.unwrap_or(far);
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outbound::Frame(frame)) => {
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        break Ending::ClientGone;
                    }
                }
                Some(Outbound::Dispatch(frame, queued)) => {
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        break Ending::ClientGone;
                    }
                    inner.record_write_lag(queued.elapsed());
                }
                Some(Outbound::Close(code, reason)) => {
                    break close(socket, code, reason).await;
                }
                Some(Outbound::Abort) | None => break Ending::Aborted,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let next = if text.len() > MAX_CLIENT_FRAME {
                        Next::Close(4002, "Error while decoding payload.")
                    } else {
                        match serde_json::from_str::<Value>(text.as_str()) {
                            Ok(frame) => {
                                if frame.get("op").and_then(Value::as_u64) == Some(1) {
                                    deadline = Instant::now() + timeout.unwrap_or(far);
                                }
                                client_frame(inner, conn_id, tx, &mut session, &frame)
                            }
                            Err(_) => Next::Close(4002, "Error while decoding payload."),
                        }
                    };
                    inner.notify();
                    if let Next::Close(code, reason) = next {
                        break close(socket, code, reason.to_owned()).await;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    break close(socket, 4002, "Error while decoding payload.".to_owned()).await;
                }
                Some(Ok(Message::Close(frame))) => break Ending::ClientClosed(frame.map(|f| f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break Ending::ClientGone,
            },
            () = tokio::time::sleep_until(deadline), if timeout.is_some() => {
                break close(socket, 4000, "Heartbeat timed out.".to_owned()).await;
            }
        }
    }
}

/// Sends a close frame (a failure to send changes nothing: the connection ends either way).
async fn close(socket: &mut WebSocket, code: u16, reason: String) -> Ending {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
    Ending::ServerClosed(code)
}

/// Forgets connection `conn_id`: its session loses its socket, and ends
/// unless the way it ended leaves it resumable.
fn detach(inner: &Inner, conn_id: u64, ending: &Ending) {
    let mut st = inner.lock();
    st.open_conns.remove(&conn_id);
    for s in &mut st.sessions {
        if s.conn.as_ref().is_some_and(|c| c.id == conn_id) {
            s.conn = None;
            // A clean 1000/1001 close ends the session; anything else leaves it resumable,
            // and dispatches keep being buffered for it.
            let ends = match *ending {
                Ending::ClientClosed(Some(code)) => code == 1000 || code == 1001,
                Ending::ServerClosed(code) => ends_session(code),
                _ => false,
            };
            if ends {
                s.alive = false;
            }
        }
    }
}

/// Close codes after which the session cannot be resumed.
pub(crate) fn ends_session(code: u16) -> bool {
    matches!(code, 1000 | 1001 | 4004 | 4007 | 4009 | 4010..=4014)
}

fn client_frame(
    inner: &Inner,
    conn_id: u64,
    tx: &mpsc::UnboundedSender<Outbound>,
    session: &mut Option<String>,
    frame: &Value,
) -> Next {
    let op = frame.get("op").and_then(Value::as_u64);
    let d = frame.get("d").unwrap_or(&Value::Null);
    match op {
        Some(1) => {
            inner.lock().stats.heartbeats += 1;
            let _ = tx.send(Outbound::Frame(
                json!({"t": null, "s": null, "op": 11, "d": null}).to_string(),
            ));
            Next::Continue
        }
        Some(2) => identify(inner, conn_id, tx, session, d),
        Some(6) => resume(inner, conn_id, tx, session, d),
        Some(3 | 4 | 8 | 31) => {
            if session.is_none() {
                Next::Close(4003, "Not authenticated.")
            } else {
                Next::Continue
            }
        }
        _ => Next::Close(4001, "Unknown opcode."),
    }
}

fn token_ok(inner: &Inner, d: &Value) -> bool {
    let expected = inner
        .config
        .bot_token
        .strip_prefix("Bot ")
        .unwrap_or(&inner.config.bot_token);
    d.get("token")
        .and_then(Value::as_str)
        .map(|t| t.strip_prefix("Bot ").unwrap_or(t))
        == Some(expected)
}

fn identify(
    inner: &Inner,
    conn_id: u64,
    tx: &mpsc::UnboundedSender<Outbound>,
    session: &mut Option<String>,
    d: &Value,
) -> Next {
    if session.is_some() {
        return Next::Close(4005, "Already authenticated.");
    }
    if !token_ok(inner, d) {
        return Next::Close(4004, "Authentication failed.");
    }
    let Some(requested) = d.get("intents").and_then(Value::as_u64) else {
        return Next::Close(4013, "Invalid intent(s).");
    };
    if requested & !intents::VALID != 0 {
        return Next::Close(4013, "Invalid intent(s).");
    }
    if requested & intents::PRIVILEGED & !inner.config.privileged_intents_enabled != 0 {
        return Next::Close(4014, "Disallowed intent(s).");
    }
    let shard = match d.get("shard") {
        None | Some(Value::Null) => [0, 1],
        Some(v) => {
            let id = v.get(0).and_then(Value::as_u64);
            let total = v.get(1).and_then(Value::as_u64);
            match (id, total) {
                (Some(id), Some(total)) if total >= 1 && id < total && total <= 1024 => {
                    [id as u32, total as u32]
                }
                _ => return Next::Close(4010, "Invalid shard."),
            }
        }
    };
    let session_id = random_hex(32);
    let mut st = inner.lock();
    st.stats.identifies += 1;
    st.sessions.push(Session {
        id: session_id.clone(),
        shard,
        intents: requested,
        seq: 0,
        buffer: Default::default(),
        conn: Some(Conn {
            id: conn_id,
            tx: tx.clone(),
        }),
        alive: true,
    });
    let index = st.sessions.len() - 1;
    greet(&mut st, index, &session_id, shard, requested);
    tracing::debug!(
        conn_id,
        ?shard,
        intents = requested,
        "fake discord identify"
    );
    *session = Some(session_id);
    Next::Continue
}

/// What a new session gets first: READY with the guilds of its shard, then
/// (with the GUILDS intent) a GUILD_CREATE for each.
fn greet(st: &mut DiscordState, index: usize, session_id: &str, shard: [u32; 2], requested: u64) {
    let guilds: Vec<u64> = st
        .config
        .guilds
        .iter()
        .map(|g| g.id)
        .filter(|g| ((g >> 22) % u64::from(shard[1])) as u32 == shard[0])
        .collect();
    let ready = payloads::ready(&st.config, session_id, &st.gateway_url, shard, &guilds);
    let ready_event = GatewayEvent {
        t: "READY".to_owned(),
        d: ready,
        guild_id: None,
        intent: None,
        strip_content_unless: None,
    };
    st.record_dispatch(&ready_event, 1);
    st.dispatch_to(index, &ready_event);
    if requested & intents::GUILDS != 0 {
        for g in guilds {
            let Some(spec) = st.guild(g) else { continue };
            let event = GatewayEvent {
                t: "GUILD_CREATE".to_owned(),
                d: payloads::guild_create(&st.config, spec),
                guild_id: Some(g),
                intent: None,
                strip_content_unless: None,
            };
            st.record_dispatch(&event, 1);
            st.dispatch_to(index, &event);
        }
    }
}

fn resume(
    inner: &Inner,
    conn_id: u64,
    tx: &mpsc::UnboundedSender<Outbound>,
    session: &mut Option<String>,
    d: &Value,
) -> Next {
    if session.is_some() {
        return Next::Close(4005, "Already authenticated.");
    }
    if !token_ok(inner, d) {
        return Next::Close(4004, "Authentication failed.");
    }
    let wanted = d.get("session_id").and_then(Value::as_str).unwrap_or("");
    let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let mut st = inner.lock();
    let index = st.sessions.iter().position(|s| {
        s.alive
            && s.id == wanted
            && seq <= s.seq
            // The buffer must still hold every dispatch after `seq`.
            && s.buffer.front().is_none_or(|(first, _)| *first <= seq + 1)
    });
    let Some(index) = index else {
        st.stats.failed_resumes += 1;
        let _ = tx.send(Outbound::Frame(
            json!({"t": null, "s": null, "op": 9, "d": false}).to_string(),
        ));
        return Next::Continue;
    };
    st.stats.resumes += 1;
    let s = &mut st.sessions[index];
    if let Some(old) = s.conn.take() {
        // Discord drops the previous connection of a resumed session.
        let _ = old.tx.send(Outbound::Abort);
    }
    s.conn = Some(Conn {
        id: conn_id,
        tx: tx.clone(),
    });
    for (n, frame) in &s.buffer {
        if *n > seq {
            let _ = tx.send(Outbound::Frame(frame.clone()));
        }
    }
    let event = GatewayEvent {
        t: "RESUMED".to_owned(),
        d: json!({ "_trace": [payloads::TRACE] }),
        guild_id: None,
        intent: None,
        strip_content_unless: None,
    };
    st.record_dispatch(&event, 1);
    st.dispatch_to(index, &event);
    tracing::debug!(conn_id, seq, "fake discord resume");
    *session = Some(wanted.to_owned());
    Next::Continue
}

fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}
