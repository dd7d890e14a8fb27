//! Cross-node fan-out of real-time events over Redis pub/sub (DESIGN §4):
//! several saluran nodes behind a load balancer, a WebSocket client on any
//! of them sees the events published on every one.
//!
//! - **Out.** Every event this node publishes to its own hub (committed
//!   domain events, and events accepted by the Pusher HTTP events API) is
//!   [`Backplane::offer`]ed: put on a bounded queue that one task drains,
//!   `PUBLISH`ing a small JSON [`Envelope`] per event. The caller (an actor,
//!   a request) never waits on Redis: when the queue is full the event is
//!   dropped and counted (`saluran_backplane_dropped_total`).
//! - **In.** One task holds a subscription, ignores its own node's
//!   envelopes and publishes the others into the local hub with
//!   [`saluran_ws::RealtimeHub::publish_relayed`], which never offers them
//!   back: a relay loop is impossible.
//! - **Faults.** Redis errors make either task reconnect with exponential
//!   backoff (resubscribing); what is published meanwhile is lost to the
//!   other nodes. Correctness never depends on this: every relayed event
//!   gets the receiving node's own stream position (per-node epoch), and a
//!   client that missed something recovers or resyncs (I5) from the node
//!   it is connected to.

use backon::{ExponentialBuilder, Retryable};
use futures_util::StreamExt;
use saluran_ws::{EventRelay, RealtimeHub, RelayEvent};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The Redis pub/sub channel by default; `v1` is the envelope's version.
pub const DEFAULT_CHANNEL: &str = "saluran:hub:v1";

/// Connect, subscribe, publish and ping each get this long.
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// A subscription that is silent this long is pinged, so a dead TCP
/// connection (no RST) is noticed and replaced.
const PING_EVERY: Duration = Duration::from_secs(15);

/// What travels over Redis: one published event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The publishing process (random per [`Backplane`]): a node ignores its own.
    pub node: String,
    pub channel: String,
    pub event: String,
    /// Already encoded, as it goes on the wire.
    pub data: String,
    /// Pusher's `socket_id` parameter: the connection (on whichever node)
    /// that must not receive it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except_socket_id: Option<String>,
}

/// An event waiting to be published (the envelope without the node id,
/// added by the publisher task so queueing copies as little as possible).
#[derive(Debug)]
struct Outgoing {
    channel: String,
    event: String,
    data: String,
    except_socket_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BackplaneConfig {
    /// The Redis pub/sub channel every node of one deployment shares.
    pub channel: String,
    /// Events waiting to be published at most; more are dropped.
    pub queue: usize,
}

/// The subscription's state, for `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Not subscribed yet, and no attempt has failed.
    Connecting,
    Subscribed,
    /// The last attempt failed or the subscription was lost; retrying.
    Down,
}

#[derive(Debug, Default)]
struct Stats {
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    link: AtomicU8,
}

impl Stats {
    fn set_link(&self, link: Link) {
        let v = match link {
            Link::Connecting => 0,
            Link::Subscribed => 1,
            Link::Down => 2,
        };
        self.link.store(v, Ordering::Relaxed);
        metrics::gauge!("saluran_backplane_subscribed").set(if link == Link::Subscribed { 1.0 } else { 0.0 });
    }

    fn link(&self) -> Link {
        match self.link.load(Ordering::Relaxed) {
            0 => Link::Connecting,
            1 => Link::Subscribed,
            _ => Link::Down,
        }
    }

    fn dropped(&self, reason: &'static str) {
        self.dropped_many(reason, 1);
    }

    fn dropped_many(&self, reason: &'static str, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("saluran_backplane_dropped_total", "reason" => reason).increment(n);
    }
}

/// Counters since start (also exported as Prometheus metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackplaneStats {
    /// Envelopes this node published to Redis.
    pub published: u64,
    /// Envelopes from other nodes published into the local hub.
    pub received: u64,
    /// Events not published to Redis (queue full, Redis error).
    pub dropped: u64,
}

/// The node's end of the backplane. Cheap to clone; the tasks stop when
/// the last clone is dropped or on [`Backplane::stop`].
#[derive(Clone)]
pub struct Backplane {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    tx: mpsc::Sender<Outgoing>,
    stats: Arc<Stats>,
    tasks: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().drain(..) {
            t.abort();
        }
    }
}

impl Backplane {
    /// Starts the publisher and subscriber tasks (on the current Tokio
    /// runtime). Never fails and never waits for Redis: both tasks connect
    /// in the background and keep retrying.
    pub fn start(client: redis::Client, config: BackplaneConfig, hub: RealtimeHub) -> Backplane {
        let (backplane, rx) = Backplane::unstarted(config.queue);
        let stats = backplane.inner.stats.clone();
        let node = backplane.inner.node.clone();
        let publisher = tokio::spawn(publish_loop(client.clone(), config.channel.clone(), node.clone(), rx, stats.clone()));
        let subscriber = tokio::spawn(subscribe_loop(client, config.channel, node, hub, stats));
        backplane.inner.tasks.lock().extend([publisher, subscriber]);
        tracing::info!(node = %backplane.inner.node, "real-time backplane starting");
        backplane
    }

    /// A backplane whose queue nobody drains yet (the receiver is returned).
    fn unstarted(queue: usize) -> (Backplane, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let inner =
            Inner { node: uuid::Uuid::now_v7().simple().to_string(), tx, stats: Arc::default(), tasks: parking_lot::Mutex::default() };
        (Backplane { inner: Arc::new(inner) }, rx)
    }

    /// Queues an event (already published locally) for the other nodes.
    /// Never waits: when the queue is full the event is dropped and counted.
    pub fn offer(&self, channel: &str, event: &str, data: &str, except_socket_id: Option<&str>) {
        let out = Outgoing {
            channel: channel.to_owned(),
            event: event.to_owned(),
            data: data.to_owned(),
            except_socket_id: except_socket_id.map(str::to_owned),
        };
        match self.inner.tx.try_send(out) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.inner.stats.dropped("queue_full"),
            // Stopped (shutdown): the other nodes no longer hear from us.
            Err(mpsc::error::TrySendError::Closed(_)) => self.inner.stats.dropped("stopped"),
        }
    }

    /// This process's id on the backplane.
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    pub fn link(&self) -> Link {
        self.inner.stats.link()
    }

    pub fn stats(&self) -> BackplaneStats {
        let s = &self.inner.stats;
        BackplaneStats {
            published: s.published.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops both tasks, after giving the publisher up to `grace` to send
    /// what is queued (the last events of a draining node).
    pub async fn stop(&self, grace: Duration) {
        let tx = &self.inner.tx;
        let deadline = tokio::time::Instant::now() + grace;
        while tx.capacity() < tx.max_capacity() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for t in self.inner.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

impl EventRelay for Backplane {
    fn relay(&self, e: RelayEvent<'_>) {
        self.offer(e.channel, e.event, e.data, e.except_socket_id);
    }
}

/// Reconnection delays: 100 ms doubling to 5 s, with jitter so that nodes
/// do not reconnect in step after a Redis restart; never gives up.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
}

async fn timed<T>(what: &str, f: impl std::future::Future<Output = redis::RedisResult<T>>) -> anyhow::Result<T> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(anyhow::anyhow!("{what} timed out after {OP_TIMEOUT:?}")),
    }
}

async fn connect(client: &redis::Client) -> redis::aio::MultiplexedConnection {
    // `without_max_times`: the only way out is success (or the task's abort);
    // the outer loop only satisfies the types.
    loop {
        let attempt = || async { timed("connect", client.get_multiplexed_async_connection()).await };
        let notify = |e: &anyhow::Error, wait: Duration| {
            tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "backplane publisher cannot reach Redis");
        };
        if let Ok(c) = attempt.retry(backoff()).notify(notify).await {
            return c;
        }
    }
}

/// Events sent to Redis in one round trip at most (a pipeline of PUBLISHes).
const PUBLISH_BATCH: usize = 256;

async fn publish_loop(client: redis::Client, channel: String, node: String, mut rx: mpsc::Receiver<Outgoing>, stats: Arc<Stats>) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut batch: Vec<Outgoing> = Vec::with_capacity(PUBLISH_BATCH);
    // Whatever queued while the previous round trip was in flight goes out
    // together: one PUBLISH per round trip capped a node at ~1,800 events/s.
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        metrics::gauge!("saluran_backplane_queue").set(rx.len() as f64);
        let mut pipe = redis::pipe();
        let mut sent = 0u64;
        for out in batch.drain(..) {
            let env = Envelope {
                node: node.clone(),
                channel: out.channel,
                event: out.event,
                data: out.data,
                except_socket_id: out.except_socket_id,
            };
            match serde_json::to_string(&env) {
                Ok(payload) => {
                    pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
                    sent += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "backplane envelope not encodable");
                    stats.dropped("encode");
                }
            }
        }
        if sent == 0 {
            continue;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => conn.insert(connect(&client).await),
        };
        match timed("PUBLISH", pipe.query_async::<()>(c)).await {
            Ok(()) => {
                stats.published.fetch_add(sent, Ordering::Relaxed);
                metrics::counter!("saluran_backplane_published_total").increment(sent);
            }
            Err(e) => {
                // Pub/sub is lossy anyway: no resend (the events may be stale
                // by then), reconnect for the next ones.
                tracing::warn!(error = %e, events = sent, "backplane publish failed; reconnecting");
                stats.dropped_many("redis_error", sent);
                conn = None;
            }
        }
    }
}

async fn subscribe(client: &redis::Client, channel: &str) -> anyhow::Result<redis::aio::PubSub> {
    let mut pubsub = timed("connect", client.get_async_pubsub()).await?;
    timed("SUBSCRIBE", pubsub.subscribe(channel)).await?;
    Ok(pubsub)
}

async fn subscribe_loop(client: redis::Client, channel: String, node: String, hub: RealtimeHub, stats: Arc<Stats>) {
    loop {
        let pubsub = loop {
            let attempt = || subscribe(&client, &channel);
            let notify = |e: &anyhow::Error, wait: Duration| {
                stats.set_link(Link::Down);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "backplane cannot subscribe to Redis");
            };
            if let Ok(p) = attempt.retry(backoff()).notify(notify).await {
                break p;
            }
        };
        stats.set_link(Link::Subscribed);
        tracing::info!(%channel, "backplane subscribed");
        let (mut sink, mut stream) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset(); // the first tick would be now
        let lost = loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => {
                        ping.reset();
                        receive(msg.get_payload_bytes(), &node, &hub, &stats);
                    }
                    None => break "connection closed".to_owned(),
                },
                _ = ping.tick() => {
                    if let Err(e) = timed("PING", sink.ping::<redis::Value>()).await {
                        break e.to_string();
                    }
                }
            }
        };
        stats.set_link(Link::Down);
        tracing::warn!(reason = %lost, "backplane subscription lost; resubscribing (events published meanwhile are not relayed)");
    }
}

/// Publishes another node's envelope into the local hub (and nowhere else).
fn receive(payload: &[u8], node: &str, hub: &RealtimeHub, stats: &Stats) {
    let env: Envelope = match serde_json::from_slice(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, bytes = payload.len(), "backplane message is not an envelope; ignored");
            metrics::counter!("saluran_backplane_invalid_total").increment(1);
            return;
        }
    };
    if env.node == node {
        return;
    }
    match hub.publish_relayed(&env.channel, &env.event, &env.data, env.except_socket_id.as_deref()) {
        Ok(_) => {
            stats.received.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("saluran_backplane_received_total").increment(1);
        }
        Err(e) => {
            tracing::warn!(error = %e, from = %env.node, "backplane event refused by the hub; ignored");
            metrics::counter!("saluran_backplane_invalid_total").increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saluran_ws::HubConfig;

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (bp, mut rx) = Backplane::unstarted(2);
        for i in 0..5 {
            bp.offer("private-a", "ev", &format!("{{\"i\":{i}}}"), None);
        }
        assert_eq!(bp.stats().dropped, 3, "two fit, three are dropped");
        assert_eq!(rx.try_recv().map(|o| o.data).ok().as_deref(), Some("{\"i\":0}"), "oldest kept, in order");
        bp.offer("private-a", "ev", "{}", None);
        assert_eq!(bp.stats().dropped, 3, "room again once the publisher takes one");
        drop(rx);
        bp.offer("private-a", "ev", "{}", None);
        assert_eq!(bp.stats().dropped, 4, "a stopped publisher counts as dropped too");
    }

    #[test]
    fn own_envelopes_are_ignored_and_others_published_locally() {
        let hub = RealtimeHub::new(HubConfig::new("id", "key", "secret"));
        let stats = Stats::default();
        let env = |node: &str| Envelope {
            node: node.into(),
            channel: "private-property.X.bookings".into(),
            event: "booking.created".into(),
            data: "{\"a\":1}".into(),
            except_socket_id: None,
        };
        let mine = serde_json::to_vec(&env("me")).unwrap_or_default();
        receive(&mine, "me", &hub, &stats);
        assert_eq!(hub.position("private-property.X.bookings").offset, 0, "own event not published twice");
        let theirs = serde_json::to_vec(&env("other")).unwrap_or_default();
        receive(&theirs, "me", &hub, &stats);
        assert_eq!(hub.position("private-property.X.bookings").offset, 1);
        receive(b"not json", "me", &hub, &stats);
        let mut bad = env("other");
        bad.channel = "no spaces allowed".into();
        receive(&serde_json::to_vec(&bad).unwrap_or_default(), "me", &hub, &stats);
        assert_eq!(stats.received.load(Ordering::Relaxed), 1, "garbage is ignored, not published");
    }
}
