//! Resetting a forgotten password: a request mails a one-time link (the same answer
//! whether or not the address has an account; throttled per client address, and at
//! most a few mails per address an hour), whose token is stored only as its SHA-256,
//! valid for an hour; using it sets the new password, ends every session of the user
//! and every other link they were sent, confirms their address (the link reached it),
//! and signs them in.

use secrecy::SecretString;

use crate::domain::account::Email;
use crate::error::{AppError, Checks, OrInternal};
use crate::server::auth::context::RequestContext;
use crate::server::auth::{password, throttle};
use crate::server::mail::{self, Mail, letters};
use crate::server::{db, token};

/// How long a reset link works.
pub const VALID_FOR: chrono::Duration = chrono::Duration::hours(1);

/// What a link that cannot be used says, whatever the reason (unknown, used, expired).
pub const LINK_UNUSABLE: &str =
    "This reset link has expired or was already used. Ask for a new one below; the newest link always works.";

/// Mails a reset link to `email` when it has an account (and is under its limit);
/// answers the same either way.
pub async fn request(request: &RequestContext, email: &str) -> Result<(), AppError> {
    let email = Email::parse(email).map_err(|message| AppError::field("email", message))?;
    let pool = &request.state.db;
    if !throttle::password_reset(pool, email.as_str(), &request.client_addr).await? {
        return Ok(());
    }
    let mut tx = pool.begin().await.or_internal("a password reset query failed")?;
    let Some(user) = db::users::find_by_email(&mut *tx, email.as_str()).await.or_internal("an account query failed")?
    else {
        return Ok(());
    };
    let secret = token::random_hex(32);
    sqlx::query("insert into password_resets (token_hash, user_id, expires_at) values ($1, $2, now() + $3)")
        .bind(token::digest(&secret))
        .bind(user.id)
        .bind(VALID_FOR)
        .execute(&mut *tx)
        .await
        .or_internal("a password reset query failed")?;
    let link = format!("{}/reset-password?token={secret}", request.state.public_url());
    let letter = letters::password_reset(&link, VALID_FOR.num_minutes());
    mail::queue(&mut tx, Mail { to: user.email.clone(), purpose: "password_reset", letter })
        .await
        .or_internal("queueing a mail failed")?;
    tx.commit().await.or_internal("a password reset query failed")
}

/// Sets `new_password` for the user `secret` was mailed to, if the link is still good:
/// every session of theirs ends and every other link of theirs dies; then this one is
/// signed in.
pub async fn complete(request: &RequestContext, secret: &str, new_password: String) -> Result<(), AppError> {
    let mut checks = Checks::default();
    super::check_new_password(&mut checks, "password", &new_password);
    checks.finish()?;
    let pool = &request.state.db;
    let hash = password::hash(SecretString::from(new_password)).await?;
    let mut tx = pool.begin().await.or_internal("a password reset query failed")?;
    let user_id: Option<uuid::Uuid> = sqlx::query_scalar(
        "select user_id from password_resets
         where token_hash = $1 and used_at is null and expires_at > now() for update",
    )
    .bind(token::digest(secret))
    .fetch_optional(&mut *tx)
    .await
    .or_internal("a password reset query failed")?;
    let user_id = user_id.ok_or_else(|| AppError::Conflict(LINK_UNUSABLE.into()))?;
    let session_version =
        db::users::set_password(&mut *tx, user_id, &hash).await.or_internal("an account query failed")?;
    // The link reached the address: it is confirmed too.
    sqlx::query("update users set email_verified_at = coalesce(email_verified_at, now()) where id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .or_internal("an account query failed")?;
    sqlx::query("update password_resets set used_at = now() where user_id = $1 and used_at is null")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .or_internal("a password reset query failed")?;
    let user =
        db::users::find(&mut *tx, user_id).await.or_internal("an account query failed")?.ok_or(AppError::NotFound)?;
    let letter = letters::password_was_reset(&format!("{}/login", request.state.public_url()));
    mail::queue(&mut tx, Mail { to: user.email.clone(), purpose: "password_was_reset", letter })
        .await
        .or_internal("queueing a mail failed")?;
    tx.commit().await.or_internal("a password reset query failed")?;

    super::record_for_every_team(request, user.id, &user.email, "auth.password_reset").await?;
    super::end_live_streams(request, user.id).await?;
    super::sign_in(request, user.id, session_version).await.map(|_| ())
}
