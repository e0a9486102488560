//! The dashboard's figures: open incidents, response times, alert volume, the severity
//! mix, top services, the automation rate and the latest activity.
//!
//! The 7- and 30-day figures come from the per-day rollups that triggers keep as
//! incidents and alerts are written (`incident_days`, `alert_days`, migration 0018): a
//! few hundred rows however many incidents a team has. Only the last 24 hours are read
//! from the incidents themselves, so that that window is exact to the second. The
//! queries run concurrently.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::incident::{ActivityItem, DashboardStats, ResponseTimes, Severity, TimelineEntry};
use crate::error::{AppError, OrInternal};

/// Days the charts cover.
const DAYS: i64 = 30;
/// UTC days (today included) of the response times' middle window.
const WEEK: i64 = 7;
/// Services the top list shows.
const TOP_SERVICES: usize = 5;
/// Lines of the activity feed.
const ACTIVITY: i64 = 12;
/// Entries read per incident for each line of the feed (an analysis writes about a dozen).
const FOLDED_STEPS: i64 = 4;

/// The windows the dashboard's figures cover, at one instant: the last 24 hours, and the
/// last 7 and 30 UTC days, today included (the days the charts show).
struct Windows {
    day: DateTime<Utc>,
    week: NaiveDate,
    month: NaiveDate,
}

impl Windows {
    fn at(now: DateTime<Utc>) -> Self {
        let today = now.date_naive();
        Windows {
            day: now - Duration::days(1),
            week: today - Duration::days(WEEK - 1),
            month: today - Duration::days(DAYS - 1),
        }
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// Acknowledgements and resolutions of some incidents, with their summed durations.
#[derive(Clone, Copy, Default, sqlx::FromRow)]
struct Responses {
    acknowledged: i64,
    ack_ms: i64,
    resolved: i64,
    resolve_ms: i64,
}

impl std::ops::AddAssign for Responses {
    fn add_assign(&mut self, other: Self) {
        self.acknowledged += other.acknowledged;
        self.ack_ms += other.ack_ms;
        self.resolved += other.resolved;
        self.resolve_ms += other.resolve_ms;
    }
}

impl Responses {
    fn times(self, window: &str, mttd_secs: Option<f64>) -> ResponseTimes {
        let mean = |count: i64, ms: i64| (count > 0).then(|| ms as f64 / 1000.0 / count as f64);
        ResponseTimes {
            window: window.to_string(),
            mtta_secs: mean(self.acknowledged, self.ack_ms),
            mttr_secs: mean(self.resolved, self.resolve_ms),
            mttd_secs,
        }
    }
}

/// The incidents opened in the last 30 days by severity and service ('' for none), and
/// whether they opened in the last 7 days, from the daily rollup.
#[derive(sqlx::FromRow)]
struct OpenedRow {
    severity: String,
    service: String,
    this_week: bool,
    opened: i64,
    resolved_by_agent: i64,
    #[sqlx(flatten)]
    responses: Responses,
}

async fn opened(db: &PgPool, team: Uuid, windows: &Windows) -> Result<Vec<OpenedRow>, sqlx::Error> {
    sqlx::query_as(
        "select severity, service, day >= $2 as this_week, sum(opened)::int8 as opened,
                sum(resolved_by_agent)::int8 as resolved_by_agent, sum(acknowledged)::int8 as acknowledged,
                sum(ack_ms)::int8 as ack_ms, sum(resolved)::int8 as resolved, sum(resolve_ms)::int8 as resolve_ms
         from incident_days where team_id = $1 and day >= $3
         group by 1, 2, 3",
    )
    .bind(team)
    .bind(windows.week)
    .bind(windows.month)
    .fetch_all(db)
    .await
}

/// The responses to the incidents opened in the last 24 hours, from the incidents.
async fn responses_today(db: &PgPool, team: Uuid, windows: &Windows) -> Result<Responses, sqlx::Error> {
    sqlx::query_as(
        "select count(acknowledged_at) as acknowledged,
                coalesce(sum((extract(epoch from acknowledged_at - first_seen_at) * 1000)::int8), 0)::int8 as ack_ms,
                count(resolved_at) as resolved,
                coalesce(sum((extract(epoch from resolved_at - first_seen_at) * 1000)::int8), 0)::int8 as resolve_ms
         from incidents where team_id = $1 and first_seen_at > $2",
    )
    .bind(team)
    .bind(windows.day)
    .fetch_one(db)
    .await
}

/// Mean seconds to diagnosis of incidents opened in each window.
async fn time_to_diagnosis(db: &PgPool, team: Uuid, windows: &Windows) -> Result<[Option<f64>; 3], sqlx::Error> {
    let since = midnight(windows.month);
    let (day, week, month): (Option<f64>, Option<f64>, Option<f64>) = sqlx::query_as(
        "select (avg(a.diagnosed_after_ms) filter (where i.first_seen_at > $2) / 1000)::float8,
                (avg(a.diagnosed_after_ms) filter (where i.first_seen_at >= $3) / 1000)::float8,
                (avg(a.diagnosed_after_ms) / 1000)::float8
         from analyses a join incidents i on i.id = a.incident_id
         -- An analysis is made after its incident opened: the bound lets the index serve.
         where a.team_id = $1 and a.created_at >= $4 and i.first_seen_at >= $4",
    )
    .bind(team)
    .bind(windows.day)
    .bind(midnight(windows.week))
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok([day, week, month])
}

/// The team's dashboard figures at `now`.
pub async fn stats(db: &PgPool, team: Uuid, now: DateTime<Utc>) -> Result<DashboardStats, AppError> {
    let windows = Windows::at(now);
    let (opened, today, open, per_day, activity, diagnosis, accuracy) = tokio::try_join!(
        opened(db, team, &windows),
        responses_today(db, team, &windows),
        open_by_severity(db, team),
        alerts_per_day(db, team, &windows),
        activity(db, team),
        time_to_diagnosis(db, team, &windows),
        crate::server::agent::accuracy(db, team, now),
    )
    .or_internal("reading the dashboard failed")?;

    let severity = |name: &str| name.parse::<Severity>().ok();
    let mut severity_mix: HashMap<Severity, i64> = HashMap::new();
    let mut services: HashMap<&str, i64> = HashMap::new();
    let (mut resolved_30d, mut resolved_by_agent_30d) = (0, 0);
    let (mut week, mut month) = (Responses::default(), Responses::default());
    for row in &opened {
        if let Some(severity) = severity(&row.severity) {
            *severity_mix.entry(severity).or_default() += row.opened;
        }
        if !row.service.is_empty() {
            *services.entry(&row.service).or_default() += row.opened;
        }
        resolved_30d += row.responses.resolved;
        resolved_by_agent_30d += row.resolved_by_agent;
        month += row.responses;
        if row.this_week {
            week += row.responses;
        }
    }
    let mut top_services: Vec<(String, i64)> = services
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(service, count)| (service.to_string(), count))
        .collect();
    top_services.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top_services.truncate(TOP_SERVICES);
    let [day_mttd, week_mttd, month_mttd] = diagnosis;
    let response_times =
        vec![today.times("24 h", day_mttd), week.times("7 d", week_mttd), month.times("30 d", month_mttd)];
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

/// The open incidents by severity, read from the open-incident index alone (its
/// predicate is `status <> 'resolved'`, so the query says so too).
async fn open_by_severity(db: &PgPool, team: Uuid) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select severity, count(*) from incidents
         where team_id = $1 and status <> 'resolved' group by severity",
    )
    .bind(team)
    .fetch_all(db)
    .await
}

/// Alerts received per UTC day, the last 30 days (today included), zeros filled in.
async fn alerts_per_day(db: &PgPool, team: Uuid, windows: &Windows) -> Result<Vec<(NaiveDate, i64)>, sqlx::Error> {
    let counts: Vec<(NaiveDate, i64)> =
        sqlx::query_as("select day, alerts from alert_days where team_id = $1 and day >= $2")
            .bind(team)
            .bind(windows.month)
            .fetch_all(db)
            .await?;
    let counts: HashMap<NaiveDate, i64> = counts.into_iter().collect();
    Ok((0..DAYS)
        .map(|offset| {
            let day = windows.month + Duration::days(offset);
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
