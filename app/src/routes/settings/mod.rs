//! `/settings/...`: the team's members, alert sources (and GitHub), clusters, API keys,
//! audit log and billing, and the user's account.

pub mod account;
pub mod ai;
pub mod api_keys;
pub mod audit_log;
pub mod cluster;
pub mod clusters;
pub mod github;
pub mod integrations;
pub mod members;
pub mod notion;
pub mod webhooks;
