//! What the agent reads from the cluster about an incident, each call time-boxed and each
//! step reported as it happens: the workload (a Deployment with its revisions, a
//! StatefulSet with its volume claim templates, a DaemonSet, a Job and its CronJob),
//! found from the alert or up a pod's owner chain; its pods and their containers' states
//! (init containers included); the failing container's previous and current logs; the
//! events of all of them; the claims and their storage classes; the Service, its
//! endpoints and the Ingresses routing to it; the autoscalers targeting the workload; the
//! NetworkPolicies and the Services a failing log names; the nodes.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ContainerStatus, Endpoints, Event, Node, PersistentVolumeClaim, Pod, PodSpec, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};

use super::classify::Classification;
use super::logs::{self, Problem};
use crate::domain::analysis::Family;
use crate::server::alert_subject::Kind;
use crate::server::cluster_client::writes::revisions;
use crate::server::cluster_client::{owners, timed};

/// Lines of log read from the end.
const LOG_LINES: i64 = 50;

/// Where the steps of a read are reported: the incident's timeline, or a test's list.
pub trait Steps {
    fn step(&self, message: &str) -> impl Future<Output = ()> + Send;
}

/// A Service as read, with its ready endpoint addresses.
#[derive(Clone, Debug)]
pub struct ServiceState {
    pub name: String,
    pub namespace: String,
    /// None when the Service does not exist.
    pub service: Option<Service>,
    pub ready_addresses: usize,
}

/// What was read.
#[derive(Clone, Debug, Default)]
pub struct ClusterContext {
    pub namespace: String,
    /// The workload the pods belong to: its kind and name.
    pub workload: Option<(Kind, String)>,
    pub deployment: Option<Deployment>,
    /// The deployment's replica sets, newest revision first.
    pub replica_sets: Vec<ReplicaSet>,
    pub statefulset: Option<StatefulSet>,
    pub daemonset: Option<DaemonSet>,
    /// The job the alert names, or the newest of the CronJob's.
    pub job: Option<Job>,
    pub cronjob: Option<CronJob>,
    pub pods: Vec<Pod>,
    /// The pod the alert names, or the one that fails.
    pub failing_pod: Option<Pod>,
    /// The container of the failing pod that fails (an init container when it is one).
    pub failing_container: Option<String>,
    pub previous_log: Option<String>,
    pub current_log: Option<String>,
    /// Events of the failing pod, the workload, its claims and autoscalers, oldest first.
    pub events: Vec<Event>,
    pub service: Option<Service>,
    pub endpoints: Option<Endpoints>,
    /// Pods in the namespace whose labels the service's selector matches.
    pub pods_matching_service: Option<usize>,
    pub nodes: Vec<Node>,
    /// Pods running on the failing pod's node (or the alert's), when a node's capacity is in question.
    pub pods_on_node: Option<(String, usize)>,
    /// The claims the workload mounts (or the alert names), and the names of those missing.
    pub claims: Vec<PersistentVolumeClaim>,
    pub missing_claims: Vec<String>,
    /// The cluster's storage classes, read when a claim waits for its volume.
    pub storage_classes: Option<Vec<StorageClass>>,
    /// The autoscalers targeting the workload (or the one the alert names).
    pub autoscalers: Vec<HorizontalPodAutoscaler>,
    /// The Ingresses routing to the service (or all of the namespace for an ingress alert).
    pub ingresses: Vec<Ingress>,
    /// The cluster's ingress classes, read with ingresses that name one.
    pub ingress_classes: Option<Vec<IngressClass>>,
    /// Services an ingress routes to or a failing log names, as read.
    pub services_named: Vec<ServiceState>,
    /// NetworkPolicies of the namespace (and of a dependency's), read when traffic fails.
    pub network_policies: Vec<NetworkPolicy>,
}

impl ClusterContext {
    /// The workload's name, or the failing pod's.
    pub fn subject_name(&self) -> Option<String> {
        self.workload.as_ref().map(|(_, name)| name.clone()).or_else(|| self.failing_pod.as_ref().map(name_of))
    }

    /// The pod template of the workload, or the failing pod's spec.
    pub fn pod_spec(&self) -> Option<&PodSpec> {
        let template = match self.workload.as_ref().map(|(kind, _)| *kind) {
            Some(Kind::Deployment) => self.deployment.as_ref().and_then(|d| d.spec.template.spec.as_ref()),
            Some(Kind::StatefulSet) => self.statefulset.as_ref().and_then(|s| s.spec.template.spec.as_ref()),
            Some(Kind::DaemonSet) => self.daemonset.as_ref().and_then(|d| d.spec.template.spec.as_ref()),
            Some(Kind::Job | Kind::CronJob) => self.job.as_ref().and_then(|j| j.spec.as_ref()?.template.spec.as_ref()),
            _ => None,
        };
        self.failing_pod.as_ref().and_then(|p| p.spec.as_ref()).or(template)
    }
}

fn name_of(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The container statuses of `pod`, init containers first.
pub fn all_statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or(&[])
        .iter()
        .chain(status.and_then(|s| s.container_statuses.as_deref()).unwrap_or(&[]))
}

/// Whether the init container with `status` has not finished well.
fn init_failing(status: &ContainerStatus) -> bool {
    let state = status.state.as_ref();
    let done = state.and_then(|s| s.terminated.as_ref()).is_some_and(|t| t.exit_code == 0);
    !done
        && (status.restart_count > 0
            || state.and_then(|s| s.waiting.as_ref()).is_some_and(|w| w.reason.as_deref() != Some("PodInitializing")))
}

/// The container of `pod` that fails: a failing init container, else `named`, else the
/// first that restarted or waits, else the first.
fn failing_container(pod: &Pod, named: Option<&str>) -> Option<String> {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.as_deref()).unwrap_or(&[]);
    if let Some(init) = init.iter().find(|s| init_failing(s)) {
        return Some(init.name.clone());
    }
    let spec = pod.spec.as_ref();
    if let Some(named) = named.filter(|n| spec.is_some_and(|s| s.containers.iter().any(|c| c.name == *n))) {
        return Some(named.to_string());
    }
    let statuses = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or(&[]);
    statuses
        .iter()
        .find(|s| !s.ready && (s.restart_count > 0 || s.state.as_ref().and_then(|st| st.waiting.as_ref()).is_some()))
        .map(|s| s.name.clone())
        .or_else(|| spec.and_then(|s| s.containers.first()).map(|c| c.name.clone()))
}

fn restarted(pod: &Pod, container: &str) -> bool {
    all_statuses(pod)
        .filter(|s| s.name == container)
        .any(|s| s.restart_count > 0 || s.last_state.as_ref().and_then(|l| l.terminated.as_ref()).is_some())
}

fn selector_of(labels: Option<&BTreeMap<String, String>>) -> String {
    labels.map(crate::server::cluster_client::selector).unwrap_or_default()
}

/// Reads the cluster for one incident.
struct Reader<'a, S: Steps> {
    client: &'a Client,
    steps: &'a S,
    context: ClusterContext,
}

/// Reads the cluster about the object `found` names, in `default_namespace` when the
/// alert names none; each step is reported to `steps` as it is done.
pub async fn gather(
    client: &Client,
    default_namespace: &str,
    found: &Classification,
    steps: &impl Steps,
) -> ClusterContext {
    let namespace = found.namespace.clone().unwrap_or_else(|| default_namespace.to_string());
    let mut reader = Reader { client, steps, context: ClusterContext { namespace, ..ClusterContext::default() } };
    reader.read(found).await;
    reader.context
}

impl<S: Steps> Reader<'_, S> {
    async fn report(&self, message: impl AsRef<str>) {
        self.steps.step(message.as_ref()).await;
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.context.namespace)
    }

    /// Reads one object; a missing one is reported as missing, a failure as failed.
    async fn get<K>(&self, what: &str, name: &str) -> Option<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        match timed(&format!("Reading the {what}"), self.api::<K>().get_opt(name)).await {
            Ok(Some(object)) => Some(object),
            Ok(None) => {
                self.report(format!("No {what} {}/{name}.", self.context.namespace)).await;
                None
            }
            Err(error) => {
                self.report(error).await;
                None
            }
        }
    }

    /// Lists objects of the namespace matching `selector` (labels).
    async fn list<K>(&self, what: &str, selector: &str) -> Option<Vec<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        match timed(&format!("Listing {what}"), self.api::<K>().list(&ListParams::default().labels(selector))).await {
            Ok(list) => Some(list.items),
            Err(error) => {
                self.report(error).await;
                None
            }
        }
    }

    async fn read(&mut self, found: &Classification) {
        let named_pod = match &found.pod {
            Some(name) => self.get::<Pod>("pod", name).await,
            None => None,
        };
        let workload = match (&found.workload, &named_pod, &found.autoscaler) {
            (Some(workload), _, _) => Some(workload.clone()),
            (None, Some(pod), _) => self.owner_of(pod).await,
            (None, None, Some(autoscaler)) => self.target_of(autoscaler).await,
            // An application's alert: a deployment named like its service.
            (None, None, None) => found.service.clone().map(|name| (Kind::Deployment, name)),
        };
        if let Some((kind, name)) = workload {
            self.read_workload(kind, &name, found.service.is_some() && found.workload.is_none()).await;
        }
        if self.context.pods.is_empty()
            && let Some(pod) = &named_pod
        {
            self.context.pods = vec![pod.clone()];
        }
        self.choose_failing_pod(named_pod, found.container.as_deref());
        self.read_logs().await;
        self.read_claims(found).await;
        self.read_autoscalers(found).await;
        self.read_events().await;
        self.read_service(found).await;
        self.read_ingresses(found).await;
        self.read_what_the_log_names().await;
        self.read_nodes(found).await;
    }

    /// The workload owning `pod`, up its owner chain (ReplicaSet → Deployment, Job → CronJob).
    async fn owner_of(&self, pod: &Pod) -> Option<(Kind, String)> {
        let (kind, name) = owners::controller(pod.metadata.owner_references.as_ref())?;
        match kind.as_str() {
            "ReplicaSet" => {
                let owner = self.get::<ReplicaSet>("replica set", &name).await.and_then(|rs| {
                    owners::controller(rs.metadata.owner_references.as_ref()).filter(|(kind, _)| kind == "Deployment")
                });
                // Without the replica set, its name says the deployment (`web-5d9c8` of `web`).
                let deployment =
                    owner.map(|(_, name)| name).or_else(|| name.rsplit_once('-').map(|(d, _)| d.to_string()));
                deployment.map(|name| (Kind::Deployment, name))
            }
            "StatefulSet" => Some((Kind::StatefulSet, name)),
            "DaemonSet" => Some((Kind::DaemonSet, name)),
            "Job" => Some((Kind::Job, name)),
            _ => None,
        }
    }

    /// The workload the autoscaler `name` targets.
    async fn target_of(&self, name: &str) -> Option<(Kind, String)> {
        let autoscaler = self.get::<HorizontalPodAutoscaler>("autoscaler", name).await?;
        let target = autoscaler.spec.scale_target_ref.clone();
        let kind = match target.kind.as_str() {
            "Deployment" => Kind::Deployment,
            "StatefulSet" => Kind::StatefulSet,
            _ => return None,
        };
        Some((kind, target.name))
    }

    /// Reads the workload `kind`/`name` and its pods; `guessed` when only a service's
    /// name suggested it (its absence is then not worth a step).
    async fn read_workload(&mut self, kind: Kind, name: &str, guessed: bool) {
        let namespace = self.context.namespace.clone();
        let selector = match kind {
            Kind::Deployment => {
                let found = if guessed {
                    timed("Reading the deployment", self.api::<Deployment>().get_opt(name)).await.ok().flatten()
                } else {
                    self.get::<Deployment>("deployment", name).await
                };
                let Some(deployment) = found else { return };
                let spec = deployment.spec.clone();
                let status = deployment.status.clone().unwrap_or_default();
                self.report(format!(
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
                let selector = selector_of(spec.selector.match_labels.as_ref());
                let uid = deployment.metadata.uid.clone().unwrap_or_default();
                self.context.deployment = Some(deployment);
                if let Some(sets) = self.list::<ReplicaSet>("the revisions", &selector).await {
                    let owned: Vec<ReplicaSet> = revisions(sets, &uid).into_iter().map(|(_, rs)| rs).collect();
                    self.report(format!("Read the rollout history: {} revisions.", owned.len())).await;
                    self.context.replica_sets = owned;
                }
                selector
            }
            Kind::StatefulSet => {
                let Some(set) = self.get::<StatefulSet>("statefulset", name).await else { return };
                let spec = set.spec.clone();
                let status = set.status.clone().unwrap_or_default();
                self.report(format!(
                    "Read statefulset {namespace}/{name}: {} of {} replicas ready, {} volume claim templates.",
                    status.ready_replicas.unwrap_or(0),
                    spec.replicas.unwrap_or(1),
                    spec.volume_claim_templates.as_ref().map_or(0, Vec::len)
                ))
                .await;
                self.context.statefulset = Some(set);
                selector_of(spec.selector.match_labels.as_ref())
            }
            Kind::DaemonSet => {
                let Some(set) = self.get::<DaemonSet>("daemonset", name).await else { return };
                let status = set.status.clone().unwrap_or_default();
                self.report(format!(
                    "Read daemonset {namespace}/{name}: {} of {} scheduled pods ready, {} unavailable.",
                    status.number_ready,
                    status.desired_number_scheduled,
                    status.number_unavailable.unwrap_or(0)
                ))
                .await;
                let selector = selector_of(set.spec.selector.match_labels.as_ref());
                self.context.daemonset = Some(set);
                selector
            }
            Kind::CronJob => {
                let Some(cronjob) = self.get::<CronJob>("cronjob", name).await else { return };
                let uid = cronjob.metadata.uid.clone().unwrap_or_default();
                self.report(format!(
                    "Read cronjob {namespace}/{name}: schedule {}, last scheduled {}.",
                    cronjob.spec.schedule,
                    cronjob
                        .status
                        .as_ref()
                        .and_then(|s| s.last_schedule_time.as_ref())
                        .map_or("never".to_string(), |t| t.0.to_string())
                ))
                .await;
                self.context.cronjob = Some(cronjob);
                let jobs = self.list::<Job>("the cronjob's jobs", "").await.unwrap_or_default();
                let newest = jobs
                    .into_iter()
                    .filter(|job| job.metadata.owner_references.iter().flatten().any(|o| o.uid == uid))
                    .max_by_key(|job| job.metadata.creation_timestamp.clone());
                let Some(job) = newest else {
                    self.report("The cronjob has no jobs now.").await;
                    self.context.workload = Some((kind, name.to_string()));
                    return;
                };
                let job_name = job.metadata.name.clone().unwrap_or_default();
                return self.read_job(kind, name, job, &job_name).await;
            }
            Kind::Job => {
                let Some(job) = self.get::<Job>("job", name).await else { return };
                return self.read_job(kind, name, job, name).await;
            }
            _ => return,
        };
        self.context.workload = Some((kind, name.to_string()));
        self.read_pods(kind, &selector).await;
    }

    async fn read_job(&mut self, kind: Kind, name: &str, job: Job, job_name: &str) {
        let status = job.status.clone().unwrap_or_default();
        self.report(format!(
            "Read job {}/{job_name}: {} succeeded, {} failed, {} running.",
            self.context.namespace,
            status.succeeded.unwrap_or(0),
            status.failed.unwrap_or(0),
            status.active.unwrap_or(0)
        ))
        .await;
        let selector = selector_of(job.spec.as_ref().and_then(|s| s.selector.as_ref()?.match_labels.as_ref()));
        self.context.job = Some(job);
        self.context.workload = Some((kind, name.to_string()));
        self.read_pods(Kind::Job, &selector).await;
    }

    async fn read_pods(&mut self, kind: Kind, selector: &str) {
        if let Some(pods) = self.list::<Pod>("the pods", selector).await {
            let not_ready = pods.iter().filter(|pod| !ready(pod)).count();
            self.report(format!("Listed {} pods of the {} ({not_ready} not ready).", pods.len(), kind.as_str())).await;
            self.context.pods = pods;
        }
    }

    /// The failing pod: the one named if it is still there, else (of a job) the newest
    /// that failed, else the first not ready.
    fn choose_failing_pod(&mut self, named: Option<Pod>, container: Option<&str>) {
        let context = &mut self.context;
        let newest_failed = || {
            context
                .pods
                .iter()
                .filter(|pod| pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
                .max_by_key(|pod| pod.metadata.creation_timestamp.clone())
                .cloned()
        };
        let pod = named
            .filter(|pod| context.pods.is_empty() || context.pods.iter().any(|p| p.metadata.name == pod.metadata.name))
            .or_else(|| context.job.as_ref().and_then(|_| newest_failed()))
            .or_else(|| context.pods.iter().find(|pod| !ready(pod)).cloned());
        context.failing_container = pod.as_ref().and_then(|pod| failing_container(pod, container));
        context.failing_pod = pod;
    }

    async fn read_logs(&mut self) {
        let (Some(pod), Some(container)) = (self.context.failing_pod.clone(), self.context.failing_container.clone())
        else {
            return;
        };
        let name = name_of(&pod);
        let pods = self.api::<Pod>();
        let params = |previous| LogParams {
            container: Some(container.clone()),
            previous,
            tail_lines: Some(LOG_LINES),
            ..LogParams::default()
        };
        if restarted(&pod, &container) {
            match timed("Reading the previous log", pods.logs(&name, &params(true))).await {
                Ok(log) => {
                    let lines = log.lines().count();
                    self.report(format!(
                        "Read the previous log of {name}/{container} ({lines} line{}).",
                        if lines == 1 { "" } else { "s" }
                    ))
                    .await;
                    self.context.previous_log = Some(log);
                }
                Err(error) => self.report(error).await,
            }
        }
        // A container that has not started has no log: not worth a step.
        if let Ok(log) = timed("Reading the current log", pods.logs(&name, &params(false))).await {
            self.context.current_log = Some(log);
        }
    }

    /// The claims the pods mount (a StatefulSet's from its templates) and the alert's,
    /// and the storage classes when one waits for its volume.
    async fn read_claims(&mut self, found: &Classification) {
        let mut names: Vec<String> = found.claim.iter().cloned().collect();
        // Claims a StatefulSet has yet to make: their absence is no fault.
        let mut yet_to_make: Vec<String> = Vec::new();
        let mut add = |name: String| {
            if !names.contains(&name) {
                names.push(name);
            }
        };
        for volume in self.context.pod_spec().iter().flat_map(|s| s.volumes.iter().flatten()) {
            if let Some(claim) = &volume.persistent_volume_claim {
                add(claim.claim_name.clone());
            }
        }
        if let Some(set) = &self.context.statefulset {
            let set_name = set.metadata.name.clone().unwrap_or_default();
            let spec = set.spec.clone();
            // A StatefulSet's pod N mounts `<template>-<set>-N`, made just before the pod:
            // without pods, the first pod's claims are read, and their absence is no fault
            // of theirs (the controller has not got that far).
            let none_yet = self.context.pods.is_empty();
            let ordinals: Vec<String> = if none_yet {
                vec!["0".to_string()]
            } else {
                self.context
                    .pods
                    .iter()
                    .filter_map(|p| name_of(p).rsplit_once('-').map(|(_, n)| n.to_string()))
                    .collect()
            };
            for template in spec.volume_claim_templates.iter().flatten() {
                let template = template.metadata.name.clone().unwrap_or_default();
                for ordinal in &ordinals {
                    let claim = format!("{template}-{set_name}-{ordinal}");
                    if none_yet {
                        yet_to_make.push(claim.clone());
                    }
                    add(claim);
                }
            }
        }
        let namespace = self.context.namespace.clone();
        for name in names.into_iter().take(6) {
            match timed("Reading the volume claim", self.api::<PersistentVolumeClaim>().get_opt(&name)).await {
                Ok(Some(claim)) => {
                    let status = claim.status.clone().unwrap_or_default();
                    let capacity = status.capacity.as_ref().and_then(|c| c.get("storage")).map(|q| q.0.clone());
                    self.report(format!(
                        "Read volume claim {namespace}/{name}: {}{}.",
                        status.phase.unwrap_or_default(),
                        capacity.map(|c| format!(", {c}")).unwrap_or_default()
                    ))
                    .await;
                    self.context.claims.push(claim);
                }
                Ok(None) if yet_to_make.contains(&name) => {
                    self.report(format!(
                        "No volume claim {namespace}/{name} yet: the StatefulSet makes it with its pod."
                    ))
                    .await;
                }
                Ok(None) => {
                    self.report(format!("No volume claim {namespace}/{name}.")).await;
                    self.context.missing_claims.push(name);
                }
                Err(error) => self.report(error).await,
            }
        }
        let waiting =
            self.context.claims.iter().any(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"));
        if waiting {
            let classes = Api::<StorageClass>::all(self.client.clone());
            match timed("Listing storage classes", classes.list(&ListParams::default())).await {
                Ok(list) => {
                    let names: Vec<String> = list.items.iter().filter_map(|c| c.metadata.name.clone()).collect();
                    self.report(format!("Read {} storage classes: {}.", names.len(), names.join(", "))).await;
                    self.context.storage_classes = Some(list.items);
                }
                Err(error) => self.report(error).await,
            }
        }
    }

    /// The autoscalers targeting the workload, or the one the alert names.
    async fn read_autoscalers(&mut self, found: &Classification) {
        let workload = self.context.workload.clone().filter(|(k, _)| matches!(k, Kind::Deployment | Kind::StatefulSet));
        let wanted = found.autoscaler.is_some()
            || workload.is_some()
                && matches!(found.family, Family::Autoscaling | Family::HighCpu | Family::RolloutFailure);
        if !wanted {
            return;
        }
        let Some(all) = self.list::<HorizontalPodAutoscaler>("autoscalers", "").await else { return };
        let targets = |hpa: &HorizontalPodAutoscaler| {
            let target = &hpa.spec.scale_target_ref;
            workload.as_ref().is_some_and(|(kind, name)| {
                target.name == *name
                    && target.kind == if *kind == Kind::StatefulSet { "StatefulSet" } else { "Deployment" }
            })
        };
        let chosen: Vec<HorizontalPodAutoscaler> = all
            .into_iter()
            .filter(|hpa| {
                found.autoscaler.as_deref().is_some_and(|n| hpa.metadata.name.as_deref() == Some(n)) || targets(hpa)
            })
            .collect();
        for hpa in &chosen {
            let status = hpa.status.clone().unwrap_or_default();
            self.report(format!(
                "Read autoscaler {}: {} replicas, wants {}.",
                hpa.metadata.name.clone().unwrap_or_default(),
                status.current_replicas.unwrap_or(0),
                status.desired_replicas
            ))
            .await;
        }
        self.context.autoscalers = chosen;
    }

    async fn read_events(&mut self) {
        let context = &self.context;
        let mut subjects: Vec<(&str, String)> = Vec::new();
        if let Some(pod) = context.failing_pod.as_ref() {
            subjects.push(("Pod", name_of(pod)));
        }
        let kind_name = |kind: Kind| match kind {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::CronJob => "CronJob",
            _ => "Job",
        };
        if let Some((kind, name)) = &context.workload {
            subjects.push((kind_name(*kind), name.clone()));
        }
        if let Some(job) = context.job.as_ref().and_then(|j| j.metadata.name.clone())
            && context.workload.as_ref().is_none_or(|(_, name)| *name != job)
        {
            subjects.push(("Job", job));
        }
        for claim in &context.claims {
            let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
            if let Some(name) = claim.metadata.name.clone().filter(|_| !bound) {
                subjects.push(("PersistentVolumeClaim", name));
            }
        }
        for hpa in &context.autoscalers {
            subjects.push(("HorizontalPodAutoscaler", hpa.metadata.name.clone().unwrap_or_default()));
        }
        let events = self.api::<Event>();
        for (kind, name) in subjects {
            let fields = format!("involvedObject.kind={kind},involvedObject.name={name}");
            match timed("Reading events", events.list(&ListParams::default().fields(&fields))).await {
                Ok(list) => {
                    let warnings = list.items.iter().filter(|e| e.type_.as_deref() == Some("Warning")).count();
                    let what = match kind {
                        "PersistentVolumeClaim" => "volume claim".to_string(),
                        "HorizontalPodAutoscaler" => "autoscaler".to_string(),
                        other => other.to_lowercase(),
                    };
                    self.report(format!("Read {} events of {what} {name} ({warnings} warnings).", list.items.len()))
                        .await;
                    self.context.events.extend(list.items);
                }
                Err(error) => self.report(error).await,
            }
        }
    }

    /// A Service and its ready endpoint addresses (none when it does not exist).
    async fn service_state(&self, namespace: &str, name: &str) -> Option<ServiceState> {
        let services: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        let service = timed("Reading the service", services.get_opt(name)).await.ok()?;
        let endpoints = match &service {
            Some(_) => timed(
                "Reading the endpoints",
                Api::<Endpoints>::namespaced(self.client.clone(), namespace).get_opt(name),
            )
            .await
            .ok()
            .flatten(),
            None => None,
        };
        Some(ServiceState {
            name: name.to_string(),
            namespace: namespace.to_string(),
            service,
            ready_addresses: ready_addresses(endpoints.as_ref()),
        })
    }

    async fn read_service(&mut self, found: &Classification) {
        let namespace = self.context.namespace.clone();
        // The alert's Service, else one named like the workload that serves.
        let service_name = found.service.clone().or_else(|| match &self.context.workload {
            Some((Kind::Deployment | Kind::StatefulSet, name)) => Some(name.clone()),
            _ => None,
        });
        let Some(name) = service_name else { return };
        let services: Api<Service> = Api::namespaced(self.client.clone(), &namespace);
        let Ok(Some(service)) = timed("Reading the service", services.get_opt(&name)).await else { return };
        let endpoints = timed(
            "Reading the endpoints",
            Api::<Endpoints>::namespaced(self.client.clone(), &namespace).get_opt(&name),
        )
        .await
        .ok()
        .flatten();
        let selector = selector_of(service.spec.as_ref().and_then(|s| s.selector.as_ref()));
        let matching = if selector.is_empty() {
            None
        } else {
            timed("Listing the service's pods", self.api::<Pod>().list(&ListParams::default().labels(&selector)))
                .await
                .ok()
                .map(|l| l.items.len())
        };
        let addresses = ready_addresses(endpoints.as_ref());
        self.report(format!("Read service {namespace}/{name}: {addresses} ready endpoints, selector {selector}."))
            .await;
        self.context.service = Some(service);
        self.context.endpoints = endpoints;
        self.context.pods_matching_service = matching;
    }

    /// The Ingresses routing to the service (all of the namespace's for an ingress alert),
    /// the Services they route to, and the ingress classes they name.
    async fn read_ingresses(&mut self, found: &Classification) {
        let service =
            self.context.service.as_ref().and_then(|s| s.metadata.name.clone()).or_else(|| found.service.clone());
        let wanted = found.ingress.is_some()
            || found.family == Family::Ingress
            || matches!(found.family, Family::ServiceWithoutEndpoints | Family::Network) && service.is_some();
        if !wanted {
            return;
        }
        let Some(all) = self.list::<Ingress>("ingresses", "").await else { return };
        let chosen: Vec<Ingress> = all
            .into_iter()
            .filter(|ingress| match &found.ingress {
                Some(named) => ingress.metadata.name.as_ref() == Some(named),
                None => {
                    found.family == Family::Ingress || service.as_ref().is_some_and(|s| backends(ingress).contains(s))
                }
            })
            .collect();
        self.report(format!("Read {} ingresses routing here.", chosen.len())).await;
        let mut backend_names: Vec<String> = chosen.iter().flat_map(backends).collect();
        backend_names.sort();
        backend_names.dedup();
        let namespace = self.context.namespace.clone();
        for name in backend_names.into_iter().take(6) {
            if let Some(state) = self.service_state(&namespace, &name).await {
                self.context.services_named.push(state);
            }
        }
        if chosen.iter().any(|i| i.spec.as_ref().and_then(|s| s.ingress_class_name.as_ref()).is_some()) {
            match timed(
                "Listing ingress classes",
                Api::<IngressClass>::all(self.client.clone()).list(&ListParams::default()),
            )
            .await
            {
                Ok(list) => self.context.ingress_classes = Some(list.items),
                Err(error) => self.report(error).await,
            }
        }
        self.context.ingresses = chosen;
    }

    /// The Services a failing log names as a dependency, and the NetworkPolicies that
    /// could stand between.
    async fn read_what_the_log_names(&mut self) {
        let log = self.context.previous_log.clone().or_else(|| self.context.current_log.clone()).unwrap_or_default();
        let Some(finding) = logs::read(&log) else { return };
        let (host, refused_or_silent) = match &finding.problem {
            Problem::UnknownHost { host } => (host.clone(), false),
            Problem::ConnectionRefused { address } | Problem::ConnectionTimedOut { address } => {
                (address.rsplit_once(':').map_or(address.clone(), |(h, _)| h.to_string()), true)
            }
            _ => return,
        };
        // `name`, `name.namespace`, `name.namespace.svc[.cluster.local]` are Services.
        let parts: Vec<&str> = host.split('.').collect();
        let in_cluster = match parts.as_slice() {
            [name] => Some((self.context.namespace.clone(), name.to_string())),
            [name, namespace] | [name, namespace, "svc", ..] => Some((namespace.to_string(), name.to_string())),
            _ => None,
        };
        let is_name =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if let Some((namespace, name)) =
            in_cluster.filter(|(ns, n)| is_name(ns) && is_name(n) && !n.chars().all(|c| c.is_ascii_digit()))
            && let Some(state) = self.service_state(&namespace, &name).await
        {
            let said = match &state.service {
                None => format!("No service {namespace}/{name} (named by the log)."),
                Some(_) => format!(
                    "Read service {namespace}/{name} (named by the log): {} ready endpoints.",
                    state.ready_addresses
                ),
            };
            self.report(said).await;
            self.context.services_named.push(state);
        }
        if refused_or_silent {
            let namespaces: Vec<String> = std::iter::once(self.context.namespace.clone())
                .chain(self.context.services_named.iter().map(|s| s.namespace.clone()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            for namespace in namespaces {
                let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), &namespace);
                match timed("Listing network policies", api.list(&ListParams::default())).await {
                    Ok(list) => {
                        self.report(format!("Read {} network policies in {namespace}.", list.items.len())).await;
                        self.context.network_policies.extend(list.items);
                    }
                    Err(error) => self.report(error).await,
                }
            }
        }
    }

    async fn read_nodes(&mut self, found: &Classification) {
        let pending = self
            .context
            .failing_pod
            .as_ref()
            .is_some_and(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"));
        if !(matches!(found.family, Family::NodeNotReady | Family::Unschedulable) || pending || found.node.is_some()) {
            return;
        }
        match timed("Listing nodes", Api::<Node>::all(self.client.clone()).list(&ListParams::default())).await {
            Ok(list) => {
                self.report(format!("Read {} nodes.", list.items.len())).await;
                self.context.nodes = list.items;
            }
            Err(error) => self.report(error).await,
        }
        // A node's pod capacity: the pods it runs.
        if let Some(node) = found.node.clone().filter(|_| found.family == Family::Unschedulable) {
            let pods: Api<Pod> = Api::all(self.client.clone());
            let fields = format!("spec.nodeName={node}");
            match timed("Listing the node's pods", pods.list(&ListParams::default().fields(&fields))).await {
                Ok(list) => {
                    let running = list
                        .items
                        .iter()
                        .filter(|p| {
                            !matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
                        })
                        .count();
                    self.report(format!("Node {node} runs {running} pods.")).await;
                    self.context.pods_on_node = Some((node, running));
                }
                Err(error) => self.report(error).await,
            }
        }
    }
}

/// The ready addresses of `endpoints`.
fn ready_addresses(endpoints: Option<&Endpoints>) -> usize {
    endpoints
        .and_then(|e| e.subsets.as_ref())
        .map(|subsets| subsets.iter().map(|s| s.addresses.as_ref().map_or(0, Vec::len)).sum::<usize>())
        .unwrap_or(0)
}

/// The Services an Ingress routes to (its rules' paths and its default backend).
pub fn backends(ingress: &Ingress) -> Vec<String> {
    let Some(spec) = ingress.spec.as_ref() else { return Vec::new() };
    let default = spec.default_backend.as_ref().and_then(|b| b.service.as_ref()).map(|s| s.name.clone());
    spec.rules
        .iter()
        .flatten()
        .flat_map(|rule| rule.http.iter().flat_map(|http| http.paths.iter()))
        .filter_map(|path| path.backend.service.as_ref().map(|s| s.name.clone()))
        .chain(default)
        .collect()
}
