//! The HTTP/1 accept loop: connection cap, header / idle / body timeouts,
//! eviction of idle connections under pressure, an accept loop that survives
//! running out of file descriptors, and a graceful drain.
//!
//! - A connection must deliver its first request head within
//!   `header_timeout` of being accepted (slowloris), and the next one within
//!   `idle_timeout` of its previous response (keep-alive); while a request is
//!   in flight (until its response body is sent) neither applies.
//! - A request body must arrive whole within `body_timeout` of the
//!   handler's first read of it (time queued behind the concurrency limit
//!   does not count); past it the read fails with [`BodyTimeout`] (408).
//! - A response write that makes no progress for `write_timeout` (a client
//!   that stopped reading) fails the connection.
//! - Connections are closed through hyper's `graceful_shutdown` (a response
//!   being written is finished first), with a hard deadline (`grace`).
//! - At most `max_connections` connections are served (clamped below the
//!   soft `RLIMIT_NOFILE`, keeping descriptors for the database, Redis and
//!   OTA calls). When a new one
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
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    /// A response write that stays blocked this long fails the connection.
    pub write_timeout: Duration,
    /// How long a connection being closed (drain, eviction, timeout) may
    /// take to finish its response; then it is dropped. Also bounds the
    /// whole drain on shutdown.
    pub grace: Duration,
    pub max_connections: usize,
    pub tcp_nodelay: bool,
}

impl Limits {
    pub fn from_settings(s: &crate::config::Settings) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(s.http_header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(s.http_idle_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(s.http_body_timeout_secs.max(1)),
            write_timeout: Duration::from_secs(s.http_write_timeout_secs.max(1)),
            grace: Duration::from_secs(s.http_shutdown_grace_secs.max(1)),
            max_connections: s.max_http_connections.max(1),
            tcp_nodelay: s.tcp_nodelay,
        }
    }
}

/// Closed this many at once when descriptors run out.
const EVICT_ON_EMFILE: usize = 16;
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Descriptors kept free for everything that is not an HTTP connection
/// (database, Redis, OTA calls, log files): a quarter of the limit, at
/// least this many.
const MIN_FD_RESERVE: u64 = 64;

/// The soft limit on open descriptors (`RLIMIT_NOFILE`), if known.
pub fn descriptor_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every target
    Some(lim.rlim_cur as u64)
}

/// The connection cap actually used: the configured one, but never so high
/// that HTTP connections alone exhaust the descriptors (soft limit minus a
/// reserve of a quarter, at least [`MIN_FD_RESERVE`]).
pub fn effective_max_connections(configured: usize, fd_limit: Option<u64>) -> usize {
    let Some(limit) = fd_limit else { return configured.max(1) };
    let reserve = (limit / 4).max(MIN_FD_RESERVE);
    let room = limit.saturating_sub(reserve).max(1);
    configured.clamp(1, usize::try_from(room).unwrap_or(usize::MAX))
}

/// What an accept error means for the loop.
#[derive(Debug, PartialEq, Eq)]
enum AcceptError {
    /// Out of descriptors or kernel memory: close idle connections, back off.
    OutOfResources,
    /// Anything else (a connection reset before we took it, EPROTO, EPERM
    /// from a firewall, ...): log it and accept the next one.
    Other,
}

fn classify_accept_error(e: &std::io::Error) -> AcceptError {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AcceptError::OutOfResources,
        _ => AcceptError::Other,
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish (at most `limits.grace`) and
/// closes idle connections.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()> + Send + 'static) {
    serve_with(listener, router, limits, shutdown, Registry::default()).await
}

async fn serve_with(
    listener: TcpListener,
    router: Router,
    mut limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    registry: Registry,
) {
    let fd_limit = descriptor_limit();
    let configured = limits.max_connections;
    limits.max_connections = effective_max_connections(configured, fd_limit);
    metrics::gauge!("saluran_http_connections_max").set(limits.max_connections as f64);
    tracing::info!(
        max_http_connections = limits.max_connections,
        configured,
        fd_limit = fd_limit.unwrap_or(0),
        "HTTP connection cap (effective)"
    );
    let permits = Arc::new(Semaphore::new(limits.max_connections));
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
            Err(e) if classify_accept_error(&e) == AcceptError::Other => {
                metrics::counter!("saluran_http_accept_errors_total").increment(1);
                tracing::debug!(error = %e, "accept failed for one connection; accepting the next");
                continue;
            }
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
        // evict it before the task has run. The slot is released by a drop
        // guard, so a panicking handler cannot leak it.
        let slot = registry.register();
        let conn = Connection { router: router.clone(), limits, close: close_rx.clone() };
        let done = done_tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _done = done;
            conn.run(tcp, remote, slot).await;
        });
    }
    drop(listener);
    let _ = close_tx.send(true);
    drop(done_tx);
    // Every connection task holds a sender: recv() ends when all are gone.
    // Each connection gives up after `grace` on its own; this bound is the
    // backstop, so that shutdown always proceeds.
    let backstop = limits.grace + Duration::from_secs(1);
    if tokio::time::timeout(backstop, done_rx.recv()).await.is_err() {
        tracing::warn!(
            remaining = registry.len(),
            grace_secs = limits.grace.as_secs(),
            "HTTP drain deadline passed; dropping the remaining connections"
        );
    }
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

/// A connection's place in the registry and in the gauge; released when
/// dropped, also when a handler panics and unwinds the connection task.
struct Slot {
    id: u64,
    ctl: Arc<Control>,
    registry: Registry,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.conns.lock().remove(&self.id);
        metrics::gauge!("saluran_http_connections").decrement(1.0);
    }
}

impl Registry {
    fn register(&self) -> Slot {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ctl = Arc::new(Control { idle: AtomicBool::new(true), evict: Notify::new() });
        self.conns.lock().insert(id, ctl.clone());
        metrics::gauge!("saluran_http_connections").increment(1.0);
        Slot { id, ctl, registry: self.clone() }
    }
    fn len(&self) -> usize {
        self.conns.lock().len()
    }
    /// Asks up to `n` of the oldest connections with no request in flight to
    /// close (gracefully: a response still being written is finished);
    /// returns how many were asked.
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
    close: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream, remote: SocketAddr, slot: Slot) {
        let ctl = slot.ctl.clone();
        let (phase_tx, mut phase_rx) = watch::channel(Phase { busy: 0, since: Instant::now(), served: 0 });
        let phase = Arc::new(PhaseTx { tx: phase_tx, ctl: ctl.clone() });
        let io_state = Arc::new(IoState::default());
        let io = StallIo::new(tcp, self.limits.write_timeout, io_state.clone());
        let router = self.router.clone();
        let body_timeout = self.limits.body_timeout;
        let upgrade_state = io_state.clone();
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            let busy = Busy::start(phase.clone());
            let req = req.map(|b| Body::new(Deadline::new(b, body_timeout)));
            let router = router.clone();
            let upgrade_state = upgrade_state.clone();
            async move {
                let resp = router.oneshot(req).await.unwrap_or_else(|never| match never {});
                if resp.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS {
                    // The socket becomes a WebSocket: a quiet reader there is
                    // the realtime hub's business, not this timer's.
                    upgrade_state.upgraded.store(true, Ordering::Release);
                }
                Ok::<_, std::convert::Infallible>(resp.map(|b| Tracked { inner: b, _busy: busy }))
            }
        });
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc).with_upgrades();
        tokio::pin!(conn);
        let (header, idle) = (self.limits.header_timeout, self.limits.idle_timeout);
        let why = loop {
            if *self.close.borrow() {
                break "shutdown";
            }
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%remote, error = %e, "HTTP connection ended with an error");
                    }
                    return;
                }
                r = self.close.changed() => {
                    if r.is_err() {
                        // The accept loop is gone without a signal: drain too.
                        break "shutdown";
                    }
                }
                _ = expired(&mut phase_rx, header, idle) => {
                    metrics::counter!("saluran_http_connections_timed_out_total").increment(1);
                    break "header / keep-alive timeout";
                }
                _ = ctl.evict.notified() => break "making room",
            }
        };
        // Close through hyper: a connection with no request closes at once,
        // one whose response is being written finishes it (bounded by the
        // write timeout) and then closes. A head half-sent is not waited for.
        tracing::debug!(%remote, why, "closing an HTTP connection");
        conn.as_mut().graceful_shutdown();
        let hard = Instant::now() + self.limits.grace;
        let mut look = Instant::now() + Duration::from_millis(10);
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%remote, error = %e, "HTTP connection ended with an error while closing");
                    }
                    break;
                }
                _ = tokio::time::sleep_until(hard) => {
                    metrics::counter!("saluran_http_connections_dropped_total").increment(1);
                    tracing::warn!(%remote, why, grace_secs = self.limits.grace.as_secs(), "HTTP connection did not close in time; dropped");
                    break;
                }
                _ = tokio::time::sleep_until(look) => {
                    // Nothing in flight and nothing waiting to be sent: what
                    // is left is silence or a half-sent head.
                    if phase_rx.borrow().busy == 0 && !io_state.write_pending.load(Ordering::Acquire) {
                        break;
                    }
                    look = Instant::now() + Duration::from_millis(50);
                }
            }
        }
        drop(slot);
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

/// The request body must be complete `timeout` after the handler first
/// reads it (not after its head arrived: time spent queued behind the
/// concurrency limit is not the client's). A total deadline, not a
/// per-frame one: a body dripping a byte every few seconds is cut too.
/// Past it, reading fails with [`BodyTimeout`] (the handler answers 408 and
/// the connection, its body unread, is closed).
struct Deadline {
    inner: Incoming,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Deadline {
    fn new(inner: Incoming, timeout: Duration) -> Deadline {
        Deadline { inner, timeout, deadline: None }
    }
}

/// A request body did not arrive within `http_body_timeout_secs`; found in
/// the source chain of a failed body read (see `http::error`).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(axum::Error::new)));
        }
        let timeout = this.timeout;
        let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_ready() {
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

/// Shared between a connection's socket wrapper and the connection task.
#[derive(Default)]
struct IoState {
    /// A write is blocked on the client (its receive window is full).
    write_pending: AtomicBool,
    /// Upgraded to a WebSocket: the write timeout no longer applies.
    upgraded: AtomicBool,
}

/// The socket, with a write-stall timeout: a write (or flush) that stays
/// blocked for `timeout` fails with `TimedOut`, which ends the connection.
/// A client that stops reading a large answer cannot hold its connection
/// (and a drain waiting for it) forever.
struct StallIo {
    inner: TcpStream,
    timeout: Duration,
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
    state: Arc<IoState>,
}

impl StallIo {
    fn new(inner: TcpStream, timeout: Duration, state: Arc<IoState>) -> StallIo {
        StallIo { inner, timeout, stall: None, state }
    }

    fn watch<T>(&mut self, cx: &mut Context<'_>, r: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.stall = None;
                self.state.write_pending.store(false, Ordering::Release);
                Poll::Ready(r)
            }
            Poll::Pending => {
                self.state.write_pending.store(true, Ordering::Release);
                if self.state.upgraded.load(Ordering::Acquire) {
                    self.stall = None;
                    return Poll::Pending;
                }
                let timeout = self.timeout;
                let stall = self.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if stall.as_mut().poll(cx).is_ready() {
                    self.stall = None;
                    metrics::counter!("saluran_http_write_timeouts_total").increment(1);
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the client read nothing for {} s", timeout.as_secs()),
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncRead for StallIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, r)
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, r)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, r)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_quarter_of_the_descriptors_and_at_least_64() {
        assert_eq!(effective_max_connections(10_000, Some(512)), 384);
        assert_eq!(effective_max_connections(10_000, Some(1024)), 768);
        assert_eq!(effective_max_connections(10_000, Some(200)), 136);
        assert_eq!(effective_max_connections(10_000, Some(1_048_576)), 10_000);
        assert_eq!(effective_max_connections(100, Some(512)), 100);
        assert_eq!(effective_max_connections(10_000, Some(10)), 1);
        assert_eq!(effective_max_connections(10_000, None), 10_000);
    }

    #[test]
    fn only_running_out_of_descriptors_or_memory_evicts_and_backs_off() {
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(classify_accept_error(&std::io::Error::from_raw_os_error(errno)), AcceptError::OutOfResources, "{errno}");
        }
        for errno in [libc::EPROTO, libc::EPERM, libc::ENETUNREACH, libc::ECONNABORTED, libc::ECONNRESET, libc::EINTR] {
            assert_eq!(classify_accept_error(&std::io::Error::from_raw_os_error(errno)), AcceptError::Other, "{errno}");
        }
    }

    #[test]
    fn a_dropped_slot_leaves_the_registry() {
        let registry = Registry::default();
        let slot = registry.register();
        let other = registry.register();
        assert_eq!(registry.len(), 2);
        // As when a handler panics and the connection task unwinds.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _slot = slot;
            panic!("handler bug");
        }));
        assert!(unwound.is_err());
        assert_eq!(registry.len(), 1);
        drop(other);
        assert_eq!(registry.len(), 0);
    }
}
