//! The demo cluster's job controller: a job runs pods one at a time until as many have
//! succeeded as it wants to complete, or until more have failed than its back-off limit
//! allows — then it is Complete or Failed (BackoffLimitExceeded), with the events the
//! Kubernetes job controller raises. Pods of a deleted job go with it.

use serde_json::{Value, json};

use super::world::{Key, World, owner_uid, text, timestamp};

/// What a job's status says of its end, if it has ended.
fn ended(job: &Value) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"))
}

fn number(job: &Value, pointer: &str, default: i64) -> i64 {
    job.pointer(pointer).and_then(Value::as_i64).unwrap_or(default)
}

impl World {
    /// Runs every job that has not ended, and removes the pods of jobs that are gone.
    pub(super) fn reconcile_jobs(&mut self) {
        let jobs: Vec<Key> = self.objects.keys().filter(|(r, _, _)| r == "jobs").cloned().collect();
        for key in &jobs {
            self.reconcile_job(key);
        }
        let job_uids: Vec<String> =
            jobs.iter().map(|key| text(&self.objects[key], "/metadata/uid").to_string()).collect();
        let orphans: Vec<Key> = self
            .objects
            .iter()
            .filter(|((resource, _, _), pod)| {
                resource == "pods"
                    && pod.pointer("/metadata/ownerReferences/0/kind") == Some(&json!("Job"))
                    && owner_uid(pod).is_none_or(|uid| !job_uids.iter().any(|j| j == uid))
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in orphans {
            self.objects.remove(&key);
        }
    }

    fn reconcile_job(&mut self, key: &Key) {
        let Some(mut job) = self.objects.get(key).cloned() else { return };
        if ended(&job) {
            return;
        }
        // The labels the API server gives a job's pods, and the selector that finds them.
        let uid = text(&job, "/metadata/uid").to_string();
        let name = key.2.clone();
        for (label, value) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            job["spec"]["template"]["metadata"]["labels"][label] = json!(value);
        }
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] = json!(uid);
        let completions = number(&job, "/spec/completions", 1);
        let backoff_limit = number(&job, "/spec/backoffLimit", 6);
        let start = job.pointer("/status/startTime").cloned().unwrap_or(json!(timestamp(self.now)));
        let mut end = None;
        let (mut active, mut succeeded, mut failed) = (0, 0, 0);
        for _ in 0..completions + backoff_limit + 2 {
            let pods: Vec<&Value> =
                self.list("pods", Some(&key.1)).filter(|pod| owner_uid(pod) == Some(&uid)).collect();
            let phase = |wanted: &str| pods.iter().filter(|pod| text(pod, "/status/phase") == wanted).count() as i64;
            (succeeded, failed) = (phase("Succeeded"), phase("Failed"));
            active = pods.len() as i64 - succeeded - failed;
            if succeeded >= completions {
                end = Some(("Complete", "", "Job completed"));
                break;
            }
            if failed > backoff_limit {
                end = Some(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"));
                break;
            }
            if active > 0 || self.create_pod(&job, "Job").is_err() {
                break;
            }
        }
        let mut status = json!({"startTime": start, "active": active, "succeeded": succeeded, "failed": failed,
                                "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
        if let Some((kind, reason, message)) = end {
            let now = timestamp(self.now);
            let condition = |kind: &str| {
                let mut condition = json!({"type": kind, "status": "True", "message": message,
                                           "lastProbeTime": now, "lastTransitionTime": now});
                if !reason.is_empty() {
                    condition["reason"] = json!(reason);
                }
                condition
            };
            status["conditions"] = if kind == "Failed" {
                json!([condition("FailureTarget"), condition("Failed")])
            } else {
                json!([condition("SuccessCriteriaMet"), condition("Complete")])
            };
            if kind == "Complete" {
                status["completionTime"] = json!(now);
                self.event(&job, "Job", false, "Completed", message, 1);
            } else {
                self.event(&job, "Job", true, reason, message, 1);
            }
        }
        if let Some(object) = status.as_object_mut() {
            object.retain(|_, value| value != &json!(0));
        }
        job["status"] = status;
        self.objects.insert(key.clone(), job);
    }
}
