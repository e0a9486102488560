//! Plain data types shared by the server and the browser.

pub mod account;
pub mod analysis;
pub mod audit;
pub mod billing;
pub mod cluster;
pub mod github;
pub mod incident;
pub mod integration;
pub mod live;
pub mod notion;
pub mod postmortem;
pub mod remediation;
pub mod runbook;
pub mod status;
pub mod webhook;
