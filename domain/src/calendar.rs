//! The ARI calendar: per room type × date (inventory) and per rate plan ×
//! date (rates and restrictions).

use crate::codes::RatePlanCode;
use crate::dates::days_between;
use crate::property::{RatePlan, RoomType};
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Who closed a date (stop-sell). saluran lifts the ones it set itself
/// (auto-replenish) once the date has rooms again; never a person's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopSellSource {
    /// Open.
    #[default]
    None,
    /// A person, through the ARI API.
    Manual,
    /// An OTA booking past availability (I2).
    Overbooking,
    /// Availability fell to the configured auto stop-sell threshold.
    AutoThreshold,
}

impl StopSellSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            StopSellSource::None => "none",
            StopSellSource::Manual => "manual",
            StopSellSource::Overbooking => "overbooking",
            StopSellSource::AutoThreshold => "auto_threshold",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(StopSellSource::None),
            "manual" => Some(StopSellSource::Manual),
            "overbooking" => Some(StopSellSource::Overbooking),
            "auto_threshold" => Some(StopSellSource::AutoThreshold),
            _ => None,
        }
    }
    /// Set by saluran itself (and so lifted by it).
    pub fn is_automatic(&self) -> bool {
        matches!(self, StopSellSource::Overbooking | StopSellSource::AutoThreshold)
    }
}

/// One room type on one date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDay {
    pub out_of_order: u16,
    pub sold: u16,
    pub held: u16,
    /// The revenue manager's allotment: at most this many rooms are sold in
    /// total on this date. `None`: every physical room may be sold.
    pub allotment: Option<u16>,
    pub stop_sell: bool,
    /// Who closed the date; read it through `closed_by` (a closed date
    /// without a source counts as closed by a person).
    #[serde(default)]
    pub stop_sell_source: StopSellSource,
}

impl InventoryDay {
    /// Who closed the date: `None` when open; `Manual` for a closed date
    /// whose source is not known (never lifted automatically).
    pub fn closed_by(&self) -> StopSellSource {
        match (self.stop_sell, self.stop_sell_source) {
            (false, _) => StopSellSource::None,
            (true, StopSellSource::None) => StopSellSource::Manual,
            (true, s) => s,
        }
    }
    /// Closes the date, recording who did. A person's stop-sell is never
    /// turned into an automatic one (it would then be lifted).
    pub fn close(&mut self, by: StopSellSource) {
        if by == StopSellSource::None {
            return self.open();
        }
        if self.closed_by() == StopSellSource::Manual && by.is_automatic() {
            return;
        }
        if self.stop_sell && self.closed_by().is_automatic() && by.is_automatic() {
            // Already closed by saluran: keep the first reason.
            return;
        }
        self.stop_sell = true;
        self.stop_sell_source = by;
    }
    pub fn open(&mut self) {
        self.stop_sell = false;
        self.stop_sell_source = StopSellSource::None;
    }
    /// Auto-replenish: lifts a stop-sell saluran set itself once the date
    /// has rooms again (availability above 0 and above `threshold`, if one
    /// is configured). Never lifts a person's. True when it lifted.
    pub fn replenish(&mut self, physical: u16, threshold: Option<i32>) -> bool {
        if !self.closed_by().is_automatic() {
            return false;
        }
        let available = self.available(physical);
        if available > 0 && threshold.is_none_or(|t| available > t) {
            self.open();
            return true;
        }
        false
    }

    /// Rooms still bookable: `min(physical − out of order, allotment) − sold − held`.
    /// Negative when the date is overbooked.
    pub fn available(&self, physical: u16) -> i32 {
        let sellable = i32::from(physical) - i32::from(self.out_of_order);
        let ceiling = match self.allotment {
            Some(a) => sellable.min(i32::from(a)),
            None => sellable,
        };
        ceiling.max(0) - i32::from(self.sold) - i32::from(self.held)
    }
}

/// One rate plan on one date. `None` means "not set": for a base plan, no
/// rate / no restriction; for a derived plan, "inherit from the parent".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateDay {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::str_option")]
    pub rate: Option<Decimal>,
    /// Per-occupancy rates (adults → rate), sorted by adults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub occupancy_rates: Vec<(u8, Decimal)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_stay_arrival: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_stay_through: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stay: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_to_arrival: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_to_departure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sell: Option<bool>,
}

impl RateDay {
    pub fn is_empty(&self) -> bool {
        *self == RateDay::default()
    }
}

/// A rate plan's resolved values on a date (derivation applied).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EffectiveRate {
    pub rate: Option<Decimal>,
    pub occupancy_rates: Vec<(u8, Decimal)>,
    pub min_stay_arrival: u16,
    pub min_stay_through: u16,
    pub max_stay: Option<u16>,
    pub closed_to_arrival: bool,
    pub closed_to_departure: bool,
    pub stop_sell: bool,
}

impl EffectiveRate {
    /// The nightly price for `adults`: the per-occupancy rate when one is set
    /// for exactly that occupancy, else the base rate.
    pub fn price_for(&self, adults: u8) -> Option<Decimal> {
        self.occupancy_rates.iter().find(|(a, _)| *a == adults).map(|(_, r)| *r).or(self.rate)
    }
}

/// Values indexed by date, stored densely from `origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayVec<T> {
    origin: Option<Date>,
    days: Vec<T>,
}

impl<T> Default for DayVec<T> {
    fn default() -> Self {
        DayVec { origin: None, days: Vec::new() }
    }
}

impl<T: Clone + Default> DayVec<T> {
    pub fn get(&self, d: Date) -> Option<&T> {
        let origin = self.origin?;
        let i = days_between(origin, d);
        if i < 0 {
            return None;
        }
        self.days.get(i as usize)
    }
    pub fn get_or_default(&self, d: Date) -> T {
        self.get(d).cloned().unwrap_or_default()
    }
    pub fn set(&mut self, d: Date, v: T) {
        let origin = match self.origin {
            None => {
                self.origin = Some(d);
                d
            }
            Some(o) if d < o => {
                let shift = days_between(d, o) as usize;
                let mut grown = vec![T::default(); shift];
                grown.append(&mut self.days);
                self.days = grown;
                self.origin = Some(d);
                d
            }
            Some(o) => o,
        };
        let i = days_between(origin, d) as usize;
        if i >= self.days.len() {
            self.days.resize(i + 1, T::default());
        }
        self.days[i] = v;
    }
    pub fn iter(&self) -> impl Iterator<Item = (Date, &T)> + '_ {
        let origin = self.origin;
        self.days
            .iter()
            .enumerate()
            .filter_map(move |(i, v)| origin.and_then(|o| o.checked_add(jiff::Span::new().days(i as i64)).ok()).map(|d| (d, v)))
    }
    pub fn len(&self) -> usize {
        self.days.len()
    }
    /// The first and last date stored (the memory this holds is one value
    /// per date in between).
    pub fn extent(&self) -> Option<(Date, Date)> {
        let origin = self.origin?;
        let last = origin.checked_add(jiff::Span::new().days(self.days.len().saturating_sub(1) as i64)).ok()?;
        Some((origin, last))
    }
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanCalendar {
    pub plan: RatePlan,
    pub days: DayVec<RateDay>,
}

/// Everything the InventoryShard of one room type owns.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomTypeCalendar {
    pub room_type: RoomType,
    pub inventory: DayVec<InventoryDay>,
    pub plans: Vec<PlanCalendar>,
    /// Optimistic-concurrency version of this room type's calendar in the
    /// store; bumped by every committed change.
    pub version: i64,
}

/// Derived plans may chain; the chain is bounded so a cycle can never hang.
pub const MAX_DERIVATION_DEPTH: usize = 4;

impl RoomTypeCalendar {
    pub fn new(room_type: RoomType, plans: Vec<RatePlan>) -> Self {
        RoomTypeCalendar {
            room_type,
            inventory: DayVec::default(),
            plans: plans.into_iter().map(|plan| PlanCalendar { plan, days: DayVec::default() }).collect(),
            version: 0,
        }
    }
    pub fn plan(&self, code: &str) -> Option<&PlanCalendar> {
        self.plans.iter().find(|p| p.plan.code.as_str() == code)
    }
    pub fn plan_mut(&mut self, code: &str) -> Option<&mut PlanCalendar> {
        self.plans.iter_mut().find(|p| p.plan.code.as_str() == code)
    }
    pub fn available(&self, d: Date) -> i32 {
        self.inventory.get_or_default(d).available(self.room_type.physical_rooms)
    }

    /// Resolves a plan's values on a date, walking up derived plans.
    pub fn effective(&self, plan: &RatePlanCode, d: Date) -> Option<EffectiveRate> {
        self.effective_with(plan.as_str(), d, &|p: &PlanCalendar, d| p.days.get_or_default(d))
    }

    /// As `effective`, reading each plan's own day through `own` (which lets
    /// a caller overlay changes not yet committed).
    pub fn effective_with(&self, plan: &str, d: Date, own: &dyn Fn(&PlanCalendar, Date) -> RateDay) -> Option<EffectiveRate> {
        self.effective_at_depth(plan, d, own, 0)
    }

    fn effective_at_depth(
        &self,
        plan: &str,
        d: Date,
        own_day: &dyn Fn(&PlanCalendar, Date) -> RateDay,
        depth: usize,
    ) -> Option<EffectiveRate> {
        if depth > MAX_DERIVATION_DEPTH {
            return None;
        }
        let pc = self.plan(plan)?;
        let own = own_day(pc, d);
        match &pc.plan.derived {
            None => Some(EffectiveRate {
                rate: own.rate,
                occupancy_rates: own.occupancy_rates,
                min_stay_arrival: own.min_stay_arrival.unwrap_or(0),
                min_stay_through: own.min_stay_through.unwrap_or(0),
                max_stay: own.max_stay,
                closed_to_arrival: own.closed_to_arrival.unwrap_or(false),
                closed_to_departure: own.closed_to_departure.unwrap_or(false),
                stop_sell: own.stop_sell.unwrap_or(false),
            }),
            Some(der) => {
                let parent = self.effective_at_depth(der.parent.as_str(), d, own_day, depth + 1)?;
                Some(EffectiveRate {
                    rate: parent.rate.map(|r| der.adjustment.apply(r)),
                    occupancy_rates: parent.occupancy_rates.iter().map(|(a, r)| (*a, der.adjustment.apply(*r))).collect(),
                    min_stay_arrival: own.min_stay_arrival.unwrap_or(parent.min_stay_arrival),
                    min_stay_through: own.min_stay_through.unwrap_or(parent.min_stay_through),
                    max_stay: own.max_stay.or(parent.max_stay),
                    closed_to_arrival: own.closed_to_arrival.unwrap_or(parent.closed_to_arrival),
                    closed_to_departure: own.closed_to_departure.unwrap_or(parent.closed_to_departure),
                    stop_sell: own.stop_sell.unwrap_or(parent.stop_sell),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::property::{Adjustment, Derivation};
    use crate::{RatePlanCode, RoomTypeCode};
    use jiff::civil::date;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn rt(physical: u16) -> RoomType {
        RoomType { code: RoomTypeCode::parse("DLX").unwrap(), name: "Deluxe".into(), max_occupancy: 3, physical_rooms: physical }
    }
    fn plan(code: &str, derived: Option<Derivation>) -> RatePlan {
        RatePlan { code: RatePlanCode::parse(code).unwrap(), room_type: RoomTypeCode::parse("DLX").unwrap(), name: code.into(), derived }
    }

    proptest! {
        #[test]
        fn available_is_physical_minus_ooo_sold_held_clamped(
            physical in 0u16..200, ooo in 0u16..50, sold in 0u16..250, held in 0u16..20, allot in proptest::option::of(0u16..300)
        ) {
            let d = InventoryDay { out_of_order: ooo, sold, held, allotment: allot, ..Default::default() };
            let a = d.available(physical);
            let ceiling = (i32::from(physical) - i32::from(ooo)).max(0);
            let ceiling = allot.map(|x| ceiling.min(i32::from(x))).unwrap_or(ceiling);
            prop_assert_eq!(a, ceiling - i32::from(sold) - i32::from(held));
            prop_assert!(a <= i32::from(physical));
        }

        #[test]
        fn day_vec_set_then_get(offsets in proptest::collection::vec((0i64..800, 0u16..100), 1..50)) {
            let base = date(2026, 1, 1);
            let mut v: DayVec<u16> = DayVec::default();
            let mut model = std::collections::BTreeMap::new();
            for (o, x) in &offsets {
                let d = base.checked_add(jiff::Span::new().days(*o)).unwrap();
                v.set(d, *x);
                model.insert(d, *x);
            }
            for (d, x) in &model {
                prop_assert_eq!(v.get_or_default(*d), *x);
            }
            let stored: Vec<_> = v.iter().filter(|(_, x)| **x != 0).map(|(d, x)| (d, *x)).collect();
            let expected: Vec<_> = model.iter().filter(|(_, x)| **x != 0).map(|(d, x)| (*d, *x)).collect();
            prop_assert_eq!(stored, expected);
        }
    }

    #[test]
    fn only_automatic_stop_sells_are_replenished() {
        let mut d = InventoryDay { sold: 3, ..Default::default() };
        d.close(StopSellSource::Overbooking);
        assert!(!d.replenish(2, None), "still oversold");
        d.sold = 1;
        assert!(d.replenish(2, None));
        assert_eq!((d.stop_sell, d.closed_by()), (false, StopSellSource::None));

        // The threshold: lifted only once availability is above it.
        let mut d = InventoryDay { sold: 1, ..Default::default() };
        d.close(StopSellSource::AutoThreshold);
        assert!(!d.replenish(3, Some(2)), "available 2 = threshold");
        d.sold = 0;
        assert!(d.replenish(3, Some(2)));

        // A person's stop-sell stays, and an automatic close never takes it over.
        let mut d = InventoryDay::default();
        d.close(StopSellSource::Manual);
        d.close(StopSellSource::Overbooking);
        assert_eq!(d.closed_by(), StopSellSource::Manual);
        assert!(!d.replenish(5, None));
        // A closed date without a source (older data) counts as a person's.
        let legacy = InventoryDay { stop_sell: true, ..Default::default() };
        assert_eq!(legacy.closed_by(), StopSellSource::Manual);
        // A person may take over an automatic one.
        let mut d = InventoryDay::default();
        d.close(StopSellSource::AutoThreshold);
        d.close(StopSellSource::Manual);
        assert_eq!(d.closed_by(), StopSellSource::Manual);
    }

    #[test]
    fn derived_plans_follow_parent_rate_and_inherit_restrictions() {
        let d = date(2027, 1, 10);
        let nr = Derivation { parent: RatePlanCode::parse("BAR").unwrap(), adjustment: Adjustment::Percent(Decimal::from(-10)) };
        let mut cal = RoomTypeCalendar::new(rt(10), vec![plan("BAR", None), plan("NRF", Some(nr))]);
        cal.plan_mut("BAR").unwrap().days.set(
            d,
            RateDay {
                rate: Some(Decimal::from(1_000_000)),
                min_stay_arrival: Some(2),
                closed_to_arrival: Some(true),
                ..Default::default()
            },
        );
        cal.plan_mut("NRF").unwrap().days.set(d, RateDay { closed_to_arrival: Some(false), ..Default::default() });
        let e = cal.effective(&RatePlanCode::parse("NRF").unwrap(), d).unwrap();
        assert_eq!(e.rate, Some(Decimal::from(900_000)));
        assert_eq!(e.min_stay_arrival, 2, "inherited");
        assert!(!e.closed_to_arrival, "overridden");
    }

    #[test]
    fn amount_adjustment_never_goes_below_zero() {
        let a = Adjustment::Amount(Decimal::from_str("-50").unwrap());
        assert_eq!(a.apply(Decimal::from(30)), Decimal::ZERO);
        assert_eq!(a.apply(Decimal::from(80)), Decimal::from(30));
    }

    #[test]
    fn derivation_cycles_resolve_to_nothing() {
        let a = Derivation { parent: RatePlanCode::parse("B").unwrap(), adjustment: Adjustment::Amount(Decimal::ONE) };
        let b = Derivation { parent: RatePlanCode::parse("A").unwrap(), adjustment: Adjustment::Amount(Decimal::ONE) };
        let cal = RoomTypeCalendar::new(rt(1), vec![plan("A", Some(a)), plan("B", Some(b))]);
        assert_eq!(cal.effective(&RatePlanCode::parse("A").unwrap(), date(2027, 1, 1)), None);
    }
}
