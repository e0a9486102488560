//! `/settings/api-keys`: keys for the REST API and what each may do (its scopes); the
//! secret is shown once.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::api_keys::{CreateApiKey, RevokeApiKey, list_api_keys};
use crate::components::forms::{ConfirmButton, Field, FormError, Outcome, SubmitButton};
use crate::components::viewer::Permitted;
use crate::domain::account::{ApiScope, Permission};

/// `/settings/api-keys`.
#[component]
pub fn ApiKeysPage() -> impl IntoView {
    view! {
        <Title text="API keys" />
        <Permitted permission=Permission::ManageApiKeys refusal="Only admins and owners manage API keys." children=|| view! { <ApiKeys /> } />
    }
}

#[component]
fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_api_keys());
    let outcome = Outcome::from(create.value());
    view! {
        <h1>"API keys"</h1>
        <p class="lead">
            "Keys let your tools use DreamOps' REST API as this team: send alerts, and — as their scopes allow — read and handle incidents. "
            <a href="/docs/api" rel="external">"API reference"</a>
        </p>
        <section class="panel" aria-labelledby="new-key-title">
            <h2 id="new-key-title">"New key"</h2>
            <ActionForm action=create attr:novalidate=true attr:class="stacked-form">
                <Field outcome name="name" id="key-name" label="Name" maxlength=80 placeholder="Alertmanager prod" />
                <fieldset>
                    <legend>"Scopes"</legend>
                    {ApiScope::ALL
                        .into_iter()
                        .enumerate()
                        .map(|(index, scope)| {
                            view! {
                                <label class="checkbox">
                                    <input type="checkbox" name=format!("scopes[{index}]") value=scope.as_str() checked=scope == ApiScope::Alerts />
                                    <code>{scope.as_str()}</code>
                                    {format!(": {}", scope.description())}
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <SubmitButton pending=create.pending() label="Create key" busy_label="Creating…" />
            </ActionForm>
            <FormError outcome />
            {move || {
                outcome
                    .with(|outcome| match outcome {
                        Some(Ok(created)) => Some(created.secret.clone()),
                        _ => None,
                    })
                    .map(|secret| {
                        view! {
                            <div class="notice" role="status">
                                <p>"Copy this key now: it will not be shown again."</p>
                                <input class="copy-field" type="text" readonly data-testid="api-key-secret" value=secret aria-label="New API key" />
                            </div>
                        }
                    })
            }}
        </section>
        <FormError outcome=revoke.value() />
        <Transition fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
            {move || {
                keys.get()
                    .map(|result| match result {
                        Ok(list) if list.is_empty() => {
                            view! { <p class="muted">"No keys yet."</p> }.into_any()
                        }
                        Ok(list) => {
                            view! {
                                <div class="table-scroll">
                                    <table class="data-table" data-testid="api-keys">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Key"</th>
                                                <th scope="col">"Scopes"</th>
                                                <th scope="col">"Created"</th>
                                                <th scope="col">"Last used"</th>
                                                <th scope="col">"Status"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list
                                                .into_iter()
                                                .map(|key| {
                                                    let id = key.id;
                                                    let active = key.revoked_at.is_none();
                                                    let confirm_text = format!("Revoke the key \"{}\"? Tools using it will be refused.", key.name);
                                                    view! {
                                                        <tr>
                                                            <td>{key.name.clone()}</td>
                                                            <td><code>{format!("{}_…", key.prefix)}</code></td>
                                                            <td>{key.scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(", ")}</td>
                                                            <td>{key.created_at.format("%-d %b %Y").to_string()}</td>
                                                            <td>
                                                                {key.last_used_at.map_or_else(|| "never".to_string(), |at| at.format("%-d %b %Y %H:%M UTC").to_string())}
                                                            </td>
                                                            <td>
                                                                {if active {
                                                                    view! {
                                                                        <ConfirmButton
                                                                            label="Revoke"
                                                                            question=confirm_text.clone()
                                                                            on_confirm=move || {
                                                                                revoke.dispatch(RevokeApiKey { key_id: id });
                                                                            }
                                                                        />
                                                                    }
                                                                        .into_any()
                                                                } else {
                                                                    view! { <span class="muted">"Revoked"</span> }.into_any()
                                                                }}
                                                            </td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
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
    }
}
