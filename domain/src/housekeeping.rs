//! Housekeeping tasks and their lifecycle (pure rules, no I/O).

use crate::codes::{PropertyCode, RoomNumber};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Assigned,
    InProgress,
    Done,
    Inspected,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] =
        [TaskStatus::Open, TaskStatus::Assigned, TaskStatus::InProgress, TaskStatus::Done, TaskStatus::Inspected];

    pub fn as_str(&self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Assigned => "assigned",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Done => "done",
            TaskStatus::Inspected => "inspected",
        }
    }

    pub fn parse(s: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Still waiting for work (not done and not inspected).
    pub fn is_open(&self) -> bool {
        matches!(self, TaskStatus::Open | TaskStatus::Assigned | TaskStatus::InProgress)
    }
}

/// What can be done to a task (in a URL: its lower-case name, `parse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TaskAction {
    Assign,
    Start,
    Finish,
    Inspect,
}

impl TaskAction {
    pub fn parse(s: &str) -> Option<TaskAction> {
        match s {
            "assign" => Some(TaskAction::Assign),
            "start" => Some(TaskAction::Start),
            "finish" => Some(TaskAction::Finish),
            "inspect" => Some(TaskAction::Inspect),
            _ => None,
        }
    }

    /// The status after `self` is applied to a task in `from`, or `None` when
    /// the transition is refused: assign (open|assigned) → assigned, start
    /// (assigned) → in_progress, finish (in_progress) → done, inspect (done)
    /// → inspected.
    pub fn apply(&self, from: TaskStatus) -> Option<TaskStatus> {
        use TaskStatus::*;
        match (self, from) {
            (TaskAction::Assign, Open | Assigned) => Some(Assigned),
            (TaskAction::Start, Assigned) => Some(InProgress),
            (TaskAction::Finish, InProgress) => Some(Done),
            (TaskAction::Inspect, Done) => Some(Inspected),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HousekeepingTask {
    pub id: String,
    pub property: PropertyCode,
    pub room: RoomNumber,
    /// e.g. `clean`, `inspect`, `maintenance`.
    pub kind: String,
    pub status: TaskStatus,
    pub assignee: Option<String>,
    pub note: Option<String>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

#[cfg(test)]
mod tests {
    use super::TaskAction::*;
    use super::TaskStatus::{self, *};

    #[test]
    fn lifecycle() {
        assert_eq!(Assign.apply(Open), Some(Assigned));
        assert_eq!(Assign.apply(Assigned), Some(Assigned));
        assert_eq!(Start.apply(Assigned), Some(InProgress));
        assert_eq!(Finish.apply(InProgress), Some(Done));
        assert_eq!(Inspect.apply(Done), Some(Inspected));
        assert_eq!(Start.apply(Open), None);
        assert_eq!(Finish.apply(Assigned), None);
        assert_eq!(Inspect.apply(InProgress), None);
        assert_eq!(Assign.apply(InProgress), None);
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
        }
    }
}
