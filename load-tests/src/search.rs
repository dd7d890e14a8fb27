//! `search`: closed loop. C workers, each on its own keep-alive connection,
//! send availability searches back to back (random property, random check-in
//! within the horizon, fixed nights) for warmup + duration seconds. Only
//! requests started after the warmup are counted.

use crate::client::{Conn, Target};
use crate::plan::{self, Fleet, Rng};
use crate::report::{self, CpuMeter, Lat, Outcomes};
use crate::Common;
use anyhow::Result;
use clap::Args;
use hyper::{Method, Uri};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub fleet: Fleet,
    /// Concurrent workers (connections).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Measured seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Seconds of unmeasured load first.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,
    /// Nights per stay.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub nights: u32,
    /// Check-in is today + 0 .. today + horizon-1.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=700))]
    pub horizon: u32,
    /// Adults per search.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub adults: u32,
}

/// Request targets: all of them prebuilt when the set is small (a clone of a
/// prebuilt `Uri` is a reference-count bump), otherwise built per request.
struct Uris {
    codes: Vec<String>,
    dates: Vec<String>,
    horizon: u32,
    nights: u32,
    adults: u32,
    prebuilt: Vec<Uri>,
}

impl Uris {
    fn new(target: &Target, fleet: &Fleet, o: &Opts) -> Result<Uris> {
        let today = plan::today(&fleet.timezone)?;
        let mut u = Uris {
            codes: fleet.property_codes(),
            dates: plan::date_strings(today, o.horizon + o.nights),
            horizon: o.horizon,
            nights: o.nights,
            adults: o.adults,
            prebuilt: Vec::new(),
        };
        if u64::from(fleet.properties) * u64::from(o.horizon) <= 200_000 {
            u.prebuilt =
                (0..fleet.properties).flat_map(|p| (0..o.horizon).map(move |d| (p, d))).map(|(p, d)| target.uri(&u.path(p, d))).collect();
        }
        Ok(u)
    }

    fn path(&self, p: u32, d: u32) -> String {
        format!(
            "/api/v1/properties/{}/availability?check_in={}&check_out={}&adults={}",
            self.codes[p as usize],
            self.dates[d as usize],
            self.dates[(d + self.nights) as usize],
            self.adults
        )
    }

    fn pick(&self, target: &Target, rng: &mut Rng) -> Uri {
        let p = rng.below(self.codes.len() as u32);
        let d = rng.below(self.horizon);
        if self.prebuilt.is_empty() {
            target.uri(&self.path(p, d))
        } else {
            self.prebuilt[(p * self.horizon + d) as usize].clone()
        }
    }
}

#[derive(Default)]
struct Tally {
    lat: Lat,
    outcomes: Outcomes,
    empty: u64,
    bytes: u64,
}

fn has_empty_offers(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"offers\":[]";
    body.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

pub async fn run(o: Opts) -> Result<()> {
    o.fleet.check()?;
    let target = o.common.target().await?;
    let uris = Arc::new(Uris::new(&target, &o.fleet, &o)?);
    println!(
        "search: {} workers, {} s warmup + {} s measured, {} properties, check-in within {} days, {} nights → {}",
        o.concurrency, o.warmup, o.duration, o.fleet.properties, o.horizon, o.nights, target.base
    );
    let seed = plan::seed(o.common.seed);
    let t0 = Instant::now();
    let measure_from = t0 + Duration::from_secs(o.warmup);
    let end = measure_from + Duration::from_secs(o.duration);
    let mut handles = Vec::new();
    for w in 0..o.concurrency {
        let (target, uris) = (target.clone(), uris.clone());
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed.wrapping_add(u64::from(w).wrapping_mul(0x1000_0001)));
            let mut conn = Conn::new(target.clone());
            let mut t = Tally::default();
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                let uri = uris.pick(&target, &mut rng);
                let r = conn.send(Method::GET, uri, None).await;
                if start < measure_from {
                    if r.is_err() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
                match r {
                    Ok(r) => {
                        t.lat.record(start.elapsed());
                        t.outcomes.status(r.status);
                        t.bytes += r.body.len() as u64;
                        if r.status == 200 {
                            t.empty += u64::from(has_empty_offers(&r.body));
                        } else {
                            t.outcomes.sample(format!("{}: {}", r.status, r.snippet()));
                        }
                    }
                    Err(e) => {
                        t.outcomes.failure(&e);
                        // The server is down or refusing: do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            t
        }));
    }
    // Start the CPU meter when measurement starts.
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu = CpuMeter::start(o.common.server_pid);
    let mut all = Tally::default();
    for h in handles {
        let t = h.await?;
        all.lat.merge(&t.lat);
        all.outcomes.merge(&t.outcomes);
        all.empty += t.empty;
        all.bytes += t.bytes;
    }
    let measured = measure_from.elapsed();
    let secs = measured.as_secs_f64();
    let requests = all.lat.count() + all.outcomes.failures();
    let errors = all.outcomes.errors_except(&[200]);
    let ok = all.outcomes.count(200);
    let tput = all.lat.count() as f64 / secs;

    report::title("search");
    report::kv("measured (s)", format!("{secs:.2}"));
    report::kv("requests", requests);
    report::kv("errors (non-200)", errors);
    report::kv("200 with no offers", all.empty);
    report::kv("throughput (req/s)", format!("{tput:.1}"));
    report::kv("mean body (bytes)", all.bytes.checked_div(all.lat.count()).unwrap_or(0));
    report::kv("connections opened", target.connects.load(std::sync::atomic::Ordering::Relaxed));
    all.outcomes.print();
    let cpu = cpu.finish(measured);
    println!();
    report::print_latencies(&[("availability", &all.lat)]);
    report::result_line(&json!({
        "scenario": "search",
        "base": target.base,
        "fleet": o.fleet.json(),
        "concurrency": o.concurrency,
        "threads": o.common.threads,
        "warmup_s": o.warmup,
        "duration_s": (secs * 1000.0).round() / 1000.0,
        "nights": o.nights,
        "horizon_days": o.horizon,
        "adults": o.adults,
        "requests": requests,
        "ok": ok,
        "errors": errors,
        "empty_offers": all.empty,
        "throughput_rps": report::r1(tput),
        "latency": all.lat.json(),
        "outcomes": all.outcomes.json(),
        "cpu": cpu,
    }));
    if ok == 0 {
        anyhow::bail!("no search succeeded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_offers_are_spotted() {
        assert!(has_empty_offers(br#"{"property":"X","offers":[],"nights":7}"#));
        assert!(!has_empty_offers(br#"{"offers":[{"room_type":"RT1"}]}"#));
    }
}
