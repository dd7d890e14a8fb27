//! Settings: defaults, then `config/saluran.toml` (or `--config FILE`), then
//! the environment, then command-line flags.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum AppMode {
    Standalone,
    Saas,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub app_mode: AppMode,
    pub listen: String,
    pub database_url: String,
    pub redis_url: Option<String>,
    /// `pretty` for people, `json` for log collectors.
    pub log_format: String,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Idle properties are passivated after this many seconds.
    pub idle_timeout_secs: u64,
    /// Time zone of `/health`'s timestamp.
    pub display_timezone: String,
    /// SQLite `synchronous=FULL` (durable across power loss) or NORMAL.
    pub sqlite_synchronous_full: bool,
    pub max_db_connections: u32,
    /// Concurrent requests served at most; beyond it requests wait.
    pub max_concurrent_requests: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            app_mode: AppMode::Standalone,
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/saluran.db".into(),
            redis_url: None,
            log_format: "pretty".into(),
            body_limit_bytes: 1024 * 1024,
            idle_timeout_secs: 15 * 60,
            display_timezone: "Asia/Jakarta".into(),
            sqlite_synchronous_full: true,
            max_db_connections: 16,
            max_concurrent_requests: 4096,
        }
    }
}

impl Settings {
    /// Loads settings. `file` overrides the default `config/saluran.toml`
    /// (which is optional).
    pub fn load(file: Option<&Path>) -> Result<Settings, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(f) => fig = fig.merge(Toml::file_exact(f)),
            None => fig = fig.merge(Toml::file("config/saluran.toml")),
        }
        let fig = fig.merge(Env::prefixed("SALURAN_").ignore(&["PUSHER_APP_ID", "PUSHER_KEY", "PUSHER_SECRET"])).merge(Env::raw().only(&[
            "DATABASE_URL",
            "REDIS_URL",
            "APP_MODE",
        ]));
        let mut s: Settings = fig.extract().map_err(Box::new)?;
        if s.redis_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            s.redis_url = None;
        }
        Ok(s)
    }
}
