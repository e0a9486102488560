//! The DreamOps server: start-up, the HTTP edge that is not Leptos (probes, metrics),
//! telemetry, the embedded database and graceful shutdown. `main.rs` only wires these.

pub mod embedded_postgres;
pub mod http;
pub mod startup;
pub mod telemetry;
