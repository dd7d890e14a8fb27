//! The store contract: every case is written once against `dyn Store` and
//! runs on every backend `saluran::testing::backends()` provides (SQLite
//! always, PostgreSQL when `SALURAN_TEST_POSTGRES_URL` is set).
//!
//! Run both: `SALURAN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! SALURAN_REQUIRE_SERVICES=1 cargo test -p saluran --test store_contract`

use jiff::civil::{date, Date};
use jiff::Timestamp;
use rust_decimal::Decimal;
use saluran::testing::backends;
use saluran_domain::ari::CellChanges;
use saluran_domain::calendar::{InventoryDay, RateDay, StopSellSource};
use saluran_domain::channel::{ChannelConfig, DeadLetter, InboundAction, InboundOutcome, InboundRecord, Mapping, Profile, SyncStatus};
use saluran_domain::events::EventKind;
use saluran_domain::housekeeping::{HousekeepingTask, TaskStatus};
use saluran_domain::property::{Adjustment, Derivation, Property, RatePlan, Role, Room, RoomStatus, RoomType, TokenScope};
use saluran_domain::reservation::{NightlyRate, Reservation, ReservationStatus};
use saluran_domain::store::{IdempotencyBegin, Intent, NewEvent, ShardCommit, Store, StoreError};
use saluran_domain::{ChannelCode, Currency, PropertyCode, RatePlanCode, RoomNumber, RoomTypeCode, TenantCode};
use serde_json::json;
use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

macro_rules! contract_tests {
    ($($test:ident => $case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            for (backend, store) in backends().await {
                eprintln!("--- {} on {backend}", stringify!($test));
                assert_eq!(store.backend(), backend);
                store.ping().await.unwrap();
                $case(store).await;
            }
        }
    )*};
}

contract_tests! {
    properties_are_created_found_and_unique => case_properties,
    marks_no_shows_and_its_start_date_round_trip_and_change_per_property => case_marks_no_shows,
    setup_round_trips_through_load_config => case_setup,
    committed_cells_load_back_exactly => case_cells_round_trip,
    stale_version_conflicts_and_writes_nothing => case_stale_version,
    commit_with_unknown_targets_is_not_found => case_commit_not_found,
    reservations_upsert_with_revisions => case_reservations,
    event_seqs_are_gap_free_across_room_types => case_event_seqs,
    concurrent_commits_lose_nothing_and_number_events_without_gaps => case_concurrent_commits,
    events_after_pages => case_events_paging,
    intents_stay_pending_until_every_room_type_applied => case_intents,
    tokens_round_trip => case_tokens,
    idempotency_keys => case_idempotency,
    concurrent_idempotency_begins_have_one_winner => case_idempotency_concurrent,
    two_year_commit_of_three_plans_round_trips => case_big_commit_3_plans,
    two_year_commit_of_fifteen_plans_is_fast => case_big_commit_15_plans,
    channels_round_trip_in_code_order_and_are_unique => case_channels,
    sync_status_upserts_and_queue_totals_add_up => case_sync_status_and_totals,
    inbound_deliveries_are_recorded_once_oldest_first => case_inbound,
    commit_records_its_inbound_delivery_or_nothing => case_inbound_commit,
    concurrent_commit_with_duplicate_delivery_fails_alone => case_inbound_concurrent,
    booking_after_its_tombstone_conflicts_and_writes_nothing => case_tombstone_then_booking,
    tombstone_after_its_booking_conflicts_and_writes_nothing => case_booking_then_tombstone,
    racing_booking_and_tombstone_never_both_land => case_booking_tombstone_race,
    commit_of_a_cancelled_booking_fails_alone => case_cancelled_booking_fails_alone,
    channel_properties_are_listed_once_in_code_order => case_channel_properties,
    housekeeping_tasks_round_trip_and_update_optimistically => case_tasks,
    business_date_is_compare_and_set => case_business_date,
    front_desk_state_round_trips => case_front_desk_round_trip,
    no_show_candidates_are_unchecked_confirmed_arrivals_between_the_dates => case_no_show_candidates,
    room_changes_commit_with_their_cells_or_not_at_all => case_room_changes,
    booking_lines_are_found_by_base_id_in_one_query => case_booking_lines,
}

// ---------------------------------------------------------------------------
// Fixtures.

fn pc(s: &str) -> PropertyCode {
    PropertyCode::parse(s).unwrap()
}
fn rtc(s: &str) -> RoomTypeCode {
    RoomTypeCode::parse(s).unwrap()
}
fn rpc(s: &str) -> RatePlanCode {
    RatePlanCode::parse(s).unwrap()
}
fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}
fn day(offset: i64) -> Date {
    date(2027, 1, 1).checked_add(jiff::Span::new().days(offset)).unwrap()
}

const HTL: &str = "HTL1";

fn property(code: &str, tenant: &str) -> Property {
    Property {
        tenant: TenantCode::parse(tenant).unwrap(),
        code: pc(code),
        name: format!("Hotel {code}"),
        timezone: "Asia/Makassar".into(),
        currency: Currency::IDR,
        night_audit_time: "02:30".into(),
        marks_no_shows: false,
        no_shows_from: None,
    }
}

fn room_type(code: &str, max: u8) -> RoomType {
    RoomType { code: rtc(code), name: format!("Room type {code}"), max_occupancy: max, physical_rooms: 0 }
}

fn room(number: &str, rt: &str, floor: i16) -> Room {
    Room { number: RoomNumber::parse(number).unwrap(), room_type: rtc(rt), floor, status: RoomStatus::VacantClean, out_of_order: None }
}

fn plan(code: &str, rt: &str, derived: Option<(&str, Adjustment)>) -> RatePlan {
    RatePlan {
        code: rpc(code),
        room_type: rtc(rt),
        name: format!("Plan {code}"),
        derived: derived.map(|(parent, adjustment)| Derivation { parent: rpc(parent), adjustment }),
    }
}

/// HTL1: DLX (rooms 101, 102; plans BAR, NRF = BAR −10 %, PKG = BAR +150000.5)
/// and STD (room 201; plan SBAR).
async fn setup(store: &Arc<dyn Store>) {
    let p = pc(HTL);
    store.create_property(&property(HTL, "default")).await.unwrap();
    store.create_room_type(&p, &room_type("DLX", 3)).await.unwrap();
    store.create_room_type(&p, &room_type("STD", 2)).await.unwrap();
    store.create_room(&p, &room("101", "DLX", 1)).await.unwrap();
    store.create_room(&p, &room("102", "DLX", 1)).await.unwrap();
    store.create_room(&p, &room("201", "STD", 2)).await.unwrap();
    store.create_rate_plan(&p, &plan("BAR", "DLX", None)).await.unwrap();
    store.create_rate_plan(&p, &plan("NRF", "DLX", Some(("BAR", Adjustment::Percent(dec("-10")))))).await.unwrap();
    store.create_rate_plan(&p, &plan("PKG", "DLX", Some(("BAR", Adjustment::Amount(dec("150000.5")))))).await.unwrap();
    store.create_rate_plan(&p, &plan("SBAR", "STD", None)).await.unwrap();
}

async fn version_of(store: &Arc<dyn Store>, rt: &str) -> i64 {
    store.load_calendar(&pc(HTL), &rtc(rt), day(0)).await.unwrap().version
}

fn commit_for(rt: &str, expected_version: i64) -> ShardCommit {
    ShardCommit { property: Some(pc(HTL)), room_type: Some(rtc(rt)), expected_version, ..Default::default() }
}

fn outcome(s: &str) -> InboundOutcome {
    InboundOutcome::parse(s).expect("a stored outcome")
}

/// The store persists any kind; names these tests made up before kinds
/// were typed (`x`, `booked`, …) are stored as `ari.changed`.
fn event(kind: &str, payload: serde_json::Value) -> NewEvent {
    NewEvent { kind: EventKind::parse(kind).unwrap_or(EventKind::AriChanged), payload }
}

fn reservation(id: &str, rt: &str, revision: u32) -> Reservation {
    let now = Timestamp::now();
    Reservation {
        id: id.into(),
        property: pc(HTL),
        room_type: rtc(rt),
        rate_plan: rpc(if rt == "DLX" { "BAR" } else { "SBAR" }),
        check_in: day(10),
        check_out: day(12),
        adults: 2,
        guest_name: "Putu Ayu Lestari".into(),
        status: ReservationStatus::Confirmed,
        currency: Currency::IDR,
        total: dec("1700001.5"),
        nightly: vec![NightlyRate { date: day(10), rate: dec("850000.5") }, NightlyRate { date: day(11), rate: dec("850001") }],
        source: "booking_com".into(),
        external_id: Some("BDC-4711".into()),
        revision,
        overbooked: false,
        created_at: now,
        updated_at: now,
        checked_in_at: None,
        checked_out_at: None,
        room: None,
        outside_horizon: false,
        calendar_nights: None,
    }
}

fn chc(s: &str) -> ChannelCode {
    ChannelCode::parse(s).unwrap()
}

fn mapping(rt: &str, rp: &str, ota_room: &str, ota_rate: &str) -> Mapping {
    Mapping { room_type: rtc(rt), rate_plan: rpc(rp), ota_room: ota_room.into(), ota_rate: ota_rate.into() }
}

/// A channel of `property` with three mappings (deliberately not in code
/// order) and sealed secrets that are not text (NUL and 0xFF bytes).
fn channel(property: &str, code: &str) -> ChannelConfig {
    ChannelConfig {
        property: pc(property),
        code: chc(code),
        profile: Profile::Opentravel,
        preset: "booking_com".into(),
        endpoint: format!("https://ota.example/{code}/ota"),
        hotel_code: "1234567".into(),
        sealed_credentials: (0..=255u8).rev().collect(),
        webhook_username: format!("saluran-{code}"),
        sealed_webhook_secret: vec![0, 1, 2, 0xff, 0],
        mappings: vec![
            mapping("STD", "SBAR", "ROOM-S", "RATE-1"),
            mapping("DLX", "BAR", "ROOM-D", "RATE-1"),
            mapping("DLX", "NRF", "ROOM-D", "RATE-2"),
        ],
        created_at: Timestamp::now(),
    }
}

fn inbound(channel: &str, ota_id: &str, revision: &str, action: InboundAction, received_at: Timestamp) -> InboundRecord {
    InboundRecord {
        property: pc(HTL),
        channel: chc(channel),
        ota_reservation_id: ota_id.into(),
        revision: revision.into(),
        action,
        reservation_id: None,
        outcome: outcome("applied"),
        ack: format!("<OTA_HotelResNotifRS><Success/><!-- {ota_id} {revision} --></OTA_HotelResNotifRS>"),
        received_at,
    }
}

fn secs(t: Timestamp, s: i64) -> Timestamp {
    t.checked_add(jiff::SignedDuration::from_secs(s)).unwrap()
}

/// A reservation made from OTA booking `ota_id` of channel `channel`.
fn ota_reservation(id: &str, rt: &str, channel: &str, ota_id: &str) -> Reservation {
    Reservation { source: channel.into(), external_id: Some(ota_id.into()), ..reservation(id, rt, 1) }
}

/// One sold room on `day(10)` of `rt`, a reservation, an event and an OTA
/// delivery, committed together.
fn booking_commit(rt: &str, version: i64, res: Reservation, delivery: InboundRecord) -> ShardCommit {
    let mut changes = CellChanges::default();
    changes.inventory.insert(day(10), InventoryDay { sold: 1, ..Default::default() });
    ShardCommit {
        changes,
        events: vec![event("reservation.created", json!({ "id": res.id }))],
        reservations: vec![res],
        inbound: vec![delivery],
        ..commit_for(rt, version)
    }
}

fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>, what: &str) {
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{what}: expected NotFound, got {r:?}");
}
fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, what: &str) {
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{what}: expected Conflict, got {r:?}");
}

// ---------------------------------------------------------------------------
// Cases.

async fn case_properties(store: Arc<dyn Store>) {
    assert_eq!(store.count_properties().await.unwrap(), 0);
    assert_eq!(store.find_property(&pc(HTL)).await.unwrap(), None);
    assert_eq!(store.load_config(&pc(HTL)).await.unwrap(), None);

    let p = property(HTL, "default");
    store.create_property(&p).await.unwrap();
    assert_eq!(store.find_property(&pc(HTL)).await.unwrap(), Some(p.clone()));
    assert_conflict(store.create_property(&p).await, "same code");
    let mut other_tenant = property(HTL, "acme");
    other_tenant.name = "Elsewhere".into();
    assert_conflict(store.create_property(&other_tenant).await, "property codes are global");

    let q = property("HTL2", "acme");
    store.create_property(&q).await.unwrap();
    assert_eq!(store.count_properties().await.unwrap(), 2);
    assert_eq!(store.find_property(&pc("HTL2")).await.unwrap(), Some(q));

    let config = store.load_config(&pc(HTL)).await.unwrap().unwrap();
    assert_eq!(config.property, p);
    assert!(config.room_types.is_empty() && config.rooms.is_empty() && config.rate_plans.is_empty());
}

async fn case_marks_no_shows(store: Arc<dyn Store>) {
    let marking = |code: &str| {
        let store = store.clone();
        let code = pc(code);
        async move {
            let found = store.find_property(&code).await.unwrap().unwrap();
            let loaded = store.load_config(&code).await.unwrap().unwrap().property;
            let found = (found.marks_no_shows, found.no_shows_from);
            assert_eq!(found, (loaded.marks_no_shows, loaded.no_shows_from), "find_property and load_config agree on {code}");
            found
        }
    };
    let on = Property { marks_no_shows: true, no_shows_from: Some(day(3)), ..property(HTL, "default") };
    store.create_property(&on).await.unwrap();
    store.create_property(&property("HTL2", "default")).await.unwrap();
    assert_eq!(store.find_property(&pc(HTL)).await.unwrap(), Some(on));
    assert_eq!(marking(HTL).await, (true, Some(day(3))));
    assert_eq!(marking("HTL2").await, (false, None));

    store.set_marks_no_shows(&pc("HTL2"), Some(day(5)), true).await.unwrap();
    assert_eq!(marking("HTL2").await, (true, Some(day(5))));
    store.set_marks_no_shows(&pc("HTL2"), Some(day(7)), true).await.unwrap();
    assert_eq!(marking("HTL2").await, (true, Some(day(5))), "already on: the date marking began is kept");
    store.set_marks_no_shows(&pc("HTL2"), Some(day(2)), false).await.unwrap();
    assert_eq!(marking("HTL2").await, (true, Some(day(2))), "without keep_date the given date replaces it");
    store.set_marks_no_shows(&pc("HTL2"), Some(day(5)), true).await.unwrap();
    assert_eq!(marking("HTL2").await, (true, Some(day(2))));
    store.set_marks_no_shows(&pc(HTL), None, true).await.unwrap();
    assert_eq!(marking(HTL).await, (false, None), "off clears the date");
    assert_eq!(marking("HTL2").await, (true, Some(day(2))), "one property's setting leaves the other's alone");
    store.set_marks_no_shows(&pc(HTL), Some(day(8)), true).await.unwrap();
    assert_eq!(marking(HTL).await, (true, Some(day(8))), "off then on: marking begins again on the new date");

    // On without a date (written by hand): turning it on gives it one.
    store.create_property(&Property { marks_no_shows: true, ..property("HTL3", "default") }).await.unwrap();
    assert_eq!(marking("HTL3").await, (true, None));
    store.set_marks_no_shows(&pc("HTL3"), Some(day(4)), true).await.unwrap();
    assert_eq!(marking("HTL3").await, (true, Some(day(4))));

    let unknown = store.set_marks_no_shows(&pc("NOPE"), Some(day(1)), true).await;
    assert!(matches!(unknown, Err(StoreError::NotFound(_))), "{unknown:?}");
    let unknown = store.set_marks_no_shows(&pc("NOPE"), None, true).await;
    assert!(matches!(unknown, Err(StoreError::NotFound(_))), "{unknown:?}");
}

async fn case_setup(store: Arc<dyn Store>) {
    let p = pc(HTL);
    assert_not_found(store.create_room_type(&p, &room_type("DLX", 3)).await, "room type of unknown property");
    store.create_property(&property(HTL, "default")).await.unwrap();
    store.create_room_type(&p, &room_type("DLX", 3)).await.unwrap();
    assert_conflict(store.create_room_type(&p, &room_type("DLX", 2)).await, "duplicate room type");
    store.create_room_type(&p, &room_type("STD", 2)).await.unwrap();
    // Codes are unique per property only.
    store.create_property(&property("HTL2", "default")).await.unwrap();
    store.create_room_type(&pc("HTL2"), &room_type("DLX", 2)).await.unwrap();
    store.create_room(&pc("HTL2"), &room("101", "DLX", 1)).await.unwrap();
    store.create_rate_plan(&pc("HTL2"), &plan("BAR", "DLX", None)).await.unwrap();

    // Rooms: physical count and calendar version go up together.
    let v0 = version_of(&store, "DLX").await;
    store.create_room(&p, &room("101", "DLX", 1)).await.unwrap();
    assert_eq!(version_of(&store, "DLX").await, v0 + 1);
    store.create_room(&p, &room("102", "DLX", 1)).await.unwrap();
    store.create_room(&p, &room("201", "STD", 2)).await.unwrap();
    assert_eq!(version_of(&store, "DLX").await, v0 + 2);
    assert_conflict(store.create_room(&p, &room("101", "STD", 1)).await, "duplicate room number");
    assert_not_found(store.create_room(&p, &room("301", "SUITE", 3)).await, "room of unknown room type");
    assert_not_found(store.create_room(&pc("NOPE"), &room("301", "DLX", 3)).await, "room of unknown property");
    assert_eq!(version_of(&store, "DLX").await, v0 + 2, "failed creations change nothing");

    // Rate plans, base and derived.
    store.create_rate_plan(&p, &plan("BAR", "DLX", None)).await.unwrap();
    let v1 = version_of(&store, "DLX").await;
    store.create_rate_plan(&p, &plan("NRF", "DLX", Some(("BAR", Adjustment::Percent(dec("-12.5")))))).await.unwrap();
    assert_eq!(version_of(&store, "DLX").await, v1 + 1, "a new plan invalidates the shard's calendar");
    store.create_rate_plan(&p, &plan("PKG", "DLX", Some(("BAR", Adjustment::Amount(dec("150000.5")))))).await.unwrap();
    store.create_rate_plan(&p, &plan("SBAR", "STD", None)).await.unwrap();
    assert_conflict(store.create_rate_plan(&p, &plan("BAR", "STD", None)).await, "plan codes are unique per property");
    assert_not_found(store.create_rate_plan(&p, &plan("X", "SUITE", None)).await, "plan of unknown room type");
    assert_not_found(
        store.create_rate_plan(&p, &plan("Y", "DLX", Some(("GONE", Adjustment::Percent(dec("5")))))).await,
        "derived plan of unknown parent",
    );
    assert_not_found(
        store.create_rate_plan(&p, &plan("Z", "STD", Some(("BAR", Adjustment::Percent(dec("5")))))).await,
        "derived plan whose parent belongs to another room type",
    );

    // Room status.
    store.set_room_status(&p, &RoomNumber::parse("102").unwrap(), RoomStatus::OutOfOrder).await.unwrap();
    assert_not_found(store.set_room_status(&p, &RoomNumber::parse("999").unwrap(), RoomStatus::Inspected).await, "status of unknown room");

    let config = store.load_config(&p).await.unwrap().unwrap();
    assert_eq!(config.property, property(HTL, "default"));
    assert_eq!(
        config.room_types,
        vec![RoomType { physical_rooms: 2, ..room_type("DLX", 3) }, RoomType { physical_rooms: 1, ..room_type("STD", 2) },]
    );
    assert_eq!(
        config.rooms,
        vec![room("101", "DLX", 1), Room { status: RoomStatus::OutOfOrder, ..room("102", "DLX", 1) }, room("201", "STD", 2),]
    );
    assert_eq!(
        config.rate_plans,
        vec![
            plan("BAR", "DLX", None),
            plan("NRF", "DLX", Some(("BAR", Adjustment::Percent(dec("-12.5"))))),
            plan("PKG", "DLX", Some(("BAR", Adjustment::Amount(dec("150000.5"))))),
            plan("SBAR", "STD", None),
        ]
    );

    // The calendar carries the room type and its plans.
    let cal = store.load_calendar(&p, &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!(cal.room_type.physical_rooms, 2);
    let codes: Vec<&str> = cal.plans.iter().map(|pc| pc.plan.code.as_str()).collect();
    assert_eq!(codes, ["BAR", "NRF", "PKG"]);
    assert!(cal.inventory.is_empty());
    assert_not_found(store.load_calendar(&p, &rtc("SUITE"), day(0)).await, "calendar of unknown room type");
    assert_not_found(store.load_calendar(&pc("NOPE"), &rtc("DLX"), day(0)).await, "calendar of unknown property");
}

async fn case_cells_round_trip(store: Arc<dyn Store>) {
    setup(&store).await;
    let v = version_of(&store, "DLX").await;
    let mut changes = CellChanges::default();
    let inv_a = InventoryDay { out_of_order: 1, sold: 3, held: 2, allotment: Some(7), ..Default::default() };
    let mut inv_b = InventoryDay::default();
    inv_b.close(StopSellSource::Manual);
    changes.inventory.insert(day(0), inv_a);
    changes.inventory.insert(day(1), inv_b);
    // Who closed a date survives the round trip (auto-replenish lifts only
    // saluran's own stop-sells, also after a restart).
    for (i, source) in [StopSellSource::Overbooking, StopSellSource::AutoThreshold].into_iter().enumerate() {
        let mut inv = InventoryDay { sold: 2, ..Default::default() };
        inv.close(source);
        changes.inventory.insert(day(3 + i as i64), inv);
    }
    changes.inventory.insert(day(40), InventoryDay { sold: 65535, ..Default::default() });
    let full = RateDay {
        rate: Some(dec("850000.5")),
        occupancy_rates: vec![(1, dec("750000")), (2, dec("850000.5")), (3, dec("1000000.1234"))],
        min_stay_arrival: Some(2),
        min_stay_through: Some(3),
        max_stay: Some(365),
        closed_to_arrival: Some(true),
        closed_to_departure: Some(false),
        stop_sell: Some(false),
    };
    let sparse = RateDay { rate: Some(dec("0")), closed_to_departure: Some(true), ..Default::default() };
    let derived = RateDay { min_stay_arrival: Some(1), stop_sell: Some(true), ..Default::default() };
    changes.rates.insert((rpc("BAR"), day(0)), full.clone());
    changes.rates.insert((rpc("BAR"), day(1)), sparse.clone());
    changes.rates.insert((rpc("BAR"), day(2)), RateDay::default());
    changes.rates.insert((rpc("NRF"), day(0)), derived.clone());
    changes.rates.insert((rpc("BAR"), day(99_999 % 700)), RateDay { rate: Some(dec("99999999999999.9999")), ..Default::default() });

    let out = store.commit_shard(&ShardCommit { changes: changes.clone(), ..commit_for("DLX", v) }).await.unwrap();
    assert_eq!(out.version, v + 1);
    assert!(out.event_seqs.is_empty());

    let cal = store.load_calendar(&pc(HTL), &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!(cal.version, v + 1);
    for (d, inv) in &changes.inventory {
        assert_eq!(cal.inventory.get_or_default(*d), *inv, "inventory {d}");
    }
    for ((p, d), rd) in &changes.rates {
        assert_eq!(cal.plan(p.as_str()).unwrap().days.get_or_default(*d), *rd, "{p} {d}");
    }
    // The exact decimal, not merely an equal one.
    let bar = cal.plan("BAR").unwrap();
    assert_eq!(bar.days.get_or_default(day(0)).rate.unwrap().to_string(), "850000.5");
    assert_eq!(bar.days.get_or_default(day(0)).occupancy_rates[2].1.to_string(), "1000000.1234");
    assert_eq!(cal.plan("PKG").unwrap().days.get_or_default(day(0)), RateDay::default());
    assert_eq!(cal.inventory.get_or_default(day(5)), InventoryDay::default(), "untouched day");

    // `from` cuts earlier days off.
    let later = store.load_calendar(&pc(HTL), &rtc("DLX"), day(1)).await.unwrap();
    assert_eq!(later.inventory.get(day(0)), None);
    assert_eq!(later.inventory.get_or_default(day(1)), inv_b);
    assert_eq!(later.plan("BAR").unwrap().days.get(day(0)), None);
    assert_eq!(later.plan("BAR").unwrap().days.get_or_default(day(1)), sparse);

    // Overwriting cells (upsert), including back to "not set".
    let mut second = CellChanges::default();
    second.inventory.insert(day(0), InventoryDay::default());
    second.rates.insert((rpc("BAR"), day(0)), RateDay { rate: Some(dec("900000")), ..Default::default() });
    second.rates.insert((rpc("NRF"), day(0)), RateDay::default());
    store.commit_shard(&ShardCommit { changes: second, ..commit_for("DLX", v + 1) }).await.unwrap();
    let cal = store.load_calendar(&pc(HTL), &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!(cal.version, v + 2);
    assert_eq!(cal.inventory.get_or_default(day(0)), InventoryDay::default());
    assert_eq!(cal.inventory.get_or_default(day(1)), inv_b);
    assert_eq!(cal.plan("BAR").unwrap().days.get_or_default(day(0)), RateDay { rate: Some(dec("900000")), ..Default::default() });
    assert_eq!(cal.plan("NRF").unwrap().days.get_or_default(day(0)), RateDay::default());

    // Another room type's calendar is untouched.
    let std = store.load_calendar(&pc(HTL), &rtc("STD"), day(0)).await.unwrap();
    assert!(std.inventory.iter().all(|(_, d)| *d == InventoryDay::default()));
    assert!(std.plan("SBAR").unwrap().days.is_empty());
}

async fn case_stale_version(store: Arc<dyn Store>) {
    setup(&store).await;
    store
        .insert_intent(&pc(HTL), &Intent { id: "I1".into(), kind: "book".into(), payload: json!({}), pending_room_types: vec![rtc("DLX")] })
        .await
        .unwrap();
    let v = version_of(&store, "DLX").await;
    let mut changes = CellChanges::default();
    changes.inventory.insert(day(3), InventoryDay { sold: 1, ..Default::default() });
    changes.rates.insert((rpc("BAR"), day(3)), RateDay { rate: Some(dec("1")), ..Default::default() });
    let stale = ShardCommit {
        changes,
        reservations: vec![reservation("R-stale", "DLX", 1)],
        events: vec![event("booking", json!({"id": "R-stale"}))],
        intents_done: vec!["I1".into()],
        ..commit_for("DLX", v - 1)
    };
    match store.commit_shard(&stale).await {
        Err(StoreError::VersionConflict { room_type, expected }) => {
            assert_eq!(room_type, "DLX");
            assert_eq!(expected, v - 1);
        }
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    let ahead = ShardCommit { expected_version: v + 1, ..stale.clone() };
    assert!(matches!(store.commit_shard(&ahead).await, Err(StoreError::VersionConflict { .. })));

    let cal = store.load_calendar(&pc(HTL), &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!(cal.version, v);
    assert_eq!(cal.inventory.get_or_default(day(3)), InventoryDay::default());
    assert_eq!(cal.plan("BAR").unwrap().days.get_or_default(day(3)), RateDay::default());
    assert_eq!(store.find_reservation(&pc(HTL), "R-stale").await.unwrap(), None);
    assert!(store.events_after(&pc(HTL), 0, 10).await.unwrap().is_empty());
    assert_eq!(store.pending_intents(&pc(HTL)).await.unwrap().len(), 1);

    // The right version goes through, and its events start at 1: the failed
    // attempts used no sequence numbers.
    let out = store.commit_shard(&ShardCommit { expected_version: v, ..stale }).await.unwrap();
    assert_eq!(out.version, v + 1);
    assert_eq!(out.event_seqs, vec![1]);
}

async fn case_commit_not_found(store: Arc<dyn Store>) {
    setup(&store).await;
    let v = version_of(&store, "DLX").await;
    assert_not_found(store.commit_shard(&ShardCommit { property: None, ..commit_for("DLX", v) }).await, "commit without property");
    assert_not_found(store.commit_shard(&ShardCommit { room_type: None, ..commit_for("DLX", v) }).await, "commit without room type");
    assert_not_found(
        store.commit_shard(&ShardCommit { property: Some(pc("NOPE")), ..commit_for("DLX", v) }).await,
        "commit to unknown property",
    );
    assert_not_found(store.commit_shard(&commit_for("SUITE", 0)).await, "commit to unknown room type");

    // A rate day of a plan of another room type: nothing of the commit stays.
    let mut changes = CellChanges::default();
    changes.inventory.insert(day(0), InventoryDay { sold: 1, ..Default::default() });
    changes.rates.insert((rpc("SBAR"), day(0)), RateDay { rate: Some(dec("1")), ..Default::default() });
    let bad = ShardCommit { changes, events: vec![event("x", json!(1))], ..commit_for("DLX", v) };
    assert_not_found(store.commit_shard(&bad).await, "rate plan of another room type");
    let cal = store.load_calendar(&pc(HTL), &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!(cal.version, v);
    assert_eq!(cal.inventory.get_or_default(day(0)), InventoryDay::default());
    assert!(store.events_after(&pc(HTL), 0, 10).await.unwrap().is_empty());

    // A reservation of an unknown room type: nothing stays either.
    let orphan = ShardCommit { reservations: vec![reservation("R-x", "SUITE", 1)], ..commit_for("DLX", v) };
    assert_not_found(store.commit_shard(&orphan).await, "reservation of unknown room type");
    assert_eq!(version_of(&store, "DLX").await, v);
}

async fn case_reservations(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    let r1 = reservation("R1", "DLX", 1);
    let mut r2 = reservation("R2", "DLX", 1);
    r2.check_in = day(3);
    r2.external_id = None;
    r2.source = "direct".into();
    r2.overbooked = true;
    // OTA bookings with nights outside the calendar window: the flag and
    // the nights held (some, or none) round-trip.
    let mut r3 = reservation("R3", "DLX", 1);
    r3.check_in = day(729);
    r3.check_out = day(733);
    r3.outside_horizon = true;
    r3.calendar_nights = Some(saluran_domain::dates::DateRange::new(day(729), day(730)).unwrap());
    let mut r4 = reservation("R4", "DLX", 1);
    r4.check_in = jiff::civil::date(9999, 12, 30);
    r4.check_out = jiff::civil::date(9999, 12, 31);
    r4.outside_horizon = true;
    let out = store
        .commit_shard(&ShardCommit {
            reservations: vec![r1.clone(), r2.clone(), r3.clone(), r4.clone()],
            ..commit_for("DLX", version_of(&store, "DLX").await)
        })
        .await
        .unwrap();
    assert_eq!(store.find_reservation(&p, "R3").await.unwrap(), Some(r3.clone()), "outside the horizon, some nights held");
    assert_eq!(store.find_reservation(&p, "R4").await.unwrap(), Some(r4.clone()), "outside the horizon, no night held");
    let mut all = store.list_reservations(&p, &rtc("DLX")).await.unwrap();
    all.retain(|r| r.id != "R3" && r.id != "R4");
    assert_eq!(store.find_reservation(&p, "R1").await.unwrap(), Some(r1.clone()), "exact round trip incl. timestamps");
    assert_eq!(store.find_reservation(&p, "R2").await.unwrap(), Some(r2.clone()));
    assert_eq!(all, vec![r2.clone(), r1.clone()], "by check-in");
    assert!(store.list_reservations(&p, &rtc("STD")).await.unwrap().is_empty());
    assert_eq!(store.find_reservation(&p, "R404").await.unwrap(), None);

    // Revision 2 replaces revision 1; a redelivery of revision 2 is harmless.
    let mut r1b = r1.clone();
    r1b.revision = 2;
    r1b.status = ReservationStatus::Cancelled;
    r1b.guest_name = "Putu Ayu L.".into();
    r1b.total = dec("0");
    r1b.nightly = vec![];
    r1b.updated_at = Timestamp::now();
    let commit = ShardCommit { reservations: vec![r1b.clone()], ..commit_for("DLX", out.version) };
    let out = store.commit_shard(&commit).await.unwrap();
    assert_eq!(store.find_reservation(&p, "R1").await.unwrap(), Some(r1b.clone()));
    store.commit_shard(&ShardCommit { expected_version: out.version, ..commit }).await.unwrap();
    assert_eq!(store.find_reservation(&p, "R1").await.unwrap(), Some(r1b));
    assert_eq!(store.list_reservations(&p, &rtc("DLX")).await.unwrap().len(), 4);

    // Another property neither sees nor can overwrite them.
    store.create_property(&property("HTL2", "other")).await.unwrap();
    store.create_room_type(&pc("HTL2"), &room_type("DLX", 2)).await.unwrap();
    store.create_rate_plan(&pc("HTL2"), &plan("BAR", "DLX", None)).await.unwrap();
    assert_eq!(store.find_reservation(&pc("HTL2"), "R1").await.unwrap(), None);
    let v2 = store.load_calendar(&pc("HTL2"), &rtc("DLX"), day(0)).await.unwrap().version;
    let mut hijack = reservation("R2", "DLX", 9);
    hijack.property = pc("HTL2");
    let attempt = ShardCommit {
        property: Some(pc("HTL2")),
        room_type: Some(rtc("DLX")),
        expected_version: v2,
        reservations: vec![hijack],
        ..Default::default()
    };
    assert_conflict(store.commit_shard(&attempt).await, "reservation id of another property");
    assert_eq!(store.find_reservation(&p, "R2").await.unwrap(), Some(r2));
}

async fn case_event_seqs(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    let mut v_dlx = version_of(&store, "DLX").await;
    let mut v_std = version_of(&store, "STD").await;
    let mut expected = Vec::new();
    let mut next = 1;
    for (round, (rt, n)) in [("DLX", 2), ("STD", 1), ("DLX", 0), ("STD", 3), ("DLX", 1)].into_iter().enumerate() {
        let events: Vec<NewEvent> =
            (0..n).map(|i| event(if rt == "DLX" { "booking.created" } else { "ari.changed" }, json!({"round": round, "i": i}))).collect();
        let v = if rt == "DLX" { &mut v_dlx } else { &mut v_std };
        let out = store.commit_shard(&ShardCommit { events: events.clone(), ..commit_for(rt, *v) }).await.unwrap();
        *v = out.version;
        let seqs: Vec<i64> = (next..next + n as i64).collect();
        assert_eq!(out.event_seqs, seqs, "round {round}");
        next += n as i64;
        expected.extend(events.into_iter().zip(seqs));
    }
    let stored = store.events_after(&p, 0, 100).await.unwrap();
    assert_eq!(stored.len(), 7);
    for (s, (e, seq)) in stored.iter().zip(&expected) {
        assert_eq!(s.seq, *seq);
        assert_eq!(s.kind, e.kind.as_str());
        assert_eq!(s.payload, e.payload);
    }
    // Sequences are per property.
    store.create_property(&property("HTL2", "default")).await.unwrap();
    store.create_room_type(&pc("HTL2"), &room_type("DLX", 2)).await.unwrap();
    let commit = ShardCommit {
        property: Some(pc("HTL2")),
        room_type: Some(rtc("DLX")),
        events: vec![event("x", json!(null))],
        ..Default::default()
    };
    assert_eq!(store.commit_shard(&commit).await.unwrap().event_seqs, vec![1]);
    assert_eq!(store.events_after(&p, 0, 100).await.unwrap().len(), 7);
    assert!(store.events_after(&pc("NOPE"), 0, 100).await.unwrap().is_empty());
}

async fn case_concurrent_commits(store: Arc<dyn Store>) {
    setup(&store).await;
    const TASKS: usize = 20;
    let target = day(7);
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let rt = if task % 2 == 0 { "DLX" } else { "STD" };
            let mut attempts = 0;
            loop {
                attempts += 1;
                assert!(attempts < 1000, "task {task} starved");
                let cal = store.load_calendar(&pc(HTL), &rtc(rt), target).await.unwrap();
                let mut inv = cal.inventory.get_or_default(target);
                inv.sold += 1;
                let mut changes = CellChanges::default();
                changes.inventory.insert(target, inv);
                let commit = ShardCommit {
                    changes,
                    events: vec![event("booked", json!({ "task": task }))],
                    reservations: vec![reservation(&format!("R{task}"), rt, 1)],
                    ..commit_for(rt, cal.version)
                };
                match store.commit_shard(&commit).await {
                    Ok(out) => return (out.event_seqs, attempts),
                    Err(StoreError::VersionConflict { .. }) => tokio::task::yield_now().await,
                    Err(e) => panic!("task {task}: {e}"),
                }
            }
        }));
    }
    let mut seqs = Vec::new();
    let mut attempts = 0;
    for h in handles {
        let (s, a) = h.await.unwrap();
        seqs.extend(s);
        attempts += a;
    }
    eprintln!("{}: {TASKS} concurrent commits needed {attempts} attempts", store.backend());
    seqs.sort();
    assert_eq!(seqs, (1..=TASKS as i64).collect::<Vec<_>>(), "every commit got one distinct seq");

    let events = store.events_after(&pc(HTL), 0, 1000).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=TASKS as i64).collect::<Vec<_>>());
    let tasks: BTreeSet<u64> = events.iter().map(|e| e.payload["task"].as_u64().unwrap()).collect();
    assert_eq!(tasks.len(), TASKS, "each task's event stored once");
    for rt in ["DLX", "STD"] {
        let cal = store.load_calendar(&pc(HTL), &rtc(rt), target).await.unwrap();
        assert_eq!(cal.inventory.get_or_default(target).sold, (TASKS / 2) as u16, "no lost update on {rt}");
        assert_eq!(store.list_reservations(&pc(HTL), &rtc(rt)).await.unwrap().len(), TASKS / 2);
    }
}

async fn case_events_paging(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    let before = Timestamp::now();
    let mut v = version_of(&store, "DLX").await;
    for batch in [3usize, 0, 4] {
        let events = (0..batch).map(|i| event("ari.changed", json!({"i": i, "from": "2027-01-01", "n": 1.5}))).collect();
        v = store.commit_shard(&ShardCommit { events, ..commit_for("DLX", v) }).await.unwrap().version;
    }
    let after = Timestamp::now();
    let page = |a: i64, l: i64| {
        let store = store.clone();
        let p = p.clone();
        async move { store.events_after(&p, a, l).await.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>() }
    };
    assert_eq!(page(0, 3).await, vec![1, 2, 3]);
    assert_eq!(page(3, 3).await, vec![4, 5, 6]);
    assert_eq!(page(6, 3).await, vec![7]);
    assert_eq!(page(7, 3).await, Vec::<i64>::new());
    assert_eq!(page(0, 0).await, Vec::<i64>::new());
    assert_eq!(page(0, -1).await, Vec::<i64>::new(), "a negative limit is no limit to exceed");
    let all = store.events_after(&p, 0, 100).await.unwrap();
    assert_eq!(all[4].payload, json!({"i": 1, "from": "2027-01-01", "n": 1.5}));
    assert!(all.iter().all(|e| e.created_at >= before && e.created_at <= after && e.kind == "ari.changed"));
}

async fn case_intents(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    assert!(store.pending_intents(&p).await.unwrap().is_empty());
    let intent = Intent {
        id: "I-1".into(),
        kind: "multi_room_booking".into(),
        payload: json!({"reservation": "R9", "rooms": [{"room_type": "DLX"}, {"room_type": "STD"}]}),
        pending_room_types: vec![rtc("DLX"), rtc("STD")],
    };
    store.insert_intent(&p, &intent).await.unwrap();
    assert_conflict(store.insert_intent(&p, &intent).await, "duplicate intent");
    let bad = Intent { id: "I-2".into(), pending_room_types: vec![rtc("DLX"), rtc("SUITE")], ..intent.clone() };
    assert_not_found(store.insert_intent(&p, &bad).await, "intent over an unknown room type");
    assert_not_found(store.insert_intent(&pc("NOPE"), &intent).await, "intent of unknown property");
    assert_eq!(store.pending_intents(&p).await.unwrap(), vec![intent.clone()], "the failed insert left nothing");

    let second = Intent { id: "I-3".into(), kind: "cancel".into(), payload: json!(["x"]), pending_room_types: vec![rtc("STD")] };
    store.insert_intent(&p, &second).await.unwrap();
    assert_eq!(store.pending_intents(&p).await.unwrap(), vec![intent.clone(), second.clone()]);

    let v = version_of(&store, "DLX").await;
    store.commit_shard(&ShardCommit { intents_done: vec!["I-1".into()], ..commit_for("DLX", v) }).await.unwrap();
    let pending = store.pending_intents(&p).await.unwrap();
    assert_eq!(pending, vec![Intent { pending_room_types: vec![rtc("STD")], ..intent.clone() }, second.clone()]);

    let v = version_of(&store, "STD").await;
    store
        .commit_shard(&ShardCommit { intents_done: vec!["I-1".into(), "I-3".into(), "unknown".into()], ..commit_for("STD", v) })
        .await
        .unwrap();
    assert!(store.pending_intents(&p).await.unwrap().is_empty());
}

async fn case_tokens(store: Arc<dyn Store>) {
    let admin = TokenScope { role: Role::Admin, tenant: TenantCode::parse("default").unwrap(), properties: vec![] };
    let desk = TokenScope { role: Role::FrontDesk, tenant: TenantCode::parse("acme").unwrap(), properties: vec![pc("HTL1"), pc("HTL2")] };
    let h1 = "a".repeat(64);
    let h2 = "b".repeat(64);
    store.insert_token("t1", &h1, &admin).await.unwrap();
    store.insert_token("t2", &h2, &desk).await.unwrap();
    assert_eq!(store.find_token(&h1).await.unwrap(), Some(admin.clone()));
    assert_eq!(store.find_token(&h2).await.unwrap(), Some(desk));
    assert_eq!(store.find_token(&"c".repeat(64)).await.unwrap(), None);
    assert_conflict(store.insert_token("t3", &h1, &admin).await, "duplicate hash");
    assert_conflict(store.insert_token("t1", &"d".repeat(64), &admin).await, "duplicate id");
}

async fn case_idempotency(store: Arc<dyn Store>) {
    use IdempotencyBegin::*;
    assert_eq!(store.idempotency_begin("tok1", "k1", "h1").await.unwrap(), Fresh);
    match store.idempotency_begin("tok1", "k1", "h1").await.unwrap() {
        InProgress { age } => assert!(age < std::time::Duration::from_secs(60), "begun just now: {age:?}"),
        other => panic!("in progress: {other:?}"),
    }
    // The age is how long ago the key was begun (a crashed node's keys age).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    match store.idempotency_begin("tok1", "k1", "h1").await.unwrap() {
        InProgress { age } => assert!(age >= std::time::Duration::from_millis(300), "{age:?}"),
        other => panic!("in progress: {other:?}"),
    }
    assert_eq!(store.idempotency_begin("tok1", "k1", "h2").await.unwrap(), Mismatch);
    assert_eq!(store.idempotency_begin("tok2", "k1", "h2").await.unwrap(), Fresh, "scopes never share keys");

    let body = br#"{"id":"R1","status":"confirmed"}"#.to_vec();
    store.idempotency_complete("tok1", "k1", 201, &body).await.unwrap();
    assert_eq!(store.idempotency_begin("tok1", "k1", "h1").await.unwrap(), Replay { status: 201, body: body.clone() });
    assert_eq!(store.idempotency_begin("tok1", "k1", "h1").await.unwrap(), Replay { status: 201, body });
    assert_eq!(store.idempotency_begin("tok1", "k1", "h2").await.unwrap(), Mismatch);
    store.idempotency_abort("tok1", "k1").await.unwrap();
    assert!(matches!(store.idempotency_begin("tok1", "k1", "h1").await.unwrap(), Replay { .. }), "abort never drops a done key");

    // Abort frees the key for a new attempt.
    assert_eq!(store.idempotency_begin("tok1", "k2", "h1").await.unwrap(), Fresh);
    store.idempotency_abort("tok1", "k2").await.unwrap();
    assert_eq!(store.idempotency_begin("tok1", "k2", "h9").await.unwrap(), Fresh);
    store.idempotency_complete("tok1", "k2", 204, &[]).await.unwrap();
    assert_eq!(store.idempotency_begin("tok1", "k2", "h9").await.unwrap(), Replay { status: 204, body: vec![] });
    // Binary bodies survive.
    assert_eq!(store.idempotency_begin("tok1", "k3", "h").await.unwrap(), Fresh);
    let binary: Vec<u8> = (0..=255).collect();
    store.idempotency_complete("tok1", "k3", 200, &binary).await.unwrap();
    assert_eq!(store.idempotency_begin("tok1", "k3", "h").await.unwrap(), Replay { status: 200, body: binary });

    assert_not_found(store.idempotency_complete("tok1", "never-begun", 200, b"x").await, "complete of unknown key");
    store.idempotency_abort("tok1", "never-begun").await.unwrap();
}

async fn case_idempotency_concurrent(store: Arc<dyn Store>) {
    let mut handles = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        handles.push(tokio::spawn(async move { store.idempotency_begin("scope", "same-key", "hash").await.unwrap() }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap());
    }
    let fresh = results.iter().filter(|r| **r == IdempotencyBegin::Fresh).count();
    let in_progress = results.iter().filter(|r| matches!(r, IdempotencyBegin::InProgress { .. })).count();
    assert_eq!((fresh, in_progress), (1, 19), "{results:?}");
}

/// A two-year edit of `plans` plans and the inventory in one commit; returns
/// the commit's duration after checking the round trip.
async fn big_commit(store: &Arc<dyn Store>, rt: &str, plans: &[String]) -> std::time::Duration {
    let v = store.load_calendar(&pc(HTL), &rtc(rt), day(0)).await.unwrap().version;
    let mut changes = CellChanges::default();
    for i in 0..730 {
        changes.inventory.insert(
            day(i),
            InventoryDay { sold: (i % 3) as u16, held: (i % 2) as u16, allotment: (i % 5 == 0).then_some(4), ..Default::default() },
        );
        for (k, code) in plans.iter().enumerate() {
            let rate = Decimal::from(500_000 + i * 100 + k as i64) + dec("0.5");
            changes.rates.insert(
                (rpc(code), day(i)),
                RateDay {
                    rate: Some(rate),
                    occupancy_rates: vec![(1, rate - Decimal::from(100_000)), (2, rate)],
                    min_stay_arrival: Some((i % 4) as u16),
                    max_stay: (i % 7 == 0).then_some(14),
                    closed_to_arrival: Some(i % 6 == 0),
                    stop_sell: (i % 9 == 0).then_some(true),
                    ..Default::default()
                },
            );
        }
    }
    let commit = ShardCommit { changes: changes.clone(), events: vec![event("ari.changed", json!({"days": 730}))], ..commit_for(rt, v) };
    let started = Instant::now();
    let out = store.commit_shard(&commit).await.unwrap();
    let took = started.elapsed();
    assert_eq!(out.version, v + 1);

    let started = Instant::now();
    let cal = store.load_calendar(&pc(HTL), &rtc(rt), day(0)).await.unwrap();
    let load_took = started.elapsed();
    assert_eq!(cal.inventory.len(), 730);
    for (d, inv) in &changes.inventory {
        assert_eq!(cal.inventory.get_or_default(*d), *inv);
    }
    for ((p, d), rd) in &changes.rates {
        assert_eq!(cal.plan(p.as_str()).unwrap().days.get_or_default(*d), *rd);
    }
    eprintln!(
        "TIMING {}: commit of 730 days x {} plans ({} cells) took {:?}; load_calendar took {:?}",
        store.backend(),
        plans.len(),
        changes.inventory.len() + changes.rates.len(),
        took,
        load_took
    );
    took
}

async fn case_big_commit_3_plans(store: Arc<dyn Store>) {
    setup(&store).await;
    let plans: Vec<String> = ["BAR", "NRF", "PKG"].iter().map(|s| s.to_string()).collect();
    big_commit(&store, "DLX", &plans).await;
    // A second, overwriting commit of the same cells.
    big_commit(&store, "DLX", &plans).await;
}

async fn case_big_commit_15_plans(store: Arc<dyn Store>) {
    setup(&store).await;
    store.create_room_type(&pc(HTL), &room_type("BIG", 4)).await.unwrap();
    let plans: Vec<String> = (1..=15).map(|i| format!("P{i:02}")).collect();
    for code in &plans {
        store.create_rate_plan(&pc(HTL), &plan(code, "BIG", None)).await.unwrap();
    }
    let took = big_commit(&store, "BIG", &plans).await;
    // Generous for a debug build on a busy 2-core machine; a release build
    // is far below a second.
    assert!(took.as_secs_f64() < 10.0, "730 x 15 commit took {took:?}");
}

async fn case_channels(store: Arc<dyn Store>) {
    assert_not_found(store.create_channel(&channel(HTL, "BDC")).await, "channel of unknown property");
    assert!(store.list_channels(&pc(HTL)).await.unwrap().is_empty());
    setup(&store).await;
    assert!(store.list_channels(&pc(HTL)).await.unwrap().is_empty());

    // Codes sort bytewise on every backend: upper case, then '-', then lower case.
    let bdc = channel(HTL, "BDC");
    let bdc2 = ChannelConfig { profile: Profile::Alpinebits, preset: "alpinebits_generic".into(), ..channel(HTL, "BDC-2") };
    let jsr = ChannelConfig { profile: Profile::Jsonrest, mappings: vec![], sealed_credentials: vec![], ..channel(HTL, "JSR") };
    let agoda = ChannelConfig { created_at: Timestamp::UNIX_EPOCH, ..channel(HTL, "agoda") };
    for c in [&agoda, &jsr, &bdc2, &bdc] {
        store.create_channel(c).await.unwrap();
    }
    let listed = store.list_channels(&pc(HTL)).await.unwrap();
    assert_eq!(listed, vec![bdc.clone(), bdc2.clone(), jsr.clone(), agoda.clone()], "exact round trip, by code");
    assert_eq!(listed[0].mappings[0].room_type.as_str(), "STD", "mappings keep their order");
    assert_eq!(listed[0].ota_codes("DLX", "NRF").map(|m| m.ota_rate.as_str()), Some("RATE-2"));

    // Duplicates: same code (whatever else differs), or a room type and rate
    // plan mapped twice; neither leaves anything behind.
    let again = ChannelConfig { endpoint: "https://elsewhere".into(), mappings: vec![], ..channel(HTL, "BDC") };
    assert_conflict(store.create_channel(&again).await, "duplicate channel code");
    let mut twice = channel(HTL, "TWICE");
    twice.mappings.push(mapping("DLX", "BAR", "OTHER", "OTHER"));
    assert_conflict(store.create_channel(&twice).await, "room type and rate plan mapped twice");
    assert_eq!(store.list_channels(&pc(HTL)).await.unwrap(), listed, "failed creates left nothing");

    // Codes are unique per property only.
    store.create_property(&property("HTL2", "default")).await.unwrap();
    let other = channel("HTL2", "BDC");
    store.create_channel(&other).await.unwrap();
    assert_eq!(store.list_channels(&pc("HTL2")).await.unwrap(), vec![other]);
    assert_eq!(store.list_channels(&pc(HTL)).await.unwrap(), listed);
    assert!(store.list_channels(&pc("NOPE")).await.unwrap().is_empty());
}

async fn case_sync_status_and_totals(store: Arc<dyn Store>) {
    assert_eq!(store.channel_queue_totals().await.unwrap(), (0, 0), "no channels");
    setup(&store).await;
    let p = pc(HTL);
    store.create_channel(&channel(HTL, "BDC")).await.unwrap();
    store.create_channel(&channel(HTL, "EXP")).await.unwrap();
    assert_eq!(store.channel_queue_totals().await.unwrap(), (0, 0), "channels without status");
    assert_eq!(store.load_sync_status(&p, &chc("BDC")).await.unwrap(), None, "never saved");
    assert_eq!(store.load_sync_status(&p, &chc("NOPE")).await.unwrap(), None);
    assert_eq!(store.load_sync_status(&pc("NOPE"), &chc("BDC")).await.unwrap(), None);

    let now = Timestamp::now();
    let failing = SyncStatus {
        last_success_at: Some(secs(now, -60)),
        last_attempt_at: Some(now),
        pending_cells: 5,
        consecutive_failures: 3,
        total_failures: 11,
        dead_letters: 2,
        last_error: Some("HTTP 503 from OTA: <Errors><Error Code=\"187\"/></Errors>".into()),
        requests_sent: 1234,
    };
    assert_not_found(store.save_sync_status(&p, &chc("NOPE"), &failing).await, "status of unknown channel");
    assert_not_found(store.save_sync_status(&pc("NOPE"), &chc("BDC"), &failing).await, "status of unknown property");
    store.save_sync_status(&p, &chc("BDC"), &failing).await.unwrap();
    assert_eq!(store.load_sync_status(&p, &chc("BDC")).await.unwrap(), Some(failing.clone()), "exact round trip");
    assert_eq!(store.load_sync_status(&p, &chc("EXP")).await.unwrap(), None, "per channel");

    // Upsert: the second save replaces the first, down to the NULLs.
    let recovered = SyncStatus { consecutive_failures: 0, last_error: None, last_success_at: Some(secs(now, 1)), ..failing.clone() };
    store.save_sync_status(&p, &chc("BDC"), &recovered).await.unwrap();
    assert_eq!(store.load_sync_status(&p, &chc("BDC")).await.unwrap(), Some(recovered.clone()));
    store.save_sync_status(&p, &chc("EXP"), &SyncStatus { pending_cells: 7, dead_letters: 1, ..Default::default() }).await.unwrap();
    assert_eq!(
        store.load_sync_status(&p, &chc("EXP")).await.unwrap(),
        Some(SyncStatus { pending_cells: 7, dead_letters: 1, ..Default::default() })
    );
    assert_eq!(store.channel_queue_totals().await.unwrap(), (12, 0), "pending cells of both channels; no dead letter stored yet");

    // Dead letters: counted where they are stored, over every channel.
    let letter = |channel: &str, n: i64| DeadLetter {
        property: p.clone(),
        channel: chc(channel),
        created_at: secs(now, n),
        error: format!("attempt {n}: HTTP 400 <Error ShortText=\"Invalid rate\"/>"),
        summary: json!({"room_type": "DLX", "from": "2027-01-01", "to": "2027-01-31", "cells": 31, "n": 1.5}),
    };
    assert_not_found(store.insert_dead_letter(&letter("NOPE", 0)).await, "dead letter of unknown channel");
    store.insert_dead_letter(&letter("BDC", 1)).await.unwrap();
    store.insert_dead_letter(&letter("BDC", 2)).await.unwrap();
    store.insert_dead_letter(&letter("EXP", 3)).await.unwrap();
    assert_eq!(store.channel_queue_totals().await.unwrap(), (12, 3));

    // Another property's channels count too.
    store.create_property(&property("HTL2", "default")).await.unwrap();
    store.create_channel(&channel("HTL2", "BDC")).await.unwrap();
    store.save_sync_status(&pc("HTL2"), &chc("BDC"), &SyncStatus { pending_cells: 100, ..Default::default() }).await.unwrap();
    assert_eq!(store.channel_queue_totals().await.unwrap(), (112, 3));
    assert_eq!(store.load_sync_status(&p, &chc("BDC")).await.unwrap(), Some(recovered), "same code, other property");
}

async fn case_inbound(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    let t0 = Timestamp::now();
    assert_not_found(store.insert_inbound(&inbound("BDC", "X1", "1", InboundAction::New, t0)).await, "delivery of unknown channel");
    store.create_channel(&channel(HTL, "BDC")).await.unwrap();
    store.create_channel(&channel(HTL, "EXP")).await.unwrap();
    let mut unknown_property = inbound("BDC", "X1", "1", InboundAction::New, t0);
    unknown_property.property = pc("NOPE");
    assert_not_found(store.insert_inbound(&unknown_property).await, "delivery of unknown property");
    assert!(store.inbound_history(&p, &chc("BDC"), "X1").await.unwrap().is_empty());
    assert!(store.inbound_history(&p, &chc("NOPE"), "X1").await.unwrap().is_empty());
    assert!(store.inbound_history(&pc("NOPE"), &chc("BDC"), "X1").await.unwrap().is_empty());

    // Inserted out of order: the history is by reception time, then by
    // insertion; a revision's cancellation is another delivery than its modification.
    let new = InboundRecord { reservation_id: Some("R1".into()), ..inbound("BDC", "X1", "2026-01-01T10:00:00", InboundAction::New, t0) };
    let modify = InboundRecord {
        reservation_id: Some("R1".into()),
        ..inbound("BDC", "X1", "2026-01-01T11:00:00", InboundAction::Modify, secs(t0, 10))
    };
    let cancel =
        InboundRecord { outcome: outcome("stale"), ..inbound("BDC", "X1", "2026-01-01T11:00:00", InboundAction::Cancel, secs(t0, 10)) };
    let unmapped = InboundRecord { outcome: outcome("unmapped"), ..inbound("BDC", "X2", "1", InboundAction::New, secs(t0, -5)) };
    for r in [&modify, &unmapped, &cancel, &new] {
        store.insert_inbound(r).await.unwrap();
    }
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "X1").await.unwrap(), vec![new.clone(), modify.clone(), cancel.clone()]);
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "X2").await.unwrap(), vec![unmapped.clone()]);

    // A redelivery of the same (channel, OTA id, revision, action) conflicts,
    // whatever it says; the same key on another channel does not.
    let redelivery = InboundRecord { ack: "different".into(), outcome: outcome("stale"), received_at: secs(t0, 20), ..new.clone() };
    assert_conflict(store.insert_inbound(&redelivery).await, "duplicate delivery");
    let elsewhere = InboundRecord { channel: chc("EXP"), ..new.clone() };
    store.insert_inbound(&elsewhere).await.unwrap();
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "X1").await.unwrap(), vec![new, modify, cancel]);
    assert_eq!(store.inbound_history(&p, &chc("EXP"), "X1").await.unwrap(), vec![elsewhere]);
}

async fn case_inbound_commit(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    store.create_channel(&channel(HTL, "BDC")).await.unwrap();
    let t0 = Timestamp::now();
    let res = ota_reservation("R-OTA-1", "DLX", "BDC", "OTA-1");
    let delivery = InboundRecord { reservation_id: Some(res.id.clone()), ..inbound("BDC", "OTA-1", "1", InboundAction::New, t0) };
    let v_dlx = version_of(&store, "DLX").await;
    let out = store.commit_shard(&booking_commit("DLX", v_dlx, res.clone(), delivery.clone())).await.unwrap();
    assert_eq!((out.version, out.event_seqs.clone()), (v_dlx + 1, vec![1]));
    assert_eq!(store.find_reservation_by_external(&p, &chc("BDC"), "OTA-1").await.unwrap(), Some(res.clone()));
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-1").await.unwrap(), vec![delivery.clone()]);
    assert_eq!(store.find_reservation_by_external(&p, &chc("BDC"), "OTA-2").await.unwrap(), None);
    assert_eq!(store.find_reservation_by_external(&p, &chc("EXP"), "OTA-1").await.unwrap(), None, "source is the channel");
    assert_eq!(store.find_reservation_by_external(&pc("NOPE"), &chc("BDC"), "OTA-1").await.unwrap(), None);
    assert_eq!(store.find_reservation_by_external(&p, &chc("booking_com"), "BDC-4711").await.unwrap(), None, "no such reservation yet");

    // The same delivery again, in a commit of another room type and in one
    // of the same room type: Conflict, and nothing of either commit stays
    // (no version bump, cells, reservation, event nor delivery).
    let v_std = version_of(&store, "STD").await;
    let dup_res = ota_reservation("R-OTA-dup", "STD", "BDC", "OTA-dup");
    assert_conflict(store.commit_shard(&booking_commit("STD", v_std, dup_res.clone(), delivery.clone())).await, "duplicate delivery");
    let redelivered = InboundRecord { ack: "other".into(), received_at: secs(t0, 5), ..delivery.clone() };
    let dup_res2 = ota_reservation("R-OTA-dup2", "DLX", "BDC", "OTA-dup");
    assert_conflict(store.commit_shard(&booking_commit("DLX", v_dlx + 1, dup_res2, redelivered)).await, "duplicate delivery");
    let std = store.load_calendar(&p, &rtc("STD"), day(0)).await.unwrap();
    assert_eq!(std.version, v_std);
    assert_eq!(std.inventory.get_or_default(day(10)), InventoryDay::default());
    assert_eq!(version_of(&store, "DLX").await, v_dlx + 1);
    assert_eq!(store.find_reservation(&p, "R-OTA-dup").await.unwrap(), None);
    assert_eq!(store.find_reservation(&p, "R-OTA-dup2").await.unwrap(), None);
    assert_eq!(store.find_reservation_by_external(&p, &chc("BDC"), "OTA-dup").await.unwrap(), None);
    assert_eq!(store.events_after(&p, 0, 10).await.unwrap().len(), 1);
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-1").await.unwrap(), vec![delivery.clone()]);

    // A delivery of an unknown channel fails the commit the same way.
    let stray = inbound("NOPE", "OTA-9", "1", InboundAction::New, t0);
    assert_not_found(store.commit_shard(&booking_commit("STD", v_std, dup_res, stray)).await, "delivery of unknown channel");
    assert_eq!(version_of(&store, "STD").await, v_std);

    // A later revision with a newer reservation of the same OTA booking: the newest one is found.
    let mut newer = ota_reservation("R-OTA-1b", "DLX", "BDC", "OTA-1");
    newer.created_at = secs(res.created_at, 1);
    newer.updated_at = newer.created_at;
    let modify =
        InboundRecord { reservation_id: Some(newer.id.clone()), ..inbound("BDC", "OTA-1", "2", InboundAction::Modify, secs(t0, 1)) };
    store.commit_shard(&booking_commit("DLX", v_dlx + 1, newer.clone(), modify.clone())).await.unwrap();
    assert_eq!(store.find_reservation_by_external(&p, &chc("BDC"), "OTA-1").await.unwrap(), Some(newer));
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-1").await.unwrap(), vec![delivery, modify]);
}

/// `find_booking_lines`: the base id and every `base#N` line (more than 20
/// of them), newest reservation per line, in line order; ids that merely
/// start with the base, other channels and LIKE wildcards are not matched.
async fn case_booking_lines(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    let t0 = Timestamp::now();
    let at = |id: &str, ota_id: &str, channel: &str, s: i64| {
        let mut r = ota_reservation(id, "DLX", channel, ota_id);
        r.created_at = secs(t0, s);
        r.updated_at = r.created_at;
        r
    };
    // Lines inserted out of order, more than 20, with a gap (no #5).
    let mut wanted = vec![at("L-0", "ABC1", "BDC", 0)];
    for n in (1..=25).rev().filter(|n| *n != 5) {
        wanted.push(at(&format!("L-{n}"), &format!("ABC1#{n}"), "BDC", 0));
    }
    // An older reservation of line 2: only the newest one of a line counts.
    let older_2 = at("L-2-old", "ABC1#2", "BDC", -60);
    let decoys = [
        at("D-1", "ABC10", "BDC", 0),
        at("D-2", "ABC10#1", "BDC", 0),
        at("D-3", "ABC1#x", "BDC", 0),
        at("D-4", "ABC1#", "BDC", 0),
        at("D-5", "ABC1#1#2", "BDC", 0),
        at("D-6", "ABC1 #3", "BDC", 0),
        at("D-7", "ABC1#3", "EXP", 0),
        at("D-8", "ABC1", "EXP", 0),
        at("D-9", "ABC1$", "BDC", 0),
        at("D-10", "abc1#4", "BDC", 0),
        // Wildcards are plain characters.
        at("W-0", "P%_1", "BDC", 0),
        at("W-1", "P%_1#1", "BDC", 0),
        at("D-11", "PX_1#2", "BDC", 0),
        at("D-12", "P%X1#3", "BDC", 0),
        at("D-13", "P%_1X", "BDC", 0),
        at("D-14", "Pa%_1#4", "BDC", 0),
    ];
    let mut all = wanted.clone();
    all.push(older_2);
    all.extend(decoys);
    store.commit_shard(&ShardCommit { reservations: all, ..commit_for("DLX", version_of(&store, "DLX").await) }).await.unwrap();

    let ids = |v: Vec<Reservation>| v.into_iter().map(|r| r.external_id.unwrap_or_default()).collect::<Vec<_>>();
    let mut expected = vec!["ABC1".to_owned()];
    expected.extend((1..=25).filter(|n| *n != 5).map(|n| format!("ABC1#{n}")));
    let found = store.find_booking_lines(&p, &chc("BDC"), "ABC1").await.unwrap();
    assert_eq!(ids(found.clone()), expected, "base first, then by line number");
    let line_2 = found.iter().find(|r| r.external_id.as_deref() == Some("ABC1#2")).unwrap();
    assert_eq!(line_2.id, "L-2", "the newest reservation of a line");
    for r in &found {
        let want = wanted.iter().find(|w| w.id == r.id).unwrap_or_else(|| panic!("{} is not a line", r.id));
        assert_eq!(r, want, "round-trips");
    }
    assert_eq!(ids(store.find_booking_lines(&p, &chc("EXP"), "ABC1").await.unwrap()), vec!["ABC1", "ABC1#3"], "per channel");
    assert_eq!(ids(store.find_booking_lines(&p, &chc("BDC"), "P%_1").await.unwrap()), vec!["P%_1", "P%_1#1"]);
    assert_eq!(ids(store.find_booking_lines(&p, &chc("BDC"), "ABC10").await.unwrap()), vec!["ABC10", "ABC10#1"]);
    for none in ["ABC", "AB", "P%", "P_", "%", "_", "P%_", "abc1#"] {
        assert_eq!(store.find_booking_lines(&p, &chc("BDC"), none).await.unwrap(), vec![], "base {none:?}");
    }
    assert_eq!(store.find_booking_lines(&pc("NOPE"), &chc("BDC"), "ABC1").await.unwrap(), vec![]);
}

async fn case_inbound_concurrent(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    store.create_channel(&channel(HTL, "BDC")).await.unwrap();
    let t0 = Timestamp::now();
    let first = inbound("BDC", "OTA-1", "1", InboundAction::New, t0);
    let v = version_of(&store, "DLX").await;
    store.commit_shard(&booking_commit("DLX", v, ota_reservation("R-first", "DLX", "BDC", "OTA-1"), first.clone())).await.unwrap();

    // Rounds of two concurrent commits of different room types (on SQLite
    // typically gathered into one group commit): a fresh delivery on STD,
    // and a redelivery of `first` on DLX. The first lands whole; the second
    // fails alone and leaves nothing.
    const ROUNDS: i64 = 8;
    for round in 0..ROUNDS {
        let v_dlx = version_of(&store, "DLX").await;
        let v_std = version_of(&store, "STD").await;
        let ota_id = format!("OTA-S{round}");
        let fresh = inbound("BDC", &ota_id, "1", InboundAction::New, secs(t0, round));
        let good = booking_commit("STD", v_std, ota_reservation(&format!("R-S{round}"), "STD", "BDC", &ota_id), fresh.clone());
        let bad = booking_commit("DLX", v_dlx, ota_reservation(&format!("R-D{round}"), "DLX", "BDC", "OTA-1"), first.clone());
        let (s1, s2) = (store.clone(), store.clone());
        let (good_out, bad_out) = tokio::join!(
            tokio::spawn(async move { s1.commit_shard(&good).await }),
            tokio::spawn(async move { s2.commit_shard(&bad).await })
        );
        assert_eq!(good_out.unwrap().unwrap().version, v_std + 1, "round {round}");
        assert_conflict(bad_out.unwrap(), &format!("round {round}: redelivery"));
        assert_eq!(version_of(&store, "DLX").await, v_dlx, "round {round}");
        assert_eq!(store.find_reservation(&p, &format!("R-D{round}")).await.unwrap(), None);
        assert_eq!(store.inbound_history(&p, &chc("BDC"), &ota_id).await.unwrap(), vec![fresh]);
        assert_eq!(store.find_reservation(&p, &format!("R-S{round}")).await.unwrap().map(|r| r.external_id), Some(Some(ota_id)));
    }
    let std = store.load_calendar(&p, &rtc("STD"), day(0)).await.unwrap();
    assert_eq!(std.inventory.get_or_default(day(10)).sold, 1, "each good commit wrote its cell");
    let dlx = store.load_calendar(&p, &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!(dlx.inventory.get_or_default(day(10)).sold, 1, "only the first DLX commit wrote");
    let seqs: Vec<i64> = store.events_after(&p, 0, 100).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=ROUNDS + 1).collect::<Vec<_>>(), "failed commits used no event numbers");
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-1").await.unwrap(), vec![first]);

    // Two commits racing with the same new delivery: exactly one wins.
    let race = inbound("BDC", "OTA-RACE", "1", InboundAction::New, t0);
    let v_dlx = version_of(&store, "DLX").await;
    let v_std = version_of(&store, "STD").await;
    let a = booking_commit("DLX", v_dlx, ota_reservation("R-RACE-D", "DLX", "BDC", "OTA-RACE"), race.clone());
    let b = booking_commit("STD", v_std, ota_reservation("R-RACE-S", "STD", "BDC", "OTA-RACE"), race.clone());
    let (s1, s2) = (store.clone(), store.clone());
    let (ra, rb) =
        tokio::join!(tokio::spawn(async move { s1.commit_shard(&a).await }), tokio::spawn(async move { s2.commit_shard(&b).await }));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.is_ok() != rb.is_ok(), "exactly one wins: {ra:?} / {rb:?}");
    let (winner, loser) = if ra.is_ok() { ("R-RACE-D", rb) } else { ("R-RACE-S", ra) };
    assert_conflict(loser, "the race's loser");
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-RACE").await.unwrap(), vec![race]);
    assert_eq!(store.find_reservation_by_external(&p, &chc("BDC"), "OTA-RACE").await.unwrap().map(|r| r.id), Some(winner.to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_urls_open_and_migrate() {
    use saluran::store::{connect, migrate, StoreOptions};
    // In memory: one connection serves reads and writes.
    let mem = connect("sqlite::memory:", &StoreOptions::default()).await.unwrap();
    mem.create_property(&property(HTL, "default")).await.unwrap();
    assert_eq!(mem.count_properties().await.unwrap(), 1);
    // A file in a directory that does not exist yet; migrating twice is a no-op.
    let dir = std::env::temp_dir().join("saluran-tests").join(uuid::Uuid::now_v7().to_string());
    let url = format!("sqlite://{}", dir.join("nested").join("x.db").display());
    migrate(&url).await.unwrap();
    migrate(&url).await.unwrap();
    let store = connect(&url, &StoreOptions { sqlite_synchronous_full: false, max_connections: 1 }).await.unwrap();
    assert_eq!(store.count_properties().await.unwrap(), 0);
    assert!(matches!(connect("mysql://x", &StoreOptions::default()).await, Err(StoreError::Unavailable(_))));
}

// ---------------------------------------------------------------------------
// A booking and its cancellation: never both land.

/// The `new` of OTA booking `ota_id` on channel BDC, creating the active
/// reservation `id` of `rt` (one sold night, one event).
fn new_booking(rt: &str, version: i64, id: &str, ota_id: &str, at: Timestamp) -> ShardCommit {
    let delivery = InboundRecord { reservation_id: Some(id.into()), ..inbound("BDC", ota_id, "1", InboundAction::New, at) };
    booking_commit(rt, version, ota_reservation(id, rt, "BDC", ota_id), delivery)
}

/// A cancellation of a booking we hold nothing of (no rooms named).
fn tombstone(channel: &str, ota_id: &str, at: Timestamp) -> InboundRecord {
    inbound(channel, ota_id, "2", InboundAction::Cancel, at)
}

fn assert_conflict_is<T: std::fmt::Debug>(r: Result<T, StoreError>, expected: &str, what: &str) {
    match r {
        Err(StoreError::Conflict(m)) => assert_eq!(m.to_string(), expected, "{what}"),
        other => panic!("{what}: expected Conflict({expected:?}), got {other:?}"),
    }
}

/// What a refused write must leave as it was: the room type's version and
/// `day(10)` cell, the property's events, the booking's history and reservation.
async fn snapshot(store: &Arc<dyn Store>, rt: &str, ota_id: &str) -> (i64, InventoryDay, usize, Vec<InboundRecord>, Option<Reservation>) {
    let p = pc(HTL);
    let cal = store.load_calendar(&p, &rtc(rt), day(0)).await.unwrap();
    (
        cal.version,
        cal.inventory.get_or_default(day(10)),
        store.events_after(&p, 0, 1000).await.unwrap().len(),
        store.inbound_history(&p, &chc("BDC"), ota_id).await.unwrap(),
        store.find_reservation_by_external(&p, &chc("BDC"), ota_id).await.unwrap(),
    )
}

async fn case_tombstone_then_booking(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    store.create_channel(&channel(HTL, "BDC")).await.unwrap();
    store.create_channel(&channel(HTL, "EXP")).await.unwrap();
    let t0 = Timestamp::now();
    let stone = tombstone("BDC", "OTA-1", t0);
    store.insert_inbound(&stone).await.unwrap();

    // The booking's New, from a history read before the tombstone: refused
    // whole. So is a Modify, or an overbooked New.
    let before = snapshot(&store, "DLX", "OTA-1").await;
    let v = version_of(&store, "DLX").await;
    let r = store.commit_shard(&new_booking("DLX", v, "R-1", "OTA-1", secs(t0, 1))).await;
    assert!(r.as_ref().is_err_and(StoreError::is_cancelled_meanwhile), "{r:?}");
    assert_conflict_is(r, "cancelled meanwhile: BDC/OTA-1", "new after its tombstone");
    let mut modify = new_booking("DLX", v, "R-1", "OTA-1", secs(t0, 1));
    modify.inbound[0].action = InboundAction::Modify;
    modify.inbound[0].revision = "3".into();
    assert_conflict_is(store.commit_shard(&modify).await, "cancelled meanwhile: BDC/OTA-1", "modify after its tombstone");
    let mut overbooked = new_booking("DLX", v, "R-1", "OTA-1", secs(t0, 1));
    overbooked.inbound[0].outcome = outcome("overbooked");
    overbooked.reservations[0].overbooked = true;
    assert_conflict_is(store.commit_shard(&overbooked).await, "cancelled meanwhile: BDC/OTA-1", "overbooked new after its tombstone");
    assert_eq!(snapshot(&store, "DLX", "OTA-1").await, before, "refused commits wrote nothing");
    assert_eq!(before.3, vec![stone.clone()]);
    assert_eq!(store.find_reservation(&p, "R-1").await.unwrap(), None);

    // What the shard decides on re-reading the history: the booking stored
    // cancelled, taking no inventory. That commits.
    let stored_cancelled = Reservation { status: ReservationStatus::Cancelled, ..ota_reservation("R-1c", "DLX", "BDC", "OTA-1") };
    let late_new = InboundRecord { reservation_id: Some("R-1c".into()), ..inbound("BDC", "OTA-1", "1", InboundAction::New, secs(t0, 2)) };
    let create_cancelled = ShardCommit {
        reservations: vec![stored_cancelled.clone()],
        inbound: vec![late_new.clone()],
        events: vec![event("booking.created_cancelled", json!({"id": "R-1c"}))],
        ..commit_for("DLX", v)
    };
    assert_eq!(store.commit_shard(&create_cancelled).await.unwrap().version, v + 1);
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-1").await.unwrap(), vec![stone.clone(), late_new]);
    assert_eq!(store.find_reservation_by_external(&p, &chc("BDC"), "OTA-1").await.unwrap(), Some(stored_cancelled));
    // A New and its cancellation in one commit (the reservation ends cancelled) commits too.
    let v_std = version_of(&store, "STD").await;
    let mut both = new_booking("STD", v_std, "R-7", "OTA-7", t0);
    let mut r7_cancelled = both.reservations[0].clone();
    r7_cancelled.status = ReservationStatus::Cancelled;
    r7_cancelled.revision = 2;
    both.reservations.push(r7_cancelled);
    both.inbound.push(InboundRecord { reservation_id: Some("R-7".into()), ..tombstone("BDC", "OTA-7", t0) });
    both.changes = CellChanges::default();
    store.commit_shard(&both).await.unwrap();

    // Only an APPLIED cancellation of the same channel and OTA id blocks: a
    // stale one, a move's, another OTA id's or another channel's does not.
    store.insert_inbound(&InboundRecord { outcome: outcome("stale"), ..tombstone("BDC", "OTA-2", t0) }).await.unwrap();
    store
        .insert_inbound(&InboundRecord { outcome: outcome("moved"), reservation_id: Some("R-old".into()), ..tombstone("BDC", "OTA-3", t0) })
        .await
        .unwrap();
    store.insert_inbound(&tombstone("EXP", "OTA-4", t0)).await.unwrap();
    store.insert_inbound(&tombstone("BDC", "OTA-OTHER", t0)).await.unwrap();
    for (i, ota_id) in ["OTA-2", "OTA-3", "OTA-4"].into_iter().enumerate() {
        let v = version_of(&store, "DLX").await;
        let out = store.commit_shard(&new_booking("DLX", v, &format!("R-ok{i}"), ota_id, t0)).await;
        assert_eq!(out.map(|o| o.version).ok(), Some(v + 1), "{ota_id}");
    }

    // A cancellation applied by a shard commit blocks the same way: a
    // tombstone committed by one room type's shard, or a cancel of a
    // reservation (the booking's lines may live on several shards).
    let v_std = version_of(&store, "STD").await;
    let shard_stone = tombstone("BDC", "OTA-5", t0);
    store.commit_shard(&ShardCommit { inbound: vec![shard_stone], ..commit_for("STD", v_std) }).await.unwrap();
    let v = version_of(&store, "DLX").await;
    assert_conflict_is(
        store.commit_shard(&new_booking("DLX", v, "R-5", "OTA-5", t0)).await,
        "cancelled meanwhile: BDC/OTA-5",
        "new after a shard's tombstone",
    );
    let applied_cancel =
        InboundRecord { reservation_id: Some("R-ok0".into()), revision: "9".into(), ..tombstone("BDC", "OTA-2", secs(t0, 3)) };
    store.insert_inbound(&applied_cancel).await.unwrap();
    let mut again = new_booking("DLX", v, "R-ok0", "OTA-2", t0);
    again.inbound[0].action = InboundAction::Modify;
    again.inbound[0].revision = "10".into();
    assert_conflict_is(store.commit_shard(&again).await, "cancelled meanwhile: BDC/OTA-2", "modify after an applied cancel");
    assert_eq!(version_of(&store, "DLX").await, v);

    // Another property's cancellation with the same channel code and OTA id does not block.
    store.create_property(&property("HTL2", "default")).await.unwrap();
    store.create_channel(&channel("HTL2", "BDC")).await.unwrap();
    store.insert_inbound(&InboundRecord { property: pc("HTL2"), ..tombstone("BDC", "OTA-6", t0) }).await.unwrap();
    store.commit_shard(&new_booking("DLX", v, "R-6", "OTA-6", t0)).await.unwrap();
}

async fn case_booking_then_tombstone(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    store.create_channel(&channel(HTL, "BDC")).await.unwrap();
    store.create_channel(&channel(HTL, "EXP")).await.unwrap();
    let t0 = Timestamp::now();
    let v = version_of(&store, "DLX").await;
    let booking = new_booking("DLX", v, "R-1", "OTA-1", t0);
    store.commit_shard(&booking).await.unwrap();
    let booked = booking.inbound[0].clone();

    // The tombstone comes too late: refused, nothing written.
    let r = store.insert_inbound(&tombstone("BDC", "OTA-1", secs(t0, 1))).await;
    assert!(r.as_ref().is_err_and(StoreError::is_booking_exists), "{r:?}");
    assert!(!r.as_ref().is_err_and(StoreError::is_cancelled_meanwhile));
    assert_conflict_is(r, "booking exists: BDC/OTA-1", "tombstone after its booking");
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-1").await.unwrap(), vec![booked.clone()]);

    // Whatever the reservation's status.
    let mut cancelled = booking.reservations[0].clone();
    cancelled.status = ReservationStatus::Cancelled;
    cancelled.revision = 2;
    let shard_cancel = InboundRecord { reservation_id: Some("R-1".into()), ..tombstone("BDC", "OTA-1", secs(t0, 2)) };
    store
        .commit_shard(&ShardCommit { reservations: vec![cancelled], inbound: vec![shard_cancel.clone()], ..commit_for("DLX", v + 1) })
        .await
        .unwrap();
    let late = InboundRecord { revision: "3".into(), ..tombstone("BDC", "OTA-1", secs(t0, 3)) };
    assert_conflict_is(store.insert_inbound(&late).await, "booking exists: BDC/OTA-1", "tombstone of a cancelled booking");
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-1").await.unwrap(), vec![booked.clone(), shard_cancel.clone()]);

    // Not tombstones (stale, unmapped) are recorded as before; so are
    // tombstones of another OTA id, another channel, another property.
    let stale = InboundRecord { outcome: outcome("stale"), revision: "4".into(), ..tombstone("BDC", "OTA-1", secs(t0, 4)) };
    let unmapped =
        InboundRecord { outcome: outcome("unmapped: room X rate -"), ..inbound("BDC", "OTA-1", "5", InboundAction::New, secs(t0, 5)) };
    store.insert_inbound(&stale).await.unwrap();
    store.insert_inbound(&unmapped).await.unwrap();
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-1").await.unwrap(), vec![booked, shard_cancel, stale, unmapped]);
    store.insert_inbound(&tombstone("BDC", "OTA-2", t0)).await.unwrap();
    store.insert_inbound(&tombstone("EXP", "OTA-1", t0)).await.unwrap();
    store.create_property(&property("HTL2", "default")).await.unwrap();
    store.create_channel(&channel("HTL2", "BDC")).await.unwrap();
    store.insert_inbound(&InboundRecord { property: pc("HTL2"), ..tombstone("BDC", "OTA-1", t0) }).await.unwrap();

    // A tombstone recorded by a shard commit is checked the same way: the
    // whole commit is refused and writes nothing.
    let v = version_of(&store, "DLX").await;
    store.commit_shard(&new_booking("DLX", v, "R-8", "OTA-8", t0)).await.unwrap();
    let before = snapshot(&store, "STD", "OTA-8").await;
    let v_std = version_of(&store, "STD").await;
    let mut changes = CellChanges::default();
    changes.inventory.insert(day(10), InventoryDay { out_of_order: 1, ..Default::default() });
    let shard_stone = ShardCommit {
        changes,
        events: vec![event("x", json!({}))],
        inbound: vec![tombstone("BDC", "OTA-8", t0)],
        ..commit_for("STD", v_std)
    };
    assert_conflict_is(store.commit_shard(&shard_stone).await, "booking exists: BDC/OTA-8", "shard tombstone after its booking");
    assert_eq!(snapshot(&store, "STD", "OTA-8").await, before);
}

async fn case_booking_tombstone_race(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    store.create_channel(&channel(HTL, "BDC")).await.unwrap();
    let t0 = Timestamp::now();

    // A shard commits the booking while the webhook records its
    // cancellation, released together: exactly one of them lands.
    const ROUNDS: usize = 20;
    let (mut booking_won, mut tombstone_won) = (0, 0);
    for round in 0..ROUNDS {
        let ota_id = format!("RACE-{round}");
        let id = format!("R-RACE-{round}");
        let before = snapshot(&store, "DLX", &ota_id).await;
        let commit = new_booking("DLX", before.0, &id, &ota_id, t0);
        let delivery = commit.inbound[0].clone();
        let stone = tombstone("BDC", &ota_id, t0);
        let gate = Arc::new(tokio::sync::Barrier::new(2));
        let (s1, s2, g1, g2, st) = (store.clone(), store.clone(), gate.clone(), gate, stone.clone());
        let (rc, rt) = tokio::join!(
            tokio::spawn(async move {
                g1.wait().await;
                s1.commit_shard(&commit).await
            }),
            tokio::spawn(async move {
                g2.wait().await;
                s2.insert_inbound(&st).await
            })
        );
        let after = snapshot(&store, "DLX", &ota_id).await;
        match (rc.unwrap(), rt.unwrap()) {
            (Ok(out), Err(e)) => {
                booking_won += 1;
                assert!(e.is_booking_exists(), "round {round}: {e:?}");
                assert_eq!(out.version, before.0 + 1);
                assert_eq!(after.3, vec![delivery], "round {round}");
                assert!(after.4.is_some_and(|r| r.id == id && r.is_active()), "round {round}");
            }
            (Err(e), Ok(())) => {
                tombstone_won += 1;
                assert!(e.is_cancelled_meanwhile(), "round {round}: {e:?}");
                assert_eq!(after, (before.0, before.1, before.2, vec![stone], None), "round {round}: the booking wrote nothing");
            }
            other => panic!("round {round}: exactly one of booking and tombstone must land, got {other:?}"),
        }
    }
    eprintln!("    booking first {booking_won}, tombstone first {tombstone_won}");

    // The same race between two shard commits (another room type's shard
    // recording the tombstone; on SQLite typically one group transaction).
    for round in 0..ROUNDS {
        let ota_id = format!("RACE2-{round}");
        let id = format!("R-RACE2-{round}");
        let v_dlx = version_of(&store, "DLX").await;
        let v_std = version_of(&store, "STD").await;
        let booking = new_booking("DLX", v_dlx, &id, &ota_id, t0);
        let stone = ShardCommit { inbound: vec![tombstone("BDC", &ota_id, t0)], ..commit_for("STD", v_std) };
        let (s1, s2) = (store.clone(), store.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { s1.commit_shard(&booking).await }),
            tokio::spawn(async move { s2.commit_shard(&stone).await })
        );
        let history = store.inbound_history(&p, &chc("BDC"), &ota_id).await.unwrap();
        let res = store.find_reservation(&p, &id).await.unwrap();
        match (ra.unwrap(), rb.unwrap()) {
            (Ok(_), Err(e)) => {
                assert!(e.is_booking_exists(), "round {round}: {e:?}");
                assert_eq!(history.iter().map(|r| r.action).collect::<Vec<_>>(), vec![InboundAction::New]);
                assert!(res.is_some());
            }
            (Err(e), Ok(_)) => {
                assert!(e.is_cancelled_meanwhile(), "round {round}: {e:?}");
                assert_eq!(history.iter().map(|r| r.action).collect::<Vec<_>>(), vec![InboundAction::Cancel]);
                assert_eq!(res, None);
                assert_eq!(version_of(&store, "DLX").await, v_dlx);
            }
            other => panic!("round {round}: exactly one of two shard commits must land, got {other:?}"),
        }
    }
}

async fn case_cancelled_booking_fails_alone(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    store.create_channel(&channel(HTL, "BDC")).await.unwrap();
    let t0 = Timestamp::now();
    store.insert_inbound(&tombstone("BDC", "OTA-C", t0)).await.unwrap();

    // Rounds of two concurrent commits (on SQLite typically one group
    // transaction): an unrelated booking line on STD, and the cancelled
    // booking on DLX. The first lands whole; the second fails alone.
    const ROUNDS: i64 = 8;
    for round in 0..ROUNDS {
        let v_dlx = version_of(&store, "DLX").await;
        let v_std = version_of(&store, "STD").await;
        let ota_id = format!("OTA-S{round}");
        let good = new_booking("STD", v_std, &format!("R-S{round}"), &ota_id, secs(t0, round));
        let fresh = good.inbound[0].clone();
        let bad = new_booking("DLX", v_dlx, &format!("R-D{round}"), "OTA-C", secs(t0, round));
        let (s1, s2) = (store.clone(), store.clone());
        let (good_out, bad_out) = tokio::join!(
            tokio::spawn(async move { s1.commit_shard(&good).await }),
            tokio::spawn(async move { s2.commit_shard(&bad).await })
        );
        assert_eq!(good_out.unwrap().unwrap().version, v_std + 1, "round {round}");
        assert_conflict_is(bad_out.unwrap(), "cancelled meanwhile: BDC/OTA-C", &format!("round {round}"));
        assert_eq!(version_of(&store, "DLX").await, v_dlx, "round {round}");
        assert_eq!(store.find_reservation(&p, &format!("R-D{round}")).await.unwrap(), None);
        assert_eq!(store.inbound_history(&p, &chc("BDC"), &ota_id).await.unwrap(), vec![fresh]);
    }
    let dlx = store.load_calendar(&p, &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!(dlx.inventory.get_or_default(day(10)).sold, 0, "no refused commit wrote its cell");
    let seqs: Vec<i64> = store.events_after(&p, 0, 100).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=ROUNDS).collect::<Vec<_>>(), "refused commits used no event numbers");
    assert_eq!(store.inbound_history(&p, &chc("BDC"), "OTA-C").await.unwrap().len(), 1, "the tombstone alone");
}

async fn case_channel_properties(store: Arc<dyn Store>) {
    assert!(store.list_channel_properties().await.unwrap().is_empty());
    setup(&store).await;
    assert!(store.list_channel_properties().await.unwrap().is_empty(), "a property without channels");
    for code in ["b-2", "HTL2", "A_1", "NOCHAN"] {
        store.create_property(&property(code, "default")).await.unwrap();
    }
    for (property, code) in [("HTL2", "BDC"), ("HTL2", "EXP"), ("b-2", "BDC"), (HTL, "BDC"), ("A_1", "JSR")] {
        store.create_channel(&channel(property, code)).await.unwrap();
    }
    // Each once, bytewise (upper case before '_' before lower case).
    assert_eq!(store.list_channel_properties().await.unwrap(), vec![pc("A_1"), pc(HTL), pc("HTL2"), pc("b-2")]);
}

fn task(id: &str, room: &str, at: Timestamp) -> HousekeepingTask {
    HousekeepingTask {
        id: id.into(),
        property: pc(HTL),
        room: RoomNumber::parse(room).unwrap(),
        kind: "clean".into(),
        status: TaskStatus::Open,
        assignee: None,
        note: Some("late checkout".into()),
        created_at: at,
        updated_at: at,
    }
}

async fn case_tasks(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    let t0 = Timestamp::from_second(1_800_000_000).unwrap();
    let a = task("T1", "101", t0);
    let b = HousekeepingTask { note: None, kind: "inspect".into(), ..task("T2", "201", secs(t0, 5)) };
    store.create_task(&a).await.unwrap();
    store.create_task(&b).await.unwrap();
    assert_conflict(store.create_task(&a).await, "duplicate task id");
    assert_not_found(store.create_task(&task("T3", "999", t0)).await, "unknown room");
    assert_not_found(store.create_task(&HousekeepingTask { property: pc("NOPE"), ..task("T4", "101", t0) }).await, "unknown property");
    assert_eq!(store.find_task(&p, "T1").await.unwrap(), Some(a.clone()));
    assert_eq!(store.find_task(&p, "T9").await.unwrap(), None);
    assert_eq!(store.list_tasks(&p, false).await.unwrap(), vec![a.clone(), b.clone()]);

    let assigned = HousekeepingTask { status: TaskStatus::Assigned, assignee: Some("ani".into()), updated_at: secs(t0, 10), ..a.clone() };
    store.update_task(&assigned, TaskStatus::Open).await.unwrap();
    assert_eq!(store.find_task(&p, "T1").await.unwrap(), Some(assigned.clone()));
    // A second writer that still saw the task open loses, and writes nothing.
    let other = HousekeepingTask { status: TaskStatus::Assigned, assignee: Some("budi".into()), ..a.clone() };
    assert_conflict(store.update_task(&other, TaskStatus::Open).await, "stale expected status");
    assert_eq!(store.find_task(&p, "T1").await.unwrap(), Some(assigned.clone()));
    assert_not_found(store.update_task(&task("T9", "101", t0), TaskStatus::Open).await, "unknown task");

    let done = HousekeepingTask { status: TaskStatus::Done, ..assigned.clone() };
    store.update_task(&done, TaskStatus::Assigned).await.unwrap();
    assert_eq!(store.list_tasks(&p, true).await.unwrap(), vec![b.clone()]);
    assert_eq!(store.list_tasks(&p, false).await.unwrap(), vec![done, b]);
}

async fn case_business_date(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    assert_eq!(store.get_business_date(&p).await.unwrap(), None);
    assert_conflict(store.set_business_date(&p, day(0), Some(day(-1))).await, "expected a date, none stored");
    store.set_business_date(&p, day(0), None).await.unwrap();
    assert_eq!(store.get_business_date(&p).await.unwrap(), Some(day(0)));
    assert_conflict(store.set_business_date(&p, day(1), None).await, "second first run");
    store.set_business_date(&p, day(1), Some(day(0))).await.unwrap();
    assert_conflict(store.set_business_date(&p, day(1), Some(day(0))).await, "double run");
    assert_eq!(store.get_business_date(&p).await.unwrap(), Some(day(1)));
    assert_not_found(store.get_business_date(&pc("NOPE")).await, "unknown property");
}

async fn case_front_desk_round_trip(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    let r1 = reservation("R1", "DLX", 1);
    let out = store
        .commit_shard(&ShardCommit { reservations: vec![r1.clone()], ..commit_for("DLX", version_of(&store, "DLX").await) })
        .await
        .unwrap();
    assert_eq!(store.find_reservation(&p, "R1").await.unwrap(), Some(r1.clone()), "no stay state yet");
    // Checked in (with a room), then out, then marked a no-show: each field
    // round-trips exactly, and so does clearing them again.
    let t_in = Timestamp::from_nanosecond(1_800_000_000_123_456_789).unwrap();
    let r2 = Reservation { revision: 2, checked_in_at: Some(t_in), room: Some(RoomNumber::parse("101").unwrap()), ..r1.clone() };
    let out = store.commit_shard(&ShardCommit { reservations: vec![r2.clone()], ..commit_for("DLX", out.version) }).await.unwrap();
    assert_eq!(store.find_reservation(&p, "R1").await.unwrap(), Some(r2.clone()));
    let r3 = Reservation { revision: 3, checked_out_at: Some(secs(t_in, 86_400)), ..r2.clone() };
    let out = store.commit_shard(&ShardCommit { reservations: vec![r3.clone()], ..commit_for("DLX", out.version) }).await.unwrap();
    assert_eq!(store.find_reservation(&p, "R1").await.unwrap(), Some(r3.clone()));
    assert_eq!(store.list_reservations(&p, &rtc("DLX")).await.unwrap(), vec![r3]);
    let r4 = Reservation { revision: 4, status: ReservationStatus::NoShow, ..r1 };
    store.commit_shard(&ShardCommit { reservations: vec![r4.clone()], ..commit_for("DLX", out.version) }).await.unwrap();
    assert_eq!(store.find_reservation(&p, "R1").await.unwrap(), Some(r4), "no_show status, stay state cleared");
}

async fn case_no_show_candidates(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    let arriving = |id: &str, rt: &str, offset: i64| {
        let mut r = reservation(id, rt, 1);
        r.check_in = day(offset);
        r.check_out = day(offset + 2);
        r.external_id = Some(format!("OTA-{id}"));
        r
    };
    let on_the_day = arriving("A-day", "DLX", 10);
    let earlier = arriving("A-early", "STD", 8);
    let earlier_dlx = arriving("A-early-dlx", "DLX", 9);
    let checked_in = Reservation { checked_in_at: Some(Timestamp::now()), ..arriving("B-in", "DLX", 10) };
    let checked_out =
        Reservation { checked_in_at: Some(Timestamp::now()), checked_out_at: Some(Timestamp::now()), ..arriving("B-out", "DLX", 9) };
    let cancelled = Reservation { status: ReservationStatus::Cancelled, ..arriving("C-x", "DLX", 10) };
    let no_show = Reservation { status: ReservationStatus::NoShow, ..arriving("C-ns", "DLX", 9) };
    let tomorrow = arriving("D-later", "DLX", 11);
    let mut dlx = vec![on_the_day.clone(), earlier_dlx.clone(), checked_in, checked_out, cancelled, no_show, tomorrow];
    dlx.reverse();
    store.commit_shard(&ShardCommit { reservations: dlx, ..commit_for("DLX", version_of(&store, "DLX").await) }).await.unwrap();
    store
        .commit_shard(&ShardCommit { reservations: vec![earlier.clone()], ..commit_for("STD", version_of(&store, "STD").await) })
        .await
        .unwrap();

    // Room type code order (bytewise), then check-in, then id.
    let all = day(-365);
    assert_eq!(store.no_show_candidates(&p, all, day(10)).await.unwrap(), vec![earlier_dlx.clone(), on_the_day.clone(), earlier.clone()]);
    assert_eq!(store.no_show_candidates(&p, all, day(9)).await.unwrap(), vec![earlier_dlx.clone(), earlier.clone()]);
    assert!(store.no_show_candidates(&p, all, day(7)).await.unwrap().is_empty());
    // The lower bound (when marking began) is inclusive; earlier arrivals
    // are never candidates.
    assert_eq!(store.no_show_candidates(&p, day(8), day(10)).await.unwrap(), vec![earlier_dlx.clone(), on_the_day.clone(), earlier]);
    assert_eq!(store.no_show_candidates(&p, day(9), day(10)).await.unwrap(), vec![earlier_dlx.clone(), on_the_day.clone()]);
    assert_eq!(store.no_show_candidates(&p, day(10), day(10)).await.unwrap(), vec![on_the_day]);
    assert_eq!(store.no_show_candidates(&p, day(9), day(9)).await.unwrap(), vec![earlier_dlx]);
    assert!(store.no_show_candidates(&p, day(11), day(10)).await.unwrap().is_empty());
    // Another property's reservations are not its candidates; an unknown
    // property has none.
    store.create_property(&property("HTL2", "other")).await.unwrap();
    assert!(store.no_show_candidates(&pc("HTL2"), all, day(10)).await.unwrap().is_empty());
    assert!(store.no_show_candidates(&pc("NOPE"), all, day(10)).await.unwrap().is_empty());
}

/// A room status change (out of order, with its range) is written with its
/// calendar cells in one commit, only if the stored room is still as
/// expected: otherwise `Conflict` and nothing (cells, version) is written.
async fn case_room_changes(store: Arc<dyn Store>) {
    setup(&store).await;
    let p = pc(HTL);
    let stored = |store: Arc<dyn Store>| async move {
        store.load_config(&pc(HTL)).await.unwrap().unwrap().rooms.into_iter().find(|r| r.number.as_str() == "101").unwrap()
    };
    let before = stored(store.clone()).await;
    assert_eq!(before.out_of_order, None);
    let range = saluran_domain::dates::DateRange::new(day(5), day(7)).unwrap();
    let ooo = Room { status: RoomStatus::OutOfOrder, out_of_order: Some(range), ..before.clone() };
    let mut changes = CellChanges::default();
    for d in range.days() {
        changes.inventory.insert(d, InventoryDay { out_of_order: 1, ..Default::default() });
    }
    let v = version_of(&store, "DLX").await;
    let commit = ShardCommit {
        changes: changes.clone(),
        rooms: vec![saluran_domain::store::RoomChange { expected: before.clone(), room: ooo.clone() }],
        ..commit_for("DLX", v)
    };
    store.commit_shard(&commit).await.unwrap();
    assert_eq!(stored(store.clone()).await, ooo, "status and range round-trip");
    let cal = store.load_calendar(&p, &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!(cal.inventory.get_or_default(day(6)).out_of_order, 1);

    // The same change again (the room is no longer as expected): refused whole.
    let again = ShardCommit { expected_version: v + 1, changes: CellChanges::default(), ..commit.clone() };
    let mut more = CellChanges::default();
    more.inventory.insert(day(6), InventoryDay { out_of_order: 2, ..Default::default() });
    assert_conflict(store.commit_shard(&ShardCommit { changes: more, ..again }).await, "room changed meanwhile");
    let cal = store.load_calendar(&p, &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!((cal.version, cal.inventory.get_or_default(day(6)).out_of_order), (v + 1, 1), "nothing written");

    // Back in service from the stored state: range cleared, cells released.
    let back = Room { status: RoomStatus::VacantDirty, out_of_order: None, ..before.clone() };
    let mut release = CellChanges::default();
    for d in range.days() {
        release.inventory.insert(d, InventoryDay::default());
    }
    let commit = ShardCommit {
        changes: release,
        rooms: vec![saluran_domain::store::RoomChange { expected: ooo, room: back.clone() }],
        ..commit_for("DLX", v + 1)
    };
    store.commit_shard(&commit).await.unwrap();
    assert_eq!(stored(store.clone()).await, back);
    let cal = store.load_calendar(&p, &rtc("DLX"), day(0)).await.unwrap();
    assert_eq!(cal.inventory.get_or_default(day(6)).out_of_order, 0);
}
