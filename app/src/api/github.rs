//! The team's GitHub connection: its settings, connecting with a token (tested by
//! asking GitHub whose it is), testing it again, disconnecting, and the map from
//! services to repositories.

use leptos::prelude::*;
use server_fn::codec::GetUrl;

use crate::domain::github::{GitHubRepository, GitHubSettings};
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
