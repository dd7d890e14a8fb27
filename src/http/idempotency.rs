//! `Idempotency-Key`: a POST retried with the same key and body gets the
//! stored response back; the same key with another body is refused (422);
//! while the first is still running, a duplicate gets 409.
//!
//! The caller is authenticated before a key is recorded. Once recorded, the
//! request runs in its own task: a client that hangs up (or the request
//! timeout) does not cancel it, and its outcome is always recorded (stored,
//! or the key released), so a retry gets the stored answer instead of 409
//! forever. Keys expire after `idempotency_ttl_secs` ([`expire_loop`]).

use crate::app::App;
use crate::auth::Caller;
use crate::http::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use saluran_domain::store::IdempotencyBegin;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

pub const HEADER: &str = "idempotency-key";
/// The 409 code of a key whose first request may or may not have been
/// applied (stopped at its time limit, or its node stopped mid-request).
pub const OUTCOME_UNKNOWN: &str = "idempotency_outcome_unknown";
/// Responses larger than this are not stored (ours are far smaller).
const MAX_STORED_BODY: usize = 256 * 1024;

fn should_store(status: StatusCode) -> bool {
    // Transient or caller-specific outcomes are not replayed: the client may
    // retry them with the same key.
    !(status.is_server_error()
        || matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS))
}

pub async fn layer(State(app): State<App>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => k.to_owned(),
        _ => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1-255 visible ASCII characters",
            )
            .into_response()
        }
    };
    // Keys are scoped per credential, and recorded only for a known one: a
    // bogus token is answered 401 here, before the store is written.
    // The scope is the hash of the token the auth layer resolved (not of the
    // raw header): `Bearer  T` and `bearer T` are the same caller as
    // `Bearer T` and share its keys.
    let (mut parts, body) = req.into_parts();
    let scope = match <Caller as axum::extract::FromRequestParts<App>>::from_request_parts(&mut parts, &app).await {
        Ok(caller) => caller.token_hash,
        Err(e) => return e.into_response(),
    };
    let bytes: Bytes = match axum::body::to_bytes(body, app.settings().body_limit_bytes).await {
        Ok(b) => b,
        Err(e) => return ApiError::body_read(&e).into_response(),
    };
    // The full path (inside `nest` the URI has lost its /api/v1 prefix).
    let path =
        parts.extensions.get::<axum::extract::OriginalUri>().map(|u| u.0.path().to_owned()).unwrap_or_else(|| parts.uri.path().to_owned());
    let request_hash = request_hash(parts.method.as_str(), &path, &bytes);

    // From the moment the key may be recorded, the work runs in a task of
    // its own, which a dropped connection (or the request timeout) does not
    // cancel: the key is begun, the request run and its outcome recorded,
    // whatever happens to the caller. The handler runs in a further task so
    // that a panic in it is seen (as a JoinError) and the key still released.
    //
    // The task holds a permit of `Tasks` (as many as the concurrency limit
    // of the normal path) for its whole life: a client that posts, hangs up
    // and repeats cannot pile up handlers; beyond the limit requests wait,
    // as they do in the normal path's concurrency limit.
    let permit = match app.idempotent().permits.clone().acquire_owned().await {
        Ok(p) => p,
        Err(_) => return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "shutting down").into_response(),
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    let limit = app.settings().request_timeout();
    let task_app = app.clone();
    let work = app.idempotent().tracker.spawn(async move {
        let _permit = permit;
        let app = task_app;
        metrics::gauge!("saluran_idempotent_requests_running").increment(1.0);
        let resp = run(&app, &scope, &key, &request_hash, request, next, limit).await;
        metrics::gauge!("saluran_idempotent_requests_running").decrement(1.0);
        resp
    });
    match work.await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = %e, "idempotent request task failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
        }
    }
}

/// The 409 for a key whose first request may or may not have been applied:
/// the client must look the resource up rather than send it again.
fn outcome_unknown(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, OUTCOME_UNKNOWN, message)
}

/// Begins the key, runs the request (at most `limit`) and records its outcome.
async fn run(app: &App, scope: &str, key: &str, request_hash: &str, request: Request, next: Next, limit: Duration) -> Response {
    match app.store().idempotency_begin(scope, key, request_hash).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(IdempotencyBegin::Mismatch) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )
        .into_response(),
        // A live node stops a request after `limit` and records its outcome
        // (or releases the key) at once; a key in progress for longer than
        // the lease was begun by a node that stopped mid-request.
        Ok(IdempotencyBegin::InProgress { age }) if age > lease(limit) => {
            tracing::warn!(key, age_secs = age.as_secs(), "idempotency key in progress past its lease");
            outcome_unknown(format!(
                "the request with this Idempotency-Key began {} s ago and never finished (its server stopped); it may or may not \
                 have been applied: look the resource up, and send it again with a new key only if it is not there",
                age.as_secs()
            ))
            .into_response()
        }
        Ok(IdempotencyBegin::InProgress { .. }) => {
            ApiError::new(StatusCode::CONFLICT, "idempotency_in_progress", "a request with this Idempotency-Key is still being processed")
                .into_response()
        }
        Ok(IdempotencyBegin::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            resp
        }
        Ok(IdempotencyBegin::Fresh) => {
            let mut handler = tokio::spawn(next.run(request));
            match tokio::time::timeout(limit, &mut handler).await {
                Ok(outcome) => record(app, scope, key, outcome).await,
                Err(_) => {
                    // Past the limit the handler is stopped (its future
                    // dropped: a store transaction it holds rolls back), but
                    // a message it already gave an actor may still be
                    // applied: the outcome is unknown, so the key is not
                    // released (a retry could apply it twice) but recorded
                    // as unknown, and retries are told to look it up.
                    handler.abort();
                    match handler.await {
                        Ok(resp) => record(app, scope, key, Ok(resp)).await,
                        Err(e) if e.is_panic() => record(app, scope, key, Err(e)).await,
                        Err(_) => {
                            tracing::warn!(key, limit_secs = limit.as_secs(), "idempotent request stopped at its time limit");
                            let err = outcome_unknown(format!(
                                "the first request with this Idempotency-Key ran longer than {} s and was stopped; it may or may \
                                 not have been applied: look the resource up, and send it again with a new key only if it is not there",
                                limit.as_secs()
                            ));
                            let body = serde_json::to_vec(&super::error::ErrorBody::of(&err)).unwrap_or_default();
                            if let Err(e) = app.store().idempotency_complete(scope, key, StatusCode::CONFLICT.as_u16(), &body).await {
                                tracing::error!(error = %e, key, "idempotency outcome not saved");
                            }
                            err.into_response()
                        }
                    }
                }
            }
        }
    }
}

/// How long a key may stay in progress before it is taken for a stopped
/// node's: twice the request time limit (a live node records or releases
/// every key within the limit plus the time to write it).
pub fn lease(limit: Duration) -> Duration {
    limit * 2
}

/// The hash a request's key is stored with: method, full path and body.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method);
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// The detached tasks of requests with an Idempotency-Key: at most as many
/// at once as the normal path's concurrency limit, and tracked, so that the
/// graceful drain waits for them (a deploy between begin and finish would
/// otherwise leave the key in progress).
pub struct Tasks {
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
}

impl Tasks {
    pub fn new(max_concurrent: usize) -> Tasks {
        Tasks { permits: Arc::new(Semaphore::new(max_concurrent.max(1))), tracker: TaskTracker::new() }
    }

    /// Idempotent requests running now.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Waits (at most `deadline`) for the running tasks to finish; new ones
    /// are refused from now on. Returns how many were still running.
    pub async fn drain(&self, deadline: Duration) -> usize {
        self.permits.close();
        self.tracker.close();
        if tokio::time::timeout(deadline, self.tracker.wait()).await.is_err() {
            let left = self.tracker.len();
            tracing::warn!(left, "idempotent requests still running at the end of the drain");
            return left;
        }
        0
    }
}

/// Stores the response under the key (or releases the key when the outcome
/// is not to be replayed) and gives the response back.
async fn record(app: &App, scope: &str, key: &str, outcome: Result<Response, tokio::task::JoinError>) -> Response {
    let resp = match outcome {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = %e, "idempotent request handler failed");
            release(app, scope, key).await;
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response();
        }
    };
    let (rparts, rbody) = resp.into_parts();
    let rbytes = match axum::body::to_bytes(rbody, MAX_STORED_BODY).await {
        Ok(b) => b,
        Err(_) => {
            release(app, scope, key).await;
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "response too large to store").into_response();
        }
    };
    if should_store(rparts.status) {
        if let Err(e) = app.store().idempotency_complete(scope, key, rparts.status.as_u16(), &rbytes).await {
            tracing::error!(error = %e, "idempotency record not saved");
            // Not stored: release the key rather than leave it in progress.
            release(app, scope, key).await;
        }
    } else {
        release(app, scope, key).await;
    }
    Response::from_parts(rparts, Body::from(rbytes))
}

async fn release(app: &App, scope: &str, key: &str) {
    if let Err(e) = app.store().idempotency_abort(scope, key).await {
        tracing::error!(error = %e, "idempotency key not released");
    }
}

/// Deletes expired keys every `ttl / 4` (at least every second, at most
/// every 10 minutes), until the store goes away.
pub async fn expire_loop(store: std::sync::Weak<dyn saluran_domain::store::Store>, ttl: std::time::Duration) {
    let every = (ttl / 4).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(600));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(store) = store.upgrade() else { return };
        match store.idempotency_expire(ttl).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(expired = n, "idempotency keys expired"),
            Err(e) => tracing::warn!(error = %e, "expiring idempotency keys failed"),
        }
    }
}
