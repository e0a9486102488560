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

/// The replica sets that the deployment with `uid` controls, with their revisions,
/// newest first.
pub fn revisions(replica_sets: Vec<ReplicaSet>, uid: &str) -> Vec<(i64, ReplicaSet)> {
    let mut owned: Vec<(i64, ReplicaSet)> = replica_sets
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
    owned
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
    let selector = deployment.spec.selector.match_labels.as_ref().map(super::selector).unwrap_or_default();
    let replica_sets =
        Api::<ReplicaSet>::namespaced(client.clone(), namespace).list(&ListParams::default().labels(&selector)).await?;
    let owned = revisions(replica_sets.items, &uid);
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

#[cfg(test)]
mod tests {
    //! Each write as the exact request it sends (method, path, query, content type,
    //! body), against a mock service in place of the cluster, as the kube crate's own
    //! tests do.

    use super::*;
    use axum::http::{Request, Response};
    use kube::client::Body;
    use tower_test::mock;

    /// A request as the cluster received it.
    struct Sent {
        method: String,
        uri: String,
        content_type: String,
        body: serde_json::Value,
    }

    /// Runs `write` against a mock cluster that answers each request with the next of
    /// `answers`; the requests it sent, in order.
    async fn sent<F, T>(answers: Vec<serde_json::Value>, write: impl FnOnce(Client) -> F) -> Vec<Sent>
    where
        F: Future<Output = T>,
    {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "demo");
        let cluster = tokio::spawn(async move {
            let mut handle = std::pin::pin!(handle);
            let mut requests = Vec::new();
            for answer in answers {
                let (request, respond) = handle.next_request().await.expect("the write sends a request");
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.unwrap();
                requests.push(Sent {
                    method: parts.method.to_string(),
                    uri: parts.uri.to_string(),
                    content_type: parts
                        .headers
                        .get("content-type")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default(),
                    body: if bytes.is_empty() {
                        serde_json::Value::Null
                    } else {
                        serde_json::from_slice(&bytes).unwrap()
                    },
                });
                respond.send_response(Response::builder().body(Body::from(answer.to_string().into_bytes())).unwrap());
            }
            requests
        });
        write(client).await;
        cluster.await.unwrap()
    }

    /// `sent` is a strategic-merge patch of deployment shop/web by DreamOps with `body`.
    fn assert_strategic_patch_of_web(sent: &Sent, body: serde_json::Value) {
        assert_eq!(sent.method, "PATCH");
        assert_eq!(sent.uri, "/apis/apps/v1/namespaces/shop/deployments/web?&fieldManager=dreamops");
        assert_eq!(sent.content_type, "application/strategic-merge-patch+json");
        assert_eq!(sent.body, body);
    }

    fn deployment() -> serde_json::Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "uid": "d-uid"},
               "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web"}]}}}})
    }

    #[tokio::test]
    async fn deleting_a_pod_sends_a_background_delete() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"}});
        let sent =
            sent(vec![pod], |client| async move { delete_pod(&client, "shop", "web-1", true).await.unwrap() }).await;
        assert_eq!(sent[0].method, "DELETE");
        assert_eq!(sent[0].uri, "/api/v1/namespaces/shop/pods/web-1?");
        assert_eq!(sent[0].body, json!({"dryRun": ["All"], "propagationPolicy": "Background"}));
    }

    #[tokio::test]
    async fn a_rollout_restart_patches_the_template_annotation() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let sent = sent(vec![deployment()], |client| async move {
            rollout_restart(&client, "shop", "web", at, false).await.unwrap()
        })
        .await;
        let annotation = json!({"kubectl.kubernetes.io/restartedAt": "2026-11-29T10:00:00Z"});
        assert_strategic_patch_of_web(
            &sent[0],
            json!({"spec": {"template": {"metadata": {"annotations": annotation}}}}),
        );
    }

    #[tokio::test]
    async fn scaling_merge_patches_the_scale_subresource() {
        let answer = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
        let sent =
            sent(vec![answer], |client| async move { scale(&client, "shop", "web", 3, true).await.unwrap() }).await;
        assert_eq!(sent[0].method, "PATCH");
        assert_eq!(
            sent[0].uri,
            "/apis/apps/v1/namespaces/shop/deployments/web/scale?&dryRun=All&fieldManager=dreamops"
        );
        assert_eq!(sent[0].content_type, "application/merge-patch+json");
        assert_eq!(sent[0].body, json!({"spec": {"replicas": 3}}));
    }

    #[tokio::test]
    async fn raising_a_memory_limit_merges_into_the_named_container() {
        let sent = sent(vec![deployment()], |client| async move {
            set_memory_limit(&client, "shop", "web", "web", "768Mi", false).await.unwrap()
        })
        .await;
        let container = json!({"name": "web", "resources": {"limits": {"memory": "768Mi"}}});
        assert_strategic_patch_of_web(&sent[0], json!({"spec": {"template": {"spec": {"containers": [container]}}}}));
    }

    #[tokio::test]
    async fn rolling_back_reads_the_history_then_replaces_the_template_with_the_previous_revisions() {
        let replica_set = |revision: &str, image: &str, hash: &str| {
            json!({"metadata": {"name": format!("web-{hash}"), "annotations": {"deployment.kubernetes.io/revision": revision},
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d-uid", "controller": true}]},
                   "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": hash}},
                            "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": hash}}, "spec": {"containers": [{"name": "web", "image": image}]}}}})
        };
        let foreign = json!({"metadata": {"name": "web-foreign", "annotations": {"deployment.kubernetes.io/revision": "2"},
                                          "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "another", "controller": true}]},
                             "spec": {"selector": {"matchLabels": {"app": "web"}}}});
        let list = json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {},
                          "items": [replica_set("1", "web:1", "aaa"), replica_set("3", "web:3", "ccc"), replica_set("2", "web:2", "bbb"), foreign]});
        let restored = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
        let into = restored.clone();
        let sent = sent(vec![deployment(), list, deployment()], |client| async move {
            into.store(roll_back(&client, "shop", "web", false).await.unwrap(), std::sync::atomic::Ordering::SeqCst);
        })
        .await;
        let restored = restored.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(restored, 2, "the revision before the newest, among the deployment's own");
        assert_eq!(
            (sent[0].method.as_str(), sent[0].uri.as_str()),
            ("GET", "/apis/apps/v1/namespaces/shop/deployments/web")
        );
        assert_eq!(
            (sent[1].method.as_str(), sent[1].uri.as_str()),
            ("GET", "/apis/apps/v1/namespaces/shop/replicasets?&labelSelector=app%3Dweb")
        );
        assert_eq!(sent[2].method, "PATCH");
        assert_eq!(sent[2].uri, "/apis/apps/v1/namespaces/shop/deployments/web?&fieldManager=dreamops");
        assert_eq!(sent[2].content_type, "application/json-patch+json");
        assert_eq!(
            sent[2].body,
            json!([{"op": "replace", "path": "/spec/template",
                    "value": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:2"}]}}}])
        );
    }
}
