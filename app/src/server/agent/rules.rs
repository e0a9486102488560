//! The deterministic diagnosis: from what the cluster shows (statuses, events, logs,
//! revisions, endpoints) and what the alert says, the root cause in one sentence, the
//! lines it rests on, how sure it is, and what to do — each action with its risk, whether
//! it can be undone and the exact change. The first rule that holds decides.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::classify::{Classification, IncidentFacts};
use super::context::{ClusterContext, all_statuses, backends};
use super::logs::{self, Finding, Problem};
use crate::domain::analysis::{Change, Confidence, Evidence, Family, RecommendedAction, Risk};
use crate::server::alert_subject::Kind;
use crate::server::cluster_client::quantity::{memory, memory_bytes};
use crate::server::cluster_client::writes::revision;

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

fn oom_killed(context: &ClusterContext) -> Option<Diagnosis> {
    let (pod, status) = context
        .pods
        .iter()
        .flat_map(|pod| statuses(pod).map(move |s| (pod, s)))
        .find(|(_, status)| terminated(status).and_then(|t| t.reason.as_deref()) == Some("OOMKilled"))?;
    let container = status.name.clone();
    let spec = pod.spec.as_ref();
    let regular = spec.is_some_and(|s| s.containers.iter().any(|c| c.name == container));
    let limit = spec
        .and_then(|s| s.containers.iter().chain(s.init_containers.iter().flatten()).find(|c| c.name == container))
        .and_then(|c| c.resources.as_ref()?.limits.as_ref()?.get("memory").map(|q| q.0.clone()));
    let exit = terminated(status).map(|t| t.exit_code).unwrap_or(137);
    let mut evidence_lines = vec![evidence(
        format!("status of pod {}", name(pod)),
        format!(
            "container {container}: last terminated with reason OOMKilled, exit code {exit}, restarted {} times",
            status.restart_count
        ),
    )];
    let deployment = workload_name(context);
    let mut actions = Vec::new();
    let root_cause = match &limit {
        Some(limit) => {
            evidence_lines
                .push(evidence(format!("spec of pod {}", name(pod)), format!("resources.limits.memory: {limit}")));
            if let (Some(to), Some(target), true) = (raised_limit(limit), deployment_of(context), regular) {
                actions.push(RecommendedAction {
                    title: format!("Raise {container}'s memory limit from {limit} to {to}"),
                    risk: Risk::Low,
                    reversible: true,
                    change: Change::SetMemoryLimit {
                        namespace: context.namespace.clone(),
                        deployment: target,
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
        statuses(pod).find_map(|s| {
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
    let deployment = workload_name(context);
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
        statuses(pod).find_map(|s| {
            let waiting = s.state.as_ref()?.waiting.as_ref()?;
            (waiting.reason.as_deref() == Some("CreateContainerConfigError"))
                .then(|| (pod, s, waiting.message.clone().unwrap_or_default()))
        })
    })?;
    let deployment = workload_name(context);
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
    let deployment = workload_name(context);
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
        statuses(pod).any(|s| waiting_reason(s) == Some("ContainerCreating")) || statuses(pod).next().is_none()
    });
    if !creating {
        return None;
    }
    let deployment = workload_name(context);
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
        root_cause: format!("{name} cannot create its pods: {}", refusal(&message)),
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
    let deployment = workload_name(context);
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

/// Why a container that stopped says it stopped: its log, else the runtime's message.
fn finding(context: &ClusterContext, status: Option<&ContainerStatus>) -> Option<Finding> {
    let log = context.previous_log.as_deref().or(context.current_log.as_deref()).unwrap_or("");
    logs::read(log).or_else(|| {
        // A command missing from the image never starts: the runtime says so in the status.
        let status = status?;
        let waiting = status.state.as_ref().and_then(|s| s.waiting.as_ref()?.message.clone());
        let ended = terminated(status).and_then(|t| t.message.clone());
        [ended, waiting].into_iter().flatten().find_map(|message| logs::read(&message))
    })
}

/// A cause read from a log: family, root cause (after `subject`), actions.
struct LogCause {
    family: Family,
    root_cause: String,
    actions: Vec<RecommendedAction>,
}

/// What the failing container's log (or runtime message) says is wrong, named.
fn log_cause(context: &ClusterContext, subject: &str, container: &str, finding: &Finding) -> LogCause {
    let line = &finding.line;
    let restart_useless = "A restart will not help: the cause is in its configuration.";
    let service_named = |host: &str| {
        let short = host.split('.').next().unwrap_or(host);
        context.services_named.iter().find(|s| s.name == short)
    };
    match &finding.problem {
        Problem::MissingVariable { name } => {
            let mut actions: Vec<RecommendedAction> = roll_back(context, &format!("it had {name}"))
                .filter(|_| previous_revision_sets(context, name))
                .into_iter()
                .collect();
            actions.push(manual(
                &format!("Set {name}"),
                &[
                    &format!("Add {name} to container {container}'s environment (from a Secret if it is a credential)"),
                    restart_useless,
                ],
            ));
            LogCause {
                family: Family::PodCrash,
                root_cause: format!(
                    "{subject} crashes at start because the environment variable {name} is not set: \"{line}\""
                ),
                actions,
            }
        }
        Problem::MissingFile { path } if logs::is_config(path) => LogCause {
            family: Family::PodCrash,
            root_cause: format!(
                "{subject} crashes at start because its configuration file is missing ({path}): \"{line}\""
            ),
            actions: vec![manual(
                &format!("Provide {path}"),
                &[
                    "Create the ConfigMap (or Secret) holding the file",
                    &format!("Mount it so that {path} exists in container {container}"),
                    restart_useless,
                ],
            )],
        },
        Problem::MissingFile { path } => LogCause {
            family: Family::PodCrash,
            root_cause: format!("{subject} stops because {path} does not exist: \"{line}\""),
            actions: vec![manual(
                &format!("Provide {path}"),
                &["Check the image contains it, or mount the volume that holds it", restart_useless],
            )],
        },
        Problem::CommandNotFound { command } => LogCause {
            family: Family::PodCrash,
            root_cause: format!(
                "{subject} cannot start: the command {command} of container {container} is not in its image: \"{line}\""
            ),
            actions: roll_back(context, "its command existed in that image")
                .into_iter()
                .chain([manual(
                    &format!("Fix the command {command}"),
                    &[
                        "Correct the container's command/args, or install the program in the image",
                        "Check the image's entrypoint with: docker run --entrypoint sh <image> -c 'which <command>'",
                    ],
                )])
                .collect(),
        },
        Problem::UnknownHost { host } => {
            let (why, steps): (String, Vec<String>) = match service_named(host) {
                Some(state) if state.service.is_none() => (
                    format!(": there is no Service {} in namespace {}", state.name, state.namespace),
                    vec![
                        format!(
                            "Create the Service {} in {}, or point the program at the right name",
                            state.name, state.namespace
                        ),
                        "Check the host name in the program's configuration (a typo, a wrong namespace)".into(),
                    ],
                ),
                _ => (
                    String::new(),
                    vec![
                        format!("Check the host name {host} in the program's configuration"),
                        format!("kubectl run -it --rm dnscheck --image=busybox --restart=Never -- nslookup {host}"),
                        "Check CoreDNS is running: kubectl -n kube-system get pods -l k8s-app=kube-dns".into(),
                    ],
                ),
            };
            LogCause {
                family: Family::Dependency,
                root_cause: format!("{subject} cannot resolve the host name {host}{why}: \"{line}\""),
                actions: vec![manual_owned(&format!("Make {host} resolve"), steps)],
            }
        }
        Problem::ConnectionRefused { address } | Problem::ConnectionTimedOut { address } => {
            let refused = matches!(finding.problem, Problem::ConnectionRefused { .. });
            let host = address.rsplit_once(':').map_or(address.as_str(), |(h, _)| h);
            let policy = if refused { None } else { blocking_policy(context, address) };
            if let Some(policy) = policy {
                return LogCause {
                    family: Family::Network,
                    root_cause: format!(
                        "{subject}'s connections to {address} time out: NetworkPolicy {policy} blocks the traffic: \"{line}\""
                    ),
                    actions: vec![manual_owned(
                        &format!("Allow the traffic in NetworkPolicy {policy}"),
                        vec![
                            format!("kubectl -n {} describe networkpolicy {policy}", context.namespace),
                            format!("Add an egress (or ingress) rule allowing {address}"),
                            "Changing a policy opens traffic: review it before applying".into(),
                        ],
                    )],
                };
            }
            let detail = match service_named(host) {
                Some(state) if state.service.is_some() && state.ready_addresses == 0 => {
                    format!(": Service {}/{} has no ready endpoints", state.namespace, state.name)
                }
                Some(state) if state.service.is_none() => {
                    format!(": there is no Service {} in namespace {}", state.name, state.namespace)
                }
                _ => String::new(),
            };
            let verb = if refused { "refuses" } else { "does not answer" };
            LogCause {
                family: Family::Dependency,
                root_cause: format!("{subject}'s dependency at {address} {verb} connections{detail}: \"{line}\""),
                actions: vec![manual_owned(
                    &format!("Bring {address} back"),
                    vec![
                        format!("Check the service behind {address} is running and listening on that port"),
                        "Check the address and port in the program's configuration".into(),
                        "Restarting this workload will not help while the dependency is down".into(),
                    ],
                )],
            }
        }
        Problem::Forbidden { account, verb, resource, namespace } => {
            let place = namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default();
            let (sa_namespace, sa) = account.split_once('/').unwrap_or(("<namespace>", account));
            let role = format!("{sa}-{verb}-{}", resource.replace('.', "-"));
            let role_namespace = namespace.as_deref().unwrap_or(sa_namespace);
            LogCause {
                family: Family::Permissions,
                root_cause: format!(
                    "{subject}'s service account {account} may not {verb} {resource}{place} (RBAC forbidden): \"{line}\""
                ),
                actions: vec![manual_owned(
                    &format!("Grant {account} {verb} on {resource}"),
                    vec![
                        format!("kubectl -n {role_namespace} create role {role} --verb={verb} --resource={resource}"),
                        format!(
                            "kubectl -n {role_namespace} create rolebinding {role} --role={role} --serviceaccount={sa_namespace}:{sa}"
                        ),
                        "Or run the pod under the service account meant for it".into(),
                    ],
                )],
            }
        }
        Problem::NoSpace { path } => {
            let claim = path.as_deref().and_then(|p| claim_at(context, container, p));
            let (what, steps) = match &claim {
                Some((claim, size)) => (
                    format!("its volume claim {claim} ({size}) is full"),
                    vec![
                        format!("Expand {claim} if its storage class allows (edit spec.resources.requests.storage)"),
                        "Or delete what it no longer needs (old logs, WAL, segments)".into(),
                    ],
                ),
                None => (
                    format!(
                        "the disk it writes{} is full",
                        path.as_ref().map(|p| format!(" ({p})")).unwrap_or_default()
                    ),
                    vec![
                        "Find the volume behind the path and expand it, or free space".into(),
                        "If it is the node's disk (emptyDir), set an ephemeral-storage limit".into(),
                    ],
                ),
            };
            LogCause {
                family: Family::VolumeProblem,
                root_cause: format!("{subject} fails because {what} (No space left on device): \"{line}\""),
                actions: vec![manual_owned("Give it space", steps)],
            }
        }
        Problem::PermissionDenied { path } => LogCause {
            family: Family::Permissions,
            root_cause: format!(
                "{subject} may not write {path}: the file system refuses its user (Permission denied): \"{line}\""
            ),
            actions: vec![manual(
                "Let its user write the path",
                &[
                    "Set the pod's securityContext.fsGroup to the group the program runs as",
                    "Or fix the owner of the volume's files, or run the program as their owner",
                ],
            )],
        },
        Problem::AuthenticationFailed { .. } => LogCause {
            family: Family::Dependency,
            root_cause: format!("{subject}'s credentials are refused by its dependency: \"{line}\""),
            actions: vec![manual(
                "Fix the credentials",
                &["Compare the Secret the workload reads with the dependency's user and password", restart_useless],
            )],
        },
        Problem::HeapExhausted { .. } => LogCause {
            family: Family::HighMemory,
            root_cause: format!(
                "{subject}'s runtime runs out of its own heap (its heap setting, not the container's limit): \"{line}\""
            ),
            actions: vec![manual(
                "Give the runtime more heap",
                &[
                    "Raise -Xmx (Java) or --max-old-space-size (Node) within the container's memory limit",
                    "Look for a leak",
                ],
            )],
        },
    }
}

/// The volume claim mounted by `container` at the longest prefix of `path`: name and size.
fn claim_at(context: &ClusterContext, container: &str, path: &str) -> Option<(String, String)> {
    let spec = context.pod_spec()?;
    let containers = spec.containers.iter().chain(spec.init_containers.iter().flatten());
    let mount = containers
        .filter(|c| c.name == container)
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .filter(|m| path.starts_with(m.mount_path.trim_end_matches('/')))
        .max_by_key(|m| m.mount_path.len())?;
    let volume = spec.volumes.iter().flatten().find(|v| v.name == mount.name);
    // A StatefulSet's template claim: `<template>-<pod>`.
    let claim_name = match volume.and_then(|v| v.persistent_volume_claim.as_ref()) {
        Some(claim) => claim.claim_name.clone(),
        None => format!("{}-{}", mount.name, context.failing_pod.as_ref().map(name)?),
    };
    let claim = context.claims.iter().find(|c| c.metadata.name.as_deref() == Some(&claim_name))?;
    let status = claim.status.as_ref();
    let size = status
        .and_then(|s| s.capacity.as_ref()?.get("storage"))
        .or_else(|| claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| "size unknown".into());
    Some((claim_name, size))
}

/// A NetworkPolicy that stands between the failing pod and `address`: one selecting the
/// pod for egress with no rule allowing the port, or one selecting the dependency's pods
/// for ingress with no rule admitting the pod. Its name.
fn blocking_policy(context: &ClusterContext, address: &str) -> Option<String> {
    use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    type Labels = std::collections::BTreeMap<String, String>;
    let port: Option<i32> = address.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
    let labels = context.failing_pod.as_ref().and_then(|p| p.metadata.labels.clone()).unwrap_or_default();
    let selects = |selector: &LabelSelector, labels: &Labels| {
        selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v))
            && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
    };
    let types = |policy: &NetworkPolicy| {
        policy.spec.as_ref().and_then(|s| s.policy_types.clone()).unwrap_or_else(|| vec!["Ingress".to_string()])
    };
    let ports_allow = |ports: Option<&Vec<NetworkPolicyPort>>| {
        ports.is_none_or(|ports| {
            ports.is_empty()
                || ports.iter().any(|p| {
                    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
                    match (&p.port, port) {
                        (None, _) | (_, None) => true,
                        (Some(IntOrString::Int(n)), Some(port)) => *n == port,
                        (Some(IntOrString::String(_)), _) => true,
                    }
                })
        })
    };
    // Whether `peer` (in a policy of `policy_namespace`) covers pods labelled `labels` in `namespace`.
    let peer_covers = |peer: &NetworkPolicyPeer, policy_namespace: &str, namespace: &str, labels: &Labels| {
        if peer.ip_block.is_some() {
            return true;
        }
        let namespace_ok = match &peer.namespace_selector {
            None => policy_namespace == namespace,
            Some(selector) => {
                let names = Labels::from([("kubernetes.io/metadata.name".to_string(), namespace.to_string())]);
                selects(selector, &names)
            }
        };
        namespace_ok && peer.pod_selector.as_ref().is_none_or(|s| selects(s, labels))
    };
    let dependencies: Vec<(String, Labels)> = context
        .services_named
        .iter()
        .filter_map(|s| Some((s.namespace.clone(), s.service.as_ref()?.spec.as_ref()?.selector.clone()?)))
        .collect();
    let egress = context.network_policies.iter().find(|policy| {
        let Some(spec) = policy.spec.as_ref() else { return false };
        let namespace = policy.metadata.namespace.clone().unwrap_or_else(|| context.namespace.clone());
        let applies = namespace == context.namespace
            && spec.pod_selector.as_ref().is_none_or(|selector| selects(selector, &labels))
            && types(policy).iter().any(|t| t == "Egress");
        let allowed = spec.egress.iter().flatten().any(|rule| {
            ports_allow(rule.ports.as_ref())
                && rule.to.as_ref().is_none_or(|peers| {
                    peers.is_empty()
                        || peers.iter().any(|peer| {
                            dependencies.iter().any(|(ns, pods)| peer_covers(peer, &namespace, ns, pods))
                                || peer.ip_block.is_some()
                        })
                })
        });
        applies && !allowed
    });
    let ingress = context.network_policies.iter().find(|policy| {
        let Some(spec) = policy.spec.as_ref() else { return false };
        let namespace = policy.metadata.namespace.clone().unwrap_or_default();
        let guards = dependencies.iter().any(|(ns, pods)| {
            *ns == namespace && spec.pod_selector.as_ref().is_none_or(|selector| selects(selector, pods))
        }) && types(policy).iter().any(|t| t == "Ingress");
        let admitted = spec.ingress.iter().flatten().any(|rule| {
            ports_allow(rule.ports.as_ref())
                && rule.from.as_ref().is_none_or(|peers| {
                    peers.is_empty()
                        || peers.iter().any(|peer| peer_covers(peer, &namespace, &context.namespace, &labels))
                })
        });
        guards && !admitted
    });
    egress.or(ingress).and_then(|p| p.metadata.name.clone())
}

fn manual_owned(title: &str, steps: Vec<String>) -> RecommendedAction {
    RecommendedAction { title: title.to_string(), risk: Risk::Low, reversible: true, change: Change::Manual { steps } }
}

fn crash_loop(context: &ClusterContext) -> Option<Diagnosis> {
    // Restarts a failing liveness probe causes are the probe's to explain.
    if warnings(context).iter().any(|e| e.line.starts_with("Unhealthy: Liveness probe failed")) {
        return None;
    }
    let failing = |s: &ContainerStatus| {
        matches!(
            waiting_reason(s),
            Some("CrashLoopBackOff" | "RunContainerError" | "CreateContainerError" | "StartError")
        ) || (s.restart_count > 0
            && terminated(s).is_some_and(|t| t.exit_code != 0 || t.reason.as_deref() != Some("Completed"))
            && !s.ready)
    };
    // The failing container of the failing pod first (an init container when it is one).
    let chosen = context.failing_pod.as_ref().and_then(|pod| {
        let named = context.failing_container.as_deref();
        statuses(pod).find(|s| Some(s.name.as_str()) == named && failing(s)).map(|s| (pod, s))
    });
    let (pod, status) = chosen.or_else(|| {
        context
            .failing_pod
            .iter()
            .chain(context.pods.iter())
            .flat_map(|pod| statuses(pod).map(move |s| (pod, s)))
            .find(|(_, s)| failing(s))
    })?;
    let subject = workload_name(context);
    let container = &status.name;
    let init = pod.spec.as_ref().is_some_and(|s| s.init_containers.iter().flatten().any(|c| &c.name == container));
    let which = if init { format!("init container {container}") } else { format!("container {container}") };
    let exit = terminated(status).map(|t| t.exit_code);
    let mut evidence_lines = vec![evidence(
        format!("status of pod {}", name(pod)),
        format!(
            "{which}: {}, restarted {} times{}",
            waiting_reason(status).unwrap_or("restarting"),
            status.restart_count,
            exit.map(|code| format!(", last exit code {code}")).unwrap_or_default()
        ),
    )];
    let found = finding(context, Some(status));
    let log = context.previous_log.as_deref().or(context.current_log.as_deref()).unwrap_or("");
    let line = found.as_ref().map(|f| f.line.clone()).or_else(|| telling_line(log).map(str::to_string));
    if let Some(line) = &line {
        evidence_lines.push(evidence(format!("log of {}/{container}", name(pod)), line.clone()));
    }
    evidence_lines.extend(warnings(context).into_iter().filter(|e| e.line.starts_with("BackOff")).take(1));
    let (family, root_cause, confidence, actions) = match &found {
        Some(found) => {
            let cause = log_cause(context, &subject, container, found);
            (cause.family, cause.root_cause, Confidence::High, cause.actions)
        }
        None => {
            let mut actions: Vec<RecommendedAction> =
                roll_back(context, "the crashes began with the current revision").into_iter().collect();
            if let Some(deployment) = deployment_of(context) {
                actions.push(RecommendedAction {
                    title: format!("Restart {deployment}'s pods"),
                    risk: Risk::Low,
                    reversible: true,
                    change: Change::RolloutRestart { namespace: context.namespace.clone(), deployment },
                });
            }
            let why = line.map(|l| format!(": \"{l}\"")).unwrap_or_default();
            let exits = match exit {
                Some(0) => " although it exits 0 (it finishes where it should keep running)".to_string(),
                Some(c) => format!(" with exit code {c}"),
                None => String::new(),
            };
            let what = if init { format!("{subject}'s {which}") } else { subject.clone() };
            (Family::PodCrash, format!("{what} keeps crashing{exits}{why}"), Confidence::Medium, actions)
        }
    };
    let root_cause = if init && found.is_some() {
        format!("{root_cause} (in {which}, so the pod never starts)")
    } else {
        root_cause
    };
    Some(Diagnosis { family, root_cause, confidence, evidence: evidence_lines, actions, workload: workload(context) })
}

/// A pod that runs but is not ready, whose log names what it cannot reach or may not do.
fn log_problem(context: &ClusterContext) -> Option<Diagnosis> {
    let pod = context.failing_pod.as_ref()?;
    let container = context.failing_container.clone()?;
    let found = finding(context, None)?;
    let subject = workload_name(context);
    let cause = log_cause(context, &subject, &container, &found);
    Some(Diagnosis {
        family: cause.family,
        root_cause: cause.root_cause,
        confidence: Confidence::Medium,
        evidence: vec![
            evidence(format!("status of pod {}", name(pod)), format!("container {container}: not ready")),
            evidence(format!("log of {}/{container}", name(pod)), found.line),
        ],
        actions: cause.actions,
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
    // Ready endpoints say the selector does match (pods the listing did not show).
    let serving = context
        .endpoints
        .as_ref()
        .and_then(|e| e.subsets.as_ref())
        .is_some_and(|subsets| subsets.iter().any(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty())));
    if context.pods_matching_service != Some(0) || serving {
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
    let deployment = workload_name(context);
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
    let exit =
        last.and_then(|pod| statuses(pod).filter_map(terminated).find(|t| t.exit_code != 0)).map(|t| t.exit_code);
    if let (Some(pod), Some(code)) = (last, exit) {
        evidence_lines
            .push(evidence(format!("status of pod {}", name(pod)), format!("terminated with exit code {code}")));
    }
    let log = context.current_log.as_deref().or(context.previous_log.as_deref()).unwrap_or("");
    let status = last.and_then(|pod| statuses(pod).find(|s| terminated(s).is_some_and(|t| t.exit_code != 0)));
    let found = finding(context, status);
    let line = found.as_ref().map(|f| f.line.clone()).or_else(|| telling_line(log).map(str::to_string));
    if let (Some(pod), Some(line)) = (last, &line) {
        evidence_lines.push(evidence(format!("log of pod {}", name(pod)), line.clone()));
    }
    let container = status.map(|s| s.name.clone()).or_else(|| context.failing_container.clone()).unwrap_or_default();
    let (family, cause) = match (&found, &line) {
        (Some(found), _) => {
            let cause = log_cause(context, &format!("its container {container}"), &container, found);
            (cause.family, cause.root_cause)
        }
        (None, Some(line)) => (Family::JobFailure, format!("\"{line}\"")),
        (None, None) => {
            (Family::JobFailure, exit.map(|c| format!("exit code {c}")).unwrap_or_else(|| "an unknown error".into()))
        }
    };
    let family = if family == Family::PodCrash { Family::JobFailure } else { family };
    Some(Diagnosis {
        family,
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
    let subject = context.subject_name().map(|w| format!("{w}'s")).unwrap_or_else(|| "The".into());
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
    // A class that does not exist (or none named, and no default) is the whole story.
    let classes = context.storage_classes.as_deref();
    let default_class = classes.and_then(|classes| {
        classes
            .iter()
            .find(|c| {
                c.metadata.annotations.as_ref().and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                    == Some(&"true".to_string())
            })
            .and_then(|c| c.metadata.name.clone())
    });
    let class_problem = match classes {
        Some(classes) if phase == "Pending" && !class.is_empty() => {
            (!classes.iter().any(|c| c.metadata.name.as_deref() == Some(class.as_str())))
                .then(|| format!(": it asks for StorageClass {class}, which does not exist"))
        }
        Some(_) if phase == "Pending" && default_class.is_none() => {
            Some(": it names no StorageClass and the cluster has no default one".to_string())
        }
        _ => None,
    };
    let event = failures.first().map(|e| e.line.clone());
    let why = match (&class_problem, &event) {
        (Some(problem), Some(event)) => format!("{problem} ({event})"),
        (Some(problem), None) => problem.clone(),
        (None, Some(event)) => format!(": {event}"),
        (None, None) => String::new(),
    };
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

/// A lifecycle hook that fails: a postStart hook's failure kills the container.
fn lifecycle_hook(context: &ClusterContext) -> Option<Diagnosis> {
    // The kubelet reports a hook's failure twice: briefly, then with its output.
    let failure = warnings(context)
        .into_iter()
        .filter(|e| e.line.starts_with("FailedPostStartHook") || e.line.starts_with("FailedPreStopHook"))
        .max_by_key(|e| e.line.len())?;
    let hook = if failure.line.starts_with("FailedPostStartHook") { "postStart" } else { "preStop" };
    let subject = workload_name(context);
    let message = failure.line.split_once(": ").map_or(failure.line.as_str(), |(_, m)| m).to_string();
    let command = logs::read(&message.replace("\\n", "\n")).and_then(|f| match f.problem {
        Problem::CommandNotFound { command } => Some(command),
        _ => None,
    });
    let what = command.map(|c| format!(": its command {c} is not in the image")).unwrap_or_default();
    Some(Diagnosis {
        family: Family::PodCrash,
        root_cause: format!("{subject}'s {hook} lifecycle hook fails{what}: {message}"),
        confidence: Confidence::High,
        evidence: vec![failure],
        actions: vec![manual(
            &format!("Fix the {hook} hook"),
            &[
                "Run the hook's command by hand in the container (kubectl exec) and fix it",
                "A failing postStart hook kills the container: remove the hook until it works",
            ],
        )],
        workload: workload(context),
    })
}

/// The webhook an admission failure names (`admission webhook "x" denied`, `failed calling webhook "x"`).
fn admission_webhook(message: &str) -> Option<String> {
    ["admission webhook", "calling webhook"].iter().find_map(|marker| {
        let at = message.find(marker)? + marker.len();
        let rest = message[at..].trim_start().strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_string())
    })
}

/// What an admission failure's message means, for a root cause.
fn refusal(message: &str) -> String {
    match admission_webhook(message) {
        Some(webhook) if message.contains("failed calling webhook") => {
            format!("the admission webhook {webhook} cannot be reached, so the API server refuses the pods: {message}")
        }
        Some(webhook) => format!("the admission webhook {webhook} rejects them: {message}"),
        None => message.to_string(),
    }
}

/// A StatefulSet, DaemonSet or Job whose controller cannot create pods (quota,
/// admission webhooks, security policies): its FailedCreate events.
fn cannot_create_pods(context: &ClusterContext) -> Option<Diagnosis> {
    let (kind, subject) = context.workload.clone()?;
    if kind == Kind::Deployment {
        return None;
    }
    let failure = warnings(context)
        .into_iter()
        .find(|e| e.line.starts_with("FailedCreate") && !e.source.starts_with("event of pod"))?;
    let message = failure.line.split_once(": ").map_or(failure.line.as_str(), |(_, m)| m).to_string();
    let quota = message.contains("exceeded quota");
    Some(Diagnosis {
        family: if quota { Family::Quota } else { Family::RolloutFailure },
        root_cause: format!("{} {subject} cannot create its pods: {}", kind.as_str(), refusal(&message)),
        confidence: Confidence::High,
        evidence: vec![failure],
        actions: vec![manual(
            "Lift what refuses the pods",
            &[
                "Check the namespace's ResourceQuota and LimitRange",
                "Check the validating and mutating webhook configurations and their services",
            ],
        )],
        workload: workload(context),
    })
}

/// An autoscaler that cannot scale its target: no target, no metrics, no requests, or at its maximum.
fn autoscaler(context: &ClusterContext) -> Option<Diagnosis> {
    let (hpa, condition) = context.autoscalers.iter().find_map(|hpa| {
        let conditions = hpa.status.as_ref()?.conditions.as_ref()?;
        conditions
            .iter()
            .find(|c| matches!(c.type_.as_str(), "AbleToScale" | "ScalingActive") && c.status == "False")
            .or_else(|| {
                conditions.iter().find(|c| {
                    c.type_ == "ScalingLimited" && c.status == "True" && c.reason.as_deref() == Some("TooManyReplicas")
                })
            })
            .map(|c| (hpa, c))
    })?;
    let name = hpa.metadata.name.clone().unwrap_or_default();
    let target = &hpa.spec.scale_target_ref;
    let message = condition.message.clone().unwrap_or_default();
    let reason = condition.reason.clone().unwrap_or_default();
    let lower = message.to_lowercase();
    let (cause, steps): (String, Vec<String>) = if lower.contains("missing request for") {
        let resource =
            message.split("missing request for ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or("cpu");
        let container = message.split(" in container ").nth(1).and_then(|r| r.split_whitespace().next());
        (
            format!(
                "{}'s pods set no {resource} request{}, so their utilisation cannot be computed",
                target.name,
                container.map(|c| format!(" (container {c})")).unwrap_or_default()
            ),
            vec![format!("Set resources.requests.{resource} on every container of {} {}", target.kind, target.name)],
        )
    } else if lower.contains("not found") && (reason == "FailedGetScale" || lower.contains("scale")) {
        (
            format!("its target {} {} does not exist", target.kind, target.name),
            vec![format!("Point spec.scaleTargetRef at the workload's real name, or delete autoscaler {name}")],
        )
    } else if lower.contains("metrics") && (lower.contains("unable to") || lower.contains("failed to get")) {
        (
            "the metrics API does not answer (metrics-server or the adapter serving its metrics)".to_string(),
            vec![
                "kubectl get apiservice v1beta1.metrics.k8s.io".into(),
                "Install or repair metrics-server (or the custom metrics adapter)".into(),
            ],
        )
    } else if condition.type_ == "ScalingLimited" {
        let max = hpa.spec.max_replicas;
        (
            format!("it runs at its maximum of {max} replicas and still wants more"),
            vec![
                format!("Raise spec.maxReplicas of {name} if the cluster has room"),
                "Or find why each replica's load is so high".into(),
            ],
        )
    } else {
        (message.clone(), vec![format!("kubectl -n {} describe hpa {name}", context.namespace)])
    };
    Some(Diagnosis {
        family: Family::Autoscaling,
        root_cause: format!("Autoscaler {name} cannot scale {} {}: {cause}.", target.kind, target.name),
        confidence: Confidence::High,
        evidence: vec![evidence(
            format!("status of autoscaler {name}"),
            format!("{}={} ({reason}): {message}", condition.type_, condition.status),
        )],
        actions: vec![manual_owned(&format!("Let {name} scale"), steps)],
        workload: Some(format!("{}/horizontalpodautoscaler/{name}", context.namespace)),
    })
}

/// An Ingress that routes to a Service that does not exist or has no ready endpoints,
/// or names an IngressClass that does not exist.
fn ingress_misrouted(context: &ClusterContext) -> Option<Diagnosis> {
    context.ingresses.iter().find_map(|ingress| {
        let name = ingress.metadata.name.clone().unwrap_or_default();
        let class = ingress.spec.as_ref().and_then(|s| s.ingress_class_name.clone());
        let classes = context.ingress_classes.as_ref();
        let (cause, line, steps): (String, String, Vec<String>) = if let (Some(class), Some(classes)) =
            (&class, classes)
            && !classes.iter().any(|c| c.metadata.name.as_deref() == Some(class))
        {
            let known: Vec<String> = classes.iter().filter_map(|c| c.metadata.name.clone()).collect();
            (
                format!("names IngressClass {class}, which does not exist, so no controller serves it"),
                format!(
                    "ingressClassName: {class}; classes in the cluster: {}",
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                ),
                vec![format!("Set spec.ingressClassName of {name} to one of: {}", known.join(", "))],
            )
        } else {
            let state = backends(ingress).into_iter().find_map(|backend| {
                context
                    .services_named
                    .iter()
                    .find(|s| s.name == backend && (s.service.is_none() || s.ready_addresses == 0))
            })?;
            if state.service.is_none() {
                (
                    format!("routes to Service {}, which does not exist in {}", state.name, state.namespace),
                    format!("backend service {}: not found", state.name),
                    vec![format!("Fix the backend's service name in {name}, or create Service {}", state.name)],
                )
            } else {
                (
                    format!("routes to Service {}, which has no ready endpoints", state.name),
                    format!("backend service {}: 0 ready endpoints", state.name),
                    vec![format!("kubectl -n {} describe service {}", state.namespace, state.name)],
                )
            }
        };
        Some(Diagnosis {
            family: Family::Ingress,
            root_cause: format!("Ingress {name} {cause}."),
            confidence: Confidence::High,
            evidence: vec![evidence(format!("spec of ingress {name}"), line)],
            actions: vec![manual_owned(&format!("Fix ingress {name}"), steps)],
            workload: Some(format!("{}/ingress/{name}", context.namespace)),
        })
    })
}

/// A node running as many pods as the kubelet allows.
fn node_full(context: &ClusterContext) -> Option<Diagnosis> {
    let (node, running) = context.pods_on_node.clone()?;
    let status = context.nodes.iter().find(|n| n.metadata.name.as_deref() == Some(&node))?.status.as_ref()?;
    let capacity: usize = status
        .allocatable
        .as_ref()
        .or(status.capacity.as_ref())
        .and_then(|c| c.get("pods"))
        .and_then(|q| q.0.parse().ok())?;
    if running * 10 < capacity * 9 {
        return None;
    }
    Some(Diagnosis {
        family: Family::Unschedulable,
        root_cause: format!(
            "Node {node} runs {running} pods of the {capacity} its kubelet allows (maxPods): no more pods can be placed there."
        ),
        confidence: Confidence::High,
        evidence: vec![evidence(
            format!("status of node {node}"),
            format!("allocatable pods: {capacity}; running: {running}"),
        )],
        actions: vec![manual_owned(
            "Make room for pods",
            vec![
                "Add nodes (or let the cluster autoscaler add them)".into(),
                "Raise the kubelet's maxPods if the node's pod network allows it".into(),
                format!("kubectl get pods -A --field-selector spec.nodeName={node}"),
            ],
        )],
        workload: Some(format!("node/{node}")),
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

/// The object an alert is about, in words: `deployment shop/web`, `node node-3`.
fn subject_words(found: &Classification) -> String {
    match &found.subject {
        Some(subject) => match (&subject.namespace, &subject.name) {
            (Some(namespace), Some(name)) => format!("{} {namespace}/{name}", subject.kind.as_str()),
            (None, Some(name)) => format!("{} {name}", subject.kind.as_str()),
            _ => "the cluster".into(),
        },
        None => found.service.clone().unwrap_or_else(|| "the service".into()),
    }
}

/// The runbook answer for what the cluster did not explain (or families outside it).
fn runbook(facts: &IncidentFacts, found: &Classification, read_cluster: bool, alert: Evidence) -> Diagnosis {
    let subject = subject_words(found);
    // What the alert itself says: its description, else its title.
    let said = if facts.description.trim().is_empty() { facts.title.trim() } else { facts.description.trim() };
    let alert_name = found.alert_name.clone().unwrap_or_else(|| "the alert".into());
    let filling = alert_name.contains("FillingUp") || alert_name.contains("AlmostOutOf");
    let (root_cause, steps): (String, &[&str]) = match found.family {
        Family::Monitoring if alert_name == "Watchdog" || alert_name == "InfoInhibitor" => (
            format!("{alert_name} is the alerting pipeline's own signal, always firing by design: nothing is broken."),
            &["Route it to a dead man's switch (or a null receiver), not to people"],
        ),
        Family::Monitoring => (
            format!("Monitoring cannot read {subject} ({alert_name}): {said}"),
            &[
                "Check the target's pods are running and its /metrics endpoint answers",
                "Check the ServiceMonitor's selector and port name match the Service",
                "Check NetworkPolicies between Prometheus and the target",
            ],
        ),
        Family::ControlPlane => (
            format!("The cluster's control plane ({alert_name}): {said}"),
            &[
                "Check the component's pods in kube-system and their logs",
                "Renew certificates that expire (kubeadm certs renew, or the provider's rotation)",
            ],
        ),
        Family::Quota => (
            format!("{subject}'s quota is used up ({alert_name}): {said}"),
            &[
                "kubectl describe resourcequota in the namespace",
                "Raise the quota, or lower the requests of what runs there",
            ],
        ),
        Family::VolumeProblem if filling => (
            format!("Volume claim {} is filling up ({alert_name}): {said}", found.claim.as_deref().unwrap_or(&subject)),
            &[
                "Expand the claim if its storage class allows (spec.resources.requests.storage)",
                "Or delete what it no longer needs (old logs, WAL, segments)",
            ],
        ),
        Family::HighCpu if found.container.is_some() => (
            format!(
                "Container {} of {subject} is CPU-throttled ({alert_name}): its CPU limit is below what it uses. {said}",
                found.container.as_deref().unwrap_or_default()
            ),
            &["Raise the container's CPU limit (or remove it and keep the request)", "Or scale it out"],
        ),
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
        Family::ServerResources if found.node.is_some() => (
            format!(
                "Node {} is short of CPU, memory or disk ({alert_name}): {said}",
                found.node.as_deref().unwrap_or_default()
            ),
            &[
                "Find the process or pod using the resource (kubectl top pods -A, df, top on the node)",
                "Free or add capacity; cordon the node if it cannot recover",
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
        workload: found.subject.as_ref().and_then(|s| match (&s.namespace, &s.name) {
            (Some(namespace), Some(name)) => Some(format!("{namespace}/{}/{name}", s.kind.as_str())),
            (None, Some(name)) => Some(format!("{}/{name}", s.kind.as_str())),
            _ => None,
        }),
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
        with_nodes.workload = None;
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
