//! The demo cluster's objects during one request — kept, changed, and the events that
//! tell what happened — the helpers every controller shares, the loop that runs the
//! controllers until the cluster is settled, and the cluster as it starts. Each
//! controller has its own file: `deployments` (and replica sets), `sets` (stateful and
//! daemon sets), `jobs`, `pods`, `claims`, `autoscalers`, `endpoints`.

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
    pub(crate) counted_specs: BTreeMap<Key, Value>,
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
pub(crate) fn canonical(value: &Value) -> Value {
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

pub(crate) fn revision(object: &Value) -> i64 {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn replicas(object: &Value) -> i64 {
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
