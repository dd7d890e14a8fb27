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
//! and its cancellation (`check_guard_in`) race-free without any lock
//! (`lock_bookings_in`).
//!
//! The queries this adapter shares with PostgreSQL are in `store/sql.rs`;
//! this file holds what is SQLite's own: the dialect, the two pools, the
//! group-commit writer task and the multi-row bulk writes.
//!
//! Types: dates are `TEXT 'YYYY-MM-DD'`, decimals exact `TEXT`, booleans
//! `INTEGER 0/1`, timestamps `INTEGER` unix nanoseconds, JSON `TEXT`.

use super::sql::shared_adapter;
use super::{
    chunk_sizes, corrupt, date_str, db_err, db_err_conflict, mapped_twice, occupancy_to_json, parse_decimal, run_migrations, StoreOptions,
    INVENTORY_UPSERT, RATES_UPSERT, SQLITE_MIGRATIONS,
};
use parking_lot::RwLock;
use rust_decimal::Decimal;
use saluran_domain::channel::ChannelConfig;
use saluran_domain::store::{CommitOutcome, NewEvent, ShardCommit, StoreError};
use saluran_domain::PropertyCode;
use sqlx::query_builder::Separated;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, Transaction};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

shared_adapter!(SqliteStore, "sqlite", db = Sqlite, row = SqliteRow, conn = SqliteConnection, int = i64, date = "", json = "", bytes = "");
use shared::{apply_commit, get, rate_plan_ids};

// ---------------------------------------------------------------------------
// The dialect (see `store/sql.rs`): dates are bound as `'YYYY-MM-DD'` text,
// JSON as text, both without a cast; the BINARY collation already compares
// bytes; an `INTEGER` column holds 64 bits.

/// Decimals are exact `TEXT`.
fn dec(d: Decimal) -> String {
    d.to_string()
}

fn get_decimal(row: &SqliteRow, i: usize) -> Result<Decimal, StoreError> {
    parse_decimal(&get::<String>(row, i)?)
}

fn get_opt_decimal(row: &SqliteRow, i: usize) -> Result<Option<Decimal>, StoreError> {
    get::<Option<String>>(row, i)?.as_deref().map(parse_decimal).transpose()
}

/// Nothing to lock: every write goes through the one writer connection, in
/// a `BEGIN IMMEDIATE` transaction (which also waits out another process
/// writing the file), so nothing can be written between `check_guard_in`
/// and the caller's writes. A shard commit earlier in the same group
/// transaction is visible to the check, as it should be.
async fn lock_bookings_in(_conn: &mut SqliteConnection, _texts: Vec<String>) -> Result<(), StoreError> {
    Ok(())
}

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
        let r = apply_job(&mut *conn, job).await;
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

/// One shard commit, inside the caller's transaction.
// Boxed with one explicit lifetime: the future runs inside a spawned task,
// and an `async fn` borrowing a connection trips the compiler's
// higher-ranked Send check there.
fn apply_job<'a>(conn: &'a mut SqliteConnection, job: &'a CommitJob) -> BoxFuture<'a, Result<CommitOutcome, StoreError>> {
    Box::pin(apply_commit(conn, &job.commit, job.property_id, &job.other_properties))
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

/// `head VALUES (…), (…) tail` over the `n` `rows`, in statements of
/// `chunk_sizes` rows each, `bind` binding one row's columns.
async fn insert_rows<'a, T>(
    conn: &mut SqliteConnection,
    (head, tail): (&str, &str),
    n: usize,
    mut rows: impl Iterator<Item = T>,
    mut bind: impl FnMut(Separated<'_, 'a, Sqlite, &'static str>, T),
) -> Result<(), sqlx::Error> {
    for size in chunk_sizes(n, MAX_ROWS) {
        let mut qb: QueryBuilder<'a, Sqlite> = QueryBuilder::new(head);
        qb.push(" ").push_values(rows.by_ref().take(size), &mut bind).push(" ").push(tail);
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn upsert_inventory(conn: &mut SqliteConnection, room_type_id: i64, commit: &ShardCommit) -> Result<(), StoreError> {
    let (into, on_conflict) = &*INVENTORY_UPSERT;
    let inv = &commit.changes.inventory;
    insert_rows(conn, (into, on_conflict), inv.len(), inv.iter(), |mut b, (day, inv)| {
        b.push_bind(room_type_id)
            .push_bind(date_str(*day))
            .push_bind(i64::from(inv.out_of_order))
            .push_bind(i64::from(inv.sold))
            .push_bind(i64::from(inv.held))
            .push_bind(inv.allotment.map(i64::from))
            .push_bind(inv.stop_sell)
            .push_bind(inv.closed_by().as_str());
    })
    .await
    .map_err(db_err)
}

async fn upsert_rates(conn: &mut SqliteConnection, room_type_id: i64, commit: &ShardCommit) -> Result<(), StoreError> {
    let rates = &commit.changes.rates;
    if rates.is_empty() {
        return Ok(());
    }
    let rows = rate_plan_ids(&mut *conn, room_type_id, commit).await?.into_iter().zip(rates);
    let (into, on_conflict) = &*RATES_UPSERT;
    insert_rows(conn, (into, on_conflict), rates.len(), rows, |mut b, (plan_id, ((_, day), rd))| {
        b.push_bind(plan_id)
            .push_bind(date_str(*day))
            .push_bind(rd.rate.map(|r| r.to_string()))
            .push_bind(occupancy_to_json(&rd.occupancy_rates))
            .push_bind(rd.min_stay_arrival.map(i64::from))
            .push_bind(rd.min_stay_through.map(i64::from))
            .push_bind(rd.max_stay.map(i64::from))
            .push_bind(rd.closed_to_arrival)
            .push_bind(rd.closed_to_departure)
            .push_bind(rd.stop_sell);
    })
    .await
    .map_err(db_err)
}

async fn insert_events(
    conn: &mut SqliteConnection,
    property_id: i64,
    seqs: &[i64],
    events: &[NewEvent],
    now: i64,
) -> Result<(), StoreError> {
    let payloads = events.iter().map(|e| super::json_str(&e.payload)).collect::<Result<Vec<_>, _>>()?;
    let rows = seqs.iter().zip(events).zip(payloads);
    let head = "INSERT INTO events (property_id, seq, kind, payload, created_at)";
    insert_rows(conn, (head, ""), events.len(), rows, |mut b, ((seq, e), payload)| {
        b.push_bind(property_id).push_bind(*seq).push_bind(e.kind.as_str()).push_bind(payload).push_bind(now);
    })
    .await
    .map_err(db_err)
}

async fn mark_intents_done(conn: &mut SqliteConnection, room_type_id: i64, intents: &[String]) -> Result<(), StoreError> {
    for intent in intents {
        sqlx::query("UPDATE intent_room_types SET done = 1 WHERE intent_id = $1 AND room_type_id = $2")
            .bind(intent)
            .bind(room_type_id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

async fn insert_mappings(conn: &mut SqliteConnection, channel_id: i64, channel: &ChannelConfig) -> Result<(), StoreError> {
    let head = "INSERT INTO channel_mappings (channel_id, ordinal, room_type, rate_plan, ota_room, ota_rate)";
    let ms = &channel.mappings;
    let ordinals = (0..ms.len()).map(|i| i64::try_from(i).map_err(|_| corrupt("too many mappings"))).collect::<Result<Vec<_>, _>>()?;
    insert_rows(conn, (head, ""), ms.len(), ordinals.into_iter().zip(ms), |mut b, (ordinal, m)| {
        b.push_bind(channel_id)
            .push_bind(ordinal)
            .push_bind(m.room_type.as_str())
            .push_bind(m.rate_plan.as_str())
            .push_bind(&m.ota_room)
            .push_bind(&m.ota_rate);
    })
    .await
    .map_err(db_err_conflict(|| mapped_twice(channel)))
}

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
        run_migrations(SQLITE_MIGRATIONS, &writer, "SQLite").await?;
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

    /// Closes both pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn begin_write(&self) -> Result<Transaction<'_, Sqlite>, StoreError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
    }

    /// One snapshot (a WAL read transaction) for multi-statement reads.
    async fn begin_read(&self) -> Result<Transaction<'_, Sqlite>, StoreError> {
        self.reader.begin().await.map_err(db_err)
    }

    /// Hands the commit to the group-commit task and waits for its answer.
    async fn commit_shard_here(&self, commit: &ShardCommit) -> Result<CommitOutcome, StoreError> {
        let (property_id, other_properties) = self.commit_property_ids(commit).await?;
        let (reply, answer) = oneshot::channel();
        let job = CommitJob { commit: commit.clone(), property_id, other_properties, reply };
        self.committer.send(job).await.map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fresh_sqlite_url, test_store_options};
    use saluran_domain::ari::CellChanges;
    use saluran_domain::calendar::InventoryDay;
    use saluran_domain::channel::{InboundAction, InboundRecord, Profile};
    use saluran_domain::property::{Property, RoomType};
    use saluran_domain::store::prelude::*;
    use saluran_domain::{ChannelCode, Currency, RoomTypeCode, TenantCode};

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
        assert!(
            matches!(&results[0], Err(StoreError::Conflict(m)) if m.to_string() == "cancelled meanwhile: BDC/OTA-C"),
            "{:?}",
            results[0]
        );
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
        assert!(
            matches!(&results[1], Err(StoreError::Conflict(m)) if m.to_string() == "cancelled meanwhile: BDC/OTA-G"),
            "{:?}",
            results[1]
        );
        let dlx = store.load_calendar(&p, &RoomTypeCode::parse("DLX").unwrap(), jiff::civil::date(2027, 1, 1)).await.unwrap();
        assert_eq!(dlx.version, 1);
    }
}
