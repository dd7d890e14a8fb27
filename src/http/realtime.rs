//! `POST /api/v1/realtime/auth`: Pusher channel authorization for browsers
//! (form fields `socket_id`, `channel_name`; bearer token), scoped by the
//! token: a token reaches only its own properties' channels (I6).

use super::error::{ApiError, ApiResult};
use super::{property_for, ApiForm};
use crate::app::App;
use crate::auth::Caller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use saluran_domain::property::{Permission, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AuthForm {
    #[schema(pattern = "^[0-9]{1,20}\\.[0-9]{1,20}$")]
    socket_id: String,
    /// private-property.{code}.{inventory|bookings|rooms|channels} or presence-property.{code}.housekeeping
    #[schema(
        pattern = "^(private-property\\.[A-Za-z0-9._-]{1,32}\\.(inventory|bookings|rooms|channels)|presence-property\\.[A-Za-z0-9._-]{1,32}\\.housekeeping)$"
    )]
    channel_name: String,
}

/// A Pusher channel signature; `channel_data` (the member's id and info)
/// with presence channels only, absent otherwise.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelAuthOut {
    auth: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel_data: Option<String>,
}

/// `private-property.{code}.{inventory|bookings|rooms|channels}` or
/// `presence-property.{code}.housekeeping` → (code, stream).
fn parse_channel(name: &str) -> Option<(&str, &str, bool)> {
    let (presence, rest) = if let Some(r) = name.strip_prefix("private-property.") {
        (false, r)
    } else if let Some(r) = name.strip_prefix("presence-property.") {
        (true, r)
    } else {
        return None;
    };
    let (code, stream) = rest.rsplit_once('.')?;
    let ok = if presence { stream == "housekeeping" } else { matches!(stream, "inventory" | "bookings" | "rooms" | "channels") };
    ok.then_some((code, stream, presence))
}

fn valid_socket_id(s: &str) -> bool {
    let mut parts = s.split('.');
    let ok = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

#[utoipa::path(post, path = "/api/v1/realtime/auth", tag = "realtime", operation_id = "realtime_auth",
    summary = "Sign a Pusher channel subscription (private-property.{code}.{stream}, presence-property.{code}.housekeeping) for a token \
        that reaches the property. Housekeeping tokens get the rooms and housekeeping channels only; front desk and above every \
        stream of their properties.",
    request_body(content = AuthForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The signature", body = ChannelAuthOut),
        (status = 400, description = "The form could not be read: invalid_body", body = super::openapi::ErrorBody),
        (status = 404, description = "No such property: not_found", body = super::openapi::ErrorBody),
        (status = 413, description = "payload_too_large", body = super::openapi::ErrorBody),
        (status = 415, description = "Not a form: unsupported_media_type", body = super::openapi::ErrorBody),
        (status = 422, description = "invalid_field (socket_id), invalid_body", body = super::openapi::ErrorBody),
    ))]
pub async fn auth(State(app): State<App>, caller: Caller, ApiForm(form): ApiForm<AuthForm>) -> ApiResult<Json<ChannelAuthOut>> {
    if !valid_socket_id(&form.socket_id) {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "socket_id must look like 123.456").with_field("socket_id")
        );
    }
    let (code, stream, presence) = parse_channel(&form.channel_name)
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "forbidden", "not a channel this hub authorizes"))?;
    // Housekeeping staff see rooms only; everyone else with access to the
    // property sees all of its streams.
    let needed = if matches!(stream, "rooms" | "housekeeping") { Permission::UpdateRoomStatus } else { Permission::ReadCalendar };
    if caller.scope.role == Role::Housekeeping && !matches!(stream, "rooms" | "housekeeping") {
        return Err(ApiError::forbidden("housekeeping tokens reach room channels only"));
    }
    let h = property_for(&app, &caller, code, needed).await?;
    let s = app.settings();
    if presence {
        let user_id = caller.token_hash.get(..16).unwrap_or(&caller.token_hash).to_owned();
        let channel_data = json!({"user_id": user_id, "user_info": {"role": caller.scope.role.as_str(), "property": h.code()}}).to_string();
        let auth = saluran_ws::channel_auth(&s.pusher_key, &s.pusher_secret, &form.socket_id, &form.channel_name, Some(&channel_data));
        Ok(Json(ChannelAuthOut { auth, channel_data: Some(channel_data) }))
    } else {
        let auth = saluran_ws::channel_auth(&s.pusher_key, &s.pusher_secret, &form.socket_id, &form.channel_name, None);
        Ok(Json(ChannelAuthOut { auth, channel_data: None }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_body_is_byte_for_byte_what_it_was() {
        let data = json!({"user_id": "abc", "user_info": {"role": "housekeeping", "property": "BALI1"}}).to_string();
        let typed = ChannelAuthOut { auth: "key:sig".into(), channel_data: Some(data.clone()) };
        assert_eq!(serde_json::to_string(&typed).unwrap(), json!({"auth": "key:sig", "channel_data": data}).to_string());
        let typed = ChannelAuthOut { auth: "key:sig".into(), channel_data: None };
        assert_eq!(serde_json::to_string(&typed).unwrap(), json!({"auth": "key:sig"}).to_string());
    }
}
