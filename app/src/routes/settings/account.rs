//! `/settings/account`: the signed-in user's password, and their teams.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::accounts::{ChangePassword, CreateTeam};
use crate::api::members::LeaveTeam;
use crate::components::forms::{ConfirmButton, Field, FormError, Outcome, SubmitButton};
use crate::components::viewer::SignedIn;

/// `/settings/account`.
#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <Title text="Account" />
        <SignedIn children=|viewer| {
            let change = ServerAction::<ChangePassword>::new();
            let create_team = ServerAction::<CreateTeam>::new();
            let leave = ServerAction::<LeaveTeam>::new();
            let changed = Outcome::from(change.value());
            let created = Outcome::from(create_team.value());
            let team_name = viewer.team.team_name.clone();
            view! {
                <h1>"Account"</h1>
                <p class="lead">{viewer.email.clone()}</p>
                <section class="panel" aria-labelledby="password-title">
                    <h2 id="password-title">"Change password"</h2>
                    <ActionForm action=change attr:novalidate=true attr:class="stacked-form">
                        <Field outcome=changed name="current_password" label="Current password" kind="password" autocomplete="current-password" />
                        <Field outcome=changed name="new_password" label="New password" kind="password" autocomplete="new-password" maxlength=128 />
                        <FormError outcome=changed />
                        <Show when=move || matches!(changed.get(), Some(Ok(())))>
                            <p class="notice" role="status">"Password changed. Your other sessions have been signed out."</p>
                        </Show>
                        <SubmitButton pending=change.pending() label="Change password" busy_label="Saving…" />
                    </ActionForm>
                </section>
                <section class="panel" aria-labelledby="new-team-title">
                    <h2 id="new-team-title">"New team"</h2>
                    <ActionForm action=create_team attr:novalidate=true attr:class="inline-fields">
                        <Field outcome=created name="team_name" id="new-team-name" label="Team name" maxlength=80 />
                        <SubmitButton pending=create_team.pending() label="Create team" busy_label="Creating…" />
                    </ActionForm>
                    <FormError outcome=created />
                </section>
                <section class="panel danger-zone" aria-labelledby="leave-title">
                    <h2 id="leave-title">"Leave " {team_name.clone()}</h2>
                    <p class="muted">"You will lose access to this team until someone invites you again."</p>
                    <ConfirmButton
                        label="Leave team"
                        question=format!("Leave {team_name}?")
                        on_confirm=move || {
                            leave.dispatch(LeaveTeam {});
                        }
                        class="button secondary danger"
                    />
                    <FormError outcome=leave.value() />
                </section>
            }
        } />
    }
}
