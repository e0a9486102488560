//! Reading: lists (with label and field selectors), single objects, the scale
//! subresource, container logs, and access reviews.

use super::*;

/// The demo cluster's token may do everything.
pub(super) fn access_review(body: &[u8]) -> ApiResponse {
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

pub(super) async fn list<S: Store>(
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
pub(super) fn scale_of(deployment: &Value) -> Value {
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

pub(super) async fn get<S: Store>(
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
pub(super) fn log(world: Option<&World>, pod: &Value, query: &str) -> ApiResponse {
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
