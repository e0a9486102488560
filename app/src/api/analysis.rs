//! The agent's work on an incident: its progress and analysis, and retrying an analysis
//! that failed.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::analysis::{AgentProgress, LlmView};
use crate::error::AppError;

/// Where the agent is with an incident, with its analysis when done.
#[server(prefix = "/api", endpoint = "get_agent_progress", input = GetUrl)]
pub async fn get_agent_progress(incident: Uuid) -> Result<AgentProgress, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::agent::progress(&auth.request.state.db, auth.team_id(), incident).await
}

/// Queues a failed analysis again.
#[server(prefix = "/api", endpoint = "retry_analysis")]
pub async fn retry_analysis(incident: Uuid) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    crate::server::agent::retry(auth.state(), &auth.acting, incident).await
}

/// Marks an analysis right or wrong (with what the cause really was).
#[server(prefix = "/api", endpoint = "give_analysis_feedback")]
pub async fn give_analysis_feedback(
    incident: Uuid,
    right: bool,
    #[server(default)] correction: Option<String>,
) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    crate::server::agent::give_feedback(auth.state(), &auth.acting, incident, right, correction.as_deref()).await
}

/// How the team's analyses use LLMs: the deployment's providers, the team's own, the
/// tokens used this month.
#[server(prefix = "/api", endpoint = "get_llm_settings", input = GetUrl)]
pub async fn get_llm_settings() -> Result<LlmView, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::agent::team_llm::view(&auth.request.state, auth.team_id()).await
}

/// Saves the team's own LLM provider (a blank key keeps the saved one).
#[server(prefix = "/api", endpoint = "set_team_llm")]
pub async fn set_team_llm(
    kind: String,
    base_url: String,
    model: String,
    #[server(default)] key: String,
) -> Result<LlmView, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::agent::team_llm::set(auth.state(), &auth.acting, &kind, &base_url, &model, &key).await
}

/// Removes the team's own LLM provider and its key.
#[server(prefix = "/api", endpoint = "remove_team_llm")]
pub async fn remove_team_llm() -> Result<LlmView, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::agent::team_llm::remove(auth.state(), &auth.acting).await
}
