//! The HTTP API end to end: the real server on a random port, a fresh
//! database per test.

mod common;

use common::{day, spawn_app, spawn_app_clocked, spawn_app_on, test_settings, TestApp};
use reqwest::StatusCode;
use saluran_domain::property::Role;
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_pms_contract() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/health", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["checks", "status", "timestamp", "uptime_seconds", "version"]);
    let checks: Vec<&str> = v["checks"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(checks, ["database", "license", "queue_failed", "queue_pending", "redis", "storage"]);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["checks"]["database"], "ok");
    assert_eq!(v["checks"]["redis"], "disabled");
    assert!(v["checks"]["queue_pending"].is_u64());
    // The timestamp carries an offset (Asia/Jakarta: +07:00).
    let ts = v["timestamp"].as_str().unwrap();
    assert!(ts.ends_with("+07:00"), "{ts}");
    assert!(ts.parse::<jiff::Timestamp>().is_ok());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_exposed_for_prometheus() {
    let app = spawn_app().await;
    app.seed_property("METRICS", 2).await;
    let body = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("saluran_http_requests_total"), "{body}");
    assert!(body.contains("saluran_shard_commit_seconds"), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_ari_search_book_cancel() {
    let app = spawn_app().await;
    app.seed_property("HOTEL1", 3).await;
    let p = "/api/v1/properties/HOTEL1";

    let cfg = app.ok_json(app.get(p).await, StatusCode::OK).await;
    assert_eq!(cfg["room_types"][0]["physical_rooms"], 3);
    assert_eq!(cfg["rate_plans"].as_array().unwrap().len(), 3);

    // Availability: STD-BAR 1,000,000 × 7, STD-NRF 900,000 × 7, DLX-BAR 2,000,000 × 7.
    let s =
        app.ok_json(app.get(&format!("{p}/availability?check_in={}&check_out={}&adults=2", day(5), day(12))).await, StatusCode::OK).await;
    let offers = s["offers"].as_array().unwrap();
    let total = |plan: &str| offers.iter().find(|o| o["rate_plan"] == plan).map(|o| o["total"].as_str().unwrap().to_owned());
    assert_eq!(total("STD-BAR").as_deref(), Some("7000000"));
    assert_eq!(total("STD-NRF").as_deref(), Some("6300000"));
    assert_eq!(total("DLX-BAR").as_deref(), Some("14000000"));

    // A weekend-only min stay on the arrival date hides the offer.
    app.ok_json(
        app.post(
            &format!("{p}/ari"),
            &json!({"updates": [{"room_type": "STD", "rate_plan": "STD-BAR", "from": day(5), "to": day(5), "min_stay": 8}]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let s =
        app.ok_json(app.get(&format!("{p}/availability?check_in={}&check_out={}&adults=2", day(5), day(12))).await, StatusCode::OK).await;
    let plans: Vec<&str> = s["offers"].as_array().unwrap().iter().map(|o| o["rate_plan"].as_str().unwrap()).collect();
    assert_eq!(
        plans,
        ["STD-BAR", "STD-NRF", "DLX-BAR"].into_iter().filter(|p| *p == "DLX-BAR").collect::<Vec<_>>(),
        "derived NRF inherits min stay"
    );

    // Book, read, cancel.
    let r = app.ok_json(app.book("HOTEL1", "STD", "STD-BAR", 20, 2).await, StatusCode::CREATED).await;
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(r["total"], "2000000");
    assert_eq!(r["status"], "confirmed");
    assert_eq!(app.inventory("HOTEL1", "STD", 20).await["sold"], 1);
    assert_eq!(app.inventory("HOTEL1", "STD", 21).await["sold"], 1);
    assert_eq!(app.inventory("HOTEL1", "STD", 22).await["sold"], 0);
    let got = app.ok_json(app.get(&format!("{p}/reservations/{id}")).await, StatusCode::OK).await;
    assert_eq!(got["id"], id.as_str());
    let c = app.ok_json(app.post(&format!("{p}/reservations/{id}/cancel"), &json!({})).await, StatusCode::OK).await;
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["revision"], 2);
    assert_eq!(app.inventory("HOTEL1", "STD", 20).await["sold"], 0);
    // Cancelling twice changes nothing more.
    let c2 = app.ok_json(app.post(&format!("{p}/reservations/{id}/cancel"), &json!({})).await, StatusCode::OK).await;
    assert_eq!(c2["revision"], 2);
    assert_eq!(app.inventory("HOTEL1", "STD", 20).await["sold"], 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_bookings_are_refused_when_full_and_allotment_caps_sales() {
    let app = spawn_app().await;
    app.seed_property("FULL", 2).await;
    app.ok_json(app.book("FULL", "STD", "STD-BAR", 3, 1).await, StatusCode::CREATED).await;
    app.ok_json(app.book("FULL", "STD", "STD-BAR", 3, 1).await, StatusCode::CREATED).await;
    let e = app.ok_json(app.book("FULL", "STD", "STD-BAR", 3, 1).await, StatusCode::CONFLICT).await;
    assert_eq!(e["error"]["code"], "not_available");
    assert_eq!(e["error"]["field"], "sold_out");
    // An allotment of 1 on another date allows one sale there.
    app.ok_json(
        app.post(
            "/api/v1/properties/FULL/ari",
            &json!({"updates": [{"room_type": "STD", "from": day(4), "to": day(4), "availability": 1}]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    app.ok_json(app.book("FULL", "STD", "STD-BAR", 4, 1).await, StatusCode::CREATED).await;
    app.ok_json(app.book("FULL", "STD", "STD-BAR", 4, 1).await, StatusCode::CONFLICT).await;
    let inv = app.inventory("FULL", "STD", 4).await;
    assert_eq!(inv["available"], 0);
    assert_eq!(inv["allotment"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_applies() {
    let app = spawn_app().await;
    app.seed_property("BAD", 2).await;
    let p = "/api/v1/properties/BAD";
    let before = app.inventory("BAD", "STD", 10).await;
    let before_cal = app.ok_json(app.get(&format!("{p}/ari?from={}&to={}", day(0), day(40))).await, StatusCode::OK).await;

    let good = json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(10), "to": day(12), "rate": "1", "availability": 1});
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(12), "to": day(10), "rate": "5"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_date_range",
        ),
        (
            json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(-2), "to": day(3), "rate": "5"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "date_in_past",
        ),
        (
            json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(1), "to": day(800), "rate": "5"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "beyond_horizon",
        ),
        (
            json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(1), "to": day(3), "rate": "-5"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(1), "to": day(3), "rate": "abc"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"room_type": "STD", "rate_plan": "STD-BAR", "from": day(1), "to": day(3), "rate": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"room_type": "NOPE", "from": day(1), "to": day(3), "availability": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_room_type",
        ),
        (
            json!({"room_type": "STD", "rate_plan": "NOPE", "from": day(1), "to": day(3), "rate": "1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_rate_plan",
        ),
        (
            json!({"room_type": "STD", "rate_plan": "STD-NRF", "from": day(1), "to": day(3), "rate": "1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "derived_rate_plan_rate",
        ),
        (json!({"room_type": "STD", "from": day(1), "to": day(3), "availability": -1}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (
            json!({"room_type": "STD", "from": day(1), "to": day(3), "availability": 1, "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"room_type": "STD", "from": "2026-02-30", "to": day(3), "availability": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"room_type": "STD", "from": day(1), "to": day(3), "days": ["xx"], "availability": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (json!({"room_type": "STD", "from": day(1), "to": day(3)}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
    ];
    for (bad, status, code) in cases {
        // The good line comes first: the batch must still apply nothing.
        let r = app.post(&format!("{p}/ari"), &json!({"updates": [good.clone(), bad.clone()]})).await;
        let body = app.ok_json(r, status).await;
        assert_eq!(body["error"]["code"], code, "for {bad}: {body}");
    }
    assert_eq!(app.inventory("BAD", "STD", 10).await, before, "nothing applied");
    let after_cal = app.ok_json(app.get(&format!("{p}/ari?from={}&to={}", day(0), day(40))).await, StatusCode::OK).await;
    assert_eq!(before_cal, after_cal, "nothing applied");

    // Malformed JSON, wrong content type, oversized body, empty batch.
    let r = app
        .client
        .post(format!("{}{p}/ari", app.base))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body("{\"updates\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(app.ok_json(r, StatusCode::BAD_REQUEST).await["error"]["code"], "invalid_json");
    let r = app.client.post(format!("{}{p}/ari", app.base)).bearer_auth(&app.admin).body("{}").send().await.unwrap();
    assert_eq!(app.ok_json(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await["error"]["code"], "unsupported_media_type");
    let huge = format!("{{\"updates\": [], \"x\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let r = app
        .client
        .post(format!("{}{p}/ari", app.base))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("connection").and_then(|v| v.to_str().ok()), Some("close"), "the unread body spoils the connection");
    assert_eq!(app.ok_json(r, StatusCode::PAYLOAD_TOO_LARGE).await["error"]["code"], "payload_too_large");
    let r = app.post(&format!("{p}/ari"), &json!({"updates": []})).await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["code"], "invalid_field");

    // Bad property, room type and reservation input.
    let r = app.post("/api/v1/properties", &json!({"code": "X1", "name": "n", "timezone": "Mars/Olympus", "currency": "IDR"})).await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["field"], "timezone");
    let r = app.post("/api/v1/properties", &json!({"code": "bad code", "name": "n", "timezone": "Asia/Jakarta", "currency": "IDR"})).await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["code"], "invalid_field");
    let r = app.post("/api/v1/properties", &json!({"code": "BAD", "name": "dup", "timezone": "Asia/Jakarta", "currency": "IDR"})).await;
    assert_eq!(app.ok_json(r, StatusCode::CONFLICT).await["error"]["code"], "already_exists");
    let r = app.post(&format!("{p}/rooms"), &json!({"number": "9", "room_type": "NOPE", "floor": 1})).await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["code"], "unknown_room_type");
    let r = app
        .post(
            &format!("{p}/rate-plans"),
            &json!({"code": "X", "room_type": "STD", "name": "x", "derived_from": "DLX-BAR", "adjustment": {"percent": "5"}}),
        )
        .await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["code"], "invalid_field");
    let book = |ci: String, co: String| json!({"room_type": "STD", "rate_plan": "STD-BAR", "check_in": ci, "check_out": co, "adults": 2, "guest": {"name": "A"}});
    let r = app.post(&format!("{p}/reservations"), &book(day(5), day(5))).await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["code"], "invalid_date_range");
    let r = app.post(&format!("{p}/reservations"), &book(day(-1), day(1))).await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["code"], "date_in_past");
    let r = app.get(&format!("{p}/availability?check_in={}&check_out=tomorrow", day(1))).await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["code"], "invalid_field");
    let r = app.get(&format!("{p}/reservations/does-not-exist")).await;
    assert_eq!(app.ok_json(r, StatusCode::NOT_FOUND).await["error"]["code"], "not_found");
    let r = app.get("/api/v1/properties/NOPE").await;
    assert_eq!(app.ok_json(r, StatusCode::NOT_FOUND).await["error"]["code"], "not_found");
    assert_eq!(app.inventory("BAD", "STD", 5).await["sold"], 0);
    app.stop().await;
}

/// Channel setup points saluran at a URL: admin only. A revenue manager's
/// try is refused with a machine-readable code and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_set_up_channels() {
    let app = spawn_app().await;
    app.seed_property("CHSET", 2).await;
    let body = json!({"code": "RMX", "profile": "opentravel", "preset": "booking", "endpoint": "http://127.0.0.1:9/internal",
        "hotel_code": "H1", "credentials": {}, "webhook_auth": {"username": "u", "password": "password-1"},
        "mappings": [{"room_type": "STD", "rate_plan": "STD-BAR", "ota_room": "R", "ota_rate": "B"}]});
    let rm = app.token(Role::RevenueManager, "default", &["CHSET"]).await;
    let r = app.post_as(&rm, "/api/v1/properties/CHSET/channels", &body).await;
    let e = app.ok_json(r, StatusCode::FORBIDDEN).await;
    assert_eq!(e["error"]["code"], "forbidden", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("admin"), "names the role needed: {e}");
    assert_eq!(app.get("/api/v1/properties/CHSET/channels/RMX").await.status(), StatusCode::NOT_FOUND, "nothing stored");
    app.stop().await;
}

/// The role matrix, checked against the one table the router enforces and
/// the README and the OpenAPI document are written from
/// (`saluran::http::access::ROUTES`): every route × every role, with a token
/// on the property: a role the table does not list gets 403 `forbidden`, a
/// role it lists never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_role_matrix_is_the_enforced_one() {
    use saluran::http::access::{Access, ROUTES};
    let app = spawn_app().await;
    app.seed_property("MTX", 2).await;
    let booked = app.ok_json(app.book("MTX", "STD", "STD-BAR", 2, 1).await, StatusCode::CREATED).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let p = "/api/v1/properties/MTX";
    // A request per route of the table; a route without one fails the test.
    let sample = |method: &str, path: &str| -> Option<(String, Value)> {
        let booking = json!({"room_type": "STD", "rate_plan": "STD-BAR", "check_in": day(1), "check_out": day(2), "adults": 1, "guest": {"name": "A"}});
        let channel = json!({"code": "MX", "profile": "opentravel", "preset": "booking", "endpoint": "http://127.0.0.1:9/x",
            "hotel_code": "H1", "credentials": {}, "webhook_auth": {"username": "u", "password": "password-1"}, "mappings": []});
        Some(match (method, path) {
            ("POST", "/api/v1/properties") => {
                (path.into(), json!({"code": "MTX2", "name": "n", "timezone": "Asia/Jakarta", "currency": "IDR"}))
            }
            ("GET", "/api/v1/properties/{property}") => (p.into(), Value::Null),
            ("PATCH", "/api/v1/properties/{property}") => (p.into(), json!({"marks_no_shows": false})),
            ("POST", "/api/v1/properties/{property}/room-types") => {
                (format!("{p}/room-types"), json!({"code": "NEW", "name": "n", "max_occupancy": 2}))
            }
            ("POST", "/api/v1/properties/{property}/rooms") => {
                (format!("{p}/rooms"), json!({"number": "N1", "room_type": "STD", "floor": 1}))
            }
            ("PATCH", "/api/v1/properties/{property}/rooms/{number}") => (format!("{p}/rooms/NOPE"), json!({"status": "vacant_clean"})),
            ("POST", "/api/v1/properties/{property}/tasks") => (format!("{p}/tasks"), json!({})),
            ("GET", "/api/v1/properties/{property}/tasks") => (format!("{p}/tasks"), Value::Null),
            ("POST", "/api/v1/properties/{property}/tasks/{id}/{action}") => (format!("{p}/tasks/nope/start"), json!({})),
            ("POST", "/api/v1/properties/{property}/rate-plans") => {
                (format!("{p}/rate-plans"), json!({"code": "P2", "room_type": "STD", "name": "n"}))
            }
            ("POST", "/api/v1/properties/{property}/ari") => {
                (format!("{p}/ari"), json!({"updates": [{"room_type": "STD", "from": day(1), "to": day(1), "availability": 1}]}))
            }
            ("GET", "/api/v1/properties/{property}/ari") => (format!("{p}/ari?from={}&to={}", day(0), day(1)), Value::Null),
            ("GET", "/api/v1/properties/{property}/availability") => {
                (format!("{p}/availability?check_in={}&check_out={}", day(1), day(2)), Value::Null)
            }
            ("POST", "/api/v1/properties/{property}/reservations") => (format!("{p}/reservations"), booking),
            ("GET", "/api/v1/properties/{property}/reservations/{id}") => (format!("{p}/reservations/{id}"), Value::Null),
            ("POST", "/api/v1/properties/{property}/reservations/{id}/cancel") => (format!("{p}/reservations/{id}/cancel"), json!({})),
            ("POST", "/api/v1/properties/{property}/reservations/{id}/check-in") => (format!("{p}/reservations/{id}/check-in"), json!({})),
            ("POST", "/api/v1/properties/{property}/reservations/{id}/check-out") => {
                (format!("{p}/reservations/{id}/check-out"), json!({}))
            }
            ("POST", "/api/v1/properties/{property}/channels") => (format!("{p}/channels"), channel),
            ("GET", "/api/v1/properties/{property}/channels/{channel}") => (format!("{p}/channels/NOPE"), Value::Null),
            _ => return None,
        })
    };
    let roles = [Role::Housekeeping, Role::FrontDesk, Role::RevenueManager, Role::Admin];
    let mut tokens = Vec::new();
    for role in roles {
        tokens.push((role, app.token(role, "default", &["MTX", "MTX2"]).await));
    }
    let mut checked = 0;
    for route in ROUTES {
        let Access::Needs(permission) = route.access else { continue };
        let (path, body) =
            sample(route.method, route.path).unwrap_or_else(|| panic!("no sample request for {} {}", route.method, route.path));
        // Refused roles first, so allowed calls' side effects change nothing for them.
        let mut ordered: Vec<&(Role, String)> = tokens.iter().collect();
        ordered.sort_by_key(|(role, _)| role.allows(permission));
        for (role, token) in ordered {
            let url = format!("{}{}", app.base, path);
            let rb = match route.method {
                "GET" => app.client.get(url),
                "PATCH" => app.client.patch(url).json(&body),
                "POST" => app.client.post(url).json(&body),
                m => panic!("method {m}"),
            };
            let r = rb.bearer_auth(token).send().await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap_or_default();
            let allowed = route.roles().contains(role);
            assert_eq!(allowed, role.allows(permission), "the table's roles are the permission's roles");
            if allowed {
                assert_ne!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {} as {}: documented as allowed: {v}",
                    route.method,
                    route.path,
                    role.as_str()
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {} as {}: documented as refused: {v}",
                    route.method,
                    route.path,
                    role.as_str()
                );
                assert_eq!(v["error"]["code"], "forbidden");
            }
            checked += 1;
        }
    }
    assert!(checked >= 4 * 20, "{checked} route × role checks");
    // The served API document says the same, operation by operation.
    let doc: Value = app.client.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    for route in ROUTES.iter().filter(|r| r.path.starts_with("/api/v1/")) {
        let roles: Vec<&str> = route.roles().iter().map(|r| r.as_str()).collect();
        assert_eq!(doc["paths"][route.path][route.method.to_ascii_lowercase()]["x-roles"], json!(roles), "{} {}", route.method, route.path);
    }
    assert_eq!(doc["paths"]["/api/v1/properties/{property}/channels"]["post"]["x-roles"], json!(["admin"]));
    // The admin-only setup calls made nothing for the roles refused.
    assert_eq!(app.ok_json(app.get(p).await, StatusCode::OK).await["marks_no_shows"], false);
    app.stop().await;
}

/// Every route, without a token (401), with a token of another tenant, of
/// another property, and of a role that may not (403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_requires_a_token_within_scope() {
    let app = spawn_app().await;
    app.seed_property("MINE", 2).await;
    app.seed_property("OTHER", 2).await;
    let booked = app.ok_json(app.book("MINE", "STD", "STD-BAR", 2, 1).await, StatusCode::CREATED).await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let p = "/api/v1/properties/MINE";
    let routes: Vec<(&str, String, Value)> = vec![
        ("POST", "/api/v1/properties".into(), json!({"code": "MINE2", "name": "n", "timezone": "Asia/Jakarta", "currency": "IDR"})),
        ("GET", p.to_string(), Value::Null),
        ("PATCH", p.to_string(), json!({"marks_no_shows": true})),
        ("POST", format!("{p}/room-types"), json!({"code": "NEW", "name": "n", "max_occupancy": 2})),
        ("POST", format!("{p}/rooms"), json!({"number": "N1", "room_type": "STD", "floor": 1})),
        ("POST", format!("{p}/rate-plans"), json!({"code": "P2", "room_type": "STD", "name": "n"})),
        ("POST", format!("{p}/ari"), json!({"updates": [{"room_type": "STD", "from": day(1), "to": day(1), "availability": 1}]})),
        ("GET", format!("{p}/ari?from={}&to={}", day(0), day(1)), Value::Null),
        ("GET", format!("{p}/availability?check_in={}&check_out={}", day(1), day(2)), Value::Null),
        (
            "POST",
            format!("{p}/reservations"),
            json!({"room_type": "STD", "rate_plan": "STD-BAR", "check_in": day(1), "check_out": day(2), "adults": 1, "guest": {"name": "A"}}),
        ),
        ("GET", format!("{p}/reservations/{id}"), Value::Null),
        ("POST", format!("{p}/reservations/{id}/cancel"), json!({})),
        ("POST", format!("{p}/reservations/{id}/check-in"), json!({})),
        ("POST", format!("{p}/reservations/{id}/check-out"), json!({})),
    ];
    let other_tenant = app.token(Role::Admin, "another-group", &[]).await;
    let other_property = app.token(Role::Admin, "default", &["OTHER"]).await;
    let housekeeping = app.token(Role::Housekeeping, "default", &[]).await;
    let send = |method: &str, path: &str, body: &Value, token: Option<&str>| {
        let url = format!("{}{}", app.base, path);
        let mut rb = match method {
            "GET" => app.client.get(url),
            "PATCH" => app.client.patch(url).json(body),
            _ => app.client.post(url).json(body),
        };
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    for (method, path, body) in &routes {
        let r = send(method, path, body, None).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path} without token");
        let r = send(method, path, body, Some("slr_not-a-real-token")).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path} with unknown token");
        for (who, t) in [("other tenant", &other_tenant), ("other property", &other_property)] {
            if path == "/api/v1/properties" && who == "other tenant" {
                continue; // another tenant may create its own properties (checked below)
            }
            let r = send(method, path, body, Some(t)).await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap_or_default();
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {who}: {v}");
            assert_eq!(v["error"]["code"], "forbidden");
        }
        if !(*method == "GET" && path == p) {
            let r = send(method, path, body, Some(&housekeeping)).await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path} as housekeeping");
        }
    }
    // Nothing was changed by the refused calls.
    assert_eq!(app.inventory("MINE", "STD", 1).await["allotment"], Value::Null);
    let r = app.get(&format!("{p}/reservations/{id}")).await;
    assert_eq!(app.ok_json(r, StatusCode::OK).await["status"], "confirmed");
    assert_eq!(app.ok_json(app.get(p).await, StatusCode::OK).await["marks_no_shows"], false);
    // Another tenant's admin creates properties in its own tenant only, and
    // they stay invisible to this tenant.
    let r = app
        .post_as(
            &other_tenant,
            "/api/v1/properties",
            &json!({"code": "THEIRS", "name": "n", "timezone": "Asia/Jayapura", "currency": "IDR"}),
        )
        .await;
    assert_eq!(app.ok_json(r, StatusCode::CREATED).await["tenant"], "another-group");
    assert_eq!(app.get("/api/v1/properties/THEIRS").await.status(), StatusCode::FORBIDDEN);
    // A front-desk token may book but not change rates.
    let fd = app.token(Role::FrontDesk, "default", &["MINE"]).await;
    let r = app.post_as(&fd, &format!("{p}/reservations"), &routes[9].2).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app.post_as(&fd, &format!("{p}/ari"), &routes[6].2).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_replay_refuse_and_serialize() {
    let app = spawn_app().await;
    app.seed_property("IDEM", 5).await;
    let url = format!("{}/api/v1/properties/IDEM/reservations", app.base);
    let body =
        json!({"room_type": "STD", "rate_plan": "STD-BAR", "check_in": day(7), "check_out": day(8), "adults": 2, "guest": {"name": "Ayu"}});
    let send = |key: &str, b: &Value| app.client.post(&url).bearer_auth(&app.admin).header("Idempotency-Key", key).json(b).send();

    let first = send("k-1", &body).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send("k-1", &body).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again, "the stored response is replayed");
    assert_eq!(app.inventory("IDEM", "STD", 7).await["sold"], 1, "applied once");

    let mut other = body.clone();
    other["adults"] = json!(1);
    let r = send("k-1", &other).await.unwrap();
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["code"], "idempotency_key_reused");

    // A key whose first request is still running gets 409, deterministically:
    // the store holds it in progress under this token's scope.
    let scope = saluran::auth::hash_token(&app.admin);
    let body_bytes = serde_json::to_vec(&body).unwrap();
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut h, b"POST /api/v1/properties/IDEM/reservations\n");
    sha2::Digest::update(&mut h, &body_bytes);
    let request_hash = hex::encode(sha2::Digest::finalize(h));
    assert_eq!(app.store.idempotency_begin(&scope, "k-busy", &request_hash).await.unwrap(), saluran_domain::store::IdempotencyBegin::Fresh);
    let r = app
        .client
        .post(&url)
        .bearer_auth(&app.admin)
        .header("Idempotency-Key", "k-busy")
        .header("content-type", "application/json")
        .body(body_bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(app.ok_json(r, StatusCode::CONFLICT).await["error"]["code"], "idempotency_in_progress");

    // 10 concurrent requests with one new key: one booking, the others
    // either see it in progress (409) or get the replay.
    let futs: Vec<_> = (0..10).map(|_| send("k-2", &body)).collect();
    let results = futures_join(futs).await;
    let created = results.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert!(created >= 1);
    assert!(results.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{results:?}");
    assert_eq!(app.inventory("IDEM", "STD", 7).await["sold"], 2, "one more booking, not ten");
    app.stop().await;
}

async fn futures_join(
    futs: Vec<impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static>,
) -> Vec<StatusCode> {
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.ok().and_then(|r| r.ok()).map(|r| r.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_room_type_batches_apply_whole() {
    let app = spawn_app().await;
    app.seed_property("MULTI", 2).await;
    let r = app
        .post(
            "/api/v1/properties/MULTI/ari",
            &json!({"updates": [
                {"room_type": "STD", "rate_plan": "STD-BAR", "from": day(1), "to": day(30), "days": ["fr", "sa"], "rate": "1500000"},
                {"room_type": "DLX", "from": day(1), "to": day(30), "stop_sell": true},
            ]}),
        )
        .await;
    let out = app.ok_json(r, StatusCode::OK).await;
    assert_eq!(out["room_types"], 2);
    let cal = app.ok_json(app.get(&format!("/api/v1/properties/MULTI/ari?from={}&to={}", day(1), day(30))).await, StatusCode::OK).await;
    for rt in cal["room_types"].as_array().unwrap() {
        for d in rt["days"].as_array().unwrap() {
            assert_eq!(d["stop_sell"], rt["code"] == "DLX");
        }
        if rt["code"] == "STD" {
            let bar = &rt["rate_plans"][0];
            for d in bar["days"].as_array().unwrap() {
                let date: jiff::civil::Date = d["date"].as_str().unwrap().parse().unwrap();
                let weekend = matches!(date.weekday(), jiff::civil::Weekday::Friday | jiff::civil::Weekday::Saturday);
                assert_eq!(d["rate"], if weekend { "1500000" } else { "1000000" });
            }
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let doc = app.ok_json(app.client.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap(), StatusCode::OK).await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/properties", "post"),
        ("/api/v1/properties/{property}", "get"),
        ("/api/v1/properties/{property}", "patch"),
        ("/api/v1/properties/{property}/room-types", "post"),
        ("/api/v1/properties/{property}/rooms", "post"),
        ("/api/v1/properties/{property}/rate-plans", "post"),
        ("/api/v1/properties/{property}/ari", "post"),
        ("/api/v1/properties/{property}/ari", "get"),
        ("/api/v1/properties/{property}/availability", "get"),
        ("/api/v1/properties/{property}/reservations", "post"),
        ("/api/v1/properties/{property}/reservations/{id}", "get"),
        ("/api/v1/properties/{property}/reservations/{id}/cancel", "post"),
        ("/api/v1/properties/{property}/reservations/{id}/check-in", "post"),
        ("/api/v1/properties/{property}/reservations/{id}/check-out", "post"),
        ("/api/v1/properties/{property}/channels", "post"),
        ("/api/v1/properties/{property}/channels/{channel}", "get"),
        ("/api/v1/properties/{property}/tasks", "post"),
        ("/api/v1/properties/{property}/tasks", "get"),
        ("/api/v1/properties/{property}/tasks/{id}/{action}", "post"),
        ("/webhooks/opentravel/{property}/{channel}", "post"),
        ("/webhooks/jsonrest/{property}/{channel}", "post"),
        ("/health", "get"),
        ("/metrics", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from openapi.json");
    }
    // Every route of the role table but the Pusher protocol's, each with
    // its responses described.
    for r in saluran::http::access::ROUTES.iter().filter(|r| r.access != saluran::http::access::Access::Pusher) {
        let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
        assert!(op["responses"].as_object().is_some_and(|rs| !rs.is_empty()), "{} {} missing from openapi.json", r.method, r.path);
    }
    // Served as generated, and every error is a typed body whose code the document lists.
    assert_eq!(doc, saluran::http::openapi::document());
    let codes = &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
    for code in ["not_found", "invalid_idempotency_key", "not_available", "room_not_ready", "method_not_allowed"] {
        assert!(codes.as_array().unwrap().contains(&json!(code)), "{code}");
    }
    app.stop().await;
}

/// A method a routed API path does not take is 405 with `Allow` (it was a
/// 500: the role layer runs around the router's own 405 and found no rule).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrouted_method_on_an_api_path_is_405() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("TRACE", "/api/v1/properties", "POST"),
        ("PUT", "/api/v1/properties/X", "GET, PATCH"),
        ("DELETE", "/api/v1/properties/X/reservations/1", "GET"),
        ("GET", "/api/v1/realtime/auth", "POST"),
    ] {
        for token in [Some(app.admin.as_str()), None] {
            let mut req = app.client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", app.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(r.headers()["allow"], allow, "{method} {path}");
            assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "method_not_allowed");
        }
    }
    // HEAD is GET without the body, checked as GET.
    let r = app.client.head(format!("{}/api/v1/properties/NOPE", app.base)).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_on_the_same_database() {
    let store = saluran::testing::fresh_sqlite().await;
    let app = spawn_app_on(store.clone()).await;
    app.seed_property("PERSIST", 3).await;
    let r = app.ok_json(app.book("PERSIST", "STD", "STD-BAR", 9, 3).await, StatusCode::CREATED).await;
    let before =
        app.ok_json(app.get(&format!("/api/v1/properties/PERSIST/ari?from={}&to={}", day(0), day(60))).await, StatusCode::OK).await;
    app.stop().await;
    let app: TestApp = spawn_app_on(store).await;
    let mut after =
        app.ok_json(app.get(&format!("/api/v1/properties/PERSIST/ari?from={}&to={}", day(0), day(60))).await, StatusCode::OK).await;
    let mut before = before;
    // The live stream's epoch is per process; the calendar itself must match.
    before["stream"] = Value::Null;
    after["stream"] = Value::Null;
    assert_eq!(before, after);
    let got =
        app.ok_json(app.get(&format!("/api/v1/properties/PERSIST/reservations/{}", r["id"].as_str().unwrap())).await, StatusCode::OK).await;
    assert_eq!(got["total"], "3000000");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_statuses_follow_the_state_machine_and_out_of_order_changes_availability() {
    let app = spawn_app().await;
    app.seed_property("HK", 3).await;
    let hk = app.token(Role::Housekeeping, "default", &["HK"]).await;
    let patch = |number: &str, status: &str| {
        app.client
            .patch(format!("{}/api/v1/properties/HK/rooms/{number}", app.base))
            .bearer_auth(&hk)
            .json(&json!({"status": status}))
            .send()
    };
    // vacant clean → inspected → occupied clean → occupied dirty → vacant dirty → vacant clean
    for s in ["inspected", "occupied_clean", "occupied_dirty", "vacant_dirty", "vacant_clean"] {
        let r = patch("STD0", s).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "to {s}");
    }
    let r = patch("STD0", "occupied_clean").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = patch("STD0", "out_of_order").await.unwrap();
    assert_eq!(app.ok_json(r, StatusCode::CONFLICT).await["error"]["code"], "invalid_transition");
    let r = patch("STD0", "sparkling").await.unwrap();
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["field"], "status");
    let r = patch("NOPE", "vacant_clean").await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Out of order takes the room out of availability from today on.
    assert_eq!(app.inventory("HK", "STD", 0).await["available"], 3);
    assert_eq!(patch("STD1", "out_of_order").await.unwrap().status(), StatusCode::OK);
    for d in [0, 1, 200, 700] {
        let inv = app.inventory("HK", "STD", d).await;
        assert_eq!((inv["out_of_order"].as_i64(), inv["available"].as_i64()), (Some(1), Some(2)), "day {d}");
    }
    assert_eq!(patch("STD1", "vacant_dirty").await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.inventory("HK", "STD", 5).await["available"], 3, "back in inventory");
    let cfg = app.ok_json(app.get("/api/v1/properties/HK").await, StatusCode::OK).await;
    let room = cfg["rooms"].as_array().unwrap().iter().find(|r| r["number"] == "STD1").unwrap().clone();
    assert_eq!(room["status"], "vacant_dirty");
    // A housekeeping token cannot touch rates; another property's is refused.
    let r = app
        .post_as(
            &hk,
            "/api/v1/properties/HK/ari",
            &json!({"updates": [{"room_type": "STD", "from": day(1), "to": day(1), "availability": 1}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let other = app.token(Role::Housekeeping, "default", &["ELSEWHERE"]).await;
    let r = app
        .client
        .patch(format!("{}/api/v1/properties/HK/rooms/STD0", app.base))
        .bearer_auth(&other)
        .json(&json!({"status": "vacant_dirty"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .patch(format!("{}/api/v1/properties/HK/rooms/STD0", app.base))
        .json(&json!({"status": "vacant_dirty"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_tasks_follow_their_lifecycle_and_clean_the_room() {
    let app = spawn_app().await;
    app.seed_property("HKT", 2).await;
    let hk = app.token(Role::Housekeeping, "default", &["HKT"]).await;
    let base = "/api/v1/properties/HKT";
    let room_status =
        |cfg: &Value, number: &str| cfg["rooms"].as_array().unwrap().iter().find(|r| r["number"] == number).unwrap()["status"].clone();
    // The room was slept in: vacant dirty.
    for s in ["occupied_clean", "occupied_dirty", "vacant_dirty"] {
        let r =
            app.client.patch(format!("{}{base}/rooms/STD0", app.base)).bearer_auth(&hk).json(&json!({"status": s})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "to {s}");
    }
    let r = app.post_as(&hk, &format!("{base}/tasks"), &json!({"room": "STD0", "kind": "clean", "note": "VIP arrival"})).await;
    let task = app.ok_json(r, StatusCode::CREATED).await;
    assert_eq!(
        (task["status"].as_str(), task["note"].as_str(), task["assignee"].clone()),
        (Some("open"), Some("VIP arrival"), Value::Null)
    );
    let id = task["id"].as_str().unwrap().to_owned();
    let r = app.post_as(&hk, &format!("{base}/tasks"), &json!({"room": "NOPE", "kind": "clean"})).await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["field"], "room");
    let r = app.post_as(&hk, &format!("{base}/tasks"), &json!({"room": "STD1", "kind": " "})).await;
    assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["field"], "kind");

    let act = |action: &str, body: Value| {
        let url = format!("{}{base}/tasks/{id}/{action}", app.base);
        app.client.post(url).bearer_auth(&hk).json(&body).send()
    };
    // Refused out of order, and nothing changes.
    for action in ["start", "finish", "inspect"] {
        let r = act(action, json!({})).await.unwrap();
        assert_eq!(app.ok_json(r, StatusCode::CONFLICT).await["error"]["code"], "invalid_transition", "{action} an open task");
    }
    for body in [json!({}), Value::Null] {
        let r = act("assign", body).await.unwrap();
        assert_eq!(app.ok_json(r, StatusCode::UNPROCESSABLE_ENTITY).await["error"]["field"], "assignee");
    }
    let r = act("polish", json!({})).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v = app.ok_json(act("assign", json!({"assignee": "ani"})).await.unwrap(), StatusCode::OK).await;
    assert_eq!((v["status"].as_str(), v["assignee"].as_str()), (Some("assigned"), Some("ani")));
    let v = app.ok_json(act("assign", json!({"assignee": "budi"})).await.unwrap(), StatusCode::OK).await;
    assert_eq!(v["assignee"], "budi", "reassigning is allowed");
    // A JSON `null` body is no body, as the API document's optional body allows (it was a 400).
    assert_eq!(app.ok_json(act("start", Value::Null).await.unwrap(), StatusCode::OK).await["status"], "in_progress");
    let r = act("assign", json!({"assignee": "ani"})).await.unwrap();
    assert_eq!(app.ok_json(r, StatusCode::CONFLICT).await["error"]["code"], "invalid_transition");
    let cfg = app.ok_json(app.get(base).await, StatusCode::OK).await;
    assert_eq!(room_status(&cfg, "STD0"), "vacant_dirty", "untouched until the task is finished");

    let v = app.ok_json(act("finish", json!({})).await.unwrap(), StatusCode::OK).await;
    assert_eq!((v["status"].as_str(), v["room_status"].as_str()), (Some("done"), Some("vacant_clean")));
    let cfg = app.ok_json(app.get(base).await, StatusCode::OK).await;
    assert_eq!(room_status(&cfg, "STD0"), "vacant_clean");
    let v = app.ok_json(act("inspect", json!({})).await.unwrap(), StatusCode::OK).await;
    assert_eq!((v["status"].as_str(), v["room_status"].as_str()), (Some("inspected"), Some("inspected")));
    let cfg = app.ok_json(app.get(base).await, StatusCode::OK).await;
    assert_eq!(room_status(&cfg, "STD0"), "inspected");
    let r = act("inspect", json!({})).await.unwrap();
    assert_eq!(app.ok_json(r, StatusCode::CONFLICT).await["error"]["code"], "invalid_transition");

    let list = app.ok_json(app.get_as(&hk, &format!("{base}/tasks")).await, StatusCode::OK).await;
    let tasks = list["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0]["id"].as_str(), tasks[0]["status"].as_str()), (Some(id.as_str()), Some("inspected")));
    // Another property's token and a token without the permission are refused.
    let other = app.token(Role::Housekeeping, "default", &["ELSEWHERE"]).await;
    assert_eq!(app.get_as(&other, &format!("{base}/tasks")).await.status(), StatusCode::FORBIDDEN);
    let unknown = app.client.post(format!("{}{base}/tasks/nope/start", app.base)).bearer_auth(&hk).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_write_is_announced_once_after_it_is_stored_and_a_refused_one_never() {
    let app = spawn_app().await;
    app.seed_property("HKE", 1).await;
    let hk = app.token(Role::Housekeeping, "default", &["HKE"]).await;
    let base = "/api/v1/properties/HKE";
    let mut events = app.app.events().subscribe();
    let task = app
        .ok_json(app.post_as(&hk, &format!("{base}/tasks"), &json!({"room": "STD0", "kind": "inspect"})).await, StatusCode::CREATED)
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    let act =
        |action: &str, body: Value| app.client.post(format!("{}{base}/tasks/{id}/{action}", app.base)).bearer_auth(&hk).json(&body).send();
    // Refused: by the transition, by a field; neither is stored nor announced.
    assert_eq!(act("finish", json!({})).await.unwrap().status(), StatusCode::CONFLICT);
    assert_eq!(act("assign", json!({"assignee": " "})).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(act("assign", json!({"assignee": "ani"})).await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        if e.kind().as_str() == "task.updated" {
            let stored = app.store.find_task(&saluran_domain::PropertyCode::parse("HKE").unwrap(), &id).await.unwrap().unwrap();
            assert!(e.seq().is_none(), "a task event is a notice");
            seen.push((e.payload()["status"].as_str().unwrap().to_owned(), stored.status.as_str().to_owned()));
        }
    }
    assert_eq!(seen.len(), 2, "one event per stored write: {seen:?}");
    assert_eq!(seen[0].0, "open");
    assert_eq!(seen[1], ("assigned".to_owned(), "assigned".to_owned()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn night_audit_runs_once_a_day_at_the_local_audit_time() {
    use saluran_domain::ports::ManualClock;
    let tz = jiff::tz::TimeZone::get("Asia/Jakarta").unwrap();
    let at = |d: jiff::civil::Date, h: i8, m: i8| d.at(h, m, 0, 0).to_zoned(tz.clone()).unwrap().timestamp();
    let d1 = jiff::civil::date(2027, 3, 10);
    let d2 = jiff::civil::date(2027, 3, 11);
    let clock = Arc::new(ManualClock::new(at(d1, 1, 0)));
    // Ticks every 250 ms; the property passivates after 1 s idle and audits on activation.
    let settings = saluran::config::Settings { idle_timeout_secs: 1, ..test_settings() };
    let app = spawn_app_clocked(saluran::testing::fresh_sqlite().await, settings, clock.clone()).await;
    let mut events = app.app.events().subscribe();
    let p = "/api/v1/properties/NA";
    let r = app
        .post(
            "/api/v1/properties",
            &json!({"code": "NA", "name": "n", "timezone": "Asia/Jakarta", "currency": "IDR", "night_audit_time": "02:30"}),
        )
        .await;
    app.ok_json(r, StatusCode::CREATED).await;
    app.ok_json(
        app.post(&format!("{p}/room-types"), &json!({"code": "STD", "name": "STD", "max_occupancy": 2})).await,
        StatusCode::CREATED,
    )
    .await;
    for n in ["101", "102", "103"] {
        let r = app.post(&format!("{p}/rooms"), &json!({"number": n, "room_type": "STD", "floor": 1})).await;
        app.ok_json(r, StatusCode::CREATED).await;
    }
    let set = |n: &str, s: &str| {
        app.client.patch(format!("{}{p}/rooms/{n}", app.base)).bearer_auth(&app.admin).json(&json!({"status": s})).send()
    };
    for n in ["101", "102"] {
        assert_eq!(set(n, "occupied_clean").await.unwrap().status(), StatusCode::OK);
    }
    let statuses = || async {
        let cfg = app.ok_json(app.get(p).await, StatusCode::OK).await;
        cfg["rooms"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let code = saluran_domain::PropertyCode::parse("NA").unwrap();
    let wait_for = |want: Vec<&'static str>| {
        let statuses = &statuses;
        async move {
            for _ in 0..100 {
                if statuses().await == want {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("rooms never became {want:?}: {:?}", statuses().await);
        }
    };
    // Before the audit time nothing happens.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(statuses().await, ["occupied_clean", "occupied_clean", "vacant_clean"]);
    assert_eq!(app.store.get_business_date(&code).await.unwrap(), None);

    clock.set(at(d1, 2, 31));
    wait_for(vec!["occupied_dirty", "occupied_dirty", "vacant_clean"]).await;
    assert_eq!(app.store.get_business_date(&code).await.unwrap(), Some(d1));

    // Later the same day: no second audit.
    assert_eq!(set("103", "occupied_clean").await.unwrap().status(), StatusCode::OK);
    clock.set(at(d1, 23, 0));
    for _ in 0..8 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(statuses().await, ["occupied_dirty", "occupied_dirty", "occupied_clean"]);
    }
    assert_eq!(app.store.get_business_date(&code).await.unwrap(), Some(d1));

    // The next night it runs again.
    clock.set(at(d2, 2, 30));
    wait_for(vec!["occupied_dirty", "occupied_dirty", "occupied_dirty"]).await;
    assert_eq!(app.store.get_business_date(&code).await.unwrap(), Some(d2));

    // The audit is announced once its no-show sweep is done, which may be
    // a moment after the rooms turned dirty: wait for it, then for strays.
    let mut audits = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while audits.len() < 2 {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(e)) if e.kind().as_str() == "night_audit.completed" => {
                audits.push(e.payload()["business_date"].as_str().unwrap().to_owned())
            }
            Ok(Ok(_)) => {}
            _ => break,
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    while let Ok(e) = events.try_recv() {
        if e.kind().as_str() == "night_audit.completed" {
            audits.push(e.payload()["business_date"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(audits, ["2027-03-10", "2027-03-11"], "exactly one audit per day");
    app.stop().await;
}
