//! Post-mortems: drafting one from a resolved incident, reading, saving as people type,
//! and the list with its search.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::postmortem::{Postmortem, PostmortemSummary};
use crate::error::AppError;

/// The team's post-mortems, newest change first; with `search`, those containing it.
#[server(prefix = "/api", endpoint = "list_postmortems", input = GetUrl)]
pub async fn list_postmortems(#[server(default)] search: Option<String>) -> Result<Vec<PostmortemSummary>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::postmortems::list(&auth.request.state.db, auth.team_id(), search.as_deref()).await
}

/// One post-mortem.
#[server(prefix = "/api", endpoint = "get_postmortem", input = GetUrl)]
pub async fn get_postmortem(id: Uuid) -> Result<Postmortem, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::postmortems::get(&auth.request.state.db, auth.team_id(), id).await
}

/// The post-mortem of a resolved incident: the one written, or a new draft.
#[server(prefix = "/api", endpoint = "start_postmortem")]
pub async fn start_postmortem(incident: Uuid) -> Result<Postmortem, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    crate::server::postmortems::start(auth.state(), &auth.acting, incident).await
}

/// Saves a post-mortem's text, made from `version`.
#[server(prefix = "/api", endpoint = "save_postmortem")]
pub async fn save_postmortem(id: Uuid, version: i32, body: String) -> Result<PostmortemSummary, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::RespondToIncidents).await?;
    crate::server::postmortems::save(auth.state(), &auth.acting, id, version, &body).await
}
