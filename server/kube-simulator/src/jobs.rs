//! The demo cluster's job and cron job controllers: a job runs pods one at a time until
//! as many have succeeded as it wants to complete, or until more have failed than its
//! back-off limit allows — then it is Complete or Failed (BackoffLimitExceeded), with the
//! events the Kubernetes job controller raises. A cron job that is not suspended has its
//! schedule come once, when it is made: one job from its template. Pods of a deleted job,
//! and jobs of a deleted cron job, go with it.

use serde_json::{Value, json};

use super::world::{Key, World, owner_uid, text, timestamp};

/// How a job ended (`Complete` or `Failed`), if it has.
fn outcome(job: &Value) -> Option<&str> {
    job.pointer("/status/conditions")?.as_array()?.iter().find_map(|c| {
        let kind = c["type"].as_str()?;
        (matches!(kind, "Complete" | "Failed") && c["status"] == "True").then_some(kind)
    })
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
        self.remove_orphan_pods("jobs", "Job");
    }

    /// Starts the job of every cron job that has none yet, and tells each how its job went.
    pub(super) fn reconcile_cron_jobs(&mut self) {
        self.remove_orphans("jobs", "cronjobs", "CronJob");
        let cron_jobs: Vec<Key> = self.objects.keys().filter(|(r, _, _)| r == "cronjobs").cloned().collect();
        for key in &cron_jobs {
            self.reconcile_cron_job(key);
        }
    }

    fn reconcile_cron_job(&mut self, key: &Key) {
        let Some(mut cron_job) = self.objects.get(key).cloned() else { return };
        let uid = text(&cron_job, "/metadata/uid").to_string();
        let owned = |job: &&Value| owner_uid(job) == Some(uid.as_str());
        let job = self.list("jobs", Some(&key.1)).find(owned).cloned();
        // Whether the job ran until now: its end is news once.
        let was_active = job.is_none() || cron_job.pointer("/status/active").is_some();
        let job = match job {
            Some(job) => job,
            None if cron_job.pointer("/spec/suspend") == Some(&json!(true)) => return,
            None => {
                let name = format!("{}-{}", key.2, self.now.timestamp() / 60);
                let template = cron_job.pointer("/spec/jobTemplate").cloned().unwrap_or(json!({}));
                let mut job = json!({
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": name, "namespace": key.1,
                                 "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                                 "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": key.2,
                                                      "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
                    "spec": template.get("spec").cloned().unwrap_or(json!({})),
                });
                job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] =
                    json!(timestamp(self.now));
                let job_key = self.put("jobs", job);
                self.event(&cron_job, "CronJob", false, "SuccessfulCreate", &format!("Created job {}", job_key.2), 1);
                cron_job["status"]["lastScheduleTime"] = json!(timestamp(self.now));
                self.reconcile_job(&job_key);
                self.objects[&job_key].clone()
            }
        };
        let job_name = text(&job, "/metadata/name").to_string();
        let reference = json!({"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "namespace": key.1,
                               "uid": text(&job, "/metadata/uid")});
        match outcome(&job) {
            None => cron_job["status"]["active"] = json!([reference]),
            Some(outcome) => {
                if let Some(status) = cron_job["status"].as_object_mut() {
                    status.remove("active");
                }
                if outcome == "Complete" {
                    cron_job["status"]["lastSuccessfulTime"] = job["status"]["completionTime"].clone();
                }
                if was_active {
                    let saw = format!("Saw completed job: {job_name}, condition: {outcome}");
                    self.event(&cron_job, "CronJob", false, "SawCompletedJob", &saw, 1);
                }
            }
        }
        self.objects.insert(key.clone(), cron_job);
    }

    fn reconcile_job(&mut self, key: &Key) {
        let Some(mut job) = self.objects.get(key).cloned() else { return };
        if outcome(&job).is_some() {
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
            if active > 0 || self.create_pod(&job, "Job", None).is_err() {
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
