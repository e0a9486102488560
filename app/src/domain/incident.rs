//! Incidents and the alert quota, as shared with the browser.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The name DreamOps' agent acts under (in timelines, `resolved_by`, the audit log).
pub const AGENT_NAME: &str = "DreamOps agent";

/// Where alerts come from: the stored name and the name people know it by.
pub const SOURCES: [(&str, &str); 6] = [
    ("pagerduty", "PagerDuty"),
    ("events_api", "Events API"),
    ("alertmanager", "Alertmanager"),
    ("grafana", "Grafana"),
    ("rest", "REST API"),
    ("manual", "Reported by hand"),
];

/// How bad an incident is (PagerDuty's Events API levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IncidentFilter {
    /// Only this status.
    pub status: Option<IncidentStatus>,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Only this service (exact).
    pub service: Option<String>,
    /// Only this source (one of [`SOURCES`]).
    pub source: Option<String>,
    /// Words in the title (case-insensitive).
    pub text: Option<String>,
}

/// An incident as the list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IncidentCursor {
    pub last_seen_at: DateTime<Utc>,
    pub id: Uuid,
}

/// Incidents per status, for the filter bar (under the other filters). Each is
/// counted up to [`COUNT_CAP`] + 1: more than the cap reads "1,000+".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StatusCounts {
    pub triggered: i64,
    pub acknowledged: i64,
    pub resolved: i64,
}

/// Where status counts stop counting.
pub const COUNT_CAP: i64 = 1_000;

/// A status count as the filter bar shows it: "12", "1,000+".
pub fn count_label(count: i64) -> String {
    if count > COUNT_CAP { format!("{}+", thousands(COUNT_CAP)) } else { thousands(count) }
}

/// `1234` as "1,234".
pub fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0 { format!("-{out}") } else { out }
}

/// `url` if it is a web address (`http://` or `https://`), the only links taken from an
/// alert's payload: a sender could otherwise put `javascript:` behind "Open at the source".
pub fn web_link(url: &str) -> Option<&str> {
    let url = url.trim();
    let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    (matches!(scheme.as_deref(), Some("http" | "https")) && !url.chars().any(char::is_control)).then_some(url)
}

/// One page of the incident list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IncidentPage {
    pub incidents: Vec<IncidentSummary>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<IncidentCursor>,
    pub counts: StatusCounts,
}

/// Everything the incident page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IncidentDetail {
    pub summary: IncidentSummary,
    pub description: Option<String>,
    /// What groups its alerts (a fingerprint, an incident key).
    pub dedup_key: String,
    /// The sender's view of it (e.g. the PagerDuty incident).
    pub external_url: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    /// The resolved incident with the same key that this one follows.
    pub previous_incident_id: Option<Uuid>,
    /// Labels, annotations, custom details, pretty-printed JSON.
    pub details: String,
    /// What happened, oldest first (the latest [`TIMELINE_LIMIT`] entries).
    pub timeline: Vec<TimelineEntry>,
    /// Entries older than those shown.
    pub earlier_entries: i64,
    /// The alerts behind it, newest first (the latest [`ALERTS_SHOWN`]).
    pub alerts: Vec<AlertRecord>,
    /// Incidents that may be the same problem.
    pub related: Vec<RelatedIncident>,
}

/// Timeline entries the incident page shows at most.
pub const TIMELINE_LIMIT: i64 = 500;
/// Alerts (with their raw payloads) the incident page shows at most.
pub const ALERTS_SHOWN: i64 = 20;

/// One thing that happened to an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TimelineEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `alert.received`, `status.resolved`, `note`, ...
    pub kind: String,
    /// Who: a person's email, a source, the agent.
    pub actor: String,
    pub message: String,
}

/// One alert as received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AlertRecord {
    pub id: Uuid,
    pub source: String,
    pub received_at: DateTime<Utc>,
    /// trigger, acknowledge, resolve, annotate.
    pub event_action: Option<String>,
    /// The payload as received (UTF-8, invalid bytes replaced), cut at [`RAW_SHOWN`] bytes.
    pub raw: String,
    /// Whether the payload was longer than shown.
    pub cut: bool,
    /// Whether the payload was removed after the plan's retention (`raw` is then empty).
    pub removed: bool,
}

/// Bytes of a raw payload the incident page shows.
pub const RAW_SHOWN: usize = 64 * 1024;

/// An incident that may be the same problem, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RelatedIncident {
    pub incident: IncidentSummary,
    /// "same dedup key", "same service", "similar title".
    pub reason: String,
}

/// A responder's change to an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IncidentChange {
    /// "I am on it."
    Acknowledge,
    /// It is over, with what was done.
    Resolve { note: Option<String> },
    /// It is not over after all.
    Reopen,
    /// A note for the timeline.
    Note { text: String },
    /// It is worse (or less bad) than the alert said.
    Severity { severity: Severity },
    /// A clearer title than the alert's.
    Title { title: String },
}

/// Longest incident title, in characters.
pub const TITLE_MAX: usize = 1_024;

/// A title as typed: trimmed, 1 to [`TITLE_MAX`] characters; or what is wrong with it.
pub fn check_title(title: &str) -> Result<&str, String> {
    let title = title.trim();
    if title.is_empty() {
        Err("Give the incident a title.".to_string())
    } else if title.chars().count() > TITLE_MAX {
        Err("A title is 1,024 characters at most.".to_string())
    } else {
        Ok(title)
    }
}

/// Longest note, in characters.
pub const NOTE_MAX: usize = 4_000;

/// A manual incident, reported from the incidents page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewIncident {
    pub title: String,
    pub severity: Option<Severity>,
    pub service: Option<String>,
    pub description: Option<String>,
}

/// What the dashboard shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DashboardStats {
    /// Open (triggered or acknowledged) incidents per severity, worst first.
    pub open_by_severity: Vec<(Severity, i64)>,
    /// Mean times to acknowledge and resolve, over the last day, week and month.
    pub response_times: Vec<ResponseTimes>,
    /// Alerts received per day (UTC) for the last 30 days, oldest first.
    pub alerts_per_day: Vec<(NaiveDate, i64)>,
    /// Incidents opened in the last 30 days per severity, worst first.
    pub severity_mix: Vec<(Severity, i64)>,
    /// Services with the most incidents in the last 30 days.
    pub top_services: Vec<(String, i64)>,
    /// Incidents resolved in the last 30 days, and how many of them the agent resolved.
    pub resolved_30d: i64,
    pub resolved_by_agent_30d: i64,
    /// The latest timeline entries of the team's incidents.
    pub activity: Vec<ActivityItem>,
    /// How right the agent's analyses were, by responders' verdicts.
    pub accuracy: crate::domain::analysis::DiagnosisAccuracy,
}

impl DashboardStats {
    /// Share of resolved incidents that the agent resolved (0 when none was resolved).
    pub fn automation_rate(&self) -> f64 {
        if self.resolved_30d == 0 { 0.0 } else { self.resolved_by_agent_30d as f64 / self.resolved_30d as f64 }
    }
}

/// MTTA and MTTR over one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ResponseTimes {
    /// "24 h" (the last 24 hours), "7 d", "30 d" (the last 7 and 30 UTC days, today
    /// included: the days the charts show).
    pub window: String,
    /// Mean seconds from opening to acknowledgement, of incidents opened in the window.
    pub mtta_secs: Option<f64>,
    /// Mean seconds from opening to resolution, of incidents resolved in the window.
    pub mttr_secs: Option<f64>,
    /// Mean seconds from the first alert to the agent's diagnosis, of incidents opened
    /// in the window.
    pub mttd_secs: Option<f64>,
}

/// One line of the activity feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActivityItem {
    pub incident_id: Uuid,
    pub incident_title: String,
    pub entry: TimelineEntry,
}

/// How much of its alert quota a team has used in the current period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    fn only_web_addresses_are_links() {
        assert_eq!(web_link(" https://grafana.example/d/1 "), Some("https://grafana.example/d/1"));
        assert_eq!(web_link("HTTP://prometheus:9090/graph"), Some("HTTP://prometheus:9090/graph"));
        for refused in [
            "javascript:alert(document.cookie)",
            "JavaScript://%0Aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "//evil.example",
            "/relative",
            "java\tscript://x",
            "https://ok.example/\n/x",
            "",
        ] {
            assert_eq!(web_link(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn monitoring_tools_severities_are_understood() {
        assert_eq!(Severity::from_label("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::from_label("page"), Some(Severity::Critical));
        assert_eq!(Severity::from_label("warn"), Some(Severity::Warning));
        assert_eq!(Severity::from_label("banana"), None);
        assert_eq!("error".parse::<Severity>(), Ok(Severity::Error));
    }

    #[test]
    fn counts_read_with_separators_and_stop_at_the_cap() {
        assert_eq!(count_label(7), "7");
        assert_eq!(count_label(1_000), "1,000");
        assert_eq!(count_label(1_001), "1,000+");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-12), "-12");
    }

    #[test]
    fn statuses_read_back_what_they_store() {
        for status in IncidentStatus::ALL {
            assert_eq!(status.as_str().parse::<IncidentStatus>(), Ok(status));
        }
        assert!("open".parse::<IncidentStatus>().is_err());
    }
}
