//! The pages mailed links lead to, and what leads to them: `/forgot-password` (ask for
//! a reset link), `/reset-password?token=…` (choose the new password) and
//! `/verify-email?token=…` (confirm an address).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::accounts::{RequestPasswordReset, ResetPassword, VerifyEmail};
use crate::components::forms::{Field, FormError, Outcome, SubmitButton};

/// `/forgot-password`: an email address, and the same answer whether it has an account.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let action = ServerAction::<RequestPasswordReset>::new();
    let outcome = Outcome::from(action.value());
    let sent = move || matches!(outcome.get(), Some(Ok(())));
    view! {
        <Title text="Reset your password" />
        <section class="panel auth-panel">
            <h1>"Reset your password"</h1>
            <Show
                when=sent
                fallback=move || {
                    view! {
                        <p class="muted">"Enter the email you sign in with; we will mail you a link to choose a new password."</p>
                        <ActionForm action attr:novalidate=true attr:class="stacked-form">
                            <Field outcome name="email" label="Email" kind="email" autocomplete="username" />
                            <FormError outcome />
                            <SubmitButton pending=action.pending() label="Send reset link" busy_label="Sending…" />
                        </ActionForm>
                    }
                }
            >
                <p class="notice" role="status">
                    "Check your inbox. If an account uses that address, a link to choose a new password is on its way; it works for an hour. Nothing there after a few minutes? Look in your spam folder, or ask again."
                </p>
            </Show>
            <p class="muted">"Remembered it? " <A href="/login">"Log in"</A></p>
        </section>
    }
}

/// `/reset-password?token=…`: the new password, set with the link's token.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let action = ServerAction::<ResetPassword>::new();
    let outcome = Outcome::from(action.value());
    let token = move || use_query_map().with(|query| query.get("token")).unwrap_or_default();
    view! {
        <Title text="Choose a new password" />
        <section class="panel auth-panel">
            <h1>"Choose a new password"</h1>
            <Show
                when=move || !token().is_empty()
                fallback=|| {
                    view! {
                        <p class="form-error" role="alert">
                            "This page needs the link from your reset mail. "
                            <A href="/forgot-password">"Ask for a reset link"</A>
                        </p>
                    }
                }
            >
                <p class="muted">"Setting it signs you out everywhere else."</p>
                <ActionForm action attr:novalidate=true attr:class="stacked-form">
                    <input type="hidden" name="token" value=token />
                    <Field
                        outcome
                        name="password"
                        label="New password"
                        kind="password"
                        autocomplete="new-password"
                        maxlength=128
                        hint="8 to 128 characters; common passwords are refused."
                    />
                    <FormError outcome />
                    <SubmitButton pending=action.pending() label="Set password and log in" busy_label="Saving…" />
                </ActionForm>
                <p class="muted">"Link expired? " <A href="/forgot-password">"Ask for a new one"</A></p>
            </Show>
        </section>
    }
}

/// `/verify-email?token=…`: where the link that confirms an address leads. Confirming
/// is a button, not the visit (a mail scanner that opens links changes nothing).
#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let action = ServerAction::<VerifyEmail>::new();
    let outcome = Outcome::from(action.value());
    let token = move || use_query_map().with(|query| query.get("token")).unwrap_or_default();
    view! {
        <Title text="Confirm your email" />
        <section class="panel auth-panel">
            <h1>"Confirm your email"</h1>
            <Show
                when=move || !token().is_empty()
                fallback=|| {
                    view! {
                        <p class="form-error" role="alert">
                            "This page needs the link from your confirmation mail."
                        </p>
                    }
                }
            >
                <p class="muted">"One click confirms the address this link was sent to, and signs you in."</p>
                <ActionForm action attr:novalidate=true attr:class="stacked-form">
                    <input type="hidden" name="token" value=token />
                    <FormError outcome />
                    <SubmitButton pending=action.pending() label="Confirm my email" busy_label="Confirming…" />
                </ActionForm>
            </Show>
            <p class="muted">"Trouble? " <A href="/login">"Log in"</A> " and send a new link from your account page."</p>
        </section>
    }
}
