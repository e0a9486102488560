//! `/settings/ai`: how the team's analyses use LLMs (admins): the deployment's
//! providers, the team's own provider and key (asked first; the key never shown again),
//! and the tokens used this month against the budget.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::analysis::{RemoveTeamLlm, SetTeamLlm, get_llm_settings};
use crate::components::forms::{ConfirmButton, Field, FieldError, FormError, LoadError, Outcome, SubmitButton};
use crate::components::viewer::SignedIn;
use crate::domain::account::Permission;
use crate::domain::analysis::LlmView;

/// `/settings/ai`.
#[component]
pub fn AiPage() -> impl IntoView {
    view! {
        <Title text="AI analysis" />
        <SignedIn children=|viewer| {
            if viewer.can(Permission::ManageIntegrations) {
                view! { <Ai /> }.into_any()
            } else {
                view! { <p class="form-error" role="alert">"Only the team's admins manage AI analysis."</p> }.into_any()
            }
        } />
    }
}

#[component]
fn Ai() -> impl IntoView {
    let set = ServerAction::<SetTeamLlm>::new();
    let remove = ServerAction::<RemoveTeamLlm>::new();
    let settings = Resource::new(move || (set.version().get(), remove.version().get()), |_| get_llm_settings());
    view! {
        <div class="page-header"><h1>"AI analysis"</h1></div>
        <p class="lead">
            "Every incident gets DreamOps' deterministic diagnosis. An LLM, when one is configured, adds its view beside it — it never acts. What is sent is redacted: secrets, tokens, passwords, email and IP addresses."
        </p>
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading…"</p> }>
            {move || settings.get().map(|result| match result {
                Ok(found) => view! { <Settings found set remove /> }.into_any(),
                Err(error) => view! { <LoadError what="The AI settings" error retry=move || settings.refetch() /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Settings(found: LlmView, set: ServerAction<SetTeamLlm>, remove: ServerAction<RemoveTeamLlm>) -> impl IntoView {
    let outcome: Outcome<LlmView> = set.value().into();
    let remove_outcome: Outcome<LlmView> = remove.value().into();
    let own = found.team_provider.clone();
    let kind = own.as_ref().map(|p| p.kind.clone()).unwrap_or_else(|| "anthropic".into());
    let saved = own.is_some();
    let base_url = own.as_ref().map(|p| p.base_url.clone()).unwrap_or_else(|| "https://api.anthropic.com".into());
    let model = own.as_ref().map(|p| p.model.clone()).unwrap_or_default();
    view! {
        <section class="panel" aria-labelledby="usage-title">
            <h2 id="usage-title">"This month"</h2>
            <p data-testid="llm-usage">{format!("{} of {} tokens used.", found.tokens_this_month, found.monthly_tokens)}</p>
            <p class="muted" data-testid="deployment-providers">
                {if found.deployment_providers.is_empty() {
                    "This deployment has no LLM of its own: add your team's below, or the deterministic analysis stands alone.".to_string()
                } else {
                    format!("This deployment's providers, in order: {}.", found.deployment_providers.join(", "))
                }}
            </p>
        </section>
        <section class="panel" aria-labelledby="own-title">
            <h2 id="own-title">"Your team's provider"</h2>
            <p class="hint">"Asked before the deployment's. Anthropic, or any OpenAI-compatible endpoint (vLLM, Ollama, LiteLLM) — for an air-gapped setup, one on your own network."</p>
            {own.map(|own| view! {
                <p data-testid="team-provider">{format!("Saved: {} · {} · {}", own.kind, own.base_url, own.model)} {if own.has_key { " · key saved (never shown)" } else { " · no key" }}</p>
            })}
            <ActionForm action=set attr:class="stacked-form" attr:novalidate=true>
                <div class="field">
                    <label for="llm-kind">"Provider"</label>
                    <select id="llm-kind" name="kind">
                        <option value="anthropic" selected=kind == "anthropic">"Anthropic (Messages API)"</option>
                        <option value="openai" selected=kind == "openai">"OpenAI-compatible endpoint"</option>
                    </select>
                    <FieldError outcome field="kind" />
                </div>
                <div class="field">
                    <label for="llm-base">"Address"</label>
                    <input id="llm-base" type="url" name="base_url" value=base_url />
                    <p class="hint">"https://api.anthropic.com, or e.g. http://vllm.internal:8000/v1"</p>
                    <FieldError outcome field="base_url" />
                </div>
                <div class="field">
                    <label for="llm-model">"Model"</label>
                    <input id="llm-model" type="text" name="model" maxlength="100" value=model />
                    <FieldError outcome field="model" />
                </div>
                <Field outcome name="key" id="llm-key" label="API key" kind="password" autocomplete="off" hint="Encrypted at rest and never shown again. Leave blank to keep the saved key." />
                <FormError outcome />
                <SubmitButton pending=set.pending() label="Save provider" busy_label="Saving…" />
            </ActionForm>
            {saved.then(|| view! {
                <div class="button-row">
                    <ConfirmButton
                        label="Remove the team's provider"
                        question="Remove your team's LLM provider and its key? The deployment's providers (if any) are asked instead.".to_string()
                        on_confirm=move || { remove.dispatch(RemoveTeamLlm {}); }
                    />
                </div>
            })}
            <FormError outcome=remove_outcome />
        </section>
    }
}
