//! The team's GitHub connection: its settings, connecting with a token (tested by
//! asking GitHub whose it is), testing it again, disconnecting, and the map from
//! services to repositories; where issues go, and the issues of incidents and
//! post-mortems.

use leptos::prelude::*;
use server_fn::codec::GetUrl;

use uuid::Uuid;

use crate::domain::github::{GitHubRepository, GitHubSettings, IncidentIssues, IssueSettings};
use crate::error::AppError;

/// The GitHub settings (never the token).
#[server(prefix = "/api", endpoint = "get_github", input = GetUrl)]
pub async fn get_github() -> Result<GitHubSettings, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::github::settings(&auth.request.state.db, auth.team_id()).await
}

/// Connects GitHub with `token`; the account it belongs to.
#[server(prefix = "/api", endpoint = "connect_github")]
pub async fn connect_github(token: String) -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::github::connect(auth.state(), &auth.acting, &token).await
}

/// Asks GitHub again whose the saved token is.
#[server(prefix = "/api", endpoint = "test_github")]
pub async fn test_github() -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::github::test(auth.state(), &auth.acting).await
}

/// Forgets the token.
#[server(prefix = "/api", endpoint = "disconnect_github")]
pub async fn disconnect_github() -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::github::disconnect(auth.state(), &auth.acting).await
}

/// Replaces the map from services to repositories: `service = owner/repository[@branch]`
/// per line.
#[server(prefix = "/api", endpoint = "set_github_repositories")]
pub async fn set_github_repositories(repositories: String) -> Result<Vec<GitHubRepository>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::github::set_repositories(auth.state(), &auth.acting, &repositories).await
}

/// Saves where issues go and when they are opened on their own: a repository for
/// incidents whose service is mapped to none, the severities that get one when the
/// agent diagnosed them, labels (comma-separated), and whether resolving closes them.
#[server(prefix = "/api", endpoint = "set_github_issue_settings")]
pub async fn set_github_issue_settings(
    #[server(default)] repository: String,
    #[server(default)] labels: String,
    #[server(default)] critical: Option<String>,
    #[server(default)] error: Option<String>,
    #[server(default)] warning: Option<String>,
    #[server(default)] info: Option<String>,
    #[server(default)] close_on_resolve: Option<String>,
) -> Result<IssueSettings, AppError> {
    use crate::domain::account::Permission;
    use crate::domain::incident::Severity;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    let severities = [
        (Severity::Critical, critical),
        (Severity::Error, error),
        (Severity::Warning, warning),
        (Severity::Info, info),
    ]
    .into_iter()
    .filter_map(|(severity, on)| on.is_some().then_some(severity))
    .collect();
    let settings = IssueSettings {
        repository: Some(repository),
        severities,
        labels: labels.split(',').map(str::to_string).collect(),
        close_on_resolve: close_on_resolve.is_some(),
    };
    crate::server::github::issues::set_settings(auth.state(), &auth.acting, settings).await
}

/// The GitHub issues of an incident (for it, its post-mortem and its action items).
#[server(prefix = "/api", endpoint = "incident_github_issues", input = GetUrl)]
pub async fn incident_github_issues(incident: Uuid) -> Result<IncidentIssues, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::github::issues::of_incident(&auth.request.state.db, auth.team_id(), incident).await
}

/// Opens a GitHub issue for the incident (queued: a rate limit only delays it).
#[server(prefix = "/api", endpoint = "create_github_issue")]
pub async fn create_github_issue(incident: Uuid) -> Result<usize, AppError> {
    use crate::domain::account::Permission;
    use crate::domain::github::IssueSubject;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    crate::server::github::issues::request(auth.state(), &auth.acting, incident, IssueSubject::Incident, &[]).await
}

/// Exports a post-mortem to GitHub: as one issue, or one issue per open action item.
#[server(prefix = "/api", endpoint = "export_postmortem_to_github")]
pub async fn export_postmortem_to_github(id: Uuid, #[server(default)] action_items: bool) -> Result<usize, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    crate::server::issue_writer::export_postmortem(auth.state(), &auth.acting, id, action_items).await
}

/// Connects GitHub as an installation of the team's GitHub App; the app's login.
#[server(prefix = "/api", endpoint = "connect_github_app")]
pub async fn connect_github_app(
    #[server(default)] app_id: String,
    #[server(default)] installation_id: String,
    #[server(default)] private_key: String,
) -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::github::connect_app(auth.state(), &auth.acting, &app_id, &installation_id, &private_key).await
}

/// The GitHub issues of a post-mortem's incident (for it, the post-mortem and its action
/// items).
#[server(prefix = "/api", endpoint = "postmortem_github_issues", input = GetUrl)]
pub async fn postmortem_github_issues(id: Uuid) -> Result<IncidentIssues, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::issue_writer::of_postmortem(&auth.request.state.db, auth.team_id(), id).await
}
