//! The demo cluster's admission of the pods its controllers create, in the API server's
//! order: the pod's service account must exist, validating webhooks whose rules cover
//! pods are called (and refuse the pod, under `failurePolicy: Fail`, when their service
//! cannot be reached), then resource quotas count it. What refuses a pod is said in the
//! API server's words; the controller raises it as a `FailedCreate` event.

use serde_json::{Value, json};

use super::world::{World, is_active, selects, text};

/// A count a quota gives as a string or a number.
fn count(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str()?.trim().parse().ok())
}

/// Whether a webhook rule's list (operations, API groups, resources) holds `wanted` or `*`.
fn lists(rule: &Value, field: &str, wanted: &str) -> bool {
    rule.get(field).and_then(Value::as_array).is_some_and(|items| items.iter().any(|i| i == wanted || i == "*"))
}

impl World {
    /// Why the API server refuses the pod `pod` (labelled `labels`, run as service account
    /// `account`) in `namespace`, if it does.
    pub(super) fn admission_refusal(
        &self,
        namespace: &str,
        pod: &str,
        labels: Option<&Value>,
        account: &str,
    ) -> Option<String> {
        self.missing_account(namespace, pod, account)
            .or_else(|| self.webhook_refusal(namespace, labels))
            .or_else(|| self.quota_refusal(namespace, pod))
    }

    /// The refusal of a pod whose service account does not exist (`default` always does).
    fn missing_account(&self, namespace: &str, pod: &str, account: &str) -> Option<String> {
        (account != "default" && self.get("serviceaccounts", namespace, account).is_none()).then(|| {
            format!(
                "pods \"{pod}\" is forbidden: error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
            )
        })
    }

    /// The refusal of the first validating webhook that covers pod creation in `namespace`
    /// (and the pod's labels) and cannot be called: its Service does not exist or has no
    /// ready endpoints. A webhook with `failurePolicy: Ignore` never refuses; one that can
    /// be called admits (the demo runs no webhook servers of its own).
    fn webhook_refusal(&self, namespace: &str, labels: Option<&Value>) -> Option<String> {
        let namespace_labels = json!({"kubernetes.io/metadata.name": namespace});
        let namespace_labels = self
            .get("namespaces", "", namespace)
            .and_then(|n| n.pointer("/metadata/labels"))
            .unwrap_or(&namespace_labels);
        self.list("validatingwebhookconfigurations", None).find_map(|configuration| {
            let webhooks = configuration.get("webhooks")?.as_array()?;
            webhooks.iter().find_map(|webhook| {
                let covers_pods = webhook.get("rules").and_then(Value::as_array).is_some_and(|rules| {
                    rules.iter().any(|rule| {
                        lists(rule, "operations", "CREATE")
                            && lists(rule, "apiGroups", "")
                            && lists(rule, "resources", "pods")
                    })
                });
                if !covers_pods
                    || text(webhook, "/failurePolicy") == "Ignore"
                    || !selects(webhook.get("namespaceSelector"), Some(namespace_labels))
                    || !selects(webhook.get("objectSelector"), labels)
                {
                    return None;
                }
                let service = webhook.pointer("/clientConfig/service")?;
                let (name, service_namespace) = (text(service, "/name"), text(service, "/namespace"));
                let port = service.get("port").and_then(Value::as_i64).unwrap_or(443);
                let timeout = webhook.get("timeoutSeconds").and_then(Value::as_i64).unwrap_or(10);
                let url = format!(
                    "https://{name}.{service_namespace}.svc:{port}{}?timeout={timeout}s",
                    text(service, "/path")
                );
                let unreachable = match self.get("services", service_namespace, name) {
                    None => format!("service \"{name}\" not found"),
                    Some(_) if self.ready_endpoints(service_namespace, name) == 0 => {
                        format!("no endpoints available for service \"{name}\"")
                    }
                    Some(_) => return None,
                };
                Some(format!(
                    "Internal error occurred: failed calling webhook \"{}\": failed to call webhook: Post \"{url}\": {unreachable}",
                    text(webhook, "/name")
                ))
            })
        })
    }

    /// The ready addresses of Service `name`'s endpoints.
    pub(super) fn ready_endpoints(&self, namespace: &str, name: &str) -> usize {
        let subsets = self.get("endpoints", namespace, name).and_then(|e| e.get("subsets")?.as_array().cloned());
        subsets.iter().flatten().map(|s| s.get("addresses").and_then(Value::as_array).map_or(0, Vec::len)).sum()
    }

    /// Why a resource quota refuses one more pod named `pod` in `namespace`, if one does
    /// (the demo counts `pods` only).
    fn quota_refusal(&self, namespace: &str, pod: &str) -> Option<String> {
        let used = self.list("pods", Some(namespace)).filter(|pod| is_active(pod)).count() as i64;
        self.list("resourcequotas", Some(namespace)).find_map(|quota| {
            let hard = count(quota.pointer("/spec/hard/pods")?)?;
            (used + 1 > hard).then(|| {
                format!(
                    "pods \"{pod}\" is forbidden: exceeded quota: {}, requested: pods=1, used: pods={used}, limited: pods={hard}",
                    text(quota, "/metadata/name")
                )
            })
        })
    }

    /// Keeps each resource quota's `status.used` current.
    pub(super) fn reconcile_quotas(&mut self) {
        let quotas: Vec<_> = self.objects.keys().filter(|(r, _, _)| r == "resourcequotas").cloned().collect();
        for key in quotas {
            let used = self.list("pods", Some(&key.1)).filter(|pod| is_active(pod)).count();
            let quota = self.objects.get_mut(&key).expect("listed");
            let status = json!({"hard": quota["spec"]["hard"].clone(), "used": {"pods": used.to_string()}});
            if quota["status"] != status {
                quota["status"] = status;
            }
        }
    }
}
