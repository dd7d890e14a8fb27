//! The `saluran-sim` binary prints its URL and serves until SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn binary_prints_its_url_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saluran-sim"))
        .args([
            "--profile",
            "jsonrest",
            "--listen",
            "127.0.0.1:0",
            "--hotel-code",
            "H9",
            "--username",
            "u",
            "--password",
            "p",
            "--rpm",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn saluran-sim");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(20), line).await.expect("URL printed in time").expect("join").expect("read");
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let info: serde_json::Value = client.get(format!("{url}/_sim/info")).send().await.expect("info").json().await.expect("json");
    assert_eq!(info["profile"], "jsonrest");
    assert_eq!(info["hotel_code"], "H9");
    assert_eq!(info["requests_per_minute"], 60);
    let r = client.post(format!("{url}/api/ari")).header("X-Api-Key", "nope").body("{}").send().await.expect("send");
    assert_eq!(r.status(), 401);

    // SIGTERM (by pid) stops it.
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "{status:?}");
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("saluran-sim did not stop on SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
