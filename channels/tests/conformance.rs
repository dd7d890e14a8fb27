//! Conformance: everything the crate writes validates against the OpenTravel 2015A /
//! AlpineBits 2020-10 schemas (via `../shared/conformance/validate-xml`, i.e. xmllint),
//! the official AlpineBits samples parse, the FreeRooms validation corpus is accepted or
//! refused as it says, builders and parsers round-trip, and hostile input is refused.
//!
//! The corpus is looked up at `$SALURAN_CONFORMANCE_DIR`, else `../shared/conformance`
//! from the workspace root. When it is missing these tests FAIL (they never pass quietly).

use jiff::civil::{date, Date};
use rust_decimal::Decimal;
use saluran_channels::model::{AriRange, AriValues, BookedRoom, BookingAction, InboundBooking};
use saluran_channels::{alpinebits, jsonrest, opentravel, CodecError, Limits};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn conformance_dir() -> PathBuf {
    let dir = match std::env::var_os("SALURAN_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    };
    assert!(
        dir.join("validate-xml").is_file(),
        "conformance corpus not found at {} (expected ../shared/conformance beside the workspace, \
         or set SALURAN_CONFORMANCE_DIR); these tests need it and refuse to pass without it",
        dir.display()
    );
    dir
}

fn require_xmllint() {
    let ok = Command::new("xmllint").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "xmllint is missing: install libxml2-utils (apt-get install libxml2-utils)");
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn scratch_dir(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("saluran-channels-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Writes each (name, xml) to a temp dir and validates them all with `validate-xml`.
fn validate<N: AsRef<str>>(docs: &[(N, String)], alpinebits: bool) {
    let conf = conformance_dir();
    require_xmllint();
    let dir = scratch_dir(if alpinebits { "alpinebits" } else { "ota" });
    let mut files = Vec::new();
    for (i, (name, xml)) in docs.iter().enumerate() {
        let path = dir.join(format!("{i:03}-{}.xml", name.as_ref()));
        std::fs::write(&path, xml).expect("write xml");
        files.push(path);
    }
    let mut cmd = Command::new(conf.join("validate-xml"));
    if alpinebits {
        cmd.arg("--alpinebits");
    }
    let out = cmd.args(&files).output().expect("run validate-xml");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let mut msg = format!("schema validation failed (alpinebits={alpinebits}):\n{stdout}\n{stderr}\n");
        for (i, (name, xml)) in docs.iter().enumerate() {
            msg.push_str(&format!("--- {i:03}-{}\n{xml}\n", name.as_ref()));
        }
        panic!("{msg}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn ts() -> jiff::Timestamp {
    "2025-06-01T08:30:00Z".parse().expect("timestamp")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn range(room: &str, rate: Option<&str>, start: Date, end: Date, values: AriValues) -> AriRange {
    AriRange { ota_room: room.into(), ota_rate: rate.map(Into::into), start, end, values }
}

/// Representative ARI: availability only, full restrictions, rates with occupancy
/// prices, a stop-sell reopening, max-stay removal.
fn sample_ranges() -> Vec<AriRange> {
    vec![
        range("DLX", None, date(2025, 7, 1), date(2025, 7, 10), AriValues { available: Some(5), ..Default::default() }),
        range(
            "DLX",
            Some("BAR"),
            date(2025, 7, 1),
            date(2025, 7, 3),
            AriValues {
                available: Some(0),
                rate: Some(dec("1250000.50")),
                occupancy_rates: vec![(1, dec("1100000")), (2, dec("1250000.50")), (3, dec("1400000"))],
                min_stay: Some(2),
                min_stay_through: Some(3),
                max_stay: Some(14),
                closed_to_arrival: Some(true),
                closed_to_departure: Some(false),
                stop_sell: Some(true),
            },
        ),
        range(
            "STD",
            Some("NRF"),
            date(2025, 12, 30),
            date(2026, 1, 2),
            AriValues { rate: Some(dec("850000")), stop_sell: Some(false), max_stay: Some(0), ..Default::default() },
        ),
        range("STD", Some("NRF"), date(2026, 1, 3), date(2026, 1, 3), AriValues { closed_to_departure: Some(true), ..Default::default() }),
        // Every restriction cleared, explicitly.
        range("STD", Some("BAR"), date(2026, 2, 1), date(2026, 2, 5), cleared()),
    ]
}

/// Every restriction cleared: how the hub states "none" (DESIGN §5 "Deltas clear explicitly").
fn cleared() -> AriValues {
    AriValues {
        available: Some(2),
        min_stay: Some(1),
        min_stay_through: Some(1),
        max_stay: Some(0),
        closed_to_arrival: Some(false),
        closed_to_departure: Some(false),
        stop_sell: Some(false),
        ..Default::default()
    }
}

/// A cleared restriction is sent as a value in every profile that carries it: an OTA
/// that had 3 / 7 nights, CTA, CTD and a stop-sell ends with none of them.
#[test]
fn clears_are_explicit_in_every_profile() {
    let d = date(2026, 3, 1);
    let zeros = AriValues { min_stay: Some(0), min_stay_through: Some(0), ..cleared() };
    for values in [cleared(), zeros] {
        let r = vec![range("DLX", Some("BAR"), d, d, values)];
        let xml = opentravel::avail_notif_rq("H1", &r, "e", ts());
        assert!(xml.contains(r#"MinMaxMessageType="RemoveMaxLOS""#), "{xml}");
        assert_eq!(xml.matches(r#"Time="1" TimeUnit="Day" MinMaxMessageType="SetMinLOS""#).count(), 2, "arrival and through: {xml}");
        assert!(xml.contains(r#"ArrivalDateBased="false""#), "{xml}");
        for restriction in ["Master", "Arrival", "Departure"] {
            assert!(xml.contains(&format!(r#"Status="Open" Restriction="{restriction}""#)), "{restriction}: {xml}");
        }
        let got = opentravel::parse_avail_notif(xml.as_bytes(), &limits()).unwrap().ranges;
        assert_eq!(got.len(), 1);
        let v = &got[0].values;
        assert_eq!((v.min_stay, v.min_stay_through, v.max_stay), (Some(1), Some(1), Some(0)));
        assert_eq!((v.closed_to_arrival, v.closed_to_departure, v.stop_sell), (Some(false), Some(false), Some(false)));
        validate(&[("clears", xml)], false);

        let json = jsonrest::ari_batch("H1", &r);
        let entry = &json["values"][0];
        for field in ["min_stay_arrival", "min_stay_through", "max_stay", "closed_to_arrival", "closed_to_departure", "stop_sell"] {
            assert!(!entry[field].is_null(), "{field} stated explicitly: {entry}");
        }
        assert_eq!(entry["max_stay"], 0);
        let parsed = jsonrest::parse_ari_batch(&serde_json::to_vec(&json).unwrap(), &limits()).unwrap().ranges;
        assert_eq!(parsed, r);
    }
    // AlpineBits carries availability and the stop-sell (as 0): lifting it sends the count.
    assert_eq!(alpinebits::CARRIES, &[saluran_channels::AriField::Availability, saluran_channels::AriField::StopSell]);
    let lifted = alpinebits::freerooms_rq("H1", &[range("DLX", None, d, d, cleared())], false).unwrap();
    assert!(lifted.contains(r#"CountType="2" Count="2""#), "{lifted}");
    assert_eq!(opentravel::CARRIES.len(), 9);
    assert_eq!(jsonrest::CARRIES.len(), 9);
}

fn sample_booking(action: BookingAction) -> InboundBooking {
    InboundBooking {
        action,
        hotel_code: "HTL-01".into(),
        ota_reservation_id: "4012345678".into(),
        revision: "2025-06-01T08:29:59+07:00".into(),
        rooms: vec![
            BookedRoom {
                ota_room: "DLX".into(),
                ota_rate: Some("BAR".into()),
                check_in: date(2025, 7, 1),
                check_out: date(2025, 7, 4),
                adults: 2,
                nightly: vec![(date(2025, 7, 1), dec("1250000")), (date(2025, 7, 2), dec("1250000")), (date(2025, 7, 3), dec("1400000"))],
                total: Some(dec("3900000")),
            },
            BookedRoom {
                ota_room: "STD".into(),
                ota_rate: None,
                check_in: date(2025, 7, 2),
                check_out: date(2025, 7, 3),
                adults: 1,
                nightly: vec![(date(2025, 7, 2), dec("850000.5"))],
                total: Some(dec("850000.5")),
            },
        ],
        guest_name: Some("Siti Nur Aisyah".into()),
        currency: Some("IDR".into()),
        total: Some(dec("4750000.5")),
    }
}

// ---------------------------------------------------------------------------
// OpenTravel 2015A
// ---------------------------------------------------------------------------

#[test]
fn opentravel_messages_validate_against_ota_2015a() {
    let ranges = sample_ranges();
    let mut docs = vec![
        ("avail_notif", opentravel::avail_notif_rq("HTL-01", &ranges, "echo-1", ts())),
        ("avail_notif_single", opentravel::avail_notif_rq("HTL-01", &ranges[..1], "", ts())),
        ("avail_notif_empty", opentravel::avail_notif_rq("HTL-01", &[], "echo-2", ts())),
        ("rate_amount_notif", opentravel::rate_amount_notif_rq("HTL-01", &ranges, "IDR", "echo-3", ts())),
        ("avail_rs_ok", opentravel::notif_success_rs(opentravel::AVAIL_NOTIF_RQ, Some("echo-1"))),
        ("rate_rs_ok", opentravel::notif_success_rs(opentravel::RATE_AMOUNT_NOTIF_RS, None)),
        ("avail_rs_err", opentravel::notif_error_rs(opentravel::AVAIL_NOTIF_RQ, Some("e"), "invalid_value", "End before Start")),
    ];
    for action in [BookingAction::New, BookingAction::Modify, BookingAction::Cancel] {
        let b = sample_booking(action);
        let name = action.as_str();
        docs.push((name, opentravel::res_notif_rq(&b, "echo-b", ts())));
        docs.push((name, opentravel::booking_ack_rs(action, Some("echo-b"), "4012345678", "0192b2a4-5e6f-7a8b-9c0d-1e2f3a4b5c6d", ts())));
        docs.push((name, opentravel::booking_ack_rs(action, None, "4012345678", "CONF-1", ts())));
        docs.push((name, opentravel::error_rs(action, Some("echo-b"), "missing_field", "HotelReservation/UniqueID@ID")));
        docs.push((name, opentravel::error_rs(action, None, "xml_doctype", "DOCTYPE <refused> & \"logged\"")));
    }
    // A booking with the bare minimum (no rate plan, nightly, totals, guest, hotel, adults).
    let mut bare = sample_booking(BookingAction::New);
    bare.hotel_code.clear();
    bare.guest_name = Some("Cher".into());
    bare.currency = None;
    bare.total = None;
    bare.revision = "not-a-timestamp".into();
    for r in &mut bare.rooms {
        r.ota_rate = None;
        r.nightly.clear();
        r.total = None;
        r.adults = 0;
    }
    docs.push(("bare", opentravel::res_notif_rq(&bare, "", ts())));
    validate(&docs, false);
}

fn limits() -> Limits {
    Limits::default()
}

/// The availability part of ranges, as `OTA_HotelAvailNotifRQ` carries it.
fn avail_part(r: &AriRange) -> AriRange {
    let mut r = r.clone();
    r.values.rate = None;
    r.values.occupancy_rates.clear();
    r
}

/// The price part of ranges, as `OTA_HotelRateAmountNotifRQ` carries it.
fn rate_part(r: &AriRange) -> AriRange {
    AriRange {
        values: AriValues { rate: r.values.rate, occupancy_rates: r.values.occupancy_rates.clone(), ..Default::default() },
        ..r.clone()
    }
}

#[test]
fn opentravel_ari_round_trips() {
    let ranges = sample_ranges();
    let notif = opentravel::parse_avail_notif(opentravel::avail_notif_rq("HTL-01", &ranges, "echo-1", ts()).as_bytes(), &limits()).unwrap();
    assert_eq!(notif.hotel_code, "HTL-01");
    assert_eq!(notif.echo_token.as_deref(), Some("echo-1"));
    let expected: Vec<AriRange> = ranges.iter().filter(|r| r.values.has_availability_part()).map(avail_part).collect();
    assert_eq!(notif.ranges, expected);

    let notif =
        opentravel::parse_rate_amount_notif(opentravel::rate_amount_notif_rq("HTL-01", &ranges, "IDR", "e", ts()).as_bytes(), &limits())
            .unwrap();
    assert_eq!(notif.currency.as_deref(), Some("IDR"));
    let expected: Vec<AriRange> = ranges.iter().filter(|r| r.values.has_rate_part()).map(rate_part).collect();
    assert_eq!(notif.ranges, expected);
}

fn expected_opentravel(b: &InboundBooking) -> InboundBooking {
    let mut e = b.clone();
    if e.action == BookingAction::Cancel {
        e.rooms.clear();
        e.guest_name = None;
        e.currency = None;
        e.total = None;
    }
    e
}

#[test]
fn opentravel_bookings_round_trip() {
    for action in [BookingAction::New, BookingAction::Modify, BookingAction::Cancel] {
        let b = sample_booking(action);
        let parsed = opentravel::parse_booking(opentravel::res_notif_rq(&b, "echo", ts()).as_bytes(), &limits()).unwrap();
        assert_eq!(parsed, expected_opentravel(&b), "{action:?}");

        let msg = opentravel::parse_booking_message(opentravel::res_notif_rq(&b, "echo-9", ts()).as_bytes(), &limits()).unwrap();
        assert_eq!(msg.echo_token.as_deref(), Some("echo-9"));

        let ours = "0192b2a4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
        let ack = opentravel::parse_booking_ack_rs(
            opentravel::booking_ack_rs(action, Some("echo-9"), &b.ota_reservation_id, ours, ts()).as_bytes(),
            &limits(),
        )
        .unwrap();
        assert_eq!(ack.action, action);
        assert_eq!(ack.echo_token.as_deref(), Some("echo-9"));
        assert_eq!(ack.ota_reservation_id.as_deref(), Some("4012345678"));
        let expected_ours = if action == BookingAction::Cancel { ours.replace('-', "") } else { ours.to_owned() };
        assert_eq!(ack.our_confirmation_id, Some(expected_ours));
        assert!(ack.errors.is_empty());

        let err =
            opentravel::parse_booking_ack_rs(opentravel::error_rs(action, None, "missing_field", "no id").as_bytes(), &limits()).unwrap();
        assert_eq!(err.errors, vec!["10/321 missing_field: no id".to_owned()]);
    }
    // Special characters survive escaping.
    let mut b = sample_booking(BookingAction::New);
    b.guest_name = Some("Zoë O'Brien-Smith & <Sons> \"Ltd\"".into());
    let parsed = opentravel::parse_booking(opentravel::res_notif_rq(&b, "", ts()).as_bytes(), &limits()).unwrap();
    assert_eq!(parsed.guest_name, b.guest_name);
    // A revision that is not an xs:dateTime is not written; the reader then falls back
    // to the root TimeStamp (documented rule).
    b.revision = "v7".into();
    let p1 = opentravel::parse_booking(opentravel::res_notif_rq(&b, "", ts()).as_bytes(), &limits()).unwrap();
    assert_eq!(p1.revision, "2025-06-01T08:30:00Z");
}

#[test]
fn alpinebits_reservation_push_sample_reads_as_opentravel() {
    let dir = conformance_dir().join("samples/alpinebits-2020-10");
    let body = std::fs::read(dir.join("GuestRequests-OTA_HotelResNotifRQ-reservation-push.xml")).unwrap();
    let b = opentravel::parse_booking(&body, &limits()).unwrap();
    assert_eq!(b.action, BookingAction::New);
    assert_eq!(b.ota_reservation_id, "6b34fe24ac2ff810");
    assert_eq!(b.hotel_code, "123");
    assert_eq!(b.revision, "2012-03-21T15:00:00+01:00");
    assert_eq!(b.guest_name.as_deref(), Some("Otto Mustermann"));
    assert_eq!(b.rooms.len(), 1);
    assert_eq!((b.rooms[0].ota_room.as_str(), b.rooms[0].ota_rate.as_deref(), b.rooms[0].adults), ("bigsuite", Some("123456-xyz"), 2));
    assert_eq!((b.rooms[0].check_in, b.rooms[0].check_out), (date(2012, 1, 1), date(2012, 1, 12)));
    assert_eq!((b.total, b.currency.as_deref()), (Some(dec("299")), Some("EUR")));

    let body = std::fs::read(dir.join("GuestRequests-OTA_HotelResNotifRS-reservation-push.xml")).unwrap();
    let ack = opentravel::parse_booking_ack_rs(&body, &limits()).unwrap();
    assert_eq!(ack.ota_reservation_id.as_deref(), Some("6b34fe24ac2ff810"));
    assert!(ack.errors.is_empty());
}

// ---------------------------------------------------------------------------
// AlpineBits 2020-10
// ---------------------------------------------------------------------------

/// Room-level availability (FreeRooms is per room category): counts, a stop-sell,
/// a range without a count (skipped), a year boundary.
fn freerooms_ranges() -> Vec<AriRange> {
    let avail = |n| AriValues { available: Some(n), ..Default::default() };
    vec![
        range("DLX", None, date(2025, 7, 1), date(2025, 7, 10), avail(5)),
        range(
            "STD",
            None,
            date(2025, 7, 1),
            date(2025, 7, 3),
            AriValues { available: Some(4), stop_sell: Some(true), ..Default::default() },
        ),
        range("STD", None, date(2025, 7, 4), date(2025, 7, 5), avail(0)),
        range("STD", None, date(2025, 7, 6), date(2025, 7, 9), AriValues { min_stay: Some(2), ..Default::default() }),
        range("DBL", None, date(2025, 12, 30), date(2026, 1, 2), avail(1)),
    ]
}

fn alpinebits_docs() -> Vec<(&'static str, String)> {
    let ranges = freerooms_ranges();
    let room_level: Vec<AriRange> = ranges[..2].to_vec();
    let mut docs = vec![
        ("ping_rq", alpinebits::ping_rq(&alpinebits::Handshake::client_default().to_json())),
        ("ping_rq_empty", alpinebits::ping_rq("")),
        (
            "ping_rs",
            alpinebits::ping_rs(&alpinebits::Handshake::client_default().to_json(), &alpinebits::Handshake::client_default().to_json()),
        ),
        ("freerooms_complete", alpinebits::freerooms_rq("HTL-01", &ranges, true).unwrap()),
        ("freerooms_delta", alpinebits::freerooms_rq("HTL-01", &room_level, false).unwrap()),
        ("freerooms_reset", alpinebits::freerooms_rq("HTL-01", &[], true).unwrap()),
        ("freerooms_rs_ok", alpinebits::freerooms_rs_success()),
        ("freerooms_rs_warn", alpinebits::freerooms_rs_warnings(&["last complete set is older than 48 h"])),
        ("freerooms_rs_err", alpinebits::freerooms_rs_error("invalid_value", "End before Start")),
        ("read_rq", alpinebits::read_rq("HTL-01")),
        ("read_rq_since", alpinebits::read_rq_since("HTL-01", Some(ts()))),
        ("retrieve_empty", alpinebits::res_retrieve_rs(&[])),
        ("retrieve_error", alpinebits::res_retrieve_rs_error("unknown_hotel", "no such hotel")),
        (
            "notif_report",
            alpinebits::notif_report_rq(&[
                alpinebits::NotifAck { ota_id: "R1".into(), cancellation: false, refused: None },
                alpinebits::NotifAck { ota_id: "R2".into(), cancellation: true, refused: None },
                alpinebits::NotifAck { ota_id: "R3".into(), cancellation: false, refused: Some("room not mapped".into()) },
            ]),
        ),
        ("notif_report_empty", alpinebits::notif_report_rq(&[])),
        ("notif_report_rs", alpinebits::notif_report_rs_success()),
    ];
    let all: Vec<InboundBooking> =
        [BookingAction::New, BookingAction::Modify, BookingAction::Cancel].into_iter().map(sample_booking).collect();
    docs.push(("retrieve_all", alpinebits::res_retrieve_rs(&all)));
    let mut bare = sample_booking(BookingAction::New);
    bare.hotel_code.clear();
    bare.guest_name = Some("Cher".into());
    bare.currency = None;
    bare.revision = "v1".into();
    for r in &mut bare.rooms {
        r.ota_rate = None;
        r.adults = 0;
    }
    docs.push(("retrieve_bare", alpinebits::res_retrieve_rs(&[bare])));
    docs
}

#[test]
fn alpinebits_messages_validate_against_the_alpinebits_schema() {
    validate(&alpinebits_docs(), true);
}

#[test]
fn alpinebits_messages_also_validate_against_ota_2015a() {
    // AlpineBits is a profile of OpenTravel: what we write is valid OTA 2015A too
    // (every root that has an OTA 2015A schema here).
    let docs: Vec<(&str, String)> = alpinebits_docs().into_iter().filter(|(name, _)| !name.starts_with("ping_rs")).collect();
    validate(&docs, false);
}

#[test]
fn alpinebits_round_trips() {
    let ranges = freerooms_ranges();
    let fr = alpinebits::parse_freerooms(alpinebits::freerooms_rq("HTL-01", &ranges, true).unwrap().as_bytes(), &limits()).unwrap();
    assert!(fr.complete_set && !fr.by_room && fr.closing_seasons.is_empty());
    assert_eq!(fr.hotel_code, "HTL-01");
    let expected: Vec<AriRange> = ranges
        .iter()
        .filter(|r| r.values.available.is_some() || r.values.stop_sell == Some(true))
        .map(|r| AriRange {
            ota_rate: None,
            values: AriValues {
                available: Some(if r.values.stop_sell == Some(true) { 0 } else { r.values.available.unwrap_or(0) }),
                ..Default::default()
            },
            ..r.clone()
        })
        .collect();
    assert_eq!(fr.ranges, expected);

    let bookings: Vec<InboundBooking> =
        [BookingAction::New, BookingAction::Modify, BookingAction::Cancel].into_iter().map(sample_booking).collect();
    let rr = alpinebits::parse_res_retrieve_rs(alpinebits::res_retrieve_rs(&bookings).as_bytes(), &limits()).unwrap();
    assert!(rr.invalid.is_empty() && rr.inquiries.is_empty(), "{rr:?}");
    let expected: Vec<InboundBooking> = bookings.iter().map(expected_alpinebits).collect();
    assert_eq!(rr.bookings, expected);

    let echo = alpinebits::Handshake::client_default().to_json();
    assert_eq!(alpinebits::parse_ping_rq(alpinebits::ping_rq(&echo).as_bytes(), &limits()).unwrap(), echo);
    let rs = alpinebits::parse_ping_rs(alpinebits::ping_rs(&echo, &echo).as_bytes(), &limits()).unwrap();
    assert_eq!(rs.echo_data, echo);
    assert_eq!(alpinebits::Handshake::parse(rs.handshake.as_deref().unwrap_or_default()).unwrap(), alpinebits::Handshake::client_default());

    let rq = alpinebits::parse_read_rq(alpinebits::read_rq_since("HTL-01", Some(ts())).as_bytes(), &limits()).unwrap();
    assert_eq!((rq.hotel_code.as_deref(), rq.since.as_deref()), (Some("HTL-01"), Some("2025-06-01T08:30:00Z")));

    let acks: Vec<alpinebits::NotifAck> = rr.bookings.iter().map(alpinebits::NotifAck::for_booking).collect();
    let back = alpinebits::parse_notif_report_rq(alpinebits::notif_report_rq(&acks).as_bytes(), &limits()).unwrap();
    assert_eq!(back, acks);
    assert!(back[2].cancellation);
}

/// What survives AlpineBits: no nightly prices, total = sum of room totals.
fn expected_alpinebits(b: &InboundBooking) -> InboundBooking {
    let mut e = b.clone();
    // Revisions travel as CreateDateTime and come back as UTC instants (local
    // times without an offset as given).
    if let Some(t) = alpinebits::normalize_revision(&e.revision) {
        e.revision = t;
    }
    for r in &mut e.rooms {
        r.nightly.clear();
        if e.currency.is_none() {
            r.total = None;
        }
    }
    e.total = if !e.rooms.is_empty() && e.rooms.iter().all(|r| r.total.is_some()) {
        Some(e.rooms.iter().filter_map(|r| r.total).sum())
    } else {
        None
    };
    // The currency travels with room totals only.
    if !e.rooms.iter().any(|r| r.total.is_some()) {
        e.currency = None;
    }
    e
}

fn sample(name: &str) -> Vec<u8> {
    let path = conformance_dir().join("samples/alpinebits-2020-10").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("official sample {} missing: {e}", path.display()))
}

/// Official samples of the actions we support, read by our parsers:
/// FreeRooms RQ (4) and RS (4), GuestRequests ResRetrieveRS (5), ReadRQ, NotifReportRQ
/// ("ReadRQ-ack"), Handshake RQ/RS. (The reservation-push RQ/RS pair is read by the
/// opentravel parser in `alpinebits_reservation_push_sample_reads_as_opentravel`.)
#[test]
fn official_alpinebits_samples_parse() {
    let l = limits();
    // FreeRooms
    let fr = alpinebits::parse_freerooms(&sample("FreeRooms-OTA_HotelInvCountNotifRQ.xml"), &l).unwrap();
    assert!(fr.complete_set);
    assert_eq!((fr.hotel_code.as_str(), fr.hotel_name.as_deref()), ("123", Some("Frangart Inn")));
    let counts: Vec<(Date, Date, Option<u32>)> = fr.ranges.iter().map(|r| (r.start, r.end, r.values.available)).collect();
    assert_eq!(
        counts,
        vec![
            (date(2020, 8, 1), date(2020, 8, 10), Some(3)),
            (date(2020, 8, 11), date(2020, 8, 20), Some(0)),
            (date(2020, 8, 21), date(2020, 8, 30), Some(1))
        ]
    );
    assert!(fr.ranges.iter().all(|r| r.ota_room == "DOUBLE"));
    let delta = alpinebits::parse_freerooms(&sample("FreeRooms-OTA_HotelInvCountNotifRQ-delta.xml"), &l).unwrap();
    assert!(!delta.complete_set);
    assert_eq!(delta.ranges.len(), 2);
    let empty = alpinebits::parse_freerooms(&sample("FreeRooms-OTA_HotelInvCountNotifRQ-empty.xml"), &l).unwrap();
    assert!(empty.is_reset());
    let closing = alpinebits::parse_freerooms(&sample("FreeRooms-OTA_HotelInvCountNotifRQ-closing_seasons.xml"), &l).unwrap();
    assert_eq!(closing.closing_seasons, vec![(date(2020, 8, 31), date(2020, 9, 30))]);
    assert_eq!(closing.ranges.len(), 3);
    for ok in ["success", "advisory", "warning"] {
        assert_eq!(alpinebits::parse_freerooms_rs(&sample(&format!("FreeRooms-OTA_HotelInvCountNotifRS-{ok}.xml"))), Ok(()), "{ok}");
    }
    let warnings = alpinebits::parse_freerooms_rs_warnings(&sample("FreeRooms-OTA_HotelInvCountNotifRS-warning.xml"), &l).unwrap();
    assert_eq!(warnings, vec!["dates are too far in the future for this server to process".to_owned()]);
    assert_eq!(
        alpinebits::parse_freerooms_rs(&sample("FreeRooms-OTA_HotelInvCountNotifRS-error.xml")),
        Err(vec!["13/404: Invalid start/end date combination".to_owned()])
    );

    // GuestRequests
    let rr = alpinebits::parse_res_retrieve_rs(&sample("GuestRequests-OTA_ResRetrieveRS-reservation.xml"), &l).unwrap();
    assert_eq!(rr.bookings.len(), 1);
    let b = &rr.bookings[0];
    assert_eq!(b.action, BookingAction::New);
    assert_eq!(
        (b.ota_reservation_id.as_str(), b.hotel_code.as_str(), b.revision.as_str()),
        // CreateDateTime="2012-03-21T15:00:00+01:00", as the UTC instant.
        ("6b34fe24ac2ff810", "123", "2012-03-21T14:00:00Z")
    );
    assert_eq!(b.guest_name.as_deref(), Some("Otto Mustermann"));
    assert_eq!((b.rooms[0].ota_room.as_str(), b.rooms[0].adults, b.rooms[0].total), ("bigsuite", 2, Some(dec("299"))));
    assert_eq!((b.total, b.currency.as_deref()), (Some(dec("299")), Some("EUR")));

    let rr = alpinebits::parse_res_retrieve_rs(&sample("GuestRequests-OTA_ResRetrieveRS-cancellation.xml"), &l).unwrap();
    assert_eq!(rr.bookings.len(), 1);
    assert_eq!((rr.bookings[0].action, rr.bookings[0].ota_reservation_id.as_str()), (BookingAction::Cancel, "c24e8b15ca469388"));
    assert!(rr.bookings[0].rooms.is_empty());

    let rr = alpinebits::parse_res_retrieve_rs(&sample("GuestRequests-OTA_ResRetrieveRS-request-with-roomtype.xml"), &l).unwrap();
    assert!(rr.bookings.is_empty() && rr.invalid.is_empty());
    assert_eq!(
        rr.inquiries,
        vec![alpinebits::Inquiry {
            ota_id: "6b34fe24ac2ff811".into(),
            hotel_code: "123".into(),
            created: "2017-09-03T19:47:50+02:00".into()
        }]
    );

    let rr = alpinebits::parse_res_retrieve_rs(&sample("GuestRequests-OTA_ResRetrieveRS-reservation-empty.xml"), &l).unwrap();
    assert_eq!(rr, alpinebits::ResRetrieve::default());
    match alpinebits::parse_res_retrieve_rs(&sample("GuestRequests-OTA_ResRetrieveRS-error.xml"), &l) {
        Err(CodecError::RemoteErrors(e)) => assert_eq!(e, vec!["13/392: Invalid hotel code".to_owned()]),
        other => panic!("{other:?}"),
    }

    let rq = alpinebits::parse_read_rq(&sample("GuestRequests-OTA_ReadRQ.xml"), &l).unwrap();
    assert_eq!((rq.hotel_code.as_deref(), rq.since.as_deref()), (Some("123"), Some("2012-03-21T15:00:00+01:00")));

    let acks = alpinebits::parse_notif_report_rq(&sample("GuestRequests-OTA_ReadRQ-ack.xml"), &l).unwrap();
    let summary: Vec<(&str, bool, bool)> = acks.iter().map(|a| (a.ota_id.as_str(), a.cancellation, a.refused.is_some())).collect();
    assert_eq!(
        summary,
        vec![
            ("f054bbd2f5ebab9", false, true),
            ("6b34fe24ac2ff810", false, false),
            ("c24e8b15ca469388", true, false),
            ("1000000000000001", false, false)
        ]
    );

    // Handshake
    let echo = alpinebits::parse_ping_rq(&sample("Handshake-OTA_PingRQ.xml"), &l).unwrap();
    let h = alpinebits::Handshake::parse(&echo).unwrap();
    assert!(h.supports("2018-10", "action_OTA_HotelRatePlan_BaseRates", "OTA_HotelRatePlan_BaseRates_deltas"));
    let rs = alpinebits::parse_ping_rs(&sample("Handshake-OTA_PingRS.xml"), &l).unwrap();
    let server = alpinebits::Handshake::parse(rs.handshake.as_deref().unwrap_or_default()).unwrap();
    assert!(server.has_action("2018-10", "action_OTA_Ping"));
    assert_eq!(alpinebits::Handshake::parse(&rs.echo_data).unwrap(), h);
}

#[test]
fn every_official_sample_passes_the_hardened_reader() {
    let root = conformance_dir().join("samples");
    let mut n = 0;
    for sub in ["alpinebits-2020-10", "alpinebits-2020-10-validation/freerooms"] {
        for entry in std::fs::read_dir(root.join(sub)).expect("samples dir") {
            let path = entry.expect("entry").path();
            let body = std::fs::read(&path).expect("read sample");
            saluran_channels::xml::parse_document(&body, &limits()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 60, "expected the whole corpus, read {n} files");
}

/// The FreeRooms validation corpus: every `_ok_` and `_support_` file is accepted,
/// every `_err_` file refused.
#[test]
fn freerooms_validation_corpus() {
    let dir = conformance_dir().join("samples/alpinebits-2020-10-validation/freerooms");
    let mut seen = (0, 0, 0);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir).expect("validation dir").map(|e| e.expect("entry").path()).collect();
    names.sort();
    for path in names {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let body = std::fs::read(&path).expect("read");
        let result = alpinebits::parse_freerooms(&body, &limits());
        if name.contains("_err_") {
            seen.0 += 1;
            let err = result.expect_err(&name);
            assert!(matches!(err.code(), "rule_violation" | "missing_field"), "{name}: {err}");
        } else if name.contains("_ok_") || name.contains("_support_") {
            seen.1 += 1;
            if let Err(e) = result {
                panic!("{name} must be accepted: {e}");
            }
        } else {
            seen.2 += 1;
        }
    }
    assert_eq!(seen, (6, 12, 0), "(err, ok+support, other) files");
}

// ---------------------------------------------------------------------------
// jsonrest
// ---------------------------------------------------------------------------

#[test]
fn jsonrest_round_trips() {
    let ranges = sample_ranges();
    let body = serde_json::to_vec(&jsonrest::ari_batch("HTL-01", &ranges)).unwrap();
    let batch = jsonrest::parse_ari_batch(&body, &limits()).unwrap();
    assert_eq!(batch.property_id, "HTL-01");
    assert_eq!(batch.ranges, ranges);

    let bookings: Vec<InboundBooking> = [BookingAction::New, BookingAction::Modify, BookingAction::Cancel]
        .into_iter()
        .enumerate()
        .map(|(i, a)| InboundBooking { revision: format!("rev-{i}"), ..sample_booking(a) })
        .collect();
    let body = serde_json::to_vec(&jsonrest::revisions_feed(&bookings)).unwrap();
    let feed = jsonrest::parse_revisions_feed(&body, &limits()).unwrap();
    assert!(feed.invalid.is_empty());
    assert_eq!(feed.revisions, bookings);
}

// ---------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------

fn billion_laughs() -> String {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 { "lol".to_owned() } else { format!("lol{}", i - 1) };
        s.push_str(&format!(" <!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10)));
    }
    s.push_str("]>\n<OTA_HotelResNotifRQ Version=\"1.0\">&lol9;</OTA_HotelResNotifRQ>");
    s
}

type XmlParser = fn(&[u8], &Limits) -> Result<(), CodecError>;

fn xml_parsers() -> Vec<(&'static str, XmlParser)> {
    vec![
        ("parse_booking", |b, l| opentravel::parse_booking(b, l).map(drop)),
        ("parse_avail_notif", |b, l| opentravel::parse_avail_notif(b, l).map(drop)),
        ("parse_rate_amount_notif", |b, l| opentravel::parse_rate_amount_notif(b, l).map(drop)),
        ("parse_booking_ack_rs", |b, l| opentravel::parse_booking_ack_rs(b, l).map(drop)),
        ("parse_freerooms", |b, l| alpinebits::parse_freerooms(b, l).map(drop)),
        ("parse_res_retrieve_rs", |b, l| alpinebits::parse_res_retrieve_rs(b, l).map(drop)),
        ("parse_ping_rs", |b, l| alpinebits::parse_ping_rs(b, l).map(drop)),
        ("parse_notif_report_rq", |b, l| alpinebits::parse_notif_report_rq(b, l).map(drop)),
    ]
}

#[test]
fn hostile_xml_is_refused_with_typed_errors() {
    let deep = {
        let mut s = String::with_capacity(1_000_000);
        s.push_str("<OTA_HotelResNotifRQ Version=\"1.0\">");
        for _ in 0..100_000 {
            s.push_str("<a>");
        }
        s
    };
    let huge = {
        let mut v = b"<OTA_HotelResNotifRQ Version=\"1.0\"><![CDATA[".to_vec();
        v.resize(50 * 1024 * 1024, b'x');
        v
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("billion laughs", billion_laughs().into_bytes(), "xml_doctype"),
        (
            "external entity",
            b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><OTA_HotelResNotifRQ Version=\"1.0\">&e;</OTA_HotelResNotifRQ>".to_vec(),
            "xml_doctype",
        ),
        (
            "parameter entity",
            b"<!DOCTYPE x [<!ENTITY % p SYSTEM \"http://127.0.0.1/evil.dtd\"> %p;]><x/>".to_vec(),
            "xml_doctype",
        ),
        ("undeclared entity", b"<OTA_HotelResNotifRQ Version=\"1.0\">&e;</OTA_HotelResNotifRQ>".to_vec(), "xml_undeclared_entity"),
        ("100,000-deep nesting", deep.into_bytes(), "xml_too_deep"),
        ("50 MB body", huge, "xml_too_large"),
        ("char ref zero", b"<OTA_HotelResNotifRQ Version=\"1.0\">&#0;</OTA_HotelResNotifRQ>".to_vec(), "xml_invalid_char"),
        ("char ref surrogate", b"<OTA_HotelResNotifRQ Version=\"1.0\" EchoToken=\"&#xD800;\"/>".to_vec(), "xml_invalid_char"),
        ("char ref too big", b"<OTA_HotelResNotifRQ Version=\"1.0\">&#x110000;</OTA_HotelResNotifRQ>".to_vec(), "xml_invalid_char"),
        ("char ref control", b"<OTA_HotelResNotifRQ Version=\"1.0\">&#x1B;</OTA_HotelResNotifRQ>".to_vec(), "xml_invalid_char"),
        ("latin-1 bytes", b"<OTA_HotelResNotifRQ Version=\"1.0\">Caf\xe9</OTA_HotelResNotifRQ>".to_vec(), "xml_not_utf8"),
        ("utf-16", "<x/>".encode_utf16().flat_map(|u| u.to_le_bytes()).fold(vec![0xFF, 0xFE], |mut v, b| {
            v.push(b);
            v
        }), "xml_not_utf8"),
        ("declared latin-1", b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><x/>".to_vec(), "xml_not_utf8"),
        ("truncated", b"<OTA_HotelResNotifRQ Version=\"1.0\"><HotelReservations>".to_vec(), "xml_malformed"),
        ("not xml", b"{\"json\": true}".to_vec(), "xml_malformed"),
        ("empty", Vec::new(), "xml_malformed"),
    ];
    for (name, body, code) in &cases {
        for (parser, parse) in xml_parsers() {
            let err = parse(body, &limits()).expect_err(&format!("{name} via {parser}"));
            assert_eq!(err.code(), *code, "{name} via {parser}: {err}");
            assert!(err.http_status() >= 400 && err.http_status() < 500, "{name}: {err}");
        }
    }
    // Many elements, each shallow, stop at the element cap.
    let wide = format!("<OTA_HotelResNotifRQ Version=\"1.0\">{}</OTA_HotelResNotifRQ>", "<a/>".repeat(150_000));
    assert_eq!(opentravel::parse_booking(wide.as_bytes(), &limits()).unwrap_err().code(), "xml_too_many_elements");
    // The wrong message for the endpoint.
    let other = opentravel::avail_notif_rq("H", &sample_ranges(), "e", ts());
    assert_eq!(alpinebits::parse_freerooms(other.as_bytes(), &limits()).unwrap_err().code(), "xml_unexpected_root");
}

#[test]
fn hostile_json_is_refused_with_typed_errors() {
    let huge = {
        let mut v = b"{\"data\":[\"".to_vec();
        v.resize(50 * 1024 * 1024, b'x');
        v
    };
    let deep = "[".repeat(100_000).into_bytes();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("50 MB body", huge, "json_too_large"),
        ("100,000-deep nesting", deep, "json_malformed"),
        ("not UTF-8", b"{\"data\":[\"\xff\"]}".to_vec(), "json_malformed"),
        ("truncated", b"{\"data\":[".to_vec(), "json_malformed"),
        ("xml", b"<x/>".to_vec(), "json_malformed"),
    ];
    for (name, body, code) in &cases {
        assert_eq!(jsonrest::parse_revisions_feed(body, &limits()).unwrap_err().code(), *code, "{name} feed");
        assert_eq!(jsonrest::parse_ari_batch(body, &limits()).unwrap_err().code(), *code, "{name} ari");
        assert_eq!(jsonrest::parse_notify(body, &limits()).unwrap_err().code(), *code, "{name} notify");
    }
}

// ---------------------------------------------------------------------------
// Property-based round trips (and schema validation of generated messages)
// ---------------------------------------------------------------------------

mod generated {
    use super::*;
    use proptest::collection::{btree_map, btree_set, vec};
    use proptest::option;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    fn day(offset: i64) -> Date {
        date(2025, 1, 1).checked_add(jiff::Span::new().days(offset)).expect("date in range")
    }

    fn code() -> impl Strategy<Value = String> {
        "[A-Z0-9]{1,8}"
    }

    fn amount() -> impl Strategy<Value = Decimal> {
        (0i64..10_000_000_000, 0u32..=2).prop_map(|(n, scale)| Decimal::new(n, scale))
    }

    fn values() -> impl Strategy<Value = AriValues> {
        (
            (option::of(0u32..500), option::of(amount()), btree_map(1u8..7, amount(), 0..4)),
            // Minimum stays from 1: a minimum of 0 (none) is written as 1, see
            // `clears_are_explicit_in_every_profile`.
            (option::of(1u16..30), option::of(1u16..30), option::of(0u16..60)),
            (option::of(any::<bool>()), option::of(any::<bool>()), option::of(any::<bool>())),
        )
            .prop_map(|((available, rate, occ), (min_stay, min_stay_through, max_stay), (cta, ctd, stop))| AriValues {
                available,
                rate,
                occupancy_rates: occ.into_iter().collect(),
                min_stay,
                min_stay_through,
                max_stay,
                closed_to_arrival: cta,
                closed_to_departure: ctd,
                stop_sell: stop,
            })
    }

    /// Ranges with distinct (room, rate, start, end) keys.
    pub fn ranges() -> impl Strategy<Value = Vec<AriRange>> {
        vec((prop_oneof![Just("DLX".to_owned()), Just("STD".to_owned()), code()], option::of(code()), 0i64..700, 0i64..40, values()), 0..12)
            .prop_map(|items| {
                let mut seen = std::collections::HashSet::new();
                items
                    .into_iter()
                    .map(|(room, rate, start, len, values)| AriRange {
                        ota_room: room,
                        ota_rate: rate,
                        start: day(start),
                        end: day(start + len),
                        values,
                    })
                    .filter(|r| seen.insert((r.ota_room.clone(), r.ota_rate.clone(), r.start, r.end)))
                    .collect()
            })
    }

    /// Room-level availability, non-overlapping per room.
    pub fn free_ranges() -> impl Strategy<Value = Vec<AriRange>> {
        vec((code(), vec((0i64..5, 0i64..20, option::of(0u32..50), option::of(any::<bool>())), 1..6)), 0..5).prop_map(|rooms| {
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for (room, periods) in rooms {
                if !seen.insert(room.clone()) {
                    continue;
                }
                let mut at = 0;
                for (gap, len, available, stop_sell) in periods {
                    let start = at + gap;
                    out.push(AriRange {
                        ota_room: room.clone(),
                        ota_rate: None,
                        start: day(start),
                        end: day(start + len),
                        values: AriValues { available, stop_sell, ..Default::default() },
                    });
                    at = start + len + 1;
                }
            }
            out
        })
    }

    fn name() -> impl Strategy<Value = String> {
        vec("[A-Z][a-z'&]{0,8}", 1..4).prop_map(|w| w.join(" "))
    }

    fn room() -> impl Strategy<Value = BookedRoom> {
        (code(), option::of(code()), 0i64..700, 1i64..12, 0u8..5, btree_set(0i64..12, 0..12), amount(), option::of(amount())).prop_map(
            |(room, rate, start, nights, adults, priced, price, total)| {
                let nightly = priced.into_iter().filter(|n| *n < nights).map(|n| (day(start + n), price + Decimal::from(n))).collect();
                BookedRoom { ota_room: room, ota_rate: rate, check_in: day(start), check_out: day(start + nights), adults, nightly, total }
            },
        )
    }

    pub fn booking() -> impl Strategy<Value = InboundBooking> {
        (
            prop_oneof![Just(BookingAction::New), Just(BookingAction::Modify), Just(BookingAction::Cancel)],
            prop_oneof![Just(String::new()), code()],
            "[A-Za-z0-9]{1,20}",
            0i64..100_000_000,
            vec(room(), 0..4),
            option::of(name()),
            option::of(Just("IDR".to_owned())),
            option::of(amount()),
        )
            .prop_map(|(action, hotel, id, secs, rooms, guest, currency, total)| InboundBooking {
                action,
                hotel_code: hotel,
                ota_reservation_id: id,
                revision: saluran_channels::xml::fmt_timestamp(
                    jiff::Timestamp::from_second(1_700_000_000 + secs).expect("timestamp in range"),
                ),
                rooms,
                guest_name: guest,
                currency,
                total,
            })
    }

    /// Values drawn deterministically from a strategy (for batch schema validation).
    pub fn draw<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>, n: usize) -> Vec<T> {
        let mut runner = TestRunner::deterministic();
        (0..n).map(|_| strategy.new_tree(&mut runner).expect("generate").current()).collect()
    }

    /// What OpenTravel carries of a booking (cancellations: ids and revision only; the
    /// total is the sum of room totals when not stated).
    pub fn via_opentravel(b: &InboundBooking) -> InboundBooking {
        let mut e = expected_opentravel(b);
        if e.total.is_none() && !e.rooms.is_empty() && e.rooms.iter().all(|r| r.total.is_some()) {
            e.total = Some(e.rooms.iter().filter_map(|r| r.total).sum());
        }
        // The currency travels with amounts only.
        let any_amount = e.total.is_some() || e.rooms.iter().any(|r| r.total.is_some() || !r.nightly.is_empty());
        if !any_amount {
            e.currency = None;
        }
        e
    }

    proptest! {
        // 64 cases by default (each case runs the XML writer and reader); PROPTEST_CASES overrides.
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
            ..ProptestConfig::default()
        })]

        #[test]
        fn opentravel_ari(ranges in ranges()) {
            let avail = opentravel::parse_avail_notif(opentravel::avail_notif_rq("H1", &ranges, "e", ts()).as_bytes(), &limits()).unwrap();
            let expected: Vec<AriRange> = ranges.iter().filter(|r| r.values.has_availability_part()).map(avail_part).collect();
            prop_assert_eq!(avail.ranges, expected);
            let rates = opentravel::parse_rate_amount_notif(opentravel::rate_amount_notif_rq("H1", &ranges, "IDR", "e", ts()).as_bytes(), &limits()).unwrap();
            let expected: Vec<AriRange> = ranges.iter().filter(|r| r.values.has_rate_part()).map(rate_part).collect();
            prop_assert_eq!(rates.ranges, expected);
        }

        #[test]
        fn opentravel_booking(b in booking()) {
            let parsed = opentravel::parse_booking(opentravel::res_notif_rq(&b, "e", ts()).as_bytes(), &limits()).unwrap();
            prop_assert_eq!(parsed, via_opentravel(&b));
        }

        #[test]
        fn alpinebits_freerooms(ranges in free_ranges(), complete in any::<bool>()) {
            match alpinebits::freerooms_rq("H1", &ranges, complete) {
                None => prop_assert!(!complete && ranges.iter().all(|r| r.values.available.is_none() && r.values.stop_sell != Some(true))),
                Some(body) => {
                    let fr = alpinebits::parse_freerooms(body.as_bytes(), &limits()).unwrap();
                    prop_assert_eq!(fr.complete_set, complete);
                    let expected: Vec<(String, Date, Date, Option<u32>)> = ranges
                        .iter()
                        .filter_map(|r| {
                            let n = if r.values.stop_sell == Some(true) { Some(0) } else { r.values.available };
                            n.map(|n| (r.ota_room.clone(), r.start, r.end, Some(n)))
                        })
                        .collect();
                    let got: Vec<(String, Date, Date, Option<u32>)> = fr.ranges.iter().map(|r| (r.ota_room.clone(), r.start, r.end, r.values.available)).collect();
                    prop_assert_eq!(got, expected);
                }
            }
        }

        #[test]
        fn alpinebits_guest_requests(bookings in vec(booking(), 0..4)) {
            let rr = alpinebits::parse_res_retrieve_rs(alpinebits::res_retrieve_rs(&bookings).as_bytes(), &limits()).unwrap();
            prop_assert!(rr.invalid.is_empty(), "{:?}", rr.invalid);
            let expected: Vec<InboundBooking> = bookings.iter().map(expected_alpinebits).collect();
            prop_assert_eq!(rr.bookings, expected);
        }

        #[test]
        fn jsonrest_ari(ranges in ranges()) {
            let ranges: Vec<AriRange> = ranges.into_iter().filter(|r| !r.values.is_empty()).collect();
            let body = serde_json::to_vec(&jsonrest::ari_batch("P1", &ranges)).unwrap();
            prop_assert_eq!(jsonrest::parse_ari_batch(&body, &limits()).unwrap().ranges, ranges);
        }

        #[test]
        fn jsonrest_feed(bookings in vec(booking(), 0..4)) {
            let body = serde_json::to_vec(&jsonrest::revisions_feed(&bookings)).unwrap();
            let feed = jsonrest::parse_revisions_feed(&body, &limits()).unwrap();
            prop_assert!(feed.invalid.is_empty());
            prop_assert_eq!(feed.revisions, bookings);
        }
    }
}

#[test]
fn generated_opentravel_messages_validate() {
    let mut docs: Vec<(String, String)> = Vec::new();
    for (i, ranges) in generated::draw(generated::ranges(), 20).into_iter().enumerate() {
        docs.push((format!("avail{i}"), opentravel::avail_notif_rq("H1", &ranges, "e", ts())));
        docs.push((format!("rate{i}"), opentravel::rate_amount_notif_rq("H1", &ranges, "IDR", "e", ts())));
    }
    for (i, b) in generated::draw(generated::booking(), 30).into_iter().enumerate() {
        docs.push((format!("booking{i}"), opentravel::res_notif_rq(&b, "e", ts())));
        docs.push((format!("ack{i}"), opentravel::booking_ack_rs(b.action, Some("e"), &b.ota_reservation_id, &b.revision, ts())));
    }
    validate(&docs, false);
}

#[test]
fn generated_alpinebits_messages_validate() {
    let mut docs: Vec<(String, String)> = Vec::new();
    for (i, ranges) in generated::draw(generated::free_ranges(), 20).into_iter().enumerate() {
        if let Some(body) = alpinebits::freerooms_rq("H1", &ranges, i % 2 == 0) {
            docs.push((format!("freerooms{i}"), body));
        }
    }
    for (i, bookings) in generated::draw(proptest::collection::vec(generated::booking(), 0..4), 20).into_iter().enumerate() {
        docs.push((format!("retrieve{i}"), alpinebits::res_retrieve_rs(&bookings)));
        let acks: Vec<alpinebits::NotifAck> = bookings.iter().map(alpinebits::NotifAck::for_booking).collect();
        docs.push((format!("report{i}"), alpinebits::notif_report_rq(&acks)));
    }
    validate(&docs, true);
}
