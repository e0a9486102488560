//! A cluster at a glance, read on demand: version, nodes and their readiness,
//! namespaces, and what is unhealthy — pods crash-looping, pending, OOM-killed or
//! failing to pull their image, deployments short of replicas, services without
//! endpoints.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use kube::api::{ListParams, ObjectList};
use kube::{Api, Client};
use uuid::Uuid;

use super::{TEST_TIMEOUT, connect, timed};
use crate::domain::cluster::{ClusterOverview, Finding, NodeView};
use crate::error::AppError;
use crate::server::state::AppState;

fn finding(namespace: Option<&String>, name: Option<&String>, detail: String) -> Finding {
    Finding { namespace: namespace.cloned().unwrap_or_default(), name: name.cloned().unwrap_or_default(), detail }
}

fn node_view(node: Node) -> NodeView {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let ready = conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    let problems = conditions
        .iter()
        .filter(|c| if c.type_ == "Ready" { c.status != "True" } else { c.status == "True" })
        .map(|c| c.type_.clone())
        .collect();
    NodeView {
        name: node.metadata.name.unwrap_or_default(),
        ready,
        version: node.status.and_then(|s| s.node_info).map(|info| info.kubelet_version).unwrap_or_default(),
        problems,
    }
}

/// Sorts `pods` into the summary's lists.
fn sort_pods(pods: &[Pod], overview: &mut ClusterOverview) {
    for pod in pods {
        let (namespace, name) = (pod.metadata.namespace.as_ref(), pod.metadata.name.as_ref());
        let Some(status) = &pod.status else { continue };
        let mut listed = false;
        for container in status.container_statuses.iter().flatten() {
            let waiting = container.state.as_ref().and_then(|s| s.waiting.as_ref());
            let reason = waiting.and_then(|w| w.reason.as_deref()).unwrap_or("");
            let last = container.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            let terminated = container.state.as_ref().and_then(|s| s.terminated.as_ref());
            if [last, terminated].into_iter().flatten().any(|t| t.reason.as_deref() == Some("OOMKilled")) {
                let limit = pod
                    .spec
                    .as_ref()
                    .and_then(|spec| spec.containers.iter().find(|c| c.name == container.name))
                    .and_then(|c| c.resources.as_ref()?.limits.as_ref()?.get("memory").map(|q| q.0.clone()));
                let detail = match limit {
                    Some(limit) => format!(
                        "{} was OOM-killed (memory limit {limit}), restarted {} times",
                        container.name, container.restart_count
                    ),
                    None => format!("{} was OOM-killed, restarted {} times", container.name, container.restart_count),
                };
                overview.oom_killed.push(finding(namespace, name, detail));
            }
            match reason {
                "CrashLoopBackOff" => {
                    let exit = last
                        .map(|t| {
                            format!(", last exit code {} ({})", t.exit_code, t.reason.as_deref().unwrap_or("Error"))
                        })
                        .unwrap_or_default();
                    overview.crash_looping.push(finding(
                        namespace,
                        name,
                        format!("{} restarted {} times{exit}", container.name, container.restart_count),
                    ));
                    listed = true;
                }
                "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => {
                    overview.image_pull_failing.push(finding(
                        namespace,
                        name,
                        format!("{reason}: {}", container.image),
                    ));
                    listed = true;
                }
                _ => {}
            }
        }
        if status.phase.as_deref() == Some("Pending") && !listed {
            let why = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.status == "False" && c.reason.is_some())
                .map(|c| format!("{}: {}", c.reason.as_deref().unwrap_or(""), c.message.as_deref().unwrap_or("")))
                .unwrap_or_else(|| "waiting to start".into());
            overview.pending.push(finding(namespace, name, why));
        }
    }
}

/// Every object of kind `K` in the cluster, time-boxed.
async fn list_all<K>(client: &Client, what: &str) -> Result<ObjectList<K>, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    timed(what, Api::<K>::all(client.clone()).list(&ListParams::default())).await
}

/// Reads the team's cluster `id` at a glance.
pub async fn read(state: &AppState, team: Uuid, id: Uuid) -> Result<ClusterOverview, AppError> {
    let client = connect(state, team, id).await?;
    let gather = async {
        let version = timed("Reading the version", client.apiserver_version()).await?;
        let (nodes, namespaces, pods, deployments, services, endpoints) = futures::join!(
            list_all::<Node>(&client, "Listing nodes"),
            list_all::<Namespace>(&client, "Listing namespaces"),
            list_all::<Pod>(&client, "Listing pods"),
            list_all::<Deployment>(&client, "Listing deployments"),
            list_all::<Service>(&client, "Listing services"),
            list_all::<Endpoints>(&client, "Listing endpoints"),
        );
        Ok::<_, String>((version, nodes?, namespaces?, pods?, deployments?, services?, endpoints?))
    };
    let (version, nodes, namespaces, pods, deployments, services, endpoints) =
        tokio::time::timeout(TEST_TIMEOUT, gather)
            .await
            .map_err(|_| {
                AppError::Conflict(format!("The cluster did not answer within {} seconds.", TEST_TIMEOUT.as_secs()))
            })?
            .map_err(AppError::Conflict)?;
    let mut overview = ClusterOverview {
        version: version.git_version,
        nodes: nodes.items.into_iter().map(node_view).collect(),
        namespaces: namespaces.items.into_iter().filter_map(|ns| ns.metadata.name).collect(),
        pods: pods.items.len(),
        crash_looping: Vec::new(),
        pending: Vec::new(),
        oom_killed: Vec::new(),
        image_pull_failing: Vec::new(),
        unavailable_deployments: Vec::new(),
        services_without_endpoints: Vec::new(),
        read_at: chrono::Utc::now(),
    };
    sort_pods(&pods.items, &mut overview);
    for deployment in &deployments.items {
        let desired = deployment.spec.replicas.unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let available = status.available_replicas.unwrap_or(0);
        let unavailable = status.unavailable_replicas.unwrap_or(0).max(desired - available);
        if desired > 0 && unavailable > 0 {
            let (namespace, name) = (deployment.metadata.namespace.as_ref(), deployment.metadata.name.as_ref());
            overview.unavailable_deployments.push(finding(
                namespace,
                name,
                format!("{available} of {desired} replicas available"),
            ));
        } else if desired == 0 {
            let (namespace, name) = (deployment.metadata.namespace.as_ref(), deployment.metadata.name.as_ref());
            overview.unavailable_deployments.push(finding(namespace, name, "scaled to 0 replicas".into()));
        }
    }
    for service in &services.items {
        let selects = service.spec.as_ref().and_then(|s| s.selector.as_ref()).is_some_and(|s| !s.is_empty());
        if !selects {
            continue;
        }
        let ready = endpoints
            .items
            .iter()
            .find(|e| e.metadata.namespace == service.metadata.namespace && e.metadata.name == service.metadata.name)
            .and_then(|e| e.subsets.as_ref())
            .is_some_and(|subsets| subsets.iter().any(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty())));
        if !ready {
            let selector =
                service.spec.as_ref().and_then(|s| s.selector.as_ref()).map(super::selector).unwrap_or_default();
            let (namespace, name) = (service.metadata.namespace.as_ref(), service.metadata.name.as_ref());
            overview.services_without_endpoints.push(finding(
                namespace,
                name,
                format!("no ready pod matches {selector}"),
            ));
        }
    }
    Ok(overview)
}
