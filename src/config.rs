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
    /// With `redis_url`: the Redis pub/sub channel the nodes of one
    /// deployment share for real-time fan-out (docs/decisions/0005).
    pub backplane_channel: String,
    /// Real-time events waiting to go to Redis at most; more are dropped
    /// (counted in `saluran_backplane_dropped_total`).
    pub backplane_queue: usize,
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
    /// Where the key that seals OTA credentials is kept when
    /// `SALURAN_SECRET_KEY` is not set.
    pub secret_key_file: String,
    /// Folder of OTA preset overrides (built-in presets need none).
    pub presets_dir: String,
    /// Run channel connections (push ARI, take bookings).
    pub channels_enabled: bool,
    /// Auto stop-sell: close a date on every channel once a booking leaves
    /// this many rooms or fewer (unset: only overbookings close dates).
    pub auto_stop_sell_at: Option<i32>,
    /// Requests one room type's inventory shard holds at most (sent and not
    /// yet answered); past it writes answer 503 `overloaded` with
    /// Retry-After at once, so memory stays bounded under a flood.
    pub shard_ingress_limit: usize,
    /// The Pusher-compatible real-time hub (env SALURAN_PUSHER_APP_ID,
    /// SALURAN_PUSHER_KEY, SALURAN_PUSHER_SECRET).
    pub pusher_app_id: String,
    pub pusher_key: String,
    pub pusher_secret: String,
    /// Browser origins allowed to open WebSockets; empty: any.
    pub allowed_origins: Vec<String>,
    /// WebSocket connections this node accepts (SALURAN_WS_MAX_CONNECTIONS).
    pub ws_max_connections: usize,
    /// TCP_NODELAY on accepted connections (SALURAN_TCP_NODELAY).
    pub tcp_nodelay: bool,
    /// An HTTP connection must send its first request head within this many
    /// seconds (SALURAN_HTTP_HEADER_TIMEOUT_SECS; slowloris).
    pub http_header_timeout_secs: u64,
    /// A keep-alive connection with no request in flight is closed after
    /// this many seconds (SALURAN_HTTP_IDLE_TIMEOUT_SECS). WebSockets are
    /// not HTTP connections once upgraded: this does not apply to them.
    pub http_idle_timeout_secs: u64,
    /// A request body must arrive whole within this many seconds of its
    /// head (SALURAN_HTTP_BODY_TIMEOUT_SECS).
    pub http_body_timeout_secs: u64,
    /// A response write that makes no progress for this many seconds (the
    /// client stopped reading) closes the connection
    /// (SALURAN_HTTP_WRITE_TIMEOUT_SECS).
    pub http_write_timeout_secs: u64,
    /// A connection being closed (shutdown drain, eviction, timeout) may
    /// take this many seconds to finish its response, then it is dropped;
    /// the whole drain on shutdown is bounded by it too
    /// (SALURAN_HTTP_SHUTDOWN_GRACE_SECS).
    pub http_shutdown_grace_secs: u64,
    /// HTTP connections served at once (SALURAN_MAX_HTTP_CONNECTIONS); at
    /// the cap the oldest idle connection is closed to make room.
    pub max_http_connections: usize,
    /// Idempotency keys are kept this long, then their rows are deleted
    /// (SALURAN_IDEMPOTENCY_TTL_SECS; default 24 h).
    pub idempotency_ttl_secs: u64,
    /// A request is answered 408 after this many seconds
    /// (SALURAN_REQUEST_TIMEOUT_SECS); a request with an Idempotency-Key,
    /// which runs in a task of its own, is stopped after as long
    /// (`http::idempotency`), and a key still in progress after twice as
    /// long is taken for a stopped node's.
    pub request_timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            app_mode: AppMode::Standalone,
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/saluran.db".into(),
            redis_url: None,
            backplane_channel: crate::backplane::DEFAULT_CHANNEL.into(),
            backplane_queue: 4096,
            log_format: "pretty".into(),
            body_limit_bytes: 1024 * 1024,
            idle_timeout_secs: 15 * 60,
            display_timezone: "Asia/Jakarta".into(),
            sqlite_synchronous_full: true,
            max_db_connections: 16,
            max_concurrent_requests: 4096,
            secret_key_file: "data/secret.key".into(),
            presets_dir: "config/ota-presets".into(),
            channels_enabled: true,
            auto_stop_sell_at: None,
            shard_ingress_limit: 4096,
            pusher_app_id: "saluran".into(),
            pusher_key: "saluran-key".into(),
            pusher_secret: "change-me-saluran-secret".into(),
            allowed_origins: Vec::new(),
            ws_max_connections: 20_000,
            tcp_nodelay: true,
            idempotency_ttl_secs: 24 * 3600,
            request_timeout_secs: 30,
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 60,
            http_body_timeout_secs: 30,
            http_write_timeout_secs: 30,
            http_shutdown_grace_secs: 30,
            max_http_connections: 10_000,
        }
    }
}

impl Settings {
    /// `request_timeout_secs`, at least one second.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.request_timeout_secs.max(1))
    }

    /// Loads settings. `file` overrides the default `config/saluran.toml`
    /// (which is optional).
    pub fn load(file: Option<&Path>) -> Result<Settings, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(f) => fig = fig.merge(Toml::file_exact(f)),
            None => fig = fig.merge(Toml::file("config/saluran.toml")),
        }
        let fig = fig.merge(Env::prefixed("SALURAN_")).merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL", "APP_MODE"]));
        let mut s: Settings = fig.extract().map_err(Box::new)?;
        if s.redis_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            s.redis_url = None;
        }
        Ok(s)
    }
}

/// Off loopback the Pusher secret must be at least this long (after
/// trimming): it is the HMAC key of private-channel auth and of the events
/// API, so a short one can be guessed.
pub const MIN_PUSHER_SECRET_BYTES: usize = 32;

impl Settings {
    /// The guard of `serve` and `demo`: refuses Pusher credentials that
    /// would let anyone who reaches the server sign events and subscribe to
    /// any private channel.
    ///
    /// - An empty (or blank) app id, key or secret is refused everywhere: an
    ///   empty HMAC key is no key.
    /// - Off loopback the secret must be our own (not the built-in one,
    ///   which is public: it is in the source) and at least
    ///   [`MIN_PUSHER_SECRET_BYTES`] long after trimming.
    /// - On loopback (the demo, a developer's machine) the built-in or a
    ///   short secret is accepted.
    pub fn check_pusher_secret(&self, bound: std::net::SocketAddr) -> Result<(), String> {
        for (value, env) in [
            (&self.pusher_app_id, "SALURAN_PUSHER_APP_ID"),
            (&self.pusher_key, "SALURAN_PUSHER_KEY"),
            (&self.pusher_secret, "SALURAN_PUSHER_SECRET"),
        ] {
            if value.trim().is_empty() {
                let what = if env == "SALURAN_PUSHER_SECRET" {
                    format!("a secret of at least {MIN_PUSHER_SECRET_BYTES} bytes (e.g. head -c 32 /dev/urandom | base64)")
                } else {
                    "a non-empty value".to_owned()
                };
                return Err(format!(
                    "refusing to serve on {bound}: {env} is empty; set it (or the config file's {}) to {what}",
                    env.trim_start_matches("SALURAN_").to_ascii_lowercase()
                ));
            }
        }
        if bound.ip().is_loopback() {
            return Ok(());
        }
        if self.pusher_secret == Settings::default().pusher_secret {
            return Err(format!(
                "refusing to serve on {bound} with the built-in Pusher secret: set SALURAN_PUSHER_SECRET (or pusher_secret in the \
                 config file) to a secret of your own of at least {MIN_PUSHER_SECRET_BYTES} bytes, or listen on loopback only (e.g. 127.0.0.1)"
            ));
        }
        let len = self.pusher_secret.trim().len();
        if len < MIN_PUSHER_SECRET_BYTES {
            return Err(format!(
                "refusing to serve on {bound}: SALURAN_PUSHER_SECRET is {len} bytes; off loopback it must be at least \
                 {MIN_PUSHER_SECRET_BYTES} bytes (e.g. head -c 32 /dev/urandom | base64), or listen on loopback only (e.g. 127.0.0.1)"
            ));
        }
        Ok(())
    }
}

/// `url` with the password of its user info (and a `password=` query
/// parameter) replaced by `***`, for printing and logging.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let (head, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{head}{authority}{tail}")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("saluran.toml", "listen = \"0.0.0.0:9000\"\nidle_timeout_secs = 60\napp_mode = \"saas\"")?;
            jail.set_env("DATABASE_URL", "postgres://db/saluran");
            jail.set_env("REDIS_URL", "redis://cache:6379");
            jail.set_env("SALURAN_IDLE_TIMEOUT_SECS", "30");
            let s = Settings::load(Some(Path::new("saluran.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "0.0.0.0:9000", "from the file");
            assert_eq!(s.idle_timeout_secs, 30, "the environment wins over the file");
            assert_eq!(s.app_mode, AppMode::Saas);
            assert_eq!(s.database_url, "postgres://db/saluran");
            assert_eq!(s.redis_url.as_deref(), Some("redis://cache:6379"));
            assert_eq!(s.body_limit_bytes, 1024 * 1024, "default");
            Ok(())
        });
    }

    #[test]
    fn listen_comes_from_salurans_own_variable_and_empty_redis_is_none() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SALURAN_LISTEN", "127.0.0.1:7000");
            jail.set_env("REDIS_URL", "");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "127.0.0.1:7000");
            assert_eq!(s.redis_url, None);
            Ok(())
        });
    }

    #[test]
    fn the_shipped_config_file_is_the_defaults_and_websocket_limits_come_from_the_environment() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/saluran.toml");
        figment::Jail::expect_with(|jail| {
            let s = Settings::load(Some(&shipped)).map_err(|e| e.to_string())?;
            let d = Settings::default();
            assert_eq!((s.ws_max_connections, s.tcp_nodelay), (d.ws_max_connections, d.tcp_nodelay));
            assert_eq!((s.backplane_channel.as_str(), s.backplane_queue), (d.backplane_channel.as_str(), d.backplane_queue));
            assert_eq!(s.idempotency_ttl_secs, d.idempotency_ttl_secs);
            assert_eq!(s.request_timeout_secs, d.request_timeout_secs);
            assert_eq!(
                (s.http_header_timeout_secs, s.http_idle_timeout_secs, s.http_body_timeout_secs, s.max_http_connections),
                (d.http_header_timeout_secs, d.http_idle_timeout_secs, d.http_body_timeout_secs, d.max_http_connections)
            );
            assert_eq!((s.http_write_timeout_secs, s.http_shutdown_grace_secs), (d.http_write_timeout_secs, d.http_shutdown_grace_secs));
            assert_eq!(s.shard_ingress_limit, d.shard_ingress_limit);
            jail.set_env("SALURAN_IDEMPOTENCY_TTL_SECS", "60");
            jail.set_env("SALURAN_SHARD_INGRESS_LIMIT", "9");
            jail.set_env("SALURAN_REQUEST_TIMEOUT_SECS", "7");
            jail.set_env("SALURAN_HTTP_HEADER_TIMEOUT_SECS", "3");
            jail.set_env("SALURAN_HTTP_IDLE_TIMEOUT_SECS", "4");
            jail.set_env("SALURAN_HTTP_BODY_TIMEOUT_SECS", "5");
            jail.set_env("SALURAN_MAX_HTTP_CONNECTIONS", "6");
            jail.set_env("SALURAN_HTTP_WRITE_TIMEOUT_SECS", "7");
            jail.set_env("SALURAN_HTTP_SHUTDOWN_GRACE_SECS", "8");
            jail.set_env("SALURAN_WS_MAX_CONNECTIONS", "50000");
            jail.set_env("SALURAN_TCP_NODELAY", "false");
            let s = Settings::load(Some(&shipped)).map_err(|e| e.to_string())?;
            assert_eq!((s.ws_max_connections, s.tcp_nodelay), (50_000, false));
            assert_eq!(s.idempotency_ttl_secs, 60);
            assert_eq!((s.request_timeout_secs, s.request_timeout()), (7, std::time::Duration::from_secs(7)));
            assert_eq!(
                (s.http_header_timeout_secs, s.http_idle_timeout_secs, s.http_body_timeout_secs, s.max_http_connections),
                (3, 4, 5, 6)
            );
            assert_eq!((s.http_write_timeout_secs, s.http_shutdown_grace_secs), (7, 8));
            assert_eq!(s.shard_ingress_limit, 9, "tests/actors.rs floods a shard through this setting");
            Ok(())
        });
    }

    #[test]
    fn pusher_credentials_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SALURAN_PUSHER_APP_ID", "app-9");
            jail.set_env("SALURAN_PUSHER_KEY", "key-9");
            jail.set_env("SALURAN_PUSHER_SECRET", "secret-9");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!((s.pusher_app_id.as_str(), s.pusher_key.as_str(), s.pusher_secret.as_str()), ("app-9", "key-9", "secret-9"));
            Ok(())
        });
    }

    #[test]
    fn the_built_in_pusher_secret_is_refused_off_loopback_only() {
        let d = Settings::default();
        let at = |a: &str| a.parse::<std::net::SocketAddr>().unwrap();
        assert!(d.check_pusher_secret(at("127.0.0.1:8080")).is_ok());
        assert!(d.check_pusher_secret(at("[::1]:8080")).is_ok());
        let e = d.check_pusher_secret(at("0.0.0.0:8080")).unwrap_err();
        assert!(e.contains("SALURAN_PUSHER_SECRET") && e.contains("0.0.0.0:8080"), "{e}");
        assert!(d.check_pusher_secret(at("192.168.1.5:80")).is_err());
        let own = Settings { pusher_secret: "a-secret-of-our-own-0123456789-ab".into(), ..Settings::default() };
        assert!(own.check_pusher_secret(at("0.0.0.0:8080")).is_ok());
    }

    #[test]
    fn a_short_or_empty_pusher_secret_is_refused_off_loopback_and_empty_credentials_anywhere() {
        let at = |a: &str| a.parse::<std::net::SocketAddr>().unwrap();
        let with = |secret: &str| Settings { pusher_secret: secret.into(), ..Settings::default() };
        for secret in ["", "x", "   ", &"s".repeat(31), &format!("  {}  ", "s".repeat(31))] {
            let e = with(secret).check_pusher_secret(at("0.0.0.0:8080")).unwrap_err();
            assert!(e.contains("SALURAN_PUSHER_SECRET") && e.contains("32"), "{secret:?}: {e}");
        }
        assert!(with(&"s".repeat(32)).check_pusher_secret(at("0.0.0.0:8080")).is_ok());
        // On loopback a short secret is a developer's choice; an empty one
        // (an empty HMAC key) is refused everywhere.
        assert!(with("x").check_pusher_secret(at("127.0.0.1:8080")).is_ok());
        for secret in ["", "  "] {
            let e = with(secret).check_pusher_secret(at("127.0.0.1:8080")).unwrap_err();
            assert!(e.contains("SALURAN_PUSHER_SECRET") && e.contains("empty"), "{e}");
        }
        let e = Settings { pusher_key: " ".into(), ..Settings::default() }.check_pusher_secret(at("127.0.0.1:8080")).unwrap_err();
        assert!(e.contains("SALURAN_PUSHER_KEY") && e.contains("empty"), "{e}");
        let e = Settings { pusher_app_id: "".into(), ..Settings::default() }.check_pusher_secret(at("[::1]:8080")).unwrap_err();
        assert!(e.contains("SALURAN_PUSHER_APP_ID") && e.contains("empty"), "{e}");
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(redact_url("postgres://saluran:s3cret@db:5432/saluran"), "postgres://saluran:***@db:5432/saluran");
        assert_eq!(redact_url("postgres://u:p%40ss@db/x?sslmode=require"), "postgres://u:***@db/x?sslmode=require");
        assert_eq!(redact_url("postgres://u@db/x?password=s3cret&sslmode=require"), "postgres://u@db/x?password=***&sslmode=require");
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact_url("sqlite://data/saluran.db"), "sqlite://data/saluran.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn a_bad_value_is_a_clear_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SALURAN_IDLE_TIMEOUT_SECS", "soon");
            let e = Settings::load(None).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.to_lowercase().contains("idle_timeout_secs") && e.contains("soon"), "{e}");
            Ok(())
        });
    }
}
