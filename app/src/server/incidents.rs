//! A team's incidents as responders see and handle them: the filtered, paginated list
//! with its status counts, the incident page (timeline, alerts, related incidents),
//! responders' changes, and incidents reported by hand.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::incident::{
    ALERTS_SHOWN, AlertRecord, COUNT_CAP, IncidentChange, IncidentCursor, IncidentDetail, IncidentFilter, IncidentPage,
    IncidentStatus, IncidentSummary, NOTE_MAX, NewIncident, RAW_SHOWN, RelatedIncident, Severity, StatusCounts,
    TIMELINE_LIMIT, TimelineEntry, check_title,
};
use crate::domain::live::{LiveEvent, LiveKind};
use crate::domain::webhook::WebhookEvent;
use crate::error::{AppError, OnConstraint, OrInternal};
use crate::server::audit::Acting;
use crate::server::ingest::{Action, Delivery, NormalizedAlert, Outcome};
use crate::server::state::AppState;

/// The columns [`SummaryRow`] reads.
const SUMMARY_COLUMNS: &str =
    "id, title, severity, status, service, source, occurrences, first_seen_at, last_seen_at, analysis";

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
    let mut query = QueryBuilder::new(format!("select {SUMMARY_COLUMNS} from incidents where "));
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
    let mut rows: Vec<SummaryRow> =
        query.build_query_as().fetch_all(db).await.or_internal("reading incidents failed")?;
    let more = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    let incidents = rows.into_iter().map(SummaryRow::into_summary).collect::<Result<Vec<_>, _>>()?;
    let next = if more {
        incidents.last().map(|last| IncidentCursor { last_seen_at: last.last_seen_at, id: last.id })
    } else {
        None
    };

    // Each status is counted up to just past the cap ("1,000+"): exact counts of a
    // team's whole history would read every resolved incident on every page load.
    let mut query = QueryBuilder::new("select ");
    for (index, status) in IncidentStatus::ALL.into_iter().enumerate() {
        if index > 0 {
            query.push(", ");
        }
        query.push("(select count(*) from (select 1 from incidents where ");
        push_filter(&mut query, team, filter);
        query.push(" and status = ").push_bind(status.as_str()).push(" limit ").push_bind(COUNT_CAP + 1).push(") c)");
    }
    let (triggered, acknowledged, resolved): (i64, i64, i64) =
        query.build_query_as().fetch_one(db).await.or_internal("reading incidents failed")?;
    let counts = StatusCounts { triggered, acknowledged, resolved };
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

fn corrupt(what: &str) -> AppError {
    AppError::internal("reading incidents failed", &std::io::Error::other(what.to_string()))
}

#[derive(sqlx::FromRow)]
struct DetailRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    description: Option<String>,
    dedup_key: String,
    external_url: Option<String>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<String>,
    previous_incident_id: Option<Uuid>,
    details: sqlx::types::Json<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
struct TimelineRow {
    id: i64,
    at: DateTime<Utc>,
    kind: String,
    actor: String,
    message: String,
}

impl From<TimelineRow> for TimelineEntry {
    fn from(row: TimelineRow) -> Self {
        TimelineEntry { id: row.id, at: row.at, kind: row.kind, actor: row.actor, message: row.message }
    }
}

/// Everything the incident page shows about the team's incident `id`.
pub async fn detail(db: &PgPool, team: Uuid, id: Uuid) -> Result<IncidentDetail, AppError> {
    let row: DetailRow = sqlx::query_as(&format!(
        "select {SUMMARY_COLUMNS}, description, dedup_key, external_url, acknowledged_at, acknowledged_by,
                resolved_at, resolved_by, previous_incident_id, details
         from incidents where id = $1 and team_id = $2"
    ))
    .bind(id)
    .bind(team)
    .fetch_optional(db)
    .await
    .or_internal("reading incidents failed")?
    .ok_or(AppError::NotFound)?;

    let (timeline, alerts, related) =
        tokio::try_join!(timeline(db, id), alerts(db, team, id), related(db, team, &row))?;
    let (timeline, earlier_entries) = timeline;
    Ok(IncidentDetail {
        description: row.description,
        dedup_key: row.dedup_key,
        external_url: row.external_url,
        acknowledged_at: row.acknowledged_at,
        acknowledged_by: row.acknowledged_by,
        resolved_at: row.resolved_at,
        resolved_by: row.resolved_by,
        previous_incident_id: row.previous_incident_id,
        details: serde_json::to_string_pretty(&row.details.0).unwrap_or_default(),
        summary: row.summary.into_summary()?,
        timeline,
        earlier_entries,
        alerts,
        related,
    })
}

/// The latest [`TIMELINE_LIMIT`] entries, oldest first, and how many came before them.
async fn timeline(db: &PgPool, incident: Uuid) -> Result<(Vec<TimelineEntry>, i64), AppError> {
    let mut rows: Vec<TimelineRow> = sqlx::query_as(
        "select id, at, kind, actor, message from timeline_entries
         where incident_id = $1 order by id desc limit $2",
    )
    .bind(incident)
    .bind(TIMELINE_LIMIT)
    .fetch_all(db)
    .await
    .or_internal("reading incidents failed")?;
    rows.reverse();
    let earlier = match rows.first() {
        Some(first) if rows.len() as i64 == TIMELINE_LIMIT => {
            sqlx::query_scalar("select count(*) from timeline_entries where incident_id = $1 and id < $2")
                .bind(incident)
                .bind(first.id)
                .fetch_one(db)
                .await
                .or_internal("reading incidents failed")?
        }
        _ => 0,
    };
    Ok((rows.into_iter().map(TimelineEntry::from).collect(), earlier))
}

/// The latest alerts of the incident, with their payloads as received.
async fn alerts(db: &PgPool, team: Uuid, incident: Uuid) -> Result<Vec<AlertRecord>, AppError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        source: String,
        received_at: DateTime<Utc>,
        event_action: Option<String>,
        raw: Vec<u8>,
        removed: bool,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select id, source, received_at, event_action, substring(raw_body from 1 for $3) as raw,
                raw_removed_at is not null as removed
         from alerts where incident_id = $1 and team_id = $2 order by received_at desc limit $4",
    )
    .bind(incident)
    .bind(team)
    // One byte more than shown tells whether the payload was cut.
    .bind(RAW_SHOWN as i32 + 1)
    .bind(ALERTS_SHOWN)
    .fetch_all(db)
    .await
    .or_internal("reading incidents failed")?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let cut = row.raw.len() > RAW_SHOWN;
            let raw = crate::server::ingest::mask_credentials(&String::from_utf8_lossy(
                &row.raw[..row.raw.len().min(RAW_SHOWN)],
            ));
            AlertRecord {
                id: row.id,
                source: row.source,
                received_at: row.received_at,
                event_action: row.event_action,
                raw,
                cut,
                removed: row.removed,
            }
        })
        .collect())
}

/// Incidents related to the incident read into `row`: with its dedup key, on its
/// service, or with a similar title, among the team's latest.
async fn related(db: &PgPool, team: Uuid, row: &DetailRow) -> Result<Vec<RelatedIncident>, AppError> {
    #[derive(sqlx::FromRow)]
    struct RelatedRow {
        reason: String,
        #[sqlx(flatten)]
        summary: SummaryRow,
    }
    // Each way of being related is a bounded index scan; titles are compared (trigram
    // similarity) with the team's latest 500 incidents only.
    let rows: Vec<RelatedRow> = sqlx::query_as(&format!(
        "(select 'same dedup key' as reason, {SUMMARY_COLUMNS} from incidents
          where team_id = $1 and dedup_key = $3 and id <> $2 order by first_seen_at desc limit 5)
         union all
         (select 'same service', {SUMMARY_COLUMNS} from incidents
          where team_id = $1 and service = $4 and id <> $2 order by last_seen_at desc, id desc limit 5)
         union all
         (select 'similar title', {SUMMARY_COLUMNS} from
            (select * from incidents where team_id = $1 and id <> $2
             order by last_seen_at desc, id desc limit 500) latest
          where similarity(title, $5) >= 0.4 order by similarity(title, $5) desc limit 5)"
    ))
    .bind(team)
    .bind(row.summary.id)
    .bind(&row.dedup_key)
    .bind(&row.summary.service)
    .bind(&row.summary.title)
    .fetch_all(db)
    .await
    .or_internal("reading incidents failed")?;
    let mut related: Vec<RelatedIncident> = Vec::new();
    for row in rows {
        if related.iter().any(|known| known.incident.id == row.summary.id) {
            continue;
        }
        related.push(RelatedIncident { incident: row.summary.into_summary()?, reason: row.reason });
    }
    Ok(related)
}

/// Applies a responder's change to the team's incident `id`, with its timeline entry
/// and audit record in the same transaction, and tells the team's open pages.
pub async fn change(state: &AppState, acting: &Acting, id: Uuid, change: &IncidentChange) -> Result<(), AppError> {
    let team = acting.team_id;
    let who = acting.name();
    let who = who.as_str();
    let mut tx = state.db.begin().await.or_internal("changing an incident failed")?;
    let (status, severity): (String, String) =
        sqlx::query_as("select status, severity from incidents where id = $1 and team_id = $2 for update")
            .bind(id)
            .bind(team)
            .fetch_optional(&mut *tx)
            .await
            .or_internal("changing an incident failed")?
            .ok_or(AppError::NotFound)?;
    let status = status.parse::<IncidentStatus>().map_err(corrupt)?;
    let severity = severity.parse::<Severity>().map_err(corrupt)?;

    let (kind, message, audit_action) = match change {
        IncidentChange::Acknowledge => {
            match status {
                IncidentStatus::Triggered => {}
                IncidentStatus::Acknowledged => return Err(AppError::Conflict("It is already acknowledged.".into())),
                IncidentStatus::Resolved => {
                    return Err(AppError::Conflict("It is resolved; reopen it first.".into()));
                }
            }
            sqlx::query(
                "update incidents set status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2,
                                      last_seen_at = now()
                 where id = $1",
            )
            .bind(id)
            .bind(who)
            .execute(&mut *tx)
            .await
            .or_internal("changing an incident failed")?;
            ("status.acknowledged", format!("Acknowledged by {who}"), "incident.acknowledge")
        }
        IncidentChange::Resolve { note } => {
            if status == IncidentStatus::Resolved {
                return Err(AppError::Conflict("It is already resolved.".into()));
            }
            let note = optional_note(note.as_deref())?;
            sqlx::query(
                "update incidents set status = 'resolved', resolved_at = now(), resolved_by = $2, last_seen_at = now()
                 where id = $1",
            )
            .bind(id)
            .bind(who)
            .execute(&mut *tx)
            .await
            .or_internal("changing an incident failed")?;
            let message = match note {
                Some(note) => format!("Resolved by {who}: {note}"),
                None => format!("Resolved by {who}"),
            };
            crate::server::notifications::resolved(&mut tx, state, team, id, &format!("{message}."), acting.user_id())
                .await
                .or_internal("changing an incident failed")?;
            crate::server::github::issues::incident_resolved(&mut tx, team, id, &format!("{message}."))
                .await
                .or_internal("changing an incident failed")?;
            ("status.resolved", message, "incident.resolve")
        }
        IncidentChange::Reopen => {
            if status != IncidentStatus::Resolved {
                return Err(AppError::Conflict("It is still open.".into()));
            }
            let reopened = sqlx::query(
                "update incidents set status = 'triggered', acknowledged_at = null, acknowledged_by = null,
                                      resolved_at = null, resolved_by = null, last_seen_at = now()
                 where id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await;
            reopened.on_constraint(
                "incidents_open_by_dedup_key",
                || {
                    AppError::Conflict(
                        "A newer incident with the same dedup key is open; follow that one instead.".into(),
                    )
                },
                "changing an incident failed",
            )?;
            ("status.reopened", format!("Reopened by {who}"), "incident.reopen")
        }
        IncidentChange::Note { text } => {
            let Some(text) = optional_note(Some(text))? else {
                return Err(AppError::field("text", "Write the note first."));
            };
            sqlx::query("update incidents set last_seen_at = now() where id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .or_internal("changing an incident failed")?;
            ("note", text.to_string(), "incident.note")
        }
        IncidentChange::Severity { severity: new } => {
            if *new == severity {
                return Ok(());
            }
            sqlx::query("update incidents set severity = $2, last_seen_at = now() where id = $1")
                .bind(id)
                .bind(new.as_str())
                .execute(&mut *tx)
                .await
                .or_internal("changing an incident failed")?;
            ("severity.changed", format!("Severity changed from {severity} to {new} by {who}"), "incident.severity")
        }
        IncidentChange::Title { title } => {
            let title = check_title(title).map_err(|message| AppError::field("title", message))?;
            let renamed = sqlx::query(
                "update incidents set title = $2, last_seen_at = now() where id = $1 and title is distinct from $2",
            )
            .bind(id)
            .bind(title)
            .execute(&mut *tx)
            .await
            .or_internal("changing an incident failed")?;
            if renamed.rows_affected() == 0 {
                return Ok(());
            }
            ("title.changed", format!("Title changed to \"{title}\" by {who}"), "incident.title")
        }
    };
    crate::server::db::timeline::append(&mut *tx, team, id, kind, who, &message)
        .await
        .or_internal("changing an incident failed")?;
    let event = match change {
        IncidentChange::Resolve { .. } => WebhookEvent::IncidentResolved,
        _ => WebhookEvent::IncidentUpdated,
    };
    let data = serde_json::json!({ "change": { "kind": kind, "message": message, "by": who } });
    crate::server::webhooks::emit(&mut tx, state, team, event, id, data)
        .await
        .or_internal("changing an incident failed")?;
    acting
        .audit(&mut *tx, audit_action, Some(&id.to_string()), serde_json::to_value(change).unwrap_or_default())
        .await?;
    tx.commit().await.or_internal("changing an incident failed")?;
    state
        .live
        .publish(team, [LiveEvent::new(LiveKind::IncidentUpdate, id), LiveEvent::new(LiveKind::TimelineEntry, id)]);
    Ok(())
}

/// A note's text, trimmed; `None` when blank.
fn optional_note(note: Option<&str>) -> Result<Option<&str>, AppError> {
    let note = note.map(str::trim).filter(|note| !note.is_empty());
    if note.is_some_and(|note| note.chars().count() > NOTE_MAX) {
        return Err(AppError::field("text", format!("A note is {NOTE_MAX} characters at most.")));
    }
    Ok(note)
}

/// Opens an incident reported by hand: it goes through ingestion like any alert, so it
/// counts against the alert quota. Returns the incident and whether it is over quota.
pub async fn report(state: &AppState, acting: &Acting, incident: &NewIncident) -> Result<(Uuid, bool), AppError> {
    let mut errors = Vec::new();
    let title = check_title(&incident.title).unwrap_or_else(|message| {
        errors.push(("title", message));
        ""
    });
    let service = incident.service.as_deref().map(str::trim).filter(|service| !service.is_empty());
    if service.is_some_and(|service| service.chars().count() > 255) {
        errors.push(("service", "A service name is 255 characters at most.".to_string()));
    }
    let description = incident.description.as_deref().map(str::trim).filter(|text| !text.is_empty());
    if description.is_some_and(|text| text.chars().count() > 10_000) {
        errors.push(("description", "A description is 10,000 characters at most.".to_string()));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(
            errors
                .into_iter()
                .map(|(field, message)| crate::error::FieldError { field: field.into(), message })
                .collect(),
        ));
    }
    let severity = incident.severity.unwrap_or(Severity::Warning);
    let raw = serde_json::to_vec(&serde_json::json!({
        "title": title, "severity": severity, "service": service, "description": description,
        "reported_by": acting.name(),
    }))
    .unwrap_or_default();
    let alert = NormalizedAlert {
        action: Action::Trigger,
        dedup_key: None,
        title: title.to_string(),
        description: description.map(str::to_string),
        severity,
        service: service.map(str::to_string),
        external_url: None,
        details: serde_json::json!({ "reported_by": acting.name() }),
        actor: Some(acting.name()),
        raw: raw.clone(),
    };
    let delivery = Delivery { team_id: acting.team_id, source: "manual", delivery_id: None, raw: &raw };
    let applied = match state.recorder.record(&delivery, Ok(vec![alert])).await? {
        Outcome::Applied(applied) => applied.into_iter().next(),
        Outcome::Duplicate | Outcome::Unparsed => None,
    };
    let Some(crate::server::ingest::Applied {
        incident_id: Some(id),
        effect: crate::server::ingest::Effect::Opened { over_quota },
        ..
    }) = applied
    else {
        return Err(AppError::internal("reporting an incident failed", &std::io::Error::other("no incident opened")));
    };
    acting
        .audit(&state.db, "incident.report", Some(&id.to_string()), serde_json::json!({ "over_quota": over_quota }))
        .await?;
    Ok((id, over_quota))
}
