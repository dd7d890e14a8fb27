//! `saluran-sim`: run one OTA simulator until Ctrl-C / SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use saluran_sim::{Profile, Sim, SimConfig};

#[derive(Debug, Parser)]
#[command(name = "saluran-sim", version, about = "An OTA simulator speaking one of saluran's channel profiles")]
struct Args {
    /// opentravel | alpinebits | jsonrest
    #[arg(long, value_enum)]
    profile: Profile,
    /// Address to bind (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The OTA's code of the property.
    #[arg(long, default_value = "H1")]
    hotel_code: String,
    /// HTTP Basic user the hub must send (ignored by jsonrest).
    #[arg(long, default_value = "saluran")]
    username: String,
    /// HTTP Basic password (or jsonrest X-Api-Key) the hub must send.
    #[arg(long, env = "SALURAN_SIM_PASSWORD")]
    password: String,
    /// Rate limit of hub requests per minute (429 beyond).
    #[arg(long)]
    rpm: Option<u32>,
    /// Most ARI updates (date ranges) accepted per request.
    #[arg(long)]
    max_updates: Option<usize>,
    /// Where bookings are pushed (opentravel) or notified (jsonrest).
    #[arg(long)]
    hub_webhook: Option<String>,
    /// HTTP Basic user for the hub webhook.
    #[arg(long, default_value = "")]
    webhook_user: String,
    /// HTTP Basic password (opentravel) or HMAC secret (jsonrest) for the hub webhook.
    #[arg(long, env = "SALURAN_SIM_WEBHOOK_PASSWORD", default_value = "")]
    webhook_password: String,
    /// Currency of generated bookings.
    #[arg(long, default_value = "IDR")]
    currency: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut cfg = SimConfig::new(args.profile, args.hotel_code, args.username, args.password);
    cfg.listen = args.listen;
    cfg.requests_per_minute = args.rpm;
    cfg.max_updates_per_request = args.max_updates;
    cfg.currency = args.currency;
    if let Some(url) = args.hub_webhook {
        cfg = cfg.with_hub_webhook(url, args.webhook_user, args.webhook_password);
    }
    let sim = Sim::start(cfg).await?;
    // The URL alone on stdout, so scripts can read it.
    println!("{}", sim.base_url());
    shutdown_signal().await;
    tracing::info!("stopping");
    tokio::time::timeout(Duration::from_secs(10), sim.stop()).await.ok();
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
