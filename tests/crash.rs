//! Crash and duplicate delivery at scale (DESIGN §3 I1, I3; §5 ingest).
//!
//! 1. The real `saluran` binary on a SQLite file takes 1,000 bookings from
//!    three OTA simulators (one per profile), is `kill -9`ed while deliveries
//!    are in flight, restarts on the same database and port, and every
//!    booking ends up stored exactly once, every acknowledgement is the
//!    original one, and every night's `sold` matches the reservations.
//! 2. In process: 500 pushed bookings, each delivered several times
//!    (concurrent copies, later redeliveries, direct replays): applied once,
//!    and every replay answered with the original acknowledgement.

mod common;

use common::{day, spawn_app_with, test_settings, TestApp};
use jiff::civil::Date;
use reqwest::StatusCode;
use saluran_domain::channel::{InboundAction, InboundRecord};
use saluran_domain::reservation::{Reservation, ReservationStatus};
use saluran_domain::store::Store;
use saluran_domain::{ChannelCode, PropertyCode, RoomTypeCode};
use saluran_sim::bookings::{revision_id, revision_stamp, Booking};
use saluran_sim::{Action, BookingSpec, DeliveryRow, ModifySpec, Profile, RedeliverSpec, Redelivery, Sim, SimConfig, SimHandle};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WEBHOOK_PASSWORD: &str = "hook-secret-123";

/// Presets with test-sized timings, as in `tests/channels.rs`: short
/// timeouts and backoffs, pull channels polled every second.
fn fast_presets(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for (name, profile, poll) in [("booking", "opentravel", 0), ("tiketcom", "alpinebits", 1), ("traveloka", "jsonrest", 1)] {
        let text = format!(
            "name = \"{name}\"\ndisplay_name = \"{name} (test)\"\nprofile = \"{profile}\"\nauth = \"basic\"\nrequests_per_minute = 6000\n\
             account_requests_per_minute = 60000\nmax_updates_per_request = 1000\nhorizon_days = 730\npoll_interval_secs = {poll}\n\
             timeout_secs = 1\nmax_tries = 5\ndebounce_ms = 20\nmin_backoff_ms = 20\nmax_backoff_ms = 200\nafter_dead_letter_ms = 300\n"
        );
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    }
    dir.display().to_string()
}

fn scratch_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("saluran-tests").join(format!("{what}-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn date(offset: i64) -> Date {
    day(offset).parse().unwrap()
}

/// The hub's room type for a simulator room code (the channel mappings).
fn room_type_of(ota_room: &str) -> &'static str {
    match ota_room {
        "STD1" => "STD",
        "DLX1" => "DLX",
        other => panic!("unmapped simulator room {other}"),
    }
}

fn mappings() -> Value {
    json!([
        {"room_type": "STD", "rate_plan": "STD-BAR", "ota_room": "STD1", "ota_rate": "BAR1"},
        {"room_type": "DLX", "rate_plan": "DLX-BAR", "ota_room": "DLX1", "ota_rate": "BAR1"},
    ])
}

/// The body of `POST /api/v1/properties/{p}/channels` for a simulator.
fn channel_body(code: &str, sim: &SimHandle) -> Value {
    let (profile, preset, endpoint, creds, user) = match sim.profile() {
        Profile::Opentravel => ("opentravel", "booking", sim.base_url(), json!({"username": "hub", "password": "ota-pass"}), "bdc-hook"),
        Profile::Alpinebits => (
            "alpinebits",
            "tiketcom",
            format!("{}/alpinebits", sim.base_url()),
            json!({"username": "hub", "password": "ota-pass"}),
            "tkt-hook",
        ),
        Profile::Jsonrest => ("jsonrest", "traveloka", format!("{}/api", sim.base_url()), json!({"api_key": "ota-key"}), "tvl-hook"),
    };
    json!({"code": code, "profile": profile, "preset": preset, "endpoint": endpoint, "hotel_code": sim.config().hotel_code,
           "credentials": creds, "webhook_auth": {"username": user, "password": WEBHOOK_PASSWORD}, "mappings": mappings()})
}

/// One group of simulator bookings.
struct Group {
    room: &'static str,
    offset: i64,
    nights: u32,
    copies: u32,
    count: u32,
}

/// `total` bookings in groups of `group`: mostly STD, every 8th group DLX
/// (the small room type, which overbooks), check-ins over 8 dates from
/// `first`, 1 to 3 nights, and 1 to 5 concurrent copies of each delivery.
fn plan(total: u32, group: u32, first: i64, seed: usize) -> Vec<Group> {
    const COPIES: [u32; 6] = [1, 2, 1, 3, 1, 5];
    (0..total.div_ceil(group))
        .map(|k| {
            let k = k as usize + seed;
            Group {
                room: if k % 8 == 7 { "DLX1" } else { "STD1" },
                offset: first + ((k * 3) % 8) as i64,
                nights: 1 + (k % 3) as u32,
                copies: COPIES[k % COPIES.len()],
                count: group.min(total - (k - seed) as u32 * group),
            }
        })
        .collect()
}

fn create(sim: &SimHandle, groups: &[Group]) -> Vec<String> {
    let mut ids = Vec::new();
    for g in groups {
        let spec = BookingSpec { count: g.count, copies: g.copies, ..BookingSpec::new(g.room, "BAR1", date(g.offset), g.nights) };
        ids.extend(sim.create_bookings(&spec).unwrap());
    }
    ids
}

/// Every booking the simulator sold, with its revisions (`GET /_sim/bookings`).
async fn sim_bookings(client: &reqwest::Client, sim: &SimHandle) -> Vec<Booking> {
    let v: Value = client.get(format!("{}/_sim/bookings", sim.base_url())).send().await.unwrap().json().await.unwrap();
    serde_json::from_value(v["bookings"].clone()).unwrap()
}

fn acked(rows: &[DeliveryRow]) -> usize {
    rows.iter().filter(|r| r.delivery.acked).count()
}

fn inbound_action(a: Action) -> InboundAction {
    match a {
        Action::New => InboundAction::New,
        Action::Modify => InboundAction::Modify,
        Action::Cancel => InboundAction::Cancel,
    }
}

fn covers(check_in: Date, check_out: Date, night: Date) -> bool {
    check_in <= night && night < check_out
}

/// Checks that `sold` of every room type and night equals the active
/// reservations covering it, and equals what the OTAs sold (`truth`:
/// room type, check-in, check-out of every booking not cancelled).
async fn check_sold(
    store: &Arc<dyn Store>,
    property: &PropertyCode,
    reservations: &[Reservation],
    truth: &[(String, Date, Date)],
    nights: std::ops::RangeInclusive<i64>,
    problems: &mut Vec<String>,
) -> usize {
    let mut cells = 0;
    for rt in ["STD", "DLX"] {
        let code = RoomTypeCode::parse(rt).unwrap();
        let cal = store.load_calendar(property, &code, date(0)).await.unwrap();
        for offset in nights.clone() {
            let d = date(offset);
            let sold = i64::from(cal.inventory.get_or_default(d).sold);
            let active = reservations.iter().filter(|r| r.room_type == code && r.is_active() && covers(r.check_in, r.check_out, d)).count();
            let ota = truth.iter().filter(|(t, ci, co)| t == rt && covers(*ci, *co, d)).count();
            if sold != active as i64 {
                problems.push(format!("{rt} {d}: sold {sold} but {active} active reservations cover the night (OTAs sold {ota})"));
            } else if active != ota {
                problems.push(format!("{rt} {d}: {active} active reservations (= sold) but the OTAs hold {ota} live bookings"));
            }
            cells += 1;
        }
    }
    cells
}

fn report(problems: &[String]) {
    if !problems.is_empty() {
        let shown: Vec<&String> = problems.iter().take(40).collect();
        panic!("{} problem(s):\n{}", problems.len(), shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"));
    }
}

// ------------------------------------------------------------------ the real binary

/// The server process; killed (SIGKILL) if the test ends without stopping it.
struct Server {
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    fn start(port: u16, url: &str, config: &Path, key: &str, log: &Path) -> Server {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_saluran"))
            .args(["serve", "--config", &config.display().to_string(), "--listen", &format!("127.0.0.1:{port}"), "--database-url", url])
            .env("SALURAN_SECRET_KEY", key)
            .env("RUST_LOG", "info,sqlx=warn")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        Server { child: Some(child), log: log.to_owned() }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits (bounded) until `GET /health` answers 200.
    async fn wait_healthy(&mut self, client: &reqwest::Client, base: &str, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("the server exited ({status}) before it was healthy:\n{}", self.log_tail());
            }
            if let Ok(r) = client.get(format!("{base}/health")).timeout(Duration::from_secs(2)).send().await {
                if r.status() == StatusCode::OK {
                    return started.elapsed();
                }
            }
            assert!(started.elapsed() < within, "server not healthy within {within:?}:\n{}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`.
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            let status = c.wait().unwrap();
            assert!(!status.success(), "a SIGKILLed process does not exit cleanly: {status:?}");
        }
    }

    /// SIGTERM, then wait (bounded) for the drain; SIGKILL if it hangs.
    async fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let started = Instant::now();
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return Some(s);
            }
            if started.elapsed() > within {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn api(client: &reqwest::Client, base: &str, token: &str, path: &str, body: Value, want: StatusCode) -> Value {
    let r = client.post(format!("{base}{path}")).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, want, "POST {path}: {v}");
    v
}

/// A property with STD (`std_rooms` rooms) and DLX (`dlx_rooms`, small on
/// purpose), one BAR plan each, rates over the next 60 days.
async fn seed_over_http(client: &reqwest::Client, base: &str, token: &str, code: &str, std_rooms: u32, dlx_rooms: u32) {
    let p = format!("/api/v1/properties/{code}");
    api(
        client,
        base,
        token,
        "/api/v1/properties",
        json!({"code": code, "name": "Crash Hotel", "timezone": "Asia/Jakarta", "currency": "IDR"}),
        StatusCode::CREATED,
    )
    .await;
    for (rt, n) in [("STD", std_rooms), ("DLX", dlx_rooms)] {
        api(client, base, token, &format!("{p}/room-types"), json!({"code": rt, "name": rt, "max_occupancy": 3}), StatusCode::CREATED)
            .await;
        for i in 0..n {
            api(
                client,
                base,
                token,
                &format!("{p}/rooms"),
                json!({"number": format!("{rt}{i}"), "room_type": rt, "floor": 1 + i / 50}),
                StatusCode::CREATED,
            )
            .await;
        }
        api(
            client,
            base,
            token,
            &format!("{p}/rate-plans"),
            json!({"code": format!("{rt}-BAR"), "room_type": rt, "name": "BAR"}),
            StatusCode::CREATED,
        )
        .await;
    }
    api(
        client,
        base,
        token,
        &format!("{p}/ari"),
        json!({"updates": [
            {"room_type": "STD", "rate_plan": "STD-BAR", "from": day(0), "to": day(60), "rate": "1000000"},
            {"room_type": "DLX", "rate_plan": "DLX-BAR", "from": day(0), "to": day(60), "rate": "2000000"},
        ]}),
        StatusCode::OK,
    )
    .await;
}

/// I1 + I3 across a crash: 1,000 bookings from three OTAs (pushed with
/// concurrent duplicates, pulled, modified and cancelled), `kill -9` of the
/// server with deliveries in flight, restart on the same SQLite file and
/// port; every booking is stored exactly once with its latest revision,
/// every acknowledgement is the original one, and `sold` of every night
/// equals the active reservations covering it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_with_bookings_in_flight_loses_and_duplicates_nothing() {
    let t0 = Instant::now();
    let dir = scratch_dir("crash");
    let url = format!("sqlite://{}", dir.join("saluran.db").display());
    let presets = fast_presets(&dir.join("presets"));
    let config = dir.join("saluran.toml");
    std::fs::write(
        &config,
        format!(
            "presets_dir = {presets:?}\nsecret_key_file = {:?}\nlog_format = \"pretty\"\n",
            dir.join("unused.key").display().to_string()
        ),
    )
    .unwrap();
    let key = hex::encode(rand::random::<[u8; 32]>());
    let log = dir.join("server.log");
    let bin = env!("CARGO_BIN_EXE_saluran");
    let out = Command::new(bin)
        .args(["token", "create", "--role", "admin", "--config", &config.display().to_string(), "--database-url", &url])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("slr_"), "{token}");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(32).build().unwrap();
    let mut server = Server::start(port, &url, &config, &key, &log);
    let up = server.wait_healthy(&client, &base, Duration::from_secs(30)).await;
    eprintln!("server pid {} healthy in {up:?}; database {url}; log {}", server.pid(), log.display());

    const P: &str = "CRASH";
    let seeded = Instant::now();
    seed_over_http(&client, &base, &token, P, 250, 3).await;
    eprintln!("seeded {P} (STD 250 rooms, DLX 3 rooms) in {:?}", seeded.elapsed());

    // Keeps redelivering for 90 s, so it outlives the outage.
    let patient = Redelivery {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
        max_attempts: 500,
        max_elapsed: Duration::from_secs(90),
    };
    let ot = Sim::start(
        SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass")
            .with_hub_webhook(format!("{base}/webhooks/opentravel/{P}/BDC"), "bdc-hook", WEBHOOK_PASSWORD)
            .with_redelivery(patient),
    )
    .await
    .unwrap();
    let ab = Sim::start(SimConfig::new(Profile::Alpinebits, "H-AB", "hub", "ota-pass")).await.unwrap();
    let jr = Sim::start(
        SimConfig::new(Profile::Jsonrest, "H-JR", "hub", "ota-key")
            .with_hub_webhook(format!("{base}/webhooks/jsonrest/{P}/TVL"), "", WEBHOOK_PASSWORD)
            .with_redelivery(patient),
    )
    .await
    .unwrap();
    let sims: [(&str, &SimHandle); 3] = [("BDC", &ot), ("TKT", &ab), ("TVL", &jr)];
    for (code, sim) in sims {
        api(&client, &base, &token, &format!("/api/v1/properties/{P}/channels"), channel_body(code, sim), StatusCode::CREATED).await;
    }

    // 1,000 bookings: 400 pushed, 300 + 300 pulled; then modifications and
    // cancellations of some of them, all while the first deliveries run.
    let sent = Instant::now();
    let ot_ids = create(&ot, &plan(400, 20, 3, 0));
    let ab_ids = create(&ab, &plan(300, 15, 3, 3));
    let jr_ids = create(&jr, &plan(300, 15, 3, 5));
    assert_eq!(ot_ids.len() + ab_ids.len() + jr_ids.len(), 1000);
    for (sim, ids) in [(&ot, &ot_ids), (&ab, &ab_ids), (&jr, &jr_ids)] {
        // Every 13th booking moves (same room type: new dates, 2 nights),
        // every 17th is cancelled (some of them after moving).
        for (i, id) in ids.iter().enumerate() {
            if i % 13 == 0 {
                let spec = ModifySpec {
                    check_in: Some(date(4 + (i % 6) as i64)),
                    nights: Some(2),
                    copies: Some(1 + (i % 3) as u32),
                    ..Default::default()
                };
                sim.modify_booking(id, &spec).unwrap();
            }
            if i % 17 == 0 {
                sim.cancel_booking(id, 1 + (i % 2) as u32).unwrap();
            }
        }
    }
    let revisions: usize = sims.iter().map(|(_, s)| s.deliveries().len()).sum();
    eprintln!("1000 bookings ({revisions} revisions) handed to the simulators in {:?}", sent.elapsed());

    // Kill -9 once about 30 % of the revisions are acknowledged.
    let waited = Instant::now();
    let (acked_at_kill, total) = loop {
        let rows: Vec<DeliveryRow> = sims.iter().flat_map(|(_, s)| s.deliveries()).collect();
        let a = acked(&rows);
        if a * 10 >= rows.len() * 3 || waited.elapsed() > Duration::from_secs(60) {
            break (a, rows.len());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    server.kill9();
    let killed = Instant::now();
    let killed_at = jiff::Timestamp::now();
    // What had been acknowledged when the process died (I1: all of it is durable).
    let before: Vec<(&str, Profile, DeliveryRow)> =
        sims.iter().flat_map(|(c, s)| s.deliveries().into_iter().filter(|r| r.delivery.acked).map(move |r| (*c, s.profile(), r))).collect();
    let per_sim: Vec<String> = sims.iter().map(|(c, s)| format!("{c} {}/{}", acked(&s.deliveries()), s.deliveries().len())).collect();
    eprintln!(
        "kill -9 after {:?} with {acked_at_kill}/{total} revisions acknowledged ({} after the kill: {})",
        sent.elapsed(),
        before.len(),
        per_sim.join(", ")
    );
    assert!(before.len() < total, "the kill came after everything was acknowledged: nothing was in flight");

    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut server = Server::start(port, &url, &config, &key, &log);
    let up = server.wait_healthy(&client, &base, Duration::from_secs(30)).await;
    eprintln!(
        "restarted (pid {}) on the same database and port; healthy {up:?} after start, {:?} after the kill",
        server.pid(),
        killed.elapsed()
    );

    // Every revision of every booking acknowledged (bounded).
    let restarted = Instant::now();
    loop {
        let pending: Vec<String> = sims
            .iter()
            .flat_map(|(c, s)| {
                s.deliveries().into_iter().filter(|r| !r.delivery.acked).map(move |r| {
                    format!(
                        "{c} {} ({:?}, attempts {}, gave up {}, last {:?} {:?})",
                        r.revision_id, r.action, r.delivery.attempts, r.delivery.gave_up, r.delivery.last_status, r.delivery.last_error
                    )
                })
            })
            .collect();
        if pending.is_empty() {
            break;
        }
        if restarted.elapsed() > Duration::from_secs(120) {
            panic!(
                "{} revisions still unacknowledged 120 s after the restart, e.g.:\n{}\nserver log:\n{}",
                pending.len(),
                pending.iter().take(15).cloned().collect::<Vec<_>>().join("\n"),
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("every revision acknowledged {:?} after the restart ({:?} after the kill)", restarted.elapsed(), killed.elapsed());

    // Replays after the crash still get the original acknowledgement.
    let acks_now: HashMap<String, u32> = ot.deliveries().into_iter().map(|r| (r.revision_id, r.delivery.acks)).collect();
    ot.redeliver_all(&RedeliverSpec { copies: Some(2), latest_only: false });
    let replayed = ot
        .wait_deliveries(Duration::from_secs(60), |rows| rows.iter().all(|r| r.delivery.acks >= acks_now[&r.revision_id] + 2))
        .await
        .unwrap_or_else(|rows| {
            panic!("replays not all acknowledged: {:?}", rows.iter().find(|r| r.delivery.acks < acks_now[&r.revision_id] + 2))
        });

    let bookings: Vec<(&str, Profile, Vec<Booking>)> = vec![
        ("BDC", Profile::Opentravel, sim_bookings(&client, &ot).await),
        ("TKT", Profile::Alpinebits, sim_bookings(&client, &ab).await),
        ("TVL", Profile::Jsonrest, sim_bookings(&client, &jr).await),
    ];
    let final_rows: Vec<(&str, DeliveryRow)> = sims.iter().flat_map(|(c, s)| s.deliveries().into_iter().map(move |r| (*c, r))).collect();
    let exit = server.terminate(Duration::from_secs(30)).await;
    eprintln!("server stopped with SIGTERM: {exit:?}");
    ot.stop().await;
    ab.stop().await;
    jr.stop().await;

    // ---- what the store holds
    let store = saluran::store::connect(&url, &saluran::testing::test_store_options()).await.unwrap();
    let prop = PropertyCode::parse(P).unwrap();
    let mut reservations = Vec::new();
    for rt in ["STD", "DLX"] {
        reservations.extend(store.list_reservations(&prop, &RoomTypeCode::parse(rt).unwrap()).await.unwrap());
    }
    let mut problems = Vec::new();
    let mut by_external: BTreeMap<(String, String), Vec<&Reservation>> = BTreeMap::new();
    for r in &reservations {
        match &r.external_id {
            Some(x) => by_external.entry((r.source.clone(), x.clone())).or_default().push(r),
            None => problems.push(format!("reservation {} has no OTA id (source {})", r.id, r.source)),
        }
    }
    let mut truth = Vec::new();
    let (mut live, mut cancelled, mut absent_cancelled) = (0, 0, 0);
    for (channel, profile, list) in &bookings {
        let ch = ChannelCode::parse(*channel).unwrap();
        for b in list {
            let latest = b.latest().unwrap();
            let s = &latest.snapshot;
            let rows = by_external.remove(&(channel.to_string(), b.id.clone())).unwrap_or_default();
            let found = store.find_reservation_by_external(&prop, &ch, &b.id).await.unwrap();
            if rows.len() <= 1 && found.as_ref().map(|r| &r.id) != rows.first().map(|r| &r.id) {
                problems.push(format!("{channel} {}: find_reservation_by_external disagrees with list_reservations", b.id));
            }
            if rows.len() > 1 {
                problems.push(format!("{channel} {}: stored {} times", b.id, rows.len()));
            }
            if b.cancelled() {
                cancelled += 1;
                match rows.first() {
                    Some(r) if r.status != ReservationStatus::Cancelled => problems.push(format!(
                        "{channel} {}: cancelled at the OTA, {:?} here (revisions {})",
                        b.id,
                        r.status,
                        b.revisions.len()
                    )),
                    // AlpineBits hands out only the latest revision: a booking
                    // cancelled before its first pull is never seen booked.
                    None if *profile == Profile::Alpinebits => absent_cancelled += 1,
                    None => problems.push(format!("{channel} {}: cancelled booking not stored", b.id)),
                    _ => {}
                }
                continue;
            }
            live += 1;
            truth.push((room_type_of(&s.room).to_owned(), s.check_in, s.check_out));
            let Some(r) = rows.first() else {
                problems.push(format!("{channel} {}: acknowledged booking not stored", b.id));
                continue;
            };
            if r.status != ReservationStatus::Confirmed
                || r.room_type.as_str() != room_type_of(&s.room)
                || r.check_in != s.check_in
                || r.check_out != s.check_out
            {
                problems.push(format!(
                    "{channel} {}: OTA has {} {}..{} ({:?} r{}), hub has {} {}..{} {:?}",
                    b.id, s.room, s.check_in, s.check_out, latest.action, latest.number, r.room_type, r.check_in, r.check_out, r.status
                ));
            }
        }
    }
    for ((source, x), rows) in &by_external {
        problems.push(format!("{} reservation(s) {source}/{x} that no OTA sold", rows.len()));
    }

    // I1: everything acknowledged before the kill is in the delivery records.
    let mut history: HashMap<(String, String), Vec<InboundRecord>> = HashMap::new();
    for (channel, _, list) in &bookings {
        let ch = ChannelCode::parse(*channel).unwrap();
        for b in list {
            let h = store.inbound_history(&prop, &ch, &b.id).await.unwrap();
            let mut seen = std::collections::HashSet::new();
            for rec in &h {
                if !seen.insert((rec.revision.clone(), rec.action.as_str())) {
                    problems.push(format!("{channel} {}: revision {} {:?} recorded twice", b.id, rec.revision, rec.action));
                }
            }
            history.insert((channel.to_string(), b.id.clone()), h);
        }
    }
    // Applied before the kill (the commit-then-die window for pulled bookings).
    let committed_before: Vec<String> = ["BDC", "TKT", "TVL"]
        .iter()
        .map(|c| {
            let n = history.iter().filter(|((ch, _), h)| ch == c && h.iter().any(|r| r.received_at < killed_at)).count();
            format!("{c} {n}")
        })
        .collect();
    eprintln!("bookings with a delivery committed before the kill: {}", committed_before.join(", "));
    let stamp_of = |channel: &str, booking: &str, n: u32| -> Option<String> {
        let list = &bookings.iter().find(|(c, _, _)| *c == channel)?.2;
        let b = list.iter().find(|b| b.id == booking)?;
        Some(revision_stamp(b.revisions.get(n as usize - 1)?.created_at))
    };
    for (channel, profile, row) in &before {
        let h = &history[&(channel.to_string(), row.booking_id.clone())];
        let durable = match profile {
            Profile::Opentravel => {
                let rev = stamp_of(channel, &row.booking_id, row.revision).unwrap();
                h.iter().any(|r| r.revision == rev && r.action == inbound_action(row.action))
            }
            Profile::Jsonrest => h.iter().any(|r| r.revision == row.revision_id && r.action == inbound_action(row.action)),
            // Acknowledged up to the revision pulled, which is at least this one.
            Profile::Alpinebits => {
                let rev = stamp_of(channel, &row.booking_id, row.revision).unwrap();
                h.iter().any(|r| r.revision >= rev)
            }
        };
        if !durable {
            problems.push(format!("{channel} {}: acknowledged before the kill, no delivery record after it: {h:?}", row.revision_id));
        }
    }

    // I1: one confirmation id per pushed revision, before and after the crash.
    let first_conf: HashMap<&str, &Option<String>> =
        before.iter().filter(|(c, _, _)| *c == "BDC").map(|(_, _, r)| (r.revision_id.as_str(), &r.delivery.confirmation_id)).collect();
    for r in &replayed {
        if r.delivery.confirmation_ids.len() != 1 {
            problems.push(format!("BDC {}: confirmation ids {:?}", r.revision_id, r.delivery.confirmation_ids));
        }
        if let Some(c) = first_conf.get(r.revision_id.as_str()) {
            if *c != &r.delivery.confirmation_id {
                problems.push(format!("BDC {}: confirmed {c:?} before the kill, {:?} after", r.revision_id, r.delivery.confirmation_id));
            }
        }
    }
    for (c, r) in &final_rows {
        if r.delivery.refused.is_some() || r.delivery.gave_up || r.delivery.confirmation_ids.len() > 1 {
            problems.push(format!("{c} {}: {:?}", r.revision_id, r.delivery));
        }
    }

    // I3: sold == active reservations == what the OTAs sold, every night.
    let cells = check_sold(&store, &prop, &reservations, &truth, 0..=20, &mut problems).await;
    let overbooked = reservations.iter().filter(|r| r.overbooked).count();
    if overbooked == 0 {
        problems.push("no reservation flagged overbooked: the small room type is overbooked on purpose".into());
    }
    eprintln!(
        "store: {} reservations ({live} live, {cancelled} cancelled at the OTAs, {absent_cancelled} of those never seen booked), \
         {overbooked} flagged overbooked; {cells} room-type nights checked; {} revisions acknowledged before the kill; \
         total {:?}; {} problem(s)",
        reservations.len(),
        before.len(),
        t0.elapsed(),
        problems.len()
    );
    report(&problems);
}

// ------------------------------------------------------------------ duplicates, in process

async fn spawn_fast() -> TestApp {
    let mut s = test_settings();
    s.presets_dir = fast_presets(&scratch_dir("presets"));
    spawn_app_with(saluran::testing::fresh_sqlite().await, s).await
}

/// The exact message the simulator pushes for a revision (same bytes: echo
/// token = revision id, time stamp = revision time).
fn ot_message(hotel: &str, b: &Booking, n: u32) -> String {
    use saluran_channels::model::{BookedRoom, BookingAction, InboundBooking};
    let rev = &b.revisions[n as usize - 1];
    let s = &rev.snapshot;
    let booking = InboundBooking {
        action: match rev.action {
            Action::New => BookingAction::New,
            Action::Modify => BookingAction::Modify,
            Action::Cancel => BookingAction::Cancel,
        },
        hotel_code: hotel.into(),
        ota_reservation_id: b.id.clone(),
        revision: revision_stamp(rev.created_at),
        rooms: vec![BookedRoom {
            ota_room: s.room.clone(),
            ota_rate: Some(s.rate.clone()),
            check_in: s.check_in,
            check_out: s.check_out,
            adults: s.adults,
            nightly: s.nightly.clone(),
            total: Some(s.total),
        }],
        guest_name: Some(s.guest_name.clone()),
        currency: Some(s.currency.clone()),
        total: Some(s.total),
    };
    saluran_channels::opentravel::res_notif_rq(&booking, &revision_id(&b.id, n), rev.created_at)
}

fn ack_timestamp(body: &str) -> Option<jiff::Timestamp> {
    let i = body.find("TimeStamp=\"")? + "TimeStamp=\"".len();
    let rest = &body[i..];
    rest[..rest.find('"')?].parse().ok()
}

/// Posts `copies` replays of each message concurrently; returns, per
/// booking, the (status, body) of every answer.
async fn replay_directly(
    app: &TestApp,
    messages: &[(String, String)],
    copies: impl Fn(usize) -> usize,
) -> HashMap<String, Vec<(u16, String)>> {
    let mut set = tokio::task::JoinSet::new();
    for (i, (id, body)) in messages.iter().enumerate() {
        for _ in 0..copies(i) {
            let (client, url, id, body) =
                (app.client.clone(), format!("{}/webhooks/opentravel/DUPS/BDC", app.base), id.clone(), body.clone());
            set.spawn(async move {
                let r = client
                    .post(url)
                    .basic_auth("bdc-hook", Some(WEBHOOK_PASSWORD))
                    .header("content-type", "application/xml")
                    .body(body)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .unwrap();
                (id, r.status().as_u16(), r.text().await.unwrap())
            });
        }
    }
    let mut out: HashMap<String, Vec<(u16, String)>> = HashMap::new();
    while let Some(done) = set.join_next().await {
        let (id, status, body) = done.unwrap();
        out.entry(id).or_default().push((status, body));
    }
    out
}

/// I1 at scale: 500 pushed bookings, every delivery duplicated 1-5 times
/// concurrently, then redelivered twice later, then replayed straight to
/// the webhook after a delay: each applied exactly once, and every replay
/// answered with the original acknowledgement (same bytes).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_deliveries_replayed_many_times_apply_once() {
    let t0 = Instant::now();
    let app = spawn_fast().await;
    app.seed_property("DUPS", 150).await;
    let ot = Sim::start(SimConfig::new(Profile::Opentravel, "H-OT", "hub", "ota-pass").with_hub_webhook(
        format!("{}/webhooks/opentravel/DUPS/BDC", app.base),
        "bdc-hook",
        WEBHOOK_PASSWORD,
    ))
    .await
    .unwrap();
    app.ok_json(app.post("/api/v1/properties/DUPS/channels", &channel_body("BDC", &ot)).await, StatusCode::CREATED).await;

    // 500 bookings, 10 per group: copies 1-5 (concurrent duplicates).
    let groups = plan(500, 10, 4, 0);
    let ids = create(&ot, &groups);
    assert_eq!(ids.len(), 500);
    let copies_sent: usize = groups.iter().map(|g| (g.count * g.copies) as usize).sum();
    let rows = ot
        .wait_deliveries(Duration::from_secs(90), |rows| rows.len() == 500 && rows.iter().all(|r| r.delivery.acked))
        .await
        .unwrap_or_else(|rows| panic!("{} of 500 acknowledged after 90 s", acked(&rows)));
    let first_acks = t0.elapsed();
    eprintln!("500 bookings ({copies_sent} concurrent pushes) acknowledged; {first_acks:?} since start");

    // Later redeliveries of everything: 3 concurrent copies, then 1 more.
    let before: HashMap<String, (u32, Option<String>)> =
        rows.iter().map(|r| (r.revision_id.clone(), (r.delivery.acks, r.delivery.confirmation_id.clone()))).collect();
    ot.redeliver_all(&RedeliverSpec { copies: Some(3), latest_only: false });
    tokio::time::sleep(Duration::from_millis(500)).await;
    ot.redeliver_all(&RedeliverSpec { copies: Some(1), latest_only: false });
    ot.wait_deliveries(Duration::from_secs(90), |rows| rows.iter().all(|r| r.delivery.acks >= before[&r.revision_id].0 + 4))
        .await
        .unwrap_or_else(|rows| {
            panic!("redeliveries not acknowledged: {:?}", rows.iter().find(|r| r.delivery.acks < before[&r.revision_id].0 + 4))
        });
    eprintln!("2 rounds of redelivery (2,000 more pushes) acknowledged; {:?} since start", t0.elapsed());

    // Replays straight to the webhook, after a delay: every 5th booking,
    // 1-3 concurrent copies, twice, 1 s apart.
    let bookings = {
        let client = reqwest::Client::new();
        sim_bookings(&client, &ot).await
    };
    let messages: Vec<(String, String)> = bookings.iter().step_by(5).map(|b| (b.id.clone(), ot_message("H-OT", b, 1))).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replays_started = jiff::Timestamp::now();
    let round1 = replay_directly(&app, &messages, |i| 1 + i % 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let round2 = replay_directly(&app, &messages, |_| 1).await;

    let mut problems = Vec::new();
    let mut compared = 0;
    let limits = saluran_channels::Limits::default();
    for (id, _) in &messages {
        let conf = &before[&revision_id(id, 1)].1;
        let answers: Vec<&(u16, String)> = round1[id].iter().chain(round2[id].iter()).collect();
        let first = &answers[0].1;
        for (status, body) in &answers {
            compared += 1;
            if *status != 200 {
                problems.push(format!("{id}: direct replay answered {status}: {body}"));
                continue;
            }
            if body != first {
                problems.push(format!("{id}: replays answered differently:\n{first}\n{body}"));
            }
            match saluran_channels::opentravel::parse_booking_ack_rs(body.as_bytes(), &limits) {
                Ok(ack) => {
                    if ack.our_confirmation_id.as_ref() != conf.as_ref() || ack.ota_reservation_id.as_deref() != Some(id) {
                        problems.push(format!("{id}: replay acknowledged {:?}, originally {conf:?}", ack.our_confirmation_id));
                    }
                    // The original echo token (the revision id) comes back.
                    if ack.echo_token.as_deref() != Some(revision_id(id, 1).as_str()) {
                        problems.push(format!("{id}: echo token {:?}", ack.echo_token));
                    }
                }
                Err(e) => problems.push(format!("{id}: unreadable acknowledgement {e}: {body}")),
            }
            match ack_timestamp(body) {
                Some(ts) if ts < replays_started => {}
                other => problems.push(format!(
                    "{id}: acknowledgement stamped {other:?}, after the replays began ({replays_started}): not the original"
                )),
            }
        }
    }
    eprintln!("{compared} direct replays of {} bookings compared byte for byte", messages.len());

    // Applied once: one confirmation id per revision, one delivery record
    // per booking, 500 reservations, sold == bookings on every night.
    let final_rows = ot.deliveries();
    for r in &final_rows {
        if r.delivery.confirmation_ids.len() != 1 || r.delivery.confirmation_id != before[&r.revision_id].1 {
            problems.push(format!(
                "{}: confirmation ids {:?} (first {:?})",
                r.revision_id, r.delivery.confirmation_ids, before[&r.revision_id].1
            ));
        }
    }
    let total_acks: u32 = final_rows.iter().map(|r| r.delivery.acks).sum();
    let prop = PropertyCode::parse("DUPS").unwrap();
    let ch = ChannelCode::parse("BDC").unwrap();
    let mut reservations = Vec::new();
    for rt in ["STD", "DLX"] {
        reservations.extend(app.store.list_reservations(&prop, &RoomTypeCode::parse(rt).unwrap()).await.unwrap());
    }
    if reservations.len() != 500 {
        problems.push(format!("{} reservations stored for 500 bookings", reservations.len()));
    }
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for r in &reservations {
        *per_id.entry(r.external_id.as_deref().unwrap_or("")).or_default() += 1;
        if r.source != "BDC" || !r.is_active() {
            problems.push(format!("reservation {}: source {} status {:?}", r.id, r.source, r.status));
        }
    }
    for b in &bookings {
        match per_id.get(b.id.as_str()) {
            Some(1) => {}
            n => problems.push(format!("{}: stored {n:?} times", b.id)),
        }
        let h = app.store.inbound_history(&prop, &ch, &b.id).await.unwrap();
        if h.len() != 1 {
            problems.push(format!(
                "{}: {} delivery records: {:?}",
                b.id,
                h.len(),
                h.iter().map(|r| (&r.revision, r.action, &r.outcome)).collect::<Vec<_>>()
            ));
        }
        if let (Some(rec), Some(conf)) = (h.first(), &before[&revision_id(&b.id, 1)].1) {
            if rec.reservation_id.as_ref() != Some(conf) {
                problems.push(format!("{}: confirmation {conf} is not reservation {:?}", b.id, rec.reservation_id));
            }
        }
    }
    let truth: Vec<(String, Date, Date)> = bookings
        .iter()
        .map(|b| {
            let s = &b.latest().unwrap().snapshot;
            (room_type_of(&s.room).to_owned(), s.check_in, s.check_out)
        })
        .collect();
    let cells = check_sold(&app.store, &prop, &reservations, &truth, 0..=20, &mut problems).await;
    let overbooked = reservations.iter().filter(|r| r.overbooked).count();
    if overbooked == 0 {
        problems.push("no reservation flagged overbooked: the small room type is overbooked on purpose".into());
    }
    eprintln!(
        "{} reservations, {overbooked} flagged overbooked; {total_acks} acknowledgements received by the OTA for 500 revisions; \
         {cells} room-type nights checked; total {:?}; {} problem(s)",
        reservations.len(),
        t0.elapsed(),
        problems.len()
    );
    ot.stop().await;
    app.stop().await;
    report(&problems);
}
