//! The agent's workers on this instance: woken by the queue's notifications (or a poll),
//! each claims a job, holds its lease while the analysis runs, and gives it back on
//! shutdown when it cannot finish in time.

use super::*;

/// The notification channel new jobs are announced on.
pub(super) const CHANNEL: &str = "agent_jobs";

/// How often idle workers look for due jobs (retries, expired leases) unprompted.
pub(super) const POLL_EVERY: Duration = Duration::from_secs(1);

/// Where the workers are in their life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Running,
    /// Take no new job; finish the one in hand.
    Draining,
    /// Give the job in hand back now.
    Abort,
}

/// The agent's workers on this instance.
pub struct Agent {
    phase: watch::Sender<Phase>,
    tasks: Vec<JoinHandle<()>>,
}

impl Agent {
    /// Starts `settings.workers` workers (none when 0).
    pub fn start(state: AppState, settings: AgentSettings) -> Agent {
        let (phase, watching) = watch::channel(Phase::Running);
        let mut tasks = Vec::new();
        if settings.workers > 0 {
            let wake = Arc::new(Notify::new());
            tasks.push(tokio::spawn(listen(state.db.clone(), wake.clone(), watching.clone())));
            let instance = Uuid::new_v4().simple().to_string();
            for index in 0..settings.workers {
                let worker = format!("{}-{index}", &instance[..12]);
                tasks.push(tokio::spawn(work(state.clone(), settings.clone(), worker, wake.clone(), watching.clone())));
            }
            tracing::info!(workers = settings.workers, "the agent is running");
        }
        Agent { phase, tasks }
    }

    /// Stops taking jobs, lets the jobs in hand finish for up to `grace`, then gives
    /// back whatever is still in hand.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.phase.send(Phase::Draining);
        let mut tasks = self.tasks;
        // Finished tasks leave the list: a handle must not be awaited twice.
        let drained = tokio::time::timeout(grace, async {
            while let Some(task) = tasks.last_mut() {
                let _ = task.await;
                tasks.pop();
            }
        })
        .await;
        if drained.is_err() {
            let _ = self.phase.send(Phase::Abort);
            for task in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            }
        }
    }
}

/// Wakes a worker whenever a job is queued, on any instance.
pub(super) async fn listen(db: PgPool, wake: Arc<Notify>, mut phase: watch::Receiver<Phase>) {
    loop {
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(listener) => listener,
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, "the agent cannot listen for jobs; polling meanwhile");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if listener.listen(CHANNEL).await.is_err() {
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        loop {
            tokio::select! {
                received = listener.recv() => match received {
                    Ok(_) => wake.notify_one(),
                    Err(_) => break,
                },
                _ = phase.changed() => return,
            }
        }
    }
}

pub(super) async fn work(
    state: AppState,
    settings: AgentSettings,
    worker: String,
    wake: Arc<Notify>,
    mut phase: watch::Receiver<Phase>,
) {
    use crate::server::remediation::execute;
    loop {
        if *phase.borrow() != Phase::Running {
            return;
        }
        // Actions first: an approved fix should not wait behind analyses.
        match execute::claim(&state.db, &worker, settings.lease).await {
            Ok(Some(action)) => {
                wake.notify_one();
                let id = action.id;
                let renew = || execute::renew(&state.db, id, &worker, settings.lease);
                tokio::select! {
                    () = execute::run(&state, &worker, action, &settings.remediation) => {}
                    () = hold_lease(settings.lease, renew) => {
                        // The resuming worker asks the cluster what this one already did.
                        tracing::warn!(action = %id, "an action's lease was lost; another worker resumes it");
                    }
                    () = aborted(&mut phase) => {
                        tracing::warn!(action = %id, "stopping with an action in hand; another worker resumes it when its lease runs out");
                        return;
                    }
                }
                continue;
            }
            Ok(None) => {}
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => tracing::warn!(%error, "claiming an action failed"),
        }
        match jobs::claim(&state.db, &worker, settings.lease, settings.team_concurrency).await {
            Ok(Some(job)) => {
                // Another job may be waiting: let another worker look too.
                wake.notify_one();
                run(&state, &settings, &worker, job, &mut phase).await;
            }
            Ok(None) => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(POLL_EVERY) => {}
                    _ = phase.changed() => {}
                }
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, "claiming an agent job failed");
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }
}

/// Returns when the workers are told to give back what they hold.
pub(super) async fn aborted(phase: &mut watch::Receiver<Phase>) {
    loop {
        if *phase.borrow() == Phase::Abort || phase.changed().await.is_err() {
            return;
        }
    }
}

/// Renews a lease every third of its length; returns once `renew` says it is lost
/// (expired and taken by another worker), when the holder must stop.
pub(super) async fn hold_lease<Renewed>(lease: Duration, renew: impl Fn() -> Renewed)
where
    Renewed: Future<Output = Result<bool, sqlx::Error>>,
{
    let mut every = tokio::time::interval(lease / 3);
    every.tick().await;
    loop {
        every.tick().await;
        match renew().await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => tracing::warn!(%error, "renewing a lease failed"),
        }
    }
}

/// Runs `job` while renewing its lease; gives it back if told to abort.
pub(super) async fn run(
    state: &AppState,
    settings: &AgentSettings,
    worker: &str,
    job: Job,
    phase: &mut watch::Receiver<Phase>,
) {
    let renewing = hold_lease(settings.lease, || jobs::renew(&state.db, job.id, worker, settings.lease));
    let follow_up = tokio::select! {
        outcome = analyse(state, worker, &job) => match outcome {
            Ok(follow_up) => follow_up,
            Err(error) => {
                tracing::warn!(job = job.id, incident = %job.incident_id, %error, attempt = job.attempts, "an analysis failed");
                if let Err(error) = jobs::fail(&state.db, &job, worker, &error, settings.max_attempts).await {
                    tracing::warn!(%error, "recording an analysis failure failed");
                }
                if job.attempts >= settings.max_attempts {
                    let message = format!("Analysis failed after {} attempts: {error}", job.attempts);
                    note(state, job.team_id, job.incident_id, "agent.failed", &message).await;
                }
                None
            }
        },
        () = renewing => {
            tracing::warn!(job = job.id, "an agent job's lease was lost; another worker has it");
            None
        }
        () = aborted(phase) => {
            if let Err(error) = jobs::release(&state.db, &job, worker).await {
                tracing::warn!(%error, "releasing an agent job failed");
            }
            None
        }
    };
    // The job is done (its analysis stored): the LLM's opinion follows outside the lease.
    if let Some(prompt) = follow_up {
        consult(state, job.team_id, job.incident_id, &prompt).await;
    }
}
