//! Housekeeping tasks: create, list, and move through their lifecycle
//! (assign, start, finish, inspect). Finishing a `clean` task makes a vacant
//! dirty room vacant clean, inspecting it makes it inspected; both go through
//! `PropertyMsg::SetRoomStatus`, where the room status rules live.

use super::error::{ApiError, ApiResult};
#[allow(unused_imports)] // named in the #[utoipa::path] attributes
use super::openapi::{ErrorBody, TaskList, TaskMoved, TaskOut};
use super::{property_for, ApiJson};
use crate::app::App;
use crate::auth::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use saluran_actors::{PropertyHandle, PropertyMsg};
use saluran_domain::events::{DomainEvent, TaskUpdated};
use saluran_domain::housekeeping::{HousekeepingTask, TaskAction, TaskStatus};
use saluran_domain::ports::Notice;
use saluran_domain::property::{Permission, RoomStatus};
use saluran_domain::store::{Conflict, StoreError};
use saluran_domain::PropertyCode;
use saluran_domain::{DomainError, RoomNumber};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// A room of the property.
    #[schema(value_type = RoomNumber)]
    room: String,
    /// `clean` tasks move the room's status when finished / inspected.
    #[schema(min_length = 1, max_length = 32, pattern = "\\S")]
    kind: String,
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    note: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    /// With `assign`: who.
    #[schema(min_length = 1, max_length = 64, pattern = "\\S")]
    assignee: Option<String>,
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    note: Option<String>,
}

pub fn task_json(t: &HousekeepingTask) -> Value {
    json!({
        "id": t.id, "room": t.room, "kind": t.kind, "status": t.status.as_str(), "assignee": t.assignee,
        "note": t.note, "created_at": t.created_at.to_string(), "updated_at": t.updated_at.to_string(),
    })
}

fn text(field: &str, v: &str, max: usize) -> ApiResult<String> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(DomainError::invalid(field, format!("must be 1 to {max} characters")).into());
    }
    Ok(v.to_owned())
}

fn publish(app: &App, h: &PropertyHandle, task: &HousekeepingTask) {
    let event = DomainEvent::TaskUpdated(TaskUpdated::from(task));
    app.deps().publisher.publish(Notice::new(h.code().clone(), &event).into());
}

/// `POST …/tasks` `{"room","kind","note"?}` → 201 with the open task.
#[utoipa::path(post, path = "/api/v1/properties/{property}/tasks", tag = "housekeeping", operation_id = "create_task",
    summary = "Create a housekeeping task (open)",
    params(("property" = PropertyCode, Path, description = "Property code")),
    request_body = NewTask,
    responses((status = 201, description = "Created", body = TaskOut)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewTask>,
) -> ApiResult<impl IntoResponse> {
    let h = property_for(&app, &caller, &code, Permission::UpdateRoomStatus).await?;
    let room = RoomNumber::parse(body.room).map_err(|_| ApiError::from(DomainError::invalid("room", "unknown room")))?;
    if !h.config().rooms.iter().any(|r| r.number == room) {
        return Err(ApiError::from(DomainError::invalid("room", "unknown room")));
    }
    let kind = text("kind", &body.kind, 32)?;
    let note = body.note.as_deref().map(|n| text("note", n, 500)).transpose()?;
    let now = app.deps().clock.now();
    let task = HousekeepingTask {
        id: uuid::Uuid::now_v7().to_string(),
        property: h.code().clone(),
        room,
        kind,
        status: TaskStatus::Open,
        assignee: None,
        note,
        created_at: now,
        updated_at: now,
    };
    app.store().create_task(&task).await?;
    publish(&app, &h, &task);
    Ok((StatusCode::CREATED, Json(task_json(&task))))
}

/// `GET …/tasks`: every task of the property, oldest first.
#[utoipa::path(get, path = "/api/v1/properties/{property}/tasks", tag = "housekeeping", operation_id = "list_tasks",
    summary = "Every housekeeping task of the property, oldest first",
    params(("property" = PropertyCode, Path, description = "Property code")),
    responses((status = 200, description = "The tasks", body = TaskList)))]
pub async fn list(State(app): State<App>, caller: Caller, Path(code): Path<String>) -> ApiResult<Json<Value>> {
    let h = property_for(&app, &caller, &code, Permission::UpdateRoomStatus).await?;
    let tasks = app.store().list_tasks(h.code(), false).await?;
    Ok(Json(json!({"tasks": tasks.iter().map(task_json).collect::<Vec<_>>()})))
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TaskActionName {
    Assign,
    Start,
    Finish,
    Inspect,
}

fn refused(from: TaskStatus, action: &str) -> ApiError {
    DomainError::InvalidTransition(from.as_str().into(), action.into()).into()
}

/// `POST …/tasks/{id}/{assign|start|finish|inspect}` (`assign` takes
/// `{"assignee"}`) → 200, or 409 `invalid_transition`.
#[utoipa::path(post, path = "/api/v1/properties/{property}/tasks/{id}/{action}", tag = "housekeeping", operation_id = "move_task",
    summary = "Move a task: assign (open|assigned → assigned, takes assignee), start (assigned → in_progress), finish (in_progress → \
        done; a clean task makes a vacant dirty room vacant clean), inspect (done → inspected; a clean task makes a vacant clean room inspected)",
    params(("property" = PropertyCode, Path, description = "Property code"), ("id" = String, Path, description = "Task id"), ("action" = TaskActionName, Path, description = "What to do")),
    request_body(content = Option<TaskBody>, description = "Optional", content_type = "application/json"),
    responses(
        (status = 200, description = "Moved", body = TaskMoved),
        (status = 400, description = "The body is not JSON or does not fit (invalid_json)", body = ErrorBody),
        (status = 409, description = "invalid_transition", body = ErrorBody),
        (status = 422, description = "invalid_field (assignee, note)", body = ErrorBody),
    ))]
pub async fn act(
    State(app): State<App>,
    caller: Caller,
    Path((code, id, action)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let h = property_for(&app, &caller, &code, Permission::UpdateRoomStatus).await?;
    let Some(act) = TaskAction::parse(&action) else {
        return Err(ApiError::not_found(format!("task action {action}")));
    };
    let body: TaskBody = if body.iter().all(u8::is_ascii_whitespace) {
        TaskBody::default()
    } else {
        // JSON `null` is no body too: the API document's optional body allows it.
        serde_json::from_slice::<Option<TaskBody>>(&body)
            .map(Option::unwrap_or_default)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?
    };
    let task = app.store().find_task(h.code(), &id).await?.ok_or_else(|| ApiError::not_found(format!("task {id} not found")))?;
    let next = act.apply(task.status).ok_or_else(|| refused(task.status, &action))?;
    let assignee = match act {
        TaskAction::Assign => Some(text("assignee", body.assignee.as_deref().unwrap_or(""), 64)?),
        _ => task.assignee.clone(),
    };
    let note = match body.note.as_deref() {
        Some(n) => Some(text("note", n, 500)?),
        None => task.note.clone(),
    };
    let updated = HousekeepingTask { status: next, assignee, note, updated_at: app.deps().clock.now(), ..task.clone() };
    match app.store().update_task(&updated, task.status).await {
        Ok(()) => {}
        // Someone else moved the task meanwhile.
        Err(StoreError::Conflict(Conflict::TaskStatus { .. })) => return Err(refused(task.status, &action)),
        Err(e) => return Err(e.into()),
    }
    publish(&app, &h, &updated);
    let mut room_status = None;
    if updated.kind == "clean" {
        let current = h.config().rooms.iter().find(|r| r.number == updated.room).map(|r| r.status);
        let target = match (act, current) {
            (TaskAction::Finish, Some(RoomStatus::VacantDirty)) => Some(RoomStatus::VacantClean),
            (TaskAction::Inspect, Some(RoomStatus::VacantClean)) => Some(RoomStatus::Inspected),
            _ => None,
        };
        if let Some(status) = target {
            let number = updated.room.clone();
            let room = h.call(app.deps().call_timeout, |reply| PropertyMsg::SetRoomStatus { number, status, dates: None, reply }).await??;
            room_status = Some(room.status.as_str());
        }
    }
    let mut v = task_json(&updated);
    v["room_status"] =
        json!(room_status.or_else(|| { h.config().rooms.iter().find(|r| r.number == updated.room).map(|r| r.status.as_str()) }));
    Ok(Json(v))
}
