//! Remediation: the actions on an incident, an operator's approval of a recommended
//! action, and the team's kill switch for automatic actions.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::remediation::{ActionView, IncidentActions};
use crate::error::AppError;

/// The actions on an incident, and whether the signed-in responder may approve more.
#[server(prefix = "/api", endpoint = "get_incident_actions", input = GetUrl)]
pub async fn get_incident_actions(incident: Uuid) -> Result<IncidentActions, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::remediation::incident_actions(auth.state(), &auth.acting, incident).await
}

/// Approves recommended action `index` of the incident's analysis (operators and above):
/// the agent carries it out, verifies it, and undoes it if it did not help.
#[server(prefix = "/api", endpoint = "approve_action")]
pub async fn approve_action(
    incident: Uuid,
    index: usize,
    #[server(default)] comment: Option<String>,
) -> Result<ActionView, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ApproveRemediations).await?;
    crate::server::remediation::approve(auth.state(), &auth.acting, incident, index, comment.as_deref()).await
}

/// Whether the team's kill switch is on (no automatic action while it is).
#[server(prefix = "/api", endpoint = "get_automation_paused", input = GetUrl)]
pub async fn get_automation_paused() -> Result<bool, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::remediation::paused(&auth.request.state.db, auth.team_id()).await
}

/// Turns the team's kill switch on (cancelling automatic actions not yet begun) or off
/// (admins and owners).
#[server(prefix = "/api", endpoint = "set_automation_paused")]
pub async fn set_automation_paused(paused: bool) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageClusters).await?;
    crate::server::remediation::set_paused(auth.state(), &auth.acting, paused).await
}
