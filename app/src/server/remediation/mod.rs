//! Remediation: what may be done about an incident and by whom — an operator's approval,
//! or the agent in autonomous mode within the cluster's policy, the hourly limit and the
//! team's kill switch — recorded as intended before anything touches the cluster, then
//! carried out by the job runner (`execute`).

pub mod execute;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::account::Permission;
use crate::domain::analysis::{Change, RecommendedAction, Risk};
use crate::domain::cluster::{RemediationMode, RemediationPolicy};
use crate::domain::remediation::{ActionState, ActionView, IncidentActions};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::clusters;
use crate::server::config::RemediationSettings;
use crate::server::state::AppState;

/// Why the policy refuses `change` to anyone, if it does.
fn refused_by_policy(policy: &RemediationPolicy, change: &Change) -> Option<String> {
    let (namespace, _) = change.target()?;
    if policy.mode == RemediationMode::ReadOnly {
        return Some(
            "The cluster is read-only: DreamOps recommends and never acts there. An admin can change its remediation policy."
                .into(),
        );
    }
    if policy.excluded_namespaces.iter().any(|excluded| excluded == namespace) {
        return Some(format!("Namespace {namespace} is excluded from remediation by the cluster's policy."));
    }
    if change.destructive() && !policy.destructive_allowed {
        return Some("The cluster's policy does not allow destructive operations such as deleting pods.".into());
    }
    None
}

fn workload(change: &Change) -> String {
    change.target().map(|(namespace, name)| format!("{namespace}/{name}")).unwrap_or_default()
}

/// An action to record: on which incident and cluster, which recommended action, and
/// who asks for it (none: the agent, by itself).
struct Intent<'a> {
    team: Uuid,
    incident: Uuid,
    cluster: Uuid,
    index: usize,
    action: &'a RecommendedAction,
    requested_by: Option<&'a str>,
    comment: Option<&'a str>,
}

/// Records the intent (the workers take it from there); its id, or none when another
/// action on the same workload is still in flight.
async fn intend(db: &mut PgConnection, intent: &Intent<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    let action = intent.action;
    let id: Option<Uuid> = sqlx::query_scalar(
        "insert into remediation_actions
             (team_id, incident_id, cluster_id, action_index, title, risk, reversible, change, workload, automatic, requested_by, comment)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         on conflict (cluster_id, workload) where state in ('intended', 'executing') do nothing
         returning id",
    )
    .bind(intent.team)
    .bind(intent.incident)
    .bind(intent.cluster)
    .bind(intent.index as i32)
    .bind(&action.title)
    .bind(action.risk.as_str())
    .bind(action.reversible)
    .bind(serde_json::to_value(&action.change).unwrap_or_default())
    .bind(workload(&action.change))
    .bind(intent.requested_by.is_none())
    .bind(intent.requested_by.unwrap_or(crate::domain::incident::AGENT_NAME))
    .bind(intent.comment)
    .fetch_optional(&mut *db)
    .await?;
    if id.is_some() {
        crate::server::jobs::announce(&mut *db, &<execute::Actions as crate::server::jobs::Kind>::QUEUE).await?;
    }
    Ok(id)
}

/// An operator approves recommended action `index` of the incident's analysis, with an
/// optional comment: it is recorded as intended and the agent carries it out.
pub async fn approve(
    state: &AppState,
    acting: &Acting,
    incident: Uuid,
    index: usize,
    comment: Option<&str>,
) -> Result<ActionView, AppError> {
    let team = acting.team_id;
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 1000) {
        return Err(AppError::field("comment", "Keep the comment under 1,000 characters."));
    }
    let mut tx = state.db.begin().await.or_internal("approving an action failed")?;
    let found: Option<(serde_json::Value, Option<Uuid>, String)> = sqlx::query_as(
        "select a.actions, a.cluster_id, i.status from analyses a join incidents i on i.id = a.incident_id
         where a.incident_id = $1 and a.team_id = $2 for update of i",
    )
    .bind(incident)
    .bind(team)
    .fetch_optional(&mut *tx)
    .await
    .or_internal("approving an action failed")?;
    let (actions, cluster, status) = found.ok_or(AppError::NotFound)?;
    let actions: Vec<RecommendedAction> = serde_json::from_value(actions).unwrap_or_default();
    let action = actions.get(index).ok_or(AppError::NotFound)?;
    if action.change.target().is_none() {
        return Err(AppError::Conflict("This is a step for a person: DreamOps cannot carry it out.".into()));
    }
    if status == "resolved" {
        return Err(AppError::Conflict("The incident is resolved; reopen it first.".into()));
    }
    let cluster = cluster.ok_or_else(|| AppError::Conflict("The analysis names no cluster to act on.".into()))?;
    let policy = clusters::remediation_policy(&mut tx, team, cluster)
        .await
        .or_internal("approving an action failed")?
        .ok_or_else(|| AppError::Conflict("The cluster of this analysis has been removed.".into()))?;
    if let Some(reason) = refused_by_policy(&policy, &action.change) {
        return Err(AppError::Conflict(reason));
    }
    let who = acting.name();
    let who = who.as_str();
    let intent = Intent { team, incident, cluster, index, action, requested_by: Some(who), comment };
    let Some(id) = intend(&mut tx, &intent).await.or_internal("approving an action failed")? else {
        return Err(AppError::Conflict(format!(
            "An action on {} is already in progress; wait for its outcome.",
            workload(&action.change)
        )));
    };
    let message = match comment {
        Some(comment) => format!("Approved by {who}: {} — \"{comment}\"", action.title),
        None => format!("Approved by {who}: {}", action.title),
    };
    crate::server::db::timeline::append(&mut *tx, team, incident, "action.approved", who, &message)
        .await
        .or_internal("approving an action failed")?;
    acting
        .audit(
            &mut *tx,
            "remediation.approved",
            Some(&incident.to_string()),
            serde_json::json!({"action": id, "change": action.change, "risk": action.risk, "comment": comment}),
        )
        .await?;
    tx.commit().await.or_internal("approving an action failed")?;
    publish(state, team, incident);
    let view = list(&state.db, team, incident).await?.into_iter().find(|a| a.id == id).ok_or(AppError::NotFound)?;
    Ok(view)
}

/// What the agent made of a fresh analysis's actions under the cluster's policy.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Proposal<'a> {
    /// What it did or why it did not, for the timeline (autonomous mode only).
    pub note: Option<String>,
    /// The action that now waits for an operator's approval, if one does.
    pub awaiting: Option<&'a RecommendedAction>,
}

/// Decides what becomes of a fresh analysis's `actions` on `cluster`, in the analysis's
/// transaction. In approve mode the first action the agent can carry out waits for an
/// approval. In autonomous mode the agent records the first the policy lets it take by
/// itself (not high risk, at most the policy's risk, destructive only if allowed, not
/// in an excluded namespace) within the hourly limit and unless the team's kill switch
/// is on; when it cannot, that action waits for an approval instead. Read-only clusters
/// get neither.
pub async fn propose<'a>(
    db: &mut PgConnection,
    settings: &RemediationSettings,
    team: Uuid,
    incident: Uuid,
    cluster: Uuid,
    actions: &'a [RecommendedAction],
) -> Result<Proposal<'a>, sqlx::Error> {
    let Some(policy) = clusters::remediation_policy(&mut *db, team, cluster).await? else {
        return Ok(Proposal::default());
    };
    let first = actions.iter().find(|action| action.change.target().is_some());
    match policy.mode {
        RemediationMode::Approve => return Ok(Proposal { note: None, awaiting: first }),
        RemediationMode::Autonomous => {}
        RemediationMode::ReadOnly => return Ok(Proposal::default()),
    }
    let highest = policy.max_autonomous_risk.min(Risk::Medium);
    let Some((index, action)) = actions.iter().enumerate().find(|(_, action)| {
        action.change.target().is_some()
            && action.risk <= highest
            && refused_by_policy(&policy, &action.change).is_none()
    }) else {
        let note = "Autonomous mode: no recommended action is within the cluster's policy; each needs an approval.";
        return Ok(Proposal { note: first.map(|_| note.to_string()), awaiting: first });
    };
    if kill_switch(&mut *db, team).await? {
        return Ok(Proposal {
            note: Some("Autonomous mode: the team's kill switch is on, so nothing is done automatically.".into()),
            awaiting: Some(action),
        });
    }
    let recent: i64 = sqlx::query_scalar(
        "select count(*) from remediation_actions where cluster_id = $1 and automatic and created_at > now() - interval '1 hour'",
    )
    .bind(cluster)
    .fetch_one(&mut *db)
    .await?;
    if recent >= settings.max_automatic_per_hour {
        return Ok(Proposal {
            note: Some(format!(
                "Autonomous mode: this cluster had its {} automatic actions this hour; \"{}\" awaits an approval.",
                settings.max_automatic_per_hour, action.title
            )),
            awaiting: Some(action),
        });
    }
    let intent = Intent { team, incident, cluster, index, action, requested_by: None, comment: None };
    let note = match intend(db, &intent).await? {
        Some(_) => format!("Autonomous mode: carrying out \"{}\".", action.title),
        None => format!("Autonomous mode: another action on {} is in progress; not acting.", workload(&action.change)),
    };
    Ok(Proposal { note: Some(note), awaiting: None })
}

/// Whether the team's kill switch is on.
pub async fn paused(db: &PgPool, team: Uuid) -> Result<bool, AppError> {
    kill_switch(db, team).await.or_internal("reading the kill switch failed")
}

/// The team's kill switch, read where the caller is (a pool or its transaction).
async fn kill_switch(db: impl sqlx::PgExecutor<'_>, team: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select automation_paused from teams where id = $1").bind(team).fetch_one(db).await
}

/// Turns the team's kill switch on or off; on, automatic actions not yet begun are
/// cancelled.
pub async fn set_paused(state: &AppState, acting: &Acting, paused: bool) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("changing the kill switch failed")?;
    sqlx::query("update teams set automation_paused = $2 where id = $1")
        .bind(acting.team_id)
        .bind(paused)
        .execute(&mut *tx)
        .await
        .or_internal("changing the kill switch failed")?;
    let cancelled: Vec<Uuid> = if paused {
        sqlx::query_scalar(
            "update remediation_actions set state = 'cancelled', finished_at = now(),
                    outcome = 'Stopped by the kill switch before it began.'
             where team_id = $1 and automatic and state = 'intended' returning incident_id",
        )
        .bind(acting.team_id)
        .fetch_all(&mut *tx)
        .await
        .or_internal("changing the kill switch failed")?
    } else {
        Vec::new()
    };
    acting
        .audit(
            &mut *tx,
            if paused { "remediation.paused" } else { "remediation.resumed" },
            None,
            serde_json::json!({"cancelled": cancelled.len()}),
        )
        .await?;
    tx.commit().await.or_internal("changing the kill switch failed")?;
    for incident in cancelled {
        publish(state, acting.team_id, incident);
    }
    Ok(())
}

/// Tells the team's open pages that an incident's actions changed.
fn publish(state: &crate::server::state::AppState, team: Uuid, incident: Uuid) {
    use crate::domain::live::{LiveEvent, LiveKind};
    state.live.publish(
        team,
        [LiveEvent::new(LiveKind::ActionExecuted, incident), LiveEvent::new(LiveKind::TimelineEntry, incident)],
    );
}

#[derive(sqlx::FromRow)]
struct ActionRow {
    id: Uuid,
    action_index: i32,
    title: String,
    risk: String,
    change: serde_json::Value,
    automatic: bool,
    requested_by: String,
    comment: Option<String>,
    state: String,
    outcome: Option<String>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

fn corrupt(what: &str) -> AppError {
    AppError::internal("reading actions failed", &std::io::Error::other(what.to_string()))
}

/// The actions on the team's incident, oldest first.
pub async fn list(db: &PgPool, team: Uuid, incident: Uuid) -> Result<Vec<ActionView>, AppError> {
    let rows: Vec<ActionRow> = sqlx::query_as(
        "select id, action_index, title, risk, change, automatic, requested_by, comment, state, outcome, created_at, finished_at
         from remediation_actions where incident_id = $1 and team_id = $2 order by created_at, id",
    )
    .bind(incident)
    .bind(team)
    .fetch_all(db)
    .await
    .or_internal("listing actions failed")?;
    rows.into_iter()
        .map(|row| {
            Ok(ActionView {
                id: row.id,
                action_index: row.action_index,
                title: row.title,
                risk: Risk::parse(&row.risk).ok_or_else(|| corrupt("an action's risk is unknown"))?,
                change: serde_json::from_value(row.change).map_err(|_| corrupt("an action's change cannot be read"))?,
                automatic: row.automatic,
                requested_by: row.requested_by,
                comment: row.comment,
                state: ActionState::parse(&row.state).ok_or_else(|| corrupt("an action's state is unknown"))?,
                outcome: row.outcome,
                created_at: row.created_at,
                finished_at: row.finished_at,
            })
        })
        .collect()
}

/// The incident's actions with what `auth` may do about them.
pub async fn incident_actions(state: &AppState, acting: &Acting, incident: Uuid) -> Result<IncidentActions, AppError> {
    let db = &state.db;
    let team = acting.team_id;
    let found: Option<(String, Option<String>)> = sqlx::query_as(
        "select i.status, c.remediation_mode from incidents i
         left join analyses a on a.incident_id = i.id left join clusters c on c.id = a.cluster_id
         where i.id = $1 and i.team_id = $2",
    )
    .bind(incident)
    .bind(team)
    .fetch_optional(db)
    .await
    .or_internal("reading actions failed")?;
    let paused = paused(db, team).await?;
    let (status, mode) = found.ok_or(AppError::NotFound)?;
    let mode = mode.and_then(|mode| mode.parse::<RemediationMode>().ok());
    // Nothing more to approve on a resolved incident, or where the cluster is read-only.
    let can_approve = acting.can(Permission::ApproveRemediations)
        && mode.is_some_and(|mode| mode != RemediationMode::ReadOnly)
        && status != "resolved";
    Ok(IncidentActions { actions: list(db, team, incident).await?, mode, can_approve, automation_paused: paused })
}
