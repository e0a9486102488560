//! Pages, one module each. `crate::App` maps paths to them.

pub mod auth;
pub mod billing;
pub mod dashboard;
pub mod incident;
pub mod incidents;
pub mod invitation;
pub mod landing;
pub mod not_found;
pub mod pricing;
pub mod settings;
pub mod status;
