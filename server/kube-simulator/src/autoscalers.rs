//! The demo cluster's HorizontalPodAutoscaler controller, as far as the agent can see it:
//! whether the target exists (`AbleToScale`), whether its pods request the resources the
//! autoscaler measures (`ScalingActive`, "missing request for cpu"), whether it is at its
//! maximum (`ScalingLimited`) — with the conditions' and the events' real wording. The
//! demo's pods use no CPU, so an able autoscaler keeps its target's replicas.

use serde_json::{Value, json};

use super::world::{Key, World, labels_match, text, timestamp};

impl World {
    pub(super) fn reconcile_autoscalers(&mut self) {
        let keys: Vec<Key> = self.objects.keys().filter(|(r, _, _)| r == "horizontalpodautoscalers").cloned().collect();
        for key in keys {
            self.reconcile_autoscaler(&key);
        }
    }

    fn reconcile_autoscaler(&mut self, key: &Key) {
        let Some(mut hpa) = self.objects.get(key).cloned() else { return };
        let now = timestamp(self.now);
        let condition = |kind: &str, ok: bool, reason: &str, message: &str| {
            json!({"type": kind, "status": if ok { "True" } else { "False" }, "reason": reason, "message": message,
                   "lastTransitionTime": now})
        };
        let kind = text(&hpa, "/spec/scaleTargetRef/kind").to_string();
        let target_name = text(&hpa, "/spec/scaleTargetRef/name").to_string();
        let resource = if kind == "StatefulSet" { "statefulsets" } else { "deployments" };
        let max = hpa.pointer("/spec/maxReplicas").and_then(Value::as_i64).unwrap_or(1);
        let Some(target) = self.get(resource, &key.1, &target_name).cloned() else {
            let message = format!(
                "the HPA controller was unable to get the target's current scale: {resource}/scale.apps \"{target_name}\" not found"
            );
            hpa["status"] = json!({"currentReplicas": 0, "desiredReplicas": 0,
                                   "conditions": [condition("AbleToScale", false, "FailedGetScale", &message)]});
            let event = format!("{resource}/scale.apps \"{target_name}\" not found");
            self.event(&hpa, "HorizontalPodAutoscaler", true, "FailedGetScale", &event, 1);
            self.objects.insert(key.clone(), hpa);
            return;
        };
        let replicas = target.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let measured: Vec<String> = hpa
            .pointer("/spec/metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|metric| metric["type"] == "Resource")
            .map(|metric| text(metric, "/resource/name").to_string())
            .collect();
        let containers = target.pointer("/spec/template/spec/containers").and_then(Value::as_array).cloned();
        let unrequested = measured.iter().find_map(|resource| {
            containers.iter().flatten().find_map(|container| {
                container
                    .pointer(&format!("/resources/requests/{resource}"))
                    .is_none()
                    .then(|| (resource.clone(), text(container, "/name").to_string()))
            })
        });
        let selector =
            target.pointer("/spec/selector/matchLabels").and_then(Value::as_object).cloned().unwrap_or_default();
        let pod = self
            .list("pods", Some(&key.1))
            .find(|pod| labels_match(&selector, pod.pointer("/metadata/labels")))
            .map(|pod| text(pod, "/metadata/name").to_string());
        let able = condition(
            "AbleToScale",
            true,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        );
        let mut conditions = vec![able];
        match (unrequested, pod) {
            (Some((resource, container)), Some(pod)) => {
                let cause = format!(
                    "failed to get {resource} utilization: missing request for {resource} in container {container} of Pod {pod}"
                );
                let message = format!("the HPA was unable to compute the replica count: {cause}");
                conditions.push(condition("ScalingActive", false, "FailedGetResourceMetric", &message));
                self.event(&hpa, "HorizontalPodAutoscaler", true, "FailedGetResourceMetric", &cause, 1);
            }
            _ => {
                let message = "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)";
                conditions.push(condition("ScalingActive", true, "ValidMetricFound", message));
                let limited = replicas >= max;
                let (reason, message) = if limited {
                    ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
                } else {
                    ("DesiredWithinRange", "the desired count is within the acceptable range")
                };
                conditions.push(condition("ScalingLimited", limited, reason, message));
            }
        }
        hpa["status"] = json!({"currentReplicas": replicas, "desiredReplicas": replicas, "conditions": conditions});
        self.objects.insert(key.clone(), hpa);
    }
}
