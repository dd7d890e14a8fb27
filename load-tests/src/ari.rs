//! `ari`: full-horizon ARI batches (every room type: availability, and its
//! base plan: a changed rate and min stay) sent `--count` times, round robin
//! over the properties, by `--concurrency` senders. A 200 means the batch is
//! committed, so the latency is "edit to durable".

use crate::client::Conn;
use crate::plan::{self, Fleet};
use crate::report::{self, CpuMeter, Lat, Outcomes};
use crate::Common;
use anyhow::Result;
use bytes::Bytes;
use clap::Args;
use hyper::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Args, Debug)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub fleet: Fleet,
    /// Batches to send in total.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,
    /// Days per line, from today (at most 731: today + 730 is the horizon).
    #[arg(long, default_value_t = 730, value_parser = clap::value_parser!(u32).range(1..=731))]
    pub days: u32,
    /// Batches in flight at once (1 = one after another).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
}

/// The rate bump of batch i: never the same for two batches of a run that
/// hit the same property, and unlikely to repeat the previous run's value.
pub fn bump(salt: u64, i: u32) -> u64 {
    100 * (1 + (salt + u64::from(i)) % 9973)
}

#[derive(Default)]
struct Tally {
    lat: Lat,
    outcomes: Outcomes,
    cells: u64,
}

pub async fn run(o: Opts) -> Result<()> {
    o.fleet.check()?;
    let target = o.common.target().await?;
    let fleet = Arc::new(o.fleet.clone());
    let today = plan::today(&fleet.timezone)?;
    let to = plan::add_days(today, o.days - 1);
    let salt = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let lines = 2 * fleet.room_types;
    println!(
        "ari: {} batches of {} lines × {} days ({today}..{to}), {} at a time, over {} properties → {}",
        o.count, lines, o.days, o.concurrency, fleet.properties, target.base
    );
    let cpu = CpuMeter::start(o.common.server_pid);
    let started = Instant::now();
    let next = Arc::new(AtomicU32::new(0));
    let mut handles = Vec::new();
    for _ in 0..o.concurrency.min(o.count) {
        let (target, fleet, next) = (target.clone(), fleet.clone(), next.clone());
        let count = o.count;
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::new(target.clone());
            let mut t = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let code = fleet.property_code(i % fleet.properties);
                let uri = target.uri(&format!("/api/v1/properties/{code}/ari"));
                let body = Bytes::from(serde_json::to_vec(&plan::ari_body(&fleet, today, to, bump(salt, i))).expect("JSON"));
                let start = Instant::now();
                let r = conn.send(Method::POST, uri, Some(body)).await;
                match r {
                    Ok(r) => {
                        t.lat.record(start.elapsed());
                        t.outcomes.status(r.status);
                        if r.status == 200 {
                            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                            t.cells += v["cells"].as_u64().unwrap_or(0);
                        } else {
                            t.outcomes.sample(format!("{}: {}", r.status, r.snippet()));
                        }
                    }
                    Err(e) => t.outcomes.failure(&e),
                }
            }
            t
        }));
    }
    let mut all = Tally::default();
    for h in handles {
        let t = h.await?;
        all.lat.merge(&t.lat);
        all.outcomes.merge(&t.outcomes);
        all.cells += t.cells;
    }
    let wall = started.elapsed();
    let ok = all.outcomes.count(200);
    let errors = all.outcomes.errors_except(&[200]);

    report::title("ari");
    report::kv("wall time (s)", format!("{:.2}", wall.as_secs_f64()));
    report::kv("batches ok / errors", format!("{ok} / {errors}"));
    report::kv("lines per batch", lines);
    report::kv("days per line", o.days);
    report::kv("cells written (server)", all.cells);
    report::kv("cells per second", format!("{:.0}", all.cells as f64 / wall.as_secs_f64()));
    all.outcomes.print();
    let cpu = cpu.finish(wall);
    println!();
    report::print_latencies(&[("ARI batch", &all.lat)]);
    report::result_line(&json!({
        "scenario": "ari",
        "base": target.base,
        "fleet": fleet.json(),
        "count": o.count,
        "concurrency": o.concurrency,
        "days": o.days,
        "lines_per_batch": lines,
        "wall_s": (wall.as_secs_f64() * 1000.0).round() / 1000.0,
        "ok": ok,
        "errors": errors,
        "cells": all.cells,
        "latency": all.lat.json(),
        "outcomes": all.outcomes.json(),
        "cpu": cpu,
    }));
    if ok == 0 {
        anyhow::bail!("no ARI batch succeeded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_differ_within_a_run() {
        let b: std::collections::HashSet<u64> = (0..1000).map(|i| bump(12345, i)).collect();
        assert_eq!(b.len(), 1000);
        assert!(b.iter().all(|&x| (100..=997_300).contains(&x)));
    }
}
