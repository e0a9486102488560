//! Reading a team's incidents: the filtered, paginated list and its status counts.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::incident::{
    IncidentCursor, IncidentFilter, IncidentPage, IncidentStatus, IncidentSummary, Severity, StatusCounts,
};
use crate::error::AppError;

/// Incidents per page.
pub const PAGE_SIZE: usize = 50;

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: Uuid,
    title: String,
    severity: String,
    status: String,
    service: Option<String>,
    source: String,
    occurrences: i32,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    analysis: String,
}

impl SummaryRow {
    fn into_summary(self) -> Result<IncidentSummary, AppError> {
        let corrupt =
            |what: &str| AppError::internal("reading incidents failed", &std::io::Error::other(what.to_string()));
        Ok(IncidentSummary {
            id: self.id,
            title: self.title,
            severity: self.severity.parse::<Severity>().map_err(corrupt)?,
            status: self.status.parse::<IncidentStatus>().map_err(corrupt)?,
            service: self.service,
            source: self.source,
            occurrences: self.occurrences,
            first_seen_at: self.first_seen_at,
            last_seen_at: self.last_seen_at,
            over_quota: self.analysis == "over_quota",
        })
    }
}

/// A page of the team's incidents matching `filter`, most recent activity first,
/// continuing after `after` when given; with the counts per status under the filter's
/// other fields.
pub async fn page(
    db: &PgPool,
    team: Uuid,
    filter: &IncidentFilter,
    after: Option<IncidentCursor>,
) -> Result<IncidentPage, AppError> {
    let failed = |error: sqlx::Error| AppError::internal("reading incidents failed", &error);

    let mut query = QueryBuilder::new(
        "select id, title, severity, status, service, source, occurrences, first_seen_at, last_seen_at, analysis
         from incidents where ",
    );
    push_filter(&mut query, team, filter);
    if let Some(status) = filter.status {
        query.push(" and status = ").push_bind(status.as_str());
    }
    if let Some(after) = after {
        query
            .push(" and (last_seen_at, id) < (")
            .push_bind(after.last_seen_at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    // One more than a page tells whether another follows.
    query.push(" order by last_seen_at desc, id desc limit ").push_bind(PAGE_SIZE as i64 + 1);
    let mut rows: Vec<SummaryRow> = query.build_query_as().fetch_all(db).await.map_err(failed)?;
    let more = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    let incidents = rows.into_iter().map(SummaryRow::into_summary).collect::<Result<Vec<_>, _>>()?;
    let next = if more {
        incidents.last().map(|last| IncidentCursor { last_seen_at: last.last_seen_at, id: last.id })
    } else {
        None
    };

    let mut query = QueryBuilder::new("select status, count(*) from incidents where ");
    push_filter(&mut query, team, filter);
    query.push(" group by status");
    let mut counts = StatusCounts::default();
    for (status, count) in query.build_query_as::<(String, i64)>().fetch_all(db).await.map_err(failed)? {
        match status.parse::<IncidentStatus>() {
            Ok(IncidentStatus::Triggered) => counts.triggered = count,
            Ok(IncidentStatus::Acknowledged) => counts.acknowledged = count,
            Ok(IncidentStatus::Resolved) => counts.resolved = count,
            Err(_) => {}
        }
    }
    Ok(IncidentPage { incidents, next, counts })
}

/// The team and every filter but the status (which the counts are per).
fn push_filter(query: &mut QueryBuilder<'_, Postgres>, team: Uuid, filter: &IncidentFilter) {
    query.push("team_id = ").push_bind(team);
    if let Some(severity) = filter.severity {
        query.push(" and severity = ").push_bind(severity.as_str());
    }
    if let Some(service) = non_empty(&filter.service) {
        query.push(" and service = ").push_bind(service.to_string());
    }
    if let Some(source) = non_empty(&filter.source) {
        query.push(" and source = ").push_bind(source.to_string());
    }
    if let Some(text) = non_empty(&filter.text) {
        query.push(" and title ilike ").push_bind(format!("%{}%", crate::server::db::escape_like(text)));
    }
}

fn non_empty(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|value| !value.is_empty())
}
