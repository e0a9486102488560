//! `/settings/clusters`: the team's Kubernetes clusters. Everyone sees them (never
//! their credentials); admins add them from a kubeconfig (pasted or uploaded) or add the
//! demo cluster with one click, rename and remove them; the team's kill switch stops
//! every automatic action at once.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::clusters::{AddCluster, AddDemoCluster, RemoveCluster, RenameCluster, list_clusters, read_kubeconfig};
use crate::api::remediation::{SetAutomationPaused, get_automation_paused};
use crate::components::forms::{ConfirmButton, Field, FieldError, FormError, LoadError, Outcome, SubmitButton};
use crate::components::incident::When;
use crate::components::viewer::SignedIn;
use crate::domain::account::Permission;
use crate::domain::cluster::{ClusterView, KubeconfigContexts};

/// `/settings/clusters`.
#[component]
pub fn ClustersPage() -> impl IntoView {
    view! {
        <Title text="Clusters" />
        <SignedIn children=|viewer| view! { <Clusters can_manage=viewer.can(Permission::ManageClusters) /> } />
    }
}

#[component]
fn Clusters(can_manage: bool) -> impl IntoView {
    let add = ServerAction::<AddCluster>::new();
    let rename = ServerAction::<RenameCluster>::new();
    let remove = ServerAction::<RemoveCluster>::new();
    let demo = ServerAction::<AddDemoCluster>::new();
    let demo_outcome: Outcome<ClusterView> = demo.value().into();
    let rename_outcome: Outcome<()> = rename.value().into();
    let remove_outcome: Outcome<()> = remove.value().into();
    let clusters = Resource::new(
        move || (add.version().get(), rename.version().get(), remove.version().get(), demo.version().get()),
        |_| list_clusters(),
    );
    view! {
        <div class="page-header">
            <h1>"Clusters"</h1>
        </div>
        <p class="lead">"The Kubernetes clusters DreamOps reads context from when it diagnoses an incident."</p>
        // The clusters are read inside the boundary only: read outside it, the server
        // renders before they arrive and the browser after, and the page cannot hydrate.
        <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading clusters…"</p> }>
            {move || clusters.get().map(|result| {
                let has_demo = result.as_ref().is_ok_and(|list| list.iter().any(|c| c.demo));
                let offer = (can_manage && !has_demo).then(|| view! { <DemoOffer demo /> });
                let list = match result {
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted empty-state" data-testid="no-clusters">
                            {if can_manage { "No cluster yet: add one below from a kubeconfig." } else { "No cluster yet: an admin of the team adds them." }}
                        </p>
                    }.into_any(),
                    Ok(list) => view! { <ClusterTable list can_manage rename remove /> }.into_any(),
                    Err(error) => view! { <LoadError what="The clusters" error retry=move || clusters.refetch() /> }.into_any(),
                };
                view! { {offer} {list} }
            })}
        </Transition>
        <FormError outcome=demo_outcome />
        <FormError outcome=rename_outcome />
        <FormError outcome=remove_outcome />
        <KillSwitch can_manage />
        {can_manage.then(|| view! { <AddClusterForm add /> })}
    }
}

/// The team's kill switch: on, no automatic action is taken on any cluster (approvals
/// still work); off, clusters in autonomous mode act within their policy.
#[component]
fn KillSwitch(can_manage: bool) -> impl IntoView {
    let set = ServerAction::<SetAutomationPaused>::new();
    let outcome: Outcome<()> = set.value().into();
    let paused = Resource::new(move || set.version().get(), |_| get_automation_paused());
    view! {
        <section class="panel" aria-labelledby="kill-switch-title" data-testid="kill-switch">
            <h2 id="kill-switch-title">"Automatic actions"</h2>
            <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading…"</p> }>
                {move || paused.get().map(|result| match result {
                    Ok(paused) => view! {
                        <p data-testid="kill-switch-state">
                            {if paused {
                                "Paused: the agent takes no action by itself on any cluster. Approved actions still run."
                            } else {
                                "On: clusters in autonomous mode let the agent act within their policy."
                            }}
                        </p>
                        {can_manage.then(|| view! {
                            <ActionForm action=set attr:class="inline-form">
                                <input type="hidden" name="paused" value=(!paused).to_string() />
                                <SubmitButton
                                    pending=set.pending()
                                    label=if paused { "Resume automatic actions" } else { "Stop all automatic actions" }
                                    busy_label="Saving…"
                                />
                            </ActionForm>
                        })}
                    }.into_any(),
                    Err(error) => view! { <LoadError what="The kill switch" error retry=move || paused.refetch() /> }.into_any(),
                })}
            </Transition>
            <FormError outcome />
        </section>
    }
}

#[component]
fn ClusterTable(
    list: Vec<ClusterView>,
    can_manage: bool,
    rename: ServerAction<RenameCluster>,
    remove: ServerAction<RemoveCluster>,
) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="data-table" data-testid="clusters">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Server"</th>
                        <th scope="col">"Context"</th>
                        <th scope="col">"User"</th>
                        <th scope="col">"Namespace"</th>
                        <th scope="col">"Remediation"</th>
                        <th scope="col">"Added"</th>
                        {can_manage.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                    </tr>
                </thead>
                <tbody>
                    {list.into_iter().map(|cluster| {
                        let id = cluster.id;
                        let name = cluster.name.clone();
                        let question = format!("Remove the cluster {name}? Its saved credentials are deleted.");
                        view! {
                            <tr>
                                <td>
                                    <a href=format!("/settings/clusters/{id}")>{cluster.name.clone()}</a>
                                    {cluster.demo.then(|| view! { <span class="badge simulation">"simulation"</span> })}
                                </td>
                                <td><code>{cluster.server}</code></td>
                                <td>{cluster.context}</td>
                                <td>{cluster.user.unwrap_or_default()}</td>
                                <td>{cluster.namespace}</td>
                                <td>{cluster.policy.mode.name()}</td>
                                <td><When at=cluster.created_at /></td>
                                {can_manage.then(|| view! {
                                    <td class="button-row">
                                        <ActionForm action=rename attr:class="inline-form">
                                            <input type="hidden" name="id" value=id.to_string() />
                                            <label class="visually-hidden" for=format!("rename-{id}")>"New name"</label>
                                            <input id=format!("rename-{id}") type="text" name="name" value=name.clone() maxlength="100" />
                                            <button type="submit" class="button secondary small">"Rename"</button>
                                        </ActionForm>
                                        <ConfirmButton
                                            label="Remove"
                                            question=question.clone()
                                            on_confirm=move || { remove.dispatch(RemoveCluster { id }); }
                                        />
                                    </td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The one-click demo cluster, offered while the team has none.
#[component]
fn DemoOffer(demo: ServerAction<AddDemoCluster>) -> impl IntoView {
    view! {
        <section class="panel demo-offer" aria-labelledby="demo-title">
            <h2 id="demo-title">"Try the demo cluster"</h2>
            <p>
                "A simulated Kubernetes cluster built into DreamOps, with classic broken apps — a crash loop, a bad image tag, an OOM kill, a missing password, a service that selects nothing. DreamOps talks to it exactly as to a real cluster, and it reacts to fixes. Nothing outside DreamOps is touched."
            </p>
            <button
                type="button"
                class="button"
                disabled=move || demo.pending().get()
                on:click=move |_| { demo.dispatch(AddDemoCluster {}); }
            >
                {move || if demo.pending().get() { "Adding…" } else { "Add the demo cluster" }}
            </button>
        </section>
    }
}

/// Reads the file chosen in the input of `event` into `into`.
#[cfg(feature = "hydrate")]
fn read_upload(event: leptos::ev::Event, into: RwSignal<String>, problem: RwSignal<Option<String>>) {
    use wasm_bindgen::JsCast;
    let Some(input) = event.target().and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok()) else {
        return;
    };
    let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
    if file.size() > crate::domain::cluster::MAX_KUBECONFIG as f64 {
        problem.set(Some("The file is larger than 256 KB: that is not a kubeconfig.".into()));
        return;
    }
    leptos::task::spawn_local(async move {
        match wasm_bindgen_futures::JsFuture::from(file.text()).await.ok().and_then(|text| text.as_string()) {
            Some(text) => {
                problem.set(None);
                into.set(text);
            }
            None => problem.set(Some("The file could not be read.".into())),
        }
    });
}

#[cfg(not(feature = "hydrate"))]
fn read_upload(_: leptos::ev::Event, _: RwSignal<String>, _: RwSignal<Option<String>>) {}

/// Paste a kubeconfig, read its contexts, choose one (and a namespace), save it.
#[component]
fn AddClusterForm(add: ServerAction<AddCluster>) -> impl IntoView {
    let kubeconfig = RwSignal::new(String::new());
    let upload_problem = RwSignal::new(None::<String>);
    let read = Action::new(|text: &String| read_kubeconfig(text.clone()));
    let contexts = move || read.value().get().and_then(Result::ok);
    let outcome: Outcome<_> = add.value().into();
    let read_outcome: Outcome<KubeconfigContexts> = read.value().into();
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            kubeconfig.set(String::new());
        }
    });
    view! {
        <section class="panel" aria-labelledby="add-cluster-title">
            <h2 id="add-cluster-title">"Add a cluster"</h2>
            <p class="hint">
                "Paste a kubeconfig or upload the file. Its credentials are encrypted at rest and never shown again. Plugins (exec, auth-provider) and files on your machine are refused: use a service account token or a client certificate, inline."
            </p>
            <ActionForm action=add attr:novalidate=true attr:class="stacked-form">
                <div class="field">
                    <label for="kubeconfig">"Kubeconfig"</label>
                    <textarea
                        id="kubeconfig"
                        name="kubeconfig"
                        rows="10"
                        spellcheck="false"
                        class="mono"
                        prop:value=move || kubeconfig.get()
                        on:input=move |event| kubeconfig.set(event_target_value(&event))
                    ></textarea>
                    <label class="upload">
                        "or upload a file: "
                        <input
                            type="file"
                            accept=".yaml,.yml,.json,.conf,.config,text/plain"
                            data-testid="kubeconfig-file"
                            on:change=move |event| read_upload(event, kubeconfig, upload_problem)
                        />
                    </label>
                    {move || upload_problem.get().map(|problem| view! { <p class="field-error" role="alert">{problem}</p> })}
                    <FieldError outcome=read_outcome field="kubeconfig" />
                    <FieldError outcome field="kubeconfig" />
                </div>
                <button
                    type="button"
                    class="button secondary"
                    disabled=move || read.pending().get()
                    on:click=move |_| { read.dispatch(kubeconfig.get_untracked()); }
                >
                    {move || if read.pending().get() { "Reading…" } else { "Read contexts" }}
                </button>
                {move || contexts().map(|found| {
                    let current = found.current.clone();
                    view! {
                        <div class="field">
                            <label for="cluster-context">"Context"</label>
                            <select id="cluster-context" name="context">
                                {found.contexts.into_iter().map(|context| {
                                    let selected = current.as_deref() == Some(context.name.as_str());
                                    view! {
                                        <option value=context.name.clone() selected=selected>
                                            {format!("{} — {}{}", context.name, context.server, context.user.map(|u| format!(" as {u}")).unwrap_or_default())}
                                        </option>
                                    }
                                }).collect_view()}
                            </select>
                            <FieldError outcome field="context" />
                        </div>
                        <Field outcome name="namespace" id="cluster-namespace" label="Default namespace" placeholder="the context's, or default" />
                        <Field outcome name="name" id="cluster-name" label="Name" placeholder="production" maxlength=100 />
                        <FormError outcome />
                        <SubmitButton pending=add.pending() label="Add cluster" busy_label="Adding…" />
                    }
                })}
            </ActionForm>
        </section>
    }
}
