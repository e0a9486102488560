//! The `api_keys` table.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::account::{ApiKeySummary, ApiScope};

/// Inserts a key; `false` when its prefix is already taken.
pub async fn insert(
    db: impl PgExecutor<'_>,
    summary: &ApiKeySummary,
    team: Uuid,
    secret_hash: &[u8],
    created_by: Uuid,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into api_keys (id, team_id, name, prefix, secret_hash, created_by, created_at, scopes)
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (prefix) do nothing",
    )
    .bind(summary.id)
    .bind(team)
    .bind(&summary.name)
    .bind(&summary.prefix)
    .bind(secret_hash)
    .bind(created_by)
    .bind(summary.created_at)
    .bind(scope_names(&summary.scopes))
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    scopes: Vec<String>,
}

/// Scopes as the database keeps them.
fn scope_names(scopes: &[ApiScope]) -> Vec<&'static str> {
    scopes.iter().map(|scope| scope.as_str()).collect()
}

/// Scopes from the database (whose check admits only known names).
pub fn parse_scopes(names: &[String]) -> Vec<ApiScope> {
    names.iter().filter_map(|name| name.parse().ok()).collect()
}

impl From<ApiKeyRow> for ApiKeySummary {
    fn from(row: ApiKeyRow) -> Self {
        ApiKeySummary {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
            scopes: parse_scopes(&row.scopes),
        }
    }
}

/// The team's keys, newest first.
pub async fn list(db: impl PgExecutor<'_>, team: Uuid) -> Result<Vec<ApiKeySummary>, sqlx::Error> {
    let rows: Vec<ApiKeyRow> = sqlx::query_as(
        "select id, name, prefix, created_at, last_used_at, revoked_at, scopes from api_keys
         where team_id = $1 order by created_at desc",
    )
    .bind(team)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Revokes one of the team's keys; returns it, or `None` when the team has no such
/// key that is still active.
pub async fn revoke(db: impl PgExecutor<'_>, team: Uuid, id: Uuid) -> Result<Option<ApiKeySummary>, sqlx::Error> {
    let row: Option<ApiKeyRow> = sqlx::query_as(
        "update api_keys set revoked_at = now() where team_id = $1 and id = $2 and revoked_at is null
         returning id, name, prefix, created_at, last_used_at, revoked_at, scopes",
    )
    .bind(team)
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Into::into))
}

/// The active key with this prefix: its id, team, name, secret hash and scopes, and
/// its team's plan.
pub async fn find_active_by_prefix(
    db: impl PgExecutor<'_>,
    prefix: &str,
) -> Result<Option<(Uuid, Uuid, String, Vec<u8>, Vec<String>, String)>, sqlx::Error> {
    sqlx::query_as(
        "select k.id, k.team_id, k.name, k.secret_hash, k.scopes, t.plan from api_keys k
         join teams t on t.id = k.team_id where k.prefix = $1 and k.revoked_at is null",
    )
    .bind(prefix)
    .fetch_optional(db)
    .await
}

/// Records that the key was just used (at most once a minute, to spare writes).
pub async fn touch(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update api_keys set last_used_at = now()
         where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Revokes every key `user` made in `team`; how many.
pub async fn revoke_made_by(db: impl PgExecutor<'_>, team: Uuid, user: Uuid) -> Result<u64, sqlx::Error> {
    let revoked = sqlx::query(
        "update api_keys set revoked_at = now() where team_id = $1 and created_by = $2 and revoked_at is null",
    )
    .bind(team)
    .bind(user)
    .execute(db)
    .await?;
    Ok(revoked.rows_affected())
}
