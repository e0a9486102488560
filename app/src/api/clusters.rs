//! The team's Kubernetes clusters: reading a kubeconfig's contexts, adding, listing,
//! renaming and removing clusters. Credentials never come back to the browser.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::cluster::{ClusterView, KubeconfigContexts};
use crate::error::AppError;

/// The contexts a pasted kubeconfig offers (nothing is saved).
#[server(prefix = "/api", endpoint = "read_kubeconfig")]
pub async fn read_kubeconfig(kubeconfig: String) -> Result<KubeconfigContexts, AppError> {
    use crate::domain::account::Permission;
    crate::server::auth::context::require(Permission::ManageClusters).await?;
    crate::server::clusters::contexts(&kubeconfig)
}

/// Saves one context of a kubeconfig as a cluster of the team.
#[server(prefix = "/api", endpoint = "add_cluster")]
pub async fn add_cluster(
    name: String,
    kubeconfig: String,
    context: String,
    #[server(default)] namespace: Option<String>,
) -> Result<ClusterView, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageClusters).await?;
    crate::server::clusters::add(&auth, &name, &kubeconfig, &context, namespace.as_deref()).await
}

/// The team's clusters.
#[server(prefix = "/api", endpoint = "list_clusters", input = GetUrl)]
pub async fn list_clusters() -> Result<Vec<ClusterView>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::clusters::list(&auth.request.state.db, auth.team_id()).await
}

/// Renames a cluster.
#[server(prefix = "/api", endpoint = "rename_cluster")]
pub async fn rename_cluster(id: Uuid, name: String) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageClusters).await?;
    crate::server::clusters::rename(&auth, id, &name).await
}

/// Removes a cluster and its credentials.
#[server(prefix = "/api", endpoint = "remove_cluster")]
pub async fn remove_cluster(id: Uuid) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageClusters).await?;
    crate::server::clusters::remove(&auth, id).await
}
