//! Rules for workloads that cannot run their pods: replica sets and controllers refused
//! (quotas, admission webhooks), scaled to zero, Services selecting nothing, autoscalers
//! that cannot scale, Ingresses routing nowhere.

use super::*;

/// A deployment whose replica set cannot create pods (quota, admission).
pub(super) fn replica_failure(context: &ClusterContext) -> Option<Diagnosis> {
    let deployment = context.deployment.as_ref()?;
    let failure = deployment
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True"))?;
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let message = failure.message.clone().unwrap_or_default();
    Some(Diagnosis {
        family: Family::RolloutFailure,
        root_cause: format!("{name} cannot create its pods: {}", refusal(&message)),
        confidence: Confidence::High,
        evidence: vec![evidence(
            format!("status of deployment {name}"),
            format!("ReplicaFailure=True ({}): {message}", failure.reason.clone().unwrap_or_default()),
        )],
        actions: vec![manual(
            "Lift what refuses the pods",
            &[
                "Check the namespace's ResourceQuota and LimitRange",
                "Check admission webhooks that may reject the pods",
            ],
        )],
        workload: workload(context),
    })
}

pub(super) fn scaled_to_zero(context: &ClusterContext) -> Option<Diagnosis> {
    let deployment = context.deployment.as_ref()?;
    if deployment.spec.replicas != Some(0) {
        return None;
    }
    let name = deployment.metadata.name.clone().unwrap_or_default();
    // What it ran before: the desired count its replica sets remember, else 1.
    let before = context
        .replica_sets
        .iter()
        .filter_map(|rs| {
            rs.metadata.annotations.as_ref()?.get("deployment.kubernetes.io/desired-replicas")?.parse::<i32>().ok()
        })
        .find(|n| *n > 0)
        .unwrap_or(1);
    let mut evidence_lines = vec![evidence(format!("spec of deployment {name}"), "replicas: 0")];
    if context.service.is_some() {
        evidence_lines.push(evidence(format!("endpoints of service {name}"), "no ready addresses"));
    }
    Some(Diagnosis {
        family: Family::ServiceWithoutEndpoints,
        root_cause: format!("{name} is scaled to zero replicas: nothing serves its traffic."),
        confidence: Confidence::High,
        evidence: evidence_lines,
        actions: vec![RecommendedAction {
            title: format!("Scale {name} to {before} replicas"),
            risk: Risk::Low,
            reversible: true,
            change: Change::Scale { namespace: context.namespace.clone(), deployment: name, from: 0, to: before },
        }],
        workload: workload(context),
    })
}

pub(super) fn selector_matches_nothing(context: &ClusterContext) -> Option<Diagnosis> {
    let service = context.service.as_ref()?;
    // Ready endpoints say the selector does match (pods the listing did not show).
    let serving = context
        .endpoints
        .as_ref()
        .and_then(|e| e.subsets.as_ref())
        .is_some_and(|subsets| subsets.iter().any(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty())));
    if context.pods_matching_service != Some(0) || serving {
        return None;
    }
    let name = service.metadata.name.clone().unwrap_or_default();
    let selector = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .map(crate::server::cluster_client::selector)
        .unwrap_or_default();
    Some(Diagnosis {
        family: Family::ServiceWithoutEndpoints,
        root_cause: format!(
            "Service {name}'s selector {selector} matches no pod in {}: it has no endpoints.",
            context.namespace
        ),
        confidence: Confidence::High,
        evidence: vec![
            evidence(format!("spec of service {name}"), format!("selector: {selector}")),
            evidence(format!("pods in {}", context.namespace), format!("none labelled {selector}")),
        ],
        actions: vec![manual(
            "Make the selector and the pods' labels agree",
            &[
                "Fix the service's selector to the labels the pods carry",
                "Or deploy the workload it is meant to select",
            ],
        )],
        workload: Some(format!("{}/service/{name}", context.namespace)),
    })
}

/// The webhook an admission failure names (`admission webhook "x" denied`, `failed calling webhook "x"`).
pub(super) fn admission_webhook(message: &str) -> Option<String> {
    ["admission webhook", "calling webhook"].iter().find_map(|marker| {
        let at = message.find(marker)? + marker.len();
        let rest = message[at..].trim_start().strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_string())
    })
}

/// What an admission failure's message means, for a root cause.
pub(super) fn refusal(message: &str) -> String {
    match admission_webhook(message) {
        Some(webhook) if message.contains("failed calling webhook") => {
            format!("the admission webhook {webhook} cannot be reached, so the API server refuses the pods: {message}")
        }
        Some(webhook) => format!("the admission webhook {webhook} rejects them: {message}"),
        None => message.to_string(),
    }
}

/// A StatefulSet, DaemonSet or Job whose controller cannot create pods (quota,
/// admission webhooks, security policies): its FailedCreate events.
pub(super) fn cannot_create_pods(context: &ClusterContext) -> Option<Diagnosis> {
    let (kind, subject) = context.workload.clone()?;
    if kind == Kind::Deployment {
        return None;
    }
    let failure = warnings(context)
        .into_iter()
        .find(|e| e.line.starts_with("FailedCreate") && !e.source.starts_with("event of pod"))?;
    let message = failure.line.split_once(": ").map_or(failure.line.as_str(), |(_, m)| m).to_string();
    let quota = message.contains("exceeded quota");
    Some(Diagnosis {
        family: if quota { Family::Quota } else { Family::RolloutFailure },
        root_cause: format!("{} {subject} cannot create its pods: {}", kind.as_str(), refusal(&message)),
        confidence: Confidence::High,
        evidence: vec![failure],
        actions: vec![manual(
            "Lift what refuses the pods",
            &[
                "Check the namespace's ResourceQuota and LimitRange",
                "Check the validating and mutating webhook configurations and their services",
            ],
        )],
        workload: workload(context),
    })
}

/// An autoscaler that cannot scale its target: no target, no metrics, no requests, or at its maximum.
pub(super) fn autoscaler(context: &ClusterContext) -> Option<Diagnosis> {
    let (hpa, condition) = context.autoscalers.iter().find_map(|hpa| {
        let conditions = hpa.status.as_ref()?.conditions.as_ref()?;
        conditions
            .iter()
            .find(|c| matches!(c.type_.as_str(), "AbleToScale" | "ScalingActive") && c.status == "False")
            .or_else(|| {
                conditions.iter().find(|c| {
                    c.type_ == "ScalingLimited" && c.status == "True" && c.reason.as_deref() == Some("TooManyReplicas")
                })
            })
            .map(|c| (hpa, c))
    })?;
    let name = hpa.metadata.name.clone().unwrap_or_default();
    let target = &hpa.spec.scale_target_ref;
    let message = condition.message.clone().unwrap_or_default();
    let reason = condition.reason.clone().unwrap_or_default();
    let lower = message.to_lowercase();
    let (cause, steps): (String, Vec<String>) = if lower.contains("missing request for") {
        let resource =
            message.split("missing request for ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or("cpu");
        let container = message.split(" in container ").nth(1).and_then(|r| r.split_whitespace().next());
        (
            format!(
                "{}'s pods set no {resource} request{}, so their utilisation cannot be computed",
                target.name,
                container.map(|c| format!(" (container {c})")).unwrap_or_default()
            ),
            vec![format!("Set resources.requests.{resource} on every container of {} {}", target.kind, target.name)],
        )
    } else if lower.contains("not found") && (reason == "FailedGetScale" || lower.contains("scale")) {
        (
            format!("its target {} {} does not exist", target.kind, target.name),
            vec![format!("Point spec.scaleTargetRef at the workload's real name, or delete autoscaler {name}")],
        )
    } else if lower.contains("metrics") && (lower.contains("unable to") || lower.contains("failed to get")) {
        (
            "the metrics API does not answer (metrics-server or the adapter serving its metrics)".to_string(),
            vec![
                "kubectl get apiservice v1beta1.metrics.k8s.io".into(),
                "Install or repair metrics-server (or the custom metrics adapter)".into(),
            ],
        )
    } else if condition.type_ == "ScalingLimited" {
        let max = hpa.spec.max_replicas;
        (
            format!("it runs at its maximum of {max} replicas and still wants more"),
            vec![
                format!("Raise spec.maxReplicas of {name} if the cluster has room"),
                "Or find why each replica's load is so high".into(),
            ],
        )
    } else {
        (message.clone(), vec![format!("kubectl -n {} describe hpa {name}", context.namespace)])
    };
    Some(Diagnosis {
        family: Family::Autoscaling,
        root_cause: format!("Autoscaler {name} cannot scale {} {}: {cause}.", target.kind, target.name),
        confidence: Confidence::High,
        evidence: vec![evidence(
            format!("status of autoscaler {name}"),
            format!("{}={} ({reason}): {message}", condition.type_, condition.status),
        )],
        actions: vec![manual_owned(&format!("Let {name} scale"), steps)],
        workload: Some(format!("{}/horizontalpodautoscaler/{name}", context.namespace)),
    })
}

/// An Ingress that routes to a Service that does not exist or has no ready endpoints,
/// or names an IngressClass that does not exist.
pub(super) fn ingress_misrouted(context: &ClusterContext) -> Option<Diagnosis> {
    context.ingresses.iter().find_map(|ingress| {
        let name = ingress.metadata.name.clone().unwrap_or_default();
        let class = ingress.spec.as_ref().and_then(|s| s.ingress_class_name.clone());
        let classes = context.ingress_classes.as_ref();
        let (cause, line, steps): (String, String, Vec<String>) = if let (Some(class), Some(classes)) =
            (&class, classes)
            && !classes.iter().any(|c| c.metadata.name.as_deref() == Some(class))
        {
            let known: Vec<String> = classes.iter().filter_map(|c| c.metadata.name.clone()).collect();
            (
                format!("names IngressClass {class}, which does not exist, so no controller serves it"),
                format!(
                    "ingressClassName: {class}; classes in the cluster: {}",
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                ),
                vec![format!("Set spec.ingressClassName of {name} to one of: {}", known.join(", "))],
            )
        } else {
            let state = backends(ingress).into_iter().find_map(|backend| {
                context
                    .services_named
                    .iter()
                    .find(|s| s.name == backend && (s.service.is_none() || s.ready_addresses == 0))
            })?;
            if state.service.is_none() {
                (
                    format!("routes to Service {}, which does not exist in {}", state.name, state.namespace),
                    format!("backend service {}: not found", state.name),
                    vec![format!("Fix the backend's service name in {name}, or create Service {}", state.name)],
                )
            } else {
                (
                    format!("routes to Service {}, which has no ready endpoints", state.name),
                    format!("backend service {}: 0 ready endpoints", state.name),
                    vec![format!("kubectl -n {} describe service {}", state.namespace, state.name)],
                )
            }
        };
        Some(Diagnosis {
            family: Family::Ingress,
            root_cause: format!("Ingress {name} {cause}."),
            confidence: Confidence::High,
            evidence: vec![evidence(format!("spec of ingress {name}"), line)],
            actions: vec![manual_owned(&format!("Fix ingress {name}"), steps)],
            workload: Some(format!("{}/ingress/{name}", context.namespace)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::agent::rules::fixtures::*;
    use serde_json::json;

    #[test]
    fn a_replica_failure_is_named_and_a_cleared_one_is_not() {
        let failing = deployment(
            json!({"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                                          "message": "pods \"web-x\" is forbidden: exceeded quota: compute"}]}),
        );
        let found = diagnosis(&context(vec![], json!([]), failing));
        assert_eq!(found.family, Family::RolloutFailure);
        assert!(found.root_cause.contains("exceeded quota"));
        let cleared = deployment(json!({"conditions": [{"type": "ReplicaFailure", "status": "False"}]}));
        assert_ne!(diagnosis(&context(vec![], json!([]), cleared)).family, Family::RolloutFailure);
    }
}
