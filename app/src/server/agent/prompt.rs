//! Asking an LLM for its view beside the deterministic analysis: the prompt (redacted),
//! the providers tried in order within the team's budget, the answer stored.

use super::*;

/// What the LLM is told: the incident, what the cluster showed, the deterministic
/// diagnosis (redacted by the caller).
pub(super) fn prompt(
    facts: &IncidentFacts,
    diagnosis: &Diagnosis,
    context: Option<&context::ClusterContext>,
    runbook: Option<&MatchedRunbook>,
) -> String {
    let mut prompt = format!("Incident: {}\n", facts.title);
    if !facts.description.is_empty() {
        prompt.push_str(&format!("Description: {}\n", facts.description));
    }
    let details = facts.details.to_string();
    prompt.push_str(&format!("Alert details: {}\n", details.chars().take(2000).collect::<String>()));
    if let Some(context) = context {
        prompt.push_str("\nWhat the cluster shows:\n");
        for pod in context.pods.iter().take(10) {
            let status = pod.status.clone().unwrap_or_default();
            let containers: Vec<String> = status
                .container_statuses
                .iter()
                .flatten()
                .map(|c| {
                    let waiting = c
                        .state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.clone())
                        .unwrap_or_default();
                    let last = c
                        .last_state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .map(|t| format!(", last exit {} {}", t.exit_code, t.reason.clone().unwrap_or_default()))
                        .unwrap_or_default();
                    format!("{} ready={} restarts={} {waiting}{last}", c.name, c.ready, c.restart_count)
                })
                .collect();
            prompt.push_str(&format!(
                "- pod {} phase {}: {}\n",
                pod.metadata.name.clone().unwrap_or_default(),
                status.phase.unwrap_or_default(),
                containers.join("; ")
            ));
        }
        if let Some(log) = context.previous_log.as_ref().or(context.current_log.as_ref()) {
            let lines: Vec<&str> = log.lines().collect();
            prompt.push_str(&format!("Log tail:\n{}\n", lines[lines.len().saturating_sub(20)..].join("\n")));
        }
        for event in context.events.iter().filter(|e| e.type_.as_deref() == Some("Warning")).take(10) {
            prompt.push_str(&format!(
                "- event {}: {}\n",
                event.reason.clone().unwrap_or_default(),
                event.message.clone().unwrap_or_default()
            ));
        }
    }
    prompt.push_str(&format!(
        "\nDeterministic diagnosis ({} confidence): {}\nEvidence:\n",
        diagnosis.confidence.as_str(),
        diagnosis.root_cause
    ));
    for evidence in &diagnosis.evidence {
        prompt.push_str(&format!("- {}: {}\n", evidence.source, evidence.line));
    }
    prompt.push_str("Recommended actions:\n");
    for action in &diagnosis.actions {
        prompt.push_str(&format!("- {}\n", action.title));
    }
    if let Some(runbook) = runbook {
        let text: String = runbook.body.chars().take(RUNBOOK_IN_PROMPT).collect();
        prompt.push_str(&format!(
            "\nThe team's runbook for this incident, \"{}\" (matched by {}):\n{text}\n",
            runbook.title, runbook.matched_by
        ));
    }
    prompt
}

/// How much of a runbook the LLM is given, in characters.
const RUNBOOK_IN_PROMPT: usize = 4000;

/// The team's runbook matched to the incident being analysed.
pub(super) struct MatchedRunbook {
    pub title: String,
    pub version: i32,
    pub matched_by: String,
    pub body: String,
}

impl MatchedRunbook {
    /// The evidence that quotes it: its first steps.
    pub fn evidence(&self) -> crate::domain::analysis::Evidence {
        let steps = crate::server::runbooks::steps(&self.body);
        let mut line = format!("matched by {}", self.matched_by);
        if !steps.is_empty() {
            let first: Vec<String> = steps.iter().take(5).zip(1..).map(|(step, n)| format!("{n}. {step}")).collect();
            line.push_str(&format!("; its steps: {}", first.join(" ")));
            if steps.len() > 5 {
                line.push_str(&format!(" (and {} more)", steps.len() - 5));
            }
        }
        let line: String = line.chars().take(600).collect();
        crate::domain::analysis::Evidence {
            source: format!("runbook \"{}\" (version {})", self.title, self.version),
            line,
        }
    }
}

/// Asks the LLMs (the team's own first, then the deployment's) about the incident
/// within the team's monthly budget, and stores the answer beside the deterministic
/// analysis. Never fails the job: the deterministic analysis stands on its own.
pub(super) async fn consult(state: &AppState, team: Uuid, incident: Uuid, prompt: &str) {
    let settings = &state.settings.agent.llm;
    let used: i64 = sqlx::query_scalar("select coalesce((select tokens from llm_usage where team_id = $1 and month = date_trunc('month', now())::date), 0)")
        .bind(team)
        .fetch_one(&state.db)
        .await
        .unwrap_or(0);
    if used >= settings.monthly_tokens {
        note(
            state,
            team,
            incident,
            "agent.step",
            "The team's LLM budget for this month is spent: the deterministic analysis stands alone.",
        )
        .await;
        return;
    }
    let mut providers: Vec<Provider> = match team_llm::provider(state, team).await {
        Ok(own) => own.into_iter().collect(),
        Err(error) => {
            tracing::warn!(%error, "the team's LLM provider cannot be used");
            Vec::new()
        }
    };
    providers.extend(settings.providers.iter().cloned());
    match llm::ask(&state.settings.outbound.policy(), &providers, prompt, settings.timeout).await {
        Ok(answer) => {
            let stored = async {
                let mut tx = state.db.begin().await?;
                sqlx::query("update analyses set llm_model = $2, llm_answer = $3 where incident_id = $1")
                    .bind(incident)
                    .bind(&answer.model)
                    .bind(&answer.text)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "insert into llm_usage (team_id, month, tokens) values ($1, date_trunc('month', now())::date, $2)
                     on conflict (team_id, month) do update set tokens = llm_usage.tokens + excluded.tokens",
                )
                .bind(team)
                .bind(answer.tokens)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            };
            match stored.await {
                Ok(()) => {
                    note(
                        state,
                        team,
                        incident,
                        "agent.step",
                        &format!("{} added its analysis ({} tokens).", answer.model, answer.tokens),
                    )
                    .await;
                    state.live.publish(team, [LiveEvent::new(LiveKind::AnalysisReady, incident)]);
                }
                Err(error) => tracing::warn!(%error, "storing an LLM answer failed"),
            }
        }
        Err(error) => {
            note(
                state,
                team,
                incident,
                "agent.step",
                &format!("No LLM analysis: {error}. The deterministic analysis stands alone."),
            )
            .await
        }
    }
}
