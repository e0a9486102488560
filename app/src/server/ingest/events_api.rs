//! `POST /v2/enqueue`: PagerDuty's Events API v2, so that any tool that can send to
//! PagerDuty can send to DreamOps. The `routing_key` is a team's integration key.
//! Validation follows PagerDuty's documented rules and error shape.
//! <https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>

use serde::Deserialize;

use super::{Action, NormalizedAlert, truncate};
use crate::domain::incident::Severity;

#[derive(Deserialize)]
struct Event {
    routing_key: Option<String>,
    event_action: Option<String>,
    dedup_key: Option<String>,
    payload: Option<Payload>,
    client_url: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    summary: Option<String>,
    source: Option<String>,
    severity: Option<String>,
    component: Option<String>,
    group: Option<String>,
    class: Option<String>,
    timestamp: Option<String>,
    custom_details: Option<serde_json::Value>,
}

/// The routing key of a body, if it has one (read before anything else: it says whose
/// event this is).
pub fn routing_key(raw: &[u8]) -> Result<String, Vec<String>> {
    let event: Event =
        serde_json::from_slice(raw).map_err(|error| vec![format!("Event object is not valid JSON: {error}")])?;
    event
        .routing_key
        .filter(|key| !key.trim().is_empty())
        .ok_or_else(|| vec!["'routing_key' is missing or blank".to_string()])
}

/// Parses an event, or lists every problem, worded as PagerDuty words them.
pub fn parse(raw: &[u8]) -> Result<NormalizedAlert, Vec<String>> {
    let event: Event =
        serde_json::from_slice(raw).map_err(|error| vec![format!("Event object is not valid JSON: {error}")])?;
    let mut errors = Vec::new();
    let action = match event.event_action.as_deref() {
        Some("trigger") => Some(Action::Trigger),
        Some("acknowledge") => Some(Action::Acknowledge),
        Some("resolve") => Some(Action::Resolve),
        Some(_) => {
            errors.push("'event_action' must be one of trigger, acknowledge or resolve".to_string());
            None
        }
        None => {
            errors.push("'event_action' is missing or blank".to_string());
            None
        }
    };
    let dedup_key = event.dedup_key.filter(|key| !key.is_empty());
    if dedup_key.as_ref().is_some_and(|key| key.len() > 255) {
        errors.push("'dedup_key' must be 255 characters or fewer".to_string());
    }
    let mut severity = Severity::Warning;
    let mut title = String::new();
    let mut details = serde_json::json!({});
    let mut service = None;
    match (&action, event.payload) {
        (Some(Action::Trigger), None) => errors.push("'payload' is missing".to_string()),
        (Some(Action::Trigger), Some(payload)) => {
            match payload.summary.filter(|s| !s.trim().is_empty()) {
                Some(summary) if summary.chars().count() > 1024 => {
                    errors.push("'payload.summary' must be 1024 characters or fewer".to_string());
                }
                Some(summary) => title = truncate(&summary, 1024),
                None => errors.push("'payload.summary' is missing or blank".to_string()),
            }
            if payload.source.as_deref().is_none_or(|s| s.trim().is_empty()) {
                errors.push("'payload.source' is missing or blank".to_string());
            }
            match payload.severity.as_deref() {
                Some(label @ ("critical" | "error" | "warning" | "info")) => {
                    severity = label.parse().unwrap_or(Severity::Warning);
                }
                Some(_) => {
                    errors.push("'payload.severity' must be one of critical, error, warning or info".to_string())
                }
                None => errors.push("'payload.severity' is missing or blank".to_string()),
            }
            service = [&payload.component, &payload.group]
                .into_iter()
                .filter_map(|name| name.as_deref().map(str::trim).filter(|name| !name.is_empty()))
                .next()
                .map(str::to_string);
            details = serde_json::json!({
                "source": payload.source,
                "component": payload.component,
                "group": payload.group,
                "class": payload.class,
                "timestamp": payload.timestamp,
                "custom_details": payload.custom_details,
            });
        }
        (Some(_), _) => {
            if dedup_key.is_none() {
                errors.push("'dedup_key' is missing or blank".to_string());
            }
        }
        (None, _) => {}
    }
    match (errors.is_empty(), action) {
        (true, Some(action)) => Ok(NormalizedAlert {
            action,
            dedup_key,
            title,
            description: None,
            severity,
            service,
            external_url: event.client_url,
            details,
            actor: None,
            raw: raw.to_vec(),
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_needs_summary_source_and_severity() {
        let ok = br#"{"routing_key":"k","event_action":"trigger","payload":{"summary":"CPU high","source":"web-1","severity":"critical"}}"#;
        let alert = parse(ok).unwrap();
        assert_eq!((alert.title.as_str(), alert.severity), ("CPU high", Severity::Critical));
        let missing = br#"{"routing_key":"k","event_action":"trigger","payload":{"severity":"bad"}}"#;
        assert_eq!(
            parse(missing).unwrap_err(),
            [
                "'payload.summary' is missing or blank",
                "'payload.source' is missing or blank",
                "'payload.severity' must be one of critical, error, warning or info",
            ]
        );
    }

    #[test]
    fn acknowledge_and_resolve_need_only_the_dedup_key() {
        let resolve = br#"{"routing_key":"k","event_action":"resolve","dedup_key":"d1"}"#;
        assert_eq!(parse(resolve).unwrap().action, Action::Resolve);
        let anonymous = br#"{"routing_key":"k","event_action":"resolve"}"#;
        assert_eq!(parse(anonymous).unwrap_err(), ["'dedup_key' is missing or blank"]);
    }
}
