//! Writing: validation as the API server does it, creates, patches and replacements
//! (with dry runs), and deletes, each applied to the cluster under its lock.

use super::*;

pub(super) fn dry_run(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(key, value)| key == "dryRun" && value == "All")
}

/// Whether `object` matches the schema of `T` (the API server's first check).
pub(super) fn conforms<T: serde::de::DeserializeOwned>(object: &Value) -> Result<(), serde_json::Error> {
    T::deserialize(object).map(|_| ())
}

/// Checks a changed deployment or pod the way the API server's validation would.
pub(super) fn validate(resource: &Resource, name: &str, object: &Value) -> Result<(), ApiResponse> {
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

pub(super) async fn change<S: Store>(
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
pub(super) fn merge_string_data(secret: &mut Value) {
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
pub(super) async fn create<S: Store>(
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
        ("", prefix) => format!("{prefix}{}", crate::world::suffix(5)),
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

pub(super) async fn delete<S: Store>(
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
    answer["metadata"]["deletionTimestamp"] = json!(crate::world::timestamp(chrono::Utc::now()));
    answer["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    Ok(ApiResponse::ok(&answer))
}
