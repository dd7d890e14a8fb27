//! Channel connections (property × OTA): create, read with sync status;
//! and the OTA webhooks that deliver bookings.

use super::error::{ApiError, ApiResult};
#[allow(unused_imports)] // named in the #[utoipa::path] attributes
use super::openapi::ErrorBody;
use super::{property_for, ApiJson};
use crate::app::App;
use crate::auth::Caller;
use crate::service::bookings::{ack_builder, ingest};
use crate::service::channels;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use saluran_actors::channel::ChannelMsg;
use saluran_actors::PropertyMsg;
use saluran_domain::channel::{ChannelConfig, Mapping, Profile, SyncStatus};
use saluran_domain::property::Permission;
use saluran_domain::{ChannelCode, DomainError, PropertyCode, RatePlanCode, RoomTypeCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    #[schema(value_type = ChannelCode)]
    code: String,
    #[schema(value_type = Profile)]
    profile: String,
    /// A preset of that profile (config/ota-presets); default: the profile's.
    preset: Option<String>,
    /// The OTA's base URL.
    #[schema(max_length = 500, pattern = "^https?://[^/]")]
    endpoint: String,
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$")]
    hotel_code: String,
    /// What the transport sends the OTA (sealed at rest, never returned).
    credentials: BTreeMap<String, String>,
    webhook_auth: WebhookAuth,
    mappings: Vec<MappingBody>,
}

/// HTTP Basic credentials the OTA uses on the webhooks.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookAuth {
    #[schema(min_length = 1)]
    username: String,
    #[schema(min_length = 8)]
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingBody {
    #[schema(value_type = RoomTypeCode)]
    room_type: String,
    #[schema(value_type = RatePlanCode)]
    rate_plan: String,
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$")]
    ota_room: String,
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$")]
    ota_rate: String,
}

fn ota_code(field: &str, s: &str) -> Result<String, DomainError> {
    if s.is_empty() || s.len() > 64 || s.chars().any(|c| c.is_control()) {
        return Err(DomainError::invalid(field, "must be 1-64 printable characters"));
    }
    Ok(s.to_owned())
}

// Response bodies. Fields are in alphabetical order: the bodies used to be
// `json!` maps (sorted keys), and clients see the same bytes.

/// A channel connection (credentials and the webhook password are never
/// returned).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelOut {
    code: ChannelCode,
    #[schema(value_type = String, format = DateTime)]
    created_at: jiff::Timestamp,
    endpoint: String,
    hotel_code: String,
    mappings: Vec<MappingOut>,
    preset: String,
    #[schema(inline)]
    profile: Profile,
    /// With GET only (absent from the POST answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    sync: Option<SyncOut>,
    webhook_username: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MappingOut {
    ota_rate: String,
    ota_room: String,
    rate_plan: RatePlanCode,
    room_type: RoomTypeCode,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SyncOut {
    consecutive_failures: i64,
    dead_letters: i64,
    failures: i64,
    lag_ms: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    last_attempt_at: Option<jiff::Timestamp>,
    /// An HTTP status or a short reason, never any part of the OTA's answer.
    last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    last_success_at: Option<jiff::Timestamp>,
    pending_cells: i64,
    requests_sent: i64,
}

impl SyncOut {
    /// `now` is when the answer is written: the lag is measured to it.
    fn new(s: &SyncStatus, now: jiff::Timestamp) -> Self {
        let lag = s.last_success_at.map(|t| (now.as_millisecond() - t.as_millisecond()).max(0));
        SyncOut {
            consecutive_failures: s.consecutive_failures,
            dead_letters: s.dead_letters,
            failures: s.total_failures,
            // Nothing waiting: the OTA has everything, whenever it got it.
            lag_ms: if s.pending_cells > 0 { lag } else { Some(0) },
            last_attempt_at: s.last_attempt_at,
            last_error: s.last_error.clone(),
            last_success_at: s.last_success_at,
            pending_cells: s.pending_cells,
            requests_sent: s.requests_sent,
        }
    }
}

impl ChannelOut {
    fn new(c: &ChannelConfig, sync: Option<SyncOut>) -> Self {
        ChannelOut {
            code: c.code.clone(),
            created_at: c.created_at,
            endpoint: c.endpoint.clone(),
            hotel_code: c.hotel_code.clone(),
            mappings: c
                .mappings
                .iter()
                .map(|m| MappingOut {
                    ota_rate: m.ota_rate.clone(),
                    ota_room: m.ota_room.clone(),
                    rate_plan: m.rate_plan.clone(),
                    room_type: m.room_type.clone(),
                })
                .collect(),
            preset: c.preset.clone(),
            profile: c.profile,
            sync,
            webhook_username: c.webhook_username.clone(),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/properties/{property}/channels", tag = "channels", operation_id = "create_channel",
    summary = "Connect an OTA (property × OTA channel). Credentials and the webhook password are sealed (AES-256-GCM) at rest and never returned.",
    params(("property" = PropertyCode, Path, description = "Property code")),
    request_body = NewChannel,
    responses(
        (status = 201, description = "Connected", body = ChannelOut),
        (status = 409, description = "A channel with this code exists: already_exists", body = ErrorBody),
        (status = 422, description = "invalid_field, unknown_room_type, unknown_rate_plan, invalid_body", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewChannel>,
) -> ApiResult<impl IntoResponse> {
    let h = property_for(&app, &caller, &code, Permission::ManageChannels).await?;
    let cfg = h.config();
    let profile =
        Profile::parse(&body.profile).ok_or_else(|| DomainError::invalid("profile", "must be one of opentravel, alpinebits, jsonrest"))?;
    let preset = app.presets().for_channel(body.preset.as_deref(), profile).ok_or_else(|| {
        DomainError::invalid("preset", format!("no {} preset named {:?}", profile.as_str(), body.preset.as_deref().unwrap_or("")))
    })?;
    let endpoint = body.endpoint.trim_end_matches('/').to_owned();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) || endpoint.len() > 500 {
        return Err(DomainError::invalid("endpoint", "must be an http(s) URL").into());
    }
    if body.webhook_auth.username.is_empty() || body.webhook_auth.password.len() < 8 {
        return Err(DomainError::invalid("webhook_auth", "a user name and a password of at least 8 characters").into());
    }
    let mut mappings = Vec::new();
    for (i, m) in body.mappings.into_iter().enumerate() {
        let field = |f: &str| format!("mappings[{i}].{f}");
        let room_type = RoomTypeCode::parse(m.room_type).map_err(|_| DomainError::invalid(field("room_type"), "not a room type code"))?;
        let rate_plan = RatePlanCode::parse(m.rate_plan).map_err(|_| DomainError::invalid(field("rate_plan"), "not a rate plan code"))?;
        if cfg.room_type(room_type.as_str()).is_none() {
            return Err(DomainError::UnknownRoomType(room_type.to_string()).into());
        }
        if cfg.rate_plan(rate_plan.as_str()).is_none_or(|p| p.room_type != room_type) {
            return Err(DomainError::UnknownRatePlan(format!("{rate_plan} (room type {room_type})")).into());
        }
        mappings.push(Mapping {
            room_type,
            rate_plan,
            ota_room: ota_code(&field("ota_room"), &m.ota_room)?,
            ota_rate: ota_code(&field("ota_rate"), &m.ota_rate)?,
        });
    }
    let credentials =
        serde_json::to_vec(&body.credentials).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()))?;
    let channel = ChannelConfig {
        property: h.code().clone(),
        code: ChannelCode::parse(body.code)?,
        profile,
        preset: preset.name.clone(),
        endpoint,
        hotel_code: ota_code("hotel_code", &body.hotel_code)?,
        sealed_credentials: app.sealer().seal(&credentials),
        webhook_username: body.webhook_auth.username,
        sealed_webhook_secret: app.sealer().seal(body.webhook_auth.password.as_bytes()),
        mappings,
        created_at: app.deps().clock.now(),
    };
    let out = ChannelOut::new(&channel, None);
    channels::connect(app.deps(), &h, channel).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(get, path = "/api/v1/properties/{property}/channels/{channel}", tag = "channels", operation_id = "get_channel",
    summary = "A connection and its sync status: last success, lag, pending cells, failures, dead letters",
    description = "sync.last_error is an HTTP status or a short reason (\"transient: HTTP 500\", \"transient: timeout\", \
        \"transient: connection refused\", \"rejected: invalid answer: <codec error code>\", \"rejected: OTA refused: <numeric \
        OTA error codes>\", \"rejected: HTTP 4xx\" whatever the answer's size, \"transient: HTTP 200: answer larger than <preset \
        max_answer_bytes / max_feed_bytes> bytes\"), never any part of the OTA's answer",
    params(("property" = PropertyCode, Path, description = "Property code"), ("channel" = ChannelCode, Path, description = "Channel code")),
    responses((status = 200, description = "The connection", body = ChannelOut)))]
pub async fn get_one(State(app): State<App>, caller: Caller, Path((code, channel)): Path<(String, String)>) -> ApiResult<Json<ChannelOut>> {
    let h = property_for(&app, &caller, &code, Permission::ReadProperty).await?;
    let channel = ChannelCode::parse(channel).map_err(|_| ApiError::not_found("channel not found"))?;
    let (config, status) = channels::status(app.deps(), &h, &channel).await?;
    Ok(Json(ChannelOut::new(&config, Some(SyncOut::new(&status, jiff::Timestamp::now())))))
}

/// The channel behind a webhook, authenticated with HTTP Basic before the
/// body is looked at (constant-time comparison of the password).
async fn webhook_channel(
    app: &App,
    property: &str,
    channel: &str,
    headers: &HeaderMap,
    profile: Profile,
) -> Result<(saluran_actors::PropertyHandle, ChannelConfig), Response> {
    let unauthorized =
        || (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"saluran\"")], "unauthorized").into_response();
    let (Ok(property), Ok(channel)) = (PropertyCode::parse(property), ChannelCode::parse(channel)) else {
        return Err(unauthorized());
    };
    let Some((user, pass)) = basic_credentials(headers) else {
        return Err(unauthorized());
    };
    let configs = app.store().list_channels(&property).await.map_err(|e| ApiError::from(e).into_response())?;
    let Some(config) = configs.into_iter().find(|c| c.code == channel && c.profile == profile) else {
        return Err(unauthorized());
    };
    let secret = app.sealer().open(&config.sealed_webhook_secret).map_err(|_| unauthorized())?;
    let user_ok = constant_time_eq(user.as_bytes(), config.webhook_username.as_bytes());
    let pass_ok = constant_time_eq(pass.as_bytes(), &secret);
    if !(user_ok && pass_ok) {
        metrics::counter!("saluran_webhook_auth_failures_total").increment(1);
        return Err(unauthorized());
    }
    let handle = app.property(&property).await.map_err(|e| ApiError::from(e).into_response())?;
    Ok((handle, config))
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The JSON REST webhook's errors: `bad_signature` or the codec's error code.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookError {
    #[schema(inline)]
    error: WebhookErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookErrorDetail {
    code: &'static str,
    message: String,
}

impl WebhookError {
    fn new(code: &'static str, message: String) -> Self {
        WebhookError { error: WebhookErrorDetail { code, message } }
    }
}

/// `{"accepted": true}`: the notification was taken.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    accepted: bool,
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
}

#[utoipa::path(post, path = "/webhooks/opentravel/{property}/{channel}", tag = "webhooks", operation_id = "opentravel_webhook",
    summary = "OTA booking push: OTA_HotelResNotifRQ / OTA_HotelResModifyNotifRQ / OTA_CancelRQ (HTTP Basic from webhook_auth). \
        Answers the matching RS after commit; a redelivery gets the original RS.",
    params(("property" = PropertyCode, Path, description = "Property code"), ("channel" = ChannelCode, Path, description = "Channel code")),
    request_body(content = String, content_type = "application/xml"),
    security(("webhook_basic" = [])),
    responses(
        (status = 200, description = "The RS acknowledgement", body = String, content_type = "application/xml"),
        (status = 400, description = "Refused XML: an RS with the error", body = String, content_type = "application/xml"),
        (status = 401, description = "Unknown channel or wrong credentials", body = String, content_type = "text/plain"),
        (status = 409, description = "Refused booking: an RS with the error", body = String, content_type = "application/xml"),
        (status = 413, description = "The body is larger than body_limit_bytes", body = String, content_type = "text/plain"),
        (status = 422, description = "Another hotel, or a booking saluran cannot map: an RS with the error", body = String, content_type = "application/xml"),
        (status = 503, description = "Not durable yet: retry (an RS with the error, or a JSON error before the channel is known)", body = String, content_type = "application/xml"),
    ))]
/// `POST /webhooks/opentravel/{property}/{channel}`: OTA_HotelResNotifRQ,
/// OTA_HotelResModifyNotifRQ or OTA_CancelRQ in; the matching RS out, after
/// the booking is durable.
pub async fn opentravel_webhook(
    State(app): State<App>,
    Path((property, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use saluran_channels::opentravel;
    let (handle, config) = match webhook_channel(&app, &property, &channel, &headers, Profile::Opentravel).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let started = std::time::Instant::now();
    let message = match opentravel::parse_booking_message(&body, app.xml_limits()) {
        Ok(m) => m,
        Err(e) => {
            metrics::counter!("saluran_webhook_rejected_total", "reason" => e.code()).increment(1);
            tracing::warn!(property = %handle.code(), channel = %config.code, error = %e, "refused an OTA message");
            return xml(StatusCode::BAD_REQUEST, opentravel::error_rs_for_request(&body, app.xml_limits(), e.code(), &e.to_string()));
        }
    };
    let echo = message.echo_token.clone();
    let mut last_ack = String::new();
    for booking in &message.bookings {
        if !booking.hotel_code.is_empty() && booking.hotel_code != config.hotel_code {
            return xml(
                StatusCode::UNPROCESSABLE_ENTITY,
                opentravel::error_rs(booking.action, echo.as_deref(), "hotel_mismatch", "the message is for another hotel"),
            );
        }
        let (action, ota_id, echo_for_ack) = (booking.action, booking.ota_reservation_id.clone(), echo.clone());
        let ack = ack_builder(move |ours| {
            opentravel::booking_ack_rs(action, echo_for_ack.as_deref(), &ota_id, ours.unwrap_or(&ota_id), jiff::Timestamp::now())
        });
        match ingest(app.deps(), &handle, &config, booking, ack).await {
            Ok(done) => last_ack = done.ack,
            Err(e) => {
                let e = ApiError::from(e);
                metrics::histogram!("saluran_webhook_seconds", "profile" => "opentravel").record(started.elapsed().as_secs_f64());
                return xml(e.status, opentravel::error_rs(booking.action, echo.as_deref(), e.code, &e.message));
            }
        }
    }
    metrics::histogram!("saluran_webhook_seconds", "profile" => "opentravel").record(started.elapsed().as_secs_f64());
    xml(StatusCode::OK, last_ack)
}

#[utoipa::path(post, path = "/webhooks/jsonrest/{property}/{channel}", tag = "webhooks", operation_id = "jsonrest_notify",
    summary = "Notify that booking revisions wait in the OTA's feed. X-Saluran-Timestamp + X-Saluran-Signature: hex HMAC-SHA256 over \
        timestamp + '.' + body with the webhook password, 300 s window.",
    params(("property" = PropertyCode, Path, description = "Property code"), ("channel" = ChannelCode, Path, description = "Channel code"),
        ("X-Saluran-Timestamp" = i64, Header, description = "Unix seconds"),
        ("X-Saluran-Signature" = String, Header, description = "hex HMAC-SHA256")),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 202, description = "The connection polls its feed", body = Accepted),
        (status = 400, description = "Not a notification (a codec error code)", body = WebhookError),
        (status = 401, description = "bad_signature", body = WebhookError),
        (status = 413, description = "The body is larger than body_limit_bytes", body = String, content_type = "text/plain"),
        (status = 503, description = "temporarily_unavailable", body = ErrorBody),
    ))]
/// `POST /webhooks/jsonrest/{property}/{channel}`: the OTA says new booking
/// revisions are waiting. Authenticated by HMAC-SHA256 over
/// `timestamp + "." + body` with the connection's webhook secret (300 s
/// window) before the body is read; then the connection polls its feed.
pub async fn jsonrest_notify(
    State(app): State<App>,
    Path((property, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use saluran_channels::signature;
    let unauthorized = |why: &str| (StatusCode::UNAUTHORIZED, Json(WebhookError::new("bad_signature", why.to_owned()))).into_response();
    let (Ok(property), Ok(channel)) = (PropertyCode::parse(property), ChannelCode::parse(channel)) else {
        return unauthorized("unknown channel");
    };
    let ts = headers.get(signature::TIMESTAMP_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let sig = headers.get(signature::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(sig)) = (ts, sig) else {
        return unauthorized("missing signature headers");
    };
    let configs = match app.store().list_channels(&property).await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(config) = configs.into_iter().find(|c| c.code == channel && c.profile == Profile::Jsonrest) else {
        return unauthorized("unknown channel");
    };
    let Ok(secret) = app.sealer().open(&config.sealed_webhook_secret) else {
        return unauthorized("unknown channel");
    };
    let now = app.deps().clock.now().as_second();
    if let Err(e) = signature::verify(&secret, ts, &body, sig, now, signature::DEFAULT_WINDOW_SECS) {
        metrics::counter!("saluran_webhook_auth_failures_total").increment(1);
        return unauthorized(&e.to_string());
    }
    if let Err(e) = saluran_channels::jsonrest::parse_notify(&body, app.xml_limits()) {
        return (StatusCode::BAD_REQUEST, Json(WebhookError::new(e.code(), e.to_string()))).into_response();
    }
    let handle = match app.property(&property).await {
        Ok(h) => h,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Ok(Some(actor)) = handle.call(app.deps().call_timeout, |reply| PropertyMsg::ChannelStatus { code: channel, reply }).await {
        let _ = actor.send_message(ChannelMsg::Poll);
    }
    (StatusCode::ACCEPTED, Json(Accepted { accepted: true })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the handlers wrote before the body had a type (with the lag
    /// measured to `now` instead of the clock, so the two can be compared).
    fn channel_json(c: &ChannelConfig, status: Option<&SyncStatus>, now: jiff::Timestamp) -> serde_json::Value {
        let mut v = json!({
            "code": c.code, "profile": c.profile.as_str(), "preset": c.preset, "endpoint": c.endpoint,
            "hotel_code": c.hotel_code, "webhook_username": c.webhook_username,
            "mappings": c.mappings.iter().map(|m| json!({"room_type": m.room_type, "rate_plan": m.rate_plan, "ota_room": m.ota_room, "ota_rate": m.ota_rate})).collect::<Vec<_>>(),
            "created_at": c.created_at,
        });
        if let Some(s) = status {
            let lag = s.last_success_at.map(|t| (now.as_millisecond() - t.as_millisecond()).max(0));
            v["sync"] = json!({
                "last_success_at": s.last_success_at, "last_attempt_at": s.last_attempt_at,
                "lag_ms": if s.pending_cells > 0 { lag } else { Some(0) },
                "pending_cells": s.pending_cells, "failures": s.total_failures, "consecutive_failures": s.consecutive_failures,
                "dead_letters": s.dead_letters, "last_error": s.last_error, "requests_sent": s.requests_sent,
            });
        }
        v
    }

    #[test]
    fn channel_bodies_are_byte_for_byte_what_they_were() {
        let now: jiff::Timestamp = "2026-12-04T06:00:00Z".parse().unwrap();
        for profile in [Profile::Opentravel, Profile::Alpinebits, Profile::Jsonrest] {
            let c = ChannelConfig {
                property: PropertyCode::parse("BALI1").unwrap(),
                code: ChannelCode::parse("booking").unwrap(),
                profile,
                preset: "default".into(),
                endpoint: "http://127.0.0.1:9000".into(),
                hotel_code: "H \"1\"".into(),
                sealed_credentials: vec![1, 2],
                webhook_username: "ota".into(),
                sealed_webhook_secret: vec![3],
                mappings: vec![Mapping {
                    room_type: RoomTypeCode::parse("DLX").unwrap(),
                    rate_plan: RatePlanCode::parse("BAR").unwrap(),
                    ota_room: "R1".into(),
                    ota_rate: "RA".into(),
                }],
                created_at: "2026-12-01T10:00:00.25Z".parse().unwrap(),
            };
            assert_eq!(serde_json::to_string(&ChannelOut::new(&c, None)).unwrap(), channel_json(&c, None, now).to_string());
            let statuses = [
                SyncStatus::default(),
                SyncStatus {
                    last_success_at: Some("2026-12-04T05:59:58Z".parse().unwrap()),
                    last_attempt_at: Some("2026-12-04T05:59:59Z".parse().unwrap()),
                    pending_cells: 12,
                    consecutive_failures: 2,
                    total_failures: 5,
                    dead_letters: 1,
                    last_error: Some("transient: HTTP 500".into()),
                    requests_sent: 40,
                },
                SyncStatus { pending_cells: 3, ..SyncStatus::default() },
            ];
            for s in &statuses {
                let typed = ChannelOut::new(&c, Some(SyncOut::new(s, now)));
                assert_eq!(serde_json::to_string(&typed).unwrap(), channel_json(&c, Some(s), now).to_string());
            }
        }
    }

    #[test]
    fn webhook_bodies_are_byte_for_byte_what_they_were() {
        let old = json!({"error": {"code": "bad_signature", "message": "unknown channel"}}).to_string();
        assert_eq!(serde_json::to_string(&WebhookError::new("bad_signature", "unknown channel".into())).unwrap(), old);
        assert_eq!(serde_json::to_string(&Accepted { accepted: true }).unwrap(), json!({"accepted": true}).to_string());
    }
}
