//! Operations: health against real PostgreSQL and Redis, the CLI.

mod common;

use common::{spawn_app_with, test_settings};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;

fn redis_url() -> Option<String> {
    match std::env::var("SALURAN_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("SALURAN_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("SALURAN_TEST_REDIS_URL is not set but SALURAN_REQUIRE_SERVICES=1: Redis tests must run");
            }
            eprintln!("SKIPPED: SALURAN_TEST_REDIS_URL not set");
            None
        }
    }
}

async fn health(base: &str) -> (StatusCode, Value) {
    let r = reqwest::get(format!("{base}/health")).await.unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_a_configured_redis() {
    let Some(url) = redis_url() else { return };
    let mut s = test_settings();
    s.redis_url = Some(url);
    let app = spawn_app_with(saluran::testing::fresh_sqlite().await, s).await;
    let (status, v) = health(&app.base).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["checks"]["redis"], "ok");
    assert_eq!(v["status"], "ok");
    app.stop().await;

    // A Redis that does not answer degrades health but is not required.
    let mut s = test_settings();
    s.redis_url = Some("redis://127.0.0.1:1".into());
    let app = spawn_app_with(saluran::testing::fresh_sqlite().await, s).await;
    let (status, v) = health(&app.base).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["checks"]["redis"], "error");
    assert_eq!(v["status"], "degraded");
    app.stop().await;
}

/// With its PostgreSQL database gone, the server answers 503 with
/// `database: "error"` and stays up; writes fail cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_when_the_database_is_down() {
    let Some(url) = saluran::testing::fresh_postgres_url().await else { return };
    let store = saluran::store::connect(&url, &saluran::testing::test_store_options()).await.unwrap();
    let mut s = test_settings();
    s.database_url = url.clone();
    let app = spawn_app_with(store, s).await;
    app.seed_property("DOWN", 1).await;
    let (status, _) = health(&app.base).await;
    assert_eq!(status, StatusCode::OK);

    let db = url.rsplit('/').next().unwrap().to_owned();
    let server = std::env::var("SALURAN_TEST_POSTGRES_URL").unwrap();
    let mut conn = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)")).execute(&mut conn).await.unwrap();

    let (status, v) = health(&app.base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["checks"]["database"], "error");
    assert_eq!(v["status"], "error");
    let r = app.book("DOWN", "STD", "STD-BAR", 3, 1).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "temporarily_unavailable");
    // Reads served from memory still work.
    assert_eq!(app.get("/api/v1/properties/DOWN").await.status(), StatusCode::OK);
    app.stop().await;
}

/// `saluran migrate` then `saluran token create` print what DESIGN §10
/// promises, and the token works against a server on that database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_migrates_and_creates_tokens() {
    let url = saluran::testing::fresh_sqlite_url();
    let bin = env!("CARGO_BIN_EXE_saluran");
    let out = std::process::Command::new(bin).args(["migrate", "--database-url", &url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(bin)
        .args(["token", "create", "--role", "revenue_manager", "--tenant", "group-a", "--property", "P1", "--database-url", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("slr_"), "{stdout}");
    let bad = std::process::Command::new(bin).args(["token", "create", "--role", "emperor", "--database-url", &url]).output().unwrap();
    assert!(!bad.status.success());

    let store = saluran::store::connect(&url, &saluran::testing::test_store_options()).await.unwrap();
    let app = spawn_app_with(store, test_settings()).await;
    // Revenue managers may not create properties; the token is known (403, not 401).
    let r = app
        .post_as(
            &token,
            "/api/v1/properties",
            &serde_json::json!({"code": "P1", "name": "n", "timezone": "Asia/Jakarta", "currency": "IDR"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

fn wait_for_health(base: &str) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(base.trim_start_matches("http://")).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("server at {base} did not come up");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `saluran serve` as a real process: SIGTERM drains and exits 0, and a
/// booking acknowledged before it is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_drains_on_sigterm() {
    let url = saluran::testing::fresh_sqlite_url();
    let bin = env!("CARGO_BIN_EXE_saluran");
    let out = std::process::Command::new(bin).args(["token", "create", "--role", "admin", "--database-url", &url]).output().unwrap();
    let token = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = std::process::Command::new(bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &url])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_health(&base);
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| client.post(format!("{base}{path}")).bearer_auth(&token).json(&body).send();
    assert_eq!(
        post("/api/v1/properties", serde_json::json!({"code": "SIG", "name": "n", "timezone": "Asia/Jakarta", "currency": "IDR"}))
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post("/api/v1/properties/SIG/room-types", serde_json::json!({"code": "STD", "name": "n", "max_occupancy": 2}))
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post("/api/v1/properties/SIG/rooms", serde_json::json!({"number": "1", "room_type": "STD", "floor": 1})).await.unwrap().status(),
        201
    );
    assert_eq!(
        post("/api/v1/properties/SIG/rate-plans", serde_json::json!({"code": "BAR", "room_type": "STD", "name": "n"}))
            .await
            .unwrap()
            .status(),
        201
    );
    let ari = serde_json::json!({"updates": [{"room_type": "STD", "rate_plan": "BAR", "from": common::day(1), "to": common::day(5), "rate": "100"}]});
    assert_eq!(post("/api/v1/properties/SIG/ari", ari).await.unwrap().status(), 200);
    let booking = serde_json::json!({"room_type": "STD", "rate_plan": "BAR", "check_in": common::day(2), "check_out": common::day(3), "adults": 1, "guest": {"name": "S"}});
    assert_eq!(post("/api/v1/properties/SIG/reservations", booking).await.unwrap().status(), 201);

    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut logs = String::new();
    use std::io::Read;
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(exit.success(), "exit {exit:?}: {logs}");
    assert!(logs.contains("shutdown signal received") && logs.contains("stopped"), "{logs}");

    let store = saluran::store::connect(&url, &saluran::testing::test_store_options()).await.unwrap();
    let list = store
        .list_reservations(&saluran_domain::PropertyCode::parse("SIG").unwrap(), &saluran_domain::RoomTypeCode::parse("STD").unwrap())
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
}

/// `saluran demo` seeds its property and serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_a_seeded_property() {
    let url = saluran::testing::fresh_sqlite_url();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_saluran"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed: Vec<String> = Vec::new();
    let token = loop {
        let line = lines.next().expect("demo printed its token").unwrap();
        printed.push(line.clone());
        if line.starts_with("slr_") {
            break line;
        }
    };
    assert!(printed.iter().any(|l| l.contains(&base)), "{printed:?}");
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/properties/DEMO-BALI/availability?check_in={}&check_out={}&adults=2", common::day(30), common::day(33)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["offers"].as_array().unwrap().len(), 9, "3 room types x 3 rate plans: {v}");
    // One simulated OTA per profile is connected and synced.
    for channel in ["BOOKING", "TIKET", "TRAVELOKA"] {
        let mut synced = false;
        for _ in 0..100 {
            let r = reqwest::Client::new()
                .get(format!("{base}/api/v1/properties/DEMO-BALI/channels/{channel}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{channel}");
            let s: Value = r.json().await.unwrap();
            if s["sync"]["last_success_at"].is_string() {
                synced = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(synced, "{channel} pushed its first full sync");
    }
    // The printed hint works when pasted into a shell with TOKEN set.
    let hint =
        printed.iter().find_map(|l| l.split_once("channel status:").map(|(_, c)| c.trim().to_owned())).expect("a channel status hint");
    let out = std::process::Command::new("sh").args(["-c", &hint]).env("TOKEN", &token).output().unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    assert_eq!(answer["code"], "BOOKING", "`{hint}` printed {answer} ({})", String::from_utf8_lossy(&out.stderr));
}

/// `/health` says what is true: saluran needs no licence key, and a queue
/// count that could not be read is `null` with status `degraded`, not 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_a_failed_queue_count_as_failed() {
    let mut urls = vec![saluran::testing::fresh_sqlite_url()];
    urls.extend(saluran::testing::fresh_postgres_url().await);
    for url in urls {
        let store = saluran::store::connect(&url, &saluran::testing::test_store_options()).await.unwrap();
        let mut s = test_settings();
        s.database_url = url.clone();
        let app = spawn_app_with(store, s).await;
        let (status, v) = health(&app.base).await;
        assert_eq!(status, StatusCode::OK, "{url}: {v}");
        assert_eq!(v["checks"]["license"], "not_required", "{v}");
        assert_eq!((v["checks"]["queue_pending"].as_i64(), v["checks"]["queue_failed"].as_i64()), (Some(0), Some(0)), "{v}");
        assert_eq!(v["status"], "ok", "{v}");

        // Break the queue count only (the database itself still answers).
        let drop = "DROP TABLE channel_dead_letters";
        if url.starts_with("sqlite://") {
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(drop).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query(drop).execute(&mut c).await.unwrap();
        }
        let (status, v) = health(&app.base).await;
        assert_eq!(status, StatusCode::OK, "the queue is not a required check: {v}");
        assert_eq!(v["checks"]["database"], "ok", "{v}");
        assert!(v["checks"]["queue_pending"].is_null() && v["checks"]["queue_failed"].is_null(), "{url}: {v}");
        assert_eq!(v["status"], "degraded", "{v}");
        app.stop().await;
    }
}

/// `saluran migrate` names the database it migrated without its password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_does_not_print_the_database_password() {
    let Some(url) = saluran::testing::fresh_postgres_url().await else { return };
    // The test server trusts local connections: any password gets in.
    let Some(rest) = url.strip_prefix("postgres://postgres@") else { return };
    let with_password = format!("postgres://postgres:hunter2-s3cret@{rest}");
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_saluran")).args(["migrate", "--database-url", &with_password]).output().unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{printed}");
    assert!(!printed.contains("hunter2-s3cret"), "{printed}");
    assert!(printed.contains(&format!("postgres://postgres:***@{rest}")), "{printed}");
}
