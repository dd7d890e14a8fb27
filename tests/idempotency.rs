//! Idempotency keys against a real server, on SQLite and PostgreSQL: a
//! client that hangs up does not leave its key in progress, keys are recorded
//! only for authenticated callers, and they expire.

mod common;

use common::{day, spawn_app_with, test_settings, TestApp};
use reqwest::StatusCode;
use saluran_domain::{PropertyCode, RoomTypeCode};
use serde_json::{json, Value};
use sqlx::Connection;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// One fresh database URL per backend available.
async fn urls() -> Vec<String> {
    let mut urls = vec![saluran::testing::fresh_sqlite_url()];
    urls.extend(saluran::testing::fresh_postgres_url().await);
    urls
}

async fn app_on(url: &str, settings: saluran::config::Settings) -> TestApp {
    let store = saluran::store::connect(url, &saluran::testing::test_store_options()).await.unwrap();
    spawn_app_with(store, saluran::config::Settings { database_url: url.to_owned(), ..settings }).await
}

async fn key_rows(url: &str) -> i64 {
    let q = "SELECT COUNT(*) FROM idempotency_keys";
    if url.starts_with("sqlite://") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, i64>(q).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, i64>(q).fetch_one(&mut c).await.unwrap()
    }
}

/// Holds the database so that nothing can write `table` until `release`:
/// SQLite: the whole database (an exclusive transaction); PostgreSQL: that
/// table.
enum Hold {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Hold {
    async fn take(url: &str, table: &str) -> Hold {
        if url.starts_with("sqlite://") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN EXCLUSIVE").execute(&mut c).await.unwrap();
            Hold::Sqlite(c)
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut c).await.unwrap();
            sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")).execute(&mut c).await.unwrap();
            Hold::Postgres(c)
        }
    }
    async fn release(self) {
        match self {
            Hold::Sqlite(mut c) => sqlx::query("COMMIT").execute(&mut c).await.map(drop).unwrap(),
            Hold::Postgres(mut c) => sqlx::query("COMMIT").execute(&mut c).await.map(drop).unwrap(),
        }
    }
}

fn booking(name: &str) -> Value {
    json!({"room_type": "STD", "rate_plan": "STD-BAR", "check_in": day(3), "check_out": day(4), "adults": 2, "guest": {"name": name}})
}

async fn reservations(app: &TestApp, code: &str) -> usize {
    app.store.list_reservations(&PropertyCode::parse(code).unwrap(), &RoomTypeCode::parse("STD").unwrap()).await.unwrap().len()
}

/// A client sends a booking with a key and hangs up before the answer: the
/// booking still finishes and is recorded, and a retry with the same key
/// gets its 201 (one booking, not two).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_gets_the_stored_answer_on_retry() {
    for url in urls().await {
        let app = app_on(&url, test_settings()).await;
        app.seed_property("HANG", 5).await;
        // The property and its shard are active before the hold.
        app.ok_json(app.post("/api/v1/properties/HANG/reservations", &booking("Warm Up")).await, StatusCode::CREATED).await;
        assert_eq!(reservations(&app, "HANG").await, 1);

        let body = booking("Hang Up").to_string();
        let hold = Hold::take(&url, "reservations").await;
        let addr = app.base.trim_start_matches("http://").to_owned();
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "POST /api/v1/properties/HANG/reservations HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Idempotency-Key: hang-1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            app.admin,
            body.len()
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        drop(tcp); // hang up before the answer
        tokio::time::sleep(Duration::from_millis(300)).await;
        hold.release().await;

        let deadline = Instant::now() + Duration::from_secs(15);
        let (status, replayed, answer) = loop {
            let r = app
                .client
                .post(format!("{}/api/v1/properties/HANG/reservations", app.base))
                .bearer_auth(&app.admin)
                .header("Idempotency-Key", "hang-1")
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = r.status();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            let answer: Value = r.json().await.unwrap_or_default();
            if status != StatusCode::CONFLICT || Instant::now() > deadline {
                break (status, replayed, answer);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(status, StatusCode::CREATED, "{url}: the retry gets the stored answer: {answer}");
        assert!(replayed, "{url}: replayed, not booked again: {answer}");
        assert_eq!(answer["guest"]["name"], "Hang Up", "{answer}");
        assert_eq!(reservations(&app, "HANG").await, 2, "{url}: exactly one booking from the hung-up request");
        app.stop().await;
    }
}

/// Keys are recorded only once the token is known: a bogus token gets 401
/// without the idempotency table being touched (it answers at once while
/// the table cannot be written) and leaves no row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bogus_token_leaves_no_idempotency_row() {
    for url in urls().await {
        let app = app_on(&url, test_settings()).await;
        app.seed_property("BOGUS", 2).await;
        let hold = Hold::take(&url, "idempotency_keys").await;
        for (i, token) in ["slr_bogus", "not-even-a-token"].iter().enumerate() {
            let r = app
                .client
                .post(format!("{}/api/v1/properties/BOGUS/reservations", app.base))
                .bearer_auth(token)
                .header("Idempotency-Key", format!("bogus-{i}"))
                .timeout(Duration::from_secs(2))
                .json(&booking("Nobody"))
                .send()
                .await;
            let r = r.unwrap_or_else(|e| panic!("{url}: a bogus token waited for the idempotency table: {e}"));
            assert_eq!(app.ok_json(r, StatusCode::UNAUTHORIZED).await["error"]["code"], "unauthorized");
        }
        hold.release().await;
        assert_eq!(key_rows(&url).await, 0, "{url}");
        // A known token's key is recorded.
        let r = app
            .client
            .post(format!("{}/api/v1/properties/BOGUS/reservations", app.base))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", "good-1")
            .json(&booking("Somebody"))
            .send()
            .await
            .unwrap();
        app.ok_json(r, StatusCode::CREATED).await;
        assert_eq!(key_rows(&url).await, 1, "{url}");
        app.stop().await;
    }
}

/// Keys expire after `idempotency_ttl_secs` (default 24 h): their rows are
/// cleaned, and the key can then be used for another request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_expire() {
    for url in urls().await {
        let app = app_on(&url, saluran::config::Settings { idempotency_ttl_secs: 1, ..test_settings() }).await;
        app.seed_property("EXPIRE", 5).await;
        let send = |b: Value| {
            app.client
                .post(format!("{}/api/v1/properties/EXPIRE/reservations", app.base))
                .bearer_auth(&app.admin)
                .header("Idempotency-Key", "exp-1")
                .json(&b)
                .send()
        };
        app.ok_json(send(booking("First")).await.unwrap(), StatusCode::CREATED).await;
        let r = send(booking("Second")).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "still known");
        let deadline = Instant::now() + Duration::from_secs(10);
        while key_rows(&url).await > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(key_rows(&url).await, 0, "{url}: the expired key's row is cleaned");
        let second = app.ok_json(send(booking("Second")).await.unwrap(), StatusCode::CREATED).await;
        assert_eq!(second["guest"]["name"], "Second");
        app.stop().await;

        // With the default TTL the key is kept.
        let app = app_on(&saluran::testing::fresh_sqlite_url(), test_settings()).await;
        assert_eq!(app.app.settings().idempotency_ttl_secs, 24 * 3600);
        app.stop().await;
    }
}

/// The store port: `idempotency_expire` deletes keys older than asked, done
/// or still in progress, and keeps younger ones (both backends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_expires_old_keys_only() {
    use saluran_domain::store::IdempotencyBegin;
    for (backend, store) in saluran::testing::backends().await {
        assert_eq!(store.idempotency_begin("s", "done", "h").await.unwrap(), IdempotencyBegin::Fresh);
        store.idempotency_complete("s", "done", 201, b"{}").await.unwrap();
        assert_eq!(store.idempotency_begin("s", "running", "h").await.unwrap(), IdempotencyBegin::Fresh);
        assert_eq!(store.idempotency_expire(Duration::from_secs(3600)).await.unwrap(), 0, "{backend}: young keys stay");
        assert!(matches!(store.idempotency_begin("s", "done", "h").await.unwrap(), IdempotencyBegin::Replay { status: 201, .. }));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(store.idempotency_expire(Duration::from_millis(10)).await.unwrap(), 2, "{backend}: both old keys go");
        assert_eq!(store.idempotency_begin("s", "done", "other").await.unwrap(), IdempotencyBegin::Fresh, "{backend}");
        assert_eq!(store.idempotency_begin("s", "running", "h").await.unwrap(), IdempotencyBegin::Fresh, "{backend}");
    }
}

/// Keys are scoped by the token the auth layer resolves, not by the raw
/// `Authorization` header: `Bearer  T` (two spaces) and `bearer T` (the
/// scheme is case-insensitive, RFC 9110 §11.1) are the same caller as
/// `Bearer T`, so the same key replays the stored answer instead of booking
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_token_written_differently_shares_its_keys() {
    for url in urls().await {
        let app = app_on(&url, test_settings()).await;
        app.seed_property("SCOPE", 5).await;
        let send = |auth: String| {
            app.client
                .post(format!("{}/api/v1/properties/SCOPE/reservations", app.base))
                .header("authorization", auth)
                .header("Idempotency-Key", "scope-1")
                .json(&booking("Same Caller"))
                .send()
        };
        let first = send(format!("Bearer {}", app.admin)).await.unwrap();
        let first = app.ok_json(first, StatusCode::CREATED).await;
        for auth in [format!("Bearer  {}", app.admin), format!("bearer {}", app.admin), format!("BEARER {} ", app.admin)] {
            let r = send(auth.clone()).await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "{url}: {auth:?}");
            assert!(r.headers().get("idempotent-replayed").is_some(), "{url}: {auth:?} replays");
            let again: Value = r.json().await.unwrap();
            assert_eq!(again["id"], first["id"], "{url}: {auth:?}");
        }
        assert_eq!(reservations(&app, "SCOPE").await, 1, "{url}: one booking");
        assert_eq!(key_rows(&url).await, 1, "{url}: one key row");
        app.stop().await;
    }
}

/// Sends a booking with `key` on a raw connection and hangs up after `wait`.
async fn post_and_hang_up(app: &TestApp, property: &str, key: &str, name: &str, wait: Duration) {
    let body = booking(name).to_string();
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /api/v1/properties/{property}/reservations HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.admin,
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(wait).await;
    drop(tcp);
}

/// The state of a key's row (`in_progress`, `done`), None: no row.
async fn key_state(url: &str, key: &str) -> Option<String> {
    let q = "SELECT state FROM idempotency_keys WHERE key = $1";
    if url.starts_with("sqlite://") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, String>(q).bind(key).fetch_optional(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, String>(q).bind(key).fetch_optional(&mut c).await.unwrap()
    }
}

async fn in_progress_rows(url: &str) -> i64 {
    let q = "SELECT COUNT(*) FROM idempotency_keys WHERE state = 'in_progress'";
    if url.starts_with("sqlite://") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, i64>(q).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, i64>(q).fetch_one(&mut c).await.unwrap()
    }
}

/// A client that posts with a key, hangs up and repeats cannot pile up
/// handlers: the detached tasks take a permit of the same limit as the
/// normal path (`max_concurrent_requests`), so with the store stuck no more
/// than the limit run; the others wait, and all drain once the store moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_ups_never_run_more_handlers_than_the_concurrency_limit() {
    for url in urls().await {
        let app = app_on(&url, saluran::config::Settings { max_concurrent_requests: 2, ..test_settings() }).await;
        app.seed_property("LIMIT", 20).await;
        app.ok_json(app.post("/api/v1/properties/LIMIT/reservations", &booking("Warm Up")).await, StatusCode::CREATED).await;
        let hold = Hold::take(&url, "reservations").await;
        let mut peak = 0;
        for i in 0..6 {
            post_and_hang_up(&app, "LIMIT", &format!("limit-{i}"), &format!("Guest {i}"), Duration::from_millis(150)).await;
            peak = peak.max(app.app.idempotent().running());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        peak = peak.max(app.app.idempotent().running());
        eprintln!("{url}: 6 hang-ups in a row, limit 2: at most {peak} idempotent handlers ran at once");
        assert!(peak <= 2, "{url}: {peak} idempotent handlers ran at once with a limit of 2");
        assert!(peak >= 1, "{url}: the hung-up requests run");
        hold.release().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while app.app.idempotent().running() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(app.app.idempotent().running(), 0, "{url}: they drain");
        assert_eq!(in_progress_rows(&url).await, 0, "{url}: no key left in progress");
        // The server serves again.
        app.ok_json(app.post("/api/v1/properties/LIMIT/reservations", &booking("After")).await, StatusCode::CREATED).await;
        app.stop().await;
    }
}

/// A deploy (the graceful drain) while a hung-up idempotent request is
/// stuck (PostgreSQL: between begin and finish; SQLite, which holds the
/// whole database: before begin): the drain waits for the detached task,
/// which records the answer, so the key is done, not in progress for the
/// 24 h TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_waits_for_a_hung_up_idempotent_request() {
    for url in urls().await {
        let app = app_on(&url, test_settings()).await;
        app.seed_property("DRAIN", 5).await;
        app.ok_json(app.post("/api/v1/properties/DRAIN/reservations", &booking("Warm Up")).await, StatusCode::CREATED).await;
        let store = app.store.clone();
        if !url.starts_with("sqlite://") {
            // PostgreSQL holds only the reservations: the key is begun, and
            // recording its answer takes a second, so a drain that does not
            // wait for the task ends between begin and finish.
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            for sql in [
                "CREATE FUNCTION slow_finish() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER slow_finish BEFORE UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION slow_finish()",
            ] {
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
        }
        let hold = Hold::take(&url, "reservations").await;
        post_and_hang_up(&app, "DRAIN", "drain-1", "Deploy", Duration::from_millis(300)).await;
        if !url.starts_with("sqlite://") {
            assert_eq!(key_state(&url, "drain-1").await.as_deref(), Some("in_progress"), "begun before the deploy");
        }
        // The deploy starts while the request is stuck; the store moves
        // again half a second later.
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            hold.release().await;
        });
        let stopping = Instant::now();
        app.stop().await;
        eprintln!("{url}: drain with one stuck idempotent request took {:?}", stopping.elapsed());
        release.await.unwrap();
        eprintln!("{url}: key after the drain: {:?}", key_state(&url, "drain-1").await);
        assert_eq!(key_state(&url, "drain-1").await.as_deref(), Some("done"), "{url}: recorded before the process ends");
        let booked = store.list_reservations(&PropertyCode::parse("DRAIN").unwrap(), &RoomTypeCode::parse("STD").unwrap()).await.unwrap();
        assert_eq!(booked.len(), 2, "{url}");
    }
}

/// A key in progress for longer than its lease (2 × the request timeout)
/// was begun by a node that stopped mid-request: the retry gets a distinct
/// 409 telling it to look the resource up, and is not run again (the first
/// may have been applied).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_left_in_progress_by_a_stopped_node_answers_outcome_unknown() {
    for url in urls().await {
        let app = app_on(&url, saluran::config::Settings { request_timeout_secs: 1, ..test_settings() }).await;
        app.seed_property("STALE", 5).await;
        let path = "/api/v1/properties/STALE/reservations";
        let body = booking("Crashed").to_string();
        let hash = saluran::http::idempotency::request_hash("POST", path, body.as_bytes());
        let scope = saluran::auth::hash_token(&app.admin);
        // A node begins the key and stops.
        assert_eq!(app.store.idempotency_begin(&scope, "crash-1", &hash).await.unwrap(), saluran_domain::store::IdempotencyBegin::Fresh);
        let send = || {
            app.client
                .post(format!("{}{path}", app.base))
                .bearer_auth(&app.admin)
                .header("Idempotency-Key", "crash-1")
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        };
        let r = app.ok_json(send().await.unwrap(), StatusCode::CONFLICT).await;
        assert_eq!(r["error"]["code"], "idempotency_in_progress", "{url}: young: still running");
        tokio::time::sleep(Duration::from_millis(2300)).await;
        let r = app.ok_json(send().await.unwrap(), StatusCode::CONFLICT).await;
        assert_eq!(r["error"]["code"], "idempotency_outcome_unknown", "{url}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("look the resource up"), "{r}");
        assert_eq!(reservations(&app, "STALE").await, 0, "{url}: not run again");
        assert_eq!(key_state(&url, "crash-1").await.as_deref(), Some("in_progress"));
        app.stop().await;
    }
}

/// `request_timeout_secs` bounds the detached task too: past it the handler
/// is stopped, the task (and its permit) ends, and the key records that the
/// outcome is unknown (the booking it handed the shard may still be applied,
/// so a retry must not run it again). With the default 30 s the same
/// request is still running. PostgreSQL only: it can hold one table while
/// the key is written (SQLite holds the whole database, key included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_timeout_stops_a_stuck_idempotent_request() {
    let Some(url) = saluran::testing::fresh_postgres_url().await else {
        eprintln!("SKIPPED: SALURAN_TEST_POSTGRES_URL is not set");
        return;
    };
    for (timeout, stopped) in [(1, true), (30, false)] {
        let url = if timeout == 1 { url.clone() } else { saluran::testing::fresh_postgres_url().await.unwrap() };
        let app = app_on(&url, saluran::config::Settings { request_timeout_secs: timeout, ..test_settings() }).await;
        app.seed_property("SLOW", 5).await;
        app.ok_json(app.post("/api/v1/properties/SLOW/reservations", &booking("Warm Up")).await, StatusCode::CREATED).await;
        let hold = Hold::take(&url, "reservations").await;
        let send = || {
            app.client
                .post(format!("{}/api/v1/properties/SLOW/reservations", app.base))
                .bearer_auth(&app.admin)
                .header("Idempotency-Key", "slow-1")
                .timeout(Duration::from_secs(3))
                .json(&booking("Slow"))
                .send()
        };
        let started = Instant::now();
        let first = send().await;
        if stopped {
            assert_eq!(first.unwrap().status(), StatusCode::REQUEST_TIMEOUT, "answered 408 after 1 s");
            assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
        } else {
            assert!(first.is_err(), "with 30 s the client gives up first");
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while app.app.idempotent().running() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !stopped {
            assert_eq!(app.app.idempotent().running(), 1, "default: still running");
            assert_eq!(key_state(&url, "slow-1").await.as_deref(), Some("in_progress"));
            hold.release().await;
            app.stop().await;
            continue;
        }
        assert_eq!(app.app.idempotent().running(), 0, "stopped at the 1 s limit while the store is still stuck");
        assert_eq!(key_state(&url, "slow-1").await.as_deref(), Some("done"), "the key is not left in progress");
        let r = send().await.unwrap();
        assert!(r.headers().get("idempotent-replayed").is_some());
        assert_eq!(app.ok_json(r, StatusCode::CONFLICT).await["error"]["code"], "idempotency_outcome_unknown");
        hold.release().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = reservations(&app, "SLOW").await;
        assert!((1..=2).contains(&before), "{before}");
        let r = send().await.unwrap();
        assert_eq!(app.ok_json(r, StatusCode::CONFLICT).await["error"]["code"], "idempotency_outcome_unknown");
        assert_eq!(reservations(&app, "SLOW").await, before, "the retry does not book again");
        app.stop().await;
    }
}
