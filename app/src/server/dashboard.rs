//! The dashboard's figures: open incidents, response times, alert volume, the severity
//! mix, top services, the automation rate and the latest activity.
//!
//! Four bounded index scans give every figure — the incidents opened in the last 30
//! days (grouped by severity, service and age, for the response times, the severity
//! mix, top services and the automation rate), the alerts received in them, the open
//! incidents, the latest incidents' timelines — and they run concurrently.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::incident::{
    AGENT_NAME, ActivityItem, DashboardStats, ResponseTimes, SOURCES, Severity, TimelineEntry,
};
use crate::error::AppError;

/// Days the charts cover.
const DAYS: i64 = 30;
/// Services the top list shows.
const TOP_SERVICES: usize = 5;
/// Lines of the activity feed.
const ACTIVITY: i64 = 12;
/// Entries read per incident for each line of the feed (an analysis writes about a dozen).
const FOLDED_STEPS: i64 = 4;

/// One row per severity, service and age bucket of the incidents opened in the last
/// 30 days (bucket 0: last 24 h, 1: the rest of the last 7 d, 2: the rest of the 30 d).
#[derive(sqlx::FromRow)]
struct OpenedRow {
    severity: String,
    service: Option<String>,
    bucket: i32,
    opened: i64,
    resolved: i64,
    by_agent: i64,
    acknowledged: i64,
    ack_secs: f64,
    resolve_secs: f64,
}

/// Mean seconds to diagnosis of incidents opened in the last day, week and month.
async fn time_to_diagnosis(db: &PgPool, team: Uuid, now: DateTime<Utc>) -> Result<[Option<f64>; 3], sqlx::Error> {
    let (day, week, month): (Option<f64>, Option<f64>, Option<f64>) = sqlx::query_as(
        "select (avg(a.diagnosed_after_ms) filter (where i.first_seen_at >= $2 - interval '1 day') / 1000)::float8,
                (avg(a.diagnosed_after_ms) filter (where i.first_seen_at >= $2 - interval '7 days') / 1000)::float8,
                (avg(a.diagnosed_after_ms) / 1000)::float8
         from analyses a join incidents i on i.id = a.incident_id
         where a.team_id = $1 and i.first_seen_at >= $2 - interval '30 days' and i.first_seen_at <= $2",
    )
    .bind(team)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok([day, week, month])
}

/// The team's dashboard figures at `now`.
pub async fn stats(db: &PgPool, team: Uuid, now: DateTime<Utc>) -> Result<DashboardStats, AppError> {
    let since = now - Duration::days(DAYS);
    let (opened, open, per_day, activity, diagnosis, accuracy) = tokio::try_join!(
        opened(db, team, now, since),
        open_by_severity(db, team),
        alerts_per_day(db, team, now),
        activity(db, team),
        time_to_diagnosis(db, team, now),
        crate::server::agent::accuracy(db, team, now),
    )
    .map_err(|error| AppError::internal("reading the dashboard failed", &error))?;

    let severity = |name: &str| name.parse::<Severity>().ok();
    let mut severity_mix: HashMap<Severity, i64> = HashMap::new();
    let mut services: HashMap<&str, i64> = HashMap::new();
    let (mut resolved_30d, mut resolved_by_agent_30d) = (0, 0);
    for row in &opened {
        if let Some(severity) = severity(&row.severity) {
            *severity_mix.entry(severity).or_default() += row.opened;
        }
        if let Some(service) = &row.service {
            *services.entry(service).or_default() += row.opened;
        }
        resolved_30d += row.resolved;
        resolved_by_agent_30d += row.by_agent;
    }
    let mut top_services: Vec<(String, i64)> =
        services.into_iter().map(|(service, count)| (service.to_string(), count)).collect();
    top_services.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top_services.truncate(TOP_SERVICES);
    let response_times = [("24 h", 0), ("7 d", 1), ("30 d", 2)]
        .into_iter()
        .zip(diagnosis)
        .map(|((window, last_bucket), mttd_secs)| {
            let rows = opened.iter().filter(|row| row.bucket <= last_bucket);
            let (mut acknowledged, mut ack_secs, mut resolved, mut resolve_secs) = (0, 0.0, 0, 0.0);
            for row in rows {
                acknowledged += row.acknowledged;
                ack_secs += row.ack_secs;
                resolved += row.resolved;
                resolve_secs += row.resolve_secs;
            }
            ResponseTimes {
                window: window.to_string(),
                mtta_secs: (acknowledged > 0).then(|| ack_secs / acknowledged as f64),
                mttr_secs: (resolved > 0).then(|| resolve_secs / resolved as f64),
                mttd_secs,
            }
        })
        .collect();
    let by_severity = |counts: &HashMap<Severity, i64>| {
        Severity::ALL.into_iter().map(|severity| (severity, counts.get(&severity).copied().unwrap_or(0))).collect()
    };
    let open: HashMap<Severity, i64> =
        open.into_iter().filter_map(|(name, count)| Some((severity(&name)?, count))).collect();

    Ok(DashboardStats {
        open_by_severity: by_severity(&open),
        response_times,
        alerts_per_day: per_day,
        severity_mix: by_severity(&severity_mix),
        top_services,
        resolved_30d,
        resolved_by_agent_30d,
        activity,
        accuracy,
    })
}

/// Incidents opened since `since`, by severity, service and age: counts, and the sums
/// behind MTTA (acknowledged ones) and MTTR (resolved ones, and those the agent
/// resolved). Intervals are summed, and turned into seconds once per group.
async fn opened(
    db: &PgPool,
    team: Uuid,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<Vec<OpenedRow>, sqlx::Error> {
    sqlx::query_as(
        "select severity, service,
                case when first_seen_at > $2 then 0 when first_seen_at > $3 then 1 else 2 end as bucket,
                count(*) as opened,
                count(resolved_at) as resolved,
                count(*) filter (where resolved_by = $5) as by_agent,
                count(acknowledged_at) as acknowledged,
                coalesce(extract(epoch from sum(acknowledged_at - first_seen_at)), 0)::float8 as ack_secs,
                coalesce(extract(epoch from sum(resolved_at - first_seen_at)), 0)::float8 as resolve_secs
         from incidents
         where team_id = $1 and first_seen_at > $4
         group by 1, 2, 3",
    )
    .bind(team)
    .bind(now - Duration::days(1))
    .bind(now - Duration::days(7))
    .bind(since)
    .bind(AGENT_NAME)
    .fetch_all(db)
    .await
}

async fn open_by_severity(db: &PgPool, team: Uuid) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select severity, count(*) from incidents
         where team_id = $1 and status in ('triggered', 'acknowledged') group by severity",
    )
    .bind(team)
    .fetch_all(db)
    .await
}

/// Alerts received per UTC day, the last 30 days (today included), zeros filled in.
async fn alerts_per_day(db: &PgPool, team: Uuid, now: DateTime<Utc>) -> Result<Vec<(NaiveDate, i64)>, sqlx::Error> {
    let today = now.date_naive();
    let first = today - Duration::days(DAYS - 1);
    let start = first.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    // Naming every source lets the (team, source, time) index serve the range.
    let sources: Vec<&str> = SOURCES.iter().map(|(name, _)| *name).collect();
    let counts: Vec<(NaiveDate, i64)> = sqlx::query_as(
        "select (received_at at time zone 'UTC')::date as day, count(*) from alerts
         where team_id = $1 and source = any ($2) and received_at >= $3 group by 1",
    )
    .bind(team)
    .bind(&sources)
    .bind(start)
    .fetch_all(db)
    .await?;
    let counts: HashMap<NaiveDate, i64> = counts.into_iter().collect();
    Ok((0..DAYS)
        .map(|offset| {
            let day = first + Duration::days(offset);
            (day, counts.get(&day).copied().unwrap_or(0))
        })
        .collect())
}

/// The latest timeline entries of the team's most recently active incidents (every
/// responder action and alert counts as activity, so these are the latest entries). The
/// agent's steps between two other entries are one line: "Analysed: 11 steps —" and
/// the diagnosis (or the last step), not eleven.
async fn activity(db: &PgPool, team: Uuid) -> Result<Vec<ActivityItem>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        incident_id: Uuid,
        incident_title: String,
        id: i64,
        at: DateTime<Utc>,
        kind: String,
        actor: String,
        message: String,
        steps: i64,
    }
    // Each entry not the agent's is a group of its own; the agent's entries share the
    // group of the other entries before them (`run`), so a run of steps folds into one.
    let rows: Vec<Row> = sqlx::query_as(
        "select i.id as incident_id, i.title as incident_title, g.id, g.at, g.kind, g.actor, g.message, g.steps
         from (select id, title from incidents where team_id = $1
               order by last_seen_at desc, id desc limit $2) i
         cross join lateral (
             select max(e.id) as id, max(e.at) as at,
                    (array_agg(e.kind order by e.id desc))[1] as kind,
                    (array_agg(e.actor order by e.id desc))[1] as actor,
                    coalesce((array_agg(e.message order by e.id desc) filter (where e.kind = 'agent.diagnosis'))[1],
                             (array_agg(e.message order by e.id desc))[1]) as message,
                    count(*) as steps
             from (select id, at, kind, actor, message, kind like 'agent.%' as by_agent,
                          count(*) filter (where kind not like 'agent.%') over (order by id) as run
                   from (select id, at, kind, actor, message from timeline_entries
                         where incident_id = i.id order by id desc limit $3) latest) e
             group by case when e.by_agent then -e.run else e.id end
             order by max(e.id) desc limit $2) g
         order by g.id desc limit $2",
    )
    .bind(team)
    .bind(ACTIVITY)
    .bind(ACTIVITY * FOLDED_STEPS)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (kind, message) = if row.steps > 1 {
                ("agent.analysis".to_string(), format!("Analysed: {} steps — {}", row.steps, row.message))
            } else {
                (row.kind, row.message)
            };
            ActivityItem {
                incident_id: row.incident_id,
                incident_title: row.incident_title,
                entry: TimelineEntry { id: row.id, at: row.at, kind, actor: row.actor, message },
            }
        })
        .collect())
}
