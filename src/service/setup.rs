//! Setup: properties, room types, rooms, rate plans, the no-show setting
//! and room status. Handlers parse the request into domain values; the
//! rules that need the property's state are here.
//!
//! A new property is a row no actor owns yet: `create_property` stores it
//! and the Property actor loads it on its first request (activation on
//! demand). Everything else goes to the Property actor, which writes the
//! store (room status through the room type's shard, with its out-of-order
//! dates in one commit) and only then changes what it serves.

use saluran_actors::{out_of_order_range, ActorError, Deps, OutOfOrderDates, PropertyHandle, PropertyMsg};
use saluran_domain::property::{Property, RatePlan, Room, RoomStatus, RoomType};
use saluran_domain::store::StoreError;
use saluran_domain::{DomainError, RoomNumber};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// Includes a row with this code existing already.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Actor(#[from] ActorError),
}

/// Stores a new property; marking no-shows, if on, covers arrivals from
/// its local date on, never earlier ones (decision 0004).
pub async fn create_property(deps: &Deps, mut property: Property) -> Result<Property, SetupError> {
    if property.marks_no_shows {
        property.no_shows_from = Some(property.local_date(deps.clock.now()));
    }
    deps.store.create_property(&property).await?;
    tracing::info!(property = %property.code, tenant = %property.tenant, "property created");
    Ok(property)
}

/// Turns no-show marking on (from `from`, at most today) or off.
pub async fn set_marks_no_shows(
    deps: &Deps,
    handle: &PropertyHandle,
    on: bool,
    from: Option<jiff::civil::Date>,
) -> Result<Property, SetupError> {
    if let Some(d) = from {
        if !on {
            return Err(DomainError::invalid("no_shows_from", "only with marks_no_shows true").into());
        }
        if d > handle.config().property.local_date(deps.clock.now()) {
            return Err(DomainError::invalid("no_shows_from", "must not be after the property's local date today").into());
        }
    }
    let property = handle.call(deps.call_timeout, |reply| PropertyMsg::SetMarksNoShows { on, from, reply }).await??;
    tracing::info!(property = %property.code, marks_no_shows = on, "property settings changed");
    Ok(property)
}

pub async fn create_room_type(deps: &Deps, handle: &PropertyHandle, room_type: RoomType) -> Result<(), SetupError> {
    Ok(handle.call(deps.call_timeout, |reply| PropertyMsg::CreateRoomType { room_type, reply }).await??)
}

/// Adds a room of an existing room type.
pub async fn create_room(deps: &Deps, handle: &PropertyHandle, room: Room) -> Result<(), SetupError> {
    if handle.config().room_type(room.room_type.as_str()).is_none() {
        return Err(DomainError::UnknownRoomType(room.room_type.to_string()).into());
    }
    Ok(handle.call(deps.call_timeout, |reply| PropertyMsg::CreateRoom { room, reply }).await??)
}

pub async fn create_rate_plan(deps: &Deps, handle: &PropertyHandle, plan: RatePlan) -> Result<(), SetupError> {
    Ok(handle.call(deps.call_timeout, |reply| PropertyMsg::CreateRatePlan { plan, reply }).await??)
}

/// Moves a room's status; out-of-order dates are checked here, before
/// anything is asked of the property.
pub async fn set_room_status(
    deps: &Deps,
    handle: &PropertyHandle,
    number: RoomNumber,
    status: RoomStatus,
    dates: Option<OutOfOrderDates>,
) -> Result<Room, SetupError> {
    if let Some(d) = dates {
        out_of_order_range(d, handle.config().property.local_date(deps.clock.now()))?;
    }
    Ok(handle.call(deps.call_timeout, |reply| PropertyMsg::SetRoomStatus { number, status, dates, reply }).await??)
}
