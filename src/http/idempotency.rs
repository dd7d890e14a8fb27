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

pub const HEADER: &str = "idempotency-key";
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
    let bytes: Bytes = match axum::body::to_bytes(body, app.settings.body_limit_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large").into_response()
        }
    };
    let mut h = Sha256::new();
    h.update(parts.method.as_str());
    h.update(b" ");
    // The full path (inside `nest` the URI has lost its /api/v1 prefix).
    let path =
        parts.extensions.get::<axum::extract::OriginalUri>().map(|u| u.0.path().to_owned()).unwrap_or_else(|| parts.uri.path().to_owned());
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(&bytes);
    let request_hash = hex::encode(h.finalize());

    // From the moment the key may be recorded, the work runs in a task of
    // its own, which a dropped connection (or the request timeout) does not
    // cancel: the key is begun, the request run and its outcome recorded,
    // whatever happens to the caller. The handler runs in a further task so
    // that a panic in it is seen (as a JoinError) and the key still released.
    let request = Request::from_parts(parts, Body::from(bytes));
    let work = tokio::spawn(async move {
        match app.store.idempotency_begin(&scope, &key, &request_hash).await {
            Err(e) => ApiError::from(e).into_response(),
            Ok(IdempotencyBegin::Mismatch) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            )
            .into_response(),
            Ok(IdempotencyBegin::InProgress) => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed",
            )
            .into_response(),
            Ok(IdempotencyBegin::Replay { status, body }) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                let mut resp = (status, body).into_response();
                resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
                resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
                resp
            }
            Ok(IdempotencyBegin::Fresh) => {
                let outcome = tokio::spawn(next.run(request)).await;
                record(&app, &scope, &key, outcome).await
            }
        }
    });
    match work.await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = %e, "idempotent request task failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
        }
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
        if let Err(e) = app.store.idempotency_complete(scope, key, rparts.status.as_u16(), &rbytes).await {
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
    if let Err(e) = app.store.idempotency_abort(scope, key).await {
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
