//! Hub: the root supervisor. Activates properties on demand (concurrently,
//! one activation per property at a time) and watches them fail.

use crate::deps::Deps;
use crate::error::ActorError;
use crate::handle::{answer, PropertyHandle, Registry};
use crate::property::{PropertyActor, PropertyArgs};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use saluran_domain::PropertyCode;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub enum HubMsg {
    Activate { code: PropertyCode, reply: RpcReplyPort<Result<PropertyHandle, ActorError>> },
    Activated { code: PropertyCode, result: Result<(), ActorError> },
}

pub struct HubArgs {
    pub deps: Deps,
    pub registry: Registry,
}

pub struct HubState {
    deps: Deps,
    registry: Registry,
    prefix: String,
    waiting: HashMap<PropertyCode, Vec<RpcReplyPort<Result<PropertyHandle, ActorError>>>>,
    quarantined: HashMap<String, Instant>,
}

pub struct Hub;

static HUB_INSTANCES: AtomicU64 = AtomicU64::new(0);

impl Hub {
    /// Starts a hub; returns it with the registry of active properties.
    pub async fn start(deps: Deps) -> Result<(ActorRef<HubMsg>, Registry, tokio::task::JoinHandle<()>), ActorError> {
        let registry = Registry::default();
        let (hub, join) = Actor::spawn(None, Hub, HubArgs { deps, registry: registry.clone() })
            .await
            .map_err(|e| ActorError::Unavailable(format!("hub did not start: {e}")))?;
        Ok((hub, registry, join))
    }

    /// The active property, activating it first if need be.
    pub async fn property(
        hub: &ActorRef<HubMsg>,
        registry: &Registry,
        code: &PropertyCode,
        timeout: Duration,
    ) -> Result<PropertyHandle, ActorError> {
        if let Some(h) = registry.get(code.as_str()) {
            h.touch();
            return Ok(h);
        }
        let h = answer(hub.call(|reply| HubMsg::Activate { code: code.clone(), reply }, Some(timeout)).await)??;
        h.touch();
        Ok(h)
    }
}

async fn activate(deps: Deps, registry: Registry, hub: ActorCell, prefix: String, code: PropertyCode) -> Result<(), ActorError> {
    let config = deps.store.load_config(&code).await?.ok_or_else(|| ActorError::PropertyNotFound(code.to_string()))?;
    let name = PropertyActor::actor_name(&prefix, &code);
    // A passivating instance may still hold the name for a moment.
    for attempt in 0..20 {
        let args = PropertyArgs { config: config.clone(), deps: deps.clone(), registry: registry.clone(), name_prefix: prefix.clone() };
        match Actor::spawn_linked(Some(name.clone()), PropertyActor, args, hub.clone()).await {
            Ok(_) => return Ok(()),
            Err(ractor::SpawnErr::ActorAlreadyRegistered(_)) if attempt < 19 => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => return Err(ActorError::Unavailable(format!("property {code} did not start: {e}"))),
        }
    }
    Err(ActorError::Unavailable(format!("property {code} did not start")))
}

impl Actor for Hub {
    type Msg = HubMsg;
    type State = HubState;
    type Arguments = HubArgs;

    async fn pre_start(&self, _myself: ActorRef<HubMsg>, args: HubArgs) -> Result<HubState, ActorProcessingErr> {
        let n = HUB_INSTANCES.fetch_add(1, Ordering::Relaxed);
        Ok(HubState {
            deps: args.deps,
            registry: args.registry,
            prefix: format!("hub{n}/"),
            waiting: HashMap::new(),
            quarantined: HashMap::new(),
        })
    }

    async fn post_stop(&self, myself: ActorRef<HubMsg>, _state: &mut HubState) -> Result<(), ActorProcessingErr> {
        // Drain: every property stops its shards, which commit what they hold.
        let _ = myself.stop_children_and_wait(Some("shutdown".into()), Some(Duration::from_secs(20))).await;
        Ok(())
    }

    async fn handle(&self, myself: ActorRef<HubMsg>, msg: HubMsg, state: &mut HubState) -> Result<(), ActorProcessingErr> {
        match msg {
            HubMsg::Activate { code, reply } => {
                if let Some(h) = state.registry.get(code.as_str()) {
                    let _ = reply.send(Ok(h));
                    return Ok(());
                }
                if let Some(since) = state.quarantined.get(code.as_str()) {
                    if since.elapsed() < state.deps.restart.window {
                        let _ = reply.send(Err(ActorError::Unavailable(format!("property {code} keeps failing; retry later"))));
                        return Ok(());
                    }
                    state.quarantined.remove(code.as_str());
                }
                let first = !state.waiting.contains_key(&code);
                state.waiting.entry(code.clone()).or_default().push(reply);
                if first {
                    let (deps, registry, cell, prefix) =
                        (state.deps.clone(), state.registry.clone(), myself.get_cell(), state.prefix.clone());
                    let me = myself.clone();
                    tokio::spawn(async move {
                        let result = activate(deps, registry, cell, prefix, code.clone()).await;
                        let _ = me.send_message(HubMsg::Activated { code, result });
                    });
                }
            }
            HubMsg::Activated { code, result } => {
                let waiters = state.waiting.remove(&code).unwrap_or_default();
                let answer = match result {
                    Ok(()) => state
                        .registry
                        .get(code.as_str())
                        .ok_or_else(|| ActorError::Unavailable(format!("property {code} stopped while starting"))),
                    Err(e) => Err(e),
                };
                for w in waiters {
                    let _ = w.send(answer.clone());
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<HubMsg>,
        evt: SupervisionEvent,
        state: &mut HubState,
    ) -> Result<(), ActorProcessingErr> {
        // Properties come back lazily, on their next request; one that keeps
        // failing is refused for a while instead of taking the hub down.
        if let SupervisionEvent::ActorFailed(cell, err) = evt {
            let name = cell.get_name().unwrap_or_default();
            let code = name.rsplit("property:").next().unwrap_or_default().to_owned();
            tracing::error!(property = %code, error = %err, "property actor failed");
            metrics::counter!("saluran_actor_restarts_total", "actor" => "property").increment(1);
            for h in state.registry.handles() {
                if h.actor().get_id() == cell.get_id() {
                    state.registry.remove(&h);
                }
            }
            // The property has already spent its own restart budget on its
            // shards: keep it out for one window rather than spin.
            tracing::error!(property = %code, window = ?state.deps.restart.window, "property quarantined");
            state.quarantined.insert(code, Instant::now());
        }
        Ok(())
    }
}
