//! The `invitations` table.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::account::{PendingInvitation, Role};

/// An invitation to insert.
pub struct NewInvitation<'a> {
    pub id: Uuid,
    pub team_id: Uuid,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a [u8],
    pub invited_by: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Inserts an invitation.
pub async fn insert(db: impl PgExecutor<'_>, new: &NewInvitation<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into invitations (id, team_id, email, role, token_hash, invited_by, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new.id)
    .bind(new.team_id)
    .bind(new.email)
    .bind(new.role.as_str())
    .bind(new.token_hash)
    .bind(new.invited_by)
    .bind(new.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// An invitation as stored, with its team's name.
#[derive(Debug, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: Uuid,
    pub team_id: Uuid,
    pub team_name: String,
    pub email: String,
    pub role: String,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The invitation whose token hashes to `token_hash`; with `lock`, locked until the
/// transaction ends (so that it is accepted at most once).
pub async fn find_by_token(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    lock: bool,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    let sql = format!(
        "select i.id, i.team_id, t.name as team_name, i.email::text as email, i.role, i.expires_at,
                i.accepted_at, i.revoked_at
         from invitations i join teams t on t.id = i.team_id
         where i.token_hash = $1 {}",
        if lock { "for update of i" } else { "" }
    );
    sqlx::query_as(&sql).bind(token_hash).fetch_optional(db).await
}

/// Marks an invitation accepted.
pub async fn mark_accepted(db: impl PgExecutor<'_>, id: Uuid, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update invitations set accepted_at = now(), accepted_by = $2 where id = $1")
        .bind(id)
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}

/// The team's invitations that can still be accepted, newest first.
pub async fn pending(db: impl PgExecutor<'_>, team: Uuid) -> Result<Vec<PendingInvitation>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "select id, email::text, role, expires_at from invitations
         where team_id = $1 and accepted_at is null and revoked_at is null and expires_at > now()
         order by created_at desc",
    )
    .bind(team)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, email, role, expires_at)| PendingInvitation {
            id,
            email,
            role: role.parse().unwrap_or(Role::Viewer),
            expires_at,
        })
        .collect())
}

/// Revokes one of the team's pending invitations; returns its email, or `None` when
/// the team has no such pending invitation.
pub async fn revoke(db: impl PgExecutor<'_>, team: Uuid, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "update invitations set revoked_at = now()
         where team_id = $1 and id = $2 and accepted_at is null and revoked_at is null
         returning email::text",
    )
    .bind(team)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Revokes the pending invitations `user` made in `team` to a role not in `kept`; how many.
pub async fn revoke_made_by(
    db: impl PgExecutor<'_>,
    team: Uuid,
    user: Uuid,
    kept: &[&str],
) -> Result<u64, sqlx::Error> {
    let revoked = sqlx::query(
        "update invitations set revoked_at = now()
         where team_id = $1 and invited_by = $2 and accepted_at is null and revoked_at is null
           and not (role = any($3))",
    )
    .bind(team)
    .bind(user)
    .bind(kept)
    .execute(db)
    .await?;
    Ok(revoked.rows_affected())
}
