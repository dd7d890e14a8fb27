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
            .env("SALURAN_PUSHER_SECRET", "a-secret-of-our-own-0123456789")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_up(&mut child.0, port), "serve on 0.0.0.0 starts with its own secret");
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
