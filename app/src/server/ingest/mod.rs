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
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::incident::Severity;
use crate::error::AppError;

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

/// Stores the delivery and applies its alerts, in one transaction (PostgreSQL's
/// `ingest_alert` does each alert's work in one round trip). `parsed` is the source
/// parser's result: on `Err`, the raw body is stored as unparsed with the reason.
pub async fn record(
    pool: &PgPool,
    delivery: &Delivery<'_>,
    parsed: Result<Vec<NormalizedAlert>, String>,
) -> Result<Outcome, AppError> {
    let alerts = match parsed {
        Ok(alerts) => alerts,
        Err(reason) => {
            let stored: Option<Uuid> = sqlx::query_scalar(
                "insert into alerts (id, team_id, source, delivery_id, raw_body, parse_status, parse_error)
                 values ($1, $2, $3, $4, $5, 'unparsed', $6)
                 on conflict (team_id, source, delivery_id) where delivery_id is not null do nothing
                 returning id",
            )
            .bind(Uuid::new_v4())
            .bind(delivery.team_id)
            .bind(delivery.source)
            .bind(delivery.delivery_id.as_deref())
            .bind(delivery.raw)
            .bind(&reason)
            .fetch_optional(pool)
            .await
            .map_err(database)?;
            return Ok(if stored.is_some() { Outcome::Unparsed } else { Outcome::Duplicate });
        }
    };
    // One alert needs no transaction of its own: the function call is atomic.
    let mut tx = if alerts.len() > 1 { Some(pool.begin().await.map_err(database)?) } else { None };
    let mut applied = Vec::with_capacity(alerts.len());
    for alert in &alerts {
        let result = match tx.as_mut() {
            Some(tx) => apply(&mut **tx, delivery, alert).await,
            None => apply(pool, delivery, alert).await,
        }
        .map_err(database)?;
        match result {
            Some(result) => applied.push(result),
            None => return Ok(Outcome::Duplicate),
        }
    }
    if let Some(tx) = tx {
        tx.commit().await.map_err(database)?;
    }
    Ok(Outcome::Applied(applied))
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

/// Applies one alert; `None` when its delivery was seen before.
async fn apply(
    db: impl sqlx::PgExecutor<'_>,
    delivery: &Delivery<'_>,
    alert: &NormalizedAlert,
) -> Result<Option<Applied>, sqlx::Error> {
    let label = source_label(delivery.source);
    let dedup_key = match (&alert.action, &alert.dedup_key) {
        (_, Some(key)) => key.clone(),
        (Action::Trigger, None) => Uuid::new_v4().to_string(),
        (_, None) => String::new(),
    };
    let note = match &alert.action {
        Action::Annotate(note) => Some(note.as_str()),
        _ => None,
    };
    let (outcome, incident_id, over_quota): (String, Option<Uuid>, bool) = sqlx::query_as(
        "select outcome, incident_id, over_quota
         from ingest_alert($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(delivery.team_id)
    .bind(delivery.source)
    .bind(label)
    .bind(delivery.delivery_id.as_deref())
    .bind(&alert.raw)
    .bind(alert.action.as_str())
    .bind(&dedup_key)
    .bind(&alert.title)
    .bind(alert.description.as_deref())
    .bind(alert.severity.as_str())
    .bind(alert.service.as_deref())
    .bind(alert.external_url.as_deref())
    .bind(&alert.details)
    .bind(alert.actor.as_deref().unwrap_or(label))
    .bind(note)
    .fetch_one(db)
    .await?;
    let effect = match outcome.as_str() {
        "duplicate" => return Ok(None),
        "opened" => Effect::Opened { over_quota },
        "repeated" => Effect::Repeated,
        "acknowledged" => Effect::Acknowledged,
        "resolved" => Effect::Resolved,
        "annotated" => Effect::Annotated,
        _ => Effect::NoOpenIncident,
    };
    Ok(Some(Applied { incident_id, dedup_key, effect }))
}

/// The first `max` characters of `text`, for fields with a length limit.
pub fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
