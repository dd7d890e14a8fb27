//! `spawn_app()`: the real server on a random port with a fresh database.
#![allow(dead_code)]

use reqwest::{Response, StatusCode};
use saluran::app::App;
use saluran::auth;
use saluran::config::Settings;
use saluran_domain::property::{Role, TokenScope};
use saluran_domain::store::Store;
use saluran_domain::{PropertyCode, TenantCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin: String,
    pub app: App,
    pub store: Arc<dyn Store>,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<tokio::task::JoinHandle<()>>,
}

pub fn test_settings() -> Settings {
    let key = std::env::temp_dir().join("saluran-tests").join(format!("{}.key", uuid::Uuid::now_v7()));
    Settings { database_url: "memory-of-test".into(), secret_key_file: key.display().to_string(), ..Settings::default() }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(saluran::testing::fresh_sqlite().await, test_settings()).await
}

pub async fn spawn_app_on(store: Arc<dyn Store>) -> TestApp {
    spawn_app_with(store, test_settings()).await
}

pub async fn spawn_app_with(store: Arc<dyn Store>, settings: Settings) -> TestApp {
    spawn_app_clocked(store, settings, Arc::new(saluran_domain::ports::SystemClock)).await
}

/// As `spawn_app_with`, with the actors' clock given (e.g. a `ManualClock`).
pub async fn spawn_app_clocked(store: Arc<dyn Store>, settings: Settings, clock: Arc<dyn saluran_domain::ports::Clock>) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = App::build_with_clock(settings, store.clone(), clock).await.expect("app");
    let admin = auth::create_token(
        store.as_ref(),
        &TokenScope { role: Role::Admin, tenant: TenantCode::parse("default").unwrap(), properties: vec![] },
    )
    .await
    .expect("token");
    let (tx, rx) = oneshot::channel::<()>();
    let served = app.clone();
    let join = tokio::spawn(async move {
        let _ = served
            .serve(listener, async move {
                let _ = rx.await;
            })
            .await;
    });
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client"),
        admin,
        app,
        store,
        shutdown: Some(tx),
        join: Some(join),
    }
}

/// A date `offset` days after today in Asia/Jakarta (the test properties'
/// time zone), as `YYYY-MM-DD`.
pub fn day(offset: i64) -> String {
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Asia/Jakarta").unwrap()).date();
    today.checked_add(jiff::Span::new().days(offset)).unwrap().to_string()
}

impl TestApp {
    pub async fn token(&self, role: Role, tenant: &str, properties: &[&str]) -> String {
        let scope = TokenScope {
            role,
            tenant: TenantCode::parse(tenant).unwrap(),
            properties: properties.iter().map(|p| PropertyCode::parse(*p).unwrap()).collect(),
        };
        auth::create_token(self.store.as_ref(), &scope).await.unwrap()
    }
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client.post(format!("{}{}", self.base, path)).bearer_auth(token).json(body).send().await.expect("request")
    }
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.post_as(&self.admin, path, body).await
    }
    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.client.get(format!("{}{}", self.base, path)).bearer_auth(token).send().await.expect("request")
    }
    pub async fn get(&self, path: &str) -> Response {
        self.get_as(&self.admin, path).await
    }
    pub async fn ok_json(&self, r: Response, want: StatusCode) -> Value {
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, want, "unexpected status; body: {body}");
        body
    }

    /// A property with room types STD (`rooms` rooms) and DLX (2 rooms),
    /// plans STD-BAR, STD-NRF (derived -10 %) and DLX-BAR, rates for the
    /// next 60 days.
    pub async fn seed_property(&self, code: &str, rooms: u32) {
        let p = format!("/api/v1/properties/{code}");
        self.ok_json(
            self.post("/api/v1/properties", &json!({"code": code, "name": "Test Hotel", "timezone": "Asia/Jakarta", "currency": "IDR"}))
                .await,
            StatusCode::CREATED,
        )
        .await;
        for (rt, n) in [("STD", rooms), ("DLX", 2)] {
            self.ok_json(
                self.post(&format!("{p}/room-types"), &json!({"code": rt, "name": rt, "max_occupancy": 3})).await,
                StatusCode::CREATED,
            )
            .await;
            for i in 0..n {
                self.ok_json(
                    self.post(&format!("{p}/rooms"), &json!({"number": format!("{rt}{i}"), "room_type": rt, "floor": 1})).await,
                    StatusCode::CREATED,
                )
                .await;
            }
            self.ok_json(
                self.post(&format!("{p}/rate-plans"), &json!({"code": format!("{rt}-BAR"), "room_type": rt, "name": "BAR"})).await,
                StatusCode::CREATED,
            )
            .await;
        }
        self.ok_json(
            self.post(
                &format!("{p}/rate-plans"),
                &json!({"code": "STD-NRF", "room_type": "STD", "name": "NRF", "derived_from": "STD-BAR", "adjustment": {"percent": "-10"}}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        self.ok_json(
            self.post(
                &format!("{p}/ari"),
                &json!({"updates": [
                    {"room_type": "STD", "rate_plan": "STD-BAR", "from": day(0), "to": day(60), "rate": "1000000"},
                    {"room_type": "DLX", "rate_plan": "DLX-BAR", "from": day(0), "to": day(60), "rate": "2000000"},
                ]}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }

    pub async fn book(&self, code: &str, rt: &str, plan: &str, from: i64, nights: i64) -> Response {
        self.post(
            &format!("/api/v1/properties/{code}/reservations"),
            &json!({"room_type": rt, "rate_plan": plan, "check_in": day(from), "check_out": day(from + nights), "adults": 2, "guest": {"name": "Budi Santoso"}}),
        )
        .await
    }

    /// The calendar day record of a room type.
    pub async fn inventory(&self, code: &str, rt: &str, offset: i64) -> Value {
        let cal = self
            .ok_json(self.get(&format!("/api/v1/properties/{code}/ari?from={}&to={}", day(offset), day(offset))).await, StatusCode::OK)
            .await;
        cal["room_types"].as_array().unwrap().iter().find(|r| r["code"] == rt).unwrap()["days"][0].clone()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = j.await;
        }
    }
}
