//! Restriction-aware availability: quoting one rate plan for one stay, and
//! searching every plan of a room type.

use crate::ari::CellChanges;
use crate::calendar::{EffectiveRate, InventoryDay, RoomTypeCalendar};
use crate::codes::{RatePlanCode, RoomTypeCode};
use crate::dates::StayRange;
use crate::reservation::NightlyRate;
use rust_decimal::Decimal;
use serde::Serialize;

/// Why a stay cannot be sold. Stable strings: they go into API errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unavailable {
    UnknownRatePlan,
    TooManyGuests,
    SoldOut,
    StopSell,
    NoRate,
    ClosedToArrival,
    ClosedToDeparture,
    MinStay,
    MaxStay,
}

impl Unavailable {
    pub fn as_str(&self) -> &'static str {
        match self {
            Unavailable::UnknownRatePlan => "unknown_rate_plan",
            Unavailable::TooManyGuests => "too_many_guests",
            Unavailable::SoldOut => "sold_out",
            Unavailable::StopSell => "stop_sell",
            Unavailable::NoRate => "no_rate",
            Unavailable::ClosedToArrival => "closed_to_arrival",
            Unavailable::ClosedToDeparture => "closed_to_departure",
            Unavailable::MinStay => "min_stay",
            Unavailable::MaxStay => "max_stay",
        }
    }
}

/// A bookable price for one rate plan and stay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Quote {
    pub room_type: RoomTypeCode,
    pub rate_plan: RatePlanCode,
    /// The fewest rooms left on any night of the stay.
    pub available: i32,
    pub nightly: Vec<NightlyRate>,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(schema_with = crate::money::decimal_schema)]
    pub total: Decimal,
}

/// Reads a calendar with uncommitted changes laid over it.
pub struct Overlay<'a> {
    pub cal: &'a RoomTypeCalendar,
    pub pending: Option<&'a CellChanges>,
}

impl<'a> Overlay<'a> {
    pub fn committed(cal: &'a RoomTypeCalendar) -> Self {
        Overlay { cal, pending: None }
    }
    fn inventory(&self, d: jiff::civil::Date) -> InventoryDay {
        match self.pending {
            Some(p) => p.inventory_day(self.cal, d),
            None => self.cal.inventory.get_or_default(d),
        }
    }
    fn effective(&self, plan: &str, d: jiff::civil::Date) -> Option<EffectiveRate> {
        match self.pending {
            None => self.cal.effective_with(plan, d, &|p, d| p.days.get_or_default(d)),
            Some(pending) => self.cal.effective_with(plan, d, &|p, d| {
                pending.rates.get(&(p.plan.code.clone(), d)).cloned().unwrap_or_else(|| p.days.get_or_default(d))
            }),
        }
    }

    /// Prices `plan` for `stay`, or says why it cannot be sold.
    /// `rooms` is how many rooms the stay needs on each night (1 for a new
    /// booking); `ignore_inventory` skips the room count (used for OTA
    /// bookings, which are never refused).
    pub fn quote(&self, plan: &RatePlanCode, stay: StayRange, adults: u8, rooms: i32) -> Result<Quote, Unavailable> {
        let cal = self.cal;
        if cal.plan(plan.as_str()).is_none() {
            return Err(Unavailable::UnknownRatePlan);
        }
        if adults == 0 || adults > cal.room_type.max_occupancy {
            return Err(Unavailable::TooManyGuests);
        }
        let los = stay.nights();
        let mut nightly = Vec::with_capacity(los as usize);
        let mut total = Decimal::ZERO;
        let mut min_avail = i32::MAX;
        for (i, d) in stay.night_dates().days().enumerate() {
            let inv = self.inventory(d);
            let avail = inv.available(cal.room_type.physical_rooms);
            let eff = self.effective(plan.as_str(), d).ok_or(Unavailable::NoRate)?;
            if inv.stop_sell || eff.stop_sell {
                return Err(Unavailable::StopSell);
            }
            if avail < rooms {
                return Err(Unavailable::SoldOut);
            }
            if i == 0 {
                if eff.closed_to_arrival {
                    return Err(Unavailable::ClosedToArrival);
                }
                if i64::from(eff.min_stay_arrival) > los {
                    return Err(Unavailable::MinStay);
                }
                if let Some(max) = eff.max_stay {
                    if max > 0 && i64::from(max) < los {
                        return Err(Unavailable::MaxStay);
                    }
                }
            }
            if i64::from(eff.min_stay_through) > los {
                return Err(Unavailable::MinStay);
            }
            let price = eff.price_for(adults).ok_or(Unavailable::NoRate)?;
            total += price;
            min_avail = min_avail.min(avail);
            nightly.push(NightlyRate { date: d, rate: price });
        }
        // Closed to departure is read on the departure date itself.
        if let Some(eff) = self.effective(plan.as_str(), stay.check_out) {
            if eff.closed_to_departure {
                return Err(Unavailable::ClosedToDeparture);
            }
        }
        Ok(Quote {
            room_type: cal.room_type.code.clone(),
            rate_plan: plan.clone(),
            available: min_avail,
            nightly,
            total: total.normalize(),
        })
    }

    /// Every bookable plan of this room type for the stay.
    pub fn search(&self, stay: StayRange, adults: u8) -> Vec<Quote> {
        self.cal.plans.iter().filter_map(|p| self.quote(&p.plan.code, stay, adults, 1).ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::RateDay;
    use crate::property::{Adjustment, Derivation, RatePlan, RoomType};
    use jiff::civil::{date, Date};

    fn cal() -> RoomTypeCalendar {
        let rt = RoomType { code: RoomTypeCode::parse("STD").unwrap(), name: "Standard".into(), max_occupancy: 2, physical_rooms: 3 };
        let plans = vec![
            RatePlan { code: RatePlanCode::parse("BAR").unwrap(), room_type: rt.code.clone(), name: "Best".into(), derived: None },
            RatePlan {
                code: RatePlanCode::parse("NRF").unwrap(),
                room_type: rt.code.clone(),
                name: "Non-ref".into(),
                derived: Some(Derivation {
                    parent: RatePlanCode::parse("BAR").unwrap(),
                    adjustment: Adjustment::Percent(Decimal::from(-10)),
                }),
            },
        ];
        let mut c = RoomTypeCalendar::new(rt, plans);
        for d in StayRange::new(date(2027, 3, 1), date(2027, 3, 31)).unwrap().night_dates().days() {
            c.plan_mut("BAR").unwrap().days.set(d, RateDay { rate: Some(Decimal::from(500_000)), ..Default::default() });
        }
        c
    }
    fn stay(a: Date, b: Date) -> StayRange {
        StayRange::new(a, b).unwrap()
    }
    fn bar() -> RatePlanCode {
        RatePlanCode::parse("BAR").unwrap()
    }

    #[test]
    fn quotes_sum_nightly_rates_and_derived_plans_follow() {
        let c = cal();
        let v = Overlay::committed(&c);
        let q = v.quote(&bar(), stay(date(2027, 3, 2), date(2027, 3, 5)), 2, 1).unwrap();
        assert_eq!(q.total, Decimal::from(1_500_000));
        assert_eq!(q.available, 3);
        let offers = v.search(stay(date(2027, 3, 2), date(2027, 3, 5)), 2);
        assert_eq!(offers.len(), 2);
        assert_eq!(offers[1].total, Decimal::from(1_350_000));
    }

    #[test]
    fn every_restriction_is_honoured() {
        let s = stay(date(2027, 3, 10), date(2027, 3, 12));
        let check = |f: &dyn Fn(&mut RoomTypeCalendar), want: Unavailable| {
            let mut c = cal();
            f(&mut c);
            assert_eq!(Overlay::committed(&c).quote(&bar(), s, 1, 1), Err(want));
        };
        let set = |c: &mut RoomTypeCalendar, d: Date, rd: RateDay| {
            let mut cur = c.plan("BAR").unwrap().days.get_or_default(d);
            if rd.closed_to_arrival.is_some() {
                cur.closed_to_arrival = rd.closed_to_arrival;
            }
            if rd.closed_to_departure.is_some() {
                cur.closed_to_departure = rd.closed_to_departure;
            }
            if rd.min_stay_arrival.is_some() {
                cur.min_stay_arrival = rd.min_stay_arrival;
            }
            if rd.min_stay_through.is_some() {
                cur.min_stay_through = rd.min_stay_through;
            }
            if rd.max_stay.is_some() {
                cur.max_stay = rd.max_stay;
            }
            if rd.stop_sell.is_some() {
                cur.stop_sell = rd.stop_sell;
            }
            c.plan_mut("BAR").unwrap().days.set(d, cur);
        };
        check(
            &|c| set(c, date(2027, 3, 10), RateDay { closed_to_arrival: Some(true), ..Default::default() }),
            Unavailable::ClosedToArrival,
        );
        check(
            &|c| set(c, date(2027, 3, 12), RateDay { closed_to_departure: Some(true), ..Default::default() }),
            Unavailable::ClosedToDeparture,
        );
        check(&|c| set(c, date(2027, 3, 10), RateDay { min_stay_arrival: Some(3), ..Default::default() }), Unavailable::MinStay);
        check(&|c| set(c, date(2027, 3, 11), RateDay { min_stay_through: Some(3), ..Default::default() }), Unavailable::MinStay);
        check(&|c| set(c, date(2027, 3, 10), RateDay { max_stay: Some(1), ..Default::default() }), Unavailable::MaxStay);
        check(&|c| set(c, date(2027, 3, 11), RateDay { stop_sell: Some(true), ..Default::default() }), Unavailable::StopSell);
        check(&|c| c.inventory.set(date(2027, 3, 11), InventoryDay { sold: 3, ..Default::default() }), Unavailable::SoldOut);
        check(&|c| c.inventory.set(date(2027, 3, 11), InventoryDay { allotment: Some(0), ..Default::default() }), Unavailable::SoldOut);
        check(&|c| c.inventory.set(date(2027, 3, 11), InventoryDay { stop_sell: true, ..Default::default() }), Unavailable::StopSell);
        check(&|c| c.plan_mut("BAR").unwrap().days.set(date(2027, 3, 11), RateDay::default()), Unavailable::NoRate);
        let c = cal();
        assert_eq!(Overlay::committed(&c).quote(&bar(), s, 3, 1), Err(Unavailable::TooManyGuests));
        // A restriction on a date outside the stay changes nothing.
        let mut c = cal();
        set(&mut c, date(2027, 3, 9), RateDay { closed_to_arrival: Some(true), ..Default::default() });
        assert!(Overlay::committed(&c).quote(&bar(), s, 1, 1).is_ok());
    }

    #[test]
    fn pending_changes_are_seen_through_the_overlay() {
        let c = cal();
        let mut p = CellChanges::default();
        p.inventory.insert(date(2027, 3, 3), InventoryDay { sold: 3, ..Default::default() });
        let v = Overlay { cal: &c, pending: Some(&p) };
        assert_eq!(v.quote(&bar(), stay(date(2027, 3, 2), date(2027, 3, 4)), 1, 1), Err(Unavailable::SoldOut));
    }
}
