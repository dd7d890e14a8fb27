//! The Property actor's front-desk work: check-in and check-out (the
//! reservation change through its shard, then the room's status through the
//! usual room-status path) and the night audit's no-show sweep.
//!
//! These run inside the Property actor, one message at a time, so on one
//! node a check-in and the night audit never interleave; across nodes the
//! shards' commits are ordered by the room type's version. They see the
//! property only through `Desk` (handle, deps, room status).

use crate::error::{ActorError, ShardError};
use crate::property::Desk;
use crate::shard::ShardMsg;
use saluran_domain::property::RoomStatus;
use saluran_domain::reservation::Reservation;
use saluran_domain::stay::StayRefusal;
use saluran_domain::{DomainError, RoomNumber, RoomTypeCode};
use std::collections::BTreeMap;

async fn find(desk: &Desk<'_>, id: &str) -> Result<Reservation, ActorError> {
    desk.deps()
        .store
        .find_reservation(desk.handle().code(), id)
        .await?
        .ok_or_else(|| ActorError::Shard(ShardError::ReservationNotFound(id.to_owned())))
}

pub(crate) async fn check_in(desk: &mut Desk<'_>, id: String, room: Option<RoomNumber>) -> Result<Reservation, ActorError> {
    let cfg = desk.handle().config();
    let today = cfg.property.local_date(desk.deps().clock.now());
    let stored = find(desk, &id).await?;
    // The reservation's own refusal (already in, cancelled, too early) says
    // more than one about the room; the shard decides again, authoritatively.
    stored.may_check_in(today).map_err(ShardError::from)?;
    if let Some(number) = &room {
        let r = cfg
            .rooms
            .iter()
            .find(|r| &r.number == number)
            .ok_or_else(|| ShardError::Invalid(DomainError::invalid("room", format!("unknown room {number}"))))?;
        // Inventory is counted per room type: a guest in a room of another
        // type would leave one type oversold and the other undersold.
        if r.room_type != stored.room_type {
            return Err(ShardError::Invalid(DomainError::invalid(
                "room",
                format!("room {number} is of room type {}, the reservation of {}", r.room_type, stored.room_type),
            ))
            .into());
        }
        if !matches!(r.status, RoomStatus::VacantClean | RoomStatus::Inspected) {
            return Err(ShardError::from(StayRefusal::RoomNotReady { room: number.to_string(), status: r.status.as_str().into() }).into());
        }
    }
    let rt = stored.room_type.clone();
    let given = room.clone();
    let res = desk
        .handle()
        .call_shard(rt.as_str(), desk.deps().call_timeout, |reply| ShardMsg::CheckIn { id, room: given, today, reply })
        .await?
        .map_err(ActorError::from)?;
    if let Some(number) = room {
        // The check-in is committed; a failure here leaves the board behind
        // (fixable by a room-status PATCH), not the reservation.
        if let Err(e) = desk.set_room_status(number.clone(), RoomStatus::OccupiedClean).await {
            tracing::warn!(property = %desk.handle().code(), room = %number, error = %e, "checked in, but the room status did not change");
        }
    }
    Ok(res)
}

pub(crate) async fn check_out(desk: &mut Desk<'_>, id: String) -> Result<Reservation, ActorError> {
    let stored = find(desk, &id).await?;
    stored.may_check_out().map_err(ShardError::from)?;
    let rt = stored.room_type.clone();
    let res = desk
        .handle()
        .call_shard(rt.as_str(), desk.deps().call_timeout, |reply| ShardMsg::CheckOut { id, reply })
        .await?
        .map_err(ActorError::from)?;
    if let Some(number) = res.room.clone() {
        if let Err(e) = desk.set_room_status(number.clone(), RoomStatus::VacantDirty).await {
            tracing::warn!(property = %desk.handle().code(), room = %number, error = %e, "checked out, but the room status did not change");
        }
    }
    Ok(res)
}

/// Marks the no-shows once business date `today` is open: every confirmed,
/// not checked-in reservation arriving on or before `today − 1` and on or
/// after `Property::no_shows_from` (the day marking was turned on: earlier
/// arrivals are never swept; without a date nothing is). Each
/// room type's candidates go to its shard in one message (one commit),
/// which re-checks them and releases their nights from `today` on.
/// Answers the ids marked; fails if any room type failed (the others stay
/// done, and a retry skips them).
pub(crate) async fn mark_no_shows(desk: &Desk<'_>, today: jiff::civil::Date) -> Result<Vec<String>, ActorError> {
    let Ok(closed) = today.yesterday() else {
        return Ok(Vec::new());
    };
    let Some(from) = desk.handle().config().property.no_shows_from else {
        tracing::warn!(property = %desk.handle().code(), "marks no-shows but has no start date: nothing marked");
        return Ok(Vec::new());
    };
    if from > closed {
        return Ok(Vec::new());
    }
    let candidates = desk.deps().store.no_show_candidates(desk.handle().code(), from, closed).await?;
    let mut by_room_type: BTreeMap<RoomTypeCode, Vec<String>> = BTreeMap::new();
    for r in candidates {
        by_room_type.entry(r.room_type).or_default().push(r.id);
    }
    let mut marked = Vec::new();
    let mut failed = None;
    for (rt, ids) in by_room_type {
        let r = desk
            .handle()
            .call_shard(rt.as_str(), desk.deps().call_timeout, |reply| ShardMsg::NoShows { ids, closed, release_from: today, reply })
            .await
            .and_then(|r| r.map_err(ActorError::from));
        match r {
            Ok(done) => marked.extend(done.into_iter().map(|r| r.id)),
            Err(e) => {
                tracing::warn!(property = %desk.handle().code(), room_type = %rt, error = %e, "no-shows not marked");
                failed = Some(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(marked),
    }
}
