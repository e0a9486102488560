//! What kind of failure an incident is, and where, from its alert: the alert name and
//! labels first, then the words of its title and details. Which object the alert is
//! about is [`crate::server::alert_subject`]'s to read.

use serde_json::Value;

use crate::domain::analysis::Family;
use crate::server::alert_subject::{Kind, Subject, label, subject};

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
    use crate::server::alert_subject::service_of;
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
