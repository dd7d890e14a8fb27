//! `webhook`: OTA booking deliveries, open loop.
//!
//! Provisions the fleet (`setup`), connects one opentravel channel per
//! property (to an in-process simulator, so the channel's ARI pushes,
//! triggered by every booking, go somewhere real), then POSTs
//! `OTA_HotelResNotifRQ` messages (built with `saluran_channels`' codec:
//! unique ids, random property, room type, dates) to
//! `/webhooks/opentravel/{property}/OT` with the channel's HTTP Basic
//! credentials. Delivery i is due at t0 + i/rate; its latency runs from that
//! due time until the acknowledgement RS has been read, and the RS is checked
//! to be a success for that reservation with a confirmation id (the server
//! acknowledges only after the booking is durable).
//!
//! `--find-peak` runs short steps at 200, 400, 800, … deliveries/s until one
//! misses (p99 over `--p99-ms`, any error, or requests the dispatcher could
//! not send on time), then bisects `--refine` times between the last rate
//! that held and the first that did not.

use crate::client::{Conn, Headers, Target};
use crate::ota::{self, Hook, SimSpec};
use crate::plan::{self, Fleet, Rng};
use crate::report::{self, CpuMeter, Lat, Outcomes};
use crate::{setup, Common};
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use hyper::{Method, Uri};
use jiff::civil::Date;
use rust_decimal::Decimal;
use saluran_channels::model::{BookedRoom, BookingAction, InboundBooking};
use saluran_channels::{opentravel, Limits};
use saluran_sim::{Profile, SimHandle};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const CHANNEL: &str = "OT";

#[derive(Args, Debug)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub fleet: Fleet,
    /// Deliveries per second (the first step with --find-peak).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Seconds of arrivals (without --find-peak).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Requests outstanding at most (= connections at most).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_in_flight: u32,
    /// Check-in is today + 0 .. today + horizon-1.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=700))]
    pub horizon: u32,
    /// Nights per stay: 1 .. max-nights, uniformly.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub max_nights: u32,
    /// Which database the server runs on, copied into the report.
    #[arg(long, value_parser = ["sqlite", "postgres"])]
    pub backend_note: Option<String>,
    /// The channels' preset (opentravel).
    #[arg(long, default_value = "booking")]
    pub preset: String,
    /// Step the rate up (×2 per step) until p99 or errors give out.
    #[arg(long)]
    pub find_peak: bool,
    /// Seconds per step with --find-peak.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub step_duration: u64,
    /// A step holds when p99 (from due time) is at most this, in ms.
    #[arg(long, default_value_t = 25.0)]
    pub p99_ms: f64,
    /// Highest rate --find-peak tries.
    #[arg(long, default_value_t = 12_800.0)]
    pub max_rate: f64,
    /// Bisection steps after the doubling ones.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub refine: u32,
    /// Seconds between steps (the channels push the bookings' ARI meanwhile).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=60))]
    pub pause: u64,
    /// Days of ARI `setup` loads.
    #[arg(long, default_value_t = 730, value_parser = clap::value_parser!(u32).range(1..=731))]
    pub days: u32,
    /// Properties `setup` provisions in parallel.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub setup_concurrency: u32,
    /// Seconds to wait for the channels' initial full syncs.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sync_timeout: u64,
}

fn check_rate(name: &str, r: f64) -> Result<()> {
    if !(0.1..=100_000.0).contains(&r) {
        bail!("{name} must be between 0.1 and 100000 per second");
    }
    Ok(())
}

/// Makes the deliveries: unique OTA ids, random property, room type, dates.
struct Gen {
    rng: Rng,
    run: String,
    hotels: Vec<String>,
    room_types: u32,
    horizon: u32,
    max_nights: u32,
    today: Date,
    next: u64,
}

impl Gen {
    /// (property index, body, OTA reservation id)
    fn next(&mut self) -> (usize, Bytes, String) {
        let i = self.next;
        self.next += 1;
        let p = self.rng.below(self.hotels.len() as u32) as usize;
        let k = self.rng.below(self.room_types) + 1;
        let check_in = plan::add_days(self.today, self.rng.below(self.horizon));
        let nights = self.rng.below(self.max_nights) + 1;
        let check_out = plan::add_days(check_in, nights);
        let price = Decimal::from(plan::base_rate(k));
        let nightly: Vec<(Date, Decimal)> = (0..nights).map(|n| (plan::add_days(check_in, n), price)).collect();
        let total = price * Decimal::from(nights);
        let id = format!("LD{}{i}", self.run);
        let now = jiff::Timestamp::now();
        let b = InboundBooking {
            action: BookingAction::New,
            hotel_code: self.hotels[p].clone(),
            ota_reservation_id: id.clone(),
            revision: now.to_string(),
            rooms: vec![BookedRoom {
                ota_room: plan::room_type_code(k),
                ota_rate: Some("BAR".into()),
                check_in,
                check_out,
                adults: 2,
                nightly,
                total: Some(total),
            }],
            guest_name: Some(format!("Load Guest{i}")),
            currency: Some("IDR".into()),
            total: Some(total),
        };
        let body = opentravel::res_notif_rq(&b, &format!("{id}-1"), now);
        (p, Bytes::from(body), id)
    }
}

/// Is this the success RS for reservation `id`?
fn is_success(body: &[u8], id: &str) -> Result<(), String> {
    let ack = opentravel::parse_booking_ack_rs(body, &Limits::default()).map_err(|e| format!("unreadable RS: {e}"))?;
    if !ack.errors.is_empty() {
        return Err(format!("error RS: {}", ack.errors.join("; ")));
    }
    if ack.action != BookingAction::New {
        return Err(format!("RS for a {} message", ack.action.as_str()));
    }
    if ack.ota_reservation_id.as_deref() != Some(id) {
        return Err(format!("RS names {:?}, not {id}", ack.ota_reservation_id));
    }
    if ack.our_confirmation_id.as_deref().is_none_or(str::is_empty) {
        return Err("RS without a confirmation id".into());
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    lat: Lat,
    service: Lat,
    outcomes: Outcomes,
    acked: u64,
    bad_ack: u64,
    last_done: Option<Instant>,
}

/// One open-loop run at one rate.
struct Step {
    rate: f64,
    duration: u64,
    scheduled: u64,
    sent: u64,
    slot_waits: u64,
    dispatch_lag: Lat,
    drained: bool,
    sent_rps: f64,
    completed_rps: f64,
    /// Cores used during the step: (load generator, server, whole machine).
    cores: (Option<f64>, Option<f64>, Option<f64>),
    t: Tally,
}

impl Step {
    fn errors(&self) -> u64 {
        self.t.outcomes.errors_except(&[200]) + self.t.bad_ack
    }

    fn p99(&self) -> f64 {
        self.t.lat.json()["p99_ms"].as_f64().unwrap_or(f64::MAX)
    }

    fn holds(&self, p99_ms: f64) -> bool {
        self.sent == self.scheduled && self.drained && self.errors() == 0 && self.t.acked == self.scheduled && self.p99() <= p99_ms
    }

    fn json(&self, p99_ms: f64) -> Value {
        json!({
            "rate": self.rate, "duration_s": self.duration, "scheduled": self.scheduled, "sent": self.sent,
            "not_sent": self.scheduled - self.sent, "sent_rps": report::r1(self.sent_rps), "completed_rps": report::r1(self.completed_rps),
            "acked": self.t.acked, "bad_ack": self.t.bad_ack, "errors": self.errors(), "slot_waits": self.slot_waits,
            "drained": self.drained, "held": self.holds(p99_ms),
            "cpu": {"client_cores": self.cores.0, "server_cores": self.cores.1, "machine_cores": self.cores.2},
            "latency": self.t.lat.json(), "service_time": self.t.service.json(), "dispatch_lag": self.dispatch_lag.json(),
            "outcomes": self.t.outcomes.json(),
        })
    }

    fn row(&self, p99_ms: f64) {
        let l = self.t.lat.json();
        let c = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
        println!(
            "  {:>8.0} {:>9.1} {:>8} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>6} {:>6} {:>6}  {}",
            self.rate,
            self.completed_rps,
            self.t.acked,
            self.errors() + (self.scheduled - self.sent),
            l["p50_ms"].as_f64().unwrap_or(0.0),
            l["p99_ms"].as_f64().unwrap_or(0.0),
            l["max_ms"].as_f64().unwrap_or(0.0),
            c(self.cores.1),
            c(self.cores.0),
            c(self.cores.2),
            if self.holds(p99_ms) { "held" } else { "missed" }
        );
    }
}

struct Ctx {
    target: Arc<Target>,
    headers: Arc<Headers>,
    uris: Vec<Uri>,
    max_in_flight: u32,
}

async fn step(ctx: &Ctx, gen: &mut Gen, rate: f64, duration: u64, server_pid: Option<u32>) -> Result<Step> {
    let total = (rate * duration as f64).floor() as u64;
    if total == 0 {
        bail!("rate × duration schedules no delivery");
    }
    // Bodies are made before the clock starts: the dispatcher only sends.
    let reqs: Vec<(usize, Bytes, String)> = (0..total).map(|_| gen.next()).collect();
    let sem = Arc::new(Semaphore::new(ctx.max_in_flight as usize));
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::default();
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let t0 = Instant::now() + Duration::from_millis(20);
    let hard_stop = t0 + Duration::from_secs(duration) + ctx.target.timeout;
    let cpu = CpuMeter::start(server_pid);
    let handle = tokio::runtime::Handle::current();
    let (sem2, pool2, tally2, target, headers, uris) =
        (sem.clone(), pool.clone(), tally.clone(), ctx.target.clone(), ctx.headers.clone(), ctx.uris.clone());
    // The dispatcher sleeps with the OS timer on its own thread (see `reserve`).
    let (sent, slot_waits, lag, end) = tokio::task::spawn_blocking(move || {
        let mut lag = Lat::default();
        let (mut sent, mut slot_waits) = (0u64, 0u64);
        for (i, (p, body, id)) in reqs.into_iter().enumerate() {
            let sched = t0 + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if sched > now {
                std::thread::sleep(sched - now);
            }
            if Instant::now() > hard_stop {
                break;
            }
            let permit = match sem2.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    slot_waits += 1;
                    match handle.block_on(tokio::time::timeout_at(hard_stop.into(), sem2.clone().acquire_owned())) {
                        Ok(Ok(p)) => p,
                        _ => break,
                    }
                }
            };
            lag.record(Instant::now().saturating_duration_since(sched));
            let (uri, target, headers, pool, tally) = (uris[p].clone(), target.clone(), headers.clone(), pool2.clone(), tally2.clone());
            handle.spawn(async move {
                let _permit = permit;
                let popped = pool.lock().unwrap().pop();
                let mut conn = popped.unwrap_or_else(|| Conn::new(target));
                let sent_at = Instant::now();
                let r = conn.send_with(Method::POST, uri, Some(body), Some(&headers)).await;
                let done = Instant::now();
                if conn.is_open() {
                    pool.lock().unwrap().push(conn);
                }
                let check = match &r {
                    Ok(r) if r.status == 200 => Some(is_success(&r.body, &id)),
                    _ => None,
                };
                let mut t = tally.lock().unwrap();
                t.last_done = Some(t.last_done.map_or(done, |l| l.max(done)));
                match r {
                    Ok(r) => {
                        t.lat.record(done - sched);
                        t.service.record(done - sent_at);
                        t.outcomes.status(r.status);
                        match check {
                            Some(Ok(())) => t.acked += 1,
                            Some(Err(e)) => {
                                t.bad_ack += 1;
                                t.outcomes.sample(e);
                            }
                            None => t.outcomes.sample(format!("{}: {}", r.status, r.snippet())),
                        }
                    }
                    Err(e) => t.outcomes.failure(&e),
                }
            });
            sent += 1;
        }
        (sent, slot_waits, lag, Instant::now())
    })
    .await?;
    let drained = tokio::time::timeout(ctx.target.timeout + Duration::from_secs(1), sem.acquire_many(ctx.max_in_flight)).await.is_ok();
    let cores = cpu.cores(t0.elapsed());
    pool.lock().unwrap().clear();
    let t = std::mem::take(&mut *tally.lock().unwrap());
    let sent_window = end.saturating_duration_since(t0).as_secs_f64().max(1e-9);
    let done_window = t.last_done.map_or(1e-9, |l| l.saturating_duration_since(t0).as_secs_f64().max(1e-9));
    let completed = t.outcomes.responses() + t.outcomes.failures();
    Ok(Step {
        rate,
        duration,
        scheduled: total,
        sent,
        slot_waits,
        dispatch_lag: lag,
        drained,
        sent_rps: sent as f64 / sent_window,
        completed_rps: completed as f64 / done_window,
        cores,
        t,
    })
}

pub async fn run(o: Opts) -> Result<()> {
    o.fleet.check()?;
    check_rate("--rate", o.rate)?;
    check_rate("--max-rate", o.max_rate)?;
    if o.p99_ms.is_nan() || o.p99_ms <= 0.0 {
        bail!("--p99-ms must be positive");
    }
    let target = o.common.target().await?;
    let fleet = o.fleet.clone();
    let today = plan::today(&fleet.timezone)?;
    let props = fleet.property_codes();
    println!(
        "webhook: OTA_HotelResNotifRQ to /webhooks/opentravel/{{property}}/{CHANNEL} over {} properties, {} → {}",
        props.len(),
        if o.find_peak {
            format!("find peak from {}/s, {} s steps, p99 ≤ {} ms", o.rate, o.step_duration, o.p99_ms)
        } else {
            format!("{}/s for {} s", o.rate, o.duration)
        },
        target.base
    );
    setup::provision(&o.common, &fleet, o.days, o.setup_concurrency).await.context("setup")?;

    let hook = Hook::default();
    let mut sims: Vec<SimHandle> = Vec::new();
    let mut specs = Vec::new();
    for p in &props {
        let spec = SimSpec::new(Profile::Opentravel, &target.base, p, CHANNEL, &hook);
        match spec.start().await {
            Ok(s) => sims.push(s),
            Err(e) => {
                ota::stop_all(sims).await;
                return Err(e);
            }
        }
        specs.push(spec);
    }
    let r = measure(&o, &target, &fleet, today, &props, &specs, &sims, &hook).await;
    ota::stop_all(sims).await;
    r
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    o: &Opts,
    target: &Arc<Target>,
    fleet: &Fleet,
    today: Date,
    props: &[String],
    specs: &[SimSpec],
    sims: &[SimHandle],
    hook: &Hook,
) -> Result<()> {
    let mappings: Vec<Value> = (1..=fleet.room_types)
        .map(|k| ota::mapping(&plan::room_type_code(k), &plan::base_plan_code(k), &plan::room_type_code(k), "BAR"))
        .collect();
    let mut conn = Conn::new(target.clone());
    let mut channels = Vec::new();
    for (i, p) in props.iter().enumerate() {
        ota::create_channel(&mut conn, p, &ota::channel_body(CHANNEL, &o.preset, &specs[i], &sims[i], hook, &mappings)).await?;
        channels.push((p.clone(), CHANNEL.to_string()));
    }
    let (synced, _) = ota::wait_synced(&mut conn, &channels, Duration::from_secs(o.sync_timeout)).await?;
    println!("  {} channels connected and synced in {:.2} s", channels.len(), synced.as_secs_f64());

    let seed = plan::seed(o.common.seed);
    let mut gen = Gen {
        rng: Rng::new(seed),
        // Unique per run: ids never collide with an earlier run's.
        run: format!("{:x}", seed % 0xffff_ffff),
        hotels: specs.iter().map(|s| s.hotel_code.clone()).collect(),
        room_types: fleet.room_types,
        horizon: o.horizon,
        max_nights: o.max_nights,
        today,
        next: 0,
    };
    let ctx = Ctx {
        headers: Arc::new(Headers::basic(&hook.user, &hook.password, "application/xml")),
        uris: props.iter().map(|p| target.uri(&format!("/webhooks/opentravel/{p}/{CHANNEL}"))).collect(),
        target: target.clone(),
        max_in_flight: o.max_in_flight,
    };

    let cpu = CpuMeter::start(o.common.server_pid);
    let started = Instant::now();
    if !o.find_peak {
        let s = step(&ctx, &mut gen, o.rate, o.duration, o.common.server_pid).await?;
        let wall = started.elapsed();
        report::title("webhook");
        report::kv("backend", o.backend_note.as_deref().unwrap_or("-"));
        report::kv("offered rate (req/s)", o.rate);
        report::kv("scheduled / sent", format!("{} / {}", s.scheduled, s.sent));
        report::kv("sent rate (req/s)", format!("{:.1}", s.sent_rps));
        report::kv("completed rate (req/s)", format!("{:.1}", s.completed_rps));
        report::kv("success RS", s.t.acked);
        report::kv("bad RS / errors", format!("{} / {}", s.t.bad_ack, s.errors()));
        report::kv("waited for a free slot", s.slot_waits);
        report::kv("connections opened", target.connects.load(std::sync::atomic::Ordering::Relaxed));
        s.t.outcomes.print();
        let cpu = cpu.finish(wall);
        println!();
        report::print_latencies(&[("from due time", &s.t.lat), ("service time", &s.t.service), ("dispatch lag", &s.dispatch_lag)]);
        let mut v = s.json(o.p99_ms);
        v["scenario"] = json!("webhook");
        v["base"] = json!(target.base);
        v["backend"] = json!(o.backend_note);
        v["fleet"] = fleet.json();
        v["max_in_flight"] = json!(o.max_in_flight);
        v["cpu"] = cpu;
        report::result_line(&v);
        if s.t.acked == 0 {
            bail!("no delivery was acknowledged");
        }
        return Ok(());
    }

    // Find the peak: double until a step misses, then bisect.
    println!();
    println!(
        "  {:>8} {:>9} {:>8} {:>7} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6}",
        "rate/s", "done/s", "acked", "errors", "p50 ms", "p99 ms", "max ms", "server", "client", "box"
    );
    let mut steps: Vec<Step> = Vec::new();
    let (mut held, mut missed): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = o.rate;
    // Bounded: the rate doubles up to --max-rate.
    while rate <= o.max_rate {
        let s = step(&ctx, &mut gen, rate, o.step_duration, o.common.server_pid).await?;
        s.row(o.p99_ms);
        let ok = s.holds(o.p99_ms);
        steps.push(s);
        if ok {
            held = Some(rate);
            rate *= 2.0;
        } else {
            missed = Some(rate);
            break;
        }
        tokio::time::sleep(Duration::from_secs(o.pause)).await;
    }
    for _ in 0..o.refine {
        let (Some(h), Some(m)) = (held, missed) else { break };
        let mid = ((h + m) / 2.0).round();
        if m - h < h * 0.1 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(o.pause)).await;
        let s = step(&ctx, &mut gen, mid, o.step_duration, o.common.server_pid).await?;
        s.row(o.p99_ms);
        if s.holds(o.p99_ms) {
            held = Some(mid);
        } else {
            missed = Some(mid);
        }
        steps.push(s);
    }
    let wall = started.elapsed();
    report::title("webhook --find-peak");
    report::kv("backend", o.backend_note.as_deref().unwrap_or("-"));
    report::kv("step (s) / p99 bound", format!("{} / {} ms", o.step_duration, o.p99_ms));
    report::kv("highest rate held (req/s)", held.map_or("none".to_string(), |h| format!("{h:.0}")));
    report::kv("lowest rate missed", missed.map_or(format!("none up to {}", o.max_rate), |m| format!("{m:.0}")));
    if let Some(best) = steps.iter().rfind(|s| Some(s.rate) == held) {
        report::print_latencies(&[("at the peak", &best.t.lat)]);
    }
    if let Some(s) = steps.iter().find(|s| Some(s.rate) == missed) {
        s.t.outcomes.print();
    }
    let cpu = cpu.finish(wall);
    report::result_line(&json!({
        "scenario": "webhook-find-peak",
        "base": target.base,
        "backend": o.backend_note,
        "fleet": fleet.json(),
        "step_duration_s": o.step_duration,
        "p99_bound_ms": o.p99_ms,
        "max_in_flight": o.max_in_flight,
        "peak_rate_held": held,
        "lowest_rate_missed": missed,
        "steps": steps.iter().map(|s| s.json(o.p99_ms)).collect::<Vec<_>>(),
        "cpu": cpu,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_valid_and_unique() {
        let mut g = Gen {
            rng: Rng::new(7),
            run: "ab12".into(),
            hotels: vec!["HLOAD0000OT".into(), "HLOAD0001OT".into()],
            room_types: 5,
            horizon: 365,
            max_nights: 3,
            today: Date::constant(2030, 1, 1),
            next: 0,
        };
        let (p, body, id) = g.next();
        assert!(p < 2);
        assert_eq!(id, "LDab120");
        let parsed = opentravel::parse_booking(&body, &Limits::default()).unwrap();
        assert_eq!(parsed.ota_reservation_id, id);
        assert_eq!(parsed.action, BookingAction::New);
        assert_eq!(parsed.rooms.len(), 1);
        assert!(!parsed.rooms[0].nightly.is_empty());
        let (_, _, id2) = g.next();
        assert_ne!(id, id2);
        let ack = opentravel::booking_ack_rs(BookingAction::New, Some("e"), &id, "R-1", jiff::Timestamp::now());
        assert!(is_success(ack.as_bytes(), &id).is_ok());
        assert!(is_success(ack.as_bytes(), "other").is_err());
        let err = opentravel::error_rs(BookingAction::New, Some("e"), "x", "nope");
        assert!(is_success(err.as_bytes(), &id).is_err());
    }
}
