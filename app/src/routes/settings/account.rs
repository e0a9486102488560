//! `/settings/account`: the signed-in user's address, second factor and password; their
//! teams (creating one, leaving, exporting and deleting the active one); deleting the
//! account. It works for a user in no team, who starts here.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::accounts::{
    ChangeEmail, ChangePassword, ConfirmTwoFactor, CreateTeam, DeleteAccount, DeleteTeam, StartTwoFactor,
    TurnOffTwoFactor, preview_account_deletion,
};
use crate::api::members::{LeaveTeam, SetEmailNotifications, get_email_notifications};
use crate::components::account_notices::ResendConfirmation;
use crate::components::forms::{ConfirmButton, Field, FormError, Outcome, SubmitButton};
use crate::components::viewer::SignedIn;
use crate::domain::account::{Permission, TeamMembership};

/// `/settings/account`.
#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <Title text="Account" />
        <SignedIn without_team=true children=|viewer| {
            let change = ServerAction::<ChangePassword>::new();
            let move_to = ServerAction::<ChangeEmail>::new();
            let moving = Outcome::from(move_to.value());
            let verified = viewer.email_verified;
            let create_team = ServerAction::<CreateTeam>::new();
            let changed = Outcome::from(change.value());
            let created = Outcome::from(create_team.value());
            let team = viewer.team.clone();
            let can_export = viewer.can(Permission::ExportTeamData);
            let can_delete = viewer.can(Permission::DeleteTeam);
            view! {
                <h1>"Account"</h1>
                <p class="lead">{viewer.email.clone()}</p>
                {team.is_none().then(|| view! {
                    <aside class="notice" aria-label="No team" data-testid="no-team">
                        <p>
                            "You are not in a team. Create one below, or open the invitation link a team admin sent you."
                        </p>
                    </aside>
                })}
                <section class="panel" aria-labelledby="email-title">
                    <h2 id="email-title">"Email"</h2>
                    {if verified {
                        view! { <p data-testid="email-status">"Confirmed."</p> }.into_any()
                    } else {
                        view! {
                            <p data-testid="email-status">"Not confirmed yet: use the link we mailed you."</p>
                            <ResendConfirmation />
                        }
                            .into_any()
                    }}
                    <h3>"Change your email"</h3>
                    <ActionForm action=move_to attr:novalidate=true attr:class="stacked-form">
                        <Field outcome=moving name="new_email" label="New email" kind="email" autocomplete="email" />
                        <Field outcome=moving name="password" id="email-password" label="Your password" kind="password" autocomplete="current-password" />
                        <FormError outcome=moving />
                        <Show when=move || matches!(moving.get(), Some(Ok(())))>
                            <p class="notice" role="status">
                                "Check the new address's inbox: the change takes effect when you use the link we mailed there."
                            </p>
                        </Show>
                        <SubmitButton pending=move_to.pending() label="Send confirmation link" busy_label="Sending…" />
                    </ActionForm>
                </section>
                <TwoFactorSection on=viewer.two_factor required=viewer.two_factor_required />
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
                {team.map(|team| view! {
                    <EmailNotifications team_name=team.team_name.clone() verified />
                    <ActiveTeam team can_export can_delete />
                })}
                <DeleteAccountSection />
            }
        } />
    }
}

/// Which incident mails the user gets from the active team.
#[component]
fn EmailNotifications(team_name: String, verified: bool) -> impl IntoView {
    let save = ServerAction::<SetEmailNotifications>::new();
    let saved = Outcome::from(save.value());
    let chosen = Resource::new(|| (), |_| get_email_notifications());
    view! {
        <section class="panel" aria-labelledby="notifications-title">
            <h2 id="notifications-title">"Email notifications from " {team_name}</h2>
            {(!verified).then(|| view! { <p class="muted">"They are sent once your address is confirmed."</p> })}
            <Transition fallback=|| view! { <p class="muted">"Loading your choices…"</p> }>
                {move || chosen.get().map(|result| match result {
                    Ok(chosen) => {
                        let severity = chosen.new_incident_severity.map_or("none", |severity| severity.as_str());
                        view! {
                            <ActionForm action=save attr:novalidate=true attr:class="stacked-form">
                                <label for="new-incident-severity">"New incidents"</label>
                                <select id="new-incident-severity" name="new_incident_severity">
                                    {[("critical", "Critical only"), ("error", "Error or worse"), ("warning", "Warning or worse"), ("info", "Every new incident"), ("none", "None")]
                                        .into_iter()
                                        .map(|(value, label)| view! { <option value=value selected=value == severity>{label}</option> })
                                        .collect_view()}
                                </select>
                                <label class="checkbox">
                                    <input type="checkbox" name="awaiting_approval" value="true" checked=chosen.awaiting_approval />
                                    "An action awaits approval"
                                </label>
                                <label class="checkbox">
                                    <input type="checkbox" name="resolved" value="true" checked=chosen.resolved />
                                    "An incident is resolved"
                                </label>
                                <label class="checkbox">
                                    <input type="checkbox" name="weekly_digest" value="true" checked=chosen.weekly_digest />
                                    "A digest of the week, on Mondays"
                                </label>
                                <FormError outcome=saved />
                                <Show when=move || matches!(saved.get(), Some(Ok(())))>
                                    <p class="notice" role="status">"Saved."</p>
                                </Show>
                                <SubmitButton pending=save.pending() label="Save notifications" busy_label="Saving…" />
                            </ActionForm>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// The active team: leaving it; for admins, downloading its data; for owners,
/// deleting it, its name typed to confirm.
#[component]
fn ActiveTeam(team: TeamMembership, can_export: bool, can_delete: bool) -> impl IntoView {
    let leave = ServerAction::<LeaveTeam>::new();
    let delete = ServerAction::<DeleteTeam>::new();
    let deleting = Outcome::from(delete.value());
    let name = team.team_name;
    view! {
        {can_export.then(|| view! {
            <section class="panel" aria-labelledby="export-title">
                <h2 id="export-title">"Export " {name.clone()}</h2>
                <p class="muted">
                    "One JSON file with the team's incidents, their timelines, analyses and remediations, its members and its audit log."
                </p>
                <a class="button secondary" href="/settings/team-export.json" download="" rel="external">
                    "Download the team's data"
                </a>
            </section>
        })}
        <section class="panel danger-zone" aria-labelledby="leave-title">
            <h2 id="leave-title">"Leave " {name.clone()}</h2>
            <p class="muted">"You will lose access to this team until someone invites you again."</p>
            <ConfirmButton
                label="Leave team"
                question=format!("Leave {name}?")
                on_confirm=move || {
                    leave.dispatch(LeaveTeam {});
                }
                class="button secondary danger"
            />
            <FormError outcome=leave.value() />
        </section>
        {can_delete.then(|| view! {
            <section class="panel danger-zone" aria-labelledby="delete-team-title">
                <h2 id="delete-team-title">"Delete " {name.clone()}</h2>
                <p>
                    "Deletes the team for every member, with all of its data: incidents, timelines and analyses, alert sources, "
                    "clusters and their credentials, API keys and the audit log. Its subscription is cancelled. This cannot be undone."
                </p>
                <p>"To confirm, type the team's name: " <strong>{name.clone()}</strong></p>
                <ActionForm action=delete attr:novalidate=true attr:class="stacked-form">
                    <Field outcome=deleting name="confirmation" id="delete-team-confirmation" label="The team's name, to confirm" autocomplete="off" />
                    <FormError outcome=deleting />
                    <SubmitButton pending=delete.pending() label="Delete this team" busy_label="Deleting…" class="danger" />
                </ActionForm>
            </section>
        })}
    }
}

/// Deleting the account: what goes with it (the teams it alone owns), then the password
/// and the address typed to confirm.
#[component]
fn DeleteAccountSection() -> impl IntoView {
    let delete = ServerAction::<DeleteAccount>::new();
    let deleting = Outcome::from(delete.value());
    let preview = Resource::new(|| (), |_| preview_account_deletion());
    view! {
        <section class="panel danger-zone" aria-labelledby="delete-account-title">
            <h2 id="delete-account-title">"Delete your account"</h2>
            <Transition fallback=|| view! { <p class="muted">"Checking your teams…"</p> }>
                {move || preview.get().map(|result| match result {
                    Ok(preview) => view! {
                        {(!preview.deleted_teams.is_empty()).then(|| view! {
                            <p>"You are the only owner of these teams: they are deleted with your account, with all their data."</p>
                            <ul data-testid="teams-deleted-with-account">
                                {preview.deleted_teams.into_iter().map(|team| view! {
                                    <li>
                                        <strong>{team.name}</strong>
                                        {(team.other_members > 0).then(|| format!(
                                            " ({} other member{} lose{} it)",
                                            team.other_members,
                                            if team.other_members == 1 { "" } else { "s" },
                                            if team.other_members == 1 { "s" } else { "" },
                                        ))}
                                    </li>
                                }).collect_view()}
                            </ul>
                            <p class="muted">"To keep a team, make another member its owner first."</p>
                        })}
                        {(!preview.left_teams.is_empty()).then(|| view! {
                            <p>"You leave: " {preview.left_teams.join(", ")} "."</p>
                        })}
                    }.into_any(),
                    Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <ActionForm action=delete attr:novalidate=true attr:class="stacked-form">
                <Field outcome=deleting name="password" id="delete-account-password" label="Your password" kind="password" autocomplete="current-password" />
                <Field outcome=deleting name="confirmation" id="delete-account-confirmation" label="Your email address, to confirm" kind="email" autocomplete="off" />
                <FormError outcome=deleting />
                <SubmitButton pending=delete.pending() label="Delete my account" busy_label="Deleting…" class="danger" />
            </ActionForm>
        </section>
    }
}

/// Two-factor sign-in: on (and a way to turn it off), or setting it up — the QR code
/// to scan, a first code to confirm, then the recovery codes, shown once.
#[component]
fn TwoFactorSection(on: bool, required: bool) -> impl IntoView {
    let start = ServerAction::<StartTwoFactor>::new();
    let confirm = ServerAction::<ConfirmTwoFactor>::new();
    let turn_off = ServerAction::<TurnOffTwoFactor>::new();
    let confirmed = Outcome::from(confirm.value());
    let turned_off = Outcome::from(turn_off.value());
    let setup = move || start.value().get().and_then(Result::ok);
    let codes = move || confirm.value().get().and_then(Result::ok);
    view! {
        <section class="panel" aria-labelledby="two-factor-title">
            <h2 id="two-factor-title">"Two-factor sign-in"</h2>
            {required.then(|| view! {
                <p class="notice" role="alert">"Your team requires two-factor sign-in: set it up to continue."</p>
            })}
            {if on {
                view! {
                    <p data-testid="two-factor-status">"On: signing in asks for a code from your authenticator app."</p>
                    <Show
                        when=move || matches!(turned_off.get(), Some(Ok(())))
                        fallback=move || view! {
                            <ActionForm action=turn_off attr:novalidate=true attr:class="stacked-form">
                                <Field outcome=turned_off name="password" id="two-factor-password" label="Your password" kind="password" autocomplete="current-password" />
                                <FormError outcome=turned_off />
                                <SubmitButton pending=turn_off.pending() label="Turn off two-factor sign-in" busy_label="Turning off…" />
                            </ActionForm>
                        }
                    >
                        <p class="notice" role="status">"Two-factor sign-in is off."</p>
                    </Show>
                }
                    .into_any()
            } else {
                view! {
                    <Show
                        when=move || codes().is_some()
                        fallback=move || view! {
                            <p data-testid="two-factor-status">"Off. With it on, signing in also asks for a code from an authenticator app."</p>
                            <Show
                                when=move || setup().is_some()
                                fallback=move || view! {
                                    <button type="button" class="button secondary" disabled=move || start.pending().get() on:click=move |_| { start.dispatch(StartTwoFactor {}); }>
                                        "Set up two-factor sign-in"
                                    </button>
                                    <FormError outcome=start.value() />
                                }
                            >
                                {move || setup().map(|setup| view! {
                                    <p>"Scan this code with your authenticator app, or type the key in."</p>
                                    <div class="qr-code" inner_html=setup.qr_svg></div>
                                    <p>"Key: " <code data-testid="two-factor-secret">{setup.secret}</code></p>
                                })}
                                <ActionForm action=confirm attr:novalidate=true attr:class="stacked-form">
                                    <Field outcome=confirmed name="code" id="enrol-code" label="Code from the app" autocomplete="one-time-code" maxlength=6 />
                                    <FormError outcome=confirmed />
                                    <SubmitButton pending=confirm.pending() label="Turn on" busy_label="Checking…" />
                                </ActionForm>
                            </Show>
                        }
                    >
                        <p class="notice" role="status">"Two-factor sign-in is on. Save these recovery codes now: each signs you in once if you lose your phone, and they are not shown again."</p>
                        <ul class="recovery-codes" data-testid="recovery-codes">
                            {move || codes().unwrap_or_default().into_iter().map(|code| view! { <li>{code}</li> }).collect::<Vec<_>>()}
                        </ul>
                    </Show>
                }
                    .into_any()
            }}
        </section>
    }
}
