//! Shared by the channel scenarios: OTA simulators (`saluran-sim`) run inside
//! this process, channel connections made through the API, and waiting for
//! their syncs.

use crate::client::Conn;
use anyhow::{bail, Context, Result};
use saluran_sim::{Profile, Sim, SimConfig, SimHandle};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const PROFILES: [Profile; 3] = [Profile::Opentravel, Profile::Alpinebits, Profile::Jsonrest];

/// Which presets the channels use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PresetSet {
    /// `load-opentravel`, `load-alpinebits`, `load-jsonrest` from
    /// `load-tests/presets/` (the server must run with
    /// `SALURAN_PRESETS_DIR=load-tests/presets`): high rate limits, 100 ms debounce.
    Load,
    /// The shipped presets: `booking`, `tiketcom`, `traveloka`.
    Stock,
}

impl PresetSet {
    pub fn preset(self, p: Profile) -> &'static str {
        match (self, p) {
            (PresetSet::Load, Profile::Opentravel) => "load-opentravel",
            (PresetSet::Load, Profile::Alpinebits) => "load-alpinebits",
            (PresetSet::Load, Profile::Jsonrest) => "load-jsonrest",
            (PresetSet::Stock, p) => stock_preset(p),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PresetSet::Load => "load",
            PresetSet::Stock => "stock",
        }
    }
}

/// The shipped preset of each profile.
pub fn stock_preset(p: Profile) -> &'static str {
    match p {
        Profile::Opentravel => "booking",
        Profile::Alpinebits => "tiketcom",
        Profile::Jsonrest => "traveloka",
    }
}

/// Two letters for codes: OT, AB, JR.
pub fn short(p: Profile) -> &'static str {
    match p {
        Profile::Opentravel => "OT",
        Profile::Alpinebits => "AB",
        Profile::Jsonrest => "JR",
    }
}

/// HTTP messages one pushed batch (one chunk of ranges) takes: OpenTravel
/// sends availability/restrictions and rates separately.
pub fn messages_per_batch(p: Profile) -> u64 {
    match p {
        Profile::Opentravel => 2,
        Profile::Alpinebits | Profile::Jsonrest => 1,
    }
}

/// The channel `endpoint` for a simulator.
pub fn endpoint(sim: &SimHandle) -> String {
    match sim.profile() {
        Profile::Opentravel => sim.base_url(),
        Profile::Alpinebits => format!("{}/alpinebits", sim.base_url()),
        Profile::Jsonrest => format!("{}/api", sim.base_url()),
    }
}

/// The simulator's endpoints that receive ARI (its `/_sim/stats` labels).
pub fn is_ari_endpoint(p: Profile, label: &str) -> bool {
    match p {
        Profile::Opentravel => label == "OTA_HotelAvailNotif" || label == "OTA_HotelRateAmountNotif",
        Profile::Alpinebits => label.ends_with(saluran_channels::alpinebits::ACTION_FREEROOMS),
        Profile::Jsonrest => label == "api/ari",
    }
}

/// (all, 200) ARI requests a simulator received.
pub fn ari_requests(sim: &SimHandle) -> (u64, u64) {
    let stats = sim.stats();
    let p = sim.profile();
    let mut all = 0;
    let mut ok = 0;
    for (label, by_status) in &stats.requests {
        if is_ari_endpoint(p, label) {
            all += by_status.values().sum::<u64>();
            ok += by_status.get("200").copied().unwrap_or(0);
        }
    }
    (all, ok)
}

/// What a simulator needs to know about its hub connection.
pub struct SimSpec {
    pub profile: Profile,
    pub hotel_code: String,
    pub user: String,
    pub password: String,
    /// `{base}/webhooks/{profile}/{property}/{channel}` for profiles that
    /// call the hub (opentravel pushes, jsonrest notifies).
    pub webhook: Option<(String, String, String)>,
    pub max_updates: Option<usize>,
}

impl SimSpec {
    /// A simulator for `channel` of `property`; credentials derive from the codes.
    pub fn new(profile: Profile, base: &str, property: &str, channel: &str, hook: &Hook) -> SimSpec {
        let hotel_code = format!("H{}{}", property.replace(['-', '_', '.'], ""), short(profile));
        let webhook = match profile {
            Profile::Alpinebits => None,
            p => Some((format!("{base}/webhooks/{}/{property}/{channel}", p.as_str()), hook.user.clone(), hook.password.clone())),
        };
        SimSpec {
            profile,
            hotel_code,
            user: format!("saluran-{}", property.to_ascii_lowercase()),
            password: format!("ota-secret-{}", property.to_ascii_lowercase()),
            webhook,
            max_updates: None,
        }
    }

    pub async fn start(&self) -> Result<SimHandle> {
        let mut cfg = SimConfig::new(self.profile, &self.hotel_code, &self.user, &self.password);
        if let Some((url, user, secret)) = &self.webhook {
            cfg = cfg.with_hub_webhook(url, user, secret);
        }
        if let Some(m) = self.max_updates {
            cfg = cfg.with_max_updates(m);
        }
        Sim::start(cfg).await.with_context(|| format!("starting a {} simulator", self.profile.as_str()))
    }

    pub fn credentials(&self) -> Value {
        match self.profile {
            Profile::Jsonrest => json!({"api_key": self.password}),
            _ => json!({"username": self.user, "password": self.password}),
        }
    }
}

/// The HTTP Basic pair the OTA uses on our webhook.
#[derive(Clone, Debug)]
pub struct Hook {
    pub user: String,
    pub password: String,
}

impl Default for Hook {
    fn default() -> Self {
        Hook { user: "ota-hook".into(), password: "load-webhook-secret".into() }
    }
}

/// The `POST …/channels` body.
pub fn channel_body(code: &str, preset: &str, spec: &SimSpec, sim: &SimHandle, hook: &Hook, mappings: &[Value]) -> Value {
    json!({
        "code": code, "profile": spec.profile.as_str(), "preset": preset, "endpoint": endpoint(sim),
        "hotel_code": spec.hotel_code, "credentials": spec.credentials(),
        "webhook_auth": {"username": hook.user, "password": hook.password},
        "mappings": mappings,
    })
}

/// One mapping: our room type and plan → the OTA's room and rate codes.
pub fn mapping(room_type: &str, rate_plan: &str, ota_room: &str, ota_rate: &str) -> Value {
    json!({"room_type": room_type, "rate_plan": rate_plan, "ota_room": ota_room, "ota_rate": ota_rate})
}

/// Creates a channel; a 409 (it exists, from an earlier run whose simulators
/// are gone) is an error: run against a fresh database or another `--prefix`.
pub async fn create_channel(conn: &mut Conn, property: &str, body: &Value) -> Result<()> {
    let path = format!("/api/v1/properties/{property}/channels");
    let r = conn.post_json(&path, body).await.map_err(|e| anyhow::anyhow!("POST {path}: {e}"))?;
    match r.status {
        200 | 201 => Ok(()),
        409 => bail!(
            "channel {} of {property} exists already (an earlier run's, pointing at simulators that are gone): use a fresh database or another --prefix",
            body["code"]
        ),
        s => bail!("POST {path} → {s}: {}", r.snippet()),
    }
}

/// A channel's `sync` block.
#[derive(Clone, Debug, Default)]
pub struct SyncState {
    pub pending_cells: i64,
    pub synced_once: bool,
    pub requests_sent: i64,
    pub failures: i64,
    pub dead_letters: i64,
    pub last_error: Option<String>,
}

impl SyncState {
    pub fn done(&self) -> bool {
        self.synced_once && self.pending_cells == 0
    }
}

pub async fn channel_sync(conn: &mut Conn, property: &str, channel: &str) -> Result<SyncState> {
    let path = format!("/api/v1/properties/{property}/channels/{channel}");
    let r = conn.get(&path).await.map_err(|e| anyhow::anyhow!("GET {path}: {e}"))?;
    if r.status != 200 {
        bail!("GET {path} → {}: {}", r.status, r.snippet());
    }
    let v: Value = serde_json::from_slice(&r.body).context("channel JSON")?;
    let s = &v["sync"];
    Ok(SyncState {
        pending_cells: s["pending_cells"].as_i64().unwrap_or(-1),
        synced_once: !s["last_success_at"].is_null(),
        requests_sent: s["requests_sent"].as_i64().unwrap_or(0),
        failures: s["failures"].as_i64().unwrap_or(0),
        dead_letters: s["dead_letters"].as_i64().unwrap_or(0),
        last_error: s["last_error"].as_str().map(str::to_owned),
    })
}

/// Polls every channel until each has synced once with nothing pending, or
/// `timeout` passes. Returns how long it took and the last states.
pub async fn wait_synced(conn: &mut Conn, channels: &[(String, String)], timeout: Duration) -> Result<(Duration, Vec<SyncState>)> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut states = vec![SyncState::default(); channels.len()];
    let mut done = vec![false; channels.len()];
    // Bounded by the deadline.
    loop {
        for (i, (p, c)) in channels.iter().enumerate() {
            if !done[i] {
                states[i] = channel_sync(conn, p, c).await?;
                done[i] = states[i].done();
            }
        }
        let left = done.iter().filter(|d| !**d).count();
        if left == 0 {
            return Ok((started.elapsed(), states));
        }
        if Instant::now() >= deadline {
            let (i, _) = done.iter().enumerate().find(|(_, d)| !**d).expect("one is left");
            bail!(
                "{left} of {} channels not synced after {:?} (e.g. {}/{}: pending {}, last error {:?})",
                channels.len(),
                timeout,
                channels[i].0,
                channels[i].1,
                states[i].pending_cells,
                states[i].last_error
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops simulators concurrently (each stop is bounded).
pub async fn stop_all(sims: Vec<SimHandle>) {
    let handles: Vec<_> = sims.into_iter().map(|s| tokio::spawn(s.stop())).collect();
    for h in handles {
        let _ = h.await;
    }
}

/// Sums the channels' sync counters, for reports.
pub fn sync_totals(states: &[SyncState]) -> Value {
    json!({
        "channels": states.len(),
        "requests_sent": states.iter().map(|s| s.requests_sent).sum::<i64>(),
        "failures": states.iter().map(|s| s.failures).sum::<i64>(),
        "dead_letters": states.iter().map(|s| s.dead_letters).sum::<i64>(),
        "pending_cells": states.iter().map(|s| s.pending_cells.max(0)).sum::<i64>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_presets() {
        let hook = Hook::default();
        let s = SimSpec::new(Profile::Opentravel, "http://127.0.0.1:8080", "LOAD-0003", "OT", &hook);
        assert_eq!(s.hotel_code, "HLOAD0003OT");
        assert_eq!(s.webhook.as_ref().unwrap().0, "http://127.0.0.1:8080/webhooks/opentravel/LOAD-0003/OT");
        assert_eq!(s.credentials()["username"], "saluran-load-0003");
        let j = SimSpec::new(Profile::Jsonrest, "http://127.0.0.1:8080", "LOAD-0003", "JR", &hook);
        assert!(j.credentials().get("api_key").is_some());
        assert!(SimSpec::new(Profile::Alpinebits, "http://x", "P", "AB", &hook).webhook.is_none());
        assert_eq!(PresetSet::Stock.preset(Profile::Jsonrest), "traveloka");
        assert_eq!(PresetSet::Load.preset(Profile::Alpinebits), "load-alpinebits");
        assert!(is_ari_endpoint(Profile::Alpinebits, "alpinebits/OTA_HotelInvCountNotif:FreeRooms"));
        assert!(!is_ari_endpoint(Profile::Alpinebits, "alpinebits/OTA_Read:GuestRequests"));
        assert!(hook.password.len() >= 8);
    }
}
