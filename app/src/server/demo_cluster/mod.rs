//! The demo cluster: the simulated Kubernetes API server (the `kube-simulator` crate)
//! built into DreamOps, one per team that adds it, its state in PostgreSQL. Clients — the agent through the kube crate,
//! kubectl — reach it over HTTP at `/demo-k8s/<cluster id>` with the bearer token of its
//! kubeconfig, exactly as they would a real cluster.

pub mod failures;
pub mod store;

use kube::config::Kubeconfig;
use uuid::Uuid;

use crate::domain::cluster::ClusterView;
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::clusters::{self, SavedCluster};
use crate::server::state::AppState;
use crate::server::token;

pub use kube_simulator::{ApiRequest, ApiResponse, World, programs};

/// Where the demo clusters are served, each under its id.
pub const BASE_PATH: &str = "/demo-k8s";

/// The name a team's demo cluster gets.
pub const NAME: &str = "Demo cluster (simulated)";

/// The address of demo cluster `id` under `base` (an instance's URL).
pub fn server_url(base: &str, id: Uuid) -> String {
    format!("{base}{BASE_PATH}/{id}")
}

/// A kubeconfig for the demo cluster at `server` with `bearer`.
pub fn kubeconfig(server: &str, bearer: &str) -> Kubeconfig {
    let json = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dreamops-demo", "cluster": {"server": server}}],
        "users": [{"name": "dreamops-demo", "user": {"token": bearer}}],
        "contexts": [{"name": "dreamops-demo", "context": {"cluster": "dreamops-demo", "user": "dreamops-demo", "namespace": programs::NAMESPACE}}],
        "current-context": "dreamops-demo",
    });
    serde_json::from_value(json).expect("a well-formed kubeconfig")
}

/// Adds the demo cluster to the team, its apps already running (and failing).
pub async fn add(state: &AppState, acting: &Acting) -> Result<ClusterView, AppError> {
    let exists: bool = sqlx::query_scalar("select exists (select 1 from clusters where team_id = $1 and demo)")
        .bind(acting.team_id)
        .fetch_one(&state.db)
        .await
        .or_internal("adding the demo cluster failed")?;
    if exists {
        return Err(AppError::Conflict("The team has the demo cluster already.".into()));
    }
    let id = Uuid::new_v4();
    let bearer = token::random_hex(32);
    let base = state.public_url();
    let server = server_url(base, id);
    let kubeconfig = kubeconfig(&server, &bearer);
    let saved = SavedCluster {
        name: NAME,
        server: &server,
        context: "dreamops-demo",
        user: Some("dreamops-demo"),
        namespace: programs::NAMESPACE,
        kubeconfig: &kubeconfig,
    };
    let mut tx = state.db.begin().await.or_internal("adding the demo cluster failed")?;
    let view = clusters::insert(&mut tx, state, acting, id, &saved, true).await?;
    sqlx::query("insert into demo_clusters (cluster_id, team_id, token_hash) values ($1, $2, $3)")
        .bind(id)
        .bind(acting.team_id)
        .bind(token::digest(&bearer))
        .execute(&mut *tx)
        .await
        .or_internal("adding the demo cluster failed")?;
    seed(&mut tx, id).await.or_internal("adding the demo cluster failed")?;
    tx.commit().await.or_internal("adding the demo cluster failed")?;
    Ok(view)
}

/// Fills the (empty) demo cluster `id` with its nodes, namespaces and apps.
async fn seed(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    let mut world = store::load(tx, id).await?;
    world.seed();
    store::save(tx, id, &mut world).await
}

/// Puts the team's demo cluster `id` back as it started.
pub async fn reset(state: &AppState, acting: &Acting, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("resetting the demo cluster failed")?;
    let found: Option<Uuid> =
        sqlx::query_scalar("select cluster_id from demo_clusters where cluster_id = $1 and team_id = $2 for update")
            .bind(id)
            .bind(acting.team_id)
            .fetch_optional(&mut *tx)
            .await
            .or_internal("resetting the demo cluster failed")?;
    found.ok_or(AppError::NotFound)?;
    store::clear(&mut tx, id).await.or_internal("resetting the demo cluster failed")?;
    seed(&mut tx, id).await.or_internal("resetting the demo cluster failed")?;
    acting.audit(&mut *tx, "cluster.demo_reset", Some(&id.to_string()), serde_json::json!({})).await?;
    tx.commit().await.or_internal("resetting the demo cluster failed")
}

/// Answers a client's request to demo cluster `cluster`, authenticated by `bearer`, and
/// notes it in the cluster's request log.
pub async fn serve(state: &AppState, cluster: Uuid, bearer: Option<&str>, request: &ApiRequest<'_>) -> ApiResponse {
    let unauthorized = || kube_simulator::status(401, "Unauthorized", "Unauthorized", None);
    let Some(bearer) = bearer else { return unauthorized() };
    match store::cluster_of_token(&state.db, &token::digest(bearer)).await {
        Ok(Some(found)) if found == cluster => {}
        Ok(_) => return unauthorized(),
        Err(error) => {
            tracing::error!(%error, "finding a demo cluster failed");
            return kube_simulator::status(500, "InternalError", "Internal error occurred", None);
        }
    }
    let mut objects = store::PgStore::new(state.db.clone(), cluster);
    let answered = kube_simulator::serve(&mut objects, request).await;
    let response = match (answered, objects.finish().await) {
        (Ok(response), Ok(())) => response,
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "the demo cluster's store failed");
            kube_simulator::internal_error()
        }
    };
    if let Err(error) =
        store::log_request(&state.db, cluster, request.method, request.path, request.query, response.status).await
    {
        tracing::warn!(%error, "logging a demo cluster request failed");
    }
    response
}
