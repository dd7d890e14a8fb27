//! What a simulator is: which OTA it plays, the credentials the hub must send,
//! its limits and where it delivers bookings.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The protocol family the simulator speaks (see DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Booking.com / SiteMinder style: ARI pushed as `OTA_HotelAvailNotifRQ` and
    /// `OTA_HotelRateAmountNotifRQ`; bookings pushed to the hub's webhook.
    Opentravel,
    /// AlpineBits HotelData 2020-10: FreeRooms pushed, GuestRequests pulled by the hub.
    Alpinebits,
    /// Channex style JSON: batched ARI, a booking-revisions feed (pull) plus a signed notify.
    Jsonrest,
}

impl Profile {
    pub fn as_str(&self) -> &'static str {
        match self {
            Profile::Opentravel => "opentravel",
            Profile::Alpinebits => "alpinebits",
            Profile::Jsonrest => "jsonrest",
        }
    }

    /// Whether bookings are pushed to the hub (true) or pulled by it (false).
    /// `jsonrest` is pulled, but also sends a signed notify when a hub webhook is configured.
    pub fn pushes_bookings(&self) -> bool {
        matches!(self, Profile::Opentravel)
    }
}

/// Where and how the simulator calls the hub.
#[derive(Debug, Clone)]
pub struct HubWebhook {
    /// Full URL, e.g. `http://127.0.0.1:8080/webhooks/opentravel/P1/booking`.
    pub url: String,
    /// HTTP Basic user (opentravel). Unused by jsonrest.
    pub username: String,
    /// HTTP Basic password (opentravel) or HMAC secret (jsonrest notify).
    pub secret: String,
}

/// Redelivery of pushed bookings that the hub has not acknowledged:
/// `initial` doubling up to `max`, at most `max_attempts` tries and `max_elapsed` in all.
#[derive(Debug, Clone, Copy)]
pub struct Redelivery {
    pub initial: Duration,
    pub max: Duration,
    pub max_attempts: u32,
    pub max_elapsed: Duration,
}

impl Default for Redelivery {
    fn default() -> Self {
        Redelivery {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            max_attempts: 30,
            max_elapsed: Duration::from_secs(60),
        }
    }
}

/// Everything a simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub profile: Profile,
    /// The OTA's code for the property; messages for another hotel are refused.
    pub hotel_code: String,
    /// What the hub must send (HTTP Basic user; ignored by jsonrest).
    pub username: String,
    /// What the hub must send (HTTP Basic password, or `X-Api-Key` for jsonrest).
    pub password: String,
    /// The OTA's rate limit over hub-facing requests; `None` = unlimited.
    pub requests_per_minute: Option<u32>,
    /// Most ARI updates (date ranges) accepted in one message; `None` = unlimited.
    pub max_updates_per_request: Option<usize>,
    /// Where bookings are pushed (opentravel) or notified (jsonrest).
    pub hub_webhook: Option<HubWebhook>,
    /// Address to bind; `127.0.0.1:0` by default so tests can run many in parallel.
    pub listen: SocketAddr,
    /// Largest request body accepted (413 beyond).
    pub body_limit: usize,
    /// Currency of generated bookings.
    pub currency: String,
    /// Nightly amount for bookings on dates the simulator has no rate for.
    pub default_rate: rust_decimal::Decimal,
    /// How pushed bookings are redelivered.
    pub redelivery: Redelivery,
    /// Timeout of one push to the hub.
    pub push_timeout: Duration,
    /// Whether the simulator lowers its own availability when it sells a room
    /// (as a real OTA would until the hub pushes the new count). Off by default,
    /// so `/_sim/view` shows only what the hub sent.
    pub decrement_on_booking: bool,
}

impl SimConfig {
    pub fn new(profile: Profile, hotel_code: impl Into<String>, username: impl Into<String>, password: impl Into<String>) -> Self {
        SimConfig {
            profile,
            hotel_code: hotel_code.into(),
            username: username.into(),
            password: password.into(),
            requests_per_minute: None,
            max_updates_per_request: None,
            hub_webhook: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            body_limit: 2 * 1024 * 1024,
            currency: "IDR".to_string(),
            default_rate: rust_decimal::Decimal::from(750_000),
            redelivery: Redelivery::default(),
            push_timeout: Duration::from_secs(10),
            decrement_on_booking: false,
        }
    }

    pub fn with_rpm(mut self, rpm: u32) -> Self {
        self.requests_per_minute = Some(rpm);
        self
    }

    pub fn with_max_updates(mut self, max: usize) -> Self {
        self.max_updates_per_request = Some(max);
        self
    }

    pub fn with_hub_webhook(mut self, url: impl Into<String>, username: impl Into<String>, secret: impl Into<String>) -> Self {
        self.hub_webhook = Some(HubWebhook { url: url.into(), username: username.into(), secret: secret.into() });
        self
    }

    pub fn with_redelivery(mut self, redelivery: Redelivery) -> Self {
        self.redelivery = redelivery;
        self
    }
}
