//! Properties, room types, rooms and rate plans.

use super::error::{ApiError, ApiResult};
#[allow(unused_imports)] // named in the #[utoipa::path] attributes
use super::openapi::ErrorBody;
use super::{property_for, ApiJson, DateSpan};
use crate::app::App;
use crate::auth::Caller;
use crate::service::setup;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use jiff::civil::Date;
use rust_decimal::Decimal;
use saluran_actors::OutOfOrderDates;
use saluran_domain::dates::parse_date;
use saluran_domain::property::{
    parse_audit_time, parse_name, parse_timezone, Adjustment, Derivation, Permission, Property, PropertyConfig, RatePlan, Room, RoomStatus,
    RoomType,
};
use saluran_domain::{Currency, DomainError, PropertyCode, RatePlanCode, RoomNumber, RoomTypeCode, TenantCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::str::FromStr;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProperty {
    #[schema(value_type = PropertyCode)]
    code: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
    /// An IANA time zone such as Asia/Jakarta.
    #[schema(min_length = 1, max_length = 64, example = "Asia/Makassar")]
    timezone: String,
    #[schema(value_type = Currency)]
    currency: String,
    /// HH:MM, the property's local time (default 02:00).
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    night_audit_time: Option<String>,
    /// Absent: off (saluran cannot know whether check-ins reach it).
    marks_no_shows: Option<bool>,
}

// Response bodies. Fields are in alphabetical order: the bodies used to be
// `json!` maps (sorted keys), and clients see the same bytes.

/// A property.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PropertyOut {
    code: PropertyCode,
    currency: Currency,
    marks_no_shows: bool,
    name: String,
    #[schema(pattern = "^[0-2][0-9]:[0-5][0-9]$")]
    night_audit_time: String,
    #[schema(value_type = Option<String>, format = Date)]
    no_shows_from: Option<Date>,
    tenant: TenantCode,
    timezone: String,
}

impl From<&Property> for PropertyOut {
    fn from(p: &Property) -> Self {
        PropertyOut {
            code: p.code.clone(),
            currency: p.currency,
            marks_no_shows: p.marks_no_shows,
            name: p.name.clone(),
            night_audit_time: p.night_audit_time.clone(),
            no_shows_from: p.no_shows_from,
            tenant: p.tenant.clone(),
            timezone: p.timezone.clone(),
        }
    }
}

/// A property with its setup: the property's fields, then its room types,
/// rooms and rate plans (in key order, as the map wrote them).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PropertyConfigOut {
    code: PropertyCode,
    currency: Currency,
    marks_no_shows: bool,
    name: String,
    #[schema(pattern = "^[0-2][0-9]:[0-5][0-9]$")]
    night_audit_time: String,
    #[schema(value_type = Option<String>, format = Date)]
    no_shows_from: Option<Date>,
    rate_plans: Vec<RatePlanOut>,
    room_types: Vec<RoomTypeOut>,
    rooms: Vec<RoomListed>,
    tenant: TenantCode,
    timezone: String,
}

impl From<&PropertyConfig> for PropertyConfigOut {
    fn from(c: &PropertyConfig) -> Self {
        let p = PropertyOut::from(&c.property);
        PropertyConfigOut {
            code: p.code,
            currency: p.currency,
            marks_no_shows: p.marks_no_shows,
            name: p.name,
            night_audit_time: p.night_audit_time,
            no_shows_from: p.no_shows_from,
            rate_plans: c.rate_plans.iter().map(RatePlanOut::from).collect(),
            room_types: c.room_types.iter().map(RoomTypeOut::from).collect(),
            rooms: c.rooms.iter().map(RoomListed::from).collect(),
            tenant: p.tenant,
            timezone: p.timezone,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RoomTypeOut {
    code: RoomTypeCode,
    max_occupancy: u8,
    name: String,
    physical_rooms: u16,
}

impl From<&RoomType> for RoomTypeOut {
    fn from(r: &RoomType) -> Self {
        RoomTypeOut { code: r.code.clone(), max_occupancy: r.max_occupancy, name: r.name.clone(), physical_rooms: r.physical_rooms }
    }
}

/// A room as listed in its property (and as created).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RoomListed {
    floor: i16,
    number: RoomNumber,
    room_type: RoomTypeCode,
    status: RoomStatus,
}

impl From<&Room> for RoomListed {
    fn from(r: &Room) -> Self {
        RoomListed { floor: r.floor, number: r.number.clone(), room_type: r.room_type.clone(), status: r.status }
    }
}

/// A room after a status change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RoomOut {
    floor: i16,
    number: RoomNumber,
    /// The dates it is out of order, inclusive (null when it is not).
    out_of_order: Option<DateSpan>,
    room_type: RoomTypeCode,
    status: RoomStatus,
}

impl From<Room> for RoomOut {
    fn from(r: Room) -> Self {
        RoomOut {
            floor: r.floor,
            number: r.number,
            out_of_order: r.out_of_order.map(DateSpan::from),
            room_type: r.room_type,
            status: r.status,
        }
    }
}

/// A rate plan; `derived_from` and `adjustment` only on a derived one
/// (absent, not null, on a base plan).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RatePlanOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    adjustment: Option<AdjustmentOut>,
    code: RatePlanCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    derived_from: Option<RatePlanCode>,
    name: String,
    room_type: RoomTypeCode,
}

/// Exactly one of `percent` or `amount`, a decimal string (the other is absent).
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdjustmentOut {
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, pattern = "^-?[0-9]+(\\.[0-9]+)?$")]
    amount: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, pattern = "^-?[0-9]+(\\.[0-9]+)?$")]
    percent: Option<Decimal>,
}

impl From<&RatePlan> for RatePlanOut {
    fn from(p: &RatePlan) -> Self {
        let adjustment = p.derived.as_ref().map(|d| match d.adjustment {
            Adjustment::Percent(x) => AdjustmentOut { amount: None, percent: Some(x) },
            Adjustment::Amount(x) => AdjustmentOut { amount: Some(x), percent: None },
        });
        RatePlanOut {
            adjustment,
            code: p.code.clone(),
            derived_from: p.derived.as_ref().map(|d| d.parent.clone()),
            name: p.name.clone(),
            room_type: p.room_type.clone(),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/properties", tag = "setup", operation_id = "create_property",
    summary = "Create a property",
    request_body = NewProperty,
    responses(
        (status = 201, description = "Created", body = PropertyOut),
        (status = 409, description = "A property with this code exists: already_exists", body = ErrorBody),
    ))]
pub async fn create_property(State(app): State<App>, caller: Caller, ApiJson(body): ApiJson<NewProperty>) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::CreateProperty)?;
    let code = PropertyCode::parse(body.code)?;
    if !caller.scope.properties.is_empty() && !caller.scope.properties.contains(&code) {
        return Err(ApiError::forbidden("this token does not reach that property"));
    }
    let property = Property {
        tenant: caller.scope.tenant.clone(),
        code,
        name: parse_name("name", &body.name, 200)?,
        timezone: parse_timezone(&body.timezone)?,
        currency: Currency::parse(&body.currency)?,
        night_audit_time: parse_audit_time(body.night_audit_time.as_deref().unwrap_or("02:00"))?,
        marks_no_shows: body.marks_no_shows.unwrap_or(false),
        no_shows_from: None,
    };
    let property = setup::create_property(app.deps(), property).await?;
    Ok((StatusCode::CREATED, Json(PropertyOut::from(&property))))
}

#[utoipa::path(get, path = "/api/v1/properties/{property}", tag = "setup", operation_id = "get_property",
    summary = "A property with its room types, rooms and rate plans (and marks_no_shows, no_shows_from: YYYY-MM-DD or null)",
    params(("property" = PropertyCode, Path, description = "Property code")),
    responses((status = 200, description = "The property", body = PropertyConfigOut)))]
pub async fn get_property(State(app): State<App>, caller: Caller, Path(code): Path<String>) -> ApiResult<Json<PropertyConfigOut>> {
    let h = property_for(&app, &caller, &code, Permission::ReadProperty).await?;
    Ok(Json(PropertyConfigOut::from(&*h.config())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertySettings {
    marks_no_shows: bool,
    /// With `marks_no_shows: true`: the first arrival date the sweep may mark
    /// (backdating, for a hotel whose earlier check-ins did reach saluran);
    /// not after the property's local today. Absent: today, or the stored
    /// date if marking is already on.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    no_shows_from: Option<jiff::civil::Date>,
}

/// `PATCH /properties/{property}`: property-wide settings (admin only). The
/// running property actor stores the change and reloads its config, so the
/// next night audit follows it without a restart.
#[utoipa::path(patch, path = "/api/v1/properties/{property}", tag = "setup", operation_id = "update_property",
    summary = "Property settings (admin only)",
    description = "marks_no_shows: whether the night audit marks no-shows; the change counts from the next audit, without a restart. \
        Turning it on (from off) sets no_shows_from to the property's local date today: only arrivals on or after it are ever marked, \
        earlier ones (guests whose check-in never reached saluran) stay confirmed. On again keeps the date, unless no_shows_from is \
        given: an operator may backdate it (YYYY-MM-DD, not after the property's local today, only with marks_no_shows true, else \
        422 invalid_field); off clears it (null). Unknown fields or wrong types → 422 invalid_body.",
    params(("property" = PropertyCode, Path, description = "Property code")),
    request_body = PropertySettings,
    responses((status = 200, description = "The property", body = PropertyOut)))]
pub async fn update_property(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<PropertySettings>,
) -> ApiResult<Json<PropertyOut>> {
    let h = property_for(&app, &caller, &code, Permission::ConfigureProperty).await?;
    let property = setup::set_marks_no_shows(app.deps(), &h, body.marks_no_shows, body.no_shows_from).await?;
    Ok(Json(PropertyOut::from(&property)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoomType {
    #[schema(value_type = RoomTypeCode)]
    code: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
    #[schema(minimum = 1, maximum = 20)]
    max_occupancy: u8,
}

#[utoipa::path(post, path = "/api/v1/properties/{property}/room-types", tag = "setup", operation_id = "create_room_type",
    summary = "Add a room type",
    params(("property" = PropertyCode, Path, description = "Property code")),
    request_body = NewRoomType,
    responses(
        (status = 201, description = "Created", body = RoomTypeOut),
        (status = 409, description = "A room type with this code exists: already_exists", body = ErrorBody),
    ))]
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
    let out = RoomTypeOut::from(&rt);
    setup::create_room_type(app.deps(), &h, rt).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    #[schema(value_type = RoomNumber)]
    number: String,
    #[schema(value_type = RoomTypeCode)]
    room_type: String,
    floor: i16,
}

#[utoipa::path(post, path = "/api/v1/properties/{property}/rooms", tag = "setup", operation_id = "create_room",
    summary = "Add a room (raises the room type's physical count)",
    params(("property" = PropertyCode, Path, description = "Property code")),
    request_body = NewRoom,
    responses(
        (status = 201, description = "Created", body = RoomListed),
        (status = 409, description = "A room with this number exists: already_exists", body = ErrorBody),
        (status = 422, description = "unknown_room_type, invalid_field, invalid_body", body = ErrorBody),
    ))]
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
    let out = RoomListed::from(&room);
    setup::create_room(app.deps(), &h, room).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRatePlan {
    #[schema(value_type = RatePlanCode)]
    code: String,
    #[schema(value_type = RoomTypeCode)]
    room_type: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
    /// A rate plan of the same room type (with `adjustment`).
    #[schema(value_type = Option<RatePlanCode>)]
    derived_from: Option<String>,
    adjustment: Option<AdjustmentBody>,
}

/// Exactly one of `percent` or `amount`: a decimal string or number.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentBody {
    #[schema(value_type = Option<String>, pattern = "^-?[0-9]{1,6}(\\.[0-9]{1,4})?$")]
    percent: Option<Value>,
    #[schema(value_type = Option<String>, pattern = "^-?[0-9]{1,12}(\\.[0-9]{1,4})?$")]
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

#[utoipa::path(post, path = "/api/v1/properties/{property}/rate-plans", tag = "setup", operation_id = "create_rate_plan",
    summary = "Add a rate plan, optionally derived from another of the same room type",
    params(("property" = PropertyCode, Path, description = "Property code")),
    request_body = NewRatePlan,
    responses(
        (status = 201, description = "Created", body = RatePlanOut),
        (status = 409, description = "A rate plan with this code exists: already_exists", body = ErrorBody),
        (status = 422, description = "unknown_room_type, unknown_rate_plan, invalid_field, invalid_body", body = ErrorBody),
    ))]
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
    let out = RatePlanOut::from(&plan);
    setup::create_rate_plan(app.deps(), &h, plan).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomStatusBody {
    #[schema(value_type = RoomStatus)]
    status: String,
    /// With `out_of_order` only: the first date out of order (default: the
    /// property's local date).
    #[schema(format = Date)]
    from: Option<String>,
    /// With `out_of_order` only: the last date out of order, inclusive
    /// (default: the end of the 730-day horizon).
    #[schema(format = Date)]
    to: Option<String>,
}

/// `PATCH …/rooms/{number}` `{"status","from"?,"to"?}`: housekeeping.
/// Invalid transitions are refused with 409 `invalid_transition`. Out of
/// order takes the room out of availability on `from`..=`to` only (422
/// `invalid_date_range` / `date_in_past` / `beyond_horizon` otherwise), in
/// the same commit as the room's status; back in service releases exactly
/// those dates. Out of service does not change availability.
#[utoipa::path(patch, path = "/api/v1/properties/{property}/rooms/{number}", tag = "housekeeping", operation_id = "set_room_status",
    summary = "Housekeeping: change a room's status",
    description = "Invalid transitions → 409 invalid_transition; out_of_order removes the room from availability on from..=to only \
        (defaults: from = the property's local date, to = the end of the 730-day horizon; from > to → 422 invalid_date_range, from \
        before today → 422 date_in_past, to past the horizon → 422 beyond_horizon; from/to with another status → 422 invalid_field), \
        written in one commit with the room's status (a repeated or concurrent request counts the room once) and the OTAs hear of \
        it; leaving out_of_order releases exactly those dates; out_of_service does not change availability. The answer carries \
        out_of_order {from,to} (null when not out of order).",
    params(("property" = PropertyCode, Path, description = "Property code"), ("number" = RoomNumber, Path, description = "Room number")),
    request_body = RoomStatusBody,
    responses(
        (status = 200, description = "The room", body = RoomOut),
        (status = 409, description = "invalid_transition", body = ErrorBody),
        (status = 422, description = "invalid_date_range, date_in_past, beyond_horizon, invalid_field, invalid_body", body = ErrorBody),
    ))]
pub async fn set_room_status(
    State(app): State<App>,
    caller: Caller,
    Path((code, number)): Path<(String, String)>,
    ApiJson(body): ApiJson<RoomStatusBody>,
) -> ApiResult<Json<RoomOut>> {
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
    let room = setup::set_room_status(app.deps(), &h, number, status, dates).await?;
    Ok(Json(RoomOut::from(room)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // What the handlers wrote before the bodies had a type: the typed bodies
    // must serialize to exactly these bytes.

    fn property_json(p: &Property) -> Value {
        json!({
            "code": p.code, "name": p.name, "timezone": p.timezone, "currency": p.currency,
            "night_audit_time": p.night_audit_time, "marks_no_shows": p.marks_no_shows,
            "no_shows_from": p.no_shows_from.map(|d| d.to_string()), "tenant": p.tenant,
        })
    }

    fn config_json(c: &PropertyConfig) -> Value {
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

    fn room_json(room: &Room) -> Value {
        json!({
            "number": room.number, "room_type": room.room_type, "floor": room.floor, "status": room.status.as_str(),
            "out_of_order": room.out_of_order.map(|r| json!({"from": r.start(), "to": r.end()})),
        })
    }

    fn typed<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    fn sample(no_shows_from: Option<Date>) -> PropertyConfig {
        let dlx = RoomTypeCode::parse("DLX").unwrap();
        let bar = RatePlanCode::parse("BAR").unwrap();
        let plan = |code: &str, derived| RatePlan {
            code: RatePlanCode::parse(code).unwrap(),
            room_type: dlx.clone(),
            name: format!("{code} \"plan\""),
            derived,
        };
        let d = |s: &str| s.parse::<Date>().unwrap();
        PropertyConfig {
            property: Property {
                tenant: TenantCode::parse("acme").unwrap(),
                code: PropertyCode::parse("BALI1").unwrap(),
                name: "Hotel Ubud".into(),
                timezone: "Asia/Makassar".into(),
                currency: Currency::IDR,
                night_audit_time: "02:00".into(),
                marks_no_shows: no_shows_from.is_some(),
                no_shows_from,
            },
            room_types: vec![RoomType { code: dlx.clone(), name: "Deluxe".into(), max_occupancy: 3, physical_rooms: 2 }],
            rooms: vec![
                Room {
                    number: RoomNumber::parse("101").unwrap(),
                    room_type: dlx.clone(),
                    floor: 1,
                    status: RoomStatus::VacantClean,
                    out_of_order: None,
                },
                Room {
                    number: RoomNumber::parse("102").unwrap(),
                    room_type: dlx.clone(),
                    floor: -1,
                    status: RoomStatus::OutOfOrder,
                    out_of_order: Some(saluran_domain::dates::DateRange::new(d("2027-01-01"), d("2027-01-03")).unwrap()),
                },
            ],
            rate_plans: vec![
                plan("BAR", None),
                plan("NRF", Some(Derivation { parent: bar.clone(), adjustment: Adjustment::Percent("-10.5".parse().unwrap()) })),
                plan("PKG", Some(Derivation { parent: bar, adjustment: Adjustment::Amount("150000.00".parse().unwrap()) })),
            ],
        }
    }

    #[test]
    fn setup_bodies_are_byte_for_byte_what_they_were() {
        for no_shows_from in [None, Some("2026-11-30".parse::<Date>().unwrap())] {
            let c = sample(no_shows_from);
            assert_eq!(typed(&PropertyOut::from(&c.property)), property_json(&c.property).to_string());
            assert_eq!(typed(&PropertyConfigOut::from(&c)), config_json(&c).to_string());
            for p in &c.rate_plans {
                assert_eq!(typed(&RatePlanOut::from(p)), rate_plan_json(p).to_string());
            }
            for r in &c.rooms {
                assert_eq!(typed(&RoomOut::from(r.clone())), room_json(r).to_string());
                let listed = json!({"number": r.number, "room_type": r.room_type, "floor": r.floor, "status": r.status.as_str()});
                assert_eq!(typed(&RoomListed::from(r)), listed.to_string());
            }
            let rt = &c.room_types[0];
            let old = json!({"code": rt.code, "name": rt.name, "max_occupancy": rt.max_occupancy, "physical_rooms": 0});
            let fresh = RoomType { physical_rooms: 0, ..rt.clone() };
            assert_eq!(typed(&RoomTypeOut::from(&fresh)), old.to_string());
        }
    }
}
