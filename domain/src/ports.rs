//! Ports other than the store: the clock and the publisher of committed
//! domain events.

use crate::codes::PropertyCode;
use crate::events::{DomainEvent, EncodedEvent, EventKind};
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

/// A domain event after its commit, with its per-property stream position
/// (allocated in the commit transaction; always positive).
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedEvent {
    pub property: PropertyCode,
    pub seq: i64,
    pub kind: EventKind,
    pub payload: Value,
}

/// A domain event that is not stored and has no stream position: a change
/// made outside a shard commit (room status board, housekeeping tasks, the
/// night audit) or an alert. Live listeners hear it; a client that missed
/// it reloads the state it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub property: PropertyCode,
    pub kind: EventKind,
    pub payload: Value,
}

impl Notice {
    pub fn new(property: PropertyCode, event: &DomainEvent) -> Self {
        let EncodedEvent { kind, payload } = event.encode();
        Notice { property, kind, payload }
    }
}

/// What the publisher sends: sequenced (committed) or unsequenced events.
#[derive(Debug, Clone, PartialEq)]
pub enum Published {
    Committed(CommittedEvent),
    Notice(Notice),
}

impl Published {
    pub fn property(&self) -> &PropertyCode {
        match self {
            Published::Committed(e) => &e.property,
            Published::Notice(e) => &e.property,
        }
    }
    pub fn kind(&self) -> EventKind {
        match self {
            Published::Committed(e) => e.kind,
            Published::Notice(e) => e.kind,
        }
    }
    pub fn payload(&self) -> &Value {
        match self {
            Published::Committed(e) => &e.payload,
            Published::Notice(e) => &e.payload,
        }
    }
    /// The stream position of a committed event.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Published::Committed(e) => Some(e.seq),
            Published::Notice(_) => None,
        }
    }
}

impl From<CommittedEvent> for Published {
    fn from(e: CommittedEvent) -> Self {
        Published::Committed(e)
    }
}

impl From<Notice> for Published {
    fn from(e: Notice) -> Self {
        Published::Notice(e)
    }
}

/// Receives events after they are durable (committed ones) or done
/// (notices). Must not block.
pub trait Publisher: Send + Sync + 'static {
    fn publish(&self, event: Published);
}

/// Drops every event (for tools that need no stream).
#[derive(Debug, Default)]
pub struct NoPublisher;

impl Publisher for NoPublisher {
    fn publish(&self, _event: Published) {}
}
