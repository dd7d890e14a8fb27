//! One connection's bounded outgoing queue and the task that writes it.
//!
//! Everything sent to a client goes through [`Conn::send`], which never
//! blocks: fan-out runs under a channel lock. The queue is counted in bytes;
//! when it would pass the limit the connection is aborted with 4100 and the
//! queue is freed at once, so a client that stops reading costs the server
//! at most `send_queue_bytes` plus one frame in flight.

use crate::protocol::codes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Counters shared by the hub and its connections.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub queued_bytes: AtomicUsize,
    pub messages_sent: AtomicU64,
    pub messages_dropped: AtomicU64,
    pub slow_client_closes: AtomicU64,
    pub events_published: AtomicU64,
}

impl Stats {
    fn dropped(&self, n: usize) {
        if n > 0 {
            self.messages_dropped.fetch_add(n as u64, Ordering::Relaxed);
            metrics::counter!("saluran_ws_messages_dropped_total").increment(n as u64);
        }
    }
}

#[derive(Debug, Clone)]
struct CloseRequest {
    code: u16,
    reason: String,
}

#[derive(Debug, Default)]
struct OutQueue {
    frames: VecDeque<Utf8Bytes>,
    bytes: usize,
    close: Option<CloseRequest>,
}

pub(crate) struct Conn {
    pub id: u64,
    pub socket_id: String,
    limit: usize,
    queue: Mutex<OutQueue>,
    wake: Notify,
    abort: watch::Sender<bool>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("id", &self.id).field("socket_id", &self.socket_id).finish_non_exhaustive()
    }
}

impl Conn {
    pub fn new(id: u64, socket_id: String, limit: usize, stats: Arc<Stats>) -> Conn {
        Conn { id, socket_id, limit, queue: Mutex::new(OutQueue::default()), wake: Notify::new(), abort: watch::Sender::new(false), stats }
    }

    /// Queues a frame. Returns false if it was dropped: the connection is
    /// closing, or this frame overflowed the queue (then the connection is
    /// aborted with 4100).
    pub fn send(&self, frame: Utf8Bytes) -> bool {
        let len = frame.len();
        let mut q = self.queue.lock();
        if q.close.is_some() {
            drop(q);
            self.stats.dropped(1);
            return false;
        }
        if q.bytes.saturating_add(len) > self.limit {
            let dropped = q.frames.len() + 1;
            Self::free(&mut q, &self.stats);
            q.close = Some(CloseRequest { code: codes::OVER_CAPACITY, reason: "over capacity: client reads too slowly".into() });
            drop(q);
            self.stats.dropped(dropped);
            self.stats.slow_client_closes.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("saluran_ws_slow_client_closes_total").increment(1);
            tracing::info!(socket_id = %self.socket_id, "closing slow WebSocket client (send queue full)");
            self.abort.send_replace(true);
            self.wake.notify_one();
            return false;
        }
        q.frames.push_back(frame);
        q.bytes += len;
        drop(q);
        self.stats.queued_bytes.fetch_add(len, Ordering::Relaxed);
        self.wake.notify_one();
        true
    }

    fn free(q: &mut OutQueue, stats: &Stats) {
        stats.queued_bytes.fetch_sub(q.bytes, Ordering::Relaxed);
        q.bytes = 0;
        q.frames = VecDeque::new();
    }

    /// Closes after the frames already queued (an error message before the
    /// close frame, say). The first close request wins.
    pub fn close(&self, code: u16, reason: &str) {
        let mut q = self.queue.lock();
        if q.close.is_none() {
            q.close = Some(CloseRequest { code, reason: reason.to_string() });
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Closes now: drops what is queued and interrupts a blocked write.
    pub fn abort(&self, code: u16, reason: &str) {
        let mut q = self.queue.lock();
        let dropped = q.frames.len();
        Self::free(&mut q, &self.stats);
        if q.close.is_none() {
            q.close = Some(CloseRequest { code, reason: reason.to_string() });
        }
        drop(q);
        self.stats.dropped(dropped);
        self.abort.send_replace(true);
        self.wake.notify_one();
    }

    /// Frees the queue when the connection is gone.
    pub fn release(&self) {
        let mut q = self.queue.lock();
        let dropped = q.frames.len();
        Self::free(&mut q, &self.stats);
        if q.close.is_none() {
            q.close = Some(CloseRequest { code: 1000, reason: String::new() });
        }
        drop(q);
        self.stats.dropped(dropped);
    }

    /// Moves up to `max` queued frames into `out` at once (one lock, one
    /// write flush); `out` is the writer's reused batch buffer.
    fn drain_into(&self, out: &mut Vec<Utf8Bytes>, max: usize) {
        let mut q = self.queue.lock();
        let n = q.frames.len().min(max);
        let before = out.len();
        out.extend(q.frames.drain(..n));
        let bytes: usize = out[before..].iter().map(|f| f.len()).sum();
        q.bytes = q.bytes.saturating_sub(bytes);
        drop(q);
        self.stats.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn next(&self) -> Option<Next> {
        let mut q = self.queue.lock();
        if let Some(frame) = q.frames.pop_front() {
            q.bytes = q.bytes.saturating_sub(frame.len());
            drop(q);
            self.stats.queued_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
            return Some(Next::Frame(frame));
        }
        q.close.clone().map(Next::Close)
    }
}

enum Next {
    Frame(Utf8Bytes),
    Close(CloseRequest),
}

/// Writes the queue to the socket until a close frame has gone out (or the
/// socket fails). A write blocked by a client that does not read is
/// interrupted when the connection is aborted.
pub(crate) async fn write_loop(conn: Arc<Conn>, mut sink: SplitSink<WebSocket, Message>, grace: Duration) {
    let mut aborted = conn.abort.subscribe();
    let mut batch: Vec<Utf8Bytes> = Vec::new();
    loop {
        // Everything queued goes out in one flush: under a burst of events a
        // connection costs one wake-up and one write, not one per frame.
        conn.drain_into(&mut batch, 64);
        if !batch.is_empty() {
            let n = batch.len() as u64;
            let write = async {
                for frame in batch.drain(..) {
                    sink.feed(Message::Text(frame)).await?;
                }
                sink.flush().await
            };
            tokio::select! {
                r = write => {
                    if r.is_err() {
                        return;
                    }
                    conn.stats.messages_sent.fetch_add(n, Ordering::Relaxed);
                    metrics::counter!("saluran_ws_messages_sent_total").increment(n);
                }
                _ = aborted.wait_for(|a| *a) => {}
            }
            // An abort may have dropped the write before it took the frames.
            batch.clear();
            continue;
        }
        match conn.next() {
            Some(Next::Frame(frame)) => {
                tokio::select! {
                    r = sink.send(Message::Text(frame)) => {
                        if r.is_err() {
                            return;
                        }
                        conn.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!("saluran_ws_messages_sent_total").increment(1);
                    }
                    _ = aborted.wait_for(|a| *a) => {}
                }
            }
            Some(Next::Close(close)) => {
                let frame = CloseFrame { code: close.code, reason: Utf8Bytes::from(truncate(&close.reason, 123)) };
                let _ = tokio::time::timeout(grace, sink.send(Message::Close(Some(frame)))).await;
                return;
            }
            None => conn.wake.notified().await,
        }
    }
}

/// A close reason may be at most 123 bytes.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
