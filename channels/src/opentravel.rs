//! `opentravel` profile (Booking.com / SiteMinder style, OpenTravel 2015A).
//!
//! Hub → OTA: [`avail_notif_rq`] (availability, LOS, CTA/CTD, stop-sell) and
//! [`rate_amount_notif_rq`] (`BaseByGuestAmts`). OTA → hub: [`parse_booking`] for
//! `OTA_HotelResNotifRQ`, `OTA_HotelResModifyNotifRQ` and `OTA_CancelRQ`, answered by
//! [`booking_ack_rs`] / [`error_rs`]. The OTA simulator uses the other half:
//! [`parse_avail_notif`], [`parse_rate_amount_notif`], [`notif_success_rs`],
//! [`res_notif_rq`] and [`parse_booking_ack_rs`]. Everything written validates against
//! the OpenTravel 2015A schemas.
//!
//! ## Mapping of ARI
//!
//! Per [`AriRange`] (`StatusApplicationControl Start End InvTypeCode RatePlanCode`,
//! `End` inclusive):
//!
//! - `OTA_HotelAvailNotifRQ`: one `AvailStatusMessage` carrying `BookingLimit`
//!   (`available`, with `BookingLimitMessageType="SetLimit"`), `LengthsOfStay`
//!   (`SetMinLOS` / `SetMaxLOS`, `Time` in days) and the stop-sell as
//!   `RestrictionStatus Restriction="Master" Status="Close|Open"`; the schema allows one
//!   `RestrictionStatus` per message, so CTA and CTD each get their own
//!   `AvailStatusMessage` (`Restriction="Arrival"` / `"Departure"`), and so does the
//!   minimum stay *through* (`LengthsOfStay ArrivalDateBased="false"` with `SetMinLOS`;
//!   without the attribute, or with `"true"`, a minimum stay counts from arrival).
//!   Ranges without any of these values are left out. A range thus writes up to four
//!   `AvailStatusMessage`s ([`avail_status_messages`]), each with its own
//!   `StatusApplicationControl`: OTA limits per message count these elements, and the
//!   hub splits messages by them. The minimum stay through is written only for an OTA
//!   whose preset says `min_stay_through = true` (the hub leaves it out of the ranges
//!   otherwise): an OTA that ignores `ArrivalDateBased` would apply it as an arrival
//!   minimum.
//! - **Clears are explicit** (messages are deltas: what is left out stays as the OTA
//!   had it): no minimum stay (`min_stay` 0 or 1) is `SetMinLOS Time="1"`, no maximum
//!   (`max_stay` 0) is `RemoveMaxLOS`, CTA/CTD/stop-sell off is `Status="Open"`. On
//!   reading, `RemoveMinLOS` is a minimum of 0.
//! - Carries every [`AriField`] ([`CARRIES`]).
//! - `OTA_HotelRateAmountNotifRQ`: one `RateAmountMessage` per range with a price;
//!   `BaseByGuestAmt` without `NumberOfGuests` is the base rate, one with
//!   `NumberOfGuests="n" AgeQualifyingCode="10"` is the price for `n` adults.
//!   Amounts are written with at most 3 decimals (OTA `Money`).
//!
//! ## Reading bookings
//!
//! - Action: `OTA_CancelRQ` → cancel; `OTA_HotelResModifyNotifRQ` → modify;
//!   `OTA_HotelResNotifRQ` → by `ResStatus` (of the reservation, else of the root):
//!   `Cancel`/`Cancelled` → cancel, `Modify`/`Modified` → modify, anything else → new.
//! - Reservation id: `UniqueID[@Type=14]@ID` (else the first `UniqueID`), else
//!   `ResGlobalInfo/HotelReservationIDs/HotelReservationID[@ResID_Type=14]@ResID_Value`.
//! - Hotel code: `ResGlobalInfo/BasicPropertyInfo@HotelCode`, else
//!   `RoomStay/BasicPropertyInfo@HotelCode`; for `OTA_CancelRQ` `UniqueID[@Type=10]@ID`;
//!   empty when absent.
//! - **Revision**: the first present of `HotelReservation@LastModifyDateTime`,
//!   `HotelReservation@CreateDateTime`, the reservation `UniqueID@Instance`, the root
//!   `@TimeStamp`; when none is present, `sha256:` + digest of the parsed content
//!   (see [`InboundBooking::revision`]). Taken verbatim (not normalized); one without
//!   an offset is compared as a time in the property's zone.
//! - Rooms: `RoomStays/RoomStay`: `RoomTypes/RoomType@RoomTypeCode` (else
//!   `RoomRates/RoomRate@RoomTypeCode`), `RatePlans/RatePlan@RatePlanCode` (else
//!   `RoomRate@RatePlanCode`), `TimeSpan@Start/@End` (or `@Duration="PnN"`), adults =
//!   sum of `GuestCount@Count` with `AgeQualifyingCode="10"` or with neither
//!   `AgeQualifyingCode` nor `Age` (0 when not stated); nightly prices from
//!   `RoomRates/RoomRate/Rates/Rate@EffectiveDate/@ExpireDate` + `Base@AmountAfterTax`
//!   (else `@AmountBeforeTax`) per night: `ExpireDate` is exclusive (the de-facto
//!   convention of OTA reservation feeds) unless `ExpireDateExclusiveInd="false"`, or it
//!   equals `EffectiveDate`; nights outside the stay are ignored. Room total from
//!   `RoomStay/Total`.
//! - Guest: the first `PersonName` under `ResGuests`: `GivenName`s + `Surname`.
//! - Booking total/currency: `ResGlobalInfo/Total`, else the sum of the room totals
//!   (when every room has one); currency from the first `CurrencyCode` found there.

use crate::error::{excerpt, CodecError};
use crate::model::{
    check_len, days_between, next_day, AriField, AriRange, AriValues, BookedRoom, BookingAction, InboundBooking, MAX_ID_CHARS,
    MAX_TOKEN_CHARS,
};
use crate::xml::{self, fmt_timestamp, parse_amount, parse_bool, parse_date, parse_uint, Element, Limits, XmlWriter};
use jiff::civil::Date;
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// The ARI values this profile carries: all of them.
pub const CARRIES: &[AriField] = &AriField::ALL;

/// `Version` written on every message.
pub const VERSION: &str = "1.000";

pub const AVAIL_NOTIF_RQ: &str = "OTA_HotelAvailNotifRQ";
pub const AVAIL_NOTIF_RS: &str = "OTA_HotelAvailNotifRS";
pub const RATE_AMOUNT_NOTIF_RQ: &str = "OTA_HotelRateAmountNotifRQ";
pub const RATE_AMOUNT_NOTIF_RS: &str = "OTA_HotelRateAmountNotifRS";
pub const RES_NOTIF_RQ: &str = "OTA_HotelResNotifRQ";
pub const RES_NOTIF_RS: &str = "OTA_HotelResNotifRS";
pub const RES_MODIFY_NOTIF_RQ: &str = "OTA_HotelResModifyNotifRQ";
pub const RES_MODIFY_NOTIF_RS: &str = "OTA_HotelResModifyNotifRS";
pub const CANCEL_RQ: &str = "OTA_CancelRQ";
pub const CANCEL_RS: &str = "OTA_CancelRS";

/// Most `Rate` × night expansions accepted in one booking message (guards CPU).
const MAX_NIGHT_EXPANSIONS: usize = 1_000_000;

// ---------------------------------------------------------------------------
// Small shared helpers
// ---------------------------------------------------------------------------

/// An amount as OTA `Money` (xs:decimal, at most 3 fraction digits).
pub(crate) fn money(d: &Decimal) -> String {
    let d = d.normalize();
    let d = if d.scale() > 3 { d.round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero).normalize() } else { d };
    d.to_string()
}

/// Cuts a string to at most `n` characters.
pub(crate) fn cut(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Whether `s` is an xs:dateTime that jiff understands (date, `T`, time, optional offset).
pub(crate) fn is_xs_datetime(s: &str) -> bool {
    s.as_bytes().get(10) == Some(&b'T')
        && !s.contains('[')
        && (s.parse::<jiff::Timestamp>().is_ok() || s.parse::<jiff::civil::DateTime>().is_ok())
}

/// An id for a `UniqueID@ID` (OTA `StringLength1to32`): a hyphenated UUID is written
/// in its 32-character simple form; anything else as given.
pub(crate) fn id32(id: &str) -> String {
    if id.chars().count() > 32 && id.len() == 36 && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()) {
        id.replace('-', "")
    } else {
        id.to_owned()
    }
}

/// Splits a full name into (given names, surname) at the last space.
pub(crate) fn split_name(name: &str) -> (Option<String>, String) {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    match name.rsplit_once(' ') {
        Some((given, surname)) => (Some(given.to_owned()), surname.to_owned()),
        None => (None, name),
    }
}

/// Reads `PersonName` as "GivenName… Surname" (a lone `-` is a placeholder, skipped).
pub(crate) fn person_name(pn: &Element) -> Option<String> {
    let parts: Vec<&str> = pn
        .children
        .iter()
        .filter(|c| c.name == "GivenName" || c.name == "MiddleName" || c.name == "Surname")
        .map(|c| c.text())
        .filter(|t| !t.is_empty() && *t != "-")
        .collect();
    let name = parts.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

/// The revision used when a message carries none: a digest of the parsed content.
pub(crate) fn content_revision(b: &InboundBooking) -> String {
    let mut b = b.clone();
    b.revision.clear();
    let canonical = serde_json::to_vec(&b).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(&canonical)))
}

/// Collects `Errors/Error` of a response as "Type/Code text" strings.
pub(crate) fn collect_errors(root: &Element) -> Vec<String> {
    root.all_at(&["Errors", "Error"])
        .into_iter()
        .map(|e| {
            let mut s = String::new();
            if let Some(t) = e.attr("Type") {
                s.push_str(t);
            }
            if let Some(c) = e.attr("Code") {
                s.push('/');
                s.push_str(c);
            }
            if let Some(st) = e.attr("ShortText") {
                s.push(' ');
                s.push_str(st);
            }
            let text = e.text().split_whitespace().collect::<Vec<_>>().join(" ");
            if !text.is_empty() {
                if !s.is_empty() {
                    s.push_str(": ");
                }
                s.push_str(&text);
            }
            s
        })
        .collect()
}

fn write_errors(w: &mut XmlWriter, code: &str, message: &str) {
    let (ty, ota_code) = ota_error_code(code);
    w.open("Errors", &[]);
    w.text_element("Error", &[("Type", Some(ty)), ("Code", Some(ota_code)), ("ShortText", Some(cut(code, 64)))], message);
    w.close();
}

/// Maps a machine error code to an OTA (`EWT` type, `ERR` code) pair.
pub fn ota_error_code(code: &str) -> (&'static str, &'static str) {
    match code {
        "missing_field" => ("10", "321"),
        "bad_signature" | "stale_signature" | "unauthorized" | "forbidden" => ("4", "497"),
        "unknown_hotel" | "unknown_property" => ("3", "392"),
        "internal" | "unavailable" | "timeout" => ("12", "448"),
        _ => ("3", "450"),
    }
}

// ---------------------------------------------------------------------------
// ARI: hub → OTA
// ---------------------------------------------------------------------------

struct Sac<'a> {
    start: String,
    end: String,
    room: &'a str,
    rate: Option<&'a str>,
}

impl<'a> Sac<'a> {
    fn of(r: &'a AriRange) -> Self {
        Sac { start: r.start.to_string(), end: r.end.to_string(), room: &r.ota_room, rate: r.ota_rate.as_deref() }
    }
    fn write(&self, w: &mut XmlWriter) {
        w.empty(
            "StatusApplicationControl",
            &[("Start", Some(&self.start)), ("End", Some(&self.end)), ("InvTypeCode", Some(self.room)), ("RatePlanCode", self.rate)],
        );
    }
}

fn open_close(closed: bool) -> &'static str {
    if closed {
        "Close"
    } else {
        "Open"
    }
}

/// `SetMinLOS`; a minimum of 0 (none) goes as `Time="1"`: every stay is at least
/// one night, and `Time="0"` is not a length of stay an OTA accepts.
fn write_min_los(w: &mut XmlWriter, min: u16) {
    let t = min.max(1).to_string();
    w.empty("LengthOfStay", &[("Time", Some(&t)), ("TimeUnit", Some("Day")), ("MinMaxMessageType", Some("SetMinLOS"))]);
}

/// How many `AvailStatusMessage` elements (each with its own
/// `StatusApplicationControl`) [`avail_notif_rq`] writes for a range with these
/// values: the main one (availability, LOS from arrival, stop-sell), the minimum
/// stay through, CTA and CTD each apart; 0 to 4. OTAs limit a message by these
/// elements, not by ranges: split by this weight.
pub fn avail_status_messages(v: &AriValues) -> usize {
    let main = v.available.is_some() || v.min_stay.is_some() || v.max_stay.is_some() || v.stop_sell.is_some();
    usize::from(main)
        + usize::from(v.min_stay_through.is_some())
        + usize::from(v.closed_to_arrival.is_some())
        + usize::from(v.closed_to_departure.is_some())
}

/// How many `RateAmountMessage` elements [`rate_amount_notif_rq`] writes for a
/// range with these values: 1 with a price, else 0.
pub fn rate_amount_messages(v: &AriValues) -> usize {
    usize::from(v.has_rate_part())
}

/// `OTA_HotelAvailNotifRQ` for the availability/restriction part of `ranges`
/// (see the module docs for the mapping). Ranges without such values are skipped;
/// when none is left, the message has no `AvailStatusMessages` (check
/// [`AriValues::has_availability_part`] before sending).
pub fn avail_notif_rq(hotel_code: &str, ranges: &[AriRange], echo_token: &str, timestamp: jiff::Timestamp) -> String {
    let ts = fmt_timestamp(timestamp);
    let echo = (!echo_token.is_empty()).then(|| cut(echo_token, 128));
    let mut w = XmlWriter::new();
    w.root(AVAIL_NOTIF_RQ, &[("Version", Some(VERSION)), ("EchoToken", echo), ("TimeStamp", Some(&ts))]);
    let with_values: Vec<&AriRange> = ranges.iter().filter(|r| r.values.has_availability_part()).collect();
    if !with_values.is_empty() {
        w.open("AvailStatusMessages", &[("HotelCode", Some(hotel_code).filter(|h| !h.is_empty()))]);
        for r in with_values {
            let v = &r.values;
            let sac = Sac::of(r);
            let main = v.available.is_some() || v.min_stay.is_some() || v.max_stay.is_some() || v.stop_sell.is_some();
            if main {
                let limit = v.available.map(|a| a.to_string());
                w.open(
                    "AvailStatusMessage",
                    &[("BookingLimit", limit.as_deref()), ("BookingLimitMessageType", limit.as_ref().map(|_| "SetLimit"))],
                );
                sac.write(&mut w);
                if v.min_stay.is_some() || v.max_stay.is_some() {
                    w.open("LengthsOfStay", &[]);
                    if let Some(min) = v.min_stay {
                        write_min_los(&mut w, min);
                    }
                    match v.max_stay {
                        Some(0) => w.empty("LengthOfStay", &[("MinMaxMessageType", Some("RemoveMaxLOS"))]),
                        Some(max) => {
                            let t = max.to_string();
                            w.empty(
                                "LengthOfStay",
                                &[("Time", Some(&t)), ("TimeUnit", Some("Day")), ("MinMaxMessageType", Some("SetMaxLOS"))],
                            )
                        }
                        None => {}
                    }
                    w.close();
                }
                if let Some(stop) = v.stop_sell {
                    w.empty("RestrictionStatus", &[("Status", Some(open_close(stop))), ("Restriction", Some("Master"))]);
                }
                w.close();
            }
            if let Some(min) = v.min_stay_through {
                w.open("AvailStatusMessage", &[]);
                sac.write(&mut w);
                w.open("LengthsOfStay", &[("ArrivalDateBased", Some("false"))]);
                write_min_los(&mut w, min);
                w.close();
                w.close();
            }
            for (flag, restriction) in [(v.closed_to_arrival, "Arrival"), (v.closed_to_departure, "Departure")] {
                if let Some(closed) = flag {
                    w.open("AvailStatusMessage", &[]);
                    sac.write(&mut w);
                    w.empty("RestrictionStatus", &[("Status", Some(open_close(closed))), ("Restriction", Some(restriction))]);
                    w.close();
                }
            }
        }
        w.close();
    }
    w.finish()
}

/// `OTA_HotelRateAmountNotifRQ` for the price part of `ranges` (base rate and
/// per-occupancy prices, `AmountAfterTax` in `currency`). Ranges without a price are
/// skipped (check [`AriValues::has_rate_part`] before sending).
pub fn rate_amount_notif_rq(hotel_code: &str, ranges: &[AriRange], currency: &str, echo_token: &str, timestamp: jiff::Timestamp) -> String {
    let ts = fmt_timestamp(timestamp);
    let echo = (!echo_token.is_empty()).then(|| cut(echo_token, 128));
    let mut w = XmlWriter::new();
    w.root(RATE_AMOUNT_NOTIF_RQ, &[("Version", Some(VERSION)), ("EchoToken", echo), ("TimeStamp", Some(&ts))]);
    let with_rates: Vec<&AriRange> = ranges.iter().filter(|r| r.values.has_rate_part()).collect();
    if !with_rates.is_empty() {
        w.open("RateAmountMessages", &[("HotelCode", Some(hotel_code).filter(|h| !h.is_empty()))]);
        for r in with_rates {
            w.open("RateAmountMessage", &[]);
            Sac::of(r).write(&mut w);
            w.open("Rates", &[]);
            w.open("Rate", &[]);
            w.open("BaseByGuestAmts", &[]);
            if let Some(rate) = &r.values.rate {
                let amount = money(rate);
                w.empty("BaseByGuestAmt", &[("AmountAfterTax", Some(&amount)), ("CurrencyCode", Some(currency))]);
            }
            for (adults, rate) in &r.values.occupancy_rates {
                let amount = money(rate);
                let n = adults.to_string();
                w.empty(
                    "BaseByGuestAmt",
                    &[
                        ("AmountAfterTax", Some(&amount)),
                        ("CurrencyCode", Some(currency)),
                        ("NumberOfGuests", Some(&n)),
                        ("AgeQualifyingCode", Some("10")),
                    ],
                );
            }
            w.close();
            w.close();
            w.close();
            w.close();
        }
        w.close();
    }
    w.finish()
}

// ---------------------------------------------------------------------------
// ARI: parsed by the OTA simulator
// ---------------------------------------------------------------------------

/// An ARI notification as the OTA receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AriNotif {
    pub hotel_code: String,
    pub echo_token: Option<String>,
    pub timestamp: Option<String>,
    /// The currency of the amounts (rate messages; `None` for availability).
    pub currency: Option<String>,
    /// One range per distinct (room, rate, start, end), in order of first appearance,
    /// with the values of all its messages merged.
    pub ranges: Vec<AriRange>,
    /// How many `AvailStatusMessage` / `RateAmountMessage` elements the message
    /// had (what an OTA's per-message limit counts).
    pub messages: usize,
}

type RangeKey = (String, Option<String>, Date, Date);

struct RangeMerger {
    order: Vec<RangeKey>,
    values: HashMap<RangeKey, AriValues>,
}

impl RangeMerger {
    fn new() -> Self {
        RangeMerger { order: Vec::new(), values: HashMap::new() }
    }
    fn entry(&mut self, key: RangeKey) -> &mut AriValues {
        if !self.values.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.values.entry(key).or_default()
    }
    fn finish(mut self) -> Vec<AriRange> {
        self.order
            .into_iter()
            .filter_map(|key| {
                let values = self.values.remove(&key)?;
                let (ota_room, ota_rate, start, end) = key;
                Some(AriRange { ota_room, ota_rate, start, end, values })
            })
            .collect()
    }
}

fn read_sac(msg: &Element) -> Result<RangeKey, CodecError> {
    let sac = msg.req_child("StatusApplicationControl")?;
    let start = parse_date("StatusApplicationControl@Start", sac.req_attr("Start")?)?;
    let end = parse_date("StatusApplicationControl@End", sac.req_attr("End")?)?;
    if end < start {
        return Err(CodecError::invalid("StatusApplicationControl@End", format!("{end} is before Start {start}")));
    }
    let room = sac.req_attr("InvTypeCode")?.to_owned();
    let rate = sac.attr("RatePlanCode").map(str::to_owned);
    Ok((room, rate, start, end))
}

fn set_once<T: PartialEq + std::fmt::Debug>(slot: &mut Option<T>, value: T, field: &str) -> Result<(), CodecError> {
    match slot {
        Some(old) if *old != value => Err(CodecError::invalid(field, format!("conflicting values {old:?} and {value:?} for one range"))),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

/// Reads an `OTA_HotelAvailNotifRQ` (what [`avail_notif_rq`] writes).
pub fn parse_avail_notif(body: &[u8], limits: &Limits) -> Result<AriNotif, CodecError> {
    let root = xml::parse_root(body, limits, &[AVAIL_NOTIF_RQ])?;
    let msgs = root.child("AvailStatusMessages");
    let hotel_code = msgs.and_then(|m| m.attr("HotelCode")).unwrap_or_default().to_owned();
    let mut merger = RangeMerger::new();
    let elements = msgs.map(|m| m.children_named("AvailStatusMessage").collect::<Vec<_>>()).unwrap_or_default();
    let messages = elements.len();
    for msg in elements {
        let key = read_sac(msg)?;
        let v = merger.entry(key);
        if let Some(limit) = msg.attr("BookingLimit") {
            set_once(&mut v.available, parse_uint("AvailStatusMessage@BookingLimit", limit)?, "BookingLimit")?;
        }
        let through = match msg.child("LengthsOfStay").and_then(|l| l.attr("ArrivalDateBased")) {
            None => false,
            Some(b) => !parse_bool("LengthsOfStay@ArrivalDateBased", b)?,
        };
        for los in msg.all_at(&["LengthsOfStay", "LengthOfStay"]) {
            let kind = los.req_attr("MinMaxMessageType")?;
            if let Some(unit) = los.attr("TimeUnit") {
                if unit != "Day" {
                    return Err(CodecError::invalid("LengthOfStay@TimeUnit", format!("{:?} is not supported (Day only)", excerpt(unit))));
                }
            }
            let time = || -> Result<u16, CodecError> { parse_uint("LengthOfStay@Time", los.req_attr("Time")?) };
            match kind {
                "SetMinLOS" | "MinLOS" if through => set_once(&mut v.min_stay_through, time()?, "SetMinLOS through")?,
                "RemoveMinLOS" if through => set_once(&mut v.min_stay_through, 0, "RemoveMinLOS through")?,
                "SetMaxLOS" | "MaxLOS" | "RemoveMaxLOS" if through => {
                    return Err(CodecError::invalid(
                        "LengthsOfStay@ArrivalDateBased",
                        "a maximum stay through is not supported (maximum stays count from arrival)",
                    ))
                }
                "SetMinLOS" | "MinLOS" => set_once(&mut v.min_stay, time()?, "SetMinLOS")?,
                "SetMaxLOS" | "MaxLOS" => set_once(&mut v.max_stay, time()?, "SetMaxLOS")?,
                "RemoveMinLOS" => set_once(&mut v.min_stay, 0, "RemoveMinLOS")?,
                "RemoveMaxLOS" => set_once(&mut v.max_stay, 0, "RemoveMaxLOS")?,
                other => {
                    return Err(CodecError::invalid("LengthOfStay@MinMaxMessageType", format!("{:?} is not supported", excerpt(other))))
                }
            }
        }
        if let Some(rs) = msg.child("RestrictionStatus") {
            let closed = match rs.req_attr("Status")? {
                "Close" => true,
                "Open" => false,
                other => return Err(CodecError::invalid("RestrictionStatus@Status", format!("{:?} is not Open or Close", excerpt(other)))),
            };
            match rs.attr("Restriction").unwrap_or("Master") {
                "Master" => set_once(&mut v.stop_sell, closed, "Restriction Master")?,
                "Arrival" => set_once(&mut v.closed_to_arrival, closed, "Restriction Arrival")?,
                "Departure" => set_once(&mut v.closed_to_departure, closed, "Restriction Departure")?,
                other => {
                    return Err(CodecError::invalid("RestrictionStatus@Restriction", format!("{:?} is not supported", excerpt(other))))
                }
            }
        }
    }
    Ok(AriNotif {
        hotel_code,
        echo_token: root.attr("EchoToken").map(str::to_owned),
        timestamp: root.attr("TimeStamp").map(str::to_owned),
        currency: None,
        ranges: merger.finish(),
        messages,
    })
}

/// Reads an `OTA_HotelRateAmountNotifRQ` (what [`rate_amount_notif_rq`] writes).
/// All amounts must share one currency.
pub fn parse_rate_amount_notif(body: &[u8], limits: &Limits) -> Result<AriNotif, CodecError> {
    let root = xml::parse_root(body, limits, &[RATE_AMOUNT_NOTIF_RQ])?;
    let msgs = root.child("RateAmountMessages");
    let hotel_code = msgs.and_then(|m| m.attr("HotelCode")).unwrap_or_default().to_owned();
    let mut currency: Option<String> = None;
    let mut merger = RangeMerger::new();
    let elements = msgs.map(|m| m.children_named("RateAmountMessage").collect::<Vec<_>>()).unwrap_or_default();
    let messages = elements.len();
    for msg in elements {
        let key = read_sac(msg)?;
        let v = merger.entry(key);
        for amt in msg.all_at(&["Rates", "Rate", "BaseByGuestAmts", "BaseByGuestAmt"]) {
            let amount = match (amt.attr("AmountAfterTax"), amt.attr("AmountBeforeTax")) {
                (Some(a), _) => parse_amount("BaseByGuestAmt@AmountAfterTax", a)?,
                (None, Some(b)) => parse_amount("BaseByGuestAmt@AmountBeforeTax", b)?,
                (None, None) => return Err(CodecError::missing("BaseByGuestAmt@AmountAfterTax")),
            };
            if let Some(c) = amt.attr("CurrencyCode") {
                set_once(&mut currency, c.to_owned(), "BaseByGuestAmt@CurrencyCode")?;
            }
            match amt.attr("NumberOfGuests") {
                None => set_once(&mut v.rate, amount, "BaseByGuestAmt")?,
                Some(n) => {
                    let adults: u8 = parse_uint("BaseByGuestAmt@NumberOfGuests", n)?;
                    if v.occupancy_rates.iter().any(|(a, _)| *a == adults) {
                        return Err(CodecError::invalid("BaseByGuestAmt@NumberOfGuests", format!("{adults} appears twice for one range")));
                    }
                    v.occupancy_rates.push((adults, amount));
                    v.occupancy_rates.sort_by_key(|(a, _)| *a);
                }
            }
        }
    }
    Ok(AriNotif {
        hotel_code,
        echo_token: root.attr("EchoToken").map(str::to_owned),
        timestamp: root.attr("TimeStamp").map(str::to_owned),
        currency,
        ranges: merger.finish(),
        messages,
    })
}

fn rs_root_for(root: &str) -> &'static str {
    match root {
        AVAIL_NOTIF_RQ | AVAIL_NOTIF_RS => AVAIL_NOTIF_RS,
        RATE_AMOUNT_NOTIF_RQ | RATE_AMOUNT_NOTIF_RS => RATE_AMOUNT_NOTIF_RS,
        _ => AVAIL_NOTIF_RS,
    }
}

/// The success answer to an ARI notification. `root` names the request or the
/// response (`OTA_HotelAvailNotifRQ`/`RS`, `OTA_HotelRateAmountNotifRQ`/`RS`).
pub fn notif_success_rs(root: &str, echo_token: Option<&str>) -> String {
    let mut w = XmlWriter::new();
    w.root(rs_root_for(root), &[("Version", Some(VERSION)), ("EchoToken", echo_token.filter(|e| !e.is_empty()).map(|e| cut(e, 128)))]);
    w.empty("Success", &[]);
    w.finish()
}

/// The error answer to an ARI notification (for the simulator's fault injection).
pub fn notif_error_rs(root: &str, echo_token: Option<&str>, code: &str, message: &str) -> String {
    let mut w = XmlWriter::new();
    w.root(rs_root_for(root), &[("Version", Some(VERSION)), ("EchoToken", echo_token.filter(|e| !e.is_empty()).map(|e| cut(e, 128)))]);
    write_errors(&mut w, code, message);
    w.finish()
}

/// Reads the answer to an ARI notification: `Ok` on `Success`, the errors otherwise
/// (including a body that is not a readable response).
pub fn parse_notif_rs(body: &[u8]) -> Result<(), Vec<String>> {
    match check_notif_rs(body) {
        Ok(()) => Ok(()),
        Err(CodecError::RemoteErrors(errors)) => Err(errors),
        Err(e) => Err(vec![format!("{}: {e}", e.code())]),
    }
}

/// As [`parse_notif_rs`], typed: the OTA's `Errors` become
/// [`CodecError::RemoteErrors`], so a caller can tell them from an answer
/// it could not read (and report the kind without quoting the answer).
pub fn check_notif_rs(body: &[u8]) -> Result<(), CodecError> {
    let root = xml::parse_root(body, &Limits::default(), &[AVAIL_NOTIF_RS, RATE_AMOUNT_NOTIF_RS])?;
    if root.child("Success").is_some() {
        return Ok(());
    }
    let errors = collect_errors(&root);
    Err(CodecError::RemoteErrors(if errors.is_empty() { vec!["response has neither Success nor Errors".to_owned()] } else { errors }))
}

// ---------------------------------------------------------------------------
// Bookings: OTA → hub
// ---------------------------------------------------------------------------

/// A booking message as received: its echo token (to answer with) and its reservations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingMessage {
    pub root: String,
    pub echo_token: Option<String>,
    pub timestamp: Option<String>,
    pub bookings: Vec<InboundBooking>,
}

/// Reads `OTA_HotelResNotifRQ` / `OTA_HotelResModifyNotifRQ` / `OTA_CancelRQ` carrying
/// exactly one reservation (see [`parse_booking_message`] for several).
pub fn parse_booking(body: &[u8], limits: &Limits) -> Result<InboundBooking, CodecError> {
    let mut msg = parse_booking_message(body, limits)?;
    if msg.bookings.len() != 1 {
        return Err(CodecError::rule("one_reservation_per_message", format!("{} reservations in one message", msg.bookings.len())));
    }
    msg.bookings.pop().ok_or_else(|| CodecError::missing("HotelReservation"))
}

/// Reads a booking message with all its reservations (at least one).
pub fn parse_booking_message(body: &[u8], limits: &Limits) -> Result<BookingMessage, CodecError> {
    let root = xml::parse_root(body, limits, &[RES_NOTIF_RQ, RES_MODIFY_NOTIF_RQ, CANCEL_RQ])?;
    if let Some(echo) = root.attr("EchoToken") {
        check_len("EchoToken", echo, MAX_TOKEN_CHARS)?;
    }
    let ts = root.attr("TimeStamp");
    if let Some(ts) = ts {
        check_len("TimeStamp", ts, MAX_TOKEN_CHARS)?;
    }
    let bookings = match root.name.as_str() {
        CANCEL_RQ => vec![read_cancel_rq(&root)?],
        RES_MODIFY_NOTIF_RQ => {
            let list = root.all_at(&["HotelResModifies", "HotelResModify"]);
            if list.is_empty() {
                return Err(CodecError::missing("HotelResModifies/HotelResModify"));
            }
            let mut out = Vec::with_capacity(list.len());
            for res in list {
                let action = match status_action(res.attr("ResStatus").or(root.attr("ResStatus"))) {
                    BookingAction::Cancel => BookingAction::Cancel,
                    _ => BookingAction::Modify,
                };
                out.push(read_reservation(res, action, ts, limits)?);
            }
            out
        }
        _ => {
            let list = root.all_at(&["HotelReservations", "HotelReservation"]);
            if list.is_empty() {
                return Err(CodecError::missing("HotelReservations/HotelReservation"));
            }
            let mut out = Vec::with_capacity(list.len());
            for res in list {
                let action = status_action(res.attr("ResStatus").or(root.attr("ResStatus")));
                out.push(read_reservation(res, action, ts, limits)?);
            }
            out
        }
    };
    Ok(BookingMessage {
        root: root.name.clone(),
        echo_token: root.attr("EchoToken").map(str::to_owned),
        timestamp: ts.map(str::to_owned),
        bookings,
    })
}

fn status_action(status: Option<&str>) -> BookingAction {
    match status {
        Some("Cancel" | "Cancelled") => BookingAction::Cancel,
        Some("Modify" | "Modified") => BookingAction::Modify,
        _ => BookingAction::New,
    }
}

fn read_cancel_rq(root: &Element) -> Result<InboundBooking, CodecError> {
    match root.attr("CancelType") {
        None | Some("Cancel" | "Commit") => {}
        Some(other) => {
            return Err(CodecError::invalid("OTA_CancelRQ@CancelType", format!("{:?} is not supported (Cancel or Commit)", excerpt(other))))
        }
    }
    let ids: Vec<&Element> = root.children_named("UniqueID").collect();
    check_ids(&ids, &[])?;
    let res = ids
        .iter()
        .find(|u| u.attr("Type") == Some("14"))
        .or_else(|| ids.iter().find(|u| u.attr("Type") != Some("10")))
        .ok_or_else(|| CodecError::missing("OTA_CancelRQ/UniqueID"))?;
    let hotel_code = ids.iter().find(|u| u.attr("Type") == Some("10")).and_then(|u| u.attr("ID")).unwrap_or_default();
    let mut b = InboundBooking {
        action: BookingAction::Cancel,
        hotel_code: hotel_code.to_owned(),
        ota_reservation_id: res.req_attr("ID")?.to_owned(),
        revision: res.attr("Instance").or(root.attr("TimeStamp")).unwrap_or_default().to_owned(),
        rooms: Vec::new(),
        guest_name: None,
        currency: None,
        total: None,
    };
    if b.revision.is_empty() {
        b.revision = content_revision(&b);
    }
    b.check_lengths()?;
    Ok(b)
}

/// Every `UniqueID@ID` and `HotelReservationID@ResID_Value` (the OTA's and
/// anyone's confirmation ids, used or not) within `StringLength1to64`.
fn check_ids(unique_ids: &[&Element], reservation_ids: &[&Element]) -> Result<(), CodecError> {
    for u in unique_ids {
        if let Some(id) = u.attr("ID") {
            check_len("UniqueID@ID", id, MAX_ID_CHARS)?;
        }
    }
    for h in reservation_ids {
        if let Some(id) = h.attr("ResID_Value") {
            check_len("HotelReservationID@ResID_Value", id, MAX_ID_CHARS)?;
        }
    }
    Ok(())
}

/// Each guest name field (`NamePrefix`, `GivenName`, `MiddleName`,
/// `Surname`) within `StringLength1to64`.
fn check_person_name(pn: &Element) -> Result<(), CodecError> {
    for c in pn.children.iter().filter(|c| matches!(c.name.as_str(), "NamePrefix" | "GivenName" | "MiddleName" | "Surname")) {
        check_len(&format!("PersonName/{}", c.name), c.text(), MAX_ID_CHARS)?;
    }
    Ok(())
}

/// Reads one `HotelReservation`-shaped element (also used for AlpineBits, whose
/// reservations are a subset of OTA's).
pub(crate) fn read_reservation(
    res: &Element,
    action: BookingAction,
    root_timestamp: Option<&str>,
    limits: &Limits,
) -> Result<InboundBooking, CodecError> {
    let uids: Vec<&Element> = res.children_named("UniqueID").collect();
    let global = res.child("ResGlobalInfo");
    check_ids(&uids, &global.map(|g| g.all_at(&["HotelReservationIDs", "HotelReservationID"])).unwrap_or_default())?;
    let uid = uids.iter().find(|u| matches!(u.attr("Type"), Some("14" | "15"))).or(uids.first()).copied();
    let ota_reservation_id = match uid.and_then(|u| u.attr("ID")) {
        Some(id) => id.to_owned(),
        None => global
            .map(|g| g.all_at(&["HotelReservationIDs", "HotelReservationID"]))
            .unwrap_or_default()
            .into_iter()
            .find(|h| h.attr("ResID_Type") == Some("14"))
            .and_then(|h| h.attr("ResID_Value"))
            .ok_or_else(|| CodecError::missing("HotelReservation/UniqueID@ID"))?
            .to_owned(),
    };
    let stays: Vec<&Element> = res.all_at(&["RoomStays", "RoomStay"]);
    let hotel_code = global
        .and_then(|g| g.child("BasicPropertyInfo"))
        .and_then(|b| b.attr("HotelCode"))
        .or_else(|| stays.iter().find_map(|s| s.child("BasicPropertyInfo").and_then(|b| b.attr("HotelCode"))))
        .unwrap_or_default()
        .to_owned();
    let revision = res
        .attr("LastModifyDateTime")
        .or(res.attr("CreateDateTime"))
        .or(uid.and_then(|u| u.attr("Instance")))
        .or(root_timestamp)
        .unwrap_or_default()
        .to_owned();

    let mut work = 0usize;
    let mut rooms = Vec::with_capacity(stays.len());
    let mut currency: Option<String> = None;
    for stay in &stays {
        let (room, cur) = read_room_stay(stay, global, limits, &mut work)?;
        if currency.is_none() {
            currency = cur;
        }
        rooms.push(room);
    }

    let global_total = global.and_then(|g| g.child("Total"));
    let total = match global_total {
        Some(t) => {
            if let Some(c) = t.attr("CurrencyCode") {
                currency = Some(c.to_owned());
            }
            total_amount(t)?
        }
        None if !rooms.is_empty() && rooms.iter().all(|r| r.total.is_some()) => Some(rooms.iter().filter_map(|r| r.total).sum()),
        None => None,
    };

    let person = res.child("ResGuests").and_then(|g| g.find("PersonName"));
    if let Some(pn) = person {
        check_person_name(pn)?;
    }
    let guest_name = person.and_then(person_name);
    let mut b = InboundBooking { action, hotel_code, ota_reservation_id, revision, rooms, guest_name, currency, total };
    if b.revision.is_empty() {
        b.revision = content_revision(&b);
    }
    b.check_lengths()?;
    Ok(b)
}

fn total_amount(t: &Element) -> Result<Option<Decimal>, CodecError> {
    match (t.attr("AmountAfterTax"), t.attr("AmountBeforeTax")) {
        (Some(a), _) => Ok(Some(parse_amount("Total@AmountAfterTax", a)?)),
        (None, Some(b)) => Ok(Some(parse_amount("Total@AmountBeforeTax", b)?)),
        (None, None) => Ok(None),
    }
}

fn read_room_stay(
    stay: &Element,
    global: Option<&Element>,
    limits: &Limits,
    work: &mut usize,
) -> Result<(BookedRoom, Option<String>), CodecError> {
    let room_rate = stay.path(&["RoomRates", "RoomRate"]);
    let ota_room = stay
        .path(&["RoomTypes", "RoomType"])
        .and_then(|r| r.attr("RoomTypeCode"))
        .or_else(|| room_rate.and_then(|r| r.attr("RoomTypeCode")))
        .ok_or_else(|| CodecError::missing("RoomStay/RoomTypes/RoomType@RoomTypeCode"))?
        .to_owned();
    let ota_rate = stay
        .path(&["RatePlans", "RatePlan"])
        .and_then(|r| r.attr("RatePlanCode"))
        .or_else(|| room_rate.and_then(|r| r.attr("RatePlanCode")))
        .map(str::to_owned);

    let span = stay
        .child("TimeSpan")
        .or_else(|| global.and_then(|g| g.child("TimeSpan")))
        .ok_or_else(|| CodecError::missing("RoomStay/TimeSpan"))?;
    let check_in = parse_date("TimeSpan@Start", span.req_attr("Start")?)?;
    let check_out = match (span.attr("End"), span.attr("Duration")) {
        (Some(end), _) => parse_date("TimeSpan@End", end)?,
        (None, Some(d)) => {
            let nights = d
                .strip_prefix('P')
                .and_then(|n| n.strip_suffix('N').or_else(|| n.strip_suffix('D')))
                .ok_or_else(|| CodecError::invalid("TimeSpan@Duration", format!("{:?} is not PnN", excerpt(d))))?;
            let nights: u32 = parse_uint("TimeSpan@Duration", nights)?;
            check_in
                .checked_add(jiff::Span::new().days(i64::from(nights.min(100_000))))
                .map_err(|_| CodecError::invalid("TimeSpan@Duration", "out of range"))?
        }
        (None, None) => return Err(CodecError::missing("TimeSpan@End")),
    };
    let nights = days_between(check_in, check_out);
    if nights < 1 {
        return Err(CodecError::invalid("TimeSpan@End", format!("check-out {check_out} is not after check-in {check_in}")));
    }
    if nights > i64::from(limits.max_stay_nights) {
        return Err(CodecError::invalid("TimeSpan", format!("{nights} nights exceed the limit of {}", limits.max_stay_nights)));
    }

    let counts = stay.child("GuestCounts").or_else(|| global.and_then(|g| g.child("GuestCounts")));
    let mut adults: u32 = 0;
    for gc in counts.map(|c| c.children_named("GuestCount").collect::<Vec<_>>()).unwrap_or_default() {
        let is_adult = match gc.attr("AgeQualifyingCode") {
            Some(code) => code == "10",
            None => gc.attr("Age").is_none(),
        };
        if is_adult {
            let n: u32 = parse_uint("GuestCount@Count", gc.attr("Count").unwrap_or("1"))?;
            adults = adults.saturating_add(n);
        }
    }
    let adults = u8::try_from(adults).map_err(|_| CodecError::invalid("GuestCount@Count", format!("{adults} adults in one room")))?;

    let mut currency: Option<String> = None;
    let mut nightly: BTreeMap<Date, Decimal> = BTreeMap::new();
    let rates = stay.all_at(&["RoomRates", "RoomRate", "Rates", "Rate"]);
    if rates.len() as i64 > nights.max(1) * 4 {
        return Err(CodecError::invalid("RoomRates", format!("{} rates for {nights} nights", rates.len())));
    }
    for rate in rates {
        if !matches!(rate.attr("RateTimeUnit"), None | Some("Day")) {
            continue;
        }
        let Some(base) = rate.child("Base") else { continue };
        let amount = match (base.attr("AmountAfterTax"), base.attr("AmountBeforeTax")) {
            (Some(a), _) => parse_amount("Base@AmountAfterTax", a)?,
            (None, Some(b)) => parse_amount("Base@AmountBeforeTax", b)?,
            (None, None) => continue,
        };
        if currency.is_none() {
            currency = base.attr("CurrencyCode").map(str::to_owned);
        }
        let from = match rate.attr("EffectiveDate") {
            Some(d) => parse_date("Rate@EffectiveDate", d)?,
            None => check_in,
        };
        let to_exclusive = match rate.attr("ExpireDate") {
            None => next_day(from).unwrap_or(from),
            Some(d) => {
                let expire = parse_date("Rate@ExpireDate", d)?;
                let exclusive = match rate.attr("ExpireDateExclusiveInd") {
                    Some(flag) => parse_bool("Rate@ExpireDateExclusiveInd", flag)?,
                    None => expire != from,
                };
                if exclusive {
                    expire
                } else {
                    next_day(expire).unwrap_or(expire)
                }
            }
        };
        let mut d = from.max(check_in);
        let stop = to_exclusive.min(check_out);
        while d < stop {
            *work += 1;
            if *work > MAX_NIGHT_EXPANSIONS {
                return Err(CodecError::invalid("RoomRates", "too many nightly rates"));
            }
            nightly.insert(d, amount);
            match next_day(d) {
                Some(n) => d = n,
                None => break,
            }
        }
    }

    let stay_total = stay.child("Total");
    let total = match stay_total {
        Some(t) => {
            if let Some(c) = t.attr("CurrencyCode") {
                currency = Some(c.to_owned());
            }
            total_amount(t)?
        }
        None => None,
    };
    Ok((BookedRoom { ota_room, ota_rate, check_in, check_out, adults, nightly: nightly.into_iter().collect(), total }, currency))
}

// ---------------------------------------------------------------------------
// Acknowledgements: hub → OTA
// ---------------------------------------------------------------------------

fn rs_root(action: BookingAction) -> &'static str {
    match action {
        BookingAction::New => RES_NOTIF_RS,
        BookingAction::Modify => RES_MODIFY_NOTIF_RS,
        BookingAction::Cancel => CANCEL_RS,
    }
}

/// The success answer to a booking message: `OTA_HotelResNotifRS` /
/// `OTA_HotelResModifyNotifRS` with the OTA's id as `UniqueID Type="14"` and ours as
/// `HotelReservationID ResID_Type="14"`, or `OTA_CancelRS Status="Cancelled"` with the
/// OTA's id as `UniqueID` and ours as `CancelInfoRS/UniqueID Type="15"`.
///
/// `UniqueID@ID` holds at most 32 characters in OTA 2015A: a hyphenated UUID is
/// written in its simple (32 hex digits) form there.
pub fn booking_ack_rs(
    action: BookingAction,
    echo_token: Option<&str>,
    ota_reservation_id: &str,
    our_confirmation_id: &str,
    timestamp: jiff::Timestamp,
) -> String {
    let ts = fmt_timestamp(timestamp);
    let echo = echo_token.filter(|e| !e.is_empty()).map(|e| cut(e, 128));
    let ota_id = id32(ota_reservation_id);
    let mut w = XmlWriter::new();
    match action {
        BookingAction::Cancel => {
            let ours = id32(our_confirmation_id);
            w.root(CANCEL_RS, &[("Version", Some(VERSION)), ("EchoToken", echo), ("TimeStamp", Some(&ts)), ("Status", Some("Cancelled"))]);
            w.empty("Success", &[]);
            w.empty("UniqueID", &[("Type", Some("14")), ("ID", Some(&ota_id))]);
            w.open("CancelInfoRS", &[]);
            w.empty("UniqueID", &[("Type", Some("15")), ("ID", Some(&ours))]);
            w.close();
        }
        BookingAction::New | BookingAction::Modify => {
            let (list, item, response) = match action {
                BookingAction::New => ("HotelReservations", "HotelReservation", "Committed"),
                _ => ("HotelResModifies", "HotelResModify", "Modified"),
            };
            w.root(
                rs_root(action),
                &[("Version", Some(VERSION)), ("EchoToken", echo), ("TimeStamp", Some(&ts)), ("ResResponseType", Some(response))],
            );
            w.empty("Success", &[]);
            w.open(list, &[]);
            w.open(item, &[]);
            w.empty("UniqueID", &[("Type", Some("14")), ("ID", Some(&ota_id))]);
            w.open("ResGlobalInfo", &[]);
            w.open("HotelReservationIDs", &[]);
            w.empty("HotelReservationID", &[("ResID_Type", Some("14")), ("ResID_Value", Some(cut(our_confirmation_id, 64)))]);
            w.close();
            w.empty("BasicPropertyInfo", &[]);
            w.close();
            w.close();
            w.close();
        }
    }
    w.finish()
}

/// The error answer to a booking message of kind `action`: `Errors/Error` with an
/// OTA type/code derived from our machine `code` (see [`ota_error_code`]), our code
/// as `ShortText` and `message` as text.
pub fn error_rs(action: BookingAction, echo_token: Option<&str>, code: &str, message: &str) -> String {
    // A token over its cap is not the OTA's to have back, whole or cut.
    let echo = echo_token.filter(|e| !e.is_empty() && check_len("EchoToken", e, MAX_TOKEN_CHARS).is_ok());
    let mut w = XmlWriter::new();
    match action {
        BookingAction::Cancel => w.root(CANCEL_RS, &[("Version", Some(VERSION)), ("EchoToken", echo), ("Status", Some("Unsuccessful"))]),
        _ => w.root(rs_root(action), &[("Version", Some(VERSION)), ("EchoToken", echo)]),
    }
    write_errors(&mut w, code, message);
    w.finish()
}

/// The error answer to a request that could not be read: the RS matching the
/// request's root element (`OTA_HotelResNotifRQ` → `OTA_HotelResNotifRS`,
/// `OTA_HotelResModifyNotifRQ` → `…RS`, `OTA_CancelRQ` → `OTA_CancelRS`; anything
/// unreadable → `OTA_HotelResNotifRS`) echoing its `EchoToken` when one can be read.
/// Only the root start tag is looked at, under the same limits as the parser.
pub fn error_rs_for_request(body: &[u8], limits: &Limits, code: &str, message: &str) -> String {
    let root = xml::sniff_root(body, limits);
    let action = match root.as_ref().map(|r| r.name.as_str()) {
        Some(RES_MODIFY_NOTIF_RQ) => BookingAction::Modify,
        Some(CANCEL_RQ) => BookingAction::Cancel,
        _ => BookingAction::New,
    };
    error_rs(action, root.as_ref().and_then(|r| r.attr("EchoToken")), code, message)
}

/// An acknowledgement as the OTA reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingAck {
    pub action: BookingAction,
    pub echo_token: Option<String>,
    pub ota_reservation_id: Option<String>,
    pub our_confirmation_id: Option<String>,
    /// Empty on success.
    pub errors: Vec<String>,
}

/// Reads what [`booking_ack_rs`] / [`error_rs`] write (for the OTA simulator).
pub fn parse_booking_ack_rs(body: &[u8], limits: &Limits) -> Result<BookingAck, CodecError> {
    let root = xml::parse_root(body, limits, &[RES_NOTIF_RS, RES_MODIFY_NOTIF_RS, CANCEL_RS])?;
    let action = match root.name.as_str() {
        RES_NOTIF_RS => BookingAction::New,
        RES_MODIFY_NOTIF_RS => BookingAction::Modify,
        _ => BookingAction::Cancel,
    };
    let mut ack = BookingAck {
        action,
        echo_token: root.attr("EchoToken").map(str::to_owned),
        ota_reservation_id: None,
        our_confirmation_id: None,
        errors: Vec::new(),
    };
    if root.child("Success").is_none() {
        ack.errors = collect_errors(&root);
        if ack.errors.is_empty() {
            ack.errors.push("response has neither Success nor Errors".to_owned());
        }
        return Ok(ack);
    }
    match action {
        BookingAction::Cancel => {
            ack.ota_reservation_id = root.child("UniqueID").and_then(|u| u.attr("ID")).map(str::to_owned);
            ack.our_confirmation_id = root.path(&["CancelInfoRS", "UniqueID"]).and_then(|u| u.attr("ID")).map(str::to_owned);
        }
        _ => {
            let item = root.path(&["HotelReservations", "HotelReservation"]).or(root.path(&["HotelResModifies", "HotelResModify"]));
            ack.ota_reservation_id = item.and_then(|i| i.child("UniqueID")).and_then(|u| u.attr("ID")).map(str::to_owned);
            ack.our_confirmation_id = item
                .map(|i| i.all_at(&["ResGlobalInfo", "HotelReservationIDs", "HotelReservationID"]))
                .unwrap_or_default()
                .into_iter()
                .find(|h| h.attr("ResID_Type") == Some("14"))
                .and_then(|h| h.attr("ResID_Value"))
                .map(str::to_owned);
        }
    }
    Ok(ack)
}

// ---------------------------------------------------------------------------
// Bookings as the OTA simulator sends them
// ---------------------------------------------------------------------------

/// The message an OTA sends for `booking`: `OTA_HotelResNotifRQ` (new),
/// `OTA_HotelResModifyNotifRQ` (modify) or `OTA_CancelRQ` (cancel). The revision is
/// written where [`parse_booking`] reads it back (`CreateDateTime` for new,
/// `LastModifyDateTime` for modify, `UniqueID@Instance` for cancel) when it is an
/// xs:dateTime (at most 32 characters for cancel); other revisions are not written.
/// A cancellation carries ids and revision only (no rooms).
pub fn res_notif_rq(booking: &InboundBooking, echo_token: &str, timestamp: jiff::Timestamp) -> String {
    let ts = fmt_timestamp(timestamp);
    let echo = (!echo_token.is_empty()).then(|| cut(echo_token, 128));
    let revision = Some(booking.revision.as_str()).filter(|r| is_xs_datetime(r));
    let mut w = XmlWriter::new();
    match booking.action {
        BookingAction::Cancel => {
            w.root(CANCEL_RQ, &[("Version", Some(VERSION)), ("EchoToken", echo), ("TimeStamp", Some(&ts)), ("CancelType", Some("Cancel"))]);
            let id = id32(&booking.ota_reservation_id);
            w.empty("UniqueID", &[("Type", Some("14")), ("ID", Some(&id)), ("Instance", revision.filter(|r| r.chars().count() <= 32))]);
            if !booking.hotel_code.is_empty() {
                w.empty("UniqueID", &[("Type", Some("10")), ("ID", Some(cut(&booking.hotel_code, 32)))]);
            }
        }
        BookingAction::New => {
            w.root(
                RES_NOTIF_RQ,
                &[("Version", Some(VERSION)), ("EchoToken", echo), ("TimeStamp", Some(&ts)), ("ResStatus", Some("Commit"))],
            );
            w.open("HotelReservations", &[]);
            w.open("HotelReservation", &[("CreateDateTime", revision), ("ResStatus", Some("Book"))]);
            write_reservation_body(&mut w, booking);
            w.close();
            w.close();
        }
        BookingAction::Modify => {
            w.root(
                RES_MODIFY_NOTIF_RQ,
                &[("Version", Some(VERSION)), ("EchoToken", echo), ("TimeStamp", Some(&ts)), ("ResStatus", Some("Modify"))],
            );
            w.open("HotelResModifies", &[]);
            w.open("HotelResModify", &[("LastModifyDateTime", revision), ("ResStatus", Some("Modify"))]);
            write_reservation_body(&mut w, booking);
            w.close();
            w.close();
        }
    }
    w.finish()
}

fn write_reservation_body(w: &mut XmlWriter, b: &InboundBooking) {
    let currency = b.currency.as_deref();
    let id = id32(&b.ota_reservation_id);
    w.empty("UniqueID", &[("Type", Some("14")), ("ID", Some(&id))]);
    if !b.rooms.is_empty() {
        w.open("RoomStays", &[]);
        for room in &b.rooms {
            w.open("RoomStay", &[]);
            w.open("RoomTypes", &[]);
            w.empty("RoomType", &[("RoomTypeCode", Some(&room.ota_room))]);
            w.close();
            if let Some(rate) = &room.ota_rate {
                w.open("RatePlans", &[]);
                w.empty("RatePlan", &[("RatePlanCode", Some(rate))]);
                w.close();
            }
            if !room.nightly.is_empty() {
                w.open("RoomRates", &[]);
                w.open(
                    "RoomRate",
                    &[("RoomTypeCode", Some(&room.ota_room)), ("RatePlanCode", room.ota_rate.as_deref()), ("NumberOfUnits", Some("1"))],
                );
                w.open("Rates", &[]);
                for (from, to_exclusive, amount) in night_runs(&room.nightly) {
                    let (from, to, amount) = (from.to_string(), to_exclusive.to_string(), money(&amount));
                    w.open(
                        "Rate",
                        &[
                            ("EffectiveDate", Some(&from)),
                            ("ExpireDate", Some(&to)),
                            ("ExpireDateExclusiveInd", Some("true")),
                            ("RateTimeUnit", Some("Day")),
                            ("UnitMultiplier", Some("1")),
                        ],
                    );
                    w.empty("Base", &[("AmountAfterTax", Some(&amount)), ("CurrencyCode", currency)]);
                    w.close();
                }
                w.close();
                w.close();
                w.close();
            }
            if room.adults > 0 {
                let n = room.adults.to_string();
                w.open("GuestCounts", &[]);
                w.empty("GuestCount", &[("AgeQualifyingCode", Some("10")), ("Count", Some(&n))]);
                w.close();
            }
            let (start, end) = (room.check_in.to_string(), room.check_out.to_string());
            w.empty("TimeSpan", &[("Start", Some(&start)), ("End", Some(&end))]);
            if let Some(total) = &room.total {
                let t = money(total);
                w.empty("Total", &[("AmountAfterTax", Some(&t)), ("CurrencyCode", currency)]);
            }
            w.close();
        }
        w.close();
    }
    if let Some(name) = &b.guest_name {
        let (given, surname) = split_name(name);
        if !surname.is_empty() {
            w.open("ResGuests", &[]);
            w.open("ResGuest", &[]);
            w.open("Profiles", &[]);
            w.open("ProfileInfo", &[]);
            w.open("Profile", &[]);
            w.open("Customer", &[]);
            w.open("PersonName", &[]);
            if let Some(given) = given {
                w.text_element("GivenName", &[], cut(&given, 64));
            }
            w.text_element("Surname", &[], cut(&surname, 64));
            for _ in 0..7 {
                w.close();
            }
        }
    }
    w.open("ResGlobalInfo", &[]);
    if let Some(total) = &b.total {
        let t = money(total);
        w.empty("Total", &[("AmountAfterTax", Some(&t)), ("CurrencyCode", currency)]);
    }
    w.empty("BasicPropertyInfo", &[("HotelCode", Some(b.hotel_code.as_str()).filter(|h| !h.is_empty()))]);
    w.close();
}

/// Runs of consecutive nights with equal price: (first night, day after the last night, price).
pub(crate) fn night_runs(nightly: &[(Date, Decimal)]) -> Vec<(Date, Date, Decimal)> {
    let mut runs: Vec<(Date, Date, Decimal)> = Vec::new();
    for (d, amount) in nightly {
        let after = next_day(*d).unwrap_or(*d);
        if let Some((_, end, a)) = runs.last_mut() {
            if *end == *d && a == amount {
                *end = after;
                continue;
            }
        }
        runs.push((*d, after, *amount));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ts() -> jiff::Timestamp {
        "2025-01-02T03:04:05Z".parse().unwrap()
    }

    #[test]
    fn money_has_at_most_three_decimals() {
        assert_eq!(money(&Decimal::new(1234567, 4)), "123.457");
        assert_eq!(money(&Decimal::new(150000000, 2)), "1500000");
    }

    #[test]
    fn ids_are_fitted_to_32_characters() {
        assert_eq!(id32("0192b2a4-5e6f-7a8b-9c0d-1e2f3a4b5c6d"), "0192b2a45e6f7a8b9c0d1e2f3a4b5c6d");
        assert_eq!(id32("ABC-1"), "ABC-1");
    }

    #[test]
    fn names_split_and_join() {
        assert_eq!(split_name("  Siti  Nur   Aisyah "), (Some("Siti Nur".into()), "Aisyah".into()));
        assert_eq!(split_name("Cher"), (None, "Cher".into()));
    }

    #[test]
    fn booking_without_revision_gets_a_stable_content_revision() {
        let body = r#"<OTA_HotelResNotifRQ xmlns="http://www.opentravel.org/OTA/2003/05" Version="1.0">
          <HotelReservations><HotelReservation>
            <UniqueID Type="14" ID="R1"/>
            <RoomStays><RoomStay><RoomTypes><RoomType RoomTypeCode="DLX"/></RoomTypes>
              <TimeSpan Start="2025-03-01" Duration="P2N"/></RoomStay></RoomStays>
          </HotelReservation></HotelReservations></OTA_HotelResNotifRQ>"#;
        let a = parse_booking(body.as_bytes(), &Limits::default()).unwrap();
        let b = parse_booking(body.as_bytes(), &Limits::default()).unwrap();
        assert!(a.revision.starts_with("sha256:"));
        assert_eq!(a.revision, b.revision);
        assert_eq!(a.rooms[0].check_out, date(2025, 3, 3));
        assert_eq!(a.action, BookingAction::New);
        assert_eq!(a.rooms[0].adults, 0);
    }

    #[test]
    fn nightly_rates_expand_within_the_stay() {
        let body = r#"<OTA_HotelResNotifRQ Version="1.0" TimeStamp="2025-01-01T00:00:00Z">
          <HotelReservations><HotelReservation ResStatus="Modify" LastModifyDateTime="2025-01-05T10:00:00+07:00">
            <UniqueID Type="14" ID="R1"/>
            <RoomStays><RoomStay>
              <RoomRates><RoomRate RoomTypeCode="DLX" RatePlanCode="BAR"><Rates>
                <Rate EffectiveDate="2025-02-27" ExpireDate="2025-03-02"><Base AmountAfterTax="100" CurrencyCode="IDR"/></Rate>
                <Rate EffectiveDate="2025-03-02" ExpireDate="2025-03-02"><Base AmountAfterTax="120"/></Rate>
                <Rate EffectiveDate="2025-03-03" ExpireDate="2025-03-03" ExpireDateExclusiveInd="false"><Base AmountBeforeTax="130"/></Rate>
              </Rates></RoomRate></RoomRates>
              <GuestCounts><GuestCount AgeQualifyingCode="10" Count="2"/><GuestCount AgeQualifyingCode="8" Count="1"/><GuestCount Count="1" Age="7"/></GuestCounts>
              <TimeSpan Start="2025-03-01" End="2025-03-04"/>
            </RoomStay></RoomStays>
            <ResGlobalInfo><BasicPropertyInfo HotelCode="H1"/></ResGlobalInfo>
          </HotelReservation></HotelReservations></OTA_HotelResNotifRQ>"#;
        let b = parse_booking(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(b.action, BookingAction::Modify);
        assert_eq!(b.hotel_code, "H1");
        assert_eq!(b.revision, "2025-01-05T10:00:00+07:00");
        let r = &b.rooms[0];
        assert_eq!((r.ota_room.as_str(), r.ota_rate.as_deref(), r.adults), ("DLX", Some("BAR"), 2));
        assert_eq!(
            r.nightly,
            vec![(date(2025, 3, 1), Decimal::from(100)), (date(2025, 3, 2), Decimal::from(120)), (date(2025, 3, 3), Decimal::from(130))]
        );
        assert_eq!(b.currency.as_deref(), Some("IDR"));
        assert_eq!(b.total, None);
    }

    #[test]
    fn unsupported_cancel_type_and_bad_stays_are_refused() {
        let cancel = r#"<OTA_CancelRQ Version="1.0" CancelType="Initiate"><UniqueID Type="14" ID="R1"/></OTA_CancelRQ>"#;
        assert_eq!(parse_booking(cancel.as_bytes(), &Limits::default()).unwrap_err().code(), "invalid_value");
        let backwards = r#"<OTA_HotelResNotifRQ Version="1.0"><HotelReservations><HotelReservation><UniqueID Type="14" ID="R1"/>
            <RoomStays><RoomStay><RoomTypes><RoomType RoomTypeCode="DLX"/></RoomTypes><TimeSpan Start="2025-03-04" End="2025-03-01"/></RoomStay></RoomStays>
            </HotelReservation></HotelReservations></OTA_HotelResNotifRQ>"#;
        assert_eq!(parse_booking(backwards.as_bytes(), &Limits::default()).unwrap_err().code(), "invalid_value");
        let long = backwards.replace("2025-03-04", "2025-01-01").replace("2025-03-01", "2027-01-01");
        assert_eq!(parse_booking(long.as_bytes(), &Limits::default()).unwrap_err().code(), "invalid_value");
        let no_room = r#"<OTA_HotelResNotifRQ Version="1.0"><HotelReservations><HotelReservation><UniqueID Type="14" ID="R1"/>
            <RoomStays><RoomStay><TimeSpan Start="2025-03-01" End="2025-03-02"/></RoomStay></RoomStays>
            </HotelReservation></HotelReservations></OTA_HotelResNotifRQ>"#;
        assert_eq!(parse_booking(no_room.as_bytes(), &Limits::default()).unwrap_err().code(), "missing_field");
        let wrong = r#"<OTA_HotelAvailNotifRQ Version="1.0"/>"#;
        assert_eq!(parse_booking(wrong.as_bytes(), &Limits::default()).unwrap_err().code(), "xml_unexpected_root");
    }

    #[test]
    fn conflicting_values_for_one_range_are_refused() {
        let r = AriRange {
            ota_room: "DLX".into(),
            ota_rate: None,
            start: date(2025, 1, 1),
            end: date(2025, 1, 2),
            values: AriValues { available: Some(3), ..AriValues::default() },
        };
        let mut r2 = r.clone();
        r2.values.available = Some(4);
        let body = avail_notif_rq("H", &[r, r2], "e", ts());
        assert_eq!(parse_avail_notif(body.as_bytes(), &Limits::default()).unwrap_err().code(), "invalid_value");
    }

    #[test]
    fn error_rs_matches_the_request() {
        let l = Limits::default();
        let cancel = br#"<?xml version="1.0"?><!-- c --><OTA_CancelRQ EchoToken="e-1" Version="1.0"><UniqueID/></OTA_CancelRQ>"#;
        let rs = error_rs_for_request(cancel, &l, "missing_field", "UniqueID@ID");
        let ack = parse_booking_ack_rs(rs.as_bytes(), &l).unwrap();
        assert_eq!((ack.action, ack.echo_token.as_deref()), (BookingAction::Cancel, Some("e-1")));
        assert_eq!(ack.errors, vec!["10/321 missing_field: UniqueID@ID".to_owned()]);
        let modify = br#"<ota:OTA_HotelResModifyNotifRQ xmlns:ota="x" Version="1.0">"#;
        assert_eq!(
            parse_booking_ack_rs(error_rs_for_request(modify, &l, "xml_malformed", "x").as_bytes(), &l).unwrap().action,
            BookingAction::Modify
        );
        for junk in [&b"<!DOCTYPE x><OTA_CancelRQ/>"[..], b"\xff", b"", b"not xml"] {
            let ack = parse_booking_ack_rs(error_rs_for_request(junk, &l, "xml_doctype", "x").as_bytes(), &l).unwrap();
            assert_eq!((ack.action, ack.echo_token), (BookingAction::New, None));
        }
    }

    #[test]
    fn notif_rs_success_and_errors() {
        assert_eq!(parse_notif_rs(notif_success_rs(AVAIL_NOTIF_RQ, Some("e1")).as_bytes()), Ok(()));
        let err = parse_notif_rs(notif_error_rs(RATE_AMOUNT_NOTIF_RQ, None, "invalid_value", "bad date").as_bytes()).unwrap_err();
        assert_eq!(err, vec!["3/450 invalid_value: bad date".to_owned()]);
        assert!(parse_notif_rs(b"<!DOCTYPE x><x/>").unwrap_err()[0].starts_with("xml_doctype"));
    }
}
