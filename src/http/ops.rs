//! Health, metrics, the OpenAPI document and the JSON 404.

use super::error::ApiError;
use crate::app::App;
use crate::backplane::Link;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use std::time::Duration;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`, exactly the PMS's contract (DESIGN §7): 503 when a
/// required check (database, storage) fails; Redis and the channel queue
/// count are optional: when they fail the status is `degraded` (and the
/// counts are `null`).
#[utoipa::path(get, path = "/health", tag = "operations", operation_id = "health",
    summary = "Health in the PMS's contract; 503 when a required check fails",
    responses(
        (status = 200, description = "Healthy (status ok or degraded)", body = super::openapi::HealthOut),
        (status = 503, description = "A required check failed (status error)", body = super::openapi::HealthOut),
    ))]
pub async fn health(State(app): State<App>) -> impl IntoResponse {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, app.store().ping()).await {
        Ok(Ok(())) => "ok",
        _ => "error",
    };
    let redis = match app.redis() {
        None => "disabled",
        Some(client) => match tokio::time::timeout(CHECK_TIMEOUT, async {
            let mut c = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await
        {
            // Redis answers, but this node's subscription is lost (it is
            // resubscribing): events from other nodes are not reaching it.
            Ok(Ok(_)) if app.backplane().as_ref().is_some_and(|b| b.link() == Link::Down) => "error",
            Ok(Ok(_)) => "ok",
            _ => "error",
        },
    };
    let storage = if storage_ok(&app) { "ok" } else { "error" };
    // A count that could not be read is `null`, never a reassuring 0.
    let (queue_pending, queue_failed) = match tokio::time::timeout(CHECK_TIMEOUT, app.store().channel_queue_totals()).await {
        Ok(Ok((pending, failed))) => (Some(pending), Some(failed)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: channel queue count failed");
            (None, None)
        }
        Err(_) => {
            tracing::warn!("health: channel queue count timed out");
            (None, None)
        }
    };
    let healthy = database == "ok" && storage == "ok";
    let status = if !healthy {
        "error"
    } else if redis == "error" || queue_pending.is_none() {
        "degraded"
    } else {
        "ok"
    };
    let tz = jiff::tz::TimeZone::get(&app.settings().display_timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let timestamp = jiff::Timestamp::now().to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.started().elapsed().as_secs(),
        "checks": {
            "database": database, "redis": redis, "storage": storage,
            "queue_pending": queue_pending, "queue_failed": queue_failed,
            // saluran is open source: there is no licence key to check
            // (docs/decisions/0006-health-reporting.md).
            "license": "not_required",
        },
        "timestamp": timestamp,
    });
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

/// The SQLite file's folder must be writable; PostgreSQL has no local storage.
fn storage_ok(app: &App) -> bool {
    let Some(path) = app.settings().database_url.strip_prefix("sqlite://") else {
        return true;
    };
    let dir = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let probe = dir.join(".saluran-health-probe");
    let ok = std::fs::write(&probe, b"ok").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    metrics::gauge!("saluran_active_properties_registered").set(app.registry().active_count() as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.prometheus().render())
}

/// The API document as served, generated once from the code
/// (`http::openapi::document`, with the role matrix of `access::ROUTES`).
static OPENAPI_SERVED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| super::openapi::document().to_string());

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", operation_id = "openapi",
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_SERVED.as_str())
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}
