//! Throttling of password guessing.
//!
//! Failed sign-ins are counted over a sliding 15-minute window, per client address and
//! per account. The address limit (10) is lower than the account limit (20): a single
//! attacker trips its own limit long before it could lock the account for anyone else,
//! and any lock lasts only until the failures age out of the window — never
//! permanently.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::AppError;
use crate::server::db;

/// How far back failures count.
pub const WINDOW: chrono::Duration = chrono::Duration::minutes(15);
/// Failures from one address, across accounts, before it must wait.
pub const PER_ADDRESS: i64 = 10;
/// Failures against one account, from anywhere, before it must wait.
pub const PER_ACCOUNT: i64 = 20;

fn database(error: sqlx::Error) -> AppError {
    AppError::internal("sign-in throttling query failed", &error)
}

/// Refuses the attempt with [`AppError::TooManyRequests`] while either limit is reached,
/// saying when the oldest counted failure leaves the window.
pub async fn check(pool: &PgPool, email: &str, client_addr: &str) -> Result<(), AppError> {
    let now = Utc::now();
    let ((account, account_oldest), (address, address_oldest)) =
        db::login_attempts::recent_failures(pool, email, client_addr, now - WINDOW).await.map_err(database)?;
    let wait_until = |oldest: Option<DateTime<Utc>>| oldest.map(|oldest| oldest + WINDOW);
    let blocked_until = [
        (address >= PER_ADDRESS).then(|| wait_until(address_oldest)).flatten(),
        (account >= PER_ACCOUNT).then(|| wait_until(account_oldest)).flatten(),
    ]
    .into_iter()
    .flatten()
    .max();
    match blocked_until {
        Some(until) => {
            let retry_after_secs = u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1);
            Err(AppError::TooManyRequests { retry_after_secs })
        }
        None => Ok(()),
    }
}

/// Records an attempt. Returns `true` when this failure is the one that reached a limit
/// (the start of a burst worth an audit entry).
pub async fn record(pool: &PgPool, email: &str, client_addr: &str, succeeded: bool) -> Result<bool, AppError> {
    db::login_attempts::insert(pool, email, client_addr, succeeded).await.map_err(database)?;
    if succeeded {
        return Ok(false);
    }
    let now = Utc::now();
    db::login_attempts::delete_older_than(pool, now - WINDOW * 4).await.map_err(database)?;
    let ((account, _), (address, _)) =
        db::login_attempts::recent_failures(pool, email, client_addr, now - WINDOW).await.map_err(database)?;
    Ok(account == PER_ACCOUNT || address == PER_ADDRESS)
}
