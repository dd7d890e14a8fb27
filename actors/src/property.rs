//! Property: routes setup and ARI commands for one property, supervises one
//! InventoryShard per room type, and passivates itself when idle.

use crate::channel::{ChannelActor, ChannelArgs, ChannelMsg};
use crate::deps::Deps;
use crate::error::{ActorError, ShardError};
use crate::handle::{answer, CalendarView, PropertyHandle, Registry};
use crate::restart::{Child, Restarts};
use crate::shard::{AriApplied, InventoryShard, ShardArgs, ShardMsg};
use parking_lot::RwLock;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use saluran_domain::ari::AriUpdate;
use saluran_domain::calendar::RoomTypeCalendar;
use saluran_domain::channel::ChannelConfig;
use saluran_domain::dates::DateRange;
use saluran_domain::events::{DomainEvent, FromTo, NightAuditCompleted, RoomStatusChanged};
use saluran_domain::ports::Notice;
use saluran_domain::property::{Property, PropertyConfig, RatePlan, Room, RoomStatus, RoomType};
use saluran_domain::reservation::Reservation;
use saluran_domain::store::Intent;
use saluran_domain::{ChannelCode, DomainError, PropertyCode, RoomNumber, RoomTypeCode};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub enum PropertyMsg {
    CreateRoomType {
        room_type: RoomType,
        reply: RpcReplyPort<Result<(), ActorError>>,
    },
    CreateRoom {
        room: Room,
        reply: RpcReplyPort<Result<(), ActorError>>,
    },
    CreateRatePlan {
        plan: RatePlan,
        reply: RpcReplyPort<Result<(), ActorError>>,
    },
    /// A validated-or-not ARI batch: the property validates it whole, then
    /// applies it all (see `apply_ari`).
    ApplyAri {
        updates: Vec<AriUpdate>,
        reply: RpcReplyPort<Result<AriOutcome, ActorError>>,
    },
    Tick,
    RestartShard {
        room_type: RoomTypeCode,
    },
    /// A shard committed changes to these dates (forwarded to channels).
    Committed {
        room_type: RoomTypeCode,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
        urgent: bool,
    },
    /// Starts (or restarts) the actor of a channel connection.
    StartChannel {
        config: Box<ChannelConfig>,
        reply: RpcReplyPort<Result<(), ActorError>>,
    },
    ChannelStatus {
        code: ChannelCode,
        reply: RpcReplyPort<Option<ActorRef<ChannelMsg>>>,
    },
    RestartChannel {
        code: ChannelCode,
    },
    /// Housekeeping: a room's status changes; out of order changes the
    /// room type's availability through its shard (and so reaches the OTAs).
    SetRoomStatus {
        number: RoomNumber,
        status: RoomStatus,
        /// With `out_of_order`: the dates (defaults: today, end of horizon).
        dates: Option<OutOfOrderDates>,
        reply: RpcReplyPort<Result<Room, ActorError>>,
    },
    /// Front desk: checks a reservation in, optionally into a room (which
    /// must be ready and becomes occupied clean). See `crate::arrivals`.
    CheckIn {
        id: String,
        room: Option<RoomNumber>,
        reply: RpcReplyPort<Result<Reservation, ActorError>>,
    },
    /// Front desk: checks a reservation out; its room becomes vacant dirty.
    CheckOut {
        id: String,
        reply: RpcReplyPort<Result<Reservation, ActorError>>,
    },
    /// Turns the night audit's no-show marking on or off (stored, then the
    /// running actor's config reloaded); answers the property as it now is.
    SetMarksNoShows {
        on: bool,
        /// With `on`: marking begins on this date, replacing any stored one
        /// (an operator backdating it). None: today, unless already on.
        from: Option<jiff::civil::Date>,
        reply: RpcReplyPort<Result<Property, ActorError>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AriOutcome {
    pub cells: usize,
    pub room_types: usize,
}

pub struct PropertyArgs {
    pub config: PropertyConfig,
    pub deps: Deps,
    pub registry: Registry,
    pub name_prefix: String,
}

pub struct PropertyState {
    handle: PropertyHandle,
    deps: Deps,
    registry: Registry,
    name_prefix: String,
    shard_ids: HashMap<ActorId, RoomTypeCode>,
    channels: HashMap<ChannelCode, ActorRef<ChannelMsg>>,
    channel_ids: HashMap<ActorId, ChannelCode>,
    channel_configs: HashMap<ChannelCode, ChannelConfig>,
    /// One restart budget per child (shard or channel).
    restarts: Restarts,
    stopping: bool,
    /// The local date whose night audit this node has seen done.
    audited_for: Option<jiff::civil::Date>,
}

/// The narrow view of a Property the front desk (`arrivals.rs`) works
/// through: the handle and deps (to read the config and the store and to
/// call shards) and the room-status path. The rest of the actor's state
/// (children, restart budgets, channels, the audit mark) stays private to
/// the actor.
pub(crate) struct Desk<'a> {
    state: &'a mut PropertyState,
}

impl<'a> Desk<'a> {
    pub(crate) fn new(state: &'a mut PropertyState) -> Self {
        Desk { state }
    }
    pub(crate) fn handle(&self) -> &PropertyHandle {
        &self.state.handle
    }
    pub(crate) fn deps(&self) -> &Deps {
        &self.state.deps
    }
    /// A room's status, through its room type's shard.
    pub(crate) async fn set_room_status(&mut self, number: RoomNumber, status: RoomStatus) -> Result<Room, ActorError> {
        set_room_status(self.state, number, status).await
    }
}

pub struct PropertyActor;

impl PropertyActor {
    pub fn actor_name(prefix: &str, code: &PropertyCode) -> String {
        format!("{prefix}property:{code}")
    }
}

impl Actor for PropertyActor {
    type Msg = PropertyMsg;
    type State = PropertyState;
    type Arguments = PropertyArgs;

    async fn pre_start(&self, myself: ActorRef<PropertyMsg>, args: PropertyArgs) -> Result<PropertyState, ActorProcessingErr> {
        let code = args.config.property.code.clone();
        let room_types: Vec<RoomTypeCode> = args.config.room_types.iter().map(|r| r.code.clone()).collect();
        let handle = PropertyHandle::new(code.clone(), myself.clone(), Arc::new(args.config), args.deps.shard_ingress_limit);
        let mut state = PropertyState {
            handle,
            deps: args.deps,
            registry: args.registry,
            name_prefix: args.name_prefix,
            shard_ids: HashMap::new(),
            channels: HashMap::new(),
            channel_ids: HashMap::new(),
            channel_configs: HashMap::new(),
            restarts: Restarts::default(),
            stopping: false,
            audited_for: None,
        };
        for rt in room_types {
            spawn_shard(&myself, &mut state, rt, None).await?;
        }
        if state.deps.channels.is_some() {
            for config in state.deps.store.list_channels(&code).await? {
                if let Err(e) = spawn_channel(&myself, &mut state, config).await {
                    tracing::error!(property = %code, error = %e, "channel did not start");
                }
            }
        }
        // Finish what a crash interrupted before taking new work, and only
        // then become visible to requests.
        if let Err(e) = redrive_intents(&mut state).await {
            tracing::warn!(property = %state.handle.code(), error = %e, "re-driving intents failed; will retry on the next ARI batch");
        }
        // An idle property missed its audit while passivated: run it now.
        night_audit_if_due(&mut state).await;
        state.registry.insert(state.handle.clone());
        Ok(state)
    }

    async fn post_start(&self, myself: ActorRef<PropertyMsg>, state: &mut PropertyState) -> Result<(), ActorProcessingErr> {
        let period = (state.deps.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        myself.send_interval(period, || PropertyMsg::Tick);
        metrics::gauge!("saluran_active_properties").increment(1.0);
        Ok(())
    }

    async fn post_stop(&self, myself: ActorRef<PropertyMsg>, state: &mut PropertyState) -> Result<(), ActorProcessingErr> {
        state.stopping = true;
        state.registry.remove(&state.handle);
        // Shards flush what they have queued before they stop.
        let _ = myself.stop_children_and_wait(Some("property stopping".into()), Some(Duration::from_secs(10))).await;
        metrics::gauge!("saluran_active_properties").decrement(1.0);
        Ok(())
    }

    async fn handle(&self, myself: ActorRef<PropertyMsg>, msg: PropertyMsg, state: &mut PropertyState) -> Result<(), ActorProcessingErr> {
        match msg {
            PropertyMsg::CreateRoomType { room_type, reply } => {
                let r = create_room_type(&myself, state, room_type).await;
                let _ = reply.send(r);
            }
            PropertyMsg::CreateRoom { room, reply } => {
                let rt = room.room_type.clone();
                let r = async {
                    if state.handle.config().room_type(rt.as_str()).is_none() {
                        return Err(ActorError::Shard(ShardError::Invalid(DomainError::UnknownRoomType(rt.to_string()))));
                    }
                    state.deps.store.create_room(state.handle.code(), &room).await?;
                    refresh_config(state).await?;
                    reload_shard(state, &rt).await
                }
                .await;
                let _ = reply.send(r);
            }
            PropertyMsg::CreateRatePlan { plan, reply } => {
                let r = create_rate_plan(state, plan).await;
                let _ = reply.send(r);
            }
            PropertyMsg::ApplyAri { updates, reply } => {
                let r = apply_ari(state, updates).await;
                let _ = reply.send(r);
            }
            PropertyMsg::SetRoomStatus { number, status, dates, reply } => {
                let r = set_room_status_in(state, number, status, dates).await;
                let _ = reply.send(r);
            }
            PropertyMsg::CheckIn { id, room, reply } => {
                let r = crate::arrivals::check_in(&mut Desk::new(state), id, room).await;
                let _ = reply.send(r);
            }
            PropertyMsg::CheckOut { id, reply } => {
                let r = crate::arrivals::check_out(&mut Desk::new(state), id).await;
                let _ = reply.send(r);
            }
            PropertyMsg::SetMarksNoShows { on, from, reply } => {
                let r = async {
                    // Marking starts today (the property's local date): the
                    // sweep never takes an arrival from before it was on. The
                    // store keeps the date of a property already marking,
                    // unless one was given.
                    let today = state.handle.config().property.local_date(state.deps.clock.now());
                    let (from, keep_date) = match (on, from) {
                        (false, _) => (None, false),
                        (true, Some(d)) => (Some(d), false),
                        (true, None) => (Some(today), true),
                    };
                    state.deps.store.set_marks_no_shows(state.handle.code(), from, keep_date).await?;
                    refresh_config(state).await?;
                    let from = state.handle.config().property.no_shows_from;
                    tracing::info!(property = %state.handle.code(), marks_no_shows = on, no_shows_from = ?from, "no-show marking changed");
                    Ok(state.handle.config().property.clone())
                }
                .await;
                let _ = reply.send(r);
            }
            PropertyMsg::Committed { room_type, from, to, urgent } => {
                for ch in state.channels.values() {
                    let _ = ch.send_message(ChannelMsg::Dirty { room_type: room_type.clone(), from, to, urgent });
                }
            }
            PropertyMsg::StartChannel { config, reply } => {
                let r = spawn_channel(&myself, state, *config).await.map_err(|e| ActorError::Unavailable(e.to_string()));
                let _ = reply.send(r);
            }
            PropertyMsg::ChannelStatus { code, reply } => {
                let _ = reply.send(state.channels.get(&code).cloned());
            }
            PropertyMsg::RestartChannel { code } => {
                if let Some(config) = state.channel_configs.get(&code).cloned() {
                    if let Err(e) = spawn_channel(&myself, state, config).await {
                        tracing::error!(property = %state.handle.code(), channel = %code, error = %e, "channel restart failed");
                        schedule_channel_restart(&myself, state, code, &e.to_string())?;
                    }
                }
            }
            PropertyMsg::Tick => {
                night_audit_if_due(state).await;
                // A property with channel connections is in use: it keeps
                // pushing and reconciling, so it never passivates.
                if state.channels.is_empty() && state.handle.idle_for() >= state.deps.idle_timeout {
                    tracing::info!(property = %state.handle.code(), "passivating idle property");
                    state.registry.remove(&state.handle);
                    myself.stop(Some("idle".into()));
                }
            }
            PropertyMsg::RestartShard { room_type } => {
                if let Err(e) = spawn_shard(&myself, state, room_type.clone(), None).await {
                    tracing::error!(property = %state.handle.code(), %room_type, error = %e, "shard restart failed");
                    schedule_restart(&myself, state, room_type, &e.to_string())?;
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<PropertyMsg>,
        evt: SupervisionEvent,
        state: &mut PropertyState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(cell, err) if state.channel_ids.contains_key(&cell.get_id()) => {
                if let Some(code) = state.channel_ids.remove(&cell.get_id()) {
                    state.channels.remove(&code);
                    tracing::error!(property = %state.handle.code(), channel = %code, error = %err, "channel actor failed");
                    metrics::counter!("saluran_actor_restarts_total", "actor" => "channel").increment(1);
                    schedule_channel_restart(&myself, state, code, &err.to_string())?;
                }
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                if let Some(rt) = state.shard_ids.remove(&cell.get_id()) {
                    state.handle.clear_shard_actor(rt.as_str());
                    tracing::error!(property = %state.handle.code(), room_type = %rt, error = %err, "inventory shard failed");
                    metrics::counter!("saluran_actor_restarts_total", "actor" => "shard").increment(1);
                    schedule_restart(&myself, state, rt, &err.to_string())?;
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) if state.channel_ids.contains_key(&cell.get_id()) => {
                if let Some(code) = state.channel_ids.remove(&cell.get_id()) {
                    state.channels.remove(&code);
                    if !state.stopping {
                        schedule_channel_restart(&myself, state, code, "stopped")?;
                    }
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                if let Some(rt) = state.shard_ids.remove(&cell.get_id()) {
                    state.handle.clear_shard_actor(rt.as_str());
                    if !state.stopping {
                        tracing::warn!(property = %state.handle.code(), room_type = %rt, ?reason, "inventory shard stopped unexpectedly");
                        schedule_restart(&myself, state, rt, "stopped")?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Restarts a shard after a backoff, or escalates by failing this property
/// once its restart budget is spent.
fn schedule_restart(
    myself: &ActorRef<PropertyMsg>,
    state: &mut PropertyState,
    rt: RoomTypeCode,
    why: &str,
) -> Result<(), ActorProcessingErr> {
    let policy = state.deps.restart;
    match state.restarts.on_failure(&Child::Shard(rt.clone()), &policy, Instant::now()) {
        Some(delay) => {
            myself.send_after(delay, move || PropertyMsg::RestartShard { room_type: rt });
            Ok(())
        }
        None => Err(format!("shard {rt} failed more than {} times in {:?} (last: {why})", policy.max_restarts, policy.window).into()),
    }
}

async fn set_room_status(state: &mut PropertyState, number: RoomNumber, status: RoomStatus) -> Result<Room, ActorError> {
    set_room_status_in(state, number, status, None).await
}

/// A room's status changes through its room type's shard, which writes the
/// room row and the calendar (out of order on `out_of_order`, default: from
/// the property's local date to the end of the horizon) in one commit.
pub(crate) async fn set_room_status_in(
    state: &mut PropertyState,
    number: RoomNumber,
    status: RoomStatus,
    out_of_order: Option<OutOfOrderDates>,
) -> Result<Room, ActorError> {
    let cfg = state.handle.config();
    let room = cfg.rooms.iter().find(|r| r.number == number).cloned().ok_or_else(|| ActorError::NotFound(format!("room {number}")))?;
    let range = match (status, out_of_order) {
        (RoomStatus::OutOfOrder, dates) => {
            let today = cfg.property.local_date(state.deps.clock.now());
            Some(out_of_order_range(dates.unwrap_or_default(), today).map_err(ShardError::Invalid)?)
        }
        (_, Some(_)) => {
            return Err(ShardError::Invalid(DomainError::invalid("from", "from / to go with status out_of_order only")).into());
        }
        (_, None) => None,
    };
    let rt = room.room_type.clone();
    let updated = state
        .handle
        .call_shard(rt.as_str(), state.deps.call_timeout, |reply| ShardMsg::RoomStatus {
            number: number.clone(),
            status,
            out_of_order: range,
            reply,
        })
        .await?
        .map_err(ActorError::from)?;
    refresh_config(state).await?;
    let event = DomainEvent::RoomStatus(RoomStatusChanged {
        room: number,
        room_type: room.room_type.clone(),
        from: room.status,
        status,
        out_of_order: updated.out_of_order.map(FromTo::from),
    });
    state.deps.publisher.publish(Notice::new(state.handle.code().clone(), &event).into());
    Ok(updated)
}

/// The dates asked for with `out_of_order` (each optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutOfOrderDates {
    pub from: Option<jiff::civil::Date>,
    pub to: Option<jiff::civil::Date>,
}

/// The out-of-order range: `from` defaults to the property's local date
/// (today), `to` to the end of the horizon; `from <= to`, not in the past,
/// not past the horizon.
pub fn out_of_order_range(dates: OutOfOrderDates, today: jiff::civil::Date) -> Result<DateRange, DomainError> {
    let horizon_end = today.checked_add(jiff::Span::new().days(saluran_domain::dates::HORIZON_DAYS)).unwrap_or(jiff::civil::Date::MAX);
    let from = dates.from.unwrap_or(today);
    let to = dates.to.unwrap_or(horizon_end.max(from));
    let range = DateRange::new(from, to)?;
    range.check_within_horizon(today)?;
    Ok(range)
}

/// Runs the night audit once the property's local time has reached its
/// `night_audit_time` and its business date is before today:
///
/// 1. rolls the business date to today (compare-and-set: of several nodes
///    exactly one wins, and only the winner does step 2 and announces the
///    audit with `night_audit.completed`);
/// 2. turns every occupied clean room occupied dirty;
/// 3. if the property marks no-shows (`Property::marks_no_shows`, off
///    unless the hotel turned it on), marks the no-shows of the closed
///    business date (today − 1) and every earlier one since marking began
///    (`Property::no_shows_from`): confirmed, not checked-in reservations
///    arriving in that span become `no_show` and
///    give back their nights from today on, through their shards
///    (committed, then pushed to the OTAs). Otherwise it marks nothing.
///
/// The property's config is re-read from the store first, so a setting
/// changed on another node (or rooms added there) counts at this audit.
///
/// Step 3 also runs on a node that finds the day already rolled (it lost
/// the race, or it restarted after a crash between steps 1 and 3): each
/// shard re-checks every reservation against the stored one before marking
/// it, so repeating the sweep marks and releases nothing twice. Until the
/// sweep succeeds the audit is retried on the next tick.
async fn night_audit_if_due(state: &mut PropertyState) {
    let cfg = state.handle.config();
    let Ok(tz) = jiff::tz::TimeZone::get(&cfg.property.timezone) else {
        return;
    };
    let now = state.deps.clock.now().to_zoned(tz);
    let today = now.date();
    if state.audited_for.is_some_and(|d| d >= today) {
        return;
    }
    let Ok(audit_time) = cfg.property.night_audit_time.parse::<jiff::civil::Time>() else {
        return;
    };
    if now.time() < audit_time {
        return;
    }
    if let Err(e) = night_audit(state, today).await {
        tracing::warn!(property = %state.handle.code(), error = %e, "night audit failed; retrying on the next tick");
    }
}

async fn night_audit(state: &mut PropertyState, today: jiff::civil::Date) -> Result<(), ActorError> {
    let code = state.handle.code().clone();
    refresh_config(state).await?;
    let marks_no_shows = state.handle.config().property.marks_no_shows;
    let previous = state.deps.store.get_business_date(&code).await?;
    let mut won = false;
    if previous.is_none_or(|d| d < today) {
        match state.deps.store.set_business_date(&code, today, previous).await {
            Ok(()) => won = true,
            // Another node rolled it first; the sweep below is still ours to
            // (re)do, harmlessly.
            Err(saluran_domain::store::StoreError::Conflict(saluran_domain::store::Conflict::BusinessDateChanged { .. })) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut dirtied = Vec::new();
    if won {
        let occupied: Vec<RoomNumber> =
            state.handle.config().rooms.iter().filter(|r| r.status == RoomStatus::OccupiedClean).map(|r| r.number.clone()).collect();
        for number in occupied {
            match set_room_status(state, number.clone(), RoomStatus::OccupiedDirty).await {
                Ok(_) => dirtied.push(number),
                Err(e) => tracing::warn!(property = %code, room = %number, error = %e, "night audit could not mark the room dirty"),
            }
        }
    }
    // A hotel whose check-ins do not reach saluran would see every in-house
    // guest as a no-show: without the setting, nothing is marked.
    let swept = if marks_no_shows { crate::arrivals::mark_no_shows(&Desk::new(state), today).await } else { Ok(Vec::new()) };
    if won {
        let no_shows = swept.as_ref().map(|v| v.as_slice()).unwrap_or_default();
        tracing::info!(
            property = %code, business_date = %today, rooms = dirtied.len(), no_shows = no_shows.len(), marks_no_shows,
            "night audit completed"
        );
        let event = DomainEvent::NightAuditCompleted(NightAuditCompleted {
            business_date: today,
            previous,
            rooms_dirtied: dirtied,
            no_shows: no_shows.to_vec(),
            marks_no_shows,
        });
        state.deps.publisher.publish(Notice::new(code, &event).into());
    }
    swept?;
    state.audited_for = Some(today);
    Ok(())
}

/// How long a replaced Channel actor gets to stop (its `post_stop` aborts its
/// push and waits for the abort).
const CHANNEL_STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn schedule_channel_restart(
    myself: &ActorRef<PropertyMsg>,
    state: &mut PropertyState,
    code: ChannelCode,
    why: &str,
) -> Result<(), ActorProcessingErr> {
    let policy = state.deps.restart;
    match state.restarts.on_failure(&Child::Channel(code.clone()), &policy, Instant::now()) {
        Some(delay) => {
            myself.send_after(delay, move || PropertyMsg::RestartChannel { code });
            Ok(())
        }
        None => Err(format!("channel {code} failed more than {} times in {:?} (last: {why})", policy.max_restarts, policy.window).into()),
    }
}

async fn spawn_channel(myself: &ActorRef<PropertyMsg>, state: &mut PropertyState, config: ChannelConfig) -> Result<(), ActorProcessingErr> {
    let Some(factory) = state.deps.channels.clone() else {
        return Err("channels are not enabled in this process".into());
    };
    if let Some(old) = state.channels.remove(&config.code) {
        state.channel_ids.remove(&old.get_id());
        // Wait for it to be gone: its name is free again, and its post_stop
        // has aborted its push, so the new actor's push cannot overlap it.
        if let Err(e) = old.stop_and_wait(Some("replaced".into()), Some(CHANNEL_STOP_TIMEOUT)).await {
            tracing::warn!(property = %state.handle.code(), channel = %config.code, error = %e, "replaced channel actor did not stop cleanly; killing it");
            let _ = old.kill_and_wait(Some(CHANNEL_STOP_TIMEOUT)).await;
            if old.get_status() != ractor::ActorStatus::Stopped {
                return Err(format!("replaced channel actor {} did not stop", config.code).into());
            }
        }
    }
    let wiring = factory.build(&config, &state.handle.config().property)?;
    let code = config.code.clone();
    state.channel_configs.insert(code.clone(), config.clone());
    let args = ChannelArgs {
        config,
        handle: state.handle.clone(),
        transport: wiring.transport,
        policy: wiring.policy,
        account_limiter: wiring.account_limiter,
        puller: wiring.puller,
        sink: state.deps.booking_sink.clone(),
        deps: state.deps.clone(),
    };
    let name = format!("{}channel:{}:{}", state.name_prefix, state.handle.code(), code);
    let (actor, _) = Actor::spawn_linked(Some(name), ChannelActor, args, myself.get_cell()).await?;
    state.channel_ids.insert(actor.get_id(), code.clone());
    state.channels.insert(code, actor);
    Ok(())
}

async fn spawn_shard(
    myself: &ActorRef<PropertyMsg>,
    state: &mut PropertyState,
    rt: RoomTypeCode,
    view: Option<CalendarView>,
) -> Result<(), ActorProcessingErr> {
    let cfg = state.handle.config();
    let room_type = cfg.room_type(rt.as_str()).cloned().ok_or_else(|| format!("unknown room type {rt}"))?;
    let plans: Vec<RatePlan> = cfg.plans_of(rt.as_str()).cloned().collect();
    // The view outlives shard restarts: readers keep their Arc.
    let view = view
        .or_else(|| state.handle.shard_view(rt.as_str()))
        .unwrap_or_else(|| Arc::new(RwLock::new(RoomTypeCalendar::new(room_type, plans))));
    let name = format!("{}{}", state.name_prefix, InventoryShard::actor_name(state.handle.code().as_str(), rt.as_str()));
    let args = ShardArgs {
        property: cfg.property.clone(),
        room_type: rt.clone(),
        view: view.clone(),
        deps: state.deps.clone(),
        parent: Some(myself.clone()),
    };
    let (shard, _) = Actor::spawn_linked(Some(name), InventoryShard, args, myself.get_cell()).await?;
    state.shard_ids.insert(shard.get_id(), rt.clone());
    state.handle.set_shard(rt, Some(shard), view);
    Ok(())
}

async fn refresh_config(state: &mut PropertyState) -> Result<(), ActorError> {
    let code = state.handle.code().clone();
    let cfg = state.deps.store.load_config(&code).await?.ok_or_else(|| ActorError::PropertyNotFound(code.to_string()))?;
    state.handle.set_config(Arc::new(cfg));
    Ok(())
}

async fn reload_shard(state: &PropertyState, rt: &RoomTypeCode) -> Result<(), ActorError> {
    state.handle.call_shard(rt.as_str(), state.deps.call_timeout, |reply| ShardMsg::Reload { reply }).await?.map_err(ActorError::from)
}

async fn create_room_type(myself: &ActorRef<PropertyMsg>, state: &mut PropertyState, rt: RoomType) -> Result<(), ActorError> {
    state.deps.store.create_room_type(state.handle.code(), &rt).await?;
    refresh_config(state).await?;
    spawn_shard(myself, state, rt.code.clone(), None).await.map_err(|e| ActorError::Unavailable(e.to_string()))
}

async fn create_rate_plan(state: &mut PropertyState, plan: RatePlan) -> Result<(), ActorError> {
    let cfg = state.handle.config();
    if cfg.room_type(plan.room_type.as_str()).is_none() {
        return Err(ShardError::Invalid(DomainError::UnknownRoomType(plan.room_type.to_string())).into());
    }
    if let Some(d) = &plan.derived {
        d.adjustment.validate().map_err(ShardError::Invalid)?;
        let parent =
            cfg.rate_plan(d.parent.as_str()).ok_or_else(|| ShardError::Invalid(DomainError::UnknownRatePlan(d.parent.to_string())))?;
        if parent.room_type != plan.room_type {
            return Err(ShardError::Invalid(DomainError::invalid(
                "derived_from",
                "the parent rate plan must belong to the same room type",
            ))
            .into());
        }
    }
    state.deps.store.create_rate_plan(state.handle.code(), &plan).await?;
    refresh_config(state).await?;
    reload_shard(state, &plan.room_type).await
}

/// Validates the whole batch first (nothing applies if any line is bad),
/// then applies it. A batch over several room types is first recorded as an
/// intent, so a crash between shards is finished by `redrive_intents`.
async fn apply_ari(state: &mut PropertyState, updates: Vec<AriUpdate>) -> Result<AriOutcome, ActorError> {
    let cfg = state.handle.config();
    let today = cfg.property.local_date(state.deps.clock.now());
    for (i, u) in updates.iter().enumerate() {
        u.validate(&cfg, today).map_err(|e| {
            ActorError::Shard(ShardError::Invalid(match e {
                DomainError::Invalid { field, message } => DomainError::Invalid { field: format!("updates[{i}].{field}"), message },
                other => other,
            }))
        })?;
    }
    redrive_intents(state).await?;
    let mut by_room_type: BTreeMap<RoomTypeCode, Vec<AriUpdate>> = BTreeMap::new();
    for u in updates {
        by_room_type.entry(u.room_type.clone()).or_default().push(u);
    }
    let intent = if by_room_type.len() > 1 {
        let intent = Intent {
            id: uuid::Uuid::now_v7().to_string(),
            kind: "ari".into(),
            payload: json!({ "updates": by_room_type.values().flatten().collect::<Vec<_>>() }),
            pending_room_types: by_room_type.keys().cloned().collect(),
        };
        state.deps.store.insert_intent(state.handle.code(), &intent).await?;
        Some(intent.id)
    } else {
        None
    };
    let mut outcome = AriOutcome { cells: 0, room_types: by_room_type.len() };
    for (rt, ups) in by_room_type {
        let applied = send_ari(state, &rt, ups, intent.clone()).await?;
        outcome.cells += applied.cells;
    }
    Ok(outcome)
}

async fn send_ari(
    state: &PropertyState,
    rt: &RoomTypeCode,
    updates: Vec<AriUpdate>,
    intent: Option<String>,
) -> Result<AriApplied, ActorError> {
    let shard = state.handle.shard(rt.as_str()).ok_or_else(|| ActorError::Unavailable(format!("inventory of {rt} is restarting")))?;
    let r = shard.call(|reply| ShardMsg::ApplyAri { updates, intent, reply }, Some(state.deps.call_timeout)).await;
    answer(r)?.map_err(ActorError::from)
}

async fn redrive_intents(state: &mut PropertyState) -> Result<(), ActorError> {
    let pending = state.deps.store.pending_intents(state.handle.code()).await?;
    for intent in pending {
        let updates: Vec<AriUpdate> = serde_json::from_value(intent.payload.get("updates").cloned().unwrap_or_default())
            .map_err(|e| ActorError::Unavailable(format!("intent {} unreadable: {e}", intent.id)))?;
        for rt in &intent.pending_room_types {
            let ups: Vec<AriUpdate> = updates.iter().filter(|u| &u.room_type == rt).cloned().collect();
            tracing::info!(property = %state.handle.code(), intent = %intent.id, room_type = %rt, "re-driving unfinished ARI intent");
            send_ari(state, rt, ups, Some(intent.id.clone())).await?;
        }
    }
    Ok(())
}
