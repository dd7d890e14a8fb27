//! Wiring: the store, the actor tree and the HTTP router, and serving them
//! with a graceful drain.

use crate::config::Settings;
use crate::http;
use crate::telemetry;
use metrics_exporter_prometheus::PrometheusHandle;
use ractor::ActorRef;
use saluran_actors::{Deps, Hub, HubMsg, PropertyHandle, Registry};
use saluran_domain::ports::{Clock, CommittedEvent, Publisher, SystemClock};
use saluran_domain::store::Store;
use saluran_domain::PropertyCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// Committed domain events, fanned out in-process (the real-time hub and
/// channel actors subscribe here).
pub struct BroadcastPublisher(pub broadcast::Sender<CommittedEvent>);

impl Publisher for BroadcastPublisher {
    fn publish(&self, event: CommittedEvent) {
        metrics::counter!("saluran_events_published_total", "kind" => event.kind.clone()).increment(1);
        // No subscriber is fine: events are durable in the store anyway.
        let _ = self.0.send(event);
    }
}

pub struct AppInner {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub hub: ActorRef<HubMsg>,
    pub registry: Registry,
    pub deps: Deps,
    pub prometheus: PrometheusHandle,
    pub started: Instant,
    pub redis: Option<redis::Client>,
    pub events: broadcast::Sender<CommittedEvent>,
    pub tokens: crate::auth::TokenCache,
    pub presets: crate::presets::Presets,
    pub sealer: crate::secrets::Sealer,
    pub xml_limits: saluran_channels::xml::Limits,
}

#[derive(Clone)]
pub struct App(pub Arc<AppInner>);

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    pub async fn build(settings: Settings, store: Arc<dyn Store>) -> anyhow::Result<App> {
        Self::build_with_clock(settings, store, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(settings: Settings, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        let (events, _) = broadcast::channel(4096);
        let mut deps = Deps::new(store.clone(), clock, Arc::new(BroadcastPublisher(events.clone())));
        deps.idle_timeout = Duration::from_secs(settings.idle_timeout_secs.max(1));
        deps.auto_stop_sell_at = settings.auto_stop_sell_at;
        let presets = crate::presets::Presets::load(Some(std::path::Path::new(&settings.presets_dir))).map_err(|e| anyhow::anyhow!(e))?;
        let sealer = crate::secrets::Sealer::from_env_or_file(std::path::Path::new(&settings.secret_key_file))?;
        if settings.channels_enabled {
            deps.channels = Some(Arc::new(crate::channel_wiring::Factory::new(presets.clone(), sealer.clone())?));
        }
        let (hub, registry, _join) = Hub::start(deps.clone()).await?;
        let redis = match &settings.redis_url {
            Some(url) => Some(redis::Client::open(url.as_str())?),
            None => None,
        };
        let sink = Arc::new(crate::channel_wiring::AppSink(std::sync::OnceLock::new()));
        let _ = deps.booking_sink.set(sink.clone());
        let app = App(Arc::new(AppInner {
            settings,
            store,
            hub,
            registry,
            deps,
            prometheus: telemetry::prometheus(),
            started: Instant::now(),
            redis,
            events,
            tokens: crate::auth::TokenCache::default(),
            presets,
            sealer,
            xml_limits: saluran_channels::xml::Limits::default(),
        }));
        let _ = sink.0.set(app.clone());
        if app.settings.channels_enabled {
            // Connected properties push, poll and reconcile on their own: start
            // them now rather than on their first request.
            let boot = app.clone();
            tokio::spawn(async move {
                match boot.store.list_channel_properties().await {
                    Ok(codes) => {
                        for code in codes {
                            if let Err(e) = boot.property(&code).await {
                                tracing::error!(property = %code, error = %e, "connected property did not start");
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "listing connected properties failed"),
                }
            });
        }
        Ok(app)
    }

    /// The active property, activated on demand.
    pub async fn property(&self, code: &PropertyCode) -> Result<PropertyHandle, saluran_actors::ActorError> {
        Hub::property(&self.hub, &self.registry, code, self.deps.call_timeout).await
    }

    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Serves until `shutdown` resolves, then drains: in-flight requests
    /// finish, shards commit what they hold, then the store closes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = listener.local_addr()?;
        tracing::info!(%addr, backend = self.store.backend(), "saluran serving");
        let router = self.router().into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
        self.shutdown().await;
        Ok(())
    }

    pub async fn shutdown(&self) {
        tracing::info!("draining actors");
        let _ = self.hub.stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(30))).await;
        tracing::info!("stopped");
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}
