//! Wiring: the store, the actor tree and the HTTP router, and serving them
//! with a graceful drain.

use crate::backplane::{Backplane, BackplaneConfig};
use crate::config::Settings;
use crate::http;
use crate::telemetry;
use metrics_exporter_prometheus::PrometheusHandle;
use ractor::ActorRef;
use saluran_actors::{Deps, Hub, HubMsg, PropertyHandle, Registry};
use saluran_domain::events::{EventKind, Topic};
use saluran_domain::ports::{Clock, Published, Publisher, SystemClock};
use saluran_domain::store::Store;
use saluran_domain::PropertyCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// Committed domain events, fanned out in-process: to the real-time hub
/// (directly: it never blocks and never drops), to the other nodes through
/// the backplane when Redis is configured (queued, never blocks, may drop)
/// and to in-process listeners.
pub struct BroadcastPublisher {
    pub local: broadcast::Sender<Published>,
    pub realtime: saluran_ws::RealtimeHub,
    pub backplane: Option<Backplane>,
}

/// The hub channels an event goes to (DESIGN §6): each of its kind's
/// topics (`EventKind::topics`, exhaustive over the kinds) by name.
pub fn realtime_channels(property: &PropertyCode, kind: EventKind) -> Vec<String> {
    kind.topics()
        .iter()
        .map(|topic| match topic {
            Topic::Inventory => format!("private-property.{property}.inventory"),
            Topic::Bookings => format!("private-property.{property}.bookings"),
            Topic::Rooms => format!("private-property.{property}.rooms"),
            Topic::Housekeeping => format!("presence-property.{property}.housekeeping"),
        })
        .collect()
}

impl Publisher for BroadcastPublisher {
    fn publish(&self, event: Published) {
        let kind = event.kind();
        metrics::counter!("saluran_events_published_total", "kind" => kind.as_str()).increment(1);
        let mut data = event.payload().clone();
        if let Some(obj) = data.as_object_mut() {
            obj.insert("property".into(), serde_json::json!(event.property()));
            // Only committed events have a stream position; a notice has
            // none (clients reload what it describes if they miss it).
            if let Some(seq) = event.seq() {
                obj.insert("seq".into(), serde_json::json!(seq));
            }
        }
        // Encoded once for every channel and for the backplane.
        let encoded = saluran_ws::encode_data(&data);
        for channel in realtime_channels(event.property(), kind) {
            self.realtime.publish_data(&channel, kind.as_str(), &encoded);
            if let Some(backplane) = &self.backplane {
                backplane.offer(&channel, kind.as_str(), &encoded, None);
            }
        }
        // No local subscriber is fine: events are durable in the store anyway.
        let _ = self.local.send(event);
    }
}

pub struct AppInner {
    settings: Settings,
    store: Arc<dyn Store>,
    hub: ActorRef<HubMsg>,
    registry: Registry,
    deps: Deps,
    prometheus: PrometheusHandle,
    started: Instant,
    redis: Option<redis::Client>,
    /// Cross-node real-time fan-out; running when `redis_url` is set.
    backplane: Option<Backplane>,
    events: broadcast::Sender<Published>,
    realtime: saluran_ws::RealtimeHub,
    tokens: crate::auth::TokenCache,
    presets: crate::presets::Presets,
    sealer: crate::secrets::Sealer,
    xml_limits: saluran_channels::xml::Limits,
    /// Requests with an Idempotency-Key run in tasks of their own: bounded
    /// and awaited by the drain.
    idempotent: http::idempotency::Tasks,
}

/// What the rest of the binary may read of the running application. The
/// fields are private so that only `App::build*` wires them.
impl AppInner {
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn hub(&self) -> &ActorRef<HubMsg> {
        &self.hub
    }
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    pub fn deps(&self) -> &Deps {
        &self.deps
    }
    pub fn prometheus(&self) -> &PrometheusHandle {
        &self.prometheus
    }
    pub fn started(&self) -> Instant {
        self.started
    }
    pub fn redis(&self) -> &Option<redis::Client> {
        &self.redis
    }
    pub fn backplane(&self) -> &Option<Backplane> {
        &self.backplane
    }
    pub fn events(&self) -> &broadcast::Sender<Published> {
        &self.events
    }
    pub fn realtime(&self) -> &saluran_ws::RealtimeHub {
        &self.realtime
    }
    pub fn tokens(&self) -> &crate::auth::TokenCache {
        &self.tokens
    }
    pub fn presets(&self) -> &crate::presets::Presets {
        &self.presets
    }
    pub fn sealer(&self) -> &crate::secrets::Sealer {
        &self.sealer
    }
    pub fn xml_limits(&self) -> &saluran_channels::xml::Limits {
        &self.xml_limits
    }
    pub fn idempotent(&self) -> &http::idempotency::Tasks {
        &self.idempotent
    }
}

#[derive(Clone)]
pub struct App(Arc<AppInner>);

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
        let mut hub_config =
            saluran_ws::HubConfig::new(settings.pusher_app_id.clone(), settings.pusher_key.clone(), settings.pusher_secret.clone());
        hub_config.allowed_origins = settings.allowed_origins.clone();
        hub_config.max_connections = settings.ws_max_connections.max(1);
        let realtime = saluran_ws::RealtimeHub::new(hub_config);
        if settings.pusher_secret == crate::config::Settings::default().pusher_secret {
            tracing::warn!("SALURAN_PUSHER_SECRET is the built-in default: fine for the demo, set your own in production");
        }
        let redis = match &settings.redis_url {
            Some(url) => Some(redis::Client::open(url.as_str())?),
            None => None,
        };
        let backplane = redis.as_ref().map(|client| {
            let config = BackplaneConfig { channel: settings.backplane_channel.clone(), queue: settings.backplane_queue };
            Backplane::start(client.clone(), config, realtime.clone())
        });
        let publisher = BroadcastPublisher { local: events.clone(), realtime: realtime.clone(), backplane: backplane.clone() };
        let mut deps = Deps::new(store.clone(), clock, Arc::new(publisher));
        deps.idle_timeout = Duration::from_secs(settings.idle_timeout_secs.max(1));
        deps.auto_stop_sell_at = settings.auto_stop_sell_at;
        deps.shard_ingress_limit = settings.shard_ingress_limit.max(1);
        let presets = crate::presets::Presets::load(Some(std::path::Path::new(&settings.presets_dir))).map_err(|e| anyhow::anyhow!(e))?;
        let sealer = crate::secrets::Sealer::from_env_or_file(std::path::Path::new(&settings.secret_key_file))?;
        if settings.channels_enabled {
            deps.channels = Some(Arc::new(crate::channel_wiring::Factory::new(presets.clone(), sealer.clone())?));
            // No cycle to break: the booking service needs only what every
            // actor already has (deps) and the property's handle, which the
            // Channel actor passes in; it never needs the `App`.
            deps.booking_sink = Some(Arc::new(crate::service::bookings::BookingIngest));
        }
        let (hub, registry, _join) = Hub::start(deps.clone()).await?;
        let settings_max_concurrent = settings.max_concurrent_requests;
        let app = App(Arc::new(AppInner {
            settings,
            store,
            hub,
            registry,
            deps,
            prometheus: telemetry::prometheus(),
            started: Instant::now(),
            redis,
            backplane,
            events,
            realtime,
            tokens: crate::auth::TokenCache::default(),
            presets,
            sealer,
            xml_limits: saluran_channels::xml::Limits::default(),
            idempotent: http::idempotency::Tasks::new(settings_max_concurrent),
        }));
        tokio::spawn(http::idempotency::expire_loop(
            Arc::downgrade(&app.store),
            Duration::from_secs(app.settings.idempotency_ttl_secs.max(1)),
        ));
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
        // Upgraded WebSockets are not tracked by the HTTP drain: close them
        // (4200, "reconnect") as soon as the signal comes.
        let realtime = self.realtime.clone();
        let shutdown = async move {
            shutdown.await;
            realtime.shutdown(Duration::from_secs(2)).await;
        };
        // Header / idle / body timeouts, a connection cap, an accept loop
        // that survives EMFILE; no Nagle (a WebSocket event or an API answer
        // is one small write that must leave now, not wait up to a delayed
        // ACK for the previous one).
        crate::server::serve(listener, self.router(), crate::server::Limits::from_settings(&self.settings), shutdown).await;
        self.shutdown().await;
        Ok(())
    }

    pub async fn shutdown(&self) {
        // Requests with an Idempotency-Key outlive their connection: let them
        // record their outcome (they are stopped after the request timeout)
        // before the actors they talk to stop.
        let running = self.idempotent.running();
        if running > 0 {
            tracing::info!(running, "waiting for idempotent requests");
        }
        self.idempotent.drain(self.settings.request_timeout() + Duration::from_secs(5)).await;
        tracing::info!("draining actors");
        let _ = self.hub.stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(30))).await;
        if let Some(backplane) = &self.backplane {
            backplane.stop(Duration::from_millis(500)).await;
        }
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

#[cfg(test)]
mod tests {
    use super::realtime_channels;
    use saluran_domain::events::EventKind;
    use saluran_domain::PropertyCode;

    fn channels(kind: &str) -> Vec<String> {
        let kind = EventKind::parse(kind).expect("a known kind");
        realtime_channels(&PropertyCode::parse("HTL").unwrap(), kind)
    }

    #[test]
    fn housekeeping_events_reach_the_room_channels() {
        assert_eq!(channels("task.updated"), ["private-property.HTL.rooms", "presence-property.HTL.housekeeping"]);
        assert_eq!(channels("night_audit.completed"), ["private-property.HTL.rooms"]);
    }

    #[test]
    fn front_desk_events_reach_bookings_and_no_shows_inventory_too() {
        assert_eq!(channels("booking.checked_in"), ["private-property.HTL.bookings"]);
        assert_eq!(channels("booking.checked_out"), ["private-property.HTL.bookings"]);
        assert_eq!(channels("booking.no_show"), ["private-property.HTL.bookings", "private-property.HTL.inventory"]);
    }

    #[test]
    fn inventory_alerts_reach_their_channels() {
        assert_eq!(channels("stop_sell.lifted"), ["private-property.HTL.inventory"]);
        assert_eq!(channels("booking.outside_horizon"), ["private-property.HTL.bookings"]);
    }
}
