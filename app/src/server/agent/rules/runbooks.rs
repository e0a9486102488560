//! When no rule holds: the runbook answer for the incident's family, saying what was
//! (or could not be) read.

use super::*;

/// The object an alert is about, in words: `deployment shop/web`, `node node-3`.
pub(super) fn subject_words(found: &Classification) -> String {
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
pub(super) fn runbook(facts: &IncidentFacts, found: &Classification, read_cluster: bool, alert: Evidence) -> Diagnosis {
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
