//! Carrying out a recorded action, by the job runner's workers: the workload as it was
//! (recorded before anything is written), the preconditions, a server-side dry run, the
//! change, then verification — the workload watched until it is healthy, fails again,
//! or the time is up — and, when it did not help, the change undone if it can be. A
//! resumed action (its worker died) first asks the cluster whether it already happened,
//! so nothing is done twice. A verified fix resolves the incident as the agent.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::analysis::Change;
use crate::domain::incident::AGENT_NAME;
use crate::domain::live::{LiveEvent, LiveKind};
use crate::domain::remediation::ActionState;
use crate::domain::webhook::WebhookEvent;
use crate::server::audit::{self, Actor};
use crate::server::cluster_client::quantity::memory_bytes;
use crate::server::cluster_client::{selector, timed, writes};
use crate::server::config::{RemediationSettings, Settings};
use crate::server::jobs::{self, Held, Kind, Queue, Tuning};
use crate::server::state::AppState;

/// Container states that mean a pod is failing, not merely starting.
const FAILING: &[&str] =
    &["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"];

/// The queue of recorded actions.
pub struct Actions;

/// An action a worker holds.
#[derive(sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    team_id: Uuid,
    incident_id: Uuid,
    cluster_id: Uuid,
    title: String,
    reversible: bool,
    change: Value,
    automatic: bool,
    requested_by: String,
    before: Option<Value>,
    created_at: DateTime<Utc>,
}

impl Claimed {
    /// Whether a worker had it before and stopped (died, or gave it back) after
    /// recording the workload: perhaps the change was made.
    fn resumed(&self) -> bool {
        self.before.is_some()
    }
}

impl Kind for Actions {
    type Id = Uuid;
    type Job = Claimed;

    /// Recorded as `intended` (and announced) by `remediation::intend`, oldest first; one
    /// attempt each, its outcome (`verified`, `failed`, …) recorded by the run itself. A
    /// worker that dies leaves the action to the next, which asks the cluster first.
    const QUEUE: Queue = Queue {
        name: "remediation actions",
        table: "remediation_actions",
        channel: "remediation_actions",
        waiting: "intended",
        running: "executing",
        parked: "failed",
        group: &["team_id"],
        also: "",
    };

    /// As many workers as the agent, under its lease; never more than the actions there
    /// are (one per workload at a time).
    fn tuning(settings: &Settings) -> Tuning {
        Tuning { workers: settings.agent.workers, lease: settings.agent.lease, max_attempts: 1, per_group: i64::MAX }
    }

    /// Carries out the action and records what became of it.
    async fn run(state: &AppState, held: &Held<Self>, action: &Claimed) -> jobs::Outcome {
        let settings = &state.settings.agent.remediation;
        let outcome = match serde_json::from_value::<Change>(action.change.clone()) {
            Err(_) => Outcome::new(ActionState::Failed, "The recorded change cannot be read."),
            Ok(change) => carry_out(state, &held.worker, action, &change, settings).await,
        };
        match finish(state, held, action, &outcome).await {
            Ok(()) => jobs::Outcome::Finished,
            Err(error) => jobs::Outcome::Retry(format!("recording the outcome failed: {error}")),
        }
    }

    async fn parked(_: &AppState, _: &Claimed, _: &str) {}
}

/// What became of an action.
struct Outcome {
    state: ActionState,
    message: String,
    /// The workload as it was before the change, once read.
    before: Option<Value>,
}

impl Outcome {
    fn new(state: ActionState, message: impl Into<String>) -> Self {
        Outcome { state, message: message.into(), before: None }
    }

    fn with_before(mut self, before: &Value) -> Self {
        self.before = Some(before.clone());
        self
    }
}

/// The timestamp a restart writes: the action's own, so a resumed action recognises it.
fn stamp(action: &Claimed) -> DateTime<Utc> {
    action.created_at
}

async fn note(state: &AppState, action: &Claimed, message: &str) {
    let written = crate::server::db::timeline::append(
        &state.db,
        action.team_id,
        action.incident_id,
        "action.step",
        AGENT_NAME,
        message,
    )
    .await;
    match written {
        Ok(_) => state.live.publish(action.team_id, [LiveEvent::new(LiveKind::TimelineEntry, action.incident_id)]),
        Err(error) => tracing::warn!(%error, "writing to a timeline failed"),
    }
}

async fn carry_out(
    state: &AppState,
    worker: &str,
    action: &Claimed,
    change: &Change,
    settings: &RemediationSettings,
) -> Outcome {
    if action.automatic && !action.resumed() {
        // Unreadable counts as on: an automatic action never runs unchecked.
        if super::kill_switch(&state.db, action.team_id).await.unwrap_or(true) {
            return Outcome::new(ActionState::Cancelled, "Stopped by the kill switch before it began.");
        }
    }
    let client = match crate::server::cluster_client::connect(state, action.team_id, action.cluster_id).await {
        Ok(client) => client,
        Err(error) => return Outcome::new(ActionState::Failed, format!("The cluster cannot be used: {error}")),
    };
    let current = match read(&client, change).await {
        Ok(current) => current,
        // The pod a resumed action deletes is gone: deleted by the worker that died.
        Err(_) if action.resumed() && matches!(change, Change::DeletePod { .. }) => json!({"uid": null}),
        Err(message) => return Outcome::new(ActionState::Failed, message),
    };
    // The workload as it was, recorded before anything is written.
    let before = match &action.before {
        Some(before) => before.clone(),
        None => {
            let recorded = sqlx::query("update remediation_actions set before = $2 where id = $1 and leased_by = $3")
                .bind(action.id)
                .bind(&current)
                .bind(worker)
                .execute(&state.db)
                .await;
            if let Err(error) = recorded {
                tracing::warn!(%error, action = %action.id, "recording a workload's state failed");
                return Outcome::new(
                    ActionState::Failed,
                    "DreamOps could not record the workload's state first, so it changed nothing; approve it again.",
                );
            }
            current.clone()
        }
    };
    act(state, action, change, &client, &before, &current, settings).await.with_before(&before)
}

/// Does `change` (unless a resumed action finds it done), verifies it, undoes it if it
/// did not help.
async fn act(
    state: &AppState,
    action: &Claimed,
    change: &Change,
    client: &Client,
    before: &Value,
    current: &Value,
    settings: &RemediationSettings,
) -> Outcome {
    let done = action.resumed() && already_done(change, before, current, stamp(action));
    let since = if done {
        note(state, action, &format!("Resumed \"{}\": the cluster shows it was already done.", action.title)).await;
        action.created_at
    } else {
        if let Err(message) = precondition(change, current) {
            return Outcome::new(ActionState::Failed, message);
        }
        if let Err(error) = write(client, change, stamp(action), true).await {
            return Outcome::new(ActionState::Failed, format!("The cluster refused the dry run: {error}"));
        }
        let at = Utc::now();
        if let Err(error) = write(client, change, stamp(action), false).await {
            return Outcome::new(ActionState::Failed, format!("The cluster refused the change: {error}"));
        }
        let command = change.command().unwrap_or_default();
        note(state, action, &format!("Carried out \"{}\" ({command}); verifying.", action.title)).await;
        at
    };
    let why = match verify(client, change, before, since, settings.verify).await {
        Ok(healthy) => return Outcome::new(ActionState::Verified, format!("Verified: {healthy}.")),
        Err(why) => why,
    };
    if !action.reversible {
        return Outcome::new(ActionState::NotFixed, format!("It did not help: {why}."));
    }
    match undo(client, change, before).await {
        Ok(Some(how)) => Outcome::new(ActionState::RolledBack, format!("It did not help: {why}. Undone: {how}.")),
        Ok(None) => Outcome::new(ActionState::NotFixed, format!("It did not help: {why}. There is nothing to undo.")),
        Err(error) => {
            Outcome::new(ActionState::NotFixed, format!("It did not help: {why}. Undoing it failed: {error}"))
        }
    }
}

/// The deployment a change is about: its own, or the one owning the pod it deletes.
fn deployment_name<'a>(change: &'a Change, before: &'a Value) -> Option<&'a str> {
    match change {
        Change::DeletePod { .. } => before.get("deployment").and_then(Value::as_str),
        other => other.target().map(|(_, name)| name),
    }
}

fn revision_of(deployment: &Deployment) -> Option<i64> {
    deployment.metadata.annotations.as_ref()?.get("deployment.kubernetes.io/revision")?.parse().ok()
}

/// What the workload is now, as the checks compare it.
async fn read(client: &Client, change: &Change) -> Result<Value, String> {
    let Some((namespace, name)) = change.target() else {
        return Err("A step for a person cannot be carried out.".into());
    };
    if let Change::DeletePod { .. } = change {
        let pod = timed("Reading the pod", Api::<Pod>::namespaced(client.clone(), namespace).get_opt(name))
            .await?
            .ok_or_else(|| format!("Pod {namespace}/{name} no longer exists."))?;
        let deployment = crate::server::cluster_client::owners::deployment_of_pod(&pod);
        return Ok(json!({"uid": pod.metadata.uid, "deployment": deployment}));
    }
    let deployment =
        timed("Reading the deployment", Api::<Deployment>::namespaced(client.clone(), namespace).get_opt(name))
            .await?
            .ok_or_else(|| format!("Deployment {namespace}/{name} no longer exists."))?;
    let template = deployment.spec.template.clone();
    let containers = template.spec.map(|s| s.containers).unwrap_or_default();
    let memory: serde_json::Map<String, Value> = containers
        .iter()
        .map(|c| {
            let limit = c.resources.as_ref().and_then(|r| r.limits.as_ref()).and_then(|l| l.get("memory"));
            (c.name.clone(), json!(limit.map(|q| q.0.clone())))
        })
        .collect();
    let restarted = template.metadata.and_then(|m| m.annotations).and_then(|a| a.get(writes::RESTARTED_AT).cloned());
    Ok(json!({
        "replicas": deployment.spec.replicas.unwrap_or(1),
        "revision": revision_of(&deployment),
        "memory": memory,
        "restarted_at": restarted,
    }))
}

fn same_memory(a: Option<&str>, b: &str) -> bool {
    a.and_then(memory_bytes).is_some_and(|a| Some(a) == memory_bytes(b))
}

/// Whether the cluster still looks as the diagnosis saw it.
fn precondition(change: &Change, current: &Value) -> Result<(), String> {
    match change {
        Change::SetMemoryLimit { container, from: Some(from), .. } => {
            let now = current.pointer(&format!("/memory/{container}")).and_then(Value::as_str);
            if !same_memory(now, from) {
                return Err(format!(
                    "The memory limit of {container} is {} now, not {from} as diagnosed: look again before changing it.",
                    now.unwrap_or("unset")
                ));
            }
        }
        Change::Scale { from, to, .. } => {
            let now = current["replicas"].as_i64().unwrap_or(-1);
            if now != i64::from(*from) {
                return Err(format!("It runs {now} replicas now, not {from} as diagnosed: not scaling to {to}."));
            }
        }
        Change::RollBack { from_revision, .. } => {
            let now = current["revision"].as_i64().unwrap_or(-1);
            if now != *from_revision {
                return Err(format!(
                    "It is at revision {now} now, not {from_revision} as diagnosed: not rolling back."
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether the cluster shows the change made (by a worker that died before recording it).
fn already_done(change: &Change, before: &Value, current: &Value, stamp: DateTime<Utc>) -> bool {
    match change {
        Change::SetMemoryLimit { container, to, .. } => {
            same_memory(current.pointer(&format!("/memory/{container}")).and_then(Value::as_str), to)
        }
        Change::Scale { to, .. } => current["replicas"].as_i64() == Some(i64::from(*to)),
        Change::RollBack { from_revision, .. } => current["revision"].as_i64() != Some(*from_revision),
        Change::RolloutRestart { .. } => {
            current["restarted_at"].as_str() == Some(&stamp.to_rfc3339_opts(SecondsFormat::Secs, true))
        }
        Change::DeletePod { .. } => current["uid"] != before["uid"],
        Change::Manual { .. } => false,
    }
}

async fn write(client: &Client, change: &Change, stamp: DateTime<Utc>, dry_run: bool) -> Result<(), String> {
    let done = match change {
        Change::SetMemoryLimit { namespace, deployment, container, to, .. } => {
            writes::set_memory_limit(client, namespace, deployment, container, to, dry_run).await.map(|_| ())
        }
        Change::RollBack { namespace, deployment, .. } => {
            return writes::roll_back(client, namespace, deployment, dry_run)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
        }
        Change::Scale { namespace, deployment, to, .. } => {
            writes::scale(client, namespace, deployment, *to, dry_run).await
        }
        Change::RolloutRestart { namespace, deployment } => {
            writes::rollout_restart(client, namespace, deployment, stamp, dry_run).await.map(|_| ())
        }
        Change::DeletePod { namespace, pod } => writes::delete_pod(client, namespace, pod, dry_run).await,
        Change::Manual { .. } => return Err("a step for a person".into()),
    };
    done.map_err(|error| match error {
        kube::Error::Api(status) => status.message,
        other => other.to_string(),
    })
}

/// Undoes `change` where that means something; how, or none when there is nothing to undo.
async fn undo(client: &Client, change: &Change, before: &Value) -> Result<Option<String>, String> {
    let back = match change {
        Change::SetMemoryLimit { namespace, deployment, container, .. } => {
            let Some(limit) = before.pointer(&format!("/memory/{container}")).and_then(Value::as_str) else {
                return Ok(None);
            };
            let undo = Change::SetMemoryLimit {
                namespace: namespace.clone(),
                deployment: deployment.clone(),
                container: container.clone(),
                from: None,
                to: limit.to_string(),
            };
            (undo, format!("the memory limit is {limit} again"))
        }
        Change::Scale { namespace, deployment, from, .. } => (
            Change::Scale { namespace: namespace.clone(), deployment: deployment.clone(), from: 0, to: *from },
            format!("scaled back to {from}"),
        ),
        Change::RollBack { namespace, deployment, from_revision, .. } => (
            Change::RollBack {
                namespace: namespace.clone(),
                deployment: deployment.clone(),
                from_revision: 0,
                to_revision: *from_revision,
                to_image: None,
            },
            format!("back on the template of revision {from_revision}"),
        ),
        Change::RolloutRestart { .. } | Change::DeletePod { .. } | Change::Manual { .. } => return Ok(None),
    };
    let (undo, how) = back;
    write(client, &undo, Utc::now(), false).await.map(|()| Some(how))
}

/// Watches the workload until it is healthy (`Ok`, what shows it), a new pod fails, or
/// `within` passes (`Err`, why).
async fn verify(
    client: &Client,
    change: &Change,
    before: &Value,
    since: DateTime<Utc>,
    within: Duration,
) -> Result<String, String> {
    let Some((namespace, _)) = change.target() else { return Err("nothing to verify".into()) };
    let Some(name) = deployment_name(change, before) else {
        // A bare pod deleted: gone is all there is to see.
        return Ok("the pod is gone".into());
    };
    let poll = (within / 10).clamp(Duration::from_millis(100), Duration::from_secs(2));
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match health(client, namespace, name, since).await {
            Health::Healthy(how) => return Ok(how),
            Health::Failing(why) => return Err(why),
            Health::Waiting(what) => {
                if tokio::time::Instant::now() + poll > deadline {
                    return Err(format!("not healthy within {} s ({what})", within.as_secs()));
                }
            }
        }
        tokio::time::sleep(poll).await;
    }
}

enum Health {
    Healthy(String),
    Failing(String),
    Waiting(String),
}

/// How deployment `name` is doing: pods made since `since` that fail, or all its
/// replicas updated, ready and alone.
async fn health(client: &Client, namespace: &str, name: &str, since: DateTime<Utc>) -> Health {
    let deployment =
        match timed("Reading the deployment", Api::<Deployment>::namespaced(client.clone(), namespace).get_opt(name))
            .await
        {
            Ok(Some(deployment)) => deployment,
            Ok(None) => return Health::Failing(format!("deployment {namespace}/{name} is gone")),
            Err(error) => return Health::Waiting(error),
        };
    let labels = deployment.spec.selector.match_labels.as_ref().map(selector).unwrap_or_default();
    let pods = match timed(
        "Listing the pods",
        Api::<Pod>::namespaced(client.clone(), namespace).list(&ListParams::default().labels(&labels)),
    )
    .await
    {
        Ok(list) => list.items,
        Err(error) => return Health::Waiting(error),
    };
    let recent = (since - chrono::Duration::seconds(5)).timestamp();
    let new_pods =
        pods.iter().filter(|pod| pod.metadata.creation_timestamp.as_ref().is_some_and(|t| t.0.as_second() >= recent));
    for pod in new_pods {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        if status.reason.as_deref() == Some("Evicted") {
            return Health::Failing(format!("new pod {pod_name} was evicted"));
        }
        if let Some(unschedulable) =
            status.conditions.iter().flatten().find(|c| c.reason.as_deref() == Some("Unschedulable"))
        {
            return Health::Failing(format!(
                "new pod {pod_name} cannot be scheduled: {}",
                unschedulable.message.clone().unwrap_or_default()
            ));
        }
        for container in status.container_statuses.iter().flatten() {
            let waiting = container.state.as_ref().and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref());
            if let Some(reason) = waiting.filter(|reason| FAILING.contains(reason)) {
                let last =
                    container.last_state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.reason.clone());
                let last = last.map(|r| format!(", last terminated: {r}")).unwrap_or_default();
                return Health::Failing(format!("new pod {pod_name} is in {reason}{last}"));
            }
        }
    }
    let desired = i64::from(deployment.spec.replicas.unwrap_or(1));
    let status = deployment.status.unwrap_or_default();
    let seen = status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0);
    let count = |n: Option<i32>| i64::from(n.unwrap_or(0));
    let ready = count(status.ready_replicas);
    if seen
        && count(status.updated_replicas) == desired
        && ready == desired
        && count(status.available_replicas) >= desired
        && count(status.replicas) == desired
    {
        return Health::Healthy(format!("{ready} of {desired} pods ready on the new template"));
    }
    Health::Waiting(format!("{ready} of {desired} pods ready"))
}

/// Records the outcome (if the action is still this worker's), on the timeline and the
/// audit trail; a verified fix resolves the incident as the agent.
async fn finish(
    state: &AppState,
    held: &Held<Actions>,
    action: &Claimed,
    outcome: &Outcome,
) -> Result<(), sqlx::Error> {
    let mut tx = state.db.begin().await?;
    if !held.finish(&mut *tx, outcome.state.as_str()).await? {
        // Our lease ran out and another worker has it: its outcome will count.
        return Ok(());
    }
    sqlx::query("update remediation_actions set outcome = $2 where id = $1")
        .bind(action.id)
        .bind(&outcome.message)
        .execute(&mut *tx)
        .await?;
    let line = format!("\"{}\": {} — {}", action.title, outcome.state.label(), outcome.message);
    crate::server::db::timeline::append(
        &mut *tx,
        action.team_id,
        action.incident_id,
        "action.outcome",
        AGENT_NAME,
        &line,
    )
    .await?;
    audit::record(
        &mut *tx,
        audit::Event {
            team_id: action.team_id,
            actor: &Actor::Agent,
            action: "remediation.executed",
            target: Some(&action.incident_id.to_string()),
            client_addr: None,
            details: json!({"action": action.id, "title": action.title, "change": action.change, "requested_by": action.requested_by,
                            "state": outcome.state.as_str(), "outcome": outcome.message,
                            "before": outcome.before.as_ref().or(action.before.as_ref())}),
        },
    )
    .await?;
    let data = json!({"action": {"id": action.id, "title": action.title, "change": action.change,
                                  "requested_by": action.requested_by, "automatic": action.automatic,
                                  "state": outcome.state.as_str(), "outcome": outcome.message}});
    crate::server::webhooks::emit(
        &mut tx,
        state,
        action.team_id,
        WebhookEvent::ActionExecuted,
        action.incident_id,
        data,
    )
    .await?;
    let mut events = vec![
        LiveEvent::new(LiveKind::ActionExecuted, action.incident_id),
        LiveEvent::new(LiveKind::TimelineEntry, action.incident_id),
    ];
    if outcome.state == ActionState::Verified {
        let resolved = sqlx::query(
            "update incidents set status = 'resolved', resolved_at = now(), resolved_by = $2, last_seen_at = now()
             where id = $1 and status <> 'resolved'",
        )
        .bind(action.incident_id)
        .bind(AGENT_NAME)
        .execute(&mut *tx)
        .await?;
        if resolved.rows_affected() == 1 {
            let how = if action.automatic {
                "automatically".to_string()
            } else {
                format!("as approved by {}", action.requested_by)
            };
            crate::server::db::timeline::append(
                &mut *tx,
                action.team_id,
                action.incident_id,
                "status.resolved",
                AGENT_NAME,
                &format!("Resolved by {AGENT_NAME}: \"{}\", carried out {how}, fixed it.", action.title),
            )
            .await?;
            events.push(LiveEvent::new(LiveKind::IncidentUpdate, action.incident_id));
            let told = format!("\"{}\", carried out {how}, fixed it.", action.title);
            crate::server::outbound::resolved(&mut tx, state, action.team_id, action.incident_id, &told).await?;
        }
    }
    tx.commit().await?;
    state.live.publish(action.team_id, events);
    Ok(())
}
