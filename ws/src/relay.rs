//! Hooks for fanning events out across several hub processes (a cross-node
//! backplane such as Redis pub/sub lives outside this crate).
//!
//! Two directions:
//! - **out**: [`router_with_relay`] mounts the same routes as
//!   [`crate::router`], and hands every event the HTTP events API accepted
//!   (`/events`, `/batch_events`) to an [`EventRelay`] after publishing it
//!   locally. Server-side publishers that call [`RealtimeHub::publish`]
//!   relay by themselves (they know their events; the hub does not).
//! - **in**: [`RealtimeHub::publish_relayed`] publishes an event that
//!   another process accepted. It is re-checked here, since it crossed a
//!   network, and it is never handed to a relay again, so loops are
//!   impossible.
//!
//! A relayed event gets *this* hub's stream position (its own epoch and
//! next offset): positions are per process, so a client that reconnects to
//! another process and asks to recover gets `pusher:resync` (its epoch is
//! unknown there) and reloads a snapshot. Client events and presence
//! membership are not relayed: they stay with the process the client is
//! connected to.

use crate::hub::{PublishError, RealtimeHub, StreamPosition};
use crate::protocol;
use axum::extract::FromRef;
use serde_json::Value;
use std::sync::Arc;

/// An event accepted by the HTTP events API, as published locally.
#[derive(Debug, Clone, Copy)]
pub struct RelayEvent<'a> {
    pub channel: &'a str,
    pub event: &'a str,
    /// The event's `data`, already encoded as it goes on the wire (see
    /// [`encode_data`]).
    pub data: &'a str,
    /// Pusher's `socket_id` parameter: the connection not to send it to.
    pub except_socket_id: Option<&'a str>,
}

/// Receives every event the HTTP events API published locally. Called on
/// the request's task: it must not block (queue and return).
pub trait EventRelay: Send + Sync + 'static {
    fn relay(&self, event: RelayEvent<'_>);
}

/// Pusher's encoding of an event's `data`: a JSON string goes on the wire
/// as is (already encoded), anything else is encoded. What
/// [`RealtimeHub::publish`] does with its `data`.
pub fn encode_data(data: &Value) -> String {
    protocol::encode_data(data)
}

impl RealtimeHub {
    /// Publishes an event relayed from another process: checks the channel
    /// and event names and the size (as for the HTTP events API), then
    /// publishes `data` (already encoded) with this hub's next stream
    /// position, skipping the connection `except_socket_id`.
    pub fn publish_relayed(
        &self,
        channel: &str,
        event_name: &str,
        data: &str,
        except_socket_id: Option<&str>,
    ) -> Result<StreamPosition, PublishError> {
        self.check_encoded(channel, event_name, data)?;
        Ok(self.publish_encoded(channel, event_name, data, except_socket_id))
    }
}

/// The routes' state: the hub plus the optional relay. Handlers that only
/// need the hub extract `State<RealtimeHub>` through `FromRef`.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub hub: RealtimeHub,
    pub relay: Relay,
}

/// The relay the events API hands accepted events to, if any.
#[derive(Clone, Default)]
pub(crate) struct Relay(Option<Arc<dyn EventRelay>>);

impl Relay {
    /// Publishes an accepted (checked) event on `hub`, then hands it to the
    /// relay, if there is one.
    pub fn publish(&self, hub: &RealtimeHub, channel: &str, event: &str, data: &str, except_socket_id: Option<&str>) {
        hub.publish_encoded(channel, event, data, except_socket_id);
        if let Some(r) = &self.0 {
            r.relay(RelayEvent { channel, event, data, except_socket_id });
        }
    }
}

impl ApiState {
    pub fn new(hub: RealtimeHub, relay: Option<Arc<dyn EventRelay>>) -> ApiState {
        ApiState { hub, relay: Relay(relay) }
    }
}

impl FromRef<ApiState> for RealtimeHub {
    fn from_ref(state: &ApiState) -> RealtimeHub {
        state.hub.clone()
    }
}

impl FromRef<ApiState> for Relay {
    fn from_ref(state: &ApiState) -> Relay {
        state.relay.clone()
    }
}

/// As [`crate::router`], and every event the HTTP events API publishes is
/// also handed to `relay`.
pub fn router_with_relay(hub: RealtimeHub, relay: Arc<dyn EventRelay>) -> axum::Router {
    crate::api::routes(ApiState::new(hub, Some(relay)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HubConfig;

    #[test]
    fn relayed_events_are_checked_and_take_this_hubs_position() {
        let hub = RealtimeHub::new(HubConfig::new("id", "key", "secret"));
        let pos = hub.publish_relayed("private-a", "ev", "{\"x\":1}", None).expect("valid");
        assert_eq!(pos.epoch, hub.epoch());
        assert_eq!(pos.offset, 1);
        assert!(matches!(hub.publish_relayed("bad channel", "ev", "{}", None), Err(PublishError::ChannelName(_))));
        assert!(matches!(hub.publish_relayed("private-a", "", "{}", None), Err(PublishError::EventName)));
        let big = "x".repeat(hub.config().max_event_bytes + 1);
        assert!(matches!(hub.publish_relayed("private-a", "ev", &big, None), Err(PublishError::TooLarge { .. })));
        assert_eq!(hub.position("private-a").offset, 1, "refused events take no position");
    }
}
