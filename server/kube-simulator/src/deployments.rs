//! The demo cluster's Deployment and ReplicaSet controllers: a deployment rolls out
//! through replica sets (one per pod template, its revision kept for roll-backs, old
//! ones scaled down as the new one becomes available), a replica set keeps its pods,
//! and the deployment's status counts them as Kubernetes does.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::world::*;

impl World {
    pub(crate) fn reconcile_deployment(&mut self, key: &Key) {
        let Some(deployment) = self.objects.get(key).cloned() else { return };
        let namespace = key.1.clone();
        let uid = text(&deployment, "/metadata/uid").to_string();
        // A changed spec is a new generation.
        let generation = deployment.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        let spec_changed = self.counted_specs.get(key) != Some(&deployment["spec"]);
        let generation = if spec_changed || generation == 0 { generation + 1 } else { generation };
        self.counted_specs.insert(key.clone(), deployment["spec"].clone());
        let template = deployment.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let owned: Vec<Key> = self
            .keys("replicasets", &namespace)
            .into_iter()
            .filter(|rs| owner_uid(&self.objects[rs]) == Some(uid.as_str()))
            .collect();
        let newest = owned.iter().map(|rs| revision(&self.objects[rs])).max().unwrap_or(0);
        let current =
            owned.iter().find(|rs| text(&self.objects[*rs], "/metadata/labels/pod-template-hash") == hash).cloned();
        let current = match current {
            Some(rs) => {
                if revision(&self.objects[&rs]) < newest {
                    // Back to an earlier template (a roll-back): that replica set becomes the newest revision.
                    self.objects.get_mut(&rs).expect("listed")["metadata"]["annotations"][REVISION] =
                        json!((newest + 1).to_string());
                }
                rs
            }
            None => self.new_replica_set(&deployment, &template, &hash, newest + 1),
        };
        let desired = replicas(&deployment).max(0);
        let recreate = text(&deployment, "/spec/strategy/type") == "Recreate";
        // A rolling update surges by a quarter (rounded up) and keeps every ready old
        // pod until a new one is ready, step by step, until nothing changes.
        let surge = (desired + 3) / 4;
        let olds: Vec<Key> = owned.iter().filter(|rs| **rs != current).cloned().collect();
        for _ in 0..=desired + 1 {
            if !recreate {
                self.clean_up_unhealthy(&deployment, &olds, &current, desired);
            }
            let old_replicas: i64 = olds.iter().map(|rs| replicas(&self.objects[rs])).sum();
            let new_target = if recreate || old_replicas == 0 {
                desired
            } else {
                desired.min((desired + surge - old_replicas).max(replicas(&self.objects[&current])))
            };
            self.scale_replica_set(&deployment, &current, new_target);
            self.sync_pods(&current);
            let ready_new = self.pods_of(&current).iter().filter(|pod| is_ready(pod)).count() as i64;
            for old in &olds {
                let had = replicas(&self.objects[old]);
                let keep = if recreate { 0 } else { had.min((desired - ready_new).max(0)) };
                self.scale_replica_set(&deployment, old, keep);
                self.sync_pods(old);
            }
            let now_old: i64 = olds.iter().map(|rs| replicas(&self.objects[rs])).sum();
            if now_old == old_replicas && replicas(&self.objects[&current]) == new_target {
                break;
            }
        }
        let current_revision = revision(&self.objects[&current]).to_string();
        let status = self.deployment_status(&deployment, &current, &owned, generation);
        let deployment = self.objects.get_mut(key).expect("listed");
        deployment["metadata"]["generation"] = json!(generation);
        if !deployment["metadata"]["annotations"].is_object() {
            deployment["metadata"]["annotations"] = json!({});
        }
        deployment["metadata"]["annotations"][REVISION] = json!(current_revision);
        deployment["status"] = status;
    }

    /// Scales down old replica sets' pods that are not ready, as far as the deployment's
    /// availability allows (Kubernetes' cleanup of unhealthy replicas; at most a quarter of
    /// the replicas, rounded down, may be unavailable): they serve nothing, and they would
    /// take the room the new pods need.
    pub(crate) fn clean_up_unhealthy(&mut self, deployment: &Value, olds: &[Key], current: &Key, desired: i64) {
        let min_available = desired - desired / 4;
        let new_unavailable = self.pods_of(current).iter().filter(|pod| !is_ready(pod)).count() as i64;
        let all: i64 = olds.iter().chain([current]).map(|rs| self.pods_of(rs).len() as i64).sum();
        let mut room = all - min_available - new_unavailable;
        for old in olds {
            if room <= 0 {
                break;
            }
            let ready = self.pods_of(old).iter().filter(|pod| is_ready(pod)).count() as i64;
            let had = replicas(&self.objects[old]);
            let unhealthy = (had - ready).clamp(0, room);
            if unhealthy > 0 {
                self.scale_replica_set(deployment, old, had - unhealthy);
                self.sync_pods(old);
                room -= unhealthy;
            }
        }
    }

    pub(crate) fn new_replica_set(&mut self, deployment: &Value, template: &Value, hash: &str, revision: i64) -> Key {
        let name = format!("{}-{hash}", text(deployment, "/metadata/name"));
        let mut template = template.clone();
        template["metadata"]["labels"][TEMPLATE_HASH] = json!(hash);
        let mut selector = deployment.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        selector["matchLabels"][TEMPLATE_HASH] = json!(hash);
        let replica_set = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": text(deployment, "/metadata/namespace"),
                "labels": template["metadata"]["labels"].clone(),
                "annotations": {REVISION: revision.to_string(), "deployment.kubernetes.io/desired-replicas": replicas(deployment).to_string()},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": text(deployment, "/metadata/name"),
                                     "uid": text(deployment, "/metadata/uid"), "controller": true, "blockOwnerDeletion": true}],
                "generation": 1,
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0, "observedGeneration": 1},
        });
        self.put("replicasets", replica_set)
    }

    pub(crate) fn scale_replica_set(&mut self, deployment: &Value, rs: &Key, to: i64) {
        let replica_set = self.objects.get_mut(rs).expect("listed");
        let had = replicas(replica_set);
        if had == to {
            return;
        }
        replica_set["spec"]["replicas"] = json!(to);
        let message =
            format!("Scaled {} replica set {} from {had} to {to}", if to > had { "up" } else { "down" }, rs.2);
        self.event(deployment, "Deployment", false, "ScalingReplicaSet", &message, 1);
    }

    pub(super) fn pods_of(&self, rs: &Key) -> Vec<&Value> {
        let uid = text(&self.objects[rs], "/metadata/uid");
        self.list("pods", Some(&rs.1)).filter(|pod| owner_uid(pod) == Some(uid)).collect()
    }

    /// Creates or deletes pods of replica set `rs` until it has as many as it wants.
    pub(crate) fn sync_pods(&mut self, rs: &Key) {
        let want = replicas(&self.objects[rs]).max(0) as usize;
        let mut pods: Vec<(bool, String, String)> = self
            .pods_of(rs)
            .iter()
            .map(|pod| {
                (
                    is_ready(pod),
                    text(pod, "/metadata/creationTimestamp").to_string(),
                    text(pod, "/metadata/name").to_string(),
                )
            })
            .collect();
        if pods.len() > want {
            // Not-ready pods go first, then the youngest.
            pods.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            for (_, _, name) in pods.iter().take(pods.len() - want) {
                self.remove("pods", &rs.1, name);
            }
        }
        let mut refused = None;
        for _ in pods.len()..want {
            let replica_set = self.objects[rs].clone();
            if let Err(message) = self.create_pod(&replica_set, "ReplicaSet", None) {
                refused = Some(message);
                break;
            }
        }
        let pods = self.pods_of(rs);
        let ready = pods.iter().filter(|pod| is_ready(pod)).count();
        let mut status = json!({"replicas": pods.len(), "fullyLabeledReplicas": pods.len(), "readyReplicas": ready,
                                "availableReplicas": ready, "observedGeneration": 1});
        if let Some(message) = refused {
            status["conditions"] = json!([{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                           "message": message, "lastTransitionTime": timestamp(self.now)}]);
        }
        self.objects.get_mut(rs).expect("listed")["status"] = status;
    }

    pub(crate) fn deployment_status(&self, deployment: &Value, current: &Key, owned: &[Key], generation: i64) -> Value {
        let desired = replicas(deployment).max(0);
        let mut all_pods = Vec::new();
        for rs in owned.iter().chain(std::iter::once(current)).collect::<std::collections::BTreeSet<_>>() {
            all_pods.extend(self.pods_of(rs));
        }
        let new_pods = self.pods_of(current);
        let ready = all_pods.iter().filter(|pod| is_ready(pod)).count() as i64;
        let new_ready = new_pods.iter().filter(|pod| is_ready(pod)).count() as i64;
        let now = timestamp(self.now);
        let previous = |kind: &str| {
            deployment
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|conditions| conditions.iter().find(|c| c["type"] == kind).cloned())
        };
        let condition = |kind: &str, ok: bool, reason: &str, message: String| {
            let status = if ok { "True" } else { "False" };
            let since = previous(kind)
                .filter(|c| c["status"] == status)
                .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string))
                .unwrap_or_else(|| now.clone());
            json!({"type": kind, "status": status, "reason": reason, "message": message, "lastUpdateTime": now, "lastTransitionTime": since})
        };
        let available = if ready >= desired {
            condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.".into())
        } else {
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        };
        // A rollout has `progressDeadlineSeconds` (600 by default) from when it began to
        // complete; it began when the condition first named the current replica set.
        let progressing = if new_ready >= desired && new_pods.len() as i64 == desired {
            condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{}\" has successfully progressed.", current.2),
            )
        } else {
            let began = previous("Progressing")
                .filter(|c| {
                    c["reason"] != "NewReplicaSetAvailable"
                        && c["message"].as_str().is_some_and(|m| m.contains(&format!("\"{}\"", current.2)))
                })
                .and_then(|c| c["lastUpdateTime"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()))
                .unwrap_or(self.now - self.backdate.unwrap_or_default());
            let deadline = deployment.pointer("/spec/progressDeadlineSeconds").and_then(Value::as_i64).unwrap_or(600);
            let mut progressing = if self.now - began > Duration::seconds(deadline) {
                condition(
                    "Progressing",
                    false,
                    "ProgressDeadlineExceeded",
                    format!("ReplicaSet \"{}\" has timed out progressing.", current.2),
                )
            } else {
                condition(
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{}\" is progressing.", current.2),
                )
            };
            progressing["lastUpdateTime"] = json!(timestamp(began));
            progressing
        };
        let mut conditions = vec![available, progressing];
        // A replica set refused its pods (a quota, say): the deployment says so.
        let refused = owned.iter().chain(std::iter::once(current)).find_map(|rs| {
            self.objects[rs]
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True"))
        });
        if let Some(refused) = refused {
            conditions.push(condition(
                "ReplicaFailure",
                true,
                "FailedCreate",
                refused["message"].as_str().unwrap_or_default().to_string(),
            ));
        }
        let mut status = json!({
            "observedGeneration": generation,
            "replicas": all_pods.len(),
            "updatedReplicas": new_pods.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": conditions,
        });
        if desired > ready {
            status["unavailableReplicas"] = json!(desired - ready);
        }
        let object = status.as_object_mut().expect("an object");
        object.retain(|_, value| value != &json!(0));
        status
    }
}
