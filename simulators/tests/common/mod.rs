//! Helpers shared by the simulator tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use jiff::civil::{date, Date};
use rust_decimal::Decimal;
use saluran_channels::model::{AriRange, AriValues};
use saluran_sim::{Redelivery, SimHandle};
use tokio_util::sync::CancellationToken;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client")
}

pub fn d(day: i8) -> Date {
    date(2030, 3, day)
}

pub fn avail_range(room: &str, start: Date, end: Date, available: u32) -> AriRange {
    AriRange {
        ota_room: room.into(),
        ota_rate: None,
        start,
        end,
        values: AriValues { available: Some(available), min_stay: Some(2), stop_sell: Some(false), ..AriValues::default() },
    }
}

pub fn rate_range(room: &str, rate: &str, start: Date, end: Date, amount: i64) -> AriRange {
    AriRange {
        ota_room: room.into(),
        ota_rate: Some(rate.into()),
        start,
        end,
        values: AriValues {
            rate: Some(Decimal::from(amount)),
            occupancy_rates: vec![(1, Decimal::from(amount - 100_000)), (2, Decimal::from(amount))],
            ..AriValues::default()
        },
    }
}

pub fn fast_redelivery() -> Redelivery {
    Redelivery {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
        max_attempts: 50,
        max_elapsed: Duration::from_secs(20),
    }
}

pub async fn get_json(url: &str) -> serde_json::Value {
    client().get(url).send().await.expect("send").json().await.expect("json")
}

pub async fn post_json(url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = client().post(url).json(&body).send().await.expect("send");
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, v)
}

/// A tiny local "hub": an axum server on 127.0.0.1:0 whose handler is given.
pub struct TestHub {
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl TestHub {
    pub async fn start(router: axum::Router) -> TestHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).with_graceful_shutdown(async move { s.cancelled().await }).await;
        });
        TestHub { addr, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Waits (bounded) until `f` returns true.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn cells(sim: &SimHandle) -> usize {
    sim.view().cells.len()
}
