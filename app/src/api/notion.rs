//! The team's Notion connection: its settings, connecting with a token (tested by
//! asking Notion whose it is), testing it again, disconnecting, the database runbooks
//! are imported from and the page post-mortems go under, syncing the runbooks now, and
//! exporting a post-mortem as a Notion page.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::notion::NotionSettings;
use crate::error::AppError;

/// The Notion settings (never the token).
#[server(prefix = "/api", endpoint = "get_notion", input = GetUrl)]
pub async fn get_notion() -> Result<NotionSettings, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::notion::settings(&auth.request.state.db, auth.team_id()).await
}

/// Connects Notion with an integration's `token`; the integration and its workspace.
#[server(prefix = "/api", endpoint = "connect_notion")]
pub async fn connect_notion(token: String) -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::notion::connect(auth.state(), &auth.acting, &token).await
}

/// Asks Notion again whose the saved token is.
#[server(prefix = "/api", endpoint = "test_notion")]
pub async fn test_notion() -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::notion::test(auth.state(), &auth.acting).await
}

/// Forgets the token; imported runbooks stay, editable in DreamOps.
#[server(prefix = "/api", endpoint = "disconnect_notion")]
pub async fn disconnect_notion() -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::notion::disconnect(auth.state(), &auth.acting).await
}

/// Sets the database runbooks are imported from and the page post-mortems go under
/// (Notion addresses or ids; empty for none).
#[server(prefix = "/api", endpoint = "set_notion_places")]
pub async fn set_notion_places(
    #[server(default)] runbooks_database: String,
    #[server(default)] postmortems_page: String,
) -> Result<NotionSettings, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::notion::set_places(auth.state(), &auth.acting, &runbooks_database, &postmortems_page).await
}

/// Syncs the runbooks from Notion now.
#[server(prefix = "/api", endpoint = "sync_notion_runbooks")]
pub async fn sync_notion_runbooks() -> Result<NotionSettings, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::notion::sync_now(auth.state(), &auth.acting).await
}

/// Exports a post-mortem as a new Notion page; its address.
#[server(prefix = "/api", endpoint = "export_postmortem_to_notion")]
pub async fn export_postmortem_to_notion(id: Uuid) -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    crate::server::notion::export_postmortem(auth.state(), &auth.acting, id).await
}
