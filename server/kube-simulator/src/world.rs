//! The demo cluster's objects during one request, and the controllers that act on them
//! as Kubernetes' own would: deployments roll out through replica sets (revisions kept
//! for roll-backs), replica sets keep their pods, pods start or fail as their programs
//! decide, services get endpoints, and events tell what happened.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::programs;

/// An object's address: its resource (plural), namespace ('' when cluster-scoped), name.
pub type Key = (String, String, String);

/// The label a replica set and its pods carry: the hash of their pod template.
pub const TEMPLATE_HASH: &str = "pod-template-hash";
/// The annotation a deployment and its replica sets carry: the revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// The demo nodes.
pub const NODES: [&str; 3] = ["demo-node-1", "demo-node-2", "demo-node-3"];

/// The objects of one demo cluster (events aside), as loaded and as changed.
pub struct World {
    pub(super) objects: BTreeMap<Key, Value>,
    original: BTreeMap<Key, Value>,
    /// Each deployment's spec when its generation was last counted.
    counted_specs: BTreeMap<Key, Value>,
    /// Events raised while handling this request, to be stored with the changes.
    pub events: Vec<Value>,
    pub(super) now: DateTime<Utc>,
    /// How long ago the pods made now started (the initial apps have been failing for a
    /// while: they show restarts).
    pub(super) backdate: Option<Duration>,
}

/// `value` at the JSON pointer `pointer`, as a string.
pub fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A timestamp as Kubernetes writes it.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Five characters of the alphabet Kubernetes uses for generated names.
pub(super) fn suffix(length: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..length].iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// `value` with object keys sorted and nulls and empty objects dropped: two templates
/// that mean the same have the same form, however a client spelled them.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut sorted: Vec<(&String, Value)> = map
                .iter()
                .map(|(key, value)| (key, canonical(value)))
                .filter(|(_, value)| !value.is_null() && value.as_object().is_none_or(|map| !map.is_empty()))
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(sorted.into_iter().map(|(key, value)| (key.clone(), value)).collect::<Map<_, _>>())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The hash of a pod template (its `pod-template-hash` label left out), in the
/// alphabet of generated names.
pub fn template_hash(template: &Value) -> String {
    let mut template = canonical(template);
    if let Some(labels) = template.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(TEMPLATE_HASH);
    }
    let template = canonical(&template);
    let mut hash: u32 = 0x811c_9dc5;
    for byte in template.to_string().bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    let mut rest = hash;
    for _ in 0..10 {
        out.push(ALPHABET[(rest % 27) as usize] as char);
        rest /= 27;
        if rest == 0 {
            break;
        }
    }
    out
}

pub(super) fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

pub(super) fn owner_uid(object: &Value) -> Option<&str> {
    object.pointer("/metadata/ownerReferences")?.as_array()?.iter().find(|r| r["controller"] == true)?["uid"].as_str()
}

pub(super) fn labels_match(selector: &Map<String, Value>, labels: Option<&Value>) -> bool {
    !selector.is_empty() && selector.iter().all(|(key, value)| labels.and_then(|labels| labels.get(key)) == Some(value))
}

/// Whether a label selector (`matchLabels` only) selects `labels`: an empty selector, or
/// none, selects everything (as a NetworkPolicy's `podSelector: {}` or a webhook's
/// absent `objectSelector` do).
pub(super) fn selects(selector: Option<&Value>, labels: Option<&Value>) -> bool {
    match selector.and_then(|s| s.get("matchLabels")).and_then(Value::as_object) {
        Some(wanted) if !wanted.is_empty() => labels_match(wanted, labels),
        _ => true,
    }
}

/// Whether the pod still holds its place (not finished): on its node, in its quota.
pub(super) fn is_active(pod: &Value) -> bool {
    !matches!(text(pod, "/status/phase"), "Failed" | "Succeeded")
}

fn revision(object: &Value) -> i64 {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn replicas(object: &Value) -> i64 {
    object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
}

impl World {
    /// The world of `objects` as stored.
    pub fn new(objects: BTreeMap<Key, Value>) -> Self {
        let counted_specs = objects.iter().map(|(key, object)| (key.clone(), object["spec"].clone())).collect();
        World { original: objects.clone(), objects, counted_specs, events: Vec::new(), now: Utc::now(), backdate: None }
    }

    /// Pods made from now on started `ago`, and failing ones have restarted since.
    pub fn backdate(&mut self, ago: Option<Duration>) {
        self.backdate = ago;
    }

    /// The object at `resource`/`namespace`/`name`.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(&(resource.to_string(), namespace.to_string(), name.to_string()))
    }

    /// The objects of `resource`, in `namespace` or all of them.
    pub fn list<'a, 'q>(&'a self, resource: &'q str, namespace: Option<&'q str>) -> impl Iterator<Item = &'a Value> {
        self.objects
            .iter()
            .filter(move |((r, ns, _), _)| r == resource && namespace.is_none_or(|namespace| namespace == ns))
            .map(|(_, value)| value)
    }

    pub(super) fn keys(&self, resource: &str, namespace: &str) -> Vec<Key> {
        self.objects.keys().filter(|(r, ns, _)| r == resource && ns == namespace).cloned().collect()
    }

    /// Stores `object` under `resource`, giving a new object its uid and creation time.
    pub fn put(&mut self, resource: &str, mut object: Value) -> Key {
        let metadata = object["metadata"].as_object_mut().expect("objects have metadata");
        if !metadata.contains_key("uid") {
            metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        }
        if !metadata.contains_key("creationTimestamp") {
            let at = self.now - self.backdate.unwrap_or_default();
            metadata.insert("creationTimestamp".into(), json!(timestamp(at)));
        }
        let key = (
            resource.to_string(),
            text(&object, "/metadata/namespace").to_string(),
            text(&object, "/metadata/name").to_string(),
        );
        self.objects.insert(key.clone(), object);
        key
    }

    /// Removes the object at `resource`/`namespace`/`name`.
    pub fn remove(&mut self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.objects.remove(&(resource.to_string(), namespace.to_string(), name.to_string()))
    }

    /// The object at `key`, to change in place.
    pub fn get_mut(&mut self, key: &Key) -> Option<&mut Value> {
        self.objects.get_mut(key)
    }

    /// What changed since loading: the objects written (new or changed, to be given a
    /// resourceVersion) and the keys removed.
    pub fn changes(&mut self) -> (Vec<(&Key, &mut Value)>, Vec<Key>) {
        let removed = self.original.keys().filter(|key| !self.objects.contains_key(*key)).cloned().collect();
        let original = &self.original;
        let written = self.objects.iter_mut().filter(|(key, value)| original.get(*key) != Some(&**value)).collect();
        (written, removed)
    }

    /// Raises an event about `object` (of `kind`), as `component` on `host` would.
    pub fn event(&mut self, object: &Value, kind: &str, warning: bool, reason: &str, message: &str, count: i64) {
        let namespace = text(object, "/metadata/namespace");
        let name = text(object, "/metadata/name");
        let (component, host) = match kind {
            "Pod" if reason == "FailedScheduling" => ("default-scheduler", ""),
            "Pod" => ("kubelet", text(object, "/spec/nodeName")),
            "Deployment" => ("deployment-controller", ""),
            "ReplicaSet" => ("replicaset-controller", ""),
            "Job" => ("job-controller", ""),
            "CronJob" => ("cronjob-controller", ""),
            "StatefulSet" => ("statefulset-controller", ""),
            "DaemonSet" => ("daemonset-controller", ""),
            "PersistentVolumeClaim" => ("persistentvolume-controller", ""),
            _ => ("dreamops-demo", ""),
        };
        // The same event again within this change counts up.
        let uid = text(object, "/metadata/uid");
        if let Some(again) = self.events.iter_mut().find(|e| {
            text(e, "/involvedObject/uid") == uid && text(e, "/reason") == reason && text(e, "/message") == message
        }) {
            again["count"] = json!(again["count"].as_i64().unwrap_or(1) + count);
            return;
        }
        let first = self.now - self.backdate.unwrap_or_default();
        let api_version = match kind {
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => "apps/v1",
            "Job" | "CronJob" => "batch/v1",
            "HorizontalPodAutoscaler" => "autoscaling/v2",
            _ => "v1",
        };
        let mut event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": format!("{name}.{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
                "namespace": namespace,
                "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": timestamp(self.now),
            },
            "involvedObject": {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace, "uid": text(object, "/metadata/uid")},
            "reason": reason,
            "message": message,
            "type": if warning { "Warning" } else { "Normal" },
            "count": count,
            "firstTimestamp": timestamp(first),
            "lastTimestamp": timestamp(self.now),
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": host,
        });
        if kind == "Pod" && reason != "FailedScheduling" {
            let container = text(object, "/spec/containers/0/name");
            event["involvedObject"]["fieldPath"] = json!(format!("spec.containers{{{container}}}"));
            event["source"]["host"] = json!(host);
        }
        self.events.push(event);
    }

    /// Runs the controllers until the cluster is settled: claims are bound, deployments
    /// roll out through their replica sets and pods, cron jobs start their job, jobs run,
    /// stateful sets start their pods in order with their claims, daemon sets one pod per
    /// node, autoscalers report whether they can scale,
    /// services get endpoints, quotas count what they limit.
    pub fn reconcile(&mut self) {
        self.reconcile_claims();
        let deployments: Vec<Key> = self.objects.keys().filter(|(r, _, _)| r == "deployments").cloned().collect();
        for key in deployments {
            self.reconcile_deployment(&key);
        }
        self.reconcile_cron_jobs();
        self.reconcile_jobs();
        let sets: Vec<Key> = self.objects.keys().filter(|(r, _, _)| r == "statefulsets").cloned().collect();
        for key in sets {
            self.reconcile_stateful_set(&key);
        }
        self.remove_orphan_pods("statefulsets", "StatefulSet");
        let daemons: Vec<Key> = self.objects.keys().filter(|(r, _, _)| r == "daemonsets").cloned().collect();
        for key in daemons {
            self.reconcile_daemon_set(&key);
        }
        self.remove_orphan_pods("daemonsets", "DaemonSet");
        self.reconcile_claims();
        self.reconcile_autoscalers();
        let services: Vec<Key> = self.objects.keys().filter(|(r, _, _)| r == "services").cloned().collect();
        for key in services {
            self.reconcile_endpoints(&key);
        }
        self.reconcile_quotas();
    }

    fn reconcile_deployment(&mut self, key: &Key) {
        let Some(deployment) = self.objects.get(key).cloned() else { return };
        let namespace = key.1.clone();
        let uid = text(&deployment, "/metadata/uid").to_string();
        // A changed spec is a new generation.
        let generation = deployment.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        let spec_changed = self.counted_specs.get(key) != Some(&deployment["spec"]);
        let generation = if spec_changed || generation == 0 { generation + 1 } else { generation };
        self.counted_specs.insert(key.clone(), deployment["spec"].clone());
        let template = deployment.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let owned: Vec<Key> = self
            .keys("replicasets", &namespace)
            .into_iter()
            .filter(|rs| owner_uid(&self.objects[rs]) == Some(uid.as_str()))
            .collect();
        let newest = owned.iter().map(|rs| revision(&self.objects[rs])).max().unwrap_or(0);
        let current =
            owned.iter().find(|rs| text(&self.objects[*rs], "/metadata/labels/pod-template-hash") == hash).cloned();
        let current = match current {
            Some(rs) => {
                if revision(&self.objects[&rs]) < newest {
                    // Back to an earlier template (a roll-back): that replica set becomes the newest revision.
                    self.objects.get_mut(&rs).expect("listed")["metadata"]["annotations"][REVISION] =
                        json!((newest + 1).to_string());
                }
                rs
            }
            None => self.new_replica_set(&deployment, &template, &hash, newest + 1),
        };
        let desired = replicas(&deployment).max(0);
        let recreate = text(&deployment, "/spec/strategy/type") == "Recreate";
        // A rolling update surges by a quarter (rounded up) and keeps every ready old
        // pod until a new one is ready, step by step, until nothing changes.
        let surge = (desired + 3) / 4;
        let olds: Vec<Key> = owned.iter().filter(|rs| **rs != current).cloned().collect();
        for _ in 0..=desired + 1 {
            if !recreate {
                self.clean_up_unhealthy(&deployment, &olds, &current, desired);
            }
            let old_replicas: i64 = olds.iter().map(|rs| replicas(&self.objects[rs])).sum();
            let new_target = if recreate || old_replicas == 0 {
                desired
            } else {
                desired.min((desired + surge - old_replicas).max(replicas(&self.objects[&current])))
            };
            self.scale_replica_set(&deployment, &current, new_target);
            self.sync_pods(&current);
            let ready_new = self.pods_of(&current).iter().filter(|pod| is_ready(pod)).count() as i64;
            for old in &olds {
                let had = replicas(&self.objects[old]);
                let keep = if recreate { 0 } else { had.min((desired - ready_new).max(0)) };
                self.scale_replica_set(&deployment, old, keep);
                self.sync_pods(old);
            }
            let now_old: i64 = olds.iter().map(|rs| replicas(&self.objects[rs])).sum();
            if now_old == old_replicas && replicas(&self.objects[&current]) == new_target {
                break;
            }
        }
        let current_revision = revision(&self.objects[&current]).to_string();
        let status = self.deployment_status(&deployment, &current, &owned, generation);
        let deployment = self.objects.get_mut(key).expect("listed");
        deployment["metadata"]["generation"] = json!(generation);
        if !deployment["metadata"]["annotations"].is_object() {
            deployment["metadata"]["annotations"] = json!({});
        }
        deployment["metadata"]["annotations"][REVISION] = json!(current_revision);
        deployment["status"] = status;
    }

    /// Scales down old replica sets' pods that are not ready, as far as the deployment's
    /// availability allows (Kubernetes' cleanup of unhealthy replicas; at most a quarter of
    /// the replicas, rounded down, may be unavailable): they serve nothing, and they would
    /// take the room the new pods need.
    fn clean_up_unhealthy(&mut self, deployment: &Value, olds: &[Key], current: &Key, desired: i64) {
        let min_available = desired - desired / 4;
        let new_unavailable = self.pods_of(current).iter().filter(|pod| !is_ready(pod)).count() as i64;
        let all: i64 = olds.iter().chain([current]).map(|rs| self.pods_of(rs).len() as i64).sum();
        let mut room = all - min_available - new_unavailable;
        for old in olds {
            if room <= 0 {
                break;
            }
            let ready = self.pods_of(old).iter().filter(|pod| is_ready(pod)).count() as i64;
            let had = replicas(&self.objects[old]);
            let unhealthy = (had - ready).clamp(0, room);
            if unhealthy > 0 {
                self.scale_replica_set(deployment, old, had - unhealthy);
                self.sync_pods(old);
                room -= unhealthy;
            }
        }
    }

    fn new_replica_set(&mut self, deployment: &Value, template: &Value, hash: &str, revision: i64) -> Key {
        let name = format!("{}-{hash}", text(deployment, "/metadata/name"));
        let mut template = template.clone();
        template["metadata"]["labels"][TEMPLATE_HASH] = json!(hash);
        let mut selector = deployment.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        selector["matchLabels"][TEMPLATE_HASH] = json!(hash);
        let replica_set = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": text(deployment, "/metadata/namespace"),
                "labels": template["metadata"]["labels"].clone(),
                "annotations": {REVISION: revision.to_string(), "deployment.kubernetes.io/desired-replicas": replicas(deployment).to_string()},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": text(deployment, "/metadata/name"),
                                     "uid": text(deployment, "/metadata/uid"), "controller": true, "blockOwnerDeletion": true}],
                "generation": 1,
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0, "observedGeneration": 1},
        });
        self.put("replicasets", replica_set)
    }

    fn scale_replica_set(&mut self, deployment: &Value, rs: &Key, to: i64) {
        let replica_set = self.objects.get_mut(rs).expect("listed");
        let had = replicas(replica_set);
        if had == to {
            return;
        }
        replica_set["spec"]["replicas"] = json!(to);
        let message =
            format!("Scaled {} replica set {} from {had} to {to}", if to > had { "up" } else { "down" }, rs.2);
        self.event(deployment, "Deployment", false, "ScalingReplicaSet", &message, 1);
    }

    /// Removes the pods whose owner of `kind` (stored as `resource`) is gone.
    /// Removes the pods whose owner of `kind` (stored as `resource`) is gone.
    pub(super) fn remove_orphan_pods(&mut self, resource: &str, kind: &str) {
        self.remove_orphans("pods", resource, kind);
    }

    /// Removes the objects of `owned` whose owner of `kind` (stored as `resource`) is gone.
    pub(super) fn remove_orphans(&mut self, owned: &str, resource: &str, kind: &str) {
        let owners: Vec<String> = self
            .objects
            .iter()
            .filter(|((r, _, _), _)| r == resource)
            .map(|(_, owner)| text(owner, "/metadata/uid").to_string())
            .collect();
        let orphans: Vec<Key> = self
            .objects
            .iter()
            .filter(|((r, _, _), pod)| {
                r == owned
                    && pod.pointer("/metadata/ownerReferences/0/kind") == Some(&json!(kind))
                    && owner_uid(pod).is_none_or(|uid| !owners.iter().any(|o| o == uid))
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in orphans {
            self.objects.remove(&key);
        }
    }

    pub(super) fn pods_of(&self, rs: &Key) -> Vec<&Value> {
        let uid = text(&self.objects[rs], "/metadata/uid");
        self.list("pods", Some(&rs.1)).filter(|pod| owner_uid(pod) == Some(uid)).collect()
    }

    /// Creates or deletes pods of replica set `rs` until it has as many as it wants.
    fn sync_pods(&mut self, rs: &Key) {
        let want = replicas(&self.objects[rs]).max(0) as usize;
        let mut pods: Vec<(bool, String, String)> = self
            .pods_of(rs)
            .iter()
            .map(|pod| {
                (
                    is_ready(pod),
                    text(pod, "/metadata/creationTimestamp").to_string(),
                    text(pod, "/metadata/name").to_string(),
                )
            })
            .collect();
        if pods.len() > want {
            // Not-ready pods go first, then the youngest.
            pods.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            for (_, _, name) in pods.iter().take(pods.len() - want) {
                self.remove("pods", &rs.1, name);
            }
        }
        let mut refused = None;
        for _ in pods.len()..want {
            let replica_set = self.objects[rs].clone();
            if let Err(message) = self.create_pod(&replica_set, "ReplicaSet", None) {
                refused = Some(message);
                break;
            }
        }
        let pods = self.pods_of(rs);
        let ready = pods.iter().filter(|pod| is_ready(pod)).count();
        let mut status = json!({"replicas": pods.len(), "fullyLabeledReplicas": pods.len(), "readyReplicas": ready,
                                "availableReplicas": ready, "observedGeneration": 1});
        if let Some(message) = refused {
            status["conditions"] = json!([{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                           "message": message, "lastTransitionTime": timestamp(self.now)}]);
        }
        self.objects.get_mut(rs).expect("listed")["status"] = status;
    }

    fn deployment_status(&self, deployment: &Value, current: &Key, owned: &[Key], generation: i64) -> Value {
        let desired = replicas(deployment).max(0);
        let mut all_pods = Vec::new();
        for rs in owned.iter().chain(std::iter::once(current)).collect::<std::collections::BTreeSet<_>>() {
            all_pods.extend(self.pods_of(rs));
        }
        let new_pods = self.pods_of(current);
        let ready = all_pods.iter().filter(|pod| is_ready(pod)).count() as i64;
        let new_ready = new_pods.iter().filter(|pod| is_ready(pod)).count() as i64;
        let now = timestamp(self.now);
        let previous = |kind: &str| {
            deployment
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|conditions| conditions.iter().find(|c| c["type"] == kind).cloned())
        };
        let condition = |kind: &str, ok: bool, reason: &str, message: String| {
            let status = if ok { "True" } else { "False" };
            let since = previous(kind)
                .filter(|c| c["status"] == status)
                .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string))
                .unwrap_or_else(|| now.clone());
            json!({"type": kind, "status": status, "reason": reason, "message": message, "lastUpdateTime": now, "lastTransitionTime": since})
        };
        let available = if ready >= desired {
            condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.".into())
        } else {
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        };
        // A rollout has `progressDeadlineSeconds` (600 by default) from when it began to
        // complete; it began when the condition first named the current replica set.
        let progressing = if new_ready >= desired && new_pods.len() as i64 == desired {
            condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{}\" has successfully progressed.", current.2),
            )
        } else {
            let began = previous("Progressing")
                .filter(|c| {
                    c["reason"] != "NewReplicaSetAvailable"
                        && c["message"].as_str().is_some_and(|m| m.contains(&format!("\"{}\"", current.2)))
                })
                .and_then(|c| c["lastUpdateTime"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()))
                .unwrap_or(self.now - self.backdate.unwrap_or_default());
            let deadline = deployment.pointer("/spec/progressDeadlineSeconds").and_then(Value::as_i64).unwrap_or(600);
            let mut progressing = if self.now - began > Duration::seconds(deadline) {
                condition(
                    "Progressing",
                    false,
                    "ProgressDeadlineExceeded",
                    format!("ReplicaSet \"{}\" has timed out progressing.", current.2),
                )
            } else {
                condition(
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{}\" is progressing.", current.2),
                )
            };
            progressing["lastUpdateTime"] = json!(timestamp(began));
            progressing
        };
        let mut conditions = vec![available, progressing];
        // A replica set refused its pods (a quota, say): the deployment says so.
        let refused = owned.iter().chain(std::iter::once(current)).find_map(|rs| {
            self.objects[rs]
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True"))
        });
        if let Some(refused) = refused {
            conditions.push(condition(
                "ReplicaFailure",
                true,
                "FailedCreate",
                refused["message"].as_str().unwrap_or_default().to_string(),
            ));
        }
        let mut status = json!({
            "observedGeneration": generation,
            "replicas": all_pods.len(),
            "updatedReplicas": new_pods.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": conditions,
        });
        if desired > ready {
            status["unavailableReplicas"] = json!(desired - ready);
        }
        let object = status.as_object_mut().expect("an object");
        object.retain(|_, value| value != &json!(0));
        status
    }

    fn reconcile_endpoints(&mut self, service_key: &Key) {
        let service = &self.objects[service_key];
        let Some(selector) = service.pointer("/spec/selector").and_then(Value::as_object).cloned() else { return };
        let namespace = service_key.1.clone();
        let ports: Vec<Value> = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|port| {
                let target = port.get("targetPort").filter(|t| t.is_i64()).or(port.get("port")).cloned().unwrap_or(json!(80));
                json!({"name": port.get("name").cloned().unwrap_or(json!("")), "port": target, "protocol": port.get("protocol").cloned().unwrap_or(json!("TCP"))})
            })
            .collect();
        let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
        for pod in
            self.list("pods", Some(&namespace)).filter(|pod| labels_match(&selector, pod.pointer("/metadata/labels")))
        {
            let Some(ip) = pod.pointer("/status/podIP").and_then(Value::as_str) else { continue };
            let address = json!({"ip": ip, "nodeName": text(pod, "/spec/nodeName"),
                "targetRef": {"kind": "Pod", "name": text(pod, "/metadata/name"), "namespace": namespace, "uid": text(pod, "/metadata/uid")}});
            if is_ready(pod) { ready.push(address) } else { not_ready.push(address) }
        }
        let mut endpoints = json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": service_key.2, "namespace": namespace, "labels": service["metadata"]["labels"].clone()},
        });
        if !ready.is_empty() || !not_ready.is_empty() {
            let mut subset = json!({"ports": ports});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            endpoints["subsets"] = json!([subset]);
        }
        let key = ("endpoints".to_string(), namespace, service_key.2.clone());
        match self.objects.get_mut(&key) {
            Some(existing) => {
                if existing.get("subsets") != endpoints.get("subsets") {
                    match endpoints.get("subsets") {
                        Some(subsets) => existing["subsets"] = subsets.clone(),
                        None => {
                            existing.as_object_mut().expect("an object").remove("subsets");
                        }
                    }
                }
            }
            None => {
                self.put("endpoints", endpoints);
            }
        }
    }

    /// The cluster as it starts: nodes, namespaces and the demo apps, the failing ones
    /// failing for a quarter of an hour already.
    pub fn seed(&mut self) {
        for (index, node) in NODES.iter().enumerate() {
            let condition = |kind: &str, status: &str, reason: &str, message: &str| {
                json!({"type": kind, "status": status, "reason": reason, "message": message,
                       "lastHeartbeatTime": timestamp(self.now), "lastTransitionTime": timestamp(self.now - Duration::days(3))})
            };
            let capacity = json!({"cpu": (programs::NODE_CPU_MILLIS / 1000).to_string(), "memory": format!("{}Mi", programs::NODE_MEMORY_MIB), "pods": "110"});
            let node = json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "demo.large"},
                             "creationTimestamp": timestamp(self.now - Duration::days(3))},
                "spec": {"podCIDR": format!("10.244.{}.0/24", index + 1)},
                "status": {
                    "capacity": capacity, "allocatable": capacity,
                    "conditions": [
                        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                    ],
                    "addresses": [{"type": "InternalIP", "address": format!("192.168.10.{}", index + 11)}, {"type": "Hostname", "address": node}],
                    "nodeInfo": {"kubeletVersion": "v1.31.4", "kubeProxyVersion": "v1.31.4", "containerRuntimeVersion": "containerd://1.7.24",
                                 "operatingSystem": "linux", "architecture": "amd64", "osImage": "DreamOps demo node", "kernelVersion": "6.1.0"},
                },
            });
            self.put("nodes", node);
        }
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease", programs::NAMESPACE] {
            let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": namespace, "labels": {"kubernetes.io/metadata.name": namespace},
                             "creationTimestamp": timestamp(self.now - Duration::days(3))},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            self.put("namespaces", namespace);
        }
        self.put("storageclasses", super::claims::standard_class(self.now - Duration::days(3)));
        self.put(
            "ingressclasses",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "nginx", "creationTimestamp": timestamp(self.now - Duration::days(3))},
            "spec": {"controller": "k8s.io/ingress-nginx"}}),
        );
        let (apps, services) = programs::demo_apps();
        self.backdate(Some(Duration::minutes(15)));
        for (deployment, revisions) in apps {
            let key = self.put("deployments", deployment);
            self.reconcile_deployment(&key);
            for container in revisions {
                self.get_mut(&key).expect("just put")["spec"]["template"]["spec"]["containers"][0] = container;
                self.reconcile_deployment(&key);
            }
        }
        for service in services {
            self.put("services", service);
        }
        self.reconcile();
        self.backdate(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> World {
        let mut world = World::new(BTreeMap::new());
        world.seed();
        world
    }

    fn pods<'a>(world: &'a World, app: &str) -> Vec<&'a Value> {
        world.list("pods", Some("demo")).filter(|pod| pod["metadata"]["labels"]["app"] == app).collect()
    }

    fn waiting(pod: &Value) -> &str {
        text(pod, "/status/containerStatuses/0/state/waiting/reason")
    }

    #[test]
    fn the_demo_apps_start_broken_each_in_its_own_way() {
        let world = seeded();
        let payment = pods(&world, "payment-service");
        assert_eq!(payment.len(), 2);
        assert!(payment.iter().all(|pod| waiting(pod) == "CrashLoopBackOff"));
        assert_eq!(payment[0]["status"]["containerStatuses"][0]["restartCount"], 6);
        let analytics = pods(&world, "analytics-service");
        assert_eq!(analytics.len(), 2, "Recreate: the old revision's pods are gone");
        assert!(analytics.iter().all(|pod| waiting(pod) == "ImagePullBackOff"));
        let hog = pods(&world, "memory-hog");
        assert_eq!(text(hog[0], "/status/containerStatuses/0/lastState/terminated/reason"), "OOMKilled");
        assert!(pods(&world, "frontend-app").is_empty());
        assert!(pods(&world, "healthy-app").iter().all(|pod| is_ready(pod)));
        let orphan = world.get("endpoints", "demo", "orphan-service").unwrap();
        assert!(orphan.get("subsets").is_none(), "nothing matches its selector: {orphan}");
        let healthy = world.get("endpoints", "demo", "healthy-app").unwrap();
        assert_eq!(healthy["subsets"][0]["addresses"].as_array().unwrap().len(), 2);
        let analytics = world.get("deployments", "demo", "analytics-service").unwrap();
        assert_eq!(analytics["metadata"]["annotations"][REVISION], "2");
        assert_eq!(analytics["status"]["unavailableReplicas"], 2);
        assert_eq!(
            world
                .list("replicasets", Some("demo"))
                .filter(|rs| rs["metadata"]["labels"]["app"] == "analytics-service")
                .count(),
            2
        );
        assert!(
            world
                .events
                .iter()
                .any(|e| e["reason"] == "BackOff" && text(e, "/involvedObject/name").starts_with("payment-service"))
        );
        assert!(world.events.iter().any(|e| e["message"].as_str().unwrap().contains("2.4.0-rc1: not found")));
    }

    #[test]
    fn rolling_back_to_an_earlier_template_reuses_its_replica_set_as_the_newest_revision() {
        let mut world = World::new(seeded().objects);
        let key = ("deployments".to_string(), "demo".to_string(), "analytics-service".to_string());
        let old = world
            .list("replicasets", Some("demo"))
            .find(|rs| rs["metadata"]["annotations"][REVISION] == "1")
            .unwrap()
            .clone();
        let mut template = old["spec"]["template"].clone();
        template["metadata"]["labels"].as_object_mut().unwrap().remove(TEMPLATE_HASH);
        template["metadata"]["creationTimestamp"] = Value::Null;
        world.get_mut(&key).unwrap()["spec"]["template"] = template;
        world.reconcile();
        let deployment = world.get("deployments", "demo", "analytics-service").unwrap();
        assert_eq!(deployment["metadata"]["annotations"][REVISION], "3");
        assert_eq!(deployment["status"]["readyReplicas"], 2);
        assert_eq!(deployment["metadata"]["generation"], 3, "{deployment}");
        assert!(pods(&world, "analytics-service").iter().all(|pod| is_ready(pod)));
        let rs = world.get("replicasets", "demo", text(&old, "/metadata/name")).unwrap();
        assert_eq!(rs["metadata"]["annotations"][REVISION], "3");
        let (written, removed) = world.changes();
        assert!(!written.is_empty() && removed.len() == 2, "the failing pods are gone");
    }

    #[test]
    fn a_fix_rolled_out_over_a_failed_release_replaces_its_failing_pods() {
        let mut world = seeded();
        let key = ("deployments".to_string(), "demo".to_string(), "healthy-app".to_string());
        let limit = |world: &mut World, memory: &str| {
            world.get_mut(&key).unwrap()["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] =
                json!(memory);
            world.reconcile();
        };
        // The failed release: one surge pod OOM-killed, both old pods kept serving.
        limit(&mut world, "64Mi");
        let app = pods(&world, "healthy-app");
        assert_eq!((app.len(), app.iter().filter(|pod| is_ready(pod)).count()), (3, 2));
        // The fix: the failing pod makes room, the new pods take over.
        limit(&mut world, "128Mi");
        let app = pods(&world, "healthy-app");
        assert_eq!(app.len(), 2, "{app:?}");
        assert!(
            app.iter().all(|pod| is_ready(pod) && text(pod, "/spec/containers/0/resources/limits/memory") == "128Mi")
        );
    }

    #[test]
    fn an_empty_or_absent_selector_selects_everything_and_match_labels_only_what_they_name() {
        let labels = json!({"app": "web", "tier": "front"});
        assert!(selects(Some(&json!({})), Some(&labels)), "a NetworkPolicy's podSelector: {{}}");
        assert!(selects(None, Some(&labels)));
        assert!(selects(Some(&json!({"matchLabels": {}})), None));
        assert!(selects(Some(&json!({"matchLabels": {"app": "web"}})), Some(&labels)));
        assert!(!selects(Some(&json!({"matchLabels": {"app": "db"}})), Some(&labels)));
        assert!(!selects(Some(&json!({"matchLabels": {"app": "web"}})), None));
    }

    #[test]
    fn templates_that_mean_the_same_hash_the_same() {
        let a = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x", "image": "i"}]}});
        let b = json!({"spec": {"containers": [{"image": "i", "name": "x", "resources": {}}]},
                       "metadata": {"creationTimestamp": null, "labels": {"app": "x", "pod-template-hash": "abc"}}});
        assert_eq!(template_hash(&a), template_hash(&b));
        let c = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x", "image": "j"}]}});
        assert_ne!(template_hash(&a), template_hash(&c));
    }
}
