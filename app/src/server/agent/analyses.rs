//! The analyses as people read them: progress on the incident page, retrying a failed
//! one, responders' verdicts, and the dashboard's diagnosis accuracy.

use super::*;
use crate::server::jobs::{JobState, Kind};

#[derive(sqlx::FromRow)]
pub(super) struct AnalysisRow {
    feedback_verdict: Option<String>,
    feedback_correction: Option<String>,
    feedback_by: Option<String>,
    feedback_at: Option<DateTime<Utc>>,
    family: String,
    root_cause: String,
    confidence: String,
    evidence: serde_json::Value,
    actions: serde_json::Value,
    workload: Option<serde_json::Value>,
    llm_model: Option<String>,
    llm_answer: Option<String>,
    created_at: DateTime<Utc>,
    diagnosed_after_ms: i64,
}

/// Where the agent is with the team's incident: its analysis when done.
pub async fn progress(db: &PgPool, team: Uuid, incident: Uuid) -> Result<AgentProgress, AppError> {
    let analysis: Option<AnalysisRow> = sqlx::query_as(
        "select a.family, a.root_cause, a.confidence, a.evidence, a.actions, a.workload, a.llm_model, a.llm_answer, a.created_at,
                a.diagnosed_after_ms, f.verdict as feedback_verdict, f.correction as feedback_correction,
                f.given_by as feedback_by, f.given_at as feedback_at
         from analyses a left join analysis_feedback f on f.incident_id = a.incident_id
         where a.incident_id = $1 and a.team_id = $2",
    )
    .bind(incident)
    .bind(team)
    .fetch_optional(db)
    .await
    .or_internal("reading an analysis failed")?;
    if let Some(row) = analysis {
        return Ok(AgentProgress::Done(Box::new(AnalysisView {
            family: Family::parse(&row.family).unwrap_or(Family::Unknown),
            root_cause: row.root_cause,
            confidence: Confidence::parse(&row.confidence),
            evidence: serde_json::from_value(row.evidence).unwrap_or_default(),
            actions: serde_json::from_value(row.actions).unwrap_or_default(),
            workload: row.workload.and_then(|w| w.as_str().map(str::to_string)),
            llm_model: row.llm_model,
            llm_answer: row.llm_answer,
            created_at: row.created_at,
            diagnosed_after_ms: row.diagnosed_after_ms,
            feedback: match (row.feedback_verdict, row.feedback_by, row.feedback_at) {
                (Some(verdict), Some(given_by), Some(given_at)) => Some(Feedback {
                    right: verdict == "right",
                    correction: row.feedback_correction,
                    given_by,
                    given_at,
                }),
                _ => None,
            },
        })));
    }
    let job: Option<(String, i32, Option<String>)> =
        sqlx::query_as("select state, attempts, last_error from agent_jobs where incident_id = $1 and team_id = $2")
            .bind(incident)
            .bind(team)
            .fetch_optional(db)
            .await
            .or_internal("reading an analysis failed")?;
    let Some((state, attempts, error)) = job else {
        // Held over quota, or another team's incident (or none): only the first is an answer.
        let exists: bool = sqlx::query_scalar("select exists (select 1 from incidents where id = $1 and team_id = $2)")
            .bind(incident)
            .bind(team)
            .fetch_one(db)
            .await
            .or_internal("reading an analysis failed")?;
        return if exists { Ok(AgentProgress::NotQueued) } else { Err(AppError::NotFound) };
    };
    Ok(match <Analyses as Kind>::QUEUE.state(&state) {
        JobState::Waiting => AgentProgress::Queued { attempts },
        JobState::Parked => AgentProgress::Failed { error: error.unwrap_or_default(), attempts },
        // Running, or done with the analysis not yet read.
        JobState::Running | JobState::Finished => AgentProgress::Working,
    })
}

/// Queues the team's failed analysis of `incident` again, on its timeline and audited.
pub async fn retry(state: &AppState, acting: &Acting, incident: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("retrying an analysis failed")?;
    if !jobs::retry(&mut tx, acting.team_id, incident).await.or_internal("retrying an analysis failed")? {
        let exists: bool = sqlx::query_scalar("select exists (select 1 from incidents where id = $1 and team_id = $2)")
            .bind(incident)
            .bind(acting.team_id)
            .fetch_one(&mut *tx)
            .await
            .or_internal("retrying an analysis failed")?;
        return Err(if exists {
            AppError::Conflict("The analysis has not failed: nothing to retry.".into())
        } else {
            AppError::NotFound
        });
    }
    crate::server::db::timeline::append(
        &mut *tx,
        acting.team_id,
        incident,
        "agent.retry",
        &acting.name(),
        "Analysis queued again.",
    )
    .await
    .or_internal("retrying an analysis failed")?;
    acting.audit(&mut *tx, "incident.analysis_retried", Some(&incident.to_string()), serde_json::json!({})).await?;
    sqlx::query("select pg_notify('agent_jobs', '')")
        .execute(&mut *tx)
        .await
        .or_internal("retrying an analysis failed")?;
    tx.commit().await.or_internal("retrying an analysis failed")?;
    state.live.publish(
        acting.team_id,
        [LiveEvent::new(LiveKind::TimelineEntry, incident), LiveEvent::new(LiveKind::IncidentUpdate, incident)],
    );
    Ok(())
}

/// Records a responder's verdict on the team's analysis of `incident` (replacing an
/// earlier one), on the timeline and audited.
pub async fn give_feedback(
    state: &AppState,
    acting: &Acting,
    incident: Uuid,
    right: bool,
    correction: Option<&str>,
) -> Result<(), AppError> {
    let correction = correction.map(str::trim).filter(|c| !c.is_empty());
    if correction.is_some_and(|c| c.chars().count() > 2000) {
        return Err(AppError::field("correction", "A correction is 2,000 characters at most."));
    }
    let mut tx = state.db.begin().await.or_internal("saving feedback failed")?;
    let saved = sqlx::query(
        "insert into analysis_feedback (incident_id, team_id, verdict, correction, given_by)
         select incident_id, team_id, $3, $4, $5 from analyses where incident_id = $1 and team_id = $2
         on conflict (incident_id) do update set verdict = excluded.verdict, correction = excluded.correction,
             given_by = excluded.given_by, given_at = now()",
    )
    .bind(incident)
    .bind(acting.team_id)
    .bind(if right { "right" } else { "wrong" })
    .bind(correction)
    .bind(acting.name())
    .execute(&mut *tx)
    .await
    .or_internal("saving feedback failed")?;
    if saved.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    let message = match (right, correction) {
        (true, _) => "Marked the analysis right.".to_string(),
        (false, Some(correction)) => format!("Marked the analysis wrong: {correction}"),
        (false, None) => "Marked the analysis wrong.".to_string(),
    };
    crate::server::db::timeline::append(
        &mut *tx,
        acting.team_id,
        incident,
        "analysis.feedback",
        &acting.name(),
        &message,
    )
    .await
    .or_internal("saving feedback failed")?;
    acting
        .audit(&mut *tx, "incident.analysis_feedback", Some(&incident.to_string()), serde_json::json!({"right": right}))
        .await?;
    tx.commit().await.or_internal("saving feedback failed")?;
    state.live.publish(
        acting.team_id,
        [LiveEvent::new(LiveKind::TimelineEntry, incident), LiveEvent::new(LiveKind::IncidentUpdate, incident)],
    );
    Ok(())
}

/// The weeks shown in the accuracy figures.
pub(super) const ACCURACY_WEEKS: i32 = 8;

/// How right the team's analyses were by week, and the latest wrong ones.
pub async fn accuracy(db: &PgPool, team: Uuid, now: DateTime<Utc>) -> Result<DiagnosisAccuracy, sqlx::Error> {
    let weeks = sqlx::query_as::<_, (chrono::NaiveDate, i64, i64)>(
        "select w::date, count(f.*) filter (where f.verdict = 'right'), count(f.*)
         from generate_series(date_trunc('week', $2::timestamptz) - make_interval(weeks => $3 - 1), date_trunc('week', $2::timestamptz), interval '1 week') w
         left join analysis_feedback f on f.team_id = $1 and date_trunc('week', f.given_at) = w
         group by w order by w",
    )
    .bind(team)
    .bind(now)
    .bind(ACCURACY_WEEKS)
    .fetch_all(db);
    let wrong = sqlx::query_as::<_, WrongDiagnosis>(
        "select i.id as incident_id, i.title as incident_title, a.root_cause, f.correction, f.given_at
         from analysis_feedback f join analyses a on a.incident_id = f.incident_id join incidents i on i.id = f.incident_id
         where f.team_id = $1 and f.verdict = 'wrong' order by f.given_at desc limit 10",
    )
    .bind(team)
    .fetch_all(db);
    // Two queries at once: the dashboard waits for the slower, not for both in turn.
    let (weeks, wrong) = tokio::try_join!(weeks, wrong)?;
    Ok(DiagnosisAccuracy { weeks, wrong })
}
