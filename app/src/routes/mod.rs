//! Pages, one module each. `crate::App` maps paths to them.

pub mod landing;
pub mod not_found;
pub mod status;
