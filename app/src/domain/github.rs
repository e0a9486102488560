//! GitHub as the integrations page shows it: the connected account (never the token)
//! and the services' repositories; the issues DreamOps opens and where they go.

use serde::{Deserialize, Serialize};

use crate::domain::incident::Severity;

/// Where a service's code lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitHubRepository {
    pub service: String,
    /// `owner/name`.
    pub repository: String,
    pub branch: String,
}

/// The team's GitHub settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitHubSettings {
    /// The account the token belongs to; `None` when GitHub is not connected.
    pub login: Option<String>,
    pub repositories: Vec<GitHubRepository>,
    pub issues: IssueSettings,
}

/// Where a team's GitHub issues go and when they are opened on their own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueSettings {
    /// `owner/name` for incidents whose service is mapped to no repository.
    pub repository: Option<String>,
    /// An incident of these severities gets an issue once the agent diagnosed it.
    pub severities: Vec<Severity>,
    pub labels: Vec<String>,
    /// Close an incident's issue when the incident is resolved (it is commented on
    /// either way).
    pub close_on_resolve: bool,
}

/// What an issue DreamOps opened is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssueSubject {
    Incident,
    Postmortem,
    /// One of the post-mortem's action items.
    ActionItem,
}

impl IssueSubject {
    pub const ALL: [IssueSubject; 3] = [IssueSubject::Incident, IssueSubject::Postmortem, IssueSubject::ActionItem];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueSubject::Incident => "incident",
            IssueSubject::Postmortem => "postmortem",
            IssueSubject::ActionItem => "action_item",
        }
    }
}

impl std::str::FromStr for IssueSubject {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IssueSubject::ALL.into_iter().find(|v| v.as_str() == s).ok_or("must be incident, postmortem or action_item")
    }
}

/// Where an issue is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssueState {
    /// Queued for GitHub.
    Opening,
    /// GitHub could not open it, and why.
    Failed(String),
    Open {
        repository: String,
        number: i64,
        url: String,
    },
    Closed {
        repository: String,
        number: i64,
        url: String,
    },
}

/// An issue DreamOps opened (or is opening) for an incident, its post-mortem or an
/// action item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitHubIssue {
    pub subject: IssueSubject,
    /// The action item's text; empty for the others.
    pub item: String,
    pub state: IssueState,
}

/// An incident's GitHub issues, and whether the team can open one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentIssues {
    /// GitHub is connected.
    pub connected: bool,
    pub issues: Vec<GitHubIssue>,
}
