//! Outgoing webhooks: a team's endpoints (a URL, the events it wants, a signing secret
//! sealed at rest, and for a day after a rotation the previous secret too), the events
//! queued as deliveries in the transaction of what they report ([`emit`]), and what an
//! admin does with them: list, create, rotate, remove, read deliveries, replay one. The
//! job runner sends them (`deliver`).
//!
//! Deliveries are signed like Stripe's: `DreamOps-Signature: t=<unix>,v1=<hex>` where
//! each `v1` is the HMAC-SHA256 of `"<t>.<body>"` under one active secret.

pub mod deliver;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::webhook::{
    DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEndpointWithSecret, WebhookEvent,
};
use crate::error::{AppError, Checks, OrInternal};
use crate::server::audit::Acting;
use crate::server::jobs::{self, Kind as _};
use crate::server::secrets::Place;
use crate::server::state::AppState;
use crate::server::token;

/// The start of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Endpoints a team may have.
pub const MAX_ENDPOINTS: i64 = 10;
/// How long deliveries are also signed with the secret before a rotation.
pub const PREVIOUS_SECRET_HOURS: i32 = 24;
/// Deliveries listed per page.
pub const DELIVERIES_PAGE: i64 = 50;
/// The signature header.
pub const SIGNATURE_HEADER: &str = "DreamOps-Signature";

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    url: String,
    events: Vec<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    previous_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> Self {
        WebhookEndpoint {
            id: row.id,
            url: row.url,
            events: row.events.iter().filter_map(|event| event.parse().ok()).collect(),
            created_at: row.created_at,
            previous_secret_until: row.previous_until.filter(|until| *until > chrono::Utc::now()),
        }
    }
}

const ENDPOINT_COLUMNS: &str = "id, url, events, created_at, previous_until";

/// The team's endpoints, oldest first.
pub async fn list(db: &PgPool, team: Uuid) -> Result<Vec<WebhookEndpoint>, AppError> {
    let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
        "select {ENDPOINT_COLUMNS} from webhook_endpoints where team_id = $1 order by created_at, id"
    ))
    .bind(team)
    .fetch_all(db)
    .await
    .or_internal("reading webhook endpoints failed")?;
    Ok(rows.into_iter().map(Into::into).collect())
}

fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", token::random_hex(24))
}

/// Subscribes `url` to `events`; the answer holds the signing secret, shown this once.
/// The URL must pass the outbound-address policy every user-typed URL passes.
pub async fn create(
    state: &AppState,
    acting: &Acting,
    url: &str,
    events: &[WebhookEvent],
) -> Result<WebhookEndpointWithSecret, AppError> {
    let url = url.trim();
    let mut checks = Checks::default();
    checks.field("url", check_url(state, url));
    if events.is_empty() {
        checks.fail("events", "Choose at least one event.");
    }
    checks.finish()?;
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    let names: Vec<&str> = events.iter().map(|event| event.as_str()).collect();
    let id = Uuid::new_v4();
    let secret = new_secret();
    let sealed = state.cipher.seal(secret.as_bytes(), &Place::webhook_secret(acting.team_id, id));
    let mut tx = state.db.begin().await.or_internal("saving a webhook endpoint failed")?;
    let count: i64 = sqlx::query_scalar("select count(*) from webhook_endpoints where team_id = $1")
        .bind(acting.team_id)
        .fetch_one(&mut *tx)
        .await
        .or_internal("saving a webhook endpoint failed")?;
    if count >= MAX_ENDPOINTS {
        return Err(AppError::Conflict(format!(
            "A team has at most {MAX_ENDPOINTS} webhook endpoints: remove one first."
        )));
    }
    let row: EndpointRow = sqlx::query_as(&format!(
        "insert into webhook_endpoints (id, team_id, url, events, secret) values ($1, $2, $3, $4, $5)
         returning {ENDPOINT_COLUMNS}"
    ))
    .bind(id)
    .bind(acting.team_id)
    .bind(url)
    .bind(&names)
    .bind(sealed)
    .fetch_one(&mut *tx)
    .await
    .or_internal("saving a webhook endpoint failed")?;
    acting
        .audit(&mut *tx, "webhook.created", Some(&id.to_string()), serde_json::json!({ "url": url, "events": names }))
        .await?;
    tx.commit().await.or_internal("saving a webhook endpoint failed")?;
    Ok(WebhookEndpointWithSecret { endpoint: row.into(), secret })
}

/// A URL deliveries may go to: https (or http where the deployment allows it), and not
/// an internal address.
fn check_url(state: &AppState, url: &str) -> Result<(), String> {
    if url.chars().count() > 2048 {
        return Err("A URL is 2,048 characters at most.".into());
    }
    state.settings.outbound.policy().check_url(url).map(|_| ()).map_err(|refused| refused.to_string())
}

/// Gives endpoint `id` a new secret; the old one still signs deliveries for a day, so
/// that receivers can switch without losing any.
pub async fn rotate(state: &AppState, acting: &Acting, id: Uuid) -> Result<WebhookEndpointWithSecret, AppError> {
    let mut tx = state.db.begin().await.or_internal("rotating a webhook secret failed")?;
    let current: Vec<u8> =
        sqlx::query_scalar("select secret from webhook_endpoints where id = $1 and team_id = $2 for update")
            .bind(id)
            .bind(acting.team_id)
            .fetch_optional(&mut *tx)
            .await
            .or_internal("rotating a webhook secret failed")?
            .ok_or(AppError::NotFound)?;
    let team = acting.team_id;
    let previous =
        state.cipher.open(&current, &Place::webhook_secret(team, id)).or_internal("opening a webhook secret failed")?;
    let secret = new_secret();
    let row: EndpointRow = sqlx::query_as(&format!(
        "update webhook_endpoints set secret = $3, previous_secret = $4,
                previous_until = now() + make_interval(hours => $5)
         where id = $1 and team_id = $2 returning {ENDPOINT_COLUMNS}"
    ))
    .bind(id)
    .bind(team)
    .bind(state.cipher.seal(secret.as_bytes(), &Place::webhook_secret(team, id)))
    .bind(state.cipher.seal(&previous, &Place::webhook_previous_secret(team, id)))
    .bind(PREVIOUS_SECRET_HOURS)
    .fetch_one(&mut *tx)
    .await
    .or_internal("rotating a webhook secret failed")?;
    acting.audit(&mut *tx, "webhook.secret_rotated", Some(&id.to_string()), serde_json::json!({})).await?;
    tx.commit().await.or_internal("rotating a webhook secret failed")?;
    Ok(WebhookEndpointWithSecret { endpoint: row.into(), secret })
}

/// Removes endpoint `id` and its deliveries.
pub async fn remove(state: &AppState, acting: &Acting, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("removing a webhook endpoint failed")?;
    let url: String = sqlx::query_scalar("delete from webhook_endpoints where id = $1 and team_id = $2 returning url")
        .bind(id)
        .bind(acting.team_id)
        .fetch_optional(&mut *tx)
        .await
        .or_internal("removing a webhook endpoint failed")?
        .ok_or(AppError::NotFound)?;
    acting.audit(&mut *tx, "webhook.removed", Some(&id.to_string()), serde_json::json!({ "url": url })).await?;
    tx.commit().await.or_internal("removing a webhook endpoint failed")
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    endpoint_id: Uuid,
    event_id: Uuid,
    event: String,
    state: String,
    attempts: i32,
    run_after: chrono::DateTime<chrono::Utc>,
    last_error: Option<String>,
    response_status: Option<i32>,
    response_body: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
    payload: Value,
}

impl DeliveryRow {
    fn into_view(self) -> Result<WebhookDelivery, AppError> {
        let corrupt = |what: String| {
            tracing::error!(delivery = self.id, "{what}");
            AppError::Internal
        };
        let state: DeliveryState = self.state.parse().map_err(corrupt)?;
        Ok(WebhookDelivery {
            id: self.id,
            endpoint_id: self.endpoint_id,
            event_id: self.event_id,
            event: self.event.parse().map_err(corrupt)?,
            state,
            attempts: self.attempts,
            next_attempt_at: (state == DeliveryState::Queued).then_some(self.run_after),
            last_error: self.last_error,
            response_status: self.response_status,
            response_body: self.response_body,
            created_at: self.created_at,
            finished_at: self.finished_at,
            body: self.payload.to_string(),
        })
    }
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event, state, attempts, run_after, last_error,
     response_status, response_body, created_at, finished_at, payload";

/// Endpoint `endpoint`'s deliveries, newest first; `before` continues a listing.
pub async fn deliveries(
    db: &PgPool,
    team: Uuid,
    endpoint: Uuid,
    before: Option<i64>,
) -> Result<Vec<WebhookDelivery>, AppError> {
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from webhook_endpoints where id = $1 and team_id = $2)")
            .bind(endpoint)
            .bind(team)
            .fetch_one(db)
            .await
            .or_internal("reading webhook deliveries failed")?;
    if !exists {
        return Err(AppError::NotFound);
    }
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "select {DELIVERY_COLUMNS} from webhook_deliveries
         where team_id = $1 and endpoint_id = $2 and ($3::bigint is null or id < $3)
         order by id desc limit $4"
    ))
    .bind(team)
    .bind(endpoint)
    .bind(before)
    .bind(DELIVERIES_PAGE)
    .fetch_all(db)
    .await
    .or_internal("reading webhook deliveries failed")?;
    rows.into_iter().map(DeliveryRow::into_view).collect()
}

/// Sends delivery `id`'s event again, as a new delivery with the same event id (a
/// receiver that already has it can tell).
pub async fn replay(state: &AppState, acting: &Acting, id: i64) -> Result<WebhookDelivery, AppError> {
    let mut tx = state.db.begin().await.or_internal("replaying a webhook failed")?;
    let row: DeliveryRow = sqlx::query_as(&format!(
        "insert into webhook_deliveries (team_id, endpoint_id, event_id, event, payload)
         select team_id, endpoint_id, event_id, event, payload from webhook_deliveries where id = $1 and team_id = $2
         returning {DELIVERY_COLUMNS}"
    ))
    .bind(id)
    .bind(acting.team_id)
    .fetch_optional(&mut *tx)
    .await
    .or_internal("replaying a webhook failed")?
    .ok_or(AppError::NotFound)?;
    acting
        .audit(&mut *tx, "webhook.replayed", Some(&row.event_id.to_string()), serde_json::json!({ "delivery": id }))
        .await?;
    jobs::announce(&mut *tx, &deliver::Deliveries::QUEUE).await.or_internal("replaying a webhook failed")?;
    tx.commit().await.or_internal("replaying a webhook failed")?;
    row.into_view()
}

/// Queues `event` about `incident` for every endpoint of `team` that wants it, in the
/// caller's transaction: the payload names the incident as it is now, and `data` adds
/// what the event is about (an analysis, an action).
pub async fn emit(
    db: &mut PgConnection,
    state: &AppState,
    team: Uuid,
    event: WebhookEvent,
    incident: Uuid,
    data: Value,
) -> Result<(), sqlx::Error> {
    let queued = sqlx::query(
        "insert into webhook_deliveries (team_id, endpoint_id, event_id, event, payload)
         select e.team_id, e.id, ev.id, $3,
                jsonb_build_object('id', ev.id, 'type', $3, 'created_at', now(),
                    'data', jsonb_build_object('incident', jsonb_build_object(
                        'id', i.id, 'title', i.title, 'severity', i.severity, 'status', i.status,
                        'service', i.service, 'source', i.source, 'url', $4 || '/incidents/' || i.id::text)) || $5)
         from webhook_endpoints e
         join incidents i on i.id = $2 and i.team_id = e.team_id
         cross join (select gen_random_uuid() as id) ev
         where e.team_id = $1 and $3 = any(e.events)",
    )
    .bind(team)
    .bind(incident)
    .bind(event.as_str())
    .bind(state.public_url())
    .bind(data)
    .execute(&mut *db)
    .await?;
    if queued.rows_affected() > 0 {
        jobs::announce(&mut *db, &deliver::Deliveries::QUEUE).await?;
    }
    Ok(())
}

/// The part of ingestion's one statement that queues its events (`ingest::recorder`):
/// a data-modifying CTE over the results `r` of `ingest_alerts` whose teams are `$1`,
/// titles `$8`, severities `$10` and services `$11`, and the public URL `$16`.
pub const INGEST_EVENTS_CTE: &str = "
    webhooks as (
        insert into webhook_deliveries (team_id, endpoint_id, event_id, event, payload)
        select e.team_id, e.id, ev.event_id, ev.event,
               jsonb_build_object('id', ev.event_id, 'type', ev.event, 'created_at', now(),
                   'data', jsonb_build_object('incident', jsonb_build_object(
                       'id', ev.incident_id, 'title', ($8::text[])[ev.seq], 'severity', ($10::text[])[ev.seq],
                       'status', ev.status, 'service', ($11::text[])[ev.seq],
                       'url', $16 || '/incidents/' || ev.incident_id::text)))
        from (select r.seq, r.incident_id, gen_random_uuid() as event_id,
                     case r.outcome when 'opened' then 'incident.opened' when 'resolved' then 'incident.resolved'
                                    else 'incident.updated' end as event,
                     case r.outcome when 'opened' then 'triggered' when 'resolved' then 'resolved'
                                    when 'acknowledged' then 'acknowledged' end as status
              from results r where r.outcome in ('opened', 'resolved', 'acknowledged', 'annotated')) ev
        join webhook_endpoints e on e.team_id = ($1::uuid[])[ev.seq] and ev.event = any(e.events)
        returning 1
    )";
