//! `/postmortems`: the team's post-mortems with a search; `/postmortems/:id`: one,
//! edited in Markdown and saved as the responder types, with who edited it and the
//! Markdown download and the exports to GitHub; and the incident page's "Write
//! post-mortem" button.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use uuid::Uuid;

use crate::api::github::{ExportPostmortemToGithub, postmortem_github_issues};
use crate::api::notion::ExportPostmortemToNotion;
use crate::api::postmortems::{SavePostmortem, get_postmortem, list_postmortems, start_postmortem};
use crate::components::forms::LoadError;
use crate::components::github_issues::IssueList;
use crate::components::viewer::SignedIn;
use crate::domain::account::Permission;
use crate::domain::github::{IncidentIssues, IssueSubject};
use crate::domain::postmortem::Postmortem;

/// How long after the last keystroke the text is saved.
const AUTOSAVE_AFTER: Duration = Duration::from_millis(1200);

/// `/postmortems`.
#[component]
pub fn PostmortemsPage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let list = Resource::new(move || search.get(), |search| list_postmortems(Some(search)));
    view! {
        <Title text="Post-mortems" />
        <h1>"Post-mortems"</h1>
        <p class="lead">"What the team learnt from its incidents. Write one from a resolved incident's page."</p>
        <div class="filters" role="search">
            <label for="postmortem-search">"Search"</label>
            <input id="postmortem-search" type="search" placeholder="Title or text" on:input=move |event| search.set(event_target_value(&event)) />
        </div>
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading post-mortems…"</p> }>
            {move || list.get().map(|result| match result {
                Ok(found) if found.is_empty() => view! {
                    <p class="muted">{if search.with(String::is_empty) { "No post-mortems yet." } else { "No post-mortem contains this." }}</p>
                }.into_any(),
                Ok(found) => view! {
                    <ul class="plain-list" data-testid="postmortems">
                        {found.into_iter().map(|summary| view! {
                            <li class="panel">
                                <A href=format!("/postmortems/{}", summary.id)>{summary.title}</A>
                                <p class="muted">{format!("Last edited by {} on {}.", summary.updated_by, summary.updated_at.format("%-d %b %Y %H:%M"))}</p>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any(),
                Err(error) => view! { <LoadError what="The post-mortems" error retry=move || list.refetch() /> }.into_any(),
            })}
        </Transition>
    }
}

/// `/postmortems/:id`.
#[component]
pub fn PostmortemPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|id| id.parse::<Uuid>().ok()));
    view! {
        <Title text="Post-mortem" />
        <SignedIn children=move |viewer| {
            let can_edit = viewer.can(Permission::RespondToIncidents);
            match id() {
                Some(id) => view! { <PostmortemLoader id can_edit /> }.into_any(),
                None => view! { <p class="form-error" role="alert">"This is not a post-mortem's address."</p> }.into_any(),
            }
        } />
    }
}

#[component]
fn PostmortemLoader(id: Uuid, can_edit: bool) -> impl IntoView {
    // One server function per resource (see the incident page), read in one boundary.
    let postmortem = Resource::new(|| (), move |_| get_postmortem(id));
    let issues = Resource::new(|| (), move |_| postmortem_github_issues(id));
    view! {
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading the post-mortem…"</p> }>
            {move || {
                let (loaded, listed) = (postmortem.get(), issues.get());
                Some(match (loaded?, listed?) {
                    (Ok(postmortem), issues) => view! { <PostmortemEditor postmortem issues can_edit /> }.into_any(),
                    (Err(error), _) => view! { <LoadError what="The post-mortem" error retry=move || postmortem.refetch() /> }.into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn PostmortemEditor(
    postmortem: Postmortem,
    issues: Result<IncidentIssues, crate::error::AppError>,
    can_edit: bool,
) -> impl IntoView {
    let id = postmortem.summary.id;
    let save = ServerAction::<SavePostmortem>::new();
    let version = RwSignal::new(postmortem.summary.version);
    let text = RwSignal::new(postmortem.body.clone());
    let typed = RwSignal::new(0_u64);
    let saved_at = RwSignal::new(None::<String>);
    // Each keystroke starts a timer; only the last one's timer saves.
    let schedule = move || {
        typed.update(|n| *n += 1);
        let mine = typed.get_untracked();
        set_timeout(
            move || {
                if typed.get_untracked() == mine && !save.pending().get_untracked() {
                    save.dispatch(SavePostmortem { id, version: version.get_untracked(), body: text.get_untracked() });
                }
            },
            AUTOSAVE_AFTER,
        );
    };
    Effect::new(move |_| {
        if let Some(Ok(summary)) = save.value().get() {
            version.set(summary.version);
            saved_at.set(Some(summary.updated_at.format("%H:%M:%S").to_string()));
        }
    });
    let status = move || match (save.pending().get(), save.value().get(), saved_at.get()) {
        (true, _, _) => "Saving…".to_string(),
        (false, Some(Err(error)), _) => format!("Not saved: {error}"),
        (false, _, Some(at)) => format!("Saved at {at} UTC."),
        _ => "Changes are saved as you type.".to_string(),
    };
    let editors = postmortem
        .editors
        .iter()
        .map(|(who, at)| format!("{who} ({})", at.format("%-d %b %H:%M")))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <div class="page-header">
            <h1>{postmortem.summary.title.clone()}</h1>
            <div class="button-row">
                <a class="button secondary" href=format!("/postmortems/{id}/export.md") rel="external" download="">"Download Markdown"</a>
                <A href=format!("/incidents/{}", postmortem.summary.incident_id) attr:class="button secondary">"The incident"</A>
            </div>
        </div>
        <p class="muted" data-testid="postmortem-editors">{format!("Edited by {editors}.")}</p>
        <div class="field">
            <label for="postmortem-body">"Post-mortem (Markdown)"</label>
            <textarea id="postmortem-body" rows="30" class="postmortem-text" readonly=!can_edit
                prop:value=move || text.get()
                on:input=move |event| { text.set(event_target_value(&event)); schedule(); }>
                {postmortem.body}
            </textarea>
        </div>
        <p class="muted" role="status" data-testid="postmortem-status">{status}</p>
        <PostmortemExports id issues notion_url=postmortem.notion_url.clone() can_edit />
    }
}

/// Exporting the post-mortem `id`: as a GitHub issue, its action items as issues.
#[component]
fn PostmortemExports(
    id: Uuid,
    issues: Result<IncidentIssues, crate::error::AppError>,
    notion_url: Option<String>,
    can_edit: bool,
) -> impl IntoView {
    let export = ServerAction::<ExportPostmortemToGithub>::new();
    let to_notion = ServerAction::<ExportPostmortemToNotion>::new();
    let notion_page = move || {
        let url = match to_notion.value().get() {
            Some(Ok(url)) => Some(url),
            _ => notion_url.clone(),
        };
        url.filter(|url| !url.is_empty()).map(|url| view! {
            <p data-testid="postmortem-notion">"In Notion: " <a href=url target="_blank" rel="noopener noreferrer">"the exported page ↗"</a></p>
        })
    };
    let issues = issues.unwrap_or_default();
    let connected = issues.connected;
    let queued = move || {
        export.value().get().map(|result| match result {
            Ok(count) => view! {
                <p class="notice" role="status">{format!(
                    "{count} issue{} on {} way to GitHub: the links show here and on the incident once it is opened.",
                    if count == 1 { "" } else { "s" },
                    if count == 1 { "its" } else { "their" }
                )}</p>
            }
            .into_any(),
            Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
        })
    };
    can_edit.then(|| view! {
        <section class="panel" aria-labelledby="exports-title" data-testid="postmortem-exports">
            <h2 id="exports-title">"Export"</h2>
            <IssueList issues=issues.issues subjects=&[IssueSubject::Postmortem, IssueSubject::ActionItem] />
            {notion_page}
            <div class="button-row">
                <button type="button" class="button secondary" disabled=move || to_notion.pending().get()
                    on:click=move |_| { to_notion.dispatch(ExportPostmortemToNotion { id }); }>
                    {move || if to_notion.pending().get() { "Exporting to Notion…" } else { "Export to Notion" }}
                </button>
                <Show when=move || connected>
                <button type="button" class="button secondary" disabled=move || export.pending().get()
                    on:click=move |_| { export.dispatch(ExportPostmortemToGithub { id, action_items: false }); }>"Export as GitHub issue"</button>
                <button type="button" class="button secondary" disabled=move || export.pending().get()
                    on:click=move |_| { export.dispatch(ExportPostmortemToGithub { id, action_items: true }); }>"Action items as GitHub issues"</button>
                </Show>
            </div>
            {move || to_notion.value().get().and_then(Result::err).map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })}
            <p class="hint">"Action items are the open tasks (- [ ] …) under \"Action items\"; each becomes an issue once."</p>
            {queued}
        </section>
    })
}

/// The incident page's button that opens the incident's post-mortem (drafting it the
/// first time).
#[component]
pub fn WritePostmortemButton(incident: Uuid) -> impl IntoView {
    let start = Action::new(move |_: &()| start_postmortem(incident));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(postmortem)) = start.value().get() {
            navigate(&format!("/postmortems/{}", postmortem.summary.id), Default::default());
        }
    });
    view! {
        <button type="button" class="button secondary small" disabled=move || start.pending().get() on:click=move |_| { start.dispatch(()); }>
            {move || if start.pending().get() { "Drafting…" } else { "Write post-mortem" }}
        </button>
        {move || start.value().get().and_then(Result::err).map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })}
    }
}
