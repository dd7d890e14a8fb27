//! The saluran binary's library: configuration, HTTP routes, store adapters
//! and the wiring between them and the actors.

pub mod store;
