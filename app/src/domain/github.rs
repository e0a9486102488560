//! GitHub as the integrations page shows it: the connected account (never the token)
//! and the services' repositories.

use serde::{Deserialize, Serialize};

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
}
