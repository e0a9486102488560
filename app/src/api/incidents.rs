//! The team's incidents.

use leptos::prelude::*;
use server_fn::codec::GetUrl;

use crate::domain::incident::{IncidentCursor, IncidentFilter, IncidentPage};
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
