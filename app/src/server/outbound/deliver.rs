//! The deliverer: each instance takes queued calls (`FOR UPDATE SKIP LOCKED`, under a
//! lease), sends them with the team's credentials, retries a 429, a 5xx or no answer
//! after 1, 2, 4 … s, and parks a call as failed — on the incident's timeline — after
//! the last attempt or at once on another 4xx (a wrong key does not heal itself).
//!
//! Calls go out [`WORKERS`] at a time per instance, and at most [`PER_DESTINATION`] at
//! once to one destination (a team's Slack webhook, a team's PagerDuty account) across
//! instances, so that a slow or silent destination holds a few workers, not all of
//! them. An incident's calls to one destination go in the order they were made (an
//! acknowledgement before the resolve), retries included.

use std::time::Duration;

use serde_json::Value;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use crate::domain::incident::AGENT_NAME;
use crate::domain::live::{LiveEvent, LiveKind};
use crate::server::state::AppState;

/// How long a call may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How often the deliverer looks for due calls when it found none.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Calls one instance sends at once.
pub const WORKERS: usize = 8;
/// Calls to one destination in flight at once, across instances.
pub const PER_DESTINATION: i64 = 2;

#[derive(sqlx::FromRow)]
struct Call {
    id: i64,
    team_id: Uuid,
    incident_id: Option<Uuid>,
    target: String,
    purpose: String,
    method: String,
    path: String,
    body: Value,
    attempts: i32,
}

/// Starts this instance's deliverer (stopped by aborting the handle, which drops the
/// calls in hand: each is sent again by whichever instance finds its lease run out).
pub fn start(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let client = state.settings.outbound.policy().client(TIMEOUT);
        let mut sending = JoinSet::new();
        loop {
            if sending.len() >= WORKERS {
                sending.join_next().await;
                continue;
            }
            match claim(&state.db).await {
                Ok(Some(call)) => {
                    let (state, client) = (state.clone(), client.clone());
                    sending.spawn(async move { deliver(&state, &client, call).await });
                }
                Ok(None) => {
                    // Until a call in hand finishes (its destination may take another)
                    // or it is time to look again.
                    let _ = tokio::time::timeout(POLL_EVERY, async {
                        match sending.join_next().await {
                            Some(_) => {}
                            None => std::future::pending().await,
                        }
                    })
                    .await;
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(error) => {
                    tracing::warn!(%error, "claiming an outbound call failed");
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
        }
    })
}

/// The next due call whose destination has fewer than [`PER_DESTINATION`] calls in
/// flight and whose incident has no earlier call to that destination still to go.
async fn claim(db: &sqlx::PgPool) -> Result<Option<Call>, sqlx::Error> {
    sqlx::query_as(
        "update outbound_calls set state = 'running', attempts = attempts + 1, lease_until = now() + interval '30 seconds'
         where id = (select c.id from outbound_calls c
                     where ((c.state = 'queued' and c.run_after <= now()) or (c.state = 'running' and c.lease_until < now()))
                       and (select count(*) from outbound_calls r
                            where r.team_id = c.team_id and r.target = c.target
                              and r.state = 'running' and r.lease_until >= now()) < $1
                       and not exists (select 1 from outbound_calls e
                                       where e.incident_id = c.incident_id and e.target = c.target
                                         and e.id < c.id and e.state in ('queued', 'running'))
                     order by c.run_after, c.id limit 1 for update skip locked)
         returning id, team_id, incident_id, target, purpose, method, path, body, attempts",
    )
    .bind(PER_DESTINATION)
    .fetch_optional(db)
    .await
}

/// Why a call did not go through, and whether trying again may help.
struct Failure {
    message: String,
    retry: bool,
}

async fn send(state: &AppState, client: &reqwest::Client, call: &Call) -> Result<(), Failure> {
    let credentials = super::settings::credentials(state, call.team_id)
        .await
        .map_err(|error| Failure { message: error.to_string(), retry: true })?;
    let request = match call.target.as_str() {
        "pagerduty" => {
            let (key, from) = credentials.pagerduty.ok_or_else(|| Failure {
                message: "PagerDuty write-back is no longer configured".into(),
                retry: false,
            })?;
            let url = format!("{}{}", state.settings.outbound.pagerduty_api.trim_end_matches('/'), call.path);
            let method = reqwest::Method::from_bytes(call.method.as_bytes()).unwrap_or(reqwest::Method::POST);
            client
                .request(method, url)
                .header("Authorization", format!("Token token={key}"))
                .header("Accept", "application/vnd.pagerduty+json;version=2")
                .header("From", from)
                .json(&call.body)
        }
        _ => {
            let url = credentials
                .slack
                .ok_or_else(|| Failure { message: "The Slack webhook is no longer configured".into(), retry: false })?;
            client.post(url).json(&call.body)
        }
    };
    let what = destination(&call.target);
    let response = state
        .settings
        .outbound
        .policy()
        .send(request, what)
        .await
        .map_err(|failure| Failure { retry: failure.is_transient(), message: failure.to_string() })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // The status says what happened; the body is the remote's, never shown.
    Err(Failure {
        message: format!("{what} answered HTTP {}", status.as_u16()),
        retry: status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408,
    })
}

/// The destination of a call, as its failures name it.
fn destination(target: &str) -> &'static str {
    if target == "pagerduty" { "PagerDuty's API" } else { "the Slack webhook" }
}

fn label(target: &str) -> &'static str {
    if target == "pagerduty" { "PagerDuty write-back" } else { "Slack message" }
}

async fn deliver(state: &AppState, client: &reqwest::Client, call: Call) {
    let result = send(state, client, &call).await;
    let max = state.settings.outbound.max_attempts;
    let recorded = match &result {
        Ok(()) => {
            sqlx::query(
                "update outbound_calls set state = 'done', finished_at = now(), last_error = null where id = $1",
            )
            .bind(call.id)
            .execute(&state.db)
            .await
        }
        Err(failure) if failure.retry && call.attempts < max => {
            let wait = 2_f64.powi(call.attempts - 1).min(300.0);
            sqlx::query(
                "update outbound_calls set state = 'queued', last_error = $2, run_after = now() + make_interval(secs => $3)
                 where id = $1",
            )
            .bind(call.id)
            .bind(&failure.message)
            .bind(wait)
            .execute(&state.db)
            .await
        }
        Err(failure) => {
            let parked = sqlx::query(
                "update outbound_calls set state = 'failed', last_error = $2, finished_at = now() where id = $1",
            )
            .bind(call.id)
            .bind(&failure.message)
            .execute(&state.db)
            .await;
            if let Some(incident) = call.incident_id {
                let message = format!(
                    "{} ({}) failed after {} attempt{}: {}",
                    label(&call.target),
                    call.purpose.replace('_', " "),
                    call.attempts,
                    if call.attempts == 1 { "" } else { "s" },
                    failure.message
                );
                let noted = crate::server::db::timeline::append(
                    &state.db,
                    call.team_id,
                    incident,
                    "outbound.failed",
                    AGENT_NAME,
                    &message,
                )
                .await;
                if noted.is_ok() {
                    state.live.publish(call.team_id, [LiveEvent::new(LiveKind::TimelineEntry, incident)]);
                }
            }
            parked
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, call = call.id, "recording an outbound call's outcome failed");
    }
}
