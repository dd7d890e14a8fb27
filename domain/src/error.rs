use crate::stay::StayRefusal;
use thiserror::Error;

/// A rule of the domain was broken by the input. Each variant maps to one
/// stable, machine-readable `code` that the HTTP layer returns.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("date range is invalid: {0}")]
    InvalidDateRange(String),
    #[error("date {0} is in the past for this property")]
    DateInPast(String),
    #[error("date {0} is beyond the {1}-day horizon")]
    BeyondHorizon(String, i64),
    #[error("unknown room type {0}")]
    UnknownRoomType(String),
    #[error("unknown rate plan {0}")]
    UnknownRatePlan(String),
    #[error("rate plan {0} is derived: its rate follows its parent")]
    DerivedRate(String),
    #[error("not available: {0}")]
    NotAvailable(String),
    #[error("a room cannot go from {0} to {1}")]
    InvalidTransition(String, String),
    /// A front-desk action the reservation's state does not allow.
    #[error("{0}")]
    Stay(StayRefusal),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Invalid { field: field.into(), message: message.into() }
    }

    /// The stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Invalid { .. } => "invalid_field",
            DomainError::InvalidDateRange(_) => "invalid_date_range",
            DomainError::DateInPast(_) => "date_in_past",
            DomainError::BeyondHorizon(..) => "beyond_horizon",
            DomainError::UnknownRoomType(_) => "unknown_room_type",
            DomainError::UnknownRatePlan(_) => "unknown_rate_plan",
            DomainError::DerivedRate(_) => "derived_rate_plan_rate",
            DomainError::NotAvailable(_) => "not_available",
            DomainError::InvalidTransition(..) => "invalid_transition",
            DomainError::Stay(r) => r.code(),
        }
    }
}
