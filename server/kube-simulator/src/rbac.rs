//! The demo cluster's RBAC: whether a service account may make an API call, by the Roles
//! and ClusterRoles its RoleBindings (in the call's namespace) and ClusterRoleBindings
//! grant, and the API server's words when it may not.

use serde_json::Value;

use super::world::{World, text};

/// Whether a rule's list (verbs, API groups, resources) holds `wanted` or `*`.
fn lists(rule: &Value, field: &str, wanted: &str) -> bool {
    rule.get(field).and_then(Value::as_array).is_some_and(|items| items.iter().any(|i| i == wanted || i == "*"))
}

/// Whether `binding` names service account `account_namespace`/`account` among its
/// subjects (a subject without a namespace is in the binding's).
fn binds(binding: &Value, account_namespace: &str, account: &str) -> bool {
    let binding_namespace = text(binding, "/metadata/namespace");
    binding.get("subjects").and_then(Value::as_array).is_some_and(|subjects| {
        subjects.iter().any(|subject| {
            let namespace = Some(text(subject, "/namespace")).filter(|n| !n.is_empty()).unwrap_or(binding_namespace);
            text(subject, "/kind") == "ServiceAccount"
                && text(subject, "/name") == account
                && namespace == account_namespace
        })
    })
}

impl World {
    /// Whether service account `namespace`/`account` may `verb` `resource` (of API group
    /// `group`) in `namespace`.
    pub(super) fn allows(&self, namespace: &str, account: &str, verb: &str, group: &str, resource: &str) -> bool {
        let mut bindings = self
            .list("rolebindings", Some(namespace))
            .chain(self.list("clusterrolebindings", None))
            .filter(|binding| binds(binding, namespace, account));
        bindings.any(|binding| {
            let role_name = text(binding, "/roleRef/name");
            let role = match text(binding, "/roleRef/kind") {
                "Role" => self.get("roles", text(binding, "/metadata/namespace"), role_name),
                "ClusterRole" => self.get("clusterroles", "", role_name),
                _ => None,
            };
            role.and_then(|role| role.get("rules")?.as_array().cloned()).into_iter().flatten().any(|rule| {
                lists(&rule, "verbs", verb) && lists(&rule, "apiGroups", group) && lists(&rule, "resources", resource)
            })
        })
    }

    /// The API server's refusal of that call, as clients receive it.
    pub(super) fn forbidden(namespace: &str, account: &str, verb: &str, group: &str, resource: &str) -> String {
        format!(
            "{resource} is forbidden: User \"system:serviceaccount:{namespace}:{account}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"{namespace}\""
        )
    }
}
