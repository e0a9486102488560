//! PagerDuty's webhooks (v3): signed incident events from a team's PagerDuty account.
//! <https://developer.pagerduty.com/docs/webhooks/v3-overview/>
//!
//! `X-PagerDuty-Signature` carries `v1=<hex HMAC-SHA256 of the raw body>` for each
//! active secret; any match is enough. Nothing in the signature is time-bound, so each
//! delivery's id makes redelivery (or replay) harmless.

use serde::Deserialize;

use super::{Action, NormalizedAlert, truncate};
use crate::domain::incident::Severity;
use crate::server::webhook_signature::SignatureHeader;

/// Whether `header` (`X-PagerDuty-Signature`, read) carries a valid signature of `body`
/// under any of `secrets`, compared in constant time.
pub fn verify_signature(header: &SignatureHeader, body: &[u8], secrets: &[String]) -> bool {
    header.matches_any(secrets.iter().map(|secret| secret.as_bytes()), &[body])
}

#[derive(Deserialize)]
struct Delivery {
    event: Event,
}

#[derive(Deserialize)]
struct Event {
    id: Option<String>,
    event_type: String,
    agent: Option<Reference>,
    data: Data,
}

#[derive(Deserialize)]
struct Reference {
    summary: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    title: Option<String>,
    urgency: Option<String>,
    html_url: Option<String>,
    service: Option<Reference>,
    priority: Option<Reference>,
    incident: Option<IncidentReference>,
    content: Option<String>,
    number: Option<u64>,
}

#[derive(Deserialize)]
struct IncidentReference {
    id: Option<String>,
}

/// The event's id (PagerDuty's delivery identity), if the body has one.
/// What identifies a delivery, from its signed body: the event's id, or (an event
/// without one) a hash of the whole body.
pub fn delivery_id(raw: &[u8]) -> String {
    use sha2::Digest as _;
    serde_json::from_slice::<Delivery>(raw)
        .ok()
        .and_then(|delivery| delivery.event.id)
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(sha2::Sha256::digest(raw))))
}

/// Parses an event about an incident.
pub fn parse(raw: &[u8]) -> Result<NormalizedAlert, String> {
    let delivery: Delivery =
        serde_json::from_slice(raw).map_err(|error| format!("not a PagerDuty v3 webhook: {error}"))?;
    let event = delivery.event;
    let data = event.data;
    // Notes carry their incident as a reference; incident events are the incident.
    let incident_id = match data.kind.as_deref() {
        Some("incident_note") => data.incident.as_ref().and_then(|incident| incident.id.clone()),
        _ => data.id.clone(),
    }
    .ok_or_else(|| format!("{} names no incident", event.event_type))?;
    let agent = event.agent.and_then(|agent| agent.summary);
    let action = match event.event_type.as_str() {
        "incident.triggered" | "incident.reopened" => Action::Trigger,
        "incident.acknowledged" => Action::Acknowledge,
        "incident.resolved" => Action::Resolve,
        "incident.annotated" => Action::Annotate(format!(
            "PagerDuty note{}: {}",
            agent.as_deref().map(|a| format!(" by {a}")).unwrap_or_default(),
            data.content.clone().unwrap_or_default()
        )),
        other => Action::Annotate(format!(
            "PagerDuty: {}{}",
            other.trim_start_matches("incident.").replace('_', " "),
            agent.as_deref().map(|a| format!(" by {a}")).unwrap_or_default()
        )),
    };
    let severity = match data.urgency.as_deref() {
        Some("high") => Severity::Critical,
        Some("low") => Severity::Warning,
        _ => Severity::Error,
    };
    Ok(NormalizedAlert {
        action,
        dedup_key: Some(format!("pagerduty:{incident_id}")),
        title: truncate(data.title.as_deref().unwrap_or("PagerDuty incident"), 1024),
        description: None,
        severity,
        service: data.service.and_then(|service| service.summary),
        external_url: data.html_url,
        details: serde_json::json!({
            "pagerduty_incident": incident_id,
            "number": data.number,
            "priority": data.priority.and_then(|p| p.summary),
            "event_type": event.event_type,
        }),
        actor: agent,
        raw: raw.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        format!("v1={}", crate::server::webhook_signature::sign(secret.as_bytes(), &[body]))
    }

    #[test]
    fn any_signature_under_any_active_secret_is_enough() {
        let body = br#"{"event":{}}"#;
        let header = format!("{},{}", sign("old", body), sign("unrelated", body));
        let verify = |header: &str, body: &[u8], secrets: &[&str]| {
            let secrets: Vec<String> = secrets.iter().map(|secret| secret.to_string()).collect();
            verify_signature(&SignatureHeader::read(header).unwrap(), body, &secrets)
        };
        assert!(verify(&header, body, &["new", "old"]));
        assert!(!verify(&header, body, &["new"]));
        assert!(!verify(&header, b"{\"event\":{ }}", &["old"]));
        assert!(!verify("v1=zz", body, &["old"]));
        assert!(!verify(&sign("old", body), body, &[]));
    }

    #[test]
    fn incident_events_map_to_actions_on_the_pagerduty_incident() {
        let event = |kind: &str| {
            format!(
                r#"{{"event":{{"id":"E1","event_type":"{kind}","agent":{{"summary":"Ana"}},"data":{{"id":"PX1","type":"incident","title":"DB down","urgency":"high"}}}}}}"#
            )
        };
        let triggered = parse(event("incident.triggered").as_bytes()).unwrap();
        assert_eq!(triggered.action, Action::Trigger);
        assert_eq!(triggered.dedup_key.as_deref(), Some("pagerduty:PX1"));
        assert_eq!(triggered.severity, Severity::Critical);
        assert_eq!(parse(event("incident.acknowledged").as_bytes()).unwrap().action, Action::Acknowledge);
        assert_eq!(parse(event("incident.resolved").as_bytes()).unwrap().action, Action::Resolve);
        assert_eq!(parse(event("incident.reopened").as_bytes()).unwrap().action, Action::Trigger);
        assert_eq!(
            parse(event("incident.escalated").as_bytes()).unwrap().action,
            Action::Annotate("PagerDuty: escalated by Ana".into())
        );
        assert_eq!(delivery_id(event("incident.resolved").as_bytes()), "E1");
        assert_eq!(delivery_id(b"{}"), delivery_id(b"{}"));
        assert_ne!(delivery_id(b"{}"), delivery_id(b"{ }"), "without an event id, the body decides");
        assert!(parse(b"[]").is_err());
    }
}
