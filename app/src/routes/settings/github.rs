//! The integrations page's GitHub panel: connect with a token (tested at once), test it
//! again, disconnect, and map services to repositories for "what changed".

use leptos::prelude::*;

use crate::api::github::{ConnectGithub, DisconnectGithub, SetGithubRepositories, TestGithub, get_github};
use crate::components::forms::{ConfirmButton, Field, FieldError, FormError, LoadError, Outcome, SubmitButton};

/// The panel.
#[component]
pub fn GitHubPanel() -> impl IntoView {
    let connect = ServerAction::<ConnectGithub>::new();
    let test = ServerAction::<TestGithub>::new();
    let disconnect = ServerAction::<DisconnectGithub>::new();
    let map = ServerAction::<SetGithubRepositories>::new();
    let settings = Resource::new(
        move || (connect.version().get(), disconnect.version().get(), map.version().get()),
        |_| get_github(),
    );
    let connected: Outcome<String> = connect.value().into();
    let mapped: Outcome<Vec<crate::domain::github::GitHubRepository>> = map.value().into();
    view! {
        <section class="panel" aria-labelledby="github-title" data-testid="github">
            <h2 id="github-title">"GitHub"</h2>
            <p class="muted">
                "When the agent analyses an incident, it reads the service's repository — pull requests merged, deployments and commits in the day before the first alert — and names the last change beside the cluster's rollouts."
            </p>
            <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading GitHub…"</p> }>
                {move || settings.get().map(|result| match result {
                    Ok(settings) => {
                        let lines = settings
                            .repositories
                            .iter()
                            .map(|r| if r.branch == "main" { format!("{} = {}", r.service, r.repository) } else { format!("{} = {}@{}", r.service, r.repository, r.branch) })
                            .collect::<Vec<_>>()
                            .join("\n");
                        view! {
                            {match settings.login.clone() {
                                Some(login) => view! {
                                    <p data-testid="github-login">{format!("Connected as {login}.")}</p>
                                    <div class="button-row">
                                        <button type="button" class="button secondary small" disabled=move || test.pending().get()
                                            on:click=move |_| { test.dispatch(TestGithub {}); }>"Test connection"</button>
                                        <ConfirmButton label="Disconnect" question="Disconnect GitHub? The agent stops reading what changed.".to_string()
                                            on_confirm=move || { disconnect.dispatch(DisconnectGithub {}); } />
                                    </div>
                                    {move || test.value().get().map(|result| match result {
                                        Ok(login) => view! { <p class="notice" role="status">{format!("GitHub answered: the token is {login}'s.")}</p> }.into_any(),
                                        Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
                                    })}
                                }.into_any(),
                                None => view! {
                                    <ActionForm action=connect attr:novalidate=true attr:class="stacked-form">
                                        <Field outcome=connected name="token" id="github-token" label="Token" kind="password" autocomplete="off"
                                            hint="A fine-grained personal access token with read access to contents, pull requests and deployments of the repositories below." />
                                        <SubmitButton pending=connect.pending() label="Connect GitHub" busy_label="Asking GitHub…" />
                                    </ActionForm>
                                }.into_any(),
                            }}
                            <ActionForm action=map attr:novalidate=true attr:class="stacked-form">
                                <div class="field">
                                    <label for="github-repositories">"Services and their repositories"</label>
                                    <textarea id="github-repositories" name="repositories" rows="4" placeholder="checkout = acme/shop\npayments = acme/payments@release">{lines}</textarea>
                                    <p class="hint">"One per line: service = owner/repository, with @branch when it is not main."</p>
                                </div>
                                <FieldError outcome=mapped field="repositories" />
                                <FormError outcome=mapped />
                                <SubmitButton pending=map.pending() label="Save repositories" busy_label="Saving…" />
                            </ActionForm>
                            <FormError outcome=disconnect.value() />
                        }.into_any()
                    }
                    Err(error) => view! { <LoadError what="GitHub" error retry=move || settings.refetch() /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}
