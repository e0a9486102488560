//! `/settings/integrations`: where each alert source sends, its secrets, recent
//! deliveries, and a test alert through the real endpoint; and where DreamOps tells
//! other tools what happened (PagerDuty write-back, Slack). Admins and owners.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::integrations::{
    AddPagerdutySecret, RemoveNotification, RevokeOldPagerdutySecret, RotateIntegration, SetGrafanaSecret,
    SetPagerdutyWriteback, SetSlackWebhook, get_notification_settings, list_integrations, reveal_integration,
    send_test_alert,
};
use crate::components::forms::{ConfirmButton, Field, FormError, Outcome, SubmitButton};
use crate::components::viewer::Permitted;
use crate::domain::account::Permission;
use crate::domain::integration::{Destination, IntegrationKind, IntegrationView, RevealedSecrets};
use crate::error::AppError;

/// `/settings/integrations`.
#[component]
pub fn IntegrationsPage() -> impl IntoView {
    view! {
        <Title text="Integrations" />
        <Permitted permission=Permission::ManageIntegrations refusal="Only admins and owners manage integrations." children=|| view! { <Integrations /> } />
    }
}

#[component]
fn Integrations() -> impl IntoView {
    let rotate = ServerAction::<RotateIntegration>::new();
    let add_secret = ServerAction::<AddPagerdutySecret>::new();
    let revoke_old = ServerAction::<RevokeOldPagerdutySecret>::new();
    let grafana_secret = ServerAction::<SetGrafanaSecret>::new();
    // Kept per source at page level, so that they survive the list being reloaded.
    let revealed = RwSignal::new(HashMap::<IntegrationKind, RevealedSecrets>::new());
    let test_results = RwSignal::new(HashMap::<IntegrationKind, Result<String, AppError>>::new());
    let reveal = Action::new(move |kind: &IntegrationKind| {
        let kind = *kind;
        async move {
            if let Ok(secrets) = reveal_integration(kind.to_string()).await {
                revealed.update(|map| {
                    map.insert(kind, secrets);
                });
            }
        }
    });
    let test = Action::new(move |kind: &IntegrationKind| {
        let kind = *kind;
        async move {
            let result = send_test_alert(kind.to_string()).await;
            test_results.update(|map| {
                map.insert(kind, result);
            });
        }
    });
    let integrations = Resource::new(
        move || {
            (
                rotate.version().get(),
                add_secret.version().get(),
                revoke_old.version().get(),
                grafana_secret.version().get(),
                test.version().get(),
            )
        },
        |_| list_integrations(),
    );
    let actions =
        IntegrationActions { rotate, add_secret, revoke_old, grafana_secret, reveal, test, revealed, test_results };
    view! {
        <h1>"Integrations"</h1>
        <p class="lead">
            "Point the tools you already run at DreamOps. Every delivery is stored as it arrives; duplicates fold into one incident."
        </p>
        <FormError outcome=rotate.value() />
        <FormError outcome=revoke_old.value() />
        <Transition fallback=|| view! { <p class="muted">"Loading integrations…"</p> }>
            {move || {
                integrations
                    .get()
                    .map(|result| match result {
                        Ok(list) => {
                            list.into_iter()
                                .map(|integration| view! { <IntegrationCard integration actions /> })
                                .collect_view()
                                .into_any()
                        }
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
        <Notifications />
        <super::github::GitHubPanel />
        <super::notion::NotionPanel />
    }
}

/// PagerDuty write-back and Slack messages: what is set (never the secrets), the forms
/// to set them, and the calls that gave up lately.
#[component]
fn Notifications() -> impl IntoView {
    let pagerduty = ServerAction::<SetPagerdutyWriteback>::new();
    let slack = ServerAction::<SetSlackWebhook>::new();
    let remove = ServerAction::<RemoveNotification>::new();
    let pagerduty_outcome: Outcome<_> = pagerduty.value().into();
    let slack_outcome: Outcome<_> = slack.value().into();
    let settings = Resource::new(
        move || (pagerduty.version().get(), slack.version().get(), remove.version().get()),
        |_| get_notification_settings(),
    );
    view! {
        <section class="panel" aria-labelledby="notifications-title" data-testid="notifications">
            <h2 id="notifications-title">"Telling other tools"</h2>
            <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading…"</p> }>
                {move || settings.get().map(|result| match result {
                    Ok(current) => {
                        let saved_from = current.pagerduty_from.clone();
                        let pagerduty_on = saved_from.is_some();
                        view! {
                        <h3>"PagerDuty write-back"</h3>
                        <p class="hint">"For incidents that came from PagerDuty: acknowledged when the agent starts, the diagnosis added as a note, resolved when a fix is verified."</p>
                        <p data-testid="pagerduty-writeback">{match &saved_from {
                            Some(from) => format!("On, acting as {from}."),
                            None => "Off.".to_string(),
                        }}</p>
                        <ActionForm action=pagerduty attr:class="stacked-form">
                            <Field outcome=pagerduty_outcome name="key" label="REST API key" id="pd-key" kind="password" autocomplete="off"
                                hint="Leave blank to keep the saved key." />
                            <Field outcome=pagerduty_outcome name="from" label="PagerDuty user's email (From)" id="pd-from" kind="email"
                                value=saved_from.clone().unwrap_or_default() />
                            <SubmitButton pending=pagerduty.pending() label="Save PagerDuty write-back" busy_label="Saving…" />
                        </ActionForm>
                        {pagerduty_on.then(|| view! {
                            <ConfirmButton label="Turn off PagerDuty write-back" question="Turn off PagerDuty write-back and forget its key?".to_string()
                                on_confirm=move || { remove.dispatch(RemoveNotification { which: Destination::Pagerduty.as_str().into() }); } />
                        })}
                        <h3>"Slack"</h3>
                        <p class="hint">"A message for each new incident, each action awaiting approval (with a link), and each incident a fix resolved."</p>
                        <p data-testid="slack-webhook">{if current.slack_configured { "On." } else { "Off." }}</p>
                        <ActionForm action=slack attr:class="stacked-form">
                            <Field outcome=slack_outcome name="url" label="Incoming-webhook address" id="slack-url" kind="url" autocomplete="off"
                                placeholder="https://hooks.slack.com/services/…" />
                            <SubmitButton pending=slack.pending() label="Save the Slack webhook" busy_label="Saving…" />
                        </ActionForm>
                        {current.slack_configured.then(|| view! {
                            <ConfirmButton label="Turn off Slack messages" question="Turn off Slack messages and forget the webhook?".to_string()
                                on_confirm=move || { remove.dispatch(RemoveNotification { which: Destination::Slack.as_str().into() }); } />
                        })}
                        {(!current.recent_failures.is_empty()).then(|| view! {
                            <h3>"Calls that gave up (last 7 days)"</h3>
                            <ul data-testid="failed-calls">
                                {current.recent_failures.iter().map(|f| view! {
                                    <li><span class="badge status-triggered">{f.target.label()}</span> " " {f.purpose.replace('_', " ")} ": " <code>{f.error.clone()}</code></li>
                                }).collect_view()}
                            </ul>
                        })}
                        }.into_any()
                    }
                    Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <FormError outcome=remove.value() />
        </section>
    }
}

/// The page's actions and per-source state, shared by every card.
#[derive(Clone, Copy)]
struct IntegrationActions {
    rotate: ServerAction<RotateIntegration>,
    add_secret: ServerAction<AddPagerdutySecret>,
    revoke_old: ServerAction<RevokeOldPagerdutySecret>,
    grafana_secret: ServerAction<SetGrafanaSecret>,
    reveal: Action<IntegrationKind, ()>,
    test: Action<IntegrationKind, ()>,
    revealed: RwSignal<HashMap<IntegrationKind, RevealedSecrets>>,
    test_results: RwSignal<HashMap<IntegrationKind, Result<String, AppError>>>,
}

#[component]
fn IntegrationCard(integration: IntegrationView, actions: IntegrationActions) -> impl IntoView {
    let kind = integration.kind;
    let revealed = Signal::derive(move || actions.revealed.with(|map| map.get(&kind).cloned()));
    let test_outcome: Outcome<String> =
        Signal::derive(move || actions.test_results.with(|map| map.get(&kind).cloned()));
    let origin = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Ok(value) = window().location().origin() {
            origin.set(value);
        }
    });
    let masked_path = integration.path.clone();
    let url = Signal::derive(move || {
        let path = revealed.with(|r| r.as_ref().map(|r| r.path.clone())).unwrap_or_else(|| masked_path.clone());
        format!("{}{path}", origin.get())
    });
    let last = match (&integration.last_delivery_at, &integration.last_delivery_result) {
        (Some(at), Some(result)) => format!("Last delivery {} UTC: {result}", at.format("%-d %b %H:%M")),
        _ => "No deliveries yet".to_string(),
    };
    let secret_outcome = Outcome::from(actions.add_secret.value());
    let label = kind.label();
    let is_pagerduty = kind == IntegrationKind::Pagerduty;
    let is_grafana = kind == IntegrationKind::Grafana;
    let grafana_outcome = Outcome::from(actions.grafana_secret.value());
    let signed = integration.signed;
    let has_bearer = kind.has_bearer();
    view! {
        <section class="panel integration" data-testid=format!("integration-{kind}")>
            <div class="panel-header">
                <h2>{label}</h2>
                <span class="muted">{last}</span>
            </div>
            <label>"Endpoint"</label>
            <input class="copy-field" type="text" readonly prop:value=url aria-label=format!("{label} endpoint") />
            {move || {
                revealed
                    .get()
                    .map(|secrets| {
                        view! {
                            {secrets.routing_key.map(|key| view! {
                                <label>"Routing key"</label>
                                <input class="copy-field" type="text" readonly value=key aria-label="Routing key" data-testid="routing-key" />
                            })}
                            {secrets.bearer.map(|bearer| view! {
                                <label>"Bearer token"</label>
                                <input class="copy-field" type="text" readonly value=bearer aria-label="Bearer token" />
                            })}
                        }
                    })
            }}
            <div class="button-row">
                <button
                    type="button"
                    class="button secondary small"
                    on:click=move |_| {
                        actions.reveal.dispatch(kind);
                    }
                >
                    "Reveal"
                </button>
                <ConfirmButton
                    label="Rotate"
                    question=format!("Rotate the {label} token? The current URL or key stops working at once.")
                    on_confirm=move || {
                        actions.revealed.update(|map| {
                            map.remove(&kind);
                        });
                        actions.rotate.dispatch(RotateIntegration { kind: kind.to_string() });
                    }
                />
                <button
                    type="button"
                    class="button small"
                    disabled=move || actions.test.pending().get()
                    on:click=move |_| {
                        actions.test.dispatch(kind);
                    }
                >
                    "Send test alert"
                </button>
            </div>
            <p class="hint">"A test alert opens an incident like any other, and counts toward the plan's alerts."</p>
            <FormError outcome=test_outcome />
            {move || {
                test_outcome.with(|outcome| match outcome {
                    Some(Ok(message)) => Some(view! { <p class="notice" role="status">{message.clone()}</p> }),
                    _ => None,
                })
            }}
            <Show when=move || is_pagerduty>
                <p>{format!("{} signing secret(s) active.", integration.signing_secrets)}</p>
                <ActionForm action=actions.add_secret attr:novalidate=true attr:class="inline-fields">
                    <Field outcome=secret_outcome name="secret" id="pagerduty-secret" label="New signing secret (from PagerDuty)" />
                    <SubmitButton pending=actions.add_secret.pending() label="Add secret" busy_label="Adding…" />
                </ActionForm>
                <Show when=move || { integration.signing_secrets > 1 }>
                    <button
                        type="button"
                        class="button secondary small"
                        on:click=move |_| {
                            actions.revoke_old.dispatch(RevokeOldPagerdutySecret {});
                        }
                    >
                        "Revoke the older secret"
                    </button>
                </Show>
            </Show>
            <Show when=move || is_grafana>
                <p>
                    {if signed {
                        "Deliveries must be signed (X-Grafana-Alerting-Signature, within five minutes)."
                    } else {
                        "Signatures are not checked: set the contact point's HMAC secret here to require them."
                    }}
                </p>
                <ActionForm action=actions.grafana_secret attr:novalidate=true attr:class="inline-fields">
                    <Field outcome=grafana_outcome name="secret" id="grafana-secret" label="HMAC signing secret (blank: no signature check)" />
                    <SubmitButton pending=actions.grafana_secret.pending() label="Save secret" busy_label="Saving…" />
                </ActionForm>
            </Show>
            <Show when=move || has_bearer>
                {
                    move || {
                        let bearer = revealed.with(|r| r.as_ref().and_then(|r| r.bearer.clone())).unwrap_or_else(|| "<reveal to fill in>".into());
                        let snippet = if kind == IntegrationKind::Alertmanager {
                            format!(
                                "receivers:\n  - name: dreamops\n    webhook_configs:\n      - url: {}\n        send_resolved: true\n        http_config:\n          authorization:\n            type: Bearer\n            credentials: {bearer}\n",
                                url.get()
                            )
                        } else {
                            format!(
                                "Contact point type: Webhook\nURL: {}\nHTTP method: POST\nAuthorization header: Bearer {bearer}\n",
                                url.get()
                            )
                        };
                        view! {
                            <details>
                                <summary>{if kind == IntegrationKind::Alertmanager { "Alertmanager receiver" } else { "Grafana contact point" }}</summary>
                                <pre class="snippet"><code>{snippet}</code></pre>
                            </details>
                        }
                    }
                }
            </Show>
            <details>
                <summary>{format!("Recent deliveries ({})", integration.recent.len())}</summary>
                {if integration.recent.is_empty() {
                    view! { <p class="muted">"None yet."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-scroll">
                            <table class="data-table">
                                <thead>
                                    <tr>
                                        <th scope="col">"Received (UTC)"</th>
                                        <th scope="col">"Action"</th>
                                        <th scope="col">"Result"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {integration
                                        .recent
                                        .into_iter()
                                        .map(|delivery| {
                                            view! {
                                                <tr>
                                                    <td>{delivery.received_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                                    <td>{delivery.action.unwrap_or_else(|| "—".into())}</td>
                                                    <td>
                                                        {match delivery.parse_error {
                                                            Some(error) => format!("unparsed: {error}"),
                                                            None => delivery.parse_status,
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
                }}
            </details>
        </section>
    }
}
