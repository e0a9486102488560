//! Alerts in: every source's payload is parsed (in a submodule per source) into
//! [`NormalizedAlert`]s, then [`Recorder::record`] stores each alert with its raw
//! payload and applies it to the team's incidents in one transaction — store first,
//! answer after, never wait for analysis.
//!
//! Dedup and lifecycle: a trigger whose dedup key matches an open incident of the team
//! counts another occurrence of it; otherwise it opens a new incident (linked to the
//! last resolved one with that key, if any) and asks the quota for analysis. An
//! acknowledge or resolve applies to the open incident with that key.

pub mod alertmanager;
pub mod events_api;
pub mod integrations;
pub mod pagerduty;
pub mod rate;
mod recorder;
pub mod rest;
pub mod retention;
mod senders;

pub use recorder::Recorder;
pub use senders::SenderDirectory;

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::incident::Severity;
use crate::domain::live::{LiveEvent, LiveKind};
use crate::error::{AppError, OrInternal};

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

/// The longest dedup key stored as sent; longer ones are shortened, keeping a hash of the
/// whole so that different keys stay different (indexes take a few KB per entry at most).
pub const MAX_DEDUP_KEY: usize = 512;
/// The longest description, service and actor stored.
const MAX_TEXT: usize = 64 * 1024;

impl NormalizedAlert {
    /// Makes every field storable whatever the sender put in it: PostgreSQL's text and
    /// jsonb cannot hold `\u0000` (it is removed), and a dedup key must fit an index
    /// entry (shortened, see [`MAX_DEDUP_KEY`]). One bad field would otherwise fail the
    /// whole delivery, and the sender would retry it forever.
    pub fn make_storable(&mut self) {
        fn text(value: &mut String, max: usize) {
            if value.contains('\0') {
                value.retain(|c| c != '\0');
            }
            if value.len() > max {
                *value = truncate(value, max);
            }
        }
        text(&mut self.title, MAX_TEXT);
        for value in
            [&mut self.description, &mut self.service, &mut self.external_url, &mut self.actor].into_iter().flatten()
        {
            text(value, MAX_TEXT);
        }
        if let Some(key) = &mut self.dedup_key {
            text(key, usize::MAX);
            if key.len() > MAX_DEDUP_KEY {
                use sha2::Digest as _;
                let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
                *key = format!("{}…{digest}", truncate(key, MAX_DEDUP_KEY / 2));
            }
        }
        strip_nul(&mut self.details);
    }
}

/// Removes `\u0000` from every string and key of `value`.
fn strip_nul(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) if text.contains('\0') => text.retain(|c| c != '\0'),
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nul),
        serde_json::Value::Object(map) if map.keys().any(|key| key.contains('\0')) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                strip_nul(&mut item);
                map.insert(key.replace('\0', ""), item);
            }
        }
        serde_json::Value::Object(map) => map.values_mut().for_each(strip_nul),
        _ => {}
    }
}

/// The fields of payloads that carry a sender's credential: the Events API's routing key
/// (v2) and service key (v1) are the integration's secret, which every sender of the
/// team knows but viewers of an incident must not learn.
const CREDENTIAL_FIELDS: [&str; 2] = ["\"routing_key\"", "\"service_key\""];

/// `raw` (a payload as received, perhaps cut short) with the values of its credential
/// fields masked, for showing to people.
pub fn mask_credentials(raw: &str) -> String {
    let mut masked = raw.to_string();
    for field in CREDENTIAL_FIELDS {
        let mut from = 0;
        while let Some(found) = masked[from..].find(field) {
            let after_name = from + found + field.len();
            let rest = &masked[after_name..];
            let value_start =
                rest.trim_start().strip_prefix(':').map(str::trim_start).and_then(|v| v.strip_prefix('"'));
            let Some(value) = value_start else {
                from = after_name;
                continue;
            };
            let start = masked.len() - value.len();
            let end = value.find('"').map_or(masked.len(), |end| start + end);
            let hidden = "•".repeat(masked[start..end].chars().count().min(8));
            masked.replace_range(start..end, &hidden);
            from = start + hidden.len();
        }
    }
    masked
}

/// One delivery from a source.
pub struct Delivery<'a> {
    /// The team it belongs to (established by the endpoint's authentication).
    pub team_id: Uuid,
    /// One of [`SOURCES`](crate::domain::incident::SOURCES).
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

impl Outcome {
    /// What the team's open pages are told: each alert stored, each incident opened or
    /// changed, each timeline entry written.
    pub fn live_events(&self) -> Vec<LiveEvent> {
        let applied = match self {
            Outcome::Duplicate => return Vec::new(),
            Outcome::Unparsed => return vec![LiveEvent { kind: LiveKind::AlertRecorded, incident_id: None }],
            Outcome::Applied(applied) => applied,
        };
        let mut events = Vec::with_capacity(applied.len() * 3);
        for applied in applied {
            events.push(LiveEvent { kind: LiveKind::AlertRecorded, incident_id: applied.incident_id });
            let Some(incident) = applied.incident_id else { continue };
            let change = match applied.effect {
                Effect::Opened { .. } => LiveKind::IncidentNew,
                _ => LiveKind::IncidentUpdate,
            };
            events.extend([LiveEvent::new(change, incident), LiveEvent::new(LiveKind::TimelineEntry, incident)]);
        }
        events
    }
}

/// Stores an authentic delivery that could not be understood, raw, with the reason.
async fn store_unparsed(pool: &PgPool, delivery: &Delivery<'_>, reason: &str) -> Result<Outcome, AppError> {
    let stored: Option<Uuid> = sqlx::query_scalar(
        "insert into alerts (id, team_id, source, delivery_id, raw_body, parse_status, parse_error)
         values (coalesce(delivery_alert_id($1, $2, $3), gen_random_uuid()), $1, $2, $3, $4, 'unparsed', $5)
         on conflict (id) do nothing
         returning id",
    )
    .bind(delivery.team_id)
    .bind(delivery.source)
    .bind(delivery.delivery_id.as_deref())
    .bind(delivery.raw)
    .bind(reason)
    .fetch_optional(pool)
    .await
    .or_internal("recording an alert failed")?;
    Ok(if stored.is_some() { Outcome::Unparsed } else { Outcome::Duplicate })
}

/// The name people know a source by, for the timeline.
fn source_label(source: &str) -> &'static str {
    match source {
        "pagerduty" => "PagerDuty",
        "events_api" => "Events API",
        "alertmanager" => "Alertmanager",
        "grafana" => "Grafana",
        "rest" => "REST API",
        "manual" => "the incidents page",
        _ => "an alert source",
    }
}

/// The first `max` characters of `text`, for fields with a length limit.
pub fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_payloads_are_masked_for_people() {
        let raw = r#"{"routing_key" : "R0123456789abcdef0123456789abcdef", "payload": {"summary": "routing_key"},"service_key":"svc-1"}"#;
        let masked = mask_credentials(raw);
        assert!(!masked.contains("R0123456789") && !masked.contains("svc-1"), "{masked}");
        assert!(
            masked.contains(r#""routing_key" : "••••••••""#) && masked.contains(r#""summary": "routing_key""#),
            "{masked}"
        );
        assert_eq!(mask_credentials(r#"{"routing_key": "R01"#), r#"{"routing_key": "•••"#, "a payload cut short");
        assert_eq!(mask_credentials(r#"{"routing_key": 7}"#), r#"{"routing_key": 7}"#);
    }

    #[test]
    fn every_field_is_made_storable() {
        let mut alert = NormalizedAlert {
            action: Action::Trigger,
            dedup_key: Some(format!("{}\u{0}", "k".repeat(5_000))),
            title: "a\u{0}b".into(),
            description: Some("\u{0}".into()),
            severity: crate::domain::incident::Severity::Error,
            service: None,
            external_url: None,
            details: serde_json::json!({"a\u{0}": ["x\u{0}y", {"n": "\u{0}"}]}),
            actor: None,
            raw: Vec::new(),
        };
        let other = {
            let mut other = alert.clone();
            other.dedup_key = Some("k".repeat(5_001));
            other.make_storable();
            other.dedup_key
        };
        alert.make_storable();
        assert_eq!(alert.title, "ab");
        assert_eq!(alert.description.as_deref(), Some(""));
        assert_eq!(alert.details, serde_json::json!({"a": ["xy", {"n": ""}]}));
        let key = alert.dedup_key.unwrap();
        assert!(key.len() <= MAX_DEDUP_KEY && !key.contains('\u{0}'), "{}", key.len());
        assert_ne!(Some(key), other, "different long keys stay different");
    }
}
