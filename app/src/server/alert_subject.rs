//! What an alert is about: the Kubernetes object (kind, namespace, name, container) its
//! labels name, and the service an incident from it is filed under.
//!
//! Prometheus alerts carry two sets of labels. The *scrape target's* (`job`, `service`,
//! `instance`, `endpoint`, and for exporters `pod`, `container` and `namespace`) say where
//! the metric was read: for kube-state-metrics, the kubelet or node-exporter that is the
//! exporter, not the failing object. The *metric's own* (`namespace` + `pod`, `container`,
//! `deployment`, `statefulset`, `daemonset`, `job_name`, `cronjob`,
//! `horizontalpodautoscaler`, `persistentvolumeclaim`, `resourcequota`,
//! `poddisruptionbudget`, `node`; `exported_*` when the target's label took the name)
//! say what failed. [`subject`] reads the second and never takes the first for the
//! workload.

use serde_json::Value;

/// The kinds of Kubernetes object an alert can be about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    HorizontalPodAutoscaler,
    PersistentVolumeClaim,
    PersistentVolume,
    ResourceQuota,
    PodDisruptionBudget,
    Ingress,
    Service,
    Node,
    /// The cluster as a whole: its control plane, its capacity, its monitoring.
    Cluster,
}

impl Kind {
    /// Its name as `kubectl` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "pod",
            Kind::Deployment => "deployment",
            Kind::StatefulSet => "statefulset",
            Kind::DaemonSet => "daemonset",
            Kind::Job => "job",
            Kind::CronJob => "cronjob",
            Kind::HorizontalPodAutoscaler => "horizontalpodautoscaler",
            Kind::PersistentVolumeClaim => "persistentvolumeclaim",
            Kind::PersistentVolume => "persistentvolume",
            Kind::ResourceQuota => "resourcequota",
            Kind::PodDisruptionBudget => "poddisruptionbudget",
            Kind::Ingress => "ingress",
            Kind::Service => "service",
            Kind::Node => "node",
            Kind::Cluster => "cluster",
        }
    }

    /// Whether it runs pods from a template (and has an owner chain down to them).
    pub fn is_workload(self) -> bool {
        matches!(self, Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::Job | Kind::CronJob)
    }
}

/// The object an alert is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub kind: Kind,
    /// Its namespace; none for nodes and the cluster.
    pub namespace: Option<String>,
    /// Its name; none for the cluster.
    pub name: Option<String>,
    /// The container, when the alert is about one container of a pod.
    pub container: Option<String>,
}

/// The places of an incident's details where labels are found, in order.
const PLACES: [&str; 4] = ["labels", "commonLabels", "custom_details", "annotations"];

/// A label (or annotation, or custom detail) of the alert, by any of `names`.
pub(crate) fn label(details: &Value, names: &[&str]) -> Option<String> {
    for name in names {
        for place in PLACES {
            if let Some(value) = details.get(place).and_then(|p| p.get(*name)).and_then(Value::as_str) {
                let value = value.trim();
                if !value.is_empty() {
                    return Some(value.to_string());
                }
            }
        }
        if let Some(value) = details.get(*name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty()) {
            return Some(value.to_string());
        }
    }
    None
}

/// Scrape jobs that export metrics about *other* objects: their `pod`, `container`,
/// `service` and `instance` labels are the exporter's own.
const EXPORTERS: &[&str] = &[
    "kube-state-metrics",
    "kubelet",
    "cadvisor",
    "node-exporter",
    "apiserver",
    "kube-scheduler",
    "kube-controller-manager",
    "etcd",
    "blackbox",
    "kube-proxy",
    "ingress-nginx",
];

/// Whether the alert's scrape target is an exporter (see [`EXPORTERS`]).
fn from_exporter(details: &Value) -> bool {
    let named = |value: Option<String>| value.is_some_and(|v| EXPORTERS.iter().any(|e| v.contains(e)));
    named(label(details, &["job"]))
        || named(label(details, &["service"]))
        || label(details, &["metrics_path"]).is_some_and(|p| p.contains("cadvisor"))
}

/// Alerts about a scrape target itself: their `service`/`job` labels are the subject.
const ABOUT_TARGETS: &[&str] = &["TargetDown"];

/// The host part of a Prometheus `instance` (`node-1:9100` → `node-1`).
fn host(instance: &str) -> String {
    match instance.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.trim_matches(['[', ']']).to_string(),
        _ => instance.to_string(),
    }
}

/// What the alert with `details` (and `alert_name`) is about, from its labels.
pub fn subject(details: &Value, alert_name: Option<&str>) -> Option<Subject> {
    let exporter = from_exporter(details);
    // The metric's namespace: `exported_namespace` when the target's label took the name.
    let namespace = label(details, &["exported_namespace", "namespace", "kubernetes_namespace"]);
    let at = |kind: Kind, name: Option<String>| {
        let namespaced = !matches!(kind, Kind::Node | Kind::Cluster | Kind::PersistentVolume);
        name.map(|name| Subject {
            kind,
            namespace: namespace.clone().filter(|_| namespaced),
            name: Some(name),
            container: None,
        })
    };
    if alert_name.is_some_and(|name| ABOUT_TARGETS.contains(&name)) {
        return at(Kind::Service, label(details, &["service", "job"]));
    }
    const OBJECTS: &[(&str, Kind)] = &[
        ("horizontalpodautoscaler", Kind::HorizontalPodAutoscaler),
        ("persistentvolumeclaim", Kind::PersistentVolumeClaim),
        ("persistentvolume", Kind::PersistentVolume),
        ("job_name", Kind::Job),
        ("cronjob", Kind::CronJob),
        ("statefulset", Kind::StatefulSet),
        ("daemonset", Kind::DaemonSet),
        ("deployment", Kind::Deployment),
        ("resourcequota", Kind::ResourceQuota),
        ("poddisruptionbudget", Kind::PodDisruptionBudget),
        ("ingress", Kind::Ingress),
    ];
    let object = OBJECTS.iter().find_map(|(name, kind)| at(*kind, label(details, &[name])));
    // A pod (and its container) from the metric, not the exporter's own: with another
    // object named, only a pod of that object; from an exporter, only `exported_pod`
    // or a pod of a metric that has one (kube-state-metrics' honoured labels).
    let pod = label(details, &["exported_pod", "pod", "pod_name", "kubernetes_pod_name"]).filter(|pod| {
        let exporters_own = exporter && EXPORTERS.iter().any(|e| pod.contains(e));
        let of_object = object.as_ref().and_then(|o| o.name.as_deref()).is_none_or(|name| pod.starts_with(name));
        !exporters_own && of_object
    });
    let container = pod.as_ref().and_then(|_| label(details, &["exported_container", "container", "container_name"]));
    if let Some(object) = object {
        return Some(object);
    }
    if let Some(pod) = pod {
        return at(Kind::Pod, Some(pod)).map(|s| Subject { container, ..s });
    }
    let node = label(details, &["node", "nodename", "kubernetes_node"]).or_else(|| {
        // node-exporter's `instance` is the node (kube-prometheus relabels it so).
        let node_exporter = label(details, &["job"]).is_some_and(|j| j.contains("node-exporter"))
            || alert_name.is_some_and(|n| n.starts_with("Node"));
        label(details, &["instance"]).filter(|_| node_exporter).map(|i| host(&i))
    });
    if let Some(node) = node {
        return at(Kind::Node, Some(node));
    }
    // An application's own alert: its scrape target is the application.
    if !exporter
        && let Some(service) =
            at(Kind::Service, label(details, &["exported_service", "service", "service_name", "job"]))
    {
        return Some(service);
    }
    (exporter || label(details, &["cluster"]).is_some()).then_some(Subject {
        kind: Kind::Cluster,
        namespace: None,
        name: None,
        container: None,
    })
}

/// The workload a pod's name suggests, before the cluster says (`web-5d9c8f7b6-x2x9q` of
/// a Deployment, `db-0` of a StatefulSet, `agent-7xk2p` of a DaemonSet or Job).
pub fn workload_of_pod_name(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    let random = |part: &str| part.len() == 5 && part.chars().all(|c| c.is_ascii_alphanumeric());
    let hash = |part: &str| (6..=10).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric());
    match parts.as_slice() {
        [head @ .., h, r] if !head.is_empty() && hash(h) && random(r) => head.join("-"),
        [head @ .., last] if !head.is_empty() && (random(last) || last.chars().all(|c| c.is_ascii_digit())) => {
            head.join("-")
        }
        _ => pod.to_string(),
    }
}

/// The name an incident from `details` is filed under: the object it is about (a pod
/// under its likely workload), else the alert's `service`.
pub fn service_of(details: &Value, alert_name: Option<&str>) -> Option<String> {
    match subject(details, alert_name) {
        Some(Subject { kind: Kind::Pod, name: Some(pod), .. }) => Some(workload_of_pod_name(&pod)),
        Some(Subject { kind: Kind::Cluster, .. }) => None,
        Some(Subject { name, .. }) => name,
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_suggest_their_workload() {
        assert_eq!(workload_of_pod_name("web-5d9c8f7b6-x2x9q"), "web");
        assert_eq!(workload_of_pod_name("checkout-api-7f9b5c4d8-abcde"), "checkout-api");
        assert_eq!(workload_of_pod_name("postgres-0"), "postgres");
        assert_eq!(workload_of_pod_name("fluent-bit-7xk2p"), "fluent-bit");
        assert_eq!(workload_of_pod_name("standalone"), "standalone");
    }
}
