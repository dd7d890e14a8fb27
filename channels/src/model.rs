//! Wire-neutral types: what the rest of the system hands to, and gets from, the
//! codecs. OTA codes are plain strings here (they are the OTA's codes, mapped to
//! ours elsewhere); dates are property-local calendar dates; money is `Decimal`.

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One run of consecutive dates with equal values, for one OTA room (and rate,
/// when rates/restrictions are per rate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AriRange {
    pub ota_room: String,
    pub ota_rate: Option<String>,
    pub start: Date,
    /// Inclusive.
    pub end: Date,
    pub values: AriValues,
}

impl AriRange {
    /// Number of dates covered (at least 1 for a well-formed range).
    pub fn len_days(&self) -> i64 {
        days_between(self.start, self.end) + 1
    }
}

/// The values of one date. `None` means "not stated / not touched" (a delta):
/// what a message leaves out stays as the OTA had it. A **cleared** restriction
/// is therefore never `None` but an explicit value (DESIGN §5 "Deltas clear
/// explicitly"): `min_stay`/`min_stay_through` `Some(0)` or `Some(1)` (no minimum:
/// every stay is at least one night), `max_stay` `Some(0)` (no maximum), the flags
/// `Some(false)`. Each codec writes these clears in its own form (see
/// [`AriField`] and each profile's `CARRIES`).
#[derive(Default, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AriValues {
    /// Rooms left to sell (`BookingLimit` / `InvCount`).
    pub available: Option<u32>,
    /// Base rate, per room per night.
    pub rate: Option<Decimal>,
    /// Adults → rate (`BaseByGuestAmt NumberOfGuests`), ascending by adults.
    pub occupancy_rates: Vec<(u8, Decimal)>,
    /// Minimum stay counted from the arrival date (`Some(0 | 1)`: no minimum).
    pub min_stay: Option<u16>,
    /// Minimum stay for every stay that covers the date ("through"; `Some(0 | 1)`: no minimum).
    #[serde(default)]
    pub min_stay_through: Option<u16>,
    /// `Some(0)` means "no maximum".
    pub max_stay: Option<u16>,
    pub closed_to_arrival: Option<bool>,
    pub closed_to_departure: Option<bool>,
    pub stop_sell: Option<bool>,
}

impl AriValues {
    /// Whether any value carried by an availability/restriction message is set
    /// (`OTA_HotelAvailNotifRQ`: availability, LOS, CTA/CTD, stop-sell).
    pub fn has_availability_part(&self) -> bool {
        self.available.is_some()
            || self.min_stay.is_some()
            || self.min_stay_through.is_some()
            || self.max_stay.is_some()
            || self.closed_to_arrival.is_some()
            || self.closed_to_departure.is_some()
            || self.stop_sell.is_some()
    }

    /// Whether any price is set (`OTA_HotelRateAmountNotifRQ`).
    pub fn has_rate_part(&self) -> bool {
        self.rate.is_some() || !self.occupancy_rates.is_empty()
    }

    /// Whether nothing at all is set.
    pub fn is_empty(&self) -> bool {
        !self.has_availability_part() && !self.has_rate_part()
    }
}

/// One kind of value an ARI message can carry. Each profile states which it
/// carries in its `CARRIES` constant ([`crate::opentravel::CARRIES`],
/// [`crate::alpinebits::CARRIES`], [`crate::jsonrest::CARRIES`]); a field a profile
/// does not carry is never sent to that OTA (its own extranet keeps it). An OTA
/// preset may carry less than its profile (`min_stay_through = false`: see
/// `Preset::carries` in the binary), and the convergence tests compare exactly
/// the fields a connection's preset carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AriField {
    Availability,
    Rate,
    OccupancyRates,
    MinStayArrival,
    MinStayThrough,
    MaxStay,
    ClosedToArrival,
    ClosedToDeparture,
    StopSell,
}

impl AriField {
    pub const ALL: [AriField; 9] = [
        AriField::Availability,
        AriField::Rate,
        AriField::OccupancyRates,
        AriField::MinStayArrival,
        AriField::MinStayThrough,
        AriField::MaxStay,
        AriField::ClosedToArrival,
        AriField::ClosedToDeparture,
        AriField::StopSell,
    ];
}

/// What an inbound booking message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingAction {
    New,
    Modify,
    Cancel,
}

impl BookingAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            BookingAction::New => "new",
            BookingAction::Modify => "modify",
            BookingAction::Cancel => "cancel",
        }
    }
}

/// A booking, modification or cancellation as an OTA states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundBooking {
    pub action: BookingAction,
    /// The OTA's hotel code; empty when the message does not state one (the
    /// connection the message arrived on identifies the property then).
    pub hotel_code: String,
    pub ota_reservation_id: String,
    /// The revision as the OTA states it (timestamp / version id), opaque but
    /// comparable as given. Each profile documents where it comes from; when a
    /// message carries none, it is `sha256:` + a digest of the message's content,
    /// so a redelivery of the same message yields the same revision.
    pub revision: String,
    pub rooms: Vec<BookedRoom>,
    pub guest_name: Option<String>,
    pub currency: Option<String>,
    pub total: Option<Decimal>,
}

/// One room of a booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookedRoom {
    pub ota_room: String,
    pub ota_rate: Option<String>,
    pub check_in: Date,
    pub check_out: Date,
    pub adults: u8,
    /// Night → price, ascending by date, nights within `[check_in, check_out)`.
    pub nightly: Vec<(Date, Decimal)>,
    pub total: Option<Decimal>,
}

/// Whole days from `a` to `b` (negative when `b` is before `a`).
pub fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map(|span| i64::from(span.get_days())).unwrap_or(0)
}

/// The next calendar day, `None` at the end of the supported range.
pub fn next_day(d: Date) -> Option<Date> {
    d.tomorrow().ok()
}

/// Compresses per-date values into runs: consecutive dates (each the day after
/// the previous one) with equal values become one `(start, end inclusive, values)`.
/// The input must be sorted by date; a gap or a repeated date starts a new run.
pub fn compress(days: &[(Date, AriValues)]) -> Vec<(Date, Date, AriValues)> {
    let mut out: Vec<(Date, Date, AriValues)> = Vec::new();
    for (date, values) in days {
        if let Some((_, end, v)) = out.last_mut() {
            if v == values && next_day(*end) == Some(*date) {
                *end = *date;
                continue;
            }
        }
        out.push((*date, *date, values.clone()));
    }
    out
}

/// The inverse of [`compress`]: one entry per date of every run.
pub fn expand(ranges: &[(Date, Date, AriValues)]) -> Vec<(Date, AriValues)> {
    let mut out = Vec::new();
    for (start, end, values) in ranges {
        let mut d = *start;
        while d <= *end {
            out.push((d, values.clone()));
            match next_day(d) {
                Some(n) => d = n,
                None => break,
            }
        }
    }
    out
}

/// Builds the ranges of one OTA room/rate from per-date values (sorted by date).
pub fn to_ranges(ota_room: &str, ota_rate: Option<&str>, days: &[(Date, AriValues)]) -> Vec<AriRange> {
    compress(days)
        .into_iter()
        .map(|(start, end, values)| AriRange { ota_room: ota_room.to_owned(), ota_rate: ota_rate.map(str::to_owned), start, end, values })
        .collect()
}

/// Splits ranges into messages of at most `max_per_message` **updates**, where one
/// update is one [`AriRange`] (one room/rate, one run of dates, all of its values),
/// however many dates or fields it covers. Order is kept. This is how Expedia's
/// "5,000 updates per message" is applied. A `max_per_message` of 0 is treated as 1.
pub fn chunk_ranges(ranges: Vec<AriRange>, max_per_message: usize) -> Vec<Vec<AriRange>> {
    let max = max_per_message.max(1);
    let mut out = Vec::with_capacity(ranges.len().div_ceil(max));
    let mut cur = Vec::with_capacity(max.min(ranges.len()));
    for r in ranges {
        cur.push(r);
        if cur.len() == max {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Splits ranges into messages covering at most `max_days` room-dates each, where a
/// range counts as many units as it has dates (for OTAs that limit dates per request).
/// A range longer than the budget is cut at date boundaries. Order is kept.
/// A `max_days` of 0 is treated as 1.
pub fn chunk_ranges_by_days(ranges: Vec<AriRange>, max_days: usize) -> Vec<Vec<AriRange>> {
    let max = i64::try_from(max_days).unwrap_or(i64::MAX).max(1);
    let mut out = Vec::new();
    let mut cur: Vec<AriRange> = Vec::new();
    let mut used: i64 = 0;
    for mut r in ranges {
        loop {
            let room = max - used;
            let len = r.len_days().max(1);
            if len <= room {
                used += len;
                cur.push(r);
                break;
            }
            // Cut the first `room` days off into the current message.
            let cut_end = jiff::Span::new().try_days(room - 1).ok().and_then(|span| r.start.checked_add(span).ok());
            let rest_start = cut_end.and_then(next_day);
            match (cut_end, rest_start) {
                (Some(cut_end), Some(rest_start)) => {
                    let mut head = r.clone();
                    head.end = cut_end;
                    cur.push(head);
                    out.push(std::mem::take(&mut cur));
                    used = 0;
                    r.start = rest_start;
                }
                _ => {
                    cur.push(r);
                    break;
                }
            }
        }
        if used >= max {
            out.push(std::mem::take(&mut cur));
            used = 0;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn vals(available: u32) -> AriValues {
        AriValues { available: Some(available), ..AriValues::default() }
    }

    fn range(start: Date, end: Date) -> AriRange {
        AriRange { ota_room: "R".into(), ota_rate: None, start, end, values: vals(1) }
    }

    #[test]
    fn compress_joins_equal_consecutive_days_only() {
        let d = |n| date(2025, 1, n);
        let days = vec![(d(1), vals(1)), (d(2), vals(1)), (d(3), vals(2)), (d(5), vals(2)), (d(6), vals(2))];
        let c = compress(&days);
        assert_eq!(c, vec![(d(1), d(2), vals(1)), (d(3), d(3), vals(2)), (d(5), d(6), vals(2))]);
        assert_eq!(expand(&c), days);
        assert!(compress(&[]).is_empty());
    }

    #[test]
    fn compress_crosses_month_and_year_ends() {
        let days = vec![(date(2024, 12, 31), vals(1)), (date(2025, 1, 1), vals(1)), (date(2024, 2, 29), vals(1))];
        let c = compress(&days);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], (date(2024, 12, 31), date(2025, 1, 1), vals(1)));
    }

    #[test]
    fn chunking_counts_ranges() {
        let rs: Vec<_> = (1..=7).map(|n| range(date(2025, 1, n), date(2025, 1, n))).collect();
        let chunks = chunk_ranges(rs.clone(), 3);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
        assert_eq!(chunks.concat(), rs);
        assert_eq!(chunk_ranges(rs.clone(), 0).len(), 7);
        assert!(chunk_ranges(Vec::new(), 5).is_empty());
    }

    #[test]
    fn chunking_by_days_cuts_long_ranges() {
        let rs = vec![range(date(2025, 1, 1), date(2025, 1, 10)), range(date(2025, 2, 1), date(2025, 2, 2))];
        let chunks = chunk_ranges_by_days(rs, 4);
        let lens: Vec<Vec<i64>> = chunks.iter().map(|c| c.iter().map(AriRange::len_days).collect()).collect();
        assert_eq!(lens, vec![vec![4], vec![4], vec![2, 2]]);
        assert_eq!(chunks[1][0].start, date(2025, 1, 5));
        assert_eq!(chunks[2][0].end, date(2025, 1, 10));
        let rs = vec![range(date(2025, 1, 1), date(2025, 1, 10))];
        assert_eq!(chunk_ranges_by_days(rs.clone(), usize::MAX), vec![rs.clone()]);
        assert_eq!(chunk_ranges_by_days(rs, 0).len(), 10);
    }

    fn arb_values() -> impl Strategy<Value = AriValues> {
        (proptest::option::of(0u32..3), proptest::option::of(0u16..2), proptest::option::of(any::<bool>()))
            .prop_map(|(available, min_stay, stop_sell)| AriValues { available, min_stay, stop_sell, ..AriValues::default() })
    }

    proptest! {
        #[test]
        fn expand_compress_is_identity(start in 0i64..3000, steps in proptest::collection::vec((1i64..3, arb_values()), 0..60)) {
            let mut d = date(2024, 1, 1).checked_add(jiff::Span::new().days(start)).unwrap();
            let mut days = Vec::new();
            for (gap, v) in steps {
                days.push((d, v));
                d = d.checked_add(jiff::Span::new().days(gap)).unwrap();
            }
            let c = compress(&days);
            prop_assert_eq!(expand(&c), days.clone());
            // Runs are maximal: neighbours either differ or are not adjacent.
            for w in c.windows(2) {
                prop_assert!(w[0].2 != w[1].2 || next_day(w[0].1) != Some(w[1].0));
            }
        }

        #[test]
        fn chunking_keeps_every_range_in_order(n in 0usize..50, max in 0usize..10) {
            let rs: Vec<_> = (0..n).map(|i| range(date(2025, 1, 1), date(2025, 1, 1 + (i % 20) as i8))).collect();
            let chunks = chunk_ranges(rs.clone(), max);
            prop_assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= max.max(1)));
            prop_assert_eq!(chunks.concat(), rs);
        }

        #[test]
        fn chunking_by_days_covers_the_same_dates(n in 0usize..20, max in 1usize..15) {
            let rs: Vec<_> = (0..n).map(|i| range(date(2025, 3, 1), date(2025, 3, 1 + (i % 25) as i8))).collect();
            let chunks = chunk_ranges_by_days(rs.clone(), max);
            for c in &chunks {
                prop_assert!(c.iter().map(AriRange::len_days).sum::<i64>() <= max as i64);
            }
            let total: i64 = rs.iter().map(AriRange::len_days).sum();
            prop_assert_eq!(chunks.iter().flatten().map(AriRange::len_days).sum::<i64>(), total);
        }
    }
}

/// The longest OTA id or code read from a message (reservation ids, hotel,
/// room and rate codes, confirmation ids), and each guest name field:
/// OpenTravel's `StringLength1to64`.
pub const MAX_ID_CHARS: usize = 64;
/// The longest `EchoToken` (OpenTravel's `StringLength1to128`) and revision
/// (a timestamp, a version id or `sha256:` + 64 hex digits).
pub const MAX_TOKEN_CHARS: usize = 128;
/// The longest whole guest name (several name fields joined): OpenTravel's `StringLength1to255`.
pub const MAX_GUEST_NAME_CHARS: usize = 255;

/// Refuses `value` when it is longer than `max` characters.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), crate::CodecError> {
    // Bytes bound characters from above: most values never need counting.
    if value.len() > max && value.chars().nth(max).is_some() {
        return Err(crate::CodecError::TooLong { field: crate::error::excerpt(field), max });
    }
    Ok(())
}

impl InboundBooking {
    /// Every id, code and name within its cap ([`MAX_ID_CHARS`],
    /// [`MAX_TOKEN_CHARS`], [`MAX_GUEST_NAME_CHARS`]): each codec checks the
    /// bookings it reads, so nothing longer is stored or echoed.
    pub fn check_lengths(&self) -> Result<(), crate::CodecError> {
        check_len("hotel code", &self.hotel_code, MAX_ID_CHARS)?;
        check_len("reservation id", &self.ota_reservation_id, MAX_ID_CHARS)?;
        check_len("revision", &self.revision, MAX_TOKEN_CHARS)?;
        for room in &self.rooms {
            check_len("room type code", &room.ota_room, MAX_ID_CHARS)?;
            if let Some(rate) = &room.ota_rate {
                check_len("rate plan code", rate, MAX_ID_CHARS)?;
            }
        }
        if let Some(name) = &self.guest_name {
            check_len("guest name", name, MAX_GUEST_NAME_CHARS)?;
        }
        if let Some(currency) = &self.currency {
            check_len("currency code", currency, 3)?;
        }
        Ok(())
    }
}

/// Every codec refuses over-long ids, codes, names and tokens (and the XML
/// reader over-long attributes), whichever way a booking comes in.
#[cfg(test)]
mod caps {
    use super::*;
    use crate::{alpinebits, jsonrest, opentravel, CodecError, Limits};
    use jiff::civil::date;

    fn booking(id: &str, room: &str, name: &str) -> InboundBooking {
        InboundBooking {
            action: BookingAction::New,
            hotel_code: "H1".into(),
            ota_reservation_id: id.into(),
            revision: "2025-01-01T00:00:00Z".into(),
            rooms: vec![BookedRoom {
                ota_room: room.into(),
                ota_rate: Some("BAR".into()),
                check_in: date(2025, 3, 1),
                check_out: date(2025, 3, 3),
                adults: 2,
                nightly: vec![],
                total: None,
            }],
            guest_name: Some(name.into()),
            currency: Some("IDR".into()),
            total: None,
        }
    }

    fn too_long(r: Result<impl std::fmt::Debug, CodecError>) -> bool {
        matches!(r, Err(CodecError::TooLong { .. }))
    }

    #[test]
    fn check_len_counts_characters() {
        assert!(check_len("f", &"é".repeat(64), 64).is_ok(), "128 bytes, 64 characters");
        assert_eq!(check_len("f", &"é".repeat(65), 64).unwrap_err().code(), "value_too_long");
        assert!(check_len("f", "", 64).is_ok());
    }

    #[test]
    fn opentravel_refuses_long_ids_names_and_echo_tokens() {
        let l = Limits::default();
        let ok = opentravel::res_notif_rq(
            &booking(&"R".repeat(64), "DLX", "Siti Aisyah"),
            &"E".repeat(128),
            "2025-01-01T00:00:00Z".parse().unwrap(),
        );
        let parsed = opentravel::parse_booking_message(ok.as_bytes(), &l).unwrap();
        assert_eq!(parsed.echo_token.as_deref().map(str::len), Some(128));
        let long_id = opentravel::res_notif_rq(&booking(&"R".repeat(70), "DLX", "Siti"), "e", "2025-01-01T00:00:00Z".parse().unwrap());
        assert!(too_long(opentravel::parse_booking_message(long_id.as_bytes(), &l)));
        let long_echo = ok.replace(&"E".repeat(128), &"E".repeat(129));
        assert!(too_long(opentravel::parse_booking_message(long_echo.as_bytes(), &l)));
        let huge_echo = ok.replace(&"E".repeat(128), &"E".repeat(500 * 1024));
        let err = opentravel::parse_booking_message(huge_echo.as_bytes(), &l).unwrap_err();
        assert_eq!(err.code(), "value_too_long");
        assert!(err.to_string().len() < 200, "the message quotes nothing long: {err}");
        // The error answer does not echo an over-long token, whole or cut.
        let rs = opentravel::error_rs_for_request(long_echo.as_bytes(), &l, err.code(), &err.to_string());
        assert!(!rs.contains("EEEE"), "{rs}");
        let long_room = opentravel::res_notif_rq(&booking("R1", &"D".repeat(65), "Siti"), "e", "2025-01-01T00:00:00Z".parse().unwrap());
        assert!(too_long(opentravel::parse_booking_message(long_room.as_bytes(), &l)));
        let long_name = opentravel::res_notif_rq(&booking("R1", "DLX", "Siti Aisyah"), "e", "2025-01-01T00:00:00Z".parse().unwrap())
            .replace("<Surname>Aisyah</Surname>", &format!("<Surname>{}</Surname>", "A".repeat(65)));
        assert!(long_name.contains(&"A".repeat(65)), "{long_name}");
        assert!(too_long(opentravel::parse_booking_message(long_name.as_bytes(), &l)));
        let cancel = format!(
            r#"<OTA_CancelRQ Version="1.0" TimeStamp="2025-01-01T00:00:00Z"><UniqueID Type="14" ID="{}"/></OTA_CancelRQ>"#,
            "C".repeat(65)
        );
        assert!(too_long(opentravel::parse_booking_message(cancel.as_bytes(), &l)));
        // An unused confirmation id is capped too.
        let confirmation = ok.replacen(
            "<ResGlobalInfo>",
            &format!(
                r#"<ResGlobalInfo><HotelReservationIDs><HotelReservationID ResID_Type="10" ResID_Value="{}"/></HotelReservationIDs>"#,
                "K".repeat(65)
            ),
            1,
        );
        assert_ne!(confirmation, ok);
        assert!(too_long(opentravel::parse_booking_message(confirmation.as_bytes(), &l)));
    }

    #[test]
    fn alpinebits_lists_long_ids_as_unreadable() {
        let body = alpinebits::res_retrieve_rs(&[booking("OK-1", "DLX", "Siti"), booking(&"R".repeat(70), "DLX", "Siti")]);
        let body = if body.contains(&"R".repeat(70)) { body } else { body.replace("OK-1", &"R".repeat(70)) };
        let got = alpinebits::parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).unwrap();
        assert!(got.bookings.iter().all(|b| b.ota_reservation_id.chars().count() <= MAX_ID_CHARS), "{:?}", got.bookings);
        assert!(got.invalid.iter().any(|(id, e)| e.code() == "value_too_long" && id.chars().count() <= 41), "{:?}", got.invalid);
    }

    #[test]
    fn jsonrest_lists_long_ids_as_unreadable() {
        let feed = jsonrest::revisions_feed(&[booking("OK-1", "DLX", "Siti"), booking(&"R".repeat(70), "DLX", "Siti")]);
        let got = jsonrest::parse_revisions_feed(feed.to_string().as_bytes(), &Limits::default()).unwrap();
        assert_eq!(got.revisions.len(), 1);
        assert_eq!(got.invalid.len(), 1);
        assert_eq!(got.invalid[0].1.code(), "value_too_long");
        let notify = serde_json::json!({"event": "booking_revision", "property_id": "P".repeat(65)});
        assert!(too_long(jsonrest::parse_notify(notify.to_string().as_bytes(), &Limits::default())));
    }

    #[test]
    fn the_xml_reader_caps_attribute_values() {
        let l = Limits { max_attr_chars: 8, ..Limits::default() };
        assert!(crate::xml::parse_document(br#"<a b="12345678"/>"#, &l).is_ok());
        let e = crate::xml::parse_document(br#"<a b="123456789"/>"#, &l).unwrap_err();
        assert_eq!(e.code(), "value_too_long");
        assert_eq!(e.to_string(), "a@b is longer than 8 characters");
    }
}
