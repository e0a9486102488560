//! `GET /health` and `GET /ready`: what load balancers and orchestrators poll.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use app::domain::status::SystemStatus;
use app::server::config::VERSION;
use app::server::state::AppState;

/// Liveness: the process runs and serves HTTP. Touches nothing else, so a database
/// outage never gets healthy instances restarted.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": VERSION }))
}

/// Readiness: 200 when the database answers and every migration is applied, 503
/// otherwise, with the reading as JSON either way.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let status: SystemStatus = app::server::status::system_status(&state.db).await;
    let code = if status.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(json!({ "status": if status.is_ready() { "ready" } else { "not ready" }, "detail": status })))
}
