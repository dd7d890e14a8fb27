//! The `jsonrest` simulator: ARI batches, the booking-revisions feed with per-revision
//! acks, and the signed notify to the hub.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use jiff::Timestamp;
use rust_decimal::Decimal;
use saluran_channels::jsonrest as jr;
use saluran_channels::{signature, BookingAction, Limits};
use saluran_sim::{BookingSpec, FaultConfig, FaultKind, ModifySpec, Profile, Sim, SimConfig, SimHandle};

const KEY: &str = "api-key-1";

async fn sim() -> SimHandle {
    Sim::start(SimConfig::new(Profile::Jsonrest, "H1", "", KEY)).await.expect("start")
}

async fn ari(sim: &SimHandle, body: String, key: Option<&str>, extra: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut req = client().post(format!("{}/api/ari", sim.base_url())).header("content-type", "application/json").body(body);
    if let Some(k) = key {
        req = req.header("X-Api-Key", k);
    }
    for (h, v) in extra {
        req = req.header(*h, *v);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

fn batch(available: u32, at: &str) -> String {
    let ranges = [avail_range("DBL", d(1), d(2), available), rate_range("DBL", "BAR", d(1), d(2), 1_000_000)];
    jr::ari_batch_at("H1", &ranges, at.parse().expect("ts")).to_string()
}

#[tokio::test]
async fn accepts_ari_batches_and_tracks_their_timestamps() {
    let sim = sim().await;
    let (status, body) = ari(&sim, batch(5, "2030-01-01T10:00:02Z"), Some(KEY), &[]).await;
    assert_eq!(status, 200, "{body}");
    let v = get_json(&format!("{}/_sim/view", sim.base_url())).await;
    assert_eq!(v["cells"].as_array().map(Vec::len), Some(4));
    let view = sim.view();
    assert_eq!(view.cell("DBL", "", d(2)).and_then(|c| c.available), Some(5));
    assert_eq!(view.cell("DBL", "BAR", d(2)).and_then(|c| c.rate_amount), Some(Decimal::from(1_000_000)));
    assert_eq!(view.cell("DBL", "", d(2)).and_then(|c| c.timestamp), Some("2030-01-01T10:00:02Z".parse().expect("ts")));

    // An older batch after a newer one: a regression.
    assert_eq!(ari(&sim, batch(9, "2030-01-01T10:00:01Z"), Some(KEY), &[]).await.0, 200);
    assert_eq!(sim.view().regressions, 4);

    // Without a "timestamp" field, X-Saluran-Timestamp (RFC 3339 or Unix seconds) stamps it.
    let plain = jr::ari_batch("H1", &[avail_range("TWN", d(1), d(1), 1)]).to_string();
    assert_eq!(ari(&sim, plain.clone(), Some(KEY), &[("X-Saluran-Timestamp", "1900000000")]).await.0, 200);
    assert_eq!(ari(&sim, plain.clone(), Some(KEY), &[("X-Saluran-Timestamp", "2029-01-01T00:00:00Z")]).await.0, 200);
    assert_eq!(sim.view().regressions, 5);
    assert_eq!(ari(&sim, plain, Some(KEY), &[("X-Saluran-Timestamp", "soon")]).await.0, 400);
    sim.stop().await;
}

#[tokio::test]
async fn refuses_bad_auth_and_bad_batches() {
    let sim = Sim::start(SimConfig::new(Profile::Jsonrest, "H1", "", KEY).with_max_updates(2)).await.expect("start");
    assert_eq!(ari(&sim, batch(5, "2030-01-01T10:00:00Z"), None, &[]).await.0, 401);
    assert_eq!(ari(&sim, batch(5, "2030-01-01T10:00:00Z"), Some("wrong"), &[]).await.0, 401);
    let three = jr::ari_batch("H1", &[avail_range("A", d(1), d(1), 1), avail_range("B", d(1), d(1), 1), avail_range("C", d(1), d(1), 1)]);
    let mut unknown_field = jr::ari_batch("H1", &[avail_range("A", d(1), d(1), 1)]);
    unknown_field["values"][0]["surprise"] = serde_json::json!(1);
    for (what, body) in [
        ("malformed", "{\"values\": [".to_string()),
        ("xml", "<OTA_HotelAvailNotifRQ/>".to_string()),
        ("other property", jr::ari_batch("H2", &[avail_range("A", d(1), d(1), 1)]).to_string()),
        ("unknown field", unknown_field.to_string()),
        ("too many updates", three.to_string()),
    ] {
        let (status, body) = ari(&sim, body, Some(KEY), &[]).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body["errors"]["code"].is_string(), "{what}: {body}");
    }
    let big = format!("{{\"values\": [], \"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024 + 10));
    assert_eq!(ari(&sim, big, Some(KEY), &[]).await.0, 413);
    assert_eq!(cells(&sim), 0);
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_and_faults() {
    let sim = Sim::start(SimConfig::new(Profile::Jsonrest, "H1", "", KEY).with_rpm(1)).await.expect("start");
    assert_eq!(ari(&sim, batch(1, "2030-01-01T10:00:00Z"), Some(KEY), &[]).await.0, 200);
    let (status, body) = ari(&sim, batch(2, "2030-01-01T10:00:01Z"), Some(KEY), &[]).await;
    assert_eq!(status, 429);
    assert_eq!(body["errors"]["code"], "rate_limited");
    sim.set_rate_limit(None);
    sim.set_faults(FaultConfig::always(FaultKind::TooManyRequests)).expect("faults");
    assert_eq!(ari(&sim, batch(3, "2030-01-01T10:00:02Z"), Some(KEY), &[]).await.0, 429);
    let feed = client().get(format!("{}/api/booking_revisions/feed", sim.base_url())).header("X-Api-Key", KEY).send().await.expect("send");
    assert_eq!(feed.status(), 429);
    assert_eq!(sim.view().cell("DBL", "", d(1)).and_then(|c| c.available), Some(1));
    let stats = sim.stats();
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.faults["429"], 2);
    sim.stop().await;
}

async fn feed(sim: &SimHandle) -> jr::RevisionsFeed {
    let url = format!("{}/api{}", sim.base_url(), jr::revisions_feed_path("H1"));
    let r = client().get(url).header("X-Api-Key", KEY).send().await.expect("send");
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.expect("body");
    jr::parse_revisions_feed(&body, &Limits::default()).expect("feed")
}

async fn ack(sim: &SimHandle, revision: &str) -> u16 {
    let url = format!("{}/api{}", sim.base_url(), jr::revision_ack_path(revision));
    client().post(url).header("X-Api-Key", KEY).send().await.expect("send").status().as_u16()
}

#[tokio::test]
async fn revisions_feed_lists_unacknowledged_revisions_until_acked() {
    let sim = sim().await;
    sim.create_bookings(&BookingSpec { count: 2, ..BookingSpec::new("DBL", "BAR", d(5), 3) }).expect("create");
    let f = feed(&sim).await;
    assert!(f.invalid.is_empty(), "{:?}", f.invalid);
    assert_eq!(f.revisions.len(), 2);
    let r = &f.revisions[0];
    assert_eq!(r.revision, "SIM-1-r0001");
    assert_eq!(r.ota_reservation_id, "SIM-1");
    assert_eq!(r.hotel_code, "H1");
    assert_eq!(r.action, BookingAction::New);
    assert_eq!(r.rooms[0].nightly.len(), 3);
    assert_eq!(r.total, Some(Decimal::from(3 * 750_000)));

    assert_eq!(ack(&sim, "SIM-1-r0001").await, 200);
    assert_eq!(ack(&sim, "SIM-1-r0001").await, 200, "acks are idempotent");
    assert_eq!(ack(&sim, "SIM-9-r0001").await, 404);
    assert_eq!(ack(&sim, "nonsense").await, 404);
    let f = feed(&sim).await;
    assert_eq!(f.revisions.iter().map(|r| r.revision.as_str()).collect::<Vec<_>>(), ["SIM-2-r0001"]);

    sim.modify_booking("SIM-1", &ModifySpec { nights: Some(1), ..Default::default() }).expect("modify");
    sim.cancel_booking("SIM-2", 1).expect("cancel");
    let f = feed(&sim).await;
    let ids: Vec<_> = f.revisions.iter().map(|r| (r.revision.as_str(), r.action)).collect();
    assert_eq!(ids, [("SIM-1-r0002", BookingAction::Modify), ("SIM-2-r0001", BookingAction::New), ("SIM-2-r0002", BookingAction::Cancel)]);
    for r in &f.revisions {
        assert_eq!(ack(&sim, &r.revision).await, 200);
    }
    assert!(feed(&sim).await.revisions.is_empty());
    let rows = sim.deliveries();
    assert!(rows.iter().all(|r| r.delivery.acked && r.delivery.attempts >= 1), "{rows:?}");

    // Another property's feed is refused; redeliver-all queues everything again.
    let r = client()
        .get(format!("{}/api{}", sim.base_url(), jr::revisions_feed_path("H2")))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let (s, v) = post_json(&format!("{}/_sim/redeliver-all", sim.base_url()), serde_json::json!({})).await;
    assert_eq!((s, v["revisions"].as_u64()), (200, Some(4)));
    assert_eq!(feed(&sim).await.revisions.len(), 4);
    sim.stop().await;
}

#[derive(Clone, Default)]
struct NotifyHub {
    fail_first: Arc<AtomicUsize>,
    got: Arc<parking_lot::Mutex<Vec<jr::Notify>>>,
}

async fn notify_hook(State(st): State<NotifyHub>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let ts: i64 = get(signature::TIMESTAMP_HEADER).parse().unwrap_or(0);
    let sig = get(signature::SIGNATURE_HEADER);
    if signature::verify(b"hook-secret", ts, &body, &sig, Timestamp::now().as_second(), signature::DEFAULT_WINDOW_SECS).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    if st.fail_first.load(Ordering::SeqCst) > 0 {
        st.fail_first.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match jr::parse_notify(&body, &Limits::default()) {
        Ok(n) => {
            st.got.lock().push(n);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

#[tokio::test]
async fn notifies_the_hub_with_a_signed_webhook() {
    let st = NotifyHub { fail_first: Arc::new(AtomicUsize::new(1)), ..Default::default() };
    let hub = TestHub::start(axum::Router::new().route("/webhooks/jsonrest", post(notify_hook)).with_state(st.clone())).await;
    let cfg = SimConfig::new(Profile::Jsonrest, "H1", "", KEY)
        .with_hub_webhook(hub.url("/webhooks/jsonrest"), "", "hook-secret")
        .with_redelivery(fast_redelivery());
    let sim = Sim::start(cfg).await.expect("start");
    sim.create_bookings(&BookingSpec::new("DBL", "BAR", d(5), 1)).expect("create");
    assert!(eventually(Duration::from_secs(5), || !st.got.lock().is_empty()).await);
    let n = st.got.lock()[0].clone();
    assert_eq!(n.event, jr::EVENT_BOOKING_REVISION);
    assert_eq!(n.property_id, "H1");
    assert_eq!(n.revision_id.as_deref(), Some("SIM-1-r0001"));
    assert_eq!(n.booking_id.as_deref(), Some("SIM-1"));
    let rows = sim.deliveries();
    assert_eq!(rows[0].notify_attempts, 2, "one 503, then accepted");
    assert_eq!(rows[0].notify_status.as_deref(), Some("204"));
    assert!(!rows[0].delivery.acked, "a notify is not an ack: the hub pulls and acks");
    assert_eq!(feed(&sim).await.revisions.len(), 1);
    sim.stop().await;
}
