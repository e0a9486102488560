//! The simulated Kubernetes REST API: the paths, verbs, discovery documents and
//! `metav1.Status` errors that the kube crate and kubectl use, over the objects a
//! [`Store`] keeps. Here: the store it works on, requests and answers, the errors, and
//! routing a request to `resources` (what is served where), `reads` or `writes`.

mod reads;
mod resources;
mod writes;

use serde_json::{Value, json};

use crate::patch::{self, PatchError};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::world::{World, text};
use crate::{programs, quantity};
use reads::*;
use resources::*;
use writes::*;

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
