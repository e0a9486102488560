//! The agent's queue: one analysis job per incident, run by the job runner
//! (`server::jobs`). Jobs are queued by the database, not here: the deferred trigger
//! `incidents_queue_analysis` (migrations/0014_agent.sql) queues an incident and
//! announces it on `agent_jobs` when it is eligible at commit — opened within the team's
//! quota, or released from hold — because ingestion opens and holds incidents in SQL.

use super::*;
use crate::server::config::Settings;
use crate::server::jobs::{Held, Kind, Outcome, Queue, Tuning};

/// The analyses queue.
pub struct Analyses;

/// An analysis job a worker holds.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub team_id: Uuid,
    pub incident_id: Uuid,
    /// Including this one.
    pub attempts: i32,
}

impl Kind for Analyses {
    type Id = i64;
    type Job = Job;

    /// Fair between teams: a team with `AGENT_TEAM_CONCURRENCY` analyses running waits,
    /// so one team's flood or slow cluster cannot hold every worker.
    const QUEUE: Queue = Queue {
        name: "analyses",
        table: "agent_jobs",
        channel: "agent_jobs",
        waiting: "queued",
        running: "running",
        parked: "failed",
        group: &["team_id"],
        also: "",
    };

    fn tuning(settings: &Settings) -> Tuning {
        let agent = &settings.agent;
        Tuning {
            workers: agent.workers,
            lease: agent.lease,
            max_attempts: agent.max_attempts,
            per_group: agent.team_concurrency,
        }
    }

    /// Analyses the incident and stores the analysis with the job's end; the LLM's
    /// opinion follows, outside the lease.
    async fn run(state: &AppState, held: &Held<Self>, job: &Job) -> Outcome {
        match analyse(state, held, job).await {
            Ok(follow_up) => {
                if let Some(prompt) = follow_up {
                    consult(state, job.team_id, job.incident_id, &prompt).await;
                }
                Outcome::Finished
            }
            Err(error) => Outcome::Retry(error),
        }
    }

    async fn parked(state: &AppState, job: &Job, error: &str) {
        let message = format!("Analysis failed after {} attempts: {error}", job.attempts);
        note(state, job.team_id, job.incident_id, "agent.failed", &message).await;
    }
}

/// Queues the team's failed analysis of `incident` again, its attempts reset; false
/// when there is no failed job for it.
pub async fn retry(db: &mut sqlx::PgConnection, team: Uuid, incident: Uuid) -> Result<bool, sqlx::Error> {
    let job: Option<i64> = sqlx::query_scalar("select id from agent_jobs where team_id = $1 and incident_id = $2")
        .bind(team)
        .bind(incident)
        .fetch_optional(&mut *db)
        .await?;
    match job {
        Some(job) => crate::server::jobs::requeue::<Analyses>(db, job).await,
        None => Ok(false),
    }
}
