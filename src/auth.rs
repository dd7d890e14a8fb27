//! Bearer tokens: random, shown once, stored as SHA-256 hashes, scoped to a
//! tenant, a role and optionally a list of properties.

use crate::app::App;
use crate::http::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use parking_lot::RwLock;
use rand::RngCore;
use saluran_domain::property::{Permission, Property, TokenScope};
use saluran_domain::store::{Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const TOKEN_PREFIX: &str = "slr_";

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token and stores its hash; returns the token (shown once).
pub async fn create_token(store: &dyn Store, scope: &TokenScope) -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let id = uuid::Uuid::now_v7().to_string();
    store.insert_token(&id, &hash_token(&token), scope).await?;
    Ok(token)
}

/// Recently seen tokens, so a request costs no database read.
#[derive(Default)]
pub struct TokenCache(RwLock<HashMap<String, (TokenScope, Instant)>>);

const CACHE_TTL: Duration = Duration::from_secs(60);

impl TokenCache {
    fn get(&self, hash: &str) -> Option<TokenScope> {
        self.0.read().get(hash).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(s, _)| s.clone())
    }
    fn put(&self, hash: String, scope: TokenScope) {
        let mut m = self.0.write();
        if m.len() > 10_000 {
            m.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        m.insert(hash, (scope, Instant::now()));
    }
}

/// The caller, authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub scope: TokenScope,
    /// Stable per token; scopes idempotency keys.
    pub token_hash: String,
}

impl Caller {
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.scope.role.allows(p) {
            Ok(())
        } else {
            Err(ApiError::forbidden(&format!("role {} may not do this", self.scope.role.as_str())))
        }
    }
    /// Checks role and reach for a property.
    pub fn require_on(&self, p: Permission, property: &Property) -> Result<(), ApiError> {
        if !self.scope.reaches(&property.tenant, &property.code) {
            return Err(ApiError::forbidden("this token does not reach that property"));
        }
        self.require(p)
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Caller, ApiError> {
        // Already authenticated by the access layer (`http::access::enforce`).
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer TOKEN"))?;
        // The scheme is case-insensitive (RFC 9110 §11.1) and may be
        // followed by more than one space.
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| t.starts_with(TOKEN_PREFIX) && t.len() < 200)
            .ok_or_else(|| ApiError::unauthorized("malformed bearer token"))?;
        let hash = hash_token(token);
        if let Some(scope) = app.tokens().get(&hash) {
            return Ok(Caller { scope, token_hash: hash });
        }
        match app.store().find_token(&hash).await? {
            Some(scope) => {
                app.tokens().put(hash.clone(), scope.clone());
                Ok(Caller { scope, token_hash: hash })
            }
            None => Err(ApiError::unauthorized("unknown token")),
        }
    }
}
