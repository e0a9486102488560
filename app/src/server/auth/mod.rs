//! Who is asking: passwords, sessions, sign-in throttling, API keys, and the
//! per-request check of identity and permission that every server function starts with.

pub mod context;
mod login_attempts;
pub mod password;
pub mod session;
pub mod throttle;
pub mod two_factor;
