//! The instance's background work: the workers of every job queue (analyses,
//! remediation actions, outbound calls, mails, webhook deliveries, GitHub issue calls — `app::server::jobs` holds the queue
//! mechanics), woken by the queues' NOTIFY channels or a poll, and the periodic tasks;
//! all under one task tracker, stopped by one cancellation token. Tests run the queues to empty with
//! [`run_pending_jobs`] instead of waiting for the workers.

use std::sync::Arc;
use std::time::Duration;

use app::server::agent::Analyses;
use app::server::issue_writer::IssueCalls;
use app::server::jobs::{self, Kind};
use app::server::mail::send::Mails;
use app::server::outbound::deliver::Calls;
use app::server::remediation::execute::Actions;
use app::server::state::AppState;
use app::server::webhooks::deliver::Deliveries;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_sessions::session_store::ExpiredDeletion as _;
use tower_sessions_sqlx_store::PostgresStore;
use uuid::Uuid;

/// How often a queue's idle workers together look for due jobs unprompted (retries
/// after a back-off, leases that ran out, a lost notification): each of `n` workers
/// looks about every `n` times this, at a random moment, so that an idle instance asks
/// PostgreSQL about once a second per queue however many workers it runs. New jobs do
/// not wait for it: their announcement wakes a worker at once.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// How often expired sessions are deleted from the store.
const SESSION_CLEANUP_EVERY: Duration = Duration::from_secs(15 * 60);

/// How often held incidents are checked against a new period's quota.
const QUOTA_RELEASE_EVERY: Duration = Duration::from_secs(5 * 60);

/// The background work of a running instance.
pub struct Runtime {
    /// Cancelled when the instance stops: take no new job, end the periodic tasks.
    stopping: CancellationToken,
    /// Cancelled when the grace period is over: give back the jobs still in hand.
    giving_back: CancellationToken,
    tasks: TaskTracker,
}

impl Runtime {
    /// Starts the workers of every queue (as many as each queue's tuning says), the
    /// listener that wakes them, and the periodic tasks.
    pub fn start(state: &AppState) -> Runtime {
        let runtime = Runtime {
            stopping: CancellationToken::new(),
            giving_back: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let instance = Uuid::new_v4().simple().to_string()[..12].to_string();
        let wakes = [
            // Actions first: an approved fix does not wait behind analyses.
            runtime.workers::<Actions>(state, &instance),
            runtime.workers::<Analyses>(state, &instance),
            runtime.workers::<Calls>(state, &instance),
            runtime.workers::<Mails>(state, &instance),
            runtime.workers::<Deliveries>(state, &instance),
            runtime.workers::<IssueCalls>(state, &instance),
        ];
        runtime.tasks.spawn(listen(state.db.clone(), wakes, runtime.stopping.clone()));
        runtime.every(SESSION_CLEANUP_EVERY, {
            let sessions = PostgresStore::new(state.db.clone());
            move || {
                let sessions = sessions.clone();
                async move {
                    if let Err(error) = sessions.delete_expired().await {
                        tracing::warn!(%error, "deleting expired sessions failed; retrying later");
                    }
                }
            }
        });
        runtime.every(QUOTA_RELEASE_EVERY, {
            let db = state.db.clone();
            move || release_held_incidents(db.clone())
        });
        runtime.every(app::server::notifications::DIGEST_EVERY, {
            let state = state.clone();
            move || send_weekly_digests(state.clone())
        });
        runtime.every(app::server::notion::SYNC_EVERY / 3, {
            let state = state.clone();
            move || sync_notion_runbooks(state.clone())
        });
        runtime.every(QUOTA_RELEASE_EVERY, {
            let state = state.clone();
            move || tend_phonepe_payments(state.clone())
        });
        runtime.every(app::server::ingest::retention::EVERY, {
            let db = state.db.clone();
            move || app::server::ingest::retention::remove_expired_logged(db.clone())
        });
        runtime.every(app::server::ingest::retention::EVERY, {
            let db = state.db.clone();
            move || {
                let db = db.clone();
                async move {
                    match app::server::api_keys::idempotency::remove_expired(&db).await {
                        Ok(removed) => tracing::debug!(removed, "forgot idempotent answers past their day"),
                        Err(error) => tracing::warn!(%error, "forgetting idempotent answers failed; retrying later"),
                    }
                }
            }
        });
        runtime
    }

    /// Starts the workers of `K`; the notifier that wakes them, with its channel.
    fn workers<K: Kind>(&self, state: &AppState, instance: &str) -> (&'static str, Arc<Notify>) {
        let wake = Arc::new(Notify::new());
        let workers = K::tuning(&state.settings).workers;
        for index in 0..workers {
            let worker = format!("{instance}-{}-{index}", K::QUEUE.table);
            self.tasks.spawn(work::<K>(
                state.clone(),
                worker,
                POLL_EVERY * workers as u32,
                wake.clone(),
                self.stopping.clone(),
                self.giving_back.clone(),
            ));
        }
        if workers > 0 {
            tracing::info!(queue = K::QUEUE.name, workers, "workers are running");
        }
        (K::QUEUE.channel, wake)
    }

    /// Runs `task` every `period` (the first time at once) until the instance stops.
    fn every<Task, Done>(&self, period: Duration, task: Task)
    where
        Task: Fn() -> Done + Send + 'static,
        Done: Future<Output = ()> + Send,
    {
        let stopping = self.stopping.clone();
        self.tasks.spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = every.tick() => task().await,
                    () = stopping.cancelled() => return,
                }
            }
        });
    }

    /// Stops taking jobs, lets the jobs in hand finish for up to `grace`, then gives back
    /// whatever is still in hand (due again at once, for another instance).
    pub async fn shutdown(self, grace: Duration) {
        self.stopping.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            self.giving_back.cancel();
            if tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await.is_err() {
                tracing::warn!("background work still running after the grace period was left behind");
            }
        }
    }
}

/// One worker of `K`: runs due jobs one after another; between them waits for a
/// notification, its next look (`idle`, give or take half), or the stop.
async fn work<K: Kind>(
    state: AppState,
    worker: String,
    idle: Duration,
    wake: Arc<Notify>,
    stopping: CancellationToken,
    giving_back: CancellationToken,
) {
    while !stopping.is_cancelled() {
        match jobs::run_next::<K>(&state, &worker, &giving_back).await {
            // Another job may be due: let another worker look too.
            Ok(true) => wake.notify_one(),
            Ok(false) => {
                let next_look = idle.mul_f64(0.5 + f64::from(Uuid::new_v4().as_bytes()[0]) / 255.0);
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(next_look) => {}
                    () = stopping.cancelled() => {}
                }
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, queue = K::QUEUE.name, "running a job failed");
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }
}

/// Wakes a queue's worker whenever a job of it is announced, on any instance.
async fn listen<const N: usize>(
    db: sqlx::PgPool,
    wakes: [(&'static str, Arc<Notify>); N],
    stopping: CancellationToken,
) {
    while !stopping.is_cancelled() {
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(listener) => listener,
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for new jobs; polling meanwhile");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        let channels: Vec<&str> = wakes.iter().map(|(channel, _)| *channel).collect();
        if listener.listen_all(channels).await.is_err() {
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        loop {
            tokio::select! {
                received = listener.recv() => match received {
                    Ok(notification) => {
                        for (channel, wake) in &wakes {
                            if *channel == notification.channel() {
                                wake.notify_one();
                            }
                        }
                    }
                    Err(_) => break,
                },
                () = stopping.cancelled() => return,
            }
        }
    }
}

/// Queues the weekly digests of the week just ended, if no instance did yet.
async fn send_weekly_digests(state: AppState) {
    match app::server::notifications::send_weekly_digests(&state).await {
        Ok(0) => {}
        Ok(teams) => tracing::info!(teams, "weekly digests queued"),
        Err(error) => tracing::warn!(%error, "queueing weekly digests failed; retrying later"),
    }
}

/// Asks PhonePe about payments left pending, ends PhonePe months not renewed, and
/// reminds owners whose month ends soon.
async fn tend_phonepe_payments(state: AppState) {
    match app::server::billing::phonepe::tend(&state).await {
        Ok(tended) if tended == Default::default() => {}
        Ok(tended) => tracing::info!(?tended, "PhonePe payments tended"),
        Err(error) => tracing::warn!(%error, "tending PhonePe payments failed; retrying later"),
    }
}

/// Ends the paid tier of teams whose payment stayed past due beyond the grace period,
/// and frees incidents held over quota where a new period (or a larger plan) allows it.
async fn release_held_incidents(pool: sqlx::PgPool) {
    match app::server::billing::end_expired_grace(&pool).await {
        Ok(0) => {}
        Ok(ended) => tracing::info!(ended, "teams past due beyond the grace period are on Free"),
        Err(error) => tracing::warn!(%error, "ending expired grace periods failed; retrying later"),
    }
    match app::server::quota::release_all_held(&pool).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "held incidents are eligible for analysis again"),
        Err(error) => tracing::warn!(%error, "releasing held incidents failed; retrying later"),
    }
}

/// Runs one job that is due now, of the first queue that has one (actions first, as the
/// workers take them); false when none is due. For tests that step through retries.
pub async fn run_due_job(state: &AppState, worker: &str) -> bool {
    // On a task of its own, as a worker runs: a job's future is large.
    let (owned, named) = (state.clone(), worker.to_string());
    tokio::spawn(async move {
        let never = CancellationToken::new();
        Ok::<_, sqlx::Error>(
            jobs::run_next::<Actions>(&owned, &named, &never).await?
                || jobs::run_next::<Analyses>(&owned, &named, &never).await?
                || jobs::run_next::<Calls>(&owned, &named, &never).await?
                || jobs::run_next::<Mails>(&owned, &named, &never).await?
                || jobs::run_next::<Deliveries>(&owned, &named, &never).await?
                || jobs::run_next::<IssueCalls>(&owned, &named, &never).await?,
        )
    })
    .await
    .expect("a job ran to its end")
    .expect("running a job")
}

/// Syncs the runbooks of the teams whose Notion sync is due.
async fn sync_notion_runbooks(state: AppState) {
    app::server::notion::sync_due(&state).await;
}

/// Runs every queue until no job is left unfinished (waiting, due later, or held by
/// any instance's worker): what the workers would do in the background, done now and
/// awaited. For tests, which then read the results without waiting for them. Panics
/// when jobs are still unfinished after `patience`.
pub async fn run_pending_jobs(state: &AppState, patience: Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    let worker = format!("pending-{}", &Uuid::new_v4().simple().to_string()[..8]);
    loop {
        if run_due_job(state, &worker).await {
            continue;
        }
        let unfinished = jobs::unfinished::<Actions>(&state.db).await.expect("counting actions")
            + jobs::unfinished::<Analyses>(&state.db).await.expect("counting analyses")
            + jobs::unfinished::<Calls>(&state.db).await.expect("counting outbound calls")
            + jobs::unfinished::<Mails>(&state.db).await.expect("counting mails")
            + jobs::unfinished::<Deliveries>(&state.db).await.expect("counting webhook deliveries")
            + jobs::unfinished::<IssueCalls>(&state.db).await.expect("counting GitHub issue calls");
        if unfinished == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{unfinished} jobs still unfinished after {patience:?}");
        // Due later (a back-off), or in another worker's hands.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The jobs the runner parked (failed for good) in every queue, as "queue #id: error".
pub async fn parked_jobs(db: &sqlx::PgPool) -> Result<Vec<String>, sqlx::Error> {
    let mut parked = Vec::new();
    for (queue, found) in [
        (Actions::QUEUE.name, jobs::parked::<Actions>(db).await?),
        (Analyses::QUEUE.name, jobs::parked::<Analyses>(db).await?),
        (Calls::QUEUE.name, jobs::parked::<Calls>(db).await?),
        (Mails::QUEUE.name, jobs::parked::<Mails>(db).await?),
        (Deliveries::QUEUE.name, jobs::parked::<Deliveries>(db).await?),
        (IssueCalls::QUEUE.name, jobs::parked::<IssueCalls>(db).await?),
    ] {
        parked.extend(found.into_iter().map(|(id, error)| format!("{queue} #{id}: {error}")));
    }
    Ok(parked)
}
