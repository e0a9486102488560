//! Prometheus Alertmanager's webhook (version 4) and Grafana's, which shares its shape:
//! one delivery carries a group of alerts, each with a fingerprint that is its dedup key.
//! <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Action, NormalizedAlert, truncate};
use crate::domain::incident::Severity;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    alerts: Vec<Alert>,
    group_key: Option<String>,
    external_url: Option<String>,
    receiver: Option<String>,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
    fingerprint: Option<String>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

/// The most alerts one delivery may carry. Alertmanager sends a group's alerts in one
/// delivery unless its `webhook_config` sets `max_alerts`; beyond this, a delivery is
/// refused (and kept, unparsed, with the reason) so that one request cannot open
/// thousands of incidents at once.
pub const MAX_ALERTS_PER_DELIVERY: usize = 1_000;

/// Parses a delivery of `source` (`alertmanager` or `grafana`) into its alerts.
pub fn parse(source: &str, raw: &[u8]) -> Result<Vec<NormalizedAlert>, String> {
    let webhook: Webhook =
        serde_json::from_slice(raw).map_err(|error| format!("not an Alertmanager/Grafana webhook: {error}"))?;
    if webhook.alerts.is_empty() {
        return Err("the delivery has no alerts".to_string());
    }
    if webhook.alerts.len() > MAX_ALERTS_PER_DELIVERY {
        return Err(format!(
            "the delivery carries {} alerts, more than the {MAX_ALERTS_PER_DELIVERY} taken at once: set max_alerts: {MAX_ALERTS_PER_DELIVERY} in Alertmanager's webhook_config",
            webhook.alerts.len()
        ));
    }
    webhook
        .alerts
        .into_iter()
        .map(|alert| {
            let action = match alert.status.as_str() {
                "firing" => Action::Trigger,
                "resolved" => Action::Resolve,
                other => return Err(format!("unknown alert status {other:?}")),
            };
            // The fingerprint identifies the alert's label set; without one (old
            // Grafana), the sorted labels do.
            let identity = alert
                .fingerprint
                .clone()
                .unwrap_or_else(|| alert.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
            let title = alert
                .annotations
                .get("summary")
                .or_else(|| alert.labels.get("alertname"))
                .cloned()
                .unwrap_or_else(|| "Alert without a name".to_string());
            let severity =
                alert.labels.get("severity").and_then(|s| Severity::from_label(s)).unwrap_or(Severity::Warning);
            // Filed under what the alert is about, never under the exporter that scraped it.
            let labels = serde_json::json!({ "labels": alert.labels });
            let service =
                crate::server::alert_subject::service_of(&labels, alert.labels.get("alertname").map(String::as_str));
            let description =
                alert.annotations.get("description").or_else(|| alert.annotations.get("message")).cloned();
            let raw = serde_json::to_vec(&alert).unwrap_or_default();
            Ok(NormalizedAlert {
                action,
                dedup_key: Some(format!("{source}:{identity}")),
                title: truncate(&title, 1024),
                description,
                severity,
                service,
                external_url: alert.generator_url.clone(),
                details: serde_json::json!({
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                    "starts_at": alert.starts_at,
                    "ends_at": alert.ends_at,
                    "group_key": webhook.group_key,
                    "external_url": webhook.external_url,
                    "receiver": webhook.receiver,
                }),
                actor: None,
                raw,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRING: &str = r#"{"receiver":"us","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","service":"api","severity":"critical"},"annotations":{"summary":"5xx \u003e 5%"},"startsAt":"2026-11-22T02:04:26Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom.local/graph","fingerprint":"0df005333d9e37c9"}],"groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://vm:9093","version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0}"#;

    #[test]
    fn an_alertmanager_alert_becomes_a_trigger_keyed_by_fingerprint() {
        let alerts = parse("alertmanager", FIRING.as_bytes()).unwrap();
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert_eq!(alert.action, Action::Trigger);
        assert_eq!(alert.dedup_key.as_deref(), Some("alertmanager:0df005333d9e37c9"));
        assert_eq!(alert.title, "5xx > 5%");
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.service.as_deref(), Some("api"));
        let resolved = FIRING.replace("\"status\":\"firing\",\"labels\"", "\"status\":\"resolved\",\"labels\"");
        assert_eq!(parse("alertmanager", resolved.as_bytes()).unwrap()[0].action, Action::Resolve);
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        assert!(parse("alertmanager", b"{}").is_err());
        assert!(parse("alertmanager", br#"{"alerts":[]}"#).is_err());
        let group = |count: usize| {
            let alerts: Vec<_> =
                (0..count).map(|n| serde_json::json!({"status": "firing", "fingerprint": n.to_string()})).collect();
            serde_json::json!({ "alerts": alerts }).to_string()
        };
        assert_eq!(parse("alertmanager", group(MAX_ALERTS_PER_DELIVERY).as_bytes()).unwrap().len(), 1_000);
        let refused = parse("alertmanager", group(MAX_ALERTS_PER_DELIVERY + 1).as_bytes()).unwrap_err();
        assert!(refused.contains("1001 alerts") && refused.contains("max_alerts"), "{refused}");
        assert!(parse("grafana", b"not json").is_err());
    }
}
