//! The SQL both adapters share, written once.
//!
//! `shared_adapter!(StoreType)` expands, inside an adapter module, to a
//! module `shared` holding every query whose text and logic are the same on
//! SQLite and PostgreSQL, and the `Store` implementation built from them.
//! It is a macro rather than generic code over `sqlx::Database` so that each
//! backend still compiles to its own concrete, statically typed queries (no
//! trait-bound maze, no dynamic dispatch, the same prepared statements as
//! before).
//!
//! Placeholders are `$N` on both (sqlx-sqlite maps `$N` to argument N, so
//! one text serves both and a parameter can be used twice). What really
//! differs is the adapter module's "dialect", which the expansion uses:
//! - given to the macro: the sqlx types, `int` (the Rust type bound to an
//!   `INTEGER` column), and
//! - `date`, `json`: the cast a `'YYYY-MM-DD'` / JSON text parameter needs
//!   (`::date`, `::jsonb` on PostgreSQL, nothing on SQLite); stored dates and
//!   JSON are read back with `CAST(x AS TEXT)`, which both understand;
//! - `bytes`: what makes `ORDER BY` compare text bytewise (`COLLATE "C"` on
//!   PostgreSQL; SQLite's BINARY collation already does);
//! - defined in the adapter module: `get_decimal`, `get_opt_decimal`,
//!   `dec` (how a decimal is bound);
//! - the store's `writer()`, `reader()`, `begin_write()`, `begin_read()`
//!   (SQLite: one writer connection and `BEGIN IMMEDIATE`, a reader pool;
//!   PostgreSQL: one pool, REPEATABLE READ snapshots for reads);
//! - `lock_bookings_in` (PostgreSQL advisory locks; nothing on SQLite, whose
//!   single writer already serializes), and the bulk writes each backend
//!   does its own way (`upsert_inventory`, `upsert_rates`, `insert_events`,
//!   `mark_intents_done`, `insert_mappings`);
//! - `commit_shard`'s transport (SQLite's group-commit writer task,
//!   PostgreSQL's own transaction), on top of the shared `apply_commit`.

macro_rules! shared_adapter {
    (
        $store:ident, $backend:literal, db = $db:ty, row = $row:ty, conn = $conn:ty, int = $int:ty,
        date = $date:literal, json = $json:literal, bytes = $bytes:literal
    ) => {
        /// Queries and the `Store` implementation shared with the other
        /// adapter (see `store/sql.rs`).
        pub(super) mod shared {
            use super::*;
            const BACKEND: &str = $backend;
            type Db = $db;
            type DbRow = $row;
            type Conn = $conn;
            type Int = $int;
            const DATE: &str = $date;
            const JSON: &str = $json;
            const BYTES: &str = $bytes;
            use crate::store::*;
            use async_trait::async_trait;
            use jiff::civil::Date;
            use saluran_domain::calendar::{InventoryDay, RateDay, RoomTypeCalendar, StopSellSource};
            use saluran_domain::channel::{ChannelConfig, DeadLetter, InboundAction, InboundOutcome, InboundRecord, Profile, SyncStatus};
            use saluran_domain::housekeeping::{HousekeepingTask, TaskStatus};
            use saluran_domain::property::{
                Adjustment, Derivation, Property, PropertyConfig, RatePlan, Role, Room, RoomStatus, RoomType, TokenScope,
            };
            use saluran_domain::reservation::{Reservation, ReservationStatus};
            use saluran_domain::store::*;
            use saluran_domain::{ChannelCode, Currency, PropertyCode, RatePlanCode, RoomNumber, RoomTypeCode, TenantCode};
            use sqlx::{Decode, Row, Type};
            use std::collections::HashMap;

            pub(crate) fn get<'r, T>(row: &'r DbRow, i: usize) -> Result<T, StoreError>
            where
                T: Decode<'r, Db> + Type<Db>,
            {
                row.try_get::<T, _>(i).map_err(db_err)
            }

            const RESERVATION_COLUMNS: &str = "r.id, p.code, rt.code, r.rate_plan, CAST(r.check_in AS TEXT), \
                 CAST(r.check_out AS TEXT), r.adults, r.guest_name, r.status, r.currency, r.total, CAST(r.nightly AS TEXT), \
                 r.source, r.external_id, r.revision, r.overbooked, r.created_at, r.updated_at, r.checked_in_at, \
                 r.checked_out_at, r.room, r.outside_horizon, CAST(r.calendar_from AS TEXT), CAST(r.calendar_to AS TEXT) \
                 FROM reservations r JOIN properties p ON p.id = r.property_id JOIN room_types rt ON rt.id = r.room_type_id";

            const TASK_COLUMNS: &str = "id, room, kind, status, assignee, note, created_at, updated_at FROM housekeeping_tasks";

            /// A `TASK_COLUMNS` row.
            fn task_from(row: &DbRow, property: &PropertyCode) -> Result<HousekeepingTask, StoreError> {
                Ok(HousekeepingTask {
                    id: get(row, 0)?,
                    property: property.clone(),
                    room: code_at(row, 1, RoomNumber::try_from)?,
                    kind: get(row, 2)?,
                    status: enum_at(row, 3, "task status", TaskStatus::parse)?,
                    assignee: get(row, 4)?,
                    note: get(row, 5)?,
                    created_at: ts_at(row, 6)?,
                    updated_at: ts_at(row, 7)?,
                })
            }

            fn code_at<T>(row: &DbRow, i: usize, parse: fn(String) -> Result<T, saluran_domain::DomainError>) -> Result<T, StoreError> {
                parse_code(parse, get(row, i)?)
            }

            fn date_at(row: &DbRow, i: usize) -> Result<Date, StoreError> {
                parse_date(&get::<String>(row, i)?)
            }

            fn ts_at(row: &DbRow, i: usize) -> Result<jiff::Timestamp, StoreError> {
                ts_from_nanos(get(row, i)?)
            }

            fn opt_ts_at(row: &DbRow, i: usize) -> Result<Option<jiff::Timestamp>, StoreError> {
                get::<Option<i64>>(row, i)?.map(ts_from_nanos).transpose()
            }

            /// A text column naming a value of a domain enum, `what` naming the
            /// column when the text is none of them.
            fn enum_at<T>(row: &DbRow, i: usize, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
                let s: String = get(row, i)?;
                parse(&s).ok_or_else(|| corrupt(format!("{what} {s:?}")))
            }

            /// An `INTEGER` column narrowed to the domain's width: read as `Int`
            /// because sqlx decodes PostgreSQL's int4 only into `i32`.
            fn int_at<T: TryFrom<Int>>(row: &DbRow, i: usize, what: &str) -> Result<T, StoreError> {
                let v: Int = get(row, i)?;
                T::try_from(v).map_err(|_| corrupt(format!("{what} {v} out of range")))
            }

            fn opt_int_at<T: TryFrom<Int>>(row: &DbRow, i: usize, what: &str) -> Result<Option<T>, StoreError> {
                if get::<Option<Int>>(row, i)?.is_none() {
                    return Ok(None);
                }
                int_at(row, i, what).map(Some)
            }

            /// Four columns from `i`: code, name, max_occupancy, physical_rooms.
            fn room_type_at(row: &DbRow, i: usize) -> Result<RoomType, StoreError> {
                Ok(RoomType {
                    code: code_at(row, i, RoomTypeCode::try_from)?,
                    name: get(row, i + 1)?,
                    max_occupancy: int_at(row, i + 2, "max_occupancy")?,
                    physical_rooms: int_at(row, i + 3, "physical_rooms")?,
                })
            }

            /// A `RESERVATION_COLUMNS` row.
            fn reservation_from(row: &DbRow) -> Result<Reservation, StoreError> {
                Ok(Reservation {
                    id: get(row, 0)?,
                    property: code_at(row, 1, PropertyCode::try_from)?,
                    room_type: code_at(row, 2, RoomTypeCode::try_from)?,
                    rate_plan: code_at(row, 3, RatePlanCode::try_from)?,
                    check_in: date_at(row, 4)?,
                    check_out: date_at(row, 5)?,
                    adults: int_at(row, 6, "adults")?,
                    guest_name: get(row, 7)?,
                    status: enum_at(row, 8, "reservation status", ReservationStatus::parse)?,
                    currency: enum_at(row, 9, "currency", |s| Currency::parse(s).ok())?,
                    total: get_decimal(row, 10)?,
                    nightly: json_parse(&get::<String>(row, 11)?, "reservation nightly rates")?,
                    source: get(row, 12)?,
                    external_id: get(row, 13)?,
                    revision: u32::try_from(get::<i64>(row, 14)?).map_err(|_| corrupt("reservation revision out of range"))?,
                    overbooked: get(row, 15)?,
                    created_at: ts_at(row, 16)?,
                    updated_at: ts_at(row, 17)?,
                    checked_in_at: opt_ts_at(row, 18)?,
                    checked_out_at: opt_ts_at(row, 19)?,
                    room: get::<Option<String>>(row, 20)?.map(|n| parse_code(RoomNumber::try_from, n)).transpose()?,
                    outside_horizon: get(row, 21)?,
                    calendar_nights: date_range(get(row, 22)?, get(row, 23)?, "reservation calendar nights")?,
                })
            }

            /// A `rate_plans` row: (any), code, name, derived_parent,
            /// adjustment_kind, adjustment_value.
            fn rate_plan_from(row: &DbRow, room_type: RoomTypeCode) -> Result<RatePlan, StoreError> {
                let code: String = get(row, 1)?;
                let kind: Option<String> = get(row, 4)?;
                let derived = match (get::<Option<String>>(row, 3)?, kind.as_deref(), get_opt_decimal(row, 5)?) {
                    (None, None, None) => None,
                    (Some(parent), Some(kind), Some(v)) => Some(Derivation {
                        parent: parse_code(RatePlanCode::try_from, parent)?,
                        adjustment: Adjustment::from_kind(kind, v).ok_or_else(|| corrupt(format!("adjustment kind {kind:?}")))?,
                    }),
                    _ => return Err(corrupt(format!("rate plan {code}: incomplete derivation"))),
                };
                Ok(RatePlan {
                    code: parse_code(RatePlanCode::try_from, code)?,
                    room_type,
                    name: get(row, 2)?,
                    derived,
                })
            }

            pub(crate) async fn room_type_id_in(conn: &mut Conn, property_id: i64, code: &RoomTypeCode) -> Result<i64, StoreError> {
                sqlx::query_scalar::<_, i64>("SELECT id FROM room_types WHERE property_id = $1 AND code = $2")
                    .bind(property_id)
                    .bind(code.as_str())
                    .fetch_optional(conn)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| StoreError::NotFound(format!("room type {code}")))
            }

            /// The rate plan id of every rate cell of `commit`, in key order
            /// (`NotFound` for a plan the room type does not have).
            pub(crate) async fn rate_plan_ids(conn: &mut Conn, room_type_id: i64, commit: &ShardCommit) -> Result<Vec<i64>, StoreError> {
                let sql = "SELECT id, code FROM rate_plans WHERE room_type_id = $1";
                let ids: HashMap<String, i64> = sqlx::query_as::<_, (i64, String)>(sql)
                    .bind(room_type_id)
                    .fetch_all(conn)
                    .await
                    .map_err(db_err)?
                    .into_iter()
                    .map(|(id, code)| (code, id))
                    .collect();
                let room_type = commit.room_type.as_ref().map(|c| c.as_str()).unwrap_or_default();
                commit
                    .changes
                    .rates
                    .keys()
                    .map(|(code, _)| {
                        ids.get(code.as_str())
                            .copied()
                            .ok_or_else(|| StoreError::NotFound(format!("rate plan {code} of room type {room_type}")))
                    })
                    .collect()
            }

            /// Records one OTA delivery on `conn` (in the caller's transaction, if any):
            /// `NotFound` for an unknown channel, `Conflict` for a duplicate
            /// (channel, OTA id, revision, action). On PostgreSQL a concurrent
            /// transaction inserting the same key makes this one wait for its outcome.
            pub(crate) async fn insert_inbound_in(conn: &mut Conn, property_id: i64, r: &InboundRecord) -> Result<(), StoreError> {
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
                touched(inserted.rows_affected(), || format!("channel {}/{}", r.property, r.channel))
            }

            /// Checks `guard` for `r` on `conn`, inside the caller's write
            /// transaction (on PostgreSQL after `lock_bookings_in` took the
            /// booking's lock; see there and the SQLite adapter for why nothing
            /// can slip between this check and the caller's writes): `Conflict`
            /// (`cancelled_meanwhile` / `booking_exists`) when it does not hold.
            pub(crate) async fn check_guard_in(
                conn: &mut Conn,
                property_id: i64,
                r: &InboundRecord,
                guard: Guard,
            ) -> Result<(), StoreError> {
                let sql = match guard {
                    Guard::NotCancelled => {
                        "SELECT 1 FROM inbound_bookings i JOIN channels c ON c.id = i.channel_id \
                         WHERE c.property_id = $1 AND c.code = $2 AND i.ota_reservation_id = $3 \
                         AND i.action = 'cancel' AND i.outcome = 'applied' LIMIT 1"
                    }
                    Guard::NoBooking => "SELECT 1 FROM reservations WHERE property_id = $1 AND source = $2 AND external_id = $3 LIMIT 1",
                };
                let found = sqlx::query(sql)
                    .bind(property_id)
                    .bind(r.channel.as_str())
                    .bind(&r.ota_reservation_id)
                    .fetch_optional(conn)
                    .await
                    .map_err(db_err)?;
                match (found, guard) {
                    (None, _) => Ok(()),
                    (Some(_), Guard::NotCancelled) => Err(StoreError::Conflict(Conflict::cancelled_meanwhile(r))),
                    (Some(_), Guard::NoBooking) => Err(StoreError::Conflict(Conflict::booking_exists(r))),
                }
            }

            async fn upsert_reservation(
                conn: &mut Conn,
                property_id: i64,
                room_type_id: i64,
                r: &Reservation,
                now: i64,
            ) -> Result<(), StoreError> {
                // Bound below in this order; a reservation never moves to another property.
                static UPSERT: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
                    let cols = ["id", "property_id", "room_type_id", "rate_plan", "check_in", "check_out", "adults", "guest_name",
                        "status", "currency", "total", "nightly", "source", "external_id", "revision", "overbooked", "created_at",
                        "updated_at", "checked_in_at", "checked_out_at", "room", "outside_horizon", "calendar_from", "calendar_to"];
                    upsert("reservations", &cols, "id", 2)
                });
                let (into, on_conflict) = &*UPSERT;
                let sql = format!(
                    "{into} VALUES ($1, $2, $3, $4, $5{DATE}, $6{DATE}, $7, $8, $9, $10, $11, $12{JSON}, $13, $14, \
                     $15, $16, $17, $18, $19, $20, $21, $22, $23{DATE}, $24{DATE}) \
                     {on_conflict} WHERE reservations.property_id = EXCLUDED.property_id"
                );
                let result = sqlx::query(&sql)
                    .bind(&r.id)
                    .bind(property_id)
                    .bind(room_type_id)
                    .bind(r.rate_plan.as_str())
                    .bind(date_str(r.check_in))
                    .bind(date_str(r.check_out))
                    .bind(Int::from(r.adults))
                    .bind(&r.guest_name)
                    .bind(r.status.as_str())
                    .bind(r.currency.as_str())
                    .bind(dec(r.total))
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
                    return Err(StoreError::Conflict(Conflict::ReservationOfOtherProperty { id: r.id.clone() }));
                }
                let sql = format!(
                    "INSERT INTO reservation_revisions (reservation_id, revision, snapshot, created_at) \
                     VALUES ($1, $2, $3{JSON}, $4) ON CONFLICT (reservation_id, revision) DO NOTHING"
                );
                sqlx::query(&sql)
                    .bind(&r.id)
                    .bind(i64::from(r.revision))
                    .bind(json_str(r)?)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            /// One shard commit on `conn`, inside the caller's transaction
            /// (SQLite: a SAVEPOINT of the group transaction; PostgreSQL: its
            /// own transaction). On error the caller rolls back.
            pub(crate) async fn apply_commit(
                conn: &mut Conn,
                commit: &ShardCommit,
                property_id: i64,
                other_properties: &HashMap<PropertyCode, i64>,
            ) -> Result<CommitOutcome, StoreError> {
                let room_type = commit.room_type.as_ref().ok_or_else(|| StoreError::NotFound("commit without a room type".into()))?;
                let now = now_nanos();
                // (1) Optimistic concurrency: the version the shard computed
                // from. On PostgreSQL a concurrent committer of the same room
                // type holds the row lock; PostgreSQL waits for it, then
                // re-checks `version` against the committed row, so exactly
                // one of them wins.
                let bumped = sqlx::query_as::<_, (i64, i64)>(
                    "UPDATE room_types SET version = version + 1 WHERE property_id = $1 AND code = $2 AND version = $3 \
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
                // tombstone of a booking stored meanwhile (checked under the
                // bookings' locks, all before this commit writes any of its own
                // records) or a redelivery (duplicate key) fails the commit
                // before anything else is written (the rollback undoes the
                // version bump too). On PostgreSQL the locks are taken after the
                // version row's and before the event counter's: a transaction
                // waiting for one of them holds no lock its holder could need.
                let pid_of = |p: &PropertyCode| other_properties.get(p).copied().unwrap_or(property_id);
                let guards: Vec<(i64, &InboundRecord, Guard)> = commit
                    .inbound
                    .iter()
                    .filter_map(|r| commit_guard(r, &commit.reservations).map(|g| (pid_of(&r.property), r, g)))
                    .collect();
                if !guards.is_empty() {
                    lock_bookings_in(&mut *conn, guards.iter().map(|(pid, r, _)| booking_lock_text(*pid, r)).collect()).await?;
                    for (pid, r, guard) in &guards {
                        check_guard_in(&mut *conn, *pid, r, *guard).await?;
                    }
                }
                for record in &commit.inbound {
                    insert_inbound_in(&mut *conn, pid_of(&record.property), record).await?;
                }

                // (3) Cells.
                upsert_inventory(&mut *conn, room_type_id, commit).await?;
                upsert_rates(&mut *conn, room_type_id, commit).await?;

                // (4) Reservations and their revision history.
                let mut room_type_ids: HashMap<(i64, &RoomTypeCode), i64> = HashMap::new();
                room_type_ids.insert((property_id, room_type), room_type_id);
                for r in &commit.reservations {
                    let pid = pid_of(&r.property);
                    let rtid = match room_type_ids.get(&(pid, &r.room_type)) {
                        Some(id) => *id,
                        None => {
                            let id = room_type_id_in(&mut *conn, pid, &r.room_type).await?;
                            room_type_ids.insert((pid, &r.room_type), id);
                            id
                        }
                    };
                    upsert_reservation(&mut *conn, pid, rtid, r, now).await?;
                }

                // (4b) Room status changes (out of order): each only if the
                // stored room is still what the shard decided from (on
                // PostgreSQL the row lock makes a concurrent writer wait, then
                // re-check).
                let sql = format!(
                    "UPDATE rooms SET status = $1, out_of_order_from = $2{DATE}, out_of_order_to = $3{DATE} \
                     WHERE property_id = $4 AND room_type_id = $5 AND number = $6 AND status = $7 \
                     AND out_of_order_from IS NOT DISTINCT FROM $8{DATE} AND out_of_order_to IS NOT DISTINCT FROM $9{DATE}"
                );
                for change in &commit.rooms {
                    let (exp, room) = (&change.expected, &change.room);
                    let done = sqlx::query(&sql)
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
                        // The shard re-reads the room on this conflict.
                        return Err(StoreError::Conflict(Conflict::RoomChanged { number: room.number.clone() }));
                    }
                }

                // (5) Intents this commit completes for this room type.
                if !commit.intents_done.is_empty() {
                    mark_intents_done(&mut *conn, room_type_id, &commit.intents_done).await?;
                }

                // (6) Events, numbered from the property's counter: gap-free
                // because the counter moves in the same transaction as the rows
                // (taken last: on PostgreSQL the row lock serializes this
                // property's commits until ours ends).
                let mut event_seqs = Vec::with_capacity(commit.events.len());
                if !commit.events.is_empty() {
                    let n = i64::try_from(commit.events.len()).map_err(|_| corrupt("too many events"))?;
                    let last =
                        sqlx::query_scalar::<_, i64>("UPDATE properties SET event_seq = event_seq + $1 WHERE id = $2 RETURNING event_seq")
                            .bind(n)
                            .bind(property_id)
                            .fetch_one(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    event_seqs.extend((last - n + 1)..=last);
                    insert_events(&mut *conn, property_id, &event_seqs, &commit.events, now).await?;
                }
                Ok(CommitOutcome { version, event_seqs })
            }

            impl $store {
                /// A property's id and row, on `ex` (the reader, or a read
                /// transaction).
                async fn load_property<'e, E>(&self, ex: E, code: &PropertyCode) -> Result<Option<(i64, Property)>, StoreError>
                where
                    E: sqlx::Executor<'e, Database = Db>,
                {
                    let row = sqlx::query(
                        "SELECT id, tenant, code, name, timezone, currency, night_audit_time, marks_no_shows, \
                         CAST(no_shows_from AS TEXT) FROM properties WHERE code = $1",
                    )
                    .bind(code.as_str())
                    .fetch_optional(ex)
                    .await
                    .map_err(db_err)?;
                    let Some(row) = row else { return Ok(None) };
                    let prop = Property {
                        tenant: code_at(&row, 1, TenantCode::try_from)?,
                        code: code_at(&row, 2, PropertyCode::try_from)?,
                        name: get(&row, 3)?,
                        timezone: get(&row, 4)?,
                        currency: enum_at(&row, 5, "currency", |s| Currency::parse(s).ok())?,
                        night_audit_time: get(&row, 6)?,
                        marks_no_shows: get(&row, 7)?,
                        no_shows_from: get::<Option<String>>(&row, 8)?.as_deref().map(parse_date).transpose()?,
                    };
                    Ok(Some((get(&row, 0)?, prop)))
                }

                pub(crate) async fn property_id(&self, code: &PropertyCode) -> Result<i64, StoreError> {
                    if let Some(id) = self.property_ids.read().get(code.as_str()) {
                        return Ok(*id);
                    }
                    let id = sqlx::query_scalar::<_, i64>("SELECT id FROM properties WHERE code = $1")
                        .bind(code.as_str())
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_err)?
                        .ok_or_else(|| StoreError::NotFound(format!("property {code}")))?;
                    self.property_ids.write().insert(code.as_str().to_owned(), id);
                    Ok(id)
                }

                /// The ids of the commit's property and of every other
                /// property its reservations and deliveries name.
                pub(crate) async fn commit_property_ids(
                    &self,
                    commit: &ShardCommit,
                ) -> Result<(i64, HashMap<PropertyCode, i64>), StoreError> {
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
                    Ok((property_id, other_properties))
                }

                async fn reservations(&self, filter: &str, binds: &[&str]) -> Result<Vec<Reservation>, StoreError> {
                    let sql = format!("SELECT {RESERVATION_COLUMNS} WHERE {filter}");
                    let mut q = sqlx::query(&sql);
                    for b in binds {
                        q = q.bind(*b);
                    }
                    let rows = q.fetch_all(&self.reader).await.map_err(db_err)?;
                    rows.iter().map(reservation_from).collect()
                }
            }

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> &'static str {
                    BACKEND
                }

                async fn ping(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1").execute(&self.reader).await.map_err(db_err)?;
                    Ok(())
                }
            }

            #[async_trait]
            impl TokenStore for $store {
                async fn insert_token(&self, id: &str, hash: &str, scope: &TokenScope) -> Result<(), StoreError> {
                    let properties: Vec<&str> = scope.properties.iter().map(|p| p.as_str()).collect();
                    let sql = format!(
                        "INSERT INTO tokens (id, hash, role, tenant, properties, created_at) VALUES ($1, $2, $3, $4, $5{JSON}, $6)"
                    );
                    sqlx::query(&sql)
                        .bind(id)
                        .bind(hash)
                        .bind(scope.role.as_str())
                        .bind(scope.tenant.as_str())
                        .bind(json_str(&properties)?)
                        .bind(now_nanos())
                        .execute(&self.writer)
                        .await
                        .map_err(db_err_conflict(|| Conflict::exists(format!("token {id}"))))?;
                    Ok(())
                }

                async fn find_token(&self, hash: &str) -> Result<Option<TokenScope>, StoreError> {
                    let row = sqlx::query_as::<_, (String, String, String)>(
                        "SELECT role, tenant, CAST(properties AS TEXT) FROM tokens WHERE hash = $1",
                    )
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
            }

            #[async_trait]
            impl SetupStore for $store {
                async fn create_property(&self, p: &Property) -> Result<(), StoreError> {
                    let sql = format!(
                        "INSERT INTO properties (code, tenant, name, timezone, currency, night_audit_time, marks_no_shows, \
                         no_shows_from, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8{DATE}, $9)"
                    );
                    sqlx::query(&sql)
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
                        .map_err(db_err_conflict(|| Conflict::exists(format!("property {}", p.code))))?;
                    Ok(())
                }

                async fn find_property(&self, code: &PropertyCode) -> Result<Option<Property>, StoreError> {
                    Ok(self.load_property(&self.reader, code).await?.map(|(_, p)| p))
                }

                async fn set_marks_no_shows(&self, property: &PropertyCode, from: Option<Date>, keep_date: bool) -> Result<(), StoreError> {
                    // One statement: the right-hand sides see the row as it was, so an
                    // already-on property keeps its date, whoever turned it on.
                    let sql = format!(
                        "UPDATE properties SET \
                         no_shows_from = CASE WHEN $1{DATE} IS NULL THEN NULL \
                         WHEN marks_no_shows AND $3 THEN COALESCE(no_shows_from, $1{DATE}) ELSE $1{DATE} END, \
                         marks_no_shows = ($1{DATE} IS NOT NULL) WHERE code = $2"
                    );
                    let done = sqlx::query(&sql)
                        .bind(from.map(date_str))
                        .bind(property.as_str())
                        .bind(keep_date)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    touched(done.rows_affected(), || format!("property {property}"))
                }

                async fn count_properties(&self) -> Result<i64, StoreError> {
                    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM properties").fetch_one(&self.reader).await.map_err(db_err)
                }

                async fn create_room_type(&self, property: &PropertyCode, rt: &RoomType) -> Result<(), StoreError> {
                    let property_id = self.property_id(property).await?;
                    let sql = "INSERT INTO room_types (property_id, code, name, max_occupancy, physical_rooms) VALUES ($1, $2, $3, $4, $5)";
                    sqlx::query(sql)
                        .bind(property_id)
                        .bind(rt.code.as_str())
                        .bind(&rt.name)
                        .bind(Int::from(rt.max_occupancy))
                        .bind(Int::from(rt.physical_rooms))
                        .execute(&self.writer)
                        .await
                        .map_err(db_err_conflict(|| Conflict::exists(format!("room type {}", rt.code))))?;
                    Ok(())
                }

                async fn create_room(&self, property: &PropertyCode, room: &Room) -> Result<(), StoreError> {
                    let property_id = self.property_id(property).await?;
                    let mut tx = self.begin_write().await?;
                    let room_type_id = room_type_id_in(&mut tx, property_id, &room.room_type).await?;
                    sqlx::query("INSERT INTO rooms (property_id, room_type_id, number, floor, status) VALUES ($1, $2, $3, $4, $5)")
                        .bind(property_id)
                        .bind(room_type_id)
                        .bind(room.number.as_str())
                        .bind(Int::from(room.floor))
                        .bind(room.status.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err_conflict(|| Conflict::exists(format!("room {}", room.number))))?;
                    sqlx::query("UPDATE room_types SET physical_rooms = physical_rooms + 1, version = version + 1 WHERE id = $1")
                        .bind(room_type_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    tx.commit().await.map_err(db_err)
                }

                async fn set_room_status(
                    &self,
                    property: &PropertyCode,
                    number: &RoomNumber,
                    status: RoomStatus,
                ) -> Result<(), StoreError> {
                    let property_id = self.property_id(property).await?;
                    let done = sqlx::query("UPDATE rooms SET status = $1 WHERE property_id = $2 AND number = $3")
                        .bind(status.as_str())
                        .bind(property_id)
                        .bind(number.as_str())
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    touched(done.rows_affected(), || format!("room {number}"))
                }

                async fn create_rate_plan(&self, property: &PropertyCode, plan: &RatePlan) -> Result<(), StoreError> {
                    let property_id = self.property_id(property).await?;
                    let mut tx = self.begin_write().await?;
                    let room_type_id = room_type_id_in(&mut tx, property_id, &plan.room_type).await?;
                    if let Some(der) = &plan.derived {
                        let parent = sqlx::query("SELECT id FROM rate_plans WHERE property_id = $1 AND room_type_id = $2 AND code = $3")
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
                    let adjustment = plan.derived.as_ref().map(|d| d.adjustment);
                    sqlx::query(
                        "INSERT INTO rate_plans (property_id, room_type_id, code, name, derived_parent, adjustment_kind, \
                         adjustment_value) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(property_id)
                    .bind(room_type_id)
                    .bind(plan.code.as_str())
                    .bind(&plan.name)
                    .bind(plan.derived.as_ref().map(|d| d.parent.as_str()))
                    .bind(adjustment.map(|a| a.kind()))
                    .bind(adjustment.map(|a| dec(a.value())))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err_conflict(|| Conflict::exists(format!("rate plan {}", plan.code))))?;
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
                    let mut tx = self.begin_read().await?;
                    let Some((property_id, prop)) = self.load_property(&mut *tx, property).await? else { return Ok(None) };

                    let sql = "SELECT code, name, max_occupancy, physical_rooms FROM room_types WHERE property_id = $1 ORDER BY id";
                    let room_types = sqlx::query(sql)
                        .bind(property_id)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_err)?
                        .iter()
                        .map(|row| room_type_at(row, 0))
                        .collect::<Result<Vec<_>, _>>()?;

                    let rooms = sqlx::query(
                        "SELECT r.number, rt.code, r.floor, r.status, CAST(r.out_of_order_from AS TEXT), CAST(r.out_of_order_to AS TEXT) \
                         FROM rooms r JOIN room_types rt ON rt.id = r.room_type_id \
                         WHERE r.property_id = $1 ORDER BY r.id",
                    )
                    .bind(property_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(|row| {
                        Ok(Room {
                            number: parse_code(RoomNumber::try_from, get(row, 0)?)?,
                            room_type: parse_code(RoomTypeCode::try_from, get(row, 1)?)?,
                            floor: int_at(row, 2, "floor")?,
                            status: enum_at(row, 3, "room status", |s| RoomStatus::parse(s).ok())?,
                            out_of_order: date_range(get(row, 4)?, get(row, 5)?, "room out of order range")?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;

                    let rate_plans = sqlx::query(
                        "SELECT rt.code, rp.code, rp.name, rp.derived_parent, rp.adjustment_kind, rp.adjustment_value \
                         FROM rate_plans rp JOIN room_types rt ON rt.id = rp.room_type_id WHERE rp.property_id = $1 ORDER BY rp.id",
                    )
                    .bind(property_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(|row| rate_plan_from(row, code_at(row, 0, RoomTypeCode::try_from)?))
                    .collect::<Result<Vec<_>, _>>()?;
                    tx.commit().await.map_err(db_err)?;
                    Ok(Some(PropertyConfig { property: prop, room_types, rooms, rate_plans }))
                }
            }

            #[async_trait]
            impl CalendarStore for $store {
                async fn load_calendar_until(
                    &self,
                    property: &PropertyCode,
                    room_type: &RoomTypeCode,
                    from: Date,
                    to: Date,
                ) -> Result<RoomTypeCalendar, StoreError> {
                    let from = date_str(from);
                    let to = date_str(to);
                    let mut tx = self.begin_read().await?;
                    let row = sqlx::query(
                        "SELECT rt.id, rt.code, rt.name, rt.max_occupancy, rt.physical_rooms, rt.version \
                         FROM room_types rt JOIN properties p ON p.id = rt.property_id WHERE p.code = $1 AND rt.code = $2",
                    )
                    .bind(property.as_str())
                    .bind(room_type.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let Some(row) = row else {
                        return Err(StoreError::NotFound(format!("room type {property}/{room_type}")));
                    };
                    let (room_type_id, version): (i64, i64) = (get(&row, 0)?, get(&row, 5)?);
                    let rt = room_type_at(&row, 1)?;

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
                        plans.push(rate_plan_from(row, rt.code.clone())?);
                    }
                    let mut cal = RoomTypeCalendar::new(rt, plans);
                    cal.version = version;

                    let sql = format!(
                        "SELECT CAST(day AS TEXT), out_of_order, sold, held, allotment, stop_sell, stop_sell_source FROM inventory_days \
                         WHERE room_type_id = $1 AND day >= $2{DATE} AND day <= $3{DATE} ORDER BY day"
                    );
                    let inv_rows = sqlx::query(&sql).bind(room_type_id).bind(&from).bind(&to).fetch_all(&mut *tx).await.map_err(db_err)?;
                    for row in &inv_rows {
                        let day = parse_date(&get::<String>(row, 0)?)?;
                        let inv = InventoryDay {
                            out_of_order: int_at(row, 1, "out_of_order")?,
                            sold: int_at(row, 2, "sold")?,
                            held: int_at(row, 3, "held")?,
                            allotment: opt_int_at(row, 4, "allotment")?,
                            stop_sell: get(row, 5)?,
                            stop_sell_source: enum_at(row, 6, "stop_sell_source", StopSellSource::parse)?,
                        };
                        cal.inventory.set(day, inv);
                    }

                    let sql = format!(
                        "SELECT rd.rate_plan_id, CAST(rd.day AS TEXT), rd.rate, CAST(rd.occupancy_rates AS TEXT), rd.min_stay_arrival, \
                         rd.min_stay_through, rd.max_stay, rd.closed_to_arrival, rd.closed_to_departure, rd.stop_sell \
                         FROM rate_days rd JOIN rate_plans rp ON rp.id = rd.rate_plan_id \
                         WHERE rp.room_type_id = $1 AND rd.day >= $2{DATE} AND rd.day <= $3{DATE} ORDER BY rd.rate_plan_id, rd.day"
                    );
                    let rate_rows = sqlx::query(&sql).bind(room_type_id).bind(&from).bind(&to).fetch_all(&mut *tx).await.map_err(db_err)?;
                    tx.commit().await.map_err(db_err)?;
                    for row in &rate_rows {
                        let plan_id: i64 = get(row, 0)?;
                        let idx = *plan_index.get(&plan_id).ok_or_else(|| corrupt(format!("rate day of unknown plan {plan_id}")))?;
                        let day = parse_date(&get::<String>(row, 1)?)?;
                        let rd = RateDay {
                            rate: get_opt_decimal(row, 2)?,
                            occupancy_rates: occupancy_from_json(get::<Option<String>>(row, 3)?.as_deref())?,
                            min_stay_arrival: opt_int_at(row, 4, "min_stay_arrival")?,
                            min_stay_through: opt_int_at(row, 5, "min_stay_through")?,
                            max_stay: opt_int_at(row, 6, "max_stay")?,
                            closed_to_arrival: get(row, 7)?,
                            closed_to_departure: get(row, 8)?,
                            stop_sell: get(row, 9)?,
                        };
                        if let Some(pc) = cal.plans.get_mut(idx) {
                            pc.days.set(day, rd);
                        }
                    }
                    Ok(cal)
                }

                async fn commit_shard(&self, commit: &ShardCommit) -> Result<CommitOutcome, StoreError> {
                    self.commit_shard_here(commit).await
                }
            }

            #[async_trait]
            impl ReservationStore for $store {
                async fn find_reservation(&self, property: &PropertyCode, id: &str) -> Result<Option<Reservation>, StoreError> {
                    Ok(self.reservations("p.code = $1 AND r.id = $2", &[property.as_str(), id]).await?.into_iter().next())
                }

                async fn list_reservations(
                    &self,
                    property: &PropertyCode,
                    room_type: &RoomTypeCode,
                ) -> Result<Vec<Reservation>, StoreError> {
                    let filter = "p.code = $1 AND rt.code = $2 ORDER BY r.check_in, r.id";
                    self.reservations(filter, &[property.as_str(), room_type.as_str()]).await
                }

                async fn no_show_candidates(
                    &self,
                    property: &PropertyCode,
                    from: Date,
                    closed: Date,
                ) -> Result<Vec<Reservation>, StoreError> {
                    let filter = format!(
                        "p.code = $1 AND r.status = 'confirmed' AND r.checked_in_at IS NULL \
                         AND r.check_in >= $2{DATE} AND r.check_in <= $3{DATE} ORDER BY rt.code{BYTES}, r.check_in, r.id"
                    );
                    self.reservations(&filter, &[property.as_str(), &date_str(from), &date_str(closed)]).await
                }
            }

            #[async_trait]
            impl EventStore for $store {
                async fn events_after(&self, property: &PropertyCode, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
                    let rows = sqlx::query_as::<_, (i64, String, String, i64)>(
                        "SELECT seq, kind, CAST(payload AS TEXT), created_at FROM events \
                         WHERE property_id = (SELECT id FROM properties WHERE code = $1) AND seq > $2 ORDER BY seq LIMIT $3",
                    )
                    .bind(property.as_str())
                    .bind(after)
                    .bind(limit.max(0))
                    .fetch_all(&self.reader)
                    .await
                    .map_err(db_err)?;
                    rows.into_iter()
                        .map(|(seq, kind, payload, created_at)| {
                            let payload = json_parse(&payload, "event payload")?;
                            Ok(StoredEvent { seq, kind, payload, created_at: ts_from_nanos(created_at)? })
                        })
                        .collect()
                }

                async fn insert_intent(&self, property: &PropertyCode, intent: &Intent) -> Result<(), StoreError> {
                    let property_id = self.property_id(property).await?;
                    let payload = json_str(&intent.payload)?;
                    let mut tx = self.begin_write().await?;
                    let sql = format!("INSERT INTO intents (id, property_id, kind, payload, created_at) VALUES ($1, $2, $3, $4{JSON}, $5)");
                    sqlx::query(&sql)
                        .bind(&intent.id)
                        .bind(property_id)
                        .bind(&intent.kind)
                        .bind(payload)
                        .bind(now_nanos())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err_conflict(|| Conflict::exists(format!("intent {}", intent.id))))?;
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
                        "SELECT i.id, i.kind, CAST(i.payload AS TEXT), rt.code FROM intents i \
                         JOIN properties p ON p.id = i.property_id \
                         JOIN intent_room_types irt ON irt.intent_id = i.id \
                         JOIN room_types rt ON rt.id = irt.room_type_id \
                         WHERE p.code = $1 AND irt.done = FALSE ORDER BY i.created_at, i.id, rt.id",
                    )
                    .bind(property.as_str())
                    .fetch_all(&self.reader)
                    .await
                    .map_err(db_err)?;
                    group_intents(rows)
                }
            }

            #[async_trait]
            impl IdempotencyStore for $store {
                async fn idempotency_begin(&self, scope: &str, key: &str, request_hash: &str) -> Result<IdempotencyBegin, StoreError> {
                    // A concurrent INSERT of the same key waits for the first
                    // one's commit (PostgreSQL) or for the single writer
                    // (SQLite), then does nothing: exactly one caller sees a new
                    // row. A concurrent abort can delete the row before the
                    // SELECT; then the INSERT is simply tried again.
                    for _ in 0..3 {
                        let inserted = sqlx::query(
                            "INSERT INTO idempotency_keys (scope, key, request_hash, state, created_at) \
                             VALUES ($1, $2, $3, 'in_progress', $4) ON CONFLICT (scope, key) DO NOTHING",
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
                        let sql =
                            "SELECT request_hash, state, status, body, created_at FROM idempotency_keys WHERE scope = $1 AND key = $2";
                        let row = sqlx::query(sql)
                            .bind(scope)
                            .bind(key)
                            .fetch_optional(&self.reader)
                            .await
                            .map_err(db_err)?;
                        let Some(row) = row else { continue };
                        if get::<String>(&row, 0)? != request_hash {
                            return Ok(IdempotencyBegin::Mismatch);
                        }
                        if get::<String>(&row, 1)? == "done" {
                            let status = opt_int_at(&row, 2, "status")?.ok_or_else(|| corrupt("idempotency key done without a status"))?;
                            let body: Option<Vec<u8>> = get(&row, 3)?;
                            return Ok(IdempotencyBegin::Replay { status, body: body.unwrap_or_default() });
                        }
                        let created_at: i64 = get(&row, 4)?;
                        let age = std::time::Duration::from_nanos(u64::try_from(now_nanos().saturating_sub(created_at)).unwrap_or(0));
                        return Ok(IdempotencyBegin::InProgress { age });
                    }
                    Ok(IdempotencyBegin::InProgress { age: std::time::Duration::ZERO })
                }

                async fn idempotency_complete(&self, scope: &str, key: &str, status: u16, body: &[u8]) -> Result<(), StoreError> {
                    let sql = "UPDATE idempotency_keys SET state = 'done', status = $1, body = $2 WHERE scope = $3 AND key = $4";
                    let done = sqlx::query(sql)
                        .bind(Int::from(status))
                        .bind(body)
                        .bind(scope)
                        .bind(key)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    touched(done.rows_affected(), || format!("idempotency key {key}"))
                }

                async fn idempotency_abort(&self, scope: &str, key: &str) -> Result<(), StoreError> {
                    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_progress'")
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
                    let gone = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                        .bind(cutoff)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    Ok(gone.rows_affected())
                }
            }

            #[async_trait]
            impl ChannelStore for $store {
                async fn create_channel(&self, channel: &ChannelConfig) -> Result<(), StoreError> {
                    let property_id = self.property_id(&channel.property).await?;
                    let mut tx = self.begin_write().await?;
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
                    .map_err(db_err_conflict(|| Conflict::exists(format!("channel {}/{}", channel.property, channel.code))))?;
                    if !channel.mappings.is_empty() {
                        insert_mappings(&mut tx, channel_id, channel).await?;
                    }
                    tx.commit().await.map_err(db_err)
                }

                async fn list_channels(&self, property: &PropertyCode) -> Result<Vec<ChannelConfig>, StoreError> {
                    // One snapshot for the channels and their mappings. Codes
                    // sort bytewise, whatever the database's collation.
                    let mut tx = self.begin_read().await?;
                    let sql = format!(
                        "SELECT c.id, p.code, c.code, c.profile, c.preset, c.endpoint, c.hotel_code, c.sealed_credentials, \
                         c.webhook_username, c.sealed_webhook_secret, c.created_at \
                         FROM channels c JOIN properties p ON p.id = c.property_id WHERE p.code = $1 ORDER BY c.code{BYTES}"
                    );
                    let rows = sqlx::query(&sql).bind(property.as_str()).fetch_all(&mut *tx).await.map_err(db_err)?;
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
                            let channel = ChannelConfig {
                                property: code_at(row, 1, PropertyCode::try_from)?,
                                profile: enum_at(row, 3, "channel profile", Profile::parse)?,
                                code: code_at(row, 2, ChannelCode::try_from)?,
                                preset: get(row, 4)?,
                                endpoint: get(row, 5)?,
                                hotel_code: get(row, 6)?,
                                sealed_credentials: get(row, 7)?,
                                webhook_username: get(row, 8)?,
                                sealed_webhook_secret: get(row, 9)?,
                                mappings: Vec::new(),
                                created_at: ts_at(row, 10)?,
                            };
                            Ok((get(row, 0)?, channel))
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    assemble_channels(channels, mappings)
                }

                async fn save_sync_status(
                    &self,
                    property: &PropertyCode,
                    channel: &ChannelCode,
                    status: &SyncStatus,
                ) -> Result<(), StoreError> {
                    static UPSERT: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
                        let cols = ["channel_id", "pending_cells", "consecutive_failures", "total_failures", "dead_letters",
                            "requests_sent", "last_success_at", "last_attempt_at", "last_error"];
                        upsert("channel_sync_status", &cols, "channel_id", 1)
                    });
                    let (into, on_conflict) = &*UPSERT;
                    let sql = format!(
                        "{into} SELECT c.id, $1, $2, $3, $4, $5, $6, $7, $8 \
                         FROM channels c JOIN properties p ON p.id = c.property_id WHERE p.code = $9 AND c.code = $10 {on_conflict}"
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
                    touched(saved.rows_affected(), || format!("channel {property}/{channel}"))
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
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(db_err)?;
                    row.map(|row| {
                        Ok(SyncStatus {
                            pending_cells: get(&row, 0)?,
                            consecutive_failures: get(&row, 1)?,
                            total_failures: get(&row, 2)?,
                            dead_letters: get(&row, 3)?,
                            requests_sent: get(&row, 4)?,
                            last_success_at: opt_ts_at(&row, 5)?,
                            last_attempt_at: opt_ts_at(&row, 6)?,
                            last_error: get(&row, 7)?,
                        })
                    })
                    .transpose()
                }

                async fn insert_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
                    let sql = format!(
                        "INSERT INTO channel_dead_letters (channel_id, created_at, error, summary) \
                         SELECT c.id, $1, $2, $3{JSON} FROM channels c JOIN properties p ON p.id = c.property_id \
                         WHERE p.code = $4 AND c.code = $5"
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
                    touched(inserted.rows_affected(), || format!("channel {}/{}", letter.property, letter.channel))
                }

                async fn list_channel_properties(&self) -> Result<Vec<PropertyCode>, StoreError> {
                    let sql = format!(
                        "SELECT p.code FROM properties p WHERE EXISTS (SELECT 1 FROM channels c WHERE c.property_id = p.id) \
                         ORDER BY p.code{BYTES}"
                    );
                    sqlx::query_scalar::<_, String>(&sql)
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_err)?
                        .into_iter()
                        .map(|code| parse_code(PropertyCode::try_from, code))
                        .collect()
                }

                async fn channel_queue_totals(&self) -> Result<(i64, i64), StoreError> {
                    // Dead letters are counted where they are stored (one row
                    // each). SUM(bigint) is NUMERIC in PostgreSQL: cast back.
                    sqlx::query_as::<_, (i64, i64)>(
                        "SELECT (SELECT CAST(COALESCE(SUM(pending_cells), 0) AS BIGINT) FROM channel_sync_status), \
                         (SELECT COUNT(*) FROM channel_dead_letters)",
                    )
                    .fetch_one(&self.reader)
                    .await
                    .map_err(db_err)
                }
            }

            #[async_trait]
            impl InboundStore for $store {
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
                    .fetch_all(&self.reader)
                    .await
                    .map_err(db_err)?;
                    rows.iter()
                        .map(|row| {
                            Ok(InboundRecord {
                                property: code_at(row, 0, PropertyCode::try_from)?,
                                channel: code_at(row, 1, ChannelCode::try_from)?,
                                ota_reservation_id: get(row, 2)?,
                                revision: get(row, 3)?,
                                action: enum_at(row, 4, "inbound action", InboundAction::parse)?,
                                reservation_id: get(row, 5)?,
                                outcome: enum_at(row, 6, "inbound outcome", InboundOutcome::parse)?,
                                ack: get(row, 7)?,
                                received_at: ts_at(row, 8)?,
                            })
                        })
                        .collect()
                }

                async fn insert_inbound(&self, record: &InboundRecord) -> Result<(), StoreError> {
                    let property_id = self.property_id(&record.property).await?;
                    if !is_tombstone(record) {
                        let mut conn = self.writer.acquire().await.map_err(db_err)?;
                        return insert_inbound_in(&mut conn, property_id, record).await;
                    }
                    // A tombstone: under the booking's lock (as a shard commit
                    // of it takes), checked and written in one write
                    // transaction, so it lands wholly before or after any shard
                    // commit of the booking. Dropped on error: nothing written.
                    let mut tx = self.begin_write().await?;
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
                    let filter = "p.code = $1 AND r.source = $2 AND r.external_id = $3 ORDER BY r.created_at DESC, r.id DESC LIMIT 1";
                    Ok(self.reservations(filter, &[property.as_str(), channel.as_str(), ota_reservation_id]).await?.into_iter().next())
                }

                async fn find_booking_lines(
                    &self,
                    property: &PropertyCode,
                    channel: &ChannelCode,
                    base: &str,
                ) -> Result<Vec<Reservation>, StoreError> {
                    // One range over the (property_id, source, external_id)
                    // index, compared in byte order (SQLite's BINARY
                    // collation; COLLATE "C" on PostgreSQL, whatever the
                    // database collation): '$' is the byte after '#', so every
                    // id starting with `base#` and none of `base1…`; no LIKE,
                    // so `%` and `_` in ids are plain. The exact line shape is
                    // checked after.
                    let filter = format!(
                        "p.code = $1 AND r.source = $2 \
                         AND (r.external_id = $3 OR (r.external_id{BYTES} >= $4 AND r.external_id{BYTES} < $5)) \
                         ORDER BY r.created_at DESC, r.id DESC"
                    );
                    let (from, to) = (format!("{base}#"), format!("{base}$"));
                    let newest_first = self.reservations(&filter, &[property.as_str(), channel.as_str(), base, &from, &to]).await?;
                    Ok(saluran_domain::store::booking_lines(base, newest_first))
                }
            }

            #[async_trait]
            impl HousekeepingStore for $store {
                async fn create_task(&self, task: &HousekeepingTask) -> Result<(), StoreError> {
                    let property_id = self.property_id(&task.property).await?;
                    // Written only if the room exists: one statement, as for an inbound delivery's channel.
                    let inserted = sqlx::query(
                        "INSERT INTO housekeeping_tasks (id, property_id, room, kind, status, assignee, note, created_at, updated_at) \
                         SELECT $1, r.property_id, r.number, $4, $5, $6, $7, $8, $9 FROM rooms r \
                         WHERE r.property_id = $2 AND r.number = $3",
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
                    .map_err(db_err_conflict(|| Conflict::exists(format!("task {}", task.id))))?;
                    touched(inserted.rows_affected(), || format!("room {}", task.room))
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
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() == 1 {
                        return Ok(());
                    }
                    match self.find_task(&task.property, &task.id).await? {
                        None => Err(StoreError::NotFound(format!("task {}", task.id))),
                        Some(now) => Err(StoreError::Conflict(Conflict::TaskStatus { id: task.id.clone(), actual: now.status, expected })),
                    }
                }

                async fn find_task(&self, property: &PropertyCode, id: &str) -> Result<Option<HousekeepingTask>, StoreError> {
                    // On the writer: a task just updated is read back as it is now.
                    let property_id = self.property_id(property).await?;
                    let row = sqlx::query(&format!("SELECT {TASK_COLUMNS} WHERE property_id = $1 AND id = $2"))
                    .bind(property_id)
                    .bind(id)
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(db_err)?;
                    row.map(|r| task_from(&r, property)).transpose()
                }

                async fn list_tasks(&self, property: &PropertyCode, open_only: bool) -> Result<Vec<HousekeepingTask>, StoreError> {
                    let property_id = self.property_id(property).await?;
                    let sql = format!(
                        "SELECT {TASK_COLUMNS} WHERE property_id = $1 AND ($2 = 0 OR status IN ('open', 'assigned', 'in_progress')) \
                         ORDER BY created_at, id"
                    );
                    let rows = sqlx::query(&sql)
                    .bind(property_id)
                    .bind(i32::from(open_only))
                    .fetch_all(&self.reader)
                    .await
                    .map_err(db_err)?;
                    rows.iter().map(|r| task_from(r, property)).collect()
                }
            }

            #[async_trait]
            impl NightAuditStore for $store {
                async fn get_business_date(&self, property: &PropertyCode) -> Result<Option<Date>, StoreError> {
                    let property_id = self.property_id(property).await?;
                    let d = sqlx::query_scalar::<_, Option<String>>("SELECT CAST(business_date AS TEXT) FROM properties WHERE id = $1")
                        .bind(property_id)
                        .fetch_one(&self.writer)
                        .await
                        .map_err(db_err)?;
                    d.as_deref().map(parse_date).transpose()
                }

                async fn set_business_date(
                    &self,
                    property: &PropertyCode,
                    date: Date,
                    expected_previous: Option<Date>,
                ) -> Result<(), StoreError> {
                    let property_id = self.property_id(property).await?;
                    let sql = format!(
                        "UPDATE properties SET business_date = $1{DATE} WHERE id = $2 AND business_date IS NOT DISTINCT FROM $3{DATE}"
                    );
                    let done = sqlx::query(&sql)
                        .bind(date_str(date))
                        .bind(property_id)
                        .bind(expected_previous.map(date_str))
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    if done.rows_affected() == 0 {
                        let property = property.clone();
                        return Err(StoreError::Conflict(Conflict::BusinessDateChanged { property, expected: expected_previous }));
                    }
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use shared_adapter;
