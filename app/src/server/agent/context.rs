//! What the agent reads from the cluster about an incident's workload, each call
//! time-boxed and each step reported as it happens: the deployment and its revisions,
//! its pods and their containers' states, the failing pod's previous and current logs,
//! the events of the pod and the deployment, the service and its endpoints, the nodes.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Endpoints, Event, Node, PersistentVolumeClaim, Pod, Service};
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};

use super::Timeline;
use super::classify::Classification;
use crate::domain::analysis::Family;
use crate::server::cluster_client::timed;
use crate::server::cluster_client::writes::revisions;

/// Lines of log read from the end.
const LOG_LINES: i64 = 50;

/// What was read.
#[derive(Clone, Debug, Default)]
pub struct ClusterContext {
    pub namespace: String,
    pub deployment: Option<Deployment>,
    /// The deployment's replica sets, newest revision first.
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    /// The pod the alert names, or the first that is not ready.
    pub failing_pod: Option<Pod>,
    pub previous_log: Option<String>,
    pub current_log: Option<String>,
    /// Events of the failing pod and of the deployment, oldest first.
    pub events: Vec<Event>,
    pub service: Option<Service>,
    pub endpoints: Option<Endpoints>,
    /// Pods in the namespace whose labels the service's selector matches.
    pub pods_matching_service: Option<usize>,
    pub nodes: Vec<Node>,
    /// The job the alert names, when it names one.
    pub job: Option<Job>,
    /// The claims the failing pod (or the alert) names, and the names of those missing.
    pub claims: Vec<PersistentVolumeClaim>,
    pub missing_claims: Vec<String>,
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn restarted(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|statuses| {
        statuses
            .iter()
            .any(|s| s.restart_count > 0 || s.last_state.as_ref().and_then(|l| l.terminated.as_ref()).is_some())
    })
}

/// The deployment owning `pod`, through its replica set (`web-5d9c8` of `web`).
pub fn deployment_of_pod(pod: &Pod) -> Option<String> {
    let owner = pod.metadata.owner_references.as_ref()?.iter().find(|o| o.controller == Some(true))?;
    match owner.kind.as_str() {
        "ReplicaSet" => owner.name.rsplit_once('-').map(|(deployment, _)| deployment.to_string()),
        "Deployment" => Some(owner.name.clone()),
        _ => None,
    }
}

fn selector_of(labels: Option<&std::collections::BTreeMap<String, String>>) -> String {
    labels.map(crate::server::cluster_client::selector).unwrap_or_default()
}

/// Reads the cluster about the workload `found` names, in `default_namespace` when the
/// alert names none; each step goes on `timeline` as it is done.
pub async fn gather(
    client: &Client,
    default_namespace: &str,
    found: &Classification,
    timeline: &Timeline<'_>,
) -> ClusterContext {
    let report = async |message: String| timeline.step(&message).await;
    let namespace = found.namespace.clone().unwrap_or_else(|| default_namespace.to_string());
    let mut context = ClusterContext { namespace: namespace.clone(), ..ClusterContext::default() };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);

    // Which deployment: named, or owning the named pod, or named like the service.
    let named_pod = match &found.pod {
        Some(name) => match timed("Reading the pod", pods.get_opt(name)).await {
            Ok(pod) => pod,
            Err(error) => {
                report(error).await;
                None
            }
        },
        None => None,
    };
    let deployment_name = found
        .deployment
        .clone()
        .or_else(|| named_pod.as_ref().and_then(deployment_of_pod))
        .or_else(|| found.service.clone());
    if let Some(name) = &deployment_name {
        match timed("Reading the deployment", deployments.get_opt(name)).await {
            Ok(Some(deployment)) => {
                let spec = &deployment.spec;
                let status = deployment.status.clone().unwrap_or_default();
                report(format!(
                    "Read deployment {namespace}/{name}: {} of {} replicas ready, revision {}.",
                    status.ready_replicas.unwrap_or(0),
                    spec.replicas.unwrap_or(1),
                    deployment
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                        .map_or("?", |r| r.as_str()),
                ))
                .await;
                context.deployment = Some(deployment);
            }
            Ok(None) => report(format!("No deployment {namespace}/{name}.")).await,
            Err(error) => report(error).await,
        }
    }

    if let Some(deployment) = &context.deployment {
        let selector = selector_of(deployment.spec.selector.match_labels.as_ref());
        let params = ListParams::default().labels(&selector);
        match timed("Listing the pods", pods.list(&params)).await {
            Ok(list) => {
                let not_ready = list.items.iter().filter(|pod| !ready(pod)).count();
                report(format!("Listed {} pods of the deployment ({not_ready} not ready).", list.items.len())).await;
                context.pods = list.items;
            }
            Err(error) => report(error).await,
        }
        let uid = deployment.metadata.uid.clone().unwrap_or_default();
        match timed("Listing the revisions", Api::<ReplicaSet>::namespaced(client.clone(), &namespace).list(&params))
            .await
        {
            Ok(list) => {
                let owned: Vec<ReplicaSet> = revisions(list.items, &uid).into_iter().map(|(_, rs)| rs).collect();
                report(format!("Read the rollout history: {} revisions.", owned.len())).await;
                context.replica_sets = owned;
            }
            Err(error) => report(error).await,
        }
    } else if let Some(name) = found.job.as_ref().filter(|_| named_pod.is_none()) {
        match timed("Reading the job", Api::<Job>::namespaced(client.clone(), &namespace).get_opt(name)).await {
            Ok(Some(job)) => {
                let status = job.status.clone().unwrap_or_default();
                report(format!(
                    "Read job {namespace}/{name}: {} succeeded, {} failed, {} running.",
                    status.succeeded.unwrap_or(0),
                    status.failed.unwrap_or(0),
                    status.active.unwrap_or(0)
                ))
                .await;
                let selector = selector_of(job.spec.as_ref().and_then(|s| s.selector.as_ref()?.match_labels.as_ref()));
                match timed("Listing the pods", pods.list(&ListParams::default().labels(&selector))).await {
                    Ok(list) => {
                        report(format!("Listed {} pods of the job.", list.items.len())).await;
                        context.pods = list.items;
                    }
                    Err(error) => report(error).await,
                }
                context.job = Some(job);
            }
            Ok(None) => report(format!("No job {namespace}/{name}.")).await,
            Err(error) => report(error).await,
        }
    } else if let Some(pod) = &named_pod {
        context.pods = vec![pod.clone()];
    }

    // The failing pod: the one named if it still exists, else (of a job) the newest that
    // failed, else the first not ready.
    let newest_failed = || {
        context
            .pods
            .iter()
            .filter(|pod| pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
            .max_by_key(|pod| pod.metadata.creation_timestamp.clone())
            .cloned()
    };
    context.failing_pod = named_pod
        .filter(|pod| context.pods.is_empty() || context.pods.iter().any(|p| p.metadata.name == pod.metadata.name))
        .or_else(|| context.job.as_ref().and_then(|_| newest_failed()))
        .or_else(|| context.pods.iter().find(|pod| !ready(pod)).cloned());
    if let Some(pod) = context.failing_pod.clone() {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let container = found
            .container
            .clone()
            .filter(|c| pod.spec.as_ref().is_some_and(|s| s.containers.iter().any(|x| &x.name == c)))
            .or_else(|| pod.spec.as_ref().and_then(|s| s.containers.first()).map(|c| c.name.clone()));
        let params = |previous| LogParams {
            container: container.clone(),
            previous,
            tail_lines: Some(LOG_LINES),
            ..LogParams::default()
        };
        if restarted(&pod) {
            match timed("Reading the previous log", pods.logs(&name, &params(true))).await {
                Ok(log) => {
                    report(format!(
                        "Read the previous log of {name} ({} line{}).",
                        log.lines().count(),
                        if log.lines().count() == 1 { "" } else { "s" }
                    ))
                    .await;
                    context.previous_log = Some(log);
                }
                Err(error) => report(error).await,
            }
        }
        // A container that has not started has no log: not worth a step.
        if let Ok(log) = timed("Reading the current log", pods.logs(&name, &params(false))).await {
            context.current_log = Some(log);
        }
    }

    // The claims the failing pod (or its deployment's template) mounts, and the alert's.
    let template_spec = context.deployment.as_ref().and_then(|d| d.spec.template.spec.clone());
    let spec = context.failing_pod.as_ref().and_then(|p| p.spec.clone()).or(template_spec);
    let mut claim_names: Vec<String> = found.claim.iter().cloned().collect();
    for volume in spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        if let Some(claim) = &volume.persistent_volume_claim
            && !claim_names.contains(&claim.claim_name)
        {
            claim_names.push(claim.claim_name.clone());
        }
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    for name in claim_names {
        match timed("Reading the volume claim", claims.get_opt(&name)).await {
            Ok(Some(claim)) => {
                let phase = claim.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
                report(format!("Read volume claim {namespace}/{name}: {phase}.")).await;
                context.claims.push(claim);
            }
            Ok(None) => {
                report(format!("No volume claim {namespace}/{name}.")).await;
                context.missing_claims.push(name);
            }
            Err(error) => report(error).await,
        }
    }

    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let mut subjects: Vec<(&str, String)> = Vec::new();
    if let Some(pod) = context.failing_pod.as_ref().and_then(|p| p.metadata.name.clone()) {
        subjects.push(("Pod", pod));
    }
    if let Some(deployment) = context.deployment.as_ref().and_then(|d| d.metadata.name.clone()) {
        subjects.push(("Deployment", deployment));
    }
    if let Some(job) = context.job.as_ref().and_then(|j| j.metadata.name.clone()) {
        subjects.push(("Job", job));
    }
    for claim in &context.claims {
        let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
        if let Some(name) = claim.metadata.name.clone().filter(|_| !bound) {
            subjects.push(("PersistentVolumeClaim", name));
        }
    }
    for (kind, name) in subjects {
        let fields = format!("involvedObject.kind={kind},involvedObject.name={name}");
        match timed("Reading events", events.list(&ListParams::default().fields(&fields))).await {
            Ok(list) => {
                let warnings = list.items.iter().filter(|e| e.type_.as_deref() == Some("Warning")).count();
                let kind = if kind == "PersistentVolumeClaim" { "volume claim".into() } else { kind.to_lowercase() };
                report(format!("Read {} events of {kind} {name} ({warnings} warnings).", list.items.len())).await;
                context.events.extend(list.items);
            }
            Err(error) => report(error).await,
        }
    }

    let service_name =
        found.service.clone().or_else(|| context.deployment.as_ref().and_then(|d| d.metadata.name.clone()));
    let wants_service = found.family == Family::ServiceWithoutEndpoints || found.service.is_some();
    if let Some(name) = service_name.filter(|_| wants_service || context.deployment.is_some()) {
        let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
        if let Ok(Some(service)) = timed("Reading the service", services.get_opt(&name)).await {
            let endpoints =
                timed("Reading the endpoints", Api::<Endpoints>::namespaced(client.clone(), &namespace).get_opt(&name))
                    .await
                    .ok()
                    .flatten();
            let selector = selector_of(service.spec.as_ref().and_then(|s| s.selector.as_ref()));
            let matching = if selector.is_empty() {
                None
            } else {
                timed("Listing the service's pods", pods.list(&ListParams::default().labels(&selector)))
                    .await
                    .ok()
                    .map(|l| l.items.len())
            };
            let addresses = endpoints
                .as_ref()
                .and_then(|e| e.subsets.as_ref())
                .map(|subsets| subsets.iter().map(|s| s.addresses.as_ref().map_or(0, Vec::len)).sum::<usize>())
                .unwrap_or(0);
            report(format!("Read service {namespace}/{name}: {addresses} ready endpoints, selector {selector}.")).await;
            context.service = Some(service);
            context.endpoints = endpoints;
            context.pods_matching_service = matching;
        }
    }

    if matches!(found.family, Family::NodeNotReady | Family::Unschedulable)
        || context
            .failing_pod
            .as_ref()
            .is_some_and(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
    {
        match timed("Listing nodes", Api::<Node>::all(client.clone()).list(&ListParams::default())).await {
            Ok(list) => {
                report(format!("Read {} nodes.", list.items.len())).await;
                context.nodes = list.items;
            }
            Err(error) => report(error).await,
        }
    }
    context
}
