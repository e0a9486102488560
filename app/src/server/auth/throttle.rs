//! Throttling of password guessing, of sign-ups, and of password-reset requests.
//!
//! Each sign-in attempt is recorded as a failure before its password is checked, and the
//! limits are checked counting it and those recorded before it: guesses sent in
//! parallel are all counted, in the order they arrived, whatever order they finish in.
//! A success takes its record back. Failures count over a sliding
//! 15-minute window:
//! - per client address, across accounts: over 10, the address is refused (429 with
//!   `Retry-After`) until its failures age out;
//! - per account, from anywhere: over 20, every further attempt is answered only after a
//!   pause ([`SLOW_DOWN`]) — slower guessing, never a lock, so that nobody can lock
//!   someone else out of their account from many addresses.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::{AppError, OrInternal};
use crate::server::config::SessionSettings;

/// How far back failures count.
pub const WINDOW: chrono::Duration = chrono::Duration::minutes(15);
/// Failures from one address, across accounts, before it is refused.
pub const PER_ADDRESS: i64 = 10;
/// Failures against one account, from anywhere, before its attempts are slowed down.
pub const PER_ACCOUNT: i64 = 20;
/// How long an attempt against an account over its limit waits before it is checked.
pub const SLOW_DOWN: Duration = Duration::from_secs(2);

/// The window sign-ups are counted over (their limits are settings:
/// `SIGN_UPS_PER_ADDRESS`, `SIGN_UPS_IN_ALL`).
pub const SIGN_UP_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// Records a sign-up attempt from `client_addr`, then refuses it (429 with
/// `Retry-After`) when the address, or the deployment as a whole, is over its limit with
/// it counted: each sign-up costs a password hash, which a flood must not buy freely.
pub async fn sign_up(pool: &PgPool, client_addr: &str, limits: &SessionSettings) -> Result<(), AppError> {
    let now = Utc::now();
    // The count sees this attempt and every one recorded before it (a burst's first
    // attempts pass, the rest are refused).
    let mut tx = pool.begin().await.or_internal("sign-in throttling query failed")?;
    serialize(&mut tx, "sign-up").await?;
    let id: i64 = sqlx::query_scalar(
        "with pruned as (delete from sign_up_attempts where attempted_at < $2)
         insert into sign_up_attempts (client_addr) values ($1) returning id",
    )
    .bind(client_addr)
    .bind(now - chrono::Duration::days(1))
    .fetch_one(&mut *tx)
    .await
    .or_internal("sign-in throttling query failed")?;
    let (address, address_oldest, all, all_oldest): (i64, Option<DateTime<Utc>>, i64, Option<DateTime<Utc>>) =
        sqlx::query_as(
            "select count(*) filter (where client_addr = $1), min(attempted_at) filter (where client_addr = $1),
                    count(*), min(attempted_at)
             from sign_up_attempts where attempted_at > $2 and id <= $3",
        )
        .bind(client_addr)
        .bind(now - SIGN_UP_WINDOW)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .or_internal("sign-in throttling query failed")?;
    tx.commit().await.or_internal("sign-in throttling query failed")?;
    if address > limits.sign_ups_per_address {
        return Err(retry_after(address_oldest, now, SIGN_UP_WINDOW));
    }
    if all > limits.sign_ups_in_all {
        return Err(retry_after(all_oldest, now, SIGN_UP_WINDOW));
    }
    Ok(())
}

/// The window password-reset requests are counted over.
pub const RESET_WINDOW: chrono::Duration = chrono::Duration::hours(1);
/// Reset requests from one address in [`RESET_WINDOW`] before it is refused.
pub const RESETS_PER_ADDRESS: i64 = 10;
/// Reset mails to one address in [`RESET_WINDOW`]; further requests are answered as
/// any other, and send nothing (nobody can flood someone's mailbox through us).
pub const RESET_MAILS_PER_EMAIL: i64 = 3;

/// Records a password-reset request for `email` from `client_addr`, then refuses it
/// (429) when the address is over its limit with it counted; otherwise says whether a
/// mail may go to `email`.
pub async fn password_reset(pool: &PgPool, email: &str, client_addr: &str) -> Result<bool, AppError> {
    let now = Utc::now();
    let mut tx = pool.begin().await.or_internal("password reset throttling query failed")?;
    serialize(&mut tx, "password-reset").await?;
    let id: i64 = sqlx::query_scalar(
        "with pruned as (delete from password_reset_requests where requested_at < $3)
         insert into password_reset_requests (email, client_addr) values ($1, $2) returning id",
    )
    .bind(email)
    .bind(client_addr)
    .bind(now - chrono::Duration::days(1))
    .fetch_one(&mut *tx)
    .await
    .or_internal("password reset throttling query failed")?;
    let (address, address_oldest, to_email): (i64, Option<DateTime<Utc>>, i64) = sqlx::query_as(
        "select count(*) filter (where client_addr = $1), min(requested_at) filter (where client_addr = $1),
                count(*) filter (where email = $2::citext)
         from password_reset_requests where requested_at > $3 and id <= $4",
    )
    .bind(client_addr)
    .bind(email)
    .bind(now - RESET_WINDOW)
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .or_internal("password reset throttling query failed")?;
    tx.commit().await.or_internal("password reset throttling query failed")?;
    if address > RESETS_PER_ADDRESS {
        return Err(retry_after(address_oldest, now, RESET_WINDOW));
    }
    Ok(to_email <= RESET_MAILS_PER_EMAIL)
}

/// A sign-in attempt, recorded as a failure until [`Attempt::succeeded`].
#[derive(Debug)]
pub struct Attempt {
    id: i64,
    /// Refused: the address is over its limit.
    pub refused: Option<AppError>,
    /// The account is over its limit: check the password only after [`SLOW_DOWN`].
    pub slowed: bool,
    /// This attempt is the first over a limit: the start of a burst, worth an audit entry.
    pub burst: bool,
}

/// Records an attempt against `email` from `client_addr`, then checks the limits with
/// it counted.
pub async fn begin(pool: &PgPool, email: &str, client_addr: &str) -> Result<Attempt, AppError> {
    let mut tx = pool.begin().await.or_internal("sign-in throttling query failed")?;
    serialize(&mut tx, &format!("sign-in from {client_addr}")).await?;
    let id = super::login_attempts::insert(&mut *tx, email, client_addr, false)
        .await
        .or_internal("sign-in throttling query failed")?;
    let now = Utc::now();
    let ((account, _), (address, address_oldest)) =
        super::login_attempts::recent_failures(&mut *tx, email, client_addr, now - WINDOW, id)
            .await
            .or_internal("sign-in throttling query failed")?;
    tx.commit().await.or_internal("sign-in throttling query failed")?;
    let refused = (address > PER_ADDRESS).then(|| retry_after(address_oldest, now, WINDOW));
    Ok(Attempt {
        id,
        refused,
        slowed: account > PER_ACCOUNT,
        burst: address == PER_ADDRESS + 1 || account == PER_ACCOUNT + 1,
    })
}

/// Makes the attempts sharing `key` record and count one at a time (until `tx` ends):
/// each counts exactly the attempts before it, however many arrive at once.
async fn serialize(tx: &mut sqlx::PgConnection, key: &str) -> Result<(), AppError> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(tx)
        .await
        .map(|_| ())
        .or_internal("sign-in throttling query failed")
}

/// Refused until the oldest counted attempt leaves the `window`.
pub fn retry_after(oldest: Option<DateTime<Utc>>, now: DateTime<Utc>, window: chrono::Duration) -> AppError {
    let until = oldest.map_or(now, |oldest| oldest + window);
    let retry_after_secs = u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1);
    AppError::TooManyRequests { retry_after_secs }
}

impl Attempt {
    /// The password was right: the attempt no longer counts as a failure.
    pub async fn succeeded(self, pool: &PgPool) -> Result<(), AppError> {
        super::login_attempts::mark_succeeded(pool, self.id).await.or_internal("sign-in throttling query failed")?;
        super::login_attempts::delete_older_than(pool, Utc::now() - WINDOW * 4)
            .await
            .or_internal("sign-in throttling query failed")
    }
}
