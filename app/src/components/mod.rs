//! Reusable pieces of the interface, used by more than one page.

pub mod layout;
pub mod status_widget;
