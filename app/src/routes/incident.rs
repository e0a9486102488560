//! `/incidents/:id`: one incident — its facts, its timeline (live), responders'
//! actions by role, related incidents, and the alerts behind it as received.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use crate::api::github::{CreateGithubIssue, incident_github_issues};
use crate::api::incidents::{
    AcknowledgeIncident, AddIncidentNote, ReopenIncident, ResolveIncident, SetIncidentSeverity, get_incident,
};
use crate::api::runbooks::{TickRunbookStep, get_incident_runbook};
use crate::components::analysis::{AnalysisData, AnalysisPanel, use_analysis};
use crate::components::forms::{LoadError, Outcome, SubmitButton};
use crate::components::github_issues::IssueList;
use crate::components::incident::{SeverityBadge, StatusBadge, When, WhenAbsolute, source_name};
use crate::components::live::{LiveIndicator, use_live_updates};
use crate::components::viewer::SignedIn;
use crate::domain::account::Permission;
use crate::domain::github::{IncidentIssues, IssueSubject};
use crate::domain::incident::{AlertRecord, IncidentDetail, IncidentStatus, Severity, TimelineEntry, web_link};
use crate::domain::runbook::IncidentRunbook;
use crate::error::AppError;
use crate::routes::not_found::NotFound;

/// What the page shows, read in one boundary (so that it hydrates as it was rendered):
/// the incident, its runbook and its GitHub issues.
struct PageData {
    incident: IncidentDetail,
    runbook: Result<Option<IncidentRunbook>, AppError>,
    issues: Result<IncidentIssues, AppError>,
}

/// `/incidents/:id`; an address whose id is not an incident id is the 404 page.
#[component]
pub fn IncidentPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|id| id.parse::<Uuid>().ok())));
    move || match id.get() {
        Some(id) => view! {
            <Title text="Incident" />
            <SignedIn children=move |viewer| {
                view! { <Incident id can_respond=viewer.can(Permission::RespondToIncidents) /> }
            } />
        }
        .into_any(),
        None => view! { <NotFound /> }.into_any(),
    }
}

#[component]
fn Incident(id: Uuid, can_respond: bool) -> impl IntoView {
    let live = use_live_updates(move |event| event.incident_id == Some(id));
    let analysis = use_analysis(id, live);
    let tick = ServerAction::<TickRunbookStep>::new();
    let open_issue = ServerAction::<CreateGithubIssue>::new();
    let acknowledge = ServerAction::<AcknowledgeIncident>::new();
    let resolve = ServerAction::<ResolveIncident>::new();
    let reopen = ServerAction::<ReopenIncident>::new();
    let note = ServerAction::<AddIncidentNote>::new();
    let severity = ServerAction::<SetIncidentSeverity>::new();
    // Fetched again after each of this page's actions, and live after anyone else's; one
    // server function per resource (docs/architecture.md).
    let detail = Resource::new(
        move || {
            (
                live.version.get(),
                acknowledge.version().get(),
                resolve.version().get(),
                reopen.version().get(),
                note.version().get(),
                severity.version().get(),
                tick.version().get(),
            )
        },
        move |_| get_incident(id),
    );
    let runbook = Resource::new(move || (live.version.get(), tick.version().get()), move |_| get_incident_runbook(id));
    let issues =
        Resource::new(move || (live.version.get(), open_issue.version().get()), move |_| incident_github_issues(id));
    let retry = Callback::new(move |()| {
        detail.refetch();
        runbook.refetch();
        issues.refetch();
    });
    let actions = Actions { acknowledge, resolve, reopen, note, severity, tick, open_issue, retry };
    view! {
        <p class="eyebrow"><A href="/incidents">"← Incidents"</A></p>
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading the incident…"</p> }>
            // The page's three resources, read together: one boundary, waiting for all.
            {move || {
                // Each read before any is missing, so that the boundary tracks all three.
                let (detail, runbook, issues) = (detail.get(), runbook.get(), issues.get());
                let (detail, runbook, issues) = (detail?, runbook?, issues?);
                Some(
                    match detail {
                        Ok(incident) => {
                            let data = PageData { incident, runbook, issues };
                            view! { <IncidentView data can_respond actions live analysis /> }.into_any()
                        }
                        Err(AppError::NotFound) => {
                            view! {
                                <section class="panel">
                                    <h1>"Incident not found"</h1>
                                    <p>"It does not exist, or it belongs to another team."</p>
                                </section>
                            }
                                .into_any()
                        }
                        Err(error) => {
                            view! { <LoadError what="The incident" error retry=move || retry.run(()) /> }.into_any()
                        }
                    },
                )
            }}
        </Transition>
    }
}

/// The responder actions of the page.
#[derive(Clone, Copy)]
struct Actions {
    acknowledge: ServerAction<AcknowledgeIncident>,
    resolve: ServerAction<ResolveIncident>,
    reopen: ServerAction<ReopenIncident>,
    note: ServerAction<AddIncidentNote>,
    severity: ServerAction<SetIncidentSeverity>,
    tick: ServerAction<TickRunbookStep>,
    open_issue: ServerAction<CreateGithubIssue>,
    /// Fetches the page's data again.
    retry: Callback<()>,
}

#[component]
fn IncidentView(
    data: PageData,
    can_respond: bool,
    actions: Actions,
    live: crate::components::live::LiveUpdates,
    analysis: AnalysisData,
) -> impl IntoView {
    let PageData { incident, runbook, issues } = data;
    let summary = incident.summary.clone();
    let id = summary.id;
    view! {
        <Title text=summary.title.clone() />
        <header class="incident-header">
            <div class="badges">
                <SeverityBadge severity=summary.severity />
                <StatusBadge status=summary.status />
                {summary.over_quota.then(|| view! { <span class="badge over-quota">"over quota — not analysed"</span> })}
                <LiveIndicator updates=live />
            </div>
            <h1 data-testid="incident-title">{summary.title.clone()}</h1>
            {incident.description.clone().map(|text| view! { <p class="lead">{text}</p> })}
        </header>
        <dl class="facts">
            <div><dt>"Service"</dt><dd>{summary.service.clone().unwrap_or_else(|| "—".into())}</dd></div>
            <div><dt>"Source"</dt><dd>{source_name(&summary.source)}</dd></div>
            <div><dt>"First seen"</dt><dd><When at=summary.first_seen_at /></dd></div>
            <div><dt>"Last activity"</dt><dd><When at=summary.last_seen_at /></dd></div>
            <div><dt>"Alerts"</dt><dd data-testid="occurrences">{summary.occurrences}</dd></div>
            <div><dt>"Dedup key"</dt><dd><code>{incident.dedup_key.clone()}</code></dd></div>
            {incident.acknowledged_by.clone().map(|by| view! { <div><dt>"Acknowledged by"</dt><dd>{by}</dd></div> })}
            {incident.resolved_by.clone().map(|by| view! { <div><dt>"Resolved by"</dt><dd>{by}</dd></div> })}
        </dl>
        <div class="button-row">
            {incident.external_url.as_deref().and_then(web_link).map(str::to_string).map(|url| view! {
                <a class="button secondary small" href=url target="_blank" rel="noopener noreferrer">"Open at the source ↗"</a>
            })}
            {incident.previous_incident_id.map(|previous| view! {
                <A href=format!("/incidents/{previous}") attr:class="button secondary small">"Previous incident with this key"</A>
            })}
            <IncidentGitHubIssues id can_respond issues action=actions.open_issue />
        </div>
        {can_respond.then(|| view! { <Respond id status=summary.status severity=summary.severity actions /> })}
        <AnalysisPanel data=analysis can_respond />
        <crate::routes::runbooks::IncidentRunbookPanel id can_respond runbook tick=actions.tick retry=actions.retry />
        <div class="incident-columns">
            <section class="panel" aria-labelledby="timeline-title">
                <h2 id="timeline-title">"Timeline"</h2>
                {(incident.earlier_entries > 0).then(|| view! {
                    <p class="muted">{format!("{} earlier entries are not shown.", incident.earlier_entries)}</p>
                })}
                <ol class="timeline" data-testid="timeline">
                    {incident.timeline.into_iter().map(|entry| view! { <TimelineItem entry /> }).collect_view()}
                </ol>
            </section>
            <aside class="panel" aria-labelledby="related-title">
                <h2 id="related-title">"Related incidents"</h2>
                {if incident.related.is_empty() {
                    view! { <p class="muted">"None found: no other incident with this key, on this service, or with a similar title."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain-list related">
                            {incident.related.into_iter().map(|related| view! {
                                <li>
                                    <A href=format!("/incidents/{}", related.incident.id)>{related.incident.title}</A>
                                    <span class="muted">" · " {related.reason} " · "</span>
                                    <StatusBadge status=related.incident.status />
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </aside>
        </div>
        <section class="panel" aria-labelledby="alerts-title">
            <h2 id="alerts-title">"Alerts as received"</h2>
            {incident.alerts.into_iter().map(|alert| view! { <RawAlert alert /> }).collect_view()}
            <details>
                <summary>"Details (labels, annotations, custom details)"</summary>
                <pre class="snippet">{incident.details}</pre>
            </details>
        </section>
    }
}

#[component]
fn TimelineItem(entry: TimelineEntry) -> impl IntoView {
    let kind_class = format!("timeline-item kind-{}", entry.kind.replace('.', "-"));
    view! {
        <li class=kind_class data-kind=entry.kind.clone()>
            <div class="timeline-meta">
                <WhenAbsolute at=entry.at />
                <span class="muted">" · " {entry.actor}</span>
            </div>
            <p>{entry.message}</p>
        </li>
    }
}

#[component]
fn RawAlert(alert: AlertRecord) -> impl IntoView {
    view! {
        <details class="raw-alert">
            <summary>
                {source_name(&alert.source)} " · " {alert.event_action.unwrap_or_else(|| "unparsed".into())} " · "
                <When at=alert.received_at />
            </summary>
            {if alert.removed {
                view! { <p class="muted">"The payload was removed after the plan's retention period."</p> }.into_any()
            } else {
                view! { <pre class="snippet">{alert.raw}</pre> }.into_any()
            }}
            {alert.cut.then(|| view! { <p class="muted">"Cut at 64 KB."</p> })}
        </details>
    }
}

/// What an operator (and above) can do, depending on the status.
/// The incident's GitHub issues, and "Create GitHub issue" while it has none.
#[component]
fn IncidentGitHubIssues(
    id: Uuid,
    can_respond: bool,
    issues: Result<IncidentIssues, AppError>,
    action: ServerAction<CreateGithubIssue>,
) -> impl IntoView {
    let issues = match issues {
        Ok(issues) => issues,
        Err(error) => {
            return view! { <p class="form-error">{format!("Its GitHub issues could not be loaded: {error}")}</p> }
                .into_any();
        }
    };
    let has_one = issues.issues.iter().any(|issue| issue.subject == IssueSubject::Incident);
    let can_open = can_respond && issues.connected && !has_one;
    view! {
        <IssueList issues=issues.issues subjects=&[IssueSubject::Incident, IssueSubject::Postmortem, IssueSubject::ActionItem] />
        {can_open.then(|| view! {
            <button type="button" class="button secondary small" disabled=move || action.pending().get()
                on:click=move |_| { action.dispatch(CreateGithubIssue { incident: id }); }>
                {move || if action.pending().get() { "Asking GitHub…" } else { "Create GitHub issue" }}
            </button>
        })}
        {move || action.value().get().and_then(Result::err).map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })}
    }
    .into_any()
}

#[component]
fn Respond(id: Uuid, status: IncidentStatus, severity: Severity, actions: Actions) -> impl IntoView {
    let Actions { acknowledge, resolve, reopen, note, severity: set_severity, .. } = actions;
    let outcomes: [Outcome<()>; 5] = [
        acknowledge.value().into(),
        resolve.value().into(),
        reopen.value().into(),
        note.value().into(),
        set_severity.value().into(),
    ];
    view! {
        <section class="panel respond" aria-labelledby="respond-title">
            <h2 id="respond-title" class="visually-hidden">"Respond"</h2>
            <div class="respond-row">
                {(status == IncidentStatus::Triggered).then(|| view! {
                    <ActionForm action=acknowledge attr:class="inline-form">
                        <input type="hidden" name="id" value=id.to_string() />
                        <SubmitButton pending=acknowledge.pending() label="Acknowledge" busy_label="Acknowledging…" />
                    </ActionForm>
                })}
                {(status == IncidentStatus::Resolved).then(|| view! {
                    <ActionForm action=reopen attr:class="inline-form">
                        <input type="hidden" name="id" value=id.to_string() />
                        <SubmitButton pending=reopen.pending() label="Reopen" busy_label="Reopening…" class="secondary" />
                    </ActionForm>
                    <crate::routes::postmortems::WritePostmortemButton incident=id />
                })}
                <label class="inline-select">
                    "Severity "
                    <select
                        aria-label="Severity"
                        on:change=move |event| {
                            if let Ok(severity) = event_target_value(&event).parse::<Severity>() {
                                set_severity.dispatch(SetIncidentSeverity { id, severity });
                            }
                        }
                    >
                        {Severity::ALL.map(|s| view! { <option value=s.as_str() selected=s == severity>{s.as_str()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            {(status != IncidentStatus::Resolved).then(|| view! {
                <ActionForm action=resolve attr:class="stacked-form resolve-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <label for="resolution-note">"Resolution note (optional)"</label>
                    <textarea id="resolution-note" name="note" rows="2" placeholder="What fixed it?"></textarea>
                    <SubmitButton pending=resolve.pending() label="Resolve" busy_label="Resolving…" />
                </ActionForm>
            })}
            <ActionForm action=note attr:class="stacked-form note-form">
                <input type="hidden" name="id" value=id.to_string() />
                <label for="note-text">"Add a note to the timeline"</label>
                <textarea id="note-text" name="text" rows="2" required></textarea>
                <SubmitButton pending=note.pending() label="Add note" busy_label="Adding…" class="secondary" />
            </ActionForm>
            {outcomes
                .map(|outcome| {
                    move || {
                        outcome
                            .get()
                            .and_then(Result::err)
                            .map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })
                    }
                })
                .collect_view()}
        </section>
    }
}
