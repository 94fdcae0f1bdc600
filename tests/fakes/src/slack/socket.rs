//! The Socket Mode WebSocket endpoint (`/link/?ticket=…`): single-use
//! tickets, `hello` first, envelopes out, acks in, `disconnect` on demand.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tracing::debug;

use super::state::{SocketCmd, SocketConn};
use super::Inner;

/// Issues a single-use ticket and the URL `apps.connections.open` returns.
pub(crate) fn open_url(inner: &Arc<Inner>, st: &mut super::SlackState) -> String {
    let n = st.next_counter();
    let ticket = format!("{:016x}-{:08x}", inner.seed.rotate_left(7) ^ n, n);
    st.tickets.insert(ticket.clone(), false);
    format!(
        "{}/link/?ticket={}&app_id={}",
        inner.ws_url(),
        ticket,
        inner.cfg.bot.app_id
    )
}

pub(crate) async fn upgrade(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let ticket = query.get("ticket").cloned().unwrap_or_default();
    let debug_reconnects = query.get("debug_reconnects").map(String::as_str) == Some("true");
    let valid = inner.mutate(|st| match st.tickets.get_mut(&ticket) {
        Some(used) if !*used => {
            *used = true;
            true
        }
        _ => false,
    });
    if !valid {
        debug!("socket mode connection with an unknown or used ticket");
        return (StatusCode::UNAUTHORIZED, "invalid_ticket").into_response();
    }
    ws.on_upgrade(move |socket| serve(inner, socket, debug_reconnects))
}

async fn serve(inner: Arc<Inner>, socket: WebSocket, debug_reconnects: bool) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (conn_id, num_connections) = inner.mutate(|st| {
        st.next_socket += 1;
        let id = st.next_socket;
        st.connections_opened += 1;
        if debug_reconnects {
            st.connections_opened_debug += 1;
        }
        st.sockets.insert(id, SocketConn { tx, ready: false });
        (id, st.sockets.len())
    });
    let (mut sink, mut stream) = socket.split();
    let hello = json!({
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {
            "host": format!("applink-fake-{conn_id}"),
            "started": "2026-01-01 00:00:00.000",
            "build_number": 54,
            "approximate_connection_time": if debug_reconnects { 360 } else { 3600 },
        },
        "connection_info": { "app_id": inner.cfg.bot.app_id },
    });
    if sink
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        inner.mutate(|st| st.sockets.remove(&conn_id));
        return;
    }
    debug!(conn_id, "socket mode hello sent");
    inner.mutate(|st| {
        if let Some(c) = st.sockets.get_mut(&conn_id) {
            c.ready = true;
        }
        inner.flush_pending(st);
    });
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(SocketCmd::Frame(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(SocketCmd::Disconnect { reason }) => {
                    let frame = json!({
                        "type": "disconnect",
                        "reason": reason,
                        "debug_info": { "host": format!("applink-fake-{conn_id}") },
                    });
                    // The client may already be gone; closing is best effort.
                    let _ = sink.send(Message::Text(frame.to_string().into())).await;
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
                // Dropping both halves closes the TCP stream without a close frame.
                Some(SocketCmd::Drop) | None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => on_text(&inner, conn_id, text.as_str()),
                Some(Ok(Message::Ping(payload))) => {
                    if sink.send(Message::Pong(payload)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    debug!(conn_id, "socket mode connection closed");
    inner.mutate(|st| st.sockets.remove(&conn_id));
}

fn on_text(inner: &Arc<Inner>, conn_id: u64, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        debug!(conn_id, "non-JSON frame from the bot ignored");
        return;
    };
    let Some(envelope_id) = v.get("envelope_id").and_then(Value::as_str) else {
        debug!(conn_id, "frame without envelope_id ignored");
        return;
    };
    let payload = v.get("payload").cloned().filter(|p| !p.is_null());
    inner.mutate(|st| inner.handle_ack(st, envelope_id, payload));
}
