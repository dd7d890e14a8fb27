//! Housekeeping task routes: parse, one call to `service::housekeeping`
//! (where the rules and the write live), render.

use super::error::{ApiError, ApiResult};
#[allow(unused_imports)] // named in the #[utoipa::path] attributes
use super::openapi::ErrorBody;
use super::{property_for, ApiJson};
use crate::app::App;
use crate::auth::Caller;
use crate::service::housekeeping as tasks;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use jiff::Timestamp;
use saluran_domain::housekeeping::{HousekeepingTask, TaskStatus};
use saluran_domain::property::{Permission, RoomStatus};
use saluran_domain::PropertyCode;
use saluran_domain::RoomNumber;
use serde::{Deserialize, Serialize};

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

/// A housekeeping task as the task routes answer it. Fields in alphabetical
/// order: the body used to be a `json!` map (sorted keys), and clients see
/// the same bytes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskOut {
    assignee: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    id: String,
    kind: String,
    note: Option<String>,
    room: RoomNumber,
    status: TaskStatus,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<HousekeepingTask> for TaskOut {
    fn from(t: HousekeepingTask) -> Self {
        TaskOut {
            assignee: t.assignee,
            created_at: t.created_at,
            id: t.id,
            kind: t.kind,
            note: t.note,
            room: t.room,
            status: t.status,
            updated_at: t.updated_at,
        }
    }
}

/// A task after a move, with its room's status (null when the move left
/// the room alone). Its own struct, not `TaskOut` flattened: `room_status`
/// sits between `room` and `status`, where the sorted map put it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskMoved {
    assignee: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    id: String,
    kind: String,
    note: Option<String>,
    room: RoomNumber,
    room_status: Option<RoomStatus>,
    status: TaskStatus,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl TaskMoved {
    fn new(t: HousekeepingTask, room_status: Option<RoomStatus>) -> Self {
        TaskMoved {
            assignee: t.assignee,
            created_at: t.created_at,
            id: t.id,
            kind: t.kind,
            note: t.note,
            room: t.room,
            room_status,
            status: t.status,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskList {
    tasks: Vec<TaskOut>,
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
    let task = tasks::create(app.deps(), &h, tasks::NewTask { room: body.room, kind: body.kind, note: body.note }).await?;
    Ok((StatusCode::CREATED, Json(TaskOut::from(task))))
}

/// `GET …/tasks`: every task of the property, oldest first.
#[utoipa::path(get, path = "/api/v1/properties/{property}/tasks", tag = "housekeeping", operation_id = "list_tasks",
    summary = "Every housekeeping task of the property, oldest first",
    params(("property" = PropertyCode, Path, description = "Property code")),
    responses((status = 200, description = "The tasks", body = TaskList)))]
pub async fn list(State(app): State<App>, caller: Caller, Path(code): Path<String>) -> ApiResult<Json<TaskList>> {
    let h = property_for(&app, &caller, &code, Permission::UpdateRoomStatus).await?;
    let list = tasks::list(app.deps(), &h).await?;
    Ok(Json(TaskList { tasks: list.into_iter().map(TaskOut::from).collect() }))
}

/// `POST …/tasks/{id}/{assign|start|finish|inspect}` (`assign` takes
/// `{"assignee"}`) → 200, or 409 `invalid_transition`.
#[utoipa::path(post, path = "/api/v1/properties/{property}/tasks/{id}/{action}", tag = "housekeeping", operation_id = "move_task",
    summary = "Move a task: assign (open|assigned → assigned, takes assignee), start (assigned → in_progress), finish (in_progress → \
        done; a clean task makes a vacant dirty room vacant clean), inspect (done → inspected; a clean task makes a vacant clean room inspected)",
    params(("property" = PropertyCode, Path, description = "Property code"), ("id" = String, Path, description = "Task id"), ("action" = saluran_domain::housekeeping::TaskAction, Path, description = "What to do")),
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
) -> ApiResult<Json<TaskMoved>> {
    let h = property_for(&app, &caller, &code, Permission::UpdateRoomStatus).await?;
    let act = tasks::parse_action(&action)?;
    let body: TaskBody = if body.iter().all(u8::is_ascii_whitespace) {
        TaskBody::default()
    } else {
        // JSON `null` is no body too: the API document's optional body allows it.
        serde_json::from_slice::<Option<TaskBody>>(&body)
            .map(Option::unwrap_or_default)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?
    };
    let change = tasks::TaskChange { assignee: body.assignee, note: body.note };
    let moved = tasks::act(app.deps(), &h, &id, act, &action, change).await?;
    Ok(Json(TaskMoved::new(moved.task, moved.room_status)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use saluran_domain::PropertyCode;
    use serde_json::json;

    /// What the handlers wrote before the bodies had a type.
    fn task_json(t: &HousekeepingTask) -> serde_json::Value {
        json!({
            "id": t.id, "room": t.room, "kind": t.kind, "status": t.status.as_str(), "assignee": t.assignee,
            "note": t.note, "created_at": t.created_at.to_string(), "updated_at": t.updated_at.to_string(),
        })
    }

    fn sample(status: TaskStatus, filled: bool) -> HousekeepingTask {
        HousekeepingTask {
            id: "t-1".into(),
            property: PropertyCode::parse("BALI1").unwrap(),
            room: RoomNumber::parse("101").unwrap(),
            kind: "clean".into(),
            status,
            assignee: filled.then(|| "Made".into()),
            note: filled.then(|| "towels \"extra\"".into()),
            created_at: "2026-12-01T10:00:00Z".parse().unwrap(),
            updated_at: "2026-12-01T10:00:00.5Z".parse().unwrap(),
        }
    }

    /// The action names the document lists are the ones the route parses.
    #[test]
    fn the_documented_task_actions_are_the_parsed_ones() {
        let doc = super::super::openapi::document();
        let names = doc["components"]["schemas"]["TaskAction"]["enum"].as_array().cloned().unwrap_or_default();
        assert_eq!(names.len(), 4, "{names:?}");
        for name in names {
            let name = name.as_str().unwrap();
            assert!(saluran_domain::housekeeping::TaskAction::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn task_bodies_are_byte_for_byte_what_they_were() {
        for status in TaskStatus::ALL {
            for filled in [false, true] {
                let t = sample(status, filled);
                assert_eq!(serde_json::to_string(&TaskOut::from(t.clone())).unwrap(), task_json(&t).to_string());
                let list = json!({"tasks": [task_json(&t), task_json(&t)]}).to_string();
                let typed = TaskList { tasks: vec![TaskOut::from(t.clone()), TaskOut::from(t.clone())] };
                assert_eq!(serde_json::to_string(&typed).unwrap(), list);
                for room_status in [None, Some(RoomStatus::VacantClean), Some(RoomStatus::Inspected)] {
                    let mut old = task_json(&t);
                    old["room_status"] = json!(room_status.map(|s| s.as_str()));
                    assert_eq!(serde_json::to_string(&TaskMoved::new(t.clone(), room_status)).unwrap(), old.to_string());
                }
            }
        }
    }
}
