//! Inventory rules end to end, on SQLite and PostgreSQL: who closed a date
//! (auto-replenish lifts only saluran's own stop-sells), out of order by
//! date range, OTA bookings outside the calendar horizon.

mod common;

use common::{day, spawn_app_with, test_settings, TestApp};
use reqwest::StatusCode;
use saluran::config::Settings;
use saluran_channels::BookingAction::{Cancel, New};
use saluran_domain::store::Store;
use saluran_sim::{Profile, Sim, SimConfig, SimHandle};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOOK_USER: &str = "bdc-hook";
const HOOK_PASSWORD: &str = "hook-secret-123";

/// Settings with a test-sized `booking` preset (fast pushes and retries).
fn settings() -> Settings {
    let dir = std::env::temp_dir().join("saluran-tests").join(format!("presets-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "name = \"booking\"\ndisplay_name = \"booking (test)\"\nprofile = \"opentravel\"\nauth = \"basic\"\n\
                requests_per_minute = 6000\naccount_requests_per_minute = 60000\nmax_updates_per_request = 1000\n\
                horizon_days = 730\npoll_interval_secs = 0\ntimeout_secs = 1\nmax_tries = 5\ndebounce_ms = 20\n\
                min_backoff_ms = 20\nmax_backoff_ms = 200\nafter_dead_letter_ms = 300\n";
    std::fs::write(dir.join("booking.toml"), text).unwrap();
    Settings { presets_dir: dir.display().to_string(), ..test_settings() }
}

/// An OpenTravel simulator connected to `property` as channel BDC (STD →
/// STD1/BAR1, DLX → DLX1/BAR1).
async fn connect_ot(app: &TestApp, property: &str) -> SimHandle {
    let sim = Sim::start(SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass").with_hub_webhook(
        format!("{}/webhooks/opentravel/{property}/BDC", app.base),
        HOOK_USER,
        HOOK_PASSWORD,
    ))
    .await
    .unwrap();
    let r = app
        .post(
            &format!("/api/v1/properties/{property}/channels"),
            &json!({"code": "BDC", "profile": "opentravel", "preset": "booking", "endpoint": sim.base_url(), "hotel_code": "H-OT",
            "credentials": {"username": "hub", "password": "ota-pass"},
            "webhook_auth": {"username": HOOK_USER, "password": HOOK_PASSWORD},
            "mappings": [
                {"room_type": "STD", "rate_plan": "STD-BAR", "ota_room": "STD1", "ota_rate": "BAR1"},
                {"room_type": "DLX", "rate_plan": "DLX-BAR", "ota_room": "DLX1", "ota_rate": "BAR1"},
            ]}),
        )
        .await;
    app.ok_json(r, StatusCode::CREATED).await;
    sim
}

fn date(offset: i64) -> jiff::civil::Date {
    day(offset).parse().unwrap()
}

/// An OTA booking (OpenTravel ResNotif) of room STD1 from `check_in`.
fn ota(action: saluran_channels::BookingAction, id: &str, revision: &str, check_in: jiff::civil::Date, nights: i64) -> String {
    let rooms = if action == Cancel {
        vec![]
    } else {
        vec![saluran_channels::BookedRoom {
            ota_room: "STD1".into(),
            ota_rate: Some("BAR1".into()),
            check_in,
            check_out: check_in.checked_add(jiff::Span::new().days(nights)).unwrap(),
            adults: 2,
            nightly: vec![],
            total: None,
        }]
    };
    let b = saluran_channels::InboundBooking {
        action,
        hotel_code: "H-OT".into(),
        ota_reservation_id: id.into(),
        revision: revision.into(),
        rooms,
        guest_name: Some("Wayan".into()),
        currency: Some("IDR".into()),
        total: None,
    };
    saluran_channels::opentravel::res_notif_rq(&b, "echo", jiff::Timestamp::now())
}

async fn post_ota(app: &TestApp, property: &str, body: String) -> String {
    let r = app
        .client
        .post(format!("{}/webhooks/opentravel/{property}/BDC", app.base))
        .basic_auth(HOOK_USER, Some(HOOK_PASSWORD))
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "OTA deliveries are acknowledged: {text}");
    assert!(text.contains("<Success"), "a success answer: {text}");
    text
}

async fn ari(app: &TestApp, property: &str, updates: Value) {
    app.ok_json(app.post(&format!("/api/v1/properties/{property}/ari"), &json!({"updates": updates})).await, StatusCode::OK).await;
}

/// `(stop_sell, stop_sell_source, available)` of STD on a date.
async fn closed(app: &TestApp, property: &str, offset: i64) -> (bool, String, i64) {
    let inv = app.inventory(property, "STD", offset).await;
    (inv["stop_sell"].as_bool().unwrap(), inv["stop_sell_source"].as_str().unwrap().to_owned(), inv["available"].as_i64().unwrap())
}

/// Waits until the simulator believes STD1 is closed (`true`) or open on a date.
async fn wait_sim_stop(sim: &SimHandle, offset: i64, want: bool) {
    let d = date(offset);
    let started = Instant::now();
    loop {
        let view = sim.view();
        let got = view.cell("STD1", "BAR1", d).and_then(|c| c.stop_sell).unwrap_or(false)
            || view.cell("STD1", "", d).and_then(|c| c.stop_sell).unwrap_or(false);
        if got == want {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the OTA still sees STD1 on {d} stop_sell={got}, want {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The OTA booking's reservation.
async fn by_external(store: &Arc<dyn Store>, property: &str, ota_id: &str) -> saluran_domain::reservation::Reservation {
    store
        .find_reservation_by_external(
            &saluran_domain::PropertyCode::parse(property).unwrap(),
            &saluran_domain::ChannelCode::parse("BDC").unwrap(),
            ota_id,
        )
        .await
        .unwrap()
        .expect("the OTA booking is stored")
}

// ---------------------------------------------------------------------------
// Item 2: auto-replenish.

/// An overbooking closes the date; the stop-sell survives a restart with
/// its source; a cancellation that leaves no room keeps it closed, the one
/// that makes room lifts it and the OTA sees the date open again. A
/// person's stop-sell survives cancellations; a person's `stop_sell: true`
/// on an auto-closed date makes it manual, `false` opens it.
async fn overbooking_stop_sell_is_lifted_by_cancellation(store: Arc<dyn Store>) {
    let s = settings();
    let app = spawn_app_with(store.clone(), s.clone()).await;
    app.seed_property("REPL", 1).await;
    let sim = connect_ot(&app, "REPL").await;

    // Day 12: one room, a direct booking and an OTA booking → overbooked.
    let direct = app.ok_json(app.book("REPL", "STD", "STD-BAR", 12, 1).await, StatusCode::CREATED).await;
    post_ota(&app, "REPL", ota(New, "OVB-1", "2026-11-02T08:00:00Z", date(12), 1)).await;
    assert_eq!(closed(&app, "REPL", 12).await, (true, "overbooking".into(), -1));
    // Day 14: a person's stop-sell, then an OTA booking and its cancellation.
    ari(&app, "REPL", json!([{"room_type": "STD", "from": day(14), "to": day(14), "stop_sell": true}])).await;
    post_ota(&app, "REPL", ota(New, "MAN-1", "2026-11-02T08:00:00Z", date(14), 1)).await;
    // Day 16: overbooked, then a person closes it too: it becomes manual.
    app.ok_json(app.book("REPL", "STD", "STD-BAR", 16, 1).await, StatusCode::CREATED).await;
    post_ota(&app, "REPL", ota(New, "OVB-2", "2026-11-02T08:00:00Z", date(16), 1)).await;
    assert_eq!(closed(&app, "REPL", 16).await.1, "overbooking");
    ari(&app, "REPL", json!([{"room_type": "STD", "from": day(16), "to": day(16), "stop_sell": true}])).await;
    assert_eq!(closed(&app, "REPL", 16).await.1, "manual");
    wait_sim_stop(&sim, 12, true).await;

    // Restart: the sources come back from the store.
    app.stop().await;
    let app = spawn_app_with(store.clone(), s.clone()).await;
    assert_eq!(closed(&app, "REPL", 12).await, (true, "overbooking".into(), -1));
    assert_eq!(closed(&app, "REPL", 14).await.1, "manual");
    assert_eq!(closed(&app, "REPL", 16).await.1, "manual");

    // Cancelling the direct booking leaves no room: still closed.
    let id = direct["id"].as_str().unwrap();
    app.ok_json(app.post(&format!("/api/v1/properties/REPL/reservations/{id}/cancel"), &json!({})).await, StatusCode::OK).await;
    assert_eq!(closed(&app, "REPL", 12).await, (true, "overbooking".into(), 0));
    // The OTA cancels: a room is free again, the stop-sell is lifted and the OTA sees it.
    post_ota(&app, "REPL", ota(Cancel, "OVB-1", "2026-11-02T09:00:00Z", date(12), 0)).await;
    assert_eq!(closed(&app, "REPL", 12).await, (false, "none".into(), 1));
    wait_sim_stop(&sim, 12, false).await;

    // A person's stop-sells survive cancellations.
    post_ota(&app, "REPL", ota(Cancel, "MAN-1", "2026-11-02T09:00:00Z", date(14), 0)).await;
    assert_eq!(closed(&app, "REPL", 14).await, (true, "manual".into(), 1));
    post_ota(&app, "REPL", ota(Cancel, "OVB-2", "2026-11-02T09:00:00Z", date(16), 0)).await;
    assert_eq!(closed(&app, "REPL", 16).await, (true, "manual".into(), 0));
    wait_sim_stop(&sim, 14, true).await;
    // ... until a person opens them.
    ari(&app, "REPL", json!([{"room_type": "STD", "from": day(14), "to": day(14), "stop_sell": false}])).await;
    assert_eq!(closed(&app, "REPL", 14).await, (false, "none".into(), 1));
    wait_sim_stop(&sim, 14, false).await;
    sim.stop().await;
    app.stop().await;
}

/// The auto threshold (1): the booking that leaves one room closes the
/// date; the cancellation that brings it back to two lifts it, also across
/// a restart; the OTA sees both.
async fn threshold_stop_sell_is_lifted_by_cancellation(store: Arc<dyn Store>) {
    let s = Settings { auto_stop_sell_at: Some(1), ..settings() };
    let app = spawn_app_with(store.clone(), s.clone()).await;
    app.seed_property("THR", 3).await;
    let sim = connect_ot(&app, "THR").await;
    app.ok_json(app.book("THR", "STD", "STD-BAR", 9, 1).await, StatusCode::CREATED).await;
    post_ota(&app, "THR", ota(New, "THR-1", "2026-11-02T08:00:00Z", date(9), 1)).await;
    assert_eq!(closed(&app, "THR", 9).await, (true, "auto_threshold".into(), 1));
    wait_sim_stop(&sim, 9, true).await;
    app.stop().await;
    let app = spawn_app_with(store.clone(), s).await;
    assert_eq!(closed(&app, "THR", 9).await, (true, "auto_threshold".into(), 1));
    post_ota(&app, "THR", ota(Cancel, "THR-1", "2026-11-02T09:00:00Z", date(9), 0)).await;
    assert_eq!(closed(&app, "THR", 9).await, (false, "none".into(), 2));
    wait_sim_stop(&sim, 9, false).await;
    sim.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_stop_sells_are_lifted_when_rooms_come_back_manual_ones_stay() {
    for (backend, store) in saluran::testing::backends().await {
        eprintln!("backend {backend}");
        overbooking_stop_sell_is_lifted_by_cancellation(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_stop_sells_are_lifted_when_rooms_come_back() {
    for (backend, store) in saluran::testing::backends().await {
        eprintln!("backend {backend}");
        threshold_stop_sell_is_lifted_by_cancellation(store).await;
    }
}
