//! ARI batch updates, calendar reads and availability search.

use super::error::{ApiError, ApiResult};
#[allow(unused_imports)] // named in the #[utoipa::path] attributes
use super::openapi::{AriApplied, CalendarOut, ErrorBody};
use super::{property_for, ApiJson, ApiQuery};
use crate::app::App;
use crate::auth::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use saluran_domain::ari::AriUpdate;
use saluran_domain::availability::Overlay;
use saluran_domain::dates::{parse_date, DateRange, StayRange, Weekdays, HORIZON_DAYS};
use saluran_domain::property::Permission;
use saluran_domain::PropertyCode;
use saluran_domain::{DomainError, Rate, RatePlanCode, RoomTypeCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Lines per batch at most: a full 730-day year for 15 plans is 15 lines.
pub const MAX_BATCH_LINES: usize = 2000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AriBody {
    #[schema(min_items = 1, max_items = 2000)]
    updates: Vec<AriLine>,
}

/// One line: a room type (and rate plan, for rates and restrictions), a date
/// range (inclusive, within the 730-day horizon) and the values to set.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AriLine {
    #[schema(value_type = RoomTypeCode)]
    room_type: String,
    #[schema(value_type = Option<RatePlanCode>)]
    rate_plan: Option<String>,
    #[schema(format = Date, min_length = 10, max_length = 10)]
    from: String,
    #[schema(format = Date, min_length = 10, max_length = 10)]
    to: String,
    /// Weekdays the line applies to (default all): mo tu we th fr sa su.
    #[schema(value_type = Option<Vec<WeekdayName>>, min_items = 1)]
    days: Option<Vec<String>>,
    #[schema(maximum = 65535)]
    availability: Option<u32>,
    #[schema(value_type = Option<Rate>)]
    rate: Option<String>,
    /// Number of adults → rate.
    #[schema(value_type = Option<BTreeMap<String, Rate>>)]
    occupancy_rates: Option<BTreeMap<String, String>>,
    #[schema(maximum = 65535)]
    min_stay: Option<u32>,
    #[schema(maximum = 65535)]
    min_stay_through: Option<u32>,
    #[schema(maximum = 65535)]
    max_stay: Option<u32>,
    closed_to_arrival: Option<bool>,
    closed_to_departure: Option<bool>,
    stop_sell: Option<bool>,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum WeekdayName {
    Mo,
    Tu,
    We,
    Th,
    Fr,
    Sa,
    Su,
}

fn at(i: usize, e: DomainError) -> DomainError {
    match e {
        DomainError::Invalid { field, message } => DomainError::Invalid { field: format!("updates[{i}].{field}"), message },
        other => other,
    }
}

fn small(i: usize, field: &str, v: Option<u32>) -> Result<Option<u16>, DomainError> {
    v.map(|x| u16::try_from(x).map_err(|_| DomainError::invalid(format!("updates[{i}].{field}"), "too large"))).transpose()
}

fn parse_line(i: usize, l: AriLine) -> Result<AriUpdate, DomainError> {
    let from = parse_date("from", &l.from).map_err(|e| at(i, e))?;
    let to = parse_date("to", &l.to).map_err(|e| at(i, e))?;
    let occupancy_rates = match l.occupancy_rates {
        None => None,
        Some(m) => {
            let mut v = Vec::new();
            for (k, r) in m {
                let adults: u8 = k.parse().map_err(|_| at(i, DomainError::invalid("occupancy_rates", "keys are numbers of adults")))?;
                v.push((adults, Rate::parse(&r).map_err(|e| at(i, e))?));
            }
            Some(v)
        }
    };
    Ok(AriUpdate {
        room_type: RoomTypeCode::parse(l.room_type).map_err(|e| at(i, e))?,
        rate_plan: l.rate_plan.map(RatePlanCode::parse).transpose().map_err(|e| at(i, e))?,
        range: DateRange::new(from, to)?,
        days: match l.days {
            None => Weekdays::ALL,
            Some(d) => Weekdays::parse(&d).map_err(|e| at(i, e))?,
        },
        availability: small(i, "availability", l.availability)?,
        rate: l.rate.as_deref().map(Rate::parse).transpose().map_err(|e| at(i, e))?,
        occupancy_rates,
        min_stay: small(i, "min_stay", l.min_stay)?,
        min_stay_through: small(i, "min_stay_through", l.min_stay_through)?,
        max_stay: small(i, "max_stay", l.max_stay)?,
        closed_to_arrival: l.closed_to_arrival,
        closed_to_departure: l.closed_to_departure,
        stop_sell: l.stop_sell,
    })
}

/// Applies a batch: all of it, or (on any bad line) none of it.
#[utoipa::path(post, path = "/api/v1/properties/{property}/ari", tag = "ari", operation_id = "update_ari",
    summary = "Apply an ARI batch: all of it or none of it",
    params(("property" = PropertyCode, Path, description = "Property code")),
    request_body = AriBody,
    responses(
        (status = 200, description = "Applied", body = AriApplied),
        (status = 422, description = "A line is refused (updates[i].field): invalid_field, invalid_date_range, date_in_past, \
            beyond_horizon, unknown_room_type, unknown_rate_plan, derived_rate_plan_rate; nothing applied", body = ErrorBody),
    ))]
pub async fn update_ari(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<AriBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let h = property_for(&app, &caller, &code, Permission::WriteAri).await?;
    if body.updates.is_empty() || body.updates.len() > MAX_BATCH_LINES {
        return Err(DomainError::invalid("updates", format!("send 1-{MAX_BATCH_LINES} updates")).into());
    }
    let updates = body.updates.into_iter().enumerate().map(|(i, l)| parse_line(i, l)).collect::<Result<Vec<_>, _>>()?;
    let n = updates.len();
    let outcome = crate::service::ari::apply(app.deps(), &h, updates).await?;
    Ok((StatusCode::OK, Json(json!({"applied": n, "cells": outcome.cells, "room_types": outcome.room_types}))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// First date (default: the property's local today).
    #[param(format = Date, min_length = 10, max_length = 10)]
    from: Option<String>,
    /// Last date, inclusive (default: from + 30 days; at most 731 days at once).
    #[param(format = Date, min_length = 10, max_length = 10)]
    to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/properties/{property}/ari", tag = "ari", operation_id = "get_calendar",
    summary = "The calendar: per room type and date inventory, per rate plan and date rates and restrictions (derived plans resolved)",
    description = "Each inventory day carries `stop_sell` and `stop_sell_source`: `none` (open), `manual` (a person, through POST …/ari), \
        `overbooking` (an OTA booking past availability) or `auto_threshold` (availability fell to the configured auto stop-sell \
        threshold). saluran lifts the stop-sells it set itself when room comes back, never a person's. `stream` is where the live \
        stream stood when the snapshot was read: subscribe with `recover` from there.",
    params(("property" = PropertyCode, Path, description = "Property code"), CalendarQuery),
    responses(
        (status = 200, description = "The calendar", body = CalendarOut),
        (status = 422, description = "invalid_field, invalid_date_range", body = ErrorBody),
    ))]
pub async fn get_calendar(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<CalendarQuery>,
) -> ApiResult<Json<Value>> {
    let h = property_for(&app, &caller, &code, Permission::ReadCalendar).await?;
    let cfg = h.config();
    let today = cfg.property.local_date(app.deps().clock.now());
    let from = q.from.as_deref().map(|s| parse_date("from", s)).transpose()?.unwrap_or(today);
    let to = match q.to.as_deref() {
        Some(s) => parse_date("to", s)?,
        None => from.checked_add(jiff::Span::new().days(30)).map_err(|_| DomainError::InvalidDateRange("out of range".into()))?,
    };
    let range = DateRange::new(from, to)?;
    if range.len_days() > HORIZON_DAYS + 1 {
        return Err(DomainError::InvalidDateRange(format!("at most {} days at once", HORIZON_DAYS + 1)).into());
    }
    let mut room_types = Vec::new();
    for view in h.calendars() {
        let cal = view.read();
        let physical = cal.room_type.physical_rooms;
        let days: Vec<Value> = range
            .days()
            .map(|d| {
                let inv = cal.inventory.get_or_default(d);
                json!({
                    "date": d, "available": inv.available(physical), "allotment": inv.allotment, "sold": inv.sold,
                    "held": inv.held, "out_of_order": inv.out_of_order, "stop_sell": inv.stop_sell,
                    "stop_sell_source": inv.closed_by().as_str(),
                })
            })
            .collect();
        let plans: Vec<Value> = cal
            .plans
            .iter()
            .map(|p| {
                let pdays: Vec<Value> = range
                    .days()
                    .map(|d| {
                        let e = cal.effective(&p.plan.code, d).unwrap_or_default();
                        let occ: BTreeMap<String, String> = e.occupancy_rates.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect();
                        json!({
                            "date": d, "rate": e.rate.map(|r| r.to_string()), "occupancy_rates": occ,
                            "min_stay": e.min_stay_arrival, "min_stay_through": e.min_stay_through, "max_stay": e.max_stay,
                            "closed_to_arrival": e.closed_to_arrival, "closed_to_departure": e.closed_to_departure, "stop_sell": e.stop_sell,
                        })
                    })
                    .collect();
                json!({"code": p.plan.code, "derived_from": p.plan.derived.as_ref().map(|d| d.parent.clone()), "days": pdays})
            })
            .collect();
        room_types.push(json!({"code": cal.room_type.code, "physical_rooms": physical, "days": days, "rate_plans": plans}));
    }
    // Where the live stream stood when this snapshot was read: a client
    // subscribes with `recover` from here and misses nothing (I5).
    let stream = app.realtime().position(&format!("private-property.{}.inventory", cfg.property.code));
    Ok(Json(json!({
        "property": cfg.property.code, "currency": cfg.property.currency, "from": from, "to": to, "room_types": room_types,
        "stream": {"epoch": stream.epoch, "offset": stream.offset},
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    #[param(format = Date, min_length = 10, max_length = 10)]
    check_in: String,
    /// After check_in.
    #[param(format = Date, min_length = 10, max_length = 10)]
    check_out: String,
    /// 1-20 (default 2).
    #[param(minimum = 1, maximum = 20)]
    adults: Option<u8>,
}

/// Bookable offers per room type and rate plan, every restriction applied.
#[utoipa::path(get, path = "/api/v1/properties/{property}/availability", tag = "ari", operation_id = "search_availability",
    summary = "Bookable offers per room type and rate plan, every restriction honoured",
    params(("property" = PropertyCode, Path, description = "Property code"), SearchQuery),
    responses(
        (status = 200, description = "Offers", body = SearchResponse),
        (status = 422, description = "invalid_field, invalid_date_range, date_in_past, beyond_horizon", body = ErrorBody),
    ))]
pub async fn search_availability(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<SearchResponse>> {
    let h = property_for(&app, &caller, &code, Permission::Search).await?;
    let cfg = h.config();
    let stay = StayRange::new(parse_date("check_in", &q.check_in)?, parse_date("check_out", &q.check_out)?)?;
    stay.check_within_horizon(cfg.property.local_date(app.deps().clock.now()))?;
    let adults = q.adults.unwrap_or(2);
    if adults == 0 || adults > 20 {
        return Err(ApiError::from(DomainError::invalid("adults", "must be 1-20")));
    }
    let mut offers = Vec::with_capacity(16);
    for view in h.calendars() {
        let cal = view.read();
        offers.extend(Overlay::committed(&cal).search(stay, adults));
    }
    // Serialized straight from typed values: this is the hottest read path.
    Ok(Json(SearchResponse {
        property: cfg.property.code.clone(),
        currency: cfg.property.currency,
        check_in: stay.check_in,
        check_out: stay.check_out,
        nights: stay.nights(),
        adults,
        offers,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchResponse {
    property: saluran_domain::PropertyCode,
    currency: saluran_domain::Currency,
    #[schema(value_type = String, format = Date)]
    check_in: jiff::civil::Date,
    #[schema(value_type = String, format = Date)]
    check_out: jiff::civil::Date,
    nights: i64,
    adults: u8,
    offers: Vec<saluran_domain::availability::Quote>,
}
