//! `/status`: the deployment's health for operators, with the endpoints monitors can poll.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::status_widget::StatusWidget;

/// The endpoints a load balancer or monitoring system can poll.
const PROBES: &[(&str, &str)] = &[
    ("/health", "Liveness: answers 200 while the process runs."),
    ("/ready", "Readiness: 200 when the database answers and is fully migrated, 503 otherwise."),
    ("/metrics", "Prometheus metrics: requests by route and status, latency, database pool."),
];

/// `/status`: the live status card and how to monitor this deployment.
#[component]
pub fn StatusPage() -> impl IntoView {
    view! {
        <Title text="System status" />
        <h1>"System status"</h1>
        <p class="lead">"The health of this DreamOps deployment, as this server instance sees it."</p>
        <div class="status-grid">
            <StatusWidget />
            <section class="panel" aria-labelledby="probes-title">
                <h2 id="probes-title">"For your monitoring"</h2>
                <dl class="probe-list">
                    {PROBES
                        .iter()
                        .map(|(path, text)| {
                            view! {
                                <dt>
                                    <a href=*path rel="external">
                                        <code>{*path}</code>
                                    </a>
                                </dt>
                                <dd>{*text}</dd>
                            }
                        })
                        .collect_view()}
                </dl>
            </section>
        </div>
    }
}
