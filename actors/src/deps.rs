use crate::channel::{BookingSink, ChannelFactory};
use crate::restart::RestartPolicy;
use saluran_domain::ports::{Clock, Publisher};
use saluran_domain::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// What every actor needs from the outside world.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub publisher: Arc<dyn Publisher>,
    pub restart: RestartPolicy,
    /// A property with no request for this long is passivated.
    pub idle_timeout: Duration,
    /// How many queued writes a shard commits in one transaction at most.
    pub max_group_commit: usize,
    /// Requests one shard holds at most (sent and not yet answered); past
    /// it callers get `ActorError::Overloaded` at once.
    pub shard_ingress_limit: usize,
    /// How long a caller waits for an actor's reply.
    pub call_timeout: Duration,
    /// Builds channel connections; `None`: channels are not run (tools).
    pub channels: Option<Arc<dyn ChannelFactory>>,
    /// Close a date (stop-sell) once a booking leaves this many rooms or
    /// fewer; `None`: only overbookings close dates automatically.
    pub auto_stop_sell_at: Option<i32>,
    /// Where pulled bookings go (the binary's booking service); `None`:
    /// pulled bookings are not fetched.
    pub booking_sink: Option<Arc<dyn BookingSink>>,
}

impl Deps {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, publisher: Arc<dyn Publisher>) -> Self {
        Deps {
            store,
            clock,
            publisher,
            restart: RestartPolicy::default(),
            idle_timeout: Duration::from_secs(15 * 60),
            max_group_commit: 256,
            shard_ingress_limit: 4096,
            call_timeout: Duration::from_secs(10),
            channels: None,
            auto_stop_sell_at: None,
            booking_sink: None,
        }
    }
}
