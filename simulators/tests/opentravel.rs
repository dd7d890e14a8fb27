//! The `opentravel` simulator: ARI intake, validation, auth, limits, faults, and
//! booking pushes with redelivery to a local hub.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use common::*;
use jiff::Timestamp;
use rust_decimal::Decimal;
use saluran_channels::opentravel as ot;
use saluran_channels::Limits;
use saluran_sim::{BookingSpec, FaultConfig, FaultKind, ModifySpec, Profile, RedeliverSpec, Sim, SimConfig, SimHandle};

const USER: &str = "hubuser";
const PASS: &str = "s3cret";

fn cfg() -> SimConfig {
    SimConfig::new(Profile::Opentravel, "H1", USER, PASS)
}

async fn sim() -> SimHandle {
    Sim::start(cfg()).await.expect("start")
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn avail_body(available: u32, at: &str) -> String {
    ot::avail_notif_rq("H1", &[avail_range("DBL", d(1), d(3), available)], &format!("echo-{available}"), ts(at))
}

async fn post_xml(sim: &SimHandle, path: &str, body: String, auth: Option<(&str, &str)>) -> (u16, String) {
    let mut req = client().post(format!("{}{path}", sim.base_url())).header("content-type", "application/xml").body(body);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.expect("text"))
}

async fn avail(sim: &SimHandle, body: String) -> (u16, String) {
    post_xml(sim, "/OTA_HotelAvailNotif", body, Some((USER, PASS))).await
}

#[tokio::test]
async fn accepts_valid_ari_and_shows_it_in_the_view() {
    let sim = sim().await;
    let (status, body) = avail(&sim, avail_body(5, "2030-01-01T10:00:00Z")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ot::parse_notif_rs(body.as_bytes()), Ok(()));
    assert!(body.contains("EchoToken=\"echo-5\""), "{body}");

    let rates = ot::rate_amount_notif_rq("H1", &[rate_range("DBL", "BAR", d(2), d(4), 1_200_000)], "IDR", "r1", ts("2030-01-01T10:00:01Z"));
    let (status, body) = post_xml(&sim, "/OTA_HotelRateAmountNotif", rates, Some((USER, PASS))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ot::parse_notif_rs(body.as_bytes()), Ok(()));

    // Over HTTP, as tests in other crates see it.
    let v = get_json(&format!("{}/_sim/view", sim.base_url())).await;
    assert_eq!(v["regressions"], 0);
    let cells = v["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 3 + 3);
    let c = cells.iter().find(|c| c["room"] == "DBL" && c["rate"] == "" && c["date"] == "2030-03-02").expect("cell");
    assert_eq!(c["available"], 5);
    assert_eq!(c["min_stay"], 2);
    assert_eq!(c["stop_sell"], false);
    assert_eq!(c["echo"], "echo-5");
    let c = cells.iter().find(|c| c["room"] == "DBL" && c["rate"] == "BAR" && c["date"] == "2030-03-04").expect("cell");
    assert_eq!(c["rate_amount"], "1200000");
    assert_eq!(c["occupancy_rates"][0][0], 1);

    let stats = sim.stats();
    assert_eq!(stats.requests["OTA_HotelAvailNotif"]["200"], 1);
    assert_eq!(stats.requests["OTA_HotelRateAmountNotif"]["200"], 1);
    assert_eq!(stats.messages_applied, 2);
    sim.stop().await;
}

#[tokio::test]
async fn refuses_bad_auth_before_anything_else() {
    let sim = sim().await;
    for auth in [None, Some((USER, "wrong")), Some(("other", PASS))] {
        let (status, body) = post_xml(&sim, "/OTA_HotelAvailNotif", avail_body(5, "2030-01-01T10:00:00Z"), auth).await;
        assert_eq!(status, 401, "{auth:?}");
        assert!(ot::parse_notif_rs(body.as_bytes()).is_err());
    }
    // Even an oversized or malformed body gets 401 first.
    let (status, _) = post_xml(&sim, "/OTA_HotelAvailNotif", "<not xml".into(), None).await;
    assert_eq!(status, 401);
    assert_eq!(cells(&sim), 0);
    assert_eq!(sim.stats().requests["OTA_HotelAvailNotif"]["401"], 4);
    sim.stop().await;
}

#[tokio::test]
async fn refuses_invalid_messages_with_an_error_rs_and_applies_nothing() {
    let sim = Sim::start(cfg().with_max_updates(2)).await.expect("start");
    let good = avail_body(5, "2030-01-01T10:00:00Z");
    let doctype = good.replacen("<OTA_HotelAvailNotifRQ", "<!DOCTYPE x [<!ENTITY a \"b\">]><OTA_HotelAvailNotifRQ", 1);
    let wrong_hotel = good.replace("HotelCode=\"H1\"", "HotelCode=\"OTHER\"");
    let bad_range = good.replace("End=\"2030-03-03\"", "End=\"2030-02-01\"");
    let bad_ts = good.replacen("TimeStamp=\"", "TimeStamp=\"yesterday", 1);
    let many = ot::avail_notif_rq(
        "H1",
        &[avail_range("A", d(1), d(1), 1), avail_range("B", d(1), d(1), 1), avail_range("C", d(1), d(1), 1)],
        "e",
        Timestamp::now(),
    );
    let huge = ot::avail_notif_rq(
        "H1",
        &[avail_range("DBL", jiff::civil::date(2000, 1, 1), jiff::civil::date(2999, 12, 31), 1)],
        "e",
        Timestamp::now(),
    );
    let cases = [
        ("huge range", huge),
        ("malformed", "<OTA_HotelAvailNotifRQ><AvailStatusMessages>".to_string()),
        ("not xml", "{\"json\":true}".to_string()),
        ("doctype", doctype),
        ("wrong root", good.replace("OTA_HotelAvailNotifRQ", "OTA_HotelRateAmountNotifRQ")),
        ("wrong hotel", wrong_hotel),
        ("end before start", bad_range),
        ("bad timestamp", bad_ts),
        ("too many updates", many),
    ];
    for (what, body) in cases {
        let (status, rs) = avail(&sim, body).await;
        assert_eq!(status, 400, "{what}: {rs}");
        let errors = ot::parse_notif_rs(rs.as_bytes()).expect_err(what);
        assert!(!errors.is_empty(), "{what}");
        if what == "doctype" {
            assert!(errors[0].contains("xml_doctype"), "{errors:?}");
        }
    }
    assert_eq!(cells(&sim), 0);
    assert_eq!(sim.stats().messages_refused, 9);

    // Over the body cap (2 MiB): 413.
    let big = format!("{}<!--{}-->", good, "x".repeat(2 * 1024 * 1024));
    let (status, _) = avail(&sim, big).await;
    assert_eq!(status, 413);
    // The good one still goes through.
    assert_eq!(avail(&sim, good).await.0, 200);
    sim.stop().await;
}

/// The limit counts `AvailStatusMessage` elements, as an OTA does: one range
/// with availability, CTA and CTD is three of them, over a limit of 2.
#[tokio::test]
async fn the_update_limit_counts_avail_status_messages_not_ranges() {
    let sim = Sim::start(cfg().with_max_updates(2)).await.expect("start");
    let mut r = avail_range("DBL", d(1), d(3), 4);
    r.values.closed_to_arrival = Some(true);
    r.values.closed_to_departure = Some(false);
    let body = ot::avail_notif_rq("H1", std::slice::from_ref(&r), "e", Timestamp::now());
    assert_eq!(body.matches("<StatusApplicationControl").count(), 3);
    let (status, rs) = avail(&sim, body).await;
    assert_eq!(status, 400, "{rs}");
    assert!(ot::parse_notif_rs(rs.as_bytes()).expect_err("refused")[0].contains("too_many_updates"), "{rs}");
    assert_eq!(cells(&sim), 0);
    // Two elements (availability + CTA) fit.
    r.values.closed_to_departure = None;
    let (status, rs) = avail(&sim, ot::avail_notif_rq("H1", &[r], "e", Timestamp::now())).await;
    assert_eq!(status, 200, "{rs}");
    sim.stop().await;
}

#[tokio::test]
async fn counts_regressions_when_an_older_message_overwrites_a_newer_one() {
    let sim = sim().await;
    assert_eq!(avail(&sim, avail_body(5, "2030-01-01T10:00:02Z")).await.0, 200);
    assert_eq!(avail(&sim, avail_body(4, "2030-01-01T10:00:03Z")).await.0, 200);
    assert_eq!(sim.view().regressions, 0);
    // An old payload resent after a newer one: applied (so the test can see it) and counted.
    assert_eq!(avail(&sim, avail_body(9, "2030-01-01T10:00:01Z")).await.0, 200);
    let v = sim.view();
    assert_eq!(v.regressions, 3);
    assert_eq!(v.cell("DBL", "", d(1)).and_then(|c| c.available), Some(9));
    assert_eq!(v.regression_log.len(), 3);
    sim.stop().await;
}

#[tokio::test]
async fn enforces_the_rate_limit_with_429_and_retry_after() {
    let sim = Sim::start(cfg().with_rpm(2)).await.expect("start");
    assert_eq!(avail(&sim, avail_body(1, "2030-01-01T10:00:00Z")).await.0, 200);
    assert_eq!(avail(&sim, avail_body(2, "2030-01-01T10:00:01Z")).await.0, 200);
    let r = client()
        .post(format!("{}/OTA_HotelAvailNotif", sim.base_url()))
        .basic_auth(USER, Some(PASS))
        .body(avail_body(3, "2030-01-01T10:00:02Z"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(sim.view().cell("DBL", "", d(1)).and_then(|c| c.available), Some(2));
    assert_eq!(sim.stats().rate_limited, 1);
    // Lifting the limit at run time.
    let (s, _) = post_json(&format!("{}/_sim/rate-limit", sim.base_url()), serde_json::json!({"requests_per_minute": null})).await;
    assert_eq!(s, 200);
    assert_eq!(avail(&sim, avail_body(3, "2030-01-01T10:00:02Z")).await.0, 200);
    sim.stop().await;
}

#[tokio::test]
async fn faults_of_each_kind_behave_and_leave_the_view_alone() {
    let sim = sim().await;
    let url = format!("{}/_sim/faults", sim.base_url());
    let short = client();

    // 429 and 500: answered with an error RS.
    for (kind, status) in [("429", 429u16), ("500", 500), ("503", 503)] {
        let (s, _) = post_json(&url, serde_json::json!({"fraction": 1.0, "kinds": [kind]})).await;
        assert_eq!(s, 200);
        let (got, body) = avail(&sim, avail_body(5, "2030-01-01T10:00:00Z")).await;
        assert_eq!(got, status, "{kind}");
        assert!(ot::parse_notif_rs(body.as_bytes()).is_err());
    }

    // reset: the connection is dropped without a response, at once.
    post_json(&url, serde_json::json!({"fraction": 1.0, "kinds": ["reset"]})).await;
    let started = Instant::now();
    let err = short
        .post(format!("{}/OTA_HotelAvailNotif", sim.base_url()))
        .basic_auth(USER, Some(PASS))
        .body(avail_body(5, "2030-01-01T10:00:00Z"))
        .send()
        .await
        .expect_err("reset");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // timeout: nothing comes back within the client's timeout.
    post_json(&url, serde_json::json!({"fraction": 1.0, "kinds": ["timeout"], "timeout_ms": 2000})).await;
    let err = short
        .post(format!("{}/OTA_HotelAvailNotif", sim.base_url()))
        .basic_auth(USER, Some(PASS))
        .timeout(Duration::from_millis(300))
        .body(avail_body(5, "2030-01-01T10:00:00Z"))
        .send()
        .await
        .expect_err("timeout");
    assert!(err.is_timeout(), "{err:?}");

    assert_eq!(cells(&sim), 0, "faulted requests must not change the view");
    let stats = sim.stats();
    assert_eq!(stats.faults["429"], 1);
    assert_eq!(stats.faults["500"], 1);
    assert_eq!(stats.faults["reset"], 1);
    assert_eq!(stats.faults["timeout"], 1);
    assert_eq!(stats.requests["OTA_HotelAvailNotif"]["reset"], 1);

    // Faults off, latency on: the request is delayed and applied.
    sim.set_faults(FaultConfig { latency_ms: 150, ..FaultConfig::none() }).expect("faults");
    let started = Instant::now();
    assert_eq!(avail(&sim, avail_body(5, "2030-01-01T10:00:00Z")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(cells(&sim), 3);

    // A half-faulty OTA fails some requests, never all-or-nothing by accident.
    sim.set_faults(FaultConfig { fraction: 0.5, kinds: vec![FaultKind::ServerError], ..FaultConfig::none() }).expect("faults");
    let mut statuses = Vec::new();
    for i in 0..40 {
        statuses.push(avail(&sim, avail_body(i, "2030-01-01T10:00:00Z")).await.0);
    }
    assert!(statuses.contains(&200) && statuses.contains(&500), "{statuses:?}");

    // Invalid fault configurations are refused.
    let (s, _) = post_json(&url, serde_json::json!({"fraction": 2})).await;
    assert_eq!(s, 400);
    let (s, _) = post_json(&url, serde_json::json!({"fraction": 0.5})).await;
    assert_eq!(s, 400);
    let (s, _) = post_json(&url, serde_json::json!({"fraction": 0.5, "kinds": ["boom"]})).await;
    assert_eq!(s, 400);
    let (s, _) = post_json(&url, serde_json::json!({"fraction": 0})).await;
    assert_eq!(s, 200);
    sim.stop().await;
}

#[tokio::test]
async fn stop_does_not_wait_for_a_hanging_timeout_fault() {
    let sim = sim().await;
    sim.set_faults(FaultConfig { timeout_ms: 60_000, ..FaultConfig::always(FaultKind::Timeout) }).expect("faults");
    let url = format!("{}/OTA_HotelAvailNotif", sim.base_url());
    let pending = tokio::spawn(async move { client().post(url).basic_auth(USER, Some(PASS)).body("x").send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    sim.stop().await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let r = tokio::time::timeout(Duration::from_secs(5), pending).await.expect("client ends").expect("join");
    assert!(r.is_err());
}

// ---------------------------------------------------------------- booking pushes

#[derive(Clone)]
struct HubState {
    /// Answer 500 to this many requests first.
    fail_first: Arc<AtomicUsize>,
    /// Answer 200 with a non-ack body instead of an ack.
    garbage: bool,
    received: Arc<parking_lot::Mutex<Vec<saluran_channels::InboundBooking>>>,
    auth_failures: Arc<AtomicUsize>,
}

async fn hub_webhook(State(st): State<HubState>, headers: axum::http::HeaderMap, body: axum::body::Bytes) -> (StatusCode, String) {
    let expected = format!("Basic {}", base64_encode("ota:hookpw"));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        st.auth_failures.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    if st.fail_first.load(Ordering::SeqCst) > 0 {
        st.fail_first.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom".into());
    }
    let msg = match ot::parse_booking_message(&body, &Limits::default()) {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    if st.garbage {
        return (StatusCode::OK, "<ok/>".into());
    }
    let Some(b) = msg.bookings.first().cloned() else { return (StatusCode::BAD_REQUEST, String::new()) };
    st.received.lock().push(b.clone());
    // Our confirmation id is stable per reservation (I1: redeliveries get the original back).
    let ours = format!("CONF-{}", b.ota_reservation_id);
    (StatusCode::OK, ot::booking_ack_rs(b.action, msg.echo_token.as_deref(), &b.ota_reservation_id, &ours, Timestamp::now()))
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn hub(fail_first: usize, garbage: bool) -> (TestHub, HubState) {
    let st = HubState {
        fail_first: Arc::new(AtomicUsize::new(fail_first)),
        garbage,
        received: Default::default(),
        auth_failures: Default::default(),
    };
    let router = axum::Router::new().route("/webhooks/opentravel/P1/booking", post(hub_webhook)).with_state(st.clone());
    (TestHub::start(router).await, st)
}

async fn pushing_sim(hub: &TestHub) -> SimHandle {
    let cfg = cfg().with_hub_webhook(hub.url("/webhooks/opentravel/P1/booking"), "ota", "hookpw").with_redelivery(fast_redelivery());
    Sim::start(cfg).await.expect("start")
}

#[tokio::test]
async fn pushes_bookings_and_redelivers_until_a_proper_ack() {
    let (hub, st) = hub(2, false).await;
    let sim = pushing_sim(&hub).await;
    // A rate the hub pushed is what the OTA sells at.
    let rates = ot::rate_amount_notif_rq("H1", &[rate_range("DBL", "BAR", d(1), d(9), 900_000)], "IDR", "r", Timestamp::now());
    assert_eq!(post_xml(&sim, "/OTA_HotelRateAmountNotif", rates, Some((USER, PASS))).await.0, 200);

    let (s, v) = post_json(
        &format!("{}/_sim/bookings", sim.base_url()),
        serde_json::json!({"count": 1, "room": "DBL", "rate": "BAR", "check_in": "2030-03-02", "nights": 2, "adults": 2}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["ids"][0], "SIM-1");

    let rows = sim.wait_deliveries(Duration::from_secs(10), |r| r.iter().all(|d| d.delivery.acked)).await.expect("acked");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].delivery.attempts, 3, "two 500s, then the ack");
    assert_eq!(rows[0].delivery.confirmation_id.as_deref(), Some("CONF-SIM-1"));
    assert_eq!(rows[0].delivery.last_status.as_deref(), Some("200"));

    let got = st.received.lock().clone();
    assert_eq!(got.len(), 1);
    let b = &got[0];
    assert_eq!(b.ota_reservation_id, "SIM-1");
    assert_eq!(b.hotel_code, "H1");
    assert_eq!(b.rooms[0].ota_room, "DBL");
    assert_eq!(b.rooms[0].nightly.len(), 2);
    assert_eq!(b.rooms[0].nightly[0].1, Decimal::from(900_000));
    assert_eq!(b.total, Some(Decimal::from(1_800_000)));
    assert_eq!(b.currency.as_deref(), Some("IDR"));

    // Modify, then cancel: each a new revision, pushed as its own message type.
    assert_eq!(sim.modify_booking("SIM-1", &ModifySpec { nights: Some(3), ..Default::default() }), Ok(2));
    let (s, v) = post_json(&format!("{}/_sim/bookings/SIM-1/cancel", sim.base_url()), serde_json::json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["revision"], 3);
    sim.wait_deliveries(Duration::from_secs(10), |r| r.len() == 3 && r.iter().all(|d| d.delivery.acked)).await.expect("acked");
    let got = st.received.lock().clone();
    let mut actions: Vec<_> = got.iter().map(|b| b.action.as_str()).collect();
    actions.sort();
    assert_eq!(actions, ["cancel", "modify", "new"]);
    let revs: Vec<_> = got.iter().map(|b| b.revision.clone()).collect();
    assert!(revs.iter().all(|r| r.ends_with('Z') && r.len() == 24), "{revs:?}");
    // Unknown booking, double cancel.
    let (s, _) = post_json(&format!("{}/_sim/bookings/SIM-99/cancel", sim.base_url()), serde_json::json!({})).await;
    assert_eq!(s, 404);
    let (s, _) = post_json(&format!("{}/_sim/bookings/SIM-1/cancel", sim.base_url()), serde_json::json!({})).await;
    assert_eq!(s, 409);

    // Over HTTP too.
    let v = get_json(&format!("{}/_sim/deliveries", sim.base_url())).await;
    assert_eq!(v["deliveries"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["deliveries"][0]["confirmation_id"], "CONF-SIM-1");
    assert_eq!(st.auth_failures.load(Ordering::SeqCst), 0);
    sim.stop().await;
}

#[tokio::test]
async fn a_2xx_without_a_proper_ack_is_not_an_ack() {
    let (hub, st) = hub(0, true).await;
    let mut cfg = cfg().with_hub_webhook(hub.url("/webhooks/opentravel/P1/booking"), "ota", "hookpw");
    cfg.redelivery = saluran_sim::Redelivery {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(20),
        max_attempts: 4,
        max_elapsed: Duration::from_secs(5),
    };
    let sim = Sim::start(cfg).await.expect("start");
    sim.create_bookings(&BookingSpec::new("DBL", "BAR", d(2), 1)).expect("create");
    let rows = sim.wait_deliveries(Duration::from_secs(5), |r| r.iter().all(|d| d.delivery.gave_up)).await.expect("gave up");
    assert_eq!(rows[0].delivery.attempts, 4);
    assert!(!rows[0].delivery.acked);
    assert!(rows[0].delivery.last_status.as_deref().is_some_and(|s| s.contains("bad ack")), "{rows:?}");
    assert!(st.received.lock().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn redeliver_all_sends_duplicates_and_keeps_the_original_confirmation() {
    let (hub, st) = hub(0, false).await;
    let sim = pushing_sim(&hub).await;
    let spec = BookingSpec { count: 3, copies: 2, ..BookingSpec::new("DBL", "BAR", d(2), 1) };
    assert_eq!(sim.create_bookings(&spec).expect("create"), ["SIM-1", "SIM-2", "SIM-3"]);
    sim.wait_deliveries(Duration::from_secs(10), |r| r.len() == 3 && r.iter().all(|d| d.delivery.acks >= 2)).await.expect("acked");
    assert_eq!(st.received.lock().len(), 6, "two concurrent copies of each");

    let (s, v) = post_json(&format!("{}/_sim/redeliver-all", sim.base_url()), serde_json::json!({"copies": 3})).await;
    assert_eq!(s, 200);
    assert_eq!(v["revisions"], 3);
    let rows = sim.wait_deliveries(Duration::from_secs(10), |r| r.iter().all(|d| d.delivery.acks >= 5)).await.expect("acked");
    assert_eq!(st.received.lock().len(), 15);
    for r in rows {
        assert_eq!(r.delivery.confirmation_ids.len(), 1, "{r:?}");
    }
    // Redelivered messages are the same message (same revision).
    let got = st.received.lock().clone();
    let sim1: Vec<_> = got.iter().filter(|b| b.ota_reservation_id == "SIM-1").map(|b| b.revision.clone()).collect();
    assert!(sim1.windows(2).all(|w| w[0] == w[1]), "{sim1:?}");
    assert_eq!(sim.redeliver_all(&RedeliverSpec { latest_only: true, ..Default::default() }), 3);
    sim.stop().await;
}

#[tokio::test]
async fn trickle_creates_bookings_until_stopped() {
    let (hub, st) = hub(0, false).await;
    let sim = pushing_sim(&hub).await;
    let url = format!("{}/_sim/bookings/rate", sim.base_url());
    let (s, v) = post_json(&url, serde_json::json!({"per_second": 50, "rooms": ["DBL/BAR", "TWN"], "rate": "NRF", "max": 5})).await;
    assert_eq!(s, 200, "{v}");
    assert!(eventually(Duration::from_secs(5), || st.received.lock().len() == 5).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sim.stats().bookings_created, 5, "bounded by max");
    let (s, _) = post_json(&url, serde_json::json!({"per_second": 10, "rooms": ["TWN"]})).await;
    assert_eq!(s, 400, "no rate for TWN");
    let (s, _) = post_json(&url, serde_json::json!({"per_second": 0})).await;
    assert_eq!(s, 200);
    let (s, _) = post_json(&format!("{}/_sim/bookings", sim.base_url()), serde_json::json!({"room": "DBL"})).await;
    assert_eq!(s, 400);
    let (s, _) = post_json(
        &format!("{}/_sim/bookings", sim.base_url()),
        serde_json::json!({"room": "DBL", "rate": "BAR", "check_in": "2030-03-01", "nights": 0}),
    )
    .await;
    assert_eq!(s, 400);
    sim.stop().await;
}

/// `max_ari_in_flight` counts ARI requests handled at once (latency included),
/// and a request whose client went away stops counting.
#[tokio::test]
async fn overlapping_ari_requests_are_counted() {
    let sim = sim().await;
    sim.set_faults(FaultConfig { latency_ms: 300, ..FaultConfig::none() }).expect("faults");
    let (a, b) = tokio::join!(avail(&sim, avail_body(5, "2030-01-01T10:00:00Z")), avail(&sim, avail_body(5, "2030-01-01T10:00:01Z")));
    assert_eq!((a.0, b.0), (200, 200));
    let stats = sim.stats();
    assert_eq!((stats.max_ari_in_flight, stats.ari_in_flight), (2, 0), "{stats:?}");

    // After a reset, one at a time: never more than one.
    client().delete(format!("{}/_sim/stats", sim.base_url())).send().await.expect("reset");
    assert_eq!(avail(&sim, avail_body(5, "2030-01-01T10:00:02Z")).await.0, 200);
    assert_eq!(avail(&sim, avail_body(5, "2030-01-01T10:00:03Z")).await.0, 200);
    assert_eq!(sim.stats().max_ari_in_flight, 1);

    // A client that gives up mid-latency: the request stops counting.
    let err = client()
        .post(format!("{}/OTA_HotelAvailNotif", sim.base_url()))
        .basic_auth(USER, Some(PASS))
        .timeout(Duration::from_millis(50))
        .body(avail_body(5, "2030-01-01T10:00:04Z"))
        .send()
        .await
        .expect_err("gave up");
    assert!(err.is_timeout(), "{err:?}");
    assert!(eventually(Duration::from_millis(200), || sim.stats().ari_in_flight == 0).await, "{:?}", sim.stats());
    sim.stop().await;
}
