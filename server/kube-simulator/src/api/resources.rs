//! The resources the simulated API serves (kinds, groups, verbs, subresources), the
//! paths that name them, and the discovery documents that list them.

use serde_json::{Value, json};

/// One resource the demo cluster serves.
pub(crate) struct Resource {
    pub(super) plural: &'static str,
    pub(super) kind: &'static str,
    pub(super) group: &'static str,
    pub(super) namespaced: bool,
    pub(super) verbs: &'static [&'static str],
    pub(super) short_names: &'static [&'static str],
    /// Subresources: name, kind, verbs.
    pub(super) subresources: &'static [(&'static str, &'static str, &'static [&'static str])],
}

impl Resource {
    /// A resource clients create, read and delete, without short names or subresources.
    const fn kept(plural: &'static str, kind: &'static str, group: &'static str, namespaced: bool) -> Resource {
        Resource {
            plural,
            kind,
            group,
            namespaced,
            verbs: &["create", "delete", "get", "list"],
            short_names: &[],
            subresources: &[],
        }
    }
}

pub(super) const RBAC: &str = "rbac.authorization.k8s.io";

pub(super) const RESOURCES: &[Resource] = &[
    Resource {
        plural: "namespaces",
        kind: "Namespace",
        group: "",
        namespaced: false,
        verbs: &["get", "list"],
        short_names: &["ns"],
        subresources: &[],
    },
    Resource {
        plural: "nodes",
        kind: "Node",
        group: "",
        namespaced: false,
        verbs: &["get", "list"],
        short_names: &["no"],
        // As the kubelet reports its node's conditions.
        subresources: &[("status", "Node", &["get", "patch"])],
    },
    Resource {
        plural: "pods",
        kind: "Pod",
        group: "",
        namespaced: true,
        verbs: &["delete", "get", "list", "patch"],
        short_names: &["po"],
        subresources: &[("log", "Pod", &["get"]), ("status", "Pod", &["get", "patch"])],
    },
    Resource {
        plural: "events",
        kind: "Event",
        group: "",
        namespaced: true,
        verbs: &["get", "list"],
        short_names: &["ev"],
        subresources: &[],
    },
    Resource {
        plural: "configmaps",
        kind: "ConfigMap",
        group: "",
        namespaced: true,
        verbs: &["create", "delete", "get", "list", "patch", "update"],
        short_names: &["cm"],
        subresources: &[],
    },
    Resource {
        plural: "secrets",
        kind: "Secret",
        group: "",
        namespaced: true,
        verbs: &["create", "delete", "get", "list", "patch", "update"],
        short_names: &[],
        subresources: &[],
    },
    Resource {
        plural: "persistentvolumeclaims",
        kind: "PersistentVolumeClaim",
        group: "",
        namespaced: true,
        verbs: &["create", "delete", "get", "list"],
        short_names: &["pvc"],
        subresources: &[],
    },
    Resource {
        plural: "resourcequotas",
        kind: "ResourceQuota",
        group: "",
        namespaced: true,
        verbs: &["create", "delete", "get", "list"],
        short_names: &["quota"],
        subresources: &[],
    },
    Resource {
        plural: "services",
        kind: "Service",
        group: "",
        namespaced: true,
        verbs: &["create", "delete", "get", "list"],
        short_names: &["svc"],
        subresources: &[],
    },
    Resource {
        plural: "endpoints",
        kind: "Endpoints",
        group: "",
        namespaced: true,
        verbs: &["get", "list"],
        short_names: &["ep"],
        subresources: &[],
    },
    Resource {
        plural: "deployments",
        kind: "Deployment",
        group: "apps",
        namespaced: true,
        verbs: &["create", "delete", "get", "list", "patch", "update"],
        short_names: &["deploy"],
        subresources: &[("scale", "Scale", &["get", "patch", "update"]), ("status", "Deployment", &["get"])],
    },
    Resource {
        plural: "replicasets",
        kind: "ReplicaSet",
        group: "apps",
        namespaced: true,
        verbs: &["get", "list"],
        short_names: &["rs"],
        subresources: &[],
    },
    Resource {
        plural: "jobs",
        kind: "Job",
        group: "batch",
        namespaced: true,
        verbs: &["create", "delete", "get", "list"],
        short_names: &[],
        subresources: &[],
    },
    Resource {
        plural: "statefulsets",
        kind: "StatefulSet",
        group: "apps",
        namespaced: true,
        verbs: &["create", "delete", "get", "list", "patch", "update"],
        short_names: &["sts"],
        subresources: &[],
    },
    Resource {
        plural: "daemonsets",
        kind: "DaemonSet",
        group: "apps",
        namespaced: true,
        verbs: &["create", "delete", "get", "list"],
        short_names: &["ds"],
        subresources: &[],
    },
    Resource {
        plural: "cronjobs",
        kind: "CronJob",
        group: "batch",
        namespaced: true,
        verbs: &["create", "delete", "get", "list"],
        short_names: &["cj"],
        subresources: &[],
    },
    Resource {
        plural: "horizontalpodautoscalers",
        kind: "HorizontalPodAutoscaler",
        group: "autoscaling",
        namespaced: true,
        verbs: &["create", "delete", "get", "list", "patch", "update"],
        short_names: &["hpa"],
        subresources: &[],
    },
    Resource {
        plural: "ingresses",
        kind: "Ingress",
        group: "networking.k8s.io",
        namespaced: true,
        verbs: &["create", "delete", "get", "list", "patch", "update"],
        short_names: &["ing"],
        subresources: &[],
    },
    Resource {
        plural: "ingressclasses",
        kind: "IngressClass",
        group: "networking.k8s.io",
        namespaced: false,
        verbs: &["get", "list"],
        short_names: &[],
        subresources: &[],
    },
    Resource {
        plural: "networkpolicies",
        kind: "NetworkPolicy",
        group: "networking.k8s.io",
        namespaced: true,
        verbs: &["create", "delete", "get", "list", "patch", "update"],
        short_names: &["netpol"],
        subresources: &[],
    },
    Resource {
        plural: "storageclasses",
        kind: "StorageClass",
        group: "storage.k8s.io",
        namespaced: false,
        verbs: &["get", "list"],
        short_names: &["sc"],
        subresources: &[],
    },
    Resource::kept("runtimeclasses", "RuntimeClass", "node.k8s.io", false),
    Resource {
        plural: "serviceaccounts",
        kind: "ServiceAccount",
        group: "",
        namespaced: true,
        verbs: &["create", "delete", "get", "list"],
        short_names: &["sa"],
        subresources: &[],
    },
    Resource::kept("roles", "Role", RBAC, true),
    Resource::kept("rolebindings", "RoleBinding", RBAC, true),
    Resource::kept("clusterroles", "ClusterRole", RBAC, false),
    Resource::kept("clusterrolebindings", "ClusterRoleBinding", RBAC, false),
    Resource::kept(
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        false,
    ),
    Resource {
        plural: "selfsubjectaccessreviews",
        kind: "SelfSubjectAccessReview",
        group: "authorization.k8s.io",
        namespaced: false,
        verbs: &["create"],
        short_names: &[],
        subresources: &[],
    },
];

/// The version the demo cluster serves of `group`: autoscaling/v2, else v1.
pub(crate) fn version_of(group: &str) -> &'static str {
    if group == "autoscaling" { "v2" } else { "v1" }
}

pub(super) fn api_version(group: &str) -> String {
    if group.is_empty() { "v1".into() } else { format!("{group}/{}", version_of(group)) }
}

pub(super) fn qualified(resource: &Resource) -> String {
    if resource.group.is_empty() { resource.plural.into() } else { format!("{}.{}", resource.plural, resource.group) }
}

/// What a path names.
pub(crate) enum Target<'a> {
    Version,
    CoreVersions,
    Groups,
    Resources(&'static str),
    Collection { resource: &'static Resource, namespace: Option<&'a str> },
    Object { resource: &'static Resource, namespace: &'a str, name: &'a str, subresource: Option<&'a str> },
}

pub(super) fn find(group: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|resource| resource.group == group && resource.plural == plural)
}

pub(crate) fn route(path: &str) -> Option<Target<'_>> {
    let path = path.trim_end_matches('/');
    let (group, rest) = if path == "/version" {
        return Some(Target::Version);
    } else if path == "/api" {
        return Some(Target::CoreVersions);
    } else if path == "/apis" {
        return Some(Target::Groups);
    } else if let Some(rest) = path.strip_prefix("/api/v1") {
        ("", rest)
    } else {
        let rest = path.strip_prefix("/apis/")?;
        let (group, rest) = rest.split_once('/')?;
        let group = RESOURCES.iter().map(|r| r.group).find(|g| *g == group)?;
        (group, rest.strip_prefix(version_of(group))?)
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [] => Some(Target::Resources(group)),
        [plural] => Some(Target::Collection { resource: find(group, plural)?, namespace: None }),
        [plural, name] => {
            let resource = find(group, plural)?;
            (!resource.namespaced).then_some(Target::Object { resource, namespace: "", name, subresource: None })
        }
        [plural, name, subresource] if *plural != "namespaces" => {
            let resource = find(group, plural)?;
            (!resource.namespaced && resource.subresources.iter().any(|(sub, _, _)| sub == subresource))
                .then_some(Target::Object { resource, namespace: "", name, subresource: Some(subresource) })
        }
        ["namespaces", namespace, plural] if group.is_empty() && *plural == "status" => Some(Target::Object {
            resource: find("", "namespaces")?,
            namespace: "",
            name: namespace,
            subresource: Some("status"),
        }),
        ["namespaces", namespace, plural] => {
            let resource = find(group, plural)?;
            resource.namespaced.then_some(Target::Collection { resource, namespace: Some(namespace) })
        }
        ["namespaces", namespace, plural, name] => {
            let resource = find(group, plural)?;
            resource.namespaced.then_some(Target::Object { resource, namespace, name, subresource: None })
        }
        ["namespaces", namespace, plural, name, subresource] => {
            let resource = find(group, plural)?;
            (resource.namespaced && resource.subresources.iter().any(|(sub, _, _)| sub == subresource))
                .then_some(Target::Object { resource, namespace, name, subresource: Some(subresource) })
        }
        _ => None,
    }
}

pub(super) fn groups() -> Value {
    // Each group once, in the order of the resources (kubectl refuses a group listed twice).
    let mut names: Vec<&str> = Vec::new();
    for group in RESOURCES.iter().map(|r| r.group).filter(|g| !g.is_empty()) {
        if !names.contains(&group) {
            names.push(group);
        }
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": names.iter().map(|name| {
        let version = json!({"groupVersion": api_version(name), "version": version_of(name)});
        json!({"name": name, "versions": [version.clone()], "preferredVersion": version})
    }).collect::<Vec<_>>()})
}

pub(super) fn resource_list(group: &str) -> Value {
    let mut resources = Vec::new();
    for resource in RESOURCES.iter().filter(|r| r.group == group) {
        resources.push(json!({"name": resource.plural, "singularName": resource.kind.to_lowercase(), "namespaced": resource.namespaced,
                              "kind": resource.kind, "verbs": resource.verbs, "shortNames": resource.short_names}));
        for (sub, kind, verbs) in resource.subresources {
            let mut entry = json!({"name": format!("{}/{sub}", resource.plural), "singularName": "", "namespaced": resource.namespaced,
                                   "kind": kind, "verbs": verbs});
            if *sub == "scale" {
                entry["group"] = json!("autoscaling");
                entry["version"] = json!("v1");
            }
            resources.push(entry);
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version(group), "resources": resources})
}
