//! The supervision tree (DESIGN §1):
//!
//! ```text
//! Hub (root supervisor)
//! └── Property            one per active property; passivates when idle
//!     └── InventoryShard  one per room type: the only writer of its calendar
//! ```
//!
//! Writers talk to a shard through its `ActorRef`; readers (availability
//! search, calendar reads) read the shard's published calendar through the
//! `PropertyHandle` without a message hop. A shard publishes a change to
//! readers only after the store has committed it.

mod arrivals;
pub mod channel;
pub mod deps;
pub mod error;
pub mod handle;
pub mod hub;
pub mod property;
pub mod restart;
pub mod shard;

pub use deps::Deps;
pub use error::{ActorError, ShardError};
pub use handle::{PropertyHandle, Registry};
pub use hub::{Hub, HubMsg};
pub use property::{out_of_order_range, OutOfOrderDates, PropertyActor, PropertyMsg};
pub use restart::RestartPolicy;
pub use shard::{InventoryShard, ShardMsg};
