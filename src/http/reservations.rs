//! Direct reservations: create (409 when not available), read, cancel;
//! front desk: check-in, check-out. Parse, one call to
//! `service::reservations` / `service::front_desk`, render.

use super::error::{ApiError, ApiResult};
#[allow(unused_imports)] // named in the #[utoipa::path] attributes
use super::openapi::ErrorBody;
use super::{property_for, ApiJson, DateSpan};
use crate::app::App;
use crate::auth::Caller;
use crate::service::{front_desk, reservations};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;
use saluran_domain::property::Permission;
use saluran_domain::reservation::{NightlyRate, Reservation, ReservationStatus};
use saluran_domain::PropertyCode;
use saluran_domain::{Currency, RatePlanCode, RoomNumber, RoomTypeCode};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReservation {
    #[schema(value_type = RoomTypeCode)]
    room_type: String,
    /// A rate plan of that room type.
    #[schema(value_type = RatePlanCode)]
    rate_plan: String,
    #[schema(format = Date, min_length = 10, max_length = 10)]
    check_in: String,
    /// After check_in.
    #[schema(format = Date, min_length = 10, max_length = 10)]
    check_out: String,
    #[schema(minimum = 1)]
    adults: u8,
    guest: Guest,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Guest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
}

/// A reservation as every reservation route answers it. Fields are in
/// alphabetical order: the body used to be a `json!` map (sorted keys), and
/// clients see exactly the bytes they saw then.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReservationOut {
    adults: u8,
    /// The nights it holds in the calendar (null when none is inside it).
    calendar_nights: Option<DateSpan>,
    #[schema(value_type = String, format = Date)]
    check_in: Date,
    #[schema(value_type = String, format = Date)]
    check_out: Date,
    #[schema(value_type = Option<String>, format = DateTime)]
    checked_in_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    checked_out_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    currency: Currency,
    external_id: Option<String>,
    guest: GuestOut,
    id: String,
    nightly: Vec<NightlyRate>,
    nights: i64,
    outside_horizon: bool,
    overbooked: bool,
    property: PropertyCode,
    rate_plan: RatePlanCode,
    revision: u32,
    room: Option<RoomNumber>,
    room_type: RoomTypeCode,
    /// `direct` or the channel code the booking came through.
    source: String,
    status: ReservationStatus,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(schema_with = saluran_domain::money::decimal_schema)]
    total: Decimal,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GuestOut {
    name: String,
}

impl From<Reservation> for ReservationOut {
    fn from(r: Reservation) -> Self {
        ReservationOut {
            nights: r.stay().nights(),
            adults: r.adults,
            calendar_nights: r.calendar_nights.map(DateSpan::from),
            check_in: r.check_in,
            check_out: r.check_out,
            checked_in_at: r.checked_in_at,
            checked_out_at: r.checked_out_at,
            created_at: r.created_at,
            currency: r.currency,
            external_id: r.external_id,
            guest: GuestOut { name: r.guest_name },
            id: r.id,
            nightly: r.nightly,
            outside_horizon: r.outside_horizon,
            overbooked: r.overbooked,
            property: r.property,
            rate_plan: r.rate_plan,
            revision: r.revision,
            room: r.room,
            room_type: r.room_type,
            source: r.source,
            status: r.status,
            total: r.total,
            updated_at: r.updated_at,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/properties/{property}/reservations", tag = "reservations", operation_id = "create_reservation",
    summary = "Create a direct reservation (durable before 201)",
    params(("property" = PropertyCode, Path, description = "Property code")),
    request_body = NewReservation,
    responses(
        (status = 201, description = "Booked", body = ReservationOut,
            headers(("Location" = String, description = "The reservation's URL"))),
        (status = 409, description = "not_available (field: the reason: sold_out, min_stay, …)", body = ErrorBody),
        (status = 422, description = "unknown_room_type, unknown_rate_plan, invalid_field, invalid_date_range, date_in_past, \
            beyond_horizon, invalid_body", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewReservation>,
) -> ApiResult<impl IntoResponse> {
    let h = property_for(&app, &caller, &code, Permission::Book).await?;
    let new = reservations::NewBooking {
        room_type: body.room_type,
        rate_plan: body.rate_plan,
        check_in: body.check_in,
        check_out: body.check_out,
        adults: body.adults,
        guest_name: body.guest.name,
    };
    let r = reservations::create(app.deps(), &h, new).await?;
    let location = format!("/api/v1/properties/{}/reservations/{}", r.property, r.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(ReservationOut::from(r))))
}

async fn load(app: &App, caller: &Caller, code: &str, id: &str) -> ApiResult<(saluran_actors::PropertyHandle, Reservation)> {
    let h = property_for(app, caller, code, Permission::Book).await?;
    let r = reservations::find(app.deps(), &h, id).await?;
    Ok((h, r))
}

#[utoipa::path(get, path = "/api/v1/properties/{property}/reservations/{id}", tag = "reservations", operation_id = "get_reservation",
    summary = "A reservation",
    description = "status is confirmed, cancelled or no_show (set by the night audit for a confirmed reservation not checked in by \
        the end of its arrival date; its nights from the new business date on are released and pushed to the OTAs). Front-desk \
        state: checked_in_at, checked_out_at (timestamps or null) and room (the room given at check-in, or null).",
    params(("property" = PropertyCode, Path, description = "Property code"), ("id" = String, Path, description = "Reservation id")),
    responses((status = 200, description = "The reservation", body = ReservationOut)))]
pub async fn get_one(State(app): State<App>, caller: Caller, Path((code, id)): Path<(String, String)>) -> ApiResult<Json<ReservationOut>> {
    let (_, r) = load(&app, &caller, &code, &id).await?;
    Ok(Json(ReservationOut::from(r)))
}

#[utoipa::path(post, path = "/api/v1/properties/{property}/reservations/{id}/cancel", tag = "reservations", operation_id = "cancel_reservation",
    summary = "Cancel a reservation (idempotent). A no-show or a checked-in reservation is refused: 409 reservation_no_show / already_checked_in.",
    params(("property" = PropertyCode, Path, description = "Property code"), ("id" = String, Path, description = "Reservation id")),
    responses(
        (status = 200, description = "Cancelled", body = ReservationOut),
        (status = 409, description = "reservation_no_show, already_checked_in", body = ErrorBody),
    ))]
pub async fn cancel(State(app): State<App>, caller: Caller, Path((code, id)): Path<(String, String)>) -> ApiResult<Json<ReservationOut>> {
    let h = property_for(&app, &caller, &code, Permission::Book).await?;
    let r = reservations::cancel(app.deps(), &h, &id).await?;
    Ok(Json(ReservationOut::from(r)))
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInBody {
    #[schema(value_type = Option<RoomNumber>)]
    room: Option<String>,
}

/// The check-in body is optional: none (or an empty one, or JSON `null`, as
/// the API document's optional body allows) checks in without naming a room.
fn parse_check_in_body(body: &[u8]) -> ApiResult<CheckInBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CheckInBody::default());
    }
    serde_json::from_slice::<Option<CheckInBody>>(body).map(Option::unwrap_or_default).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.to_string()),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()),
    })
}

#[utoipa::path(post, path = "/api/v1/properties/{property}/reservations/{id}/check-in", tag = "reservations", operation_id = "check_in",
    summary = "Check a reservation in (front desk)",
    description = "Roles: admin, revenue_manager, front_desk (those that may cancel). Allowed for a confirmed reservation, not yet \
        checked in, from its arrival date up to and including its departure date in the property's local date. Optional body \
        {\"room\": \"101\"}: the room must be of the reservation's room type and ready (409 room_not_ready otherwise); it \
        becomes occupied. Refusals: 409 already_checked_in, already_checked_out, reservation_cancelled, reservation_no_show, \
        arrival_in_future, departure_passed. Publishes booking.checked_in. Changes no inventory.",
    params(("property" = PropertyCode, Path, description = "Property code"), ("id" = String, Path, description = "Reservation id")),
    request_body(content = Option<CheckInBody>, description = "Optional: the room", content_type = "application/json"),
    responses(
        (status = 200, description = "Checked in", body = ReservationOut),
        (status = 409, description = "A stay refusal (see above)", body = ErrorBody),
        (status = 422, description = "invalid_field (room), invalid_body", body = ErrorBody),
    ))]
pub async fn check_in(
    State(app): State<App>,
    caller: Caller,
    Path((code, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ReservationOut>> {
    let (h, r) = load(&app, &caller, &code, &id).await?;
    let body = parse_check_in_body(&body)?;
    let room = body.room.map(|n| RoomNumber::parse(n).map_err(|e| ApiError::from(e).with_field("room"))).transpose()?;
    let r = front_desk::check_in(app.deps(), &h, r, room).await?;
    Ok(Json(ReservationOut::from(r)))
}

#[utoipa::path(post, path = "/api/v1/properties/{property}/reservations/{id}/check-out", tag = "reservations", operation_id = "check_out",
    summary = "Check a reservation out (front desk)",
    description = "Roles as for check-in. Allowed once, after check-in (409 not_checked_in, already_checked_out, \
        reservation_cancelled, reservation_no_show). The room given at check-in, if any, becomes vacant dirty. Publishes \
        booking.checked_out. Changes no inventory.",
    params(("property" = PropertyCode, Path, description = "Property code"), ("id" = String, Path, description = "Reservation id")),
    responses(
        (status = 200, description = "Checked out", body = ReservationOut),
        (status = 409, description = "A stay refusal (see above)", body = ErrorBody),
    ))]
pub async fn check_out(
    State(app): State<App>,
    caller: Caller,
    Path((code, id)): Path<(String, String)>,
) -> ApiResult<Json<ReservationOut>> {
    let (h, r) = load(&app, &caller, &code, &id).await?;
    let r = front_desk::check_out(app.deps(), &h, r).await?;
    Ok(Json(ReservationOut::from(r)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the handlers wrote before the body had a type: the typed body
    /// must serialize to exactly these bytes.
    fn reservation_json(r: &Reservation) -> serde_json::Value {
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

    fn sample(status: ReservationStatus, front_desk: bool) -> Reservation {
        let date = |s: &str| s.parse::<Date>().unwrap();
        let ts = |s: &str| s.parse::<Timestamp>().unwrap();
        Reservation {
            id: "r-1".into(),
            property: PropertyCode::parse("BALI1").unwrap(),
            room_type: RoomTypeCode::parse("DLX").unwrap(),
            rate_plan: RatePlanCode::parse("BAR").unwrap(),
            check_in: date("2027-01-10"),
            check_out: date("2027-01-12"),
            adults: 2,
            guest_name: "Ayu \"Dewi\" Lestari".into(),
            status,
            currency: Currency::IDR,
            total: "1700000.50".parse().unwrap(),
            nightly: vec![
                NightlyRate { date: date("2027-01-10"), rate: "850000.25".parse().unwrap() },
                NightlyRate { date: date("2027-01-11"), rate: "850000.25".parse().unwrap() },
            ],
            source: "booking".into(),
            external_id: front_desk.then(|| "OTA-9".into()),
            revision: 3,
            overbooked: front_desk,
            created_at: ts("2026-12-01T10:00:00Z"),
            updated_at: ts("2026-12-01T10:00:00.123456789Z"),
            checked_in_at: front_desk.then(|| ts("2027-01-10T14:00:00Z")),
            checked_out_at: None,
            room: front_desk.then(|| RoomNumber::parse("101").unwrap()),
            outside_horizon: front_desk,
            calendar_nights: front_desk.then(|| saluran_domain::dates::DateRange::new(date("2027-01-11"), date("2027-01-11")).unwrap()),
        }
    }

    #[test]
    fn the_reservation_body_is_byte_for_byte_what_it_was() {
        for status in [ReservationStatus::Confirmed, ReservationStatus::Cancelled, ReservationStatus::NoShow] {
            for front_desk in [false, true] {
                let r = sample(status, front_desk);
                let old = reservation_json(&r).to_string();
                assert_eq!(serde_json::to_string(&ReservationOut::from(r)).unwrap(), old);
            }
        }
    }

    #[test]
    fn an_absent_or_null_check_in_body_names_no_room() {
        for body in [&b""[..], b"  \n", b"null", b" null "] {
            assert!(parse_check_in_body(body).unwrap().room.is_none(), "{:?}", String::from_utf8_lossy(body));
        }
        assert_eq!(parse_check_in_body(br#"{"room":"101"}"#).unwrap().room.as_deref(), Some("101"));
        assert_eq!(parse_check_in_body(b"[1]").unwrap_err().code, "invalid_body");
        assert_eq!(parse_check_in_body(b"{").unwrap_err().code, "invalid_json");
    }
}
