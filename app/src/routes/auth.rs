//! `/signup` and `/login`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::accounts::{LogIn, SignUp};
use crate::components::forms::{FieldError, FormError, SubmitButton, invalid};

/// `/signup`: an account and a new team on the Free plan.
#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let outcome = Signal::from(action.value());
    view! {
        <Title text="Sign up" />
        <section class="panel auth-panel">
            <h1>"Create your team"</h1>
            <p class="muted">"Free plan: 3 alerts a month, no card needed."</p>
            <ActionForm action attr:novalidate=true attr:class="stacked-form">
                <label for="email">"Work email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required aria-invalid=invalid(outcome, "email") />
                <FieldError outcome field="email" />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="new-password"
                    minlength="8"
                    maxlength="128"
                    required
                    aria-describedby="password-hint"
                    aria-invalid=invalid(outcome, "password")
                />
                <p class="hint" id="password-hint">"8 to 128 characters; common passwords are refused."</p>
                <FieldError outcome field="password" />
                <label for="team_name">"Team name"</label>
                <input id="team_name" name="team_name" type="text" maxlength="80" required aria-invalid=invalid(outcome, "team_name") />
                <FieldError outcome field="team_name" />
                <FormError outcome />
                <SubmitButton pending=action.pending() label="Create team" busy_label="Creating…" />
            </ActionForm>
            <p class="muted">"Already have an account? " <A href="/login">"Log in"</A></p>
        </section>
    }
}

/// `/login`: email and password; `?next=` says where to go afterwards.
#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<LogIn>::new();
    let outcome = Signal::from(action.value());
    let next = move || use_query_map().with(|query| query.get("next")).unwrap_or_default();
    view! {
        <Title text="Log in" />
        <section class="panel auth-panel">
            <h1>"Log in"</h1>
            <ActionForm action attr:novalidate=true attr:class="stacked-form">
                <input type="hidden" name="next" value=next />
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required aria-invalid=invalid(outcome, "email") />
                <FieldError outcome field="email" />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    aria-invalid=invalid(outcome, "password")
                />
                <FieldError outcome field="password" />
                <FormError outcome />
                <SubmitButton pending=action.pending() label="Log in" busy_label="Logging in…" />
            </ActionForm>
            <p class="muted">"New to DreamOps? " <A href="/signup">"Create a team"</A></p>
        </section>
    }
}
