//! Fault injection and request statistics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a faulted request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    /// 429 Too Many Requests with `Retry-After: 1`.
    #[serde(rename = "429")]
    TooManyRequests,
    /// 500 with the profile's error body.
    #[serde(rename = "500")]
    ServerError,
    /// 503 with `Retry-After: 1`.
    #[serde(rename = "503")]
    Unavailable,
    /// Accept the request and answer nothing for `timeout_ms`, then drop the connection.
    #[serde(rename = "timeout")]
    Timeout,
    /// Drop the connection without any response.
    #[serde(rename = "reset")]
    Reset,
    /// 200 with an endless-looking answer: `oversized_bytes` of filler, streamed
    /// (never held in the simulator's memory), without a `Content-Length`. A client
    /// that reads it whole buffers all of it; `Stats::oversized_bytes_sent` counts
    /// what the client actually pulled.
    #[serde(rename = "oversized")]
    Oversized,
}

impl FaultKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FaultKind::TooManyRequests => "429",
            FaultKind::ServerError => "500",
            FaultKind::Unavailable => "503",
            FaultKind::Timeout => "timeout",
            FaultKind::Reset => "reset",
            FaultKind::Oversized => "oversized",
        }
    }
}

fn default_timeout_ms() -> u64 {
    35_000
}

/// 200 MiB: the size of the answer that grew a hub by 526 MB a minute (issue 8).
fn default_oversized_bytes() -> u64 {
    200 << 20
}

/// Largest `oversized_bytes` accepted (64 GiB: streamed, so it costs nothing here).
const MAX_OVERSIZED_BYTES: u64 = 64 << 30;

/// `POST /_sim/faults` body (the whole configuration is replaced each time;
/// `{"fraction":0}` stops faults and latency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// Share of hub-facing requests that fail, 0.0 ..= 1.0.
    #[serde(default)]
    pub fraction: f64,
    /// Kinds to draw from (uniformly) for a faulted request.
    #[serde(default)]
    pub kinds: Vec<FaultKind>,
    /// Added before every hub-facing request is handled, faulted or not.
    #[serde(default)]
    pub latency_ms: u64,
    /// How long a `timeout` fault holds the request before dropping it.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How large an `oversized` answer is.
    #[serde(default = "default_oversized_bytes")]
    pub oversized_bytes: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            fraction: 0.0,
            kinds: Vec::new(),
            latency_ms: 0,
            timeout_ms: default_timeout_ms(),
            oversized_bytes: default_oversized_bytes(),
        }
    }
}

impl FaultConfig {
    pub fn none() -> Self {
        FaultConfig::default()
    }

    /// Every request fails with `kind`.
    pub fn always(kind: FaultKind) -> Self {
        FaultConfig { fraction: 1.0, kinds: vec![kind], ..FaultConfig::default() }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.fraction) || self.fraction.is_nan() {
            return Err("fraction must be between 0 and 1".into());
        }
        if self.fraction > 0.0 && self.kinds.is_empty() {
            return Err("kinds must name at least one fault when fraction > 0".into());
        }
        if self.latency_ms > 600_000 || self.timeout_ms > 600_000 {
            return Err("latency_ms and timeout_ms must be at most 600000".into());
        }
        if self.oversized_bytes > MAX_OVERSIZED_BYTES {
            return Err(format!("oversized_bytes must be at most {MAX_OVERSIZED_BYTES}"));
        }
        Ok(())
    }

    /// Draws the fault (if any) for one request.
    pub fn roll(&self) -> Option<FaultKind> {
        if self.fraction <= 0.0 || self.kinds.is_empty() {
            return None;
        }
        if self.fraction < 1.0 && rand::random::<f64>() >= self.fraction {
            return None;
        }
        let i = rand::random::<usize>() % self.kinds.len();
        self.kinds.get(i).copied()
    }
}

/// `GET /_sim/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// endpoint → status ("200", "401", "429", "reset", "timeout", …) → count.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Fault kind → count.
    pub faults: BTreeMap<String, u64>,
    /// Requests refused by the rate limit (not counting injected 429 faults).
    pub rate_limited: u64,
    /// Messages applied to the view.
    pub messages_applied: u64,
    /// Messages refused (400/413).
    pub messages_refused: u64,
    /// Cells written.
    pub cells_written: u64,
    /// Bookings created.
    pub bookings_created: u64,
    /// Booking pushes/notifies sent to the hub (every attempt).
    pub pushes_sent: u64,
    /// Bytes of `oversized` answers the clients actually read (pulled from the stream).
    #[serde(default)]
    pub oversized_bytes_sent: u64,
    /// ARI requests (OpenTravel avail/rate notifs, JSON-REST `api/ari`) being
    /// handled now, from arrival (before the latency fault) until answered or
    /// dropped by the client. One simulator is one hotel code.
    #[serde(default)]
    pub ari_in_flight: u64,
    /// The most ARI requests ever handled at once since the last reset: above
    /// 1, two pushes of one connection overlapped.
    #[serde(default)]
    pub max_ari_in_flight: u64,
}

impl Stats {
    pub fn record(&mut self, endpoint: &str, status: &str) {
        *self.requests.entry(endpoint.to_string()).or_default().entry(status.to_string()).or_default() += 1;
    }

    /// An ARI request arrived.
    pub fn ari_started(&mut self) {
        self.ari_in_flight += 1;
        self.max_ari_in_flight = self.max_ari_in_flight.max(self.ari_in_flight);
    }

    /// An ARI request was answered or dropped.
    pub fn ari_ended(&mut self) {
        self.ari_in_flight = self.ari_in_flight.saturating_sub(1);
    }

    /// Requests with `status` over all endpoints.
    pub fn count_status(&self, status: &str) -> u64 {
        self.requests.values().filter_map(|m| m.get(status)).sum()
    }

    /// All requests to `endpoint`.
    pub fn count_endpoint(&self, endpoint: &str) -> u64 {
        self.requests.get(endpoint).map(|m| m.values().sum()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_body() {
        let f: FaultConfig =
            serde_json::from_str(r#"{"fraction":0.3,"kinds":["429","500","timeout","reset"],"latency_ms":20,"timeout_ms":35000}"#)
                .expect("parse");
        assert_eq!(f.kinds.len(), 4);
        assert!(f.validate().is_ok());
        let off: FaultConfig = serde_json::from_str(r#"{"fraction":0}"#).expect("parse");
        assert!(off.validate().is_ok());
        assert_eq!(off.roll(), None);
        assert_eq!(FaultConfig::always(FaultKind::Reset).roll(), Some(FaultKind::Reset));
        let big: FaultConfig = serde_json::from_str(r#"{"fraction":1,"kinds":["oversized"],"oversized_bytes":1048576}"#).expect("parse");
        assert_eq!((big.roll(), big.oversized_bytes), (Some(FaultKind::Oversized), 1 << 20));
        assert_eq!(FaultConfig::none().oversized_bytes, 200 << 20);
        assert!(FaultConfig { oversized_bytes: u64::MAX, ..FaultConfig::none() }.validate().is_err());
        assert!(serde_json::from_str::<FaultConfig>(r#"{"fraction":2,"kinds":["500"]}"#).expect("parse").validate().is_err());
    }
}
