//! The simulated Kubernetes REST API: the paths, verbs, discovery documents and
//! `metav1.Status` errors that the kube crate and kubectl use, over the objects a
//! [`Store`] keeps.

use serde_json::{Value, json};

use crate::patch::{self, PatchError};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::world::{World, text};
use crate::{programs, quantity};

/// Where a cluster's objects are kept, as the API reads and changes them. Reads of one
/// resource need not load the whole cluster; a change loads it with [`Store::lock`]
/// (nothing else changes it meanwhile) and ends with [`Store::save`] — a change not
/// saved (a dry run, a refusal) is dropped with the store.
pub trait Store {
    /// What the store fails with.
    type Error: std::fmt::Display;

    /// The objects of `resource`, in `namespace` or (none) in all, by namespace and name.
    fn list(
        &mut self,
        resource: &str,
        namespace: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Value>, Self::Error>> + Send;

    /// One object.
    fn get(
        &mut self,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Value>, Self::Error>> + Send;

    /// The cluster's current resourceVersion.
    fn resource_version(&mut self) -> impl Future<Output = Result<i64, Self::Error>> + Send;

    /// The whole cluster, to read.
    fn world(&mut self) -> impl Future<Output = Result<World, Self::Error>> + Send;

    /// The whole cluster, to change: nothing else changes it until this store is saved
    /// or dropped.
    fn lock(&mut self) -> impl Future<Output = Result<World, Self::Error>> + Send;

    /// Keeps what changed in `world` (fresh resourceVersions written into it).
    fn save(&mut self, world: &mut World) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// One request to the demo cluster, its path relative to the cluster's base.
pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub content_type: &'a str,
    pub body: &'a [u8],
}

/// The answer: status, content type, body.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl ApiResponse {
    fn json(status: u16, value: &Value) -> Self {
        ApiResponse { status, content_type: "application/json", body: value.to_string().into_bytes() }
    }

    fn ok(value: &Value) -> Self {
        Self::json(200, value)
    }
}

/// A `metav1.Status` failure.
pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> ApiResponse {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": message, "reason": reason, "code": code});
    if let Some(details) = details {
        body["details"] = details;
    }
    ApiResponse::json(code, &body)
}

/// One resource the demo cluster serves.
pub(crate) struct Resource {
    plural: &'static str,
    kind: &'static str,
    group: &'static str,
    namespaced: bool,
    verbs: &'static [&'static str],
    short_names: &'static [&'static str],
    /// Subresources: name, kind, verbs.
    subresources: &'static [(&'static str, &'static str, &'static [&'static str])],
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

const RBAC: &str = "rbac.authorization.k8s.io";

const RESOURCES: &[Resource] = &[
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

fn api_version(group: &str) -> String {
    if group.is_empty() { "v1".into() } else { format!("{group}/{}", version_of(group)) }
}

fn qualified(resource: &Resource) -> String {
    if resource.group.is_empty() { resource.plural.into() } else { format!("{}.{}", resource.plural, resource.group) }
}

fn not_found(resource: &Resource, name: &str) -> ApiResponse {
    status(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", qualified(resource)),
        Some(json!({"name": name, "kind": resource.plural})),
    )
}

fn method_not_allowed() -> ApiResponse {
    status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", None)
}

fn invalid(resource: &Resource, name: &str, message: &str) -> ApiResponse {
    status(
        422,
        "Invalid",
        &format!("{} \"{name}\" is invalid: {message}", resource.kind),
        Some(
            json!({"name": name, "group": resource.group, "kind": resource.kind, "causes": [{"reason": "FieldValueInvalid", "message": message}]}),
        ),
    )
}

fn conflict(resource: &Resource, name: &str) -> ApiResponse {
    status(
        409,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            qualified(resource)
        ),
        Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
    )
}

/// The answer when the store failed (the caller logs the failure itself).
pub fn internal_error() -> ApiResponse {
    status(500, "InternalError", "Internal error occurred: the demo cluster could not read or write its state", None)
}

/// The query's value of `name`, decoded as a form (`%XX` and `+`).
pub(crate) fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
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

fn find(group: &str, plural: &str) -> Option<&'static Resource> {
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

/// Whether the API serves `path` at all (its route), reading every query parameter it
/// would: what answering starts with, for callers that check requests (the fuzzers).
pub fn routes(path: &str, query: &str) -> bool {
    for name in
        ["watch", "labelSelector", "fieldSelector", "container", "previous", "tailLines", "limitBytes", "dryRun"]
    {
        let _ = param(query, name);
    }
    route(path).is_some()
}

/// Answers one request made of the cluster whose objects `store` keeps; a failure of
/// the store is the caller's to log and answer ([`internal_error`]).
pub async fn serve<S: Store>(store: &mut S, request: &ApiRequest<'_>) -> Result<ApiResponse, S::Error> {
    let Some(target) = route(request.path) else {
        return Ok(status(404, "NotFound", "the server could not find the requested resource", Some(json!({}))));
    };
    if param(request.query, "watch").is_some_and(|watch| watch == "true" || watch == "1") {
        return Ok(status(
            405,
            "MethodNotAllowed",
            "the demo cluster does not serve watches; list again instead",
            None,
        ));
    }
    match (request.method, target) {
        ("GET", Target::Version) => Ok(ApiResponse::ok(&json!({
            "major": "1", "minor": "31", "gitVersion": "v1.31.4-dreamops-demo", "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.4", "compiler": "gc", "platform": "linux/amd64",
        }))),
        ("GET", Target::CoreVersions) => Ok(ApiResponse::ok(&json!({
            "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "demo:443"}],
        }))),
        ("GET", Target::Groups) => Ok(ApiResponse::ok(&groups())),
        ("GET", Target::Resources(group)) => Ok(ApiResponse::ok(&resource_list(group))),
        ("GET", Target::Collection { resource, namespace }) => list(store, resource, namespace, request.query).await,
        ("POST", Target::Collection { resource, namespace: None }) if resource.plural == "selfsubjectaccessreviews" => {
            Ok(access_review(request.body))
        }
        ("POST", Target::Collection { resource, namespace }) if resource.verbs.contains(&"create") => {
            match (namespace, resource.namespaced) {
                (Some(namespace), true) => create(store, resource, namespace, request).await,
                (None, false) => create(store, resource, "", request).await,
                _ => Ok(method_not_allowed()),
            }
        }
        ("GET", Target::Object { resource, namespace, name, subresource }) => {
            get(store, resource, namespace, name, subresource, request.query).await
        }
        ("PATCH" | "PUT", Target::Object { resource, namespace, name, subresource }) => {
            change(store, resource, namespace, name, subresource, request).await
        }
        ("DELETE", Target::Object { resource, namespace, name, subresource: None })
            if resource.verbs.contains(&"delete") =>
        {
            delete(store, resource, namespace, name, request).await
        }
        _ => Ok(method_not_allowed()),
    }
}

fn groups() -> Value {
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

fn resource_list(group: &str) -> Value {
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

/// The demo cluster's token may do everything.
fn access_review(body: &[u8]) -> ApiResponse {
    let Ok(mut review) = serde_json::from_slice::<Value>(body) else {
        return status(400, "BadRequest", "the request body is not a SelfSubjectAccessReview", None);
    };
    if review.pointer("/spec/resourceAttributes").is_none() && review.pointer("/spec/nonResourceAttributes").is_none() {
        return status(
            422,
            "Invalid",
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
            None,
        );
    }
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = json!({"allowed": true, "reason": "the demo cluster's token may do everything"});
    ApiResponse::json(201, &review)
}

async fn list<S: Store>(
    store: &mut S,
    resource: &Resource,
    namespace: Option<&str>,
    query: &str,
) -> Result<ApiResponse, S::Error> {
    let labels = match LabelSelector::parse(&param(query, "labelSelector").unwrap_or_default()) {
        Ok(selector) => selector,
        Err(message) => return Ok(status(400, "BadRequest", &message, None)),
    };
    let fields = match FieldSelector::parse(&param(query, "fieldSelector").unwrap_or_default()) {
        Ok(selector) => selector,
        Err(message) => return Ok(status(400, "BadRequest", &message, None)),
    };
    let namespace = if resource.namespaced { namespace } else { Some("") };
    let mut items: Vec<Value> = store
        .list(resource.plural, namespace)
        .await?
        .into_iter()
        .filter(|item| labels.matches(item) && fields.matches(item))
        .collect();
    if resource.plural == "events" {
        items.sort_by_key(|event| {
            event["metadata"]["resourceVersion"].as_str().and_then(|v| v.parse::<i64>().ok()).unwrap_or(0)
        });
    }
    let version = store.resource_version().await?;
    Ok(ApiResponse::ok(&json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": api_version(resource.group),
        "metadata": {"resourceVersion": version.to_string()},
        "items": items,
    })))
}

/// The Scale view of a deployment.
fn scale_of(deployment: &Value) -> Value {
    let selector = deployment
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": deployment["metadata"]["name"], "namespace": deployment["metadata"]["namespace"],
            "uid": deployment["metadata"]["uid"], "resourceVersion": deployment["metadata"]["resourceVersion"],
            "creationTimestamp": deployment["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": deployment.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": deployment.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

async fn get<S: Store>(
    store: &mut S,
    resource: &Resource,
    namespace: &str,
    name: &str,
    subresource: Option<&str>,
    query: &str,
) -> Result<ApiResponse, S::Error> {
    let Some(object) = store.get(resource.plural, namespace, name).await? else {
        return Ok(not_found(resource, name));
    };
    Ok(match subresource {
        None | Some("status") => ApiResponse::ok(&object),
        Some("scale") => ApiResponse::ok(&scale_of(&object)),
        Some("log") => {
            // What a program that connects or keeps data logs depends on the cluster
            // around it: only then is the cluster loaded.
            let containers = ["/spec/containers", "/spec/initContainers"]
                .into_iter()
                .filter_map(|pointer| object.pointer(pointer).and_then(Value::as_array))
                .flatten();
            let world = if containers
                .filter_map(|c| serde_json::from_value(c.clone()).ok())
                .any(|c| programs::meets_cluster(&c))
            {
                Some(store.world().await?)
            } else {
                None
            };
            log(world.as_ref(), &object, query)
        }
        Some(_) => method_not_allowed(),
    })
}

/// The log of a pod's container: its current run, or with `previous=true` the last one.
fn log(world: Option<&World>, pod: &Value, query: &str) -> ApiResponse {
    let name = text(pod, "/metadata/name");
    let list = |pointer: &str| pod.pointer(pointer).and_then(Value::as_array).map(|c| c.iter().collect::<Vec<_>>());
    let containers = list("/spec/containers").unwrap_or_default();
    let inits = list("/spec/initContainers").unwrap_or_default();
    let container = match param(query, "container") {
        Some(wanted) => match containers.iter().chain(&inits).find(|c| c["name"] == wanted.as_str()) {
            Some(container) => *container,
            None => return status(400, "BadRequest", &format!("container {wanted} is not valid for pod {name}"), None),
        },
        None if containers.len() == 1 => containers[0],
        None => {
            let names: Vec<&str> = containers.iter().map(|c| c["name"].as_str().unwrap_or("")).collect();
            return status(
                400,
                "BadRequest",
                &format!("a container name must be specified for pod {name}, choose one of: [{}]", names.join(" ")),
                None,
            );
        }
    };
    let container_name = container["name"].as_str().unwrap_or("");
    let state = ["/status/containerStatuses", "/status/initContainerStatuses"]
        .into_iter()
        .filter_map(|pointer| pod.pointer(pointer).and_then(Value::as_array))
        .flatten()
        .find(|s| s["name"] == container_name)
        .cloned()
        .unwrap_or(json!({}));
    let previous = param(query, "previous").is_some_and(|p| p == "true" || p == "1");
    let spec: k8s_openapi::api::core::v1::Container = serde_json::from_value(container.clone()).unwrap_or_default();
    let pod_spec = pod.get("spec").cloned().unwrap_or(json!({}));
    let verdict = match world {
        Some(world) => {
            world.verdict(text(pod, "/metadata/namespace"), pod.pointer("/metadata/labels"), &pod_spec, &spec)
        }
        None => programs::verdict(&spec),
    };
    let lines = verdict.log().to_vec();
    let restarted = state["restartCount"].as_i64().unwrap_or(0) > 0 || state.pointer("/lastState/terminated").is_some();
    if previous && !restarted {
        return status(
            400,
            "BadRequest",
            &format!("previous terminated container \"{container_name}\" in pod \"{name}\" not found"),
            None,
        );
    }
    if let Some(waiting) = state.pointer("/state/waiting").filter(|_| !previous && !restarted) {
        let reason = waiting["reason"].as_str().unwrap_or("ContainerCreating");
        let message = match reason {
            "ImagePullBackOff" | "ErrImagePull" => "trying and failing to pull image".to_string(),
            other => other.to_string(),
        };
        return status(
            400,
            "BadRequest",
            &format!("container \"{container_name}\" in pod \"{name}\" is waiting to start: {message}"),
            None,
        );
    }
    if state.is_null() || state.as_object().is_some_and(|s| s.is_empty()) {
        return status(
            400,
            "BadRequest",
            &format!("container \"{container_name}\" in pod \"{name}\" is waiting to start: ContainerCreating"),
            None,
        );
    }
    let started = text(pod, "/status/startTime").to_string();
    let mut lines: Vec<String> =
        lines
            .into_iter()
            .map(|line| {
                if param(query, "timestamps").is_some_and(|t| t == "true") { format!("{started} {line}") } else { line }
            })
            .collect();
    if let Some(tail) = param(query, "tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(tail);
        lines.drain(..skip);
    }
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    if let Some(limit) = param(query, "limitBytes").and_then(|l| l.parse::<usize>().ok()) {
        body.truncate(limit.min(body.len()));
    }
    ApiResponse { status: 200, content_type: "text/plain", body: body.into_bytes() }
}

fn dry_run(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(key, value)| key == "dryRun" && value == "All")
}

/// Whether `object` matches the schema of `T` (the API server's first check).
fn conforms<T: serde::de::DeserializeOwned>(object: &Value) -> Result<(), serde_json::Error> {
    T::deserialize(object).map(|_| ())
}

/// Checks a changed deployment or pod the way the API server's validation would.
fn validate(resource: &Resource, name: &str, object: &Value) -> Result<(), ApiResponse> {
    let typed = match resource.plural {
        "deployments" => conforms::<k8s_openapi::api::apps::v1::Deployment>(object),
        "pods" => conforms::<k8s_openapi::api::core::v1::Pod>(object),
        "services" => conforms::<k8s_openapi::api::core::v1::Service>(object),
        "configmaps" => conforms::<k8s_openapi::api::core::v1::ConfigMap>(object),
        "secrets" => conforms::<k8s_openapi::api::core::v1::Secret>(object),
        "persistentvolumeclaims" => conforms::<k8s_openapi::api::core::v1::PersistentVolumeClaim>(object),
        "resourcequotas" => conforms::<k8s_openapi::api::core::v1::ResourceQuota>(object),
        "jobs" => conforms::<k8s_openapi::api::batch::v1::Job>(object),
        "nodes" => conforms::<k8s_openapi::api::core::v1::Node>(object),
        "statefulsets" => conforms::<k8s_openapi::api::apps::v1::StatefulSet>(object),
        "daemonsets" => conforms::<k8s_openapi::api::apps::v1::DaemonSet>(object),
        "cronjobs" => conforms::<k8s_openapi::api::batch::v1::CronJob>(object),
        "horizontalpodautoscalers" => conforms::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>(object),
        "ingresses" => conforms::<k8s_openapi::api::networking::v1::Ingress>(object),
        "networkpolicies" => conforms::<k8s_openapi::api::networking::v1::NetworkPolicy>(object),
        "runtimeclasses" => conforms::<k8s_openapi::api::node::v1::RuntimeClass>(object),
        "serviceaccounts" => conforms::<k8s_openapi::api::core::v1::ServiceAccount>(object),
        "roles" => conforms::<k8s_openapi::api::rbac::v1::Role>(object),
        "rolebindings" => conforms::<k8s_openapi::api::rbac::v1::RoleBinding>(object),
        "clusterroles" => conforms::<k8s_openapi::api::rbac::v1::ClusterRole>(object),
        "clusterrolebindings" => conforms::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(object),
        "validatingwebhookconfigurations" => {
            conforms::<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>(object)
        }
        _ => Ok(()),
    };
    if let Err(error) = typed {
        return Err(invalid(resource, name, &format!("the object does not match its schema: {error}")));
    }
    if resource.plural == "jobs" {
        let containers = object.pointer("/spec/template/spec/containers").and_then(Value::as_array);
        if containers.is_none_or(|containers| containers.is_empty()) {
            return Err(invalid(resource, name, "spec.template.spec.containers: Required value"));
        }
        let restart = text(object, "/spec/template/spec/restartPolicy");
        if restart != "Never" && restart != "OnFailure" {
            return Err(invalid(
                resource,
                name,
                &format!(
                    "spec.template.spec.restartPolicy: Unsupported value: \"{restart}\": supported values: \"OnFailure\", \"Never\""
                ),
            ));
        }
    }
    if resource.plural == "deployments" {
        if object.pointer("/spec/replicas").and_then(Value::as_i64).is_some_and(|replicas| replicas < 0) {
            return Err(invalid(resource, name, "spec.replicas: Invalid value: must be greater than or equal to 0"));
        }
        let containers = object.pointer("/spec/template/spec/containers").and_then(Value::as_array);
        if containers.is_none_or(|containers| containers.is_empty()) {
            return Err(invalid(resource, name, "spec.template.spec.containers: Required value"));
        }
        for container in containers.into_iter().flatten() {
            if text(container, "/image").is_empty() {
                return Err(invalid(resource, name, "spec.template.spec.containers[0].image: Required value"));
            }
            for kind in ["limits", "requests"] {
                for (resource_name, quantity) in
                    container.pointer(&format!("/resources/{kind}")).and_then(Value::as_object).into_iter().flatten()
                {
                    let parsed = match resource_name.as_str() {
                        "cpu" => quantity.as_str().and_then(quantity::cpu_millis),
                        _ => quantity.as_str().and_then(quantity::memory_bytes),
                    };
                    if parsed.is_none() {
                        return Err(invalid(
                            resource,
                            name,
                            &format!(
                                "spec.template.spec.containers[0].resources.{kind}[{resource_name}]: Invalid value: {quantity}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
                            ),
                        ));
                    }
                }
            }
        }
        let selector = object.pointer("/spec/selector/matchLabels").and_then(Value::as_object);
        let labels = object.pointer("/spec/template/metadata/labels");
        if selector.is_some_and(|selector| selector.iter().any(|(k, v)| labels.and_then(|l| l.get(k)) != Some(v))) {
            return Err(invalid(
                resource,
                name,
                "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
            ));
        }
    }
    Ok(())
}

async fn change<S: Store>(
    store: &mut S,
    resource: &'static Resource,
    namespace: &str,
    name: &str,
    subresource: Option<&str>,
    request: &ApiRequest<'_>,
) -> Result<ApiResponse, S::Error> {
    let verb = if request.method == "PATCH" { "patch" } else { "update" };
    let allowed = match subresource {
        None => resource.verbs.contains(&verb),
        Some(sub) => resource.subresources.iter().any(|(s, _, verbs)| *s == sub && verbs.contains(&verb)),
    };
    if !allowed {
        return Ok(method_not_allowed());
    }
    let mut world = store.lock().await?;
    let Some(current) = world.get(resource.plural, namespace, name).cloned() else {
        return Ok(not_found(resource, name));
    };
    // What the client changes: the object itself, its status, or its scale.
    let before = if subresource == Some("scale") { scale_of(&current) } else { current.clone() };
    let after = if request.method == "PATCH" {
        match patch::apply(&before, request.content_type, request.body) {
            Ok(after) => after,
            Err(PatchError::Unsupported(message)) => return Ok(status(415, "UnsupportedMediaType", &message, None)),
            Err(PatchError::Invalid(message)) => return Ok(invalid(resource, name, &message)),
        }
    } else {
        match serde_json::from_slice::<Value>(request.body) {
            Ok(body) if body.is_object() => body,
            _ => return Ok(status(400, "BadRequest", "the body of the request is not a JSON object", None)),
        }
    };
    let sent_version = text(&after, "/metadata/resourceVersion");
    if !sent_version.is_empty() && sent_version != text(&before, "/metadata/resourceVersion") {
        return Ok(conflict(resource, name));
    }
    if text(&after, "/metadata/name") != name
        || (resource.namespaced
            && !text(&after, "/metadata/namespace").is_empty()
            && text(&after, "/metadata/namespace") != namespace)
    {
        return Ok(status(400, "BadRequest", "the name or namespace of the object does not match the request", None));
    }
    let mut updated = current.clone();
    match subresource {
        Some("scale") => {
            let Some(replicas) = after.pointer("/spec/replicas").and_then(Value::as_i64) else {
                return Ok(invalid(resource, name, "spec.replicas: Required value"));
            };
            updated["spec"]["replicas"] = json!(replicas);
        }
        Some("status") => updated["status"] = after.get("status").cloned().unwrap_or(json!({})),
        _ if resource.plural == "pods" => {
            // A pod's spec is fixed once created; its labels and annotations may change.
            if after.get("spec") != current.get("spec") {
                return Ok(invalid(
                    resource,
                    name,
                    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)",
                ));
            }
            updated["metadata"]["labels"] = after["metadata"]["labels"].clone();
            updated["metadata"]["annotations"] = after["metadata"]["annotations"].clone();
        }
        _ => {
            for field in ["labels", "annotations"] {
                updated["metadata"][field] = after["metadata"][field].clone();
            }
            // ConfigMaps and Secrets keep what they hold beside their metadata.
            let fields: &[&str] = match resource.plural {
                "configmaps" => &["data", "binaryData"],
                "secrets" => &["data", "stringData", "type"],
                _ => &["spec"],
            };
            for field in fields {
                match after.get(*field) {
                    Some(value) => updated[*field] = value.clone(),
                    None => {
                        updated.as_object_mut().expect("an object").remove(*field);
                    }
                }
            }
            if resource.plural == "secrets" {
                merge_string_data(&mut updated);
            }
        }
    }
    if let Some(metadata) = updated["metadata"].as_object_mut() {
        metadata.retain(|_, value| !value.is_null());
    }
    if let Err(refused) = validate(resource, name, &updated) {
        return Ok(refused);
    }
    let key = world.put(resource.plural, updated);
    world.reconcile();
    let dry = dry_run(request.query);
    if !dry {
        store.save(&mut world).await?;
    }
    let mut answer = world.get(&key.0, &key.1, &key.2).cloned().unwrap_or(json!({}));
    if dry {
        answer["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    }
    Ok(ApiResponse::ok(&if subresource == Some("scale") { scale_of(&answer) } else { answer }))
}

/// A secret's `stringData` written into its `data` (base64), as the API server does.
fn merge_string_data(secret: &mut Value) {
    use k8s_openapi::ByteString;
    let Ok(mut typed) = serde_json::from_value::<k8s_openapi::api::core::v1::Secret>(secret.clone()) else { return };
    let Some(strings) = typed.string_data.take() else { return };
    let data = typed.data.get_or_insert_default();
    for (key, value) in strings {
        data.insert(key, ByteString(value.into_bytes()));
    }
    if let Ok(encoded) = serde_json::to_value(&typed) {
        secret["data"] = encoded["data"].clone();
        secret.as_object_mut().expect("an object").remove("stringData");
    }
}

/// Creates an object from the body: its name given or generated, its status left to the
/// cluster, `AlreadyExists` when the name is taken.
async fn create<S: Store>(
    store: &mut S,
    resource: &'static Resource,
    namespace: &str,
    request: &ApiRequest<'_>,
) -> Result<ApiResponse, S::Error> {
    let mut object = match serde_json::from_slice::<Value>(request.body) {
        Ok(body) if body.is_object() => body,
        _ => return Ok(status(400, "BadRequest", "the body of the request is not a JSON object", None)),
    };
    if !text(&object, "/kind").is_empty() && text(&object, "/kind") != resource.kind {
        let message = format!("the body is a {}, not a {}", text(&object, "/kind"), resource.kind);
        return Ok(status(400, "BadRequest", &message, None));
    }
    let given = text(&object, "/metadata/namespace");
    if !given.is_empty() && given != namespace {
        return Ok(status(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
            None,
        ));
    }
    let name = match (text(&object, "/metadata/name"), text(&object, "/metadata/generateName")) {
        ("", "") => {
            return Ok(invalid(resource, "", "metadata.name: Required value: name or generateName is required"));
        }
        ("", prefix) => format!("{prefix}{}", super::world::suffix(5)),
        (name, _) => name.to_string(),
    };
    object["apiVersion"] = json!(api_version(resource.group));
    object["kind"] = json!(resource.kind);
    object["metadata"]["name"] = json!(name);
    if resource.namespaced {
        object["metadata"]["namespace"] = json!(namespace);
    } else if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.remove("namespace");
    }
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for field in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
            metadata.remove(field);
        }
    }
    if let Some(fields) = object.as_object_mut() {
        fields.remove("status");
    }
    if resource.plural == "secrets" {
        merge_string_data(&mut object);
    }
    if let Err(refused) = validate(resource, &name, &object) {
        return Ok(refused);
    }
    let mut world = store.lock().await?;
    if resource.namespaced && world.get("namespaces", "", namespace).is_none() {
        return Ok(status(
            404,
            "NotFound",
            &format!("namespaces \"{namespace}\" not found"),
            Some(json!({"name": namespace, "kind": "namespaces"})),
        ));
    }
    if world.get(resource.plural, namespace, &name).is_some() {
        return Ok(status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", qualified(resource)),
            Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
        ));
    }
    let key = world.put(resource.plural, object);
    world.reconcile();
    if !dry_run(request.query) {
        store.save(&mut world).await?;
    }
    let answer = world.get(&key.0, &key.1, &key.2).cloned().unwrap_or(json!({}));
    Ok(ApiResponse::json(201, &answer))
}

async fn delete<S: Store>(
    store: &mut S,
    resource: &'static Resource,
    namespace: &str,
    name: &str,
    request: &ApiRequest<'_>,
) -> Result<ApiResponse, S::Error> {
    let options: Value = serde_json::from_slice(request.body).unwrap_or(json!({}));
    let mut world: World = store.lock().await?;
    let Some(current) = world.get(resource.plural, namespace, name).cloned() else {
        return Ok(not_found(resource, name));
    };
    for (field, pointer) in [("uid", "/metadata/uid"), ("resourceVersion", "/metadata/resourceVersion")] {
        let wanted = options.pointer(&format!("/preconditions/{field}")).and_then(Value::as_str);
        if let Some(wanted) = wanted.filter(|wanted| *wanted != text(&current, pointer)) {
            let message = format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {field} in precondition: {wanted}, {field} in object meta: {}",
                qualified(resource),
                text(&current, pointer)
            );
            return Ok(status(409, "Conflict", &message, Some(json!({"name": name, "kind": resource.plural}))));
        }
    }
    let dry = dry_run(request.query)
        || options.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All"));
    world.remove(resource.plural, namespace, name);
    if resource.plural == "pods" {
        let container = text(&current, "/spec/containers/0/name").to_string();
        world.event(&current, "Pod", false, "Killing", &format!("Stopping container {container}"), 1);
    }
    world.reconcile();
    if !dry {
        store.save(&mut world).await?;
    }
    let mut answer = current;
    answer["metadata"]["deletionTimestamp"] = json!(super::world::timestamp(chrono::Utc::now()));
    answer["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    Ok(ApiResponse::ok(&answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_what_the_kubernetes_api_serves_there() {
        assert!(matches!(route("/version"), Some(Target::Version)));
        assert!(matches!(route("/apis/apps/v1"), Some(Target::Resources("apps"))));
        assert!(matches!(route("/api/v1/pods"), Some(Target::Collection { namespace: None, .. })));
        assert!(matches!(
            route("/api/v1/namespaces/demo/pods"),
            Some(Target::Collection { namespace: Some("demo"), .. })
        ));
        assert!(matches!(route("/api/v1/namespaces/demo"), Some(Target::Object { name: "demo", .. })));
        assert!(matches!(
            route("/apis/apps/v1/namespaces/demo/deployments/web/scale"),
            Some(Target::Object { name: "web", subresource: Some("scale"), .. })
        ));
        assert!(matches!(
            route("/api/v1/namespaces/demo/pods/p/log"),
            Some(Target::Object { subresource: Some("log"), .. })
        ));
        assert!(route("/api/v1/namespaces/demo/pods/p/exec").is_none());
        assert!(matches!(route("/apis/batch/v1/namespaces/demo/jobs"), Some(Target::Collection { .. })));
        assert!(matches!(route("/api/v1/nodes/n/status"), Some(Target::Object { subresource: Some("status"), .. })));
        assert!(matches!(route("/apis/networking.k8s.io/v1/ingresses"), Some(Target::Collection { .. })));
        assert!(matches!(
            route("/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers/web"),
            Some(Target::Object { name: "web", .. })
        ));
        assert!(route("/apis/autoscaling/v1/namespaces/demo/horizontalpodautoscalers").is_none());
        assert!(route("/apis/policy/v1/poddisruptionbudgets").is_none());
        let listed: Vec<String> =
            groups()["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap().to_string()).collect();
        let mut unique = listed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(listed.len(), unique.len(), "each group once: {listed:?}");
        assert!(route("/api/v1/nodes/x/y").is_none());
    }

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            param("labelSelector=app%3Dweb%2Ctier%20in%20(a)&limit=5", "labelSelector").as_deref(),
            Some("app=web,tier in (a)")
        );
        assert_eq!(param("a=1", "b"), None);
        assert_eq!(param("a=100%", "a").as_deref(), Some("100%"));
        // `%+1` is not an escape (the hand-written decoder once read it as byte 1).
        assert_eq!(param("a=%+1&a=2", "a").as_deref(), Some("% 1"));
    }
}
