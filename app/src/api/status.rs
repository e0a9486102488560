//! Server functions about the deployment's own health.

use leptos::prelude::*;
use server_fn::codec::GetUrl;

use crate::domain::status::SystemStatus;
use crate::error::AppError;

/// The current health of this deployment; public, as it reveals nothing about any team.
#[server(prefix = "/api", endpoint = "system_status", input = GetUrl)]
pub async fn get_system_status() -> Result<SystemStatus, AppError> {
    let state = expect_context::<crate::server::state::AppState>();
    Ok(crate::server::status::system_status(&state.db).await)
}
