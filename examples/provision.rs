//! Provisions many properties straight through the store port (as a bulk
//! import would), for the start-up and memory measurements in
//! docs/PERFORMANCE.md:
//!
//! ```sh
//! cargo run --release --example provision -- sqlite:///tmp/saluran-10k.db 10000
//! ```
//!
//! Each property gets 5 room types × 10 rooms, 3 rate plans per room type
//! (BAR and two derived from it) and 730 days of inventory and BAR rates.

use rust_decimal::Decimal;
use saluran::store::{connect, StoreOptions};
use saluran_domain::ari::CellChanges;
use saluran_domain::calendar::{InventoryDay, RateDay};
use saluran_domain::property::{Adjustment, Derivation, Property, RatePlan, Room, RoomStatus, RoomType};
use saluran_domain::store::ShardCommit;
use saluran_domain::{Currency, PropertyCode, RatePlanCode, RoomNumber, RoomTypeCode, TenantCode};
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite:///tmp/saluran-10k.db".into());
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10_000);
    let prefix = args.next().unwrap_or_else(|| "P".into());
    let store = connect(&url, &StoreOptions { sqlite_synchronous_full: false, max_connections: 8 }).await?;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Asia/Jakarta")?).date();
    let started = Instant::now();
    for i in 0..n {
        let code = PropertyCode::parse(format!("{prefix}{i:05}"))?;
        if store.find_property(&code).await?.is_some() {
            continue;
        }
        let property = Property {
            tenant: TenantCode::parse("default")?,
            code: code.clone(),
            name: format!("Hotel {i}"),
            timezone: "Asia/Jakarta".into(),
            currency: Currency::IDR,
            night_audit_time: "02:00".into(),
            marks_no_shows: false,
            no_shows_from: None,
        };
        store.create_property(&property).await?;
        for r in 1..=5 {
            let rt = RoomTypeCode::parse(format!("RT{r}"))?;
            store
                .create_room_type(&code, &RoomType { code: rt.clone(), name: format!("Type {r}"), max_occupancy: 3, physical_rooms: 0 })
                .await?;
            for k in 0..10 {
                let room = Room {
                    number: RoomNumber::parse(format!("{r}{k:02}"))?,
                    room_type: rt.clone(),
                    floor: r as i16,
                    status: RoomStatus::VacantClean,
                    out_of_order: None,
                };
                store.create_room(&code, &room).await?;
            }
            let bar = RatePlanCode::parse(format!("RT{r}-BAR"))?;
            store
                .create_rate_plan(&code, &RatePlan { code: bar.clone(), room_type: rt.clone(), name: "BAR".into(), derived: None })
                .await?;
            for (suffix, adj) in [("NRF", Adjustment::Percent(Decimal::from(-10))), ("BB", Adjustment::Amount(Decimal::from(250_000)))] {
                let plan = RatePlan {
                    code: RatePlanCode::parse(format!("RT{r}-{suffix}"))?,
                    room_type: rt.clone(),
                    name: suffix.into(),
                    derived: Some(Derivation { parent: bar.clone(), adjustment: adj }),
                };
                store.create_rate_plan(&code, &plan).await?;
            }
            let mut changes = CellChanges::default();
            for d in 0..730 {
                let day = today.checked_add(jiff::Span::new().days(d))?;
                changes.inventory.insert(day, InventoryDay { allotment: Some(10), ..Default::default() });
                changes.rates.insert(
                    (bar.clone(), day),
                    RateDay { rate: Some(Decimal::from(500_000 + 100_000 * r)), min_stay_arrival: Some(1), ..Default::default() },
                );
            }
            let cal = store.load_calendar(&code, &rt, today).await?;
            store
                .commit_shard(&ShardCommit {
                    property: Some(code.clone()),
                    room_type: Some(rt),
                    expected_version: cal.version,
                    changes,
                    ..Default::default()
                })
                .await?;
        }
        if (i + 1) % 500 == 0 {
            eprintln!("{} properties in {:.1}s", i + 1, started.elapsed().as_secs_f64());
        }
    }
    println!("provisioned {n} properties in {:.1}s into {url}", started.elapsed().as_secs_f64());
    Ok(())
}
