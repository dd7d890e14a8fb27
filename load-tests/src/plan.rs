//! The shape of the synthetic fleet (codes, rooms, plans, rates), dates in the
//! property's time zone, the ARI batches, and a tiny PRNG.

use anyhow::{Context, Result};
use clap::Args;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde_json::{json, Value};

/// The synthetic fleet every scenario works on. `setup` creates it; the
/// other scenarios must be given the same values.
#[derive(Args, Clone, Debug)]
pub struct Fleet {
    /// Number of properties (PREFIX-0000 .. PREFIX-{N-1}).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub properties: u32,
    /// Property code prefix.
    #[arg(long, default_value = "LOAD")]
    pub prefix: String,
    /// Room types per property (RT1 ..).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub room_types: u32,
    /// Rate plans per room type: RTk-BAR (base) and derived ones.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub rate_plans: u32,
    /// Physical rooms per room type.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub rooms_per_type: u32,
    /// Properties' time zone (dates are property-local).
    #[arg(long, default_value = "Asia/Jakarta")]
    pub timezone: String,
}

impl Fleet {
    pub fn check(&self) -> Result<()> {
        let ok = !self.prefix.is_empty()
            && self.prefix.len() <= 40
            && self.prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        anyhow::ensure!(ok, "--prefix must be 1-40 characters of A-Z a-z 0-9 - _ .");
        TimeZone::get(&self.timezone).with_context(|| format!("unknown --timezone {}", self.timezone))?;
        Ok(())
    }

    pub fn property_code(&self, i: u32) -> String {
        format!("{}-{:04}", self.prefix, i)
    }

    pub fn property_codes(&self) -> Vec<String> {
        (0..self.properties).map(|i| self.property_code(i)).collect()
    }

    pub fn json(&self) -> Value {
        json!({
            "properties": self.properties, "prefix": self.prefix, "room_types": self.room_types,
            "rate_plans": self.rate_plans, "rooms_per_type": self.rooms_per_type,
        })
    }
}

pub fn room_type_code(k: u32) -> String {
    format!("RT{k}")
}

pub fn base_plan_code(k: u32) -> String {
    format!("RT{k}-BAR")
}

/// Room numbers: type k, room j (1-based) → "k01".."k20" (or "k001".. when
/// there are 100 or more rooms per type).
pub fn room_number(k: u32, j: u32, per_type: u32) -> String {
    if per_type < 100 {
        format!("{k}{j:02}")
    } else {
        format!("{k}{j:03}")
    }
}

/// A rate plan to create: the request body (code, room type, name, and for
/// derived plans the parent and the adjustment object).
pub struct PlanSpec {
    pub body: Value,
}

/// Plans for room type k: plan 0 is the base `RTk-BAR`; plan 1 is
/// non-refundable (-10 %); plan 2 is with breakfast (+250000 per night);
/// further plans are -5 % steps.
pub fn rate_plans(k: u32, n: u32) -> Vec<PlanSpec> {
    let rt = room_type_code(k);
    let base = base_plan_code(k);
    (0..n)
        .map(|j| {
            let (code, name, adj) = match j {
                0 => (base.clone(), "Best available rate".to_string(), None),
                1 => (format!("{rt}-NRF"), "Non-refundable".to_string(), Some(json!({"percent": "-10"}))),
                2 => (format!("{rt}-BB"), "Bed and breakfast".to_string(), Some(json!({"amount": "250000"}))),
                j => (format!("{rt}-D{j}"), format!("Discount {}%", 5 * j), Some(json!({"percent": format!("-{}", 5 * j)}))),
            };
            let mut body = json!({"code": code, "room_type": rt, "name": name});
            if let Some(adj) = adj {
                body["derived_from"] = json!(base);
                body["adjustment"] = adj;
            }
            PlanSpec { body }
        })
        .collect()
}

/// The nightly BAR rate of room type k, in IDR.
pub fn base_rate(k: u32) -> u64 {
    500_000 + u64::from(k - 1) * 250_000
}

/// One ARI batch covering `from..=to` for every room type: an availability
/// line (all physical rooms) and, on the base plan, a rate line (BAR plus
/// `bump`) with min stay 1.
pub fn ari_body(fleet: &Fleet, from: Date, to: Date, bump: u64) -> Value {
    let (from, to) = (from.to_string(), to.to_string());
    let mut updates = Vec::with_capacity(2 * fleet.room_types as usize);
    for k in 1..=fleet.room_types {
        updates.push(json!({
            "room_type": room_type_code(k), "from": from, "to": to, "availability": fleet.rooms_per_type,
        }));
        updates.push(json!({
            "room_type": room_type_code(k), "rate_plan": base_plan_code(k), "from": from, "to": to,
            "rate": (base_rate(k) + bump).to_string(), "min_stay": 1,
        }));
    }
    json!({"updates": updates})
}

/// Today's date in a time zone.
pub fn today(tz: &str) -> Result<Date> {
    let tz = TimeZone::get(tz).with_context(|| format!("unknown time zone {tz}"))?;
    Ok(Timestamp::now().to_zoned(tz).date())
}

pub fn add_days(d: Date, n: u32) -> Date {
    d.checked_add(i64::from(n).days()).expect("date in range")
}

/// Dates today+0 .. today+n-1 as strings, formatted once.
pub fn date_strings(today: Date, n: u32) -> Vec<String> {
    (0..n).map(|i| add_days(today, i).to_string()).collect()
}

/// SplitMix64: small, fast, good enough to pick properties and dates.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0), Lemire's multiply-shift.
    pub fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.next_u64() as u32) * u64::from(n)) >> 32) as u32
    }
}

/// A seed from `--seed`, or from the clock.
pub fn seed(given: Option<u64>) -> u64 {
    given.unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(42))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Fleet {
        Fleet { properties: 3, prefix: "LOAD".into(), room_types: 5, rate_plans: 3, rooms_per_type: 20, timezone: "Asia/Jakarta".into() }
    }

    #[test]
    fn codes() {
        let f = fleet();
        f.check().unwrap();
        assert_eq!(f.property_codes(), vec!["LOAD-0000", "LOAD-0001", "LOAD-0002"]);
        assert_eq!(room_number(3, 7, 20), "307");
        assert_eq!(room_number(3, 7, 150), "3007");
        let mut bad = fleet();
        bad.prefix = "LO AD".into();
        assert!(bad.check().is_err());
        bad = fleet();
        bad.timezone = "Mars/Olympus".into();
        assert!(bad.check().is_err());
    }

    #[test]
    fn plans_derive_from_bar() {
        let p = rate_plans(2, 4);
        let codes: Vec<&str> = p.iter().map(|p| p.body["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["RT2-BAR", "RT2-NRF", "RT2-BB", "RT2-D3"]);
        assert!(p[0].body.get("derived_from").is_none());
        assert_eq!(p[1].body["derived_from"], "RT2-BAR");
        assert_eq!(p[1].body["adjustment"], json!({"percent": "-10"}));
        assert_eq!(p[2].body["adjustment"], json!({"amount": "250000"}));
        assert_eq!(p[3].body["adjustment"], json!({"percent": "-15"}));
    }

    #[test]
    fn ari_batch_covers_every_room_type() {
        let f = fleet();
        let from = Date::constant(2030, 1, 1);
        let to = add_days(from, 729);
        let b = ari_body(&f, from, to, 100);
        let u = b["updates"].as_array().unwrap();
        assert_eq!(u.len(), 10);
        assert_eq!(u[0], json!({"room_type": "RT1", "from": "2030-01-01", "to": "2031-12-31", "availability": 20}));
        assert_eq!(u[1]["rate"], "500100");
        assert_eq!(u[1]["rate_plan"], "RT1-BAR");
        assert_eq!(u[9]["rate"], "1500100");
    }

    #[test]
    fn dates_and_rng() {
        let d = date_strings(Date::constant(2024, 2, 28), 3);
        assert_eq!(d, ["2024-02-28", "2024-02-29", "2024-03-01"]);
        assert!(today("Asia/Jakarta").is_ok());
        let mut r = Rng::new(1);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[r.below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800 && n < 1200), "{seen:?}");
        assert_eq!(Rng::new(5).next_u64(), Rng::new(5).next_u64());
    }
}
