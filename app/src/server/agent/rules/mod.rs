//! The deterministic diagnosis: from what the cluster shows (statuses, events, logs,
//! revisions, endpoints) and what the alert says, the root cause in one sentence, the
//! lines it rests on, how sure it is, and what to do — each action with its risk, whether
//! it can be undone and the exact change. The first rule that holds decides.
//!
//! The rules live by what failed — `pod`, `workloads`, `rollout`, `scheduling`,
//! `storage`, `batch` — each file with its tests; `causes` turns what a failing
//! container's log says into a cause; `runbooks` answers when no rule holds. Here: the
//! order they are tried in, and what they share.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::classify::{Classification, IncidentFacts};
use super::context::{ClusterContext, all_statuses, backends};
use super::logs::{self, Finding, Problem};
use crate::domain::analysis::{Change, Confidence, Evidence, Family, RecommendedAction, Risk};
use crate::server::alert_subject::Kind;
use crate::server::cluster_client::quantity::{memory, memory_bytes};
use crate::server::cluster_client::writes::revision;

mod batch;
mod causes;
mod pod;
mod rollout;
mod runbooks;
mod scheduling;
mod storage;
mod workloads;

use batch::*;
use causes::*;
use pod::*;
use rollout::*;
use runbooks::*;
use scheduling::*;
use storage::*;
use workloads::*;

/// What the rules concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    pub family: Family,
    pub root_cause: String,
    pub confidence: Confidence,
    pub evidence: Vec<Evidence>,
    pub actions: Vec<RecommendedAction>,
    /// `namespace/deployment/name` (or `namespace/pod/name`) looked at.
    pub workload: Option<String>,
}

/// The factor a memory limit is raised by, and the highest limit it is raised to.
pub const MEMORY_FACTOR: f64 = 1.5;

pub const MEMORY_CAP_BYTES: u64 = 8 * 1024 * 1024 * 1024;

fn evidence(source: impl Into<String>, line: impl Into<String>) -> Evidence {
    Evidence { source: source.into(), line: line.into() }
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// The container statuses of `pod`, init containers first.
fn statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    all_statuses(pod)
}

fn waiting_reason(status: &ContainerStatus) -> Option<&str> {
    status.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
}

fn terminated(status: &ContainerStatus) -> Option<&k8s_openapi::api::core::v1::ContainerStateTerminated> {
    status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| status.state.as_ref()?.terminated.as_ref())
}

/// The limit a memory limit is raised to: by [`MEMORY_FACTOR`], rounded up to 64 MiB,
/// at most [`MEMORY_CAP_BYTES`].
pub fn raised_limit(limit: &str) -> Option<String> {
    let bytes = memory_bytes(limit)?;
    let step = 64 * 1024 * 1024;
    let raised = ((bytes as f64 * MEMORY_FACTOR) as u64).div_ceil(step) * step;
    let raised = raised.min(MEMORY_CAP_BYTES);
    (raised > bytes).then(|| memory(raised))
}

/// The warning events' messages, oldest first, without repeats.
fn warnings(context: &ClusterContext) -> Vec<Evidence> {
    let mut seen = Vec::new();
    for event in context.events.iter().filter(|e| e.type_.as_deref() == Some("Warning")) {
        let line = format!("{}: {}", event.reason.as_deref().unwrap_or(""), event.message.as_deref().unwrap_or(""));
        let source = format!(
            "event of {} {}",
            event.involved_object.kind.as_deref().unwrap_or("object").to_lowercase(),
            event.involved_object.name.as_deref().unwrap_or("")
        );
        if !seen.iter().any(|e: &Evidence| e.line == line) {
            seen.push(evidence(source, line));
        }
    }
    seen
}

fn manual(title: &str, steps: &[&str]) -> RecommendedAction {
    RecommendedAction {
        title: title.to_string(),
        risk: Risk::Low,
        reversible: true,
        change: Change::Manual { steps: steps.iter().map(|s| s.to_string()).collect() },
    }
}

fn manual_owned(title: &str, steps: Vec<String>) -> RecommendedAction {
    RecommendedAction { title: title.to_string(), risk: Risk::Low, reversible: true, change: Change::Manual { steps } }
}

/// The log line that says why a program stopped: the last that looks like an error.
fn telling_line(log: &str) -> Option<&str> {
    let lower = |line: &str| line.to_lowercase();
    log.lines()
        .rev()
        .find(|line| {
            let line = lower(line);
            ["fatal", "error", "panic", "exception", "refusing", "must specify", "not set", "no such file"]
                .iter()
                .any(|w| line.contains(w))
        })
        .map(str::trim)
}

/// Diagnoses the incident from `facts`, its classification and (for Kubernetes
/// families with a cluster) what was read from the cluster.
pub fn diagnose(facts: &IncidentFacts, found: &Classification, context: Option<&ClusterContext>) -> Diagnosis {
    let alert = evidence("alert", facts.title.clone());
    if let Some(context) = context {
        for rule in [
            job_failed,
            oom_killed,
            image_pull,
            config_missing,
            volume_claim,
            unschedulable,
            evicted,
            stuck_creating,
            lifecycle_hook,
            crash_loop,
            scaled_to_zero,
            selector_matches_nothing,
            replica_failure,
            cannot_create_pods,
            autoscaler,
            ingress_misrouted,
            rollout_stuck,
            log_problem,
            failing_probes,
            node_full,
            node_not_ready,
        ] {
            if let Some(mut diagnosis) = rule(context) {
                diagnosis.evidence.insert(0, alert);
                return diagnosis;
            }
        }
    }
    runbook(facts, found, context.is_some(), alert)
}

fn workload(context: &ClusterContext) -> Option<String> {
    match (&context.workload, &context.failing_pod) {
        (Some((kind, name)), _) => Some(format!("{}/{}/{name}", context.namespace, kind.as_str())),
        (None, Some(p)) => Some(format!("{}/pod/{}", context.namespace, name(p))),
        _ => None,
    }
}

/// What failed, for a root cause: the workload's name (a bare pod's as `pod x`).
fn workload_name(context: &ClusterContext) -> String {
    match (&context.workload, &context.failing_pod) {
        (Some((_, name)), _) => name.clone(),
        (None, Some(pod)) => format!("pod {}", name(pod)),
        _ => "the workload".into(),
    }
}

/// The deployment, when the workload is one (restarts, roll-backs and limits apply to it).
fn deployment_of(context: &ClusterContext) -> Option<String> {
    context
        .deployment
        .as_ref()
        .and_then(|d| d.metadata.name.clone())
        .filter(|_| matches!(context.workload, Some((Kind::Deployment, _))))
}

/// Cluster states for the rules' unit tests.
#[cfg(test)]
mod fixtures {
    use super::*;
    use serde_json::{Value, json};

    pub(super) fn pod(status: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-abc-1", "namespace": "shop"},
            "spec": {"containers": [{"name": "web", "image": "web:2", "resources": {"limits": {"memory": "512Mi"}, "requests": {"memory": "128Mi"}}}]},
            "status": status,
        }))
        .unwrap()
    }

    pub(super) fn context(pods: Vec<Pod>, events: Value, deployment: Value) -> ClusterContext {
        ClusterContext {
            namespace: "shop".into(),
            failing_pod: pods.first().cloned(),
            pods,
            events: serde_json::from_value(events).unwrap(),
            deployment: Some(serde_json::from_value(deployment).unwrap()),
            workload: Some((Kind::Deployment, "web".into())),
            replica_sets: vec![
                serde_json::from_value(json!({"metadata": {"name": "web-new", "annotations": {"deployment.kubernetes.io/revision": "4"}},
                    "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}})).unwrap(),
                serde_json::from_value(json!({"metadata": {"name": "web-old", "annotations": {"deployment.kubernetes.io/revision": "3"}},
                    "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}}})).unwrap(),
            ],
            ..ClusterContext::default()
        }
    }

    pub(super) fn deployment(status: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
               "template": {"spec": {"containers": [{"name": "web"}]}}}, "status": status})
    }

    pub(super) fn running(ready: bool, extra: Value) -> Value {
        let mut status = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                                "containerStatuses": [{"name": "web", "image": "web:2", "imageID": "", "ready": ready, "restartCount": 0}]});
        if let Some(map) = extra.as_object() {
            for (key, value) in map {
                status["containerStatuses"][0][key] = value.clone();
            }
        }
        status
    }

    pub(super) fn diagnosis(context: &ClusterContext) -> Diagnosis {
        let facts = IncidentFacts { title: "alert".into(), ..IncidentFacts::default() };
        let found = super::super::classify::classify(&facts);
        diagnose(&facts, &found, Some(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_rise_by_half_rounded_to_64_mebibytes_and_capped() {
        assert_eq!(raised_limit("256Mi").as_deref(), Some("384Mi"));
        assert_eq!(raised_limit("100Mi").as_deref(), Some("192Mi"));
        assert_eq!(raised_limit("1Gi").as_deref(), Some("1536Mi"));
        assert_eq!(raised_limit("6Gi").as_deref(), Some("8Gi"));
        assert_eq!(raised_limit("8Gi"), None, "at the cap: nothing to raise");
        assert_eq!(raised_limit("lots"), None);
    }

    #[test]
    fn the_telling_line_is_the_last_that_looks_like_an_error() {
        assert_eq!(
            telling_line(
                "INFO starting\nERROR open x.yaml: no such file\nFATAL configuration file x.yaml is missing\n"
            ),
            Some("FATAL configuration file x.yaml is missing")
        );
        assert_eq!(telling_line("INFO all good\n"), None);
    }
}
