//! `GET /settings/audit-log.csv`: the team's audit log as CSV, for admins.

use axum::extract::{Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use app::domain::account::Permission;
use app::domain::audit::AuditFilter;
use app::error::AppError;
use app::server::auth::context::{RequestContext, authenticate};
use app::server::state::AppState;

/// The handler: same filters as the audit log page.
pub async fn export(State(state): State<AppState>, Query(filter): Query<AuditFilter>, request: Request) -> Response {
    match csv(state, filter, request).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"dreamops-audit-log.csv\""),
            ],
            body,
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

async fn csv(state: AppState, filter: AuditFilter, request: Request) -> Result<String, AppError> {
    let (parts, _) = request.into_parts();
    let context = RequestContext::from_parts(state, &parts)?;
    let auth = authenticate(context).await?.require(Permission::ReadAuditLog)?;
    app::server::audit::csv(&auth.request.state.db, auth.team_id(), &filter).await
}
