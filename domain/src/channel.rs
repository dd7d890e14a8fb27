//! Channel connections (property × OTA) and the rules for bookings that
//! OTAs deliver: which delivery changes what, whatever order they come in.

use crate::codes::{ChannelCode, PropertyCode, RatePlanCode, RoomTypeCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Opentravel,
    Alpinebits,
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
    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "opentravel" => Some(Profile::Opentravel),
            "alpinebits" => Some(Profile::Alpinebits),
            "jsonrest" => Some(Profile::Jsonrest),
            _ => None,
        }
    }
}

/// Our room type and rate plan ↔ the OTA's codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub room_type: RoomTypeCode,
    pub rate_plan: RatePlanCode,
    pub ota_room: String,
    pub ota_rate: String,
}

/// A channel connection as stored. Secrets are sealed (AES-256-GCM by the
/// binary, key from the environment): the store never sees them in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    pub property: PropertyCode,
    pub code: ChannelCode,
    pub profile: Profile,
    /// Name of the OTA preset (`config/ota-presets/{preset}.toml`).
    pub preset: String,
    pub endpoint: String,
    pub hotel_code: String,
    /// Sealed JSON of the credentials we use to call the OTA.
    pub sealed_credentials: Vec<u8>,
    /// The HTTP Basic user name the OTA uses to call our webhook.
    pub webhook_username: String,
    /// Sealed password (or HMAC secret) the OTA uses to call our webhook.
    pub sealed_webhook_secret: Vec<u8>,
    pub mappings: Vec<Mapping>,
    pub created_at: jiff::Timestamp,
}

impl ChannelConfig {
    pub fn ota_codes(&self, room_type: &str, rate_plan: &str) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.room_type.as_str() == room_type && m.rate_plan.as_str() == rate_plan)
    }
    pub fn our_codes(&self, ota_room: &str, ota_rate: Option<&str>) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.ota_room == ota_room && ota_rate.is_none_or(|r| m.ota_rate == r))
    }
}

/// A connection's push health, persisted so it survives restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub last_success_at: Option<jiff::Timestamp>,
    pub last_attempt_at: Option<jiff::Timestamp>,
    /// Cells changed in the hub and not yet acknowledged by the OTA.
    pub pending_cells: i64,
    pub consecutive_failures: i64,
    pub total_failures: i64,
    pub dead_letters: i64,
    pub last_error: Option<String>,
    pub requests_sent: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub property: PropertyCode,
    pub channel: ChannelCode,
    pub created_at: jiff::Timestamp,
    pub error: String,
    /// What could not be delivered (dates, rooms), for the operator.
    pub summary: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundAction {
    New,
    Modify,
    Cancel,
}

impl InboundAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            InboundAction::New => "new",
            InboundAction::Modify => "modify",
            InboundAction::Cancel => "cancel",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "new" => Some(InboundAction::New),
            "modify" => Some(InboundAction::Modify),
            "cancel" => Some(InboundAction::Cancel),
            _ => None,
        }
    }
}

/// What an OTA delivery did. Stored with the delivery (`as_str` / `parse`
/// at the store edge); the store's guards on a booking and its
/// cancellation key on it (`counts_as_booked`, `is_tombstone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Applied as the OTA stated it.
    Applied,
    /// Applied past availability (I2).
    Overbooked,
    /// An older revision than one already applied, or after a cancellation:
    /// acknowledged, nothing changed.
    Stale,
    /// A cancellation that only moves the booking to another room type.
    Moved,
    /// For a room or rate no mapping names: stored and alerted, never
    /// dropped. Holds the whole stored text (`unmapped`, or with the OTA's
    /// codes: `unmapped: room X rate Y`).
    Unmapped(String),
    /// Seen before: its stored ack was sent back. Answered, never stored.
    Replayed,
}

impl InboundOutcome {
    /// The outcome of a delivery for an unmapped room / rate.
    pub fn unmapped(ota_room: &str, ota_rate: Option<&str>) -> Self {
        InboundOutcome::Unmapped(format!("unmapped: room {ota_room} rate {}", ota_rate.unwrap_or("-")))
    }
    pub fn as_str(&self) -> &str {
        match self {
            InboundOutcome::Applied => "applied",
            InboundOutcome::Overbooked => "overbooked",
            InboundOutcome::Stale => "stale",
            InboundOutcome::Moved => "moved",
            InboundOutcome::Unmapped(text) => text,
            InboundOutcome::Replayed => "replayed",
        }
    }
    /// `None` for text no version of saluran stored.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "applied" => InboundOutcome::Applied,
            "overbooked" => InboundOutcome::Overbooked,
            "stale" => InboundOutcome::Stale,
            "moved" => InboundOutcome::Moved,
            "replayed" => InboundOutcome::Replayed,
            s if s == "unmapped" || s.starts_with("unmapped:") => InboundOutcome::Unmapped(s.to_owned()),
            _ => return None,
        })
    }
    /// The delivery made (or kept) a booking: what a later cancellation
    /// must not slip under.
    pub fn counts_as_booked(&self) -> bool {
        matches!(self, InboundOutcome::Applied | InboundOutcome::Overbooked)
    }
    /// The short form answered to the OTA-facing caller (`unmapped` without
    /// the codes; a move is the cancellation applied here).
    pub fn answer(&self) -> &'static str {
        match self {
            InboundOutcome::Applied | InboundOutcome::Moved => "applied",
            InboundOutcome::Overbooked => "overbooked",
            InboundOutcome::Stale => "stale",
            InboundOutcome::Unmapped(_) => "unmapped",
            InboundOutcome::Replayed => "replayed",
        }
    }
}

impl std::fmt::Display for InboundOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One delivery of one revision of an OTA booking, with the
/// acknowledgement we gave for it (replayed on redelivery: I1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    pub property: PropertyCode,
    pub channel: ChannelCode,
    pub ota_reservation_id: String,
    pub revision: String,
    pub action: InboundAction,
    /// Our reservation, when one exists.
    pub reservation_id: Option<String>,
    /// What the delivery did (stored as `InboundOutcome::as_str`).
    pub outcome: InboundOutcome,
    pub ack: String,
    pub received_at: jiff::Timestamp,
}

/// What to do with a delivery, given the revisions of the same OTA booking
/// already applied. Revisions compare as the OTA writes them (timestamps in
/// one format, or numbers of equal width); a cancellation is final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundDecision {
    /// Exactly this revision was applied before: send back its ack.
    Replay(String),
    /// Older than (or equal in order to) what is applied, or after a
    /// cancellation: acknowledge, change nothing.
    Stale,
    /// Create the booking (a `Modify` for an unknown booking carries the
    /// whole booking, so it creates it too).
    Create,
    /// Replace the booking's stay / room / rate.
    Modify,
    /// Cancel it; or, if it does not exist yet, remember the cancellation so
    /// a late `New` is stored cancelled.
    Cancel,
    /// The booking arrives after its own cancellation: store it, cancelled,
    /// taking no inventory (so every order of deliveries ends the same).
    CreateCancelled,
}

/// An xs:dateTime / RFC 3339 revision as an instant: with an offset (`Z`,
/// `+07:00`) as given; without one, as a wall-clock time in `tz` (the
/// property's time zone: an OTA that leaves the offset out means the hotel's
/// local time, and reading it as UTC puts it hours off west or east of UTC);
/// fractional seconds kept. A time that does not exist in `tz` (spring-forward
/// gap) or is ambiguous (fall-back) takes jiff's compatible choice. `None` for
/// anything else (a version number, an opaque id).
pub fn revision_instant(s: &str, tz: &jiff::tz::TimeZone) -> Option<jiff::Timestamp> {
    let s = s.trim();
    if s.as_bytes().get(10) != Some(&b'T') || s.contains('[') {
        return None;
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    let civil = s.parse::<jiff::civil::DateTime>().ok()?;
    civil.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

/// How two revisions of one OTA booking order: timestamps as instants
/// (whatever their offsets or fractional seconds: `…10:00:00+07:00` is before
/// `…03:30:00Z`, `…10:00:00.5Z` after `…10:00:00Z`; one without an offset is a
/// time in `tz`, the property's zone), numbers numerically (whatever their
/// widths), anything else as text.
pub fn revision_order(a: &str, b: &str, tz: &jiff::tz::TimeZone) -> std::cmp::Ordering {
    if let (Some(x), Some(y)) = (revision_instant(a, tz), revision_instant(b, tz)) {
        return x.cmp(&y);
    }
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// `tz` is the property's time zone, for revisions stamped without an offset
/// (see [`revision_order`]).
pub fn decide(history: &[InboundRecord], action: InboundAction, revision: &str, tz: &jiff::tz::TimeZone) -> InboundDecision {
    if let Some(same) = history.iter().find(|r| r.revision == revision && r.action == action) {
        return InboundDecision::Replay(same.ack.clone());
    }
    let applied: Vec<&InboundRecord> = history.iter().filter(|r| r.outcome.counts_as_booked()).collect();
    let cancelled = applied.iter().any(|r| r.action == InboundAction::Cancel);
    let newest = applied.iter().map(|r| r.revision.as_str()).max_by(|a, b| revision_order(a, b, tz));
    match action {
        InboundAction::Cancel if cancelled => InboundDecision::Stale,
        InboundAction::Cancel => InboundDecision::Cancel,
        _ if cancelled => {
            if applied.iter().any(|r| r.reservation_id.is_some()) {
                InboundDecision::Stale
            } else {
                InboundDecision::CreateCancelled
            }
        }
        _ => match newest {
            None => InboundDecision::Create,
            Some(n) if revision_order(revision, n, tz) != std::cmp::Ordering::Greater => InboundDecision::Stale,
            Some(_) => InboundDecision::Modify,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(action: InboundAction, revision: &str, reservation: Option<&str>) -> InboundRecord {
        InboundRecord {
            property: PropertyCode::parse("P").unwrap(),
            channel: ChannelCode::parse("BDC").unwrap(),
            ota_reservation_id: "X1".into(),
            revision: revision.into(),
            action,
            reservation_id: reservation.map(String::from),
            outcome: InboundOutcome::Applied,
            ack: format!("ack-{revision}"),
            received_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    /// Replays the decisions over a delivery order and returns the final
    /// (exists, cancelled, revision) state.
    fn run(order: &[(InboundAction, &str)]) -> (bool, bool, Option<String>) {
        let mut history = Vec::new();
        let (mut exists, mut cancelled, mut rev) = (false, false, None);
        for (action, r) in order {
            match decide(&history, *action, r, &jiff::tz::TimeZone::UTC) {
                InboundDecision::Create => {
                    exists = true;
                    rev = Some(r.to_string());
                    history.push(rec(*action, r, Some("R")));
                }
                InboundDecision::Modify => {
                    rev = Some(r.to_string());
                    history.push(rec(*action, r, Some("R")));
                }
                InboundDecision::Cancel => {
                    cancelled = true;
                    history.push(rec(*action, r, if exists { Some("R") } else { None }));
                }
                InboundDecision::CreateCancelled => {
                    exists = true;
                    cancelled = true;
                    rev = Some(r.to_string());
                    history.push(rec(*action, r, Some("R")));
                }
                InboundDecision::Stale | InboundDecision::Replay(_) => {}
            }
        }
        (exists, cancelled, rev)
    }

    #[test]
    fn outcomes_read_back_as_stored_and_unknown_text_is_refused() {
        for o in [
            InboundOutcome::Applied,
            InboundOutcome::Overbooked,
            InboundOutcome::Stale,
            InboundOutcome::Moved,
            InboundOutcome::Replayed,
            InboundOutcome::Unmapped("unmapped".into()),
            InboundOutcome::unmapped("DBL", None),
        ] {
            assert_eq!(InboundOutcome::parse(o.as_str()), Some(o.clone()), "{o}");
        }
        assert_eq!(InboundOutcome::unmapped("DBL", Some("NRF")).as_str(), "unmapped: room DBL rate NRF");
        assert_eq!(InboundOutcome::unmapped("DBL", None).answer(), "unmapped");
        assert_eq!(InboundOutcome::Moved.answer(), "applied");
        assert_eq!(InboundOutcome::parse("unmappedX"), None);
        assert_eq!(InboundOutcome::parse("Applied"), None);
        assert!(InboundOutcome::Overbooked.counts_as_booked() && !InboundOutcome::Moved.counts_as_booked());
    }

    #[test]
    fn every_order_of_new_modify_cancel_ends_the_same() {
        let n = (InboundAction::New, "2026-01-01T10:00:00");
        let m = (InboundAction::Modify, "2026-01-01T11:00:00");
        let c = (InboundAction::Cancel, "2026-01-01T12:00:00");
        let orders = [[n, m, c], [n, c, m], [m, n, c], [m, c, n], [c, n, m], [c, m, n]];
        for o in orders {
            let (exists, cancelled, _) = run(&o);
            assert!(exists && cancelled, "{o:?}");
        }
    }

    #[test]
    fn new_then_modify_in_either_order_keeps_the_newest() {
        let n = (InboundAction::New, "1");
        let m = (InboundAction::Modify, "2");
        assert_eq!(run(&[n, m]).2.as_deref(), Some("2"));
        assert_eq!(run(&[m, n]).2.as_deref(), Some("2"));
    }

    #[test]
    fn a_redelivery_replays_its_ack() {
        let h = vec![rec(InboundAction::New, "1", Some("R"))];
        assert_eq!(decide(&h, InboundAction::New, "1", &jiff::tz::TimeZone::UTC), InboundDecision::Replay("ack-1".into()));
    }

    #[test]
    fn timestamp_revisions_compare_as_instants_not_text() {
        use std::cmp::Ordering::*;
        let utc = &jiff::tz::TimeZone::UTC;
        // Text would say Less ('.' < 'Z'): the fraction makes it later.
        assert_eq!(revision_order("2026-01-01T10:00:00.5Z", "2026-01-01T10:00:00Z", utc), Greater);
        // Text would say Greater ("10" > "03"): +07:00 makes it 03:00Z, before 03:30Z.
        assert_eq!(revision_order("2026-01-01T10:00:00+07:00", "2026-01-01T03:30:00Z", utc), Less);
        assert_eq!(revision_order("2026-01-01T10:00:00+07:00", "2026-01-01T03:00:00Z", utc), Equal);
        assert_eq!(revision_order("2026-01-01T10:00:00", "2026-01-01T10:00:00Z", utc), Equal);
        // A modification keeping the creation time, ordered by its later modification time.
        let h = vec![rec(InboundAction::New, "2026-01-01T10:00:00+07:00", Some("R"))];
        assert_eq!(decide(&h, InboundAction::Modify, "2026-01-01T03:00:00.001Z", utc), InboundDecision::Modify);
        assert_eq!(decide(&h, InboundAction::Modify, "2026-01-01T02:59:59Z", utc), InboundDecision::Stale);
    }

    /// Issue 8 follow-up: a timestamp without an offset is a time at the
    /// property, not UTC. New at 10:00-05:00 (15:00Z) then a Modify stamped
    /// 12:00 without an offset at a property in America/New_York (17:00Z in
    /// January): the modification is newer, not stale.
    #[test]
    fn offset_less_revisions_are_read_in_the_property_time_zone() {
        let west = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let h = vec![rec(InboundAction::New, "2026-01-15T10:00:00-05:00", Some("R"))];
        assert_eq!(decide(&h, InboundAction::Modify, "2026-01-15T12:00:00", &west), InboundDecision::Modify);
        assert_eq!(decide(&h, InboundAction::Modify, "2026-01-15T09:59:59", &west), InboundDecision::Stale);
        // East of UTC: Asia/Makassar is +08:00. New at 10:00+08:00 (02:00Z); a
        // Modify stamped 09:30 local (01:30Z) is older, though as UTC it would
        // have read 09:30Z, newer.
        let east = jiff::tz::TimeZone::get("Asia/Makassar").unwrap();
        let h = vec![rec(InboundAction::New, "2026-01-15T10:00:00+08:00", Some("R"))];
        assert_eq!(decide(&h, InboundAction::Modify, "2026-01-15T09:30:00", &east), InboundDecision::Stale);
        assert_eq!(decide(&h, InboundAction::Modify, "2026-01-15T10:30:00", &east), InboundDecision::Modify);
        assert_eq!(revision_instant("2026-01-15T10:30:00", &east), Some("2026-01-15T02:30:00Z".parse().unwrap()));
        // With an offset, the zone plays no part.
        assert_eq!(revision_instant("2026-01-15T10:30:00Z", &east), Some("2026-01-15T10:30:00Z".parse().unwrap()));
    }

    #[test]
    fn numeric_revisions_compare_as_numbers() {
        let utc = &jiff::tz::TimeZone::UTC;
        assert_eq!(revision_order("10", "9", utc), std::cmp::Ordering::Greater);
        assert_eq!(revision_order("2026-01-02", "2026-01-01", utc), std::cmp::Ordering::Greater);
    }
}
