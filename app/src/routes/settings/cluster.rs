//! `/settings/clusters/:id`: one cluster — its connection test with the permission
//! matrix, its overview (nodes, namespaces, what is unhealthy), its remediation policy,
//! and for the demo cluster the "simulate failure" panel.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use crate::api::clusters::{
    ResetDemoCluster, SetClusterPolicy, get_cluster, get_cluster_overview, simulate_failure, test_cluster_connection,
};
use crate::components::forms::{ConfirmButton, FieldError, FormError, LoadError, Outcome, SubmitButton};
use crate::components::incident::When;
use crate::components::viewer::SignedIn;
use crate::domain::account::Permission;
use crate::domain::analysis::Risk;
use crate::domain::cluster::{
    ClusterOverview, ClusterView, ConnectionReport, Finding, RemediationMode, SimulatedFailure,
};
use crate::routes::not_found::NotFound;

/// `/settings/clusters/:id`; an address whose id is not a cluster id is the 404 page.
#[component]
pub fn ClusterPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|id| id.parse::<Uuid>().ok())));
    move || {
        match id.get() {
        Some(id) => view! {
            <Title text="Cluster" />
            <SignedIn children=move |viewer| view! { <Cluster id can_manage=viewer.can(Permission::ManageClusters) /> } />
        }
        .into_any(),
        None => view! { <NotFound /> }.into_any(),
    }
    }
}

#[component]
fn Cluster(id: Uuid, can_manage: bool) -> impl IntoView {
    let policy = ServerAction::<SetClusterPolicy>::new();
    let cluster = Resource::new(move || policy.version().get(), move |_| get_cluster(id));
    let overview = Action::new(move |_: &()| get_cluster_overview(id));
    Effect::new(move |_| {
        overview.dispatch(());
    });
    view! {
        <p class="breadcrumb"><a href="/settings/clusters">"← Clusters"</a></p>
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading the cluster…"</p> }>
            {move || cluster.get().map(|result| match result {
                Ok(found) => view! {
                    <ClusterHeader cluster=found.clone() />
                    <ConnectionTest id />
                    <Overview overview />
                    <PolicyPanel cluster=found.clone() can_manage policy />
                    {(found.demo && can_manage).then(|| view! { <SimulatePanel id overview /> })}
                }.into_any(),
                Err(crate::error::AppError::NotFound) => view! { <NotFound /> }.into_any(),
                Err(error) => view! { <LoadError what="The cluster" error retry=move || cluster.refetch() /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn ClusterHeader(cluster: ClusterView) -> impl IntoView {
    view! {
        <div class="page-header">
            <h1>{cluster.name.clone()}</h1>
            {cluster.demo.then(|| view! { <span class="badge simulation">"simulation"</span> })}
        </div>
        {cluster.demo.then(|| view! {
            <p class="notice" data-testid="simulation-notice">
                "This is the demo cluster: a Kubernetes API simulated inside DreamOps for your team alone. Its apps, pods and events are not real; everything DreamOps does to it uses the real Kubernetes API, and it reacts the way a cluster would."
            </p>
        })}
        <dl class="facts">
            <div><dt>"Server"</dt><dd><code>{cluster.server.clone()}</code></dd></div>
            <div><dt>"Context"</dt><dd>{cluster.context.clone()}</dd></div>
            <div><dt>"User"</dt><dd>{cluster.user.clone().unwrap_or_default()}</dd></div>
            <div><dt>"Default namespace"</dt><dd>{cluster.namespace.clone()}</dd></div>
            <div><dt>"Added"</dt><dd><When at=cluster.created_at /></dd></div>
        </dl>
    }
}

#[component]
fn ConnectionTest(id: Uuid) -> impl IntoView {
    let test = Action::new(move |_: &()| test_cluster_connection(id));
    let outcome: Outcome<ConnectionReport> = test.value().into();
    view! {
        <section class="panel" aria-labelledby="connection-title">
            <div class="panel-header">
                <h2 id="connection-title">"Connection"</h2>
                <button type="button" class="button secondary" disabled=move || test.pending().get() on:click=move |_| { test.dispatch(()); }>
                    {move || if test.pending().get() { "Testing…" } else { "Test connection" }}
                </button>
            </div>
            <p class="hint">"Reads the server's version and namespaces, and asks the cluster which of the agent's actions its credentials allow. Gives up after 10 seconds."</p>
            <FormError outcome />
            {move || test.value().get().and_then(Result::ok).map(|report| view! { <ConnectionResult report /> })}
        </section>
    }
}

#[component]
fn ConnectionResult(report: ConnectionReport) -> impl IntoView {
    let missing = report.permissions.iter().filter(|check| check.allowed != Some(true)).count();
    let summary = match (&report.error, missing) {
        (Some(error), _) => format!("Failed after {} ms: {error}", report.elapsed_ms),
        (None, 0) => format!("Connected in {} ms: every permission the agent needs is granted.", report.elapsed_ms),
        (None, missing) => format!(
            "Connected in {} ms, but {missing} permission(s) are missing: grant them with the commands below.",
            report.elapsed_ms
        ),
    };
    let ok = report.error.is_none() && missing == 0;
    view! {
        <p class=if ok { "result ok" } else { "result problem" } role="status" data-testid="connection-summary">{summary}</p>
        {report.version.clone().map(|version| view! {
            <p>"Kubernetes " <strong data-testid="cluster-version">{version}</strong> {format!(" · {} namespaces: {}", report.namespaces.len(), report.namespaces.join(", "))}</p>
        })}
        {(!report.permissions.is_empty()).then(|| view! {
            <div class="table-scroll">
                <table class="data-table permissions" data-testid="permissions">
                    <thead><tr><th scope="col">"Capability"</th><th scope="col">"Rule"</th><th scope="col">"Allowed"</th></tr></thead>
                    <tbody>
                        {report.permissions.into_iter().map(|check| {
                            let (mark, label, class) = match check.allowed {
                                Some(true) => ("✓", "allowed", "check yes"),
                                Some(false) => ("✗", "missing", "check no"),
                                None => ("?", "could not be checked", "check unknown"),
                            };
                            view! {
                                <tr>
                                    <td>{check.capability}</td>
                                    <td><code>{check.rule}</code></td>
                                    <td>
                                        <span class=class aria-label=label title=label>{mark}</span>
                                        {(!check.grant.is_empty()).then(|| view! { <pre class="grant">{check.grant}</pre> })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        })}
    }
}

#[component]
fn Overview(overview: Action<(), Result<ClusterOverview, crate::error::AppError>>) -> impl IntoView {
    let outcome: Outcome<ClusterOverview> = overview.value().into();
    view! {
        <section class="panel" aria-labelledby="overview-title">
            <div class="panel-header">
                <h2 id="overview-title">"Overview"</h2>
                <button type="button" class="button secondary" disabled=move || overview.pending().get() on:click=move |_| { overview.dispatch(()); }>
                    {move || if overview.pending().get() { "Reading…" } else { "Refresh" }}
                </button>
            </div>
            <FormError outcome />
            {move || match overview.value().get() {
                None => view! { <p class="muted" aria-busy="true">"Reading the cluster…"</p> }.into_any(),
                Some(Ok(found)) => view! { <OverviewBody overview=found /> }.into_any(),
                Some(Err(_)) => ().into_any(),
            }}
        </section>
    }
}

#[component]
fn OverviewBody(overview: ClusterOverview) -> impl IntoView {
    let problems = overview.crash_looping.len()
        + overview.pending.len()
        + overview.oom_killed.len()
        + overview.image_pull_failing.len()
        + overview.unavailable_deployments.len()
        + overview.services_without_endpoints.len();
    let groups = [
        ("Pods crash-looping", overview.crash_looping),
        ("Pods pending", overview.pending),
        ("Pods OOM-killed", overview.oom_killed),
        ("Pods failing to pull their image", overview.image_pull_failing),
        ("Deployments short of replicas or scaled to zero", overview.unavailable_deployments),
        ("Services without endpoints", overview.services_without_endpoints),
    ];
    view! {
        <p data-testid="overview-summary">
            {format!("Kubernetes {} · {} nodes · {} namespaces · {} pods · ", overview.version, overview.nodes.len(), overview.namespaces.len(), overview.pods)}
            {if problems == 0 { "nothing unhealthy".to_string() } else { format!("{problems} findings") }}
            " · read " <When at=overview.read_at />
        </p>
        <h3>"Nodes"</h3>
        <div class="table-scroll">
            <table class="data-table" data-testid="nodes">
                <thead><tr><th scope="col">"Node"</th><th scope="col">"Ready"</th><th scope="col">"Kubelet"</th><th scope="col">"Problems"</th></tr></thead>
                <tbody>
                    {overview.nodes.into_iter().map(|node| view! {
                        <tr>
                            <td>{node.name}</td>
                            <td>{if node.ready { view! { <span class="check yes">"Ready"</span> } } else { view! { <span class="check no">"NotReady"</span> } }}</td>
                            <td>{node.version}</td>
                            <td>{if node.problems.is_empty() { "none".to_string() } else { node.problems.join(", ") }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <p class="muted">{format!("Namespaces: {}", overview.namespaces.join(", "))}</p>
        <h3>"Health"</h3>
        <div class="health-grid" data-testid="health">
            {groups.into_iter().map(|(title, findings)| view! { <HealthGroup title findings /> }).collect_view()}
        </div>
    }
}

#[component]
fn HealthGroup(title: &'static str, findings: Vec<Finding>) -> impl IntoView {
    let count = findings.len();
    view! {
        <section class=if count == 0 { "health-group clear" } else { "health-group unhealthy" } aria-label=title>
            <h4>{title} <span class="count">{count}</span></h4>
            {if findings.is_empty() {
                view! { <p class="muted">"None."</p> }.into_any()
            } else {
                view! {
                    <ul>
                        {findings.into_iter().map(|finding| view! {
                            <li><strong>{format!("{}/{}", finding.namespace, finding.name)}</strong>" — "{finding.detail}</li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn PolicyPanel(cluster: ClusterView, can_manage: bool, policy: ServerAction<SetClusterPolicy>) -> impl IntoView {
    let outcome: Outcome<ClusterView> = policy.value().into();
    let current = cluster.policy.clone();
    let saved = move || matches!(policy.value().get(), Some(Ok(_)));
    view! {
        <section class="panel" aria-labelledby="policy-title">
            <h2 id="policy-title">"Remediation policy"</h2>
            <p class="hint">"What DreamOps may do in this cluster when it has diagnosed an incident. High-risk actions always wait for approval."</p>
            {if can_manage {
                view! {
                    <ActionForm action=policy attr:class="stacked-form" attr:novalidate=true>
                        <input type="hidden" name="id" value=cluster.id.to_string() />
                        <fieldset>
                            <legend>"Mode"</legend>
                            {RemediationMode::ALL.into_iter().map(|mode| view! {
                                <label class="choice">
                                    <input type="radio" name="mode" value=mode.as_str() checked=current.mode == mode />
                                    {mode.label()}
                                </label>
                            }).collect_view()}
                            <FieldError outcome field="mode" />
                        </fieldset>
                        <div class="field">
                            <label for="max-risk">"Highest risk autonomous mode may take"</label>
                            <select id="max-risk" name="max_autonomous_risk">
                                {Risk::ALL.into_iter().map(|risk| view! { <option value=risk.as_str() selected=current.max_autonomous_risk == risk>{risk.as_str()}</option> }).collect_view()}
                            </select>
                            <FieldError outcome field="max_autonomous_risk" />
                        </div>
                        <div class="field">
                            <label for="excluded">"Namespaces excluded from every action"</label>
                            <input id="excluded" type="text" name="excluded_namespaces" value=current.excluded_namespaces.join(", ") placeholder="kube-system" />
                            <p class="hint">"Separated by commas."</p>
                            <FieldError outcome field="excluded_namespaces" />
                        </div>
                        <label class="choice">
                            <input type="checkbox" name="destructive_allowed" checked=current.destructive_allowed />
                            "Allow destructive operations (deleting pods)"
                        </label>
                        <FormError outcome />
                        {move || saved().then(|| view! { <p class="result ok" role="status">"Policy saved."</p> })}
                        <SubmitButton pending=policy.pending() label="Save policy" busy_label="Saving…" />
                    </ActionForm>
                }.into_any()
            } else {
                view! {
                    <dl class="facts" data-testid="policy">
                        <div><dt>"Mode"</dt><dd>{current.mode.name()}</dd></div>
                        <div><dt>"Highest autonomous risk"</dt><dd>{current.max_autonomous_risk.as_str()}</dd></div>
                        <div><dt>"Excluded namespaces"</dt><dd>{current.excluded_namespaces.join(", ")}</dd></div>
                        <div><dt>"Destructive operations"</dt><dd>{if current.destructive_allowed { "allowed" } else { "off" }}</dd></div>
                    </dl>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn SimulatePanel(id: Uuid, overview: Action<(), Result<ClusterOverview, crate::error::AppError>>) -> impl IntoView {
    let simulate = Action::new(move |failure: &SimulatedFailure| simulate_failure(id, *failure));
    let reset = ServerAction::<ResetDemoCluster>::new();
    let outcome: Outcome<String> = simulate.value().into();
    let reset_outcome: Outcome<()> = reset.value().into();
    Effect::new(move |_| {
        if matches!(simulate.value().get(), Some(Ok(_))) || matches!(reset.value().get(), Some(Ok(_))) {
            overview.dispatch(());
        }
    });
    view! {
        <section class="panel" aria-labelledby="simulate-title">
            <h2 id="simulate-title">"Simulate a failure"</h2>
            <p class="hint">"Breaks healthy-app the way real releases break, then sends the matching alert to your own Alertmanager endpoint — it becomes an incident like any other and counts against your plan's alerts."</p>
            <div class="failure-grid">
                {SimulatedFailure::ALL.into_iter().map(|failure| view! {
                    <div class="failure">
                        <button type="button" class="button secondary" disabled=move || simulate.pending().get() on:click=move |_| { simulate.dispatch(failure); }>
                            {failure.label()}
                        </button>
                        <p class="hint">{failure.description()}</p>
                    </div>
                }).collect_view()}
            </div>
            {move || simulate.pending().get().then(|| view! { <p class="muted" aria-busy="true">"Breaking things…"</p> })}
            {move || simulate.value().get().and_then(Result::ok).map(|message| view! { <p class="result ok" role="status" data-testid="simulate-result">{message}</p> })}
            <FormError outcome />
            <div class="button-row">
                <ConfirmButton
                    label="Reset the demo cluster"
                    question="Put the demo cluster back as it started? Every change to it is undone.".to_string()
                    on_confirm=move || { reset.dispatch(ResetDemoCluster { id }); }
                />
            </div>
            <FormError outcome=reset_outcome />
        </section>
    }
}
