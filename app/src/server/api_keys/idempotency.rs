//! `Idempotency-Key` on the public API's POSTs (the `api_idempotency` table): the first
//! request under a key is answered and its answer kept for a day; the same request
//! again gets that answer, another request under the same key is refused, and a repeat
//! arriving while the first is still being answered is told to wait.

use sqlx::PgPool;
use uuid::Uuid;

/// How long answers are kept.
pub const KEPT_HOURS: i64 = 24;
/// The longest key accepted.
pub const KEY_MAX: usize = 255;

/// What to do with a request that carries an idempotency key.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The first request under this key: answer it, then [`keep`] the answer.
    First,
    /// Answered before: send this again.
    Answered {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: Vec<u8>,
    },
    /// The key was used for a different request.
    OtherRequest,
    /// The first request under this key is still being answered.
    InProgress,
}

/// A kept answer, or the mark of one being made.
#[derive(sqlx::FromRow)]
struct Stored {
    request_hash: Vec<u8>,
    status: Option<i16>,
    body: Option<Vec<u8>>,
}

/// Whether `key` is acceptable: 1 to [`KEY_MAX`] visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    (1..=KEY_MAX).contains(&key.len()) && key.bytes().all(|byte| byte.is_ascii_graphic())
}

/// Claims `key` of API key `api_key` for the request whose hash is `request_hash`.
pub async fn claim(db: &PgPool, api_key: Uuid, key: &str, request_hash: &[u8]) -> Result<Claim, sqlx::Error> {
    // An answer past its day is forgotten first, so that the key starts afresh.
    sqlx::query(
        "delete from api_idempotency where api_key_id = $1 and idempotency_key = $2
         and created_at < now() - make_interval(hours => $3)",
    )
    .bind(api_key)
    .bind(key)
    .bind(KEPT_HOURS as i32)
    .execute(db)
    .await?;
    let inserted = sqlx::query(
        "insert into api_idempotency (api_key_id, idempotency_key, request_hash) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(api_key)
    .bind(key)
    .bind(request_hash)
    .execute(db)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::First);
    }
    let stored: Option<Stored> = sqlx::query_as(
        "select request_hash, status, body from api_idempotency where api_key_id = $1 and idempotency_key = $2",
    )
    .bind(api_key)
    .bind(key)
    .fetch_optional(db)
    .await?;
    Ok(match stored {
        // Removed between the two statements (its first request failed): a fresh try.
        None => Box::pin(claim(db, api_key, key, request_hash)).await?,
        Some(stored) if stored.request_hash != request_hash => Claim::OtherRequest,
        Some(Stored { status: Some(status), body, .. }) => {
            Claim::Answered { status: status as u16, body: body.unwrap_or_default() }
        }
        Some(Stored { status: None, .. }) => Claim::InProgress,
    })
}

/// Keeps the answer to the first request under `key`.
pub async fn keep(db: &PgPool, api_key: Uuid, key: &str, status: u16, body: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("update api_idempotency set status = $3, body = $4 where api_key_id = $1 and idempotency_key = $2")
        .bind(api_key)
        .bind(key)
        .bind(status as i16)
        .bind(body)
        .execute(db)
        .await?;
    Ok(())
}

/// Lets `key` go without an answer (ours failed, so the client may try again).
pub async fn release(db: &PgPool, api_key: Uuid, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from api_idempotency where api_key_id = $1 and idempotency_key = $2 and status is null")
        .bind(api_key)
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets answers past their day; how many.
pub async fn remove_expired(db: &PgPool) -> Result<u64, sqlx::Error> {
    let removed = sqlx::query("delete from api_idempotency where created_at < now() - make_interval(hours => $1)")
        .bind(KEPT_HOURS as i32)
        .execute(db)
        .await?;
    Ok(removed.rows_affected())
}
