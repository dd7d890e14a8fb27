//! The `alpinebits` simulator: handshake, FreeRooms (deltas and complete sets, the
//! official samples and validation corpus), GuestRequests pull and acknowledgement.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use saluran_channels::alpinebits::{self as ab, Handshake};
use saluran_channels::{BookingAction, Limits};
use saluran_sim::{BookingSpec, FaultConfig, FaultKind, ModifySpec, Profile, Sim, SimConfig, SimHandle};

const USER: &str = "hub";
const PASS: &str = "pw";

async fn sim() -> SimHandle {
    Sim::start(SimConfig::new(Profile::Alpinebits, "H1", USER, PASS)).await.expect("start")
}

async fn call(sim: &SimHandle, action: &str, request: String) -> (u16, String) {
    let form = reqwest::multipart::Form::new().text("action", action.to_string()).text("request", request);
    let r = client()
        .post(format!("{}/alpinebits", sim.base_url()))
        .basic_auth(USER, Some(PASS))
        .header(ab::CLIENT_PROTOCOL_VERSION_HEADER, ab::PROTOCOL_VERSION)
        .multipart(form)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.expect("text"))
}

fn conformance() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    assert!(p.is_dir(), "the conformance corpus is missing: expected {} (see shared/conformance/README.md)", p.display());
    p
}

#[tokio::test]
async fn handshake_echoes_and_intersects_capabilities() {
    let sim = sim().await;
    let hs = Handshake::client_default().to_json();
    let (status, body) = call(&sim, ab::ACTION_PING, ab::ping_rq(&hs)).await;
    assert_eq!(status, 200, "{body}");
    let rs = ab::parse_ping_rs(body.as_bytes(), &Limits::default()).expect("ping rs");
    assert_eq!(rs.echo_data, hs);
    let both = Handshake::parse(&rs.handshake.expect("handshake")).expect("json");
    use ab::capability as c;
    assert!(both.supports(ab::PROTOCOL_VERSION, c::FREEROOMS, c::FREEROOMS_DELTAS));
    assert!(both.supports(ab::PROTOCOL_VERSION, c::FREEROOMS, c::FREEROOMS_CATEGORIES));
    assert!(!both.supports(ab::PROTOCOL_VERSION, c::FREEROOMS, c::FREEROOMS_ROOMS), "the client did not ask for rooms");
    assert!(both.has_action(ab::PROTOCOL_VERSION, c::GUEST_REQUESTS_READ));

    // An unknown version only: an empty intersection.
    let (status, body) = call(&sim, ab::ACTION_PING, ab::ping_rq(r#"{"versions":[{"version":"2012-05"}]}"#)).await;
    assert_eq!(status, 200);
    let rs = ab::parse_ping_rs(body.as_bytes(), &Limits::default()).expect("ping rs");
    assert!(Handshake::parse(&rs.handshake.expect("handshake")).expect("json").versions.is_empty());
    // EchoData that is not handshake JSON: refused.
    let (status, _) = call(&sim, ab::ACTION_PING, ab::ping_rq("hello")).await;
    assert_eq!(status, 400);
    assert_eq!(sim.stats().requests["alpinebits/OTA_Ping:Handshaking"]["200"], 2);
    sim.stop().await;
}

#[tokio::test]
async fn freerooms_deltas_and_complete_sets_update_the_view() {
    let sim = sim().await;
    let delta = ab::freerooms_rq("H1", &[avail_range("DBL", d(1), d(3), 4), avail_range("TWN", d(1), d(2), 2)], false).expect("rq");
    let (status, body) = call(&sim, ab::ACTION_FREEROOMS, delta).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ab::parse_freerooms_rs(body.as_bytes()), Ok(()));
    let v = sim.view();
    assert_eq!(v.cells.len(), 5);
    assert_eq!(v.cell("DBL", "", d(2)).and_then(|c| c.available), Some(4));
    assert_eq!(v.cell("TWN", "", d(1)).and_then(|c| c.available), Some(2));

    // A delta changes only what it names.
    let delta = ab::freerooms_rq("H1", &[avail_range("DBL", d(2), d(2), 1)], false).expect("rq");
    assert_eq!(call(&sim, ab::ACTION_FREEROOMS, delta).await.0, 200);
    let v = sim.view();
    assert_eq!(v.cell("DBL", "", d(1)).and_then(|c| c.available), Some(4));
    assert_eq!(v.cell("DBL", "", d(2)).and_then(|c| c.available), Some(1));

    // A complete set replaces the hotel's availability.
    let full = ab::freerooms_rq("H1", &[avail_range("DBL", d(5), d(6), 3)], true).expect("rq");
    assert_eq!(call(&sim, ab::ACTION_FREEROOMS, full).await.0, 200);
    let v = sim.view();
    assert_eq!(v.cells.len(), 2, "{:?}", v.cells);
    assert_eq!(v.cell("DBL", "", d(5)).and_then(|c| c.available), Some(3));

    // FreeRooms has no timestamp of its own: X-Saluran-Timestamp stamps it for the
    // regression check.
    let base = sim.base_url();
    let stamped = |n: u32, at: &'static str| {
        let url = format!("{base}/alpinebits");
        async move {
            let rq = ab::freerooms_rq("H1", &[avail_range("DBL", d(5), d(5), n)], false).expect("rq");
            let form = reqwest::multipart::Form::new().text("action", ab::ACTION_FREEROOMS).text("request", rq);
            client()
                .post(url)
                .basic_auth(USER, Some(PASS))
                .header("X-Saluran-Timestamp", at)
                .multipart(form)
                .send()
                .await
                .expect("send")
                .status()
        }
    };
    assert_eq!(stamped(2, "2030-01-01T00:00:02Z").await, 200);
    assert_eq!(stamped(1, "2030-01-01T00:00:01Z").await, 200);
    assert_eq!(sim.view().regressions, 1);
    assert_eq!(stamped(1, "not a time").await, 400);

    // The reset message (empty complete set) clears everything.
    let reset = ab::freerooms_rq("H1", &[], true).expect("rq");
    assert_eq!(call(&sim, ab::ACTION_FREEROOMS, reset).await.0, 200);
    assert_eq!(cells(&sim), 0);
    sim.stop().await;
}

#[tokio::test]
async fn official_samples_and_validation_corpus() {
    let root = conformance();
    let sim = Sim::start(SimConfig::new(Profile::Alpinebits, "123", USER, PASS)).await.expect("start");
    for name in [
        "FreeRooms-OTA_HotelInvCountNotifRQ.xml",
        "FreeRooms-OTA_HotelInvCountNotifRQ-delta.xml",
        "FreeRooms-OTA_HotelInvCountNotifRQ-closing_seasons.xml",
    ] {
        let body = std::fs::read_to_string(root.join("samples/alpinebits-2020-10").join(name)).expect("sample");
        let (status, rs) = call(&sim, ab::ACTION_FREEROOMS, body).await;
        assert_eq!(status, 200, "{name}: {rs}");
    }
    let ping = std::fs::read_to_string(root.join("samples/alpinebits-2020-10/Handshake-OTA_PingRQ.xml")).expect("sample");
    let (status, rs) = call(&sim, ab::ACTION_PING, ping).await;
    assert_eq!(status, 200, "{rs}");
    let read = std::fs::read_to_string(root.join("samples/alpinebits-2020-10/GuestRequests-OTA_ReadRQ.xml")).expect("sample");
    let (status, rs) = call(&sim, ab::ACTION_READ_GUEST_REQUESTS, read).await;
    assert_eq!(status, 200, "{rs}");
    sim.stop().await;

    let dir = root.join("samples/alpinebits-2020-10-validation/freerooms");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let expect_ok = name.contains("_ok_");
        if !expect_ok && !name.contains("_err_") {
            continue;
        }
        // A fresh simulator for each, the hotel code being ours.
        let sim = Sim::start(SimConfig::new(Profile::Alpinebits, "H1", USER, PASS)).await.expect("start");
        let body = std::fs::read_to_string(&path)
            .expect("file")
            .replace("HotelCode=\"9996\"", "HotelCode=\"H1\"")
            .replace("HotelCode=\"123\"", "HotelCode=\"H1\"");
        let (status, rs) = call(&sim, ab::ACTION_FREEROOMS, body).await;
        if expect_ok {
            assert_eq!(status, 200, "{name}: {rs}");
        } else {
            assert_eq!(status, 400, "{name}: {rs}");
            assert!(ab::parse_freerooms_rs(rs.as_bytes()).is_err(), "{name}: {rs}");
            assert_eq!(cells(&sim), 0, "{name}: nothing applied");
        }
        checked += 1;
        sim.stop().await;
    }
    assert!(checked >= 10, "{checked}");
}

#[tokio::test]
async fn refuses_bad_auth_and_bad_requests() {
    let sim = sim().await;
    let good = ab::freerooms_rq("H1", &[avail_range("DBL", d(1), d(3), 4)], false).expect("rq");

    let form = reqwest::multipart::Form::new().text("action", ab::ACTION_FREEROOMS).text("request", good.clone());
    let r =
        client().post(format!("{}/alpinebits", sim.base_url())).basic_auth(USER, Some("wrong")).multipart(form).send().await.expect("send");
    assert_eq!(r.status(), 401);

    let doctype = good.replacen("<OTA_HotelInvCountNotifRQ", "<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><OTA_HotelInvCountNotifRQ", 1);
    for (what, body) in [
        ("malformed", "<OTA_HotelInvCountNotifRQ><Inventories>".to_string()),
        ("doctype", doctype),
        ("other hotel", good.replace("HotelCode=\"H1\"", "HotelCode=\"H2\"")),
        ("wrong root", ab::ping_rq("{}")),
    ] {
        let (status, rs) = call(&sim, ab::ACTION_FREEROOMS, body).await;
        assert_eq!(status, 400, "{what}: {rs}");
        let errors = ab::parse_freerooms_rs(rs.as_bytes()).expect_err(what);
        if what == "doctype" {
            assert!(errors.join(" ").contains("xml_doctype"), "{errors:?}");
        }
    }

    let (status, rs) = call(&sim, "OTA_Unknown:Thing", good.clone()).await;
    assert_eq!(status, 400);
    assert!(rs.starts_with("ERROR:"), "{rs}");

    // Not multipart, no action, wrong protocol version.
    let r =
        client().post(format!("{}/alpinebits", sim.base_url())).basic_auth(USER, Some(PASS)).body(good.clone()).send().await.expect("send");
    assert_eq!(r.status(), 400);
    let form = reqwest::multipart::Form::new().text("request", good.clone());
    let r =
        client().post(format!("{}/alpinebits", sim.base_url())).basic_auth(USER, Some(PASS)).multipart(form).send().await.expect("send");
    assert_eq!(r.status(), 400);
    let form = reqwest::multipart::Form::new().text("action", ab::ACTION_FREEROOMS).text("request", good.clone());
    let r = client()
        .post(format!("{}/alpinebits", sim.base_url()))
        .basic_auth(USER, Some(PASS))
        .header(ab::CLIENT_PROTOCOL_VERSION_HEADER, "2012-05")
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);

    assert_eq!(cells(&sim), 0);
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_and_faults_apply_to_alpinebits_too() {
    let sim = Sim::start(SimConfig::new(Profile::Alpinebits, "H1", USER, PASS).with_rpm(1)).await.expect("start");
    let rq = || ab::freerooms_rq("H1", &[avail_range("DBL", d(1), d(1), 1)], false).expect("rq");
    assert_eq!(call(&sim, ab::ACTION_FREEROOMS, rq()).await.0, 200);
    assert_eq!(call(&sim, ab::ACTION_FREEROOMS, rq()).await.0, 429);
    sim.set_rate_limit(None);
    sim.set_faults(FaultConfig::always(FaultKind::ServerError)).expect("faults");
    let rq2 = ab::freerooms_rq("H1", &[avail_range("DBL", d(1), d(1), 7)], false).expect("rq");
    assert_eq!(call(&sim, ab::ACTION_FREEROOMS, rq2).await.0, 500);
    assert_eq!(sim.view().cell("DBL", "", d(1)).and_then(|c| c.available), Some(1));
    sim.stop().await;
}

#[tokio::test]
async fn guest_requests_are_queued_until_acknowledged() {
    let sim = sim().await;
    let ids = sim.create_bookings(&BookingSpec { count: 2, ..BookingSpec::new("DBL", "BAR", d(10), 2) }).expect("create");
    assert_eq!(ids, ["SIM-1", "SIM-2"]);

    let read = || ab::read_rq("H1");
    let (status, body) = call(&sim, ab::ACTION_READ_GUEST_REQUESTS, read()).await;
    assert_eq!(status, 200, "{body}");
    let got = ab::parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).expect("rs");
    assert!(got.invalid.is_empty(), "{:?}", got.invalid);
    assert_eq!(got.bookings.len(), 2);
    let b = &got.bookings[0];
    assert_eq!(b.action, BookingAction::New);
    assert_eq!(b.ota_reservation_id, "SIM-1");
    assert_eq!(b.rooms[0].ota_room, "DBL");
    assert_eq!(b.rooms[0].check_in, d(10));
    assert_eq!(b.rooms[0].check_out, d(12));

    // Unacknowledged: the next read returns them again.
    let (_, body) = call(&sim, ab::ACTION_READ_GUEST_REQUESTS, read()).await;
    assert_eq!(ab::parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).expect("rs").bookings.len(), 2);

    // Acknowledge SIM-1 only.
    let ack = ab::notif_report_rq(&[ab::NotifAck::for_booking(b)]);
    let (status, body) = call(&sim, ab::ACTION_NOTIF_REPORT_GUEST_REQUESTS, ack).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ab::parse_notif_report_rs(body.as_bytes(), &Limits::default()), Ok(()));
    let (_, body) = call(&sim, ab::ACTION_READ_GUEST_REQUESTS, read()).await;
    let got = ab::parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).expect("rs");
    assert_eq!(got.bookings.iter().map(|b| b.ota_reservation_id.as_str()).collect::<Vec<_>>(), ["SIM-2"]);

    // A modification and a cancellation of SIM-1 are queued as new revisions.
    assert_eq!(sim.modify_booking("SIM-1", &ModifySpec { adults: Some(3), ..Default::default() }), Ok(2));
    let (_, body) = call(&sim, ab::ACTION_READ_GUEST_REQUESTS, read()).await;
    let got = ab::parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).expect("rs");
    let sim1 = got.bookings.iter().find(|b| b.ota_reservation_id == "SIM-1").expect("SIM-1 again");
    assert_eq!(sim1.action, BookingAction::Modify);
    assert_eq!(sim1.rooms[0].adults, 3);
    assert_eq!(sim.cancel_booking("SIM-2", 1), Ok(2));
    let (_, body) = call(&sim, ab::ACTION_READ_GUEST_REQUESTS, read()).await;
    let got = ab::parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).expect("rs");
    let sim2 = got.bookings.iter().find(|b| b.ota_reservation_id == "SIM-2").expect("SIM-2");
    assert_eq!(sim2.action, BookingAction::Cancel);
    let acks: Vec<_> = got.bookings.iter().map(ab::NotifAck::for_booking).collect();
    assert_eq!(call(&sim, ab::ACTION_NOTIF_REPORT_GUEST_REQUESTS, ab::notif_report_rq(&acks)).await.0, 200);

    let rows = sim.deliveries();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.delivery.acked), "{rows:?}");
    let (_, body) = call(&sim, ab::ACTION_READ_GUEST_REQUESTS, read()).await;
    assert!(ab::parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).expect("rs").bookings.is_empty());

    // redeliver-all queues everything once more (duplicate tests).
    assert_eq!(sim.redeliver_all(&Default::default()), 4);
    let (_, body) = call(&sim, ab::ACTION_READ_GUEST_REQUESTS, read()).await;
    assert_eq!(ab::parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).expect("rs").bookings.len(), 2);

    // Refusals are recorded.
    let refuse =
        ab::notif_report_rq(&[ab::NotifAck { ota_id: "SIM-1".into(), cancellation: false, refused: Some("unmapped room".into()) }]);
    assert_eq!(call(&sim, ab::ACTION_NOTIF_REPORT_GUEST_REQUESTS, refuse).await.0, 200);
    let rows = sim.wait_deliveries(Duration::from_secs(1), |r| r.iter().any(|d| d.delivery.refused.is_some())).await.expect("refused");
    assert!(rows.iter().filter(|r| r.booking_id == "SIM-1").all(|r| r.delivery.refused.as_deref() == Some("unmapped room")));

    // A read for another hotel is refused.
    let (status, _) = call(&sim, ab::ACTION_READ_GUEST_REQUESTS, ab::read_rq("OTHER")).await;
    assert_eq!(status, 400);
    sim.stop().await;
}
