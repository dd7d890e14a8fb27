//! Health, metrics, the OpenAPI document and the JSON 404.

use super::error::ApiError;
use crate::app::App;
use crate::backplane::Link;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use std::time::Duration;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`, exactly the PMS's contract (DESIGN §7): 503 when a
/// required check (database, storage) fails; Redis and the channel queue
/// count are optional: when they fail the status is `degraded` (and the
/// counts are `null`).
#[utoipa::path(get, path = "/health", tag = "operations", operation_id = "health",
    summary = "Health in the PMS's contract; 503 when a required check fails",
    responses(
        (status = 200, description = "Healthy (status ok or degraded)", body = HealthOut),
        (status = 503, description = "A required check failed (status error)", body = HealthOut),
    ))]
pub async fn health(State(app): State<App>) -> impl IntoResponse {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, app.store().ping()).await {
        Ok(Ok(())) => CheckStatus::Ok,
        _ => CheckStatus::Error,
    };
    let redis = match app.redis() {
        None => RedisCheck::Disabled,
        Some(client) => match tokio::time::timeout(CHECK_TIMEOUT, async {
            let mut c = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await
        {
            // Redis answers, but this node's subscription is lost (it is
            // resubscribing): events from other nodes are not reaching it.
            Ok(Ok(_)) if app.backplane().as_ref().is_some_and(|b| b.link() == Link::Down) => RedisCheck::Error,
            Ok(Ok(_)) => RedisCheck::Ok,
            _ => RedisCheck::Error,
        },
    };
    let storage = if storage_ok(&app) { CheckStatus::Ok } else { CheckStatus::Error };
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
    let healthy = database == CheckStatus::Ok && storage == CheckStatus::Ok;
    let status = if !healthy {
        HealthStatus::Error
    } else if redis == RedisCheck::Error || queue_pending.is_none() {
        HealthStatus::Degraded
    } else {
        HealthStatus::Ok
    };
    let tz = jiff::tz::TimeZone::get(&app.settings().display_timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let timestamp = jiff::Timestamp::now().to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let body = HealthOut {
        checks: HealthChecks {
            database,
            // saluran is open source: there is no licence key to check
            // (docs/decisions/0006-health-reporting.md).
            license: "not_required",
            queue_failed,
            queue_pending,
            redis,
            storage,
        },
        status,
        timestamp,
        uptime_seconds: app.started().elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

// `GET /health`'s body, the PMS's contract. Fields are in alphabetical
// order: the body used to be a `json!` map (sorted keys), and the PMS sees
// the same bytes.

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthOut {
    checks: HealthChecks,
    status: HealthStatus,
    /// The display time zone's local time, with its offset.
    #[schema(format = DateTime)]
    timestamp: String,
    uptime_seconds: u64,
    version: &'static str,
}

#[derive(Serialize, utoipa::ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Degraded,
    Error,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthChecks {
    #[schema(inline)]
    database: CheckStatus,
    #[schema(pattern = "^not_required$")]
    license: &'static str,
    queue_failed: Option<i64>,
    /// Null when it could not be read.
    queue_pending: Option<i64>,
    /// `disabled` without REDIS_URL.
    #[schema(inline)]
    redis: RedisCheck,
    #[schema(inline)]
    storage: CheckStatus,
}

#[derive(Serialize, utoipa::ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Error,
}

#[derive(Serialize, utoipa::ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RedisCheck {
    Ok,
    Error,
    Disabled,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_health_body_is_byte_for_byte_what_it_was() {
        let cases = [
            (CheckStatus::Ok, "ok", RedisCheck::Disabled, "disabled", Some(3), HealthStatus::Ok, "ok"),
            (CheckStatus::Ok, "ok", RedisCheck::Error, "error", None, HealthStatus::Degraded, "degraded"),
            (CheckStatus::Error, "error", RedisCheck::Ok, "ok", Some(0), HealthStatus::Error, "error"),
        ];
        for (check, check_s, redis, redis_s, queue, status, status_s) in cases {
            let old = json!({
                "status": status_s,
                "version": env!("CARGO_PKG_VERSION"),
                "uptime_seconds": 12,
                "checks": {
                    "database": check_s, "redis": redis_s, "storage": check_s,
                    "queue_pending": queue, "queue_failed": queue.map(|_: i64| 1i64),
                    "license": "not_required",
                },
                "timestamp": "2026-12-04T13:00:00+08:00",
            });
            let typed = HealthOut {
                checks: HealthChecks {
                    database: check,
                    license: "not_required",
                    queue_failed: queue.map(|_| 1),
                    queue_pending: queue,
                    redis,
                    storage: check,
                },
                status,
                timestamp: "2026-12-04T13:00:00+08:00".into(),
                uptime_seconds: 12,
                version: env!("CARGO_PKG_VERSION"),
            };
            assert_eq!(serde_json::to_string(&typed).unwrap(), old.to_string());
        }
    }
}
