//! The "simulate failure" panel of the demo cluster, a chaos script on demand: each
//! failure breaks healthy-app the way real releases break, then sends the matching alert
//! into the team's own Alertmanager endpoint, as Alertmanager would, so that the whole
//! pipeline runs.

use serde_json::{Value, json};
use uuid::Uuid;

use super::store;
use crate::domain::cluster::SimulatedFailure;
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::state::AppState;
use kube_simulator::programs::{NAMESPACE, demo_image};
use kube_simulator::{World, text};

/// The app the failures break.
pub const TARGET: &str = "healthy-app";

/// Changes healthy-app's deployment in `world` as `failure` does, and lets the cluster
/// react — a failed deployment for as long as its alert says (a quarter of an hour).
fn break_app(world: &mut World, failure: SimulatedFailure) -> Result<(), AppError> {
    change_app(world, failure)?;
    if failure == SimulatedFailure::DeploymentFailure {
        world.backdate(Some(chrono::Duration::minutes(15)));
    }
    world.reconcile();
    world.backdate(None);
    Ok(())
}

fn change_app(world: &mut World, failure: SimulatedFailure) -> Result<(), AppError> {
    let key = ("deployments".to_string(), NAMESPACE.to_string(), TARGET.to_string());
    let deployment = world.get_mut(&key).ok_or_else(|| {
        AppError::Conflict(format!("The demo cluster has no deployment {TARGET} any more; reset it first."))
    })?;
    let container = &mut deployment["spec"]["template"]["spec"]["containers"][0];
    // An object the failure adds beside the deployment.
    let mut added = None;
    match failure {
        SimulatedFailure::PodCrash => {
            if let Some(env) = container["env"].as_array_mut() {
                env.retain(|variable| variable["name"] != "DATABASE_URL");
            }
            container["image"] = json!(demo_image(TARGET, "1.9.0"));
        }
        SimulatedFailure::ImagePullError => container["image"] = json!(demo_image(TARGET, "1.9.1-hotfix")),
        SimulatedFailure::OomKill => container["resources"]["limits"]["memory"] = json!("64Mi"),
        SimulatedFailure::DeploymentFailure => container["resources"]["requests"]["memory"] = json!("64Gi"),
        SimulatedFailure::ServiceUnavailable => deployment["spec"]["replicas"] = json!(0),
        SimulatedFailure::AutoscalerBlind => {
            if let Some(requests) = container["resources"]["requests"].as_object_mut() {
                requests.remove("cpu");
            }
            added = Some((
                "horizontalpodautoscalers",
                json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                       "metadata": {"name": TARGET, "namespace": NAMESPACE},
                       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": TARGET},
                                "minReplicas": 2, "maxReplicas": 6,
                                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                             "target": {"type": "Utilization", "averageUtilization": 70}}}]}}),
            ));
        }
        SimulatedFailure::IngressMisrouted => {
            added = Some((
                "ingresses",
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                       "metadata": {"name": TARGET, "namespace": NAMESPACE},
                       "spec": {"ingressClassName": "nginx", "rules": [{"host": "healthy-app.demo.example",
                                "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                         "backend": {"service": {"name": MISSING_SERVICE, "port": {"number": 80}}}}]}}]}}),
            ));
        }
    }
    if let Some((resource, object)) = added {
        world.put(resource, object);
    }
    Ok(())
}

/// The Service the misrouted Ingress names.
const MISSING_SERVICE: &str = "healthy-app-web";

/// The Alertmanager webhook body announcing `failure` on `pod` of `cluster`.
fn alert(failure: SimulatedFailure, cluster: &str, pod: &str) -> Value {
    let (name, severity, summary, description) = match failure {
        SimulatedFailure::PodCrash => (
            "KubePodCrashLooping",
            "warning",
            "Pod is crash looping.".to_string(),
            format!("Pod {NAMESPACE}/{pod} ({TARGET}) is in waiting state (reason: \"CrashLoopBackOff\")."),
        ),
        SimulatedFailure::ImagePullError => (
            "KubeContainerWaiting",
            "warning",
            "Pod container waiting longer than 1 hour".to_string(),
            format!(
                "pod/{pod} in namespace {NAMESPACE} on container {TARGET} has been in waiting state (reason: \"ImagePullBackOff\")."
            ),
        ),
        SimulatedFailure::OomKill => (
            "KubeContainerOOMKilled",
            "critical",
            "Container was OOM-killed.".to_string(),
            format!("Container {TARGET} in pod {NAMESPACE}/{pod} was terminated with reason OOMKilled."),
        ),
        SimulatedFailure::DeploymentFailure => (
            "KubeDeploymentRolloutStuck",
            "warning",
            "Deployment rollout is not progressing.".to_string(),
            format!("Rollout of deployment {NAMESPACE}/{TARGET} is not progressing for longer than 15 minutes."),
        ),
        SimulatedFailure::ServiceUnavailable => (
            "KubeServiceNoEndpoints",
            "critical",
            "Service has no ready endpoints.".to_string(),
            format!("Service {NAMESPACE}/{TARGET} has no ready endpoints: nothing serves its traffic."),
        ),
        SimulatedFailure::AutoscalerBlind => (
            "KubeHpaReplicasMismatch",
            "warning",
            "HPA has not matched desired number of replicas.".to_string(),
            format!(
                "HPA {NAMESPACE}/{TARGET} has not matched the desired number of replicas for longer than 15 minutes."
            ),
        ),
        SimulatedFailure::IngressMisrouted => (
            "NginxIngressHighErrorRate",
            "critical",
            format!("Ingress {TARGET} answers with 5xx"),
            format!("Ingress {NAMESPACE}/{TARGET} answers more than 5% of requests with 503."),
        ),
    };
    // As kube-prometheus-stack labels them: the exporter's labels beside the object's.
    let mut labels = match failure {
        SimulatedFailure::AutoscalerBlind => json!({"job": "kube-state-metrics", "namespace": NAMESPACE,
                                                    "horizontalpodautoscaler": TARGET, "container": "kube-state-metrics",
                                                    "service": "kube-prometheus-stack-kube-state-metrics"}),
        SimulatedFailure::IngressMisrouted => {
            json!({"job": "ingress-nginx-controller-metrics", "namespace": "ingress-nginx",
                                                     "exported_namespace": NAMESPACE, "ingress": TARGET,
                                                     "exported_service": MISSING_SERVICE})
        }
        _ => json!({"namespace": NAMESPACE, "deployment": TARGET, "service": TARGET, "container": TARGET}),
    };
    labels["alertname"] = json!(name);
    labels["severity"] = json!(severity);
    labels["cluster"] = json!(cluster);
    let about_pods = !matches!(failure, SimulatedFailure::AutoscalerBlind | SimulatedFailure::IngressMisrouted);
    if !pod.is_empty() && about_pods {
        labels["pod"] = json!(pod);
    }
    let fingerprint = Uuid::new_v4().simple().to_string()[..16].to_string();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "dreamops",
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": {"summary": summary, "description": description},
        "externalURL": "http://alertmanager.demo:9093",
        "alerts": [{
            "status": "firing",
            "labels": labels,
            "annotations": {"summary": summary, "description": description},
            "startsAt": chrono::Utc::now().to_rfc3339(),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.demo:9090/graph",
            "fingerprint": fingerprint,
        }],
    })
}

/// Causes `failure` in the team's demo cluster `id`, then sends its alert; says what
/// happened.
pub async fn simulate(
    state: &AppState,
    acting: &Acting,
    id: Uuid,
    failure: SimulatedFailure,
) -> Result<String, AppError> {
    let cluster: Option<String> = sqlx::query_scalar(
        "select c.name from clusters c join demo_clusters d on d.cluster_id = c.id where c.id = $1 and c.team_id = $2",
    )
    .bind(id)
    .bind(acting.team_id)
    .fetch_optional(&state.db)
    .await
    .or_internal("simulating a failure failed")?;
    let cluster = cluster.ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await.or_internal("simulating a failure failed")?;
    let mut world = store::load(&mut tx, id).await.or_internal("simulating a failure failed")?;
    break_app(&mut world, failure)?;
    let pod = world
        .list("pods", Some(NAMESPACE))
        .filter(|pod| pod["metadata"]["labels"]["app"] == TARGET)
        .find(|pod| {
            text(pod, "/status/phase") != "Running"
                || !text(pod, "/status/containerStatuses/0/state/waiting/reason").is_empty()
        })
        .map(|pod| text(pod, "/metadata/name").to_string())
        .unwrap_or_default();
    store::save(&mut tx, id, &mut world).await.or_internal("simulating a failure failed")?;
    acting.audit(&mut *tx, "cluster.demo_failure", Some(&id.to_string()), json!({"failure": failure})).await?;
    tx.commit().await.or_internal("simulating a failure failed")?;
    let payload = alert(failure, &cluster, &pod);
    let delivered = crate::server::ingest::integrations::send_as_alertmanager(
        &state.db,
        &state.cipher,
        &state.self_url,
        acting.team_id,
        &payload,
    )
    .await?;
    Ok(format!(
        "{}: {} Alert {} sent. {delivered}",
        failure.label(),
        failure.description(),
        payload["groupLabels"]["alertname"].as_str().unwrap_or("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn app_pods(world: &World) -> Vec<Value> {
        world.list("pods", Some(NAMESPACE)).filter(|pod| pod["metadata"]["labels"]["app"] == TARGET).cloned().collect()
    }

    #[test]
    fn each_failure_leaves_the_state_its_alert_describes() {
        for failure in SimulatedFailure::ALL {
            let mut world = World::new(BTreeMap::new());
            world.seed();
            break_app(&mut world, failure).unwrap();
            let pods = app_pods(&world);
            let waiting: Vec<&str> =
                pods.iter().map(|p| text(p, "/status/containerStatuses/0/state/waiting/reason")).collect();
            let deployment = world.get("deployments", NAMESPACE, TARGET).unwrap();
            match failure {
                SimulatedFailure::PodCrash => assert!(waiting.contains(&"CrashLoopBackOff"), "{waiting:?}"),
                SimulatedFailure::ImagePullError => assert!(waiting.contains(&"ImagePullBackOff"), "{waiting:?}"),
                SimulatedFailure::OomKill => assert!(
                    pods.iter()
                        .any(|p| text(p, "/status/containerStatuses/0/lastState/terminated/reason") == "OOMKilled")
                ),
                SimulatedFailure::DeploymentFailure => {
                    assert!(pods.iter().any(|p| text(p, "/status/conditions/0/reason") == "Unschedulable"));
                    assert_eq!(text(deployment, "/status/conditions/1/reason"), "ProgressDeadlineExceeded");
                }
                SimulatedFailure::ServiceUnavailable => {
                    assert!(pods.is_empty());
                    assert!(world.get("endpoints", NAMESPACE, TARGET).unwrap().get("subsets").is_none());
                }
                SimulatedFailure::AutoscalerBlind => {
                    let hpa = world.get("horizontalpodautoscalers", NAMESPACE, TARGET).unwrap();
                    assert_eq!(text(hpa, "/status/conditions/1/reason"), "FailedGetResourceMetric", "{hpa}");
                    assert!(text(hpa, "/status/conditions/1/message").contains("missing request for cpu"));
                }
                SimulatedFailure::IngressMisrouted => {
                    assert!(world.get("ingresses", NAMESPACE, TARGET).is_some());
                    assert!(world.get("services", NAMESPACE, MISSING_SERVICE).is_none());
                }
            }
            let payload = alert(failure, "Demo", "healthy-app-x");
            // The alert is about an object of the demo namespace, whatever exporter's labels it carries.
            let details = json!({"labels": payload["alerts"][0]["labels"]});
            let name = payload["groupLabels"]["alertname"].as_str();
            let subject = crate::server::alert_subject::subject(&details, name).unwrap();
            assert_eq!(subject.namespace.as_deref(), Some(NAMESPACE), "{failure:?}");
            assert_eq!(payload["version"], "4");
        }
    }
}
