//! The demo cluster's pods: what becomes of a pod a controller makes — refused at
//! admission, placed on a node with room (or none), held by what it refers to (a claim, a
//! ConfigMap, a Secret, a RuntimeClass) or run by its program — written as the scheduler
//! and the kubelet would write it: status and events.

use chrono::Duration;
use k8s_openapi::api::core::v1::Container;
use serde_json::{Value, json};

use super::programs::{self, Verdict};
use super::world::{NODES, World, is_active, suffix, text, timestamp};

/// The tail of the scheduler's message when no node would help.
const NO_PREEMPTION: &str = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";

/// The runtime handlers the demo nodes' containerd has configured.
const RUNTIME_HANDLERS: &[&str] = &["runc"];

impl World {
    /// What keeps a pod of `spec` in `namespace` from running, whatever its program: a
    /// claim that does not exist or is not bound (not scheduled), a ConfigMap or Secret
    /// volume that does not exist (not mounted), a RuntimeClass that does not exist or
    /// whose handler the nodes lack (no sandbox), a variable's source that does not exist
    /// (container not created).
    fn held(&self, namespace: &str, spec: &Value) -> Option<Verdict> {
        let exists = |resource: &str, name: &str| self.get(resource, namespace, name);
        let volumes = spec.pointer("/volumes").and_then(Value::as_array).cloned().unwrap_or_default();
        for volume in &volumes {
            let Some(claim) = volume.pointer("/persistentVolumeClaim/claimName").and_then(Value::as_str) else {
                continue;
            };
            match exists("persistentvolumeclaims", claim) {
                None => {
                    return Some(Verdict::Unschedulable(format!(
                        "0/3 nodes are available: persistentvolumeclaim \"{claim}\" not found. {NO_PREEMPTION}"
                    )));
                }
                Some(found) if text(found, "/status/phase") != "Bound" => {
                    return Some(Verdict::Unschedulable(format!(
                        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. {NO_PREEMPTION}"
                    )));
                }
                Some(_) => {}
            }
        }
        for volume in &volumes {
            let optional = |source: &str| volume.pointer(&format!("/{source}/optional")) == Some(&json!(true));
            let missing = if let Some(name) = volume.pointer("/configMap/name").and_then(Value::as_str) {
                (exists("configmaps", name).is_none() && !optional("configMap"))
                    .then(|| format!("configmap \"{name}\""))
            } else if let Some(name) = volume.pointer("/secret/secretName").and_then(Value::as_str) {
                (exists("secrets", name).is_none() && !optional("secret")).then(|| format!("secret \"{name}\""))
            } else {
                None
            };
            if let Some(missing) = missing {
                return Some(Verdict::StuckCreating {
                    reason: "FailedMount",
                    message: format!(
                        "MountVolume.SetUp failed for volume \"{}\" : {missing} not found",
                        text(volume, "/name")
                    ),
                });
            }
        }
        if let Some(problem) = spec.get("runtimeClassName").and_then(Value::as_str).and_then(|c| self.no_sandbox(c)) {
            return Some(Verdict::StuckCreating {
                reason: "FailedCreatePodSandBox",
                message: format!("Failed to create pod sandbox: {problem}"),
            });
        }
        let container = spec.pointer("/containers/0").cloned().unwrap_or(json!({}));
        // A source of variables: its kind, resource, name, and the key wanted (if one).
        let mut sources: Vec<(&str, &str, String, Option<String>)> = Vec::new();
        for from in container.pointer("/envFrom").and_then(Value::as_array).into_iter().flatten() {
            for (field, kind, resource) in
                [("configMapRef", "ConfigMap", "configmaps"), ("secretRef", "Secret", "secrets")]
            {
                if let Some(source) = from.get(field).filter(|s| s["optional"] != json!(true)) {
                    sources.push((kind, resource, text(source, "/name").to_string(), None));
                }
            }
        }
        for variable in container.pointer("/env").and_then(Value::as_array).into_iter().flatten() {
            for (field, kind, resource) in
                [("configMapKeyRef", "ConfigMap", "configmaps"), ("secretKeyRef", "Secret", "secrets")]
            {
                if let Some(source) =
                    variable.pointer(&format!("/valueFrom/{field}")).filter(|s| s["optional"] != json!(true))
                {
                    sources.push((
                        kind,
                        resource,
                        text(source, "/name").to_string(),
                        Some(text(source, "/key").to_string()),
                    ));
                }
            }
        }
        for (kind, resource, name, key) in sources {
            let message = match (exists(resource, &name), key) {
                (None, _) => format!("{} \"{name}\" not found", kind.to_lowercase()),
                (Some(found), Some(key)) if found.pointer(&format!("/data/{key}")).is_none() => {
                    format!("couldn't find key {key} in {kind} {namespace}/{name}")
                }
                _ => continue,
            };
            return Some(Verdict::ConfigError(message));
        }
        None
    }

    /// Why the runtime cannot make a sandbox of RuntimeClass `class`, if it cannot: the
    /// class does not exist (the kubelet's lookup), or its handler is not configured.
    fn no_sandbox(&self, class: &str) -> Option<String> {
        let Some(runtime_class) = self.get("runtimeclasses", "", class) else {
            return Some(format!("runtimeclass.node.k8s.io \"{class}\" not found"));
        };
        let handler = text(runtime_class, "/handler");
        (!RUNTIME_HANDLERS.contains(&handler)).then(|| {
            format!(
                "rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for \"{handler}\" is configured"
            )
        })
    }

    /// Whether `node` runs fewer pods than its kubelet allows (`allocatable.pods`).
    fn has_room(&self, node: &str) -> bool {
        let allowed = self
            .get("nodes", "", node)
            .and_then(|n| n.pointer("/status/allocatable/pods"))
            .and_then(|pods| pods.as_str()?.parse::<usize>().ok().or(pods.as_u64().map(|p| p as usize)))
            .unwrap_or(110);
        self.list("pods", None).filter(|pod| text(pod, "/spec/nodeName") == node && is_active(pod)).count() < allowed
    }

    /// Makes one pod of `owner` (a ReplicaSet, a Job or a StatefulSet) from its template,
    /// as far as it gets, named `name` or after its owner; a quota's refusal instead is
    /// raised as an event and returned.
    pub(super) fn create_pod(&mut self, owner: &Value, owner_kind: &str, name: Option<String>) -> Result<(), String> {
        let owner_name = text(owner, "/metadata/name").to_string();
        let namespace = text(owner, "/metadata/namespace").to_string();
        let pod_name = name.unwrap_or_else(|| format!("{owner_name}-{}", suffix(5)));
        let template_labels = owner.pointer("/spec/template/metadata/labels");
        let account =
            owner.pointer("/spec/template/spec/serviceAccountName").and_then(Value::as_str).unwrap_or("default");
        if let Some(refusal) = self.admission_refusal(&namespace, &pod_name, template_labels, account) {
            self.event(owner, owner_kind, true, "FailedCreate", &format!("Error creating: {refusal}"), 1);
            return Err(refusal);
        }
        let runs_once = owner_kind == "Job";
        let template = owner.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let spec = template.get("spec").cloned().unwrap_or(json!({}));
        let main: Container =
            serde_json::from_value(spec.pointer("/containers/0").cloned().unwrap_or(json!({}))).unwrap_or_default();
        let inits: Vec<Container> =
            spec.get("initContainers").and_then(|inits| serde_json::from_value(inits.clone()).ok()).unwrap_or_default();
        // What decides the pod's fate: the cluster holding it, else the first init container
        // that does not run to completion, else its (first) container.
        let held = self.held(&namespace, &spec);
        let stuck_init = held.is_none().then(|| blocking_init(&inits)).flatten();
        let blocked = stuck_init.as_ref().map(|(index, _)| *index);
        let (container, verdict) = match (held, stuck_init) {
            (Some(verdict), _) => (main.clone(), verdict),
            (None, Some((index, verdict))) => (inits[index].clone(), verdict),
            (None, None) => {
                (main.clone(), self.verdict(&namespace, template.pointer("/metadata/labels"), &spec, &main))
            }
        };
        let started = self.now - self.backdate.unwrap_or_default();
        // A pod that names its node (as a DaemonSet's do) runs there; others where the
        // scheduler puts them, on a node with room for one more pod.
        let pinned = NODES.iter().position(|node| spec.get("nodeName") == Some(&json!(node)));
        let with_room: Vec<usize> = (0..NODES.len()).filter(|index| self.has_room(NODES[*index])).collect();
        let placed = pinned.or_else(|| {
            let pick = uuid::Uuid::new_v4().as_bytes()[0] as usize;
            (!with_room.is_empty()).then(|| with_room[pick % with_room.len()])
        });
        let verdict = match placed {
            None if !matches!(verdict, Verdict::Unschedulable(_)) => Verdict::Unschedulable(
                "0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
                    .into(),
            ),
            _ => verdict,
        };
        let node_index = placed.unwrap_or_default();
        let api_version = if runs_once { "batch/v1" } else { "apps/v1" };
        let mut pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "generateName": format!("{owner_name}-"),
                "namespace": namespace,
                "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                "ownerReferences": [{"apiVersion": api_version, "kind": owner_kind, "name": owner_name,
                                     "uid": text(owner, "/metadata/uid"), "controller": true, "blockOwnerDeletion": true}],
            },
            "spec": spec,
        });
        if let Some(annotations) = template.pointer("/metadata/annotations") {
            pod["metadata"]["annotations"] = annotations.clone();
        }
        let image = container.image.clone().unwrap_or_default();
        let name = container.name.clone();
        let start = timestamp(started);
        let condition = |kind: &str, ok: bool| json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": start});
        let not_ready = |reason: &str| {
            json!([condition("PodScheduled", true), condition("Initialized", true),
                   {"type": "Ready", "status": "False", "reason": reason, "message": format!("containers with unready status: [{name}]"), "lastTransitionTime": start},
                   {"type": "ContainersReady", "status": "False", "reason": reason, "message": format!("containers with unready status: [{name}]"), "lastTransitionTime": start}])
        };
        if !matches!(verdict, Verdict::Unschedulable(_)) {
            pod["spec"]["nodeName"] = json!(NODES[node_index]);
        }
        let ip = format!("10.244.{}.{}", node_index + 1, 2 + uuid::Uuid::new_v4().as_bytes()[1] % 250);
        let host_ip = format!("192.168.10.{}", node_index + 11);
        let restarts = if self.backdate.is_some() { 6 } else { 1 };
        let image_id = format!("{image}@sha256:{}", uuid::Uuid::new_v4().simple());
        let last_run = json!({"startedAt": timestamp(self.now - Duration::seconds(45)), "finishedAt": timestamp(self.now - Duration::seconds(44))});
        let waiting = |reason: &str, message: Option<String>| {
            let mut state = json!({"waiting": {"reason": reason}});
            if let Some(message) = message {
                state["waiting"]["message"] = json!(message);
            }
            json!([{"name": name, "image": image, "imageID": "", "ready": false, "started": false, "restartCount": 0, "state": state}])
        };
        let running = |phase: &str, ready: bool, statuses: Value| {
            let conditions = if ready {
                json!([
                    condition("PodScheduled", true),
                    condition("Initialized", true),
                    condition("ContainersReady", true),
                    condition("Ready", true)
                ])
            } else {
                not_ready("ContainersNotReady")
            };
            json!({"phase": phase, "podIP": ip, "hostIP": host_ip, "startTime": start, "qosClass": "Burstable",
                   "conditions": conditions, "containerStatuses": statuses})
        };
        let restarting = |exit_code: i32, reason: &str| {
            let mut terminated = last_run.clone();
            terminated["exitCode"] = json!(exit_code);
            terminated["reason"] = json!(reason);
            json!([{"name": name, "image": image, "imageID": image_id, "ready": false, "started": false, "restartCount": restarts,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 40s restarting failed container={name} pod={pod_name}_{namespace}")}},
                    "lastState": {"terminated": terminated}}])
        };
        let mut status = match &verdict {
            Verdict::Runs(_) => running(
                "Running",
                true,
                json!([{"name": name, "image": image, "imageID": image_id, "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": start}}}]),
            ),
            Verdict::FailsProbe { liveness: false, .. } => running(
                "Running",
                false,
                json!([{"name": name, "image": image, "imageID": image_id, "ready": false, "started": true, "restartCount": 0, "state": {"running": {"startedAt": start}}}]),
            ),
            Verdict::FailsProbe { liveness: true, .. } | Verdict::HookFails { .. } => {
                running("Running", false, restarting(137, "Error"))
            }
            Verdict::Crashes { exit_code, reason, .. } => running("Running", false, restarting(*exit_code, reason)),
            Verdict::CannotStart(message) => {
                let mut statuses = restarting(128, "StartError");
                statuses[0]["lastState"]["terminated"]["message"] = json!(message);
                running("Running", false, statuses)
            }
            Verdict::Evicted { message, .. } => {
                let mut terminated = last_run.clone();
                terminated["exitCode"] = json!(137);
                terminated["reason"] = json!("Error");
                let mut failed = running(
                    "Failed",
                    false,
                    json!([{"name": name, "image": image, "imageID": image_id, "ready": false, "started": false, "restartCount": 0, "state": {"terminated": terminated}}]),
                );
                failed["reason"] = json!("Evicted");
                failed["message"] = json!(message);
                failed["conditions"].as_array_mut().expect("an array").push(json!({"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "message": message, "lastTransitionTime": timestamp(self.now)}));
                failed
            }
            Verdict::CannotPull => running(
                "Pending",
                false,
                waiting("ImagePullBackOff", Some(format!("Back-off pulling image \"{image}\""))),
            ),
            Verdict::StuckCreating { .. } => running("Pending", false, waiting("ContainerCreating", None)),
            Verdict::ConfigError(message) => {
                running("Pending", false, waiting("CreateContainerConfigError", Some(message.clone())))
            }
            Verdict::Unschedulable(message) => json!({
                "phase": "Pending", "qosClass": "Burstable",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastTransitionTime": start}],
            }),
        };
        if matches!(verdict, Verdict::StuckCreating { .. }) {
            status.as_object_mut().expect("an object").remove("podIP");
        }
        if runs_once {
            // A job's pod runs to its end once: done, or failed with its exit code.
            let ended = match &verdict {
                Verdict::Runs(_) | Verdict::FailsProbe { .. } => Some(("Succeeded", 0, "Completed")),
                Verdict::Crashes { exit_code, reason, .. } => Some(("Failed", *exit_code, *reason)),
                Verdict::CannotStart(_) => Some(("Failed", 128, "StartError")),
                Verdict::HookFails { .. } => Some(("Failed", 137, "Error")),
                _ => None,
            };
            if let Some((phase, exit_code, reason)) = ended {
                let mut terminated = last_run.clone();
                terminated["exitCode"] = json!(exit_code);
                terminated["reason"] = json!(reason);
                if let Verdict::CannotStart(message) = &verdict {
                    terminated["message"] = json!(message);
                }
                status["phase"] = json!(phase);
                status["conditions"] = not_ready(if phase == "Succeeded" { "PodCompleted" } else { "PodFailed" });
                status["containerStatuses"] = json!([{"name": name, "image": image, "imageID": image_id, "ready": false, "started": false,
                                                      "restartCount": 0, "state": {"terminated": terminated}}]);
            }
        }
        if !inits.is_empty() {
            init_statuses(&mut status, &inits, blocked, &main, &last_run, runs_once);
        }
        pod["status"] = status;
        let key = self.put("pods", pod);
        let pod = self.objects[&key].clone();
        self.event(owner, owner_kind, false, "SuccessfulCreate", &format!("Created pod: {}", key.2), 1);
        let node = text(&pod, "/spec/nodeName").to_string();
        match verdict {
            Verdict::Unschedulable(message) => {
                self.event(&pod, "Pod", true, "FailedScheduling", &message, 1);
                return Ok(());
            }
            _ => self.event(
                &pod,
                "Pod",
                false,
                "Scheduled",
                &format!("Successfully assigned {namespace}/{} to {node}", key.2),
                1,
            ),
        }
        match verdict {
            Verdict::CannotPull => {
                let not_found = format!(
                    "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
                );
                self.event(&pod, "Pod", false, "Pulling", &format!("Pulling image \"{image}\""), restarts);
                self.event(&pod, "Pod", true, "Failed", &not_found, restarts);
                self.event(&pod, "Pod", true, "Failed", "Error: ErrImagePull", restarts);
                self.event(&pod, "Pod", false, "BackOff", &format!("Back-off pulling image \"{image}\""), restarts);
                self.event(&pod, "Pod", true, "Failed", "Error: ImagePullBackOff", restarts);
            }
            Verdict::StuckCreating { reason, message } => self.event(&pod, "Pod", true, reason, &message, restarts),
            Verdict::ConfigError(message) => {
                self.event(
                    &pod,
                    "Pod",
                    false,
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                    restarts,
                );
                self.event(&pod, "Pod", true, "Failed", &format!("Error: {message}"), restarts);
            }
            Verdict::Crashes { .. } if !runs_once => {
                self.started_events(&pod, &image, &name, restarts + 1);
                self.back_off(&pod, &name, restarts);
            }
            Verdict::CannotStart(message) => {
                let pulled = format!("Container image \"{image}\" already present on machine");
                self.event(&pod, "Pod", false, "Pulled", &pulled, restarts + 1);
                self.event(&pod, "Pod", false, "Created", &format!("Created container: {name}"), restarts + 1);
                self.event(&pod, "Pod", true, "Failed", &format!("Error: {message}"), restarts + 1);
                if !runs_once {
                    self.back_off(&pod, &name, restarts);
                }
            }
            Verdict::HookFails { hook, error, .. } => {
                self.started_events(&pod, &image, &name, restarts + 1);
                let failed =
                    format!("{hook} for Container \"{name}\" in Pod \"{}\" failed - error: {error}", pod_ref(&pod));
                self.event(&pod, "Pod", true, "FailedPostStartHook", &failed, restarts + 1);
                self.event(&pod, "Pod", false, "Killing", "FailedPostStartHook", restarts + 1);
                if !runs_once {
                    self.back_off(&pod, &name, restarts);
                }
            }
            Verdict::FailsProbe { liveness, message, .. } if !runs_once => {
                let runs = if liveness { restarts + 1 } else { 1 };
                self.started_events(&pod, &image, &name, runs);
                self.event(&pod, "Pod", true, "Unhealthy", &message, 3 * runs);
                if liveness {
                    let killing = format!("Container {name} failed liveness probe, will be restarted");
                    self.event(&pod, "Pod", false, "Killing", &killing, restarts);
                }
            }
            Verdict::Evicted { message, .. } => {
                self.started_events(&pod, &image, &name, 1);
                self.event(&pod, "Pod", true, "Evicted", &message, 1);
                self.event(&pod, "Pod", false, "Killing", &format!("Stopping container {name}"), 1);
            }
            _ => self.started_events(&pod, &image, &name, 1),
        }
        Ok(())
    }

    /// The kubelet's back-off before restarting `container` of `pod` once more.
    fn back_off(&mut self, pod: &Value, container: &str, count: i64) {
        let message = format!("Back-off restarting failed container {container} in pod {}", pod_ref(pod));
        self.event(pod, "Pod", true, "BackOff", &message, count);
    }

    fn started_events(&mut self, pod: &Value, image: &str, container: &str, count: i64) {
        let pulled = format!("Container image \"{image}\" already present on machine");
        self.event(pod, "Pod", false, "Pulled", &pulled, count);
        self.event(pod, "Pod", false, "Created", &format!("Created container: {container}"), count);
        self.event(pod, "Pod", false, "Started", &format!("Started container {container}"), count);
    }
}

/// A pod as the kubelet names it in messages: `<name>_<namespace>(<uid>)`.
fn pod_ref(pod: &Value) -> String {
    format!("{}_{}({})", text(pod, "/metadata/name"), text(pod, "/metadata/namespace"), text(pod, "/metadata/uid"))
}

/// The first init container that does not run to completion, and what happens to it.
fn blocking_init(inits: &[Container]) -> Option<(usize, Verdict)> {
    inits.iter().map(programs::verdict).enumerate().find(|(_, verdict)| {
        matches!(
            verdict,
            Verdict::Crashes { .. } | Verdict::CannotStart(_) | Verdict::CannotPull | Verdict::Unschedulable(_)
        )
    })
}

/// Rewrites a pod's `status`, made for the container that decided its fate, for a pod
/// with init containers: those before `blocked` completed; the blocked one's status is
/// the one made, later ones and the app's containers wait (`PodInitializing`) and the
/// pod is not initialized. Without a blocked one, every init container completed.
fn init_statuses(
    status: &mut Value,
    inits: &[Container],
    blocked: Option<usize>,
    main: &Container,
    last_run: &Value,
    ended: bool,
) {
    if status.get("containerStatuses").is_none() {
        return; // never scheduled: nothing started
    }
    let completed = |init: &Container| {
        let mut terminated = last_run.clone();
        terminated["exitCode"] = json!(0);
        terminated["reason"] = json!("Completed");
        json!({"name": init.name, "image": init.image, "imageID": format!("{}@sha256:{}", init.image.as_deref().unwrap_or(""), uuid::Uuid::new_v4().simple()),
               "ready": true, "started": false, "restartCount": 0, "state": {"terminated": terminated}})
    };
    let initializing = |container: &Container| {
        json!({"name": container.name, "image": container.image, "imageID": "", "ready": false, "started": false,
               "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}})
    };
    let Some(blocked) = blocked else {
        status["initContainerStatuses"] = inits.iter().map(completed).collect();
        return;
    };
    let decided = status["containerStatuses"][0].take();
    status["initContainerStatuses"] = inits
        .iter()
        .enumerate()
        .map(|(index, init)| match index.cmp(&blocked) {
            std::cmp::Ordering::Less => completed(init),
            std::cmp::Ordering::Equal => decided.clone(),
            std::cmp::Ordering::Greater => initializing(init),
        })
        .collect();
    status["containerStatuses"] = json!([initializing(main)]);
    if !ended {
        status["phase"] = json!("Pending");
    }
    let waiting = format!("containers with incomplete status: [{}]", inits[blocked].name);
    let not_ready = format!("containers with unready status: [{}]", main.name);
    let since = status["startTime"].clone();
    status["conditions"] = json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": since},
        {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized", "message": waiting, "lastTransitionTime": since},
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": not_ready, "lastTransitionTime": since},
        {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "message": not_ready, "lastTransitionTime": since},
    ]);
}
