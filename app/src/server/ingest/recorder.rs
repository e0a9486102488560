//! Group commit: deliveries that arrive together are stored and applied in one
//! transaction, and each sender is answered once that transaction has committed.
//!
//! A delivery waits for no timer: each lane takes whatever has queued up while its
//! previous batch was being written (one delivery when traffic is light, dozens under
//! load), so one statement — one round trip and one commit — serves many alerts.
//!
//! A team's deliveries all go through one lane, in arrival order: a trigger, its
//! acknowledgement and its resolution are applied in the order sent, and two batches
//! of one instance never contend for one team's incidents. Lanes (each shared by the
//! teams that hash to it) run concurrently; a batch takes quota rows in team order, so
//! two batches cannot each hold the row the other waits for. Should a batch still fail
//! (another instance's batch in a deadlock, an invalid value), each of its deliveries
//! is retried on its own, so that one bad delivery fails alone.

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::rate::IngestRates;
use super::{Action, Applied, Delivery, Effect, NormalizedAlert, Outcome, source_label, store_unparsed};
use crate::error::AppError;
use crate::server::live::LiveHub;

/// Lanes, each applying one batch at a time on one connection.
const LANES: usize = 8;
/// The most deliveries one transaction applies (bigger batches under heavy load make
/// each alert cheaper; a lone delivery still goes alone).
const MAX_BATCH: usize = 128;
/// Deliveries waiting per lane before senders wait for room.
const QUEUE: usize = 1024;

/// One parsed delivery, waiting to be applied.
struct Job {
    team_id: Uuid,
    source: &'static str,
    delivery_id: Option<String>,
    alerts: Vec<NormalizedAlert>,
    reply: oneshot::Sender<Result<Outcome, AppError>>,
}

/// Applies parsed deliveries in batches; cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    pool: PgPool,
    live: LiveHub,
    rates: IngestRates,
    lanes: std::sync::Arc<[mpsc::Sender<Job>]>,
}

impl Recorder {
    /// Starts the lanes on the current tokio runtime. They stop once every clone of the
    /// recorder is dropped and their queues are empty. What each delivery did is
    /// announced on `live` once committed.
    /// Each team's deliveries are admitted within its plan's rate (`rates`).
    pub fn start(pool: PgPool, live: LiveHub, rates: IngestRates, public_url: &str) -> Self {
        let public_url: std::sync::Arc<str> = public_url.into();
        let lanes: Vec<_> = (0..LANES)
            .map(|_| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                tokio::spawn(run_lane(pool.clone(), live.clone(), public_url.clone(), receiver));
                sender
            })
            .collect();
        Self { pool, live, rates, lanes: lanes.into() }
    }

    /// Stores the delivery and applies its alerts; returns once they are committed.
    /// `parsed` is the source parser's result: on `Err`, the raw body is stored as
    /// unparsed with the reason.
    pub async fn record(
        &self,
        delivery: &Delivery<'_>,
        parsed: Result<Vec<NormalizedAlert>, String>,
    ) -> Result<Outcome, AppError> {
        let alerts = parsed.as_ref().map_or(1, Vec::len);
        self.rates.admit(&self.pool, delivery.team_id, alerts).await?;
        let mut alerts = match parsed {
            Ok(alerts) => alerts,
            Err(reason) => {
                let outcome = store_unparsed(&self.pool, delivery, &reason).await?;
                self.live.publish(delivery.team_id, outcome.live_events());
                return Ok(outcome);
            }
        };
        // A trigger without a key always opens an incident: give it a fresh key.
        for alert in &mut alerts {
            alert.make_storable();
            if alert.dedup_key.is_none() && alert.action == Action::Trigger {
                alert.dedup_key = Some(Uuid::new_v4().to_string());
            }
        }
        let (reply, answer) = oneshot::channel();
        let lane = &self.lanes[(delivery.team_id.as_u128() % LANES as u128) as usize];
        let job = Job {
            team_id: delivery.team_id,
            source: delivery.source,
            delivery_id: delivery.delivery_id.clone(),
            alerts,
            reply,
        };
        let stopped =
            || AppError::internal("recording an alert failed", &std::io::Error::other("the recorder stopped"));
        if lane.send(job).await.is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn run_lane(pool: PgPool, live: LiveHub, public_url: std::sync::Arc<str>, mut receiver: mpsc::Receiver<Job>) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Quota rows in team order (see the module's documentation); the sort is
        // stable, so each team's deliveries keep their order.
        batch.sort_by_key(|job| job.team_id);
        // recv_many counts deliveries; a delivery of many alerts makes a bigger batch,
        // which is fine: it is applied whole either way.
        match apply_batch(&pool, &public_url, &batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    live.publish(job.team_id, outcome.live_events());
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(_) => {
                for job in batch.drain(..) {
                    let outcome = match apply_batch(&pool, &public_url, std::slice::from_ref(&job)).await {
                        Ok(mut outcomes) => Ok(outcomes.remove(0)),
                        Err(error) if is_concurrent_redelivery(&error) => Ok(Outcome::Duplicate),
                        Err(error) => Err(AppError::internal("recording an alert failed", &error)),
                    };
                    if let Ok(outcome) = &outcome {
                        live.publish(job.team_id, outcome.live_events());
                    }
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

/// Whether the error is two copies of one delivery meeting at the alert's primary key
/// (the other copy was applied).
fn is_concurrent_redelivery(error: &sqlx::Error) -> bool {
    crate::error::violates(error, "alerts_pkey")
}

/// The id an alert of a delivery is stored under: the delivery's own for its first
/// alert, numbered for any further ones.
fn alert_delivery_id(delivery_id: Option<&str>, index: usize) -> Option<String> {
    delivery_id.map(|id| if index == 0 { id.to_string() } else { format!("{id}#{index}") })
}

/// Applies the jobs' alerts, in order, in one transaction (PostgreSQL's
/// `ingest_alerts`, and the webhook deliveries of what it opened, changed or resolved);
/// one outcome per job.
async fn apply_batch(pool: &PgPool, public_url: &str, jobs: &[Job]) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut columns = Columns::default();
    for job in jobs {
        for (index, alert) in job.alerts.iter().enumerate() {
            columns.push(job, alert_delivery_id(job.delivery_id.as_deref(), index), alert);
        }
    }
    // One statement, so one transaction without BEGIN and COMMIT round trips.
    let rows: Vec<(i32, String, Option<Uuid>, bool, i64)> = sqlx::query_as(&format!(
        "with results as (
             select seq, outcome, incident_id, over_quota
             from ingest_alerts($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ), {}
         select seq, outcome, incident_id, over_quota, (select count(*) from webhooks) from results order by seq",
        crate::server::webhooks::INGEST_EVENTS_CTE
    ))
    .bind(&columns.team)
    .bind(&columns.source)
    .bind(&columns.label)
    .bind(&columns.delivery_id)
    .bind(&columns.raw)
    .bind(&columns.action)
    .bind(&columns.dedup_key)
    .bind(&columns.title)
    .bind(&columns.description)
    .bind(&columns.severity)
    .bind(&columns.service)
    .bind(&columns.external_url)
    .bind(&columns.details)
    .bind(&columns.actor)
    .bind(&columns.note)
    .bind(public_url)
    .fetch_all(pool)
    .await?;
    if rows.first().is_some_and(|row| row.4 > 0) {
        crate::server::jobs::announce(
            pool,
            &<crate::server::webhooks::deliver::Deliveries as crate::server::jobs::Kind>::QUEUE,
        )
        .await?;
    }

    let mut rows = rows.into_iter().zip(columns.dedup_key);
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut applied = Vec::with_capacity(job.alerts.len());
        let mut duplicate = false;
        for ((_, outcome, incident_id, over_quota, _), dedup_key) in rows.by_ref().take(job.alerts.len()) {
            let dedup_key = dedup_key.to_string();
            let effect = match outcome.as_str() {
                "duplicate" => {
                    duplicate = true;
                    continue;
                }
                "opened" => Effect::Opened { over_quota },
                "repeated" => Effect::Repeated,
                "acknowledged" => Effect::Acknowledged,
                "resolved" => Effect::Resolved,
                "annotated" => Effect::Annotated,
                _ => Effect::NoOpenIncident,
            };
            applied.push(Applied { incident_id, dedup_key, effect });
        }
        outcomes.push(if duplicate { Outcome::Duplicate } else { Outcome::Applied(applied) });
    }
    Ok(outcomes)
}

/// `ingest_alerts`' arguments: one array per parameter, element n for alert n.
#[derive(Default)]
struct Columns<'a> {
    team: Vec<Uuid>,
    source: Vec<&'static str>,
    label: Vec<&'static str>,
    delivery_id: Vec<Option<String>>,
    raw: Vec<&'a [u8]>,
    action: Vec<&'static str>,
    dedup_key: Vec<&'a str>,
    title: Vec<&'a str>,
    description: Vec<Option<&'a str>>,
    severity: Vec<&'static str>,
    service: Vec<Option<&'a str>>,
    external_url: Vec<Option<&'a str>>,
    details: Vec<&'a serde_json::Value>,
    actor: Vec<&'a str>,
    note: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, job: &Job, delivery_id: Option<String>, alert: &'a NormalizedAlert) {
        let label = source_label(job.source);
        self.team.push(job.team_id);
        self.source.push(job.source);
        self.label.push(label);
        self.delivery_id.push(delivery_id);
        self.raw.push(&alert.raw);
        self.action.push(alert.action.as_str());
        // Triggers without a key were given one on arrival.
        self.dedup_key.push(alert.dedup_key.as_deref().unwrap_or_default());
        self.title.push(&alert.title);
        self.description.push(alert.description.as_deref());
        self.severity.push(alert.severity.as_str());
        self.service.push(alert.service.as_deref());
        self.external_url.push(alert.external_url.as_deref().and_then(crate::domain::incident::web_link));
        self.details.push(&alert.details);
        self.actor.push(alert.actor.as_deref().unwrap_or(label));
        self.note.push(match &alert.action {
            Action::Annotate(note) => Some(note.as_str()),
            _ => None,
        });
    }
}
