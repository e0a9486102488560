//! The public landing page: what DreamOps does, and a live status reading.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::status_widget::StatusWidget;

/// What the product does, in four steps.
const FEATURES: &[(&str, &str)] = &[
    (
        "Every alert becomes an incident",
        "PagerDuty, the Events API v2, Prometheus Alertmanager, Grafana or a plain REST call: point the tools you already run at DreamOps. Duplicates fold into one incident.",
    ),
    (
        "Context from your clusters",
        "An agent embedded in the server gathers pods, events, previous logs and rollout history from your Kubernetes clusters the moment an alert arrives.",
    ),
    (
        "A diagnosis with evidence",
        "Deterministic rules, and an LLM when you configure one, name the root cause and quote the log lines and events it rests on.",
    ),
    (
        "Fixes you approve with one click",
        "Restart, scale, roll back or raise a memory limit, verified afterwards and rolled back if it did not help. Or let the agent act on its own within the safety limits you set.",
    ),
];

/// `/`: the public front page.
#[component]
pub fn LandingPage() -> impl IntoView {
    view! {
        <Title text="" />
        <section class="hero">
            <p class="eyebrow">"AI-assisted on-call for Kubernetes teams"</p>
            <h1>"Your alerts, diagnosed before you open your laptop."</h1>
            <p class="lead">
                "DreamOps turns every alert into an incident, works out what broke in your cluster and why, and proposes the fix — streamed live to your team's timeline."
            </p>
        </section>
        <div class="landing-grid">
            <section aria-labelledby="how-title">
                <h2 id="how-title" class="visually-hidden">"How DreamOps works"</h2>
                <ol class="feature-list">
                    {FEATURES
                        .iter()
                        .map(|(title, text)| {
                            view! {
                                <li class="panel feature">
                                    <h3>{*title}</h3>
                                    <p>{*text}</p>
                                </li>
                            }
                        })
                        .collect_view()}
                </ol>
            </section>
            <aside>
                <StatusWidget />
            </aside>
        </div>
    }
}
