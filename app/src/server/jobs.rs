//! The one job runner's mechanics, shared by every durable queue (analyses, remediation
//! actions, outbound calls, mails): claiming the next due job with `FOR UPDATE SKIP LOCKED`
//! under a lease, fairly between groups (a team, a destination); renewing the lease
//! while the job runs; one back-off with jitter between attempts; parking a job whose
//! attempts ran out; giving a job back untouched on shutdown; announcing new jobs on the
//! queue's NOTIFY channel. A queue says only what is its own — its table and states, its
//! limits ([`Tuning`]) and what one job does ([`Kind::run`]). The `server` crate's
//! runtime runs the workers; tests run the queues to empty with its `run_pending_jobs`.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgRow, Postgres};
use sqlx::{FromRow as _, PgExecutor, PgPool, Row as _};
use tokio_util::sync::CancellationToken;

use crate::server::config::Settings;
use crate::server::state::AppState;

/// A queue's table and the words its `state` column uses. The table has the runner's
/// columns: `id`, `state`, `attempts`, `run_after`, `leased_by`,
/// `lease_until`, `last_error` and `finished_at`.
pub struct Queue {
    /// The queue's name in logs.
    pub name: &'static str,
    pub table: &'static str,
    /// The channel a new job is announced on ([`announce`]).
    pub channel: &'static str,
    /// The state of a job waiting to run (due from `run_after`).
    pub waiting: &'static str,
    /// The state of a job a worker holds.
    pub running: &'static str,
    /// The state of a job that failed for good.
    pub parked: &'static str,
    /// The columns whose jobs share [`Tuning::per_group`]: at most that many of a group
    /// run at once, across instances, and the group with the fewest running goes first.
    pub group: &'static [&'static str],
    /// A further condition a due job meets (SQL on the candidate row `q`), or "".
    pub also: &'static str,
}

/// Where a job is in its life, whatever words its queue stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Due now or later.
    Waiting,
    /// A worker holds it.
    Running,
    /// Failed for good.
    Parked,
    /// Ended (done, or an outcome of the queue's own).
    Finished,
}

impl Queue {
    /// The state a stored `state` is in.
    pub fn state(&self, stored: &str) -> JobState {
        match stored {
            s if s == self.waiting => JobState::Waiting,
            s if s == self.running => JobState::Running,
            s if s == self.parked => JobState::Parked,
            _ => JobState::Finished,
        }
    }
}

/// How a queue runs, from the settings.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Workers per instance.
    pub workers: usize,
    /// How long a claim lasts unless renewed.
    pub lease: Duration,
    /// Attempts before a failing job is parked.
    pub max_attempts: i32,
    /// Jobs of one group running at once, across instances.
    pub per_group: i64,
}

/// What became of a run.
pub enum Outcome {
    /// The run recorded its end itself, with [`Held::finish`] in the transaction that
    /// stored its result (or it found its job was another worker's by then).
    Finished,
    /// It failed and may succeed later: due again after a back-off, parked once the
    /// attempts are used up.
    Retry(String),
    /// It failed for good: parked at once.
    Park(String),
    /// The remote asked to be called again no sooner than `until` (a rate limit): due
    /// again then, the attempt not counted — waiting out a limit is not failing.
    Later { until: chrono::DateTime<chrono::Utc>, error: String },
}

/// A kind of job: its queue, its rows, and what running one does.
pub trait Kind: Send + Sync + Sized + 'static {
    /// The type of the table's `id`.
    type Id: for<'q> sqlx::Encode<'q, Postgres>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + Copy
        + Send
        + Sync
        + Unpin
        + std::fmt::Display
        + 'static;
    /// A claimed row (the claim returns every column).
    type Job: for<'r> sqlx::FromRow<'r, PgRow> + Send + Sync + Unpin + 'static;

    const QUEUE: Queue;

    /// The longest wait between attempts ([`back_off`]'s cap).
    const LONGEST_WAIT: Duration = Duration::from_secs(300);

    fn tuning(settings: &Settings) -> Tuning;

    /// Runs `job`, which `held` holds.
    fn run(state: &AppState, held: &Held<Self>, job: &Self::Job) -> impl Future<Output = Outcome> + Send;

    /// Says where people look that `job` was parked with `error`.
    fn parked(state: &AppState, job: &Self::Job, error: &str) -> impl Future<Output = ()> + Send;
}

/// A job a worker holds under a lease.
pub struct Held<K: Kind> {
    pub id: K::Id,
    pub worker: String,
    /// The attempts made, this one included.
    pub attempts: i32,
    /// Set once the run recorded its end: the lease needs no renewing after that.
    finished: AtomicBool,
    kind: PhantomData<K>,
}

impl<K: Kind> Held<K> {
    /// Records the job's end as `state` (the queue's done state, or an outcome of its
    /// own), in the transaction of its result; false when the worker no longer held it
    /// (its lease ran out and another worker has it), when nothing must be stored.
    pub async fn finish(&self, db: impl PgExecutor<'_>, state: &str) -> Result<bool, sqlx::Error> {
        let queue = &K::QUEUE;
        let finished = sqlx::query(&format!(
            "update {} set state = $3, finished_at = now(), leased_by = null, lease_until = null, last_error = null
             where id = $1 and leased_by = $2 and state = '{}'",
            queue.table, queue.running
        ))
        .bind(self.id)
        .bind(&self.worker)
        .bind(state)
        .execute(db)
        .await?;
        let held = finished.rows_affected() == 1;
        if held {
            self.finished.store(true, Ordering::Release);
        }
        Ok(held)
    }

    /// Records a failed attempt in `db` — a run passes the transaction that stores what
    /// the attempt learnt, so that both are seen together — due again after the back-off,
    /// or parked (`park`); false when this worker had lost the job. A run that recorded
    /// its failure so returns [`Outcome::Finished`].
    pub async fn fail(&self, db: impl PgExecutor<'_>, error: &str, park: bool) -> Result<bool, sqlx::Error> {
        let queue = &K::QUEUE;
        let failed = sqlx::query(&format!(
            "update {} set state = $3, last_error = $4, leased_by = null, lease_until = null,
                    run_after = now() + make_interval(secs => $5), finished_at = case when $6 then now() end
             where id = $1 and leased_by = $2 and state = '{}'",
            queue.table, queue.running
        ))
        .bind(self.id)
        .bind(&self.worker)
        .bind(if park { queue.parked } else { queue.waiting })
        .bind(error)
        .bind(back_off(self.attempts, K::LONGEST_WAIT).as_secs_f64())
        .bind(park)
        .execute(db)
        .await?;
        let held = failed.rows_affected() == 1;
        if held {
            self.finished.store(true, Ordering::Release);
        }
        Ok(held)
    }

    fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

/// Announces a new job of `queue` to every instance's workers (delivered at commit when
/// `db` is in a transaction).
pub async fn announce(db: impl PgExecutor<'_>, queue: &Queue) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, '')").bind(queue.channel).execute(db).await.map(|_| ())
}

/// Claims the next due job of `K` for `worker`: waiting and due, or running under a
/// lease that ran out (its worker died); in a group with fewer than `per_group` running
/// (the fewest first), then the longest due. The job, and the hold on it.
///
/// Claims of one queue take turns (a transaction-scoped advisory lock, across
/// instances): each counts the jobs running with the claims before it committed, so a
/// group never runs more than `per_group` — claims are short, turns cost little.
pub async fn claim<K: Kind>(
    db: &PgPool,
    worker: &str,
    tuning: &Tuning,
) -> Result<Option<(Held<K>, K::Job)>, sqlx::Error> {
    let queue = &K::QUEUE;
    let (table, running, waiting) = (queue.table, queue.running, queue.waiting);
    let group = queue.group.join(", ");
    let same_group =
        queue.group.iter().map(|column| format!("r.{column} = q.{column}")).collect::<Vec<_>>().join(" and ");
    let mut turn = db.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('jobs:' || $1, 0))")
        .bind(table)
        .execute(&mut *turn)
        .await?;
    let claimed: Option<PgRow> = sqlx::query(&format!(
        "with running as (select {group}, count(*) as jobs from {table}
                          where state = '{running}' and lease_until >= now() group by {group})
         update {table} j set state = '{running}', attempts = j.attempts + 1, leased_by = $1,
                lease_until = now() + make_interval(secs => $2)
         from (select q.id from {table} q left join running r on {same_group}
               where ((q.state = '{waiting}' and q.run_after <= now()) or (q.state = '{running}' and q.lease_until < now()))
                 and coalesce(r.jobs, 0) < $3 {also}
               order by coalesce(r.jobs, 0), q.run_after, q.id
               for update of q skip locked
               limit 1) next
         where j.id = next.id
         returning j.*",
        also = queue.also,
    ))
    .bind(worker)
    .bind(tuning.lease.as_secs_f64())
    .bind(tuning.per_group)
    .fetch_optional(&mut *turn)
    .await?;
    turn.commit().await?;
    let Some(row) = claimed else { return Ok(None) };
    let held = Held {
        id: row.try_get("id")?,
        worker: worker.to_string(),
        attempts: row.try_get("attempts")?,
        finished: AtomicBool::new(false),
        kind: PhantomData,
    };
    Ok(Some((held, K::Job::from_row(&row)?)))
}

/// Extends the lease on `held`; false when its worker no longer holds it.
async fn renew<K: Kind>(db: &PgPool, held: &Held<K>, lease: Duration) -> Result<bool, sqlx::Error> {
    let renewed = sqlx::query(&format!(
        "update {} set lease_until = now() + make_interval(secs => $3) where id = $1 and leased_by = $2 and state = '{}'",
        K::QUEUE.table,
        K::QUEUE.running
    ))
    .bind(held.id)
    .bind(&held.worker)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// The wait after `attempts` failed attempts before the next: doubling from one second,
/// capped at `longest` (a queue's [`Kind::LONGEST_WAIT`]), with up to a quarter of
/// jitter either way (so that jobs that failed together do not come back together).
pub fn back_off(attempts: i32, longest: Duration) -> Duration {
    let base = Duration::from_secs(1u64 << (attempts - 1).clamp(0, 30) as u32).min(longest);
    let jitter = (uuid::Uuid::new_v4().as_bytes()[0] as f64 / 255.0 - 0.5) / 2.0;
    base.mul_f64(1.0 + jitter)
}

/// Records that `held` failed with `error`: waiting again after a back-off, or parked.
async fn fail<K: Kind>(db: &PgPool, held: &Held<K>, error: &str, park: bool) -> Result<(), sqlx::Error> {
    held.fail(db, error, park).await.map(|_| ())
}

/// Gives `held` back untouched (on shutdown): due again at once, the attempt not counted.
async fn release<K: Kind>(db: &PgPool, held: &Held<K>) -> Result<(), sqlx::Error> {
    let queue = &K::QUEUE;
    sqlx::query(&format!(
        "update {} set state = '{}', attempts = attempts - 1, leased_by = null, lease_until = null, run_after = now()
         where id = $1 and leased_by = $2 and state = '{}'",
        queue.table, queue.waiting, queue.running
    ))
    .bind(held.id)
    .bind(&held.worker)
    .execute(db)
    .await
    .map(|_| ())
}

/// Puts `held` back to wait until `until` (its remote asked for it), the attempt not
/// counted, with `error` saying why.
async fn postpone<K: Kind>(
    db: &PgPool,
    held: &Held<K>,
    until: chrono::DateTime<chrono::Utc>,
    error: &str,
) -> Result<(), sqlx::Error> {
    let queue = &K::QUEUE;
    sqlx::query(&format!(
        "update {} set state = '{}', attempts = attempts - 1, leased_by = null, lease_until = null,
                run_after = greatest($3, now()), last_error = $4
         where id = $1 and leased_by = $2 and state = '{}'",
        queue.table, queue.waiting, queue.running
    ))
    .bind(held.id)
    .bind(&held.worker)
    .bind(until)
    .bind(error)
    .execute(db)
    .await
    .map(|_| ())
}

/// Queues parked job `id` of `K` again, its attempts reset; false when it is not parked.
pub async fn requeue<K: Kind>(db: impl PgExecutor<'_>, id: K::Id) -> Result<bool, sqlx::Error> {
    let queue = &K::QUEUE;
    let requeued = sqlx::query(&format!(
        "update {} set state = '{}', attempts = 0, run_after = now(), last_error = null, finished_at = null
         where id = $1 and state = '{}'",
        queue.table, queue.waiting, queue.parked
    ))
    .bind(id)
    .execute(db)
    .await?;
    Ok(requeued.rows_affected() == 1)
}

/// Jobs of `K` not yet finished: waiting (due or not) or held.
pub async fn unfinished<K: Kind>(db: &PgPool) -> Result<i64, sqlx::Error> {
    let queue = &K::QUEUE;
    sqlx::query_scalar(&format!(
        "select count(*) from {} where state in ('{}', '{}')",
        queue.table, queue.waiting, queue.running
    ))
    .fetch_one(db)
    .await
}

/// Jobs of `K` the runner parked (failed for good, with the error it recorded), as
/// (id, error).
pub async fn parked<K: Kind>(db: &PgPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    let queue = &K::QUEUE;
    sqlx::query_as(&format!(
        "select id::text, last_error from {} where state = '{}' and last_error is not null order by id",
        queue.table, queue.parked
    ))
    .fetch_all(db)
    .await
}

/// Renews the lease on `held` every third of its length; returns once it is lost
/// (expired and taken by another worker), when the run must stop. A run that recorded
/// its end needs no lease.
async fn hold_lease<K: Kind>(db: &PgPool, held: &Held<K>, lease: Duration) {
    let mut every = tokio::time::interval(lease / 3);
    every.tick().await;
    loop {
        every.tick().await;
        if held.is_finished() {
            return std::future::pending().await;
        }
        match renew(db, held, lease).await {
            Ok(true) => {}
            Ok(false) if held.is_finished() => return std::future::pending().await,
            Ok(false) => return,
            Err(error) => tracing::warn!(%error, queue = K::QUEUE.name, "renewing a lease failed"),
        }
    }
}

/// Claims and runs the next due job of `K` as `worker`, holding its lease, and records
/// how it went; false when no job was due. When `give_back` is cancelled mid-run (the
/// instance stops), the job is given back for another worker.
pub async fn run_next<K: Kind>(
    state: &AppState,
    worker: &str,
    give_back: &CancellationToken,
) -> Result<bool, sqlx::Error> {
    let tuning = K::tuning(&state.settings);
    let Some((held, job)) = claim::<K>(&state.db, worker, &tuning).await? else { return Ok(false) };
    let queue = K::QUEUE.name;
    tokio::select! {
        outcome = K::run(state, &held, &job) => {
            let (error, park) = match outcome {
                Outcome::Finished => return Ok(true),
                Outcome::Later { until, error } => {
                    tracing::info!(queue, job = %held.id, %until, %error, "a job waits for its remote");
                    postpone(&state.db, &held, until, &error).await?;
                    return Ok(true);
                }
                Outcome::Retry(error) => (error, held.attempts >= tuning.max_attempts),
                Outcome::Park(error) => (error, true),
            };
            tracing::warn!(queue, job = %held.id, attempt = held.attempts, %error, parked = park, "a job failed");
            fail(&state.db, &held, &error, park).await?;
            if park {
                K::parked(state, &job, &error).await;
            }
        }
        () = hold_lease(&state.db, &held, tuning.lease) => {
            tracing::warn!(queue, job = %held.id, "a job's lease was lost; another worker has it");
        }
        () = give_back.cancelled() => {
            tracing::info!(queue, job = %held.id, "stopping: the job in hand is given back");
            release(&state.db, &held).await?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_a_second_with_jitter_and_is_capped() {
        for (attempts, longest) in (1..40).flat_map(|a| [(a, 300.0), (a, 3600.0)]) {
            let wait = back_off(attempts, Duration::from_secs_f64(longest)).as_secs_f64();
            let base = 2f64.powi(attempts - 1).min(longest);
            assert!(wait >= base * 0.75 && wait <= base * 1.25, "after {attempts} attempts: {wait}");
        }
    }
}
