//! Password hashing with Argon2id, off the async threads and a few at a time, and the
//! check against common passwords.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret as _, SecretString};

use crate::error::{AppError, OrInternal};

/// Argon2id with OWASP's recommended minimum: 19 MiB of memory, 2 passes, 1 lane.
/// <https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html>
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;

/// How many hashes are computed at once: one per core. Each holds [`MEMORY_KIB`] while
/// it runs, so a burst of sign-ups or sign-ins costs at most this many × 19 MiB of
/// memory and this many cores, and queues behind them instead of growing without bound.
fn slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
    })
}

/// Runs `work` on the blocking pool once a hashing slot is free.
async fn in_a_slot<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    let _slot = slots().acquire().await.or_internal("the hashing slots closed")?;
    tokio::task::spawn_blocking(work).await.or_internal("a password hashing task failed")
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` into a PHC string (algorithm, parameters, salt and hash).
pub async fn hash(password: SecretString) -> Result<String, AppError> {
    in_a_slot(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher().hash_password(password.expose_secret().as_bytes(), &salt).map(|hash| hash.to_string())
    })
    .await?
    .map_err(|error| {
        tracing::error!(%error, "hashing a password failed");
        AppError::Internal
    })
}

/// Whether `password` matches `stored` (a PHC string). With `None` — an unknown
/// account — a dummy hash is checked instead, so that the answer takes as long as for
/// a known account with a wrong password, and always fails.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, AppError> {
    in_a_slot(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            tracing::error!("a stored password hash cannot be parsed");
            return false;
        };
        let matches = Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok();
        known && matches
    })
    .await
}

/// A hash of a random password, with the same parameters as real ones.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let password = uuid::Uuid::new_v4().to_string();
        hasher().hash_password(password.as_bytes(), &salt).expect("hashing a dummy password").to_string()
    })
}

/// Passwords too common to accept, one per line, lower case.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// Whether `password` is on the list of common passwords (compared without regard to
/// case), or is one character repeated.
pub fn is_common(password: &str) -> bool {
    let lowered = password.to_lowercase();
    let mut chars = lowered.chars();
    let first = chars.next();
    if first.is_some() && chars.all(|c| Some(c) == first) {
        return true;
    }
    COMMON_PASSWORDS.lines().any(|line| line == lowered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_passwords_are_recognised_whatever_their_case() {
        assert!(is_common("password"));
        assert!(is_common("Password1"));
        assert!(is_common("QWERTY123"));
        assert!(is_common("aaaaaaaaaa"));
        assert!(!is_common("correct horse battery staple"));
    }

    #[test]
    fn the_list_is_lower_case_with_no_blank_lines() {
        for line in COMMON_PASSWORDS.lines() {
            assert!(!line.is_empty());
            assert_eq!(line, line.to_lowercase());
        }
        assert!(COMMON_PASSWORDS.lines().count() >= 200);
    }
}
