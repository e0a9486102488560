//! `GET /postmortems/{id}/export.md`: a post-mortem as a Markdown file, for members.

use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use app::domain::account::Permission;
use app::error::AppError;
use app::server::auth::context::{RequestContext, authenticate};
use app::server::state::AppState;

/// The handler.
pub async fn export(State(state): State<AppState>, Path(id): Path<Uuid>, request: Request) -> Response {
    match markdown(state, id, request).await {
        Ok((name, body)) => (
            [
                (header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            ],
            body,
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

async fn markdown(state: AppState, id: Uuid, request: Request) -> Result<(String, String), AppError> {
    let (parts, _) = request.into_parts();
    let context = RequestContext::from_parts(state, &parts)?;
    let auth = authenticate(context).await?.require(Permission::ReadTeam)?;
    let postmortem = app::server::postmortems::get(&auth.request.state.db, auth.team_id(), id).await?;
    Ok((app::server::postmortems::file_name(&postmortem.summary.title), postmortem.body))
}
