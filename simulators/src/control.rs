//! The control API under `/_sim/*` (no auth, no faults, no rate limit: tests and
//! the demo drive the simulator through it; it only ever binds 127.0.0.1 in tests).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::bookings::{Action, Snapshot};
use crate::faults::FaultConfig;
use crate::{delivery, Profile, Shared};

type Sh = Arc<Shared>;

pub(crate) fn routes() -> Router<Sh> {
    Router::new()
        .route("/_sim/info", get(info))
        .route("/_sim/view", get(view).delete(reset_view))
        .route("/_sim/stats", get(stats).delete(reset_stats))
        .route("/_sim/faults", get(get_faults).post(set_faults))
        .route("/_sim/rate-limit", post(set_rate_limit))
        .route("/_sim/bookings", get(list_bookings).post(create))
        .route("/_sim/bookings/rate", post(trickle))
        .route("/_sim/bookings/{id}/modify", post(modify))
        .route("/_sim/bookings/{id}/cancel", post(cancel))
        .route("/_sim/deliveries", get(deliveries))
        .route("/_sim/redeliver-all", post(redeliver))
}

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": {"code": code, "message": message.into()}}))).into_response()
}

/// Parses an optional JSON body (empty = defaults) without panicking on bad input.
fn body<T: for<'de> Deserialize<'de> + Default>(bytes: &[u8]) -> Result<T, Box<Response>> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| Box::new(err(StatusCode::BAD_REQUEST, "invalid_json", e.to_string())))
}

async fn info(State(sh): State<Sh>) -> Response {
    let endpoints: &[&str] = match sh.cfg.profile {
        Profile::Opentravel => &["POST /OTA_HotelAvailNotif", "POST /OTA_HotelRateAmountNotif"],
        Profile::Alpinebits => &["POST /alpinebits"],
        Profile::Jsonrest => &["POST /api/ari", "GET /api/booking_revisions/feed", "POST /api/booking_revisions/{id}/ack"],
    };
    Json(serde_json::json!({
        "profile": sh.cfg.profile.as_str(),
        "hotel_code": sh.cfg.hotel_code,
        "requests_per_minute": sh.cfg.requests_per_minute,
        "max_updates_per_request": sh.cfg.max_updates_per_request,
        "hub_webhook": sh.cfg.hub_webhook.as_ref().map(|h| h.url.clone()),
        "endpoints": endpoints,
    }))
    .into_response()
}

async fn view(State(sh): State<Sh>) -> Response {
    Json(sh.view.lock().snapshot()).into_response()
}

async fn reset_view(State(sh): State<Sh>) -> StatusCode {
    sh.view.lock().reset();
    StatusCode::NO_CONTENT
}

async fn stats(State(sh): State<Sh>) -> Response {
    Json(sh.stats.lock().clone()).into_response()
}

async fn reset_stats(State(sh): State<Sh>) -> StatusCode {
    let mut stats = sh.stats.lock();
    // Requests still being handled stay counted (their end is recorded later).
    let in_flight = stats.ari_in_flight;
    *stats = Default::default();
    stats.ari_in_flight = in_flight;
    stats.max_ari_in_flight = in_flight;
    StatusCode::NO_CONTENT
}

async fn get_faults(State(sh): State<Sh>) -> Response {
    Json(sh.faults.lock().clone()).into_response()
}

async fn set_faults(State(sh): State<Sh>, bytes: axum::body::Bytes) -> Response {
    let f: FaultConfig = match serde_json::from_slice(&bytes) {
        Ok(f) => f,
        Err(e) => return err(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()),
    };
    if let Err(m) = f.validate() {
        return err(StatusCode::BAD_REQUEST, "invalid_faults", m);
    }
    *sh.faults.lock() = f.clone();
    Json(f).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct RateLimitBody {
    requests_per_minute: Option<u32>,
}

async fn set_rate_limit(State(sh): State<Sh>, bytes: axum::body::Bytes) -> Response {
    let b: RateLimitBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    *sh.limiter.lock() = crate::limiter(b.requests_per_minute);
    Json(serde_json::json!({"requests_per_minute": b.requests_per_minute})).into_response()
}

// ---------------------------------------------------------------- bookings

fn one() -> u32 {
    1
}
fn two() -> u8 {
    2
}

/// `POST /_sim/bookings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BookingSpec {
    /// How many bookings (1 ..= 10000).
    #[serde(default = "one")]
    pub count: u32,
    pub room: String,
    pub rate: String,
    pub check_in: Date,
    /// 1 ..= 60.
    #[serde(default = "one")]
    pub nights: u32,
    #[serde(default = "two")]
    pub adults: u8,
    #[serde(default)]
    pub guest_name: Option<String>,
    /// Push each revision this many times concurrently (duplicate tests), 1 ..= 50.
    #[serde(default = "one")]
    pub copies: u32,
}

impl BookingSpec {
    pub fn new(room: impl Into<String>, rate: impl Into<String>, check_in: Date, nights: u32) -> Self {
        BookingSpec { count: 1, room: room.into(), rate: rate.into(), check_in, nights, adults: 2, guest_name: None, copies: 1 }
    }
}

/// `POST /_sim/bookings/{id}/modify` (every field optional: unchanged when absent).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModifySpec {
    pub room: Option<String>,
    pub rate: Option<String>,
    pub check_in: Option<Date>,
    pub nights: Option<u32>,
    pub adults: Option<u8>,
    pub guest_name: Option<String>,
    #[serde(default)]
    pub copies: Option<u32>,
}

/// `POST /_sim/redeliver-all`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RedeliverSpec {
    /// Each revision is sent this many times concurrently (default 1, at most 50).
    #[serde(default)]
    pub copies: Option<u32>,
    /// Only the latest revision of each booking (default: every revision).
    #[serde(default)]
    pub latest_only: bool,
}

/// `POST /_sim/bookings/rate`: a steady trickle of new bookings; `per_second: 0` stops it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrickleSpec {
    pub per_second: f64,
    /// `"ROOM"` or `"ROOM/RATE"`; one is drawn at random for each booking.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Rate for entries of `rooms` without one.
    #[serde(default)]
    pub rate: Option<String>,
    /// Check-ins are drawn from the next `horizon_days` days (default 60).
    #[serde(default)]
    pub horizon_days: Option<u32>,
    /// Stop after this many bookings (default 100000).
    #[serde(default)]
    pub max: Option<u64>,
}

const GUESTS: &[&str] =
    &["Budi Santoso", "Siti Rahayu", "Made Wirawan", "Ketut Sari", "Anna Müller", "John Smith", "Nguyen Van An", "Yuki Tanaka"];

fn snapshot(sh: &Shared, room: &str, rate: &str, check_in: Date, nights: u32, adults: u8, guest: Option<&str>) -> Result<Snapshot, String> {
    if room.is_empty() || room.len() > 64 || rate.is_empty() || rate.len() > 64 {
        return Err("room and rate must be 1 to 64 characters".into());
    }
    if !(1..=60).contains(&nights) {
        return Err("nights must be between 1 and 60".into());
    }
    if !(1..=20).contains(&adults) {
        return Err("adults must be between 1 and 20".into());
    }
    let check_out = check_in.checked_add(jiff::Span::new().days(i64::from(nights))).map_err(|e| e.to_string())?;
    let view = sh.view.lock();
    let mut nightly = Vec::with_capacity(nights as usize);
    let mut d = check_in;
    while d < check_out {
        nightly.push((d, view.rate_for(room, rate, d).unwrap_or(sh.cfg.default_rate)));
        d = d.tomorrow().map_err(|e| e.to_string())?;
    }
    let total: Decimal = nightly.iter().map(|(_, p)| *p).sum();
    let guest_name = match guest {
        Some(g) => g.chars().take(100).collect(),
        None => GUESTS.get(rand::random::<usize>() % GUESTS.len()).copied().unwrap_or("Guest").to_string(),
    };
    Ok(Snapshot {
        room: room.to_string(),
        rate: rate.to_string(),
        check_in,
        check_out,
        adults,
        guest_name,
        nightly,
        total,
        currency: sh.cfg.currency.clone(),
    })
}

fn decrement(sh: &Shared, s: &Snapshot) {
    if sh.cfg.decrement_on_booking {
        let mut view = sh.view.lock();
        for (d, _) in &s.nightly {
            view.decrement(&s.room, *d);
        }
    }
}

pub(crate) fn create_bookings(sh: &Arc<Shared>, spec: &BookingSpec) -> Result<Vec<String>, String> {
    if !(1..=10_000).contains(&spec.count) {
        return Err("count must be between 1 and 10000".into());
    }
    if !(1..=50).contains(&spec.copies) {
        return Err("copies must be between 1 and 50".into());
    }
    let mut ids = Vec::with_capacity(spec.count as usize);
    for _ in 0..spec.count {
        let snap = snapshot(sh, &spec.room, &spec.rate, spec.check_in, spec.nights, spec.adults, spec.guest_name.as_deref())?;
        decrement(sh, &snap);
        let id = sh.bookings.lock().create(snap, Timestamp::now());
        sh.stats.lock().bookings_created += 1;
        delivery::schedule(sh, &id, 1, spec.copies, false);
        ids.push(id);
    }
    Ok(ids)
}

pub(crate) fn modify_booking(sh: &Arc<Shared>, id: &str, spec: &ModifySpec) -> Result<u32, String> {
    let copies = spec.copies.unwrap_or(1);
    if !(1..=50).contains(&copies) {
        return Err("copies must be between 1 and 50".into());
    }
    let prev = sh.bookings.lock().get(id).and_then(|b| b.latest().map(|r| r.snapshot.clone())).ok_or("no such booking")?;
    let nights = match spec.nights {
        Some(n) => n,
        None => u32::try_from(prev.nightly.len()).unwrap_or(1),
    };
    let snap = snapshot(
        sh,
        spec.room.as_deref().unwrap_or(&prev.room),
        spec.rate.as_deref().unwrap_or(&prev.rate),
        spec.check_in.unwrap_or(prev.check_in),
        nights,
        spec.adults.unwrap_or(prev.adults),
        Some(spec.guest_name.as_deref().unwrap_or(&prev.guest_name)),
    )?;
    let n = sh.bookings.lock().revise(id, Action::Modify, snap, Timestamp::now()).ok_or("booking is cancelled")?;
    delivery::schedule(sh, id, n, copies, false);
    Ok(n)
}

pub(crate) fn cancel_booking(sh: &Arc<Shared>, id: &str, copies: u32) -> Result<u32, String> {
    if !(1..=50).contains(&copies) {
        return Err("copies must be between 1 and 50".into());
    }
    let prev = sh.bookings.lock().get(id).and_then(|b| b.latest().map(|r| r.snapshot.clone())).ok_or("no such booking")?;
    let n = sh.bookings.lock().revise(id, Action::Cancel, prev, Timestamp::now()).ok_or("booking is already cancelled")?;
    delivery::schedule(sh, id, n, copies, false);
    Ok(n)
}

pub(crate) fn redeliver_all(sh: &Arc<Shared>, spec: &RedeliverSpec) -> usize {
    let copies = spec.copies.unwrap_or(1).clamp(1, 50);
    let targets: Vec<(String, u32)> = {
        let mut store = sh.bookings.lock();
        let mut out = Vec::new();
        for b in store.all_mut() {
            let latest = b.revisions.len() as u32;
            for r in b.revisions.iter_mut() {
                if spec.latest_only && r.number != latest {
                    continue;
                }
                if !sh.cfg.profile.pushes_bookings() {
                    // Pull profiles: queue it again for the next poll.
                    r.delivery.acked = false;
                    r.delivery.gave_up = false;
                }
                out.push((b.id.clone(), r.number));
            }
        }
        out
    };
    if sh.cfg.profile.pushes_bookings() {
        for (id, n) in &targets {
            delivery::schedule(sh, id, *n, copies, true);
        }
    }
    targets.len()
}

#[derive(Debug, Default, Deserialize)]
struct Copies {
    copies: Option<u32>,
}

async fn create(State(sh): State<Sh>, bytes: axum::body::Bytes) -> Response {
    let spec: BookingSpec = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => return err(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()),
    };
    match create_bookings(&sh, &spec) {
        Ok(ids) => (StatusCode::CREATED, Json(serde_json::json!({ "ids": ids }))).into_response(),
        Err(m) => err(StatusCode::BAD_REQUEST, "invalid_booking", m),
    }
}

async fn list_bookings(State(sh): State<Sh>) -> Response {
    let store = sh.bookings.lock();
    let all: Vec<_> = store.all().cloned().collect();
    Json(serde_json::json!({ "bookings": all })).into_response()
}

fn not_found_or_bad(m: String) -> Response {
    if m == "no such booking" {
        err(StatusCode::NOT_FOUND, "not_found", m)
    } else {
        err(StatusCode::CONFLICT, "invalid_revision", m)
    }
}

async fn modify(State(sh): State<Sh>, Path(id): Path<String>, bytes: axum::body::Bytes) -> Response {
    let spec: ModifySpec = match body(&bytes) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match modify_booking(&sh, &id, &spec) {
        Ok(n) => Json(serde_json::json!({ "id": id, "revision": n })).into_response(),
        Err(m) => not_found_or_bad(m),
    }
}

async fn cancel(State(sh): State<Sh>, Path(id): Path<String>, bytes: axum::body::Bytes) -> Response {
    let c: Copies = match body(&bytes) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match cancel_booking(&sh, &id, c.copies.unwrap_or(1)) {
        Ok(n) => Json(serde_json::json!({ "id": id, "revision": n })).into_response(),
        Err(m) => not_found_or_bad(m),
    }
}

async fn deliveries(State(sh): State<Sh>) -> Response {
    Json(serde_json::json!({ "deliveries": sh.bookings.lock().deliveries() })).into_response()
}

async fn redeliver(State(sh): State<Sh>, bytes: axum::body::Bytes) -> Response {
    let spec: RedeliverSpec = match body(&bytes) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let n = redeliver_all(&sh, &spec);
    Json(serde_json::json!({ "revisions": n })).into_response()
}

async fn trickle(State(sh): State<Sh>, bytes: axum::body::Bytes) -> Response {
    let spec: TrickleSpec = match body(&bytes) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if let Some(old) = sh.trickle.lock().take() {
        old.cancel();
    }
    if spec.per_second <= 0.0 || spec.per_second.is_nan() {
        return Json(serde_json::json!({ "per_second": 0 })).into_response();
    }
    if spec.per_second > 1000.0 {
        return err(StatusCode::BAD_REQUEST, "invalid_rate", "per_second must be at most 1000");
    }
    let mut pairs = Vec::new();
    for r in &spec.rooms {
        match r.split_once('/') {
            Some((room, rate)) => pairs.push((room.to_string(), rate.to_string())),
            None => match &spec.rate {
                Some(rate) => pairs.push((r.clone(), rate.clone())),
                None => return err(StatusCode::BAD_REQUEST, "invalid_rooms", format!("{r:?} has no rate and no default rate is given")),
            },
        }
    }
    if pairs.is_empty() {
        return err(StatusCode::BAD_REQUEST, "invalid_rooms", "rooms must name at least one room");
    }
    let token = sh.shutdown.child_token();
    *sh.trickle.lock() = Some(token.clone());
    let horizon = i64::from(spec.horizon_days.unwrap_or(60).clamp(1, 730));
    let max = spec.max.unwrap_or(100_000);
    let period = Duration::from_secs_f64(1.0 / spec.per_second);
    let sh2 = sh.clone();
    sh.tasks.spawn(trickle_loop(sh2, token, pairs, horizon, max, period));
    Json(serde_json::json!({ "per_second": spec.per_second, "max": max })).into_response()
}

async fn trickle_loop(sh: Sh, token: CancellationToken, pairs: Vec<(String, String)>, horizon: i64, max: u64, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    for _ in 0..max {
        tokio::select! {
            _ = tick.tick() => {}
            _ = token.cancelled() => return,
        }
        let Some((room, rate)) = pairs.get(rand::random::<usize>() % pairs.len().max(1)) else { return };
        let offset = rand::random::<u32>() as i64 % horizon;
        let Ok(check_in) = today.checked_add(jiff::Span::new().days(offset)) else { continue };
        let nights = 1 + rand::random::<u32>() % 3;
        let spec = BookingSpec::new(room.clone(), rate.clone(), check_in, nights);
        if let Err(e) = create_bookings(&sh, &spec) {
            tracing::warn!(error = %e, "trickle booking failed");
        }
    }
}
