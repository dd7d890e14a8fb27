//! OTA connections: connect one (the row first, then its Channel actor) and
//! read its sync status (the running actor's, else the stored one).
//!
//! A new connection is a setup row no actor owns yet: `connect` writes it
//! to the store, then tells the Property actor (`StartChannel`), which
//! starts the Channel actor that owns it from then on. A crash between the
//! two leaves a stored connection that the next activation starts.

use saluran_actors::channel::ChannelMsg;
use saluran_actors::{ActorError, Deps, PropertyHandle, PropertyMsg};
use saluran_domain::channel::{ChannelConfig, SyncStatus};
use saluran_domain::store::StoreError;
use saluran_domain::ChannelCode;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("channel {0} not found")]
    NotFound(ChannelCode),
    /// Includes a connection with this code existing already.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Actor(#[from] ActorError),
}

/// Stores a validated connection and starts it.
pub async fn connect(deps: &Deps, handle: &PropertyHandle, channel: ChannelConfig) -> Result<(), ChannelError> {
    deps.store.create_channel(&channel).await?;
    handle.call(deps.call_timeout, |reply| PropertyMsg::StartChannel { config: Box::new(channel), reply }).await??;
    Ok(())
}

/// A connection and its sync status.
pub async fn status(deps: &Deps, handle: &PropertyHandle, channel: &ChannelCode) -> Result<(ChannelConfig, SyncStatus), ChannelError> {
    let config = deps
        .store
        .list_channels(handle.code())
        .await?
        .into_iter()
        .find(|c| &c.code == channel)
        .ok_or_else(|| ChannelError::NotFound(channel.clone()))?;
    let actor = handle.call(deps.call_timeout, |reply| PropertyMsg::ChannelStatus { code: channel.clone(), reply }).await?;
    let live = match actor {
        Some(a) => saluran_actors::handle::answer(a.call(|reply| ChannelMsg::Status { reply }, Some(deps.call_timeout)).await).ok(),
        None => None,
    };
    let status = match live {
        Some(s) => Some(s),
        None => deps.store.load_sync_status(handle.code(), channel).await?,
    };
    Ok((config, status.unwrap_or_default()))
}
