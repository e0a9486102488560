//! `/signup` and `/login`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::accounts::{LogIn, LogInWithCode, SignUp};
use crate::components::forms::{Field, FormError, Outcome, SubmitButton};
use crate::domain::account::SignInStep;

/// `/signup`: an account and a new team on the Free plan; then a mailed link confirms
/// the address (and the page says so, whether or not the address had an account).
#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let outcome = Outcome::from(action.value());
    let done = move || matches!(outcome.get(), Some(Ok(())));
    view! {
        <Title text="Sign up" />
        <section class="panel auth-panel">
            <h1>"Create your team"</h1>
            <Show when=done>
                <div class="notice" role="status">
                    <p>
                        <strong>"Check your inbox."</strong>
                        " We mailed a link to confirm your address; it signs you in. It works for 24 hours."
                    </p>
                    <p>"Meanwhile you can " <A href="/login">"log in"</A> " with your password and start setting up."</p>
                </div>
            </Show>
            <p class="muted">"Free plan: 3 alerts a month, no card needed."</p>
            <ActionForm action attr:novalidate=true attr:class="stacked-form" attr:hidden=done>
                <Field outcome name="email" label="Work email" kind="email" autocomplete="email" />
                <Field
                    outcome
                    name="password"
                    label="Password"
                    kind="password"
                    autocomplete="new-password"
                    maxlength=128
                    hint="8 to 128 characters; common passwords are refused."
                />
                <Field outcome name="team_name" label="Team name" maxlength=80 />
                <FormError outcome />
                <SubmitButton pending=action.pending() label="Create team" busy_label="Creating…" />
            </ActionForm>
            <p class="muted">"Already have an account? " <A href="/login">"Log in"</A></p>
        </section>
    }
}

/// `/login`: email and password, then the code when two-factor sign-in is on; `?next=`
/// says where to go afterwards.
#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<LogIn>::new();
    let outcome = Outcome::from(action.value());
    let next = move || use_query_map().with(|query| query.get("next")).unwrap_or_default();
    let code_needed = move || matches!(outcome.get(), Some(Ok(SignInStep::CodeNeeded)));
    view! {
        <Title text="Log in" />
        <section class="panel auth-panel">
            <h1>"Log in"</h1>
            <Show when=code_needed>
                {move || {
                    let next = next();
                    Suspend::new(async move { second_factor(next).await })
                }}
            </Show>
            <ActionForm action attr:novalidate=true attr:class="stacked-form" attr:hidden=code_needed>
                <input type="hidden" name="next" value=next />
                <Field outcome name="email" label="Email" kind="email" autocomplete="username" />
                <Field outcome name="password" label="Password" kind="password" autocomplete="current-password" />
                <p class="field-aside">
                    <A href="/forgot-password">"Forgot password?"</A>
                </p>
                <FormError outcome />
                <SubmitButton pending=action.pending() label="Log in" busy_label="Logging in…" />
            </ActionForm>
            <p class="muted">
                // Served by the server (no app code in the first visit's bundle).
                <a href="/sso" rel="external">"Sign in with SSO"</a>
                " · New to DreamOps? "
                <A href="/signup">"Create a team"</A>
            </p>
        </section>
    }
}

/// The second step, in its own part of the bundle: most sign-ins never need it, and the
/// first visit's budget is tight (docs/benchmarks.md).
#[lazy]
fn second_factor(next: String) -> AnyView {
    view! { <SecondFactor next /> }.into_any()
}

/// The second step of signing in: the code from the authenticator app, or a recovery
/// code.
#[component]
fn SecondFactor(next: String) -> impl IntoView {
    let action = ServerAction::<LogInWithCode>::new();
    let outcome = Outcome::from(action.value());
    view! {
        <ActionForm action attr:novalidate=true attr:class="stacked-form">
            <input type="hidden" name="next" value=next />
            <Field
                outcome
                name="code"
                label="Authentication code"
                autocomplete="one-time-code"
                maxlength=16
                hint="The 6 digits your authenticator app shows, or one of your recovery codes."
            />
            <label class="checkbox">
                <input type="checkbox" name="remember_device" value="true" />
                " Remember this browser for 30 days"
            </label>
            <FormError outcome />
            <SubmitButton pending=action.pending() label="Verify" busy_label="Verifying…" />
        </ActionForm>
    }
}
