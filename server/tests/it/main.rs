//! Integration tests: the real router and server against real PostgreSQL. One test
//! binary (not one per file) so the app is linked once.

mod accounts;
mod agent;
mod billing;
mod bundle;
mod clusters;
mod deletion;
mod demo_cluster;
mod egress;
mod embedded;
mod incidents;
mod ingest;
mod kubectl;
mod live;
mod llm;
mod mail;
mod notifications;
mod oidc_provider;
mod outbound;
mod pages;
mod phonepe;
mod postmortems;
mod probes;
mod production;
mod public_api;
mod remediation;
mod rules;
mod runbooks;
mod smtp_server;
mod sso;
mod support;
mod teams;
mod tenancy;
mod two_factor;
mod verification;
mod webhooks;
