//! Rules for jobs: a job that failed, and why its pods did.

use super::*;

/// A job that gave up: its condition, its last pod's exit and the log line that says why.
pub(super) fn job_failed(context: &ClusterContext) -> Option<Diagnosis> {
    let job = context.job.as_ref()?;
    let failed =
        job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Failed" && c.status == "True")?;
    let job_name = job.metadata.name.clone().unwrap_or_default();
    let reason = failed.reason.clone().unwrap_or_default();
    let message = failed.message.clone().unwrap_or_default();
    let attempts = job.status.as_ref().and_then(|s| s.failed).unwrap_or(0);
    let mut evidence_lines = vec![evidence(
        format!("status of job {job_name}"),
        format!("Failed=True ({reason}): {message}; {attempts} pods failed"),
    )];
    let last = context.failing_pod.as_ref();
    let exit =
        last.and_then(|pod| statuses(pod).filter_map(terminated).find(|t| t.exit_code != 0)).map(|t| t.exit_code);
    if let (Some(pod), Some(code)) = (last, exit) {
        evidence_lines
            .push(evidence(format!("status of pod {}", name(pod)), format!("terminated with exit code {code}")));
    }
    let log = context.current_log.as_deref().or(context.previous_log.as_deref()).unwrap_or("");
    let status = last.and_then(|pod| statuses(pod).find(|s| terminated(s).is_some_and(|t| t.exit_code != 0)));
    let found = finding(context, status);
    let line = found.as_ref().map(|f| f.line.clone()).or_else(|| telling_line(log).map(str::to_string));
    if let (Some(pod), Some(line)) = (last, &line) {
        evidence_lines.push(evidence(format!("log of pod {}", name(pod)), line.clone()));
    }
    let container = status.map(|s| s.name.clone()).or_else(|| context.failing_container.clone()).unwrap_or_default();
    let (family, cause) = match (&found, &line) {
        (Some(found), _) => {
            let cause = log_cause(context, &format!("its container {container}"), &container, found);
            (cause.family, cause.root_cause)
        }
        (None, Some(line)) => (Family::JobFailure, format!("\"{line}\"")),
        (None, None) => {
            (Family::JobFailure, exit.map(|c| format!("exit code {c}")).unwrap_or_else(|| "an unknown error".into()))
        }
    };
    let family = if family == Family::PodCrash { Family::JobFailure } else { family };
    Some(Diagnosis {
        family,
        root_cause: format!("Job {job_name} failed ({reason}) after {attempts} attempts: {cause}."),
        confidence: if line.is_some() { Confidence::High } else { Confidence::Medium },
        evidence: evidence_lines,
        actions: vec![manual(
            "Fix the cause, then run the job again",
            &[
                &format!("Read the failed pods' logs: kubectl logs -n {} job/{job_name}", context.namespace),
                "Fix what the log names (its environment, configuration or input)",
                "Run it again: a failed job does not retry; delete it and create it anew",
            ],
        )],
        workload: Some(format!("{}/job/{job_name}", context.namespace)),
    })
}
