//! `/api/v1/integrations` and `/clusters`: the team's alert sources and Kubernetes
//! clusters as their pages show them — never a token, secret or kubeconfig.

use axum::extract::State;
use uuid::Uuid;

use app::domain::account::Permission;
use app::domain::cluster::{ClusterOverview, ClusterView, ConnectionReport};
use app::domain::integration::{IntegrationKind, IntegrationView};
use app::error::AppError;
use app::server::state::AppState;

use super::caller::Caller;
use super::problem::ApiResult;
use super::{ApiPath, Done, Problems};

/// The team's alert sources, their (masked) paths and latest deliveries (admin scope).
#[utoipa::path(get, operation_id = "list_integrations", path = "/api/v1/integrations", tag = "settings",
    responses((status = 200, description = "The alert sources.", body = Vec<IntegrationView>),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn integrations(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<IntegrationView>>> {
    let acting = caller.acting(Permission::ManageIntegrations)?;
    Ok(axum::Json(app::server::ingest::integrations::views(&state.db, &state.cipher, acting.team_id).await?))
}

/// Sends a sample alert through the source's real endpoint, as its sender would
/// (admin scope). It becomes an incident like any alert.
#[utoipa::path(post, operation_id = "send_test_alert", path = "/api/v1/integrations/{kind}/test", tag = "settings",
    params(("kind" = inline(IntegrationKind), Path)),
    responses((status = 200, description = "What the endpoint answered.", body = Done), Problems))]
pub async fn test_integration(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(kind): ApiPath<String>,
) -> ApiResult<axum::Json<Done>> {
    let acting = caller.acting(Permission::ManageIntegrations)?;
    let kind = kind.parse::<IntegrationKind>().map_err(|_| AppError::NotFound)?;
    let message = app::server::ingest::integrations::test(&state, &acting, kind).await?;
    Ok(axum::Json(Done { message }))
}

/// The team's clusters and what DreamOps may do in each.
#[utoipa::path(get, operation_id = "list_clusters", path = "/api/v1/clusters", tag = "settings",
    responses((status = 200, description = "The clusters.", body = Vec<ClusterView>),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn clusters(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<Vec<ClusterView>>> {
    let acting = caller.acting(Permission::ReadTeam)?;
    Ok(axum::Json(app::server::clusters::list(&state.db, acting.team_id).await?))
}

/// Connects to the cluster and checks every permission the agent needs.
#[utoipa::path(post, operation_id = "test_cluster_connection", path = "/api/v1/clusters/{id}/test", tag = "settings",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "What the check found.", body = ConnectionReport), Problems))]
pub async fn test_cluster(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<ConnectionReport>> {
    let acting = caller.acting(Permission::ReadTeam)?;
    Ok(axum::Json(app::server::cluster_client::test_connection(&state, acting.team_id, id).await?))
}

/// The cluster's nodes and what looks wrong in it now, read live.
#[utoipa::path(get, operation_id = "get_cluster_overview", path = "/api/v1/clusters/{id}/overview", tag = "settings", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The overview.", body = ClusterOverview),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn cluster_overview(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<ClusterOverview>> {
    let acting = caller.acting(Permission::ReadTeam)?;
    Ok(axum::Json(app::server::cluster_client::overview::read(&state, acting.team_id, id).await?))
}
