//! Server functions: thin wrappers that authenticate, authorise, call
//! [`crate::server`] and return its result. Each has a fixed endpoint under `/api`.

pub mod accounts;
pub mod analysis;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod clusters;
pub mod github;
pub mod incidents;
pub mod integrations;
pub mod invitations;
pub mod members;
pub mod notion;
pub mod postmortems;
pub mod remediation;
pub mod runbooks;
pub mod status;
pub mod webhooks;
