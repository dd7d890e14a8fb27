//! Property-local calendar dates. A `DateRange` is inclusive (ARI edits:
//! "from 1 May to 3 May"); a `StayRange` is half-open (a stay's nights).

use crate::error::DomainError;
use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};

/// How far ahead the calendar reaches, in days (DESIGN §5).
pub const HORIZON_DAYS: i64 = 730;

pub fn parse_date(field: &str, s: &str) -> Result<Date, DomainError> {
    // jiff accepts only strict ISO 8601 calendar dates here.
    if s.len() != 10 {
        return Err(DomainError::invalid(field, "must be an ISO date YYYY-MM-DD"));
    }
    s.parse::<Date>().map_err(|_| DomainError::invalid(field, "must be an ISO date YYYY-MM-DD"))
}

pub fn days_between(a: Date, b: Date) -> i64 {
    // Civil dates differ by whole days; the default largest unit is days.
    a.until(b).map(|s| i64::from(s.get_days())).unwrap_or(0)
}

/// An inclusive range of dates, `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DateRange {
    start: Date,
    end: Date,
}

impl DateRange {
    pub fn new(start: Date, end: Date) -> Result<Self, DomainError> {
        if end < start {
            return Err(DomainError::InvalidDateRange(format!("'to' {end} is before 'from' {start}")));
        }
        Ok(DateRange { start, end })
    }
    pub fn single(d: Date) -> Self {
        DateRange { start: d, end: d }
    }
    pub fn start(&self) -> Date {
        self.start
    }
    pub fn end(&self) -> Date {
        self.end
    }
    pub fn len_days(&self) -> i64 {
        days_between(self.start, self.end) + 1
    }
    pub fn contains(&self, d: Date) -> bool {
        self.start <= d && d <= self.end
    }
    pub fn days(&self) -> impl Iterator<Item = Date> + '_ {
        let end = self.end;
        self.start.series(jiff::Span::new().days(1)).take_while(move |d| *d <= end)
    }
    /// Refuses ranges that start before `today` or end past the horizon.
    pub fn check_within_horizon(&self, today: Date) -> Result<(), DomainError> {
        if self.start < today {
            return Err(DomainError::DateInPast(self.start.to_string()));
        }
        if days_between(today, self.end) > HORIZON_DAYS {
            return Err(DomainError::BeyondHorizon(self.end.to_string(), HORIZON_DAYS));
        }
        Ok(())
    }
}

/// The dates a room type's calendar materializes: from the day before the
/// property's local date (the business date until the night audit rolls
/// it) to `HORIZON_DAYS` ahead. Bookings the OTAs take outside it (year 1,
/// 1900, 9999: OTA bookings are never refused, I2) keep those nights on
/// the booking only, so no input can grow the dense calendar past it.
pub fn calendar_window(today: Date) -> DateRange {
    let start = today.yesterday().unwrap_or(today);
    let end = today.checked_add(jiff::Span::new().days(HORIZON_DAYS)).unwrap_or(Date::MAX);
    DateRange { start, end }
}

/// A stay: `check_in` inclusive to `check_out` exclusive, at least one night.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StayRange {
    pub check_in: Date,
    pub check_out: Date,
}

/// The longest stay we accept in one reservation.
pub const MAX_STAY_NIGHTS: i64 = 90;

impl StayRange {
    pub fn new(check_in: Date, check_out: Date) -> Result<Self, DomainError> {
        if check_out <= check_in {
            return Err(DomainError::InvalidDateRange(format!("check_out {check_out} must be after check_in {check_in}")));
        }
        if days_between(check_in, check_out) > MAX_STAY_NIGHTS {
            return Err(DomainError::InvalidDateRange(format!("a stay is at most {MAX_STAY_NIGHTS} nights")));
        }
        Ok(StayRange { check_in, check_out })
    }
    pub fn nights(&self) -> i64 {
        days_between(self.check_in, self.check_out)
    }
    /// The nights of the stay, i.e. the dates whose inventory it uses.
    pub fn night_dates(&self) -> DateRange {
        DateRange { start: self.check_in, end: self.check_out.yesterday().unwrap_or(self.check_in) }
    }
    pub fn check_within_horizon(&self, today: Date) -> Result<(), DomainError> {
        self.night_dates().check_within_horizon(today)
    }
    /// The nights of the stay inside `window` (contiguous, or none).
    pub fn nights_within(&self, window: DateRange) -> Option<DateRange> {
        let nights = self.night_dates();
        let start = nights.start.max(window.start);
        let end = nights.end.min(window.end);
        (start <= end).then_some(DateRange { start, end })
    }
}

/// A weekday mask: bit 0 = Monday … bit 6 = Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Weekdays(u8);

const DAY_NAMES: [&str; 7] = ["mo", "tu", "we", "th", "fr", "sa", "su"];

impl Weekdays {
    pub const ALL: Weekdays = Weekdays(0b111_1111);

    pub fn parse(days: &[String]) -> Result<Self, DomainError> {
        if days.is_empty() {
            return Err(DomainError::invalid("days", "must name at least one day"));
        }
        let mut mask = 0u8;
        for d in days {
            let i = DAY_NAMES
                .iter()
                .position(|n| n == d)
                .ok_or_else(|| DomainError::invalid("days", format!("unknown day {d:?}; use mo tu we th fr sa su")))?;
            mask |= 1 << i;
        }
        Ok(Weekdays(mask))
    }
    pub fn contains(&self, d: Date) -> bool {
        let i = match d.weekday() {
            Weekday::Monday => 0,
            Weekday::Tuesday => 1,
            Weekday::Wednesday => 2,
            Weekday::Thursday => 3,
            Weekday::Friday => 4,
            Weekday::Saturday => 5,
            Weekday::Sunday => 6,
        };
        self.0 & (1 << i) != 0
    }
    pub fn names(&self) -> Vec<&'static str> {
        (0..7).filter(|i| self.0 & (1 << i) != 0).map(|i| DAY_NAMES[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn any_date() -> impl Strategy<Value = Date> {
        (2020i16..2040, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| date(y, m, d))
    }

    proptest! {
        #[test]
        fn range_days_count_matches_len(a in any_date(), n in 0i64..800) {
            let b = a.checked_add(jiff::Span::new().days(n)).unwrap();
            let r = DateRange::new(a, b).unwrap();
            prop_assert_eq!(r.days().count() as i64, n + 1);
            prop_assert_eq!(r.len_days(), n + 1);
        }

        #[test]
        fn reversed_ranges_are_refused(a in any_date(), n in 1i64..800) {
            let b = a.checked_add(jiff::Span::new().days(n)).unwrap();
            prop_assert!(DateRange::new(b, a).is_err());
        }

        #[test]
        fn stay_nights_are_the_dates_before_check_out(a in any_date(), n in 1i64..=90) {
            let b = a.checked_add(jiff::Span::new().days(n)).unwrap();
            let s = StayRange::new(a, b).unwrap();
            prop_assert_eq!(s.nights(), n);
            prop_assert_eq!(s.night_dates().days().count() as i64, n);
        }
    }

    #[test]
    fn horizon_and_past_are_checked() {
        let today = date(2026, 11, 25);
        assert!(DateRange::new(date(2026, 11, 24), date(2026, 11, 26)).unwrap().check_within_horizon(today).is_err());
        let last = today.checked_add(jiff::Span::new().days(730)).unwrap();
        assert!(DateRange::new(today, last).unwrap().check_within_horizon(today).is_ok());
        let past = last.tomorrow().unwrap();
        assert!(matches!(DateRange::new(today, past).unwrap().check_within_horizon(today), Err(DomainError::BeyondHorizon(..))));
    }

    #[test]
    fn stays_are_cut_to_the_calendar_window() {
        let today = date(2026, 11, 25);
        let w = calendar_window(today);
        assert_eq!((w.start(), w.end()), (date(2026, 11, 24), date(2028, 11, 24)));
        let stay = |a, b| StayRange::new(a, b).unwrap();
        assert_eq!(stay(date(9999, 12, 30), date(9999, 12, 31)).nights_within(w), None);
        assert_eq!(stay(date(1900, 1, 1), date(1900, 1, 2)).nights_within(w), None);
        let half = stay(date(2028, 11, 23), date(2028, 11, 27)).nights_within(w).unwrap();
        assert_eq!((half.start(), half.end()), (date(2028, 11, 23), date(2028, 11, 24)));
        let inside = stay(date(2027, 1, 1), date(2027, 1, 3));
        assert_eq!(inside.nights_within(w), Some(inside.night_dates()));
        // The far end of jiff's calendar does not overflow.
        assert_eq!(calendar_window(date(9999, 12, 31)).end(), Date::MAX);
    }

    #[test]
    fn weekday_masks() {
        let w = Weekdays::parse(&["sa".into(), "su".into()]).unwrap();
        assert!(w.contains(date(2026, 11, 28))); // Saturday
        assert!(!w.contains(date(2026, 11, 25))); // Wednesday
        assert!(Weekdays::parse(&["xx".into()]).is_err());
        assert!(Weekdays::parse(&[]).is_err());
        assert_eq!(w.names(), vec!["sa", "su"]);
    }

    #[test]
    fn dates_are_strict_iso() {
        assert!(parse_date("from", "2026-02-30").is_err());
        assert!(parse_date("from", "2026-2-3").is_err());
        assert!(parse_date("from", "2026-12-01").is_ok());
    }
}
