//! The saluran binary's library: configuration, HTTP routes, store adapters
//! and the wiring between them and the actors.

pub mod app;
pub mod auth;
pub mod backplane;
pub mod channel_wiring;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod presets;
pub mod secrets;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod testing;
