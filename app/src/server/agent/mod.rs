//! The agent embedded in the server: workers that take incidents off the durable queue,
//! classify them, read their cluster, diagnose them and store the analysis — each step
//! on the incident's timeline as it happens, streamed live. Any number of instances
//! share the queue; each incident is analysed once.

pub mod classify;
pub mod context;
#[cfg(test)]
mod corpus;
pub mod jobs;
pub mod llm;
pub mod logs;
pub mod rules;
pub mod team_llm;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::domain::analysis::{
    AgentProgress, AnalysisView, Confidence, DiagnosisAccuracy, Family, Feedback, WrongDiagnosis,
};
use crate::domain::live::{LiveEvent, LiveKind};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::config::{AgentSettings, Provider};
use crate::server::state::AppState;
use classify::{Classification, IncidentFacts};
use jobs::Job;
use rules::Diagnosis;

/// The name the agent writes under on timelines.
pub const ACTOR: &str = crate::domain::incident::AGENT_NAME;
/// The notification channel new jobs are announced on.
const CHANNEL: &str = "agent_jobs";
/// How often idle workers look for due jobs (retries, expired leases) unprompted.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// Where the workers are in their life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
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
async fn listen(db: PgPool, wake: Arc<Notify>, mut phase: watch::Receiver<Phase>) {
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

async fn work(
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
async fn aborted(phase: &mut watch::Receiver<Phase>) {
    loop {
        if *phase.borrow() == Phase::Abort || phase.changed().await.is_err() {
            return;
        }
    }
}

/// Renews a lease every third of its length; returns once `renew` says it is lost
/// (expired and taken by another worker), when the holder must stop.
async fn hold_lease<Renewed>(lease: Duration, renew: impl Fn() -> Renewed)
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
async fn run(state: &AppState, settings: &AgentSettings, worker: &str, job: Job, phase: &mut watch::Receiver<Phase>) {
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
async fn note(state: &AppState, team: Uuid, incident: Uuid, kind: &str, message: &str) {
    let written = crate::server::db::timeline::append(&state.db, team, incident, kind, ACTOR, message).await;
    match written {
        Ok(_) => state.live.publish(team, [LiveEvent::new(LiveKind::TimelineEntry, incident)]),
        Err(error) => tracing::warn!(%error, "writing to a timeline failed"),
    }
}

#[derive(sqlx::FromRow)]
struct IncidentRow {
    title: String,
    description: Option<String>,
    service: Option<String>,
    details: serde_json::Value,
    first_seen_at: DateTime<Utc>,
}

/// The cluster an incident is about: the team's cluster named by the alert's `cluster`
/// label (its name or context), else the team's first; its id and default namespace.
async fn cluster_for(
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
async fn analyse(state: &AppState, worker: &str, job: &Job) -> Result<Option<String>, String> {
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
        jobs::finish(db, job.id, worker).await.map_err(|e| e.to_string())?;
        return Ok(None);
    };
    if job.attempts == 1 {
        note(state, team, incident, "agent.started", "Started analysing the incident.").await;
        // PagerDuty hears that someone is on it; Slack hears of the incident.
        let mut db = state.db.acquire().await.map_err(|e| e.to_string())?;
        crate::server::outbound::analysis_started(&mut db, state.public_url(), team, incident)
            .await
            .map_err(|e| e.to_string())?;
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
    let diagnosis = rules::diagnose(&facts, &found, context.as_ref());
    if !store(state, worker, job, &diagnosis, cluster_id, row.first_seen_at).await? {
        return Ok(None);
    }
    let settings = &state.settings.agent.llm;
    let team_provider = team_llm::provider(state, team).await.map_err(|e| e.to_string())?;
    if settings.providers.is_empty() && team_provider.is_none() {
        return Ok(None);
    }
    let prompt = prompt(&facts, &diagnosis, context.as_ref());
    Ok(Some(if settings.redact { llm::redact(&prompt) } else { prompt }))
}

/// What the LLM is told: the incident, what the cluster showed, the deterministic
/// diagnosis (redacted by the caller).
fn prompt(facts: &IncidentFacts, diagnosis: &Diagnosis, context: Option<&context::ClusterContext>) -> String {
    let mut prompt = format!("Incident: {}\n", facts.title);
    if !facts.description.is_empty() {
        prompt.push_str(&format!("Description: {}\n", facts.description));
    }
    let details = facts.details.to_string();
    prompt.push_str(&format!("Alert details: {}\n", details.chars().take(2000).collect::<String>()));
    if let Some(context) = context {
        prompt.push_str("\nWhat the cluster shows:\n");
        for pod in context.pods.iter().take(10) {
            let status = pod.status.clone().unwrap_or_default();
            let containers: Vec<String> = status
                .container_statuses
                .iter()
                .flatten()
                .map(|c| {
                    let waiting = c
                        .state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.clone())
                        .unwrap_or_default();
                    let last = c
                        .last_state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .map(|t| format!(", last exit {} {}", t.exit_code, t.reason.clone().unwrap_or_default()))
                        .unwrap_or_default();
                    format!("{} ready={} restarts={} {waiting}{last}", c.name, c.ready, c.restart_count)
                })
                .collect();
            prompt.push_str(&format!(
                "- pod {} phase {}: {}\n",
                pod.metadata.name.clone().unwrap_or_default(),
                status.phase.unwrap_or_default(),
                containers.join("; ")
            ));
        }
        if let Some(log) = context.previous_log.as_ref().or(context.current_log.as_ref()) {
            let lines: Vec<&str> = log.lines().collect();
            prompt.push_str(&format!("Log tail:\n{}\n", lines[lines.len().saturating_sub(20)..].join("\n")));
        }
        for event in context.events.iter().filter(|e| e.type_.as_deref() == Some("Warning")).take(10) {
            prompt.push_str(&format!(
                "- event {}: {}\n",
                event.reason.clone().unwrap_or_default(),
                event.message.clone().unwrap_or_default()
            ));
        }
    }
    prompt.push_str(&format!(
        "\nDeterministic diagnosis ({} confidence): {}\nEvidence:\n",
        diagnosis.confidence.as_str(),
        diagnosis.root_cause
    ));
    for evidence in &diagnosis.evidence {
        prompt.push_str(&format!("- {}: {}\n", evidence.source, evidence.line));
    }
    prompt.push_str("Recommended actions:\n");
    for action in &diagnosis.actions {
        prompt.push_str(&format!("- {}\n", action.title));
    }
    prompt
}

/// Asks the LLMs (the team's own first, then the deployment's) about the incident
/// within the team's monthly budget, and stores the answer beside the deterministic
/// analysis. Never fails the job: the deterministic analysis stands on its own.
async fn consult(state: &AppState, team: Uuid, incident: Uuid, prompt: &str) {
    let settings = &state.settings.agent.llm;
    let used: i64 = sqlx::query_scalar("select coalesce((select tokens from llm_usage where team_id = $1 and month = date_trunc('month', now())::date), 0)")
        .bind(team)
        .fetch_one(&state.db)
        .await
        .unwrap_or(0);
    if used >= settings.monthly_tokens {
        note(
            state,
            team,
            incident,
            "agent.step",
            "The team's LLM budget for this month is spent: the deterministic analysis stands alone.",
        )
        .await;
        return;
    }
    let mut providers: Vec<Provider> = match team_llm::provider(state, team).await {
        Ok(own) => own.into_iter().collect(),
        Err(error) => {
            tracing::warn!(%error, "the team's LLM provider cannot be used");
            Vec::new()
        }
    };
    providers.extend(settings.providers.iter().cloned());
    match llm::ask(&state.settings.outbound.policy(), &providers, prompt, settings.timeout).await {
        Ok(answer) => {
            let stored = async {
                let mut tx = state.db.begin().await?;
                sqlx::query("update analyses set llm_model = $2, llm_answer = $3 where incident_id = $1")
                    .bind(incident)
                    .bind(&answer.model)
                    .bind(&answer.text)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "insert into llm_usage (team_id, month, tokens) values ($1, date_trunc('month', now())::date, $2)
                     on conflict (team_id, month) do update set tokens = llm_usage.tokens + excluded.tokens",
                )
                .bind(team)
                .bind(answer.tokens)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            };
            match stored.await {
                Ok(()) => {
                    note(
                        state,
                        team,
                        incident,
                        "agent.step",
                        &format!("{} added its analysis ({} tokens).", answer.model, answer.tokens),
                    )
                    .await;
                    state.live.publish(team, [LiveEvent::new(LiveKind::AnalysisReady, incident)]);
                }
                Err(error) => tracing::warn!(%error, "storing an LLM answer failed"),
            }
        }
        Err(error) => {
            note(
                state,
                team,
                incident,
                "agent.step",
                &format!("No LLM analysis: {error}. The deterministic analysis stands alone."),
            )
            .await
        }
    }
}

fn classified(found: &Classification) -> String {
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
async fn store(
    state: &AppState,
    worker: &str,
    job: &Job,
    diagnosis: &Diagnosis,
    cluster: Option<Uuid>,
    first_seen_at: DateTime<Utc>,
) -> Result<bool, String> {
    let failed = |e: sqlx::Error| e.to_string();
    let mut tx = state.db.begin().await.map_err(failed)?;
    if !jobs::finish(&mut *tx, job.id, worker).await.map_err(failed)? {
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
            state.public_url(),
            job.team_id,
            job.incident_id,
            &diagnosis.root_cause,
            awaiting,
        )
        .await
        .map_err(failed)?;
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

#[derive(sqlx::FromRow)]
struct AnalysisRow {
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
    Ok(match job {
        None => AgentProgress::NotQueued,
        Some((state, attempts, _)) if state == "queued" => AgentProgress::Queued { attempts },
        Some((state, attempts, error)) if state == "failed" => {
            AgentProgress::Failed { error: error.unwrap_or_default(), attempts }
        }
        Some(_) => AgentProgress::Working,
    })
}

/// Queues the team's failed analysis of `incident` again, on its timeline and audited.
pub async fn retry(state: &AppState, acting: &Acting, incident: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("retrying an analysis failed")?;
    if !jobs::retry(&mut *tx, acting.team_id, incident).await.or_internal("retrying an analysis failed")? {
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
        &acting.email,
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
    .bind(&acting.email)
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
        &acting.email,
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
const ACCURACY_WEEKS: i32 = 8;

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
