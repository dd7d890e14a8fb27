//! The router: the WebSocket endpoint and Pusher's HTTP API (events,
//! batch events, channel queries), with signed-query authentication.

use crate::auth::verify_api_request;
use crate::hub::{PublishError, RealtimeHub};
use crate::protocol::{self, ChannelKind};
use crate::relay::{ApiState, Relay};
use crate::session;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// All routes of the hub, with their state applied: mount with
/// `Router::merge` (paths are absolute: `/app/{key}`, `/apps/{app_id}/…`).
pub fn router(hub: RealtimeHub) -> Router {
    routes(ApiState::new(hub, None))
}

/// The routes over `state` (see [`crate::relay::router_with_relay`]).
pub(crate) fn routes(state: ApiState) -> Router {
    let body_limit = state.hub.config().max_api_body_bytes;
    Router::new()
        .route("/app/{key}", get(ws_endpoint))
        .route("/apps/{app_id}/events", post(events))
        .route("/apps/{app_id}/batch_events", post(batch_events))
        .route("/apps/{app_id}/channels", get(channels))
        .route("/apps/{app_id}/channels/{channel}", get(channel))
        .route("/apps/{app_id}/channels/{channel}/users", get(channel_users))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// `{"error":{"code","message"}}`, the project's error shape.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": { "code": self.code, "message": self.message } }))).into_response()
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> ApiError {
        match e {
            PublishError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.to_string()),
            _ => ApiError::bad_request(e.to_string()),
        }
    }
}

type Params = Vec<(String, String)>;

async fn ws_endpoint(
    State(hub): State<RealtimeHub>,
    Path(key): Path<String>,
    query: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return ApiError::new(e.status(), "websocket_upgrade_required", e.body_text()).into_response(),
    };
    let Ok(Query(params)) = query else {
        return ApiError::bad_request("malformed query string").into_response();
    };
    session::upgrade(hub, &key, &params, &headers, ws)
}

/// Checks the app id and the request's signature.
fn authenticate(
    hub: &RealtimeHub,
    app_id: &str,
    method: &Method,
    uri: &OriginalUri,
    query: Result<Query<Params>, QueryRejection>,
    body: &[u8],
) -> Result<(), ApiError> {
    if app_id != hub.config().app_id {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "app_not_found", "unknown app id"));
    }
    let Ok(Query(params)) = query else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "malformed query string"));
    };
    let now = jiff::Timestamp::now().as_second();
    verify_api_request(hub.config(), method.as_str(), uri.0.path(), &params, body, now)
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()))
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "request body too large")
        } else {
            ApiError::bad_request(e.body_text())
        }
    })
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
struct EventBody {
    name: String,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    socket_id: Option<String>,
    #[serde(default)]
    info: Option<String>,
}

#[derive(Deserialize)]
struct BatchItem {
    channel: String,
    name: String,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    socket_id: Option<String>,
    #[serde(default)]
    info: Option<String>,
}

#[derive(Deserialize)]
struct BatchBody {
    batch: Vec<BatchItem>,
}

/// Requested `info` attributes (comma separated).
fn info_fields(info: Option<&str>) -> Result<(bool, bool), ApiError> {
    let mut subscription_count = false;
    let mut user_count = false;
    for field in info.unwrap_or_default().split(',').map(str::trim).filter(|f| !f.is_empty()) {
        match field {
            "subscription_count" => subscription_count = true,
            "user_count" => user_count = true,
            other => return Err(ApiError::bad_request(format!("unknown info attribute {:?}", other.chars().take(40).collect::<String>()))),
        }
    }
    Ok((subscription_count, user_count))
}

fn channel_attributes(hub: &RealtimeHub, name: &str, subscription_count: bool, user_count: bool) -> Map<String, Value> {
    let info = hub.channel_info(name);
    let mut attrs = Map::new();
    if subscription_count {
        attrs.insert("subscription_count".into(), json!(info.as_ref().map_or(0, |i| i.subscription_count)));
    }
    if user_count && ChannelKind::of(name) == ChannelKind::Presence {
        attrs.insert("user_count".into(), json!(info.as_ref().and_then(|i| i.user_count).unwrap_or(0)));
    }
    attrs
}

fn check_socket_id(socket_id: Option<&str>) -> Result<(), ApiError> {
    match socket_id {
        Some(s) if !is_socket_id(s) => Err(ApiError::bad_request("invalid socket_id")),
        _ => Ok(()),
    }
}

fn is_socket_id(s: &str) -> bool {
    s.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.len() <= 20
            && b.len() <= 20
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// `POST /apps/{app_id}/events` `{"name","data","channels"|"channel","socket_id"?,"info"?}`.
async fn events(
    State(hub): State<RealtimeHub>,
    State(relay): State<Relay>,
    Path(app_id): Path<String>,
    method: Method,
    uri: OriginalUri,
    query: Result<Query<Params>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_bytes(body)?;
    authenticate(&hub, &app_id, &method, &uri, query, &body)?;
    let ev: EventBody = parse_json(&body)?;
    let channels = match (ev.channels, ev.channel) {
        (Some(list), None) => list,
        (None, Some(one)) => vec![one],
        _ => return Err(ApiError::bad_request("give either \"channels\" (a list) or \"channel\"")),
    };
    let max = hub.config().max_event_channels;
    if channels.is_empty() || channels.len() > max {
        return Err(ApiError::bad_request(format!("\"channels\" must list 1 to {max} channels")));
    }
    check_socket_id(ev.socket_id.as_deref())?;
    let (sub_count, user_count) = info_fields(ev.info.as_deref())?;
    // Validate everything before publishing anything.
    let mut encoded = String::new();
    for channel in &channels {
        encoded = hub.check_event(channel, &ev.name, &ev.data)?;
    }
    for channel in &channels {
        relay.publish(&hub, channel, &ev.name, &encoded, ev.socket_id.as_deref());
    }
    if ev.info.is_none() {
        return Ok(Json(json!({})));
    }
    let attrs: Map<String, Value> =
        channels.iter().map(|c| (c.clone(), Value::Object(channel_attributes(&hub, c, sub_count, user_count)))).collect();
    Ok(Json(json!({ "channels": attrs })))
}

/// `POST /apps/{app_id}/batch_events` `{"batch":[{"channel","name","data","socket_id"?,"info"?}]}`.
async fn batch_events(
    State(hub): State<RealtimeHub>,
    State(relay): State<Relay>,
    Path(app_id): Path<String>,
    method: Method,
    uri: OriginalUri,
    query: Result<Query<Params>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_bytes(body)?;
    authenticate(&hub, &app_id, &method, &uri, query, &body)?;
    let batch: BatchBody = parse_json(&body)?;
    let max = hub.config().max_batch_events;
    if batch.batch.is_empty() || batch.batch.len() > max {
        return Err(ApiError::bad_request(format!("\"batch\" must hold 1 to {max} events")));
    }
    let mut checked = Vec::with_capacity(batch.batch.len());
    for item in &batch.batch {
        check_socket_id(item.socket_id.as_deref())?;
        let fields = info_fields(item.info.as_deref())?;
        checked.push((hub.check_event(&item.channel, &item.name, &item.data)?, fields));
    }
    let any_info = batch.batch.iter().any(|i| i.info.is_some());
    for (item, (encoded, _)) in batch.batch.iter().zip(&checked) {
        relay.publish(&hub, &item.channel, &item.name, encoded, item.socket_id.as_deref());
    }
    if !any_info {
        return Ok(Json(json!({})));
    }
    let infos: Vec<Value> = batch
        .batch
        .iter()
        .zip(&checked)
        .map(|(item, (_, (s, u)))| Value::Object(channel_attributes(&hub, &item.channel, *s, *u)))
        .collect();
    Ok(Json(json!({ "batch": infos })))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `GET /apps/{app_id}/channels?filter_by_prefix=&info=user_count` — occupied channels.
async fn channels(
    State(hub): State<RealtimeHub>,
    Path(app_id): Path<String>,
    method: Method,
    uri: OriginalUri,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let params = query.as_ref().map(|q| q.0.clone()).unwrap_or_default();
    authenticate(&hub, &app_id, &method, &uri, query, b"")?;
    let prefix = param(&params, "filter_by_prefix");
    let (sub_count, user_count) = info_fields(param(&params, "info"))?;
    if user_count && !prefix.is_some_and(|p| p.starts_with("presence-")) {
        return Err(ApiError::bad_request("info=user_count needs filter_by_prefix=presence-"));
    }
    let mut out = Map::new();
    for info in hub.occupied_channels(prefix) {
        let mut attrs = Map::new();
        if user_count {
            attrs.insert("user_count".into(), json!(info.user_count.unwrap_or(0)));
        }
        if sub_count {
            attrs.insert("subscription_count".into(), json!(info.subscription_count));
        }
        out.insert(info.name, Value::Object(attrs));
    }
    Ok(Json(json!({ "channels": out })))
}

/// `GET /apps/{app_id}/channels/{channel}?info=user_count,subscription_count`.
/// Beyond Pusher: `"stream": {"epoch","offset"}`, the channel's position.
async fn channel(
    State(hub): State<RealtimeHub>,
    Path((app_id, channel)): Path<(String, String)>,
    method: Method,
    uri: OriginalUri,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let params = query.as_ref().map(|q| q.0.clone()).unwrap_or_default();
    authenticate(&hub, &app_id, &method, &uri, query, b"")?;
    if !protocol::valid_channel_name(&channel) {
        return Err(ApiError::bad_request("invalid channel name"));
    }
    let (sub_count, user_count) = info_fields(param(&params, "info"))?;
    if user_count && ChannelKind::of(&channel) != ChannelKind::Presence {
        return Err(ApiError::bad_request("user_count is only available on presence channels"));
    }
    let info = hub.channel_info(&channel);
    let mut out = Map::new();
    out.insert("occupied".into(), json!(info.as_ref().is_some_and(|i| i.occupied)));
    out.extend(channel_attributes(&hub, &channel, sub_count, user_count));
    out.insert("stream".into(), json!(hub.position(&channel)));
    Ok(Json(Value::Object(out)))
}

/// `GET /apps/{app_id}/channels/{channel}/users` — presence channels only.
async fn channel_users(
    State(hub): State<RealtimeHub>,
    Path((app_id, channel)): Path<(String, String)>,
    method: Method,
    uri: OriginalUri,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    authenticate(&hub, &app_id, &method, &uri, query, b"")?;
    if ChannelKind::of(&channel) != ChannelKind::Presence {
        return Err(ApiError::bad_request("users are only available on presence channels"));
    }
    let users: Vec<Value> = hub.presence_users(&channel).into_iter().map(|id| json!({ "id": id })).collect();
    Ok(Json(json!({ "users": users })))
}
