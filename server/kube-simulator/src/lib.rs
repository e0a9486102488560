//! A simulated Kubernetes API server: the objects of one cluster (a [`World`]), the
//! controllers that act on them as Kubernetes' own would, the programs its demo images
//! run, and the REST API the kube crate and kubectl speak ([`serve`]) — a request in, a
//! response out, over whatever [`Store`] keeps the objects. It knows nothing of DreamOps:
//! the demo cluster (its tokens, storage in PostgreSQL, "simulate a failure") is built on
//! it in the app.

mod admission;
mod api;
mod autoscalers;
mod claims;
mod deployments;
mod endpoints;
mod jobs;
mod network;
pub mod patch;
mod pods;
pub mod programs;
pub mod quantity;
mod rbac;
pub mod selectors;
mod sets;
mod world;

pub use api::{ApiRequest, ApiResponse, Store, internal_error, routes, serve, status};
pub use world::{Key, World, text};
