//! Reservations and their revisions.

use crate::codes::{PropertyCode, RatePlanCode, RoomNumber, RoomTypeCode};
use crate::dates::{DateRange, StayRange};
use crate::money::Currency;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Confirmed,
    Cancelled,
    /// The guest did not arrive: marked by the night audit that closed the
    /// arrival date. Like a cancellation it holds no future nights.
    NoShow,
}

impl ReservationStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReservationStatus::Confirmed => "confirmed",
            ReservationStatus::Cancelled => "cancelled",
            ReservationStatus::NoShow => "no_show",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confirmed" => Some(ReservationStatus::Confirmed),
            "cancelled" => Some(ReservationStatus::Cancelled),
            "no_show" => Some(ReservationStatus::NoShow),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NightlyRate {
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(schema_with = crate::money::decimal_schema)]
    pub rate: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: String,
    pub property: PropertyCode,
    pub room_type: RoomTypeCode,
    pub rate_plan: RatePlanCode,
    pub check_in: Date,
    pub check_out: Date,
    pub adults: u8,
    pub guest_name: String,
    pub status: ReservationStatus,
    pub currency: Currency,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    pub nightly: Vec<NightlyRate>,
    /// `direct`, or the channel code it came from.
    pub source: String,
    /// The OTA's reservation id, for channel bookings.
    pub external_id: Option<String>,
    pub revision: u32,
    /// Stored although it exceeded availability (OTA bookings only).
    pub overbooked: bool,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
    /// Front-desk stay state (see `crate::stay`). Defaulted so that revision
    /// snapshots written before these fields existed still read.
    #[serde(default)]
    pub checked_in_at: Option<jiff::Timestamp>,
    #[serde(default)]
    pub checked_out_at: Option<jiff::Timestamp>,
    /// The room given at check-in, if the front desk named one.
    #[serde(default)]
    pub room: Option<RoomNumber>,
    /// Some nights of the stay fell outside the calendar window when it was
    /// booked (`dates::calendar_window`: an OTA sold a stay in the past or
    /// past the horizon). They stay on the booking; the calendar holds only
    /// `calendar_nights`. Alerted when taken (event + metric).
    #[serde(default)]
    pub outside_horizon: bool,
    /// With `outside_horizon`: the nights the calendar holds (none if
    /// `None`). Without it every night of the stay is held.
    #[serde(default)]
    pub calendar_nights: Option<DateRange>,
}

impl Reservation {
    pub fn stay(&self) -> StayRange {
        StayRange { check_in: self.check_in, check_out: self.check_out }
    }
    pub fn is_active(&self) -> bool {
        self.status == ReservationStatus::Confirmed
    }
    /// The nights this booking holds in the calendar (what a cancellation
    /// gives back): every night of the stay, or those inside the calendar
    /// window when it was booked.
    pub fn held_nights(&self) -> Vec<Date> {
        match (self.outside_horizon, self.calendar_nights) {
            (false, _) => self.stay().night_dates().days().collect(),
            (true, Some(r)) => r.days().collect(),
            (true, None) => Vec::new(),
        }
    }
}

/// A direct booking request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    pub room_type: RoomTypeCode,
    pub rate_plan: RatePlanCode,
    pub stay: StayRange,
    pub adults: u8,
    pub guest_name: String,
}
