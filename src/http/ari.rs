//! ARI batch updates, calendar reads and availability search.

use super::error::{ApiError, ApiResult};
#[allow(unused_imports)] // named in the #[utoipa::path] attributes
use super::openapi::ErrorBody;
use super::{property_for, ApiJson, ApiQuery};
use crate::app::App;
use crate::auth::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::civil::Date;
use rust_decimal::Decimal;
use saluran_domain::ari::AriUpdate;
use saluran_domain::availability::Overlay;
use saluran_domain::calendar::{InventoryDay, StopSellSource};
use saluran_domain::dates::{parse_date, DateRange, StayRange, Weekdays, HORIZON_DAYS};
use saluran_domain::property::Permission;
use saluran_domain::PropertyCode;
use saluran_domain::{Currency, DomainError, Rate, RatePlanCode, RoomTypeCode};
use serde::{Deserialize, Serialize};
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
) -> ApiResult<(StatusCode, Json<AriApplied>)> {
    let h = property_for(&app, &caller, &code, Permission::WriteAri).await?;
    if body.updates.is_empty() || body.updates.len() > MAX_BATCH_LINES {
        return Err(DomainError::invalid("updates", format!("send 1-{MAX_BATCH_LINES} updates")).into());
    }
    let updates = body.updates.into_iter().enumerate().map(|(i, l)| parse_line(i, l)).collect::<Result<Vec<_>, _>>()?;
    let n = updates.len();
    let outcome = crate::service::ari::apply(app.deps(), &h, updates).await?;
    Ok((StatusCode::OK, Json(AriApplied { applied: n, cells: outcome.cells, room_types: outcome.room_types })))
}

/// `POST …/ari`: lines applied, cells changed, room types touched.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AriApplied {
    applied: usize,
    cells: usize,
    room_types: usize,
}

// The calendar's bodies. Fields are in alphabetical order: the calendar
// used to be a `json!` map (sorted keys), and clients see the same bytes.

/// `GET …/ari`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CalendarOut {
    currency: Currency,
    #[schema(value_type = String, format = Date)]
    from: Date,
    property: PropertyCode,
    room_types: Vec<CalendarRoomType>,
    /// Where the live stream stood when this was read: subscribe with `recover` from here.
    stream: StreamPosition,
    #[schema(value_type = String, format = Date)]
    to: Date,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StreamPosition {
    epoch: String,
    offset: u64,
}

impl From<saluran_ws::StreamPosition> for StreamPosition {
    fn from(p: saluran_ws::StreamPosition) -> Self {
        StreamPosition { epoch: p.epoch, offset: p.offset }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CalendarRoomType {
    code: RoomTypeCode,
    days: Vec<InventoryDayOut>,
    physical_rooms: u16,
    rate_plans: Vec<CalendarPlan>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InventoryDayOut {
    allotment: Option<u16>,
    available: i32,
    #[schema(value_type = String, format = Date)]
    date: Date,
    held: u16,
    out_of_order: u16,
    sold: u16,
    stop_sell: bool,
    stop_sell_source: StopSellSource,
}

impl InventoryDayOut {
    fn new(date: Date, inv: &InventoryDay, physical: u16) -> Self {
        InventoryDayOut {
            allotment: inv.allotment,
            available: inv.available(physical),
            date,
            held: inv.held,
            out_of_order: inv.out_of_order,
            sold: inv.sold,
            stop_sell: inv.stop_sell,
            stop_sell_source: inv.closed_by(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CalendarPlan {
    code: RatePlanCode,
    days: Vec<PlanDayOut>,
    /// Null for a base plan.
    derived_from: Option<RatePlanCode>,
}

/// A rate plan's resolved values on a date (derivation applied).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlanDayOut {
    closed_to_arrival: bool,
    closed_to_departure: bool,
    #[schema(value_type = String, format = Date)]
    date: Date,
    max_stay: Option<u16>,
    min_stay: u16,
    min_stay_through: u16,
    /// Number of adults → rate. Keyed by the number as a string, in string
    /// order ("10" before "2"), as the map always wrote it.
    occupancy_rates: BTreeMap<String, String>,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(schema_with = super::openapi::decimal_or_null)]
    rate: Option<Decimal>,
    stop_sell: bool,
}

impl PlanDayOut {
    fn new(date: Date, e: saluran_domain::calendar::EffectiveRate) -> Self {
        PlanDayOut {
            closed_to_arrival: e.closed_to_arrival,
            closed_to_departure: e.closed_to_departure,
            date,
            max_stay: e.max_stay,
            min_stay: e.min_stay_arrival,
            min_stay_through: e.min_stay_through,
            occupancy_rates: e.occupancy_rates.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect(),
            rate: e.rate,
            stop_sell: e.stop_sell,
        }
    }
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
) -> ApiResult<Json<CalendarOut>> {
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
        let days = range.days().map(|d| InventoryDayOut::new(d, &cal.inventory.get_or_default(d), physical)).collect();
        let rate_plans = cal
            .plans
            .iter()
            .map(|p| CalendarPlan {
                code: p.plan.code.clone(),
                days: range.days().map(|d| PlanDayOut::new(d, cal.effective(&p.plan.code, d).unwrap_or_default())).collect(),
                derived_from: p.plan.derived.as_ref().map(|d| d.parent.clone()),
            })
            .collect();
        room_types.push(CalendarRoomType { code: cal.room_type.code.clone(), days, physical_rooms: physical, rate_plans });
    }
    // Where the live stream stood when this snapshot was read: a client
    // subscribes with `recover` from here and misses nothing (I5).
    let stream = app.realtime().position(&format!("private-property.{}.inventory", cfg.property.code));
    Ok(Json(CalendarOut {
        currency: cfg.property.currency,
        from,
        property: cfg.property.code.clone(),
        room_types,
        stream: stream.into(),
        to,
    }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use saluran_domain::calendar::EffectiveRate;
    use serde_json::json;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    // What the calendar handler wrote before its body had a type: the typed
    // body must serialize to exactly these bytes.

    fn inventory_json(d: Date, inv: &InventoryDay, physical: u16) -> serde_json::Value {
        json!({
            "date": d, "available": inv.available(physical), "allotment": inv.allotment, "sold": inv.sold,
            "held": inv.held, "out_of_order": inv.out_of_order, "stop_sell": inv.stop_sell,
            "stop_sell_source": inv.closed_by().as_str(),
        })
    }

    fn plan_day_json(d: Date, e: &EffectiveRate) -> serde_json::Value {
        let occ: BTreeMap<String, String> = e.occupancy_rates.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect();
        json!({
            "date": d, "rate": e.rate.map(|r| r.to_string()), "occupancy_rates": occ,
            "min_stay": e.min_stay_arrival, "min_stay_through": e.min_stay_through, "max_stay": e.max_stay,
            "closed_to_arrival": e.closed_to_arrival, "closed_to_departure": e.closed_to_departure, "stop_sell": e.stop_sell,
        })
    }

    #[test]
    fn the_calendar_body_is_byte_for_byte_what_it_was() {
        let date = d("2027-03-01");
        let inventories = [
            InventoryDay::default(),
            InventoryDay { out_of_order: 1, sold: 3, held: 1, allotment: Some(4), stop_sell: true, stop_sell_source: StopSellSource::None },
            InventoryDay {
                out_of_order: 0,
                sold: 9,
                held: 0,
                allotment: None,
                stop_sell: true,
                stop_sell_source: StopSellSource::Overbooking,
            },
        ];
        let rates = [
            EffectiveRate::default(),
            EffectiveRate {
                rate: Some("850000.50".parse().unwrap()),
                // 10 adults sorts before 2 as a string key, as it always did.
                occupancy_rates: vec![(1, "700000".parse().unwrap()), (2, "850000.50".parse().unwrap()), (10, "1.2345".parse().unwrap())],
                min_stay_arrival: 2,
                min_stay_through: 3,
                max_stay: Some(14),
                closed_to_arrival: true,
                closed_to_departure: false,
                stop_sell: true,
            },
        ];
        let mut old_days = Vec::new();
        let mut days = Vec::new();
        for inv in &inventories {
            assert_eq!(serde_json::to_string(&InventoryDayOut::new(date, inv, 5)).unwrap(), inventory_json(date, inv, 5).to_string());
            old_days.push(inventory_json(date, inv, 5));
            days.push(InventoryDayOut::new(date, inv, 5));
        }
        let mut old_plan_days = Vec::new();
        let mut plan_days = Vec::new();
        for e in &rates {
            assert_eq!(serde_json::to_string(&PlanDayOut::new(date, e.clone())).unwrap(), plan_day_json(date, e).to_string());
            old_plan_days.push(plan_day_json(date, e));
            plan_days.push(PlanDayOut::new(date, e.clone()));
        }
        let bar = RatePlanCode::parse("BAR").unwrap();
        let old = json!({
            "property": "BALI1", "currency": "IDR", "from": date, "to": d("2027-03-02"),
            "room_types": [{"code": "DLX", "physical_rooms": 5, "days": old_days, "rate_plans": [
                {"code": "NRF", "derived_from": Some(&bar), "days": old_plan_days},
                {"code": "BAR", "derived_from": None::<RatePlanCode>, "days": []},
            ]}],
            "stream": {"epoch": "e-1", "offset": 42},
        });
        let typed = CalendarOut {
            currency: Currency::IDR,
            from: date,
            property: PropertyCode::parse("BALI1").unwrap(),
            room_types: vec![CalendarRoomType {
                code: RoomTypeCode::parse("DLX").unwrap(),
                days,
                physical_rooms: 5,
                rate_plans: vec![
                    CalendarPlan { code: RatePlanCode::parse("NRF").unwrap(), days: plan_days, derived_from: Some(bar.clone()) },
                    CalendarPlan { code: bar, days: Vec::new(), derived_from: None },
                ],
            }],
            stream: saluran_ws::StreamPosition { epoch: "e-1".into(), offset: 42 }.into(),
            to: d("2027-03-02"),
        };
        assert_eq!(serde_json::to_string(&typed).unwrap(), old.to_string());
        let applied = AriApplied { applied: 3, cells: 120, room_types: 2 };
        assert_eq!(serde_json::to_string(&applied).unwrap(), json!({"applied": 3, "cells": 120, "room_types": 2}).to_string());
    }
}
