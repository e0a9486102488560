//! The `users` table.

use sqlx::PgExecutor;
use uuid::Uuid;

/// A user as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub session_version: i32,
    /// Whether a link mailed to the address was used.
    pub email_verified: bool,
    /// Whether they sign in with a second factor.
    pub two_factor: bool,
}

/// The columns of a [`UserRow`], from `users u`.
pub(super) const USER_COLUMNS: &str = "u.id, u.email::text as email, u.password_hash, u.session_version,
    u.email_verified_at is not null as email_verified,
    exists (select 1 from two_factor f where f.user_id = u.id and f.enabled_at is not null) as two_factor";

/// Inserts a user; `None` when the email is taken (in any capitalisation).
pub async fn insert(db: impl PgExecutor<'_>, id: Uuid, email: &str, password_hash: &str) -> Result<bool, sqlx::Error> {
    let inserted =
        sqlx::query("insert into users (id, email, password_hash) values ($1, $2, $3) on conflict (email) do nothing")
            .bind(id)
            .bind(email)
            .bind(password_hash)
            .execute(db)
            .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The user with this email (compared without regard to case).
pub async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {USER_COLUMNS} from users u where u.email = $1::citext"))
        .bind(email)
        .fetch_optional(db)
        .await
}

/// The user with this id.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {USER_COLUMNS} from users u where u.id = $1")).bind(id).fetch_optional(db).await
}

/// Sets a new password hash and bumps the session version; returns the new version.
pub async fn set_password(db: impl PgExecutor<'_>, id: Uuid, password_hash: &str) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "update users set password_hash = $2, session_version = session_version + 1, password_changed_at = now()
         where id = $1 returning session_version",
    )
    .bind(id)
    .bind(password_hash)
    .fetch_one(db)
    .await
}
