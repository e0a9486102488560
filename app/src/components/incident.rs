//! How incidents look wherever they appear: severity and status badges, times shown
//! both relative ("5 min ago") and absolute, and durations.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::domain::incident::{IncidentStatus, SOURCES, Severity};

/// The class naming a severity's colour (badges, charts).
pub fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "severity-critical",
        Severity::Error => "severity-error",
        Severity::Warning => "severity-warning",
        Severity::Info => "severity-info",
    }
}

/// The severity as a coloured badge.
#[component]
pub fn SeverityBadge(severity: Severity) -> impl IntoView {
    view! { <span class=format!("badge {}", severity_class(severity))>{severity.as_str()}</span> }
}

/// The status as a badge.
#[component]
pub fn StatusBadge(status: IncidentStatus) -> impl IntoView {
    view! { <span class=format!("badge status-{status}") data-testid="incident-status">{status.as_str()}</span> }
}

/// A moment, shown relative to now, with the absolute UTC time on hover and for
/// assistive technology.
#[component]
pub fn When(at: DateTime<Utc>) -> impl IntoView {
    let absolute = at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    view! {
        <time datetime=at.to_rfc3339() title=absolute.clone()>
            {ago(at, Utc::now())}
        </time>
    }
}

/// A moment and its absolute time side by side, for timelines.
#[component]
pub fn WhenAbsolute(at: DateTime<Utc>) -> impl IntoView {
    view! {
        <time datetime=at.to_rfc3339()>
            <span>{ago(at, Utc::now())}</span>
            <span class="muted">" · " {at.format("%d %b %H:%M:%S").to_string()}</span>
        </time>
    }
}

/// "just now", "5 min ago", "3 h ago", "2 d ago".
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds().max(0);
    match seconds {
        0..=44 => "just now".to_string(),
        45..=3_599 => format!("{} min ago", (seconds + 30) / 60),
        3_600..=86_399 => format!("{} h ago", seconds / 3_600),
        _ => format!("{} d ago", seconds / 86_400),
    }
}

/// A length of time for people: "45 s", "12 min", "3 h 20 min", "2 d 4 h".
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 10.0 {
        // Diagnoses take a fraction of a second: tenths say how long.
        return format!("{seconds:.1} s");
    }
    let seconds = seconds.round() as i64;
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3_599 => format!("{} min", seconds / 60),
        3_600..=86_399 => format!("{} h {} min", seconds / 3_600, seconds % 3_600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3_600),
    }
}

/// The name people know a source by.
pub fn source_name(source: &str) -> String {
    SOURCES.iter().find(|(name, _)| *name == source).map_or_else(|| source.to_string(), |(_, label)| label.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_people_say_them() {
        let now = Utc::now();
        assert_eq!(ago(now - chrono::Duration::seconds(10), now), "just now");
        assert_eq!(ago(now - chrono::Duration::seconds(290), now), "5 min ago");
        assert_eq!(ago(now - chrono::Duration::hours(3), now), "3 h ago");
        assert_eq!(ago(now - chrono::Duration::days(2), now), "2 d ago");
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(0.04), "0.0 s");
        assert_eq!(duration(2.46), "2.5 s");
        assert_eq!(duration(12.0 * 60.0 + 5.0), "12 min");
        assert_eq!(duration(3.0 * 3600.0 + 20.0 * 60.0), "3 h 20 min");
        assert_eq!(duration(2.0 * 86_400.0 + 4.0 * 3600.0), "2 d 4 h");
        assert_eq!(source_name("events_api"), "Events API");
    }
}
