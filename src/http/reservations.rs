//! Direct reservations: create (409 when not available), read, cancel;
//! front desk: check-in, check-out.

use super::error::{ApiError, ApiResult};
use super::{property_for, ApiJson};
use crate::app::App;
use crate::auth::Caller;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use saluran_actors::shard::BookingCommand;
use saluran_actors::{PropertyMsg, ShardMsg};
use saluran_domain::dates::{parse_date, StayRange};
use saluran_domain::property::{parse_name, Permission};
use saluran_domain::reservation::{BookingRequest, Reservation};
use saluran_domain::{DomainError, RatePlanCode, RoomNumber, RoomTypeCode};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReservation {
    room_type: String,
    rate_plan: String,
    check_in: String,
    check_out: String,
    adults: u8,
    guest: Guest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guest {
    name: String,
}

pub fn reservation_json(r: &Reservation) -> Value {
    json!({
        "id": r.id, "property": r.property, "room_type": r.room_type, "rate_plan": r.rate_plan,
        "check_in": r.check_in, "check_out": r.check_out, "nights": r.stay().nights(), "adults": r.adults,
        "guest": {"name": r.guest_name}, "status": r.status.as_str(), "currency": r.currency,
        "total": r.total.to_string(), "nightly": r.nightly, "source": r.source, "external_id": r.external_id,
        "revision": r.revision, "overbooked": r.overbooked, "created_at": r.created_at, "updated_at": r.updated_at,
        "checked_in_at": r.checked_in_at, "checked_out_at": r.checked_out_at, "room": r.room,
        "outside_horizon": r.outside_horizon,
        "calendar_nights": r.calendar_nights.map(|n| json!({"from": n.start(), "to": n.end()})),
    })
}

pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewReservation>,
) -> ApiResult<impl IntoResponse> {
    let h = property_for(&app, &caller, &code, Permission::Book).await?;
    let cfg = h.config();
    let room_type = RoomTypeCode::parse(body.room_type)?;
    let rate_plan = RatePlanCode::parse(body.rate_plan)?;
    if cfg.room_type(room_type.as_str()).is_none() {
        return Err(DomainError::UnknownRoomType(room_type.to_string()).into());
    }
    if cfg.rate_plan(rate_plan.as_str()).is_none_or(|p| p.room_type != room_type) {
        return Err(DomainError::UnknownRatePlan(format!("{rate_plan} (room type {room_type})")).into());
    }
    let stay = StayRange::new(parse_date("check_in", &body.check_in)?, parse_date("check_out", &body.check_out)?)?;
    stay.check_within_horizon(cfg.property.local_date(app.deps.clock.now()))?;
    if body.adults == 0 {
        return Err(DomainError::invalid("adults", "at least one adult").into());
    }
    let request = BookingRequest {
        room_type: room_type.clone(),
        rate_plan,
        stay,
        adults: body.adults,
        guest_name: parse_name("guest.name", &body.guest.name, 200)?,
    };
    let booking = BookingCommand { request, source: "direct".into(), external_id: None, allow_overbooking: false };
    let started = std::time::Instant::now();
    let r = h.call_shard(room_type.as_str(), app.deps.call_timeout, |reply| ShardMsg::Book { booking, reply }).await??;
    metrics::histogram!("saluran_reservation_commit_seconds").record(started.elapsed().as_secs_f64());
    let location = format!("/api/v1/properties/{}/reservations/{}", r.property, r.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(reservation_json(&r))))
}

async fn load(app: &App, caller: &Caller, code: &str, id: &str) -> ApiResult<(saluran_actors::PropertyHandle, Reservation)> {
    let h = property_for(app, caller, code, Permission::Book).await?;
    if id.len() > 64 {
        return Err(ApiError::not_found(format!("reservation {id} not found")));
    }
    let r = app.store.find_reservation(h.code(), id).await?.ok_or_else(|| ApiError::not_found(format!("reservation {id} not found")))?;
    Ok((h, r))
}

pub async fn get_one(State(app): State<App>, caller: Caller, Path((code, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let (_, r) = load(&app, &caller, &code, &id).await?;
    Ok(Json(reservation_json(&r)))
}

pub async fn cancel(State(app): State<App>, caller: Caller, Path((code, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let (h, r) = load(&app, &caller, &code, &id).await?;
    let r = h.call_shard(r.room_type.as_str(), app.deps.call_timeout, |reply| ShardMsg::Cancel { id: r.id.clone(), reply }).await??;
    Ok(Json(reservation_json(&r)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckInBody {
    room: Option<String>,
}

/// The check-in body is optional: none (or an empty one) checks in without
/// naming a room.
fn parse_check_in_body(body: &[u8]) -> ApiResult<CheckInBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CheckInBody::default());
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.to_string()),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()),
    })
}

pub async fn check_in(
    State(app): State<App>,
    caller: Caller,
    Path((code, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let (h, r) = load(&app, &caller, &code, &id).await?;
    let body = parse_check_in_body(&body)?;
    let room = body.room.map(|n| RoomNumber::parse(n).map_err(|e| ApiError::from(e).with_field("room"))).transpose()?;
    let r = h.call(app.deps.call_timeout, |reply| PropertyMsg::CheckIn { id: r.id, room, reply }).await??;
    Ok(Json(reservation_json(&r)))
}

pub async fn check_out(State(app): State<App>, caller: Caller, Path((code, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let (h, r) = load(&app, &caller, &code, &id).await?;
    let r = h.call(app.deps.call_timeout, |reply| PropertyMsg::CheckOut { id: r.id, reply }).await??;
    Ok(Json(reservation_json(&r)))
}
