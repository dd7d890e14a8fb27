//! OTA wire formats — the only crate that knows OTA XML/JSON. No I/O: builders
//! return strings/JSON values, parsers take bytes.
//!
//! - [`model`]: the wire-neutral types the rest of the system uses
//!   ([`AriRange`], [`AriValues`], [`InboundBooking`], …), run compression and chunking.
//! - [`xml`]: the hardened XML reader every parser goes through, and the writer.
//! - [`opentravel`]: OpenTravel 2015A (Booking.com / SiteMinder style).
//! - [`alpinebits`]: AlpineBits HotelData 2020-10 (FreeRooms, GuestRequests, Handshake).
//! - [`jsonrest`]: Channex-style JSON (ARI batches, booking-revisions feed, notify).
//! - [`signature`]: HMAC-SHA256 webhook signatures.
//! - [`error`]: [`CodecError`] with stable machine codes.

pub mod alpinebits;
pub mod error;
pub mod jsonrest;
pub mod model;
pub mod opentravel;
pub mod signature;
pub mod xml;

pub use error::CodecError;
pub use model::{
    chunk_ranges, chunk_ranges_by_days, compress, expand, to_ranges, AriField, AriRange, AriValues, BookedRoom, BookingAction,
    InboundBooking,
};
pub use xml::Limits;
