//! The demo cluster's storage: persistent volume claims are bound at once by the storage
//! class they name (or the default class) — or stay Pending with ProvisioningFailed when
//! that class does not exist, as the persistent-volume controller reports it.

use serde_json::{Value, json};

use super::world::{Key, World, text, timestamp};

/// The annotation that makes a storage class the default.
const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// The storage class every demo cluster has, the default.
pub fn standard_class(created: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {DEFAULT_CLASS: "true"}, "creationTimestamp": timestamp(created)},
        "provisioner": "demo.dreamops.io/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    })
}

impl World {
    /// Binds the claims whose class exists; reports once on those whose class does not.
    pub(super) fn reconcile_claims(&mut self) {
        let claims: Vec<Key> = self.objects.keys().filter(|(r, _, _)| r == "persistentvolumeclaims").cloned().collect();
        let default_class = self
            .list("storageclasses", Some(""))
            .find(|class| {
                class.pointer("/metadata/annotations").and_then(|a| a.get(DEFAULT_CLASS)) == Some(&json!("true"))
            })
            .map(|class| text(class, "/metadata/name").to_string());
        for key in claims {
            let claim = self.objects[&key].clone();
            let phase = text(&claim, "/status/phase");
            if phase == "Bound" {
                continue;
            }
            let class = claim
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| default_class.clone());
            let Some(class) = class else { continue };
            let first_look = phase.is_empty();
            let mut updated = claim.clone();
            updated["spec"]["storageClassName"] = json!(class);
            if self.get("storageclasses", "", &class).is_some() {
                let volume = format!("pvc-{}", text(&claim, "/metadata/uid"));
                updated["spec"]["volumeName"] = json!(volume);
                updated["status"] = json!({
                    "phase": "Bound",
                    "accessModes": claim.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
                    "capacity": {"storage": claim.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"))},
                });
                let message = format!("Successfully provisioned volume {volume} using {class}");
                self.event(&claim, "PersistentVolumeClaim", false, "ProvisioningSucceeded", &message, 1);
            } else {
                updated["status"] = json!({"phase": "Pending"});
                if first_look {
                    let message = format!("storageclass.storage.k8s.io \"{class}\" not found");
                    self.event(&claim, "PersistentVolumeClaim", true, "ProvisioningFailed", &message, 1);
                }
            }
            self.objects.insert(key, updated);
        }
    }
}
