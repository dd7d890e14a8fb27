//! `ws-load`: a Pusher-protocol load generator. It opens N WebSocket clients
//! subscribed to one public channel, triggers events through the signed HTTP
//! events API at a fixed rate, and reports, per event, when the LAST client
//! received it (publish → delivered to everyone), plus the server's resident
//! memory per idle connection. It speaks plain Pusher v7, so it can be
//! pointed at any Pusher-compatible server. Loopback only; bounded in time.
//!
//! ```sh
//! ws-load --base http://127.0.0.1:8080 --key saluran-key --app-id saluran \
//!   --secret change-me-saluran-secret --clients 10000 --rate 100 --duration 20 --server-pid $PID
//! ```

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug)]
#[command(name = "ws-load", about = "Pusher-protocol fan-out load test: publish -> delivered to the last client")]
struct Opts {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    #[arg(long, default_value = "saluran-key")]
    key: String,
    #[arg(long, default_value = "saluran")]
    app_id: String,
    #[arg(long, env = "SALURAN_PUSHER_SECRET", default_value = "change-me-saluran-secret")]
    secret: String,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    #[arg(long, default_value = "bench")]
    channel: String,
    /// Events per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Connections opened at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Measure this process's resident memory (the server).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Payload padding in bytes (event size).
    #[arg(long, default_value_t = 64)]
    padding: usize,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn loopback(base: &str) -> bool {
    let rest = base.strip_prefix("http://").unwrap_or("");
    rest.starts_with("127.") || rest.starts_with("localhost") || rest.starts_with("[::1]")
}

struct Shared {
    start: Instant,
    /// Microseconds since `start` at which event i was sent (0 = not yet).
    sent_at: Vec<AtomicU64>,
    /// Latest arrival (µs since start) of event i over all clients.
    last_arrival: Vec<AtomicU64>,
    receivers: Vec<AtomicU32>,
    subscribed: AtomicUsize,
    failed: AtomicUsize,
    closed: AtomicUsize,
}

async fn client(
    url: String,
    channel: String,
    shared: Arc<Shared>,
    stop: tokio_util::sync::CancellationToken,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    // The permit bounds connections being opened at once; it goes once this
    // client has subscribed (or failed).
    let mut permit = Some(permit);
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let sub = format!("{{\"event\":\"pusher:subscribe\",\"data\":{{\"channel\":\"{channel}\"}}}}");
    if ws.send(Message::Text(sub.into())).await.is_err() {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // Subscribe through the WebSocket layer, then read the raw socket: the
    // server's frames are unmasked text, so finding each event's index in the
    // byte stream is enough, and keeps 10,000 readers cheap on the two cores
    // the server also needs.
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Text(t))) if t.as_str().contains("subscription_succeeded") => break,
            Some(Ok(_)) => continue,
            _ => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    shared.subscribed.fetch_add(1, Ordering::Relaxed);
    permit.take();
    let mut raw = match ws.into_inner() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
        _ => return,
    };
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 16 * 1024];
    // Bytes of a frame that a read cut in two: at most one short tail, kept
    // in a buffer that is reused (no allocation per read).
    let mut carry: Vec<u8> = Vec::with_capacity(16 * 1024 + 64);
    let pattern = memchr::memmem::Finder::new(br#"\"i\":"#);
    loop {
        let n = tokio::select! {
            _ = stop.cancelled() => return,
            r = raw.read(&mut buf) => match r { Ok(0) | Err(_) => { shared.closed.fetch_add(1, Ordering::Relaxed); return; } Ok(n) => n },
        };
        let now = shared.start.elapsed().as_micros() as u64;
        carry.extend_from_slice(&buf[..n]);
        let mut from = 0;
        while let Some(pos) = pattern.find(&carry[from..]) {
            let start = from + pos + pattern.needle().len();
            let digits = carry[start..].iter().take_while(|b| b.is_ascii_digit()).count();
            if start + digits >= carry.len() {
                // The number may continue in the next read.
                break;
            }
            if let Some(i) = parse_index(&carry[start..start + digits]) {
                if let (Some(last), Some(n)) = (shared.last_arrival.get(i), shared.receivers.get(i)) {
                    last.fetch_max(now, Ordering::Relaxed);
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }
            from = start + digits;
        }
        // Keep only a tail that could hold the start of a split pattern.
        let keep = carry.len().saturating_sub(from).min(32);
        carry.drain(..carry.len() - keep);
    }
}

fn parse_index(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    Some(digits.iter().fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0')))
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = Opts::parse();
    if !loopback(&o.base) {
        anyhow::bail!("refusing a non-loopback target: {}", o.base);
    }
    let events = ((o.rate * o.duration as f64).ceil() as usize).clamp(1, 1_000_000);
    let shared = Arc::new(Shared {
        start: Instant::now(),
        sent_at: (0..events).map(|_| AtomicU64::new(0)).collect(),
        last_arrival: (0..events).map(|_| AtomicU64::new(0)).collect(),
        receivers: (0..events).map(|_| AtomicU32::new(0)).collect(),
        subscribed: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
    });
    let rss_before = o.server_pid.and_then(rss_kib);
    let ws_url = format!("{}/app/{}?protocol=7&client=ws-load&version=1", o.base.replacen("http://", "ws://", 1), o.key);
    let stop = tokio_util::sync::CancellationToken::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(o.connect_concurrency.max(1)));
    let mut tasks = Vec::with_capacity(o.clients);
    let connect_started = Instant::now();
    for _ in 0..o.clients {
        let permit = gate.clone().acquire_owned().await?;
        let (url, channel, shared, stop) = (ws_url.clone(), o.channel.clone(), shared.clone(), stop.clone());
        tasks.push(tokio::spawn(client(url, channel, shared, stop, permit)));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.subscribed.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) < o.clients && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connected = shared.subscribed.load(Ordering::Relaxed);
    println!(
        "connected and subscribed: {connected}/{} in {:.1}s (failed {})",
        o.clients,
        connect_started.elapsed().as_secs_f64(),
        shared.failed.load(Ordering::Relaxed)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = o.server_pid.and_then(rss_kib);
    let per_conn = match (rss_before, rss_idle) {
        (Some(a), Some(b)) if connected > 0 => Some(((b.saturating_sub(a)) as f64 * 1024.0) / connected as f64),
        _ => None,
    };
    if let Some(p) = per_conn {
        println!(
            "server RSS: {} KiB before, {} KiB with {connected} idle connections → {:.1} KiB per idle connection",
            rss_before.unwrap_or(0),
            rss_idle.unwrap_or(0),
            p / 1024.0
        );
    }

    // Publish at a fixed rate through the signed events API.
    let http = reqwest::Client::new();
    let path = format!("/apps/{}/events", o.app_id);
    let period = Duration::from_secs_f64(1.0 / o.rate.max(0.001));
    let pad = "x".repeat(o.padding);
    let publish_started = Instant::now();
    let server_pid = o.server_pid.map(|p| p.to_string());
    let cpu_before = (server_pid.as_deref().and_then(cpu_seconds), cpu_seconds("self"));
    let mut publish_errors = 0usize;
    for i in 0..events {
        let due = publish_started + period * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let data = serde_json::json!({"i": i, "pad": pad}).to_string();
        let body = serde_json::json!({"name": "bench", "channels": [o.channel], "data": data}).to_string();
        let ts = jiff::Timestamp::now().as_second();
        let query = saluran_ws::sign_api_query(&o.key, &o.secret, "POST", &path, &[], body.as_bytes(), ts);
        shared.sent_at[i].store(shared.start.elapsed().as_micros() as u64, Ordering::Relaxed);
        let r = http.post(format!("{}{path}?{query}", o.base)).header("content-type", "application/json").body(body).send().await;
        if !r.map(|r| r.status().is_success()).unwrap_or(false) {
            publish_errors += 1;
        }
    }
    let publish_secs = publish_started.elapsed().as_secs_f64();
    let cpu_after = (server_pid.as_deref().and_then(cpu_seconds), cpu_seconds("self"));
    // Cores used while publishing: the server's and this generator's own,
    // so a result can be read against what the load itself cost.
    let cores = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a) / publish_secs);
    let server_cores = cores(cpu_before.0, cpu_after.0);
    let generator_cores = cores(cpu_before.1, cpu_after.1);
    // Let the last events arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.cancel();
    let rss_end = o.server_pid.and_then(rss_kib);

    let mut last = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut complete = 0usize;
    for i in 0..events {
        let sent = shared.sent_at[i].load(Ordering::Relaxed);
        let got = shared.receivers[i].load(Ordering::Relaxed) as usize;
        let arrival = shared.last_arrival[i].load(Ordering::Relaxed);
        if sent > 0 && got > 0 {
            let _ = last.record(arrival.saturating_sub(sent).max(1));
        }
        if got >= connected {
            complete += 1;
        }
    }
    let ms = |v: u64| v as f64 / 1000.0;
    println!("events published: {events} at {:.0}/s (errors {publish_errors}); reached every client: {complete}/{events}", o.rate);
    println!(
        "publish → delivered to the last client (ms): p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}",
        ms(last.value_at_quantile(0.5)),
        ms(last.value_at_quantile(0.9)),
        ms(last.value_at_quantile(0.99)),
        ms(last.value_at_quantile(0.999)),
        ms(last.max())
    );
    println!("clients closed by the server during the run: {}", shared.closed.load(Ordering::Relaxed));
    let fmt_cores = |c: Option<f64>| c.map_or("n/a".to_string(), |c| format!("{c:.2}"));
    println!("cores used while publishing: server {} · load generator {}", fmt_cores(server_cores), fmt_cores(generator_cores));
    let result = serde_json::json!({
        "scenario": "ws-fanout", "clients": o.clients, "subscribed": connected, "rate": o.rate, "events": events,
        "complete_events": complete, "publish_errors": publish_errors,
        "last_client_ms": {"p50": ms(last.value_at_quantile(0.5)), "p90": ms(last.value_at_quantile(0.9)), "p99": ms(last.value_at_quantile(0.99)), "max": ms(last.max())},
        "server_rss_kib": {"before": rss_before, "idle": rss_idle, "end": rss_end},
        "bytes_per_idle_connection": per_conn,
        "cores_while_publishing": {"server": server_cores, "load_generator": generator_cores},
    });
    println!("RESULT {result}");
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    Ok(())
}
