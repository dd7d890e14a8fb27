//! `reserve`: open loop at a fixed arrival rate. Request i is due at
//! t0 + i/rate whatever happened to earlier ones; its latency is measured from
//! that due time (so a stalled server cannot hide its stall by slowing the
//! sender down: no coordinated omission), and the service time (from the
//! moment it went on the wire) is reported beside it.
//!
//! Requests run on a pool of keep-alive connections, at most
//! `--max-in-flight` at once; when that many are outstanding the next request
//! waits for a slot and the wait counts in its latency. Nothing is sent after
//! duration + timeout; what was due and not sent by then is reported.

use crate::client::{Conn, Target};
use crate::plan::{self, Fleet, Rng};
use crate::report::{self, CpuMeter, Lat, Outcomes};
use crate::Common;
use anyhow::{bail, Result};
use bytes::Bytes;
use clap::Args;
use hyper::{Method, Uri};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Args, Debug)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub fleet: Fleet,
    /// Arrival rate, requests per second.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Seconds of arrivals.
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
    /// Adults per reservation.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=3))]
    pub adults: u32,
}

#[derive(Default)]
struct Tally {
    /// From the due time to the full response.
    lat: Lat,
    /// From the send to the full response.
    service: Lat,
    outcomes: Outcomes,
    not_available: u64,
    last_done: Option<Instant>,
}

fn is_not_available(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"not_available";
    body.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

/// When request i is due, relative to t0.
pub fn due(i: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(i as f64 / rate)
}

/// What the dispatcher needs to make request i.
struct Dispatch {
    rng: Rng,
    properties: u32,
    room_types: u32,
    horizon: u32,
    max_nights: u32,
    adults: u32,
    dates: Vec<String>,
    uris: Vec<Uri>,
}

impl Dispatch {
    /// Sends request i at t0 + i/rate (or as soon after as a slot is free)
    /// until all are sent or `hard_stop`; returns (sent, slot waits, dispatch
    /// lag, when it stopped).
    #[allow(clippy::too_many_arguments)]
    fn run(
        mut self,
        rt: &tokio::runtime::Handle,
        t0: Instant,
        hard_stop: Instant,
        total: u64,
        rate: f64,
        sem: &Arc<Semaphore>,
        pool: &Arc<Mutex<Vec<Conn>>>,
        tally: &Arc<Mutex<Tally>>,
        target: &Arc<Target>,
    ) -> (u64, u64, Lat, Instant) {
        let mut lag = Lat::default();
        let (mut sent, mut slot_waits) = (0u64, 0u64);
        for i in 0..total {
            let sched = t0 + due(i, rate);
            let now = Instant::now();
            if sched > now {
                std::thread::sleep(sched - now);
            }
            if Instant::now() > hard_stop {
                break;
            }
            let permit = match sem.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    slot_waits += 1;
                    match rt.block_on(tokio::time::timeout_at(hard_stop.into(), sem.clone().acquire_owned())) {
                        Ok(Ok(p)) => p,
                        _ => break,
                    }
                }
            };
            lag.record(Instant::now().saturating_duration_since(sched));

            let p = self.rng.below(self.properties);
            let k = self.rng.below(self.room_types) + 1;
            let d = self.rng.below(self.horizon) as usize;
            let n = (self.rng.below(self.max_nights) + 1) as usize;
            let body = Bytes::from(format!(
                r#"{{"room_type":"RT{k}","rate_plan":"RT{k}-BAR","check_in":"{}","check_out":"{}","adults":{},"guest":{{"name":"Load Guest {i}"}}}}"#,
                self.dates[d],
                self.dates[d + n],
                self.adults
            ));
            let uri = self.uris[p as usize].clone();
            let (target, pool, tally) = (target.clone(), pool.clone(), tally.clone());
            rt.spawn(async move {
                let _permit = permit;
                let popped = pool.lock().unwrap().pop();
                let mut conn = popped.unwrap_or_else(|| Conn::new(target));
                let sent_at = Instant::now();
                let r = conn.send(Method::POST, uri, Some(body)).await;
                let done = Instant::now();
                if conn.is_open() {
                    pool.lock().unwrap().push(conn);
                }
                let mut t = tally.lock().unwrap();
                t.last_done = Some(t.last_done.map_or(done, |l| l.max(done)));
                match r {
                    Ok(r) => {
                        t.lat.record(done - sched);
                        t.service.record(done - sent_at);
                        t.outcomes.status(r.status);
                        if r.status == 409 && is_not_available(&r.body) {
                            t.not_available += 1;
                        } else if r.status != 201 {
                            let msg = format!("{}: {}", r.status, r.snippet());
                            t.outcomes.sample(msg);
                        }
                    }
                    Err(e) => t.outcomes.failure(&e),
                }
            });
            sent += 1;
        }
        (sent, slot_waits, lag, Instant::now())
    }
}

pub async fn run(o: Opts) -> Result<()> {
    o.fleet.check()?;
    if !(o.rate >= 0.1 && o.rate <= 100_000.0) {
        bail!("--rate must be between 0.1 and 100000 per second");
    }
    let total = (o.rate * o.duration as f64).floor() as u64;
    if total == 0 {
        bail!("--rate × --duration schedules no request");
    }
    let target = o.common.target().await?;
    let today = plan::today(&o.fleet.timezone)?;
    let dates = plan::date_strings(today, o.horizon + o.max_nights);
    let uris: Vec<Uri> = o.fleet.property_codes().iter().map(|c| target.uri(&format!("/api/v1/properties/{c}/reservations"))).collect();
    println!(
        "reserve: {} req/s for {} s ({} requests), at most {} in flight, {} properties, check-in within {} days, 1-{} nights → {}",
        o.rate, o.duration, total, o.max_in_flight, o.fleet.properties, o.horizon, o.max_nights, target.base
    );

    let sem = Arc::new(Semaphore::new(o.max_in_flight as usize));
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
    let tally: Arc<Mutex<Tally>> = Arc::default();

    let cpu = CpuMeter::start(o.common.server_pid);
    let t0 = Instant::now() + Duration::from_millis(20);
    let hard_stop = t0 + Duration::from_secs(o.duration) + target.timeout;
    // The dispatcher runs on its own OS thread and sleeps with the OS timer
    // (tens of µs of slack) rather than tokio's (1 ms ticks), so requests
    // leave on time without spinning.
    let d = Dispatch {
        rng: Rng::new(plan::seed(o.common.seed)),
        properties: o.fleet.properties,
        room_types: o.fleet.room_types,
        horizon: o.horizon,
        max_nights: o.max_nights,
        adults: o.adults,
        dates,
        uris,
    };
    let handle = tokio::runtime::Handle::current();
    let (sem2, pool2, tally2, target2) = (sem.clone(), pool.clone(), tally.clone(), target.clone());
    let rate = o.rate;
    let (sent, slot_waits, dispatch_lag, dispatch_end) =
        tokio::task::spawn_blocking(move || d.run(&handle, t0, hard_stop, total, rate, &sem2, &pool2, &tally2, &target2)).await?;
    // Drain: every permit back means every request finished (each one is
    // bounded by the request timeout).
    let drained = tokio::time::timeout(target.timeout + Duration::from_secs(1), sem.acquire_many(o.max_in_flight)).await.is_ok();
    let wall = t0.elapsed();
    pool.lock().unwrap().clear();

    let t = std::mem::take(&mut *tally.lock().unwrap());
    let responses = t.outcomes.responses();
    let created = t.outcomes.count(201);
    let conflicts = t.outcomes.count(409);
    let other = responses - created - conflicts + t.outcomes.failures();
    let sent_window = dispatch_end.saturating_duration_since(t0).as_secs_f64().max(1e-9);
    let done_window = t.last_done.map_or(1e-9, |l| l.saturating_duration_since(t0).as_secs_f64().max(1e-9));
    let sent_rps = sent as f64 / sent_window;
    let completed_rps = (responses + t.outcomes.failures()) as f64 / done_window;

    report::title("reserve");
    report::kv("offered rate (req/s)", o.rate);
    report::kv("scheduled / sent", format!("{total} / {sent}"));
    report::kv("not sent (late)", total - sent);
    report::kv("sent rate (req/s)", format!("{sent_rps:.1}"));
    report::kv("completed rate (req/s)", format!("{completed_rps:.1}"));
    report::kv("201 created", created);
    report::kv("409 conflict", format!("{conflicts} ({} not_available)", t.not_available));
    report::kv("other / errors", other);
    report::kv("waited for a free slot", slot_waits);
    report::kv("connections opened", target.connects.load(std::sync::atomic::Ordering::Relaxed));
    if !drained {
        report::kv("drain", "timed out waiting for in-flight requests");
    }
    t.outcomes.print();
    let cpu = cpu.finish(wall);
    println!();
    report::print_latencies(&[("from due time", &t.lat), ("service time", &t.service), ("dispatch lag", &dispatch_lag)]);
    report::result_line(&json!({
        "scenario": "reserve",
        "base": target.base,
        "fleet": o.fleet.json(),
        "threads": o.common.threads,
        "rate": o.rate,
        "duration_s": o.duration,
        "max_in_flight": o.max_in_flight,
        "horizon_days": o.horizon,
        "max_nights": o.max_nights,
        "scheduled": total,
        "sent": sent,
        "not_sent": total - sent,
        "sent_rps": report::r1(sent_rps),
        "completed_rps": report::r1(completed_rps),
        "created": created,
        "conflict": conflicts,
        "not_available": t.not_available,
        "other": other,
        "slot_waits": slot_waits,
        "drained": drained,
        "latency": t.lat.json(),
        "service_time": t.service.json(),
        "dispatch_lag": dispatch_lag.json(),
        "outcomes": t.outcomes.json(),
        "cpu": cpu,
    }));
    if created + conflicts == 0 {
        anyhow::bail!("no reservation got a 201 or a 409");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_evenly_spaced() {
        assert_eq!(due(0, 500.0), Duration::ZERO);
        assert_eq!(due(500, 500.0), Duration::from_secs(1));
        assert_eq!(due(1, 500.0), Duration::from_millis(2));
        assert_eq!(due(3, 0.5), Duration::from_secs(6));
    }

    #[test]
    fn not_available_is_spotted() {
        assert!(is_not_available(br#"{"error":{"code":"not_available","message":"sold out"}}"#));
        assert!(!is_not_available(br#"{"error":{"code":"already_exists"}}"#));
    }
}
