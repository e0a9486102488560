//! Outgoing webhooks as their settings page and the API show them: the events a team
//! may subscribe to, its endpoints (never a secret after it was shown), and deliveries
//! with the answers they got.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened, as a webhook's `type` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum WebhookEvent {
    /// An incident was opened.
    #[serde(rename = "incident.opened")]
    IncidentOpened,
    /// An incident was acknowledged, annotated, retitled, re-rated or reopened.
    #[serde(rename = "incident.updated")]
    IncidentUpdated,
    /// An incident was resolved.
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    /// The agent finished its analysis.
    #[serde(rename = "analysis.ready")]
    AnalysisReady,
    /// A remediation awaits an operator's approval.
    #[serde(rename = "action.awaiting_approval")]
    ActionAwaitingApproval,
    /// A remediation was carried out and verified (or not).
    #[serde(rename = "action.executed")]
    ActionExecuted,
}

impl WebhookEvent {
    /// Every event, in the order the settings page lists them.
    pub const ALL: [WebhookEvent; 6] = [
        WebhookEvent::IncidentOpened,
        WebhookEvent::IncidentUpdated,
        WebhookEvent::IncidentResolved,
        WebhookEvent::AnalysisReady,
        WebhookEvent::ActionAwaitingApproval,
        WebhookEvent::ActionExecuted,
    ];

    /// The name in payloads, headers and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::IncidentOpened => "incident.opened",
            WebhookEvent::IncidentUpdated => "incident.updated",
            WebhookEvent::IncidentResolved => "incident.resolved",
            WebhookEvent::AnalysisReady => "analysis.ready",
            WebhookEvent::ActionAwaitingApproval => "action.awaiting_approval",
            WebhookEvent::ActionExecuted => "action.executed",
        }
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookEvent {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WebhookEvent::ALL.into_iter().find(|event| event.as_str() == s).ok_or_else(|| {
            format!("Unknown event {s:?}: choose from incident.opened, incident.updated, incident.resolved, analysis.ready, action.awaiting_approval, action.executed.")
        })
    }
}

/// An endpoint, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    pub id: Uuid,
    /// Where deliveries are POSTed.
    pub url: String,
    /// What it is sent.
    pub events: Vec<WebhookEvent>,
    pub created_at: DateTime<Utc>,
    /// Until when deliveries are also signed with the secret before the last rotation.
    pub previous_secret_until: Option<DateTime<Utc>>,
}

/// An endpoint just made, or whose secret was just rotated: the only time the secret
/// is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookEndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    /// The signing secret, `whsec_…`: keep it where the receiver can read it.
    pub secret: String,
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Queued,
    /// Being sent.
    Running,
    /// The endpoint answered 2xx.
    Delivered,
    /// No 2xx within a day of attempts, or a 4xx that will not heal.
    Failed,
}

impl FromStr for DeliveryState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(DeliveryState::Queued),
            "running" => Ok(DeliveryState::Running),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            other => Err(format!("unknown delivery state {other:?}")),
        }
    }
}

/// One delivery of an event to an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub id: i64,
    pub endpoint_id: Uuid,
    /// The event's id: the same in every delivery of it, replays included.
    pub event_id: Uuid,
    pub event: WebhookEvent,
    pub state: DeliveryState,
    pub attempts: i32,
    /// When the next attempt is due, while queued.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The endpoint's last answer: its status, and the start of its body.
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The JSON body sent (or to be sent), as it goes on the wire.
    pub body: String,
}
