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
use crate::events::{
    BookingCreated, BookingModified, BookingNoShow, BookingOutsideHorizon, BookingRef, BookingStay, DomainEvent, Overbooking,
};
use crate::property::Property;
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
        reservation: res.id.clone(),
        room_type: res.room_type.clone(),
        check_in: res.check_in,
        check_out: res.check_out,
        source: res.source.clone(),
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
        reservation: res.id.clone(),
        room_type: res.room_type.clone(),
        rate_plan: res.rate_plan.clone(),
        check_in: res.check_in,
        check_out: res.check_out,
        source: res.source.clone(),
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
    let mut events = vec![DomainEvent::BookingModified(BookingModified {
        reservation: res.id.clone(),
        room_type: res.room_type.clone(),
        check_in: res.check_in,
        check_out: res.check_out,
        source: res.source.clone(),
        overbooked: res.overbooked,
        reinstated,
    })];
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
        reservation: res.id.clone(),
        room_type: res.room_type.clone(),
        check_in: res.check_in,
        check_out: res.check_out,
        source: res.source.clone(),
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
    Record { outcome: InboundOutcome, reservation_id: Option<String>, change: Option<Change> },
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
        Delivered::Record { outcome, reservation_id, change }
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
