//! `/dashboard`: the team's home once signed in — open incidents, response times,
//! alert volume, the severity mix, top services, the automation rate, alert usage and
//! the latest activity, updated live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::incidents::get_dashboard;
use crate::components::account_notices::AccountNotices;
use crate::components::charts::{BarChart, DonutChart, LineChart};
use crate::components::forms::LoadError;
use crate::components::incident::{When, duration, severity_class};
use crate::components::live::{LiveIndicator, use_live_updates};
use crate::components::usage_card::{UsageCard, usage_resource};
use crate::components::viewer::SignedIn;
use crate::domain::account::Permission;
use crate::domain::analysis::DiagnosisAccuracy;
use crate::domain::incident::DashboardStats;

/// `/dashboard`.
#[component]
pub fn DashboardPage() -> impl IntoView {
    // Asked for alongside the signed-in user rather than after: the page waits for the
    // slower of the two, not for both in turn (a visitor who is not signed in is sent
    // to the login page, and never sees the refusal).
    let live = use_live_updates(|_| true);
    let stats = Resource::new(move || live.version.get(), |_| get_dashboard());
    let usage = usage_resource(Some(live.version));
    view! {
        <Title text="Dashboard" />
        <SignedIn children=move |viewer| {
            let can_manage = viewer.can(Permission::ManageMembers);
            let notices = viewer.clone();
            view! {
                <AccountNotices viewer=notices />
                <div class="page-header">
                    <div>
                        <p class="eyebrow">"Dashboard"</p>
                        <h1 data-testid="team-name">{viewer.team_name().to_string()}</h1>
                        <p class="muted">
                            "Signed in as " <strong>{viewer.email.clone()}</strong> ", "
                            <span data-testid="team-role">{viewer.team.as_ref().map(|team| team.role.label())}</span> " of this team."
                        </p>
                    </div>
                    <LiveIndicator updates=live />
                </div>
                <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading the dashboard…"</p> }>
                    {move || {
                        stats
                            .get()
                            .map(|result| match result {
                                Ok(stats) => view! { <Figures stats /> }.into_any(),
                                Err(error) => {
                                    view! { <LoadError what="The dashboard" error retry=move || stats.refetch() /> }
                                        .into_any()
                                }
                            })
                    }}
                </Transition>
                <div class="dashboard-grid">
                    <UsageCard usage />
                    <section class="panel" aria-labelledby="start-title">
                        <h2 id="start-title">"Getting started"</h2>
                        <ol class="checklist">
                            <li>"Invite the people who share your on-call rota."</li>
                            <li>
                                "Connect an alert source under " <A href="/settings/integrations">"Integrations"</A>
                                ", and send a test alert."
                            </li>
                            <li>"Create an API key for scripts that post alerts to the REST API."</li>
                        </ol>
                        <Show when=move || can_manage>
                            <A href="/settings/members" attr:class="button">
                                "Invite teammates"
                            </A>
                        </Show>
                    </section>
                </div>
            }
        } />
    }
}

#[component]
fn Figures(stats: DashboardStats) -> impl IntoView {
    let open_total: i64 = stats.open_by_severity.iter().map(|(_, count)| count).sum();
    let alerts_total: i64 = stats.alerts_per_day.iter().map(|(_, count)| count).sum();
    let automation = stats.automation_rate();
    let line_points: Vec<(String, i64)> =
        stats.alerts_per_day.iter().map(|(day, count)| (day.format("%-d %b").to_string(), *count)).collect();
    let peak = stats.alerts_per_day.iter().max_by_key(|(_, count)| *count).map(|(day, count)| (*day, *count));
    let line_description = match peak {
        Some((day, count)) if count > 0 => format!(
            "Alerts per day over the last 30 days: {alerts_total} in all, at most {count} on {}.",
            day.format("%-d %B")
        ),
        _ => "Alerts per day over the last 30 days: none.".to_string(),
    };
    let mix_total: i64 = stats.severity_mix.iter().map(|(_, count)| count).sum();
    let mix_description = format!(
        "Incidents opened in the last 30 days by severity: {}.",
        stats.severity_mix.iter().map(|(s, count)| format!("{s} {count}")).collect::<Vec<_>>().join(", ")
    );
    let services_description = format!(
        "Services with the most incidents in the last 30 days: {}.",
        if stats.top_services.is_empty() {
            "none".to_string()
        } else {
            stats.top_services.iter().map(|(s, count)| format!("{s} {count}")).collect::<Vec<_>>().join(", ")
        }
    );
    view! {
        <section class="stat-row" aria-label="Open incidents by severity" data-testid="open-by-severity">
            <div class="stat">
                <span class="stat-value">{open_total}</span>
                <A href="/incidents">"open incidents"</A>
            </div>
            {stats.open_by_severity.iter().map(|(severity, count)| view! {
                <div class=format!("stat {}", severity_class(*severity))>
                    <span class="stat-value">{*count}</span>
                    <span>{severity.as_str()}</span>
                </div>
            }).collect_view()}
        </section>
        <div class="dashboard-grid">
            <section class="panel wide" aria-labelledby="alerts-day-title" data-testid="alerts-per-day">
                <h2 id="alerts-day-title">"Alerts per day"</h2>
                <LineChart points=line_points description=line_description />
            </section>
            <section class="panel" aria-labelledby="mix-title" data-testid="severity-mix">
                <h2 id="mix-title">"Severity, last 30 days"</h2>
                {if mix_total == 0 {
                    view! { <p class="muted">"No incidents in the last 30 days."</p> }.into_any()
                } else {
                    let slices = stats.severity_mix.iter().map(|(s, count)| (s.as_str().to_string(), *count, severity_class(*s))).collect();
                    view! { <DonutChart slices description=mix_description /> }.into_any()
                }}
            </section>
            <section class="panel" aria-labelledby="response-title">
                <h2 id="response-title">"Response times"</h2>
                <div class="table-scroll">
                    <table class="data-table" data-testid="response-times">
                        <thead>
                            <tr><th scope="col">"Incidents opened in"</th><th scope="col">"Time to diagnosis"</th><th scope="col">"MTTA"</th><th scope="col">"MTTR"</th></tr>
                        </thead>
                        <tbody>
                            {stats.response_times.iter().map(|times| view! {
                                <tr>
                                    <td>{format!("the last {}", times.window)}</td>
                                    <td>{times.mttd_secs.map_or_else(|| "—".to_string(), duration)}</td>
                                    <td>{times.mtta_secs.map_or_else(|| "—".to_string(), duration)}</td>
                                    <td>{times.mttr_secs.map_or_else(|| "—".to_string(), duration)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                <p class="hint">"Mean time to the agent's diagnosis, to acknowledge and to resolve, from the first alert."</p>
            </section>
            <section class="panel" aria-labelledby="services-title" data-testid="top-services">
                <h2 id="services-title">"Top services, last 30 days"</h2>
                {if stats.top_services.is_empty() {
                    view! { <p class="muted">"No incident named a service yet."</p> }.into_any()
                } else {
                    let bars = stats.top_services.iter().map(|(s, count)| (s.clone(), *count, "")).collect();
                    view! { <BarChart bars description=services_description /> }.into_any()
                }}
            </section>
            <section class="panel" aria-labelledby="automation-title" data-testid="automation-rate">
                <h2 id="automation-title">"Automation rate"</h2>
                <p class="stat-value">{format!("{:.0}%", automation * 100.0)}</p>
                <p class="hint">
                    {format!(
                        "{} of {} incidents resolved in the last 30 days were resolved by the agent.",
                        stats.resolved_by_agent_30d, stats.resolved_30d
                    )}
                </p>
            </section>
            <Accuracy accuracy=stats.accuracy.clone() />
            <section class="panel" aria-labelledby="activity-title">
                <h2 id="activity-title">"Latest activity"</h2>
                {if stats.activity.is_empty() {
                    view! {
                        <p class="muted">
                            "Nothing yet. Incidents open when alerts arrive — connect a source under "
                            <A href="/settings/integrations">"Integrations"</A> "."
                        </p>
                    }.into_any()
                } else {
                    view! {
                        <ol class="activity" data-testid="activity">
                            {stats.activity.into_iter().map(|item| view! {
                                <li>
                                    <When at=item.entry.at />
                                    " · "
                                    <A href=format!("/incidents/{}", item.incident_id)>{item.incident_title}</A>
                                    <span class="muted">" — " {item.entry.message}</span>
                                </li>
                            }).collect_view()}
                        </ol>
                    }.into_any()
                }}
            </section>
        </div>
    }
}

/// The agent's diagnosis accuracy by week, from responders' verdicts, and the latest
/// wrong diagnoses for review.
#[component]
fn Accuracy(accuracy: DiagnosisAccuracy) -> impl IntoView {
    let (right, all) = accuracy.weeks.iter().fold((0, 0), |(r, a), (_, right, all)| (r + right, a + all));
    let points: Vec<(String, i64)> = accuracy
        .weeks
        .iter()
        .map(|(week, right, all)| (week.format("%d %b").to_string(), if *all == 0 { 0 } else { right * 100 / all }))
        .collect();
    let description = format!(
        "Share of analyses marked right per week: {}",
        accuracy
            .weeks
            .iter()
            .map(|(week, right, all)| format!("{week}: {right} of {all}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    view! {
        <section class="panel" aria-labelledby="accuracy-title" data-testid="diagnosis-accuracy">
            <h2 id="accuracy-title">"Diagnosis accuracy"</h2>
            {if all == 0 {
                view! { <p class="muted">"No verdict yet: responders mark each analysis right or wrong on its incident."</p> }.into_any()
            } else {
                view! {
                    <p class="stat-value">{format!("{:.0}%", right as f64 * 100.0 / all as f64)}</p>
                    <p class="hint">{format!("{right} of {all} analyses marked right over the last {} weeks.", accuracy.weeks.len())}</p>
                    <LineChart points description />
                }.into_any()
            }}
            {(!accuracy.wrong.is_empty()).then(|| view! {
                <h3>"Marked wrong — to review"</h3>
                <ul class="plain-list" data-testid="wrong-diagnoses">
                    {accuracy.wrong.into_iter().map(|wrong| view! {
                        <li>
                            <A href=format!("/incidents/{}", wrong.incident_id)>{wrong.incident_title}</A>
                            <span class="muted">" — said: " {wrong.root_cause}</span>
                            {wrong.correction.map(|c| view! { <span>" — really: " {c}</span> })}
                        </li>
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}
