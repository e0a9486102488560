//! Notion as the integrations page shows it: the connected workspace (never the token),
//! the database runbooks are imported from and how its last sync went, and the page
//! post-mortems are exported under.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The team's Notion settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotionSettings {
    /// "DreamOps in Acme": the integration and its workspace; `None` when Notion is not
    /// connected.
    pub workspace: Option<String>,
    /// The database runbooks are imported from (a Notion id).
    pub runbooks_database: Option<String>,
    /// The page post-mortems are exported under (a Notion id).
    pub postmortems_page: Option<String>,
    /// When the runbooks were last synced, how many there are, and what went wrong then.
    pub synced_at: Option<DateTime<Utc>>,
    pub synced_runbooks: i32,
    pub sync_error: Option<String>,
}
