//! Alerts in: every source's payload is parsed (in a submodule per source) into
//! [`NormalizedAlert`]s, then [`record`] stores each alert with its raw payload and
//! applies it to the team's incidents in one transaction — store first, answer after,
//! never wait for analysis.
//!
//! Dedup and lifecycle: a trigger whose dedup key matches an open incident of the team
//! counts another occurrence of it; otherwise it opens a new incident (linked to the
//! last resolved one with that key, if any) and asks the quota for analysis. An
//! acknowledge or resolve applies to the open incident with that key.

pub mod alertmanager;
pub mod events_api;
pub mod integrations;
pub mod pagerduty;
pub mod rest;

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::incident::Severity;
use crate::error::AppError;
use crate::server::quota;

/// What an alert asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Something is wrong: open an incident, or count another occurrence.
    Trigger,
    /// Someone is on it.
    Acknowledge,
    /// It is over.
    Resolve,
    /// A note for the incident's timeline.
    Annotate(String),
}

impl Action {
    fn as_str(&self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Annotate(_) => "annotate",
        }
    }
}

/// One alert, whatever sent it.
#[derive(Clone, Debug)]
pub struct NormalizedAlert {
    /// What it asks for.
    pub action: Action,
    /// What identifies "the same problem" (a fingerprint, an incident key); a trigger
    /// without one gets a fresh key, so it always opens an incident.
    pub dedup_key: Option<String>,
    /// One line for people.
    pub title: String,
    /// More, if the sender said more.
    pub description: Option<String>,
    /// How bad.
    pub severity: Severity,
    /// The service affected, if known.
    pub service: Option<String>,
    /// A link back to the sender's view of it.
    pub external_url: Option<String>,
    /// Labels, annotations, custom details: everything else worth keeping.
    pub details: serde_json::Value,
    /// Who acted, when the sender says (e.g. the PagerDuty user who acknowledged).
    pub actor: Option<String>,
    /// The alert's own part of the payload, as received.
    pub raw: Vec<u8>,
}

/// One delivery from a source.
pub struct Delivery<'a> {
    /// The team it belongs to (established by the endpoint's authentication).
    pub team_id: Uuid,
    /// `pagerduty`, `events_api`, `alertmanager`, `grafana` or `rest`.
    pub source: &'static str,
    /// The sender's id for this delivery, when it has one: redelivery has no effect.
    pub delivery_id: Option<String>,
    /// The body as received.
    pub raw: &'a [u8],
}

/// What one alert did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// A new incident; `over_quota` when the team's quota was used up.
    Opened {
        /// Held from analysis until the team upgrades or the period rolls over.
        over_quota: bool,
    },
    /// Another occurrence of an open incident.
    Repeated,
    /// The open incident was acknowledged.
    Acknowledged,
    /// The open incident was resolved.
    Resolved,
    /// A note was added.
    Annotated,
    /// It named no open incident; stored, nothing else to do.
    NoOpenIncident,
}

/// The result for one alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The incident it opened or touched.
    pub incident_id: Option<Uuid>,
    /// Its dedup key (generated when the sender gave none).
    pub dedup_key: String,
    /// What it did.
    pub effect: Effect,
}

/// What a delivery did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Seen before (same delivery id): nothing done again.
    Duplicate,
    /// Authentic but not understood: stored raw as unparsed.
    Unparsed,
    /// Each alert's effect.
    Applied(Vec<Applied>),
}

fn database(error: sqlx::Error) -> AppError {
    AppError::internal("recording an alert failed", &error)
}

/// Stores the delivery and applies its alerts, in one transaction. `parsed` is the
/// source parser's result: on `Err`, the raw body is stored as unparsed with the reason.
pub async fn record(
    pool: &PgPool,
    delivery: &Delivery<'_>,
    parsed: Result<Vec<NormalizedAlert>, String>,
) -> Result<Outcome, AppError> {
    let mut tx = pool.begin().await.map_err(database)?;
    let outcome = match parsed {
        Err(reason) => {
            let stored = insert_alert(&mut tx, delivery, delivery.raw, "unparsed", Some(&reason), None)
                .await
                .map_err(database)?;
            if stored.is_some() { Outcome::Unparsed } else { Outcome::Duplicate }
        }
        Ok(alerts) => {
            let mut applied = Vec::with_capacity(alerts.len());
            let mut duplicate = false;
            for alert in alerts {
                let Some(alert_id) =
                    insert_alert(&mut tx, delivery, &alert.raw, "parsed", None, Some(alert.action.as_str()))
                        .await
                        .map_err(database)?
                else {
                    duplicate = true;
                    break;
                };
                let result = apply(&mut tx, delivery, &alert).await.map_err(database)?;
                sqlx::query("update alerts set incident_id = $2 where id = $1")
                    .bind(alert_id)
                    .bind(result.incident_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(database)?;
                applied.push(result);
            }
            if duplicate { Outcome::Duplicate } else { Outcome::Applied(applied) }
        }
    };
    tx.commit().await.map_err(database)?;
    Ok(outcome)
}

/// Inserts an alert row; `None` when its delivery id was seen before.
async fn insert_alert(
    tx: &mut PgConnection,
    delivery: &Delivery<'_>,
    raw: &[u8],
    parse_status: &str,
    parse_error: Option<&str>,
    action: Option<&str>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "insert into alerts (id, team_id, source, delivery_id, raw_body, parse_status, parse_error, event_action)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (team_id, source, delivery_id) where delivery_id is not null do nothing
         returning id",
    )
    .bind(Uuid::new_v4())
    .bind(delivery.team_id)
    .bind(delivery.source)
    .bind(delivery.delivery_id.as_deref())
    .bind(raw)
    .bind(parse_status)
    .bind(parse_error)
    .bind(action)
    .fetch_optional(&mut *tx)
    .await
}

/// The name people know a source by, for the timeline.
fn source_label(source: &str) -> &'static str {
    match source {
        "pagerduty" => "PagerDuty",
        "events_api" => "Events API",
        "alertmanager" => "Alertmanager",
        "grafana" => "Grafana",
        "rest" => "REST API",
        _ => "an alert source",
    }
}

async fn apply(
    tx: &mut PgConnection,
    delivery: &Delivery<'_>,
    alert: &NormalizedAlert,
) -> Result<Applied, sqlx::Error> {
    let team = delivery.team_id;
    let label = source_label(delivery.source);
    let actor = alert.actor.clone().unwrap_or_else(|| label.to_string());
    match &alert.action {
        Action::Trigger => {
            let dedup_key = alert.dedup_key.clone().unwrap_or_else(|| Uuid::new_v4().to_string());
            let (incident_id, inserted, occurrences): (Uuid, bool, i32) = sqlx::query_as(
                "insert into incidents (id, team_id, title, description, severity, status, service, source,
                                        dedup_key, analysis, previous_incident_id, external_url, details)
                 values ($1, $2, $3, $4, $5, 'triggered', $6, $7, $8, 'eligible',
                         (select id from incidents where team_id = $2 and dedup_key = $8 and status = 'resolved'
                          order by resolved_at desc limit 1),
                         $9, $10)
                 on conflict (team_id, dedup_key) where status <> 'resolved'
                 do update set occurrences = incidents.occurrences + 1, last_seen_at = now()
                 returning id, (xmax = 0), occurrences",
            )
            .bind(Uuid::new_v4())
            .bind(team)
            .bind(&alert.title)
            .bind(alert.description.as_deref())
            .bind(alert.severity.as_str())
            .bind(alert.service.as_deref())
            .bind(delivery.source)
            .bind(&dedup_key)
            .bind(alert.external_url.as_deref())
            .bind(&alert.details)
            .fetch_one(&mut *tx)
            .await?;
            if !inserted {
                timeline(
                    tx,
                    team,
                    incident_id,
                    "alert.repeated",
                    &actor,
                    &format!("Alert received again from {label} (occurrence {occurrences})"),
                )
                .await?;
                return Ok(Applied { incident_id: Some(incident_id), dedup_key, effect: Effect::Repeated });
            }
            timeline(
                tx,
                team,
                incident_id,
                "alert.received",
                &actor,
                &format!("Alert received from {label}: {}", alert.title),
            )
            .await?;
            let granted = quota::grant(tx, team).await?;
            if !granted {
                sqlx::query("update incidents set analysis = 'over_quota' where id = $1")
                    .bind(incident_id)
                    .execute(&mut *tx)
                    .await?;
                timeline(
                    tx,
                    team,
                    incident_id,
                    "quota.exceeded",
                    "DreamOps",
                    "Over quota — not analysed. Upgrade the plan, or wait for the next period.",
                )
                .await?;
            }
            Ok(Applied { incident_id: Some(incident_id), dedup_key, effect: Effect::Opened { over_quota: !granted } })
        }
        Action::Acknowledge | Action::Resolve | Action::Annotate(_) => {
            let dedup_key = alert.dedup_key.clone().unwrap_or_default();
            let incident: Option<Uuid> = match &alert.action {
                Action::Acknowledge => {
                    sqlx::query_scalar(
                        "update incidents set status = 'acknowledged', acknowledged_at = coalesce(acknowledged_at, now()),
                                acknowledged_by = coalesce(acknowledged_by, $3), last_seen_at = now()
                         where team_id = $1 and dedup_key = $2 and status <> 'resolved' returning id",
                    )
                    .bind(team)
                    .bind(&dedup_key)
                    .bind(&actor)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                Action::Resolve => {
                    sqlx::query_scalar(
                        "update incidents set status = 'resolved', resolved_at = now(), resolved_by = $3, last_seen_at = now()
                         where team_id = $1 and dedup_key = $2 and status <> 'resolved' returning id",
                    )
                    .bind(team)
                    .bind(&dedup_key)
                    .bind(&actor)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                _ => {
                    sqlx::query_scalar(
                        "select id from incidents where team_id = $1 and dedup_key = $2
                         order by (status <> 'resolved') desc, last_seen_at desc limit 1",
                    )
                    .bind(team)
                    .bind(&dedup_key)
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
            let Some(incident_id) = incident else {
                return Ok(Applied { incident_id: None, dedup_key, effect: Effect::NoOpenIncident });
            };
            let (kind, message, effect) = match &alert.action {
                Action::Acknowledge => {
                    ("status.acknowledged", format!("Acknowledged by {actor}"), Effect::Acknowledged)
                }
                Action::Resolve => ("status.resolved", format!("Resolved by {actor}"), Effect::Resolved),
                Action::Annotate(note) => ("note", note.clone(), Effect::Annotated),
                Action::Trigger => unreachable!("handled above"),
            };
            timeline(tx, team, incident_id, kind, &actor, &message).await?;
            Ok(Applied { incident_id: Some(incident_id), dedup_key, effect })
        }
    }
}

/// Appends to an incident's timeline.
pub async fn timeline(
    tx: &mut PgConnection,
    team: Uuid,
    incident: Uuid,
    kind: &str,
    actor: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into timeline_entries (team_id, incident_id, kind, actor, message) values ($1, $2, $3, $4, $5)",
    )
    .bind(team)
    .bind(incident)
    .bind(kind)
    .bind(actor)
    .bind(message)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The first `max` characters of `text`, for fields with a length limit.
pub fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
