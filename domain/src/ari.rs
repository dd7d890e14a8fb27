//! ARI edits: a validated update and how it changes a room type's calendar.

use crate::calendar::{InventoryDay, RateDay, RoomTypeCalendar, StopSellSource};
use crate::codes::{RatePlanCode, RoomTypeCode};
use crate::dates::{DateRange, Weekdays};
use crate::error::DomainError;
use crate::money::Rate;
use crate::property::PropertyConfig;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest stay restriction we accept, in nights.
pub const MAX_STAY_RESTRICTION: u16 = 365;

/// One line of an ARI batch, parsed. Fields left `None` are not touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AriUpdate {
    pub room_type: RoomTypeCode,
    pub rate_plan: Option<RatePlanCode>,
    pub range: DateRange,
    pub days: Weekdays,
    pub availability: Option<u16>,
    pub rate: Option<Rate>,
    pub occupancy_rates: Option<Vec<(u8, Rate)>>,
    pub min_stay: Option<u16>,
    pub min_stay_through: Option<u16>,
    pub max_stay: Option<u16>,
    pub closed_to_arrival: Option<bool>,
    pub closed_to_departure: Option<bool>,
    pub stop_sell: Option<bool>,
}

impl AriUpdate {
    fn touches_plan(&self) -> bool {
        self.rate.is_some()
            || self.occupancy_rates.is_some()
            || self.min_stay.is_some()
            || self.min_stay_through.is_some()
            || self.max_stay.is_some()
            || self.closed_to_arrival.is_some()
            || self.closed_to_departure.is_some()
            || (self.stop_sell.is_some() && self.rate_plan.is_some())
    }
    fn touches_inventory(&self) -> bool {
        self.availability.is_some() || (self.stop_sell.is_some() && self.rate_plan.is_none())
    }

    /// Checks the update against the property's setup and today's date.
    /// Nothing about the current calendar can make a valid update fail later,
    /// which is what lets a batch be validated whole before any of it applies.
    pub fn validate(&self, config: &PropertyConfig, today: Date) -> Result<(), DomainError> {
        let rt = config.room_type(self.room_type.as_str()).ok_or_else(|| DomainError::UnknownRoomType(self.room_type.to_string()))?;
        self.range.check_within_horizon(today)?;
        if !self.touches_plan() && !self.touches_inventory() {
            return Err(DomainError::invalid("updates", "an update must set at least one value"));
        }
        if let Some(code) = &self.rate_plan {
            let plan = config
                .rate_plan(code.as_str())
                .filter(|p| p.room_type == self.room_type)
                .ok_or_else(|| DomainError::UnknownRatePlan(format!("{code} (room type {})", self.room_type)))?;
            if plan.derived.is_some() && (self.rate.is_some() || self.occupancy_rates.is_some()) {
                return Err(DomainError::DerivedRate(code.to_string()));
            }
        } else if self.rate.is_some() || self.occupancy_rates.is_some() {
            return Err(DomainError::invalid("rate_plan", "a rate needs a rate_plan"));
        }
        for (field, v) in [("min_stay", self.min_stay), ("min_stay_through", self.min_stay_through), ("max_stay", self.max_stay)] {
            if let Some(v) = v {
                if v > MAX_STAY_RESTRICTION {
                    return Err(DomainError::invalid(field, format!("at most {MAX_STAY_RESTRICTION} nights")));
                }
            }
        }
        if let (Some(min), Some(max)) = (self.min_stay, self.max_stay) {
            if max != 0 && min > max {
                return Err(DomainError::invalid("min_stay", "must not exceed max_stay"));
            }
        }
        if let Some(occ) = &self.occupancy_rates {
            for (adults, _) in occ {
                if *adults == 0 || *adults > rt.max_occupancy {
                    return Err(DomainError::invalid(
                        "occupancy_rates",
                        format!("occupancy must be 1-{} for room type {}", rt.max_occupancy, rt.code),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The cells a set of updates changes, with their new values. Later writes to
/// the same cell win, in batch order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellChanges {
    pub inventory: BTreeMap<Date, InventoryDay>,
    pub rates: BTreeMap<(RatePlanCode, Date), RateDay>,
}

impl CellChanges {
    pub fn is_empty(&self) -> bool {
        self.inventory.is_empty() && self.rates.is_empty()
    }
    pub fn inventory_day(&self, cal: &RoomTypeCalendar, d: Date) -> InventoryDay {
        self.inventory.get(&d).copied().unwrap_or_else(|| cal.inventory.get_or_default(d))
    }
    pub fn rate_day(&self, cal: &RoomTypeCalendar, plan: &RatePlanCode, d: Date) -> RateDay {
        self.rates
            .get(&(plan.clone(), d))
            .cloned()
            .unwrap_or_else(|| cal.plan(plan.as_str()).map(|p| p.days.get_or_default(d)).unwrap_or_default())
    }
    /// Merges `later` over `self`.
    pub fn extend(&mut self, later: CellChanges) {
        self.inventory.extend(later.inventory);
        self.rates.extend(later.rates);
    }
    /// Writes the changes into the calendar.
    pub fn apply_to(&self, cal: &mut RoomTypeCalendar) {
        for (d, inv) in &self.inventory {
            cal.inventory.set(*d, *inv);
        }
        for ((plan, d), rd) in &self.rates {
            if let Some(p) = cal.plan_mut(plan.as_str()) {
                p.days.set(*d, rd.clone());
            }
        }
    }
    /// The first and last date touched, if any.
    pub fn date_span(&self) -> Option<(Date, Date)> {
        let dates = self.inventory.keys().copied().chain(self.rates.keys().map(|(_, d)| *d));
        dates.fold(None, |acc, d| match acc {
            None => Some((d, d)),
            Some((a, b)) => Some((a.min(d), b.max(d))),
        })
    }
}

/// Computes the cell changes of validated updates for one room type, on top
/// of `pending` (changes not yet committed).
pub fn plan_changes(cal: &RoomTypeCalendar, updates: &[AriUpdate], pending: &CellChanges) -> CellChanges {
    let mut out = CellChanges::default();
    for u in updates {
        let target_plans: Vec<RatePlanCode> = match &u.rate_plan {
            Some(p) => vec![p.clone()],
            // Restrictions without a plan go to every base plan; derived
            // plans inherit them.
            None => cal.plans.iter().filter(|p| p.plan.derived.is_none()).map(|p| p.plan.code.clone()).collect(),
        };
        for d in u.range.days().filter(|d| u.days.contains(*d)) {
            if u.touches_inventory() {
                let mut inv = out.inventory.get(&d).copied().unwrap_or_else(|| pending.inventory_day(cal, d));
                if let Some(a) = u.availability {
                    inv.allotment = Some(a);
                }
                if u.rate_plan.is_none() {
                    // A person's stop-sell: `true` makes the date manual
                    // (even if saluran had closed it), `false` opens it.
                    match u.stop_sell {
                        Some(true) => inv.close(StopSellSource::Manual),
                        Some(false) => inv.open(),
                        None => {}
                    }
                }
                out.inventory.insert(d, inv);
            }
            if u.touches_plan() {
                for plan in &target_plans {
                    let key = (plan.clone(), d);
                    let mut rd = out.rates.get(&key).cloned().unwrap_or_else(|| pending.rate_day(cal, plan, d));
                    if let Some(r) = u.rate {
                        rd.rate = Some(r.value());
                    }
                    if let Some(occ) = &u.occupancy_rates {
                        let mut v: Vec<_> = occ.iter().map(|(a, r)| (*a, r.value())).collect();
                        v.sort_by_key(|(a, _)| *a);
                        rd.occupancy_rates = v;
                    }
                    if let Some(v) = u.min_stay {
                        rd.min_stay_arrival = Some(v);
                    }
                    if let Some(v) = u.min_stay_through {
                        rd.min_stay_through = Some(v);
                    }
                    if let Some(v) = u.max_stay {
                        rd.max_stay = Some(v);
                    }
                    if let Some(v) = u.closed_to_arrival {
                        rd.closed_to_arrival = Some(v);
                    }
                    if let Some(v) = u.closed_to_departure {
                        rd.closed_to_departure = Some(v);
                    }
                    if u.rate_plan.is_some() {
                        if let Some(v) = u.stop_sell {
                            rd.stop_sell = Some(v);
                        }
                    }
                    out.rates.insert(key, rd);
                }
            }
        }
    }
    out
}
