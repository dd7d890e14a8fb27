//! Front-desk changes a shard applies to one reservation (check-in and
//! check-out), with the domain's stay rules. They change no inventory: the
//! nights stay sold whether or not the guest is in the house. They go
//! through the shard all the same, so that they are ordered with the
//! cancellations, OTA modifications and no-shows of the same reservation
//! (one writer per room type; the room type's version orders nodes).

use crate::error::ShardError;
use saluran_domain::reservation::Reservation;
use saluran_domain::store::NewEvent;
use saluran_domain::RoomNumber;
use serde_json::json;

fn found(current: Option<Reservation>, id: &str) -> Result<Reservation, ShardError> {
    current.ok_or_else(|| ShardError::ReservationNotFound(id.to_owned()))
}

fn event(kind: &str, res: &Reservation) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        payload: json!({
            "reservation": res.id, "room_type": res.room_type, "room": res.room, "check_in": res.check_in,
            "check_out": res.check_out, "source": res.source, "checked_in_at": res.checked_in_at,
            "checked_out_at": res.checked_out_at,
        }),
    }
}

/// Checks `current` in (as of property-local `today`), giving it `room`.
pub(crate) fn check_in(
    current: Option<Reservation>,
    id: &str,
    room: Option<RoomNumber>,
    today: jiff::civil::Date,
    events: &mut Vec<NewEvent>,
    now: jiff::Timestamp,
) -> Result<Reservation, ShardError> {
    let mut res = found(current, id)?;
    res.may_check_in(today)?;
    res.checked_in_at = Some(now);
    res.room = room;
    res.revision += 1;
    res.updated_at = now;
    events.push(event("booking.checked_in", &res));
    Ok(res)
}

/// Checks `current` out.
pub(crate) fn check_out(
    current: Option<Reservation>,
    id: &str,
    events: &mut Vec<NewEvent>,
    now: jiff::Timestamp,
) -> Result<Reservation, ShardError> {
    let mut res = found(current, id)?;
    res.may_check_out()?;
    res.checked_out_at = Some(now);
    res.revision += 1;
    res.updated_at = now;
    events.push(event("booking.checked_out", &res));
    Ok(res)
}
