//! Verifying an account's address, and moving an account to another: a link mailed to
//! the address (its token stored only as its SHA-256, valid a day, used once) proves
//! that the person holds the mailbox. Until then the account uses its own team but
//! cannot accept invitations, receive notifications or upgrade
//! (`require_verified`). A new
//! address takes effect only when the link sent to it is used. At most a few links an
//! hour per account.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{AppError, OrInternal};
use crate::server::auth::context::{Account, RequestContext};
use crate::server::mail::{self, Mail, letters};
use crate::server::state::AppState;
use crate::server::{db, token};

/// How long a verification link works.
pub const VALID_FOR: chrono::Duration = chrono::Duration::hours(24);
/// Links mailed to one account in an hour (sign-up's included).
pub const LINKS_PER_HOUR: i64 = 3;

/// What a link that cannot be used says, whatever the reason (unknown, used, expired).
pub const LINK_UNUSABLE: &str = "This confirmation link has expired or was already used. \
     Log in and send a new one from your account page.";

/// Which link to mail.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// Confirms the account's own address.
    Verify,
    /// Moves the account to a new address.
    MoveTo,
}

/// Stores a token for `user_id` and `email` and queues the mail carrying its link, in
/// `tx`.
pub(super) async fn send_link(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user_id: Uuid,
    email: &str,
    link: Link,
) -> Result<(), AppError> {
    let secret = token::random_hex(32);
    sqlx::query(
        "insert into email_verifications (token_hash, user_id, email, expires_at) values ($1, $2, $3, now() + $4)",
    )
    .bind(token::digest(&secret))
    .bind(user_id)
    .bind(email)
    .bind(VALID_FOR)
    .execute(&mut *tx)
    .await
    .or_internal("an email verification query failed")?;
    let url = format!("{}/verify-email?token={secret}", state.public_url());
    let hours = VALID_FOR.num_hours();
    let (purpose, letter) = match link {
        Link::Verify => ("verify_email", letters::verify_email(&url, hours)),
        Link::MoveTo => ("confirm_new_email", letters::confirm_new_email(&url, hours)),
    };
    mail::queue(tx, Mail { to: email.to_string(), purpose, letter }).await.or_internal("queueing a mail failed")?;
    Ok(())
}

/// Refuses (429) when `user_id` was sent [`LINKS_PER_HOUR`] links within the hour.
async fn throttle(db: &sqlx::PgPool, user_id: Uuid) -> Result<(), AppError> {
    let (sent, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "select count(*), min(created_at) from email_verifications
         where user_id = $1 and created_at > now() - interval '1 hour'",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
    .or_internal("an email verification query failed")?;
    if sent >= LINKS_PER_HOUR {
        return Err(crate::server::auth::throttle::retry_after(oldest, Utc::now(), chrono::Duration::hours(1)));
    }
    Ok(())
}

/// Mails the signed-in user a new link for their address.
pub async fn resend(auth: &Account) -> Result<(), AppError> {
    if auth.email_verified {
        return Err(AppError::Conflict("Your email address is already confirmed.".into()));
    }
    let state = &auth.request.state;
    throttle(&state.db, auth.user_id).await?;
    let mut tx = state.db.begin().await.or_internal("an email verification query failed")?;
    send_link(&mut tx, state, auth.user_id, &auth.email, Link::Verify).await?;
    tx.commit().await.or_internal("an email verification query failed")
}

/// Starts moving the signed-in user to `new_email` (after checking their password): a
/// link goes to the new address, which takes effect when it is used. Whether another
/// account has that address is not said here (the link then cannot be used).
pub async fn change_email(auth: &Account, new_email: &str, password: String) -> Result<(), AppError> {
    use crate::domain::account::Email;
    use crate::error::Checks;
    use secrecy::SecretString;

    let mut checks = Checks::default();
    let email = checks.field("new_email", Email::parse(new_email));
    if email.as_ref().is_some_and(|email| email.as_str().eq_ignore_ascii_case(&auth.email)) {
        checks.fail("new_email", "That is already your address.");
    }
    let state = &auth.request.state;
    let user = db::users::find(&state.db, auth.user_id)
        .await
        .or_internal("an account query failed")?
        .ok_or(AppError::Unauthorized)?;
    if !crate::server::auth::password::verify(SecretString::from(password), Some(user.password_hash)).await? {
        checks.fail("password", "That is not your password.");
    }
    checks.finish()?;
    let email = email.ok_or(AppError::Internal)?;
    throttle(&state.db, user.id).await?;
    let mut tx = state.db.begin().await.or_internal("an email verification query failed")?;
    if db::users::find_by_email(&mut *tx, email.as_str()).await.or_internal("an account query failed")?.is_none() {
        send_link(&mut tx, state, user.id, email.as_str(), Link::MoveTo).await?;
    }
    auth.audit(&mut *tx, "account.email_change_requested", Some(email.as_str()), serde_json::json!({})).await?;
    tx.commit().await.or_internal("an email verification query failed")
}

/// Uses the link with token `secret`: the address it was sent to is verified (and
/// becomes the account's, if it was a move), every other pending link of the account
/// dies, and the account is signed in here.
pub async fn confirm(request: &RequestContext, secret: &str) -> Result<(), AppError> {
    let state = &request.state;
    let mut tx = state.db.begin().await.or_internal("an email verification query failed")?;
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "select user_id, email::text from email_verifications
         where token_hash = $1 and used_at is null and expires_at > now() for update",
    )
    .bind(token::digest(secret))
    .fetch_optional(&mut *tx)
    .await
    .or_internal("an email verification query failed")?;
    let (user_id, email) = found.ok_or_else(|| AppError::Conflict(LINK_UNUSABLE.into()))?;
    let user =
        db::users::find(&mut *tx, user_id).await.or_internal("an account query failed")?.ok_or(AppError::NotFound)?;
    let moved = !user.email.eq_ignore_ascii_case(&email);
    let updated = sqlx::query("update users set email = $2, email_verified_at = now() where id = $1")
        .bind(user_id)
        .bind(&email)
        .execute(&mut *tx)
        .await;
    match updated {
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(AppError::Conflict(format!("{email} now belongs to another account; it cannot be yours too.")));
        }
        other => other.or_internal("an account query failed")?,
    };
    sqlx::query("update email_verifications set used_at = now() where user_id = $1 and used_at is null")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .or_internal("an email verification query failed")?;
    if moved {
        let letter = letters::email_changed(&email);
        mail::queue(&mut tx, Mail { to: user.email.clone(), purpose: "email_changed", letter })
            .await
            .or_internal("queueing a mail failed")?;
    }
    tx.commit().await.or_internal("an email verification query failed")?;
    let action = if moved { "account.email_changed" } else { "account.email_verified" };
    super::record_for_every_team(request, user_id, &email, action).await?;
    super::sign_in(request, user_id, user.session_version).await.map(|_| ())
}
