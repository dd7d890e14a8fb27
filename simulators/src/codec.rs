//! Adapter over the codecs of `saluran-channels`: every OTA message the simulator
//! reads or writes goes through them; this module only converts between their
//! wire-neutral types and the simulator's own.

use axum::http::HeaderMap;
use jiff::Timestamp;
use saluran_channels::alpinebits::{self as ab, Handshake, HandshakeAction, HandshakeVersion};
use saluran_channels::model::{AriRange, BookedRoom, BookingAction, InboundBooking};
use saluran_channels::{jsonrest as jr, opentravel as ot, signature, CodecError, Limits};

use crate::bookings::{revision_id, revision_stamp, Action, Revision};
use crate::view::{AriUpdate, Stamp};

pub(crate) struct AriMessage {
    pub hotel: String,
    pub updates: Vec<AriUpdate>,
    /// What the OTA's per-message limit counts: `AvailStatusMessage` /
    /// `RateAmountMessage` elements (OpenTravel, up to four per range), else ranges.
    pub elements: usize,
    pub stamp: Stamp,
    pub complete_set: bool,
}

pub(crate) struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub echo: Option<String>,
}

/// One entry of an AlpineBits `OTA_NotifReportRQ`.
pub(crate) struct NotifAck {
    pub reservation_id: String,
    /// AlpineBits has no element for the hub's own id: always `None` there.
    pub confirmation_id: Option<String>,
    /// The hub refused the entry (a `Warning`): delivered, but not taken.
    pub refused: Option<String>,
}

pub(crate) const AB_VERSION: &str = ab::PROTOCOL_VERSION;
pub(crate) const AB_PING: &str = ab::ACTION_PING;
pub(crate) const AB_FREEROOMS: &str = ab::ACTION_FREEROOMS;
pub(crate) const AB_READ: &str = ab::ACTION_READ_GUEST_REQUESTS;
pub(crate) const AB_NOTIF_REPORT: &str = ab::ACTION_NOTIF_REPORT_GUEST_REQUESTS;

impl From<CodecError> for Refusal {
    fn from(e: CodecError) -> Self {
        Refusal { status: e.http_status(), code: e.code().to_string(), message: e.to_string(), echo: None }
    }
}

fn invalid(code: &str, message: impl Into<String>) -> Refusal {
    Refusal { status: 400, code: code.to_string(), message: message.into(), echo: None }
}

/// A hub timestamp (xs:dateTime): with an offset, or without one (taken as UTC).
fn parse_timestamp(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>()
        .ok()
        .or_else(|| s.parse::<jiff::civil::DateTime>().ok().and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok()).map(|z| z.timestamp()))
}

fn stamp(timestamp: Option<&str>, echo: Option<String>) -> Result<Stamp, Refusal> {
    let timestamp = match timestamp {
        None => None,
        Some(t) => Some(parse_timestamp(t).ok_or_else(|| Refusal {
            echo: echo.clone(),
            ..invalid(
                "invalid_value",
                format!("invalid value for TimeStamp: {:?} is not an xs:dateTime", t.chars().take(40).collect::<String>()),
            )
        })?),
    };
    Ok(Stamp { timestamp, echo })
}

fn update(r: AriRange) -> AriUpdate {
    AriUpdate {
        room: r.ota_room,
        rate: r.ota_rate,
        start: r.start,
        end: r.end,
        available: r.values.available,
        rate_amount: r.values.rate,
        occupancy_rates: r.values.occupancy_rates,
        min_stay: r.values.min_stay,
        min_stay_through: r.values.min_stay_through,
        max_stay: r.values.max_stay,
        cta: r.values.closed_to_arrival,
        ctd: r.values.closed_to_departure,
        stop_sell: r.values.stop_sell,
    }
}

fn action(a: Action) -> BookingAction {
    match a {
        Action::New => BookingAction::New,
        Action::Modify => BookingAction::Modify,
        Action::Cancel => BookingAction::Cancel,
    }
}

/// One revision as the codecs describe a booking.
pub(crate) fn inbound(hotel: &str, booking: &str, rev: &Revision) -> InboundBooking {
    let s = &rev.snapshot;
    InboundBooking {
        action: action(rev.action),
        hotel_code: hotel.to_string(),
        ota_reservation_id: booking.to_string(),
        revision: revision_stamp(rev.created_at),
        rooms: vec![BookedRoom {
            ota_room: s.room.clone(),
            ota_rate: Some(s.rate.clone()),
            check_in: s.check_in,
            check_out: s.check_out,
            adults: s.adults,
            nightly: s.nightly.clone(),
            total: Some(s.total),
        }],
        guest_name: Some(s.guest_name.clone()),
        currency: Some(s.currency.clone()),
        total: Some(s.total),
    }
}

fn ot_message(n: ot::AriNotif) -> Result<AriMessage, Refusal> {
    let stamp = stamp(n.timestamp.as_deref(), n.echo_token)?;
    let elements = n.messages;
    Ok(AriMessage { hotel: n.hotel_code, updates: n.ranges.into_iter().map(update).collect(), elements, stamp, complete_set: false })
}

/// `OTA_HotelAvailNotifRQ`.
pub(crate) fn ot_avail(body: &[u8], limits: &Limits) -> Result<AriMessage, Refusal> {
    ot_message(ot::parse_avail_notif(body, limits)?)
}
/// `OTA_HotelRateAmountNotifRQ`.
pub(crate) fn ot_rate(body: &[u8], limits: &Limits) -> Result<AriMessage, Refusal> {
    ot_message(ot::parse_rate_amount_notif(body, limits)?)
}
pub(crate) fn ot_success(root: &str, echo: Option<&str>) -> String {
    ot::notif_success_rs(root, echo)
}
pub(crate) fn ot_error(root: &str, echo: Option<&str>, code: &str, message: &str) -> String {
    ot::notif_error_rs(root, echo, code, message)
}
/// `OTA_HotelResNotifRQ` / `OTA_HotelResModifyNotifRQ` / `OTA_CancelRQ` for one
/// revision. Echo token = revision id, timestamp = revision time: a redelivery is
/// byte-for-byte the same message.
pub(crate) fn ot_booking_message(hotel: &str, booking: &str, rev: &Revision) -> String {
    ot::res_notif_rq(&inbound(hotel, booking, rev), &revision_id(booking, rev.number), rev.created_at)
}
/// Checks the hub's answer to a booking push: the RS matching the action, `Success`,
/// our reservation id, and the hub's confirmation id (returned).
pub(crate) fn ot_parse_ack(body: &[u8], booking: &str, sent: Action, limits: &Limits) -> Result<String, String> {
    let ack = ot::parse_booking_ack_rs(body, limits).map_err(|e| format!("{}: {e}", e.code()))?;
    if !ack.errors.is_empty() {
        return Err(format!("hub answered with errors: {}", ack.errors.join("; ")));
    }
    if ack.action != action(sent) {
        return Err(format!("answer is for a {} message, a {} was sent", ack.action.as_str(), sent.as_str()));
    }
    match ack.ota_reservation_id.as_deref() {
        Some(id) if id == booking => {}
        other => return Err(format!("answer names reservation {other:?}, not {booking:?}")),
    }
    match ack.our_confirmation_id {
        Some(c) if !c.is_empty() => Ok(c),
        _ => Err("answer carries no confirmation id".to_string()),
    }
}
/// What the simulated AlpineBits server supports.
fn server_handshake() -> Handshake {
    use ab::capability as c;
    let action = |a: &str, s: &[&str]| HandshakeAction { action: a.to_string(), supports: s.iter().map(|x| x.to_string()).collect() };
    Handshake {
        versions: vec![HandshakeVersion {
            version: ab::PROTOCOL_VERSION.to_string(),
            actions: vec![
                action(c::PING, &[]),
                action(c::FREEROOMS, &[c::FREEROOMS_CATEGORIES, c::FREEROOMS_ROOMS, c::FREEROOMS_DELTAS, c::FREEROOMS_CLOSING_SEASONS]),
                action(c::GUEST_REQUESTS_READ, &[]),
            ],
        }],
    }
}

/// `OTA_PingRQ` → `OTA_PingRS`: echoes the client's handshake and states the
/// intersection of its capabilities with the server's.
pub(crate) fn ab_ping_rs(body: &[u8], limits: &Limits) -> Result<String, Refusal> {
    let echo = ab::parse_ping_rq(body, limits)?;
    let client = Handshake::parse(&echo)?;
    let server = server_handshake();
    let mut both = Handshake::default();
    for sv in &server.versions {
        let Some(cv) = client.versions.iter().find(|v| v.version == sv.version) else { continue };
        let actions: Vec<HandshakeAction> = sv
            .actions
            .iter()
            .filter_map(|sa| {
                let ca = cv.actions.iter().find(|a| a.action == sa.action)?;
                let supports = sa.supports.iter().filter(|s| ca.supports.contains(s)).cloned().collect();
                Some(HandshakeAction { action: sa.action.clone(), supports })
            })
            .collect();
        both.versions.push(HandshakeVersion { version: sv.version.clone(), actions });
    }
    // No common version: still a successful ping, with an empty intersection.
    Ok(ab::ping_rs(&echo, &both.to_json()))
}
/// `OTA_HotelInvCountNotifRQ` (FreeRooms). Closing seasons (whole hotel closed) are
/// shown as room `"*"` with no bookable room.
pub(crate) fn ab_freerooms(body: &[u8], limits: &Limits) -> Result<AriMessage, Refusal> {
    let f = ab::parse_freerooms(body, limits)?;
    let mut updates: Vec<AriUpdate> = f
        .closing_seasons
        .iter()
        .map(|(start, end)| AriUpdate { room: "*".into(), start: *start, end: *end, available: Some(0), ..AriUpdate::default() })
        .collect();
    updates.extend(f.ranges.into_iter().map(update));
    // FreeRooms carries no TimeStamp: the order of arrival is the only clock.
    let elements = updates.len();
    Ok(AriMessage { hotel: f.hotel_code, updates, elements, stamp: Stamp::default(), complete_set: f.complete_set })
}
pub(crate) fn ab_freerooms_success() -> String {
    ab::freerooms_rs_success()
}
pub(crate) fn ab_freerooms_error(code: &str, message: &str) -> String {
    ab::freerooms_rs_error(code, message)
}
/// `OTA_ReadRQ`: the hotel code asked for (`None` when only a name is given).
pub(crate) fn ab_read_rq(body: &[u8], limits: &Limits) -> Result<Option<String>, Refusal> {
    Ok(ab::parse_read_rq(body, limits)?.hotel_code)
}
pub(crate) fn ab_res_retrieve_rs(hotel: &str, revisions: &[(String, Revision)]) -> String {
    let bookings: Vec<InboundBooking> = revisions.iter().map(|(id, rev)| inbound(hotel, id, rev)).collect();
    ab::res_retrieve_rs(&bookings)
}
pub(crate) fn ab_res_retrieve_error(code: &str, message: &str) -> String {
    ab::res_retrieve_rs_error(code, message)
}
pub(crate) fn ab_notif_report(body: &[u8], limits: &Limits) -> Result<Vec<NotifAck>, Refusal> {
    Ok(ab::parse_notif_report_rq(body, limits)?
        .into_iter()
        .map(|a| NotifAck { reservation_id: a.ota_id, confirmation_id: None, refused: a.refused })
        .collect())
}
pub(crate) fn ab_notif_report_rs() -> String {
    ab::notif_report_rs_success()
}
/// Header a hub may use to stamp an ARI message that carries no timestamp of its own
/// (AlpineBits FreeRooms, a jsonrest batch without `"timestamp"`): RFC 3339 or Unix
/// seconds. A timestamp in the message itself wins.
pub(crate) const TIMESTAMP_HEADER: &str = "x-saluran-timestamp";

/// Fills in the message's timestamp from [`TIMESTAMP_HEADER`] when it has none.
pub(crate) fn stamp_from_header(msg: &mut AriMessage, headers: &HeaderMap) -> Result<(), Refusal> {
    if msg.stamp.timestamp.is_some() {
        return Ok(());
    }
    let Some(h) = headers.get(TIMESTAMP_HEADER) else { return Ok(()) };
    let bad =
        || Refusal { echo: msg.stamp.echo.clone(), ..invalid("invalid_value", "X-Saluran-Timestamp is not RFC 3339 nor Unix seconds") };
    let h = h.to_str().map_err(|_| bad())?.trim();
    let ts = if !h.is_empty() && h.bytes().all(|b| b.is_ascii_digit()) {
        h.parse::<i64>().ok().and_then(|secs| Timestamp::from_second(secs).ok())
    } else {
        parse_timestamp(h)
    };
    msg.stamp.timestamp = Some(ts.ok_or_else(bad)?);
    Ok(())
}

/// `POST /api/ari`.
pub(crate) fn jr_ari(body: &[u8], limits: &Limits) -> Result<AriMessage, Refusal> {
    let batch = jr::parse_ari_batch(body, limits)?;
    let stamp = stamp(batch.timestamp.as_deref(), None)?;
    let elements = batch.ranges.len();
    Ok(AriMessage {
        hotel: batch.property_id,
        updates: batch.ranges.into_iter().map(update).collect(),
        elements,
        stamp,
        complete_set: false,
    })
}

/// The booking-revisions feed; each entry's `id` is the revision id (`SIM-1-r0001`).
pub(crate) fn jr_feed(hotel: &str, revisions: &[(String, Revision)]) -> serde_json::Value {
    let bookings: Vec<InboundBooking> =
        revisions.iter().map(|(id, rev)| InboundBooking { revision: revision_id(id, rev.number), ..inbound(hotel, id, rev) }).collect();
    jr::revisions_feed(&bookings)
}
/// The signed notify sent to the hub's webhook: (body, timestamp header, signature header).
pub(crate) fn jr_notify(hotel: &str, booking: &str, revision: &str, secret: &str, now: i64) -> (String, [(&'static str, String); 2]) {
    let body = jr::notify(hotel, Some(revision), Some(booking)).to_string();
    let sig = signature::sign(secret.as_bytes(), now, body.as_bytes());
    (body, [(signature::TIMESTAMP_HEADER, now.to_string()), (signature::SIGNATURE_HEADER, sig)])
}
