//! Rules for what failed in a pod's containers: killed for memory, an image that cannot
//! be pulled, configuration or volumes missing, evicted, stuck creating, a failing hook,
//! a crash loop and what its log says, failing probes.

use super::*;

pub(super) fn oom_killed(context: &ClusterContext) -> Option<Diagnosis> {
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

pub(super) fn image_pull(context: &ClusterContext) -> Option<Diagnosis> {
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
pub(super) fn config_missing(context: &ClusterContext) -> Option<Diagnosis> {
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
pub(super) fn evicted(context: &ClusterContext) -> Option<Diagnosis> {
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
pub(super) fn stuck_creating(context: &ClusterContext) -> Option<Diagnosis> {
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

/// A lifecycle hook that fails: a postStart hook's failure kills the container.
pub(super) fn lifecycle_hook(context: &ClusterContext) -> Option<Diagnosis> {
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

pub(super) fn crash_loop(context: &ClusterContext) -> Option<Diagnosis> {
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
pub(super) fn log_problem(context: &ClusterContext) -> Option<Diagnosis> {
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
pub(super) fn previous_revision_sets(context: &ClusterContext, variable: &str) -> bool {
    context
        .replica_sets
        .get(1)
        .and_then(|rs| rs.spec.template.as_ref()?.spec.as_ref()?.containers.first().cloned())
        .is_some_and(|c| c.env.iter().flatten().any(|e| e.name == variable))
}

/// The probe settings of a replica set's first container.
pub(super) fn probes(rs: &k8s_openapi::api::apps::v1::ReplicaSet) -> Option<String> {
    let container = rs.spec.template.as_ref()?.spec.as_ref()?.containers.first()?;
    Some(format!("{:?} {:?}", container.readiness_probe, container.liveness_probe))
}

pub(super) fn failing_probes(context: &ClusterContext) -> Option<Diagnosis> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::agent::rules::fixtures::*;
    use serde_json::json;

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
}
