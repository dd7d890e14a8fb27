//! The SQLite adapter (the embedded default).
//!
//! Two pools over one database file in WAL mode: a writer pool with a single
//! connection, through which every write goes (so writers queue in the pool
//! instead of fighting over SQLite's write lock with `SQLITE_BUSY`), and a
//! reader pool for reads (WAL readers never block the writer nor each other).
//! Write transactions start with `BEGIN IMMEDIATE` so that even another
//! process writing the same file is waited for (busy timeout) up front rather
//! than failing at the first write. Reads that must be consistent across
//! several statements (`load_config`, `load_calendar`) run in one read
//! transaction, i.e. one snapshot.
//!
//! The single writer is also what makes the checks between an OTA booking
//! and its cancellation (`check_guard_in`) race-free without any lock.
//!
//! Types: dates are `TEXT 'YYYY-MM-DD'`, decimals exact `TEXT`, booleans
//! `INTEGER 0/1`, timestamps `INTEGER` unix nanoseconds, JSON `TEXT`.

use super::{
    adjustment_parts, assemble_channels, booking_exists, cancelled_meanwhile, chunk_sizes, commit_guard, corrupt, date_str, db_err,
    db_err_conflict, group_intents, inbound_key, inventory_day_from, is_tombstone, json_parse, json_str, migrator, now_nanos,
    occupancy_to_json, opt_ts_to_nanos, out_of_order_from, parse_code, parse_date, parse_decimal, room_changed, room_type_from, task_from,
    to_u16, ts_from_nanos, ts_to_nanos, ChannelRow, Guard, InboundRow, MappingRow, PropertyRow, RateDayRow, RatePlanRow, ReservationRow,
    StoreOptions, SyncStatusRow, TaskRow, SQLITE_MIGRATIONS,
};
use async_trait::async_trait;
use jiff::civil::Date;
use parking_lot::RwLock;
use rust_decimal::Decimal;
use saluran_domain::calendar::RoomTypeCalendar;
use saluran_domain::channel::{ChannelConfig, DeadLetter, InboundRecord, SyncStatus};
use saluran_domain::housekeeping::{HousekeepingTask, TaskStatus};
use saluran_domain::property::{Property, PropertyConfig, RatePlan, Role, Room, RoomStatus, RoomType, TokenScope};
use saluran_domain::reservation::Reservation;
use saluran_domain::store::{CommitOutcome, IdempotencyBegin, Intent, ShardCommit, Store, StoreError, StoredEvent};
use saluran_domain::{ChannelCode, PropertyCode, RoomNumber, RoomTypeCode, TenantCode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Decode, QueryBuilder, Row, Sqlite, Type};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Shard commits taken into one SQLite transaction at most.
const MAX_GROUP: usize = 128;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

struct CommitJob {
    commit: ShardCommit,
    property_id: i64,
    other_properties: HashMap<PropertyCode, i64>,
    reply: oneshot::Sender<Result<CommitOutcome, StoreError>>,
}

/// Group commit across shards: SQLite has one writer and each durable
/// commit costs an fsync (about 3 ms here), so commits that arrive while one
/// is running are gathered into ONE transaction, each inside its own
/// SAVEPOINT so that one failing (e.g. a version conflict) rolls back alone.
/// Nobody is answered before the transaction's COMMIT returns.
async fn group_commit(writer: SqlitePool, mut rx: mpsc::Receiver<CommitJob>) {
    let mut batch: Vec<CommitJob> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = run_group(&writer, &batch).await;
        metrics::histogram!("saluran_sqlite_group_commit_size").record(batch.len() as f64);
        for (job, result) in batch.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

fn run_group<'a>(writer: &'a SqlitePool, batch: &'a [CommitJob]) -> BoxFuture<'a, Vec<Result<CommitOutcome, StoreError>>> {
    Box::pin(run_group_inner(writer, batch))
}

fn fail_all(n: usize, e: &StoreError) -> Vec<Result<CommitOutcome, StoreError>> {
    (0..n).map(|_| Err(StoreError::Unavailable(e.to_string()))).collect()
}

async fn run_group_inner(writer: &SqlitePool, batch: &[CommitJob]) -> Vec<Result<CommitOutcome, StoreError>> {
    let mut conn = match writer.acquire().await {
        Ok(c) => c,
        Err(e) => return fail_all(batch.len(), &db_err(e)),
    };
    let conn: &mut SqliteConnection = &mut conn;
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        return fail_all(batch.len(), &db_err(e));
    }
    let mut results = Vec::with_capacity(batch.len());
    let mut broken: Option<StoreError> = None;
    for job in batch {
        if let Err(e) = sqlx::query("SAVEPOINT shard_commit").execute(&mut *conn).await {
            broken = Some(db_err(e));
            break;
        }
        let r = SqliteStore::apply_commit(&mut *conn, job).await;
        let end: &[&str] = if r.is_ok() { &["RELEASE shard_commit"] } else { &["ROLLBACK TO shard_commit", "RELEASE shard_commit"] };
        for sql in end {
            if let Err(e) = sqlx::query(sql).execute(&mut *conn).await {
                broken = Some(db_err(e));
            }
        }
        if broken.is_some() {
            break;
        }
        results.push(r);
    }
    if let Some(e) = broken {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return fail_all(batch.len(), &e);
    }
    if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return fail_all(batch.len(), &db_err(e));
    }
    results
}

/// Rows per multi-row INSERT (11 columns × 512 rows stays far below SQLite's
/// 32766 bound parameters).
const MAX_ROWS: usize = 512;

pub struct SqliteStore {
    writer: SqlitePool,
    /// Shard commits go through one group-commit task (see `group_commit`).
    committer: mpsc::Sender<CommitJob>,
    reader: SqlitePool,
    /// Property code → id. Properties are never deleted nor renamed, so a
    /// positive lookup stays true for the life of the database.
    property_ids: RwLock<HashMap<String, i64>>,
}

fn get<'r, T>(row: &'r SqliteRow, i: usize) -> Result<T, StoreError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get::<T, _>(i).map_err(db_err)
}

fn get_decimal(row: &SqliteRow, i: usize) -> Result<Decimal, StoreError> {
    parse_decimal(&get::<String>(row, i)?)
}

fn get_opt_decimal(row: &SqliteRow, i: usize) -> Result<Option<Decimal>, StoreError> {
    get::<Option<String>>(row, i)?.as_deref().map(parse_decimal).transpose()
}

const RESERVATION_COLUMNS: &str = "r.id, p.code, rt.code, r.rate_plan, r.check_in, r.check_out, r.adults, \
     r.guest_name, r.status, r.currency, r.total, r.nightly, r.source, r.external_id, r.revision, r.overbooked, \
     r.created_at, r.updated_at, r.checked_in_at, r.checked_out_at, r.room, \
     r.outside_horizon, r.calendar_from, r.calendar_to \
     FROM reservations r JOIN properties p ON p.id = r.property_id JOIN room_types rt ON rt.id = r.room_type_id";

fn reservation_from(row: &SqliteRow) -> Result<Reservation, StoreError> {
    ReservationRow {
        id: get(row, 0)?,
        property: get(row, 1)?,
        room_type: get(row, 2)?,
        rate_plan: get(row, 3)?,
        check_in: get(row, 4)?,
        check_out: get(row, 5)?,
        adults: get(row, 6)?,
        guest_name: get(row, 7)?,
        status: get(row, 8)?,
        currency: get(row, 9)?,
        total: get_decimal(row, 10)?,
        nightly: get(row, 11)?,
        source: get(row, 12)?,
        external_id: get(row, 13)?,
        revision: get(row, 14)?,
        overbooked: get(row, 15)?,
        created_at: get(row, 16)?,
        updated_at: get(row, 17)?,
        checked_in_at: get(row, 18)?,
        checked_out_at: get(row, 19)?,
        room: get(row, 20)?,
        outside_horizon: get(row, 21)?,
        calendar_from: get(row, 22)?,
        calendar_to: get(row, 23)?,
    }
    .into_domain()
}

async fn room_type_id_in(conn: &mut SqliteConnection, property_id: i64, code: &RoomTypeCode) -> Result<i64, StoreError> {
    sqlx::query_scalar::<_, i64>("SELECT id FROM room_types WHERE property_id = ? AND code = ?")
        .bind(property_id)
        .bind(code.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("room type {code}")))
}

/// Records one OTA delivery on `conn` (in the caller's transaction, if any):
/// `NotFound` for an unknown channel, `Conflict` for a duplicate
/// (channel, OTA id, revision, action).
async fn insert_inbound_in(conn: &mut SqliteConnection, property_id: i64, r: &InboundRecord) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO inbound_bookings (property_id, channel_id, ota_reservation_id, revision, action, reservation_id, \
         outcome, ack, received_at) SELECT c.property_id, c.id, ?, ?, ?, ?, ?, ?, ? FROM channels c \
         WHERE c.property_id = ? AND c.code = ?",
    )
    .bind(&r.ota_reservation_id)
    .bind(&r.revision)
    .bind(r.action.as_str())
    .bind(r.reservation_id.as_deref())
    .bind(r.outcome.as_str())
    .bind(&r.ack)
    .bind(ts_to_nanos(r.received_at)?)
    .bind(property_id)
    .bind(r.channel.as_str())
    .execute(conn)
    .await
    .map_err(db_err_conflict(|| inbound_key(r)))?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("channel {}/{}", r.property, r.channel)));
    }
    Ok(())
}

/// Checks `guard` for `r` on `conn`, inside the caller's write transaction:
/// `Conflict` (`cancelled_meanwhile` / `booking_exists`) when it does not hold.
///
/// No lock is needed: every write goes through the one writer connection,
/// in a `BEGIN IMMEDIATE` transaction (which also waits out another process
/// writing the file), so nothing can be written between this check and the
/// caller's writes. A shard commit earlier in the same group transaction is
/// visible here, as it should be.
async fn check_guard_in(conn: &mut SqliteConnection, property_id: i64, r: &InboundRecord, guard: Guard) -> Result<(), StoreError> {
    let sql = match guard {
        Guard::NotCancelled => {
            "SELECT 1 FROM inbound_bookings i JOIN channels c ON c.id = i.channel_id \
             WHERE c.property_id = ? AND c.code = ? AND i.ota_reservation_id = ? \
             AND i.action = 'cancel' AND i.outcome = 'applied' LIMIT 1"
        }
        Guard::NoBooking => "SELECT 1 FROM reservations WHERE property_id = ? AND source = ? AND external_id = ? LIMIT 1",
    };
    let found = sqlx::query_scalar::<_, i64>(sql)
        .bind(property_id)
        .bind(r.channel.as_str())
        .bind(&r.ota_reservation_id)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?;
    match (found, guard) {
        (None, _) => Ok(()),
        (Some(_), Guard::NotCancelled) => Err(cancelled_meanwhile(r)),
        (Some(_), Guard::NoBooking) => Err(booking_exists(r)),
    }
}

/// `FROM channels c JOIN properties p` filtered by property and channel code
/// (two binds).
const CHANNEL_BY_CODES: &str = "channels c JOIN properties p ON p.id = c.property_id WHERE p.code = ? AND c.code = ?";

impl SqliteStore {
    /// Opens (creating the file and its directory if missing) and migrates.
    pub async fn connect(database_url: &str, opts: &StoreOptions) -> Result<Self, StoreError> {
        let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
        let base = SqliteConnectOptions::from_str(database_url).map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL: {e}")))?;
        if !in_memory {
            if let Some(parent) = base.get_filename().parent() {
                if !parent.as_os_str().is_empty() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
                }
            }
        }
        let options = base
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if opts.sqlite_synchronous_full { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        migrator(SQLITE_MIGRATIONS)
            .await?
            .run(&writer)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrating the SQLite database: {e}")))?;
        let reader = if in_memory {
            // A private in-memory database exists only in its one connection.
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(opts.max_connections.clamp(1, 4))
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await
                .map_err(db_err)?
        };
        let (committer, rx) = mpsc::channel(4096);
        tokio::spawn(group_commit(writer.clone(), rx));
        Ok(SqliteStore { writer, committer, reader, property_ids: RwLock::new(HashMap::new()) })
    }

    /// One shard commit, inside the caller's transaction.
    // Boxed with one explicit lifetime: the future runs inside a spawned
    // task, and an `async fn` borrowing a connection trips the compiler's
    // higher-ranked Send check there.
    fn apply_commit<'a>(conn: &'a mut SqliteConnection, job: &'a CommitJob) -> BoxFuture<'a, Result<CommitOutcome, StoreError>> {
        Box::pin(Self::apply_commit_inner(conn, job))
    }

    async fn apply_commit_inner(conn: &mut SqliteConnection, job: &CommitJob) -> Result<CommitOutcome, StoreError> {
        let commit = &job.commit;
        let property_id = job.property_id;
        let other_properties = &job.other_properties;
        let room_type = commit.room_type.as_ref().ok_or_else(|| StoreError::NotFound("commit without a room type".into()))?;
        let now = now_nanos();
        // (1) Optimistic concurrency: the version the shard computed from.
        let bumped = sqlx::query_as::<_, (i64, i64)>(
            "UPDATE room_types SET version = version + 1 WHERE property_id = ? AND code = ? AND version = ? \
             RETURNING id, version",
        )
        .bind(property_id)
        .bind(room_type.as_str())
        .bind(commit.expected_version)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        let Some((room_type_id, version)) = bumped else {
            room_type_id_in(&mut *conn, property_id, room_type).await?;
            return Err(StoreError::VersionConflict { room_type: room_type.to_string(), expected: commit.expected_version });
        };

        // (2) OTA deliveries, first: a booking cancelled meanwhile, a
        // tombstone of a booking stored meanwhile (`check_guard_in`, all
        // checked before this commit writes any of its own records) or a
        // redelivery (duplicate key) fails the commit before anything else
        // is written; the caller's SAVEPOINT then undoes the version bump too.
        for record in &commit.inbound {
            if let Some(guard) = commit_guard(record, &commit.reservations) {
                let pid = other_properties.get(&record.property).copied().unwrap_or(property_id);
                check_guard_in(&mut *conn, pid, record, guard).await?;
            }
        }
        for record in &commit.inbound {
            let pid = other_properties.get(&record.property).copied().unwrap_or(property_id);
            insert_inbound_in(&mut *conn, pid, record).await?;
        }

        // (3) Cells.
        Self::upsert_inventory(&mut *conn, room_type_id, commit).await?;
        Self::upsert_rates(&mut *conn, room_type_id, commit).await?;

        // (4) Reservations and their revision history.
        let mut room_type_ids: HashMap<(i64, &RoomTypeCode), i64> = HashMap::new();
        room_type_ids.insert((property_id, room_type), room_type_id);
        for r in &commit.reservations {
            let pid = other_properties.get(&r.property).copied().unwrap_or(property_id);
            let rtid = match room_type_ids.get(&(pid, &r.room_type)) {
                Some(id) => *id,
                None => {
                    let id = room_type_id_in(&mut *conn, pid, &r.room_type).await?;
                    room_type_ids.insert((pid, &r.room_type), id);
                    id
                }
            };
            Self::upsert_reservation(&mut *conn, pid, rtid, r, now).await?;
        }

        // (4b) Room status changes (out of order): each only if the stored
        // room is still what the shard decided from.
        for change in &commit.rooms {
            let (exp, room) = (&change.expected, &change.room);
            let done = sqlx::query(
                "UPDATE rooms SET status = ?, out_of_order_from = ?, out_of_order_to = ? \
                 WHERE property_id = ? AND room_type_id = ? AND number = ? AND status = ? \
                 AND out_of_order_from IS ? AND out_of_order_to IS ?",
            )
            .bind(room.status.as_str())
            .bind(room.out_of_order.map(|r| date_str(r.start())))
            .bind(room.out_of_order.map(|r| date_str(r.end())))
            .bind(property_id)
            .bind(room_type_id)
            .bind(room.number.as_str())
            .bind(exp.status.as_str())
            .bind(exp.out_of_order.map(|r| date_str(r.start())))
            .bind(exp.out_of_order.map(|r| date_str(r.end())))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
            if done.rows_affected() == 0 {
                return Err(room_changed(&room.number));
            }
        }

        // (5) Intents this commit completes for this room type.
        for intent in &commit.intents_done {
            sqlx::query("UPDATE intent_room_types SET done = 1 WHERE intent_id = ? AND room_type_id = ?")
                .bind(intent)
                .bind(room_type_id)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }

        // (6) Events, numbered from the property's counter: gap-free because
        // the counter moves in the same transaction as the rows.
        let mut event_seqs = Vec::with_capacity(commit.events.len());
        if !commit.events.is_empty() {
            let n = i64::try_from(commit.events.len()).map_err(|_| corrupt("too many events"))?;
            let last = sqlx::query_scalar::<_, i64>("UPDATE properties SET event_seq = event_seq + ? WHERE id = ? RETURNING event_seq")
                .bind(n)
                .bind(property_id)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err)?;
            event_seqs.extend((last - n + 1)..=last);
            let mut encoded = Vec::with_capacity(commit.events.len());
            for (e, seq) in commit.events.iter().zip(&event_seqs) {
                encoded.push((*seq, e.kind.as_str(), json_str(&e.payload)?));
            }
            let mut rows = encoded.into_iter();
            for size in chunk_sizes(commit.events.len(), MAX_ROWS) {
                let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO events (property_id, seq, kind, payload, created_at) ");
                qb.push_values(rows.by_ref().take(size), |mut b, (seq, kind, payload)| {
                    b.push_bind(property_id).push_bind(seq).push_bind(kind).push_bind(payload).push_bind(now);
                });
                qb.build().execute(&mut *conn).await.map_err(db_err)?;
            }
        }
        Ok(CommitOutcome { version, event_seqs })
    }

    /// Closes both pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn property_id(&self, code: &PropertyCode) -> Result<i64, StoreError> {
        if let Some(id) = self.property_ids.read().get(code.as_str()) {
            return Ok(*id);
        }
        let id = sqlx::query_scalar::<_, i64>("SELECT id FROM properties WHERE code = ?")
            .bind(code.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("property {code}")))?;
        self.property_ids.write().insert(code.as_str().to_owned(), id);
        Ok(id)
    }

    async fn upsert_inventory(conn: &mut SqliteConnection, room_type_id: i64, commit: &ShardCommit) -> Result<(), StoreError> {
        let mut rows = commit.changes.inventory.iter();
        for size in chunk_sizes(commit.changes.inventory.len(), MAX_ROWS) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO inventory_days (room_type_id, day, out_of_order, sold, held, allotment, stop_sell, stop_sell_source) ",
            );
            qb.push_values(rows.by_ref().take(size), |mut b, (day, inv)| {
                b.push_bind(room_type_id)
                    .push_bind(date_str(*day))
                    .push_bind(i64::from(inv.out_of_order))
                    .push_bind(i64::from(inv.sold))
                    .push_bind(i64::from(inv.held))
                    .push_bind(inv.allotment.map(i64::from))
                    .push_bind(inv.stop_sell)
                    .push_bind(inv.closed_by().as_str());
            });
            qb.push(
                " ON CONFLICT (room_type_id, day) DO UPDATE SET out_of_order = excluded.out_of_order, \
                 sold = excluded.sold, held = excluded.held, allotment = excluded.allotment, \
                 stop_sell = excluded.stop_sell, stop_sell_source = excluded.stop_sell_source",
            );
            qb.build().execute(&mut *conn).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn upsert_rates(conn: &mut SqliteConnection, room_type_id: i64, commit: &ShardCommit) -> Result<(), StoreError> {
        if commit.changes.rates.is_empty() {
            return Ok(());
        }
        let plan_ids: HashMap<String, i64> = sqlx::query_as::<_, (i64, String)>("SELECT id, code FROM rate_plans WHERE room_type_id = ?")
            .bind(room_type_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|(id, code)| (code, id))
            .collect();
        let mut encoded = Vec::with_capacity(commit.changes.rates.len());
        for ((plan, day), rd) in &commit.changes.rates {
            let plan_id = *plan_ids.get(plan.as_str()).ok_or_else(|| {
                StoreError::NotFound(format!(
                    "rate plan {plan} of room type {}",
                    commit.room_type.as_ref().map(|c| c.as_str()).unwrap_or_default()
                ))
            })?;
            encoded.push((plan_id, date_str(*day), rd));
        }
        let mut rows = encoded.into_iter();
        for size in chunk_sizes(commit.changes.rates.len(), MAX_ROWS) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO rate_days (rate_plan_id, day, rate, occupancy_rates, min_stay_arrival, \
                 min_stay_through, max_stay, closed_to_arrival, closed_to_departure, stop_sell) ",
            );
            qb.push_values(rows.by_ref().take(size), |mut b, (plan_id, day, rd)| {
                b.push_bind(plan_id)
                    .push_bind(day)
                    .push_bind(rd.rate.map(|r| r.to_string()))
                    .push_bind(occupancy_to_json(&rd.occupancy_rates))
                    .push_bind(rd.min_stay_arrival.map(i64::from))
                    .push_bind(rd.min_stay_through.map(i64::from))
                    .push_bind(rd.max_stay.map(i64::from))
                    .push_bind(rd.closed_to_arrival)
                    .push_bind(rd.closed_to_departure)
                    .push_bind(rd.stop_sell);
            });
            qb.push(
                " ON CONFLICT (rate_plan_id, day) DO UPDATE SET rate = excluded.rate, \
                 occupancy_rates = excluded.occupancy_rates, min_stay_arrival = excluded.min_stay_arrival, \
                 min_stay_through = excluded.min_stay_through, max_stay = excluded.max_stay, \
                 closed_to_arrival = excluded.closed_to_arrival, closed_to_departure = excluded.closed_to_departure, \
                 stop_sell = excluded.stop_sell",
            );
            qb.build().execute(&mut *conn).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn upsert_reservation(
        conn: &mut SqliteConnection,
        property_id: i64,
        room_type_id: i64,
        r: &Reservation,
        now: i64,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO reservations (id, property_id, room_type_id, rate_plan, check_in, check_out, adults, \
             guest_name, status, currency, total, nightly, source, external_id, revision, overbooked, created_at, \
             updated_at, checked_in_at, checked_out_at, room, outside_horizon, calendar_from, calendar_to) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET room_type_id = excluded.room_type_id, rate_plan = excluded.rate_plan, \
             check_in = excluded.check_in, check_out = excluded.check_out, adults = excluded.adults, \
             guest_name = excluded.guest_name, status = excluded.status, currency = excluded.currency, \
             total = excluded.total, nightly = excluded.nightly, source = excluded.source, \
             external_id = excluded.external_id, revision = excluded.revision, overbooked = excluded.overbooked, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, \
             checked_in_at = excluded.checked_in_at, checked_out_at = excluded.checked_out_at, room = excluded.room, \
             outside_horizon = excluded.outside_horizon, calendar_from = excluded.calendar_from, \
             calendar_to = excluded.calendar_to \
             WHERE reservations.property_id = excluded.property_id",
        )
        .bind(&r.id)
        .bind(property_id)
        .bind(room_type_id)
        .bind(r.rate_plan.as_str())
        .bind(date_str(r.check_in))
        .bind(date_str(r.check_out))
        .bind(i64::from(r.adults))
        .bind(&r.guest_name)
        .bind(r.status.as_str())
        .bind(r.currency.as_str())
        .bind(r.total.to_string())
        .bind(json_str(&r.nightly)?)
        .bind(&r.source)
        .bind(r.external_id.as_deref())
        .bind(i64::from(r.revision))
        .bind(r.overbooked)
        .bind(ts_to_nanos(r.created_at)?)
        .bind(ts_to_nanos(r.updated_at)?)
        .bind(opt_ts_to_nanos(r.checked_in_at)?)
        .bind(opt_ts_to_nanos(r.checked_out_at)?)
        .bind(r.room.as_ref().map(|n| n.as_str()))
        .bind(r.outside_horizon)
        .bind(r.calendar_nights.map(|n| date_str(n.start())))
        .bind(r.calendar_nights.map(|n| date_str(n.end())))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("reservation id {} belongs to another property", r.id)));
        }
        sqlx::query(
            "INSERT INTO reservation_revisions (reservation_id, revision, snapshot, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (reservation_id, revision) DO NOTHING",
        )
        .bind(&r.id)
        .bind(i64::from(r.revision))
        .bind(json_str(r)?)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(db_err)?;
        Ok(())
    }

    async fn insert_token(&self, id: &str, hash: &str, scope: &TokenScope) -> Result<(), StoreError> {
        let properties: Vec<&str> = scope.properties.iter().map(|p| p.as_str()).collect();
        sqlx::query("INSERT INTO tokens (id, hash, role, tenant, properties, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind(hash)
            .bind(scope.role.as_str())
            .bind(scope.tenant.as_str())
            .bind(json_str(&properties)?)
            .bind(now_nanos())
            .execute(&self.writer)
            .await
            .map_err(db_err_conflict(|| format!("token {id}")))?;
        Ok(())
    }

    async fn find_token(&self, hash: &str) -> Result<Option<TokenScope>, StoreError> {
        let row = sqlx::query_as::<_, (String, String, String)>("SELECT role, tenant, properties FROM tokens WHERE hash = ?")
            .bind(hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        let Some((role, tenant, properties)) = row else { return Ok(None) };
        let codes: Vec<String> = json_parse(&properties, "token properties")?;
        Ok(Some(TokenScope {
            role: Role::parse(&role).map_err(|e| corrupt(format!("token role: {e}")))?,
            tenant: parse_code(TenantCode::try_from, tenant)?,
            properties: codes.into_iter().map(|c| parse_code(PropertyCode::try_from, c)).collect::<Result<_, _>>()?,
        }))
    }

    async fn create_property(&self, p: &Property) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO properties (code, tenant, name, timezone, currency, night_audit_time, marks_no_shows, no_shows_from, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(p.code.as_str())
        .bind(p.tenant.as_str())
        .bind(&p.name)
        .bind(&p.timezone)
        .bind(p.currency.as_str())
        .bind(&p.night_audit_time)
        .bind(p.marks_no_shows)
        .bind(p.no_shows_from.map(date_str))
        .bind(now_nanos())
        .execute(&self.writer)
        .await
        .map_err(db_err_conflict(|| format!("property {}", p.code)))?;
        Ok(())
    }

    async fn find_property(&self, code: &PropertyCode) -> Result<Option<Property>, StoreError> {
        let row = sqlx::query_as::<_, (String, String, String, String, String, String, bool, Option<String>)>(
            "SELECT tenant, code, name, timezone, currency, night_audit_time, marks_no_shows, no_shows_from FROM properties WHERE code = ?",
        )
        .bind(code.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.map(|(tenant, code, name, timezone, currency, night_audit_time, marks_no_shows, no_shows_from)| {
            PropertyRow { tenant, code, name, timezone, currency, night_audit_time, marks_no_shows, no_shows_from }.into_domain()
        })
        .transpose()
    }

    async fn set_marks_no_shows(&self, property: &PropertyCode, from: Option<Date>, keep_date: bool) -> Result<(), StoreError> {
        // One statement: the right-hand sides see the row as it was, so an
        // already-on property keeps its date, whoever turned it on.
        let from = from.map(date_str);
        let done = sqlx::query(
            "UPDATE properties SET \
             no_shows_from = CASE WHEN ? IS NULL THEN NULL \
             WHEN marks_no_shows AND ? THEN COALESCE(no_shows_from, ?) ELSE ? END, \
             marks_no_shows = (? IS NOT NULL) WHERE code = ?",
        )
        .bind(&from)
        .bind(keep_date)
        .bind(&from)
        .bind(&from)
        .bind(&from)
        .bind(property.as_str())
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("property {property}")));
        }
        Ok(())
    }

    async fn count_properties(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM properties").fetch_one(&self.reader).await.map_err(db_err)
    }

    async fn create_room_type(&self, property: &PropertyCode, rt: &RoomType) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        sqlx::query("INSERT INTO room_types (property_id, code, name, max_occupancy, physical_rooms) VALUES (?, ?, ?, ?, ?)")
            .bind(property_id)
            .bind(rt.code.as_str())
            .bind(&rt.name)
            .bind(i64::from(rt.max_occupancy))
            .bind(i64::from(rt.physical_rooms))
            .execute(&self.writer)
            .await
            .map_err(db_err_conflict(|| format!("room type {}", rt.code)))?;
        Ok(())
    }

    async fn create_room(&self, property: &PropertyCode, room: &Room) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let room_type_id = room_type_id_in(&mut tx, property_id, &room.room_type).await?;
        sqlx::query("INSERT INTO rooms (property_id, room_type_id, number, floor, status) VALUES (?, ?, ?, ?, ?)")
            .bind(property_id)
            .bind(room_type_id)
            .bind(room.number.as_str())
            .bind(i64::from(room.floor))
            .bind(room.status.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err_conflict(|| format!("room {}", room.number)))?;
        sqlx::query("UPDATE room_types SET physical_rooms = physical_rooms + 1, version = version + 1 WHERE id = ?")
            .bind(room_type_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn set_room_status(&self, property: &PropertyCode, number: &RoomNumber, status: RoomStatus) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        let done = sqlx::query("UPDATE rooms SET status = ? WHERE property_id = ? AND number = ?")
            .bind(status.as_str())
            .bind(property_id)
            .bind(number.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("room {number}")));
        }
        Ok(())
    }

    async fn create_rate_plan(&self, property: &PropertyCode, plan: &RatePlan) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let room_type_id = room_type_id_in(&mut tx, property_id, &plan.room_type).await?;
        if let Some(der) = &plan.derived {
            let parent = sqlx::query_scalar::<_, i64>("SELECT id FROM rate_plans WHERE property_id = ? AND room_type_id = ? AND code = ?")
                .bind(property_id)
                .bind(room_type_id)
                .bind(der.parent.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            if parent.is_none() {
                return Err(StoreError::NotFound(format!("parent rate plan {} of room type {}", der.parent, plan.room_type)));
            }
        }
        let (kind, value) = match &plan.derived {
            Some(d) => {
                let (k, v) = adjustment_parts(&d.adjustment);
                (Some(k), Some(v.to_string()))
            }
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO rate_plans (property_id, room_type_id, code, name, derived_parent, adjustment_kind, \
             adjustment_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(property_id)
        .bind(room_type_id)
        .bind(plan.code.as_str())
        .bind(&plan.name)
        .bind(plan.derived.as_ref().map(|d| d.parent.as_str()))
        .bind(kind)
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(db_err_conflict(|| format!("rate plan {}", plan.code)))?;
        // The room type's calendar gained a plan: a shard holding the old
        // calendar must reload it (its next commit gets VersionConflict).
        sqlx::query("UPDATE room_types SET version = version + 1 WHERE id = ?")
            .bind(room_type_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn load_config(&self, property: &PropertyCode) -> Result<Option<PropertyConfig>, StoreError> {
        let mut tx = self.reader.begin().await.map_err(db_err)?;
        let row = sqlx::query(
            "SELECT id, tenant, code, name, timezone, currency, night_audit_time, marks_no_shows, no_shows_from FROM properties WHERE code = ?",
        )
        .bind(property.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let property_id: i64 = get(&row, 0)?;
        let prop = PropertyRow {
            tenant: get(&row, 1)?,
            code: get(&row, 2)?,
            name: get(&row, 3)?,
            timezone: get(&row, 4)?,
            currency: get(&row, 5)?,
            night_audit_time: get(&row, 6)?,
            marks_no_shows: get(&row, 7)?,
            no_shows_from: get(&row, 8)?,
        }
        .into_domain()?;

        let room_types = sqlx::query_as::<_, (String, String, i64, i64)>(
            "SELECT code, name, max_occupancy, physical_rooms FROM room_types WHERE property_id = ? ORDER BY id",
        )
        .bind(property_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|(code, name, max_occ, physical)| room_type_from(code, name, max_occ, physical))
        .collect::<Result<Vec<_>, _>>()?;

        let rooms = sqlx::query_as::<_, (String, String, i64, String, Option<String>, Option<String>)>(
            "SELECT r.number, rt.code, r.floor, r.status, r.out_of_order_from, r.out_of_order_to \
             FROM rooms r JOIN room_types rt ON rt.id = r.room_type_id \
             WHERE r.property_id = ? ORDER BY r.id",
        )
        .bind(property_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|(number, room_type, floor, status, ooo_from, ooo_to)| {
            Ok(Room {
                number: parse_code(RoomNumber::try_from, number)?,
                room_type: parse_code(RoomTypeCode::try_from, room_type)?,
                floor: i16::try_from(floor).map_err(|_| corrupt(format!("floor {floor}")))?,
                status: RoomStatus::parse(&status).map_err(|e| corrupt(format!("room status: {e}")))?,
                out_of_order: out_of_order_from(ooo_from, ooo_to)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        let plan_rows = sqlx::query(
            "SELECT rp.code, rt.code, rp.name, rp.derived_parent, rp.adjustment_kind, rp.adjustment_value \
             FROM rate_plans rp JOIN room_types rt ON rt.id = rp.room_type_id WHERE rp.property_id = ? ORDER BY rp.id",
        )
        .bind(property_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut rate_plans = Vec::with_capacity(plan_rows.len());
        for row in &plan_rows {
            rate_plans.push(
                RatePlanRow {
                    code: get(row, 0)?,
                    room_type: get(row, 1)?,
                    name: get(row, 2)?,
                    derived_parent: get(row, 3)?,
                    adjustment_kind: get(row, 4)?,
                    adjustment_value: get_opt_decimal(row, 5)?,
                }
                .into_domain()?,
            );
        }
        tx.commit().await.map_err(db_err)?;
        Ok(Some(PropertyConfig { property: prop, room_types, rooms, rate_plans }))
    }

    async fn load_calendar_until(
        &self,
        property: &PropertyCode,
        room_type: &RoomTypeCode,
        from: Date,
        to: Date,
    ) -> Result<RoomTypeCalendar, StoreError> {
        let from = date_str(from);
        let to = date_str(to);
        let mut tx = self.reader.begin().await.map_err(db_err)?;
        let row = sqlx::query_as::<_, (i64, String, String, i64, i64, i64)>(
            "SELECT rt.id, rt.code, rt.name, rt.max_occupancy, rt.physical_rooms, rt.version \
             FROM room_types rt JOIN properties p ON p.id = rt.property_id WHERE p.code = ? AND rt.code = ?",
        )
        .bind(property.as_str())
        .bind(room_type.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((room_type_id, code, name, max_occ, physical, version)) = row else {
            return Err(StoreError::NotFound(format!("room type {property}/{room_type}")));
        };
        let rt = room_type_from(code.clone(), name, max_occ, physical)?;

        let plan_rows = sqlx::query(
            "SELECT id, code, name, derived_parent, adjustment_kind, adjustment_value FROM rate_plans \
             WHERE room_type_id = ? ORDER BY id",
        )
        .bind(room_type_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut plan_index: HashMap<i64, usize> = HashMap::with_capacity(plan_rows.len());
        let mut plans = Vec::with_capacity(plan_rows.len());
        for (i, row) in plan_rows.iter().enumerate() {
            plan_index.insert(get(row, 0)?, i);
            plans.push(
                RatePlanRow {
                    code: get(row, 1)?,
                    room_type: code.clone(),
                    name: get(row, 2)?,
                    derived_parent: get(row, 3)?,
                    adjustment_kind: get(row, 4)?,
                    adjustment_value: get_opt_decimal(row, 5)?,
                }
                .into_domain()?,
            );
        }
        let mut cal = RoomTypeCalendar::new(rt, plans);
        cal.version = version;

        let inv_rows = sqlx::query(
            "SELECT day, out_of_order, sold, held, allotment, stop_sell, stop_sell_source FROM inventory_days \
             WHERE room_type_id = ? AND day >= ? AND day <= ? ORDER BY day",
        )
        .bind(room_type_id)
        .bind(&from)
        .bind(&to)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for row in &inv_rows {
            let day = parse_date(&get::<String>(row, 0)?)?;
            let inv = inventory_day_from(get(row, 1)?, get(row, 2)?, get(row, 3)?, get(row, 4)?, get(row, 5)?, &get::<String>(row, 6)?)?;
            cal.inventory.set(day, inv);
        }

        let rate_rows = sqlx::query(
            "SELECT rd.rate_plan_id, rd.day, rd.rate, rd.occupancy_rates, rd.min_stay_arrival, rd.min_stay_through, \
             rd.max_stay, rd.closed_to_arrival, rd.closed_to_departure, rd.stop_sell \
             FROM rate_days rd JOIN rate_plans rp ON rp.id = rd.rate_plan_id \
             WHERE rp.room_type_id = ? AND rd.day >= ? AND rd.day <= ? ORDER BY rd.rate_plan_id, rd.day",
        )
        .bind(room_type_id)
        .bind(&from)
        .bind(&to)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        for row in &rate_rows {
            let plan_id: i64 = get(row, 0)?;
            let idx = *plan_index.get(&plan_id).ok_or_else(|| corrupt(format!("rate day of unknown plan {plan_id}")))?;
            let day = parse_date(&get::<String>(row, 1)?)?;
            let rd = RateDayRow {
                rate: get_opt_decimal(row, 2)?,
                occupancy_rates: get(row, 3)?,
                min_stay_arrival: get(row, 4)?,
                min_stay_through: get(row, 5)?,
                max_stay: get(row, 6)?,
                closed_to_arrival: get(row, 7)?,
                closed_to_departure: get(row, 8)?,
                stop_sell: get(row, 9)?,
            }
            .into_domain()?;
            if let Some(pc) = cal.plans.get_mut(idx) {
                pc.days.set(day, rd);
            }
        }
        Ok(cal)
    }

    async fn commit_shard(&self, commit: &ShardCommit) -> Result<CommitOutcome, StoreError> {
        let property = commit.property.as_ref().ok_or_else(|| StoreError::NotFound("commit without a property".into()))?;
        if commit.room_type.is_none() {
            return Err(StoreError::NotFound("commit without a room type".into()));
        }
        let property_id = self.property_id(property).await?;
        let mut other_properties = HashMap::new();
        for other in commit.reservations.iter().map(|r| &r.property).chain(commit.inbound.iter().map(|r| &r.property)) {
            if other != property && !other_properties.contains_key(other) {
                other_properties.insert(other.clone(), self.property_id(other).await?);
            }
        }
        let (reply, answer) = oneshot::channel();
        let job = CommitJob { commit: commit.clone(), property_id, other_properties, reply };
        self.committer.send(job).await.map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?
    }

    async fn find_reservation(&self, property: &PropertyCode, id: &str) -> Result<Option<Reservation>, StoreError> {
        let sql = format!("SELECT {RESERVATION_COLUMNS} WHERE p.code = ? AND r.id = ?");
        let row = sqlx::query(&sql).bind(property.as_str()).bind(id).fetch_optional(&self.reader).await.map_err(db_err)?;
        row.as_ref().map(reservation_from).transpose()
    }

    async fn list_reservations(&self, property: &PropertyCode, room_type: &RoomTypeCode) -> Result<Vec<Reservation>, StoreError> {
        let sql = format!("SELECT {RESERVATION_COLUMNS} WHERE p.code = ? AND rt.code = ? ORDER BY r.check_in, r.id");
        let rows = sqlx::query(&sql).bind(property.as_str()).bind(room_type.as_str()).fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter().map(reservation_from).collect()
    }

    async fn no_show_candidates(&self, property: &PropertyCode, from: Date, closed: Date) -> Result<Vec<Reservation>, StoreError> {
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} WHERE p.code = ? AND r.status = 'confirmed' AND r.checked_in_at IS NULL \
             AND r.check_in >= ? AND r.check_in <= ? ORDER BY rt.code, r.check_in, r.id"
        );
        let rows = sqlx::query(&sql)
            .bind(property.as_str())
            .bind(date_str(from))
            .bind(date_str(closed))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(reservation_from).collect()
    }

    async fn events_after(&self, property: &PropertyCode, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query_as::<_, (i64, String, String, i64)>(
            "SELECT seq, kind, payload, created_at FROM events \
             WHERE property_id = (SELECT id FROM properties WHERE code = ?) AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(property.as_str())
        .bind(after)
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(seq, kind, payload, created_at)| {
                Ok(StoredEvent { seq, kind, payload: json_parse(&payload, "event payload")?, created_at: ts_from_nanos(created_at)? })
            })
            .collect()
    }

    async fn insert_intent(&self, property: &PropertyCode, intent: &Intent) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        let payload = json_str(&intent.payload)?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        sqlx::query("INSERT INTO intents (id, property_id, kind, payload, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&intent.id)
            .bind(property_id)
            .bind(&intent.kind)
            .bind(payload)
            .bind(now_nanos())
            .execute(&mut *tx)
            .await
            .map_err(db_err_conflict(|| format!("intent {}", intent.id)))?;
        for rt in &intent.pending_room_types {
            let room_type_id = room_type_id_in(&mut tx, property_id, rt).await?;
            sqlx::query(
                "INSERT INTO intent_room_types (intent_id, room_type_id, done) VALUES (?, ?, 0) \
                 ON CONFLICT (intent_id, room_type_id) DO NOTHING",
            )
            .bind(&intent.id)
            .bind(room_type_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn pending_intents(&self, property: &PropertyCode) -> Result<Vec<Intent>, StoreError> {
        let rows = sqlx::query_as::<_, (String, String, String, String)>(
            "SELECT i.id, i.kind, i.payload, rt.code FROM intents i \
             JOIN properties p ON p.id = i.property_id \
             JOIN intent_room_types irt ON irt.intent_id = i.id \
             JOIN room_types rt ON rt.id = irt.room_type_id \
             WHERE p.code = ? AND irt.done = 0 ORDER BY i.created_at, i.id, rt.id",
        )
        .bind(property.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        group_intents(rows)
    }

    async fn idempotency_begin(&self, scope: &str, key: &str, request_hash: &str) -> Result<IdempotencyBegin, StoreError> {
        // A concurrent abort can delete the row between the INSERT and the
        // SELECT; then the INSERT is simply tried again.
        for _ in 0..3 {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (scope, key, request_hash, state, created_at) \
                 VALUES (?, ?, ?, 'in_progress', ?) ON CONFLICT (scope, key) DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(request_hash)
            .bind(now_nanos())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
            if inserted.rows_affected() == 1 {
                return Ok(IdempotencyBegin::Fresh);
            }
            let row = sqlx::query_as::<_, (String, String, Option<i64>, Option<Vec<u8>>, i64)>(
                "SELECT request_hash, state, status, body, created_at FROM idempotency_keys WHERE scope = ? AND key = ?",
            )
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
            let Some((hash, state, status, body, created_at)) = row else { continue };
            if hash != request_hash {
                return Ok(IdempotencyBegin::Mismatch);
            }
            if state == "done" {
                let status = status.ok_or_else(|| corrupt("idempotency key done without a status"))?;
                return Ok(IdempotencyBegin::Replay { status: to_u16(status, "status")?, body: body.unwrap_or_default() });
            }
            let age = std::time::Duration::from_nanos(u64::try_from(now_nanos().saturating_sub(created_at)).unwrap_or(0));
            return Ok(IdempotencyBegin::InProgress { age });
        }
        Ok(IdempotencyBegin::InProgress { age: std::time::Duration::ZERO })
    }

    async fn idempotency_complete(&self, scope: &str, key: &str, status: u16, body: &[u8]) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE idempotency_keys SET state = 'done', status = ?, body = ? WHERE scope = ? AND key = ?")
            .bind(i64::from(status))
            .bind(body)
            .bind(scope)
            .bind(key)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("idempotency key {key}")));
        }
        Ok(())
    }

    async fn idempotency_abort(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'in_progress'")
            .bind(scope)
            .bind(key)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn idempotency_expire(&self, older_than: std::time::Duration) -> Result<u64, StoreError> {
        let older_than = i64::try_from(older_than.as_nanos()).unwrap_or(i64::MAX);
        let cutoff = now_nanos().saturating_sub(older_than);
        let gone =
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?").bind(cutoff).execute(&self.writer).await.map_err(db_err)?;
        Ok(gone.rows_affected())
    }

    async fn create_channel(&self, channel: &ChannelConfig) -> Result<(), StoreError> {
        let property_id = self.property_id(&channel.property).await?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let channel_id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO channels (property_id, code, profile, preset, endpoint, hotel_code, sealed_credentials, \
             webhook_username, sealed_webhook_secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(property_id)
        .bind(channel.code.as_str())
        .bind(channel.profile.as_str())
        .bind(&channel.preset)
        .bind(&channel.endpoint)
        .bind(&channel.hotel_code)
        .bind(&channel.sealed_credentials)
        .bind(&channel.webhook_username)
        .bind(&channel.sealed_webhook_secret)
        .bind(ts_to_nanos(channel.created_at)?)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err_conflict(|| format!("channel {}/{}", channel.property, channel.code)))?;
        let mut rows = channel.mappings.iter().enumerate();
        for size in chunk_sizes(channel.mappings.len(), MAX_ROWS) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO channel_mappings (channel_id, ordinal, room_type, rate_plan, ota_room, ota_rate) ");
            let mut chunk = Vec::with_capacity(size);
            for (i, m) in rows.by_ref().take(size) {
                chunk.push((i64::try_from(i).map_err(|_| corrupt("too many mappings"))?, m));
            }
            qb.push_values(chunk, |mut b, (ordinal, m)| {
                b.push_bind(channel_id)
                    .push_bind(ordinal)
                    .push_bind(m.room_type.as_str())
                    .push_bind(m.rate_plan.as_str())
                    .push_bind(&m.ota_room)
                    .push_bind(&m.ota_rate);
            });
            qb.build().execute(&mut *tx).await.map_err(db_err_conflict(|| {
                format!("channel {}/{}: a room type and rate plan mapped twice", channel.property, channel.code)
            }))?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn list_channels(&self, property: &PropertyCode) -> Result<Vec<ChannelConfig>, StoreError> {
        // One snapshot for the channels and their mappings.
        let mut tx = self.reader.begin().await.map_err(db_err)?;
        let rows = sqlx::query(
            "SELECT c.id, p.code, c.code, c.profile, c.preset, c.endpoint, c.hotel_code, c.sealed_credentials, \
             c.webhook_username, c.sealed_webhook_secret, c.created_at \
             FROM channels c JOIN properties p ON p.id = c.property_id WHERE p.code = ? ORDER BY c.code",
        )
        .bind(property.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mappings = sqlx::query_as::<_, MappingRow>(
            "SELECT m.channel_id, m.room_type, m.rate_plan, m.ota_room, m.ota_rate FROM channel_mappings m \
             JOIN channels c ON c.id = m.channel_id JOIN properties p ON p.id = c.property_id \
             WHERE p.code = ? ORDER BY m.channel_id, m.ordinal",
        )
        .bind(property.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        let channels = rows
            .iter()
            .map(|row| {
                Ok(ChannelRow {
                    id: get(row, 0)?,
                    property: get(row, 1)?,
                    code: get(row, 2)?,
                    profile: get(row, 3)?,
                    preset: get(row, 4)?,
                    endpoint: get(row, 5)?,
                    hotel_code: get(row, 6)?,
                    sealed_credentials: get(row, 7)?,
                    webhook_username: get(row, 8)?,
                    sealed_webhook_secret: get(row, 9)?,
                    created_at: get(row, 10)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        assemble_channels(channels, mappings)
    }

    async fn save_sync_status(&self, property: &PropertyCode, channel: &ChannelCode, status: &SyncStatus) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO channel_sync_status (channel_id, pending_cells, consecutive_failures, total_failures, \
             dead_letters, requests_sent, last_success_at, last_attempt_at, last_error) \
             SELECT c.id, ?, ?, ?, ?, ?, ?, ?, ? FROM {CHANNEL_BY_CODES} \
             ON CONFLICT (channel_id) DO UPDATE SET pending_cells = excluded.pending_cells, \
             consecutive_failures = excluded.consecutive_failures, total_failures = excluded.total_failures, \
             dead_letters = excluded.dead_letters, requests_sent = excluded.requests_sent, \
             last_success_at = excluded.last_success_at, last_attempt_at = excluded.last_attempt_at, \
             last_error = excluded.last_error"
        );
        let saved = sqlx::query(&sql)
            .bind(status.pending_cells)
            .bind(status.consecutive_failures)
            .bind(status.total_failures)
            .bind(status.dead_letters)
            .bind(status.requests_sent)
            .bind(opt_ts_to_nanos(status.last_success_at)?)
            .bind(opt_ts_to_nanos(status.last_attempt_at)?)
            .bind(status.last_error.as_deref())
            .bind(property.as_str())
            .bind(channel.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        if saved.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("channel {property}/{channel}")));
        }
        Ok(())
    }

    async fn load_sync_status(&self, property: &PropertyCode, channel: &ChannelCode) -> Result<Option<SyncStatus>, StoreError> {
        let row = sqlx::query(
            "SELECT s.pending_cells, s.consecutive_failures, s.total_failures, s.dead_letters, s.requests_sent, \
             s.last_success_at, s.last_attempt_at, s.last_error \
             FROM channel_sync_status s JOIN channels c ON c.id = s.channel_id JOIN properties p ON p.id = c.property_id \
             WHERE p.code = ? AND c.code = ?",
        )
        .bind(property.as_str())
        .bind(channel.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.map(|row| {
            SyncStatusRow {
                pending_cells: get(&row, 0)?,
                consecutive_failures: get(&row, 1)?,
                total_failures: get(&row, 2)?,
                dead_letters: get(&row, 3)?,
                requests_sent: get(&row, 4)?,
                last_success_at: get(&row, 5)?,
                last_attempt_at: get(&row, 6)?,
                last_error: get(&row, 7)?,
            }
            .into_domain()
        })
        .transpose()
    }

    async fn insert_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO channel_dead_letters (channel_id, created_at, error, summary) \
             SELECT c.id, ?, ?, ? FROM {CHANNEL_BY_CODES}"
        );
        let inserted = sqlx::query(&sql)
            .bind(ts_to_nanos(letter.created_at)?)
            .bind(&letter.error)
            .bind(json_str(&letter.summary)?)
            .bind(letter.property.as_str())
            .bind(letter.channel.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("channel {}/{}", letter.property, letter.channel)));
        }
        Ok(())
    }

    async fn list_channel_properties(&self) -> Result<Vec<PropertyCode>, StoreError> {
        // BINARY collation: codes sort bytewise.
        sqlx::query_scalar::<_, String>(
            "SELECT p.code FROM properties p WHERE EXISTS (SELECT 1 FROM channels c WHERE c.property_id = p.id) ORDER BY p.code",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|code| parse_code(PropertyCode::try_from, code))
        .collect()
    }

    async fn channel_queue_totals(&self) -> Result<(i64, i64), StoreError> {
        // Dead letters are counted where they are stored (one row each).
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT (SELECT COALESCE(SUM(pending_cells), 0) FROM channel_sync_status), \
             (SELECT COUNT(*) FROM channel_dead_letters)",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)
    }

    async fn inbound_history(
        &self,
        property: &PropertyCode,
        channel: &ChannelCode,
        ota_reservation_id: &str,
    ) -> Result<Vec<InboundRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.code, c.code, i.ota_reservation_id, i.revision, i.action, i.reservation_id, i.outcome, i.ack, \
             i.received_at FROM inbound_bookings i JOIN channels c ON c.id = i.channel_id \
             JOIN properties p ON p.id = c.property_id \
             WHERE p.code = ? AND c.code = ? AND i.ota_reservation_id = ? ORDER BY i.received_at, i.id",
        )
        .bind(property.as_str())
        .bind(channel.as_str())
        .bind(ota_reservation_id)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                InboundRow {
                    property: get(row, 0)?,
                    channel: get(row, 1)?,
                    ota_reservation_id: get(row, 2)?,
                    revision: get(row, 3)?,
                    action: get(row, 4)?,
                    reservation_id: get(row, 5)?,
                    outcome: get(row, 6)?,
                    ack: get(row, 7)?,
                    received_at: get(row, 8)?,
                }
                .into_domain()
            })
            .collect()
    }

    async fn insert_inbound(&self, record: &InboundRecord) -> Result<(), StoreError> {
        let property_id = self.property_id(&record.property).await?;
        if !is_tombstone(record) {
            let mut conn = self.writer.acquire().await.map_err(db_err)?;
            return insert_inbound_in(&mut conn, property_id, record).await;
        }
        // A tombstone: checked and written in one write transaction on the
        // single writer, so it lands wholly before or after any group commit
        // (see `check_guard_in`). Dropped on error: nothing written.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        check_guard_in(&mut tx, property_id, record, Guard::NoBooking).await?;
        insert_inbound_in(&mut tx, property_id, record).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn find_reservation_by_external(
        &self,
        property: &PropertyCode,
        channel: &ChannelCode,
        ota_reservation_id: &str,
    ) -> Result<Option<Reservation>, StoreError> {
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} WHERE p.code = ? AND r.source = ? AND r.external_id = ? \
             ORDER BY r.created_at DESC, r.id DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(property.as_str())
            .bind(channel.as_str())
            .bind(ota_reservation_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        row.as_ref().map(reservation_from).transpose()
    }
    async fn find_booking_lines(&self, property: &PropertyCode, channel: &ChannelCode, base: &str) -> Result<Vec<Reservation>, StoreError> {
        // One range over the (property_id, source, external_id) index
        // (BINARY collation: byte order, and '$' is the byte after '#'):
        // every id starting with `base#`, none of `base1…`; no LIKE, so `%`
        // and `_` in ids are plain. The exact line shape is checked after.
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} WHERE p.code = ? AND r.source = ? AND (r.external_id = ? OR (r.external_id >= ? AND r.external_id < ?)) \
             ORDER BY r.created_at DESC, r.id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(property.as_str())
            .bind(channel.as_str())
            .bind(base)
            .bind(format!("{base}#"))
            .bind(format!("{base}$"))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        let newest_first = rows.iter().map(reservation_from).collect::<Result<Vec<_>, _>>()?;
        Ok(saluran_domain::store::booking_lines(base, newest_first))
    }
    async fn create_task(&self, task: &HousekeepingTask) -> Result<(), StoreError> {
        let property_id = self.property_id(&task.property).await?;
        let room = sqlx::query_scalar::<_, i64>("SELECT 1 FROM rooms WHERE property_id = ? AND number = ?")
            .bind(property_id)
            .bind(task.room.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        if room.is_none() {
            return Err(StoreError::NotFound(format!("room {}", task.room)));
        }
        sqlx::query(
            "INSERT INTO housekeeping_tasks (id, property_id, room, kind, status, assignee, note, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&task.id)
        .bind(property_id)
        .bind(task.room.as_str())
        .bind(&task.kind)
        .bind(task.status.as_str())
        .bind(&task.assignee)
        .bind(&task.note)
        .bind(ts_to_nanos(task.created_at)?)
        .bind(ts_to_nanos(task.updated_at)?)
        .execute(&self.writer)
        .await
        .map_err(db_err_conflict(|| format!("task {}", task.id)))?;
        Ok(())
    }

    async fn update_task(&self, task: &HousekeepingTask, expected: TaskStatus) -> Result<(), StoreError> {
        let property_id = self.property_id(&task.property).await?;
        let done = sqlx::query(
            "UPDATE housekeeping_tasks SET status = ?, assignee = ?, note = ?, updated_at = ? \
             WHERE id = ? AND property_id = ? AND status = ?",
        )
        .bind(task.status.as_str())
        .bind(&task.assignee)
        .bind(&task.note)
        .bind(ts_to_nanos(task.updated_at)?)
        .bind(&task.id)
        .bind(property_id)
        .bind(expected.as_str())
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        match self.find_task(&task.property, &task.id).await? {
            None => Err(StoreError::NotFound(format!("task {}", task.id))),
            Some(now) => Err(StoreError::Conflict(format!("task {} is {}, not {}", task.id, now.status.as_str(), expected.as_str()))),
        }
    }

    async fn find_task(&self, property: &PropertyCode, id: &str) -> Result<Option<HousekeepingTask>, StoreError> {
        let property_id = self.property_id(property).await?;
        let row = sqlx::query_as::<_, TaskRow>(
            "SELECT id, room, kind, status, assignee, note, created_at, updated_at FROM housekeeping_tasks \
             WHERE property_id = ? AND id = ?",
        )
        .bind(property_id)
        .bind(id)
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?;
        row.map(|r| task_from(property, r)).transpose()
    }

    async fn list_tasks(&self, property: &PropertyCode, open_only: bool) -> Result<Vec<HousekeepingTask>, StoreError> {
        let property_id = self.property_id(property).await?;
        let rows = sqlx::query_as::<_, TaskRow>(
            "SELECT id, room, kind, status, assignee, note, created_at, updated_at FROM housekeeping_tasks \
             WHERE property_id = ? AND (? = 0 OR status IN ('open', 'assigned', 'in_progress')) ORDER BY created_at, id",
        )
        .bind(property_id)
        .bind(i32::from(open_only))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(|r| task_from(property, r)).collect()
    }

    async fn get_business_date(&self, property: &PropertyCode) -> Result<Option<Date>, StoreError> {
        let property_id = self.property_id(property).await?;
        let d = sqlx::query_scalar::<_, Option<String>>("SELECT business_date FROM properties WHERE id = ?")
            .bind(property_id)
            .fetch_one(&self.writer)
            .await
            .map_err(db_err)?;
        d.as_deref().map(parse_date).transpose()
    }

    async fn set_business_date(&self, property: &PropertyCode, date: Date, expected_previous: Option<Date>) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        let done = sqlx::query("UPDATE properties SET business_date = ? WHERE id = ? AND business_date IS ?")
            .bind(date_str(date))
            .bind(property_id)
            .bind(expected_previous.map(date_str))
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("business date of {property} changed (expected {expected_previous:?})")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fresh_sqlite_url, test_store_options};
    use saluran_domain::ari::CellChanges;
    use saluran_domain::calendar::InventoryDay;
    use saluran_domain::channel::{InboundAction, Profile};
    use saluran_domain::Currency;

    fn job(commit: ShardCommit, property_id: i64) -> CommitJob {
        // Nobody awaits the answer: `run_group` returns the results itself.
        let (reply, _) = oneshot::channel();
        CommitJob { commit, property_id, other_properties: HashMap::new(), reply }
    }

    fn delivery(ota_id: &str) -> InboundRecord {
        InboundRecord {
            property: PropertyCode::parse("HTL1").unwrap(),
            channel: ChannelCode::parse("BDC").unwrap(),
            ota_reservation_id: ota_id.into(),
            revision: "1".into(),
            action: InboundAction::New,
            reservation_id: None,
            outcome: saluran_domain::channel::InboundOutcome::Applied,
            ack: "ok".into(),
            received_at: jiff::Timestamp::now(),
        }
    }

    fn sold_one(rt: &str, version: i64, inbound: Vec<InboundRecord>) -> ShardCommit {
        let mut changes = CellChanges::default();
        changes.inventory.insert(jiff::civil::date(2027, 1, 1), InventoryDay { sold: 1, ..Default::default() });
        ShardCommit {
            property: Some(PropertyCode::parse("HTL1").unwrap()),
            room_type: Some(RoomTypeCode::parse(rt).unwrap()),
            expected_version: version,
            changes,
            inbound,
            ..Default::default()
        }
    }

    /// HTL1 with room types DLX and STD (no rooms) and channel BDC.
    async fn store_with_channel() -> SqliteStore {
        let store = SqliteStore::connect(&fresh_sqlite_url(), &test_store_options()).await.unwrap();
        let p = PropertyCode::parse("HTL1").unwrap();
        store
            .create_property(&Property {
                tenant: TenantCode::parse("default").unwrap(),
                code: p.clone(),
                name: "Hotel".into(),
                timezone: "Asia/Makassar".into(),
                currency: Currency::IDR,
                night_audit_time: "02:30".into(),
                marks_no_shows: false,
                no_shows_from: None,
            })
            .await
            .unwrap();
        for rt in ["DLX", "STD"] {
            let rt = RoomType { code: RoomTypeCode::parse(rt).unwrap(), name: rt.into(), max_occupancy: 2, physical_rooms: 0 };
            store.create_room_type(&p, &rt).await.unwrap();
        }
        store
            .create_channel(&ChannelConfig {
                property: p.clone(),
                code: ChannelCode::parse("BDC").unwrap(),
                profile: Profile::Opentravel,
                preset: "booking_com".into(),
                endpoint: "https://ota.example".into(),
                hotel_code: "1".into(),
                sealed_credentials: vec![1],
                webhook_username: "u".into(),
                sealed_webhook_secret: vec![2],
                mappings: vec![],
                created_at: jiff::Timestamp::now(),
            })
            .await
            .unwrap();
        store
    }

    /// Three commits in ONE group transaction: the first carries a delivery
    /// already recorded. Its SAVEPOINT rolls back just it (version bump
    /// included: the third commit, from the same DLX version, goes
    /// through), and the other two commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_duplicate_delivery_rolls_back_only_its_own_commit_of_the_group() {
        let store = store_with_channel().await;
        let p = PropertyCode::parse("HTL1").unwrap();
        let seen = delivery("OTA-1");
        store.insert_inbound(&seen).await.unwrap();
        let property_id = store.property_id(&p).await.unwrap();

        let batch = vec![
            job(sold_one("DLX", 0, vec![seen.clone()]), property_id),
            job(sold_one("STD", 0, vec![delivery("OTA-2")]), property_id),
            job(sold_one("DLX", 0, vec![]), property_id),
        ];
        let results = run_group(&store.writer, &batch).await;
        assert!(matches!(results[0], Err(StoreError::Conflict(_))), "{:?}", results[0]);
        assert_eq!(results[1].as_ref().map(|o| o.version).ok(), Some(1), "{:?}", results[1]);
        assert_eq!(results[2].as_ref().map(|o| o.version).ok(), Some(1), "{:?}", results[2]);

        let bdc = ChannelCode::parse("BDC").unwrap();
        assert_eq!(store.inbound_history(&p, &bdc, "OTA-1").await.unwrap(), vec![seen]);
        assert_eq!(store.inbound_history(&p, &bdc, "OTA-2").await.unwrap().len(), 1);
        for rt in ["DLX", "STD"] {
            let cal = store.load_calendar(&p, &RoomTypeCode::parse(rt).unwrap(), jiff::civil::date(2027, 1, 1)).await.unwrap();
            assert_eq!(cal.version, 1, "{rt}");
            assert_eq!(cal.inventory.get_or_default(jiff::civil::date(2027, 1, 1)).sold, 1, "{rt}");
        }
    }

    /// A booking cancelled meanwhile, in ONE group transaction with an
    /// unrelated booking line and a commit from the same DLX version: only
    /// its SAVEPOINT rolls back. And a tombstone committed earlier in the
    /// same group is seen by a later commit of the booking.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_booking_cancelled_meanwhile_rolls_back_only_its_own_commit_of_the_group() {
        let store = store_with_channel().await;
        let p = PropertyCode::parse("HTL1").unwrap();
        let bdc = ChannelCode::parse("BDC").unwrap();
        let stone = InboundRecord { action: InboundAction::Cancel, revision: "2".into(), ..delivery("OTA-C") };
        store.insert_inbound(&stone).await.unwrap();
        let property_id = store.property_id(&p).await.unwrap();
        let booked = |ota_id: &str| InboundRecord { reservation_id: Some(format!("R-{ota_id}")), ..delivery(ota_id) };

        let batch = vec![
            job(sold_one("DLX", 0, vec![booked("OTA-C")]), property_id),
            job(sold_one("STD", 0, vec![booked("OTA-2")]), property_id),
            job(sold_one("DLX", 0, vec![]), property_id),
        ];
        let results = run_group(&store.writer, &batch).await;
        assert!(matches!(&results[0], Err(StoreError::Conflict(m)) if m == "cancelled meanwhile: BDC/OTA-C"), "{:?}", results[0]);
        assert_eq!(results[1].as_ref().map(|o| o.version).ok(), Some(1), "{:?}", results[1]);
        assert_eq!(results[2].as_ref().map(|o| o.version).ok(), Some(1), "{:?}", results[2]);
        assert_eq!(store.inbound_history(&p, &bdc, "OTA-C").await.unwrap(), vec![stone]);
        assert_eq!(store.inbound_history(&p, &bdc, "OTA-2").await.unwrap().len(), 1);

        // In one group: a shard's tombstone (STD), then the booking (DLX).
        let shard_stone = InboundRecord { action: InboundAction::Cancel, revision: "2".into(), ..delivery("OTA-G") };
        let batch =
            vec![job(sold_one("STD", 1, vec![shard_stone]), property_id), job(sold_one("DLX", 1, vec![booked("OTA-G")]), property_id)];
        let results = run_group(&store.writer, &batch).await;
        assert_eq!(results[0].as_ref().map(|o| o.version).ok(), Some(2), "{:?}", results[0]);
        assert!(matches!(&results[1], Err(StoreError::Conflict(m)) if m == "cancelled meanwhile: BDC/OTA-G"), "{:?}", results[1]);
        let dlx = store.load_calendar(&p, &RoomTypeCode::parse("DLX").unwrap(), jiff::civil::date(2027, 1, 1)).await.unwrap();
        assert_eq!(dlx.version, 1);
    }
}
