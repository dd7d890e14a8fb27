//! Channel: one actor per connection (property × OTA). It owns the push
//! pipeline of DESIGN §5: dirty set → coalesce (debounce) → compress equal
//! consecutive dates into ranges → split by the preset's limit → rate limit
//! → send with a timeout → retry with exponential backoff and jitter,
//! re-reading the CURRENT calendar on every try (I4) → dead letter, alert
//! and a full sync when the tries run out.
//!
//! One push is in flight at a time per connection, so an OTA never sees an
//! older state after a newer one from us. The push (and poll) tasks belong
//! to the actor: they are kept in its state and aborted when it stops, is
//! killed or fails, so a restarted actor's push never overlaps its
//! predecessor's.

use crate::deps::Deps;
use crate::handle::PropertyHandle;
use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jiff::civil::Date;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use saluran_channels::model::{AriRange, AriValues, InboundBooking};
use saluran_domain::calendar::RoomTypeCalendar;
use saluran_domain::channel::{ChannelConfig, DeadLetter, Mapping, SyncStatus};
use saluran_domain::RoomTypeCode;
use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a push failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// 429: wait (at least `retry_after`) and try again.
    RateLimited { retry_after: Option<Duration> },
    /// Timeout, connection reset, 5xx: try again.
    Transient(String),
    /// The OTA refused the message itself (4xx, error RS): retrying the same
    /// state will not help.
    Rejected(String),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::RateLimited { retry_after } => write!(f, "rate limited (retry after {retry_after:?})"),
            PushError::Transient(m) => write!(f, "transient: {m}"),
            PushError::Rejected(m) => write!(f, "rejected: {m}"),
        }
    }
}

/// One request's worth of ARI, shaped by the profile (which values it
/// carries, how ranges compress for them).
#[derive(Debug, Clone)]
pub struct OtaMessage {
    /// The profile's name for the message (e.g. `avail`, `rate`).
    pub kind: &'static str,
    pub ranges: Vec<AriRange>,
}

/// Sends ARI to one OTA connection in its wire format.
#[async_trait]
pub trait AriTransport: Send + Sync + 'static {
    /// Shapes the current state into the profile's messages, each within
    /// `max_updates` ranges: the fewest requests the preset allows.
    fn plan(&self, ranges: &[AriRange], max_updates: usize) -> Vec<OtaMessage>;
    /// Sends one message. `stamp` is when its state was read; OTAs get it
    /// as the message time stamp.
    async fn send(&self, message: &OtaMessage, stamp: jiff::Timestamp) -> Result<(), PushError>;
}

/// Splits ranges into messages of at most `max` ranges (for wire formats that
/// write one element per range).
pub fn chunked(kind: &'static str, ranges: Vec<AriRange>, max: usize) -> Vec<OtaMessage> {
    chunked_by_weight(kind, ranges, max, |_| 1)
}

/// Splits ranges into messages of at most `max` **elements**, where a range
/// writes `weight(range)` of them (OpenTravel writes up to four
/// `AvailStatusMessage`s per range, and OTAs limit the elements, not the
/// ranges). Order is kept; a message is filled as far as the next range fits.
/// A range heavier than `max` on its own (a limit below 4) goes alone.
pub fn chunked_by_weight(kind: &'static str, ranges: Vec<AriRange>, max: usize, weight: impl Fn(&AriRange) -> usize) -> Vec<OtaMessage> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut cur: Vec<AriRange> = Vec::new();
    let mut used = 0usize;
    for r in ranges {
        let w = weight(&r).max(1);
        if !cur.is_empty() && used + w > max {
            out.push(OtaMessage { kind, ranges: std::mem::take(&mut cur) });
            used = 0;
        }
        used += w;
        cur.push(r);
    }
    if !cur.is_empty() {
        out.push(OtaMessage { kind, ranges: cur });
    }
    out
}

/// Fetches bookings from an OTA that makes us pull them, and acknowledges
/// the ones we committed.
#[async_trait]
pub trait BookingPuller: Send + Sync + 'static {
    async fn pull(&self) -> Result<Vec<InboundBooking>, PushError>;
    /// Only bookings that are durable here are acknowledged (I1).
    async fn acknowledge(&self, committed: &[InboundBooking]) -> Result<(), PushError>;
}

/// Applies a pulled booking exactly as a pushed one would be (ingest).
/// The Channel actor passes what ingest needs (its deps and its property's
/// handle: it lives under that Property actor), so a sink holds no
/// reference back to the application and can exist before the actor tree.
#[async_trait]
pub trait BookingSink: Send + Sync + 'static {
    async fn deliver(&self, deps: &Deps, handle: &PropertyHandle, channel: &ChannelConfig, booking: &InboundBooking) -> Result<(), String>;
}

/// What a connection needs to run, built by the binary from its preset,
/// its (unsealed) credentials and the profile's codec.
pub struct ChannelWiring {
    pub transport: Arc<dyn AriTransport>,
    pub policy: PushPolicy,
    pub account_limiter: Option<Arc<DefaultDirectRateLimiter>>,
    /// For pull profiles: the puller and how often to poll.
    pub puller: PullSchedule,
}

/// A puller and how often to poll it (pull profiles only).
pub type PullSchedule = Option<(Arc<dyn BookingPuller>, Duration)>;

pub trait ChannelFactory: Send + Sync + 'static {
    /// `property` gives what the messages need from the property itself
    /// (its currency).
    fn build(&self, config: &ChannelConfig, property: &saluran_domain::property::Property) -> Result<ChannelWiring, String>;
}

/// How a connection pushes: from its OTA preset.
#[derive(Debug, Clone)]
pub struct PushPolicy {
    pub debounce: Duration,
    pub timeout: Duration,
    pub max_tries: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub requests_per_minute: Option<NonZeroU32>,
    /// Ranges (updates) per request at most.
    pub max_ranges_per_request: usize,
    pub horizon_days: i64,
    /// Re-push the next `reconcile_days` every `reconcile_every`.
    pub reconcile_every: Duration,
    pub reconcile_days: i64,
    pub full_flush_every: Duration,
    /// Wait before the full sync that follows a dead letter.
    pub after_dead_letter: Duration,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            debounce: Duration::from_millis(100),
            timeout: Duration::from_secs(30),
            max_tries: 5,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            requests_per_minute: None,
            max_ranges_per_request: 1000,
            horizon_days: 730,
            reconcile_every: Duration::from_secs(15 * 60),
            reconcile_days: 30,
            full_flush_every: Duration::from_secs(24 * 3600),
            after_dead_letter: Duration::from_secs(60),
        }
    }
}

pub type DirtySet = BTreeMap<RoomTypeCode, BTreeSet<Date>>;

pub enum ChannelMsg {
    /// Dates of a room type changed (after commit). `urgent` skips the
    /// debounce (overbooking stop-sell).
    Dirty {
        room_type: RoomTypeCode,
        from: Date,
        to: Date,
        urgent: bool,
    },
    Flush,
    /// Push the whole horizon (`days: None`) or the next `days`.
    FullSync {
        days: Option<i64>,
    },
    PushDone {
        outcome: Result<PushReport, String>,
        dirty: DirtySet,
    },
    /// Pull bookings (pull profiles).
    Poll,
    PollDone,
    Status {
        reply: RpcReplyPort<SyncStatus>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct PushReport {
    pub requests: usize,
    pub cells: usize,
    pub tries: usize,
}

pub struct ChannelArgs {
    pub config: ChannelConfig,
    pub handle: PropertyHandle,
    pub transport: Arc<dyn AriTransport>,
    pub policy: PushPolicy,
    /// Shared by every connection of the same OTA account.
    pub account_limiter: Option<Arc<DefaultDirectRateLimiter>>,
    pub puller: Option<(Arc<dyn BookingPuller>, Duration)>,
    pub sink: Option<Arc<dyn BookingSink>>,
    pub deps: Deps,
}

pub struct ChannelState {
    puller: Option<Arc<dyn BookingPuller>>,
    sink: Option<Arc<dyn BookingSink>>,
    polling: bool,
    config: ChannelConfig,
    handle: PropertyHandle,
    transport: Arc<dyn AriTransport>,
    policy: PushPolicy,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    account_limiter: Option<Arc<DefaultDirectRateLimiter>>,
    deps: Deps,
    dirty: DirtySet,
    flush_scheduled: bool,
    in_flight: bool,
    oldest_dirty: Option<Instant>,
    status: SyncStatus,
    /// The push and poll tasks this actor spawned. Dropping the set (the
    /// actor killed or failed) aborts them; `post_stop` aborts and awaits.
    tasks: tokio::task::JoinSet<()>,
}

pub struct ChannelActor;

impl Actor for ChannelActor {
    type Msg = ChannelMsg;
    type State = ChannelState;
    type Arguments = ChannelArgs;

    async fn pre_start(&self, myself: ActorRef<ChannelMsg>, args: ChannelArgs) -> Result<ChannelState, ActorProcessingErr> {
        let status = args.deps.store.load_sync_status(&args.config.property, &args.config.code).await?.unwrap_or_default();
        let limiter = args.policy.requests_per_minute.map(|n| Arc::new(RateLimiter::direct(Quota::per_minute(n))));
        let policy = args.policy.clone();
        myself.send_interval(policy.reconcile_every, move || ChannelMsg::FullSync { days: Some(policy.reconcile_days) });
        myself.send_interval(args.policy.full_flush_every, || ChannelMsg::FullSync { days: None });
        if let Some((_, every)) = &args.puller {
            myself.send_interval(*every, || ChannelMsg::Poll);
            myself.send_message(ChannelMsg::Poll)?;
        }
        // Nothing dirty survives a restart in memory: start with a full sync.
        myself.send_message(ChannelMsg::FullSync { days: None })?;
        Ok(ChannelState {
            puller: args.puller.map(|(p, _)| p),
            sink: args.sink,
            polling: false,
            config: args.config,
            handle: args.handle,
            transport: args.transport,
            policy: args.policy,
            limiter,
            account_limiter: args.account_limiter,
            deps: args.deps,
            dirty: BTreeMap::new(),
            flush_scheduled: false,
            in_flight: false,
            oldest_dirty: None,
            status,
            tasks: tokio::task::JoinSet::new(),
        })
    }

    async fn post_stop(&self, _myself: ActorRef<ChannelMsg>, state: &mut ChannelState) -> Result<(), ActorProcessingErr> {
        if !state.tasks.is_empty() {
            tracing::info!(
                property = %state.config.property, channel = %state.config.code, push_in_flight = state.in_flight, polling = state.polling,
                "channel actor stopping; aborting its push and poll tasks"
            );
        }
        state.tasks.abort_all();
        // Wait until they are gone (their requests dropped), so whatever
        // replaces this actor starts with nothing of ours in flight.
        while state.tasks.join_next().await.is_some() {}
        Ok(())
    }

    async fn handle(&self, myself: ActorRef<ChannelMsg>, msg: ChannelMsg, state: &mut ChannelState) -> Result<(), ActorProcessingErr> {
        match msg {
            ChannelMsg::Dirty { room_type, from, to, urgent } => {
                if !state.config.mappings.iter().any(|m| m.room_type == room_type) {
                    return Ok(());
                }
                let set = state.dirty.entry(room_type).or_default();
                let mut d = from;
                while d <= to {
                    set.insert(d);
                    match d.tomorrow() {
                        Ok(n) => d = n,
                        Err(_) => break,
                    }
                }
                state.oldest_dirty.get_or_insert_with(Instant::now);
                schedule_flush(&myself, state, urgent)?;
            }
            ChannelMsg::FullSync { days } => {
                let today = state.handle.config().property.local_date(state.deps.clock.now());
                let last = today.checked_add(jiff::Span::new().days(days.unwrap_or(state.policy.horizon_days) - 1)).unwrap_or(today);
                for m in &state.config.mappings {
                    let set = state.dirty.entry(m.room_type.clone()).or_default();
                    let mut d = today;
                    while d <= last {
                        set.insert(d);
                        match d.tomorrow() {
                            Ok(n) => d = n,
                            Err(_) => break,
                        }
                    }
                }
                state.oldest_dirty.get_or_insert_with(Instant::now);
                schedule_flush(&myself, state, true)?;
            }
            ChannelMsg::Flush => {
                state.flush_scheduled = false;
                if state.in_flight || state.dirty.is_empty() {
                    return Ok(());
                }
                let dirty = std::mem::take(&mut state.dirty);
                state.in_flight = true;
                state.status.pending_cells = pending_cells(&dirty, &state.config.mappings) as i64;
                state.status.last_attempt_at = Some(state.deps.clock.now());
                let job = PushJob {
                    handle: state.handle.clone(),
                    mappings: state.config.mappings.clone(),
                    transport: state.transport.clone(),
                    policy: state.policy.clone(),
                    limiter: state.limiter.clone(),
                    account_limiter: state.account_limiter.clone(),
                    clock: state.deps.clock.clone(),
                };
                let me = myself.clone();
                reap(&mut state.tasks);
                state.tasks.spawn(async move {
                    let outcome = job.run(&dirty).await;
                    let _ = me.send_message(ChannelMsg::PushDone { outcome, dirty });
                });
            }
            ChannelMsg::PushDone { outcome, dirty } => {
                state.in_flight = false;
                let now = state.deps.clock.now();
                // The channel code alone is not unique: two properties can both connect "BDC".
                let labels = [("property", state.config.property.to_string()), ("channel", state.config.code.to_string())];
                match outcome {
                    Ok(report) => {
                        if let Some(t) = state.oldest_dirty.take() {
                            metrics::histogram!("saluran_channel_push_lag_seconds", &labels).record(t.elapsed().as_secs_f64());
                        }
                        state.status.last_success_at = Some(now);
                        state.status.consecutive_failures = 0;
                        state.status.last_error = None;
                        state.status.requests_sent += report.requests as i64;
                        metrics::counter!("saluran_channel_push_requests_total", &labels).increment(report.requests as u64);
                        if !state.dirty.is_empty() {
                            state.oldest_dirty = Some(Instant::now());
                        }
                    }
                    Err(error) => {
                        tracing::warn!(property = %state.config.property, channel = %state.config.code, %error, "push gave up; dead letter and full sync");
                        metrics::counter!("saluran_channel_dead_letters_total", &labels).increment(1);
                        state.status.consecutive_failures += 1;
                        state.status.total_failures += 1;
                        state.status.dead_letters += 1;
                        state.status.last_error = Some(error.clone());
                        let summary = serde_json::json!({
                            "room_types": dirty.iter().map(|(rt, days)| serde_json::json!({
                                "room_type": rt, "from": days.first(), "to": days.last(), "dates": days.len(),
                            })).collect::<Vec<_>>(),
                        });
                        let letter = DeadLetter {
                            property: state.config.property.clone(),
                            channel: state.config.code.clone(),
                            created_at: now,
                            error,
                            summary,
                        };
                        if let Err(e) = state.deps.store.insert_dead_letter(&letter).await {
                            tracing::error!(error = %e, "dead letter not stored");
                        }
                        // What failed stays owed: it goes back into the dirty
                        // set, and a full sync follows after a pause.
                        for (rt, days) in dirty {
                            state.dirty.entry(rt).or_default().extend(days);
                        }
                        myself.send_after(state.policy.after_dead_letter, || ChannelMsg::FullSync { days: None });
                    }
                }
                state.status.pending_cells = pending_cells(&state.dirty, &state.config.mappings) as i64;
                if let Err(e) = state.deps.store.save_sync_status(&state.config.property, &state.config.code, &state.status).await {
                    tracing::warn!(error = %e, "sync status not saved");
                }
                metrics::gauge!("saluran_channel_pending_cells", &labels).set(state.status.pending_cells as f64);
                if !state.dirty.is_empty() && state.status.consecutive_failures == 0 {
                    schedule_flush(&myself, state, false)?;
                }
            }
            ChannelMsg::Poll => {
                let (Some(puller), Some(sink)) = (state.puller.clone(), state.sink.clone()) else {
                    return Ok(());
                };
                if state.polling {
                    return Ok(());
                }
                state.polling = true;
                let config = state.config.clone();
                let (deps, handle) = (state.deps.clone(), state.handle.clone());
                let me = myself.clone();
                reap(&mut state.tasks);
                state.tasks.spawn(async move {
                    poll_once(puller.as_ref(), sink.as_ref(), &deps, &handle, &config).await;
                    let _ = me.send_message(ChannelMsg::PollDone);
                });
            }
            ChannelMsg::PollDone => {
                state.polling = false;
            }
            ChannelMsg::Status { reply } => {
                let mut s = state.status.clone();
                if state.in_flight || !state.dirty.is_empty() {
                    s.pending_cells = s.pending_cells.max(pending_cells(&state.dirty, &state.config.mappings) as i64);
                }
                let _ = reply.send(s);
            }
        }
        Ok(())
    }
}

/// Pull, apply each booking through ingest (commit), then acknowledge the
/// committed ones. A booking that failed stays unacknowledged: the OTA
/// hands it out again on the next poll.
async fn poll_once(puller: &dyn BookingPuller, sink: &dyn BookingSink, deps: &Deps, handle: &PropertyHandle, config: &ChannelConfig) {
    let bookings = match puller.pull().await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(property = %config.property, channel = %config.code, error = %e, "pulling bookings failed");
            return;
        }
    };
    if bookings.is_empty() {
        return;
    }
    let mut committed = Vec::new();
    for b in bookings {
        match sink.deliver(deps, handle, config, &b).await {
            Ok(()) => committed.push(b),
            Err(e) => {
                tracing::warn!(property = %config.property, channel = %config.code, ota_id = %b.ota_reservation_id, error = %e, "pulled booking not applied; the OTA will offer it again")
            }
        }
    }
    if committed.is_empty() {
        return;
    }
    if let Err(e) = puller.acknowledge(&committed).await {
        // Unacknowledged bookings come back and are answered from their
        // delivery records: nothing is applied twice.
        tracing::warn!(property = %config.property, channel = %config.code, error = %e, "acknowledging pulled bookings failed");
    }
}

/// Drops the results of finished tasks (each task's last act is to report
/// back, so at most the previous push and poll are still listed).
fn reap(tasks: &mut tokio::task::JoinSet<()>) {
    while tasks.try_join_next().is_some() {}
}

fn schedule_flush(myself: &ActorRef<ChannelMsg>, state: &mut ChannelState, urgent: bool) -> Result<(), ActorProcessingErr> {
    if urgent {
        myself.send_message(ChannelMsg::Flush)?;
    } else if !state.flush_scheduled {
        state.flush_scheduled = true;
        myself.send_after(state.policy.debounce, || ChannelMsg::Flush);
    }
    Ok(())
}

fn pending_cells(dirty: &DirtySet, mappings: &[Mapping]) -> usize {
    mappings.iter().map(|m| dirty.get(&m.room_type).map_or(0, |s| s.len())).sum()
}

/// The values an OTA gets for one mapping on one date, read from the
/// committed calendar. Every value is stated, cleared restrictions included
/// (DESIGN §5 "Deltas clear explicitly"): no minimum stay is `Some(1)`, no
/// maximum `Some(0)`, a lifted flag `Some(false)`; leaving one out would
/// leave the OTA on its old value. Each profile's transport then keeps what
/// it carries (`CARRIES` in the codecs).
pub fn ota_values(cal: &RoomTypeCalendar, m: &Mapping, d: Date) -> AriValues {
    let inv = cal.inventory.get_or_default(d);
    let available = inv.available(cal.room_type.physical_rooms);
    let eff = cal.effective(&m.rate_plan, d).unwrap_or_default();
    AriValues {
        available: Some(available.max(0) as u32),
        rate: eff.rate,
        occupancy_rates: eff.occupancy_rates.clone(),
        min_stay: Some(eff.min_stay_arrival.max(1)),
        min_stay_through: Some(eff.min_stay_through.max(1)),
        max_stay: Some(eff.max_stay.unwrap_or(0)),
        closed_to_arrival: Some(eff.closed_to_arrival),
        closed_to_departure: Some(eff.closed_to_departure),
        stop_sell: Some(inv.stop_sell || eff.stop_sell),
    }
}

/// Runs of consecutive dates with equal values become one range each.
pub fn compress_days(m: &Mapping, days: &[(Date, AriValues)]) -> Vec<AriRange> {
    let mut out: Vec<AriRange> = Vec::new();
    for (d, v) in days {
        if let Some(last) = out.last_mut() {
            if last.values == *v && last.end.tomorrow().ok() == Some(*d) {
                last.end = *d;
                continue;
            }
        }
        out.push(AriRange { ota_room: m.ota_room.clone(), ota_rate: Some(m.ota_rate.clone()), start: *d, end: *d, values: v.clone() });
    }
    out
}

/// Keeps only what one message carries (`project`) and merges the ranges
/// that then become equal and adjacent: an availability message need not
/// split where only the rate changes.
pub fn reproject(ranges: &[AriRange], project: impl Fn(&AriValues) -> AriValues) -> Vec<AriRange> {
    let mut out: Vec<AriRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        let values = project(&r.values);
        if let Some(last) = out.last_mut() {
            if last.ota_room == r.ota_room
                && last.ota_rate == r.ota_rate
                && last.values == values
                && last.end.tomorrow().ok() == Some(r.start)
            {
                last.end = r.end;
                continue;
            }
        }
        out.push(AriRange { values, ..r.clone() });
    }
    out
}

/// Reads the current state of `dirty` for every mapping and compresses it.
pub fn build_ranges(handle: &PropertyHandle, mappings: &[Mapping], dirty: &DirtySet) -> Vec<AriRange> {
    let mut out = Vec::new();
    for m in mappings {
        let (Some(dates), Some(view)) = (dirty.get(&m.room_type), handle.calendar(m.room_type.as_str())) else {
            continue;
        };
        let cal = view.read();
        let days: Vec<(Date, AriValues)> = dates.iter().map(|d| (*d, ota_values(&cal, m, *d))).collect();
        out.extend(compress_days(m, &days));
    }
    out
}

struct PushJob {
    handle: PropertyHandle,
    mappings: Vec<Mapping>,
    transport: Arc<dyn AriTransport>,
    policy: PushPolicy,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    account_limiter: Option<Arc<DefaultDirectRateLimiter>>,
    clock: Arc<dyn saluran_domain::ports::Clock>,
}

impl PushJob {
    /// Every try re-reads the calendar: a retry never resends an old payload.
    async fn run(&self, dirty: &DirtySet) -> Result<PushReport, String> {
        let started = Instant::now();
        let mut tries = 0usize;
        let attempt = || {
            tries += 1;
            async {
                let stamp = self.clock.now();
                let ranges = build_ranges(&self.handle, &self.mappings, dirty);
                let cells: usize = ranges.iter().map(|r| (saluran_domain::dates::days_between(r.start, r.end) + 1) as usize).sum();
                let mut requests = 0;
                for message in self.transport.plan(&ranges, self.policy.max_ranges_per_request) {
                    if let Some(l) = &self.limiter {
                        l.until_ready().await;
                    }
                    if let Some(l) = &self.account_limiter {
                        l.until_ready().await;
                    }
                    requests += 1;
                    match tokio::time::timeout(self.policy.timeout, self.transport.send(&message, stamp)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Err(PushError::Transient(format!("timeout ({} ms)", self.policy.timeout.as_millis()))),
                    }
                }
                Ok(PushReport { requests, cells, tries: 0 })
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.policy.min_backoff)
            .with_max_delay(self.policy.max_backoff)
            .with_max_times(self.policy.max_tries.saturating_sub(1));
        let result = attempt
            .retry(backoff)
            .when(|e| !matches!(e, PushError::Rejected(_)))
            .adjust(|e, delay| match e {
                PushError::RateLimited { retry_after: Some(ra) } => delay.map(|d| d.max(*ra)),
                _ => delay,
            })
            .notify(|e, delay| tracing::debug!(error = %e, ?delay, "push failed; retrying with the current state"))
            .await;
        metrics::histogram!("saluran_channel_push_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Ok(mut r) => {
                r.tries = tries;
                Ok(r)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn equal_consecutive_days_compress_and_gaps_split() {
        let m = Mapping {
            room_type: RoomTypeCode::parse("STD").unwrap(),
            rate_plan: saluran_domain::RatePlanCode::parse("BAR").unwrap(),
            ota_room: "R1".into(),
            ota_rate: "RP1".into(),
        };
        let v = |a: u32| AriValues { available: Some(a), ..Default::default() };
        let days = vec![
            (date(2027, 1, 1), v(3)),
            (date(2027, 1, 2), v(3)),
            (date(2027, 1, 3), v(2)),
            (date(2027, 1, 5), v(2)), // gap on the 4th
            (date(2027, 1, 6), v(2)),
        ];
        let r = compress_days(&m, &days);
        let spans: Vec<_> = r.iter().map(|r| (r.start, r.end, r.values.available)).collect();
        assert_eq!(
            spans,
            vec![
                (date(2027, 1, 1), date(2027, 1, 2), Some(3)),
                (date(2027, 1, 3), date(2027, 1, 3), Some(2)),
                (date(2027, 1, 5), date(2027, 1, 6), Some(2)),
            ]
        );
    }
}
