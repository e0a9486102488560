//! `/settings/account`: the signed-in user's password, and their teams.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::accounts::{ChangePassword, CreateTeam};
use crate::api::members::LeaveTeam;
use crate::components::forms::{FieldError, FormError, SubmitButton, invalid};
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
            let changed = Signal::from(change.value());
            let created = Signal::from(create_team.value());
            let team_name = viewer.team.team_name.clone();
            view! {
                <h1>"Account"</h1>
                <p class="lead">{viewer.email.clone()}</p>
                <section class="panel" aria-labelledby="password-title">
                    <h2 id="password-title">"Change password"</h2>
                    <ActionForm action=change attr:novalidate=true attr:class="stacked-form">
                        <label for="current_password">"Current password"</label>
                        <input id="current_password" name="current_password" type="password" autocomplete="current-password" required aria-invalid=invalid(changed, "current_password") />
                        <FieldError outcome=changed field="current_password" />
                        <label for="new_password">"New password"</label>
                        <input id="new_password" name="new_password" type="password" autocomplete="new-password" minlength="8" maxlength="128" required aria-invalid=invalid(changed, "new_password") />
                        <FieldError outcome=changed field="new_password" />
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
                        <div>
                            <label for="new-team-name">"Team name"</label>
                            <input id="new-team-name" name="team_name" type="text" maxlength="80" required aria-invalid=invalid(created, "team_name") />
                            <FieldError outcome=created field="team_name" />
                        </div>
                        <SubmitButton pending=create_team.pending() label="Create team" busy_label="Creating…" />
                    </ActionForm>
                    <FormError outcome=created />
                </section>
                <section class="panel danger-zone" aria-labelledby="leave-title">
                    <h2 id="leave-title">"Leave " {team_name.clone()}</h2>
                    <p class="muted">"You will lose access to this team until someone invites you again."</p>
                    <button
                        type="button"
                        class="button secondary danger"
                        on:click=move |_| {
                            let question = format!("Leave {team_name}?");
                            if window().confirm_with_message(&question).unwrap_or(false) {
                                leave.dispatch(LeaveTeam {});
                            }
                        }
                    >
                        "Leave team"
                    </button>
                    <FormError outcome=leave.value() />
                </section>
            }
        } />
    }
}
