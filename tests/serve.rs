//! `saluran serve` as a real process: what it refuses to start with, and
//! what it does to connections that send nothing.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `saluran serve` with none of the caller's SALURAN_* settings leaking in.
fn serve(listen: &str, url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_saluran"));
    cmd.args(["serve", "--listen", listen, "--database-url", url]);
    for (k, _) in std::env::vars() {
        if k.starts_with("SALURAN_") && !k.starts_with("SALURAN_TEST_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("REDIS_URL").env("SALURAN_CHANNELS_ENABLED", "false");
    cmd
}

/// Waits until `port` accepts connections or the child exits.
fn wait_up(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Waits for the child to exit (at most `secs`); kills it if it does not.
fn exit_within(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A child process that is killed if the test fails before stopping it.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn stop(mut child: Proc) {
    let _ = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    if exit_within(&mut child.0, 20).is_none() {
        panic!("serve did not stop on SIGTERM");
    }
}

/// The built-in Pusher secret is public: `serve` refuses it on anything but
/// loopback, with a clear error and a non-zero exit.
#[test]
fn serve_refuses_the_built_in_pusher_secret_off_loopback() {
    let url = saluran::testing::fresh_sqlite_url();
    let port = free_port();
    let mut child = Proc(serve(&format!("0.0.0.0:{port}"), &url).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap());
    let status = exit_within(&mut child.0, 30).expect("serve exits instead of serving with the public secret");
    let mut err = String::new();
    use std::io::Read;
    child.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("SALURAN_PUSHER_SECRET") && err.contains("loopback"), "{err}");

    // On loopback the built-in secret is accepted.
    let port = free_port();
    let mut child = Proc(serve(&format!("127.0.0.1:{port}"), &url).stderr(Stdio::null()).spawn().unwrap());
    assert!(wait_up(&mut child.0, port), "serve on loopback starts with the built-in secret");
    stop(child);

    // Off loopback with its own secret it starts too.
    let port = free_port();
    let mut child = Proc(
        serve(&format!("0.0.0.0:{port}"), &url)
            .env("SALURAN_PUSHER_SECRET", "a-secret-of-our-own-0123456789-abcdef")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_up(&mut child.0, port), "serve on 0.0.0.0 starts with its own secret");
    stop(child);
}

/// Runs `cmd` (which must refuse to start) and returns its stderr.
fn refused(cmd: &mut Command) -> String {
    let mut child = Proc(cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap());
    let status = exit_within(&mut child.0, 30).expect("exits instead of serving");
    let mut err = String::new();
    use std::io::Read;
    child.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!status.success(), "{err}");
    err
}

/// An empty or 1-byte `SALURAN_PUSHER_SECRET` is no secret (an empty HMAC
/// key lets anyone sign private-channel auth): off loopback `serve` wants at
/// least 32 bytes; an empty secret is refused on loopback too.
#[test]
fn serve_refuses_a_short_or_empty_pusher_secret() {
    let url = saluran::testing::fresh_sqlite_url();
    for secret in ["", "x", "  short-with-spaces  "] {
        let err = refused(serve(&format!("0.0.0.0:{}", free_port()), &url).env("SALURAN_PUSHER_SECRET", secret));
        assert!(err.contains("SALURAN_PUSHER_SECRET") && err.contains("32 bytes"), "{secret:?}: {err}");
    }
    let err = refused(serve(&format!("127.0.0.1:{}", free_port()), &url).env("SALURAN_PUSHER_SECRET", ""));
    assert!(err.contains("SALURAN_PUSHER_SECRET") && err.contains("empty"), "{err}");
    let err = refused(serve(&format!("127.0.0.1:{}", free_port()), &url).env("SALURAN_PUSHER_KEY", ""));
    assert!(err.contains("SALURAN_PUSHER_KEY") && err.contains("empty"), "{err}");

    // A short secret of one's own on loopback is a developer's choice.
    let port = free_port();
    let mut child =
        Proc(serve(&format!("127.0.0.1:{port}"), &url).env("SALURAN_PUSHER_SECRET", "x").stderr(Stdio::null()).spawn().unwrap());
    assert!(wait_up(&mut child.0, port), "serve on loopback starts with a short secret");
    stop(child);
}

/// `saluran demo` with none of the caller's SALURAN_* settings leaking in.
fn demo(listen: &str, url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_saluran"));
    cmd.args(["demo", "--listen", listen, "--database-url", url]);
    for (k, _) in std::env::vars() {
        if k.starts_with("SALURAN_") && !k.starts_with("SALURAN_TEST_") {
            cmd.env_remove(k);
        }
    }
    // The demo's sealing key goes to a temporary file, not ./data.
    let key = std::env::temp_dir().join("saluran-tests").join(format!("{}.key", uuid::Uuid::now_v7()));
    cmd.env_remove("REDIS_URL").env("SALURAN_SECRET_KEY_FILE", key);
    cmd
}

/// `saluran demo` prints an admin token and runs with the public secret:
/// off loopback it makes the same check as `serve`, before it seeds
/// anything or prints a token.
#[test]
fn demo_refuses_the_built_in_pusher_secret_off_loopback() {
    let url = saluran::testing::fresh_sqlite_url();
    let mut cmd = demo(&format!("0.0.0.0:{}", free_port()), &url);
    let mut child = Proc(cmd.stderr(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap());
    let status = exit_within(&mut child.0, 30).expect("demo exits instead of serving with the public secret");
    let (mut err, mut out) = (String::new(), String::new());
    use std::io::Read;
    child.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    child.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("SALURAN_PUSHER_SECRET") && err.contains("loopback"), "{err}");
    assert!(!out.contains("slr_"), "no admin token printed: {out}");

    // On loopback the demo keeps the built-in secret.
    let port = free_port();
    let mut child = Proc(demo(&format!("127.0.0.1:{port}"), &url).stderr(Stdio::null()).stdout(Stdio::null()).spawn().unwrap());
    assert!(wait_up(&mut child.0, port), "the demo on loopback starts");
    stop(child);
}

/// SALURAN_PUSHER_APP_ID, _KEY and _SECRET are what the events API checks:
/// an event signed with them is taken; one signed with the defaults is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_credentials_come_from_the_environment() {
    let url = saluran::testing::fresh_sqlite_url();
    let port = free_port();
    let mut child = Proc(
        serve(&format!("127.0.0.1:{port}"), &url)
            .env("SALURAN_PUSHER_APP_ID", "app-from-env")
            .env("SALURAN_PUSHER_KEY", "key-from-env")
            .env("SALURAN_PUSHER_SECRET", "secret-from-env")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_up(&mut child.0, port));
    let client = reqwest::Client::new();
    let send = |app_id: &str, key: &str, secret: &str| {
        let path = format!("/apps/{app_id}/events");
        let body = serde_json::json!({"name": "hello", "channel": "public-test", "data": "{}"}).to_string().into_bytes();
        let query = saluran_ws::sign_api_query(key, secret, "POST", &path, &[], &body, jiff::Timestamp::now().as_second());
        client.post(format!("http://127.0.0.1:{port}{path}?{query}")).header("content-type", "application/json").body(body).send()
    };
    let d = saluran::config::Settings::default();
    let ok = send("app-from-env", "key-from-env", "secret-from-env").await.unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap_or_default());
    for (app_id, key, secret) in [
        (d.pusher_app_id.as_str(), "key-from-env", "secret-from-env"),
        ("app-from-env", d.pusher_key.as_str(), "secret-from-env"),
        ("app-from-env", "key-from-env", d.pusher_secret.as_str()),
        (d.pusher_app_id.as_str(), d.pusher_key.as_str(), d.pusher_secret.as_str()),
    ] {
        let r = send(app_id, key, secret).await.unwrap();
        assert!(r.status().is_client_error(), "{app_id}/{key}/{secret}: {}", r.status());
    }
    stop(child);
}

// ---- HTTP connection limits (header / idle / body timeouts, cap) ----

use common::{spawn_app_with, test_settings, TestApp};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn app_with(f: impl FnOnce(&mut saluran::config::Settings)) -> TestApp {
    let mut s = test_settings();
    f(&mut s);
    spawn_app_with(saluran::testing::fresh_sqlite().await, s).await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection or `within` passes;
/// returns when it closed (None: still open). Data read is discarded.
async fn closed_within(tcp: &mut tokio::net::TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// A client that sends part of its headers and then nothing (slowloris) is
/// closed once `http_header_timeout_secs` has passed, and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_closed_after_the_header_timeout() {
    let app = app_with(|s| s.http_header_timeout_secs = 1).await;
    let mut tcp = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let closed = closed_within(&mut tcp, Duration::from_secs(5)).await.expect("closed after the header timeout");
    assert!(closed >= Duration::from_millis(900), "{closed:?}");
    app.stop().await;

    let app = app_with(|s| s.http_header_timeout_secs = 10).await;
    let mut tcp = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    assert_eq!(closed_within(&mut tcp, Duration::from_secs(2)).await, None, "10 s: still open after 2 s");
    app.stop().await;
}

/// A keep-alive connection is closed `http_idle_timeout_secs` after its last
/// answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_close_after_the_idle_timeout() {
    for (idle, closes) in [(1, true), (10, false)] {
        let app = app_with(|s| s.http_idle_timeout_secs = idle).await;
        let mut tcp = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
        tcp.write_all(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        // Read the whole answer (its Content-Length) first.
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        let complete = |got: &[u8]| {
            let text = String::from_utf8_lossy(got);
            let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
            let len = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse::<usize>().unwrap()));
            len.is_some_and(|len| body.len() >= len)
        };
        while !complete(&got) {
            let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "closed before the answer");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got[..40]));
        let closed = closed_within(&mut tcp, Duration::from_secs(3)).await;
        assert_eq!(closed.is_some(), closes, "idle timeout {idle} s: closed after {closed:?}");
        app.stop().await;
    }
}

/// A request body that does not arrive whole within
/// `http_body_timeout_secs` is refused (408 `request_timeout`) and its connection closed (not held
/// for the 30 s request timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_cut_after_the_body_timeout() {
    let app = app_with(|s| s.http_body_timeout_secs = 1).await;
    let mut tcp = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/properties HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"code\":",
        app.admin
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
            Err(_) => panic!("no answer or close within 5 s: {}", String::from_utf8_lossy(&got)),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    assert!(text.starts_with("HTTP/1.1 408"), "a 408 answer, then close: {text}");
    assert!(text.contains("request_timeout"), "machine-readable code: {text}");
    let first_admin = app.admin.clone();
    app.stop().await;

    // With 10 s the same request is still waiting for its body after 2 s.
    let app = app_with(|s| s.http_body_timeout_secs = 10).await;
    let mut tcp = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    let head = head.replace(&first_admin, &app.admin);
    tcp.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(closed_within(&mut tcp, Duration::from_secs(2)).await, None);
    app.stop().await;
}

/// At `max_http_connections`, a new connection closes the oldest idle one:
/// idle sockets beyond the cap cannot keep `/health` out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_do_not_keep_health_out() {
    let app = app_with(|s| {
        s.max_http_connections = 20;
        s.http_header_timeout_secs = 60;
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(tokio::net::TcpStream::connect(addr(&app)).await.unwrap());
    }
    let started = Instant::now();
    let r = reqwest::Client::new().get(format!("{}/health", app.base)).timeout(Duration::from_secs(5)).send().await;
    let r = r.expect("/health answers with idle sockets beyond the cap");
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    // The oldest idle sockets were closed to make room; the newest are open.
    assert!(closed_within(&mut idle[0], Duration::from_secs(2)).await.is_some(), "the oldest idle socket is closed");
    let mut open = 0;
    for tcp in idle.iter_mut().rev().take(25) {
        if closed_within(tcp, Duration::from_millis(20)).await.is_none() {
            open += 1;
        }
    }
    assert!((15..=20).contains(&open), "about the cap of the newest stay open: {open}");
    app.stop().await;

    // Under the cap nothing is closed.
    let app = app_with(|s| s.http_header_timeout_secs = 60).await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(tokio::net::TcpStream::connect(addr(&app)).await.unwrap());
    }
    let r = reqwest::Client::new().get(format!("{}/health", app.base)).timeout(Duration::from_secs(5)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(closed_within(&mut idle[0], Duration::from_millis(500)).await, None, "default cap: the oldest stays open");
    app.stop().await;
}

/// WebSockets are not HTTP connections once upgraded: the HTTP idle and
/// header timeouts do not cut them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_outlive_the_http_idle_timeout() {
    let app = app_with(|s| {
        s.http_idle_timeout_secs = 1;
        s.http_header_timeout_secs = 1;
    })
    .await;
    let url = format!("{}/app/saluran-key?protocol=7&client=test&version=1", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws connect");
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("pusher:connection_established"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ws.send(tokio_tungstenite::tungstenite::Message::text(r#"{"event":"pusher:ping","data":{}}"#)).await.unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("an answer").expect("open").expect("frame");
    assert!(pong.to_text().unwrap().contains("pusher:pong"), "{pong:?}");
    app.stop().await;
}

/// The text without its terminal colour codes (`ESC [ ... m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The process has 512 descriptors and 600 sockets sit idle on it: the
/// accept loop survives EMFILE, closes idle connections to make room, and
/// `/health` answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_with_600_idle_sockets_and_512_descriptors() {
    let url = saluran::testing::fresh_sqlite_url();
    let port = free_port();
    let bin = env!("CARGO_BIN_EXE_saluran");
    let mut sh = Command::new("sh");
    sh.args(["-c", &format!("ulimit -n 512 && exec {bin} serve --listen 127.0.0.1:{port} --database-url {url}")]);
    for (k, _) in std::env::vars() {
        if k.starts_with("SALURAN_") && !k.starts_with("SALURAN_TEST_") {
            sh.env_remove(k);
        }
    }
    let log = std::env::temp_dir().join(format!("saluran-serve-{port}.log"));
    // With Redis, /health opens a new connection to it: an outbound call
    // that needs a descriptor of its own.
    let redis = std::env::var("SALURAN_TEST_REDIS_URL").ok().filter(|u| !u.is_empty());
    if let Some(url) = &redis {
        sh.env("REDIS_URL", url).env("SALURAN_BACKPLANE_CHANNEL", format!("saluran-test-{port}"));
    }
    let mut child = Proc(sh.env("SALURAN_CHANNELS_ENABLED", "false").stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap());
    assert!(wait_up(&mut child.0, port));
    let mut idle = Vec::new();
    for _ in 0..600 {
        idle.push(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The cap is clamped below the descriptor limit: descriptors stay free
    // for the database, Redis and OTA calls (not all taken by idle sockets).
    let open = std::fs::read_dir(format!("/proc/{}/fd", child.0.id())).unwrap().count();
    eprintln!("descriptors open with 600 idle sockets and a limit of 512: {open}");
    assert!(open <= 512 - 64, "at least 64 descriptors free: {open} open");
    let logged = strip_ansi(&std::fs::read_to_string(&log).unwrap());
    assert!(logged.contains("max_http_connections=384"), "the effective cap (512 - 128) is logged: {logged}");

    let started = Instant::now();
    let r = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/health")).timeout(Duration::from_secs(5)).send().await;
    let took = started.elapsed();
    let r = r.unwrap_or_else(|e| panic!("/health did not answer in {took:?}: {e}"));
    assert_eq!(r.status(), 200);
    let _ = std::fs::remove_file(&log);
    let health: serde_json::Value = r.json().await.unwrap();
    if redis.is_some() {
        assert_eq!(health["checks"]["redis"], "ok", "the outbound Redis check gets a descriptor: {health}");
    } else {
        eprintln!("SALURAN_TEST_REDIS_URL unset: the outbound Redis check is not exercised");
    }
    eprintln!("/health with 600 idle sockets, 512 descriptors: {took:?}");
    drop(idle);
    stop(child);
}

// ---- The accept loop under hostile clients (issue 8 follow-up) ----

use axum::routing::{get, post};
use saluran::config::Settings;
use saluran::server::Limits;

/// `saluran::server::serve` with `router` and the limits of `f(settings)`;
/// returns its address, the shutdown trigger and the serve task.
async fn serve_router(
    router: axum::Router,
    f: impl FnOnce(&mut Settings),
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let mut s = Settings::default();
    f(&mut s);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(saluran::server::serve(listener, router, Limits::from_settings(&s), async move {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

const BIG: usize = 8 << 20;

/// `/big`: `len` bytes in one piece; `/stream`: `len` bytes in 64 KiB
/// chunks (the server holds the request in flight until the last is taken);
/// `/small`: "ok".
fn big_router(len: usize) -> axum::Router {
    axum::Router::new()
        .route("/big", get(move || async move { vec![b'x'; len] }))
        .route(
            "/stream",
            get(move || async move {
                let chunks = (0..len.div_ceil(65536)).map(move |i| Ok::<_, std::io::Error>(vec![b'x'; 65536.min(len - i * 65536)]));
                axum::body::Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route("/small", get(|| async { "ok" }))
}

/// A client with a tiny receive window that sends `GET /big` and reads
/// nothing yet.
async fn stalled_client(addr: std::net::SocketAddr, path: &str) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut tcp = sock.connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    tcp
}

/// Reads until the server closes (or 10 s pass); returns the bytes read
/// and whether the connection ended.
async fn read_to_close(tcp: &mut tokio::net::TcpStream) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(until.into(), tcp.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// The body of an HTTP/1.1 answer with a Content-Length, and that length.
fn body_of(raw: &[u8]) -> (usize, usize) {
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
    let len =
        head.lines().find_map(|l| l.strip_prefix("content-length: ").map(|v| v.trim().parse::<usize>().unwrap())).expect("content-length");
    (raw.len() - at - 4, len)
}

/// A client that stops reading a multi-MB answer is closed after
/// `http_write_timeout_secs` of no progress; with a longer timeout the same
/// client, reading late, still gets the whole answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_after_the_write_timeout() {
    let (addr, stop_tx, task) = serve_router(big_router(BIG), |s| s.http_write_timeout_secs = 1).await;
    let mut tcp = stalled_client(addr, "/big").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (got, closed) = read_to_close(&mut tcp).await;
    eprintln!("write timeout 1 s: the client that read nothing for 3 s got {} of {BIG} bytes, then the close", got.len());
    assert!(closed, "closed");
    assert!(got.len() < BIG, "cut before the end of the answer: {} bytes", got.len());
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await.expect("serve stops");

    let (addr, stop_tx, task) = serve_router(big_router(BIG), |s| s.http_write_timeout_secs = 10).await;
    let mut tcp = stalled_client(addr, "/big").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while got.windows(4).position(|w| w == b"\r\n\r\n").is_none_or(|_| {
        let (have, want) = body_of(&got);
        have < want
    }) {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "10 s write timeout: not cut after 3 s ({} bytes)", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(body_of(&got), (BIG, BIG));
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), task).await.expect("serve stops");
}

/// Shutdown completes while a client holds a response it does not read:
/// the drain gives up after `http_shutdown_grace_secs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_completes_while_a_client_never_reads() {
    for (grace, stops_within_3s) in [(1, true), (10, false)] {
        let (addr, stop_tx, task) = serve_router(big_router(BIG), |s| {
            s.http_write_timeout_secs = 60;
            s.http_shutdown_grace_secs = grace;
        })
        .await;
        let _tcp = stalled_client(addr, "/stream").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let _ = stop_tx.send(());
        let r = tokio::time::timeout(Duration::from_secs(3), task).await;
        eprintln!("grace {grace} s, one client not reading: serve returned: {} after {:?}", r.is_ok(), started.elapsed());
        assert_eq!(r.is_ok(), stops_within_3s, "grace {grace} s: stopped after {:?}", started.elapsed());
    }
}

/// Evicting an "idle" connection to make room does not cut the answer it is
/// still sending: A reads a large answer slowly (the server has produced all
/// of it, most is not sent yet) while B takes the only slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicting_a_connection_finishes_its_answer() {
    let (addr, stop_tx, task) = serve_router(big_router(BIG), |s| s.max_http_connections = 1).await;
    let mut a = stalled_client(addr, "/big").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut b = tokio::net::TcpStream::connect(addr).await.unwrap();
    b.write_all(b"GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A reads slowly.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), a.read(&mut buf)).await.expect("A gets data or a close") {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if got.len() % 16 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert_eq!(body_of(&got), (BIG, BIG), "A's answer arrives whole");
    let (answer, closed) = read_to_close(&mut b).await;
    assert!(closed && answer.starts_with(b"HTTP/1.1 200"), "B is served: {}", String::from_utf8_lossy(&answer));
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await.expect("serve stops");
}

/// The body timeout counts from the handler's first read, not from the
/// head: a request queued behind the concurrency limit for longer than the
/// body timeout, whose body arrives soon after the handler starts reading,
/// is read in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_queued_behind_the_concurrency_limit_is_not_body_time() {
    let router = axum::Router::new()
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "slow"
            }),
        )
        .route(
            "/echo",
            post(|body: axum::body::Body| async move {
                match axum::body::to_bytes(body, usize::MAX).await {
                    Ok(b) => (axum::http::StatusCode::OK, String::from_utf8_lossy(&b).into_owned()),
                    Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                }
            }),
        )
        // One permit shared by every route (ConcurrencyLimitLayer gives each
        // route its own semaphore when applied with Router::layer).
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(1));
    let (addr, stop_tx, task) = serve_router(router, |s| s.http_body_timeout_secs = 2).await;
    let slow = tokio::spawn(reqwest::Client::new().post(format!("http://{addr}/slow")).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\nhello").await.unwrap();
    // Queued ~2.8 s (longer than the body timeout); the rest comes ~0.7 s
    // after the handler starts reading.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    tcp.write_all(b"world").await.unwrap();
    let (answer, _) = read_to_close(&mut tcp).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("helloworld"), "{answer}");
    assert_eq!(slow.await.unwrap().unwrap().status(), 200);
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await.expect("serve stops");
}

/// The value of an unlabelled gauge in the process's Prometheus text.
fn gauge(name: &str) -> f64 {
    let text = saluran::telemetry::prometheus().render();
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} ")).map(|v| v.trim().parse::<f64>().unwrap())).unwrap_or(0.0)
}

/// A handler that panics takes its connection down, but not its slot: the
/// connection gauge (and the registry entry, released by the same guard)
/// goes back down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_releases_its_connection_slot() {
    let _ = saluran::telemetry::prometheus();
    let router = axum::Router::new().route(
        "/panic",
        get(|| async {
            if std::hint::black_box(true) {
                panic!("a handler bug");
            }
            "unreachable"
        }),
    );
    let (addr, stop_tx, task) = serve_router(router, |s| s.max_http_connections = 1).await;
    let before = gauge("saluran_http_connections");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (_, closed) = read_to_close(&mut tcp).await;
    assert!(closed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gauge("saluran_http_connections"), before, "the gauge is released");
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await.expect("serve stops");
}

/// Sends `head` plus part of a body, then (if `hang_up`) closes its write
/// side; returns the answer read until close.
async fn partial_body(app: &TestApp, idempotency_key: Option<&str>, hang_up: bool) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr(app)).await.unwrap();
    let key = idempotency_key.map(|k| format!("Idempotency-Key: {k}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /api/v1/properties HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n{key}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"code\":",
        app.admin
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    if hang_up {
        tcp.shutdown().await.unwrap();
    }
    let (got, closed) = read_to_close(&mut tcp).await;
    assert!(closed);
    String::from_utf8_lossy(&got).into_owned()
}

/// A body that times out is 408 `request_timeout` and one the client cut
/// off is 400 `body_incomplete`, on the plain and the Idempotency-Key path
/// (which reported both as 413 "too large"); too large stays 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_body_read_says_why() {
    let app = app_with(|s| s.http_body_timeout_secs = 1).await;
    for key in [None, Some("k-timeout")] {
        let text = partial_body(&app, key, false).await;
        assert!(text.starts_with("HTTP/1.1 408") && text.contains("\"request_timeout\""), "{key:?}: {text}");
    }
    for key in [None, Some("k-hung-up")] {
        let text = partial_body(&app, key, true).await;
        assert!(text.starts_with("HTTP/1.1 400") && text.contains("\"body_incomplete\""), "{key:?}: {text}");
    }
    for key in ["k-big-1", "k-big-2"] {
        let mut req = app.client.post(format!("{}/api/v1/properties", app.base)).bearer_auth(&app.admin);
        if key == "k-big-2" {
            req = req.header("Idempotency-Key", key);
        }
        let r = req.header("content-type", "application/json").body(vec![b' '; 2 << 20]).send().await.unwrap();
        assert_eq!(r.status(), 413, "{key}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large");
    }
    app.stop().await;
}
