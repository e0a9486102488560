//! `/incidents`: the team's incidents, filtered, newest activity first, updated live;
//! and the form to report one by hand.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api::incidents::{ReportIncident, list_incidents};
use crate::api::integrations::{get_usage, send_test_alert};
use crate::components::forms::{Field, FieldError, FormError, LoadError, Outcome, SubmitButton};
use crate::components::incident::{SeverityBadge, StatusBadge, When, source_name};
use crate::components::live::{LiveIndicator, use_live_updates};
use crate::components::viewer::SignedIn;
use crate::domain::account::Permission;
use crate::domain::incident::{
    COUNT_CAP, IncidentCursor, IncidentFilter, IncidentStatus, IncidentSummary, SOURCES, Severity, StatusCounts,
    count_label,
};

/// `/incidents`.
#[component]
pub fn IncidentsPage() -> impl IntoView {
    view! {
        <Title text="Incidents" />
        <SignedIn children=|viewer| {
            view! {
                <Incidents
                    can_respond=viewer.can(Permission::RespondToIncidents)
                    can_manage_sources=viewer.can(Permission::ManageIntegrations)
                />
            }
        } />
    }
}

fn non_empty(value: String) -> Option<String> {
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}

#[component]
fn Incidents(can_respond: bool, can_manage_sources: bool) -> impl IntoView {
    let status = RwSignal::new(None::<IncidentStatus>);
    let severity = RwSignal::new(String::new());
    let source = RwSignal::new(String::new());
    let service = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let filter = Memo::new(move |_| IncidentFilter {
        status: status.get(),
        severity: severity.get().parse::<Severity>().ok(),
        service: non_empty(service.get()),
        source: non_empty(source.get()),
        text: non_empty(text.get()),
    });
    let filtered = move || filter.with(|f| f != &IncidentFilter::default());
    // Every incident event concerns the list; a burst causes one fetch.
    let live = use_live_updates(|_| true);
    let first_page =
        Resource::new(move || (filter.get(), live.version.get()), |(filter, _)| list_incidents(filter, None));
    let usage = Resource::new(move || live.version.get(), |_| get_usage());
    // Pages loaded below the first; the first page (fetched again live) wins over them.
    let older = RwSignal::new(Vec::<IncidentSummary>::new());
    let next = RwSignal::new(None::<IncidentCursor>);
    let counts = RwSignal::new(StatusCounts::default());
    Effect::new(move |previous_filter: Option<IncidentFilter>| {
        let current = filter.get();
        if let Some(Ok(page)) = first_page.get() {
            counts.set(page.counts);
            let shown_first: Vec<_> = page.incidents.iter().map(|i| i.id).collect();
            if previous_filter.as_ref() == Some(&current) && !older.with_untracked(Vec::is_empty) {
                older.update(|rows| rows.retain(|row| !shown_first.contains(&row.id)));
            } else {
                older.set(Vec::new());
                next.set(page.next);
            }
        }
        current
    });
    let load_more = Action::new(move |after: &IncidentCursor| {
        let after = *after;
        let filter = filter.get_untracked();
        async move {
            if let Ok(page) = list_incidents(filter, Some(after)).await {
                older.update(|rows| rows.extend(page.incidents));
                next.set(page.next);
            }
        }
    });
    let show_report = RwSignal::new(false);

    view! {
        <div class="page-header">
            <div>
                <h1>"Incidents"</h1>
                <LiveIndicator updates=live />
            </div>
            <Show when=move || can_respond>
                <button
                    type="button"
                    class="button"
                    aria-expanded=move || show_report.get().to_string()
                    aria-controls="report-incident"
                    on:click=move |_| show_report.update(|shown| *shown = !*shown)
                >
                    "Report incident"
                </button>
            </Show>
        </div>
        <Show when=move || show_report.get()>
            <ReportForm on_close=move || show_report.set(false) />
        </Show>
        <Transition fallback=|| ()>
            {move || usage.get().and_then(Result::ok).filter(|u| u.exhausted()).map(|usage| view! {
                <p class="notice" role="status" data-testid="over-quota-banner">
                    {format!(
                        "All {} alerts of this period are used. New incidents are stored and listed, marked over quota, but not analysed until {} or an upgrade.",
                        usage.limit.unwrap_or_default(),
                        usage.resets_on.format("%-d %b"),
                    )}
                </p>
            })}
        </Transition>
        <div class="status-tabs" role="group" aria-label="Status">
            <StatusTab label="All" value=None status count=Signal::derive(move || {
                counts.with(|c| {
                    // Over the cap, the total is at least the sum, so it reads "1,000+" too.
                    let capped = [c.triggered, c.acknowledged, c.resolved].iter().any(|n| *n > COUNT_CAP);
                    if capped { COUNT_CAP + 1 } else { c.triggered + c.acknowledged + c.resolved }
                })
            }) />
            <StatusTab label="Triggered" value=Some(IncidentStatus::Triggered) status count=Signal::derive(move || counts.with(|c| c.triggered)) />
            <StatusTab label="Acknowledged" value=Some(IncidentStatus::Acknowledged) status count=Signal::derive(move || counts.with(|c| c.acknowledged)) />
            <StatusTab label="Resolved" value=Some(IncidentStatus::Resolved) status count=Signal::derive(move || counts.with(|c| c.resolved)) />
        </div>
        <form class="inline-fields filters" on:submit=|event| event.prevent_default()>
            <div>
                <label for="incident-text">"Title contains"</label>
                <input id="incident-text" type="search" placeholder="e.g. disk" bind:value=text />
            </div>
            <div>
                <label for="incident-severity">"Severity"</label>
                <select id="incident-severity" bind:value=severity>
                    <option value="">"Any"</option>
                    {Severity::ALL.map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
                </select>
            </div>
            <div>
                <label for="incident-source">"Source"</label>
                <select id="incident-source" bind:value=source>
                    <option value="">"Any"</option>
                    {SOURCES.map(|(name, label)| view! { <option value=name>{label}</option> }).collect_view()}
                </select>
            </div>
            <div>
                <label for="incident-service">"Service"</label>
                <input id="incident-service" type="search" placeholder="exact name" bind:value=service />
            </div>
        </form>
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading incidents…"</p> }>
            {move || {
                first_page
                    .get()
                    .map(|result| match result {
                        Ok(page) if page.incidents.is_empty() && filtered() => {
                            view! { <p class="muted empty-state">"No incident matches these filters."</p> }.into_any()
                        }
                        Ok(page) if page.incidents.is_empty() => {
                            view! { <NoIncidentsYet can_manage_sources /> }.into_any()
                        }
                        Ok(page) => {
                            view! {
                                <div class="table-scroll">
                                    <table class="data-table incident-table" data-testid="incident-list">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Severity"</th>
                                                <th scope="col">"Incident"</th>
                                                <th scope="col">"Status"</th>
                                                <th scope="col">"Service"</th>
                                                <th scope="col">"Source"</th>
                                                <th scope="col">"Alerts"</th>
                                                <th scope="col">"Last activity"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {page.incidents.into_iter().map(|incident| view! { <IncidentRow incident /> }).collect_view()}
                                            <For each=move || older.get() key=|incident| (incident.id, incident.last_seen_at) children=|incident| view! { <IncidentRow incident /> } />
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any()
                        }
                        Err(error) => {
                            view! { <LoadError what="The incidents" error retry=move || first_page.refetch() /> }
                                .into_any()
                        }
                    })
            }}
        </Transition>
        <Show when=move || next.get().is_some()>
            <button
                type="button"
                class="button secondary"
                disabled=move || load_more.pending().get()
                on:click=move |_| {
                    if let Some(after) = next.get_untracked() {
                        load_more.dispatch(after);
                    }
                }
            >
                {move || if load_more.pending().get() { "Loading…" } else { "Load more incidents" }}
            </button>
        </Show>
    }
}

#[component]
fn StatusTab(
    label: &'static str,
    value: Option<IncidentStatus>,
    status: RwSignal<Option<IncidentStatus>>,
    count: Signal<i64>,
) -> impl IntoView {
    view! {
        <button
            type="button"
            class="status-tab"
            aria-pressed=move || (status.get() == value).to_string()
            on:click=move |_| status.set(value)
        >
            {label}
            " "
            <span class="count">{move || count_label(count.get())}</span>
        </button>
    }
}

#[component]
fn IncidentRow(incident: IncidentSummary) -> impl IntoView {
    let href = format!("/incidents/{}", incident.id);
    view! {
        <tr data-testid="incident-row">
            <td><SeverityBadge severity=incident.severity /></td>
            <td>
                <A href=href>{incident.title}</A>
                {incident.over_quota.then(|| view! { " " <span class="badge over-quota" title="Opened when the alert quota was used up: stored, not analysed">"over quota"</span> })}
            </td>
            <td><StatusBadge status=incident.status /></td>
            <td>{incident.service.unwrap_or_default()}</td>
            <td>{source_name(&incident.source)}</td>
            <td>{incident.occurrences}</td>
            <td><When at=incident.last_seen_at /></td>
        </tr>
    }
}

/// The empty state: where incidents come from, and a way to see one now.
#[component]
fn NoIncidentsYet(can_manage_sources: bool) -> impl IntoView {
    let test = Action::new(|_: &()| send_test_alert("events_api".to_string()));
    view! {
        <section class="panel empty-state" data-testid="no-incidents">
            <h2>"No incidents yet"</h2>
            <p>
                "Incidents open when alerts arrive. Connect PagerDuty, Alertmanager, Grafana or any tool that speaks the PagerDuty Events API under Integrations, or post to the REST API with an API key."
            </p>
            {if can_manage_sources {
                view! {
                    <div class="button-row">
                        <button type="button" class="button" disabled=move || test.pending().get() on:click=move |_| { test.dispatch(()); }>
                            {move || if test.pending().get() { "Sending…" } else { "Send a test alert" }}
                        </button>
                        <A href="/settings/integrations" attr:class="button secondary">"Connect a source"</A>
                    </div>
                    {move || test.value().get().and_then(Result::err).map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })}
                }
                    .into_any()
            } else {
                view! { <p class="muted">"Ask an admin of your team to connect an alert source."</p> }.into_any()
            }}
        </section>
    }
}

/// The form for an incident reported by hand.
#[component]
fn ReportForm(on_close: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let report = ServerAction::<ReportIncident>::new();
    let outcome: Outcome<_> = report.value().into();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(reported)) = report.value().get() {
            navigate(&format!("/incidents/{}", reported.id), Default::default());
        }
    });
    let close = on_close.clone();
    view! {
        <section class="panel" id="report-incident" aria-labelledby="report-title">
            <h2 id="report-title">"Report an incident"</h2>
            <p class="hint">"It opens like any alert and counts against this period's alert quota."</p>
            <ActionForm action=report attr:novalidate=true attr:class="stacked-form">
                <Field outcome name="incident[title]" id="report-title-input" label="Title" maxlength=1024 placeholder="What is wrong?" />
                <div class="field">
                    <label for="report-severity">"Severity"</label>
                    <select id="report-severity" name="incident[severity]">
                        {Severity::ALL.map(|s| view! { <option value=s.as_str() selected=s == Severity::Warning>{s.as_str()}</option> }).collect_view()}
                    </select>
                </div>
                <Field outcome name="incident[service]" id="report-service" label="Service (optional)" maxlength=255 />
                <div class="field">
                    <label for="report-description">"Description (optional)"</label>
                    <textarea id="report-description" name="incident[description]" rows="3"></textarea>
                    <FieldError outcome field="description" />
                </div>
                <FieldError outcome field="title" />
                <FormError outcome />
                <div class="button-row">
                    <SubmitButton pending=report.pending() label="Open incident" busy_label="Opening…" />
                    <button type="button" class="button secondary" on:click=move |_| close()>"Cancel"</button>
                </div>
            </ActionForm>
        </section>
    }
}
