//! Remediation as responders see it: the actions DreamOps carried out (or is carrying
//! out) on an incident's cluster, who asked for them, their state and outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::analysis::{Change, Risk};

/// Where an action is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// Recorded, not yet begun.
    Intended,
    /// Being carried out and verified.
    Executing,
    /// Done, and the workload recovered.
    Verified,
    /// Done, the workload did not recover, and the change was undone.
    RolledBack,
    /// Done, the workload did not recover, and there was nothing to undo.
    NotFixed,
    /// Not done: a precondition, the dry run or the cluster refused it.
    Failed,
    /// Not done: stopped before it began (the kill switch).
    Cancelled,
}

impl ActionState {
    pub const ALL: [ActionState; 7] = [
        ActionState::Intended,
        ActionState::Executing,
        ActionState::Verified,
        ActionState::RolledBack,
        ActionState::NotFixed,
        ActionState::Failed,
        ActionState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Intended => "intended",
            ActionState::Executing => "executing",
            ActionState::Verified => "verified",
            ActionState::RolledBack => "rolled_back",
            ActionState::NotFixed => "not_fixed",
            ActionState::Failed => "failed",
            ActionState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<ActionState> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// How the incident page names it.
    pub fn label(self) -> &'static str {
        match self {
            ActionState::Intended => "Waiting to run",
            ActionState::Executing => "Running and verifying",
            ActionState::Verified => "Fixed",
            ActionState::RolledBack => "Did not help — undone",
            ActionState::NotFixed => "Did not help",
            ActionState::Failed => "Not carried out",
            ActionState::Cancelled => "Cancelled",
        }
    }

    /// Whether it has ended.
    pub fn finished(self) -> bool {
        !matches!(self, ActionState::Intended | ActionState::Executing)
    }
}

/// One action on an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActionView {
    pub id: Uuid,
    /// Which recommended action of the analysis it carries out.
    pub action_index: i32,
    pub title: String,
    pub risk: Risk,
    pub change: Change,
    /// Taken by the agent in autonomous mode, rather than approved by a person.
    pub automatic: bool,
    /// Who approved it (an email), or the agent.
    pub requested_by: String,
    pub comment: Option<String>,
    pub state: ActionState,
    /// What happened, in a sentence.
    pub outcome: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The actions on an incident, and what the signed-in responder may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IncidentActions {
    pub actions: Vec<ActionView>,
    /// The remediation mode of the analysed cluster, when there is one.
    pub mode: Option<crate::domain::cluster::RemediationMode>,
    /// Whether they may approve actions (operators and above, not in read-only mode,
    /// the incident open).
    pub can_approve: bool,
    /// The team's kill switch: no automatic action while on.
    pub automation_paused: bool,
}
