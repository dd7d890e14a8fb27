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

// ---------------------------------------------------------------------------
// Item 8: OTA bookings outside the calendar horizon.

/// `(inventory len, Σ plan days len, inventory extent)` of a room type's
/// published calendar: the memory the dense calendar holds.
fn calendar_size(app: &TestApp, property: &str, rt: &str) -> (usize, usize, Option<(jiff::civil::Date, jiff::civil::Date)>) {
    let h = app.app.registry().get(property).expect("active property");
    let view = h.calendar(rt).expect("room type");
    let cal = view.read();
    (cal.inventory.len(), cal.plans.iter().map(|p| p.days.len()).sum(), cal.inventory.extent())
}

async fn reservation_json(app: &TestApp, property: &str, id: &str) -> Value {
    app.ok_json(app.get(&format!("/api/v1/properties/{property}/reservations/{id}")).await, StatusCode::OK).await
}

async fn sold(app: &TestApp, property: &str, offset: i64) -> i64 {
    app.inventory(property, "STD", offset).await["sold"].as_i64().unwrap()
}

/// Stays in 9999 and 1900 are stored, acknowledged, flagged and alerted,
/// and the calendar does not grow; a stay half past the horizon takes only
/// its nights inside, and its cancellation gives back exactly those.
async fn bookings_outside_the_horizon(store: Arc<dyn Store>) {
    let app = spawn_app_with(store.clone(), settings()).await;
    app.seed_property("HOR", 2).await;
    let sim = connect_ot(&app, "HOR").await;
    post_ota(&app, "HOR", ota(New, "IN-1", "2026-11-02T08:00:00Z", date(3), 2)).await;
    let before = calendar_size(&app, "HOR", "STD");
    assert!(before.0 > 0 && before.1 > 0, "{before:?}");

    for (id, check_in) in [("FAR-9999", jiff::civil::date(9999, 12, 30)), ("PAST-1900", jiff::civil::date(1900, 1, 1))] {
        let ack = post_ota(&app, "HOR", ota(New, id, "2026-11-02T08:00:00Z", check_in, 1)).await;
        let res = by_external(&store, "HOR", id).await;
        assert!(ack.contains(&res.id), "the ack carries our confirmation id: {ack}");
        assert_eq!((res.check_in, res.outside_horizon, res.calendar_nights), (check_in, true, None), "{id}");
        let body = reservation_json(&app, "HOR", &res.id).await;
        assert_eq!((body["outside_horizon"].as_bool(), body["calendar_nights"].is_null()), (Some(true), true), "{body}");
        // A redelivery is acknowledged the same and changes nothing.
        let again = post_ota(&app, "HOR", ota(New, id, "2026-11-02T08:00:00Z", check_in, 1)).await;
        assert!(again.contains(&res.id));
    }
    assert_eq!(calendar_size(&app, "HOR", "STD"), before, "the dense calendar did not grow");
    let events = store.events_after(&saluran_domain::PropertyCode::parse("HOR").unwrap(), 0, 10_000).await.unwrap();
    let alerts: Vec<_> = events.iter().filter(|e| e.kind == "booking.outside_horizon").collect();
    assert_eq!(alerts.len(), 2, "one alert per booking: {alerts:?}");
    assert_eq!(alerts[0].payload["nights_outside"], 1);
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("saluran_bookings_outside_horizon_total"), "alert metric");

    // Half inside: nights 728..=732, the horizon ends at day 730.
    post_ota(&app, "HOR", ota(New, "HALF-1", "2026-11-02T08:00:00Z", date(728), 5)).await;
    let half = by_external(&store, "HOR", "HALF-1").await;
    assert!(half.outside_horizon);
    let held = half.calendar_nights.expect("some nights held");
    assert_eq!((held.start(), held.end()), (date(728), date(730)));
    let mut got = Vec::new();
    for o in 727..=733 {
        got.push(sold(&app, "HOR", o).await);
    }
    assert_eq!(got, [0, 1, 1, 1, 0, 0, 0], "only the nights inside the horizon are taken");
    let size = calendar_size(&app, "HOR", "STD");
    assert!(size.2.is_some_and(|(_, last)| last <= date(730)), "nothing past the horizon: {size:?}");

    // Cancellations give back exactly what was held, nothing outside.
    for id in ["HALF-1", "FAR-9999", "PAST-1900"] {
        post_ota(&app, "HOR", ota(Cancel, id, "2026-11-02T09:00:00Z", date(728), 0)).await;
    }
    let mut got = Vec::new();
    for o in 727..=733 {
        got.push(sold(&app, "HOR", o).await);
    }
    assert_eq!(got, [0; 7]);
    assert_eq!(sold(&app, "HOR", 3).await, 1, "other bookings untouched");
    assert!(calendar_size(&app, "HOR", "STD").2.is_some_and(|(_, last)| last <= date(730)));
    sim.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ota_bookings_outside_the_horizon_are_kept_flagged_and_not_materialized() {
    for (backend, store) in saluran::testing::backends().await {
        eprintln!("backend {backend}");
        bookings_outside_the_horizon(store).await;
    }
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .expect("VmRSS in /proc/self/status (Linux)")
}

/// Measurement (docs/RELIABILITY.md): RSS before and after 100 OTA
/// bookings in years 1..9999. Fails if memory grows by more than 32 MB (the
/// dense calendar grew ~44 MB for these before issue 8). nextest runs each
/// test in its own process, so the process's RSS is this test's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_after_100_bookings_outside_the_horizon() {
    let app = spawn_app_with(saluran::testing::fresh_sqlite().await, settings()).await;
    app.seed_property("RSS", 2).await;
    let sim = connect_ot(&app, "RSS").await;
    post_ota(&app, "RSS", ota(New, "WARM", "2026-11-02T08:00:00Z", date(1), 1)).await;
    let before = rss_kb();
    for i in 0..100 {
        let years = [1i16, 1900, 9999, 5000];
        let d = jiff::civil::date(years[i % years.len()], 1 + (i % 12) as i8, 1 + (i % 28) as i8);
        post_ota(&app, "RSS", ota(New, &format!("H-{i}"), "2026-11-02T08:00:00Z", d, 1)).await;
    }
    let after = rss_kb();
    let size = calendar_size(&app, "RSS", "STD");
    eprintln!(
        "RSS before {before} kB, after 100 bookings outside the horizon {after} kB (+{} kB); STD calendar {size:?}",
        after.saturating_sub(before)
    );
    assert!(after.saturating_sub(before) < 32 * 1024, "memory grew by {} kB", after - before);
    sim.stop().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Item 3: out of order by date range, in one commit with the room.

/// One fresh store per backend with its URL (for fault injection).
async fn backends_with_urls() -> Vec<(&'static str, String, Arc<dyn Store>)> {
    let opts = saluran::testing::test_store_options();
    let url = saluran::testing::fresh_sqlite_url();
    let mut out = vec![("sqlite", url.clone(), saluran::store::connect(&url, &opts).await.unwrap())];
    if let Some(url) = saluran::testing::fresh_postgres_url().await {
        out.push(("postgres", url.clone(), saluran::store::connect(&url, &opts).await.unwrap()));
    }
    out
}

/// Runs SQL on the test database behind the store's back.
async fn exec_sql(url: &str, sql: &[&str]) {
    use sqlx::Connection;
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        for s in sql {
            sqlx::query(s).execute(&mut c).await.unwrap();
        }
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        for s in sql {
            sqlx::query(s).execute(&mut c).await.unwrap();
        }
    }
}

/// Makes every UPDATE of a room fail (`on`) or work again.
async fn fail_room_updates(url: &str, on: bool) {
    let sqlite = url.starts_with("sqlite");
    match (sqlite, on) {
        (true, true) => {
            exec_sql(url, &["CREATE TRIGGER fail_rooms BEFORE UPDATE ON rooms BEGIN SELECT RAISE(ABORT, 'injected fault'); END"]).await
        }
        (true, false) => exec_sql(url, &["DROP TRIGGER fail_rooms"]).await,
        (false, true) => {
            exec_sql(
                url,
                &[
                    "CREATE FUNCTION fail_rooms() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER fail_rooms BEFORE UPDATE ON rooms FOR EACH ROW EXECUTE FUNCTION fail_rooms()",
                ],
            )
            .await
        }
        (false, false) => exec_sql(url, &["DROP TRIGGER fail_rooms ON rooms", "DROP FUNCTION fail_rooms()"]).await,
    }
}

async fn patch_room(app: &TestApp, property: &str, number: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(format!("{}/api/v1/properties/{property}/rooms/{number}", app.base))
        .bearer_auth(&app.admin)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// STD's `out_of_order` on each of the offsets.
async fn ooo_on(app: &TestApp, property: &str, offsets: std::ops::RangeInclusive<i64>) -> Vec<i64> {
    let cal = app
        .ok_json(
            app.get(&format!("/api/v1/properties/{property}/ari?from={}&to={}", day(*offsets.start()), day(*offsets.end()))).await,
            StatusCode::OK,
        )
        .await;
    let std = cal["room_types"].as_array().unwrap().iter().find(|r| r["code"] == "STD").unwrap().clone();
    std["days"].as_array().unwrap().iter().map(|d| d["out_of_order"].as_i64().unwrap()).collect()
}

async fn stored_room(store: &Arc<dyn Store>, property: &str, number: &str) -> saluran_domain::property::Room {
    let cfg = store.load_config(&saluran_domain::PropertyCode::parse(property).unwrap()).await.unwrap().unwrap();
    cfg.rooms.into_iter().find(|r| r.number.as_str() == number).unwrap()
}

/// A failure of the room write after the calendar change (before: two
/// separate writes, so the retry counted the room out of order twice), a
/// repeated PATCH, a restart in between and concurrent PATCHes: the room is
/// counted out of order once, and released once.
async fn out_of_order_is_counted_once(url: String, store: Arc<dyn Store>) {
    let s = settings();
    let app = spawn_app_with(store.clone(), s.clone()).await;
    app.seed_property("OOO", 3).await;
    let before = ooo_on(&app, "OOO", 0..=3).await;
    assert_eq!(before, [0, 0, 0, 0]);

    fail_room_updates(&url, true).await;
    let r = patch_room(&app, "OOO", "STD0", json!({"status": "out_of_order"})).await;
    assert!(r.status().is_server_error(), "the store failed: {}", r.status());
    fail_room_updates(&url, false).await;
    assert_eq!(ooo_on(&app, "OOO", 0..=3).await, [0, 0, 0, 0], "a failed change applies nothing");
    assert_eq!(stored_room(&store, "OOO", "STD0").await.status.as_str(), "vacant_clean");

    // The retry, and a repeat: counted once.
    for _ in 0..2 {
        let r = patch_room(&app, "OOO", "STD0", json!({"status": "out_of_order"})).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(ooo_on(&app, "OOO", 0..=3).await, [1, 1, 1, 1]);
    // Concurrent PATCHes of another room: counted once.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (client, base, admin) = (app.client.clone(), app.base.clone(), app.admin.clone());
        tasks.push(tokio::spawn(async move {
            client
                .patch(format!("{base}/api/v1/properties/OOO/rooms/STD1"))
                .bearer_auth(admin)
                .json(&json!({"status": "out_of_order"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(ooo_on(&app, "OOO", 0..=3).await, [2, 2, 2, 2]);

    // Restart, then repeat: still once each; back in service releases once.
    app.stop().await;
    let app = spawn_app_with(store.clone(), s).await;
    let r = patch_room(&app, "OOO", "STD0", json!({"status": "out_of_order"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(ooo_on(&app, "OOO", 0..=3).await, [2, 2, 2, 2]);
    for _ in 0..2 {
        for n in ["STD0", "STD1"] {
            let r = patch_room(&app, "OOO", n, json!({"status": "vacant_dirty"})).await;
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
    assert_eq!(ooo_on(&app, "OOO", 0..=3).await, [0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_is_counted_out_of_order_once_whatever_fails_or_repeats() {
    for (backend, url, store) in backends_with_urls().await {
        eprintln!("backend {backend}");
        out_of_order_is_counted_once(url, store).await;
    }
}

/// Out of order on a range takes the room out of availability on those
/// dates only; a new range moves exactly the difference; back in service
/// releases exactly what it held; out of service takes nothing; bad dates
/// are refused with a typed error and apply nothing. The range is stored
/// on the room (and survives a restart).
async fn out_of_order_ranges(store: Arc<dyn Store>) {
    let s = settings();
    let app = spawn_app_with(store.clone(), s.clone()).await;
    app.seed_property("RNG", 3).await;
    let sim = connect_ot(&app, "RNG").await;
    let r = patch_room(&app, "RNG", "STD0", json!({"status": "out_of_order", "from": day(5), "to": day(7)})).await;
    let body = app.ok_json(r, StatusCode::OK).await;
    assert_eq!(body["out_of_order"], json!({"from": day(5), "to": day(7)}), "{body}");
    assert_eq!(ooo_on(&app, "RNG", 3..=9).await, [0, 0, 1, 1, 1, 0, 0]);
    assert_eq!(app.inventory("RNG", "STD", 6).await["available"], 2);
    assert_eq!(app.inventory("RNG", "STD", 8).await["available"], 3);
    // The OTA hears of it.
    let started = Instant::now();
    loop {
        let view = sim.view();
        let seen = view
            .cell("STD1", "BAR1", date(6))
            .and_then(|c| c.available)
            .or_else(|| view.cell("STD1", "", date(6)).and_then(|c| c.available));
        if seen == Some(2) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the OTA did not see the room out of order");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Out of service: sellable, nothing taken.
    let r = patch_room(&app, "RNG", "STD2", json!({"status": "out_of_service"})).await;
    app.ok_json(r, StatusCode::OK).await;
    assert_eq!(ooo_on(&app, "RNG", 3..=9).await, [0, 0, 1, 1, 1, 0, 0]);

    // Bad input: typed errors, nothing applied.
    for (body, code) in [
        (json!({"status": "out_of_order", "from": day(9), "to": day(8)}), "invalid_date_range"),
        (json!({"status": "out_of_order", "from": day(-3), "to": day(8)}), "date_in_past"),
        (json!({"status": "out_of_order", "from": day(1), "to": day(731)}), "beyond_horizon"),
        (json!({"status": "out_of_order", "from": "2027-02-30"}), "invalid_field"),
        (json!({"status": "vacant_dirty", "from": day(1)}), "invalid_field"),
        (json!({"status": "out_of_order", "until": day(1)}), "invalid_body"),
    ] {
        let r = patch_room(&app, "RNG", "STD1", body.clone()).await;
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
    }
    assert_eq!(stored_room(&store, "RNG", "STD1").await.status.as_str(), "vacant_clean");
    assert_eq!(ooo_on(&app, "RNG", 3..=9).await, [0, 0, 1, 1, 1, 0, 0]);

    // Restart: the range is on the room; a new range moves the difference.
    app.stop().await;
    let app = spawn_app_with(store.clone(), s).await;
    let room = stored_room(&store, "RNG", "STD0").await;
    assert_eq!(room.out_of_order.map(|r| (r.start(), r.end())), Some((date(5), date(7))));
    let r = patch_room(&app, "RNG", "STD0", json!({"status": "out_of_order", "from": day(6), "to": day(8)})).await;
    app.ok_json(r, StatusCode::OK).await;
    assert_eq!(ooo_on(&app, "RNG", 3..=9).await, [0, 0, 0, 1, 1, 1, 0]);
    // Back in service: exactly those dates come back.
    let r = patch_room(&app, "RNG", "STD0", json!({"status": "vacant_dirty"})).await;
    let body = app.ok_json(r, StatusCode::OK).await;
    assert!(body["out_of_order"].is_null());
    assert_eq!(ooo_on(&app, "RNG", 3..=9).await, [0; 7]);
    assert_eq!(stored_room(&store, "RNG", "STD0").await.out_of_order, None);
    // Without dates: from today to the end of the horizon.
    let r = patch_room(&app, "RNG", "STD1", json!({"status": "out_of_order"})).await;
    let body = app.ok_json(r, StatusCode::OK).await;
    assert_eq!(body["out_of_order"], json!({"from": day(0), "to": day(730)}));
    assert_eq!(ooo_on(&app, "RNG", 729..=730).await, [1, 1]);
    sim.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_takes_a_date_range_out_of_service_takes_nothing() {
    for (backend, store) in saluran::testing::backends().await {
        eprintln!("backend {backend}");
        out_of_order_ranges(store).await;
    }
}

/// Rows older versions stored far outside the window (they materialized a
/// 9999 stay) are not loaded: the shard's calendar stays within the window.
async fn far_rows_are_not_loaded(store: Arc<dyn Store>) {
    let app = spawn_app_with(store.clone(), settings()).await;
    app.seed_property("OLD", 2).await;
    app.stop().await;
    let p = saluran_domain::PropertyCode::parse("OLD").unwrap();
    let rt = saluran_domain::RoomTypeCode::parse("STD").unwrap();
    let version = store.load_calendar(&p, &rt, date(0)).await.unwrap().version;
    let mut changes = saluran_domain::ari::CellChanges::default();
    let far = jiff::civil::date(9999, 12, 30);
    changes.inventory.insert(far, saluran_domain::calendar::InventoryDay { sold: 1, ..Default::default() });
    changes.inventory.insert(date(2), saluran_domain::calendar::InventoryDay { sold: 1, ..Default::default() });
    let commit = saluran_domain::store::ShardCommit {
        property: Some(p.clone()),
        room_type: Some(rt.clone()),
        expected_version: version,
        changes,
        ..Default::default()
    };
    store.commit_shard(&commit).await.unwrap();
    assert_eq!(store.load_calendar(&p, &rt, date(0)).await.unwrap().inventory.get_or_default(far).sold, 1, "stored");
    let within = store.load_calendar_until(&p, &rt, date(0), date(730)).await.unwrap();
    assert_eq!(within.inventory.extent(), Some((date(2), date(2))));

    let app = spawn_app_with(store.clone(), settings()).await;
    assert_eq!(sold(&app, "OLD", 2).await, 1);
    let (len, _, extent) = calendar_size(&app, "OLD", "STD");
    assert_eq!((len, extent), (1, Some((date(2), date(2)))), "the far row is not in memory");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_rows_stored_by_older_versions_are_not_loaded() {
    for (backend, store) in saluran::testing::backends().await {
        eprintln!("backend {backend}");
        far_rows_are_not_loaded(store).await;
    }
}
