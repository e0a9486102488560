//! Server functions: thin wrappers that authenticate, call [`crate::server`] and map errors.

pub mod status;
