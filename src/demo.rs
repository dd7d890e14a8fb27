//! `saluran demo`: an embedded SQLite database, a seeded demo property and
//! the server, for a newcomer's first look.

use crate::app::{self, App};
use crate::auth;
use crate::config::Settings;
use crate::store;
use rust_decimal::Decimal;
use saluran_actors::PropertyMsg;
use saluran_domain::ari::AriUpdate;
use saluran_domain::dates::{DateRange, Weekdays};
use saluran_domain::property::{Adjustment, Derivation, Property, RatePlan, Role, Room, RoomStatus, RoomType, TokenScope};
use saluran_domain::{Currency, PropertyCode, Rate, RatePlanCode, RoomNumber, RoomTypeCode, TenantCode};

pub const DEMO_PROPERTY: &str = "DEMO-BALI";

/// (code, name, max occupancy, rooms, BAR weekday rate, weekend rate)
const ROOM_TYPES: [(&str, &str, u8, u16, i64, i64); 3] = [
    ("STD", "Standard Garden View", 2, 12, 850_000, 1_050_000),
    ("DLX", "Deluxe Ocean View", 3, 8, 1_450_000, 1_750_000),
    ("STE", "Pool Villa Suite", 4, 3, 3_900_000, 4_600_000),
];

/// Creates the demo property with a year of ARI, unless it exists.
pub async fn seed(app: &App) -> anyhow::Result<()> {
    let code = PropertyCode::parse(DEMO_PROPERTY)?;
    if app.store().find_property(&code).await?.is_some() {
        return Ok(());
    }
    let property = Property {
        tenant: TenantCode::parse("default")?,
        code: code.clone(),
        name: "Saluran Demo Resort, Bali".into(),
        timezone: "Asia/Makassar".into(),
        currency: Currency::IDR,
        night_audit_time: "02:00".into(),
        // The demo is driven through the front desk (check-in/out), so its
        // night audit may mark no-shows.
        marks_no_shows: true,
        no_shows_from: None,
    };
    let property = Property { no_shows_from: Some(property.local_date(app.deps().clock.now())), ..property };
    app.store().create_property(&property).await?;
    let h = app.property(&code).await?;
    let t = app.deps().call_timeout;
    let mut updates = Vec::new();
    let today = property.local_date(app.deps().clock.now());
    let year = DateRange::new(today, today.checked_add(jiff::Span::new().days(364))?)?;
    for (floor, (rt, name, occ, rooms, weekday, weekend)) in (1i16..).zip(ROOM_TYPES) {
        let rtc = RoomTypeCode::parse(rt)?;
        let room_type = RoomType { code: rtc.clone(), name: name.into(), max_occupancy: occ, physical_rooms: 0 };
        h.call(t, |reply| PropertyMsg::CreateRoomType { room_type, reply }).await??;
        for i in 1..=rooms {
            let room = Room {
                number: RoomNumber::parse(format!("{floor}{i:02}"))?,
                room_type: rtc.clone(),
                floor,
                status: RoomStatus::VacantClean,
                out_of_order: None,
            };
            h.call(t, |reply| PropertyMsg::CreateRoom { room, reply }).await??;
        }
        let bar = RatePlanCode::parse(format!("{rt}-BAR"))?;
        let plans = [
            RatePlan { code: bar.clone(), room_type: rtc.clone(), name: "Best Available Rate".into(), derived: None },
            RatePlan {
                code: RatePlanCode::parse(format!("{rt}-NRF"))?,
                room_type: rtc.clone(),
                name: "Non-refundable (-10%)".into(),
                derived: Some(Derivation { parent: bar.clone(), adjustment: Adjustment::Percent(Decimal::from(-10)) }),
            },
            RatePlan {
                code: RatePlanCode::parse(format!("{rt}-BB"))?,
                room_type: rtc.clone(),
                name: "Bed & Breakfast (+250k)".into(),
                derived: Some(Derivation { parent: bar.clone(), adjustment: Adjustment::Amount(Decimal::from(250_000)) }),
            },
        ];
        for plan in plans {
            h.call(t, |reply| PropertyMsg::CreateRatePlan { plan, reply }).await??;
        }
        let line = |days: &[&str], rate: i64| -> anyhow::Result<AriUpdate> {
            Ok(AriUpdate {
                room_type: rtc.clone(),
                rate_plan: Some(bar.clone()),
                range: year,
                days: Weekdays::parse(&days.iter().map(|d| d.to_string()).collect::<Vec<_>>())?,
                availability: None,
                rate: Some(Rate::new(Decimal::from(rate))?),
                occupancy_rates: None,
                min_stay: Some(1),
                min_stay_through: None,
                max_stay: None,
                closed_to_arrival: None,
                closed_to_departure: None,
                stop_sell: None,
            })
        };
        updates.push(line(&["mo", "tu", "we", "th", "su"], weekday)?);
        updates.push(line(&["fr", "sa"], weekend)?);
    }
    let outcome = h.call(t, |reply| PropertyMsg::ApplyAri { updates, reply }).await??;
    tracing::info!(property = DEMO_PROPERTY, cells = outcome.cells, "demo property seeded");
    Ok(())
}

/// One simulator per profile, connected to the demo property through the
/// API, each sending a trickle of bookings.
async fn connect_simulators(base: &str, token: &str) -> anyhow::Result<Vec<saluran_sim::SimHandle>> {
    use saluran_sim::{Profile, Sim, SimConfig};
    let http = reqwest::Client::new();
    let hook_password = "demo-webhook-secret";
    let ot = Sim::start(SimConfig::new(Profile::Opentravel, "DEMO-OT", "saluran", "ota-password").with_hub_webhook(
        format!("{base}/webhooks/opentravel/{DEMO_PROPERTY}/BOOKING"),
        "booking-hook",
        hook_password,
    ))
    .await?;
    let ab = Sim::start(SimConfig::new(Profile::Alpinebits, "DEMOAB", "saluran", "ota-password")).await?;
    let jr = Sim::start(SimConfig::new(Profile::Jsonrest, "DEMO-JR", "saluran", "ota-api-key").with_hub_webhook(
        format!("{base}/webhooks/jsonrest/{DEMO_PROPERTY}/TRAVELOKA"),
        "",
        hook_password,
    ))
    .await?;
    let mappings: Vec<serde_json::Value> = ["STD", "DLX", "STE"]
        .iter()
        .map(|rt| serde_json::json!({"room_type": rt, "rate_plan": format!("{rt}-BAR"), "ota_room": rt, "ota_rate": "BAR"}))
        .collect();
    let channels = [
        (
            "BOOKING",
            "opentravel",
            "booking",
            ot.base_url(),
            "DEMO-OT",
            serde_json::json!({"username": "saluran", "password": "ota-password"}),
            "booking-hook",
        ),
        (
            "TIKET",
            "alpinebits",
            "tiketcom",
            format!("{}/alpinebits", ab.base_url()),
            "DEMOAB",
            serde_json::json!({"username": "saluran", "password": "ota-password"}),
            "tiket-hook",
        ),
        (
            "TRAVELOKA",
            "jsonrest",
            "traveloka",
            format!("{}/api", jr.base_url()),
            "DEMO-JR",
            serde_json::json!({"api_key": "ota-api-key"}),
            "tvl-hook",
        ),
    ];
    for (code, profile, preset, endpoint, hotel, creds, user) in channels {
        let body = serde_json::json!({"code": code, "profile": profile, "preset": preset, "endpoint": endpoint, "hotel_code": hotel,
            "credentials": creds, "webhook_auth": {"username": user, "password": hook_password}, "mappings": mappings});
        let r = http.post(format!("{base}/api/v1/properties/{DEMO_PROPERTY}/channels")).bearer_auth(token).json(&body).send().await?;
        if !(r.status().is_success() || r.status() == reqwest::StatusCode::CONFLICT) {
            anyhow::bail!("connecting {code}: {} {}", r.status(), r.text().await.unwrap_or_default());
        }
    }
    for sim in [&ot, &ab, &jr] {
        let trickle = serde_json::json!({"per_second": 0.05, "rooms": ["STD/BAR", "DLX/BAR", "STE/BAR"], "horizon_days": 60, "max": 500});
        http.post(format!("{}/_sim/bookings/rate", sim.base_url())).json(&trickle).send().await?;
    }
    Ok(vec![ot, ab, jr])
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let opts =
        store::StoreOptions { sqlite_synchronous_full: settings.sqlite_synchronous_full, max_connections: settings.max_db_connections };
    let listener = tokio::net::TcpListener::bind(&settings.listen).await?;
    let addr = listener.local_addr()?;
    // The demo prints an admin token and runs with the built-in (public)
    // Pusher secret: off loopback it needs a real secret, as `serve` does,
    // and it is checked before anything is created or printed.
    settings.check_pusher_secret(addr).map_err(|e| anyhow::anyhow!(e))?;
    let st = store::connect(&settings.database_url, &opts).await?;
    let app = App::build(settings, st).await?;
    seed(&app).await?;
    let token = auth::create_token(
        app.store().as_ref(),
        &TokenScope { role: Role::Admin, tenant: TenantCode::parse("default")?, properties: vec![] },
    )
    .await?;
    let base = format!("http://{addr}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
    let server = tokio::spawn(async move {
        served
            .serve(listener, async move {
                tokio::select! { _ = app::shutdown_signal() => {}, _ = stop_rx => {} }
            })
            .await
    });
    let sims = match connect_simulators(&base, &token).await {
        Ok(s) => s,
        Err(e) => {
            let _ = stop_tx.send(());
            let _ = server.await;
            return Err(e);
        }
    };
    println!();
    println!("saluran demo is running at {base}");
    println!("  demo property:  {DEMO_PROPERTY} (3 room types, 23 rooms, 9 rate plans, a year of rates)");
    println!("  channels:       BOOKING (OpenTravel) at {}", sims[0].base_url());
    println!("                  TIKET (AlpineBits) at {}/alpinebits", sims[1].base_url());
    println!("                  TRAVELOKA (JSON REST) at {}/api", sims[2].base_url());
    println!("                  each OTA simulator sends a trickle of bookings; see {}/_sim/view", sims[0].base_url());
    println!("  channel status: curl -s -H \"Authorization: Bearer $TOKEN\" {base}/api/v1/properties/{DEMO_PROPERTY}/channels/BOOKING");
    println!("  health:         {base}/health");
    println!("  metrics:        {base}/metrics");
    println!("  API document:   {base}/api/openapi.json");
    println!("  admin token (set it first: TOKEN=<the line below>):");
    println!("{token}");
    let result = server.await.map_err(|e| anyhow::anyhow!("server task: {e}"))?;
    drop(stop_tx);
    for s in sims {
        s.stop().await;
    }
    result
}
