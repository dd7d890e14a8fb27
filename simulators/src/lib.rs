//! OTA simulators: real HTTP servers that play an OTA for saluran's tests and demo.
//!
//! A simulator receives ARI pushes in one of the three profiles (`opentravel`,
//! `alpinebits`, `jsonrest`), validates them with the codecs of `saluran-channels`,
//! keeps its own view of availability, rates and restrictions, enforces the OTA's
//! rate limit, injects faults on demand, creates bookings and delivers them the way
//! that OTA does (push with redelivery, or a queue the hub pulls), and exposes what
//! it believes under `/_sim/*` so tests can compare it with the hub.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use saluran_sim::{Profile, Sim, SimConfig};
//! let sim = Sim::start(SimConfig::new(Profile::Opentravel, "H1", "user", "secret")).await?;
//! println!("{}", sim.base_url());
//! let view = sim.view();
//! assert_eq!(view.regressions, 0);
//! sim.stop().await;
//! # Ok(()) }
//! ```

pub mod bookings;
mod codec;
pub mod config;
mod control;
mod delivery;
pub mod faults;
mod hub;
mod server;
pub mod view;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use bookings::{Action, DeliveryRow};
pub use config::{HubWebhook, Profile, Redelivery, SimConfig};
pub use control::{BookingSpec, ModifySpec, RedeliverSpec, TrickleSpec};
pub use faults::{FaultConfig, FaultKind, Stats};
pub use view::{AriUpdate, CellView, ViewSnapshot};

/// State shared by the HTTP handlers and the background tasks of one simulator.
pub(crate) struct Shared {
    pub cfg: SimConfig,
    /// Bounds for the codecs' parsers (body cap = `cfg.body_limit`).
    pub limits: saluran_channels::Limits,
    pub view: Mutex<view::View>,
    pub faults: Mutex<FaultConfig>,
    pub stats: Mutex<Stats>,
    pub limiter: Mutex<Option<Arc<DefaultDirectRateLimiter>>>,
    pub bookings: Mutex<bookings::BookingStore>,
    /// AlpineBits: per booking, the revision number last handed out by `OTA_Read`
    /// (an `OTA_NotifReport` acknowledges up to it).
    pub pulled: Mutex<HashMap<String, u32>>,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    /// Background work (deliveries, trickle) that `stop()` waits for.
    pub tasks: TaskTracker,
    pub trickle: Mutex<Option<CancellationToken>>,
}

pub(crate) fn limiter(rpm: Option<u32>) -> Option<Arc<DefaultDirectRateLimiter>> {
    let rpm = NonZeroU32::new(rpm?)?;
    Some(Arc::new(RateLimiter::direct(Quota::per_minute(rpm))))
}

/// Starts simulators.
pub struct Sim;

impl Sim {
    /// Binds `cfg.listen` (default `127.0.0.1:0`) and serves until [`SimHandle::stop`].
    pub async fn start(cfg: SimConfig) -> anyhow::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let http = reqwest::Client::builder().timeout(cfg.push_timeout).pool_max_idle_per_host(16).build()?;
        let shared = Arc::new(Shared {
            limiter: Mutex::new(limiter(cfg.requests_per_minute)),
            limits: saluran_channels::Limits { max_bytes: cfg.body_limit, ..saluran_channels::Limits::default() },
            cfg,
            view: Mutex::new(view::View::default()),
            faults: Mutex::new(FaultConfig::default()),
            stats: Mutex::new(Stats::default()),
            bookings: Mutex::new(bookings::BookingStore::default()),
            pulled: Mutex::new(HashMap::new()),
            http,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            trickle: Mutex::new(None),
        });
        let app = hub::routes(shared.profile()).merge(control::routes()).with_state(shared.clone());
        let conns = TaskTracker::new();
        let server = tokio::spawn(server::accept_loop(listener, app, shared.shutdown.clone(), conns.clone()));
        tracing::info!(profile = shared.cfg.profile.as_str(), %addr, "OTA simulator listening");
        Ok(SimHandle { shared, addr, server: Some(server), conns })
    }
}

impl Shared {
    pub fn profile(&self) -> Profile {
        self.cfg.profile
    }
}

/// A running simulator. Dropping it stops serving (without waiting); prefer [`SimHandle::stop`].
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
    conns: TaskTracker,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): the `endpoint` of a channel.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn profile(&self) -> Profile {
        self.shared.cfg.profile
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.cfg
    }

    /// What the simulator believes (same as `GET /_sim/view`).
    pub fn view(&self) -> ViewSnapshot {
        self.shared.view.lock().snapshot()
    }

    /// Same as `GET /_sim/stats`.
    pub fn stats(&self) -> Stats {
        self.shared.stats.lock().clone()
    }

    /// Same as `POST /_sim/faults`.
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), String> {
        faults.validate()?;
        *self.shared.faults.lock() = faults;
        Ok(())
    }

    /// Changes the rate limit (`None` = unlimited); the bucket starts full.
    pub fn set_rate_limit(&self, requests_per_minute: Option<u32>) {
        *self.shared.limiter.lock() = limiter(requests_per_minute);
    }

    /// Same as `POST /_sim/bookings`: returns the new booking ids.
    pub fn create_bookings(&self, spec: &BookingSpec) -> Result<Vec<String>, String> {
        control::create_bookings(&self.shared, spec)
    }

    /// Same as `POST /_sim/bookings/{id}/modify`: returns the new revision number.
    pub fn modify_booking(&self, id: &str, spec: &ModifySpec) -> Result<u32, String> {
        control::modify_booking(&self.shared, id, spec)
    }

    /// Same as `POST /_sim/bookings/{id}/cancel`: returns the new revision number.
    pub fn cancel_booking(&self, id: &str, copies: u32) -> Result<u32, String> {
        control::cancel_booking(&self.shared, id, copies)
    }

    /// Same as `POST /_sim/redeliver-all`: returns how many revisions were resent / requeued.
    pub fn redeliver_all(&self, spec: &RedeliverSpec) -> usize {
        control::redeliver_all(&self.shared, spec)
    }

    /// Same as `GET /_sim/deliveries`.
    pub fn deliveries(&self) -> Vec<DeliveryRow> {
        self.shared.bookings.lock().deliveries()
    }

    /// Waits (bounded by `within`) until `pred` holds for the deliveries; returns them.
    pub async fn wait_deliveries(
        &self,
        within: Duration,
        pred: impl Fn(&[DeliveryRow]) -> bool,
    ) -> Result<Vec<DeliveryRow>, Vec<DeliveryRow>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let rows = self.deliveries();
            if pred(&rows) {
                return Ok(rows);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(rows);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops accepting, cancels timeouts, redeliveries and the trickle, lets in-flight
    /// responses finish (bounded), and returns when everything has ended.
    pub async fn stop(mut self) {
        self.shared.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        self.conns.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.conns.wait()).await;
        self.shared.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.shared.tasks.wait()).await;
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
