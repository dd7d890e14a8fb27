//! Store adapters: one per backend behind `saluran_domain::store::Store`
//! (DESIGN §4). `connect` picks the adapter from the URL scheme and brings
//! the schema up to date before handing the store out.
//!
//! Both adapters share the conversions in this module (rows of primitive
//! values to domain types and back), so that they differ only in SQL and in
//! how each backend spells a type.

pub mod postgres;
mod sql;
pub mod sqlite;

use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;
use saluran_domain::channel::{ChannelConfig, InboundRecord, Mapping};
use saluran_domain::store::{Conflict, Store, StoreError};
use saluran_domain::{RatePlanCode, RoomTypeCode};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

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

/// `embedded!("dir": "NNNN_description.sql", …)`: each file's version and
/// description come from its name, as `sqlx migrate` reads them.
macro_rules! embedded {
    ($dir:literal: $($version:literal $file:literal $description:literal),* $(,)?) => {
        &[$(EmbeddedMigration {
            version: $version,
            description: $description,
            file: $file,
            sql: include_str!(concat!("../../migrations/", $dir, "/", $file)),
        }),*]
    };
}

pub(crate) const SQLITE_MIGRATIONS: &[EmbeddedMigration] = embedded!("sqlite":
    1 "0001_init.sql" "init",
    2 "0002_channels.sql" "channels",
    3 "0003_housekeeping.sql" "housekeeping",
    4 "0004_front_desk.sql" "front desk",
    5 "0005_inventory_sources.sql" "inventory sources",
);

pub(crate) const POSTGRES_MIGRATIONS: &[EmbeddedMigration] = embedded!("postgres":
    1 "0001_init.sql" "init",
    2 "0002_channels.sql" "channels",
    3 "0003_housekeeping.sql" "housekeeping",
    4 "0004_front_desk.sql" "front desk",
    5 "0005_inventory_sources.sql" "inventory sources",
);

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

/// Applies `list`'s pending migrations to `pool`'s database (`backend`
/// names it in the error).
pub(crate) async fn run_migrations<DB>(list: &'static [EmbeddedMigration], pool: &sqlx::Pool<DB>, backend: &str) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    let migrator = Migrator::new(Embedded(list)).await.map_err(|e| StoreError::Unavailable(format!("migrations: {e}")))?;
    migrator.run(pool).await.map_err(|e| StoreError::Unavailable(format!("migrating the {backend} database: {e}")))
}

// ---------------------------------------------------------------------------
// Errors.

/// Maps a sqlx error: unique violation → `Conflict`, foreign-key violation →
/// `NotFound`, decoding problems → `Corrupt`, anything else (I/O, pool
/// timeouts, server errors) → `Unavailable`.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(Conflict::exists(d.message())),
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

/// As `db_err`, with the conflict a unique violation means here.
pub(crate) fn db_err_conflict(what: impl FnOnce() -> Conflict) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what()),
        _ => db_err(e),
    }
}

/// `NotFound(what)` when a write touched no row.
pub(crate) fn touched(rows: u64, what: impl FnOnce() -> String) -> Result<(), StoreError> {
    if rows == 0 {
        return Err(StoreError::NotFound(what()));
    }
    Ok(())
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

/// A stored date range (both ends, or neither), `what` naming it.
pub(crate) fn date_range(
    from: Option<String>,
    to: Option<String>,
    what: &str,
) -> Result<Option<saluran_domain::dates::DateRange>, StoreError> {
    match (from, to) {
        (Some(a), Some(b)) => {
            Ok(Some(saluran_domain::dates::DateRange::new(parse_date(&a)?, parse_date(&b)?).map_err(|e| corrupt(format!("{what}: {e}")))?))
        }
        (None, None) => Ok(None),
        _ => Err(corrupt(format!("{what}: one end only"))),
    }
}

pub(crate) fn parse_date(s: &str) -> Result<Date, StoreError> {
    s.parse::<Date>().map_err(|e| corrupt(format!("date {s:?}: {e}")))
}

pub(crate) fn parse_decimal(s: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(s).map_err(|e| corrupt(format!("decimal {s:?}: {e}")))
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

/// `Option<Timestamp>` → nullable unix nanoseconds.
pub(crate) fn opt_ts_to_nanos(t: Option<Timestamp>) -> Result<Option<i64>, StoreError> {
    t.map(ts_to_nanos).transpose()
}

/// A `channel_mappings` row: channel id, room type, rate plan, OTA room, OTA rate.
pub(crate) type MappingRow = (i64, String, String, String, String);

/// Puts each channel's mappings (`mappings` ordered by channel, then
/// ordinal) into it (channels come with their ids), keeping the channels'
/// order.
pub(crate) fn assemble_channels(channels: Vec<(i64, ChannelConfig)>, mappings: Vec<MappingRow>) -> Result<Vec<ChannelConfig>, StoreError> {
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
        .map(|(id, mut c)| {
            c.mappings = by_channel.remove(&id).unwrap_or_default();
            Ok(c)
        })
        .collect()
}

/// What a channel's mappings conflict on: the same room type and rate plan
/// mapped twice.
pub(crate) fn mapped_twice(channel: &ChannelConfig) -> Conflict {
    Conflict::exists(format!("channel {}/{}: a room type and rate plan mapped twice", channel.property, channel.code))
}

/// What a duplicate inbound delivery conflicts on.
pub(crate) fn inbound_key(r: &InboundRecord) -> Conflict {
    Conflict::DuplicateDelivery {
        property: r.property.clone(),
        channel: r.channel.clone(),
        ota_id: r.ota_reservation_id.clone(),
        revision: r.revision.clone(),
        action: r.action,
    }
}

// ---------------------------------------------------------------------------
// A booking and its cancellation, checked against each other.
//
// A cancellation that arrives before its booking is stored on its own (a
// "tombstone": action `cancel`, no reservation, outcome `applied`) by
// `insert_inbound`, outside any shard, while a shard may be committing the
// booking from a history read before the tombstone existed. Both adapters
// therefore check, inside the writing transaction, that the two never both
// land: see `CalendarStore::commit_shard`, `InboundStore::insert_inbound`
// and `saluran_domain::store::commit_guard`.

/// The rule itself (which record needs which check) is the domain's.
pub(crate) use saluran_domain::store::{commit_guard, is_tombstone, BookingGuard as Guard};

/// The text of the lock key serializing every writer of one OTA booking
/// (PostgreSQL hashes it to a 64-bit advisory lock key). Property ids are
/// never reused and channel codes are unique per property, so the text
/// names one booking line of one channel.
pub(crate) fn booking_lock_text(property_id: i64, r: &InboundRecord) -> String {
    format!("saluran.inbound:{property_id}:{}:{}", r.channel, r.ota_reservation_id)
}

/// An upsert's two ends, written from ONE column list so that a column
/// cannot be inserted and then forgotten by the update: `INSERT INTO table
/// (cols…)` and `ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c, …` for
/// every column after the first `fixed` (the key, and what must not move).
pub(crate) fn upsert(table: &str, cols: &[&str], key: &str, fixed: usize) -> (String, String) {
    let set: Vec<String> = cols.iter().skip(fixed).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    (format!("INSERT INTO {table} ({})", cols.join(", ")), format!("ON CONFLICT ({key}) DO UPDATE SET {}", set.join(", ")))
}

/// The bulk cell upserts, the same on both backends (which build the rows
/// each its own way: multi-row VALUES on SQLite, one UNNEST on PostgreSQL).
pub(crate) static INVENTORY_UPSERT: LazyLock<(String, String)> = LazyLock::new(|| {
    let cols = ["room_type_id", "day", "out_of_order", "sold", "held", "allotment", "stop_sell", "stop_sell_source"];
    upsert("inventory_days", &cols, "room_type_id, day", 2)
});
pub(crate) static RATES_UPSERT: LazyLock<(String, String)> = LazyLock::new(|| {
    let cols = ["rate_plan_id", "day", "rate", "occupancy_rates", "min_stay_arrival", "min_stay_through", "max_stay"];
    let flags = ["closed_to_arrival", "closed_to_departure", "stop_sell"];
    upsert("rate_days", &[&cols[..], &flags[..]].concat(), "rate_plan_id, day", 2)
});

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
    fn an_upsert_updates_every_column_but_the_fixed_ones() {
        let (into, on_conflict) = upsert("t", &["id", "owner", "a", "b"], "id", 2);
        assert_eq!(into, "INSERT INTO t (id, owner, a, b)");
        assert_eq!(on_conflict, "ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b");
        assert!(INVENTORY_UPSERT.1.ends_with("stop_sell = EXCLUDED.stop_sell, stop_sell_source = EXCLUDED.stop_sell_source"));
        assert!(RATES_UPSERT.0.ends_with("closed_to_arrival, closed_to_departure, stop_sell)"));
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
