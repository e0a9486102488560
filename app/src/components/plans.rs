//! The plans as cards with a "choose" button, shared by the pricing page and the
//! upgrade dialog; choosing opens a checkout and sends the browser there.

use leptos::prelude::*;

use crate::api::billing::start_checkout;
use crate::domain::billing::{PlanView, Pricing};
use crate::domain::incident::thousands;

/// "₹2,999/month", "Free".
pub fn price_label(price_inr: i32) -> String {
    if price_inr == 0 { "Free".to_string() } else { format!("₹{}/month", thousands(i64::from(price_inr))) }
}

/// "200 alerts a month", "Unlimited alerts".
pub fn limit_label(limit: Option<i32>) -> String {
    match limit {
        Some(limit) => format!("{} alerts a month", thousands(i64::from(limit))),
        None => "Unlimited alerts".to_string(),
    }
}

/// The plans of `pricing` (only paid ones when `paid_only`), each with what it costs,
/// what it allows and, for members who may buy, a button that opens its checkout.
#[component]
pub fn PlanCards(pricing: Pricing, #[prop(optional)] paid_only: bool) -> impl IntoView {
    let checkout = Action::new(|plan: &String| start_checkout(plan.clone()));
    Effect::new(move |_| {
        if let Some(Ok(url)) = checkout.value().get() {
            let _ = window().location().assign(&url);
        }
    });
    let Pricing { plans, current_plan, can_buy, upgrades, .. } = pricing;
    let can_buy = can_buy && upgrades;
    let cards = plans
        .into_iter()
        .filter(|plan| !paid_only || plan.price_inr > 0)
        .map(|plan| {
            let current = current_plan.as_deref() == Some(plan.id.as_str());
            view! { <PlanCard plan current can_buy checkout /> }
        })
        .collect_view();
    view! {
        <div class="plan-grid">{cards}</div>
        {move || checkout.value().get().and_then(Result::err).map(|error| view! { <p class="form-error" role="alert">{error.to_string()}</p> })}
    }
}

#[component]
fn PlanCard(
    plan: PlanView,
    current: bool,
    can_buy: bool,
    checkout: Action<String, Result<String, crate::error::AppError>>,
) -> impl IntoView {
    let id = plan.id.clone();
    let name = plan.name.clone();
    let buyable = can_buy && !current && plan.price_inr > 0;
    view! {
        <section class="panel plan-card" class:recommended=plan.recommended aria-label=format!("{} plan", plan.name) data-testid=format!("plan-{}", plan.id)>
            {plan.recommended.then(|| view! { <p class="badge recommended-badge">"Recommended"</p> })}
            <h2>{plan.name.clone()}</h2>
            <p class="plan-price">{price_label(plan.price_inr)}</p>
            <p>{limit_label(plan.monthly_alert_limit)}</p>
            {if current {
                view! { <p class="badge current-badge">"Current plan"</p> }.into_any()
            } else if buyable {
                view! {
                    <button
                        type="button"
                        class="button"
                        disabled=move || checkout.pending().get()
                        on:click=move |_| { checkout.dispatch(id.clone()); }
                    >
                        {format!("Choose {name}")}
                    </button>
                }
                    .into_any()
            } else {
                ().into_any()
            }}
        </section>
    }
}
