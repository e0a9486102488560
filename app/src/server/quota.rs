//! The alert quota: how many new incidents a team's plan lets the agent analyse per
//! period, granted atomically in PostgreSQL.
//!
//! Periods are calendar months (UTC) on Free, and the paid subscription's period
//! otherwise (billing sets `teams.period_start`/`period_end`; an expired period falls
//! back to the calendar month).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::incident::Usage;

/// The team's plan and current period.
#[derive(Debug, sqlx::FromRow)]
pub struct Period {
    /// The plan's name.
    pub plan: String,
    /// Alerts per period; `None` for unlimited.
    pub limit: Option<i32>,
    /// When the period began.
    pub start: DateTime<Utc>,
    /// When the next one begins.
    pub end: DateTime<Utc>,
}

/// The team's current period.
pub async fn period(db: impl PgExecutor<'_>, team: Uuid) -> Result<Period, sqlx::Error> {
    sqlx::query_as(
        "select p.name as plan, p.monthly_alert_limit as limit,
                case when paid then t.period_start else month_start end as start,
                case when paid then t.period_end else month_start + interval '1 month' end as end
         from teams t
         join plans p on p.id = t.plan
         cross join lateral (select
             t.plan <> 'free' and t.period_start is not null and t.period_end > now() as paid,
             date_trunc('month', now() at time zone 'utc') at time zone 'utc' as month_start) as s
         where t.id = $1",
    )
    .bind(team)
    .fetch_one(db)
    .await
}

/// Grants one alert of the current period if any remain, counting it. Call it inside
/// the transaction that opens the incident, as late as possible: a rolled-back incident
/// gives its grant back, and concurrent grants queue on the usage row until commit, so
/// exactly the remaining quota is granted. Unlimited plans always grant and take no
/// lock; an exhausted quota is refused without one (a committed count never shrinks).
pub async fn grant(db: &mut sqlx::PgConnection, team: Uuid) -> Result<bool, sqlx::Error> {
    let period = period(&mut *db, team).await?;
    let Some(limit) = period.limit else { return Ok(true) };
    let used: Option<i32> = sqlx::query_scalar("select used from alert_usage where team_id = $1 and period_start = $2")
        .bind(team)
        .bind(period.start)
        .fetch_optional(&mut *db)
        .await?;
    if used.is_some_and(|used| used >= limit) {
        return Ok(false);
    }
    let granted: Option<i32> = sqlx::query_scalar(
        "insert into alert_usage (team_id, period_start, used) values ($1, $2, 1)
         on conflict (team_id, period_start) do update set used = alert_usage.used + 1
             where alert_usage.used < $3
         returning used",
    )
    .bind(team)
    .bind(period.start)
    .bind(limit)
    .fetch_optional(&mut *db)
    .await?;
    Ok(granted.is_some())
}

/// How much of the current period's quota the team has used (on unlimited plans: how
/// many incidents opened for analysis this period).
pub async fn usage(db: &sqlx::PgPool, team: Uuid) -> Result<Usage, sqlx::Error> {
    let period = period(db, team).await?;
    let used: Option<i32> = match period.limit {
        Some(_) => {
            sqlx::query_scalar("select used from alert_usage where team_id = $1 and period_start = $2")
                .bind(team)
                .bind(period.start)
                .fetch_optional(db)
                .await?
        }
        None => {
            sqlx::query_scalar(
                "select count(*)::integer from incidents
                 where team_id = $1 and first_seen_at >= $2 and analysis = 'eligible'",
            )
            .bind(team)
            .bind(period.start)
            .fetch_optional(db)
            .await?
        }
    };
    Ok(Usage {
        plan: period.plan,
        used: u32::try_from(used.unwrap_or(0)).unwrap_or(0),
        limit: period.limit.and_then(|limit| u32::try_from(limit).ok()),
        resets_on: period.end.date_naive(),
    })
}
