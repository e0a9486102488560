//! What a signed-in user must still do about their account, shown on the dashboard (a
//! lazy page, so that it costs a first visit nothing; the account page says the same in
//! its own sections, with the same [`ResendConfirmation`]): confirm their address (and
//! have the link sent again), or set up the two-factor sign-in their team requires.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::accounts::ResendVerification;
use crate::components::forms::FormError;
use crate::domain::account::Viewer;

/// The notices `viewer` needs, if any.
#[component]
pub fn AccountNotices(viewer: Viewer) -> impl IntoView {
    view! {
        {viewer.two_factor_required.then(|| {
            view! {
                <aside class="notice" aria-label="Two-factor sign-in required">
                    <p>
                        {viewer.team_name().to_string()}
                        " requires two-factor sign-in. "
                        <A href="/settings/account">"Set it up on your account page"</A>
                        " to continue."
                    </p>
                </aside>
            }
        })}
        {(!viewer.email_verified).then(|| view! { <UnconfirmedEmail email=viewer.email.clone() /> })}
    }
}

/// Asks a user whose address is not confirmed yet to use the mailed link, and offers
/// to send it again.
#[component]
fn UnconfirmedEmail(email: String) -> impl IntoView {
    view! {
        <aside class="notice unconfirmed-email" aria-label="Email confirmation">
            <p>
                "Confirm your email address: we mailed a link to " <strong>{email}</strong>
                ". Until then you cannot accept invitations, get notifications or upgrade."
            </p>
            <ResendConfirmation />
        </aside>
    }
}

/// Sends the link that confirms the signed-in user's address again, and says so.
#[component]
pub fn ResendConfirmation() -> impl IntoView {
    let resend = ServerAction::<ResendVerification>::new();
    let sent = move || matches!(resend.value().get(), Some(Ok(())));
    view! {
        <Show
            when=sent
            fallback=move || {
                view! {
                    <button
                        type="button"
                        class="button secondary small"
                        disabled=move || resend.pending().get()
                        on:click=move |_| {
                            resend.dispatch(ResendVerification {});
                        }
                    >
                        "Send the link again"
                    </button>
                    <FormError outcome=resend.value() />
                }
            }
        >
            <p role="status">"Sent. It works for 24 hours."</p>
        </Show>
    }
}
