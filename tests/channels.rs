//! The channel manager end to end: the real server, real OTA simulators on
//! loopback (one per profile), real HTTP both ways.

mod common;

use common::{day, spawn_app_with, test_settings, TestApp};
use reqwest::StatusCode;
use saluran_sim::{BookingSpec, FaultConfig, FaultKind, Profile, RedeliverSpec, Sim, SimConfig, SimHandle};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WEBHOOK_PASSWORD: &str = "hook-secret-123";

/// The limit of the test presets (elements per message); the simulators
/// enforce the same, as a real OTA does.
const MAX_UPDATES: usize = 1000;
/// The `agoda` test preset: OpenTravel without minimum stays through, and a
/// small message limit, so that a handful of ranges needs several messages.
const AGODA_MAX_UPDATES: usize = 10;

/// Presets with test-sized timings: short timeouts and backoffs, polling
/// every 200 ms. `booking` carries minimum stays through (the simulator reads
/// `ArrivalDateBased`), `agoda` does not.
fn fast_presets() -> String {
    let dir = std::env::temp_dir().join("saluran-tests").join(format!("presets-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, profile, poll, max, through) in [
        ("booking", "opentravel", 0, MAX_UPDATES, true),
        ("agoda", "opentravel", 0, AGODA_MAX_UPDATES, false),
        ("tiketcom", "alpinebits", 1, MAX_UPDATES, false),
        ("traveloka", "jsonrest", 1, MAX_UPDATES, true),
    ] {
        let text = format!(
            "name = \"{name}\"\ndisplay_name = \"{name} (test)\"\nprofile = \"{profile}\"\nauth = \"basic\"\nrequests_per_minute = 6000\n\
             account_requests_per_minute = 60000\nmax_updates_per_request = {max}\nhorizon_days = 730\npoll_interval_secs = {poll}\n\
             timeout_secs = 1\nmax_tries = 5\ndebounce_ms = 20\nmin_backoff_ms = 20\nmax_backoff_ms = 200\nafter_dead_letter_ms = 300\n\
             min_stay_through = {through}\n"
        );
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    }
    dir.display().to_string()
}

/// What the preset `name` of the test presets says reaches its OTA.
fn carried_by(app_presets_dir: &str, name: &str) -> Vec<saluran_channels::AriField> {
    let presets = saluran::presets::Presets::load(Some(std::path::Path::new(app_presets_dir))).unwrap();
    presets.get(name).unwrap().carries()
}

async fn spawn() -> TestApp {
    spawn_with_presets(fast_presets()).await
}

async fn spawn_with_presets(dir: String) -> TestApp {
    let mut s = test_settings();
    s.presets_dir = dir;
    spawn_app_with(saluran::testing::fresh_sqlite().await, s).await
}

struct Sims {
    ot: SimHandle,
    ab: SimHandle,
    jr: SimHandle,
}

/// One simulator per profile, each connected to `property` through the API.
async fn connect(app: &TestApp, property: &str) -> Sims {
    let ot = Sim::start(SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass").with_max_updates(MAX_UPDATES).with_hub_webhook(
        format!("{}/webhooks/opentravel/{property}/BDC", app.base),
        "bdc-hook",
        WEBHOOK_PASSWORD,
    ))
    .await
    .unwrap();
    let ab = Sim::start(SimConfig::new(Profile::Alpinebits, "H-AB", "hub", "ota-pass").with_max_updates(MAX_UPDATES)).await.unwrap();
    let jr = Sim::start(SimConfig::new(Profile::Jsonrest, "H-JR", "hub", "ota-key").with_max_updates(MAX_UPDATES).with_hub_webhook(
        format!("{}/webhooks/jsonrest/{property}/TVL", app.base),
        "",
        WEBHOOK_PASSWORD,
    ))
    .await
    .unwrap();
    let mappings = json!([
        {"room_type": "STD", "rate_plan": "STD-BAR", "ota_room": "STD1", "ota_rate": "BAR1"},
        {"room_type": "DLX", "rate_plan": "DLX-BAR", "ota_room": "DLX1", "ota_rate": "BAR1"},
    ]);
    for (code, profile, preset, endpoint, hotel, creds, user) in [
        ("BDC", "opentravel", "booking", ot.base_url(), "H-OT", json!({"username": "hub", "password": "ota-pass"}), "bdc-hook"),
        (
            "TKT",
            "alpinebits",
            "tiketcom",
            format!("{}/alpinebits", ab.base_url()),
            "H-AB",
            json!({"username": "hub", "password": "ota-pass"}),
            "tkt-hook",
        ),
        ("TVL", "jsonrest", "traveloka", format!("{}/api", jr.base_url()), "H-JR", json!({"api_key": "ota-key"}), "tvl-hook"),
    ] {
        let r = app
            .post(
                &format!("/api/v1/properties/{property}/channels"),
                &json!({"code": code, "profile": profile, "preset": preset, "endpoint": endpoint, "hotel_code": hotel,
                        "credentials": creds, "webhook_auth": {"username": user, "password": WEBHOOK_PASSWORD}, "mappings": mappings}),
            )
            .await;
        app.ok_json(r, StatusCode::CREATED).await;
    }
    Sims { ot, ab, jr }
}

/// The hub's calendar for the mapped rooms over `days` offsets.
async fn hub_calendar(app: &TestApp, property: &str, from: i64, to: i64) -> Value {
    app.ok_json(app.get(&format!("/api/v1/properties/{property}/ari?from={}&to={}", day(from), day(to))).await, StatusCode::OK).await
}

/// What an OTA should believe for one room/rate on one date, per the hub, in
/// the form the hub sends it (DESIGN §5): a minimum stay of none is 1, a
/// maximum of none is 0, flags are stated.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    available: u32,
    rate: Option<rust_decimal::Decimal>,
    occupancy_rates: Vec<(u8, rust_decimal::Decimal)>,
    min_stay: u16,
    min_stay_through: u16,
    max_stay: u16,
    cta: bool,
    ctd: bool,
    stop_sell: bool,
}

fn expected(inv: &Value, rate: &Value) -> Expected {
    let num = |v: &Value| v.as_u64().unwrap_or(0) as u16;
    let mut occupancy_rates: Vec<(u8, rust_decimal::Decimal)> = rate["occupancy_rates"]
        .as_object()
        .map(|m| m.iter().map(|(a, r)| (a.parse().unwrap(), r.as_str().unwrap().parse().unwrap())).collect())
        .unwrap_or_default();
    occupancy_rates.sort_by_key(|(a, _)| *a);
    Expected {
        available: inv["available"].as_i64().unwrap().max(0) as u32,
        rate: rate["rate"].as_str().map(|s| s.parse().unwrap()),
        occupancy_rates,
        min_stay: num(&rate["min_stay"]).max(1),
        min_stay_through: num(&rate["min_stay_through"]).max(1),
        max_stay: num(&rate["max_stay"]),
        cta: rate["closed_to_arrival"].as_bool().unwrap(),
        ctd: rate["closed_to_departure"].as_bool().unwrap(),
        stop_sell: inv["stop_sell"].as_bool().unwrap() || rate["stop_sell"].as_bool().unwrap(),
    }
}

/// Differences between what a simulator believes and the hub's state, on
/// every field the simulator's profile carries (`CARRIES` in the codecs):
/// availability, rates per occupancy, min stay (arrival and through), max
/// stay, CTA, CTD, stop-sell. A cleared restriction must be believed cleared:
/// an OTA that was never told (a value left out) still has the old one.
fn differences(sim: &SimHandle, cal: &Value) -> Vec<String> {
    use saluran_channels::AriField as F;
    let carries: &[F] = match sim.profile() {
        Profile::Opentravel => saluran_channels::opentravel::CARRIES,
        Profile::Alpinebits => saluran_channels::alpinebits::CARRIES,
        Profile::Jsonrest => saluran_channels::jsonrest::CARRIES,
    };
    differences_carrying(sim, cal, carries)
}

/// [`differences`] on the fields `carries` only: a field the channel's preset
/// does not send (e.g. `min_stay_through = false`) is not carried, and not compared.
fn differences_carrying(sim: &SimHandle, cal: &Value, carries: &[saluran_channels::AriField]) -> Vec<String> {
    use saluran_channels::AriField as F;
    let view = sim.view();
    let mut out = Vec::new();
    for rt in cal["room_types"].as_array().unwrap() {
        let room = format!("{}1", rt["code"].as_str().unwrap());
        let bar = &rt["rate_plans"][0];
        for (inv, rate) in rt["days"].as_array().unwrap().iter().zip(bar["days"].as_array().unwrap()) {
            let date: jiff::civil::Date = inv["date"].as_str().unwrap().parse().unwrap();
            let want = expected(inv, rate);
            if sim.profile() == Profile::Alpinebits {
                let want = if want.stop_sell { 0 } else { want.available };
                let got = view.cell(&room, "", date).and_then(|c| c.available);
                if got != Some(want) {
                    out.push(format!("alpinebits {room} {date}: sim {got:?} hub {want}"));
                }
                continue;
            }
            let rate_cell = view.cell(&room, "BAR1", date);
            let cell = rate_cell.or_else(|| view.cell(&room, "", date));
            let got = |f: &dyn Fn(&saluran_sim::CellView) -> Option<String>| rate_cell.and_then(f).or_else(|| cell.and_then(f));
            let mut diff = |field: F, got: Option<String>, want: String| {
                if carries.contains(&field) && got.as_deref() != Some(want.as_str()) {
                    out.push(format!("{:?} {room} {date} {field:?}: sim {got:?} hub {want}", sim.profile()));
                }
            };
            diff(F::Availability, got(&|c| c.available.map(|a| a.to_string())), want.available.to_string());
            diff(F::Rate, got(&|c| c.rate_amount.map(|r| r.normalize().to_string())).or(Some("none".into())), {
                want.rate.map_or("none".into(), |r| r.normalize().to_string())
            });
            let occ = |v: &[(u8, rust_decimal::Decimal)]| format!("{:?}", v.iter().map(|(a, r)| (*a, r.normalize())).collect::<Vec<_>>());
            diff(F::OccupancyRates, got(&|c| (!c.occupancy_rates.is_empty()).then(|| occ(&c.occupancy_rates))).or(Some(occ(&[]))), {
                occ(&want.occupancy_rates)
            });
            diff(F::MinStayArrival, got(&|c| c.min_stay.map(|m| m.to_string())), want.min_stay.to_string());
            diff(F::MinStayThrough, got(&|c| c.min_stay_through.map(|m| m.to_string())), want.min_stay_through.to_string());
            diff(F::MaxStay, got(&|c| c.max_stay.map(|m| m.to_string())), want.max_stay.to_string());
            diff(F::ClosedToArrival, got(&|c| c.cta.map(|b| b.to_string())), want.cta.to_string());
            diff(F::ClosedToDeparture, got(&|c| c.ctd.map(|b| b.to_string())), want.ctd.to_string());
            // A stop-sell may sit on the room or on the rate at the OTA.
            let sim_stop = rate_cell.and_then(|c| c.stop_sell).unwrap_or(false) || cell.and_then(|c| c.stop_sell).unwrap_or(false);
            diff(F::StopSell, Some(sim_stop.to_string()), want.stop_sell.to_string());
        }
    }
    out
}

async fn wait_converged(
    app: &TestApp,
    property: &str,
    sims: &[&SimHandle],
    from: i64,
    to: i64,
    within: Duration,
) -> Result<Duration, Vec<String>> {
    let started = Instant::now();
    loop {
        let cal = hub_calendar(app, property, from, to).await;
        let diffs: Vec<String> = sims.iter().flat_map(|s| differences(s, &cal)).collect();
        if diffs.is_empty() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            return Err(diffs.into_iter().take(10).collect());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ari_reaches_every_profile_and_channel_status_is_reported() {
    let app = spawn().await;
    app.seed_property("CHAN", 4).await;
    let sims = connect(&app, "CHAN").await;
    let all = [&sims.ot, &sims.ab, &sims.jr];
    wait_converged(&app, "CHAN", &all, 0, 60, Duration::from_secs(20)).await.expect("initial full sync");
    let r = app
        .post(
            "/api/v1/properties/CHAN/ari",
            &json!({"updates": [
                {"room_type": "STD", "rate_plan": "STD-BAR", "from": day(3), "to": day(9), "rate": "1250000", "min_stay": 2},
                {"room_type": "STD", "from": day(5), "to": day(6), "availability": 1},
                {"room_type": "DLX", "from": day(7), "to": day(7), "stop_sell": true},
            ]}),
        )
        .await;
    app.ok_json(r, StatusCode::OK).await;
    let took = wait_converged(&app, "CHAN", &all, 0, 60, Duration::from_secs(20)).await.expect("ARI change converged");
    eprintln!("ARI change applied at all three simulators in {took:?}");
    for s in all {
        assert_eq!(s.view().regressions, 0, "{:?}", s.profile());
    }
    let status = app.ok_json(app.get("/api/v1/properties/CHAN/channels/BDC").await, StatusCode::OK).await;
    assert_eq!(status["profile"], "opentravel");
    assert!(status["sync"]["last_success_at"].is_string(), "{status}");
    assert_eq!(status["sync"]["dead_letters"], 0);
    assert!(status.get("credentials").is_none() && !status.to_string().contains("ota-pass"), "secrets never leave: {status}");
    let health = app.ok_json(app.client.get(format!("{}/health", app.base)).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(health["checks"]["queue_failed"], 0);
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("saluran_channel_push_requests_total"), "push metrics exported");
    sims.ot.stop().await;
    sims.ab.stop().await;
    sims.jr.stop().await;
    app.stop().await;
}

/// Issue 8 item 1: restrictions set, then cleared (min 3 → 0, max 7 → 0,
/// min through 2 → 0, CTA/CTD/stop-sell on → off) reach every profile that
/// carries them. OTA messages are deltas: a clear left out of the message
/// leaves the OTA on the old value for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleared_restrictions_reach_every_profile() {
    let app = spawn().await;
    app.seed_property("CLEAR", 4).await;
    let sims = connect(&app, "CLEAR").await;
    let all = [&sims.ot, &sims.ab, &sims.jr];
    wait_converged(&app, "CLEAR", &all, 0, 30, Duration::from_secs(20)).await.expect("initial full sync");
    let set = json!({"updates": [
        {"room_type": "STD", "rate_plan": "STD-BAR", "from": day(3), "to": day(9), "min_stay": 3, "max_stay": 7, "min_stay_through": 2,
         "closed_to_arrival": true, "closed_to_departure": true, "stop_sell": true},
        {"room_type": "DLX", "from": day(4), "to": day(5), "stop_sell": true},
    ]});
    app.ok_json(app.post("/api/v1/properties/CLEAR/ari", &set).await, StatusCode::OK).await;
    wait_converged(&app, "CLEAR", &all, 0, 30, Duration::from_secs(20)).await.expect("restrictions set");
    let cell = sims.ot.view().cell("STD1", "BAR1", day(5).parse().unwrap()).cloned().expect("cell");
    assert_eq!(
        (cell.min_stay, cell.max_stay, cell.min_stay_through, cell.cta, cell.ctd),
        (Some(3), Some(7), Some(2), Some(true), Some(true))
    );
    let clear = json!({"updates": [
        {"room_type": "STD", "rate_plan": "STD-BAR", "from": day(3), "to": day(9), "min_stay": 0, "max_stay": 0, "min_stay_through": 0,
         "closed_to_arrival": false, "closed_to_departure": false, "stop_sell": false},
        {"room_type": "DLX", "from": day(4), "to": day(5), "stop_sell": false},
    ]});
    app.ok_json(app.post("/api/v1/properties/CLEAR/ari", &clear).await, StatusCode::OK).await;
    wait_converged(&app, "CLEAR", &all, 0, 30, Duration::from_secs(20)).await.expect("clears reached every OTA");
    for s in [&sims.ot, &sims.jr] {
        let cell = s.view().cell("STD1", "BAR1", day(5).parse().unwrap()).cloned().expect("cell");
        assert_eq!(
            (cell.min_stay, cell.min_stay_through, cell.max_stay, cell.cta, cell.ctd, cell.stop_sell),
            (Some(1), Some(1), Some(0), Some(false), Some(false), Some(false)),
            "{:?}",
            s.profile()
        );
    }
    sims.ot.stop().await;
    sims.ab.stop().await;
    sims.jr.stop().await;
    app.stop().await;
}

/// Connects one OpenTravel simulator to `property` as channel `code` with `preset`.
async fn connect_ot(app: &TestApp, property: &str, code: &str, preset: &str, sim: &SimHandle) {
    let mappings = json!([
        {"room_type": "STD", "rate_plan": "STD-BAR", "ota_room": "STD1", "ota_rate": "BAR1"},
        {"room_type": "DLX", "rate_plan": "DLX-BAR", "ota_room": "DLX1", "ota_rate": "BAR1"},
    ]);
    let body = json!({"code": code, "profile": "opentravel", "preset": preset, "endpoint": sim.base_url(), "hotel_code": "H-OT",
        "credentials": {"username": "hub", "password": "ota-pass"}, "webhook_auth": {"username": format!("{code}-hook"), "password": WEBHOOK_PASSWORD},
        "mappings": mappings});
    app.ok_json(app.post(&format!("/api/v1/properties/{property}/channels"), &body).await, StatusCode::CREATED).await;
}

/// Issue 8 follow-ups to items 1 and 9 (OpenTravel): a preset without
/// `min_stay_through` never sends `ArrivalDateBased` (an OTA that ignores the
/// attribute would take the through minimum as an arrival minimum), and the
/// oracle, comparing what that preset carries, still converges; the preset's
/// limit of 10 elements per message holds at a simulator that refuses more,
/// with ranges writing 4 elements each (availability, through, CTA, CTD).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_without_min_stay_through_never_sends_it_and_messages_stay_within_the_limit() {
    use saluran_channels::AriField as F;
    let dir = fast_presets();
    let app = spawn_with_presets(dir.clone()).await;
    app.seed_property("NOTHRU", 3).await;
    let sim = Sim::start(SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass").with_max_updates(AGODA_MAX_UPDATES)).await.unwrap();
    connect_ot(&app, "NOTHRU", "AGD", "agoda", &sim).await;
    let carries = carried_by(&dir, "agoda");
    assert!(!carries.contains(&F::MinStayThrough) && carries.contains(&F::MinStayArrival), "{carries:?}");
    let converged = |within: Duration| {
        let (app, sim, carries) = (&app, &sim, &carries);
        async move {
            let started = Instant::now();
            loop {
                let cal = hub_calendar(app, "NOTHRU", 0, 40).await;
                let diffs = differences_carrying(sim, &cal, carries);
                if diffs.is_empty() {
                    return;
                }
                assert!(started.elapsed() < within, "not converged: {:?}", &diffs[..diffs.len().min(10)]);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    converged(Duration::from_secs(30)).await;
    // A different value every day: one range per day and room, each with
    // availability, min stay (arrival and through), CTA and CTD.
    let updates: Vec<Value> = (0..30)
        .map(|i| {
            json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(i), "to": day(i), "min_stay": 2 + i % 3,
                   "min_stay_through": 4 + i % 2, "closed_to_arrival": i % 2 == 0, "closed_to_departure": i % 3 == 0})
        })
        .collect();
    app.ok_json(app.post("/api/v1/properties/NOTHRU/ari", &json!({"updates": updates})).await, StatusCode::OK).await;
    converged(Duration::from_secs(30)).await;
    let view = sim.view();
    for i in 0..30 {
        let cell = view.cell("STD1", "BAR1", day(i).parse().unwrap()).cloned().expect("cell");
        assert_eq!(cell.min_stay_through, None, "never sent");
        assert_eq!(cell.min_stay, Some(2 + i as u16 % 3), "the arrival minimum is not overwritten by a through one");
    }
    let stats = sim.stats();
    let refused: u64 = stats.requests.values().flat_map(|by| by.iter().filter(|(s, _)| s.as_str() == "400").map(|(_, n)| *n)).sum();
    assert_eq!(refused, 0, "no message over the limit: {:?}", stats.requests);
    // 30 ranges × 3 elements (availability + LOS, CTA, CTD) at 10 a message.
    let sent = stats.requests.get("OTA_HotelAvailNotif").and_then(|by| by.get("200")).copied().unwrap_or(0);
    assert!(sent >= 9, "split into several messages: {:?}", stats.requests);
    let status = app.ok_json(app.get("/api/v1/properties/NOTHRU/channels/AGD").await, StatusCode::OK).await;
    assert_eq!(status["sync"]["dead_letters"], 0, "{status}");
    sim.stop().await;
    app.stop().await;
}

/// The preset's `max_answer_bytes` is the cap the connection reads answers
/// with: at 64 bytes, the simulator's ordinary success RS is already too large.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_answer_bytes_is_read_from_the_preset() {
    let dir = fast_presets();
    let booking = std::fs::read_to_string(std::path::Path::new(&dir).join("booking.toml")).unwrap();
    let tiny = booking.replace("name = \"booking\"", "name = \"tinyanswers\"") + "max_answer_bytes = 64\n";
    std::fs::write(std::path::Path::new(&dir).join("tinyanswers.toml"), tiny).unwrap();
    let app = spawn_with_presets(dir).await;
    app.seed_property("TINYANS", 2).await;
    let sim = Sim::start(SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass")).await.unwrap();
    connect_ot(&app, "TINYANS", "BDC", "tinyanswers", &sim).await;
    let started = Instant::now();
    let status = loop {
        let status = app.ok_json(app.get("/api/v1/properties/TINYANS/channels/BDC").await, StatusCode::OK).await;
        if status["sync"]["dead_letters"].as_i64().unwrap_or(0) > 0 {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no dead letter: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status["sync"]["last_error"].as_str().unwrap_or_default().contains("answer larger than 64 bytes"), "{status}");
    sim.stop().await;
    app.stop().await;
}

/// Issue 8 follow-up to item 9: an answer over the preset's cap fails the try;
/// when the tries run out it is in the channel's `last_error` and counted in
/// `/metrics` for that property and channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_shows_in_sync_status_and_metrics() {
    let app = spawn().await;
    app.seed_property("BIGANS", 2).await;
    let sim = Sim::start(SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass")).await.unwrap();
    sim.set_faults(FaultConfig { oversized_bytes: 2 << 20, ..FaultConfig::always(FaultKind::Oversized) }).unwrap();
    connect_ot(&app, "BIGANS", "BDC", "booking", &sim).await;
    let started = Instant::now();
    let status = loop {
        let status = app.ok_json(app.get("/api/v1/properties/BIGANS/channels/BDC").await, StatusCode::OK).await;
        if status["sync"]["dead_letters"].as_i64().unwrap_or(0) > 0 {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no dead letter: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error = status["sync"]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("answer larger than 1048576 bytes"), "{status}");
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("saluran_channel_oversized_answers_total") && l.contains(r#"property="BIGANS""#) && l.contains(r#"channel="BDC""#)
        })
        .unwrap_or_else(|| panic!("no oversized-answer series for BIGANS/BDC:\n{metrics}"));
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 5.0, "every try counted: {line}");
    sim.stop().await;
    app.stop().await;
}

/// A hostile or internal endpoint: whatever its answer's body says, only a
/// status and a short reason reach `sync.last_error`, the dead letters and
/// `/metrics` (an internal page was read through `last_error` before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ota_answer_bodies_never_reach_last_error() {
    for (backend, store) in saluran::testing::backends().await {
        eprintln!("measured: backend {backend}");
        answer_bodies_stay_out_on(store).await;
    }
}

async fn answer_bodies_stay_out_on(store: std::sync::Arc<dyn saluran_domain::store::Store>) {
    use axum::http::{StatusCode as S, Uri};
    const SECRET: &str = "INTERNAL-SECRET-7f3a9c";
    // One loopback server, three behaviours by path prefix.
    let server = axum::Router::new().fallback(|uri: Uri| async move {
        let body = format!("<html><body>{SECRET} admin password hunter2 {SECRET}</body></html>");
        let p = uri.path();
        if p.starts_with("/s500") {
            (S::INTERNAL_SERVER_ERROR, body)
        } else if p.starts_with("/s400") {
            (S::BAD_REQUEST, body)
        } else if p.starts_with("/xml") {
            (S::OK, format!(r#"<OTA_HotelAvailNotifRS xmlns="http://www.opentravel.org/OTA/2003/05" Version="1.0"><Errors><Error Type="3" Code="187" ShortText="{SECRET}">{SECRET}</Error></Errors></OTA_HotelAvailNotifRS>"#))
        } else {
            (S::OK, body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = tokio::spawn(async move { axum::serve(listener, server).await });
    let mut settings = test_settings();
    settings.presets_dir = fast_presets();
    let app = spawn_app_with(store, settings).await;
    app.seed_property("LEAK", 2).await;
    let mappings = json!([{"room_type": "STD", "rate_plan": "STD-BAR", "ota_room": "STD1", "ota_rate": "BAR1"}]);
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cases = [
        ("E500", format!("{base}/s500"), "transient: HTTP 500"),
        ("E400", format!("{base}/s400"), "rejected: HTTP 400"),
        ("EPAGE", format!("{base}/page"), "rejected: invalid answer: xml_"),
        ("EXML", format!("{base}/xml"), "rejected: OTA refused: 3/187"),
        ("EDOWN", closed, "transient: connection refused"),
    ];
    for (code, endpoint, _) in &cases {
        let r = app
            .post(
                "/api/v1/properties/LEAK/channels",
                &json!({"code": code, "profile": "opentravel", "preset": "booking", "endpoint": endpoint,
                        "hotel_code": "H-LEAK", "credentials": {"username": "hub", "password": "ota-pass"},
                        "webhook_auth": {"username": "leak-hook", "password": WEBHOOK_PASSWORD}, "mappings": mappings}),
            )
            .await;
        app.ok_json(r, StatusCode::CREATED).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for (code, _, want) in &cases {
        let status = loop {
            let s = app.ok_json(app.get(&format!("/api/v1/properties/LEAK/channels/{code}")).await, StatusCode::OK).await;
            if s["sync"]["last_error"].is_string() || Instant::now() > deadline {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let last_error = status["sync"]["last_error"].as_str().unwrap_or_else(|| panic!("{code}: no last_error: {status}"));
        eprintln!("measured: {code}: last_error = {last_error:?} ({} characters)", last_error.len());
        assert!(last_error.starts_with(want), "{code}: {last_error}");
        // What the store keeps (status and dead letters) says the same.
        let (property, channel) =
            (saluran_domain::PropertyCode::parse("LEAK").unwrap(), saluran_domain::ChannelCode::parse(*code).unwrap());
        let stored = app.store.load_sync_status(&property, &channel).await.unwrap().expect("sync status stored");
        assert!(stored.last_error.is_some(), "{code}: {stored:?}");
        let stored = format!("{stored:?}");
        for leaked in [SECRET, "hunter2", "html", "body", "admin"] {
            assert!(!status.to_string().contains(leaked), "{code}: the answer's body leaked ({leaked}): {status}");
            assert!(!stored.contains(leaked), "{code}: the stored status leaked ({leaked}): {stored}");
        }
    }
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains(SECRET));
    app.stop().await;
    served.abort();
}

/// Channel metrics carry the property: two properties with a channel of the
/// same code are two series, not one merged one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_metrics_are_labelled_by_property() {
    use saluran_channels::BookingAction::New;
    let app = spawn().await;
    let mut sims = Vec::new();
    for p in ["MLA", "MLB"] {
        app.seed_property(p, 3).await;
        sims.push(connect(&app, p).await);
    }
    for (p, s) in ["MLA", "MLB"].iter().zip(&sims) {
        let all = [&s.ot, &s.ab, &s.jr];
        wait_converged(&app, p, &all, 0, 30, Duration::from_secs(20)).await.expect("initial full sync");
        let b = saluran_channels::opentravel::res_notif_rq(
            &ota_booking(New, &format!("{p}-1"), "2026-11-01T10:00:00Z", "STD1", 3, 1),
            "e",
            jiff::Timestamp::now(),
        );
        assert_eq!(post_ota(&app, p, b, "bdc-hook", WEBHOOK_PASSWORD).await.status(), StatusCode::OK);
    }
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let series = |name: &str, property: &str| {
        metrics.lines().any(|l| l.starts_with(name) && l.contains(r#"channel="BDC""#) && l.contains(&format!(r#"property="{property}""#)))
    };
    for name in ["saluran_channel_push_requests_total", "saluran_channel_pending_cells", "saluran_webhook_deliveries_total"] {
        for p in ["MLA", "MLB"] {
            assert!(
                series(name, p),
                "no {name} series for channel BDC of {p}:\n{}",
                metrics.lines().filter(|l| l.starts_with(name)).collect::<Vec<_>>().join("\n")
            );
        }
    }
    for s in sims {
        s.ot.stop().await;
        s.ab.stop().await;
        s.jr.stop().await;
    }
    app.stop().await;
}

/// I4: with 30 % of calls failing (429, 5xx, timeouts, resets), random ARI
/// edits; once the faults stop, every simulator converges to the hub, and
/// no simulator ever took an older state over a newer one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otas_converge_after_faults_and_never_regress() {
    let app = spawn().await;
    app.seed_property("FAULTY", 5).await;
    let sims = connect(&app, "FAULTY").await;
    let all = [&sims.ot, &sims.ab, &sims.jr];
    let faults = FaultConfig {
        fraction: 0.3,
        kinds: vec![FaultKind::TooManyRequests, FaultKind::ServerError, FaultKind::Timeout, FaultKind::Reset, FaultKind::Oversized],
        latency_ms: 5,
        timeout_ms: 1500,
        // Over the 1 MiB cap on ARI answers: a failed try, retried.
        oversized_bytes: 2 << 20,
    };
    for s in all {
        s.set_faults(faults.clone()).unwrap();
    }
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    for i in 0..60 {
        let from = (next() % 50) as i64;
        let len = (next() % 5) as i64;
        // Rates, availability, stop-sells, and restrictions set AND cleared
        // (0 / false), on the rate plan and on the room.
        let set = next() % 2 == 0;
        let n = |set: bool, v: u64| if set { v } else { 0 };
        let update = match i % 5 {
            0 => {
                json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(from), "to": day(from + len), "rate": format!("{}", 800_000 + next() % 400_000)})
            }
            1 => json!({"room_type": "STD", "from": day(from), "to": day(from + len), "availability": next() % 6}),
            2 => json!({"room_type": "DLX", "from": day(from), "to": day(from + len), "stop_sell": set}),
            3 => json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(from), "to": day(from + len),
                        "min_stay": n(set, 2 + next() % 2), "min_stay_through": n(set, 2), "max_stay": n(set, 7 + next() % 3),
                        "closed_to_arrival": set, "stop_sell": next() % 3 == 0}),
            _ => json!({"room_type": "DLX", "rate_plan": "DLX-BAR", "from": day(from), "to": day(from + len),
                        "closed_to_departure": set, "min_stay": n(next() % 2 == 0, 3), "max_stay": n(set, 10)}),
        };
        app.ok_json(app.post("/api/v1/properties/FAULTY/ari", &json!({"updates": [update]})).await, StatusCode::OK).await;
        if i % 10 == 0 {
            app.book("FAULTY", "STD", "STD-BAR", 20 + i, 1).await;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for s in all {
        s.set_faults(FaultConfig::none()).unwrap();
    }
    let took =
        wait_converged(&app, "FAULTY", &all, 0, 60, Duration::from_secs(120)).await.expect("converged within 2 minutes after faults stop");
    eprintln!("converged {took:?} after the faults stopped");
    for s in all {
        let v = s.view();
        assert_eq!(v.regressions, 0, "{:?} saw an older state after a newer one: {:?}", s.profile(), v);
        assert!(s.stats().faults.values().sum::<u64>() > 0, "faults really happened");
    }
    sims.ot.stop().await;
    sims.ab.stop().await;
    sims.jr.stop().await;
    app.stop().await;
}

fn ota_booking(
    action: saluran_channels::BookingAction,
    id: &str,
    revision: &str,
    room: &str,
    check_in: i64,
    nights: i64,
) -> saluran_channels::InboundBooking {
    let ci: jiff::civil::Date = day(check_in).parse().unwrap();
    let co: jiff::civil::Date = day(check_in + nights).parse().unwrap();
    saluran_channels::InboundBooking {
        action,
        hotel_code: "H-OT".into(),
        ota_reservation_id: id.into(),
        revision: revision.into(),
        rooms: if action == saluran_channels::BookingAction::Cancel {
            vec![]
        } else {
            vec![saluran_channels::BookedRoom {
                ota_room: room.into(),
                ota_rate: Some("BAR1".into()),
                check_in: ci,
                check_out: co,
                adults: 2,
                nightly: vec![],
                total: None,
            }]
        },
        guest_name: Some("Wayan Sudarma".into()),
        currency: Some("IDR".into()),
        total: None,
    }
}

async fn post_ota(app: &TestApp, property: &str, body: String, user: &str, pass: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/webhooks/opentravel/{property}/BDC", app.base))
        .basic_auth(user, Some(pass))
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn sold(app: &TestApp, property: &str, rt: &str, offset: i64) -> i64 {
    app.inventory(property, rt, offset).await["sold"].as_i64().unwrap()
}

/// Issue 8 follow-up to item 4: a revision stamped without an offset is a
/// time at the property. West of UTC (America/New_York, -05:00 in January): New
/// at 10:00-05:00 (15:00Z), then a Modify stamped 12:00 (17:00Z there; 12:00Z
/// read as UTC, i.e. older) is applied. East (Asia/Makassar, +08:00): New at
/// 10:00+08:00 (02:00Z), a Modify stamped 09:30 (01:30Z there; 09:30Z as UTC,
/// i.e. newer) is stale. On SQLite and PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_less_revisions_are_read_in_the_property_time_zone() {
    for (backend, store) in saluran::testing::backends().await {
        eprintln!("backend {backend}");
        offset_less_revisions_on(store).await;
    }
}

async fn offset_less_revisions_on(store: std::sync::Arc<dyn saluran_domain::store::Store>) {
    use saluran_channels::BookingAction::{Modify, New};
    let mut settings = test_settings();
    settings.presets_dir = fast_presets();
    let app = spawn_app_with(store, settings).await;
    let sim = Sim::start(SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass")).await.unwrap();
    let ci = 10;
    let year = &day(ci)[..4];
    for (property, tz, new_rev, modify_rev, applied) in [
        ("TZWEST", "America/New_York", "-01-15T10:00:00-05:00", "-01-15T12:00:00", true),
        ("TZEAST", "Asia/Makassar", "-01-15T10:00:00+08:00", "-01-15T09:30:00", false),
    ] {
        let body = json!({"code": property, "name": "Hotel", "timezone": tz, "currency": "IDR"});
        app.ok_json(app.post("/api/v1/properties", &body).await, StatusCode::CREATED).await;
        let p = format!("/api/v1/properties/{property}");
        for rt in ["STD", "DLX"] {
            let body = json!({"code": rt, "name": rt, "max_occupancy": 3});
            app.ok_json(app.post(&format!("{p}/room-types"), &body).await, StatusCode::CREATED).await;
            let body = json!({"number": format!("{rt}1"), "room_type": rt, "floor": 1});
            app.ok_json(app.post(&format!("{p}/rooms"), &body).await, StatusCode::CREATED).await;
            let body = json!({"code": format!("{rt}-BAR"), "room_type": rt, "name": "BAR"});
            app.ok_json(app.post(&format!("{p}/rate-plans"), &body).await, StatusCode::CREATED).await;
        }
        connect_ot(&app, property, "BDC", "booking", &sim).await;
        let new = ota_booking(New, &format!("{property}-1"), &format!("{year}{new_rev}"), "STD1", ci, 1);
        let body = saluran_channels::opentravel::res_notif_rq(&new, "e1", jiff::Timestamp::now());
        assert_eq!(post_ota(&app, property, body, "BDC-hook", WEBHOOK_PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(sold(&app, property, "STD", ci + 1).await, 0);
        // The modification adds a second night.
        let modify = ota_booking(Modify, &format!("{property}-1"), &format!("{year}{modify_rev}"), "STD1", ci, 2);
        let body = saluran_channels::opentravel::res_notif_rq(&modify, "e2", jiff::Timestamp::now());
        assert_eq!(post_ota(&app, property, body, "BDC-hook", WEBHOOK_PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(sold(&app, property, "STD", ci).await, 1, "{property}");
        assert_eq!(sold(&app, property, "STD", ci + 1).await, i64::from(applied), "{property} ({tz}): modify applied = {applied}");
    }
    sim.stop().await;
    app.stop().await;
}

/// Issue 9 item 1: an `OTA_CancelRQ` naming only the booking cancels every
/// room line of it, also past the 20th (lines `ID#21`.. were once probed for
/// one by one up to `#20` and stayed sold). A 25-room booking, then its
/// cancellation: all 25 lines cancelled, nothing sold. On SQLite and
/// PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_booking_cancels_all_of_its_many_room_lines() {
    for (backend, store) in saluran::testing::backends().await {
        eprintln!("backend {backend}");
        cancel_many_lines_on(store).await;
    }
}

async fn cancel_many_lines_on(store: std::sync::Arc<dyn saluran_domain::store::Store>) {
    use saluran_channels::opentravel::res_notif_rq;
    use saluran_channels::BookingAction::{Cancel, New};
    use saluran_domain::reservation::ReservationStatus;
    const ROOMS: usize = 25;
    let mut settings = test_settings();
    settings.presets_dir = fast_presets();
    let app = spawn_app_with(store, settings).await;
    app.seed_property("MANY", ROOMS as u32).await;
    let sim = Sim::start(SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass")).await.unwrap();
    connect_ot(&app, "MANY", "BDC", "booking", &sim).await;
    let (ci, id) = (6, "GRP-1");
    let mut new = ota_booking(New, id, "2026-11-01T10:00:00Z", "STD1", ci, 1);
    new.rooms = vec![new.rooms[0].clone(); ROOMS];
    let r = post_ota(&app, "MANY", res_notif_rq(&new, "e1", jiff::Timestamp::now()), "BDC-hook", WEBHOOK_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    assert_eq!(sold(&app, "MANY", "STD", ci).await, ROOMS as i64, "every room line booked");
    let property = saluran_domain::PropertyCode::parse("MANY").unwrap();
    let channel = saluran_domain::ChannelCode::parse("BDC").unwrap();
    let lines = app.store.find_booking_lines(&property, &channel, id).await.unwrap();
    assert_eq!(lines.len(), ROOMS);

    let cancel = ota_booking(Cancel, id, "2026-11-01T12:00:00Z", "STD1", ci, 0);
    let started = Instant::now();
    let r = post_ota(&app, "MANY", res_notif_rq(&cancel, "e2", jiff::Timestamp::now()), "BDC-hook", WEBHOOK_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    eprintln!("measured: OTA_CancelRQ of a {ROOMS}-line booking answered in {:?}", started.elapsed());
    let started = Instant::now();
    let lines = app.store.find_booking_lines(&property, &channel, id).await.unwrap();
    eprintln!("measured: find_booking_lines ({} lines) took {:?}", lines.len(), started.elapsed());
    let still: Vec<String> = app
        .store
        .find_booking_lines(&property, &channel, id)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.status != ReservationStatus::Cancelled)
        .filter_map(|r| r.external_id)
        .collect();
    assert!(still.is_empty(), "lines left confirmed after the cancellation: {still:?}");
    assert_eq!(sold(&app, "MANY", "STD", ci).await, 0, "no room held");
    sim.stop().await;
    app.stop().await;
}

/// I1: bookings pushed by the OTA simulator (with redelivery until
/// acknowledged), each then replayed 1-5 times concurrently and later, are
/// applied once and always get their original acknowledgement back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_bookings_apply_once_and_replays_get_the_original_ack() {
    let app = spawn().await;
    app.seed_property("PUSH", 40).await;
    let sims = connect(&app, "PUSH").await;
    let check_in: jiff::civil::Date = day(10).parse().unwrap();
    let ids = sims.ot.create_bookings(&BookingSpec { count: 30, ..BookingSpec::new("STD1", "BAR1", check_in, 2) }).unwrap();
    assert_eq!(ids.len(), 30);
    let rows = sims.ot.wait_deliveries(Duration::from_secs(30), |rows| rows.len() == 30 && rows.iter().all(|r| r.delivery.acked)).await;
    let rows = rows.unwrap_or_else(|rows| panic!("not all acknowledged: {rows:?}"));
    assert_eq!(sold(&app, "PUSH", "STD", 10).await, 30);
    // Replays: concurrent copies, then again later.
    for copies in [5, 1, 3] {
        sims.ot.redeliver_all(&RedeliverSpec { copies: Some(copies), latest_only: false });
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let after =
        sims.ot.wait_deliveries(Duration::from_secs(30), |rows| rows.iter().all(|r| r.delivery.acks >= 10)).await.unwrap_or_else(|r| r);
    for r in &after {
        assert_eq!(r.delivery.confirmation_ids.len(), 1, "the original acknowledgement every time: {r:?}");
    }
    assert_eq!(rows.len(), after.len());
    assert_eq!(sold(&app, "PUSH", "STD", 10).await, 30, "applied once");
    assert_eq!(sold(&app, "PUSH", "STD", 11).await, 30);
    let stored = app
        .store
        .list_reservations(&saluran_domain::PropertyCode::parse("PUSH").unwrap(), &saluran_domain::RoomTypeCode::parse("STD").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.len(), 30);
    assert!(stored.iter().all(|r| r.source == "BDC" && r.external_id.is_some()));
    sims.ot.stop().await;
    sims.ab.stop().await;
    sims.jr.stop().await;
    app.stop().await;
}

/// New, modify and cancel delivered in all six orders end in the same
/// state: the booking exists, cancelled, and holds no room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_of_new_modify_cancel_converges() {
    use saluran_channels::opentravel::res_notif_rq;
    use saluran_channels::BookingAction::{Cancel, Modify, New};
    let app = spawn().await;
    app.seed_property("ORDER", 10).await;
    let _sims = connect(&app, "ORDER").await;
    let orders = [
        [New, Modify, Cancel],
        [New, Cancel, Modify],
        [Modify, New, Cancel],
        [Modify, Cancel, New],
        [Cancel, New, Modify],
        [Cancel, Modify, New],
    ];
    for (n, order) in orders.iter().enumerate() {
        let id = format!("ORD-{n}");
        for action in order {
            let (rev, nights) = match action {
                New => ("2026-11-01T10:00:00Z", 2),
                Modify => ("2026-11-01T11:00:00Z", 3),
                Cancel => ("2026-11-01T12:00:00Z", 0),
            };
            let b = ota_booking(*action, &id, rev, "STD1", 5, nights);
            let r = post_ota(&app, "ORDER", res_notif_rq(&b, "echo", jiff::Timestamp::now()), "bdc-hook", WEBHOOK_PASSWORD).await;
            assert_eq!(r.status(), StatusCode::OK, "{order:?} {action:?}: {}", r.text().await.unwrap_or_default());
        }
        let res = app
            .store
            .find_reservation_by_external(
                &saluran_domain::PropertyCode::parse("ORDER").unwrap(),
                &saluran_domain::ChannelCode::parse("BDC").unwrap(),
                &id,
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{order:?}: the booking is stored"));
        assert_eq!(res.status, saluran_domain::reservation::ReservationStatus::Cancelled, "{order:?}");
    }
    for d in 5..9 {
        assert_eq!(sold(&app, "ORDER", "STD", d).await, 0, "no room held after any order");
    }
    app.stop().await;
}

/// I2: an OTA booking into zero availability is stored, flagged, alerted,
/// and the oversold date is closed on every simulator at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overbooking_is_kept_flagged_and_stop_sold_everywhere() {
    use saluran_channels::opentravel::res_notif_rq;
    let app = spawn().await;
    app.seed_property("OVER", 1).await;
    let sims = connect(&app, "OVER").await;
    let all = [&sims.ot, &sims.ab, &sims.jr];
    wait_converged(&app, "OVER", &all, 0, 60, Duration::from_secs(20)).await.unwrap();
    app.ok_json(app.book("OVER", "STD", "STD-BAR", 12, 1).await, StatusCode::CREATED).await;
    let b = ota_booking(saluran_channels::BookingAction::New, "OVB-1", "2026-11-02T08:00:00Z", "STD1", 12, 1);
    let r = post_ota(&app, "OVER", res_notif_rq(&b, "e1", jiff::Timestamp::now()), "bdc-hook", WEBHOOK_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "OTA bookings are never refused");
    let inv = app.inventory("OVER", "STD", 12).await;
    assert_eq!(inv["sold"], 2);
    assert_eq!(inv["available"], -1);
    assert_eq!(inv["stop_sell"], true, "auto stop-sell");
    let res = app
        .store
        .find_reservation_by_external(
            &saluran_domain::PropertyCode::parse("OVER").unwrap(),
            &saluran_domain::ChannelCode::parse("BDC").unwrap(),
            "OVB-1",
        )
        .await
        .unwrap()
        .unwrap();
    assert!(res.overbooked);
    let took = wait_converged(&app, "OVER", &all, 0, 60, Duration::from_secs(10)).await.expect("stop-sell reached every simulator");
    eprintln!("stop-sell reached all simulators in {took:?}");
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("saluran_overbookings_total"));
    sims.ot.stop().await;
    sims.ab.stop().await;
    sims.jr.stop().await;
    app.stop().await;
}

/// Bookings from the pull profiles (AlpineBits GuestRequests, JSON
/// revisions feed) are applied and acknowledged after commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_bookings_are_applied_then_acknowledged() {
    let app = spawn().await;
    app.seed_property("PULL", 10).await;
    let sims = connect(&app, "PULL").await;
    let ci: jiff::civil::Date = day(8).parse().unwrap();
    sims.ab.create_bookings(&BookingSpec { count: 2, ..BookingSpec::new("STD1", "BAR1", ci, 1) }).unwrap();
    sims.jr.create_bookings(&BookingSpec { count: 3, ..BookingSpec::new("DLX1", "BAR1", ci, 1) }).unwrap();
    let ab = sims.ab.wait_deliveries(Duration::from_secs(20), |r| r.len() == 2 && r.iter().all(|r| r.delivery.acked)).await;
    assert!(ab.is_ok(), "alpinebits acknowledged: {ab:?}");
    let jr = sims.jr.wait_deliveries(Duration::from_secs(20), |r| r.len() == 3 && r.iter().all(|r| r.delivery.acked)).await;
    assert!(jr.is_ok(), "jsonrest acknowledged: {jr:?}");
    assert_eq!(sold(&app, "PULL", "STD", 8).await, 2);
    // DLX has 2 rooms: the third OTA booking is kept, as an overbooking.
    assert_eq!(sold(&app, "PULL", "DLX", 8).await, 3);
    assert_eq!(app.inventory("PULL", "DLX", 8).await["available"], -1);
    // Polling again does not apply anything twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sold(&app, "PULL", "STD", 8).await, 2);
    assert_eq!(sold(&app, "PULL", "DLX", 8).await, 3);
    sims.ot.stop().await;
    sims.ab.stop().await;
    sims.jr.stop().await;
    app.stop().await;
}

/// I7: hostile or unauthenticated input to the webhooks is refused with a
/// 4xx, applies nothing and leaves the process up and memory flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_webhook_input_is_refused_cleanly() {
    let app = spawn().await;
    app.seed_property("HOSTILE", 5).await;
    let _sims = connect(&app, "HOSTILE").await;
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><OTA_HotelResNotifRQ>&lol3;</OTA_HotelResNotifRQ>"#;
    let xxe =
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><OTA_HotelResNotifRQ>&e;</OTA_HotelResNotifRQ>"#;
    let deep = format!("<OTA_HotelResNotifRQ>{}{}</OTA_HotelResNotifRQ>", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let bad_char = "<OTA_HotelResNotifRQ>&#0;</OTA_HotelResNotifRQ>".to_string();
    let rss_before = rss_kb();
    for (name, body) in [
        ("billion laughs", laughs.to_string()),
        ("external entity", xxe.to_string()),
        ("deep nesting", deep),
        ("invalid char ref", bad_char),
    ] {
        let r = post_ota(&app, "HOSTILE", body, "bdc-hook", WEBHOOK_PASSWORD).await;
        assert!(r.status().is_client_error(), "{name}: {}", r.status());
    }
    let huge = vec![b'a'; 50 * 1024 * 1024];
    let r = app
        .client
        .post(format!("{}/webhooks/opentravel/HOSTILE/BDC", app.base))
        .basic_auth("bdc-hook", Some(WEBHOOK_PASSWORD))
        .body(huge)
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // Authentication comes before parsing.
    let good = saluran_channels::opentravel::res_notif_rq(
        &ota_booking(saluran_channels::BookingAction::New, "AUTH-1", "2026-11-01T10:00:00Z", "STD1", 3, 1),
        "e",
        jiff::Timestamp::now(),
    );
    assert_eq!(post_ota(&app, "HOSTILE", good.clone(), "bdc-hook", "wrong-password").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(post_ota(&app, "HOSTILE", good.clone(), "someone", WEBHOOK_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let r = app.client.post(format!("{}/webhooks/opentravel/HOSTILE/BDC", app.base)).body(good).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // JSON notify: bad and stale signatures.
    let notify = br#"{"event":"booking_revision","property_id":"H-JR"}"#.to_vec();
    let now = jiff::Timestamp::now().as_second();
    for (ts, sig) in
        [(now, "00".repeat(32)), (now - 10_000, saluran_channels::signature::sign(WEBHOOK_PASSWORD.as_bytes(), now - 10_000, &notify))]
    {
        let r = app
            .client
            .post(format!("{}/webhooks/jsonrest/HOSTILE/TVL", app.base))
            .header(saluran_channels::signature::TIMESTAMP_HEADER, ts.to_string())
            .header(saluran_channels::signature::SIGNATURE_HEADER, sig)
            .body(notify.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let good_sig = saluran_channels::signature::sign(WEBHOOK_PASSWORD.as_bytes(), now, &notify);
    let r = app
        .client
        .post(format!("{}/webhooks/jsonrest/HOSTILE/TVL", app.base))
        .header(saluran_channels::signature::TIMESTAMP_HEADER, now.to_string())
        .header(saluran_channels::signature::SIGNATURE_HEADER, good_sig)
        .body(notify)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // Nothing applied, process up, memory flat.
    for d in 0..10 {
        assert_eq!(sold(&app, "HOSTILE", "STD", d).await, 0);
    }
    assert_eq!(app.client.get(format!("{}/health", app.base)).send().await.unwrap().status(), StatusCode::OK);
    let grown = rss_kb().saturating_sub(rss_before);
    eprintln!("RSS grew {grown} KiB over the hostile inputs");
    assert!(grown < 200 * 1024, "memory stayed flat: grew {grown} KiB");
    app.stop().await;
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Auto stop-sell: with a threshold of 1, the booking that leaves one room
/// closes the date on every channel.
/// OTA ids and EchoTokens are capped (OpenTravel StringLength1to64 for ids,
/// 1to128 for EchoToken): a 500 KB EchoToken and a 70-character reservation
/// id are refused with an error RS carrying a machine-readable code, the
/// over-long value is not echoed, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_ota_ids_and_echo_tokens_are_refused() {
    for (backend, store) in saluran::testing::backends().await {
        eprintln!("measured: backend {backend}");
        over_long_values_are_refused_on(store).await;
    }
}

async fn over_long_values_are_refused_on(store: std::sync::Arc<dyn saluran_domain::store::Store>) {
    use saluran_channels::BookingAction::New;
    let mut settings = test_settings();
    settings.presets_dir = fast_presets();
    let app = spawn_app_with(store, settings).await;
    app.seed_property("CAPS", 5).await;
    let _sims = connect(&app, "CAPS").await;
    let stamp = jiff::Timestamp::now();
    let huge_echo = "E".repeat(500 * 1024);
    let with_echo =
        saluran_channels::opentravel::res_notif_rq(&ota_booking(New, "CAP-1", "2026-11-01T10:00:00Z", "STD1", 4, 1), "echo-1", stamp)
            .replace(r#"EchoToken="echo-1""#, &format!(r#"EchoToken="{huge_echo}""#));
    assert!(with_echo.contains(&huge_echo));
    let long_id = "R".repeat(70);
    let with_long_id =
        saluran_channels::opentravel::res_notif_rq(&ota_booking(New, &long_id, "2026-11-01T10:00:00Z", "STD1", 4, 1), "echo-2", stamp);
    assert!(with_long_id.contains(&long_id), "the writer keeps the id as given");
    let long_name =
        saluran_channels::opentravel::res_notif_rq(&ota_booking(New, "CAP-3", "2026-11-01T10:00:00Z", "STD1", 4, 1), "echo-3", stamp)
            .replace("<Surname>Sudarma</Surname>", &format!("<Surname>{}</Surname>", "S".repeat(65)));
    assert!(long_name.contains(&"S".repeat(65)), "{long_name}");
    let long_room =
        saluran_channels::opentravel::res_notif_rq(&ota_booking(New, "CAP-4", "2026-11-01T10:00:00Z", "STD1", 4, 1), "echo-4", stamp)
            .replace(r#"RoomTypeCode="STD1""#, &format!(r#"RoomTypeCode="{}""#, "T".repeat(65)));
    for (name, body, code) in [
        ("500 KB EchoToken", with_echo, "value_too_long"),
        ("70-character reservation id", with_long_id, "value_too_long"),
        ("65-character surname", long_name, "value_too_long"),
        ("65-character room type code", long_room, "value_too_long"),
    ] {
        let r = post_ota(&app, "CAPS", body, "bdc-hook", WEBHOOK_PASSWORD).await;
        let status = r.status();
        let rs = r.text().await.unwrap();
        eprintln!("measured: {name}: HTTP {}, error RS of {} bytes", status.as_u16(), rs.len());
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {rs}");
        assert!(rs.contains("<Errors>") && rs.contains(code), "{name}: an error RS with the code: {rs}");
        assert!(rs.len() < 2_000, "{name}: nothing over-long is echoed ({} bytes)", rs.len());
    }
    assert_eq!(sold(&app, "CAPS", "STD", 4).await, 0, "nothing was booked");
    let caps = saluran_domain::PropertyCode::parse("CAPS").unwrap();
    let stored = app.store.list_reservations(&caps, &saluran_domain::RoomTypeCode::parse("STD").unwrap()).await.unwrap();
    assert!(stored.is_empty(), "no reservation stored: {stored:?}");
    let bdc = saluran_domain::ChannelCode::parse("BDC").unwrap();
    for id in ["CAP-1", long_id.as_str(), "CAP-3", "CAP-4"] {
        assert!(app.store.inbound_history(&caps, &bdc, id).await.unwrap().is_empty(), "no delivery recorded for {id}");
    }
    // At the caps, the same booking is taken.
    let at_cap = saluran_channels::opentravel::res_notif_rq(
        &ota_booking(New, &"R".repeat(64), "2026-11-01T10:00:00Z", "STD1", 4, 1),
        &"E".repeat(128),
        stamp,
    );
    let r = post_ota(&app, "CAPS", at_cap, "bdc-hook", WEBHOOK_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(sold(&app, "CAPS", "STD", 4).await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_stop_sell_fires_at_the_threshold() {
    let mut s = test_settings();
    s.presets_dir = fast_presets();
    s.auto_stop_sell_at = Some(1);
    let app = spawn_app_with(saluran::testing::fresh_sqlite().await, s).await;
    app.seed_property("THRESH", 3).await;
    let sims = connect(&app, "THRESH").await;
    let all = [&sims.ot, &sims.ab, &sims.jr];
    app.ok_json(app.book("THRESH", "STD", "STD-BAR", 9, 1).await, StatusCode::CREATED).await;
    assert_eq!(app.inventory("THRESH", "STD", 9).await["stop_sell"], false, "two rooms left");
    app.ok_json(app.book("THRESH", "STD", "STD-BAR", 9, 1).await, StatusCode::CREATED).await;
    let inv = app.inventory("THRESH", "STD", 9).await;
    assert_eq!((inv["available"].as_i64(), inv["stop_sell"].as_bool()), (Some(1), Some(true)));
    wait_converged(&app, "THRESH", &all, 0, 30, Duration::from_secs(20)).await.expect("the stop-sell reached every channel");
    sims.ot.stop().await;
    sims.ab.stop().await;
    sims.jr.stop().await;
    app.stop().await;
}

/// A modification that moves a booking to another room type frees the old
/// room and takes the new one; the booking stays confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modification_can_move_a_booking_to_another_room_type() {
    use saluran_channels::opentravel::res_notif_rq;
    use saluran_channels::BookingAction::{Modify, New};
    let app = spawn().await;
    app.seed_property("MOVE", 3).await;
    let _sims = connect(&app, "MOVE").await;
    let new = ota_booking(New, "MV-1", "2026-11-01T10:00:00Z", "STD1", 6, 2);
    let r = post_ota(&app, "MOVE", res_notif_rq(&new, "e1", jiff::Timestamp::now()), "bdc-hook", WEBHOOK_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sold(&app, "MOVE", "STD", 6).await, 1);
    let moved = ota_booking(Modify, "MV-1", "2026-11-01T11:00:00Z", "DLX1", 6, 2);
    let body = res_notif_rq(&moved, "e2", jiff::Timestamp::now());
    for _ in 0..2 {
        let r = post_ota(&app, "MOVE", body.clone(), "bdc-hook", WEBHOOK_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    }
    assert_eq!(sold(&app, "MOVE", "STD", 6).await, 0, "old room freed");
    assert_eq!(sold(&app, "MOVE", "DLX", 6).await, 1, "new room taken once");
    assert_eq!(sold(&app, "MOVE", "DLX", 7).await, 1);
    let res = app
        .store
        .find_reservation_by_external(
            &saluran_domain::PropertyCode::parse("MOVE").unwrap(),
            &saluran_domain::ChannelCode::parse("BDC").unwrap(),
            "MV-1",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status, saluran_domain::reservation::ReservationStatus::Confirmed);
    assert_eq!(res.room_type.as_str(), "DLX");
    app.stop().await;
}

/// After a restart, connected properties start by themselves: a pull
/// channel fetches bookings with no request touching the property.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_properties_start_at_boot() {
    let mut settings = test_settings();
    settings.presets_dir = fast_presets();
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_with(store.clone(), settings.clone()).await;
    app.seed_property("BOOT", 4).await;
    let sims = connect(&app, "BOOT").await;
    app.stop().await;
    let app = spawn_app_with(store.clone(), settings).await;
    let ci: jiff::civil::Date = day(4).parse().unwrap();
    sims.ab.create_bookings(&BookingSpec::new("STD1", "BAR1", ci, 1)).unwrap();
    let pulled = sims.ab.wait_deliveries(Duration::from_secs(15), |r| r.len() == 1 && r.iter().all(|r| r.delivery.acked)).await;
    assert!(pulled.is_ok(), "pulled without any request to the property: {pulled:?}");
    assert_eq!(sold(&app, "BOOT", "STD", 4).await, 1);
    sims.ot.stop().await;
    sims.ab.stop().await;
    sims.jr.stop().await;
    app.stop().await;
}

/// A minimal AlpineBits OTA on loopback that hands out canned
/// `OTA_ResRetrieveRS` answers, one after the other as each is acknowledged
/// (an OTA written from the OpenTravel side: `LastModifyDateTime` on a
/// modification that keeps its `CreateDateTime`).
async fn canned_alpinebits(answers: Vec<String>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>, tokio::task::JoinHandle<()>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let acked = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(answers);
    let state = (acked.clone(), answers);
    let app = axum::Router::new().route(
        "/alpinebits",
        axum::routing::post(
            |axum::extract::State((acked, answers)): axum::extract::State<(Arc<AtomicUsize>, Arc<Vec<String>>)>, body: String| async move {
                let xml = |s: String| ([("content-type", "application/xml")], s);
                if body.contains(saluran_channels::alpinebits::ACTION_READ_GUEST_REQUESTS) {
                    let n = acked.load(Ordering::SeqCst);
                    return xml(answers.get(n).cloned().unwrap_or_else(|| saluran_channels::alpinebits::res_retrieve_rs(&[])));
                }
                if body.contains(saluran_channels::alpinebits::ACTION_NOTIF_REPORT_GUEST_REQUESTS) {
                    acked.fetch_add(1, Ordering::SeqCst);
                    return xml(saluran_channels::alpinebits::notif_report_rs_success());
                }
                xml(saluran_channels::alpinebits::freerooms_rs_success())
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let join = tokio::spawn(async move {
        let _ = axum::serve(listener, app.with_state(state)).await;
    });
    (base, acked, join)
}

fn retrieve_rs(status: &str, stamps: &str, check_in: i64, check_out: i64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><OTA_ResRetrieveRS xmlns="http://www.opentravel.org/OTA/2003/05" Version="7.000"><Success/><ReservationsList><HotelReservation {stamps} ResStatus="{status}"><UniqueID Type="14" ID="AB-1"/><RoomStays><RoomStay><RoomTypes><RoomType RoomTypeCode="STD1"/></RoomTypes><RatePlans><RatePlan RatePlanCode="BAR1"/></RatePlans><GuestCounts><GuestCount Count="2"/></GuestCounts><TimeSpan Start="{}" End="{}"/></RoomStay></RoomStays><ResGuests><ResGuest><Profiles><ProfileInfo><Profile><Customer><PersonName><GivenName>Made</GivenName><Surname>Wirawan</Surname></PersonName></Customer></Profile></ProfileInfo></Profiles></ResGuest></ResGuests><ResGlobalInfo><BasicPropertyInfo HotelCode="H-AB"/></ResGlobalInfo></HotelReservation></ReservationsList></OTA_ResRetrieveRS>"#,
        day(check_in),
        day(check_out)
    )
}

/// Issue 8 item 4: a pulled AlpineBits modification that keeps the original
/// `CreateDateTime` (written with an offset) and has a later
/// `LastModifyDateTime` (UTC, fractional seconds) is applied, not
/// acknowledged as stale and dropped (text order put it before the new).
/// On SQLite and PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_alpinebits_modification_ordered_by_last_modify_instant() {
    for (backend, store) in saluran::testing::backends().await {
        let mut s = test_settings();
        s.presets_dir = fast_presets();
        let app = spawn_app_with(store, s).await;
        app.seed_property("PULL", 4).await;
        let created = r#"CreateDateTime="2030-01-01T10:00:00+07:00""#;
        let modified = r#"CreateDateTime="2030-01-01T10:00:00+07:00" LastModifyDateTime="2030-01-01T03:00:00.5Z""#;
        let (base, acked, join) =
            canned_alpinebits(vec![retrieve_rs("Reserved", created, 10, 12), retrieve_rs("Modify", modified, 10, 14)]).await;
        let r = app
            .post(
                "/api/v1/properties/PULL/channels",
                &json!({"code": "TKT", "profile": "alpinebits", "preset": "tiketcom", "endpoint": format!("{base}/alpinebits"),
                        "hotel_code": "H-AB", "credentials": {"username": "hub", "password": "ota-pass"},
                        "webhook_auth": {"username": "tkt-hook", "password": WEBHOOK_PASSWORD},
                        "mappings": [{"room_type": "STD", "rate_plan": "STD-BAR", "ota_room": "STD1", "ota_rate": "BAR1"}]}),
            )
            .await;
        app.ok_json(r, StatusCode::CREATED).await;
        let started = Instant::now();
        while acked.load(std::sync::atomic::Ordering::SeqCst) < 2 && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(acked.load(std::sync::atomic::Ordering::SeqCst) >= 2, "{backend}: both answers acknowledged");
        let property = saluran_domain::PropertyCode::parse("PULL").unwrap();
        let channel = saluran_domain::ChannelCode::parse("TKT").unwrap();
        let res = app.store.find_reservation_by_external(&property, &channel, "AB-1").await.unwrap().expect("pulled booking stored");
        assert_eq!(res.check_out.to_string(), day(14), "{backend}: the modification was applied, not dropped as stale");
        let history = app.store.inbound_history(&property, &channel, "AB-1").await.unwrap();
        let outcomes: Vec<(&str, &str)> = history.iter().map(|r| (r.revision.as_str(), r.outcome.as_str())).collect();
        assert!(outcomes.contains(&("2030-01-01T03:00:00.5Z", "applied")), "{backend}: {outcomes:?}");
        join.abort();
        app.stop().await;
    }
}

/// Issue 9 item 5: a Channel actor that dies mid-push takes its push with it.
/// The simulator answers slowly (latency fault); the connection's actor is
/// killed (no `post_stop`, as a crash), stopped, or replaced (started again
/// with its config) while a push is in flight, and the property restarts it
/// each time: the simulator never sees two ARI requests of the connection in
/// flight at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_actor_that_dies_mid_push_leaves_no_push_in_flight() {
    use saluran_actors::channel::ChannelMsg;
    use saluran_actors::PropertyMsg;
    let app = spawn().await;
    app.seed_property("MIDPUSH", 3).await;
    let sim = Sim::start(SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass").with_max_updates(MAX_UPDATES)).await.unwrap();
    // Below the preset's 1 s timeout: every request is slow, none times out.
    sim.set_faults(FaultConfig { latency_ms: 600, ..FaultConfig::none() }).unwrap();
    connect_ot(&app, "MIDPUSH", "BDC", "booking", &sim).await;
    let handle = app.app.property(&saluran_domain::PropertyCode::parse("MIDPUSH").unwrap()).await.unwrap();
    let code = saluran_domain::ChannelCode::parse("BDC").unwrap();
    let actor = |handle: saluran_actors::PropertyHandle, code: saluran_domain::ChannelCode| async move {
        handle.call(Duration::from_secs(5), |reply| PropertyMsg::ChannelStatus { code, reply }).await.unwrap()
    };
    let in_flight = |sim: &SimHandle| sim.stats().ari_in_flight > 0;
    let mut previous: Option<ractor::ActorId> = None;
    for round in 0..6 {
        // The (re)started actor's own push is in flight.
        let current = loop {
            if let Some(a) = actor(handle.clone(), code.clone()).await {
                if previous != Some(a.get_id()) {
                    break a;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let started = Instant::now();
        while !in_flight(&sim) {
            assert!(started.elapsed() < Duration::from_secs(10), "no push in flight (round {round})");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        previous = Some(current.get_id());
        let current: ractor::ActorRef<ChannelMsg> = current;
        match round % 3 {
            0 => current.kill(),
            1 => current.stop(Some("test".into())),
            _ => {
                let config = app.store.list_channels(handle.code()).await.unwrap().into_iter().find(|c| c.code == code).unwrap();
                handle
                    .call(Duration::from_secs(15), |reply| PropertyMsg::StartChannel { config: Box::new(config), reply })
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
    }
    // The last restarted actor pushes to the end.
    let started = Instant::now();
    loop {
        let status = app.ok_json(app.get("/api/v1/properties/MIDPUSH/channels/BDC").await, StatusCode::OK).await;
        if status["sync"]["last_success_at"].is_string() && !in_flight(&sim) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no push completed: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = sim.stats();
    assert_eq!(stats.max_ari_in_flight, 1, "two pushes of one connection overlapped: {stats:?}");
    sim.stop().await;
    app.stop().await;
}
