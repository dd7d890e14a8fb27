//! `oversized-answers`: the server's memory while an OTA answers every call
//! (ARI pushes, feed pulls) with a huge body (issue 8 item 9).
//!
//! One property with one jsonrest channel (preset `load-oversized`: feed
//! polled every 2 s, fast retries) is connected to an in-process simulator
//! whose every answer is a 200 with `--bytes` of filler, streamed. For
//! `--duration` seconds the scenario samples the server's resident memory
//! (`VmRSS`, and `VmHWM`, its peak) from `/proc/<--server-pid>/status` once a
//! second and reports first / max / last, next to the number of oversized
//! answers served and the bytes the server actually read of them.

use crate::client::Conn;
use crate::ota::{self, Hook, SimSpec};
use crate::plan::{self, Fleet};
use crate::report;
use crate::{setup, Common};
use anyhow::{bail, Context, Result};
use clap::Args;
use saluran_sim::{FaultConfig, FaultKind, Profile};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Size of every OTA answer, in bytes (default 200 MiB).
    #[arg(long, default_value_t = 200 << 20, value_parser = clap::value_parser!(u64).range(1..=(64u64 << 30)))]
    pub bytes: u64,
    /// How long to sample, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration: u64,
    /// Channel preset (must be loaded by the server).
    #[arg(long, default_value = "load-oversized")]
    pub preset: String,
    /// Property code prefix (the property is PREFIX-0000).
    #[arg(long, default_value = "OVER")]
    pub prefix: String,
}

/// (VmRSS, VmHWM) of `pid` in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

pub async fn run(o: Opts) -> Result<()> {
    let Some(pid) = o.common.server_pid else { bail!("--server-pid is required: the scenario reads the server's memory") };
    memory_kib(pid).with_context(|| format!("/proc/{pid}/status is not readable"))?;
    let fleet =
        Fleet { properties: 1, prefix: o.prefix.clone(), room_types: 1, rate_plans: 1, rooms_per_type: 5, timezone: "Asia/Jakarta".into() };
    fleet.check()?;
    let target = o.common.target().await?;
    let property = fleet.property_code(0);
    println!("oversized-answers: every OTA answer {} bytes, for {} s → {}", o.bytes, o.duration, target.base);
    setup::provision(&o.common, &fleet, 30, 1).await.context("setup")?;
    let mut conn = Conn::new(target.clone());
    let hook = Hook::default();
    let spec = SimSpec::new(Profile::Jsonrest, &target.base, &property, "JR", &hook);
    let sim = spec.start().await?;
    sim.set_faults(FaultConfig { oversized_bytes: o.bytes, ..FaultConfig::always(FaultKind::Oversized) })
        .map_err(|e| anyhow::anyhow!(e))?;
    let rt = plan::room_type_code(1);
    let bar = plan::rate_plans(1, 1)[0].body["code"].as_str().unwrap_or_default().to_string();
    let mappings = [ota::mapping(&rt, &bar, &rt, "BAR")];
    let (first, _) = memory_kib(pid).unwrap_or_default();
    ota::create_channel(&mut conn, &property, &ota::channel_body("JR", &o.preset, &spec, &sim, &hook, &mappings)).await?;
    let started = Instant::now();
    let mut samples: Vec<u64> = Vec::new();
    let mut peak = 0;
    // Bounded: `duration` seconds, one sample a second.
    while started.elapsed() < Duration::from_secs(o.duration) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match memory_kib(pid) {
            Some((rss, hwm)) => {
                samples.push(rss);
                peak = hwm;
            }
            None => bail!("the server (pid {pid}) is gone: {} samples taken", samples.len()),
        }
    }
    let sync = ota::channel_sync(&mut conn, &property, "JR").await?;
    let stats = sim.stats();
    let answers = stats.faults.get("oversized").copied().unwrap_or(0);
    let max = samples.iter().copied().max().unwrap_or(0);
    let last = samples.last().copied().unwrap_or(0);
    let mib = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
    report::title("oversized-answers");
    report::kv("answer size (bytes)", o.bytes);
    report::kv("oversized answers served", answers);
    report::kv("bytes the server read", stats.oversized_bytes_sent);
    report::kv("server RSS first / max / last (MiB)", format!("{} / {} / {}", mib(first), mib(max), mib(last)));
    report::kv("server peak RSS, VmHWM (MiB)", mib(peak));
    report::kv("channel failures / dead letters", format!("{} / {}", sync.failures, sync.dead_letters));
    report::kv("channel last_error", sync.last_error.clone().unwrap_or_default());
    report::result_line(&json!({
        "scenario": "oversized-answers",
        "bytes": o.bytes,
        "duration_s": o.duration,
        "answers": answers,
        "bytes_read": stats.oversized_bytes_sent,
        "rss_first_mib": mib(first),
        "rss_max_mib": mib(max),
        "rss_last_mib": mib(last),
        "hwm_mib": mib(peak),
        "failures": sync.failures,
        "dead_letters": sync.dead_letters,
        "last_error": sync.last_error,
    }));
    sim.stop().await;
    Ok(())
}
