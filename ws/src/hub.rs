//! The hub: channel registry, presence members, per-channel history with
//! stream positions, fan-out, and connection bookkeeping.
//!
//! Ordering: every change to a channel (publish, subscribe, unsubscribe,
//! client event) happens under that channel's lock, and frames are queued on
//! the subscribers' connections under the same lock. So a subscriber sees a
//! channel's events in offset order, and a subscribe that recovers gets the
//! replay and then the live events with neither a gap nor a duplicate.

use crate::config::HubConfig;
use crate::conn::{Conn, Stats};
use crate::protocol::{self, codes, ChannelKind, RecoverFrom};
use axum::extract::ws::Utf8Bytes;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Where an event sits in its channel's stream: the hub's epoch (new on every
/// start, so offsets from a previous run are never trusted) and the offset,
/// which grows by one per published event on that channel (the first event
/// is 1; 0 means nothing published yet).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamPosition {
    pub epoch: String,
    pub offset: u64,
}

/// What the HTTP API and the binary may ask about a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelInfo {
    pub name: String,
    pub occupied: bool,
    pub subscription_count: usize,
    /// Presence channels only: distinct users.
    pub user_count: Option<usize>,
    pub position: StreamPosition,
}

/// Counters for health pages and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HubStats {
    pub connections: usize,
    pub channels: usize,
    /// Bytes waiting in all connections' send queues.
    pub queued_bytes: usize,
    pub messages_sent: u64,
    pub messages_dropped: u64,
    pub slow_client_closes: u64,
    pub events_published: u64,
}

/// Why [`RealtimeHub::try_publish`] refused an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("invalid channel name {0:?} (1-164 of A-Z a-z 0-9 _ - = @ , . ;)")]
    ChannelName(String),
    #[error("invalid event name (1-200 characters, no control characters)")]
    EventName,
    #[error("event data is {size} bytes, over the limit of {max}")]
    TooLarge { size: usize, max: usize },
}

#[derive(Debug)]
pub(crate) enum SubscribeError {
    PresenceFull,
}

struct Subscriber {
    conn: Arc<Conn>,
    user_id: Option<String>,
}

struct Member {
    info: Value,
    conns: usize,
}

#[derive(Default)]
struct ChannelState {
    /// Set when the channel left the registry; whoever holds a stale `Arc`
    /// looks it up again.
    removed: bool,
    last_offset: u64,
    history: VecDeque<(u64, Utf8Bytes)>,
    history_bytes: usize,
    subscribers: HashMap<u64, Subscriber>,
    members: BTreeMap<String, Member>,
}

pub(crate) struct Channel {
    name: Arc<str>,
    kind: ChannelKind,
    state: Mutex<ChannelState>,
}

impl Channel {
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }
}

struct Inner {
    config: HubConfig,
    epoch: String,
    channels: RwLock<HashMap<Arc<str>, Arc<Channel>>>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_conn: AtomicU64,
    permits: Arc<Semaphore>,
    shutting_down: AtomicBool,
    stats: Arc<Stats>,
}

/// The real-time hub. Cheap to clone (an `Arc` inside); mount it with
/// [`crate::router`] and publish with [`RealtimeHub::publish`].
#[derive(Clone)]
pub struct RealtimeHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RealtimeHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeHub").field("epoch", &self.inner.epoch).field("stats", &self.stats()).finish_non_exhaustive()
    }
}

fn new_epoch() -> String {
    let millis = jiff::Timestamp::now().as_millisecond();
    format!("{millis:x}-{:08x}", rand::random::<u32>())
}

impl RealtimeHub {
    pub fn new(config: HubConfig) -> RealtimeHub {
        let permits = Arc::new(Semaphore::new(config.max_connections.min(Semaphore::MAX_PERMITS)));
        RealtimeHub {
            inner: Arc::new(Inner {
                config,
                epoch: new_epoch(),
                channels: RwLock::new(HashMap::new()),
                conns: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(1),
                permits,
                shutting_down: AtomicBool::new(false),
                stats: Arc::new(Stats::default()),
            }),
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// This run's epoch id (part of every stream position).
    pub fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    /// Publishes an event to a channel (server side, trusted: names and sizes
    /// are not checked — see [`RealtimeHub::try_publish`]). `data` goes on the
    /// wire as a JSON string: a `Value::String` as is (already encoded),
    /// anything else encoded. Never blocks; returns the event's position.
    pub fn publish(&self, channel: &str, event_name: &str, data: Value) -> StreamPosition {
        self.publish_encoded(channel, event_name, &protocol::encode_data(&data), None)
    }

    /// Checked publish for untrusted callers (the HTTP events API):
    /// validates the names and the size of `data`, and skips the connection
    /// whose socket id is `except_socket_id` (Pusher's `socket_id` parameter).
    pub fn try_publish(
        &self,
        channel: &str,
        event_name: &str,
        data: &Value,
        except_socket_id: Option<&str>,
    ) -> Result<StreamPosition, PublishError> {
        let encoded = self.check_event(channel, event_name, data)?;
        Ok(self.publish_encoded(channel, event_name, &encoded, except_socket_id))
    }

    pub(crate) fn check_event(&self, channel: &str, event_name: &str, data: &Value) -> Result<String, PublishError> {
        let encoded = protocol::encode_data(data);
        self.check_encoded(channel, event_name, &encoded)?;
        Ok(encoded)
    }

    /// The checks of an untrusted event whose `data` is already encoded:
    /// channel and event names, and the size.
    pub(crate) fn check_encoded(&self, channel: &str, event_name: &str, encoded: &str) -> Result<(), PublishError> {
        if !protocol::valid_channel_name(channel) {
            return Err(PublishError::ChannelName(channel.chars().take(200).collect()));
        }
        if !protocol::valid_event_name(event_name) {
            return Err(PublishError::EventName);
        }
        let max = self.inner.config.max_event_bytes;
        if encoded.len() > max {
            return Err(PublishError::TooLarge { size: encoded.len(), max });
        }
        Ok(())
    }

    /// As [`RealtimeHub::publish`] for `data` already encoded (see
    /// [`crate::encode_data`]): a caller that sends one event to several
    /// channels, or elsewhere too, encodes it once.
    pub fn publish_data(&self, channel: &str, event_name: &str, encoded: &str) -> StreamPosition {
        self.publish_encoded(channel, event_name, encoded, None)
    }

    pub(crate) fn publish_encoded(&self, channel: &str, event_name: &str, data: &str, except_socket_id: Option<&str>) -> StreamPosition {
        let cfg = &self.inner.config;
        let ch = self.channel_entry(channel);
        let mut st = ch.state.lock();
        st.last_offset += 1;
        let offset = st.last_offset;
        let frame = protocol::event_frame(event_name, &ch.name, data, &self.inner.epoch, offset);
        st.history_bytes += frame.len();
        st.history.push_back((offset, frame.clone()));
        while st.history.len() > cfg.history_per_channel || (st.history_bytes > cfg.history_bytes_per_channel && !st.history.is_empty()) {
            if let Some((_, old)) = st.history.pop_front() {
                st.history_bytes = st.history_bytes.saturating_sub(old.len());
            }
        }
        for sub in st.subscribers.values() {
            if except_socket_id != Some(sub.conn.socket_id.as_str()) {
                sub.conn.send(frame.clone());
            }
        }
        drop(st);
        self.inner.stats.events_published.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("saluran_ws_events_published_total").increment(1);
        StreamPosition { epoch: self.inner.epoch.clone(), offset }
    }

    /// The channel's current position (offset of its last event; 0 if none).
    /// The binary can put this in snapshot responses so a client that loads a
    /// snapshot knows where to recover from.
    pub fn position(&self, channel: &str) -> StreamPosition {
        let offset = self.inner.channels.read().get(channel).map(|ch| ch.state.lock().last_offset).unwrap_or(0);
        StreamPosition { epoch: self.inner.epoch.clone(), offset }
    }

    /// A channel the hub knows (subscribed, or published to), occupied or not.
    pub fn channel_info(&self, channel: &str) -> Option<ChannelInfo> {
        let ch = self.inner.channels.read().get(channel).cloned()?;
        Some(self.info_of(&ch))
    }

    fn info_of(&self, ch: &Channel) -> ChannelInfo {
        let st = ch.state.lock();
        ChannelInfo {
            name: ch.name.to_string(),
            occupied: !st.subscribers.is_empty(),
            subscription_count: st.subscribers.len(),
            user_count: (ch.kind == ChannelKind::Presence).then_some(st.members.len()),
            position: StreamPosition { epoch: self.inner.epoch.clone(), offset: st.last_offset },
        }
    }

    /// Occupied channels whose name starts with `prefix`, sorted by name.
    pub fn occupied_channels(&self, prefix: Option<&str>) -> Vec<ChannelInfo> {
        let channels: Vec<Arc<Channel>> =
            self.inner.channels.read().values().filter(|ch| prefix.is_none_or(|p| ch.name.starts_with(p))).cloned().collect();
        let mut out: Vec<ChannelInfo> = channels.iter().map(|ch| self.info_of(ch)).filter(|i| i.occupied).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// User ids on a presence channel.
    pub fn presence_users(&self, channel: &str) -> Vec<String> {
        match self.inner.channels.read().get(channel) {
            Some(ch) => ch.state.lock().members.keys().cloned().collect(),
            None => Vec::new(),
        }
    }

    pub fn connection_count(&self) -> usize {
        self.inner.conns.lock().len()
    }

    /// Bytes waiting in all send queues.
    pub fn queued_bytes(&self) -> usize {
        self.inner.stats.queued_bytes.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> HubStats {
        let s = &self.inner.stats;
        HubStats {
            connections: self.connection_count(),
            channels: self.inner.channels.read().len(),
            queued_bytes: s.queued_bytes.load(Ordering::Relaxed),
            messages_sent: s.messages_sent.load(Ordering::Relaxed),
            messages_dropped: s.messages_dropped.load(Ordering::Relaxed),
            slow_client_closes: s.slow_client_closes.load(Ordering::Relaxed),
            events_published: s.events_published.load(Ordering::Relaxed),
        }
    }

    /// Graceful shutdown: refuse new connections, close every open one with
    /// 4200 (pusher-js reconnects at once — to the next instance) after what
    /// is already queued, and wait up to `grace` for them to go.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let conns: Vec<Arc<Conn>> = self.inner.conns.lock().values().cloned().collect();
        for conn in &conns {
            conn.close(codes::RECONNECT, "server shutting down");
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    pub(crate) fn permits(&self) -> &Arc<Semaphore> {
        &self.inner.permits
    }

    pub(crate) fn register_conn(&self) -> Arc<Conn> {
        let id = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let socket_id = format!("{}.{}", rand::random::<u32>(), id);
        let conn = Arc::new(Conn::new(id, socket_id, self.inner.config.send_queue_bytes, self.inner.stats.clone()));
        self.inner.conns.lock().insert(id, conn.clone());
        metrics::gauge!("saluran_ws_connections").increment(1.0);
        // A shutdown that raced with this connection's upgrade.
        if self.is_shutting_down() {
            conn.close(codes::RECONNECT, "server shutting down");
        }
        conn
    }

    pub(crate) fn unregister_conn(&self, conn: &Conn) {
        conn.release();
        if self.inner.conns.lock().remove(&conn.id).is_some() {
            metrics::gauge!("saluran_ws_connections").decrement(1.0);
        }
    }

    /// The registry entry for `name`, created if missing, never a removed one.
    fn channel_entry(&self, name: &str) -> Arc<Channel> {
        loop {
            let found = self.inner.channels.read().get(name).cloned();
            let ch = match found {
                Some(ch) => ch,
                None => self
                    .inner
                    .channels
                    .write()
                    .entry(Arc::from(name))
                    .or_insert_with(|| {
                        Arc::new(Channel { name: Arc::from(name), kind: ChannelKind::of(name), state: Mutex::new(ChannelState::default()) })
                    })
                    .clone(),
            };
            // `removed` is set under the registry's write lock after the entry
            // is gone, so a fresh lookup finds a live entry or makes one.
            if !ch.state.lock().removed {
                return ch;
            }
        }
    }

    /// Subscribes `conn` and queues, in order: `subscription_succeeded`, then
    /// the replay or `pusher:resync` if `recover` asked for it. Presence:
    /// `member` is (user_id, user_info); the others hear `member_added` when
    /// the user is new on the channel. Subscribing again to a channel the
    /// connection is already on keeps its membership and answers again.
    pub(crate) fn subscribe(
        &self,
        conn: &Arc<Conn>,
        channel: &str,
        member: Option<(String, Value)>,
        recover: Option<RecoverFrom>,
    ) -> Result<Arc<Channel>, SubscribeError> {
        let cfg = &self.inner.config;
        let epoch = self.inner.epoch.as_str();
        loop {
            let ch = self.channel_entry(channel);
            let mut guard = ch.state.lock();
            if guard.removed {
                continue;
            }
            let st = &mut *guard;
            let already = st.subscribers.contains_key(&conn.id);
            if !already {
                if let Some((user_id, info)) = member.clone() {
                    if !st.members.contains_key(&user_id) && st.members.len() >= cfg.max_presence_members {
                        return Err(SubscribeError::PresenceFull);
                    }
                    let m = st.members.entry(user_id.clone()).or_insert(Member { info: info.clone(), conns: 0 });
                    m.conns += 1;
                    if m.conns == 1 {
                        let added = protocol::member_added(&ch.name, &user_id, &info);
                        for sub in st.subscribers.values() {
                            sub.conn.send(added.clone());
                        }
                    }
                    st.subscribers.insert(conn.id, Subscriber { conn: conn.clone(), user_id: Some(user_id) });
                } else {
                    st.subscribers.insert(conn.id, Subscriber { conn: conn.clone(), user_id: None });
                }
            }
            let presence = (ch.kind == ChannelKind::Presence).then(|| {
                let ids: Vec<&String> = st.members.keys().collect();
                let hash: serde_json::Map<String, Value> = st.members.iter().map(|(id, m)| (id.clone(), m.info.clone())).collect();
                serde_json::json!({ "ids": ids, "hash": hash, "count": st.members.len() })
            });
            conn.send(protocol::subscription_succeeded(&ch.name, presence, epoch, st.last_offset));
            if let Some(from) = recover {
                self.recover(conn, &ch.name, st, &from);
            }
            drop(guard);
            return Ok(ch);
        }
    }

    /// Replays `from.offset + 1 ..= last` if the history still holds all of
    /// it and it fits comfortably in the send queue; else `pusher:resync`.
    fn recover(&self, conn: &Conn, channel: &str, st: &ChannelState, from: &RecoverFrom) {
        let epoch = self.inner.epoch.as_str();
        let last = st.last_offset;
        let replayable = from.epoch == epoch
            && from.offset <= last
            && (from.offset == last || st.history.front().is_some_and(|(first, _)| *first <= from.offset.saturating_add(1)));
        if replayable {
            let missed = st.history.iter().filter(|(o, _)| *o > from.offset);
            let bytes: usize = missed.clone().map(|(_, f)| f.len()).sum();
            // A replay must not itself overflow the queue (the client would
            // be closed, reconnect, and ask again): half of it at most.
            if bytes <= self.inner.config.send_queue_bytes / 2 {
                for (_, frame) in missed {
                    conn.send(frame.clone());
                }
                return;
            }
        }
        conn.send(protocol::resync(channel, epoch, last));
    }

    /// Removes `conn` from the channel; presence: `member_removed` to the
    /// others when the user's last connection leaves.
    pub(crate) fn unsubscribe(&self, conn: &Conn, ch: &Arc<Channel>) {
        let mut st = ch.state.lock();
        let Some(sub) = st.subscribers.remove(&conn.id) else {
            return;
        };
        if let Some(user_id) = sub.user_id {
            let gone = match st.members.get_mut(&user_id) {
                Some(m) => {
                    m.conns = m.conns.saturating_sub(1);
                    m.conns == 0
                }
                None => false,
            };
            if gone {
                st.members.remove(&user_id);
                let removed = protocol::member_removed(&ch.name, &user_id);
                for other in st.subscribers.values() {
                    other.conn.send(removed.clone());
                }
            }
        }
        let forgettable = st.subscribers.is_empty() && st.last_offset == 0;
        drop(st);
        if forgettable {
            self.forget_if_unused(ch);
        }
    }

    /// A channel nobody is on and nothing was ever published to leaves the
    /// registry (so clients cannot grow it with made-up names). Channels with
    /// a stream stay, to keep their offsets and history.
    fn forget_if_unused(&self, ch: &Arc<Channel>) {
        let mut channels = self.inner.channels.write();
        let same = channels.get(&ch.name).is_some_and(|c| Arc::ptr_eq(c, ch));
        if !same {
            return;
        }
        let mut st = ch.state.lock();
        if st.subscribers.is_empty() && st.last_offset == 0 {
            st.removed = true;
            channels.remove(&ch.name);
        }
    }

    /// Relays a client event to the channel's other subscribers.
    pub(crate) fn client_event(&self, conn: &Conn, ch: &Channel, event: &str, data: &Value, user_id: Option<&str>) {
        let frame = protocol::client_event_frame(event, &ch.name, data, user_id);
        let st = ch.state.lock();
        for (id, sub) in &st.subscribers {
            if *id != conn.id {
                sub.conn.send(frame.clone());
            }
        }
    }
}
