//! The HTTP server under the public and metrics listeners: axum's router on
//! hyper's HTTP/1.1 connections, with the limits a public endpoint needs.
//!
//! `axum::serve` has no header timeout and waits at shutdown for every
//! connection to close, so one client that never finishes its request (a
//! slowloris) could hold the process after SIGTERM. Here:
//!
//! - **Header timeout** ([`Limits::header_timeout`]): a connection must send
//!   a complete request head this long after it opens or after its previous
//!   response (hyper's `header_read_timeout`), so byte-by-byte headers and
//!   idle keep-alive connections are both cut.
//! - **Request timeout** ([`REQUEST_TIMEOUT`]): reading the body and
//!   handling the request must finish in this time, else `408`; no Slack
//!   request legitimately comes close (Slack gives up after 3 s).
//! - **Connection limit** ([`Limits::max_connections`]): beyond it new
//!   connections wait in the kernel's backlog until a slot frees, so file
//!   descriptors and memory stay bounded whatever the clients do.
//! - **Shutdown**: accepting stops at once; connections without a request
//!   being handled are closed at once (nothing was handed to us yet, and
//!   the client can retry elsewhere); the others finish their response and
//!   close, and whatever is still open at the deadline is dropped.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long reading a request's body and handling it may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest request head accepted (start line and headers); Slack's are
/// under 2 KiB.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The configurable limits of a listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time allowed for a complete request head (`http_header_timeout_secs`).
    pub header_timeout: Duration,
    /// Connections served at once (`http_max_connections`).
    pub max_connections: usize,
}

impl Limits {
    /// The limits configured in `config`.
    pub fn from_config(config: &crate::config::Config) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(config.http_header_timeout_secs.max(1)),
            max_connections: config.http_max_connections.max(1),
        }
    }
}

/// Counts the requests a connection is handling, so shutdown knows which
/// connections can be closed at once.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn start(n: &Arc<AtomicUsize>) -> InFlight {
        n.fetch_add(1, Ordering::SeqCst);
        InFlight(n.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells [`serve`] to stop: `None` while running, then the deadline by
/// which every connection must be closed.
pub type Stop = watch::Receiver<Option<Instant>>;

/// Serves `router` on `listener` until `stop` gives a deadline, then shuts
/// down as the module doc says; returns once every connection is closed or
/// the deadline has passed.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, mut stop: Stop) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut conns = JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    let builder = Arc::new(builder);
    loop {
        let permit = tokio::select! {
            () = stopped(&mut stop) => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = stopped(&mut stop) => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little
                    // rather than spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
        let router = router.clone();
        let builder = builder.clone();
        let mut stop = stop.clone();
        conns.spawn(async move {
            let _permit = permit;
            let busy = Arc::new(AtomicUsize::new(0));
            let counter = busy.clone();
            let tower = TowerToHyperService::new(router);
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                // Who is asking, for handlers that record it (console sign-ins).
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let guard = InFlight::start(&counter);
                let fut = hyper::service::Service::call(&tower, req);
                async move {
                    let _guard = guard;
                    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
                        Ok(r) => r,
                        Err(_) => Ok(timeout_response()),
                    }
                }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            let stopping = tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %peer, error = %e, "HTTP connection ended");
                    }
                    false
                }
                () = stopped(&mut stop) => true,
            };
            if stopping && busy.load(Ordering::SeqCst) > 0 {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        });
    }
    drop(listener);
    let deadline = (*stop.borrow()).unwrap_or_else(Instant::now);
    let drained = tokio::time::timeout_at(deadline, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len(),
            "HTTP connections still open at the shutdown deadline; closing them"
        );
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

/// Resolves once `stop` gives a deadline (holding no borrow of it).
async fn stopped(stop: &mut Stop) {
    let _ = stop.wait_for(Option::is_some).await;
}

fn timeout_response() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::REQUEST_TIMEOUT,
        [(axum::http::header::CONNECTION, "close")],
        "request took too long",
    )
        .into_response()
}
