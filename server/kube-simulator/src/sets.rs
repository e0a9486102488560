//! The demo cluster's StatefulSet and DaemonSet controllers. A StatefulSet's pods are
//! named `<set>-<ordinal>`, started in order (the next only when the one before is ready,
//! as `OrderedReady` does), each with the claims of the set's volume claim templates
//! (`<template>-<set>-<ordinal>`). A DaemonSet runs one pod on every node. In both, a pod
//! whose template changed is replaced, and pods of a deleted set go with it.

use serde_json::{Value, json};

use super::world::{Key, NODES, World, is_ready, owner_uid, suffix, template_hash, text};

/// The label a StatefulSet's pods carry with their template's revision.
const REVISION_HASH: &str = "controller-revision-hash";

impl World {
    pub(super) fn reconcile_stateful_set(&mut self, key: &Key) {
        let Some(mut set) = self.objects.get(key).cloned() else { return };
        let (namespace, name) = (key.1.clone(), key.2.clone());
        let uid = text(&set, "/metadata/uid").to_string();
        let replicas = set.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let templates: Vec<Value> =
            set.pointer("/spec/volumeClaimTemplates").and_then(Value::as_array).cloned().unwrap_or_default();
        let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let revision = format!("{name}-{}", template_hash(&template));
        for ordinal in 0..replicas.clamp(0, 20) {
            let pod_name = format!("{name}-{ordinal}");
            if let Some(pod) = self.get("pods", &namespace, &pod_name) {
                let current = pod.pointer(&format!("/metadata/labels/{REVISION_HASH}")).and_then(Value::as_str);
                if current == Some(revision.as_str()) {
                    if is_ready(pod) {
                        continue;
                    }
                    break;
                }
                // A new template: the pod is replaced.
                self.remove("pods", &namespace, &pod_name);
            }
            let mut owner = set.clone();
            let spec = &mut owner["spec"]["template"]["spec"];
            for claim_template in &templates {
                let claim_name = format!("{}-{pod_name}", text(claim_template, "/metadata/name"));
                if self.get("persistentvolumeclaims", &namespace, &claim_name).is_none() {
                    let labels = set.pointer("/spec/selector/matchLabels").cloned().unwrap_or(json!({}));
                    self.put(
                        "persistentvolumeclaims",
                        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                               "metadata": {"name": claim_name, "namespace": namespace, "labels": labels},
                               "spec": claim_template.get("spec").cloned().unwrap_or(json!({}))}),
                    );
                }
                let volume = json!({"name": text(claim_template, "/metadata/name"),
                                    "persistentVolumeClaim": {"claimName": claim_name}});
                match spec["volumes"].as_array_mut() {
                    Some(volumes) => volumes.push(volume),
                    None => spec["volumes"] = json!([volume]),
                }
            }
            let labels = &mut owner["spec"]["template"]["metadata"]["labels"];
            labels[REVISION_HASH] = json!(revision);
            labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
            labels["apps.kubernetes.io/pod-index"] = json!(ordinal.to_string());
            self.reconcile_claims();
            if self.create_pod(&owner, "StatefulSet", Some(pod_name.clone())).is_err()
                || !self.get("pods", &namespace, &pod_name).is_some_and(is_ready)
            {
                break;
            }
        }
        let pods: Vec<&Value> =
            self.list("pods", Some(&namespace)).filter(|pod| owner_uid(pod) == Some(&uid)).collect();
        let ready = pods.iter().filter(|pod| is_ready(pod)).count();
        let mut status = json!({"replicas": pods.len(), "readyReplicas": ready, "currentReplicas": pods.len(),
                                "updatedReplicas": pods.len(), "availableReplicas": ready,
                                "currentRevision": revision, "updateRevision": revision, "observedGeneration": 1});
        if let Some(status) = status.as_object_mut() {
            status.retain(|_, value| value != &json!(0));
        }
        set["status"] = status;
        self.objects.insert(key.clone(), set);
    }

    pub(super) fn reconcile_daemon_set(&mut self, key: &Key) {
        let Some(mut set) = self.objects.get(key).cloned() else { return };
        let (namespace, name) = (key.1.clone(), key.2.clone());
        let uid = text(&set, "/metadata/uid").to_string();
        let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let revision = template_hash(&template);
        for node in NODES {
            let on_node = |pod: &&Value| owner_uid(pod) == Some(uid.as_str()) && text(pod, "/spec/nodeName") == node;
            let current: Vec<(String, bool)> = self
                .list("pods", Some(&namespace))
                .filter(on_node)
                .map(|pod| {
                    let label = pod.pointer(&format!("/metadata/labels/{REVISION_HASH}")).and_then(Value::as_str);
                    (text(pod, "/metadata/name").to_string(), label == Some(revision.as_str()))
                })
                .collect();
            if current.iter().any(|(_, up_to_date)| *up_to_date) {
                continue;
            }
            for (old, _) in current {
                self.remove("pods", &namespace, &old);
            }
            let mut owner = set.clone();
            owner["spec"]["template"]["spec"]["nodeName"] = json!(node);
            owner["spec"]["template"]["metadata"]["labels"][REVISION_HASH] = json!(revision);
            if self.create_pod(&owner, "DaemonSet", Some(format!("{name}-{}", suffix(5)))).is_err() {
                break;
            }
        }
        let pods: Vec<&Value> =
            self.list("pods", Some(&namespace)).filter(|pod| owner_uid(pod) == Some(&uid)).collect();
        let ready = pods.iter().filter(|pod| is_ready(pod)).count();
        let mut status = json!({"desiredNumberScheduled": NODES.len(), "currentNumberScheduled": pods.len(),
                                "updatedNumberScheduled": pods.len(), "numberReady": ready, "numberAvailable": ready,
                                "numberUnavailable": NODES.len() - ready, "numberMisscheduled": 0, "observedGeneration": 1});
        if let Some(status) = status.as_object_mut() {
            status.retain(|_, value| value != &json!(0));
        }
        set["status"] = status;
        self.objects.insert(key.clone(), set);
    }
}
