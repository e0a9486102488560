//! Who is asking: passwords, sessions, sign-in throttling, API keys, and the
//! per-request check of identity and permission that every server function starts with.

pub mod context;
pub mod password;
pub mod session;
pub mod throttle;
