//! `setup`: creates the fleet and loads one full-horizon ARI batch per
//! property. The batch latency is the "full 730-day ARI update durable"
//! number: the server replies only after the change is committed.

use crate::client::{Conn, Target};
use crate::plan::{self, Fleet};
use crate::report::{self, CpuMeter, Lat, Outcomes};
use crate::Common;
use anyhow::{bail, Result};
use clap::Args;
use jiff::civil::Date;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub fleet: Fleet,
    /// Days of ARI to load, from today (property-local); at most 731
    /// (today + 730 is the horizon).
    #[arg(long, default_value_t = 730, value_parser = clap::value_parser!(u32).range(1..=731))]
    pub days: u32,
    /// Properties set up in parallel.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
}

#[derive(Default)]
struct Tally {
    outcomes: Outcomes,
    /// Creation requests (properties, room types, rooms, plans).
    create: Lat,
    ari: Lat,
    cells: u64,
    created: u64,
    existing: u64,
}

/// POSTs a creation; 201 and 409 (already there, from an earlier run) are fine.
async fn create(conn: &mut Conn, t: &mut Tally, path: &str, body: &Value) -> Result<()> {
    let start = Instant::now();
    let r = conn.post_json(path, body).await;
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            t.outcomes.failure(&e);
            bail!("POST {path}: {e}");
        }
    };
    t.create.record(start.elapsed());
    t.outcomes.status(r.status);
    match r.status {
        200 | 201 => t.created += 1,
        409 => t.existing += 1,
        s => bail!("POST {path} → {s}: {}", r.snippet()),
    }
    Ok(())
}

async fn setup_property(conn: &mut Conn, t: &mut Tally, fleet: &Fleet, i: u32, from: Date, to: Date) -> Result<()> {
    let code = fleet.property_code(i);
    create(
        conn,
        t,
        "/api/v1/properties",
        &json!({"code": code, "name": format!("Load test hotel {i}"), "timezone": fleet.timezone, "currency": "IDR"}),
    )
    .await?;
    let base = format!("/api/v1/properties/{code}");
    for k in 1..=fleet.room_types {
        let body = json!({"code": plan::room_type_code(k), "name": format!("Room type {k}"), "max_occupancy": 3});
        create(conn, t, &format!("{base}/room-types"), &body).await?;
    }
    let rooms_path = format!("{base}/rooms");
    for k in 1..=fleet.room_types {
        for j in 1..=fleet.rooms_per_type {
            let body = json!({"number": plan::room_number(k, j, fleet.rooms_per_type), "room_type": plan::room_type_code(k), "floor": j.div_ceil(10)});
            create(conn, t, &rooms_path, &body).await?;
        }
    }
    let plans_path = format!("{base}/rate-plans");
    for k in 1..=fleet.room_types {
        for p in plan::rate_plans(k, fleet.rate_plans) {
            create(conn, t, &plans_path, &p.body).await?;
        }
    }
    let body = plan::ari_body(fleet, from, to, 0);
    let ari_path = format!("{base}/ari");
    let start = Instant::now();
    let r = conn.post_json(&ari_path, &body).await;
    let took = start.elapsed();
    match r {
        Ok(r) if r.status == 200 => {
            t.outcomes.status(200);
            t.ari.record(took);
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            t.cells += v["cells"].as_u64().unwrap_or(0);
            Ok(())
        }
        Ok(r) => {
            t.outcomes.status(r.status);
            bail!("POST {ari_path} → {}: {}", r.status, r.snippet())
        }
        Err(e) => {
            t.outcomes.failure(&e);
            bail!("POST {ari_path}: {e}")
        }
    }
}

pub async fn run(o: Opts) -> Result<()> {
    run_with(o, true).await
}

/// The same as `setup`, for the scenarios that provision their own fleet
/// first: prints the table but not a `RESULT` line (the scenario prints its own).
pub async fn provision(common: &Common, fleet: &Fleet, days: u32, concurrency: u32) -> Result<()> {
    run_with(Opts { common: common.clone(), fleet: fleet.clone(), days, concurrency }, false).await
}

async fn run_with(o: Opts, result: bool) -> Result<()> {
    o.fleet.check()?;
    let target: Arc<Target> = o.common.target().await?;
    let fleet = Arc::new(o.fleet.clone());
    let today = plan::today(&fleet.timezone)?;
    let from = today;
    let to = plan::add_days(today, o.days - 1);
    println!(
        "setup: {} properties × {} room types × {} rooms, {} rate plans per room type, ARI {from}..{to} → {}",
        fleet.properties, fleet.room_types, fleet.rooms_per_type, fleet.rate_plans, target.base
    );

    let cpu = CpuMeter::start(o.common.server_pid);
    let started = Instant::now();
    let next = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers = o.concurrency.min(fleet.properties);
    let mut handles = Vec::new();
    for _ in 0..workers {
        let (target, fleet, next, stop) = (target.clone(), fleet.clone(), next.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::new(target);
            let mut t = Tally::default();
            let mut err = None;
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= fleet.properties {
                    break;
                }
                if let Err(e) = setup_property(&mut conn, &mut t, &fleet, i, from, to).await {
                    stop.store(true, Ordering::Relaxed);
                    err = Some(e);
                }
            }
            (t, err)
        }));
    }
    let mut all = Tally::default();
    let mut first_err = None;
    for h in handles {
        let (t, err) = h.await?;
        all.outcomes.merge(&t.outcomes);
        all.create.merge(&t.create);
        all.ari.merge(&t.ari);
        all.cells += t.cells;
        all.created += t.created;
        all.existing += t.existing;
        if first_err.is_none() {
            first_err = err;
        }
    }
    let wall = started.elapsed();

    // One search as a sanity check that the fleet is bookable.
    let mut sample_offers = None;
    if first_err.is_none() {
        let mut conn = Conn::new(target.clone());
        let ci = plan::add_days(today, 30.min(o.days.saturating_sub(3)));
        let co = plan::add_days(ci, 2);
        let path = format!("/api/v1/properties/{}/availability?check_in={ci}&check_out={co}&adults=2", fleet.property_code(0));
        if let Ok(r) = conn.get(&path).await {
            if r.status == 200 {
                let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                sample_offers = v["offers"].as_array().map(|a| a.len());
            }
        }
    }

    report::title("setup");
    report::kv("wall time (s)", format!("{:.2}", wall.as_secs_f64()));
    report::kv("created / existing", format!("{} / {}", all.created, all.existing));
    report::kv("ARI batches", all.ari.count());
    report::kv("ARI lines per batch", 2 * fleet.room_types);
    report::kv("ARI days per line", o.days);
    report::kv("cells written (server)", all.cells);
    if let Some(n) = sample_offers {
        report::kv("offers (sample search)", n);
    }
    all.outcomes.print();
    let cpu = cpu.finish(wall);
    println!();
    report::print_latencies(&[("create request", &all.create), ("ARI batch", &all.ari)]);
    if let Some(e) = &first_err {
        println!();
        println!("  setup FAILED: {e:#}");
    }
    if !result {
        return match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        };
    }
    report::result_line(&json!({
        "scenario": "setup",
        "ok": first_err.is_none(),
        "error": first_err.as_ref().map(|e| format!("{e:#}")),
        "base": target.base,
        "fleet": fleet.json(),
        "days": o.days,
        "from": from.to_string(),
        "to": to.to_string(),
        "wall_s": (wall.as_secs_f64() * 1000.0).round() / 1000.0,
        "created": all.created,
        "existing": all.existing,
        "ari_lines_per_batch": 2 * fleet.room_types,
        "cells": all.cells,
        "sample_offers": sample_offers,
        "outcomes": all.outcomes.json(),
        "create_latency": all.create.json(),
        "ari_latency": all.ari.json(),
        "cpu": cpu,
    }));
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
