//! `saluran-load`: load generator and report for saluran.
//!
//! Scenarios (see load-tests/README.md):
//! - `setup`   creates the synthetic fleet and times its full-horizon ARI batches;
//! - `search`  closed-loop availability searches;
//! - `reserve` open-loop reservations at a fixed arrival rate;
//! - `ari`     full-horizon ARI batches, one after another;
//! - `channel-latency` ARI change → visible at in-process OTA simulators;
//! - `full-sync-count` HTTP requests of one channel's initial full sync;
//! - `webhook` open-loop OTA booking deliveries (and `--find-peak`);
//! - `oversized-answers` the server's memory while an OTA answers every call with a huge body.
//!
//! Each prints a table and a final `RESULT {json}` line. Every loop is bounded
//! in time and count, and only loopback targets are accepted.

mod ari;
mod chanlat;
mod client;
mod fullsync;
mod ota;
mod oversized;
mod plan;
mod report;
mod reserve;
mod search;
mod setup;
mod webhook;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use client::Target;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "saluran-load", version, about = "Load generator for saluran (loopback targets only)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Options every scenario takes.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Server base URL; only http://127.0.0.1, http://localhost or http://[::1].
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    /// Bearer token (an admin token from `saluran token create --role admin`).
    #[arg(long, env = "SALURAN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Per-request timeout in seconds (connect included).
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Tokio worker threads for the load generator (keep it low: the server
    /// shares the machine).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// PRNG seed (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The server's PID, to report its CPU use alongside the client's.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

impl Common {
    fn check(&self) -> Result<()> {
        client::parse_base(&self.base)?;
        if !(self.timeout > 0.0 && self.timeout <= 300.0) {
            bail!("--timeout must be in (0, 300] seconds");
        }
        Ok(())
    }

    pub async fn target(&self) -> Result<Arc<Target>> {
        Target::new(&self.base, &self.token, Duration::from_secs_f64(self.timeout)).await
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the fleet (properties, room types, rooms, rate plans) and load a
    /// full-horizon ARI batch per property; reports the ARI batch latency.
    Setup(setup::Opts),
    /// Closed loop: C workers searching availability back to back.
    Search(search::Opts),
    /// Open loop: reservations at a fixed arrival rate (coordinated-omission free).
    Reserve(reserve::Opts),
    /// Full-horizon ARI batches (all room types × base plans), changed rates each time.
    Ari(ari::Opts),
    /// Channels: time from an ARI change (200) until three in-process OTA
    /// simulators per property show it.
    ChannelLatency(chanlat::Opts),
    /// Channels: HTTP requests of one channel's initial full sync vs the least
    /// the preset's message size allows.
    FullSyncCount(fullsync::Opts),
    /// Open loop: OTA booking deliveries to the OpenTravel webhook; `--find-peak`.
    Webhook(webhook::Opts),
    /// Channels: the server's memory (RSS) while an OTA answers every call
    /// with a huge body (`--bytes`, default 200 MiB); needs `--server-pid`.
    OversizedAnswers(oversized::Opts),
}

fn main() {
    let cli = Cli::parse();
    let common = match &cli.cmd {
        Cmd::Setup(o) => &o.common,
        Cmd::Search(o) => &o.common,
        Cmd::Reserve(o) => &o.common,
        Cmd::Ari(o) => &o.common,
        Cmd::ChannelLatency(o) => &o.common,
        Cmd::FullSyncCount(o) => &o.common,
        Cmd::Webhook(o) => &o.common,
        Cmd::OversizedAnswers(o) => &o.common,
    };
    if let Err(e) = common.check() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(common.threads))
        .enable_all()
        .build()
        .expect("tokio runtime");
    let r = rt.block_on(async move {
        match cli.cmd {
            Cmd::Setup(o) => setup::run(o).await,
            Cmd::Search(o) => search::run(o).await,
            Cmd::Reserve(o) => reserve::run(o).await,
            Cmd::Ari(o) => ari::run(o).await,
            Cmd::ChannelLatency(o) => chanlat::run(o).await,
            Cmd::FullSyncCount(o) => fullsync::run(o).await,
            Cmd::Webhook(o) => webhook::run(o).await,
            Cmd::OversizedAnswers(o) => oversized::run(o).await,
        }
    });
    // Connection tasks may still be parked; do not wait for them.
    rt.shutdown_timeout(Duration::from_millis(200));
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cli_parses_the_documented_commands() {
        let c = Cli::try_parse_from([
            "saluran-load",
            "setup",
            "--base",
            "http://127.0.0.1:8080",
            "--token",
            "t",
            "--properties",
            "4",
            "--prefix",
            "LOAD",
            "--room-types",
            "5",
            "--rate-plans",
            "3",
            "--rooms-per-type",
            "20",
            "--days",
            "730",
            "--concurrency",
            "8",
        ])
        .unwrap();
        assert!(matches!(c.cmd, Cmd::Setup(ref o) if o.fleet.properties == 4 && o.days == 730));
        let c = Cli::try_parse_from([
            "saluran-load",
            "search",
            "--token",
            "t",
            "--properties",
            "4",
            "--concurrency",
            "32",
            "--duration",
            "20",
            "--nights",
            "7",
            "--warmup",
            "3",
        ])
        .unwrap();
        assert!(matches!(c.cmd, Cmd::Search(ref o) if o.concurrency == 32 && o.nights == 7));
        let c =
            Cli::try_parse_from(["saluran-load", "reserve", "--token", "t", "--rate", "500", "--duration", "20", "--max-in-flight", "256"])
                .unwrap();
        assert!(matches!(c.cmd, Cmd::Reserve(ref o) if o.rate == 500.0 && o.max_in_flight == 256));
        let c = Cli::try_parse_from(["saluran-load", "ari", "--token", "t", "--count", "20"]).unwrap();
        assert!(matches!(c.cmd, Cmd::Ari(ref o) if o.count == 20));
        let c =
            Cli::try_parse_from(["saluran-load", "channel-latency", "--token", "t", "--properties", "100", "--updates", "500"]).unwrap();
        assert!(matches!(c.cmd, Cmd::ChannelLatency(ref o) if o.fleet.properties == 100 && o.updates == 500 && o.latency_ms == 20));
        let c = Cli::try_parse_from(["saluran-load", "full-sync-count", "--token", "t", "--profile", "alpinebits"]).unwrap();
        assert!(matches!(c.cmd, Cmd::FullSyncCount(ref o) if o.profile == saluran_sim::Profile::Alpinebits));
        let c = Cli::try_parse_from([
            "saluran-load",
            "webhook",
            "--token",
            "t",
            "--rate",
            "200",
            "--duration",
            "20",
            "--backend-note",
            "postgres",
        ])
        .unwrap();
        assert!(matches!(c.cmd, Cmd::Webhook(ref o) if o.rate == 200.0 && !o.find_peak));
        let c = Cli::try_parse_from(["saluran-load", "webhook", "--token", "t", "--find-peak"]).unwrap();
        assert!(matches!(c.cmd, Cmd::Webhook(ref o) if o.find_peak));
        assert!(Cli::try_parse_from(["saluran-load", "webhook", "--token", "t", "--backend-note", "oracle"]).is_err());
        // Bounded: no endless runs.
        assert!(Cli::try_parse_from(["saluran-load", "search", "--token", "t", "--duration", "0"]).is_err());
        assert!(Cli::try_parse_from(["saluran-load", "search", "--token", "t", "--duration", "100000"]).is_err());
        assert!(Cli::try_parse_from(["saluran-load", "ari", "--token", "t", "--count", "0"]).is_err());
    }
}
