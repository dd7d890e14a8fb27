use saluran_domain::availability::Unavailable;
use saluran_domain::store::StoreError;
use saluran_domain::DomainError;
use thiserror::Error;

/// What a shard answers when it cannot do what it was asked.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ShardError {
    #[error("not available: {}", .0.as_str())]
    Unavailable(Unavailable),
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error("reservation {0} not found")]
    ReservationNotFound(String),
    /// Retryable: the store failed or another node kept winning the race.
    #[error("store: {0}")]
    Store(String),
}

/// A front-desk rule refused the change (409 at the HTTP edge).
impl From<saluran_domain::stay::StayRefusal> for ShardError {
    fn from(why: saluran_domain::stay::StayRefusal) -> Self {
        ShardError::Invalid(DomainError::Stay(why))
    }
}

impl From<StoreError> for ShardError {
    fn from(e: StoreError) -> Self {
        ShardError::Store(e.to_string())
    }
}

/// What callers of the actor tree see.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ActorError {
    #[error("property {0} not found")]
    PropertyNotFound(String),
    #[error("room type {0} not found")]
    RoomTypeNotFound(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error("already exists: {0}")]
    Conflict(String),
    /// Retryable: an actor was restarting, stopped or did not answer in time.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// Retryable: a shard holds as many requests as its bounded ingress
    /// allows; nothing was sent to it.
    #[error("overloaded: {0}")]
    Overloaded(String),
}

impl From<StoreError> for ActorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ActorError::Conflict(m.to_string()),
            StoreError::NotFound(m) => ActorError::PropertyNotFound(m),
            other => ActorError::Unavailable(other.to_string()),
        }
    }
}
