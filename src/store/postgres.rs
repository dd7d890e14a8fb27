//! The PostgreSQL adapter (production and clusters).
//!
//! One pool. Writes run at READ COMMITTED, which is enough because every
//! write that could race is either a conditional UPDATE (the room type's
//! `version`, re-checked by PostgreSQL after waiting for a concurrent writer)
//! or an `INSERT … ON CONFLICT`, except one: an OTA booking and its
//! cancellation are checked against each other across two tables (see
//! `Store::commit_shard`), which READ COMMITTED alone cannot make safe (two
//! transactions could each miss the other's uncommitted row), so every
//! writer of one booking first takes a transaction-scoped advisory lock on
//! it (`lock_bookings_in`) and checks in a later statement, whose snapshot
//! then sees whatever the previous holder committed.
//!
//! Event numbers come from a counter row (`properties.event_seq`) updated in
//! the committing transaction, so the row lock orders concurrent commits of
//! one property and the numbers are gap-free and become visible in order.
//! The counter is taken last, to hold that lock as briefly as possible. Multi-statement reads use a REPEATABLE
//! READ READ ONLY transaction (one snapshot).
//!
//! The queries this adapter shares with SQLite are in `store/sql.rs`; this
//! file holds what is PostgreSQL's own: the dialect, the advisory locks and
//! the `UNNEST` bulk writes.
//!
//! Types: dates are `DATE` (bound as `'YYYY-MM-DD'` text with `::date`, read
//! with `::text`), decimals `NUMERIC`, timestamps `BIGINT` unix nanoseconds,
//! JSON `JSONB` (bound as text with `::jsonb`, read with `::text`). Bulk cell
//! writes bind one array per column and `UNNEST` them: one statement, one
//! round trip, whatever the number of cells.

use super::sql::shared_adapter;
use super::{
    booking_lock_text, corrupt, date_str, db_err, db_err_conflict, json_str, mapped_twice, occupancy_to_json, run_migrations, StoreOptions,
    INVENTORY_UPSERT, POSTGRES_MIGRATIONS, RATES_UPSERT,
};
use parking_lot::RwLock;
use rust_decimal::Decimal;
use saluran_domain::channel::{ChannelConfig, Mapping};
use saluran_domain::store::{CommitOutcome, NewEvent, ShardCommit, StoreError};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;

shared_adapter!(
    PostgresStore,
    "postgres",
    db = Postgres,
    row = PgRow,
    conn = PgConnection,
    int = i32,
    date = "::date",
    json = "::jsonb",
    bytes = " COLLATE \"C\""
);
use shared::{apply_commit, get, rate_plan_ids};

// ---------------------------------------------------------------------------
// The dialect (see `store/sql.rs`): dates and JSON are bound as text and cast;
// `COLLATE "C"` orders text bytewise (as on SQLite), whatever the database's
// collation; `INTEGER` columns are `int4`, which sqlx binds from `i32` only.

/// Decimals are `NUMERIC`, bound and read as `Decimal`.
fn dec(d: Decimal) -> Decimal {
    d
}

fn get_decimal(row: &PgRow, i: usize) -> Result<Decimal, StoreError> {
    get(row, i)
}

fn get_opt_decimal(row: &PgRow, i: usize) -> Result<Option<Decimal>, StoreError> {
    get(row, i)
}

pub struct PostgresStore {
    /// One pool; `writer` and `reader` (which the shared queries use) are
    /// the same one.
    writer: PgPool,
    reader: PgPool,
    /// Property code → id. Properties are never deleted nor renamed, so a
    /// positive lookup stays true for the life of the database.
    property_ids: RwLock<HashMap<String, i64>>,
}

/// Takes the transaction-scoped advisory locks (released at COMMIT or
/// ROLLBACK) that serialize every writer of the OTA bookings named by
/// `texts` (`booking_lock_text`), in key order, so that two transactions
/// locking several bookings cannot deadlock each other. The keys are
/// `hashtextextended(text, 0)`: 64 bits, the same on every node and
/// PostgreSQL version (hash partitioning relies on it); a collision only
/// serializes two unrelated bookings.
///
/// Take them before any check: under READ COMMITTED, a check in a LATER
/// statement sees what the previous holder committed.
async fn lock_bookings_in(conn: &mut PgConnection, mut texts: Vec<String>) -> Result<(), StoreError> {
    texts.sort_unstable();
    texts.dedup();
    if let [one] = texts.as_slice() {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(one).execute(conn).await.map_err(db_err)?;
        return Ok(());
    }
    if texts.is_empty() {
        return Ok(());
    }
    let keys = sqlx::query_scalar::<_, i64>("SELECT DISTINCT hashtextextended(t, 0) AS k FROM UNNEST($1::text[]) AS t ORDER BY k")
        .bind(&texts)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

/// One array per column, for `UNNEST`: `f` of every cell, in key order.
fn column<K, V, T>(cells: &BTreeMap<K, V>, f: impl Fn(&K, &V) -> T) -> Vec<T> {
    cells.iter().map(|(k, v)| f(k, v)).collect()
}

async fn upsert_inventory(conn: &mut PgConnection, room_type_id: i64, commit: &ShardCommit) -> Result<(), StoreError> {
    let inv = &commit.changes.inventory;
    if inv.is_empty() {
        return Ok(());
    }
    let (into, on_conflict) = &*INVENTORY_UPSERT;
    let sql = format!(
        "{into} SELECT $1, t.d::date, t.o, t.s, t.h, t.a, t.ss, t.src \
         FROM UNNEST($2::text[], $3::int4[], $4::int4[], $5::int4[], $6::int4[], $7::bool[], $8::text[]) \
         AS t(d, o, s, h, a, ss, src) {on_conflict}"
    );
    sqlx::query(&sql)
        .bind(room_type_id)
        .bind(column(inv, |day, _| date_str(*day)))
        .bind(column(inv, |_, d| i32::from(d.out_of_order)))
        .bind(column(inv, |_, d| i32::from(d.sold)))
        .bind(column(inv, |_, d| i32::from(d.held)))
        .bind(column(inv, |_, d| d.allotment.map(i32::from)))
        .bind(column(inv, |_, d| d.stop_sell))
        .bind(column(inv, |_, d| d.closed_by().as_str()))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn upsert_rates(conn: &mut PgConnection, room_type_id: i64, commit: &ShardCommit) -> Result<(), StoreError> {
    let rates = &commit.changes.rates;
    if rates.is_empty() {
        return Ok(());
    }
    let plan = rate_plan_ids(&mut *conn, room_type_id, commit).await?;
    let (into, on_conflict) = &*RATES_UPSERT;
    let sql = format!(
        "{into} SELECT t.p, t.d::date, t.r, t.o::jsonb, t.msa, t.mst, t.mx, t.cta, t.ctd, t.ss \
         FROM UNNEST($1::int8[], $2::text[], $3::numeric[], $4::text[], $5::int4[], $6::int4[], $7::int4[], \
         $8::bool[], $9::bool[], $10::bool[]) AS t(p, d, r, o, msa, mst, mx, cta, ctd, ss) {on_conflict}"
    );
    sqlx::query(&sql)
        .bind(plan)
        .bind(column(rates, |(_, day), _| date_str(*day)))
        .bind(column(rates, |_, rd| rd.rate))
        .bind(column(rates, |_, rd| occupancy_to_json(&rd.occupancy_rates)))
        .bind(column(rates, |_, rd| rd.min_stay_arrival.map(i32::from)))
        .bind(column(rates, |_, rd| rd.min_stay_through.map(i32::from)))
        .bind(column(rates, |_, rd| rd.max_stay.map(i32::from)))
        .bind(column(rates, |_, rd| rd.closed_to_arrival))
        .bind(column(rates, |_, rd| rd.closed_to_departure))
        .bind(column(rates, |_, rd| rd.stop_sell))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn insert_events(conn: &mut PgConnection, property_id: i64, seqs: &[i64], events: &[NewEvent], now: i64) -> Result<(), StoreError> {
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let payloads = events.iter().map(|e| json_str(&e.payload)).collect::<Result<Vec<_>, _>>()?;
    sqlx::query(
        "INSERT INTO events (property_id, seq, kind, payload, created_at) \
         SELECT $1, t.s, t.k, t.p::jsonb, $5 FROM UNNEST($2::int8[], $3::text[], $4::text[]) AS t(s, k, p)",
    )
    .bind(property_id)
    .bind(seqs)
    .bind(kinds)
    .bind(payloads)
    .bind(now)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn mark_intents_done(conn: &mut PgConnection, room_type_id: i64, intents: &[String]) -> Result<(), StoreError> {
    sqlx::query("UPDATE intent_room_types SET done = TRUE WHERE intent_id = ANY($1) AND room_type_id = $2")
        .bind(intents)
        .bind(room_type_id)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn insert_mappings(conn: &mut PgConnection, channel_id: i64, channel: &ChannelConfig) -> Result<(), StoreError> {
    let ms = &channel.mappings;
    let ordinals = (0..ms.len()).map(|i| i32::try_from(i).map_err(|_| corrupt("too many mappings"))).collect::<Result<Vec<_>, _>>()?;
    let text = |f: fn(&Mapping) -> &str| ms.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO channel_mappings (channel_id, ordinal, room_type, rate_plan, ota_room, ota_rate) \
         SELECT $1, t.o, t.rt, t.rp, t.orm, t.ort \
         FROM UNNEST($2::int4[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(o, rt, rp, orm, ort)",
    )
    .bind(channel_id)
    .bind(ordinals)
    .bind(text(|m| m.room_type.as_str()))
    .bind(text(|m| m.rate_plan.as_str()))
    .bind(text(|m| &m.ota_room))
    .bind(text(|m| &m.ota_rate))
    .execute(conn)
    .await
    .map_err(db_err_conflict(|| mapped_twice(channel)))?;
    Ok(())
}

impl PostgresStore {
    /// Connects and migrates (concurrent nodes are serialized by sqlx's
    /// advisory lock on the migrations table).
    pub async fn connect(database_url: &str, opts: &StoreOptions) -> Result<Self, StoreError> {
        let options =
            PgConnectOptions::from_str(database_url).map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db_err)?;
        run_migrations(POSTGRES_MIGRATIONS, &pool, "PostgreSQL").await?;
        Ok(PostgresStore { writer: pool.clone(), reader: pool, property_ids: RwLock::new(HashMap::new()) })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.writer.close().await;
    }

    /// READ COMMITTED (see the module doc for why that is enough).
    async fn begin_write(&self) -> Result<Transaction<'_, Postgres>, StoreError> {
        self.writer.begin().await.map_err(db_err)
    }

    /// One snapshot for multi-statement reads.
    async fn begin_read(&self) -> Result<Transaction<'_, Postgres>, StoreError> {
        self.writer.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(db_err)
    }

    /// One transaction, one commit: the version row, the bookings' locks,
    /// the event counter (in that order, see `shared::apply_commit`).
    async fn commit_shard_here(&self, commit: &ShardCommit) -> Result<CommitOutcome, StoreError> {
        let (property_id, other_properties) = self.commit_property_ids(commit).await?;
        // Dropped on error: rolled back, version bump included.
        let mut tx = self.begin_write().await?;
        let outcome = apply_commit(&mut tx, commit, property_id, &other_properties).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }
}
