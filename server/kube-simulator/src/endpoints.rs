//! The demo cluster's Endpoints controller: a Service's endpoints are the ready pods
//! its selector matches, with the ports it names.

use serde_json::{Value, json};

use super::world::*;

impl World {
    pub(crate) fn reconcile_endpoints(&mut self, service_key: &Key) {
        let service = &self.objects[service_key];
        let Some(selector) = service.pointer("/spec/selector").and_then(Value::as_object).cloned() else { return };
        let namespace = service_key.1.clone();
        let ports: Vec<Value> = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|port| {
                let target = port.get("targetPort").filter(|t| t.is_i64()).or(port.get("port")).cloned().unwrap_or(json!(80));
                json!({"name": port.get("name").cloned().unwrap_or(json!("")), "port": target, "protocol": port.get("protocol").cloned().unwrap_or(json!("TCP"))})
            })
            .collect();
        let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
        for pod in
            self.list("pods", Some(&namespace)).filter(|pod| labels_match(&selector, pod.pointer("/metadata/labels")))
        {
            let Some(ip) = pod.pointer("/status/podIP").and_then(Value::as_str) else { continue };
            let address = json!({"ip": ip, "nodeName": text(pod, "/spec/nodeName"),
                "targetRef": {"kind": "Pod", "name": text(pod, "/metadata/name"), "namespace": namespace, "uid": text(pod, "/metadata/uid")}});
            if is_ready(pod) { ready.push(address) } else { not_ready.push(address) }
        }
        let mut endpoints = json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": service_key.2, "namespace": namespace, "labels": service["metadata"]["labels"].clone()},
        });
        if !ready.is_empty() || !not_ready.is_empty() {
            let mut subset = json!({"ports": ports});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            endpoints["subsets"] = json!([subset]);
        }
        let key = ("endpoints".to_string(), namespace, service_key.2.clone());
        match self.objects.get_mut(&key) {
            Some(existing) => {
                if existing.get("subsets") != endpoints.get("subsets") {
                    match endpoints.get("subsets") {
                        Some(subsets) => existing["subsets"] = subsets.clone(),
                        None => {
                            existing.as_object_mut().expect("an object").remove("subsets");
                        }
                    }
                }
            }
            None => {
                self.put("endpoints", endpoints);
            }
        }
    }
}
