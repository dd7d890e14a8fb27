//! Properties, room types, rooms and rate plans.

use super::error::{ApiError, ApiResult};
use super::{property_for, ApiJson};
use crate::app::App;
use crate::auth::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use rust_decimal::Decimal;
use saluran_actors::{out_of_order_range, OutOfOrderDates, PropertyMsg};
use saluran_domain::dates::parse_date;
use saluran_domain::property::{
    parse_audit_time, parse_name, parse_timezone, Adjustment, Derivation, Permission, Property, PropertyConfig, RatePlan, Room, RoomStatus,
    RoomType,
};
use saluran_domain::{Currency, DomainError, PropertyCode, RatePlanCode, RoomNumber, RoomTypeCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::str::FromStr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProperty {
    code: String,
    name: String,
    timezone: String,
    currency: String,
    night_audit_time: Option<String>,
    /// Absent: off (saluran cannot know whether check-ins reach it).
    marks_no_shows: Option<bool>,
}

pub fn property_json(p: &Property) -> Value {
    json!({
        "code": p.code, "name": p.name, "timezone": p.timezone, "currency": p.currency,
        "night_audit_time": p.night_audit_time, "marks_no_shows": p.marks_no_shows,
        "no_shows_from": p.no_shows_from.map(|d| d.to_string()), "tenant": p.tenant,
    })
}

pub fn config_json(c: &PropertyConfig) -> Value {
    let mut v = property_json(&c.property);
    v["room_types"] = json!(c
        .room_types
        .iter()
        .map(|r| json!({"code": r.code, "name": r.name, "max_occupancy": r.max_occupancy, "physical_rooms": r.physical_rooms}))
        .collect::<Vec<_>>());
    v["rooms"] = json!(c
        .rooms
        .iter()
        .map(|r| json!({"number": r.number, "room_type": r.room_type, "floor": r.floor, "status": r.status.as_str()}))
        .collect::<Vec<_>>());
    v["rate_plans"] = json!(c.rate_plans.iter().map(rate_plan_json).collect::<Vec<_>>());
    v
}

fn rate_plan_json(p: &RatePlan) -> Value {
    let mut v = json!({"code": p.code, "room_type": p.room_type, "name": p.name});
    if let Some(d) = &p.derived {
        v["derived_from"] = json!(d.parent);
        v["adjustment"] = match d.adjustment {
            Adjustment::Percent(x) => json!({"percent": x.to_string()}),
            Adjustment::Amount(x) => json!({"amount": x.to_string()}),
        };
    }
    v
}

pub async fn create_property(State(app): State<App>, caller: Caller, ApiJson(body): ApiJson<NewProperty>) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::CreateProperty)?;
    let code = PropertyCode::parse(body.code)?;
    if !caller.scope.properties.is_empty() && !caller.scope.properties.contains(&code) {
        return Err(ApiError::forbidden("this token does not reach that property"));
    }
    let mut property = Property {
        tenant: caller.scope.tenant.clone(),
        code,
        name: parse_name("name", &body.name, 200)?,
        timezone: parse_timezone(&body.timezone)?,
        currency: Currency::parse(&body.currency)?,
        night_audit_time: parse_audit_time(body.night_audit_time.as_deref().unwrap_or("02:00"))?,
        marks_no_shows: body.marks_no_shows.unwrap_or(false),
        no_shows_from: None,
    };
    // As when turned on later: marking covers arrivals from the property's
    // local date on, never earlier ones (decision 0004).
    if property.marks_no_shows {
        property.no_shows_from = Some(property.local_date(app.deps.clock.now()));
    }
    app.store.create_property(&property).await?;
    tracing::info!(property = %property.code, tenant = %property.tenant, "property created");
    Ok((StatusCode::CREATED, Json(property_json(&property))))
}

pub async fn get_property(State(app): State<App>, caller: Caller, Path(code): Path<String>) -> ApiResult<Json<Value>> {
    let h = property_for(&app, &caller, &code, Permission::ReadProperty).await?;
    Ok(Json(config_json(&h.config())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertySettings {
    marks_no_shows: bool,
    /// With `marks_no_shows: true`: the first arrival date the sweep may mark
    /// (backdating, for a hotel whose earlier check-ins did reach saluran);
    /// not after the property's local today. Absent: today, or the stored
    /// date if marking is already on.
    #[serde(default)]
    no_shows_from: Option<jiff::civil::Date>,
}

/// `PATCH /properties/{property}`: property-wide settings (admin only). The
/// running property actor stores the change and reloads its config, so the
/// next night audit follows it without a restart.
pub async fn update_property(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<PropertySettings>,
) -> ApiResult<Json<Value>> {
    let h = property_for(&app, &caller, &code, Permission::ConfigureProperty).await?;
    let on = body.marks_no_shows;
    let from = body.no_shows_from;
    if let Some(d) = from {
        if !on {
            return Err(DomainError::invalid("no_shows_from", "only with marks_no_shows true").into());
        }
        if d > h.config().property.local_date(app.deps.clock.now()) {
            return Err(DomainError::invalid("no_shows_from", "must not be after the property's local date today").into());
        }
    }
    let property = h.call(app.deps.call_timeout, |reply| PropertyMsg::SetMarksNoShows { on, from, reply }).await??;
    tracing::info!(property = %property.code, marks_no_shows = on, "property settings changed");
    Ok(Json(property_json(&property)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRoomType {
    code: String,
    name: String,
    max_occupancy: u8,
}

pub async fn create_room_type(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewRoomType>,
) -> ApiResult<impl IntoResponse> {
    let h = property_for(&app, &caller, &code, Permission::ManageSetup).await?;
    if body.max_occupancy == 0 || body.max_occupancy > 20 {
        return Err(DomainError::invalid("max_occupancy", "must be 1-20").into());
    }
    let rt = RoomType {
        code: RoomTypeCode::parse(body.code)?,
        name: parse_name("name", &body.name, 200)?,
        max_occupancy: body.max_occupancy,
        physical_rooms: 0,
    };
    let out = json!({"code": rt.code, "name": rt.name, "max_occupancy": rt.max_occupancy, "physical_rooms": 0});
    h.call(app.deps.call_timeout, |reply| PropertyMsg::CreateRoomType { room_type: rt, reply }).await??;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    number: String,
    room_type: String,
    floor: i16,
}

pub async fn create_room(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewRoom>,
) -> ApiResult<impl IntoResponse> {
    let h = property_for(&app, &caller, &code, Permission::ManageSetup).await?;
    let room = Room {
        number: RoomNumber::parse(body.number)?,
        room_type: RoomTypeCode::parse(body.room_type)?,
        floor: body.floor,
        status: RoomStatus::VacantClean,
        out_of_order: None,
    };
    if h.config().room_type(room.room_type.as_str()).is_none() {
        return Err(DomainError::UnknownRoomType(room.room_type.to_string()).into());
    }
    let out = json!({"number": room.number, "room_type": room.room_type, "floor": room.floor, "status": room.status.as_str()});
    h.call(app.deps.call_timeout, |reply| PropertyMsg::CreateRoom { room, reply }).await??;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRatePlan {
    code: String,
    room_type: String,
    name: String,
    derived_from: Option<String>,
    adjustment: Option<AdjustmentBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentBody {
    percent: Option<Value>,
    amount: Option<Value>,
}

fn decimal_field(field: &str, v: &Value) -> Result<Decimal, DomainError> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(DomainError::invalid(field, "must be a decimal")),
    };
    Decimal::from_str(&s).map_err(|_| DomainError::invalid(field, "must be a decimal"))
}

pub async fn create_rate_plan(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewRatePlan>,
) -> ApiResult<impl IntoResponse> {
    let h = property_for(&app, &caller, &code, Permission::ManageSetup).await?;
    let derived = match (body.derived_from, body.adjustment) {
        (None, None) => None,
        (Some(_), None) => return Err(DomainError::invalid("adjustment", "a derived rate plan needs an adjustment").into()),
        (None, Some(_)) => return Err(DomainError::invalid("derived_from", "an adjustment needs derived_from").into()),
        (Some(parent), Some(adj)) => {
            let adjustment = match (adj.percent, adj.amount) {
                (Some(p), None) => Adjustment::Percent(decimal_field("adjustment.percent", &p)?),
                (None, Some(a)) => Adjustment::Amount(decimal_field("adjustment.amount", &a)?),
                _ => return Err(DomainError::invalid("adjustment", "give exactly one of percent or amount").into()),
            };
            adjustment.validate()?;
            Some(Derivation {
                parent: RatePlanCode::parse(parent).map_err(|_| DomainError::invalid("derived_from", "not a rate plan code"))?,
                adjustment,
            })
        }
    };
    let plan = RatePlan {
        code: RatePlanCode::parse(body.code)?,
        room_type: RoomTypeCode::parse(body.room_type)?,
        name: parse_name("name", &body.name, 200)?,
        derived,
    };
    let out = rate_plan_json(&plan);
    h.call(app.deps.call_timeout, |reply| PropertyMsg::CreateRatePlan { plan, reply }).await??;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomStatusBody {
    status: String,
    /// With `out_of_order` only: the first date out of order (default: the
    /// property's local date).
    from: Option<String>,
    /// With `out_of_order` only: the last date out of order, inclusive
    /// (default: the end of the 730-day horizon).
    to: Option<String>,
}

/// `PATCH …/rooms/{number}` `{"status","from"?,"to"?}`: housekeeping.
/// Invalid transitions are refused with 409 `invalid_transition`. Out of
/// order takes the room out of availability on `from`..=`to` only (422
/// `invalid_date_range` / `date_in_past` / `beyond_horizon` otherwise), in
/// the same commit as the room's status; back in service releases exactly
/// those dates. Out of service does not change availability.
pub async fn set_room_status(
    State(app): State<App>,
    caller: Caller,
    Path((code, number)): Path<(String, String)>,
    ApiJson(body): ApiJson<RoomStatusBody>,
) -> ApiResult<Json<Value>> {
    let h = property_for(&app, &caller, &code, Permission::UpdateRoomStatus).await?;
    let number = RoomNumber::parse(number).map_err(|_| ApiError::not_found("room not found"))?;
    let status = RoomStatus::parse(&body.status)?;
    let from = body.from.as_deref().map(|d| parse_date("from", d)).transpose()?;
    let to = body.to.as_deref().map(|d| parse_date("to", d)).transpose()?;
    let dates = match (status, from, to) {
        (_, None, None) => None,
        (RoomStatus::OutOfOrder, from, to) => Some(OutOfOrderDates { from, to }),
        _ => return Err(DomainError::invalid(if from.is_some() { "from" } else { "to" }, "only with status out_of_order").into()),
    };
    if let Some(d) = dates {
        // Refused here, before anything is asked of the property.
        out_of_order_range(d, h.config().property.local_date(app.deps.clock.now()))?;
    }
    let room = h.call(app.deps.call_timeout, |reply| PropertyMsg::SetRoomStatus { number, status, dates, reply }).await??;
    Ok(Json(room_json(&room)))
}

pub fn room_json(room: &Room) -> Value {
    json!({
        "number": room.number, "room_type": room.room_type, "floor": room.floor, "status": room.status.as_str(),
        "out_of_order": room.out_of_order.map(|r| json!({"from": r.start(), "to": r.end()})),
    })
}
