//! The deliverer: the job runner's workers take queued calls, send them with the team's
//! credentials, retry a 429, a 5xx or no answer after 1, 2, 4 … s, and park a call as
//! failed — on the incident's timeline — after the last attempt or at once on another
//! 4xx (a wrong key does not heal itself).
//!
//! Calls go out [`WORKERS`] at a time per instance, and at most [`PER_DESTINATION`] at
//! once to one destination (a team's Slack webhook, a team's PagerDuty account) across
//! instances, so that a slow or silent destination holds a few workers, not all of
//! them. An incident's calls to one destination go in the order they were made (an
//! acknowledgement before the resolve), retries included.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::domain::incident::AGENT_NAME;
use crate::domain::integration::Destination;
use crate::domain::live::{LiveEvent, LiveKind};
use crate::server::config::Settings;
use crate::server::jobs::{Held, Kind, Outcome, Queue, Tuning};
use crate::server::state::AppState;

/// How long a call may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Calls one instance sends at once.
pub const WORKERS: usize = 8;
/// Calls to one destination in flight at once, across instances.
pub const PER_DESTINATION: i64 = 2;

/// The queue of outbound calls.
pub struct Calls;

#[derive(sqlx::FromRow)]
pub struct Call {
    id: i64,
    team_id: Uuid,
    incident_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    target: Destination,
    purpose: String,
    method: String,
    path: String,
    body: Value,
    attempts: i32,
}

impl Kind for Calls {
    type Id = i64;
    type Job = Call;

    /// Queued by `outbound::queue` in the transaction of what they report. A
    /// destination is a team's target; an incident's earlier call to the same
    /// destination goes first.
    const QUEUE: Queue = Queue {
        name: "outbound calls",
        table: "outbound_calls",
        channel: "outbound_calls",
        waiting: "queued",
        running: "running",
        parked: "failed",
        group: &["team_id", "target"],
        also: "and not exists (select 1 from outbound_calls e
                               where e.incident_id = q.incident_id and e.target = q.target
                                 and e.id < q.id and e.state in ('queued', 'running'))",
    };

    fn tuning(settings: &Settings) -> Tuning {
        Tuning {
            workers: WORKERS,
            lease: Duration::from_secs(30),
            max_attempts: settings.outbound.max_attempts,
            per_group: PER_DESTINATION,
        }
    }

    async fn run(state: &AppState, held: &Held<Self>, call: &Call) -> Outcome {
        match send(state, &state.outbound, call).await {
            Ok(()) => match held.finish(&state.db, "done").await {
                Ok(_) => Outcome::Finished,
                Err(error) => Outcome::Retry(format!("recording the delivery failed: {error}")),
            },
            Err(failure) if failure.retry => Outcome::Retry(failure.message),
            Err(failure) => Outcome::Park(failure.message),
        }
    }

    /// Says on the incident's timeline that the call failed for good.
    async fn parked(state: &AppState, call: &Call, error: &str) {
        let Some(incident) = call.incident_id else { return };
        let message = format!(
            "{} ({}) failed after {} attempt{}: {error}",
            call.target.label(),
            call.purpose.replace('_', " "),
            call.attempts,
            if call.attempts == 1 { "" } else { "s" },
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
        match noted {
            Ok(_) => state.live.publish(call.team_id, [LiveEvent::new(LiveKind::TimelineEntry, incident)]),
            Err(error) => tracing::warn!(%error, call = call.id, "writing an outbound failure to the timeline failed"),
        }
    }
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
    let request = match call.target {
        Destination::Pagerduty => {
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
        Destination::Slack => {
            let url = credentials
                .slack
                .ok_or_else(|| Failure { message: "The Slack webhook is no longer configured".into(), retry: false })?;
            client.post(url).json(&call.body)
        }
    };
    let what = call.target.remote();
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
