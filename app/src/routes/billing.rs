//! Billing for owners: `/settings/billing` (plan, status, period, payments, cancel,
//! the payment provider, renewing a PhonePe month) and test mode's Stripe checkout
//! page, `/billing/checkout/:session`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api::billing::{
    CancelSubscription, PayTestCheckout, SetPaymentProvider, get_billing, get_test_checkout, open_billing_portal,
    start_checkout,
};
use crate::components::forms::{ConfirmButton, Field, FormError, LoadError, Outcome, SubmitButton};
use crate::components::plans::price_label;
use crate::components::usage_card::{UsageCard, usage_resource};
use crate::components::viewer::Permitted;
use crate::domain::account::Permission;
use crate::domain::billing::{BillingView, PaymentProvider};

const OWNERS_ONLY: &str = "Only the team's owners see and change billing.";

/// `/settings/billing`.
#[component]
pub fn BillingPage() -> impl IntoView {
    view! {
        <Title text="Billing" />
        <Permitted permission=Permission::ManageBilling refusal=OWNERS_ONLY children=|| view! { <Billing /> } />
    }
}

#[component]
fn Billing() -> impl IntoView {
    let cancel = ServerAction::<CancelSubscription>::new();
    let provider = ServerAction::<SetPaymentProvider>::new();
    let billing = Resource::new(move || (cancel.version().get(), provider.version().get()), |_| get_billing());
    let usage = usage_resource(None);
    let returned = use_query_map().with_untracked(|query| query.get("checkout"));
    let notice = match returned.as_deref() {
        Some("success") => Some((
            "notice",
            "Payment received. The plan changes as soon as the payment provider confirms it, usually within seconds.",
        )),
        Some("pending") => Some((
            "notice",
            "The payment provider has not confirmed the payment yet. DreamOps keeps asking; the plan changes when it does.",
        )),
        Some("failed") => Some((
            "notice warning",
            "The payment did not go through, so nothing changed. Try again, or pay another way.",
        )),
        _ => None,
    };
    view! {
        <div class="page-header">
            <h1>"Billing"</h1>
            <A href="/pricing" attr:class="button secondary">"Change plan"</A>
        </div>
        {notice.map(|(class, text)| view! { <p class=class role="status" data-testid="checkout-outcome">{text}</p> })}
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading billing…"</p> }>
            {move || {
                billing
                    .get()
                    .map(|result| match result {
                        Ok(view) => view! { <BillingDetails view cancel provider /> }.into_any(),
                        Err(error) => view! { <LoadError what="Billing" error retry=move || billing.refetch() /> }.into_any(),
                    })
            }}
        </Transition>
        <UsageCard usage />
    }
}

#[component]
fn BillingDetails(
    view: BillingView,
    cancel: ServerAction<CancelSubscription>,
    provider: ServerAction<SetPaymentProvider>,
) -> impl IntoView {
    let date = |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|at| at.format("%-d %b %Y").to_string());
    let paid = view.plan != "free";
    let period = match (date(view.period_start), date(view.period_end)) {
        (Some(start), Some(end)) => format!("{start} – {end}"),
        _ => "Calendar month".to_string(),
    };
    let ends = date(view.period_end).unwrap_or_default();
    let cancel_outcome: Outcome<()> = cancel.value().into();
    view! {
        {view.test_mode.then(|| view! {
            <p class="notice test-mode" role="status">"Test mode: payments are simulated (Stripe's test cards, PhonePe's test page); no money moves."</p>
        })}
        {view.grace_ends.map(|ends| {
            let message = if view.grace_over {
                format!(
                    "The last payment failed and the grace period ended on {}: the team is on Free until a payment succeeds.",
                    ends.format("%-d %b"),
                )
            } else {
                format!(
                    "The last payment failed. The {} plan stays until {} while the payment is retried; update the card to keep it.",
                    view.plan_name,
                    ends.format("%-d %b"),
                )
            };
            view! { <p class="notice warning" role="alert" data-testid="past-due-banner">{message}</p> }
        })}
        <section class="panel" aria-labelledby="plan-title">
            <h2 id="plan-title">"Plan"</h2>
            <dl class="facts">
                <div><dt>"Plan"</dt><dd data-testid="billing-plan">{view.plan_name.clone()}</dd></div>
                <div><dt>"Status"</dt><dd data-testid="billing-status">{view.status.clone().unwrap_or_else(|| "no subscription".into())}</dd></div>
                <div><dt>"Period"</dt><dd>{period}</dd></div>
            </dl>
            {view.cancel_at_period_end.then(|| view! {
                <p class="notice" role="status">{format!("The subscription ends on {ends}; the team then moves to Free.")}</p>
            })}
            {(paid && !view.cancel_at_period_end).then(|| view! {
                <ConfirmButton
                    label="Cancel at period end"
                    question=format!("Cancel the {} plan? It stays until {ends}, then the team moves to Free.", view.plan_name)
                    on_confirm=move || { cancel.dispatch(CancelSubscription {}); }
                />
            })}
            {(paid && view.renews_by_hand).then(|| view! { <RenewButton plan=view.plan.clone() plan_name=view.plan_name.clone() ends=ends.clone() /> })}
            <FormError outcome=cancel_outcome />
            {(!view.test_mode && view.status.is_some() && view.provider == PaymentProvider::Stripe).then(|| view! { <PortalButton /> })}
        </section>
        {(view.providers.len() > 1).then(|| view! { <ProviderChoice current=view.provider offered=view.providers.clone() paid action=provider /> })}
        <section class="panel" aria-labelledby="payments-title">
            <h2 id="payments-title">"Payments"</h2>
            {if view.payments.is_empty() {
                view! { <p class="muted">"No payments yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-scroll">
                        <table class="data-table" data-testid="payments">
                            <thead><tr><th scope="col">"Date"</th><th scope="col">"Amount"</th><th scope="col">"Through"</th><th scope="col">"Result"</th></tr></thead>
                            <tbody>
                                {view.payments.into_iter().map(|payment| view! {
                                    <tr>
                                        <td>{payment.at.format("%-d %b %Y %H:%M").to_string()}</td>
                                        <td>{payment.amount.unwrap_or_default()}</td>
                                        <td>{payment.provider.label()}</td>
                                        <td>{if payment.paid { "Paid" } else { "Failed" }}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

/// Who the team pays through, and the choice of another one (while on Free).
#[component]
fn ProviderChoice(
    current: PaymentProvider,
    offered: Vec<PaymentProvider>,
    paid: bool,
    action: ServerAction<SetPaymentProvider>,
) -> impl IntoView {
    let outcome: Outcome<()> = action.value().into();
    let describe = |provider: PaymentProvider| match provider {
        PaymentProvider::Stripe => "Card, billed monthly until cancelled.",
        PaymentProvider::Phonepe => {
            "UPI, cards or net banking in rupees, a month at a time; owners are reminded by mail before it ends."
        }
    };
    view! {
        <section class="panel" aria-labelledby="provider-title">
            <h2 id="provider-title">"Payment provider"</h2>
            <ActionForm action attr:class="stacked-form" attr:data-testid="provider-form">
                <fieldset disabled=paid>
                    <legend class="visually-hidden">"Pay through"</legend>
                    {offered.into_iter().map(|provider| view! {
                        <label class="checkbox">
                            <input type="radio" name="provider" value=provider.as_str() checked=provider == current />
                            <span><strong>{provider.label()}</strong>" — "{describe(provider)}</span>
                        </label>
                    }).collect_view()}
                </fieldset>
                {paid.then(|| view! {
                    <p class="muted">"The provider can be changed once the team is on Free: cancel the current plan, which stays until its period ends."</p>
                })}
                <FormError outcome />
                {(!paid).then(|| view! { <SubmitButton pending=action.pending() label="Save provider" busy_label="Saving…" /> })}
            </ActionForm>
        </section>
    }
}

/// Pays for another month of the team's PhonePe plan.
#[component]
fn RenewButton(plan: String, plan_name: String, ends: String) -> impl IntoView {
    let renew = Action::new(|plan: &String| start_checkout(plan.clone()));
    Effect::new(move |_| {
        if let Some(Ok(url)) = renew.value().get() {
            let _ = window().location().assign(&url);
        }
    });
    view! {
        <p class="muted">{format!("Paid through {ends}. PhonePe months are paid one at a time: renewing adds a month after this one.")}</p>
        <button type="button" class="button" disabled=move || renew.pending().get() on:click=move |_| { renew.dispatch(plan.clone()); }>
            {move || if renew.pending().get() { "Opening PhonePe…".to_string() } else { format!("Renew {plan_name} for a month") }}
        </button>
        {move || renew.value().get().and_then(Result::err).map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })}
    }
}

/// Opens Stripe's customer portal (card, invoices, cancellation).
#[component]
fn PortalButton() -> impl IntoView {
    let portal = Action::new(|_: &()| open_billing_portal());
    Effect::new(move |_| {
        if let Some(Ok(url)) = portal.value().get() {
            let _ = window().location().assign(&url);
        }
    });
    view! {
        <button type="button" class="button secondary" disabled=move || portal.pending().get() on:click=move |_| { portal.dispatch(()); }>
            {move || if portal.pending().get() { "Opening…" } else { "Manage billing" }}
        </button>
        {move || portal.value().get().and_then(Result::err).map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })}
    }
}

/// `/billing/checkout/:session`: test mode's stand-in for Stripe's hosted checkout.
#[component]
pub fn TestCheckoutPage() -> impl IntoView {
    let params = use_params_map();
    let session = move || params.with(|p| p.get("session").unwrap_or_default());
    view! {
        <Title text="Checkout" />
        <Permitted permission=Permission::ManageBilling refusal=OWNERS_ONLY children=move || view! { <TestCheckoutForm session=session() /> } />
    }
}

#[component]
fn TestCheckoutForm(session: String) -> impl IntoView {
    let checkout = Resource::new(
        {
            let session = session.clone();
            move || session.clone()
        },
        get_test_checkout,
    );
    let pay = ServerAction::<PayTestCheckout>::new();
    let outcome: Outcome<()> = pay.value().into();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = pay.value().get() {
            navigate("/settings/billing", Default::default());
        }
    });
    view! {
        <section class="panel checkout" aria-labelledby="checkout-title">
            <p class="badge test-mode-badge">"Test mode — no real payment"</p>
            <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading the checkout…"</p> }>
                {move || {
                    checkout.get().map(|result| match result {
                        Ok(checkout) if checkout.completed => view! {
                            <h1 id="checkout-title">"Already paid"</h1>
                            <p><A href="/settings/billing">"See billing"</A></p>
                        }.into_any(),
                        Ok(checkout) => view! {
                            <h1 id="checkout-title">{format!("Subscribe to {}", checkout.plan_name)}</h1>
                            <p class="plan-price">{price_label(checkout.price_inr)}</p>
                            <p class="muted">{format!("For the team {}. Billed monthly; cancel any time.", checkout.team_name)}</p>
                        }.into_any(),
                        Err(error) => view! { <LoadError what="The checkout" error retry=move || checkout.refetch() /> }.into_any(),
                    })
                }}
            </Transition>
            <ActionForm action=pay attr:novalidate=true attr:class="stacked-form">
                <input type="hidden" name="session" value=session.clone() />
                <Field outcome name="card" label="Card number" autocomplete="cc-number" placeholder="4242 4242 4242 4242"
                    hint="Stripe's test cards: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined." />
                <div class="inline-fields">
                    <div class="field"><label for="card-expiry">"Expiry"</label><input id="card-expiry" type="text" inputmode="numeric" autocomplete="cc-exp" placeholder="12 / 34" /></div>
                    <div class="field"><label for="card-cvc">"CVC"</label><input id="card-cvc" type="text" inputmode="numeric" autocomplete="cc-csc" placeholder="123" /></div>
                </div>
                <FormError outcome />
                <SubmitButton pending=pay.pending() label="Pay and subscribe" busy_label="Paying…" />
                <A href="/pricing">"Cancel"</A>
            </ActionForm>
        </section>
    }
}
