//! Alert sources as the integrations page shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kinds of alert source a team has one of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// PagerDuty's signed webhooks.
    Pagerduty,
    /// PagerDuty Events API v2 senders.
    EventsApi,
    /// Prometheus Alertmanager.
    Alertmanager,
    /// Grafana alerting.
    Grafana,
}

impl IntegrationKind {
    /// Every kind, in the order the integrations page shows them.
    pub const ALL: [IntegrationKind; 4] = [
        IntegrationKind::Pagerduty,
        IntegrationKind::EventsApi,
        IntegrationKind::Alertmanager,
        IntegrationKind::Grafana,
    ];

    /// The name stored in the database, used in webhook paths, forms and test ids.
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Pagerduty => "pagerduty",
            IntegrationKind::EventsApi => "events_api",
            IntegrationKind::Alertmanager => "alertmanager",
            IntegrationKind::Grafana => "grafana",
        }
    }

    /// The name people know the source by.
    pub fn label(self) -> &'static str {
        match self {
            IntegrationKind::Pagerduty => "PagerDuty webhooks",
            IntegrationKind::EventsApi => "Events API v2",
            IntegrationKind::Alertmanager => "Prometheus Alertmanager",
            IntegrationKind::Grafana => "Grafana alerting",
        }
    }

    /// Whether senders present a bearer token besides the URL's (Alertmanager, Grafana).
    pub fn has_bearer(self) -> bool {
        matches!(self, IntegrationKind::Alertmanager | IntegrationKind::Grafana)
    }
}

impl std::fmt::Display for IntegrationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IntegrationKind {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IntegrationKind::ALL.into_iter().find(|kind| kind.as_str() == s).ok_or("no such alert source")
    }
}

/// One alert source of the team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IntegrationView {
    pub kind: IntegrationKind,
    /// The path senders post to (the token in it is masked until revealed).
    pub path: String,
    /// PagerDuty: how many signing secrets are active (0, 1, or 2 while rotating).
    pub signing_secrets: usize,
    /// Grafana: whether deliveries must carry a valid `X-Grafana-Alerting-Signature`.
    pub signed: bool,
    /// When the last delivery arrived.
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// `parsed` or `unparsed`.
    pub last_delivery_result: Option<String>,
    /// The latest deliveries, newest first.
    pub recent: Vec<DeliveryView>,
}

/// A recent delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct DeliveryView {
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// `parsed` or `unparsed`.
    pub parse_status: String,
    /// Why it could not be understood.
    pub parse_error: Option<String>,
    /// trigger, acknowledge, resolve or annotate.
    pub action: Option<String>,
    /// The incident it joined.
    pub incident_id: Option<Uuid>,
}

/// An integration's secrets, revealed to an admin on request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RevealedSecrets {
    /// The full path, token included.
    pub path: String,
    /// The Events API routing key.
    pub routing_key: Option<String>,
    /// The bearer token (Alertmanager, Grafana).
    pub bearer: Option<String>,
}

/// Where DreamOps tells other tools what happened: PagerDuty write-back and Slack
/// (credentials are never shown again, only whether they are set).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotificationSettings {
    /// The PagerDuty user write-back acts as, when a REST API key is saved.
    pub pagerduty_from: Option<String>,
    pub slack_configured: bool,
    /// Calls that gave up in the last 7 days, newest first: what, when, why.
    pub recent_failures: Vec<FailedCall>,
}

/// Where DreamOps tells other tools what happened (an outbound call's target).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// PagerDuty's REST API, as the team's write-back user.
    Pagerduty,
    /// The team's Slack incoming webhook.
    Slack,
}

impl Destination {
    pub const ALL: [Destination; 2] = [Destination::Pagerduty, Destination::Slack];

    /// The name stored in the database and used in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Pagerduty => "pagerduty",
            Destination::Slack => "slack",
        }
    }

    /// What a call to it is, as people read it.
    pub fn label(self) -> &'static str {
        match self {
            Destination::Pagerduty => "PagerDuty write-back",
            Destination::Slack => "Slack message",
        }
    }

    /// The remote end, as a failure names it.
    pub fn remote(self) -> &'static str {
        match self {
            Destination::Pagerduty => "PagerDuty's API",
            Destination::Slack => "the Slack webhook",
        }
    }
}

impl std::str::FromStr for Destination {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Destination::ALL.into_iter().find(|destination| destination.as_str() == s).ok_or("Choose pagerduty or slack.")
    }
}

impl TryFrom<String> for Destination {
    type Error = &'static str;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A call to PagerDuty or Slack that gave up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct FailedCall {
    #[cfg_attr(feature = "ssr", sqlx(try_from = "String"))]
    pub target: Destination,
    pub purpose: String,
    pub incident_id: Option<Uuid>,
    pub error: String,
    pub at: DateTime<Utc>,
}
