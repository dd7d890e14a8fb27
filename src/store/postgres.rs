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
//! Types: dates are `DATE` (bound as `'YYYY-MM-DD'` text with `::date`, read
//! with `::text`), decimals `NUMERIC`, timestamps `BIGINT` unix nanoseconds,
//! JSON `JSONB` (bound as text with `::jsonb`, read with `::text`). Bulk cell
//! writes bind one array per column and `UNNEST` them: one statement, one
//! round trip, whatever the number of cells.

use super::{
    adjustment_parts, assemble_channels, booking_exists, booking_lock_text, cancelled_meanwhile, commit_guard, corrupt, date_str, db_err,
    db_err_conflict, group_intents, inbound_key, inventory_day_from, is_tombstone, json_parse, json_str, migrator, now_nanos,
    occupancy_to_json, opt_ts_to_nanos, out_of_order_from, parse_code, parse_date, room_changed, room_type_from, task_from, to_u16,
    ts_from_nanos, ts_to_nanos, ChannelRow, Guard, InboundRow, MappingRow, PropertyRow, RateDayRow, RatePlanRow, ReservationRow,
    StoreOptions, SyncStatusRow, TaskRow, POSTGRES_MIGRATIONS,
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
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Decode, Postgres, Row, Type};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

pub struct PostgresStore {
    pool: PgPool,
    /// Property code → id. Properties are never deleted nor renamed, so a
    /// positive lookup stays true for the life of the database.
    property_ids: RwLock<HashMap<String, i64>>,
}

fn get<'r, T>(row: &'r PgRow, i: usize) -> Result<T, StoreError>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get::<T, _>(i).map_err(db_err)
}

fn get_i32(row: &PgRow, i: usize) -> Result<i64, StoreError> {
    get::<i32>(row, i).map(i64::from)
}

fn get_opt_i32(row: &PgRow, i: usize) -> Result<Option<i64>, StoreError> {
    get::<Option<i32>>(row, i).map(|v| v.map(i64::from))
}

const RESERVATION_COLUMNS: &str = "r.id, p.code, rt.code, r.rate_plan, r.check_in::text, r.check_out::text, \
     r.adults, r.guest_name, r.status, r.currency, r.total, r.nightly::text, r.source, r.external_id, r.revision, \
     r.overbooked, r.created_at, r.updated_at, r.checked_in_at, r.checked_out_at, r.room, \
     r.outside_horizon, r.calendar_from::text, r.calendar_to::text \
     FROM reservations r JOIN properties p ON p.id = r.property_id JOIN room_types rt ON rt.id = r.room_type_id";

fn reservation_from(row: &PgRow) -> Result<Reservation, StoreError> {
    ReservationRow {
        id: get(row, 0)?,
        property: get(row, 1)?,
        room_type: get(row, 2)?,
        rate_plan: get(row, 3)?,
        check_in: get(row, 4)?,
        check_out: get(row, 5)?,
        adults: get_i32(row, 6)?,
        guest_name: get(row, 7)?,
        status: get(row, 8)?,
        currency: get(row, 9)?,
        total: get(row, 10)?,
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

async fn room_type_id_in(conn: &mut PgConnection, property_id: i64, code: &RoomTypeCode) -> Result<i64, StoreError> {
    sqlx::query_scalar::<_, i64>("SELECT id FROM room_types WHERE property_id = $1 AND code = $2")
        .bind(property_id)
        .bind(code.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("room type {code}")))
}

fn opt_i32(v: Option<u16>) -> Option<i32> {
    v.map(i32::from)
}

/// Records one OTA delivery on `conn` (in the caller's transaction, if any):
/// `NotFound` for an unknown channel, `Conflict` for a duplicate
/// (channel, OTA id, revision, action). A concurrent transaction inserting
/// the same key makes this one wait for its outcome.
async fn insert_inbound_in(conn: &mut PgConnection, property_id: i64, r: &InboundRecord) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO inbound_bookings (property_id, channel_id, ota_reservation_id, revision, action, reservation_id, \
         outcome, ack, received_at) SELECT c.property_id, c.id, $1, $2, $3, $4, $5, $6, $7 FROM channels c \
         WHERE c.property_id = $8 AND c.code = $9",
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

/// Checks `guard` for `r` on `conn`, inside the caller's transaction and
/// after `lock_bookings_in` took the booking's lock: `Conflict`
/// (`cancelled_meanwhile` / `booking_exists`) when it does not hold.
async fn check_guard_in(conn: &mut PgConnection, property_id: i64, r: &InboundRecord, guard: Guard) -> Result<(), StoreError> {
    let sql = match guard {
        Guard::NotCancelled => {
            "SELECT 1 FROM inbound_bookings i JOIN channels c ON c.id = i.channel_id \
             WHERE c.property_id = $1 AND c.code = $2 AND i.ota_reservation_id = $3 \
             AND i.action = 'cancel' AND i.outcome = 'applied' LIMIT 1"
        }
        Guard::NoBooking => "SELECT 1 FROM reservations WHERE property_id = $1 AND source = $2 AND external_id = $3 LIMIT 1",
    };
    let found = sqlx::query_scalar::<_, i32>(sql)
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
        migrator(POSTGRES_MIGRATIONS)
            .await?
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrating the PostgreSQL database: {e}")))?;
        Ok(PostgresStore { pool, property_ids: RwLock::new(HashMap::new()) })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn property_id(&self, code: &PropertyCode) -> Result<i64, StoreError> {
        if let Some(id) = self.property_ids.read().get(code.as_str()) {
            return Ok(*id);
        }
        let id = sqlx::query_scalar::<_, i64>("SELECT id FROM properties WHERE code = $1")
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("property {code}")))?;
        self.property_ids.write().insert(code.as_str().to_owned(), id);
        Ok(id)
    }

    async fn upsert_inventory(conn: &mut PgConnection, room_type_id: i64, commit: &ShardCommit) -> Result<(), StoreError> {
        let inv = &commit.changes.inventory;
        if inv.is_empty() {
            return Ok(());
        }
        let n = inv.len();
        let mut source = Vec::with_capacity(n);
        let (mut days, mut ooo, mut sold, mut held, mut allot, mut stop) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (day, d) in inv {
            days.push(date_str(*day));
            ooo.push(i32::from(d.out_of_order));
            sold.push(i32::from(d.sold));
            held.push(i32::from(d.held));
            allot.push(opt_i32(d.allotment));
            stop.push(d.stop_sell);
            source.push(d.closed_by().as_str());
        }
        sqlx::query(
            "INSERT INTO inventory_days (room_type_id, day, out_of_order, sold, held, allotment, stop_sell, stop_sell_source) \
             SELECT $1, t.d::date, t.o, t.s, t.h, t.a, t.ss, t.src \
             FROM UNNEST($2::text[], $3::int4[], $4::int4[], $5::int4[], $6::int4[], $7::bool[], $8::text[]) \
             AS t(d, o, s, h, a, ss, src) \
             ON CONFLICT (room_type_id, day) DO UPDATE SET out_of_order = EXCLUDED.out_of_order, \
             sold = EXCLUDED.sold, held = EXCLUDED.held, allotment = EXCLUDED.allotment, \
             stop_sell = EXCLUDED.stop_sell, stop_sell_source = EXCLUDED.stop_sell_source",
        )
        .bind(room_type_id)
        .bind(days)
        .bind(ooo)
        .bind(sold)
        .bind(held)
        .bind(allot)
        .bind(stop)
        .bind(source)
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
        let plan_ids: HashMap<String, i64> = sqlx::query_as::<_, (i64, String)>("SELECT id, code FROM rate_plans WHERE room_type_id = $1")
            .bind(room_type_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|(id, code)| (code, id))
            .collect();
        let n = rates.len();
        let mut plan = Vec::with_capacity(n);
        let mut days = Vec::with_capacity(n);
        let mut rate: Vec<Option<Decimal>> = Vec::with_capacity(n);
        let mut occ: Vec<Option<String>> = Vec::with_capacity(n);
        let mut msa = Vec::with_capacity(n);
        let mut mst = Vec::with_capacity(n);
        let mut mx = Vec::with_capacity(n);
        let mut cta = Vec::with_capacity(n);
        let mut ctd = Vec::with_capacity(n);
        let mut ss = Vec::with_capacity(n);
        for ((code, day), rd) in rates {
            let id = *plan_ids.get(code.as_str()).ok_or_else(|| {
                StoreError::NotFound(format!(
                    "rate plan {code} of room type {}",
                    commit.room_type.as_ref().map(|c| c.as_str()).unwrap_or_default()
                ))
            })?;
            plan.push(id);
            days.push(date_str(*day));
            rate.push(rd.rate);
            occ.push(occupancy_to_json(&rd.occupancy_rates));
            msa.push(opt_i32(rd.min_stay_arrival));
            mst.push(opt_i32(rd.min_stay_through));
            mx.push(opt_i32(rd.max_stay));
            cta.push(rd.closed_to_arrival);
            ctd.push(rd.closed_to_departure);
            ss.push(rd.stop_sell);
        }
        sqlx::query(
            "INSERT INTO rate_days (rate_plan_id, day, rate, occupancy_rates, min_stay_arrival, min_stay_through, \
             max_stay, closed_to_arrival, closed_to_departure, stop_sell) \
             SELECT t.p, t.d::date, t.r, t.o::jsonb, t.msa, t.mst, t.mx, t.cta, t.ctd, t.ss \
             FROM UNNEST($1::int8[], $2::text[], $3::numeric[], $4::text[], $5::int4[], $6::int4[], $7::int4[], \
             $8::bool[], $9::bool[], $10::bool[]) AS t(p, d, r, o, msa, mst, mx, cta, ctd, ss) \
             ON CONFLICT (rate_plan_id, day) DO UPDATE SET rate = EXCLUDED.rate, \
             occupancy_rates = EXCLUDED.occupancy_rates, min_stay_arrival = EXCLUDED.min_stay_arrival, \
             min_stay_through = EXCLUDED.min_stay_through, max_stay = EXCLUDED.max_stay, \
             closed_to_arrival = EXCLUDED.closed_to_arrival, closed_to_departure = EXCLUDED.closed_to_departure, \
             stop_sell = EXCLUDED.stop_sell",
        )
        .bind(plan)
        .bind(days)
        .bind(rate)
        .bind(occ)
        .bind(msa)
        .bind(mst)
        .bind(mx)
        .bind(cta)
        .bind(ctd)
        .bind(ss)
        .execute(conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn upsert_reservation(
        conn: &mut PgConnection,
        property_id: i64,
        room_type_id: i64,
        r: &Reservation,
        now: i64,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO reservations (id, property_id, room_type_id, rate_plan, check_in, check_out, adults, \
             guest_name, status, currency, total, nightly, source, external_id, revision, overbooked, created_at, \
             updated_at, checked_in_at, checked_out_at, room, outside_horizon, calendar_from, calendar_to) \
             VALUES ($1, $2, $3, $4, $5::date, $6::date, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, \
             $15, $16, $17, $18, $19, $20, $21, $22, $23::date, $24::date) \
             ON CONFLICT (id) DO UPDATE SET room_type_id = EXCLUDED.room_type_id, rate_plan = EXCLUDED.rate_plan, \
             check_in = EXCLUDED.check_in, check_out = EXCLUDED.check_out, adults = EXCLUDED.adults, \
             guest_name = EXCLUDED.guest_name, status = EXCLUDED.status, currency = EXCLUDED.currency, \
             total = EXCLUDED.total, nightly = EXCLUDED.nightly, source = EXCLUDED.source, \
             external_id = EXCLUDED.external_id, revision = EXCLUDED.revision, overbooked = EXCLUDED.overbooked, \
             created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, \
             checked_in_at = EXCLUDED.checked_in_at, checked_out_at = EXCLUDED.checked_out_at, room = EXCLUDED.room, \
             outside_horizon = EXCLUDED.outside_horizon, calendar_from = EXCLUDED.calendar_from, \
             calendar_to = EXCLUDED.calendar_to \
             WHERE reservations.property_id = EXCLUDED.property_id",
        )
        .bind(&r.id)
        .bind(property_id)
        .bind(room_type_id)
        .bind(r.rate_plan.as_str())
        .bind(date_str(r.check_in))
        .bind(date_str(r.check_out))
        .bind(i32::from(r.adults))
        .bind(&r.guest_name)
        .bind(r.status.as_str())
        .bind(r.currency.as_str())
        .bind(r.total)
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
            "INSERT INTO reservation_revisions (reservation_id, revision, snapshot, created_at) \
             VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (reservation_id, revision) DO NOTHING",
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
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }

    async fn insert_token(&self, id: &str, hash: &str, scope: &TokenScope) -> Result<(), StoreError> {
        let properties: Vec<&str> = scope.properties.iter().map(|p| p.as_str()).collect();
        sqlx::query("INSERT INTO tokens (id, hash, role, tenant, properties, created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)")
            .bind(id)
            .bind(hash)
            .bind(scope.role.as_str())
            .bind(scope.tenant.as_str())
            .bind(json_str(&properties)?)
            .bind(now_nanos())
            .execute(&self.pool)
            .await
            .map_err(db_err_conflict(|| format!("token {id}")))?;
        Ok(())
    }

    async fn find_token(&self, hash: &str) -> Result<Option<TokenScope>, StoreError> {
        let row = sqlx::query_as::<_, (String, String, String)>("SELECT role, tenant, properties::text FROM tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::date, $9)",
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
        .execute(&self.pool)
        .await
        .map_err(db_err_conflict(|| format!("property {}", p.code)))?;
        Ok(())
    }

    async fn find_property(&self, code: &PropertyCode) -> Result<Option<Property>, StoreError> {
        let row = sqlx::query_as::<_, (String, String, String, String, String, String, bool, Option<String>)>(
            "SELECT tenant, code, name, timezone, currency, night_audit_time, marks_no_shows, no_shows_from::text FROM properties WHERE code = $1",
        )
        .bind(code.as_str())
        .fetch_optional(&self.pool)
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
        let done = sqlx::query(
            "UPDATE properties SET \
             no_shows_from = CASE WHEN $1::date IS NULL THEN NULL \
             WHEN marks_no_shows AND $3 THEN COALESCE(no_shows_from, $1::date) ELSE $1::date END, \
             marks_no_shows = ($1::date IS NOT NULL) WHERE code = $2",
        )
        .bind(from.map(date_str))
        .bind(property.as_str())
        .bind(keep_date)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("property {property}")));
        }
        Ok(())
    }

    async fn count_properties(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM properties").fetch_one(&self.pool).await.map_err(db_err)
    }

    async fn create_room_type(&self, property: &PropertyCode, rt: &RoomType) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        sqlx::query(
            "INSERT INTO room_types (property_id, code, name, max_occupancy, physical_rooms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(property_id)
        .bind(rt.code.as_str())
        .bind(&rt.name)
        .bind(i32::from(rt.max_occupancy))
        .bind(i32::from(rt.physical_rooms))
        .execute(&self.pool)
        .await
        .map_err(db_err_conflict(|| format!("room type {}", rt.code)))?;
        Ok(())
    }

    async fn create_room(&self, property: &PropertyCode, room: &Room) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let room_type_id = room_type_id_in(&mut tx, property_id, &room.room_type).await?;
        sqlx::query("INSERT INTO rooms (property_id, room_type_id, number, floor, status) VALUES ($1, $2, $3, $4, $5)")
            .bind(property_id)
            .bind(room_type_id)
            .bind(room.number.as_str())
            .bind(i32::from(room.floor))
            .bind(room.status.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err_conflict(|| format!("room {}", room.number)))?;
        sqlx::query("UPDATE room_types SET physical_rooms = physical_rooms + 1, version = version + 1 WHERE id = $1")
            .bind(room_type_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn set_room_status(&self, property: &PropertyCode, number: &RoomNumber, status: RoomStatus) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        let done = sqlx::query("UPDATE rooms SET status = $1 WHERE property_id = $2 AND number = $3")
            .bind(status.as_str())
            .bind(property_id)
            .bind(number.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("room {number}")));
        }
        Ok(())
    }

    async fn create_rate_plan(&self, property: &PropertyCode, plan: &RatePlan) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let room_type_id = room_type_id_in(&mut tx, property_id, &plan.room_type).await?;
        if let Some(der) = &plan.derived {
            let parent =
                sqlx::query_scalar::<_, i64>("SELECT id FROM rate_plans WHERE property_id = $1 AND room_type_id = $2 AND code = $3")
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
                (Some(k), Some(v))
            }
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO rate_plans (property_id, room_type_id, code, name, derived_parent, adjustment_kind, \
             adjustment_value) VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        sqlx::query("UPDATE room_types SET version = version + 1 WHERE id = $1")
            .bind(room_type_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn load_config(&self, property: &PropertyCode) -> Result<Option<PropertyConfig>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(db_err)?;
        let row = sqlx::query(
            "SELECT id, tenant, code, name, timezone, currency, night_audit_time, marks_no_shows, no_shows_from::text FROM properties WHERE code = $1",
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

        let room_types = sqlx::query_as::<_, (String, String, i32, i32)>(
            "SELECT code, name, max_occupancy, physical_rooms FROM room_types WHERE property_id = $1 ORDER BY id",
        )
        .bind(property_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|(code, name, max_occ, physical)| room_type_from(code, name, max_occ.into(), physical.into()))
        .collect::<Result<Vec<_>, _>>()?;

        let rooms = sqlx::query_as::<_, (String, String, i32, String, Option<String>, Option<String>)>(
            "SELECT r.number, rt.code, r.floor, r.status, r.out_of_order_from::text, r.out_of_order_to::text \
             FROM rooms r JOIN room_types rt ON rt.id = r.room_type_id \
             WHERE r.property_id = $1 ORDER BY r.id",
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
             FROM rate_plans rp JOIN room_types rt ON rt.id = rp.room_type_id WHERE rp.property_id = $1 ORDER BY rp.id",
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
                    adjustment_value: get(row, 5)?,
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
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(db_err)?;
        let row = sqlx::query_as::<_, (i64, String, String, i32, i32, i64)>(
            "SELECT rt.id, rt.code, rt.name, rt.max_occupancy, rt.physical_rooms, rt.version \
             FROM room_types rt JOIN properties p ON p.id = rt.property_id WHERE p.code = $1 AND rt.code = $2",
        )
        .bind(property.as_str())
        .bind(room_type.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((room_type_id, code, name, max_occ, physical, version)) = row else {
            return Err(StoreError::NotFound(format!("room type {property}/{room_type}")));
        };
        let rt = room_type_from(code.clone(), name, max_occ.into(), physical.into())?;

        let plan_rows = sqlx::query(
            "SELECT id, code, name, derived_parent, adjustment_kind, adjustment_value FROM rate_plans \
             WHERE room_type_id = $1 ORDER BY id",
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
                    adjustment_value: get(row, 5)?,
                }
                .into_domain()?,
            );
        }
        let mut cal = RoomTypeCalendar::new(rt, plans);
        cal.version = version;

        let inv_rows = sqlx::query(
            "SELECT day::text, out_of_order, sold, held, allotment, stop_sell, stop_sell_source FROM inventory_days \
             WHERE room_type_id = $1 AND day >= $2::date AND day <= $3::date ORDER BY day",
        )
        .bind(room_type_id)
        .bind(&from)
        .bind(&to)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for row in &inv_rows {
            let day = parse_date(&get::<String>(row, 0)?)?;
            let inv = inventory_day_from(
                get_i32(row, 1)?,
                get_i32(row, 2)?,
                get_i32(row, 3)?,
                get_opt_i32(row, 4)?,
                get(row, 5)?,
                &get::<String>(row, 6)?,
            )?;
            cal.inventory.set(day, inv);
        }

        let rate_rows = sqlx::query(
            "SELECT rd.rate_plan_id, rd.day::text, rd.rate, rd.occupancy_rates::text, rd.min_stay_arrival, \
             rd.min_stay_through, rd.max_stay, rd.closed_to_arrival, rd.closed_to_departure, rd.stop_sell \
             FROM rate_days rd JOIN rate_plans rp ON rp.id = rd.rate_plan_id \
             WHERE rp.room_type_id = $1 AND rd.day >= $2::date AND rd.day <= $3::date ORDER BY rd.rate_plan_id, rd.day",
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
                rate: get(row, 2)?,
                occupancy_rates: get(row, 3)?,
                min_stay_arrival: get_opt_i32(row, 4)?,
                min_stay_through: get_opt_i32(row, 5)?,
                max_stay: get_opt_i32(row, 6)?,
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
        let room_type = commit.room_type.as_ref().ok_or_else(|| StoreError::NotFound("commit without a room type".into()))?;
        let property_id = self.property_id(property).await?;
        let mut other_properties = HashMap::new();
        for other in commit.reservations.iter().map(|r| &r.property).chain(commit.inbound.iter().map(|r| &r.property)) {
            if other != property && !other_properties.contains_key(other) {
                other_properties.insert(other.clone(), self.property_id(other).await?);
            }
        }
        let now = now_nanos();

        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // (1) Optimistic concurrency. A concurrent committer of the same room
        // type holds the row lock; PostgreSQL waits for it, then re-checks
        // `version` against the committed row, so exactly one of them wins.
        let bumped = sqlx::query_as::<_, (i64, i64)>(
            "UPDATE room_types SET version = version + 1 WHERE property_id = $1 AND code = $2 AND version = $3 \
             RETURNING id, version",
        )
        .bind(property_id)
        .bind(room_type.as_str())
        .bind(commit.expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((room_type_id, version)) = bumped else {
            let exists = room_type_id_in(&mut tx, property_id, room_type).await;
            tx.rollback().await.map_err(db_err)?;
            exists?;
            return Err(StoreError::VersionConflict { room_type: room_type.to_string(), expected: commit.expected_version });
        };

        // (2) OTA deliveries, first: a booking cancelled meanwhile, a
        // tombstone of a booking stored meanwhile (checked under the
        // bookings' advisory locks, all before this commit writes any of its
        // own records) or a redelivery (duplicate key) fails the commit
        // before anything else is written (the dropped transaction rolls
        // back the version bump too). The locks are taken after the version
        // row's and before the event counter's: a transaction waiting for
        // one of them holds no lock its holder could need.
        let guards: Vec<(i64, &InboundRecord, Guard)> = commit
            .inbound
            .iter()
            .filter_map(|r| {
                let pid = other_properties.get(&r.property).copied().unwrap_or(property_id);
                commit_guard(r, &commit.reservations).map(|g| (pid, r, g))
            })
            .collect();
        if !guards.is_empty() {
            lock_bookings_in(&mut tx, guards.iter().map(|(pid, r, _)| booking_lock_text(*pid, r)).collect()).await?;
            for (pid, r, guard) in &guards {
                check_guard_in(&mut tx, *pid, r, *guard).await?;
            }
        }
        for record in &commit.inbound {
            let pid = other_properties.get(&record.property).copied().unwrap_or(property_id);
            insert_inbound_in(&mut tx, pid, record).await?;
        }

        // (3) Cells.
        Self::upsert_inventory(&mut tx, room_type_id, commit).await?;
        Self::upsert_rates(&mut tx, room_type_id, commit).await?;

        // (4) Reservations and their revision history.
        let mut room_type_ids: HashMap<(i64, &RoomTypeCode), i64> = HashMap::new();
        room_type_ids.insert((property_id, room_type), room_type_id);
        for r in &commit.reservations {
            let pid = other_properties.get(&r.property).copied().unwrap_or(property_id);
            let rtid = match room_type_ids.get(&(pid, &r.room_type)) {
                Some(id) => *id,
                None => {
                    let id = room_type_id_in(&mut tx, pid, &r.room_type).await?;
                    room_type_ids.insert((pid, &r.room_type), id);
                    id
                }
            };
            Self::upsert_reservation(&mut tx, pid, rtid, r, now).await?;
        }

        // (4b) Room status changes (out of order): each only if the stored
        // room is still what the shard decided from (the row lock makes a
        // concurrent writer wait, then re-check).
        for change in &commit.rooms {
            let (exp, room) = (&change.expected, &change.room);
            let done = sqlx::query(
                "UPDATE rooms SET status = $1, out_of_order_from = $2::date, out_of_order_to = $3::date \
                 WHERE property_id = $4 AND room_type_id = $5 AND number = $6 AND status = $7 \
                 AND out_of_order_from IS NOT DISTINCT FROM $8::date AND out_of_order_to IS NOT DISTINCT FROM $9::date",
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
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if done.rows_affected() == 0 {
                return Err(room_changed(&room.number));
            }
        }

        // (5) Intents this commit completes for this room type.
        if !commit.intents_done.is_empty() {
            sqlx::query("UPDATE intent_room_types SET done = TRUE WHERE intent_id = ANY($1) AND room_type_id = $2")
                .bind(&commit.intents_done)
                .bind(room_type_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }

        // (6) Events, numbered from the property's counter (taken last: the
        // row lock serializes this property's commits until ours ends).
        let mut event_seqs = Vec::with_capacity(commit.events.len());
        if !commit.events.is_empty() {
            let n = i64::try_from(commit.events.len()).map_err(|_| corrupt("too many events"))?;
            let last = sqlx::query_scalar::<_, i64>("UPDATE properties SET event_seq = event_seq + $1 WHERE id = $2 RETURNING event_seq")
                .bind(n)
                .bind(property_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            event_seqs.extend((last - n + 1)..=last);
            let kinds: Vec<&str> = commit.events.iter().map(|e| e.kind.as_str()).collect();
            let payloads = commit.events.iter().map(|e| json_str(&e.payload)).collect::<Result<Vec<_>, _>>()?;
            sqlx::query(
                "INSERT INTO events (property_id, seq, kind, payload, created_at) \
                 SELECT $1, t.s, t.k, t.p::jsonb, $5 FROM UNNEST($2::int8[], $3::text[], $4::text[]) AS t(s, k, p)",
            )
            .bind(property_id)
            .bind(&event_seqs)
            .bind(kinds)
            .bind(payloads)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(CommitOutcome { version, event_seqs })
    }

    async fn find_reservation(&self, property: &PropertyCode, id: &str) -> Result<Option<Reservation>, StoreError> {
        let sql = format!("SELECT {RESERVATION_COLUMNS} WHERE p.code = $1 AND r.id = $2");
        let row = sqlx::query(&sql).bind(property.as_str()).bind(id).fetch_optional(&self.pool).await.map_err(db_err)?;
        row.as_ref().map(reservation_from).transpose()
    }

    async fn list_reservations(&self, property: &PropertyCode, room_type: &RoomTypeCode) -> Result<Vec<Reservation>, StoreError> {
        let sql = format!("SELECT {RESERVATION_COLUMNS} WHERE p.code = $1 AND rt.code = $2 ORDER BY r.check_in, r.id");
        let rows = sqlx::query(&sql).bind(property.as_str()).bind(room_type.as_str()).fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(reservation_from).collect()
    }

    async fn no_show_candidates(&self, property: &PropertyCode, from: Date, closed: Date) -> Result<Vec<Reservation>, StoreError> {
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} WHERE p.code = $1 AND r.status = 'confirmed' AND r.checked_in_at IS NULL \
             AND r.check_in >= $2::date AND r.check_in <= $3::date ORDER BY rt.code COLLATE \"C\", r.check_in, r.id"
        );
        let rows = sqlx::query(&sql)
            .bind(property.as_str())
            .bind(date_str(from))
            .bind(date_str(closed))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(reservation_from).collect()
    }

    async fn events_after(&self, property: &PropertyCode, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query_as::<_, (i64, String, String, i64)>(
            "SELECT seq, kind, payload::text, created_at FROM events \
             WHERE property_id = (SELECT id FROM properties WHERE code = $1) AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(property.as_str())
        .bind(after)
        .bind(limit.max(0))
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("INSERT INTO intents (id, property_id, kind, payload, created_at) VALUES ($1, $2, $3, $4::jsonb, $5)")
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
                "INSERT INTO intent_room_types (intent_id, room_type_id, done) VALUES ($1, $2, FALSE) \
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
            "SELECT i.id, i.kind, i.payload::text, rt.code FROM intents i \
             JOIN properties p ON p.id = i.property_id \
             JOIN intent_room_types irt ON irt.intent_id = i.id \
             JOIN room_types rt ON rt.id = irt.room_type_id \
             WHERE p.code = $1 AND NOT irt.done ORDER BY i.created_at, i.id, rt.id",
        )
        .bind(property.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        group_intents(rows)
    }

    async fn idempotency_begin(&self, scope: &str, key: &str, request_hash: &str) -> Result<IdempotencyBegin, StoreError> {
        // A concurrent INSERT of the same key waits for the first one's
        // commit, then does nothing: exactly one caller sees a new row. A
        // concurrent abort can delete the row before the SELECT; then the
        // INSERT is simply tried again.
        for _ in 0..3 {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (scope, key, request_hash, state, created_at) \
                 VALUES ($1, $2, $3, 'in_progress', $4) ON CONFLICT (scope, key) DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(request_hash)
            .bind(now_nanos())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
            if inserted.rows_affected() == 1 {
                return Ok(IdempotencyBegin::Fresh);
            }
            let row = sqlx::query_as::<_, (String, String, Option<i32>, Option<Vec<u8>>, i64)>(
                "SELECT request_hash, state, status, body, created_at FROM idempotency_keys WHERE scope = $1 AND key = $2",
            )
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
            let Some((hash, state, status, body, created_at)) = row else { continue };
            if hash != request_hash {
                return Ok(IdempotencyBegin::Mismatch);
            }
            if state == "done" {
                let status = status.ok_or_else(|| corrupt("idempotency key done without a status"))?;
                return Ok(IdempotencyBegin::Replay { status: to_u16(i64::from(status), "status")?, body: body.unwrap_or_default() });
            }
            let age = std::time::Duration::from_nanos(u64::try_from(now_nanos().saturating_sub(created_at)).unwrap_or(0));
            return Ok(IdempotencyBegin::InProgress { age });
        }
        Ok(IdempotencyBegin::InProgress { age: std::time::Duration::ZERO })
    }

    async fn idempotency_complete(&self, scope: &str, key: &str, status: u16, body: &[u8]) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE idempotency_keys SET state = 'done', status = $1, body = $2 WHERE scope = $3 AND key = $4")
            .bind(i32::from(status))
            .bind(body)
            .bind(scope)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("idempotency key {key}")));
        }
        Ok(())
    }

    async fn idempotency_abort(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_progress'")
            .bind(scope)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn idempotency_expire(&self, older_than: std::time::Duration) -> Result<u64, StoreError> {
        let older_than = i64::try_from(older_than.as_nanos()).unwrap_or(i64::MAX);
        let cutoff = now_nanos().saturating_sub(older_than);
        let gone =
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(cutoff).execute(&self.pool).await.map_err(db_err)?;
        Ok(gone.rows_affected())
    }

    async fn create_channel(&self, channel: &ChannelConfig) -> Result<(), StoreError> {
        let property_id = self.property_id(&channel.property).await?;
        let n = channel.mappings.len();
        let (mut ordinals, mut room_types, mut rate_plans, mut ota_rooms, mut ota_rates) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, m) in channel.mappings.iter().enumerate() {
            ordinals.push(i32::try_from(i).map_err(|_| corrupt("too many mappings"))?);
            room_types.push(m.room_type.as_str());
            rate_plans.push(m.rate_plan.as_str());
            ota_rooms.push(m.ota_room.as_str());
            ota_rates.push(m.ota_rate.as_str());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let channel_id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO channels (property_id, code, profile, preset, endpoint, hotel_code, sealed_credentials, \
             webhook_username, sealed_webhook_secret, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             RETURNING id",
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
        if n > 0 {
            sqlx::query(
                "INSERT INTO channel_mappings (channel_id, ordinal, room_type, rate_plan, ota_room, ota_rate) \
                 SELECT $1, t.o, t.rt, t.rp, t.orm, t.ort \
                 FROM UNNEST($2::int4[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(o, rt, rp, orm, ort)",
            )
            .bind(channel_id)
            .bind(ordinals)
            .bind(room_types)
            .bind(rate_plans)
            .bind(ota_rooms)
            .bind(ota_rates)
            .execute(&mut *tx)
            .await
            .map_err(db_err_conflict(|| {
                format!("channel {}/{}: a room type and rate plan mapped twice", channel.property, channel.code)
            }))?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn list_channels(&self, property: &PropertyCode) -> Result<Vec<ChannelConfig>, StoreError> {
        // One snapshot for the channels and their mappings. Codes sort
        // bytewise (as on SQLite), whatever the database's collation.
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(db_err)?;
        let rows = sqlx::query(
            "SELECT c.id, p.code, c.code, c.profile, c.preset, c.endpoint, c.hotel_code, c.sealed_credentials, \
             c.webhook_username, c.sealed_webhook_secret, c.created_at \
             FROM channels c JOIN properties p ON p.id = c.property_id WHERE p.code = $1 ORDER BY c.code COLLATE \"C\"",
        )
        .bind(property.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mappings = sqlx::query_as::<_, MappingRow>(
            "SELECT m.channel_id, m.room_type, m.rate_plan, m.ota_room, m.ota_rate FROM channel_mappings m \
             JOIN channels c ON c.id = m.channel_id JOIN properties p ON p.id = c.property_id \
             WHERE p.code = $1 ORDER BY m.channel_id, m.ordinal",
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
        let saved = sqlx::query(
            "INSERT INTO channel_sync_status (channel_id, pending_cells, consecutive_failures, total_failures, \
             dead_letters, requests_sent, last_success_at, last_attempt_at, last_error) \
             SELECT c.id, $1, $2, $3, $4, $5, $6, $7, $8 \
             FROM channels c JOIN properties p ON p.id = c.property_id WHERE p.code = $9 AND c.code = $10 \
             ON CONFLICT (channel_id) DO UPDATE SET pending_cells = EXCLUDED.pending_cells, \
             consecutive_failures = EXCLUDED.consecutive_failures, total_failures = EXCLUDED.total_failures, \
             dead_letters = EXCLUDED.dead_letters, requests_sent = EXCLUDED.requests_sent, \
             last_success_at = EXCLUDED.last_success_at, last_attempt_at = EXCLUDED.last_attempt_at, \
             last_error = EXCLUDED.last_error",
        )
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
        .execute(&self.pool)
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
             WHERE p.code = $1 AND c.code = $2",
        )
        .bind(property.as_str())
        .bind(channel.as_str())
        .fetch_optional(&self.pool)
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
        let inserted = sqlx::query(
            "INSERT INTO channel_dead_letters (channel_id, created_at, error, summary) \
             SELECT c.id, $1, $2, $3::jsonb FROM channels c JOIN properties p ON p.id = c.property_id \
             WHERE p.code = $4 AND c.code = $5",
        )
        .bind(ts_to_nanos(letter.created_at)?)
        .bind(&letter.error)
        .bind(json_str(&letter.summary)?)
        .bind(letter.property.as_str())
        .bind(letter.channel.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("channel {}/{}", letter.property, letter.channel)));
        }
        Ok(())
    }

    async fn list_channel_properties(&self) -> Result<Vec<PropertyCode>, StoreError> {
        // Bytewise, as on SQLite, whatever the database's collation.
        sqlx::query_scalar::<_, String>(
            "SELECT p.code FROM properties p WHERE EXISTS (SELECT 1 FROM channels c WHERE c.property_id = p.id) \
             ORDER BY p.code COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|code| parse_code(PropertyCode::try_from, code))
        .collect()
    }

    async fn channel_queue_totals(&self) -> Result<(i64, i64), StoreError> {
        // Dead letters are counted where they are stored (one row each).
        // SUM(bigint) is NUMERIC in PostgreSQL: cast back.
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT (SELECT COALESCE(SUM(pending_cells), 0)::int8 FROM channel_sync_status), \
             (SELECT COUNT(*) FROM channel_dead_letters)",
        )
        .fetch_one(&self.pool)
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
             WHERE p.code = $1 AND c.code = $2 AND i.ota_reservation_id = $3 ORDER BY i.received_at, i.id",
        )
        .bind(property.as_str())
        .bind(channel.as_str())
        .bind(ota_reservation_id)
        .fetch_all(&self.pool)
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
            let mut conn = self.pool.acquire().await.map_err(db_err)?;
            return insert_inbound_in(&mut conn, property_id, record).await;
        }
        // A tombstone: under the booking's lock (as a shard commit of it
        // takes), checked and written in one transaction. Dropped on error:
        // nothing written.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_bookings_in(&mut tx, vec![booking_lock_text(property_id, record)]).await?;
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
            "SELECT {RESERVATION_COLUMNS} WHERE p.code = $1 AND r.source = $2 AND r.external_id = $3 \
             ORDER BY r.created_at DESC, r.id DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(property.as_str())
            .bind(channel.as_str())
            .bind(ota_reservation_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(reservation_from).transpose()
    }
    async fn find_booking_lines(&self, property: &PropertyCode, channel: &ChannelCode, base: &str) -> Result<Vec<Reservation>, StoreError> {
        // One range on the (property_id, source) index prefix, compared in
        // byte order (COLLATE "C": '$' is the byte after '#', whatever the
        // database collation): every id starting with `base#`, none of
        // `base1…`; no LIKE, so `%` and `_` in ids are plain. The exact line
        // shape is checked after.
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} WHERE p.code = $1 AND r.source = $2 AND (r.external_id = $3 OR (r.external_id COLLATE \"C\" >= $4 AND r.external_id COLLATE \"C\" < $5)) \
             ORDER BY r.created_at DESC, r.id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(property.as_str())
            .bind(channel.as_str())
            .bind(base)
            .bind(format!("{base}#"))
            .bind(format!("{base}$"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let newest_first = rows.iter().map(reservation_from).collect::<Result<Vec<_>, _>>()?;
        Ok(saluran_domain::store::booking_lines(base, newest_first))
    }
    async fn create_task(&self, task: &HousekeepingTask) -> Result<(), StoreError> {
        let property_id = self.property_id(&task.property).await?;
        let room = sqlx::query_scalar::<_, i64>("SELECT 1::int8 FROM rooms WHERE property_id = $1 AND number = $2")
            .bind(property_id)
            .bind(task.room.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        if room.is_none() {
            return Err(StoreError::NotFound(format!("room {}", task.room)));
        }
        sqlx::query(
            "INSERT INTO housekeeping_tasks (id, property_id, room, kind, status, assignee, note, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        .execute(&self.pool)
        .await
        .map_err(db_err_conflict(|| format!("task {}", task.id)))?;
        Ok(())
    }

    async fn update_task(&self, task: &HousekeepingTask, expected: TaskStatus) -> Result<(), StoreError> {
        let property_id = self.property_id(&task.property).await?;
        let done = sqlx::query(
            "UPDATE housekeeping_tasks SET status = $1, assignee = $2, note = $3, updated_at = $4 \
             WHERE id = $5 AND property_id = $6 AND status = $7",
        )
        .bind(task.status.as_str())
        .bind(&task.assignee)
        .bind(&task.note)
        .bind(ts_to_nanos(task.updated_at)?)
        .bind(&task.id)
        .bind(property_id)
        .bind(expected.as_str())
        .execute(&self.pool)
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
             WHERE property_id = $1 AND id = $2",
        )
        .bind(property_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|r| task_from(property, r)).transpose()
    }

    async fn list_tasks(&self, property: &PropertyCode, open_only: bool) -> Result<Vec<HousekeepingTask>, StoreError> {
        let property_id = self.property_id(property).await?;
        let rows = sqlx::query_as::<_, TaskRow>(
            "SELECT id, room, kind, status, assignee, note, created_at, updated_at FROM housekeeping_tasks \
             WHERE property_id = $1 AND ($2 = 0 OR status IN ('open', 'assigned', 'in_progress')) ORDER BY created_at, id",
        )
        .bind(property_id)
        .bind(i32::from(open_only))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(|r| task_from(property, r)).collect()
    }

    async fn get_business_date(&self, property: &PropertyCode) -> Result<Option<Date>, StoreError> {
        let property_id = self.property_id(property).await?;
        let d = sqlx::query_scalar::<_, Option<String>>("SELECT business_date::text FROM properties WHERE id = $1")
            .bind(property_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        d.as_deref().map(parse_date).transpose()
    }

    async fn set_business_date(&self, property: &PropertyCode, date: Date, expected_previous: Option<Date>) -> Result<(), StoreError> {
        let property_id = self.property_id(property).await?;
        let done =
            sqlx::query("UPDATE properties SET business_date = $1::date WHERE id = $2 AND business_date IS NOT DISTINCT FROM $3::date")
                .bind(date_str(date))
                .bind(property_id)
                .bind(expected_previous.map(date_str))
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("business date of {property} changed (expected {expected_previous:?})")));
        }
        Ok(())
    }
}
