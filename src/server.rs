//! The HTTP/1 accept loop: connection cap, header / idle / body timeouts,
//! eviction of idle connections under pressure, an accept loop that survives
//! running out of file descriptors, and a graceful drain.
//!
//! - A connection must deliver its first request head within
//!   `header_timeout` of being accepted (slowloris), and the next one within
//!   `idle_timeout` of its previous response (keep-alive); while a request is
//!   in flight (until its response body is sent) neither applies.
//! - A request body must arrive whole within `body_timeout` of its head.
//! - At most `max_connections` connections are served. When a new one
//!   arrives at the cap, or `accept` fails for want of descriptors (EMFILE),
//!   the oldest connections with no request in flight are closed to make
//!   room, so idle sockets cannot keep `/health` out; the loop backs off and
//!   retries, it never exits on an accept error.
//! - WebSockets leave this loop when they upgrade: the timeouts and the cap
//!   no longer apply to them (they have their own, `ws_max_connections`).

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub tcp_nodelay: bool,
}

impl Limits {
    pub fn from_settings(s: &crate::config::Settings) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(s.http_header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(s.http_idle_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(s.http_body_timeout_secs.max(1)),
            max_connections: s.max_http_connections.max(1),
            tcp_nodelay: s.tcp_nodelay,
        }
    }
}

/// Closed this many at once when descriptors run out.
const EVICT_ON_EMFILE: usize = 16;
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish and closes idle connections.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()> + Send + 'static) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Registry::default();
    let (close_tx, close_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(5);
    let mut cap_warned: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let (tcp, remote) = match accepted {
            Ok(a) => {
                backoff = Duration::from_millis(5);
                a
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors (or memory): make room and try again.
                let evicted = registry.evict_idle(EVICT_ON_EMFILE);
                metrics::counter!("saluran_http_accept_errors_total").increment(1);
                tracing::warn!(error = %e, evicted, retry_in_ms = backoff.as_millis() as u64, "accept failed; closing idle connections and retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut shutdown => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // At the cap: the oldest idle connection makes room; when
                // every connection is busy the new one waits for a slot.
                let evicted = registry.evict_idle(1);
                metrics::counter!("saluran_http_connections_evicted_total").increment(evicted as u64);
                if cap_warned.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                    cap_warned = Some(Instant::now());
                    tracing::warn!(max_connections = limits.max_connections, evicted, "HTTP connection cap reached");
                }
                // Every connection busy: wait for a slot, and look again
                // now and then for one that has gone idle.
                let mut waited = None;
                loop {
                    tokio::select! {
                        p = permits.clone().acquire_owned() => {
                            waited = p.ok();
                            break;
                        }
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {
                            registry.evict_idle(1);
                        }
                        _ = &mut shutdown => break,
                    }
                }
                match waited {
                    Some(p) => p,
                    None => break,
                }
            }
        };
        if let Err(e) = tcp.set_nodelay(limits.tcp_nodelay) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        // Registered here, not in the task: the next accept may need to
        // evict it before the task has run.
        let (id, ctl) = registry.register();
        let conn = Connection { router: router.clone(), limits, registry: registry.clone(), close: close_rx.clone() };
        let done = done_tx.clone();
        tokio::spawn(async move {
            conn.run(tcp, remote, id, ctl).await;
            drop(permit);
            drop(done);
        });
    }
    drop(listener);
    let _ = close_tx.send(true);
    drop(done_tx);
    // Every connection task holds a sender: recv() ends when all are gone.
    let _ = done_rx.recv().await;
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset)
}

/// The open connections, oldest first, each with a flag "no request in
/// flight" and a way to close it.
#[derive(Default, Clone)]
struct Registry {
    next_id: Arc<AtomicU64>,
    conns: Arc<Mutex<BTreeMap<u64, Arc<Control>>>>,
}

struct Control {
    idle: AtomicBool,
    evict: Notify,
}

impl Registry {
    fn register(&self) -> (u64, Arc<Control>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ctl = Arc::new(Control { idle: AtomicBool::new(true), evict: Notify::new() });
        self.conns.lock().insert(id, ctl.clone());
        (id, ctl)
    }
    fn remove(&self, id: u64) {
        self.conns.lock().remove(&id);
    }
    /// Closes up to `n` of the oldest connections with no request in flight;
    /// returns how many were told to close.
    fn evict_idle(&self, n: usize) -> usize {
        let mut conns = self.conns.lock();
        let victims: Vec<u64> = conns.iter().filter(|(_, c)| c.idle.load(Ordering::Acquire)).map(|(id, _)| *id).take(n).collect();
        for id in &victims {
            if let Some(c) = conns.remove(id) {
                c.evict.notify_one();
            }
        }
        victims.len()
    }
}

/// Requests in flight on one connection and since when it has had none.
#[derive(Clone, Copy)]
struct Phase {
    busy: usize,
    since: Instant,
    served: u64,
}

struct Connection {
    router: Router,
    limits: Limits,
    registry: Registry,
    close: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream, remote: SocketAddr, id: u64, ctl: Arc<Control>) {
        metrics::gauge!("saluran_http_connections").increment(1.0);
        let (phase_tx, mut phase_rx) = watch::channel(Phase { busy: 0, since: Instant::now(), served: 0 });
        let phase = Arc::new(PhaseTx { tx: phase_tx, ctl: ctl.clone() });
        let router = self.router.clone();
        let body_timeout = self.limits.body_timeout;
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            let busy = Busy::start(phase.clone());
            let req = req.map(|b| Body::new(Deadline::new(b, body_timeout)));
            let router = router.clone();
            async move {
                let resp = router.oneshot(req).await.unwrap_or_else(|never| match never {});
                Ok::<_, std::convert::Infallible>(resp.map(|b| Tracked { inner: b, _busy: busy }))
            }
        });
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).with_upgrades();
        tokio::pin!(conn);
        let (header, idle) = (self.limits.header_timeout, self.limits.idle_timeout);
        let mut draining = false;
        loop {
            // Draining: a connection with no request in flight closes now
            // (even one halfway through a request head); one with a request
            // finishes it, then closes.
            if !draining && *self.close.borrow() {
                draining = true;
                if ctl.idle.load(Ordering::Acquire) {
                    break;
                }
                conn.as_mut().graceful_shutdown();
            }
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%remote, error = %e, "HTTP connection ended with an error");
                    }
                    break;
                }
                r = self.close.changed(), if !draining => {
                    if r.is_err() {
                        // The accept loop is gone without a signal: drain too.
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
                _ = expired(&mut phase_rx, header, idle) => {
                    tracing::debug!(%remote, "closing an idle HTTP connection (header / keep-alive timeout)");
                    metrics::counter!("saluran_http_connections_timed_out_total").increment(1);
                    break;
                }
                _ = ctl.evict.notified() => {
                    tracing::debug!(%remote, "closing an idle HTTP connection to make room");
                    break;
                }
            }
        }
        self.registry.remove(id);
        metrics::gauge!("saluran_http_connections").decrement(1.0);
    }
}

/// Resolves when the connection has had no request in flight for longer
/// than allowed: `header` before its first request, `idle` after one.
async fn expired(rx: &mut watch::Receiver<Phase>, header: Duration, idle: Duration) {
    loop {
        let p = *rx.borrow_and_update();
        if p.busy > 0 {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            continue;
        }
        let limit = if p.served == 0 { header } else { idle };
        tokio::select! {
            _ = tokio::time::sleep_until(p.since + limit) => return,
            r = rx.changed() => if r.is_err() { std::future::pending::<()>().await },
        }
    }
}

struct PhaseTx {
    tx: watch::Sender<Phase>,
    ctl: Arc<Control>,
}

/// A request in flight, from its head until its response body is done.
struct Busy(Arc<PhaseTx>);

impl Busy {
    fn start(p: Arc<PhaseTx>) -> Busy {
        p.ctl.idle.store(false, Ordering::Release);
        p.tx.send_modify(|ph| ph.busy += 1);
        Busy(p)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut now_idle = false;
        self.0.tx.send_modify(|ph| {
            ph.busy = ph.busy.saturating_sub(1);
            ph.served += 1;
            ph.since = Instant::now();
            now_idle = ph.busy == 0;
        });
        if now_idle {
            self.0.ctl.idle.store(true, Ordering::Release);
        }
    }
}

/// A response body that keeps its request counted as in flight until it
/// has been sent (or dropped).
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request body must be complete by a deadline set when its head
/// arrived; past it, reading fails (the handler answers 4xx and the
/// connection, its body unread, is closed).
struct Deadline {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(inner: Incoming, timeout: Duration) -> Deadline {
        Deadline { inner, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimeout;

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(axum::Error::new)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            metrics::counter!("saluran_http_body_timeouts_total").increment(1);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimeout))));
        }
        Poll::Pending
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
