//! What the demo cluster decides of a running program: whether the volume claim holding
//! its data has room, whether its service account may make the API call it makes at
//! start (`rbac`), and its network as a program that connects at start meets it —
//! cluster DNS names of Services (`name`, `name.namespace`, `….svc`,
//! `….svc.cluster.local`), a Service's ready endpoints, and the NetworkPolicies that
//! admit or drop the traffic.

use k8s_openapi::api::core::v1::Container;
use serde_json::Value;

use super::programs::{self, Verdict};
use super::world::{World, labels_match, selects};
use crate::quantity;

/// The cluster DNS server, as clients' errors name it.
const DNS: &str = "10.96.0.10:53";

impl World {
    /// What happens to `container` of the pod `spec` labelled `labels` in `namespace`: its
    /// program's verdict, unless the volume claim holding its data is too small, its
    /// service account may not make the API call it makes at start (RBAC), or what it
    /// connects to at start cannot be reached.
    pub(super) fn verdict(
        &self,
        namespace: &str,
        labels: Option<&Value>,
        spec: &Value,
        container: &Container,
    ) -> Verdict {
        let verdict = programs::verdict(container);
        if !matches!(verdict, Verdict::Runs(_)) {
            return verdict;
        }
        let crashes = |log| Verdict::Crashes { exit_code: 1, reason: "Error", log };
        if let Some(path) = self.full_volume(namespace, spec, container) {
            return crashes(programs::out_of_space(container, &path));
        }
        if let Some(resource) = programs::lists(container) {
            let account = spec.get("serviceAccountName").and_then(Value::as_str).unwrap_or("default");
            if !self.allows(namespace, account, "list", "", resource) {
                let refusal = World::forbidden(namespace, account, "list", "", resource);
                return crashes(programs::refused_by_api(container, resource, &refusal));
            }
        }
        let Some((target, host, port)) = programs::dependency(container) else { return verdict };
        match self.connect(namespace, labels, &host, port) {
            Ok(()) => verdict,
            Err(error) => crashes(programs::cannot_connect(container, &target, &error)),
        }
    }

    /// The data path of `container` if the claim mounted there is smaller than what its
    /// program writes.
    fn full_volume(&self, namespace: &str, spec: &Value, container: &Container) -> Option<String> {
        let (path, bytes) = programs::data(container)?;
        let mount = container.volume_mounts.iter().flatten().find(|m| m.mount_path.trim_end_matches('/') == path)?;
        let volume = spec.pointer("/volumes")?.as_array()?.iter().find(|v| v["name"] == mount.name.as_str())?;
        let claim_name = volume.pointer("/persistentVolumeClaim/claimName")?.as_str()?;
        let claim = self.get("persistentvolumeclaims", namespace, claim_name)?;
        let size = claim
            .pointer("/status/capacity/storage")
            .or(claim.pointer("/spec/resources/requests/storage"))
            .and_then(Value::as_str)
            .and_then(quantity::memory_bytes)?;
        (size < bytes).then(|| path.to_string())
    }

    /// Connects from a pod labelled `labels` in `namespace` to `host:port`, or says why not
    /// as Go's net package would.
    fn connect(&self, namespace: &str, labels: Option<&Value>, host: &str, port: i32) -> Result<(), String> {
        let name = host.trim_end_matches(".cluster.local").trim_end_matches(".svc");
        let (service_name, service_namespace) = name.split_once('.').unwrap_or((name, namespace));
        let Some(service) = self.get("services", service_namespace, service_name) else {
            return Err(format!("dial tcp: lookup {host} on {DNS}: no such host"));
        };
        let octet = |seed: &str| seed.bytes().fold(7u32, |sum, b| (sum * 31 + b as u32) % 250) + 2;
        let address = format!("10.96.{}.{}:{port}", octet(service_namespace), octet(service_name));
        let refused = Err(format!("dial tcp {address}: connect: connection refused"));
        let exposes =
            service.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten().any(|p| p["port"] == port);
        if !exposes || self.ready_endpoints(service_namespace, service_name) == 0 {
            return refused;
        }
        // The backends: the pods the Service selects. A policy selecting one of them that
        // has Ingress among its types drops what none of its rules admits.
        let selector = service.pointer("/spec/selector");
        let backends: Vec<&Value> = self
            .list("pods", Some(service_namespace))
            .filter(|pod| {
                selector.and_then(Value::as_object).is_some_and(|s| labels_match(s, pod.pointer("/metadata/labels")))
            })
            .collect();
        let admits = |rule: &Value| {
            let peers = rule.get("from").and_then(Value::as_array);
            peers.is_none_or(Vec::is_empty)
                || peers.into_iter().flatten().any(|peer| {
                    if peer.get("ipBlock").is_some() {
                        return true;
                    }
                    let namespace_ok = match peer.get("namespaceSelector") {
                        None => namespace == service_namespace,
                        Some(selector) => {
                            let names = serde_json::json!({"kubernetes.io/metadata.name": namespace});
                            selects(Some(selector), Some(&names))
                        }
                    };
                    namespace_ok && peer.get("podSelector").is_none_or(|s| selects(Some(s), labels))
                })
        };
        let dropped = self.list("networkpolicies", Some(service_namespace)).any(|policy| {
            let ingress = policy
                .pointer("/spec/policyTypes")
                .and_then(Value::as_array)
                .is_none_or(|types| types.iter().any(|t| t == "Ingress"));
            let applies = backends
                .iter()
                .any(|pod| selects(policy.pointer("/spec/podSelector"), pod.pointer("/metadata/labels")));
            let rules = policy.pointer("/spec/ingress").and_then(Value::as_array).cloned().unwrap_or_default();
            ingress && applies && !rules.iter().any(admits)
        });
        if dropped {
            return Err(format!("dial tcp {address}: i/o timeout"));
        }
        Ok(())
    }
}
