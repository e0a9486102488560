//! Every change DreamOps makes to a cluster, as one request each (the roll-back reads the
//! revision history first): delete a pod, restart a deployment's rollout, scale it,
//! roll it back to the previous revision, raise a container's memory limit. Each can be
//! a server-side dry run. Every write carries the field manager `dreamops`.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

/// The field manager DreamOps writes as.
pub const FIELD_MANAGER: &str = "dreamops";

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

fn patch_params(dry_run: bool) -> PatchParams {
    PatchParams { dry_run, field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() }
}

/// Deletes pod `name` (its controller starts a new one).
pub async fn delete_pod(client: &Client, namespace: &str, name: &str, dry_run: bool) -> kube::Result<()> {
    let params = DeleteParams { dry_run, ..DeleteParams::background() };
    Api::<Pod>::namespaced(client.clone(), namespace).delete(name, &params).await.map(|_| ())
}

/// Restarts every pod of deployment `name`, as `kubectl rollout restart` does.
pub async fn rollout_restart(
    client: &Client,
    namespace: &str,
    name: &str,
    at: chrono::DateTime<chrono::Utc>,
    dry_run: bool,
) -> kube::Result<Deployment> {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}}}}});
    Api::<Deployment>::namespaced(client.clone(), namespace)
        .patch(name, &patch_params(dry_run), &Patch::Strategic(patch))
        .await
}

/// Scales deployment `name` to `replicas` through its scale subresource.
pub async fn scale(client: &Client, namespace: &str, name: &str, replicas: i32, dry_run: bool) -> kube::Result<()> {
    let patch = json!({"spec": {"replicas": replicas}});
    Api::<Deployment>::namespaced(client.clone(), namespace)
        .patch_scale(name, &patch_params(dry_run), &Patch::Merge(patch))
        .await
        .map(|_| ())
}

/// Sets container `container`'s memory limit in deployment `name` to `limit`.
pub async fn set_memory_limit(
    client: &Client,
    namespace: &str,
    name: &str,
    container: &str,
    limit: &str,
    dry_run: bool,
) -> kube::Result<Deployment> {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": container, "resources": {"limits": {"memory": limit}}}]}}}});
    Api::<Deployment>::namespaced(client.clone(), namespace)
        .patch(name, &patch_params(dry_run), &Patch::Strategic(patch))
        .await
}

/// The revision a replica set records.
pub fn revision(replica_set: &ReplicaSet) -> Option<i64> {
    replica_set.metadata.annotations.as_ref()?.get("deployment.kubernetes.io/revision")?.parse().ok()
}

/// Why a roll-back cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum RollBackError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("deployment {0} has no earlier revision to roll back to")]
    NoEarlierRevision(String),
}

/// Rolls deployment `name` back to the revision before the current one, as
/// `kubectl rollout undo` does: the earlier replica set's pod template (without its
/// `pod-template-hash` label) replaces the deployment's. Returns the revision restored.
pub async fn roll_back(client: &Client, namespace: &str, name: &str, dry_run: bool) -> Result<i64, RollBackError> {
    let deployments = Api::<Deployment>::namespaced(client.clone(), namespace);
    let deployment = deployments.get(name).await?;
    let uid = deployment.metadata.uid.clone().unwrap_or_default();
    let selector = deployment
        .spec
        .selector
        .match_labels
        .as_ref()
        .map(|labels| labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let replica_sets =
        Api::<ReplicaSet>::namespaced(client.clone(), namespace).list(&ListParams::default().labels(&selector)).await?;
    let mut owned: Vec<(i64, ReplicaSet)> = replica_sets
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|owner| owner.uid == uid && owner.controller == Some(true))
        })
        .filter_map(|rs| Some((revision(&rs)?, rs)))
        .collect();
    owned.sort_by_key(|(revision, _)| std::cmp::Reverse(*revision));
    let Some((previous, replica_set)) = owned.into_iter().nth(1) else {
        return Err(RollBackError::NoEarlierRevision(name.to_string()));
    };
    let mut template = replica_set.spec.template.unwrap_or_default();
    if let Some(labels) = template.metadata.as_mut().and_then(|metadata| metadata.labels.as_mut()) {
        labels.remove("pod-template-hash");
    }
    let patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/template", "value": template}]))
            .expect("a well-formed JSON patch");
    deployments.patch(name, &patch_params(dry_run), &Patch::Json::<()>(patch)).await?;
    Ok(previous)
}
