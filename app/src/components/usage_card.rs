//! The alert usage card: how much of the plan's alert quota this period has used.

use leptos::prelude::*;

use leptos_router::components::A;

use crate::api::billing::get_pricing;
use crate::api::integrations::get_usage;
use crate::components::plans::PlanCards;
use crate::domain::incident::Usage;
use crate::error::AppError;

/// The usage the card shows, fetched again whenever `version` changes (live pages). A
/// page makes it at its top, so that it is asked for alongside the signed-in user
/// rather than once the user is known.
pub fn usage_resource(version: Option<Signal<u64>>) -> Resource<Result<Usage, AppError>> {
    Resource::new(move || version.map(|v| v.get()), |_| get_usage())
}

/// "2 of 3 alerts used, resets on 1 Dec", with a warning once the quota is used up.
#[component]
pub fn UsageCard(usage: Resource<Result<Usage, AppError>>) -> impl IntoView {
    view! {
        <section class="panel usage-card" aria-labelledby="usage-title" data-testid="usage-card">
            <h2 id="usage-title">"Alerts this period"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    usage
                        .get()
                        .map(|result| match result {
                            Ok(usage) => view! { <UsageDetails usage /> }.into_any(),
                            Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn UsageDetails(usage: Usage) -> impl IntoView {
    let resets = usage.resets_on.format("%-d %b").to_string();
    let exhausted = usage.exhausted();
    let (summary, percent) = match usage.limit {
        Some(limit) => (
            format!("{} of {limit} alerts used, resets on {resets}", usage.used),
            (u64::from(usage.used) * 100 / u64::from(limit.max(1))).min(100),
        ),
        None => (format!("{} alerts this period — unlimited on {}", usage.used, usage.plan), 0),
    };
    view! {
        <p data-testid="usage-summary">
            <strong>{usage.plan.clone()}</strong> " plan · " {summary}
        </p>
        <Show when=move || usage.limit.is_some()>
            <div class="meter" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow=percent aria-label="Alerts used">
                <div class="meter-fill" class:full=exhausted style=format!("width: {percent}%")></div>
            </div>
        </Show>
        <Show when=move || exhausted>
            <p class="notice" role="status">
                "All of this period's alerts are used. New incidents are still stored and shown, marked over quota, but not analysed until "
                {resets.clone()} " or an upgrade."
            </p>
            <UpgradeButton />
        </Show>
    }
}

/// "Upgrade", opening a dialog with the paid plans.
#[component]
fn UpgradeButton() -> impl IntoView {
    let open = RwSignal::new(false);
    view! {
        <button type="button" class="button" aria-haspopup="dialog" on:click=move |_| open.set(true)>
            "Upgrade"
        </button>
        <Show when=move || open.get()>
            <UpgradeDialog close=move || open.set(false) />
        </Show>
    }
    .into_any()
}

/// The paid plans in a modal dialog; Escape or "Close" closes it.
#[component]
fn UpgradeDialog(close: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let pricing = Resource::new(|| (), |_| get_pricing());
    let on_escape = {
        let close = close.clone();
        move |event: leptos::ev::KeyboardEvent| {
            if event.key() == "Escape" {
                close();
            }
        }
    };
    view! {
        <div class="modal-backdrop" on:keydown=on_escape>
            <div class="modal panel" role="dialog" aria-modal="true" aria-labelledby="upgrade-title">
                <div class="panel-header">
                    <h2 id="upgrade-title">"Upgrade for more alerts"</h2>
                    <button type="button" class="button secondary small" autofocus on:click=move |_| close()>
                        "Close"
                    </button>
                </div>
                <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading the plans…"</p> }>
                    {move || pricing.get().map(|result| match result {
                        Ok(pricing) if pricing.can_buy => view! { <PlanCards pricing paid_only=true /> }.into_any(),
                        Ok(_) => view! { <p>"Only the team's owners change its plan: ask one of them to upgrade."</p> }.into_any(),
                        Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
                    })}
                </Transition>
                <p><A href="/pricing">"Compare all plans"</A></p>
            </div>
        </div>
    }
    .into_any()
}
