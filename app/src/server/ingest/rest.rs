//! `POST /api/v1/alerts`: DreamOps' own JSON alert format, for scripts and tools that
//! speak nothing else. Authenticated by a team API key.
//!
//! ```json
//! {"title": "Checkout p99 above 2 s", "description": "...", "severity": "critical",
//!  "service": "checkout", "source": "synthetics", "dedup_key": "checkout-latency",
//!  "action": "trigger", "details": {"p99_ms": 2400}}
//! ```
//! Only `title` is required; `severity` defaults to `warning`, `action` to `trigger`
//! (`resolve` resolves the open incident with that `dedup_key`).

use serde::Deserialize;

use super::{Action, NormalizedAlert, truncate};
use crate::domain::incident::Severity;

#[derive(Deserialize)]
struct Body {
    title: Option<String>,
    description: Option<String>,
    severity: Option<String>,
    service: Option<String>,
    source: Option<String>,
    dedup_key: Option<String>,
    action: Option<String>,
    #[serde(default)]
    details: serde_json::Value,
}

/// A refused body: which field, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The field at fault (`body` for the whole).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Parses a REST alert.
pub fn parse(raw: &[u8]) -> Result<NormalizedAlert, Invalid> {
    let body: Body = serde_json::from_slice(raw).map_err(|error| Invalid {
        field: "body",
        message: format!("the body is not valid JSON for an alert: {error}"),
    })?;
    let action = match body.action.as_deref().unwrap_or("trigger") {
        "trigger" => Action::Trigger,
        "acknowledge" => Action::Acknowledge,
        "resolve" => Action::Resolve,
        other => {
            return Err(Invalid {
                field: "action",
                message: format!("must be trigger, acknowledge or resolve, not {other:?}"),
            });
        }
    };
    let title = body.title.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let title = match (&action, title) {
        (_, Some(title)) => truncate(&title, 1024),
        (Action::Trigger, None) => return Err(Invalid { field: "title", message: "is required".into() }),
        (_, None) => String::new(),
    };
    if action != Action::Trigger && body.dedup_key.as_deref().is_none_or(str::is_empty) {
        return Err(Invalid { field: "dedup_key", message: "is required to acknowledge or resolve".into() });
    }
    if body.dedup_key.as_ref().is_some_and(|key| key.len() > 255) {
        return Err(Invalid { field: "dedup_key", message: "is 255 characters at most".into() });
    }
    let severity = match body.severity.as_deref() {
        None => Severity::Warning,
        Some(label) => Severity::from_label(label)
            .ok_or_else(|| Invalid { field: "severity", message: "must be critical, error, warning or info".into() })?,
    };
    let mut details = match body.details {
        serde_json::Value::Null => serde_json::json!({}),
        other => other,
    };
    if let (Some(source), Some(map)) = (body.source, details.as_object_mut()) {
        map.insert("source".into(), serde_json::Value::String(source));
    }
    Ok(NormalizedAlert {
        action,
        dedup_key: body.dedup_key.filter(|key| !key.is_empty()),
        title,
        description: body.description,
        severity,
        service: body.service.map(|service| service.trim().to_string()).filter(|service| !service.is_empty()),
        external_url: None,
        details,
        actor: None,
        raw: raw.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_title_is_required() {
        let alert = parse(br#"{"title": "Disk full"}"#).unwrap();
        assert_eq!(alert.title, "Disk full");
        assert_eq!(alert.severity, Severity::Warning);
        assert_eq!(alert.action, Action::Trigger);
        assert_eq!(parse(br#"{"severity": "critical"}"#).unwrap_err().field, "title");
        assert_eq!(parse(b"{not json").unwrap_err().field, "body");
        assert_eq!(parse(br#"{"title": "x", "severity": "apocalyptic"}"#).unwrap_err().field, "severity");
        assert_eq!(parse(br#"{"action": "resolve"}"#).unwrap_err().field, "dedup_key");
    }

    #[test]
    fn a_blank_service_is_no_service() {
        assert_eq!(parse(br#"{"title": "x", "service": "  "}"#).unwrap().service, None);
        assert_eq!(parse(br#"{"title": "x", "service": " web "}"#).unwrap().service.as_deref(), Some("web"));
    }
}
