//! Webhook signatures for the `jsonrest` profile (DESIGN §5: HMAC-SHA256 over
//! timestamp + body, 300 s window).
//!
//! The signed string is exactly the decimal Unix timestamp (seconds, no padding,
//! a leading `-` only for negative values), one `.` (0x2E), then the raw body bytes
//! as received, unmodified:
//!
//! ```text
//! signature = lowercase_hex( HMAC-SHA256( key = secret, message = "<timestamp>.<body>" ) )
//! ```
//!
//! The timestamp and signature travel in the [`TIMESTAMP_HEADER`] and
//! [`SIGNATURE_HEADER`] headers. Verification compares in constant time
//! (`hmac::Mac::verify_slice`) and then refuses timestamps more than `window_secs`
//! away from `now`, in either direction.

use crate::error::CodecError;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header carrying the Unix timestamp (seconds) that was signed.
pub const TIMESTAMP_HEADER: &str = "X-Saluran-Timestamp";
/// Header carrying the hex HMAC-SHA256 signature.
pub const SIGNATURE_HEADER: &str = "X-Saluran-Signature";
/// The default tolerance between the signed timestamp and now, in seconds.
pub const DEFAULT_WINDOW_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Option<HmacSha256> {
    // HMAC accepts keys of any length, so this never fails in practice.
    let mut m = HmacSha256::new_from_slice(secret).ok()?;
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Some(m)
}

/// The lowercase hex signature of `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    mac(secret, timestamp, body).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default()
}

/// Checks `signature_hex` (upper- or lowercase hex) for `body` at `timestamp`, in
/// constant time, then that `timestamp` is within `window_secs` of `now`.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], signature_hex: &str, now: i64, window_secs: i64) -> Result<(), CodecError> {
    let given = hex::decode(signature_hex.trim()).map_err(|_| CodecError::BadSignature)?;
    let m = mac(secret, timestamp, body).ok_or(CodecError::BadSignature)?;
    m.verify_slice(&given).map_err(|_| CodecError::BadSignature)?;
    if now.abs_diff(timestamp) > window_secs.max(0).unsigned_abs() {
        return Err(CodecError::TimestampOutOfWindow { timestamp, now, window_secs });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_openssl() {
        // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(sign(b"secret", 1_700_000_000, br#"{"a":1}"#), "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686");
        // printf '%s' '-5.' | openssl dgst -sha256 -hmac k
        assert_eq!(sign(b"k", -5, b""), "fb20eef0229e726d3f3025e11de3d39322d47728e174e3a8825459d1d33a8b49");
    }

    #[test]
    fn good_bad_stale_future() {
        let body = br#"{"event":"booking"}"#;
        let now = 1_700_000_000;
        let sig = sign(b"s3cret", now - 10, body);
        assert_eq!(verify(b"s3cret", now - 10, body, &sig, now, 300), Ok(()));
        assert_eq!(verify(b"s3cret", now - 10, body, &sig.to_uppercase(), now, 300), Ok(()));
        // Wrong secret, tampered body, tampered timestamp, garbage, truncated.
        assert_eq!(verify(b"other", now - 10, body, &sig, now, 300), Err(CodecError::BadSignature));
        assert_eq!(verify(b"s3cret", now - 10, b"{}", &sig, now, 300), Err(CodecError::BadSignature));
        assert_eq!(verify(b"s3cret", now - 11, body, &sig, now, 300), Err(CodecError::BadSignature));
        assert_eq!(verify(b"s3cret", now - 10, body, "zz", now, 300), Err(CodecError::BadSignature));
        assert_eq!(verify(b"s3cret", now - 10, body, &sig[..32], now, 300), Err(CodecError::BadSignature));
        assert_eq!(verify(b"s3cret", now - 10, body, "", now, 300), Err(CodecError::BadSignature));
        // Stale and future, each just past the window; the edge itself is accepted.
        let stale = sign(b"s3cret", now - 301, body);
        assert_eq!(verify(b"s3cret", now - 301, body, &stale, now, 300).unwrap_err().code(), "stale_signature");
        let edge = sign(b"s3cret", now - 300, body);
        assert_eq!(verify(b"s3cret", now - 300, body, &edge, now, 300), Ok(()));
        let future = sign(b"s3cret", now + 301, body);
        assert_eq!(verify(b"s3cret", now + 301, body, &future, now, 300).unwrap_err().code(), "stale_signature");
        // Extreme values do not overflow.
        let min = sign(b"s3cret", i64::MIN, body);
        assert!(verify(b"s3cret", i64::MIN, body, &min, i64::MAX, 300).is_err());
    }
}
