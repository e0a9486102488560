//! `/settings/audit-log`: every recorded action, filtered and paged; CSV export.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::audit::list_audit_log;
use crate::components::viewer::Permitted;
use crate::domain::account::Permission;
use crate::domain::audit::{AuditEntry, AuditFilter};

/// `/settings/audit-log`.
#[component]
pub fn AuditLogPage() -> impl IntoView {
    view! {
        <Title text="Audit log" />
        <Permitted permission=Permission::ReadAuditLog refusal="Only admins and owners read the audit log." children=|| view! { <AuditLog /> } />
    }
}

fn non_empty(value: String) -> Option<String> {
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}

#[component]
fn AuditLog() -> impl IntoView {
    let actor = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let filter = Memo::new(move |_| AuditFilter {
        actor: non_empty(actor.get()),
        action: non_empty(action.get()),
        from: from.get().parse().ok(),
        to: to.get().parse().ok(),
    });
    // Older pages loaded so far, below the first page.
    let older = RwSignal::new(Vec::<AuditEntry>::new());
    let next_before = RwSignal::new(None::<i64>);
    let first_page = Resource::new(move || filter.get(), |filter| list_audit_log(filter, None));
    Effect::new(move |_| {
        if let Some(Ok(page)) = first_page.get() {
            older.set(Vec::new());
            next_before.set(page.next_before);
        }
    });
    let load_more = Action::new(move |before: &i64| {
        let before = *before;
        let filter = filter.get_untracked();
        async move {
            if let Ok(page) = list_audit_log(filter, Some(before)).await {
                older.update(|entries| entries.extend(page.entries));
                next_before.set(page.next_before);
            }
        }
    });
    let export_href = move || {
        let f = filter.get();
        let mut query = Vec::new();
        for (key, value) in [
            ("actor", f.actor),
            ("action", f.action),
            ("from", f.from.map(|d| d.to_string())),
            ("to", f.to.map(|d| d.to_string())),
        ] {
            if let Some(value) = value {
                query.push(format!("{key}={}", urlencode(&value)));
            }
        }
        format!("/settings/audit-log.csv?{}", query.join("&"))
    };

    view! {
        <div class="page-header">
            <h1>"Audit log"</h1>
            <a class="button secondary" href=export_href rel="external" download>
                "Export CSV"
            </a>
        </div>
        <form class="inline-fields filters" on:submit=|event| event.prevent_default()>
            <div>
                <label for="audit-actor">"Actor"</label>
                <input id="audit-actor" type="search" placeholder="email or key name" bind:value=actor />
            </div>
            <div>
                <label for="audit-action">"Action"</label>
                <input id="audit-action" type="search" placeholder="e.g. member." bind:value=action />
            </div>
            <div>
                <label for="audit-from">"From"</label>
                <input id="audit-from" type="date" bind:value=from />
            </div>
            <div>
                <label for="audit-to">"To"</label>
                <input id="audit-to" type="date" bind:value=to />
            </div>
        </form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                first_page
                    .get()
                    .map(|result| match result {
                        Ok(page) if page.entries.is_empty() => {
                            view! { <p class="muted">"Nothing recorded matches these filters."</p> }.into_any()
                        }
                        Ok(page) => {
                            view! {
                                <div class="table-scroll">
                                    <table class="data-table" data-testid="audit-log">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Time (UTC)"</th>
                                                <th scope="col">"Actor"</th>
                                                <th scope="col">"Action"</th>
                                                <th scope="col">"Target"</th>
                                                <th scope="col">"From"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {page.entries.into_iter().map(|entry| view! { <AuditRow entry /> }).collect_view()}
                                            <For
                                                each=move || older.get()
                                                key=|entry| entry.id
                                                children=|entry| view! { <AuditRow entry /> }
                                            />
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
        <Show when=move || next_before.get().is_some()>
            <button
                type="button"
                class="button secondary"
                disabled=move || load_more.pending().get()
                on:click=move |_| {
                    if let Some(before) = next_before.get_untracked() {
                        load_more.dispatch(before);
                    }
                }
            >
                {move || if load_more.pending().get() { "Loading…" } else { "Load older entries" }}
            </button>
        </Show>
    }
}

#[component]
fn AuditRow(entry: AuditEntry) -> impl IntoView {
    view! {
        <tr>
            <td>
                <time datetime=entry.at.to_rfc3339()>{entry.at.format("%Y-%m-%d %H:%M:%S").to_string()}</time>
            </td>
            <td>{entry.actor}</td>
            <td><code>{entry.action}</code></td>
            <td>{entry.target.unwrap_or_default()}</td>
            <td>{entry.client_addr.unwrap_or_default()}</td>
        </tr>
    }
}

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
