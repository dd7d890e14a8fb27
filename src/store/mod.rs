//! Store adapters: one per backend behind `saluran_domain::store::Store`
//! (DESIGN §4). `connect` picks the adapter from the URL scheme and brings
//! the schema up to date before handing the store out.
//!
//! Both adapters share the conversions in this module (rows of primitive
//! values to domain types and back), so that they differ only in SQL and in
//! how each backend spells a type.

pub mod postgres;
pub mod sqlite;

use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;
use saluran_domain::calendar::{InventoryDay, RateDay, StopSellSource};
use saluran_domain::channel::{ChannelConfig, InboundAction, InboundOutcome, InboundRecord, Mapping, Profile, SyncStatus};
use saluran_domain::housekeeping::{HousekeepingTask, TaskStatus};
use saluran_domain::property::{Adjustment, Derivation, Property, RatePlan, RoomType};
use saluran_domain::reservation::{NightlyRate, Reservation, ReservationStatus};
use saluran_domain::store::{Store, StoreError};
use saluran_domain::{ChannelCode, Currency, PropertyCode, RatePlanCode, RoomNumber, RoomTypeCode, TenantCode};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

/// Tuning that does not belong in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// SQLite `synchronous=FULL` (every commit fsynced, the default) rather
    /// than `NORMAL` (a power loss may drop the last commits, never corrupt).
    pub sqlite_synchronous_full: bool,
    /// PostgreSQL pool size; SQLite uses it (capped at 4) for its reader pool.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { sqlite_synchronous_full: true, max_connections: 16 }
    }
}

enum Backend {
    Sqlite,
    Postgres,
}

fn backend_of(database_url: &str) -> Result<Backend, StoreError> {
    if database_url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        // Never echo the URL: it may hold a password.
        let scheme = database_url.split(':').next().unwrap_or_default();
        Err(StoreError::Unavailable(format!("unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://...")))
    }
}

/// Opens the store named by `database_url` (`sqlite://PATH`, `sqlite::memory:`,
/// `postgres://…`, `postgresql://…`) and applies pending migrations.
pub async fn connect(database_url: &str, opts: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match backend_of(database_url)? {
        Backend::Sqlite => Arc::new(sqlite::SqliteStore::connect(database_url, opts).await?),
        Backend::Postgres => Arc::new(postgres::PostgresStore::connect(database_url, opts).await?),
    })
}

/// Applies pending migrations and closes the connections (`saluran migrate`).
pub async fn migrate(database_url: &str) -> Result<(), StoreError> {
    let opts = StoreOptions { max_connections: 2, ..StoreOptions::default() };
    match backend_of(database_url)? {
        Backend::Sqlite => sqlite::SqliteStore::connect(database_url, &opts).await?.close().await,
        Backend::Postgres => postgres::PostgresStore::connect(database_url, &opts).await?.close().await,
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Embedded migrations.
//
// The sqlx `macros` feature (which provides `sqlx::migrate!`) is not enabled
// in this workspace, so the migration files are embedded with `include_str!`
// and handed to sqlx's ordinary `Migrator` through a `MigrationSource`. The
// version, description and checksum are exactly what `sqlx migrate` / the
// `migrate!` macro would compute from the same files, so the two can be
// mixed. A NEW MIGRATION FILE MUST BE ADDED TO THE LISTS BELOW; a unit test
// fails when a list and its directory disagree.

#[derive(Debug, Clone, Copy)]
pub(crate) struct EmbeddedMigration {
    pub version: i64,
    pub description: &'static str,
    /// The file name; only the test comparing the list with the directory reads it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub file: &'static str,
    pub sql: &'static str,
}

pub(crate) const SQLITE_MIGRATIONS: &[EmbeddedMigration] = &[
    EmbeddedMigration {
        version: 1,
        description: "init",
        file: "0001_init.sql",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    EmbeddedMigration {
        version: 2,
        description: "channels",
        file: "0002_channels.sql",
        sql: include_str!("../../migrations/sqlite/0002_channels.sql"),
    },
    EmbeddedMigration {
        version: 3,
        description: "housekeeping",
        file: "0003_housekeeping.sql",
        sql: include_str!("../../migrations/sqlite/0003_housekeeping.sql"),
    },
    EmbeddedMigration {
        version: 4,
        description: "front desk",
        file: "0004_front_desk.sql",
        sql: include_str!("../../migrations/sqlite/0004_front_desk.sql"),
    },
    EmbeddedMigration {
        version: 5,
        description: "inventory sources",
        file: "0005_inventory_sources.sql",
        sql: include_str!("../../migrations/sqlite/0005_inventory_sources.sql"),
    },
];

pub(crate) const POSTGRES_MIGRATIONS: &[EmbeddedMigration] = &[
    EmbeddedMigration {
        version: 1,
        description: "init",
        file: "0001_init.sql",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    EmbeddedMigration {
        version: 2,
        description: "channels",
        file: "0002_channels.sql",
        sql: include_str!("../../migrations/postgres/0002_channels.sql"),
    },
    EmbeddedMigration {
        version: 3,
        description: "housekeeping",
        file: "0003_housekeeping.sql",
        sql: include_str!("../../migrations/postgres/0003_housekeeping.sql"),
    },
    EmbeddedMigration {
        version: 4,
        description: "front desk",
        file: "0004_front_desk.sql",
        sql: include_str!("../../migrations/postgres/0004_front_desk.sql"),
    },
    EmbeddedMigration {
        version: 5,
        description: "inventory sources",
        file: "0005_inventory_sources.sql",
        sql: include_str!("../../migrations/postgres/0005_inventory_sources.sql"),
    },
];

#[derive(Debug)]
struct Embedded(&'static [EmbeddedMigration]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|m| Migration::new(m.version, Cow::Borrowed(m.description), MigrationType::Simple, Cow::Borrowed(m.sql), false))
                .collect())
        })
    }
}

pub(crate) async fn migrator(list: &'static [EmbeddedMigration]) -> Result<Migrator, StoreError> {
    Migrator::new(Embedded(list)).await.map_err(|e| StoreError::Unavailable(format!("migrations: {e}")))
}

// ---------------------------------------------------------------------------
// Errors.

/// Maps a sqlx error: unique violation → `Conflict`, foreign-key violation →
/// `NotFound`, decoding problems → `Corrupt`, anything else (I/O, pool
/// timeouts, server errors) → `Unavailable`.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_owned()),
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound(d.message().to_owned()),
        sqlx::Error::RowNotFound => StoreError::NotFound("row".to_owned()),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(e.to_string()),
        _ => {
            tracing::warn!(error = %e, "store error");
            StoreError::Unavailable(e.to_string())
        }
    }
}

/// As `db_err`, naming what already exists on a unique violation.
pub(crate) fn db_err_conflict(what: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what()),
        _ => db_err(e),
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

// ---------------------------------------------------------------------------
// Conversions shared by both adapters.

/// Timestamps are stored as unix nanoseconds (UTC) in a 64-bit integer:
/// exact for jiff's nanosecond `Timestamp` between the years 1677 and 2262.
pub(crate) fn ts_to_nanos(t: Timestamp) -> Result<i64, StoreError> {
    i64::try_from(t.as_nanosecond()).map_err(|_| StoreError::Corrupt(format!("timestamp {t} is outside the storable range")))
}

pub(crate) fn now_nanos() -> i64 {
    // The current time is always within range.
    ts_to_nanos(Timestamp::now()).unwrap_or(0)
}

pub(crate) fn ts_from_nanos(n: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_nanosecond(i128::from(n)).map_err(|e| corrupt(format!("timestamp {n}: {e}")))
}

pub(crate) fn date_str(d: Date) -> String {
    d.to_string()
}

/// A stored out-of-order range (both ends, or neither).
pub(crate) fn out_of_order_from(from: Option<String>, to: Option<String>) -> Result<Option<saluran_domain::dates::DateRange>, StoreError> {
    match (from, to) {
        (Some(a), Some(b)) => Ok(Some(
            saluran_domain::dates::DateRange::new(parse_date(&a)?, parse_date(&b)?)
                .map_err(|e| corrupt(format!("room out of order range: {e}")))?,
        )),
        (None, None) => Ok(None),
        _ => Err(corrupt("room out of order range: one end only")),
    }
}

/// The `Conflict` a room's compare-and-set fails with (the shard re-reads
/// the room on it).
pub(crate) fn room_changed(number: &RoomNumber) -> StoreError {
    StoreError::Conflict(format!("room changed meanwhile: {number}"))
}

pub(crate) fn parse_date(s: &str) -> Result<Date, StoreError> {
    s.parse::<Date>().map_err(|e| corrupt(format!("date {s:?}: {e}")))
}

pub(crate) fn parse_decimal(s: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(s).map_err(|e| corrupt(format!("decimal {s:?}: {e}")))
}

pub(crate) fn to_u16(v: i64, what: &str) -> Result<u16, StoreError> {
    u16::try_from(v).map_err(|_| corrupt(format!("{what} {v} out of range")))
}

pub(crate) fn to_u8(v: i64, what: &str) -> Result<u8, StoreError> {
    u8::try_from(v).map_err(|_| corrupt(format!("{what} {v} out of range")))
}

pub(crate) fn opt_u16(v: Option<i64>, what: &str) -> Result<Option<u16>, StoreError> {
    v.map(|v| to_u16(v, what)).transpose()
}

pub(crate) fn parse_code<T>(parse: fn(String) -> Result<T, saluran_domain::DomainError>, s: String) -> Result<T, StoreError> {
    parse(s).map_err(|e| corrupt(format!("stored code: {e}")))
}

/// Per-occupancy rates as JSON: `[[1,"750000"],[2,"850000"]]`; none → NULL.
pub(crate) fn occupancy_to_json(v: &[(u8, Decimal)]) -> Option<String> {
    if v.is_empty() {
        return None;
    }
    let pairs: Vec<(u8, String)> = v.iter().map(|(a, r)| (*a, r.to_string())).collect();
    // Serializing plain integers and strings cannot fail.
    serde_json::to_string(&pairs).ok()
}

pub(crate) fn occupancy_from_json(s: Option<&str>) -> Result<Vec<(u8, Decimal)>, StoreError> {
    let Some(s) = s else { return Ok(Vec::new()) };
    let pairs: Vec<(u8, String)> = serde_json::from_str(s).map_err(|e| corrupt(format!("occupancy_rates: {e}")))?;
    pairs.into_iter().map(|(a, r)| Ok((a, parse_decimal(&r)?))).collect()
}

pub(crate) fn json_str(v: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("could not encode JSON: {e}")))
}

pub(crate) fn json_parse<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("{what}: {e}")))
}

pub(crate) fn adjustment_parts(a: &Adjustment) -> (&'static str, Decimal) {
    match a {
        Adjustment::Percent(p) => ("percent", *p),
        Adjustment::Amount(v) => ("amount", *v),
    }
}

/// A `properties` row.
pub(crate) struct PropertyRow {
    pub tenant: String,
    pub code: String,
    pub name: String,
    pub timezone: String,
    pub currency: String,
    pub night_audit_time: String,
    pub marks_no_shows: bool,
    pub no_shows_from: Option<String>,
}

impl PropertyRow {
    pub fn into_domain(self) -> Result<Property, StoreError> {
        Ok(Property {
            tenant: parse_code(TenantCode::try_from, self.tenant)?,
            code: parse_code(PropertyCode::try_from, self.code)?,
            name: self.name,
            timezone: self.timezone,
            currency: Currency::parse(&self.currency).map_err(|e| corrupt(format!("currency: {e}")))?,
            night_audit_time: self.night_audit_time,
            marks_no_shows: self.marks_no_shows,
            no_shows_from: self.no_shows_from.as_deref().map(parse_date).transpose()?,
        })
    }
}

pub(crate) fn room_type_from(code: String, name: String, max_occupancy: i64, physical: i64) -> Result<RoomType, StoreError> {
    Ok(RoomType {
        code: parse_code(RoomTypeCode::try_from, code)?,
        name,
        max_occupancy: to_u8(max_occupancy, "max_occupancy")?,
        physical_rooms: to_u16(physical, "physical_rooms")?,
    })
}

/// A `rate_plans` row, joined with its room type's code.
pub(crate) struct RatePlanRow {
    pub code: String,
    pub room_type: String,
    pub name: String,
    pub derived_parent: Option<String>,
    pub adjustment_kind: Option<String>,
    pub adjustment_value: Option<Decimal>,
}

impl RatePlanRow {
    pub fn into_domain(self) -> Result<RatePlan, StoreError> {
        let derived = match (self.derived_parent, self.adjustment_kind.as_deref(), self.adjustment_value) {
            (None, None, None) => None,
            (Some(parent), Some(kind), Some(v)) => Some(Derivation {
                parent: parse_code(RatePlanCode::try_from, parent)?,
                adjustment: match kind {
                    "percent" => Adjustment::Percent(v),
                    "amount" => Adjustment::Amount(v),
                    other => return Err(corrupt(format!("adjustment kind {other:?}"))),
                },
            }),
            _ => return Err(corrupt(format!("rate plan {}: incomplete derivation", self.code))),
        };
        Ok(RatePlan {
            code: parse_code(RatePlanCode::try_from, self.code)?,
            room_type: parse_code(RoomTypeCode::try_from, self.room_type)?,
            name: self.name,
            derived,
        })
    }
}

pub(crate) fn inventory_day_from(
    out_of_order: i64,
    sold: i64,
    held: i64,
    allotment: Option<i64>,
    stop_sell: bool,
    stop_sell_source: &str,
) -> Result<InventoryDay, StoreError> {
    Ok(InventoryDay {
        out_of_order: to_u16(out_of_order, "out_of_order")?,
        sold: to_u16(sold, "sold")?,
        held: to_u16(held, "held")?,
        allotment: opt_u16(allotment, "allotment")?,
        stop_sell,
        stop_sell_source: StopSellSource::parse(stop_sell_source)
            .ok_or_else(|| corrupt(format!("stop_sell_source {stop_sell_source:?}")))?,
    })
}

/// A `rate_days` row with its decimal already decoded.
pub(crate) struct RateDayRow {
    pub rate: Option<Decimal>,
    pub occupancy_rates: Option<String>,
    pub min_stay_arrival: Option<i64>,
    pub min_stay_through: Option<i64>,
    pub max_stay: Option<i64>,
    pub closed_to_arrival: Option<bool>,
    pub closed_to_departure: Option<bool>,
    pub stop_sell: Option<bool>,
}

impl RateDayRow {
    pub fn into_domain(self) -> Result<RateDay, StoreError> {
        Ok(RateDay {
            rate: self.rate,
            occupancy_rates: occupancy_from_json(self.occupancy_rates.as_deref())?,
            min_stay_arrival: opt_u16(self.min_stay_arrival, "min_stay_arrival")?,
            min_stay_through: opt_u16(self.min_stay_through, "min_stay_through")?,
            max_stay: opt_u16(self.max_stay, "max_stay")?,
            closed_to_arrival: self.closed_to_arrival,
            closed_to_departure: self.closed_to_departure,
            stop_sell: self.stop_sell,
        })
    }
}

/// A `reservations` row joined with its property's and room type's codes.
pub(crate) struct ReservationRow {
    pub id: String,
    pub property: String,
    pub room_type: String,
    pub rate_plan: String,
    pub check_in: String,
    pub check_out: String,
    pub adults: i64,
    pub guest_name: String,
    pub status: String,
    pub currency: String,
    pub total: Decimal,
    pub nightly: String,
    pub source: String,
    pub external_id: Option<String>,
    pub revision: i64,
    pub overbooked: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub checked_in_at: Option<i64>,
    pub checked_out_at: Option<i64>,
    pub room: Option<String>,
    pub outside_horizon: bool,
    pub calendar_from: Option<String>,
    pub calendar_to: Option<String>,
}

impl ReservationRow {
    pub fn into_domain(self) -> Result<Reservation, StoreError> {
        let nightly: Vec<NightlyRate> = json_parse(&self.nightly, "reservation nightly rates")?;
        Ok(Reservation {
            property: parse_code(PropertyCode::try_from, self.property)?,
            room_type: parse_code(RoomTypeCode::try_from, self.room_type)?,
            rate_plan: parse_code(RatePlanCode::try_from, self.rate_plan)?,
            check_in: parse_date(&self.check_in)?,
            check_out: parse_date(&self.check_out)?,
            adults: to_u8(self.adults, "adults")?,
            guest_name: self.guest_name,
            status: ReservationStatus::parse(&self.status).ok_or_else(|| corrupt(format!("reservation status {:?}", self.status)))?,
            currency: Currency::parse(&self.currency).map_err(|e| corrupt(format!("currency: {e}")))?,
            total: self.total,
            nightly,
            source: self.source,
            external_id: self.external_id,
            revision: u32::try_from(self.revision).map_err(|_| corrupt("reservation revision out of range"))?,
            overbooked: self.overbooked,
            created_at: ts_from_nanos(self.created_at)?,
            updated_at: ts_from_nanos(self.updated_at)?,
            checked_in_at: opt_ts_from_nanos(self.checked_in_at)?,
            checked_out_at: opt_ts_from_nanos(self.checked_out_at)?,
            room: self.room.map(|n| parse_code(RoomNumber::try_from, n)).transpose()?,
            outside_horizon: self.outside_horizon,
            calendar_nights: match (self.calendar_from, self.calendar_to) {
                (Some(a), Some(b)) => Some(
                    saluran_domain::dates::DateRange::new(parse_date(&a)?, parse_date(&b)?)
                        .map_err(|e| corrupt(format!("reservation calendar nights: {e}")))?,
                ),
                (None, None) => None,
                _ => return Err(corrupt("reservation calendar nights: one end only")),
            },
            id: self.id,
        })
    }
}

/// Groups `(intent id, kind, payload, pending room type)` rows, already
/// ordered by intent, into intents.
pub(crate) fn group_intents(rows: Vec<(String, String, String, String)>) -> Result<Vec<saluran_domain::store::Intent>, StoreError> {
    let mut out: Vec<saluran_domain::store::Intent> = Vec::new();
    for (id, kind, payload, room_type) in rows {
        let rt = parse_code(RoomTypeCode::try_from, room_type)?;
        match out.last_mut() {
            Some(last) if last.id == id => last.pending_room_types.push(rt),
            _ => out.push(saluran_domain::store::Intent {
                payload: json_parse(&payload, "intent payload")?,
                id,
                kind,
                pending_room_types: vec![rt],
            }),
        }
    }
    Ok(out)
}

/// `Option<Timestamp>` ↔ nullable unix nanoseconds.
pub(crate) fn opt_ts_to_nanos(t: Option<Timestamp>) -> Result<Option<i64>, StoreError> {
    t.map(ts_to_nanos).transpose()
}

pub(crate) fn opt_ts_from_nanos(n: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    n.map(ts_from_nanos).transpose()
}

/// A `channels` row joined with its property's code.
pub(crate) struct ChannelRow {
    pub id: i64,
    pub property: String,
    pub code: String,
    pub profile: String,
    pub preset: String,
    pub endpoint: String,
    pub hotel_code: String,
    pub sealed_credentials: Vec<u8>,
    pub webhook_username: String,
    pub sealed_webhook_secret: Vec<u8>,
    pub created_at: i64,
}

impl ChannelRow {
    fn into_domain(self, mappings: Vec<Mapping>) -> Result<ChannelConfig, StoreError> {
        Ok(ChannelConfig {
            property: parse_code(PropertyCode::try_from, self.property)?,
            profile: Profile::parse(&self.profile).ok_or_else(|| corrupt(format!("channel {}: profile {:?}", self.code, self.profile)))?,
            code: parse_code(ChannelCode::try_from, self.code)?,
            preset: self.preset,
            endpoint: self.endpoint,
            hotel_code: self.hotel_code,
            sealed_credentials: self.sealed_credentials,
            webhook_username: self.webhook_username,
            sealed_webhook_secret: self.sealed_webhook_secret,
            mappings,
            created_at: ts_from_nanos(self.created_at)?,
        })
    }
}

/// A `channel_mappings` row: channel id, room type, rate plan, OTA room, OTA rate.
pub(crate) type MappingRow = (i64, String, String, String, String);

/// Puts each channel's mappings (`mappings` ordered by channel, then
/// ordinal) into it, keeping the channels' order.
pub(crate) fn assemble_channels(channels: Vec<ChannelRow>, mappings: Vec<MappingRow>) -> Result<Vec<ChannelConfig>, StoreError> {
    let mut by_channel: HashMap<i64, Vec<Mapping>> = HashMap::new();
    for (channel_id, room_type, rate_plan, ota_room, ota_rate) in mappings {
        by_channel.entry(channel_id).or_default().push(Mapping {
            room_type: parse_code(RoomTypeCode::try_from, room_type)?,
            rate_plan: parse_code(RatePlanCode::try_from, rate_plan)?,
            ota_room,
            ota_rate,
        });
    }
    channels
        .into_iter()
        .map(|c| {
            let mappings = by_channel.remove(&c.id).unwrap_or_default();
            c.into_domain(mappings)
        })
        .collect()
}

/// A `channel_sync_status` row.
pub(crate) struct SyncStatusRow {
    pub pending_cells: i64,
    pub consecutive_failures: i64,
    pub total_failures: i64,
    pub dead_letters: i64,
    pub requests_sent: i64,
    pub last_success_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_error: Option<String>,
}

impl SyncStatusRow {
    pub fn into_domain(self) -> Result<SyncStatus, StoreError> {
        Ok(SyncStatus {
            last_success_at: opt_ts_from_nanos(self.last_success_at)?,
            last_attempt_at: opt_ts_from_nanos(self.last_attempt_at)?,
            pending_cells: self.pending_cells,
            consecutive_failures: self.consecutive_failures,
            total_failures: self.total_failures,
            dead_letters: self.dead_letters,
            last_error: self.last_error,
            requests_sent: self.requests_sent,
        })
    }
}

/// An `inbound_bookings` row joined with its property's and channel's codes.
pub(crate) struct InboundRow {
    pub property: String,
    pub channel: String,
    pub ota_reservation_id: String,
    pub revision: String,
    pub action: String,
    pub reservation_id: Option<String>,
    pub outcome: String,
    pub ack: String,
    pub received_at: i64,
}

impl InboundRow {
    pub fn into_domain(self) -> Result<InboundRecord, StoreError> {
        Ok(InboundRecord {
            property: parse_code(PropertyCode::try_from, self.property)?,
            channel: parse_code(ChannelCode::try_from, self.channel)?,
            action: InboundAction::parse(&self.action).ok_or_else(|| corrupt(format!("inbound action {:?}", self.action)))?,
            ota_reservation_id: self.ota_reservation_id,
            revision: self.revision,
            reservation_id: self.reservation_id,
            outcome: InboundOutcome::parse(&self.outcome).ok_or_else(|| corrupt(format!("inbound outcome {:?}", self.outcome)))?,
            ack: self.ack,
            received_at: ts_from_nanos(self.received_at)?,
        })
    }
}

/// What a duplicate inbound delivery conflicts on, for `Conflict`.
pub(crate) fn inbound_key(r: &InboundRecord) -> String {
    format!(
        "inbound delivery {}/{}: OTA reservation {} revision {} ({})",
        r.property,
        r.channel,
        r.ota_reservation_id,
        r.revision,
        r.action.as_str()
    )
}

// ---------------------------------------------------------------------------
// A booking and its cancellation, checked against each other.
//
// A cancellation that arrives before its booking is stored on its own (a
// "tombstone": action `cancel`, no reservation, outcome `applied`) by
// `insert_inbound`, outside any shard, while a shard may be committing the
// booking from a history read before the tombstone existed. Both adapters
// therefore check, inside the writing transaction, that the two never both
// land: see `Store::commit_shard` and `Store::insert_inbound`.

/// Start of the `Conflict` message of a commit that would make (or keep) a
/// booking active although its cancellation was applied meanwhile; followed
/// by `{channel}/{ota id}`. The shard re-reads the history and decides again.
pub const CANCELLED_MEANWHILE: &str = "cancelled meanwhile: ";
/// Start of the `Conflict` message of a tombstone refused because a
/// reservation from that booking exists; followed by `{channel}/{ota id}`.
/// The caller routes the cancellation through the shard holding it.
pub const BOOKING_EXISTS: &str = "booking exists: ";

/// A commit refused because its booking was cancelled meanwhile.
pub fn is_cancelled_meanwhile(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(m) if m.starts_with(CANCELLED_MEANWHILE))
}

/// A tombstone refused because the booking exists (as opposed to a
/// duplicate delivery, which is `Conflict` too).
pub fn is_booking_exists(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(m) if m.starts_with(BOOKING_EXISTS))
}

pub(crate) fn cancelled_meanwhile(r: &InboundRecord) -> StoreError {
    StoreError::Conflict(format!("{CANCELLED_MEANWHILE}{}/{}", r.channel, r.ota_reservation_id))
}

pub(crate) fn booking_exists(r: &InboundRecord) -> StoreError {
    StoreError::Conflict(format!("{BOOKING_EXISTS}{}/{}", r.channel, r.ota_reservation_id))
}

/// What must hold, inside the transaction, before an inbound record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// No applied cancellation of the same (channel, OTA id) is stored.
    NotCancelled,
    /// No reservation from the same (channel, OTA id) is stored.
    NoBooking,
}

/// A cancellation of a booking we hold no reservation of.
pub(crate) fn is_tombstone(r: &InboundRecord) -> bool {
    r.action == InboundAction::Cancel && r.reservation_id.is_none() && r.outcome == InboundOutcome::Applied
}

/// The check an inbound record of a shard commit needs, given the
/// reservations the same commit writes: a `new`/`modify` that applied a
/// reservation must not land after the booking's cancellation — unless the
/// commit leaves that reservation cancelled (a booking arriving after its
/// cancellation is stored cancelled, taking no inventory: that is the
/// intended outcome, not the race); a tombstone must not land after the
/// booking's reservation.
pub(crate) fn commit_guard(r: &InboundRecord, reservations: &[Reservation]) -> Option<Guard> {
    let applied = r.outcome.counts_as_booked();
    match (r.action, r.reservation_id.as_deref()) {
        (InboundAction::New | InboundAction::Modify, Some(id)) if applied => {
            // Upserts apply in order: the last write of the reservation stays.
            let stays_cancelled = reservations.iter().rev().find(|x| x.id == id).is_some_and(|x| !x.is_active());
            (!stays_cancelled).then_some(Guard::NotCancelled)
        }
        _ if is_tombstone(r) => Some(Guard::NoBooking),
        _ => None,
    }
}

/// The text of the lock key serializing every writer of one OTA booking
/// (PostgreSQL hashes it to a 64-bit advisory lock key). Property ids are
/// never reused and channel codes are unique per property, so the text
/// names one booking line of one channel.
pub(crate) fn booking_lock_text(property_id: i64, r: &InboundRecord) -> String {
    format!("saluran.inbound:{property_id}:{}:{}", r.channel, r.ota_reservation_id)
}

/// Splits `n` rows into statement sizes: full chunks of `MAX_ROWS`, then the
/// rest in powers of two, so only a handful of distinct SQL texts (each one
/// prepared once per connection) ever exist.
pub(crate) fn chunk_sizes(n: usize, max_rows: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = n;
    while rest >= max_rows {
        out.push(max_rows);
        rest -= max_rows;
    }
    let mut size = max_rows.next_power_of_two();
    while rest > 0 && size > 0 {
        if rest >= size {
            out.push(size);
            rest -= size;
        }
        size /= 2;
    }
    out
}

/// A `housekeeping_tasks` row: id, room, kind, status, assignee, note,
/// created_at, updated_at.
pub(crate) type TaskRow = (String, String, String, String, Option<String>, Option<String>, i64, i64);

pub(crate) fn task_from(property: &PropertyCode, row: TaskRow) -> Result<HousekeepingTask, StoreError> {
    let (id, room, kind, status, assignee, note, created_at, updated_at) = row;
    Ok(HousekeepingTask {
        id,
        property: property.clone(),
        room: parse_code(RoomNumber::try_from, room)?,
        kind,
        status: TaskStatus::parse(&status).ok_or_else(|| corrupt(format!("task status {status}")))?,
        assignee,
        note,
        created_at: ts_from_nanos(created_at)?,
        updated_at: ts_from_nanos(updated_at)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
        let mut names: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn embedded_migrations_match_the_directories() {
        for (dir, list) in [("sqlite", SQLITE_MIGRATIONS), ("postgres", POSTGRES_MIGRATIONS)] {
            let embedded: Vec<String> = list.iter().map(|m| m.file.to_owned()).collect();
            assert_eq!(files_in(dir), embedded, "migrations/{dir} and the embedded list in src/store/mod.rs differ");
            for m in list {
                let (v, rest) = m.file.split_once('_').unwrap();
                assert_eq!(v.parse::<i64>().unwrap(), m.version, "{}", m.file);
                assert_eq!(rest.trim_end_matches(".sql").replace('_', " "), m.description, "{}", m.file);
            }
        }
    }

    #[test]
    fn chunk_sizes_cover_every_row() {
        for n in [0, 1, 2, 3, 255, 256, 511, 512, 513, 1024, 2190, 10950] {
            let c = chunk_sizes(n, 500);
            assert_eq!(c.iter().sum::<usize>(), n, "{n}");
            assert!(c.iter().all(|s| *s <= 500 && *s > 0));
        }
    }

    #[test]
    fn occupancy_json_round_trips() {
        let v = vec![(1u8, Decimal::from_str("750000").unwrap()), (2, Decimal::from_str("850000.5").unwrap())];
        let s = occupancy_to_json(&v).unwrap();
        assert_eq!(s, r#"[[1,"750000"],[2,"850000.5"]]"#);
        assert_eq!(occupancy_from_json(Some(&s)).unwrap(), v);
        assert_eq!(occupancy_to_json(&[]), None);
    }
}
