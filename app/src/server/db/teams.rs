//! The `teams` and `memberships` tables.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::account::{Member, Role, TeamMembership};

/// Inserts a team.
pub async fn insert(db: impl PgExecutor<'_>, id: Uuid, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("insert into teams (id, name) values ($1, $2)").bind(id).bind(name).execute(db).await?;
    Ok(())
}

/// The team's name.
pub async fn name(db: impl PgExecutor<'_>, team: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select name from teams where id = $1").bind(team).fetch_one(db).await
}

/// Adds a member; `false` when they already belong to the team.
pub async fn add_member(db: impl PgExecutor<'_>, team: Uuid, user: Uuid, role: Role) -> Result<bool, sqlx::Error> {
    let added =
        sqlx::query("insert into memberships (team_id, user_id, role) values ($1, $2, $3) on conflict do nothing")
            .bind(team)
            .bind(user)
            .bind(role.as_str())
            .execute(db)
            .await?;
    Ok(added.rows_affected() == 1)
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    team_id: Uuid,
    team_name: String,
    role: String,
}

fn role(stored: &str) -> Role {
    // The column's check constraint admits only the four names.
    stored.parse().unwrap_or(Role::Viewer)
}

impl From<MembershipRow> for TeamMembership {
    fn from(row: MembershipRow) -> Self {
        TeamMembership { team_id: row.team_id, team_name: row.team_name, role: role(&row.role) }
    }
}

/// The user's membership of one team, if they belong to it.
pub async fn membership(
    db: impl PgExecutor<'_>,
    team: Uuid,
    user: Uuid,
) -> Result<Option<TeamMembership>, sqlx::Error> {
    let row: Option<MembershipRow> = sqlx::query_as(
        "select t.id as team_id, t.name as team_name, m.role
         from memberships m join teams t on t.id = m.team_id
         where m.team_id = $1 and m.user_id = $2",
    )
    .bind(team)
    .bind(user)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Into::into))
}

/// The user, their membership of `team` (if they still belong to it) and whether that
/// team requires a second factor, in one round trip: what every signed-in request reads
/// after its session.
pub async fn user_in_team(
    db: impl PgExecutor<'_>,
    user: Uuid,
    team: Option<Uuid>,
) -> Result<Option<(super::users::UserRow, Option<TeamMembership>, bool)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: super::users::UserRow,
        team_id: Option<Uuid>,
        team_name: Option<String>,
        role: Option<String>,
        requires_two_factor: Option<bool>,
    }
    let row: Option<Row> = sqlx::query_as(&format!(
        "select {}, t.id as team_id, t.name as team_name, m.role, t.require_two_factor as requires_two_factor
         from users u
         left join memberships m on m.user_id = u.id and m.team_id = $2
         left join teams t on t.id = m.team_id
         where u.id = $1",
        super::users::USER_COLUMNS
    ))
    .bind(user)
    .bind(team)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| {
        let membership = match (row.team_id, row.team_name, row.role) {
            (Some(team_id), Some(team_name), Some(role)) => Some(MembershipRow { team_id, team_name, role }.into()),
            _ => None,
        };
        (row.user, membership, row.requires_two_factor.unwrap_or(false))
    }))
}

/// Whether `team`'s owners require every member to sign in with a second factor.
pub async fn requires_two_factor(db: impl PgExecutor<'_>, team: Uuid) -> Result<bool, sqlx::Error> {
    let required: Option<bool> =
        sqlx::query_scalar("select require_two_factor from teams where id = $1").bind(team).fetch_optional(db).await?;
    Ok(required.unwrap_or(false))
}

/// Every team the user belongs to, by name.
pub async fn memberships_of(db: impl PgExecutor<'_>, user: Uuid) -> Result<Vec<TeamMembership>, sqlx::Error> {
    let rows: Vec<MembershipRow> = sqlx::query_as(
        "select t.id as team_id, t.name as team_name, m.role
         from memberships m join teams t on t.id = m.team_id
         where m.user_id = $1 order by lower(t.name), t.id",
    )
    .bind(user)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: Uuid,
    email: String,
    role: String,
    created_at: DateTime<Utc>,
}

/// The team's members, most powerful role first, then by email.
pub async fn members(db: impl PgExecutor<'_>, team: Uuid) -> Result<Vec<Member>, sqlx::Error> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "select m.user_id, u.email::text as email, m.role, m.created_at
         from memberships m join users u on u.id = m.user_id
         where m.team_id = $1
         order by array_position(array['owner', 'admin', 'operator', 'viewer'], m.role), u.email",
    )
    .bind(team)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Member { user_id: row.user_id, email: row.email, role: role(&row.role), joined_at: row.created_at })
        .collect())
}

/// Locks the team's memberships until the transaction ends and returns each member's
/// role, so that checks like "a team keeps at least one owner" cannot race.
pub async fn lock_roles(db: impl PgExecutor<'_>, team: Uuid) -> Result<Vec<(Uuid, Role)>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("select user_id, role from memberships where team_id = $1 for update")
            .bind(team)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(user, stored)| (user, role(&stored))).collect())
}

/// Changes a member's role.
pub async fn set_role(db: impl PgExecutor<'_>, team: Uuid, user: Uuid, new_role: Role) -> Result<(), sqlx::Error> {
    sqlx::query("update memberships set role = $3 where team_id = $1 and user_id = $2")
        .bind(team)
        .bind(user)
        .bind(new_role.as_str())
        .execute(db)
        .await?;
    Ok(())
}

/// Removes a member from the team.
pub async fn remove_member(db: impl PgExecutor<'_>, team: Uuid, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("delete from memberships where team_id = $1 and user_id = $2")
        .bind(team)
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}
