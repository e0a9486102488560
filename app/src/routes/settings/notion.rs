//! The integrations page's Notion panel: connect with an integration's token (tested at
//! once), test it again, disconnect, choose the database runbooks are imported from and
//! the page post-mortems go under, and sync the runbooks now.

use leptos::prelude::*;

use crate::api::notion::{
    ConnectNotion, DisconnectNotion, SetNotionPlaces, SyncNotionRunbooks, TestNotion, get_notion,
};
use crate::components::forms::{ConfirmButton, Field, FormError, LoadError, Outcome, SubmitButton};
use crate::domain::notion::NotionSettings;

/// The panel.
#[component]
pub fn NotionPanel() -> impl IntoView {
    let connect = ServerAction::<ConnectNotion>::new();
    let test = ServerAction::<TestNotion>::new();
    let disconnect = ServerAction::<DisconnectNotion>::new();
    let places = ServerAction::<SetNotionPlaces>::new();
    let sync = ServerAction::<SyncNotionRunbooks>::new();
    let settings = Resource::new(
        move || (connect.version().get(), disconnect.version().get(), places.version().get(), sync.version().get()),
        |_| get_notion(),
    );
    let connected: Outcome<String> = connect.value().into();
    let placed: Outcome<NotionSettings> = places.value().into();
    view! {
        <section class="panel" aria-labelledby="notion-title" data-testid="notion">
            <h2 id="notion-title">"Notion"</h2>
            <p class="muted">
                "Import runbooks from a Notion database — kept in sync every 15 minutes — and export post-mortems as Notion pages."
            </p>
            <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading Notion…"</p> }>
                {move || settings.get().map(|result| match result {
                    Ok(settings) => match settings.workspace.clone() {
                        None => view! {
                            <ActionForm action=connect attr:novalidate=true attr:class="stacked-form">
                                <Field outcome=connected name="token" id="notion-token" label="Integration secret" kind="password" autocomplete="off"
                                    hint="From an internal integration (Settings → Connections → Develop integrations), with read and insert content; share the database and page with it." />
                                <SubmitButton pending=connect.pending() label="Connect Notion" busy_label="Asking Notion…" />
                            </ActionForm>
                        }.into_any(),
                        Some(workspace) => {
                            let database = settings.runbooks_database.clone().unwrap_or_default();
                            let page = settings.postmortems_page.clone().unwrap_or_default();
                            view! {
                            <p data-testid="notion-workspace">{format!("Connected: {workspace}.")}</p>
                            <div class="button-row">
                                <button type="button" class="button secondary small" disabled=move || test.pending().get()
                                    on:click=move |_| { test.dispatch(TestNotion {}); }>"Test connection"</button>
                                <ConfirmButton label="Disconnect" question="Disconnect Notion? Imported runbooks stay and become editable here.".to_string()
                                    on_confirm=move || { disconnect.dispatch(DisconnectNotion {}); } />
                            </div>
                            {move || test.value().get().map(|result| match result {
                                Ok(said) => view! { <p class="notice" role="status">{format!("Notion answered: {said}.")}</p> }.into_any(),
                                Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
                            })}
                            <ActionForm action=places attr:novalidate=true attr:class="stacked-form">
                                <Field outcome=placed name="runbooks_database" id="notion-runbooks" label="Runbooks database"
                                    value=database
                                    hint="Its link or id. Each page is a runbook: its title, its text, and the properties Alerts, Services and Labels (name=value)." />
                                <Field outcome=placed name="postmortems_page" id="notion-postmortems" label="Page for post-mortems"
                                    value=page
                                    hint="Its link or id: exported post-mortems become pages under it." />
                                <FormError outcome=placed />
                                <SubmitButton pending=places.pending() label="Save" busy_label="Saving…" />
                            </ActionForm>
                            <SyncStatus settings sync />
                            }.into_any()
                        }
                    },
                    Err(error) => view! { <LoadError what="Notion" error retry=move || settings.refetch() /> }.into_any(),
                })}
            </Transition>
            <FormError outcome=disconnect.value() />
        </section>
    }
}

/// How the last sync went, and "Sync now".
#[component]
fn SyncStatus(settings: NotionSettings, sync: ServerAction<SyncNotionRunbooks>) -> impl IntoView {
    settings.runbooks_database.is_some().then(|| {
        let said = match (settings.synced_at, &settings.sync_error) {
            (None, _) => "Not synced yet.".to_string(),
            (Some(at), None) => format!("{} runbooks, synced {}.", settings.synced_runbooks, at.format("%-d %b %H:%M UTC")),
            (Some(at), Some(error)) => format!("Last sync {}: {error}", at.format("%-d %b %H:%M UTC")),
        };
        let failed = settings.sync_error.is_some();
        view! {
            <p class=if failed { "form-error" } else { "muted" } data-testid="notion-sync">{said}</p>
            <button type="button" class="button secondary small" disabled=move || sync.pending().get()
                on:click=move |_| { sync.dispatch(SyncNotionRunbooks {}); }>
                {move || if sync.pending().get() { "Syncing…" } else { "Sync runbooks now" }}
            </button>
            {move || sync.value().get().and_then(Result::err).map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })}
        }
    })
}
