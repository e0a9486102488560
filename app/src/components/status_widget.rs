//! The live "system status" card: a reading from the server, refreshed in the browser.

use std::time::Duration;

use leptos::prelude::*;

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};

use crate::api::status::get_system_status;
use crate::domain::status::{DatabaseStatus, SystemStatus};

/// How often an open page takes a new reading on its own.
const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// Shows whether this deployment is healthy. Rendered on the server with a first
/// reading; once the page is live it refreshes every 30 s and on "Check again".
#[component]
pub fn StatusWidget() -> impl IntoView {
    let refreshes = RwSignal::new(0_u32);
    let checking = RwSignal::new(false);
    let status = Resource::new(move || refreshes.get(), |_| get_system_status());

    // Effects run only in the browser: the server renders one reading and stops there.
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || refreshes.update(|n| *n += 1), REFRESH_EVERY) {
            on_cleanup(move || handle.clear());
        }
    });

    view! {
        <section class="panel status-widget" aria-labelledby="status-title">
            <div class="panel-header">
                <h2 id="status-title">"System status"</h2>
                <button
                    type="button"
                    class="button secondary"
                    disabled=move || checking.get()
                    on:click=move |_| refreshes.update(|n| *n += 1)
                >
                    {move || if checking.get() { "Checking…" } else { "Check again" }}
                </button>
            </div>
            <div aria-live="polite">
                <Transition
                    fallback=|| view! { <p class="muted">"Checking…"</p> }
                    set_pending=checking.write_only()
                >
                    {move || {
                        status
                            .get()
                            .map(|reading| match reading {
                                Ok(status) => view! { <StatusReading status /> }.into_any(),
                                Err(error) => {
                                    view! {
                                        <p class="status-line degraded" data-testid="status-error">
                                            <span class="dot" aria-hidden="true"></span>
                                            {format!("Status unavailable: {error}")}
                                        </p>
                                    }
                                        .into_any()
                                }
                            })
                    }}
                </Transition>
            </div>
        </section>
    }
}

/// One reading, as a headline and its details.
#[component]
fn StatusReading(status: SystemStatus) -> impl IntoView {
    let ready = status.is_ready();
    let (migrations, latency) = match status.database {
        DatabaseStatus::Reachable { migrations_applied, migrations_expected, latency_ms } => {
            (format!("{migrations_applied} of {migrations_expected} applied"), format!("{latency_ms} ms"))
        }
        DatabaseStatus::Unreachable => ("unknown".to_string(), "no answer".to_string()),
    };
    let (machine_time, clock) = reading_time(status.checked_at);
    view! {
        <p class="status-line" class:operational=ready class:degraded=!ready data-testid="status-headline">
            <span class="dot" aria-hidden="true"></span>
            {if ready { "All systems operational" } else { "Degraded: the database needs attention" }}
        </p>
        <dl class="status-details">
            <dt>"Database"</dt>
            <dd data-testid="status-database">{status.database.summary()}</dd>
            <dt>"Migrations"</dt>
            <dd>{migrations}</dd>
            <dt>"Response time"</dt>
            <dd>{latency}</dd>
            <dt>"Version"</dt>
            <dd data-testid="status-version">{status.version}</dd>
            <dt>"Checked"</dt>
            <dd>
                <time datetime=machine_time data-testid="status-checked-at">
                    {clock}
                </time>
            </dd>
        </dl>
    }
}

/// A reading's time, for machines (RFC 3339 to the millisecond: two readings in one
/// second still differ) and for people ("13:51:07 UTC"). Written with chrono's field
/// accessors, not its formatter, which would add its strftime engine to the first
/// visit's bundle.
fn reading_time(at: DateTime<Utc>) -> (String, String) {
    let clock = format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second());
    let machine =
        format!("{:04}-{:02}-{:02}T{clock}.{:03}Z", at.year(), at.month(), at.day(), at.timestamp_subsec_millis());
    (machine, format!("{clock} UTC"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readings_time_reads_as_rfc_3339_and_as_a_clock() {
        let at = DateTime::parse_from_rfc3339("2026-12-05T09:04:03.25Z").unwrap().with_timezone(&Utc);
        let (machine, clock) = reading_time(at);
        assert_eq!(machine, "2026-12-05T09:04:03.250Z");
        assert_eq!(DateTime::parse_from_rfc3339(&machine).unwrap(), at);
        assert_eq!(clock, "09:04:03 UTC");
    }
}
