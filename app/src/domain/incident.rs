//! Incidents and the alert quota, as shared with the browser.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How bad an incident is (PagerDuty's Events API levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Down or about to be.
    Critical,
    /// Broken for some.
    Error,
    /// Degraded or at risk.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// Every severity, worst first.
    pub const ALL: [Severity; 4] = [Severity::Critical, Severity::Error, Severity::Warning, Severity::Info];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Reads the severities monitoring tools use: PagerDuty's four, and the common
    /// synonyms of Alertmanager rules and Grafana (`page`, `high`, `warn`, ...).
    pub fn from_label(label: &str) -> Option<Severity> {
        match label.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "page" | "p1" | "emergency" | "fatal" | "high" | "disaster" => {
                Some(Severity::Critical)
            }
            "error" | "err" | "major" | "p2" => Some(Severity::Error),
            "warning" | "warn" | "minor" | "medium" | "p3" | "average" => Some(Severity::Warning),
            "info" | "informational" | "low" | "p4" | "p5" | "none" | "notice" | "debug" => Some(Severity::Info),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s).ok_or("must be critical, error, warning or info")
    }
}

/// Where an incident is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Open, nobody on it yet.
    Triggered,
    /// Someone is on it.
    Acknowledged,
    /// Over.
    Resolved,
}

impl IncidentStatus {
    /// Every status, in the order of an incident's life.
    pub const ALL: [IncidentStatus; 3] =
        [IncidentStatus::Triggered, IncidentStatus::Acknowledged, IncidentStatus::Resolved];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Triggered => "triggered",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentStatus {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IncidentStatus::ALL.into_iter().find(|v| v.as_str() == s).ok_or("must be triggered, acknowledged or resolved")
    }
}

/// Which incidents to list. Empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFilter {
    /// Only this status.
    pub status: Option<IncidentStatus>,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Only this service (exact).
    pub service: Option<String>,
    /// Only this source (`pagerduty`, `events_api`, `alertmanager`, `grafana`, `rest`).
    pub source: Option<String>,
    /// Words in the title (case-insensitive).
    pub text: Option<String>,
}

/// An incident as the list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: Uuid,
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub service: Option<String>,
    pub source: String,
    /// Alerts that joined it.
    pub occurrences: i32,
    pub first_seen_at: DateTime<Utc>,
    /// Its last activity: the list is sorted by it, newest first.
    pub last_seen_at: DateTime<Utc>,
    /// Opened when the team's alert quota was used up: stored, not analysed.
    pub over_quota: bool,
}

/// Where a listing continues: after the incident with this last activity and id (keyset
/// pagination, so that incidents arriving meanwhile neither repeat nor hide others).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentCursor {
    pub last_seen_at: DateTime<Utc>,
    pub id: Uuid,
}

/// Incidents per status, for the filter bar (under the other filters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub triggered: i64,
    pub acknowledged: i64,
    pub resolved: i64,
}

/// One page of the incident list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentPage {
    pub incidents: Vec<IncidentSummary>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<IncidentCursor>,
    pub counts: StatusCounts,
}

/// How much of its alert quota a team has used in the current period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The plan's name.
    pub plan: String,
    /// Alerts granted analysis this period.
    pub used: u32,
    /// The plan's limit; `None` for unlimited.
    pub limit: Option<u32>,
    /// The first day of the next period (UTC).
    pub resets_on: NaiveDate,
}

impl Usage {
    /// Whether the quota is used up.
    pub fn exhausted(&self) -> bool {
        self.limit.is_some_and(|limit| self.used >= limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitoring_tools_severities_are_understood() {
        assert_eq!(Severity::from_label("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::from_label("page"), Some(Severity::Critical));
        assert_eq!(Severity::from_label("warn"), Some(Severity::Warning));
        assert_eq!(Severity::from_label("banana"), None);
        assert_eq!("error".parse::<Severity>(), Ok(Severity::Error));
    }

    #[test]
    fn statuses_read_back_what_they_store() {
        for status in IncidentStatus::ALL {
            assert_eq!(status.as_str().parse::<IncidentStatus>(), Ok(status));
        }
        assert!("open".parse::<IncidentStatus>().is_err());
    }
}
