//! `Idempotency-Key` on the public API's POSTs (the `api_idempotency` table): the first
//! request under a key is answered and its answer kept for a day, sealed (it may show a
//! secret once); the same request again gets that answer, another request under the
//! same key is refused, and a repeat arriving while the first is still being answered
//! is told to wait.

use uuid::Uuid;

use crate::server::secrets::{Cipher, Place};

/// How long answers are kept.
pub const KEPT_HOURS: i64 = 24;
/// The longest key accepted.
pub const KEY_MAX: usize = 255;

/// Whose key: the API key and its team.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    /// The API key.
    pub api_key: Uuid,
    /// Its team.
    pub team: Uuid,
}

/// What to do with a request that carries an idempotency key.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The first request under this key: answer it, then [`keep`] the answer in row `row`.
    First {
        /// The claimed row.
        row: Uuid,
    },
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
    id: Uuid,
    request_hash: Vec<u8>,
    status: Option<i16>,
    body: Option<Vec<u8>>,
}

/// Why a claim failed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("a kept answer could not be opened: {0}")]
    Sealed(#[from] crate::server::secrets::SecretError),
}

/// Whether `key` is acceptable: 1 to [`KEY_MAX`] visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    (1..=KEY_MAX).contains(&key.len()) && key.bytes().all(|byte| byte.is_ascii_graphic())
}

/// Claims `key` of `owner` for the request whose hash is `request_hash`.
pub async fn claim(
    db: &sqlx::PgPool,
    cipher: &Cipher,
    owner: Owner,
    key: &str,
    request_hash: &[u8],
) -> Result<Claim, ClaimError> {
    // An answer past its day is forgotten first, so that the key starts afresh.
    sqlx::query(
        "delete from api_idempotency where api_key_id = $1 and idempotency_key = $2
         and created_at < now() - make_interval(hours => $3)",
    )
    .bind(owner.api_key)
    .bind(key)
    .bind(KEPT_HOURS as i32)
    .execute(db)
    .await?;
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "insert into api_idempotency (team_id, api_key_id, idempotency_key, request_hash) values ($1, $2, $3, $4)
         on conflict do nothing returning id",
    )
    .bind(owner.team)
    .bind(owner.api_key)
    .bind(key)
    .bind(request_hash)
    .fetch_optional(db)
    .await?;
    if let Some(row) = inserted {
        return Ok(Claim::First { row });
    }
    let stored: Option<Stored> = sqlx::query_as(
        "select id, request_hash, status, body from api_idempotency where api_key_id = $1 and idempotency_key = $2",
    )
    .bind(owner.api_key)
    .bind(key)
    .fetch_optional(db)
    .await?;
    Ok(match stored {
        // Removed between the two statements (its first request failed): a fresh try.
        None => Box::pin(claim(db, cipher, owner, key, request_hash)).await?,
        Some(stored) if stored.request_hash != request_hash => Claim::OtherRequest,
        Some(Stored { id, status: Some(status), body, .. }) => {
            let body = match body {
                Some(sealed) => cipher.open(&sealed, &Place::api_answer(owner.team, id))?,
                None => Vec::new(),
            };
            Claim::Answered { status: status as u16, body }
        }
        Some(Stored { status: None, .. }) => Claim::InProgress,
    })
}

/// Keeps, sealed, the answer to the first request of claimed row `row`.
pub async fn keep(
    db: &sqlx::PgPool,
    cipher: &Cipher,
    owner: Owner,
    row: Uuid,
    status: u16,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("update api_idempotency set status = $2, body = $3 where id = $1")
        .bind(row)
        .bind(status as i16)
        .bind(cipher.seal(body, &Place::api_answer(owner.team, row)))
        .execute(db)
        .await?;
    Ok(())
}

/// Lets claimed row `row` go without an answer (ours failed, so the client may try again).
pub async fn release(db: &sqlx::PgPool, row: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("delete from api_idempotency where id = $1 and status is null").bind(row).execute(db).await?;
    Ok(())
}

/// Forgets answers past their day; how many.
pub async fn remove_expired(db: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let removed = sqlx::query("delete from api_idempotency where created_at < now() - make_interval(hours => $1)")
        .bind(KEPT_HOURS as i32)
        .execute(db)
        .await?;
    Ok(removed.rows_affected())
}
