//! The accept loop. Hyper is driven directly (not `axum::serve`) so a handler can
//! ask for the connection to be dropped without any response (the `reset` and
//! `timeout` faults): a response carrying [`ResetConnection`] in its extensions
//! becomes a service error, and hyper closes the connection without writing.

use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Put in a response's extensions to drop the connection instead of answering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the simulator (injected fault)")
    }
}

impl std::error::Error for ResetConnection {}

pub(crate) fn reset_response() -> axum::response::Response {
    let mut r = axum::response::Response::new(axum::body::Body::empty());
    r.extensions_mut().insert(ResetConnection);
    r
}

pub(crate) async fn accept_loop(listener: TcpListener, app: Router, shutdown: CancellationToken, conns: TaskTracker) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off a little.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let shutdown = shutdown.clone();
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let app = app.clone();
                async move {
                    let resp = match app.oneshot(req).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    if resp.extensions().get::<ResetConnection>().is_some() {
                        Err(ResetConnection)
                    } else {
                        Ok::<_, ResetConnection>(resp)
                    }
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
                }
            }
        });
    }
}
