//! Live events: what the server streams to a team's open pages as things happen.
//!
//! An event names what happened and to which incident, nothing more: a page that hears
//! one fetches what it shows again, through the same server functions (and the same
//! permission checks) as on first load.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The path of the team's event stream (server-sent events).
pub const EVENTS_PATH: &str = "/events";

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LiveKind {
    /// An incident was opened.
    #[serde(rename = "incident.new")]
    IncidentNew,
    /// An incident changed: status, severity, occurrences.
    #[serde(rename = "incident.update")]
    IncidentUpdate,
    /// An alert was stored.
    #[serde(rename = "alert.recorded")]
    AlertRecorded,
    /// An incident's timeline grew.
    #[serde(rename = "timeline.entry")]
    TimelineEntry,
    /// A remediation action ran.
    #[serde(rename = "action.executed")]
    ActionExecuted,
    /// The agent stored its analysis of an incident.
    #[serde(rename = "analysis.ready")]
    AnalysisReady,
}

impl LiveKind {
    /// Every kind.
    pub const ALL: [LiveKind; 6] = [
        LiveKind::IncidentNew,
        LiveKind::IncidentUpdate,
        LiveKind::AlertRecorded,
        LiveKind::TimelineEntry,
        LiveKind::ActionExecuted,
        LiveKind::AnalysisReady,
    ];

    /// The event's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveKind::IncidentNew => "incident.new",
            LiveKind::IncidentUpdate => "incident.update",
            LiveKind::AlertRecorded => "alert.recorded",
            LiveKind::TimelineEntry => "timeline.entry",
            LiveKind::ActionExecuted => "action.executed",
            LiveKind::AnalysisReady => "analysis.ready",
        }
    }
}

impl fmt::Display for LiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LiveKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LiveKind::ALL.into_iter().find(|kind| kind.as_str() == s).ok_or(())
    }
}

/// One live event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LiveEvent {
    /// What happened.
    pub kind: LiveKind,
    /// The incident it happened to.
    pub incident_id: Option<Uuid>,
}

impl LiveEvent {
    /// `kind` happened to `incident`.
    pub fn new(kind: LiveKind, incident: Uuid) -> Self {
        Self { kind, incident_id: Some(incident) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_their_wire_names() {
        for kind in LiveKind::ALL {
            assert_eq!(kind.as_str().parse::<LiveKind>(), Ok(kind));
        }
    }
}
