//! Bookings the simulated OTA sells, their revisions, and what became of each
//! revision's delivery to the hub.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    New,
    Modify,
    Cancel,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::New => "new",
            Action::Modify => "modify",
            Action::Cancel => "cancel",
        }
    }
}

/// The booking's content at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub room: String,
    pub rate: String,
    pub check_in: Date,
    pub check_out: Date,
    pub adults: u8,
    pub guest_name: String,
    pub nightly: Vec<(Date, Decimal)>,
    pub total: Decimal,
    pub currency: String,
}

/// What became of delivering one revision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Push attempts (opentravel), notify attempts (jsonrest) or pulls that returned it
    /// (alpinebits `OTA_Read`, jsonrest feed).
    pub attempts: u32,
    pub acked: bool,
    /// The hub's confirmation id from the first acknowledgement.
    pub confirmation_id: Option<String>,
    /// Every distinct confirmation id the hub answered with (I1: a redelivery must get
    /// the original one back, so this stays at one entry).
    pub confirmation_ids: Vec<String>,
    /// How many acknowledgements were received (redeliveries included).
    pub acks: u32,
    /// "200", "500", "timeout", "connect error", "bad ack: …", "pulled", …
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub acked_at: Option<Timestamp>,
    /// The push loop stopped without an acknowledgement (attempts or time exhausted).
    pub gave_up: bool,
    /// The hub acknowledged receipt but refused the booking (AlpineBits `Warning`).
    pub refused: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// 1, 2, … within the booking.
    pub number: u32,
    pub action: Action,
    pub created_at: Timestamp,
    pub snapshot: Snapshot,
    pub delivery: Delivery,
    /// jsonrest notify (when a hub webhook is configured): attempts and last status.
    pub notify_attempts: u32,
    pub notify_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    /// `SIM-<n>`.
    pub id: String,
    pub revisions: Vec<Revision>,
}

impl Booking {
    pub fn latest(&self) -> Option<&Revision> {
        self.revisions.last()
    }

    pub fn cancelled(&self) -> bool {
        self.latest().is_some_and(|r| r.action == Action::Cancel)
    }

    /// Whether any revision is still unacknowledged.
    pub fn pending(&self) -> bool {
        self.revisions.iter().any(|r| !r.delivery.acked)
    }
}

/// The id of one revision: `SIM-7-r0002` (zero-padded, so the ids of one booking
/// sort like its revisions).
pub fn revision_id(booking: &str, number: u32) -> String {
    format!("{booking}-r{number:04}")
}

/// Splits `SIM-7-r0002` into (`SIM-7`, 2).
pub fn split_revision_id(id: &str) -> Option<(&str, u32)> {
    let (b, n) = id.rsplit_once("-r")?;
    Some((b, n.parse().ok()?))
}

/// `GET /_sim/deliveries` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub booking_id: String,
    pub revision: u32,
    pub revision_id: String,
    pub action: Action,
    pub created_at: Timestamp,
    #[serde(flatten)]
    pub delivery: Delivery,
    pub notify_attempts: u32,
    pub notify_status: Option<String>,
}

#[derive(Debug, Default)]
pub struct BookingStore {
    next: u64,
    bookings: BTreeMap<u64, Booking>,
}

/// Revision times are whole milliseconds and strictly increase within a booking, so
/// their fixed-width text (see [`revision_stamp`]) orders like the revisions.
fn next_time(prev: Option<Timestamp>, now: Timestamp) -> Timestamp {
    let now = Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now);
    match prev {
        Some(p) if now <= p => p.checked_add(jiff::SignedDuration::from_millis(1)).unwrap_or(now),
        _ => now,
    }
}

/// The revision as the OTA states it on the wire: the revision's time as an
/// xs:dateTime with exactly three fraction digits in UTC (`2030-01-01T10:00:00.123Z`),
/// so the strings compare like the revisions.
pub fn revision_stamp(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn number_of(id: &str) -> Option<u64> {
    id.strip_prefix("SIM-")?.parse().ok()
}

impl BookingStore {
    /// Creates a booking with its first revision; returns its id.
    pub fn create(&mut self, snapshot: Snapshot, now: Timestamp) -> String {
        self.next += 1;
        let id = format!("SIM-{}", self.next);
        let rev = Revision {
            number: 1,
            action: Action::New,
            created_at: next_time(None, now),
            snapshot,
            delivery: Delivery::default(),
            notify_attempts: 0,
            notify_status: None,
        };
        self.bookings.insert(self.next, Booking { id: id.clone(), revisions: vec![rev] });
        id
    }

    /// Adds a revision; `None` when the booking is unknown or already cancelled.
    pub fn revise(&mut self, id: &str, action: Action, snapshot: Snapshot, now: Timestamp) -> Option<u32> {
        let b = self.bookings.get_mut(&number_of(id)?)?;
        if b.cancelled() {
            return None;
        }
        let number = b.revisions.len() as u32 + 1;
        let created_at = next_time(b.latest().map(|r| r.created_at), now);
        b.revisions.push(Revision {
            number,
            action,
            created_at,
            snapshot,
            delivery: Delivery::default(),
            notify_attempts: 0,
            notify_status: None,
        });
        Some(number)
    }

    pub fn get(&self, id: &str) -> Option<&Booking> {
        self.bookings.get(&number_of(id)?)
    }

    pub fn revision(&self, id: &str, number: u32) -> Option<&Revision> {
        self.get(id)?.revisions.get(number.checked_sub(1)? as usize)
    }

    pub fn revision_mut(&mut self, id: &str, number: u32) -> Option<&mut Revision> {
        self.bookings.get_mut(&number_of(id)?)?.revisions.get_mut(number.checked_sub(1)? as usize)
    }

    pub fn all(&self) -> impl Iterator<Item = &Booking> {
        self.bookings.values()
    }

    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut Booking> {
        self.bookings.values_mut()
    }

    pub fn len(&self) -> usize {
        self.bookings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bookings.is_empty()
    }

    /// Records an acknowledgement of one revision.
    pub fn ack(&mut self, id: &str, number: u32, confirmation: Option<String>, status: &str, now: Timestamp) -> bool {
        let Some(rev) = self.revision_mut(id, number) else { return false };
        let d = &mut rev.delivery;
        d.acks += 1;
        if !d.acked {
            d.acked = true;
            d.acked_at = Some(now);
        }
        if let Some(c) = confirmation {
            if d.confirmation_id.is_none() {
                d.confirmation_id = Some(c.clone());
            }
            if !d.confirmation_ids.contains(&c) {
                d.confirmation_ids.push(c);
            }
        }
        d.last_status = Some(status.to_string());
        d.last_error = None;
        d.gave_up = false;
        true
    }

    pub fn deliveries(&self) -> Vec<DeliveryRow> {
        self.bookings
            .values()
            .flat_map(|b| {
                b.revisions.iter().map(|r| DeliveryRow {
                    booking_id: b.id.clone(),
                    revision: r.number,
                    revision_id: revision_id(&b.id, r.number),
                    action: r.action,
                    created_at: r.created_at,
                    delivery: r.delivery.clone(),
                    notify_attempts: r.notify_attempts,
                    notify_status: r.notify_status.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn snap() -> Snapshot {
        Snapshot {
            room: "DBL".into(),
            rate: "BAR".into(),
            check_in: date(2030, 1, 1),
            check_out: date(2030, 1, 2),
            adults: 2,
            guest_name: "A".into(),
            nightly: vec![(date(2030, 1, 1), Decimal::from(10))],
            total: Decimal::from(10),
            currency: "IDR".into(),
        }
    }

    #[test]
    fn revisions_and_acks() {
        let mut s = BookingStore::default();
        let now = Timestamp::UNIX_EPOCH;
        let id = s.create(snap(), now);
        assert_eq!(id, "SIM-1");
        assert_eq!(s.revise(&id, Action::Modify, snap(), now), Some(2));
        assert_eq!(s.revise(&id, Action::Cancel, snap(), now), Some(3));
        assert_eq!(s.revise(&id, Action::Modify, snap(), now), None);
        assert!(s.ack(&id, 2, Some("C1".into()), "200", now));
        assert!(s.ack(&id, 2, Some("C1".into()), "200", now));
        assert!(!s.ack(&id, 9, None, "200", now));
        let rows = s.deliveries();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].delivery.confirmation_ids, vec!["C1".to_string()]);
        assert_eq!(rows[1].delivery.acks, 2);
        assert_eq!(split_revision_id("SIM-7-r0002"), Some(("SIM-7", 2)));
        assert_eq!(revision_id("SIM-7", 2), "SIM-7-r0002");
        assert!(revision_id("SIM-7", 9) < revision_id("SIM-7", 10));
        let b = s.get(&id).expect("booking");
        assert!(b.revisions[0].created_at < b.revisions[1].created_at);
        assert!(revision_stamp(b.revisions[0].created_at) < revision_stamp(b.revisions[1].created_at));
        assert_eq!(revision_stamp(Timestamp::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(split_revision_id("SIM-7"), None);
    }
}
