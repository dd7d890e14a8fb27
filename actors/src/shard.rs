//! InventoryShard: the only writer of one room type's calendar.
//!
//! Requests queue up in the shard's state and are evaluated together when a
//! `Flush` (which the shard sends itself behind them) comes round: every
//! request queued meanwhile goes into ONE store transaction (group commit).
//! Nothing is published to readers, nor answered, before that commit.

use crate::deps::Deps;
use crate::error::ShardError;
use crate::handle::CalendarView;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use saluran_domain::ari::{plan_changes, AriUpdate, CellChanges};
use saluran_domain::availability::{Overlay, Quote, Unavailable};
use saluran_domain::calendar::{RoomTypeCalendar, StopSellSource};
use saluran_domain::channel::{decide, InboundAction, InboundDecision, InboundRecord};
use saluran_domain::dates::calendar_window;
use saluran_domain::dates::DateRange;
use saluran_domain::ports::CommittedEvent;
use saluran_domain::property::Property;
use saluran_domain::property::{Room, RoomStatus};
use saluran_domain::reservation::{BookingRequest, NightlyRate, Reservation, ReservationStatus};
use saluran_domain::stay::StayRefusal;
use saluran_domain::store::{Conflict, NewEvent, RoomChange, ShardCommit, StoreError};
use saluran_domain::{ChannelCode, RoomNumber, RoomTypeCode};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// How often a commit is re-evaluated when another node keeps winning.
const MAX_CONFLICT_RETRIES: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AriApplied {
    pub cells: usize,
    pub version: i64,
}

/// A booking as the shard receives it.
#[derive(Debug, Clone)]
pub struct BookingCommand {
    pub request: BookingRequest,
    /// `direct` or a channel code.
    pub source: String,
    pub external_id: Option<String>,
    /// OTA bookings are never refused: past availability they are stored
    /// and flagged as overbookings (I2). Direct bookings are refused.
    pub allow_overbooking: bool,
}

/// Builds the OTA's acknowledgement for a delivery, given our reservation
/// id (the ack is stored with the delivery, so it must be known before the
/// commit).
pub type AckBuilder = Arc<dyn Fn(Option<&str>) -> String + Send + Sync>;

/// One OTA delivery (one room line of one revision), already mapped.
pub struct ChannelDelivery {
    pub channel: ChannelCode,
    pub ota_reservation_id: String,
    pub revision: String,
    pub action: InboundAction,
    /// The booking as the OTA states it (none for a cancellation).
    pub request: Option<BookingRequest>,
    pub ack: AckBuilder,
    /// This cancellation only moves the booking to another room type (a
    /// modification): it frees the rooms here but is not the OTA's
    /// cancellation, so it does not end the booking.
    pub moving: bool,
}

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub ack: String,
    pub reservation_id: Option<String>,
    /// `applied`, `overbooked`, `stale`, `replayed`.
    pub outcome: &'static str,
}

pub enum ShardMsg {
    Book {
        booking: BookingCommand,
        reply: RpcReplyPort<Result<Reservation, ShardError>>,
    },
    Cancel {
        id: String,
        reply: RpcReplyPort<Result<Reservation, ShardError>>,
    },
    /// Front desk: the guest arrived (`today` is the property-local date the
    /// rules are checked against; `room` the room given, if any).
    CheckIn {
        id: String,
        room: Option<RoomNumber>,
        today: jiff::civil::Date,
        reply: RpcReplyPort<Result<Reservation, ShardError>>,
    },
    /// Front desk: the guest left.
    CheckOut {
        id: String,
        reply: RpcReplyPort<Result<Reservation, ShardError>>,
    },
    /// Night audit: marks each of `ids` that is still a no-show after the
    /// closed business date `closed` (re-checked here against the stored
    /// reservation, so a repeated audit or a check-in that came first wins
    /// cleanly) and releases its nights from `release_from` on. Answers the
    /// reservations it marked.
    NoShows {
        ids: Vec<String>,
        closed: jiff::civil::Date,
        release_from: jiff::civil::Date,
        reply: RpcReplyPort<Result<Vec<Reservation>, ShardError>>,
    },
    /// An OTA booking delivery: new, modify or cancel, applied exactly once
    /// per (channel, OTA id, revision, action) and in any order (I1).
    Deliver {
        delivery: ChannelDelivery,
        reply: RpcReplyPort<Result<DeliveryOutcome, ShardError>>,
    },
    ApplyAri {
        updates: Vec<AriUpdate>,
        intent: Option<String>,
        reply: RpcReplyPort<Result<AriApplied, ShardError>>,
    },
    /// Housekeeping: room `number` (of this room type) becomes `status`;
    /// out of order on the dates `out_of_order` (required with that status).
    /// The room row and the calendar change in one commit, decided against
    /// the stored room: a repeated or concurrent request counts nothing twice.
    RoomStatus {
        number: RoomNumber,
        status: RoomStatus,
        out_of_order: Option<DateRange>,
        reply: RpcReplyPort<Result<Room, ShardError>>,
    },
    /// Re-reads the calendar from the store (after a setup change).
    Reload {
        reply: RpcReplyPort<Result<(), ShardError>>,
    },
    Flush,
    /// Fault injection for tests: the shard panics while handling it.
    #[cfg(feature = "fault-injection")]
    Panic,
}

enum Op {
    Book(BookingCommand, RpcReplyPort<Result<Reservation, ShardError>>),
    Cancel(String, RpcReplyPort<Result<Reservation, ShardError>>),
    CheckIn(String, Option<RoomNumber>, jiff::civil::Date, RpcReplyPort<Result<Reservation, ShardError>>),
    CheckOut(String, RpcReplyPort<Result<Reservation, ShardError>>),
    NoShows(Vec<String>, jiff::civil::Date, jiff::civil::Date, RpcReplyPort<Result<Vec<Reservation>, ShardError>>),
    Deliver(Box<ChannelDelivery>, RpcReplyPort<Result<DeliveryOutcome, ShardError>>),
    Ari(Vec<AriUpdate>, Option<String>, RpcReplyPort<Result<AriApplied, ShardError>>),
    Room(RoomNumber, RoomStatus, Option<DateRange>, RpcReplyPort<Result<Room, ShardError>>),
}

pub struct ShardArgs {
    pub property: Property,
    pub room_type: RoomTypeCode,
    pub view: CalendarView,
    pub deps: Deps,
    /// Told of every committed change (it feeds the channels).
    pub parent: Option<ActorRef<crate::property::PropertyMsg>>,
}

pub struct ShardState {
    parent: Option<ActorRef<crate::property::PropertyMsg>>,
    property: Property,
    room_type: RoomTypeCode,
    view: CalendarView,
    deps: Deps,
    queue: Vec<Op>,
    flush_scheduled: bool,
}

pub struct InventoryShard;

impl InventoryShard {
    pub fn actor_name(property: &str, room_type: &str) -> String {
        format!("shard:{property}:{room_type}")
    }
}

async fn load(state_deps: &Deps, property: &Property, room_type: &RoomTypeCode) -> Result<RoomTypeCalendar, StoreError> {
    let today = property.local_date(state_deps.clock.now());
    // Only the window: dates stored outside it (e.g. by older versions,
    // which materialized OTA stays in year 9999) are never loaded.
    let window = calendar_window(today);
    state_deps.store.load_calendar_until(&property.code, room_type, window.start(), window.end()).await
}

impl Actor for InventoryShard {
    type Msg = ShardMsg;
    type State = ShardState;
    type Arguments = ShardArgs;

    async fn pre_start(&self, _myself: ActorRef<ShardMsg>, args: ShardArgs) -> Result<ShardState, ActorProcessingErr> {
        // State is rebuilt from the store on every (re)start.
        let cal = load(&args.deps, &args.property, &args.room_type).await?;
        *args.view.write() = cal;
        Ok(ShardState {
            parent: args.parent,
            property: args.property,
            room_type: args.room_type,
            view: args.view,
            deps: args.deps,
            queue: Vec::new(),
            flush_scheduled: false,
        })
    }

    async fn post_stop(&self, _myself: ActorRef<ShardMsg>, state: &mut ShardState) -> Result<(), ActorProcessingErr> {
        // Graceful stop (drain): whatever was queued is committed and answered.
        flush(state).await;
        Ok(())
    }

    async fn handle(&self, myself: ActorRef<ShardMsg>, msg: ShardMsg, state: &mut ShardState) -> Result<(), ActorProcessingErr> {
        let op = match msg {
            ShardMsg::Book { booking, reply } => Op::Book(booking, reply),
            ShardMsg::Cancel { id, reply } => Op::Cancel(id, reply),
            ShardMsg::CheckIn { id, room, today, reply } => Op::CheckIn(id, room, today, reply),
            ShardMsg::CheckOut { id, reply } => Op::CheckOut(id, reply),
            ShardMsg::NoShows { ids, closed, release_from, reply } => Op::NoShows(ids, closed, release_from, reply),
            ShardMsg::Deliver { delivery, reply } => Op::Deliver(Box::new(delivery), reply),
            ShardMsg::RoomStatus { number, status, out_of_order, reply } => Op::Room(number, status, out_of_order, reply),
            ShardMsg::ApplyAri { updates, intent, reply } => Op::Ari(updates, intent, reply),
            ShardMsg::Flush => {
                state.flush_scheduled = false;
                flush(state).await;
                return Ok(());
            }
            ShardMsg::Reload { reply } => {
                flush(state).await;
                let r = load(&state.deps, &state.property, &state.room_type).await;
                let out = match r {
                    Ok(cal) => {
                        *state.view.write() = cal;
                        Ok(())
                    }
                    Err(e) => Err(ShardError::from(e)),
                };
                let _ = reply.send(out);
                return Ok(());
            }
            #[cfg(feature = "fault-injection")]
            ShardMsg::Panic => panic!("injected fault in shard {}", state.room_type),
        };
        state.queue.push(op);
        if state.queue.len() >= state.deps.max_group_commit {
            flush(state).await;
        } else if !state.flush_scheduled {
            state.flush_scheduled = true;
            myself.send_message(ShardMsg::Flush)?;
        }
        Ok(())
    }
}

/// The outcome of evaluating the queue against the committed calendar.
#[derive(Default)]
struct Evaluation {
    changes: CellChanges,
    reservations: Vec<Reservation>,
    events: Vec<NewEvent>,
    intents: Vec<String>,
    inbound: Vec<InboundRecord>,
    rooms: Vec<RoomChange>,
    /// Room-type date spans whose availability changed (for channels).
    results: Vec<OpResult>,
}

enum OpResult {
    Delivery(Result<DeliveryOutcome, ShardError>),
    Room(Result<Room, ShardError>),
    Reservation(Box<Result<Reservation, ShardError>>),
    Reservations(Result<Vec<Reservation>, ShardError>),
    Ari(Result<AriApplied, ShardError>),
}

async fn flush(state: &mut ShardState) {
    if state.queue.is_empty() {
        return;
    }
    let started = Instant::now();
    let ops = std::mem::take(&mut state.queue);
    let n_ops = ops.len();

    // Cancellations and front-desk changes need the reservation; read them
    // before evaluating. A read failure fails them all: deciding on a
    // missing read could release nights twice.
    let mut known = match prefetch_known(state, &ops).await {
        Ok(k) => k,
        Err(err) => {
            for op in ops {
                reply_err(op, err.clone());
            }
            return;
        }
    };

    // Deliveries need the booking's history and our reservation for it.
    let mut deliveries = match prefetch_deliveries(state, &ops).await {
        Ok(d) => d,
        Err(err) => {
            // Deciding without the history could apply a delivery twice:
            // answer everyone "retry" instead.
            for op in ops {
                reply_err(op, err.clone());
            }
            return;
        }
    };

    // Room status changes are decided against the stored room, not a cached
    // copy: the commit's compare-and-set on it then holds.
    let mut rooms = match prefetch_rooms(state, &ops).await {
        Ok(r) => r,
        Err(err) => {
            for op in ops {
                reply_err(op, err.clone());
            }
            return;
        }
    };

    let mut attempt = 0;
    let final_result: Result<(ShardCommit, Vec<OpResult>, i64, Vec<i64>), ShardError> = loop {
        attempt += 1;
        let eval = {
            let cal = state.view.read();
            evaluate(state, &cal, &ops, &known, &deliveries, &rooms)
        };
        // The evaluation moves into the commit: what the store writes is
        // what the view then installs, with no copy in between.
        let Evaluation { changes, reservations, events, intents, inbound, rooms: room_changes, results } = eval;
        let commit = ShardCommit {
            property: Some(state.property.code.clone()),
            room_type: Some(state.room_type.clone()),
            expected_version: state.view.read().version,
            changes,
            reservations,
            events,
            intents_done: intents,
            inbound,
            rooms: room_changes,
        };
        let nothing_to_write = commit.changes.is_empty()
            && commit.reservations.is_empty()
            && commit.events.is_empty()
            && commit.intents_done.is_empty()
            && commit.inbound.is_empty()
            && commit.rooms.is_empty();
        if nothing_to_write {
            let v = commit.expected_version;
            break Ok((commit, results, v, Vec::new()));
        }
        match state.deps.store.commit_shard(&commit).await {
            Ok(outcome) => break Ok((commit, results, outcome.version, outcome.event_seqs)),
            Err(StoreError::VersionConflict { .. }) if attempt < MAX_CONFLICT_RETRIES => {
                // Another node wrote this room type: re-read and decide again.
                metrics::counter!("saluran_shard_version_conflicts_total").increment(1);
                match load(&state.deps, &state.property, &state.room_type).await {
                    Ok(cal) => *state.view.write() = cal,
                    Err(e) => break Err(ShardError::from(e)),
                }
                // The reservations may have changed with the calendar (a
                // check-in or no-show on that node): read them again, after
                // the calendar, so they are at least as new as its version.
                match prefetch_known(state, &ops).await {
                    Ok(k) => known = k,
                    Err(e) => break Err(e),
                }
                match prefetch_rooms(state, &ops).await {
                    Ok(r) => rooms = r,
                    Err(e) => break Err(e),
                }
            }
            Err(StoreError::Conflict(why @ Conflict::RoomChanged { .. })) if attempt < MAX_CONFLICT_RETRIES => {
                // A room changed underneath (another node): re-read, decide again.
                tracing::info!(property = %state.property.code, room_type = %state.room_type, %why, "re-deciding room status changes");
                match prefetch_rooms(state, &ops).await {
                    Ok(r) => rooms = r,
                    Err(e) => break Err(e),
                }
            }
            Err(StoreError::Conflict(
                why @ (Conflict::CancelledMeanwhile { .. } | Conflict::BookingExists { .. } | Conflict::DuplicateDelivery { .. }),
            )) if attempt < MAX_CONFLICT_RETRIES && ops.iter().any(|o| matches!(o, Op::Deliver(..))) => {
                // A delivery changed underneath (e.g. the booking was
                // cancelled meanwhile): re-read the histories, decide again.
                tracing::info!(property = %state.property.code, room_type = %state.room_type, %why, "re-deciding OTA deliveries");
                match prefetch_deliveries(state, &ops).await {
                    Ok(d) => deliveries = d,
                    Err(e) => break Err(e),
                }
                match prefetch_known(state, &ops).await {
                    Ok(k) => known = k,
                    Err(e) => break Err(e),
                }
            }
            Err(e) => break Err(ShardError::from(e)),
        }
    };

    match final_result {
        Ok((commit, results, version, seqs)) => {
            {
                let mut cal = state.view.write();
                commit.changes.apply_to(&mut cal);
                cal.version = version;
            }
            if let (Some(parent), Some((from, to))) = (&state.parent, commit.changes.date_span()) {
                let urgent = commit.events.iter().any(|e| e.kind == "overbooking");
                let _ =
                    parent.send_message(crate::property::PropertyMsg::Committed { room_type: state.room_type.clone(), from, to, urgent });
            }
            for (ev, seq) in commit.events.into_iter().zip(seqs) {
                state.deps.publisher.publish(CommittedEvent {
                    property: state.property.code.clone(),
                    seq,
                    kind: ev.kind,
                    payload: ev.payload,
                });
            }
            for (op, result) in ops.into_iter().zip(results) {
                reply(op, Some(result));
            }
        }
        Err(e) => {
            tracing::warn!(property = %state.property.code, room_type = %state.room_type, error = %e, ops = n_ops, "shard commit failed; nothing applied");
            metrics::counter!("saluran_shard_commit_failures_total").increment(1);
            for op in ops {
                reply_err(op, e.clone());
            }
        }
    }
    metrics::histogram!("saluran_shard_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("saluran_shard_group_commit_ops").record(n_ops as f64);
}

fn reply(op: Op, result: Option<OpResult>) {
    match (op, result) {
        (Op::Book(_, r), Some(OpResult::Reservation(v)))
        | (Op::Cancel(_, r), Some(OpResult::Reservation(v)))
        | (Op::CheckIn(_, _, _, r), Some(OpResult::Reservation(v)))
        | (Op::CheckOut(_, r), Some(OpResult::Reservation(v))) => {
            let _ = r.send(*v);
        }
        (Op::NoShows(_, _, _, r), Some(OpResult::Reservations(v))) => {
            let _ = r.send(v);
        }
        (Op::Ari(_, _, r), Some(OpResult::Ari(v))) => {
            let _ = r.send(v);
        }
        (Op::Deliver(_, r), Some(OpResult::Delivery(v))) => {
            let _ = r.send(v);
        }
        (Op::Room(_, _, _, r), Some(OpResult::Room(v))) => {
            let _ = r.send(v);
        }
        (op, _) => reply_err(op, ShardError::Store("internal: result mismatch".into())),
    }
}

fn reply_err(op: Op, e: ShardError) {
    match op {
        Op::Book(_, r) | Op::Cancel(_, r) | Op::CheckIn(_, _, _, r) | Op::CheckOut(_, r) => {
            let _ = r.send(Err(e));
        }
        Op::NoShows(_, _, _, r) => {
            let _ = r.send(Err(e));
        }
        Op::Ari(_, _, r) => {
            let _ = r.send(Err(e));
        }
        Op::Deliver(_, r) => {
            let _ = r.send(Err(e));
        }
        Op::Room(_, _, _, r) => {
            let _ = r.send(Err(e));
        }
    }
}

type DeliveryContext = HashMap<(ChannelCode, String), (Vec<InboundRecord>, Option<Reservation>)>;

/// The stored reservations the queued cancellations and front-desk changes
/// act on, by id (`None`: no such reservation in this property).
type KnownReservations = HashMap<String, Option<Reservation>>;

async fn prefetch_known(state: &ShardState, ops: &[Op]) -> Result<KnownReservations, ShardError> {
    let mut known = KnownReservations::new();
    for op in ops {
        let ids: &[String] = match op {
            Op::Cancel(id, _) | Op::CheckIn(id, ..) | Op::CheckOut(id, _) => std::slice::from_ref(id),
            Op::NoShows(ids, ..) => ids,
            _ => &[],
        };
        for id in ids {
            if !known.contains_key(id) {
                let r = state.deps.store.find_reservation(&state.property.code, id).await?;
                known.insert(id.clone(), r);
            }
        }
    }
    Ok(known)
}

/// The reservation `id` as this evaluation sees it: as changed earlier in
/// the same group commit, else as stored; only if it is of this room type.
fn current(state: &ShardState, ev: &Evaluation, known: &KnownReservations, id: &str) -> Option<Reservation> {
    ev.reservations
        .iter()
        .rev()
        .find(|r| r.id == id)
        .cloned()
        .or_else(|| known.get(id).cloned().flatten())
        .filter(|r| r.room_type == state.room_type)
}

/// The stored rooms the queued room status changes act on, by number.
type KnownRooms = HashMap<RoomNumber, Option<Room>>;

async fn prefetch_rooms(state: &ShardState, ops: &[Op]) -> Result<KnownRooms, ShardError> {
    let mut out = KnownRooms::new();
    if !ops.iter().any(|o| matches!(o, Op::Room(..))) {
        return Ok(out);
    }
    let cfg = state.deps.store.load_config(&state.property.code).await?;
    let stored = cfg.map(|c| c.rooms).unwrap_or_default();
    for op in ops {
        if let Op::Room(number, ..) = op {
            out.insert(number.clone(), stored.iter().find(|r| &r.number == number).cloned());
        }
    }
    Ok(out)
}

async fn prefetch_deliveries(state: &ShardState, ops: &[Op]) -> Result<DeliveryContext, ShardError> {
    let mut out: DeliveryContext = HashMap::new();
    for op in ops {
        if let Op::Deliver(d, _) = op {
            let key = (d.channel.clone(), d.ota_reservation_id.clone());
            if out.contains_key(&key) {
                continue;
            }
            let store = &state.deps.store;
            let mut history = store.inbound_history(&state.property.code, &d.channel, &d.ota_reservation_id).await?;
            // A room line `ID#n` of a multi-room booking is also ended by a
            // cancellation of the whole booking `ID` recorded before it came.
            if let Some((base, _)) = d.ota_reservation_id.split_once('#') {
                let whole = store.inbound_history(&state.property.code, &d.channel, base).await?;
                history.extend(whole.into_iter().filter(|r| r.action == InboundAction::Cancel && r.reservation_id.is_none()));
            }
            let existing = store.find_reservation_by_external(&state.property.code, &d.channel, &d.ota_reservation_id).await?;
            out.insert(key, (history, existing));
        }
    }
    Ok(out)
}

fn evaluate(
    state: &ShardState,
    cal: &RoomTypeCalendar,
    ops: &[Op],
    known: &KnownReservations,
    deliveries: &DeliveryContext,
    rooms: &KnownRooms,
) -> Evaluation {
    let mut ev = Evaluation::default();
    let now = state.deps.clock.now();
    for op in ops {
        match op {
            Op::Book(cmd, _) => {
                let r = book(state, cal, &mut ev, cmd, now);
                ev.results.push(OpResult::Reservation(Box::new(r)));
            }
            Op::Deliver(d, _) => {
                let r = deliver(state, cal, &mut ev, d, deliveries, now);
                ev.results.push(OpResult::Delivery(r));
            }
            Op::Room(number, status, range, _) => {
                let r = room_status(state, cal, &mut ev, rooms, number, *status, *range);
                ev.results.push(OpResult::Room(r));
            }
            Op::CheckIn(id, room, today, _) => {
                let r = crate::front_desk::check_in(current(state, &ev, known, id), id, room.clone(), *today, &mut ev.events, now);
                if let Ok(res) = &r {
                    ev.reservations.push(res.clone());
                }
                ev.results.push(OpResult::Reservation(Box::new(r)));
            }
            Op::CheckOut(id, _) => {
                let r = crate::front_desk::check_out(current(state, &ev, known, id), id, &mut ev.events, now);
                if let Ok(res) = &r {
                    ev.reservations.push(res.clone());
                }
                ev.results.push(OpResult::Reservation(Box::new(r)));
            }
            Op::NoShows(ids, closed, release_from, _) => {
                let mut marked = Vec::new();
                for id in ids {
                    let Some(mut res) = current(state, &ev, known, id) else { continue };
                    // Checked in, cancelled, already marked, or moved to a
                    // later arrival since the audit listed it: not a no-show.
                    if !res.is_no_show_after(*closed) {
                        continue;
                    }
                    let released = res.nights_from(*release_from);
                    for d in &released {
                        let mut inv = ev.changes.inventory_day(cal, *d);
                        inv.sold = inv.sold.saturating_sub(1);
                        ev.changes.inventory.insert(*d, inv);
                    }
                    res.status = ReservationStatus::NoShow;
                    res.revision += 1;
                    res.updated_at = now;
                    ev.events.push(NewEvent {
                        kind: "booking.no_show".into(),
                        payload: json!({
                            "reservation": res.id, "room_type": res.room_type, "check_in": res.check_in,
                            "check_out": res.check_out, "source": res.source, "external_id": res.external_id,
                            "business_date": closed, "released_from": release_from, "nights_released": released.len(),
                        }),
                    });
                    ev.reservations.push(res.clone());
                    marked.push(res);
                }
                ev.results.push(OpResult::Reservations(Ok(marked)));
            }
            Op::Cancel(id, _) => {
                let r = match current(state, &ev, known, id) {
                    None => Err(ShardError::ReservationNotFound(id.clone())),
                    Some(res) if res.status == ReservationStatus::Cancelled => Ok(res),
                    // A no-show's future nights are released already; an
                    // in-house guest's booking is ended by check-out.
                    Some(res) if res.status == ReservationStatus::NoShow => Err(StayRefusal::NoShow.into()),
                    Some(res) if res.checked_in_at.is_some() => Err(StayRefusal::AlreadyCheckedIn.into()),
                    Some(mut res) => {
                        release_nights(cal, &mut ev, &res);
                        res.status = ReservationStatus::Cancelled;
                        res.revision += 1;
                        res.updated_at = now;
                        ev.events.push(NewEvent {
                            kind: "booking.cancelled".into(),
                            payload: json!({
                                "reservation": res.id, "room_type": res.room_type, "check_in": res.check_in,
                                "check_out": res.check_out, "source": res.source,
                            }),
                        });
                        ev.reservations.push(res.clone());
                        Ok(res)
                    }
                };
                ev.results.push(OpResult::Reservation(Box::new(r)));
            }
            Op::Ari(updates, intent, _) => {
                let changes = plan_changes(cal, updates, &ev.changes);
                let cells = changes.inventory.len() + changes.rates.len();
                if let Some((from, to)) = changes.date_span() {
                    ev.events.push(NewEvent {
                        kind: "ari.changed".into(),
                        payload: json!({"room_type": state.room_type, "from": from, "to": to, "cells": cells}),
                    });
                }
                ev.changes.extend(changes);
                if let Some(i) = intent {
                    ev.intents.push(i.clone());
                }
                // The version is filled in by the caller's view after commit.
                ev.results.push(OpResult::Ari(Ok(AriApplied { cells, version: cal.version + 1 })));
            }
        }
    }
    replenish(state, cal, &mut ev);
    ev
}

/// The dates a room holds out of order in the calendar: its stored range,
/// or for a room out of order since before ranges were stored, today to the
/// end of the horizon (what it was counted on then).
fn held_out_of_order(room: &Room, today: jiff::civil::Date) -> Option<DateRange> {
    if room.status != RoomStatus::OutOfOrder {
        return None;
    }
    room.out_of_order.or_else(|| {
        let w = calendar_window(today);
        DateRange::new(today, w.end()).ok()
    })
}

/// A room status change: the room row (compare-and-set on the stored room)
/// and its out-of-order dates, decided together. Releasing the dates the
/// room held and taking the new ones makes a repeated request a no-op and
/// a changed range move exactly the difference.
fn room_status(
    state: &ShardState,
    cal: &RoomTypeCalendar,
    ev: &mut Evaluation,
    rooms: &KnownRooms,
    number: &RoomNumber,
    status: RoomStatus,
    range: Option<DateRange>,
) -> Result<Room, ShardError> {
    let current = ev
        .rooms
        .iter()
        .rev()
        .find(|c| &c.room.number == number)
        .map(|c| c.room.clone())
        .or_else(|| rooms.get(number).cloned().flatten())
        .filter(|r| r.room_type == state.room_type)
        .ok_or_else(|| ShardError::Invalid(saluran_domain::DomainError::invalid("room", "unknown room")))?;
    if !current.status.can_become(status) {
        return Err(ShardError::Invalid(saluran_domain::DomainError::InvalidTransition(
            current.status.as_str().into(),
            status.as_str().into(),
        )));
    }
    let today = state.property.local_date(state.deps.clock.now());
    let window = calendar_window(today);
    let new_range = match (status, range) {
        (RoomStatus::OutOfOrder, Some(r)) => Some(r),
        (RoomStatus::OutOfOrder, None) => {
            return Err(saluran_domain::DomainError::invalid("from", "out of order needs its dates").into());
        }
        (_, Some(_)) => return Err(saluran_domain::DomainError::invalid("from", "dates go with out_of_order only").into()),
        (_, None) => None,
    };
    let next = Room { status, out_of_order: new_range, ..current.clone() };
    if next == current {
        // Repeated request: already so, nothing to count again.
        return Ok(current);
    }
    let old_held = held_out_of_order(&current, today);
    let physical = i32::from(cal.room_type.physical_rooms);
    let mut touched: Option<(jiff::civil::Date, jiff::civil::Date)> = None;
    let mut bump = |ev: &mut Evaluation, r: DateRange, delta: i32| {
        // Only the materialized window: past dates are history.
        let Ok(r) = DateRange::new(r.start().max(window.start()), r.end().min(window.end())) else { return };
        for d in r.days() {
            let mut inv = ev.changes.inventory_day(cal, d);
            inv.out_of_order = (i32::from(inv.out_of_order) + delta).clamp(0, physical) as u16;
            ev.changes.inventory.insert(d, inv);
        }
        touched = Some(match touched {
            None => (r.start(), r.end()),
            Some((a, b)) => (a.min(r.start()), b.max(r.end())),
        });
    };
    if let Some(r) = old_held {
        bump(ev, r, -1);
    }
    if let Some(r) = held_out_of_order(&next, today) {
        bump(ev, r, 1);
    }
    if let Some((from, to)) = touched {
        ev.events.push(NewEvent {
            kind: "ari.changed".into(),
            payload: json!({"room_type": state.room_type, "from": from, "to": to, "reason": "out_of_order", "room": number}),
        });
    }
    tracing::info!(
        property = %state.property.code, room = %number, from = current.status.as_str(), to = status.as_str(),
        out_of_order = ?new_range, "room status"
    );
    ev.rooms.push(RoomChange { expected: current, room: next.clone() });
    Ok(next)
}

/// Auto-replenish: every date this evaluation changed that saluran itself
/// closed (overbooking, auto threshold) and that has rooms again is opened,
/// in the same commit; the channels are told of it with the other changed
/// dates. A person's stop-sell is never lifted.
fn replenish(state: &ShardState, cal: &RoomTypeCalendar, ev: &mut Evaluation) {
    let physical = cal.room_type.physical_rooms;
    let mut lifted = Vec::new();
    for (d, inv) in ev.changes.inventory.iter_mut() {
        let source = inv.closed_by();
        if inv.replenish(physical, state.deps.auto_stop_sell_at) {
            lifted.push((*d, source));
        }
    }
    if lifted.is_empty() {
        return;
    }
    metrics::counter!("saluran_stop_sells_lifted_total").increment(lifted.len() as u64);
    tracing::info!(property = %state.property.code, room_type = %state.room_type, dates = lifted.len(), "lifting automatic stop-sells");
    ev.events.push(NewEvent {
        kind: "stop_sell.lifted".into(),
        payload: json!({
            "room_type": state.room_type,
            "dates": lifted.iter().map(|(d, s)| json!({"date": d, "source": s.as_str()})).collect::<Vec<_>>(),
        }),
    });
}

fn book(
    state: &ShardState,
    cal: &RoomTypeCalendar,
    ev: &mut Evaluation,
    cmd: &BookingCommand,
    now: jiff::Timestamp,
) -> Result<Reservation, ShardError> {
    book_with_id(state, cal, ev, cmd, uuid::Uuid::now_v7().to_string(), now)
}

/// Takes one room on every night of the stay; for OTA bookings past
/// availability, flags the overbooking and closes the oversold nights
/// (stop-sell, pushed to every channel at once: I2).
fn take_nights(state: &ShardState, cal: &RoomTypeCalendar, ev: &mut Evaluation, req: &BookingRequest, close_when_oversold: bool) -> Taken {
    let threshold = state.deps.auto_stop_sell_at;
    let today = state.property.local_date(state.deps.clock.now());
    let inside = req.stay.nights_within(calendar_window(today));
    let outside_horizon = inside != Some(req.stay.night_dates());
    let mut overbooked = false;
    for d in inside.iter().flat_map(|r| r.days()) {
        let mut inv = ev.changes.inventory_day(cal, d);
        inv.sold = inv.sold.saturating_add(1);
        let available = inv.available(cal.room_type.physical_rooms);
        if available < 0 {
            overbooked = true;
            if close_when_oversold {
                inv.close(StopSellSource::Overbooking);
            }
        }
        // Auto stop-sell: close the date on every channel once availability
        // falls to the configured threshold.
        if threshold.is_some_and(|t| available <= t) && !inv.stop_sell {
            inv.close(StopSellSource::AutoThreshold);
            metrics::counter!("saluran_auto_stop_sells_total").increment(1);
        }
        ev.changes.inventory.insert(d, inv);
    }
    Taken { overbooked, outside_horizon, calendar_nights: if outside_horizon { inside } else { None } }
}

/// What `take_nights` did.
struct Taken {
    overbooked: bool,
    /// Some nights were outside the calendar window: not materialized.
    outside_horizon: bool,
    /// With `outside_horizon`, the nights taken (if any).
    calendar_nights: Option<saluran_domain::dates::DateRange>,
}

impl Taken {
    fn mark(&self, res: &mut Reservation) {
        res.overbooked = self.overbooked;
        res.outside_horizon = self.outside_horizon;
        res.calendar_nights = self.calendar_nights;
    }
}

/// Alerts a booking with nights outside the calendar window (event, metric,
/// log); the flag is on the reservation.
fn alert_outside_horizon(state: &ShardState, ev: &mut Evaluation, res: &Reservation) {
    if !res.outside_horizon {
        return;
    }
    let held = res.held_nights().len();
    let nights = res.stay().nights();
    metrics::counter!("saluran_bookings_outside_horizon_total").increment(1);
    tracing::warn!(
        property = %state.property.code, room_type = %res.room_type, reservation = %res.id, source = %res.source,
        check_in = %res.check_in, check_out = %res.check_out, nights_held = held,
        "booking with nights outside the calendar horizon: kept on the booking, not in the calendar"
    );
    ev.events.push(NewEvent {
        kind: "booking.outside_horizon".into(),
        payload: json!({
            "reservation": res.id, "room_type": res.room_type, "check_in": res.check_in, "check_out": res.check_out,
            "source": res.source, "external_id": res.external_id, "nights": nights, "nights_held": held,
            "nights_outside": nights - held as i64, "calendar_nights": res.calendar_nights,
        }),
    });
}

fn release_nights(cal: &RoomTypeCalendar, ev: &mut Evaluation, res: &Reservation) {
    for d in res.held_nights() {
        let mut inv = ev.changes.inventory_day(cal, d);
        inv.sold = inv.sold.saturating_sub(1);
        ev.changes.inventory.insert(d, inv);
    }
}

fn book_with_id(
    state: &ShardState,
    cal: &RoomTypeCalendar,
    ev: &mut Evaluation,
    cmd: &BookingCommand,
    id: String,
    now: jiff::Timestamp,
) -> Result<Reservation, ShardError> {
    let req = &cmd.request;
    let overlay = Overlay { cal, pending: Some(&ev.changes) };
    let quote: Quote = match overlay.quote(&req.rate_plan, req.stay, req.adults, 1) {
        Ok(q) => q,
        Err(Unavailable::UnknownRatePlan) => return Err(ShardError::Unavailable(Unavailable::UnknownRatePlan)),
        Err(why) if !cmd.allow_overbooking => return Err(ShardError::Unavailable(why)),
        Err(_) => lenient_quote(&overlay, req),
    };
    let taken = take_nights(state, cal, ev, req, cmd.allow_overbooking);
    let overbooked = taken.overbooked;
    let mut res = Reservation {
        id,
        property: state.property.code.clone(),
        room_type: req.room_type.clone(),
        rate_plan: req.rate_plan.clone(),
        check_in: req.stay.check_in,
        check_out: req.stay.check_out,
        adults: req.adults,
        guest_name: req.guest_name.clone(),
        status: ReservationStatus::Confirmed,
        currency: state.property.currency,
        total: quote.total,
        nightly: quote.nightly,
        source: cmd.source.clone(),
        external_id: cmd.external_id.clone(),
        revision: 1,
        overbooked,
        created_at: now,
        updated_at: now,
        checked_in_at: None,
        checked_out_at: None,
        room: None,
        outside_horizon: false,
        calendar_nights: None,
    };
    taken.mark(&mut res);
    ev.events.push(NewEvent {
        kind: "booking.created".into(),
        payload: json!({
            "reservation": res.id, "room_type": res.room_type, "rate_plan": res.rate_plan,
            "check_in": res.check_in, "check_out": res.check_out, "source": res.source,
            "overbooked": overbooked, "total": res.total.to_string(),
        }),
    });
    if overbooked {
        metrics::counter!("saluran_overbookings_total").increment(1);
        ev.events.push(NewEvent {
            kind: "overbooking".into(),
            payload: json!({"reservation": res.id, "room_type": res.room_type, "check_in": res.check_in, "check_out": res.check_out}),
        });
    }
    alert_outside_horizon(state, ev, &res);
    ev.reservations.push(res.clone());
    Ok(res)
}

/// Prices an OTA booking that breaks a rule: the OTA has sold it already,
/// so we keep whatever rate we have (zero where none is set).
fn lenient_quote(overlay: &Overlay<'_>, req: &BookingRequest) -> Quote {
    let cal = overlay.cal;
    let mut nightly = Vec::new();
    let mut total = rust_decimal::Decimal::ZERO;
    for d in req.stay.night_dates().days() {
        let rate = cal.effective(&req.rate_plan, d).and_then(|e| e.price_for(req.adults)).unwrap_or_default();
        total += rate;
        nightly.push(NightlyRate { date: d, rate });
    }
    Quote { room_type: req.room_type.clone(), rate_plan: req.rate_plan.clone(), available: 0, nightly, total }
}

fn quote_leniently(cal: &RoomTypeCalendar, ev: &Evaluation, req: &BookingRequest) -> Quote {
    let overlay = Overlay { cal, pending: Some(&ev.changes) };
    overlay.quote(&req.rate_plan, req.stay, req.adults, i32::MIN).unwrap_or_else(|_| lenient_quote(&overlay, req))
}

/// Applies one OTA delivery in the order-independent way of
/// `saluran_domain::channel::decide`.
fn deliver(
    state: &ShardState,
    cal: &RoomTypeCalendar,
    ev: &mut Evaluation,
    d: &ChannelDelivery,
    ctx: &DeliveryContext,
    now: jiff::Timestamp,
) -> Result<DeliveryOutcome, ShardError> {
    let key = (d.channel.clone(), d.ota_reservation_id.clone());
    let (stored_history, stored_res) = ctx.get(&key).cloned().unwrap_or_default();
    let mut history = stored_history;
    history.extend(ev.inbound.iter().filter(|r| r.channel == d.channel && r.ota_reservation_id == d.ota_reservation_id).cloned());
    let existing = ev
        .reservations
        .iter()
        .rev()
        .find(|r| r.source == d.channel.as_str() && r.external_id.as_deref() == Some(d.ota_reservation_id.as_str()))
        .cloned()
        .or(stored_res);
    let record = |outcome: &str, reservation_id: Option<String>, ack: &str| InboundRecord {
        property: state.property.code.clone(),
        channel: d.channel.clone(),
        ota_reservation_id: d.ota_reservation_id.clone(),
        revision: d.revision.clone(),
        action: d.action,
        reservation_id,
        outcome: outcome.to_owned(),
        ack: ack.to_owned(),
        received_at: now,
    };
    let request = || -> Result<&BookingRequest, ShardError> {
        let req = d.request.as_ref().ok_or_else(|| saluran_domain::DomainError::invalid("booking", "a booking without a room"))?;
        if req.room_type != state.room_type {
            return Err(saluran_domain::DomainError::invalid("room_type", "delivered to the wrong inventory shard").into());
        }
        Ok(req)
    };
    let outcome = match decide(&history, d.action, &d.revision, &state.property.tz()) {
        InboundDecision::Replay(ack) => {
            return Ok(DeliveryOutcome { ack, reservation_id: existing.map(|r| r.id), outcome: "replayed" });
        }
        InboundDecision::Stale => {
            let id = existing.as_ref().map(|r| r.id.clone());
            let ack = (d.ack)(id.as_deref());
            ev.inbound.push(record("stale", id.clone(), &ack));
            DeliveryOutcome { ack, reservation_id: id, outcome: "stale" }
        }
        InboundDecision::Create => {
            let req = request()?.clone();
            let cmd = BookingCommand {
                request: req,
                source: d.channel.to_string(),
                external_id: Some(d.ota_reservation_id.clone()),
                allow_overbooking: true,
            };
            let res = book_with_id(state, cal, ev, &cmd, uuid::Uuid::now_v7().to_string(), now)?;
            let ack = (d.ack)(Some(&res.id));
            let outcome = if res.overbooked { "overbooked" } else { "applied" };
            ev.inbound.push(record(outcome, Some(res.id.clone()), &ack));
            DeliveryOutcome { ack, reservation_id: Some(res.id), outcome }
        }
        InboundDecision::CreateCancelled => {
            let req = request()?.clone();
            let quote = quote_leniently(cal, ev, &req);
            let res = Reservation {
                id: uuid::Uuid::now_v7().to_string(),
                property: state.property.code.clone(),
                room_type: req.room_type.clone(),
                rate_plan: req.rate_plan.clone(),
                check_in: req.stay.check_in,
                check_out: req.stay.check_out,
                adults: req.adults,
                guest_name: req.guest_name.clone(),
                status: ReservationStatus::Cancelled,
                currency: state.property.currency,
                total: quote.total,
                nightly: quote.nightly,
                source: d.channel.to_string(),
                external_id: Some(d.ota_reservation_id.clone()),
                revision: 1,
                overbooked: false,
                created_at: now,
                updated_at: now,
                checked_in_at: None,
                checked_out_at: None,
                room: None,
                // Stored cancelled: it holds no night, in or out of the window.
                outside_horizon: false,
                calendar_nights: None,
            };
            let ack = (d.ack)(Some(&res.id));
            ev.inbound.push(record("applied", Some(res.id.clone()), &ack));
            ev.reservations.push(res.clone());
            DeliveryOutcome { ack, reservation_id: Some(res.id), outcome: "applied" }
        }
        InboundDecision::Modify => {
            let req = request()?.clone();
            let Some(mut res) = existing else {
                return Err(ShardError::ReservationNotFound(d.ota_reservation_id.clone()));
            };
            // A no-show's or cancelled booking's nights are released already:
            // a modification reinstates it on its new dates, taking only those.
            let reinstated = !res.is_active();
            if res.is_active() {
                release_nights(cal, ev, &res);
            }
            let quote = quote_leniently(cal, ev, &req);
            let taken = take_nights(state, cal, ev, &req, true);
            let overbooked = taken.overbooked;
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
            res.revision += 1;
            res.updated_at = now;
            ev.events.push(NewEvent {
                kind: "booking.modified".into(),
                payload: json!({"reservation": res.id, "room_type": res.room_type, "check_in": res.check_in, "check_out": res.check_out, "source": res.source, "overbooked": overbooked, "reinstated": reinstated}),
            });
            if overbooked {
                metrics::counter!("saluran_overbookings_total").increment(1);
                ev.events.push(NewEvent {
                    kind: "overbooking".into(),
                    payload: json!({"reservation": res.id, "room_type": res.room_type, "check_in": res.check_in, "check_out": res.check_out}),
                });
            }
            alert_outside_horizon(state, ev, &res);
            let ack = (d.ack)(Some(&res.id));
            let outcome = if overbooked { "overbooked" } else { "applied" };
            ev.inbound.push(record(outcome, Some(res.id.clone()), &ack));
            ev.reservations.push(res.clone());
            DeliveryOutcome { ack, reservation_id: Some(res.id), outcome }
        }
        InboundDecision::Cancel => {
            let id = match existing {
                Some(mut res) => {
                    if res.is_active() {
                        release_nights(cal, ev, &res);
                        res.status = ReservationStatus::Cancelled;
                        res.revision += 1;
                        res.updated_at = now;
                        ev.events.push(NewEvent {
                            kind: "booking.cancelled".into(),
                            payload: json!({"reservation": res.id, "room_type": res.room_type, "check_in": res.check_in, "check_out": res.check_out, "source": res.source}),
                        });
                        ev.reservations.push(res.clone());
                    }
                    Some(res.id)
                }
                // Cancelled before we ever saw it: remembered, so a late
                // delivery of the booking is stored cancelled.
                None => None,
            };
            let ack = (d.ack)(id.as_deref());
            ev.inbound.push(record(if d.moving { "moved" } else { "applied" }, id.clone(), &ack));
            DeliveryOutcome { ack, reservation_id: id, outcome: "applied" }
        }
    };
    Ok(outcome)
}
