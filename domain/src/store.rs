//! The store port. Two adapters implement it (SQLite and PostgreSQL, in the
//! `saluran` crate) and one contract test suite runs against both.

use crate::ari::CellChanges;
use crate::calendar::RoomTypeCalendar;
use crate::channel::{ChannelConfig, DeadLetter, InboundAction, InboundOutcome, InboundRecord, SyncStatus};
use crate::codes::{ChannelCode, PropertyCode, RoomNumber, RoomTypeCode};
use crate::housekeeping::{HousekeepingTask, TaskStatus};
use crate::property::{Property, PropertyConfig, RatePlan, Room, RoomStatus, RoomType, TokenScope};
use crate::reservation::Reservation;
use async_trait::async_trait;
use jiff::civil::Date;
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    /// Told apart by variant: each consumer reacts to the conflicts it
    /// expects (re-read and decide again, answer a replay, refuse).
    #[error("already exists: {0}")]
    Conflict(Conflict),
    /// Another writer (another node) committed to this room type first.
    #[error("calendar of {room_type} changed underneath (expected version {expected})")]
    VersionConflict { room_type: String, expected: i64 },
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

/// Why a write was refused because of what is already stored. The messages
/// are what API users have always seen after "already exists: ".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Conflict {
    /// A unique key is taken: `what` names it (e.g. "property HTL1").
    #[error("{what}")]
    AlreadyExists { what: String },
    /// A room's compare-and-set in `commit_shard` failed: the shard re-reads
    /// the room and decides again.
    #[error("room changed meanwhile: {number}")]
    RoomChanged { number: RoomNumber },
    /// A commit would make (or keep) a booking active although its
    /// cancellation was applied meanwhile.
    #[error("cancelled meanwhile: {channel}/{ota_id}")]
    CancelledMeanwhile { channel: ChannelCode, ota_id: String },
    /// A tombstone refused because a reservation from that booking exists:
    /// the cancellation goes through the shard holding it.
    #[error("booking exists: {channel}/{ota_id}")]
    BookingExists { channel: ChannelCode, ota_id: String },
    /// The same (channel, OTA id, revision, action) was recorded before.
    #[error("inbound delivery {property}/{channel}: OTA reservation {ota_id} revision {revision} ({})", .action.as_str())]
    DuplicateDelivery { property: PropertyCode, channel: ChannelCode, ota_id: String, revision: String, action: InboundAction },
    /// `update_task` found the task in another status.
    #[error("task {id} is {}, not {}", .actual.as_str(), .expected.as_str())]
    TaskStatus { id: String, actual: TaskStatus, expected: TaskStatus },
    /// `set_business_date` found another business date stored.
    #[error("business date of {property} changed (expected {expected:?})")]
    BusinessDateChanged { property: PropertyCode, expected: Option<Date> },
    /// A reservation id is already used by another property.
    #[error("reservation id {id} belongs to another property")]
    ReservationOfOtherProperty { id: String },
}

impl Conflict {
    pub fn exists(what: impl Into<String>) -> Self {
        Conflict::AlreadyExists { what: what.into() }
    }
    /// `r`'s booking was cancelled while its commit was being decided.
    pub fn cancelled_meanwhile(r: &InboundRecord) -> Self {
        Conflict::CancelledMeanwhile { channel: r.channel.clone(), ota_id: r.ota_reservation_id.clone() }
    }
    /// `r` (a tombstone) came after its booking was stored.
    pub fn booking_exists(r: &InboundRecord) -> Self {
        Conflict::BookingExists { channel: r.channel.clone(), ota_id: r.ota_reservation_id.clone() }
    }
}

impl StoreError {
    /// A commit refused because its booking was cancelled meanwhile.
    pub fn is_cancelled_meanwhile(&self) -> bool {
        matches!(self, StoreError::Conflict(Conflict::CancelledMeanwhile { .. }))
    }
    /// A tombstone refused because the booking exists (as opposed to a
    /// duplicate delivery, which is a `Conflict` too).
    pub fn is_booking_exists(&self) -> bool {
        matches!(self, StoreError::Conflict(Conflict::BookingExists { .. }))
    }
}

/// A domain event to persist with a change, in the same transaction:
/// encoded once (kind + payload), stored and then published as it is.
pub use crate::events::EncodedEvent as NewEvent;

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Per-property sequence number, gap-free and increasing.
    pub seq: i64,
    pub kind: String,
    pub payload: Value,
    pub created_at: jiff::Timestamp,
}

/// Everything one InventoryShard commits at once (group commit): cells,
/// reservations and events, in one transaction, or nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardCommit {
    pub property: Option<PropertyCode>,
    pub room_type: Option<RoomTypeCode>,
    /// The calendar version the shard computed its changes from. The commit
    /// fails with `VersionConflict` if the stored version differs, and on
    /// success the stored version becomes `expected_version + 1`.
    pub expected_version: i64,
    pub changes: CellChanges,
    /// Inserted, or updated by id; each one also appends a row to the
    /// reservation's revision history.
    pub reservations: Vec<Reservation>,
    pub events: Vec<NewEvent>,
    /// Intents (multi-room-type operations) this commit completes for this
    /// room type.
    pub intents_done: Vec<String>,
    /// OTA deliveries this commit applies, recorded in the same transaction
    /// as their effect (unique per channel, OTA id, revision and action).
    pub inbound: Vec<InboundRecord>,
    /// Room status changes whose calendar effect (out of order) is in
    /// `changes`: written in the same transaction, each only if the stored
    /// room is still as `expected` (otherwise the whole commit fails with
    /// `Conflict::RoomChanged`, and the shard
    /// re-reads the room and decides again), so a room is never counted out
    /// of order twice nor released twice.
    pub rooms: Vec<RoomChange>,
}

/// A room's status (and out-of-order range) moving from `expected` to `room`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomChange {
    pub expected: Room,
    pub room: Room,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    pub version: i64,
    /// The sequence numbers given to `events`, in order.
    pub event_seqs: Vec<i64>,
}

/// An operation over several room types, recorded before any shard applies
/// it and re-driven after a restart until every room type has applied it.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    pub id: String,
    pub kind: String,
    pub payload: Value,
    /// Room types that have not yet applied the intent.
    pub pending_room_types: Vec<RoomTypeCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First time this key is seen: the caller runs the request.
    Fresh,
    /// Done before with the same request: send back the stored response.
    Replay { status: u16, body: Vec<u8> },
    /// The same key is being processed (begun `age` ago and not finished:
    /// still running, or its node stopped before finishing it).
    InProgress { age: std::time::Duration },
    /// The key was used with a different request.
    Mismatch,
}

/// The store port: everything the application keeps, as one object
/// (`Arc<dyn Store>`), made of one trait per concern so that a change to one
/// concern reads apart from the others. A `dyn Store` offers every concern's
/// methods as they are (a trait object's supertrait methods need no import);
/// code holding a concrete adapter imports `saluran_domain::store::prelude::*`.
#[async_trait]
pub trait Store:
    TokenStore
    + SetupStore
    + CalendarStore
    + ReservationStore
    + EventStore
    + IdempotencyStore
    + ChannelStore
    + InboundStore
    + HousekeepingStore
    + NightAuditStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The store's concerns, imported anonymously: `use saluran_domain::store::prelude::*`
/// makes every `Store` method callable on a concrete adapter without naming
/// the traits.
pub mod prelude {
    pub use super::{
        CalendarStore as _, ChannelStore as _, EventStore as _, HousekeepingStore as _, IdempotencyStore as _, InboundStore as _,
        NightAuditStore as _, ReservationStore as _, SetupStore as _, Store, StoreError, TokenStore as _,
    };
}

/// Bearer tokens. `hash` is the hex SHA-256 of the bearer token.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_token(&self, id: &str, hash: &str, scope: &TokenScope) -> Result<(), StoreError>;
    async fn find_token(&self, hash: &str) -> Result<Option<TokenScope>, StoreError>;
}

/// Properties, room types, rooms and rate plans. Codes are unique: a
/// duplicate is `Conflict`.
#[async_trait]
pub trait SetupStore: Send + Sync {
    async fn create_property(&self, p: &Property) -> Result<(), StoreError>;
    async fn find_property(&self, code: &PropertyCode) -> Result<Option<Property>, StoreError>;
    /// Turns the night audit's no-show marking on or off, in one statement
    /// with its start date (`Property::no_shows_from`): `Some(from)` turns it
    /// on from `from` (if it is already on and `keep_date`, the stored date
    /// is kept instead); `None` turns it off and clears the date. `NotFound`
    /// for an unknown property.
    async fn set_marks_no_shows(&self, property: &PropertyCode, from: Option<Date>, keep_date: bool) -> Result<(), StoreError>;
    async fn count_properties(&self) -> Result<i64, StoreError>;
    async fn create_room_type(&self, property: &PropertyCode, rt: &RoomType) -> Result<(), StoreError>;
    /// Adds a room and increments its room type's physical count and version.
    async fn create_room(&self, property: &PropertyCode, room: &Room) -> Result<(), StoreError>;
    async fn set_room_status(&self, property: &PropertyCode, number: &RoomNumber, status: RoomStatus) -> Result<(), StoreError>;
    async fn create_rate_plan(&self, property: &PropertyCode, plan: &RatePlan) -> Result<(), StoreError>;
    async fn load_config(&self, property: &PropertyCode) -> Result<Option<PropertyConfig>, StoreError>;
}

/// A room type's calendar: what a shard loads, and its one commit.
#[async_trait]
pub trait CalendarStore: Send + Sync {
    /// A room type's calendar from `from` onwards, with its rate plans.
    async fn load_calendar(&self, property: &PropertyCode, room_type: &RoomTypeCode, from: Date) -> Result<RoomTypeCalendar, StoreError> {
        self.load_calendar_until(property, room_type, from, Date::MAX).await
    }
    /// A room type's calendar from `from` to `to` (inclusive), with its
    /// rate plans: what a shard holds (`dates::calendar_window`), whatever
    /// dates older data may have stored outside it.
    async fn load_calendar_until(
        &self,
        property: &PropertyCode,
        room_type: &RoomTypeCode,
        from: Date,
        to: Date,
    ) -> Result<RoomTypeCalendar, StoreError>;
    /// Commits everything in `commit` in one transaction, or nothing.
    ///
    /// OTA bookings are checked against each other inside the transaction
    /// (serialized with `insert_inbound` on the same channel and OTA id, so
    /// no concurrent writer can slip between the check and the write):
    /// - a `new`/`modify` record with a reservation and outcome `applied` or
    ///   `overbooked`, whose reservation this commit leaves active, fails the
    ///   whole commit with `Conflict::CancelledMeanwhile`
    ///   if a `cancel` with outcome `applied` is stored for the same channel
    ///   and OTA id (a booking stored cancelled is allowed);
    /// - a `cancel` record without a reservation and outcome `applied` (a
    ///   tombstone) fails it with `Conflict::BookingExists`
    ///   if a reservation from that booking (source = channel code,
    ///   external_id = OTA id, any status) is stored.
    ///
    /// The caller re-reads the booking's history and decides again.
    async fn commit_shard(&self, commit: &ShardCommit) -> Result<CommitOutcome, StoreError>;
}

/// Reading reservations (they are written by `CalendarStore::commit_shard`).
#[async_trait]
pub trait ReservationStore: Send + Sync {
    async fn find_reservation(&self, property: &PropertyCode, id: &str) -> Result<Option<Reservation>, StoreError>;
    async fn list_reservations(&self, property: &PropertyCode, room_type: &RoomTypeCode) -> Result<Vec<Reservation>, StoreError>;
    /// The night audit's no-show candidates: the property's reservations
    /// that are `confirmed`, not checked in and arrive on or after `from`
    /// (when marking began, `Property::no_shows_from`) and on or before
    /// `closed` (the business date the audit closes), ordered by room type
    /// code (bytewise), check-in, id. `NotFound` is never returned: an
    /// unknown property simply has none.
    async fn no_show_candidates(&self, property: &PropertyCode, from: Date, closed: Date) -> Result<Vec<Reservation>, StoreError>;
}

/// A property's events (written by `commit_shard`) and its intents.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events with `seq > after`, oldest first, at most `limit`.
    async fn events_after(&self, property: &PropertyCode, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError>;

    async fn insert_intent(&self, property: &PropertyCode, intent: &Intent) -> Result<(), StoreError>;
    async fn pending_intents(&self, property: &PropertyCode) -> Result<Vec<Intent>, StoreError>;
}

/// Idempotency keys, scoped (e.g. by token id) so two clients never share one.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn idempotency_begin(&self, scope: &str, key: &str, request_hash: &str) -> Result<IdempotencyBegin, StoreError>;
    async fn idempotency_complete(&self, scope: &str, key: &str, status: u16, body: &[u8]) -> Result<(), StoreError>;
    async fn idempotency_abort(&self, scope: &str, key: &str) -> Result<(), StoreError>;
    /// Deletes the keys (done or still in progress) created more than
    /// `older_than` ago, by the store's clock; returns how many.
    async fn idempotency_expire(&self, older_than: std::time::Duration) -> Result<u64, StoreError>;
}

/// Channels (property × OTA connections), their sync state and dead letters.
#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// A duplicate (property, code) is `Conflict`; mappings are stored with it.
    async fn create_channel(&self, channel: &ChannelConfig) -> Result<(), StoreError>;
    async fn list_channels(&self, property: &PropertyCode) -> Result<Vec<ChannelConfig>, StoreError>;
    async fn save_sync_status(&self, property: &PropertyCode, channel: &ChannelCode, status: &SyncStatus) -> Result<(), StoreError>;
    /// `None` when never saved.
    async fn load_sync_status(&self, property: &PropertyCode, channel: &ChannelCode) -> Result<Option<SyncStatus>, StoreError>;
    async fn insert_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError>;
    /// Properties with at least one channel, ordered by code (bytewise),
    /// each once.
    async fn list_channel_properties(&self) -> Result<Vec<PropertyCode>, StoreError>;
    /// Σ pending cells and Σ dead letters over every channel (for /health).
    async fn channel_queue_totals(&self) -> Result<(i64, i64), StoreError>;
}

/// OTA deliveries and the reservations made from OTA bookings.
#[async_trait]
pub trait InboundStore: Send + Sync {
    /// Every recorded delivery of one OTA booking, oldest first.
    async fn inbound_history(
        &self,
        property: &PropertyCode,
        channel: &ChannelCode,
        ota_reservation_id: &str,
    ) -> Result<Vec<InboundRecord>, StoreError>;
    /// Records a delivery that changes no inventory (stale, unmapped, or a
    /// cancellation of a booking not seen yet: a tombstone).
    /// A duplicate (channel, OTA id, revision, action) is
    /// `Conflict::DuplicateDelivery`.
    ///
    /// A tombstone (`cancel`, no reservation, outcome `applied`) is refused
    /// with `Conflict::BookingExists`, writing
    /// nothing, when a reservation from that booking (source = channel code,
    /// external_id = OTA id, any status) exists: the cancellation must then
    /// go through the shard that holds the reservation. The check and the
    /// write are one transaction, serialized with `commit_shard` (see there).
    async fn insert_inbound(&self, record: &InboundRecord) -> Result<(), StoreError>;
    /// The reservation made from an OTA booking (source = channel code,
    /// external_id = OTA reservation id), if any.
    async fn find_reservation_by_external(
        &self,
        property: &PropertyCode,
        channel: &ChannelCode,
        ota_reservation_id: &str,
    ) -> Result<Option<Reservation>, StoreError>;
    /// Every line of an OTA booking (source = channel code, external_id =
    /// `base` or `base#N`, N one or more ASCII digits), in one query: for
    /// each line its newest reservation (as `find_reservation_by_external`
    /// would return it), the base first, then by line number. An id that
    /// merely starts with `base` (`base1`, `base#x`, `base#1#2`) is not a
    /// line of it; `%` and `_` in `base` are plain characters.
    async fn find_booking_lines(&self, property: &PropertyCode, channel: &ChannelCode, base: &str) -> Result<Vec<Reservation>, StoreError>;
}

/// Housekeeping tasks.
#[async_trait]
pub trait HousekeepingStore: Send + Sync {
    /// A duplicate id is `Conflict`; an unknown property or room `NotFound`.
    async fn create_task(&self, task: &HousekeepingTask) -> Result<(), StoreError>;
    /// Writes `task` (status, assignee, note, updated_at) if the stored task
    /// is still in `expected`; otherwise `Conflict::TaskStatus` and nothing is written.
    async fn update_task(&self, task: &HousekeepingTask, expected: TaskStatus) -> Result<(), StoreError>;
    async fn find_task(&self, property: &PropertyCode, id: &str) -> Result<Option<HousekeepingTask>, StoreError>;
    /// Oldest first; `open_only` keeps open, assigned and in-progress tasks.
    async fn list_tasks(&self, property: &PropertyCode, open_only: bool) -> Result<Vec<HousekeepingTask>, StoreError>;
}

/// The night audit's business date.
#[async_trait]
pub trait NightAuditStore: Send + Sync {
    /// `None` before the first audit.
    async fn get_business_date(&self, property: &PropertyCode) -> Result<Option<Date>, StoreError>;
    /// Compare-and-set: writes `date` only if the stored business date is
    /// still `expected_previous`, otherwise `Conflict::BusinessDateChanged`.
    async fn set_business_date(&self, property: &PropertyCode, date: Date, expected_previous: Option<Date>) -> Result<(), StoreError>;
}

// ---------------------------------------------------------------------------
// A booking and its cancellation never both land.
//
// A cancellation that arrives before its booking is stored on its own (a
// "tombstone") by `insert_inbound`, outside any shard, while a shard may be
// committing the booking from a history read before the tombstone existed.
// The adapters therefore check, inside the writing transaction, what
// `commit_guard` asks for.

/// What must hold, inside the transaction, before an inbound record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingGuard {
    /// No applied cancellation of the same (channel, OTA id) is stored
    /// (else `Conflict::CancelledMeanwhile`).
    NotCancelled,
    /// No reservation from the same (channel, OTA id) is stored (else
    /// `Conflict::BookingExists`).
    NoBooking,
}

/// A cancellation of a booking we hold no reservation of.
pub fn is_tombstone(r: &InboundRecord) -> bool {
    r.action == InboundAction::Cancel && r.reservation_id.is_none() && r.outcome == InboundOutcome::Applied
}

/// The check an inbound record of a shard commit needs, given the
/// reservations the same commit writes: a `new`/`modify` that applied a
/// reservation must not land after the booking's cancellation — unless the
/// commit leaves that reservation cancelled (a booking arriving after its
/// cancellation is stored cancelled, taking no inventory: that is the
/// intended outcome, not the race); a tombstone must not land after the
/// booking's reservation.
pub fn commit_guard(r: &InboundRecord, reservations: &[Reservation]) -> Option<BookingGuard> {
    let applied = r.outcome.counts_as_booked();
    match (r.action, r.reservation_id.as_deref()) {
        (InboundAction::New | InboundAction::Modify, Some(id)) if applied => {
            // Upserts apply in order: the last write of the reservation stays.
            let stays_cancelled = reservations.iter().rev().find(|x| x.id == id).is_some_and(|x| !x.is_active());
            (!stays_cancelled).then_some(BookingGuard::NotCancelled)
        }
        _ if is_tombstone(r) => Some(BookingGuard::NoBooking),
        _ => None,
    }
}

/// The line suffix of `ota_id` within booking `base`: `Some("")` for the
/// base itself, `Some("N")` for `base#N` (N one or more ASCII digits), else
/// `None`.
pub fn booking_line_suffix<'a>(base: &str, ota_id: &'a str) -> Option<&'a str> {
    let rest = ota_id.strip_prefix(base)?;
    if rest.is_empty() {
        return Some(rest);
    }
    let digits = rest.strip_prefix('#')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Shared by the adapters' `find_booking_lines`: from candidate rows
/// ordered newest first (per external id), keeps the lines of `base`, the
/// newest reservation of each, ordered base first then by line number.
pub fn booking_lines(base: &str, newest_first: Vec<Reservation>) -> Vec<Reservation> {
    let mut seen = std::collections::HashSet::new();
    let mut lines: Vec<(String, Reservation)> = Vec::new();
    for r in newest_first {
        let Some(suffix) = r.external_id.as_deref().and_then(|id| booking_line_suffix(base, id)) else {
            continue;
        };
        let suffix = suffix.to_owned();
        if seen.insert(suffix.clone()) {
            lines.push((suffix, r));
        }
    }
    // Numeric order without parsing (no overflow): shorter digit strings
    // first, then lexicographic; leading zeros sort as their own lines.
    lines.sort_by(|(a, _), (b, _)| (a.len(), a.as_str()).cmp(&(b.len(), b.as_str())));
    lines.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod booking_line_tests {
    use super::booking_line_suffix;

    #[test]
    fn only_the_base_and_numbered_lines_match() {
        assert_eq!(booking_line_suffix("ABC1", "ABC1"), Some(""));
        assert_eq!(booking_line_suffix("ABC1", "ABC1#7"), Some("7"));
        assert_eq!(booking_line_suffix("ABC1", "ABC1#21"), Some("21"));
        assert_eq!(booking_line_suffix("ABC1", "ABC10"), None);
        assert_eq!(booking_line_suffix("ABC1", "ABC10#1"), None);
        assert_eq!(booking_line_suffix("ABC1", "ABC1#"), None);
        assert_eq!(booking_line_suffix("ABC1", "ABC1#x"), None);
        assert_eq!(booking_line_suffix("ABC1", "ABC1#1#2"), None);
        assert_eq!(booking_line_suffix("ABC1", "ABC"), None);
        assert_eq!(booking_line_suffix("A%_", "AB_"), None);
        assert_eq!(booking_line_suffix("A%_", "A%_#3"), Some("3"));
    }
}

#[cfg(test)]
mod conflict_tests {
    use super::*;

    /// API users see `already exists: {conflict}`: the texts the adapters
    /// used to build by hand must not change with the typed conflicts.
    #[test]
    fn conflict_messages_stay_as_they_were() {
        let bdc = ChannelCode::parse("BDC").unwrap();
        let htl = PropertyCode::parse("HTL1").unwrap();
        let cases = [
            (Conflict::exists("property HTL1"), "already exists: property HTL1"),
            (Conflict::RoomChanged { number: RoomNumber::parse("101").unwrap() }, "already exists: room changed meanwhile: 101"),
            (Conflict::CancelledMeanwhile { channel: bdc.clone(), ota_id: "X1".into() }, "already exists: cancelled meanwhile: BDC/X1"),
            (Conflict::BookingExists { channel: bdc.clone(), ota_id: "X1".into() }, "already exists: booking exists: BDC/X1"),
            (
                Conflict::DuplicateDelivery {
                    property: htl.clone(),
                    channel: bdc,
                    ota_id: "X1".into(),
                    revision: "2".into(),
                    action: InboundAction::Cancel,
                },
                "already exists: inbound delivery HTL1/BDC: OTA reservation X1 revision 2 (cancel)",
            ),
            (
                Conflict::TaskStatus { id: "T1".into(), actual: TaskStatus::Done, expected: TaskStatus::Open },
                "already exists: task T1 is done, not open",
            ),
            (
                Conflict::BusinessDateChanged { property: htl, expected: Some(jiff::civil::date(2027, 1, 2)) },
                "already exists: business date of HTL1 changed (expected Some(2027-01-02))",
            ),
            (Conflict::ReservationOfOtherProperty { id: "R1".into() }, "already exists: reservation id R1 belongs to another property"),
        ];
        for (conflict, text) in cases {
            assert_eq!(StoreError::Conflict(conflict).to_string(), text);
        }
    }
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    fn record(action: InboundAction, reservation_id: Option<&str>, outcome: &str) -> InboundRecord {
        InboundRecord {
            property: PropertyCode::parse("HTL1").unwrap(),
            channel: ChannelCode::parse("BDC").unwrap(),
            ota_reservation_id: "X1".into(),
            revision: "1".into(),
            action,
            reservation_id: reservation_id.map(str::to_owned),
            outcome: InboundOutcome::parse(outcome).expect("a stored outcome"),
            ack: "ok".into(),
            received_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn each_delivery_gets_the_check_its_race_needs() {
        use BookingGuard::*;
        let cases = [
            (record(InboundAction::New, Some("R1"), "applied"), Some(NotCancelled)),
            (record(InboundAction::Modify, Some("R1"), "overbooked"), Some(NotCancelled)),
            (record(InboundAction::New, Some("R1"), "stale"), None),
            (record(InboundAction::Cancel, None, "applied"), Some(NoBooking)),
            (record(InboundAction::Cancel, Some("R1"), "applied"), None),
            (record(InboundAction::Cancel, None, "replayed"), None),
            (record(InboundAction::New, None, "applied"), None),
        ];
        for (r, expected) in cases {
            assert_eq!(commit_guard(&r, &[]), expected, "{:?} {:?} {:?}", r.action, r.reservation_id, r.outcome);
        }
        assert!(is_tombstone(&record(InboundAction::Cancel, None, "applied")));
        assert!(!is_tombstone(&record(InboundAction::Cancel, Some("R1"), "applied")));
    }
}
