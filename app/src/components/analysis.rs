//! The incident page's analysis panel: the agent's progress while it works, then the
//! root cause, the evidence, the confidence and the recommended actions with their risk
//! — each with an Approve button for operators where the cluster's policy allows it —
//! and the actions taken, with their outcome.

use leptos::prelude::*;
use uuid::Uuid;

use crate::api::analysis::{GiveAnalysisFeedback, RetryAnalysis, get_agent_progress};
use crate::api::remediation::{ApproveAction, get_incident_actions};
use crate::components::forms::{FieldError, FormError, Outcome, SubmitButton};
use crate::components::incident::When;
use crate::components::live::LiveUpdates;
use crate::domain::analysis::{AgentProgress, AnalysisView, Change, Confidence, RecommendedAction, Risk};
use crate::domain::cluster::RemediationMode;
use crate::domain::remediation::{ActionState, ActionView, IncidentActions};

fn risk_class(risk: Risk) -> &'static str {
    match risk {
        Risk::Low => "badge risk-low",
        Risk::Medium => "badge risk-medium",
        Risk::High => "badge risk-high",
    }
}

fn risk_name(risk: Risk) -> &'static str {
    match risk {
        Risk::Low => "low risk",
        Risk::Medium => "medium risk",
        Risk::High => "high risk",
    }
}

/// The exact change an action makes, in words.
fn describe(change: &Change) -> Vec<String> {
    match change {
        Change::SetMemoryLimit { namespace, deployment, container, from, to } => vec![format!(
            "Patch deployment {namespace}/{deployment}: containers[{container}].resources.limits.memory {} → {to}",
            from.as_deref().unwrap_or("none")
        )],
        Change::RollBack { namespace, deployment, from_revision, to_revision, to_image } => vec![format!(
            "Deployment {namespace}/{deployment}: revision {from_revision} → {to_revision}{}",
            to_image.as_ref().map(|image| format!(" (image {image})")).unwrap_or_default()
        )],
        Change::Scale { namespace, deployment, from, to } => {
            vec![format!("Scale deployment {namespace}/{deployment}: {from} → {to} replicas")]
        }
        Change::RolloutRestart { namespace, deployment } => {
            vec![format!("kubectl rollout restart deployment/{deployment} -n {namespace}")]
        }
        Change::DeletePod { namespace, pod } => vec![format!("Delete pod {namespace}/{pod}")],
        Change::Manual { steps } => steps.clone(),
    }
}

/// A form of the panel that outlives the panel's refreshes (a live event rebuilds its
/// content): which one is open — for a list of them, its index — and the text typed.
#[derive(Clone, Copy)]
struct KeptForm {
    open: RwSignal<Option<usize>>,
    text: RwSignal<String>,
}

impl KeptForm {
    /// A closed form, closed and emptied again whenever `done` (its submission succeeded).
    fn closed_when(done: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        let form = KeptForm { open: RwSignal::new(None), text: RwSignal::new(String::new()) };
        Effect::new(move |_| {
            if done() {
                form.open.set(None);
                form.text.set(String::new());
            }
        });
        form
    }
}

/// Approving a recommended action: the server action and its form.
#[derive(Clone, Copy)]
struct Approval {
    action: ServerAction<ApproveAction>,
    form: KeptForm,
}

/// What the analysis panel shows and does, made where the page starts (outside any
/// loading boundary) so that its data is fetched alongside the incident's and survives
/// the incident's own refreshes.
#[derive(Clone, Copy)]
pub struct AnalysisData {
    id: Uuid,
    retry: ServerAction<RetryAnalysis>,
    feedback: ServerAction<GiveAnalysisFeedback>,
    approval: Approval,
    /// The "Wrong…" form of the feedback.
    correction: KeptForm,
    progress: Resource<Result<AgentProgress, crate::error::AppError>>,
    remediation: Resource<Result<IncidentActions, crate::error::AppError>>,
}

/// The analysis of incident `id`, refreshed on the page's live updates.
pub fn use_analysis(id: Uuid, live: LiveUpdates) -> AnalysisData {
    let retry = ServerAction::<RetryAnalysis>::new();
    let feedback = ServerAction::<GiveAnalysisFeedback>::new();
    let approve = ServerAction::<ApproveAction>::new();
    let approval =
        Approval { action: approve, form: KeptForm::closed_when(move || matches!(approve.value().get(), Some(Ok(_)))) };
    let correction = KeptForm::closed_when(move || matches!(feedback.value().get(), Some(Ok(()))));
    let progress = Resource::new(
        move || (live.version.get(), retry.version().get(), feedback.version().get()),
        move |_| get_agent_progress(id),
    );
    let remediation =
        Resource::new(move || (live.version.get(), approval.action.version().get()), move |_| get_incident_actions(id));
    AnalysisData { id, retry, feedback, approval, correction, progress, remediation }
}

/// The analysis panel.
///
/// One `Transition` reads both the agent's progress and the actions (a boundary of its
/// own for the actions, nested in this one, would only repeat the waiting).
#[component]
pub fn AnalysisPanel(data: AnalysisData, can_respond: bool) -> impl IntoView {
    let AnalysisData { id, retry, feedback, approval, correction, progress, remediation } = data;
    let retry_outcome: Outcome<()> = retry.value().into();
    let approve_outcome: Outcome<ActionView> = approval.action.value().into();
    view! {
        <section class="panel analysis" aria-labelledby="analysis-title" data-testid="analysis">
            <h2 id="analysis-title">"Analysis"</h2>
            <Transition fallback=|| view! { <p class="muted" aria-busy="true">"Loading the analysis…"</p> }>
                {move || {
                    let progress = progress.get()?;
                    // Without the actions (they failed to load) the analysis still shows.
                    let remediation = remediation.get()?.ok();
                    Some(match progress {
                        Ok(AgentProgress::Done(analysis)) => view! {
                            <Analysis analysis=*analysis.clone() id remediation=remediation.clone() approval />
                            <FormError outcome=approve_outcome />
                            {remediation.map(|r| view! { <ActionsTaken actions=r.actions /> })}
                            <FeedbackForm id can_respond feedback correction given=analysis.feedback.clone() />
                        }.into_any(),
                        Ok(AgentProgress::NotQueued) => view! {
                            <p class="muted">"Not analysed: held over the plan's alert quota, or not yet queued."</p>
                        }.into_any(),
                        Ok(AgentProgress::Queued { attempts }) => view! {
                            <p class="muted" aria-busy="true" data-testid="analysis-progress">
                                {if attempts == 0 { "Queued: the agent starts on it shortly…".to_string() } else { format!("Queued to try again (attempt {} failed)…", attempts) }}
                            </p>
                        }.into_any(),
                        Ok(AgentProgress::Working) => view! {
                            <p class="muted" aria-busy="true" data-testid="analysis-progress">"The agent is reading the cluster — its steps appear on the timeline as it goes…"</p>
                        }.into_any(),
                        Ok(AgentProgress::Failed { error, attempts }) => view! {
                            <div class="form-error" role="alert" data-testid="analysis-failed">
                                <p>{format!("The analysis failed after {attempts} attempts: {error}")}</p>
                                {can_respond.then(|| view! {
                                    <button type="button" class="button secondary small" disabled=move || retry.pending().get()
                                        on:click=move |_| { retry.dispatch(RetryAnalysis { incident: id }); }>
                                        "Retry the analysis"
                                    </button>
                                })}
                            </div>
                        }.into_any(),
                        Err(error) => view! { <p class="form-error" role="alert">{format!("The analysis could not be loaded: {error}")}</p> }.into_any(),
                    })
                }}
            </Transition>
            <FormError outcome=retry_outcome />
        </section>
    }
}

#[component]
fn Analysis(
    analysis: AnalysisView,
    id: Uuid,
    remediation: Option<IncidentActions>,
    approval: Approval,
) -> impl IntoView {
    let confidence = match analysis.confidence {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    };
    let seconds = analysis.diagnosed_after_ms as f64 / 1000.0;
    // An Approve button where the responder may approve and the action is not already
    // waiting, running or done.
    let approvable = |index: usize, action: &RecommendedAction| {
        !matches!(action.change, Change::Manual { .. })
            && remediation.as_ref().is_some_and(|r| {
                r.can_approve
                    && !r.actions.iter().any(|a| {
                        a.action_index == index as i32
                            && matches!(a.state, ActionState::Intended | ActionState::Executing | ActionState::Verified)
                    })
            })
    };
    let items = analysis
        .actions
        .into_iter()
        .enumerate()
        .map(|(index, action)| {
            let approvable = approvable(index, &action);
            view! { <ActionItem action index id approvable approval /> }
        })
        .collect_view();
    view! {
        <p class="family">{analysis.family.label()} {analysis.workload.clone().map(|w| view! { <span class="muted">" · " <code>{w}</code></span> })}</p>
        <p class="root-cause" data-testid="root-cause"><strong>{analysis.root_cause.clone()}</strong></p>
        <p class="muted">
            {format!("Confidence: {confidence} · diagnosed {seconds:.1} s after the first alert · ")}
            {match &analysis.llm_model {
                Some(model) => format!("with {model}"),
                None => "by DreamOps' deterministic rules (no LLM)".to_string(),
            }}
        </p>
        <h3>"Evidence"</h3>
        <ul class="evidence" data-testid="evidence">
            {analysis.evidence.into_iter().map(|e| view! { <li><span class="muted">{e.source}": "</span><code>{e.line}</code></li> }).collect_view()}
        </ul>
        <h3>"Recommended actions"</h3>
        {remediation.as_ref().and_then(mode_notice)}
        <ol class="actions" data-testid="recommended-actions">{items}</ol>
        {analysis.llm_answer.map(|answer| view! {
            <h3>"LLM analysis"</h3>
            <p class="llm-answer">{answer}</p>
        })}
    }
}

/// What the cluster's remediation mode means for these actions.
fn mode_notice(remediation: &IncidentActions) -> Option<impl IntoView + use<>> {
    let text = match remediation.mode? {
        RemediationMode::ReadOnly => "The cluster is read-only: DreamOps recommends and never acts there.",
        RemediationMode::Approve => {
            "Approve mode: an operator approves each action; the agent carries it out and verifies it."
        }
        RemediationMode::Autonomous if remediation.automation_paused => {
            "Autonomous mode, paused by the team's kill switch: actions need an approval."
        }
        RemediationMode::Autonomous => {
            "Autonomous mode: the agent carries out actions within the cluster's policy by itself; others need an approval."
        }
    };
    Some(view! { <p class="muted" data-testid="remediation-mode">{text}</p> })
}

#[component]
fn ActionItem(
    action: RecommendedAction,
    index: usize,
    id: Uuid,
    approvable: bool,
    approval: Approval,
) -> impl IntoView {
    let manual = matches!(action.change, Change::Manual { .. });
    let confirming = move || approval.form.open.get() == Some(index);
    let question = StoredValue::new(format!("Approve \"{}\"?", action.title));
    let command = StoredValue::new(action.change.command());
    view! {
        <li data-testid="recommended-action">
            <p>
                {action.title.clone()} " "
                {(!manual).then(|| view! {
                    <span class=risk_class(action.risk)>{risk_name(action.risk)}</span>
                    <span class="badge">{if action.reversible { "reversible" } else { "not reversible" }}</span>
                })}
                {manual.then(|| view! { <span class="badge">"by hand"</span> })}
            </p>
            <ul class="change">
                {describe(&action.change).into_iter().map(|line| view! { <li><code>{line}</code></li> }).collect_view()}
            </ul>
            <Show when=move || approvable && !confirming()>
                <button type="button" class="button small" on:click=move |_| approval.form.open.set(Some(index))>"Approve…"</button>
            </Show>
            <Show when=move || approvable && confirming()>
                <ActionForm action=approval.action attr:class="stacked-form confirm" attr:data-testid="approve-form">
                    <input type="hidden" name="incident" value=id.to_string() />
                    <input type="hidden" name="index" value=index.to_string() />
                    <p><strong>{question.get_value()}</strong> " DreamOps will make this change, watch the workload recover, and undo it if it does not."</p>
                    {command.get_value().map(|command| view! { <pre class="command"><code>{command}</code></pre> })}
                    <div class="field">
                        <label for=format!("approve-comment-{index}")>"Comment (optional)"</label>
                        <textarea id=format!("approve-comment-{index}") name="comment" rows="2" maxlength="1000"
                            bind:value=approval.form.text></textarea>
                    </div>
                    <div class="button-row">
                        <SubmitButton pending=approval.action.pending() label="Approve and run" busy_label="Approving…" />
                        <button type="button" class="button secondary" on:click=move |_| approval.form.open.set(None)>"Cancel"</button>
                    </div>
                </ActionForm>
            </Show>
        </li>
    }
}

fn state_class(state: ActionState) -> &'static str {
    match state {
        ActionState::Verified => "badge status-resolved",
        ActionState::Intended | ActionState::Executing => "badge status-acknowledged",
        _ => "badge status-triggered",
    }
}

/// The actions taken on the incident, newest last, with their outcome.
#[component]
fn ActionsTaken(actions: Vec<ActionView>) -> impl IntoView {
    (!actions.is_empty()).then(|| {
        view! {
            <h3>"Actions taken"</h3>
            <ul class="actions-taken" data-testid="actions-taken">
                {actions.into_iter().map(|a| view! {
                    <li data-testid="action-taken" data-state=a.state.as_str()>
                        <p>
                            <span class=state_class(a.state)>{a.state.label()}</span> " " {a.title.clone()}
                            <span class="muted">
                                {if a.automatic { " · automatically, by the agent".to_string() } else { format!(" · approved by {}", a.requested_by) }}
                                " · " <When at=a.created_at />
                            </span>
                        </p>
                        {a.comment.map(|c| view! { <p class="muted">"“" {c} "”"</p> })}
                        {a.outcome.map(|o| view! { <p data-testid="action-outcome">{o}</p> })}
                    </li>
                }).collect_view()}
            </ul>
        }
    })
}

/// "Was this analysis right?" for responders; the verdict given, for everyone.
#[component]
fn FeedbackForm(
    id: Uuid,
    can_respond: bool,
    feedback: ServerAction<GiveAnalysisFeedback>,
    correction: KeptForm,
    given: Option<crate::domain::analysis::Feedback>,
) -> impl IntoView {
    let outcome: Outcome<()> = feedback.value().into();
    let wrong = move || correction.open.get().is_some();
    view! {
        <div class="feedback" data-testid="feedback">
            {given.map(|given| view! {
                <p class="muted" data-testid="feedback-given">
                    {if given.right { "Marked right" } else { "Marked wrong" }} " by " {given.given_by} " " <When at=given.given_at />
                    {given.correction.map(|c| view! { <span>" — really: " {c}</span> })}
                </p>
            })}
            {can_respond.then(|| view! {
                <div class="button-row">
                    <span>"Was this analysis right?"</span>
                    <ActionForm action=feedback attr:class="inline-form">
                        <input type="hidden" name="incident" value=id.to_string() />
                        <input type="hidden" name="right" value="true" />
                        <button type="submit" class="button secondary small">"Right"</button>
                    </ActionForm>
                    <button type="button" class="button secondary small" on:click=move |_| correction.open.set(Some(0))>"Wrong…"</button>
                </div>
                <Show when=wrong>
                    <ActionForm action=feedback attr:class="stacked-form">
                        <input type="hidden" name="incident" value=id.to_string() />
                        <input type="hidden" name="right" value="false" />
                        <div class="field">
                            <label for="correction">"What was the cause really? (optional)"</label>
                            <textarea id="correction" name="correction" rows="3" maxlength="2000" bind:value=correction.text></textarea>
                            <FieldError outcome field="correction" />
                        </div>
                        <SubmitButton pending=feedback.pending() label="Mark wrong" busy_label="Saving…" />
                    </ActionForm>
                </Show>
                <FormError outcome />
            })}
        </div>
    }
}
