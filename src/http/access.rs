//! Who may call what: one table, [`ROUTES`], read by the router (the
//! [`enforce`] layer refuses a role the table does not list before the
//! handler runs), by the OpenAPI document (`x-roles` on every operation and
//! the matrix in `info.description`) and by README.md (its role matrix is
//! [`markdown_matrix`], checked by a test), so the three cannot drift.
//! Handlers still check reach (tenant, property list) and the same
//! permission for the property they resolve.

use super::error::ApiError;
use crate::app::App;
use crate::auth::Caller;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use saluran_domain::property::{Permission, Role};

/// How a route is authenticated and authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (health, metrics, the API document, the pages).
    Public,
    /// A bearer token whose role has this permission (and that reaches the property).
    Needs(Permission),
    /// A bearer token of any role; the handler decides per request (which
    /// real-time channels a role may join).
    AnyRole,
    /// The OTA connection's own credentials (HTTP Basic or HMAC), no token.
    Webhook,
    /// The Pusher protocol's own signatures (app key, signed HTTP API).
    Pusher,
}

#[derive(Debug, Clone, Copy)]
pub struct RouteAccess {
    pub method: &'static str,
    /// As the router declares it (`{param}` segments).
    pub path: &'static str,
    pub access: Access,
}

/// Every role, most reach first.
pub const ROLES: [Role; 4] = [Role::Admin, Role::RevenueManager, Role::FrontDesk, Role::Housekeeping];

impl RouteAccess {
    /// The roles a token may have to call this route (none for routes that
    /// take no token).
    pub fn roles(&self) -> Vec<Role> {
        match self.access {
            Access::Needs(p) => ROLES.into_iter().filter(|r| r.allows(p)).collect(),
            Access::AnyRole => ROLES.to_vec(),
            Access::Public | Access::Webhook | Access::Pusher => Vec::new(),
        }
    }
}

const fn route(method: &'static str, path: &'static str, access: Access) -> RouteAccess {
    RouteAccess { method, path, access }
}

use Access::*;
use Permission::*;

/// Every route the server answers.
pub const ROUTES: &[RouteAccess] = &[
    route("POST", "/api/v1/properties", Needs(CreateProperty)),
    route("GET", "/api/v1/properties/{property}", Needs(ReadProperty)),
    route("PATCH", "/api/v1/properties/{property}", Needs(ConfigureProperty)),
    route("POST", "/api/v1/properties/{property}/room-types", Needs(ManageSetup)),
    route("POST", "/api/v1/properties/{property}/rooms", Needs(ManageSetup)),
    route("PATCH", "/api/v1/properties/{property}/rooms/{number}", Needs(UpdateRoomStatus)),
    route("POST", "/api/v1/properties/{property}/tasks", Needs(UpdateRoomStatus)),
    route("GET", "/api/v1/properties/{property}/tasks", Needs(UpdateRoomStatus)),
    route("POST", "/api/v1/properties/{property}/tasks/{id}/{action}", Needs(UpdateRoomStatus)),
    route("POST", "/api/v1/properties/{property}/rate-plans", Needs(ManageSetup)),
    route("POST", "/api/v1/properties/{property}/ari", Needs(WriteAri)),
    route("GET", "/api/v1/properties/{property}/ari", Needs(ReadCalendar)),
    route("GET", "/api/v1/properties/{property}/availability", Needs(Search)),
    route("POST", "/api/v1/properties/{property}/reservations", Needs(Book)),
    route("GET", "/api/v1/properties/{property}/reservations/{id}", Needs(Book)),
    route("POST", "/api/v1/properties/{property}/reservations/{id}/cancel", Needs(Book)),
    route("POST", "/api/v1/properties/{property}/reservations/{id}/check-in", Needs(Book)),
    route("POST", "/api/v1/properties/{property}/reservations/{id}/check-out", Needs(Book)),
    route("POST", "/api/v1/properties/{property}/channels", Needs(ManageChannels)),
    route("GET", "/api/v1/properties/{property}/channels/{channel}", Needs(ReadProperty)),
    route("POST", "/api/v1/realtime/auth", AnyRole),
    route("POST", "/webhooks/opentravel/{property}/{channel}", Webhook),
    route("POST", "/webhooks/jsonrest/{property}/{channel}", Webhook),
    route("GET", "/api/openapi.json", Public),
    route("GET", "/health", Public),
    route("GET", "/metrics", Public),
    route("GET", "/", Public),
    route("GET", "/housekeeping", Public),
    route("GET", "/assets/{file}", Public),
    route("GET", "/manifest.webmanifest", Public),
    route("GET", "/sw.js", Public),
    route("GET", "/app/{key}", Pusher),
    route("POST", "/apps/{app_id}/events", Pusher),
    route("POST", "/apps/{app_id}/batch_events", Pusher),
    route("GET", "/apps/{app_id}/channels", Pusher),
    route("GET", "/apps/{app_id}/channels/{channel}", Pusher),
    route("GET", "/apps/{app_id}/channels/{channel}/users", Pusher),
];

pub fn lookup(method: &str, path: &str) -> Option<&'static RouteAccess> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

/// Route layer of the token API: authenticates the caller and refuses a
/// role the table does not list for the route (403 `forbidden`, naming the
/// roles that may), before the handler or the idempotency layer sees the
/// request. A route missing from the table is refused (fail closed).
pub async fn enforce(State(app): State<App>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let Some(path) = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()) else {
        return ApiError::not_found("no such route").into_response();
    };
    // axum answers HEAD with the GET handler.
    let rule_method = if method == "HEAD" { "GET" } else { method.as_str() };
    let Some(rule) = lookup(rule_method, &path) else {
        // The path is routed, the method is not: the router's own 405 runs
        // inside this layer, so it is answered here, before any token check.
        let allowed: Vec<&str> = ROUTES.iter().filter(|r| r.path == path).map(|r| r.method).collect();
        if !allowed.is_empty() {
            return method_not_allowed(&allowed);
        }
        tracing::error!(%method, %path, "route has no access rule in http::access::ROUTES; refused");
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "this route has no access rule").into_response();
    };
    let (mut parts, body) = req.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &app).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match rule.access {
        Needs(p) if !caller.scope.role.allows(p) => {
            let may: Vec<&str> = rule.roles().iter().map(|r| r.as_str()).collect();
            tracing::info!(%method, %path, role = caller.scope.role.as_str(), "role refused");
            return ApiError::forbidden(&format!(
                "role {} may not do this (roles that may: {})",
                caller.scope.role.as_str(),
                may.join(", ")
            ))
            .into_response();
        }
        Needs(_) | AnyRole => {}
        Public | Webhook | Pusher => {}
    }
    // The handler's `Caller` extractor reuses it.
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

/// 405 with the methods the path does take (`Allow`).
fn method_not_allowed(allowed: &[&str]) -> Response {
    let mut resp =
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("use {}", allowed.join(", "))).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&allowed.join(", ")) {
        resp.headers_mut().insert(axum::http::header::ALLOW, v);
    }
    resp
}

fn cell(route: &RouteAccess, role: Role) -> &'static str {
    match route.access {
        Needs(_) | AnyRole if route.roles().contains(&role) => "yes",
        Needs(_) | AnyRole => "—",
        Public | Webhook | Pusher => "n/a",
    }
}

fn credentials(access: Access) -> &'static str {
    match access {
        Needs(_) => "bearer token",
        AnyRole => "bearer token (channels by role)",
        Public => "none",
        Webhook => "the connection's Basic or HMAC",
        Pusher => "Pusher protocol",
    }
}

/// The role matrix as a Markdown table (README.md carries it verbatim).
pub fn markdown_matrix() -> String {
    let mut out = String::from(
        "| method | route | credentials | admin | revenue_manager | front_desk | housekeeping |\n|---|---|---|---|---|---|---|\n",
    );
    for r in ROUTES {
        out.push_str(&format!("| {} | `{}` | {} |", r.method, r.path, credentials(r.access)));
        for role in ROLES {
            out.push_str(&format!(" {} |", cell(r, role)));
        }
        out.push('\n');
    }
    out
}

/// Writes the table into the OpenAPI document: `x-roles` on each operation
/// (the roles that may call it; empty for routes without a token) and the
/// matrix in `info.description`.
pub fn annotate_openapi(doc: &mut serde_json::Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for (path, ops) in paths.iter_mut() {
            let Some(ops) = ops.as_object_mut() else { continue };
            for (method, op) in ops.iter_mut() {
                let Some(rule) = lookup(&method.to_ascii_uppercase(), path) else { continue };
                let roles: Vec<&str> = rule.roles().iter().map(|r| r.as_str()).collect();
                op["x-roles"] = serde_json::json!(roles);
            }
        }
    }
    if let Some(info) = doc.get_mut("info") {
        let before = info["description"].as_str().unwrap_or_default().to_owned();
        info["description"] = serde_json::Value::String(format!(
            "{before}\n\n## Roles\n\nA token has one role; `x-roles` on each operation lists the roles that may call it \
             (others get 403 `forbidden`).\n\n{}",
            markdown_matrix()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_carries_the_enforced_matrix() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&markdown_matrix()),
            "README.md's role matrix differs from http::access::ROUTES; paste:\n{}",
            markdown_matrix()
        );
    }

    #[test]
    fn every_route_is_listed_once() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(ROUTES[..i].iter().all(|o| (o.method, o.path) != (r.method, r.path)), "{} {} twice", r.method, r.path);
        }
    }

    #[test]
    fn channel_setup_is_admin_only() {
        let r = lookup("POST", "/api/v1/properties/{property}/channels").unwrap();
        assert_eq!(r.roles(), [Role::Admin]);
    }

    #[test]
    fn the_openapi_document_carries_the_roles() {
        // document() writes the table in through annotate_openapi.
        let doc = super::super::openapi::document();
        let paths = doc["paths"].as_object().unwrap();
        for r in ROUTES.iter().filter(|r| r.path.starts_with("/api/v1/")) {
            let op = &paths.get(r.path).unwrap_or_else(|| panic!("{} not in the API document", r.path))[r.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} not in the API document", r.method, r.path);
            let roles: Vec<Role> = op["x-roles"].as_array().unwrap().iter().map(|v| Role::parse(v.as_str().unwrap()).unwrap()).collect();
            assert_eq!(roles, r.roles(), "{} {}", r.method, r.path);
        }
        assert!(doc["info"]["description"].as_str().unwrap().contains(&markdown_matrix()));
    }
}
