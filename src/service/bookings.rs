//! Booking ingest, common to every profile (DESIGN §5): authenticate first
//! (done by the caller), parse (caller, with the profile's codec), then here:
//! map OTA codes to ours, apply through the shards, commit, and only then
//! hand back the acknowledgement. Each room of a booking is one line
//! (`ID` or `ID#n`), applied exactly once per revision and action.
//!
//! Both paths call it: the OTA webhooks (src/http/channels.rs) and the pull
//! path (`BookingIngest`, the Channel actor's sink). It knows no HTTP: its
//! refusals are `BookingError`, which src/http/error.rs maps to a status and
//! code and the pull path only logs.

use saluran_actors::channel::BookingSink;
use saluran_actors::shard::{AckBuilder, ChannelDelivery, DeliveryOutcome};
use saluran_actors::{ActorError, Deps, PropertyHandle, ShardMsg};
use saluran_channels::model::{BookingAction, InboundBooking};
use saluran_domain::channel::{ChannelConfig, InboundAction, InboundOutcome, InboundRecord};
use saluran_domain::dates::StayRange;
use saluran_domain::events::{DomainEvent, UnmappedBooking};
use saluran_domain::ports::Notice;
use saluran_domain::reservation::BookingRequest;
use saluran_domain::store::{Conflict, StoreError};
use saluran_domain::DomainError;
use std::sync::Arc;

/// Why a delivery was not applied. Nothing of it was acknowledged: the OTA
/// (or the next poll) delivers it again.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// A booking (not a cancellation) with no room line.
    #[error("the booking has no room")]
    NoRoom,
    /// A cancellation naming only the booking kept racing with its creation.
    #[error("the booking changed while it was being cancelled; retry")]
    CancelRaced,
    /// The delivery's data breaks a domain rule (e.g. its stay).
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The property or one of its shards refused or did not answer.
    #[error(transparent)]
    Actor(#[from] ActorError),
}

/// What one delivery did, for the caller's acknowledgement.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub ack: String,
    /// Our reservation ids (one per room line), where there is one.
    pub reservations: Vec<String>,
    /// `applied`, `overbooked`, `stale`, `replayed`, `unmapped`.
    pub outcomes: Vec<InboundOutcome>,
}

fn action_of(a: &BookingAction) -> InboundAction {
    match a {
        BookingAction::New => InboundAction::New,
        BookingAction::Modify => InboundAction::Modify,
        BookingAction::Cancel => InboundAction::Cancel,
    }
}

fn line_id(ota_id: &str, rooms: usize, i: usize) -> String {
    if rooms > 1 {
        format!("{ota_id}#{}", i + 1)
    } else {
        ota_id.to_owned()
    }
}

/// Applies one delivered booking. `ack` builds the profile's
/// acknowledgement from our reservation id.
pub async fn ingest(
    deps: &Deps,
    handle: &PropertyHandle,
    channel: &ChannelConfig,
    booking: &InboundBooking,
    ack: AckBuilder,
) -> Result<Ingested, BookingError> {
    let action = action_of(&booking.action);
    let now = deps.clock.now();
    let mut out = Ingested { ack: String::new(), reservations: Vec::new(), outcomes: Vec::new() };
    metrics::counter!("saluran_webhook_deliveries_total", "property" => channel.property.to_string(), "channel" => channel.code.to_string(), "action" => action.as_str()).increment(1);

    if action == InboundAction::Cancel && booking.rooms.is_empty() {
        // A cancellation names the booking, not its rooms: cancel every line
        // we hold for it, or remember it if we hold none yet. The store
        // refuses the "remember" if the booking was committed meanwhile
        // (Conflict), and then we look again.
        for _attempt in 0..3 {
            // One query finds every line (`ID`, `ID#1` .. `ID#n`, any n).
            let lines = deps.store.find_booking_lines(handle.code(), &channel.code, &booking.ota_reservation_id).await?;
            if !lines.is_empty() {
                tracing::info!(property = %handle.code(), channel = %channel.code, ota_id = %booking.ota_reservation_id, lines = lines.len(), "cancelling every line of a booking");
                for res in &lines {
                    let Some(line) = res.external_id.as_deref() else { continue };
                    let o = deliver(deps, handle, channel, line, booking, action, None, res.room_type.as_str(), ack.clone(), false).await?;
                    out.record(o);
                }
                return Ok(out);
            }
            let ack_text = ack(None);
            let record = InboundRecord {
                property: handle.code().clone(),
                channel: channel.code.clone(),
                ota_reservation_id: booking.ota_reservation_id.clone(),
                revision: booking.revision.clone(),
                action,
                reservation_id: None,
                outcome: InboundOutcome::Applied,
                ack: ack_text.clone(),
                received_at: now,
            };
            match deps.store.insert_inbound(&record).await {
                Ok(()) => {
                    out.ack = ack_text;
                    out.outcomes.push(InboundOutcome::Applied);
                    return Ok(out);
                }
                Err(StoreError::Conflict(why @ (Conflict::DuplicateDelivery { .. } | Conflict::BookingExists { .. }))) => {
                    // Either this exact cancellation was recorded before
                    // (answer with its ack) or the booking now exists.
                    let history = deps.store.inbound_history(handle.code(), &channel.code, &booking.ota_reservation_id).await?;
                    if let Some(same) = history.iter().find(|r| r.revision == booking.revision && r.action == action) {
                        out.ack = same.ack.clone();
                        out.outcomes.push(InboundOutcome::Replayed);
                        return Ok(out);
                    }
                    tracing::info!(ota_id = %booking.ota_reservation_id, %why, "booking appeared while cancelling; retrying through its shard");
                }
                Err(e) => return Err(e.into()),
            }
        }
        return Err(BookingError::CancelRaced);
    }

    let n = booking.rooms.len();
    if n == 0 {
        return Err(BookingError::NoRoom);
    }
    for (i, room) in booking.rooms.iter().enumerate() {
        let line = line_id(&booking.ota_reservation_id, n, i);
        let Some(mapping) = channel.our_codes(&room.ota_room, room.ota_rate.as_deref()) else {
            // Stored and alerted, never dropped; a person maps it.
            tracing::error!(property = %handle.code(), channel = %channel.code, ota_room = %room.ota_room, ota_rate = ?room.ota_rate, ota_id = %line, "booking for an unmapped room or rate");
            metrics::counter!("saluran_unmapped_bookings_total", "property" => channel.property.to_string(), "channel" => channel.code.to_string()).increment(1);
            let alert = DomainEvent::UnmappedBooking(UnmappedBooking {
                channel: channel.code.clone(),
                ota_reservation_id: line.clone(),
                ota_room: room.ota_room.clone(),
                ota_rate: room.ota_rate.clone(),
            });
            deps.publisher.publish(Notice::new(handle.code().clone(), &alert).into());
            let ack_text = ack(None);
            let record = InboundRecord {
                property: handle.code().clone(),
                channel: channel.code.clone(),
                ota_reservation_id: line.clone(),
                revision: booking.revision.clone(),
                action,
                reservation_id: None,
                outcome: InboundOutcome::unmapped(&room.ota_room, room.ota_rate.as_deref()),
                ack: ack_text.clone(),
                received_at: now,
            };
            match deps.store.insert_inbound(&record).await {
                Ok(()) | Err(StoreError::Conflict(Conflict::DuplicateDelivery { .. })) => {}
                Err(e) => return Err(e.into()),
            }
            out.ack = ack_text;
            out.outcomes.push(InboundOutcome::Unmapped("unmapped".into()));
            continue;
        };
        let stay = StayRange::new(room.check_in, room.check_out)?;
        let request = BookingRequest {
            room_type: mapping.room_type.clone(),
            rate_plan: mapping.rate_plan.clone(),
            stay,
            adults: room.adults.max(1),
            guest_name: booking.guest_name.clone().unwrap_or_else(|| "OTA guest".into()),
        };
        // A modification that moves the booking to another room type is a
        // cancellation on the old shard and a booking on the new one.
        if action == InboundAction::Modify {
            if let Some(existing) = deps.store.find_reservation_by_external(handle.code(), &channel.code, &line).await? {
                if existing.room_type != mapping.room_type && existing.is_active() {
                    let o = deliver(
                        deps,
                        handle,
                        channel,
                        &line,
                        booking,
                        InboundAction::Cancel,
                        None,
                        existing.room_type.as_str(),
                        ack.clone(),
                        true,
                    )
                    .await?;
                    out.record(o);
                }
            }
        }
        let o =
            deliver(deps, handle, channel, &line, booking, action, Some(request), mapping.room_type.as_str(), ack.clone(), false).await?;
        out.record(o);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn deliver(
    deps: &Deps,
    handle: &PropertyHandle,
    channel: &ChannelConfig,
    line: &str,
    booking: &InboundBooking,
    action: InboundAction,
    request: Option<BookingRequest>,
    room_type: &str,
    ack: AckBuilder,
    moving: bool,
) -> Result<DeliveryOutcome, BookingError> {
    let delivery = ChannelDelivery {
        channel: channel.code.clone(),
        ota_reservation_id: line.to_owned(),
        revision: booking.revision.clone(),
        action,
        request,
        ack,
        moving,
    };
    let started = std::time::Instant::now();
    let r =
        handle.call_shard(room_type, deps.call_timeout, |reply| ShardMsg::Deliver { delivery, reply }).await?.map_err(ActorError::from)?;
    metrics::histogram!("saluran_webhook_apply_seconds").record(started.elapsed().as_secs_f64());
    Ok(r)
}

impl Ingested {
    fn record(&mut self, o: DeliveryOutcome) {
        self.ack = o.ack;
        if let Some(id) = o.reservation_id {
            self.reservations.push(id);
        }
        self.outcomes.push(o.outcome);
    }
}

/// Builds acks from a closure over the booking's data.
pub fn ack_builder(f: impl Fn(Option<&str>) -> String + Send + Sync + 'static) -> AckBuilder {
    Arc::new(f)
}

/// The pull path's way in: the Channel actor hands over its property's
/// handle and its deps, so this sink holds nothing and is built before the
/// actor tree (no late binding: it needs no `App`).
pub struct BookingIngest;

#[async_trait::async_trait]
impl BookingSink for BookingIngest {
    async fn deliver(&self, deps: &Deps, handle: &PropertyHandle, channel: &ChannelConfig, booking: &InboundBooking) -> Result<(), String> {
        // Pull protocols acknowledge separately; the stored ack is a summary.
        let (ota_id, revision) = (booking.ota_reservation_id.clone(), booking.revision.clone());
        let ack = ack_builder(move |ours| serde_json::json!({"ota_id": ota_id, "revision": revision, "reservation": ours}).to_string());
        ingest(deps, handle, channel, booking, ack).await.map(|_| ()).map_err(|e| e.to_string())
    }
}
