//! `/api/v1/incidents`: the list, one incident and its timeline, alerts and related
//! incidents, responders' changes, the agent's analysis and the remediations.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use app::domain::account::Permission;
use app::domain::analysis::AgentProgress;
use app::domain::incident::{
    AlertRecord, IncidentChange, IncidentCursor, IncidentDetail, IncidentFilter, IncidentStatus, IncidentSummary,
    RelatedIncident, Severity, StatusCounts, TimelineEntry,
};
use app::domain::remediation::{ActionView, IncidentActions};
use app::error::AppError;
use app::server::state::AppState;

use super::caller::Caller;
use super::problem::{ApiResult, Problem};
use super::{ApiJson, ApiJsonOrEmpty, ApiPath, ApiQuery, Problems};

/// Which incidents to list: the same filters as the incidents page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this status.
    status: Option<IncidentStatus>,
    /// Only this severity.
    severity: Option<Severity>,
    /// Only this service (exact).
    service: Option<String>,
    /// Only this source: pagerduty, events_api, alertmanager, grafana, rest or manual.
    source: Option<String>,
    /// Words in the title (case-insensitive).
    text: Option<String>,
    /// `next_cursor` of the page before, to continue the listing.
    #[param(pattern = "^([0-9]+\\.[0-9a-f]{32})?$")]
    cursor: Option<String>,
}

/// A page of incidents, most recent activity first.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    /// Up to 50 incidents.
    pub incidents: Vec<IncidentSummary>,
    /// Pass as `cursor` for the next page; absent on the last. Incidents that arrive
    /// meanwhile neither repeat nor hide others.
    pub next_cursor: Option<String>,
    /// Incidents per status under the other filters.
    pub counts: StatusCounts,
}

/// A cursor as the client sees it: opaque, `<microseconds>.<id>`.
fn cursor_text(cursor: &IncidentCursor) -> String {
    format!("{}.{}", cursor.last_seen_at.timestamp_micros(), cursor.id.simple())
}

fn parse_cursor(text: &str) -> Result<IncidentCursor, Problem> {
    let refused = || Problem::bad_request("The cursor is not one this API gave: pass `next_cursor` as it came.");
    let (micros, id) = text.split_once('.').ok_or_else(refused)?;
    let last_seen_at = micros.parse().ok().and_then(chrono::DateTime::from_timestamp_micros).ok_or_else(refused)?;
    let id = Uuid::try_parse(id).map_err(|_| refused())?;
    Ok(IncidentCursor { last_seen_at, id })
}

/// Lists the team's incidents.
#[utoipa::path(get, operation_id = "list_incidents", path = "/api/v1/incidents", tag = "incidents", params(ListQuery),
    responses((status = 200, description = "A page of incidents.", body = IncidentList),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<axum::Json<IncidentList>> {
    let acting = caller.acting(Permission::ReadTeam)?;
    let after = query.cursor.as_deref().filter(|cursor| !cursor.is_empty()).map(parse_cursor).transpose()?;
    let filter = IncidentFilter {
        status: query.status,
        severity: query.severity,
        service: query.service,
        source: query.source,
        text: query.text,
    };
    let page = app::server::incidents::page(&state.db, acting.team_id, &filter, after).await?;
    Ok(axum::Json(IncidentList {
        incidents: page.incidents,
        next_cursor: page.next.as_ref().map(cursor_text),
        counts: page.counts,
    }))
}

async fn detail(state: &AppState, caller: &Caller, id: Uuid) -> Result<IncidentDetail, Problem> {
    let acting = caller.acting(Permission::ReadTeam)?;
    Ok(app::server::incidents::detail(&state.db, acting.team_id, id).await?)
}

/// One incident: its state, who acknowledged and resolved it, its details. Timeline,
/// alerts and related incidents have their own paths.
#[utoipa::path(get, operation_id = "get_incident", path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The incident.", body = Incident),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(Incident::from(detail(&state, &caller, id).await?)))
}

/// An incident as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Incident {
    #[serde(flatten)]
    pub summary: IncidentSummary,
    pub description: Option<String>,
    /// What groups its alerts (a fingerprint, an incident key).
    pub dedup_key: String,
    /// The sender's view of it (e.g. the PagerDuty incident).
    pub external_url: Option<String>,
    pub acknowledged_at: Option<chrono::DateTime<chrono::Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub resolved_by: Option<String>,
    /// The resolved incident with the same key that this one follows.
    pub previous_incident_id: Option<Uuid>,
    /// Labels, annotations, custom details, as pretty-printed JSON.
    pub details: String,
}

impl From<IncidentDetail> for Incident {
    fn from(detail: IncidentDetail) -> Self {
        Incident {
            summary: detail.summary,
            description: detail.description,
            dedup_key: detail.dedup_key,
            external_url: detail.external_url,
            acknowledged_at: detail.acknowledged_at,
            acknowledged_by: detail.acknowledged_by,
            resolved_at: detail.resolved_at,
            resolved_by: detail.resolved_by,
            previous_incident_id: detail.previous_incident_id,
            details: detail.details,
        }
    }
}

/// The changes `PATCH` takes; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdate {
    pub severity: Option<Severity>,
    /// 1 to 1,024 characters, not all blank.
    #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
    pub title: Option<String>,
}

/// Changes the severity or the title (respond scope); a field left out or null stays.
#[utoipa::path(patch, operation_id = "update_incident", path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = Uuid, Path)),
    request_body = IncidentUpdate,
    responses((status = 200, description = "The incident after the change.", body = Incident), Problems))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(update): ApiJson<IncidentUpdate>,
) -> ApiResult<axum::Json<Incident>> {
    let mut changes = Vec::new();
    if let Some(severity) = update.severity {
        changes.push(IncidentChange::Severity { severity });
    }
    if let Some(title) = update.title {
        changes.push(IncidentChange::Title { title });
    }
    for change in changes {
        respond(&state, &caller, id, change).await?;
    }
    get(State(state), caller, ApiPath(id)).await
}

/// A responder's change, then the incident as it now is.
async fn respond(state: &AppState, caller: &Caller, id: Uuid, change: IncidentChange) -> Result<(), Problem> {
    let acting = caller.acting(Permission::RespondToIncidents)?;
    Ok(app::server::incidents::change(state, &acting, id, &change).await?)
}

async fn respond_then_show(
    state: AppState,
    caller: Caller,
    id: Uuid,
    change: IncidentChange,
) -> ApiResult<axum::Json<Incident>> {
    respond(&state, &caller, id, change).await?;
    get(State(state), caller, ApiPath(id)).await
}

/// Acknowledges the incident (respond scope).
#[utoipa::path(post, operation_id = "acknowledge_incident", path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The incident, acknowledged.", body = Incident), Problems))]
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<Incident>> {
    respond_then_show(state, caller, id, IncidentChange::Acknowledge).await
}

/// What resolving may say.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// What was done, for the timeline (4,000 characters at most).
    #[schema(max_length = 4000)]
    pub note: Option<String>,
}

/// Resolves the incident, with an optional note (respond scope).
#[utoipa::path(post, operation_id = "resolve_incident", path = "/api/v1/incidents/{id}/resolve", tag = "incidents",
    params(("id" = Uuid, Path)), request_body(content = Option<Resolution>),
    responses((status = 200, description = "The incident, resolved.", body = Incident), Problems))]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(resolution): ApiJsonOrEmpty<Resolution>,
) -> ApiResult<axum::Json<Incident>> {
    let note = resolution.note;
    respond_then_show(state, caller, id, IncidentChange::Resolve { note }).await
}

/// Opens a resolved incident again (respond scope).
#[utoipa::path(post, operation_id = "reopen_incident", path = "/api/v1/incidents/{id}/reopen", tag = "incidents",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The incident, open again.", body = Incident), Problems))]
pub async fn reopen(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<Incident>> {
    respond_then_show(state, caller, id, IncidentChange::Reopen).await
}

/// A note for the timeline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// 1 to 4,000 characters, not all blank.
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    pub text: String,
}

/// Adds a note to the incident's timeline (respond scope).
#[utoipa::path(post, operation_id = "add_incident_note", path = "/api/v1/incidents/{id}/notes", tag = "incidents",
    params(("id" = Uuid, Path)), request_body = Note,
    responses((status = 201, description = "The note is on the timeline.", body = Incident), Problems))]
pub async fn add_note(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(note): ApiJson<Note>,
) -> ApiResult<(StatusCode, axum::Json<Incident>)> {
    let incident = respond_then_show(state, caller, id, IncidentChange::Note { text: note.text }).await?;
    Ok((StatusCode::CREATED, incident))
}

/// The incident's timeline, oldest first (the latest 500 entries).
#[utoipa::path(get, operation_id = "get_incident_timeline", path = "/api/v1/incidents/{id}/timeline", tag = "incidents", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The timeline.", body = Vec<TimelineEntry>),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<Vec<TimelineEntry>>> {
    Ok(axum::Json(detail(&state, &caller, id).await?.timeline))
}

/// Incidents that may be the same problem, and why.
#[utoipa::path(get, operation_id = "list_related_incidents", path = "/api/v1/incidents/{id}/related", tag = "incidents", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Related incidents.", body = Vec<RelatedIncident>),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn related(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<Vec<RelatedIncident>>> {
    Ok(axum::Json(detail(&state, &caller, id).await?.related))
}

/// The alerts behind the incident as they were received, newest first (the latest 100).
#[utoipa::path(get, operation_id = "list_incident_alerts", path = "/api/v1/incidents/{id}/alerts", tag = "incidents", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The alerts.", body = Vec<AlertRecord>),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<Vec<AlertRecord>>> {
    Ok(axum::Json(detail(&state, &caller, id).await?.alerts))
}

/// Where the agent is with the incident, and its analysis once done.
#[utoipa::path(get, operation_id = "get_analysis", path = "/api/v1/incidents/{id}/analysis", tag = "analyses", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The agent's progress or analysis.", body = AgentProgress),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn analysis(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<AgentProgress>> {
    let acting = caller.acting(Permission::ReadTeam)?;
    Ok(axum::Json(app::server::agent::progress(&state.db, acting.team_id, id).await?))
}

/// A responder's verdict on an analysis.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// Whether the analysis named the right cause.
    pub right: bool,
    /// What the cause really was (2,000 characters at most).
    #[schema(max_length = 2000)]
    pub correction: Option<String>,
}

/// Records whether the analysis was right (respond scope); replaces an earlier verdict.
#[utoipa::path(post, operation_id = "give_analysis_feedback", path = "/api/v1/incidents/{id}/analysis/feedback", tag = "analyses",
    params(("id" = Uuid, Path)), request_body = Verdict,
    responses((status = 200, description = "The analysis with the verdict.", body = AgentProgress), Problems))]
pub async fn feedback(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(verdict): ApiJson<Verdict>,
) -> ApiResult<axum::Json<AgentProgress>> {
    let acting = caller.acting(Permission::RespondToIncidents)?;
    app::server::agent::give_feedback(&state, &acting, id, verdict.right, verdict.correction.as_deref()).await?;
    Ok(axum::Json(app::server::agent::progress(&state.db, acting.team_id, id).await?))
}

/// Queues the analysis again (respond scope).
#[utoipa::path(post, operation_id = "rerun_analysis", path = "/api/v1/incidents/{id}/analysis/rerun", tag = "analyses",
    params(("id" = Uuid, Path)),
    responses((status = 202, description = "Queued; poll the analysis.", body = AgentProgress), Problems))]
pub async fn rerun(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, axum::Json<AgentProgress>)> {
    let acting = caller.acting(Permission::RespondToIncidents)?;
    app::server::agent::retry(&state, &acting, id).await?;
    let progress = app::server::agent::progress(&state.db, acting.team_id, id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(progress)))
}

/// The remediations of the incident, and whether this key may approve more.
#[utoipa::path(get, operation_id = "list_actions", path = "/api/v1/incidents/{id}/actions", tag = "remediations", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The actions.", body = IncidentActions),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn actions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<IncidentActions>> {
    let acting = caller.acting(Permission::ReadTeam)?;
    Ok(axum::Json(app::server::remediation::incident_actions(&state, &acting, id).await?))
}

/// One remediation of the incident.
#[utoipa::path(get, operation_id = "get_action", path = "/api/v1/incidents/{id}/actions/{action_id}", tag = "remediations",
    params(("id" = Uuid, Path), ("action_id" = Uuid, Path)),
    responses((status = 200, description = "The action.", body = ActionView),
              (status = 304, description = "Unchanged since the ETag sent in If-None-Match."), Problems))]
pub async fn action(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, action_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<ActionView>> {
    let acting = caller.acting(Permission::ReadTeam)?;
    let actions = app::server::remediation::incident_actions(&state, &acting, id).await?;
    let action = actions.actions.into_iter().find(|action| action.id == action_id).ok_or(AppError::NotFound)?;
    Ok(axum::Json(action))
}

/// What approving may say.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Why, for the timeline and the audit log (1,000 characters at most).
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

/// Approves the analysis's recommended action number `index` (0-based; approve scope):
/// the agent carries it out and verifies it.
#[utoipa::path(post, operation_id = "approve_recommendation", path = "/api/v1/incidents/{id}/recommendations/{index}/approve", tag = "remediations",
    params(("id" = Uuid, Path), ("index" = u32, Path, minimum = 0)),
    request_body(content = Option<Approval>),
    responses((status = 201, description = "The action, queued.", body = ActionView), Problems))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, index)): ApiPath<(Uuid, u32)>,
    ApiJsonOrEmpty(approval): ApiJsonOrEmpty<Approval>,
) -> ApiResult<(StatusCode, axum::Json<ActionView>)> {
    let acting = caller.acting(Permission::ApproveRemediations)?;
    let comment = approval.comment;
    let action = app::server::remediation::approve(&state, &acting, id, index as usize, comment.as_deref()).await?;
    Ok((StatusCode::CREATED, axum::Json(action)))
}
