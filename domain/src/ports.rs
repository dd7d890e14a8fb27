//! Ports other than the store: the clock and the publisher of committed
//! domain events.

use crate::codes::PropertyCode;
use serde_json::Value;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> jiff::Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

/// A clock tests can set and move.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(at: jiff::Timestamp) -> Self {
        ManualClock(AtomicI64::new(at.as_microsecond()))
    }
    pub fn set(&self, at: jiff::Timestamp) {
        self.0.store(at.as_microsecond(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_microsecond(self.0.load(Ordering::SeqCst)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }
}

/// A domain event after its commit, with its per-property stream position.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedEvent {
    pub property: PropertyCode,
    pub seq: i64,
    pub kind: String,
    pub payload: Value,
}

/// Receives events after they are durable. Must not block.
pub trait Publisher: Send + Sync + 'static {
    fn publish(&self, event: CommittedEvent);
}

/// Drops every event (for tools that need no stream).
#[derive(Debug, Default)]
pub struct NoPublisher;

impl Publisher for NoPublisher {
    fn publish(&self, _event: CommittedEvent) {}
}
