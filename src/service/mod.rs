//! The service layer: what HTTP handlers and pollers call to read and write.
//! A service takes parsed input, talks to the owning actor (or the store),
//! and answers with domain values or its own error type. Services know no
//! HTTP: src/http/error.rs maps their errors to status codes and error codes.

pub mod ari;
pub mod bookings;
pub mod channels;
pub mod front_desk;
pub mod housekeeping;
pub mod reservations;
pub mod setup;
