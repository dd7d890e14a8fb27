//! `channel-latency`: how long an ARI change takes to reach the OTAs.
//!
//! Provisions the fleet (`setup`), starts three OTA simulators per property in
//! this process (opentravel, alpinebits, jsonrest; each with a simulated
//! network latency), connects one channel per simulator through the API,
//! waits for the initial full syncs, then sends ARI changes at a steady rate,
//! round robin over the properties. Each change is one `POST …/ari` of two
//! lines on one (room type, date) never touched before in the run: a new
//! availability and a new BAR rate. From the moment that POST returned 200,
//! the simulators' views are watched until the opentravel and jsonrest ones
//! show the new rate and the alpinebits one (availability only) the new count.
//!
//! Watching is cheap: every `--poll-ms` the watcher reads, for each simulator
//! with a change outstanding, the count of answered requests on the endpoint
//! that carries the value it waits for (`OTA_HotelRateAmountNotif`, FreeRooms,
//! `api/ari`; counted after the message is applied) and takes a view snapshot
//! only when that count moved since its last look, so a latency is late by at
//! most one poll interval (plus the snapshot).

use crate::client::{Conn, Target};
use crate::ota::{self, Hook, PresetSet, SimSpec, SyncState, PROFILES};
use crate::plan::{self, Fleet, Rng};
use crate::report::{self, CpuMeter, Lat, Outcomes};
use crate::{setup, Common};
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use hyper::Method;
use jiff::civil::Date;
use rust_decimal::Decimal;
use saluran_sim::{FaultConfig, Profile, SimHandle};
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The target of DESIGN §8 for this measurement.
const TARGET_P99_MS: f64 = 500.0;

#[derive(Args, Debug)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub fleet: Fleet,
    /// ARI changes to send in total (each is watched on 3 simulators).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub updates: u32,
    /// Changes per second, open loop, round robin over the properties.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Simulated OTA latency added to every request the hub makes, in ms.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub latency_ms: u64,
    /// Channel presets: `load` (load-tests/presets; needs the server started
    /// with SALURAN_PRESETS_DIR=load-tests/presets) or `stock` (booking,
    /// tiketcom, traveloka).
    #[arg(long, value_enum, default_value_t = PresetSet::Load)]
    pub presets: PresetSet,
    /// Seconds to wait for the initial full syncs.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sync_timeout: u64,
    /// How often the simulators are checked, in ms.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub poll_ms: u64,
    /// A change not seen on a simulator after this many seconds counts as lost.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub give_up: u64,
    /// Days of ARI `setup` loads (today + 730 is the horizon).
    #[arg(long, default_value_t = 730, value_parser = clap::value_parser!(u32).range(3..=731))]
    pub days: u32,
    /// Properties `setup` provisions in parallel.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub setup_concurrency: u32,
    /// Room types each channel maps (RT1..RTn, BAR plan; default: all).
    /// Changes go to mapped room types only, and a push carries only the
    /// changed room type's mappings, so fewer mapped room types change nothing
    /// per change, but make the simulators' views smaller and the watcher's
    /// snapshots cheaper (for high --rate on one core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub mapped_room_types: Option<u32>,
    /// ARI POSTs outstanding at most.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_in_flight: u32,
}

/// What a simulator must come to show.
#[derive(Clone, Copy, Debug)]
enum Want {
    Rate(Decimal),
    Avail(u32),
}

struct Expect {
    room: String,
    rate: &'static str,
    date: Date,
    want: Want,
    ok_at: Instant,
    /// Not looked at yet.
    first_look: bool,
}

/// Changes outstanding per simulator (index = property × 3 + profile).
struct Watch {
    pending: Vec<Vec<Expect>>,
    /// Registered since the watcher last looked: look at the view even if no
    /// message was applied since (it may have arrived before the 200 was read).
    fresh: Vec<bool>,
}

#[derive(Default)]
struct Seen {
    all: Lat,
    by_profile: [Lat; 3],
    lost: [u64; 3],
    /// Seen when the watcher first looked (arrived before the 200 was read).
    before_ack: u64,
}

#[derive(Default)]
struct Sent {
    post: Lat,
    outcomes: Outcomes,
    /// Seconds into the run (whole) in which an ARI POST took over 100 ms,
    /// with how many: shows whether slow answers are spread or bunched.
    slow: std::collections::BTreeMap<u64, u64>,
}

fn profile_index(p: Profile) -> usize {
    PROFILES.iter().position(|x| *x == p).expect("known profile")
}

/// The current values a change starts from: BAR rate (opentravel view) and
/// availability (alpinebits view), per property, room type, day.
struct Start {
    days: usize,
    room_types: usize,
    rate: Vec<Option<Decimal>>,
    avail: Vec<Option<u32>>,
}

impl Start {
    fn idx(&self, p: usize, k: usize, d: usize) -> usize {
        (p * self.room_types + k) * self.days + d
    }
}

fn check_rate(rate: f64) -> Result<()> {
    if !(0.1..=10_000.0).contains(&rate) {
        bail!("--rate must be between 0.1 and 10000 changes per second");
    }
    Ok(())
}

pub async fn run(o: Opts) -> Result<()> {
    o.fleet.check()?;
    check_rate(o.rate)?;
    let mapped = o.mapped_room_types.unwrap_or(o.fleet.room_types);
    if mapped > o.fleet.room_types {
        bail!("--mapped-room-types {mapped} is more than --room-types {}", o.fleet.room_types);
    }
    let cells = u64::from(o.fleet.properties) * u64::from(mapped) * u64::from(o.days - 2);
    if u64::from(o.updates) * 2 > cells {
        bail!("--updates {} is more than half the (property, room type, date) cells ({cells}): each change needs a fresh one", o.updates);
    }
    let target: Arc<Target> = o.common.target().await?;
    let fleet = o.fleet.clone();
    let today = plan::today(&fleet.timezone)?;
    let props = fleet.property_codes();
    println!(
        "channel-latency: {} properties × 3 channels ({} presets), {} ms simulated OTA latency, {} changes at {}/s → {}",
        props.len(),
        o.presets.as_str(),
        o.latency_ms,
        o.updates,
        o.rate,
        target.base
    );

    setup::provision(&o.common, &fleet, o.days, o.setup_concurrency).await.context("setup")?;

    // Simulators: 3 per property, in this process.
    let hook = Hook::default();
    let mut specs = Vec::new();
    let mut sims: Vec<SimHandle> = Vec::new();
    let faults = FaultConfig { latency_ms: o.latency_ms, ..FaultConfig::none() };
    for p in &props {
        for profile in PROFILES {
            let spec = SimSpec::new(profile, &target.base, p, ota::short(profile), &hook);
            let sim = match spec.start().await {
                Ok(s) => s,
                Err(e) => {
                    ota::stop_all(sims).await;
                    return Err(e);
                }
            };
            sim.set_faults(faults.clone()).map_err(|e| anyhow::anyhow!(e))?;
            specs.push(spec);
            sims.push(sim);
        }
    }
    let sims = Arc::new(sims);
    let r = measure(&o, &target, &fleet, today, &props, &specs, &sims, &hook).await;
    let sims = Arc::try_unwrap(sims).unwrap_or_else(|_| Vec::new());
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
    sims: &Arc<Vec<SimHandle>>,
    hook: &Hook,
) -> Result<()> {
    // Channels: map every room type's BAR plan.
    let mapped = o.mapped_room_types.unwrap_or(fleet.room_types);
    let mappings: Vec<serde_json::Value> =
        (1..=mapped).map(|k| ota::mapping(&plan::room_type_code(k), &plan::base_plan_code(k), &plan::room_type_code(k), "BAR")).collect();
    let mut conn = Conn::new(target.clone());
    let mut channels = Vec::new();
    let sync_started = Instant::now();
    for (i, (spec, sim)) in specs.iter().zip(sims.iter()).enumerate() {
        let property = &props[i / 3];
        let code = ota::short(spec.profile);
        let body = ota::channel_body(code, o.presets.preset(spec.profile), spec, sim, hook, &mappings);
        ota::create_channel(&mut conn, property, &body).await?;
        channels.push((property.clone(), code.to_string()));
    }
    let created = sync_started.elapsed();
    println!("  {} channels created in {:.2} s; waiting for their full syncs", channels.len(), created.as_secs_f64());
    let (synced, _) = ota::wait_synced(&mut conn, &channels, Duration::from_secs(o.sync_timeout)).await?;
    let sync_wall = synced + created;
    println!("  initial full syncs done {:.2} s after the first channel was created", sync_wall.as_secs_f64());

    // Starting values, from what the simulators believe.
    let days = (o.days as usize).min(730);
    let rts = mapped as usize;
    let mut start =
        Start { days, room_types: rts, rate: vec![None; props.len() * rts * days], avail: vec![None; props.len() * rts * days] };
    let mut missing = 0u64;
    for p in 0..props.len() {
        let ot = sims[p * 3 + profile_index(Profile::Opentravel)].view();
        let ab = sims[p * 3 + profile_index(Profile::Alpinebits)].view();
        for c in &ot.cells {
            if let (Some(k), Some(d)) = (room_index(&c.room, rts), day_index(today, c.date, days)) {
                if c.rate == "BAR" {
                    let i = start.idx(p, k, d);
                    start.rate[i] = c.rate_amount;
                }
            }
        }
        for c in &ab.cells {
            if let (Some(k), Some(d)) = (room_index(&c.room, rts), day_index(today, c.date, days)) {
                if c.rate.is_empty() {
                    let i = start.idx(p, k, d);
                    start.avail[i] = c.available;
                }
            }
        }
    }
    for i in 0..start.rate.len() {
        if start.rate[i].is_none() || start.avail[i].is_none() {
            missing += 1;
        }
    }
    if missing > 0 {
        println!("  note: {missing} (property, room type, date) cells missing from the simulators after the full sync");
    }
    let requests_before: u64 = sims.iter().map(|s| ota::ari_requests(s).0).sum();
    let server_before = server_ari_over_100ms(&mut conn).await;

    // The watcher.
    let watch = Arc::new(Mutex::new(Watch { pending: (0..sims.len()).map(|_| Vec::new()).collect(), fresh: vec![false; sims.len()] }));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let dispatch_done = Arc::new(AtomicBool::new(false));
    let give_up = Duration::from_secs(o.give_up);
    let run_for = Duration::from_secs_f64(f64::from(o.updates) / o.rate);
    let hard_stop = Instant::now() + run_for + target.timeout + give_up + Duration::from_secs(5);
    let watcher = {
        let (watch, seen, sims, dispatch_done) = (watch.clone(), seen.clone(), sims.clone(), dispatch_done.clone());
        let every = Duration::from_millis(o.poll_ms);
        tokio::spawn(async move {
            let mut last_applied = vec![u64::MAX; sims.len()];
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Bounded by hard_stop.
            while Instant::now() < hard_stop {
                tick.tick().await;
                let mut w = watch.lock().unwrap();
                let mut outstanding = 0usize;
                for (i, sim) in sims.iter().enumerate() {
                    if w.pending[i].is_empty() {
                        continue;
                    }
                    let applied = delivered(sim);
                    let fresh = std::mem::take(&mut w.fresh[i]);
                    let now = Instant::now();
                    if applied != last_applied[i] || fresh {
                        last_applied[i] = applied;
                        let view = sim.view();
                        let pi = profile_index(sim.profile());
                        let mut s = seen.lock().unwrap();
                        w.pending[i].retain_mut(|e| {
                            let shown = view.cell(&e.room, e.rate, e.date).is_some_and(|c| match e.want {
                                Want::Rate(r) => c.rate_amount == Some(r),
                                Want::Avail(a) => c.available == Some(a),
                            });
                            if shown {
                                let lat = now.saturating_duration_since(e.ok_at);
                                if e.first_look {
                                    s.before_ack += 1;
                                }
                                s.all.record(lat);
                                s.by_profile[pi].record(lat);
                            }
                            e.first_look = false;
                            !shown
                        });
                    }
                    let mut s = seen.lock().unwrap();
                    let pi = profile_index(sim.profile());
                    w.pending[i].retain(|e| {
                        let lost = now.saturating_duration_since(e.ok_at) > give_up;
                        if lost {
                            s.lost[pi] += 1;
                        }
                        !lost
                    });
                    outstanding += w.pending[i].len();
                }
                drop(w);
                if outstanding == 0 && dispatch_done.load(Ordering::Acquire) {
                    break;
                }
            }
            // What is left at the hard stop is lost.
            let w = watch.lock().unwrap();
            let mut s = seen.lock().unwrap();
            for (i, sim) in sims.iter().enumerate() {
                s.lost[profile_index(sim.profile())] += w.pending[i].len() as u64;
            }
        })
    };

    // The changes, open loop.
    let cpu = CpuMeter::start(o.common.server_pid);
    let started = Instant::now();
    let run_start = started;
    let sent = Arc::new(Mutex::new(Sent::default()));
    let sem = Arc::new(Semaphore::new(o.max_in_flight as usize));
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::default();
    let mut rng = Rng::new(plan::seed(o.common.seed));
    let mut used: HashSet<(usize, usize, usize)> = HashSet::new();
    let mut late = 0u64;
    let t0 = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::new();
    for i in 0..o.updates {
        let due = t0 + Duration::from_secs_f64(f64::from(i) / o.rate);
        tokio::time::sleep_until(due).await;
        if Instant::now() > hard_stop {
            late = u64::from(o.updates - i);
            break;
        }
        let p = (i as usize) % props.len();
        // A cell not touched before in this run (the check above leaves
        // at least half of them free, so this ends quickly).
        let (k, d) = loop {
            let k = rng.below(mapped) as usize;
            let d = 1 + rng.below(days as u32 - 2) as usize;
            if used.insert((p, k, d)) {
                break (k, d);
            }
        };
        let si = start.idx(p, k, d);
        let (Some(old_rate), Some(old_avail)) = (start.rate[si], start.avail[si]) else {
            sent.lock().unwrap().outcomes.sample(format!("no starting value for {} RT{} day {d}", props[p], k + 1));
            continue;
        };
        let new_rate = (old_rate + Decimal::from(1000)).normalize();
        let new_avail = if old_avail > 0 { old_avail - 1 } else { 1 };
        let date = plan::add_days(today, d as u32);
        let (rt, bar) = (plan::room_type_code(k as u32 + 1), plan::base_plan_code(k as u32 + 1));
        let body = json!({"updates": [
            {"room_type": rt, "from": date.to_string(), "to": date.to_string(), "availability": new_avail},
            {"room_type": rt, "rate_plan": bar, "from": date.to_string(), "to": date.to_string(), "rate": new_rate.to_string()},
        ]});
        let body = Bytes::from(serde_json::to_vec(&body).expect("JSON"));
        let uri = target.uri(&format!("/api/v1/properties/{}/ari", props[p]));
        let permit = sem.clone().acquire_owned().await?;
        let (target, watch, sent, pool) = (target.clone(), watch.clone(), sent.clone(), pool.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let popped = pool.lock().unwrap().pop();
            let mut conn = popped.unwrap_or_else(|| Conn::new(target));
            let t = Instant::now();
            let r = conn.send(Method::POST, uri, Some(body)).await;
            let ok_at = Instant::now();
            if conn.is_open() {
                pool.lock().unwrap().push(conn);
            }
            let mut s = sent.lock().unwrap();
            if ok_at - t > Duration::from_millis(100) {
                *s.slow.entry(t.saturating_duration_since(run_start).as_secs()).or_default() += 1;
            }
            match r {
                Ok(r) if r.status == 200 => {
                    s.post.record(ok_at - t);
                    s.outcomes.status(200);
                    drop(s);
                    let mut w = watch.lock().unwrap();
                    for (j, profile) in PROFILES.iter().enumerate() {
                        let (rate, want) = match profile {
                            Profile::Alpinebits => ("", Want::Avail(new_avail)),
                            _ => ("BAR", Want::Rate(new_rate)),
                        };
                        w.pending[p * 3 + j].push(Expect { room: rt.clone(), rate, date, want, ok_at, first_look: true });
                        w.fresh[p * 3 + j] = true;
                    }
                }
                Ok(r) => {
                    s.outcomes.status(r.status);
                    s.outcomes.sample(format!("{}: {}", r.status, r.snippet()));
                }
                Err(e) => s.outcomes.failure(&e),
            }
        }));
        // Reap finished tasks now and then so the list stays short.
        if tasks.len() > 4096 {
            tasks.retain(|t| !t.is_finished());
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    dispatch_done.store(true, Ordering::Release);
    let _ = watcher.await;
    let wall = started.elapsed();

    // After: channel counters, simulator counters.
    let mut after: Vec<SyncState> = Vec::new();
    for (p, c) in &channels {
        after.push(ota::channel_sync(&mut conn, p, c).await?);
    }
    let requests_after: u64 = sims.iter().map(|s| ota::ari_requests(s).0).sum();
    let server_slow = match (server_before, server_ari_over_100ms(&mut conn).await) {
        (Some((_, a)), Some((_, b))) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let stats: Vec<_> = sims.iter().map(|s| s.stats()).collect();
    let rate_limited: u64 = stats.iter().map(|s| s.rate_limited).sum();
    let refused: u64 = stats.iter().map(|s| s.messages_refused).sum();
    let regressions: u64 = sims.iter().map(|s| s.view().regressions).sum();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let ok = sent.outcomes.count(200);
    let lost: u64 = seen.lost.iter().sum();
    let p99 = seen.all.json()["p99_ms"].as_f64().unwrap_or(0.0);
    let pass = seen.all.count() > 0 && lost == 0 && p99 <= TARGET_P99_MS;

    report::title("channel-latency");
    report::kv("properties / simulators", format!("{} / {}", props.len(), sims.len()));
    report::kv("presets", format!("{} ({})", o.presets.as_str(), PROFILES.map(|p| o.presets.preset(p)).join(", ")));
    report::kv("simulated OTA latency", format!("{} ms", o.latency_ms));
    report::kv("mapped room types", format!("{mapped} of {} (BAR plan each)", fleet.room_types));
    report::kv("initial full sync (s)", format!("{:.2}", sync_wall.as_secs_f64()));
    report::kv("changes sent / 200", format!("{} / {ok}", o.updates - late as u32));
    report::kv("wall time (s)", format!("{:.2}", wall.as_secs_f64()));
    report::kv("seen / lost", format!("{} / {lost}", seen.all.count()));
    report::kv("seen at first look", seen.before_ack);
    report::kv("OTA ARI requests (run)", requests_after - requests_before);
    report::kv("OTA 429 / refused", format!("{rate_limited} / {refused}"));
    report::kv("OTA regressions", regressions);
    if !sent.slow.is_empty() {
        let secs: Vec<String> = sent.slow.iter().take(12).map(|(s, n)| format!("{s}s×{n}")).collect();
        report::kv("ARI POST > 100 ms at", secs.join(" "));
        if let Some(n) = server_slow {
            report::kv("  of which server-side", n);
        }
    }
    report::kv(
        "channel failures / DLQ",
        format!("{} / {}", after.iter().map(|s| s.failures).sum::<i64>(), after.iter().map(|s| s.dead_letters).sum::<i64>()),
    );
    sent.outcomes.print();
    let cpu = cpu.finish(wall);
    println!();
    report::print_latencies(&[
        ("ARI POST", &sent.post),
        ("to every OTA", &seen.all),
        ("opentravel (rate)", &seen.by_profile[0]),
        ("alpinebits (avail)", &seen.by_profile[1]),
        ("jsonrest (rate)", &seen.by_profile[2]),
    ]);
    println!();
    report::kv("target p99 ≤ 500 ms", if pass { "met" } else { "NOT met" });
    report::result_line(&json!({
        "scenario": "channel-latency",
        "base": target.base,
        "fleet": fleet.json(),
        "simulators": sims.len(),
        "mapped_room_types": mapped,
        "presets": o.presets.as_str(),
        "preset_names": PROFILES.map(|p| o.presets.preset(p)),
        "ota_latency_ms": o.latency_ms,
        "poll_ms": o.poll_ms,
        "updates": o.updates,
        "rate": o.rate,
        "late_not_sent": late,
        "initial_sync_s": (sync_wall.as_secs_f64() * 1000.0).round() / 1000.0,
        "missing_start_cells": missing,
        "wall_s": (wall.as_secs_f64() * 1000.0).round() / 1000.0,
        "ari_ok": ok,
        "ari_post_latency": sent.post.json(),
        "ari_outcomes": sent.outcomes.json(),
        "ari_post_over_100ms_server": server_slow,
        "ari_post_slow_by_second": sent.slow.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<String, serde_json::Value>>(),
        "propagation": {
            "all": seen.all.json(),
            "opentravel": seen.by_profile[0].json(),
            "alpinebits": seen.by_profile[1].json(),
            "jsonrest": seen.by_profile[2].json(),
        },
        "seen_at_first_look": seen.before_ack,
        "lost": {"opentravel": seen.lost[0], "alpinebits": seen.lost[1], "jsonrest": seen.lost[2]},
        "ota_ari_requests": requests_after - requests_before,
        "ota_rate_limited": rate_limited,
        "ota_refused": refused,
        "ota_regressions": regressions,
        "channels_after": ota::sync_totals(&after),
        "target_p99_ms": TARGET_P99_MS,
        "target_met": pass,
        "cpu": cpu,
    }));
    if ok == 0 || seen.all.count() == 0 {
        bail!("no change was seen on any simulator");
    }
    Ok(())
}

/// Successful requests so far on the endpoint that carries what the watcher
/// waits for: rates for opentravel (the second of its two messages), FreeRooms
/// for alpinebits, the batch endpoint for jsonrest.
fn delivered(sim: &SimHandle) -> u64 {
    let p = sim.profile();
    sim.stats()
        .requests
        .iter()
        .filter(|(label, _)| match p {
            Profile::Opentravel => label.as_str() == "OTA_HotelRateAmountNotif",
            _ => ota::is_ari_endpoint(p, label),
        })
        .map(|(_, by_status)| by_status.get("200").copied().unwrap_or(0))
        .sum()
}

/// The server's own count of `POST …/ari` answers, and of those slower than
/// 100 ms, from its `/metrics` histogram (`None` when not exposed): tells a
/// server-side stall from a client-side one.
async fn server_ari_over_100ms(conn: &mut Conn) -> Option<(u64, u64)> {
    let r = conn.get("/metrics").await.ok().filter(|r| r.status == 200)?;
    parse_ari_buckets(&String::from_utf8_lossy(&r.body))
}

fn parse_ari_buckets(text: &str) -> Option<(u64, u64)> {
    let (mut total, mut within) = (None, None);
    for line in text.lines() {
        if !line.starts_with("saluran_http_request_duration_seconds_bucket")
            || !line.contains(r#"method="POST""#)
            || !line.contains(r#"route="/api/v1/properties/{property}/ari""#)
        {
            continue;
        }
        let n = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok())? as u64;
        if line.contains(r#"le="+Inf""#) {
            total = Some(n);
        } else if line.contains(r#"le="0.1""#) {
            within = Some(n);
        }
    }
    Some((total?, total? - within?))
}

/// "RT3" → 2 (0-based), for room types 1..=n.
fn room_index(room: &str, n: usize) -> Option<usize> {
    let k: usize = room.strip_prefix("RT")?.parse().ok()?;
    (1..=n).contains(&k).then(|| k - 1)
}

/// Days from `today` to `d`, when within `0..days`.
fn day_index(today: Date, d: Date, days: usize) -> Option<usize> {
    let n = saluran_channels::model::days_between(today, d);
    (0..days as i64).contains(&n).then_some(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes() {
        assert_eq!(room_index("RT1", 5), Some(0));
        assert_eq!(room_index("RT5", 5), Some(4));
        assert_eq!(room_index("RT6", 5), None);
        assert_eq!(room_index("DBL", 5), None);
        let t = Date::constant(2030, 1, 1);
        assert_eq!(day_index(t, Date::constant(2030, 1, 3), 730), Some(2));
        assert_eq!(day_index(t, Date::constant(2029, 12, 31), 730), None);
        assert!(check_rate(0.0).is_err());
        assert!(check_rate(20.0).is_ok());
        let m = "x 1\nsaluran_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/properties/{property}/ari\",le=\"0.1\"} 3007\n\
                 saluran_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/properties/{property}/ari\",le=\"+Inf\"} 3100\n";
        assert_eq!(parse_ari_buckets(m), Some((3100, 93)));
        assert_eq!(parse_ari_buckets("nothing"), None);
    }
}
