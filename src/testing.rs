//! Test support shared by the integration tests: fresh stores on every
//! backend the environment provides.
//!
//! - SQLite: always; a new file under `$TMPDIR/saluran-tests/`.
//! - PostgreSQL: when `SALURAN_TEST_POSTGRES_URL` names a server (e.g.
//!   `postgres://postgres@127.0.0.1:5432/test`); each call creates a new
//!   database `saluran_t_<uuid>` on it. When the variable is unset the
//!   PostgreSQL half is skipped with a `SKIPPED:` line on stderr, unless
//!   `SALURAN_REQUIRE_SERVICES=1`, which turns the skip into a failure (CI).
//!
//! These helpers panic on failure: they are for tests only.

use crate::store::{connect, StoreOptions};
use saluran_domain::store::Store;
use sqlx::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub const POSTGRES_URL_ENV: &str = "SALURAN_TEST_POSTGRES_URL";
pub const REQUIRE_SERVICES_ENV: &str = "SALURAN_REQUIRE_SERVICES";

/// Options for test stores: small pools, since many tests run at once.
pub fn test_store_options() -> StoreOptions {
    StoreOptions { sqlite_synchronous_full: true, max_connections: 4 }
}

/// The URL of a new SQLite file (not created yet).
pub fn fresh_sqlite_url() -> String {
    let dir = std::env::temp_dir().join("saluran-tests");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    let path = dir.join(format!("{}.db", uuid::Uuid::now_v7()));
    format!("sqlite://{}", path.display())
}

/// A migrated store over a new SQLite file.
pub async fn fresh_sqlite() -> Arc<dyn Store> {
    let url = fresh_sqlite_url();
    match connect(&url, &test_store_options()).await {
        Ok(store) => store,
        Err(e) => panic!("cannot open test SQLite store {url}: {e}"),
    }
}

fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES_ENV).map(|v| v == "1").unwrap_or(false)
}

/// The PostgreSQL server URL from the environment, if any (see the module
/// docs for the skip / require rules).
pub fn postgres_server_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if services_required() {
                panic!("{POSTGRES_URL_ENV} is not set but {REQUIRE_SERVICES_ENV}=1: PostgreSQL tests must run");
            }
            eprintln!("SKIPPED: {POSTGRES_URL_ENV} not set");
            None
        }
    }
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let (head, rest) = url.split_at(scheme_end);
    let (before_query, query) = match rest.find('?') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    format!("{head}{authority}/{database}{query}")
}

static STALE_DATABASES_DROPPED: AtomicBool = AtomicBool::new(false);

/// Test databases older than this are dropped (once per test process), so
/// a developer's server does not fill up with them.
const STALE_AFTER_SECS: u64 = 6 * 3600;

/// Best effort: drops `saluran_t_<uuid v7>` databases created more than
/// `STALE_AFTER_SECS` ago (the creation time is in the UUID) that nobody is
/// connected to. Errors are ignored.
async fn drop_stale_test_databases(conn: &mut sqlx::PgConnection) {
    let Ok(names) =
        sqlx::query_scalar::<_, String>("SELECT datname FROM pg_database WHERE datname LIKE 'saluran\\_t\\_%'").fetch_all(&mut *conn).await
    else {
        return;
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for name in names {
        let Some(created) = name
            .strip_prefix("saluran_t_")
            .and_then(|hex| uuid::Uuid::try_parse(hex).ok())
            .and_then(|id| id.get_timestamp())
            .map(|ts| ts.to_unix().0)
        else {
            continue;
        };
        if created + STALE_AFTER_SECS < now {
            // The name was just parsed as <prefix><uuid>: safe to splice in.
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut *conn).await;
        }
    }
}

/// The URL of a new, empty PostgreSQL database (not migrated), or `None`
/// when no server is configured.
pub async fn fresh_postgres_url() -> Option<String> {
    let server = postgres_server_url()?;
    let name = format!("saluran_t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = match sqlx::PgConnection::connect(&server).await {
        Ok(c) => c,
        Err(e) => panic!("cannot connect to the test PostgreSQL server ({POSTGRES_URL_ENV}): {e}"),
    };
    if !STALE_DATABASES_DROPPED.swap(true, Ordering::SeqCst) {
        drop_stale_test_databases(&mut conn).await;
    }
    if let Err(e) = sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await {
        panic!("cannot create test database {name}: {e}");
    }
    let _ = conn.close().await;
    Some(with_database(&server, &name))
}

/// A migrated store over a new PostgreSQL database, or `None` when no
/// server is configured.
pub async fn fresh_postgres() -> Option<Arc<dyn Store>> {
    let url = fresh_postgres_url().await?;
    match connect(&url, &test_store_options()).await {
        Ok(store) => Some(store),
        Err(e) => panic!("cannot open test PostgreSQL store: {e}"),
    }
}

/// One fresh store per available backend: `("sqlite", …)` always, then
/// `("postgres", …)` when configured.
pub async fn backends() -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut out: Vec<(&'static str, Arc<dyn Store>)> = vec![("sqlite", fresh_sqlite().await)];
    if let Some(pg) = fresh_postgres().await {
        out.push(("postgres", pg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(with_database("postgres://postgres@127.0.0.1:5432/test", "x"), "postgres://postgres@127.0.0.1:5432/x");
        assert_eq!(with_database("postgres://u:p@h/test?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
        assert_eq!(with_database("postgresql://h:5432", "x"), "postgresql://h:5432/x");
    }
}
