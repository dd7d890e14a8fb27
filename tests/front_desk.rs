//! Front desk and the night audit's no-shows, end to end: the real server
//! with a `ManualClock`, real SQLite (and two nodes on PostgreSQL when
//! `SALURAN_TEST_POSTGRES_URL` is set).

mod common;

use common::{spawn_app_clocked, test_settings, TestApp};
use jiff::civil::Date;
use reqwest::StatusCode;
use saluran_actors::ShardMsg;
use saluran_domain::ports::{ManualClock, Published};
use saluran_domain::property::Role;
use saluran_domain::store::Store;
use saluran_domain::{PropertyCode, RoomTypeCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn at(d: Date, h: i8, m: i8) -> jiff::Timestamp {
    d.at(h, m, 0, 0).to_zoned(jiff::tz::TimeZone::get("Asia/Jakarta").unwrap()).unwrap().timestamp()
}

fn plus(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap()
}

const D1: Date = jiff::civil::date(2027, 3, 10);

/// Ticks every 250 ms (the audit is checked on every tick).
fn settings() -> saluran::config::Settings {
    saluran::config::Settings { idle_timeout_secs: 1, ..test_settings() }
}

/// A property in Asia/Jakarta auditing at `audit` and marking no-shows:
/// STD (`std_rooms` rooms S1…) and DLX (rooms D1, D2), one BAR plan each,
/// rates for 30 days from D1.
async fn property(app: &TestApp, code: &str, audit: &str, std_rooms: usize) {
    property_marking(app, code, audit, std_rooms, Some(true)).await
}

/// As `property`; `marks_no_shows` None leaves the field out of the body.
/// Created with marking on, marking begins on D1 (the tests' clocks start
/// there): arrivals from D1 on may become no-shows.
async fn property_marking(app: &TestApp, code: &str, audit: &str, std_rooms: usize, marks_no_shows: Option<bool>) {
    let p = format!("/api/v1/properties/{code}");
    let mut body = json!({"code": code, "name": "n", "timezone": "Asia/Jakarta", "currency": "IDR", "night_audit_time": audit});
    if let Some(on) = marks_no_shows {
        body["marks_no_shows"] = json!(on);
    }
    let created = app.ok_json(app.post("/api/v1/properties", &body).await, StatusCode::CREATED).await;
    assert_eq!(created["marks_no_shows"], marks_no_shows.unwrap_or(false), "{created}");
    let from = if marks_no_shows == Some(true) { json!(D1) } else { Value::Null };
    assert_eq!(created["no_shows_from"], from, "{created}");
    for (rt, n, prefix) in [("STD", std_rooms, "S"), ("DLX", 2, "D")] {
        let r = app.post(&format!("{p}/room-types"), &json!({"code": rt, "name": rt, "max_occupancy": 2})).await;
        app.ok_json(r, StatusCode::CREATED).await;
        for i in 1..=n {
            let r = app.post(&format!("{p}/rooms"), &json!({"number": format!("{prefix}{i}"), "room_type": rt, "floor": 1})).await;
            app.ok_json(r, StatusCode::CREATED).await;
        }
        let r = app.post(&format!("{p}/rate-plans"), &json!({"code": format!("{rt}-BAR"), "room_type": rt, "name": "BAR"})).await;
        app.ok_json(r, StatusCode::CREATED).await;
    }
    let updates: Vec<Value> = ["STD", "DLX"]
        .iter()
        .map(|rt| json!({"room_type": rt, "rate_plan": format!("{rt}-BAR"), "from": D1, "to": plus(D1, 30), "rate": "500000"}))
        .collect();
    app.ok_json(app.post(&format!("{p}/ari"), &json!({ "updates": updates })).await, StatusCode::OK).await;
}

async fn book(app: &TestApp, code: &str, rt: &str, check_in: Date, nights: i64) -> String {
    let body = json!({"room_type": rt, "rate_plan": format!("{rt}-BAR"), "check_in": check_in, "check_out": plus(check_in, nights),
        "adults": 1, "guest": {"name": "Wayan"}});
    let v = app.ok_json(app.post(&format!("/api/v1/properties/{code}/reservations"), &body).await, StatusCode::CREATED).await;
    v["id"].as_str().unwrap().to_owned()
}

/// POSTs a front-desk action; `body` None sends no body at all.
async fn act(app: &TestApp, token: &str, code: &str, id: &str, action: &str, body: Option<&str>) -> (StatusCode, Value) {
    let mut rb = app.client.post(format!("{}/api/v1/properties/{code}/reservations/{id}/{action}", app.base)).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b.to_owned());
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn code_of(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

async fn reservation(app: &TestApp, code: &str, id: &str) -> Value {
    app.ok_json(app.get(&format!("/api/v1/properties/{code}/reservations/{id}")).await, StatusCode::OK).await
}

async fn v_of(app: &TestApp, code: &str) -> Value {
    app.ok_json(app.get(&format!("/api/v1/properties/{code}")).await, StatusCode::OK).await
}

async fn room_status(app: &TestApp, code: &str, number: &str) -> String {
    let cfg = app.ok_json(app.get(&format!("/api/v1/properties/{code}")).await, StatusCode::OK).await;
    cfg["rooms"].as_array().unwrap().iter().find(|r| r["number"] == number).unwrap()["status"].as_str().unwrap().to_owned()
}

async fn sold(store: &Arc<dyn Store>, code: &str, rt: &str, d: Date) -> u16 {
    let cal = store.load_calendar(&PropertyCode::parse(code).unwrap(), &RoomTypeCode::parse(rt).unwrap(), plus(D1, -5)).await.unwrap();
    cal.inventory.get_or_default(d).sold
}

async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn drain(events: &mut tokio::sync::broadcast::Receiver<Published>) -> Vec<Published> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_in_and_check_out_move_the_room_and_refuse_everything_else() {
    let clock = Arc::new(ManualClock::new(at(D1, 10, 0)));
    let app = spawn_app_clocked(saluran::testing::fresh_sqlite().await, settings(), clock.clone()).await;
    // The audit is kept out of the way (23:59): this test is about the rules.
    property(&app, "FD", "23:59", 3).await;
    let mut events = app.app.events().subscribe();
    let admin = app.admin.clone();
    let front_desk = app.token(Role::FrontDesk, "default", &["FD"]).await;
    let revenue = app.token(Role::RevenueManager, "default", &["FD"]).await;
    let housekeeping = app.token(Role::Housekeeping, "default", &["FD"]).await;
    let elsewhere = app.token(Role::Admin, "default", &["ELSEWHERE"]).await;
    let a = book(&app, "FD", "STD", D1, 2).await;
    let later = book(&app, "FD", "STD", plus(D1, 1), 1).await;
    let sold_before = sold(&app.store, "FD", "STD", D1).await;

    // Who may: the roles that may cancel (admin, revenue manager, front desk).
    assert_eq!(act(&app, &housekeeping, "FD", &a, "check-in", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(act(&app, &housekeeping, "FD", &a, "check-out", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(act(&app, &elsewhere, "FD", &a, "check-in", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(act(&app, "slr_nope", "FD", &a, "check-in", None).await.0, StatusCode::UNAUTHORIZED);
    let (s, v) = act(&app, &admin, "FD", "no-such-id", "check-in", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(act(&app, &admin, "FD", "no-such-id", "check-out", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(act(&app, &admin, "NOPE", &a, "check-in", None).await.0, StatusCode::NOT_FOUND);

    // Refusals, each with its code; none changes anything.
    let (s, v) = act(&app, &front_desk, "FD", &later, "check-in", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "arrival_in_future"));
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-out", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "not_checked_in"));
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", Some(r#"{"room": "D1"}"#)).await;
    assert_eq!((s, code_of(&v), v["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("room")));
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", Some(r#"{"room": "S9"}"#)).await;
    assert_eq!((s, code_of(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", Some(r#"{"room": "no such room, far too long"}"#)).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("room")));
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", Some(r#"{"room": 5}"#)).await;
    assert_eq!((s, code_of(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", Some(r#"{"rooms": "S1"}"#)).await;
    assert_eq!((s, code_of(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", Some("{")).await;
    assert_eq!((s, code_of(&v)), (StatusCode::BAD_REQUEST, "invalid_json"));
    let patch = |n: &str, st: &str| {
        app.client.patch(format!("{}/api/v1/properties/FD/rooms/{n}", app.base)).bearer_auth(&app.admin).json(&json!({"status": st})).send()
    };
    assert_eq!(patch("S1", "vacant_dirty").await.unwrap().status(), StatusCode::OK);
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", Some(r#"{"room": "S1"}"#)).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "room_not_ready"));
    let r = reservation(&app, "FD", &a).await;
    assert_eq!((r["checked_in_at"].clone(), r["room"].clone(), r["revision"].clone()), (Value::Null, Value::Null, json!(1)));

    // Check-in into an inspected room: occupied clean, nights still sold.
    assert_eq!(patch("S2", "inspected").await.unwrap().status(), StatusCode::OK);
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", Some(r#"{"room": "S2"}"#)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["status"].as_str(), v["room"].as_str()), (Some("confirmed"), Some("S2")));
    assert!(v["checked_in_at"].is_string() && v["checked_out_at"].is_null(), "{v}");
    assert_eq!(room_status(&app, "FD", "S2").await, "occupied_clean");
    assert_eq!(sold(&app.store, "FD", "STD", D1).await, sold_before, "check-in changes no inventory");
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "already_checked_in"));
    let (s, v) = act(&app, &admin, "FD", &a, "cancel", Some("{}")).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "already_checked_in"), "an in-house guest is checked out, not cancelled");

    // Check-out: the room becomes vacant dirty; only once.
    let (s, v) = act(&app, &revenue, "FD", &a, "check-out", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["checked_out_at"].is_string(), "{v}");
    assert_eq!(room_status(&app, "FD", "S2").await, "vacant_dirty");
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-out", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "already_checked_out"));
    let (s, v) = act(&app, &front_desk, "FD", &a, "check-in", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "already_checked_out"));

    // Without a room (no body at all, or an empty object): nothing moves.
    let b = book(&app, "FD", "STD", D1, 1).await;
    let (s, v) = act(&app, &front_desk, "FD", &b, "check-in", None).await;
    assert_eq!((s, v["room"].clone()), (StatusCode::OK, Value::Null));
    assert_eq!(act(&app, &front_desk, "FD", &b, "check-out", Some("{}")).await.0, StatusCode::OK);
    assert_eq!(room_status(&app, "FD", "S3").await, "vacant_clean");

    // A cancelled reservation is neither checked in nor out.
    let c = book(&app, "FD", "DLX", D1, 1).await;
    assert_eq!(act(&app, &admin, "FD", &c, "cancel", Some("{}")).await.0, StatusCode::OK);
    let (s, v) = act(&app, &front_desk, "FD", &c, "check-in", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "reservation_cancelled"));
    let (s, v) = act(&app, &front_desk, "FD", &c, "check-out", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "reservation_cancelled"));

    // After departure it is too late (the audit has not run: 23:59).
    let d = book(&app, "FD", "DLX", D1, 1).await;
    clock.set(at(plus(D1, 2), 10, 0));
    let (s, v) = act(&app, &front_desk, "FD", &d, "check-in", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "departure_passed"));
    // On the departure day itself (a late arrival before the audit) it is not.
    let e = book(&app, "FD", "DLX", plus(D1, 2), 1).await;
    clock.set(at(plus(D1, 3), 1, 0));
    assert_eq!(act(&app, &front_desk, "FD", &e, "check-in", None).await.0, StatusCode::OK);

    // Committed events, with stream positions, for each change.
    let kinds: Vec<(String, String)> = drain(&mut events)
        .into_iter()
        .filter(|e| e.kind().as_str().starts_with("booking.checked"))
        .map(|e| {
            assert!(e.seq().is_some_and(|s| s > 0), "{e:?}");
            (e.kind().as_str().to_owned(), e.payload()["reservation"].as_str().unwrap().to_owned())
        })
        .collect();
    let want: Vec<(String, String)> = [("booking.checked_in", &a), ("booking.checked_out", &a), ("booking.checked_in", &b)]
        .into_iter()
        .chain([("booking.checked_out", &b), ("booking.checked_in", &e)])
        .map(|(k, id)| (k.to_owned(), id.clone()))
        .collect();
    assert_eq!(kinds, want);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn night_audit_marks_unchecked_arrivals_no_show_and_releases_their_remaining_nights() {
    let clock = Arc::new(ManualClock::new(at(D1, 10, 0)));
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    property(&app, "NS", "02:30", 4).await;
    let mut events = app.app.events().subscribe();
    let (d2, d3) = (plus(D1, 1), plus(D1, 2));
    let absent = book(&app, "NS", "STD", D1, 3).await; // D1..D1+3, never arrives
    let arrived = book(&app, "NS", "STD", D1, 2).await; // checked in
    let tomorrow = book(&app, "NS", "STD", d2, 2).await; // arrives on the new business date
    let one_night = book(&app, "NS", "DLX", D1, 1).await; // no-show with nothing left to release
    let cancelled = book(&app, "NS", "STD", D1, 2).await;
    assert_eq!(act(&app, &app.admin, "NS", &cancelled, "cancel", Some("{}")).await.0, StatusCode::OK);
    assert_eq!(act(&app, &app.admin, "NS", &arrived, "check-in", Some(r#"{"room": "S1"}"#)).await.0, StatusCode::OK);
    let before: Vec<u16> = sold_on(&store, "NS", "STD", &[D1, d2, d3]).await;
    assert_eq!(before, [2, 3, 2]);

    // The audit of the night D1 → D2.
    clock.set(at(d2, 2, 31));
    let app_r = &app;
    for id in [absent.as_str(), one_night.as_str()] {
        wait_for("the no-shows", || async move { reservation(app_r, "NS", id).await["status"] == "no_show" }).await;
    }
    assert_eq!(store.get_business_date(&PropertyCode::parse("NS").unwrap()).await.unwrap(), Some(d2));
    for (id, status) in [(&arrived, "confirmed"), (&tomorrow, "confirmed"), (&cancelled, "cancelled")] {
        assert_eq!(reservation(&app, "NS", id).await["status"], status, "{id}");
    }
    // The closed night D1 keeps its count (history); D2 and D3 get the
    // absent guest's room back.
    let after = sold_on(&store, "NS", "STD", &[D1, d2, d3]).await;
    assert_eq!(after, [2, 2, 1]);
    assert_eq!(sold(&store, "NS", "DLX", D1).await, 1, "a one-night no-show releases nothing");
    assert_eq!(room_status(&app, "NS", "S1").await, "occupied_dirty", "the audit still dirties occupied rooms");
    // A no-show can be neither checked in nor cancelled; the released
    // nights are on sale again.
    let (s, v) = act(&app, &app.admin, "NS", &absent, "check-in", None).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "reservation_no_show"));
    let (s, v) = act(&app, &app.admin, "NS", &absent, "cancel", Some("{}")).await;
    assert_eq!((s, code_of(&v)), (StatusCode::CONFLICT, "reservation_no_show"));
    let cal = app.ok_json(app.get(&format!("/api/v1/properties/NS/ari?from={d2}&to={d2}")).await, StatusCode::OK).await;
    let std = cal["room_types"].as_array().unwrap().iter().find(|r| r["code"] == "STD").unwrap().clone();
    assert_eq!(std["days"][0]["sold"], 2, "the published calendar shows the release: {std}");

    // Events: one per no-show (bookings + inventory), and one audit naming them.
    let evs = drain(&mut events);
    let mut no_shows: Vec<String> = evs
        .iter()
        .filter(|e| e.kind().as_str() == "booking.no_show")
        .map(|e| e.payload()["reservation"].as_str().unwrap().to_owned())
        .collect();
    no_shows.sort();
    let mut want = vec![absent.clone(), one_night.clone()];
    want.sort();
    assert_eq!(no_shows, want);
    let audit: Vec<&Published> = evs.iter().filter(|e| e.kind().as_str() == "night_audit.completed").collect();
    assert_eq!(audit.len(), 1);
    let mut named: Vec<String> = serde_json::from_value(audit[0].payload()["no_shows"].clone()).unwrap();
    named.sort();
    assert_eq!(named, want);
    let absent_event =
        evs.iter().find(|e| e.kind().as_str() == "booking.no_show" && e.payload()["reservation"] == absent.as_str()).unwrap();
    assert_eq!((absent_event.payload()["released_from"].clone(), absent_event.payload()["nights_released"].clone()), (json!(d2), json!(2)));

    // Again, as after a crash: the shard is handed the same ids (and the
    // checked-in one) and marks and releases nothing twice.
    let h = app.app.property(&PropertyCode::parse("NS").unwrap()).await.unwrap();
    let ids = vec![absent.clone(), arrived.clone(), tomorrow.clone()];
    let again = h
        .call_shard("STD", Duration::from_secs(5), |reply| ShardMsg::NoShows { ids, closed: D1, release_from: d2, reply })
        .await
        .unwrap()
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(sold_on(&store, "NS", "STD", &[D1, d2, d3]).await, [2, 2, 1]);
    app.stop().await;

    // A restart on the same database later the same day: the audit is done
    // (one completed event only), the sweep repeats harmlessly.
    clock.set(at(d2, 9, 0));
    let app = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    let mut events = app.app.events().subscribe();
    assert_eq!(reservation(&app, "NS", &arrived).await["status"], "confirmed");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sold_on(&store, "NS", "STD", &[D1, d2, d3]).await, [2, 2, 1]);
    assert!(drain(&mut events).iter().all(|e| e.kind().as_str() != "night_audit.completed" && e.kind().as_str() != "booking.no_show"));

    // The next night, the one arriving on D2 who never came is a no-show;
    // the checked-in guest (departing D3) is not.
    clock.set(at(d3, 2, 45));
    let (app_r, id) = (&app, tomorrow.as_str());
    wait_for("the second audit", || async move { reservation(app_r, "NS", id).await["status"] == "no_show" }).await;
    assert_eq!(reservation(&app, "NS", &arrived).await["status"], "confirmed");
    assert_eq!(sold_on(&store, "NS", "STD", &[d2, d3]).await, [2, 0], "D3 freed by `tomorrow`; D2 is history");
    app.stop().await;
}

/// Waits for the `night_audit.completed` of `business_date` (reading the
/// property meanwhile, so that it is active and audits) and answers its
/// payload, with every other event seen meanwhile.
async fn audit_event(
    app: &TestApp,
    code: &str,
    events: &mut tokio::sync::broadcast::Receiver<Published>,
    business_date: Date,
) -> (Value, Vec<Published>) {
    let mut seen = Vec::new();
    for _ in 0..150 {
        loop {
            match events.try_recv() {
                Ok(e) if e.kind().as_str() == "night_audit.completed" && e.payload()["business_date"] == json!(business_date) => {
                    return (e.payload().clone(), seen);
                }
                Ok(e) => seen.push(e),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        app.ok_json(app.get(&format!("/api/v1/properties/{code}")).await, StatusCode::OK).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no night audit for {business_date}");
}

/// A property that does not mark no-shows (the default: nothing in the
/// create body) still rolls its business date and dirties occupied rooms,
/// but its unchecked arrivals stay confirmed and nothing is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn night_audit_leaves_unchecked_arrivals_alone_when_the_property_does_not_mark_no_shows() {
    let clock = Arc::new(ManualClock::new(at(D1, 10, 0)));
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    property_marking(&app, "OFF", "02:30", 4, None).await;
    let cfg = app.ok_json(app.get("/api/v1/properties/OFF").await, StatusCode::OK).await;
    assert_eq!(cfg["marks_no_shows"], false);
    let mut events = app.app.events().subscribe();
    let (d2, d3) = (plus(D1, 1), plus(D1, 2));
    let unchecked = book(&app, "OFF", "STD", D1, 3).await; // in house, but the PMS never told saluran
    let arrived = book(&app, "OFF", "STD", D1, 2).await;
    let one_night = book(&app, "OFF", "DLX", D1, 1).await;
    assert_eq!(act(&app, &app.admin, "OFF", &arrived, "check-in", Some(r#"{"room": "S1"}"#)).await.0, StatusCode::OK);
    assert_eq!(sold_on(&store, "OFF", "STD", &[D1, d2, d3]).await, [2, 2, 1]);

    clock.set(at(d2, 2, 31));
    let (audit, seen) = audit_event(&app, "OFF", &mut events, d2).await;
    assert_eq!(audit["no_shows"], json!([]), "{audit}");
    assert_eq!(audit["marks_no_shows"], false, "{audit}");
    assert_eq!(audit["rooms_dirtied"], json!(["S1"]), "{audit}");
    assert_eq!(store.get_business_date(&PropertyCode::parse("OFF").unwrap()).await.unwrap(), Some(d2));
    assert_eq!(room_status(&app, "OFF", "S1").await, "occupied_dirty", "the audit still dirties occupied rooms");
    // Give a stray sweep every chance to show itself.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for id in [&unchecked, &arrived, &one_night] {
        assert_eq!(reservation(&app, "OFF", id).await["status"], "confirmed", "{id}");
    }
    assert_eq!(sold_on(&store, "OFF", "STD", &[D1, d2, d3]).await, [2, 2, 1], "nothing released");
    assert_eq!(sold(&store, "OFF", "DLX", D1).await, 1);
    let evs: Vec<Published> = seen.into_iter().chain(drain(&mut events)).collect();
    assert!(evs.iter().all(|e| e.kind().as_str() != "booking.no_show" && e.kind().as_str() != "night_audit.completed"), "{evs:?}");
    // The guest in house can still be checked in after the audit.
    assert_eq!(act(&app, &app.admin, "OFF", &unchecked, "check-in", None).await.0, StatusCode::OK);
    app.stop().await;
}

/// `PATCH /properties/{p}` turns no-show marking on and off: admin only,
/// strict body, and the running property follows it at its next audit, for
/// arrivals from the day it was turned on only (`no_shows_from`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patching_marks_no_shows_is_admin_only_strict_and_counts_from_its_day_at_the_next_audit() {
    let clock = Arc::new(ManualClock::new(at(D1, 10, 0)));
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    property_marking(&app, "PT", "02:30", 4, Some(false)).await;
    let code = PropertyCode::parse("PT").unwrap();
    let patch = |token: &str, body: &str| {
        app.client
            .patch(format!("{}/api/v1/properties/PT", app.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let (d2, d3, d4) = (plus(D1, 1), plus(D1, 2), plus(D1, 3));

    // Who may: admin only.
    for role in [Role::RevenueManager, Role::FrontDesk, Role::Housekeeping] {
        let t = app.token(role, "default", &["PT"]).await;
        let r = patch(&t, r#"{"marks_no_shows": true}"#).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role:?}");
    }
    let elsewhere = app.token(Role::Admin, "default", &["ELSEWHERE"]).await;
    assert_eq!(patch(&elsewhere, r#"{"marks_no_shows": true}"#).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(patch("slr_nope", r#"{"marks_no_shows": true}"#).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // A strict body.
    for bad in [
        r#"{}"#,
        r#"{"marks_no_shows": "yes"}"#,
        r#"{"marks_no_shows": 1}"#,
        r#"{"marks_no_shows": null}"#,
        r#"{"marks_no_shows": true, "night_audit_time": "03:00"}"#,
        r#"{"marks_no_shows": true, "no_shows_from": "10/03/2027"}"#,
        r#"{"marks_no_shows": true, "no_shows_from": 20270310}"#,
    ] {
        let r = patch(&app.admin, bad).await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_default();
        assert_eq!((status, code_of(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"), "{bad}: {v}");
    }
    // An explicit start date: only with marking on, and not in the future
    // (the property's local date is D1).
    for bad in [json!({"marks_no_shows": false, "no_shows_from": D1}), json!({"marks_no_shows": true, "no_shows_from": d2})] {
        let r = patch(&app.admin, &bad.to_string()).await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_default();
        assert_eq!(
            (status, code_of(&v), v["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("no_shows_from")),
            "{bad}: {v}"
        );
    }
    assert_eq!(patch(&app.admin, "{").await.unwrap().status(), StatusCode::BAD_REQUEST);
    let r = app
        .client
        .patch(format!("{}/api/v1/properties/NOPE", app.base))
        .bearer_auth(&app.admin)
        .json(&json!({"marks_no_shows": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!store.find_property(&code).await.unwrap().unwrap().marks_no_shows, "refused calls change nothing");

    // Off: the audit of D2 marks nothing.
    let mut events = app.app.events().subscribe();
    let first = book(&app, "PT", "STD", D1, 3).await;
    clock.set(at(d2, 2, 31));
    let (audit, _) = audit_event(&app, "PT", &mut events, d2).await;
    assert_eq!((audit["no_shows"].clone(), audit["marks_no_shows"].clone()), (json!([]), json!(false)));
    assert_eq!(reservation(&app, "PT", &first).await["status"], "confirmed");

    // On, while the property is running, on D2 (local): the GET (the
    // actor's config) shows it at once, and marking begins on D2. The next
    // audit marks the D2 arrival never checked in, but not `first`, which
    // arrived before marking was on (in house, as far as saluran can tell):
    // it stays confirmed and keeps its nights (decision 0004).
    assert_eq!(v_of(&app, "PT").await["no_shows_from"], Value::Null);
    let second = book(&app, "PT", "STD", d2, 2).await;
    let r = patch(&app.admin, r#"{"marks_no_shows": true}"#).await.unwrap();
    let v = app.ok_json(r, StatusCode::OK).await;
    assert_eq!((v["code"].clone(), v["marks_no_shows"].clone(), v["no_shows_from"].clone()), (json!("PT"), json!(true), json!(d2)), "{v}");
    let cfg = v_of(&app, "PT").await;
    assert_eq!((cfg["marks_no_shows"].clone(), cfg["no_shows_from"].clone()), (json!(true), json!(d2)));
    let stored = store.find_property(&code).await.unwrap().unwrap();
    assert_eq!((stored.marks_no_shows, stored.no_shows_from), (true, Some(d2)));
    assert_eq!(sold_on(&store, "PT", "STD", &[d2, d3]).await, [2, 2]);
    clock.set(at(d3, 2, 31));
    let (audit, _) = audit_event(&app, "PT", &mut events, d3).await;
    assert_eq!(audit["marks_no_shows"], true, "{audit}");
    let named: Vec<String> = serde_json::from_value(audit["no_shows"].clone()).unwrap();
    assert_eq!(named, vec![second.clone()], "only the arrival since marking began");
    assert_eq!(reservation(&app, "PT", &first).await["status"], "confirmed", "an arrival before marking began is never swept");
    assert_eq!(reservation(&app, "PT", &second).await["status"], "no_show");
    assert_eq!(sold_on(&store, "PT", "STD", &[d2, d3]).await, [2, 1], "second's D3 released, first's kept; D2 is history");

    // On again while on (a day later): the day marking began is kept.
    let v = app.ok_json(patch(&app.admin, r#"{"marks_no_shows": true}"#).await.unwrap(), StatusCode::OK).await;
    assert_eq!((v["marks_no_shows"].clone(), v["no_shows_from"].clone()), (json!(true), json!(d2)), "{v}");

    // Off again: the date is cleared and the next audit leaves the next
    // unchecked arrival alone.
    let third = book(&app, "PT", "STD", d3, 2).await;
    let v = app.ok_json(patch(&app.admin, r#"{"marks_no_shows": false}"#).await.unwrap(), StatusCode::OK).await;
    assert_eq!((v["marks_no_shows"].clone(), v["no_shows_from"].clone()), (json!(false), Value::Null), "{v}");
    assert_eq!(store.find_property(&code).await.unwrap().unwrap().no_shows_from, None);
    clock.set(at(d4, 2, 31));
    let (audit, _) = audit_event(&app, "PT", &mut events, d4).await;
    assert_eq!((audit["no_shows"].clone(), audit["marks_no_shows"].clone()), (json!([]), json!(false)));
    assert_eq!(reservation(&app, "PT", &third).await["status"], "confirmed");
    assert_eq!(sold(&store, "PT", "STD", d4).await, 1);
    assert_eq!(reservation(&app, "PT", &first).await["status"], "confirmed");

    // On again on D4, backdated to D3 by the operator (their D3 arrivals did
    // reach saluran): the D5 audit marks `third` (D3), still not `first`.
    let body = json!({"marks_no_shows": true, "no_shows_from": d3}).to_string();
    let v = app.ok_json(patch(&app.admin, &body).await.unwrap(), StatusCode::OK).await;
    assert_eq!((v["marks_no_shows"].clone(), v["no_shows_from"].clone()), (json!(true), json!(d3)), "{v}");
    clock.set(at(plus(D1, 4), 2, 31));
    let (audit, _) = audit_event(&app, "PT", &mut events, plus(D1, 4)).await;
    assert_eq!(audit["no_shows"], json!([third]), "{audit}");
    assert_eq!(reservation(&app, "PT", &first).await["status"], "confirmed");
    app.stop().await;
}

/// The night's winner rolled the business date and crashed before marking
/// the no-shows: the next node to activate the property finishes the sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_interrupted_by_a_crash_is_finished_on_the_next_activation() {
    let clock = Arc::new(ManualClock::new(at(D1, 10, 0)));
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    property(&app, "CR", "02:30", 2).await;
    let absent = book(&app, "CR", "STD", D1, 2).await;
    app.stop().await;
    // What the crashed winner left behind: the date rolled, nothing marked.
    let code = PropertyCode::parse("CR").unwrap();
    let d2 = plus(D1, 1);
    store.set_business_date(&code, d2, Some(D1)).await.unwrap();
    assert_eq!(sold(&store, "CR", "STD", d2).await, 1);
    clock.set(at(d2, 3, 0));
    let app = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    let (app_r, id) = (&app, absent.as_str());
    wait_for("the finished sweep", || async move { reservation(app_r, "CR", id).await["status"] == "no_show" }).await;
    assert_eq!(sold(&store, "CR", "STD", d2).await, 0);
    assert_eq!(sold(&store, "CR", "STD", D1).await, 1, "the closed night is history");
    app.stop().await;
}

async fn sold_on(store: &Arc<dyn Store>, code: &str, rt: &str, days: &[Date]) -> Vec<u16> {
    let mut out = Vec::new();
    for d in days {
        out.push(sold(store, code, rt, *d).await);
    }
    out
}

/// Check-ins racing the audit that marks the same arrivals: every
/// reservation ends either checked in (its nights held, its check-in
/// answered 200) or a no-show (its remaining nights released, its check-in
/// refused with 409), never both, and the sold counts agree.
async fn check_ins_race_the_audit(nodes: &[&TestApp], store: &Arc<dyn Store>, clock: &ManualClock, code: &str) {
    let first = nodes[0];
    let n = 8;
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(book(first, code, "STD", D1, 2).await);
    }
    let d2 = plus(D1, 1);
    assert_eq!(sold(store, code, "STD", d2).await, n);
    // Every node's property is active (and so audits on its ticks).
    for node in nodes {
        reservation(node, code, &ids[0]).await;
    }
    clock.set(at(d2, 2, 31));
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let node = nodes[i % nodes.len()];
        let url = format!("{}/api/v1/properties/{code}/reservations/{id}/check-in", node.base);
        let req = node.client.post(url).bearer_auth(node.admin.clone());
        tasks.push(tokio::spawn(async move {
            // Spread over the audit's first ticks.
            tokio::time::sleep(Duration::from_millis(40 * i as u64)).await;
            let r = req.send().await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            (status, v)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    wait_for("the audit", || async move { store.get_business_date(&PropertyCode::parse(code).unwrap()).await.unwrap() == Some(d2) }).await;
    // Let every node's sweep finish.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut checked_in = 0;
    for (id, (status, body)) in ids.iter().zip(&answers) {
        let r = reservation(first, code, id).await;
        match (r["status"].as_str(), r["checked_in_at"].is_string()) {
            (Some("confirmed"), true) => {
                assert_eq!(*status, StatusCode::OK, "{id} checked in; its answer: {body}");
                checked_in += 1;
            }
            (Some("no_show"), false) => {
                assert_eq!((*status, code_of(body)), (StatusCode::CONFLICT, "reservation_no_show"), "{id} is a no-show");
            }
            other => panic!("{id} ended inconsistent: {other:?} {r}"),
        }
    }
    assert_eq!(sold(store, code, "STD", D1).await, n, "the closed night is untouched");
    assert_eq!(sold(store, code, "STD", d2).await, checked_in, "held nights = checked-in guests ({checked_in} of {n})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_ins_racing_the_night_audit_end_consistent() {
    let clock = Arc::new(ManualClock::new(at(D1, 10, 0)));
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    property(&app, "RACE", "02:30", 10).await;
    check_ins_race_the_audit(&[&app], &store, &clock, "RACE").await;
    app.stop().await;
}

/// The same race across two nodes on one PostgreSQL: each node's shard
/// decides on its own reads, and the room type's version makes the loser
/// re-read the reservation and decide again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_ins_racing_the_night_audit_on_two_nodes_end_consistent() {
    let Some(store) = saluran::testing::fresh_postgres().await else { return };
    let clock = Arc::new(ManualClock::new(at(D1, 10, 0)));
    let a = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    property(&a, "TWIN", "02:30", 10).await;
    let b = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    check_ins_race_the_audit(&[&a, &b], &store, &clock, "TWIN").await;
    a.stop().await;
    b.stop().await;
}

/// An OTA booking `id` for room type STD (OTA room STD1) from `check_in`.
fn ota(action: saluran_channels::BookingAction, id: &str, revision: &str, check_in: Date, nights: i64) -> String {
    let rooms = if action == saluran_channels::BookingAction::Cancel {
        vec![]
    } else {
        vec![saluran_channels::BookedRoom {
            ota_room: "STD1".into(),
            ota_rate: Some("BAR1".into()),
            check_in,
            check_out: plus(check_in, nights),
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
        guest_name: Some("Made".into()),
        currency: Some("IDR".into()),
        total: None,
    };
    saluran_channels::opentravel::res_notif_rq(&b, "echo", jiff::Timestamp::now())
}

/// An OTA cancellation of a no-show keeps it a no-show and releases
/// nothing again (the delivery is recorded and acknowledged); an OTA
/// modification reinstates it on its new dates, taking only those nights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ota_cancel_or_modify_of_a_no_show_neither_re_releases_nor_double_counts() {
    use saluran_channels::BookingAction::{Cancel, Modify, New};
    let clock = Arc::new(ManualClock::new(at(D1, 10, 0)));
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_clocked(store.clone(), settings(), clock.clone()).await;
    property(&app, "OTA", "02:30", 4).await;
    // A connection whose pushes go nowhere: only its webhook matters here.
    let r = app
        .post(
            "/api/v1/properties/OTA/channels",
            &json!({"code": "BDC", "profile": "opentravel", "preset": "booking", "endpoint": "http://127.0.0.1:9/ota",
                    "hotel_code": "H-OT", "credentials": {"username": "u", "password": "p"},
                    "webhook_auth": {"username": "hook", "password": "hook-secret-123"},
                    "mappings": [{"room_type": "STD", "rate_plan": "STD-BAR", "ota_room": "STD1", "ota_rate": "BAR1"}]}),
        )
        .await;
    app.ok_json(r, StatusCode::CREATED).await;
    let post = |body: String| {
        app.client
            .post(format!("{}/webhooks/opentravel/OTA/BDC", app.base))
            .basic_auth("hook", Some("hook-secret-123"))
            .header("content-type", "application/xml")
            .body(body)
            .send()
    };
    for id in ["OTA-C", "OTA-M"] {
        let r = post(ota(New, id, "2027-03-01T10:00:00Z", D1, 3)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    }
    let (d2, d3, d4) = (plus(D1, 1), plus(D1, 2), plus(D1, 3));
    assert_eq!(sold_on(&store, "OTA", "STD", &[D1, d2, d3]).await, [2, 2, 2]);
    clock.set(at(d2, 2, 31));
    let by_external = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .find_reservation_by_external(&PropertyCode::parse("OTA").unwrap(), &saluran_domain::ChannelCode::parse("BDC").unwrap(), id)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let no_show = saluran_domain::reservation::ReservationStatus::NoShow;
    for id in ["OTA-C", "OTA-M"] {
        wait_for("the no-shows", || async move { by_external(id).await.status == no_show }).await;
    }
    assert_eq!(sold_on(&store, "OTA", "STD", &[D1, d2, d3]).await, [2, 0, 0]);

    // The OTA cancels one: still a no-show, nothing released twice.
    let r = post(ota(Cancel, "OTA-C", "2027-03-11T08:00:00Z", D1, 0)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    assert_eq!(by_external("OTA-C").await.status, no_show);
    assert_eq!(sold_on(&store, "OTA", "STD", &[D1, d2, d3]).await, [2, 0, 0]);

    // The OTA moves the other to D3..D5: confirmed again, holding D3 and D4
    // once; the no-show's released nights are not released again.
    let r = post(ota(Modify, "OTA-M", "2027-03-11T09:00:00Z", d3, 2)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    let m = by_external("OTA-M").await;
    assert_eq!((m.status, m.check_in), (saluran_domain::reservation::ReservationStatus::Confirmed, d3));
    assert_eq!(sold_on(&store, "OTA", "STD", &[D1, d2, d3, d4]).await, [2, 0, 1, 1]);
    app.stop().await;
}
