//! Rules for rollouts: a deployment that does not progress, and rolling back to the
//! previous revision.

use super::*;

/// The deployment's previous revision: its number and image, when there is one.
pub(super) fn previous_revision(context: &ClusterContext) -> Option<(i64, i64, Option<String>)> {
    let current = context.replica_sets.first().and_then(revision)?;
    let previous = context.replica_sets.get(1)?;
    let image = previous
        .spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone());
    Some((current, revision(previous)?, image))
}

pub(super) fn roll_back(context: &ClusterContext, why: &str) -> Option<RecommendedAction> {
    let deployment = context.deployment.as_ref()?.metadata.name.clone()?;
    let (from, to, image) = previous_revision(context)?;
    Some(RecommendedAction {
        title: format!(
            "Roll {deployment} back to revision {to}{}: {why}",
            image.as_ref().map(|i| format!(" ({i})")).unwrap_or_default()
        ),
        risk: Risk::Medium,
        reversible: true,
        change: Change::RollBack {
            namespace: context.namespace.clone(),
            deployment,
            from_revision: from,
            to_revision: to,
            to_image: image,
        },
    })
}

pub(super) fn rollout_stuck(context: &ClusterContext) -> Option<Diagnosis> {
    let deployment = context.deployment.as_ref()?;
    let stuck = deployment.status.as_ref()?.conditions.as_ref()?.iter().find(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.status.as_deref() == Some("False")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    })?;
    let name = deployment.metadata.name.clone().unwrap_or_default();
    Some(Diagnosis {
        family: Family::RolloutFailure,
        root_cause: format!("The rollout of {name} is stuck: {}", stuck.message.clone().unwrap_or_default()),
        confidence: Confidence::Medium,
        evidence: vec![evidence(
            format!("status of deployment {name}"),
            format!("Progressing=False: {}", stuck.message.clone().unwrap_or_default()),
        )],
        actions: roll_back(context, "the last revision that rolled out").into_iter().collect(),
        workload: workload(context),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::agent::rules::fixtures::*;
    use serde_json::json;

    #[test]
    fn a_stuck_rollout_rolls_back_and_a_progressing_one_is_left_alone() {
        let stuck = deployment(
            json!({"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                                        "message": "ReplicaSet \"web-new\" has timed out progressing."}]}),
        );
        let found = diagnosis(&context(vec![pod(running(true, json!({})))], json!([]), stuck));
        assert_eq!(found.family, Family::RolloutFailure);
        assert!(matches!(&found.actions[0].change, Change::RollBack { to_revision: 3, .. }));
        let progressing = deployment(
            json!({"conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}),
        );
        assert_ne!(
            diagnosis(&context(vec![pod(running(true, json!({})))], json!([]), progressing)).family,
            Family::RolloutFailure
        );
    }
}
