//! The back end behind the server functions: configuration, shared state and the database.
//! Compiled into the server only.

pub mod config;
pub mod db;
pub mod state;
pub mod status;
