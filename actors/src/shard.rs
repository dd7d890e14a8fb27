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
use saluran_domain::calendar::RoomTypeCalendar;
use saluran_domain::channel::{InboundAction, InboundOutcome, InboundRecord};
use saluran_domain::dates::calendar_window;
use saluran_domain::dates::DateRange;
use saluran_domain::events::{AriCause, AriChanged, DomainEvent, EventKind};
use saluran_domain::lifecycle::{self, Change, Delivered, DeliveryRefusal, Inventory, Origin};
use saluran_domain::ports::CommittedEvent;
use saluran_domain::property::Property;
use saluran_domain::property::{Room, RoomStatus};
use saluran_domain::reservation::{BookingRequest, Reservation};
use saluran_domain::store::{Conflict, NewEvent, RoomChange, ShardCommit, StoreError};
use saluran_domain::{ChannelCode, RoomNumber, RoomTypeCode};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

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
    /// `Applied`, `Overbooked`, `Stale` or `Replayed`.
    pub outcome: InboundOutcome,
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
    /// A request let in by the shard's bounded ingress (`PropertyHandle::
    /// call_shard`): its permit is held until the request is answered (or
    /// dropped with the actor), so at most the ingress limit of requests
    /// wait in the mailbox and the queue.
    Admitted {
        msg: Box<ShardMsg>,
        permit: OwnedSemaphorePermit,
    },
    /// Fault injection for tests: the shard panics while handling it.
    #[cfg(feature = "fault-injection")]
    Panic,
}

/// A queued request: what was asked, who waits for the answer, and the
/// answer once the queue is evaluated (set again by each re-evaluation).
/// Each request carries its own reply port and answer, so answers can never
/// be matched to the wrong request.
struct Pending<C, T> {
    command: C,
    reply: RpcReplyPort<Result<T, ShardError>>,
    answer: Option<Result<T, ShardError>>,
    /// The bounded ingress's permit, released when the request is answered.
    _permit: Option<OwnedSemaphorePermit>,
}

impl<C, T> Pending<C, T> {
    fn new(command: C, reply: RpcReplyPort<Result<T, ShardError>>, permit: Option<OwnedSemaphorePermit>) -> Self {
        Pending { command, reply, answer: None, _permit: permit }
    }
    fn send(self) {
        let answer = self.answer.unwrap_or_else(|| Err(ShardError::Store("internal: request not evaluated".into())));
        let _ = self.reply.send(answer);
    }
    fn fail(self, e: ShardError) {
        let _ = self.reply.send(Err(e));
    }
}

struct CheckInCommand {
    id: String,
    room: Option<RoomNumber>,
    today: jiff::civil::Date,
}

struct NoShowsCommand {
    ids: Vec<String>,
    closed: jiff::civil::Date,
    release_from: jiff::civil::Date,
}

struct AriCommand {
    updates: Vec<AriUpdate>,
    intent: Option<String>,
}

struct RoomCommand {
    number: RoomNumber,
    status: RoomStatus,
    out_of_order: Option<DateRange>,
}

/// A message that is not a request: handled at once, never queued.
enum Control {
    Flush,
    Reload(RpcReplyPort<Result<(), ShardError>>),
    #[cfg(feature = "fault-injection")]
    Panic,
    Ignored,
}

enum Op {
    Book(Pending<BookingCommand, Reservation>),
    /// By reservation id.
    Cancel(Pending<String, Reservation>),
    CheckIn(Pending<CheckInCommand, Reservation>),
    /// By reservation id.
    CheckOut(Pending<String, Reservation>),
    NoShows(Pending<NoShowsCommand, Vec<Reservation>>),
    Deliver(Pending<Box<ChannelDelivery>, DeliveryOutcome>),
    Ari(Pending<AriCommand, AriApplied>),
    Room(Pending<RoomCommand, Room>),
}

/// Runs `$body` with `$p` bound to the `Pending` of whatever kind `$op` is.
macro_rules! each_pending {
    ($op:expr, $p:ident => $body:expr) => {
        match $op {
            Op::Book($p) => $body,
            Op::Cancel($p) => $body,
            Op::CheckIn($p) => $body,
            Op::CheckOut($p) => $body,
            Op::NoShows($p) => $body,
            Op::Deliver($p) => $body,
            Op::Ari($p) => $body,
            Op::Room($p) => $body,
        }
    };
}

impl Op {
    /// The request as queued, or `Err` with a message that is not one
    /// (flush, reload, fault injection).
    fn of(msg: ShardMsg, permit: Option<OwnedSemaphorePermit>) -> Result<Op, Control> {
        Ok(match msg {
            ShardMsg::Book { booking, reply } => Op::Book(Pending::new(booking, reply, permit)),
            ShardMsg::Cancel { id, reply } => Op::Cancel(Pending::new(id, reply, permit)),
            ShardMsg::CheckIn { id, room, today, reply } => Op::CheckIn(Pending::new(CheckInCommand { id, room, today }, reply, permit)),
            ShardMsg::CheckOut { id, reply } => Op::CheckOut(Pending::new(id, reply, permit)),
            ShardMsg::NoShows { ids, closed, release_from, reply } => {
                Op::NoShows(Pending::new(NoShowsCommand { ids, closed, release_from }, reply, permit))
            }
            ShardMsg::Deliver { delivery, reply } => Op::Deliver(Pending::new(Box::new(delivery), reply, permit)),
            ShardMsg::RoomStatus { number, status, out_of_order, reply } => {
                Op::Room(Pending::new(RoomCommand { number, status, out_of_order }, reply, permit))
            }
            ShardMsg::ApplyAri { updates, intent, reply } => Op::Ari(Pending::new(AriCommand { updates, intent }, reply, permit)),
            ShardMsg::Flush => return Err(Control::Flush),
            ShardMsg::Reload { reply } => return Err(Control::Reload(reply)),
            #[cfg(feature = "fault-injection")]
            ShardMsg::Panic => return Err(Control::Panic),
            // Unwrapped by the caller; nested, it has nothing to do.
            ShardMsg::Admitted { .. } => return Err(Control::Ignored),
        })
    }
    fn send(self) {
        each_pending!(self, p => p.send())
    }
    fn fail(self, e: ShardError) {
        each_pending!(self, p => p.fail(e))
    }
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
        // A request admitted by the bounded ingress keeps its permit until
        // it is answered.
        let (mut msg, mut permit) = (msg, None);
        while let ShardMsg::Admitted { msg: inner, permit: p } = msg {
            permit = Some(p);
            msg = *inner;
        }
        let op = match Op::of(msg, permit) {
            Ok(op) => op,
            Err(Control::Flush) => {
                state.flush_scheduled = false;
                flush(state).await;
                return Ok(());
            }
            Err(Control::Reload(reply)) => {
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
            Err(Control::Panic) => panic!("injected fault in shard {}", state.room_type),
            Err(Control::Ignored) => return Ok(()),
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
    events: Vec<DomainEvent>,
    intents: Vec<String>,
    inbound: Vec<InboundRecord>,
    rooms: Vec<RoomChange>,
}

async fn flush(state: &mut ShardState) {
    if state.queue.is_empty() {
        return;
    }
    let started = Instant::now();
    let mut ops = std::mem::take(&mut state.queue);
    let n_ops = ops.len();

    // Cancellations and front-desk changes need the reservation; read them
    // before evaluating. A read failure fails them all: deciding on a
    // missing read could release nights twice.
    let mut known = match prefetch_known(state, &ops).await {
        Ok(k) => k,
        Err(err) => {
            for op in ops {
                op.fail(err.clone());
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
                op.fail(err.clone());
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
                op.fail(err.clone());
            }
            return;
        }
    };

    let mut attempt = 0;
    let final_result: Result<(ShardCommit, i64, Vec<i64>), ShardError> = loop {
        attempt += 1;
        let eval = {
            let cal = state.view.read();
            evaluate(state, &cal, &mut ops, &known, &deliveries, &rooms)
        };
        // The evaluation moves into the commit: what the store writes is
        // what the view then installs, with no copy in between. Events are
        // encoded here, once: the store writes and the publisher sends the
        // same payloads.
        let Evaluation { changes, reservations, events, intents, inbound, rooms: room_changes } = eval;
        let events: Vec<NewEvent> = events.iter().map(DomainEvent::encode).collect();
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
            break Ok((commit, v, Vec::new()));
        }
        match state.deps.store.commit_shard(&commit).await {
            Ok(outcome) => break Ok((commit, outcome.version, outcome.event_seqs)),
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
        Ok((commit, version, seqs)) => {
            {
                let mut cal = state.view.write();
                commit.changes.apply_to(&mut cal);
                cal.version = version;
            }
            if let (Some(parent), Some((from, to))) = (&state.parent, commit.changes.date_span()) {
                let urgent = commit.events.iter().any(|e| e.kind == EventKind::Overbooking);
                let _ =
                    parent.send_message(crate::property::PropertyMsg::Committed { room_type: state.room_type.clone(), from, to, urgent });
            }
            for (ev, seq) in commit.events.into_iter().zip(seqs) {
                state
                    .deps
                    .publisher
                    .publish(CommittedEvent { property: state.property.code.clone(), seq, kind: ev.kind, payload: ev.payload }.into());
            }
            for op in ops {
                op.send();
            }
        }
        Err(e) => {
            tracing::warn!(property = %state.property.code, room_type = %state.room_type, error = %e, ops = n_ops, "shard commit failed; nothing applied");
            metrics::counter!("saluran_shard_commit_failures_total").increment(1);
            for op in ops {
                op.fail(e.clone());
            }
        }
    }
    metrics::histogram!("saluran_shard_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("saluran_shard_group_commit_ops").record(n_ops as f64);
}

type DeliveryContext = HashMap<(ChannelCode, String), (Vec<InboundRecord>, Option<Reservation>)>;

/// The stored reservations the queued cancellations and front-desk changes
/// act on, by id (`None`: no such reservation in this property).
type KnownReservations = HashMap<String, Option<Reservation>>;

async fn prefetch_known(state: &ShardState, ops: &[Op]) -> Result<KnownReservations, ShardError> {
    let mut known = KnownReservations::new();
    for op in ops {
        let ids: &[String] = match op {
            Op::Cancel(p) | Op::CheckOut(p) => std::slice::from_ref(&p.command),
            Op::CheckIn(p) => std::slice::from_ref(&p.command.id),
            Op::NoShows(p) => &p.command.ids,
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
        if let Op::Room(p) = op {
            let number = &p.command.number;
            out.insert(number.clone(), stored.iter().find(|r| &r.number == number).cloned());
        }
    }
    Ok(out)
}

async fn prefetch_deliveries(state: &ShardState, ops: &[Op]) -> Result<DeliveryContext, ShardError> {
    let mut out: DeliveryContext = HashMap::new();
    for op in ops {
        if let Op::Deliver(p) = op {
            let d = &p.command;
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

/// The calendar the lifecycle rules book against: committed cells plus the
/// changes decided earlier in this evaluation.
fn inventory<'a>(state: &ShardState, cal: &'a RoomTypeCalendar, pending: &'a mut CellChanges, today: jiff::civil::Date) -> Inventory<'a> {
    Inventory { cal, pending, today, auto_stop_sell_at: state.deps.auto_stop_sell_at }
}

/// Takes a lifecycle change into the commit (reservation and events) and
/// counts and logs what operators watch. Answers the reservation.
fn take(state: &ShardState, ev: &mut Evaluation, change: Change) -> Reservation {
    if change.overbooked() {
        metrics::counter!("saluran_overbookings_total").increment(1);
    }
    if !change.auto_closed.is_empty() {
        metrics::counter!("saluran_auto_stop_sells_total").increment(change.auto_closed.len() as u64);
    }
    let res = change.reservation;
    if change.events.iter().any(|e| e.kind() == EventKind::BookingOutsideHorizon) {
        metrics::counter!("saluran_bookings_outside_horizon_total").increment(1);
        tracing::warn!(
            property = %state.property.code, room_type = %res.room_type, reservation = %res.id, source = %res.source,
            check_in = %res.check_in, check_out = %res.check_out, nights_held = res.held_nights().len(),
            "booking with nights outside the calendar horizon: kept on the booking, not in the calendar"
        );
    }
    ev.events.extend(change.events);
    ev.reservations.push(res.clone());
    res
}

fn evaluate(
    state: &ShardState,
    cal: &RoomTypeCalendar,
    ops: &mut [Op],
    known: &KnownReservations,
    deliveries: &DeliveryContext,
    rooms: &KnownRooms,
) -> Evaluation {
    let mut ev = Evaluation::default();
    let now = state.deps.clock.now();
    let today = state.property.local_date(now);
    for op in ops.iter_mut() {
        match op {
            Op::Book(p) => {
                let cmd = &p.command;
                let origin = Origin {
                    property: &state.property,
                    source: &cmd.source,
                    external_id: cmd.external_id.as_deref(),
                    allow_overbooking: cmd.allow_overbooking,
                };
                let id = uuid::Uuid::now_v7().to_string();
                let decided = lifecycle::new(&mut inventory(state, cal, &mut ev.changes, today), &origin, &cmd.request, id, now);
                p.answer = Some(decided.map(|c| take(state, &mut ev, c)).map_err(ShardError::Unavailable));
            }
            Op::Deliver(p) => {
                p.answer = Some(deliver(state, cal, &mut ev, &p.command, deliveries, now, today));
            }
            Op::Room(p) => {
                let c = &p.command;
                p.answer = Some(room_status(state, cal, &mut ev, rooms, &c.number, c.status, c.out_of_order));
            }
            Op::CheckIn(p) => {
                let c = &p.command;
                let decided = found(current(state, &ev, known, &c.id), &c.id)
                    .and_then(|res| lifecycle::check_in(res, c.room.clone(), c.today, now).map_err(ShardError::from));
                p.answer = Some(decided.map(|change| take(state, &mut ev, change)));
            }
            Op::CheckOut(p) => {
                let id = &p.command;
                let decided =
                    found(current(state, &ev, known, id), id).and_then(|res| lifecycle::check_out(res, now).map_err(ShardError::from));
                p.answer = Some(decided.map(|change| take(state, &mut ev, change)));
            }
            Op::NoShows(p) => {
                let c = &p.command;
                let mut marked = Vec::new();
                for id in &c.ids {
                    let Some(res) = current(state, &ev, known, id) else { continue };
                    let mut inv = inventory(state, cal, &mut ev.changes, today);
                    if let Some(change) = lifecycle::mark_no_show(&mut inv, res, c.closed, c.release_from, now) {
                        marked.push(take(state, &mut ev, change));
                    }
                }
                p.answer = Some(Ok(marked));
            }
            Op::Cancel(p) => {
                let id = &p.command;
                let decided = found(current(state, &ev, known, id), id).and_then(|res| {
                    let stored = res.clone();
                    match lifecycle::cancel(&mut inventory(state, cal, &mut ev.changes, today), res, now) {
                        Ok(Some(change)) => Ok(take(state, &mut ev, change)),
                        // Cancelled already: a repeated request.
                        Ok(None) => Ok(stored),
                        Err(why) => Err(ShardError::from(why)),
                    }
                });
                p.answer = Some(decided);
            }
            Op::Ari(p) => {
                let c = &p.command;
                let changes = plan_changes(cal, &c.updates, &ev.changes);
                let cells = changes.inventory.len() + changes.rates.len();
                if let Some((from, to)) = changes.date_span() {
                    ev.events.push(DomainEvent::AriChanged(AriChanged {
                        room_type: state.room_type.clone(),
                        from,
                        to,
                        cause: AriCause::Update { cells },
                    }));
                }
                ev.changes.extend(changes);
                if let Some(i) = &c.intent {
                    ev.intents.push(i.clone());
                }
                // The version is filled in by the caller's view after commit.
                p.answer = Some(Ok(AriApplied { cells, version: cal.version + 1 }));
            }
        }
    }
    replenish(state, cal, &mut ev, today);
    ev
}

fn found(current: Option<Reservation>, id: &str) -> Result<Reservation, ShardError> {
    current.ok_or_else(|| ShardError::ReservationNotFound(id.to_owned()))
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
    let today = state.property.local_date(state.deps.clock.now());
    let mut inv = inventory(state, cal, &mut ev.changes, today);
    let Some(change) = lifecycle::set_room_status(&mut inv, current.clone(), status, range)? else {
        // Repeated request: already so, nothing to count again.
        return Ok(current);
    };
    tracing::info!(
        property = %state.property.code, room = %number, from = current.status.as_str(), to = status.as_str(),
        out_of_order = ?change.room.out_of_order, "room status"
    );
    ev.events.extend(change.event);
    let next = change.room.clone();
    ev.rooms.push(RoomChange { expected: change.expected, room: change.room });
    Ok(next)
}

/// Auto-replenish: every date this evaluation changed that saluran itself
/// closed (overbooking, auto threshold) and that has rooms again is opened,
/// in the same commit; the channels are told of it with the other changed
/// dates. A person's stop-sell is never lifted.
fn replenish(state: &ShardState, cal: &RoomTypeCalendar, ev: &mut Evaluation, today: jiff::civil::Date) {
    let Some(lifted) = lifecycle::lift_automatic_stop_sells(&mut inventory(state, cal, &mut ev.changes, today)) else {
        return;
    };
    metrics::counter!("saluran_stop_sells_lifted_total").increment(lifted.dates.len() as u64);
    tracing::info!(property = %state.property.code, room_type = %state.room_type, dates = lifted.dates.len(), "lifting automatic stop-sells");
    ev.events.push(DomainEvent::StopSellLifted(lifted));
}

/// Applies one OTA delivery as `lifecycle::deliver` decides it, against
/// the booking's history (stored and earlier in this commit), and records
/// it with its ack.
fn deliver(
    state: &ShardState,
    cal: &RoomTypeCalendar,
    ev: &mut Evaluation,
    d: &ChannelDelivery,
    ctx: &DeliveryContext,
    now: jiff::Timestamp,
    today: jiff::civil::Date,
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
    let delivery = lifecycle::Delivery {
        channel: &d.channel,
        ota_reservation_id: &d.ota_reservation_id,
        revision: &d.revision,
        action: d.action,
        request: d.request.as_ref(),
        moving: d.moving,
    };
    let mut inv = inventory(state, cal, &mut ev.changes, today);
    let decided = lifecycle::deliver(&mut inv, &state.property, delivery, &history, existing, || uuid::Uuid::now_v7().to_string(), now)
        .map_err(|why| match why {
            DeliveryRefusal::NoRequest => ShardError::from(saluran_domain::DomainError::invalid("booking", "a booking without a room")),
            DeliveryRefusal::WrongRoomType => {
                ShardError::from(saluran_domain::DomainError::invalid("room_type", "delivered to the wrong inventory shard"))
            }
            DeliveryRefusal::NotFound => ShardError::ReservationNotFound(d.ota_reservation_id.clone()),
            DeliveryRefusal::Unavailable(why) => ShardError::Unavailable(why),
        })?;
    match decided {
        Delivered::Replay { ack, reservation_id } => Ok(DeliveryOutcome { ack, reservation_id, outcome: InboundOutcome::Replayed }),
        Delivered::Record { outcome, reservation_id, change } => {
            if let Some(change) = change {
                take(state, ev, *change);
            }
            // The ack names our reservation, and is stored with the
            // delivery: built only now that the id is known.
            let ack = (d.ack)(reservation_id.as_deref());
            ev.inbound.push(InboundRecord {
                property: state.property.code.clone(),
                channel: d.channel.clone(),
                ota_reservation_id: d.ota_reservation_id.clone(),
                revision: d.revision.clone(),
                action: d.action,
                reservation_id: reservation_id.clone(),
                outcome: outcome.clone(),
                ack: ack.clone(),
                received_at: now,
            });
            // A move is recorded as such but is, for the caller, the
            // cancellation applied here.
            let answered = if outcome == InboundOutcome::Moved { InboundOutcome::Applied } else { outcome };
            Ok(DeliveryOutcome { ack, reservation_id, outcome: answered })
        }
    }
}
