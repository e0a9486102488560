//! `/settings/webhooks`: the team's webhook endpoints — add one (its secret shown once),
//! rotate its secret, remove it — their deliveries with the answers they got, replays,
//! and how a receiver checks a signature.

use leptos::prelude::*;
use leptos_meta::Title;
use uuid::Uuid;

use crate::api::webhooks::{
    CreateWebhook, RemoveWebhook, ReplayWebhookDelivery, RotateWebhookSecret, list_webhook_deliveries, list_webhooks,
};
use crate::components::forms::{ConfirmButton, Field, FieldError, FormError, Outcome, SubmitButton};
use crate::components::viewer::Permitted;
use crate::domain::account::Permission;
use crate::domain::webhook::{DeliveryState, WebhookEvent};

/// How a receiver checks a delivery, in Python with the standard library only.
const VERIFY_SNIPPET: &str = r#"import hashlib, hmac, time

def verify(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """header: the DreamOps-Signature header; body: the raw request body."""
    entries = [part.split("=", 1) for part in header.split(",") if "=" in part]
    t = next(value for key, value in entries if key == "t")
    if abs(time.time() - int(t)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in entries if key == "v1")"#;

/// `/settings/webhooks`.
#[component]
pub fn WebhooksPage() -> impl IntoView {
    view! {
        <Title text="Webhooks" />
        <Permitted permission=Permission::ManageIntegrations refusal="Only admins and owners manage webhooks." children=|| view! { <Webhooks /> } />
    }
}

#[component]
fn Webhooks() -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let rotate = ServerAction::<RotateWebhookSecret>::new();
    let remove = ServerAction::<RemoveWebhook>::new();
    let endpoints = Resource::new(
        move || (create.version().get(), rotate.version().get(), remove.version().get()),
        |_| list_webhooks(),
    );
    let outcome = Outcome::from(create.value());
    let rotated = Outcome::from(rotate.value());
    let shown = RwSignal::new(None::<Uuid>);
    let secret = move || {
        let created = outcome
            .with(|o| o.as_ref().and_then(|r| r.as_ref().ok()).map(|c| (c.endpoint.url.clone(), c.secret.clone())));
        let rotated = rotated
            .with(|o| o.as_ref().and_then(|r| r.as_ref().ok()).map(|c| (c.endpoint.url.clone(), c.secret.clone())));
        rotated.or(created)
    };
    view! {
        <h1>"Webhooks"</h1>
        <p class="lead">
            "DreamOps POSTs a JSON event to your endpoints when incidents open, change or resolve, when an analysis is ready, and when a fix awaits approval or was carried out. Failed deliveries are tried again for a day."
        </p>
        <section class="panel" aria-labelledby="new-webhook-title">
            <h2 id="new-webhook-title">"New endpoint"</h2>
            <ActionForm action=create attr:novalidate=true attr:class="stacked-form">
                <Field outcome name="url" id="webhook-url" label="URL" kind="url" placeholder="https://hooks.example.com/dreamops" />
                <fieldset>
                    <legend>"Events"</legend>
                    {WebhookEvent::ALL
                        .into_iter()
                        .enumerate()
                        .map(|(index, event)| {
                            view! {
                                <label class="checkbox">
                                    <input type="checkbox" name=format!("events[{index}]") value=event.as_str() checked=true />
                                    <code>{event.as_str()}</code>
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <FieldError outcome field="events" />
                <SubmitButton pending=create.pending() label="Add endpoint" busy_label="Adding…" />
            </ActionForm>
            <FormError outcome />
            {move || secret().map(|(url, secret)| view! {
                <div class="notice" role="status">
                    <p>{format!("The signing secret of {url}: copy it now, it will not be shown again.")}</p>
                    <input class="copy-field" type="text" readonly data-testid="webhook-secret" value=secret aria-label="Signing secret" />
                </div>
            })}
        </section>
        <FormError outcome=rotated />
        <FormError outcome=remove.value() />
        <Transition fallback=|| view! { <p class="muted">"Loading endpoints…"</p> }>
            {move || endpoints.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! { <p class="muted">"No endpoints yet."</p> }.into_any(),
                Ok(list) => list
                    .into_iter()
                    .map(|endpoint| {
                        let id = endpoint.id;
                        let events = endpoint.events.iter().map(|event| event.as_str()).collect::<Vec<_>>().join(", ");
                        let remove_question = format!("Remove {}? Its queued deliveries are dropped.", endpoint.url);
                        let rotate_question = format!("Give {} a new secret? The old one keeps signing for a day.", endpoint.url);
                        view! {
                            <section class="panel" data-testid="webhook-endpoint">
                                <h2><code>{endpoint.url.clone()}</code></h2>
                                <p class="muted">{format!("Sent: {events}.")}</p>
                                {endpoint.previous_secret_until.map(|until| view! {
                                    <p class="muted">{format!("The previous secret also signs until {} UTC.", until.format("%-d %b %H:%M"))}</p>
                                })}
                                <div class="button-row">
                                    <button type="button" class="button secondary small" aria-expanded=move || (shown.get() == Some(id)).to_string()
                                        on:click=move |_| shown.update(|shown| *shown = if *shown == Some(id) { None } else { Some(id) })>
                                        "Deliveries"
                                    </button>
                                    <ConfirmButton label="Rotate secret" class="button secondary small" question=rotate_question on_confirm=move || { rotate.dispatch(RotateWebhookSecret { id }); } />
                                    <ConfirmButton label="Remove" question=remove_question on_confirm=move || { remove.dispatch(RemoveWebhook { id }); } />
                                </div>
                                <Show when=move || shown.get() == Some(id)>
                                    <Deliveries endpoint=id />
                                </Show>
                            </section>
                        }
                    })
                    .collect_view()
                    .into_any(),
                Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
            })}
        </Transition>
        <section class="panel" aria-labelledby="verify-title">
            <h2 id="verify-title">"Checking a delivery"</h2>
            <p>
                "Each delivery carries " <code>"DreamOps-Signature: t=<unix time>,v1=<hex>"</code>
                ": each " <code>"v1"</code> " is the HMAC-SHA256 of " <code>"<t>.<raw body>"</code>
                " under one of the endpoint's secrets (two for a day after a rotation). Refuse a delivery whose "
                <code>"t"</code> " is more than five minutes away from your clock. "
                <code>"DreamOps-Event"</code> " names the event and " <code>"DreamOps-Delivery"</code> " the delivery; an event's "
                <code>"id"</code> " is the same in a replay."
            </p>
            <pre class="snippet"><code>{VERIFY_SNIPPET}</code></pre>
        </section>
    }
}

/// An endpoint's latest deliveries.
#[component]
fn Deliveries(endpoint: Uuid) -> impl IntoView {
    let replay = ServerAction::<ReplayWebhookDelivery>::new();
    let deliveries = Resource::new(move || replay.version().get(), move |_| list_webhook_deliveries(endpoint, None));
    view! {
        <FormError outcome=replay.value() />
        <Transition fallback=|| view! { <p class="muted">"Loading deliveries…"</p> }>
            {move || deliveries.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! { <p class="muted">"Nothing sent yet."</p> }.into_any(),
                Ok(list) => view! {
                    <div class="table-scroll">
                        <table class="data-table" data-testid="webhook-deliveries">
                            <thead>
                                <tr>
                                    <th scope="col">"Event"</th>
                                    <th scope="col">"Queued"</th>
                                    <th scope="col">"State"</th>
                                    <th scope="col">"Answer"</th>
                                    <th scope="col"><span class="visually-hidden">"Replay"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|delivery| {
                                    let id = delivery.id;
                                    let state = match delivery.state {
                                        DeliveryState::Queued if delivery.attempts > 0 => format!("retrying ({} attempts)", delivery.attempts),
                                        DeliveryState::Queued => "queued".to_string(),
                                        DeliveryState::Running => "sending".to_string(),
                                        DeliveryState::Delivered => "delivered".to_string(),
                                        DeliveryState::Failed => format!("failed after {} attempts", delivery.attempts),
                                    };
                                    let answer = delivery.response_status.map_or_else(
                                        || delivery.last_error.clone().unwrap_or_default(),
                                        |status| format!("HTTP {status}"),
                                    );
                                    view! {
                                        <tr>
                                            <td>
                                                <details>
                                                    <summary><code>{delivery.event.as_str()}</code></summary>
                                                    <pre class="snippet"><code>{delivery.body.clone()}</code></pre>
                                                    {delivery.response_body.clone().filter(|body| !body.is_empty()).map(|body| view! {
                                                        <p class="muted">"Answer:"</p>
                                                        <pre class="snippet"><code>{body}</code></pre>
                                                    })}
                                                </details>
                                            </td>
                                            <td>{delivery.created_at.format("%-d %b %H:%M:%S").to_string()}</td>
                                            <td>{state}</td>
                                            <td>{answer}</td>
                                            <td>
                                                <button type="button" class="button secondary small" on:click=move |_| { replay.dispatch(ReplayWebhookDelivery { delivery: id }); }>
                                                    "Replay"
                                                </button>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
                Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}
