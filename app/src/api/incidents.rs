//! The team's incidents: the list, the incident page, responders' changes, incidents
//! reported by hand, and the dashboard's figures.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use crate::domain::incident::IncidentChange;
use crate::domain::incident::{
    DashboardStats, IncidentCursor, IncidentDetail, IncidentFilter, IncidentPage, NewIncident, Severity,
};
use crate::error::AppError;

/// A page of the active team's incidents, most recent activity first, with the counts
/// per status for the filter bar; `after` continues a listing.
#[server(prefix = "/api", endpoint = "list_incidents", input = GetUrl)]
pub async fn list_incidents(
    #[server(default)] filter: IncidentFilter,
    #[server(default)] after: Option<IncidentCursor>,
) -> Result<IncidentPage, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::incidents::page(&auth.request.state.db, auth.team_id(), &filter, after).await
}

/// Everything the incident page shows: the incident, its timeline, its alerts as
/// received, and related incidents.
#[server(prefix = "/api", endpoint = "get_incident", input = GetUrl)]
pub async fn get_incident(id: Uuid) -> Result<IncidentDetail, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::incidents::detail(&auth.request.state.db, auth.team_id(), id).await
}

/// "I am on it."
#[server(prefix = "/api", endpoint = "acknowledge_incident")]
pub async fn acknowledge_incident(id: Uuid) -> Result<(), AppError> {
    respond(id, IncidentChange::Acknowledge).await
}

/// Resolves the incident, with an optional note on what was done.
#[server(prefix = "/api", endpoint = "resolve_incident")]
pub async fn resolve_incident(id: Uuid, #[server(default)] note: Option<String>) -> Result<(), AppError> {
    respond(id, IncidentChange::Resolve { note }).await
}

/// Opens a resolved incident again.
#[server(prefix = "/api", endpoint = "reopen_incident")]
pub async fn reopen_incident(id: Uuid) -> Result<(), AppError> {
    respond(id, IncidentChange::Reopen).await
}

/// Adds a note to the incident's timeline.
#[server(prefix = "/api", endpoint = "add_incident_note")]
pub async fn add_incident_note(id: Uuid, text: String) -> Result<(), AppError> {
    respond(id, IncidentChange::Note { text }).await
}

/// Changes how bad the incident is.
#[server(prefix = "/api", endpoint = "set_incident_severity")]
pub async fn set_incident_severity(id: Uuid, severity: Severity) -> Result<(), AppError> {
    respond(id, IncidentChange::Severity { severity }).await
}

/// A responder's change, for operators and above.
#[cfg(feature = "ssr")]
async fn respond(id: Uuid, change: IncidentChange) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    crate::server::incidents::change(auth.state(), &auth.acting, id, &change).await
}

/// What reporting an incident did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reported {
    /// The new incident.
    pub id: Uuid,
    /// Whether the alert quota was used up (the incident is stored, not analysed).
    pub over_quota: bool,
}

/// Opens an incident by hand; it counts against the alert quota like any alert.
#[server(prefix = "/api", endpoint = "report_incident")]
pub async fn report_incident(incident: NewIncident) -> Result<Reported, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    let (id, over_quota) = crate::server::incidents::report(auth.state(), &auth.acting, &incident).await?;
    Ok(Reported { id, over_quota })
}

/// The dashboard's figures.
#[server(prefix = "/api", endpoint = "get_dashboard", input = GetUrl)]
pub async fn get_dashboard() -> Result<DashboardStats, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::dashboard::stats(&auth.request.state.db, auth.team_id(), chrono::Utc::now()).await
}
