//! saluran-ws — the real-time hub.
//!
//! A Pusher Channels protocol v7 server (so `pusher-js`, `laravel-echo` and
//! `pusher-php-server` work unchanged) with one extension: every published
//! event carries its stream position, and a subscribe may ask to recover
//! from a position (replay from bounded history, or `pusher:resync`). The
//! wire format and the extension are described in `ws/README.md`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use saluran_ws::{router, HubConfig, RealtimeHub};
//! let hub = RealtimeHub::new(HubConfig::new("app-id", "app-key", "app-secret"));
//! let app = axum::Router::new().merge(router(hub.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//! let pos = hub.publish("private-property.BALI01.inventory", "ari.changed", serde_json::json!({"from": "2025-01-01"}));
//! assert_eq!(pos.offset, 1);
//! # Ok(())
//! # }
//! ```
//!
//! This is the only crate that knows the WebSocket wire JSON.

mod api;
mod auth;
mod config;
mod conn;
mod hub;
mod protocol;
mod relay;
mod session;

pub use api::router;
pub use auth::{body_md5, channel_auth, sign_api_query, ApiAuthError};
pub use config::HubConfig;
pub use hub::{ChannelInfo, HubStats, PublishError, RealtimeHub, StreamPosition};
pub use protocol::{codes, valid_channel_name, valid_event_name, ChannelKind};
pub use relay::{encode_data, router_with_relay, EventRelay, RelayEvent};
