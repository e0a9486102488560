//! Who owns a Kubernetes object: the controller its owner references name, and the
//! deployment a pod belongs to.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The controller owning an object with `references`: its kind and name.
pub fn controller(references: Option<&Vec<OwnerReference>>) -> Option<(String, String)> {
    references?.iter().find(|o| o.controller == Some(true)).map(|o| (o.kind.clone(), o.name.clone()))
}

/// The deployment owning `pod`, by its replica set's name (`web-5d9c8` of `web`).
pub fn deployment_of_pod(pod: &Pod) -> Option<String> {
    match controller(pod.metadata.owner_references.as_ref())? {
        (kind, name) if kind == "ReplicaSet" => name.rsplit_once('-').map(|(deployment, _)| deployment.to_string()),
        (kind, name) if kind == "Deployment" => Some(name),
        _ => None,
    }
}
