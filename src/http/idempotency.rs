//! `Idempotency-Key`: a POST retried with the same key and body gets the
//! stored response back; the same key with another body is refused (422);
//! while the first is still running, a duplicate gets 409.

use crate::app::App;
use crate::auth::hash_token;
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
    // Keys are scoped per credential; without one the handler answers 401.
    let Some(auth) = req.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return next.run(req).await;
    };
    let scope = hash_token(auth);
    let (parts, body) = req.into_parts();
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

    match app.store.idempotency_begin(&scope, &key, &request_hash).await {
        Err(e) => return ApiError::from(e).into_response(),
        Ok(IdempotencyBegin::Mismatch) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            )
            .into_response()
        }
        Ok(IdempotencyBegin::InProgress) => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed",
            )
            .into_response()
        }
        Ok(IdempotencyBegin::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return resp;
        }
        Ok(IdempotencyBegin::Fresh) => {}
    }

    let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (rparts, rbody) = resp.into_parts();
    let rbytes = match axum::body::to_bytes(rbody, MAX_STORED_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let _ = app.store.idempotency_abort(&scope, &key).await;
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "response too large to store").into_response();
        }
    };
    let stored = if should_store(rparts.status) {
        app.store.idempotency_complete(&scope, &key, rparts.status.as_u16(), &rbytes).await
    } else {
        app.store.idempotency_abort(&scope, &key).await
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "idempotency record not saved");
    }
    Response::from_parts(rparts, Body::from(rbytes))
}
