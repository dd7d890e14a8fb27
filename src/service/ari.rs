//! ARI batches: the Property actor validates a batch whole, records it as
//! an intent and has each room type's shard apply its part (each commits,
//! then publishes); a crash in between is finished on the next activation.

use saluran_actors::property::AriOutcome;
use saluran_actors::{ActorError, Deps, PropertyHandle, PropertyMsg};
use saluran_domain::ari::AriUpdate;

#[derive(Debug, thiserror::Error)]
pub enum AriError {
    /// A line refused (the whole batch is), or no answer.
    #[error(transparent)]
    Actor(#[from] ActorError),
}

/// Applies a parsed batch, all of it or none.
pub async fn apply(deps: &Deps, handle: &PropertyHandle, updates: Vec<AriUpdate>) -> Result<AriOutcome, AriError> {
    Ok(handle.call(deps.call_timeout, |reply| PropertyMsg::ApplyAri { updates, reply }).await??)
}
