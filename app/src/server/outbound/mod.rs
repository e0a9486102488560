//! Telling other tools (and, by email, the members who asked: `notifications`; and the
//! team's webhook endpoints: `webhooks`) what happened: PagerDuty write-back (acknowledge the PagerDuty
//! incident an alert came from when the agent starts, add the diagnosis as a note,
//! resolve it when a fix is verified) and Slack incoming-webhook messages (a new
//! incident, an action awaiting approval, resolved), and the incident's GitHub issue
//! commented on when it is resolved. Calls are queued in
//! `outbound_calls` within the transaction of what they report; the job runner sends
//! them (`deliver`).

pub mod deliver;
pub mod settings;

use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::integration::Destination;
use crate::domain::webhook::WebhookEvent;
use crate::server::state::AppState;
use crate::server::{notifications, webhooks};

/// What the team configured, and what the incident is.
#[derive(sqlx::FromRow)]
struct Facts {
    pagerduty: bool,
    slack: bool,
    /// The PagerDuty incident the alert came from: only an incident PagerDuty's signed
    /// webhook opened names one (other senders' details cannot steer write-back).
    pagerduty_incident: Option<String>,
    title: String,
    severity: String,
}

async fn facts(db: &mut PgConnection, team: Uuid, incident: Uuid) -> Result<Option<Facts>, sqlx::Error> {
    sqlx::query_as(
        "select coalesce(n.pagerduty_key is not null and n.pagerduty_from is not null, false) as pagerduty,
                coalesce(n.slack_webhook is not null, false) as slack,
                case when i.source = 'pagerduty' then i.details ->> 'pagerduty_incident' end as pagerduty_incident,
                i.title, i.severity
         from incidents i left join team_notifications n on n.team_id = i.team_id
         where i.id = $1 and i.team_id = $2",
    )
    .bind(incident)
    .bind(team)
    .fetch_optional(db)
    .await
}

async fn queue(
    db: &mut PgConnection,
    team: Uuid,
    incident: Uuid,
    target: Destination,
    purpose: &str,
    (method, path, body): (&str, String, Value),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into outbound_calls (team_id, incident_id, target, purpose, method, path, body)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(team)
    .bind(incident)
    .bind(target.as_str())
    .bind(purpose)
    .bind(method)
    .bind(path)
    .bind(body)
    .execute(&mut *db)
    .await?;
    crate::server::jobs::announce(db, &<deliver::Calls as crate::server::jobs::Kind>::QUEUE).await
}

/// PagerDuty's change of an incident's status.
fn pagerduty_status(id: &str, status: &str) -> (&'static str, String, Value) {
    ("PUT", format!("/incidents/{id}"), json!({"incident": {"type": "incident_reference", "status": status}}))
}

fn slack(text: String) -> (&'static str, String, Value) {
    ("POST", String::new(), json!({"text": text}))
}

/// The incident's page, for links in messages.
fn link(base: &str, incident: Uuid, title: &str) -> String {
    format!("<{base}/incidents/{incident}|{}>", title.replace(['<', '>', '|'], " "))
}

/// The agent started on the incident: acknowledge it in PagerDuty, announce it in Slack.
pub async fn analysis_started(
    db: &mut PgConnection,
    state: &AppState,
    team: Uuid,
    incident: Uuid,
) -> Result<(), sqlx::Error> {
    notifications::incident_opened(db, state, team, incident).await?;
    let base = state.public_url();
    let Some(facts) = facts(db, team, incident).await? else { return Ok(()) };
    if let Some(id) = facts.pagerduty_incident.as_deref().filter(|_| facts.pagerduty) {
        queue(db, team, incident, Destination::Pagerduty, "acknowledge", pagerduty_status(id, "acknowledged")).await?;
    }
    if facts.slack {
        let text = format!(":rotating_light: New {} incident: {}", facts.severity, link(base, incident, &facts.title));
        queue(db, team, incident, Destination::Slack, "new_incident", slack(text)).await?;
    }
    Ok(())
}

/// The agent stored its diagnosis: add it to the PagerDuty incident as a note; in Slack,
/// say when an action awaits an operator's approval.
pub async fn diagnosed(
    db: &mut PgConnection,
    state: &AppState,
    team: Uuid,
    incident: Uuid,
    diagnosis: &str,
    awaiting: Option<&str>,
) -> Result<(), sqlx::Error> {
    webhooks::emit(
        db,
        state,
        team,
        WebhookEvent::AnalysisReady,
        incident,
        json!({ "analysis": { "diagnosis": diagnosis } }),
    )
    .await?;
    if let Some(action) = awaiting {
        notifications::awaiting_approval(db, state, team, incident, action).await?;
        let data = json!({ "action": { "title": action }, "analysis": { "diagnosis": diagnosis } });
        webhooks::emit(db, state, team, WebhookEvent::ActionAwaitingApproval, incident, data).await?;
    }
    let base = state.public_url();
    let Some(facts) = facts(db, team, incident).await? else { return Ok(()) };
    if let Some(id) = facts.pagerduty_incident.as_deref().filter(|_| facts.pagerduty) {
        let note =
            json!({"note": {"content": format!("DreamOps diagnosis: {diagnosis}\n{base}/incidents/{incident}")}});
        queue(db, team, incident, Destination::Pagerduty, "note", ("POST", format!("/incidents/{id}/notes"), note))
            .await?;
    }
    if let Some(action) = awaiting.filter(|_| facts.slack) {
        let text = format!(":hand: Awaiting approval on {}: {action}\n{diagnosis}", link(base, incident, &facts.title));
        queue(db, team, incident, Destination::Slack, "awaiting_approval", slack(text)).await?;
    }
    Ok(())
}

/// A verified fix resolved the incident: resolve it in PagerDuty, say so in Slack.
pub async fn resolved(
    db: &mut PgConnection,
    state: &AppState,
    team: Uuid,
    incident: Uuid,
    how: &str,
) -> Result<(), sqlx::Error> {
    notifications::resolved(db, state, team, incident, how, None).await?;
    let by = format!("Resolved by {}: {how}", crate::domain::incident::AGENT_NAME);
    crate::server::github::issues::incident_resolved(db, team, incident, &by).await?;
    let data =
        json!({ "change": { "kind": "status.resolved", "message": how, "by": crate::domain::incident::AGENT_NAME } });
    webhooks::emit(db, state, team, WebhookEvent::IncidentResolved, incident, data).await?;
    let base = state.public_url();
    let Some(facts) = facts(db, team, incident).await? else { return Ok(()) };
    if let Some(id) = facts.pagerduty_incident.as_deref().filter(|_| facts.pagerduty) {
        queue(db, team, incident, Destination::Pagerduty, "resolve", pagerduty_status(id, "resolved")).await?;
    }
    if facts.slack {
        let text = format!(":white_check_mark: Resolved: {} — {how}", link(base, incident, &facts.title));
        queue(db, team, incident, Destination::Slack, "resolved", slack(text)).await?;
    }
    Ok(())
}
