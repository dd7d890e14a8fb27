//! Configuration of the real-time hub.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Everything the hub needs to know; build it with [`HubConfig::new`] and
/// override fields with struct update syntax.
///
/// All limits are per hub (one process) unless said otherwise.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HubConfig {
    /// Pusher app id (`/apps/{app_id}/…`).
    pub app_id: String,
    /// Pusher app key (`/app/{key}`, `auth_key`, the `key:` part of channel auth).
    pub key: String,
    /// Pusher app secret: signs channel auth and HTTP API requests.
    pub secret: String,
    /// Allowed `Origin` values for browser WebSockets (`https://pms.example.com`,
    /// `https://*.example.com`, or `*`). Empty = any origin. A request without
    /// an `Origin` header (not a browser) is always let through: Origin only
    /// protects browsers from cross-site use, anyone else can forge it.
    pub allowed_origins: Vec<String>,
    /// Largest WebSocket message (and frame) a client may send.
    pub max_message_bytes: usize,
    /// Per-connection outgoing queue, in bytes; a connection whose queue
    /// would grow past this is closed with 4100 and its queue freed.
    pub send_queue_bytes: usize,
    /// Seconds of client silence before the server sends `pusher:ping`
    /// (also announced in `pusher:connection_established`).
    pub activity_timeout_secs: u64,
    /// Seconds to wait for any message after a server `pusher:ping` before
    /// closing with 4201.
    pub pong_timeout_secs: u64,
    /// Client events (`client-*`) a connection may send per second (burst = rate).
    pub client_messages_per_sec: u32,
    /// All messages a connection may send per second (burst = 2 × rate); beyond
    /// it messages are refused with `pusher:error` 4301.
    pub inbound_messages_per_sec: u32,
    /// Events kept per channel for recovery.
    pub history_per_channel: usize,
    /// Bytes of serialized events kept per channel for recovery.
    pub history_bytes_per_channel: usize,
    /// Open WebSocket connections; over it new ones are closed with 4100.
    pub max_connections: usize,
    /// Channels one connection may be subscribed to at once.
    pub max_channels_per_connection: usize,
    /// Distinct users on one presence channel.
    pub max_presence_members: usize,
    /// Largest presence `user_info` (serialized), and `user_id` is capped at 128 bytes.
    pub max_user_info_bytes: usize,
    /// Largest `data` of one event accepted by the HTTP events API (413 beyond).
    pub max_event_bytes: usize,
    /// Largest HTTP API request body.
    pub max_api_body_bytes: usize,
    /// Events in one `batch_events` request.
    pub max_batch_events: usize,
    /// Channels in one `events` request.
    pub max_event_channels: usize,
    /// Accepted clock skew of `auth_timestamp` on the HTTP API, in seconds.
    pub api_timestamp_window_secs: i64,
    /// WebSocket read buffer per connection (axum's default is 128 KiB).
    pub read_buffer_bytes: usize,
    /// WebSocket write buffer per connection (axum's default is 128 KiB).
    pub write_buffer_bytes: usize,
    /// How long a closing connection may take to deliver its close frame
    /// before the socket is dropped, in milliseconds.
    pub close_grace_ms: u64,
}

impl HubConfig {
    /// Defaults for everything but the credentials.
    pub fn new(app_id: impl Into<String>, key: impl Into<String>, secret: impl Into<String>) -> Self {
        HubConfig { app_id: app_id.into(), key: key.into(), secret: secret.into(), ..HubConfig::default() }
    }

    /// Whether a browser `Origin` header value may connect.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        if self.allowed_origins.is_empty() {
            return true;
        }
        let origin = origin.trim().trim_end_matches('/');
        self.allowed_origins.iter().any(|allowed| origin_matches(allowed.trim().trim_end_matches('/'), origin))
    }
}

fn origin_matches(pattern: &str, origin: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern.eq_ignore_ascii_case(origin) {
        return true;
    }
    // `scheme://*.example.com[:port]` matches any subdomain (not the apex).
    let (Some((p_scheme, p_rest)), Some((o_scheme, o_rest))) = (pattern.split_once("://"), origin.split_once("://")) else {
        return false;
    };
    let Some(suffix) = p_rest.strip_prefix("*.") else {
        return false;
    };
    if !p_scheme.eq_ignore_ascii_case(o_scheme) {
        return false;
    }
    let o_rest = o_rest.to_ascii_lowercase();
    let suffix = format!(".{}", suffix.to_ascii_lowercase());
    o_rest.len() > suffix.len() && o_rest.ends_with(&suffix) && !o_rest[..o_rest.len() - suffix.len()].contains(['/', ':', '@'])
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            app_id: String::new(),
            key: String::new(),
            secret: String::new(),
            allowed_origins: Vec::new(),
            max_message_bytes: 64 * 1024,
            send_queue_bytes: 1024 * 1024,
            activity_timeout_secs: 120,
            pong_timeout_secs: 30,
            client_messages_per_sec: 10,
            inbound_messages_per_sec: 50,
            history_per_channel: 1000,
            history_bytes_per_channel: 4 * 1024 * 1024,
            max_connections: 10_000,
            max_channels_per_connection: 100,
            max_presence_members: 1000,
            max_user_info_bytes: 1024,
            max_event_bytes: 64 * 1024,
            max_api_body_bytes: 1024 * 1024,
            max_batch_events: 10,
            max_event_channels: 100,
            api_timestamp_window_secs: 600,
            read_buffer_bytes: 8 * 1024,
            write_buffer_bytes: 8 * 1024,
            close_grace_ms: 5_000,
        }
    }
}

impl fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubConfig")
            .field("app_id", &self.app_id)
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("allowed_origins", &self.allowed_origins)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("send_queue_bytes", &self.send_queue_bytes)
            .field("activity_timeout_secs", &self.activity_timeout_secs)
            .field("pong_timeout_secs", &self.pong_timeout_secs)
            .field("client_messages_per_sec", &self.client_messages_per_sec)
            .field("inbound_messages_per_sec", &self.inbound_messages_per_sec)
            .field("history_per_channel", &self.history_per_channel)
            .field("history_bytes_per_channel", &self.history_bytes_per_channel)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let mut c = HubConfig::new("1", "k", "s");
        assert!(c.origin_allowed("https://evil.example"));
        c.allowed_origins = vec!["https://pms.example.com".into(), "https://*.hotel.id".into()];
        assert!(c.origin_allowed("https://pms.example.com"));
        assert!(c.origin_allowed("HTTPS://PMS.example.com/"));
        assert!(!c.origin_allowed("http://pms.example.com"));
        assert!(!c.origin_allowed("https://pms.example.com.evil.io"));
        assert!(c.origin_allowed("https://a.hotel.id"));
        assert!(c.origin_allowed("https://b.a.hotel.id"));
        assert!(!c.origin_allowed("https://hotel.id"));
        assert!(!c.origin_allowed("https://evilhotel.id"));
        assert!(!c.origin_allowed("https://x@a.hotel.id"));
        assert!(!c.origin_allowed("null"));
        c.allowed_origins = vec!["*".into()];
        assert!(c.origin_allowed("null"));
    }

    #[test]
    fn debug_redacts_secret() {
        let c = HubConfig::new("1", "k", "very-secret");
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
