//! `/sso`: signing in through the team's identity provider — the work address picks the
//! team (by its domain), and the browser goes to that team's provider and comes back
//! signed in (`/sso/callback`, on the server).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::accounts::StartSso;
use crate::components::forms::{Field, FormError, Outcome, SubmitButton};

/// `/sso`.
#[component]
pub fn SsoSignInPage() -> impl IntoView {
    let action = ServerAction::<StartSso>::new();
    let outcome = Outcome::from(action.value());
    // Sent on to the provider once the server has prepared the sign-in.
    Effect::new(move |_| {
        if let Some(Ok(url)) = action.value().get() {
            let _ = window().location().set_href(&url);
        }
    });
    let leaving = move || matches!(outcome.get(), Some(Ok(_)));
    view! {
        <Title text="Single sign-on" />
        <section class="panel auth-panel">
            <h1>"Single sign-on"</h1>
            <p class="muted">"Your team signs in through its identity provider: enter your work email to go there."</p>
            <ActionForm action attr:novalidate=true attr:class="stacked-form">
                <Field outcome name="email" label="Work email" kind="email" autocomplete="username" />
                <FormError outcome />
                <Show when=leaving>
                    <p class="notice" role="status">"Taking you to your identity provider…"</p>
                </Show>
                <SubmitButton pending=action.pending() label="Continue" busy_label="Finding your team…" />
            </ActionForm>
            <p class="muted">"Have a password? " <A href="/login">"Log in"</A></p>
        </section>
    }
}
