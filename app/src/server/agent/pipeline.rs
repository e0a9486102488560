//! One analysis: the incident classified, its cluster read (each step on the timeline),
//! the rules' diagnosis stored with the proposed remediation, and the LLM asked after.

use super::*;

/// One incident's timeline, as the agent writes it.
pub struct Timeline<'a> {
    state: &'a AppState,
    team: Uuid,
    incident: Uuid,
}

impl context::Steps for Timeline<'_> {
    /// Writes a step of the analysis.
    async fn step(&self, message: &str) {
        note(self.state, self.team, self.incident, "agent.step", message).await;
    }
}

/// Writes `message` on the incident's timeline as the agent, and says so live.
pub(super) async fn note(state: &AppState, team: Uuid, incident: Uuid, kind: &str, message: &str) {
    let written = crate::server::db::timeline::append(&state.db, team, incident, kind, ACTOR, message).await;
    match written {
        Ok(_) => state.live.publish(team, [LiveEvent::new(LiveKind::TimelineEntry, incident)]),
        Err(error) => tracing::warn!(%error, "writing to a timeline failed"),
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct IncidentRow {
    title: String,
    description: Option<String>,
    service: Option<String>,
    details: serde_json::Value,
    first_seen_at: DateTime<Utc>,
}

/// The cluster an incident is about: the team's cluster named by the alert's `cluster`
/// label (its name or context), else the team's first; its id and default namespace.
pub(super) async fn cluster_for(
    db: &PgPool,
    team: Uuid,
    named: Option<&str>,
) -> Result<Option<(Uuid, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select id, name, namespace from clusters where team_id = $1
         order by (name = $2 or context = $2) desc nulls last, created_at, id limit 1",
    )
    .bind(team)
    .bind(named)
    .fetch_optional(db)
    .await
}

/// Analyses the incident of `job` and stores the analysis with the job's completion;
/// the prompt for the LLMs when they are to be asked.
pub(super) async fn analyse(state: &AppState, held: &Held<Analyses>, job: &Job) -> Result<Option<String>, String> {
    let db = &state.db;
    let (team, incident) = (job.team_id, job.incident_id);
    let row: Option<IncidentRow> = sqlx::query_as(
        "select title, description, service, details, first_seen_at from incidents where id = $1 and team_id = $2",
    )
    .bind(incident)
    .bind(team)
    .fetch_optional(db)
    .await
    .map_err(|e| e.to_string())?;
    let Some(row) = row else {
        held.finish(db, "done").await.map_err(|e| e.to_string())?;
        return Ok(None);
    };
    if job.attempts == 1 {
        note(state, team, incident, "agent.started", "Started analysing the incident.").await;
        // PagerDuty hears that someone is on it; Slack hears of the incident.
        let mut db = state.db.acquire().await.map_err(|e| e.to_string())?;
        crate::server::outbound::analysis_started(&mut db, state, team, incident).await.map_err(|e| e.to_string())?;
    }
    let facts = IncidentFacts {
        title: row.title,
        description: row.description.unwrap_or_default(),
        service: row.service,
        details: row.details,
    };
    let found = classify::classify(&facts);
    note(state, team, incident, "agent.step", &classified(&found)).await;

    let mut cluster_id = None;
    let context = if found.family.is_kubernetes() || found.namespace.is_some() {
        match cluster_for(db, team, found.cluster.as_deref()).await.map_err(|e| e.to_string())? {
            None => {
                note(state, team, incident, "agent.step", "No cluster to read: the team has none.").await;
                None
            }
            Some((id, name, namespace)) => {
                cluster_id = Some(id);
                match crate::server::cluster_client::connect(state, team, id).await {
                    Ok(client) => {
                        note(state, team, incident, "agent.step", &format!("Reading cluster {name}.")).await;
                        let timeline = Timeline { state, team, incident };
                        Some(context::gather(&client, &namespace, &found, &timeline).await)
                    }
                    Err(error) => {
                        note(state, team, incident, "agent.step", &format!("Cluster {name} cannot be used: {error}"))
                            .await;
                        None
                    }
                }
            }
        }
    } else {
        None
    };
    let mut diagnosis = rules::diagnose(&facts, &found, context.as_ref());
    let subject = crate::server::runbooks::Subject::of(facts.service.as_deref(), &facts.details);
    let runbook = crate::server::runbooks::best(db, team, &subject).await.map_err(|e| e.to_string())?.map(
        |(summary, body, matched_by)| MatchedRunbook {
            title: summary.title,
            version: summary.version,
            matched_by,
            body,
        },
    );
    if let Some(runbook) = &runbook {
        let message = format!(
            "Found the team's runbook \"{}\" (matched by {}): it is quoted in the evidence and shown beside the analysis.",
            runbook.title, runbook.matched_by
        );
        note(state, team, incident, "agent.step", &message).await;
        diagnosis.evidence.push(runbook.evidence());
    }
    what_changed(state, team, incident, &facts, &found, context.as_ref(), row.first_seen_at, &mut diagnosis).await;
    if !store(state, held, job, &diagnosis, cluster_id, row.first_seen_at).await? {
        return Ok(None);
    }
    let settings = &state.settings.agent.llm;
    let team_provider = team_llm::provider(state, team).await.map_err(|e| e.to_string())?;
    if settings.providers.is_empty() && team_provider.is_none() {
        return Ok(None);
    }
    let prompt = prompt(&facts, &diagnosis, context.as_ref(), runbook.as_ref());
    Ok(Some(if settings.redact { llm::redact(&prompt) } else { prompt }))
}

/// What changed in the service's repository before the first alert (when the team
/// connected GitHub and mapped the service), on the timeline and in the evidence; a
/// change rolled out shortly before the alert makes a recommended roll-back likelier.
#[allow(clippy::too_many_arguments)]
async fn what_changed(
    state: &AppState,
    team: Uuid,
    incident: Uuid,
    facts: &IncidentFacts,
    found: &Classification,
    context: Option<&context::ClusterContext>,
    first_alert: DateTime<Utc>,
    diagnosis: &mut Diagnosis,
) {
    use crate::domain::analysis::{Change, Confidence, Evidence};
    use crate::server::github::{self, Rollout};
    let Some(service) = facts.service.clone().or_else(|| found.subject.as_ref().and_then(|s| s.name.clone())) else {
        return;
    };
    let rollouts: Vec<Rollout> = context
        .map(|context| {
            context
                .replica_sets
                .iter()
                .filter_map(|set| {
                    let revision = crate::server::cluster_client::writes::revision(set)?;
                    let at = set.metadata.creation_timestamp.as_ref()?.0.as_second();
                    Some(Rollout { revision, at: DateTime::from_timestamp(at, 0)? })
                })
                .collect()
        })
        .unwrap_or_default();
    match github::before_alert(state, team, &service, first_alert, &rollouts).await {
        None | Some(Ok(None)) => {}
        Some(Ok(Some(changed))) => {
            note(state, team, incident, "agent.step", &changed.line).await;
            diagnosis.evidence.push(Evidence { source: "what changed (GitHub)".into(), line: changed.line.clone() });
            let rolls_back = diagnosis.actions.iter().any(|action| matches!(action.change, Change::RollBack { .. }));
            if rolls_back
                && changed.rolled_out.is_some()
                && changed.minutes_before <= github::RELATED_WITHIN.num_minutes()
                && diagnosis.confidence != Confidence::High
            {
                diagnosis.confidence = Confidence::High;
            }
        }
        Some(Err(why)) => {
            let message = format!("What changed could not be read from GitHub: {why}.");
            note(state, team, incident, "agent.step", &message).await;
        }
    }
}

pub(super) fn classified(found: &Classification) -> String {
    let mut message = format!("Classified as {}", found.family.label());
    if let Some(name) = &found.alert_name {
        message.push_str(&format!(" (alert {name})"));
    }
    let mut place: Vec<String> = Vec::new();
    if let Some(subject) = &found.subject {
        let what = match (&subject.namespace, &subject.name) {
            (Some(namespace), Some(name)) => format!("{} {namespace}/{name}", subject.kind.as_str()),
            (None, Some(name)) => format!("{} {name}", subject.kind.as_str()),
            _ => subject.kind.as_str().to_string(),
        };
        place.push(what);
        if let Some(container) = &subject.container {
            place.push(format!("container {container}"));
        }
    }
    if let Some(cluster) = &found.cluster {
        place.push(format!("cluster {cluster}"));
    }
    if !place.is_empty() {
        message.push_str(&format!(": {}", place.join(", ")));
    }
    message.push('.');
    message
}

/// Stores `diagnosis` as the incident's analysis and completes the job, in one
/// transaction (a job finished twice leaves one analysis); false when this worker had
/// lost the job (and stored nothing).
pub(super) async fn store(
    state: &AppState,
    held: &Held<Analyses>,
    job: &Job,
    diagnosis: &Diagnosis,
    cluster: Option<Uuid>,
    first_seen_at: DateTime<Utc>,
) -> Result<bool, String> {
    let failed = |e: sqlx::Error| e.to_string();
    let mut tx = state.db.begin().await.map_err(failed)?;
    if !held.finish(&mut *tx, "done").await.map_err(failed)? {
        // Our lease ran out and another worker has the job: its analysis will count.
        return Ok(false);
    }
    let after = (Utc::now() - first_seen_at).num_milliseconds().max(0);
    let stored = sqlx::query(
        "insert into analyses (incident_id, team_id, family, root_cause, confidence, evidence, actions, cluster_id, workload, diagnosed_after_ms)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (incident_id) do nothing",
    )
    .bind(job.incident_id)
    .bind(job.team_id)
    .bind(diagnosis.family.as_str())
    .bind(&diagnosis.root_cause)
    .bind(diagnosis.confidence.as_str())
    .bind(serde_json::to_value(&diagnosis.evidence).unwrap_or_default())
    .bind(serde_json::to_value(&diagnosis.actions).unwrap_or_default())
    .bind(cluster)
    .bind(diagnosis.workload.as_ref().map(|w| serde_json::json!(w)))
    .bind(after)
    .execute(&mut *tx)
    .await
    .map_err(failed)?;
    if stored.rows_affected() == 1 {
        crate::server::db::timeline::append(
            &mut *tx,
            job.team_id,
            job.incident_id,
            "agent.diagnosis",
            ACTOR,
            &format!("Diagnosis ({} confidence): {}", diagnosis.confidence.as_str(), diagnosis.root_cause),
        )
        .await
        .map_err(failed)?;
        // In autonomous mode the agent acts on it, within the cluster's policy; what it
        // does not act on waits for an approval.
        let mut awaiting = None;
        if let Some(cluster) = cluster {
            let settings = &state.settings.agent.remediation;
            let proposal = crate::server::remediation::propose(
                &mut tx,
                settings,
                job.team_id,
                job.incident_id,
                cluster,
                &diagnosis.actions,
            )
            .await
            .map_err(failed)?;
            if let Some(note) = proposal.note {
                crate::server::db::timeline::append(&mut *tx, job.team_id, job.incident_id, "agent.step", ACTOR, &note)
                    .await
                    .map_err(failed)?;
            }
            awaiting = proposal.awaiting.map(|action| action.title.as_str());
        }
        // PagerDuty gets the diagnosis as a note; Slack hears of an action awaiting approval.
        crate::server::outbound::diagnosed(
            &mut tx,
            state,
            job.team_id,
            job.incident_id,
            &diagnosis.root_cause,
            awaiting,
        )
        .await
        .map_err(failed)?;
        // The team may want an issue for it in GitHub.
        crate::server::github::issues::diagnosed(&mut tx, job.team_id, job.incident_id).await.map_err(failed)?;
    }
    tx.commit().await.map_err(failed)?;
    state.live.publish(
        job.team_id,
        [
            LiveEvent::new(LiveKind::AnalysisReady, job.incident_id),
            LiveEvent::new(LiveKind::TimelineEntry, job.incident_id),
        ],
    );
    Ok(true)
}
