//! `full-sync-count`: how many HTTP requests the initial full sync of one
//! channel takes, next to the least the preset's message size allows.
//!
//! One property (5 room types × 3 rate plans by default) gets 730 days of ARI
//! that varies the way a hotel's does: weekday and weekend rates, seasons,
//! longer minimum stays on high-season Fridays, closed-to-arrival on New
//! Year's Eve, a few closed (stop-sell) dates per room type, and availability
//! that changes almost daily in the next 90 days, weekly up to 180, then not.
//! Then one channel is connected to an in-process simulator (configured to
//! refuse messages over the preset's `max_updates_per_request`) mapping every
//! (room type, rate plan) pair, or, for alpinebits (availability only), one
//! BAR plan per room type. The channel starts with a full sync; when it is
//! done the scenario reports:
//!
//! - the ARI requests the simulator received, and the channel's `requests_sent`
//!   (one per batch: an opentravel batch is 2 HTTP messages);
//! - the least possible: ceil(ranges / max per request) × messages per batch,
//!   where ranges = runs of consecutive dates with equal values, counted in the
//!   simulator's final view over the fields the profile carries;
//! - what the hub's own compression gives: the same formula over runs of equal
//!   values of everything the hub reads (from the calendar API), i.e. what it
//!   should have sent;
//! - whether the simulator's view matches the calendar.

use crate::client::{Conn, Target};
use crate::ota::{self, Hook, SimSpec};
use crate::plan::{self, Fleet};
use crate::report;
use crate::{setup, Common};
use anyhow::{bail, Context, Result};
use clap::Args;
use jiff::civil::{Date, Weekday};
use rust_decimal::Decimal;
use saluran_sim::{CellView, Profile, ViewSnapshot};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// The channel's protocol profile.
    #[arg(long, value_enum)]
    pub profile: Profile,
    /// Channel preset (default: the shipped one of the profile: booking,
    /// tiketcom or traveloka).
    #[arg(long)]
    pub preset: Option<String>,
    /// The preset's max updates (ranges) per request; default: read from
    /// `config/ota-presets/<preset>.toml` or `load-tests/presets/<preset>.toml`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_per_request: Option<u64>,
    /// Property code prefix (the property is PREFIX-0000); default SYNC<OT|AB|JR>.
    #[arg(long)]
    pub prefix: Option<String>,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub room_types: u32,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub rate_plans: u32,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(5..=500))]
    pub rooms_per_type: u32,
    /// Days of ARI from today.
    #[arg(long, default_value_t = 730, value_parser = clap::value_parser!(u32).range(1..=730))]
    pub days: u32,
    /// Simulated OTA latency in ms.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub latency_ms: u64,
    /// Seconds to wait for the full sync.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sync_timeout: u64,
}

/// The hotel's ARI, per room type k (1-based) and day i from today.
pub struct Model {
    pub today: Date,
    pub days: u32,
    pub rooms: u32,
}

impl Model {
    pub fn date(&self, i: u32) -> Date {
        plan::add_days(self.today, i)
    }

    /// Season multiplier ×100: Christmas–New Year 150, July–August 135,
    /// June and the rest of December 115, else 100.
    fn season(d: Date) -> u64 {
        match (d.month(), d.day()) {
            (12, 20..) | (1, ..=5) => 150,
            (7 | 8, _) => 135,
            (6 | 12, _) => 115,
            _ => 100,
        }
    }

    /// BAR, IDR, rounded to 1000: the room type's base × season × 1.2 on
    /// Friday and Saturday nights.
    pub fn bar(&self, k: u32, i: u32) -> u64 {
        let d = self.date(i);
        let weekend = matches!(d.weekday(), Weekday::Friday | Weekday::Saturday);
        let r = plan::base_rate(k) * Self::season(d) / 100 * if weekend { 120 } else { 100 } / 100;
        r / 1000 * 1000
    }

    /// Minimum stay on arrival: 3 around New Year, 2 on high-season Fridays.
    pub fn min_stay(&self, i: u32) -> u32 {
        let d = self.date(i);
        match (d.month(), d.day()) {
            (12, 30 | 31) => 3,
            _ if Self::season(d) >= 135 && d.weekday() == Weekday::Friday => 2,
            _ => 1,
        }
    }

    pub fn closed_to_arrival(&self, i: u32) -> bool {
        let d = self.date(i);
        d.month() == 12 && d.day() == 31
    }

    /// Rooms to sell: changes almost daily in the next 90 days (pick-up),
    /// weekly to day 180, then all rooms.
    pub fn availability(&self, k: u32, i: u32) -> u32 {
        let sold = if i < 90 {
            (i * 7 + k * 3) % 5
        } else if i < 180 {
            (i / 7 + k) % 2
        } else {
            0
        };
        self.rooms - sold
    }

    /// Three closed days per room type (refurbishment), at different times.
    pub fn stop_sell(&self, k: u32, i: u32) -> bool {
        let from = 100 + 20 * k;
        (from..from + 3).contains(&i)
    }

    /// The batch lines: runs of equal values, availability and stop-sell on
    /// the room type, rate and minimum stay on the base plan, CTA on base plans.
    pub fn lines(&self, room_types: u32) -> Vec<Value> {
        let mut out = Vec::new();
        let day = |i: u32| self.date(i).to_string();
        for k in 1..=room_types {
            let rt = plan::room_type_code(k);
            for (from, to, a) in runs(self.days, |i| self.availability(k, i)) {
                out.push(json!({"room_type": rt, "from": day(from), "to": day(to), "availability": a}));
            }
            for (from, to, closed) in runs(self.days, |i| self.stop_sell(k, i)) {
                if closed {
                    out.push(json!({"room_type": rt, "from": day(from), "to": day(to), "stop_sell": true}));
                }
            }
            for (from, to, (r, m)) in runs(self.days, |i| (self.bar(k, i), self.min_stay(i))) {
                out.push(json!({"room_type": rt, "rate_plan": plan::base_plan_code(k), "from": day(from), "to": day(to), "rate": r.to_string(), "min_stay": m}));
            }
            for (from, to, closed) in runs(self.days, |i| self.closed_to_arrival(i)) {
                if closed {
                    out.push(json!({"room_type": rt, "from": day(from), "to": day(to), "closed_to_arrival": true}));
                }
            }
        }
        out
    }
}

/// Runs of equal values of `f` over days 0..n: (first, last, value).
fn runs<T: PartialEq + Copy>(n: u32, f: impl Fn(u32) -> T) -> Vec<(u32, u32, T)> {
    let mut out: Vec<(u32, u32, T)> = Vec::new();
    for i in 0..n {
        let v = f(i);
        match out.last_mut() {
            Some(last) if last.2 == v => last.1 = i,
            _ => out.push((i, i, v)),
        }
    }
    out
}

/// Counts runs of consecutive dates with equal `key` within each group of a
/// date-sorted sequence.
fn count_runs<G: PartialEq, K: PartialEq>(items: impl IntoIterator<Item = (G, Date, K)>) -> u64 {
    let mut n = 0;
    let mut last: Option<(G, Date, K)> = None;
    for (g, d, k) in items {
        let continues = last.as_ref().is_some_and(|(lg, ld, lk)| *lg == g && ld.tomorrow().ok() == Some(d) && *lk == k);
        if !continues {
            n += 1;
        }
        last = Some((g, d, k));
    }
    n
}

/// What a profile carries of a view cell.
fn carried(p: Profile, c: &CellView) -> Value {
    match p {
        Profile::Alpinebits => json!(c.available),
        _ => json!([c.available, c.rate_amount, c.occupancy_rates, c.min_stay, c.max_stay, c.cta, c.ctd, c.stop_sell]),
    }
}

/// Ranges needed to express the simulator's final view (cells come sorted
/// by room, rate, date).
pub fn view_ranges(p: Profile, view: &ViewSnapshot) -> u64 {
    count_runs(view.cells.iter().map(|c| ((c.room.as_str(), c.rate.as_str()), c.date, carried(p, c))))
}

/// OpenTravel sends availability/restrictions and prices in separate
/// messages: (runs of the availability part, runs of the price part).
pub fn view_ranges_split(view: &ViewSnapshot) -> (u64, u64) {
    let avail = count_runs(
        view.cells
            .iter()
            .map(|c| ((c.room.as_str(), c.rate.as_str()), c.date, (c.available, c.min_stay, c.max_stay, c.cta, c.ctd, c.stop_sell))),
    );
    let price =
        count_runs(view.cells.iter().map(|c| ((c.room.as_str(), c.rate.as_str()), c.date, (c.rate_amount, c.occupancy_rates.clone()))));
    (avail, price)
}

/// Per mapping and date, what the hub reads from its calendar for the OTA
/// (available, rate, occupancy rates, min stay, max stay, CTA, CTD, stop-sell).
pub struct Calendar {
    /// (room type, plan) → date → values.
    pub cells: BTreeMap<(String, String), Vec<(Date, Value)>>,
}

impl Calendar {
    pub fn parse(v: &Value) -> Result<Calendar> {
        let mut cells = BTreeMap::new();
        for rt in v["room_types"].as_array().context("room_types")? {
            let code = rt["code"].as_str().context("room type code")?.to_string();
            let inv: Vec<&Value> = rt["days"].as_array().context("days")?.iter().collect();
            for p in rt["rate_plans"].as_array().context("rate_plans")? {
                let plan = p["code"].as_str().context("plan code")?.to_string();
                let mut days = Vec::new();
                for (i, d) in p["days"].as_array().context("plan days")?.iter().enumerate() {
                    let date: Date = d["date"].as_str().context("date")?.parse()?;
                    let invd = inv.get(i).context("inventory day")?;
                    let available = invd["available"].as_i64().unwrap_or(0).max(0);
                    let min = d["min_stay"].as_u64().filter(|m| *m > 0);
                    let max = d["max_stay"].as_u64().filter(|m| *m > 0);
                    let stop = invd["stop_sell"].as_bool().unwrap_or(false) || d["stop_sell"].as_bool().unwrap_or(false);
                    let rate = d["rate"].as_str().and_then(|r| r.parse::<Decimal>().ok()).map(|r| r.normalize());
                    let values = json!([
                        available,
                        rate.map(|r| r.to_string()),
                        d["occupancy_rates"],
                        min,
                        max,
                        d["closed_to_arrival"],
                        d["closed_to_departure"],
                        stop
                    ]);
                    days.push((date, values));
                }
                cells.insert((code.clone(), plan), days);
            }
        }
        Ok(Calendar { cells })
    }

    /// Runs of equal values over the mapped (room type, plan) pairs: the
    /// ranges the hub's compression yields.
    pub fn hub_ranges(&self, mapped: &[(String, String)]) -> u64 {
        mapped.iter().filter_map(|m| self.cells.get(m)).map(|days| count_runs(days.iter().map(|(d, v)| ((), *d, v)))).sum()
    }

    /// Cells of the simulator's view that differ from the calendar (for the
    /// values the profile carries), and cells the view lacks.
    pub fn compare(&self, p: Profile, view: &ViewSnapshot, mapped: &[(String, String, String, String)]) -> (u64, u64) {
        let mut by_key: BTreeMap<(&str, &str, Date), &CellView> = BTreeMap::new();
        for c in &view.cells {
            by_key.insert((c.room.as_str(), c.rate.as_str(), c.date), c);
        }
        let (mut wrong, mut missing) = (0, 0);
        for (rt, plan, ota_room, ota_rate) in mapped {
            let Some(days) = self.cells.get(&(rt.clone(), plan.clone())) else { continue };
            let rate_key = if p == Profile::Alpinebits { "" } else { ota_rate.as_str() };
            for (d, v) in days {
                let Some(c) = by_key.get(&(ota_room.as_str(), rate_key, *d)) else {
                    missing += 1;
                    continue;
                };
                let available = v[0].as_u64().map(|a| a as u32);
                let stop = v[7].as_bool().unwrap_or(false);
                let ok = match p {
                    Profile::Alpinebits => c.available == if stop { Some(0) } else { available },
                    _ => {
                        c.available == available
                            && c.rate_amount.map(|r| r.normalize().to_string()) == v[1].as_str().map(str::to_owned)
                            && c.stop_sell == Some(stop)
                            && c.min_stay.map(u64::from) == v[3].as_u64()
                            && c.cta == v[5].as_bool()
                    }
                };
                if !ok {
                    wrong += 1;
                }
            }
        }
        (wrong, missing)
    }
}

/// `max_updates_per_request` of a preset file, by a plain line scan.
fn preset_max(name: &str) -> Option<u64> {
    for dir in ["config/ota-presets", "load-tests/presets", "../config/ota-presets", "presets"] {
        let Ok(text) = std::fs::read_to_string(format!("{dir}/{name}.toml")) else { continue };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some(v) = line.strip_prefix("max_updates_per_request") {
                if let Some(n) = v.trim().strip_prefix('=').and_then(|n| n.trim().parse().ok()) {
                    return Some(n);
                }
            }
        }
    }
    None
}

pub async fn run(o: Opts) -> Result<()> {
    let profile = o.profile;
    let preset = o.preset.clone().unwrap_or_else(|| ota::stock_preset(profile).to_string());
    let max = match o.max_per_request.or_else(|| preset_max(&preset)) {
        Some(m) => m,
        None => bail!("preset {preset}: its file was not found from here; pass --max-per-request"),
    };
    let fleet = Fleet {
        properties: 1,
        prefix: o.prefix.clone().unwrap_or_else(|| format!("SYNC{}", ota::short(profile))),
        room_types: o.room_types,
        rate_plans: o.rate_plans,
        rooms_per_type: o.rooms_per_type,
        timezone: "Asia/Jakarta".into(),
    };
    fleet.check()?;
    let target: std::sync::Arc<Target> = o.common.target().await?;
    let today = plan::today(&fleet.timezone)?;
    let property = fleet.property_code(0);
    println!(
        "full-sync-count: {} channel (preset {preset}, {max} updates per request at most) on {property}: {} room types × {} rate plans, {} days → {}",
        profile.as_str(),
        o.room_types,
        o.rate_plans,
        o.days,
        target.base
    );
    setup::provision(&o.common, &fleet, o.days, 1).await.context("setup")?;

    // The hotel's ARI, in batches of at most 1000 lines.
    let model = Model { today, days: o.days, rooms: o.rooms_per_type };
    let lines = model.lines(o.room_types);
    let mut conn = Conn::new(target.clone());
    let ari_path = format!("/api/v1/properties/{property}/ari");
    for chunk in lines.chunks(1000) {
        let r = conn.post_json(&ari_path, &json!({"updates": chunk})).await.map_err(|e| anyhow::anyhow!("POST {ari_path}: {e}"))?;
        if r.status != 200 {
            bail!("POST {ari_path} → {}: {}", r.status, r.snippet());
        }
    }
    println!("  ARI: {} lines", lines.len());

    // Mappings: every (room type, plan), or one BAR plan per room type for alpinebits.
    let mut mapped: Vec<(String, String, String, String)> = Vec::new();
    for k in 1..=o.room_types {
        for p in plan::rate_plans(k, o.rate_plans) {
            let code = p.body["code"].as_str().expect("plan code").to_string();
            let ota_rate = code.rsplit('-').next().unwrap_or(&code).to_string();
            mapped.push((plan::room_type_code(k), code, plan::room_type_code(k), ota_rate));
            if profile == Profile::Alpinebits {
                break;
            }
        }
    }
    let mappings: Vec<Value> = mapped.iter().map(|(a, b, c, d)| ota::mapping(a, b, c, d)).collect();

    let hook = Hook::default();
    let channel = ota::short(profile);
    let mut spec = SimSpec::new(profile, &target.base, &property, channel, &hook);
    spec.max_updates = Some(max as usize);
    let sim = spec.start().await?;
    if o.latency_ms > 0 {
        let faults = saluran_sim::FaultConfig { latency_ms: o.latency_ms, ..saluran_sim::FaultConfig::none() };
        sim.set_faults(faults).map_err(|e| anyhow::anyhow!(e))?;
    }
    let r = async {
        ota::create_channel(&mut conn, &property, &ota::channel_body(channel, &preset, &spec, &sim, &hook, &mappings)).await?;
        let channels = [(property.clone(), channel.to_string())];
        let (took, states) = ota::wait_synced(&mut conn, &channels, Duration::from_secs(o.sync_timeout)).await?;
        // Let any answer in flight land in the statistics.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sync = ota::channel_sync(&mut conn, &property, channel).await.unwrap_or_else(|_| states[0].clone());
        let (sim_all, sim_ok) = ota::ari_requests(&sim);
        let stats = sim.stats();
        let view = sim.view();

        let to = plan::add_days(today, o.days - 1);
        let cal = conn.get(&format!("{ari_path}?from={today}&to={to}")).await.map_err(|e| anyhow::anyhow!("GET calendar: {e}"))?;
        if cal.status != 200 {
            bail!("GET calendar → {}: {}", cal.status, cal.snippet());
        }
        let cal = Calendar::parse(&serde_json::from_slice(&cal.body)?)?;
        let pairs: Vec<(String, String)> = mapped.iter().map(|(a, b, _, _)| (a.clone(), b.clone())).collect();
        let hub_ranges = cal.hub_ranges(&pairs);
        let min_ranges = view_ranges(profile, &view);
        let per_batch = ota::messages_per_batch(profile);
        let least = min_ranges.div_ceil(max) * per_batch;
        let hub_expected = hub_ranges.div_ceil(max) * per_batch;
        let (wrong, missing) = cal.compare(profile, &view, &mapped);
        // OpenTravel: could each message type be compressed on its own part?
        let split = (profile == Profile::Opentravel).then(|| {
            let (a, p) = view_ranges_split(&view);
            (a, p, a.div_ceil(max) + p.div_ceil(max))
        });

        report::title("full-sync-count");
        report::kv("profile / preset", format!("{} / {preset}", profile.as_str()));
        report::kv("mappings", mapped.len());
        report::kv("days", o.days);
        report::kv("ARI lines loaded", lines.len());
        report::kv("max updates / request", max);
        report::kv("messages per batch", per_batch);
        report::kv("full sync took (s)", format!("{:.2} (polled every 0.1 s)", took.as_secs_f64()));
        report::kv("HTTP requests (OTA)", format!("{sim_all} ({sim_ok} × 200)"));
        report::kv("batches (requests_sent)", sync.requests_sent);
        report::kv("cells written (OTA)", stats.cells_written);
        report::kv("ranges, hub compression", hub_ranges);
        report::kv("  → requests", format!("{hub_expected} = ceil({hub_ranges} / {max}) × {per_batch}"));
        report::kv("ranges, least (OTA view)", min_ranges);
        report::kv("  → least requests", format!("{least} = ceil({min_ranges} / {max}) × {per_batch}"));
        if let Some((a, p, n)) = split {
            report::kv("  split by message", format!("{n} = ceil({a} / {max}) + ceil({p} / {max}) (availability, rates)"));
        }
        report::kv("view vs calendar", format!("{wrong} cells differ, {missing} missing, {} regressions", view.regressions));
        report::kv("OTA 429 / refused", format!("{} / {}", stats.rate_limited, stats.messages_refused));
        report::result_line(&json!({
            "scenario": "full-sync-count",
            "base": target.base,
            "profile": profile.as_str(),
            "preset": preset,
            "property": property,
            "room_types": o.room_types,
            "rate_plans": o.rate_plans,
            "mappings": mapped.len(),
            "days": o.days,
            "ari_lines": lines.len(),
            "max_per_request": max,
            "messages_per_batch": per_batch,
            "sync_s": (took.as_secs_f64() * 1000.0).round() / 1000.0,
            "http_requests": sim_all,
            "http_requests_ok": sim_ok,
            "requests_sent": sync.requests_sent,
            "cells_written": stats.cells_written,
            "hub_ranges": hub_ranges,
            "hub_expected_requests": hub_expected,
            "least_ranges": min_ranges,
            "least_requests": least,
            "least_requests_split": split.map(|(a, p, n)| json!({"availability_ranges": a, "rate_ranges": p, "requests": n})),
            "view_cells_wrong": wrong,
            "view_cells_missing": missing,
            "regressions": view.regressions,
            "ota_rate_limited": stats.rate_limited,
            "ota_refused": stats.messages_refused,
        }));
        if wrong + missing > 0 {
            bail!("the simulator's view does not match the calendar ({wrong} differ, {missing} missing)");
        }
        Ok(())
    }
    .await;
    sim.stop().await;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_counts() {
        assert_eq!(runs(6, |i| i / 2), vec![(0, 1, 0), (2, 3, 1), (4, 5, 2)]);
        let d = |n: i8| Date::constant(2030, 1, n);
        // Same group, consecutive, equal → one run; a gap or a change starts another.
        let items = vec![("a", d(1), 1), ("a", d(2), 1), ("a", d(4), 1), ("a", d(5), 2), ("b", d(6), 2)];
        assert_eq!(count_runs(items), 4);
    }

    #[test]
    fn the_model_varies_like_a_hotel() {
        let m = Model { today: Date::constant(2030, 6, 3), days: 730, rooms: 10 };
        // 2030-06-07 is a Friday in June (115), 06-10 a Monday.
        assert_eq!(m.bar(1, 4), 500_000 * 115 / 100 * 120 / 100 / 1000 * 1000);
        assert_eq!(m.bar(1, 7), 575_000);
        assert!(m.bar(2, 4) > m.bar(1, 4));
        assert!((0..730).any(|i| m.min_stay(i) == 2) && (0..730).any(|i| m.min_stay(i) == 3));
        assert_eq!((0..730).filter(|&i| m.closed_to_arrival(i)).count(), 2);
        assert_eq!((0..730).filter(|&i| m.stop_sell(1, i)).count(), 3);
        assert!((0..730).all(|i| (6..=10).contains(&m.availability(3, i))));
        let lines = m.lines(5);
        assert!(lines.len() < 2000 && lines.len() > 500, "{}", lines.len());
        assert!(lines.iter().all(|l| l["from"].as_str() <= l["to"].as_str()));
    }
}
