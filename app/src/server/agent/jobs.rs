//! The agent's job queue in PostgreSQL: claiming the next job under a lease (skipping
//! jobs other workers hold), renewing the lease, finishing, failing with back-off and
//! jitter until the attempts run out, releasing on shutdown, and retrying a failed job.

use std::time::Duration;

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// A job a worker holds.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub team_id: Uuid,
    pub incident_id: Uuid,
    /// Including this one.
    pub attempts: i32,
}

/// Claims the next job that is due (or whose lease ran out) for `worker`, for `lease`,
/// fairly between teams: a team with `per_team` analyses running (under live leases, on
/// any instance) waits, and among the others the team with the fewest running goes
/// first, then the oldest job — so one team's flood or slow cluster cannot hold every
/// worker while other teams' incidents wait.
pub async fn claim(db: &PgPool, worker: &str, lease: Duration, per_team: i64) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(
        "with running as (select team_id, count(*) as jobs from agent_jobs
                          where state = 'running' and lease_until >= now() group by team_id)
         update agent_jobs j set state = 'running', attempts = j.attempts + 1, leased_by = $1,
                lease_until = now() + make_interval(secs => $2)
         from (select q.id from agent_jobs q left join running r on r.team_id = q.team_id
               where ((q.state = 'queued' and q.run_after <= now()) or (q.state = 'running' and q.lease_until < now()))
                 and coalesce(r.jobs, 0) < $3
               order by coalesce(r.jobs, 0), q.run_after, q.id
               for update of q skip locked
               limit 1) next
         where j.id = next.id
         returning j.id, j.team_id, j.incident_id, j.attempts",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .bind(per_team)
    .fetch_optional(db)
    .await
}

/// Extends `worker`'s lease on `job`; false when the worker no longer holds it.
pub async fn renew(db: &PgPool, job: i64, worker: &str, lease: Duration) -> Result<bool, sqlx::Error> {
    let renewed = sqlx::query(
        "update agent_jobs set lease_until = now() + make_interval(secs => $3)
         where id = $1 and leased_by = $2 and state = 'running'",
    )
    .bind(job)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Marks `job` done (in the transaction that stores its result); false when `worker`
/// no longer held it.
pub async fn finish(db: impl PgExecutor<'_>, job: i64, worker: &str) -> Result<bool, sqlx::Error> {
    let finished = sqlx::query(
        "update agent_jobs set state = 'done', finished_at = now(), leased_by = null, lease_until = null, last_error = null
         where id = $1 and leased_by = $2 and state = 'running'",
    )
    .bind(job)
    .bind(worker)
    .execute(db)
    .await?;
    Ok(finished.rows_affected() == 1)
}

/// The wait before attempt `attempt + 1`: doubling from one second, capped at five
/// minutes, with up to a quarter of jitter either way.
pub fn back_off(attempt: i32) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.clamp(0, 8) as u32).min(Duration::from_secs(300));
    let jitter = (uuid::Uuid::new_v4().as_bytes()[0] as f64 / 255.0 - 0.5) / 2.0;
    base.mul_f64(1.0 + jitter)
}

/// Records that `job` failed with `error`: queued again after a back-off while attempts
/// remain, else parked as failed.
pub async fn fail(db: &PgPool, job: &Job, worker: &str, error: &str, max_attempts: i32) -> Result<(), sqlx::Error> {
    let parked = job.attempts >= max_attempts;
    sqlx::query(
        "update agent_jobs set state = $3, last_error = $4, leased_by = null, lease_until = null,
                run_after = now() + make_interval(secs => $5),
                finished_at = case when $3 = 'failed' then now() end
         where id = $1 and leased_by = $2",
    )
    .bind(job.id)
    .bind(worker)
    .bind(if parked { "failed" } else { "queued" })
    .bind(error)
    .bind(back_off(job.attempts).as_secs_f64())
    .execute(db)
    .await?;
    Ok(())
}

/// Gives `job` back untouched (on shutdown): due again at once, the attempt not counted.
pub async fn release(db: &PgPool, job: &Job, worker: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update agent_jobs set state = 'queued', attempts = attempts - 1, leased_by = null, lease_until = null, run_after = now()
         where id = $1 and leased_by = $2 and state = 'running'",
    )
    .bind(job.id)
    .bind(worker)
    .execute(db)
    .await?;
    Ok(())
}

/// Queues the team's failed analysis of `incident` again, its attempts reset; false
/// when there is no failed job for it.
pub async fn retry(db: impl PgExecutor<'_>, team: Uuid, incident: Uuid) -> Result<bool, sqlx::Error> {
    let retried = sqlx::query(
        "update agent_jobs set state = 'queued', attempts = 0, run_after = now(), last_error = null, finished_at = null
         where team_id = $1 and incident_id = $2 and state = 'failed'",
    )
    .bind(team)
    .bind(incident)
    .execute(db)
    .await?;
    Ok(retried.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_with_jitter_and_is_capped() {
        for attempt in 1..12 {
            let wait = back_off(attempt).as_secs_f64();
            let base = (2f64.powi(attempt.min(8))).min(300.0);
            assert!(wait >= base * 0.75 && wait <= base * 1.25, "attempt {attempt}: {wait}");
        }
    }
}
