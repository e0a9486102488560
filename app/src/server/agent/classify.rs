//! What kind of failure an incident is, and which Kubernetes object it is about, from its
//! alert: the alert name and labels first, then the words of its title and details.
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

use crate::domain::analysis::Family;

/// What the agent knows of an incident before reading any cluster.
#[derive(Clone, Debug, Default)]
pub struct IncidentFacts {
    pub title: String,
    pub description: String,
    pub service: Option<String>,
    /// The incident's details: labels, annotations, custom details.
    pub details: Value,
}

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

/// The failure an incident is, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    pub family: Family,
    /// The alert's `alertname`, when it has one.
    pub alert_name: Option<String>,
    pub cluster: Option<String>,
    /// What the alert is about, when its labels say.
    pub subject: Option<Subject>,
    pub namespace: Option<String>,
    /// The pod the alert names (with a workload, one of its pods).
    pub pod: Option<String>,
    pub container: Option<String>,
    /// The workload the alert names: its kind and name.
    pub workload: Option<(Kind, String)>,
    /// A Service the alert is about, or the service the incident was sent for.
    pub service: Option<String>,
    pub node: Option<String>,
    /// A PersistentVolumeClaim.
    pub claim: Option<String>,
    /// A HorizontalPodAutoscaler.
    pub autoscaler: Option<String>,
    /// An Ingress.
    pub ingress: Option<String>,
}

impl Classification {
    /// The workload's name when it is of `kind`.
    pub fn workload_of(&self, kind: Kind) -> Option<&str> {
        self.workload.as_ref().filter(|(k, _)| *k == kind).map(|(_, name)| name.as_str())
    }
}

/// The places of an incident's details where labels are found, in order.
const PLACES: [&str; 4] = ["labels", "commonLabels", "custom_details", "annotations"];

/// A label (or annotation, or custom detail) of the alert, by any of `names`.
fn label(details: &Value, names: &[&str]) -> Option<String> {
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

/// Alert names of kube-prometheus and common rule sets, by family.
const ALERT_NAMES: &[(&str, Family)] = &[
    ("KubePodCrashLooping", Family::PodCrash),
    ("KubeContainerOOMKilled", Family::OomKill),
    ("ContainerOOMKilled", Family::OomKill),
    ("KubeDeploymentRolloutStuck", Family::RolloutFailure),
    ("KubeDeploymentReplicasMismatch", Family::RolloutFailure),
    ("KubeDeploymentGenerationMismatch", Family::RolloutFailure),
    ("KubeStatefulSetReplicasMismatch", Family::RolloutFailure),
    ("KubeStatefulSetGenerationMismatch", Family::RolloutFailure),
    ("KubeStatefulSetUpdateNotRolledOut", Family::RolloutFailure),
    ("KubeDaemonSetRolloutStuck", Family::RolloutFailure),
    ("KubeDaemonSetNotScheduled", Family::Unschedulable),
    ("KubeDaemonSetMisScheduled", Family::Unschedulable),
    ("KubePdbNotEnoughHealthyPods", Family::ProbeFailure),
    ("KubeServiceNoEndpoints", Family::ServiceWithoutEndpoints),
    ("KubeNodeNotReady", Family::NodeNotReady),
    ("KubeNodeUnreachable", Family::NodeNotReady),
    ("KubeNodePressure", Family::NodeNotReady),
    ("KubeNodeReadinessFlapping", Family::NodeNotReady),
    ("KubeNodeEviction", Family::NodeNotReady),
    ("KubeletDown", Family::NodeNotReady),
    ("KubeletInstanceUnreachable", Family::NodeNotReady),
    ("KubeletPlegDurationHigh", Family::NodeNotReady),
    ("KubeletPodStartUpLatencyHigh", Family::NodeNotReady),
    ("KubeletTooManyPods", Family::Unschedulable),
    ("KubePersistentVolumeFillingUp", Family::VolumeProblem),
    ("KubePersistentVolumeInodesFillingUp", Family::VolumeProblem),
    ("KubePersistentVolumeErrors", Family::VolumeProblem),
    ("KubePersistentVolumeClaimPending", Family::VolumeProblem),
    ("KubeJobFailed", Family::JobFailure),
    ("KubeJobNotCompleted", Family::JobFailure),
    ("KubeHpaReplicasMismatch", Family::Autoscaling),
    ("KubeHpaMaxedOut", Family::Autoscaling),
    ("KubeQuotaAlmostFull", Family::Quota),
    ("KubeQuotaFullyUsed", Family::Quota),
    ("KubeQuotaExceeded", Family::Quota),
    ("KubeCPUQuotaOvercommit", Family::Quota),
    ("KubeMemoryQuotaOvercommit", Family::Quota),
    ("CPUThrottlingHigh", Family::HighCpu),
    ("KubeCPUOvercommit", Family::HighCpu),
    ("KubeMemoryOvercommit", Family::HighMemory),
    ("KubeVersionMismatch", Family::ControlPlane),
    ("KubeClientErrors", Family::ControlPlane),
    ("KubeAPIErrorBudgetBurn", Family::ControlPlane),
    ("KubeClientCertificateExpiration", Family::ControlPlane),
    ("KubeAggregatedAPIErrors", Family::ControlPlane),
    ("KubeAggregatedAPIDown", Family::ControlPlane),
    ("KubeAPIDown", Family::ControlPlane),
    ("KubeAPIInstanceUnreachable", Family::ControlPlane),
    ("KubeAPITerminatedRequests", Family::ControlPlane),
    ("KubeletClientCertificateExpiration", Family::ControlPlane),
    ("KubeletServerCertificateExpiration", Family::ControlPlane),
    ("KubeletClientCertificateRenewalErrors", Family::ControlPlane),
    ("KubeletServerCertificateRenewalErrors", Family::ControlPlane),
    ("KubeSchedulerDown", Family::ControlPlane),
    ("KubeSchedulerInstanceUnreachable", Family::ControlPlane),
    ("KubeControllerManagerDown", Family::ControlPlane),
    ("KubeControllerManagerInstanceUnreachable", Family::ControlPlane),
    ("TargetDown", Family::Monitoring),
    ("Watchdog", Family::Monitoring),
    ("InfoInhibitor", Family::Monitoring),
    ("KubeStateMetricsListErrors", Family::Monitoring),
    ("KubeStateMetricsWatchErrors", Family::Monitoring),
    ("KubeStateMetricsShardingMismatch", Family::Monitoring),
    ("KubeStateMetricsShardsMissing", Family::Monitoring),
    ("NodeTextFileCollectorScrapeError", Family::Monitoring),
    ("PostgresqlTooManyConnections", Family::DatabaseConnections),
    ("MysqlTooManyConnections", Family::DatabaseConnections),
    ("PostgresqlSlowQueries", Family::SlowQueries),
    ("NodeNetworkInterfaceFlapping", Family::Network),
    ("NodeNetworkReceiveErrs", Family::Network),
    ("NodeNetworkTransmitErrs", Family::Network),
    ("NodeHighNumberConntrackEntriesUsed", Family::Network),
    ("NodeBondingDegraded", Family::Network),
    ("NodeHighCpuLoad", Family::ServerResources),
    ("NodeCPUHighUsage", Family::ServerResources),
    ("NodeSystemSaturation", Family::ServerResources),
    ("NodeMemoryHighUtilization", Family::ServerResources),
    ("NodeMemoryMajorPagesFaults", Family::ServerResources),
    ("NodeFilesystemSpaceFillingUp", Family::ServerResources),
    ("NodeFilesystemAlmostOutOfSpace", Family::ServerResources),
    ("NodeFilesystemFilesFillingUp", Family::ServerResources),
    ("NodeFilesystemAlmostOutOfFiles", Family::ServerResources),
    ("NodeDiskIOSaturation", Family::ServerResources),
    ("NodeFileDescriptorLimit", Family::ServerResources),
    ("NodeClockSkewDetected", Family::ServerResources),
    ("NodeClockNotSynchronising", Family::ServerResources),
    ("NodeRAIDDegraded", Family::ServerResources),
    ("NodeRAIDDiskFailure", Family::ServerResources),
    ("NodeSystemdServiceFailed", Family::ProcessCrash),
    ("NodeSystemdServiceCrashlooping", Family::ProcessCrash),
];

/// Words that name a family, checked in this order (the first that matches wins).
const WORDS: &[(&[&str], Family)] = &[
    (&["oomkilled", "oom-killed", "oom killed", "out of memory", "oom kill"], Family::OomKill),
    (&["imagepullbackoff", "errimagepull", "image pull", "invalidimagename", "pull image"], Family::ImagePull),
    (&["crashloopbackoff", "crash looping", "crashloop", "restarting failed container"], Family::PodCrash),
    (
        &["unschedulable", "failedscheduling", "insufficient memory", "insufficient cpu", "pending pod"],
        Family::Unschedulable,
    ),
    (&["rollout", "progressdeadlineexceeded", "replicas mismatch", "replicafailure"], Family::RolloutFailure),
    (&["readiness probe", "liveness probe", "probe failed", "unhealthy"], Family::ProbeFailure),
    (
        &["no endpoints", "no ready endpoints", "without endpoints", "selector matches no"],
        Family::ServiceWithoutEndpoints,
    ),
    (&["node not ready", "notready", "memorypressure", "diskpressure", "pidpressure"], Family::NodeNotReady),
    (&["horizontalpodautoscaler", "autoscaler", "hpa "], Family::Autoscaling),
    (&["ingress"], Family::Ingress),
    (&["persistentvolumeclaim", "pvc", "provisioningfailed", "failedmount", "volume"], Family::VolumeProblem),
    (&["backofflimitexceeded", "job failed", "cronjob"], Family::JobFailure),
    (&["forbidden", "permission denied", "rbac"], Family::Permissions),
    (&["exceeded quota", "resourcequota", "quota"], Family::Quota),
    (
        &[
            "too many connections",
            "connection pool",
            "connections exhausted",
            "max_connections",
            "remaining connection slots",
        ],
        Family::DatabaseConnections,
    ),
    (&["slow quer", "query latency", "long running quer", "lock wait", "deadlock"], Family::SlowQueries),
    (
        &[
            "brute force",
            "brute-force",
            "failed login",
            "failed password",
            "authentication failures",
            "suspicious login",
            "intrusion",
        ],
        Family::Security,
    ),
    (&["connection refused", "no such host", "econnrefused", "enotfound"], Family::Dependency),
    (&["packet loss", "dns", "latency", "timeout", "unreachable", "network"], Family::Network),
    (
        &["segfault", "segmentation fault", "core dumped", "process crashed", "process exited", "panic"],
        Family::ProcessCrash,
    ),
    (&["cpu"], Family::HighCpu),
    (&["memory", "swap"], Family::HighMemory),
    (&["disk", "load average", "filesystem", "inode"], Family::ServerResources),
];

/// Classifies `facts`.
pub fn classify(facts: &IncidentFacts) -> Classification {
    let details = &facts.details;
    let alert_name = label(details, &["alertname", "alert_name", "alert"]);
    let subject = subject(details, alert_name.as_deref()).or_else(|| {
        // The control plane is the cluster's, whatever labels its alerts keep.
        let control_plane = alert_name.as_deref().and_then(family_of_name) == Some(Family::ControlPlane);
        control_plane.then_some(Subject { kind: Kind::Cluster, namespace: None, name: None, container: None })
    });
    let cluster = label(details, &["cluster", "cluster_name", "k8s_cluster"]);
    let reason = label(details, &["reason"]).unwrap_or_default();
    let named = |kind: Kind| subject.as_ref().filter(|s| s.kind == kind).and_then(|s| s.name.clone());
    let namespace = subject.as_ref().and_then(|s| s.namespace.clone());
    let pod = named(Kind::Pod).or_else(|| {
        // A pod named beside its workload (a custom rule's `deployment` and `pod`).
        let workload = subject.as_ref().filter(|s| s.kind.is_workload())?.name.clone()?;
        label(details, &["exported_pod", "pod"]).filter(|pod| pod.starts_with(&workload))
    });
    let container = subject.as_ref().and_then(|s| s.container.clone());
    let workload = subject.as_ref().filter(|s| s.kind.is_workload()).and_then(|s| Some((s.kind, s.name.clone()?)));
    // A Service the alert is about, or an ingress alert's backend (`exported_service`).
    let service = named(Kind::Service)
        .or_else(|| label(details, &["exported_service"]).filter(|_| named(Kind::Ingress).is_some()))
        .or_else(|| facts.service.clone().filter(|_| subject.is_none()));
    let node = named(Kind::Node).or_else(|| label(details, &["node"]));

    let by_name = alert_name.as_deref().and_then(|name| {
        if name == "KubeContainerWaiting" || name == "KubePodNotReady" {
            // The waiting reason says which; a pod not ready for no given reason fails
            // its readiness probe, a container waiting for none keeps failing to start.
            let otherwise = if name == "KubePodNotReady" { Family::ProbeFailure } else { Family::PodCrash };
            return Some(words(&reason.to_lowercase()).unwrap_or(otherwise));
        }
        family_of_name(name)
    });
    let text = format!(
        "{} {} {} {}",
        facts.title,
        facts.description,
        reason,
        label(details, &["summary", "description", "message"]).unwrap_or_default()
    )
    .to_lowercase();
    let mut family = by_name.or_else(|| words(&text)).unwrap_or(Family::Unknown);
    // CPU and memory words on a host without any workload are about the server.
    let on_kubernetes = namespace.is_some() || pod.is_some() || workload.is_some();
    if matches!(family, Family::HighCpu | Family::HighMemory) && !on_kubernetes {
        family = Family::ServerResources;
    }
    Classification {
        family,
        alert_name,
        cluster,
        namespace,
        pod,
        container,
        workload,
        service,
        node,
        claim: named(Kind::PersistentVolumeClaim),
        autoscaler: named(Kind::HorizontalPodAutoscaler),
        ingress: named(Kind::Ingress),
        subject,
    }
}

/// The family of a known alert name.
fn family_of_name(name: &str) -> Option<Family> {
    ALERT_NAMES.iter().find(|(known, _)| known.eq_ignore_ascii_case(name)).map(|(_, family)| *family)
}

fn words(text: &str) -> Option<Family> {
    WORDS.iter().find(|(words, _)| words.iter().any(|word| text.contains(word))).map(|(_, family)| *family)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(title: &str, details: Value) -> IncidentFacts {
        IncidentFacts { title: title.into(), details, ..IncidentFacts::default() }
    }

    #[test]
    fn alertmanager_labels_name_the_family_and_the_workload() {
        let found = classify(&facts(
            "Pod is crash looping.",
            json!({"labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-5d9c-x2x", "cluster": "prod"}}),
        ));
        assert_eq!(found.family, Family::PodCrash);
        assert_eq!(
            (found.namespace.as_deref(), found.pod.as_deref(), found.cluster.as_deref()),
            (Some("shop"), Some("web-5d9c-x2x"), Some("prod"))
        );
        let waiting = classify(&facts(
            "Pod container waiting",
            json!({"labels": {"alertname": "KubeContainerWaiting", "reason": "ImagePullBackOff", "namespace": "shop"}}),
        ));
        assert_eq!(waiting.family, Family::ImagePull);
    }

    #[test]
    fn words_classify_what_has_no_known_alert_name() {
        let cases = [
            ("payments: too many connections to postgres", Family::DatabaseConnections),
            ("Brute-force login attempts on bastion", Family::Security),
            ("Packet loss between eu-west and us-east", Family::Network),
            ("web-1 OOMKilled", Family::OomKill),
            ("High CPU on db-host-3", Family::ServerResources),
            ("Checkout slow queries above 2s", Family::SlowQueries),
            ("Something odd happened", Family::Unknown),
        ];
        for (title, family) in cases {
            assert_eq!(classify(&facts(title, json!({}))).family, family, "{title}");
        }
        let pod_cpu = classify(&facts("High CPU usage", json!({"labels": {"namespace": "shop", "pod": "web-1"}})));
        assert_eq!(pod_cpu.family, Family::HighCpu, "CPU of a pod is the workload's");
    }

    #[test]
    fn pod_names_suggest_their_workload() {
        assert_eq!(workload_of_pod_name("web-5d9c8f7b6-x2x9q"), "web");
        assert_eq!(workload_of_pod_name("checkout-api-7f9b5c4d8-abcde"), "checkout-api");
        assert_eq!(workload_of_pod_name("postgres-0"), "postgres");
        assert_eq!(workload_of_pod_name("fluent-bit-7xk2p"), "fluent-bit");
        assert_eq!(workload_of_pod_name("standalone"), "standalone");
    }
    /// The scrape target's labels as kube-prometheus-stack's ServiceMonitors leave them.
    fn scrape(source: &str) -> Value {
        match source {
            "ksm" => json!({"job": "kube-state-metrics", "instance": "10.244.1.17:8080", "endpoint": "http",
                            "service": "kube-prometheus-stack-kube-state-metrics", "namespace": "monitoring",
                            "pod": "kube-prometheus-stack-kube-state-metrics-6d8f9c7b5-kx2zq", "container": "kube-state-metrics"}),
            "kubelet" => json!({"job": "kubelet", "instance": "10.0.1.12:10250", "endpoint": "https-metrics",
                                "metrics_path": "/metrics", "service": "kube-prometheus-stack-kubelet",
                                "namespace": "kube-system", "node": "node-1"}),
            "node-exporter" => json!({"job": "node-exporter", "instance": "node-1", "endpoint": "http-metrics",
                                      "service": "kube-prometheus-stack-prometheus-node-exporter", "namespace": "monitoring",
                                      "pod": "kube-prometheus-stack-prometheus-node-exporter-8xk2p", "container": "node-exporter"}),
            "apiserver" => json!({"job": "apiserver", "instance": "10.0.0.10:6443", "endpoint": "https",
                                  "service": "kubernetes", "namespace": "default"}),
            _ => json!({}),
        }
    }

    /// An object as the test expects it: kind, namespace, name, container.
    type Expected = (Kind, Option<&'static str>, Option<&'static str>, Option<&'static str>);

    /// Every alert of the kube-prometheus rule set, with the labels it fires with: the
    /// scrape target's (when its expression keeps them: `source`) and those its expression
    /// and rule keep; and the object it is about: kind, namespace, name, container.
    #[test]
    fn every_kube_prometheus_alert_names_the_object_it_is_about() {
        use Kind::*;
        #[rustfmt::skip]
        let table: &[(&str, &str, Value, Option<Expected>)] = &[
            ("TargetDown", "", json!({"cluster": "prod", "job": "payments-metrics", "namespace": "payments", "service": "payments-metrics"}), Some((Service, Some("payments"), Some("payments-metrics"), None))),
            ("Watchdog", "", json!({}), None),
            ("InfoInhibitor", "", json!({"namespace": "shop"}), None),
            ("NodeNetworkInterfaceFlapping", "node-exporter", json!({"device": "eth0"}), Some((Node, None, Some("node-1"), None))),
            ("KubeStateMetricsListErrors", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeStateMetricsWatchErrors", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeStateMetricsShardingMismatch", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeStateMetricsShardsMissing", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubePodCrashLooping", "ksm", json!({"namespace": "shop", "pod": "web-5d9c8f7b6-x2x9q", "container": "web", "reason": "CrashLoopBackOff", "uid": "1"}), Some((Pod, Some("shop"), Some("web-5d9c8f7b6-x2x9q"), Some("web")))),
            ("KubePodNotReady", "", json!({"namespace": "shop", "pod": "web-5d9c8f7b6-x2x9q", "job": "kube-state-metrics", "cluster": "prod"}), Some((Pod, Some("shop"), Some("web-5d9c8f7b6-x2x9q"), None))),
            ("KubeDeploymentGenerationMismatch", "ksm", json!({"namespace": "shop", "deployment": "web"}), Some((Deployment, Some("shop"), Some("web"), None))),
            ("KubeDeploymentReplicasMismatch", "ksm", json!({"namespace": "shop", "deployment": "web"}), Some((Deployment, Some("shop"), Some("web"), None))),
            ("KubeDeploymentRolloutStuck", "ksm", json!({"namespace": "shop", "deployment": "web", "condition": "Progressing", "status": "false"}), Some((Deployment, Some("shop"), Some("web"), None))),
            ("KubeStatefulSetReplicasMismatch", "ksm", json!({"namespace": "db", "statefulset": "postgres"}), Some((StatefulSet, Some("db"), Some("postgres"), None))),
            ("KubeStatefulSetGenerationMismatch", "ksm", json!({"namespace": "db", "statefulset": "postgres"}), Some((StatefulSet, Some("db"), Some("postgres"), None))),
            ("KubeStatefulSetUpdateNotRolledOut", "", json!({"namespace": "db", "statefulset": "postgres", "job": "kube-state-metrics", "cluster": "prod"}), Some((StatefulSet, Some("db"), Some("postgres"), None))),
            ("KubeDaemonSetRolloutStuck", "ksm", json!({"namespace": "logging", "daemonset": "fluent-bit"}), Some((DaemonSet, Some("logging"), Some("fluent-bit"), None))),
            ("KubeContainerWaiting", "ksm", json!({"namespace": "shop", "pod": "cart-7c9d8b6f5-k7m4p", "container": "cart", "reason": "CreateContainerConfigError"}), Some((Pod, Some("shop"), Some("cart-7c9d8b6f5-k7m4p"), Some("cart")))),
            ("KubeDaemonSetNotScheduled", "ksm", json!({"namespace": "logging", "daemonset": "fluent-bit"}), Some((DaemonSet, Some("logging"), Some("fluent-bit"), None))),
            ("KubeDaemonSetMisScheduled", "ksm", json!({"namespace": "logging", "daemonset": "fluent-bit"}), Some((DaemonSet, Some("logging"), Some("fluent-bit"), None))),
            ("KubeJobNotCompleted", "", json!({"namespace": "reports", "job_name": "export-29011340", "cluster": "prod"}), Some((Job, Some("reports"), Some("export-29011340"), None))),
            ("KubeJobFailed", "ksm", json!({"namespace": "reports", "job_name": "export-29011340"}), Some((Job, Some("reports"), Some("export-29011340"), None))),
            ("KubeHpaReplicasMismatch", "ksm", json!({"namespace": "shop", "horizontalpodautoscaler": "catalog"}), Some((HorizontalPodAutoscaler, Some("shop"), Some("catalog"), None))),
            ("KubeHpaMaxedOut", "ksm", json!({"namespace": "shop", "horizontalpodautoscaler": "catalog"}), Some((HorizontalPodAutoscaler, Some("shop"), Some("catalog"), None))),
            ("KubePdbNotEnoughHealthyPods", "ksm", json!({"namespace": "shop", "poddisruptionbudget": "web"}), Some((PodDisruptionBudget, Some("shop"), Some("web"), None))),
            ("KubeCPUOvercommit", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeMemoryOvercommit", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeCPUQuotaOvercommit", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeMemoryQuotaOvercommit", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeQuotaAlmostFull", "", json!({"cluster": "prod", "namespace": "team-a", "resource": "limits.memory", "resourcequota": "compute"}), Some((ResourceQuota, Some("team-a"), Some("compute"), None))),
            ("KubeQuotaFullyUsed", "", json!({"cluster": "prod", "namespace": "team-a", "resource": "pods", "resourcequota": "compute"}), Some((ResourceQuota, Some("team-a"), Some("compute"), None))),
            ("KubeQuotaExceeded", "", json!({"cluster": "prod", "namespace": "team-a", "resource": "cpu", "resourcequota": "compute"}), Some((ResourceQuota, Some("team-a"), Some("compute"), None))),
            ("CPUThrottlingHigh", "", json!({"cluster": "prod", "namespace": "shop", "pod": "api-6c7d8f9b5-x2x9q", "container": "api", "instance": "10.0.1.12:10250", "service": "kube-prometheus-stack-kubelet"}), Some((Pod, Some("shop"), Some("api-6c7d8f9b5-x2x9q"), Some("api")))),
            ("KubePersistentVolumeFillingUp", "kubelet", json!({"namespace": "search", "persistentvolumeclaim": "data-es-0"}), Some((PersistentVolumeClaim, Some("search"), Some("data-es-0"), None))),
            ("KubePersistentVolumeInodesFillingUp", "kubelet", json!({"namespace": "search", "persistentvolumeclaim": "data-es-0"}), Some((PersistentVolumeClaim, Some("search"), Some("data-es-0"), None))),
            ("KubePersistentVolumeErrors", "ksm", json!({"persistentvolume": "pvc-3f1c", "phase": "Failed"}), Some((PersistentVolume, None, Some("pvc-3f1c"), None))),
            ("KubeVersionMismatch", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeClientErrors", "", json!({"cluster": "prod", "instance": "10.0.0.10:6443", "job": "apiserver", "namespace": "default"}), Some((Cluster, None, None, None))),
            ("KubeAPIErrorBudgetBurn", "", json!({"cluster": "prod", "long": "1h", "short": "5m"}), Some((Cluster, None, None, None))),
            ("KubeClientCertificateExpiration", "apiserver", json!({}), Some((Cluster, None, None, None))),
            ("KubeAggregatedAPIErrors", "", json!({"cluster": "prod", "instance": "10.0.0.10:6443", "name": "v1beta1.metrics.k8s.io", "reason": "FailedDiscoveryCheck"}), Some((Cluster, None, None, None))),
            ("KubeAggregatedAPIDown", "", json!({"name": "v1beta1.metrics.k8s.io", "namespace": "kube-system", "cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeAPIDown", "", json!({"job": "apiserver"}), Some((Cluster, None, None, None))),
            ("KubeAPIInstanceUnreachable", "apiserver", json!({}), Some((Cluster, None, None, None))),
            ("KubeAPITerminatedRequests", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeNodeNotReady", "ksm", json!({"node": "node-2", "condition": "Ready", "status": "true"}), Some((Node, None, Some("node-2"), None))),
            ("KubeNodePressure", "ksm", json!({"node": "node-2", "condition": "DiskPressure", "status": "true"}), Some((Node, None, Some("node-2"), None))),
            ("KubeNodeUnreachable", "ksm", json!({"node": "node-2", "key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}), Some((Node, None, Some("node-2"), None))),
            ("KubeletTooManyPods", "", json!({"cluster": "prod", "node": "node-3"}), Some((Node, None, Some("node-3"), None))),
            ("KubeNodeReadinessFlapping", "", json!({"cluster": "prod", "node": "node-2"}), Some((Node, None, Some("node-2"), None))),
            ("KubeNodeEviction", "", json!({"cluster": "prod", "eviction_signal": "memory.available", "instance": "10.0.1.12:10250", "node": "node-2"}), Some((Node, None, Some("node-2"), None))),
            ("KubeletPlegDurationHigh", "", json!({"cluster": "prod", "instance": "10.0.1.12:10250", "node": "node-2", "quantile": "0.99"}), Some((Node, None, Some("node-2"), None))),
            ("KubeletPodStartUpLatencyHigh", "", json!({"cluster": "prod", "instance": "10.0.1.12:10250", "node": "node-2"}), Some((Node, None, Some("node-2"), None))),
            ("KubeletClientCertificateExpiration", "kubelet", json!({"node": "node-2"}), Some((Node, None, Some("node-2"), None))),
            ("KubeletServerCertificateExpiration", "kubelet", json!({"node": "node-2"}), Some((Node, None, Some("node-2"), None))),
            ("KubeletClientCertificateRenewalErrors", "kubelet", json!({"node": "node-2"}), Some((Node, None, Some("node-2"), None))),
            ("KubeletServerCertificateRenewalErrors", "kubelet", json!({"node": "node-2"}), Some((Node, None, Some("node-2"), None))),
            ("KubeletInstanceUnreachable", "kubelet", json!({}), Some((Node, None, Some("node-1"), None))),
            ("KubeletDown", "", json!({"cluster": "prod"}), Some((Cluster, None, None, None))),
            ("KubeSchedulerDown", "", json!({"job": "kube-scheduler"}), Some((Cluster, None, None, None))),
            ("KubeSchedulerInstanceUnreachable", "", json!({"job": "kube-scheduler", "instance": "10.0.0.10:10259"}), Some((Cluster, None, None, None))),
            ("KubeControllerManagerDown", "", json!({"job": "kube-controller-manager"}), Some((Cluster, None, None, None))),
            ("KubeControllerManagerInstanceUnreachable", "", json!({"job": "kube-controller-manager", "instance": "10.0.0.10:10257"}), Some((Cluster, None, None, None))),
            ("NodeFilesystemSpaceFillingUp", "node-exporter", json!({"device": "/dev/nvme0n1p1", "fstype": "ext4", "mountpoint": "/"}), Some((Node, None, Some("node-1"), None))),
            ("NodeFilesystemAlmostOutOfSpace", "node-exporter", json!({"device": "/dev/nvme0n1p1", "fstype": "ext4", "mountpoint": "/"}), Some((Node, None, Some("node-1"), None))),
            ("NodeFilesystemFilesFillingUp", "node-exporter", json!({"device": "/dev/nvme0n1p1", "mountpoint": "/"}), Some((Node, None, Some("node-1"), None))),
            ("NodeFilesystemAlmostOutOfFiles", "node-exporter", json!({"device": "/dev/nvme0n1p1", "mountpoint": "/"}), Some((Node, None, Some("node-1"), None))),
            ("NodeNetworkReceiveErrs", "node-exporter", json!({"device": "eth0"}), Some((Node, None, Some("node-1"), None))),
            ("NodeNetworkTransmitErrs", "node-exporter", json!({"device": "eth0"}), Some((Node, None, Some("node-1"), None))),
            ("NodeHighNumberConntrackEntriesUsed", "node-exporter", json!({}), Some((Node, None, Some("node-1"), None))),
            ("NodeTextFileCollectorScrapeError", "node-exporter", json!({}), Some((Node, None, Some("node-1"), None))),
            ("NodeClockSkewDetected", "node-exporter", json!({}), Some((Node, None, Some("node-1"), None))),
            ("NodeClockNotSynchronising", "node-exporter", json!({}), Some((Node, None, Some("node-1"), None))),
            ("NodeRAIDDegraded", "node-exporter", json!({"device": "md0"}), Some((Node, None, Some("node-1"), None))),
            ("NodeRAIDDiskFailure", "node-exporter", json!({"device": "md0", "state": "failed"}), Some((Node, None, Some("node-1"), None))),
            ("NodeFileDescriptorLimit", "node-exporter", json!({}), Some((Node, None, Some("node-1"), None))),
            ("NodeCPUHighUsage", "node-exporter", json!({}), Some((Node, None, Some("node-1"), None))),
            ("NodeSystemSaturation", "node-exporter", json!({}), Some((Node, None, Some("node-1"), None))),
            ("NodeMemoryMajorPagesFaults", "node-exporter", json!({}), Some((Node, None, Some("node-1"), None))),
            ("NodeMemoryHighUtilization", "node-exporter", json!({}), Some((Node, None, Some("node-1"), None))),
            ("NodeDiskIOSaturation", "node-exporter", json!({"device": "nvme0n1"}), Some((Node, None, Some("node-1"), None))),
            ("NodeSystemdServiceFailed", "node-exporter", json!({"name": "containerd.service", "state": "failed"}), Some((Node, None, Some("node-1"), None))),
            ("NodeSystemdServiceCrashlooping", "node-exporter", json!({"name": "kubelet.service"}), Some((Node, None, Some("node-1"), None))),
            ("NodeBondingDegraded", "node-exporter", json!({"master": "bond0"}), Some((Node, None, Some("node-1"), None))),
        ];
        for (alert, source, kept, expected) in table {
            let mut labels = scrape(source);
            for (key, value) in kept.as_object().unwrap() {
                labels[key] = value.clone();
            }
            labels["alertname"] = json!(alert);
            labels["severity"] = json!("warning");
            let found = classify(&facts(alert, json!({ "labels": labels })));
            let got = found
                .subject
                .as_ref()
                .map(|s| (s.kind, s.namespace.as_deref(), s.name.as_deref(), s.container.as_deref()));
            assert_eq!(got, *expected, "{alert} with {labels}");
            assert_ne!(found.family, Family::Unknown, "{alert} has a family");
            // The exporter is never taken for the workload, nor filed as the incident's service.
            let service = service_of(&json!({ "labels": labels }), Some(alert));
            assert!(
                service.as_deref().is_none_or(|s| !s.contains("kube-prometheus-stack")),
                "{alert}: filed under {service:?}"
            );
            assert!(
                found.pod.as_deref().is_none_or(|p| !p.contains("kube-state-metrics") && !p.contains("node-exporter")),
                "{alert}: {found:?}"
            );
        }
    }
}
