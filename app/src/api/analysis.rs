//! The agent's work on an incident: its progress and analysis, and retrying an analysis
//! that failed.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::analysis::AgentProgress;
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
    crate::server::agent::retry(&auth, incident).await
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
    crate::server::agent::give_feedback(&auth, incident, right, correction.as_deref()).await
}
