//! Reusable pieces of the interface, used by more than one page.

pub mod account_notices;
pub mod analysis;
pub mod charts;
pub mod forms;
pub mod github_issues;
pub mod incident;
pub mod layout;
pub mod live;
pub mod plans;
pub mod status_widget;
pub mod usage_card;
pub mod viewer;
