//! `GET /settings/team-export.json`: all of the active team's data as one JSON
//! document, for its admins (recorded in the audit log).

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use app::domain::account::Permission;
use app::error::AppError;
use app::server::auth::context::{RequestContext, authenticate};
use app::server::state::AppState;

/// The handler: a download named after the team's id.
pub async fn export(State(state): State<AppState>, request: Request) -> Response {
    match document(state, request).await {
        Ok((team, body)) => (
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"dreamops-team-{team}.json\"")),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            body,
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

async fn document(state: AppState, request: Request) -> Result<(uuid::Uuid, String), AppError> {
    let (parts, _) = request.into_parts();
    let context = RequestContext::from_parts(state, &parts)?;
    let auth = authenticate(context).await?.require(Permission::ExportTeamData)?;
    auth.acting.audit(&auth.request.state.db, "team.exported", None, serde_json::json!({})).await?;
    let body = app::server::export::team(&auth.request.state.db, auth.team_id()).await?;
    Ok((auth.team_id(), body))
}
