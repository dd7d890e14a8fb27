//! Pure types and rules of saluran. No I/O and no wire formats live here:
//! the store, the clock and the event publisher are ports (traits) that the
//! binary implements.

pub mod ari;
pub mod availability;
pub mod calendar;
pub mod channel;
pub mod codes;
pub mod dates;
pub mod error;
pub mod events;
pub mod housekeeping;
pub mod lifecycle;
pub mod money;
pub mod ports;
pub mod property;
pub mod reservation;
pub mod stay;
pub mod store;

pub use codes::{ChannelCode, PropertyCode, RatePlanCode, RoomNumber, RoomTypeCode, TenantCode};
pub use dates::{DateRange, StayRange, Weekdays};
pub use error::DomainError;
pub use money::{Currency, Money, Rate};
