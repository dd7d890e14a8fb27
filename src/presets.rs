//! OTA presets (`config/ota-presets/*.toml`): profile, rate limits, message
//! size, horizon, poll interval, auth style. The files are compiled in, so
//! the binary works from any directory; a file of the same name in the
//! configured folder overrides the built-in one.

use saluran_actors::channel::PushPolicy;
use saluran_domain::channel::Profile;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub display_name: String,
    pub profile: Profile,
    pub auth: String,
    pub requests_per_minute: u32,
    pub account_requests_per_minute: u32,
    pub max_updates_per_request: usize,
    pub horizon_days: i64,
    pub poll_interval_secs: u64,
    pub timeout_secs: u64,
    pub max_tries: usize,
    pub debounce_ms: u64,
    /// Retry backoff bounds (exponential with jitter between them).
    #[serde(default = "default_min_backoff")]
    pub min_backoff_ms: u64,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
    /// Pause before the full sync that follows a dead letter.
    #[serde(default = "default_after_dead_letter")]
    pub after_dead_letter_ms: u64,
    /// Largest answer to an ARI push or an acknowledgement read, in bytes; a
    /// larger 2xx answer is a failed try (retried). Default 1 MiB.
    #[serde(default = "default_max_answer_bytes")]
    pub max_answer_bytes: usize,
    /// Largest pulled booking feed read (AlpineBits `OTA_ResRetrieveRS`, the JSON
    /// REST revisions feed), in bytes; a larger one fails the pull. Default 8 MiB.
    #[serde(default = "default_max_feed_bytes")]
    pub max_feed_bytes: usize,
    /// Whether this OTA is sent minimum stays *through* a date (OpenTravel
    /// `LengthsOfStay ArrivalDateBased="false"`; JSON REST `min_stay_through`).
    /// An OTA that ignores `ArrivalDateBased` would apply the through minimum
    /// as an arrival minimum, so OpenTravel presets say `false` unless the OTA
    /// documents it. Unset: `false` for `opentravel`, `true` for `jsonrest`
    /// (part of its contract); AlpineBits never carries it.
    #[serde(default)]
    pub min_stay_through: Option<bool>,
}

/// Default `max_answer_bytes`.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 1 << 20;
/// Default `max_feed_bytes`.
pub const DEFAULT_MAX_FEED_BYTES: usize = 8 << 20;

fn default_max_answer_bytes() -> usize {
    DEFAULT_MAX_ANSWER_BYTES
}
fn default_max_feed_bytes() -> usize {
    DEFAULT_MAX_FEED_BYTES
}

fn default_min_backoff() -> u64 {
    500
}
fn default_max_backoff() -> u64 {
    30_000
}
fn default_after_dead_letter() -> u64 {
    60_000
}

impl Preset {
    /// Whether minimum stays through are sent to this OTA (see `min_stay_through`).
    pub fn carries_min_stay_through(&self) -> bool {
        match self.profile {
            Profile::Alpinebits => false,
            Profile::Opentravel => self.min_stay_through.unwrap_or(false),
            Profile::Jsonrest => self.min_stay_through.unwrap_or(true),
        }
    }

    /// The ARI fields sent to this OTA: its profile's, less what the preset
    /// turns off. The convergence checks compare exactly these.
    pub fn carries(&self) -> Vec<saluran_channels::AriField> {
        let all: &[saluran_channels::AriField] = match self.profile {
            Profile::Opentravel => saluran_channels::opentravel::CARRIES,
            Profile::Alpinebits => saluran_channels::alpinebits::CARRIES,
            Profile::Jsonrest => saluran_channels::jsonrest::CARRIES,
        };
        all.iter().copied().filter(|f| *f != saluran_channels::AriField::MinStayThrough || self.carries_min_stay_through()).collect()
    }

    pub fn push_policy(&self) -> PushPolicy {
        PushPolicy {
            debounce: Duration::from_millis(self.debounce_ms),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            max_tries: self.max_tries.max(1),
            requests_per_minute: NonZeroU32::new(self.requests_per_minute),
            max_ranges_per_request: self.max_updates_per_request.max(1),
            horizon_days: self.horizon_days.clamp(1, saluran_domain::dates::HORIZON_DAYS),
            min_backoff: Duration::from_millis(self.min_backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms.max(self.min_backoff_ms)),
            after_dead_letter: Duration::from_millis(self.after_dead_letter_ms),
            ..PushPolicy::default()
        }
    }
}

const BUILT_IN: [(&str, &str); 6] = [
    ("booking", include_str!("../config/ota-presets/booking.toml")),
    ("agoda", include_str!("../config/ota-presets/agoda.toml")),
    ("expedia", include_str!("../config/ota-presets/expedia.toml")),
    ("traveloka", include_str!("../config/ota-presets/traveloka.toml")),
    ("tiketcom", include_str!("../config/ota-presets/tiketcom.toml")),
    ("channex", include_str!("../config/ota-presets/channex.toml")),
];

#[derive(Debug, Clone)]
pub struct Presets(BTreeMap<String, Preset>);

impl Presets {
    pub fn built_in() -> Result<Presets, String> {
        let mut m = BTreeMap::new();
        for (name, text) in BUILT_IN {
            let p: Preset = toml::from_str(text).map_err(|e| format!("preset {name}: {e}"))?;
            m.insert(name.to_owned(), p);
        }
        Ok(Presets(m))
    }

    /// Built-in presets, overridden or extended by `dir/*.toml` if it exists.
    pub fn load(dir: Option<&Path>) -> Result<Presets, String> {
        let mut presets = Self::built_in()?;
        if let Some(dir) = dir.filter(|d| d.is_dir()) {
            let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let p: Preset = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                presets.0.insert(p.name.clone(), p);
            }
        }
        Ok(presets)
    }

    pub fn get(&self, name: &str) -> Option<&Preset> {
        self.0.get(name)
    }

    /// The preset a channel uses: the named one, else the first of its profile.
    pub fn for_channel(&self, name: Option<&str>, profile: Profile) -> Option<&Preset> {
        match name {
            Some(n) => self.get(n).filter(|p| p.profile == profile),
            None => self.0.values().find(|p| p.profile == profile),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(|k| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_presets_cover_the_otas_and_every_profile() {
        let p = Presets::built_in().unwrap();
        for name in ["booking", "agoda", "expedia", "traveloka", "tiketcom", "channex"] {
            let preset = p.get(name).unwrap();
            assert_eq!(preset.horizon_days, 730, "{name}");
        }
        assert_eq!(p.get("expedia").unwrap().max_updates_per_request, 5000);
        assert_eq!(p.get("channex").unwrap().requests_per_minute, 10);
        for profile in [Profile::Opentravel, Profile::Alpinebits, Profile::Jsonrest] {
            assert!(p.for_channel(None, profile).is_some(), "{profile:?}");
        }
        assert!(p.for_channel(Some("booking"), Profile::Jsonrest).is_none(), "profile must match");
        for name in ["booking", "agoda", "expedia"] {
            assert!(!p.get(name).unwrap().carries_min_stay_through(), "{name}: not documented, not sent");
        }
        assert!(p.get("traveloka").unwrap().carries_min_stay_through());
        assert_eq!(p.get("booking").unwrap().max_feed_bytes, DEFAULT_MAX_FEED_BYTES);
    }

    fn preset(profile: &str, extra: &str) -> Preset {
        toml::from_str(&format!(
            "name = \"x\"\ndisplay_name = \"x\"\nprofile = \"{profile}\"\nauth = \"basic\"\nrequests_per_minute = 1\n\
             account_requests_per_minute = 1\nmax_updates_per_request = 1\nhorizon_days = 1\npoll_interval_secs = 1\n\
             timeout_secs = 1\nmax_tries = 1\ndebounce_ms = 1\n{extra}"
        ))
        .unwrap()
    }

    /// The `min_stay_through` knob: what it says goes, per profile default when unset.
    #[test]
    fn min_stay_through_is_a_preset_setting() {
        use saluran_channels::AriField::MinStayThrough;
        let on = preset("opentravel", "min_stay_through = true\n");
        let off = preset("opentravel", "min_stay_through = false\n");
        assert!(on.carries_min_stay_through() && on.carries().contains(&MinStayThrough));
        assert!(!off.carries_min_stay_through() && !off.carries().contains(&MinStayThrough));
        assert_eq!(off.carries().len(), saluran_channels::AriField::ALL.len() - 1);
        assert!(!preset("opentravel", "").carries_min_stay_through(), "opentravel default: off");
        assert!(preset("jsonrest", "").carries_min_stay_through(), "jsonrest default: on (its contract)");
        assert!(!preset("jsonrest", "min_stay_through = false\n").carries().contains(&MinStayThrough));
        assert!(!preset("alpinebits", "min_stay_through = true\n").carries_min_stay_through(), "FreeRooms cannot carry it");
        let caps = preset("jsonrest", "max_answer_bytes = 10\nmax_feed_bytes = 20\n");
        assert_eq!((caps.max_answer_bytes, caps.max_feed_bytes), (10, 20));
    }
}
