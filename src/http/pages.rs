//! The web pages the binary serves (DESIGN §7): the live inventory grid
//! (`/`) and the housekeeping board (`/housekeeping`, an installable PWA),
//! with their assets embedded in the binary (no CDN). Both speak the hub's
//! WebSocket protocol themselves, with recovery (ws/README.md).

use crate::app::App;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const GRID_HTML: &str = include_str!("../../web/index.html");
const HOUSEKEEPING_HTML: &str = include_str!("../../web/housekeeping.html");
const MANIFEST: &str = include_str!("../../web/manifest.webmanifest");
const SW_JS: &str = include_str!("../../web/sw.js");

/// `/assets/{file}`: name → (content type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../web/app.css")),
    ("realtime.js", "text/javascript; charset=utf-8", include_str!("../../web/realtime.js")),
    ("grid.js", "text/javascript; charset=utf-8", include_str!("../../web/grid.js")),
    ("housekeeping.js", "text/javascript; charset=utf-8", include_str!("../../web/housekeeping.js")),
    ("icon.svg", "image/svg+xml", include_str!("../../web/icon.svg")),
];

/// Only a host made of host-name characters goes into the CSP header;
/// anything else falls back to `'self'` alone.
fn ws_sources(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let sane = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if sane {
        format!(" ws://{host} wss://{host}")
    } else {
        String::new()
    }
}

fn csp(headers: &HeaderMap) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'{}; \
         manifest-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ws_sources(headers)
    )
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

fn respond(content_type: &'static str, cache: &'static str, csp: Option<String>, body: String) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Some(v) = csp.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

fn page(app: &App, headers: &HeaderMap, html: &str) -> Response {
    let body = html.replace("{{PUSHER_KEY}}", &escape_attr(&app.settings().pusher_key));
    respond("text/html; charset=utf-8", "no-cache", Some(csp(headers)), body)
}

#[utoipa::path(get, path = "/", tag = "pages", operation_id = "grid_page", summary = "The live inventory grid",
    responses((status = 200, description = "HTML", body = String, content_type = "text/html")))]
/// `GET /`: the live inventory grid.
pub async fn grid(State(app): State<App>, headers: HeaderMap) -> Response {
    page(&app, &headers, GRID_HTML)
}

#[utoipa::path(get, path = "/housekeeping", tag = "pages", operation_id = "housekeeping_page", summary = "The housekeeping board (PWA)",
    responses((status = 200, description = "HTML", body = String, content_type = "text/html")))]
/// `GET /housekeeping`: the housekeeping board.
pub async fn housekeeping(State(app): State<App>, headers: HeaderMap) -> Response {
    page(&app, &headers, HOUSEKEEPING_HTML)
}

#[utoipa::path(get, path = "/manifest.webmanifest", tag = "pages", operation_id = "manifest", summary = "The PWA manifest",
    responses((status = 200, description = "Manifest", body = Object, content_type = "application/manifest+json")))]
/// `GET /manifest.webmanifest`.
pub async fn manifest() -> Response {
    respond("application/manifest+json", "no-cache", None, MANIFEST.to_owned())
}

#[utoipa::path(get, path = "/sw.js", tag = "pages", operation_id = "service_worker", summary = "The service worker",
    responses((status = 200, description = "JavaScript", body = String, content_type = "text/javascript")))]
/// `GET /sw.js`: the service worker, at the root so its scope is the site.
pub async fn service_worker() -> Response {
    let mut resp = respond("text/javascript; charset=utf-8", "no-cache", None, SW_JS.to_owned());
    resp.headers_mut().insert("service-worker-allowed", HeaderValue::from_static("/"));
    resp
}

#[utoipa::path(get, path = "/assets/{file}", tag = "pages", operation_id = "asset", summary = "A page asset (CSS, JavaScript, icon)",
    params(("file" = String, Path, description = "app.css, realtime.js, grid.js, housekeeping.js or icon.svg")),
    responses(
        (status = 200, description = "The asset", body = String, content_type = "*/*"),
        (status = 404, description = "No such asset", body = String, content_type = "text/plain"),
    ))]
/// `GET /assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => respond(content_type, "no-cache", None, (*body).to_owned()),
        None => (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found").into_response(),
    }
}
