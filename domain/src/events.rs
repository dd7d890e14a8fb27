//! Domain events: one enum, serde-tagged, whose kinds and payload fields are
//! the wire format (stored `events` rows, the events API, WebSocket clients
//! and the pages in `web/` read them), and an exhaustive routing of every
//! kind to its real-time topics.
//!
//! An event is encoded once (`DomainEvent::encode`) into an `EncodedEvent`
//! (kind + JSON payload): that is what the store persists and the publisher
//! fans out, so the commit path never serializes an event twice.

use crate::calendar::StopSellSource;
use crate::codes::{ChannelCode, RatePlanCode, RoomNumber, RoomTypeCode};
use crate::dates::DateRange;
use crate::housekeeping::{HousekeepingTask, TaskStatus};
use crate::property::RoomStatus;
use crate::reservation::Reservation;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every kind of domain event. Fieldless so that routing and metrics can
/// match on it without a payload; `DomainEvent::kind` maps each event to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "booking.created")]
    BookingCreated,
    #[serde(rename = "booking.modified")]
    BookingModified,
    #[serde(rename = "booking.cancelled")]
    BookingCancelled,
    #[serde(rename = "booking.no_show")]
    BookingNoShow,
    #[serde(rename = "booking.checked_in")]
    BookingCheckedIn,
    #[serde(rename = "booking.checked_out")]
    BookingCheckedOut,
    #[serde(rename = "booking.outside_horizon")]
    BookingOutsideHorizon,
    #[serde(rename = "overbooking")]
    Overbooking,
    #[serde(rename = "alert.unmapped_booking")]
    UnmappedBooking,
    #[serde(rename = "ari.changed")]
    AriChanged,
    #[serde(rename = "stop_sell.lifted")]
    StopSellLifted,
    #[serde(rename = "room.status")]
    RoomStatus,
    #[serde(rename = "task.updated")]
    TaskUpdated,
    #[serde(rename = "night_audit.completed")]
    NightAuditCompleted,
}

/// A real-time topic of one property (DESIGN §6); the binary names the hub
/// channel of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Inventory,
    Bookings,
    Rooms,
    /// The housekeeping presence channel.
    Housekeeping,
}

impl EventKind {
    pub const ALL: [EventKind; 14] = [
        EventKind::BookingCreated,
        EventKind::BookingModified,
        EventKind::BookingCancelled,
        EventKind::BookingNoShow,
        EventKind::BookingCheckedIn,
        EventKind::BookingCheckedOut,
        EventKind::BookingOutsideHorizon,
        EventKind::Overbooking,
        EventKind::UnmappedBooking,
        EventKind::AriChanged,
        EventKind::StopSellLifted,
        EventKind::RoomStatus,
        EventKind::TaskUpdated,
        EventKind::NightAuditCompleted,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::BookingCreated => "booking.created",
            EventKind::BookingModified => "booking.modified",
            EventKind::BookingCancelled => "booking.cancelled",
            EventKind::BookingNoShow => "booking.no_show",
            EventKind::BookingCheckedIn => "booking.checked_in",
            EventKind::BookingCheckedOut => "booking.checked_out",
            EventKind::BookingOutsideHorizon => "booking.outside_horizon",
            EventKind::Overbooking => "overbooking",
            EventKind::UnmappedBooking => "alert.unmapped_booking",
            EventKind::AriChanged => "ari.changed",
            EventKind::StopSellLifted => "stop_sell.lifted",
            EventKind::RoomStatus => "room.status",
            EventKind::TaskUpdated => "task.updated",
            EventKind::NightAuditCompleted => "night_audit.completed",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The real-time topics an event of this kind goes to. Exhaustive on
    /// purpose: a new kind does not compile until it is routed.
    pub fn topics(&self) -> &'static [Topic] {
        use Topic::*;
        match self {
            EventKind::AriChanged | EventKind::StopSellLifted => &[Inventory],
            // A no-show gives nights back, so inventory watchers hear of it too.
            EventKind::BookingCreated | EventKind::BookingModified | EventKind::BookingCancelled | EventKind::BookingNoShow => {
                &[Bookings, Inventory]
            }
            // Check-in and check-out change no inventory.
            EventKind::BookingCheckedIn | EventKind::BookingCheckedOut => &[Bookings],
            EventKind::Overbooking | EventKind::UnmappedBooking | EventKind::BookingOutsideHorizon => &[Bookings],
            EventKind::RoomStatus | EventKind::TaskUpdated => &[Rooms, Housekeeping],
            EventKind::NightAuditCompleted => &[Rooms],
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One domain event. Adjacently tagged: `{"kind": …, "payload": {…}}`, the
/// payload being exactly the JSON clients see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum DomainEvent {
    #[serde(rename = "booking.created")]
    BookingCreated(BookingCreated),
    #[serde(rename = "booking.modified")]
    BookingModified(BookingModified),
    #[serde(rename = "booking.cancelled")]
    BookingCancelled(BookingRef),
    #[serde(rename = "booking.no_show")]
    BookingNoShow(BookingNoShow),
    #[serde(rename = "booking.checked_in")]
    BookingCheckedIn(BookingStay),
    #[serde(rename = "booking.checked_out")]
    BookingCheckedOut(BookingStay),
    #[serde(rename = "booking.outside_horizon")]
    BookingOutsideHorizon(BookingOutsideHorizon),
    #[serde(rename = "overbooking")]
    Overbooking(Overbooking),
    #[serde(rename = "alert.unmapped_booking")]
    UnmappedBooking(UnmappedBooking),
    #[serde(rename = "ari.changed")]
    AriChanged(AriChanged),
    #[serde(rename = "stop_sell.lifted")]
    StopSellLifted(StopSellLifted),
    #[serde(rename = "room.status")]
    RoomStatus(RoomStatusChanged),
    #[serde(rename = "task.updated")]
    TaskUpdated(TaskUpdated),
    #[serde(rename = "night_audit.completed")]
    NightAuditCompleted(NightAuditCompleted),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingCreated {
    /// Its fields sit among the others on the wire: payloads are JSON
    /// objects with sorted keys (`DomainEvent::payload`).
    #[serde(flatten)]
    pub booking: BookingRef,
    pub rate_plan: RatePlanCode,
    pub overbooked: bool,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingModified {
    /// Its fields sit among the others on the wire: payloads are JSON
    /// objects with sorted keys (`DomainEvent::payload`).
    #[serde(flatten)]
    pub booking: BookingRef,
    pub overbooked: bool,
    /// The booking was cancelled or a no-show and is confirmed again.
    pub reinstated: bool,
}

/// A booking by its id, room type, dates and source (a cancellation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingRef {
    pub reservation: String,
    pub room_type: RoomTypeCode,
    pub check_in: Date,
    pub check_out: Date,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingNoShow {
    /// Its fields sit among the others on the wire: payloads are JSON
    /// objects with sorted keys (`DomainEvent::payload`).
    #[serde(flatten)]
    pub booking: BookingRef,
    pub external_id: Option<String>,
    pub business_date: Date,
    pub released_from: Date,
    pub nights_released: usize,
}

/// Front desk: check-in or check-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingStay {
    /// Its fields sit among the others on the wire: payloads are JSON
    /// objects with sorted keys (`DomainEvent::payload`).
    #[serde(flatten)]
    pub booking: BookingRef,
    pub room: Option<RoomNumber>,
    pub checked_in_at: Option<jiff::Timestamp>,
    pub checked_out_at: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingOutsideHorizon {
    /// Its fields sit among the others on the wire: payloads are JSON
    /// objects with sorted keys (`DomainEvent::payload`).
    #[serde(flatten)]
    pub booking: BookingRef,
    pub external_id: Option<String>,
    pub nights: i64,
    pub nights_held: usize,
    pub nights_outside: i64,
    pub calendar_nights: Option<DateRange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overbooking {
    pub reservation: String,
    pub room_type: RoomTypeCode,
    pub check_in: Date,
    pub check_out: Date,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmappedBooking {
    pub channel: ChannelCode,
    pub ota_reservation_id: String,
    pub ota_room: String,
    pub ota_rate: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AriChanged {
    pub room_type: RoomTypeCode,
    pub from: Date,
    pub to: Date,
    #[serde(flatten)]
    pub cause: AriCause,
}

/// Why cells changed: an ARI update (how many cells), or a room put out of
/// order or back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AriCause {
    Update { cells: usize },
    OutOfOrder { reason: OutOfOrderReason, room: RoomNumber },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutOfOrderReason {
    OutOfOrder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopSellLifted {
    pub room_type: RoomTypeCode,
    pub dates: Vec<LiftedDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiftedDate {
    pub date: Date,
    pub source: StopSellSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomStatusChanged {
    pub room: RoomNumber,
    pub room_type: RoomTypeCode,
    pub from: RoomStatus,
    pub status: RoomStatus,
    pub out_of_order: Option<FromTo>,
}

/// A date range as `{"from", "to"}` (a `DateRange` itself serializes as
/// `{"start", "end"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromTo {
    pub from: Date,
    pub to: Date,
}

impl From<DateRange> for FromTo {
    fn from(r: DateRange) -> Self {
        FromTo { from: r.start(), to: r.end() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskUpdated {
    pub id: String,
    pub room: RoomNumber,
    pub kind: String,
    pub status: TaskStatus,
    pub assignee: Option<String>,
    pub note: Option<String>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

impl From<&HousekeepingTask> for TaskUpdated {
    fn from(t: &HousekeepingTask) -> Self {
        TaskUpdated {
            id: t.id.clone(),
            room: t.room.clone(),
            kind: t.kind.clone(),
            status: t.status,
            assignee: t.assignee.clone(),
            note: t.note.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NightAuditCompleted {
    pub business_date: Date,
    pub previous: Option<Date>,
    pub rooms_dirtied: Vec<RoomNumber>,
    pub no_shows: Vec<String>,
    pub marks_no_shows: bool,
}

impl BookingRef {
    pub fn of(r: &Reservation) -> Self {
        BookingRef {
            reservation: r.id.clone(),
            room_type: r.room_type.clone(),
            check_in: r.check_in,
            check_out: r.check_out,
            source: r.source.clone(),
        }
    }
}

impl BookingStay {
    pub fn of(r: &Reservation) -> Self {
        BookingStay { booking: BookingRef::of(r), room: r.room.clone(), checked_in_at: r.checked_in_at, checked_out_at: r.checked_out_at }
    }
}

impl Overbooking {
    pub fn of(r: &Reservation) -> Self {
        Overbooking { reservation: r.id.clone(), room_type: r.room_type.clone(), check_in: r.check_in, check_out: r.check_out }
    }
}

impl DomainEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            DomainEvent::BookingCreated(_) => EventKind::BookingCreated,
            DomainEvent::BookingModified(_) => EventKind::BookingModified,
            DomainEvent::BookingCancelled(_) => EventKind::BookingCancelled,
            DomainEvent::BookingNoShow(_) => EventKind::BookingNoShow,
            DomainEvent::BookingCheckedIn(_) => EventKind::BookingCheckedIn,
            DomainEvent::BookingCheckedOut(_) => EventKind::BookingCheckedOut,
            DomainEvent::BookingOutsideHorizon(_) => EventKind::BookingOutsideHorizon,
            DomainEvent::Overbooking(_) => EventKind::Overbooking,
            DomainEvent::UnmappedBooking(_) => EventKind::UnmappedBooking,
            DomainEvent::AriChanged(_) => EventKind::AriChanged,
            DomainEvent::StopSellLifted(_) => EventKind::StopSellLifted,
            DomainEvent::RoomStatus(_) => EventKind::RoomStatus,
            DomainEvent::TaskUpdated(_) => EventKind::TaskUpdated,
            DomainEvent::NightAuditCompleted(_) => EventKind::NightAuditCompleted,
        }
    }

    /// The payload as clients see it.
    pub fn payload(&self) -> Value {
        fn value<T: Serialize>(t: &T) -> Value {
            // Every payload is a struct of plain fields (strings, numbers,
            // dates, decimals as strings): serializing cannot fail; `Null`
            // is never produced in practice but keeps this total.
            serde_json::to_value(t).unwrap_or(Value::Null)
        }
        match self {
            DomainEvent::BookingCreated(p) => value(p),
            DomainEvent::BookingModified(p) => value(p),
            DomainEvent::BookingCancelled(p) => value(p),
            DomainEvent::BookingNoShow(p) => value(p),
            DomainEvent::BookingCheckedIn(p) | DomainEvent::BookingCheckedOut(p) => value(p),
            DomainEvent::BookingOutsideHorizon(p) => value(p),
            DomainEvent::Overbooking(p) => value(p),
            DomainEvent::UnmappedBooking(p) => value(p),
            DomainEvent::AriChanged(p) => value(p),
            DomainEvent::StopSellLifted(p) => value(p),
            DomainEvent::RoomStatus(p) => value(p),
            DomainEvent::TaskUpdated(p) => value(p),
            DomainEvent::NightAuditCompleted(p) => value(p),
        }
    }

    /// Encodes the event once, for the store and the publisher.
    pub fn encode(&self) -> EncodedEvent {
        EncodedEvent { kind: self.kind(), payload: self.payload() }
    }
}

/// A domain event encoded for the wire: its kind and JSON payload. What a
/// commit stores and what the publisher sends, built once per event.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    pub kind: EventKind,
    pub payload: Value,
}

impl From<DomainEvent> for EncodedEvent {
    fn from(e: DomainEvent) -> Self {
        e.encode()
    }
}

impl From<&DomainEvent> for EncodedEvent {
    fn from(e: &DomainEvent) -> Self {
        e.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt() -> RoomTypeCode {
        RoomTypeCode::parse("STD").unwrap()
    }

    #[test]
    fn kinds_round_trip_and_match_the_enum_tags() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
            assert!(!k.topics().is_empty(), "{k} goes nowhere");
        }
        assert_eq!(EventKind::parse("channel.x"), None);
    }

    #[test]
    fn payloads_are_the_wire_format() {
        let d = jiff::civil::date(2027, 3, 10);
        let e = DomainEvent::BookingCreated(BookingCreated {
            booking: BookingRef {
                reservation: "R1".into(),
                room_type: rt(),
                check_in: d,
                check_out: jiff::civil::date(2027, 3, 12),
                source: "direct".into(),
            },
            rate_plan: RatePlanCode::parse("BAR").unwrap(),
            overbooked: false,
            total: Decimal::new(15050, 2),
        });
        assert_eq!(e.kind().as_str(), "booking.created");
        assert_eq!(
            e.payload(),
            json!({"reservation": "R1", "room_type": "STD", "rate_plan": "BAR", "check_in": "2027-03-10",
                   "check_out": "2027-03-12", "source": "direct", "overbooked": false, "total": "150.50"})
        );
        let ari = DomainEvent::AriChanged(AriChanged { room_type: rt(), from: d, to: d, cause: AriCause::Update { cells: 3 } });
        assert_eq!(ari.payload(), json!({"room_type": "STD", "from": "2027-03-10", "to": "2027-03-10", "cells": 3}));
        let ooo = DomainEvent::AriChanged(AriChanged {
            room_type: rt(),
            from: d,
            to: d,
            cause: AriCause::OutOfOrder { reason: OutOfOrderReason::OutOfOrder, room: RoomNumber::parse("101").unwrap() },
        });
        assert_eq!(
            ooo.payload(),
            json!({"room_type": "STD", "from": "2027-03-10", "to": "2027-03-10", "reason": "out_of_order", "room": "101"})
        );
        let lifted = DomainEvent::StopSellLifted(StopSellLifted {
            room_type: rt(),
            dates: vec![LiftedDate { date: d, source: StopSellSource::AutoThreshold }],
        });
        assert_eq!(lifted.payload(), json!({"room_type": "STD", "dates": [{"date": "2027-03-10", "source": "auto_threshold"}]}));
        let audit = DomainEvent::NightAuditCompleted(NightAuditCompleted {
            business_date: d,
            previous: None,
            rooms_dirtied: vec![],
            no_shows: vec!["R1".into()],
            marks_no_shows: true,
        });
        assert_eq!(
            audit.payload(),
            json!({"business_date": d.to_string(), "previous": null, "rooms_dirtied": [], "no_shows": ["R1"], "marks_no_shows": true})
        );
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let task = TaskUpdated {
            id: "T".into(),
            room: RoomNumber::parse("101").unwrap(),
            kind: "clean".into(),
            status: TaskStatus::InProgress,
            assignee: None,
            note: Some("n".into()),
            created_at: at,
            updated_at: at,
        };
        assert_eq!(
            DomainEvent::TaskUpdated(task).payload(),
            json!({"id": "T", "room": "101", "kind": "clean", "status": "in_progress", "assignee": null, "note": "n",
                   "created_at": at.to_string(), "updated_at": at.to_string()})
        );
        let room = DomainEvent::RoomStatus(RoomStatusChanged {
            room: RoomNumber::parse("101").unwrap(),
            room_type: rt(),
            from: RoomStatus::VacantClean,
            status: RoomStatus::OutOfOrder,
            out_of_order: Some(DateRange::new(d, d).unwrap().into()),
        });
        assert_eq!(
            room.payload(),
            json!({"room": "101", "room_type": "STD", "from": "vacant_clean", "status": "out_of_order",
                   "out_of_order": {"from": "2027-03-10", "to": "2027-03-10"}})
        );
    }

    /// The booking's own fields are flattened into each booking event's
    /// payload: one flat object, as the wire has always had it.
    #[test]
    fn booking_events_carry_the_booking_fields_flat() {
        let d = jiff::civil::date(2027, 3, 10);
        let out = jiff::civil::date(2027, 3, 12);
        let booking = BookingRef { reservation: "R1".into(), room_type: rt(), check_in: d, check_out: out, source: "BDC".into() };
        let flat = json!({"reservation": "R1", "room_type": "STD", "check_in": "2027-03-10", "check_out": "2027-03-12", "source": "BDC"});
        let with = |extra: Value| {
            let mut v = flat.clone();
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            v
        };
        let modified = BookingModified { booking: booking.clone(), overbooked: true, reinstated: false };
        assert_eq!(DomainEvent::BookingModified(modified).payload(), with(json!({"overbooked": true, "reinstated": false})));
        let no_show = BookingNoShow {
            booking: booking.clone(),
            external_id: Some("X1".into()),
            business_date: d,
            released_from: out,
            nights_released: 1,
        };
        assert_eq!(
            DomainEvent::BookingNoShow(no_show).payload(),
            with(json!({"external_id": "X1", "business_date": "2027-03-10", "released_from": "2027-03-12", "nights_released": 1}))
        );
        let stay = BookingStay { booking: booking.clone(), room: None, checked_in_at: None, checked_out_at: None };
        assert_eq!(
            DomainEvent::BookingCheckedIn(stay).payload(),
            with(json!({"room": null, "checked_in_at": null, "checked_out_at": null}))
        );
        let outside = BookingOutsideHorizon {
            booking: booking.clone(),
            external_id: None,
            nights: 2,
            nights_held: 1,
            nights_outside: 1,
            calendar_nights: None,
        };
        assert_eq!(
            DomainEvent::BookingOutsideHorizon(outside).payload(),
            with(json!({"external_id": null, "nights": 2, "nights_held": 1, "nights_outside": 1, "calendar_nights": null}))
        );
        assert_eq!(DomainEvent::BookingCancelled(booking).payload(), flat);
    }

    #[test]
    fn the_enum_is_adjacently_tagged_and_reads_back() {
        let e = DomainEvent::Overbooking(Overbooking {
            reservation: "R".into(),
            room_type: rt(),
            check_in: jiff::civil::date(2027, 1, 1),
            check_out: jiff::civil::date(2027, 1, 2),
        });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "overbooking");
        assert_eq!(v["payload"], e.payload());
        assert_eq!(serde_json::from_value::<DomainEvent>(v).unwrap(), e);
    }

    #[test]
    fn every_kind_is_routed_as_before() {
        use Topic::*;
        let route = |s: &str| EventKind::parse(s).unwrap().topics().to_vec();
        assert_eq!(route("ari.changed"), [Inventory]);
        assert_eq!(route("booking.no_show"), [Bookings, Inventory]);
        assert_eq!(route("booking.checked_in"), [Bookings]);
        assert_eq!(route("alert.unmapped_booking"), [Bookings]);
        assert_eq!(route("task.updated"), [Rooms, Housekeeping]);
        assert_eq!(route("night_audit.completed"), [Rooms]);
    }
}
