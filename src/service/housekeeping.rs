//! Housekeeping tasks: create, list, move through their lifecycle (assign,
//! start, finish, inspect). Finishing a `clean` task makes a vacant dirty
//! room vacant clean, inspecting it makes it inspected; both go through
//! `PropertyMsg::SetRoomStatus`, where the room status rules live.
//!
//! How a task write flows (docs/ARCHITECTURE.md "How a write flows"): no
//! actor owns task rows (decisions/0011 keeps housekeeping in the Property
//! actor only for what touches rooms), so `commit` writes the task row
//! (compare-and-set on its status) and publishes `task.updated` after that
//! write returned. `commit` is the only place that does either; a room
//! status change the task causes goes to the Property actor afterwards.

use saluran_actors::{ActorError, Deps, PropertyHandle, PropertyMsg};
use saluran_domain::events::{DomainEvent, TaskUpdated};
use saluran_domain::housekeeping::{HousekeepingTask, TaskAction, TaskStatus};
use saluran_domain::ports::Notice;
use saluran_domain::property::RoomStatus;
use saluran_domain::store::{Conflict, StoreError};
use saluran_domain::{DomainError, RoomNumber};

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A field that does not fit, or a move the task's status does not allow.
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// No such task, or no such action.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The room status change a task causes was refused or not answered.
    #[error(transparent)]
    Actor(#[from] ActorError),
}

/// A task to open.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub room: String,
    pub kind: String,
    pub note: Option<String>,
}

/// What a move changes besides the status.
#[derive(Debug, Clone, Default)]
pub struct TaskChange {
    /// With `assign`: who.
    pub assignee: Option<String>,
    pub note: Option<String>,
}

/// A moved task and its room's status after the move.
#[derive(Debug, Clone)]
pub struct Moved {
    pub task: HousekeepingTask,
    pub room_status: Option<RoomStatus>,
}

fn text(field: &str, v: &str, max: usize) -> Result<String, TaskError> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(DomainError::invalid(field, format!("must be 1 to {max} characters")).into());
    }
    Ok(v.to_owned())
}

fn refused(from: TaskStatus, action: &str) -> TaskError {
    DomainError::InvalidTransition(from.as_str().into(), action.into()).into()
}

/// The one place a task is written and announced: the event goes out only
/// after the store accepted the row. `from`: the status the stored task must
/// still have (`None`: a new task).
async fn commit(deps: &Deps, handle: &PropertyHandle, task: &HousekeepingTask, from: Option<TaskStatus>) -> Result<(), StoreError> {
    match from {
        None => deps.store.create_task(task).await?,
        Some(from) => deps.store.update_task(task, from).await?,
    }
    let event = DomainEvent::TaskUpdated(TaskUpdated::from(task));
    deps.publisher.publish(Notice::new(handle.code().clone(), &event).into());
    Ok(())
}

/// Opens a task for a room of the property.
pub async fn create(deps: &Deps, handle: &PropertyHandle, new: NewTask) -> Result<HousekeepingTask, TaskError> {
    let unknown = || TaskError::from(DomainError::invalid("room", "unknown room"));
    let room = RoomNumber::parse(new.room).map_err(|_| unknown())?;
    if !handle.config().rooms.iter().any(|r| r.number == room) {
        return Err(unknown());
    }
    let kind = text("kind", &new.kind, 32)?;
    let note = new.note.as_deref().map(|n| text("note", n, 500)).transpose()?;
    let now = deps.clock.now();
    let task = HousekeepingTask {
        id: uuid::Uuid::now_v7().to_string(),
        property: handle.code().clone(),
        room,
        kind,
        status: TaskStatus::Open,
        assignee: None,
        note,
        created_at: now,
        updated_at: now,
    };
    commit(deps, handle, &task, None).await?;
    Ok(task)
}

/// Every task of the property, oldest first.
pub async fn list(deps: &Deps, handle: &PropertyHandle) -> Result<Vec<HousekeepingTask>, TaskError> {
    Ok(deps.store.list_tasks(handle.code(), false).await?)
}

/// `assign`, `start`, `finish` or `inspect`.
pub fn parse_action(action: &str) -> Result<TaskAction, TaskError> {
    TaskAction::parse(action).ok_or_else(|| TaskError::NotFound(format!("task action {action}")))
}

/// Moves a task (`action` is its name, for the refusal).
pub async fn act(
    deps: &Deps,
    handle: &PropertyHandle,
    id: &str,
    act: TaskAction,
    action: &str,
    change: TaskChange,
) -> Result<Moved, TaskError> {
    let task = deps.store.find_task(handle.code(), id).await?.ok_or_else(|| TaskError::NotFound(format!("task {id} not found")))?;
    let next = act.apply(task.status).ok_or_else(|| refused(task.status, action))?;
    let assignee = match act {
        TaskAction::Assign => Some(text("assignee", change.assignee.as_deref().unwrap_or(""), 64)?),
        _ => task.assignee.clone(),
    };
    let note = match change.note.as_deref() {
        Some(n) => Some(text("note", n, 500)?),
        None => task.note.clone(),
    };
    let updated = HousekeepingTask { status: next, assignee, note, updated_at: deps.clock.now(), ..task.clone() };
    match commit(deps, handle, &updated, Some(task.status)).await {
        Ok(()) => {}
        // Someone else moved the task meanwhile.
        Err(StoreError::Conflict(Conflict::TaskStatus { .. })) => return Err(refused(task.status, action)),
        Err(e) => return Err(e.into()),
    }
    let current = || handle.config().rooms.iter().find(|r| r.number == updated.room).map(|r| r.status);
    let mut room_status = None;
    if updated.kind == "clean" {
        let target = match (act, current()) {
            (TaskAction::Finish, Some(RoomStatus::VacantDirty)) => Some(RoomStatus::VacantClean),
            (TaskAction::Inspect, Some(RoomStatus::VacantClean)) => Some(RoomStatus::Inspected),
            _ => None,
        };
        if let Some(status) = target {
            let number = updated.room.clone();
            let room = handle.call(deps.call_timeout, |reply| PropertyMsg::SetRoomStatus { number, status, dates: None, reply }).await??;
            room_status = Some(room.status);
        }
    }
    Ok(Moved { room_status: room_status.or_else(current), task: updated })
}
