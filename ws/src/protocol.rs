//! The wire JSON of Pusher Channels protocol v7, plus the stream-position
//! extension (see `ws/README.md`).

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// WebSocket close codes and `pusher:error` codes. pusher-js reads the close
/// code range: 4000–4099 don't reconnect, 4100–4199 reconnect with backoff,
/// 4200–4299 reconnect immediately.
pub mod codes {
    /// Wrong app key in `/app/{key}`.
    pub const APP_NOT_FOUND: u16 = 4001;
    /// `protocol` query parameter other than 7.
    pub const UNSUPPORTED_PROTOCOL: u16 = 4007;
    /// No `protocol` query parameter.
    pub const NO_PROTOCOL: u16 = 4008;
    /// Origin not allowed; as a `pusher:error` code: a refused channel auth.
    pub const UNAUTHORIZED: u16 = 4009;
    /// A client message larger than `max_message_bytes` (the socket is
    /// closed: the rest of the frame is never read).
    pub const MESSAGE_TOO_LARGE: u16 = 4010;
    /// Over capacity: too many connections, or the client reads too slowly
    /// (its send queue filled up). Reconnect with backoff, then recover.
    pub const OVER_CAPACITY: u16 = 4100;
    /// Server shutting down or restarting: reconnect immediately.
    pub const RECONNECT: u16 = 4200;
    /// No answer to a server `pusher:ping`.
    pub const PONG_TIMEOUT: u16 = 4201;
    /// `pusher:error` only: a malformed or unknown message, refused without
    /// closing the connection (extension; Pusher sends a null code there).
    pub const BAD_MESSAGE: u16 = 4300;
    /// `pusher:error` only: rate limit; the message was dropped.
    pub const RATE_LIMITED: u16 = 4301;
    /// RFC 6455 "invalid frame payload data": a text frame that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
}

/// A message from a client. `data` may be an object or a JSON string.
#[derive(Debug, Deserialize)]
pub(crate) struct Incoming {
    pub event: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub data: Value,
}

/// The `data` of `pusher:subscribe`.
#[derive(Debug, Deserialize)]
pub(crate) struct SubscribeData {
    pub channel: String,
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub channel_data: Option<String>,
    #[serde(default)]
    pub recover: Option<RecoverFrom>,
}

/// `"recover": {"epoch": "...", "offset": n}` — the last position the client saw.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RecoverFrom {
    pub epoch: String,
    pub offset: u64,
}

/// The `data` of `pusher:unsubscribe`.
#[derive(Debug, Deserialize)]
pub(crate) struct UnsubscribeData {
    pub channel: String,
}

#[derive(Serialize)]
struct Stream<'a> {
    epoch: &'a str,
    offset: u64,
}

#[derive(Serialize)]
struct Outgoing<'a, D: Serialize> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    data: D,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<Stream<'a>>,
}

fn to_frame<D: Serialize>(msg: &Outgoing<'_, D>) -> Utf8Bytes {
    match serde_json::to_string(msg) {
        Ok(s) => Utf8Bytes::from(s),
        // Unreachable for our types (string keys only); never panic on it.
        Err(_) => Utf8Bytes::from_static(r#"{"event":"pusher:error","data":{"code":4300,"message":"internal encoding error"}}"#),
    }
}

/// Pusher sends `data` as a JSON-encoded string: a string is sent as is
/// (already encoded, as the HTTP API and `pusher-php-server` do), anything
/// else is encoded.
pub(crate) fn encode_data(data: &Value) -> String {
    match data {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A published event: `{"event","channel","data":"<json>","stream":{"epoch","offset"}}`.
pub(crate) fn event_frame(event: &str, channel: &str, data: &str, epoch: &str, offset: u64) -> Utf8Bytes {
    to_frame(&Outgoing { event, channel: Some(channel), data, user_id: None, stream: Some(Stream { epoch, offset }) })
}

/// A client event relayed to the other subscribers (data as the sender sent it).
pub(crate) fn client_event_frame(event: &str, channel: &str, data: &Value, user_id: Option<&str>) -> Utf8Bytes {
    to_frame(&Outgoing { event, channel: Some(channel), data, user_id, stream: None })
}

pub(crate) fn connection_established(socket_id: &str, activity_timeout: u64) -> Utf8Bytes {
    let data = serde_json::json!({ "socket_id": socket_id, "activity_timeout": activity_timeout }).to_string();
    to_frame(&Outgoing { event: "pusher:connection_established", channel: None, data, user_id: None, stream: None })
}

pub(crate) fn pong() -> Utf8Bytes {
    Utf8Bytes::from_static(r#"{"event":"pusher:pong","data":"{}"}"#)
}

pub(crate) fn ping() -> Utf8Bytes {
    Utf8Bytes::from_static(r#"{"event":"pusher:ping","data":"{}"}"#)
}

/// `pusher:error` (data is an object, as Pusher sends it).
pub(crate) fn error(code: u16, message: &str) -> Utf8Bytes {
    let data = serde_json::json!({ "code": code, "message": message });
    to_frame(&Outgoing { event: "pusher:error", channel: None, data, user_id: None, stream: None })
}

/// `pusher:subscription_error` on a channel (what pusher-js raises on the
/// channel when its own auth request fails).
pub(crate) fn subscription_error(channel: &str, status: u16, message: &str) -> Utf8Bytes {
    let data = serde_json::json!({ "type": "AuthError", "error": message, "status": status }).to_string();
    to_frame(&Outgoing { event: "pusher:subscription_error", channel: Some(channel), data, user_id: None, stream: None })
}

/// `pusher_internal:subscription_succeeded`, with the channel's current stream
/// position (extension) so a client can recover later even if no event came.
pub(crate) fn subscription_succeeded(channel: &str, presence: Option<Value>, epoch: &str, offset: u64) -> Utf8Bytes {
    let data = match presence {
        Some(p) => serde_json::json!({ "presence": p }).to_string(),
        None => "{}".to_string(),
    };
    to_frame(&Outgoing {
        event: "pusher_internal:subscription_succeeded",
        channel: Some(channel),
        data,
        user_id: None,
        stream: Some(Stream { epoch, offset }),
    })
}

pub(crate) fn member_added(channel: &str, user_id: &str, user_info: &Value) -> Utf8Bytes {
    let data = serde_json::json!({ "user_id": user_id, "user_info": user_info }).to_string();
    to_frame(&Outgoing { event: "pusher_internal:member_added", channel: Some(channel), data, user_id: None, stream: None })
}

pub(crate) fn member_removed(channel: &str, user_id: &str) -> Utf8Bytes {
    let data = serde_json::json!({ "user_id": user_id }).to_string();
    to_frame(&Outgoing { event: "pusher_internal:member_removed", channel: Some(channel), data, user_id: None, stream: None })
}

/// `pusher:resync` (extension): the hub cannot replay what the client missed;
/// reload a snapshot, then continue from the given position.
pub(crate) fn resync(channel: &str, epoch: &str, offset: u64) -> Utf8Bytes {
    let data = serde_json::json!({ "channel": channel, "epoch": epoch, "offset": offset }).to_string();
    to_frame(&Outgoing { event: "pusher:resync", channel: Some(channel), data, user_id: None, stream: Some(Stream { epoch, offset }) })
}

/// Pusher's channel-name rule: 1–164 of `A-Za-z0-9_-=@,.;`.
pub fn valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 164
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'@' | b',' | b'.' | b';'))
}

/// Event names: 1–200 bytes, no control characters.
pub fn valid_event_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 200 && !name.chars().any(char::is_control)
}

/// Kinds of channel, by name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Public,
    Private,
    Presence,
}

impl ChannelKind {
    pub fn of(name: &str) -> ChannelKind {
        if name.starts_with("presence-") {
            ChannelKind::Presence
        } else if name.starts_with("private-") {
            ChannelKind::Private
        } else {
            ChannelKind::Public
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_pusher_shaped() {
        let f = connection_established("1.2", 120);
        let v: Value = serde_json::from_str(&f).unwrap_or_default();
        assert_eq!(v["event"], "pusher:connection_established");
        let data: Value = serde_json::from_str(v["data"].as_str().unwrap_or_default()).unwrap_or_default();
        assert_eq!(data["socket_id"], "1.2");
        assert_eq!(data["activity_timeout"], 120);

        let f = event_frame("e", "c", r#"{"a":1}"#, "ep", 7);
        let v: Value = serde_json::from_str(&f).unwrap_or_default();
        assert_eq!(v["data"], r#"{"a":1}"#);
        assert_eq!(v["stream"]["epoch"], "ep");
        assert_eq!(v["stream"]["offset"], 7);
    }

    #[test]
    fn names() {
        assert!(valid_channel_name("private-property.BALI01.inventory"));
        assert!(valid_channel_name("presence-property.x.housekeeping"));
        assert!(!valid_channel_name(""));
        assert!(!valid_channel_name("a b"));
        assert!(!valid_channel_name(&"a".repeat(165)));
        assert_eq!(ChannelKind::of("private-encrypted-x"), ChannelKind::Private);
        assert_eq!(ChannelKind::of("presence-x"), ChannelKind::Presence);
        assert_eq!(ChannelKind::of("x"), ChannelKind::Public);
    }
}
