//! Rules for volumes: claims missing, unbound (a storage class that does not exist),
//! or full.

use super::*;

/// A claim the workload mounts that does not exist, is not bound, or lost its volume.
pub(super) fn volume_claim(context: &ClusterContext) -> Option<Diagnosis> {
    let subject = context.subject_name().map(|w| format!("{w}'s")).unwrap_or_else(|| "The".into());
    if let Some(missing) = context.missing_claims.first() {
        return Some(Diagnosis {
            family: Family::VolumeProblem,
            root_cause: format!("{subject} volume claim {missing} does not exist, so its pods cannot be scheduled."),
            confidence: Confidence::High,
            evidence: warnings(context)
                .into_iter()
                .filter(|e| e.line.contains(missing.as_str()))
                .take(2)
                .chain([evidence("cluster", format!("persistentvolumeclaim \"{missing}\" not found"))])
                .collect(),
            actions: vec![manual(
                &format!("Create the claim {missing}"),
                &["Create the PersistentVolumeClaim the pods mount, or fix the name they mount"],
            )],
            workload: workload(context),
        });
    }
    let claim = context
        .claims
        .iter()
        .find(|claim| matches!(claim.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Pending" | "Lost")))?;
    let claim_name = claim.metadata.name.clone().unwrap_or_default();
    let phase = claim.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    let class = claim.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default();
    let failures: Vec<Evidence> = warnings(context)
        .into_iter()
        .filter(|e| e.source.contains(&claim_name) && !e.source.contains("event of pod"))
        .collect();
    // A class that does not exist (or none named, and no default) is the whole story.
    let classes = context.storage_classes.as_deref();
    let default_class = classes.and_then(|classes| {
        classes
            .iter()
            .find(|c| {
                c.metadata.annotations.as_ref().and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                    == Some(&"true".to_string())
            })
            .and_then(|c| c.metadata.name.clone())
    });
    let class_problem = match classes {
        Some(classes) if phase == "Pending" && !class.is_empty() => {
            (!classes.iter().any(|c| c.metadata.name.as_deref() == Some(class.as_str())))
                .then(|| format!(": it asks for StorageClass {class}, which does not exist"))
        }
        Some(_) if phase == "Pending" && default_class.is_none() => {
            Some(": it names no StorageClass and the cluster has no default one".to_string())
        }
        _ => None,
    };
    let event = failures.first().map(|e| e.line.clone());
    let why = match (&class_problem, &event) {
        (Some(problem), Some(event)) => format!("{problem} ({event})"),
        (Some(problem), None) => problem.clone(),
        (None, Some(event)) => format!(": {event}"),
        (None, None) => String::new(),
    };
    let mut evidence_lines = vec![evidence(
        format!("status of volume claim {claim_name}"),
        format!("phase {phase}, storage class {}", if class.is_empty() { "(default)" } else { &class }),
    )];
    evidence_lines.extend(failures.into_iter().take(2));
    let steps: &[&str] = if phase == "Lost" {
        &["The volume behind the claim is gone: restore it from a backup", "Or re-create the claim and its data"]
    } else {
        &[
            "List the storage classes: kubectl get storageclass",
            "Re-create the claim with a class that exists (a claim's class cannot be changed; it holds no data yet)",
            "Or create the storage class it names",
        ]
    };
    Some(Diagnosis {
        family: Family::VolumeProblem,
        root_cause: format!("{subject} volume claim {claim_name} is {phase}{why}"),
        confidence: Confidence::High,
        evidence: evidence_lines,
        actions: vec![manual("Give the claim a volume", steps)],
        workload: workload(context),
    })
}
