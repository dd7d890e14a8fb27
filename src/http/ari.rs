//! ARI batch updates, calendar reads and availability search.

use super::error::{ApiError, ApiResult};
use super::{property_for, ApiJson, ApiQuery};
use crate::app::App;
use crate::auth::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use saluran_actors::PropertyMsg;
use saluran_domain::ari::AriUpdate;
use saluran_domain::availability::Overlay;
use saluran_domain::dates::{parse_date, DateRange, StayRange, Weekdays, HORIZON_DAYS};
use saluran_domain::property::Permission;
use saluran_domain::{DomainError, Rate, RatePlanCode, RoomTypeCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Lines per batch at most: a full 730-day year for 15 plans is 15 lines.
pub const MAX_BATCH_LINES: usize = 2000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AriBody {
    updates: Vec<AriLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AriLine {
    room_type: String,
    rate_plan: Option<String>,
    from: String,
    to: String,
    days: Option<Vec<String>>,
    availability: Option<u32>,
    rate: Option<String>,
    occupancy_rates: Option<BTreeMap<String, String>>,
    min_stay: Option<u32>,
    min_stay_through: Option<u32>,
    max_stay: Option<u32>,
    closed_to_arrival: Option<bool>,
    closed_to_departure: Option<bool>,
    stop_sell: Option<bool>,
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
    let outcome = h.call(app.deps.call_timeout, |reply| PropertyMsg::ApplyAri { updates, reply }).await??;
    Ok((StatusCode::OK, Json(json!({"applied": n, "cells": outcome.cells, "room_types": outcome.room_types}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarQuery {
    from: Option<String>,
    to: Option<String>,
}

pub async fn get_calendar(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<CalendarQuery>,
) -> ApiResult<Json<Value>> {
    let h = property_for(&app, &caller, &code, Permission::ReadCalendar).await?;
    let cfg = h.config();
    let today = cfg.property.local_date(app.deps.clock.now());
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
    let stream = app.realtime.position(&format!("private-property.{}.inventory", cfg.property.code));
    Ok(Json(json!({
        "property": cfg.property.code, "currency": cfg.property.currency, "from": from, "to": to, "room_types": room_types,
        "stream": {"epoch": stream.epoch, "offset": stream.offset},
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    check_in: String,
    check_out: String,
    adults: Option<u8>,
}

/// Bookable offers per room type and rate plan, every restriction applied.
pub async fn search_availability(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<SearchResponse>> {
    let h = property_for(&app, &caller, &code, Permission::Search).await?;
    let cfg = h.config();
    let stay = StayRange::new(parse_date("check_in", &q.check_in)?, parse_date("check_out", &q.check_out)?)?;
    stay.check_within_horizon(cfg.property.local_date(app.deps.clock.now()))?;
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

#[derive(Serialize)]
pub struct SearchResponse {
    property: saluran_domain::PropertyCode,
    currency: saluran_domain::Currency,
    check_in: jiff::civil::Date,
    check_out: jiff::civil::Date,
    nights: i64,
    adults: u8,
    offers: Vec<saluran_domain::availability::Quote>,
}
