//! Properties and what they are made of: room types, rooms, rate plans.

use crate::codes::{PropertyCode, RatePlanCode, RoomNumber, RoomTypeCode, TenantCode};
use crate::dates::DateRange;
use crate::error::DomainError;
use crate::money::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Property {
    pub tenant: TenantCode,
    pub code: PropertyCode,
    pub name: String,
    /// IANA time zone name, e.g. `Asia/Jakarta`.
    pub timezone: String,
    pub currency: Currency,
    /// Local time of the night audit, `HH:MM`.
    pub night_audit_time: String,
    /// Whether the night audit marks no-shows (and releases their nights).
    /// Off unless the hotel asks for it: only a hotel whose check-ins reach
    /// saluran (`POST …/check-in`) can tell a no-show from an in-house guest.
    /// See docs/decisions/0004-no-shows.md.
    #[serde(default)]
    pub marks_no_shows: bool,
    /// The first arrival date the no-show sweep may mark: the property's
    /// local date when marking was turned on (or the property created with
    /// it on). Arrivals before it are never swept, so turning marking on
    /// does not call the guests already in house no-shows. `None` while
    /// marking is off. See docs/decisions/0004-no-shows.md.
    #[serde(default)]
    pub no_shows_from: Option<jiff::civil::Date>,
}

impl Property {
    pub fn tz(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.timezone).unwrap_or(jiff::tz::TimeZone::UTC)
    }
    /// The property's local calendar date at `now`.
    pub fn local_date(&self, now: jiff::Timestamp) -> jiff::civil::Date {
        now.to_zoned(self.tz()).date()
    }
}

pub fn parse_timezone(s: &str) -> Result<String, DomainError> {
    if s.is_empty() || s.len() > 64 {
        return Err(DomainError::invalid("timezone", "must be an IANA time zone such as Asia/Jakarta"));
    }
    jiff::tz::TimeZone::get(s).map(|_| s.to_owned()).map_err(|_| DomainError::invalid("timezone", format!("unknown IANA time zone {s:?}")))
}

pub fn parse_name(field: &str, s: &str, max: usize) -> Result<String, DomainError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(|c| c.is_control()) {
        return Err(DomainError::invalid(field, format!("must be 1-{max} printable characters")));
    }
    Ok(t.to_owned())
}

pub fn parse_audit_time(s: &str) -> Result<String, DomainError> {
    let ok = s.len() == 5 && s.parse::<jiff::civil::Time>().is_ok() && s.as_bytes()[2] == b':';
    if ok {
        Ok(s.to_owned())
    } else {
        Err(DomainError::invalid("night_audit_time", "must be HH:MM"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomType {
    pub code: RoomTypeCode,
    pub name: String,
    pub max_occupancy: u8,
    /// Number of physical rooms of this type (rooms created under it).
    pub physical_rooms: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    VacantClean,
    VacantDirty,
    Inspected,
    OccupiedClean,
    OccupiedDirty,
    OutOfOrder,
    OutOfService,
}

impl RoomStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RoomStatus::VacantClean => "vacant_clean",
            RoomStatus::VacantDirty => "vacant_dirty",
            RoomStatus::Inspected => "inspected",
            RoomStatus::OccupiedClean => "occupied_clean",
            RoomStatus::OccupiedDirty => "occupied_dirty",
            RoomStatus::OutOfOrder => "out_of_order",
            RoomStatus::OutOfService => "out_of_service",
        }
    }
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| DomainError::invalid("status", format!("unknown room status {s:?}")))
    }
    /// Out of order takes a room out of the sellable count (out of service
    /// is a short block — cleaning, a viewing — and stays sellable).
    pub fn removes_from_inventory(&self) -> bool {
        matches!(self, RoomStatus::OutOfOrder)
    }

    /// The housekeeping state machine. Staying in the same status is allowed
    /// (a repeated tap changes nothing).
    pub fn can_become(&self, next: RoomStatus) -> bool {
        use RoomStatus::*;
        if *self == next {
            return true;
        }
        match self {
            VacantDirty => matches!(next, VacantClean | OutOfOrder | OutOfService),
            VacantClean => matches!(next, Inspected | VacantDirty | OccupiedClean | OutOfOrder | OutOfService),
            Inspected => matches!(next, OccupiedClean | VacantDirty | OutOfOrder | OutOfService),
            OccupiedClean => matches!(next, OccupiedDirty | VacantDirty),
            OccupiedDirty => matches!(next, OccupiedClean | VacantDirty),
            OutOfOrder | OutOfService => matches!(next, VacantDirty | VacantClean | OutOfOrder | OutOfService),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Room {
    pub number: RoomNumber,
    pub room_type: RoomTypeCode,
    pub floor: i16,
    pub status: RoomStatus,
    /// While out of order: the dates it is counted out of order in the
    /// calendar (inclusive), released exactly when it comes back. `None`
    /// for a room out of order since before ranges were stored (then it was
    /// counted from that day to the end of the horizon).
    #[serde(default)]
    pub out_of_order: Option<DateRange>,
}

/// How a derived rate plan's rate follows its parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adjustment {
    /// Parent rate × (1 + percent / 100); e.g. -10 for a 10 % discount.
    Percent(#[serde(with = "rust_decimal::serde::str")] Decimal),
    /// Parent rate + amount (may be negative); never below zero.
    Amount(#[serde(with = "rust_decimal::serde::str")] Decimal),
}

impl Adjustment {
    /// The variant's name, as serde spells it (`percent`, `amount`); the
    /// store keeps a derivation as this name and `value`.
    pub fn kind(&self) -> &'static str {
        match self {
            Adjustment::Percent(_) => "percent",
            Adjustment::Amount(_) => "amount",
        }
    }

    pub fn value(&self) -> Decimal {
        match self {
            Adjustment::Percent(v) | Adjustment::Amount(v) => *v,
        }
    }

    /// The adjustment `kind` names, of `value`; `None` for an unknown kind.
    pub fn from_kind(kind: &str, value: Decimal) -> Option<Self> {
        match kind {
            "percent" => Some(Adjustment::Percent(value)),
            "amount" => Some(Adjustment::Amount(value)),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        match self {
            Adjustment::Percent(p) if *p <= Decimal::from(-100) || *p > Decimal::from(1000) => {
                Err(DomainError::invalid("adjustment.percent", "must be above -100 and at most 1000"))
            }
            Adjustment::Amount(a) if a.abs() >= Decimal::from(100_000_000_000_000i64) => {
                Err(DomainError::invalid("adjustment.amount", "too large"))
            }
            _ => Ok(()),
        }
    }
    pub fn apply(&self, parent: Decimal) -> Decimal {
        let v = match self {
            Adjustment::Percent(p) => parent * (Decimal::ONE + *p / Decimal::ONE_HUNDRED),
            Adjustment::Amount(a) => parent + *a,
        };
        v.max(Decimal::ZERO).round_dp(4).normalize()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Derivation {
    pub parent: RatePlanCode,
    pub adjustment: Adjustment,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatePlan {
    pub code: RatePlanCode,
    pub room_type: RoomTypeCode,
    pub name: String,
    pub derived: Option<Derivation>,
}

/// Everything about a property except its calendar: what the Property actor
/// holds and what request validation needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyConfig {
    pub property: Property,
    pub room_types: Vec<RoomType>,
    pub rooms: Vec<Room>,
    pub rate_plans: Vec<RatePlan>,
}

impl PropertyConfig {
    pub fn room_type(&self, code: &str) -> Option<&RoomType> {
        self.room_types.iter().find(|r| r.code.as_str() == code)
    }
    pub fn rate_plan(&self, code: &str) -> Option<&RatePlan> {
        self.rate_plans.iter().find(|r| r.code.as_str() == code)
    }
    pub fn plans_of<'a>(&'a self, room_type: &'a str) -> impl Iterator<Item = &'a RatePlan> + 'a {
        self.rate_plans.iter().filter(move |p| p.room_type.as_str() == room_type)
    }
}

/// Who may do what. Roles are ordered by reach, but the checks are explicit
/// per action (see `Permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    RevenueManager,
    FrontDesk,
    Housekeeping,
}

impl Role {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "admin" => Ok(Role::Admin),
            "revenue_manager" => Ok(Role::RevenueManager),
            "front_desk" => Ok(Role::FrontDesk),
            "housekeeping" => Ok(Role::Housekeeping),
            _ => Err(DomainError::invalid("role", "must be one of admin, revenue_manager, front_desk, housekeeping")),
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::RevenueManager => "revenue_manager",
            Role::FrontDesk => "front_desk",
            Role::Housekeeping => "housekeeping",
        }
    }
    pub fn allows(&self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::RevenueManager => !matches!(p, CreateProperty | ConfigureProperty | ManageChannels),
            Role::FrontDesk => matches!(p, ReadProperty | ReadCalendar | Search | Book | UpdateRoomStatus),
            Role::Housekeeping => matches!(p, ReadProperty | UpdateRoomStatus),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    CreateProperty,
    /// Property-wide settings such as whether the night audit marks
    /// no-shows: admin only.
    ConfigureProperty,
    ReadProperty,
    ManageSetup,
    /// Connecting an OTA (and any change or removal of a connection): it
    /// points saluran at a URL, so admin only.
    ManageChannels,
    WriteAri,
    ReadCalendar,
    Search,
    Book,
    UpdateRoomStatus,
}

/// What a bearer token may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenScope {
    pub role: Role,
    pub tenant: TenantCode,
    /// Empty: every property of the tenant.
    pub properties: Vec<PropertyCode>,
}

impl TokenScope {
    pub fn reaches(&self, tenant: &TenantCode, property: &PropertyCode) -> bool {
        &self.tenant == tenant && (self.properties.is_empty() || self.properties.contains(property))
    }
}

#[cfg(test)]
mod tests {
    use super::RoomStatus::{self, *};

    #[test]
    fn housekeeping_transitions() {
        assert!(VacantDirty.can_become(VacantClean));
        assert!(VacantClean.can_become(Inspected));
        assert!(Inspected.can_become(OccupiedClean));
        assert!(OccupiedClean.can_become(OccupiedDirty));
        assert!(OccupiedDirty.can_become(VacantDirty));
        assert!(VacantClean.can_become(OutOfOrder));
        assert!(OutOfOrder.can_become(VacantDirty));
        assert!(!VacantDirty.can_become(OccupiedClean), "no check-in to a dirty room");
        assert!(!OccupiedDirty.can_become(OutOfOrder), "an occupied room cannot go out of order");
        assert!(!VacantDirty.can_become(Inspected), "inspect after cleaning");
        let all = [VacantClean, VacantDirty, Inspected, OccupiedClean, OccupiedDirty, OutOfOrder, OutOfService];
        for s in all {
            assert!(s.can_become(s));
            assert_eq!(RoomStatus::parse(s.as_str()).unwrap(), s);
        }
    }

    #[test]
    fn an_adjustment_round_trips_through_its_kind_and_value_as_serde_names_it() {
        use super::Adjustment;
        use rust_decimal::Decimal;
        for a in [Adjustment::Percent(Decimal::new(-105, 1)), Adjustment::Amount(Decimal::new(50_000, 0))] {
            assert_eq!(Adjustment::from_kind(a.kind(), a.value()), Some(a));
            let json = serde_json::to_value(a).unwrap();
            assert_eq!(json.as_object().unwrap().keys().collect::<Vec<_>>(), [a.kind()]);
        }
        assert_eq!(Adjustment::from_kind("factor", Decimal::ONE), None);
    }
}
