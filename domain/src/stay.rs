//! Front-desk stay state of a reservation: check-in, check-out and the
//! night audit's no-show rule. The shard that owns the reservation's room
//! type applies these rules against the stored reservation, so they are
//! decided once, in order, whatever the HTTP layer read before.

use crate::reservation::{Reservation, ReservationStatus};
use jiff::civil::Date;
use std::fmt;

/// Why a front-desk action is refused. Each variant is one stable,
/// machine-readable code (the HTTP layer answers 409 with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StayRefusal {
    AlreadyCheckedIn,
    AlreadyCheckedOut,
    NotCheckedIn,
    Cancelled,
    NoShow,
    /// Check-in before the arrival date (property-local).
    ArrivalInFuture(Date),
    /// Check-in after the departure date (property-local).
    DeparturePassed(Date),
    /// The room named at check-in is not vacant clean or inspected.
    RoomNotReady {
        room: String,
        status: String,
    },
}

impl StayRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            StayRefusal::AlreadyCheckedIn => "already_checked_in",
            StayRefusal::AlreadyCheckedOut => "already_checked_out",
            StayRefusal::NotCheckedIn => "not_checked_in",
            StayRefusal::Cancelled => "reservation_cancelled",
            StayRefusal::NoShow => "reservation_no_show",
            StayRefusal::ArrivalInFuture(_) => "arrival_in_future",
            StayRefusal::DeparturePassed(_) => "departure_passed",
            StayRefusal::RoomNotReady { .. } => "room_not_ready",
        }
    }
}

impl fmt::Display for StayRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StayRefusal::AlreadyCheckedIn => write!(f, "the reservation is already checked in"),
            StayRefusal::AlreadyCheckedOut => write!(f, "the reservation is already checked out"),
            StayRefusal::NotCheckedIn => write!(f, "the reservation is not checked in"),
            StayRefusal::Cancelled => write!(f, "the reservation is cancelled"),
            StayRefusal::NoShow => write!(f, "the reservation was marked a no-show"),
            StayRefusal::ArrivalInFuture(d) => write!(f, "the arrival date {d} has not come yet"),
            StayRefusal::DeparturePassed(d) => write!(f, "the departure date {d} has passed"),
            StayRefusal::RoomNotReady { room, status } => {
                write!(f, "room {room} is {status}; check-in needs a vacant clean or inspected room")
            }
        }
    }
}

/// Refuses a reservation that is not confirmed (cancelled, no-show).
fn require_confirmed(r: &Reservation) -> Result<(), StayRefusal> {
    match r.status {
        ReservationStatus::Confirmed => Ok(()),
        ReservationStatus::Cancelled => Err(StayRefusal::Cancelled),
        ReservationStatus::NoShow => Err(StayRefusal::NoShow),
    }
}

impl Reservation {
    /// Check-in is allowed for a confirmed reservation, not yet checked in,
    /// from its arrival date up to and including its departure date (`today`
    /// is the property-local date): a guest arriving after midnight, before
    /// the night audit has closed the arrival date, can still be checked in.
    pub fn may_check_in(&self, today: Date) -> Result<(), StayRefusal> {
        require_confirmed(self)?;
        if self.checked_out_at.is_some() {
            return Err(StayRefusal::AlreadyCheckedOut);
        }
        if self.checked_in_at.is_some() {
            return Err(StayRefusal::AlreadyCheckedIn);
        }
        if today < self.check_in {
            return Err(StayRefusal::ArrivalInFuture(self.check_in));
        }
        if today > self.check_out {
            return Err(StayRefusal::DeparturePassed(self.check_out));
        }
        Ok(())
    }

    /// Check-out is allowed once, after check-in.
    pub fn may_check_out(&self) -> Result<(), StayRefusal> {
        require_confirmed(self)?;
        if self.checked_out_at.is_some() {
            return Err(StayRefusal::AlreadyCheckedOut);
        }
        if self.checked_in_at.is_none() {
            return Err(StayRefusal::NotCheckedIn);
        }
        Ok(())
    }

    /// Whether the night audit closing business date `closed` marks this
    /// reservation a no-show: confirmed, never checked in, arriving on or
    /// before the closed date. Re-evaluated against the stored reservation
    /// each time, which is what makes repeated audits harmless.
    pub fn is_no_show_after(&self, closed: Date) -> bool {
        self.status == ReservationStatus::Confirmed && self.checked_in_at.is_none() && self.check_in <= closed
    }

    /// The nights a no-show gives back: those from `from` (the new business
    /// date) to departure. Nights before it are history: they were held
    /// (and are usually charged), and rewriting past cells would only push
    /// dates the OTAs no longer sell.
    pub fn nights_from(&self, from: Date) -> Vec<Date> {
        self.held_nights().into_iter().filter(|d| *d >= from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{PropertyCode, RatePlanCode, RoomTypeCode};
    use crate::money::Currency;
    use jiff::civil::date;

    fn res(check_in: Date, check_out: Date) -> Reservation {
        let now = jiff::Timestamp::UNIX_EPOCH;
        Reservation {
            id: "R".into(),
            property: PropertyCode::parse("P").unwrap(),
            room_type: RoomTypeCode::parse("STD").unwrap(),
            rate_plan: RatePlanCode::parse("BAR").unwrap(),
            check_in,
            check_out,
            adults: 1,
            guest_name: "G".into(),
            status: ReservationStatus::Confirmed,
            currency: Currency::IDR,
            total: rust_decimal::Decimal::ZERO,
            nightly: vec![],
            source: "direct".into(),
            external_id: None,
            revision: 1,
            overbooked: false,
            created_at: now,
            updated_at: now,
            checked_in_at: None,
            checked_out_at: None,
            room: None,
            outside_horizon: false,
            calendar_nights: None,
        }
    }

    #[test]
    fn check_in_window_is_arrival_to_departure_inclusive() {
        let r = res(date(2027, 3, 10), date(2027, 3, 12));
        assert_eq!(r.may_check_in(date(2027, 3, 9)), Err(StayRefusal::ArrivalInFuture(date(2027, 3, 10))));
        assert_eq!(r.may_check_in(date(2027, 3, 10)), Ok(()));
        assert_eq!(r.may_check_in(date(2027, 3, 12)), Ok(()));
        assert_eq!(r.may_check_in(date(2027, 3, 13)), Err(StayRefusal::DeparturePassed(date(2027, 3, 12))));
    }

    #[test]
    fn state_refusals_come_before_date_refusals() {
        let mut r = res(date(2027, 3, 10), date(2027, 3, 12));
        assert_eq!(r.may_check_out(), Err(StayRefusal::NotCheckedIn));
        r.checked_in_at = Some(jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(r.may_check_in(date(2027, 3, 10)), Err(StayRefusal::AlreadyCheckedIn));
        assert_eq!(r.may_check_out(), Ok(()));
        r.checked_out_at = Some(jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(r.may_check_out(), Err(StayRefusal::AlreadyCheckedOut));
        assert_eq!(r.may_check_in(date(2027, 3, 10)), Err(StayRefusal::AlreadyCheckedOut));
        r.status = ReservationStatus::NoShow;
        assert_eq!(r.may_check_in(date(2027, 3, 10)).map_err(|e| e.code()), Err("reservation_no_show"));
        r.status = ReservationStatus::Cancelled;
        assert_eq!(r.may_check_out().map_err(|e| e.code()), Err("reservation_cancelled"));
    }

    #[test]
    fn no_show_rule_and_released_nights() {
        let mut r = res(date(2027, 3, 10), date(2027, 3, 13));
        assert!(!r.is_no_show_after(date(2027, 3, 9)), "arrives later");
        assert!(r.is_no_show_after(date(2027, 3, 10)));
        assert_eq!(r.nights_from(date(2027, 3, 11)), [date(2027, 3, 11), date(2027, 3, 12)]);
        assert_eq!(r.nights_from(date(2027, 3, 13)).len(), 0);
        r.checked_in_at = Some(jiff::Timestamp::UNIX_EPOCH);
        assert!(!r.is_no_show_after(date(2027, 3, 10)), "checked in");
        r.checked_in_at = None;
        r.status = ReservationStatus::NoShow;
        assert!(!r.is_no_show_after(date(2027, 3, 10)), "already a no-show: marking twice is a no-op");
    }
}
