//! A deliberately small HTTP/1.1 client: one hyper connection per worker,
//! kept alive, no pool, no redirects, no TLS. The machine running the load is
//! the machine running the server, so every cycle the client saves is a cycle
//! the server gets.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Where the load goes. Only loopback addresses are accepted.
pub struct Target {
    /// The `--base` as given, for reports.
    pub base: String,
    addrs: Vec<SocketAddr>,
    host: HeaderValue,
    auth: HeaderValue,
    /// Path prefix of `--base` (usually empty), without a trailing slash.
    prefix: String,
    /// Upper bound for one request, connect included.
    pub timeout: Duration,
    /// TCP connections opened so far (all workers).
    pub connects: AtomicU64,
}

/// The parts of a `--base` URL, once it has been checked to be loopback.
#[derive(Debug, PartialEq, Eq)]
pub struct Base {
    pub host: String,
    pub port: u16,
    pub prefix: String,
}

/// Parses `--base` and refuses anything that is not plain HTTP to
/// 127.0.0.1, localhost or [::1].
pub fn parse_base(base: &str) -> Result<Base> {
    let uri: Uri = base.parse().with_context(|| format!("--base {base:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(s) => bail!("--base: only plain http:// is supported (got {s}://)"),
        None => bail!("--base needs a scheme, e.g. http://127.0.0.1:8080"),
    }
    let host = uri.host().ok_or_else(|| anyhow!("--base has no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if !matches!(bare.as_str(), "127.0.0.1" | "localhost" | "::1") {
        bail!("refusing --base {base}: this tool only targets loopback (127.0.0.1, localhost or [::1])");
    }
    if uri.query().is_some() {
        bail!("--base must not carry a query string");
    }
    let port = uri.port_u16().unwrap_or(80);
    let prefix = uri.path().trim_end_matches('/').to_string();
    let host = if bare.contains(':') { format!("[{bare}]") } else { bare };
    Ok(Base { host, port, prefix })
}

impl Target {
    pub async fn new(base: &str, token: &str, timeout: Duration) -> Result<Arc<Target>> {
        let b = parse_base(base)?;
        let bare = b.host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, b.port)],
            Err(_) => tokio::net::lookup_host((bare, b.port)).await.with_context(|| format!("resolving {bare}"))?.collect(),
        };
        // Belt and braces: whatever `localhost` resolves to must be loopback.
        let addrs: Vec<SocketAddr> = addrs.into_iter().filter(|a| a.ip().is_loopback()).collect();
        if addrs.is_empty() {
            bail!("{} does not resolve to a loopback address", b.host);
        }
        if token.trim().is_empty() {
            bail!("--token (or SALURAN_TOKEN) is empty");
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .context("the token contains characters that cannot go in a header")?;
        auth.set_sensitive(true);
        let host = HeaderValue::from_str(&format!("{}:{}", b.host, b.port))?;
        Ok(Arc::new(Target { base: base.to_string(), addrs, host, auth, prefix: b.prefix, timeout, connects: AtomicU64::new(0) }))
    }

    /// The request target for an absolute API path (`/api/v1/...`).
    pub fn uri(&self, path: &str) -> Uri {
        let s =
            if self.prefix.is_empty() { Bytes::copy_from_slice(path.as_bytes()) } else { Bytes::from(format!("{}{}", self.prefix, path)) };
        // Paths are built by this crate from codes and dates: always valid.
        Uri::from_maybe_shared(s).expect("valid request path")
    }
}

/// Per-request headers that replace the target's defaults.
#[derive(Clone)]
pub struct Headers {
    pub authorization: HeaderValue,
    pub content_type: HeaderValue,
}

impl Headers {
    /// HTTP Basic credentials and a content type.
    pub fn basic(user: &str, password: &str, content_type: &'static str) -> Headers {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut authorization = HeaderValue::from_str(&format!("Basic {token}")).expect("base64 is a valid header value");
        authorization.set_sensitive(true);
        Headers { authorization, content_type: HeaderValue::from_static(content_type) }
    }
}

/// A response, fully read (so the connection can be reused).
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    /// The body as text, cut short, for error messages.
    pub fn snippet(&self) -> String {
        let s = String::from_utf8_lossy(&self.body);
        let mut s: String = s.chars().take(300).collect();
        if self.body.len() > 300 {
            s.push('…');
        }
        s
    }
}

/// Why a request got no HTTP response.
#[derive(Debug)]
pub enum Failure {
    Timeout,
    Connect(String),
    Transport(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => write!(f, "timed out"),
            Failure::Connect(e) => write!(f, "connect failed: {e}"),
            Failure::Transport(e) => write!(f, "transport error: {e}"),
        }
    }
}

impl std::error::Error for Failure {}

/// One keep-alive connection, reopened on demand.
pub struct Conn {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Conn {
        Conn { target, sender: None }
    }

    pub fn is_open(&self) -> bool {
        self.sender.as_ref().is_some_and(|s| !s.is_closed())
    }

    async fn connect(&mut self) -> Result<(), Failure> {
        let mut last = String::from("no address");
        for addr in &self.target.addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| Failure::Connect(e.to_string()))?;
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    self.target.connects.fetch_add(1, Ordering::Relaxed);
                    self.sender = Some(sender);
                    return Ok(());
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(Failure::Connect(last))
    }

    /// Sends one request (JSON body if any) and reads the whole response,
    /// within the target's timeout. On any failure the connection is dropped
    /// and the next call opens a new one; nothing is retried here.
    pub async fn send(&mut self, method: Method, uri: Uri, body: Option<Bytes>) -> Result<Reply, Failure> {
        self.send_with(method, uri, body, None).await
    }

    /// Like [`Conn::send`], with the request's own `Authorization` and
    /// `Content-Type` (e.g. HTTP Basic and XML for an OTA webhook) instead of
    /// the bearer token and JSON.
    pub async fn send_with(&mut self, method: Method, uri: Uri, body: Option<Bytes>, headers: Option<&Headers>) -> Result<Reply, Failure> {
        let r = match tokio::time::timeout(self.target.timeout, self.send_inner(method, uri, body, headers)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        };
        if r.is_err() {
            self.sender = None;
        }
        r
    }

    async fn send_inner(&mut self, method: Method, uri: Uri, body: Option<Bytes>, headers: Option<&Headers>) -> Result<Reply, Failure> {
        if let Some(s) = self.sender.as_mut() {
            if s.is_closed() || s.ready().await.is_err() {
                self.sender = None;
            }
        }
        if self.sender.is_none() {
            self.connect().await?;
        }
        let sender = self.sender.as_mut().expect("connected");
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, self.target.host.clone())
            .header(AUTHORIZATION, headers.map_or_else(|| self.target.auth.clone(), |h| h.authorization.clone()));
        let body = match body {
            Some(b) => {
                let ctype = headers.map_or_else(|| HeaderValue::from_static("application/json"), |h| h.content_type.clone());
                req = req.header(CONTENT_TYPE, ctype);
                Full::new(b)
            }
            None => Full::new(Bytes::new()),
        };
        let req = req.body(body).map_err(|e| Failure::Transport(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(|e| Failure::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(|e| Failure::Transport(e.to_string()))?.to_bytes();
        Ok(Reply { status, body })
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply, Failure> {
        let uri = self.target.uri(path);
        self.send(Method::GET, uri, None).await
    }

    pub async fn post_json(&mut self, path: &str, body: &serde_json::Value) -> Result<Reply, Failure> {
        let uri = self.target.uri(path);
        let body = Bytes::from(serde_json::to_vec(body).expect("JSON"));
        self.send(Method::POST, uri, Some(body)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_bases_are_accepted() {
        let b = parse_base("http://127.0.0.1:8080").unwrap();
        assert_eq!(b, Base { host: "127.0.0.1".into(), port: 8080, prefix: String::new() });
        let b = parse_base("http://localhost:3000/").unwrap();
        assert_eq!(b.host, "localhost");
        assert_eq!(b.prefix, "");
        let b = parse_base("http://[::1]:9000/saluran/").unwrap();
        assert_eq!(b, Base { host: "[::1]".into(), port: 9000, prefix: "/saluran".into() });
        assert_eq!(parse_base("http://LOCALHOST").unwrap().port, 80);
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "http://10.0.0.1:8080",
            "http://127.0.0.2:8080",
            "http://example.com",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com:80",
            "https://127.0.0.1:8443",
            "127.0.0.1:8080",
            "http://0.0.0.0:8080",
            "http://127.0.0.1:8080/?x=1",
        ] {
            assert!(parse_base(bad).is_err(), "{bad} should be refused");
        }
    }

    #[tokio::test]
    async fn target_builds_paths_with_prefix() {
        let t = Target::new("http://127.0.0.1:1/p/", "tok", Duration::from_secs(1)).await.unwrap();
        assert_eq!(t.uri("/health").to_string(), "/p/health");
        let t = Target::new("http://127.0.0.1:1", "tok", Duration::from_secs(1)).await.unwrap();
        assert_eq!(t.uri("/api/v1/x?a=b").to_string(), "/api/v1/x?a=b");
        assert!(Target::new("http://127.0.0.1:1", " ", Duration::from_secs(1)).await.is_err());
    }

    #[tokio::test]
    async fn round_trip_against_a_tiny_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut seen = Vec::new();
            // Two requests on the same connection (keep-alive).
            for _ in 0..2 {
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&seen).to_string();
                assert!(head.contains("authorization: Bearer tok"), "{head}");
                seen.clear();
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
            }
        });
        let t = Target::new(&format!("http://127.0.0.1:{port}"), "tok", Duration::from_secs(5)).await.unwrap();
        let mut c = Conn::new(t.clone());
        for _ in 0..2 {
            let r = c.get("/health").await.unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(&r.body[..], b"ok");
        }
        assert_eq!(t.connects.load(Ordering::Relaxed), 1);
    }
}
