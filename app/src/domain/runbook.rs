//! Runbooks as their pages and the incident page show them: what a runbook says and
//! which incidents it is for, its versions (who changed what), and the runbook matched
//! to an incident with its steps and who ticked them off.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which incidents a runbook is for. Every criterion given must hold; a runbook with
/// none is matched to nothing (it is read from the list).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookMatch {
    /// Alert names (`alertname`), any of which matches; case does not matter.
    pub alert_names: Vec<String>,
    /// Services, any of which matches.
    pub services: Vec<String>,
    /// Labels (`name`, `value`) the alert must all carry.
    pub labels: Vec<(String, String)>,
}

impl RunbookMatch {
    /// Whether no criterion is given.
    pub fn is_empty(&self) -> bool {
        self.alert_names.is_empty() && self.services.is_empty() && self.labels.is_empty()
    }
}

/// A runbook in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookSummary {
    pub id: Uuid,
    pub title: String,
    pub matching: RunbookMatch,
    /// The current version, from 1.
    pub version: i32,
    /// Who made the current version (an email, or the source it was synced from).
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
    /// The Notion page it is imported from (and edited in), when it is.
    pub notion_url: Option<String>,
}

/// One version of a runbook, as its history lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookVersion {
    pub version: i32,
    pub title: String,
    pub body: String,
    pub edited_by: String,
    pub edited_at: DateTime<Utc>,
}

/// A runbook with its text and its history, newest version first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runbook {
    pub summary: RunbookSummary,
    /// Markdown.
    pub body: String,
    pub versions: Vec<RunbookVersion>,
}

/// One step of a runbook (a top-level item of its Markdown lists), on an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookStep {
    /// From 0, in the runbook's order.
    pub index: i32,
    pub text: String,
    /// Who ticked it off on this incident, and when.
    pub ticked: Option<(String, DateTime<Utc>)>,
}

/// The runbook matched to an incident: why, and its steps as ticked on the incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRunbook {
    pub summary: RunbookSummary,
    /// "alert name KubePodCrashLooping, service checkout".
    pub matched_by: String,
    pub body: String,
    pub steps: Vec<RunbookStep>,
}
