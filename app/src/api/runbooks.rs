//! The team's runbooks: the list and search, one runbook with its history, saving a
//! version, deleting; the runbook matched to an incident, and ticking off its steps.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::runbook::{IncidentRunbook, Runbook, RunbookSummary};
use crate::error::AppError;

/// The team's runbooks, newest change first; with `search`, those whose title or text
/// contains it.
#[server(prefix = "/api", endpoint = "list_runbooks", input = GetUrl)]
pub async fn list_runbooks(#[server(default)] search: Option<String>) -> Result<Vec<RunbookSummary>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::runbooks::list(&auth.request.state.db, auth.team_id(), search.as_deref()).await
}

/// One runbook with its versions.
#[server(prefix = "/api", endpoint = "get_runbook", input = GetUrl)]
pub async fn get_runbook(id: Uuid) -> Result<Runbook, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::runbooks::get(&auth.request.state.db, auth.team_id(), id).await
}

/// Saves a new runbook (no `id`) or the next version of runbook `id`, if it is still at
/// `version`. Alert names and services are comma-separated, labels `name=value` too.
#[server(prefix = "/api", endpoint = "save_runbook")]
pub async fn save_runbook(
    #[server(default)] id: Option<Uuid>,
    #[server(default)] version: Option<i32>,
    title: String,
    body: String,
    #[server(default)] alert_names: String,
    #[server(default)] services: String,
    #[server(default)] labels: String,
) -> Result<RunbookSummary, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    let draft = crate::server::runbooks::Draft::from_form(&title, &body, &alert_names, &services, &labels)?;
    crate::server::runbooks::save(auth.state(), &auth.acting, id, version, &draft).await
}

/// Deletes a runbook and its history.
#[server(prefix = "/api", endpoint = "delete_runbook")]
pub async fn delete_runbook(id: Uuid) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageIntegrations).await?;
    crate::server::runbooks::remove(auth.state(), &auth.acting, id).await
}

/// The runbook matched to an incident, with its steps as ticked there.
#[server(prefix = "/api", endpoint = "get_incident_runbook", input = GetUrl)]
pub async fn get_incident_runbook(incident: Uuid) -> Result<Option<IncidentRunbook>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::runbooks::for_incident(&auth.request.state.db, auth.team_id(), incident).await
}

/// Ticks off a runbook step on an incident, into its timeline.
#[server(prefix = "/api", endpoint = "tick_runbook_step")]
pub async fn tick_runbook_step(incident: Uuid, runbook: Uuid, step: i32) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    crate::server::runbooks::tick(auth.state(), &auth.acting, incident, runbook, step).await
}
