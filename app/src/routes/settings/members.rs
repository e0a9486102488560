//! `/settings/members`: who is in the team, with what role; invitations; whether the
//! team requires two-factor sign-in; its single sign-on (owners of Enterprise teams).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::accounts::{RemoveSso, SaveSso, SetTeamTwoFactor, get_sso, team_two_factor};
use crate::api::invitations::{CreateInvitation, RevokeInvitation, list_invitations};
use crate::api::members::{ChangeMemberRole, RemoveMember, list_members};
use crate::components::forms::{ConfirmButton, Field, FormError, Outcome, SubmitButton};
use crate::components::viewer::SignedIn;
use crate::domain::account::{Member, Permission, Role, Viewer};

/// `/settings/members`.
#[component]
pub fn MembersPage() -> impl IntoView {
    view! {
        <Title text="Members" />
        <SignedIn children=|viewer| view! { <Members viewer /> } />
    }
}

#[component]
fn Members(viewer: Viewer) -> impl IntoView {
    let manage = viewer.can(Permission::ManageMembers);
    let manage_owners = viewer.can(Permission::ManageOwners);
    let change_role = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let invite = ServerAction::<CreateInvitation>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    let members = Resource::new(
        move || (change_role.version().get(), remove.version().get(), invite.version().get()),
        |_| list_members(),
    );
    let invitations = Resource::new(
        move || (invite.version().get(), revoke.version().get()),
        move |_| async move { if manage { list_invitations().await.map(Some) } else { Ok(None) } },
    );
    let set_two_factor = ServerAction::<SetTeamTwoFactor>::new();
    let two_factor = Resource::new(move || set_two_factor.version().get(), |_| team_two_factor());
    let me = viewer.user_id;
    // Roles the viewer may hand out: admins up to operator, owners any.
    let grantable: Vec<Role> = Role::ALL.into_iter().filter(|role| manage_owners || *role >= Role::Operator).collect();
    let grantable_for_invite = grantable.clone();

    view! {
        <h1>"Members"</h1>
        <p class="lead">{format!("Everyone in {}.", viewer.team_name())}</p>
        <FormError outcome=change_role.value() />
        <FormError outcome=remove.value() />
        <Transition fallback=|| view! { <p class="muted">"Loading members…"</p> }>
            {move || {
                let grantable = grantable.clone();
                members
                    .get()
                    .map(move |result| match result {
                        Ok(list) => {
                            view! {
                                <div class="table-scroll">
                                    <table class="data-table" data-testid="members">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Email"</th>
                                                <th scope="col">"Role"</th>
                                                <th scope="col">"Joined"</th>
                                                <th scope="col">
                                                    <span class="visually-hidden">"Actions"</span>
                                                </th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list
                                                .into_iter()
                                                .map(|member| {
                                                    let editable = manage && member.user_id != me
                                                        && grantable.contains(&member.role);
                                                    view! {
                                                        <MemberRow
                                                            member
                                                            editable
                                                            grantable=grantable.clone()
                                                            change_role
                                                            remove
                                                        />
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
        <Show when=move || manage>
            <InviteForm invite grantable=grantable_for_invite.clone() />
            <section class="panel" aria-labelledby="pending-title">
                <h2 id="pending-title">"Pending invitations"</h2>
                <FormError outcome=revoke.value() />
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || {
                        invitations
                            .get()
                            .map(|result| match result {
                                Ok(Some(list)) if list.is_empty() => {
                                    view! { <p class="muted">"No pending invitations."</p> }.into_any()
                                }
                                Ok(Some(list)) => {
                                    view! {
                                        <ul class="plain-list" data-testid="pending-invitations">
                                            {list
                                                .into_iter()
                                                .map(|invitation| {
                                                    view! {
                                                        <li>
                                                            <span>
                                                                {invitation.email} " · " {invitation.role.label()}
                                                                " · expires "
                                                                {invitation.expires_at.format("%-d %b %Y").to_string()}
                                                            </span>
                                                            <ActionForm action=revoke attr:class="inline-form">
                                                                <input
                                                                    type="hidden"
                                                                    name="invitation_id"
                                                                    value=invitation.id.to_string()
                                                                />
                                                                <button type="submit" class="button secondary small">
                                                                    "Revoke"
                                                                </button>
                                                            </ActionForm>
                                                        </li>
                                                    }
                                                })
                                                .collect_view()}
                                        </ul>
                                    }
                                        .into_any()
                                }
                                Ok(None) => ().into_any(),
                                Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                            })
                    }}
                </Transition>
            </section>
        </Show>
        <Show when=move || manage_owners>
            <TeamTwoFactor required=two_factor set_two_factor />
            <SingleSignOn />
        </Show>
    }
}

/// Owners of Enterprise teams: the team's OpenID provider, which signs in the addresses
/// of its domains and brings new people in with the default role.
#[component]
fn SingleSignOn() -> impl IntoView {
    let save = ServerAction::<SaveSso>::new();
    let remove = ServerAction::<RemoveSso>::new();
    let saved = Outcome::from(save.value());
    let page = Resource::new(move || (save.version().get(), remove.version().get()), |_| get_sso());
    view! {
        <section class="panel" aria-labelledby="sso-title">
            <h2 id="sso-title">"Single sign-on"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || page.get().map(|result| match result {
                    Ok(page) if !page.available => view! {
                        <p class="muted">
                            "Members can sign in through your identity provider (OpenID Connect) on the Enterprise plan. "
                            <A href="/pricing">"See the plans"</A>
                        </p>
                    }.into_any(),
                    Ok(page) => {
                        let settings = page.settings.clone();
                        let is_saved = settings.is_some();
                        let role = settings.as_ref().map_or(Role::Viewer, |settings| settings.default_role);
                        view! {
                            <p class="muted">
                                "Register DreamOps at your provider with this redirect URI: "
                                <code data-testid="sso-redirect-uri">{page.redirect_uri.clone()}</code>
                            </p>
                            <ActionForm action=save attr:novalidate=true attr:class="stacked-form">
                                <Field outcome=saved name="issuer" label="Issuer URL" kind="url" placeholder="https://id.example.com"
                                    value=settings.as_ref().map(|settings| settings.issuer.clone()).unwrap_or_default() />
                                <Field outcome=saved name="client_id" label="Client ID"
                                    value=settings.as_ref().map(|settings| settings.client_id.clone()).unwrap_or_default() />
                                <Field outcome=saved name="client_secret" label="Client secret" kind="password" autocomplete="off"
                                    hint="Stored sealed and never shown again; leave blank to keep the saved one." />
                                <Field outcome=saved name="allowed_domains" label="Email domains" placeholder="example.com, example.org"
                                    value=settings.as_ref().map(|settings| settings.allowed_domains.join(", ")).unwrap_or_default() />
                                <label for="sso-role">"Role of people it brings in"</label>
                                <select id="sso-role" name="default_role">
                                    {[Role::Viewer, Role::Operator, Role::Admin].into_iter().map(|option| view! {
                                        <option value=option.as_str() selected=option == role>{option.label()}</option>
                                    }).collect_view()}
                                </select>
                                <FormError outcome=saved />
                                <Show when=move || matches!(saved.get(), Some(Ok(())))>
                                    <p class="notice" role="status">"Saved. Members with those addresses can sign in with SSO."</p>
                                </Show>
                                <SubmitButton pending=save.pending() label="Save single sign-on" busy_label="Checking the provider…" />
                            </ActionForm>
                            {is_saved.then(|| view! {
                                <ConfirmButton
                                    label="Turn off single sign-on"
                                    question="Turn off single sign-on? Members keep their accounts but must sign in with a password.".to_string()
                                    on_confirm=move || { remove.dispatch(RemoveSso {}); }
                                />
                                <FormError outcome=remove.value() />
                            })}
                        }.into_any()
                    }
                    Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// Owners: whether every member must sign in with a second factor.
#[component]
fn TeamTwoFactor(
    required: Resource<Result<bool, crate::error::AppError>>,
    set_two_factor: ServerAction<SetTeamTwoFactor>,
) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="team-two-factor-title">
            <h2 id="team-two-factor-title">"Two-factor sign-in"</h2>
            <FormError outcome=set_two_factor.value() />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    required.get().map(|result| match result {
                        Ok(required) => view! {
                            <p data-testid="team-two-factor">
                                {if required {
                                    "Required: members without it can use only their account page until they set it up."
                                } else {
                                    "Optional: each member chooses."
                                }}
                            </p>
                            <button
                                type="button"
                                class="button secondary"
                                disabled=move || set_two_factor.pending().get()
                                on:click=move |_| {
                                    set_two_factor.dispatch(SetTeamTwoFactor { required: !required });
                                }
                            >
                                {if required { "Make it optional" } else { "Require it for every member" }}
                            </button>
                        }
                            .into_any(),
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn MemberRow(
    member: Member,
    editable: bool,
    grantable: Vec<Role>,
    change_role: ServerAction<ChangeMemberRole>,
    remove: ServerAction<RemoveMember>,
) -> impl IntoView {
    let user_id = member.user_id;
    let email = member.email.clone();
    let role_cell = if editable {
        view! {
            <select
                aria-label=format!("Role of {email}")
                on:change=move |event| {
                    if let Ok(role) = event_target_value(&event).parse::<Role>() {
                        change_role.dispatch(ChangeMemberRole { user_id, role });
                    }
                }
            >
                {grantable
                    .into_iter()
                    .map(|role| {
                        view! {
                            <option value=role.as_str() selected=role == member.role>
                                {role.label()}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        }
        .into_any()
    } else {
        view! { <span>{member.role.label()}</span> }.into_any()
    };
    let confirm_text = format!("Remove {} from the team?", member.email);
    view! {
        <tr>
            <td>{member.email.clone()}</td>
            <td>{role_cell}</td>
            <td>{member.joined_at.format("%-d %b %Y").to_string()}</td>
            <td>
                <Show when=move || editable>
                    <ConfirmButton
                        label="Remove"
                        question=confirm_text.clone()
                        on_confirm=move || {
                            remove.dispatch(RemoveMember { user_id });
                        }
                    />
                </Show>
            </td>
        </tr>
    }
}

#[component]
fn InviteForm(invite: ServerAction<CreateInvitation>, grantable: Vec<Role>) -> impl IntoView {
    let outcome = Outcome::from(invite.value());
    let link = move || {
        outcome.with(|outcome| match outcome {
            Some(Ok(created)) => Some((created.invitation.email.clone(), created.link.clone())),
            _ => None,
        })
    };
    view! {
        <section class="panel" aria-labelledby="invite-title">
            <h2 id="invite-title">"Invite someone"</h2>
            <ActionForm action=invite attr:novalidate=true attr:class="inline-fields">
                <Field outcome name="email" id="invite-email" label="Email" kind="email" />
                <div>
                    <label for="invite-role">"Role"</label>
                    <select id="invite-role" name="role">
                        {grantable
                            .into_iter()
                            .map(|role| {
                                view! {
                                    <option value=role.as_str() selected=role == Role::Viewer>
                                        {role.label()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
                <SubmitButton pending=invite.pending() label="Create invitation" busy_label="Creating…" />
            </ActionForm>
            <FormError outcome />
            {move || {
                link()
                    .map(|(email, link)| {
                        view! {
                            <div class="notice" role="status">
                                <p>
                                    "We mailed the invitation to " <strong>{email}</strong>
                                    ". You can also send them this single-use link yourself: it works for 7 days and is shown only now."
                                </p>
                                <InvitationLink link />
                            </div>
                        }
                    })
            }}
        </section>
    }
}

/// The full invitation URL, readable and selectable.
#[component]
fn InvitationLink(link: String) -> impl IntoView {
    let full = RwSignal::new(link.clone());
    Effect::new(move |_| {
        if let Ok(origin) = window().location().origin() {
            full.set(format!("{origin}{link}"));
        }
    });
    view! {
        <input class="copy-field" type="text" readonly data-testid="invitation-link" prop:value=move || full.get() aria-label="Invitation link" />
    }
}
