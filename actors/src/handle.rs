//! What the HTTP layer holds on to: an active property's actor and the
//! read-only views its shards publish.

use crate::error::ActorError;
use crate::property::PropertyMsg;
use crate::shard::ShardMsg;
use parking_lot::RwLock;
use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};
use saluran_domain::calendar::RoomTypeCalendar;
use saluran_domain::property::PropertyConfig;
use saluran_domain::{PropertyCode, RoomTypeCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// A room type's committed calendar. Written only by its shard, after a
/// commit; read by anyone.
pub type CalendarView = Arc<RwLock<RoomTypeCalendar>>;

pub struct ShardSlot {
    /// `None` while the shard is being restarted.
    pub actor: Option<ActorRef<ShardMsg>>,
    pub view: CalendarView,
    /// The shard's bounded ingress: one permit per request sent to it and
    /// not yet answered (ractor's mailbox is unbounded; this is the bound).
    /// A new one with each shard actor, so permits of requests dropped
    /// with a failed shard are never missed.
    ingress: Arc<Semaphore>,
}

pub struct PropertyShared {
    pub code: PropertyCode,
    pub actor: ActorRef<PropertyMsg>,
    config: RwLock<Arc<PropertyConfig>>,
    shards: RwLock<HashMap<RoomTypeCode, ShardSlot>>,
    last_used_ms: AtomicI64,
    /// Requests one shard holds at most (queued and being committed).
    ingress_limit: usize,
}

/// A cheap, cloneable reference to an active property.
#[derive(Clone)]
pub struct PropertyHandle(Arc<PropertyShared>);

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl PropertyHandle {
    /// `ingress_limit`: requests one shard holds at most (`Deps::
    /// shard_ingress_limit`).
    pub fn new(code: PropertyCode, actor: ActorRef<PropertyMsg>, config: Arc<PropertyConfig>, ingress_limit: usize) -> Self {
        PropertyHandle(Arc::new(PropertyShared {
            code,
            actor,
            config: RwLock::new(config),
            shards: RwLock::new(HashMap::new()),
            last_used_ms: AtomicI64::new(now_ms()),
            ingress_limit: ingress_limit.max(1),
        }))
    }
    pub fn code(&self) -> &PropertyCode {
        &self.0.code
    }
    pub fn actor(&self) -> &ActorRef<PropertyMsg> {
        &self.0.actor
    }
    pub fn config(&self) -> Arc<PropertyConfig> {
        self.0.config.read().clone()
    }
    pub(crate) fn set_config(&self, c: Arc<PropertyConfig>) {
        *self.0.config.write() = c;
    }
    pub fn touch(&self) {
        self.0.last_used_ms.store(now_ms(), Ordering::Relaxed);
    }
    pub fn idle_for(&self) -> Duration {
        let ms = now_ms() - self.0.last_used_ms.load(Ordering::Relaxed);
        Duration::from_millis(ms.max(0) as u64)
    }
    pub fn calendar(&self, room_type: &str) -> Option<CalendarView> {
        self.0.shards.read().get(room_type).map(|s| s.view.clone())
    }
    /// Every room type's calendar view, in the config's room type order.
    pub fn calendars(&self) -> Vec<CalendarView> {
        let cfg = self.config();
        let shards = self.0.shards.read();
        cfg.room_types.iter().filter_map(|rt| shards.get(rt.code.as_str()).map(|s| s.view.clone())).collect()
    }
    pub fn shard(&self, room_type: &str) -> Option<ActorRef<ShardMsg>> {
        self.0.shards.read().get(room_type).and_then(|s| s.actor.clone())
    }
    pub(crate) fn set_shard(&self, room_type: RoomTypeCode, actor: Option<ActorRef<ShardMsg>>, view: CalendarView) {
        let ingress = Arc::new(Semaphore::new(self.0.ingress_limit));
        self.0.shards.write().insert(room_type, ShardSlot { actor, view, ingress });
    }
    /// Requests sent to the room type's shard and not yet answered.
    pub fn shard_in_flight(&self, room_type: &str) -> Option<usize> {
        let shards = self.0.shards.read();
        shards.get(room_type).map(|s| self.0.ingress_limit.saturating_sub(s.ingress.available_permits()))
    }
    pub(crate) fn clear_shard_actor(&self, room_type: &str) {
        if let Some(s) = self.0.shards.write().get_mut(room_type) {
            s.actor = None;
        }
    }
    pub(crate) fn shard_view(&self, room_type: &str) -> Option<CalendarView> {
        self.calendar(room_type)
    }
    pub fn same_actor(&self, other: &PropertyHandle) -> bool {
        self.0.actor.get_id() == other.0.actor.get_id()
    }

    /// Sends a request to a shard and waits for its answer.
    pub async fn call_shard<T: Send + 'static>(
        &self,
        room_type: &str,
        timeout: Duration,
        build: impl FnOnce(RpcReplyPort<T>) -> ShardMsg,
    ) -> Result<T, ActorError> {
        self.touch();
        let (shard, ingress) = {
            let shards = self.0.shards.read();
            let slot = shards.get(room_type);
            let actor = slot.and_then(|s| s.actor.clone());
            match (actor, slot) {
                (Some(actor), Some(slot)) => (actor, slot.ingress.clone()),
                _ => return Err(ActorError::Unavailable(format!("inventory of {room_type} is restarting"))),
            }
        };
        // Refused at once when the shard holds its limit: the caller backs
        // off (503, Retry-After) instead of the mailbox growing without end.
        let permit = ingress.try_acquire_owned().map_err(|_| {
            metrics::counter!("saluran_shard_overloaded_total").increment(1);
            ActorError::Overloaded(format!("the inventory of {room_type} is busy ({} requests waiting)", self.0.ingress_limit))
        })?;
        answer(shard.call(|reply| ShardMsg::Admitted { msg: Box::new(build(reply)), permit }, Some(timeout)).await)
    }

    /// Sends a request to the property actor and waits for its answer.
    pub async fn call<T: Send + 'static>(
        &self,
        timeout: Duration,
        build: impl FnOnce(RpcReplyPort<T>) -> PropertyMsg,
    ) -> Result<T, ActorError> {
        self.touch();
        answer(self.0.actor.call(build, Some(timeout)).await)
    }
}

pub fn answer<T, M>(r: Result<CallResult<T>, ractor::MessagingErr<M>>) -> Result<T, ActorError> {
    match r {
        Ok(CallResult::Success(v)) => Ok(v),
        Ok(CallResult::Timeout) => Err(ActorError::Unavailable("the actor did not answer in time".into())),
        Ok(CallResult::SenderError) => Err(ActorError::Unavailable("the actor stopped before answering".into())),
        Err(_) => Err(ActorError::Unavailable("the actor is not running".into())),
    }
}

/// Active properties, for lookups without a message to the Hub.
#[derive(Clone, Default)]
pub struct Registry(Arc<RwLock<HashMap<PropertyCode, PropertyHandle>>>);

impl Registry {
    pub fn get(&self, code: &str) -> Option<PropertyHandle> {
        self.0.read().get(code).cloned()
    }
    pub(crate) fn insert(&self, h: PropertyHandle) {
        self.0.write().insert(h.code().clone(), h);
    }
    /// Removes the entry only if it still belongs to `h`'s actor (a newer
    /// activation may already have replaced it).
    pub(crate) fn remove(&self, h: &PropertyHandle) {
        let mut m = self.0.write();
        if m.get(h.code().as_str()).is_some_and(|cur| cur.same_actor(h)) {
            m.remove(h.code().as_str());
        }
    }
    pub fn active_count(&self) -> usize {
        self.0.read().len()
    }
    pub fn handles(&self) -> Vec<PropertyHandle> {
        self.0.read().values().cloned().collect()
    }
}
