//! The hub end to end: a real server on 127.0.0.1:0 (axum::serve) and real
//! WebSocket clients (tokio-tungstenite). Every wait is bounded.

use futures_util::{SinkExt, StreamExt};
use saluran_ws::{channel_auth, router, sign_api_query, HubConfig, RealtimeHub};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

const APP_ID: &str = "app1";
const KEY: &str = "key1";
const SECRET: &str = "secret1";
const WAIT: Duration = Duration::from_secs(5);

fn config() -> HubConfig {
    HubConfig::new(APP_ID, KEY, SECRET)
}

struct Server {
    addr: SocketAddr,
    hub: RealtimeHub,
}

async fn start(config: HubConfig) -> Server {
    let hub = RealtimeHub::new(config);
    let app = router(hub.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, hub }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug)]
enum Got {
    Json(Value),
    Closed(Option<u16>),
}

struct Client {
    ws: Ws,
    socket_id: String,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Self::connect_url(&format!("ws://{addr}/app/{KEY}?protocol=7&client=js&version=8.4.0"), None).await
    }

    async fn connect_url(url: &str, origin: Option<&str>) -> Client {
        let mut c = Self::open(url, origin).await;
        let hello = c.recv_json().await;
        assert_eq!(hello["event"], "pusher:connection_established", "{hello}");
        let data = data_of(&hello);
        c.socket_id = data["socket_id"].as_str().expect("socket_id").to_string();
        c
    }

    /// Opens the socket without reading anything.
    async fn open(url: &str, origin: Option<&str>) -> Client {
        let mut req = url.into_client_request().expect("request");
        if let Some(origin) = origin {
            req.headers_mut().insert("Origin", origin.parse().expect("origin header"));
        }
        let (ws, _) = tokio::time::timeout(WAIT, connect_async(req)).await.expect("connect timeout").expect("connect");
        Client { ws, socket_id: String::new() }
    }

    async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.expect("send");
    }

    async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    async fn recv(&mut self) -> Got {
        self.recv_within(WAIT).await.expect("no message in time")
    }

    async fn recv_within(&mut self, wait: Duration) -> Option<Got> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(Got::Closed(None)),
                Ok(Some(Err(_))) => return Some(Got::Closed(None)),
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Text(t) => return Some(Got::Json(serde_json::from_str(t.as_str()).expect("server sent JSON"))),
                Message::Close(frame) => return Some(Got::Closed(frame.map(|f| u16::from(f.code)))),
                _ => continue,
            }
        }
    }

    async fn recv_json(&mut self) -> Value {
        match self.recv().await {
            Got::Json(v) => v,
            Got::Closed(code) => panic!("connection closed ({code:?}) while waiting for a message"),
        }
    }

    /// Skips other messages (at most 1000) until `event` arrives.
    async fn recv_event(&mut self, event: &str) -> Value {
        for _ in 0..1000 {
            let v = self.recv_json().await;
            if v["event"] == event {
                return v;
            }
        }
        panic!("no {event} in 1000 messages");
    }

    /// The close code, skipping (at most `max_skip`) messages before it.
    async fn expect_close(&mut self, max_skip: usize) -> Option<u16> {
        for _ in 0..=max_skip {
            if let Got::Closed(code) = self.recv().await {
                return code;
            }
        }
        panic!("not closed after {max_skip} messages");
    }

    /// Nothing arrives but what answers a ping (proves nothing was queued before it).
    async fn assert_quiet(&mut self) {
        self.send(json!({"event": "pusher:ping", "data": {}})).await;
        let v = self.recv_json().await;
        assert_eq!(v["event"], "pusher:pong", "expected nothing before the pong, got {v}");
    }

    async fn subscribe(&mut self, channel: &str) -> Value {
        self.send(json!({"event": "pusher:subscribe", "data": {"channel": channel}})).await;
        self.recv_event("pusher_internal:subscription_succeeded").await
    }

    async fn subscribe_private(&mut self, channel: &str) -> Value {
        let auth = channel_auth(KEY, SECRET, &self.socket_id, channel, None);
        self.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}})).await;
        let v = self.recv_json().await;
        assert_eq!(v["event"], "pusher_internal:subscription_succeeded", "{v}");
        v
    }

    async fn subscribe_presence(&mut self, channel: &str, user_id: &str, name: &str) -> Value {
        let channel_data = json!({"user_id": user_id, "user_info": {"name": name}}).to_string();
        let auth = channel_auth(KEY, SECRET, &self.socket_id, channel, Some(&channel_data));
        self.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "channel_data": channel_data}})).await;
        let v = self.recv_json().await;
        assert_eq!(v["event"], "pusher_internal:subscription_succeeded", "{v}");
        v
    }
}

/// `data` is a JSON string on the wire; decode it.
fn data_of(v: &Value) -> Value {
    match &v["data"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        other => other.clone(),
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A bare HTTP/1.1 request; returns (status, JSON body).
async fn http(addr: SocketAddr, method: &str, path_and_query: &str, body: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut buf)).await.expect("response timeout").expect("read");
    let text = String::from_utf8_lossy(&buf);
    let status: u16 = text.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn signed(addr: SocketAddr, method: &str, path: &str, params: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
    let query = sign_api_query(KEY, SECRET, method, path, params, &body, now());
    http(addr, method, &format!("{path}?{query}"), &body).await
}

// ---------------------------------------------------------------- connection

#[tokio::test]
async fn connection_established_and_ping_pong() {
    let s = start(config()).await;
    let mut c = Client::open(&format!("ws://{}/app/{KEY}?protocol=7", s.addr), None).await;
    let hello = c.recv_json().await;
    assert_eq!(hello["event"], "pusher:connection_established");
    assert!(hello["data"].is_string(), "data is a JSON string, as Pusher sends it");
    let data = data_of(&hello);
    let socket_id = data["socket_id"].as_str().expect("socket_id");
    let (a, b) = socket_id.split_once('.').expect("n.n");
    assert!(a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()), "{socket_id}");
    assert_eq!(data["activity_timeout"], 120);
    assert_eq!(s.hub.connection_count(), 1);

    c.send(json!({"event": "pusher:ping", "data": {}})).await;
    assert_eq!(c.recv_json().await["event"], "pusher:pong");

    let mut other = Client::connect(s.addr).await;
    assert_ne!(other.socket_id, socket_id);

    // A client-initiated close gets its closing handshake answered.
    other.ws.close(None).await.expect("close");
    match tokio::time::timeout(WAIT, other.ws.next()).await.expect("close reply in time") {
        Some(Ok(Message::Close(_))) | None => {}
        other => panic!("expected the close reply, got {other:?}"),
    }
    for _ in 0..100 {
        if s.hub.connection_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.hub.connection_count(), 1);
}

#[tokio::test]
async fn handshake_refusals_carry_pusher_close_codes() {
    let s = start(config()).await;
    let cases = [
        (format!("ws://{}/app/wrong-key?protocol=7", s.addr), 4001),
        (format!("ws://{}/app/{KEY}", s.addr), 4008),
        (format!("ws://{}/app/{KEY}?protocol=6", s.addr), 4007),
    ];
    for (url, code) in cases {
        let mut c = Client::open(&url, None).await;
        let err = c.recv_json().await;
        assert_eq!(err["event"], "pusher:error");
        assert_eq!(err["data"]["code"], code);
        assert_eq!(c.expect_close(0).await, Some(code), "{url}");
    }
    // Not a WebSocket request at all: a clean 4xx.
    let (status, body) = http(s.addr, "GET", &format!("/app/{KEY}?protocol=7"), b"").await;
    assert!((400..500).contains(&status), "{status}");
    assert!(body["error"]["code"].is_string(), "{body}");
}

#[tokio::test]
async fn origin_allow_list() {
    let s = start(HubConfig { allowed_origins: vec!["https://pms.example.id".into()], ..config() }).await;
    let url = format!("ws://{}/app/{KEY}?protocol=7", s.addr);
    let mut evil = Client::open(&url, Some("https://evil.example")).await;
    let err = evil.recv_json().await;
    assert_eq!(err["event"], "pusher:error");
    assert_eq!(err["data"]["code"], 4009);
    assert_eq!(evil.expect_close(0).await, Some(4009));

    let ok = Client::connect_url(&url, Some("https://pms.example.id")).await;
    assert!(!ok.socket_id.is_empty());
    // Not a browser (no Origin): allowed, Origin only protects browsers.
    let _ = Client::connect(s.addr).await;
}

#[tokio::test]
async fn idle_connections_are_pinged_then_closed() {
    let s = start(HubConfig { activity_timeout_secs: 1, pong_timeout_secs: 1, close_grace_ms: 500, ..config() }).await;
    let mut quiet = Client::connect(s.addr).await;
    let mut alive = Client::connect(s.addr).await;
    assert_eq!(quiet.recv_json().await["event"], "pusher:ping");
    assert_eq!(alive.recv_json().await["event"], "pusher:ping");
    alive.send(json!({"event": "pusher:pong", "data": {}})).await;
    assert_eq!(quiet.expect_close(0).await, Some(4201));
    // The one that answered is pinged again rather than closed.
    assert_eq!(alive.recv_json().await["event"], "pusher:ping");
    alive.send(json!({"event": "pusher:pong", "data": {}})).await;
    alive.assert_quiet().await;
}

#[tokio::test]
async fn invalid_messages_get_pusher_error_and_keep_the_connection() {
    let s = start(config()).await;
    let mut c = Client::connect(s.addr).await;
    for bad in ["{not json", "[]", r#"{"data":{}}"#, r#"{"event":"pusher:nope"}"#, r#"{"event":"pusher:subscribe","data":{}}"#] {
        c.send_raw(Message::text(bad)).await;
        let err = c.recv_json().await;
        assert_eq!(err["event"], "pusher:error", "{bad}");
        assert_eq!(err["data"]["code"], 4300, "{bad}");
        assert!(err["data"]["message"].is_string());
    }
    c.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(c.recv_json().await["event"], "pusher:error");
    c.send(json!({"event": "pusher:subscribe", "data": {"channel": "bad channel name"}})).await;
    assert_eq!(c.recv_json().await["event"], "pusher:error");
    c.assert_quiet().await;
    assert_eq!(s.hub.connection_count(), 1);
}

#[tokio::test]
async fn oversized_messages_close_the_connection() {
    let s = start(HubConfig { max_message_bytes: 4096, close_grace_ms: 500, ..config() }).await;
    let mut c = Client::connect(s.addr).await;
    c.send(json!({"event": "client-x", "channel": "private-a", "data": "x".repeat(10_000)})).await;
    assert_eq!(c.expect_close(2).await, Some(4010));
}

#[tokio::test]
async fn connection_limit_refuses_with_over_capacity() {
    let s = start(HubConfig { max_connections: 2, ..config() }).await;
    let _a = Client::connect(s.addr).await;
    let b = Client::connect(s.addr).await;
    let mut c = Client::open(&format!("ws://{}/app/{KEY}?protocol=7", s.addr), None).await;
    assert_eq!(c.expect_close(1).await, Some(4100));
    drop(b);
    // The slot comes back once the dropped connection is noticed.
    let mut ok = false;
    for _ in 0..100 {
        if s.hub.connection_count() < 2 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "dropped connection never released");
    let _d = Client::connect(s.addr).await;
}

#[tokio::test]
async fn shutdown_closes_with_reconnect_code() {
    let s = start(config()).await;
    let mut c = Client::connect(s.addr).await;
    c.subscribe("news").await;
    let hub = s.hub.clone();
    let stopping = tokio::spawn(async move { hub.shutdown(Duration::from_secs(3)).await });
    assert_eq!(c.expect_close(0).await, Some(4200));
    tokio::time::timeout(WAIT, stopping).await.expect("shutdown returns").expect("join");
    assert_eq!(s.hub.connection_count(), 0);
    let mut late = Client::open(&format!("ws://{}/app/{KEY}?protocol=7", s.addr), None).await;
    assert_eq!(late.expect_close(1).await, Some(4200));
}

// ---------------------------------------------------------------- publishing

#[tokio::test]
async fn public_subscribe_and_publish_carry_stream_positions() {
    let s = start(config()).await;
    let mut c = Client::connect(s.addr).await;
    let ok = c.subscribe("public-board").await;
    assert_eq!(ok["channel"], "public-board");
    assert_eq!(ok["stream"]["epoch"], s.hub.epoch());
    assert_eq!(ok["stream"]["offset"], 0);

    let p1 = s.hub.publish("public-board", "room.status", json!({"room": "101", "status": "vacant_clean"}));
    let p2 = s.hub.publish("public-board", "room.status", json!({"room": "102", "status": "occupied_dirty"}));
    assert_eq!((p1.offset, p2.offset), (1, 2));
    assert_eq!(p1.epoch, s.hub.epoch());
    for (room, offset) in [("101", 1), ("102", 2)] {
        let ev = c.recv_json().await;
        assert_eq!(ev["event"], "room.status");
        assert_eq!(ev["channel"], "public-board");
        assert!(ev["data"].is_string());
        assert_eq!(data_of(&ev)["room"], room);
        assert_eq!(ev["stream"]["epoch"], s.hub.epoch());
        assert_eq!(ev["stream"]["offset"], offset);
    }
    // Other channels keep their own offsets.
    assert_eq!(s.hub.publish("other", "e", json!(1)).offset, 1);
    assert_eq!(s.hub.position("public-board").offset, 2);

    c.send(json!({"event": "pusher:unsubscribe", "data": {"channel": "public-board"}})).await;
    c.assert_quiet().await;
    s.hub.publish("public-board", "room.status", json!({}));
    c.assert_quiet().await;
}

#[tokio::test]
async fn http_events_api_publishes_and_excludes_the_sender() {
    let s = start(config()).await;
    let mut a = Client::connect(s.addr).await;
    let mut b = Client::connect(s.addr).await;
    for c in [&mut a, &mut b] {
        c.subscribe("ch-one").await;
        c.subscribe("ch-two").await;
    }
    let path = format!("/apps/{APP_ID}/events");
    let body = json!({"name": "booking.created", "channels": ["ch-one", "ch-two"], "data": "{\"id\":7}"});
    let (status, resp) = signed(s.addr, "POST", &path, &[], &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp, json!({}));
    for c in [&mut a, &mut b] {
        for channel in ["ch-one", "ch-two"] {
            let ev = c.recv_json().await;
            assert_eq!(ev["event"], "booking.created");
            assert_eq!(ev["channel"], channel);
            assert_eq!(ev["data"], "{\"id\":7}");
            assert_eq!(ev["stream"]["offset"], 1);
        }
    }

    // `socket_id` excludes that connection; `info` returns channel attributes.
    let body = json!({"name": "e", "channel": "ch-one", "data": "{}", "socket_id": a.socket_id, "info": "subscription_count"});
    let (status, resp) = signed(s.addr, "POST", &path, &[], &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["channels"]["ch-one"]["subscription_count"], 2);
    assert_eq!(b.recv_json().await["stream"]["offset"], 2);
    a.assert_quiet().await;

    // Object data is encoded into a string, as Pusher clients expect.
    let body = json!({"name": "e", "channels": ["ch-two"], "data": {"a": [1, 2]}});
    assert_eq!(signed(s.addr, "POST", &path, &[], &body).await.0, 200);
    let ev = a.recv_json().await;
    assert_eq!(data_of(&ev), json!({"a": [1, 2]}));
}

#[tokio::test]
async fn batch_events_publish_in_order() {
    let s = start(config()).await;
    let mut c = Client::connect(s.addr).await;
    c.subscribe("ops").await;
    let path = format!("/apps/{APP_ID}/batch_events");
    let body = json!({"batch": [
        {"channel": "ops", "name": "first", "data": "1"},
        {"channel": "ops", "name": "second", "data": "2"},
    ]});
    let (status, resp) = signed(s.addr, "POST", &path, &[], &body).await;
    assert_eq!(status, 200, "{resp}");
    let first = c.recv_json().await;
    let second = c.recv_json().await;
    assert_eq!((first["event"].as_str(), first["stream"]["offset"].as_u64()), (Some("first"), Some(1)));
    assert_eq!((second["event"].as_str(), second["stream"]["offset"].as_u64()), (Some("second"), Some(2)));

    // One bad event refuses the whole batch: nothing is published.
    let before = s.hub.stats().events_published;
    let body = json!({"batch": [
        {"channel": "ops", "name": "ok", "data": "1"},
        {"channel": "bad channel", "name": "x", "data": "2"},
    ]});
    let (status, resp) = signed(s.addr, "POST", &path, &[], &body).await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["error"]["code"], "bad_request");
    assert_eq!(s.hub.stats().events_published, before);
    c.assert_quiet().await;
}

#[tokio::test]
async fn events_api_refuses_bad_signatures() {
    let s = start(config()).await;
    let mut c = Client::connect(s.addr).await;
    c.subscribe("ops").await;
    let path = format!("/apps/{APP_ID}/events");
    let body = json!({"name": "e", "channels": ["ops"], "data": "{}"}).to_string().into_bytes();

    let wrong_secret = sign_api_query(KEY, "not-the-secret", "POST", &path, &[], &body, now());
    let wrong_key = sign_api_query("other-key", SECRET, "POST", &path, &[], &body, now());
    let stale = sign_api_query(KEY, SECRET, "POST", &path, &[], &body, now() - 601);
    let for_other_body = sign_api_query(KEY, SECRET, "POST", &path, &[], b"{\"name\":\"x\"}", now());
    let for_other_path = sign_api_query(KEY, SECRET, "POST", "/apps/app1/batch_events", &[], &body, now());
    let good = sign_api_query(KEY, SECRET, "POST", &path, &[], &body, now());
    let tampered = good.replace("auth_timestamp=", "auth_timestamp=1");
    for query in [wrong_secret, wrong_key, stale, for_other_body, for_other_path, tampered, String::new()] {
        let (status, resp) = http(s.addr, "POST", &format!("{path}?{query}"), &body).await;
        assert_eq!(status, 401, "{query}: {resp}");
        assert_eq!(resp["error"]["code"], "unauthorized");
    }
    // Unknown app id: 404.
    let other = "/apps/other/events";
    let q = sign_api_query(KEY, SECRET, "POST", other, &[], &body, now());
    assert_eq!(http(s.addr, "POST", &format!("{other}?{q}"), &body).await.0, 404);
    assert_eq!(s.hub.stats().events_published, 0);
    c.assert_quiet().await;

    // Signed but malformed or oversized: 400 / 413, still nothing published.
    for (bad, want) in [
        (json!({"name": "e"}), 400),
        (json!({"name": "e", "channels": [], "data": "{}"}), 400),
        (json!({"name": "", "channels": ["ops"], "data": "{}"}), 400),
        (json!({"name": "e", "channels": ["ops"], "data": "x".repeat(70_000)}), 413),
    ] {
        assert_eq!(signed(s.addr, "POST", &path, &[], &bad).await.0, want, "{bad}");
    }
    let q = sign_api_query(KEY, SECRET, "POST", &path, &[], b"{oops", now());
    assert_eq!(http(s.addr, "POST", &format!("{path}?{q}"), b"{oops").await.0, 400);
    assert_eq!(s.hub.stats().events_published, 0);
}

#[tokio::test]
async fn channels_api_lists_occupied_channels() {
    let s = start(config()).await;
    let mut a = Client::connect(s.addr).await;
    a.subscribe("lobby").await;
    a.subscribe_private("private-property.BALI01.inventory").await;
    a.subscribe_presence("presence-property.BALI01.housekeeping", "7", "Wayan").await;
    s.hub.publish("published-but-empty", "e", json!({}));

    let path = format!("/apps/{APP_ID}/channels");
    let (status, resp) = signed(s.addr, "GET", &path, &[], &Value::Null).await;
    assert_eq!(status, 200, "{resp}");
    let mut names: Vec<&String> = resp["channels"].as_object().expect("channels").keys().collect();
    names.sort();
    assert_eq!(names, ["lobby", "presence-property.BALI01.housekeeping", "private-property.BALI01.inventory"]);

    let (status, resp) = signed(s.addr, "GET", &path, &[("filter_by_prefix", "presence-"), ("info", "user_count")], &Value::Null).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp, json!({"channels": {"presence-property.BALI01.housekeeping": {"user_count": 1}}}));
    // user_count without a presence prefix is a 400, as in Pusher.
    assert_eq!(signed(s.addr, "GET", &path, &[("info", "user_count")], &Value::Null).await.0, 400);

    let one = format!("/apps/{APP_ID}/channels/presence-property.BALI01.housekeeping");
    let (status, resp) = signed(s.addr, "GET", &one, &[("info", "user_count,subscription_count")], &Value::Null).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["occupied"], true);
    assert_eq!(resp["user_count"], 1);
    assert_eq!(resp["subscription_count"], 1);
    let (status, resp) = signed(s.addr, "GET", &format!("{one}/users"), &[], &Value::Null).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp, json!({"users": [{"id": "7"}]}));

    let empty = format!("/apps/{APP_ID}/channels/published-but-empty");
    let (_, resp) = signed(s.addr, "GET", &empty, &[], &Value::Null).await;
    assert_eq!(resp["occupied"], false);
    assert_eq!(resp["stream"]["offset"], 1);

    // Unsigned: 401.
    assert_eq!(http(s.addr, "GET", &path, b"").await.0, 401);

    a.send(json!({"event": "pusher:unsubscribe", "data": {"channel": "lobby"}})).await;
    a.assert_quiet().await;
    let (_, resp) = signed(s.addr, "GET", &path, &[], &Value::Null).await;
    assert!(resp["channels"].get("lobby").is_none(), "{resp}");
    // The never-published channel left the registry; the published one stays.
    assert!(s.hub.channel_info("lobby").is_none());
    assert!(s.hub.channel_info("published-but-empty").is_some());
}

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn private_channels_need_a_valid_auth() {
    let s = start(config()).await;
    let mut c = Client::connect(s.addr).await;
    let other = Client::connect(s.addr).await;
    let channel = "private-property.BALI01.bookings";
    let attempts = [
        json!({"channel": channel}),
        json!({"channel": channel, "auth": "garbage"}),
        json!({"channel": channel, "auth": format!("{KEY}:deadbeef")}),
        json!({"channel": channel, "auth": channel_auth(KEY, "wrong-secret", &c.socket_id, channel, None)}),
        // Signed for another connection: stolen auth is useless.
        json!({"channel": channel, "auth": channel_auth(KEY, SECRET, &other.socket_id, channel, None)}),
        // Signed for another channel (another property).
        json!({"channel": channel, "auth": channel_auth(KEY, SECRET, &c.socket_id, "private-property.OTHER.bookings", None)}),
    ];
    for data in attempts {
        c.send(json!({"event": "pusher:subscribe", "data": data})).await;
        let refused = c.recv_json().await;
        assert_eq!(refused["event"], "pusher:subscription_error", "{data}");
        assert_eq!(refused["channel"], channel);
        assert_eq!(data_of(&refused)["status"], 401);
        let err = c.recv_json().await;
        assert_eq!(err["event"], "pusher:error");
        assert_eq!(err["data"]["code"], 4009);
    }
    // Refused subscriptions hear nothing.
    s.hub.publish(channel, "booking.created", json!({"id": 1}));
    c.assert_quiet().await;

    let ok = c.subscribe_private(channel).await;
    assert_eq!(ok["channel"], channel);
    s.hub.publish(channel, "booking.created", json!({"id": 2}));
    let ev = c.recv_json().await;
    assert_eq!(data_of(&ev)["id"], 2);
    assert_eq!(ev["stream"]["offset"], 2);

    // Data may also come as a JSON string.
    let auth = channel_auth(KEY, SECRET, &c.socket_id, "private-x", None);
    let data = json!({"channel": "private-x", "auth": auth}).to_string();
    c.send(json!({"event": "pusher:subscribe", "data": data})).await;
    assert_eq!(c.recv_json().await["event"], "pusher_internal:subscription_succeeded");
}

#[tokio::test]
async fn presence_members_join_and_leave() {
    let s = start(config()).await;
    let channel = "presence-property.BALI01.housekeeping";
    let mut a = Client::connect(s.addr).await;
    let ok = a.subscribe_presence(channel, "1", "Ketut").await;
    let p = &data_of(&ok)["presence"];
    assert_eq!(p["count"], 1);
    assert_eq!(p["ids"], json!(["1"]));
    assert_eq!(p["hash"]["1"]["name"], "Ketut");

    let mut b = Client::connect(s.addr).await;
    let ok = b.subscribe_presence(channel, "2", "Made").await;
    let p = &data_of(&ok)["presence"];
    assert_eq!(p["count"], 2);
    assert_eq!(p["ids"], json!(["1", "2"]));
    assert_eq!(p["hash"]["2"]["name"], "Made");

    let added = a.recv_json().await;
    assert_eq!(added["event"], "pusher_internal:member_added");
    assert_eq!(added["channel"], channel);
    assert_eq!(data_of(&added), json!({"user_id": "2", "user_info": {"name": "Made"}}));
    b.assert_quiet().await;

    // Same user on a second connection: one member, no member_added.
    let mut b2 = Client::connect(s.addr).await;
    let ok = b2.subscribe_presence(channel, "2", "Made").await;
    assert_eq!(data_of(&ok)["presence"]["count"], 2);
    a.assert_quiet().await;
    drop(b2);

    b.send(json!({"event": "pusher:unsubscribe", "data": {"channel": channel}})).await;
    let removed = a.recv_json().await;
    assert_eq!(removed["event"], "pusher_internal:member_removed");
    assert_eq!(data_of(&removed), json!({"user_id": "2"}));

    // A dropped connection leaves too.
    let mut c = Client::connect(s.addr).await;
    c.subscribe_presence(channel, "3", "Nyoman").await;
    assert_eq!(data_of(&a.recv_event("pusher_internal:member_added").await)["user_id"], "3");
    drop(c);
    let removed = a.recv_event("pusher_internal:member_removed").await;
    assert_eq!(data_of(&removed)["user_id"], "3");
    assert_eq!(s.hub.presence_users(channel), vec!["1".to_string()]);

    // Presence needs channel_data, and it is part of the signature.
    let mut d = Client::connect(s.addr).await;
    let auth = channel_auth(KEY, SECRET, &d.socket_id, channel, None);
    d.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}})).await;
    assert_eq!(d.recv_json().await["event"], "pusher:subscription_error");
    let signed_data = json!({"user_id": "4"}).to_string();
    let auth = channel_auth(KEY, SECRET, &d.socket_id, channel, Some(&signed_data));
    let forged = json!({"user_id": "1"}).to_string();
    d.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "channel_data": forged}})).await;
    assert_eq!(d.recv_event("pusher:subscription_error").await["channel"], channel);
}

// ---------------------------------------------------------------- client events

#[tokio::test]
async fn client_events_reach_others_only_on_private_channels() {
    let s = start(config()).await;
    let channel = "private-property.BALI01.rooms";
    let mut a = Client::connect(s.addr).await;
    let mut b = Client::connect(s.addr).await;
    a.subscribe_private(channel).await;
    b.subscribe_private(channel).await;

    a.send(json!({"event": "client-typing", "channel": channel, "data": {"room": "101"}})).await;
    let ev = b.recv_json().await;
    assert_eq!(ev["event"], "client-typing");
    assert_eq!(ev["channel"], channel);
    assert_eq!(ev["data"]["room"], "101");
    assert!(ev.get("stream").is_none(), "client events are not part of the stream");
    a.assert_quiet().await; // not echoed

    // Public channel: refused.
    a.subscribe("lobby").await;
    b.subscribe("lobby").await;
    a.send(json!({"event": "client-typing", "channel": "lobby", "data": {}})).await;
    let err = a.recv_json().await;
    assert_eq!(err["event"], "pusher:error");
    b.assert_quiet().await;

    // Not subscribed: refused.
    a.send(json!({"event": "client-typing", "channel": "private-elsewhere", "data": {}})).await;
    assert_eq!(a.recv_json().await["event"], "pusher:error");

    // Presence: the sender's user_id comes along.
    let presence = "presence-property.BALI01.housekeeping";
    a.subscribe_presence(presence, "1", "Ketut").await;
    b.subscribe_presence(presence, "2", "Made").await;
    let _ = a.recv_event("pusher_internal:member_added").await;
    b.send(json!({"event": "client-task", "channel": presence, "data": {"task": 9}})).await;
    let ev = a.recv_json().await;
    assert_eq!(ev["event"], "client-task");
    assert_eq!(ev["user_id"], "2");
}

#[tokio::test]
async fn client_events_are_rate_limited() {
    let s = start(HubConfig { client_messages_per_sec: 5, ..config() }).await;
    let channel = "private-chat";
    let mut a = Client::connect(s.addr).await;
    let mut b = Client::connect(s.addr).await;
    a.subscribe_private(channel).await;
    b.subscribe_private(channel).await;
    for i in 0..20 {
        a.send(json!({"event": "client-msg", "channel": channel, "data": {"i": i}})).await;
    }
    let mut limited = 0;
    for _ in 0..20 {
        if let Some(Got::Json(v)) = a.recv_within(Duration::from_millis(300)).await {
            if v["event"] == "pusher:error" && v["data"]["code"] == 4301 {
                limited += 1;
            }
        }
        if limited >= 10 {
            break;
        }
    }
    assert!(limited >= 10, "only {limited} of 20 rate limited");
    let mut delivered = 0;
    while let Some(Got::Json(v)) = b.recv_within(Duration::from_millis(300)).await {
        if v["event"] == "client-msg" {
            delivered += 1;
        }
    }
    assert!((5..=10).contains(&delivered), "{delivered} delivered");
}

// ---------------------------------------------------------------- recovery (I5)

#[tokio::test]
async fn reconnecting_client_recovers_missed_events_in_order() {
    let s = start(config()).await;
    let channel = "private-property.BALI01.inventory";
    let mut c = Client::connect(s.addr).await;
    c.subscribe_private(channel).await;
    s.hub.publish(channel, "ari.changed", json!({"i": 0}));
    let seen = c.recv_json().await;
    let epoch = seen["stream"]["epoch"].as_str().expect("epoch").to_string();
    let last = seen["stream"]["offset"].as_u64().expect("offset");
    drop(c);

    for i in 1..=100 {
        s.hub.publish(channel, "ari.changed", json!({"i": i}));
    }

    let mut c = Client::connect(s.addr).await;
    let auth = channel_auth(KEY, SECRET, &c.socket_id, channel, None);
    c.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "recover": {"epoch": epoch, "offset": last}}}))
        .await;
    let ok = c.recv_json().await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(ok["stream"]["offset"], last + 100);
    for i in 1..=100u64 {
        let ev = c.recv_json().await;
        assert_eq!(ev["event"], "ari.changed", "{ev}");
        assert_eq!(ev["stream"]["offset"], last + i);
        assert_eq!(data_of(&ev)["i"], i);
    }
    // Then live, with no gap and no duplicate.
    s.hub.publish(channel, "ari.changed", json!({"i": 101}));
    let ev = c.recv_json().await;
    assert_eq!(ev["stream"]["offset"], last + 101);
    c.assert_quiet().await;

    // Recovering from the current position replays nothing.
    let mut d = Client::connect(s.addr).await;
    let auth = channel_auth(KEY, SECRET, &d.socket_id, channel, None);
    d.send(
        json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "recover": {"epoch": epoch, "offset": last + 101}}}),
    )
    .await;
    assert_eq!(d.recv_json().await["event"], "pusher_internal:subscription_succeeded");
    d.assert_quiet().await;
}

#[tokio::test]
async fn recovery_past_the_history_window_asks_for_resync() {
    let s = start(HubConfig { history_per_channel: 10, ..config() }).await;
    let channel = "ops";
    for i in 0..50 {
        s.hub.publish(channel, "e", json!({ "i": i }));
    }
    let epoch = s.hub.epoch().to_string();
    let cases = [
        json!({"epoch": epoch, "offset": 5}),           // fell out of the window
        json!({"epoch": "previous-run", "offset": 45}), // another epoch
        json!({"epoch": epoch, "offset": 99}),          // from the future
    ];
    for recover in cases {
        let mut c = Client::connect(s.addr).await;
        c.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "recover": recover}})).await;
        assert_eq!(c.recv_json().await["event"], "pusher_internal:subscription_succeeded");
        let resync = c.recv_json().await;
        assert_eq!(resync["event"], "pusher:resync", "{recover}");
        assert_eq!(resync["channel"], channel);
        assert_eq!(data_of(&resync), json!({"channel": channel, "epoch": epoch, "offset": 50}));
        c.assert_quiet().await;
    }
    // Inside the window: replayed.
    let mut c = Client::connect(s.addr).await;
    c.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "recover": {"epoch": epoch, "offset": 40}}})).await;
    assert_eq!(c.recv_json().await["event"], "pusher_internal:subscription_succeeded");
    for offset in 41..=50 {
        assert_eq!(c.recv_json().await["stream"]["offset"], offset);
    }
    c.assert_quiet().await;
}

// ---------------------------------------------------------------- slow clients

#[tokio::test]
async fn slow_reader_is_closed_and_its_queue_freed() {
    let queue = 1024 * 1024;
    let s = start(HubConfig { send_queue_bytes: queue, close_grace_ms: 10_000, ..config() }).await;
    let channel = "private-property.BALI01.inventory";
    let mut slow = Client::connect(s.addr).await;
    slow.subscribe_private(channel).await;
    let mut fast = Client::connect(s.addr).await;
    fast.subscribe_private(channel).await;
    // `fast` reads everything in the background (counting frames only).
    let fast_reader = tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(3), fast.ws.next()).await {
            if m.is_text() {
                n += 1;
            }
        }
        n
    });

    // `slow` stops reading; publish 32 KiB events until the hub gives up on it.
    let payload = "x".repeat(32 * 1024);
    let mut published = 0u64;
    for i in 0..4000u64 {
        s.hub.publish(channel, "ari.changed", json!({ "i": i, "pad": payload }));
        published += 1;
        assert!(s.hub.queued_bytes() <= 2 * (queue + 64 * 1024), "queued {} bytes", s.hub.queued_bytes());
        if s.hub.stats().slow_client_closes > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(s.hub.stats().slow_client_closes, 1, "slow client not closed (alone) after {published} events");
    eprintln!("slow client closed after {published} events of 32 KiB");

    // Its queue is freed at once; the fast reader's drains.
    let mut drained = false;
    for _ in 0..250 {
        if s.hub.queued_bytes() < 64 * 1024 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(drained, "{} bytes still queued", s.hub.queued_bytes());

    // The slow client, reading again, finds the 4100 close after what the
    // socket buffers held.
    let code = tokio::time::timeout(Duration::from_secs(30), slow.expect_close(5000)).await.expect("close in time");
    assert_eq!(code, Some(4100));
    assert_eq!(fast_reader.await.expect("join"), published, "the fast reader got everything");
    assert_eq!(s.hub.queued_bytes(), 0);
}

/// RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection with
/// 1007 (invalid frame payload data), and the client is told so.
#[tokio::test]
async fn invalid_utf8_text_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let s = start(HubConfig { close_grace_ms: 500, ..config() }).await;
    let mut c = Client::connect(s.addr).await;
    // 0xff and 0xfe never occur in UTF-8.
    let invalid: &[u8] = &[b'{', 0xff, 0xfe, b'}'];
    c.send_raw(Message::Frame(Frame::message(invalid.to_vec(), OpCode::Data(Data::Text), true))).await;
    assert_eq!(c.expect_close(2).await, Some(1007));
    // The connection is gone from the hub.
    let deadline = tokio::time::Instant::now() + WAIT;
    while s.hub.connection_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.hub.connection_count(), 0);
}
