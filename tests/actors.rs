//! The actor tree under stress: concurrency (I3), crashes and restarts,
//! passivation, intents re-driven after a crash.

mod common;

use common::{day, spawn_app_on, spawn_app_with, test_settings};
use reqwest::StatusCode;
use saluran_actors::ShardMsg;
use saluran_domain::store::Intent;
use saluran_domain::{PropertyCode, RoomTypeCode};
use serde_json::json;
use std::time::Duration;

/// 200 concurrent direct bookings for the same room type and night, with 7
/// rooms: exactly 7 succeed, the rest get 409, and sold is 7 (I3).
async fn two_hundred_concurrent_bookings_never_oversell(backend: &str, store: std::sync::Arc<dyn saluran_domain::store::Store>) {
    let app = spawn_app_on(store).await;
    app.seed_property("RACE", 7).await;
    let url = format!("{}/api/v1/properties/RACE/reservations", app.base);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let req = app.client.post(&url).bearer_auth(&app.admin).json(&json!({
            "room_type": "STD", "rate_plan": "STD-BAR", "check_in": day(14), "check_out": day(15), "adults": 1, "guest": {"name": format!("Guest {i}")}
        }));
        tasks.push(tokio::spawn(async move { req.send().await.map(|r| r.status()) }));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("{backend}: unexpected {other}"),
        }
    }
    assert_eq!(created, 7, "{backend}");
    assert_eq!(conflicts, 193, "{backend}");
    let inv = app.inventory("RACE", "STD", 14).await;
    assert_eq!(inv["sold"], 7, "{backend}");
    assert_eq!(inv["available"], 0, "{backend}");
    let stored = app.store.list_reservations(&PropertyCode::parse("RACE").unwrap(), &RoomTypeCode::parse("STD").unwrap()).await.unwrap();
    assert_eq!(stored.len(), 7, "{backend}: one row per acknowledged booking");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bookings_never_oversell_on_sqlite() {
    two_hundred_concurrent_bookings_never_oversell("sqlite", saluran::testing::fresh_sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bookings_never_oversell_on_postgres() {
    let Some(store) = saluran::testing::fresh_postgres().await else { return };
    two_hundred_concurrent_bookings_never_oversell("postgres", store).await;
}

/// Two servers (two "nodes") on one PostgreSQL database, both taking
/// bookings for the same night: the calendar version check makes the loser
/// re-read and decide again, so they never oversell together (I3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_never_oversell() {
    let Some(store) = saluran::testing::fresh_postgres().await else { return };
    let a = spawn_app_on(store.clone()).await;
    a.seed_property("TWIN", 5).await;
    let b = spawn_app_on(store.clone()).await;
    let b_token = b.admin.clone();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (base, token) = if i % 2 == 0 { (a.base.clone(), a.admin.clone()) } else { (b.base.clone(), b_token.clone()) };
        let req = a.client.post(format!("{base}/api/v1/properties/TWIN/reservations")).bearer_auth(token).json(&json!({
            "room_type": "STD", "rate_plan": "STD-BAR", "check_in": day(3), "check_out": day(4), "adults": 1, "guest": {"name": "G"}
        }));
        tasks.push(tokio::spawn(async move { req.send().await.map(|r| r.status()) }));
    }
    let mut created = 0;
    for t in tasks {
        let s = t.await.unwrap().unwrap();
        assert!(s == StatusCode::CREATED || s == StatusCode::CONFLICT || s == StatusCode::SERVICE_UNAVAILABLE, "{s}");
        if s == StatusCode::CREATED {
            created += 1;
        }
    }
    assert!(created <= 5, "oversold: {created} bookings for 5 rooms");
    let stored = store.list_reservations(&PropertyCode::parse("TWIN").unwrap(), &RoomTypeCode::parse("STD").unwrap()).await.unwrap();
    assert_eq!(stored.len(), created);
    let cal = store
        .load_calendar(&PropertyCode::parse("TWIN").unwrap(), &RoomTypeCode::parse("STD").unwrap(), jiff::civil::date(2000, 1, 1))
        .await
        .unwrap();
    let d: jiff::civil::Date = day(3).parse().unwrap();
    assert_eq!(usize::from(cal.inventory.get_or_default(d).sold), created);
    a.stop().await;
    b.stop().await;
}

/// A shard that panics in the middle of a stream of bookings is restarted
/// by its property, rebuilds from the store, and no acknowledged booking is
/// lost: sold equals the number of 201s, and each one is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_shard_is_restarted_and_loses_no_acknowledged_write() {
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_on(store.clone()).await;
    app.seed_property("CRASH", 200).await;
    let handle = app.app.property(&PropertyCode::parse("CRASH").unwrap()).await.unwrap();
    let url = format!("{}/api/v1/properties/CRASH/reservations", app.base);
    let mut tasks = Vec::new();
    for i in 0..150 {
        let req = app.client.post(&url).bearer_auth(&app.admin).json(&json!({
            "room_type": "STD", "rate_plan": "STD-BAR", "check_in": day(20), "check_out": day(22), "adults": 1, "guest": {"name": format!("G{i}")}
        }));
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.ok()?;
            if r.status() == StatusCode::CREATED {
                let v: serde_json::Value = r.json().await.ok()?;
                Some(Ok(v["id"].as_str()?.to_owned()))
            } else {
                Some(Err(r.status()))
            }
        }));
        if i == 60 || i == 110 {
            if let Some(shard) = handle.shard("STD") {
                let _ = shard.send_message(ShardMsg::Panic);
            }
        }
        // Spread the stream out so the panics land in the middle of it.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Some(Ok(id)) => acknowledged.push(id),
            Some(Err(s)) => assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "only retryable failures while restarting"),
            None => {}
        }
    }
    assert!(!acknowledged.is_empty());
    // The shard comes back by itself.
    let mut back = false;
    for _ in 0..100 {
        if handle.shard("STD").is_some() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "shard restarted");
    let inv = app.inventory("CRASH", "STD", 20).await;
    assert_eq!(inv["sold"].as_u64().unwrap() as usize, acknowledged.len());
    for id in &acknowledged {
        let r = app.get(&format!("/api/v1/properties/CRASH/reservations/{id}")).await;
        assert_eq!(r.status(), StatusCode::OK, "acknowledged booking {id} is stored");
    }
    // And it takes bookings again.
    assert_eq!(app.book("CRASH", "STD", "STD-BAR", 20, 1).await.status(), StatusCode::CREATED);
    app.stop().await;
}

/// A shard that keeps failing exhausts its restart budget: the failure
/// escalates to the property, which fails and is quarantined by the hub
/// instead of taking the process down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_escalate_to_the_hub() {
    let app = spawn_app_on(saluran::testing::fresh_sqlite().await).await;
    app.seed_property("FLAKY", 2).await;
    let code = PropertyCode::parse("FLAKY").unwrap();
    let h = app.app.property(&code).await.unwrap();
    for _ in 0..30 {
        if let Some(s) = h.shard("STD") {
            let _ = s.send_message(ShardMsg::Panic);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        if app.app.registry().get("FLAKY").is_none() {
            break;
        }
    }
    assert!(app.app.registry().get("FLAKY").is_none(), "the property failed and left the registry");
    let r = app.get("/api/v1/properties/FLAKY").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "quarantined for a while");
    // Other properties are unaffected.
    app.seed_property("STEADY", 1).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_properties_passivate_and_come_back_on_demand() {
    let mut settings = test_settings();
    settings.idle_timeout_secs = 1;
    let app = spawn_app_with(saluran::testing::fresh_sqlite().await, settings).await;
    app.seed_property("SLEEPY", 2).await;
    app.ok_json(app.book("SLEEPY", "STD", "STD-BAR", 4, 1).await, StatusCode::CREATED).await;
    assert_eq!(app.app.registry().active_count(), 1);
    let mut passivated = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if app.app.registry().active_count() == 0 {
            passivated = true;
            break;
        }
    }
    assert!(passivated, "idle property left memory");
    // The next request brings it back with its state.
    assert_eq!(app.inventory("SLEEPY", "STD", 4).await["sold"], 1);
    assert_eq!(app.app.registry().active_count(), 1);
    app.stop().await;
}

/// An ARI batch over two room types recorded as an intent, where the crash
/// came before the second shard applied it: the next activation finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_intents_are_redriven_on_activation() {
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_on(store.clone()).await;
    app.seed_property("INTENT", 2).await;
    app.stop().await;
    let from: jiff::civil::Date = day(2).parse().unwrap();
    let to: jiff::civil::Date = day(4).parse().unwrap();
    let updates = json!([
        {"room_type": "STD", "rate_plan": null, "range": {"start": from, "end": to}, "days": 127, "availability": 1, "rate": null, "occupancy_rates": null,
         "min_stay": null, "min_stay_through": null, "max_stay": null, "closed_to_arrival": null, "closed_to_departure": null, "stop_sell": null},
        {"room_type": "DLX", "rate_plan": null, "range": {"start": from, "end": to}, "days": 127, "availability": null, "rate": null, "occupancy_rates": null,
         "min_stay": null, "min_stay_through": null, "max_stay": null, "closed_to_arrival": null, "closed_to_departure": null, "stop_sell": true},
    ]);
    let code = PropertyCode::parse("INTENT").unwrap();
    store
        .insert_intent(
            &code,
            &Intent {
                id: "crashed-batch".into(),
                kind: "ari".into(),
                payload: json!({"updates": updates}),
                pending_room_types: vec![RoomTypeCode::parse("STD").unwrap(), RoomTypeCode::parse("DLX").unwrap()],
            },
        )
        .await
        .unwrap();
    let app = spawn_app_on(store.clone()).await;
    assert_eq!(app.inventory("INTENT", "STD", 3).await["allotment"], 1);
    assert_eq!(app.inventory("INTENT", "DLX", 3).await["stop_sell"], true);
    assert!(store.pending_intents(&code).await.unwrap().is_empty(), "intent completed");
    app.stop().await;
}

/// Graceful shutdown: bookings answered before the drain are all durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_keeps_every_acknowledged_booking() {
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_on(store.clone()).await;
    app.seed_property("DRAIN", 50).await;
    let mut ok = 0;
    for _ in 0..20 {
        if app.book("DRAIN", "STD", "STD-BAR", 6, 1).await.status() == StatusCode::CREATED {
            ok += 1;
        }
    }
    app.stop().await;
    let cal = store
        .load_calendar(&PropertyCode::parse("DRAIN").unwrap(), &RoomTypeCode::parse("STD").unwrap(), jiff::civil::date(2000, 1, 1))
        .await
        .unwrap();
    assert_eq!(cal.inventory.get_or_default(day(6).parse().unwrap()).sold, ok);
}

/// A flood of writes at one shard meets its bounded ingress: requests past
/// the limit are refused at once with 503 `overloaded` and Retry-After (the
/// mailbox never holds more than the limit), and every booking that was
/// acknowledged is stored and counted, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_shard_holds_its_ingress_bound_and_loses_no_acknowledged_booking() {
    const LIMIT: usize = 4;
    let store = saluran::testing::fresh_sqlite().await;
    let settings = saluran::config::Settings { shard_ingress_limit: LIMIT, ..common::test_settings() };
    let app = spawn_app_with(store.clone(), settings).await;
    app.seed_property("FLOOD", 400).await;
    let handle = app.app.property(&PropertyCode::parse("FLOOD").unwrap()).await.unwrap();

    // Samples the shard's in-flight count all through the flood.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (handle, stop) = (handle.clone(), stop.clone());
        tokio::spawn(async move {
            let mut max_seen = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                max_seen = max_seen.max(handle.shard_in_flight("STD").unwrap_or(0));
                tokio::task::yield_now().await;
            }
            max_seen
        })
    };
    let url = format!("{}/api/v1/properties/FLOOD/reservations", app.base);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let req = app.client.post(&url).bearer_auth(&app.admin).json(&json!({
            "room_type": "STD", "rate_plan": "STD-BAR", "check_in": day(30), "check_out": day(31), "adults": 1, "guest": {"name": format!("F{i}")}
        }));
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            let (status, retry_after) = (r.status(), r.headers().get("retry-after").cloned());
            let body: serde_json::Value = r.json().await.unwrap();
            (status, retry_after, body)
        }));
    }
    let (mut created, mut overloaded) = (0, 0);
    for t in tasks {
        let (status, retry_after, body) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["error"]["code"], "overloaded", "{body}");
                assert!(retry_after.is_some(), "a 503 says when to retry");
                overloaded += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let max_seen = sampler.await.unwrap();
    eprintln!("flood of 300 at a limit of {LIMIT}: {created} created, {overloaded} overloaded, at most {max_seen} in flight");
    assert!(max_seen <= LIMIT, "the shard held {max_seen} requests, over its limit of {LIMIT}");
    assert!(overloaded > 0, "300 at once past a limit of {LIMIT}: some must be refused");
    assert!(created > 0);
    assert_eq!(created + overloaded, 300);
    assert_eq!(handle.shard_in_flight("STD"), Some(0), "every permit is given back");
    let stored = store.list_reservations(&PropertyCode::parse("FLOOD").unwrap(), &RoomTypeCode::parse("STD").unwrap()).await.unwrap();
    assert_eq!(stored.len(), created, "one row per acknowledged booking, none for a refused one");
    let inv = app.inventory("FLOOD", "STD", 30).await;
    assert_eq!(inv["sold"], created);
    // Once the flood is over the shard takes writes again.
    let r = app.book("FLOOD", "STD", "STD-BAR", 30, 1).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    app.stop().await;
}
