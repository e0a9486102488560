//! What kind of failure an incident is, and which workload it is about, from its alert:
//! the alert name and labels first (Alertmanager's `alertname`, `namespace`, `pod`,
//! `deployment`, `container`, `cluster`, `job_name`, `persistentvolumeclaim`), then the words of its title and details.

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

/// The failure an incident is, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    pub family: Family,
    /// The alert's `alertname`, when it has one.
    pub alert_name: Option<String>,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub deployment: Option<String>,
    pub container: Option<String>,
    pub service: Option<String>,
    pub node: Option<String>,
    /// A Kubernetes Job (kube-state-metrics' `job_name`; Prometheus' `job` is the scrape job).
    pub job: Option<String>,
    /// A PersistentVolumeClaim.
    pub claim: Option<String>,
}

/// A label (or annotation, or custom detail) of the alert, by any of `names`.
fn label(details: &Value, names: &[&str]) -> Option<String> {
    let places = ["labels", "commonLabels", "custom_details", "annotations"];
    for name in names {
        for place in places {
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

/// Alert names of kube-prometheus and common rule sets, by family.
const ALERT_NAMES: &[(&str, Family)] = &[
    ("KubePodCrashLooping", Family::PodCrash),
    ("KubeContainerOOMKilled", Family::OomKill),
    ("ContainerOOMKilled", Family::OomKill),
    ("KubeDeploymentRolloutStuck", Family::RolloutFailure),
    ("KubeDeploymentReplicasMismatch", Family::RolloutFailure),
    ("KubeDeploymentGenerationMismatch", Family::RolloutFailure),
    ("KubeStatefulSetReplicasMismatch", Family::RolloutFailure),
    ("KubeServiceNoEndpoints", Family::ServiceWithoutEndpoints),
    ("KubeNodeNotReady", Family::NodeNotReady),
    ("KubeNodeUnreachable", Family::NodeNotReady),
    ("KubeletDown", Family::NodeNotReady),
    ("KubePersistentVolumeFillingUp", Family::VolumeProblem),
    ("KubePersistentVolumeErrors", Family::VolumeProblem),
    ("KubePersistentVolumeClaimPending", Family::VolumeProblem),
    ("KubeJobFailed", Family::JobFailure),
    ("KubeJobNotCompleted", Family::JobFailure),
    ("CPUThrottlingHigh", Family::HighCpu),
    ("KubeCPUOvercommit", Family::HighCpu),
    ("KubeMemoryOvercommit", Family::HighMemory),
    ("PostgresqlTooManyConnections", Family::DatabaseConnections),
    ("MysqlTooManyConnections", Family::DatabaseConnections),
    ("PostgresqlSlowQueries", Family::SlowQueries),
    ("NodeHighCpuLoad", Family::ServerResources),
    ("NodeMemoryHighUtilization", Family::ServerResources),
    ("NodeFilesystemSpaceFillingUp", Family::ServerResources),
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
    (&["persistentvolumeclaim", "pvc", "provisioningfailed", "failedmount", "volume"], Family::VolumeProblem),
    (&["backofflimitexceeded", "job failed", "cronjob"], Family::JobFailure),
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
    let namespace = label(details, &["namespace", "kubernetes_namespace", "exported_namespace"]);
    let pod = label(details, &["pod", "pod_name", "kubernetes_pod_name"]);
    let deployment = label(details, &["deployment", "workload", "app_kubernetes_io_name"]);
    let container = label(details, &["container", "container_name"]);
    let service = label(details, &["service", "service_name"]).or_else(|| facts.service.clone());
    let node = label(details, &["node", "instance_node", "nodename"]);
    let cluster = label(details, &["cluster", "cluster_name", "k8s_cluster"]);
    let job = label(details, &["job_name", "kubernetes_job_name"]);
    let claim = label(details, &["persistentvolumeclaim", "pvc", "claim"]);
    let reason = label(details, &["reason"]).unwrap_or_default();

    let by_name = alert_name.as_deref().and_then(|name| {
        if name == "KubeContainerWaiting" || name == "KubePodNotReady" {
            // The waiting reason says which; a pod not ready for no given reason fails
            // its readiness probe, a container waiting for none keeps failing to start.
            let otherwise = if name == "KubePodNotReady" { Family::ProbeFailure } else { Family::PodCrash };
            return Some(words(&reason.to_lowercase()).unwrap_or(otherwise));
        }
        ALERT_NAMES.iter().find(|(known, _)| known.eq_ignore_ascii_case(name)).map(|(_, family)| *family)
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
    let on_kubernetes = namespace.is_some() || pod.is_some() || deployment.is_some() || job.is_some();
    if matches!(family, Family::HighCpu | Family::HighMemory) && !on_kubernetes {
        family = Family::ServerResources;
    }
    Classification { family, alert_name, cluster, namespace, pod, deployment, container, service, node, job, claim }
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
}
