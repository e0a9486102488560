//! The deterministic diagnosis: from what the cluster shows (statuses, events, logs,
//! revisions, endpoints) and what the alert says, the root cause in one sentence, the
//! lines it rests on, how sure it is, and what to do — each action with its risk, whether
//! it can be undone and the exact change. The first rule that holds decides.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::classify::{Classification, IncidentFacts};
use super::context::ClusterContext;
use crate::domain::analysis::{Change, Confidence, Evidence, Family, RecommendedAction, Risk};
use crate::server::cluster_client::writes::revision;
use crate::server::demo_cluster::programs::memory_bytes;

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

fn statuses(pod: &Pod) -> &[ContainerStatus] {
    pod.status.as_ref().and_then(|s| s.container_statuses.as_deref()).unwrap_or(&[])
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

/// Memory `bytes` as Kubernetes writes it, in whole MiB (or GiB when exact).
pub fn quantity(bytes: u64) -> String {
    let mib = bytes.div_ceil(1024 * 1024);
    if mib.is_multiple_of(1024) { format!("{}Gi", mib / 1024) } else { format!("{mib}Mi") }
}

/// The limit a memory limit is raised to: by [`MEMORY_FACTOR`], rounded up to 64 MiB,
/// at most [`MEMORY_CAP_BYTES`].
pub fn raised_limit(limit: &str) -> Option<String> {
    let bytes = memory_bytes(limit)?;
    let step = 64 * 1024 * 1024;
    let raised = ((bytes as f64 * MEMORY_FACTOR) as u64).div_ceil(step) * step;
    let raised = raised.min(MEMORY_CAP_BYTES);
    (raised > bytes).then(|| quantity(raised))
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

/// The deployment's previous revision: its number and image, when there is one.
fn previous_revision(context: &ClusterContext) -> Option<(i64, i64, Option<String>)> {
    let current = context.replica_sets.first().and_then(revision)?;
    let previous = context.replica_sets.get(1)?;
    let image = previous
        .spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone());
    Some((current, revision(previous)?, image))
}

fn roll_back(context: &ClusterContext, why: &str) -> Option<RecommendedAction> {
    let deployment = context.deployment.as_ref()?.metadata.name.clone()?;
    let (from, to, image) = previous_revision(context)?;
    Some(RecommendedAction {
        title: format!(
            "Roll {deployment} back to revision {to}{}: {why}",
            image.as_ref().map(|i| format!(" ({i})")).unwrap_or_default()
        ),
        risk: Risk::Medium,
        reversible: true,
        change: Change::RollBack {
            namespace: context.namespace.clone(),
            deployment,
            from_revision: from,
            to_revision: to,
            to_image: image,
        },
    })
}

fn manual(title: &str, steps: &[&str]) -> RecommendedAction {
    RecommendedAction {
        title: title.to_string(),
        risk: Risk::Low,
        reversible: true,
        change: Change::Manual { steps: steps.iter().map(|s| s.to_string()).collect() },
    }
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

/// Whether `line` says a configuration file is missing.
fn missing_config(line: &str) -> bool {
    let line = line.to_lowercase();
    let missing =
        ["no such file", "is missing", "not found", "cannot open", "could not open"].iter().any(|w| line.contains(w));
    let config =
        ["config", ".yaml", ".yml", ".json", ".toml", ".conf", ".ini", "settings"].iter().any(|w| line.contains(w));
    missing && config
}

/// The environment variable `line` says is missing, if it says so.
fn missing_variable(line: &str) -> Option<String> {
    let lower = line.to_lowercase();
    if !["is not set", "not specified", "must specify", "is required", "missing environment", "undefined variable"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return None;
    }
    line.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| {
            word.len() >= 3 && word.contains('_') || word.len() >= 4 && word.chars().all(|c| c.is_ascii_uppercase())
        })
        .find(|word| word.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .map(str::to_string)
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
            crash_loop,
            scaled_to_zero,
            selector_matches_nothing,
            replica_failure,
            rollout_stuck,
            failing_probes,
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
    match (&context.deployment, &context.failing_pod) {
        (Some(d), _) => {
            Some(format!("{}/deployment/{}", context.namespace, d.metadata.name.clone().unwrap_or_default()))
        }
        (None, Some(p)) => Some(format!("{}/pod/{}", context.namespace, name(p))),
        _ => None,
    }
}

fn deployment_name(context: &ClusterContext) -> String {
    context.deployment.as_ref().and_then(|d| d.metadata.name.clone()).unwrap_or_else(|| "the workload".into())
}

fn oom_killed(context: &ClusterContext) -> Option<Diagnosis> {
    let (pod, status) = context
        .pods
        .iter()
        .flat_map(|pod| statuses(pod).iter().map(move |s| (pod, s)))
        .find(|(_, status)| terminated(status).and_then(|t| t.reason.as_deref()) == Some("OOMKilled"))?;
    let container = status.name.clone();
    let limit = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == container))
        .and_then(|c| c.resources.as_ref()?.limits.as_ref()?.get("memory").map(|q| q.0.clone()));
    let exit = terminated(status).map(|t| t.exit_code).unwrap_or(137);
    let mut evidence_lines = vec![evidence(
        format!("status of pod {}", name(pod)),
        format!(
            "container {container}: last terminated with reason OOMKilled, exit code {exit}, restarted {} times",
            status.restart_count
        ),
    )];
    let deployment = deployment_name(context);
    let mut actions = Vec::new();
    let root_cause = match &limit {
        Some(limit) => {
            evidence_lines
                .push(evidence(format!("spec of pod {}", name(pod)), format!("resources.limits.memory: {limit}")));
            if let (Some(to), Some(_)) = (raised_limit(limit), &context.deployment) {
                actions.push(RecommendedAction {
                    title: format!("Raise {container}'s memory limit from {limit} to {to}"),
                    risk: Risk::Low,
                    reversible: true,
                    change: Change::SetMemoryLimit {
                        namespace: context.namespace.clone(),
                        deployment: deployment.clone(),
                        container: container.clone(),
                        from: Some(limit.clone()),
                        to,
                    },
                });
            }
            format!("Container {container} of {deployment} is OOM-killed: it needs more memory than its {limit} limit.")
        }
        None => format!(
            "Container {container} of {deployment} is OOM-killed with no memory limit: the node ran out of memory."
        ),
    };
    actions.push(manual(
        "Find out why it needs this much memory",
        &[
            "Compare its memory use with earlier releases",
            "Look for a leak or an unbounded cache before raising the limit again",
        ],
    ));
    evidence_lines.extend(warnings(context).into_iter().take(3));
    Some(Diagnosis {
        family: Family::OomKill,
        root_cause,
        confidence: Confidence::High,
        evidence: evidence_lines,
        actions,
        workload: workload(context),
    })
}

fn image_pull(context: &ClusterContext) -> Option<Diagnosis> {
    let (pod, status, reason) = context.pods.iter().find_map(|pod| {
        statuses(pod).iter().find_map(|s| {
            waiting_reason(s)
                .filter(|r| matches!(*r, "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName"))
                .map(|r| (pod, s, r.to_string()))
        })
    })?;
    let image = status.image.clone();
    let mut evidence_lines =
        vec![evidence(format!("status of pod {}", name(pod)), format!("container {}: waiting, {reason}", status.name))];
    let pull_errors: Vec<Evidence> =
        warnings(context).into_iter().filter(|e| e.line.contains("pull") || e.line.contains("Pull")).collect();
    evidence_lines.extend(pull_errors.iter().take(2).cloned());
    let not_found = pull_errors.iter().any(|e| e.line.contains("not found") || e.line.contains("manifest unknown"));
    let deployment = deployment_name(context);
    let root_cause = if not_found {
        format!("{deployment} runs image {image}, which does not exist in its registry.")
    } else {
        format!("{deployment}'s image {image} cannot be pulled (credentials, registry or network).")
    };
    let mut actions: Vec<RecommendedAction> = roll_back(context, "its image could be pulled").into_iter().collect();
    actions.push(manual(
        "Fix the image reference",
        &["Check the tag exists in the registry", "Check the pull secret if the registry is private"],
    ));
    Some(Diagnosis {
        family: Family::ImagePull,
        root_cause,
        confidence: Confidence::High,
        evidence: evidence_lines,
        actions,
        workload: workload(context),
    })
}

/// A container that cannot be created because a ConfigMap, Secret or key it names is missing.
fn config_missing(context: &ClusterContext) -> Option<Diagnosis> {
    let (pod, status, message) = context.pods.iter().find_map(|pod| {
        statuses(pod).iter().find_map(|s| {
            let waiting = s.state.as_ref()?.waiting.as_ref()?;
            (waiting.reason.as_deref() == Some("CreateContainerConfigError"))
                .then(|| (pod, s, waiting.message.clone().unwrap_or_default()))
        })
    })?;
    let deployment = deployment_name(context);
    Some(Diagnosis {
        family: Family::PodCrash,
        root_cause: format!("{deployment}'s container {} cannot be created: {message}", status.name),
        confidence: Confidence::High,
        evidence: vec![evidence(
            format!("status of pod {}", name(pod)),
            format!("container {}: waiting, CreateContainerConfigError: {message}", status.name),
        )],
        actions: vec![manual(
            "Create what the container refers to",
            &[
                "Create the ConfigMap or Secret (or the key) the message names, in the pod's namespace",
                "A restart will not help until it exists",
            ],
        )],
        workload: workload(context),
    })
}

/// Pods the kubelet evicted: the pod's own ephemeral-storage limit, or node pressure.
fn evicted(context: &ClusterContext) -> Option<Diagnosis> {
    let pod =
        context.pods.iter().find(|pod| pod.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted"))?;
    let message = pod.status.as_ref().and_then(|s| s.message.clone()).unwrap_or_default();
    let deployment = deployment_name(context);
    let own_limit = message.contains("ephemeral local storage") && message.contains("limit");
    let action = if own_limit {
        manual(
            "Give it the disk it writes, or have it write less",
            &[
                "Raise the container's ephemeral-storage limit above what it writes",
                "Or move what it writes to a volume (emptyDir with a sizeLimit, or a claim)",
                "Delete the evicted pods once fixed",
            ],
        )
    } else {
        manual(
            "Relieve the node and set requests",
            &[
                "Check the node's pressure conditions",
                "Give the pod memory and ephemeral-storage requests so it is placed where it fits",
                "Delete the evicted pods once understood",
            ],
        )
    };
    Some(Diagnosis {
        family: if own_limit { Family::PodCrash } else { Family::NodeNotReady },
        root_cause: format!("{deployment}'s pod {} was evicted: {message}", name(pod)),
        confidence: Confidence::High,
        evidence: vec![evidence(
            format!("status of pod {}", name(pod)),
            format!("phase Failed, reason Evicted: {message}"),
        )],
        actions: vec![action],
        workload: workload(context),
    })
}

/// Pods stuck in ContainerCreating: volumes that do not mount, sandboxes not created.
fn stuck_creating(context: &ClusterContext) -> Option<Diagnosis> {
    let failure = warnings(context).into_iter().find(|e| {
        e.line.starts_with("FailedMount")
            || e.line.starts_with("FailedAttachVolume")
            || e.line.starts_with("FailedCreatePodSandBox")
    })?;
    let creating = context.pods.iter().any(|pod| {
        statuses(pod).iter().any(|s| waiting_reason(s) == Some("ContainerCreating")) || statuses(pod).is_empty()
    });
    if !creating {
        return None;
    }
    let deployment = deployment_name(context);
    let volume = failure.line.starts_with("FailedMount") || failure.line.starts_with("FailedAttachVolume");
    Some(Diagnosis {
        family: if volume { Family::VolumeProblem } else { Family::PodCrash },
        root_cause: format!("{deployment}'s pods cannot start: {}", failure.line),
        confidence: Confidence::High,
        evidence: vec![failure],
        actions: vec![if volume {
            manual(
                "Fix the volume",
                &[
                    "Check the PersistentVolumeClaim is Bound and the volume exists",
                    "Check the Secret or ConfigMap the volume names",
                ],
            )
        } else {
            manual(
                "Fix the node's container runtime or network plugin",
                &["Check the CNI plugin's pods on the node", "Cordon the node if only it fails"],
            )
        }],
        workload: workload(context),
    })
}

/// A deployment whose replica set cannot create pods (quota, admission).
fn replica_failure(context: &ClusterContext) -> Option<Diagnosis> {
    let deployment = context.deployment.as_ref()?;
    let failure = deployment
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True"))?;
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let message = failure.message.clone().unwrap_or_default();
    Some(Diagnosis {
        family: Family::RolloutFailure,
        root_cause: format!("{name} cannot create its pods: {message}"),
        confidence: Confidence::High,
        evidence: vec![evidence(
            format!("status of deployment {name}"),
            format!("ReplicaFailure=True ({}): {message}", failure.reason.clone().unwrap_or_default()),
        )],
        actions: vec![manual(
            "Lift what refuses the pods",
            &[
                "Check the namespace's ResourceQuota and LimitRange",
                "Check admission webhooks that may reject the pods",
            ],
        )],
        workload: workload(context),
    })
}

fn unschedulable(context: &ClusterContext) -> Option<Diagnosis> {
    let (pod, message) = context.pods.iter().find_map(|pod| {
        pod.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
            .map(|c| (pod, c.message.clone().unwrap_or_default()))
    })?;
    let deployment = deployment_name(context);
    let requests = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.resources.as_ref()?.requests.as_ref())
        .map(|r| r.iter().map(|(k, v)| format!("{k}={}", v.0)).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let mut evidence_lines = vec![evidence(
        format!("status of pod {}", name(pod)),
        format!("PodScheduled=False (Unschedulable): {message}"),
    )];
    if !requests.is_empty() {
        evidence_lines.push(evidence(format!("spec of pod {}", name(pod)), format!("resources.requests: {requests}")));
    }
    let mut actions: Vec<RecommendedAction> = roll_back(context, "its pods fitted on the nodes").into_iter().collect();
    actions.push(manual(
        "Make room or ask for less",
        &["Lower the pod's resource requests", "Or add nodes that can fit it"],
    ));
    Some(Diagnosis {
        family: Family::Unschedulable,
        root_cause: format!(
            "No node can run {deployment}'s new pods: {}",
            message.split(". preemption").next().unwrap_or(&message)
        ),
        confidence: Confidence::High,
        evidence: evidence_lines,
        actions,
        workload: workload(context),
    })
}

fn crash_loop(context: &ClusterContext) -> Option<Diagnosis> {
    // Restarts a failing liveness probe causes are the probe's to explain.
    if warnings(context).iter().any(|e| e.line.starts_with("Unhealthy: Liveness probe failed")) {
        return None;
    }
    let (pod, status) = context
        .failing_pod
        .iter()
        .chain(context.pods.iter())
        .flat_map(|pod| statuses(pod).iter().map(move |s| (pod, s)))
        .find(|(_, s)| {
            waiting_reason(s) == Some("CrashLoopBackOff")
                || (s.restart_count > 0 && terminated(s).is_some() && !s.ready)
        })?;
    let deployment = deployment_name(context);
    let container = &status.name;
    let exit = terminated(status).map(|t| t.exit_code);
    let mut evidence_lines = vec![evidence(
        format!("status of pod {}", name(pod)),
        format!(
            "container {container}: {}, restarted {} times{}",
            waiting_reason(status).unwrap_or("restarting"),
            status.restart_count,
            exit.map(|code| format!(", last exit code {code}")).unwrap_or_default()
        ),
    )];
    let log = context.previous_log.as_deref().or(context.current_log.as_deref()).unwrap_or("");
    let line = telling_line(log);
    if let Some(line) = line {
        evidence_lines.push(evidence(format!("previous log of {}", name(pod)), line));
    }
    evidence_lines.extend(warnings(context).into_iter().filter(|e| e.line.starts_with("BackOff")).take(1));
    let restart_useless = "A restart will not help: the cause is in its configuration.";
    let (root_cause, confidence, actions) = match line {
        Some(line) if missing_config(line) => (
            format!("{deployment} crashes at start because its configuration file is missing: \"{line}\""),
            Confidence::High,
            vec![manual(
                "Provide the configuration file",
                &[
                    "Create the ConfigMap (or Secret) holding the file",
                    "Mount it where the program looks for it",
                    restart_useless,
                ],
            )],
        ),
        Some(line) if missing_variable(line).is_some() => {
            let variable = missing_variable(line).unwrap_or_default();
            let mut actions: Vec<RecommendedAction> = roll_back(context, &format!("it had {variable}"))
                .filter(|_| previous_revision_sets(context, &variable))
                .into_iter()
                .collect();
            actions.push(manual(
                &format!("Set {variable}"),
                &[
                    &format!("Add {variable} to the container's environment (from a Secret if it is a credential)"),
                    restart_useless,
                ],
            ));
            (
                format!("{deployment} crashes at start because {variable} is not set: \"{line}\""),
                Confidence::High,
                actions,
            )
        }
        _ => {
            let mut actions: Vec<RecommendedAction> =
                roll_back(context, "the crashes began with the current revision").into_iter().collect();
            if let Some(deployment) = context.deployment.as_ref().and_then(|d| d.metadata.name.clone()) {
                actions.push(RecommendedAction {
                    title: format!("Restart {deployment}'s pods"),
                    risk: Risk::Low,
                    reversible: true,
                    change: Change::RolloutRestart { namespace: context.namespace.clone(), deployment },
                });
            }
            let why = line.map(|l| format!(": \"{l}\"")).unwrap_or_default();
            (
                format!(
                    "{deployment} keeps crashing{}{why}",
                    exit.map(|c| format!(" with exit code {c}")).unwrap_or_default()
                ),
                Confidence::Medium,
                actions,
            )
        }
    };
    Some(Diagnosis {
        family: Family::PodCrash,
        root_cause,
        confidence,
        evidence: evidence_lines,
        actions,
        workload: workload(context),
    })
}

/// Whether the previous revision's container sets `variable` (so rolling back restores it).
fn previous_revision_sets(context: &ClusterContext, variable: &str) -> bool {
    context
        .replica_sets
        .get(1)
        .and_then(|rs| rs.spec.template.as_ref()?.spec.as_ref()?.containers.first().cloned())
        .is_some_and(|c| c.env.iter().flatten().any(|e| e.name == variable))
}

fn scaled_to_zero(context: &ClusterContext) -> Option<Diagnosis> {
    let deployment = context.deployment.as_ref()?;
    if deployment.spec.replicas != Some(0) {
        return None;
    }
    let name = deployment.metadata.name.clone().unwrap_or_default();
    // What it ran before: the desired count its replica sets remember, else 1.
    let before = context
        .replica_sets
        .iter()
        .filter_map(|rs| {
            rs.metadata.annotations.as_ref()?.get("deployment.kubernetes.io/desired-replicas")?.parse::<i32>().ok()
        })
        .find(|n| *n > 0)
        .unwrap_or(1);
    let mut evidence_lines = vec![evidence(format!("spec of deployment {name}"), "replicas: 0")];
    if context.service.is_some() {
        evidence_lines.push(evidence(format!("endpoints of service {name}"), "no ready addresses"));
    }
    Some(Diagnosis {
        family: Family::ServiceWithoutEndpoints,
        root_cause: format!("{name} is scaled to zero replicas: nothing serves its traffic."),
        confidence: Confidence::High,
        evidence: evidence_lines,
        actions: vec![RecommendedAction {
            title: format!("Scale {name} to {before} replicas"),
            risk: Risk::Low,
            reversible: true,
            change: Change::Scale { namespace: context.namespace.clone(), deployment: name, from: 0, to: before },
        }],
        workload: workload(context),
    })
}

fn selector_matches_nothing(context: &ClusterContext) -> Option<Diagnosis> {
    let service = context.service.as_ref()?;
    if context.pods_matching_service != Some(0) {
        return None;
    }
    let name = service.metadata.name.clone().unwrap_or_default();
    let selector = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .map(crate::server::cluster_client::selector)
        .unwrap_or_default();
    Some(Diagnosis {
        family: Family::ServiceWithoutEndpoints,
        root_cause: format!(
            "Service {name}'s selector {selector} matches no pod in {}: it has no endpoints.",
            context.namespace
        ),
        confidence: Confidence::High,
        evidence: vec![
            evidence(format!("spec of service {name}"), format!("selector: {selector}")),
            evidence(format!("pods in {}", context.namespace), format!("none labelled {selector}")),
        ],
        actions: vec![manual(
            "Make the selector and the pods' labels agree",
            &[
                "Fix the service's selector to the labels the pods carry",
                "Or deploy the workload it is meant to select",
            ],
        )],
        workload: Some(format!("{}/service/{name}", context.namespace)),
    })
}

fn rollout_stuck(context: &ClusterContext) -> Option<Diagnosis> {
    let deployment = context.deployment.as_ref()?;
    let stuck = deployment.status.as_ref()?.conditions.as_ref()?.iter().find(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.status.as_deref() == Some("False")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    })?;
    let name = deployment.metadata.name.clone().unwrap_or_default();
    Some(Diagnosis {
        family: Family::RolloutFailure,
        root_cause: format!("The rollout of {name} is stuck: {}", stuck.message.clone().unwrap_or_default()),
        confidence: Confidence::Medium,
        evidence: vec![evidence(
            format!("status of deployment {name}"),
            format!("Progressing=False: {}", stuck.message.clone().unwrap_or_default()),
        )],
        actions: roll_back(context, "the last revision that rolled out").into_iter().collect(),
        workload: workload(context),
    })
}

/// The probe settings of a replica set's first container.
fn probes(rs: &k8s_openapi::api::apps::v1::ReplicaSet) -> Option<String> {
    let container = rs.spec.template.as_ref()?.spec.as_ref()?.containers.first()?;
    Some(format!("{:?} {:?}", container.readiness_probe, container.liveness_probe))
}

fn failing_probes(context: &ClusterContext) -> Option<Diagnosis> {
    let unhealthy: Vec<Evidence> = warnings(context).into_iter().filter(|e| e.line.starts_with("Unhealthy")).collect();
    let first = unhealthy.first()?.clone();
    let deployment = deployment_name(context);
    let failure = first.line.trim_start_matches("Unhealthy: ").to_string();
    // A 404 or a refused connection: the probe asks for what the app does not serve.
    let misdirected = failure.contains("statuscode: 404") || failure.contains("connection refused");
    let mut actions = Vec::new();
    let root_cause = if misdirected {
        let probe_changed = match (context.replica_sets.first(), context.replica_sets.get(1)) {
            (Some(current), Some(previous)) => probes(current) != probes(previous),
            _ => false,
        };
        if probe_changed {
            actions.extend(roll_back(context, "its probes matched the app"));
        }
        actions.push(manual(
            "Point the probe at the app",
            &[
                "Set the probe's path and port to an endpoint the app serves (its health check)",
                "A restart will not help: the probe itself is wrong",
            ],
        ));
        format!("{deployment}'s probe asks for something the app does not serve: {failure}")
    } else {
        if let Some(name) = context.deployment.as_ref().and_then(|d| d.metadata.name.clone()) {
            actions.push(RecommendedAction {
                title: format!("Restart {name}'s pods"),
                risk: Risk::Low,
                reversible: true,
                change: Change::RolloutRestart { namespace: context.namespace.clone(), deployment: name },
            });
        }
        actions.push(manual(
            "Check the probe",
            &[
                "Check the probe's path, port and timeout against the app",
                "Check what the app depends on at that moment",
            ],
        ));
        format!("{deployment}'s health probes fail: {failure}")
    };
    Some(Diagnosis {
        family: Family::ProbeFailure,
        root_cause,
        confidence: if misdirected { Confidence::High } else { Confidence::Medium },
        evidence: unhealthy.into_iter().take(3).collect(),
        actions,
        workload: workload(context),
    })
}

/// A job that gave up: its condition, its last pod's exit and the log line that says why.
fn job_failed(context: &ClusterContext) -> Option<Diagnosis> {
    let job = context.job.as_ref()?;
    let failed =
        job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Failed" && c.status == "True")?;
    let job_name = job.metadata.name.clone().unwrap_or_default();
    let reason = failed.reason.clone().unwrap_or_default();
    let message = failed.message.clone().unwrap_or_default();
    let attempts = job.status.as_ref().and_then(|s| s.failed).unwrap_or(0);
    let mut evidence_lines = vec![evidence(
        format!("status of job {job_name}"),
        format!("Failed=True ({reason}): {message}; {attempts} pods failed"),
    )];
    let last = context.failing_pod.as_ref();
    let exit = last.and_then(|pod| statuses(pod).first()).and_then(terminated).map(|t| t.exit_code);
    if let (Some(pod), Some(code)) = (last, exit) {
        evidence_lines
            .push(evidence(format!("status of pod {}", name(pod)), format!("terminated with exit code {code}")));
    }
    let log = context.current_log.as_deref().or(context.previous_log.as_deref()).unwrap_or("");
    let line = telling_line(log);
    if let (Some(pod), Some(line)) = (last, line) {
        evidence_lines.push(evidence(format!("log of pod {}", name(pod)), line));
    }
    let cause = match line {
        Some(line) if missing_variable(line).is_some() => {
            format!("{} is not set", missing_variable(line).unwrap_or_default())
        }
        Some(line) if missing_config(line) => "its configuration file is missing".to_string(),
        Some(line) => format!("\"{line}\""),
        None => exit.map(|c| format!("exit code {c}")).unwrap_or_else(|| "an unknown error".into()),
    };
    Some(Diagnosis {
        family: Family::JobFailure,
        root_cause: format!("Job {job_name} failed ({reason}) after {attempts} attempts: {cause}."),
        confidence: if line.is_some() { Confidence::High } else { Confidence::Medium },
        evidence: evidence_lines,
        actions: vec![manual(
            "Fix the cause, then run the job again",
            &[
                &format!("Read the failed pods' logs: kubectl logs -n {} job/{job_name}", context.namespace),
                "Fix what the log names (its environment, configuration or input)",
                "Run it again: a failed job does not retry; delete it and create it anew",
            ],
        )],
        workload: Some(format!("{}/job/{job_name}", context.namespace)),
    })
}

/// A claim the workload mounts that does not exist, is not bound, or lost its volume.
fn volume_claim(context: &ClusterContext) -> Option<Diagnosis> {
    let subject = context
        .deployment
        .as_ref()
        .and_then(|d| d.metadata.name.clone())
        .or_else(|| context.failing_pod.as_ref().map(name))
        .map(|w| format!("{w}'s"))
        .unwrap_or_else(|| "The".into());
    if let Some(missing) = context.missing_claims.first() {
        return Some(Diagnosis {
            family: Family::VolumeProblem,
            root_cause: format!("{subject} volume claim {missing} does not exist, so its pods cannot be scheduled."),
            confidence: Confidence::High,
            evidence: warnings(context)
                .into_iter()
                .filter(|e| e.line.contains(missing.as_str()))
                .take(2)
                .chain([evidence("cluster", format!("persistentvolumeclaim \"{missing}\" not found"))])
                .collect(),
            actions: vec![manual(
                &format!("Create the claim {missing}"),
                &["Create the PersistentVolumeClaim the pods mount, or fix the name they mount"],
            )],
            workload: workload(context),
        });
    }
    let claim = context
        .claims
        .iter()
        .find(|claim| matches!(claim.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Pending" | "Lost")))?;
    let claim_name = claim.metadata.name.clone().unwrap_or_default();
    let phase = claim.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    let class = claim.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default();
    let failures: Vec<Evidence> = warnings(context)
        .into_iter()
        .filter(|e| e.source.contains(&claim_name) && !e.source.contains("event of pod"))
        .collect();
    let why = failures.first().map(|e| format!(": {}", e.line)).unwrap_or_default();
    let mut evidence_lines = vec![evidence(
        format!("status of volume claim {claim_name}"),
        format!("phase {phase}, storage class {}", if class.is_empty() { "(default)" } else { &class }),
    )];
    evidence_lines.extend(failures.into_iter().take(2));
    let steps: &[&str] = if phase == "Lost" {
        &["The volume behind the claim is gone: restore it from a backup", "Or re-create the claim and its data"]
    } else {
        &[
            "List the storage classes: kubectl get storageclass",
            "Re-create the claim with a class that exists (a claim's class cannot be changed; it holds no data yet)",
            "Or create the storage class it names",
        ]
    };
    Some(Diagnosis {
        family: Family::VolumeProblem,
        root_cause: format!("{subject} volume claim {claim_name} is {phase}{why}"),
        confidence: Confidence::High,
        evidence: evidence_lines,
        actions: vec![manual("Give the claim a volume", steps)],
        workload: workload(context),
    })
}

fn node_not_ready(context: &ClusterContext) -> Option<Diagnosis> {
    let (node, problem) = context.nodes.iter().find_map(|node| {
        let conditions = node.status.as_ref()?.conditions.as_ref()?;
        conditions.iter().find(|c| if c.type_ == "Ready" { c.status != "True" } else { c.status == "True" }).map(|c| {
            (
                node.metadata.name.clone().unwrap_or_default(),
                format!("{}={}: {}", c.type_, c.status, c.message.clone().unwrap_or_default()),
            )
        })
    })?;
    Some(Diagnosis {
        family: Family::NodeNotReady,
        root_cause: format!("Node {node} is unhealthy ({}).", problem.split(':').next().unwrap_or("")),
        confidence: Confidence::High,
        evidence: vec![evidence(format!("status of node {node}"), problem)],
        actions: vec![manual(
            &format!("Take {node} out of service"),
            &[
                &format!("kubectl cordon {node}"),
                &format!("kubectl drain {node} --ignore-daemonsets"),
                "Check the kubelet and the machine",
            ],
        )],
        workload: Some(format!("node/{node}")),
    })
}

/// The runbook answer for what the cluster did not explain (or families outside it).
fn runbook(facts: &IncidentFacts, found: &Classification, read_cluster: bool, alert: Evidence) -> Diagnosis {
    let subject = found.service.clone().or_else(|| found.deployment.clone()).unwrap_or_else(|| "the service".into());
    let (root_cause, steps): (String, &[&str]) = match found.family {
        Family::DatabaseConnections => (
            format!("{subject}'s database has run out of connections."),
            &[
                "Find the clients holding the most connections (pg_stat_activity)",
                "Look for leaked or idle-in-transaction sessions and end them",
                "Put a pooler in front or raise max_connections",
            ],
        ),
        Family::SlowQueries => (
            format!("Queries of {subject} are slow."),
            &[
                "Find the slowest statements (pg_stat_statements)",
                "Check for lock waits and missing indexes",
                "Compare with the last deploy's query changes",
            ],
        ),
        Family::Security => (
            "Many failed sign-ins from outside: a brute-force attempt.".to_string(),
            &[
                "Block the source addresses at the firewall",
                "Check that no account was taken over",
                "Require multi-factor sign-in for the targeted accounts",
            ],
        ),
        Family::Network => (
            format!("{subject} is hit by network trouble (latency, DNS or packet loss)."),
            &[
                "Check DNS resolution from the affected hosts",
                "Measure latency and loss along the path (mtr)",
                "Check the provider's status page",
            ],
        ),
        Family::ServerResources => (
            format!("A server of {subject} is short of CPU, memory or disk."),
            &[
                "Find the process using the resource (top, df)",
                "Free or add capacity",
                "Check what changed when it began",
            ],
        ),
        Family::ProcessCrash => (
            format!("A process of {subject} crashed."),
            &[
                "Read its last log lines and the core dump if any",
                "Restart it under its supervisor",
                "Check the last deploy",
            ],
        ),
        Family::HighCpu => (
            format!("{subject} runs hot on CPU."),
            &["Check its CPU throttling and limits", "Scale it out if the load is real"],
        ),
        Family::HighMemory => (
            format!("{subject} uses more memory than usual."),
            &["Check its memory use against its limit", "Look for a leak"],
        ),
        family if family.is_kubernetes() && !read_cluster => (
            format!("{} reported for {subject}; no cluster could be read to confirm it.", family.label()),
            &["Add the cluster the alert comes from on the Clusters page", "Check the workload with kubectl describe"],
        ),
        family if family.is_kubernetes() => (
            format!("{} reported for {subject}, but the cluster does not show it now.", family.label()),
            &[
                "The problem may have cleared: check whether the alert resolved",
                "kubectl describe the workload and read its events",
            ],
        ),
        _ => (
            format!("Not enough evidence to name a root cause for \"{}\".", facts.title),
            &["Read the alert's details and the service's recent changes"],
        ),
    };
    Diagnosis {
        family: found.family,
        root_cause,
        confidence: if found.family == Family::Unknown { Confidence::Low } else { Confidence::Medium },
        evidence: vec![alert],
        actions: vec![manual("Follow the runbook", steps)],
        workload: found
            .namespace
            .as_ref()
            .zip(found.deployment.as_ref().or(found.pod.as_ref()))
            .map(|(ns, w)| format!("{ns}/{w}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(status: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-abc-1", "namespace": "shop"},
            "spec": {"containers": [{"name": "web", "image": "web:2", "resources": {"limits": {"memory": "512Mi"}, "requests": {"memory": "128Mi"}}}]},
            "status": status,
        }))
        .unwrap()
    }

    fn context(pods: Vec<Pod>, events: Value, deployment: Value) -> ClusterContext {
        ClusterContext {
            namespace: "shop".into(),
            failing_pod: pods.first().cloned(),
            pods,
            events: serde_json::from_value(events).unwrap(),
            deployment: Some(serde_json::from_value(deployment).unwrap()),
            replica_sets: vec![
                serde_json::from_value(json!({"metadata": {"name": "web-new", "annotations": {"deployment.kubernetes.io/revision": "4"}},
                    "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}})).unwrap(),
                serde_json::from_value(json!({"metadata": {"name": "web-old", "annotations": {"deployment.kubernetes.io/revision": "3"}},
                    "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}}})).unwrap(),
            ],
            ..ClusterContext::default()
        }
    }

    fn deployment(status: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
               "template": {"spec": {"containers": [{"name": "web"}]}}}, "status": status})
    }

    fn running(ready: bool, extra: Value) -> Value {
        let mut status = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                                "containerStatuses": [{"name": "web", "image": "web:2", "imageID": "", "ready": ready, "restartCount": 0}]});
        if let Some(map) = extra.as_object() {
            for (key, value) in map {
                status["containerStatuses"][0][key] = value.clone();
            }
        }
        status
    }

    fn diagnosis(context: &ClusterContext) -> Diagnosis {
        let facts = IncidentFacts { title: "alert".into(), ..IncidentFacts::default() };
        let found = super::super::classify::classify(&facts);
        diagnose(&facts, &found, Some(context))
    }

    #[test]
    fn an_exit_137_is_oom_only_when_the_kernel_says_so() {
        let oom = running(
            false,
            json!({"restartCount": 3, "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}),
        );
        let found = diagnosis(&context(vec![pod(oom)], json!([]), deployment(json!({}))));
        assert_eq!(found.family, Family::OomKill);
        assert!(matches!(&found.actions[0].change, Change::SetMemoryLimit { to, .. } if to == "768Mi"));
        // Killed by its liveness probe: exit 137 too, but reason Error.
        let killed = running(
            false,
            json!({"restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                           "lastState": {"terminated": {"exitCode": 137, "reason": "Error"}}}),
        );
        let found = diagnosis(&context(vec![pod(killed)], json!([]), deployment(json!({}))));
        assert_eq!(found.family, Family::PodCrash, "{found:?}");
    }

    #[test]
    fn image_pull_failures_roll_back_and_a_container_still_creating_is_not_one() {
        let pulling = running(false, json!({"state": {"waiting": {"reason": "ErrImagePull"}}}));
        let events = json!([{"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "web-abc-1"}, "type": "Warning",
                             "reason": "Failed", "message": "Failed to pull image \"web:2\": not found"}]);
        let found = diagnosis(&context(vec![pod(pulling)], events, deployment(json!({}))));
        assert_eq!(found.family, Family::ImagePull);
        assert!(
            matches!(&found.actions[0].change, Change::RollBack { to_revision: 3, to_image: Some(image), .. } if image == "web:1")
        );
        let creating = running(false, json!({"state": {"waiting": {"reason": "ContainerCreating"}}}));
        assert_ne!(
            diagnosis(&context(vec![pod(creating)], json!([]), deployment(json!({})))).family,
            Family::ImagePull
        );
    }

    #[test]
    fn an_unschedulable_pod_names_what_no_node_has() {
        let pending = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                              "message": "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes"}]});
        let found = diagnosis(&context(vec![pod(pending)], json!([]), deployment(json!({}))));
        assert_eq!(found.family, Family::Unschedulable);
        assert!(found.root_cause.ends_with("3 Insufficient memory"), "{}", found.root_cause);
        assert!(found.evidence.iter().any(|e| e.line.contains("memory=128Mi")));
        // Pending because it is being scheduled right now: no such condition yet.
        let scheduling = json!({"phase": "Pending"});
        assert_ne!(
            diagnosis(&context(vec![pod(scheduling)], json!([]), deployment(json!({})))).family,
            Family::Unschedulable
        );
    }

    #[test]
    fn a_stuck_rollout_rolls_back_and_a_progressing_one_is_left_alone() {
        let stuck = deployment(
            json!({"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                                        "message": "ReplicaSet \"web-new\" has timed out progressing."}]}),
        );
        let found = diagnosis(&context(vec![pod(running(true, json!({})))], json!([]), stuck));
        assert_eq!(found.family, Family::RolloutFailure);
        assert!(matches!(&found.actions[0].change, Change::RollBack { to_revision: 3, .. }));
        let progressing = deployment(
            json!({"conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}),
        );
        assert_ne!(
            diagnosis(&context(vec![pod(running(true, json!({})))], json!([]), progressing)).family,
            Family::RolloutFailure
        );
    }

    #[test]
    fn failing_probes_come_from_unhealthy_events_only() {
        let unhealthy = json!([{"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "web-abc-1"}, "type": "Warning",
                                "reason": "Unhealthy", "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"}]);
        let found = diagnosis(&context(vec![pod(running(false, json!({})))], unhealthy, deployment(json!({}))));
        assert_eq!(found.family, Family::ProbeFailure);
        assert!(found.root_cause.contains("statuscode: 503"));
        let normal = json!([{"metadata": {"name": "e2"}, "involvedObject": {"kind": "Pod", "name": "web-abc-1"}, "type": "Normal",
                             "reason": "Started", "message": "Started container web"}]);
        assert_ne!(
            diagnosis(&context(vec![pod(running(true, json!({})))], normal, deployment(json!({})))).family,
            Family::ProbeFailure
        );
    }

    #[test]
    fn a_missing_configmap_or_secret_is_named_and_a_container_merely_waiting_is_not() {
        let missing = running(
            false,
            json!({"state": {"waiting": {"reason": "CreateContainerConfigError", "message": "configmap \"web-config\" not found"}}}),
        );
        let found = diagnosis(&context(vec![pod(missing)], json!([]), deployment(json!({}))));
        assert!(found.root_cause.contains("configmap \"web-config\" not found"), "{}", found.root_cause);
        assert!(matches!(found.actions[0].change, Change::Manual { .. }));
        let waiting = running(false, json!({"state": {"waiting": {"reason": "PodInitializing"}}}));
        assert!(
            !diagnosis(&context(vec![pod(waiting)], json!([]), deployment(json!({}))))
                .root_cause
                .contains("cannot be created")
        );
    }

    #[test]
    fn an_evicted_pod_is_named_and_a_failed_one_for_another_reason_is_not() {
        let evicted =
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."});
        let found = diagnosis(&context(vec![pod(evicted)], json!([]), deployment(json!({}))));
        assert!(found.root_cause.contains("evicted: The node was low on resource: memory."), "{}", found.root_cause);
        let failed = json!({"phase": "Failed", "reason": "DeadlineExceeded"});
        assert!(
            !diagnosis(&context(vec![pod(failed)], json!([]), deployment(json!({})))).root_cause.contains("evicted")
        );
    }

    #[test]
    fn pods_stuck_creating_name_the_mount_and_old_mount_warnings_on_running_pods_do_not() {
        let events = json!([{"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "web-abc-1"}, "type": "Warning",
                             "reason": "FailedMount", "message": "MountVolume.SetUp failed for volume \"data\": secret \"db-cert\" not found"}]);
        let creating = running(false, json!({"state": {"waiting": {"reason": "ContainerCreating"}}}));
        let found = diagnosis(&context(vec![pod(creating)], events.clone(), deployment(json!({}))));
        assert_eq!(found.family, Family::VolumeProblem);
        assert!(found.root_cause.contains("secret \"db-cert\" not found"));
        let found = diagnosis(&context(vec![pod(running(true, json!({})))], events, deployment(json!({}))));
        assert_ne!(found.family, Family::VolumeProblem);
    }

    #[test]
    fn a_replica_failure_is_named_and_a_cleared_one_is_not() {
        let failing = deployment(
            json!({"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                                          "message": "pods \"web-x\" is forbidden: exceeded quota: compute"}]}),
        );
        let found = diagnosis(&context(vec![], json!([]), failing));
        assert_eq!(found.family, Family::RolloutFailure);
        assert!(found.root_cause.contains("exceeded quota"));
        let cleared = deployment(json!({"conditions": [{"type": "ReplicaFailure", "status": "False"}]}));
        assert_ne!(diagnosis(&context(vec![], json!([]), cleared)).family, Family::RolloutFailure);
    }

    #[test]
    fn a_node_under_pressure_is_named_and_a_healthy_one_is_not() {
        let mut with_nodes = context(vec![], json!([]), deployment(json!({})));
        with_nodes.deployment = None;
        let node = |ready: &str, pressure: &str| -> k8s_openapi::api::core::v1::Node {
            serde_json::from_value(json!({"metadata": {"name": "node-7"}, "status": {"conditions": [
                {"type": "Ready", "status": ready, "message": "kubelet stopped posting node status"},
                {"type": "DiskPressure", "status": pressure, "message": "disk is full"}]}}))
            .unwrap()
        };
        with_nodes.nodes = vec![node("False", "False")];
        let found = diagnosis(&with_nodes);
        assert_eq!(found.family, Family::NodeNotReady);
        assert!(found.root_cause.contains("node-7"));
        with_nodes.nodes = vec![node("True", "False")];
        assert_ne!(diagnosis(&with_nodes).family, Family::NodeNotReady);
    }

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
    fn log_lines_tell_missing_files_from_missing_variables() {
        assert!(missing_config("ERROR open /etc/payment/config.yaml: no such file or directory"));
        assert!(!missing_config("INFO loaded configuration from /etc/app/config.yaml"));
        assert!(!missing_config("ERROR open /var/data/cache.bin: no such file or directory"));
        assert_eq!(missing_variable("panic: DATABASE_URL is not set").as_deref(), Some("DATABASE_URL"));
        assert_eq!(
            missing_variable("       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.")
                .as_deref(),
            Some("POSTGRES_PASSWORD")
        );
        assert_eq!(missing_variable("ERROR connection refused"), None);
        assert_eq!(
            telling_line(
                "INFO starting\nERROR open x.yaml: no such file\nFATAL configuration file x.yaml is missing\n"
            ),
            Some("FATAL configuration file x.yaml is missing")
        );
    }
}
