//! Pusher signatures: channel auth (`key:hex(HMAC-SHA256)`) and the signed
//! query of the HTTP API (`auth_key`, `auth_timestamp`, `auth_version`,
//! `body_md5`, `auth_signature`).

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::config::HubConfig;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str) -> Option<HmacSha256> {
    // HMAC takes keys of any length, so this never fails in practice.
    HmacSha256::new_from_slice(secret.as_bytes()).ok()
}

fn channel_string_to_sign(socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// The `auth` value a client sends in `pusher:subscribe` for a `private-` or
/// `presence-` channel: `key:hex(HMAC-SHA256(secret, socket_id:channel[:channel_data]))`.
///
/// `channel_data` is required for presence channels (the exact JSON string the
/// client will send) and must be `None` for private ones. The binary's
/// `POST /api/v1/realtime/auth` returns `{"auth": channel_auth(..)}` (plus
/// `"channel_data"` for presence) after checking the bearer token's scope.
pub fn channel_auth(key: &str, secret: &str, socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    let Some(mut m) = mac(secret) else {
        return format!("{key}:");
    };
    m.update(channel_string_to_sign(socket_id, channel, channel_data).as_bytes());
    format!("{key}:{}", hex::encode(m.finalize().into_bytes()))
}

/// Checks a client's channel `auth` in constant time.
pub(crate) fn verify_channel_auth(key: &str, secret: &str, socket_id: &str, channel: &str, channel_data: Option<&str>, auth: &str) -> bool {
    let Some((auth_key, signature)) = auth.split_once(':') else {
        return false;
    };
    if auth_key != key {
        return false;
    }
    let Ok(signature) = hex::decode(signature) else {
        return false;
    };
    let Some(mut m) = mac(secret) else {
        return false;
    };
    m.update(channel_string_to_sign(socket_id, channel, channel_data).as_bytes());
    m.verify_slice(&signature).is_ok()
}

/// Hex MD5 of an HTTP API body (`body_md5`).
pub fn body_md5(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

fn canonical_query(params: &[(String, String)]) -> String {
    let mut sorted: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("auth_signature"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    sorted.sort();
    sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn api_signature(secret: &str, method: &str, path: &str, params: &[(String, String)]) -> Option<HmacSha256> {
    let mut m = mac(secret)?;
    m.update(format!("{}\n{}\n{}", method.to_ascii_uppercase(), path, canonical_query(params)).as_bytes());
    Some(m)
}

/// Builds the signed query string of a Pusher HTTP API request (what
/// `pusher-php-server` sends): `params` plus `auth_key`, `auth_timestamp`,
/// `auth_version=1.0`, `body_md5` (when the body is not empty) and
/// `auth_signature`, URL-encoded. `path` is the request path
/// (`/apps/{app_id}/events`).
pub fn sign_api_query(key: &str, secret: &str, method: &str, path: &str, params: &[(&str, &str)], body: &[u8], timestamp: i64) -> String {
    let mut all: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    all.push(("auth_key".into(), key.into()));
    all.push(("auth_timestamp".into(), timestamp.to_string()));
    all.push(("auth_version".into(), "1.0".into()));
    if !body.is_empty() {
        all.push(("body_md5".into(), body_md5(body)));
    }
    let signature = api_signature(secret, method, path, &all).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default();
    all.push(("auth_signature".into(), signature));
    all.iter().map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v))).collect::<Vec<_>>().join("&")
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Why an HTTP API request was refused (401).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiAuthError {
    #[error("missing query parameter {0}")]
    Missing(&'static str),
    #[error("query parameter {0} appears more than once")]
    Duplicate(String),
    #[error("unknown auth_key")]
    UnknownKey,
    #[error("unsupported auth_version (expected 1.0)")]
    Version,
    #[error("auth_timestamp is not a number")]
    BadTimestamp,
    #[error("auth_timestamp is more than {0} s away from the server's clock")]
    Expired(i64),
    #[error("body_md5 does not match the body")]
    BodyMd5,
    #[error("invalid auth_signature")]
    Signature,
}

/// Verifies a signed HTTP API request. `params` are the decoded query pairs.
pub(crate) fn verify_api_request(
    cfg: &HubConfig,
    method: &str,
    path: &str,
    params: &[(String, String)],
    body: &[u8],
    now: i64,
) -> Result<(), ApiAuthError> {
    let (key, secret, window_secs) = (cfg.key.as_str(), cfg.secret.as_str(), cfg.api_timestamp_window_secs);
    let mut seen: Vec<String> = Vec::with_capacity(params.len());
    for (k, _) in params {
        let k = k.to_ascii_lowercase();
        if seen.contains(&k) {
            return Err(ApiAuthError::Duplicate(k));
        }
        seen.push(k);
    }
    let get = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let auth_key = get("auth_key").ok_or(ApiAuthError::Missing("auth_key"))?;
    let timestamp = get("auth_timestamp").ok_or(ApiAuthError::Missing("auth_timestamp"))?;
    let version = get("auth_version").ok_or(ApiAuthError::Missing("auth_version"))?;
    let signature = get("auth_signature").ok_or(ApiAuthError::Missing("auth_signature"))?;
    if auth_key != key {
        return Err(ApiAuthError::UnknownKey);
    }
    if version != "1.0" {
        return Err(ApiAuthError::Version);
    }
    let timestamp: i64 = timestamp.parse().map_err(|_| ApiAuthError::BadTimestamp)?;
    if now.abs_diff(timestamp) > window_secs.unsigned_abs() {
        return Err(ApiAuthError::Expired(window_secs));
    }
    match get("body_md5") {
        Some(md5) if !md5.eq_ignore_ascii_case(&body_md5(body)) => return Err(ApiAuthError::BodyMd5),
        None if !body.is_empty() => return Err(ApiAuthError::Missing("body_md5")),
        _ => {}
    }
    let signature = hex::decode(signature).map_err(|_| ApiAuthError::Signature)?;
    let m = api_signature(secret, method, path, params).ok_or(ApiAuthError::Signature)?;
    m.verify_slice(&signature).map_err(|_| ApiAuthError::Signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked examples of Pusher's "authentication and authorization
    // signatures" and "HTTP API reference" pages.
    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn private_channel_example() {
        assert_eq!(
            channel_auth(KEY, SECRET, "1234.1234", "private-foobar", None),
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
    }

    #[test]
    fn presence_signs_channel_data() {
        let data = r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#;
        let auth = channel_auth(KEY, SECRET, "1234.1234", "presence-foobar", Some(data));
        assert_ne!(auth, channel_auth(KEY, SECRET, "1234.1234", "presence-foobar", None));
        assert!(verify_channel_auth(KEY, SECRET, "1234.1234", "presence-foobar", Some(data), &auth));
        let other = r#"{"user_id":11,"user_info":{"name":"Mr. Channels"}}"#;
        assert!(!verify_channel_auth(KEY, SECRET, "1234.1234", "presence-foobar", Some(other), &auth));
    }

    #[test]
    fn verify_rejects_tampering() {
        let good = channel_auth(KEY, SECRET, "1.2", "private-a", None);
        assert!(verify_channel_auth(KEY, SECRET, "1.2", "private-a", None, &good));
        assert!(!verify_channel_auth(KEY, SECRET, "1.3", "private-a", None, &good));
        assert!(!verify_channel_auth(KEY, SECRET, "1.2", "private-b", None, &good));
        assert!(!verify_channel_auth(KEY, SECRET, "1.2", "private-a", Some("{}"), &good));
        assert!(!verify_channel_auth("other", SECRET, "1.2", "private-a", None, &good));
        assert!(!verify_channel_auth(KEY, SECRET, "1.2", "private-a", None, "garbage"));
        assert!(!verify_channel_auth(KEY, SECRET, "1.2", "private-a", None, &format!("{KEY}:zz")));
        assert!(!verify_channel_auth(KEY, SECRET, "1.2", "private-a", None, &format!("{KEY}:")));
    }

    #[test]
    fn http_api_example() {
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(body_md5(body), "ec365a775a4cd0599faeb73354201b6f");
        let q = sign_api_query(KEY, SECRET, "POST", "/apps/3/events", &[], body, 1353088179);
        assert!(q.ends_with("auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"), "{q}");
    }

    fn parse(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                let v = v.replace("%2C", ",").replace("%2D", "-");
                (k.to_string(), v)
            })
            .collect()
    }

    fn cfg(secret: &str) -> HubConfig {
        HubConfig::new("3", KEY, secret)
    }

    #[test]
    fn verify_api() {
        let body = b"{}";
        let q = sign_api_query(KEY, SECRET, "POST", "/apps/3/events", &[], body, 1000);
        let params = parse(&q);
        assert_eq!(verify_api_request(&cfg(SECRET), "POST", "/apps/3/events", &params, body, 1000), Ok(()));
        assert_eq!(verify_api_request(&cfg(SECRET), "POST", "/apps/3/events", &params, body, 1601), Err(ApiAuthError::Expired(600)));
        assert_eq!(verify_api_request(&cfg(SECRET), "POST", "/apps/3/events", &params, b"{ }", 1000), Err(ApiAuthError::BodyMd5));
        assert_eq!(verify_api_request(&cfg(SECRET), "POST", "/apps/4/events", &params, body, 1000), Err(ApiAuthError::Signature));
        assert_eq!(verify_api_request(&cfg("wrong"), "POST", "/apps/3/events", &params, body, 1000), Err(ApiAuthError::Signature));
        let mut dup = params.clone();
        dup.push(("auth_key".into(), KEY.into()));
        assert!(matches!(verify_api_request(&cfg(SECRET), "POST", "/apps/3/events", &dup, body, 1000), Err(ApiAuthError::Duplicate(_))));

        let q =
            sign_api_query(KEY, SECRET, "GET", "/apps/3/channels", &[("filter_by_prefix", "presence-"), ("info", "user_count")], b"", 1000);
        let params = parse(&q);
        assert_eq!(verify_api_request(&cfg(SECRET), "GET", "/apps/3/channels", &params, b"", 1000), Ok(()));
        let mut extra = params.clone();
        extra.push(("info".into(), "x".into()));
        assert!(verify_api_request(&cfg(SECRET), "GET", "/apps/3/channels", &extra, b"", 1000).is_err());
    }
}
