//! Rules for where pods run: pods no node takes, nodes at their pod capacity, nodes not
//! ready or under pressure.

use super::*;

pub(super) fn unschedulable(context: &ClusterContext) -> Option<Diagnosis> {
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

/// A node running as many pods as the kubelet allows.
pub(super) fn node_full(context: &ClusterContext) -> Option<Diagnosis> {
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

pub(super) fn node_not_ready(context: &ClusterContext) -> Option<Diagnosis> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::agent::rules::fixtures::*;
    use serde_json::json;

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
}
