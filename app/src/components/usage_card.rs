//! The alert usage card: how much of the plan's alert quota this period has used.

use leptos::prelude::*;

use crate::api::integrations::get_usage;
use crate::domain::incident::Usage;

/// "2 of 3 alerts used, resets on 1 Dec", with a warning once the quota is used up.
/// `version`, when given, fetches the usage again whenever it changes (live pages).
#[component]
pub fn UsageCard(#[prop(optional, into)] version: Option<Signal<u64>>) -> impl IntoView {
    let usage = Resource::new(move || version.map(|v| v.get()), |_| get_usage());
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
        </Show>
    }
}
