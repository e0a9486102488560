//! `/runbooks`: the team's runbooks — search, write a new one, open one to read its
//! text and history (who changed what), edit it into a new version, delete it — and
//! the runbook panel of the incident page, whose steps responders tick off.

use leptos::prelude::*;
use leptos_meta::Title;
use uuid::Uuid;

use crate::api::runbooks::{DeleteRunbook, SaveRunbook, TickRunbookStep, get_runbook, list_runbooks};
use crate::components::forms::{ConfirmButton, Field, FieldError, FormError, LoadError, Outcome, SubmitButton};
use crate::components::viewer::SignedIn;
use crate::domain::account::Permission;
use crate::domain::runbook::{Runbook, RunbookMatch, RunbookSummary};

/// `/runbooks`.
#[component]
pub fn RunbooksPage() -> impl IntoView {
    view! {
        <Title text="Runbooks" />
        <SignedIn children=|viewer| view! {
            <Runbooks can_edit=viewer.can(Permission::RespondToIncidents) can_delete=viewer.can(Permission::ManageIntegrations) />
        } />
    }
}

#[component]
fn Runbooks(can_edit: bool, can_delete: bool) -> impl IntoView {
    let save = ServerAction::<SaveRunbook>::new();
    let delete = ServerAction::<DeleteRunbook>::new();
    let search = RwSignal::new(String::new());
    let runbooks = Resource::new(
        move || (search.get(), save.version().get(), delete.version().get()),
        |(search, _, _)| list_runbooks(Some(search)),
    );
    let writing = RwSignal::new(false);
    let open = RwSignal::new(None::<Uuid>);
    Effect::new(move |_| {
        if let Some(Ok(saved)) = save.value().get() {
            writing.set(false);
            open.set(Some(saved.id));
        }
    });
    view! {
        <div class="page-header">
            <h1>"Runbooks"</h1>
            {can_edit.then(|| view! {
                <button type="button" class="button" on:click=move |_| { open.set(None); writing.set(true); }>"New runbook"</button>
            })}
        </div>
        <p class="lead">
            "What to do when an alert fires, in Markdown. A runbook is shown on every incident it matches — by alert name, service or labels — and its list items are steps responders tick off into the timeline. The agent quotes it in its analysis."
        </p>
        <Show when=move || writing.get()>
            <RunbookEditor save runbook=None on_cancel=move || writing.set(false) />
        </Show>
        <div class="filters" role="search">
            <label for="runbook-search">"Search"</label>
            <input id="runbook-search" type="search" placeholder="Title or text"
                on:input=move |event| search.set(event_target_value(&event)) />
        </div>
        <FormError outcome=delete.value() />
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading runbooks…"</p> }>
            {move || runbooks.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! {
                    <p class="muted">{if search.with(String::is_empty) { "No runbooks yet: write the first one for the alert that pages you most." } else { "No runbook contains this." }}</p>
                }.into_any(),
                Ok(list) => view! {
                    <ul class="plain-list runbook-list" data-testid="runbooks">
                        {list.into_iter().map(|summary| {
                            let id = summary.id;
                            view! {
                                <li class="panel" data-testid="runbook">
                                    <button type="button" class="link-button" aria-expanded=move || (open.get() == Some(id)).to_string()
                                        on:click=move |_| open.update(|open| *open = if *open == Some(id) { None } else { Some(id) })>
                                        <strong>{summary.title.clone()}</strong>
                                    </button>
                                    <p class="muted">{format!("For {}. Version {}, by {} on {}.", criteria(&summary.matching), summary.version, summary.updated_by, summary.updated_at.format("%-d %b %Y %H:%M"))}</p>
                                    <Show when=move || open.get() == Some(id)>
                                        <RunbookDetail id save delete can_edit can_delete />
                                    </Show>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
                Err(error) => view! { <LoadError what="The runbooks" error retry=move || runbooks.refetch() /> }.into_any(),
            })}
        </Transition>
    }
}

/// What a runbook is for, in words.
fn criteria(matching: &RunbookMatch) -> String {
    let mut parts = Vec::new();
    if !matching.alert_names.is_empty() {
        parts.push(format!("alerts {}", matching.alert_names.join(", ")));
    }
    if !matching.services.is_empty() {
        parts.push(format!("services {}", matching.services.join(", ")));
    }
    if !matching.labels.is_empty() {
        let labels: Vec<String> = matching.labels.iter().map(|(name, value)| format!("{name}={value}")).collect();
        parts.push(format!("labels {}", labels.join(", ")));
    }
    if parts.is_empty() { "no incident (read from this list)".to_string() } else { parts.join("; ") }
}

#[component]
fn RunbookDetail(
    id: Uuid,
    save: ServerAction<SaveRunbook>,
    delete: ServerAction<DeleteRunbook>,
    can_edit: bool,
    can_delete: bool,
) -> impl IntoView {
    let runbook = Resource::new(move || save.version().get(), move |_| get_runbook(id));
    let editing = RwSignal::new(false);
    view! {
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading the runbook…"</p> }>
            {move || runbook.get().map(|result| match result {
                Ok(runbook) if editing.get() => {
                    view! { <RunbookEditor save runbook=Some(runbook) on_cancel=move || editing.set(false) /> }.into_any()
                }
                Ok(runbook) => {
                    let question = format!("Delete the runbook \"{}\" and its {} versions?", runbook.summary.title, runbook.versions.len());
                    view! {
                        <pre class="runbook-text" data-testid="runbook-text">{runbook.body.clone()}</pre>
                        <div class="button-row">
                            {match runbook.summary.notion_url.clone() {
                                Some(url) => view! {
                                    <a class="button secondary small" href=crate::domain::incident::web_link(&url).unwrap_or("#").to_string()
                                        target="_blank" rel="noopener noreferrer">"Edit in Notion ↗"</a>
                                }.into_any(),
                                None => can_edit.then(|| view! { <button type="button" class="button secondary small" on:click=move |_| editing.set(true)>"Edit"</button> }).into_any(),
                            }}
                            {can_delete.then(|| view! { <ConfirmButton label="Delete" question on_confirm=move || { delete.dispatch(DeleteRunbook { id }); } /> })}
                        </div>
                        <details>
                            <summary>{format!("History ({} versions)", runbook.versions.len())}</summary>
                            <ol class="plain-list" data-testid="runbook-history">
                                {runbook.versions.into_iter().map(|version| view! {
                                    <li>{format!("Version {}: \"{}\", by {} on {}", version.version, version.title, version.edited_by, version.edited_at.format("%-d %b %Y %H:%M"))}</li>
                                }).collect_view()}
                            </ol>
                        </details>
                    }.into_any()
                }
                Err(error) => view! { <LoadError what="The runbook" error retry=move || runbook.refetch() /> }.into_any(),
            })}
        </Transition>
    }
}

/// The form that writes a new runbook or the next version of `runbook`.
#[component]
fn RunbookEditor(
    save: ServerAction<SaveRunbook>,
    runbook: Option<Runbook>,
    on_cancel: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let outcome: Outcome<RunbookSummary> = save.value().into();
    let summary = runbook.as_ref().map(|runbook| runbook.summary.clone());
    let matching = summary.as_ref().map(|summary| summary.matching.clone()).unwrap_or_default();
    let labels: Vec<String> = matching.labels.iter().map(|(name, value)| format!("{name}={value}")).collect();
    let label = if summary.is_some() { "Edit runbook" } else { "New runbook" };
    let title = summary.as_ref().map(|s| s.title.clone()).unwrap_or_default();
    view! {
        <section class="panel" aria-label=label>
            <ActionForm action=save attr:novalidate=true attr:class="stacked-form" attr:data-testid="runbook-editor">
                {summary.map(|summary| view! {
                    <input type="hidden" name="id" value=summary.id.to_string() />
                    <input type="hidden" name="version" value=summary.version.to_string() />
                })}
                <Field outcome name="title" id="runbook-title" label="Title" value=title />
                <Field outcome name="alert_names" id="runbook-alerts" label="Alert names" value=matching.alert_names.join(", ")
                    hint="The alertname labels it is for, separated by commas, e.g. KubePodCrashLooping." />
                <Field outcome name="services" id="runbook-services" label="Services" value=matching.services.join(", ")
                    hint="Or the services it is for." />
                <Field outcome name="labels" id="runbook-labels" label="Labels" value=labels.join(", ")
                    hint="And labels the alert must carry, as name=value, e.g. namespace=shop." />
                <div class="field">
                    <label for="runbook-body">"Runbook (Markdown)"</label>
                    <textarea id="runbook-body" name="body" rows="12" aria-describedby="runbook-body-hint">{runbook.map(|r| r.body).unwrap_or_default()}</textarea>
                    <p class="hint" id="runbook-body-hint">"List items (\"1. …\" or \"- …\") become the steps responders tick off."</p>
                </div>
                <FieldError outcome field="body" />
                <FormError outcome />
                <div class="button-row">
                    <SubmitButton pending=save.pending() label="Save runbook" busy_label="Saving…" />
                    <button type="button" class="button secondary" on:click=move |_| on_cancel()>"Cancel"</button>
                </div>
            </ActionForm>
        </section>
    }
}

/// The incident page's runbook panel: the runbook matched to incident `id` (`runbook`,
/// fetched with the incident, so that the page has one boundary), its steps ticked off
/// into the timeline by responders with `tick`; `retry` fetches it again.
#[component]
pub fn IncidentRunbookPanel(
    id: Uuid,
    can_respond: bool,
    runbook: Result<Option<crate::domain::runbook::IncidentRunbook>, crate::error::AppError>,
    tick: ServerAction<TickRunbookStep>,
    retry: Callback<()>,
) -> impl IntoView {
    view! {
            {match runbook {
                Ok(None) => view! {
                    <section class="panel" aria-labelledby="runbook-title">
                        <h2 id="runbook-title">"Runbook"</h2>
                        <p class="muted">"No runbook matches this incident. " <a href="/runbooks">"Write one"</a> " for its alert name or service."</p>
                    </section>
                }.into_any(),
                Ok(Some(found)) => {
                    let runbook_id = found.summary.id;
                    view! {
                        <section class="panel" aria-labelledby="runbook-title" data-testid="incident-runbook">
                            <h2 id="runbook-title">{format!("Runbook: {}", found.summary.title)}</h2>
                            <p class="muted">{format!("Matched by {}; version {}.", found.matched_by, found.summary.version)}</p>
                            <ol class="plain-list runbook-steps">
                                {found.steps.into_iter().map(|step| {
                                    let index = step.index;
                                    let done = step.ticked.is_some();
                                    view! {
                                        <li>
                                            <label class="checkbox">
                                                <input type="checkbox" checked=done disabled=done || !can_respond
                                                    on:change=move |_| { tick.dispatch(TickRunbookStep { incident: id, runbook: runbook_id, step: index }); } />
                                                <span>{format!("{}. {}", index + 1, step.text)}</span>
                                            </label>
                                            {step.ticked.map(|(by, at)| view! { <span class="muted">{format!(" — done by {by} at {}", at.format("%H:%M"))}</span> })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ol>
                            <FormError outcome=tick.value() />
                            <details>
                                <summary>"The whole runbook"</summary>
                                <pre class="runbook-text">{found.body}</pre>
                            </details>
                        </section>
                    }.into_any()
                }
                Err(error) => view! { <LoadError what="The runbook" error retry=move || retry.run(()) /> }.into_any(),
            }}
    }
}
