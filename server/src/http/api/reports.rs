//! `/api/v1/dashboard`, `/usage` and `/audit-log`: the figures the dashboard shows, the
//! alert quota, and the audit trail as pages or CSV.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use app::domain::account::Permission;
use app::domain::audit::{AuditFilter, AuditPage};
use app::domain::incident::{DashboardStats, Usage};
use app::error::OrInternal;
use app::server::state::AppState;

use super::caller::Caller;
use super::problem::{ApiResult, Problem};
use super::{ApiQuery, Problems};

/// The dashboard's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    #[serde(flatten)]
    pub stats: DashboardStats,
    /// Share (0 to 1) of the incidents resolved in the last 30 days that the agent resolved.
    pub automation_rate: f64,
}

/// Open incidents by severity, MTTA/MTTR/MTTD over the last day, week and month,
/// alerts per day, top services, the automation rate and the diagnosis accuracy.
#[utoipa::path(get, operation_id = "get_dashboard", path = "/api/v1/dashboard", tag = "reports",
    responses((status = 200, description = "The figures.", body = Dashboard),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn dashboard(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<Dashboard>> {
    let acting = caller.acting(Permission::ReadTeam)?;
    let stats = app::server::dashboard::stats(&state.db, acting.team_id, chrono::Utc::now()).await?;
    Ok(axum::Json(Dashboard { automation_rate: stats.automation_rate(), stats }))
}

/// The team's plan and how much of its alert quota this period has used.
#[utoipa::path(get, operation_id = "get_usage", path = "/api/v1/usage", tag = "reports",
    responses((status = 200, description = "Plan and usage.", body = Usage),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn usage(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<Usage>> {
    let acting = caller.acting(Permission::ReadTeam)?;
    Ok(axum::Json(
        app::server::quota::usage(&state.db, acting.team_id).await.or_internal("reading alert usage failed")?,
    ))
}

/// Which audit entries: the same filters as the audit log page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Part of the actor's name (an email, a key's name, "DreamOps agent").
    actor: Option<String>,
    /// The start of the action (`incident.` matches every incident action).
    action: Option<String>,
    /// From this day (UTC), inclusive.
    from: Option<NaiveDate>,
    /// To this day (UTC), inclusive.
    to: Option<NaiveDate>,
    /// `next_before` of the page before, to continue the listing.
    #[param(minimum = 1)]
    before: Option<i64>,
}

impl AuditQuery {
    /// The filter; 400 for a `before` no page gave.
    fn filter(&self) -> Result<AuditFilter, Problem> {
        if self.before.is_some_and(|before| before < 1) {
            return Err(Problem::bad_request("`before` is a `next_before` this API gave: 1 or more."));
        }
        Ok(AuditFilter { actor: self.actor.clone(), action: self.action.clone(), from: self.from, to: self.to })
    }
}

/// A page of the team's audit log, newest first (admin scope).
#[utoipa::path(get, operation_id = "list_audit_log", path = "/api/v1/audit-log", tag = "reports", params(AuditQuery),
    responses((status = 200, description = "A page of entries.", body = AuditPage),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<axum::Json<AuditPage>> {
    let acting = caller.acting(Permission::ReadAuditLog)?;
    Ok(axum::Json(app::server::audit::page(&state.db, acting.team_id, &query.filter()?, query.before).await?))
}

/// The team's audit log as CSV, every entry matching the filters (admin scope).
#[utoipa::path(get, operation_id = "export_audit_log", path = "/api/v1/audit-log.csv", tag = "reports", params(AuditQuery),
    responses((status = 200, description = "The entries as CSV.", body = String, content_type = "text/csv"),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn audit_log_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<axum::response::Response> {
    let acting = caller.acting(Permission::ReadAuditLog)?;
    let csv = app::server::audit::csv(&state.db, acting.team_id, &query.filter()?).await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}
