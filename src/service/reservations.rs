//! Direct reservations: book (through the room type's shard, which commits
//! before it answers), read, cancel (through the shard too).

use saluran_actors::shard::BookingCommand;
use saluran_actors::{ActorError, Deps, PropertyHandle, ShardMsg};
use saluran_domain::dates::{parse_date, StayRange};
use saluran_domain::property::parse_name;
use saluran_domain::reservation::{BookingRequest, Reservation};
use saluran_domain::store::StoreError;
use saluran_domain::{DomainError, RatePlanCode, RoomTypeCode};

#[derive(Debug, thiserror::Error)]
pub enum ReservationError {
    /// The request breaks a rule: unknown room type or rate plan, a bad
    /// stay, no adult, a bad name.
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error("reservation {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The shard refused (not available, …) or did not answer.
    #[error(transparent)]
    Actor(#[from] ActorError),
}

/// A direct booking as the caller sent it; checked here in this order
/// (the first refusal wins): codes, room type, rate plan, dates, horizon,
/// adults, guest name.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub room_type: String,
    pub rate_plan: String,
    pub check_in: String,
    pub check_out: String,
    pub adults: u8,
    pub guest_name: String,
}

/// Books, durable before it returns.
pub async fn create(deps: &Deps, handle: &PropertyHandle, new: NewBooking) -> Result<Reservation, ReservationError> {
    let cfg = handle.config();
    let room_type = RoomTypeCode::parse(new.room_type)?;
    let rate_plan = RatePlanCode::parse(new.rate_plan)?;
    if cfg.room_type(room_type.as_str()).is_none() {
        return Err(DomainError::UnknownRoomType(room_type.to_string()).into());
    }
    if cfg.rate_plan(rate_plan.as_str()).is_none_or(|p| p.room_type != room_type) {
        return Err(DomainError::UnknownRatePlan(format!("{rate_plan} (room type {room_type})")).into());
    }
    let stay = StayRange::new(parse_date("check_in", &new.check_in)?, parse_date("check_out", &new.check_out)?)?;
    stay.check_within_horizon(cfg.property.local_date(deps.clock.now()))?;
    if new.adults == 0 {
        return Err(DomainError::invalid("adults", "at least one adult").into());
    }
    let request = BookingRequest {
        room_type: room_type.clone(),
        rate_plan,
        stay,
        adults: new.adults,
        guest_name: parse_name("guest.name", &new.guest_name, 200)?,
    };
    let booking = BookingCommand { request, source: "direct".into(), external_id: None, allow_overbooking: false };
    let started = std::time::Instant::now();
    let r = handle
        .call_shard(room_type.as_str(), deps.call_timeout, |reply| ShardMsg::Book { booking, reply })
        .await?
        .map_err(ActorError::from)?;
    metrics::histogram!("saluran_reservation_commit_seconds").record(started.elapsed().as_secs_f64());
    Ok(r)
}

/// A reservation of the property (ids are at most 64 characters: a longer
/// one is simply not found).
pub async fn find(deps: &Deps, handle: &PropertyHandle, id: &str) -> Result<Reservation, ReservationError> {
    if id.len() > 64 {
        return Err(ReservationError::NotFound(id.to_owned()));
    }
    deps.store.find_reservation(handle.code(), id).await?.ok_or_else(|| ReservationError::NotFound(id.to_owned()))
}

/// Cancels (idempotent) through the reservation's shard.
pub async fn cancel(deps: &Deps, handle: &PropertyHandle, id: &str) -> Result<Reservation, ReservationError> {
    let r = find(deps, handle, id).await?;
    let cancelled = handle
        .call_shard(r.room_type.as_str(), deps.call_timeout, |reply| ShardMsg::Cancel { id: r.id.clone(), reply })
        .await?
        .map_err(ActorError::from)?;
    Ok(cancelled)
}
