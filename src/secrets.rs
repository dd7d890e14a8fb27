//! Sealing OTA credentials at rest: AES-256-GCM, a random 96-bit nonce per
//! message, stored as `nonce ‖ ciphertext`. The key comes from the
//! environment (`SALURAN_SECRET_KEY`: 32 bytes, base64 or hex); without it,
//! a key file is created beside the database (fine for a demo, not for
//! production: the log says so).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use rand::RngCore;

pub const KEY_ENV: &str = "SALURAN_SECRET_KEY";

#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the secret key must be 32 bytes, base64 or hex")]
    BadKey,
    #[error("sealed data is corrupt or was sealed with another key")]
    Corrupt,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn from_key(key: &[u8]) -> Result<Sealer, SealError> {
        if key.len() != 32 {
            return Err(SealError::BadKey);
        }
        Ok(Sealer { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)) })
    }

    pub fn parse_key(text: &str) -> Result<Vec<u8>, SealError> {
        let t = text.trim();
        if let Ok(k) = hex::decode(t) {
            if k.len() == 32 {
                return Ok(k);
            }
        }
        base64::engine::general_purpose::STANDARD.decode(t).ok().filter(|k| k.len() == 32).ok_or(SealError::BadKey)
    }

    /// From `SALURAN_SECRET_KEY`, or else from (creating) `key_file`.
    pub fn from_env_or_file(key_file: &std::path::Path) -> anyhow::Result<Sealer> {
        if let Ok(v) = std::env::var(KEY_ENV) {
            return Ok(Sealer::from_key(&Sealer::parse_key(&v)?)?);
        }
        if let Ok(text) = std::fs::read_to_string(key_file) {
            return Ok(Sealer::from_key(&Sealer::parse_key(&text)?)?);
        }
        tracing::warn!(file = %key_file.display(), "{KEY_ENV} is not set: generated a key file; set {KEY_ENV} in production");
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        if let Some(dir) = key_file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(key_file, hex::encode(key))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(key_file, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Sealer::from_key(&key)?)
    }

    pub fn random() -> Sealer {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Sealer { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)) }
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory data.
        let ct = self.cipher.encrypt(Nonce::from_slice(&nonce), plain).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 12 + 16 {
            return Err(SealError::Corrupt);
        }
        let (nonce, ct) = sealed.split_at(12);
        self.cipher.decrypt(Nonce::from_slice(nonce), ct).map_err(|_| SealError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        let s = Sealer::random();
        let sealed = s.seal(b"{\"username\":\"u\",\"password\":\"p\"}");
        assert!(!sealed.windows(8).any(|w| w == b"password"), "no clear text at rest");
        assert_eq!(s.open(&sealed).unwrap(), b"{\"username\":\"u\",\"password\":\"p\"}");
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(s.open(&bad), Err(SealError::Corrupt));
        assert_eq!(Sealer::random().open(&sealed), Err(SealError::Corrupt), "another key");
        assert_ne!(s.seal(b"x"), s.seal(b"x"), "fresh nonce each time");
    }

    #[test]
    fn keys_parse_from_hex_or_base64() {
        let hexkey = "00".repeat(32);
        assert_eq!(Sealer::parse_key(&hexkey).unwrap().len(), 32);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(Sealer::parse_key(&b64).unwrap(), vec![7u8; 32]);
        assert_eq!(Sealer::parse_key("short"), Err(SealError::BadKey));
    }
}
