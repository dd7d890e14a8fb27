//! The API document, generated from the code: request bodies and query
//! parameters are the handlers' own `Deserialize` types (`ToSchema` /
//! `IntoParams`), every route carries a `#[utoipa::path]` next to its
//! handler, and the response bodies are the `Serialize` types the handlers
//! return (next to each handler; domain enums carry their own schema).
//! [`document`] adds what is the same for every route (bearer security,
//! the Idempotency-Key header, the typed errors every layer can answer) and
//! the role matrix of `access::ROUTES`, so none of it is repeated by hand.
//! `docs/openapi.json` is a copy, checked by a test against [`document`]
//! (regenerate it with `cargo run -- openapi > docs/openapi.json`).

use super::{ari, channels, housekeeping, ops, pages, realtime, reservations, setup};
use serde_json::{json, Value};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{OpenApi, PartialSchema, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "saluran",
        description = "Hotel channel manager and operations hub. Errors are {\"error\":{\"code\",\"message\",\"field\"?}} with a \
                       stable machine-readable code (the `Error` schema lists them all)."
    ),
    paths(
        setup::create_property,
        setup::get_property,
        setup::update_property,
        setup::create_room_type,
        setup::create_room,
        setup::set_room_status,
        housekeeping::create,
        housekeeping::list,
        housekeeping::act,
        setup::create_rate_plan,
        ari::update_ari,
        ari::get_calendar,
        ari::search_availability,
        reservations::create,
        reservations::get_one,
        reservations::cancel,
        reservations::check_in,
        reservations::check_out,
        channels::create,
        channels::get_one,
        realtime::auth,
        channels::opentravel_webhook,
        channels::jsonrest_notify,
        ops::openapi,
        ops::health,
        ops::metrics,
        pages::grid,
        pages::housekeeping,
        pages::asset,
        pages::manifest,
        pages::service_worker,
    ),
    components(schemas(ErrorBody, saluran_domain::housekeeping::TaskAction))
)]
pub struct ApiDoc;

/// Every machine-readable `code` an API error body may carry: the typed
/// `ApiError` codes (src/http/error.rs, the idempotency layer, auth) and
/// `DomainError::code()` with its stay refusals. A test reads the sources
/// and fails when a code is used that is not listed here.
pub const ERROR_CODES: &[&str] = &[
    "unauthorized",
    "forbidden",
    "not_found",
    "invalid_json",
    "invalid_body",
    "invalid_query",
    "invalid_field",
    "invalid_date_range",
    "date_in_past",
    "beyond_horizon",
    "unknown_room_type",
    "unknown_rate_plan",
    "derived_rate_plan_rate",
    "not_available",
    "invalid_transition",
    "already_exists",
    "payload_too_large",
    "request_timeout",
    "body_incomplete",
    "unsupported_media_type",
    "idempotency_key_reused",
    "idempotency_in_progress",
    "idempotency_outcome_unknown",
    "invalid_idempotency_key",
    "temporarily_unavailable",
    "overloaded",
    "already_checked_in",
    "already_checked_out",
    "not_checked_in",
    "reservation_cancelled",
    "reservation_no_show",
    "arrival_in_future",
    "departure_passed",
    "room_not_ready",
    "missing_field",
    "method_not_allowed",
    "internal",
];

/// The schema of `error::ErrorBody`, the body of every API error: written
/// here rather than derived because its `code` is a `&'static str` whose
/// values are `ERROR_CODES` (a test keeps that list complete).
pub use super::error::ErrorBody;

impl PartialSchema for ErrorBody {
    fn schema() -> RefOr<Schema> {
        let code = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(ERROR_CODES.iter().copied()));
        let detail = ObjectBuilder::new()
            .property("code", code)
            .required("code")
            .property("message", ObjectBuilder::new().schema_type(Type::String))
            .required("message")
            .property(
                "field",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The request field at fault; for not_available, the reason (sold_out, min_stay, …)")),
            );
        ObjectBuilder::new().property("error", detail).required("error").into()
    }
}

impl ToSchema for ErrorBody {
    fn name() -> std::borrow::Cow<'static, str> {
        "Error".into()
    }
}

/// A decimal string, or null (for `#[schema(schema_with = …)]`).
pub fn decimal_or_null() -> RefOr<Schema> {
    use utoipa::openapi::schema::SchemaType;
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(saluran_domain::money::DECIMAL_PATTERN))
        .into()
}

/// What the document says of every route that the route's own attribute
/// need not repeat: descriptions of the shared errors.
fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
}

/// Idempotency-Key: what the layer accepts (1-255 visible ASCII characters).
fn idempotency_header() -> Value {
    json!({
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]{1,255}$"},
        "description": "Makes the POST safely retryable: same key + same body replays the stored response (header \
            Idempotent-Replayed: true); same key + different body → 422 idempotency_key_reused; while the first is in progress → \
            409 idempotency_in_progress; if the first was stopped at the request timeout (request_timeout_secs, default 30 s) or its \
            server stopped mid-request (in progress for over twice the request timeout) → 409 idempotency_outcome_unknown: it may \
            have been applied, look the resource up and resend with a new key only if it is not there; keys are scoped by the token, \
            however the Authorization header spells it; the key is recorded only for a valid token (else 401, nothing stored); a \
            request whose client hangs up still finishes and its answer is replayed on retry; keys expire after \
            idempotency_ttl_secs (default 24 h). Not 1-255 visible ASCII characters → 400 invalid_idempotency_key.",
    })
}

fn add_response(op: &mut Value, status: &str, description: &str) {
    let responses = &mut op["responses"];
    if responses.get(status).is_none() {
        responses[status] = error_response(description);
    }
}

/// The document as served at `GET /api/openapi.json`.
pub fn document() -> Value {
    let mut doc = match serde_json::to_value(ApiDoc::openapi()) {
        Ok(v) => v,
        // Serializing plain maps and strings cannot fail; if it ever did,
        // an empty document is still valid JSON for the route to serve.
        Err(e) => {
            tracing::error!(error = %e, "the API document did not serialize");
            return json!({});
        }
    };
    doc["components"]["securitySchemes"] =
        json!({"bearer": {"type": "http", "scheme": "bearer"}, "webhook_basic": {"type": "http", "scheme": "basic"}});
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(ops) = item.as_object_mut() else { continue };
            for (method, op) in ops.iter_mut() {
                if !matches!(method.as_str(), "get" | "post" | "patch" | "put" | "delete") {
                    continue;
                }
                conventions(path, method, op);
            }
        }
    }
    super::access::annotate_openapi(&mut doc);
    doc
}

/// The responses and parameters the layers add to a route, whatever its
/// handler does: the token API's auth and reach, the JSON body extractor,
/// the Idempotency-Key layer, the request timeout.
fn conventions(path: &str, method: &str, op: &mut Value) {
    let api = path.starts_with("/api/v1/");
    if api {
        op["security"] = json!([{"bearer": []}]);
        add_response(op, "401", "No token, or an unknown one: unauthorized");
        add_response(op, "403", "The token's role, tenant or property list does not reach this: forbidden");
        add_response(op, "503", "The database or the property is not available right now (temporarily_unavailable; Retry-After: 1)");
        if path.contains("{property}") {
            add_response(op, "404", "No such property (or other resource): not_found");
        }
    }
    // Only the token API reads JSON bodies through `ApiJson` (webhooks read raw bytes).
    let json_body = api && op["requestBody"]["content"].get("application/json").is_some();
    if json_body {
        add_response(op, "400", "Not JSON (invalid_json), or the body was cut off (body_incomplete)");
        add_response(op, "413", "The body is larger than body_limit_bytes: payload_too_large");
        add_response(op, "415", "Content-Type is not application/json: unsupported_media_type");
        add_response(op, "422", "The body does not fit the schema (invalid_body) or a field is refused (invalid_field, …)");
    }
    if op.get("parameters").and_then(Value::as_array).is_some_and(|ps| ps.iter().any(|p| p["in"] == "query")) {
        add_response(op, "400", "The query string does not fit the parameters: invalid_query");
    }
    if api && method == "post" {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut params: Vec<Value> = params;
        params.push(idempotency_header());
        op["parameters"] = Value::Array(params);
        add_response(op, "400", "Idempotency-Key is not 1-255 visible ASCII characters: invalid_idempotency_key");
        add_response(op, "409", "The same Idempotency-Key is in progress or its outcome is unknown");
        add_response(op, "422", "The same Idempotency-Key was used with another body: idempotency_key_reused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &str, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(path.to_str().unwrap(), out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }

    /// Every `ApiError::new(StatusCode::…, "code", …)` in src/ and every
    /// code `DomainError::code()` returns is in the `Error` schema's enum.
    #[test]
    fn every_error_code_is_documented() {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut files = Vec::new();
        sources(&format!("{root}/src"), &mut files);
        let mut found = 0;
        // This file names the call in its comments and in this test.
        for (name, text) in files.iter().filter(|(name, _)| !name.ends_with("http/openapi.rs")) {
            for (i, _) in text.match_indices("ApiError::new(") {
                let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
                if text[line_start..i].trim_start().starts_with("//") {
                    continue;
                }
                let rest = &text[i..text.len().min(i + 300)];
                let Some(start) = rest.find('"') else { continue };
                let Some(len) = rest[start + 1..].find('"') else { continue };
                let code = &rest[start + 1..start + 1 + len];
                found += 1;
                assert!(ERROR_CODES.contains(&code), "{name}: error code {code:?} is not in openapi::ERROR_CODES");
            }
        }
        assert!(found > 10, "read {found} ApiError::new calls");
        let mut domain_codes = 0;
        for file in ["error.rs", "stay.rs"] {
            let text = std::fs::read_to_string(format!("{root}/domain/src/{file}")).unwrap();
            let body = &text[text.find("fn code(").unwrap_or(0)..];
            for line in body.lines().take_while(|l| !l.starts_with("    }") || l.contains("=>")) {
                if let Some((_, code)) = line.split_once("=> \"") {
                    let code = code.trim_end_matches(['"', ',']);
                    domain_codes += 1;
                    assert!(ERROR_CODES.contains(&code), "domain {file}: error code {code:?} is not in openapi::ERROR_CODES");
                }
            }
        }
        assert!(domain_codes >= 17, "read {domain_codes} domain error codes");
    }

    #[test]
    fn the_error_schema_enumerates_the_codes() {
        let doc = document();
        let codes = &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
        assert_eq!(codes.as_array().map(Vec::len), Some(ERROR_CODES.len()));
    }

    /// Every route of `access::ROUTES` (the table the router is checked
    /// against) is in the document, except the Pusher protocol's own
    /// routes, whose contract is Pusher's (ws/README.md).
    #[test]
    fn every_route_is_in_the_document() {
        let doc = document();
        for r in super::super::access::ROUTES {
            if r.access == super::super::access::Access::Pusher {
                continue;
            }
            let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} is missing from the API document: add #[utoipa::path] and list it in ApiDoc", r.method, r.path);
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{} {} documents no response", r.method, r.path);
        }
    }

    /// docs/openapi.json is what the code generates.
    #[test]
    fn the_checked_in_copy_is_current() {
        let generated = serde_json::to_string_pretty(&document()).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        if std::env::var_os("SALURAN_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let stored = std::fs::read_to_string(path).unwrap();
        assert!(
            stored == generated,
            "docs/openapi.json differs from the document the code generates; regenerate it with \
             `cargo run -- openapi > docs/openapi.json` (or SALURAN_WRITE_OPENAPI=1 cargo nextest run -p saluran -E 'test(the_checked_in_copy_is_current)')"
        );
    }
}
