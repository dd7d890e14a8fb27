//! HTTP routes (axum). Handlers parse requests into domain types, check the
//! caller's scope, and talk to the actor tree or the store.

pub mod access;
pub mod ari;
pub mod channels;
pub mod error;
pub mod housekeeping;
pub mod idempotency;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod realtime;
pub mod reservations;
pub mod setup;

use crate::app::App;
use crate::auth::Caller;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use error::{ApiError, ApiResult};
use saluran_actors::PropertyHandle;
use saluran_domain::property::Permission;
use saluran_domain::PropertyCode;
use std::sync::Arc;
use std::time::Instant;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// An inclusive range of dates in a response body (`{"from","to"}`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DateSpan {
    #[schema(value_type = String, format = Date)]
    from: jiff::civil::Date,
    #[schema(value_type = String, format = Date)]
    to: jiff::civil::Date,
}

impl From<saluran_domain::dates::DateRange> for DateSpan {
    fn from(r: saluran_domain::dates::DateRange) -> Self {
        DateSpan { from: r.start(), to: r.end() }
    }
}

/// `Json` whose rejections are our typed errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Form` whose rejections are our typed errors.
#[derive(FromRequest)]
#[from_request(via(axum::Form), rejection(ApiError))]
pub struct ApiForm<T>(pub T);

/// `Query` whose rejections are our typed errors.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub fn router(app: App) -> Router {
    let body_limit = app.settings().body_limit_bytes;
    let max_in_flight = app.settings().max_concurrent_requests.max(1);
    let api = Router::new()
        .route("/properties", post(setup::create_property))
        .route("/properties/{property}", get(setup::get_property).patch(setup::update_property))
        .route("/properties/{property}/room-types", post(setup::create_room_type))
        .route("/properties/{property}/rooms", post(setup::create_room))
        .route("/properties/{property}/rooms/{number}", axum::routing::patch(setup::set_room_status))
        .route("/properties/{property}/tasks", post(housekeeping::create).get(housekeeping::list))
        .route("/properties/{property}/tasks/{id}/{action}", post(housekeeping::act))
        .route("/properties/{property}/rate-plans", post(setup::create_rate_plan))
        .route("/properties/{property}/ari", post(ari::update_ari).get(ari::get_calendar))
        .route("/properties/{property}/availability", get(ari::search_availability))
        .route("/properties/{property}/reservations", post(reservations::create))
        .route("/properties/{property}/reservations/{id}", get(reservations::get_one))
        .route("/properties/{property}/reservations/{id}/cancel", post(reservations::cancel))
        .route("/properties/{property}/reservations/{id}/check-in", post(reservations::check_in))
        .route("/properties/{property}/reservations/{id}/check-out", post(reservations::check_out))
        .route("/properties/{property}/channels", post(channels::create))
        .route("/properties/{property}/channels/{channel}", get(channels::get_one))
        .route("/realtime/auth", post(realtime::auth))
        .layer(middleware::from_fn_with_state(app.clone(), idempotency::layer))
        // Outermost: the role matrix (access::ROUTES) is checked first.
        .route_layer(middleware::from_fn_with_state(app.clone(), access::enforce));
    Router::new()
        .nest("/api/v1", api)
        .route("/api/openapi.json", get(ops::openapi))
        .route("/webhooks/opentravel/{property}/{channel}", post(channels::opentravel_webhook))
        .route("/webhooks/jsonrest/{property}/{channel}", post(channels::jsonrest_notify))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/", get(pages::grid))
        .route("/housekeeping", get(pages::housekeeping))
        .route("/assets/{file}", get(pages::asset))
        .route("/manifest.webmanifest", get(pages::manifest))
        .route("/sw.js", get(pages::service_worker))
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(close_after_unread_body))
        .layer(middleware::from_fn(record_metrics))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, app.settings().request_timeout()))
        // One budget for the whole API: `Router::layer` builds the layer once per route,
        // and a plain ConcurrencyLimitLayer would give every route its own semaphore.
        .layer(GlobalConcurrencyLimitLayer::new(max_in_flight))
        .with_state(app.clone())
        // The WebSocket and Pusher HTTP API routes have their own limits.
        .merge(match app.backplane() {
            // Events sent through the Pusher HTTP API go to the other nodes too.
            Some(backplane) => saluran_ws::router_with_relay(app.realtime().clone(), Arc::new(backplane.clone())),
            None => saluran_ws::router(app.realtime().clone()),
        })
}

/// A 413 (or a 408 for a body that did not arrive in time) is sent before
/// the body was read: the rest of it is still on the
/// wire, so the connection cannot carry another request. Saying so
/// (`Connection: close`) keeps clients from reusing it and failing their next
/// request on a socket the server is closing.
async fn close_after_unread_body(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if matches!(resp.status(), axum::http::StatusCode::PAYLOAD_TOO_LARGE | axum::http::StatusCode::REQUEST_TIMEOUT) {
        resp.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    resp
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::histogram!("saluran_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("saluran_http_requests_total", "method" => method, "route" => route, "status" => status).increment(1);
    resp
}

/// Resolves a property for a caller: the token's reach and role first (so a
/// caller learns nothing about properties outside its scope beyond 403),
/// then the property itself, activated on demand.
pub async fn property_for(app: &App, caller: &Caller, code: &str, perm: Permission) -> ApiResult<PropertyHandle> {
    let code = PropertyCode::parse(code).map_err(|_| ApiError::not_found(format!("property {code} not found")))?;
    if !caller.scope.properties.is_empty() && !caller.scope.properties.contains(&code) {
        return Err(ApiError::forbidden("this token does not reach that property"));
    }
    caller.require(perm)?;
    let h = app.property(&code).await?;
    caller.require_on(perm, &h.config().property)?;
    Ok(h)
}
