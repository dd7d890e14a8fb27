//! `jsonrest` profile (Channex style): batched JSON ARI, a booking-revisions feed
//! (pull) with a notify webhook, and per-revision acks. Amounts are decimal strings
//! (never JSON numbers: no binary floating point on money); dates are `YYYY-MM-DD`.
//! Every parser checks the body size first (`json_too_large`) and refuses malformed
//! JSON or JSON of the wrong shape (`json_malformed`, `invalid_value`, `missing_field`).
//!
//! ## ARI batch (hub → OTA), `POST …/ari`
//!
//! ```json
//! {"values": [
//!   {"property_id": "HTL-01", "room_type_id": "DLX", "rate_plan_id": "BAR",
//!    "date_from": "2025-07-01", "date_to": "2025-07-03",
//!    "availability": 5, "rate": "1250000.50",
//!    "rates": [{"occupancy": 1, "rate": "1100000"}, {"occupancy": 2, "rate": "1250000.50"}],
//!    "min_stay_arrival": 2, "min_stay_through": 1, "max_stay": 14,
//!    "closed_to_arrival": false, "closed_to_departure": false, "stop_sell": false}
//! ]}
//! ```
//!
//! plus an optional top-level `"timestamp": "2025-06-01T08:30:00Z"` ([`ari_batch_at`]),
//! the time the hub read the state it sends (a receiver may ignore older batches).
//!
//! One entry per [`AriRange`] (`date_to` inclusive). `rate_plan_id` and every value
//! are optional (absent = not touched); `max_stay: 0` means no maximum, a minimum stay
//! of 0 or 1 means no minimum. Absence never clears (the batch is a delta): the hub
//! states every restriction of every range it sends, cleared ones included
//! (`"min_stay_arrival": 1`, `"max_stay": 0`, `"closed_to_arrival": false`, …).
//! Carries every [`AriField`] ([`CARRIES`]). Unknown fields are refused: an entry has
//! exactly the fields above (`property_id`, `room_type_id`, `rate_plan_id`, `date_from`,
//! `date_to`, `availability`, `rate`, `rates[].occupancy`, `rates[].rate`,
//! `min_stay_arrival`, `min_stay_through`, `max_stay`, `closed_to_arrival`,
//! `closed_to_departure`, `stop_sell`), so a receiver built to this document must
//! accept `min_stay_through` (the hub sends it unless the preset says
//! `min_stay_through = false`).
//!
//! ## Booking-revisions feed (OTA → hub), `GET …/booking_revisions/feed`
//!
//! ```json
//! {"data": [
//!   {"id": "rev-0001", "booking_id": "BK-123", "property_id": "HTL-01",
//!    "status": "new", "inserted_at": "2025-06-01T08:00:00Z",
//!    "currency": "IDR", "amount": "4750000.50",
//!    "customer": {"name": "Siti Nur Aisyah"},
//!    "rooms": [
//!      {"room_type_id": "DLX", "rate_plan_id": "BAR",
//!       "checkin_date": "2025-07-01", "checkout_date": "2025-07-04", "adults": 2,
//!       "amount": "3900000",
//!       "days": {"2025-07-01": "1250000", "2025-07-02": "1250000", "2025-07-03": "1400000"}}
//!    ]}
//! ]}
//! ```
//!
//! `id` is the revision id (unique per revision, opaque; the feed lists revisions
//! oldest first) → [`InboundBooking::revision`]; `booking_id` → the OTA reservation id;
//! `property_id` → the hotel code; `status` is `new`, `modified` or `cancelled`.
//! `rate_plan_id`, `amount`, `currency`, `customer`, `inserted_at`, `days` are
//! optional; nights in `days` outside the stay are ignored. Unknown fields are ignored
//! (the OTA may add some). A revision that cannot be read is returned apart, with its
//! error, so one bad entry never hides the others.
//!
//! Each revision is acknowledged after commit with `POST …/booking_revisions/{id}/ack`
//! ([`revision_ack_path`]).
//!
//! ## Notify webhook (OTA → hub)
//!
//! ```json
//! {"event": "booking_revision", "property_id": "HTL-01", "revision_id": "rev-0001", "booking_id": "BK-123"}
//! ```
//!
//! signed as described in [`crate::signature`]; it only tells the hub to pull the feed.

use crate::error::{excerpt, CodecError};
use crate::model::{
    check_len, days_between, AriField, AriRange, AriValues, BookedRoom, BookingAction, InboundBooking, MAX_ID_CHARS, MAX_TOKEN_CHARS,
};
use crate::xml::{fmt_amount, parse_amount, parse_date, Limits};
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The event name of a booking notification.
/// The ARI values this profile carries: all of them.
pub const CARRIES: &[AriField] = &AriField::ALL;

pub const EVENT_BOOKING_REVISION: &str = "booking_revision";

fn check_size(body: &[u8], limits: &Limits) -> Result<(), CodecError> {
    if body.len() > limits.max_bytes {
        return Err(CodecError::JsonTooLarge { size: body.len(), limit: limits.max_bytes });
    }
    Ok(())
}

fn json_err(e: serde_json::Error) -> CodecError {
    CodecError::JsonMalformed(excerpt(&e.to_string()))
}

// ---------------------------------------------------------------------------
// ARI
// ---------------------------------------------------------------------------

/// The ARI batch for `ranges` of `property_id`, stamped with the time its state was
/// read (top-level `"timestamp"`, RFC 3339 UTC), so the receiver can ignore a batch
/// older than one it already applied.
pub fn ari_batch_at(property_id: &str, ranges: &[AriRange], timestamp: jiff::Timestamp) -> Value {
    let mut v = ari_batch(property_id, ranges);
    v["timestamp"] = json!(crate::xml::fmt_timestamp(timestamp));
    v
}

/// The ARI batch for `ranges` of `property_id` (no timestamp).
pub fn ari_batch(property_id: &str, ranges: &[AriRange]) -> Value {
    let values: Vec<Value> = ranges
        .iter()
        .map(|r| {
            let v = &r.values;
            let mut m = Map::new();
            m.insert("property_id".into(), json!(property_id));
            m.insert("room_type_id".into(), json!(r.ota_room));
            if let Some(rate) = &r.ota_rate {
                m.insert("rate_plan_id".into(), json!(rate));
            }
            m.insert("date_from".into(), json!(r.start.to_string()));
            m.insert("date_to".into(), json!(r.end.to_string()));
            if let Some(a) = v.available {
                m.insert("availability".into(), json!(a));
            }
            if let Some(rate) = &v.rate {
                m.insert("rate".into(), json!(fmt_amount(rate)));
            }
            if !v.occupancy_rates.is_empty() {
                let rates: Vec<Value> = v.occupancy_rates.iter().map(|(n, r)| json!({"occupancy": n, "rate": fmt_amount(r)})).collect();
                m.insert("rates".into(), Value::Array(rates));
            }
            if let Some(x) = v.min_stay {
                m.insert("min_stay_arrival".into(), json!(x));
            }
            if let Some(x) = v.min_stay_through {
                m.insert("min_stay_through".into(), json!(x));
            }
            if let Some(x) = v.max_stay {
                m.insert("max_stay".into(), json!(x));
            }
            if let Some(x) = v.closed_to_arrival {
                m.insert("closed_to_arrival".into(), json!(x));
            }
            if let Some(x) = v.closed_to_departure {
                m.insert("closed_to_departure".into(), json!(x));
            }
            if let Some(x) = v.stop_sell {
                m.insert("stop_sell".into(), json!(x));
            }
            Value::Object(m)
        })
        .collect();
    json!({ "values": values })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AriBatchJson {
    values: Vec<AriValueJson>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AriValueJson {
    property_id: String,
    room_type_id: String,
    #[serde(default)]
    rate_plan_id: Option<String>,
    date_from: String,
    date_to: String,
    #[serde(default)]
    availability: Option<u32>,
    #[serde(default)]
    rate: Option<String>,
    #[serde(default)]
    rates: Option<Vec<OccupancyRateJson>>,
    #[serde(default)]
    min_stay_arrival: Option<u16>,
    #[serde(default)]
    min_stay_through: Option<u16>,
    #[serde(default)]
    max_stay: Option<u16>,
    #[serde(default)]
    closed_to_arrival: Option<bool>,
    #[serde(default)]
    closed_to_departure: Option<bool>,
    #[serde(default)]
    stop_sell: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OccupancyRateJson {
    occupancy: u8,
    rate: String,
}

/// An ARI batch as the OTA reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AriBatch {
    /// The one property every entry names.
    pub property_id: String,
    /// The top-level `"timestamp"`, as given (checked to be an RFC 3339 instant).
    pub timestamp: Option<String>,
    pub ranges: Vec<AriRange>,
}

/// Reads an ARI batch (simulator side). Every entry must name the same property and
/// set at least one value.
pub fn parse_ari_batch(body: &[u8], limits: &Limits) -> Result<AriBatch, CodecError> {
    check_size(body, limits)?;
    let batch: AriBatchJson = serde_json::from_slice(body).map_err(json_err)?;
    if let Some(ts) = &batch.timestamp {
        if ts.parse::<jiff::Timestamp>().is_err() {
            return Err(CodecError::invalid("timestamp", format!("{:?} is not an RFC 3339 instant", excerpt(ts))));
        }
    }
    let mut property_id: Option<String> = None;
    let mut ranges = Vec::with_capacity(batch.values.len());
    for (i, v) in batch.values.into_iter().enumerate() {
        let field = |f: &str| format!("values[{i}].{f}");
        match &property_id {
            Some(p) if *p != v.property_id => {
                return Err(CodecError::invalid(field("property_id"), "all values of a batch must name the same property"))
            }
            Some(_) => {}
            None => property_id = Some(v.property_id.clone()),
        }
        if v.room_type_id.is_empty() {
            return Err(CodecError::missing(field("room_type_id")));
        }
        let start = parse_date(&field("date_from"), &v.date_from)?;
        let end = parse_date(&field("date_to"), &v.date_to)?;
        if end < start {
            return Err(CodecError::invalid(field("date_to"), format!("{end} is before date_from {start}")));
        }
        let rate = v.rate.as_deref().map(|r| parse_amount(&field("rate"), r)).transpose()?;
        let mut occupancy_rates = Vec::new();
        for o in v.rates.unwrap_or_default() {
            if occupancy_rates.iter().any(|(n, _)| *n == o.occupancy) {
                return Err(CodecError::invalid(field("rates"), format!("occupancy {} appears twice", o.occupancy)));
            }
            occupancy_rates.push((o.occupancy, parse_amount(&field("rates.rate"), &o.rate)?));
        }
        occupancy_rates.sort_by_key(|(n, _)| *n);
        let values = AriValues {
            available: v.availability,
            rate,
            occupancy_rates,
            min_stay: v.min_stay_arrival,
            min_stay_through: v.min_stay_through,
            max_stay: v.max_stay,
            closed_to_arrival: v.closed_to_arrival,
            closed_to_departure: v.closed_to_departure,
            stop_sell: v.stop_sell,
        };
        if values.is_empty() {
            return Err(CodecError::invalid(field(""), "an entry must set at least one value"));
        }
        ranges.push(AriRange { ota_room: v.room_type_id, ota_rate: v.rate_plan_id.filter(|r| !r.is_empty()), start, end, values });
    }
    Ok(AriBatch { property_id: property_id.unwrap_or_default(), timestamp: batch.timestamp, ranges })
}

// ---------------------------------------------------------------------------
// Booking revisions
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct FeedJson {
    data: Vec<Value>,
}

#[derive(Deserialize)]
struct RevisionJson {
    id: String,
    booking_id: String,
    #[serde(default)]
    property_id: Option<String>,
    status: String,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    customer: Option<CustomerJson>,
    #[serde(default)]
    rooms: Vec<RoomJson>,
}

#[derive(Deserialize)]
struct CustomerJson {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RoomJson {
    room_type_id: String,
    #[serde(default)]
    rate_plan_id: Option<String>,
    checkin_date: String,
    checkout_date: String,
    #[serde(default)]
    adults: u8,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    days: BTreeMap<String, String>,
}

/// What a revisions feed carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RevisionsFeed {
    /// Readable revisions, in feed order.
    pub revisions: Vec<InboundBooking>,
    /// Revisions that could not be read: (`id` or `"?"`, why).
    pub invalid: Vec<(String, CodecError)>,
}

/// Reads a booking-revisions feed (module docs).
pub fn parse_revisions_feed(body: &[u8], limits: &Limits) -> Result<RevisionsFeed, CodecError> {
    check_size(body, limits)?;
    let feed: FeedJson = serde_json::from_slice(body).map_err(json_err)?;
    let mut out = RevisionsFeed::default();
    for (i, item) in feed.data.into_iter().enumerate() {
        // Quoted in logs when the revision is refused: never whole.
        let id = item.get("id").and_then(Value::as_str).map(excerpt).unwrap_or_else(|| "?".to_owned());
        let parsed = serde_json::from_value::<RevisionJson>(item).map_err(json_err).and_then(|r| revision(r, i, limits));
        match parsed {
            Ok(b) => out.revisions.push(b),
            Err(e) => out.invalid.push((id, e)),
        }
    }
    Ok(out)
}

fn revision(r: RevisionJson, i: usize, limits: &Limits) -> Result<InboundBooking, CodecError> {
    let field = |f: &str| format!("data[{i}].{f}");
    if r.id.is_empty() {
        return Err(CodecError::missing(field("id")));
    }
    if r.booking_id.is_empty() {
        return Err(CodecError::missing(field("booking_id")));
    }
    let action = match r.status.as_str() {
        "new" => BookingAction::New,
        "modified" => BookingAction::Modify,
        "cancelled" => BookingAction::Cancel,
        other => return Err(CodecError::invalid(field("status"), format!("{:?} is not new, modified or cancelled", excerpt(other)))),
    };
    let mut rooms = Vec::with_capacity(r.rooms.len());
    for (j, room) in r.rooms.into_iter().enumerate() {
        let rf = |f: &str| format!("data[{i}].rooms[{j}].{f}");
        if room.room_type_id.is_empty() {
            return Err(CodecError::missing(rf("room_type_id")));
        }
        let check_in = parse_date(&rf("checkin_date"), &room.checkin_date)?;
        let check_out = parse_date(&rf("checkout_date"), &room.checkout_date)?;
        let nights = days_between(check_in, check_out);
        if nights < 1 {
            return Err(CodecError::invalid(rf("checkout_date"), format!("{check_out} is not after {check_in}")));
        }
        if nights > i64::from(limits.max_stay_nights) {
            return Err(CodecError::invalid(
                rf("checkout_date"),
                format!("{nights} nights exceed the limit of {}", limits.max_stay_nights),
            ));
        }
        let mut nightly: Vec<(Date, Decimal)> = Vec::with_capacity(room.days.len());
        for (d, amount) in &room.days {
            let date = parse_date(&rf("days"), d)?;
            let amount = parse_amount(&rf("days"), amount)?;
            if date >= check_in && date < check_out {
                nightly.push((date, amount));
            }
        }
        nightly.sort_by_key(|(d, _)| *d);
        rooms.push(BookedRoom {
            ota_room: room.room_type_id,
            ota_rate: room.rate_plan_id.filter(|r| !r.is_empty()),
            check_in,
            check_out,
            adults: room.adults,
            nightly,
            total: room.amount.as_deref().map(|a| parse_amount(&rf("amount"), a)).transpose()?,
        });
    }
    let booking = InboundBooking {
        action,
        hotel_code: r.property_id.unwrap_or_default(),
        ota_reservation_id: r.booking_id,
        revision: r.id,
        rooms,
        guest_name: r.customer.and_then(|c| c.name).map(|n| n.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|n| !n.is_empty()),
        currency: r.currency.filter(|c| !c.is_empty()),
        total: r.amount.as_deref().map(|a| parse_amount(&field("amount"), a)).transpose()?,
    };
    booking.check_lengths()?;
    Ok(booking)
}

/// The feed listing `bookings` (simulator side); each booking's `revision` is its `id`.
pub fn revisions_feed(bookings: &[InboundBooking]) -> Value {
    let data: Vec<Value> = bookings
        .iter()
        .map(|b| {
            let status = match b.action {
                BookingAction::New => "new",
                BookingAction::Modify => "modified",
                BookingAction::Cancel => "cancelled",
            };
            let rooms: Vec<Value> = b
                .rooms
                .iter()
                .map(|r| {
                    let mut m = Map::new();
                    m.insert("room_type_id".into(), json!(r.ota_room));
                    if let Some(rate) = &r.ota_rate {
                        m.insert("rate_plan_id".into(), json!(rate));
                    }
                    m.insert("checkin_date".into(), json!(r.check_in.to_string()));
                    m.insert("checkout_date".into(), json!(r.check_out.to_string()));
                    m.insert("adults".into(), json!(r.adults));
                    if let Some(t) = &r.total {
                        m.insert("amount".into(), json!(fmt_amount(t)));
                    }
                    let days: Map<String, Value> = r.nightly.iter().map(|(d, a)| (d.to_string(), json!(fmt_amount(a)))).collect();
                    m.insert("days".into(), Value::Object(days));
                    Value::Object(m)
                })
                .collect();
            let mut m = Map::new();
            m.insert("id".into(), json!(b.revision));
            m.insert("booking_id".into(), json!(b.ota_reservation_id));
            m.insert("property_id".into(), json!(b.hotel_code));
            m.insert("status".into(), json!(status));
            if let Some(c) = &b.currency {
                m.insert("currency".into(), json!(c));
            }
            if let Some(t) = &b.total {
                m.insert("amount".into(), json!(fmt_amount(t)));
            }
            if let Some(n) = &b.guest_name {
                m.insert("customer".into(), json!({ "name": n }));
            }
            m.insert("rooms".into(), Value::Array(rooms));
            Value::Object(m)
        })
        .collect();
    json!({ "data": data })
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path (relative to the connection's endpoint) of the revisions feed of a property.
pub fn revisions_feed_path(property_id: &str) -> String {
    format!("/booking_revisions/feed?property_id={}", encode_segment(property_id))
}

/// The path (relative to the connection's endpoint) acknowledging one revision.
pub fn revision_ack_path(revision_id: &str) -> String {
    format!("/booking_revisions/{}/ack", encode_segment(revision_id))
}

// ---------------------------------------------------------------------------
// Notify
// ---------------------------------------------------------------------------

/// A notification that the feed has something new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    pub event: String,
    pub property_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
}

/// Reads a notify webhook body.
pub fn parse_notify(body: &[u8], limits: &Limits) -> Result<Notify, CodecError> {
    check_size(body, limits)?;
    let n: Notify = serde_json::from_slice(body).map_err(json_err)?;
    if n.event.is_empty() {
        return Err(CodecError::missing("event"));
    }
    if n.property_id.is_empty() {
        return Err(CodecError::missing("property_id"));
    }
    check_len("event", &n.event, MAX_ID_CHARS)?;
    check_len("property_id", &n.property_id, MAX_ID_CHARS)?;
    check_len("revision_id", n.revision_id.as_deref().unwrap_or_default(), MAX_TOKEN_CHARS)?;
    check_len("booking_id", n.booking_id.as_deref().unwrap_or_default(), MAX_ID_CHARS)?;
    Ok(n)
}

/// A notify body (simulator side).
pub fn notify(property_id: &str, revision_id: Option<&str>, booking_id: Option<&str>) -> Value {
    serde_json::to_value(Notify {
        event: EVENT_BOOKING_REVISION.to_owned(),
        property_id: property_id.to_owned(),
        revision_id: revision_id.map(str::to_owned),
        booking_id: booking_id.map(str::to_owned),
    })
    .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn ari_batch_refuses_bad_shapes() {
        let l = Limits::default();
        let cases: &[(&str, &str)] = &[
            ("{", "json_malformed"),
            ("[]", "json_malformed"),
            (
                r#"{"values":[{"property_id":"P","room_type_id":"R","date_from":"2025-01-02","date_to":"2025-01-01","availability":1}]}"#,
                "invalid_value",
            ),
            (r#"{"values":[{"property_id":"P","room_type_id":"R","date_from":"2025-01-01","date_to":"2025-01-01"}]}"#, "invalid_value"),
            (
                r#"{"values":[{"property_id":"P","room_type_id":"R","date_from":"2025-01-01","date_to":"2025-01-01","rate":1.5}]}"#,
                "json_malformed",
            ),
            (
                r#"{"values":[{"property_id":"P","room_type_id":"R","date_from":"2025-01-01","date_to":"2025-01-01","rate":"-1"}]}"#,
                "invalid_value",
            ),
            (
                r#"{"values":[{"property_id":"P","room_type_id":"R","date_from":"2025-01-01","date_to":"2025-01-01","bogus":1}]}"#,
                "json_malformed",
            ),
            (
                r#"{"values":[{"property_id":"P","room_type_id":"R","date_from":"2025-01-01","date_to":"2025-01-01","availability":-1}]}"#,
                "json_malformed",
            ),
            (
                r#"{"values":[{"property_id":"P","room_type_id":"R","date_from":"2025-01-01","date_to":"2025-01-01","availability":1},{"property_id":"Q","room_type_id":"R","date_from":"2025-01-01","date_to":"2025-01-01","availability":1}]}"#,
                "invalid_value",
            ),
        ];
        for (body, code) in cases {
            assert_eq!(parse_ari_batch(body.as_bytes(), &l).unwrap_err().code(), *code, "{body}");
        }
        let ts = r#"{"timestamp":"yesterday","values":[]}"#;
        assert_eq!(parse_ari_batch(ts.as_bytes(), &l).unwrap_err().code(), "invalid_value");
        let at: jiff::Timestamp = "2025-06-01T08:30:00Z".parse().unwrap();
        let stamped = serde_json::to_vec(&ari_batch_at("P", &[], at)).unwrap();
        assert_eq!(parse_ari_batch(&stamped, &l).unwrap().timestamp.as_deref(), Some("2025-06-01T08:30:00Z"));
        let small = Limits { max_bytes: 10, ..Limits::default() };
        assert_eq!(parse_ari_batch(b"{\"values\":[]}", &small).unwrap_err().code(), "json_too_large");
        let deep = "[".repeat(100_000);
        assert_eq!(parse_ari_batch(deep.as_bytes(), &l).unwrap_err().code(), "json_malformed");
    }

    #[test]
    fn feed_keeps_good_revisions_and_reports_bad_ones() {
        let body = r#"{"data":[
          {"id":"r1","booking_id":"B1","property_id":"P","status":"new","rooms":[{"room_type_id":"DLX","checkin_date":"2025-07-01","checkout_date":"2025-07-03","adults":2,"days":{"2025-07-02":"100","2025-07-01":"90","2025-07-03":"1"}}],"extra":{"x":1}},
          {"id":"r2","booking_id":"B2","status":"paused"},
          {"booking_id":"B3","status":"new"},
          {"id":"r4","booking_id":"B1","status":"cancelled","customer":{"name":"  Budi  Santoso "}}
        ]}"#;
        let feed = parse_revisions_feed(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(feed.revisions.len(), 2);
        assert_eq!(feed.revisions[0].rooms[0].nightly, vec![(date(2025, 7, 1), Decimal::from(90)), (date(2025, 7, 2), Decimal::from(100))]);
        assert_eq!(feed.revisions[1].action, BookingAction::Cancel);
        assert_eq!(feed.revisions[1].guest_name.as_deref(), Some("Budi Santoso"));
        assert_eq!(
            feed.invalid.iter().map(|(id, e)| (id.as_str(), e.code())).collect::<Vec<_>>(),
            vec![("r2", "invalid_value"), ("?", "json_malformed")]
        );
    }

    #[test]
    fn notify_and_paths() {
        let l = Limits::default();
        let body = serde_json::to_vec(&notify("HTL-01", Some("rev 1/2"), None)).unwrap();
        let n = parse_notify(&body, &l).unwrap();
        assert_eq!(
            (n.event.as_str(), n.property_id.as_str(), n.revision_id.as_deref()),
            (EVENT_BOOKING_REVISION, "HTL-01", Some("rev 1/2"))
        );
        assert_eq!(parse_notify(br#"{"event":"","property_id":"P"}"#, &l).unwrap_err().code(), "missing_field");
        assert_eq!(parse_notify(br#"{"property_id":"P"}"#, &l).unwrap_err().code(), "json_malformed");
        assert_eq!(revision_ack_path("rev 1/2"), "/booking_revisions/rev%201%2F2/ack");
        assert_eq!(revisions_feed_path("HTL-01"), "/booking_revisions/feed?property_id=HTL-01");
    }
}
