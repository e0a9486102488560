//! The alert quota: how many new incidents a team's plan lets the agent analyse per
//! period, granted atomically in PostgreSQL.
//!
//! Periods are calendar months (UTC) on Free, and the paid subscription's period
//! otherwise (billing sets `teams.period_start`/`period_end`; an expired period falls
//! back to the calendar month). The period and the grant itself are defined once, in
//! PostgreSQL (`quota_period`, migration 0004; `grant_alerts`, migration 0006), where ingestion uses them.

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

/// The team's current period (PostgreSQL's `quota_period`, the one definition).
pub async fn period(db: impl PgExecutor<'_>, team: Uuid) -> Result<Period, sqlx::Error> {
    sqlx::query_as("select plan, alert_limit as limit, period_start as start, period_end as end from quota_period($1)")
        .bind(team)
        .fetch_one(db)
        .await
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

/// Makes the team's held incidents eligible, oldest first, as far as its current quota
/// allows (PostgreSQL's `release_held_incidents`); returns how many.
pub async fn release_held(db: impl PgExecutor<'_>, team: Uuid) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("select release_held_incidents($1)").bind(team).fetch_one(db).await
}

/// Releases held incidents of every team that has some: run periodically, so that a
/// new quota period frees what the last one held.
pub async fn release_all_held(pool: &sqlx::PgPool) -> Result<i64, sqlx::Error> {
    let teams: Vec<Uuid> = sqlx::query_scalar(
        "select distinct team_id from incidents where analysis = 'over_quota' and status <> 'resolved'",
    )
    .fetch_all(pool)
    .await?;
    let mut released = 0_i64;
    for team in teams {
        released += i64::from(release_held(pool, team).await?);
    }
    Ok(released)
}
