//! The integrations page's GitHub panel: connect with a token (tested at once), test it
//! again, disconnect, map services to repositories for "what changed", and say where
//! issues go and when they are opened on their own.

use leptos::prelude::*;

use crate::api::github::{
    ConnectGithub, ConnectGithubApp, DisconnectGithub, SetGithubIssueSettings, SetGithubRepositories, TestGithub,
    get_github,
};
use crate::components::forms::{ConfirmButton, Field, FieldError, FormError, LoadError, Outcome, SubmitButton};
use crate::domain::github::IssueSettings;
use crate::domain::incident::Severity;

/// The panel.
#[component]
pub fn GitHubPanel() -> impl IntoView {
    let connect = ServerAction::<ConnectGithub>::new();
    let connect_app = ServerAction::<ConnectGithubApp>::new();
    let test = ServerAction::<TestGithub>::new();
    let disconnect = ServerAction::<DisconnectGithub>::new();
    let map = ServerAction::<SetGithubRepositories>::new();
    let settings = Resource::new(
        move || (connect.version().get(), connect_app.version().get(), disconnect.version().get(), map.version().get()),
        |_| get_github(),
    );
    let connected: Outcome<String> = connect.value().into();
    let app_connected: Outcome<String> = connect_app.value().into();
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
                                    <IssueSettingsForm settings=settings.issues.clone() />
                                }.into_any(),
                                None => view! {
                                    <ActionForm action=connect attr:novalidate=true attr:class="stacked-form">
                                        <Field outcome=connected name="token" id="github-token" label="Token" kind="password" autocomplete="off"
                                            hint="A fine-grained personal access token with read access to contents, pull requests and deployments of the repositories below, and write access to issues." />
                                        <SubmitButton pending=connect.pending() label="Connect GitHub" busy_label="Asking GitHub…" />
                                    </ActionForm>
                                    <details data-testid="github-app">
                                        <summary>"Connect a GitHub App installation instead"</summary>
                                        <ActionForm action=connect_app attr:novalidate=true attr:class="stacked-form">
                                            <Field outcome=app_connected name="app_id" id="github-app-id" label="App ID"
                                                hint="On the app's settings page on GitHub (its client ID works too)." />
                                            <Field outcome=app_connected name="installation_id" id="github-installation-id" label="Installation ID"
                                                hint="The number at the end of the installation's settings address." />
                                            <div class="field">
                                                <label for="github-private-key">"Private key"</label>
                                                <textarea id="github-private-key" name="private_key" rows="4" autocomplete="off" spellcheck="false"
                                                    placeholder="-----BEGIN RSA PRIVATE KEY-----"></textarea>
                                                <p class="hint">"The .pem file GitHub generated for the app. The app needs read access to contents, pull requests and deployments, and write access to issues."</p>
                                            </div>
                                            <FieldError outcome=app_connected field="private_key" />
                                            <FormError outcome=app_connected />
                                            <SubmitButton pending=connect_app.pending() label="Connect the app" busy_label="Asking GitHub…" />
                                        </ActionForm>
                                    </details>
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

/// Where issues go and when they are opened on their own.
#[component]
fn IssueSettingsForm(settings: IssueSettings) -> impl IntoView {
    let save = ServerAction::<SetGithubIssueSettings>::new();
    let saved: Outcome<IssueSettings> = save.value().into();
    view! {
        <ActionForm action=save attr:novalidate=true attr:class="stacked-form" attr:data-testid="github-issue-settings">
            <h3>"Issues"</h3>
            <p class="muted">"An incident's issue goes to its service's repository, else to the one below. It is commented on when the incident is resolved."</p>
            <Field outcome=saved name="repository" id="github-issue-repository" label="Repository for other incidents"
                value=settings.repository.clone().unwrap_or_default() hint="owner/repository; leave empty to open issues only for mapped services." />
            <fieldset class="field">
                <legend>"Open an issue on its own, once the agent diagnosed it, for"</legend>
                {Severity::ALL.map(|severity| view! {
                    <label class="checkbox">
                        <input type="checkbox" name=severity.as_str() checked=settings.severities.contains(&severity) />
                        <span>{format!("{} incidents", severity.as_str())}</span>
                    </label>
                }).collect_view()}
            </fieldset>
            <Field outcome=saved name="labels" id="github-issue-labels" label="Labels" value=settings.labels.join(", ")
                hint="Comma-separated; GitHub drops them when the token cannot label issues." />
            <label class="checkbox">
                <input type="checkbox" name="close_on_resolve" checked=settings.close_on_resolve />
                <span>"Close the issue when the incident is resolved"</span>
            </label>
            <FormError outcome=saved />
            {move || saved.get().and_then(Result::ok).map(|_| view! { <p class="notice" role="status">"Issue settings saved."</p> })}
            <SubmitButton pending=save.pending() label="Save issue settings" busy_label="Saving…" />
        </ActionForm>
    }
}
