//! The web pages served by the binary (DESIGN §7): the live inventory grid
//! (`/`) and the housekeeping PWA (`/housekeeping`). Plain HTTP checks always
//! run; the browser test drives Debian's chromium with `playwright-core`
//! (`tests/browser/`), and is skipped (`SKIPPED: …`) when chromium or
//! `tests/browser/node_modules` is missing, unless `SALURAN_REQUIRE_SERVICES=1`.

mod common;

use common::{day, spawn_app};
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use reqwest::StatusCode;
use saluran_domain::property::Role;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

async fn fetch(base: &str, path: &str) -> reqwest::Response {
    reqwest::get(format!("{base}{path}")).await.expect("request")
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

#[tokio::test]
async fn pages_are_served_with_types_and_csp() {
    let app = spawn_app().await;
    let host = app.base.trim_start_matches("http://").to_owned();
    for (path, script) in [("/", "/assets/grid.js"), ("/housekeeping", "/assets/housekeeping.js")] {
        let r = fetch(&app.base, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(content_type(&r), "text/html; charset=utf-8", "{path}");
        let csp = r.headers().get(CONTENT_SECURITY_POLICY).expect("CSP").to_str().unwrap().to_owned();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "no inline scripts: {csp}");
        assert!(csp.contains(&format!("connect-src 'self' ws://{host} wss://{host};")), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("http:") && !csp.contains("https:"), "{csp}");
        let body = r.text().await.unwrap();
        assert!(body.contains(r#"<meta name="pusher-key" content="saluran-key">"#), "{path}: key injected");
        assert!(body.contains(script) && body.contains("/assets/realtime.js"), "{path}");
        assert!(!body.contains("<script>") && !body.contains("style="), "{path}: nothing inline (CSP)");
        assert!(!body.contains("//cdn") && !body.contains("https://"), "{path}: no external assets");
    }
    let hk = fetch(&app.base, "/housekeeping").await.text().await.unwrap();
    assert!(hk.contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#));

    let r = fetch(&app.base, "/manifest.webmanifest").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(&r), "application/manifest+json");
    let m: Value = serde_json::from_str(&r.text().await.unwrap()).expect("manifest is JSON");
    assert_eq!(m["start_url"], "/housekeeping");
    assert_eq!(m["display"], "standalone");
    assert!(m["name"].as_str().is_some_and(|n| !n.is_empty()));
    let icons = m["icons"].as_array().expect("icons");
    assert!(!icons.is_empty());
    for icon in icons {
        let src = icon["src"].as_str().unwrap();
        if let Some(path) = src.strip_prefix('/') {
            let r = fetch(&app.base, &format!("/{path}")).await;
            assert_eq!(r.status(), StatusCode::OK, "{src}");
            assert_eq!(content_type(&r), icon["type"].as_str().unwrap(), "{src}");
        } else {
            assert!(src.starts_with("data:image/"), "{src}");
        }
    }

    let r = fetch(&app.base, "/sw.js").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(&r), "text/javascript; charset=utf-8");
    assert_eq!(r.headers().get(CACHE_CONTROL).unwrap(), "no-cache");
    let sw = r.text().await.unwrap();
    assert!(sw.contains("addEventListener('fetch'") && sw.contains("'/housekeeping'"));

    for (file, ty) in [
        ("app.css", "text/css; charset=utf-8"),
        ("realtime.js", "text/javascript; charset=utf-8"),
        ("grid.js", "text/javascript; charset=utf-8"),
        ("housekeeping.js", "text/javascript; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let r = fetch(&app.base, &format!("/assets/{file}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        assert_eq!(content_type(&r), ty, "{file}");
        assert_eq!(r.headers().get("x-content-type-options").unwrap(), "nosniff");
    }
    for missing in ["/assets/nope.js", "/assets/..%2Fsrc%2Fmain.rs", "/assets/"] {
        assert_eq!(fetch(&app.base, missing).await.status(), StatusCode::NOT_FOUND, "{missing}");
    }
    // The API is untouched by the page routes.
    assert_eq!(fetch(&app.base, "/api/v1/properties/NOPE").await.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

fn skip_or_fail(why: &str) {
    if std::env::var("SALURAN_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{why} but SALURAN_REQUIRE_SERVICES=1: the browser test must run");
    }
    println!("SKIPPED: {why}");
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_grid_and_housekeeping_are_live() {
    let chromium = std::env::var("SALURAN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("browser");
    if !Path::new(&chromium).exists() {
        return skip_or_fail(&format!("{chromium} is missing (apt-get install -y chromium)"));
    }
    if !browser_dir.join("node_modules").join("playwright-core").exists() {
        return skip_or_fail("tests/browser/node_modules is missing (cd tests/browser && npm ci)");
    }
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return skip_or_fail("node is not installed");
    }

    let app = spawn_app().await;
    app.seed_property("WEB01", 4).await;
    let manager = app.token(Role::RevenueManager, "default", &["WEB01"]).await;
    let housekeeping = app.token(Role::Housekeeping, "default", &["WEB01"]).await;
    // Something for the badges: a stop-sell, CTA, a minimum stay, and an
    // overbooking (DLX sold 1 with its allotment then cut to 0).
    app.ok_json(app.book("WEB01", "DLX", "DLX-BAR", 5, 1).await, StatusCode::CREATED).await;
    app.ok_json(
        app.post(
            "/api/v1/properties/WEB01/ari",
            &serde_json::json!({"updates": [
                {"room_type": "STD", "rate_plan": "STD-BAR", "from": day(6), "to": day(7), "stop_sell": true},
                {"room_type": "STD", "rate_plan": "STD-BAR", "from": day(8), "to": day(8), "closed_to_arrival": true, "min_stay": 2},
                {"room_type": "DLX", "rate_plan": "DLX-BAR", "from": day(9), "to": day(9), "closed_to_departure": true},
                {"room_type": "DLX", "from": day(5), "to": day(5), "availability": 0},
            ]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let shots = screenshots_dir();

    let run = tokio::process::Command::new("node")
        .arg(browser_dir.join("pages.mjs"))
        .current_dir(&browser_dir)
        .env("SALURAN_BASE", &app.base)
        .env("SALURAN_TOKEN", &manager)
        .env("SALURAN_HK_TOKEN", &housekeeping)
        .env("SALURAN_PROPERTY", "WEB01")
        .env("SALURAN_CHECK_IN", day(2))
        .env("SALURAN_CHECK_OUT", day(4))
        .env("SALURAN_ROOM", "STD1")
        .env("SALURAN_ROOM2", "STD2")
        .env("SALURAN_SCREENSHOTS", &shots)
        .env("SALURAN_CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run).await.expect("browser test timed out").expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        eprintln!("{stderr}");
    }
    assert!(out.status.success(), "browser test failed ({}):\n{stdout}\n{stderr}", out.status);
    let result: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|l| serde_json::from_str(l).expect("RESULT json"))
        .expect("a RESULT line");
    assert!(result["grid"]["ms_after_response"].as_u64().unwrap() <= 1000, "{result}");
    for shot in result["screenshots"].as_array().expect("screenshots") {
        let path = shot.as_str().unwrap();
        assert!(std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false), "{path}");
        println!("screenshot: {path}");
    }
    // The server saw what the pages did.
    let hk = app.ok_json(app.get("/api/v1/properties/WEB01").await, StatusCode::OK).await;
    let room = hk["rooms"].as_array().unwrap().iter().find(|r| r["number"] == "STD1").unwrap().clone();
    assert_eq!(room["status"], result["housekeeping"]["to"], "{room}");
    assert!(result["reconnect"]["recover"]["offset"].as_u64().is_some(), "{result}");
    assert_eq!(app.inventory("WEB01", "STD", 2).await["sold"], 1);
    app.stop().await;
}
