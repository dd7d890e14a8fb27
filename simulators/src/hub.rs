//! The endpoints the hub calls, per profile, and the pipeline every such request
//! goes through: latency → fault → auth (401) → rate limit (429) → body cap (413)
//! → parse and validate (400 with the profile's error RS) → apply → success RS.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use governor::clock::Clock;

use crate::codec::{self, AriMessage, Refusal};
use crate::faults::FaultKind;
use crate::server::reset_response;
use crate::view::MAX_CELLS_PER_MESSAGE;
use crate::{Profile, Shared};

type Sh = Arc<Shared>;

pub(crate) fn routes(profile: Profile) -> Router<Sh> {
    match profile {
        Profile::Opentravel => {
            Router::new().route("/OTA_HotelAvailNotif", post(ot_avail)).route("/OTA_HotelRateAmountNotif", post(ot_rate))
        }
        Profile::Alpinebits => Router::new().route("/alpinebits", post(alpinebits)),
        Profile::Jsonrest => Router::new()
            .route("/api/ari", post(jr_ari))
            .route("/api/booking_revisions/feed", get(jr_feed))
            .route("/api/booking_revisions/{id}/ack", post(jr_ack)),
    }
}

/// How errors look in a profile.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Style {
    /// An OpenTravel RS with `Errors/Error` (the RS root element is given).
    Ota(&'static str),
    /// AlpineBits: `text/plain` `ERROR:message` (before the action is known).
    Alpine,
    /// AlpineBits FreeRooms: `OTA_HotelInvCountNotifRS` with `Errors`.
    FreeRooms,
    /// `{"errors":{"code","title"}}`.
    Json,
}

/// Overrides the endpoint name under which `/_sim/stats` counts a request.
#[derive(Debug, Clone)]
struct Label(String);

const XML: &str = "application/xml; charset=utf-8";

pub(crate) fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(XML))], body).into_response()
}

pub(crate) fn refuse(style: Style, status: StatusCode, code: &str, message: &str, echo: Option<&str>) -> Response {
    match style {
        Style::Ota(root) => xml(status, codec::ot_error(root, echo, code, message)),
        Style::FreeRooms => xml(status, codec::ab_freerooms_error(code, message)),
        Style::Alpine => (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("ERROR:{message}")).into_response(),
        Style::Json => (status, axum::Json(serde_json::json!({"errors": {"code": code, "title": message}}))).into_response(),
    }
}

fn refuse_with(style: Style, r: &Refusal, echo: Option<&str>) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    refuse(style, status, &r.code, &r.message, echo)
}

/// Sleeps, unless the simulator is stopping. Returns false when cancelled.
async fn pause(sh: &Shared, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = sh.shutdown.cancelled() => false,
    }
}

fn authorized(sh: &Shared, headers: &HeaderMap) -> bool {
    match sh.cfg.profile {
        Profile::Jsonrest => {
            ["x-api-key", "user-api-key"].iter().filter_map(|h| headers.get(*h)).any(|v| v.as_bytes() == sh.cfg.password.as_bytes())
        }
        Profile::Opentravel | Profile::Alpinebits => {
            let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
            let Some(b64) = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")) else { return false };
            let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else { return false };
            let Ok(s) = String::from_utf8(raw) else { return false };
            match s.split_once(':') {
                Some((u, p)) => u == sh.cfg.username && p == sh.cfg.password,
                None => false,
            }
        }
    }
}

/// The endpoints that carry ARI pushes, counted by `ari_in_flight` (AlpineBits
/// multiplexes pushes and pulls on one endpoint, so it is not counted).
const ARI_ENDPOINTS: [&str; 3] = ["OTA_HotelAvailNotif", "OTA_HotelRateAmountNotif", "api/ari"];

/// Counts one ARI request in flight for as long as it lives: dropped when the
/// request is answered, or when the client goes away and the handler with it.
struct AriInFlight(Sh);

impl AriInFlight {
    fn enter(sh: &Sh) -> Self {
        sh.stats.lock().ari_started();
        AriInFlight(sh.clone())
    }
}

impl Drop for AriInFlight {
    fn drop(&mut self) {
        self.0.stats.lock().ari_ended();
    }
}

/// The common pipeline of every hub-facing request.
async fn pipeline<F, Fut>(sh: Sh, endpoint: &'static str, style: Style, req: Request, handler: F) -> Response
where
    F: FnOnce(Sh, Parts, Bytes) -> Fut,
    Fut: Future<Output = Response>,
{
    let _in_flight = ARI_ENDPOINTS.contains(&endpoint).then(|| AriInFlight::enter(&sh));
    let (resp, status) = pipeline_inner(&sh, style, req, handler).await;
    let label = resp.extensions().get::<Label>().map(|l| l.0.clone());
    sh.stats.lock().record(label.as_deref().unwrap_or(endpoint), &status);
    resp
}

async fn pipeline_inner<F, Fut>(sh: &Sh, style: Style, req: Request, handler: F) -> (Response, String)
where
    F: FnOnce(Sh, Parts, Bytes) -> Fut,
    Fut: Future<Output = Response>,
{
    let faults = sh.faults.lock().clone();
    if faults.latency_ms > 0 && !pause(sh, Duration::from_millis(faults.latency_ms)).await {
        return (reset_response(), "reset".into());
    }
    if let Some(kind) = faults.roll() {
        *sh.stats.lock().faults.entry(kind.as_str().to_string()).or_default() += 1;
        let resp = match kind {
            FaultKind::TooManyRequests => {
                let mut r = refuse(style, StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests (injected)", None);
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            FaultKind::ServerError => refuse(style, StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error (injected)", None),
            FaultKind::Unavailable => {
                let mut r = refuse(style, StatusCode::SERVICE_UNAVAILABLE, "unavailable", "service unavailable (injected)", None);
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            FaultKind::Timeout => {
                pause(sh, Duration::from_millis(faults.timeout_ms)).await;
                reset_response()
            }
            FaultKind::Reset => reset_response(),
            FaultKind::Oversized => oversized_response(sh.clone(), faults.oversized_bytes),
        };
        return (resp, kind.as_str().to_string());
    }
    if !authorized(sh, req.headers()) {
        let mut r = refuse(style, StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong credentials", None);
        if !matches!(sh.cfg.profile, Profile::Jsonrest) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ota-simulator\""));
        }
        return (r, "401".into());
    }
    let limiter = sh.limiter.lock().clone();
    if let Some(limiter) = limiter {
        if let Err(not_until) = limiter.check() {
            let wait = not_until.wait_time_from(limiter.clock().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            sh.stats.lock().rate_limited += 1;
            let mut r = refuse(style, StatusCode::TOO_MANY_REQUESTS, "rate_limited", "rate limit exceeded", None);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return (r, "429".into());
        }
    }
    let (parts, body) = req.into_parts();
    let limit = sh.cfg.body_limit;
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        sh.stats.lock().messages_refused += 1;
        let msg = format!("body exceeds {limit} bytes");
        (refuse(style, StatusCode::PAYLOAD_TOO_LARGE, "too_large", &msg, None), "413".to_string())
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };
    let resp = handler(sh.clone(), parts, bytes).await;
    let status = resp.status();
    if status.is_client_error() {
        sh.stats.lock().messages_refused += 1;
    }
    (resp, status.as_u16().to_string())
}

/// 200 with `bytes` of filler, streamed in 64 KiB chunks as the client reads (no
/// `Content-Length`): the simulator holds one chunk, whatever the size.
fn oversized_response(sh: Sh, bytes: u64) -> Response {
    const CHUNK: usize = 64 << 10;
    static FILLER: [u8; CHUNK] = [b' '; CHUNK];
    let chunks = bytes.div_ceil(CHUNK as u64);
    let stream = futures_util::stream::iter((0..chunks).map(move |i| {
        let len = if i + 1 == chunks { (bytes - i * CHUNK as u64) as usize } else { CHUNK };
        sh.stats.lock().oversized_bytes_sent += len as u64;
        Ok::<_, std::convert::Infallible>(Bytes::from_static(&FILLER[..len]))
    }));
    (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static(XML))], Body::from_stream(stream)).into_response()
}

/// A message without a timestamp of its own takes the `X-Saluran-Timestamp` header's.
fn header_stamp(mut msg: AriMessage, headers: &HeaderMap) -> Result<AriMessage, Refusal> {
    codec::stamp_from_header(&mut msg, headers)?;
    Ok(msg)
}

/// Checks a parsed ARI message against the simulator's rules, then applies it.
fn apply_ari(sh: &Shared, msg: &AriMessage, style: Style) -> Result<(), Box<Response>> {
    let echo = msg.stamp.echo.as_deref();
    if !msg.hotel.is_empty() && msg.hotel != sh.cfg.hotel_code {
        let m = format!("unknown hotel code {:?}", msg.hotel.chars().take(40).collect::<String>());
        return Err(Box::new(refuse(style, StatusCode::BAD_REQUEST, "unknown_hotel", &m, echo)));
    }
    if let Some(max) = sh.cfg.max_updates_per_request {
        if msg.elements > max {
            let m = format!("{} updates in one request, at most {max} allowed", msg.elements);
            return Err(Box::new(refuse(style, StatusCode::BAD_REQUEST, "too_many_updates", &m, echo)));
        }
    }
    let cells: i64 = msg.updates.iter().map(|u| u.days()).sum();
    if cells > MAX_CELLS_PER_MESSAGE {
        return Err(Box::new(refuse(style, StatusCode::BAD_REQUEST, "too_many_cells", "message covers too many dates", echo)));
    }
    if let Some(bad) = msg.updates.iter().find(|u| u.end < u.start) {
        let m = format!("range for {} ends before it starts", bad.room);
        return Err(Box::new(refuse(style, StatusCode::BAD_REQUEST, "invalid_range", &m, echo)));
    }
    let applied = {
        let mut view = sh.view.lock();
        if msg.complete_set {
            view.clear_availability();
        }
        view.apply(&msg.updates, &msg.stamp)
    };
    let mut stats = sh.stats.lock();
    stats.messages_applied += 1;
    stats.cells_written += applied.cells;
    if applied.regressions > 0 {
        tracing::warn!(regressions = applied.regressions, echo = ?msg.stamp.echo, "ARI message older than the values it overwrote");
    }
    Ok(())
}

// ---------------------------------------------------------------- opentravel

async fn ot_avail(State(sh): State<Sh>, req: Request) -> Response {
    const RS: &str = "OTA_HotelAvailNotifRS";
    pipeline(sh, "OTA_HotelAvailNotif", Style::Ota(RS), req, |sh, parts, body| async move {
        ot_apply(&sh, codec::ot_avail(&body, &sh.limits).and_then(|m| header_stamp(m, &parts.headers)), RS)
    })
    .await
}

async fn ot_rate(State(sh): State<Sh>, req: Request) -> Response {
    const RS: &str = "OTA_HotelRateAmountNotifRS";
    pipeline(sh, "OTA_HotelRateAmountNotif", Style::Ota(RS), req, |sh, parts, body| async move {
        ot_apply(&sh, codec::ot_rate(&body, &sh.limits).and_then(|m| header_stamp(m, &parts.headers)), RS)
    })
    .await
}

fn ot_apply(sh: &Shared, parsed: Result<AriMessage, Refusal>, rs: &'static str) -> Response {
    let style = Style::Ota(rs);
    let msg = match parsed {
        Ok(m) => m,
        Err(r) => return refuse_with(style, &r, r.echo.as_deref()),
    };
    if let Err(resp) = apply_ari(sh, &msg, style) {
        return *resp;
    }
    xml(StatusCode::OK, codec::ot_success(rs, msg.stamp.echo.as_deref()))
}

// ---------------------------------------------------------------- alpinebits

async fn alpinebits(State(sh): State<Sh>, req: Request) -> Response {
    pipeline(sh, "alpinebits", Style::Alpine, req, |sh, parts, body| async move {
        let (action, resp) = alpinebits_inner(&sh, parts, body).await;
        let mut resp = resp;
        if let Some(action) = action {
            resp.extensions_mut().insert(Label(format!("alpinebits/{action}")));
        }
        resp
    })
    .await
}

async fn alpinebits_inner(sh: &Shared, parts: Parts, body: Bytes) -> (Option<String>, Response) {
    let bad = |m: &str| refuse(Style::Alpine, StatusCode::BAD_REQUEST, "bad_request", m, None);
    if let Some(v) = parts.headers.get("x-alpinebits-clientprotocolversion") {
        let ok = v.to_str().map(|s| s.split(',').any(|p| p.trim() == codec::AB_VERSION)).unwrap_or(false);
        if !ok {
            return (None, bad(&format!("unsupported X-AlpineBits-ClientProtocolVersion, this server speaks {}", codec::AB_VERSION)));
        }
    }
    let headers = parts.headers.clone();
    let req = Request::from_parts(parts, Body::from(body));
    let mut multipart = match Multipart::from_request(req, &()).await {
        Ok(m) => m,
        Err(e) => return (None, bad(&format!("expected multipart/form-data with fields action and request: {}", e.body_text()))),
    };
    let mut action: Option<String> = None;
    let mut request: Option<Bytes> = None;
    // Bounded by the body cap: every field consumes bytes of it.
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let data = match field.bytes().await {
                    Ok(d) => d,
                    Err(e) => return (None, bad(&format!("unreadable form field: {}", e.body_text()))),
                };
                match name.as_str() {
                    "action" => action = Some(String::from_utf8_lossy(&data).trim().to_string()),
                    "request" => request = Some(data),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => return (None, bad(&format!("malformed multipart body: {}", e.body_text()))),
        }
    }
    let Some(action) = action else { return (None, bad("missing form field action")) };
    let label = Some(action.clone());
    let request = request.unwrap_or_default();
    let resp = match action.as_str() {
        a if a == codec::AB_PING => match codec::ab_ping_rs(&request, &sh.limits) {
            Ok(rs) => xml(StatusCode::OK, rs),
            Err(r) => refuse_with(Style::Alpine, &r, None),
        },
        a if a == codec::AB_FREEROOMS => match codec::ab_freerooms(&request, &sh.limits).and_then(|m| header_stamp(m, &headers)) {
            Ok(msg) => match apply_ari(sh, &msg, Style::FreeRooms) {
                Ok(()) => xml(StatusCode::OK, codec::ab_freerooms_success()),
                Err(resp) => *resp,
            },
            Err(r) => refuse_with(Style::FreeRooms, &r, None),
        },
        a if a == codec::AB_READ => match codec::ab_read_rq(&request, &sh.limits) {
            Ok(hotel) => {
                if hotel.as_deref().is_some_and(|h| h != sh.cfg.hotel_code) {
                    xml(StatusCode::BAD_REQUEST, codec::ab_res_retrieve_error("unknown_hotel", "unknown hotel code"))
                } else {
                    xml(StatusCode::OK, crate::delivery::pull_alpinebits(sh))
                }
            }
            Err(r) => {
                xml(StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST), codec::ab_res_retrieve_error(&r.code, &r.message))
            }
        },
        a if a == codec::AB_NOTIF_REPORT => match codec::ab_notif_report(&request, &sh.limits) {
            Ok(acks) => {
                crate::delivery::ack_alpinebits(sh, &acks);
                xml(StatusCode::OK, codec::ab_notif_report_rs())
            }
            Err(r) => refuse_with(Style::Alpine, &r, None),
        },
        other => {
            let m = format!("unknown or unsupported action {:?}", other.chars().take(60).collect::<String>());
            refuse(Style::Alpine, StatusCode::BAD_REQUEST, "unknown_action", &m, None)
        }
    };
    (label, resp)
}

// ---------------------------------------------------------------- jsonrest

async fn jr_ari(State(sh): State<Sh>, req: Request) -> Response {
    pipeline(sh, "api/ari", Style::Json, req, |sh, parts, body| async move {
        let msg = match codec::jr_ari(&body, &sh.limits).and_then(|m| header_stamp(m, &parts.headers)) {
            Ok(m) => m,
            Err(r) => return refuse_with(Style::Json, &r, None),
        };
        if let Err(resp) = apply_ari(&sh, &msg, Style::Json) {
            return *resp;
        }
        let n = msg.updates.len();
        (StatusCode::OK, axum::Json(serde_json::json!({"data": {"updates": n}, "meta": {"message": "Success"}}))).into_response()
    })
    .await
}

async fn jr_feed(State(sh): State<Sh>, req: Request) -> Response {
    pipeline(sh, "api/booking_revisions/feed", Style::Json, req, |sh, parts, _| async move {
        let query = axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(&parts.uri);
        let property = query.ok().and_then(|q| q.0.get("property_id").cloned());
        if property.as_deref().is_some_and(|p| p != sh.cfg.hotel_code) {
            return refuse(Style::Json, StatusCode::BAD_REQUEST, "unknown_property", "unknown property_id", None);
        }
        (StatusCode::OK, axum::Json(crate::delivery::pull_jsonrest(&sh))).into_response()
    })
    .await
}

async fn jr_ack(State(sh): State<Sh>, Path(id): Path<String>, req: Request) -> Response {
    pipeline(sh, "api/booking_revisions/ack", Style::Json, req, |sh, _, body| async move {
        // An optional body may carry the hub's confirmation id.
        let confirmation = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("confirmation_id").or_else(|| v.get("id")).and_then(|c| c.as_str().map(str::to_string)));
        if crate::delivery::ack_jsonrest(&sh, &id, confirmation) {
            (StatusCode::OK, axum::Json(serde_json::json!({"meta": {"message": "Success"}}))).into_response()
        } else {
            refuse(Style::Json, StatusCode::NOT_FOUND, "not_found", "no such booking revision", None)
        }
    })
    .await
}
