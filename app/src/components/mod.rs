//! Reusable pieces of the interface, used by more than one page.

pub mod forms;
pub mod layout;
pub mod status_widget;
pub mod usage_card;
pub mod viewer;
