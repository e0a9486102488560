//! The back end behind the server functions: configuration, shared state and the database.
//! Compiled into the server only.

pub mod accounts;
pub mod agent;
pub mod alert_subject;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod cluster_client;
pub mod clusters;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod deletion;
pub mod demo_cluster;
pub mod egress;
pub mod export;
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
pub mod github;
pub mod incidents;
pub mod ingest;
pub mod invitations;
pub mod issue_writer;
pub mod jobs;
pub mod live;
pub mod mail;
pub mod members;
pub mod notifications;
pub mod notion;
pub mod outbound;
pub mod postmortems;
pub mod quota;
pub mod rate_limit;
pub mod remediation;
pub mod runbooks;
pub mod secrets;
pub mod sso;
pub mod state;
pub mod status;
pub mod token;
pub mod webhook_signature;
pub mod webhooks;
