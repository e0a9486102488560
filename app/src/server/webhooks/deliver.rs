//! The deliverer: the job runner's workers POST each queued delivery to its endpoint,
//! signed with the endpoint's active secrets at the moment of sending, and keep the
//! answer. Anything but a 2xx is tried again, doubling the wait up to an hour, for a
//! day ([`ATTEMPTS`]); then the delivery is failed (and can be replayed).

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::server::config::Settings;
use crate::server::jobs::{Held, Kind, Outcome, Queue, Tuning};
use crate::server::secrets::Place;
use crate::server::state::AppState;
use crate::server::webhook_signature::sign_timestamped;

/// How long an endpoint may take to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts before a delivery fails: waits of 1 s, 2 s, 4 s … up to an hour add up to
/// a day.
pub const ATTEMPTS: i32 = 35;
/// The start of an answer's body that is kept.
pub const BODY_KEPT: usize = 2048;

/// The queue of webhook deliveries.
pub struct Deliveries;

#[derive(sqlx::FromRow)]
pub struct Delivery {
    id: i64,
    team_id: Uuid,
    endpoint_id: Uuid,
    event: String,
    payload: Value,
}

impl Kind for Deliveries {
    type Id = i64;
    type Job = Delivery;

    /// Queued by `webhooks::emit` (and ingestion's statement) in the transaction of
    /// their event; at most two at once per endpoint across instances.
    const QUEUE: Queue = Queue {
        name: "webhook deliveries",
        table: "webhook_deliveries",
        channel: "webhook_deliveries",
        waiting: "queued",
        running: "running",
        parked: "failed",
        group: &["endpoint_id"],
        also: "",
    };

    const LONGEST_WAIT: Duration = Duration::from_secs(3600);

    fn tuning(_: &Settings) -> Tuning {
        Tuning { workers: 4, lease: Duration::from_secs(30), max_attempts: ATTEMPTS, per_group: 2 }
    }

    async fn run(state: &AppState, held: &Held<Self>, delivery: &Delivery) -> Outcome {
        let answer = match send(state, delivery).await {
            Ok(answer) => answer,
            Err(failure) => return Outcome::Retry(failure),
        };
        let delivered = answer.0 / 100 == 2;
        let refused = format!("the endpoint answered HTTP {}", answer.0);
        let parks = held.attempts >= ATTEMPTS;
        // The answer and what follows it (delivered, or due again) are one write: the
        // page never shows an answer whose retry is not scheduled yet.
        let recorded = async {
            let mut tx = state.db.begin().await?;
            sqlx::query("update webhook_deliveries set response_status = $2, response_body = $3 where id = $1")
                .bind(delivery.id)
                .bind(i32::from(answer.0))
                .bind(&answer.1)
                .execute(&mut *tx)
                .await?;
            if delivered {
                held.finish(&mut *tx, "delivered").await?;
            } else {
                held.fail(&mut *tx, &refused, parks).await?;
            }
            tx.commit().await
        };
        match recorded.await {
            Err(error) => Outcome::Retry(internal(delivery, "recording the answer", &error)),
            Ok(()) if delivered => Outcome::Finished,
            Ok(()) => {
                tracing::warn!(delivery = delivery.id, attempt = held.attempts, error = %refused, parked = parks, "a webhook delivery failed");
                if parks {
                    Self::parked(state, delivery, &refused).await;
                }
                Outcome::Finished
            }
        }
    }

    async fn parked(_: &AppState, delivery: &Delivery, error: &str) {
        tracing::warn!(delivery = delivery.id, endpoint = %delivery.endpoint_id, %error, "a webhook delivery failed for good");
    }
}

/// A failure on our side: logged with its cause; the delivery (which admins read) says
/// only that it was ours and will be tried again.
fn internal(delivery: &Delivery, doing: &str, error: &dyn std::fmt::Display) -> String {
    tracing::error!(delivery = delivery.id, %error, "{doing} for a webhook delivery failed");
    "DreamOps could not send it (a failure on our side); it will be tried again.".to_string()
}

/// The endpoint's status and the start of its body; or why nothing was answered.
async fn send(state: &AppState, delivery: &Delivery) -> Result<(u16, String), String> {
    let endpoint: Option<(String, Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
        "select url, secret, case when previous_until > now() then previous_secret end
         from webhook_endpoints where id = $1 and team_id = $2",
    )
    .bind(delivery.endpoint_id)
    .bind(delivery.team_id)
    .fetch_optional(&state.db)
    .await
    .map_err(|error| internal(delivery, "reading the endpoint", &error))?;
    // Removed meanwhile: its deliveries went with it; nothing to send.
    let (url, secret, previous) = endpoint.ok_or("the endpoint was removed")?;
    let (team, id) = (delivery.team_id, delivery.endpoint_id);
    let open = |sealed: &[u8], place: Place| {
        state.cipher.open(sealed, &place).map_err(|error| internal(delivery, "opening the signing secret", &error))
    };
    let mut secrets = vec![open(&secret, Place::webhook_secret(team, id))?];
    if let Some(previous) = previous {
        secrets.push(open(&previous, Place::webhook_previous_secret(team, id))?);
    }
    let body = delivery.payload.to_string();
    let signature =
        sign_timestamped(secrets.iter().map(Vec::as_slice), chrono::Utc::now().timestamp(), body.as_bytes());
    let request = state
        .outbound
        .post(url)
        .timeout(TIMEOUT)
        .header("content-type", "application/json")
        .header("user-agent", "DreamOps-Webhooks/1")
        .header(super::SIGNATURE_HEADER, signature)
        .header("DreamOps-Event", &delivery.event)
        .header("DreamOps-Delivery", delivery.id.to_string())
        .body(body);
    let response = state
        .settings
        .outbound
        .policy()
        .send(request, "the webhook endpoint")
        .await
        .map_err(|failure| failure.to_string())?;
    let status = response.status().as_u16();
    // Only the start is read: an endpoint cannot make us hold a large answer.
    let mut response = response;
    let mut start = Vec::new();
    while start.len() < BODY_KEPT {
        match response.chunk().await {
            Ok(Some(chunk)) => start.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let kept: String = String::from_utf8_lossy(&start).chars().take(BODY_KEPT).collect();
    Ok((status, kept))
}
