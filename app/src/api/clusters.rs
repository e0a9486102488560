//! The team's Kubernetes clusters: reading a kubeconfig's contexts, adding, listing,
//! renaming and removing clusters; the demo cluster; testing the connection, the
//! overview, the remediation policy. Credentials never come back to the browser.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::cluster::{ClusterOverview, ClusterView, ConnectionReport, KubeconfigContexts, SimulatedFailure};
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
    crate::server::clusters::add(auth.state(), &auth.acting, &name, &kubeconfig, &context, namespace.as_deref()).await
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
    crate::server::clusters::rename(auth.state(), &auth.acting, id, &name).await
}

/// Removes a cluster and its credentials.
#[server(prefix = "/api", endpoint = "remove_cluster")]
pub async fn remove_cluster(id: Uuid) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageClusters).await?;
    crate::server::clusters::remove(auth.state(), &auth.acting, id).await
}

/// One of the team's clusters.
#[server(prefix = "/api", endpoint = "get_cluster", input = GetUrl)]
pub async fn get_cluster(id: Uuid) -> Result<ClusterView, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::clusters::get(&auth.request.state.db, auth.team_id(), id).await
}

/// Adds the demo cluster (a simulation built into DreamOps) to the team.
#[server(prefix = "/api", endpoint = "add_demo_cluster")]
pub async fn add_demo_cluster() -> Result<ClusterView, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageClusters).await?;
    crate::server::demo_cluster::add(auth.state(), &auth.acting).await
}

/// Tests the connection to a cluster: version, namespaces, permission matrix.
#[server(prefix = "/api", endpoint = "test_cluster_connection")]
pub async fn test_cluster_connection(id: Uuid) -> Result<ConnectionReport, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::cluster_client::test_connection(&auth.request.state, auth.team_id(), id).await
}

/// A cluster at a glance: nodes, namespaces and what is unhealthy.
#[server(prefix = "/api", endpoint = "get_cluster_overview")]
pub async fn get_cluster_overview(id: Uuid) -> Result<ClusterOverview, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::cluster_client::overview::read(&auth.request.state, auth.team_id(), id).await
}

/// Sets a cluster's remediation policy.
#[server(prefix = "/api", endpoint = "set_cluster_policy")]
pub async fn set_cluster_policy(
    id: Uuid,
    mode: String,
    max_autonomous_risk: String,
    #[server(default)] excluded_namespaces: String,
    #[server(default)] destructive_allowed: Option<String>,
) -> Result<ClusterView, AppError> {
    use crate::domain::account::Permission;
    use crate::domain::analysis::Risk;
    use crate::domain::cluster::RemediationPolicy;
    let auth = crate::server::auth::context::require(Permission::ManageClusters).await?;
    let policy = RemediationPolicy {
        mode: mode.parse().map_err(|message: &str| AppError::field("mode", message))?,
        max_autonomous_risk: Risk::parse(&max_autonomous_risk)
            .ok_or_else(|| AppError::field("max_autonomous_risk", "Choose low, medium or high."))?,
        excluded_namespaces: crate::server::clusters::namespace_list(&excluded_namespaces)?,
        destructive_allowed: destructive_allowed.is_some_and(|value| value == "on" || value == "true"),
    };
    crate::server::clusters::set_policy(auth.state(), &auth.acting, id, &policy).await
}

/// Puts the demo cluster back as it started.
#[server(prefix = "/api", endpoint = "reset_demo_cluster")]
pub async fn reset_demo_cluster(id: Uuid) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageClusters).await?;
    crate::server::demo_cluster::reset(auth.state(), &auth.acting, id).await
}

/// Breaks the demo cluster's healthy app and sends the matching alert.
#[server(prefix = "/api", endpoint = "simulate_failure")]
pub async fn simulate_failure(id: Uuid, failure: SimulatedFailure) -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageClusters).await?;
    crate::server::demo_cluster::failures::simulate(auth.state(), &auth.acting, id, failure).await
}
