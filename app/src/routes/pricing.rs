//! `/pricing`: the plans, for everyone; owners choose one here.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::billing::get_pricing;
use crate::components::forms::LoadError;
use crate::components::plans::PlanCards;

/// `/pricing`.
#[component]
pub fn PricingPage() -> impl IntoView {
    let pricing = Resource::new(|| (), |_| get_pricing());
    let cancelled = use_query_map().with_untracked(|query| query.get("checkout")) == Some("cancelled".to_string());
    view! {
        <Title text="Pricing" />
        {cancelled.then(|| view! { <p class="notice" role="status">"Checkout cancelled: nothing was charged."</p> })}
        <p class="eyebrow">"Pricing"</p>
        <h1>"Plans for every on-call team"</h1>
        <p class="lead">
            "Every plan turns every alert into an incident and keeps it. The plan decides how many new incidents a month the agent analyses."
        </p>
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading the plans…"</p> }>
            {move || {
                pricing
                    .get()
                    .map(|result| match result {
                        Ok(pricing) => {
                            let test_mode = pricing.test_mode;
                            let no_upgrades = !pricing.upgrades;
                            let signed_out = pricing.current_plan.is_none();
                            let needs_owner = !signed_out && !pricing.can_buy && pricing.upgrades;
                            view! {
                                {test_mode.then(|| view! {
                                    <p class="notice test-mode" role="status">
                                        "Test mode: payments are simulated with Stripe's test cards; no money moves."
                                    </p>
                                })}
                                {no_upgrades.then(|| view! {
                                    <p class="notice" role="status" data-testid="no-upgrades">
                                        "Upgrades are not available on this deployment yet: its payments are not configured. Every team works on the Free plan meanwhile."
                                    </p>
                                })}
                                <PlanCards pricing />
                                {signed_out.then(|| view! {
                                    <p class="muted">"Start free: " <A href="/signup">"create a team"</A> ", then upgrade from here."</p>
                                })}
                                {needs_owner.then(|| view! { <p class="muted">"Only the team's owners change its plan."</p> })}
                            }
                                .into_any()
                        }
                        Err(error) => view! { <LoadError what="The plans" error retry=move || pricing.refetch() /> }.into_any(),
                    })
            }}
        </Transition>
    }
}
