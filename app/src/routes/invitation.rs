//! `/invitations/:token`: join a team through an invitation link.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api::accounts::SignUp;
use crate::api::invitations::{AcceptInvitation, get_invitation};
use crate::components::forms::{Field, FormError, Outcome, SubmitButton};
use crate::components::viewer::use_viewer;
use crate::domain::account::InvitationPreview;
use crate::error::AppError;

/// `/invitations/:token`.
#[component]
pub fn InvitationPage() -> impl IntoView {
    let token = move || use_params_map().with(|params| params.get("token")).unwrap_or_default();
    let preview = Resource::new(token, get_invitation);
    view! {
        <Title text="Invitation" />
        <section class="panel auth-panel">
            <Transition fallback=|| view! { <p class="muted">"Checking the invitation…"</p> }>
                {move || {
                    preview
                        .get()
                        .map(|result| match result {
                            Ok(preview) => view! { <Offer preview token=token() /> }.into_any(),
                            Err(AppError::NotFound) => {
                                view! {
                                    <h1>"Invitation not found"</h1>
                                    <p>"This link has been used, revoked, or mistyped. Ask a team admin for a new one."</p>
                                }
                                    .into_any()
                            }
                            Err(error) => {
                                view! {
                                    <h1>"Invitation unavailable"</h1>
                                    <p class="form-error" role="alert">{error.to_string()}</p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn Offer(preview: InvitationPreview, token: String) -> impl IntoView {
    let viewer = use_viewer().0;
    let accept = ServerAction::<AcceptInvitation>::new();
    let sign_up = ServerAction::<SignUp>::new();
    let outcome = Outcome::from(sign_up.value());
    let email = preview.email.clone();
    let next = format!("/invitations/{token}");
    view! {
        <h1>"Join " {preview.team_name.clone()}</h1>
        <p>
            "You are invited as " <strong>{preview.role.label()}</strong> " (" {preview.email.clone()} "). "
            "The invitation expires on " {preview.expires_at.format("%-d %B %Y").to_string()} "."
        </p>
        <Transition fallback=|| ()>
            {move || {
                let token = token.clone();
                let email = email.clone();
                let next = next.clone();
                viewer
                    .get()
                    .map(move |result| match result {
                        Ok(Some(_)) => {
                            view! {
                                <ActionForm action=accept>
                                    <input type="hidden" name="token" value=token />
                                    <SubmitButton pending=accept.pending() label="Accept and join" busy_label="Joining…" />
                                </ActionForm>
                                <FormError outcome=accept.value() />
                            }
                                .into_any()
                        }
                        _ => {
                            view! {
                                <h2>"Create your account"</h2>
                                <ActionForm action=sign_up attr:novalidate=true attr:class="stacked-form">
                                    <input type="hidden" name="invitation" value=token />
                                    <Field outcome name="email" label="Email" kind="email" value=email readonly=true />
                                    <Field
                                        outcome
                                        name="password"
                                        label="Password"
                                        kind="password"
                                        autocomplete="new-password"
                                        maxlength=128
                                    />
                                    <FormError outcome />
                                    <SubmitButton pending=sign_up.pending() label="Create account and join" busy_label="Joining…" />
                                </ActionForm>
                                <p class="muted">
                                    "Already have an account? "
                                    <A href=format!("/login?next={next}")>"Log in to accept"</A>
                                </p>
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}
