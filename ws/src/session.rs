//! `GET /app/{key}`: the WebSocket handshake checks and one connection's
//! read loop (protocol handling, activity checks, rate limits).

use crate::auth::verify_channel_auth;
use crate::conn::{write_loop, Conn};
use crate::hub::{Channel, RealtimeHub, SubscribeError};
use crate::protocol::{self, codes, ChannelKind, Incoming, SubscribeData, UnsubscribeData};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

/// Decides what to do with an upgrade request: a session, or a refusal
/// sent over the socket (pusher-js only learns close codes that way).
pub(crate) fn upgrade(
    hub: RealtimeHub,
    key: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
    ws: WebSocketUpgrade,
) -> axum::response::Response {
    let cfg = hub.config();
    let ws = ws
        .read_buffer_size(cfg.read_buffer_bytes)
        .write_buffer_size(cfg.write_buffer_bytes)
        .max_message_size(cfg.max_message_bytes)
        .max_frame_size(cfg.max_message_bytes);
    let grace = Duration::from_millis(cfg.close_grace_ms);
    let (code, message) = match admit(&hub, key, params, headers) {
        Ok(permit) => return ws.on_upgrade(move |socket| run(hub, socket, permit)),
        Err(refusal) => refusal,
    };
    tracing::debug!(code, message, "refusing WebSocket connection");
    ws.on_upgrade(move |socket| refuse(socket, code, message, grace))
}

fn admit(
    hub: &RealtimeHub,
    key: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<OwnedSemaphorePermit, (u16, &'static str)> {
    let cfg = hub.config();
    if key != cfg.key {
        return Err((codes::APP_NOT_FOUND, "application does not exist"));
    }
    match params.iter().find(|(k, _)| k == "protocol").map(|(_, v)| v.as_str()) {
        None => return Err((codes::NO_PROTOCOL, "no protocol version supplied")),
        Some("7") => {}
        Some(_) => return Err((codes::UNSUPPORTED_PROTOCOL, "unsupported protocol version (this server speaks 7)")),
    }
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        if !origin.to_str().is_ok_and(|o| cfg.origin_allowed(o)) {
            return Err((codes::UNAUTHORIZED, "origin not allowed"));
        }
    }
    if hub.is_shutting_down() {
        return Err((codes::RECONNECT, "server shutting down"));
    }
    hub.permits().clone().try_acquire_owned().map_err(|_| (codes::OVER_CAPACITY, "over capacity"))
}

async fn refuse(mut socket: WebSocket, code: u16, message: &'static str, grace: Duration) {
    let _ = tokio::time::timeout(grace, async {
        socket.send(Message::Text(protocol::error(code, message))).await?;
        socket.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(message) }))).await
    })
    .await;
}

struct Subscription {
    channel: Arc<Channel>,
    user_id: Option<String>,
}

/// A token bucket: `rate` per second, bursts of `burst`.
struct Bucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Bucket {
        let burst = f64::from(burst.max(1));
        Bucket { tokens: burst, burst, rate: f64::from(rate), last: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Session {
    hub: RealtimeHub,
    conn: Arc<Conn>,
    subs: HashMap<String, Subscription>,
    /// The read side hit an over-sized frame: never read from it again
    /// (the frame's length is still pending in the decoder).
    poisoned: bool,
    inbound: Bucket,
    client_events: Bucket,
}

async fn run(hub: RealtimeHub, socket: WebSocket, permit: OwnedSemaphorePermit) {
    let cfg = hub.config();
    let (activity_timeout, inbound_rate, client_rate) =
        (cfg.activity_timeout_secs, cfg.inbound_messages_per_sec, cfg.client_messages_per_sec);
    let grace = Duration::from_millis(cfg.close_grace_ms);
    let conn = hub.register_conn();
    tracing::debug!(socket_id = %conn.socket_id, "WebSocket connected");
    conn.send(protocol::connection_established(&conn.socket_id, activity_timeout));
    let (sink, mut stream) = socket.split();
    let mut session = Session {
        hub: hub.clone(),
        conn: conn.clone(),
        subs: HashMap::new(),
        poisoned: false,
        inbound: Bucket::new(inbound_rate, inbound_rate.saturating_mul(2)),
        client_events: Bucket::new(client_rate, client_rate),
    };
    // The writer is a task of its own: an event wakes only the writer, and
    // the reader is polled only when the socket has input (each read attempt
    // costs the decoder a buffer fill, which per event per connection was a
    // real share of a 10,000-client fan-out).
    let mut writer = tokio::spawn(write_loop(conn.clone(), sink, grace));
    let closed_by_us = {
        let reader = session.read_loop(&mut stream);
        tokio::select! {
            _ = reader => false,
            _ = &mut writer => true,
        }
    };
    if !closed_by_us {
        writer.abort();
    }
    session.leave_all();
    hub.unregister_conn(&conn);
    if closed_by_us {
        // Closing a TCP socket with unread input sends a reset, which can
        // destroy the close frame before the client reads it: give the
        // client a moment to read it and answer.
        let wait = grace.min(Duration::from_secs(2));
        if session.poisoned {
            tokio::time::sleep(wait.min(Duration::from_millis(500))).await;
        } else {
            let _ = tokio::time::timeout(wait, async {
                for _ in 0..64 {
                    if !matches!(stream.next().await, Some(Ok(_))) {
                        break;
                    }
                }
            })
            .await;
        }
    }
    drop(permit);
    tracing::debug!(socket_id = %conn.socket_id, "WebSocket closed");
}

/// Whether a read error is an over-sized message (rather than a lost socket).
fn too_large(err: &axum::Error) -> bool {
    let source = std::error::Error::source(err);
    matches!(source.and_then(|e| e.downcast_ref::<tungstenite::Error>()), Some(tungstenite::Error::Capacity(_)))
}

/// Whether a read error is a text frame that is not UTF-8.
fn invalid_utf8(err: &axum::Error) -> bool {
    let source = std::error::Error::source(err);
    matches!(source.and_then(|e| e.downcast_ref::<tungstenite::Error>()), Some(tungstenite::Error::Utf8(_)))
}

/// `data` may come as an object or as a JSON-encoded string.
fn data_object(data: Value) -> Value {
    match data {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        other => other,
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

impl Session {
    fn cfg(&self) -> &crate::HubConfig {
        self.hub.config()
    }

    fn error(&self, code: u16, message: &str) {
        self.conn.send(protocol::error(code, message));
    }

    /// After asking the writer to close: give it time to deliver the close
    /// frame, then let the session end anyway.
    async fn linger(&self) {
        tokio::time::sleep(Duration::from_millis(self.cfg().close_grace_ms.saturating_mul(2))).await;
    }

    async fn read_loop(&mut self, stream: &mut SplitStream<WebSocket>) {
        let activity = Duration::from_secs(self.cfg().activity_timeout_secs.max(1));
        let pong_timeout = Duration::from_secs(self.cfg().pong_timeout_secs.max(1));
        let mut deadline = Instant::now() + activity;
        let mut awaiting_pong = false;
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let msg = match msg {
                        None => return,
                        Some(Err(err)) => {
                            if too_large(&err) {
                                self.poisoned = true;
                                let max = self.cfg().max_message_bytes;
                                self.error(codes::MESSAGE_TOO_LARGE, &format!("message over {max} bytes"));
                                self.conn.close(codes::MESSAGE_TOO_LARGE, "message too large");
                                self.linger().await;
                            } else if invalid_utf8(&err) {
                                // RFC 6455 §8.1: fail the connection with 1007.
                                tracing::debug!(socket_id = %self.conn.socket_id, "text frame is not UTF-8; closing with 1007");
                                self.conn.close(codes::INVALID_PAYLOAD, "text frame is not UTF-8");
                                self.linger().await;
                            }
                            return;
                        }
                        Some(Ok(msg)) => msg,
                    };
                    deadline = Instant::now() + activity;
                    awaiting_pong = false;
                    match msg {
                        Message::Text(text) => self.on_text(text.as_str()),
                        Message::Binary(_) => self.error(codes::BAD_MESSAGE, "binary frames are not supported"),
                        Message::Ping(_) | Message::Pong(_) => {}
                        Message::Close(_) => {
                            // Answer the closing handshake (the decoder queued
                            // the reply; the writer flushes it), then end.
                            self.conn.abort(1000, "");
                            self.linger().await;
                            return;
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if awaiting_pong {
                        self.conn.close(codes::PONG_TIMEOUT, "pong reply not received");
                        self.linger().await;
                        return;
                    }
                    self.conn.send(protocol::ping());
                    awaiting_pong = true;
                    deadline = Instant::now() + pong_timeout;
                }
            }
        }
    }

    fn on_text(&mut self, text: &str) {
        if !self.inbound.take() {
            self.error(codes::RATE_LIMITED, "message rejected due to rate limit");
            return;
        }
        let msg: Incoming = match serde_json::from_str(text) {
            Ok(msg) => msg,
            Err(_) => {
                self.error(codes::BAD_MESSAGE, "invalid message: expected JSON {\"event\":…,\"data\":…}");
                return;
            }
        };
        match msg.event.as_str() {
            "pusher:ping" => {
                self.conn.send(protocol::pong());
            }
            "pusher:pong" => {}
            "pusher:subscribe" => self.subscribe(msg.data),
            "pusher:unsubscribe" => self.unsubscribe(msg.data),
            "pusher:signin" => self.error(codes::BAD_MESSAGE, "pusher:signin is not supported; use channel authorization"),
            e if e.starts_with("client-") => self.client_event(msg),
            other => self.error(codes::BAD_MESSAGE, &format!("unknown event {:?}", clip(other))),
        }
    }

    /// A refused private/presence subscription: the channel hears
    /// `pusher:subscription_error` (pusher-js and laravel-echo's `.error()`),
    /// the connection `pusher:error` 4009. The connection stays open.
    fn refuse(&self, channel: &str, status: u16, message: &str) {
        self.conn.send(protocol::subscription_error(channel, status, message));
        self.error(codes::UNAUTHORIZED, message);
    }

    fn subscribe(&mut self, data: Value) {
        let data: SubscribeData = match serde_json::from_value(data_object(data)) {
            Ok(d) => d,
            Err(_) => {
                self.error(codes::BAD_MESSAGE, "pusher:subscribe needs data {\"channel\":…}");
                return;
            }
        };
        let channel = data.channel;
        if !protocol::valid_channel_name(&channel) {
            self.error(codes::BAD_MESSAGE, &format!("invalid channel name {:?}", clip(&channel)));
            return;
        }
        if !self.subs.contains_key(&channel) && self.subs.len() >= self.cfg().max_channels_per_connection {
            let max = self.cfg().max_channels_per_connection;
            self.conn.send(protocol::subscription_error(&channel, 429, "too many channels on this connection"));
            self.error(codes::BAD_MESSAGE, &format!("too many channels on this connection (max {max})"));
            return;
        }
        let kind = ChannelKind::of(&channel);
        let mut member = None;
        if kind != ChannelKind::Public {
            let Some(auth) = data.auth.as_deref() else {
                self.refuse(&channel, 401, "auth required to subscribe to a private or presence channel");
                return;
            };
            if kind == ChannelKind::Presence && data.channel_data.is_none() {
                self.refuse(&channel, 401, "channel_data required to subscribe to a presence channel");
                return;
            }
            let cfg = self.cfg();
            let ok = verify_channel_auth(&cfg.key, &cfg.secret, &self.conn.socket_id, &channel, data.channel_data.as_deref(), auth);
            if !ok {
                self.refuse(&channel, 401, "invalid auth signature");
                return;
            }
            if kind == ChannelKind::Presence {
                match self.parse_member(data.channel_data.as_deref().unwrap_or_default()) {
                    Ok(m) => member = Some(m),
                    Err(message) => {
                        self.refuse(&channel, 400, message);
                        return;
                    }
                }
            }
        }
        let user_id = member.as_ref().map(|(id, _)| id.clone());
        match self.hub.subscribe(&self.conn, &channel, member, data.recover) {
            Ok(ch) => {
                self.subs.entry(channel).or_insert(Subscription { channel: ch, user_id });
            }
            Err(SubscribeError::PresenceFull) => {
                self.conn.send(protocol::subscription_error(&channel, 403, "presence channel is full"));
                self.error(codes::BAD_MESSAGE, "presence channel is full");
            }
        }
    }

    /// `channel_data` of a presence subscription: `{"user_id": string|number, "user_info"?: any}`.
    fn parse_member(&self, channel_data: &str) -> Result<(String, Value), &'static str> {
        let v: Value = serde_json::from_str(channel_data).map_err(|_| "channel_data is not JSON")?;
        let user_id = match v.get("user_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("channel_data needs a user_id (string or number)"),
        };
        if user_id.is_empty() || user_id.len() > 128 {
            return Err("user_id must be 1-128 bytes");
        }
        let info = v.get("user_info").cloned().unwrap_or(Value::Null);
        if info.to_string().len() > self.cfg().max_user_info_bytes {
            return Err("user_info too large");
        }
        Ok((user_id, info))
    }

    fn unsubscribe(&mut self, data: Value) {
        let Ok(data) = serde_json::from_value::<UnsubscribeData>(data_object(data)) else {
            self.error(codes::BAD_MESSAGE, "pusher:unsubscribe needs data {\"channel\":…}");
            return;
        };
        if let Some(sub) = self.subs.remove(&data.channel) {
            self.hub.unsubscribe(&self.conn, &sub.channel);
        }
    }

    fn client_event(&mut self, msg: Incoming) {
        let Some(channel) = msg.channel.as_deref() else {
            self.error(codes::BAD_MESSAGE, "client events need a channel");
            return;
        };
        if !protocol::valid_event_name(&msg.event) {
            self.error(codes::BAD_MESSAGE, "invalid event name");
            return;
        }
        let Some(sub) = self.subs.get(channel) else {
            self.error(codes::BAD_MESSAGE, "client event rejected: not subscribed to the channel");
            return;
        };
        if sub.channel.kind() == ChannelKind::Public {
            self.error(codes::BAD_MESSAGE, "client events are only allowed on private and presence channels");
            return;
        }
        if !self.client_events.take() {
            self.error(codes::RATE_LIMITED, "client event rejected due to rate limit");
            return;
        }
        self.hub.client_event(&self.conn, &sub.channel, &msg.event, &msg.data, sub.user_id.as_deref());
    }

    fn leave_all(&mut self) {
        for (_, sub) in self.subs.drain() {
            self.hub.unsubscribe(&self.conn, &sub.channel);
        }
    }
}
