//! `/settings/...`: the team's members, API keys and audit log, and the user's account.

pub mod account;
pub mod api_keys;
pub mod audit_log;
pub mod integrations;
pub mod members;
