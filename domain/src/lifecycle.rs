//! The reservation lifecycle: new, modify, cancel, no-show, check-in,
//! check-out and the OTA delivery decisions, as functions that return a
//! typed `Change` (the reservation as it becomes, the nights it took and
//! gave back, the events). The InventoryShard only orders these decisions,
//! commits them and publishes them: everything it decides is here, testable
//! without a store or an actor.

use crate::ari::CellChanges;
use crate::availability::{Overlay, Quote, Unavailable};
use crate::calendar::{RoomTypeCalendar, StopSellSource};
use crate::channel::{decide, InboundAction, InboundDecision, InboundOutcome, InboundRecord};
use crate::codes::RoomNumber;
use crate::dates::{calendar_window, DateRange};
use crate::error::DomainError;
use crate::events::{
    AriCause, AriChanged, BookingCreated, BookingModified, BookingNoShow, BookingOutsideHorizon, BookingRef, BookingStay, DomainEvent,
    LiftedDate, OutOfOrderReason, Overbooking, StopSellLifted,
};
use crate::property::{Property, Room, RoomStatus};
use crate::reservation::{BookingRequest, NightlyRate, Reservation, ReservationStatus};
use crate::stay::StayRefusal;
use jiff::civil::Date;

/// The calendar a decision books against: the committed calendar plus the
/// changes decided earlier in the same commit (which it extends).
pub struct Inventory<'a> {
    pub cal: &'a RoomTypeCalendar,
    pub pending: &'a mut CellChanges,
    /// The property-local date: nights outside `calendar_window(today)` are
    /// kept on the booking but never materialized.
    pub today: Date,
    /// Close a date on every channel once availability falls to this.
    pub auto_stop_sell_at: Option<i32>,
}

/// What one lifecycle step did.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The reservation as it is to be stored.
    pub reservation: Reservation,
    /// Nights the step took (one room each).
    pub taken: Vec<Date>,
    /// Nights the step gave back (one room each).
    pub released: Vec<Date>,
    /// Nights the auto stop-sell threshold closed.
    pub auto_closed: Vec<Date>,
    pub events: Vec<DomainEvent>,
}

impl Change {
    fn new(reservation: Reservation) -> Self {
        Change { reservation, taken: Vec::new(), released: Vec::new(), auto_closed: Vec::new(), events: Vec::new() }
    }
    /// The step left the room type oversold (OTA bookings only).
    pub fn overbooked(&self) -> bool {
        self.events.iter().any(|e| matches!(e, DomainEvent::Overbooking(_)))
    }
}

/// Who books: the property (code, currency) and where the booking comes from.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub property: &'a Property,
    /// `direct` or a channel code.
    pub source: &'a str,
    pub external_id: Option<&'a str>,
    /// OTA bookings are never refused: past availability they are stored
    /// and flagged as overbookings (I2). Direct bookings are refused.
    pub allow_overbooking: bool,
}

/// What taking a stay's nights did.
struct Taken {
    nights: Vec<Date>,
    auto_closed: Vec<Date>,
    overbooked: bool,
    outside_horizon: bool,
    calendar_nights: Option<DateRange>,
}

impl Inventory<'_> {
    /// Takes one room on every night of `req`'s stay inside the calendar
    /// window; past availability the booking is flagged overbooked and, if
    /// `close_when_oversold`, the oversold nights are closed (stop-sell,
    /// pushed to every channel at once: I2).
    fn take(&mut self, req: &BookingRequest, close_when_oversold: bool) -> Taken {
        let inside = req.stay.nights_within(calendar_window(self.today));
        let outside_horizon = inside != Some(req.stay.night_dates());
        let mut taken = Taken {
            nights: Vec::new(),
            auto_closed: Vec::new(),
            overbooked: false,
            outside_horizon,
            calendar_nights: if outside_horizon { inside } else { None },
        };
        for d in inside.iter().flat_map(|r| r.days()) {
            let mut inv = self.pending.inventory_day(self.cal, d);
            inv.sold = inv.sold.saturating_add(1);
            let available = inv.available(self.cal.room_type.physical_rooms);
            if available < 0 {
                taken.overbooked = true;
                if close_when_oversold {
                    inv.close(StopSellSource::Overbooking);
                }
            }
            if self.auto_stop_sell_at.is_some_and(|t| available <= t) && !inv.stop_sell {
                inv.close(StopSellSource::AutoThreshold);
                taken.auto_closed.push(d);
            }
            self.pending.inventory.insert(d, inv);
            taken.nights.push(d);
        }
        taken
    }

    /// Gives one room back on each of `nights`.
    fn release(&mut self, nights: &[Date]) {
        for d in nights {
            let mut inv = self.pending.inventory_day(self.cal, *d);
            inv.sold = inv.sold.saturating_sub(1);
            self.pending.inventory.insert(*d, inv);
        }
    }

    fn overlay(&self) -> Overlay<'_> {
        Overlay { cal: self.cal, pending: Some(self.pending) }
    }

    /// A quote that never refuses: the OTA has sold the stay already, so we
    /// keep whatever rate we have (zero where none is set).
    fn lenient_quote(&self, req: &BookingRequest) -> Quote {
        let overlay = self.overlay();
        overlay.quote(&req.rate_plan, req.stay, req.adults, i32::MIN).unwrap_or_else(|_| rates_as_set(self.cal, req))
    }
}

fn rates_as_set(cal: &RoomTypeCalendar, req: &BookingRequest) -> Quote {
    let mut nightly = Vec::new();
    let mut total = rust_decimal::Decimal::ZERO;
    for d in req.stay.night_dates().days() {
        let rate = cal.effective(&req.rate_plan, d).and_then(|e| e.price_for(req.adults)).unwrap_or_default();
        total += rate;
        nightly.push(NightlyRate { date: d, rate });
    }
    Quote { room_type: req.room_type.clone(), rate_plan: req.rate_plan.clone(), available: 0, nightly, total }
}

impl Taken {
    fn mark(&self, res: &mut Reservation) {
        res.overbooked = self.overbooked;
        res.outside_horizon = self.outside_horizon;
        res.calendar_nights = self.calendar_nights;
    }
    fn into_change(self, reservation: Reservation) -> Change {
        let mut c = Change::new(reservation);
        c.taken = self.nights;
        c.auto_closed = self.auto_closed;
        c
    }
}

/// The alert of a booking holding nights outside the calendar window.
fn outside_horizon(res: &Reservation) -> Option<DomainEvent> {
    if !res.outside_horizon {
        return None;
    }
    let held = res.held_nights().len();
    let nights = res.stay().nights();
    Some(DomainEvent::BookingOutsideHorizon(BookingOutsideHorizon {
        booking: BookingRef::of(res),
        external_id: res.external_id.clone(),
        nights,
        nights_held: held,
        nights_outside: nights - held as i64,
        calendar_nights: res.calendar_nights,
    }))
}

/// The reservation a request becomes, before any inventory rule.
fn reservation(
    origin: &Origin<'_>,
    req: &BookingRequest,
    id: String,
    quote: Quote,
    status: ReservationStatus,
    now: jiff::Timestamp,
) -> Reservation {
    Reservation {
        id,
        property: origin.property.code.clone(),
        room_type: req.room_type.clone(),
        rate_plan: req.rate_plan.clone(),
        check_in: req.stay.check_in,
        check_out: req.stay.check_out,
        adults: req.adults,
        guest_name: req.guest_name.clone(),
        status,
        currency: origin.property.currency,
        total: quote.total,
        nightly: quote.nightly,
        source: origin.source.to_owned(),
        external_id: origin.external_id.map(str::to_owned),
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

/// A new booking `id`: priced and checked against availability and the
/// restrictions (direct bookings are refused past them, OTA ones priced
/// leniently and flagged), taking its nights.
pub fn new(
    inv: &mut Inventory<'_>,
    origin: &Origin<'_>,
    req: &BookingRequest,
    id: String,
    now: jiff::Timestamp,
) -> Result<Change, Unavailable> {
    let quote = match inv.overlay().quote(&req.rate_plan, req.stay, req.adults, 1) {
        Ok(q) => q,
        Err(Unavailable::UnknownRatePlan) => return Err(Unavailable::UnknownRatePlan),
        Err(why) if !origin.allow_overbooking => return Err(why),
        Err(_) => rates_as_set(inv.cal, req),
    };
    let taken = inv.take(req, origin.allow_overbooking);
    let mut res = reservation(origin, req, id, quote, ReservationStatus::Confirmed, now);
    taken.mark(&mut res);
    let mut change = taken.into_change(res);
    let res = &change.reservation;
    let mut events = vec![DomainEvent::BookingCreated(BookingCreated {
        booking: BookingRef::of(res),
        rate_plan: res.rate_plan.clone(),
        overbooked: res.overbooked,
        total: res.total,
    })];
    if res.overbooked {
        events.push(DomainEvent::Overbooking(Overbooking::of(res)));
    }
    events.extend(outside_horizon(res));
    change.events = events;
    Ok(change)
}

/// An OTA booking that arrives after its own cancellation: stored
/// cancelled, taking no inventory (in or out of the window), so every
/// order of deliveries ends the same. No event: nothing changed for anyone.
pub fn new_cancelled(inv: &Inventory<'_>, origin: &Origin<'_>, req: &BookingRequest, id: String, now: jiff::Timestamp) -> Change {
    let quote = inv.lenient_quote(req);
    Change::new(reservation(origin, req, id, quote, ReservationStatus::Cancelled, now))
}

/// An OTA modification: the booking takes the new stay / room / rate. A
/// no-show's or cancelled booking's nights are released already: a
/// modification reinstates it on its new dates, taking only those.
pub fn modify(inv: &mut Inventory<'_>, mut res: Reservation, req: &BookingRequest, now: jiff::Timestamp) -> Change {
    let reinstated = !res.is_active();
    let released = if res.is_active() { res.held_nights() } else { Vec::new() };
    inv.release(&released);
    let quote = inv.lenient_quote(req);
    let taken = inv.take(req, true);
    taken.mark(&mut res);
    res.room_type = req.room_type.clone();
    res.rate_plan = req.rate_plan.clone();
    res.check_in = req.stay.check_in;
    res.check_out = req.stay.check_out;
    res.adults = req.adults;
    res.guest_name = req.guest_name.clone();
    res.total = quote.total;
    res.nightly = quote.nightly;
    res.status = ReservationStatus::Confirmed;
    bump(&mut res, now);
    let mut change = taken.into_change(res);
    change.released = released;
    let res = &change.reservation;
    let mut events =
        vec![DomainEvent::BookingModified(BookingModified { booking: BookingRef::of(res), overbooked: res.overbooked, reinstated })];
    if res.overbooked {
        events.push(DomainEvent::Overbooking(Overbooking::of(res)));
    }
    events.extend(outside_horizon(res));
    change.events = events;
    change
}

/// Every stored change of a reservation is a new revision.
fn bump(res: &mut Reservation, now: jiff::Timestamp) {
    res.revision = res.revision.saturating_add(1);
    res.updated_at = now;
}

/// Cancels `res`, giving its nights back.
fn cancelled(inv: &mut Inventory<'_>, mut res: Reservation, now: jiff::Timestamp) -> Change {
    let released = res.held_nights();
    inv.release(&released);
    res.status = ReservationStatus::Cancelled;
    bump(&mut res, now);
    let event = DomainEvent::BookingCancelled(BookingRef::of(&res));
    let mut change = Change::new(res);
    change.released = released;
    change.events.push(event);
    change
}

/// A cancellation asked of us (API). `Ok(None)`: cancelled already, nothing
/// to do (a repeated request). A no-show's future nights are released
/// already; an in-house guest's booking is ended by check-out.
pub fn cancel(inv: &mut Inventory<'_>, res: Reservation, now: jiff::Timestamp) -> Result<Option<Change>, StayRefusal> {
    match res.status {
        ReservationStatus::Cancelled => Ok(None),
        ReservationStatus::NoShow => Err(StayRefusal::NoShow),
        ReservationStatus::Confirmed if res.checked_in_at.is_some() => Err(StayRefusal::AlreadyCheckedIn),
        ReservationStatus::Confirmed => Ok(Some(cancelled(inv, res, now))),
    }
}

/// The night audit closing business date `closed` marks `res` a no-show if
/// the rule says so (re-checked against the reservation as it is now, so a
/// repeated audit or an earlier check-in wins cleanly) and gives back its
/// nights from `release_from` (the new business date) on. `None`: not a
/// no-show (checked in, cancelled, marked already, or moved later).
pub fn mark_no_show(
    inv: &mut Inventory<'_>,
    mut res: Reservation,
    closed: Date,
    release_from: Date,
    now: jiff::Timestamp,
) -> Option<Change> {
    if !res.is_no_show_after(closed) {
        return None;
    }
    let released = res.nights_from(release_from);
    inv.release(&released);
    res.status = ReservationStatus::NoShow;
    bump(&mut res, now);
    let event = DomainEvent::BookingNoShow(BookingNoShow {
        booking: BookingRef::of(&res),
        external_id: res.external_id.clone(),
        business_date: closed,
        released_from: release_from,
        nights_released: released.len(),
    });
    let mut change = Change::new(res);
    change.released = released;
    change.events.push(event);
    Some(change)
}

/// Front desk: the guest arrived (`today` property-local), in `room` if
/// named. No inventory changes: the nights stay sold either way.
pub fn check_in(mut res: Reservation, room: Option<RoomNumber>, today: Date, now: jiff::Timestamp) -> Result<Change, StayRefusal> {
    res.may_check_in(today)?;
    res.checked_in_at = Some(now);
    res.room = room;
    bump(&mut res, now);
    let event = DomainEvent::BookingCheckedIn(BookingStay::of(&res));
    let mut change = Change::new(res);
    change.events.push(event);
    Ok(change)
}

/// Front desk: the guest left.
pub fn check_out(mut res: Reservation, now: jiff::Timestamp) -> Result<Change, StayRefusal> {
    res.may_check_out()?;
    res.checked_out_at = Some(now);
    bump(&mut res, now);
    let event = DomainEvent::BookingCheckedOut(BookingStay::of(&res));
    let mut change = Change::new(res);
    change.events.push(event);
    Ok(change)
}

/// One OTA delivery (one room line of one revision), already mapped.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub channel: &'a crate::codes::ChannelCode,
    pub ota_reservation_id: &'a str,
    pub revision: &'a str,
    pub action: InboundAction,
    /// The booking as the OTA states it (none for a cancellation).
    pub request: Option<&'a BookingRequest>,
    /// This cancellation only moves the booking to another room type (a
    /// modification): it frees the rooms here but is not the OTA's
    /// cancellation, so it does not end the booking.
    pub moving: bool,
}

/// What a delivery does.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered {
    /// Seen before: send back the ack stored with it, record nothing.
    Replay { ack: String, reservation_id: Option<String> },
    /// Record the delivery with `outcome` (and apply `change`, if any).
    Record { outcome: InboundOutcome, reservation_id: Option<String>, change: Option<Box<Change>> },
}

/// Why a delivery cannot be applied here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryRefusal {
    /// A new or modified booking without a room line.
    NoRequest,
    /// Routed to the shard of another room type.
    WrongRoomType,
    /// A modification of a booking we do not hold.
    NotFound,
    /// The booking names a rate plan the room type does not have.
    Unavailable(Unavailable),
}

/// Decides and applies one OTA delivery in the order-independent way of
/// `channel::decide`. `history` is every recorded delivery of the booking
/// (stored and earlier in the same commit); `existing` our newest
/// reservation for it; `new_id` the id a created booking gets.
pub fn deliver(
    inv: &mut Inventory<'_>,
    property: &Property,
    d: Delivery<'_>,
    history: &[InboundRecord],
    existing: Option<Reservation>,
    new_id: impl FnOnce() -> String,
    now: jiff::Timestamp,
) -> Result<Delivered, DeliveryRefusal> {
    let request = || -> Result<&BookingRequest, DeliveryRefusal> {
        let req = d.request.ok_or(DeliveryRefusal::NoRequest)?;
        if req.room_type != inv.cal.room_type.code {
            return Err(DeliveryRefusal::WrongRoomType);
        }
        Ok(req)
    };
    let origin = Origin { property, source: d.channel.as_str(), external_id: Some(d.ota_reservation_id), allow_overbooking: true };
    let record = |outcome, change: Option<Change>| {
        let reservation_id = change.as_ref().map(|c| c.reservation.id.clone());
        Delivered::Record { outcome, reservation_id, change: change.map(Box::new) }
    };
    Ok(match decide(history, d.action, d.revision, &property.tz()) {
        InboundDecision::Replay(ack) => Delivered::Replay { ack, reservation_id: existing.map(|r| r.id) },
        InboundDecision::Stale => {
            Delivered::Record { outcome: InboundOutcome::Stale, reservation_id: existing.map(|r| r.id), change: None }
        }
        InboundDecision::Create => {
            let req = request()?;
            // OTA bookings are never refused (`allow_overbooking`) except
            // for a rate plan the room type does not have.
            let change = new(inv, &origin, req, new_id(), now).map_err(DeliveryRefusal::Unavailable)?;
            let outcome = if change.overbooked() { InboundOutcome::Overbooked } else { InboundOutcome::Applied };
            record(outcome, Some(change))
        }
        InboundDecision::CreateCancelled => {
            let req = request()?;
            record(InboundOutcome::Applied, Some(new_cancelled(inv, &origin, req, new_id(), now)))
        }
        InboundDecision::Modify => {
            let req = request()?;
            let res = existing.ok_or(DeliveryRefusal::NotFound)?;
            let change = modify(inv, res, req, now);
            let outcome = if change.overbooked() { InboundOutcome::Overbooked } else { InboundOutcome::Applied };
            record(outcome, Some(change))
        }
        InboundDecision::Cancel => {
            let outcome = if d.moving { InboundOutcome::Moved } else { InboundOutcome::Applied };
            match existing {
                Some(res) if res.is_active() => record(outcome, Some(cancelled(inv, res, now))),
                // Ended already: recorded against it, nothing to change.
                Some(res) => Delivered::Record { outcome, reservation_id: Some(res.id), change: None },
                // Cancelled before we ever saw it: remembered, so a late
                // delivery of the booking is stored cancelled.
                None => Delivered::Record { outcome, reservation_id: None, change: None },
            }
        }
    })
}

/// The dates a room holds out of order in the calendar: its stored range,
/// or for a room out of order since before ranges were stored, today to the
/// end of the horizon (what it was counted on then).
pub fn held_out_of_order(room: &Room, today: Date) -> Option<DateRange> {
    if room.status != RoomStatus::OutOfOrder {
        return None;
    }
    room.out_of_order.or_else(|| {
        let w = calendar_window(today);
        DateRange::new(today, w.end()).ok()
    })
}

/// What a room status change does: the room as it becomes (written only if
/// the stored room is still `expected`), and the calendar event of its
/// out-of-order dates, if any moved.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomStatusChange {
    pub expected: Room,
    pub room: Room,
    pub event: Option<DomainEvent>,
}

/// Room `current` (as stored, or as changed earlier in the same commit)
/// becomes `status`, out of order on `range` (required with that status,
/// refused with any other). Releasing the dates the room held and taking
/// the new ones makes a repeated request a no-op (`Ok(None)`) and a changed
/// range move exactly the difference; only the calendar window changes
/// (past dates are history).
pub fn set_room_status(
    inv: &mut Inventory<'_>,
    current: Room,
    status: RoomStatus,
    range: Option<DateRange>,
) -> Result<Option<RoomStatusChange>, DomainError> {
    if !current.status.can_become(status) {
        return Err(DomainError::InvalidTransition(current.status.as_str().into(), status.as_str().into()));
    }
    let new_range = match (status, range) {
        (RoomStatus::OutOfOrder, Some(r)) => Some(r),
        (RoomStatus::OutOfOrder, None) => return Err(DomainError::invalid("from", "out of order needs its dates")),
        (_, Some(_)) => return Err(DomainError::invalid("from", "dates go with out_of_order only")),
        (_, None) => None,
    };
    let next = Room { status, out_of_order: new_range, ..current.clone() };
    if next == current {
        return Ok(None);
    }
    let window = calendar_window(inv.today);
    let physical = i32::from(inv.cal.room_type.physical_rooms);
    let mut touched: Option<(Date, Date)> = None;
    let mut bump = |inv: &mut Inventory<'_>, r: DateRange, delta: i32| {
        let Ok(r) = DateRange::new(r.start().max(window.start()), r.end().min(window.end())) else { return };
        for d in r.days() {
            let mut day = inv.pending.inventory_day(inv.cal, d);
            day.out_of_order = (i32::from(day.out_of_order) + delta).clamp(0, physical) as u16;
            inv.pending.inventory.insert(d, day);
        }
        touched = Some(match touched {
            None => (r.start(), r.end()),
            Some((a, b)) => (a.min(r.start()), b.max(r.end())),
        });
    };
    if let Some(r) = held_out_of_order(&current, inv.today) {
        bump(inv, r, -1);
    }
    if let Some(r) = held_out_of_order(&next, inv.today) {
        bump(inv, r, 1);
    }
    let event = touched.map(|(from, to)| {
        DomainEvent::AriChanged(AriChanged {
            room_type: inv.cal.room_type.code.clone(),
            from,
            to,
            cause: AriCause::OutOfOrder { reason: OutOfOrderReason::OutOfOrder, room: next.number.clone() },
        })
    });
    Ok(Some(RoomStatusChange { expected: current, room: next, event }))
}

/// Auto-replenish: every date in `pending` that saluran itself closed
/// (overbooking, auto threshold) and that has rooms again is opened, in the
/// same commit. A person's stop-sell is never lifted. The event names the
/// dates and who had closed each.
pub fn lift_automatic_stop_sells(inv: &mut Inventory<'_>) -> Option<StopSellLifted> {
    let physical = inv.cal.room_type.physical_rooms;
    let mut dates = Vec::new();
    for (d, day) in inv.pending.inventory.iter_mut() {
        let source = day.closed_by();
        if day.replenish(physical, inv.auto_stop_sell_at) {
            dates.push(LiftedDate { date: *d, source });
        }
    }
    (!dates.is_empty()).then(|| StopSellLifted { room_type: inv.cal.room_type.code.clone(), dates })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::RateDay;
    use crate::codes::{ChannelCode, PropertyCode, RatePlanCode, RoomTypeCode, TenantCode};
    use crate::dates::StayRange;
    use crate::money::Currency;
    use crate::property::{RatePlan, RoomType};
    use jiff::civil::date;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    const ROOMS: u16 = 2;

    fn property() -> Property {
        Property {
            tenant: TenantCode::parse("T").unwrap(),
            code: PropertyCode::parse("P").unwrap(),
            name: "P".into(),
            timezone: "UTC".into(),
            currency: Currency::IDR,
            night_audit_time: "02:00".into(),
            marks_no_shows: false,
            no_shows_from: None,
        }
    }

    fn cal() -> RoomTypeCalendar {
        let rt = RoomType { code: RoomTypeCode::parse("STD").unwrap(), name: "Standard".into(), max_occupancy: 2, physical_rooms: ROOMS };
        let plan = RatePlan { code: bar(), room_type: rt.code.clone(), name: "Best".into(), derived: None };
        let mut c = RoomTypeCalendar::new(rt, vec![plan]);
        for d in StayRange::new(date(2027, 3, 1), date(2027, 3, 31)).unwrap().night_dates().days() {
            c.plan_mut("BAR").unwrap().days.set(d, RateDay { rate: Some(Decimal::from(100)), ..Default::default() });
        }
        c
    }

    fn bar() -> RatePlanCode {
        RatePlanCode::parse("BAR").unwrap()
    }

    fn req(a: u8, b: u8) -> BookingRequest {
        BookingRequest {
            room_type: RoomTypeCode::parse("STD").unwrap(),
            rate_plan: bar(),
            stay: StayRange::new(date(2027, 3, a as i8), date(2027, 3, b as i8)).unwrap(),
            adults: 1,
            guest_name: "G".into(),
        }
    }

    const TODAY: Date = date(2027, 3, 1);

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn sold(cal: &RoomTypeCalendar, pending: &CellChanges, d: Date) -> u16 {
        pending.inventory_day(cal, d).sold
    }

    fn direct(p: &Property) -> Origin<'_> {
        Origin { property: p, source: "direct", external_id: None, allow_overbooking: false }
    }

    fn ota(p: &Property) -> Origin<'_> {
        Origin { property: p, source: "BDC", external_id: Some("X1"), allow_overbooking: true }
    }

    fn kinds(c: &Change) -> Vec<&'static str> {
        c.events.iter().map(|e| e.kind().as_str()).collect()
    }

    #[test]
    fn a_direct_booking_takes_its_nights_and_is_refused_past_availability() {
        let (c, p) = (cal(), property());
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        let first = new(&mut inv, &direct(&p), &req(10, 12), "R1".into(), now()).unwrap();
        assert_eq!(first.taken, [date(2027, 3, 10), date(2027, 3, 11)]);
        assert_eq!(first.reservation.total, Decimal::from(200));
        assert_eq!((first.reservation.revision, first.reservation.status), (1, ReservationStatus::Confirmed));
        assert_eq!(kinds(&first), ["booking.created"]);
        new(&mut inv, &direct(&p), &req(11, 13), "R2".into(), now()).unwrap();
        assert_eq!(new(&mut inv, &direct(&p), &req(11, 12), "R3".into(), now()), Err(Unavailable::SoldOut));
        assert_eq!(sold(&c, inv.pending, date(2027, 3, 11)), 2, "the refused booking took nothing");
    }

    #[test]
    fn an_ota_booking_past_availability_is_kept_flagged_and_closes_the_date() {
        let (c, p) = (cal(), property());
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        for i in 0..ROOMS {
            new(&mut inv, &direct(&p), &req(10, 11), format!("D{i}"), now()).unwrap();
        }
        let over = new(&mut inv, &ota(&p), &req(10, 11), "O".into(), now()).unwrap();
        assert!(over.reservation.overbooked && over.overbooked());
        assert_eq!(kinds(&over), ["booking.created", "overbooking"]);
        let day = inv.pending.inventory_day(&c, date(2027, 3, 10));
        assert!(day.stop_sell);
        assert_eq!(day.closed_by(), StopSellSource::Overbooking);
    }

    #[test]
    fn the_auto_threshold_closes_dates_it_reaches() {
        let (c, p) = (cal(), property());
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: Some(1) };
        let change = new(&mut inv, &direct(&p), &req(10, 12), "R".into(), now()).unwrap();
        assert_eq!(change.auto_closed, [date(2027, 3, 10), date(2027, 3, 11)]);
        assert_eq!(inv.pending.inventory_day(&c, date(2027, 3, 10)).closed_by(), StopSellSource::AutoThreshold);
    }

    #[test]
    fn nights_outside_the_window_stay_on_the_booking_and_are_alerted() {
        let (c, p) = (cal(), property());
        let mut pending = CellChanges::default();
        // Today is 2027-03-12: the window starts the day before.
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: date(2027, 3, 12), auto_stop_sell_at: None };
        let change = new(&mut inv, &ota(&p), &req(9, 13), "O".into(), now()).unwrap();
        let res = &change.reservation;
        assert!(res.outside_horizon);
        assert_eq!(res.held_nights(), [date(2027, 3, 11), date(2027, 3, 12)]);
        assert_eq!(change.taken, res.held_nights());
        assert_eq!(kinds(&change), ["booking.created", "booking.outside_horizon"]);
        let DomainEvent::BookingOutsideHorizon(alert) = &change.events[1] else { panic!("{change:?}") };
        assert_eq!((alert.nights, alert.nights_held, alert.nights_outside), (4, 2, 2));
        // A cancellation gives back exactly what was taken.
        let cancelled = cancel(&mut inv, change.reservation.clone(), now()).unwrap().unwrap();
        assert_eq!(cancelled.released, change.taken);
        assert_eq!(sold(&c, inv.pending, date(2027, 3, 11)), 0);
    }

    #[test]
    fn cancel_releases_once_and_follows_the_front_desk_rules() {
        let (c, p) = (cal(), property());
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        let booked = new(&mut inv, &direct(&p), &req(10, 12), "R".into(), now()).unwrap().reservation;
        let done = cancel(&mut inv, booked.clone(), now()).unwrap().unwrap();
        assert_eq!((done.reservation.status, done.reservation.revision), (ReservationStatus::Cancelled, 2));
        assert_eq!(done.released, [date(2027, 3, 10), date(2027, 3, 11)]);
        assert_eq!(kinds(&done), ["booking.cancelled"]);
        assert_eq!(cancel(&mut inv, done.reservation.clone(), now()), Ok(None), "cancelling twice changes nothing");
        assert_eq!(sold(&c, inv.pending, date(2027, 3, 10)), 0);
        let mut in_house = booked.clone();
        in_house.checked_in_at = Some(now());
        assert_eq!(cancel(&mut inv, in_house, now()), Err(StayRefusal::AlreadyCheckedIn));
        let no_show = Reservation { status: ReservationStatus::NoShow, ..booked };
        assert_eq!(cancel(&mut inv, no_show, now()), Err(StayRefusal::NoShow));
    }

    #[test]
    fn a_no_show_releases_only_the_nights_from_the_new_business_date() {
        let (c, p) = (cal(), property());
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        let booked = new(&mut inv, &direct(&p), &req(10, 13), "R".into(), now()).unwrap().reservation;
        assert_eq!(mark_no_show(&mut inv, booked.clone(), date(2027, 3, 9), date(2027, 3, 10), now()), None, "arrives later");
        let marked = mark_no_show(&mut inv, booked, date(2027, 3, 10), date(2027, 3, 11), now()).unwrap();
        assert_eq!(marked.reservation.status, ReservationStatus::NoShow);
        assert_eq!(marked.released, [date(2027, 3, 11), date(2027, 3, 12)]);
        let DomainEvent::BookingNoShow(e) = &marked.events[0] else { panic!("{marked:?}") };
        assert_eq!((e.business_date, e.released_from, e.nights_released), (date(2027, 3, 10), date(2027, 3, 11), 2));
        assert_eq!(sold(&c, inv.pending, date(2027, 3, 10)), 1, "the closed night stays sold");
        assert_eq!(mark_no_show(&mut inv, marked.reservation, date(2027, 3, 10), date(2027, 3, 11), now()), None, "marked once");
    }

    #[test]
    fn check_in_and_out_change_the_stay_not_the_inventory() {
        let (c, p) = (cal(), property());
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        let booked = new(&mut inv, &direct(&p), &req(10, 12), "R".into(), now()).unwrap().reservation;
        assert_eq!(check_in(booked.clone(), None, date(2027, 3, 9), now()), Err(StayRefusal::ArrivalInFuture(date(2027, 3, 10))));
        let room = RoomNumber::parse("101").unwrap();
        let inn = check_in(booked, Some(room.clone()), date(2027, 3, 10), now()).unwrap();
        assert_eq!((inn.reservation.room.as_ref(), inn.reservation.checked_in_at, inn.reservation.revision), (Some(&room), Some(now()), 2));
        assert!(inn.taken.is_empty() && inn.released.is_empty());
        assert_eq!(kinds(&inn), ["booking.checked_in"]);
        let out = check_out(inn.reservation, now()).unwrap();
        assert_eq!((out.reservation.checked_out_at, out.reservation.revision), (Some(now()), 3));
        assert_eq!(kinds(&out), ["booking.checked_out"]);
        assert_eq!(check_out(out.reservation, now()), Err(StayRefusal::AlreadyCheckedOut));
    }

    #[test]
    fn a_modification_moves_the_nights_and_reinstates_an_ended_booking() {
        let (c, p) = (cal(), property());
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        let booked = new(&mut inv, &ota(&p), &req(10, 12), "R".into(), now()).unwrap().reservation;
        let moved = modify(&mut inv, booked, &req(11, 14), now());
        assert_eq!(moved.released, [date(2027, 3, 10), date(2027, 3, 11)]);
        assert_eq!(moved.taken, [date(2027, 3, 11), date(2027, 3, 12), date(2027, 3, 13)]);
        assert_eq!((moved.reservation.check_in, moved.reservation.revision), (date(2027, 3, 11), 2));
        assert_eq!(sold(&c, inv.pending, date(2027, 3, 10)), 0);
        assert_eq!(sold(&c, inv.pending, date(2027, 3, 11)), 1);
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        let ended = cancel(&mut inv, moved.reservation, now()).unwrap().unwrap().reservation;
        let back = modify(&mut inv, ended, &req(20, 21), now());
        assert!(back.released.is_empty(), "a cancelled booking holds nothing to give back");
        let DomainEvent::BookingModified(e) = &back.events[0] else { panic!("{back:?}") };
        assert!(e.reinstated);
        assert_eq!(back.reservation.status, ReservationStatus::Confirmed);
        assert_eq!(sold(&c, inv.pending, date(2027, 3, 20)), 1);
    }

    fn room(status: RoomStatus, out_of_order: Option<DateRange>) -> Room {
        Room {
            number: RoomNumber::parse("101").unwrap(),
            room_type: RoomTypeCode::parse("STD").unwrap(),
            status,
            out_of_order,
            floor: Default::default(),
        }
    }

    #[test]
    fn out_of_order_counts_each_date_once_and_moves_by_the_difference() {
        let c = cal();
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        let r = |a: i8, b: i8| DateRange::new(date(2027, 3, a), date(2027, 3, b)).unwrap();
        let clean = room(RoomStatus::VacantClean, None);
        assert_eq!(
            set_room_status(&mut inv, clean.clone(), RoomStatus::OutOfOrder, None),
            Err(DomainError::invalid("from", "out of order needs its dates"))
        );
        let ooo = set_room_status(&mut inv, clean.clone(), RoomStatus::OutOfOrder, Some(r(10, 12))).unwrap().unwrap();
        assert_eq!((ooo.expected.clone(), ooo.room.out_of_order), (clean, Some(r(10, 12))));
        let Some(DomainEvent::AriChanged(e)) = &ooo.event else { panic!("{ooo:?}") };
        assert_eq!((e.from, e.to), (date(2027, 3, 10), date(2027, 3, 12)));
        assert_eq!(set_room_status(&mut inv, ooo.room.clone(), RoomStatus::OutOfOrder, Some(r(10, 12))), Ok(None), "repeated");
        let moved = set_room_status(&mut inv, ooo.room.clone(), RoomStatus::OutOfOrder, Some(r(11, 13))).unwrap().unwrap();
        let count = |inv: &Inventory<'_>, d: i8| inv.pending.inventory_day(inv.cal, date(2027, 3, d)).out_of_order;
        assert_eq!([10, 11, 12, 13].map(|d| count(&inv, d)), [0, 1, 1, 1]);
        let back = set_room_status(&mut inv, moved.room, RoomStatus::VacantDirty, None).unwrap().unwrap();
        assert_eq!([10, 11, 12, 13].map(|d| count(&inv, d)), [0, 0, 0, 0]);
        assert!(matches!(set_room_status(&mut inv, back.room, RoomStatus::Inspected, None), Err(DomainError::InvalidTransition(..))));
    }

    #[test]
    fn only_saluran_s_own_stop_sells_are_lifted_once_rooms_are_back() {
        let (c, p) = (cal(), property());
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        let mut taken = Vec::new();
        for i in 0..=ROOMS {
            taken.push(new(&mut inv, &ota(&p), &req(10, 12), format!("O{i}"), now()).unwrap().reservation);
        }
        // A person closes the 11th as well (after the overbooking did).
        let mut day = inv.pending.inventory_day(&c, date(2027, 3, 11));
        day.close(StopSellSource::Manual);
        inv.pending.inventory.insert(date(2027, 3, 11), day);
        assert_eq!(lift_automatic_stop_sells(&mut inv), None, "still oversold");
        cancel(&mut inv, taken.pop().unwrap(), now()).unwrap();
        cancel(&mut inv, taken.pop().unwrap(), now()).unwrap();
        let lifted = lift_automatic_stop_sells(&mut inv).unwrap();
        assert_eq!(lifted.dates, [LiftedDate { date: date(2027, 3, 10), source: StopSellSource::Overbooking }]);
        assert!(!inv.pending.inventory_day(&c, date(2027, 3, 10)).stop_sell);
        assert!(inv.pending.inventory_day(&c, date(2027, 3, 11)).stop_sell, "a person's stop-sell stays");
    }

    fn record(action: InboundAction, revision: &str, reservation_id: Option<String>, outcome: InboundOutcome) -> InboundRecord {
        InboundRecord {
            property: PropertyCode::parse("P").unwrap(),
            channel: ChannelCode::parse("BDC").unwrap(),
            ota_reservation_id: "X1".into(),
            revision: revision.into(),
            action,
            reservation_id,
            outcome,
            ack: format!("ack-{revision}"),
            received_at: now(),
        }
    }

    #[test]
    fn deliveries_apply_once_in_any_order() {
        let (c, p) = (cal(), property());
        let channel = ChannelCode::parse("BDC").unwrap();
        let r = req(10, 12);
        let delivery =
            |action, revision, request| Delivery { channel: &channel, ota_reservation_id: "X1", revision, action, request, moving: false };
        let mut pending = CellChanges::default();
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };

        // The cancellation first: remembered (a tombstone), nothing changes.
        let d = lifecycle_deliver(&mut inv, &p, delivery(InboundAction::Cancel, "2", None), &[], None);
        assert_eq!(d, Delivered::Record { outcome: InboundOutcome::Applied, reservation_id: None, change: None });
        let history = [record(InboundAction::Cancel, "2", None, InboundOutcome::Applied)];
        // Then the booking: stored cancelled, taking nothing.
        let Delivered::Record { outcome, change: Some(late), .. } =
            lifecycle_deliver(&mut inv, &p, delivery(InboundAction::New, "1", Some(&r)), &history, None)
        else {
            panic!("stored")
        };
        assert_eq!((outcome, late.reservation.status), (InboundOutcome::Applied, ReservationStatus::Cancelled));
        assert!(late.taken.is_empty() && late.events.is_empty());
        assert_eq!(sold(&c, inv.pending, date(2027, 3, 10)), 0);

        // In order: created, replayed, modified by a newer revision, an
        // older one stale.
        let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
        let Delivered::Record { change: Some(made), .. } =
            lifecycle_deliver(&mut inv, &p, delivery(InboundAction::New, "1", Some(&r)), &[], None)
        else {
            panic!("created")
        };
        let id = made.reservation.id.clone();
        let history = [record(InboundAction::New, "1", Some(id.clone()), InboundOutcome::Applied)];
        let again = lifecycle_deliver(&mut inv, &p, delivery(InboundAction::New, "1", Some(&r)), &history, Some(made.reservation.clone()));
        assert_eq!(again, Delivered::Replay { ack: "ack-1".into(), reservation_id: Some(id.clone()) });
        let wrong = BookingRequest { room_type: RoomTypeCode::parse("DLX").unwrap(), ..req(10, 11) };
        assert_eq!(
            deliver(&mut inv, &p, delivery(InboundAction::Modify, "3", Some(&wrong)), &history, None, || "N".into(), now()),
            Err(DeliveryRefusal::WrongRoomType)
        );
        let r3 = req(15, 16);
        let Delivered::Record { change: Some(modified), .. } =
            lifecycle_deliver(&mut inv, &p, delivery(InboundAction::Modify, "3", Some(&r3)), &history, Some(made.reservation.clone()))
        else {
            panic!("modified")
        };
        assert_eq!(modified.reservation.check_in, date(2027, 3, 15));
        let history = [history[0].clone(), record(InboundAction::Modify, "3", Some(id.clone()), InboundOutcome::Applied)];
        let stale =
            lifecycle_deliver(&mut inv, &p, delivery(InboundAction::Modify, "2", Some(&r)), &history, Some(modified.reservation.clone()));
        assert_eq!(stale, Delivered::Record { outcome: InboundOutcome::Stale, reservation_id: Some(id), change: None });
    }

    /// Applies `order` (indexes into new r1 / modify r2 / cancel r3, with
    /// repeats) as the shard would: history and our reservation carried
    /// from delivery to delivery. Answers the final reservation and the
    /// calendar's sold count per night of March.
    fn run_deliveries(order: &[usize]) -> (Option<(ReservationStatus, Date, Date)>, Vec<u16>) {
        let (c, p) = (cal(), property());
        let channel = ChannelCode::parse("BDC").unwrap();
        let (first, second) = (req(10, 12), req(11, 14));
        let steps: [(InboundAction, &str, Option<&BookingRequest>); 3] =
            [(InboundAction::New, "1", Some(&first)), (InboundAction::Modify, "2", Some(&second)), (InboundAction::Cancel, "3", None)];
        let mut pending = CellChanges::default();
        let mut history: Vec<InboundRecord> = Vec::new();
        let mut ours: Option<Reservation> = None;
        for (n, &i) in order.iter().enumerate() {
            let (action, revision, request) = steps[i];
            let d = Delivery { channel: &channel, ota_reservation_id: "X1", revision, action, request, moving: false };
            let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
            match deliver(&mut inv, &p, d, &history, ours.clone(), || format!("R{n}"), now()).expect("decided") {
                Delivered::Replay { .. } => {}
                Delivered::Record { outcome, reservation_id, change } => {
                    if let Some(change) = change {
                        ours = Some(change.reservation);
                    }
                    history.push(record(action, revision, reservation_id, outcome));
                }
            }
        }
        let sold = StayRange::new(date(2027, 3, 1), date(2027, 3, 31))
            .unwrap()
            .night_dates()
            .days()
            .map(|d| pending.inventory_day(&c, d).sold)
            .collect();
        (ours.map(|r| (r.status, r.check_in, r.check_out)), sold)
    }

    proptest! {
        /// Deliveries of one OTA booking in any order, any of them repeated,
        /// end the same: the booking as the newest revision says, and the
        /// calendar holding exactly its nights (none once cancelled).
        #[test]
        fn deliveries_end_the_same_in_any_order(
            order in Just(vec![0usize, 1, 2]).prop_shuffle(),
            repeats in proptest::collection::vec((0usize..3, 0usize..6), 0..4),
        ) {
            let mut order = order;
            for (which, at) in repeats {
                order.insert(at.min(order.len()), which);
            }
            let (end, sold) = run_deliveries(&order);
            let (all_in_order, sold_in_order) = run_deliveries(&[0, 1, 2]);
            prop_assert_eq!(end.map(|e| e.0), Some(ReservationStatus::Cancelled), "{:?}", order);
            prop_assert_eq!(all_in_order.map(|e| e.0), Some(ReservationStatus::Cancelled));
            prop_assert!(sold.iter().all(|s| *s == 0), "{:?}: {:?}", order, sold);
            prop_assert_eq!(sold, sold_in_order);
        }

        /// Without the cancellation: the newest stay wins whatever the order.
        #[test]
        fn the_newest_revision_wins_in_any_order(first_new in any::<bool>(), repeat in 0usize..2) {
            let mut order = if first_new { vec![0, 1] } else { vec![1, 0] };
            order.push(repeat);
            let (end, sold) = run_deliveries(&order);
            prop_assert_eq!(end, Some((ReservationStatus::Confirmed, date(2027, 3, 11), date(2027, 3, 14))), "{:?}", order);
            let held: Vec<u16> = (1..=30).map(|d| u16::from((11..14).contains(&d))).collect();
            prop_assert_eq!(sold, held);
        }
    }

    fn lifecycle_deliver(
        inv: &mut Inventory<'_>,
        p: &Property,
        d: Delivery<'_>,
        history: &[InboundRecord],
        existing: Option<Reservation>,
    ) -> Delivered {
        deliver(inv, p, d, history, existing, uuid_like, now()).expect("decided")
    }

    fn uuid_like() -> String {
        "NEW".into()
    }

    #[derive(Debug, Clone)]
    enum Step {
        Book { from: u8, nights: u8, ota: bool },
        Cancel(usize),
        Modify { which: usize, from: u8, nights: u8 },
        NoShow { which: usize, closed: u8 },
        CheckIn(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1u8..25, 1u8..5, any::<bool>()).prop_map(|(from, nights, ota)| Step::Book { from, nights, ota }),
            (0usize..8).prop_map(Step::Cancel),
            (0usize..8, 1u8..25, 1u8..5).prop_map(|(which, from, nights)| Step::Modify { which, from, nights }),
            (0usize..8, 1u8..28).prop_map(|(which, closed)| Step::NoShow { which, closed }),
            (0usize..8).prop_map(Step::CheckIn),
        ]
    }

    proptest! {
        /// Whatever the sequence of steps, each night's `sold` equals the
        /// bookings holding it (nothing is released twice or leaked), and
        /// every stored change is a new revision.
        #[test]
        fn sold_counts_follow_the_bookings(steps in proptest::collection::vec(step(), 1..40)) {
            let (c, p) = (cal(), property());
            let mut pending = CellChanges::default();
            let mut books: Vec<Reservation> = Vec::new();
            // The nights each booking holds, per its changes' taken/released.
            let mut held: std::collections::HashMap<String, Vec<Date>> = Default::default();
            for (i, s) in steps.into_iter().enumerate() {
                let mut inv = Inventory { cal: &c, pending: &mut pending, today: TODAY, auto_stop_sell_at: None };
                let change = match s {
                    Step::Book { from, nights, ota: is_ota } => {
                        let origin = if is_ota { ota(&p) } else { direct(&p) };
                        new(&mut inv, &origin, &req(from, from + nights), format!("R{i}"), now()).ok()
                    }
                    Step::Cancel(w) => books.get(w).cloned().and_then(|r| cancel(&mut inv, r, now()).ok().flatten()),
                    Step::Modify { which, from, nights } => books.get(which).cloned().map(|r| modify(&mut inv, r, &req(from, from + nights), now())),
                    Step::NoShow { which, closed } => books.get(which).cloned().and_then(|r| {
                        let closed = date(2027, 3, closed as i8);
                        mark_no_show(&mut inv, r, closed, closed.tomorrow().unwrap(), now())
                    }),
                    Step::CheckIn(w) => books.get(w).cloned().and_then(|r| check_in(r, None, r_check_in(&books, w), now()).ok()),
                };
                if let Some(change) = change {
                    let id = change.reservation.id.clone();
                    // A no-show keeps the nights before its release date
                    // sold (history); a modification that reinstates it
                    // takes its new nights on top of them.
                    let was_no_show = books.iter().any(|b| b.id == id && b.status == ReservationStatus::NoShow);
                    if was_no_show && change.reservation.is_active() {
                        if let Some(kept) = held.remove(&id) {
                            held.insert(format!("{id}@{i}"), kept);
                        }
                    }
                    let nights = held.entry(id).or_default();
                    for d in &change.released {
                        let at = nights.iter().position(|n| n == d);
                        prop_assert!(at.is_some(), "released {} it did not hold", d);
                        if let Some(at) = at {
                            nights.remove(at);
                        }
                    }
                    nights.extend(change.taken.iter().copied());
                    let res = change.reservation;
                    if res.is_active() {
                        let mut mine = nights.clone();
                        mine.sort();
                        prop_assert_eq!(mine, res.held_nights());
                    }
                    match books.iter_mut().find(|b| b.id == res.id) {
                        Some(b) => {
                            prop_assert!(res.revision > b.revision);
                            *b = res;
                        }
                        None => books.push(res),
                    }
                }
            }
            for d in StayRange::new(date(2027, 3, 1), date(2027, 3, 31)).unwrap().night_dates().days() {
                let holding = held.values().filter(|n| n.contains(&d)).count();
                prop_assert_eq!(sold(&c, &pending, d) as usize, holding, "{}", d);
            }
        }
    }

    fn r_check_in(books: &[Reservation], w: usize) -> Date {
        books[w].check_in
    }
}
