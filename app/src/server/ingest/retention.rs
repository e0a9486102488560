//! How long raw deliveries are kept: as long as the team's plan says
//! (`plans.raw_retention_days`: Free 7 days, Starter 30, Pro 90, Enterprise 365). A
//! task removes the bodies past it, team by team, in short batches; the alert rows stay
//! (counts, replay protection, the incident's history) and say when their body went.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// How often the bodies past their retention are removed.
pub const EVERY: Duration = Duration::from_secs(3600);
/// Bodies removed per statement, so that no pass holds many row locks for long.
const BATCH: i64 = 2_000;

/// Removes every body past its team's retention; returns how many were removed. Each
/// team's pass starts where its last one ended (`teams.raw_removed_before`), so a pass
/// reads only what became old since.
pub async fn remove_expired(db: &PgPool) -> Result<u64, sqlx::Error> {
    let teams: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "select t.id, t.raw_removed_before, now() - make_interval(days => p.raw_retention_days)
         from teams t join plans p on p.id = t.plan
         where t.raw_removed_before < now() - make_interval(days => p.raw_retention_days)",
    )
    .fetch_all(db)
    .await?;
    let mut removed = 0;
    for (team, from, before) in teams {
        loop {
            let batch = sqlx::query(
                "with batch as (
                     select id from alerts
                     where team_id = $1 and received_at >= $2 and received_at < $3 and raw_removed_at is null
                     order by received_at limit $4)
                 update alerts set raw_body = '\\x', raw_removed_at = now()
                 from batch where alerts.id = batch.id",
            )
            .bind(team)
            .bind(from)
            .bind(before)
            .bind(BATCH)
            .execute(db)
            .await?
            .rows_affected();
            removed += batch;
            if batch < BATCH as u64 {
                break;
            }
        }
        sqlx::query("update teams set raw_removed_before = greatest(raw_removed_before, $2) where id = $1")
            .bind(team)
            .bind(before)
            .execute(db)
            .await?;
    }
    Ok(removed)
}

/// Runs [`remove_expired`] and logs what it did (the runtime's periodic task, every
/// [`EVERY`]).
pub async fn remove_expired_logged(db: PgPool) {
    match remove_expired(&db).await {
        Ok(0) | Err(sqlx::Error::PoolClosed) => {}
        Ok(removed) => tracing::info!(removed, "removed raw deliveries past their plan's retention"),
        Err(error) => tracing::warn!(%error, "removing raw deliveries past their retention failed; retrying later"),
    }
}
