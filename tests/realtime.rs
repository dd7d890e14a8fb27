//! The real-time hub mounted in the binary: committed events reach
//! subscribed WebSocket clients on the DESIGN §6 channels, channel auth is
//! scoped by the bearer token (I6), and a snapshot's stream position lets
//! a client recover what it missed (I5).

mod common;

use common::{spawn_app, TestApp};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use saluran_domain::property::Role;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp) -> (Ws, String) {
    let url = format!("{}/app/saluran-key?protocol=7&client=test&version=1", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws connect");
    let first = next_event(&mut ws).await;
    assert_eq!(first["event"], "pusher:connection_established");
    let data: Value = serde_json::from_str(first["data"].as_str().unwrap()).unwrap();
    (ws, data["socket_id"].as_str().unwrap().to_owned())
}

async fn next_event(ws: &mut Ws) -> Value {
    loop {
        let msg =
            tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an event within 10 s").expect("open").expect("frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

async fn wait_for(ws: &mut Ws, event: &str) -> Value {
    for _ in 0..50 {
        let e = next_event(ws).await;
        if e["event"] == event {
            return e;
        }
    }
    panic!("no {event}");
}

async fn auth(app: &TestApp, token: &str, socket_id: &str, channel: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/realtime/auth", app.base))
        .bearer_auth(token)
        .form(&[("socket_id", socket_id), ("channel_name", channel)])
        .send()
        .await
        .unwrap()
}

async fn subscribe(ws: &mut Ws, channel: &str, auth: &Value, recover: Option<Value>) {
    let mut data = json!({"channel": channel, "auth": auth["auth"]});
    if let Some(cd) = auth.get("channel_data") {
        data["channel_data"] = cd.clone();
    }
    if let Some(r) = recover {
        data["recover"] = r;
    }
    ws.send(Message::Text(json!({"event": "pusher:subscribe", "data": data}).to_string().into())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_bookings_and_ari_stream_to_subscribed_clients() {
    let app = spawn_app().await;
    app.seed_property("LIVE", 3).await;
    let (mut ws, socket) = connect(&app).await;
    let a = auth(&app, &app.admin, &socket, "private-property.LIVE.bookings").await;
    let a: Value = app.ok_json(a, StatusCode::OK).await;
    subscribe(&mut ws, "private-property.LIVE.bookings", &a, None).await;
    wait_for(&mut ws, "pusher_internal:subscription_succeeded").await;
    let r = app.ok_json(app.book("LIVE", "STD", "STD-BAR", 4, 2).await, StatusCode::CREATED).await;
    let e = wait_for(&mut ws, "booking.created").await;
    assert_eq!(e["channel"], "private-property.LIVE.bookings");
    let data: Value = serde_json::from_str(e["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["reservation"], r["id"]);
    assert!(data["seq"].as_i64().unwrap() > 0, "the store's event sequence travels with it");
    assert!(e["stream"]["offset"].as_u64().unwrap() >= 1, "stream position on every event: {e}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_auth_is_scoped_by_the_token() {
    let app = spawn_app().await;
    app.seed_property("MINE", 1).await;
    app.seed_property("THEIRS", 1).await;
    let (_ws, socket) = connect(&app).await;
    let mine = app.token(Role::RevenueManager, "default", &["MINE"]).await;
    assert_eq!(auth(&app, &mine, &socket, "private-property.MINE.inventory").await.status(), StatusCode::OK);
    assert_eq!(auth(&app, &mine, &socket, "private-property.THEIRS.inventory").await.status(), StatusCode::FORBIDDEN);
    let other_tenant = app.token(Role::Admin, "another-group", &[]).await;
    assert_eq!(auth(&app, &other_tenant, &socket, "private-property.MINE.bookings").await.status(), StatusCode::FORBIDDEN);
    let hk = app.token(Role::Housekeeping, "default", &["MINE"]).await;
    assert_eq!(auth(&app, &hk, &socket, "private-property.MINE.bookings").await.status(), StatusCode::FORBIDDEN);
    let presence = auth(&app, &hk, &socket, "presence-property.MINE.housekeeping").await;
    let p: Value = app.ok_json(presence, StatusCode::OK).await;
    assert!(p["channel_data"].as_str().unwrap().contains("housekeeping"));
    assert_eq!(auth(&app, &mine, &socket, "private-something-else").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(auth(&app, &mine, &"x".repeat(5), "private-property.MINE.inventory").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .client
        .post(format!("{}/api/v1/realtime/auth", app.base))
        .form(&[("socket_id", socket.as_str()), ("channel_name", "private-property.MINE.inventory")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// A page loads the calendar (which says where the inventory stream stood),
/// misses some changes while offline, then subscribes with `recover` from
/// that position and receives every change it missed, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_position_recovers_missed_changes() {
    let app = spawn_app().await;
    app.seed_property("GAP", 3).await;
    let snap = app
        .ok_json(app.get(&format!("/api/v1/properties/GAP/ari?from={}&to={}", common::day(0), common::day(3))).await, StatusCode::OK)
        .await;
    let pos = snap["stream"].clone();
    for i in 0..5 {
        let body = json!({"updates": [{"room_type": "STD", "rate_plan": "STD-BAR", "from": common::day(1 + i), "to": common::day(1 + i), "rate": format!("{}", 1_100_000 + i)}]});
        app.ok_json(app.post("/api/v1/properties/GAP/ari", &body).await, StatusCode::OK).await;
    }
    let (mut ws, socket) = connect(&app).await;
    let a: Value = app.ok_json(auth(&app, &app.admin, &socket, "private-property.GAP.inventory").await, StatusCode::OK).await;
    subscribe(&mut ws, "private-property.GAP.inventory", &a, Some(pos.clone())).await;
    wait_for(&mut ws, "pusher_internal:subscription_succeeded").await;
    let start = pos["offset"].as_u64().unwrap();
    for k in 1..=5u64 {
        let e = wait_for(&mut ws, "ari.changed").await;
        assert_eq!(e["stream"]["offset"].as_u64(), Some(start + k), "in order, none missing");
    }
    app.stop().await;
}
