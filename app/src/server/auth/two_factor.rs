//! Two-factor sign-in's parts: TOTP secrets (RFC 6238: SHA-1, 6 digits, 30-second
//! steps, a step either side accepted), sealed at rest, each code accepted once (the
//! step of the last one is kept); ten single-use recovery codes stored as their
//! SHA-256; browsers remembered for 30 days by a cookie whose token is stored as its
//! SHA-256 and which a password change ends.

use sqlx::PgConnection;
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

use crate::PRODUCT_NAME;
use crate::error::{AppError, OrInternal};
use crate::server::secrets::{Cipher, Place};
use crate::server::token;

/// Seconds per code.
pub const STEP: u64 = 30;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// How long a remembered browser skips the code.
pub const REMEMBER_FOR: chrono::Duration = chrono::Duration::days(30);
/// The cookie that remembers a browser.
pub const DEVICE_COOKIE: &str = "dreamops_device";

/// The TOTP of `secret` for the account `email`.
pub fn totp(secret: Vec<u8>, email: &str) -> Result<TOTP, AppError> {
    TOTP::new(Algorithm::SHA1, 6, 1, STEP, secret, Some(PRODUCT_NAME.into()), email.replace(':', ""))
        .map_err(|error| AppError::internal("a two-factor secret cannot be used", &error))
}

/// A new random secret (160 bits, as RFC 4226 recommends).
pub fn new_secret() -> Vec<u8> {
    hex::decode(token::random_hex(20)).expect("hex from random_hex")
}

/// Stores `secret` as `user`'s, not yet enabled (enrolment waits for a first code).
pub async fn store_pending(db: &mut PgConnection, cipher: &Cipher, user: Uuid, secret: &[u8]) -> Result<(), AppError> {
    sqlx::query(
        "insert into two_factor (user_id, secret) values ($1, $2)
         on conflict (user_id) do update set secret = excluded.secret, enabled_at = null, last_step = 0",
    )
    .bind(user)
    .bind(cipher.seal(secret, &Place::two_factor(user)))
    .execute(db)
    .await
    .or_internal("a two-factor query failed")?;
    Ok(())
}

/// Whether `user` signs in with a second factor.
pub async fn enabled(db: impl sqlx::PgExecutor<'_>, user: Uuid) -> Result<bool, AppError> {
    sqlx::query_scalar("select exists (select 1 from two_factor where user_id = $1 and enabled_at is not null)")
        .bind(user)
        .fetch_one(db)
        .await
        .or_internal("a two-factor query failed")
}

/// Checks `code` against `user`'s secret (`enrolling`: the pending one; otherwise the
/// enabled one) at `now` (Unix seconds), in `tx` (which holds the row until it ends);
/// accepted, the code's step is recorded so that it is never accepted again.
pub async fn check_code(
    tx: &mut PgConnection,
    cipher: &Cipher,
    user: Uuid,
    email: &str,
    code: &str,
    enrolling: bool,
    now: u64,
) -> Result<bool, AppError> {
    let found: Option<(Vec<u8>, i64)> = sqlx::query_as(
        "select secret, last_step from two_factor where user_id = $1 and (enabled_at is null) = $2 for update",
    )
    .bind(user)
    .bind(enrolling)
    .fetch_optional(&mut *tx)
    .await
    .or_internal("a two-factor query failed")?;
    let Some((sealed, last_step)) = found else { return Ok(false) };
    let secret = cipher.open(&sealed, &Place::two_factor(user)).or_internal("a two-factor secret cannot be opened")?;
    let totp = totp(secret, email)?;
    let code: String = code.chars().filter(char::is_ascii_digit).collect();
    let current = now / STEP;
    let accepted = [current.saturating_sub(1), current, current + 1].into_iter().find(|&step| {
        i64::try_from(step).is_ok_and(|step| step > last_step)
            && bool::from(totp.generate(step * STEP).as_bytes().ct_eq(code.as_bytes()))
    });
    let Some(step) = accepted else { return Ok(false) };
    sqlx::query("update two_factor set last_step = $2 where user_id = $1")
        .bind(user)
        .bind(i64::try_from(step).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .or_internal("a two-factor query failed")?;
    Ok(true)
}

/// Replaces `user`'s recovery codes with [`RECOVERY_CODES`] new ones, returned (shown
/// once): `xxxxx-xxxxx`, 40 random bits each.
pub async fn new_recovery_codes(tx: &mut PgConnection, user: Uuid) -> Result<Vec<String>, AppError> {
    sqlx::query("delete from recovery_codes where user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await
        .or_internal("a two-factor query failed")?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let raw = token::random_hex(5);
        let code = format!("{}-{}", &raw[..5], &raw[5..]);
        sqlx::query("insert into recovery_codes (user_id, code_hash) values ($1, $2)")
            .bind(user)
            .bind(token::digest(&normalise(&code)))
            .execute(&mut *tx)
            .await
            .or_internal("a two-factor query failed")?;
        codes.push(code);
    }
    Ok(codes)
}

/// A recovery code as typed, without spaces or dashes, in lower case.
fn normalise(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase()
}

/// Uses one of `user`'s recovery codes; false when `code` is none of the unused ones.
pub async fn use_recovery_code(tx: &mut PgConnection, user: Uuid, code: &str) -> Result<bool, AppError> {
    let used = sqlx::query(
        "update recovery_codes set used_at = now() where user_id = $1 and code_hash = $2 and used_at is null",
    )
    .bind(user)
    .bind(token::digest(&normalise(code)))
    .execute(tx)
    .await
    .or_internal("a two-factor query failed")?;
    Ok(used.rows_affected() == 1)
}

/// Remembers a browser of `user` (at `session_version`): the cookie's token.
pub async fn remember_device(db: &sqlx::PgPool, user: Uuid, session_version: i32) -> Result<String, AppError> {
    let secret = token::random_hex(32);
    sqlx::query(
        "insert into remembered_devices (token_hash, user_id, session_version, expires_at) values ($1, $2, $3, now() + $4)",
    )
    .bind(token::digest(&secret))
    .bind(user)
    .bind(session_version)
    .bind(REMEMBER_FOR)
    .execute(db)
    .await
    .or_internal("a two-factor query failed")?;
    Ok(secret)
}

/// Whether the browser's device cookie `secret` remembers `user` at `session_version`.
pub async fn is_remembered(
    db: &sqlx::PgPool,
    user: Uuid,
    session_version: i32,
    secret: Option<&str>,
) -> Result<bool, AppError> {
    let Some(secret) = secret else { return Ok(false) };
    sqlx::query_scalar(
        "select exists (select 1 from remembered_devices
                        where token_hash = $1 and user_id = $2 and session_version = $3 and expires_at > now())",
    )
    .bind(token::digest(secret))
    .bind(user)
    .bind(session_version)
    .fetch_one(db)
    .await
    .or_internal("a two-factor query failed")
}

/// Removes `user`'s second factor: the secret, the recovery codes, the remembered
/// browsers.
pub async fn remove(tx: &mut PgConnection, user: Uuid) -> Result<(), AppError> {
    for table in ["two_factor", "recovery_codes", "remembered_devices"] {
        sqlx::query(&format!("delete from {table} where user_id = $1"))
            .bind(user)
            .execute(&mut *tx)
            .await
            .or_internal("a two-factor query failed")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_rfc_6238_and_recovery_codes_are_read_loosely() {
        // RFC 6238, appendix B: the SHA-1 secret "12345678901234567890", 8 digits.
        let rfc = TOTP::new(Algorithm::SHA1, 8, 1, 30, b"12345678901234567890".to_vec(), None, String::new()).unwrap();
        assert_eq!(rfc.generate(59), "94287082");
        assert_eq!(rfc.generate(1_111_111_109), "07081804");
        assert_eq!(rfc.generate(20_000_000_000), "65353130");
        assert_eq!(normalise(" AbCde-12345 "), "abcde12345");
        let url = totp(new_secret(), "ana@example.com").unwrap().get_url();
        assert!(url.starts_with("otpauth://totp/DreamOps:ana%40example.com?secret="), "{url}");
        assert!(url.contains("issuer=DreamOps"), "{url}");
    }
}
