//! Front desk: check-in and check-out, through the Property actor (which
//! asks the reservation's shard, so they are ordered with cancellations and
//! no-shows, and changes the room's status). Each takes a reservation the
//! caller found with `service::reservations::find`.

use saluran_actors::{ActorError, Deps, PropertyHandle, PropertyMsg};
use saluran_domain::reservation::Reservation;
use saluran_domain::RoomNumber;

#[derive(Debug, thiserror::Error)]
pub enum FrontDeskError {
    /// A stay refusal (already checked in, room not ready, …) or no answer.
    #[error(transparent)]
    Actor(#[from] ActorError),
}

/// Checks a reservation in, into `room` if one is given.
pub async fn check_in(
    deps: &Deps,
    handle: &PropertyHandle,
    reservation: Reservation,
    room: Option<RoomNumber>,
) -> Result<Reservation, FrontDeskError> {
    let id = reservation.id;
    Ok(handle.call(deps.call_timeout, |reply| PropertyMsg::CheckIn { id, room, reply }).await??)
}

/// Checks a reservation out; its room, if any, becomes vacant dirty.
pub async fn check_out(deps: &Deps, handle: &PropertyHandle, reservation: Reservation) -> Result<Reservation, FrontDeskError> {
    let id = reservation.id;
    Ok(handle.call(deps.call_timeout, |reply| PropertyMsg::CheckOut { id, reply }).await??)
}
