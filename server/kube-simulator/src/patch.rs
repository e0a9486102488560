//! The three patch formats the Kubernetes API takes on a PATCH, by content type: JSON
//! merge patch (RFC 7386), JSON patch (RFC 6902), and the strategic merge patch that
//! merges lists of containers, variables and mounts by their keys.

use serde_json::{Map, Value};

/// A patch could not be applied; the message says why (served as 422 or 415).
#[derive(Debug, PartialEq, Eq)]
pub enum PatchError {
    /// The content type is not a patch format the API takes.
    Unsupported(String),
    /// The body is not a valid patch of its format, or does not apply.
    Invalid(String),
}

/// `target` with `patch` (the request body, of `content_type`) applied.
pub fn apply(target: &Value, content_type: &str, patch: &[u8]) -> Result<Value, PatchError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    let parsed = |body: &[u8]| -> Result<Value, PatchError> {
        serde_json::from_slice(body)
            .map_err(|error| PatchError::Invalid(format!("the patch is not valid JSON: {error}")))
    };
    let mut patched = target.clone();
    match media {
        "application/merge-patch+json" => json_patch::merge(&mut patched, &parsed(patch)?),
        "application/json-patch+json" => {
            let operations: json_patch::Patch = serde_json::from_value(parsed(patch)?)
                .map_err(|error| PatchError::Invalid(format!("the JSON patch is malformed: {error}")))?;
            apply_operations(&mut patched, &operations, patch.len())?;
        }
        "application/strategic-merge-patch+json" => {
            let patch = parsed(patch)?;
            if !patch.is_object() {
                return Err(PatchError::Invalid("a strategic merge patch must be a JSON object".into()));
            }
            strategic_merge(&mut patched, &patch, "");
        }
        other => {
            return Err(PatchError::Unsupported(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (not {other:?})"
            )));
        }
    }
    Ok(patched)
}

/// The largest object a JSON patch's copies may make, in bytes of JSON. Kubernetes stores
/// objects of 1.5 MiB at most; the demo cluster's are a few KB, and copying its way up
/// to 1.5 MiB took a fuzzed patch of 15 copies 300 ms (the bound applies to copies only).
pub const MAX_OBJECT_BYTES: usize = 64 * 1024;

/// Applies a JSON patch's operations one by one. Only `copy` can make an object larger
/// than the patch that asks for it — each can double it, so a few dozen in a small body
/// would ask for more memory than any machine has — so the object's size is bounded
/// before each copy is made.
fn apply_operations(target: &mut Value, operations: &json_patch::Patch, patch_bytes: usize) -> Result<(), PatchError> {
    let json_bytes = |value: &Value| serde_json::to_vec(value).map_or(0, |bytes| bytes.len());
    let mut bound = json_bytes(target) + patch_bytes;
    for operation in operations.iter() {
        if let json_patch::PatchOperation::Copy(copy) = operation {
            bound += target.pointer(copy.from.as_str()).map_or(0, json_bytes);
            if bound > MAX_OBJECT_BYTES {
                return Err(PatchError::Invalid(format!(
                    "the patch's copies would make the object larger than {} KiB",
                    MAX_OBJECT_BYTES / 1024
                )));
            }
        }
        json_patch::patch(target, std::slice::from_ref(operation))
            .map_err(|error| PatchError::Invalid(error.to_string()))?;
    }
    Ok(())
}

/// The key that identifies elements of the list at field `field`, when it is merged.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => {
            Some("name")
        }
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "ports" if items.iter().any(|item| item.get("containerPort").is_some()) => Some("containerPort"),
        "ports" => Some("port"),
        _ => None,
    }
}

fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(target), Some(patch)) => merge_objects(target, patch),
        _ => match (target.as_array_mut(), patch.as_array()) {
            (Some(target), Some(patch)) if merge_key(field, patch).is_some() => {
                merge_lists(target, patch, merge_key(field, patch).expect("checked"))
            }
            _ => *target = without_directives(patch),
        },
    }
}

fn merge_objects(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = without_directives(&Value::Object(patch.clone())).as_object().cloned().unwrap_or_default();
        return;
    }
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target.remove(key);
        } else if let Some(existing) = target.get_mut(key) {
            strategic_merge(existing, value, key);
        } else {
            target.insert(key.clone(), without_directives(value));
        }
    }
}

fn merge_lists(target: &mut Vec<Value>, patch: &[Value], key: &str) {
    for item in patch {
        let id = item.get(key);
        let position = id.and_then(|id| target.iter().position(|existing| existing.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(index), true) => {
                target.remove(index);
            }
            (None, true) => {}
            (Some(index), false) => strategic_merge(&mut target[index], item, ""),
            (None, false) => target.push(without_directives(item)),
        }
    }
}

/// `value` with the patch directives (`$patch`, `$setElementOrder/…`) taken out.
fn without_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !key.starts_with('$'))
                .map(|(k, v)| (k.clone(), without_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "app", "image": "a:1", "resources": {"limits": {"memory": "256Mi", "cpu": "500m"}}, "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "s:1"}
        ]}}}})
    }

    #[test]
    fn copies_cannot_grow_an_object_past_the_bound() {
        // Each copy of the whole object into itself doubles it: 2^40 times 200 bytes.
        let doubling: Vec<Value> =
            (0..40).map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")})).collect();
        let refused = apply(&deployment(), "application/json-patch+json", &serde_json::to_vec(&doubling).unwrap());
        assert!(matches!(refused, Err(PatchError::Invalid(message)) if message.contains("larger than 64 KiB")));
        let some = serde_json::to_vec(&doubling[..3]).unwrap();
        let copied = apply(&deployment(), "application/json-patch+json", &some).unwrap();
        assert_eq!(copied["c2"]["c1"]["c0"]["spec"], deployment()["spec"]);
    }

    #[test]
    fn strategic_merge_merges_containers_by_name_as_kubectl_set_resources_sends() {
        let patch = br#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"},{"name":"sidecar"}],
            "containers":[{"name":"app","resources":{"limits":{"memory":"512Mi"}}}]}}}}"#;
        let patched = apply(&deployment(), "application/strategic-merge-patch+json", patch).unwrap();
        let app = &patched["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(app["resources"]["limits"], json!({"memory": "512Mi", "cpu": "500m"}));
        assert_eq!(app["image"], "a:1");
        assert_eq!(patched["spec"]["template"]["spec"]["containers"][1]["name"], "sidecar");
        assert!(!patched.to_string().contains("$setElementOrder"));
    }

    #[test]
    fn strategic_merge_adds_deletes_and_nulls_out() {
        let patch = br#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"now"}},
            "spec":{"containers":[{"name":"app","env":[{"name":"B","value":"2"},{"name":"A","$patch":"delete"}]},{"name":"sidecar","$patch":"delete"}]}}}}"#;
        let patched = apply(&deployment(), "application/strategic-merge-patch+json", patch).unwrap();
        let containers = patched["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["env"], json!([{"name": "B", "value": "2"}]));
        assert_eq!(patched["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"], "now");
        let nulled =
            apply(&deployment(), "application/strategic-merge-patch+json", br#"{"spec":{"replicas":null}}"#).unwrap();
        assert!(nulled["spec"].get("replicas").is_none());
    }

    #[test]
    fn merge_patch_replaces_lists_and_json_patch_tests_paths() {
        let merged = apply(&deployment(), "application/merge-patch+json", br#"{"spec":{"replicas":3}}"#).unwrap();
        assert_eq!(merged["spec"]["replicas"], 3);
        let replaced = apply(
            &deployment(),
            "application/json-patch+json",
            br#"[{"op":"replace","path":"/spec/replicas","value":0}]"#,
        )
        .unwrap();
        assert_eq!(replaced["spec"]["replicas"], 0);
        let missing = apply(
            &deployment(),
            "application/json-patch+json",
            br#"[{"op":"replace","path":"/metadata/annotations","value":{}}]"#,
        );
        assert!(matches!(missing, Err(PatchError::Invalid(_))));
        assert!(matches!(apply(&deployment(), "text/plain", b"{}"), Err(PatchError::Unsupported(_))));
        assert!(matches!(apply(&deployment(), "application/merge-patch+json", b"{"), Err(PatchError::Invalid(_))));
    }
}
