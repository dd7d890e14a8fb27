//! What the simulated OTA currently believes: one cell per (room, rate or "", date),
//! each field remembering the hub timestamp and echo token of the message that set it,
//! so a message older than the one it overwrites is counted as a regression (I4).

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;

/// One update as the simulator applies it (converted from the codecs' `AriRange`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AriUpdate {
    pub room: String,
    /// `None` for room-level values (availability in AlpineBits, rate-less OpenTravel notifs).
    pub rate: Option<String>,
    pub start: Date,
    /// Inclusive.
    pub end: Date,
    pub available: Option<u32>,
    pub rate_amount: Option<Decimal>,
    pub occupancy_rates: Vec<(u8, Decimal)>,
    pub min_stay: Option<u16>,
    pub min_stay_through: Option<u16>,
    /// `Some(0)`: no maximum (an explicit clear).
    pub max_stay: Option<u16>,
    pub cta: Option<bool>,
    pub ctd: Option<bool>,
    pub stop_sell: Option<bool>,
}

impl AriUpdate {
    /// Number of dates covered (0 when `end < start`).
    pub fn days(&self) -> i64 {
        match self.start.until(self.end) {
            Ok(span) => span.get_days() as i64 + 1,
            Err(_) => 0,
        }
        .max(0)
    }
}

/// Where a message came from, for the regression check.
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    pub timestamp: Option<Timestamp>,
    pub echo: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Available,
    Rate,
    Occupancy,
    MinStay,
    MinStayThrough,
    MaxStay,
    Cta,
    Ctd,
    StopSell,
}

#[derive(Debug, Clone, Default)]
struct Cell {
    available: Option<u32>,
    rate_amount: Option<Decimal>,
    occupancy_rates: Vec<(u8, Decimal)>,
    min_stay: Option<u16>,
    min_stay_through: Option<u16>,
    max_stay: Option<u16>,
    cta: Option<bool>,
    ctd: Option<bool>,
    stop_sell: Option<bool>,
    /// Hub timestamp of the message that last set each field.
    set_at: BTreeMap<Field, Timestamp>,
    last_timestamp: Option<Timestamp>,
    last_echo: Option<String>,
    updates: u64,
}

impl Cell {
    fn is_empty(&self) -> bool {
        self.available.is_none()
            && self.rate_amount.is_none()
            && self.occupancy_rates.is_empty()
            && self.min_stay.is_none()
            && self.min_stay_through.is_none()
            && self.max_stay.is_none()
            && self.cta.is_none()
            && self.ctd.is_none()
            && self.stop_sell.is_none()
    }
}

/// A cell as `/_sim/view` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CellView {
    pub room: String,
    /// `""` for room-level cells.
    pub rate: String,
    pub date: Date,
    pub available: Option<u32>,
    /// Decimal string.
    pub rate_amount: Option<Decimal>,
    /// `[[adults, "amount"], …]`
    #[serde(default)]
    pub occupancy_rates: Vec<(u8, Decimal)>,
    pub min_stay: Option<u16>,
    pub min_stay_through: Option<u16>,
    /// `Some(0)`: no maximum (an explicit clear).
    pub max_stay: Option<u16>,
    pub cta: Option<bool>,
    pub ctd: Option<bool>,
    pub stop_sell: Option<bool>,
    /// Hub timestamp of the last message that touched the cell.
    pub timestamp: Option<Timestamp>,
    /// Echo token of the last message that touched the cell.
    pub echo: Option<String>,
    /// How many messages touched the cell.
    pub updates: u64,
}

/// One observed regression: a message older than the one that last set a field.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Regression {
    pub room: String,
    pub rate: String,
    pub date: Date,
    /// Timestamp of the message that tried to overwrite.
    pub message_timestamp: Timestamp,
    /// Newest timestamp among the fields it overwrote.
    pub cell_timestamp: Timestamp,
    pub echo: Option<String>,
}

/// `GET /_sim/view`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ViewSnapshot {
    pub cells: Vec<CellView>,
    pub regressions: u64,
    /// The most recent regressions (at most 100), oldest first.
    pub regression_log: Vec<Regression>,
    /// Messages applied.
    pub messages: u64,
}

impl ViewSnapshot {
    /// The cell for (room, rate or "", date).
    pub fn cell(&self, room: &str, rate: &str, date: Date) -> Option<&CellView> {
        self.cells.iter().find(|c| c.room == room && c.rate == rate && c.date == date)
    }
}

/// What applying one message did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub cells: u64,
    pub regressions: u64,
}

const REGRESSION_LOG: usize = 100;
/// Bound on the cells (room × rate × date) one message may touch: a full sync of
/// 100 room/rate pairs over 730 days stays below it; hostile ranges do not.
pub const MAX_CELLS_PER_MESSAGE: i64 = 200_000;

#[derive(Debug, Default)]
pub struct View {
    cells: BTreeMap<(String, String, Date), Cell>,
    regressions: u64,
    regression_log: Vec<Regression>,
    messages: u64,
}

impl View {
    /// Applies a message's updates. A field set by a message whose timestamp is older
    /// than the one that last set it counts one regression per cell (and is still applied).
    pub fn apply(&mut self, updates: &[AriUpdate], stamp: &Stamp) -> Applied {
        self.messages += 1;
        let mut applied = Applied::default();
        for u in updates {
            let rate = u.rate.clone().unwrap_or_default();
            let mut date = u.start;
            // Bounded: `days()` dates at most, checked by the caller against MAX_CELLS_PER_MESSAGE.
            for _ in 0..u.days() {
                let cell = self.cells.entry((u.room.clone(), rate.clone(), date)).or_default();
                let mut regressed: Option<Timestamp> = None;
                let mut set = |field: Field, cell: &mut Cell| {
                    if let Some(ts) = stamp.timestamp {
                        if let Some(prev) = cell.set_at.get(&field) {
                            if ts < *prev {
                                regressed = Some(regressed.map_or(*prev, |r: Timestamp| r.max(*prev)));
                            }
                        }
                        cell.set_at.insert(field, ts);
                    }
                };
                if let Some(v) = u.available {
                    set(Field::Available, cell);
                    cell.available = Some(v);
                }
                if let Some(v) = u.rate_amount {
                    set(Field::Rate, cell);
                    cell.rate_amount = Some(v);
                }
                if !u.occupancy_rates.is_empty() {
                    set(Field::Occupancy, cell);
                    cell.occupancy_rates = u.occupancy_rates.clone();
                }
                if let Some(v) = u.min_stay {
                    set(Field::MinStay, cell);
                    cell.min_stay = Some(v);
                }
                if let Some(v) = u.min_stay_through {
                    set(Field::MinStayThrough, cell);
                    cell.min_stay_through = Some(v);
                }
                if let Some(v) = u.max_stay {
                    set(Field::MaxStay, cell);
                    cell.max_stay = Some(v);
                }
                if let Some(v) = u.cta {
                    set(Field::Cta, cell);
                    cell.cta = Some(v);
                }
                if let Some(v) = u.ctd {
                    set(Field::Ctd, cell);
                    cell.ctd = Some(v);
                }
                if let Some(v) = u.stop_sell {
                    set(Field::StopSell, cell);
                    cell.stop_sell = Some(v);
                }
                if stamp.timestamp.is_some() {
                    cell.last_timestamp = stamp.timestamp;
                }
                if stamp.echo.is_some() {
                    cell.last_echo = stamp.echo.clone();
                }
                cell.updates += 1;
                applied.cells += 1;
                if let (Some(prev), Some(ts)) = (regressed, stamp.timestamp) {
                    applied.regressions += 1;
                    self.regressions += 1;
                    if self.regression_log.len() >= REGRESSION_LOG {
                        self.regression_log.remove(0);
                    }
                    self.regression_log.push(Regression {
                        room: u.room.clone(),
                        rate: rate.clone(),
                        date,
                        message_timestamp: ts,
                        cell_timestamp: prev,
                        echo: stamp.echo.clone(),
                    });
                }
                match date.tomorrow() {
                    Ok(d) => date = d,
                    Err(_) => break,
                }
            }
        }
        applied
    }

    /// AlpineBits `CompleteSet`: forget every availability value (and its timestamp)
    /// before the message's values are applied.
    pub fn clear_availability(&mut self) {
        for cell in self.cells.values_mut() {
            cell.available = None;
            cell.set_at.remove(&Field::Available);
        }
        self.cells.retain(|_, c| !c.is_empty());
    }

    /// Lowers availability after a sale (optional OTA behaviour).
    pub fn decrement(&mut self, room: &str, date: Date) {
        if let Some(cell) = self.cells.get_mut(&(room.to_string(), String::new(), date)) {
            if let Some(a) = cell.available.as_mut() {
                *a = a.saturating_sub(1);
            }
        }
    }

    /// The rate the OTA would sell (room, rate) at on `date`.
    pub fn rate_for(&self, room: &str, rate: &str, date: Date) -> Option<Decimal> {
        self.cells.get(&(room.to_string(), rate.to_string(), date)).and_then(|c| c.rate_amount)
    }

    pub fn reset(&mut self) {
        *self = View::default();
    }

    pub fn snapshot(&self) -> ViewSnapshot {
        ViewSnapshot {
            cells: self
                .cells
                .iter()
                .map(|((room, rate, date), c)| CellView {
                    room: room.clone(),
                    rate: rate.clone(),
                    date: *date,
                    available: c.available,
                    rate_amount: c.rate_amount,
                    occupancy_rates: c.occupancy_rates.clone(),
                    min_stay: c.min_stay,
                    min_stay_through: c.min_stay_through,
                    max_stay: c.max_stay,
                    cta: c.cta,
                    ctd: c.ctd,
                    stop_sell: c.stop_sell,
                    timestamp: c.last_timestamp,
                    echo: c.last_echo.clone(),
                    updates: c.updates,
                })
                .collect(),
            regressions: self.regressions,
            regression_log: self.regression_log.clone(),
            messages: self.messages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn upd(avail: u32) -> AriUpdate {
        AriUpdate {
            room: "DBL".into(),
            rate: None,
            start: date(2030, 1, 1),
            end: date(2030, 1, 3),
            available: Some(avail),
            ..Default::default()
        }
    }

    fn stamp(s: &str) -> Stamp {
        Stamp { timestamp: Some(s.parse().expect("timestamp")), echo: Some(s.to_string()) }
    }

    #[test]
    fn newer_messages_do_not_regress_older_ones_do() {
        let mut v = View::default();
        let a = v.apply(&[upd(5)], &stamp("2030-01-01T00:00:02Z"));
        assert_eq!(a, Applied { cells: 3, regressions: 0 });
        let a = v.apply(&[upd(4)], &stamp("2030-01-01T00:00:03Z"));
        assert_eq!(a.regressions, 0);
        let a = v.apply(&[upd(9)], &stamp("2030-01-01T00:00:01Z"));
        assert_eq!(a.regressions, 3);
        let snap = v.snapshot();
        assert_eq!(snap.regressions, 3);
        assert_eq!(snap.cells.len(), 3);
        assert_eq!(snap.cell("DBL", "", date(2030, 1, 2)).and_then(|c| c.available), Some(9));
    }

    #[test]
    fn different_fields_have_separate_clocks() {
        let mut v = View::default();
        v.apply(&[upd(5)], &stamp("2030-01-01T00:00:05Z"));
        let rate = AriUpdate { available: None, rate_amount: Some(Decimal::from(10)), ..upd(0) };
        let a = v.apply(&[rate], &stamp("2030-01-01T00:00:01Z"));
        assert_eq!(a.regressions, 0);
    }

    #[test]
    fn complete_set_clears_availability() {
        let mut v = View::default();
        v.apply(&[upd(5)], &stamp("2030-01-01T00:00:05Z"));
        v.clear_availability();
        assert!(v.snapshot().cells.is_empty());
        let a = v.apply(&[upd(1)], &stamp("2030-01-01T00:00:01Z"));
        assert_eq!(a.regressions, 0);
    }
}
