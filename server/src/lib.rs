//! The DreamOps server: start-up, the HTTP edge that is not Leptos (probes, metrics),
//! the background work (job workers, periodic tasks), telemetry, the embedded database
//! and graceful shutdown. `main.rs` only wires these.

pub mod embedded_postgres;
pub mod http;
pub mod runtime;
pub mod startup;
pub mod telemetry;
