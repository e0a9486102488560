//! The `login_attempts` table.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Records a sign-in attempt; its id.
pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    client_addr: &str,
    succeeded: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("insert into login_attempts (email, client_addr, succeeded) values ($1, $2, $3) returning id")
        .bind(email)
        .bind(client_addr)
        .bind(succeeded)
        .fetch_one(db)
        .await
}

/// Marks attempt `id` as having succeeded.
pub async fn mark_succeeded(db: impl PgExecutor<'_>, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update login_attempts set succeeded = true where id = $1").bind(id).execute(db).await?;
    Ok(())
}

/// Failures since `since`, up to attempt `up_to` (those recorded before it, and it):
/// for the account (count, oldest) and for the address (count, oldest).
pub async fn recent_failures(
    db: impl PgExecutor<'_>,
    email: &str,
    client_addr: &str,
    since: DateTime<Utc>,
    up_to: i64,
) -> Result<((i64, Option<DateTime<Utc>>), (i64, Option<DateTime<Utc>>)), sqlx::Error> {
    let row: (i64, Option<DateTime<Utc>>, i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "select count(*) filter (where email = $1::citext), min(attempted_at) filter (where email = $1::citext),
                count(*) filter (where client_addr = $2), min(attempted_at) filter (where client_addr = $2)
         from login_attempts
         where not succeeded and attempted_at > $3 and id <= $4 and (email = $1::citext or client_addr = $2)",
    )
    .bind(email)
    .bind(client_addr)
    .bind(since)
    .bind(up_to)
    .fetch_one(db)
    .await?;
    Ok(((row.0, row.1), (row.2, row.3)))
}

/// Deletes attempts older than `before`.
pub async fn delete_older_than(db: impl PgExecutor<'_>, before: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("delete from login_attempts where attempted_at < $1").bind(before).execute(db).await?;
    Ok(())
}
