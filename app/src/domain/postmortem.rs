//! Post-mortems as their pages show them: one per resolved incident, in Markdown, with
//! who edited it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A post-mortem in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostmortemSummary {
    pub id: Uuid,
    pub incident_id: Uuid,
    /// Its first heading, else the incident's title.
    pub title: String,
    /// Saves so far, from 1 (the draft).
    pub version: i32,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// A post-mortem with its text and its editors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postmortem {
    pub summary: PostmortemSummary,
    /// Markdown.
    pub body: String,
    /// Who edited it (the draft's author first), with their last edit.
    pub editors: Vec<(String, DateTime<Utc>)>,
    /// The Notion page it was last exported as.
    pub notion_url: Option<String>,
}
